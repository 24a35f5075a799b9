//! Actions on one case from the console, each through the path the rest of
//! Rebound uses for the same thing, so exactly-once charging and the
//! partner's notices hold: "retry now" is a charge through `Charger` (as
//! the page and the engine charge), "paid elsewhere" and "cancel" are the
//! partner API's settlement, pause and resume hold the engine's next stage,
//! and "resend" queues the latest stage for the engine to send again (with
//! its own dedupe key, under its lease). Each is recorded with who did it
//! and when.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use leptos::prelude::*;
use serde::Deserialize;

use super::error::ConsoleError;
use super::layout::Lang;
use super::post::Posted;
use super::words;
use crate::charging::Charged;
use crate::domain::actions::{CaseAction, Standing, allowed};
use crate::domain::case::ChargeSource;
use crate::domain::retry::Blocked;
use crate::refunding::Refunded;
use crate::state::AppState;
use crate::store::{CaseDetail, CaseEnd, ResendRequest, Settlement};

/// Where the case stands now, as `actions::allowed` reads it: its status,
/// its messages, and what the charge gates would say of "retry now".
pub async fn standing(state: &AppState, case: &CaseDetail) -> Result<Standing, ConsoleError> {
    let now = state.clock.now().timestamp_millis();
    let paused = state.store.case_messages_paused(case.id).await?;
    let server_wide = |pg: &str| state.gateways.server_wide_for(pg);
    let gate = state
        .store
        .charge_gate(case.id, ChargeSource::Console, now, &server_wide)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    Ok(Standing {
        status: case.status,
        order_paid: case.order_paid != 0,
        messages_paused: paused,
        has_next_stage: case.next_stage_at.is_some(),
        // The engine moves past a stage once it is sent or failed for good.
        has_sent_stage: case.next_stage > 1,
        retry_blocked: gate.err(),
        refund_due: !state.store.case_refunds_due(case.id).await?.is_empty(),
    })
}

/// Why "retry now" is not offered, and when it will be, for a person.
fn why_not(blocked: Blocked, lang: Lang) -> String {
    let t = |ko: &'static str, en: &'static str| lang.t(ko, en).to_owned();
    let at = |ms: i64| super::cases::when(ms);
    match blocked {
        Blocked::NoBillingKey => t(
            "저장된 카드가 없어 결제할 수 없습니다. 고객이 카드를 등록하면 가능합니다.",
            "No card on file: nothing to charge until the customer registers one.",
        ),
        Blocked::NoAdapter => t(
            "이 주문의 결제사(PG)에 연결된 결제 계정이 없습니다. 설정에서 계정을 추가해 주세요.",
            "No gateway account charges the order's payment gateway: add one in settings.",
        ),
        Blocked::NoCustomerKey => t(
            "토스 빌링키의 고객 키(customerKey)를 모릅니다. 주문에 customerKey를 보내거나 고객이 새 카드를 등록해야 합니다.",
            "The Toss billing key's customer key is unknown: send the order's customerKey, or the customer registers a new card.",
        ),
        Blocked::GatewayProblem => t(
            "PG가 파트너의 결제 키를 거부해 모든 결제가 멈춰 있습니다. 설정에서 해결해 주세요.",
            "The PG refused the partner's credentials: every charge waits until it is fixed in settings.",
        ),
        Blocked::HardDecline => t(
            "이 카드는 결제가 영구 거절되었습니다. 고객이 새 카드를 등록해야 합니다.",
            "This card was declined for good: the customer must register a new card.",
        ),
        Blocked::Budget => t(
            "이 카드의 30일 결제 시도 한도를 다 썼습니다. 새 카드가 필요합니다.",
            "This card's attempts for 30 days are used up: a new card is needed.",
        ),
        Blocked::NightWindow { until_ms } => format!(
            "{} {}",
            lang.t(
                "카드사 점검 시간(23:30~00:40)입니다. 가능한 시각:",
                "Card companies' night maintenance (23:30-00:40). Possible from:"
            ),
            at(until_ms)
        ),
        Blocked::DailyLimit { until_ms } => format!(
            "{} {}",
            lang.t(
                "오늘 요청한 결제 시도 한도에 도달했습니다. 가능한 시각:",
                "Today's attempts on request are used up. Possible from:"
            ),
            at(until_ms)
        ),
        Blocked::Replanned(_) => t("지금은 결제할 수 없습니다.", "Not possible now."),
    }
}

/// The case page's action buttons, each a form with the CSRF token.
pub fn controls(
    case: &CaseDetail,
    standing: Standing,
    csrf: &str,
    lang: Lang,
) -> impl IntoView + use<> {
    let actions = allowed(standing);
    let paused = standing.messages_paused;
    // A payable case that may not be charged now says why, and until when.
    let retry_note = (!standing.order_paid && !standing.status.is_closed())
        .then_some(standing.retry_blocked)
        .flatten()
        .map(|b| why_not(b, lang));
    let path = format!("/console/cases/{}/action", case.id);
    let forms = actions
        .into_iter()
        .map(|a| {
            let class = match a {
                CaseAction::RetryNow | CaseAction::Refund => "",
                _ => "secondary",
            };
            view! {
                <form method="post" action=path.clone() class="inline">
                    <input type="hidden" name="csrf" value=csrf.to_owned()/>
                    <input type="hidden" name="action" value=a.as_str()/>
                    <button type="submit" class=class>{words::action(a, lang)}</button>
                </form>
            }
        })
        .collect_view();
    view! {
        <section aria-labelledby="actions-h" class="actions">
            <h2 id="actions-h">{lang.t("작업", "Actions")}</h2>
            {paused.then(|| view! { <p class="note">{lang.t("이 케이스의 메시지는 일시정지되어 있습니다.", "This case's messages are paused.")}</p> })}
            {retry_note.map(|note| view! { <p class="note" data-retry-blocked="">{lang.t("지금 결제 재시도 불가: ", "Retry now is not possible: ")}{note}</p> })}
            <div class="buttons">{forms}</div>
        </section>
    }
}

#[derive(Deserialize)]
pub struct ActionForm {
    action: Option<String>,
}

pub async fn submit(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Posted { signed, form, .. }: Posted<ActionForm>,
) -> Result<Response, ConsoleError> {
    let id: i64 = raw.parse().map_err(|_| ConsoleError::NotFound)?;
    let case = state
        .store
        .case_detail(signed.own_partner(), id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let action = form
        .action
        .as_deref()
        .and_then(CaseAction::parse)
        .ok_or(ConsoleError::NotFound)?;
    let now = state.clock.now().timestamp_millis();
    let user = signed.user.id;
    // A person clicks a few times a minute; a script looping over cases is
    // held back.
    state
        .limits
        .console_action(user)
        .map_err(ConsoleError::Throttled)?;
    // The buttons a page showed may be stale, and a POST can be made by
    // hand: the case's standing now decides, as it decided the buttons.
    if !allowed(standing(&state, &case).await?).contains(&action) {
        tracing::info!(
            case_id = case.id,
            user,
            action = action.as_str(),
            status = %case.status,
            "console action refused in this state"
        );
        return Ok(Redirect::to(&format!(
            "/console/cases/{}?done={}&result=not_allowed",
            case.id,
            action.as_str()
        ))
        .into_response());
    }
    let outcome: &str = match action {
        CaseAction::PauseMessages => {
            if state.store.pause_case_messages(case.id, user, now).await? {
                "paused"
            } else {
                "unchanged"
            }
        }
        CaseAction::ResumeMessages => {
            if state.store.resume_case_messages(case.id, user, now).await? {
                "resumed"
            } else {
                "unchanged"
            }
        }
        CaseAction::RetryNow => {
            let result = match state
                .charger()
                .charge(case.id, ChargeSource::Console)
                .await?
            {
                Charged::Paid => "paid",
                Charged::Declined(_) => "declined",
                Charged::Unknown => "unknown",
                Charged::Busy(_) => "busy",
                Charged::Blocked(Blocked::DailyLimit { .. }) => "daily_limit",
                Charged::Blocked(_) => "not_allowed",
                Charged::ClosedMeanwhile => "closed_meanwhile",
            };
            record(&state, case.id, user, action, result, now).await?;
            result
        }
        CaseAction::ResendStage => match state.store.request_resend(case.id, user, now).await? {
            ResendRequest::Queued { .. } => "queued",
            ResendRequest::NothingSent => "nothing_sent",
            ResendRequest::AlreadyWaiting => "already_waiting",
            ResendRequest::TooSoon { .. } => "too_soon",
        },
        CaseAction::Refund => {
            let by = format!("console:{user}");
            let mut result = "refund_none";
            for due in state.store.case_refunds_due(case.id).await? {
                result = match state
                    .refunder()
                    .refund(due.charge_id, Some(case.partner_id), &by)
                    .await?
                {
                    Refunded::Done => "refunded",
                    Refunded::Refused { .. } => "refund_refused",
                    Refunded::Unknown => "refund_unknown",
                    Refunded::NotRefundable => "unchanged",
                };
            }
            record(&state, case.id, user, action, result, now).await?;
            result
        }
        CaseAction::MarkPaid | CaseAction::Cancel => {
            let (order_status, end) = match action {
                CaseAction::MarkPaid => ("PAID", CaseEnd::Recovered),
                _ => ("CANCELED", CaseEnd::Canceled),
            };
            let result = match state
                .store
                .settle_order(case.partner_id, case.order_id, order_status, end, now)
                .await?
            {
                Settlement::Done => "done",
                Settlement::AlreadyPaid => "already_paid",
                Settlement::NotFound => "unchanged",
            };
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
    action: CaseAction,
    result: &str,
    now: i64,
) -> Result<(), ConsoleError> {
    state
        .store
        .record_console_action(case_id, user, action.as_str(), Some(result), now)
        .await?;
    Ok(())
}
