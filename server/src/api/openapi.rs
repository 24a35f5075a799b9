//! The partner API's OpenAPI 3.1 document: its info, the Secret-Token
//! scheme and the error body; the paths are added by the router itself
//! (`api::documented`).

use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rebound partner API",
        description = "StepPay StepCover-compatible cover API: a StepCover partner switches by changing the base URL."
    ),
    // The paths come from the router (`api::documented`, `routes!`).
    components(schemas(super::error::ErrorBody)),
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
