//! `spawn_app`: the real server on a random port against a fresh database.
//!
//! SQLite by default (a file in a temp dir). With `REBOUND_TEST_DB=postgres`
//! each test gets a new database on `TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/test`).

#![allow(dead_code)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use rebound::clock::ManualClock;
use rebound::config::Config;
use rebound::domain::origin::{AllowedOrigins, Origin};
use rebound::domain::token::{TokenHash, new_id, new_recovery_token, new_secret_token};
use rebound::gateway::{SandboxGateway, SharedGateway};
use rebound::startup::Application;
use rebound::store::{FailedOrderSeed, PartnerRecord, Store};
use sqlx::Connection;

pub mod receiver;
pub mod sens_fake;

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
    pub clock: Arc<ManualClock>,
    /// A partner with origins `PARTNER_ORIGIN` and `OTHER_PARTNER_ORIGIN`.
    pub partner: PartnerRecord,
    pub secret: String,
    /// Where this app serves `/sdk/` from.
    pub sdk_dir: std::path::PathBuf,
    _dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    /// (server URL, database name) of a per-test Postgres database to drop.
    pg_database: Option<(String, String)>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let Some((base, name)) = self.pg_database.take() else {
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

pub async fn spawn_app() -> TestApp {
    spawn_app_with(None).await
}

/// `spawn_app` with another payment gateway than the sandbox.
pub async fn spawn_app_with(gateway: Option<SharedGateway>) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let (database_url, pg_database) = fresh_database(&dir).await;
    let config = Config::from_lookup(|k| match k {
        "REBOUND_LISTEN" => Some("127.0.0.1:0".into()),
        "DATABASE_URL" => Some(database_url.clone()),
        "REBOUND_SITE_ROOT" => Some(dir.path().join("site").display().to_string()),
        "REBOUND_SDK_DIR" => Some(dir.path().join("sdk").display().to_string()),
        _ => None,
    })
    .expect("config");
    let clock = Arc::new(ManualClock::starting_at(
        Utc.with_ymd_and_hms(2026, 11, 22, 4, 5, 0).unwrap(),
    ));
    let sandbox = Arc::new(SandboxGateway::default());
    let gateway = gateway.unwrap_or_else(|| sandbox.clone() as SharedGateway);
    let app = Application::build(config, clock.clone(), gateway)
        .await
        .expect("build app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let store = app.state().store.clone();
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
        clock,
        partner,
        secret,
        sdk_dir: dir.path().join("sdk"),
        _dir: dir,
        _shutdown: tx,
        pg_database,
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

/// A failed 10,000원 order whose billing key the sandbox treats as `id_key`.
pub async fn seed_case(app: &TestApp, id_key: &str) -> SeededCase {
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
                failed_at_ms: Utc
                    .with_ymd_and_hms(2026, 11, 22, 4, 5, 0)
                    .unwrap()
                    .timestamp_millis(),
                token: &TokenHash::of(&token),
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
