//! `/console/notices`: the partner's server notices, newest first, each
//! with its delivery log; redeliver one, or everything since a time (the
//! API's redelivery, with its rate limit and 7-day window).

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{NaiveDateTime, TimeZone};
use leptos::prelude::*;
use serde::Deserialize;

use super::cases::when;
use super::error::ConsoleError;
use super::layout::{Frame, Lang, Section, page, partner_picker, urlencode};
use super::post::Posted;
use super::scope::one_partner;
use super::session::Signed;
use super::words;
use crate::api::events::{REDELIVER_MAX, REDELIVER_WINDOW_MS};
use crate::domain::event::DeliveryStatus;
use crate::state::AppState;

const PAGE_SIZE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct NoticesQuery {
    partner: Option<String>,
    before: Option<String>,
    queued: Option<String>,
    problem: Option<String>,
}

fn delivery_label(status: &str, lang: Lang) -> &'static str {
    DeliveryStatus::parse(status).map_or(lang.t("알 수 없음", "Unknown"), |d| {
        words::delivery(d, lang)
    })
}

fn frame<'a>(lang: Lang, signed: &'a Signed, path: &'a str) -> Frame<'a> {
    Frame {
        lang,
        title: lang.t("파트너 알림", "Notices").to_owned(),
        user: &signed.user,
        csrf: &signed.csrf,
        section: Section::Notices,
        path,
    }
}

pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Query(q): Query<NoticesQuery>,
) -> Result<Html<String>, ConsoleError> {
    let lang = Lang::from_headers(&headers);
    let t = move |ko, en| lang.t(ko, en);
    let Some(partner) = one_partner(&state, &signed, q.partner.as_deref()).await? else {
        let partners = state.store.list_partners().await?;
        let main = view! { <h1>{t("파트너 알림", "Notices")}</h1>{partner_picker(lang, "/console/notices", &partners)} };
        return Ok(page(frame(lang, &signed, "/console/notices"), main));
    };
    let before = q.before.as_deref().and_then(|b| b.parse().ok());
    let rows = state
        .store
        .recent_events(partner.id, before, PAGE_SIZE)
        .await?;
    let pq = format!("partner={}", partner.id);
    let next = (rows.len() as i64 == PAGE_SIZE)
        .then(|| {
            rows.last()
                .map(|r| format!("/console/notices?{pq}&before={}", r.id))
        })
        .flatten();
    let body = rows
        .iter()
        .map(|e| {
            let href = format!("/console/notices/{}?{pq}", urlencode(&e.webhook_id));
            view! {
                <tr>
                    <td>{when(e.created_at)}</td>
                    <td><a href=href>{e.event_type.clone()}</a></td>
                    <td>{e.tid.clone()}</td>
                    <td data-delivery=e.status.clone()>{delivery_label(&e.status, lang)}</td>
                    <td>{e.attempts}</td>
                </tr>
            }
        })
        .collect_view();
    let csrf = signed.csrf.clone();
    let queued = q.queued.clone().map(|n| {
        view! { <p class="ok" role="status">{format!("{} {n}", t("다시 보내도록 넣은 알림:", "Notices queued again:"))}</p> }
    });
    let problem = q.problem.as_deref().map(|p| {
        let text = match p {
            "rate" => t(
                "재전송 요청이 너무 잦습니다. 잠시 뒤 다시 시도하세요.",
                "Too many redeliveries; try again in a moment.",
            ),
            _ => t(
                "시각이 올바르지 않습니다 (최근 7일 안).",
                "Not a valid time (within the last 7 days).",
            ),
        };
        view! { <p class="error" role="alert">{text}</p> }
    });
    let empty = rows.is_empty();
    let main = view! {
        <h1>{format!("{} · {}", t("파트너 알림", "Notices"), partner.business_name)}</h1>
        <p class="note">{t("서버가 파트너 서버로 보낸 서명된 알림입니다. 브라우저 메시지는 힌트일 뿐, 이 알림이 근거입니다.",
            "Signed server-to-server notices sent to the partner's backend: the proof behind the page's browser messages.")}</p>
        {queued}
        {problem}
        <form method="post" action="/console/notices/redeliver" class="filters">
            <input type="hidden" name="csrf" value=csrf/>
            <input type="hidden" name="partner" value=partner.id.to_string()/>
            <div><label for="since">{t("이 시각 이후 알림 모두 다시 보내기 (KST)", "Redeliver every notice since (KST)")}</label>
            <input id="since" name="since" type="datetime-local" required/></div>
            <button type="submit" class="secondary">{t("다시 보내기", "Redeliver")}</button>
        </form>
        <div class="scroll" tabindex="0"><table>
            <caption class="muted">{t("최근 것부터", "Newest first")}</caption>
            <thead><tr><th scope="col">{t("만든 시각 (KST)", "Created (KST)")}</th><th scope="col">{t("종류", "Type")}</th>
            <th scope="col">"tid"</th><th scope="col">{t("전송", "Delivery")}</th><th scope="col">{t("시도", "Attempts")}</th></tr></thead>
            <tbody>{body}</tbody>
        </table></div>
        {empty.then(|| view! { <p class="muted">{t("아직 알림이 없습니다.", "No notice yet.")}</p> })}
        {next.map(|href| view! { <p><a href=href rel="next">{t("더 보기", "Older")}</a></p> })}
    };
    Ok(page(frame(lang, &signed, "/console/notices"), main))
}

pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path(webhook_id): Path<String>,
    Query(q): Query<NoticesQuery>,
) -> Result<Html<String>, ConsoleError> {
    let lang = Lang::from_headers(&headers);
    let t = move |ko, en| lang.t(ko, en);
    let partner = one_partner(&state, &signed, q.partner.as_deref())
        .await?
        .ok_or(ConsoleError::NotFound)?;
    if !crate::domain::event::is_webhook_id(&webhook_id) {
        return Err(ConsoleError::NotFound);
    }
    let (event, attempts) = state
        .store
        .event_with_attempts(partner.id, &webhook_id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let rows = attempts
        .iter()
        .map(|a| {
            view! {
                <tr>
                    <td>{when(a.attempted_at)}</td>
                    <td>{a.status_code.map(|c| c.to_string()).unwrap_or_else(|| "–".into())}</td>
                    <td>{if a.ok == 1 { t("수신 확인", "acknowledged") } else { t("실패", "failed") }}</td>
                    <td>{format!("{} ms", a.duration_ms)}</td>
                    <td>{a.error.clone().unwrap_or_default()}{a.response_excerpt.clone().map(|r| format!(" {r}")).unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    // A notice without an endpoint, or not tried yet, has no log: say so
    // rather than show an empty table.
    let no_attempts = attempts.is_empty().then(|| {
        view! {
            <p class="muted">{match event.status.as_str() {
                "NO_ENDPOINT" => t(
                    "알림 URL이 없어 보내지 않았습니다. 설정에서 알림 URL을 정하세요.",
                    "Not sent: no notify URL. Set one on the settings page.",
                ),
                _ => t("아직 보낸 적이 없습니다.", "Not tried yet."),
            }}</p>
        }
    });
    // Billing keys charge the customer's card: the console shows their end
    // only (the partner's backend gets them whole, signed).
    let pretty = serde_json::from_str::<serde_json::Value>(&event.body)
        .map(|mut v| {
            mask_billing_keys(&mut v);
            v
        })
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| t("(읽을 수 없는 본문)", "(unreadable body)").to_owned());
    let path = format!("/console/notices/{}", event.webhook_id);
    let main = view! {
        <p><a href=format!("/console/notices?partner={}", partner.id)>{t("← 알림 목록", "← All notices")}</a></p>
        <h1>{event.event_type.clone()}</h1>
        <dl class="facts">
            <dt>"webhook-id"</dt><dd><code>{event.webhook_id.clone()}</code></dd>
            <dt>{t("만든 시각", "Created")}</dt><dd>{when(event.created_at)}</dd>
            <dt>{t("전송", "Delivery")}</dt><dd data-delivery=event.status.clone()>{delivery_label(&event.status, lang)}</dd>
        </dl>
        <form method="post" action="/console/notices/redeliver" class="inline">
            <input type="hidden" name="csrf" value=signed.csrf.clone()/>
            <input type="hidden" name="partner" value=partner.id.to_string()/>
            <input type="hidden" name="webhook_id" value=event.webhook_id.clone()/>
            <button type="submit">{t("이 알림 다시 보내기", "Redeliver this notice")}</button>
        </form>
        <h2>{t("전송 기록", "Delivery log")}</h2>
        {no_attempts}
        <div class="scroll" tabindex="0" hidden=attempts.is_empty()><table>
            <thead><tr><th scope="col">{t("시각", "At")}</th><th scope="col">"HTTP"</th><th scope="col">{t("결과", "Result")}</th>
            <th scope="col">{t("걸린 시간", "Took")}</th><th scope="col">{t("응답", "Answer")}</th></tr></thead>
            <tbody>{rows}</tbody>
        </table></div>
        <h2>{t("본문 (서명된 그대로)", "Body (exactly as signed)")}</h2>
        <pre class="body">{pretty}</pre>
    };
    Ok(page(frame(lang, &signed, &path), main))
}

/// Every billing key in a notice body (`id_key`), masked.
fn mask_billing_keys(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match (k.as_str(), v.as_str()) {
                    ("id_key" | "idKey" | "billing_key", Some(key)) => {
                        *v = serde_json::Value::String(crate::domain::customer::masked_key(key));
                    }
                    _ => mask_billing_keys(v),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_billing_keys),
        _ => {}
    }
}

#[derive(Deserialize)]
pub struct RedeliverForm {
    partner: Option<String>,
    webhook_id: Option<String>,
    since: Option<String>,
}

pub async fn redeliver(
    State(state): State<AppState>,
    Posted { signed, form, .. }: Posted<RedeliverForm>,
) -> Result<Response, ConsoleError> {
    let partner = one_partner(&state, &signed, form.partner.as_deref())
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let back = |extra: String| {
        Redirect::to(&format!("/console/notices?partner={}&{extra}", partner.id)).into_response()
    };
    if state.limits.redeliver(partner.id).is_err() {
        return Ok(back("problem=rate".into()));
    }
    let now = state.clock.now().timestamp_millis();
    let (webhook_id, since) = match (
        form.webhook_id.as_deref().filter(|w| !w.is_empty()),
        form.since.as_deref(),
    ) {
        (Some(id), _) if !crate::domain::event::is_webhook_id(id) => {
            return Err(ConsoleError::NotFound);
        }
        (Some(id), _) => (Some(id), 0),
        (None, Some(raw)) => {
            let parsed = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M")
                .ok()
                .and_then(|t| crate::clock::kst().from_local_datetime(&t).single())
                .map(|t| t.timestamp_millis())
                .filter(|ms| *ms >= now - REDELIVER_WINDOW_MS && *ms <= now);
            match parsed {
                Some(ms) => (None, ms),
                None => return Ok(back("problem=since".into())),
            }
        }
        (None, None) => return Ok(back("problem=since".into())),
    };
    let (queued, _) = state
        .store
        .redeliver_events(partner.id, webhook_id, since, REDELIVER_MAX, now)
        .await?;
    tracing::info!(
        partner = partner.id,
        user = signed.user.id,
        queued,
        "console redelivery"
    );
    Ok(back(format!("queued={queued}")))
}
