//! The partner API's rate limits (`limits.rs`): a request with no
//! Secret-Token is counted by its address here, before anything else, so
//! such a flood costs no database work; one with a token is counted when
//! the token is checked (`auth::authenticate`): by its partner, or, if it
//! opens nothing, by its address, so a made-up token gets no bucket of its
//! own.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::state::AppState;

pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    if super::auth::presented_token(&parts.headers).is_none()
        && let Err(limited) = state.limits.api_anonymous(crate::serve::peer_ip(&parts))
    {
        return ApiError::RateLimited(limited).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
