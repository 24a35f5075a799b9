//! The StepCover-compatible partner API under `/api/v1/cover` (design section 2).
//! Handlers are thin: extract, parse into domain types, call the store, map.

pub mod analytics;
mod auth;
mod customers;
pub mod error;
pub mod events;
pub mod experiments;
mod idempotency;
mod json;
mod lifecycle;
mod lists;
mod openapi;
mod orders;
mod prices;
mod products;
mod schema;
mod subscriptions;
mod throttle;
pub mod trace;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;
use crate::store::UpsertOutcome;

pub use auth::AuthPartner;
pub use error::ApiError;

/// Bodies larger than this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The partner API's routes with their OpenAPI operations, listed once:
/// `routes!` registers each handler with the router and its
/// `#[utoipa::path]` with the document, so no route goes undocumented.
pub fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(customers::create, lists::customers))
        .routes(routes!(customers::get))
        .routes(routes!(products::create, lists::products))
        .routes(routes!(products::get))
        .routes(routes!(prices::create, lists::prices))
        .routes(routes!(prices::get))
        .routes(routes!(orders::create, lists::orders))
        .routes(routes!(orders::get))
        .routes(routes!(subscriptions::create, lists::subscriptions))
        .routes(routes!(subscriptions::get))
        .routes(routes!(lifecycle::subscription_active))
        .routes(routes!(lifecycle::subscription_cancel))
        .routes(routes!(lifecycle::order_success))
        .routes(routes!(lifecycle::order_cancel))
        .routes(routes!(lifecycle::id_key))
        .routes(routes!(lifecycle::start_recovery))
        .routes(routes!(analytics::report))
        .routes(routes!(experiments::list))
        .routes(routes!(experiments::get))
        .routes(routes!(events::list))
        .routes(routes!(events::redeliver_since))
        .routes(routes!(events::get))
        .routes(routes!(events::redeliver_one))
}

/// The partner API's OpenAPI document (`GET /api/openapi.json`).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    documented().into_openapi()
}

pub fn router(state: &AppState) -> Router<AppState> {
    let (routes, document) = documented().split_for_parts();
    let document = std::sync::Arc::new(document);
    routes
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::middleware,
        ))
        // Outermost: a caller over its rate costs no database work.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            throttle::middleware,
        ))
        // After route_layer: the document needs no Secret-Token or key.
        .route(
            "/api/openapi.json",
            get(move || {
                let document = document.clone();
                async move { axum::Json(document.as_ref().clone()) }
            }),
        )
}

/// 201 for a new record; 200 when the partner id already existed.
fn create_status(outcome: UpsertOutcome) -> StatusCode {
    match outcome {
        UpsertOutcome::Created => StatusCode::CREATED,
        UpsertOutcome::Existing | UpsertOutcome::Replaced => StatusCode::OK,
    }
}

/// Our ids are positive int64s; anything else names no record, so 404.
fn parse_id(raw: &str, resource: &'static str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(ApiError::NotFound(resource))
}
