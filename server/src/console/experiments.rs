//! The console's experiments (issue 25): the partner's list with a form to
//! start one (admins, with the password again: a holdout leaves customers
//! without messages), and each experiment's page: the arms side by side
//! with their intervals, the recovery curves, and one plain sentence. The
//! figures are the API's [`ExperimentReport`], so the two cannot disagree.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use leptos::prelude::*;
use serde::Deserialize;

use super::cases::when;
use super::charts;
use super::error::ConsoleError;
use super::layout::{Frame, Lang, Section, krw, page, partner_picker, percent};
use super::post::{Posted, must_administer, password_again};
use super::scope::one_partner;
use super::session::Signed;
use crate::api::experiments::{ArmDto, ExperimentReport, build};
use crate::domain::experiment::{
    ArmSpec, DEFAULT_HORIZON, DEFAULT_WINDOW_DAYS, ExperimentSpec, ExperimentStatus,
};
use crate::serve::PeerIp;
use crate::state::AppState;
use crate::store::{ExperimentError, PartnerRecord};

pub const PATH: &str = "/console/experiments";

#[derive(Debug, Default, Deserialize)]
pub struct ExperimentsQuery {
    partner: Option<String>,
}

fn frame<'a>(lang: Lang, signed: &'a Signed, title: String, path: &'a str) -> Frame<'a> {
    Frame {
        lang,
        title,
        user: &signed.user,
        csrf: &signed.csrf,
        section: Section::Experiments,
        path,
    }
}

/// A p-value as people read it: three decimals, or `< 0.001`.
fn p_text(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_owned()
    } else {
        format!("p = {p:.3}")
    }
}

/// A percentage point figure, signed: `+12.4%p`.
fn points(d: f64) -> String {
    format!("{:+.1}%p", d * 100.0)
}

/// The verdict in one sentence per comparison, or how many more closed
/// cases the fixed horizon needs.
pub fn sentences(r: &ExperimentReport, lang: Lang) -> Vec<String> {
    if !r.ready {
        return vec![match lang {
            Lang::Ko => format!(
                "아직 데이터가 부족합니다: 마감된 케이스가 {}건 더 필요합니다 (각 그룹 {}건 기준). 그 전의 수치는 판단에 쓰지 마세요.",
                r.more_closed_cases_needed, r.horizon
            ),
            Lang::En => format!(
                "Not enough data yet: {} more closed cases needed ({} per arm). Until then the figures are no verdict.",
                r.more_closed_cases_needed, r.horizon
            ),
        }];
    }
    let mut out = Vec::new();
    let holdout = r.holdout.clone().unwrap_or_default();
    for a in r.arms.iter().filter(|a| a.kind == "SCENARIO") {
        if let (Some(d), Some(inc)) = (a.vs_holdout, a.incremental)
            && inc.low <= 0
        {
            // The interval reaches zero: no money can be claimed.
            out.push(match lang {
                Lang::Ko => format!(
                    "{}: 메시지·재시도 없는 그룹({holdout})과 차이가 있다고 말할 수 없습니다 ({}, 95% 신뢰구간 {} ~ {}).",
                    a.name,
                    points(d.difference),
                    points(d.interval.low),
                    points(d.interval.high)
                ),
                Lang::En => format!(
                    "{} cannot be told apart from {holdout} (no messages, no retries): {}, 95 % CI {} to {}.",
                    a.name,
                    points(d.difference),
                    points(d.interval.low),
                    points(d.interval.high)
                ),
            });
        } else if let (Some(d), Some(inc)) = (a.vs_holdout, a.incremental) {
            out.push(match lang {
                Lang::Ko => format!(
                    "{}: 메시지·재시도 없는 그룹({holdout})보다 {} 더 회수했습니다 (95% 신뢰구간 {} ~ {}). 그렇지 않았다면 잃었을 약 {}입니다 (95% 신뢰구간 {} ~ {}).",
                    a.name,
                    points(d.difference),
                    points(d.interval.low),
                    points(d.interval.high),
                    krw(inc.won, lang),
                    krw(inc.low, lang),
                    krw(inc.high, lang)
                ),
                Lang::En => format!(
                    "{} recovered {} more than {holdout} (no messages, no retries), 95 % CI {} to {}: about {} that would otherwise be lost (95 % CI {} to {}).",
                    a.name,
                    points(d.difference),
                    points(d.interval.low),
                    points(d.interval.high),
                    krw(inc.won, lang),
                    krw(inc.low, lang),
                    krw(inc.high, lang)
                ),
            });
        }
        if let (Some(d), Some(control)) = (a.vs_control, r.control.as_deref()) {
            let significant = d.p_value < 0.05;
            out.push(match lang {
                Lang::Ko => format!(
                    "{}: {control}보다 {} (95% 신뢰구간 {} ~ {}, {}). {}",
                    a.name,
                    points(d.difference),
                    points(d.interval.low),
                    points(d.interval.high),
                    p_text(d.p_value),
                    if significant {
                        "5% 수준에서 유의한 차이입니다."
                    } else {
                        "5% 수준에서 차이가 있다고 말할 수 없습니다."
                    }
                ),
                Lang::En => format!(
                    "{} against {control}: {} (95 % CI {} to {}, {}). {}",
                    a.name,
                    points(d.difference),
                    points(d.interval.low),
                    points(d.interval.high),
                    p_text(d.p_value),
                    if significant {
                        "The difference is significant at 5 %."
                    } else {
                        "No difference can be claimed at 5 %."
                    }
                ),
            });
        }
    }
    out
}

/// `GET /console/experiments`: the partner's experiments and the start form.
pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Query(q): Query<ExperimentsQuery>,
) -> Result<Html<String>, ConsoleError> {
    let lang = Lang::from_headers(&headers);
    let Some(partner) = one_partner(&state, &signed, q.partner.as_deref()).await? else {
        let partners = state.store.list_partners().await?;
        let main = view! { <h1>{lang.t("실험", "Experiments")}</h1>{partner_picker(lang, PATH, &partners)} };
        return Ok(page(
            frame(
                lang,
                &signed,
                lang.t("실험", "Experiments").to_owned(),
                PATH,
            ),
            main,
        ));
    };
    render_list(&state, &signed, lang, &partner, None).await
}

async fn render_list(
    state: &AppState,
    signed: &Signed,
    lang: Lang,
    partner: &PartnerRecord,
    problem: Option<(StartForm, Vec<String>)>,
) -> Result<Html<String>, ConsoleError> {
    let t = move |ko, en| lang.t(ko, en);
    let rows = state.store.experiments(partner.id).await?;
    let running = rows.iter().any(|e| e.status == ExperimentStatus::Running);
    let admin = signed.user.role.administers(partner.id);
    let pq = format!("partner={}", partner.id);
    let items = rows
        .iter()
        .map(|e| {
            let href = format!("{PATH}/{}?{pq}", e.id);
            let arms = e
                .arms
                .iter()
                .map(|a| format!("{} {}%", a.name, f64::from(a.share) / 100.0))
                .collect::<Vec<_>>()
                .join(" · ");
            let status = match e.status {
                ExperimentStatus::Running => t("진행 중", "Running"),
                ExperimentStatus::Stopped => t("중지됨", "Stopped"),
            };
            view! {
                <tr>
                    <td><a href=href>{e.name.clone()}</a></td>
                    <td>{status}</td>
                    <td>{arms}</td>
                    <td>{when(e.started_at_ms)}</td>
                </tr>
            }
        })
        .collect_view();
    let (form, problems) = problem.unwrap_or_default();
    let errors = (!problems.is_empty()).then(|| {
        let items = problems
            .iter()
            .map(|p| view! { <li>{p.clone()}</li> })
            .collect_view();
        view! { <div class="error" role="alert"><ul>{items}</ul></div> }
    });
    let start = (admin && !running).then(|| {
        let arm_rows = (0..4)
            .map(|i| {
                let n = i + 1;
                let (name, what, share) = form.arm(i);
                view! {
                    <fieldset class="arm">
                        <legend>{format!("{} {n}", t("그룹", "Arm"))}</legend>
                        <label for=format!("arm_name_{n}")>{t("이름", "Name")}</label>
                        <input id=format!("arm_name_{n}") name=format!("arm_name_{n}") value=name maxlength="40"/>
                        <label for=format!("arm_what_{n}")>{t("내용 (current, v2, holdout)", "Runs (current, v2, holdout)")}</label>
                        <input id=format!("arm_what_{n}") name=format!("arm_what_{n}") value=what maxlength="12"/>
                        <label for=format!("arm_share_{n}")>{t("비율 (%)", "Share (%)")}</label>
                        <input id=format!("arm_share_{n}") name=format!("arm_share_{n}") value=share inputmode="decimal" maxlength="6"/>
                    </fieldset>
                }
            })
            .collect_view();
        view! {
            <section aria-labelledby="start-h">
                <h2 id="start-h">{t("새 실험", "Start an experiment")}</h2>
                <p class="note">{t(
                    "새 케이스를 그룹으로 나눕니다. 홀드아웃(holdout)은 메시지도 자동 재시도도 받지 않는 그룹으로, Rebound가 없었다면 얼마나 회수됐을지를 보여 줍니다 (최대 20%). 첫 번째 시나리오 그룹이 기준(control)입니다. 비어 있는 그룹은 무시합니다.",
                    "New cases are split into arms. The holdout gets no messages and no silent retries: it shows what would come back without Rebound (at most 20 %). The first scenario arm is the control. Empty arms are left out.",
                )}</p>
                {errors}
                <form method="post" action=PATH class="stack">
                    <input type="hidden" name="csrf" value=signed.csrf.clone()/>
                    <input type="hidden" name="partner" value=partner.id.to_string()/>
                    <label for="name">{t("실험 이름", "Name")}</label>
                    <input id="name" name="name" value=form.name.clone() maxlength="80" required/>
                    {arm_rows}
                    <label for="horizon">{t("판정 기준: 그룹마다 필요한 마감 케이스 수", "Fixed horizon: closed cases each arm needs")}</label>
                    <input id="horizon" name="horizon" value=form.horizon.clone() inputmode="numeric"/>
                    <label for="window_days">{t("회수 인정 기간 (일)", "Recovery window (days)")}</label>
                    <input id="window_days" name="window_days" value=form.window_days.clone() inputmode="numeric"/>
                    <label for="current_password">{t("비밀번호 다시 입력", "Your password again")}</label>
                    <input id="current_password" name="current_password" type="password" autocomplete="current-password" required/>
                    <button type="submit">{t("실험 시작", "Start")}</button>
                </form>
            </section>
        }
    });
    let main = view! {
        <h1>{t("실험", "Experiments")}</h1>
        <p class="note">{t(
            "실험은 Rebound가 실제로 더 회수한 금액을 보여 줍니다: 회수율은 회수 인정 기간이 끝난 케이스만으로 계산하고, 진행 중인 케이스는 따로 셉니다.",
            "An experiment shows the money Rebound itself brought back: rates count only cases whose recovery window has closed; cases in progress are counted apart.",
        )}</p>
        <div class="scroll" tabindex="0"><table>
            <thead><tr>
                <th scope="col">{t("이름", "Name")}</th><th scope="col">{t("상태", "Status")}</th>
                <th scope="col">{t("그룹", "Arms")}</th><th scope="col">{t("시작", "Started")}</th>
            </tr></thead>
            <tbody>{items}</tbody>
        </table></div>
        {rows.is_empty().then(|| view! { <p>{t("아직 실험이 없습니다.", "No experiment yet.")}</p> })}
        {start}
    };
    Ok(page(
        frame(lang, signed, t("실험", "Experiments").to_owned(), PATH),
        main,
    ))
}

/// The start form as posted (and shown again with its problems).
#[derive(Debug, Clone, Deserialize)]
pub struct StartForm {
    partner: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    arm_name_1: String,
    #[serde(default)]
    arm_what_1: String,
    #[serde(default)]
    arm_share_1: String,
    #[serde(default)]
    arm_name_2: String,
    #[serde(default)]
    arm_what_2: String,
    #[serde(default)]
    arm_share_2: String,
    #[serde(default)]
    arm_name_3: String,
    #[serde(default)]
    arm_what_3: String,
    #[serde(default)]
    arm_share_3: String,
    #[serde(default)]
    arm_name_4: String,
    #[serde(default)]
    arm_what_4: String,
    #[serde(default)]
    arm_share_4: String,
    #[serde(default)]
    horizon: String,
    #[serde(default)]
    window_days: String,
    #[serde(default)]
    current_password: String,
}

impl Default for StartForm {
    /// What a partner should start with: the current scenario against a
    /// 10 % holdout.
    fn default() -> Self {
        StartForm {
            partner: None,
            name: "Rebound vs. no dunning".into(),
            arm_name_1: "rebound".into(),
            arm_what_1: "current".into(),
            arm_share_1: "90".into(),
            arm_name_2: "holdout".into(),
            arm_what_2: "holdout".into(),
            arm_share_2: "10".into(),
            arm_name_3: String::new(),
            arm_what_3: String::new(),
            arm_share_3: String::new(),
            arm_name_4: String::new(),
            arm_what_4: String::new(),
            arm_share_4: String::new(),
            horizon: DEFAULT_HORIZON.to_string(),
            window_days: DEFAULT_WINDOW_DAYS.to_string(),
            current_password: String::new(),
        }
    }
}

impl StartForm {
    fn arm(&self, i: usize) -> (String, String, String) {
        let (n, w, s) = match i {
            0 => (&self.arm_name_1, &self.arm_what_1, &self.arm_share_1),
            1 => (&self.arm_name_2, &self.arm_what_2, &self.arm_share_2),
            2 => (&self.arm_name_3, &self.arm_what_3, &self.arm_share_3),
            _ => (&self.arm_name_4, &self.arm_what_4, &self.arm_share_4),
        };
        (n.clone(), w.clone(), s.clone())
    }

    /// The experiment the form asks for, or every problem in it.
    fn spec(&self) -> Result<ExperimentSpec, Vec<crate::domain::FieldError>> {
        let mut problems = Vec::new();
        let mut arms = Vec::new();
        for i in 0..4 {
            let (name, what, share) = self.arm(i);
            if name.trim().is_empty() && what.trim().is_empty() && share.trim().is_empty() {
                continue;
            }
            match ArmSpec::parse(&format!("arm {}", i + 1), &format!("{name}={what}:{share}")) {
                Ok(a) => arms.push(a),
                Err(e) => problems.push(e),
            }
        }
        let number = |field: &str, raw: &str| {
            raw.trim()
                .parse::<u64>()
                .map_err(|_| crate::domain::FieldError::new(field, "a whole number"))
        };
        let horizon = number("horizon", &self.horizon)
            .map_err(|e| problems.push(e))
            .unwrap_or(0);
        let window = number("windowDays", &self.window_days)
            .map_err(|e| problems.push(e))
            .unwrap_or(0);
        if !problems.is_empty() {
            return Err(problems);
        }
        ExperimentSpec::check(
            &self.name,
            arms,
            horizon,
            window.min(u64::from(u32::MAX)) as u32,
        )
    }
}

/// A domain refusal in the reader's language.
fn in_lang(e: &crate::domain::FieldError, lang: Lang) -> String {
    let ko = match e.message.as_str() {
        m if m.starts_with("an experiment has") => "실험에는 그룹이 2~4개 있어야 합니다",
        m if m.starts_with("at most one arm") => "홀드아웃은 한 그룹만 가능합니다",
        m if m.starts_with("the holdout takes") => {
            "홀드아웃은 새 케이스의 20%까지만 받을 수 있습니다"
        }
        m if m.starts_with("at least one arm") => {
            "시나리오를 실행하는 그룹이 하나 이상 있어야 합니다"
        }
        m if m.starts_with("every arm takes") => "그룹마다 1% 이상이어야 합니다",
        m if m.starts_with("the shares add") => "비율의 합이 100%여야 합니다",
        m if m.starts_with("every arm has its own") => "그룹 이름이 서로 달라야 합니다",
        m if m.starts_with("closed cases per arm") => "판정 기준은 10 ~ 1,000,000건입니다",
        m if m.starts_with("1 to 90") => "회수 인정 기간은 1 ~ 90일입니다",
        m if m.starts_with("a whole number") => "숫자를 입력하세요",
        m if m.starts_with("is required") => "필수 항목입니다",
        _ => "형식이 맞지 않습니다 (예: 이름 / current, v2, holdout / 45)",
    };
    match lang {
        Lang::Ko => format!("{}: {ko}", e.field),
        Lang::En => format!("{}: {}", e.field, e.message),
    }
}

/// `POST /console/experiments`: starts one (admins, password again).
pub async fn start(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    Posted { signed, lang, form }: Posted<StartForm>,
) -> Result<Response, ConsoleError> {
    let t = move |ko, en| lang.t(ko, en);
    let partner = one_partner(&state, &signed, form.partner.as_deref())
        .await?
        .ok_or(ConsoleError::NotFound)?;
    must_administer(&signed, partner.id)?;
    let refuse = |problems: Vec<String>| async {
        let mut res = render_list(
            &state,
            &signed,
            lang,
            &partner,
            Some((form.clone(), problems)),
        )
        .await?
        .into_response();
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        Ok::<Response, ConsoleError>(res)
    };
    if !password_again(&state, &signed, ip, &form.current_password).await? {
        return refuse(vec![
            t("비밀번호가 맞지 않습니다.", "The password is not right.").to_owned(),
        ])
        .await;
    }
    let spec = match form.spec() {
        Ok(s) => s,
        Err(problems) => return refuse(problems.iter().map(|e| in_lang(e, lang)).collect()).await,
    };
    let now = state.clock.now().timestamp_millis();
    match state
        .store
        .start_experiment(partner.id, &spec, signed.user.email.as_str(), now)
        .await
    {
        Ok(id) => {
            tracing::info!(
                partner = partner.id,
                user = signed.user.id,
                experiment = id,
                "experiment started in the console"
            );
            Ok(Redirect::to(&format!("{PATH}/{id}?partner={}", partner.id)).into_response())
        }
        Err(ExperimentError::Store(e)) => Err(e.into()),
        Err(ExperimentError::AlreadyRunning) => {
            refuse(vec![
                t(
                    "이미 진행 중인 실험이 있습니다. 먼저 중지하세요.",
                    "An experiment is running: stop it first.",
                )
                .to_owned(),
            ])
            .await
        }
        Err(ExperimentError::UnknownVersion(v)) => {
            refuse(vec![format!(
                "{} v{v}",
                t("없는 시나리오 버전:", "No such scenario version:")
            )])
            .await
        }
        Err(ExperimentError::NotRunning) => Err(ConsoleError::NotFound),
    }
}

#[derive(Debug, Deserialize)]
pub struct StopForm {
    partner: Option<String>,
    #[serde(default)]
    current_password: String,
}

/// `POST /console/experiments/{id}/stop`.
pub async fn stop(
    State(state): State<AppState>,
    PeerIp(ip): PeerIp,
    Path(id): Path<i64>,
    Posted { signed, lang, form }: Posted<StopForm>,
) -> Result<Response, ConsoleError> {
    let partner = one_partner(&state, &signed, form.partner.as_deref())
        .await?
        .ok_or(ConsoleError::NotFound)?;
    must_administer(&signed, partner.id)?;
    let back = format!("{PATH}/{id}?partner={}", partner.id);
    if !password_again(&state, &signed, ip, &form.current_password).await? {
        let _ = lang;
        return Ok(Redirect::to(&format!("{back}&refused=password")).into_response());
    }
    let now = state.clock.now().timestamp_millis();
    match state.store.stop_experiment(partner.id, id, now).await {
        Ok(()) | Err(ExperimentError::NotRunning) => Ok(Redirect::to(&back).into_response()),
        Err(ExperimentError::Store(e)) => Err(e.into()),
        Err(_) => Err(ConsoleError::NotFound),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    partner: Option<String>,
    refused: Option<String>,
}

/// `GET /console/experiments/{id}`: the figures.
pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Html<String>, ConsoleError> {
    let lang = Lang::from_headers(&headers);
    let t = move |ko, en| lang.t(ko, en);
    let partner = one_partner(&state, &signed, q.partner.as_deref())
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let id: i64 = id.parse().map_err(|_| ConsoleError::NotFound)?;
    let e = state
        .store
        .experiment(partner.id, id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let now = state.clock.now().timestamp_millis();
    let r = build(&state.store, &e, now).await?;
    let path = format!("{PATH}/{id}?partner={}", partner.id);
    let said = sentences(&r, lang)
        .into_iter()
        .map(|s| view! { <p class="verdict">{s}</p> })
        .collect_view();
    let admin = signed.user.role.administers(partner.id);
    let stop = (admin && e.status == ExperimentStatus::Running).then(|| {
        view! {
            <form method="post" action=format!("{PATH}/{id}/stop") class="stack">
                <input type="hidden" name="csrf" value=signed.csrf.clone()/>
                <input type="hidden" name="partner" value=partner.id.to_string()/>
                <label for="current_password">{t("비밀번호 다시 입력", "Your password again")}</label>
                <input id="current_password" name="current_password" type="password" autocomplete="current-password" required/>
                <button type="submit">{t("실험 중지 (새 케이스는 더 이상 나누지 않음)", "Stop (no new case joins)")}</button>
            </form>
        }
    });
    let refused = q.refused.is_some().then(|| {
        view! { <p class="error" role="alert">{t("비밀번호가 맞지 않아 중지하지 않았습니다.", "The password was not right: nothing was stopped.")}</p> }
    });
    let status = match e.status {
        ExperimentStatus::Running => t("진행 중", "Running"),
        ExperimentStatus::Stopped => t("중지됨", "Stopped"),
    };
    let main = view! {
        <p><a href=format!("{PATH}?partner={}", partner.id)>{t("← 실험 목록", "← Experiments")}</a></p>
        <h1>{r.name.clone()}</h1>
        <p class="note">
            {format!(
                "{} · {} {} · {} {}{} · {} {} {}",
                status,
                t("시작", "started"),
                when(e.started_at_ms),
                t("회수 인정 기간", "window"),
                r.window_days,
                t("일", " days"),
                t("판정 기준", "horizon"),
                r.horizon,
                t("건/그룹", "closed cases per arm"),
            )}
        </p>
        {refused}
        <section aria-labelledby="verdict-h">
            <h2 id="verdict-h">{t("결론", "What it says")}</h2>
            {said}
        </section>
        {arms_table(&r, lang)}
        {curves(&r, lang)}
        <section aria-labelledby="how-h">
            <h2 id="how-h">{t("읽는 법", "How to read it")}</h2>
            <p class="note">{t(
                "회수 = 회수 인정 기간 안에 어떤 방법으로든 결제됨 (재시도, 결제 페이지, 카드 변경, 파트너의 결제 완료 알림 포함). 회수율은 기간이 끝난 케이스만 셉니다. 구간은 95% 신뢰구간 (회수율: Wilson, 차이: Newcombe), p는 합동 비율 z-검정입니다. 추가 회수 금액 = 그룹의 회수 금액 − 홀드아웃 회수율 × 그룹의 마감 케이스 금액. 판정 기준(그룹당 마감 케이스 수)에 이르기 전에는 결론을 내리지 않습니다.",
                "Recovered = paid by any means inside the window (retries, the page, a new card, the partner reporting it paid). Rates count only cases whose window has closed. Intervals are 95 % (rates: Wilson; differences: Newcombe); p is the pooled two-proportion z-test. Incremental = the arm's recovered amount − the holdout's rate × what the arm's closed cases owed. No verdict before the fixed horizon (closed cases per arm) is reached.",
            )}</p>
        </section>
        {stop}
    };
    Ok(page(frame(lang, &signed, r.name.clone(), &path), main))
}

fn interval_text(b: Option<crate::api::experiments::Bounds>) -> String {
    b.map_or_else(
        || "–".to_owned(),
        |b| format!("{} ~ {}", percent(Some(b.low)), percent(Some(b.high))),
    )
}

fn arms_table(r: &ExperimentReport, lang: Lang) -> impl IntoView + use<> {
    let t = move |ko, en| lang.t(ko, en);
    let head = r
        .arms
        .iter()
        .map(|a| {
            let kind = if a.kind == "HOLDOUT" {
                t("홀드아웃", "holdout").to_owned()
            } else {
                a.scenario_version.map_or_else(
                    || t("기본 시나리오", "default scenario").to_owned(),
                    |v| format!("{} v{v}", t("시나리오", "scenario")),
                )
            };
            view! { <th scope="col">{a.name.clone()}<br/><small>{kind}</small></th> }
        })
        .collect_view();
    type Cell = fn(&ArmDto, Lang) -> String;
    let rows: Vec<(&'static str, Cell)> = vec![
        (t("비율", "Share"), |a, _| format!("{}%", a.share_percent)),
        (t("케이스", "Cases"), |a, _| a.cases.to_string()),
        (
            t("진행 중 (그중 이미 결제)", "In progress (already paid)"),
            |a, _| format!("{} ({})", a.in_progress, a.in_progress_recovered),
        ),
        (t("마감", "Closed"), |a, _| a.closed.to_string()),
        (t("회수", "Recovered"), |a, l| {
            format!("{} · {}", a.recovered, krw(a.recovered_amount, l))
        }),
        (t("회수율", "Recovery rate"), |a, _| percent(a.rate)),
        (t("회수율 95% 구간", "Rate, 95 % CI"), |a, _| {
            interval_text(a.rate_interval)
        }),
        (t("기준 그룹 대비", "Against the control"), |a, _| {
            a.vs_control.map_or_else(
                || "–".to_owned(),
                |d| {
                    format!(
                        "{} ({} ~ {}), {}",
                        points(d.difference),
                        points(d.interval.low),
                        points(d.interval.high),
                        p_text(d.p_value)
                    )
                },
            )
        }),
        (
            t("추가 회수 금액 (95% 구간)", "Incremental (95 % CI)"),
            |a, l| {
                a.incremental.map_or_else(
                    || "–".to_owned(),
                    |i| format!("{} ({} ~ {})", krw(i.won, l), krw(i.low, l), krw(i.high, l)),
                )
            },
        ),
    ];
    let body = rows
        .into_iter()
        .map(|(label, cell)| {
            let cells = r
                .arms
                .iter()
                .map(|a| view! { <td>{cell(a, lang)}</td> })
                .collect_view();
            view! { <tr><th scope="row">{label}</th>{cells}</tr> }
        })
        .collect_view();
    view! {
        <section aria-labelledby="arms-h">
            <h2 id="arms-h">{t("그룹별 수치", "The arms side by side")}</h2>
            <div class="scroll" tabindex="0" role="region" aria-labelledby="arms-h">
                <table class="arms">
                    <thead><tr><th scope="col">{t("지표", "Figure")}</th>{head}</tr></thead>
                    <tbody>{body}</tbody>
                </table>
            </div>
        </section>
    }
}

fn curves(r: &ExperimentReport, lang: Lang) -> impl IntoView + use<> {
    let t = move |ko, en| lang.t(ko, en);
    let series: Vec<(String, Vec<(u32, f64)>)> = r
        .arms
        .iter()
        .map(|a| {
            (
                a.name.clone(),
                a.curve.iter().map(|p| (p.day, p.recovered)).collect(),
            )
        })
        .collect();
    let svg = charts::curves(&series, r.window_days);
    let legend = r
        .arms
        .iter()
        .enumerate()
        .map(|(i, a)| {
            view! { <li><span class="swatch" style=format!("background:{}", charts::series_color(i))></span>{a.name.clone()}</li> }
        })
        .collect_view();
    let head = r
        .arms
        .iter()
        .map(|a| view! { <th scope="col">{a.name.clone()}</th> })
        .collect_view();
    let rows = (0..=r.window_days)
        .filter(|d| [1, 3, 7, 14, 30, 60, 90].contains(d) || *d == r.window_days)
        .map(|d| {
            let cells = r
                .arms
                .iter()
                .map(|a| {
                    let at = a
                        .curve
                        .iter()
                        .take_while(|p| p.day <= d)
                        .last()
                        .map(|p| p.recovered);
                    view! { <td>{percent(at.or(Some(0.0)))}</td> }
                })
                .collect_view();
            view! { <tr><th scope="row">{format!("{d}{}", t("일", " d"))}</th>{cells}</tr> }
        })
        .collect_view();
    view! {
        <section aria-labelledby="curves-h" class="charts">
            <h2 id="curves-h">{t("회수 곡선", "Recovery over time")}</h2>
            <figure role="group" aria-labelledby="curves-cap">
                <figcaption id="curves-cap">{t(
                    "실패 후 경과일별 누적 회수율 (Kaplan-Meier: 진행 중인 케이스는 지금까지의 기간만큼 포함)",
                    "Share recovered by days since the failure (Kaplan-Meier: cases in progress count while they are watched)",
                )}</figcaption>
                <div class="chart" inner_html=svg></div>
                <ul class="legend">{legend}</ul>
                <details><summary>{t("표로 보기", "As a table")}</summary>
                    <div class="scroll" tabindex="0"><table><thead><tr><th scope="col">{t("경과일", "Day")}</th>{head}</tr></thead><tbody>{rows}</tbody></table></div>
                </details>
            </figure>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(incremental_low: i64, ready: bool) -> ExperimentReport {
        use crate::api::experiments::{Bounds, Difference, IncrementalDto};
        let arm = |name: &str, kind: &str| ArmDto {
            name: name.into(),
            kind: kind.into(),
            scenario_version: None,
            share_percent: 50.0,
            cases: 100,
            closed: 100,
            recovered: 30,
            closed_amount: 1_000_000,
            recovered_amount: 300_000,
            in_progress: 0,
            in_progress_recovered: 0,
            rate: Some(0.3),
            rate_interval: None,
            vs_control: None,
            vs_holdout: (kind == "SCENARIO").then_some(Difference {
                difference: 0.1,
                interval: Bounds {
                    low: -0.02,
                    high: 0.22,
                },
                z: 1.5,
                p_value: 0.13,
            }),
            incremental: (kind == "SCENARIO").then_some(IncrementalDto {
                won: 100_000,
                low: incremental_low,
                high: 220_000,
            }),
            curve: Vec::new(),
        };
        ExperimentReport {
            id: 1,
            name: "x".into(),
            status: "RUNNING".into(),
            started_at: None,
            stopped_at: None,
            horizon: 100,
            window_days: 30,
            ready,
            more_closed_cases_needed: if ready { 0 } else { 40 },
            control: Some("rebound".into()),
            holdout: Some("holdout".into()),
            as_of: None,
            arms: vec![arm("rebound", "SCENARIO"), arm("holdout", "HOLDOUT")],
        }
    }

    #[test]
    fn the_sentence_claims_money_only_when_the_interval_is_above_zero() {
        let claimed = sentences(&report(20_000, true), Lang::En);
        assert!(
            claimed[0].contains("about ₩100,000 that would otherwise be lost"),
            "{claimed:?}"
        );
        let unclear = sentences(&report(-20_000, true), Lang::Ko);
        assert!(
            unclear[0].contains("차이가 있다고 말할 수 없습니다"),
            "{unclear:?}"
        );
        assert!(!unclear[0].contains("잃었을"), "{unclear:?}");
        let early = sentences(&report(20_000, false), Lang::En);
        assert_eq!(early.len(), 1);
        assert!(
            early[0].starts_with("Not enough data yet: 40 more closed cases needed"),
            "{early:?}"
        );
    }

    #[test]
    fn every_refusal_of_the_start_form_is_explained_in_korean() {
        let mut form = StartForm {
            arm_share_2: "30".into(),
            arm_name_3: "b".into(),
            arm_what_3: "holdout".into(),
            arm_share_3: "5".into(),
            horizon: "5".into(),
            window_days: "0".into(),
            ..StartForm::default()
        };
        let problems = form.spec().unwrap_err();
        assert!(problems.len() >= 4, "{problems:?}");
        for p in &problems {
            let ko = in_lang(p, Lang::Ko);
            assert!(!ko.contains(&p.message), "no Korean for {p:?}");
        }
        form.arm_what_1 = "nonsense".into();
        let problems = form.spec().unwrap_err();
        assert_eq!(problems[0].field, "arm 1");
        assert!(StartForm::default().spec().is_ok());
    }
}
