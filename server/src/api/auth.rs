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

/// The partner whose Secret-Token the request carries, within its rate.
/// A token that opens nothing is counted by the caller's address (a flood
/// of made-up tokens is held back like one without any).
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<std::net::IpAddr>,
) -> Result<PartnerRecord, ApiError> {
    let refused = || match state.limits.api_anonymous(ip) {
        Ok(()) => ApiError::Unauthorized,
        Err(limited) => ApiError::RateLimited(limited),
    };
    let Some(presented) = presented_token(headers) else {
        // Counted by the throttle already.
        return Err(ApiError::Unauthorized);
    };
    let now = state.clock.now().timestamp_millis();
    let partner = state
        .store
        .partner_by_token(&TokenHash::of(presented), now)
        .await?
        .ok_or_else(refused)?;
    state
        .limits
        .api_partner(partner.id)
        .map_err(ApiError::RateLimited)?;
    Ok(partner)
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
        let ip = crate::serve::peer_ip(parts);
        authenticate(state, &parts.headers, ip)
            .await
            .map(AuthPartner)
    }
}
