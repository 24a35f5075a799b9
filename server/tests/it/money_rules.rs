//! Money rules: a paid debt is never charged again, whoever asks and
//! however often (issue 22).

use crate::common;

use common::console::{account, act, case_page, signed_in};
use common::scripted_gateway::Answer;
use common::{TestApp, kst};
use rebound::domain::account::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A partner's failed renewal through the API (order `o1` on card `card`,
/// subscription `s1`), on the scripted gateway: `(subscription, order, case)`.
async fn failed_renewal(app: &TestApp, card: &str) -> (i64, i64, i64) {
    let (customer, _, price) = common::create_catalog(app).await;
    let sub = app
        .created(
            "/api/v1/cover/subscription",
            json!({"recurringInterval": "MONTH", "customerId": customer, "currentPeriodStart": "2026-11-01T00:00:00Z",
                   "currentPeriodEnd": "2026-12-01T00:00:00Z", "partnerSubscriptionId": "s1", "recurringIntervalCount": 1}),
        )
        .await;
    let sub = sub["id"].as_i64().unwrap();
    let order = app
        .created(
            "/api/v1/cover/order",
            order_body(customer, price, sub, card, false, false),
        )
        .await;
    let order = order["id"].as_i64().unwrap();
    let (status, started) = app
        .call(
            Method::POST,
            "/api/v1/cover/recovery",
            Some(&json!({"subscriptionId": sub, "orderId": order, "errorCode": "REJECT_CARD_PAYMENT"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    (sub, order, started["coverId"].as_i64().unwrap())
}

fn order_body(
    customer: i64,
    price: i64,
    sub: i64,
    card: &str,
    failed: bool,
    replace: bool,
) -> Value {
    json!({"items": [{"priceId": price, "quantity": 1}], "paymentGateway": "TOSS", "idKey": card,
           "customerId": customer, "amount": 9900, "amountReturned": 0, "partnerOrderId": "o1",
           "subscriptionId": sub, "paymentFailed": failed, "replaceIfExists": replace})
}

fn assert_already_paid(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::CONFLICT, "{what}: {body}");
    assert_eq!(body["errorCode"], "ORDER_ALREADY_PAID", "{what}: {body}");
    assert!(body["traceId"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("new order")),
        "{what}: the answer says what to do instead: {body}"
    );
}

/// The story: a silent retry recovers the order; the partner's
/// integration then reports the same failure again (a client retrying after
/// a timeout, a duplicate PG webhook), as a new recovery and as a replaced
/// failed order, and settles it twice. Each is refused and writes nothing,
/// and no later retry charges the card again.
#[tokio::test]
async fn a_recovered_order_is_final_however_often_the_partner_reports_it_failed() {
    let app = TestApp::builder().scripted_gateway().spawn().await;
    app.scripted().script("card-pays", &[Answer::Approve]);
    let engine = app.engine().await;
    let (sub, order, case_id) = failed_renewal(&app, "card-pays").await;
    // D+1 at 10:00: the silent retry pays.
    app.run_engine_until(&engine, kst(2026, 11, 23, 11, 0))
        .await;
    assert_eq!(app.store.successful_charges(case_id).await.unwrap(), 1);
    let (_, paid) = app
        .call(Method::GET, &format!("/api/v1/cover/order/{order}"), None)
        .await;
    assert_eq!(paid["status"], "PAID");
    let charges_before = app.scripted().received().len();
    let notices_before = app.notices().await.len();

    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/cover/recovery",
            Some(&json!({"subscriptionId": sub, "orderId": order, "errorCode": "REJECT_CARD_PAYMENT"})),
        )
        .await;
    assert_already_paid(status, &body, "POST /recovery");
    let customer = paid["customer"]["id"].as_i64().unwrap();
    let price = paid["items"][0]["price"]["id"].as_i64().unwrap();
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/cover/order",
            Some(&order_body(customer, price, sub, "card-pays", true, true)),
        )
        .await;
    assert_already_paid(status, &body, "POST /order replaceIfExists paymentFailed");
    for settle in ["success", "cancel"] {
        let (status, body) = app
            .call(
                Method::PATCH,
                &format!("/api/v1/cover/order/{settle}/{order}"),
                None,
            )
            .await;
        assert_already_paid(status, &body, settle);
    }
    let (_, after) = app
        .call(Method::GET, &format!("/api/v1/cover/order/{order}"), None)
        .await;
    assert_eq!(after, paid, "nothing about the order changed");
    assert_eq!(
        app.notices().await.len(),
        notices_before,
        "no notice for what did not happen"
    );

    // Three weeks on: the ladder's later steps charge nothing.
    app.run_engine_until(&engine, kst(2026, 12, 14, 12, 0))
        .await;
    assert_eq!(app.scripted().received().len(), charges_before);
    assert_eq!(app.store.successful_charges(case_id).await.unwrap(), 1);
    assert_eq!(app.notices_of("payment.completed").await.len(), 1);
}

/// Defence in depth: should a case of a paid order ever be payable again (a
/// bug elsewhere, a hand edit), the charge claim itself refuses it, so no
/// path reaches the PG twice for one order.
#[tokio::test]
async fn the_charge_claim_refuses_an_order_that_a_charge_already_paid() {
    let (app, case) = common::case_on_scripted_card("card-pays", &[Answer::Approve]).await;
    // The customer pays on the page.
    app.pay(&case.token).await;
    assert_eq!(app.store.successful_charges(case.case_id).await.unwrap(), 1);
    // The order row is made to look unpaid and the case open again.
    app.sql(&format!(
        "UPDATE orders SET status = 'PAYMENT_FAILURE' WHERE id = {}",
        case.order_id
    ))
    .await;
    app.sql(&format!(
        "UPDATE recovery_cases SET status = 'OPEN', closed_at = NULL WHERE id = {}",
        case.case_id
    ))
    .await;
    app.pay(&case.token).await;
    let engine = app.engine().await;
    app.run_engine_until(&engine, app.clock.now_ms() + 20 * 24 * 3_600_000)
        .await;
    assert_eq!(
        app.scripted().received().len(),
        1,
        "the PG saw one charge for the order"
    );
    assert_eq!(app.store.successful_charges(case.case_id).await.unwrap(), 1);
}

/// The console offers nothing on a recovered case, and a hand-made POST
/// of "cancel" or "paid elsewhere" is refused: the order stays paid and its
/// charge stands.
#[tokio::test]
async fn the_console_cannot_cancel_or_settle_a_recovered_case() {
    let app = TestApp::builder().scripted_gateway().spawn().await;
    app.scripted().script("card-pays", &[Answer::Approve]);
    let engine = app.engine().await;
    let (_, order, case_id) = failed_renewal(&app, "card-pays").await;
    app.run_engine_until(&engine, kst(2026, 11, 23, 11, 0))
        .await;
    account(&app, "op@rebound.test", Role::Operator).await;
    let cookie = signed_in(&app, "op@rebound.test").await;
    let page = case_page(&app, &cookie, case_id).await;
    for action in ["cancel", "mark_paid", "retry_now", "resend_stage"] {
        assert!(
            !page.contains(&format!("value=\"{action}\"")),
            "a recovered case offers no {action}"
        );
    }
    for action in ["cancel", "mark_paid", "retry_now"] {
        let res = act(&app, &cookie, case_id, action).await;
        let to = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(to.ends_with("result=not_allowed"), "{action}: {to}");
    }
    let (_, o) = app
        .call(Method::GET, &format!("/api/v1/cover/order/{order}"), None)
        .await;
    assert_eq!(o["status"], "PAID");
    assert_eq!(
        app.store.charge_statuses(case_id).await.unwrap(),
        ["SUCCEEDED"]
    );
    assert_eq!(app.scripted().received().len(), 1);
    let shown = case_page(&app, &cookie, case_id).await;
    assert!(
        !shown.contains("콘솔 작업 · cancel"),
        "nothing was recorded"
    );
}

/// "Retry now" needs a card: a case whose order has no billing key does
/// not offer it, and a hand-made POST is refused before anything charges.
#[tokio::test]
async fn retry_now_is_not_offered_without_a_card() {
    let app = TestApp::builder().scripted_gateway().spawn().await;
    let (customer, _, price) = common::create_catalog(&app).await;
    let order = app
        .created(
            "/api/v1/cover/order",
            json!({"items": [{"priceId": price, "quantity": 1}], "paymentGateway": "TOSS",
                   "customerId": customer, "amount": 9900, "amountReturned": 0, "partnerOrderId": "no-card",
                   "paymentFailed": true}),
        )
        .await;
    let case_id = app.case_of_order(order["id"].as_i64().unwrap()).await;
    account(&app, "op@rebound.test", Role::Operator).await;
    let cookie = signed_in(&app, "op@rebound.test").await;
    let page = case_page(&app, &cookie, case_id).await;
    assert!(!page.contains("value=\"retry_now\""));
    assert!(page.contains("value=\"cancel\""), "the rest is offered");
    let res = act(&app, &cookie, case_id, "retry_now").await;
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.ends_with("result=not_allowed"), "{to}");
    assert!(app.store.charges(case_id).await.unwrap().is_empty());
}

/// A partner turning silent retries off means its customers' cards are no
/// longer charged unasked: the retries of cases already open, and of ended
/// ones, stop at once, not only those of cases opened later. Turned on
/// again, the cases that switch stopped are planned again.
#[tokio::test]
async fn turning_retries_off_stops_the_cases_already_open_at_once() {
    let app = TestApp::builder().scripted_gateway().spawn().await;
    app.scripted()
        .script("limit", &[Answer::Decline("REJECT_CARD_PAYMENT")]);
    let engine = app.engine().await;
    let case = common::seed_case(&app, "limit").await;
    app.run_engine_until(&engine, kst(2026, 11, 23, 11, 0))
        .await;
    assert_eq!(app.scripted().received().len(), 1, "the D+1 retry went");
    let (next, _) = app.store.retry_plan(case.case_id).await.unwrap();
    assert!(next.is_some(), "another retry is planned");

    app.store
        .add_scenario_version(
            app.partner.id,
            &common::messages_only_scenario(),
            app.clock.now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(
        app.store.retry_plan(case.case_id).await.unwrap(),
        (None, Some(rebound::domain::retry::Stop::Disabled))
    );
    app.run_engine_until(&engine, kst(2026, 12, 1, 12, 0)).await;
    assert_eq!(
        app.scripted().received().len(),
        1,
        "nothing charged unasked since"
    );

    // On again: the case is planned again, inside its ladder.
    app.store
        .add_scenario_version(
            app.partner.id,
            &rebound::domain::scenario::Scenario::default(),
            app.clock.now_ms(),
        )
        .await
        .unwrap();
    let (next, stop) = app.store.retry_plan(case.case_id).await.unwrap();
    assert!(next.is_some() && stop.is_none(), "{next:?} {stop:?}");
}

/// Cases opened before silent retries existed get none when this version
/// first starts: nobody agreed to those charges. An operator may opt a
/// partner in; then only cases still inside the retry ladder are planned.
#[tokio::test]
async fn older_cases_get_retries_only_when_the_operator_opts_their_partner_in() {
    let app = TestApp::builder().scripted_gateway().spawn().await;
    let engine = app.engine().await;
    let day = 24 * 3_600_000;
    let now = app.clock.now_ms();
    let young = common::seed_case_at(&app, "young", now - 2 * day).await;
    let old = common::seed_case_at(&app, "old", now - 40 * day).await;
    // As an older version left them: no plan, no reason.
    for case in [&young, &old] {
        app.sql(&format!(
            "UPDATE recovery_cases SET next_retry_at = NULL, next_retry_source = NULL, retry_stop = NULL \
             WHERE id = {}",
            case.case_id
        ))
        .await;
    }
    assert_eq!(app.store.mark_older_cases().await.unwrap(), 2);
    assert_eq!(
        app.store.mark_older_cases().await.unwrap(),
        0,
        "once per database"
    );
    app.run_engine_until(&engine, now + 3 * day).await;
    assert!(
        app.scripted().received().is_empty(),
        "the start-up charges nothing"
    );

    let (planned, too_old) = app
        .store
        .opt_in_older_cases(app.partner.id, app.clock.now_ms())
        .await
        .unwrap();
    assert_eq!((planned, too_old), (1, 1));
    assert_eq!(
        app.store.retry_plan(old.case_id).await.unwrap(),
        (None, Some(rebound::domain::retry::Stop::LadderDone))
    );
    app.run_engine_until(&engine, app.clock.now_ms() + 20 * day)
        .await;
    let charged: Vec<String> = app
        .scripted()
        .received()
        .iter()
        .map(|r| r.billing_key.clone())
        .collect();
    assert_eq!(charged, ["young"], "only the case inside its ladder");
}

/// When each of the case's stage messages went out (resends included),
/// oldest first, as `MM-DD HH:MM` in Korea.
async fn sent_times(app: &TestApp, case_id: i64) -> Vec<(i64, String)> {
    let mut sent: Vec<(i64, String)> = app
        .store
        .case_timeline(case_id)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(at, item)| match item {
            rebound::store::TimelineItem::Stage {
                stage,
                status: rebound::domain::case::StageStatus::Sent,
                ..
            } => Some((at, format!("{stage} {}", common::kst_short(at)))),
            _ => None,
        })
        .collect();
    sent.sort();
    sent
}

/// The same gates for every charge: what people ask for (the page, the
/// console's "retry now") counts together against the day's cap, nothing
/// is charged in the card companies' night window whoever asks, and a
/// card declined for good is not charged again from the page either. The
/// console says why "retry now" is not possible, and until when.
#[tokio::test]
async fn the_page_and_the_console_pass_the_same_gates_as_a_silent_retry() {
    let app = TestApp::builder().scripted_gateway().spawn().await;
    app.scripted()
        .script("limit", &[Answer::Decline("REJECT_CARD_PAYMENT")]);
    let case = common::seed_case(&app, "limit").await;
    account(&app, "op@rebound.test", Role::Operator).await;
    let cookie = signed_in(&app, "op@rebound.test").await;
    // 13:05: three presses on the page and two from the console.
    for _ in 0..3 {
        assert!(
            app.pay(&case.token)
                .await
                .contains("/embed/recovery/failed")
        );
    }
    for _ in 0..2 {
        let res = act(&app, &cookie, case.case_id, "retry_now").await;
        let to = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(to.ends_with("result=declined"), "{to}");
    }
    assert_eq!(app.scripted().received().len(), 5);
    // The day's cap is spent, for both.
    let loc = app.pay(&case.token).await;
    assert!(loc.contains("notice=attempt-limit"), "{loc}");
    let page = case_page(&app, &cookie, case.case_id).await;
    assert!(!page.contains("value=\"retry_now\""));
    assert!(
        page.contains("data-retry-blocked") && page.contains("2026-11-23 00:40"),
        "the console says why, and from when"
    );
    let res = act(&app, &cookie, case.case_id, "retry_now").await;
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("result=not_allowed")
    );
    assert_eq!(app.scripted().received().len(), 5, "nothing more was sent");

    // The next night, 23:45: the card companies' maintenance.
    app.set_time(kst(2026, 11, 23, 23, 45));
    let cookie = signed_in(&app, "op@rebound.test").await;
    let loc = app.pay(&case.token).await;
    assert!(loc.contains("notice=maintenance"), "{loc}");
    let page = case_page(&app, &cookie, case.case_id).await;
    assert!(page.contains("data-retry-blocked") && page.contains("2026-11-24 00:40"));
    assert_eq!(app.scripted().received().len(), 5);
}

/// A card declined for good is not charged again, whoever asks: the page
/// asks for a new card instead.
#[tokio::test]
async fn a_card_declined_for_good_is_not_charged_again_from_the_page() {
    let (app, case) =
        common::case_on_scripted_card("stopped", &[Answer::Decline("INVALID_STOPPED_CARD")]).await;
    assert!(
        app.pay(&case.token)
            .await
            .contains("/embed/recovery/failed")
    );
    let loc = app.pay(&case.token).await;
    assert!(loc.contains("notice=new-card"), "{loc}");
    let html = app
        .client
        .get(app.url(&loc))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("새 카드를 등록해 주세요"),
        "the page says what to do"
    );
    assert_eq!(app.scripted().received().len(), 1);
}

/// A person clicks a few times a minute; a script looping over the
/// console's actions is held back.
#[tokio::test]
async fn console_actions_are_rate_limited_per_user() {
    let app = common::spawn_app().await;
    let case = common::seed_case(&app, "sandbox_success").await;
    account(&app, "op@rebound.test", Role::Operator).await;
    let cookie = signed_in(&app, "op@rebound.test").await;
    let mut statuses = Vec::new();
    for i in 0..12 {
        let action = if i % 2 == 0 {
            "pause_messages"
        } else {
            "resume_messages"
        };
        statuses.push(
            act(&app, &cookie, case.case_id, action)
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(&statuses[..10], [303; 10]);
    assert!(statuses[10..].contains(&429), "{statuses:?}");
}

/// No message between 21:00 and 08:00 KST: a stage due at night goes at
/// 08:00, in the order the stages fell due, and so does a resend asked for
/// at night.
#[tokio::test]
async fn messages_keep_civil_hours() {
    let app = common::spawn_app().await;
    app.store
        .add_scenario_version(
            app.partner.id,
            &common::messages_only_scenario(),
            app.clock.now_ms(),
        )
        .await
        .unwrap();
    let engine = app.message_engine().await;
    app.set_time(kst(2026, 11, 22, 22, 0));
    let late = common::seed_case_at(&app, "sandbox_success", app.clock.now_ms()).await;
    app.set_time(kst(2026, 11, 23, 2, 0));
    let later = common::seed_case_at(&app, "sandbox_success", app.clock.now_ms()).await;
    app.run_engine_until(&engine, kst(2026, 11, 23, 7, 59))
        .await;
    assert!(app.messages(late.case_id).await.is_empty(), "not at night");
    assert!(app.messages(later.case_id).await.is_empty());
    app.run_engine_until(&engine, kst(2026, 11, 23, 8, 5)).await;
    let (l, r) = (
        sent_times(&app, late.case_id).await,
        sent_times(&app, later.case_id).await,
    );
    assert_eq!(l[0].1, "1 11-23 08:00");
    assert_eq!(r[0].1, "1 11-23 08:00");
    assert!(l[0].0 < r[0].0, "in the order they fell due");

    // A resend asked for at night (a day after the stage) goes at 08:00.
    account(&app, "op@rebound.test", Role::Operator).await;
    app.set_time(kst(2026, 11, 24, 22, 30));
    let cookie = signed_in(&app, "op@rebound.test").await;
    let res = act(&app, &cookie, late.case_id, "resend_stage").await;
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("result=queued")
    );
    app.run_engine_until(&engine, kst(2026, 11, 25, 7, 59))
        .await;
    assert_eq!(app.messages(late.case_id).await.len(), 1, "held");
    app.run_engine_until(&engine, kst(2026, 11, 25, 8, 5)).await;
    let l = sent_times(&app, late.case_id).await;
    assert_eq!(l.last().unwrap().1, "1 11-25 08:00");
}

/// A slow or silent PG holds back only charges: the engine's messages run
/// as a queue of their own, so a customer's message goes while a charge
/// hangs.
#[tokio::test]
async fn a_hanging_charge_never_holds_a_message_back() {
    use rebound::worker::Queue;
    let app = TestApp::builder().scripted_gateway().spawn().await;
    app.scripted().script("hangs", &[Answer::Hang]);
    let hanging = common::seed_case(&app, "hangs").await;
    let engine = app
        .engine()
        .await
        .with_send_budget(std::time::Duration::from_secs(20));
    // 11-23 10:00: the first case's retry is due; a second customer's
    // payment fails, its first message due at once.
    app.run_engine_until(&engine, kst(2026, 11, 23, 9, 59))
        .await;
    app.set_time(kst(2026, 11, 23, 10, 0));
    let fresh = common::seed_case_at(&app, "sandbox_success", app.clock.now_ms()).await;
    let (messages, charges) = engine.queues();
    let charges = charges.expect("the engine charges");
    let charging = tokio::spawn(async move { charges.run_due(100).await });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let sent = tokio::time::timeout(std::time::Duration::from_secs(3), messages.run_due(100))
        .await
        .expect("messages did not wait for the PG");
    sent.unwrap();
    assert_eq!(app.messages(fresh.case_id).await.len(), 1);
    assert!(!charging.is_finished(), "the charge still hangs");
    assert_eq!(
        app.store.charge_statuses(hanging.case_id).await.unwrap(),
        ["PENDING"]
    );
    charging.abort();
}

/// An outage that ends in the night does not let an overdue retry go in
/// the card companies' window: it is planned again by the same rules. And
/// a charge from before the outage, resent the morning the outage ends,
/// is that day's charge of the card: the ladder's step that day waits for
/// the next.
#[tokio::test]
async fn an_overdue_retry_is_planned_again_before_it_is_sent() {
    let (app, case) =
        common::case_on_scripted_card("limit", &[Answer::Decline("REJECT_CARD_PAYMENT")]).await;
    let engine = app.engine().await;
    // The server is down from 09:00 on D+1 until 23:45.
    app.run_engine_until(&engine, kst(2026, 11, 23, 9, 0)).await;
    app.set_time(kst(2026, 11, 23, 23, 45));
    engine.run_due(100).await.unwrap();
    assert!(
        app.scripted().received().is_empty(),
        "nothing in the window"
    );
    let (next, _) = app.store.retry_plan(case.case_id).await.unwrap();
    assert_eq!(next.map(common::kst_short).as_deref(), Some("11-24 00:40"));
    app.run_engine_until(&engine, kst(2026, 11, 24, 1, 0)).await;
    let at: Vec<String> = app
        .scripted()
        .received()
        .iter()
        .map(|r| common::kst_short(r.at_ms))
        .collect();
    assert_eq!(at, ["11-24 00:40"]);
}

#[tokio::test]
async fn a_charge_resent_after_an_outage_is_that_days_charge_of_the_card() {
    let (app, case) = common::case_on_scripted_card(
        "card",
        &[
            Answer::Lost,
            Answer::Decline("FAILED_CARD_COMPANY_RESPONSE"),
            Answer::Approve,
        ],
    )
    .await;
    let engine = app.engine().await;
    // D+1 10:00: the charge's answer is lost, and the server goes down.
    app.run_engine_until(&engine, kst(2026, 11, 23, 10, 0))
        .await;
    assert_eq!(app.scripted().received().len(), 1);
    // Back on D+3 at 10:00, the ladder's next step: the resolver resends
    // the lost charge (same key), declined for a passing failure.
    app.set_time(kst(2026, 11, 25, 10, 0));
    app.run_engine_until(&engine, kst(2026, 11, 27, 12, 0))
        .await;
    let received = app.scripted().received();
    let days: Vec<String> = received
        .iter()
        .map(|r| common::kst_short(r.at_ms)[..5].to_owned())
        .collect();
    assert_eq!(
        received[0].idempotency_key, received[1].idempotency_key,
        "the resend keeps its key"
    );
    assert_eq!(days[..2], ["11-23", "11-25"]);
    assert!(
        !days[2..].contains(&"11-25".to_owned()),
        "one charge of the card reached the PG on 11-25: {days:?}"
    );
    assert_eq!(app.store.successful_charges(case.case_id).await.unwrap(), 1);
}

/// Every charge path checks that the order's PG has an adapter here before
/// anything is sent: the page's pay button answers that the shop will see
/// to the payment, and the console offers no "retry now".
#[tokio::test]
async fn no_path_sends_a_charge_to_a_pg_this_server_has_no_adapter_for() {
    // This gateway charges only TOSS orders; seeded orders name UNKNOWN.
    let app = TestApp::builder()
        .scripted_gateway_for("TOSS")
        .spawn()
        .await;
    let case = common::seed_case(&app, "card").await;
    let loc = app.pay(&case.token).await;
    assert!(loc.contains("notice=not-payable-here"), "{loc}");
    account(&app, "op@rebound.test", Role::Operator).await;
    let cookie = signed_in(&app, "op@rebound.test").await;
    let page = case_page(&app, &cookie, case.case_id).await;
    assert!(!page.contains("value=\"retry_now\""));
    assert!(page.contains("data-retry-blocked"));
    let res = act(&app, &cookie, case.case_id, "retry_now").await;
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("result=not_allowed")
    );
    assert!(app.scripted().received().is_empty());
    assert!(app.store.charges(case.case_id).await.unwrap().is_empty());
}
