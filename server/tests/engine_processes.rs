//! The scenario engine as operators run it: real `server` processes, killed
//! with SIGKILL at random points, and several at once on one database, all
//! sending through a fake SENS that counts what reached each phone.
//!
//! Time is the dev clock (`REBOUND_DEV_CLOCK=1`): the test moves it forward
//! in the database and every process follows.

mod common;

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::receiver::Receiver;
use common::sens_fake::{FakeSens, Faults};
use rebound::domain::origin::{AllowedOrigins, Origin};
use rebound::domain::retry::RetryPolicy;
use rebound::domain::scenario::Scenario;
use rebound::domain::token::{TokenHash, TokenKey, new_recovery_token};
use rebound::store::{FailedOrderSeed, Store};

const HOUR_MS: i64 = 3_600_000;

struct Setup {
    store: Store,
    partner_id: i64,
    database_url: String,
    cases: Vec<i64>,
    _dir: tempfile::TempDir,
    drop_pg: Option<(String, String)>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some((base, name)) = self.drop_pg.take() {
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    use sqlx::Connection;
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
}

/// A fresh database with `n` failed orders, each customer with their own
/// phone number, all failed at the dev clock's start.
async fn setup(n: usize) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, drop_pg) = common::fresh_database(&dir).await;
    let store = Store::connect(&database_url).await.unwrap();
    let origins = AllowedOrigins::new(vec![Origin::parse("https://shop.example.com").unwrap()]);
    let partner = store
        .create_partner(
            "crash",
            "크래시 상점",
            &origins,
            &TokenHash::of(&new_recovery_token()),
            0,
        )
        .await
        .unwrap();
    // These tests are about messages: silent retries (which would recover
    // the sandbox's cases at D+1) are off; `retry_processes.rs` crashes
    // servers during charges.
    let messages_only = Scenario {
        retries: RetryPolicy {
            enabled: false,
            ..RetryPolicy::default()
        },
        ..Scenario::default()
    };
    store
        .add_scenario_version(partner.id, &messages_only, 0)
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let mut cases = Vec::with_capacity(n);
    for i in 0..n {
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
                    id_key: "sandbox_success",
                    payment_info: "신한카드 1234*",
                    failure_reason: "한도초과",
                    failed_at_ms: now,
                    token: &TokenHash::of(&new_recovery_token()),
                    payment_gateway: "UNKNOWN",
                },
            )
            .await
            .unwrap();
        cases.push(case.case_id);
    }
    Setup {
        store,
        partner_id: partner.id,
        database_url,
        cases,
        _dir: dir,
        drop_pg,
    }
}

fn start_server(database_url: &str, fake: &FakeSens) -> Child {
    start_server_with(database_url, &fake.env())
}

fn start_server_with(database_url: &str, env: &[(&'static str, String)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
    cmd.arg("serve")
        .env("DATABASE_URL", database_url)
        .env("REBOUND_LISTEN", "127.0.0.1:0")
        .env("REBOUND_DEV_CLOCK", "1")
        .env("REBOUND_ENGINE_POLL_MS", "20")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("start the server binary")
}

async fn dev_now(store: &Store) -> i64 {
    chrono::Utc::now().timestamp_millis() + store.dev_clock_offset_ms().await.unwrap()
}

/// Moves the dev clock a stage (3 days) ahead whenever the running servers
/// have nothing due and nothing in hand, until every case ended. (Never
/// while a send is under way: a jump past its lease would let another
/// server take the case mid-send, which real time never does.)
async fn run_to_the_end(setup: &Setup, deadline: Duration) {
    let start = Instant::now();
    loop {
        let (open, due, leased) = setup
            .store
            .engine_backlog(dev_now(&setup.store).await)
            .await
            .unwrap();
        if open == 0 {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "{open} cases still open after {deadline:?} ({due} due, {leased} leased)"
        );
        if due == 0 && leased == 0 {
            setup.store.advance_dev_clock(72 * HOUR_MS).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the fake delivered, mapped back to (case, stage) through the stage
/// link token each message carries; asserts each went out exactly once.
async fn assert_each_stage_reached_each_phone_once(setup: &Setup, fake: &FakeSens, stages: i64) {
    let deliveries = fake.state.lock().unwrap().deliveries();
    let twice: Vec<_> = deliveries.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} messages went out more than once: {:?}",
        twice.len(),
        twice.first()
    );
    let mut seen: HashMap<i64, HashSet<i64>> = HashMap::new();
    for content in deliveries.keys() {
        let token = content.rsplit("token=").next().unwrap();
        let (case, stage) = setup
            .store
            .case_link(&TokenKey::of(token))
            .await
            .unwrap()
            .expect("every delivered link is a stage link");
        assert!(
            seen.entry(case).or_default().insert(stage),
            "case {case} stage {stage} twice"
        );
    }
    for case in &setup.cases {
        let got = seen.get(case).cloned().unwrap_or_default();
        assert_eq!(
            got,
            (1..=stages).collect(),
            "stages delivered for case {case}"
        );
        let sends = setup.store.stage_sends(*case).await.unwrap();
        assert!(
            sends.iter().all(|(_, s)| s == "SENT"),
            "case {case}: {sends:?}"
        );
    }
    assert_eq!(deliveries.len(), setup.cases.len() * stages as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_sends_every_stage_exactly_once() {
    let setup = setup(1_000).await;
    let fake = FakeSens::start().await;
    // SENS itself misbehaves now and then too, including accepting a
    // message and answering 500.
    fake.set_faults(Faults {
        fail_before_percent: 2,
        fail_after_percent: 2,
        ..Faults::default()
    });
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut kills = 0;
    for cycle in 0..40 {
        let mut server = start_server(&setup.database_url, &fake);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        tokio::time::sleep(Duration::from_millis(50 + rng % 600)).await;
        server.kill().expect("SIGKILL");
        server.wait().unwrap();
        kills += 1;
        // Requests already on the wire land before the next process starts,
        // as they would within the 60 s lease in production.
        tokio::time::sleep(Duration::from_millis(50)).await;
        if cycle % 8 == 7 {
            setup.store.advance_dev_clock(72 * HOUR_MS).await.unwrap();
        }
    }
    assert!(kills >= 40);
    let progress = fake.state.lock().unwrap().deliveries().len();
    assert!(progress > 0, "the killed servers got some stages out");
    // The last process died holding leases; a couple of minutes pass
    // before the next one starts. Then it is left alone to finish.
    setup.store.advance_dev_clock(2 * 60_000).await.unwrap();
    let mut server = start_server(&setup.database_url, &fake);
    run_to_the_end(&setup, Duration::from_secs(240)).await;
    server.kill().unwrap();
    server.wait().unwrap();
    assert_each_stage_reached_each_phone_once(&setup, &fake, 4).await;
    let restarted = setup.store.restarted_stage_sends().await.unwrap();
    let lists = fake.state.lock().unwrap().lists;
    eprintln!(
        "{kills} kills; {progress} messages out before the last start; {restarted} stage sends begun again; {lists} SENS lookups"
    );
    assert!(restarted > 0, "some kills hit a send in progress");
    assert_eq!(fake.state.lock().unwrap().bad_signatures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_send_no_stage_twice() {
    let n = std::env::var("REBOUND_INSTANCES_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let setup = setup(n).await;
    let fake = FakeSens::start().await;
    let mut a = start_server(&setup.database_url, &fake);
    let mut b = start_server(&setup.database_url, &fake);
    run_to_the_end(&setup, Duration::from_secs(600)).await;
    for s in [&mut a, &mut b] {
        s.kill().unwrap();
        s.wait().unwrap();
    }
    assert_each_stage_reached_each_phone_once(&setup, &fake, 4).await;
    assert_eq!(
        setup.store.stage_workers().await.unwrap(),
        2,
        "both servers sent stages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_delivery_loses_no_notice_and_the_repeat_is_deduplicated() {
    let setup = setup(300).await;
    let secret = setup
        .store
        .webhook_secret(setup.partner_id, &rebound::notify::new_secret())
        .await
        .unwrap();
    let receiver = Receiver::start(&secret).await;
    setup
        .store
        .set_partner_notify_url(setup.partner_id, Some(&receiver.url))
        .await
        .unwrap();
    {
        // The first answers are slow, so the first kills land mid-delivery.
        let mut s = receiver.state.lock().unwrap();
        s.hold_next = 8;
        s.hold = Duration::from_secs(2);
    }
    let env = [
        ("REBOUND_NOTIFY_ALLOW_PRIVATE", "1".to_owned()),
        ("REBOUND_MESSAGES", "outbox".to_owned()),
    ];
    let mut rng: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..12 {
        let mut server = start_server_with(&setup.database_url, &env);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        tokio::time::sleep(Duration::from_millis(100 + rng % 700)).await;
        server.kill().expect("SIGKILL");
        server.wait().unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Leases (60 s) of the killed process run out while it is down.
        setup.store.advance_dev_clock(2 * 60_000).await.unwrap();
    }
    let mut server = start_server_with(&setup.database_url, &env);
    let start = Instant::now();
    loop {
        let statuses = setup.store.event_statuses(setup.partner_id).await.unwrap();
        if statuses.len() == 1 && statuses[0].0 == "DELIVERED" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{statuses:?}");
        // Retries wait 5 s, then 5 min: let dev time pass faster.
        setup.store.advance_dev_clock(60_000).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();

    let events = setup
        .store
        .list_events(setup.partner_id, 0, 0, 100_000)
        .await
        .unwrap();
    assert!(events.len() >= 300, "one notice per opened case at least");
    let s = receiver.state.lock().unwrap();
    for e in &events {
        assert!(
            s.accepted.contains_key(&e.webhook_id),
            "{} never arrived",
            e.webhook_id
        );
    }
    assert_eq!(
        s.granted.len(),
        events.len(),
        "each tid granted exactly once"
    );
    let mut arrivals: HashMap<&str, usize> = HashMap::new();
    for d in &s.deliveries {
        *arrivals.entry(d.webhook_id.as_str()).or_default() += 1;
    }
    assert!(
        arrivals.values().any(|n| *n > 1),
        "a kill mid-delivery made the server send a notice again"
    );
    assert!(s.deliveries.iter().all(|d| d.verified));
}
