//! `/sdk/`: the partner listener's JS and WASM, loaded cross-origin by partner
//! pages (hence CORS and CORP headers).

use std::path::Path;

use axum::http::HeaderValue;
use axum::http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, X_CONTENT_TYPE_OPTIONS};
use tower::ServiceBuilder;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

pub fn service(dir: &Path) -> axum::routing::MethodRouter {
    let files = ServeDir::new(dir);
    let svc = ServiceBuilder::new()
        // Any partner page loads the SDK; it carries no credentials or data.
        .layer(SetResponseHeaderLayer::overriding(
            ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            axum::http::HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("cross-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        // Unversioned paths for now: revalidate on every load.
        .layer(SetResponseHeaderLayer::overriding(
            CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
        .service(files);
    axum::routing::get_service(svc)
}
