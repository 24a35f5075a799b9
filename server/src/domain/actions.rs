//! What a person may do to a case from the console, in each of its states.
//! One function (`allowed`) decides it: the console shows exactly these
//! buttons and the server refuses anything else, so a hand-made POST cannot
//! cancel a recovered case or charge one with no card. Pure.

use super::case::{CaseEvent, CaseState, CaseStatus};
use super::retry::Blocked;

/// The console's case actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseAction {
    PauseMessages,
    ResumeMessages,
    RetryNow,
    ResendStage,
    MarkPaid,
    Cancel,
    /// Give back a charge flagged NEEDS_REFUND (or ask again for one whose
    /// answer was lost).
    Refund,
}

impl CaseAction {
    pub const ALL: &'static [CaseAction] = &[
        CaseAction::PauseMessages,
        CaseAction::ResumeMessages,
        CaseAction::RetryNow,
        CaseAction::ResendStage,
        CaseAction::MarkPaid,
        CaseAction::Cancel,
        CaseAction::Refund,
    ];

    pub fn parse(raw: &str) -> Option<CaseAction> {
        CaseAction::ALL.iter().copied().find(|a| a.as_str() == raw)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CaseAction::PauseMessages => "pause_messages",
            CaseAction::ResumeMessages => "resume_messages",
            CaseAction::RetryNow => "retry_now",
            CaseAction::ResendStage => "resend_stage",
            CaseAction::MarkPaid => "mark_paid",
            CaseAction::Cancel => "cancel",
            CaseAction::Refund => "refund",
        }
    }
}

/// Where a case stands, as far as its actions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub status: CaseStatus,
    /// The order is paid (by the partner, or by a charge of any of its
    /// cases): final, whatever this case's own status says.
    pub order_paid: bool,
    pub messages_paused: bool,
    /// A stage is scheduled.
    pub has_next_stage: bool,
    /// A stage went out (or failed for good): there is one to resend.
    pub has_sent_stage: bool,
    /// Why a charge asked for now would not go (`retry::gate`: no card, the
    /// night window, the day's cap, ...), if it would not.
    pub retry_blocked: Option<Blocked>,
    /// A charge of the case waits for its refund (NEEDS_REFUND, or
    /// REFUNDING with its answer lost).
    pub refund_due: bool,
}

/// The actions a case allows, in the order the console shows them.
pub fn allowed(case: Standing) -> Vec<CaseAction> {
    let state = CaseState::new(case.status, false);
    let can = |event| !case.order_paid && state.apply(event).is_ok();
    let mut v = Vec::new();
    if can(CaseEvent::MessagesHeld) {
        if case.messages_paused {
            v.push(CaseAction::ResumeMessages);
        } else if case.has_next_stage {
            v.push(CaseAction::PauseMessages);
        }
    }
    // While a charge is in flight its outcome decides first: no settling a
    // case under it (the partner API may; a person waits a moment).
    if can(CaseEvent::ClaimCharge) {
        if case.retry_blocked.is_none() {
            v.push(CaseAction::RetryNow);
        }
        if case.has_sent_stage {
            v.push(CaseAction::ResendStage);
        }
        v.push(CaseAction::MarkPaid);
        v.push(CaseAction::Cancel);
    }
    // Money to give back, whatever became of the case and its order.
    if case.refund_due {
        v.push(CaseAction::Refund);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::CaseAction as A;
    use super::*;

    fn standing(status: CaseStatus) -> Standing {
        Standing {
            status,
            order_paid: false,
            messages_paused: false,
            has_next_stage: true,
            has_sent_stage: true,
            retry_blocked: None,
            refund_due: false,
        }
    }

    #[test]
    fn each_state_offers_only_what_it_allows() {
        use CaseStatus as S;
        let fresh = Standing {
            has_sent_stage: false,
            ..standing(S::Open)
        };
        assert_eq!(
            allowed(fresh),
            [A::PauseMessages, A::RetryNow, A::MarkPaid, A::Cancel],
            "nothing sent yet: nothing to resend"
        );
        assert_eq!(
            allowed(standing(S::Open)),
            [
                A::PauseMessages,
                A::RetryNow,
                A::ResendStage,
                A::MarkPaid,
                A::Cancel
            ]
        );
        let paused = Standing {
            messages_paused: true,
            has_next_stage: false,
            ..standing(S::Open)
        };
        assert_eq!(allowed(paused)[0], A::ResumeMessages);
        assert!(
            allowed(paused).contains(&A::ResendStage),
            "a paused case's stage may still be resent by hand"
        );
        assert_eq!(
            allowed(Standing {
                has_next_stage: false,
                ..standing(S::Ended)
            }),
            [A::RetryNow, A::ResendStage, A::MarkPaid, A::Cancel],
            "an ended case is still payable"
        );
        for closed in [S::Recovered, S::Canceled, S::Paying] {
            assert!(allowed(standing(closed)).is_empty(), "{closed}");
        }
    }

    #[test]
    fn a_paid_order_allows_nothing_whatever_its_case_says() {
        for status in CaseStatus::ALL {
            let s = Standing {
                order_paid: true,
                ..standing(*status)
            };
            assert!(allowed(s).is_empty(), "{status}");
        }
    }

    #[test]
    fn a_charge_to_give_back_is_refunded_whatever_the_case_and_order_say() {
        for status in CaseStatus::ALL {
            for order_paid in [false, true] {
                let s = Standing {
                    order_paid,
                    refund_due: true,
                    ..standing(*status)
                };
                assert_eq!(allowed(s).last(), Some(&A::Refund), "{status}");
            }
            assert!(!allowed(standing(*status)).contains(&A::Refund));
        }
    }

    #[test]
    fn no_retry_now_when_the_gates_say_no() {
        for blocked in [
            Blocked::NoBillingKey,
            Blocked::NightWindow { until_ms: 0 },
            Blocked::DailyLimit { until_ms: 0 },
            Blocked::HardDecline,
        ] {
            let s = Standing {
                retry_blocked: Some(blocked),
                ..standing(CaseStatus::Open)
            };
            assert!(!allowed(s).contains(&A::RetryNow), "{blocked:?}");
            assert!(allowed(s).contains(&A::MarkPaid), "the rest still applies");
        }
    }

    #[test]
    fn actions_round_trip_their_names() {
        for a in A::ALL {
            assert_eq!(A::parse(a.as_str()), Some(*a));
        }
        assert_eq!(A::parse("drop_table"), None);
        assert_eq!(A::parse(""), None);
    }
}
