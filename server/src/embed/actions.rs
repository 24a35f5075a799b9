//! The page's actions as plain form posts: each handler calls the backend
//! and answers `303 See Other` to the result page, so every action works in
//! a browser without WASM (or without JavaScript) and a reload never
//! resubmits. The result page, not this handler, posts the message: it is
//! rendered from the case's state.

use std::time::Duration;

use app::copy::Lang;
use app::model::{EmbedRequest, Notice, PageKind, actions};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use serde::Deserialize;

use super::backend::{DateRefusal, PayResult, StoreBackend};
use crate::api::ApiError;
use crate::state::AppState;
use crate::store::CaseStatus;
use tokio::sync::broadcast::error::RecvError;

/// How long a second submit waits for the first one's charge to finish, so
/// the page it lands on shows the real outcome.
const SETTLE_WAIT: Duration = Duration::from_secs(10);

/// The actions that answer from our own data.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(actions::DATE, post(date))
        .route(actions::REMIND, post(remind))
        .route_layer(middleware::from_fn_with_state(state.clone(), throttle))
}

/// The actions that wait on the payment gateway (a charge, a card
/// registration): `startup::router` gives them their own in-flight budget.
pub fn gateway_router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(actions::PAY, post(pay))
        .route_layer(middleware::from_fn_with_state(state.clone(), throttle))
}

/// Rate limits of the page's actions (`limits.rs`): per client address,
/// then per recovery link, before the form is parsed or the case read.
pub(super) async fn throttle(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    if let Some(ip) = crate::serve::peer_ip(&parts)
        && let Err(limited) = state.limits.page_ip(ip)
    {
        return ApiError::RateLimited(limited).into_response();
    }
    let Ok(body) = axum::body::to_bytes(body, crate::api::MAX_BODY_BYTES).await else {
        return ApiError::PayloadTooLarge.into_response();
    };
    if let Some(token) = token_of(parts.uri.query(), &body)
        && let Err(limited) = state.limits.page_case(&token)
    {
        return ApiError::RateLimited(limited).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

/// The recovery token a form post (body) or a card window's return (query)
/// carries.
fn token_of(query: Option<&str>, body: &[u8]) -> Option<String> {
    let find = |pairs: Vec<(String, String)>| {
        pairs
            .into_iter()
            .find(|(k, v)| k == "token" && !v.is_empty())
            .map(|(_, v)| v)
    };
    serde_urlencoded::from_bytes(body)
        .ok()
        .and_then(find)
        .or_else(|| {
            serde_urlencoded::from_str(query.unwrap_or_default())
                .ok()
                .and_then(find)
        })
}

/// What every form and return URL carries.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionParams {
    #[serde(default)]
    token: String,
    origin: Option<String>,
    embed_id: Option<String>,
    lang: Option<String>,
    /// The partner page's address (the way back from a whole-tab card
    /// window); carried forward, checked where it is used.
    back: Option<String>,
    /// The date form's field.
    selected_date: Option<String>,
}

impl ActionParams {
    pub(super) fn embed(&self) -> EmbedRequest {
        EmbedRequest {
            token: self.token.clone(),
            origin: self.origin.clone(),
            embed_id: self.embed_id.clone(),
            back: self.back.clone(),
        }
    }

    fn lang(&self) -> Lang {
        Lang::from_param(self.lang.as_deref())
    }

    /// `303` to a page, carrying the iframe's parameters forward; the page
    /// checks them again.
    fn to(&self, kind: PageKind, extra: &[(&str, &str)]) -> Response {
        Redirect::to(&self.url(kind, extra)).into_response()
    }

    /// A page's address with the iframe's parameters and `extra`.
    pub(super) fn url(&self, kind: PageKind, extra: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> = vec![("token", &self.token)];
        if let Some(o) = &self.origin {
            pairs.push(("origin", o));
        }
        if let Some(e) = &self.embed_id {
            pairs.push(("embedId", e));
        }
        if self.lang() == Lang::En {
            pairs.push(("lang", "en"));
        }
        if let Some(b) = &self.back {
            pairs.push(("back", b));
        }
        pairs.extend_from_slice(extra);
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        format!("{}?{query}", kind.path())
    }

    fn notice(&self, kind: PageKind, notice: Notice) -> Response {
        self.to(kind, &[("notice", notice.code())])
    }
}

fn backend(state: &AppState) -> StoreBackend {
    StoreBackend::of(state)
}

/// Where a pay attempt's outcome sends the customer.
fn after_pay(p: &ActionParams, result: PayResult, method_changed: bool) -> Response {
    let changed: &[(&str, &str)] = if method_changed {
        &[("changed", "method")]
    } else {
        &[]
    };
    match result {
        PayResult::Paid => p.to(PageKind::Paid, changed),
        PayResult::Declined => p.to(PageKind::Failed, changed),
        PayResult::Unavailable => p.notice(PageKind::Main, Notice::Unavailable),
        PayResult::Busy => p.to(PageKind::Main, &[]),
        PayResult::Refused(notice) => p.notice(PageKind::Main, notice),
    }
}

async fn pay(State(state): State<AppState>, axum::Form(p): axum::Form<ActionParams>) -> Response {
    let backend = backend(&state);
    let req = p.embed();
    // Listening before trying: the first request's charge may be recorded
    // between our try and our wait.
    let settled = state.settled.subscribe();
    match backend.pay(&req).await {
        Ok(PayResult::Busy) => {
            // A double tap: the browser shows only this response, so wait for
            // the first request's charge and report its outcome.
            match wait_for_charge(&backend, &req, settled).await {
                Some(result) => after_pay(&p, result, false),
                None => p.to(PageKind::Main, &[]),
            }
        }
        Ok(result) => after_pay(&p, result, false),
        // The page explains unknown tokens, closed cases and bad origins.
        Err(_) => p.to(PageKind::Main, &[]),
    }
}

/// Waits, up to `SETTLE_WAIT`, for the charge in flight on this request's
/// case, holding no database connection: woken when this process records
/// a charge on the case, and looking every `LOOK_AGAIN` for one another
/// instance recorded. `None`: the case is neither paying nor settled by a
/// charge (the page shows whatever it is).
async fn wait_for_charge(
    backend: &StoreBackend,
    req: &EmbedRequest,
    mut settled: tokio::sync::broadcast::Receiver<i64>,
) -> Option<PayResult> {
    const LOOK_AGAIN: Duration = Duration::from_secs(1);
    let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
    let (case, _, _) = backend.resolve(req).await.ok()?;
    let case_id = case.id;
    let mut case = case;
    loop {
        match case.status {
            CaseStatus::Paying if tokio::time::Instant::now() >= deadline => {
                return Some(PayResult::Unavailable);
            }
            CaseStatus::Paying => {}
            CaseStatus::Recovered => return Some(PayResult::Paid),
            CaseStatus::Open | CaseStatus::Ended if case.last_decline.is_some() => {
                return Some(PayResult::Declined);
            }
            _ => return None,
        }
        let look_at = (tokio::time::Instant::now() + LOOK_AGAIN).min(deadline);
        loop {
            match tokio::time::timeout_at(look_at, settled.recv()).await {
                Ok(Ok(id)) if id != case_id => continue,
                Ok(Err(RecvError::Closed)) => {
                    tokio::time::sleep_until(look_at).await;
                    break;
                }
                // Ours, or we fell behind and cannot tell, or time to look.
                Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) | Err(_) => break,
            }
        }
        case = backend.resolve(req).await.ok()?.0;
    }
}

async fn date(State(state): State<AppState>, axum::Form(p): axum::Form<ActionParams>) -> Response {
    let selected = p.selected_date.clone().unwrap_or_default();
    match backend(&state).change_date(&p.embed(), &selected).await {
        Ok(Ok(())) => p.to(PageKind::DateChanged, &[]),
        Ok(Err(DateRefusal::OutOfWindow)) => p.notice(PageKind::Date, Notice::BadDate),
        Ok(Err(DateRefusal::Limit)) => p.notice(PageKind::Main, Notice::DateLimit),
        Ok(Err(DateRefusal::Closed)) | Err(_) => p.to(PageKind::Main, &[]),
    }
}

async fn remind(
    State(state): State<AppState>,
    axum::Form(p): axum::Form<ActionParams>,
) -> Response {
    match backend(&state).remind_later(&p.embed()).await {
        Ok(true) => p.to(PageKind::Reminded, &[]),
        Ok(false) => p.notice(PageKind::Main, Notice::RemindLimit),
        Err(_) => p.to(PageKind::Main, &[]),
    }
}
