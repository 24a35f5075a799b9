//! `spawn_app`: the real server on a random port against a fresh database.
//!
//! SQLite by default (a file in a temp dir). With `REBOUND_TEST_DB=postgres`
//! each test gets a new database on `TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`).

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use rebound::clock::ManualClock;
use rebound::config::{Config, Mode};
use rebound::domain::origin::{AllowedOrigins, Origin};
use rebound::domain::token::LinkKey;
use rebound::domain::token::{TokenHash, new_id, new_recovery_token, new_secret_token};
use rebound::gateway::{SandboxGateway, SharedGateway};
use rebound::startup::Application;
use rebound::store::{FailedOrderSeed, PartnerRecord, Store};
use sqlx::Connection;

pub mod console;
pub mod portone_fake;
pub mod processes;
pub mod receiver;
pub mod scripted_gateway;
pub mod sens_fake;
pub mod toss_fake;

use rebound::charging::Charger;
use rebound::engine::Engine;
use rebound::engine::provider::OutboxProvider;
use scripted_gateway::ScriptedGateway;

pub const PARTNER_ORIGIN: &str = "http://localhost:3001";
pub const OTHER_PARTNER_ORIGIN: &str = "https://shop.example.com";

pub struct TestApp {
    pub base: String,
    pub store: Store,
    pub client: reqwest::Client,
    /// A client that does not follow redirects, to see each `303`.
    pub browser: reqwest::Client,
    /// The sandbox gateway, unless the test chose another one.
    pub gateway: Arc<SandboxGateway>,
    /// The gateway the app charges through (the sandbox, the scripted one,
    /// or the test's own).
    /// The scripted gateway, when the builder asked for it.
    pub scripted: Option<Arc<ScriptedGateway>>,
    pub clock: Arc<ManualClock>,
    /// A partner with origins `PARTNER_ORIGIN` and `OTHER_PARTNER_ORIGIN`.
    pub partner: PartnerRecord,
    pub secret: String,
    /// Where this app serves `/sdk/` from.
    pub sdk_dir: std::path::PathBuf,
    /// The key the app's engines sign stage links with.
    pub link_key: LinkKey,
    pub database_url: String,
    /// The app's charge-settled signal, shared with the engines a test makes.
    pub settled: rebound::charging::Settled,
    /// The server-wide gateway and the partners' accounts, as the app's.
    pub gateways: rebound::gateway::Gateways,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    /// Dropped last: the server stops before its database goes.
    _db: TempDatabase,
}

/// A fresh database for one test: a SQLite file in a temp dir, or (with
/// `REBOUND_TEST_DB=postgres`) a new Postgres database, dropped with it.
pub struct TempDatabase {
    pub url: String,
    pub dir: tempfile::TempDir,
    /// (server URL, database name) of a Postgres database to drop.
    drop_pg: Option<(String, String)>,
}

impl TempDatabase {
    pub async fn new() -> TempDatabase {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, drop_pg) = fresh_database(&dir).await;
        TempDatabase { url, dir, drop_pg }
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let Some((base, name)) = self.drop_pg.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot block on itself:
        // use a short-lived runtime on another thread.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = sqlx::postgres::PgConnection::connect(&base).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// A fresh database's URL, and for Postgres the (server URL, name) to drop.
pub async fn fresh_database(dir: &tempfile::TempDir) -> (String, Option<(String, String)>) {
    match std::env::var("REBOUND_TEST_DB").as_deref() {
        Ok("postgres") => {
            let base = std::env::var("TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let name = format!("rebound_test_{}", new_id());
            let mut conn = sqlx::postgres::PgConnection::connect(&base)
                .await
                .expect("connect to TEST_POSTGRES_URL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let (prefix, _) = base.rsplit_once('/').expect("database URL has a path");
            (format!("{prefix}/{name}"), Some((base, name)))
        }
        _ => (
            format!("sqlite://{}", dir.path().join("test.db").display()),
            None,
        ),
    }
}

/// The card page's address and window, as the method page links them.
#[derive(Debug, Clone)]
pub struct CardWindowLink {
    pub url: String,
    pub window_id: String,
}

/// One link key for every test server (and the process tests' servers).
pub const TEST_LINK_KEY: &str = "rb_lk_cmVib3VuZC10ZXN0LWxpbmsta2V5LTAxMjM0NTY3ODk";
/// Seals the test partners' gateway secrets.
pub const TEST_CREDENTIALS_KEY: &str = "rb_ck_cmVib3VuZC10ZXN0LWNyZWRlbnRpYWxzLWtleS0wMTI";

/// A production configuration on `database_url` with the sandbox and the
/// outbox named, as an operator would for a test environment, with some
/// settings replaced or added.
pub fn test_config_with(
    database_url: &str,
    dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> Config {
    let settings = [
        ("REBOUND_LISTEN", "127.0.0.1:0".to_owned()),
        ("DATABASE_URL", database_url.to_owned()),
        ("REBOUND_SITE_ROOT", dir.join("site").display().to_string()),
        ("REBOUND_SDK_DIR", dir.join("sdk").display().to_string()),
        ("REBOUND_GATEWAY", "sandbox".to_owned()),
        ("REBOUND_MESSAGES", "outbox".to_owned()),
        ("REBOUND_LINK_KEY", TEST_LINK_KEY.to_owned()),
        ("REBOUND_CREDENTIALS_KEY", TEST_CREDENTIALS_KEY.to_owned()),
        // Batteries fire hundreds of calls at once; tests of the limit set
        // their own.
        ("REBOUND_API_RATE", "100000".to_owned()),
    ];
    Config::from_lookup(
        |k| {
            extra
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
                .or_else(|| {
                    settings
                        .iter()
                        .find(|(n, _)| *n == k)
                        .map(|(_, v)| v.clone())
                })
        },
        Mode::Production,
    )
    .expect("config")
}

pub async fn spawn_app() -> TestApp {
    TestApp::builder().spawn().await
}

/// How a test's app is put together: `TestApp::builder().scripted_gateway().spawn()`.
#[derive(Default)]
pub struct TestAppBuilder {
    gateway: Option<SharedGateway>,
    scripted: Option<Option<&'static str>>,
    settings: Vec<(&'static str, String)>,
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }
}

impl TestAppBuilder {
    /// Charges through `gateway` instead of the sandbox.
    pub fn gateway(mut self, gateway: SharedGateway) -> Self {
        self.gateway = Some(gateway);
        self
    }

    /// Charges through a `ScriptedGateway` on the test clock (`app.scripted()`).
    pub fn scripted_gateway(mut self) -> Self {
        self.scripted = Some(None);
        self
    }

    /// A scripted gateway that charges only orders of this `paymentGateway`.
    pub fn scripted_gateway_for(mut self, payment_gateway: &'static str) -> Self {
        self.scripted = Some(Some(payment_gateway));
        self
    }

    /// A setting as the environment would give it (`REBOUND_API_RATE`...).
    pub fn setting(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.settings.push((name, value.into()));
        self
    }

    pub async fn spawn(self) -> TestApp {
        spawn(self).await
    }
}

async fn spawn(builder: TestAppBuilder) -> TestApp {
    let gateway = builder.gateway;
    let db = TempDatabase::new().await;
    let dir = &db.dir;
    let database_url = db.url.clone();
    let settings: Vec<(&str, &str)> = builder
        .settings
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    let config = test_config_with(&database_url, dir.path(), &settings);
    let clock = Arc::new(ManualClock::starting_at(
        Utc.with_ymd_and_hms(2026, 11, 22, 4, 5, 0).unwrap(),
    ));
    let sandbox = Arc::new(SandboxGateway::default());
    let scripted = builder.scripted.map(|only| {
        let g = ScriptedGateway::new(clock.clone());
        Arc::new(match only {
            Some(name) => g.only_for(name),
            None => g,
        })
    });
    let gateway = match (&scripted, gateway) {
        (Some(s), _) => s.clone() as SharedGateway,
        (None, Some(g)) => g,
        (None, None) => sandbox.clone() as SharedGateway,
    };
    let link_key = config.link_key.clone();
    let app = Application::builder(config)
        .clock(clock.clone())
        .gateway(gateway.clone())
        .without_workers()
        .build()
        .await
        .expect("build app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let store = app.state().store.clone();
    let settled = app.state().settled.clone();
    let gateways = app.state().gateways.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    let (partner, secret) =
        create_partner(&store, "acme", &[PARTNER_ORIGIN, OTHER_PARTNER_ORIGIN]).await;
    TestApp {
        base,
        store,
        client: reqwest::Client::new(),
        browser: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        gateway: sandbox,
        scripted,
        clock,
        partner,
        secret,
        sdk_dir: dir.path().join("sdk"),
        link_key,
        database_url: db.url.clone(),
        settled,
        gateways,
        _shutdown: tx,
        _db: db,
    }
}

pub async fn create_partner(
    store: &Store,
    name: &str,
    origins: &[&str],
) -> (PartnerRecord, String) {
    let secret = new_secret_token();
    let origins = AllowedOrigins::new(origins.iter().map(|o| Origin::parse(o).unwrap()).collect());
    let partner = store
        .create_partner(
            name,
            &format!("{name} 주식회사"),
            &origins,
            &TokenHash::of(&secret),
            0,
        )
        .await
        .expect("create partner");
    (partner, secret)
}

pub struct SeededCase {
    pub token: String,
    pub case_id: i64,
    pub order_id: i64,
    pub partner_order_id: String,
}

/// A test app on the scripted gateway and one failed order on a card that
/// answers `answers` (in order; the last repeats).
pub async fn case_on_scripted_card(
    card: &str,
    answers: &[scripted_gateway::Answer],
) -> (TestApp, SeededCase) {
    let app = TestApp::builder().scripted_gateway().spawn().await;
    app.scripted().script(card, answers);
    let case = seed_case(&app, card).await;
    (app, case)
}

/// A failed 10,000원 order whose billing key the sandbox treats as `id_key`.
pub async fn seed_case(app: &TestApp, id_key: &str) -> SeededCase {
    let failed_at = Utc
        .with_ymd_and_hms(2026, 11, 22, 4, 5, 0)
        .unwrap()
        .timestamp_millis();
    seed_case_at(app, id_key, failed_at).await
}

/// The default scenario with silent retries off: for tests about messages.
pub fn messages_only_scenario() -> rebound::domain::scenario::Scenario {
    rebound::domain::scenario::Scenario {
        retries: rebound::domain::retry::RetryPolicy {
            enabled: false,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Korean wall time as Unix ms (tests speak in the customer's time).
pub fn kst(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    rebound::clock::kst()
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .timestamp_millis()
}

/// `MM-DD HH:MM` in Korean time.
pub fn kst_short(ms: i64) -> String {
    rebound::clock::kst_text(ms, "%m-%d %H:%M")
}

/// A failed order of another partner (`partner_id`), failed now.
pub async fn seed_case_for(app: &TestApp, partner_id: i64, partner_order_id: &str) -> i64 {
    app.store
        .seed_failed_order(
            partner_id,
            &FailedOrderSeed {
                partner_customer_id: "c-other",
                customer_name: "이몽룡",
                customer_phone: "01087654321",
                product_name: "베이직",
                product_image_url: None,
                amount: 5_000,
                partner_order_id,
                id_key: "sandbox_success",
                payment_info: "국민카드 5678*",
                failure_reason: "한도초과",
                failed_at_ms: app.clock.now_ms(),
                token: &TokenHash::of(&new_recovery_token()),
                payment_gateway: "UNKNOWN",
            },
        )
        .await
        .expect("seed case")
        .case_id
}

/// `seed_case` for a payment that failed at `failed_at_ms`.
pub async fn seed_case_at(app: &TestApp, id_key: &str, failed_at_ms: i64) -> SeededCase {
    let token = new_recovery_token();
    let partner_order_id = format!("order-{}", new_id());
    let seeded = app
        .store
        .seed_failed_order(
            app.partner.id,
            &FailedOrderSeed {
                partner_customer_id: "c-1",
                customer_name: "김길동",
                customer_phone: "01012345678",
                product_name: "프리미엄 멤버십",
                product_image_url: Some("https://cdn.example.com/membership.png"),
                amount: 10_000,
                partner_order_id: &partner_order_id,
                id_key,
                payment_info: "신한카드 1234*",
                failure_reason: "한도초과",
                failed_at_ms,
                token: &TokenHash::of(&token),
                payment_gateway: "UNKNOWN",
            },
        )
        .await
        .expect("seed case");
    SeededCase {
        token,
        case_id: seeded.case_id,
        order_id: seeded.order_id,
        partner_order_id,
    }
}

impl TestApp {
    /// The scripted gateway (the builder must have asked for it).
    pub fn scripted(&self) -> &ScriptedGateway {
        self.scripted
            .as_deref()
            .expect("TestApp::builder().scripted_gateway()")
    }

    /// The scenario engine with the outbox provider, charging through the
    /// app's gateway (silent retries, chosen dates, the resolver).
    pub async fn engine(&self) -> Engine {
        self.message_engine().await.with_charger(Charger {
            store: self.store.clone(),
            gateways: self.gateways.clone(),
            clock: self.clock.clone(),
            settled: self.settled.clone(),
        })
    }

    /// The scenario engine with the outbox provider, sending messages only
    /// (no silent charges): for tests of message timing.
    pub async fn message_engine(&self) -> Engine {
        let provider = Arc::new(OutboxProvider {
            store: self.store.clone(),
            clock: self.clock.clone(),
        });
        Engine::new(
            self.store.clone(),
            self.clock.clone(),
            provider,
            self.link_key.clone(),
        )
    }

    /// Moves the test clock to `at_ms` (never back).
    pub fn set_time(&self, at_ms: i64) {
        let now = self.clock.now_ms();
        if at_ms > now {
            self.clock
                .advance(chrono::Duration::milliseconds(at_ms - now));
        }
    }

    /// Runs the engine at every moment it has work, up to `until_ms`, as the
    /// worker would, then leaves the clock at `until_ms`.
    pub async fn run_engine_until(&self, engine: &Engine, until_ms: i64) {
        let mut last = None;
        for _ in 0..10_000 {
            match self.store.next_work_at().await.expect("next work") {
                // The same work again: this engine does not do it (a
                // message engine leaves retries due).
                Some(at) if Some(at) == last => break,
                Some(at) if at <= until_ms => {
                    self.set_time(at);
                    engine.run_due(10_000).await.expect("engine pass");
                    last = Some(at);
                }
                _ => break,
            }
        }
        self.set_time(until_ms);
        engine.run_due(10_000).await.expect("engine pass");
    }

    /// `run_engine_until` `days` after now.
    pub async fn advance_days(&self, engine: &Engine, days: i64) {
        let until = self.clock.now_ms() + days * 86_400_000;
        self.run_engine_until(engine, until).await;
    }

    /// The customer presses pay on the recovery page; returns where the
    /// page sends them (`303` location).
    pub async fn pay(&self, token: &str) -> String {
        let res = self
            .browser
            .post(self.url("/embed/recovery/action/pay"))
            .form(&[("token", token), ("origin", PARTNER_ORIGIN)])
            .send()
            .await
            .expect("pay request");
        assert_eq!(res.status(), 303, "the page answers a pay with a redirect");
        res.headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// The recovery page's HTML for a token.
    pub async fn page(&self, path: &str, token: &str) -> String {
        self.client
            .get(self.url(path))
            .query(&[("token", token), ("origin", PARTNER_ORIGIN)])
            .send()
            .await
            .expect("page request")
            .text()
            .await
            .expect("page body")
    }

    /// The method page's "register a new card" button: the card page's
    /// address (with its signed ticket) and the window the frame waits on.
    pub async fn card_window(&self, token: &str) -> CardWindowLink {
        let html = self.page("/embed/recovery/method", token).await;
        let after = |needle: &str| {
            let (_, rest) = html
                .split_once(needle)
                .unwrap_or_else(|| panic!("no {needle} on the method page: {html}"));
            rest.split('"').next().unwrap().replace("&amp;", "&")
        };
        CardWindowLink {
            url: format!("/card?{}", after("href=\"/card?")),
            window_id: after("data-card-window=\""),
        }
    }

    /// What the frame hears about a card window:
    /// `{"state": "waiting"}` or `{"state": "done", "next": ...}`.
    pub async fn card_status(&self, token: &str, window_id: &str) -> serde_json::Value {
        self.client
            .get(self.url("/embed/recovery/method/status"))
            .query(&[
                ("token", token),
                ("origin", PARTNER_ORIGIN),
                ("window", window_id),
            ])
            .send()
            .await
            .expect("status request")
            .json()
            .await
            .expect("status JSON")
    }

    /// `(stage, text)` of every message the outbox holds for a case, by stage.
    pub async fn messages(&self, case_id: i64) -> Vec<(i64, String)> {
        let mut m: Vec<(i64, String)> = self
            .store
            .outbox(10_000)
            .await
            .expect("outbox")
            .into_iter()
            .filter(|m| m.case_id == case_id)
            .map(|m| (m.stage, m.body))
            .collect();
        m.sort();
        m
    }

    /// The partner's notices of one `noti_type`, oldest first.
    pub async fn notices_of(&self, kind: &str) -> Vec<serde_json::Value> {
        self.notices()
            .await
            .into_iter()
            .filter(|n| n["noti_type"] == kind)
            .collect()
    }

    /// The partner's notices' bodies, oldest first.
    pub async fn notices(&self) -> Vec<serde_json::Value> {
        self.store
            .list_events(self.partner.id, 0, 0, 10_000)
            .await
            .expect("events")
            .into_iter()
            .map(|e| serde_json::from_str(&e.body).expect("notice body"))
            .collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// GETs with this app's partner token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("Secret-Token", &self.secret)
            .send()
            .await
            .expect("request")
    }

    /// A partner API call with this app's token: its status and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("Secret-Token", &self.secret);
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        (status, res.json().await.expect("a JSON answer"))
    }

    /// POSTs a create and expects `201 Created`; returns the record.
    pub async fn created(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let (status, record) = self.call(reqwest::Method::POST, path, Some(&body)).await;
        assert_eq!(
            status,
            reqwest::StatusCode::CREATED,
            "{path} {body}: {record}"
        );
        record
    }

    /// Runs SQL against the app's database behind its back: a test's way
    /// to make a state no path of ours makes (a hand edit, a bug elsewhere).
    pub async fn sql(&self, statement: &str) {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.database_url).await.unwrap();
        sqlx::query(statement).execute(&pool).await.unwrap();
        pool.close().await;
    }

    /// The first column of every row `query` answers, as optional text
    /// (numbers cast by the query).
    pub async fn texts(&self, query: &str) -> Vec<Option<String>> {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.database_url).await.unwrap();
        let rows: Vec<(Option<String>,)> = sqlx::query_as(query).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows.into_iter().map(|(t,)| t).collect()
    }

    /// The case open for an order (tests that opened it through the API).
    pub async fn case_of_order(&self, order_id: i64) -> i64 {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.database_url).await.unwrap();
        let (id,): (i64,) = sqlx::query_as(
            "SELECT id FROM recovery_cases WHERE order_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(order_id)
        .fetch_one(&pool)
        .await
        .unwrap();
        pool.close().await;
        id
    }

    /// POSTs JSON with this app's partner token.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("Secret-Token", &self.secret)
            .json(body)
            .send()
            .await
            .expect("request")
    }
}

/// A customer, a product and a monthly price of the app's partner, via the
/// API; returns their ids.
pub async fn create_catalog(app: &TestApp) -> (i64, i64, i64) {
    let id = |v: serde_json::Value| v["id"].as_i64().expect("created record has an id");
    let customer = app
        .post_json(
            "/api/v1/cover/customer",
            &serde_json::json!({"name": "ref", "email": "r@e.co", "phone": "01012345678", "partnerCustomerId": "ref"}),
        )
        .await
        .json()
        .await
        .expect("customer json");
    let product = app
        .post_json(
            "/api/v1/cover/product",
            &serde_json::json!({"name": "ref", "partnerProductId": "ref"}),
        )
        .await
        .json()
        .await
        .expect("product json");
    let product = id(product);
    let price = app
        .post_json(
            "/api/v1/cover/price",
            &serde_json::json!({"name": "ref", "partnerPriceId": "ref", "productId": product, "price": 9900,
                                "recurringInterval": "MONTH"}),
        )
        .await
        .json()
        .await
        .expect("price json");
    (id(customer), product, id(price))
}
