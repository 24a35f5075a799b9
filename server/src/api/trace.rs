//! Every request gets a trace id: in the logs, in the `X-Trace-Id` response
//! header and in every error body, so a partner's support ticket can be found.

use axum::extract::Request;
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

pub async fn middleware(req: Request, next: Next) -> Response {
    let id = new_id();
    // Paths are logged without query strings: recovery tokens travel there.
    let span = tracing::info_span!("request", trace_id = %id, method = %req.method(), path = %req.uri().path());
    let mut res = TRACE_ID
        .scope(id.clone(), next.run(req).instrument(span.clone()))
        .await;
    span.in_scope(|| tracing::info!(status = res.status().as_u16(), "response"));
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-trace-id", v);
    }
    res
}
