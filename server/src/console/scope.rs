//! Which partner a console page is about. A partner user's pages are its
//! own partner's; an operator names one (`?partner=`) or, where a page
//! allows it, sees every partner. Another partner's anything is a 404.

use super::error::ConsoleError;
use super::session::Signed;
use crate::state::AppState;
use crate::store::PartnerRecord;

fn asked(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|s| !s.is_empty())
}

/// For figures and lists: one partner's id, or `None` for every partner
/// (operators only).
pub async fn scope(
    state: &AppState,
    signed: &Signed,
    raw: Option<&str>,
) -> Result<Option<i64>, ConsoleError> {
    match (signed.own_partner(), asked(raw)) {
        (Some(own), Some(raw)) if raw != own.to_string() => Err(ConsoleError::NotFound),
        (Some(own), _) => Ok(Some(own)),
        (None, None) => Ok(None),
        (None, Some(raw)) => Ok(Some(partner(state, raw).await?.id)),
    }
}

/// For one partner's pages (notices, scenario, settings): the partner, or
/// `None` when an operator has not picked one yet.
pub async fn one_partner(
    state: &AppState,
    signed: &Signed,
    raw: Option<&str>,
) -> Result<Option<PartnerRecord>, ConsoleError> {
    match scope(state, signed, raw).await? {
        Some(id) => Ok(Some(partner(state, &id.to_string()).await?)),
        None => Ok(None),
    }
}

async fn partner(state: &AppState, raw: &str) -> Result<PartnerRecord, ConsoleError> {
    let id: i64 = raw.parse().map_err(|_| ConsoleError::NotFound)?;
    state
        .store
        .partner_by_id(id)
        .await?
        .ok_or(ConsoleError::NotFound)
}
