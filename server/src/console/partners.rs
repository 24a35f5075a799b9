//! `/console/partners`: for operators, the partners and every console
//! account; create a partner (its Secret-Token shown once) and an account
//! for a partner's staff or another operator; turn an account off. A
//! partner's admins see the same page for their partner's users only
//! ("Users"); its members have no such page.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use leptos::prelude::*;
use serde::Deserialize;

use super::error::ConsoleError;
use super::layout::{Frame, Lang, Section, page};
use super::post::{Posted, must_administer};
use super::session::Signed;
use crate::domain::account::{Email, NewPassword, PartnerRole, Role};
use crate::domain::origin::AllowedOrigins;
use crate::domain::token::{TokenHash, new_secret_token};
use crate::state::AppState;

fn operator_only(signed: &Signed) -> Result<(), ConsoleError> {
    match signed.own_partner() {
        None => Ok(()),
        // Partner users have no such page.
        Some(_) => Err(ConsoleError::NotFound),
    }
}

/// Whose users this account manages: every account (operators, `None`),
/// or its own partner's (the partner's admins). Members: a 404.
fn managed(signed: &Signed) -> Result<Option<i64>, ConsoleError> {
    match signed.user.role {
        Role::Operator => Ok(None),
        Role::Partner(id, PartnerRole::Admin) => Ok(Some(id)),
        Role::Partner(_, PartnerRole::Member) => Err(ConsoleError::NotFound),
    }
}

fn role_words(lang: Lang, role: PartnerRole) -> &'static str {
    match role {
        PartnerRole::Admin => lang.t("관리자", "admin"),
        PartnerRole::Member => lang.t("구성원", "member"),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    created: Option<String>,
    disabled: Option<String>,
}

/// What the page shows besides the lists: a new token once, or problems.
#[derive(Default)]
struct Outcome {
    problems: Vec<String>,
    new_token: Option<(String, String)>,
    created_user: Option<String>,
    disabled_user: Option<String>,
}

async fn render(
    state: &AppState,
    signed: &Signed,
    lang: Lang,
    outcome: Outcome,
) -> Result<Html<String>, ConsoleError> {
    let t = move |ko, en| lang.t(ko, en);
    let scope = managed(signed)?;
    let partners: Vec<_> = state
        .store
        .list_partners()
        .await?
        .into_iter()
        .filter(|p| scope.is_none_or(|own| own == p.id))
        .collect();
    let users: Vec<_> = state
        .store
        .list_console_users()
        .await?
        .into_iter()
        .filter(|u| scope.is_none_or(|own| u.role.partner_id() == Some(own)))
        .collect();
    let rows = partners
        .iter()
        .map(|p| {
            let q = format!("?partner={}", p.id);
            let origins = p.origins.to_stored();
            view! {
                <tr>
                    <td>{p.id}</td>
                    <td>{p.name.clone()}</td>
                    <td>{p.business_name.clone()}</td>
                    <td>{origins}</td>
                    <td>
                        <a href=format!("/console{q}")>{t("개요", "Overview")}</a>" · "
                        <a href=format!("/console/cases{q}")>{t("케이스", "Cases")}</a>" · "
                        <a href=format!("/console/settings{q}")>{t("설정", "Settings")}</a>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let names: std::collections::HashMap<i64, String> =
        partners.iter().map(|p| (p.id, p.name.clone())).collect();
    let user_rows = users
        .iter()
        .map(|u| {
            let role = match u.role {
                Role::Operator => t("운영자", "Operator").to_owned(),
                Role::Partner(id, role) => format!(
                    "{} · {}",
                    names.get(&id).cloned().unwrap_or_default(),
                    role_words(lang, role)
                ),
            };
            let state = if u.disabled {
                view! { <span class="muted">{t("꺼짐", "Off")}</span> }.into_any()
            } else if u.id == signed.user.id {
                view! { <span class="muted">{t("나", "You")}</span> }.into_any()
            } else {
                view! {
                    <form method="post" action="/console/users/disable" class="inline">
                        <input type="hidden" name="csrf" value=signed.csrf.clone()/>
                        <input type="hidden" name="user" value=u.id.to_string()/>
                        <button type="submit" class="secondary"
                            aria-label=format!("{} {}", t("계정 끄기:", "Turn off"), u.email)>
                            {t("끄기", "Turn off")}
                        </button>
                    </form>
                }
                .into_any()
            };
            view! { <tr><td>{u.email.clone()}</td><td>{role}</td><td>{state}</td></tr> }
        })
        .collect_view();
    let options = partners
        .iter()
        .map(|p| view! { <option value=p.id.to_string()>{p.name.clone()}</option> })
        .collect_view();
    let csrf = signed.csrf.clone();
    let token = outcome.new_token.map(|(name, token)| {
        view! {
            <div class="ok" role="status">
                <p>{format!("{} {name}.", t("파트너를 만들었습니다:", "Partner created:"))}</p>
                <p>{t("Secret-Token (지금 한 번만 보입니다. 바로 저장하세요):", "Secret-Token (shown once; store it now):")}</p>
                <p><code data-secret="token">{token}</code></p>
            </div>
        }
    });
    let created = outcome.created_user.map(|e| {
        view! { <p class="ok" role="status">{format!("{} {e}", t("계정을 만들었습니다:", "Account created:"))}</p> }
    });
    let disabled = outcome.disabled_user.map(|e| {
        view! { <p class="ok" role="status">{format!("{} {e}", t("계정을 껐습니다 (로그인이 모두 끝났습니다):", "Account turned off (every sign-in ended):"))}</p> }
    });
    let problems = (!outcome.problems.is_empty()).then(|| {
        let items = outcome
            .problems
            .into_iter()
            .map(|p| view! { <li>{p}</li> })
            .collect_view();
        view! { <ul class="error" role="alert">{items}</ul> }
    });
    let partner_select = match scope {
        None => view! {
            <label for="u-partner">{t("볼 수 있는 파트너", "Partner it sees")}</label>
            <select id="u-partner" name="partner">
                <option value="">{t("모든 파트너 (운영자)", "Every partner (operator)")}</option>
                {options}
            </select>
        }
        .into_any(),
        Some(own) => {
            view! { <input type="hidden" name="partner" value=own.to_string()/> }.into_any()
        }
    };
    let create_user = view! {
        <h2>{t("계정 만들기", "Create an account")}</h2>
        <form method="post" action="/console/users" class="stack">
            <input type="hidden" name="csrf" value=csrf.clone()/>
            <label for="u-email">{t("이메일", "E-mail")}</label>
            <input id="u-email" name="email" type="email" required autocomplete="off"/>
            <label for="u-password">{t("처음 비밀번호 (12자 이상, 따로 전달하세요)", "First password (12 characters or more; hand it over yourself)")}</label>
            <input id="u-password" name="password" type="password" required minlength="12" autocomplete="new-password"/>
            {partner_select}
            <label for="u-role">{t("파트너 안에서의 역할", "Role at the partner")}</label>
            <select id="u-role" name="role">
                <option value="member">{t("구성원: 케이스를 보고 처리", "Member: reads and acts on cases")}</option>
                <option value="admin">{t("관리자: 설정과 사용자도 변경", "Admin: also changes settings and users")}</option>
            </select>
            <button type="submit">{t("계정 만들기", "Create account")}</button>
        </form>
    };
    // Operators also see and create partners.
    let partners_part = scope.is_none().then(|| {
        view! {
            <div class="scroll" tabindex="0"><table>
                <thead><tr><th scope="col">"ID"</th><th scope="col">{t("이름", "Name")}</th>
                <th scope="col">{t("상호", "Business name")}</th><th scope="col">{t("허용 출처", "Origins")}</th>
                <th scope="col">{t("보기", "Open")}</th></tr></thead>
                <tbody>{rows}</tbody>
            </table></div>
            <h2>{t("파트너 만들기", "Create a partner")}</h2>
            <form method="post" action="/console/partners" class="stack">
                <input type="hidden" name="csrf" value=csrf.clone()/>
                <label for="p-name">{t("이름 (영문, API와 CLI에서 씀)", "Name (used by the API and the CLI)")}</label>
                <input id="p-name" name="name" required maxlength="64" autocomplete="off"/>
                <label for="p-business">{t("상호 (고객에게 보임)", "Business name (customers see it)")}</label>
                <input id="p-business" name="business_name" required maxlength="100" autocomplete="organization"/>
                <label for="p-origins">{t("회수 페이지를 넣을 사이트의 출처 (한 줄에 하나, 예: https://shop.example)", "Origins of the sites that embed the page (one per line, e.g. https://shop.example)")}</label>
                <textarea id="p-origins" name="origins" rows="3" required></textarea>
                <button type="submit">{t("파트너 만들기", "Create partner")}</button>
            </form>
        }
    });
    let title = if scope.is_none() {
        t("파트너와 계정", "Partners and accounts")
    } else {
        t("사용자", "Users")
    };
    let main = view! {
        <h1>{title}</h1>
        {token}
        {created}
        {disabled}
        {problems}
        {partners_part}
        <h2>{t("콘솔 계정", "Console accounts")}</h2>
        <div class="scroll" tabindex="0"><table>
            <thead><tr><th scope="col">{t("이메일", "E-mail")}</th><th scope="col">{t("권한", "Sees")}</th>
            <th scope="col">{t("상태", "State")}</th></tr></thead>
            <tbody>{user_rows}</tbody>
        </table></div>
        {create_user}
    };
    Ok(operator_page(signed, lang, main))
}

fn operator_page(signed: &Signed, lang: Lang, main: impl IntoView + 'static) -> Html<String> {
    let operator = signed.own_partner().is_none();
    page(
        Frame {
            lang,
            title: if operator {
                lang.t("파트너", "Partners")
            } else {
                lang.t("사용자", "Users")
            }
            .to_owned(),
            user: &signed.user,
            csrf: &signed.csrf,
            section: Section::Partners,
            path: "/console/partners",
        },
        main,
    )
}

pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Query(q): Query<Notice>,
) -> Result<Html<String>, ConsoleError> {
    managed(&signed)?;
    let outcome = Outcome {
        created_user: q.created,
        disabled_user: q.disabled,
        ..Outcome::default()
    };
    render(&state, &signed, Lang::from_headers(&headers), outcome).await
}

#[derive(Deserialize)]
pub struct PartnerForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    business_name: String,
    #[serde(default)]
    origins: String,
}

pub async fn create_partner(
    State(state): State<AppState>,
    Posted { signed, lang, form }: Posted<PartnerForm>,
) -> Result<Response, ConsoleError> {
    operator_only(&signed)?;
    let t = move |ko, en| lang.t(ko, en);
    let mut problems = Vec::new();
    let name = form.name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        problems.push(t(
            "이름은 영문, 숫자, -, _ 로 64자까지입니다.",
            "The name is letters, digits, - and _, up to 64.",
        ));
    } else if state.store.partner_by_name(name).await?.is_some() {
        problems.push(t(
            "같은 이름의 파트너가 이미 있습니다.",
            "A partner with this name exists.",
        ));
    }
    let business = form.business_name.trim();
    if business.is_empty() || business.chars().count() > 100 {
        problems.push(t(
            "상호를 100자까지 적어 주세요.",
            "Give a business name of up to 100 characters.",
        ));
    }
    let origins = AllowedOrigins::parse_lines(&form.origins);
    if origins.is_none() {
        problems.push(t(
            "출처는 https://shop.example 처럼 경로 없이 한 줄에 하나씩 적습니다.",
            "Origins are like https://shop.example, no path, one per line.",
        ));
    }
    let outcome = match (problems.is_empty(), origins) {
        (true, Some(origins)) => {
            let secret = new_secret_token();
            let now = state.clock.now().timestamp_millis();
            let p = state
                .store
                .create_partner(name, business, &origins, &TokenHash::of(&secret), now)
                .await?;
            tracing::info!(
                partner = p.id,
                user = signed.user.id,
                "partner created in the console"
            );
            Outcome {
                new_token: Some((p.name, secret)),
                ..Outcome::default()
            }
        }
        _ => Outcome {
            problems: problems.into_iter().map(str::to_owned).collect(),
            ..Outcome::default()
        },
    };
    answer(&state, &signed, lang, outcome).await
}

#[derive(Deserialize)]
pub struct UserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    partner: Option<String>,
    /// `admin` or `member`, for a partner's user (default: member).
    role: Option<String>,
}

pub async fn create_user(
    State(state): State<AppState>,
    Posted { signed, lang, form }: Posted<UserForm>,
) -> Result<Response, ConsoleError> {
    managed(&signed)?;
    let t = move |ko, en| lang.t(ko, en);
    let mut problems = Vec::new();
    let email = Email::parse(&form.email)
        .map_err(|_| {
            problems.push(t(
                "이메일 주소가 올바르지 않습니다.",
                "Not an e-mail address.",
            ))
        })
        .ok();
    let password = NewPassword::parse(&form.password)
        .map_err(|_| {
            problems.push(t(
                "비밀번호는 12자에서 256자입니다.",
                "The password is 12 to 256 characters.",
            ))
        })
        .ok();
    let role = match form
        .partner
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        // Only an operator makes another operator.
        None => {
            operator_only(&signed)?;
            Some(Role::Operator)
        }
        Some(raw) => match raw.parse::<i64>() {
            Ok(id) if state.store.partner_by_id(id).await?.is_some() => {
                must_administer(&signed, id)?;
                match form
                    .role
                    .as_deref()
                    .map_or(Some(PartnerRole::Member), PartnerRole::from_word)
                {
                    Some(role) => Some(Role::Partner(id, role)),
                    None => {
                        problems.push(t(
                            "역할은 관리자 또는 구성원입니다.",
                            "The role is admin or member.",
                        ));
                        None
                    }
                }
            }
            _ => {
                problems.push(t("그런 파트너가 없습니다.", "No such partner."));
                None
            }
        },
    };
    if let (Some(email), Some(password), Some(role)) = (&email, password, role) {
        let hash = state
            .hasher
            .run(move || password.hash())
            .await
            .ok_or(ConsoleError::NotFound)?;
        let now = state.clock.now().timestamp_millis();
        match state
            .store
            .create_console_user(email, &hash, role, &signed.user.email, now)
            .await?
        {
            Some(user) => {
                tracing::info!(
                    created = user.id,
                    by = signed.user.id,
                    "console account created"
                );
                return Ok(Redirect::to(&format!(
                    "/console/partners?created={}",
                    super::layout::urlencode(&user.email)
                ))
                .into_response());
            }
            None => problems.push(t(
                "이 이메일의 계정이 이미 있습니다.",
                "This address has an account already.",
            )),
        }
    }
    let outcome = Outcome {
        problems: problems.into_iter().map(str::to_owned).collect(),
        ..Outcome::default()
    };
    answer(&state, &signed, lang, outcome).await
}

#[derive(Deserialize)]
pub struct DisableForm {
    user: Option<String>,
}

/// Turns another account off: it cannot sign in, and its sessions end.
/// A partner's admin turns off its own partner's users only.
pub async fn disable_user(
    State(state): State<AppState>,
    Posted { signed, form, .. }: Posted<DisableForm>,
) -> Result<Response, ConsoleError> {
    let scope = managed(&signed)?;
    let id: i64 = form
        .user
        .as_deref()
        .and_then(|u| u.parse().ok())
        .ok_or(ConsoleError::NotFound)?;
    // Not oneself: the last operator could lock everyone out.
    let user = state
        .store
        .list_console_users()
        .await?
        .into_iter()
        .find(|u| {
            u.id == id
                && u.id != signed.user.id
                && scope.is_none_or(|own| u.role.partner_id() == Some(own))
        })
        .ok_or(ConsoleError::NotFound)?;
    let now = state.clock.now().timestamp_millis();
    state
        .store
        .disable_console_user(&user, &signed.user.email, now)
        .await?;
    tracing::info!(
        disabled = user.id,
        by = signed.user.id,
        "console account turned off"
    );
    Ok(Redirect::to(&format!(
        "/console/partners?disabled={}",
        super::layout::urlencode(&user.email)
    ))
    .into_response())
}

/// The page after a post: 422 when the form was refused.
async fn answer(
    state: &AppState,
    signed: &Signed,
    lang: Lang,
    outcome: Outcome,
) -> Result<Response, ConsoleError> {
    let refused = !outcome.problems.is_empty();
    let mut res = render(state, signed, lang, outcome).await?.into_response();
    if refused {
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(res)
}
