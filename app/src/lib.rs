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
mod links;
pub mod load;
pub mod model;
pub mod money;
mod pages;

use leptos::prelude::*;
use leptos_router::{
    SsrMode, StaticSegment,
    components::{FlatRoutes, Route, Router},
};

use crate::copy::Lang;
use crate::model::PageKind;
pub use pages::recovery::PendingForm;

const IDLE_DEADLINE_SCRIPT: &str = "(function(){var r=window.requestIdleCallback;if(r){window.requestIdleCallback=function(c,o){return r.call(window,c,Object.assign({timeout:300},o))}}})();";

/// Posts the page's messages (`#rb-outbox`, rendered by the server) to the
/// partner page, then a `resize` whenever the content height changes. Plain
/// inline JS rather than WASM, so a customer whose WASM fails to load still
/// reports the outcome. The target origin comes from the server, which
/// checked it against the partner's registered origins; never `*`. The first
/// size is measured at once: Chromium runs no ResizeObserver in an offscreen
/// cross-origin iframe until it scrolls into view. Written
/// without `<`, `>` or `&` so it can sit in the HTML as is. The body's own
/// height is measured, not the viewport's, so the partner growing the
/// iframe cannot feed back into another resize. Nothing is measured while
/// the frame is narrower than any phone: a cross-origin iframe can run this
/// before the partner's page has told it its size (seen under load: laid
/// out at no width, every word on its own line, 3,874 px), and a frame in
/// a hidden tab has no width either; the window's `resize` event brings
/// the first real measure once it has one.
pub const OUTBOX_SCRIPT: &str = r#"(function(){var el=document.getElementById("rb-outbox");if(!el||window.parent===window)return;var box;try{box=JSON.parse(el.textContent)}catch(e){return}if(!box||!box.origin)return;function post(m){try{window.parent.postMessage(m,box.origin)}catch(e){}}box.messages.forEach(post);function id(){var a=new Uint8Array(16);crypto.getRandomValues(a);var s="";for(var i=0;i!==16;i++){s+=(a[i]+256).toString(16).slice(1)}return s}var last=0;function measure(){var w=document.documentElement.clientWidth;if(Math.min(w,159)===w)return;var h=Math.ceil(document.body.getBoundingClientRect().height);if(h===last||h===0)return;last=h;var m={action:"resize",height:h,protocol:"rebound",version:1,messageId:id(),sentAt:new Date().toISOString()};if(box.embedId)m.embedId=box.embedId;post(m)}measure();window.addEventListener("resize",measure);if(window.ResizeObserver){new ResizeObserver(measure).observe(document.body)}})();"#;

/// `lang=en` in the request's query, read while rendering on the server.
fn request_lang() -> Lang {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>()
            .and_then(|parts| {
                parts
                    .uri
                    .query()
                    .map(|q| q.split('&').any(|kv| kv.eq_ignore_ascii_case("lang=en")))
            })
            .map(|en| if en { Lang::En } else { Lang::Ko })
            .unwrap_or_default()
    }
    #[cfg(not(feature = "ssr"))]
    Lang::Ko
}

/// The card window outside the frame (`server::embed::card`): the method
/// page's button opens the card page in a popup or tab of its own and asks
/// the server, until it knows, what became of that window, then shows the
/// page it names (which posts `change-method` and the payment's message).
/// When no popup opens, the link's own `target="_top"` takes the whole tab;
/// the card page then goes back to the partner's page (the `back` address
/// `embed.js` passed) naming the window, and the new frame, given it as
/// `cardWindow`, asks about it and shows its outcome. No storage: a
/// third-party frame's storage is often blocked (in-app browsers, strict
/// tracking settings). Plain script, like the outbox's, so it works before
/// and without WASM.
pub const CARD_SCRIPT: &str = r#"(function(){var q=new URLSearchParams(location.search),timer=null,busy=false;function statusUrl(id){var u=new URL("/embed/recovery/method/status",location.href);["token","origin","embedId","lang","back"].forEach(function(k){if(q.get(k)!==null)u.searchParams.set(k,q.get(k))});u.searchParams.set("window",id);return u.href}function check(id){if(busy)return;busy=true;fetch(statusUrl(id),{credentials:"omit",cache:"no-store"}).then(function(r){return r.ok?r.json():null}).then(function(s){busy=false;if(s){if(s.state==="done"){clearInterval(timer);location.replace(s.next)}}}).catch(function(){busy=false})}function watch(id){clearInterval(timer);check(id);timer=setInterval(function(){check(id)},1500);setTimeout(function(){clearInterval(timer)},2100000)}window.addEventListener("message",function(e){if(e.origin!==location.origin)return;var d=e.data;if(d){if(d.rebound==="card-window"){if(typeof d.window==="string")check(d.window)}}});var a=document.querySelector("[data-card-window]");if(a){a.addEventListener("click",function(ev){var id=a.getAttribute("data-card-window"),w=null,u=new URL(a.href);u.searchParams.set("mode","popup");try{w=window.open(u.href,"rb-card-"+id,"popup=yes,width=480,height=760")}catch(e){}if(w){ev.preventDefault();var p=document.querySelector("[data-card-waiting]");if(p)p.hidden=false;watch(id)}})}else if(q.get("cardWindow")){watch(q.get("cardWindow"))}})();"#;

/// The HTML document around every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let lang = request_lang();
    view! {
        <!DOCTYPE html>
        <html lang=lang.code()>
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
                <script inner_html=OUTBOX_SCRIPT></script>
                <script inner_html=CARD_SCRIPT></script>
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
                    <Route path=(StaticSegment("embed"), StaticSegment("recovery"))
                        view=|| page(PageKind::Main) ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("embed"), StaticSegment("recovery"), StaticSegment("method"))
                        view=|| page(PageKind::Method) ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("embed"), StaticSegment("recovery"), StaticSegment("date"))
                        view=|| page(PageKind::Date) ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("embed"), StaticSegment("recovery"), StaticSegment("paid"))
                        view=|| page(PageKind::Paid) ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("embed"), StaticSegment("recovery"), StaticSegment("failed"))
                        view=|| page(PageKind::Failed) ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("embed"), StaticSegment("recovery"), StaticSegment("date-changed"))
                        view=|| page(PageKind::DateChanged) ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("embed"), StaticSegment("recovery"), StaticSegment("reminded"))
                        view=|| page(PageKind::Reminded) ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("embed"), StaticSegment("recovery"), StaticSegment("home"))
                        view=|| page(PageKind::Home) ssr=SsrMode::Async/>
                </FlatRoutes>
            </main>
        </Router>
    }
}

fn page(kind: PageKind) -> impl IntoView {
    view! { <pages::recovery::RecoveryPage kind/> }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_outbox_and_card_scripts_are_safe_inline_html() {
        for c in ['<', '>', '&'] {
            assert!(!super::OUTBOX_SCRIPT.contains(c), "{c}");
            assert!(!super::CARD_SCRIPT.contains(c), "{c}");
        }
    }

    #[test]
    fn every_page_kind_has_a_route() {
        let src = include_str!("lib.rs");
        for kind in crate::model::PageKind::ALL {
            let last = kind.path().rsplit('/').next().unwrap();
            assert!(
                src.contains(&format!("StaticSegment(\"{last}\"))")),
                "{last}"
            );
        }
    }
}
