//! The console under `/console` (issue 15): operators and partner users
//! sign in, read the recovery figures and act on cases. Pages are rendered
//! on the server with Leptos (`view!` to HTML) and work without JavaScript;
//! forms post to the handlers here, which call the same store and domain
//! paths as the API, the page and the engine.
//!
//! Every page answers with `frame-ancestors 'none'` (no other site may
//! frame it), `no-store`, and a CSP that allows only our own files.

mod account;
mod actions;
mod cases;
mod charts;
mod error;
mod experiments;
mod layout;
mod login;
mod notices;
mod overview;
mod partners;
mod post;
mod scenario;
mod scope;
mod session;
mod settings;
mod words;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

pub use error::ConsoleError;

use crate::state::AppState;

/// The console's stylesheet, served by the console itself so the recovery
/// page's CSS stays small for phones.
/// Console forms are small; a larger body is refused before it is read.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

pub const STYLESHEET_PATH: &str = "/console/console.css";
const STYLESHEET: &str = include_str!("console.css");

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        STYLESHEET,
    )
}

/// The sign-in form's post, on its own: `startup::router` gives it a
/// small in-flight budget of its own (Argon2 is costly on purpose).
pub fn sign_in_router() -> Router<AppState> {
    with_headers(
        Router::new()
            .route("/console/login", axum::routing::post(login::submit))
            .layer(no_store()),
    )
}

fn no_store() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

pub fn router() -> Router<AppState> {
    let pages = Router::new()
        .route("/console", get(overview::show))
        .route("/console/login", get(login::show))
        .route("/console/logout", post(login::logout))
        .route("/console/lang/{code}", get(login::set_lang))
        .route("/console/cases", get(cases::list))
        .route("/console/cases/{id}", get(cases::show))
        .route("/console/cases/{id}/action", post(actions::submit))
        .route(
            experiments::PATH,
            get(experiments::list).post(experiments::start),
        )
        .route("/console/experiments/{id}", get(experiments::show))
        .route("/console/experiments/{id}/stop", post(experiments::stop))
        .route("/console/notices", get(notices::list))
        .route("/console/notices/redeliver", post(notices::redeliver))
        .route("/console/notices/{id}", get(notices::show))
        .route(
            "/console/scenario",
            get(scenario::show).post(scenario::submit),
        )
        .route(
            "/console/settings",
            get(settings::show).post(settings::submit),
        )
        .route(
            "/console/partners",
            get(partners::show).post(partners::create_partner),
        )
        .route("/console/users", post(partners::create_user))
        .route("/console/users/disable", post(partners::disable_user))
        .route(account::PATH, get(account::show).post(account::submit))
        .layer(no_store());
    with_headers(pages.route(STYLESHEET_PATH, get(stylesheet)))
}

/// Every console response's headers: never cached (but the stylesheet),
/// never framed, our own files only.
fn with_headers(routes: Router<AppState>) -> Router<AppState> {
    routes
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}
