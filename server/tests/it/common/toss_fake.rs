//! A local fake of Toss Payments' billing API as Toss documents it: HTTP
//! Basic with the secret key, `{code, message}` errors, `Idempotency-Key`
//! replays that return the first answer (409 while the first request is
//! still being processed), and a ledger of every approved
//! charge. Faults (slow answers, answers lost after approval) let process
//! tests kill servers mid-charge.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};

pub const SECRET: &str = "test_sk_fake";

/// What the fake does wrong, per charge request (percentages).
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Approve, then answer 500 as if the answer were lost on the way.
    pub lose_after_approval_percent: u64,
    /// Hold this many ms before answering (kills land mid-charge).
    pub delay_ms: u64,
}

#[derive(Default)]
pub struct Fake {
    /// Idempotency-Key -> the first answer.
    pub answered: HashMap<String, (StatusCode, Value)>,
    /// Keys whose first request is still being processed: a second
    /// request with one gets 409, as idempotent APIs answer a key in use.
    processing: HashSet<String>,
    /// Bodies of charges that were approved (one per key).
    pub approved: Vec<Value>,
    /// Charge requests received, resends included.
    pub requests: u64,
    /// Requests whose Idempotency-Key differed from the body's orderId.
    pub key_mismatches: u64,
    /// Lookups by order id.
    pub lookups: u64,
    pub faults: Faults,
    /// This merchant account's secret key (`SECRET` when unset): a charge
    /// with another account's is refused, as Toss does.
    pub secret: Option<String>,
    /// Billing key -> the customer key it was issued under: a charge of
    /// such a key with any other is `NOT_MATCHES_CUSTOMER_KEY`.
    pub issued_under: HashMap<String, String>,
    /// Billing keys charged at least once (answered, whatever the answer).
    tried_keys: HashSet<String>,
    /// paymentKeys refunded, in order (once each).
    pub cancelled: Vec<String>,
    /// Refund Idempotency-Key -> the first answer.
    cancel_answers: HashMap<String, (StatusCode, Value)>,
    rng: u64,
}

impl Fake {
    fn tried(&self, billing_key: &str) -> bool {
        self.tried_keys.contains(billing_key)
    }

    fn roll(&mut self, percent: u64) -> bool {
        self.rng = self
            .rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        percent > 0 && (self.rng >> 33) % 100 < percent
    }
}

pub type Shared = Arc<Mutex<Fake>>;

fn unauthorized() -> (StatusCode, Json<Value>) {
    error(
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED_KEY",
        "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다.",
    )
}

pub fn error(status: StatusCode, code: &str, message: &str) -> (StatusCode, Json<Value>) {
    (status, Json(json!({ "code": code, "message": message })))
}

fn authorized(headers: &HeaderMap) -> bool {
    authorized_for(headers, SECRET)
}

fn authorized_for(headers: &HeaderMap, secret: &str) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{secret}:"))
    );
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

pub async fn issue(headers: HeaderMap, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    if !authorized(&headers) {
        return unauthorized();
    }
    let (Some(auth_key), Some(customer_key)) =
        (body["authKey"].as_str(), body["customerKey"].as_str())
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "잘못된 요청입니다.",
        );
    };
    if auth_key != "auth_ok" {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_AUTH_KEY",
            "유효하지 않은 인증 키입니다.",
        );
    }
    (
        StatusCode::OK,
        Json(json!({
            "mId": "tosspayments",
            "customerKey": customer_key,
            "authenticatedAt": "2026-11-22T13:05:00+09:00",
            "method": "카드",
            "billingKey": format!("bk_ok_{customer_key}"),
            "cardCompany": "신한",
            "cardNumber": "43301234****123*",
            "card": { "issuerCode": "4V", "acquirerCode": "41", "number": "43301234****123*", "cardType": "신용", "ownerType": "개인" }
        })),
    )
}

pub async fn charge(
    State(fake): State<Shared>,
    Path(billing_key): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let secret = fake.lock().unwrap().secret.clone();
    if !authorized_for(&headers, secret.as_deref().unwrap_or(SECRET)) {
        return unauthorized();
    }
    let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "Idempotency-Key missing",
        );
    };
    // A PG finishes a charge it started whether or not the caller is still
    // there (a killed server): the work runs on its own task.
    let key = key.to_owned();
    tokio::spawn(process_charge(fake, billing_key, key, body))
        .await
        .unwrap_or((StatusCode::INTERNAL_SERVER_ERROR, Json(Value::Null)))
}

async fn process_charge(
    fake: Shared,
    billing_key: String,
    key: String,
    body: Value,
) -> (StatusCode, Json<Value>) {
    let key = key.as_str();
    let delay = {
        let mut f = fake.lock().unwrap();
        f.requests += 1;
        if body["orderId"].as_str() != Some(key) {
            f.key_mismatches += 1;
        }
        if let Some((status, answer)) = f.answered.get(key) {
            return (*status, Json(answer.clone()));
        }
        if !f.processing.insert(key.to_owned()) {
            return error(
                StatusCode::CONFLICT,
                "IDEMPOTENT_REQUEST_PROCESSING",
                "이전 멱등 요청이 아직 처리 중입니다.",
            );
        }
        f.faults.delay_ms
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut fake = fake.lock().unwrap();
    fake.processing.remove(key);
    let customer_key = body["customerKey"].as_str().unwrap_or_default();
    let valid = body["amount"].as_i64().is_some_and(|a| a > 0)
        && body["orderId"]
            .as_str()
            .is_some_and(|o| (6..=64).contains(&o.len()))
        && body["orderName"].as_str().is_some_and(|n| !n.is_empty())
        && !customer_key.is_empty();
    let (status, answer) = if !valid {
        (
            StatusCode::BAD_REQUEST,
            json!({"code": "INVALID_REQUEST", "message": "잘못된 요청입니다."}),
        )
    } else if billing_key == "bk_down"
        || (billing_key.starts_with("bk_flaky_") && !fake.tried(&billing_key))
    {
        // Toss unreachable behind its gateway: a 5xx with no code, no
        // answer stored (a resend with the key is processed afresh).
        fake.tried_keys.insert(billing_key);
        return (StatusCode::BAD_GATEWAY, Json(Value::Null));
    } else if (billing_key == "bk_provider_error_once"
        || billing_key.starts_with("bk_provider_once_"))
        && !fake.tried(&billing_key)
    {
        // A passing failure, stored under this key and replayed to every
        // resend of it, as Toss does; a new key (the next try) pays.
        (
            StatusCode::BAD_REQUEST,
            json!({"code": "PROVIDER_ERROR", "message": "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해주세요."}),
        )
    } else if billing_key.starts_with("bk_stopped_") {
        (
            StatusCode::FORBIDDEN,
            json!({"code": "INVALID_STOPPED_CARD", "message": "정지된 카드 입니다."}),
        )
    } else if billing_key.starts_with("bk_company_") {
        (
            StatusCode::FORBIDDEN,
            json!({"code": "REJECT_CARD_COMPANY", "message": "결제 승인이 거절되었습니다."}),
        )
    } else if billing_key == "bk_reject_403" || billing_key.starts_with("bk_limit_") {
        (
            StatusCode::FORBIDDEN,
            json!({"code": "REJECT_CARD_PAYMENT", "message": "한도초과 혹은 잔액부족으로 결제에 실패했습니다."}),
        )
    } else if billing_key == "bk_reject" {
        (
            StatusCode::BAD_REQUEST,
            json!({"code": "REJECT_CARD_COMPANY", "message": "결제 승인이 거절되었습니다."}),
        )
    } else if fake
        .issued_under
        .get(&billing_key)
        .is_some_and(|k| k != customer_key)
        || (billing_key.starts_with("bk_ok_") && billing_key != format!("bk_ok_{customer_key}"))
    {
        (
            StatusCode::BAD_REQUEST,
            json!({"code": "NOT_MATCHES_CUSTOMER_KEY", "message": "빌링 인증 고객키와 결제 요청 고객키가 일치하지 않습니다."}),
        )
    } else {
        fake.approved.push(body.clone());
        (
            StatusCode::OK,
            json!({
                "mId": "tosspayments",
                "paymentKey": format!("pay_{}", fake.approved.len()),
                "orderId": body["orderId"],
                "orderName": body["orderName"],
                "status": "DONE",
                "method": "카드",
                "totalAmount": body["amount"],
                "approvedAt": "2026-11-22T13:05:00+09:00",
                "card": { "issuerCode": "4V", "number": "43301234****123*", "approveNo": "00000000" }
            }),
        )
    };
    fake.answered
        .insert(key.to_owned(), (status, answer.clone()));
    fake.tried_keys.insert(billing_key);
    let lose = fake.faults.lose_after_approval_percent;
    if status == StatusCode::OK && fake.roll(lose) {
        // The answer lost on the way back: a bare 5xx from a proxy, no code.
        return (StatusCode::BAD_GATEWAY, Json(Value::Null));
    }
    (status, Json(answer))
}

/// `GET /v1/payments/orders/{orderId}`: the approved payment for an order
/// id, or 404 `NOT_FOUND_PAYMENT`.
pub async fn by_order(
    State(fake): State<Shared>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    if !authorized(&headers) {
        return unauthorized();
    }
    let mut fake = fake.lock().unwrap();
    fake.lookups += 1;
    match fake.answered.get(&order_id) {
        Some((StatusCode::OK, answer)) => (StatusCode::OK, Json(answer.clone())),
        _ => error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND_PAYMENT",
            "존재하지 않는 결제 정보 입니다.",
        ),
    }
}

/// `POST /v1/payments/{paymentKey}/cancel`: refunds an approved payment
/// once; a replay of the same Idempotency-Key gets the first answer, a
/// second refund `ALREADY_CANCELED_PAYMENT`.
pub async fn cancel(
    State(fake): State<Shared>,
    Path(payment_key): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let mut fake = fake.lock().unwrap();
    let secret = fake.secret.clone();
    if !authorized_for(&headers, secret.as_deref().unwrap_or(SECRET)) {
        return unauthorized();
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some((status, answer)) = key.as_ref().and_then(|k| fake.cancel_answers.get(k)) {
        return (*status, Json(answer.clone()));
    }
    let approved = fake
        .answered
        .values()
        .find(|(s, a)| *s == StatusCode::OK && a["paymentKey"] == payment_key.as_str())
        .map(|(_, a)| a.clone());
    let (status, answer) = match approved {
        None => (
            StatusCode::NOT_FOUND,
            json!({"code": "NOT_FOUND_PAYMENT", "message": "존재하지 않는 결제 정보 입니다."}),
        ),
        Some(_) if fake.cancelled.contains(&payment_key) => (
            StatusCode::BAD_REQUEST,
            json!({"code": "ALREADY_CANCELED_PAYMENT", "message": "이미 취소된 결제 입니다."}),
        ),
        Some(payment) if body["cancelAmount"] != payment["totalAmount"] => (
            StatusCode::BAD_REQUEST,
            json!({"code": "INVALID_REQUEST", "message": "취소 금액이 올바르지 않습니다."}),
        ),
        Some(mut payment) => {
            fake.cancelled.push(payment_key.clone());
            payment["status"] = json!("CANCELED");
            (StatusCode::OK, payment)
        }
    };
    if let Some(k) = key {
        fake.cancel_answers.insert(k, (status, answer.clone()));
    }
    (status, Json(answer))
}

/// Starts the fake; its base URL and state.
pub async fn start_fake() -> (String, Shared) {
    let state = Shared::default();
    let router = axum::Router::new()
        .route("/v1/billing/authorizations/issue", post(issue))
        .route("/v1/billing/{billing_key}", post(charge))
        .route(
            "/v1/payments/orders/{order_id}",
            axum::routing::get(by_order),
        )
        .route("/v1/payments/{payment_key}/cancel", post(cancel))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, state)
}
