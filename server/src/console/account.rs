//! `/console/account`: the signed-in account changes its own password (an
//! operator hands a new partner user a first one). The current password is
//! asked for and throttled like a sign-in; the change ends every session
//! of the account (`Store::set_console_password`) and this browser gets a
//! new one.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use leptos::prelude::*;
use serde::Deserialize;

use super::error::ConsoleError;
use super::layout::{Frame, Lang, Section, page};
use super::post::{Posted, password_again};
use super::session::{self, Signed, session_cookie};
use crate::domain::account::NewPassword;
use crate::domain::token::{TokenHash, new_session_id};
use crate::serve::PeerIp;
use crate::state::AppState;

pub const PATH: &str = "/console/account";

#[derive(Deserialize)]
pub struct Changed {
    changed: Option<String>,
}

pub async fn show(signed: Signed, headers: HeaderMap, Query(q): Query<Changed>) -> Html<String> {
    let lang = Lang::from_headers(&headers);
    let done = q.changed.is_some().then(|| {
        lang.t(
            "비밀번호를 바꿨습니다. 다른 기기의 로그인은 모두 끝났습니다.",
            "Password changed. Every other sign-in has ended.",
        )
    });
    form_page(&signed, lang, done, None)
}

fn form_page(
    signed: &Signed,
    lang: Lang,
    done: Option<&'static str>,
    problem: Option<&'static str>,
) -> Html<String> {
    let t = move |ko, en| lang.t(ko, en);
    let described = problem.map(|_| "password-problem");
    let main = view! {
        <h1>{t("내 계정", "My account")}</h1>
        <p>{signed.user.email.clone()}</p>
        {done.map(|m| view! { <p class="ok" role="status">{m}</p> })}
        <h2>{t("비밀번호 바꾸기", "Change the password")}</h2>
        {problem.map(|m| view! { <p class="error" role="alert" id="password-problem">{m}</p> })}
        <form method="post" action=PATH class="stack">
            <input type="hidden" name="csrf" value=signed.csrf.clone()/>
            <label for="current">{t("지금 비밀번호", "Current password")}</label>
            <input id="current" name="current" type="password" autocomplete="current-password"
                required aria-describedby=described/>
            <label for="new">{t("새 비밀번호 (12자 이상)", "New password (12 characters or more)")}</label>
            <input id="new" name="new" type="password" autocomplete="new-password" minlength="12"
                maxlength="256" required aria-describedby=described/>
            <label for="again">{t("새 비밀번호 확인", "New password again")}</label>
            <input id="again" name="again" type="password" autocomplete="new-password" required
                aria-describedby=described/>
            <button type="submit">{t("바꾸기", "Change")}</button>
        </form>
        <p class="muted">{t(
            "바꾸면 이 계정의 다른 로그인은 모두 끝납니다.",
            "Changing it signs this account out everywhere else.",
        )}</p>
    };
    page(
        Frame {
            lang,
            title: t("내 계정", "My account").to_owned(),
            user: &signed.user,
            csrf: &signed.csrf,
            section: Section::Account,
            path: PATH,
        },
        main,
    )
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    again: String,
}

pub async fn submit(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    Posted { signed, lang, form }: Posted<PasswordForm>,
) -> Result<Response, ConsoleError> {
    let refuse = |problem| {
        let mut res = form_page(&signed, lang, None, Some(problem)).into_response();
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        res
    };
    // The new password's own faults first: they say nothing of the
    // current one, and cost no try.
    let Ok(new) = NewPassword::parse(&form.new) else {
        return Ok(refuse(lang.t(
            "새 비밀번호는 12자에서 256자입니다.",
            "The new password is 12 to 256 characters.",
        )));
    };
    if form.new != form.again {
        return Ok(refuse(lang.t(
            "새 비밀번호 두 칸이 서로 다릅니다.",
            "The two new passwords differ.",
        )));
    }
    // A stolen session must not make this form a password oracle: each
    // check of the current password counts as a sign-in try.
    let matches = password_again(&state, &signed, ip, &form.current).await?;
    if !matches {
        return Ok(refuse(lang.t(
            "지금 비밀번호가 올바르지 않습니다.",
            "The current password is wrong.",
        )));
    }
    let hash = state
        .hasher
        .run(move || new.hash())
        .await
        .ok_or(ConsoleError::NotFound)?;
    let now = state.clock.now().timestamp_millis();
    // Ends every session of the account, this one too; then a new one here.
    state
        .store
        .set_console_password(signed.user.id, &hash, now)
        .await?;
    let id = new_session_id();
    if !state
        .store
        .create_console_session(signed.user.id, &TokenHash::of(&id), &hash, now)
        .await?
    {
        // Changed again meanwhile (another tab): sign in with that one.
        return Err(ConsoleError::SignIn);
    }
    tracing::info!(user = signed.user.id, "console password changed");
    let mut res = Redirect::to(&format!("{PATH}?changed=1")).into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(session::secure(&state), Some(&id)),
    );
    Ok(res)
}
