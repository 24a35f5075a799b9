//! The recovery page the partner embeds in an iframe (design section 3).
//!
//! Rendering model: Leptos islands. Everything is rendered on the server, so the
//! page shows before any WASM arrives and works when WASM never does; only the
//! interactive parts (`#[island]`) hydrate. That keeps the hydrate bundle small
//! for phones on KakaoTalk's in-app browser.
//!
//! The app knows nothing about storage or payment: the server crate implements
//! [`backend::RecoveryBackend`] and provides it through Leptos context.

pub mod backend;
pub mod copy;
pub mod model;
pub mod money;
mod pages;
mod post;
pub mod server_fns;

use leptos::prelude::*;
use leptos_router::{
    SsrMode, StaticSegment,
    components::{FlatRoutes, Route, Router},
};

pub use pages::recovery::RecoveryCard;

const IDLE_DEADLINE_SCRIPT: &str = "(function(){var r=window.requestIdleCallback;if(r){window.requestIdleCallback=function(c,o){return r.call(window,c,Object.assign({timeout:300},o))}}})();";

/// The HTML document around every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="ko">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="robots" content="noindex"/>
                <title>"Rebound"</title>
                <link rel="stylesheet" href="/pkg/rebound.css"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                // Leptos starts island hydration in requestIdleCallback without a
                // timeout. In a cross-origin iframe that idle time can be
                // starved for many seconds (seen in headless Chromium, and
                // in-app browsers behave alike), leaving the pay button inert.
                // Give every idle callback a short deadline; must run before
                // the (deferred) module script below.
                <script>{IDLE_DEADLINE_SCRIPT}</script>
                <HydrationScripts options islands=true/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <main class="page">
                <FlatRoutes fallback=pages::not_found::NotFound>
                    // Async: the whole page is rendered before the first byte, so
                    // nothing depends on streaming scripts (no-JS customers) and
                    // response headers are final.
                    <Route
                        path=(StaticSegment("embed"), StaticSegment("recovery"))
                        view=pages::recovery::RecoveryPage
                        ssr=SsrMode::Async
                    />
                </FlatRoutes>
            </main>
        </Router>
    }
}
