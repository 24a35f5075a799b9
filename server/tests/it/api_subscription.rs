//! The seed guide's whole five-step sequence, and subscription rules.

use crate::common;

use common::spawn_app;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The five curl calls of StepCover's guide, unchanged but for the ids each
/// step gets from the one before (and `paymentFailed` on the order, where the
/// API spec puts it).
#[tokio::test]
async fn the_seed_guides_five_steps() {
    let app = spawn_app().await;
    let (s, customer) = app.call(reqwest::Method::POST, "/api/v1/cover/customer", Some(&json!({"name": "김길동", "email": "gildong@domain.com", "phone": "01012345678", "partnerCustomerId": "10424"})))
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, product) = app.call(reqwest::Method::POST, "/api/v1/cover/product", Some(&json!({"name": "상품이름", "featuredImageUrl": "https://cdn.image.com/example.png", "partnerProductId": "512"})))
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, price) = app.call(reqwest::Method::POST, "/api/v1/cover/price", Some(&json!({"name": "1개월 구독권", "partnerPriceId": "128", "productId": product["id"], "price": 10000,
               "recurringInterval": "MONTH", "recurringIntervalCount": 1})))
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, order) = app.call(reqwest::Method::POST, "/api/v1/cover/order", Some(&json!({"items": [{"priceId": price["id"], "quantity": 1}], "paymentGateway": "NICE",
               "customerId": customer["id"], "amount": 10000, "amountReturned": 0, "partnerOrderId": "1002",
               "paymentFailed": true})))
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(order["status"], "PAYMENT_FAILURE");
    assert!(order["retryDate"].is_string());
    let (s, sub) = app.call(reqwest::Method::POST, "/api/v1/cover/subscription", Some(&json!({"recurringInterval": "MONTH", "customerId": customer["id"],
               "currentPeriodStart": "2023-01-01T12:00:00Z", "currentPeriodEnd": "2023-01-31T12:00:00Z",
               "partnerSubscriptionId": "14", "recurringIntervalCount": 1})))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{sub}");
    assert_eq!(sub["status"], "ACTIVE");
    assert_eq!(sub["customer"]["id"], customer["id"]);
    assert_eq!(sub["currentPeriodEnd"], "2023-01-31T12:00:00Z");

    let read: Value = app
        .get(&format!("/api/v1/cover/subscription/{}", sub["id"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, sub);
}

#[tokio::test]
async fn payment_failed_on_a_subscription_is_pointed_to_the_order() {
    let app = spawn_app().await;
    let (_, customer) = app.call(reqwest::Method::POST, "/api/v1/cover/customer", Some(&json!({"name": "a", "email": "a@b.co", "phone": "01012345678", "partnerCustomerId": "1"})))
    .await;
    // The guide's "recovery scenario" example, verbatim.
    let (s, err) = app.call(reqwest::Method::POST, "/api/v1/cover/subscription", Some(&json!({"recurringInterval": "MONTH", "customerId": customer["id"],
               "currentPeriodStart": "2023-01-01T12:00:00Z", "currentPeriodEnd": "2023-01-31T12:00:00Z",
               "partnerSubscriptionId": "14", "recurringIntervalCount": 1, "paymentFailed": true})))
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(err["details"][0]["field"], "paymentFailed");
    assert!(
        err["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("/order")
    );

    let (s, err) = app.call(reqwest::Method::POST, "/api/v1/cover/subscription", Some(&json!({"recurringInterval": "MONTH", "customerId": 424242,
               "currentPeriodStart": "2023-01-01T12:00:00Z", "currentPeriodEnd": "2023-01-31T12:00:00Z",
               "partnerSubscriptionId": "14", "recurringIntervalCount": 1})))
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["details"][0]["field"], "customerId");
}
