//! Starting and ending recovery through the API: POST /recovery, the idKey
//! lookup by link token, order success/cancel and subscription active/cancel.

use crate::common;

use common::{TestApp, seed_case, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn setup(app: &TestApp) -> (i64, i64) {
    let (customer, _, price) = common::create_catalog(app).await;
    let order: Value = app
        .post_json(
            "/api/v1/cover/order",
            &json!({"items": [{"priceId": price, "quantity": 1}], "paymentGateway": "TOSS",
                    "customerId": customer, "amount": 9900, "amountReturned": 0, "partnerOrderId": "o1"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let sub: Value = app
        .post_json(
            "/api/v1/cover/subscription",
            &json!({"recurringInterval": "MONTH", "customerId": customer, "currentPeriodStart": "2026-11-01T00:00:00Z",
                    "currentPeriodEnd": "2026-12-01T00:00:00Z", "partnerSubscriptionId": "s1", "recurringIntervalCount": 1}),
        )
        .await
        .json()
        .await
        .unwrap();
    (sub["id"].as_i64().unwrap(), order["id"].as_i64().unwrap())
}

#[tokio::test]
async fn post_recovery_opens_one_case_and_success_closes_it() {
    let app = spawn_app().await;
    let (sub, order) = setup(&app).await;
    let body = json!({"subscriptionId": sub, "orderId": order, "errorMessage": "한도초과"});
    let res = app.post_json("/api/v1/cover/recovery", &body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let first: Value = res.json().await.unwrap();
    assert!(first["coverId"].as_i64().is_some());
    assert_eq!(first["retryDate"], "2026-11-22T04:05:00Z");
    let again: Value = app
        .post_json("/api/v1/cover/recovery", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["coverId"], first["coverId"],
        "one open case per order"
    );

    let (_, o) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/cover/order/{order}"),
            None,
        )
        .await;
    assert_eq!(o["status"], "PAYMENT_FAILURE");
    let (_, s) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/cover/subscription/{sub}"),
            None,
        )
        .await;
    assert_eq!(s["status"], "UNPAID");

    let (status, o) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/cover/order/success/{order}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(o["status"], "PAID");
    assert_eq!(o["retryDate"], Value::Null, "the case is closed");

    let (status, r) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/cover/subscription/{sub}/active"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r["result"], true);
    let (_, s) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/cover/subscription/{sub}"),
            None,
        )
        .await;
    assert_eq!(s["status"], "ACTIVE");
}

#[tokio::test]
async fn cancel_closes_the_case_and_unknown_ids_are_404() {
    let app = spawn_app().await;
    let (sub, order) = setup(&app).await;
    app.post_json(
        "/api/v1/cover/recovery",
        &json!({"subscriptionId": sub, "orderId": order}),
    )
    .await;
    let (status, o) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/cover/order/cancel/{order}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(o["status"], "CANCELED");
    assert_eq!(o["retryDate"], Value::Null);
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/cover/subscription/{sub}/cancel"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    for (method, path) in [
        (
            reqwest::Method::PATCH,
            "/api/v1/cover/order/success/999999".to_string(),
        ),
        (
            reqwest::Method::PATCH,
            "/api/v1/cover/order/cancel/x".to_string(),
        ),
        (
            reqwest::Method::PUT,
            "/api/v1/cover/subscription/999999/active".to_string(),
        ),
    ] {
        let (status, body) = app.call(method, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["errorCode"], "NOT_FOUND");
    }
    let res = app
        .post_json(
            "/api/v1/cover/recovery",
            &json!({"subscriptionId": 999999, "orderId": order}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn id_key_by_link_token_only_for_the_owning_partner() {
    let app = spawn_app().await;
    let case = seed_case(&app, "billing-key-7").await;
    let (status, body) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/cover/order/{}/idKey", case.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["idKey"], "billing-key-7");
    assert!(body["orderId"].as_i64().is_some());
    assert_eq!(body["paymentGateway"], "UNKNOWN");
    assert_eq!(
        body["partnerCustomerId"], "c-1",
        "whose case it is, to check a card change against the logged-in customer"
    );

    let (_, other) = common::create_partner(&app.store, "other", &["https://other.example"]).await;
    let res = app
        .client
        .get(app.url(&format!("/api/v1/cover/order/{}/idKey", case.token)))
        .header("Secret-Token", other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/cover/order/not-a-token/idKey",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn concurrent_recovery_calls_open_one_case() {
    let app = spawn_app().await;
    let (sub, order) = setup(&app).await;
    let body = json!({"subscriptionId": sub, "orderId": order});
    let calls = (0..10).map(|_| {
        let (app, body) = (&app, &body);
        async move {
            let res = app.post_json("/api/v1/cover/recovery", body).await;
            (
                res.status(),
                res.json::<Value>().await.unwrap()["coverId"].clone(),
            )
        }
    });
    let results = futures::future::join_all(calls).await;
    assert_eq!(
        results
            .iter()
            .filter(|(s, _)| *s == StatusCode::CREATED)
            .count(),
        1,
        "{results:?}"
    );
    assert!(results.iter().all(|(s, _)| s.is_success()), "{results:?}");
    assert!(
        results.iter().all(|(_, id)| *id == results[0].1),
        "one case: {results:?}"
    );
}

#[tokio::test]
async fn control_characters_are_refused_not_stored() {
    let app = spawn_app().await;
    let (sub, order) = setup(&app).await;
    let res = app
        .post_json(
            "/api/v1/cover/recovery",
            &json!({"subscriptionId": sub, "orderId": order, "errorMessage": "a\u{0}b"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<Value>().await.unwrap()["details"][0]["field"],
        "errorMessage"
    );
}
