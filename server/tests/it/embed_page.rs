//! The recovery pages as the partner's iframe loads them, and every action
//! as the browser performs it: a form post answered with `303`, then the
//! result page, whose outbox holds the messages for the partner page.

use crate::common;

use app::model::Outbox;
use common::{OTHER_PARTNER_ORIGIN, PARTNER_ORIGIN, TestApp, seed_case, spawn_app};
use protocol::Action;
use rebound::domain::case::ChargeSource;
use rebound::gateway::sandbox::{KEY_EXPIRED_CARD, KEY_INSUFFICIENT_FUNDS, KEY_NETWORK_ERROR};
use reqwest::StatusCode;

fn query(token: &str, origin: &str) -> Vec<(String, String)> {
    vec![
        ("token".into(), token.into()),
        ("origin".into(), origin.into()),
        ("embedId".into(), "e-1".into()),
    ]
}

fn page_url(app: &TestApp, path: &str, token: &str, origin: &str) -> String {
    app.url(&format!(
        "{path}?{}",
        serde_urlencoded::to_string(query(token, origin)).unwrap()
    ))
}

async fn get_html(app: &TestApp, url: String) -> String {
    app.client
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The messages a page posts, read from its `#rb-outbox` as the inline
/// script does.
fn outbox(html: &str) -> Outbox {
    let start = html
        .find("<script type=\"application/json\" id=\"rb-outbox\">")
        .expect("page has an outbox");
    let body = &html[start..];
    let json = &body[body.find('>').unwrap() + 1..body.find("</script>").unwrap()];
    serde_json::from_str(json).expect("outbox JSON")
}

fn actions(outbox: &Outbox) -> Vec<Action> {
    outbox.messages.iter().map(|m| m.action.clone()).collect()
}

/// Posts a page form as a browser does; the `303`'s Location.
async fn submit(
    app: &TestApp,
    action: &str,
    token: &str,
    origin: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut form = query(token, origin);
    form.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let res = app
        .browser
        .post(app.url(action))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{action}");
    location(&res)
}

fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_owned()
}

fn path_of(location: &str) -> &str {
    location.split('?').next().unwrap()
}

/// Follows a relative Location; the page's HTML.
async fn follow(app: &TestApp, location: &str) -> String {
    get_html(app, app.url(location)).await
}

#[tokio::test]
async fn renders_the_case_with_framing_headers_and_every_action() {
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    let res = app
        .client
        .get(page_url(
            &app,
            "/embed/recovery",
            &case.token,
            PARTNER_ORIGIN,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers();
    assert_eq!(
        h["content-security-policy"],
        format!("frame-ancestors {PARTNER_ORIGIN} {OTHER_PARTNER_ORIGIN}").as_str()
    );
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let html = res.text().await.unwrap();
    assert!(html.contains("<html lang=\"ko\""));
    assert!(html.contains("프리미엄 멤버십"), "product name");
    assert!(
        html.contains("src=\"https://cdn.example.com/membership.png\""),
        "product image"
    );
    assert!(html.contains("10,000원"), "amount in KRW");
    assert!(html.contains("2026-11-22 13:05"), "failed date in KST");
    for action in [
        "지금 결제하기",
        "결제 수단 변경",
        "결제일 변경",
        "나중에 알림 받기 (3회 남음)",
        "홈으로",
    ] {
        assert!(html.contains(action), "{action}");
    }
    assert!(
        html.contains("action=\"/embed/recovery/action/pay\""),
        "a real form post"
    );
    assert!(html.contains("테스트 모드"), "sandbox banner");
    assert!(
        !html.contains("sandbox_success"),
        "the billing key never reaches the page"
    );
    let outbox = outbox(&html);
    assert_eq!(outbox.origin, PARTNER_ORIGIN);
    assert_eq!(outbox.embed_id.as_deref(), Some("e-1"));
    assert_eq!(actions(&outbox), [Action::Ready]);
}

#[tokio::test]
async fn english_with_lang_en() {
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    let url = format!(
        "{}&lang=en",
        page_url(&app, "/embed/recovery", &case.token, PARTNER_ORIGIN)
    );
    let html = get_html(&app, url).await;
    assert!(html.contains("<html lang=\"en\""));
    assert!(html.contains("Pay now"));
    assert!(html.contains("₩10,000"));
    assert!(html.contains("lang=en"), "links keep the language");
}

#[tokio::test]
async fn unknown_token_gets_a_clear_page() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(page_url(
            &app,
            "/embed/recovery",
            "no-such-token",
            PARTNER_ORIGIN,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-security-policy"],
        "frame-ancestors *"
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("data-testid=\"page-error\""));
    assert!(html.contains("링크를 확인할 수 없어요"));
    assert!(!html.contains("지금 결제하기"));
    assert!(
        !html.contains("id=\"rb-outbox\""),
        "nothing is posted for an unknown case"
    );

    let html = get_html(&app, app.url("/embed/recovery")).await;
    assert!(html.contains("링크를 확인할 수 없어요"), "no token at all");
    let loc = submit(
        &app,
        "/embed/recovery/action/pay",
        "no-such-token",
        PARTNER_ORIGIN,
        &[],
    )
    .await;
    assert!(follow(&app, &loc).await.contains("링크를 확인할 수 없어요"));
}

#[tokio::test]
async fn the_page_loads_its_data_on_the_server_with_no_route_for_it() {
    // An HTTP route for page data would hand a case's view to anyone
    // with a token, outside the page's headers; nothing calls one.
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    let res = app
        .client
        .post(app.url("/embed/fn/load"))
        .form(&[("req[embed][token]", case.token.as_str())])
        .send()
        .await
        .unwrap();
    assert!(
        matches!(
            res.status(),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        ),
        "{}",
        res.status()
    );
    let html = get_html(
        &app,
        page_url(&app, "/embed/recovery", &case.token, PARTNER_ORIGIN),
    )
    .await;
    assert!(
        html.contains("지금 결제하기"),
        "the page still renders its case"
    );
}

#[tokio::test]
async fn an_unregistered_origin_gets_no_page_and_no_charge() {
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    let evil = "https://evil.example";
    let html = get_html(&app, page_url(&app, "/embed/recovery", &case.token, evil)).await;
    assert!(html.contains("이 페이지를 열 수 없어요"));
    assert!(!html.contains("10,000원"));
    // No card window for a foreign origin either: no ticket on its method
    // page, and its status question lands on the explanation.
    let method = get_html(
        &app,
        page_url(&app, "/embed/recovery/method", &case.token, evil),
    )
    .await;
    assert!(!method.contains("/card?t="));
    let status: serde_json::Value = app
        .client
        .get(app.url("/embed/recovery/method/status"))
        .query(&[
            ("token", case.token.as_str()),
            ("origin", evil),
            ("window", "x"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(path_of(status["next"].as_str().unwrap()), "/embed/recovery");
    for action in ["pay", "remind", "date"] {
        let loc = submit(
            &app,
            &format!("/embed/recovery/action/{action}"),
            &case.token,
            evil,
            &[],
        )
        .await;
        assert_eq!(path_of(&loc), "/embed/recovery", "{action}");
        assert!(
            follow(&app, &loc)
                .await
                .contains("이 페이지를 열 수 없어요")
        );
    }
    assert_eq!(app.gateway.charged_count(), 0);
}

#[tokio::test]
async fn paying_posts_payment_complete_to_the_checked_origin_and_closes_the_case() {
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    let loc = submit(
        &app,
        "/embed/recovery/action/pay",
        &case.token,
        OTHER_PARTNER_ORIGIN,
        &[],
    )
    .await;
    assert_eq!(path_of(&loc), "/embed/recovery/paid");
    let html = follow(&app, &loc).await;
    assert!(html.contains("결제가 완료되었어요"));
    let outbox = outbox(&html);
    assert_eq!(outbox.origin, OTHER_PARTNER_ORIGIN);
    assert!(outbox.messages.iter().all(|m| m.embed_id() == Some("e-1")));
    assert_eq!(
        actions(&outbox),
        [
            Action::Ready,
            Action::PaymentComplete {
                payment_info: "신한카드 1234*".into(),
                payment_date: "2026-11-22 13:05:00".into(),
                token: case.token.clone(),
                order_id: case.partner_order_id.clone(),
            }
        ]
    );
    assert_eq!(app.store.successful_charges(case.case_id).await.unwrap(), 1);

    // Paying again (second tab, retry) lands on the same page, charges nothing.
    let again = submit(
        &app,
        "/embed/recovery/action/pay",
        &case.token,
        PARTNER_ORIGIN,
        &[],
    )
    .await;
    assert_eq!(path_of(&again), "/embed/recovery/paid");
    assert_eq!(app.gateway.charged_count(), 1);

    // The main page now says it is paid instead of offering to pay, and the
    // partner's API shows the order paid.
    let html = get_html(
        &app,
        page_url(&app, "/embed/recovery", &case.token, PARTNER_ORIGIN),
    )
    .await;
    assert!(html.contains("이미 결제가 완료되었어요"));
    assert!(!html.contains("지금 결제하기"));
    let order: serde_json::Value = app
        .get(&format!("/api/v1/cover/order/{}", case.order_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(order["status"], "PAID");
    assert!(order["retryDate"].is_null());
}

#[tokio::test]
async fn twelve_concurrent_pay_requests_charge_once_and_all_land_on_the_outcome() {
    // Twelve: as many actions as one link may send at once (limits.rs).
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    let locations = futures::future::join_all((0..12).map(|_| {
        submit(
            &app,
            "/embed/recovery/action/pay",
            &case.token,
            PARTNER_ORIGIN,
            &[],
        )
    }))
    .await;
    for loc in &locations {
        assert_eq!(path_of(loc), "/embed/recovery/paid", "{locations:?}");
    }
    assert_eq!(app.gateway.charged_count(), 1);
    assert_eq!(app.store.successful_charges(case.case_id).await.unwrap(), 1);
    assert_eq!(
        app.store.charge_statuses(case.case_id).await.unwrap(),
        ["SUCCEEDED"]
    );
}

#[tokio::test]
async fn a_declined_card_posts_payment_failed_and_leaves_the_case_open() {
    let app = spawn_app().await;
    let case = seed_case(&app, KEY_INSUFFICIENT_FUNDS).await;
    let loc = submit(
        &app,
        "/embed/recovery/action/pay",
        &case.token,
        PARTNER_ORIGIN,
        &[],
    )
    .await;
    assert_eq!(path_of(&loc), "/embed/recovery/failed");
    let html = follow(&app, &loc).await;
    assert!(html.contains("결제에 실패했어요"));
    assert!(
        html.contains("다른 결제 수단으로 결제"),
        "a way to try another method"
    );
    assert_eq!(
        actions(&outbox(&html)),
        [
            Action::Ready,
            Action::PaymentFailed {
                reason: "한도초과".into(),
                token: case.token.clone()
            }
        ]
    );
    let html = get_html(
        &app,
        page_url(&app, "/embed/recovery", &case.token, PARTNER_ORIGIN),
    )
    .await;
    assert!(html.contains("지금 결제하기"), "the customer can try again");
    assert_eq!(app.store.successful_charges(case.case_id).await.unwrap(), 0);
}

#[tokio::test]
async fn a_result_page_for_something_that_did_not_happen_shows_the_main_page() {
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    for path in [
        "/embed/recovery/paid",
        "/embed/recovery/failed",
        "/embed/recovery/date-changed",
        "/embed/recovery/reminded",
    ] {
        let html = get_html(&app, page_url(&app, path, &case.token, PARTNER_ORIGIN)).await;
        assert!(html.contains("data-page=\"main\""), "{path}");
        assert_eq!(actions(&outbox(&html)), [Action::Ready], "{path}");
    }
    let url = format!(
        "{}&changed=method",
        page_url(&app, "/embed/recovery/paid", &case.token, PARTNER_ORIGIN)
    );
    assert_eq!(
        actions(&outbox(&get_html(&app, url).await)),
        [Action::Ready]
    );
}

#[tokio::test]
async fn a_customer_may_move_the_payment_date_as_often_as_the_scenario_allows() {
    // The default scenario allows three moves; each one puts the next
    // message and charge off, so a fourth is refused and writes nothing.
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    let main = page_url(&app, "/embed/recovery", &case.token, PARTNER_ORIGIN);
    for date in ["2026-11-25", "2026-11-27", "2026-11-29"] {
        assert!(
            get_html(&app, main.clone())
                .await
                .contains("/embed/recovery/date?")
        );
        let loc = submit(
            &app,
            "/embed/recovery/action/date",
            &case.token,
            PARTNER_ORIGIN,
            &[("selectedDate", date)],
        )
        .await;
        assert_eq!(path_of(&loc), "/embed/recovery/date-changed", "{date}");
    }
    let due = app.store.next_stage_at(case.case_id).await.unwrap();
    assert!(
        !get_html(&app, main).await.contains("/embed/recovery/date?"),
        "the page no longer offers a date change"
    );
    let loc = submit(
        &app,
        "/embed/recovery/action/date",
        &case.token,
        PARTNER_ORIGIN,
        &[("selectedDate", "2026-12-05")],
    )
    .await;
    assert_eq!(path_of(&loc), "/embed/recovery");
    assert!(loc.contains("notice=date-limit"), "{loc}");
    assert!(
        follow(&app, &loc)
            .await
            .contains("결제일은 더 바꿀 수 없어요")
    );
    assert_eq!(app.store.next_stage_at(case.case_id).await.unwrap(), due);
    assert_eq!(
        app.notices_of("payment_date.changed").await.len(),
        3,
        "one notice per move, none for the refused one"
    );
}

#[tokio::test]
async fn changing_the_date_reschedules_the_case_and_posts_change_date() {
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    let html = get_html(
        &app,
        page_url(&app, "/embed/recovery/date", &case.token, PARTNER_ORIGIN),
    )
    .await;
    // Now is 2026-11-22 13:05 in Seoul: tomorrow through 14 days ahead.
    assert!(html.contains("min=\"2026-11-23\""));
    assert!(html.contains("max=\"2026-12-06\""));

    let before = app.store.next_stage_at(case.case_id).await.unwrap();
    for bad in ["2026-11-22", "2026-12-07", "2026-02-30", "next week", ""] {
        let loc = submit(
            &app,
            "/embed/recovery/action/date",
            &case.token,
            PARTNER_ORIGIN,
            &[("selectedDate", bad)],
        )
        .await;
        assert_eq!(path_of(&loc), "/embed/recovery/date", "{bad:?}");
        assert!(loc.contains("notice=bad-date"));
        assert!(follow(&app, &loc).await.contains("고를 수 없는 날짜예요"));
    }
    assert_eq!(
        app.store.next_stage_at(case.case_id).await.unwrap(),
        before,
        "nothing written"
    );

    let loc = submit(
        &app,
        "/embed/recovery/action/date",
        &case.token,
        PARTNER_ORIGIN,
        &[("selectedDate", "2026-11-29")],
    )
    .await;
    assert_eq!(path_of(&loc), "/embed/recovery/date-changed");
    let html = follow(&app, &loc).await;
    assert!(html.contains("2026-11-29에 결제를 다시 시도해요"));
    assert_eq!(
        actions(&outbox(&html)),
        [
            Action::Ready,
            Action::ChangeDate {
                order_id: case.partner_order_id.clone(),
                selected_date: "2026-11-29".into()
            }
        ]
    );
    // The next stage waits for the new date (10:00 in Seoul), and the API's
    // retryDate says so.
    let due = app
        .store
        .next_stage_at(case.case_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        due,
        chrono::DateTime::parse_from_rfc3339("2026-11-29T10:00:00+09:00")
            .unwrap()
            .timestamp_millis()
    );
    let order: serde_json::Value = app
        .get(&format!("/api/v1/cover/order/{}", case.order_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(order["retryDate"], "2026-11-29T01:00:00Z");
}

#[tokio::test]
async fn remind_later_works_three_times_then_says_no() {
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    for left in [2, 1, 0] {
        let loc = submit(
            &app,
            "/embed/recovery/action/remind",
            &case.token,
            PARTNER_ORIGIN,
            &[],
        )
        .await;
        assert_eq!(path_of(&loc), "/embed/recovery/reminded");
        let html = follow(&app, &loc).await;
        assert!(html.contains(&format!("{left}회 남음")), "{left}");
        assert_eq!(actions(&outbox(&html)), [Action::Ready]);
    }
    let due = app
        .store
        .next_stage_at(case.case_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        due,
        app.clock.now_ms() + 24 * 3600 * 1000,
        "postponed by a day"
    );
    let loc = submit(
        &app,
        "/embed/recovery/action/remind",
        &case.token,
        PARTNER_ORIGIN,
        &[],
    )
    .await;
    assert_eq!(path_of(&loc), "/embed/recovery");
    assert!(loc.contains("notice=remind-limit"));
    let html = follow(&app, &loc).await;
    assert!(html.contains("더 미룰 수 없어요"));
    assert!(!html.contains("나중에 알림 받기"), "the button is gone");
}

#[tokio::test]
async fn a_charge_tells_the_card_company_whose_subscription_it_pays() {
    // Whoever's card pays sees, in the card company's notice, the product
    // and the masked name of the customer whose debt it is.
    let app = TestApp::builder().scripted_gateway().spawn().await;
    let case = seed_case(&app, "card").await;
    assert!(app.pay(&case.token).await.contains("/paid"));
    let sent = app.scripted().received();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].order_name, "프리미엄 멤버십 (김*동님)");
}

/// The whole change-method flow: the method page's button opens our card
/// page top-level (never inside the frame), which runs the sandbox's card
/// window and takes its return. The page the frame shows next (the server
/// tells it), and the PG's return address.
async fn register_card(app: &TestApp, token: &str, outcome: &str) -> (String, String) {
    let card = app.card_window(token).await;
    assert_eq!(
        app.card_status(token, &card.window_id).await["state"],
        "waiting",
        "not opened yet"
    );
    let res = app.browser.get(app.url(&card.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["content-security-policy"],
        "frame-ancestors 'none'",
        "the card page is never framed"
    );
    let window = location(&res);
    assert_eq!(path_of(&window), "/embed/sandbox/billing-auth");
    assert!(
        !window.contains(token),
        "the recovery token stays out of the top-level window and the PG's URLs"
    );
    let html = follow(app, &window).await;
    assert!(html.contains("테스트카드 4242*"));
    assert!(
        html.contains("김*동님의 구독 결제에 쓸 카드예요"),
        "the card window says whose debt the card will pay"
    );
    assert_eq!(
        app.card_status(token, &card.window_id).await["state"],
        "waiting",
        "open, not finished"
    );
    let (_, q) = window.split_once('?').unwrap();
    let res = app
        .browser
        .get(app.url(&format!(
            "/embed/sandbox/billing-auth/approve?{q}&outcome={outcome}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let back = location(&res);
    let res = app.browser.get(app.url(&back)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{back}");
    assert_eq!(
        res.headers()["content-security-policy"],
        "frame-ancestors 'none'"
    );
    let status = app.card_status(token, &card.window_id).await;
    assert_eq!(status["state"], "done", "{status}");
    (status["next"].as_str().unwrap().to_owned(), back)
}

#[tokio::test]
async fn a_new_card_is_stored_charged_and_announced() {
    let app = spawn_app().await;
    let case = seed_case(&app, KEY_EXPIRED_CARD).await;
    let html = get_html(
        &app,
        page_url(&app, "/embed/recovery/method", &case.token, PARTNER_ORIGIN),
    )
    .await;
    assert!(html.contains("새 카드 등록하기"));

    let (loc, returned) = register_card(&app, &case.token, "ok").await;
    assert_eq!(path_of(&loc), "/embed/recovery/paid");
    // The PG's return loaded again (a reload, a second tab) charges nothing
    // more and shows the same outcome.
    let again = get_html(&app, app.url(&returned)).await;
    assert!(again.contains("카드를 등록하고 결제했어요"));
    let html = follow(&app, &loc).await;
    assert!(html.contains("새 결제 수단이 등록되었어요"));
    let actions = actions(&outbox(&html));
    assert_eq!(
        actions[..2],
        [
            Action::Ready,
            Action::ChangeMethod {
                token: case.token.clone(),
                order_id: case.partner_order_id.clone()
            }
        ]
    );
    assert!(
        matches!(&actions[2], Action::PaymentComplete { payment_info, .. } if payment_info == "테스트카드 4242*")
    );
    assert!(
        !html.contains("sandbox_ok_"),
        "the new billing key never reaches the page"
    );

    // The partner's backend reads the new key with the token.
    let key: serde_json::Value = app
        .get(&format!("/api/v1/cover/order/{}/idKey", case.token))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        key["idKey"].as_str().unwrap().starts_with("sandbox_ok_"),
        "{key}"
    );
    assert_eq!(app.gateway.charged_count(), 1);
}

#[tokio::test]
async fn a_new_card_that_declines_is_kept_and_reported() {
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    let (loc, _) = register_card(&app, &case.token, "insufficient_funds").await;
    assert_eq!(path_of(&loc), "/embed/recovery/failed");
    let html = follow(&app, &loc).await;
    let actions = actions(&outbox(&html));
    assert!(
        matches!(actions[1], Action::ChangeMethod { .. }),
        "{actions:?}"
    );
    assert!(matches!(&actions[2], Action::PaymentFailed { reason, .. } if reason == "한도초과"));
    assert_eq!(app.gateway.charged_count(), 0);
}

#[tokio::test]
async fn closing_the_card_window_goes_back_with_a_notice() {
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    let (loc, _) = register_card(&app, &case.token, "cancel").await;
    assert_eq!(path_of(&loc), "/embed/recovery/method");
    assert!(loc.contains("notice=auth-canceled"));
    assert!(
        follow(&app, &loc)
            .await
            .contains("카드 등록이 취소되었어요")
    );

    // A forged or replayed auth key registers nothing.
    let card = app.card_window(&case.token).await;
    let ticket = card.url.split_once('?').unwrap().1;
    let res = app
        .browser
        .get(app.url(&format!(
            "/card/return?{ticket}&authKey=forged&customerKey=c"
        )))
        .send()
        .await
        .unwrap();
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("카드를 등록하지 못했어요")
    );
    let next = app.card_status(&case.token, &card.window_id).await;
    assert!(
        next["next"]
            .as_str()
            .unwrap()
            .contains("notice=auth-failed"),
        "{next}"
    );
    let key: serde_json::Value = app
        .get(&format!("/api/v1/cover/order/{}/idKey", case.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(key["idKey"], "sandbox_success");
}

#[tokio::test]
async fn the_sandbox_window_returns_only_to_our_own_pages() {
    let app = spawn_app().await;
    let q = serde_urlencoded::to_string([
        ("customerKey", "c"),
        ("successUrl", "https://evil.example/steal"),
        ("failUrl", "https://evil.example/steal"),
        ("outcome", "ok"),
    ])
    .unwrap();
    for path in [
        "/embed/sandbox/billing-auth",
        "/embed/sandbox/billing-auth/approve",
    ] {
        let res = app
            .browser
            .get(app.url(&format!("{path}?{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
    }
}

#[tokio::test]
async fn an_unknown_charge_outcome_is_resent_with_the_same_key_not_a_new_one() {
    let app = spawn_app().await;
    let case = seed_case(&app, KEY_NETWORK_ERROR).await;
    let loc = submit(
        &app,
        "/embed/recovery/action/pay",
        &case.token,
        PARTNER_ORIGIN,
        &[],
    )
    .await;
    assert!(loc.contains("notice=unavailable"), "{loc}");
    assert!(follow(&app, &loc).await.contains("중복 결제는 되지 않으니"));
    assert_eq!(
        app.store.charge_statuses(case.case_id).await.unwrap(),
        ["PENDING"]
    );

    // A minute later the same charge is resent: still one charge row.
    app.clock.advance(chrono::Duration::seconds(61));
    let loc = submit(
        &app,
        "/embed/recovery/action/pay",
        &case.token,
        PARTNER_ORIGIN,
        &[],
    )
    .await;
    assert!(loc.contains("notice=unavailable"), "{loc}");
    assert_eq!(
        app.store.charge_statuses(case.case_id).await.unwrap(),
        ["PENDING"]
    );
}

#[tokio::test]
async fn a_charge_whose_answer_was_lost_is_resent_not_repeated() {
    // The PG charged but its answer never arrived. The retry must resend the
    // same charge (same key) and learn it succeeded; a new key would charge
    // the customer a second time.
    let app = spawn_app().await;
    let case = seed_case(&app, rebound::gateway::sandbox::KEY_TIMEOUT_AFTER_APPROVAL).await;
    let loc = submit(
        &app,
        "/embed/recovery/action/pay",
        &case.token,
        PARTNER_ORIGIN,
        &[],
    )
    .await;
    assert!(loc.contains("notice=unavailable"), "{loc}");
    app.clock.advance(chrono::Duration::seconds(61));
    let loc = submit(
        &app,
        "/embed/recovery/action/pay",
        &case.token,
        PARTNER_ORIGIN,
        &[],
    )
    .await;
    assert_eq!(path_of(&loc), "/embed/recovery/paid", "{loc}");
    assert_eq!(
        app.gateway.charged_count(),
        1,
        "one charge on the statement"
    );
    assert_eq!(
        app.store.charge_statuses(case.case_id).await.unwrap(),
        ["SUCCEEDED"]
    );
}

#[tokio::test]
async fn a_stale_charge_is_taken_over_by_exactly_one_caller_with_its_first_key() {
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    let now = app.clock.now_ms();
    let first = app
        .store
        .claim_charge(case.case_id, "k-1", ChargeSource::Page, now, now - 60_000)
        .await
        .unwrap();
    assert!(matches!(first, rebound::store::ChargeClaim::Claimed { .. }));
    // While the attempt is fresh, others are turned away.
    let busy = app
        .store
        .claim_charge(
            case.case_id,
            "k-2",
            ChargeSource::Page,
            now + 1,
            now - 59_999,
        )
        .await
        .unwrap();
    assert!(
        matches!(busy, rebound::store::ChargeClaim::Busy(_)),
        "{busy:?}"
    );
    // Once stale, one caller takes it over, with the first key.
    let later = now + 61_000;
    let claims = futures::future::join_all((0..5).map(|i| {
        let store = app.store.clone();
        async move {
            store
                .claim_charge(
                    case.case_id,
                    &format!("k-{i}x"),
                    ChargeSource::Page,
                    later,
                    later - 60_000,
                )
                .await
        }
    }))
    .await;
    let taken: Vec<_> = claims
        .into_iter()
        .filter_map(|c| match c.unwrap() {
            rebound::store::ChargeClaim::Claimed { spec, .. } => Some(spec.idempotency_key),
            _ => None,
        })
        .collect();
    assert_eq!(taken, ["k-1"]);
}

#[tokio::test]
async fn going_home_posts_a_symbolic_redirect() {
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    let html = get_html(
        &app,
        page_url(&app, "/embed/recovery/home", &case.token, PARTNER_ORIGIN),
    )
    .await;
    assert_eq!(
        actions(&outbox(&html)),
        [
            Action::Ready,
            Action::Redirect {
                target: protocol::RedirectTarget::Home
            }
        ]
    );
}

#[tokio::test]
async fn ambiguous_tokens_are_never_framable() {
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    // The header middleware and the page must not resolve different tokens:
    // a duplicate or double-encoded token frames nowhere.
    let double_encoded = format!("%25{:02X}{}", case.token.as_bytes()[0], &case.token[1..]);
    for query in [
        format!("token=x&token={}", case.token),
        format!("token={double_encoded}"),
    ] {
        let res = app
            .client
            .get(app.url(&format!("/embed/recovery?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.headers()["content-security-policy"],
            "frame-ancestors 'none'",
            "{query}"
        );
    }
}

#[tokio::test]
async fn a_charge_finishing_after_the_partner_canceled_does_not_reopen_the_order() {
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    let now = app.clock.now_ms();
    let claim = app
        .store
        .claim_charge(case.case_id, "k-1", ChargeSource::Page, now, now - 60_000)
        .await
        .unwrap();
    let rebound::store::ChargeClaim::Claimed { charge_id, .. } = claim else {
        panic!("{claim:?}");
    };
    // The partner cancels the order while the gateway call is in flight.
    let res = app
        .client
        .patch(app.url(&format!("/api/v1/cover/order/cancel/{}", case.order_id)))
        .header("Secret-Token", &app.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let recovered = app
        .store
        .complete_charge(case.case_id, charge_id, "pg-1", now)
        .await
        .unwrap();
    assert!(!recovered, "the cancel stands");
    assert_eq!(
        app.store.charge_statuses(case.case_id).await.unwrap(),
        ["NEEDS_REFUND"]
    );
    let order: serde_json::Value = app
        .get(&format!("/api/v1/cover/order/{}", case.order_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(order["status"], "CANCELED");

    // The closed case's page says what happened.
    let html = get_html(
        &app,
        page_url(&app, "/embed/recovery", &case.token, PARTNER_ORIGIN),
    )
    .await;
    assert!(html.contains("이미 처리된 결제예요"));
}

/// Popups blocked: the card page takes the whole tab, then goes back to the
/// partner's page it came from (only on a registered origin), naming the
/// window so the new frame can ask about it.
#[tokio::test]
async fn a_whole_tab_card_window_goes_back_to_the_partners_page_naming_itself() {
    let app = spawn_app().await;
    let case = seed_case(&app, KEY_EXPIRED_CARD).await;
    let back = format!("{PARTNER_ORIGIN}/recover");
    for (given, expected) in [
        (back.as_str(), format!("{back}?rebound_card=")),
        (
            "https://evil.example/steal",
            format!("{PARTNER_ORIGIN}/?rebound_card="),
        ),
    ] {
        let url = format!(
            "{}&back={}",
            page_url(&app, "/embed/recovery/method", &case.token, PARTNER_ORIGIN),
            links_encode(given)
        );
        let html = get_html(&app, url).await;
        let card_href = html
            .split_once("href=\"/card?")
            .unwrap()
            .1
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&");
        assert_eq!(
            card_href.contains("back="),
            given == back,
            "only a registered origin's page is carried: {card_href}"
        );
        // The sandbox's window, cancelled (the case stays payable for the
        // next round); the result page links back.
        let res = app
            .browser
            .get(app.url(&format!("/card?{card_href}")))
            .send()
            .await
            .unwrap();
        let window = location(&res);
        let (_, q) = window.split_once('?').unwrap();
        let res = app
            .browser
            .get(app.url(&format!(
                "/embed/sandbox/billing-auth/approve?{q}&outcome=cancel"
            )))
            .send()
            .await
            .unwrap();
        let html = follow(&app, &location(&res)).await;
        assert!(html.contains("카드 등록을 취소했어요"));
        let (before, _) = html.split_once("data-testid=\"card-back\"").unwrap();
        let link = before
            .rsplit_once("href=\"")
            .unwrap()
            .1
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&");
        assert!(link.starts_with(&expected), "{link}");
    }
}

fn links_encode(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)]).unwrap()[2..].to_owned()
}

/// The PG's return arriving twice at once (a double redirect, two
/// instances behind a balancer): one completes the window and charges,
/// the other shows what it recorded; the card is charged once.
#[tokio::test]
async fn a_card_return_arriving_twice_at_once_charges_once() {
    let app = spawn_app().await;
    let case = seed_case(&app, KEY_EXPIRED_CARD).await;
    let card = app.card_window(&case.token).await;
    let res = app.browser.get(app.url(&card.url)).send().await.unwrap();
    let window = location(&res);
    let (_, q) = window.split_once('?').unwrap();
    let res = app
        .browser
        .get(app.url(&format!(
            "/embed/sandbox/billing-auth/approve?{q}&outcome=ok"
        )))
        .send()
        .await
        .unwrap();
    let back = location(&res);
    let (a, b) = tokio::join!(
        app.browser.get(app.url(&back)).send(),
        app.browser.get(app.url(&back)).send()
    );
    assert_eq!(a.unwrap().status(), StatusCode::OK);
    assert_eq!(b.unwrap().status(), StatusCode::OK);
    assert_eq!(app.gateway.charged_count(), 1, "charged once");
    let status = app.card_status(&case.token, &card.window_id).await;
    assert!(
        status["next"]
            .as_str()
            .unwrap()
            .starts_with("/embed/recovery/paid"),
        "{status}"
    );
}
