//! Actions on one case from the console, each through the path the rest of
//! Rebound uses for the same thing, so exactly-once charging and the
//! partner's notices hold: "retry now" is a charge through `Charger` (as
//! the page and the engine charge), "paid elsewhere" and "cancel" are the
//! partner API's settlement, pause and resume hold the engine's next stage,
//! and "resend" queues the latest stage for the engine to send again (with
//! its own dedupe key, under its lease). Each is recorded with who did it
//! and when.

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
use crate::store::{CaseDetail, CaseEnd, ResendRequest};

/// The console's case actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    PauseMessages,
    ResumeMessages,
    RetryNow,
    ResendStage,
    MarkPaid,
    Cancel,
}

impl Action {
    pub fn parse(raw: &str) -> Option<Action> {
        match raw {
            "pause_messages" => Some(Action::PauseMessages),
            "resume_messages" => Some(Action::ResumeMessages),
            "retry_now" => Some(Action::RetryNow),
            "resend_stage" => Some(Action::ResendStage),
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
            Action::ResendStage => "resend_stage",
            Action::MarkPaid => "mark_paid",
            Action::Cancel => "cancel",
        }
    }

    fn label(self, lang: Lang) -> &'static str {
        match self {
            Action::PauseMessages => lang.t("메시지 일시정지", "Pause messages"),
            Action::ResumeMessages => lang.t("메시지 다시 보내기 시작", "Resume messages"),
            Action::RetryNow => lang.t("지금 결제 재시도", "Retry the charge now"),
            Action::ResendStage => {
                lang.t("현재 단계 메시지 다시 보내기", "Resend the current stage")
            }
            Action::MarkPaid => lang.t("다른 곳에서 결제됨으로 표시", "Mark paid elsewhere"),
            Action::Cancel => lang.t("케이스 해지", "Cancel the case"),
        }
    }
}

/// Where a case stands, as far as its actions go.
#[derive(Debug, Clone, Copy)]
pub struct Standing<'a> {
    pub status: &'a str,
    pub messages_paused: bool,
    /// A stage is scheduled.
    pub has_next_stage: bool,
    /// A stage went out (or failed for good): there is one to resend.
    pub has_sent_stage: bool,
}

/// The actions a case offers in its state.
pub fn available(case: Standing<'_>) -> Vec<Action> {
    let payable = matches!(case.status, "OPEN" | "ENDED");
    let mut v = Vec::new();
    if case.status == "OPEN" && case.messages_paused {
        v.push(Action::ResumeMessages);
    } else if case.status == "OPEN" && case.has_next_stage {
        v.push(Action::PauseMessages);
    }
    if payable {
        v.push(Action::RetryNow);
        if case.has_sent_stage {
            v.push(Action::ResendStage);
        }
        v.extend([Action::MarkPaid, Action::Cancel]);
    }
    v
}

/// The case page's action buttons, each a form with the CSRF token.
pub fn controls(case: &CaseDetail, paused: bool, csrf: &str, lang: Lang) -> impl IntoView + use<> {
    let actions = available(Standing {
        status: &case.status,
        messages_paused: paused,
        has_next_stage: case.next_stage_at.is_some(),
        // The engine moves past a stage once it is sent or failed for good.
        has_sent_stage: case.next_stage > 1,
    });
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
        Action::ResendStage => match state.store.request_resend(case.id, user, now).await? {
            ResendRequest::Queued { .. } => "queued",
            ResendRequest::NothingSent => "nothing_sent",
            ResendRequest::AlreadyWaiting => "already_waiting",
            ResendRequest::TooSoon => "too_soon",
        },
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
        let at = |status, messages_paused, has_next_stage, has_sent_stage| {
            available(Standing {
                status,
                messages_paused,
                has_next_stage,
                has_sent_stage,
            })
        };
        assert_eq!(
            at("OPEN", false, true, false),
            [
                Action::PauseMessages,
                Action::RetryNow,
                Action::MarkPaid,
                Action::Cancel
            ],
            "nothing sent yet: nothing to resend"
        );
        assert_eq!(
            at("OPEN", false, true, true),
            [
                Action::PauseMessages,
                Action::RetryNow,
                Action::ResendStage,
                Action::MarkPaid,
                Action::Cancel
            ]
        );
        assert_eq!(at("OPEN", true, false, true)[0], Action::ResumeMessages);
        assert!(
            at("OPEN", true, false, true).contains(&Action::ResendStage),
            "a paused case's stage may still be resent by hand"
        );
        assert_eq!(
            at("ENDED", false, false, true),
            [
                Action::RetryNow,
                Action::ResendStage,
                Action::MarkPaid,
                Action::Cancel
            ],
            "an ended case is still payable"
        );
        assert!(at("RECOVERED", false, false, true).is_empty());
        assert!(at("CANCELED", false, false, true).is_empty());
        assert!(
            at("PAYING", false, true, true).is_empty(),
            "a charge is in flight"
        );
        for a in [
            Action::PauseMessages,
            Action::ResumeMessages,
            Action::RetryNow,
            Action::ResendStage,
            Action::MarkPaid,
            Action::Cancel,
        ] {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(Action::parse("drop_table"), None);
    }
}
