//! `Idempotency-Key`: retries get the first response, never a second effect.

use crate::common;

use common::{TestApp, create_partner, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn customer(id: &str) -> Value {
    json!({"name": "김길동", "email": "gildong@domain.com", "phone": "01012345678", "partnerCustomerId": id})
}

async fn post_with_key(app: &TestApp, secret: &str, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/cover/customer"))
        .header("Secret-Token", secret)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_retry_gets_the_first_response() {
    let app = spawn_app().await;
    let first = post_with_key(&app, &app.secret, "k-1", &customer("1")).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let retry = post_with_key(&app, &app.secret, "k-1", &customer("1")).await;
    assert_eq!(
        retry.status(),
        StatusCode::CREATED,
        "the first status, not 200"
    );
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.json::<Value>().await.unwrap(), first);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_conflict() {
    let app = spawn_app().await;
    post_with_key(&app, &app.secret, "k-1", &customer("1")).await;
    let res = post_with_key(&app, &app.secret, "k-1", &customer("2")).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["errorCode"], "IDEMPOTENCY_KEY_REUSED");
    // Customer 2 was not created by the refused request.
    let res = app
        .post_json("/api/v1/cover/customer", &customer("2"))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn errors_are_replayed_too() {
    let app = spawn_app().await;
    let bad = json!({"name": "김길동"});
    let first = post_with_key(&app, &app.secret, "k-err", &bad).await;
    assert_eq!(first.status(), StatusCode::BAD_REQUEST);
    let first: Value = first.json().await.unwrap();
    let again = post_with_key(&app, &app.secret, "k-err", &bad).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        again.json::<Value>().await.unwrap(),
        first,
        "same traceId: the stored response"
    );
}

#[tokio::test]
async fn keys_are_per_partner_and_expire_after_a_day() {
    let app = spawn_app().await;
    let (_, other) = create_partner(&app.store, "other", &["https://other.example"]).await;
    assert_eq!(
        post_with_key(&app, &app.secret, "shared", &customer("1"))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_eq!(
        post_with_key(&app, &other, "shared", &customer("1"))
            .await
            .status(),
        StatusCode::CREATED
    );

    app.clock.advance(chrono::Duration::hours(25));
    let res = post_with_key(&app, &app.secret, "shared", &customer("9")).await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "an expired key is free again"
    );
}

#[tokio::test]
async fn malformed_keys_and_missing_tokens() {
    let app = spawn_app().await;
    let res = post_with_key(&app, &app.secret, &"k".repeat(256), &customer("1")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<Value>().await.unwrap()["details"][0]["field"],
        "Idempotency-Key"
    );
    let res = post_with_key(&app, "wrong", "k-1", &customer("1")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// The middleware's request hash for a customer create with this body.
fn customer_request_hash(body: &Value) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"POST /api/v1/cover/customer\n");
    h.update(serde_json::to_vec(body).unwrap());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn an_abandoned_request_does_not_lock_its_key() {
    let app = spawn_app().await;
    // Requests that claimed their keys and never finished (client gone).
    let now = app.clock.now_ms();
    for (key, hash) in [
        ("k-lost", customer_request_hash(&customer("1"))),
        ("k-other", "another request".into()),
    ] {
        let claim = app
            .store
            .claim_idempotency_key(app.partner.id, key, &hash, now, 60_000)
            .await
            .unwrap();
        assert_eq!(claim, rebound::store::KeyState::Claimed);
    }
    let res = post_with_key(&app, &app.secret, "k-lost", &customer("1")).await;
    assert_eq!(res.status(), StatusCode::CONFLICT, "still in flight");
    assert_eq!(
        res.json::<Value>().await.unwrap()["errorCode"],
        "IDEMPOTENCY_KEY_IN_FLIGHT"
    );

    app.clock.advance(chrono::Duration::minutes(2));
    let res = post_with_key(&app, &app.secret, "k-lost", &customer("1")).await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "the same request takes the abandoned claim over"
    );
    let retry = post_with_key(&app, &app.secret, "k-lost", &customer("1")).await;
    assert_eq!(retry.headers()["idempotent-replayed"], "true");

    let res = post_with_key(&app, &app.secret, "k-other", &customer("1")).await;
    assert_eq!(
        res.status(),
        StatusCode::CONFLICT,
        "another request never takes a key over"
    );
    assert_eq!(
        res.json::<Value>().await.unwrap()["errorCode"],
        "IDEMPOTENCY_KEY_REUSED"
    );
}
