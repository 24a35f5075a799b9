//! `POST /api/v1/cover/subscription`, `GET /api/v1/cover/subscription/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::customers::CustomerDto;
use super::json::ApiJson;
use super::orders::rfc3339;
use super::{ApiError, AuthPartner, create_status, parse_id};
use crate::domain::subscription::{NewSubscription, SubscriptionInput};
use crate::state::AppState;
use crate::store::{CustomerRecord, StoreError, SubscriptionRecord};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateSubscription {
    #[schema(value_type = i64, minimum = 1, maximum = 9_007_199_254_740_991_i64, required = true)]
    #[serde(default, deserialize_with = "super::json::whole")]
    customer_id: Option<i64>,
    #[schema(schema_with = super::schema::time, required = true)]
    current_period_start: Option<String>,
    /// Not before `currentPeriodStart`.
    #[schema(schema_with = super::schema::time, required = true)]
    current_period_end: Option<String>,
    #[schema(schema_with = super::schema::interval, required = true)]
    recurring_interval: Option<String>,
    #[schema(value_type = i64, minimum = 1, maximum = 1000, required = true)]
    #[serde(default, deserialize_with = "super::json::whole")]
    recurring_interval_count: Option<i64>,
    #[schema(schema_with = super::schema::text_100, required = true)]
    partner_subscription_id: Option<String>,
    #[schema(schema_with = super::schema::optional_time)]
    trial_start: Option<String>,
    #[schema(schema_with = super::schema::optional_time)]
    trial_end: Option<String>,
    cancel_at_period_end: Option<bool>,
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 9_007_199_254_740_991_i64)]
    #[serde(default, deserialize_with = "super::json::whole")]
    initial_order_id: Option<i64>,
    /// StepCover's guide shows `paymentFailed` here by mistake; it is named
    /// in the error instead of being silently ignored (so the schema has
    /// no such field).
    #[schema(ignore)]
    payment_failed: Option<IgnoredAny>,
    #[allow(dead_code)]
    start: Option<String>,
    #[allow(dead_code)]
    canceled_at: Option<String>,
    #[serde(default)]
    replace_if_exists: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionDto {
    id: i64,
    customer: CustomerDto,
    status: String,
    current_period_start: Option<String>,
    current_period_end: Option<String>,
    recurring_interval: String,
    recurring_interval_count: i64,
    partner_subscription_id: String,
    trial_start: Option<String>,
    trial_end: Option<String>,
    cancel_at_period_end: bool,
    initial_order_id: Option<i64>,
}

impl SubscriptionDto {
    fn new(s: SubscriptionRecord, customer: CustomerRecord) -> Self {
        SubscriptionDto {
            id: s.id,
            customer: customer.into(),
            status: s.status,
            current_period_start: rfc3339(s.current_period_start),
            current_period_end: rfc3339(s.current_period_end),
            recurring_interval: s.recurring_interval,
            recurring_interval_count: s.recurring_interval_count,
            partner_subscription_id: s.partner_subscription_id,
            trial_start: s.trial_start.and_then(rfc3339),
            trial_end: s.trial_end.and_then(rfc3339),
            cancel_at_period_end: s.cancel_at_period_end != 0,
            initial_order_id: s.initial_order_id,
        }
    }
}

async fn dto(
    state: &AppState,
    partner_id: i64,
    s: SubscriptionRecord,
) -> Result<SubscriptionDto, ApiError> {
    let customer = state
        .store
        .customer(partner_id, s.customer_id)
        .await?
        .ok_or(StoreError::Integrity(
            "a subscription's customer belongs to another partner",
        ))?;
    Ok(SubscriptionDto::new(s, customer))
}

#[utoipa::path(post, path = "/api/v1/cover/subscription", operation_id = "createSubscription", request_body = CreateSubscription, responses((status = 201, body = SubscriptionDto), (status = 200, body = SubscriptionDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn create(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    ApiJson(body): ApiJson<CreateSubscription>,
) -> Result<(StatusCode, Json<SubscriptionDto>), ApiError> {
    if body.payment_failed.is_some() {
        return Err(ApiError::invalid(
            "paymentFailed",
            "belongs on POST /order (or use POST /recovery); StepCover's guide shows it here by mistake",
        ));
    }
    let sub = NewSubscription::parse(SubscriptionInput {
        customer_id: body.customer_id,
        current_period_start: body.current_period_start.as_deref(),
        current_period_end: body.current_period_end.as_deref(),
        recurring_interval: body.recurring_interval.as_deref(),
        recurring_interval_count: body.recurring_interval_count,
        partner_subscription_id: body.partner_subscription_id.as_deref(),
        trial_start: body.trial_start.as_deref(),
        trial_end: body.trial_end.as_deref(),
        cancel_at_period_end: body.cancel_at_period_end,
        initial_order_id: body.initial_order_id,
    })
    .map_err(ApiError::Validation)?;
    let customer = state
        .store
        .customer(partner.id, sub.customer_id)
        .await?
        .ok_or(ApiError::UnknownReference {
            field: "customerId",
            resource: "customer",
        })?;
    if let Some(order) = sub.initial_order_id
        && !state.store.owns_order(partner.id, order).await?
    {
        return Err(ApiError::UnknownReference {
            field: "initialOrderId",
            resource: "order",
        });
    }
    let now = state.clock.now().timestamp_millis();
    let (record, outcome) = state
        .store
        .upsert_subscription(partner.id, &sub, body.replace_if_exists, now)
        .await?;
    let dto = if record.customer_id == customer.id {
        SubscriptionDto::new(record, customer)
    } else {
        dto(&state, partner.id, record).await?
    };
    Ok((create_status(outcome), Json(dto)))
}

/// The partner's subscription with its customer, if it exists.
pub async fn load(
    state: &AppState,
    partner_id: i64,
    id: i64,
) -> Result<Option<SubscriptionDto>, ApiError> {
    match state.store.subscription(partner_id, id).await? {
        Some(record) => Ok(Some(dto(state, partner_id, record).await?)),
        None => Ok(None),
    }
}

#[utoipa::path(get, path = "/api/v1/cover/subscription/{id}", operation_id = "getSubscription", params(("id" = i64, Path)), responses((status = 200, body = SubscriptionDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn get(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    Path(id): Path<String>,
) -> Result<Json<SubscriptionDto>, ApiError> {
    let dto = load(&state, partner.id, parse_id(&id, "subscription")?)
        .await?
        .ok_or(ApiError::NotFound("subscription"))?;
    Ok(Json(dto))
}
