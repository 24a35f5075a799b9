//! `/console/settings`: the partner's origins, recovery page URL and notify
//! URL; Secret-Token and webhook secret rotation (each new secret shown
//! once, the old one honoured for the grace period); the gateway status;
//! a test notice that shows the endpoint's answer; and the history of
//! every change.
//!
//! These fields can send customers (with their token) or money elsewhere,
//! so only the partner's admins and operators change them, each change
//! asks for the password again, and each is recorded and told to the
//! partner (`store::settings`). A change answers with a redirect
//! (post-redirect-get): reloading the page never rotates a secret twice,
//! and a new secret is kept sealed for the next page only.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use leptos::prelude::*;
use serde::Deserialize;

use super::cases::when;
use super::error::ConsoleError;
use super::layout::{Frame, Lang, Section, page, partner_picker};
use super::post::{Posted, must_administer, password_again};
use super::scope::one_partner;
use super::session::Signed;
use crate::domain::gateway_account::{AccountInput, AccountSettings};
use crate::domain::origin::{AllowedOrigins, is_partner_url};
use crate::domain::settings::PartnerUrls;
use crate::domain::token::{TokenHash, new_secret_token};
use crate::serve::PeerIp;
use crate::state::AppState;
use crate::store::PartnerRecord;

#[derive(Debug, Default, Deserialize)]
pub struct SettingsQuery {
    partner: Option<String>,
    /// Which change the redirect after a post reports.
    done: Option<String>,
}

/// A post to the settings page: the partner and what to do.
#[derive(Debug, Deserialize)]
pub struct SettingsPost {
    partner: Option<String>,
    #[serde(default)]
    current_password: String,
    #[serde(flatten)]
    action: Action,
}

/// What a settings post does (`do`), each with its own fields.
#[derive(Debug, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
enum Action {
    Urls {
        #[serde(default)]
        origins: String,
        #[serde(default)]
        recovery_url: String,
        #[serde(default)]
        notify_url: String,
    },
    TestNotice,
    RotateToken {
        grace_hours: Option<String>,
    },
    RotateWebhookSecret,
    GatewayAdd {
        #[serde(default)]
        pg: String,
        #[serde(default)]
        kind: String,
        #[serde(default)]
        secret: String,
        #[serde(default)]
        store_id: String,
        #[serde(default)]
        channel_key: String,
        #[serde(default)]
        client_key: String,
        #[serde(default)]
        customer_keys: String,
        #[serde(default)]
        mode: String,
    },
    GatewayRemove {
        #[serde(default)]
        pg: String,
    },
}

impl Action {
    /// The word the redirect names the change by (`?done=`).
    fn done(&self) -> &'static str {
        match self {
            Action::Urls { .. } => "urls",
            Action::TestNotice => "test_notice",
            Action::RotateToken { .. } => "rotate_token",
            Action::RotateWebhookSecret => "rotate_webhook_secret",
            Action::GatewayAdd { .. } => "gateway_add",
            Action::GatewayRemove { .. } => "gateway_remove",
        }
    }

    /// Every action but the test notice changes what can redirect
    /// customers or money: the password is asked again.
    fn changes_settings(&self) -> bool {
        !matches!(self, Action::TestNotice)
    }
}

/// What the sealed flash of a post holds: a new secret, for one look.
#[derive(serde::Serialize, Deserialize)]
struct ShownOnce {
    what: String,
    value: String,
}

const FLASH_OWNER: &str = "console-flash";

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
    let admin = signed.user.role.administers(partner.id);
    // Members see the settings; only admins get the forms.
    // The fields, the password asked again (for a change), the button.
    let form = |action: &'static str, body: AnyView, button: AnyView| {
        admin.then(|| {
            let password = (action != "test_notice").then(|| password_field(lang, action));
            view! {
                <form method="post" action="/console/settings" class="stack">
                    <input type="hidden" name="csrf" value=signed.csrf.clone()/>
                    <input type="hidden" name="partner" value=partner.id.to_string()/>
                    <input type="hidden" name="do" value=action/>
                    {body}
                    {password}
                    {button}
                </form>
            }
        })
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
    let read_only = (!admin).then(|| {
        let origins = partner.origins.to_stored();
        view! {
            <p class="muted">{t(
                "설정은 파트너 관리자만 바꿀 수 있습니다.",
                "Only the partner's admins change these settings."
            )}</p>
            <dl>
                <dt>{t("임베드 출처", "Embedding origins")}</dt><dd>{origins}</dd>
                <dt>{t("회수 페이지 URL", "Recovery page URL")}</dt><dd>{recovery_url.clone().unwrap_or_else(|| "–".into())}</dd>
                <dt>{t("알림 URL", "Notify URL")}</dt><dd>{notify_url.clone().unwrap_or_else(|| "–".into())}</dd>
            </dl>
        }
    });
    let history = history_section(state, lang, partner).await?;
    let main = view! {
        <h1>{format!("{} · {}", t("설정", "Settings"), partner.business_name)}</h1>
        {read_only}
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
        }.into_any(), view! { <button type="submit">{t("저장", "Save")}</button> }.into_any())}
        {form("test_notice", ().into_any(), view! {
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
        }.into_any(), view! { <button type="submit" class="secondary">{t("새 토큰 발급", "Issue a new token")}</button> }.into_any())}
        <h2>{t("알림 서명 비밀키", "Notice signing secret")}</h2>
        {form("rotate_webhook_secret", view! {
            <p class="muted">{t("새 비밀키를 만들고, 이전 키도 24시간 동안 함께 서명합니다.", "Makes a new secret; the old one also signs for 24 hours.")}</p>
        }.into_any(), view! { <button type="submit" class="secondary">{t("새 비밀키 발급", "Issue a new secret")}</button> }.into_any())}
        <h2>{t("결제 대행사", "Payment gateway")}</h2>
        {gateway}
        {accounts_section(state, signed, lang, partner, admin).await?}
        {history}
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
    admin: bool,
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
            let ids = a.settings.ids().join(" · ");
            view! {
                <tr data-gateway-account=a.payment_gateway.clone()>
                    <td>{a.payment_gateway.clone()}</td>
                    <td>{a.kind.as_str()}</td>
                    <td>{if a.livemode { t("실거래", "live") } else { t("테스트", "test") }}</td>
                    <td>{a.customer_keys.as_str()}</td>
                    <td>{ids}</td>
                    <td>{format!("{} · {}", a.created_by, when(a.created_at_ms))}</td>
                    <td>
                        {admin.then(|| view! {
                            <form method="post" action="/console/settings" class="inline">
                                {hidden("gateway_remove")}
                                <input type="hidden" name="pg" value=a.payment_gateway.clone()/>
                                <label class="visually-hidden" for=format!("pw-remove-{}", a.payment_gateway)>{t("현재 비밀번호", "Your password")}</label>
                                <input id=format!("pw-remove-{}", a.payment_gateway) name="current_password" type="password"
                                    autocomplete="current-password" required placeholder=t("현재 비밀번호", "Your password")/>
                                <button type="submit" class="secondary">{t("해지", "Retire")}</button>
                            </form>
                        })}
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
        {admin.then(|| view! {
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
            {password_field(lang, "gateway_add")}
            <button type="submit">{t("계정 저장", "Save the account")}</button>
        </form>
        })}
    }
    .into_any())
}

/// The password asked again on every form that changes a setting.
fn password_field(lang: Lang, action: &'static str) -> impl IntoView {
    let id = format!("current_password_{action}");
    view! {
        <label for=id.clone()>{lang.t(
            "현재 비밀번호 (설정을 바꾸려면 다시 입력)",
            "Your password (asked again to change a setting)"
        )}</label>
        <input id=id name="current_password" type="password" autocomplete="current-password" required/>
    }
}

/// The partner's recorded changes, newest first.
async fn history_section(
    state: &AppState,
    lang: Lang,
    partner: &PartnerRecord,
) -> Result<AnyView, ConsoleError> {
    let t = move |ko, en| lang.t(ko, en);
    let rows = state.store.settings_history(partner.id, 50).await?;
    let body = if rows.is_empty() {
        view! { <p class="muted">{t("아직 바뀐 설정이 없습니다.", "No setting has changed yet.")}</p> }.into_any()
    } else {
        let items = rows
            .into_iter()
            .map(|r| {
                let (ko, en) = r.change.setting.words();
                let value = |v: Option<String>| v.unwrap_or_else(|| "–".into());
                view! {
                    <tr data-setting=r.change.setting.as_str()>
                        <td>{when(r.changed_at_ms)}</td>
                        <td>{r.changed_by}</td>
                        <td>{lang.t(ko, en)}</td>
                        <td class="wrap">{value(r.change.old)}</td>
                        <td class="wrap">{value(r.change.new)}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <div class="scroll" tabindex="0"><table data-settings-history="">
                <thead><tr>
                    <th>{t("시각", "When")}</th><th>{t("누가", "Who")}</th><th>{t("항목", "Setting")}</th>
                    <th>{t("이전", "Before")}</th><th>{t("이후", "After")}</th>
                </tr></thead>
                <tbody>{items}</tbody>
            </table></div>
        }
        .into_any()
    };
    Ok(view! { <h2>{t("변경 기록", "History")}</h2>{body} }.into_any())
}

pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Query(q): Query<SettingsQuery>,
) -> Result<Html<String>, ConsoleError> {
    let lang = Lang::from_headers(&headers);
    let t = move |ko, en| lang.t(ko, en);
    let Some(partner) = one_partner(&state, &signed, q.partner.as_deref()).await? else {
        let partners = state.store.list_partners().await?;
        let main = view! { <h1>{t("설정", "Settings")}</h1>{partner_picker(lang, "/console/settings", &partners)} };
        return Ok(page(frame(lang, &signed), main));
    };
    let mut outcome = Outcome {
        ok: match q.done.as_deref() {
            Some("urls") => Some(t("저장했습니다.", "Saved.").into()),
            Some("gateway_add") => Some(
                t(
                    "계정을 저장했습니다. 주문은 이제 이 계정으로 결제합니다.",
                    "The account is saved: orders now charge through it.",
                )
                .into(),
            ),
            Some("gateway_remove") => {
                Some(t("계정을 해지했습니다.", "The account is retired.").into())
            }
            _ => None,
        },
        ..Outcome::default()
    };
    // A secret made by the post before the redirect: shown on this look
    // only (taken from the store as it is read).
    if let Some(sealed) = state.store.take_console_flash(&signed.session).await?
        && let Ok(json) = signed.flash_key(&state).open(&sealed, FLASH_OWNER)
        && let Ok(shown) = serde_json::from_str::<ShownOnce>(&json)
    {
        let what = match shown.what.as_str() {
            "token" => t("새 Secret-Token", "New Secret-Token"),
            _ => t("새 알림 서명 비밀키", "New signing secret"),
        };
        outcome.secret = Some((what, shown.value));
    }
    render(&state, &signed, lang, &partner, outcome).await
}

pub async fn submit(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    posted: Posted<SettingsPost>,
) -> Result<Response, ConsoleError> {
    let Posted { signed, lang, form } = posted;
    let t = move |ko, en| lang.t(ko, en);
    let partner = one_partner(&state, &signed, form.partner.as_deref())
        .await?
        .ok_or(ConsoleError::NotFound)?;
    must_administer(&signed, partner.id)?;
    let now = state.clock.now().timestamp_millis();
    let by = signed.user.email.as_str();
    let mut outcome = Outcome::default();
    if form.action.changes_settings()
        && !password_again(&state, &signed, ip, &form.current_password).await?
    {
        outcome.problems.push(
            t(
                "비밀번호가 맞지 않습니다. 아무것도 바꾸지 않았습니다.",
                "That is not your password: nothing was changed.",
            )
            .into(),
        );
        return refused(&state, &signed, lang, &partner, outcome).await;
    }
    let done = form.action.done();
    match form.action {
        Action::Urls {
            origins,
            recovery_url,
            notify_url,
        } => {
            let origins = AllowedOrigins::parse_lines(origins.trim());
            if origins.is_none() {
                outcome.problems.push(
                    t(
                        "출처는 https://shop.example 처럼 경로 없이 한 줄에 하나씩 적습니다.",
                        "Origins are like https://shop.example, no path, one per line.",
                    )
                    .into(),
                );
            }
            let recovery = recovery_url.trim();
            if !recovery.is_empty() && !is_partner_url(recovery) {
                outcome.problems.push(
                    t(
                        "회수 페이지 URL은 https:// 주소여야 합니다 (localhost만 http).",
                        "The recovery page URL must be https (http only for localhost).",
                    )
                    .into(),
                );
            }
            let notify = notify_url.trim();
            if !notify.is_empty() && !is_partner_url(notify) {
                outcome.problems.push(
                    t(
                        "알림 URL은 https:// 주소여야 합니다 (localhost만 http).",
                        "The notify URL must be https (http only for localhost).",
                    )
                    .into(),
                );
            }
            let Some(origins) = origins.filter(|_| outcome.problems.is_empty()) else {
                return refused(&state, &signed, lang, &partner, outcome).await;
            };
            let current = state.store.partner_urls(partner.id).await?;
            let new = PartnerUrls {
                origins: origins.to_stored(),
                // An empty field keeps the recovery URL (a partner always
                // has one once set); an empty notify URL turns notices off.
                recovery_url: Some(recovery.to_owned())
                    .filter(|r| !r.is_empty())
                    .or(current.recovery_url),
                notify_url: Some(notify.to_owned()).filter(|n| !n.is_empty()),
            };
            let changes = state
                .store
                .save_partner_urls(partner.id, &new, by, now)
                .await?;
            tracing::info!(
                partner = partner.id,
                user = signed.user.id,
                changed = changes.len(),
                "partner URLs saved in the console"
            );
        }
        Action::RotateToken { grace_hours } => {
            let grace_hours: i64 = grace_hours
                .and_then(|g| g.trim().parse().ok())
                .unwrap_or(24)
                .clamp(0, 72);
            let secret = new_secret_token();
            state
                .store
                .rotate_partner_token(
                    partner.id,
                    &TokenHash::of(&secret),
                    grace_hours * 3_600_000,
                    by,
                    now,
                )
                .await?;
            tracing::info!(
                partner = partner.id,
                user = signed.user.id,
                "Secret-Token rotated in the console"
            );
            show_once(&state, &signed, "token", secret).await?;
        }
        Action::RotateWebhookSecret => {
            let fresh = crate::notify::new_secret();
            // The current one exists before it can be kept for the grace.
            state
                .store
                .webhook_secret(partner.id, &crate::notify::new_secret())
                .await?;
            state
                .store
                .rotate_webhook_secret(partner.id, &fresh, now + 24 * 3_600_000, by, now)
                .await?;
            tracing::info!(
                partner = partner.id,
                user = signed.user.id,
                "webhook secret rotated in the console"
            );
            show_once(&state, &signed, "webhook", fresh).await?;
        }
        Action::GatewayAdd {
            pg,
            kind,
            secret,
            store_id,
            channel_key,
            client_key,
            customer_keys,
            mode,
        } => {
            let given = |v: &str| Some(v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
            let settings = AccountSettings {
                client_key: given(&client_key),
                store_id: given(&store_id),
                channel_key: given(&channel_key),
                api_base: None,
            };
            let checked = AccountInput {
                payment_gateway: pg.trim(),
                kind: kind.trim(),
                secret: &secret,
                live: match mode.trim() {
                    "live" => Some(true),
                    "test" => Some(false),
                    _ => None,
                },
                customer_keys: Some(customer_keys.trim()).filter(|v| !v.is_empty()),
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
                    let id = crate::gateway::registry::register_account(
                        &state.store,
                        key,
                        partner.id,
                        &account,
                        by,
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
                }
            }
        }
        Action::GatewayRemove { pg } => {
            let pg = pg.trim();
            if state
                .store
                .retire_gateway_account(partner.id, pg, by, now)
                .await?
            {
                tracing::info!(
                    partner = partner.id,
                    user = signed.user.id,
                    payment_gateway = pg,
                    "gateway account retired in the console"
                );
            } else {
                outcome.problems.push(format!(
                    "{pg}: {}",
                    t("그런 계정이 없습니다.", "no such account.")
                ));
            }
        }
        Action::TestNotice if state.limits.test_notice(partner.id).is_err() => {
            outcome.problems.push(
                t(
                    "테스트 알림은 잠시 뒤에 다시 보낼 수 있습니다 (20초에 한 번).",
                    "Send another test notice in a moment (one every 20 seconds).",
                )
                .into(),
            );
        }
        Action::TestNotice => {
            let answer = crate::notify::send_test(
                &state.store,
                partner.id,
                state.config.notify_allow_private,
            )
            .await?;
            // The answer is this post's to show: a reload sends another
            // (rate-limited) test, and changes nothing.
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
            return Ok(render(&state, &signed, lang, &partner, outcome)
                .await?
                .into_response());
        }
    }
    if !outcome.problems.is_empty() {
        return refused(&state, &signed, lang, &partner, outcome).await;
    }
    Ok(Redirect::to(&format!(
        "/console/settings?partner={}&done={done}",
        partner.id
    ))
    .into_response())
}

/// Keeps a new secret, sealed, for the page the redirect leads to.
async fn show_once(
    state: &AppState,
    signed: &Signed,
    what: &str,
    value: String,
) -> Result<(), ConsoleError> {
    let json = serde_json::to_string(&ShownOnce {
        what: what.to_owned(),
        value,
    })
    .map_err(|_| ConsoleError::BadForm)?;
    let sealed = signed.flash_key(state).seal(&json, FLASH_OWNER);
    state
        .store
        .set_console_flash(&signed.session, &sealed)
        .await?;
    Ok(())
}

/// The page again with what was wrong, as a 422: nothing was changed.
async fn refused(
    state: &AppState,
    signed: &Signed,
    lang: Lang,
    partner: &PartnerRecord,
    outcome: Outcome,
) -> Result<Response, ConsoleError> {
    let mut res = render(state, signed, lang, partner, outcome)
        .await?
        .into_response();
    *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<SettingsPost, serde_urlencoded::de::Error> {
        serde_urlencoded::from_str(body)
    }

    #[test]
    fn a_settings_post_is_one_typed_action_with_its_own_fields() {
        let p =
            parse("csrf=x&partner=3&do=rotate_token&grace_hours=1&current_password=pw").unwrap();
        assert_eq!(p.partner.as_deref(), Some("3"));
        assert_eq!(p.current_password, "pw");
        assert!(matches!(p.action, Action::RotateToken { grace_hours: Some(ref g) } if g == "1"));
        let p = parse("do=urls&origins=https%3A%2F%2Fa.example&notify_url=").unwrap();
        assert!(
            matches!(p.action, Action::Urls { ref origins, ref notify_url, .. } if origins == "https://a.example" && notify_url.is_empty())
        );
        assert!(p.action.changes_settings());
        assert!(!parse("do=test_notice").unwrap().action.changes_settings());
        assert!(parse("do=drop_tables").is_err(), "an unknown action");
        assert!(parse("partner=3").is_err(), "no action");
    }
}
