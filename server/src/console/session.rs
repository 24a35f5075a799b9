//! Console sessions over HTTP: the cookie, the signed-in extractor and the
//! CSRF check. The rules (expiry, the CSRF token) are `domain::account`'s;
//! the sessions are stored hashed (`store::accounts`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};

use super::error::ConsoleError;
use crate::domain::account::{SESSION_MAX_MS, csrf_matches, csrf_token};
use crate::domain::token::TokenHash;
use crate::state::AppState;
use crate::store::ConsoleUser;

/// The session cookie. `__Host-` on https: the browser then insists on
/// Secure, Path=/ and no Domain, so no subdomain can plant one.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-rebound_console"
    } else {
        "rebound_console"
    }
}

/// Whether the console is served over https (from the public URL).
pub fn secure(state: &AppState) -> bool {
    state.config.public_url.starts_with("https://")
}

/// The value of a cookie of the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Set-Cookie` for a new session (`Some(id)`) or to clear it (`None`).
pub fn session_cookie(secure: bool, id: Option<&str>) -> HeaderValue {
    let mut c = cookie::Cookie::build((cookie_name(secure), id.unwrap_or("").to_owned()))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(secure);
    c = match id {
        Some(_) => c.max_age(cookie::time::Duration::milliseconds(SESSION_MAX_MS)),
        None => c.max_age(cookie::time::Duration::ZERO),
    };
    HeaderValue::from_str(&c.build().to_string()).expect("a cookie is a valid header value")
}

/// A signed-in account on a console request.
pub struct Signed {
    pub user: ConsoleUser,
    session_id: String,
    /// The session's CSRF token, for the page's forms.
    pub csrf: String,
    /// The session's id hash (sign-out ends it).
    pub session: TokenHash,
}

impl Signed {
    /// A form's CSRF token: 403 unless it is this session's.
    pub fn check_csrf(
        &self,
        state: &AppState,
        presented: Option<&str>,
    ) -> Result<(), ConsoleError> {
        match presented {
            Some(p) if csrf_matches(state.config.link_key.expose(), &self.session_id, p) => Ok(()),
            _ => Err(ConsoleError::Forbidden),
        }
    }

    /// The key that seals a secret kept for this session's next page
    /// (`store::set_console_flash`): derived from the session id, which
    /// the database never holds, so a copy of the database opens nothing.
    pub fn flash_key(&self, state: &AppState) -> crate::sealing::CredentialsKey {
        use hmac::{Hmac, Mac};
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(state.config.link_key.expose().as_bytes())
                .expect("HMAC takes any key length");
        mac.update(b"rebound-console-flash:");
        mac.update(self.session_id.as_bytes());
        crate::sealing::CredentialsKey::from_bytes(&mac.finalize().into_bytes().into())
    }

    /// The partner this account may act for, if it names one; `None` for
    /// operators without a choice.
    pub fn own_partner(&self) -> Option<i64> {
        self.user.role.partner_id()
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let id = cookie(&parts.headers, cookie_name(secure(state)))
            .filter(|v| !v.is_empty() && v.len() <= 64)
            .ok_or(ConsoleError::SignIn)?
            .to_owned();
        let hash = TokenHash::of(&id);
        let now = state.clock.now().timestamp_millis();
        let user = state
            .store
            .console_session(&hash, now)
            .await?
            .ok_or(ConsoleError::SignIn)?;
        Ok(Signed {
            user,
            csrf: csrf_token(state.config.link_key.expose(), &id),
            session_id: id,
            session: hash,
        })
    }
}

/// A post must come from the console's own pages: a browser names the
/// page's origin on every POST, and another site's differs. (SameSite=Strict
/// already keeps the cookie off such a post; this also covers the sign-in
/// form, which has no session yet.)
pub fn same_origin(state: &AppState, headers: &HeaderMap) -> Result<(), ConsoleError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let ours = url::Url::parse(&state.config.public_url)
        .ok()
        .map(|u| u.origin().ascii_serialization());
    let host_origin = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| format!("{}://{h}", if secure(state) { "https" } else { "http" }));
    if Some(origin.to_owned()) == ours || Some(origin.to_owned()) == host_origin {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden)
    }
}
