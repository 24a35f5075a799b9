//! Prices: the seed guide's STEP 3 and the rule that a price needs the
//! partner's own product.

use crate::common;

use common::{create_partner, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn product_id(app: &common::TestApp, partner_product_id: &str) -> i64 {
    let res = app
        .post_json(
            "/api/v1/cover/product",
            &json!({"name": "상품이름", "partnerProductId": partner_product_id}),
        )
        .await;
    res.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

#[tokio::test]
async fn the_seed_guide_price_is_created_with_its_product() {
    let app = spawn_app().await;
    let product = product_id(&app, "512").await;
    let body = json!({
        "name": "1개월 구독권",
        "partnerPriceId": "128",
        "productId": product,
        "price": 10000,
        "recurringInterval": "MONTH",
        "recurringIntervalCount": 1
    });
    let res = app.post_json("/api/v1/cover/price", &body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let price: Value = res.json().await.unwrap();
    assert_eq!(price["price"], 10000);
    assert_eq!(price["isRecurring"], true);
    assert_eq!(price["recurringInterval"], "MONTH");
    assert_eq!(price["product"]["id"], product);
    assert_eq!(price["product"]["partnerProductId"], "512");

    let res = app
        .get(&format!("/api/v1/cover/price/{}", price["id"]))
        .await;
    assert_eq!(res.json::<Value>().await.unwrap(), price);
}

#[tokio::test]
async fn a_price_needs_the_partners_own_product() {
    let app = spawn_app().await;
    let (_, other_secret) = create_partner(&app.store, "other", &["https://other.example"]).await;
    let mine = product_id(&app, "512").await;
    let body = json!({"name": "p", "partnerPriceId": "1", "productId": mine, "price": 100, "isRecurring": false});
    let res = app
        .client
        .post(app.url("/api/v1/cover/price"))
        .header("Secret-Token", other_secret)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["errorCode"], "UNKNOWN_REFERENCE");
    assert_eq!(err["details"][0]["field"], "productId");

    let mut missing = body.clone();
    missing["productId"] = json!(987654);
    assert_eq!(
        app.post_json("/api/v1/cover/price", &missing)
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn money_is_integer_won() {
    let app = spawn_app().await;
    let product = product_id(&app, "512").await;
    for (price, field) in [
        (json!(10000.5), "price"),
        (json!("10000"), "price"),
        (json!(-1), "price"),
        (json!(1e12), "price"),
    ] {
        let body = json!({"name": "p", "partnerPriceId": "1", "productId": product, "price": price, "isRecurring": false});
        let res = app.post_json("/api/v1/cover/price", &body).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["details"][0]["field"], field, "{err}");
    }
}
