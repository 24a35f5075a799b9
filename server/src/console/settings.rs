//! `/console/settings`: the partner's origins, recovery page URL and notify
//! URL; Secret-Token and webhook secret rotation (each new secret shown
//! once, the old one honoured for the grace period); the gateway status;
//! and a test notice that shows the endpoint's answer.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use leptos::prelude::*;
use serde::Deserialize;

use super::cases::when;
use super::error::ConsoleError;
use super::layout::{Frame, Lang, Section, page, partner_picker};
use super::scope::one_partner;
use super::session::{self, Signed};
use crate::domain::gateway_account::{AccountInput, AccountSettings};
use crate::domain::origin::{AllowedOrigins, is_partner_url};
use crate::domain::token::{TokenHash, new_secret_token};
use crate::state::AppState;
use crate::store::PartnerRecord;

#[derive(Debug, Default, Deserialize)]
pub struct SettingsQuery {
    partner: Option<String>,
}

/// What the last post came to, shown at the top.
#[derive(Default)]
struct Outcome {
    ok: Option<String>,
    problems: Vec<String>,
    /// A new secret, shown once: (what, value).
    secret: Option<(&'static str, String)>,
    /// A test notice's answer.
    test: Option<String>,
}

fn frame<'a>(lang: Lang, signed: &'a Signed) -> Frame<'a> {
    Frame {
        lang,
        title: lang.t("설정", "Settings").to_owned(),
        user: &signed.user,
        csrf: &signed.csrf,
        section: Section::Settings,
        path: "/console/settings",
    }
}

async fn render(
    state: &AppState,
    signed: &Signed,
    lang: Lang,
    partner: &PartnerRecord,
    outcome: Outcome,
) -> Result<Html<String>, ConsoleError> {
    let t = move |ko, en| lang.t(ko, en);
    let (notify_url, recovery_url, gateway_problem, notify_disabled_at) =
        state.store.partner_settings(partner.id).await?;
    let form = |action: &'static str, body: AnyView| {
        view! {
            <form method="post" action="/console/settings" class="stack">
                <input type="hidden" name="csrf" value=signed.csrf.clone()/>
                <input type="hidden" name="partner" value=partner.id.to_string()/>
                <input type="hidden" name="do" value=action/>
                {body}
            </form>
        }
    };
    let origins_text = partner.origins.to_stored().replace(' ', "\n");
    let secret = outcome.secret.map(|(what, value)| {
        view! {
            <div class="ok" role="status">
                <p>{format!("{what} {}", t("(지금 한 번만 보입니다. 바로 저장하세요):", "(shown once; store it now):"))}</p>
                <p><code data-secret="new">{value}</code></p>
            </div>
        }
    });
    let problems = (!outcome.problems.is_empty()).then(|| {
        let items = outcome
            .problems
            .into_iter()
            .map(|p| view! { <li>{p}</li> })
            .collect_view();
        view! { <ul class="error" role="alert">{items}</ul> }
    });
    let gateway = match gateway_problem {
        Some(problem) => view! {
            <p class="error">{format!("{} {problem}", t("결제 대행사 설정 문제로 자동 재시도가 멈췄습니다:", "Silent retries are stopped by a gateway setup problem:"))}</p>
        }
        .into_any(),
        None => view! { <p>{t("정상: 자동 재시도가 동작합니다.", "Working: silent retries run.")}</p> }.into_any(),
    };
    let disabled = notify_disabled_at.map(|at| view! {
        <p class="error">{format!("{} {}", t("알림 URL이 410으로 응답해 전송을 멈췄습니다:", "The notify URL answered 410; delivery stopped at"), when(at))}</p>
    });
    let main = view! {
        <h1>{format!("{} · {}", t("설정", "Settings"), partner.business_name)}</h1>
        {outcome.ok.map(|m| view! { <p class="ok" role="status">{m}</p> })}
        {secret}
        {problems}
        {outcome.test.map(|m| view! { <div class="ok" role="status" data-test-notice=""><p>{t("테스트 알림 결과:", "Test notice:")}</p><pre>{m}</pre></div> })}
        <h2>{t("연동", "Integration")}</h2>
        {form("urls", view! {
            <label for="origins">{t("회수 페이지를 넣을 사이트의 출처 (한 줄에 하나)", "Origins allowed to embed the page (one per line)")}</label>
            <textarea id="origins" name="origins" rows="3">{origins_text}</textarea>
            <label for="recovery_url">{t("회수 페이지 URL (메시지 링크가 여기로 갑니다, ?token= 붙음)", "Recovery page URL (message links go here, with ?token=)")}</label>
            <input id="recovery_url" name="recovery_url" type="url" value=recovery_url.unwrap_or_default()/>
            <label for="notify_url">{t("알림 URL (서버 알림을 받을 곳; 비우면 보내지 않음)", "Notify URL (where server notices go; empty: none)")}</label>
            <input id="notify_url" name="notify_url" type="url" value=notify_url.unwrap_or_default()/>
            {disabled}
            <button type="submit">{t("저장", "Save")}</button>
        }.into_any())}
        {form("test_notice", view! {
            <button type="submit" class="secondary">{t("테스트 알림 보내기", "Send a test notice")}</button>
        }.into_any())}
        <h2>"Secret-Token"</h2>
        {form("rotate_token", view! {
            <label for="grace">{t("이전 토큰을 계속 받을 시간", "Keep accepting the old token for")}</label>
            <select id="grace" name="grace_hours">
                <option value="0">{t("바로 중단", "Stop at once")}</option>
                <option value="1">{t("1시간", "1 hour")}</option>
                <option value="24" selected=true>{t("24시간", "24 hours")}</option>
                <option value="72">{t("72시간", "72 hours")}</option>
            </select>
            <button type="submit" class="secondary">{t("새 토큰 발급", "Issue a new token")}</button>
        }.into_any())}
        <h2>{t("알림 서명 비밀키", "Notice signing secret")}</h2>
        {form("rotate_webhook_secret", view! {
            <p class="muted">{t("새 비밀키를 만들고, 이전 키도 24시간 동안 함께 서명합니다.", "Makes a new secret; the old one also signs for 24 hours.")}</p>
            <button type="submit" class="secondary">{t("새 비밀키 발급", "Issue a new secret")}</button>
        }.into_any())}
        <h2>{t("결제 대행사", "Payment gateway")}</h2>
        {gateway}
        {accounts_section(state, signed, lang, partner).await?}
    };
    Ok(page(frame(lang, signed), main))
}

/// The partner's own gateway accounts: what is not secret, a retire button
/// each, and a form to add one (or replace one: new credentials retire the
/// old row). The secret field is write-only: never filled in, never shown
/// back, not even masked.
async fn accounts_section(
    state: &AppState,
    signed: &Signed,
    lang: Lang,
    partner: &PartnerRecord,
) -> Result<AnyView, ConsoleError> {
    let t = move |ko, en| lang.t(ko, en);
    let accounts = state.store.gateway_accounts(partner.id).await?;
    let hidden = |action: &'static str| {
        view! {
            <input type="hidden" name="csrf" value=signed.csrf.clone()/>
            <input type="hidden" name="partner" value=partner.id.to_string()/>
            <input type="hidden" name="do" value=action/>
        }
    };
    let rows = accounts
        .iter()
        .map(|a| {
            let settings = &a.settings;
            let ids = [
                settings.store_id.as_deref().map(|v| format!("store {v}")),
                settings
                    .channel_key
                    .as_deref()
                    .map(|v| format!("channel {v}")),
                settings
                    .client_key
                    .as_deref()
                    .map(|v| format!("client key {v}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ");
            view! {
                <tr data-gateway-account=a.payment_gateway.clone()>
                    <td>{a.payment_gateway.clone()}</td>
                    <td>{a.kind.as_str()}</td>
                    <td>{if a.livemode { t("실거래", "live") } else { t("테스트", "test") }}</td>
                    <td>{a.customer_keys.as_str()}</td>
                    <td>{ids}</td>
                    <td>{format!("{} · {}", a.created_by, when(a.created_at_ms))}</td>
                    <td>
                        <form method="post" action="/console/settings" class="inline">
                            {hidden("gateway_remove")}
                            <input type="hidden" name="pg" value=a.payment_gateway.clone()/>
                            <button type="submit" class="secondary">{t("해지", "Retire")}</button>
                        </form>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let table = (!accounts.is_empty()).then(|| {
        view! {
            <table>
                <thead><tr>
                    <th>"PG"</th><th>{t("종류", "Kind")}</th><th>{t("모드", "Mode")}</th>
                    <th>{t("고객 키", "Customer keys")}</th><th>{t("식별자", "Ids")}</th>
                    <th>{t("등록", "Added")}</th><th></th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
    });
    let pgs = crate::domain::order::PAYMENT_GATEWAYS
        .iter()
        .map(|pg| view! { <option value=*pg>{*pg}</option> })
        .collect_view();
    Ok(view! {
        <h3>{t("파트너 결제 계정", "The partner's gateway accounts")}</h3>
        <p class="muted">{t(
            "주문의 paymentGateway마다 파트너 자신의 계정으로 결제합니다. API 비밀키는 암호화해 저장하며 다시 보여 주지 않습니다.",
            "Each order is charged through the partner's own account for its paymentGateway. API secrets are stored sealed and never shown again."
        )}</p>
        {table}
        <form method="post" action="/console/settings" class="stack" data-gateway-form="">
            {hidden("gateway_add")}
            <label for="pg">{t("주문의 paymentGateway", "The orders' paymentGateway")}</label>
            <select id="pg" name="pg">{pgs}</select>
            <label for="kind">{t("연동 방식", "Integration")}</label>
            <select id="kind" name="kind">
                <option value="portone">"PortOne V2"</option>
                <option value="toss">{t("토스페이먼츠 직접", "Toss Payments directly")}</option>
            </select>
            <label for="secret">{t("API 비밀키 (저장 후 다시 보이지 않음)", "API secret (never shown again once saved)")}</label>
            <input id="secret" name="secret" type="password" autocomplete="off" required value=""/>
            <label for="store_id">{t("PortOne 상점 ID", "PortOne store id")}</label>
            <input id="store_id" name="store_id" type="text" autocomplete="off"/>
            <label for="channel_key">{t("PortOne 채널 키", "PortOne channel key")}</label>
            <input id="channel_key" name="channel_key" type="text" autocomplete="off"/>
            <label for="client_key">{t("토스 클라이언트 키", "Toss client key")}</label>
            <input id="client_key" name="client_key" type="text" autocomplete="off"/>
            <label for="customer_keys">{t("토스 고객 키 (주문에 customerKey가 없을 때)", "Toss customer key (when the order names none)")}</label>
            <select id="customer_keys" name="customer_keys">
                <option value="order-only">{t("주문의 customerKey만", "The order's customerKey only")}</option>
                <option value="partner-customer-id">{t("고객의 partnerCustomerId", "The customer's partnerCustomerId")}</option>
            </select>
            <label for="mode">{t("모드 (토스는 키의 test_/live_와 같아야 합니다)", "Mode (for Toss, as its key's test_/live_ says)")}</label>
            <select id="mode" name="mode">
                <option value="test">{t("테스트", "Test")}</option>
                <option value="live">{t("실거래", "Live")}</option>
            </select>
            <button type="submit">{t("계정 저장", "Save the account")}</button>
        </form>
    }
    .into_any())
}

pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Query(q): Query<SettingsQuery>,
) -> Result<Html<String>, ConsoleError> {
    let lang = Lang::from_headers(&headers);
    match one_partner(&state, &signed, q.partner.as_deref()).await? {
        Some(p) => render(&state, &signed, lang, &p, Outcome::default()).await,
        None => {
            let partners = state.store.list_partners().await?;
            let main = view! { <h1>{lang.t("설정", "Settings")}</h1>{partner_picker(lang, "/console/settings", &partners)} };
            Ok(page(frame(lang, &signed), main))
        }
    }
}

pub async fn submit(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, ConsoleError> {
    session::same_origin(&state, &headers)?;
    signed.check_csrf(&state, f.get("csrf").map(String::as_str))?;
    let lang = Lang::from_headers(&headers);
    let t = move |ko, en| lang.t(ko, en);
    let mut partner = one_partner(&state, &signed, f.get("partner").map(String::as_str))
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let now = state.clock.now().timestamp_millis();
    let field = |k: &str| f.get(k).map(|v| v.trim()).unwrap_or("");
    let mut outcome = Outcome::default();
    match field("do") {
        "urls" => {
            let origins = AllowedOrigins::parse_lines(field("origins"));
            if origins.is_none() {
                outcome.problems.push(
                    t(
                        "출처는 https://shop.example 처럼 경로 없이 한 줄에 하나씩 적습니다.",
                        "Origins are like https://shop.example, no path, one per line.",
                    )
                    .into(),
                );
            }
            let recovery = field("recovery_url");
            if !recovery.is_empty() && !is_partner_url(recovery) {
                outcome.problems.push(
                    t(
                        "회수 페이지 URL은 https:// 주소여야 합니다 (localhost만 http).",
                        "The recovery page URL must be https (http only for localhost).",
                    )
                    .into(),
                );
            }
            let notify = field("notify_url");
            if !notify.is_empty() && !is_partner_url(notify) {
                outcome.problems.push(
                    t(
                        "알림 URL은 https:// 주소여야 합니다 (localhost만 http).",
                        "The notify URL must be https (http only for localhost).",
                    )
                    .into(),
                );
            }
            if let (true, Some(origins)) = (outcome.problems.is_empty(), origins) {
                state
                    .store
                    .set_partner_origins(partner.id, &origins)
                    .await?;
                if !recovery.is_empty() {
                    state
                        .store
                        .set_partner_recovery_url(partner.id, recovery)
                        .await?;
                }
                state
                    .store
                    .set_partner_notify_url(partner.id, (!notify.is_empty()).then_some(notify))
                    .await?;
                partner.origins = origins;
                outcome.ok = Some(t("저장했습니다.", "Saved.").into());
            }
        }
        "rotate_token" => {
            let grace_hours: i64 = field("grace_hours").parse().unwrap_or(24).clamp(0, 72);
            let secret = new_secret_token();
            state
                .store
                .rotate_partner_token(
                    partner.id,
                    &TokenHash::of(&secret),
                    grace_hours * 3_600_000,
                    now,
                )
                .await?;
            tracing::info!(
                partner = partner.id,
                user = signed.user.id,
                "Secret-Token rotated in the console"
            );
            outcome.secret = Some((t("새 Secret-Token", "New Secret-Token"), secret));
        }
        "rotate_webhook_secret" => {
            let fresh = crate::notify::new_secret();
            // The current one exists before it can be kept for the grace.
            state
                .store
                .webhook_secret(partner.id, &crate::notify::new_secret())
                .await?;
            state
                .store
                .rotate_webhook_secret(partner.id, &fresh, now + 24 * 3_600_000)
                .await?;
            tracing::info!(
                partner = partner.id,
                user = signed.user.id,
                "webhook secret rotated in the console"
            );
            outcome.secret = Some((t("새 알림 서명 비밀키", "New signing secret"), fresh));
        }
        "gateway_add" => {
            let settings = AccountSettings {
                client_key: Some(field("client_key"))
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned),
                store_id: Some(field("store_id"))
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned),
                channel_key: Some(field("channel_key"))
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned),
                api_base: None,
            };
            let checked = AccountInput {
                payment_gateway: field("pg"),
                kind: field("kind"),
                secret: f.get("secret").map(String::as_str).unwrap_or(""),
                live: match field("mode") {
                    "live" => Some(true),
                    "test" => Some(false),
                    _ => None,
                },
                customer_keys: Some(field("customer_keys")).filter(|v| !v.is_empty()),
                settings,
            }
            .check();
            match (checked, state.gateways.credentials_key()) {
                (Err(problems), _) => outcome.problems.extend(
                    problems
                        .into_iter()
                        .map(|p| format!("{}: {}", p.field, p.message)),
                ),
                (Ok(_), None) => outcome.problems.push(
                    t(
                        "서버에 자격 증명 키(REBOUND_CREDENTIALS_KEY_FILE)가 없어 비밀키를 저장할 수 없습니다.",
                        "The server has no credentials key (REBOUND_CREDENTIALS_KEY_FILE): no secret can be stored.",
                    )
                    .into(),
                ),
                (Ok(account), Some(key)) => {
                    let by = signed.user.email.clone();
                    let id = crate::gateway::registry::register_account(
                        &state.store,
                        key,
                        partner.id,
                        &account,
                        &by,
                        now,
                    )
                    .await?;
                    tracing::info!(
                        partner = partner.id,
                        user = signed.user.id,
                        account_id = id,
                        payment_gateway = account.payment_gateway,
                        kind = account.kind.as_str(),
                        "gateway account added in the console"
                    );
                    outcome.ok = Some(format!(
                        "{} {} ({})",
                        account.payment_gateway,
                        t("주문은 이제 이 계정으로 결제합니다.", "orders now charge through this account."),
                        account.kind.as_str()
                    ));
                }
            }
        }
        "gateway_remove" => {
            let pg = field("pg");
            if state
                .store
                .retire_gateway_account(partner.id, pg, now)
                .await?
            {
                tracing::info!(
                    partner = partner.id,
                    user = signed.user.id,
                    payment_gateway = pg,
                    "gateway account retired in the console"
                );
                outcome.ok = Some(format!(
                    "{pg}: {}",
                    t("계정을 해지했습니다.", "the account is retired.")
                ));
            } else {
                outcome.problems.push(format!(
                    "{pg}: {}",
                    t("그런 계정이 없습니다.", "no such account.")
                ));
            }
        }
        "test_notice" if state.limits.test_notice(partner.id).is_err() => {
            outcome.problems.push(
                t(
                    "테스트 알림은 잠시 뒤에 다시 보낼 수 있습니다 (20초에 한 번).",
                    "Send another test notice in a moment (one every 20 seconds).",
                )
                .into(),
            );
        }
        "test_notice" => {
            let answer = crate::notify::send_test(
                &state.store,
                partner.id,
                state.config.notify_allow_private,
            )
            .await?;
            outcome.test = Some(match answer {
                None => t(
                    "알림 URL이 없습니다. 먼저 저장하세요.",
                    "No notify URL yet: save one first.",
                )
                .to_owned(),
                Some(a) => format!(
                    "HTTP {} · {} · {} ms{}{}",
                    a.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "–".into()),
                    if a.acknowledged {
                        t("수신 확인됨", "acknowledged")
                    } else {
                        t("수신 확인 안 됨", "not acknowledged")
                    },
                    a.duration_ms,
                    a.error.map(|e| format!("\n{e}")).unwrap_or_default(),
                    a.excerpt.map(|e| format!("\n{e}")).unwrap_or_default(),
                ),
            });
        }
        _ => return Err(ConsoleError::NotFound),
    }
    let refused = !outcome.problems.is_empty();
    let mut res = render(&state, &signed, lang, &partner, outcome)
        .await?
        .into_response();
    if refused {
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(res)
}
