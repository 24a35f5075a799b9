//! `POST /api/v1/cover/price`, `GET /api/v1/cover/price/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::json::ApiJson;
use super::products::ProductDto;
use super::{ApiError, AuthPartner, create_status, parse_id};
use crate::domain::price::{NewPrice, PriceInput};
use crate::state::AppState;
use crate::store::{PriceRecord, ProductRecord, Store, StoreError};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreatePrice {
    #[schema(schema_with = super::schema::text_200, required = true)]
    name: Option<String>,
    #[schema(value_type = i64, minimum = 1, maximum = 9_007_199_254_740_991_i64, required = true)]
    #[serde(default, deserialize_with = "super::json::whole")]
    product_id: Option<i64>,
    /// Won.
    #[schema(value_type = i64, minimum = 0, maximum = 100_000_000_000_i64, required = true)]
    #[serde(default, deserialize_with = "super::json::whole")]
    price: Option<i64>,
    /// Absent: recurring when `recurringInterval` is given. When false,
    /// `recurringInterval` must be absent; when true, present.
    is_recurring: Option<bool>,
    #[schema(schema_with = super::schema::text_100, required = true)]
    partner_price_id: Option<String>,
    #[schema(schema_with = super::schema::optional_interval)]
    recurring_interval: Option<String>,
    /// Default 1.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "super::json::whole")]
    recurring_interval_count: Option<i64>,
    #[serde(default)]
    replace_if_exists: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceDto {
    id: i64,
    name: String,
    partner_price_id: String,
    product: ProductDto,
    price: i64,
    is_recurring: bool,
    recurring_interval: Option<String>,
    recurring_interval_count: Option<i64>,
}

impl PriceDto {
    pub fn new(p: PriceRecord, product: ProductRecord) -> Self {
        PriceDto {
            id: p.id,
            name: p.name,
            partner_price_id: p.partner_price_id,
            product: product.into(),
            price: p.price,
            is_recurring: p.is_recurring != 0,
            recurring_interval: p.recurring_interval,
            recurring_interval_count: p.recurring_interval_count,
        }
    }

    /// Loads the price's product for the nested `product` field.
    pub async fn load(
        store: &Store,
        partner_id: i64,
        p: PriceRecord,
    ) -> Result<PriceDto, StoreError> {
        let product =
            store
                .product(partner_id, p.product_id)
                .await?
                .ok_or(StoreError::Integrity(
                    "a price's product belongs to another partner",
                ))?;
        Ok(PriceDto::new(p, product))
    }
}

#[utoipa::path(post, path = "/api/v1/cover/price", operation_id = "createPrice", request_body = CreatePrice, responses((status = 201, body = PriceDto), (status = 200, body = PriceDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn create(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    ApiJson(body): ApiJson<CreatePrice>,
) -> Result<(StatusCode, Json<PriceDto>), ApiError> {
    let price = NewPrice::parse(PriceInput {
        name: body.name.as_deref(),
        partner_price_id: body.partner_price_id.as_deref(),
        product_id: body.product_id,
        price: body.price,
        is_recurring: body.is_recurring,
        recurring_interval: body.recurring_interval.as_deref(),
        recurring_interval_count: body.recurring_interval_count,
    })
    .map_err(ApiError::Validation)?;
    let product = state
        .store
        .product(partner.id, price.product_id)
        .await?
        .ok_or(ApiError::UnknownReference {
            field: "productId",
            resource: "product",
        })?;
    let now = state.clock.now().timestamp_millis();
    let (record, outcome) = state
        .store
        .upsert_price(partner.id, &price, body.replace_if_exists, now)
        .await?;
    // On the existing-record path the stored price may name another product.
    let dto = if record.product_id == product.id {
        PriceDto::new(record, product)
    } else {
        PriceDto::load(&state.store, partner.id, record).await?
    };
    Ok((create_status(outcome), Json(dto)))
}

#[utoipa::path(get, path = "/api/v1/cover/price/{id}", operation_id = "getPrice", params(("id" = i64, Path)), responses((status = 200, body = PriceDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn get(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    Path(id): Path<String>,
) -> Result<Json<PriceDto>, ApiError> {
    let record = state
        .store
        .price(partner.id, parse_id(&id, "price")?)
        .await?
        .ok_or(ApiError::NotFound("price"))?;
    Ok(Json(
        PriceDto::load(&state.store, partner.id, record).await?,
    ))
}
