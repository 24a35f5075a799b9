//! The scenario engine's messages on the test clock: twelve days in
//! milliseconds, on SQLite and (with REBOUND_TEST_DB=postgres) Postgres.
//! These engines send messages only; `retries.rs` adds silent charges.

use crate::common;

use std::sync::Arc;

use chrono::Duration;
use common::{PARTNER_ORIGIN, TestApp, seed_case, spawn_app};
use rebound::domain::scenario::{EndAction, Scenario};
use rebound::engine::Engine;
use rebound::engine::provider::{
    BoxFuture, MessageProvider, OutboxProvider, OutgoingMessage, SEND_CONCURRENCY, SendError,
};

/// Stages of `case_id` in the outbox, oldest first.
async fn sent(app: &TestApp, case_id: i64) -> Vec<i64> {
    app.messages(case_id)
        .await
        .into_iter()
        .map(|(stage, _)| stage)
        .collect()
}

/// Moves the clock to `days` (and `hours`) after the failure and runs the
/// engine twice, as two workers would.
async fn at(app: &TestApp, engine: &Engine, start: i64, days: i64, hours: i64) {
    let target = start + (days * 24 + hours) * 3_600_000;
    let now = app.clock.now_ms();
    if target > now {
        app.clock.advance(Duration::milliseconds(target - now));
    }
    engine.run_due(10_000).await.unwrap();
    engine.run_due(10_000).await.unwrap();
}

#[tokio::test]
async fn never_recovered_four_stages_three_days_apart_then_paused() {
    let app = spawn_app().await;
    let engine = app.message_engine().await;
    let case = seed_case(&app, "sandbox_success").await;
    let start = app.clock.now_ms();
    at(&app, &engine, start, 0, 0).await;
    assert_eq!(sent(&app, case.case_id).await, [1]);
    at(&app, &engine, start, 2, 23).await;
    assert_eq!(
        sent(&app, case.case_id).await,
        [1],
        "stage 2 waits for day 3"
    );
    at(&app, &engine, start, 3, 0).await;
    assert_eq!(sent(&app, case.case_id).await, [1, 2]);
    at(&app, &engine, start, 6, 0).await;
    at(&app, &engine, start, 9, 0).await;
    assert_eq!(sent(&app, case.case_id).await, [1, 2, 3, 4]);
    assert_eq!(
        app.store
            .case_and_subscription_status(case.case_id)
            .await
            .unwrap(),
        ("OPEN".to_owned(), Some("UNPAID".to_owned()))
    );
    at(&app, &engine, start, 12, 0).await;
    assert_eq!(
        app.store
            .case_and_subscription_status(case.case_id)
            .await
            .unwrap(),
        ("ENDED".to_owned(), Some("PAUSE".to_owned()))
    );
    let sends = app.store.stage_sends(case.case_id).await.unwrap();
    assert_eq!(
        sends,
        (1..=4).map(|s| (s, "SENT".to_owned())).collect::<Vec<_>>()
    );
    // Nothing more, ever; the API's retryDate is null once ended.
    at(&app, &engine, start, 30, 0).await;
    assert_eq!(sent(&app, case.case_id).await, [1, 2, 3, 4]);
    let order: serde_json::Value = app
        .get(&format!("/api/v1/cover/order/{}", case.order_id))
        .await
        .json()
        .await
        .unwrap();
    assert!(order["retryDate"].is_null(), "{order}");
}

#[tokio::test]
async fn a_scenario_edit_applies_to_new_cases_only() {
    let app = spawn_app().await;
    let engine = app.message_engine().await;
    let before = seed_case(&app, "sandbox_success").await;
    let cancel = Scenario {
        end_action: EndAction::Cancel,
        ..Scenario::default()
    };
    app.store
        .add_scenario_version(app.partner.id, &cancel, app.clock.now_ms())
        .await
        .unwrap();
    let after = seed_case(&app, "sandbox_success").await;
    let start = app.clock.now_ms();
    for day in [0, 3, 6, 9, 12] {
        at(&app, &engine, start, day, 0).await;
    }
    assert_eq!(
        app.store
            .case_and_subscription_status(before.case_id)
            .await
            .unwrap()
            .1
            .as_deref(),
        Some("PAUSE")
    );
    assert_eq!(
        app.store
            .case_and_subscription_status(after.case_id)
            .await
            .unwrap()
            .1
            .as_deref(),
        Some("CANCELED")
    );
}

#[tokio::test]
async fn recovered_at_each_stage_stops_the_messages() {
    let app = spawn_app().await;
    let engine = app.message_engine().await;
    let start = app.clock.now_ms();
    let mut cases = Vec::new();
    for _ in 1..=4 {
        cases.push(seed_case(&app, "sandbox_success").await);
    }
    for (i, day) in [0, 3, 6, 9].into_iter().enumerate() {
        at(&app, &engine, start, day, 0).await;
        // The customer of case i pays right after stage i + 1.
        app.pay(&cases[i].token).await;
    }
    at(&app, &engine, start, 30, 0).await;
    for (i, case) in cases.iter().enumerate() {
        let expected: Vec<i64> = (1..=i as i64 + 1).collect();
        assert_eq!(sent(&app, case.case_id).await, expected, "case {i}");
        assert_eq!(
            app.store
                .case_and_subscription_status(case.case_id)
                .await
                .unwrap()
                .0,
            "RECOVERED"
        );
    }
}

#[tokio::test]
async fn a_changed_date_moves_the_next_stage_to_that_day() {
    let app = spawn_app().await;
    let engine = app.message_engine().await;
    let case = seed_case(&app, "sandbox_success").await;
    let start = app.clock.now_ms();
    at(&app, &engine, start, 0, 0).await;
    let res = app
        .browser
        .post(app.url("/embed/recovery/action/date"))
        .form(&[
            ("token", case.token.as_str()),
            ("origin", PARTNER_ORIGIN),
            ("selectedDate", "2026-11-29"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    at(&app, &engine, start, 3, 0).await;
    assert_eq!(
        sent(&app, case.case_id).await,
        [1],
        "no stage before the chosen day"
    );
    // 2026-11-29 10:00 KST is 6 days 21 h 55 min after 2026-11-22 13:05 KST.
    at(&app, &engine, start, 6, 22).await;
    assert_eq!(sent(&app, case.case_id).await, [1, 2]);
    at(&app, &engine, start, 9, 21).await;
    assert_eq!(
        sent(&app, case.case_id).await,
        [1, 2],
        "stage 3 keeps its 3-day spacing"
    );
    at(&app, &engine, start, 9, 23).await;
    assert_eq!(sent(&app, case.case_id).await, [1, 2, 3]);
}

#[tokio::test]
async fn reminded_later_three_times_each_postpones_by_a_day() {
    let app = spawn_app().await;
    let engine = app.message_engine().await;
    let case = seed_case(&app, "sandbox_success").await;
    let start = app.clock.now_ms();
    at(&app, &engine, start, 0, 0).await;
    for day in [3, 4, 5] {
        at(&app, &engine, start, day, 0).await;
        let res = app
            .browser
            .post(app.url("/embed/recovery/action/remind"))
            .form(&[("token", case.token.as_str()), ("origin", PARTNER_ORIGIN)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
    }
    // Stage 2 went out on day 3; the reminders then pushed stage 3 only
    // while they were later than its plan (day 6).
    assert_eq!(sent(&app, case.case_id).await, [1, 2]);
    at(&app, &engine, start, 6, 0).await;
    assert_eq!(sent(&app, case.case_id).await, [1, 2, 3]);
}

#[tokio::test]
async fn each_message_links_to_the_partner_page_with_a_token_that_opens_the_case() {
    let app = spawn_app().await;
    let engine = app.message_engine().await;
    let case = seed_case(&app, "sandbox_success").await;
    let start = app.clock.now_ms();
    at(&app, &engine, start, 0, 0).await;
    at(&app, &engine, start, 3, 0).await;
    let messages = app.store.outbox(10).await.unwrap();
    assert_eq!(messages.len(), 2);
    let mut tokens = Vec::new();
    for m in &messages {
        assert!(
            m.link.starts_with(&format!("{PARTNER_ORIGIN}/?token=")),
            "{}",
            m.link
        );
        assert!(m.body.contains("김길동님"), "{}", m.body);
        assert!(m.body.contains("10,000원"));
        assert!(m.body.ends_with(&m.link));
        let token = m.link.rsplit("token=").next().unwrap().to_owned();
        assert!(
            opens_a_case(&app, &token).await,
            "stage {} link opens the case",
            m.stage
        );
        tokens.push(token);
    }
    assert_ne!(tokens[0], tokens[1], "each stage has its own link");
    assert_ne!(tokens[0], case.token);
}

/// Whether the recovery page opens the case for `token` (its product shows).
async fn opens_a_case(app: &TestApp, token: &str) -> bool {
    app.page("/embed/recovery", token)
        .await
        .contains("프리미엄 멤버십")
}

#[tokio::test]
async fn a_stage_link_opens_only_its_own_case_and_only_whole() {
    // Stage links carry their case and stage in clear (`{case}.{stage}.{mac}`)
    // so the store finds them by those; the stored hash of the whole token
    // is what makes one valid.
    let app = spawn_app().await;
    let engine = app.message_engine().await;
    let a = seed_case(&app, "key-a").await;
    let b = seed_case(&app, "key-b").await;
    at(&app, &engine, app.clock.now_ms(), 0, 0).await;
    let links: std::collections::HashMap<i64, String> = app
        .store
        .outbox(10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| {
            (
                m.case_id,
                m.link.rsplit("token=").next().unwrap().to_owned(),
            )
        })
        .collect();
    let (link_a, link_b) = (&links[&a.case_id], &links[&b.case_id]);
    assert!(link_a.starts_with(&format!("{}.1.", a.case_id)), "{link_a}");
    assert!(opens_a_case(&app, link_a).await);
    let mac_a = link_a.splitn(3, '.').nth(2).unwrap();
    let mac_b = link_b.splitn(3, '.').nth(2).unwrap();
    for forged in [
        format!("{}.1.{mac_a}", b.case_id),    // a's mac on b's case
        format!("{}.1.{mac_b}", a.case_id),    // b's mac on a's case
        format!("{}.2.{mac_a}", a.case_id),    // a stage not sent yet
        format!("{}.1.{}x", a.case_id, mac_a), // one character more
        format!("{}.1.", a.case_id),           // no mac
        format!("0{}.1.{mac_a}", a.case_id),   // same number, other text
        mac_a.to_owned(),                      // the mac alone
    ] {
        assert!(!opens_a_case(&app, &forged).await, "{forged} opened a case");
        let res = app
            .get(&format!("/api/v1/cover/order/{forged}/idKey"))
            .await;
        assert_eq!(res.status(), 404, "{forged}");
    }
    // The partner's idKey lookup takes a stage link like the first token.
    let body: serde_json::Value = app
        .get(&format!("/api/v1/cover/order/{link_b}/idKey"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["idKey"], "key-b");
    assert_eq!(
        app.store
            .case_link(&rebound::domain::token::TokenKey::of(link_b))
            .await
            .unwrap(),
        Some((b.case_id, 1))
    );
}

#[tokio::test]
async fn the_outbox_dev_page_is_off_unless_asked_for() {
    // It shows live recovery links: only `serve --demo` or REBOUND_DEV_PAGES=1.
    let app = spawn_app().await;
    let res = app.client.get(app.url("/dev/outbox")).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn the_page_follows_the_cases_scenario_for_dates_and_reminders() {
    let app = spawn_app().await;
    let strict = Scenario {
        change_date_window_days: 3,
        remind_limit: 1,
        ..Scenario::default()
    };
    app.store
        .add_scenario_version(app.partner.id, &strict, app.clock.now_ms())
        .await
        .unwrap();
    let case = seed_case(&app, "sandbox_success").await;
    let html = app.page("/embed/recovery/date", &case.token).await;
    // Now is 2026-11-22 in Seoul: tomorrow through 3 days ahead.
    assert!(
        html.contains("max=\"2026-11-25\""),
        "window from the scenario"
    );
    let remind = || async {
        let res = app
            .browser
            .post(app.url("/embed/recovery/action/remind"))
            .form(&[("token", case.token.as_str()), ("origin", PARTNER_ORIGIN)])
            .send()
            .await
            .unwrap();
        res.headers()["location"].to_str().unwrap().to_owned()
    };
    assert!(remind().await.starts_with("/embed/recovery/reminded"));
    assert!(
        remind().await.contains("notice=remind-limit"),
        "one reminder in this scenario"
    );
}

/// The outbox with the default (HTTP providers') batch limit: records the
/// largest batch the engine handed it, and never answers while `hang` is set.
struct Watched {
    outbox: OutboxProvider,
    largest: std::sync::atomic::AtomicUsize,
    hang: std::sync::atomic::AtomicBool,
}

impl Watched {
    fn new(app: &TestApp, hang: bool) -> Arc<Watched> {
        Arc::new(Watched {
            outbox: OutboxProvider {
                store: app.store.clone(),
                clock: app.clock.clone(),
            },
            largest: Default::default(),
            hang: hang.into(),
        })
    }
}

impl MessageProvider for Watched {
    fn send<'a>(&'a self, msg: &'a OutgoingMessage) -> BoxFuture<'a, Result<String, SendError>> {
        self.outbox.send(msg)
    }

    fn send_batch<'a>(
        &'a self,
        msgs: &'a [OutgoingMessage],
    ) -> BoxFuture<'a, Vec<Result<String, SendError>>> {
        self.largest
            .fetch_max(msgs.len(), std::sync::atomic::Ordering::Relaxed);
        if self.hang.load(std::sync::atomic::Ordering::Relaxed) {
            Box::pin(std::future::pending())
        } else {
            self.outbox.send_batch(msgs)
        }
    }
}

#[tokio::test]
async fn a_provider_that_sends_one_at_a_time_gets_batches_it_can_finish_within_the_lease() {
    // A batch's cases are leased for a minute; 1,024 slow HTTP sends would
    // outlive the lease and let another instance send them again.
    let app = spawn_app().await;
    let provider = Watched::new(&app, false);
    let engine = Engine::new(
        app.store.clone(),
        app.clock.clone(),
        provider.clone(),
        app.link_key.clone(),
    );
    let mut cases = Vec::new();
    for _ in 0..40 {
        cases.push(seed_case(&app, "sandbox_success").await.case_id);
    }
    assert_eq!(engine.run_due(10_000).await.unwrap(), 40);
    let largest = provider.largest.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(largest, SEND_CONCURRENCY, "one round of concurrent sends");
    for case in cases {
        assert_eq!(sent(&app, case).await, [1]);
    }
}

#[tokio::test]
async fn sends_that_outlast_their_budget_are_cut_off_and_retried_before_the_lease_ends() {
    let app = spawn_app().await;
    let provider = Watched::new(&app, true);
    let engine = Engine::new(
        app.store.clone(),
        app.clock.clone(),
        provider.clone(),
        app.link_key.clone(),
    )
    .with_send_budget(std::time::Duration::from_millis(200));
    let case = seed_case(&app, "sandbox_success").await;
    let pass = tokio::time::timeout(std::time::Duration::from_secs(10), engine.run_due(10))
        .await
        .expect("the engine stops waiting at the budget");
    assert_eq!(pass.unwrap(), 1);
    assert_eq!(
        app.store.stage_sends(case.case_id).await.unwrap(),
        [(1, "SENDING".to_owned())],
        "outcome unknown: still to send"
    );
    let (_, due, leased) = app.store.engine_backlog(app.clock.now_ms()).await.unwrap();
    assert_eq!((due, leased), (0, 0), "released, due again after a backoff");

    provider
        .hang
        .store(false, std::sync::atomic::Ordering::Relaxed);
    app.clock.advance(Duration::minutes(2));
    engine.run_due(10).await.unwrap();
    assert_eq!(sent(&app, case.case_id).await, [1]);
    assert_eq!(
        app.store.stage_sends(case.case_id).await.unwrap(),
        [(1, "SENT".to_owned())]
    );
}
