//! A local fake of PortOne V2's REST API as PortOne documents it
//! (`../shared/reference/gateways.md`): `Authorization: PortOne <secret>`,
//! a store id on every call, `{type, message}` errors (a PG's refusal as
//! `PG_PROVIDER` with its `pgCode`), one successful payment per payment id
//! (`409 ALREADY_PAID` after it), `Idempotency-Key` replays of the first
//! answer (`409 IDEMPOTENCY_OUTSTANDING_REQUEST` while it runs), payments
//! looked up by id, cancels, and billing keys read back.
//!
//! It refuses anything a real store would: another secret, another store,
//! an idempotency key that is not the quoted payment id, an amount other
//! than the order's. Every refusal of that kind is also counted in
//! `rejected`, so a test can say none happened.
//!
//! Billing keys say what the card does (`card_behaviour`). Faults (slow
//! answers, answers lost after approval, a forgotten idempotency key) let
//! process tests kill servers mid-charge.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub const SECRET: &str = "portone_api_secret_fake";
pub const STORE_ID: &str = "store-4f1b7c2a-0000-fake";

/// What the fake does wrong, per charge request (percentages).
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Approve, then answer PortOne's own 500 as if it failed after the PG
    /// said yes.
    pub lose_after_approval_percent: u64,
    /// Hold this many ms before answering (kills land mid-charge).
    pub delay_ms: u64,
    /// A resend finds its idempotency key forgotten (PortOne keeps answers
    /// about three hours) and is judged by the payment id alone.
    pub forget_key_percent: u64,
    /// The next cancel is made, then answered with PortOne's own 500.
    pub lose_next_cancel: bool,
}

/// A payment PortOne holds under one payment id.
#[derive(Debug, Clone)]
pub struct Payment {
    pub status: &'static str,
    pub billing_key: String,
    pub amount: i64,
    pub pg_code: Option<String>,
}

#[derive(Default)]
pub struct Fake {
    /// This store's API secret (`SECRET` when unset).
    pub secret: Option<String>,
    /// This store's id (`STORE_ID` when unset).
    pub store_id: Option<String>,
    /// What every charge must ask (KRW); any amount when unset.
    pub amount: Option<i64>,
    /// Payment id -> what PortOne recorded.
    pub payments: HashMap<String, Payment>,
    /// Idempotency key -> the first answer.
    answered: HashMap<String, (StatusCode, Value)>,
    processing: HashSet<String>,
    /// Bodies of approved charges, each with its `paymentId`.
    pub approved: Vec<Value>,
    /// Charge requests received, resends included.
    pub requests: u64,
    pub lookups: u64,
    /// Payment ids cancelled (refunded), in order.
    pub cancelled: Vec<String>,
    /// Requests refused for what a real store would refuse: the wrong
    /// secret or store, a key that is not the payment id, a wrong amount.
    pub rejected: Vec<String>,
    /// Billing keys charged at least once (answered, whatever the answer).
    tried_keys: HashSet<String>,
    pub faults: Faults,
    rng: u64,
}

impl Fake {
    fn roll(&mut self, percent: u64) -> bool {
        self.rng = self
            .rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        percent > 0 && (self.rng >> 33) % 100 < percent
    }

    fn secret(&self) -> &str {
        self.secret.as_deref().unwrap_or(SECRET)
    }

    fn store(&self) -> &str {
        self.store_id.as_deref().unwrap_or(STORE_ID)
    }

    /// The store's check of the caller: its secret, then its store id.
    fn admit(&mut self, headers: &HeaderMap, store_id: Option<&str>) -> Option<Reply> {
        let expected = format!("PortOne {}", self.secret());
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            self.rejected.push("authorization".into());
            return Some(error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "인증 정보가 올바르지 않습니다.",
            ));
        }
        if store_id != Some(self.store()) {
            self.rejected.push(format!("store {store_id:?}"));
            return Some(error(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "요청이 거절되었습니다.",
            ));
        }
        None
    }
}

pub type Shared = Arc<Mutex<Fake>>;
type Reply = (StatusCode, Json<Value>);

pub fn error(status: StatusCode, kind: &str, message: &str) -> Reply {
    (status, Json(json!({ "type": kind, "message": message })))
}

fn pg_refusal(code: &str, message: &str) -> Reply {
    (
        StatusCode::BAD_GATEWAY,
        Json(json!({
            "type": "PG_PROVIDER",
            "message": format!("[{code}] {message}"),
            "pgCode": code,
            "pgMessage": message,
        })),
    )
}

/// What a card does, by its billing key's name:
/// - `bk_po_hard_*`: the PG refuses for good (NICE `3021`, a bad expiry);
/// - `bk_po_limit_*`: no funds (KCP `CC10`, wait for payday);
/// - `bk_po_once_*`: a passing PG failure (`1242`), recorded as FAILED
///   under that payment id; the next payment id pays;
/// - `bk_po_flaky_*`: the first request gets a bare 502 from a proxy and
///   nothing is recorded; then it pays;
/// - `bk_po_deleted_*`: PortOne's own `BILLING_KEY_ALREADY_DELETED`;
/// - `bk_po_channel`: the store's channel is gone (`CHANNEL_NOT_FOUND`);
/// - anything else pays.
enum Card {
    Pays,
    Refused(Reply),
    Down,
}

fn card_behaviour(billing_key: &str, tried: bool) -> Card {
    if billing_key.starts_with("bk_po_hard_") {
        Card::Refused(pg_refusal("3021", "유효기간 오류"))
    } else if billing_key.starts_with("bk_po_limit_") {
        Card::Refused(pg_refusal("CC10", "잔액부족"))
    } else if billing_key.starts_with("bk_po_once_") && !tried {
        Card::Refused(pg_refusal("1242", "카드사 통신 장애"))
    } else if billing_key.starts_with("bk_po_flaky_") && !tried {
        Card::Down
    } else if billing_key.starts_with("bk_po_deleted_") {
        Card::Refused(error(
            StatusCode::BAD_REQUEST,
            "BILLING_KEY_ALREADY_DELETED",
            "빌링키가 이미 삭제되었습니다.",
        ))
    } else if billing_key == "bk_po_channel" {
        Card::Refused(error(
            StatusCode::NOT_FOUND,
            "CHANNEL_NOT_FOUND",
            "채널이 존재하지 않습니다.",
        ))
    } else {
        Card::Pays
    }
}

/// `POST /payments/{paymentId}/billing-key`.
async fn charge(
    State(fake): State<Shared>,
    Path(payment_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Reply {
    {
        let mut f = fake.lock().unwrap();
        f.requests += 1;
        if let Some(refused) = f.admit(&headers, body["storeId"].as_str()) {
            return refused;
        }
        let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
        if key != Some(format!("\"{payment_id}\"").as_str()) {
            f.rejected
                .push(format!("idempotency key {key:?} for {payment_id}"));
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "Idempotency-Key가 올바르지 않습니다.",
            );
        }
        let amount = body["amount"]["total"].as_i64();
        let wrong_amount = match f.amount {
            Some(expected) => amount != Some(expected),
            None => amount.is_none_or(|a| a <= 0),
        };
        if wrong_amount || body["currency"] != "KRW" {
            f.rejected
                .push(format!("amount {amount:?} for {payment_id}"));
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "결제 금액이 올바르지 않습니다.",
            );
        }
    }
    // A PG finishes a charge it started whether or not the caller is still
    // there (a killed server): the work runs on its own task.
    tokio::spawn(process_charge(fake, payment_id, body))
        .await
        .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "panic"))
}

async fn process_charge(fake: Shared, payment_id: String, body: Value) -> Reply {
    let delay = {
        let mut f = fake.lock().unwrap();
        let forget = f.faults.forget_key_percent;
        if f.answered.contains_key(&payment_id) && f.roll(forget) {
            f.answered.remove(&payment_id);
        }
        if let Some((status, answer)) = f.answered.get(&payment_id) {
            return (*status, Json(answer.clone()));
        }
        if !f.processing.insert(payment_id.clone()) {
            return error(
                StatusCode::CONFLICT,
                "IDEMPOTENCY_OUTSTANDING_REQUEST",
                "이전 요청이 아직 처리 중입니다.",
            );
        }
        f.faults.delay_ms
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut f = fake.lock().unwrap();
    f.processing.remove(&payment_id);
    if f.payments
        .get(&payment_id)
        .is_some_and(|p| p.status != "FAILED")
    {
        // Only one payment per id succeeds; a failed one may be tried again.
        return error(
            StatusCode::CONFLICT,
            "ALREADY_PAID",
            "이미 결제가 완료되었습니다.",
        );
    }
    let billing_key = body["billingKey"].as_str().unwrap_or_default().to_owned();
    let tried = f.tried_keys.contains(&billing_key);
    let amount = body["amount"]["total"].as_i64().unwrap_or_default();
    let (status, answer) = match card_behaviour(&billing_key, tried) {
        Card::Down => {
            // PortOne unreachable behind its proxy: nothing recorded, no
            // answer stored (a resend is processed afresh).
            f.tried_keys.insert(billing_key);
            return (StatusCode::BAD_GATEWAY, Json(Value::Null));
        }
        Card::Refused((status, Json(answer))) => {
            // A PG's refusal is a FAILED payment; PortOne's own checks
            // (a deleted key, no channel) record nothing.
            if let Some(pg_code) = answer["pgCode"].as_str() {
                let payment = Payment {
                    status: "FAILED",
                    billing_key: billing_key.clone(),
                    amount,
                    pg_code: Some(pg_code.to_owned()),
                };
                f.payments.insert(payment_id.clone(), payment);
            }
            (status, answer)
        }
        Card::Pays => {
            f.payments.insert(
                payment_id.clone(),
                Payment {
                    status: "PAID",
                    billing_key: billing_key.clone(),
                    amount,
                    pg_code: None,
                },
            );
            let mut approved = body.clone();
            approved["paymentId"] = json!(payment_id);
            f.approved.push(approved);
            (
                StatusCode::OK,
                json!({ "payment": { "pgTxId": format!("pg-{}", f.approved.len()),
                                     "paidAt": "2026-11-22T13:05:00+09:00" } }),
            )
        }
    };
    f.answered
        .insert(payment_id.clone(), (status, answer.clone()));
    f.tried_keys.insert(billing_key);
    let lose = f.faults.lose_after_approval_percent;
    if status == StatusCode::OK && f.roll(lose) {
        // PortOne's own 500 after the PG approved: a typed answer that
        // still says nothing about the payment.
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "일시적인 오류가 발생했습니다.",
        );
    }
    (status, Json(answer))
}

#[derive(serde::Deserialize)]
struct StoreQuery {
    #[serde(rename = "storeId")]
    store_id: Option<String>,
}

/// `GET /payments/{paymentId}?storeId=`.
async fn lookup(
    State(fake): State<Shared>,
    Path(payment_id): Path<String>,
    Query(q): Query<StoreQuery>,
    headers: HeaderMap,
) -> Reply {
    let mut f = fake.lock().unwrap();
    if let Some(refused) = f.admit(&headers, q.store_id.as_deref()) {
        return refused;
    }
    f.lookups += 1;
    match f.payments.get(&payment_id) {
        None => error(
            StatusCode::NOT_FOUND,
            "PAYMENT_NOT_FOUND",
            "결제 건이 존재하지 않습니다.",
        ),
        Some(p) => {
            let mut body = json!({
                "status": p.status,
                "id": payment_id,
                "billingKey": p.billing_key,
                "amount": { "total": p.amount },
                "currency": "KRW",
            });
            if let Some(code) = &p.pg_code {
                body["failure"] =
                    json!({ "reason": "결제 실패", "pgCode": code, "pgMessage": "카드사 거절" });
            }
            (StatusCode::OK, Json(body))
        }
    }
}

/// `POST /payments/{paymentId}/cancel`: the whole amount.
async fn cancel(
    State(fake): State<Shared>,
    Path(payment_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Reply {
    let mut f = fake.lock().unwrap();
    if let Some(refused) = f.admit(&headers, body["storeId"].as_str()) {
        return refused;
    }
    let Some(payment) = f.payments.get_mut(&payment_id) else {
        return error(
            StatusCode::NOT_FOUND,
            "PAYMENT_NOT_FOUND",
            "결제 건이 존재하지 않습니다.",
        );
    };
    match payment.status {
        "PAID" => {}
        "CANCELLED" => {
            return error(
                StatusCode::CONFLICT,
                "PAYMENT_ALREADY_CANCELLED",
                "이미 취소된 결제입니다.",
            );
        }
        _ => {
            return error(
                StatusCode::CONFLICT,
                "PAYMENT_NOT_PAID",
                "결제 완료 상태가 아닙니다.",
            );
        }
    }
    if body["amount"].as_i64().is_some_and(|a| a != payment.amount) {
        f.rejected.push(format!("cancel amount for {payment_id}"));
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "취소 금액이 올바르지 않습니다.",
        );
    }
    payment.status = "CANCELLED";
    f.cancelled.push(payment_id.clone());
    if std::mem::take(&mut f.faults.lose_next_cancel) {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "일시적인 오류가 발생했습니다.",
        );
    }
    (
        StatusCode::OK,
        Json(
            json!({ "cancellation": { "status": "SUCCEEDED", "id": format!("cancel-{payment_id}") } }),
        ),
    )
}

/// `GET /billing-keys/{billingKey}?storeId=`: keys the card window issued
/// (`bk_po_new_*`), with their card.
async fn billing_key(
    State(fake): State<Shared>,
    Path(billing_key): Path<String>,
    Query(q): Query<StoreQuery>,
    headers: HeaderMap,
) -> Reply {
    let mut f = fake.lock().unwrap();
    if let Some(refused) = f.admit(&headers, q.store_id.as_deref()) {
        return refused;
    }
    if !billing_key.starts_with("bk_po_new_") {
        return error(
            StatusCode::NOT_FOUND,
            "BILLING_KEY_NOT_FOUND",
            "빌링키가 존재하지 않습니다.",
        );
    }
    (
        StatusCode::OK,
        Json(json!({
            "status": "ISSUED",
            "billingKey": billing_key,
            "methods": [{ "type": "BillingKeyPaymentMethodCard",
                          "card": { "name": "KB국민카드", "number": "94904012****567*" } }],
        })),
    )
}

/// Starts the fake; its base URL and state.
pub async fn start_fake() -> (String, Shared) {
    let state = Shared::default();
    let router = axum::Router::new()
        .route("/payments/{payment_id}/billing-key", post(charge))
        .route("/payments/{payment_id}", get(lookup))
        .route("/payments/{payment_id}/cancel", post(cancel))
        .route("/billing-keys/{billing_key}", get(billing_key))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, state)
}
