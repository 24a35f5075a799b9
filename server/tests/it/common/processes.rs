//! What the process tests share: a fresh database seeded with many failed
//! orders, real `server` processes on it, and the dev clock they follow.

use std::process::{Child, Command, Stdio};

use rebound::domain::origin::{AllowedOrigins, Origin};
use rebound::domain::scenario::Scenario;
use rebound::domain::token::{TokenHash, new_recovery_token};
use rebound::store::{FailedOrderSeed, Store};

use super::TempDatabase;

pub struct Setup {
    pub store: Store,
    pub partner_id: i64,
    /// The partner's Secret-Token, for the partner API.
    pub secret: String,
    pub database_url: String,
    pub cases: Vec<i64>,
    _db: TempDatabase,
}

/// How the seeded orders look.
pub struct Seeds<'a> {
    pub cases: usize,
    /// The billing key of order `i`.
    pub id_key: &'a dyn Fn(usize) -> String,
    pub payment_gateway: &'a str,
    /// The partner's scenario, if not the default.
    pub scenario: Option<Scenario>,
}

/// The next 12:00 in Korea after `ms`.
pub fn next_noon_kst(ms: i64) -> i64 {
    use chrono::{Days, TimeZone};
    let kst = rebound::clock::kst();
    let day = kst.timestamp_millis_opt(ms).unwrap().date_naive();
    let noon = |d: chrono::NaiveDate| {
        kst.from_local_datetime(&d.and_hms_opt(12, 0, 0).unwrap())
            .unwrap()
            .timestamp_millis()
    };
    if noon(day) > ms {
        noon(day)
    } else {
        noon(day + Days::new(1))
    }
}

/// A fresh database with one partner and `cases` failed orders, each
/// customer with their own phone number, all failed at the servers' now
/// (the dev clock, set to the next noon in Korea).
pub async fn setup(seeds: Seeds<'_>) -> Setup {
    let db = TempDatabase::new().await;
    let store = Store::connect(&db.url).await.unwrap();
    let origins = AllowedOrigins::new(vec![Origin::parse("https://shop.example.com").unwrap()]);
    let secret = rebound::domain::token::new_secret_token();
    let partner = store
        .create_partner(
            "process",
            "프로세스 상점",
            &origins,
            &TokenHash::of(&secret),
            0,
        )
        .await
        .unwrap();
    if let Some(scenario) = &seeds.scenario {
        store
            .add_scenario_version(partner.id, scenario, 0)
            .await
            .unwrap();
    }
    // The servers' clock starts at the next noon (KST), whatever the wall
    // time: the quiet hours (21-08) and the card companies' night window
    // never fall in a test's first hours, so a run at night sends and
    // charges as a run by day does.
    let wall = chrono::Utc::now().timestamp_millis();
    let now = next_noon_kst(wall);
    store.advance_dev_clock(now - wall).await.unwrap();
    let mut cases = Vec::with_capacity(seeds.cases);
    for i in 0..seeds.cases {
        let case = store
            .seed_failed_order(
                partner.id,
                &FailedOrderSeed {
                    partner_customer_id: &format!("c-{i}"),
                    customer_name: "김길동",
                    customer_phone: &format!("010{i:08}"),
                    product_name: "프리미엄 멤버십",
                    product_image_url: None,
                    amount: 10_000,
                    partner_order_id: &format!("o-{i}"),
                    id_key: &(seeds.id_key)(i),
                    payment_info: "신한카드 1234*",
                    failure_reason: "한도초과",
                    failed_at_ms: now,
                    token: &TokenHash::of(&new_recovery_token()),
                    payment_gateway: seeds.payment_gateway,
                },
            )
            .await
            .unwrap();
        cases.push(case.case_id);
    }
    Setup {
        store,
        partner_id: partner.id,
        secret,
        database_url: db.url.clone(),
        cases,
        _db: db,
    }
}

/// `server serve` on the database, on the dev clock, polling every 20 ms.
pub fn start_server(database_url: &str, env: &[(&'static str, String)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
    cmd.arg("serve")
        .env("DATABASE_URL", database_url)
        .env("REBOUND_LISTEN", "127.0.0.1:0")
        .env("REBOUND_DEV_CLOCK", "1")
        .env("REBOUND_GATEWAY", "sandbox")
        .env("REBOUND_MESSAGES", "outbox")
        .env("REBOUND_LINK_KEY", super::TEST_LINK_KEY)
        .env("REBOUND_ENGINE_POLL_MS", "20")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("start the server binary")
}

/// `kills` times: starts a server with `start`, SIGKILLs it 100 ms plus a
/// pseudo-random part of `spread_ms` later (the same points on every run
/// of a `seed`), lets requests already on the wire land, then runs `after`
/// (which ages the dev clock past the dead process's leases).
pub async fn kill_repeatedly<F: std::future::Future<Output = ()>>(
    kills: usize,
    seed: u64,
    spread_ms: u64,
    mut start: impl FnMut() -> Child,
    mut after: impl FnMut() -> F,
) {
    let mut rng = seed;
    for _ in 0..kills {
        let mut server = start();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        tokio::time::sleep(std::time::Duration::from_millis(100 + rng % spread_ms)).await;
        server.kill().expect("SIGKILL");
        server.wait().unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        after().await;
    }
}

/// The servers' time: wall time plus the dev clock's offset.
pub async fn dev_now(store: &Store) -> i64 {
    chrono::Utc::now().timestamp_millis() + store.dev_clock_offset_ms().await.unwrap()
}
