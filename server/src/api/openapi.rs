//! `GET /api/openapi.json`: the partner API's OpenAPI 3.1 document, generated
//! from the handlers' annotations.

use axum::Json;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};

use super::{
    analytics, customers, events, lifecycle, lists, orders, prices, products, subscriptions,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rebound partner API",
        description = "StepPay StepCover-compatible cover API: a StepCover partner switches by changing the base URL."
    ),
    paths(
        customers::create,
        customers::get,
        lists::customers,
        products::create,
        products::get,
        lists::products,
        prices::create,
        prices::get,
        lists::prices,
        orders::create,
        orders::get,
        lists::orders,
        subscriptions::create,
        subscriptions::get,
        lists::subscriptions,
        lifecycle::start_recovery,
        lifecycle::id_key,
        lifecycle::order_success,
        lifecycle::order_cancel,
        lifecycle::subscription_active,
        lifecycle::subscription_cancel,
        events::list,
        events::get,
        events::redeliver_one,
        events::redeliver_since,
        analytics::report,
    ),
    modifiers(&SecretToken),
    tags((name = "cover", description = "Customers, products, prices, orders, subscriptions and recovery"))
)]
pub struct ApiDoc;

/// Declares the `Secret-Token` header the operations' `security` refers to.
struct SecretToken;

impl utoipa::Modify for SecretToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "Secret-Token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("Secret-Token"))),
        );
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
