//! `POST /api/v1/cover/product`, `GET /api/v1/cover/product/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::json::ApiJson;
use super::{ApiError, AuthPartner, create_status, parse_id};
use crate::domain::product::{NewProduct, ProductInput};
use crate::state::AppState;
use crate::store::ProductRecord;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateProduct {
    #[schema(schema_with = super::schema::text_200, required = true)]
    name: Option<String>,
    #[schema(schema_with = super::schema::text_100, required = true)]
    partner_product_id: Option<String>,
    /// An absolute http(s) URL: the page shows it.
    #[schema(schema_with = super::schema::image_url)]
    featured_image_url: Option<String>,
    #[serde(default)]
    replace_if_exists: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductDto {
    id: i64,
    name: String,
    featured_image_url: Option<String>,
    partner_product_id: String,
}

impl From<ProductRecord> for ProductDto {
    fn from(p: ProductRecord) -> Self {
        ProductDto {
            id: p.id,
            name: p.name,
            featured_image_url: p.featured_image_url,
            partner_product_id: p.partner_product_id,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/cover/product", operation_id = "createProduct", request_body = CreateProduct, responses((status = 201, body = ProductDto), (status = 200, body = ProductDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn create(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    ApiJson(body): ApiJson<CreateProduct>,
) -> Result<(StatusCode, Json<ProductDto>), ApiError> {
    let product = NewProduct::parse(ProductInput {
        name: body.name.as_deref(),
        partner_product_id: body.partner_product_id.as_deref(),
        featured_image_url: body.featured_image_url.as_deref(),
    })
    .map_err(ApiError::Validation)?;
    let now = state.clock.now().timestamp_millis();
    let (record, outcome) = state
        .store
        .upsert_product(partner.id, &product, body.replace_if_exists, now)
        .await?;
    Ok((create_status(outcome), Json(record.into())))
}

#[utoipa::path(get, path = "/api/v1/cover/product/{id}", operation_id = "getProduct", params(("id" = i64, Path)), responses((status = 200, body = ProductDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn get(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    Path(id): Path<String>,
) -> Result<Json<ProductDto>, ApiError> {
    let record = state
        .store
        .product(partner.id, parse_id(&id, "product")?)
        .await?
        .ok_or(ApiError::NotFound("product"))?;
    Ok(Json(record.into()))
}
