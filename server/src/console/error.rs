//! What can go wrong on a console page, mapped to a response in one place:
//! an HTML page in the console's look (the partner API answers in
//! StepPay's JSON shape instead, `api::error`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::layout::{Lang, bare_page};
use crate::limits::Limited;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No live session: to the sign-in page.
    #[error("not signed in")]
    SignIn,
    /// The form's CSRF token is missing or not this session's, or the post
    /// came from another site.
    #[error("the form is stale or came from another site")]
    Forbidden,
    /// Not there, or not this account's to see: the same answer.
    #[error("not found")]
    NotFound,
    #[error("too many attempts")]
    Throttled(Limited),
    /// A form that does not parse (a hand-made post).
    #[error("the form does not parse")]
    BadForm,
    /// Only the partner's admins (and operators) change its settings and
    /// users.
    #[error("admins only")]
    AdminOnly,
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let lang = Lang::Ko;
        let (status, ko, en) = match &self {
            ConsoleError::SignIn => return Redirect::to("/console/login").into_response(),
            ConsoleError::Forbidden => (
                StatusCode::FORBIDDEN,
                "요청을 처리할 수 없습니다. 페이지를 새로 고친 뒤 다시 시도해 주세요.",
                "This form expired or came from another site. Reload the page and try again.",
            ),
            ConsoleError::NotFound => (StatusCode::NOT_FOUND, "찾을 수 없습니다.", "Not found."),
            ConsoleError::BadForm => (
                StatusCode::BAD_REQUEST,
                "양식을 읽을 수 없습니다. 페이지를 새로 고친 뒤 다시 시도해 주세요.",
                "The form could not be read. Reload the page and try again.",
            ),
            ConsoleError::AdminOnly => (
                StatusCode::FORBIDDEN,
                "파트너 관리자만 설정과 사용자를 바꿀 수 있습니다.",
                "Only the partner's admins change its settings and users.",
            ),
            ConsoleError::Throttled(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "시도가 너무 많습니다. 잠시 뒤 다시 시도해 주세요.",
                "Too many attempts. Wait a minute and try again.",
            ),
            ConsoleError::Store(e) => {
                tracing::error!(error = %e, "console store error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "일시적인 오류입니다. 잠시 뒤 다시 시도해 주세요.",
                    "Something went wrong on our side. Try again shortly.",
                )
            }
        };
        let body = bare_page(
            lang,
            status.as_str(),
            &format!("<p>{ko}</p><p lang=\"en\">{en}</p>"),
        );
        let mut res = (status, axum::response::Html(body)).into_response();
        if let ConsoleError::Throttled(limited) = &self
            && let Ok(v) = HeaderValue::from_str(&limited.retry_after_secs().to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}
