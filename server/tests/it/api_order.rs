//! Orders: the seed guide's sequence up to a failed order, references and the
//! recovery case a failed order opens.

use crate::common;

use common::{TestApp, create_partner, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// STEP 1-3 of the StepCover guide; returns (customerId, priceId).
async fn customer_and_price(app: &TestApp) -> (i64, i64) {
    let customer = app.created("/api/v1/cover/customer",
        json!({"name": "김길동", "email": "gildong@domain.com", "phone": "01012345678", "partnerCustomerId": "10424"}),
    )
    .await;
    let product = app.created("/api/v1/cover/product",
        json!({"name": "상품이름", "featuredImageUrl": "https://cdn.image.com/example.png", "partnerProductId": "512"}),
    )
    .await;
    let price = app.created("/api/v1/cover/price",
        json!({"name": "1개월 구독권", "partnerPriceId": "128", "productId": product["id"], "price": 10000,
               "recurringInterval": "MONTH", "recurringIntervalCount": 1}),
    )
    .await;
    (
        customer["id"].as_i64().unwrap(),
        price["id"].as_i64().unwrap(),
    )
}

fn step4(customer: i64, price: i64) -> Value {
    json!({
        "items": [{"priceId": price, "quantity": 1}],
        "paymentGateway": "NICE",
        "customerId": customer,
        "amount": 10000,
        "amountReturned": 0,
        "partnerOrderId": "1002"
    })
}

#[tokio::test]
async fn the_seed_guide_order_and_a_failed_one_that_opens_recovery() {
    let app = spawn_app().await;
    let (customer, price) = customer_and_price(&app).await;

    let order = app
        .created("/api/v1/cover/order", step4(customer, price))
        .await;
    assert_eq!(order["status"], "CREATED");
    assert_eq!(order["customer"]["partnerCustomerId"], "10424");
    assert_eq!(
        order["items"][0]["price"]["product"]["partnerProductId"],
        "512"
    );
    assert_eq!(order["items"][0]["quantity"], 1);
    assert_eq!(order["retryDate"], Value::Null);

    let mut failed = step4(customer, price);
    failed["partnerOrderId"] = json!("1003");
    failed["paymentFailed"] = json!(true);
    failed["idKey"] = json!("billing-key-1");
    failed["errorCode"] = json!("LIMIT_EXCEEDED");
    failed["errorMessage"] = json!("한도초과");
    let order = app.created("/api/v1/cover/order", failed).await;
    assert_eq!(order["status"], "PAYMENT_FAILURE");
    // Stage 1 is due at the failure: the test clock's now.
    assert_eq!(order["retryDate"], "2026-11-22T04:05:00Z");
    assert_eq!(order["idKey"], "billing-key-1");

    let read: Value = app
        .get(&format!("/api/v1/cover/order/{}", order["id"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, order);
}

#[tokio::test]
async fn an_existing_partner_order_id_returns_the_first_order() {
    let app = spawn_app().await;
    let (customer, price) = customer_and_price(&app).await;
    let first = app
        .created("/api/v1/cover/order", step4(customer, price))
        .await;
    let mut again = step4(customer, price);
    again["amount"] = json!(20000);
    let res = app.post_json("/api/v1/cover/order", &again).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), first);

    again["replaceIfExists"] = json!(true);
    let res = app.post_json("/api/v1/cover/order", &again).await;
    assert_eq!(res.status(), StatusCode::OK);
    let replaced: Value = res.json().await.unwrap();
    assert_eq!(replaced["id"], first["id"]);
    assert_eq!(replaced["amount"], 20000);
}

#[tokio::test]
async fn an_order_may_only_name_the_partners_own_customer_and_prices() {
    let app = spawn_app().await;
    let (customer, price) = customer_and_price(&app).await;
    let (_, other) = create_partner(&app.store, "other", &["https://other.example"]).await;
    let res = app
        .client
        .post(app.url("/api/v1/cover/order"))
        .header("Secret-Token", other)
        .json(&step4(customer, price))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        res.json::<Value>().await.unwrap()["details"][0]["field"],
        "customerId"
    );

    let mut bad = step4(customer, price);
    bad["items"] = json!([{"priceId": 999999, "quantity": 1}]);
    let res = app.post_json("/api/v1/cover/order", &bad).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        res.json::<Value>().await.unwrap()["details"][0]["field"],
        "items[].priceId"
    );

    // Nothing was written: the order id is still free.
    app.created("/api/v1/cover/order", step4(customer, price))
        .await;
}

#[tokio::test]
async fn concurrent_creates_all_succeed() {
    // SQLite serialises writers; a transaction that read first and wrote
    // later used to fail with "database is locked" under this load.
    let app = spawn_app().await;
    let (customer, price) = customer_and_price(&app).await;
    let requests = (0..40).map(|i| {
        let mut body = step4(customer, price);
        body["partnerOrderId"] = json!(format!("c-{i}"));
        body["paymentFailed"] = json!(true);
        let app = &app;
        async move { app.post_json("/api/v1/cover/order", &body).await.status() }
    });
    let statuses = futures::future::join_all(requests).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
}
