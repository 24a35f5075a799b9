//! Actions on one case from the console, each through the path the rest of
//! Rebound uses for the same thing, so exactly-once charging and the
//! partner's notices hold: "retry now" is a charge through `Charger` (as
//! the page and the engine charge), "paid elsewhere" and "cancel" are the
//! partner API's settlement, pause and resume hold the engine's next stage.
//! Each is recorded with who did it and when.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use leptos::prelude::*;
use serde::Deserialize;

use super::error::ConsoleError;
use super::layout::Lang;
use super::session::{self, Signed};
use crate::charging::Charged;
use crate::domain::case::ChargeSource;
use crate::state::AppState;
use crate::store::{CaseDetail, CaseEnd};

/// The console's case actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    PauseMessages,
    ResumeMessages,
    RetryNow,
    MarkPaid,
    Cancel,
}

impl Action {
    pub fn parse(raw: &str) -> Option<Action> {
        match raw {
            "pause_messages" => Some(Action::PauseMessages),
            "resume_messages" => Some(Action::ResumeMessages),
            "retry_now" => Some(Action::RetryNow),
            "mark_paid" => Some(Action::MarkPaid),
            "cancel" => Some(Action::Cancel),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::PauseMessages => "pause_messages",
            Action::ResumeMessages => "resume_messages",
            Action::RetryNow => "retry_now",
            Action::MarkPaid => "mark_paid",
            Action::Cancel => "cancel",
        }
    }

    fn label(self, lang: Lang) -> &'static str {
        match self {
            Action::PauseMessages => lang.t("메시지 일시정지", "Pause messages"),
            Action::ResumeMessages => lang.t("메시지 다시 보내기 시작", "Resume messages"),
            Action::RetryNow => lang.t("지금 결제 재시도", "Retry the charge now"),
            Action::MarkPaid => lang.t("다른 곳에서 결제됨으로 표시", "Mark paid elsewhere"),
            Action::Cancel => lang.t("케이스 해지", "Cancel the case"),
        }
    }
}

/// The actions a case offers in its state.
pub fn available(status: &str, messages_paused: bool, has_next_stage: bool) -> Vec<Action> {
    let payable = matches!(status, "OPEN" | "ENDED");
    let mut v = Vec::new();
    if status == "OPEN" && messages_paused {
        v.push(Action::ResumeMessages);
    } else if status == "OPEN" && has_next_stage {
        v.push(Action::PauseMessages);
    }
    if payable {
        v.extend([Action::RetryNow, Action::MarkPaid, Action::Cancel]);
    }
    v
}

/// The case page's action buttons, each a form with the CSRF token.
pub fn controls(case: &CaseDetail, paused: bool, csrf: &str, lang: Lang) -> impl IntoView + use<> {
    let actions = available(&case.status, paused, case.next_stage_at.is_some());
    let path = format!("/console/cases/{}/action", case.id);
    let forms = actions
        .into_iter()
        .map(|a| {
            let class = match a {
                Action::RetryNow => "",
                _ => "secondary",
            };
            view! {
                <form method="post" action=path.clone() class="inline">
                    <input type="hidden" name="csrf" value=csrf.to_owned()/>
                    <input type="hidden" name="action" value=a.as_str()/>
                    <button type="submit" class=class>{a.label(lang)}</button>
                </form>
            }
        })
        .collect_view();
    view! {
        <section aria-labelledby="actions-h" class="actions">
            <h2 id="actions-h">{lang.t("작업", "Actions")}</h2>
            {paused.then(|| view! { <p class="note">{lang.t("이 케이스의 메시지는 일시정지되어 있습니다.", "This case's messages are paused.")}</p> })}
            <div class="buttons">{forms}</div>
        </section>
    }
}

#[derive(Deserialize)]
pub struct ActionForm {
    csrf: Option<String>,
    action: Option<String>,
}

pub async fn submit(
    State(state): State<AppState>,
    signed: Signed,
    headers: axum::http::HeaderMap,
    Path(raw): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, ConsoleError> {
    session::same_origin(&state, &headers)?;
    signed.check_csrf(&state, form.csrf.as_deref())?;
    let id: i64 = raw.parse().map_err(|_| ConsoleError::NotFound)?;
    let case = state
        .store
        .case_detail(signed.own_partner(), id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let action = form
        .action
        .as_deref()
        .and_then(Action::parse)
        .ok_or(ConsoleError::NotFound)?;
    let now = state.clock.now().timestamp_millis();
    let user = signed.user.id;
    let outcome: &str = match action {
        Action::PauseMessages => {
            if state.store.pause_case_messages(case.id, user, now).await? {
                "paused"
            } else {
                "unchanged"
            }
        }
        Action::ResumeMessages => {
            if state.store.resume_case_messages(case.id, user, now).await? {
                "resumed"
            } else {
                "unchanged"
            }
        }
        Action::RetryNow => {
            let result = match state
                .charger()
                .charge(case.id, ChargeSource::Console)
                .await?
            {
                Charged::Paid => "paid",
                Charged::Declined(_) => "declined",
                Charged::Unknown => "unknown",
                Charged::Busy(_) => "busy",
                Charged::DailyLimit => "daily_limit",
                Charged::ClosedMeanwhile => "closed_meanwhile",
            };
            record(&state, case.id, user, action, result, now).await?;
            result
        }
        Action::MarkPaid | Action::Cancel => {
            let (order_status, end) = match action {
                Action::MarkPaid => ("PAID", CaseEnd::Recovered),
                _ => ("CANCELED", CaseEnd::Canceled),
            };
            let done = state
                .store
                .settle_order(case.partner_id, case.order_id, order_status, end, now)
                .await?
                .is_some();
            let result = if done { "done" } else { "unchanged" };
            record(&state, case.id, user, action, result, now).await?;
            result
        }
    };
    tracing::info!(
        case_id = case.id,
        user,
        action = action.as_str(),
        outcome,
        "console action"
    );
    Ok(Redirect::to(&format!(
        "/console/cases/{}?done={}&result={outcome}",
        case.id,
        action.as_str()
    ))
    .into_response())
}

async fn record(
    state: &AppState,
    case_id: i64,
    user: i64,
    action: Action,
    result: &str,
    now: i64,
) -> Result<(), ConsoleError> {
    state
        .store
        .record_console_action(case_id, user, action.as_str(), Some(result), now)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_offers_only_what_it_allows() {
        assert_eq!(
            available("OPEN", false, true),
            [
                Action::PauseMessages,
                Action::RetryNow,
                Action::MarkPaid,
                Action::Cancel
            ]
        );
        assert_eq!(available("OPEN", true, false)[0], Action::ResumeMessages);
        assert_eq!(
            available("ENDED", false, false),
            [Action::RetryNow, Action::MarkPaid, Action::Cancel],
            "an ended case is still payable"
        );
        assert!(available("RECOVERED", false, false).is_empty());
        assert!(available("CANCELED", false, false).is_empty());
        assert!(
            available("PAYING", false, true).is_empty(),
            "a charge is in flight"
        );
        for a in [
            Action::PauseMessages,
            Action::ResumeMessages,
            Action::RetryNow,
            Action::MarkPaid,
            Action::Cancel,
        ] {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(Action::parse("drop_table"), None);
    }
}
