//! The Toss Payments adapter against a local fake that follows Toss's
//! documented billing API: HTTP Basic with the secret key, `{code, message}`
//! errors, and `Idempotency-Key` replays that return the first answer.

use crate::common;

use std::sync::Arc;

use common::{PARTNER_ORIGIN, TestApp, seed_case};
use rebound::gateway::{
    ChargeError, ChargeRequest, Lookup, PaymentGateway, TossConfig, TossGateway,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::toss_fake::{SECRET, start_fake};

fn toss(base: &str, secret: &str) -> TossGateway {
    TossGateway::new(TossConfig {
        secret_key: secret.into(),
        client_key: "test_ck_fake".into(),
        api_base: base.into(),
    })
}

fn charge_req(billing_key: &str, key: &str) -> ChargeRequest {
    ChargeRequest {
        billing_key: billing_key.into(),
        customer_key: Some("cust-1".into()),
        amount: 10_000,
        order_name: "프리미엄 멤버십".into(),
        idempotency_key: key.into(),
    }
}

#[tokio::test]
async fn charges_once_per_idempotency_key_and_maps_errors() {
    let (base, fake) = start_fake().await;
    let g = toss(&base, SECRET);
    let first = g
        .charge(charge_req("bk_ok_cust-1", "rb-1-aaaaaaaa"))
        .await
        .unwrap();
    let again = g
        .charge(charge_req("bk_ok_cust-1", "rb-1-aaaaaaaa"))
        .await
        .unwrap();
    assert_eq!(first, again, "a resend gets the first answer");
    // Looked up by our order id: the same payment; an order id never
    // charged has none.
    assert_eq!(
        g.lookup("rb-1-aaaaaaaa".into()).await.unwrap(),
        Lookup::Charged(first.clone())
    );
    assert_eq!(
        g.lookup("rb-9-never".into()).await.unwrap(),
        Lookup::NotFound
    );
    assert_eq!(fake.lock().unwrap().approved.len(), 1);
    let sent = fake.lock().unwrap().approved[0].clone();
    assert_eq!(
        sent,
        json!({"customerKey": "cust-1", "amount": 10000, "orderId": "rb-1-aaaaaaaa", "orderName": "프리미엄 멤버십"})
    );

    assert_eq!(
        g.charge(charge_req("bk_reject", "rb-2-aaaaaaaa")).await,
        Err(ChargeError::Declined {
            code: "REJECT_CARD_COMPANY".into(),
            reason: "결제 승인이 거절되었습니다.".into()
        })
    );
    assert_eq!(
        g.charge(charge_req("bk_reject_403", "rb-6-aaaaaaaa")).await,
        Err(ChargeError::Declined {
            code: "REJECT_CARD_PAYMENT".into(),
            reason: "한도초과 혹은 잔액부족으로 결제에 실패했습니다.".into()
        }),
        "a decline is a decline whatever its HTTP status"
    );
    assert!(
        matches!(
            g.charge(charge_req("bk_down", "rb-3-aaaaaaaa")).await,
            Err(ChargeError::Unavailable(_))
        ),
        "a 5xx without a code says nothing: unknown"
    );
    assert!(
        matches!(
            toss(&base, "test_sk_wrong")
                .charge(charge_req("bk_ok_cust-1", "rb-4-aaaaaaaa"))
                .await,
            Err(ChargeError::Declined { code, .. }) if code == "UNAUTHORIZED_KEY"
        ),
        "our own bad credentials: a definitive refusal, classified as setup"
    );
    assert_eq!(
        toss(&base, "test_sk_wrong").classify("UNAUTHORIZED_KEY"),
        rebound::domain::decline::Decline::Setup
    );
    let unreachable = toss("http://127.0.0.1:9", SECRET);
    assert!(matches!(
        unreachable
            .charge(charge_req("bk_ok_cust-1", "rb-5-aaaaaaaa"))
            .await,
        Err(ChargeError::Unavailable(_))
    ));
}

#[tokio::test]
async fn issues_billing_keys_from_auth_keys() {
    let (base, _) = start_fake().await;
    let g = toss(&base, SECRET);
    let issued = g
        .issue_billing_key("auth_ok".into(), "cust-9".into())
        .await
        .unwrap();
    assert_eq!(issued.billing_key, "bk_ok_cust-9");
    assert_eq!(issued.payment_info, "신한카드 4330*");
    assert!(matches!(
        g.issue_billing_key("auth_forged".into(), "cust-9".into()).await,
        Err(ChargeError::Declined { code, .. }) if code == "INVALID_AUTH_KEY"
    ));
}

#[tokio::test]
async fn the_page_changes_method_and_pays_through_toss() {
    let (base, fake) = start_fake().await;
    let app = TestApp::builder()
        .gateway(Arc::new(toss(&base, SECRET)))
        .spawn()
        .await;
    let case = seed_case(&app, "bk_reject").await;
    // A Toss customer's order: the adapter charges only those.
    app.sql(&format!(
        // With the customer key its key was issued under (the partner's
        // `customerKey`): Toss charges a key with no other.
        "UPDATE orders SET payment_gateway = 'TOSS', billing_customer_key = 'cust-1' WHERE id = {}",
        case.order_id
    ))
    .await;
    let form = [
        ("token", case.token.as_str()),
        ("origin", PARTNER_ORIGIN),
        ("embedId", "e-1"),
    ];

    // A Toss test key moves no money: the page says so.
    let q = serde_urlencoded::to_string(form).unwrap();
    let html = app
        .client
        .get(app.url(&format!("/embed/recovery?{q}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("테스트 모드"));

    // Paying with the stored (declining) key fails with Toss's message.
    let res = app
        .browser
        .post(app.url("/embed/recovery/action/pay"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/embed/recovery/failed")
    );

    // "Change method" opens our card page top-level, which opens Toss's
    // window through its SDK; nothing of it may be framed.
    let card = app.card_window(&case.token).await;
    let res = app.browser.get(app.url(&card.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-security-policy"],
        "frame-ancestors 'none'"
    );
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    let launch = res.text().await.unwrap();
    assert!(launch.contains("https://js.tosspayments.com/v2/standard"));
    assert!(launch.contains("\"test_ck_fake\""));
    assert!(
        !launch.contains(&case.token),
        "the recovery token never reaches the PG"
    );
    let customer_key = launch
        .split("customerKey:\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let success = launch
        .split("successUrl:\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert!(success.contains("/card/return?t="), "{success}");
    assert_eq!(
        app.card_status(&case.token, &card.window_id).await["state"],
        "waiting"
    );

    // Toss returns with an authKey; the server issues the key and charges it.
    let path = success.split_once("/card/").unwrap().1;
    let res = app
        .browser
        .get(app.url(&format!(
            "/card/{path}&customerKey={customer_key}&authKey=auth_ok"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("카드를 등록하고 결제했어요")
    );
    // The frame learns it from the server and shows the paid page.
    let status = app.card_status(&case.token, &card.window_id).await;
    assert_eq!(status["state"], "done");
    let next = status["next"].as_str().unwrap().to_owned();
    assert!(next.starts_with("/embed/recovery/paid?"), "{next}");
    assert!(next.contains("changed=method"));
    let html = app
        .client
        .get(app.url(&next))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("신한카드 4330*"));
    assert!(html.contains("\"action\":\"change-method\""));

    let approved = fake.lock().unwrap().approved.clone();
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["customerKey"], customer_key.as_str());
    assert_eq!(approved[0]["amount"], 10_000, "the amount is the server's");
    let key: Value = app
        .get(&format!("/api/v1/cover/order/{}/idKey", case.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(key["idKey"], format!("bk_ok_{customer_key}"));
}

/// Toss's `PROVIDER_ERROR` is a passing failure, and Toss stores it under
/// the idempotency key and replays it to every resend. Taken for an unknown
/// outcome, the same key was resent (74 times in one run) and the card
/// never tried again; as the soft decline it is, the case waits and the
/// next try, under a new key, pays.
#[tokio::test]
async fn a_replayed_provider_error_is_a_soft_decline_and_the_next_try_pays() {
    let (base, fake) = start_fake().await;
    let app = TestApp::builder()
        .gateway(Arc::new(toss(&base, SECRET)))
        .spawn()
        .await;
    let case = seed_case(&app, "bk_provider_error_once").await;
    // A Toss customer's order: the adapter charges only those.
    app.sql(&format!(
        // With the customer key its key was issued under (the partner's
        // `customerKey`): Toss charges a key with no other.
        "UPDATE orders SET payment_gateway = 'TOSS', billing_customer_key = 'cust-1' WHERE id = {}",
        case.order_id
    ))
    .await;
    let engine = app.engine().await;
    app.run_engine_until(&engine, common::kst(2026, 11, 30, 12, 0))
        .await;
    let statuses = app.store.charge_statuses(case.case_id).await.unwrap();
    assert_eq!(
        statuses,
        ["FAILED", "SUCCEEDED"],
        "declined once, then paid"
    );
    let charges = app.store.charges(case.case_id).await.unwrap();
    assert_eq!(charges[0].decline_code.as_deref(), Some("PROVIDER_ERROR"));
    assert_eq!(
        charges[0].decline_class,
        Some(rebound::domain::decline::DeclineClass::Soft)
    );
    let f = fake.lock().unwrap();
    assert_eq!(f.requests, 2, "one request per try, no resends");
    assert_eq!(f.lookups, 0, "nothing was unknown");
    assert_eq!(f.approved.len(), 1);
}

/// A PG client follows no redirect: the keys it sends would go with it.
#[tokio::test]
async fn the_pg_client_follows_no_redirect() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = Arc::new(AtomicUsize::new(0));
    let elsewhere = {
        let hits = hits.clone();
        axum::Router::new().fallback(move || {
            let hits = hits.clone();
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({"status": "DONE", "paymentKey": "stolen"}))
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere_base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, elsewhere).await });
    let redirecting = axum::Router::new().fallback(move || {
        let to = format!("{elsewhere_base}/v1/billing/bk_ok_cust-1");
        async move {
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, to)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, redirecting).await });
    let result = toss(&base, SECRET)
        .charge(charge_req("bk_ok_cust-1", "rb-7-redirect"))
        .await;
    assert!(
        matches!(result, Err(ChargeError::Unavailable(_))),
        "{result:?}"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing reached the other host"
    );
}
