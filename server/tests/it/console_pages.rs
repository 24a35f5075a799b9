//! The console's partner pages over HTTP, on SQLite and (with
//! REBOUND_TEST_DB=postgres) Postgres: operators create partners and
//! accounts; partners edit their scenario, read and redeliver notices, and
//! change their settings. Another partner's pages are a 404.

use crate::common;

use common::console::{PASSWORD, account, get, post_form, signed_in};
use common::receiver::Receiver;
use common::{create_partner, seed_case, spawn_app};
use rebound::domain::account::{PartnerRole, Role};
use reqwest::StatusCode;

#[tokio::test]
async fn an_operator_creates_a_partner_and_its_user_and_partners_cannot() {
    let app = spawn_app().await;
    account(&app, "ops@rebound.example", Role::Operator).await;
    let ops = signed_in(&app, "ops@rebound.example").await;
    let res = post_form(
        &app,
        &ops,
        "/console/partners",
        "/console/partners",
        &[
            ("name", "globex"),
            ("business_name", "ACME 주식회사"),
            (
                "origins",
                "https://shop.acme.example\nhttps://m.acme.example",
            ),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    let at = html.find("data-secret=\"token\">").unwrap() + 20;
    let token = &html[at..at + 49];
    assert!(token.starts_with("rb_sk_"), "{token}");
    // The token works on the API at once, and is not shown again.
    let res = app
        .client
        .get(app.url("/api/v1/cover/analytics"))
        .header("Secret-Token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let again = get(&app, "/console/partners", &ops)
        .await
        .text()
        .await
        .unwrap();
    assert!(!again.contains(token));
    let acme = app.store.partner_by_name("globex").await.unwrap().unwrap();
    assert_eq!(
        acme.origins.to_stored(),
        "https://shop.acme.example https://m.acme.example"
    );

    // Bad input: 422, each problem said, nothing made.
    let res = post_form(
        &app,
        &ops,
        "/console/partners",
        "/console/partners",
        &[
            ("name", "globex"),
            ("business_name", ""),
            ("origins", "shop.acme.example/path"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("같은 이름의 파트너가 이미 있습니다."));
    assert!(html.contains("출처는"));
    assert_eq!(app.store.list_partners().await.unwrap().len(), 2);

    let res = post_form(
        &app,
        &ops,
        "/console/partners",
        "/console/users",
        &[
            ("email", "staff@acme.example"),
            ("password", "a long first password"),
            ("partner", &acme.id.to_string()),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = post_form(
        &app,
        &ops,
        "/console/partners",
        "/console/users",
        &[
            ("email", "staff@acme.example"),
            ("password", "short"),
            ("partner", "999999"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("12자에서 256자"));
    assert!(html.contains("그런 파트너가 없습니다."));

    // The partner's user signs in and sees only acme; it has no such page.
    let res = common::console::sign_in(&app, "staff@acme.example", "a long first password").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let staff = common::console::session_of(res.headers());
    assert_eq!(
        get(&app, "/console/partners", &staff).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = post_form(
        &app,
        &staff,
        "/console",
        "/console/partners",
        &[
            ("name", "evil"),
            ("business_name", "x"),
            ("origins", "https://evil.example"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(app.store.partner_by_name("evil").await.unwrap().is_none());
}

#[tokio::test]
async fn a_saved_scenario_is_a_new_version_for_new_cases_and_a_bad_one_is_explained() {
    let app = spawn_app().await;
    account(
        &app,
        "dev@partner.example",
        Role::Partner(app.partner.id, PartnerRole::Admin),
    )
    .await;
    let cookie = signed_in(&app, "dev@partner.example").await;
    let before = seed_case(&app, "sandbox_success").await;
    let form = |hour: &'static str, intent: &'static str| {
        vec![
            ("stage_hours_0", "0"),
            ("stage_channel_0", "ALIMTALK"),
            ("stage_hours_1", "24"),
            ("stage_channel_1", "SMS"),
            ("end_action", "CANCEL"),
            ("change_date_window_days", "7"),
            ("remind_limit", "2"),
            ("change_date_limit", "1"),
            ("retries_enabled", "on"),
            ("ladder_days", "1, 2"),
            ("retry_hour", hour),
            ("budget", "4"),
            ("unknown_limit", "2"),
            ("intent", intent),
        ]
    };
    let res = post_form(
        &app,
        &cookie,
        "/console/scenario",
        "/console/scenario",
        &form("3", "save"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("id=\"err-retry_hour\""),
        "the error sits by its field"
    );
    assert_eq!(
        app.store
            .scenario_versions(app.partner.id)
            .await
            .unwrap()
            .len(),
        0
    );
    // A preview draws the draft and saves nothing.
    let res = post_form(
        &app,
        &cookie,
        "/console/scenario",
        "/console/scenario",
        &form("11", "preview"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("구독 해지"));
    assert_eq!(
        app.store
            .scenario_versions(app.partner.id)
            .await
            .unwrap()
            .len(),
        0
    );
    let res = post_form(
        &app,
        &cookie,
        "/console/scenario",
        "/console/scenario",
        &form("11", "save"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("새 케이스부터 이 버전을 씁니다")
    );
    let (_, version, s) = app.store.current_scenario(app.partner.id).await.unwrap();
    assert_eq!(version, 1);
    assert_eq!(s.stages.len(), 2);
    assert_eq!(s.retries.hour, 11);
    // The case opened before keeps the default; a new one takes v1.
    let after = seed_case(&app, "sandbox_success").await;
    for (case, scenario) in [
        (before.case_id, "기본 시나리오"),
        (after.case_id, "시나리오 v1"),
    ] {
        let html = get(&app, &format!("/console/cases/{case}"), &cookie)
            .await
            .text()
            .await
            .unwrap();
        assert!(html.contains(scenario), "{case}: {scenario}");
    }
    // Another partner's scenario is a 404.
    let (other, _) = create_partner(&app.store, "other", &[common::PARTNER_ORIGIN]).await;
    let res = get(
        &app,
        &format!("/console/scenario?partner={}", other.id),
        &cookie,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn notices_are_listed_redelivered_and_tested_from_the_console() {
    // The receiver listens on loopback, which production refuses.
    let app = common::TestApp::builder()
        .setting("REBOUND_NOTIFY_ALLOW_PRIVATE", "1")
        .spawn()
        .await;
    let engine = app.engine().await;
    let secret = app
        .store
        .webhook_secret(app.partner.id, &rebound::notify::new_secret())
        .await
        .unwrap();
    let receiver = Receiver::start(&secret).await;
    account(
        &app,
        "dev@partner.example",
        Role::Partner(app.partner.id, PartnerRole::Admin),
    )
    .await;
    let cookie = signed_in(&app, "dev@partner.example").await;
    let case = seed_case(&app, "sandbox_success").await;
    app.run_engine_until(&engine, app.clock.now_ms() + 60_000)
        .await;
    let notices = app
        .store
        .recent_events(app.partner.id, None, 10)
        .await
        .unwrap();
    assert!(!notices.is_empty());
    let list = get(&app, "/console/notices", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains(&notices[0].webhook_id));
    let detail = get(
        &app,
        &format!("/console/notices/{}", notices[0].webhook_id),
        &cookie,
    )
    .await;
    assert_eq!(detail.status(), StatusCode::OK);
    assert!(detail.text().await.unwrap().contains("전송 기록"));

    // Another partner's notices, and ours asked for as theirs, are a 404.
    let (other, _) = create_partner(&app.store, "other", &[common::PARTNER_ORIGIN]).await;
    for path in [
        format!("/console/notices?partner={}", other.id),
        format!(
            "/console/notices/{}?partner={}",
            notices[0].webhook_id, other.id
        ),
    ] {
        assert_eq!(
            get(&app, &path, &cookie).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    // Ids not of a notice's shape are a 404 before any query (a NUL was a
    // 500 on Postgres), on the page and in a redelivery.
    for bad in ["msg_%00x", "msg_", "x%00", "msg_a%20b"] {
        assert_eq!(
            get(&app, &format!("/console/notices/{bad}"), &cookie)
                .await
                .status(),
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }
    let res = post_form(
        &app,
        &cookie,
        "/console/notices",
        "/console/notices/redeliver",
        &[("webhook_id", "msg_\0x")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // A new card's notice carries its billing key; the console shows its
    // end only.
    let card = app.card_window(&case.token).await;
    let res = app.browser.get(app.url(&card.url)).send().await.unwrap();
    let window = res.headers()["location"].to_str().unwrap().to_owned();
    let q = window.split_once('?').unwrap().1;
    let res = app
        .browser
        .get(app.url(&format!(
            "/embed/sandbox/billing-auth/approve?{q}&outcome=ok"
        )))
        .send()
        .await
        .unwrap();
    let back = res.headers()["location"].to_str().unwrap().to_owned();
    app.browser.get(app.url(&back)).send().await.unwrap();
    let key = app
        .texts(&format!(
            "SELECT id_key FROM orders WHERE id = {}",
            case.order_id
        ))
        .await
        .remove(0)
        .unwrap();
    assert!(key.starts_with("sandbox_ok_"), "{key}");
    let changed = app
        .store
        .recent_events(app.partner.id, None, 50)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.event_type == "payment_method.changed")
        .expect("a payment_method.changed notice");
    let page = get(
        &app,
        &format!("/console/notices/{}", changed.webhook_id),
        &cookie,
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(!page.contains(&key), "the whole billing key in the console");
    assert!(page.contains(&format!("••••{}", &key[key.len() - 4..])));
    // Redeliver one: it is due again (PENDING) with the same webhook id.
    let res = post_form(
        &app,
        &cookie,
        "/console/notices",
        "/console/notices/redeliver",
        &[("webhook_id", &notices[0].webhook_id)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .contains("queued=1")
    );
    // Everything since a bad time: said, nothing queued.
    let res = post_form(
        &app,
        &cookie,
        "/console/notices",
        "/console/notices/redeliver",
        &[("since", "2020-01-01T00:00")],
    )
    .await;
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .contains("problem=since")
    );

    // Settings: a bad notify URL is refused; a good one gets a test notice,
    // signed, and the page shows the endpoint's answer.
    let res = post_form(
        &app,
        &cookie,
        "/console/settings",
        "/console/settings",
        &[
            ("do", "urls"),
            ("origins", common::PARTNER_ORIGIN),
            ("notify_url", "ftp://partner.example/hook"),
            ("current_password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = post_form(
        &app,
        &cookie,
        "/console/settings",
        "/console/settings",
        &[
            ("do", "urls"),
            ("origins", common::PARTNER_ORIGIN),
            ("notify_url", &receiver.url),
            ("current_password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "saved, then shown by a GET"
    );
    let res = post_form(
        &app,
        &cookie,
        "/console/settings",
        "/console/settings",
        &[("do", "test_notice")],
    )
    .await;
    let html = res.text().await.unwrap();
    assert!(
        html.contains("HTTP 200"),
        "{}",
        &html[html.find("data-test-notice").unwrap_or(0)..][..300.min(html.len())]
    );
    assert!(html.contains("수신 확인됨"));
    assert!(
        receiver
            .state
            .lock()
            .unwrap()
            .deliveries
            .iter()
            .any(|d| d.verified),
        "signed with the partner's secret"
    );
    // Test notices are outbound calls: a few, then one every 20 seconds.
    let sent = receiver.state.lock().unwrap().deliveries.len();
    let mut refused = None;
    for n in 0..4 {
        let res = post_form(
            &app,
            &cookie,
            "/console/settings",
            "/console/settings",
            &[("do", "test_notice")],
        )
        .await;
        if res.status() == StatusCode::UNPROCESSABLE_ENTITY {
            refused = Some((n, res.text().await.unwrap()));
            break;
        }
    }
    let (n, html) = refused.expect("a burst of test notices is held back");
    assert_eq!(n, 2, "three in all, the first included");
    assert!(html.contains("20초에 한 번"));
    assert_eq!(
        receiver.state.lock().unwrap().deliveries.len(),
        sent + 2,
        "the refused one called nothing"
    );

    // A new Secret-Token is shown once; the old one works through the grace.
    let res = post_form(
        &app,
        &cookie,
        "/console/settings",
        "/console/settings",
        &[
            ("do", "rotate_token"),
            ("grace_hours", "24"),
            ("current_password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let next = res.headers()["location"].to_str().unwrap().to_owned();
    let html = get(&app, &next, &cookie).await.text().await.unwrap();
    let at = html.find("data-secret=\"new\">").unwrap() + 18;
    let fresh = &html[at..at + 49];
    for token in [fresh, app.secret.as_str()] {
        let res = app
            .client
            .get(app.url("/api/v1/cover/analytics"))
            .header("Secret-Token", token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let _ = case;
}
