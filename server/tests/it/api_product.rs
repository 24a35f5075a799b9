//! Products and reading records back: the create semantics shared by every
//! resource, and tenant isolation on reads.

use crate::common;

use common::{create_partner, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn seed_guide_product() -> Value {
    // STEP 2 of StepPay's StepCover guide, verbatim.
    json!({
        "name": "상품이름",
        "featuredImageUrl": "https://cdn.image.com/example.png",
        "partnerProductId": "512"
    })
}

#[tokio::test]
async fn create_then_read_back_a_product() {
    let app = spawn_app().await;
    let res = app
        .post_json("/api/v1/cover/product", &seed_guide_product())
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["partnerProductId"], "512");
    assert_eq!(
        created["featuredImageUrl"],
        "https://cdn.image.com/example.png"
    );

    let res = app
        .post_json("/api/v1/cover/product", &seed_guide_product())
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "same partnerProductId: the existing record"
    );
    assert_eq!(res.json::<Value>().await.unwrap(), created);

    let id = created["id"].as_i64().unwrap();
    let res = app.get(&format!("/api/v1/cover/product/{id}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), created);

    let mut renamed = seed_guide_product();
    renamed["name"] = json!("새 이름");
    renamed["replaceIfExists"] = json!(true);
    let res = app.post_json("/api/v1/cover/product", &renamed).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["name"], "새 이름");
}

#[tokio::test]
async fn a_partner_cannot_read_another_partners_records() {
    let app = spawn_app().await;
    let customer: Value = app
        .post_json(
            "/api/v1/cover/customer",
            &json!({"name": "김길동", "email": "g@d.com", "phone": "01012345678", "partnerCustomerId": "1"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let product: Value = app
        .post_json("/api/v1/cover/product", &seed_guide_product())
        .await
        .json()
        .await
        .unwrap();
    let (_, other) = create_partner(&app.store, "other", &["https://other.example"]).await;
    for path in [
        format!("/api/v1/cover/customer/{}", customer["id"]),
        format!("/api/v1/cover/product/{}", product["id"]),
    ] {
        let own = app.get(&path).await;
        assert_eq!(own.status(), StatusCode::OK, "{path}");
        let res = app
            .client
            .get(app.url(&path))
            .header("Secret-Token", &other)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::NOT_FOUND,
            "{path}: 404, not 403, so existence does not leak"
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["errorCode"], "NOT_FOUND");
    }
    for path in [
        "/api/v1/cover/customer/999999",
        "/api/v1/cover/product/abc",
        "/api/v1/cover/product/-1",
    ] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

#[tokio::test]
async fn bad_product_fields_are_named() {
    let app = spawn_app().await;
    let cases = [
        (json!({"partnerProductId": "1"}), "name"),
        (json!({"name": "a"}), "partnerProductId"),
        (
            json!({"name": "a", "partnerProductId": "1", "featuredImageUrl": "javascript:alert(1)"}),
            "featuredImageUrl",
        ),
        (
            json!({"name": "a", "partnerProductId": 1}),
            "partnerProductId",
        ),
        (
            json!({"name": "a", "partnerProductId": "1", "price": 100}),
            "price",
        ),
    ];
    for (body, field) in cases {
        let res = app.post_json("/api/v1/cover/product", &body).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["details"][0]["field"], field, "{err}");
    }
}
