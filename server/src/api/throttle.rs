//! The partner API's rate limit, per Secret-Token (`limits.rs`), checked
//! before anything else so a flood costs no database work.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::state::AppState;

pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let token = super::auth::presented_token(&parts.headers);
    let ip = crate::serve::peer_ip(&parts);
    if let Err(limited) = state.limits.api(token, ip) {
        return ApiError::RateLimited(limited).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
