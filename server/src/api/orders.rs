//! `POST /api/v1/cover/order`, `GET /api/v1/cover/order/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::customers::CustomerDto;
use super::json::ApiJson;
use super::prices::PriceDto;
use super::{ApiError, AuthPartner, create_status, parse_id};
use crate::domain::order::{ItemInput, NewOrder, OrderInput};
use crate::domain::token::{TokenHash, new_recovery_token};
use crate::state::AppState;
use crate::store::{OrderRefused, OrderView, UnknownRef};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateItem {
    /// A price of yours; each at most once per order.
    #[schema(value_type = i64, minimum = 1, maximum = 9_007_199_254_740_991_i64, required = true)]
    #[serde(default, deserialize_with = "super::json::whole")]
    price_id: Option<i64>,
    #[schema(value_type = i64, minimum = 1, maximum = 10000, required = true)]
    #[serde(default, deserialize_with = "super::json::whole")]
    quantity: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateOrder {
    #[schema(value_type = i64, minimum = 1, maximum = 9_007_199_254_740_991_i64, required = true)]
    #[serde(default, deserialize_with = "super::json::whole")]
    customer_id: Option<i64>,
    /// Won.
    #[schema(value_type = i64, minimum = 0, maximum = 100_000_000_000_i64, required = true)]
    #[serde(default, deserialize_with = "super::json::whole")]
    amount: Option<i64>,
    /// Won; at most `amount`.
    #[schema(value_type = i64, minimum = 0, maximum = 100_000_000_000_i64, required = true)]
    #[serde(default, deserialize_with = "super::json::whole")]
    amount_returned: Option<i64>,
    #[schema(value_type = Vec<CreateItem>, min_items = 1, max_items = 100, required = true)]
    items: Option<Vec<CreateItem>>,
    #[schema(schema_with = super::schema::text_100, required = true)]
    partner_order_id: Option<String>,
    #[schema(schema_with = super::schema::payment_gateway, required = true)]
    payment_gateway: Option<String>,
    #[schema(schema_with = super::schema::optional_time)]
    payment_date: Option<String>,
    /// The billing key.
    #[schema(schema_with = super::schema::optional_text_512)]
    id_key: Option<String>,
    /// Rebound's extension: the Toss `customerKey` the `idKey` was issued
    /// under (Toss charges a key only with its own). 2 to 300 letters,
    /// digits and `-_=.@`; needs `idKey`.
    #[schema(schema_with = super::schema::customer_key)]
    customer_key: Option<String>,
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 9_007_199_254_740_991_i64)]
    #[serde(default, deserialize_with = "super::json::whole")]
    subscription_id: Option<i64>,
    #[schema(schema_with = super::schema::optional_text_100)]
    payment_info: Option<String>,
    payment_failed: Option<bool>,
    #[schema(schema_with = super::schema::optional_text_100)]
    error_code: Option<String>,
    #[schema(schema_with = super::schema::optional_text_500)]
    error_message: Option<String>,
    /// Accepted for StepCover compatibility; cancellation goes through
    /// `PATCH /order/cancel/{id}`.
    #[allow(dead_code)]
    canceled_date: Option<String>,
    #[serde(default)]
    replace_if_exists: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderItemDto {
    price: PriceDto,
    quantity: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderDto {
    id: i64,
    customer: CustomerDto,
    amount: i64,
    amount_returned: i64,
    items: Vec<OrderItemDto>,
    status: String,
    payment_gateway: String,
    payment_date: Option<String>,
    id_key: Option<String>,
    /// When the next recovery message goes out; null without an open case.
    retry_date: Option<String>,
    partner_order_id: String,
    /// What recovered the payment, when a charge of Rebound's did (null
    /// otherwise): `retry`, `page`, `method_change` or `scheduled_date`.
    recovered_by: Option<String>,
    /// That charge's number among the case's charges, from 1.
    recovery_attempt: Option<i64>,
    /// The last stage sent before that charge (0: none).
    recovery_stage: Option<i64>,
}

pub fn rfc3339(ms: i64) -> Option<String> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

impl From<OrderView> for OrderDto {
    fn from(v: OrderView) -> Self {
        OrderDto {
            id: v.order.id,
            customer: v.customer.into(),
            amount: v.order.amount,
            amount_returned: v.order.amount_returned,
            items: v
                .items
                .into_iter()
                .map(|(price, product, quantity)| OrderItemDto {
                    price: PriceDto::new(price, product),
                    quantity,
                })
                .collect(),
            status: v.order.status,
            payment_gateway: v.order.payment_gateway,
            payment_date: v.order.payment_date.and_then(rfc3339),
            id_key: v.order.id_key,
            retry_date: v.retry_at_ms.and_then(rfc3339),
            partner_order_id: v.order.partner_order_id,
            recovered_by: v.recovery.as_ref().map(|r| r.0.clone()),
            recovery_attempt: v.recovery.as_ref().map(|r| r.1),
            recovery_stage: v.recovery.as_ref().map(|r| r.2),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/cover/order", operation_id = "createOrder", request_body = CreateOrder, responses((status = 201, body = OrderDto), (status = 200, body = OrderDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn create(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    ApiJson(body): ApiJson<CreateOrder>,
) -> Result<(StatusCode, Json<OrderDto>), ApiError> {
    let items: Option<Vec<ItemInput>> = body.items.as_ref().map(|items| {
        items
            .iter()
            .map(|i| ItemInput {
                price_id: i.price_id,
                quantity: i.quantity,
            })
            .collect()
    });
    let order = NewOrder::parse(OrderInput {
        customer_id: body.customer_id,
        amount: body.amount,
        amount_returned: body.amount_returned,
        items: items.as_deref(),
        partner_order_id: body.partner_order_id.as_deref(),
        payment_gateway: body.payment_gateway.as_deref(),
        payment_date: body.payment_date.as_deref(),
        id_key: body.id_key.as_deref(),
        customer_key: body.customer_key.as_deref(),
        subscription_id: body.subscription_id,
        payment_info: body.payment_info.as_deref(),
        payment_failed: body.payment_failed,
        error_code: body.error_code.as_deref(),
        error_message: body.error_message.as_deref(),
    })
    .map_err(ApiError::Validation)?;
    let now = state.clock.now().timestamp_millis();
    // The link token goes into the recovery messages the scenario engine
    // sends; only its hash is stored.
    let link_token = TokenHash::of(&new_recovery_token());
    let (id, outcome) = state
        .store
        .create_order(partner.id, &order, body.replace_if_exists, &link_token, now)
        .await?
        .map_err(|r| match r {
            OrderRefused::AlreadyPaid => ApiError::OrderAlreadyPaid,
            OrderRefused::UnknownRef(UnknownRef::Customer) => ApiError::UnknownReference {
                field: "customerId",
                resource: "customer",
            },
            OrderRefused::UnknownRef(UnknownRef::Price(_)) => ApiError::UnknownReference {
                field: "items[].priceId",
                resource: "price",
            },
            OrderRefused::UnknownRef(UnknownRef::Subscription) => ApiError::UnknownReference {
                field: "subscriptionId",
                resource: "subscription",
            },
        })?;
    let view = state
        .store
        .order_view(partner.id, id)
        .await?
        .ok_or(ApiError::NotFound("order"))?;
    Ok((create_status(outcome), Json(view.into())))
}

#[utoipa::path(get, path = "/api/v1/cover/order/{id}", operation_id = "getOrder", params(("id" = i64, Path)), responses((status = 200, body = OrderDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn get(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    Path(id): Path<String>,
) -> Result<Json<OrderDto>, ApiError> {
    let view = state
        .store
        .order_view(partner.id, parse_id(&id, "order")?)
        .await?
        .ok_or(ApiError::NotFound("order"))?;
    Ok(Json(view.into()))
}
