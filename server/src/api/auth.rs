//! `Secret-Token` authentication: the partner every API call acts for.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::ApiError;
use crate::domain::token::TokenHash;
use crate::state::AppState;
use crate::store::PartnerRecord;

/// The authenticated partner. Handlers take this and scope every query by its id.
pub struct AuthPartner(pub PartnerRecord);

/// The Secret-Token a request carries, if it carries one that could be one.
pub fn presented_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("secret-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 256)
}

/// The partner whose Secret-Token the request carries.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<PartnerRecord, ApiError> {
    let presented = presented_token(headers).ok_or(ApiError::Unauthorized)?;
    let now = state.clock.now().timestamp_millis();
    state
        .store
        .partner_by_token(&TokenHash::of(presented), now)
        .await?
        .ok_or(ApiError::Unauthorized)
}

impl FromRequestParts<AppState> for AuthPartner {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Middleware that already authenticated (idempotency) leaves the partner here.
        if let Some(partner) = parts.extensions.get::<PartnerRecord>() {
            return Ok(AuthPartner(partner.clone()));
        }
        authenticate(state, &parts.headers).await.map(AuthPartner)
    }
}
