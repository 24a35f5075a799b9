//! Calls that move a recovery case: `POST /recovery`, `GET /order/{token}/idKey`,
//! `PATCH /order/success|cancel/{id}`, `PUT /subscription/{id}/active|cancel`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::json::ApiJson;
use super::orders::{OrderDto, rfc3339};
use super::{ApiError, AuthPartner, parse_id};
use crate::domain::price::id;
use crate::domain::token::{TokenHash, TokenKey, new_recovery_token};
use crate::domain::{Problems, optional_text};
use crate::state::AppState;
use crate::store::{CaseEnd, Settlement};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StartRecovery {
    #[schema(value_type = i64, minimum = 1, maximum = 9_007_199_254_740_991_i64, required = true)]
    #[serde(default, deserialize_with = "super::json::whole")]
    subscription_id: Option<i64>,
    #[schema(value_type = i64, minimum = 1, maximum = 9_007_199_254_740_991_i64, required = true)]
    #[serde(default, deserialize_with = "super::json::whole")]
    order_id: Option<i64>,
    #[schema(schema_with = super::schema::optional_text_100)]
    error_code: Option<String>,
    #[schema(schema_with = super::schema::optional_text_500)]
    error_message: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryDto {
    cover_id: i64,
    /// The next stage's time; null once the scenario has ended.
    retry_date: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/cover/recovery", operation_id = "startRecovery", request_body = StartRecovery, responses((status = 201, body = RecoveryDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn start_recovery(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    ApiJson(body): ApiJson<StartRecovery>,
) -> Result<(StatusCode, Json<RecoveryDto>), ApiError> {
    let mut p = Problems::default();
    let sub = p.check(id("subscriptionId", body.subscription_id));
    let order = p.check(id("orderId", body.order_id));
    let code = p.check(optional_text("errorCode", body.error_code.as_deref(), 100));
    let message = p.check(optional_text(
        "errorMessage",
        body.error_message.as_deref(),
        500,
    ));
    p.into_result().map_err(ApiError::Validation)?;
    let (sub, order) = (sub.expect("checked"), order.expect("checked"));
    let (code, message) = (code.expect("checked"), message.expect("checked"));
    if state.store.subscription(partner.id, sub).await?.is_none() {
        return Err(ApiError::UnknownReference {
            field: "subscriptionId",
            resource: "subscription",
        });
    }
    if !state.store.owns_order(partner.id, order).await? {
        return Err(ApiError::UnknownReference {
            field: "orderId",
            resource: "order",
        });
    }
    let now = state.clock.now().timestamp_millis();
    let recovery = state
        .store
        .start_recovery(
            partner.id,
            sub,
            order,
            code.as_deref(),
            message.as_deref(),
            &TokenHash::of(&new_recovery_token()),
            now,
        )
        .await?
        .ok_or(ApiError::OrderAlreadyPaid)?;
    Ok((
        if recovery.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(RecoveryDto {
            cover_id: recovery.case_id,
            retry_date: recovery.next_stage_at_ms.and_then(rfc3339),
        }),
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdKeyDto {
    id_key: Option<String>,
    order_id: i64,
    payment_gateway: String,
    /// The customer the case is for: check it against your logged-in
    /// customer before storing a new card (a forwarded link lets someone
    /// else's card in).
    partner_customer_id: String,
}

/// The partner's backend asks for the (possibly new) billing key after a
/// `change-method` message; the key never travels through the browser.
#[utoipa::path(get, path = "/api/v1/cover/order/{id}/idKey", operation_id = "getOrderIdKey", params(("id" = String, Path, description = "recovery link token")), responses((status = 200, body = IdKeyDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn id_key(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    Path(token): Path<String>,
) -> Result<Json<IdKeyDto>, ApiError> {
    if token.is_empty() || token.len() > 128 {
        return Err(ApiError::NotFound("recovery token"));
    }
    let (id_key, order_id, payment_gateway, partner_customer_id) = state
        .store
        .id_key_by_token(partner.id, &TokenKey::of(&token))
        .await?
        .ok_or(ApiError::NotFound("recovery token"))?;
    Ok(Json(IdKeyDto {
        id_key,
        order_id,
        payment_gateway,
        partner_customer_id,
    }))
}

async fn settle_order(
    state: &AppState,
    partner_id: i64,
    raw_id: &str,
    status: &str,
    end: CaseEnd,
) -> Result<Json<OrderDto>, ApiError> {
    let order_id = parse_id(raw_id, "order")?;
    let now = state.clock.now().timestamp_millis();
    match state
        .store
        .settle_order(partner_id, order_id, status, end, now)
        .await?
    {
        Settlement::Done => {}
        Settlement::NotFound => return Err(ApiError::NotFound("order")),
        Settlement::AlreadyPaid => return Err(ApiError::OrderAlreadyPaid),
    }
    let view = state
        .store
        .order_view(partner_id, order_id)
        .await?
        .ok_or(ApiError::NotFound("order"))?;
    Ok(Json(view.into()))
}

/// Paid outside the recovery page: the case closes as recovered. A paid
/// order is final: a second success answers `ORDER_ALREADY_PAID`.
#[utoipa::path(patch, path = "/api/v1/cover/order/success/{id}", operation_id = "markOrderPaid", params(("id" = i64, Path)), responses((status = 200, body = OrderDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn order_success(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    Path(id): Path<String>,
) -> Result<Json<OrderDto>, ApiError> {
    settle_order(&state, partner.id, &id, "PAID", CaseEnd::Recovered).await
}

/// Canceled outside the recovery page: the case closes as canceled.
#[utoipa::path(patch, path = "/api/v1/cover/order/cancel/{id}", operation_id = "cancelOrder", params(("id" = i64, Path)), responses((status = 200, body = OrderDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn order_cancel(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    Path(id): Path<String>,
) -> Result<Json<OrderDto>, ApiError> {
    settle_order(&state, partner.id, &id, "CANCELED", CaseEnd::Canceled).await
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResultDto {
    result: bool,
    message: String,
}

async fn settle_subscription(
    state: &AppState,
    partner_id: i64,
    raw_id: &str,
    status: &str,
    end: CaseEnd,
) -> Result<Json<ResultDto>, ApiError> {
    let sub = parse_id(raw_id, "subscription")?;
    let now = state.clock.now().timestamp_millis();
    state
        .store
        .settle_subscription(partner_id, sub, status, end, now)
        .await?
        .ok_or(ApiError::NotFound("subscription"))?;
    Ok(Json(ResultDto {
        result: true,
        message: format!("subscription {sub} is {status}"),
    }))
}

#[utoipa::path(put, path = "/api/v1/cover/subscription/{id}/active", operation_id = "activateSubscription", params(("id" = i64, Path)), responses((status = 200, body = ResultDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn subscription_active(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    Path(id): Path<String>,
) -> Result<Json<ResultDto>, ApiError> {
    settle_subscription(&state, partner.id, &id, "ACTIVE", CaseEnd::Recovered).await
}

#[utoipa::path(put, path = "/api/v1/cover/subscription/{id}/cancel", operation_id = "cancelSubscription", params(("id" = i64, Path)), responses((status = 200, body = ResultDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn subscription_cancel(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    Path(id): Path<String>,
) -> Result<Json<ResultDto>, ApiError> {
    settle_subscription(&state, partner.id, &id, "CANCELED", CaseEnd::Canceled).await
}
