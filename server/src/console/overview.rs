//! `GET /console`: the recovery figures of a period (default the last 30
//! Korean days) with their definitions and charts. The figures are the
//! analytics API's [`Report`], so the page and the API cannot disagree.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use leptos::prelude::*;
use serde::Deserialize;

use super::charts;
use super::error::ConsoleError;
use super::layout::{Frame, Lang, Section, krw, page, percent};
use super::scope::scope;
use super::session::Signed;
use crate::api::analytics::{self, Figures, Report};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct OverviewQuery {
    from: Option<String>,
    to: Option<String>,
    interval: Option<String>,
    /// Operators: a partner's id, or empty for every partner.
    partner: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Query(q): Query<OverviewQuery>,
) -> Result<Html<String>, ConsoleError> {
    let lang = Lang::from_headers(&headers);
    let now = state.clock.now().timestamp_millis();
    let partner = scope(&state, &signed, q.partner.as_deref()).await?;
    let parsed = analytics::parse_query(
        q.from.as_deref().filter(|s| !s.is_empty()),
        q.to.as_deref().filter(|s| !s.is_empty()),
        q.interval.as_deref().filter(|s| !s.is_empty()),
        now,
    );
    // A bad period is explained on the page, over the default period.
    let (problem, (period, interval)) = match parsed {
        Ok(p) => (None, p),
        Err(e) => (
            Some(match e {
                crate::api::ApiError::Validation(fields) => fields
                    .iter()
                    .map(|f| format!("{}: {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            }),
            analytics::parse_query(None, None, None, now).map_err(|_| ConsoleError::NotFound)?,
        ),
    };
    let report = analytics::build(&state.store, partner, period, interval, now).await?;
    // The running experiment's money, in the partner's overview.
    let experiment = match partner {
        Some(p) => match state.store.running_experiment(p).await? {
            Some(e) => Some((
                crate::api::experiments::build(&state.store, &e, now).await?,
                p,
            )),
            None => None,
        },
        None => None,
    };
    let partners = match signed.own_partner() {
        Some(_) => Vec::new(),
        None => state.store.list_partners().await?,
    };
    let t = move |ko, en| lang.t(ko, en);
    let partner_picker = (!partners.is_empty()).then(|| {
        let options = partners
            .iter()
            .map(|p| {
                let selected = partner == Some(p.id);
                view! { <option value=p.id.to_string() selected=selected>{p.name.clone()}</option> }
            })
            .collect_view();
        view! {
            <label for="partner">{t("파트너", "Partner")}</label>
            <select id="partner" name="partner">
                <option value="">{t("모든 파트너", "All partners")}</option>
                {options}
            </select>
        }
    });
    let week = interval == crate::domain::analytics::Interval::Week;
    let main = view! {
        <h1>{t("회수 현황", "Recovery overview")}</h1>
        <form method="get" action="/console" class="filters" aria-label=t("기간", "Period")>
            {partner_picker}
            <label for="from">{t("시작일", "From")}</label>
            <input id="from" name="from" type="date" value=report.from.clone()/>
            <label for="to">{t("종료일", "To")}</label>
            <input id="to" name="to" type="date" value=report.to.clone()/>
            <label for="interval">{t("단위", "By")}</label>
            <select id="interval" name="interval">
                <option value="day" selected=!week>{t("일", "Day")}</option>
                <option value="week" selected=week>{t("주 (월요일 시작)", "Week (from Monday)")}</option>
            </select>
            <button type="submit">{t("보기", "Show")}</button>
        </form>
        {problem.map(|p| view! { <p class="error" role="alert">{p}</p> })}
        <p class="note">
            {t(
                "결제가 실패해 케이스가 열린 날(한국 시간, KST)을 기준으로 집계합니다. 기간이 끝난 뒤 회수된 케이스도 그 기간에 포함됩니다.",
                "Each case counts in the period its payment failed (the Korean day, KST), whatever happened to it later: a cohort view.",
            )}
        </p>
        {experiment.map(|(e, p)| running_experiment(&e, p, lang))}
        {figures(&report.totals, lang)}
        {charts_section(&report, lang)}
    };
    Ok(page(
        Frame {
            lang,
            title: t("개요", "Overview").to_owned(),
            user: &signed.user,
            csrf: &signed.csrf,
            section: Section::Overview,
            path: "/console",
        },
        main,
    ))
}

/// The running experiment's incremental recovery, per scenario arm.
fn running_experiment(
    e: &crate::api::experiments::ExperimentReport,
    partner_id: i64,
    lang: Lang,
) -> impl IntoView + use<> {
    let t = move |ko, en| lang.t(ko, en);
    let href = format!("/console/experiments/{}?partner={partner_id}", e.id);
    let items = e
        .arms
        .iter()
        .filter_map(|a| a.incremental.map(|i| (a.name.clone(), i)))
        .map(|(name, i)| {
            view! {
                <div class="figure" data-figure="incremental">
                    <dt>{format!("{} {name}", t("추가 회수 금액:", "Incremental recovery:"))}</dt>
                    <dd class="value">{krw(i.won, lang)}</dd>
                    <dd class="definition">{format!("95% {} {} ~ {}", t("신뢰구간", "CI"), krw(i.low, lang), krw(i.high, lang))}</dd>
                </div>
            }
        })
        .collect_view();
    let status = if e.ready {
        t("판정 기준에 도달했습니다.", "The fixed horizon is reached.").to_owned()
    } else {
        format!(
            "{} {}{}",
            t("아직 판단 전입니다: 마감된 케이스가", "No verdict yet:"),
            e.more_closed_cases_needed,
            t("건 더 필요합니다.", " more closed cases needed.")
        )
    };
    view! {
        <section aria-labelledby="experiment-h">
            <h2 id="experiment-h">{t("진행 중인 실험", "Running experiment")}": "<a href=href>{e.name.clone()}</a></h2>
            <p class="note">{status}</p>
            <dl class="figures">{items}</dl>
        </section>
    }
}

/// One figure: its name, value and definition.
fn figure(
    name: &'static str,
    value: String,
    id: &'static str,
    definition: &'static str,
) -> impl IntoView {
    view! {
        <div class="figure" data-figure=id>
            <dt>{name}</dt>
            <dd class="value">{value}</dd>
            <dd class="definition">{definition}</dd>
        </div>
    }
}

fn figures(f: &Figures, lang: Lang) -> impl IntoView + use<> {
    let t = move |ko, en| lang.t(ko, en);
    let hours = |h: Option<i64>| match h {
        Some(h) => format!("{} {h}{}", t("", "within"), t("시간 이내", " h"))
            .trim()
            .to_owned(),
        None if f.recovered > 0 => t("60일 초과", "over 60 days").to_owned(),
        None => "–".to_owned(),
    };
    let by = &f.recovered_by;
    let source = |c: &analytics::CountAmount| format!("{} · {}", c.count, krw(c.amount, lang));
    let stage_text = f
        .by_stage
        .iter()
        .filter(|s| s.cases > 0)
        .map(|s| match s.stage {
            0 => format!("{}: {}", t("발송 전", "none sent"), s.cases),
            n => format!("{}{n}: {}", t("단계 ", "stage "), s.cases),
        })
        .collect::<Vec<_>>()
        .join(" · ");
    let stage_text = if stage_text.is_empty() {
        "–".to_owned()
    } else {
        stage_text
    };
    view! {
        <section aria-labelledby="figures-h">
            <h2 id="figures-h">{t("지표", "Figures")}</h2>
            <dl class="figures">
                {figure(t("실패해 케이스가 열린 결제", "Failed payments that opened a case"),
                    format!("{} · {}", f.opened, krw(f.opened_amount, lang)), "opened",
                    t("기간 중 결제 실패로 열린 케이스 수와 금액.", "Cases opened in the period by a failed renewal, and their amount."))}
                {figure(t("회수", "Recovered"),
                    format!("{} · {}", f.recovered, krw(f.recovered_amount, lang)), "recovered",
                    t("그 케이스 중 지금까지 결제가 된 케이스 (언제 회수됐든).", "Of those cases, the ones paid since (whenever it happened)."))}
                {figure(t("회수율 (건수)", "Recovery rate by count"),
                    percent(f.recovery_rate_by_count), "rate-count",
                    t("회수 건수 ÷ 열린 케이스 수.", "Recovered cases divided by opened cases."))}
                {figure(t("회수율 (금액)", "Recovery rate by amount"),
                    percent(f.recovery_rate_by_amount), "rate-amount",
                    t("회수 금액 ÷ 실패한 금액.", "Recovered amount divided by the amount that failed."))}
                {figure(t("자동 재시도로 회수", "Recovered by silent retry"), source(&by.retry), "by-retry",
                    t("Rebound가 저장된 카드로 스스로 결제해 회수.", "Rebound charged the saved card on its own schedule."))}
                {figure(t("결제 페이지에서 회수", "Paid on the recovery page"), source(&by.page), "by-page",
                    t("고객이 회수 페이지에서 결제 버튼을 눌러 회수.", "The customer pressed pay on the recovery page."))}
                {figure(t("카드 변경으로 회수", "Recovered by a card change"), source(&by.method_change), "by-method",
                    t("고객이 새 카드를 등록해 바로 결제됨.", "The customer registered a new card, charged at once."))}
                {figure(t("선택한 날짜에 회수", "Recovered on the chosen date"), source(&by.scheduled_date), "by-date",
                    t("고객이 고른 결제일에 결제됨.", "The payment date the customer chose came and the charge went through."))}
                {figure(t("파트너가 처리", "Settled by the partner"), source(&by.partner), "by-partner",
                    t("Rebound의 결제 없이 파트너가 결제 완료로 알림 (PATCH /order/success).", "The partner reported the order paid without a charge of ours (PATCH /order/success)."))}
                {figure(t("콘솔에서 회수", "Recovered from the console"), source(&by.console), "by-console",
                    t("운영자나 파트너 직원이 콘솔에서 \"지금 결제 재시도\"를 눌러 회수.", "A console user pressed \"retry the charge now\"."))}
                {figure(t("도달한 단계별 케이스", "Cases by stage reached"), stage_text, "by-stage",
                    t("메시지가 발송된 가장 높은 단계 기준.", "By the highest stage whose message went out."))}
                {figure(t("회수까지 걸린 시간 (중앙값)", "Time to recovery (median)"), hours(f.median_recovery_hours), "median",
                    t("회수된 케이스의 절반이 케이스가 열린 뒤 이 시간 안에 회수됨 (1·6·24·48·72·120시간… 구간의 상한).", "Half of the recovered cases came back within this long of opening (the bound of its bucket: 1, 6, 24, 48, 72, 120 h, ...)."))}
                {figure(t("회수까지 걸린 시간 (90%)", "Time to recovery (p90)"), hours(f.p90_recovery_hours), "p90",
                    t("회수된 케이스의 90%가 이 시간 안에 회수됨.", "Nine in ten recovered cases came back within this long."))}
                {figure(t("회수 대기 금액", "Revenue at risk"),
                    format!("{} · {}", f.revenue_at_risk.count, krw(f.revenue_at_risk.amount, lang)), "at-risk",
                    t("아직 열려 있는 케이스의 수와 금액.", "The cases still open, and their amount."))}
                {figure(t("회수 없이 종료", "Ended unrecovered"),
                    format!("{} {} · {} {}", t("일시정지", "paused"), f.ended_unrecovered.paused, t("해지", "canceled"), f.ended_unrecovered.canceled), "ended",
                    t("시나리오가 끝나 구독을 일시정지했거나, 시나리오나 파트너가 해지한 케이스.", "The scenario ran out and paused the subscription, or the scenario or the partner canceled it."))}
                {figure(t("발송한 메시지", "Messages sent"),
                    format!("{} {} ({} {}) · SMS {} ({} {})", t("알림톡", "AlimTalk"), f.messages.alimtalk.sent, t("실패", "failed"), f.messages.alimtalk.failed,
                        f.messages.sms.sent, t("실패", "failed"), f.messages.sms.failed), "messages",
                    t("이 케이스들의 단계 메시지, 채널별 (알림톡은 실패 시 SMS로 대체 발송).", "The stage messages of these cases by channel (AlimTalk falls back to SMS inside the provider)."))}
                {figure(t("파트너 알림 전송", "Notice deliveries"),
                    format!("{} {} · {} {} · {} {} · {} {}", t("전달", "delivered"), f.notices.delivered, t("재시도 중", "retrying"), f.notices.retrying,
                        t("실패", "failed"), f.notices.failed, t("URL 없음", "no URL"), f.notices.no_endpoint), "notices",
                    t("기간 중 만들어진 서버 알림의 현재 전송 상태 (알림은 만들어진 날 기준).", "Server notices created in the period, by their delivery now (notices count on the day they were made)."))}
            </dl>
        </section>
    }
}

fn charts_section(report: &Report, lang: Lang) -> impl IntoView + use<> {
    let t = move |ko, en| lang.t(ko, en);
    let labels: Vec<String> = report.series.iter().map(|b| b.start.clone()).collect();
    let rates: Vec<Option<f64>> = report
        .series
        .iter()
        .map(|b| b.figures.recovery_rate_by_count)
        .collect();
    let rate_svg = charts::rate_line(&labels, &rates);
    let rate_rows = report
        .series
        .iter()
        .map(|b| {
            view! {
                <tr><th scope="row">{b.start.clone()}</th><td>{b.figures.opened}</td>
                <td>{b.figures.recovered}</td><td>{percent(b.figures.recovery_rate_by_count)}</td></tr>
            }
        })
        .collect_view();
    let by = &report.totals.recovered_by;
    let sources = [
        (t("재시도", "Retry"), by.retry),
        (t("페이지", "Page"), by.page),
        (t("카드 변경", "Card"), by.method_change),
        (t("날짜", "Date"), by.scheduled_date),
        (t("파트너", "Partner"), by.partner),
        (t("콘솔", "Console"), by.console),
    ];
    let source_labels: Vec<String> = sources.iter().map(|(l, _)| (*l).to_owned()).collect();
    let source_values: Vec<f64> = sources.iter().map(|(_, c)| c.amount as f64).collect();
    let source_svg = charts::bars(&source_labels, &source_values, &|v| {
        if v >= 10_000.0 {
            format!("{:.0}{}", v / 10_000.0, lang.t("만", "0k"))
        } else {
            format!("{v:.0}")
        }
    });
    let source_rows = sources
        .iter()
        .map(|(l, c)| view! { <tr><th scope="row">{*l}</th><td>{c.count}</td><td>{krw(c.amount, lang)}</td></tr> })
        .collect_view();
    let stages = &report.totals.by_stage;
    let stage_labels: Vec<String> = stages
        .iter()
        .map(|s| match s.stage {
            0 => "0".to_owned(),
            n if n == stages.len() - 1 => format!("{n}+"),
            n => n.to_string(),
        })
        .collect();
    let stage_values: Vec<f64> = stages.iter().map(|s| s.cases as f64).collect();
    let stage_svg = charts::bars(&stage_labels, &stage_values, &|v| format!("{v:.0}"));
    let stage_rows = stages
        .iter()
        .zip(stage_labels.clone())
        .map(|(s, l)| view! { <tr><th scope="row">{l}</th><td>{s.cases}</td></tr> })
        .collect_view();
    view! {
        <section aria-labelledby="charts-h" class="charts">
            <h2 id="charts-h">{t("차트", "Charts")}</h2>
            <figure role="group" aria-labelledby="chart-rate-cap">
                <figcaption id="chart-rate-cap">{t("기간별 회수율 (건수)", "Recovery rate over time (by count)")}</figcaption>
                <div class="chart" inner_html=rate_svg></div>
                <details><summary>{t("표로 보기", "As a table")}</summary>
                    <table><thead><tr><th scope="col">{t("시작일", "From")}</th><th scope="col">{t("열림", "Opened")}</th>
                    <th scope="col">{t("회수", "Recovered")}</th><th scope="col">{t("회수율", "Rate")}</th></tr></thead>
                    <tbody>{rate_rows}</tbody></table>
                </details>
            </figure>
            <figure role="group" aria-labelledby="chart-source-cap">
                <figcaption id="chart-source-cap">{t("회수 경로별 회수 금액", "Recovered amount by source")}</figcaption>
                <div class="chart" inner_html=source_svg></div>
                <details><summary>{t("표로 보기", "As a table")}</summary>
                    <table><thead><tr><th scope="col">{t("경로", "Source")}</th><th scope="col">{t("건수", "Cases")}</th>
                    <th scope="col">{t("금액", "Amount")}</th></tr></thead><tbody>{source_rows}</tbody></table>
                </details>
            </figure>
            <figure role="group" aria-labelledby="chart-stage-cap">
                <figcaption id="chart-stage-cap">{t("도달한 단계별 케이스", "Cases by stage reached")}</figcaption>
                <div class="chart" inner_html=stage_svg></div>
                <details><summary>{t("표로 보기", "As a table")}</summary>
                    <table><thead><tr><th scope="col">{t("단계", "Stage")}</th><th scope="col">{t("케이스", "Cases")}</th></tr></thead>
                    <tbody>{stage_rows}</tbody></table>
                </details>
            </figure>
        </section>
    }
}
