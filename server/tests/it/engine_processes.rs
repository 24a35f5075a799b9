//! The scenario engine as operators run it: real `server` processes, killed
//! with SIGKILL at random points, and several at once on one database, all
//! sending through a fake SENS that counts what reached each phone.
//!
//! Time is the dev clock (`REBOUND_DEV_CLOCK=1`): the test moves it forward
//! in the database and every process follows.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::process::Child;
use std::time::{Duration, Instant};

use common::processes::{self, Seeds, Setup, dev_now, start_server as start_server_with};
use common::receiver::Receiver;
use common::sens_fake::{FakeSens, Faults};
use rebound::domain::token::TokenKey;

const HOUR_MS: i64 = 3_600_000;

/// `n` cases on the sandbox's success key, with silent retries off: these
/// tests are about messages (`retry_processes.rs` crashes servers during
/// charges).
async fn setup(n: usize) -> Setup {
    processes::setup(Seeds {
        cases: n,
        id_key: &|_| "sandbox_success".to_owned(),
        payment_gateway: "UNKNOWN",
        scenario: Some(common::messages_only_scenario()),
    })
    .await
}

fn start_server(database_url: &str, fake: &FakeSens) -> Child {
    start_server_with(database_url, &fake.env())
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
    let kills = 40;
    let mut cycle = 0;
    processes::kill_repeatedly(
        kills,
        0x9E37_79B9_7F4A_7C15,
        600,
        || start_server(&setup.database_url, &fake),
        || {
            // A stage's worth of days every eighth kill.
            cycle += 1;
            let next_stage = cycle % 8 == 0;
            let store = &setup.store;
            async move {
                if next_stage {
                    store.advance_dev_clock(72 * HOUR_MS).await.unwrap();
                }
            }
        },
    )
    .await;
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

/// 2,000 cases (8,000 stages): enough that both servers claim batches
/// side by side for the whole run (each pass takes at most 64 of a SENS
/// partner's cases); `REBOUND_INSTANCES_CASES` sets more for a soak.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_send_no_stage_twice_2000_cases() {
    let n = std::env::var("REBOUND_INSTANCES_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
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
    // Leases (60 s) of the killed process run out while it is down.
    processes::kill_repeatedly(
        12,
        0x2545_F491_4F6C_DD1D,
        700,
        || start_server_with(&setup.database_url, &env),
        || async {
            setup.store.advance_dev_clock(2 * 60_000).await.unwrap();
        },
    )
    .await;
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

/// Resends asked for from the console, with servers killed mid-batch: 200
/// cases and 12 kills (the smallest counts at which kills reliably land
/// while resends are in flight), through SENS, which has no idempotency
/// key: a try of unknown outcome is found again by its text and time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_resending_sends_each_resend_exactly_once_200_cases_12_kills() {
    use rebound::domain::account::{Email, NewPassword, Role};
    let setup = setup(200).await;
    let fake = FakeSens::start().await;
    let follow_clock = |fake: &FakeSens, now: i64| fake.state.lock().unwrap().set_clock(now);
    follow_clock(&fake, dev_now(&setup.store).await);
    // Stage 1 of every case goes out and is recorded sent (the provider
    // having it is not enough: a batch's outcomes are recorded after it).
    let mut server = start_server(&setup.database_url, &fake);
    let start = Instant::now();
    let mut waiting: Vec<i64> = setup.cases.clone();
    while !waiting.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "stage 1 went out: {} cases still waiting",
            waiting.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut still = Vec::new();
        for case in waiting {
            let sends = setup.store.stage_sends(case).await.unwrap();
            if !sends.contains(&(1, "SENT".to_owned())) {
                still.push(case);
            }
        }
        waiting = still;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    // A day later (a stage is resent at most once a day) an operator
    // resends every case's stage.
    setup.store.advance_dev_clock(25 * HOUR_MS).await.unwrap();
    let now = dev_now(&setup.store).await;
    follow_clock(&fake, now);
    let ops = setup
        .store
        .create_console_user(
            &Email::parse("ops@rebound.example").unwrap(),
            &NewPassword::parse("correct horse battery staple")
                .unwrap()
                .hash(),
            Role::Operator,
            "test",
            now,
        )
        .await
        .unwrap()
        .unwrap()
        .id;
    for case in &setup.cases {
        let asked = setup.store.request_resend(*case, ops, now).await.unwrap();
        assert!(
            matches!(asked, rebound::store::ResendRequest::Queued { stage: 1 }),
            "case {case}: {asked:?}"
        );
    }
    fake.set_faults(Faults {
        fail_before_percent: 3,
        fail_after_percent: 3,
        answer_delay_ms: 40,
        ..Faults::default()
    });
    // The killed process's leases (60 s) run out while it is down.
    processes::kill_repeatedly(
        12,
        0x9E37_79B9_7F4A_7C15,
        500,
        || start_server(&setup.database_url, &fake),
        || async {
            setup.store.advance_dev_clock(2 * 60_000).await.unwrap();
            follow_clock(&fake, dev_now(&setup.store).await);
        },
    )
    .await;
    let mut server = start_server(&setup.database_url, &fake);
    let start = Instant::now();
    loop {
        let (waiting, _) = setup.store.resend_backlog().await.unwrap();
        if waiting == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{waiting} resends still waiting"
        );
        // Failed tries wait a minute, then five: let dev time pass.
        setup.store.advance_dev_clock(60_000).await.unwrap();
        follow_clock(&fake, dev_now(&setup.store).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    let deliveries = fake.state.lock().unwrap().deliveries();
    assert_eq!(deliveries.len(), setup.cases.len(), "one text per case");
    let wrong: Vec<_> = deliveries.values().filter(|n| **n != 2).collect();
    assert!(
        wrong.is_empty(),
        "each phone got its stage and one resend: {wrong:?}"
    );
    let (_, restarted) = setup.store.resend_backlog().await.unwrap();
    eprintln!("{restarted} resends begun again after a kill or a failed try");
    assert!(restarted > 0, "kills and faults hit resends in flight");
}
