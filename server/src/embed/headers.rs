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

use crate::domain::token::TokenHash;
use crate::startup::AppState;

pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let token = req.uri().query().and_then(|q| url_query_value(q, "token"));
    // Only the partner's registered origins may frame a case's page. A page
    // without a known case shows only an explanation, no data and no actions,
    // so it may be framed anywhere: the customer then sees our message
    // instead of the browser's blocked-frame error.
    let ancestors = match token {
        Some(t) => match state.store.embed_origins_by_token(&TokenHash::of(&t)).await {
            Ok(Some(origins)) => origins.frame_ancestors(),
            Ok(None) => "*".to_owned(),
            Err(e) => {
                tracing::error!(error = %e, "loading embed origins");
                "'none'".to_owned()
            }
        },
        None => "*".to_owned(),
    };
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("frame-ancestors {ancestors}")) {
        h.insert(CONTENT_SECURITY_POLICY, v);
    }
    // Token pages must not be cached or leak the token in a Referer.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

/// The first value of `name` in a query string, percent-decoded.
fn url_query_value(query: &str, name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_query_values() {
        assert_eq!(
            url_query_value("token=abc&origin=x", "token").as_deref(),
            Some("abc")
        );
        assert_eq!(
            url_query_value("origin=http%3A%2F%2Flocalhost%3A3001", "origin").as_deref(),
            Some("http://localhost:3001")
        );
        assert_eq!(url_query_value("a=1", "token"), None);
    }
}
