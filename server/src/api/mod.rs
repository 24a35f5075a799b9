//! The StepCover-compatible partner API under `/api/v1/cover` (design section 2).
//! Handlers are thin: extract, parse into domain types, call the store, map.

pub mod analytics;
mod auth;
mod customers;
pub mod error;
pub mod events;
mod idempotency;
mod json;
mod lifecycle;
mod lists;
mod openapi;
mod orders;
mod prices;
mod products;
mod subscriptions;
mod throttle;
pub mod trace;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, patch, post, put};

use crate::state::AppState;
use crate::store::UpsertOutcome;

pub use auth::AuthPartner;
pub use error::ApiError;

/// Bodies larger than this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/cover/customer",
            post(customers::create).get(lists::customers),
        )
        .route("/api/v1/cover/customer/{id}", get(customers::get))
        .route(
            "/api/v1/cover/product",
            post(products::create).get(lists::products),
        )
        .route("/api/v1/cover/product/{id}", get(products::get))
        .route(
            "/api/v1/cover/price",
            post(prices::create).get(lists::prices),
        )
        .route("/api/v1/cover/price/{id}", get(prices::get))
        .route(
            "/api/v1/cover/order",
            post(orders::create).get(lists::orders),
        )
        .route("/api/v1/cover/order/{id}", get(orders::get))
        .route(
            "/api/v1/cover/subscription",
            post(subscriptions::create).get(lists::subscriptions),
        )
        .route("/api/v1/cover/subscription/{id}", get(subscriptions::get))
        .route(
            "/api/v1/cover/subscription/{id}/active",
            put(lifecycle::subscription_active),
        )
        .route(
            "/api/v1/cover/subscription/{id}/cancel",
            put(lifecycle::subscription_cancel),
        )
        .route(
            "/api/v1/cover/order/success/{id}",
            patch(lifecycle::order_success),
        )
        .route(
            "/api/v1/cover/order/cancel/{id}",
            patch(lifecycle::order_cancel),
        )
        .route("/api/v1/cover/order/{id}/idKey", get(lifecycle::id_key))
        .route("/api/v1/cover/recovery", post(lifecycle::start_recovery))
        .route("/api/v1/cover/analytics", get(analytics::report))
        .route("/api/v1/cover/events", get(events::list))
        .route(
            "/api/v1/cover/events/redeliver",
            post(events::redeliver_since),
        )
        .route("/api/v1/cover/events/{id}", get(events::get))
        .route(
            "/api/v1/cover/events/{id}/redeliver",
            post(events::redeliver_one),
        )
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
        .route("/api/openapi.json", get(openapi::document))
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
