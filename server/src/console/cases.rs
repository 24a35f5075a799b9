//! `GET /console/cases` (filtered, paged, newest first) and
//! `GET /console/cases/{id}` (the case and its timeline, oldest first).

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use leptos::prelude::*;
use serde::Deserialize;

use super::error::ConsoleError;
use super::layout::{Frame, Lang, Section, krw, page, urlencode};
use super::scope::scope;
use super::session::Signed;
use super::words;
use crate::clock::kst_text;
use crate::domain::actions::CaseAction;
use crate::domain::analytics::Period;
use crate::domain::case::{CaseStatus, ChargeSource};
use crate::state::AppState;
use crate::store::{CaseFilter, TimelineItem};

const PAGE_SIZE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct CasesQuery {
    status: Option<String>,
    stage: Option<String>,
    recovered_by: Option<String>,
    from: Option<String>,
    to: Option<String>,
    q: Option<String>,
    before: Option<String>,
    partner: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

pub fn when(ms: i64) -> String {
    kst_text(ms, "%Y-%m-%d %H:%M")
}

pub fn status_label(status: CaseStatus, lang: Lang) -> &'static str {
    words::case_status(status, lang)
}

pub fn source_label(source: Option<ChargeSource>, recovered: bool, lang: Lang) -> &'static str {
    words::source(source, recovered, lang)
}

pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Query(q): Query<CasesQuery>,
) -> Result<Html<String>, ConsoleError> {
    let lang = Lang::from_headers(&headers);
    let t = move |ko, en| lang.t(ko, en);
    let partner = scope(&state, &signed, non_empty(&q.partner)).await?;
    let now = state.clock.now().timestamp_millis();
    let mut problems = Vec::new();
    let status = match non_empty(&q.status) {
        None => None,
        Some(raw) => match CaseStatus::parse(raw) {
            Ok(s) => Some(s),
            Err(_) => {
                problems.push(t("상태 값이 올바르지 않습니다.", "Unknown status."));
                None
            }
        },
    };
    let stage = match non_empty(&q.stage) {
        None => None,
        Some(raw) => match raw.parse::<i64>().ok().filter(|n| (0..=100).contains(n)) {
            Some(n) => Some(n),
            None => {
                problems.push(t(
                    "단계는 0 이상의 숫자입니다.",
                    "Stage is a number from 0.",
                ));
                None
            }
        },
    };
    let recovered_by = non_empty(&q.recovered_by)
        .filter(|s| {
            [
                "retry",
                "page",
                "method_change",
                "scheduled_date",
                "console",
                "partner",
            ]
            .contains(s)
        })
        .map(str::to_owned);
    // Without a period, all time (one year back at most per page of 50).
    let today = crate::domain::analytics::kst_day(now);
    let period = if non_empty(&q.from).is_none() && non_empty(&q.to).is_none() {
        None
    } else {
        match Period::parse(non_empty(&q.from), non_empty(&q.to), today) {
            Ok(p) => Some(p),
            Err(_) => {
                problems.push(t(
                    "기간이 올바르지 않습니다 (YYYY-MM-DD, 최대 366일).",
                    "The period is not valid (YYYY-MM-DD, up to 366 days).",
                ));
                None
            }
        }
    };
    let (from_ms, to_ms) = period.map_or((0, i64::MAX), |p| p.bounds_ms());
    let search = non_empty(&q.q).map(str::to_owned);
    let rows = state
        .store
        .list_cases(&CaseFilter {
            partner_id: partner,
            status,
            stage,
            recovered_by: recovered_by.clone(),
            failed_from_ms: from_ms,
            failed_to_ms: to_ms,
            search: search.clone(),
            before_id: non_empty(&q.before).and_then(|b| b.parse().ok()),
            limit: PAGE_SIZE,
        })
        .await?;
    let operator = signed.own_partner().is_none();
    let next = (rows.len() as i64 == PAGE_SIZE).then(|| {
        let last = rows.last().map(|r| r.id).unwrap_or_default();
        let keep = [
            ("status", q.status.clone()),
            ("stage", q.stage.clone()),
            ("recovered_by", q.recovered_by.clone()),
            ("from", q.from.clone()),
            ("to", q.to.clone()),
            ("q", q.q.clone()),
            ("partner", q.partner.clone()),
        ];
        let mut href = format!("/console/cases?before={last}");
        for (k, v) in keep {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                href.push_str(&format!("&{k}={}", urlencode(&v)));
            }
        }
        href
    });
    let body_rows = rows
        .iter()
        .map(|r| {
            let href = format!("/console/cases/{}", r.id);
            let by = source_label(r.charged_by, r.status == CaseStatus::Recovered, lang);
            view! {
                <tr>
                    <td><a href=href>{format!("#{}", r.id)}</a></td>
                    {operator.then(|| view! { <td>{r.partner_name.clone()}</td> })}
                    <td>{when(r.failed_at)}</td>
                    <td>{status_label(r.status, lang)}</td>
                    <td>{r.stage.unwrap_or(0)}</td>
                    <td>{by}</td>
                    <td>{krw(r.amount, lang)}</td>
                    <td>{r.partner_order_id.clone()}</td>
                    <td>{format!("{} ({})", r.customer_name, r.partner_customer_id)}</td>
                </tr>
            }
        })
        .collect_view();
    let opt = |value: &'static str, label: &'static str, current: Option<&str>| {
        view! { <option value=value selected=current == Some(value)>{label}</option> }
    };
    let cur_status = non_empty(&q.status).map(str::to_owned);
    let cur_by = recovered_by.clone();
    let empty = rows.is_empty();
    let main = view! {
        <h1>{t("케이스", "Cases")}</h1>
        <form method="get" action="/console/cases" class="filters" aria-label=t("필터", "Filters")>
            <div><label for="status">{t("상태", "Status")}</label>
            <select id="status" name="status">
                {opt("", t("전체", "Any"), cur_status.as_deref())}
                {opt("OPEN", t("진행 중", "Open"), cur_status.as_deref())}
                {opt("PAYING", t("결제 중", "Paying"), cur_status.as_deref())}
                {opt("RECOVERED", t("회수됨", "Recovered"), cur_status.as_deref())}
                {opt("ENDED", t("시나리오 종료", "Scenario ended"), cur_status.as_deref())}
                {opt("CANCELED", t("해지", "Canceled"), cur_status.as_deref())}
            </select></div>
            <div><label for="stage">{t("도달 단계", "Stage reached")}</label>
            <input id="stage" name="stage" type="number" min="0" inputmode="numeric" value=q.stage.clone().unwrap_or_default()/></div>
            <div><label for="recovered_by">{t("회수 경로", "Recovered by")}</label>
            <select id="recovered_by" name="recovered_by">
                {opt("", t("전체", "Any"), cur_by.as_deref())}
                {opt("retry", t("자동 재시도", "Silent retry"), cur_by.as_deref())}
                {opt("page", t("결제 페이지", "Recovery page"), cur_by.as_deref())}
                {opt("method_change", t("카드 변경", "Card change"), cur_by.as_deref())}
                {opt("scheduled_date", t("선택한 날짜", "Chosen date"), cur_by.as_deref())}
                {opt("console", t("콘솔", "Console"), cur_by.as_deref())}
                {opt("partner", t("파트너", "Partner"), cur_by.as_deref())}
            </select></div>
            <div><label for="from">{t("시작일", "From")}</label>
            <input id="from" name="from" type="date" value=q.from.clone().unwrap_or_default()/></div>
            <div><label for="to">{t("종료일", "To")}</label>
            <input id="to" name="to" type="date" value=q.to.clone().unwrap_or_default()/></div>
            <div><label for="q">{t("주문·고객·구독 ID", "Order, customer or subscription id")}</label>
            <input id="q" name="q" type="search" value=search.unwrap_or_default()/></div>
            {q.partner.clone().filter(|p| !p.is_empty()).map(|p| view! { <input type="hidden" name="partner" value=p/> })}
            <button type="submit">{t("찾기", "Search")}</button>
        </form>
        {(!problems.is_empty()).then(|| view! { <p class="error" role="alert">{problems.join(" ")}</p> })}
        <div class="scroll" tabindex="0">
            <table>
                <caption class="muted">{t("최근에 열린 케이스부터", "Newest first")}</caption>
                <thead><tr>
                    <th scope="col">{t("케이스", "Case")}</th>
                    {operator.then(|| view! { <th scope="col">{t("파트너", "Partner")}</th> })}
                    <th scope="col">{t("결제 실패 시각 (KST)", "Payment failed (KST)")}</th>
                    <th scope="col">{t("상태", "Status")}</th>
                    <th scope="col">{t("단계", "Stage")}</th>
                    <th scope="col">{t("회수 경로", "Recovered by")}</th>
                    <th scope="col">{t("금액", "Amount")}</th>
                    <th scope="col">{t("주문", "Order")}</th>
                    <th scope="col">{t("고객", "Customer")}</th>
                </tr></thead>
                <tbody>{body_rows}</tbody>
            </table>
        </div>
        {empty.then(|| view! { <p class="muted">{t("조건에 맞는 케이스가 없습니다.", "No case matches.")}</p> })}
        {next.map(|href| view! { <p><a href=href rel="next">{t("다음 페이지", "Next page")}</a></p> })}
    };
    Ok(page(
        Frame {
            lang,
            title: t("케이스", "Cases").to_owned(),
            user: &signed.user,
            csrf: &signed.csrf,
            section: Section::Cases,
            path: "/console/cases",
        },
        main,
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    result: Option<String>,
}

/// What the last action came to, in words.
/// A notice that records something the customer did on the page.
fn page_action(event_type: &str, lang: Lang) -> Option<&'static str> {
    use crate::domain::event::EventType;
    [
        (
            EventType::PaymentDateChanged,
            "결제일 변경",
            "changed the payment date",
        ),
        (
            EventType::RemindedLater,
            "나중에 알림 요청",
            "asked to be reminded later",
        ),
        (
            EventType::PaymentMethodChanged,
            "결제 수단 변경",
            "changed the card",
        ),
    ]
    .into_iter()
    .find(|(e, _, _)| e.as_str() == event_type)
    .map(|(_, ko, en)| lang.t(ko, en))
}

fn flash_text(result: &str, lang: Lang) -> Option<&'static str> {
    Some(match result {
        "paid" => lang.t(
            "결제되었습니다. 케이스가 회수되었습니다.",
            "Charged: the case is recovered.",
        ),
        "declined" => lang.t("카드사가 결제를 거절했습니다.", "The card was declined."),
        "unknown" => lang.t(
            "결제 결과를 아직 모릅니다. 잠시 뒤 자동으로 확인합니다.",
            "The outcome is not known yet; it is checked again shortly.",
        ),
        "busy" => lang.t(
            "다른 결제가 진행 중이거나 케이스가 닫혔습니다.",
            "Another charge is in flight, or the case is closed.",
        ),
        "daily_limit" => lang.t(
            "오늘 결제 시도 한도에 도달했습니다.",
            "Today's charge attempts are used up.",
        ),
        "closed_meanwhile" => lang.t(
            "결제됐지만 케이스가 그사이 닫혀 환불이 필요합니다.",
            "Charged, but the case closed meanwhile: refund needed.",
        ),
        "refunded" => lang.t(
            "환불했습니다. 파트너에게 payment.refunded 알림을 보냅니다.",
            "Refunded: the partner is sent payment.refunded.",
        ),
        "refund_refused" => lang.t(
            "PG가 환불을 거절했습니다. PG 관리자 화면에서 확인해 주세요.",
            "The PG refused the refund: check it in the PG's own console.",
        ),
        "refund_unknown" => lang.t(
            "PG의 답을 받지 못했습니다. 다시 눌러도 두 번 환불되지 않습니다.",
            "No answer from the PG: pressing again never refunds twice.",
        ),
        "refund_none" => lang.t("환불할 결제가 없습니다.", "There is no charge to refund."),
        "not_allowed" => lang.t(
            "이 케이스의 지금 상태에서는 할 수 없는 작업입니다.",
            "This case does not allow that action in its current state.",
        ),
        "already_paid" => lang.t(
            "이미 결제된 주문입니다. 바꾼 것이 없습니다.",
            "The order is already paid; nothing was changed.",
        ),
        "paused" => lang.t("메시지를 일시정지했습니다.", "Messages paused."),
        "resumed" => lang.t("메시지를 다시 보냅니다.", "Messages resumed."),
        "done" => lang.t("처리했습니다.", "Done."),
        "queued" => lang.t(
            "현재 단계 메시지를 다시 보냅니다. 보낸 결과는 타임라인에 나타납니다.",
            "The current stage is being sent again; the timeline shows when it went.",
        ),
        "nothing_sent" => lang.t(
            "아직 보낸 단계가 없어 다시 보낼 메시지가 없습니다.",
            "No stage has gone out yet: there is nothing to resend.",
        ),
        "too_soon" => lang.t(
            "이 단계는 하루에 한 번만 다시 보낼 수 있습니다 (마지막으로 보낸 때부터 24시간).",
            "A stage is resent at most once a day (24 hours from its latest send).",
        ),
        "already_waiting" => lang.t(
            "이미 다시 보내는 중입니다.",
            "A resend of this case is already on its way.",
        ),
        "unchanged" => lang.t(
            "케이스 상태가 바뀌어 아무것도 하지 않았습니다.",
            "Nothing changed: the case moved on meanwhile.",
        ),
        _ => return None,
    })
}

pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Query(flash): Query<Flash>,
) -> Result<Html<String>, ConsoleError> {
    let lang = Lang::from_headers(&headers);
    let t = move |ko, en| lang.t(ko, en);
    let id: i64 = raw.parse().map_err(|_| ConsoleError::NotFound)?;
    let case = state
        .store
        .case_detail(signed.own_partner(), id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let timeline = state.store.case_timeline(case.id).await?;
    let actions = state.store.console_actions(case.id).await?;
    // Each entry: when, what, its detail in words, and the stored codes
    // shown small beside them.
    let mut entries: Vec<(i64, String, String, Vec<String>)> = Vec::new();
    entries.push((
        case.failed_at,
        t("결제 실패", "Payment failed").to_owned(),
        format!(
            "{} · {}",
            case.failure_reason.clone().unwrap_or_default(),
            krw(case.amount, lang)
        ),
        case.failure_code.clone().into_iter().collect(),
    ));
    entries.push((
        case.opened_at,
        t("케이스 열림", "Case opened").to_owned(),
        match case.scenario_version {
            Some(v) => format!("{} v{v}", t("시나리오", "Scenario")),
            None => t("기본 시나리오", "Default scenario").to_owned(),
        },
        Vec::new(),
    ));
    for (at, item) in timeline {
        let (what, detail, codes) = match item {
            TimelineItem::Stage {
                stage,
                channel,
                status,
                provider_ref,
                error,
                resent_by,
            } => (
                format!(
                    "{} {stage} · {}{}",
                    t("단계", "Stage"),
                    words::channel(channel, lang),
                    if resent_by.is_some() {
                        format!(" · {}", t("다시 보냄", "resent"))
                    } else {
                        String::new()
                    }
                ),
                format!(
                    "{}{}{}{}",
                    words::stage_status(status, lang),
                    resent_by.map(|by| format!(" · {by}")).unwrap_or_default(),
                    provider_ref.map(|r| format!(" · {r}")).unwrap_or_default(),
                    error.map(|e| format!(" · {e}")).unwrap_or_default()
                ),
                vec![channel.as_str().to_owned(), status.as_str().to_owned()],
            ),
            TimelineItem::Charge {
                source,
                amount,
                status,
                decline_code,
                decline_class,
            } => {
                let decline = match (decline_code.as_deref(), decline_class) {
                    (Some(c), class) => {
                        let said = words::own_decline_code(c, lang)
                            .or(class.map(|k| words::decline_class(k, lang)));
                        said.map(|w| format!(" · {w}")).unwrap_or_default()
                    }
                    (None, Some(k)) => format!(" · {}", words::decline_class(k, lang)),
                    (None, None) => String::new(),
                };
                (
                    format!(
                        "{} · {}",
                        t("결제 시도", "Charge"),
                        source_label(Some(source), false, lang)
                    ),
                    format!(
                        "{} · {}{decline}",
                        krw(amount, lang),
                        words::charge_status(status, lang)
                    ),
                    std::iter::once(status.as_str().to_owned())
                        .chain(decline_code)
                        .chain(decline_class.map(|k| k.as_str().to_owned()))
                        .collect(),
                )
            }
            TimelineItem::Notice {
                webhook_id,
                event_type,
                delivery,
                attempts,
            } => {
                let kind = words::notice_type(&event_type, lang).unwrap_or("");
                (
                    match page_action(&event_type, lang) {
                        // What the customer did on the page is recorded as
                        // the notice that tells the partner.
                        Some(did) => format!(
                            "{} · {did} ({})",
                            t("고객 (결제 페이지)", "Customer on the page"),
                            t("파트너 알림", "notice")
                        ),
                        None => format!("{} · {kind}", t("파트너 알림", "Notice")),
                    },
                    format!(
                        "{} · {} {attempts} · {webhook_id}",
                        words::delivery(delivery, lang),
                        t("시도", "attempts")
                    ),
                    vec![event_type, delivery.as_str().to_owned()],
                )
            }
        };
        entries.push((at, what, detail, codes));
    }
    for a in &actions {
        let action = CaseAction::parse(&a.action);
        entries.push((
            a.at,
            format!(
                "{} · {}",
                t("콘솔 작업", "Console action"),
                action.map_or(a.action.as_str(), |x| words::action(x, lang))
            ),
            format!(
                "{}{}",
                a.email,
                a.detail
                    .as_ref()
                    .map(|d| format!(" · {d}"))
                    .unwrap_or_default()
            ),
            vec![a.action.clone()],
        ));
    }
    entries.sort_by_key(|(at, ..)| *at);
    let items = entries
        .into_iter()
        .map(|(at, what, detail, codes)| {
            let codes = codes
                .into_iter()
                .map(|c| view! { " " {words::code(c)} })
                .collect_view();
            view! {
                <li><time>{when(at)}</time>" "<strong>{what}</strong><br/><span class="muted">{detail}{codes}</span></li>
            }
        })
        .collect_view();
    let title = format!("{} #{}", t("케이스", "Case"), case.id);
    let by = source_label(case.charged_by, case.status == CaseStatus::Recovered, lang);
    let standing = super::actions::standing(&state, &case).await?;
    let controls = super::actions::controls(&case, standing, &signed.csrf, lang);
    let main = view! {
        <p><a href="/console/cases">{t("← 케이스 목록", "← All cases")}</a></p>
        <h1>{title.clone()}</h1>
        {flash.result.as_deref().and_then(|r| flash_text(r, lang)).map(|m| view! { <p class="ok" role="status">{m}</p> })}
        <dl class="facts">
            <dt>{t("상태", "Status")}</dt><dd data-status=case.status.as_str()>{status_label(case.status, lang)}{(!by.is_empty()).then(|| format!(" · {by}"))}</dd>
            <dt>{t("파트너", "Partner")}</dt><dd>{case.partner_name.clone()}</dd>
            <dt>{t("주문", "Order")}</dt><dd>{format!("{} · {} · {}", case.partner_order_id, krw(case.amount, lang), words::order_status(&case.order_status, lang).unwrap_or(&case.order_status))}" "{words::code(case.order_status.clone())}</dd>
            <dt>{t("고객", "Customer")}</dt><dd>{format!("{} ({})", case.customer_name, case.partner_customer_id)}</dd>
            <dt>{t("구독", "Subscription")}</dt><dd>{case.partner_subscription_id.clone().unwrap_or_else(|| "–".into())}</dd>
            <dt>{t("결제 수단", "Payment method")}</dt><dd>{case.payment_info.clone().unwrap_or_else(|| "–".into())}</dd>
            <dt>{t("다음 메시지", "Next message")}</dt><dd>{case.next_stage_at.map(|at| format!("{} {} · {}", t("단계", "stage"), case.next_stage, when(at))).unwrap_or_else(|| "–".into())}</dd>
            <dt>{t("다음 자동 재시도", "Next silent retry")}</dt><dd>{case.next_retry_at.map(when).unwrap_or_else(|| case.retry_stop.map_or("–", |s| words::stop(s, lang)).to_owned())}</dd>
            <dt>{t("고객이 고른 결제일", "Date the customer chose")}</dt><dd>{case.selected_date.clone().unwrap_or_else(|| "–".into())}</dd>
        </dl>
        {controls}
        <h2>{t("타임라인 (오래된 순, KST)", "Timeline (oldest first, KST)")}</h2>
        <ol class="timeline">{items}</ol>
    };
    Ok(page(
        Frame {
            lang,
            title,
            user: &signed.user,
            csrf: &signed.csrf,
            section: Section::Cases,
            path: &format!("/console/cases/{}", case.id),
        },
        main,
    ))
}
