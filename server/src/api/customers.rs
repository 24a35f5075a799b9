//! `POST /api/v1/cover/customer`, `GET /api/v1/cover/customer/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::json::ApiJson;
use super::{ApiError, AuthPartner, create_status, parse_id};
use crate::domain::customer::{CustomerInput, NewCustomer};
use crate::state::AppState;
use crate::store::CustomerRecord;

/// The request as StepCover documents it. Every field is optional here so a
/// missing one is reported by name with the others, not as a parse failure.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateCustomer {
    #[schema(schema_with = super::schema::text_100, required = true)]
    name: Option<String>,
    #[schema(schema_with = super::schema::email, required = true)]
    email: Option<String>,
    /// 8 to 15 digits; spaces, dashes and a leading `+` allowed.
    #[schema(schema_with = super::schema::phone, required = true)]
    phone: Option<String>,
    #[schema(schema_with = super::schema::text_100, required = true)]
    partner_customer_id: Option<String>,
    #[serde(default)]
    replace_if_exists: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerDto {
    id: i64,
    name: String,
    email: String,
    phone: String,
    partner_customer_id: String,
}

impl From<CustomerRecord> for CustomerDto {
    fn from(c: CustomerRecord) -> Self {
        CustomerDto {
            id: c.id,
            name: c.name,
            email: c.email,
            phone: c.phone,
            partner_customer_id: c.partner_customer_id,
        }
    }
}

/// 201 with the new customer; 200 with the existing one (replaced when
/// `replaceIfExists` is true) if the partner already sent this `partnerCustomerId`.
#[utoipa::path(post, path = "/api/v1/cover/customer", operation_id = "createCustomer", request_body = CreateCustomer, responses((status = 201, body = CustomerDto), (status = 200, body = CustomerDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn create(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    ApiJson(body): ApiJson<CreateCustomer>,
) -> Result<(StatusCode, Json<CustomerDto>), ApiError> {
    let customer = NewCustomer::parse(CustomerInput {
        name: body.name.as_deref(),
        email: body.email.as_deref(),
        phone: body.phone.as_deref(),
        partner_customer_id: body.partner_customer_id.as_deref(),
    })
    .map_err(ApiError::Validation)?;
    let now = state.clock.now().timestamp_millis();
    let (record, outcome) = state
        .store
        .upsert_customer(partner.id, &customer, body.replace_if_exists, now)
        .await?;
    Ok((create_status(outcome), Json(record.into())))
}

/// The partner's own customer; another partner's id is a 404 like a missing one.
#[utoipa::path(get, path = "/api/v1/cover/customer/{id}", operation_id = "getCustomer", params(("id" = i64, Path)), responses((status = 200, body = CustomerDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn get(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    Path(id): Path<String>,
) -> Result<Json<CustomerDto>, ApiError> {
    let record = state
        .store
        .customer(partner.id, parse_id(&id, "customer")?)
        .await?
        .ok_or(ApiError::NotFound("customer"))?;
    Ok(Json(record.into()))
}
