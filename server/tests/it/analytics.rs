//! Recovery analytics through `GET /api/v1/cover/analytics`, on SQLite and
//! (with REBOUND_TEST_DB=postgres) Postgres: cases driven to their outcomes
//! by the engine, the page and the partner API, and the 20-case
//! dataset seeded in final states. Definitions: `domain::analytics`.

use crate::common;

use common::scripted_gateway::Answer;
use common::{TestApp, create_partner, seed_case, seed_case_at};
use rebound::domain::analytics::{Cohort, kst_day, kst_day_start, sample_facts};
use rebound::store::OutcomeSeed;
use reqwest::StatusCode;
use serde_json::Value;

const DAY: i64 = 86_400_000;

async fn analytics(app: &TestApp, query: &str) -> Value {
    let res = app.get(&format!("/api/v1/cover/analytics?{query}")).await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    res.json().await.unwrap()
}

fn count_amount(v: &Value) -> (i64, i64) {
    (v["count"].as_i64().unwrap(), v["amount"].as_i64().unwrap())
}

#[tokio::test]
async fn a_partner_reads_how_each_failed_payment_ended_in_the_period_it_failed() {
    let app = TestApp::builder().scripted_gateway().spawn().await;
    let engine = app.engine().await;
    for dead in ["paused_card", "canceled_card"] {
        app.scripted()
            .script(dead, &[Answer::Decline("INVALID_STOPPED_CARD")]);
    }
    // Over its limit until the customer pays it down (a card declined for
    // good would not be charged again, even from the page).
    app.scripted()
        .script("open_card", &[Answer::Decline("REJECT_CARD_PAYMENT")]);
    // 2026-11-22 13:05 KST: five payments fail.
    let paid_on_page = seed_case(&app, "page_card").await;
    let settled = seed_case(&app, "partner_card").await;
    let retried = seed_case(&app, "retry_card").await;
    let paused = seed_case(&app, "paused_card").await;
    let canceled = seed_case(&app, "canceled_card").await;
    assert!(app.pay(&paid_on_page.token).await.contains("/paid"));
    let (status, _) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/cover/order/success/{}", settled.order_id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // The first silent retry (11-23 10:00) recovers one; the scenario runs
    // out on the dead cards and pauses them; the partner cancels one.
    app.advance_days(&engine, 2).await;
    let (status, _) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/cover/order/cancel/{}", canceled.order_id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.advance_days(&engine, 20).await;
    // One more fails 22 days in (12-14) and is still open a day later.
    let open = seed_case_at(&app, "open_card", app.clock.now_ms()).await;
    app.advance_days(&engine, 1).await;
    for case in [&paid_on_page, &settled, &retried] {
        assert_eq!(
            app.store
                .case_and_subscription_status(case.case_id)
                .await
                .unwrap()
                .0,
            "RECOVERED"
        );
    }
    assert_eq!(
        app.store
            .case_and_subscription_status(paused.case_id)
            .await
            .unwrap()
            .0,
        "ENDED"
    );

    let today = kst_day(app.clock.now_ms());
    let report = analytics(&app, &format!("from=2026-11-22&to={today}")).await;
    let t = &report["totals"];
    assert_eq!(report["timeZone"], "Asia/Seoul");
    assert_eq!(t["opened"], 6);
    assert_eq!(t["openedAmount"], 60_000);
    assert_eq!(t["recovered"], 3);
    assert_eq!(t["recoveredAmount"], 30_000);
    assert_eq!(t["recoveryRateByCount"], 0.5);
    let by = &t["recoveredBy"];
    assert_eq!(count_amount(&by["page"]), (1, 10_000));
    assert_eq!(count_amount(&by["partner"]), (1, 10_000));
    assert_eq!(count_amount(&by["retry"]), (1, 10_000));
    assert_eq!(count_amount(&by["methodChange"]), (0, 0));
    assert_eq!(count_amount(&t["revenueAtRisk"]), (1, 10_000));
    assert_eq!(t["endedUnrecovered"]["paused"], 1);
    assert_eq!(t["endedUnrecovered"]["canceled"], 1);
    // Page and partner at once (within 1 h), the retry 21 h later: the
    // median is the second of three, p90 the third.
    assert_eq!(t["medianRecoveryHours"], 1);
    assert_eq!(t["p90RecoveryHours"], 24);
    // Every stage message the outbox holds, and every notice, is counted.
    let mut sent = 0;
    for case in [&paid_on_page, &settled, &retried, &paused, &canceled, &open] {
        sent += app.messages(case.case_id).await.len() as i64;
    }
    assert!(sent > 0);
    assert_eq!(t["messages"]["alimtalk"]["sent"], sent);
    assert_eq!(t["messages"]["alimtalk"]["failed"], 0);
    let notices = app.notices().await.len() as i64;
    assert!(notices > 0);
    let n = &t["notices"];
    let counted: i64 = ["delivered", "retrying", "failed", "noEndpoint"]
        .iter()
        .map(|k| n[k].as_i64().unwrap())
        .sum();
    assert_eq!(counted, notices);
    assert_eq!(
        n["retrying"], notices,
        "no notifier runs in this test: every notice waits"
    );
    // By stage reached: the paused case got every stage of the default
    // scenario, the open one its first.
    let stages = t["byStage"].as_array().unwrap();
    let cases_by_stage: i64 = stages.iter().map(|s| s["cases"].as_i64().unwrap()).sum();
    assert_eq!(cases_by_stage, 6);

    // The open case's customer pays with a card that works now: the
    // figures of its day change at once.
    app.scripted().script("open_card", &[Answer::Approve]);
    assert!(app.pay(&open.token).await.contains("/paid"));
    let after = analytics(&app, &format!("from=2026-11-22&to={today}")).await;
    assert_eq!(after["totals"]["recovered"], 4);
    assert_eq!(
        count_amount(&after["totals"]["recoveredBy"]["page"]),
        (2, 20_000)
    );
    assert_eq!(count_amount(&after["totals"]["revenueAtRisk"]), (0, 0));

    // Cohorts: the first five belong to 11-22 whatever happened later.
    let first_day = analytics(&app, "from=2026-11-22&to=2026-11-22").await;
    assert_eq!(first_day["totals"]["opened"], 5);
    assert_eq!(first_day["series"].as_array().unwrap().len(), 1);
    let weeks = analytics(&app, &format!("from=2026-11-22&to={today}&interval=week")).await;
    let series = weeks["series"].as_array().unwrap();
    assert_eq!(
        series[0]["start"], "2026-11-16",
        "the Monday of 11-22's week"
    );
    let opened: i64 = series.iter().map(|w| w["opened"].as_i64().unwrap()).sum();
    assert_eq!(opened, 6, "the weeks add up to the period");

    // Another partner sees none of it.
    let (_, other_secret) = create_partner(&app.store, "other", &[common::PARTNER_ORIGIN]).await;
    let res = app
        .client
        .get(app.url(&format!(
            "/api/v1/cover/analytics?from=2026-11-22&to={today}"
        )))
        .header("Secret-Token", &other_secret)
        .send()
        .await
        .unwrap();
    let other: Value = res.json().await.unwrap();
    assert_eq!(other["totals"]["opened"], 0);
    assert_eq!(other["totals"]["recoveryRateByCount"], Value::Null);
}

#[tokio::test]
async fn the_twenty_case_dataset_reads_back_exactly() {
    let app = common::spawn_app().await;
    // Four KST days from 2026-11-19 10:00; the clock is at 11-22.
    let start = kst_day_start("2026-11-19".parse().unwrap()) + 10 * 3_600_000;
    let facts = sample_facts(20, start, 4);
    app.store
        .seed_outcomes(
            app.partner.id,
            &OutcomeSeed {
                prefix: "seeded",
                facts: &facts,
            },
        )
        .await
        .unwrap();
    let report = analytics(&app, "from=2026-11-19&to=2026-11-22").await;
    let t = &report["totals"];
    assert_eq!(t["opened"], 20);
    assert_eq!(t["openedAmount"], 220_000);
    assert_eq!(t["recovered"], 15);
    assert_eq!(t["recoveredAmount"], 160_000);
    assert_eq!(t["recoveryRateByCount"], 0.75);
    let by = &t["recoveredBy"];
    assert_eq!(count_amount(&by["retry"]), (6, 60_000));
    assert_eq!(count_amount(&by["page"]), (4, 40_000));
    assert_eq!(count_amount(&by["methodChange"]), (2, 40_000));
    assert_eq!(count_amount(&by["scheduledDate"]), (1, 10_000));
    assert_eq!(count_amount(&by["partner"]), (2, 10_000));
    assert_eq!(t["endedUnrecovered"]["paused"], 3);
    assert_eq!(count_amount(&t["revenueAtRisk"]), (2, 30_000));
    assert_eq!(t["medianRecoveryHours"], 48);
    assert_eq!(t["p90RecoveryHours"], 120);
    let stages: Vec<i64> = t["byStage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["cases"].as_i64().unwrap())
        .collect();
    assert_eq!(stages[..5], [0, 12, 4, 1, 3]);
    assert_eq!(t["messages"]["alimtalk"]["sent"], 12 + 4 * 2 + 3 + 3 * 4);
    // The domain's own sum of the same facts agrees, day by day.
    let series = report["series"].as_array().unwrap();
    assert_eq!(series.len(), 4);
    for (day, bucket) in series.iter().enumerate() {
        let mut expected = Cohort::default();
        for f in facts
            .iter()
            .filter(|f| (f.failed_at_ms - start) / DAY == day as i64)
        {
            expected += &Cohort::of(f);
        }
        assert_eq!(bucket["opened"], expected.opened);
        assert_eq!(bucket["recoveredAmount"], expected.recovered_amount);
    }
}

#[tokio::test]
async fn a_bad_period_is_refused_with_the_field_named() {
    let app = common::spawn_app().await;
    // 400: what the OpenAPI document forbids; 422: a rule between the
    // fields it cannot state.
    for (query, field, status) in [
        ("from=2026-13-01", "from", StatusCode::BAD_REQUEST),
        ("from=2026-1-05", "from", StatusCode::BAD_REQUEST),
        ("to=tomorrow", "to", StatusCode::BAD_REQUEST),
        (
            "from=2026-11-20&to=2026-11-01",
            "from",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "from=2024-01-01&to=2026-01-01",
            "from",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("interval=month", "interval", StatusCode::BAD_REQUEST),
        ("interval=", "interval", StatusCode::BAD_REQUEST),
        (
            "interval=day&interval=week",
            "query",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let res = app.get(&format!("/api/v1/cover/analytics?{query}")).await;
        assert_eq!(res.status(), status, "{query}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["details"][0]["field"], field, "{query}: {body}");
        assert!(body["traceId"].is_string());
    }
    let res = app
        .client
        .get(app.url("/api/v1/cover/analytics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // The default: the 30 days ending today, by day.
    let report = analytics(&app, "").await;
    assert_eq!(report["to"], "2026-11-22");
    assert_eq!(report["from"], "2026-10-24");
    assert_eq!(report["series"].as_array().unwrap().len(), 30);
}

/// A failure the partner reports late (or imports) counts on the day the
/// payment failed, the order's `paymentDate`, not on the day Rebound heard
/// of it; and its time to recovery counts from the failure.
#[tokio::test]
async fn a_failure_reported_late_counts_on_the_day_it_failed() {
    let app = TestApp::builder().scripted_gateway().spawn().await;
    let (customer, _, price) = common::create_catalog(&app).await;
    // 2026-11-22 13:05 KST: the partner reports a renewal that failed three
    // days ago, 11-19 at 09:00 KST (00:00 UTC).
    let order = app
        .created(
            "/api/v1/cover/order",
            serde_json::json!({"items": [{"priceId": price, "quantity": 1}], "paymentGateway": "TOSS",
                   "customerId": customer, "amount": 9900, "amountReturned": 0, "partnerOrderId": "late",
                   "idKey": "late_card", "paymentDate": "2026-11-19T00:00:00Z", "paymentFailed": true}),
        )
        .await;
    let case_id = app.case_of_order(order["id"].as_i64().unwrap()).await;
    assert_eq!(
        analytics(&app, "from=2026-11-19&to=2026-11-19").await["totals"]["opened"],
        1
    );
    assert_eq!(
        analytics(&app, "from=2026-11-22&to=2026-11-22").await["totals"]["opened"],
        0,
        "not today"
    );
    // The customer pays now: recovered some 76 hours after the failure.
    let token = rebound::domain::token::link_token(app.link_key.expose(), case_id, 1);
    let engine = app.message_engine().await;
    engine.run_due(100).await.unwrap();
    assert!(app.pay(&token).await.contains("/paid"));
    let day = analytics(&app, "from=2026-11-19&to=2026-11-19").await;
    assert_eq!(day["totals"]["recovered"], 1);
    // 76 hours after the failure: the 72-120 h bucket (counted from when
    // Rebound heard of it, it would be within the first hour).
    assert_eq!(day["totals"]["medianRecoveryHours"], 120);
}

/// Issue 24, item 5: two folds at once could write older figures over
/// newer ones, so a fold waits for the one running. Held here by the test;
/// on Postgres a second store (as another instance would open) waits too.
#[tokio::test]
async fn a_fold_waits_while_another_fold_runs_even_on_another_instance() {
    let app = TestApp::builder().spawn().await;
    seed_case(&app, "fold_card").await;
    let now = app.clock.now_ms();

    let turn = app.store.analytics_fold_turn().await.unwrap();
    let same_process = fold_started(app.store.clone(), now).await;
    assert!(
        !same_process.is_finished(),
        "a fold ran during another's turn"
    );
    drop(turn);
    let folded = same_process.await.unwrap().unwrap();
    assert!(
        folded >= 1,
        "the waiting fold then folds the new case's day"
    );

    if app.database_url.starts_with("postgres") {
        let other = rebound::store::Store::connect(&app.database_url)
            .await
            .unwrap();
        let turn = app.store.analytics_fold_turn().await.unwrap();
        let other_instance = fold_started(other, now).await;
        assert!(
            !other_instance.is_finished(),
            "another instance's fold ran during this one's turn"
        );
        drop(turn);
        other_instance.await.unwrap().unwrap();
    }
}

/// A fold of `store`, started and given 300 ms.
async fn fold_started(
    store: rebound::store::Store,
    now: i64,
) -> tokio::task::JoinHandle<Result<usize, rebound::store::StoreError>> {
    let fold = tokio::spawn(async move { store.fold_analytics(None, now).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    fold
}
