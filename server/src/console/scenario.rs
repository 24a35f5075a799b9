//! `/console/scenario`: the partner's scenario versions and an editor for
//! the next one. Every field is checked by `Scenario::parse` (the rules the
//! CLI's scenario-set uses) and explained beside it; saving adds a version
//! that new cases take, while open cases keep theirs. "Preview" draws the
//! timeline of a case under the draft without saving.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use leptos::prelude::*;
use serde::Deserialize;

use super::cases::when;
use super::error::ConsoleError;
use super::layout::{Frame, Lang, Section, page, partner_picker};
use super::post::{Posted, must_administer};
use super::scope::one_partner;
use super::session::Signed;
use crate::domain::scenario::{Channel, EndAction, Planned, Scenario};
use crate::state::AppState;
use crate::store::PartnerRecord;

/// Stage rows the form offers (the scenario allows up to 10).
const ROWS: usize = 10;

#[derive(Debug, Default, Deserialize)]
pub struct ScenarioQuery {
    partner: Option<String>,
}

/// The form's fields as typed, so a refused draft comes back as it was.
type Fields = HashMap<String, String>;

fn fields_of(s: &Scenario) -> Fields {
    let mut f = Fields::new();
    for (i, st) in s.stages.iter().enumerate() {
        f.insert(format!("stage_hours_{i}"), st.after_hours.to_string());
        f.insert(format!("stage_channel_{i}"), st.channel.as_str().to_owned());
    }
    f.insert(
        "end_action".into(),
        match s.end_action {
            EndAction::Pause => "PAUSE".into(),
            EndAction::Cancel => "CANCEL".into(),
        },
    );
    f.insert(
        "change_date_window_days".into(),
        s.change_date_window_days.to_string(),
    );
    f.insert("remind_limit".into(), s.remind_limit.to_string());
    f.insert("change_date_limit".into(), s.change_date_limit.to_string());
    if s.retries.enabled {
        f.insert("retries_enabled".into(), "on".into());
    }
    f.insert(
        "ladder_days".into(),
        s.retries
            .ladder_days
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    );
    f.insert("retry_hour".into(), s.retries.hour.to_string());
    f.insert("budget".into(), s.retries.budget.to_string());
    f.insert("unknown_limit".into(), s.retries.unknown_limit.to_string());
    let quiet = s.quiet_hours.unwrap_or_default();
    if s.quiet_hours.is_some() {
        f.insert("quiet_enabled".into(), "on".into());
    }
    f.insert("quiet_start".into(), quiet.start.to_string());
    f.insert("quiet_end".into(), quiet.end.to_string());
    f
}

/// The draft as a scenario, or each bad field (form names) with why.
pub fn parse_fields(f: &Fields) -> Result<Scenario, Vec<(String, String)>> {
    let mut problems: Vec<(String, String)> = Vec::new();
    let number = |name: &str, problems: &mut Vec<(String, String)>| -> i64 {
        match f.get(name).map(|v| v.trim()).unwrap_or("").parse::<i64>() {
            Ok(n) => n,
            Err(_) => {
                problems.push((name.to_owned(), "a whole number".into()));
                0
            }
        }
    };
    let mut stages = Vec::new();
    for i in 0..ROWS {
        let hours = f
            .get(&format!("stage_hours_{i}"))
            .map(|v| v.trim())
            .unwrap_or("");
        if hours.is_empty() {
            continue;
        }
        let Ok(after_hours) = hours.parse::<i64>() else {
            problems.push((format!("stage_hours_{i}"), "a whole number of hours".into()));
            continue;
        };
        let channel = match f.get(&format!("stage_channel_{i}")).map(String::as_str) {
            Some("SMS") => "SMS",
            _ => "ALIMTALK",
        };
        stages.push(serde_json::json!({"afterHours": after_hours, "channel": channel}));
    }
    let ladder: Vec<i64> = f
        .get("ladder_days")
        .map(String::as_str)
        .unwrap_or("")
        .split([',', ' '])
        .filter(|s| !s.trim().is_empty())
        .filter_map(|s| match s.trim().parse() {
            Ok(n) => Some(n),
            Err(_) => {
                problems.push((
                    "ladder_days".into(),
                    "whole days, separated by commas".into(),
                ));
                None
            }
        })
        .collect();
    let json = serde_json::json!({
        "stages": stages,
        "endAction": if f.get("end_action").map(String::as_str) == Some("CANCEL") { "CANCEL" } else { "PAUSE" },
        "changeDateWindowDays": number("change_date_window_days", &mut problems),
        "remindLimit": number("remind_limit", &mut problems),
        "changeDateLimit": number("change_date_limit", &mut problems),
        "retries": {
            "enabled": f.contains_key("retries_enabled"),
            "ladderDays": ladder,
            "hour": number("retry_hour", &mut problems).clamp(0, 24),
            "budget": number("budget", &mut problems),
            "unknownLimit": number("unknown_limit", &mut problems),
        },
        "quietHours": if f.contains_key("quiet_enabled") {
            serde_json::json!({
                "start": number("quiet_start", &mut problems).clamp(0, 99),
                "end": number("quiet_end", &mut problems).clamp(0, 99),
            })
        } else {
            serde_json::Value::Null
        },
    });
    match Scenario::parse(&json.to_string()) {
        Ok(s) if problems.is_empty() => Ok(s),
        Ok(_) => Err(problems),
        Err(p) => {
            // The scenario's field names, as the form names them.
            for e in p.fields() {
                let name = match e.field.as_str() {
                    "stages" => "stages",
                    "changeDateWindowDays" => "change_date_window_days",
                    "remindLimit" => "remind_limit",
                    "changeDateLimit" => "change_date_limit",
                    "retries.ladderDays" => "ladder_days",
                    "retries.hour" => "retry_hour",
                    "retries.budget" => "budget",
                    "retries.unknownLimit" => "unknown_limit",
                    "quietHours" => "quiet_start",
                    _ => "stages",
                };
                problems.push((name.to_owned(), e.message.clone()));
            }
            Err(problems)
        }
    }
}

/// Why a field was refused, in the page's language. The rules (and their
/// English, which the API answers with) are the domain's; each has its
/// Korean here, and a test fails for one that has none.
const PROBLEMS_KO: &[(&str, &str)] = &[
    ("a whole number", "정수를 적어 주세요."),
    ("a whole number of hours", "시간을 정수로 적어 주세요."),
    (
        "whole days, separated by commas",
        "일 수를 정수로, 쉼표로 나눠 적어 주세요.",
    ),
    ("between 1 and 10 stages", "단계는 1개에서 10개까지입니다."),
    (
        "afterHours must increase from stage to stage, from 0 up to 1440 (60 days)",
        "단계 시간은 0에서 1440(60일)까지, 단계마다 커져야 합니다.",
    ),
    ("between 1 and 60", "1에서 60 사이여야 합니다."),
    ("between 0 and 10", "0에서 10 사이여야 합니다."),
    ("between 1 and 10", "1에서 10 사이여야 합니다."),
    (
        "at most 10 days, increasing, each from 1 to 30",
        "최대 10개, 커지는 순서로, 각각 1에서 30 사이여야 합니다.",
    ),
    (
        "between 7 and 21 (KST)",
        "7시에서 21시(KST) 사이여야 합니다.",
    ),
    (
        "between 1 and 15 (card networks fine more)",
        "1에서 15 사이여야 합니다 (그보다 많으면 카드사가 제재합니다).",
    ),
    (
        "start and end are hours from 0 to 23, and differ",
        "시작과 끝은 0에서 23 사이의 서로 다른 시각이어야 합니다.",
    ),
];

fn in_lang(message: &str, lang: Lang) -> String {
    match lang {
        Lang::En => message.to_owned(),
        Lang::Ko => PROBLEMS_KO
            .iter()
            .find(|(en, _)| *en == message)
            .map_or_else(|| message.to_owned(), |(_, ko)| (*ko).to_owned()),
    }
}

struct Draft {
    fields: Fields,
    problems: Vec<(String, String)>,
    preview: Option<Scenario>,
    saved: Option<i64>,
}

async fn render(
    state: &AppState,
    signed: &Signed,
    lang: Lang,
    partner: &PartnerRecord,
    draft: Option<Draft>,
) -> Result<Html<String>, ConsoleError> {
    let t = move |ko, en| lang.t(ko, en);
    let (_, version, current) = state.store.current_scenario(partner.id).await?;
    let versions = state.store.scenario_versions(partner.id).await?;
    let draft = draft.unwrap_or_else(|| Draft {
        fields: fields_of(&current),
        problems: Vec::new(),
        preview: None,
        saved: None,
    });
    let f = &draft.fields;
    let value = |k: &str| f.get(k).cloned().unwrap_or_default();
    let problem_of = |k: &str| {
        draft
            .problems
            .iter()
            .filter(|(name, _)| name == k)
            .map(|(_, m)| in_lang(m, lang))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let error = move |id: String, msg: String| {
        (!msg.is_empty()).then(|| view! { <span class="error" id=id>{msg}</span> })
    };
    let described = |k: &str| (!problem_of(k).is_empty()).then(|| format!("err-{k}"));
    let rows = (0..ROWS)
        .map(|i| {
            let hk = format!("stage_hours_{i}");
            let ck = format!("stage_channel_{i}");
            let sms = f.get(&ck).map(String::as_str) == Some("SMS");
            let hid = format!("h{i}");
            let cid = format!("c{i}");
            view! {
                <tr>
                    <th scope="row">{i + 1}</th>
                    <td><label class="sr" for=hid.clone()>{format!("{} {} {}", t("단계", "Stage"), i + 1, t("시간", "hours"))}</label>
                        <input id=hid name=hk.clone() type="number" min="0" max="1440" inputmode="numeric" value=value(&hk)
                            aria-describedby=described(&hk)/>
                        {error(format!("err-{hk}"), problem_of(&hk))}</td>
                    <td><label class="sr" for=cid.clone()>{format!("{} {} {}", t("단계", "Stage"), i + 1, t("채널", "channel"))}</label>
                        <select id=cid name=ck>
                        <option value="ALIMTALK" selected=!sms>{t("알림톡 (실패 시 SMS)", "AlimTalk (SMS fallback)")}</option>
                        <option value="SMS" selected=sms>"SMS"</option>
                    </select></td>
                </tr>
            }
        })
        .collect_view();
    let number_field = |k: &'static str, label: &'static str, hint: &'static str| {
        let msg = problem_of(k);
        let desc = if msg.is_empty() {
            format!("hint-{k}")
        } else {
            format!("hint-{k} err-{k}")
        };
        view! {
            <label for=k>{label}</label>
            <input id=k name=k value=value(k) inputmode="numeric" aria-describedby=desc/>
            <span class="muted" id=format!("hint-{k}")>{hint}</span>
            {error(format!("err-{k}"), msg)}
        }
    };
    let cancel = value("end_action") == "CANCEL";
    let retries_on = f.contains_key("retries_enabled");
    let quiet_on = f.contains_key("quiet_enabled");
    let versions_list = versions
        .iter()
        .map(|(v, created)| view! { <li>{format!("v{v} · {}", when(*created))}</li> })
        .collect_view();
    let preview = draft.preview.as_ref().map(|s| {
        let now = state.clock.now().timestamp_millis();
        let items = s
            .preview(now)
            .into_iter()
            .map(|(at, what)| {
                let text = match what {
                    Planned::Stage { stage, channel } => format!(
                        "{} {stage} · {}",
                        t("단계", "Stage"),
                        match channel {
                            Channel::Alimtalk => t("알림톡", "AlimTalk"),
                            Channel::Sms => "SMS",
                        }
                    ),
                    Planned::Retry { day } => format!("{} ({day}{})", t("자동 재시도", "Silent retry"), t("일째", " days in")),
                    Planned::End(EndAction::Pause) => t("구독 일시정지", "Subscription paused").to_owned(),
                    Planned::End(EndAction::Cancel) => t("구독 해지", "Subscription canceled").to_owned(),
                };
                view! { <li><time>{when(at)}</time>" "{text}</li> }
            })
            .collect_view();
        view! {
            <section aria-labelledby="preview-h" class="preview">
                <h2 id="preview-h">{t("미리보기: 지금 결제가 실패한 케이스", "Preview: a case whose payment fails now")}</h2>
                <p class="note">{t("결제되지 않을 때의 일정입니다. 급여일 재시도, 고객이 고른 날짜, 재시도를 멈추는 거절은 빠져 있습니다.",
                    "What happens if it is never paid. Payday retries, dates the customer picks and declines that stop retries are left out.")}</p>
                <ol class="timeline">{items}</ol>
            </section>
        }
    });
    let saved = draft.saved.map(|v| view! {
        <p class="ok" role="status">{format!("v{v} {}", t("을(를) 저장했습니다. 새 케이스부터 이 버전을 씁니다. 열려 있는 케이스는 원래 버전을 그대로 씁니다.",
            "saved. New cases use it; open cases keep the version they started with."))}</p>
    });
    let has_problems = !draft.problems.is_empty();
    let admin = signed.user.role.administers(partner.id);
    let main = view! {
        <h1>{format!("{} · {}", t("회수 시나리오", "Recovery scenario"), partner.business_name)}</h1>
        {saved}
        {has_problems.then(|| view! { <p class="error" role="alert">{t("고칠 항목이 있습니다. 각 칸 옆의 설명을 보세요.", "Some fields need fixing; see beside each.")}</p> })}
        <p>{if version == 0 { t("지금은 기본 시나리오를 씁니다.", "The built-in default is in use.").to_owned() } else { format!("{} v{version}", t("현재 버전", "Current version")) }}</p>
        <form method="post" action="/console/scenario" class="stack">
            <input type="hidden" name="csrf" value=signed.csrf.clone()/>
            <input type="hidden" name="partner" value=partner.id.to_string()/>
            <fieldset>
                <legend>{t("단계 (결제 실패 후 몇 시간에 보낼지; 빈 줄은 없음)", "Stages (hours after the failure; empty rows are none)")}</legend>
                {error("err-stages".into(), problem_of("stages"))}
                <div class="scroll" tabindex="0"><table>
                    <thead><tr><th scope="col">"#"</th><th scope="col">{t("시간", "Hours")}</th><th scope="col">{t("채널", "Channel")}</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table></div>
            </fieldset>
            <label for="end_action">{t("끝까지 회수되지 않으면", "When no stage recovered the payment")}</label>
            <select id="end_action" name="end_action">
                <option value="PAUSE" selected=!cancel>{t("구독 일시정지", "Pause the subscription")}</option>
                <option value="CANCEL" selected=cancel>{t("구독 해지", "Cancel the subscription")}</option>
            </select>
            {number_field("change_date_window_days", t("결제일 변경 가능 기간 (일)", "Change-date window (days)"), t("1–60", "1 to 60"))}
            {number_field("change_date_limit", t("결제일 변경 횟수", "Date changes allowed"), t("0–10", "0 to 10"))}
            {number_field("remind_limit", t("나중에 알림 횟수", "Remind-later requests allowed"), t("0–10", "0 to 10"))}
            <fieldset>
                <legend>{t("자동 재시도", "Silent retries")}</legend>
                <label><input type="checkbox" name="retries_enabled" checked=retries_on/>" "{t("저장된 카드로 자동 재시도", "Retry the saved card on its own")}</label>
                {number_field("ladder_days", t("재시도 날짜 (실패 후 며칠째, 쉼표로)", "Retry days (days after the failure, commas)"), t("최대 10개, 1–30, 커지는 순서", "up to 10, 1 to 30, increasing"))}
                {number_field("retry_hour", t("재시도 시각 (KST)", "Retry hour (KST)"), t("7–21", "7 to 21"))}
                {number_field("budget", t("30일 결제 시도 한도", "Attempts per card in 30 days"), t("1–15", "1 to 15"))}
                {number_field("unknown_limit", t("이유를 모르는 거절 허용 횟수", "Unclassified declines allowed"), t("1–10", "1 to 10"))}
            </fieldset>
            <fieldset>
                <legend>{t("메시지를 보내지 않는 시간 (KST)", "Quiet hours: no messages (KST)")}</legend>
                <label><input type="checkbox" name="quiet_enabled" checked=quiet_on/>" "{t("이 시간에 보낼 메시지는 끝나는 시각에 보냅니다", "Messages due then go when the quiet ends")}</label>
                {number_field("quiet_start", t("시작 시각", "Starts at (hour)"), t("0–23, 기본 21", "0 to 23, default 21"))}
                {number_field("quiet_end", t("끝 시각", "Ends at (hour)"), t("0–23, 기본 8", "0 to 23, default 8"))}
            </fieldset>
            <p class="note">{t("저장하면 새 버전이 되고, 새 케이스에만 적용됩니다.", "Saving makes a new version, for new cases only.")}</p>
            <div class="buttons">
                <button type="submit" name="intent" value="preview" class="secondary">{t("미리보기", "Preview")}</button>
                {admin.then(|| view! { <button type="submit" name="intent" value="save">{t("새 버전으로 저장", "Save as a new version")}</button> })}
            </div>
            {(!admin).then(|| view! { <p class="note">{t("저장은 파트너 관리자만 할 수 있습니다.", "Only the partner's admins save a scenario.")}</p> })}
        </form>
        {preview}
        <h2>{t("버전", "Versions")}</h2>
        <ul>{versions_list}</ul>
    };
    Ok(page(
        Frame {
            lang,
            title: t("시나리오", "Scenario").to_owned(),
            user: &signed.user,
            csrf: &signed.csrf,
            section: Section::Scenario,
            path: "/console/scenario",
        },
        main,
    ))
}

pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    headers: HeaderMap,
    Query(q): Query<ScenarioQuery>,
) -> Result<Html<String>, ConsoleError> {
    let lang = Lang::from_headers(&headers);
    match one_partner(&state, &signed, q.partner.as_deref()).await? {
        Some(p) => render(&state, &signed, lang, &p, None).await,
        None => {
            let partners = state.store.list_partners().await?;
            let main = view! { <h1>{lang.t("회수 시나리오", "Recovery scenario")}</h1>{partner_picker(lang, "/console/scenario", &partners)} };
            Ok(page(
                Frame {
                    lang,
                    title: lang.t("시나리오", "Scenario").to_owned(),
                    user: &signed.user,
                    csrf: &signed.csrf,
                    section: Section::Scenario,
                    path: "/console/scenario",
                },
                main,
            ))
        }
    }
}

pub async fn submit(
    State(state): State<AppState>,
    Posted {
        signed,
        lang,
        form: fields,
    }: Posted<Fields>,
) -> Result<Response, ConsoleError> {
    let partner = one_partner(&state, &signed, fields.get("partner").map(String::as_str))
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let save = fields.get("intent").map(String::as_str) == Some("save");
    // The scenario decides what customers are sent and when their cards
    // are charged: a setting, saved by the partner's admins only (anyone
    // may preview).
    if save {
        must_administer(&signed, partner.id)?;
    }
    let draft = match parse_fields(&fields) {
        Err(problems) => Draft {
            fields,
            problems,
            preview: None,
            saved: None,
        },
        Ok(scenario) if save => {
            let now = state.clock.now().timestamp_millis();
            let v = state
                .store
                .add_scenario_version(partner.id, &scenario, now)
                .await?;
            tracing::info!(
                partner = partner.id,
                user = signed.user.id,
                version = v,
                "scenario saved in the console"
            );
            Draft {
                fields: fields_of(&scenario),
                problems: Vec::new(),
                preview: None,
                saved: Some(v),
            }
        }
        Ok(scenario) => Draft {
            fields,
            problems: Vec::new(),
            preview: Some(scenario),
            saved: None,
        },
    };
    let refused = !draft.problems.is_empty();
    let mut res = render(&state, &signed, lang, &partner, Some(draft))
        .await?
        .into_response();
    if refused {
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_round_trips_through_the_form() {
        let s = Scenario::default();
        assert_eq!(parse_fields(&fields_of(&s)), Ok(s));
    }

    #[test]
    fn every_bad_field_is_named_as_the_form_names_it() {
        let mut f = fields_of(&Scenario::default());
        f.insert("stage_hours_1".into(), "0".into());
        f.insert("remind_limit".into(), "many".into());
        f.insert("retry_hour".into(), "3".into());
        f.insert("ladder_days".into(), "5, 3".into());
        let names: Vec<String> = parse_fields(&f)
            .unwrap_err()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(names.contains(&"remind_limit".to_owned()), "{names:?}");
        // "many" alone is reported first; the rest once it parses.
        f.insert("remind_limit".into(), "3".into());
        let names: Vec<String> = parse_fields(&f)
            .unwrap_err()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        for n in ["stages", "retry_hour", "ladder_days"] {
            assert!(names.contains(&n.to_owned()), "{n}: {names:?}");
        }
        let mut none = Fields::new();
        none.insert("end_action".into(), "PAUSE".into());
        assert!(parse_fields(&none).is_err(), "no stage at all");
    }

    #[test]
    fn every_refusal_is_explained_in_korean() {
        let mut messages = Vec::new();
        // Every field wrong that the form can get wrong, then every rule
        // of the domain broken at once.
        let mut f = fields_of(&Scenario::default());
        for (k, v) in [
            ("stage_hours_1", "soon"),
            ("remind_limit", "many"),
            ("ladder_days", "a, b"),
        ] {
            f.insert(k.into(), v.into());
        }
        messages.extend(parse_fields(&f).unwrap_err().into_iter().map(|(_, m)| m));
        let mut f = fields_of(&Scenario::default());
        for (k, v) in [
            ("stage_hours_1", "0"),
            ("change_date_window_days", "0"),
            ("remind_limit", "11"),
            ("change_date_limit", "11"),
            ("retry_hour", "3"),
            ("budget", "99"),
            ("unknown_limit", "0"),
            ("ladder_days", "5, 3"),
        ] {
            f.insert(k.into(), v.into());
        }
        messages.extend(parse_fields(&f).unwrap_err().into_iter().map(|(_, m)| m));
        let mut no_stages: serde_json::Value =
            serde_json::from_str(&Scenario::default().to_json()).unwrap();
        no_stages["stages"] = serde_json::json!([]);
        let empty = Scenario::parse(&no_stages.to_string()).unwrap_err();
        messages.extend(empty.fields().iter().map(|e| e.message.clone()));
        assert!(messages.len() >= 11, "{messages:?}");
        for m in &messages {
            assert_ne!(&in_lang(m, Lang::Ko), m, "no Korean for {m:?}");
            assert_eq!(&in_lang(m, Lang::En), m);
        }
    }
}
