//! `POST /api/v1/cover/customer`: the pattern every partner API call follows.

use crate::common;

use common::{create_partner, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn seed_guide_customer() -> Value {
    // STEP 1 of StepPay's StepCover guide, verbatim.
    json!({
        "name": "김길동",
        "email": "gildong@domain.com",
        "phone": "01012345678",
        "partnerCustomerId": "10424"
    })
}

fn assert_error_shape(body: &Value, code: &str) {
    assert_eq!(body["errorCode"], code, "{body}");
    assert!(
        body["traceId"].as_str().is_some_and(|t| t.len() == 32),
        "{body}"
    );
    assert!(
        body["errorMessage"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body.get("details").is_some(), "{body}");
}

#[tokio::test]
async fn healthz_answers() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("x-trace-id"));
}

#[tokio::test]
async fn create_returns_201_then_the_existing_record_then_replaces_on_request() {
    let app = spawn_app().await;
    let res = app
        .post_json("/api/v1/cover/customer", &seed_guide_customer())
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.unwrap();
    assert!(created["id"].as_i64().is_some());
    assert_eq!(created["name"], "김길동");
    assert_eq!(created["partnerCustomerId"], "10424");

    let mut changed = seed_guide_customer();
    changed["name"] = json!("김철수");
    let res = app.post_json("/api/v1/cover/customer", &changed).await;
    assert_eq!(res.status(), StatusCode::OK);
    let existing: Value = res.json().await.unwrap();
    assert_eq!(
        existing, created,
        "without replaceIfExists the record is unchanged"
    );

    changed["replaceIfExists"] = json!(true);
    let res = app.post_json("/api/v1/cover/customer", &changed).await;
    assert_eq!(res.status(), StatusCode::OK);
    let replaced: Value = res.json().await.unwrap();
    assert_eq!(replaced["id"], created["id"]);
    assert_eq!(replaced["name"], "김철수");
}

#[tokio::test]
async fn partners_have_separate_id_spaces() {
    let app = spawn_app().await;
    let (_, other_secret) = create_partner(&app.store, "other", &["https://other.example"]).await;
    let res = app
        .post_json("/api/v1/cover/customer", &seed_guide_customer())
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let mine: Value = res.json().await.unwrap();
    let res = app
        .client
        .post(app.url("/api/v1/cover/customer"))
        .header("Secret-Token", other_secret)
        .json(&seed_guide_customer())
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "same partnerCustomerId, other partner: a new record"
    );
    let theirs: Value = res.json().await.unwrap();
    assert_ne!(mine["id"], theirs["id"]);
}

#[tokio::test]
async fn missing_or_wrong_token_is_401_in_steppay_shape() {
    let app = spawn_app().await;
    for token in [
        None,
        Some(""),
        Some("rb_sk_wrong"),
        Some(&app.secret[..app.secret.len() - 1]),
    ] {
        let mut req = app
            .client
            .post(app.url("/api/v1/cover/customer"))
            .json(&seed_guide_customer());
        if let Some(t) = token {
            req = req.header("Secret-Token", t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        let body: Value = res.json().await.unwrap();
        assert_error_shape(&body, "UNAUTHORIZED");
    }
}

#[tokio::test]
async fn bad_bodies_get_400_naming_the_field_and_write_nothing() {
    let app = spawn_app().await;
    let with = |field: &str, value: Value| {
        let mut b = seed_guide_customer();
        b[field] = value;
        b
    };
    let without = |field: &str| {
        let mut b = seed_guide_customer();
        b.as_object_mut().unwrap().remove(field);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (without("name"), "name"),
        (without("email"), "email"),
        (without("phone"), "phone"),
        (without("partnerCustomerId"), "partnerCustomerId"),
        (with("name", json!("")), "name"),
        (with("name", json!("   ")), "name"),
        (with("name", json!("가".repeat(101))), "name"),
        (with("name", json!(42)), "name"),
        (with("name", json!(null)), "name"),
        (with("email", json!("not-an-email")), "email"),
        (with("email", json!(["a@b.co"])), "email"),
        (with("phone", json!("call me")), "phone"),
        (with("phone", json!("123")), "phone"),
        (with("phone", json!(1012345678)), "phone"),
        (with("partnerCustomerId", json!(10424)), "partnerCustomerId"),
        (
            with("partnerCustomerId", json!("x".repeat(101))),
            "partnerCustomerId",
        ),
        (with("replaceIfExists", json!("yes")), "replaceIfExists"),
        (with("nickname", json!("gil")), "nickname"),
    ];
    for (body, field) in cases {
        let res = app.post_json("/api/v1/cover/customer", &body).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        let err: Value = res.json().await.unwrap();
        assert_error_shape(&err, "VALIDATION_FAILED");
        let fields: Vec<&str> = err["details"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "expected {field} in {err}");
    }
    // Nothing above was stored: the guide's customer is still new.
    let res = app
        .post_json("/api/v1/cover/customer", &seed_guide_customer())
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn malformed_json_wrong_media_type_and_huge_bodies_are_refused() {
    let app = spawn_app().await;
    let post_raw = |body: Vec<u8>, content_type: &'static str| {
        app.client
            .post(app.url("/api/v1/cover/customer"))
            .header("Secret-Token", &app.secret)
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let res = post_raw(b"{\"name\": ".to_vec(), "application/json")
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_error_shape(&res.json().await.unwrap(), "MALFORMED_JSON");

    let res = post_raw(b"[]".to_vec(), "application/json").await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    let res = post_raw(seed_guide_customer().to_string().into_bytes(), "text/plain")
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_error_shape(&res.json().await.unwrap(), "UNSUPPORTED_MEDIA_TYPE");

    let mut huge = seed_guide_customer();
    huge["name"] = json!("a".repeat(1024 * 1024 + 1));
    let res = post_raw(huge.to_string().into_bytes(), "application/json")
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_error_shape(&res.json().await.unwrap(), "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn a_rotated_token_keeps_the_old_one_for_the_grace_period() {
    let app = spawn_app().await;
    let new_secret = rebound::domain::token::new_secret_token();
    let now = app.clock.now_ms();
    app.store
        .rotate_partner_token(
            app.partner.id,
            &rebound::domain::token::TokenHash::of(&new_secret),
            3_600_000,
            "test",
            now,
        )
        .await
        .unwrap();
    let call = |secret: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/api/v1/cover/customer/1"))
                .header("Secret-Token", secret)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // 404 (no such customer) means authenticated; 401 means not.
    assert_eq!(
        call(app.secret.clone()).await,
        StatusCode::NOT_FOUND,
        "old token in grace"
    );
    assert_eq!(
        call(new_secret.clone()).await,
        StatusCode::NOT_FOUND,
        "new token"
    );
    app.clock.advance(chrono::Duration::minutes(61));
    assert_eq!(
        call(app.secret.clone()).await,
        StatusCode::UNAUTHORIZED,
        "old token expired"
    );
    assert_eq!(call(new_secret).await, StatusCode::NOT_FOUND);
}
