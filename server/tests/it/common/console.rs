//! Console helpers: accounts, signing in, cookies and CSRF tokens.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, SET_COOKIE};

use super::TestApp;
use rebound::domain::account::{Email, NewPassword, Role};

pub const PASSWORD: &str = "correct horse battery staple";

pub async fn account(app: &TestApp, email: &str, role: Role) -> i64 {
    app.store
        .create_console_user(
            &Email::parse(email).unwrap(),
            &NewPassword::parse(PASSWORD).unwrap().hash(),
            role,
            "test",
            app.clock.now_ms(),
        )
        .await
        .unwrap()
        .unwrap()
        .id
}

/// Signs in; returns the response (not followed).
pub async fn sign_in(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.browser
        .post(app.url("/console/login"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

/// The `name=value` of the session cookie a sign-in set.
pub fn session_of(headers: &HeaderMap) -> String {
    let set = headers[SET_COOKIE].to_str().unwrap().to_owned();
    set.split(';').next().unwrap().to_owned()
}

pub async fn signed_in(app: &TestApp, email: &str) -> String {
    let res = sign_in(app, email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    session_of(res.headers())
}

pub async fn get(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    app.browser
        .get(app.url(path))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap()
}

/// A case's console page, as `cookie`'s account sees it.
pub async fn case_page(app: &TestApp, cookie: &str, case_id: i64) -> String {
    get(app, &format!("/console/cases/{case_id}"), cookie)
        .await
        .text()
        .await
        .unwrap()
}

/// The partner's analytics report (`GET /api/v1/cover/analytics`, the default period).
pub async fn analytics(app: &TestApp) -> serde_json::Value {
    app.get("/api/v1/cover/analytics")
        .await
        .json()
        .await
        .unwrap()
}

/// The CSRF token a page's forms carry.
pub fn csrf_in(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[at..at + 43].to_owned()
}

/// Posts a case action with the case page's CSRF token.
pub async fn act(app: &TestApp, cookie: &str, case_id: i64, action: &str) -> reqwest::Response {
    let html = get(app, &format!("/console/cases/{case_id}"), cookie)
        .await
        .text()
        .await
        .unwrap();
    app.browser
        .post(app.url(&format!("/console/cases/{case_id}/action")))
        .header("Cookie", cookie)
        .form(&[("csrf", csrf_in(&html).as_str()), ("action", action)])
        .send()
        .await
        .unwrap()
}

/// POSTs a console form (with the page's CSRF token taken from `page`).
pub async fn post_form(
    app: &TestApp,
    cookie: &str,
    page: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let html = get(app, page, cookie).await.text().await.unwrap();
    let csrf = csrf_in(&html);
    let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    app.browser
        .post(app.url(path))
        .header("Cookie", cookie)
        .form(&all)
        .send()
        .await
        .unwrap()
}
