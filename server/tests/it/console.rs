//! The console's security rules over HTTP, on SQLite and (with
//! REBOUND_TEST_DB=postgres) Postgres: sign-in and its throttle, session
//! cookies and expiry, sign-out, CSRF, partner scoping and framing.

use crate::common;

use common::console::{
    PASSWORD, account, act, analytics, case_page, csrf_in, get, session_of, sign_in, signed_in,
};
use common::{create_partner, spawn_app};
use rebound::domain::account::{NewPassword, PartnerRole, Role, SESSION_IDLE_MS};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};

#[tokio::test]
async fn an_operator_signs_in_reads_the_overview_and_signs_out() {
    let app = spawn_app().await;
    account(&app, "ops@rebound.example", Role::Operator).await;
    let res = app.browser.get(app.url("/console")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/console/login");

    let res = sign_in(&app, "OPS@rebound.example ", PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the address is case-blind"
    );
    let set = res.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "plain http in tests: {set}");
    let cookie = session_of(res.headers());
    let res = get(&app, "/console", &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert!(html.contains("회수 현황"), "Korean by default");
    assert!(html.contains("data-figure=\"rate-count\""));
    assert!(html.contains("<svg"), "server-drawn charts");

    // Sign-out without the form's token is refused and changes nothing.
    let res = app
        .browser
        .post(app.url("/console/logout"))
        .header("Cookie", &cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .browser
        .post(app.url("/console/logout"))
        .header("Cookie", &cookie)
        .form::<[(&str, &str); 0]>(&[])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        get(&app, "/console", &cookie).await.status(),
        StatusCode::OK
    );
    let res = app
        .browser
        .post(app.url("/console/logout"))
        .header("Cookie", &cookie)
        .form(&[("csrf", csrf_in(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        res.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let res = get(&app, "/console", &cookie).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the session ended");
}

#[tokio::test]
async fn a_wrong_name_and_a_wrong_password_get_the_same_answer_and_guessing_is_throttled() {
    let app = spawn_app().await;
    account(&app, "ops@rebound.example", Role::Operator).await;
    let wrong_password = sign_in(&app, "ops@rebound.example", "not the password").await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    let a = wrong_password.text().await.unwrap();
    let wrong_name = sign_in(&app, "nobody@rebound.example", "not the password").await;
    assert_eq!(wrong_name.status(), StatusCode::UNAUTHORIZED);
    let b = wrong_name.text().await.unwrap();
    assert!(a.contains("이메일 또는 비밀번호가 올바르지 않습니다."));
    assert_eq!(
        a.replace("ops@rebound.example", "X"),
        b.replace("nobody@rebound.example", "X"),
        "nothing tells the two apart"
    );
    // Five tries per account, then one a minute: even the right password
    // waits.
    for _ in 0..4 {
        assert_eq!(
            sign_in(&app, "ops@rebound.example", "guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = sign_in(&app, "ops@rebound.example", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    assert!(!res.headers().contains_key(SET_COOKIE));
    // Another account is not held back by this one's guesses.
    account(&app, "other@rebound.example", Role::Operator).await;
    assert_eq!(
        sign_in(&app, "other@rebound.example", PASSWORD)
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn one_address_trying_many_accounts_is_throttled() {
    let app = spawn_app().await;
    // Twenty tries from one address (each a different account, under its
    // own limit of five), then the address waits whatever it tries.
    let started = std::time::Instant::now();
    let mut refused = None;
    for i in 0..100 {
        let res = sign_in(&app, &format!("guess{i}@rebound.example"), "guess").await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(res.headers().contains_key("retry-after"));
            refused = Some(i);
            break;
        }
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let refused = refused.expect("the address was throttled");
    // The bucket refills one try per half second while the loop runs.
    let refills = started.elapsed().as_millis() as usize / 500 + 1;
    assert!(
        (20..=20 + refills).contains(&refused),
        "refused at try {refused}"
    );
}

#[tokio::test]
async fn a_session_ends_when_idle_and_when_the_password_changes() {
    let app = spawn_app().await;
    let id = account(&app, "ops@rebound.example", Role::Operator).await;
    let cookie = signed_in(&app, "ops@rebound.example").await;
    app.set_time(app.clock.now_ms() + SESSION_IDLE_MS - 60_000);
    assert_eq!(
        get(&app, "/console", &cookie).await.status(),
        StatusCode::OK
    );
    app.set_time(app.clock.now_ms() + SESSION_IDLE_MS);
    assert_eq!(
        get(&app, "/console", &cookie).await.status(),
        StatusCode::SEE_OTHER,
        "two hours idle"
    );

    let phone = signed_in(&app, "ops@rebound.example").await;
    let laptop = signed_in(&app, "ops@rebound.example").await;
    assert_ne!(phone, laptop, "a new session id at every sign-in");
    app.store
        .set_console_password(
            id,
            &NewPassword::parse("another long password").unwrap().hash(),
            app.clock.now_ms(),
        )
        .await
        .unwrap();
    for cookie in [phone, laptop] {
        assert_eq!(
            get(&app, "/console", &cookie).await.status(),
            StatusCode::SEE_OTHER
        );
    }
}

#[tokio::test]
async fn a_partner_user_changes_the_first_password_and_every_other_sign_in_ends() {
    let app = spawn_app().await;
    account(
        &app,
        "dev@partner.example",
        Role::Partner(app.partner.id, PartnerRole::Admin),
    )
    .await;
    let laptop = signed_in(&app, "dev@partner.example").await;
    let phone = signed_in(&app, "dev@partner.example").await;
    let change = |current: &'static str, new: &'static str, again: &'static str| {
        let (app, laptop) = (&app, &laptop);
        async move {
            common::console::post_form(
                app,
                laptop,
                "/console/account",
                "/console/account",
                &[("current", current), ("new", new), ("again", again)],
            )
            .await
        }
    };
    let new = "a much better passphrase";
    for (current, new, again, says) in [
        (
            PASSWORD,
            "short",
            "short",
            "새 비밀번호는 12자에서 256자입니다.",
        ),
        (
            PASSWORD,
            new,
            "a much better passphrasE",
            "두 칸이 서로 다릅니다",
        ),
        ("not it", new, new, "지금 비밀번호가 올바르지 않습니다."),
    ] {
        let res = change(current, new, again).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains(says), "{says}");
    }
    assert_eq!(
        get(&app, "/console", &phone).await.status(),
        StatusCode::OK,
        "a refused change changes nothing"
    );
    let res = app
        .browser
        .post(app.url("/console/account"))
        .header("Cookie", &laptop)
        .form(&[("current", PASSWORD), ("new", new), ("again", new)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "no CSRF token");
    let res = change(PASSWORD, new, new).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let here = session_of(res.headers());
    assert_ne!(here, laptop, "a new session id for this browser");
    for old in [&laptop, &phone] {
        assert_eq!(
            get(&app, "/console", old).await.status(),
            StatusCode::SEE_OTHER,
            "every earlier session ended"
        );
    }
    let page = get(&app, "/console/account?changed=1", &here)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("비밀번호를 바꿨습니다"));
    // (Two sign-ins and two checks of the current password so far: this
    // is the account's fifth try within the minute, the last it gets.)
    assert_eq!(
        sign_in(&app, "dev@partner.example", new).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn an_operator_turns_off_a_leavers_account_and_its_sessions_end() {
    let app = spawn_app().await;
    account(&app, "ops@rebound.example", Role::Operator).await;
    let leaver = account(
        &app,
        "dev@partner.example",
        Role::Partner(app.partner.id, PartnerRole::Admin),
    )
    .await;
    let ops = signed_in(&app, "ops@rebound.example").await;
    let theirs = signed_in(&app, "dev@partner.example").await;
    let off = |cookie: &str, user: i64| {
        let (app, cookie) = (&app, cookie.to_owned());
        async move {
            common::console::post_form(
                app,
                &cookie,
                "/console",
                "/console/users/disable",
                &[("user", &user.to_string())],
            )
            .await
        }
    };
    assert_eq!(
        off(&theirs, leaver).await.status(),
        StatusCode::NOT_FOUND,
        "a partner user manages no accounts"
    );
    let own = app
        .store
        .console_user_by_email(
            &rebound::domain::account::Email::parse("ops@rebound.example").unwrap(),
        )
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(
        off(&ops, own).await.status(),
        StatusCode::NOT_FOUND,
        "nobody turns themselves off"
    );
    let res = off(&ops, leaver).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        get(&app, "/console", &theirs).await.status(),
        StatusCode::SEE_OTHER,
        "their session ended"
    );
    let refused = sign_in(&app, "dev@partner.example", PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("이메일 또는 비밀번호가 올바르지 않습니다."),
        "the same answer as for no account"
    );
    let page = get(&app, "/console/partners", &ops)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("꺼짐"), "the list says it is off");
}

#[tokio::test]
async fn a_partner_user_sees_its_own_figures_and_no_other_partners() {
    let app = spawn_app().await;
    let (other, _) = create_partner(&app.store, "other", &[common::PARTNER_ORIGIN]).await;
    account(
        &app,
        "dev@partner.example",
        Role::Partner(app.partner.id, PartnerRole::Member),
    )
    .await;
    let cookie = signed_in(&app, "dev@partner.example").await;
    let html = get(&app, "/console", &cookie).await.text().await.unwrap();
    assert!(!html.contains("모든 파트너"), "no partner picker");
    assert!(!html.contains("/console/partners"), "no operator section");
    let res = get(&app, &format!("/console?partner={}", other.id), &cookie).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = get(
        &app,
        &format!("/console?partner={}", app.partner.id),
        &cookie,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn no_other_site_may_frame_the_console_or_post_to_it() {
    let app = spawn_app().await;
    account(&app, "ops@rebound.example", Role::Operator).await;
    let cookie = signed_in(&app, "ops@rebound.example").await;
    for res in [
        app.browser
            .get(app.url("/console/login"))
            .send()
            .await
            .unwrap(),
        get(&app, "/console", &cookie).await,
    ] {
        let csp = res.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(res.headers()["x-frame-options"], "DENY");
    }
    let res = app
        .browser
        .post(app.url("/console/login"))
        .header("Origin", "https://evil.example")
        .form(&[("email", "ops@rebound.example"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(!res.headers().contains_key(SET_COOKIE));
}

#[tokio::test]
async fn an_operator_retries_a_charge_from_the_console_once_however_often_pressed() {
    let app = spawn_app().await;
    let engine = app.engine().await;
    account(&app, "ops@rebound.example", Role::Operator).await;
    let cookie = signed_in(&app, "ops@rebound.example").await;
    let case = common::seed_case(&app, "sandbox_success").await;
    app.run_engine_until(&engine, app.clock.now_ms() + 60_000)
        .await;
    let page = case_page(&app, &cookie, case.case_id).await;
    assert!(page.contains("지금 결제 재시도"), "the action is offered");
    let csrf = csrf_in(&page);
    let press = || {
        app.browser
            .post(app.url(&format!("/console/cases/{}/action", case.case_id)))
            .header("Cookie", &cookie)
            .form(&[("csrf", csrf.as_str()), ("action", "retry_now")])
            .send()
    };
    let (a, b) = tokio::join!(press(), press());
    for res in [a.unwrap(), b.unwrap()] {
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    let charges = app.store.charges(case.case_id).await.unwrap();
    let succeeded: Vec<_> = charges
        .iter()
        .filter(|c| c.status == rebound::domain::case::ChargeStatus::Succeeded)
        .collect();
    assert_eq!(succeeded.len(), 1, "one charge: {charges:?}");
    assert_eq!(
        succeeded[0].source,
        rebound::domain::case::ChargeSource::Console
    );
    assert_eq!(
        app.store
            .case_and_subscription_status(case.case_id)
            .await
            .unwrap()
            .0,
        "RECOVERED"
    );
    assert_eq!(
        app.notices_of("payment.completed").await.len(),
        1,
        "the partner is told once, as for any charge"
    );
    // The timeline shows the stage, the charge, the notices and who acted.
    let page = case_page(&app, &cookie, case.case_id).await;
    for seen in [
        "단계 1",
        "결제 시도",
        "파트너 알림",
        "콘솔 작업 · 지금 결제 재시도",
        "ops@rebound.example",
    ] {
        assert!(page.contains(seen), "{seen}");
    }
    // The figures count it as the console's.
    let report = analytics(&app).await;
    assert_eq!(report["totals"]["recoveredBy"]["console"]["count"], 1);
}

#[tokio::test]
async fn paused_messages_wait_until_resumed() {
    let app = spawn_app().await;
    let engine = app.message_engine().await;
    account(&app, "ops@rebound.example", Role::Operator).await;
    let cookie = signed_in(&app, "ops@rebound.example").await;
    let case = common::seed_case(&app, "sandbox_success").await;
    app.run_engine_until(&engine, app.clock.now_ms() + 60_000)
        .await;
    assert_eq!(app.messages(case.case_id).await.len(), 1);
    assert_eq!(
        act(&app, &cookie, case.case_id, "pause_messages")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    app.advance_days(&engine, 7).await;
    assert_eq!(
        app.messages(case.case_id).await.len(),
        1,
        "nothing went while paused"
    );
    // A week later the session is long gone: sign in again.
    let cookie = signed_in(&app, "ops@rebound.example").await;
    assert_eq!(
        act(&app, &cookie, case.case_id, "resume_messages")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    app.advance_days(&engine, 1).await;
    assert_eq!(
        app.messages(case.case_id).await.len(),
        2,
        "the stage that fell due while paused goes at once"
    );
}

/// Where a case action's redirect says it came out.
fn result_of(res: &reqwest::Response) -> String {
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = res.headers()[LOCATION].to_str().unwrap();
    to.rsplit("result=").next().unwrap().to_owned()
}

#[tokio::test]
async fn an_operator_resends_the_current_stage_once_however_often_pressed() {
    let app = spawn_app().await;
    let engine = app.message_engine().await;
    account(&app, "ops@rebound.example", Role::Operator).await;
    let cookie = signed_in(&app, "ops@rebound.example").await;
    let case = common::seed_case(&app, "sandbox_success").await;
    let page = case_page(&app, &cookie, case.case_id).await;
    assert!(
        !page.contains("resend_stage"),
        "nothing went out yet, so nothing is offered to resend"
    );
    assert_eq!(
        result_of(&act(&app, &cookie, case.case_id, "resend_stage").await),
        "not_allowed",
        "and a forged press is refused"
    );
    engine.run_due(100).await.unwrap();
    let first = app.messages(case.case_id).await;
    assert_eq!(first.len(), 1);
    assert_eq!(
        result_of(&act(&app, &cookie, case.case_id, "resend_stage").await),
        "too_soon",
        "once a day per stage, counted from its latest send"
    );
    app.set_time(app.clock.now_ms() + rebound::store::RESEND_EVERY_MS);
    // A day on, the operator signs in again (sessions idle out in hours).
    let cookie = signed_in(&app, "ops@rebound.example").await;
    // Pressed twice before the engine's next pass: one resend.
    assert_eq!(
        result_of(&act(&app, &cookie, case.case_id, "resend_stage").await),
        "queued"
    );
    assert_eq!(
        result_of(&act(&app, &cookie, case.case_id, "resend_stage").await),
        "already_waiting"
    );
    app.run_engine_until(&engine, app.clock.now_ms() + 60_000)
        .await;
    let after = app.messages(case.case_id).await;
    assert_eq!(
        after,
        [first[0].clone(), first[0].clone()],
        "stage 1 again, the same text and link"
    );
    app.run_engine_until(&engine, app.clock.now_ms() + 60_000)
        .await;
    assert_eq!(app.messages(case.case_id).await.len(), 2, "sent once");
    // The scenario goes on as planned: stage 2 three days after stage 1.
    app.advance_days(&engine, 3).await;
    let stages: Vec<i64> = app
        .messages(case.case_id)
        .await
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(stages, [1, 1, 2]);
    assert_eq!(
        app.notices_of("stage.sent").await.len(),
        2,
        "the partner hears of each stage once; a resend is no new stage"
    );
    let cookie = signed_in(&app, "ops@rebound.example").await;
    let page = case_page(&app, &cookie, case.case_id).await;
    for seen in [
        "단계 1 · 카카오 알림톡 · 다시 보냄",
        "발송됨 · ops@rebound.example",
        "콘솔 작업 · 현재 단계 메시지 다시 보내기",
        "queued stage 1",
        "already_waiting",
    ] {
        assert!(page.contains(seen), "{seen}");
    }
    let report = analytics(&app).await;
    assert_eq!(
        report["totals"]["messages"]["alimtalk"]["sent"], 3,
        "a resend is a message sent"
    );
}

#[tokio::test]
async fn a_resend_asked_for_before_the_customer_paid_is_not_sent() {
    let app = spawn_app().await;
    let engine = app.message_engine().await;
    account(&app, "ops@rebound.example", Role::Operator).await;
    let case = common::seed_case(&app, "sandbox_success").await;
    // Stage 1 goes; a day later (once a day per stage) it may be resent.
    app.run_engine_until(
        &engine,
        app.clock.now_ms() + rebound::store::RESEND_EVERY_MS + 60_000,
    )
    .await;
    let cookie = signed_in(&app, "ops@rebound.example").await;
    assert_eq!(
        result_of(&act(&app, &cookie, case.case_id, "resend_stage").await),
        "queued"
    );
    app.pay(&case.token).await;
    app.run_engine_until(&engine, app.clock.now_ms() + 60_000)
        .await;
    assert_eq!(
        app.messages(case.case_id).await.len(),
        1,
        "no reminder to pay after paying"
    );
    let page = case_page(&app, &cookie, case.case_id).await;
    assert!(
        page.contains("건너뜀 (케이스 종료) · ops@rebound.example"),
        "{page}"
    );
    assert!(
        !page.contains("resend_stage\""),
        "a recovered case offers no resend"
    );
}

#[tokio::test]
async fn a_partner_user_cannot_see_or_act_on_another_partners_case() {
    let app = spawn_app().await;
    let (other, _) = create_partner(&app.store, "other", &[common::PARTNER_ORIGIN]).await;
    let theirs = common::seed_case_for(&app, other.id, "their-order").await;
    let ours = common::seed_case(&app, "sandbox_success").await;
    account(
        &app,
        "dev@partner.example",
        Role::Partner(app.partner.id, PartnerRole::Admin),
    )
    .await;
    let cookie = signed_in(&app, "dev@partner.example").await;
    assert_eq!(
        get(&app, &format!("/console/cases/{theirs}"), &cookie)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let list = get(&app, "/console/cases", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains(&format!("/console/cases/{}", ours.case_id)));
    assert!(!list.contains(&format!("/console/cases/{theirs}\"")));
    // Acting on it with a valid token of our own is a 404 and changes nothing.
    let html = get(&app, &format!("/console/cases/{}", ours.case_id), &cookie)
        .await
        .text()
        .await
        .unwrap();
    let res = app
        .browser
        .post(app.url(&format!("/console/cases/{theirs}/action")))
        .header("Cookie", &cookie)
        .form(&[("csrf", csrf_in(&html).as_str()), ("action", "cancel")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Our own, without the token: 403, and the case stays open.
    let res = app
        .browser
        .post(app.url(&format!("/console/cases/{}/action", ours.case_id)))
        .header("Cookie", &cookie)
        .form(&[("action", "cancel")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    for id in [theirs, ours.case_id] {
        assert_eq!(
            app.store.case_and_subscription_status(id).await.unwrap().0,
            "OPEN"
        );
    }
    // With it, the partner's own case is canceled, as the API would.
    let res = act(&app, &cookie, ours.case_id, "cancel").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.store
            .case_and_subscription_status(ours.case_id)
            .await
            .unwrap()
            .0,
        "CANCELED"
    );
}

/// Issue 24, item 7: the Korean case page says every status, channel,
/// decline and reason in words; the stored codes stay beside them, small.
#[tokio::test]
async fn the_korean_case_page_says_statuses_in_words_with_codes_only_small() {
    let app = spawn_app().await;
    let engine = app.message_engine().await;
    account(&app, "ops@rebound.example", Role::Operator).await;
    let cookie = signed_in(&app, "ops@rebound.example").await;
    let case = common::seed_case(&app, "sandbox_expired_card").await;
    engine.run_due(100).await.unwrap();
    act(&app, &cookie, case.case_id, "retry_now").await;
    let clock: rebound::clock::SharedClock = app.clock.clone();
    rebound::notify::Notifier::new(app.store.clone(), clock, true)
        .run_due(100)
        .await
        .unwrap();
    let page = case_page(&app, &cookie, case.case_id).await;
    let codes = page.matches("<small class=\"code\">").count();
    assert!(codes >= 6, "the codes stay, small: {codes}");
    // What a reader sees once the small codes and the markup are gone.
    let mut text = String::new();
    let mut rest = page.as_str();
    while let Some(at) = rest.find("<small class=\"code\">") {
        text.push_str(&rest[..at]);
        rest = &rest[at..];
        rest = &rest[rest.find("</small>").unwrap() + 8..];
    }
    text.push_str(rest);
    let mut seen = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                seen.push(' ');
            }
            c if !in_tag => seen.push(c),
            _ => {}
        }
    }
    for code in [
        "ALIMTALK",
        "SENT",
        "FAILED",
        "NO_ENDPOINT",
        "PAYMENT_FAILURE",
        "INVALID_CARD_EXPIRATION",
        "retry_now",
        "stage.sent",
    ] {
        assert!(!seen.contains(code), "{code} shown as words' stand-in");
    }
    for words in [
        "카카오 알림톡",
        "발송됨",
        "알림 URL 없음",
        "결제 실패",
        "거절됨",
        "영구 거절",
        "지금 결제 재시도",
    ] {
        assert!(seen.contains(words), "{words}");
    }
}
