//! The card page: the PG's card window, run top-level, never inside the
//! partner's iframe (`domain::card_window`).
//!
//! - `GET /card?t=<ticket>`: opened by the method page's button as a popup
//!   (desktop), a new tab (phones, in-app browsers), or the whole tab when
//!   popups are blocked or scripts are off. Runs the PG's window, which
//!   returns to:
//! - `GET /card/return?t=...`: issues or reads back the billing key, stores
//!   it and charges it once (the one charge path), and shows the outcome;
//!   a popup tells its opener and closes, a whole tab goes back to the
//!   partner's page.
//! - `GET /card/cancel?t=...`: the PG's window closed or failed.
//! - `GET /embed/recovery/method/status`: the iframe asks what became of
//!   its window and where to go next.
//!
//! The ticket is the only credential here: no cookie, no recovery token.
//! Responses are never framed, cached, or sent on in a Referer.

use app::copy::Lang;
use app::model::{Notice, PageKind, actions};
use axum::extract::{Query, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::actions::ActionParams;
use super::backend::{PayResult, StoreBackend};
use crate::domain::card_window::{CardTicket, CardWindowStatus, TicketError, WindowOutcome};
use crate::domain::case::PageState;
use crate::domain::origin::AllowedOrigins;
use crate::gateway::{BillingAuthLaunch, js_string};
use crate::html::escape;
use crate::state::AppState;
use crate::store::CaseRecord;

pub const CARD_PAGE: &str = "/card";
pub const CARD_RETURN: &str = "/card/return";
pub const CARD_CANCEL: &str = "/card/cancel";
/// On the way back to the partner's page: the window the frame asks about
/// (`embed.js` passes it on as `cardWindow`).
pub const CARD_PARAM: &str = "rebound_card";

/// The card page and its cancel, and the iframe's status question.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(CARD_PAGE, get(open))
        .route(CARD_CANCEL, get(cancel))
        .route(actions::CARD_STATUS, get(status))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::actions::throttle,
        ))
}

/// The PG's return, which waits on the PG (issuing the key, charging it).
pub fn gateway_router(state: &AppState) -> Router<AppState> {
    Router::new().route(CARD_RETURN, get(complete)).route_layer(
        axum::middleware::from_fn_with_state(state.clone(), super::actions::throttle),
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CardParams {
    #[serde(default)]
    t: String,
    lang: Option<String>,
    /// The partner's page to go back to after a whole-tab window (its
    /// origin must be one the partner registered).
    back: Option<String>,
    /// `popup` when the page opened us in a window of our own.
    mode: Option<String>,
    /// Toss's return: `authKey` and `customerKey`; PortOne's and the
    /// sandbox's: the key itself; a failure: `code`.
    auth_key: Option<String>,
    customer_key: Option<String>,
    billing_key: Option<String>,
    code: Option<String>,
}

impl CardParams {
    fn lang(&self) -> Lang {
        Lang::from_param(self.lang.as_deref())
    }

    fn popup(&self) -> bool {
        self.mode.as_deref() == Some("popup")
    }

    /// What the PG's return URLs carry forward: the ticket, the language,
    /// the way back and the mode (nothing else of ours).
    fn return_query(&self, back: Option<&str>) -> String {
        let mut pairs: Vec<(&str, &str)> = vec![("t", &self.t)];
        if self.lang() == Lang::En {
            pairs.push(("lang", "en"));
        }
        if let Some(b) = back {
            pairs.push(("back", b));
        }
        if self.popup() {
            pairs.push(("mode", "popup"));
        }
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    }
}

/// The way back to the partner's page after a whole-tab window: the page
/// the frame was on (its origin registered), else the partner's first
/// origin; with the window's id, which `embed.js` hands to the new frame
/// so it asks about that window.
fn back_to(requested: Option<&str>, origins: &AllowedOrigins, window_id: &str) -> Option<String> {
    let back = origins
        .way_back(requested)
        .or_else(|| origins.first().map(|o| format!("{o}/")))?;
    let mut url = url::Url::parse(&back).ok()?;
    url.query_pairs_mut().append_pair(CARD_PARAM, window_id);
    Some(url.to_string())
}

/// Never framed (the point of this page), never cached, no Referer to the
/// PG or the partner (the ticket is in the address).
fn sealed(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

/// What a finished window says, top-level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    Window(CardWindowStatus),
    AlreadyPaid,
    Closed,
    NotPayableHere,
    Expired,
    Invalid,
}

fn result_page(
    shown: Shown,
    lang: Lang,
    window_id: Option<&str>,
    back: Option<&str>,
    popup: bool,
) -> Response {
    let s = lang.strings();
    let (heading, ok) = match shown {
        Shown::Window(CardWindowStatus::Paid) => (s.card_done_paid, true),
        Shown::Window(CardWindowStatus::Declined) => (s.card_done_declined, false),
        Shown::Window(CardWindowStatus::Canceled) => (s.card_done_canceled, false),
        Shown::Window(CardWindowStatus::Failed) => (s.card_done_failed, false),
        Shown::Window(_) => (s.card_done_settled, true),
        Shown::AlreadyPaid => (s.already_paid_heading, true),
        Shown::Closed => (s.closed_heading, false),
        Shown::NotPayableHere => (s.notice_not_payable_here, false),
        Shown::Expired => (s.card_expired, false),
        Shown::Invalid => (s.unknown_token_heading, false),
    };
    let status = match shown {
        Shown::Expired => StatusCode::GONE,
        Shown::Invalid => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    };
    // A popup closes (its page is still open behind it); a whole tab goes
    // back to the partner's page.
    let back_link = match (popup, back) {
        (true, _) => format!(
            "<button type=\"button\" class=\"primary\" id=\"rb-close\" data-testid=\"card-close\">{}</button>",
            s.card_close
        ),
        (false, Some(b)) => format!(
            "<a class=\"button primary\" href=\"{}\" data-testid=\"card-back\">{}</a>",
            escape(b),
            s.card_back
        ),
        (false, None) => String::new(),
    };
    // A popup tells the frame that opened it (a speed-up: the frame asks
    // the server anyway) and closes; a whole tab goes back to the
    // partner's page, whose frame then asks about the window.
    let script = format!(
        "(function(){{var id={id},back={back},popup={popup};\
         if(popup){{if(window.opener){{try{{window.opener.postMessage({{rebound:\"card-window\",window:id}},location.origin)}}catch(e){{}}}}\
         var c=document.getElementById(\"rb-close\");\
         if(c){{c.onclick=function(){{window.close();if(back){{setTimeout(function(){{location.replace(back)}},300)}}}}}}\
         setTimeout(function(){{window.close()}},800);return}}\
         if(back){{setTimeout(function(){{location.replace(back)}},1500)}}}})();",
        id = js_string(window_id.unwrap_or_default()),
        back = js_string(back.unwrap_or_default()),
        popup = popup,
    );
    let class = if ok {
        "result success"
    } else {
        "result failure"
    };
    let next = match (popup, back.is_some()) {
        (true, _) => s.card_closing,
        (false, true) => s.card_returning,
        (false, false) => "",
    };
    let next = if next.is_empty() {
        String::new()
    } else {
        format!("<div class=\"{class}\" role=\"status\"><p>{next}</p></div>")
    };
    let html = format!(
        "<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{heading}</title>\
         <link rel=\"stylesheet\" href=\"/pkg/rebound.css\"></head><body><main class=\"page\">\
         <section class=\"card\" aria-labelledby=\"heading\" data-page=\"card-result\">\
         <h1 id=\"heading\" data-testid=\"heading\">{heading}</h1>\
         {next}{back_link}</section></main>\
         <script>{script}</script></body></html>",
        lang = lang.code(),
    );
    sealed((status, Html(html)).into_response())
}

/// A verified ticket, its case, and the way back.
struct Ticketed {
    ticket: CardTicket,
    case: CaseRecord,
    back: Option<String>,
}

impl Ticketed {
    /// The card page's result for this window.
    fn show(&self, p: &CardParams, shown: Shown) -> Response {
        result_page(
            shown,
            p.lang(),
            Some(&self.ticket.window_id),
            self.back.as_deref(),
            p.popup(),
        )
    }
}

/// The ticket and its case, or the page that says why not.
async fn ticketed(state: &AppState, p: &CardParams) -> Result<Ticketed, Response> {
    let now = state.clock.now().timestamp_millis();
    let shown = |s| result_page(s, p.lang(), None, None, p.popup());
    let ticket = match CardTicket::verify(&state.config.link_key, &p.t, now) {
        Ok(t) => t,
        Err(TicketError::Expired) => return Err(shown(Shown::Expired)),
        Err(TicketError::Invalid) => return Err(shown(Shown::Invalid)),
    };
    let case = match state.store.case_by_id(ticket.case_id).await {
        Ok(Some(case)) => case,
        Ok(None) => return Err(shown(Shown::Invalid)),
        Err(e) => return Err(store_down(e)),
    };
    let back = back_to(p.back.as_deref(), &case.origins, &ticket.window_id);
    Ok(Ticketed { ticket, case, back })
}

/// The store did not answer: the API's 500 (logged there, with a trace id).
fn store_down(e: crate::store::StoreError) -> Response {
    sealed(crate::api::ApiError::Internal(e).into_response())
}

async fn open(State(state): State<AppState>, Query(p): Query<CardParams>) -> Response {
    let t = match ticketed(&state, &p).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let (ticket, case) = (&t.ticket, &t.case);
    let show = |shown| t.show(&p, shown);
    match case.status.page_state() {
        PageState::Payable | PageState::Charging => {}
        PageState::Recovered => return show(Shown::AlreadyPaid),
        PageState::Closed => return show(Shown::Closed),
    }
    let now = state.clock.now().timestamp_millis();
    let window = match state
        .store
        .open_card_window(&ticket.window_id, case.id, now)
        .await
    {
        Ok(w) => w,
        Err(e) => return store_down(e),
    };
    if window.status != CardWindowStatus::Open {
        return show(Shown::Window(window.status));
    }
    let backend = StoreBackend::of(&state);
    match backend
        .launch_card_window(
            case,
            &p.return_query(case.origins.way_back(p.back.as_deref()).as_deref()),
        )
        .await
    {
        Some(BillingAuthLaunch::Redirect(url)) => sealed(Redirect::to(&url).into_response()),
        Some(BillingAuthLaunch::Page(html)) => sealed(Html(html).into_response()),
        None => {
            let _ = state
                .store
                .move_card_window(
                    &ticket.window_id,
                    CardWindowStatus::Open,
                    CardWindowStatus::Settled,
                    Some(Notice::NotPayableHere.code()),
                    now,
                )
                .await;
            show(Shown::NotPayableHere)
        }
    }
}

/// What a charge after a card change came to, as the window keeps it.
fn settled_as(
    result: Result<Result<PayResult, ()>, app::model::PageError>,
) -> (CardWindowStatus, Option<Notice>) {
    use CardWindowStatus::*;
    match result {
        Ok(Ok(PayResult::Paid)) => (Paid, None),
        Ok(Ok(PayResult::Declined)) => (Declined, None),
        Ok(Ok(PayResult::Unavailable)) => (Settled, Some(Notice::Unavailable)),
        Ok(Ok(PayResult::Busy)) => (Settled, None),
        Ok(Ok(PayResult::Refused(notice))) => (Settled, Some(notice)),
        Ok(Err(())) => (Failed, None),
        Err(app::model::PageError::AlreadyClosed) => (Settled, None),
        Err(_) => (Settled, Some(Notice::Unavailable)),
    }
}

async fn complete(State(state): State<AppState>, Query(p): Query<CardParams>) -> Response {
    let key = p.auth_key.clone().or_else(|| p.billing_key.clone());
    let (Some(key), None) = (key.filter(|k| !k.is_empty()), p.code.as_deref()) else {
        return cancel(State(state), Query(p)).await;
    };
    let t = match ticketed(&state, &p).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let (ticket, case) = (&t.ticket, &t.case);
    let show = |shown| t.show(&p, shown);
    let now = state.clock.now().timestamp_millis();
    let store = &state.store;
    if let Err(e) = store
        .open_card_window(&ticket.window_id, case.id, now)
        .await
    {
        return store_down(e);
    }
    // One request completes a window: a reload of the PG's return, or a
    // second instance, shows what the first one recorded.
    match store
        .move_card_window(
            &ticket.window_id,
            CardWindowStatus::Open,
            CardWindowStatus::Completing,
            None,
            now,
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            return match store.card_window(&ticket.window_id, case.id).await {
                Ok(Some(w)) => show(Shown::Window(w.status)),
                Ok(None) => show(Shown::Invalid),
                Err(e) => store_down(e),
            };
        }
        Err(e) => return store_down(e),
    }
    let result = StoreBackend::of(&state)
        .complete_card_window(case, key, p.customer_key.clone())
        .await;
    let (status, notice) = settled_as(result);
    let now = state.clock.now().timestamp_millis();
    if let Err(e) = store
        .move_card_window(
            &ticket.window_id,
            CardWindowStatus::Completing,
            status,
            notice.map(Notice::code),
            now,
        )
        .await
    {
        // The key and the charge are recorded; the frame stops waiting
        // after `COMPLETING_GIVE_UP_MS` and shows the case as it is.
        tracing::error!(error = %e, case_id = case.id, "recording a card window's outcome");
    }
    show(Shown::Window(status))
}

async fn cancel(State(state): State<AppState>, Query(p): Query<CardParams>) -> Response {
    let t = match ticketed(&state, &p).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let (ticket, case) = (&t.ticket, &t.case);
    // Toss reports a closed window as PAY_PROCESS_CANCELED, PortOne as
    // USER_CANCEL (or the PG's cancel code); anything else is a failure
    // the customer may retry with another card.
    let status = match p.code.as_deref() {
        Some("PAY_PROCESS_CANCELED") | Some("USER_CANCEL") | Some("PAY_PROCESS_ABORTED") => {
            CardWindowStatus::Canceled
        }
        _ => CardWindowStatus::Failed,
    };
    let now = state.clock.now().timestamp_millis();
    let store = &state.store;
    if let Err(e) = store
        .open_card_window(&ticket.window_id, case.id, now)
        .await
    {
        return store_down(e);
    }
    let shown = match store
        .move_card_window(&ticket.window_id, CardWindowStatus::Open, status, None, now)
        .await
    {
        Ok(true) => status,
        Ok(false) => match store.card_window(&ticket.window_id, case.id).await {
            Ok(Some(w)) => w.status,
            Ok(None) => status,
            Err(e) => return store_down(e),
        },
        Err(e) => return store_down(e),
    };
    t.show(&p, Shown::Window(shown))
}

#[derive(Debug, Deserialize)]
struct StatusQuery {
    #[serde(default)]
    window: String,
}

/// The iframe's question: `{"state": "waiting"}`, or `{"state": "done",
/// "next": <the page to show>}`. The window must be the case's own.
async fn status(
    State(state): State<AppState>,
    Query(p): Query<ActionParams>,
    Query(w): Query<StatusQuery>,
) -> Response {
    let backend = StoreBackend::of(&state);
    let done =
        |next: String| Json(serde_json::json!({ "state": "done", "next": next })).into_response();
    let case = match backend.resolve(&p.embed()).await {
        Ok((case, _, _)) => case,
        // The main page explains a bad link or origin.
        Err(_) => return done(p.url(PageKind::Main, &[])),
    };
    // Not a window id's shape: no window of ours (and nothing to look up).
    if !crate::domain::card_window::is_window_id(&w.window) {
        return done(p.url(PageKind::Main, &[]));
    }
    let window = match state.store.card_window(&w.window, case.id).await {
        Ok(window) => window,
        Err(e) => return crate::api::ApiError::Internal(e).into_response(),
    };
    let now = state.clock.now().timestamp_millis();
    let age = window.as_ref().map_or(0, |w| now - w.updated_at_ms);
    let notice = window
        .as_ref()
        .and_then(|w| w.notice.as_deref())
        .and_then(Notice::from_code);
    let next = match CardWindowStatus::outcome(window.map(|w| w.status), age) {
        WindowOutcome::Waiting => {
            return Json(serde_json::json!({ "state": "waiting" })).into_response();
        }
        WindowOutcome::Paid => p.url(PageKind::Paid, &[("changed", "method")]),
        WindowOutcome::Declined => p.url(PageKind::Failed, &[("changed", "method")]),
        WindowOutcome::MethodAgain { canceled } => {
            let notice = if canceled {
                Notice::AuthCanceled
            } else {
                Notice::AuthFailed
            };
            p.url(PageKind::Method, &[("notice", notice.code())])
        }
        WindowOutcome::Main => match notice {
            Some(n) => p.url(PageKind::Main, &[("notice", n.code())]),
            None => p.url(PageKind::Main, &[]),
        },
    };
    done(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_way_back_names_the_window_and_stays_on_the_partners_origins() {
        let origins = AllowedOrigins::from_stored("https://shop.example.com");
        assert_eq!(
            back_to(Some("https://shop.example.com/recover?x=1"), &origins, "w1").as_deref(),
            Some("https://shop.example.com/recover?x=1&rebound_card=w1")
        );
        assert_eq!(
            back_to(Some("https://evil.example/"), &origins, "w1").as_deref(),
            Some("https://shop.example.com/?rebound_card=w1"),
            "elsewhere: the partner's first origin instead"
        );
        assert_eq!(back_to(None, &AllowedOrigins::default(), "w1"), None);
    }
}
