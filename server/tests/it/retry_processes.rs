//! Silent retries as operators run them: real `server` processes charging
//! through a local fake of Toss Payments, SIGKILLed at random while charges
//! are in flight, and two at once on one database. The fake's ledger of
//! approved charges is the customers' card statements.
//!
//! Time is the dev clock (`REBOUND_DEV_CLOCK=1`): the test moves it in the
//! database and every process follows.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::process::Child;
use std::time::{Duration, Instant};

use common::processes::{self, Seeds, Setup, dev_now};
use common::toss_fake::{Faults, SECRET, Shared, start_fake};

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// `n` renewals that failed now, each on its own Toss billing key; then
/// the dev clock moves two days on, so every first retry is due.
async fn setup(n: usize) -> Setup {
    let setup = processes::setup(Seeds {
        cases: n,
        id_key: &|i| format!("bk_card_{i}"),
        payment_gateway: "TOSS",
        scenario: None,
    })
    .await;
    setup.store.advance_dev_clock(2 * DAY_MS).await.unwrap();
    setup
}

fn start_server(database_url: &str, toss_base: &str) -> Child {
    processes::start_server(
        database_url,
        &[
            ("REBOUND_GATEWAY", "toss".to_owned()),
            ("REBOUND_TOSS_SECRET_KEY", SECRET.to_owned()),
            ("REBOUND_TOSS_CLIENT_KEY", "test_ck_fake".to_owned()),
            // Keys issued under the customers' own ids, as many shops do.
            (
                "REBOUND_TOSS_CUSTOMER_KEYS",
                "partner-customer-id".to_owned(),
            ),
            ("REBOUND_TOSS_API_BASE", toss_base.to_owned()),
        ],
    )
}

/// Waits until every case is recovered and no charge is pending. Whenever
/// nothing moves, the dev clock jumps to the next moment the engine has
/// work (at least two minutes: leases of killed processes run out, the
/// resolver settles charges a minute old, sending each again under its own
/// key).
async fn run_until_recovered(setup: &Setup, deadline: Duration) {
    let start = Instant::now();
    let mut last = None;
    loop {
        let (statuses, pending) = setup.store.charge_backlog().await.unwrap();
        let recovered = statuses
            .iter()
            .find(|(s, _)| s == "RECOVERED")
            .map_or(0, |(_, n)| *n);
        if recovered as usize == setup.cases.len() && pending == 0 {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "after {deadline:?}: {statuses:?}, {pending} charges pending"
        );
        let now = (statuses.clone(), pending);
        if last.as_ref() == Some(&now) {
            let now = dev_now(&setup.store).await;
            let next = setup.store.next_work_at().await.unwrap().unwrap_or(now);
            let by = (next - now + 1_000).max(2 * MINUTE_MS);
            setup.store.advance_dev_clock(by).await.unwrap();
        }
        last = Some(now);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Every case was charged exactly once at the PG (by the fake's ledger)
/// and once in our books, and no idempotency key was approved twice.
async fn assert_each_case_charged_once(setup: &Setup, fake: &Shared) {
    let (approved, key_mismatches) = {
        let f = fake.lock().unwrap();
        (f.approved.clone(), f.key_mismatches)
    };
    let mut per_case: HashMap<i64, usize> = HashMap::new();
    let mut keys = HashSet::new();
    for body in &approved {
        let order_id = body["orderId"].as_str().unwrap().to_owned();
        assert!(keys.insert(order_id.clone()), "{order_id} approved twice");
        let case: i64 = order_id.split('-').nth(1).unwrap().parse().unwrap();
        *per_case.entry(case).or_default() += 1;
    }
    assert_eq!(key_mismatches, 0, "Idempotency-Key is always the orderId");
    let twice: Vec<_> = per_case.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "cases charged twice: {twice:?}");
    assert_eq!(per_case.len(), setup.cases.len(), "every case charged");
    for case in &setup.cases {
        assert_eq!(
            setup.store.successful_charges(*case).await.unwrap(),
            1,
            "case {case}"
        );
    }
}

/// 1,000 cases, 20 kills: enough that kills land between the claim and the
/// PG's answer and between the answer and its record (the fake holds each
/// answer 40 ms and loses 5 % of approvals on the way back), so the resolver
/// has charges of unknown outcome to settle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_silent_charges_charges_each_case_once_and_loses_none() {
    let setup = setup(1_000).await;
    let (toss_base, fake) = start_fake().await;
    fake.lock().unwrap().faults = Faults {
        lose_after_approval_percent: 5,
        delay_ms: 40,
    };
    // The killed process's leases and pending charges age while it is down.
    processes::kill_repeatedly(
        20,
        0x853C_49E6_748F_EA9B,
        500,
        || start_server(&setup.database_url, &toss_base),
        || async {
            setup.store.advance_dev_clock(2 * MINUTE_MS).await.unwrap();
        },
    )
    .await;
    let (before, pending_after_kills) = setup.store.charge_backlog().await.unwrap();
    let approved_before = fake.lock().unwrap().approved.len();
    assert!(approved_before > 0, "the killed servers charged some cases");
    let mut server = start_server(&setup.database_url, &toss_base);
    run_until_recovered(&setup, Duration::from_secs(240)).await;
    server.kill().unwrap();
    server.wait().unwrap();
    assert_each_case_charged_once(&setup, &fake).await;
    let (requests, lookups) = {
        let f = fake.lock().unwrap();
        (f.requests, f.lookups)
    };
    eprintln!(
        "20 kills; {approved_before} charged before the last start ({before:?}, {pending_after_kills} pending); {requests} charge requests and {lookups} lookups for 1,000 cases"
    );
    assert!(
        lookups > 0,
        "some charges of unknown outcome were settled by looking them up"
    );
}

/// Two servers on one database, each case charged once: 10,000 cases on
/// Postgres (the scale-out store), 2,000 on SQLite, whose single writer
/// serializes the two anyway (`REBOUND_INSTANCES_CASES` overrides both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_charge_no_case_twice() {
    let postgres = std::env::var("REBOUND_TEST_DB").as_deref() == Ok("postgres");
    let n = std::env::var("REBOUND_INSTANCES_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if postgres { 10_000 } else { 2_000 });
    let setup = setup(n).await;
    let (toss_base, fake) = start_fake().await;
    let mut a = start_server(&setup.database_url, &toss_base);
    let mut b = start_server(&setup.database_url, &toss_base);
    run_until_recovered(&setup, Duration::from_secs(600)).await;
    for s in [&mut a, &mut b] {
        s.kill().unwrap();
        s.wait().unwrap();
    }
    assert_each_case_charged_once(&setup, &fake).await;
}
