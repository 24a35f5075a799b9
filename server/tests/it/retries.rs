//! Silent retries on the test clock, 30 days at a time, on SQLite and (with
//! REBOUND_TEST_DB=postgres) Postgres: for each decline class, the exact
//! moments Rebound charged the saved card by itself, and what it told the
//! customer and the partner.

use crate::common;

use common::scripted_gateway::Answer;
use common::{TestApp, case_on_scripted_card, kst, kst_short, seed_case, seed_case_at, spawn_app};
use rebound::domain::case::{ChargeSource, ChargeStatus};
use rebound::domain::decline::DeclineClass;
use rebound::domain::retry::Stop;
use rebound::gateway::sandbox::{
    KEY_CARD_COMPANY_ERROR, KEY_DO_NOT_HONOR, KEY_EXPIRED_CARD, KEY_INSUFFICIENT_FUNDS,
    KEY_MAINTENANCE, KEY_SETUP_ERROR,
};
use rebound::store::CaseEnd;

const DAY: i64 = 86_400_000;

/// When each charge of the case was made, in Korean time.
async fn charge_times(app: &TestApp, case_id: i64) -> Vec<String> {
    app.store
        .charges(case_id)
        .await
        .unwrap()
        .iter()
        .map(|c| kst_short(c.created_at_ms))
        .collect()
}

/// A case on `key`, failed at the test clock's start, after 30 days of
/// the engine (messages, silent charges, the resolver).
async fn thirty_days_on(key: &str) -> (TestApp, common::SeededCase) {
    let app = spawn_app().await;
    let engine = app.engine().await;
    let case = seed_case(&app, key).await;
    app.run_engine_until(&engine, app.clock.now_ms() + 30 * DAY)
        .await;
    (app, case)
}

/// A case on a scripted card whose first silent retry (11-23 10:00) got
/// no answer: the case waits, PAYING, for the resolver.
async fn first_retry_in_the_dark(
    answers: &[Answer],
) -> (TestApp, rebound::engine::Engine, common::SeededCase) {
    let (app, case) = case_on_scripted_card("card", answers).await;
    let engine = app.engine().await;
    app.run_engine_until(&engine, kst(2026, 11, 23, 10, 0))
        .await;
    assert_eq!(status(&app, case.case_id).await.0, "PAYING");
    (app, engine, case)
}

async fn status(app: &TestApp, case_id: i64) -> (String, Option<String>) {
    app.store
        .case_and_subscription_status(case_id)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_card_over_its_limit_is_retried_on_the_ladder_and_on_payday() {
    let app = spawn_app().await;
    let engine = app.engine().await;
    // Failed on Friday 2026-12-04 at 13:05 KST.
    let failed = kst(2026, 12, 4, 13, 5);
    app.set_time(failed);
    let case = seed_case_at(&app, KEY_INSUFFICIENT_FUNDS, failed).await;
    app.run_engine_until(&engine, failed + 30 * DAY).await;
    // D+1, D+3, then the 10th (a payday, before D+10), D+10, D+14: all at
    // 10:00. The last comes after the scenario's messages ended (D+12).
    assert_eq!(
        charge_times(&app, case.case_id).await,
        [
            "12-05 10:00",
            "12-07 10:00",
            "12-10 10:00",
            "12-14 10:00",
            "12-18 10:00"
        ]
    );
    let charges = app.store.charges(case.case_id).await.unwrap();
    assert!(charges.iter().all(|c| c.source == ChargeSource::Retry
        && c.decline_class == Some(DeclineClass::Soft)
        && c.decline_code.as_deref() == Some("REJECT_CARD_PAYMENT")));
    assert_eq!(
        app.store.retry_plan(case.case_id).await.unwrap(),
        (None, Some(Stop::LadderDone))
    );
    assert_eq!(app.messages(case.case_id).await.len(), 4);
    assert_eq!(
        status(&app, case.case_id).await,
        ("ENDED".to_owned(), Some("PAUSE".to_owned()))
    );
}

#[tokio::test]
async fn an_expired_card_stops_retries_and_the_messages_ask_for_a_new_card() {
    let (app, case) = thirty_days_on(KEY_EXPIRED_CARD).await;
    assert_eq!(charge_times(&app, case.case_id).await, ["11-23 10:00"]);
    assert_eq!(
        app.store.retry_plan(case.case_id).await.unwrap(),
        (None, Some(Stop::HardDecline))
    );
    let sent = app.messages(case.case_id).await;
    assert_eq!(sent.len(), 4);
    assert!(
        sent[0].1.contains("지금 결제하거나"),
        "stage 1 went out before the decline: {}",
        sent[0].1
    );
    for (stage, body) in &sent[1..] {
        assert!(
            body.contains("새 카드를 등록해 주세요") && !body.contains("지금 결제하거나"),
            "stage {stage}: {body}"
        );
    }
}

/// The PG refusing the partner's credentials on two different customers'
/// charges is proof: the partner's charges stop, the operator sees why and
/// the partner is told once. (One refusal alone is not: see
/// `one_refusal_of_the_credentials_does_not_stop_the_partner`.)
#[tokio::test]
async fn credential_refusals_on_two_cases_stop_the_partners_retries_and_tell_the_partner() {
    let app = spawn_app().await;
    let engine = app.engine().await;
    let broken = seed_case(&app, KEY_SETUP_ERROR).await;
    let also_broken = seed_case(&app, &format!("{KEY_SETUP_ERROR}.2")).await;
    app.run_engine_until(&engine, kst(2026, 11, 23, 12, 0))
        .await;
    // Another customer of the partner, failed a day later (retry due 11-24).
    let next_day = kst(2026, 11, 23, 13, 5);
    app.set_time(next_day);
    let other = seed_case_at(&app, "sandbox_success", next_day).await;
    app.run_engine_until(&engine, next_day + 5 * DAY).await;
    assert_eq!(charge_times(&app, broken.case_id).await, ["11-23 10:00"]);
    assert_eq!(
        charge_times(&app, also_broken.case_id).await,
        ["11-23 10:37"],
        "each case at its own minute of the 10:00 hour"
    );
    assert!(
        charge_times(&app, other.case_id).await.is_empty(),
        "no silent charge for the partner while its credentials are refused"
    );
    assert_eq!(
        app.store.gateway_problem(app.partner.id).await.unwrap(),
        Some("UNAUTHORIZED_KEY".to_owned())
    );
    let problems: Vec<_> = app.notices_of("gateway.problem").await;
    assert_eq!(problems.len(), 1, "one notice for one problem");
    assert_eq!(problems[0]["data"]["code"], "UNAUTHORIZED_KEY");

    // The operator fixes the keys and resumes: the waiting case is charged
    // at once.
    let cleared = app
        .store
        .clear_gateway_problem(app.partner.id, app.clock.now_ms())
        .await
        .unwrap();
    assert_eq!(cleared.as_deref(), Some("UNAUTHORIZED_KEY"));
    engine.run_due(100).await.unwrap();
    assert_eq!(charge_times(&app, other.case_id).await, ["11-28 13:05"]);
    assert_eq!(status(&app, other.case_id).await.0, "RECOVERED");
}

/// A single refusal of the credentials may be the PG's passing fault: the
/// partner's other customers are still charged, and this customer's
/// retries go on at the next step.
#[tokio::test]
async fn one_refusal_of_the_credentials_does_not_stop_the_partner() {
    let app = TestApp::builder().scripted_gateway().spawn().await;
    app.scripted().script(
        "flaky",
        &[Answer::Decline("UNAUTHORIZED_KEY"), Answer::Approve],
    );
    let engine = app.engine().await;
    let flaky = seed_case(&app, "flaky").await;
    let next_day = kst(2026, 11, 23, 13, 5);
    app.run_engine_until(&engine, next_day).await;
    let other = seed_case_at(&app, "good", next_day).await;
    app.run_engine_until(&engine, next_day + 5 * DAY).await;
    assert_eq!(
        app.store.gateway_problem(app.partner.id).await.unwrap(),
        None
    );
    assert!(app.notices_of("gateway.problem").await.is_empty());
    assert_eq!(status(&app, other.case_id).await.0, "RECOVERED");
    assert_eq!(
        charge_times(&app, flaky.case_id).await,
        ["11-23 10:00", "11-25 10:00"],
        "the next ladder step paid"
    );
    assert_eq!(status(&app, flaky.case_id).await.0, "RECOVERED");
}

/// A key the PG will not charge for us (issued under another customer
/// key, deleted) condemns that key only: this customer is asked for a new
/// card, and the partner's other customers are charged as ever.
#[tokio::test]
async fn a_key_the_pg_refuses_ends_that_keys_retries_and_no_one_elses() {
    let app = TestApp::builder().scripted_gateway().spawn().await;
    for (card, code) in [
        ("foreign", "NOT_MATCHES_CUSTOMER_KEY"),
        ("deleted", "INVALID_BILL_KEY_REQUEST"),
    ] {
        app.scripted().script(card, &[Answer::Decline(code)]);
    }
    let engine = app.engine().await;
    let foreign = seed_case(&app, "foreign").await;
    let deleted = seed_case(&app, "deleted").await;
    let next_day = kst(2026, 11, 23, 13, 5);
    app.run_engine_until(&engine, next_day).await;
    let other = seed_case_at(&app, "good", next_day).await;
    app.run_engine_until(&engine, next_day + 20 * DAY).await;
    for (case, at) in [(&foreign, "11-23 10:00"), (&deleted, "11-23 10:37")] {
        // Each case at its own minute of the 10:00 hour.
        assert_eq!(charge_times(&app, case.case_id).await, [at]);
        assert_eq!(
            app.store.retry_plan(case.case_id).await.unwrap(),
            (None, Some(Stop::HardDecline))
        );
        let sent = app.messages(case.case_id).await;
        assert!(
            sent[1..]
                .iter()
                .all(|(_, body)| body.contains("새 카드를 등록해 주세요")),
            "the messages ask for a new card: {sent:?}"
        );
    }
    assert_eq!(
        app.store.gateway_problem(app.partner.id).await.unwrap(),
        None
    );
    assert_eq!(status(&app, other.case_id).await.0, "RECOVERED");
}

#[tokio::test]
async fn an_unreadable_decline_gets_a_few_retries() {
    let (app, case) = thirty_days_on(KEY_DO_NOT_HONOR).await;
    assert_eq!(
        charge_times(&app, case.case_id).await,
        ["11-23 10:00", "11-25 10:00", "11-27 10:00"]
    );
    assert_eq!(
        app.store.retry_plan(case.case_id).await.unwrap(),
        (None, Some(Stop::UnknownLimit))
    );
}

#[tokio::test]
async fn passing_failures_are_retried_once_a_day_until_the_budget_is_spent() {
    let (app, case) = thirty_days_on(KEY_CARD_COMPANY_ERROR).await;
    // "Soon" would be an hour later, but one silent charge a day: each
    // next morning, eight times (the key's budget), then nothing.
    let times = charge_times(&app, case.case_id).await;
    assert_eq!(
        times,
        [
            "11-23 10:00",
            "11-24 10:00",
            "11-25 10:00",
            "11-26 10:00",
            "11-27 10:00",
            "11-28 10:00",
            "11-29 10:00",
            "11-30 10:00"
        ]
    );
    assert_eq!(
        app.store.retry_plan(case.case_id).await.unwrap(),
        (None, Some(Stop::Budget))
    );
}

#[tokio::test]
async fn nothing_is_charged_in_the_card_companies_night_maintenance() {
    let app = spawn_app().await;
    let engine = app.engine().await;
    let case = seed_case(&app, KEY_MAINTENANCE).await;
    app.run_engine_until(&engine, kst(2026, 11, 22, 23, 50))
        .await;
    // The customer presses pay at 23:50: the card companies are in their
    // night maintenance, so nothing is sent; the page says until when.
    let loc = app.pay(&case.token).await;
    assert!(loc.contains("notice=maintenance"), "{loc}");
    assert!(app.store.charges(case.case_id).await.unwrap().is_empty());
    // The silent retries keep out of the window too: D+1 at ten, then a
    // maintenance decline waits for the window's end.
    app.run_engine_until(&engine, kst(2026, 11, 25, 12, 0))
        .await;
    let charges = app.store.charges(case.case_id).await.unwrap();
    assert!(!charges.is_empty());
    for c in &charges {
        assert_eq!(
            rebound::domain::retry::maintenance_end(c.created_at_ms),
            None,
            "charged at {} inside the window",
            kst_short(c.created_at_ms)
        );
        assert_eq!(c.source, ChargeSource::Retry);
    }
    assert_eq!(
        charge_times(&app, case.case_id).await,
        ["11-23 10:00", "11-24 00:40", "11-25 00:40"]
    );
}

#[tokio::test]
async fn the_chosen_date_is_charged_at_ten_that_day_before_any_message() {
    let app = spawn_app().await;
    let engine = app.engine().await;
    let case = seed_case(&app, "sandbox_success").await;
    app.run_engine_until(&engine, app.clock.now_ms() + 3_600_000)
        .await;
    let res = app
        .browser
        .post(app.url("/embed/recovery/action/date"))
        .form(&[
            ("token", case.token.as_str()),
            ("origin", common::PARTNER_ORIGIN),
            ("selectedDate", "2026-11-28"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    app.run_engine_until(&engine, app.clock.now_ms() + 30 * DAY)
        .await;
    // No ladder step before the chosen date; the charge at 10:00 on it
    // recovered the case, and the stage that fell on that day never went.
    assert_eq!(charge_times(&app, case.case_id).await, ["11-28 10:00"]);
    let charges = app.store.charges(case.case_id).await.unwrap();
    assert_eq!(charges[0].source, ChargeSource::ScheduledDate);
    assert_eq!(status(&app, case.case_id).await.0, "RECOVERED");
    let stages: Vec<i64> = app
        .messages(case.case_id)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(stages, [1]);
    let order: serde_json::Value = app
        .get(&format!("/api/v1/cover/order/{}", case.order_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(order["recoveredBy"], "scheduled_date");
}

#[tokio::test]
async fn a_new_card_is_charged_at_once_with_a_fresh_budget() {
    let (app, case) =
        case_on_scripted_card("old_card", &[Answer::Decline("INVALID_STOPPED_CARD")]).await;
    let engine = app.engine().await;
    app.run_engine_until(&engine, kst(2026, 11, 24, 15, 0))
        .await;
    assert_eq!(
        app.store.retry_plan(case.case_id).await.unwrap(),
        (None, Some(Stop::HardDecline))
    );
    // The customer registers a new card through the card page: charged
    // at once.
    let card = app.card_window(&case.token).await;
    let res = app.browser.get(app.url(&card.url)).send().await.unwrap();
    assert_eq!(res.status(), 303);
    // The card window sends the customer back to our return URL.
    let back = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let back = app.url(&format!("{}?{}", back.path(), back.query().unwrap()));
    let res = app.browser.get(&back).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let status = app.card_status(&case.token, &card.window_id).await;
    let loc = status["next"].as_str().unwrap();
    assert!(loc.contains("/embed/recovery/paid"), "{loc}");
    let received: Vec<(String, String)> = app
        .scripted()
        .received()
        .into_iter()
        .map(|r| (kst_short(r.at_ms), r.billing_key))
        .collect();
    assert_eq!(
        received,
        [
            ("11-23 10:00".to_owned(), "old_card".to_owned()),
            ("11-24 15:00".to_owned(), "new_card1".to_owned())
        ]
    );
    let charges = app.store.charges(case.case_id).await.unwrap();
    assert_eq!(charges[1].source, ChargeSource::MethodChange);
    assert_eq!(charges[1].status, ChargeStatus::Succeeded);
    let paid: Vec<_> = app.notices_of("payment.completed").await;
    assert_eq!(paid.len(), 1);
    assert_eq!(paid[0]["data"]["recovered_by"], "method_change");
    assert_eq!(paid[0]["data"]["attempt"], 2);
}

#[tokio::test]
async fn a_partner_who_retries_on_its_side_turns_retries_off() {
    let app = spawn_app().await;
    let engine = app.engine().await;
    app.store
        .add_scenario_version(
            app.partner.id,
            &common::messages_only_scenario(),
            app.clock.now_ms(),
        )
        .await
        .unwrap();
    let case = seed_case(&app, "sandbox_success").await;
    app.run_engine_until(&engine, app.clock.now_ms() + 30 * DAY)
        .await;
    assert!(charge_times(&app, case.case_id).await.is_empty());
    assert_eq!(
        app.store.retry_plan(case.case_id).await.unwrap(),
        (None, Some(Stop::Disabled))
    );
    assert_eq!(app.messages(case.case_id).await.len(), 4, "messages go on");
}

#[tokio::test]
async fn a_retry_after_the_messages_ended_wins_the_customer_back() {
    let app = TestApp::builder().scripted_gateway().spawn().await;
    let engine = app.engine().await;
    let limit = Answer::Decline("REJECT_CARD_PAYMENT");
    app.scripted().script(
        "card",
        &[
            limit.clone(),
            limit.clone(),
            limit.clone(),
            limit,
            Answer::Approve,
        ],
    );
    let case = seed_case(&app, "card").await;
    app.run_engine_until(&engine, app.clock.now_ms() + 30 * DAY)
        .await;
    assert_eq!(
        charge_times(&app, case.case_id).await,
        [
            "11-23 10:00",
            "11-25 10:00",
            "11-27 10:00",
            "12-02 10:00",
            "12-06 10:00"
        ]
    );
    // The scenario ended on 12-04 (subscription paused); the D+14 retry
    // recovered it and reactivated the subscription.
    assert_eq!(
        status(&app, case.case_id).await,
        ("RECOVERED".to_owned(), Some("ACTIVE".to_owned()))
    );
    let notices = app.notices().await;
    let kinds: Vec<&str> = notices
        .iter()
        .map(|n| n["noti_type"].as_str().unwrap())
        .filter(|k| *k != "stage.sent")
        .collect();
    assert_eq!(
        kinds,
        [
            "subscription.status_changed",
            "subscription.status_changed",
            "case.closed",
            "payment.completed",
            "subscription.status_changed",
            "case.closed"
        ],
        "opened, paused and ended, then paid, reactivated and closed"
    );
    let paid = notices
        .iter()
        .find(|n| n["noti_type"] == "payment.completed")
        .unwrap();
    assert_eq!(paid["data"]["recovered_by"], "retry");
    assert_eq!(paid["data"]["attempt"], 5);
    assert_eq!(paid["data"]["stage"], 4);
    assert_eq!(paid["access"], "full");
    let order: serde_json::Value = app
        .get(&format!("/api/v1/cover/order/{}", case.order_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(order["status"], "PAID");
    assert_eq!(order["recoveredBy"], "retry");
    assert_eq!(order["recoveryAttempt"], 5);
    // The customer opens an old message link: it is paid, nothing to pay.
    let html = app.page("/embed/recovery", &case.token).await;
    assert!(html.contains("이미 결제가 완료되었어요"), "{html}");
    assert!(!html.contains("지금 결제하기"));
    assert_eq!(app.scripted().approved_count(), 1);
}

#[tokio::test]
async fn a_customer_can_still_pay_after_the_messages_ended() {
    let app = spawn_app().await;
    app.store
        .add_scenario_version(
            app.partner.id,
            &common::messages_only_scenario(),
            app.clock.now_ms(),
        )
        .await
        .unwrap();
    let engine = app.engine().await;
    let case = seed_case(&app, "sandbox_success").await;
    app.run_engine_until(&engine, app.clock.now_ms() + 20 * DAY)
        .await;
    assert_eq!(status(&app, case.case_id).await.0, "ENDED");
    let html = app.page("/embed/recovery", &case.token).await;
    assert!(
        html.contains("지금 결제하기") && !html.contains("이미 처리된 결제예요"),
        "an ended scenario is not a settled payment"
    );
    assert!(
        !html.contains("/embed/recovery/date") && !html.contains("/action/remind"),
        "no date change or reminder once the messages ended"
    );
    let loc = app.pay(&case.token).await;
    assert!(loc.contains("/embed/recovery/paid"), "{loc}");
    assert_eq!(
        status(&app, case.case_id).await,
        ("RECOVERED".to_owned(), Some("ACTIVE".to_owned()))
    );
}

#[tokio::test]
async fn a_lost_answer_is_resolved_with_the_same_key_and_charges_once() {
    let (app, engine, case) = first_retry_in_the_dark(&[Answer::ApprovedThenLost]).await;
    // A minute later the resolver asks the PG by order id, nobody on the
    // page: the payment is there, so it is recorded, not sent again.
    app.run_engine_until(&engine, kst(2026, 11, 23, 10, 5))
        .await;
    assert_eq!(status(&app, case.case_id).await.0, "RECOVERED");
    let received = app.scripted().received();
    assert_eq!(received.len(), 1, "looked up, not charged again");
    assert_eq!(app.scripted().approved_count(), 1);
    assert_eq!(
        app.store.charge_statuses(case.case_id).await.unwrap(),
        ["SUCCEEDED"]
    );
}

#[tokio::test]
async fn a_charge_the_pg_never_received_is_sent_again_with_its_own_key_and_charged_once() {
    let (app, engine, case) = first_retry_in_the_dark(&[Answer::Lost, Answer::Approve]).await;
    app.run_engine_until(&engine, kst(2026, 11, 23, 10, 5))
        .await;
    // The PG has no such payment: never received, or still in flight
    // somewhere. The same charge goes again under its own key, so either
    // way the customer pays once; no second charge is planned.
    let charges = app.store.charges(case.case_id).await.unwrap();
    assert_eq!(charges.len(), 1, "one charge, sent twice");
    assert_eq!(charges[0].status, ChargeStatus::Succeeded);
    assert_eq!(status(&app, case.case_id).await.0, "RECOVERED");
    let received = app.scripted().received();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[0].idempotency_key, received[1].idempotency_key,
        "the resend keeps the first key"
    );
    assert_eq!(kst_short(received[1].at_ms), "11-23 10:01");
    assert_eq!(app.scripted().approved_count(), 1);
}

/// Two instances: one has claimed the case's silent retry and its PG call
/// is still in flight when the other's resolver finds the charge a minute
/// old (a slow batch, a PG that records late). "No payment at the PG yet"
/// is no proof that none is coming: were the charge settled as never made,
/// the next morning's retry would charge the customer a second time.
#[tokio::test]
async fn a_charge_still_in_flight_when_another_instance_resolves_it_is_charged_once() {
    let (app, case) = case_on_scripted_card("slow_card", &[Answer::ApproveAfterMs(1_500)]).await;
    let (a, b) = (app.engine().await, app.engine().await);
    app.run_engine_until(&a, kst(2026, 11, 23, 9, 59)).await;
    app.set_time(kst(2026, 11, 23, 10, 0));
    let (first, second) = tokio::join!(a.run_due(10_000), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(status(&app, case.case_id).await.0, "PAYING");
        app.set_time(kst(2026, 11, 23, 10, 2));
        b.run_due(10_000).await
    });
    first.unwrap();
    second.unwrap();
    app.run_engine_until(&a, kst(2026, 11, 30, 12, 0)).await;
    assert_eq!(status(&app, case.case_id).await.0, "RECOVERED");
    assert_eq!(app.scripted().approved_count(), 1, "the customer paid once");
    let charges = app.store.charges(case.case_id).await.unwrap();
    assert_eq!(charges.len(), 1, "{charges:?}");
    assert_eq!(charges[0].status, ChargeStatus::Succeeded);
}

#[tokio::test]
async fn a_hanging_charge_does_not_keep_the_rest_of_its_batch_from_being_recorded() {
    let app = TestApp::builder().scripted_gateway().spawn().await;
    let engine = app
        .engine()
        .await
        .with_send_budget(std::time::Duration::from_millis(300));
    app.scripted().script("slow_card", &[Answer::Hang]);
    app.scripted()
        .script("dead_card", &[Answer::Decline("INVALID_STOPPED_CARD")]);
    let slow = seed_case(&app, "slow_card").await;
    let dead = seed_case(&app, "dead_card").await;
    let paid = seed_case(&app, "good_card").await;
    // Their D+1 retries fall in the 10:00 hour, each at its own minute; the
    // engine, held up until 10:40, charges them in one batch.
    app.run_engine_until(&engine, kst(2026, 11, 23, 9, 0)).await;
    app.set_time(kst(2026, 11, 23, 10, 40));
    engine.run_due(10_000).await.unwrap();
    // The three retries went out together; one never answered. The budget
    // cut it off, and the others' outcomes were recorded all the same.
    assert_eq!(status(&app, paid.case_id).await.0, "RECOVERED");
    assert_eq!(
        app.store.retry_plan(dead.case_id).await.unwrap(),
        (None, Some(Stop::HardDecline)),
        "the decline kept its class"
    );
    assert_eq!(status(&app, slow.case_id).await.0, "PAYING");
    assert_eq!(
        app.store.charge_statuses(slow.case_id).await.unwrap(),
        ["PENDING"],
        "left for the resolver"
    );
}

#[tokio::test]
async fn a_charge_in_the_dark_when_the_partner_cancels_is_flagged_for_refund() {
    let (app, engine, case) = first_retry_in_the_dark(&[Answer::ApprovedThenLost]).await;
    app.store
        .settle_order(
            app.partner.id,
            case.order_id,
            "CANCELED",
            CaseEnd::Canceled,
            app.clock.now_ms(),
        )
        .await
        .unwrap();
    app.run_engine_until(&engine, kst(2026, 11, 23, 10, 5))
        .await;
    assert_eq!(status(&app, case.case_id).await.0, "CANCELED");
    assert_eq!(
        app.store.charge_statuses(case.case_id).await.unwrap(),
        ["NEEDS_REFUND"]
    );
    let refund: Vec<_> = app.notices_of("payment.refund_needed").await;
    assert_eq!(refund.len(), 1);
    assert_eq!(refund[0]["data"]["amount"], 10_000);
    // And nothing more is charged, ever.
    app.run_engine_until(&engine, app.clock.now_ms() + 30 * DAY)
        .await;
    assert_eq!(app.scripted().received().len(), 1);
}

#[tokio::test]
async fn an_order_no_adapter_here_can_charge_is_never_retried() {
    // This gateway charges only TOSS orders; seeded orders name UNKNOWN.
    let app = TestApp::builder()
        .scripted_gateway_for("TOSS")
        .spawn()
        .await;
    let engine = app.engine().await;
    let case = seed_case(&app, "card").await;
    app.run_engine_until(&engine, app.clock.now_ms() + 30 * DAY)
        .await;
    assert!(app.scripted().received().is_empty());
    assert_eq!(
        app.store.retry_plan(case.case_id).await.unwrap(),
        (None, Some(Stop::NoAdapter))
    );
}

#[tokio::test]
async fn a_canceled_case_is_never_charged() {
    let app = spawn_app().await;
    let engine = app.engine().await;
    let case = seed_case(&app, "sandbox_success").await;
    app.store
        .settle_order(
            app.partner.id,
            case.order_id,
            "CANCELED",
            CaseEnd::Canceled,
            app.clock.now_ms(),
        )
        .await
        .unwrap();
    app.run_engine_until(&engine, app.clock.now_ms() + 30 * DAY)
        .await;
    assert!(charge_times(&app, case.case_id).await.is_empty());
}

#[tokio::test]
async fn a_message_due_on_a_retry_morning_waits_for_the_charge() {
    let app = spawn_app().await;
    let engine = app.engine().await;
    // Failed at 08:00 KST on 11-23: stage 2 falls due at 08:00 on D+3
    // (11-26), before that day's 10:00 retry.
    let failed = kst(2026, 11, 23, 8, 0);
    app.set_time(failed);
    let case = seed_case_at(&app, KEY_DO_NOT_HONOR, failed).await;
    app.run_engine_until(&engine, kst(2026, 11, 26, 12, 0))
        .await;
    assert_eq!(
        charge_times(&app, case.case_id).await,
        ["11-24 10:00", "11-26 10:00"]
    );
    let stage_two = app
        .store
        .outbox(100)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.case_id == case.case_id && m.stage == 2)
        .expect("stage 2 went out once the charge failed");
    assert_eq!(kst_short(stage_two.created_at), "11-26 10:10");
}

#[tokio::test]
async fn pay_now_is_capped_per_day() {
    let app = spawn_app().await;
    let case = seed_case(&app, KEY_INSUFFICIENT_FUNDS).await;
    for _ in 0..5 {
        assert!(app.pay(&case.token).await.contains("/failed"));
    }
    let loc = app.pay(&case.token).await;
    assert!(loc.contains("notice=attempt-limit"), "{loc}");
    assert_eq!(app.store.charges(case.case_id).await.unwrap().len(), 5);
    // The next Korean day, the customer may try again.
    app.set_time(kst(2026, 11, 23, 9, 0));
    assert!(app.pay(&case.token).await.contains("/failed"));
}

/// The PG recorded the charge as failed, but its answer was lost: the
/// resolver takes the failure and its code from the lookup (Toss's
/// `ABORTED` with `failure`), records the decline by its class, and does not
/// resend the charge.
#[tokio::test]
async fn a_failure_the_pg_recorded_is_read_from_the_lookup_not_resent() {
    let (app, engine, case) =
        first_retry_in_the_dark(&[Answer::DeclinedThenLost("INVALID_CARD_EXPIRATION")]).await;
    app.run_engine_until(&engine, kst(2026, 11, 23, 10, 5))
        .await;
    let charges = app.store.charges(case.case_id).await.unwrap();
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].status, ChargeStatus::Failed);
    assert_eq!(
        charges[0].decline_code.as_deref(),
        Some("INVALID_CARD_EXPIRATION")
    );
    assert_eq!(
        app.store.retry_plan(case.case_id).await.unwrap(),
        (None, Some(Stop::HardDecline))
    );
    assert_eq!(app.scripted().received().len(), 1, "looked up, not resent");
}

/// A charge in the dark when the partner closes the case is never sent
/// again, but a PG can record a payment late: it is looked up for a day
/// before it counts as not made, and a payment found then is flagged for
/// refund.
#[tokio::test]
async fn a_closed_cases_charge_is_looked_up_for_a_day_before_it_counts_as_not_made() {
    let (app, engine, case) = first_retry_in_the_dark(&[Answer::Lost]).await;
    app.store
        .settle_order(
            app.partner.id,
            case.order_id,
            "CANCELED",
            CaseEnd::Canceled,
            app.clock.now_ms(),
        )
        .await
        .unwrap();
    app.run_engine_until(&engine, kst(2026, 11, 23, 22, 0))
        .await;
    assert_eq!(
        app.store.charge_statuses(case.case_id).await.unwrap(),
        ["PENDING"],
        "twelve hours on, still looked up"
    );
    app.run_engine_until(&engine, kst(2026, 11, 24, 11, 0))
        .await;
    let charges = app.store.charges(case.case_id).await.unwrap();
    assert_eq!(charges[0].status, ChargeStatus::Failed);
    assert_eq!(charges[0].decline_code.as_deref(), Some("NOT_CHARGED"));
    assert_eq!(app.scripted().received().len(), 1, "never sent again");
}
