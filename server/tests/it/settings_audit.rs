//! Issue 24, item 1: a partner's settings can send customers (with their
//! recovery token) or money elsewhere. Only its admins change them, with
//! the password asked again; every change is recorded and shown, and told
//! to the partner, at the notify URL it replaced too; a new secret is shown
//! once after a redirect, so a reload rotates nothing.

use crate::common;

use common::console::{PASSWORD, account, get, post_form, signed_in};
use common::receiver::Receiver;
use common::{PARTNER_ORIGIN, TestApp};
use rebound::clock::SharedClock;
use rebound::domain::account::{PartnerRole, Role};
use rebound::domain::settings::Setting;
use rebound::notify::Notifier;
use reqwest::StatusCode;
use serde_json::Value;

const SETTINGS: &str = "/console/settings";

async fn save_urls(
    app: &TestApp,
    cookie: &str,
    notify_url: &str,
    password: &str,
) -> reqwest::Response {
    let origins = app.partner.origins.to_stored().replace(' ', "\n");
    post_form(
        app,
        cookie,
        SETTINGS,
        SETTINGS,
        &[
            ("do", "urls"),
            ("origins", &origins),
            ("recovery_url", "https://partner.example/pay"),
            ("notify_url", notify_url),
            ("current_password", password),
        ],
    )
    .await
}

fn settings_notices(receiver: &Receiver) -> Vec<(bool, Value)> {
    receiver
        .state
        .lock()
        .unwrap()
        .deliveries
        .iter()
        .map(|d| {
            (
                d.verified,
                serde_json::from_slice::<Value>(&d.body).unwrap(),
            )
        })
        .filter(|(_, body)| body["noti_type"] == "settings.changed")
        .collect()
}

#[tokio::test]
async fn a_member_reads_the_settings_and_only_an_admin_changes_them_with_the_password() {
    let app = TestApp::builder().spawn().await;
    let partner = Role::Partner(app.partner.id, PartnerRole::Member);
    account(&app, "member@partner.example", partner).await;
    let member = signed_in(&app, "member@partner.example").await;
    let page = get(&app, SETTINGS, &member).await.text().await.unwrap();
    assert!(page.contains("관리자만"), "told who may change them");
    assert!(
        !page.contains("name=\"current_password\""),
        "no form to change anything"
    );
    // A hand-made post is refused anyway, and changes nothing.
    for fields in [
        vec![("do", "urls"), ("origins", "https://evil.example")],
        vec![("do", "rotate_token")],
        vec![("do", "gateway_remove"), ("pg", "TOSS")],
    ] {
        let mut fields = fields;
        fields.push(("current_password", PASSWORD));
        let res = post_form(&app, &member, "/console/cases", SETTINGS, &fields).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{fields:?}");
    }
    let res = post_form(
        &app,
        &member,
        "/console/cases",
        "/console/scenario",
        &[("intent", "save")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "the scenario too");
    assert_eq!(
        get(&app, "/console/partners", &member).await.status(),
        StatusCode::NOT_FOUND,
        "members manage no users"
    );
    let urls = app.store.partner_urls(app.partner.id).await.unwrap();
    assert_eq!(urls.origins, app.partner.origins.to_stored());
    let recorded = app
        .store
        .settings_history(app.partner.id, 10)
        .await
        .unwrap();
    assert!(
        recorded.iter().all(|h| h.change.setting == Setting::User),
        "nothing but the member's own account: {recorded:?}"
    );

    // An admin: the wrong password changes nothing; the right one does.
    account(
        &app,
        "admin@partner.example",
        Role::Partner(app.partner.id, PartnerRole::Admin),
    )
    .await;
    let admin = signed_in(&app, "admin@partner.example").await;
    let res = save_urls(
        &app,
        &admin,
        "https://partner.example/hook",
        "a wrong password!",
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("비밀번호가 맞지 않습니다")
    );
    assert_eq!(app.store.partner_urls(app.partner.id).await.unwrap(), urls);
    let res = save_urls(&app, &admin, "https://partner.example/hook", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let saved = app.store.partner_urls(app.partner.id).await.unwrap();
    assert_eq!(
        saved.notify_url.as_deref(),
        Some("https://partner.example/hook")
    );

    // The admin manages the partner's users: a member made here is one.
    let users = get(&app, "/console/partners", &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(users.contains("member@partner.example"));
    assert!(!users.contains("파트너 만들기"), "no partner creation");
    let res = post_form(
        &app,
        &admin,
        "/console/partners",
        "/console/users",
        &[
            ("email", "new@partner.example"),
            ("password", "a long first password"),
            ("partner", &app.partner.id.to_string()),
            ("role", "member"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let made = app
        .store
        .console_user_by_email(
            &rebound::domain::account::Email::parse("new@partner.example").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        made.role,
        Role::Partner(app.partner.id, PartnerRole::Member)
    );
    // But no operator, and no user of another partner.
    let (other, _) = common::create_partner(&app.store, "other", &[PARTNER_ORIGIN]).await;
    for partner in [String::new(), other.id.to_string()] {
        let res = post_form(
            &app,
            &admin,
            "/console/partners",
            "/console/users",
            &[
                ("email", "sneaky@partner.example"),
                ("password", "a long first password"),
                ("partner", &partner),
                ("role", "admin"),
            ],
        )
        .await;
        assert!(
            [StatusCode::NOT_FOUND, StatusCode::FORBIDDEN].contains(&res.status()),
            "{partner:?}: {}",
            res.status()
        );
    }

    let history = app
        .store
        .settings_history(app.partner.id, 10)
        .await
        .unwrap();
    let settings: Vec<Setting> = history.iter().take(3).map(|h| h.change.setting).collect();
    assert_eq!(
        settings,
        vec![Setting::User, Setting::NotifyUrl, Setting::RecoveryUrl],
        "newest first, one row per setting that changed"
    );
    assert!(
        history
            .iter()
            .take(3)
            .all(|h| h.changed_by == "admin@partner.example")
    );
    assert_eq!(
        history[0].change.new.as_deref(),
        Some("new@partner.example (member)")
    );
    let page = get(&app, SETTINGS, &admin).await.text().await.unwrap();
    assert!(page.contains("data-settings-history"));
    assert!(page.contains("https://partner.example/hook"));
}

#[tokio::test]
async fn a_new_notify_url_is_told_to_the_old_one_and_a_reload_rotates_nothing() {
    let app = TestApp::builder()
        .setting("REBOUND_NOTIFY_ALLOW_PRIVATE", "1")
        .spawn()
        .await;
    let secret = app
        .store
        .webhook_secret(app.partner.id, &rebound::notify::new_secret())
        .await
        .unwrap();
    let old = Receiver::start(&secret).await;
    let new = Receiver::start(&secret).await;
    app.store
        .set_partner_notify_url(app.partner.id, Some(&old.url))
        .await
        .unwrap();
    account(&app, "ops@rebound.example", Role::Operator).await;
    let ops = signed_in(&app, "ops@rebound.example").await;
    let page = format!("{SETTINGS}?partner={}", app.partner.id);
    let origins = app.partner.origins.to_stored().replace(' ', "\n");
    let res = post_form(
        &app,
        &ops,
        &page,
        SETTINGS,
        &[
            ("partner", &app.partner.id.to_string()),
            ("do", "urls"),
            ("origins", &origins),
            ("notify_url", &new.url),
            ("current_password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let clock: SharedClock = app.clock.clone();
    Notifier::new(app.store.clone(), clock, true)
        .run_due(10)
        .await
        .unwrap();
    for (who, receiver) in [("the old URL", &old), ("the new URL", &new)] {
        let notices = settings_notices(receiver);
        assert_eq!(notices.len(), 1, "{who}");
        let (verified, body) = &notices[0];
        assert!(verified, "{who}: signed with the partner's secret");
        let change = &body["data"]["changes"][0];
        assert_eq!(change["setting"], "notify_url", "{who}");
        assert_eq!(change["old"], old.url.as_str());
        assert_eq!(change["new"], new.url.as_str());
        assert_eq!(body["data"]["changed_by"], "ops@rebound.example");
    }

    // A rotation answers with a redirect; the page after it shows the new
    // token once; loading it again shows none and rotates nothing.
    let res = post_form(
        &app,
        &ops,
        &page,
        SETTINGS,
        &[
            ("partner", &app.partner.id.to_string()),
            ("do", "rotate_token"),
            ("grace_hours", "0"),
            ("current_password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let next = res.headers()["location"].to_str().unwrap().to_owned();
    let shown = get(&app, &next, &ops).await.text().await.unwrap();
    let at = shown.find("data-secret=\"new\">").expect("shown once") + 18;
    let token = shown[at..at + 49].to_owned();
    let again = get(&app, &next, &ops).await.text().await.unwrap();
    assert!(!again.contains("data-secret"), "never twice");
    let res = app
        .client
        .get(app.url("/api/v1/cover/analytics"))
        .header("Secret-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the token shown is the one that works"
    );
    let rotations = app
        .texts("SELECT new_value FROM settings_changes WHERE setting = 'secret_token'")
        .await;
    assert_eq!(
        rotations,
        vec![Some("(rotated)".to_owned())],
        "one rotation"
    );
    // No copy of the token at rest: not in the history, the notices or
    // the session's kept flash.
    for query in [
        "SELECT COALESCE(new_value, '') FROM settings_changes",
        "SELECT body FROM events",
        "SELECT COALESCE(flash, '') FROM console_sessions",
    ] {
        assert!(
            app.texts(query)
                .await
                .iter()
                .flatten()
                .all(|v| !v.contains(&token)),
            "{query}"
        );
    }
}
