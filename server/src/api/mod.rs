//! The StepCover-compatible partner API under `/api/v1/cover` (design section 2).
//! Handlers are thin: extract, parse into domain types, call the store, map.

mod auth;
mod customers;
pub mod error;
mod json;
pub mod trace;

use axum::Router;
use axum::routing::post;

use crate::startup::AppState;

pub use auth::AuthPartner;
pub use error::ApiError;

/// Bodies larger than this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/cover/customer", post(customers::create))
}
