//! Headers on every recovery page response.
//!
//! Set by middleware rather than from inside the Leptos render so they cannot
//! depend on render internals (streaming, suspense): a token page always gets
//! them, whatever the component tree does.

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::middleware::Next;
use axum::response::Response;

use crate::domain::token::TokenKey;
use crate::state::AppState;

pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let tokens = req
        .uri()
        .query()
        .map(|q| url_query_values(q, "token"))
        .unwrap_or_default();
    // Only the partner's registered origins may frame a case's page. A page
    // without a known case shows only an explanation, no data and no actions,
    // so it may be framed anywhere: the customer then sees our message
    // instead of the browser's blocked-frame error.
    let ancestors = match tokens.as_slice() {
        // Two tokens, or one that is not a token's shape (e.g. encoded twice),
        // could make this lookup and the page's disagree: frame nowhere.
        [t] if !is_token_shaped(t) => "'none'".to_owned(),
        [_, _, ..] => "'none'".to_owned(),
        [t] => match state.store.embed_origins_by_token(&TokenKey::of(t)).await {
            Ok(Some(origins)) => origins.frame_ancestors(),
            Ok(None) => "*".to_owned(),
            Err(e) => {
                tracing::error!(error = %e, "loading embed origins");
                "'none'".to_owned()
            }
        },
        [] => "*".to_owned(),
    };
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // A handler that knows its case better (a form post carries the token
    // in the body, not the query) sets its own policy.
    if !h.contains_key(CONTENT_SECURITY_POLICY)
        && let Ok(v) = HeaderValue::from_str(&format!("frame-ancestors {ancestors}"))
    {
        h.insert(CONTENT_SECURITY_POLICY, v);
    }
    // Token pages must not be cached or leak the token in a Referer.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

/// Every value of `name` in a query string, percent-decoded; an undecodable
/// query counts as two values (ambiguous).
fn url_query_values(query: &str, name: &str) -> Vec<String> {
    match serde_urlencoded::from_str::<Vec<(String, String)>>(query) {
        Ok(pairs) => pairs
            .into_iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v)
            .collect(),
        Err(_) => vec![String::new(), String::new()],
    }
}

/// Recovery tokens are base64url, stage links with their case and stage
/// before it (`{case}.{stage}.{mac}`); anything else cannot name a case.
pub fn is_token_shaped(t: &str) -> bool {
    (1..=128).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_query_values() {
        assert_eq!(url_query_values("token=abc&origin=x", "token"), ["abc"]);
        assert_eq!(
            url_query_values("origin=http%3A%2F%2Flocalhost%3A3001", "origin"),
            ["http://localhost:3001"]
        );
        assert!(url_query_values("a=1", "token").is_empty());
        assert_eq!(url_query_values("token=a&token=b", "token").len(), 2);
    }

    #[test]
    fn token_shape() {
        assert!(is_token_shaped("AbC-_09"));
        let link = crate::domain::token::link_token("k", 12, 3);
        assert!(is_token_shaped(&link), "a stage link: {link}");
        assert!(!is_token_shaped("12.3/x"));
        assert!(!is_token_shaped("abc%2D"));
        assert!(!is_token_shaped(""));
        assert!(!is_token_shaped(&"a".repeat(129)));
    }
}
