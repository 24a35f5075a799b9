//! Every console form post is parsed the same way before its handler
//! runs: a live session, a post from our own pages, this session's CSRF
//! token, then the form as its type, and the reader's language. Handlers
//! then read as parse, authorize, act, render.

use axum::extract::{FromRequest, FromRequestParts, Request};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::MAX_FORM_BYTES;
use super::error::ConsoleError;
use super::layout::Lang;
use super::session::{self, Signed};
use crate::domain::account::password_matches;
use crate::state::AppState;

/// A checked console post with its form `F`.
pub struct Posted<F> {
    pub signed: Signed,
    pub lang: Lang,
    pub form: F,
}

#[derive(Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

impl<F: DeserializeOwned + Send> FromRequest<AppState> for Posted<F> {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let signed = Signed::from_request_parts(&mut parts, state).await?;
        session::same_origin(state, &parts.headers)?;
        let lang = Lang::from_headers(&parts.headers);
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| ConsoleError::BadForm)?;
        // The token first: a forged post is a 403 whatever its fields.
        let csrf: CsrfField =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| ConsoleError::Forbidden)?;
        signed.check_csrf(state, csrf.csrf.as_deref())?;
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|_| ConsoleError::BadForm)?;
        Ok(Posted { signed, lang, form })
    }
}

/// Refused unless this account may change `partner_id`'s settings and
/// users (operators, and the partner's own admins): a 403 page.
pub fn must_administer(signed: &Signed, partner_id: i64) -> Result<(), ConsoleError> {
    if signed.user.role.administers(partner_id) {
        Ok(())
    } else {
        Err(ConsoleError::AdminOnly)
    }
}

/// Whether `attempt` is the signed-in account's password, asked again
/// before a change that can send customers or money elsewhere: a session
/// left open or stolen is not enough. Counted as a sign-in attempt of the
/// account, so a stolen session cannot guess the password fast.
pub async fn password_again(
    state: &AppState,
    signed: &Signed,
    ip: Option<std::net::IpAddr>,
    attempt: &str,
) -> Result<bool, ConsoleError> {
    state
        .limits
        .login(&signed.user.email, ip)
        .map_err(ConsoleError::Throttled)?;
    let stored = signed.user.password_hash.clone();
    let attempt = attempt.to_owned();
    Ok(state
        .hasher
        .run(move || password_matches(&attempt, &stored))
        .await
        .unwrap_or(false))
}
