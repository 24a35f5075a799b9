//! Experiments with a holdout (issue 25): a partner splits its new cases
//! into two scenario arms and a holdout, the engine runs 300 cases on the
//! test clock with sandbox outcomes fixed per order, and the API, the
//! console and the notices show each arm's cases, rates and the money
//! Rebound brought back that would otherwise have been lost.

use std::collections::HashMap;

use crate::common;

use common::console::{PASSWORD, account, get, post_form, signed_in};
use common::{TestApp, messages_only_scenario, seed_case_at};
use rebound::domain::account::{PartnerRole, Role};
use rebound::domain::experiment::{ArmKind, ArmSpec, ArmTally, ExperimentSpec, arm_of, bucket};
use rebound::domain::scenario::Scenario;
use rebound::gateway::sandbox::KEY_INSUFFICIENT_FUNDS;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const DAY: i64 = 86_400_000;
/// 300 cases: enough for a holdout of about 30 at 10 %.
const CASES: usize = 300;
const WINDOW_DAYS: u32 = 14;

fn spec(arms: &[&str], horizon: u64) -> ExperimentSpec {
    let arms = arms
        .iter()
        .map(|a| ArmSpec::parse("arm", a).unwrap())
        .collect();
    ExperimentSpec::check("retries against messages only", arms, horizon, WINDOW_DAYS).unwrap()
}

async fn report(app: &TestApp, id: i64) -> Value {
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/api/v1/cover/experiments/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn arm<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["arms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no arm {name} in {report}"))
}

#[tokio::test]
async fn two_arms_and_a_holdout_over_300_cases_show_what_rebound_brought_back() {
    let app = TestApp::builder().spawn().await;
    let engine = app.engine().await;
    let start = app.clock.now_ms();
    // v1: messages only; v2: messages and silent retries (current).
    app.store
        .add_scenario_version(app.partner.id, &messages_only_scenario(), start)
        .await
        .unwrap();
    app.store
        .add_scenario_version(app.partner.id, &Scenario::default(), start)
        .await
        .unwrap();
    let id = app
        .store
        .start_experiment(
            app.partner.id,
            &spec(
                &["retries=v2:45", "messages=v1:45", "holdout=holdout:10"],
                20,
            ),
            "test",
            start,
        )
        .await
        .unwrap();
    // A second one cannot start while this one runs.
    assert!(
        app.store
            .start_experiment(
                app.partner.id,
                &spec(&["a=current:90", "h=holdout:10"], 20),
                "test",
                start
            )
            .await
            .is_err()
    );

    // 300 renewals fail at once. Four cards in ten work again by the next
    // day (a silent retry takes them); the rest stay declined. The partner
    // settles one order in ten itself on day 3, whatever the arm: money
    // that comes back without Rebound.
    let mut orders = Vec::new();
    for i in 0..CASES {
        // Each customer's card is their own key (the retry budget and the
        // one-charge-a-day rule count per key).
        let key = if i % 10 < 4 {
            format!("sandbox_success.c{i}")
        } else {
            format!("{KEY_INSUFFICIENT_FUNDS}.c{i}")
        };
        let case = seed_case_at(&app, &key, start).await;
        orders.push((i, case));
    }
    let cases = app.store.experiment_cases(id).await.unwrap();
    assert_eq!(
        cases.len(),
        CASES,
        "every new case joins the running experiment"
    );
    // Each order is in the arm its hash says, the same on every instance.
    let arm_of_case: HashMap<i64, i64> = {
        let rows = app
            .texts(&format!(
                "SELECT CAST(order_id AS TEXT) || ':' || CAST(experiment_arm AS TEXT) FROM recovery_cases WHERE experiment_id = {id}"
            ))
            .await;
        rows.into_iter()
            .map(|r| {
                let r = r.unwrap();
                let (o, a) = r.split_once(':').unwrap();
                (o.parse().unwrap(), a.parse().unwrap())
            })
            .collect()
    };
    for (_, c) in &orders {
        let expected = arm_of(
            &[4_500, 4_500, 1_000],
            bucket(id, app.partner.id, c.order_id),
        ) as i64;
        assert_eq!(arm_of_case[&c.order_id], expected);
    }
    let in_arm = |a: i64| -> Vec<&(usize, common::SeededCase)> {
        orders
            .iter()
            .filter(|(_, c)| arm_of_case[&c.order_id] == a)
            .collect()
    };
    let sizes: Vec<usize> = (0..3).map(|a| in_arm(a).len()).collect();
    assert!(
        sizes[2] >= 15 && sizes[0] >= 100 && sizes[1] >= 100,
        "{sizes:?}"
    );

    // Day 3: the partner settles its tenth; the engine has run meanwhile.
    for d in 1..=3 {
        app.run_engine_until(&engine, start + d * DAY).await;
    }
    for (i, c) in &orders {
        if i % 10 == 9 {
            let (status, _) = app
                .call(
                    Method::PATCH,
                    &format!("/api/v1/cover/order/success/{}", c.order_id),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK);
        }
    }

    // Day 5: every window is open, so nothing counts in a rate yet.
    app.run_engine_until(&engine, start + 5 * DAY).await;
    let early = report(&app, id).await;
    assert_eq!(early["ready"], false);
    assert_eq!(
        early["moreClosedCasesNeeded"], 60,
        "20 closed cases in each of three arms"
    );
    for name in ["retries", "messages", "holdout"] {
        let a = arm(&early, name);
        assert_eq!(a["closed"], 0);
        assert_eq!(
            a["rate"],
            Value::Null,
            "an open case is neither lost nor recovered"
        );
        assert_eq!(a["inProgress"], a["cases"]);
    }
    assert!(
        arm(&early, "retries")["inProgressRecovered"]
            .as_u64()
            .unwrap()
            > 0
    );
    let curve = arm(&early, "retries")["curve"].as_array().unwrap();
    assert!(
        curve.iter().any(|p| p["recovered"].as_f64().unwrap() > 0.3),
        "{curve:?}"
    );

    // The holdout got nothing Rebound starts by itself; the arms did.
    for (_, c) in in_arm(2) {
        assert!(
            app.messages(c.case_id).await.is_empty(),
            "a holdout case got a message"
        );
    }
    let charges_of = |arm: i64| {
        format!(
            "SELECT CAST(COUNT(*) AS TEXT) FROM charges ch JOIN recovery_cases c ON c.id = ch.case_id \
             WHERE c.experiment_id = {id} AND c.experiment_arm = {arm}"
        )
    };
    let count = |rows: Vec<Option<String>>| rows[0].clone().unwrap().parse::<i64>().unwrap();
    assert_eq!(
        count(app.texts(&charges_of(2)).await),
        0,
        "no silent retry in the holdout"
    );
    assert_eq!(
        count(app.texts(&charges_of(1)).await),
        0,
        "retries are off in v1"
    );
    assert!(count(app.texts(&charges_of(0)).await) > 0);
    let (_, c) = in_arm(1)[0];
    assert!(
        !app.messages(c.case_id).await.is_empty(),
        "the messages arm was messaged"
    );
    let holdout_stop = app
        .texts(&format!(
            "SELECT retry_stop FROM recovery_cases WHERE experiment_id = {id} AND experiment_arm = 2 AND status = 'OPEN'"
        ))
        .await;
    assert!(
        holdout_stop.iter().all(|s| s.as_deref() == Some("HOLDOUT")),
        "{holdout_stop:?}"
    );
    // The holdout's page offers no reminder (none would be sent); the
    // other arms' pages do. Its end is due when the scenario's would be.
    let (_, held) = in_arm(2)[0];
    let (_, messaged) = in_arm(1)[0];
    let remind = "/embed/recovery/action/remind";
    assert!(
        app.page("/embed/recovery", &messaged.token)
            .await
            .contains(remind)
    );
    assert!(
        !app.page("/embed/recovery", &held.token)
            .await
            .contains(remind),
        "a reminder offered to the holdout"
    );
    let end = Scenario::default().due_at(start, Scenario::default().stages.len() as i64 + 1);
    let due = app
        .texts(&format!(
            "SELECT CAST(next_stage_at AS TEXT) FROM recovery_cases WHERE id = {}",
            held.case_id
        ))
        .await;
    assert_eq!(due, [Some(end.to_string())]);

    // Notices carry the experiment and the arm.
    let started = app.notices().await;
    let about: Vec<&Value> = started
        .iter()
        .filter(|n| n["data"]["cover_id"].as_i64() == Some(c.case_id))
        .collect();
    assert!(!about.is_empty());
    for n in about {
        assert_eq!(n["data"]["experiment"], id);
        assert_eq!(n["data"]["arm"], "messages");
    }

    // Day 15: every window has closed; the holdout's cases ended as the
    // scenario would have ended them, without a message.
    app.run_engine_until(&engine, start + 15 * DAY).await;
    let statuses = app
        .texts(&format!(
            "SELECT DISTINCT status FROM recovery_cases WHERE experiment_id = {id} AND experiment_arm = 2 ORDER BY status"
        ))
        .await;
    assert_eq!(
        statuses,
        [Some("ENDED".to_owned()), Some("RECOVERED".to_owned())]
    );
    for (_, c) in in_arm(2) {
        assert!(
            app.messages(c.case_id).await.is_empty(),
            "a holdout case got a message"
        );
    }
    let now = app.clock.now_ms();
    let done = report(&app, id).await;
    assert_eq!(done["ready"], true, "{done}");
    assert_eq!(done["control"], "retries");
    assert_eq!(done["holdout"], "holdout");

    // What each arm should show, from what the test did to each order.
    let expect = |a: i64, retries: bool| {
        let members: Vec<usize> = in_arm(a).iter().map(|(i, _)| *i).collect();
        let recovered = members
            .iter()
            .filter(|i| *i % 10 == 9 || (retries && *i % 10 < 4))
            .count() as u64;
        (members.len() as u64, recovered)
    };
    let (n_r, k_r) = expect(0, true);
    let (n_m, k_m) = expect(1, false);
    let (n_h, k_h) = expect(2, false);
    for (name, n, k) in [
        ("retries", n_r, k_r),
        ("messages", n_m, k_m),
        ("holdout", n_h, k_h),
    ] {
        let a = arm(&done, name);
        assert_eq!(
            (a["cases"].as_u64(), a["closed"].as_u64()),
            (Some(n), Some(n)),
            "{name}"
        );
        assert_eq!(a["recovered"].as_u64(), Some(k), "{name}");
        assert_eq!(
            a["recoveredAmount"].as_i64(),
            Some(k as i64 * 10_000),
            "{name}"
        );
        assert_eq!(a["inProgress"], 0);
        let rate = a["rate"].as_f64().unwrap();
        assert!((rate - k as f64 / n as f64).abs() < 1e-12, "{name}: {rate}");
        let ci = &a["rateInterval"];
        assert!(ci["low"].as_f64().unwrap() < rate && rate < ci["high"].as_f64().unwrap());
    }
    // Incremental: the retries arm's recovered money minus the holdout's
    // rate times what its cases owed.
    let holdout_rate = k_h as f64 / n_h as f64;
    let won = (k_r as f64 * 10_000.0 - holdout_rate * n_r as f64 * 10_000.0).round() as i64;
    let inc = &arm(&done, "retries")["incremental"];
    assert_eq!(inc["won"].as_i64(), Some(won), "{inc}");
    assert!(
        inc["low"].as_i64().unwrap() > 0,
        "40 %p more cannot be chance: {inc}"
    );
    let vs = &arm(&done, "messages")["vsControl"];
    assert!(
        vs["difference"].as_f64().unwrap() < -0.3 && vs["pValue"].as_f64().unwrap() < 0.001,
        "{vs}"
    );
    assert_eq!(arm(&done, "retries")["vsControl"], Value::Null);
    assert_eq!(arm(&done, "holdout")["incremental"], Value::Null);

    // The SQL tallies are the domain's rules applied case by case.
    let mut by_rule = vec![ArmTally::default(); 3];
    for (a, amount, failed_at, recovered_at) in app.store.experiment_cases(id).await.unwrap() {
        by_rule[a as usize].add(amount, failed_at, recovered_at, WINDOW_DAYS, now);
    }
    let e = app
        .store
        .experiment(app.partner.id, id)
        .await
        .unwrap()
        .unwrap();
    let mut tallies = app.store.experiment_tallies(&e, now).await.unwrap();
    for t in tallies.iter_mut().chain(by_rule.iter_mut()) {
        t.days.sort_by_key(|d| d.day);
    }
    assert_eq!(tallies, by_rule);
    assert_eq!(
        e.arms.iter().map(|a| a.kind).collect::<Vec<_>>(),
        [ArmKind::Scenario, ArmKind::Scenario, ArmKind::Holdout]
    );

    // The console says the same, in words.
    account(
        &app,
        "admin@acme.example",
        Role::Partner(app.partner.id, PartnerRole::Admin),
    )
    .await;
    let cookie = signed_in(&app, "admin@acme.example").await;
    let html = get(&app, &format!("/console/experiments/{id}"), &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("retries") && html.contains("messages") && html.contains("holdout"));
    assert!(html.contains("<svg"), "the recovery curves");
    let won_text = app::money::format_krw(won, app::copy::Lang::Ko);
    assert!(
        html.contains(&won_text),
        "the incremental money {won_text} on the page"
    );
    assert!(
        html.contains("그렇지 않았다면 잃었을"),
        "the plain Korean sentence"
    );
    let overview = get(&app, "/console", &cookie).await.text().await.unwrap();
    assert!(
        overview.contains(&won_text),
        "the overview shows the running experiment's money"
    );

    // Another partner cannot read it.
    let (other, secret) =
        common::create_partner(&app.store, "beta", &["https://beta.example"]).await;
    let _ = other;
    let res = app
        .client
        .get(app.url(&format!("/api/v1/cover/experiments/{id}")))
        .header("Secret-Token", secret)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // Stopping it: new cases stay out; its cases keep their arms.
    let page = format!("/console/experiments/{id}");
    let res = post_form(
        &app,
        &cookie,
        &page,
        &format!("/console/experiments/{id}/stop"),
        &[("current_password", PASSWORD)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let late = seed_case_at(&app, "sandbox_success.late", app.clock.now_ms()).await;
    assert_eq!(app.store.experiment_cases(id).await.unwrap().len(), CASES);
    let joined = app
        .texts(&format!(
            "SELECT CAST(experiment_id AS TEXT) FROM recovery_cases WHERE id = {}",
            late.case_id
        ))
        .await;
    assert_eq!(joined, [None]);
    assert_eq!(report(&app, id).await["status"], "STOPPED");
}

#[tokio::test]
async fn an_admin_starts_an_experiment_in_the_console_with_the_password_and_a_member_cannot() {
    let app = TestApp::builder().spawn().await;
    account(
        &app,
        "admin@acme.example",
        Role::Partner(app.partner.id, PartnerRole::Admin),
    )
    .await;
    account(
        &app,
        "member@acme.example",
        Role::Partner(app.partner.id, PartnerRole::Member),
    )
    .await;
    let admin = signed_in(&app, "admin@acme.example").await;
    let member = signed_in(&app, "member@acme.example").await;
    let page = "/console/experiments";
    let html = get(&app, page, &member).await.text().await.unwrap();
    assert!(
        !html.contains("current_password"),
        "a member sees no start form"
    );
    let fields = |password: &'static str, holdout: &'static str| {
        vec![
            ("name", "Rebound vs. no dunning"),
            ("arm_name_1", "rebound"),
            ("arm_what_1", "current"),
            ("arm_share_1", "75"),
            ("arm_name_2", "holdout"),
            ("arm_what_2", "holdout"),
            ("arm_share_2", holdout),
            ("horizon", "1000"),
            ("window_days", "30"),
            ("current_password", password),
        ]
    };
    // A member's post is refused whatever it says.
    let res = post_form(&app, &member, page, page, &fields(PASSWORD, "25")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Wrong password, then a holdout over 20 %: refused, nothing started.
    let res = post_form(&app, &admin, page, page, &fields("wrong password!!", "25")).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = post_form(&app, &admin, page, page, &fields(PASSWORD, "25")).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("20%"), "the refusal says why");
    assert!(
        app.store
            .experiments(app.partner.id)
            .await
            .unwrap()
            .is_empty()
    );
    // 80/20 starts.
    let mut ok = fields(PASSWORD, "20");
    ok[3] = ("arm_share_1", "80");
    let res = post_form(&app, &admin, page, page, &ok).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let running = app
        .store
        .running_experiment(app.partner.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(running.arms.len(), 2);
    assert_eq!(running.arms[1].share, 2_000);
    // The new experiment's page says there is not enough data yet.
    let html = get(
        &app,
        &format!("/console/experiments/{}", running.id),
        &member,
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(html.contains("아직 데이터가 부족합니다"), "{html}");
    assert!(
        html.contains("2000"),
        "1,000 closed cases in each of two arms still needed"
    );
}
