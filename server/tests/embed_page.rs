//! The recovery page as the partner's iframe loads it, and paying through it.

mod common;

use app::model::{PageError, PayOutcome};
use common::{OTHER_PARTNER_ORIGIN, PARTNER_ORIGIN, TestApp, seed_case, spawn_app};
use protocol::Action;
use reqwest::StatusCode;

fn page_url(app: &TestApp, token: &str, origin: &str) -> String {
    let q = serde_urlencoded::to_string([("token", token), ("origin", origin), ("embedId", "e-1")])
        .unwrap();
    app.url(&format!("/embed/recovery?{q}"))
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

async fn pay(app: &TestApp, token: &str, origin: &str) -> Result<PayOutcome, PageError> {
    let res = app
        .client
        .post(app.url("/embed/fn/pay"))
        .form(&[("token", token), ("origin", origin), ("embed_id", "e-1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[tokio::test]
async fn renders_the_case_with_framing_headers() {
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    let res = app
        .client
        .get(page_url(&app, &case.token, PARTNER_ORIGIN))
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
    assert!(html.contains("프리미엄 멤버십"), "product name");
    assert!(html.contains("10,000원"), "amount in KRW");
    assert!(html.contains("2026-11-22 13:05"), "failed date in KST");
    assert!(html.contains("지금 결제하기"), "pay button");
    assert!(html.contains("테스트 모드"), "sandbox banner");
    assert!(
        !html.contains("sandbox_success"),
        "the billing key never reaches the page"
    );
}

#[tokio::test]
async fn english_with_lang_en() {
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    let html = get_html(
        &app,
        format!("{}&lang=en", page_url(&app, &case.token, PARTNER_ORIGIN)),
    )
    .await;
    assert!(html.contains("Pay now"));
    assert!(html.contains("₩10,000"));
}

#[tokio::test]
async fn unknown_token_gets_a_clear_page() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(page_url(&app, "no-such-token", PARTNER_ORIGIN))
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

    let html = get_html(&app, app.url("/embed/recovery")).await;
    assert!(html.contains("링크를 확인할 수 없어요"), "no token at all");
}

#[tokio::test]
async fn an_unregistered_origin_gets_no_page_and_no_charge() {
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    let html = get_html(&app, page_url(&app, &case.token, "https://evil.example")).await;
    assert!(html.contains("이 페이지를 열 수 없어요"));
    assert!(!html.contains("10,000원"));
    assert_eq!(
        pay(&app, &case.token, "https://evil.example").await,
        Err(PageError::OriginNotAllowed)
    );
    assert_eq!(app.gateway.charged_count(), 0);
}

#[tokio::test]
async fn paying_posts_payment_complete_to_the_checked_origin_and_closes_the_case() {
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    let outcome = pay(&app, &case.token, OTHER_PARTNER_ORIGIN).await.unwrap();
    let PayOutcome::Paid { message, target } = outcome else {
        panic!("expected Paid, got {outcome:?}");
    };
    assert_eq!(target.origin, OTHER_PARTNER_ORIGIN);
    assert_eq!(message.embed_id(), Some("e-1"));
    assert_eq!(
        message.action,
        Action::PaymentComplete {
            payment_info: "신한카드 1234*".into(),
            payment_date: "2026-11-22 13:05:00".into(),
            token: case.token.clone(),
            order_id: case.partner_order_id.clone(),
        }
    );
    assert_eq!(app.store.successful_charges(case.case_id).await.unwrap(), 1);

    // Paying again (second tab, retry) answers the same and charges nothing.
    assert!(matches!(
        pay(&app, &case.token, PARTNER_ORIGIN).await,
        Ok(PayOutcome::Paid { .. })
    ));
    assert_eq!(app.gateway.charged_count(), 1);

    // The page now says it is paid instead of offering to pay.
    let html = get_html(&app, page_url(&app, &case.token, PARTNER_ORIGIN)).await;
    assert!(html.contains("결제가 완료되었어요"));
    assert!(!html.contains("지금 결제하기"));
}

#[tokio::test]
async fn twenty_concurrent_pay_requests_charge_once() {
    let app = spawn_app().await;
    let case = seed_case(&app, "sandbox_success").await;
    let results =
        futures::future::join_all((0..20).map(|_| pay(&app, &case.token, PARTNER_ORIGIN))).await;
    let paid = results
        .iter()
        .filter(|r| matches!(r, Ok(PayOutcome::Paid { .. })))
        .count();
    assert!(paid >= 1, "{results:?}");
    assert!(
        results.iter().all(|r| matches!(
            r,
            Ok(PayOutcome::Paid { .. }) | Err(PageError::AlreadyClosed)
        )),
        "{results:?}"
    );
    assert_eq!(app.gateway.charged_count(), 1);
    assert_eq!(app.store.successful_charges(case.case_id).await.unwrap(), 1);
}

#[tokio::test]
async fn a_declined_card_posts_payment_failed_and_leaves_the_case_open() {
    let app = spawn_app().await;
    let case = seed_case(&app, rebound::gateway::sandbox::KEY_INSUFFICIENT_FUNDS).await;
    let outcome = pay(&app, &case.token, PARTNER_ORIGIN).await.unwrap();
    let PayOutcome::Declined {
        reason, message, ..
    } = outcome
    else {
        panic!("expected Declined, got {outcome:?}");
    };
    assert_eq!(reason, "한도초과");
    assert_eq!(
        message.action,
        Action::PaymentFailed {
            reason: "한도초과".into(),
            token: case.token.clone()
        }
    );
    let html = get_html(&app, page_url(&app, &case.token, PARTNER_ORIGIN)).await;
    assert!(html.contains("지금 결제하기"), "the customer can try again");
    assert_eq!(app.store.successful_charges(case.case_id).await.unwrap(), 0);
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
        .claim_charge(case.case_id, "k-1", 10_000, now)
        .await
        .unwrap();
    let rebound::store::ChargeClaim::Claimed { charge_id } = claim else {
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
}
