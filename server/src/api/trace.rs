//! Every request gets a trace id: in the logs, in the `X-Trace-Id` response
//! header and in every error body, so a partner's support ticket can be found.
//!
//! Requests are logged, and counted in `/metrics`, by their route template
//! (`/api/v1/cover/order/{id}/idKey`, axum's `MatchedPath`), never by the
//! raw path or query: recovery tokens travel in both.

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::domain::token::new_id;

tokio::task_local! {
    static TRACE_ID: String;
}

/// The current request's trace id, or a fresh one outside a request.
pub fn current() -> String {
    TRACE_ID.try_with(Clone::clone).unwrap_or_else(|_| new_id())
}

/// What a request is logged and counted as: its route template; paths no
/// route matched (static files, 404s) are one label, so neither a token
/// nor an attacker's made-up paths reach the logs or the metrics.
pub fn route_of(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "(unmatched)".to_owned())
}

/// A request's method as logged and counted: HTTP's own methods by name,
/// anything else one label, so a client cannot mint new metric series
/// (`curl -X ZZ123`) without bound.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

pub async fn middleware(req: Request, next: Next) -> Response {
    let id = new_id();
    let route = route_of(&req);
    let method = method_label(req.method());
    let span = tracing::info_span!("request", trace_id = %id, %method, route = %route);
    let started = std::time::Instant::now();
    let mut res = TRACE_ID
        .scope(id.clone(), next.run(req).instrument(span.clone()))
        .await;
    let status = res.status().as_u16();
    span.in_scope(|| tracing::info!(status, "response"));
    let labels = [
        ("route", route),
        ("method", method.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!("rebound_http_requests_total", &labels).increment(1);
    metrics::histogram!("rebound_http_request_duration_seconds", &labels[..2])
        .record(started.elapsed().as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-trace-id", v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::method_label;
    use axum::http::Method;

    #[test]
    fn methods_outside_https_own_are_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        for made_up in ["ZZ123", "QQ9", "TRACE", "CONNECT"] {
            assert_eq!(
                method_label(&Method::from_bytes(made_up.as_bytes()).unwrap()),
                "OTHER"
            );
        }
    }
}
