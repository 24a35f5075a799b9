//! Server-to-server notices on the test clock, against a local partner
//! backend that verifies signatures and deduplicates by `tid`.

use crate::common;

use chrono::Duration;
use common::receiver::{Mode, Receiver};
use common::{TestApp, seed_case, spawn_app};
use rebound::clock::SharedClock;
use rebound::notify::Notifier;
use serde_json::Value;

async fn setup() -> (TestApp, Receiver, Notifier) {
    let app = spawn_app().await;
    let secret = app
        .store
        .webhook_secret(app.partner.id, &rebound::notify::new_secret())
        .await
        .unwrap();
    let receiver = Receiver::start(&secret).await;
    app.store
        .set_partner_notify_url(app.partner.id, Some(&receiver.url))
        .await
        .unwrap();
    let clock: SharedClock = app.clock.clone();
    let notifier = Notifier::new(app.store.clone(), clock, true);
    (app, receiver, notifier)
}

async fn statuses(app: &TestApp) -> Vec<(String, i64)> {
    app.store.event_statuses(app.partner.id).await.unwrap()
}

async fn events(app: &TestApp) -> Vec<Value> {
    let page: Value = app
        .get("/api/v1/cover/events?limit=500")
        .await
        .json()
        .await
        .unwrap();
    page["content"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_receiver_down_for_a_day_gets_every_notice_once_it_is_back() {
    let (app, receiver, notifier) = setup().await;
    let engine = app.message_engine().await;
    let case = seed_case(&app, "sandbox_success").await;
    engine.run_due(100).await.unwrap(); // stage 1
    app.pay(&case.token).await;
    receiver.set_mode(Mode::Down);
    let mut hours = 0;
    while hours < 24 {
        notifier.run_due(100).await.unwrap();
        app.clock.advance(Duration::hours(1));
        hours += 1;
    }
    assert_eq!(statuses(&app).await, [("PENDING".to_owned(), 4)]);
    let failed_tries = receiver.state.lock().unwrap().deliveries.len();
    assert!(failed_tries >= 4 * 5, "retried while down: {failed_tries}");
    receiver.set_mode(Mode::Up);
    while hours < 72 && statuses(&app).await != [("DELIVERED".to_owned(), 4)] {
        notifier.run_due(100).await.unwrap();
        app.clock.advance(Duration::hours(1));
        hours += 1;
    }
    assert_eq!(
        statuses(&app).await,
        [("DELIVERED".to_owned(), 4)],
        "after {hours} h"
    );

    let (paid_tid, paid_id) = {
        let s = receiver.state.lock().unwrap();
        assert!(
            s.deliveries.iter().all(|d| d.verified),
            "every signature verifies"
        );
        // Same webhook-id on every retry: four notices, however many tries.
        let ids: std::collections::HashSet<_> =
            s.deliveries.iter().map(|d| &d.webhook_id).collect();
        assert_eq!(ids.len(), 4);
        let mut notices: Vec<&Value> = s.accepted.values().collect();
        notices.sort_by_key(|n| n["sequence"].as_i64());
        let kinds: Vec<&str> = notices
            .iter()
            .map(|n| n["noti_type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "subscription.status_changed",
                "stage.sent",
                "payment.completed",
                "case.closed"
            ],
            "sequence numbers put them in the order they happened"
        );
        let seqs: Vec<i64> = notices
            .iter()
            .map(|n| n["sequence"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs, [1, 2, 3, 4]);
        let paid = notices[2];
        assert_eq!(paid["access"], "full");
        assert_eq!(paid["data"]["amount"], 10_000);
        assert_eq!(paid["data"]["currency"], "KRW");
        assert_eq!(paid["data"]["partner_order_id"], case.partner_order_id);
        assert!(paid["data"]["partner_subscription_id"].is_string());
        assert_eq!(notices[0]["access"], "limited");
        let paid_tid = paid["tid"].as_str().unwrap().to_owned();
        let paid_id = paid["id"].as_str().unwrap().to_owned();
        assert_eq!(s.granted.len(), 4);
        (paid_tid, paid_id)
    };

    // A redelivery (or a retry after a lost answer) repeats the tid: the
    // partner's dedupe grants once.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/cover/events/{paid_id}/redeliver")))
        .header("Secret-Token", &app.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    notifier.run_due(100).await.unwrap();
    let s = receiver.state.lock().unwrap();
    assert_eq!(s.repeats, 1);
    assert!(s.granted.contains(&paid_tid));
    let acknowledged_twice = s
        .deliveries
        .iter()
        .filter(|d| d.webhook_id == paid_id)
        .count();
    assert!(acknowledged_twice >= 2, "the same webhook-id came again");
}

#[tokio::test]
async fn only_the_stove_acknowledgement_counts_and_retry_after_is_honoured() {
    let (app, receiver, notifier) = setup().await;
    seed_case(&app, "sandbox_success").await;
    receiver.set_mode(Mode::WrongAck);
    notifier.run_due(10).await.unwrap();
    assert_eq!(statuses(&app).await, [("PENDING".to_owned(), 1)]);
    let e = &events(&app).await[0];
    let id = e["id"].as_str().unwrap();
    let detail: Value = app
        .get(&format!("/api/v1/cover/events/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let log = detail["deliveryLog"].as_array().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["statusCode"], 200);
    assert_eq!(log[0]["acknowledged"], false);
    assert_eq!(log[0]["responseExcerpt"], "thanks");

    receiver.set_mode(Mode::Throttle);
    app.clock.advance(Duration::seconds(6));
    notifier.run_due(10).await.unwrap();
    let e = &events(&app).await[0];
    let wait = e["nextAttemptAt"].as_i64().unwrap() - app.clock.now_ms();
    assert!(
        wait >= 3_600_000,
        "Retry-After: 3600 honoured, waits {wait} ms"
    );

    receiver.set_mode(Mode::Huge);
    app.clock.advance(Duration::seconds(3_601));
    notifier.run_due(10).await.unwrap();
    let detail: Value = app
        .get(&format!("/api/v1/cover/events/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let last = detail["deliveryLog"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        last["error"].as_str().unwrap().contains("longer than"),
        "{last}"
    );
    assert_eq!(detail["deliveryStatus"], "PENDING");
}

#[tokio::test]
async fn a_410_disables_the_endpoint_until_a_url_is_set_again() {
    let (app, receiver, notifier) = setup().await;
    seed_case(&app, "sandbox_success").await;
    receiver.set_mode(Mode::Gone);
    notifier.run_due(10).await.unwrap();
    assert_eq!(statuses(&app).await, [("DISABLED".to_owned(), 1)]);
    seed_case(&app, "sandbox_success").await;
    notifier.run_due(10).await.unwrap();
    assert_eq!(
        statuses(&app).await,
        [("DISABLED".to_owned(), 1), ("NO_ENDPOINT".to_owned(), 1)]
    );
    assert_eq!(
        receiver.state.lock().unwrap().deliveries.len(),
        1,
        "not called again"
    );
    // The partner fixes its endpoint and asks for everything since then.
    receiver.set_mode(Mode::Up);
    app.store
        .set_partner_notify_url(app.partner.id, Some(&receiver.url))
        .await
        .unwrap();
    // One call reaches back 7 days at most: a rule of time the OpenAPI
    // document cannot state, so 422.
    let res = app
        .post_json(
            "/api/v1/cover/events/redeliver",
            &serde_json::json!({"since": 0}),
        )
        .await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["details"][0]["field"], "since", "{body}");
    assert_eq!(
        statuses(&app).await,
        [("DISABLED".to_owned(), 1), ("NO_ENDPOINT".to_owned(), 1)],
        "nothing queued"
    );
    let res = app
        .post_json(
            "/api/v1/cover/events/redeliver",
            &serde_json::json!({"since": app.clock.now_ms() - 86_400_000}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["queued"], 2);
    assert!(body.get("nextSince").is_none(), "all of them: {body}");
    notifier.run_due(10).await.unwrap();
    assert_eq!(statuses(&app).await, [("DELIVERED".to_owned(), 2)]);
}

#[tokio::test]
async fn internal_addresses_are_refused_unless_the_operator_allows_them() {
    let (app, receiver, _) = setup().await;
    seed_case(&app, "sandbox_success").await;
    let clock: SharedClock = app.clock.clone();
    let strict = Notifier::new(app.store.clone(), clock, false);
    strict.run_due(10).await.unwrap();
    assert!(
        receiver.state.lock().unwrap().deliveries.is_empty(),
        "never connected"
    );
    let e = &events(&app).await[0];
    let id = e["id"].as_str().unwrap();
    let detail: Value = app
        .get(&format!("/api/v1/cover/events/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let err = detail["deliveryLog"][0]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(err.contains("https") || err.contains("internal"), "{err}");
}

#[tokio::test]
async fn the_verification_helper_refuses_a_tampered_body_and_an_old_timestamp() {
    let (app, receiver, notifier) = setup().await;
    seed_case(&app, "sandbox_success").await;
    notifier.run_due(10).await.unwrap();
    let d = receiver.state.lock().unwrap().deliveries[0].clone();
    let secret = receiver.state.lock().unwrap().secret.clone();
    let ts = d.timestamp.to_string();
    let now = chrono::Utc::now().timestamp();
    use protocol::webhook::{WebhookError, verify};
    assert_eq!(
        verify(&secret, &d.webhook_id, &ts, &d.signature, &d.body, now),
        Ok(())
    );
    let mut tampered = d.body.clone();
    let pos = tampered.iter().position(|b| *b == b'1').unwrap();
    tampered[pos] = b'2';
    assert_eq!(
        verify(&secret, &d.webhook_id, &ts, &d.signature, &tampered, now),
        Err(WebhookError::NoMatch)
    );
    assert_eq!(
        verify(
            &secret,
            &d.webhook_id,
            &ts,
            &d.signature,
            &d.body,
            now + 3600
        ),
        Err(WebhookError::Expired),
        "a capture replayed an hour later"
    );
}

#[tokio::test]
async fn during_a_secret_rotation_both_secrets_sign() {
    let (app, receiver, notifier) = setup().await;
    let old = receiver.state.lock().unwrap().secret.clone();
    let until = app.clock.now_ms() + 3_600_000;
    app.store
        .rotate_webhook_secret(
            app.partner.id,
            &rebound::notify::new_secret(),
            until,
            "test",
            app.clock.now_ms(),
        )
        .await
        .unwrap();
    let new = app
        .store
        .webhook_secret(app.partner.id, "unused")
        .await
        .unwrap();
    assert_ne!(old, new);
    seed_case(&app, "sandbox_success").await;
    notifier.run_due(10).await.unwrap();
    let d = receiver.state.lock().unwrap().deliveries[0].clone();
    assert!(d.verified, "the receiver still on the old secret verifies");
    assert_eq!(d.signature.split(' ').count(), 2);
    let ts = d.timestamp.to_string();
    let now = chrono::Utc::now().timestamp();
    assert!(
        protocol::webhook::verify(&new, &d.webhook_id, &ts, &d.signature, &d.body, now).is_ok()
    );
}

#[tokio::test]
async fn the_events_list_pages_and_refuses_bad_input() {
    let (app, _receiver, _) = setup().await;
    for _ in 0..3 {
        seed_case(&app, "sandbox_success").await;
    }
    let page: Value = app
        .get("/api/v1/cover/events?limit=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["content"].as_array().unwrap().len(), 2);
    let cursor = page["nextCursor"].as_str().unwrap().to_owned();
    let page: Value = app
        .get(&format!("/api/v1/cover/events?limit=2&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["content"].as_array().unwrap().len(), 1);
    assert!(page["nextCursor"].is_null());
    let res = app.get("/api/v1/cover/events?limit=0").await;
    assert_eq!(res.status(), 400);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["details"][0]["field"], "limit", "{err}");
    assert_eq!(app.get("/api/v1/cover/events/msg_nope").await.status(), 404);
    let res = app
        .client
        .get(app.url("/api/v1/cover/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

/// Partner A's 70 notices are older than partner B's 5, and A's endpoint
/// hangs: one batch (64) still carries all of B's, and ends at its budget.
#[tokio::test]
async fn a_partner_whose_endpoint_hangs_does_not_hold_back_another_partners_notices() {
    let (app, hanging, notifier) = setup().await;
    {
        let mut s = hanging.state.lock().unwrap();
        s.hold_next = usize::MAX;
        s.hold = std::time::Duration::from_secs(30);
    }
    for _ in 0..70 {
        seed_case(&app, "sandbox_success").await;
    }
    app.clock.advance(Duration::seconds(1));
    let (other, _) =
        common::create_partner(&app.store, "other", &[common::OTHER_PARTNER_ORIGIN]).await;
    let secret = app
        .store
        .webhook_secret(other.id, &rebound::notify::new_secret())
        .await
        .unwrap();
    let healthy = Receiver::start(&secret).await;
    app.store
        .set_partner_notify_url(other.id, Some(&healthy.url))
        .await
        .unwrap();
    for i in 0..5 {
        common::seed_case_for(&app, other.id, &format!("other-{i}")).await;
    }
    let notifier = notifier.with_send_budget(std::time::Duration::from_millis(1_500));
    let started = std::time::Instant::now();
    notifier.run_due(64).await.unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the batch ended at its budget, not at the hanging answers: {:?}",
        started.elapsed()
    );
    assert_eq!(
        healthy.state.lock().unwrap().accepted.len(),
        5,
        "every notice of the healthy partner went in the first batch"
    );
    let b = app.store.event_statuses(other.id).await.unwrap();
    assert_eq!(b, [("DELIVERED".to_owned(), 5)]);
    // A's cut-off notices are retried later, not lost.
    let a = statuses(&app).await;
    assert_eq!(a, [("PENDING".to_owned(), 70)], "{a:?}");
}
