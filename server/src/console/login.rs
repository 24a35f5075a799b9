//! Sign-in, sign-out and the language switch.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use leptos::prelude::*;
use serde::Deserialize;

use super::error::ConsoleError;
use super::layout::{LANG_COOKIE, Lang, document};
use super::post::Posted;
use super::session::{self, cookie, cookie_name, session_cookie};
use crate::domain::account::{Email, decoy_hash, password_matches};
use crate::domain::token::{TokenHash, new_session_id};
use crate::serve::PeerIp;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

fn login_page(lang: Lang, email: &str, failed: bool) -> Html<String> {
    let t = move |ko, en| lang.t(ko, en);
    let email = email.to_owned();
    let error = failed.then(|| {
        view! {
            <p class="error" role="alert" id="login-error">
                {t("이메일 또는 비밀번호가 올바르지 않습니다.", "Wrong e-mail or password.")}
            </p>
        }
    });
    let described = failed.then_some("login-error");
    Html(document(
        lang,
        t("로그인", "Sign in"),
        view! {
            <main id="main" class="narrow">
                <h1>{t("Rebound 콘솔 로그인", "Sign in to the Rebound console")}</h1>
                {error}
                <form method="post" action="/console/login" class="stack">
                    <label for="email">{t("이메일", "E-mail")}</label>
                    <input id="email" name="email" type="email" autocomplete="username"
                        required value=email aria-describedby=described/>
                    <label for="password">{t("비밀번호", "Password")}</label>
                    <input id="password" name="password" type="password"
                        autocomplete="current-password" required aria-describedby=described/>
                    <button type="submit">{t("로그인", "Sign in")}</button>
                </form>
                <p class="muted">
                    {t("계정은 운영자가 만듭니다 (server admin create).",
                       "Accounts are made by an operator (server admin create).")}
                </p>
                <p><a href="/console/lang/en?next=%2Fconsole%2Flogin" lang="en">"English"</a>
                   " · " <a href="/console/lang/ko?next=%2Fconsole%2Flogin" lang="ko">"한국어"</a></p>
            </main>
        },
    ))
}

pub async fn show(headers: HeaderMap) -> Html<String> {
    login_page(Lang::from_headers(&headers), "", false)
}

pub async fn submit(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, ConsoleError> {
    session::same_origin(&state, &headers)?;
    let lang = Lang::from_headers(&headers);
    let email = Email::parse(&form.email);
    // Counted before the password is looked at, whatever the outcome, keyed
    // by the address as typed when it is no address at all.
    let key = email.as_ref().map_or_else(
        |_| form.email.trim().to_lowercase(),
        |e| e.as_str().to_owned(),
    );
    state
        .limits
        .login(&key, ip)
        .map_err(ConsoleError::Throttled)?;
    let user = match &email {
        Ok(email) => state.store.console_user_by_email(email).await?,
        Err(_) => None,
    };
    // A missing account costs the same Argon2 work as a wrong password.
    let stored = user
        .as_ref()
        .map_or_else(|| decoy_hash().to_owned(), |u| u.password_hash.clone());
    let password = form.password;
    let matches = state
        .hasher
        .run(move || password_matches(&password, &stored))
        .await
        .unwrap_or(false);
    let Some(user) = user.filter(|_| matches) else {
        tracing::info!("console sign-in refused");
        let mut res = login_page(lang, &form.email, true).into_response();
        *res.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok(res);
    };
    let secure = session::secure(&state);
    // A new session id at every sign-in; the one the browser held ends.
    if let Some(old) = cookie(&headers, cookie_name(secure)) {
        state.store.end_console_session(&TokenHash::of(old)).await?;
    }
    let id = new_session_id();
    let now = state.clock.now().timestamp_millis();
    // For the password just checked: changed meanwhile, no session.
    if !state
        .store
        .create_console_session(user.id, &TokenHash::of(&id), &user.password_hash, now)
        .await?
    {
        tracing::info!(user = user.id, "console sign-in raced a password change");
        return Err(ConsoleError::SignIn);
    }
    tracing::info!(user = user.id, "console sign-in");
    let mut res = Redirect::to("/console").into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(secure, Some(&id)));
    Ok(res)
}

/// Sign-out's form holds nothing but the CSRF token.
#[derive(Deserialize)]
pub struct NoFields {}

pub async fn logout(
    State(state): State<AppState>,
    Posted { signed, .. }: Posted<NoFields>,
) -> Result<Response, ConsoleError> {
    state.store.end_console_session(&signed.session).await?;
    let mut res = Redirect::to("/console/login").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(session::secure(&state), None),
    );
    Ok(res)
}

#[derive(Deserialize)]
pub struct LangQuery {
    next: Option<String>,
}

/// Sets the language cookie and goes back (only ever to a console page).
pub async fn set_lang(Path(code): Path<String>, Query(q): Query<LangQuery>) -> Response {
    let value = if code == "en" { "en" } else { "ko" };
    let next = q
        .next
        .filter(|n| n.starts_with("/console") && !n.contains("//") && !n.contains('\\'))
        .unwrap_or_else(|| "/console".to_owned());
    let c = cookie::Cookie::build((LANG_COOKIE, value))
        .path("/console")
        .same_site(cookie::SameSite::Lax)
        .max_age(cookie::time::Duration::days(365))
        .build();
    let mut res = Redirect::to(&next).into_response();
    if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}
