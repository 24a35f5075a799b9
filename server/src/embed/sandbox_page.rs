//! The sandbox gateway's card window: a page of test cards standing in for
//! the PG's hosted window, so the change-method flow can be clicked through
//! (and tested) without a PG. Served only while the sandbox gateway is
//! active. Like a PG's window, it runs top-level from the card page
//! (`embed::card`) and returns there.

use crate::html::escape;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::domain::token::new_id;
use crate::gateway::sandbox::{TEST_CARDS, auth_key_for};
use crate::state::AppState;

const PAGE: &str = "/embed/sandbox/billing-auth";
const APPROVE: &str = "/embed/sandbox/billing-auth/approve";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(PAGE, get(page))
        .route(APPROVE, get(approve))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WindowParams {
    #[serde(default)]
    customer_key: String,
    /// Whose card this will be, masked.
    #[serde(default)]
    customer_name: String,
    #[serde(default)]
    success_url: String,
    #[serde(default)]
    fail_url: String,
    /// The test card chosen, or `cancel`.
    outcome: Option<String>,
}

/// Only our own return paths, reduced to path and query: the window can
/// never send the customer to another site, whatever its URL says.
fn return_path(url: &str) -> Option<&str> {
    let path = match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            &rest[rest.find('/')?..]
        }
        None => url,
    };
    // Visible ASCII only: a decoded control character would not even make a
    // valid Location header.
    if !path.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let allowed = [super::card::CARD_RETURN, super::card::CARD_CANCEL];
    allowed
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}?")))
        .then_some(path)
}

fn not_here() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

async fn page(State(state): State<AppState>, Query(p): Query<WindowParams>) -> Response {
    if !state.gateways.server_wide().is_sandbox() {
        return not_here();
    }
    if return_path(&p.success_url).is_none() || return_path(&p.fail_url).is_none() {
        return (StatusCode::BAD_REQUEST, "invalid return URL").into_response();
    }
    let hidden = format!(
        "<input type=\"hidden\" name=\"customerKey\" value=\"{}\">\
         <input type=\"hidden\" name=\"successUrl\" value=\"{}\">\
         <input type=\"hidden\" name=\"failUrl\" value=\"{}\">",
        escape(&p.customer_key),
        escape(&p.success_url),
        escape(&p.fail_url)
    );
    let payer = if p.customer_name.trim().is_empty() {
        String::new()
    } else {
        format!(
            "<p data-testid=\"payer\">{}님의 구독 결제에 쓸 카드예요.</p>",
            escape(p.customer_name.trim())
        )
    };
    let cards: String = TEST_CARDS
        .iter()
        .map(|(outcome, label, what)| {
            format!(
                "<button type=\"submit\" name=\"outcome\" value=\"{outcome}\" class=\"button secondary card-choice\">{label} <span>({what})</span></button>"
            )
        })
        .collect();
    Html(format!(
        "<!DOCTYPE html><html lang=\"ko\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>테스트 카드 등록</title>\
         <link rel=\"stylesheet\" href=\"/pkg/rebound.css\"></head><body><main class=\"page\">\
         <section class=\"card\" aria-labelledby=\"heading\" data-page=\"sandbox-billing-auth\">\
         <p class=\"test-banner\" role=\"note\">테스트 모드: 실제 카드사 창 대신 보이는 화면이에요</p>\
         <h1 id=\"heading\">테스트 카드 등록</h1>\
         {payer}<p class=\"lead\">등록할 테스트 카드를 고르세요. 카드마다 결제 결과가 정해져 있어요.</p>\
         <form method=\"get\" action=\"{APPROVE}\" class=\"actions\">{hidden}{cards}\
         <button type=\"submit\" name=\"outcome\" value=\"cancel\" class=\"button link\">취소</button>\
         </form></section></main></body></html>"
    ))
    .into_response()
}

async fn approve(State(state): State<AppState>, Query(p): Query<WindowParams>) -> Response {
    if !state.gateways.server_wide().is_sandbox() {
        return not_here();
    }
    let (Some(success), Some(fail)) = (return_path(&p.success_url), return_path(&p.fail_url))
    else {
        return (StatusCode::BAD_REQUEST, "invalid return URL").into_response();
    };
    let join = |base: &str, extra: &[(&str, &str)]| {
        let sep = if base.contains('?') { '&' } else { '?' };
        format!(
            "{base}{sep}{}",
            serde_urlencoded::to_string(extra).unwrap_or_default()
        )
    };
    let outcome = p.outcome.as_deref().unwrap_or("cancel");
    if TEST_CARDS.iter().any(|(o, _, _)| *o == outcome) {
        let auth_key = auth_key_for(outcome, &new_id());
        Redirect::to(&join(
            success,
            &[("customerKey", &p.customer_key), ("authKey", &auth_key)],
        ))
        .into_response()
    } else {
        Redirect::to(&join(
            fail,
            &[
                ("code", "PAY_PROCESS_CANCELED"),
                ("message", "사용자가 결제를 취소하였습니다"),
            ],
        ))
        .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::return_path;

    #[test]
    fn the_window_returns_only_to_our_own_paths() {
        assert_eq!(
            return_path("http://127.0.0.1:3000/card/return?t=t"),
            Some("/card/return?t=t")
        );
        assert_eq!(
            return_path("https://evil.example/card/cancel"),
            Some("/card/cancel"),
            "the host is dropped, so it cannot matter"
        );
        for bad in [
            "https://evil.example/",
            "/card/returned",
            "/embed/recovery/method/return",
            "//evil.example/x",
            "https://evil.example",
            "/card/return?t=a\nb",
            "",
        ] {
            assert_eq!(return_path(bad), None, "{bad:?}");
        }
    }
}
