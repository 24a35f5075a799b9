//! The recovery case: its states, what may happen to it in each, and what
//! the recovery page shows for it. Pure: the store runs the conditional
//! updates that enforce these rules, and asks here which ones hold.
//!
//! ```text
//!            ClaimCharge                 ChargeSucceeded
//!   OPEN ─────────────────▶ PAYING ───────────────────────▶ RECOVERED
//!    │  ▲                    │  ▲  ChargeUnknown (stays)
//!    │  └── ChargeDeclined ──┘  │
//!    │ ScenarioEnded            │ ClaimCharge (win-back)
//!    ▼                          │
//!   ENDED ──────────────────────┘   (a decline returns to ENDED)
//!
//!   OPEN, PAYING, ENDED ── PaidElsewhere ──▶ RECOVERED
//!   OPEN, PAYING, ENDED ── Canceled ───────▶ CANCELED
//! ```
//!
//! `ENDED` means the scenario's messages ran out (the subscription was
//! paused or canceled by the end action); the case stays payable from its
//! links and keeps its remaining silent retries, and a payment then
//! reactivates the subscription. Only `RECOVERED` and `CANCELED` are closed.

/// Stored text that is not one of ours: the database was edited by hand or
/// a newer version wrote it. Never read as some default.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?} in the database")]
pub struct UnknownText {
    pub kind: &'static str,
    pub value: String,
}

/// A status stored as text: what `sql_list` writes into a statement.
pub trait StoredText: Copy {
    fn as_str(self) -> &'static str;
}

/// Text enums stored in the database: one mapping each way.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Result<$name, $crate::domain::case::UnknownText> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::domain::case::UnknownText {
                        kind: $kind,
                        value: other.to_owned(),
                    }),
                }
            }
        }

        impl $crate::domain::case::StoredText for $name {
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use stored_enum;

stored_enum!(
    /// Where a recovery case stands (`recovery_cases.status`).
    CaseStatus, "case status" {
        Open => "OPEN",
        /// A charge is in flight; nobody else may start one.
        Paying => "PAYING",
        Recovered => "RECOVERED",
        /// The scenario's messages ran out unrecovered: still payable.
        Ended => "ENDED",
        Canceled => "CANCELED",
    }
);

stored_enum!(
    /// One charge attempt (`charges.status`).
    ChargeStatus, "charge status" {
        /// Sent, or about to be; the outcome is not known yet.
        Pending => "PENDING",
        Succeeded => "SUCCEEDED",
        Failed => "FAILED",
        /// Money moved for a case that was closed meanwhile: refund it.
        NeedsRefund => "NEEDS_REFUND",
        /// An operator asked the PG to give it back; the answer is awaited
        /// (a crash here leaves it to be asked again: refunds are
        /// idempotent at the PG).
        Refunding => "REFUNDING",
        /// The PG gave the money back.
        Refunded => "REFUNDED",
    }
);

stored_enum!(
    /// One stage's message in the send ledger (`stage_sends.status`).
    StageStatus, "stage status" {
        Sending => "SENDING",
        Sent => "SENT",
        Failed => "FAILED",
        /// A console resend not sent: its case closed first.
        Skipped => "SKIPPED",
    }
);

stored_enum!(
    /// What made a charge (`charges.source`): the attribution of a recovery.
    ChargeSource, "charge source" {
        /// A silent retry on the planner's schedule.
        Retry => "retry",
        /// The customer pressed pay on the recovery page.
        Page => "page",
        /// The customer registered a new card, which was charged at once.
        MethodChange => "method_change",
        /// The date the customer chose on the page came.
        ScheduledDate => "scheduled_date",
        /// An operator or partner user pressed "retry now" in the console.
        Console => "console",
    }
);

impl ChargeSource {
    /// Charges nobody asked for at that moment: at most one a day per case.
    pub fn is_silent(self) -> bool {
        matches!(self, ChargeSource::Retry | ChargeSource::ScheduledDate)
    }
}

/// What can happen to a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseEvent {
    /// A charge starts (page, card change, retry, scheduled date).
    ClaimCharge,
    ChargeSucceeded,
    /// The card was declined: payable again.
    ChargeDeclined,
    /// The PG's answer was lost: the charge stays pending.
    ChargeUnknown,
    /// The last stage went unanswered: the end action applies.
    ScenarioEnded,
    /// The partner reports the order paid (`/order/success`, subscription active).
    PaidElsewhere,
    /// The partner canceled the order or the subscription.
    Canceled,
    /// A stage's message is sent.
    StageSent,
    /// The customer picks another payment date, or asks to be reminded later.
    Rescheduled,
    /// A new billing key replaces the order's (the page's card change).
    CardChanged,
    /// A newer case opens for the same order and carries the recovery.
    Superseded,
    /// Someone pauses or resumes the case's messages.
    MessagesHeld,
    /// Silent retries are planned again or stopped.
    RetryReplanned,
}

impl CaseEvent {
    pub const ALL: &'static [CaseEvent] = &[
        CaseEvent::ClaimCharge,
        CaseEvent::ChargeSucceeded,
        CaseEvent::ChargeDeclined,
        CaseEvent::ChargeUnknown,
        CaseEvent::ScenarioEnded,
        CaseEvent::PaidElsewhere,
        CaseEvent::Canceled,
        CaseEvent::StageSent,
        CaseEvent::Rescheduled,
        CaseEvent::CardChanged,
        CaseEvent::Superseded,
        CaseEvent::MessagesHeld,
        CaseEvent::RetryReplanned,
    ];
}

/// A case's state: its status, and whether its scenario already ended (a
/// charge claimed on an ended case returns there on a decline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseState {
    pub status: CaseStatus,
    pub scenario_ended: bool,
}

impl CaseState {
    pub fn new(status: CaseStatus, scenario_ended: bool) -> CaseState {
        CaseState {
            status,
            // ENDED always has; the flag matters while PAYING.
            scenario_ended: scenario_ended || status == CaseStatus::Ended,
        }
    }
}

/// Why an event cannot happen to a case in its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Someone else is charging it.
    #[error("a charge is in flight")]
    Busy,
    /// Recovered or canceled: nothing more happens to it.
    #[error("the case is closed")]
    Closed,
    /// The event does not apply in this state (no charge in flight to
    /// succeed or fail, a reschedule after the scenario ended, ...).
    #[error("not in this state")]
    NotApplicable,
}

impl CaseState {
    /// The state after `event`, or why it cannot happen.
    pub fn apply(self, event: CaseEvent) -> Result<CaseState, Refusal> {
        use CaseEvent as E;
        use CaseStatus as S;
        let to = |status| Ok(CaseState::new(status, self.scenario_ended));
        match (self.status, event) {
            (S::Recovered | S::Canceled, _) => Err(Refusal::Closed),
            (S::Open | S::Ended, E::ClaimCharge) => to(S::Paying),
            (S::Paying, E::ClaimCharge) => Err(Refusal::Busy),
            (S::Paying, E::ChargeSucceeded) => to(S::Recovered),
            (S::Paying, E::ChargeDeclined) if self.scenario_ended => to(S::Ended),
            (S::Paying, E::ChargeDeclined) => to(S::Open),
            (S::Paying, E::ChargeUnknown) => to(S::Paying),
            (S::Open | S::Ended, E::ChargeSucceeded | E::ChargeDeclined | E::ChargeUnknown) => {
                Err(Refusal::NotApplicable)
            }
            (S::Open, E::ScenarioEnded) => to(S::Ended),
            // A charge in flight finishes first; the end waits for it.
            (S::Paying, E::ScenarioEnded) => Err(Refusal::Busy),
            (S::Ended, E::ScenarioEnded) => Err(Refusal::NotApplicable),
            (S::Open | S::Paying | S::Ended, E::PaidElsewhere) => to(S::Recovered),
            (S::Open | S::Paying | S::Ended, E::Canceled) => to(S::Canceled),
            (S::Open, E::StageSent | E::Rescheduled | E::MessagesHeld) => to(S::Open),
            (S::Paying, E::StageSent | E::Rescheduled | E::MessagesHeld) => Err(Refusal::Busy),
            (S::Ended, E::StageSent | E::Rescheduled | E::MessagesHeld) => {
                Err(Refusal::NotApplicable)
            }
            // A new card or a new plan while nothing is in flight; a charge
            // in flight plans the next itself when it ends.
            (S::Open | S::Ended, E::CardChanged | E::RetryReplanned) => to(self.status),
            (S::Paying, E::CardChanged | E::RetryReplanned) => Err(Refusal::Busy),
            // Only an ended case can be superseded: an open one keeps the
            // order's one open case (a partial unique index).
            (S::Ended, E::Superseded) => to(S::Canceled),
            (S::Open | S::Paying, E::Superseded) => Err(Refusal::NotApplicable),
        }
    }

    /// The statuses in which `event` may happen: what the store's
    /// conditional update puts in its `WHERE status IN (...)`.
    pub fn statuses_allowing(event: CaseEvent) -> Vec<CaseStatus> {
        CaseStatus::ALL
            .iter()
            .copied()
            .filter(|s| CaseState::new(*s, false).apply(event).is_ok())
            .collect()
    }
}

/// What the recovery page can offer for a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageState {
    /// Pay now, change the card; also for an ended scenario (a win-back).
    Payable,
    /// A charge is in flight: the page waits for it.
    Charging,
    Recovered,
    /// Closed by the partner's cancellation: nothing to pay.
    Closed,
}

impl CaseStatus {
    pub fn page_state(self) -> PageState {
        match self {
            CaseStatus::Open | CaseStatus::Ended => PageState::Payable,
            CaseStatus::Paying => PageState::Charging,
            CaseStatus::Recovered => PageState::Recovered,
            CaseStatus::Canceled => PageState::Closed,
        }
    }

    /// Open to the customer's choices of a date or a reminder: only while
    /// messages still go out.
    pub fn can_reschedule(self) -> bool {
        CaseState::new(self, false)
            .apply(CaseEvent::Rescheduled)
            .is_ok()
    }

    pub fn is_closed(self) -> bool {
        matches!(self, CaseStatus::Recovered | CaseStatus::Canceled)
    }
}

/// What can happen to a charge. Each event moves from its own statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeEvent {
    /// The PG approved it (or a lookup found it made): PENDING to SUCCEEDED.
    Approved,
    /// The PG declined it, or it was settled as never made: to FAILED.
    Declined,
    /// Sent again under its own key, or its outcome still unknown: only the
    /// time of the attempt moves.
    Attempted,
    /// Approved after it was settled as never made: the money goes back.
    ApprovedAfterSettled,
    /// Approved for a case the partner closed meanwhile: the money goes back.
    ClosedMeanwhile,
    /// An operator sends the refund (again, if an earlier try's answer was
    /// lost).
    RefundStarted,
    /// The PG refunded it.
    RefundDone,
    /// The PG refused the refund: it waits for the operator again.
    RefundRefused,
}

impl ChargeEvent {
    pub const ALL: &'static [ChargeEvent] = &[
        ChargeEvent::Approved,
        ChargeEvent::Declined,
        ChargeEvent::Attempted,
        ChargeEvent::ApprovedAfterSettled,
        ChargeEvent::ClosedMeanwhile,
        ChargeEvent::RefundStarted,
        ChargeEvent::RefundDone,
        ChargeEvent::RefundRefused,
    ];
}

impl ChargeStatus {
    /// The status after `event`, or `None` if it cannot happen now.
    pub fn apply(self, event: ChargeEvent) -> Option<ChargeStatus> {
        use ChargeEvent as E;
        use ChargeStatus as S;
        match (self, event) {
            (S::Pending, E::Approved) => Some(S::Succeeded),
            (S::Pending, E::Declined) => Some(S::Failed),
            (S::Pending, E::Attempted) => Some(S::Pending),
            (S::Failed, E::ApprovedAfterSettled) => Some(S::NeedsRefund),
            (S::Succeeded, E::ClosedMeanwhile) => Some(S::NeedsRefund),
            (S::NeedsRefund | S::Refunding, E::RefundStarted) => Some(S::Refunding),
            (S::Refunding, E::RefundDone) => Some(S::Refunded),
            (S::Refunding, E::RefundRefused) => Some(S::NeedsRefund),
            _ => None,
        }
    }

    /// The statuses in which `event` may happen: a conditional update's
    /// `WHERE status IN (...)`.
    pub fn allowing(event: ChargeEvent) -> Vec<ChargeStatus> {
        ChargeStatus::ALL
            .iter()
            .copied()
            .filter(|s| s.apply(event).is_some())
            .collect()
    }
}

/// SQL list of statuses (`'OPEN','ENDED'`) for a conditional update. Our own
/// constants, never input.
pub fn sql_list<T: StoredText>(statuses: &[T]) -> String {
    statuses
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::CaseEvent as E;
    use super::CaseStatus as S;
    use super::*;

    /// Every state x every event, written out: a change to the machine
    /// must change this table.
    #[test]
    fn every_state_and_event() {
        use Refusal::*;
        let ok = |s: S| Ok::<S, Refusal>(s);
        #[rustfmt::skip]
        let table: &[(S, bool, E, Result<S, Refusal>)] = &[
            (S::Open, false, E::ClaimCharge, ok(S::Paying)),
            (S::Open, false, E::ChargeSucceeded, Err(NotApplicable)),
            (S::Open, false, E::ChargeDeclined, Err(NotApplicable)),
            (S::Open, false, E::ChargeUnknown, Err(NotApplicable)),
            (S::Open, false, E::ScenarioEnded, ok(S::Ended)),
            (S::Open, false, E::PaidElsewhere, ok(S::Recovered)),
            (S::Open, false, E::Canceled, ok(S::Canceled)),
            (S::Open, false, E::StageSent, ok(S::Open)),
            (S::Open, false, E::Rescheduled, ok(S::Open)),
            (S::Paying, false, E::ClaimCharge, Err(Busy)),
            (S::Paying, false, E::ChargeSucceeded, ok(S::Recovered)),
            (S::Paying, false, E::ChargeDeclined, ok(S::Open)),
            (S::Paying, false, E::ChargeUnknown, ok(S::Paying)),
            (S::Paying, false, E::ScenarioEnded, Err(Busy)),
            (S::Paying, false, E::PaidElsewhere, ok(S::Recovered)),
            (S::Paying, false, E::Canceled, ok(S::Canceled)),
            (S::Paying, false, E::StageSent, Err(Busy)),
            (S::Paying, false, E::Rescheduled, Err(Busy)),
            (S::Paying, true, E::ClaimCharge, Err(Busy)),
            (S::Paying, true, E::ChargeSucceeded, ok(S::Recovered)),
            (S::Paying, true, E::ChargeDeclined, ok(S::Ended)),
            (S::Paying, true, E::ChargeUnknown, ok(S::Paying)),
            (S::Paying, true, E::ScenarioEnded, Err(Busy)),
            (S::Paying, true, E::PaidElsewhere, ok(S::Recovered)),
            (S::Paying, true, E::Canceled, ok(S::Canceled)),
            (S::Paying, true, E::StageSent, Err(Busy)),
            (S::Paying, true, E::Rescheduled, Err(Busy)),
            (S::Ended, true, E::ClaimCharge, ok(S::Paying)),
            (S::Ended, true, E::ChargeSucceeded, Err(NotApplicable)),
            (S::Ended, true, E::ChargeDeclined, Err(NotApplicable)),
            (S::Ended, true, E::ChargeUnknown, Err(NotApplicable)),
            (S::Ended, true, E::ScenarioEnded, Err(NotApplicable)),
            (S::Ended, true, E::PaidElsewhere, ok(S::Recovered)),
            (S::Ended, true, E::Canceled, ok(S::Canceled)),
            (S::Ended, true, E::StageSent, Err(NotApplicable)),
            (S::Ended, true, E::Rescheduled, Err(NotApplicable)),
            (S::Open, false, E::CardChanged, ok(S::Open)),
            (S::Open, false, E::Superseded, Err(NotApplicable)),
            (S::Open, false, E::MessagesHeld, ok(S::Open)),
            (S::Open, false, E::RetryReplanned, ok(S::Open)),
            (S::Paying, false, E::CardChanged, Err(Busy)),
            (S::Paying, false, E::Superseded, Err(NotApplicable)),
            (S::Paying, false, E::MessagesHeld, Err(Busy)),
            (S::Paying, false, E::RetryReplanned, Err(Busy)),
            (S::Paying, true, E::CardChanged, Err(Busy)),
            (S::Paying, true, E::Superseded, Err(NotApplicable)),
            (S::Paying, true, E::MessagesHeld, Err(Busy)),
            (S::Paying, true, E::RetryReplanned, Err(Busy)),
            (S::Ended, true, E::CardChanged, ok(S::Ended)),
            (S::Ended, true, E::Superseded, ok(S::Canceled)),
            (S::Ended, true, E::MessagesHeld, Err(NotApplicable)),
            (S::Ended, true, E::RetryReplanned, ok(S::Ended)),
        ];
        let mut covered = 0;
        for &(status, ended, event, expected) in table {
            let got = CaseState::new(status, ended).apply(event).map(|s| s.status);
            assert_eq!(got, expected, "{status} (ended: {ended}) + {event:?}");
            covered += 1;
        }
        // Closed cases refuse everything.
        for status in [S::Recovered, S::Canceled] {
            for &event in E::ALL {
                assert_eq!(
                    CaseState::new(status, false).apply(event),
                    Err(Closed),
                    "{status} + {event:?}"
                );
                covered += 1;
            }
        }
        // OPEN, PAYING twice (ended or not), ENDED, and the two closed ones.
        assert_eq!(covered, 6 * E::ALL.len(), "every state x every event");
    }

    /// Every charge status x every event, written out.
    #[test]
    fn every_charge_status_and_event() {
        use ChargeEvent as CE;
        use ChargeStatus as CS;
        let moves = [
            (CS::Pending, CE::Approved, CS::Succeeded),
            (CS::Pending, CE::Declined, CS::Failed),
            (CS::Pending, CE::Attempted, CS::Pending),
            (CS::Failed, CE::ApprovedAfterSettled, CS::NeedsRefund),
            (CS::Succeeded, CE::ClosedMeanwhile, CS::NeedsRefund),
            (CS::NeedsRefund, CE::RefundStarted, CS::Refunding),
            (CS::Refunding, CE::RefundStarted, CS::Refunding),
            (CS::Refunding, CE::RefundDone, CS::Refunded),
            (CS::Refunding, CE::RefundRefused, CS::NeedsRefund),
        ];
        for status in CS::ALL {
            for event in CE::ALL {
                let expected = moves
                    .iter()
                    .find(|(s, e, _)| s == status && e == event)
                    .map(|(_, _, to)| *to);
                assert_eq!(status.apply(*event), expected, "{status} + {event:?}");
            }
        }
        assert_eq!(
            CS::allowing(CE::Attempted),
            [CS::Pending],
            "only a pending charge is sent again"
        );
        assert!(
            CS::NeedsRefund.apply(CE::Approved).is_none()
                && CS::Succeeded.apply(CE::Declined).is_none(),
            "a settled charge stays settled"
        );
        assert_eq!(sql_list(&CS::allowing(CE::Approved)), "'PENDING'");
        assert!(
            CS::Refunded.apply(CE::RefundStarted).is_none(),
            "a refunded charge is never refunded again"
        );
    }

    #[test]
    fn an_ended_case_keeps_its_flag_through_a_charge() {
        let paying = CaseState::new(S::Ended, false)
            .apply(E::ClaimCharge)
            .unwrap();
        assert_eq!(paying, CaseState::new(S::Paying, true));
        assert_eq!(paying.apply(E::ChargeDeclined).unwrap().status, S::Ended);
        assert_eq!(
            paying.apply(E::ChargeSucceeded).unwrap().status,
            S::Recovered,
            "a win-back"
        );
    }

    #[test]
    fn conditional_updates_name_the_allowed_statuses() {
        assert_eq!(
            CaseState::statuses_allowing(E::ClaimCharge),
            [S::Open, S::Ended]
        );
        assert_eq!(sql_list(&[S::Open, S::Ended]), "'OPEN','ENDED'");
        assert_eq!(
            CaseState::statuses_allowing(E::Canceled),
            [S::Open, S::Paying, S::Ended]
        );
        assert_eq!(CaseState::statuses_allowing(E::StageSent), [S::Open]);
    }

    #[test]
    fn stored_text_round_trips_and_unknown_text_is_an_error() {
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Ok(*s));
        }
        for s in ChargeStatus::ALL {
            assert_eq!(ChargeStatus::parse(s.as_str()), Ok(*s));
        }
        for s in StageStatus::ALL {
            assert_eq!(StageStatus::parse(s.as_str()), Ok(*s));
        }
        for s in ChargeSource::ALL {
            assert_eq!(ChargeSource::parse(s.as_str()), Ok(*s));
        }
        let err = S::parse("ended").unwrap_err();
        assert_eq!(err.kind, "case status");
        assert!(S::parse("").is_err());
        assert!(ChargeStatus::parse("refunded").is_err());
    }

    #[test]
    fn the_page_offers_payment_until_the_case_is_closed() {
        assert_eq!(S::Open.page_state(), PageState::Payable);
        assert_eq!(S::Ended.page_state(), PageState::Payable, "win-back");
        assert_eq!(S::Paying.page_state(), PageState::Charging);
        assert_eq!(S::Recovered.page_state(), PageState::Recovered);
        assert_eq!(S::Canceled.page_state(), PageState::Closed);
        assert!(S::Open.can_reschedule());
        assert!(!S::Ended.can_reschedule());
        assert!(!S::Paying.can_reschedule());
        assert!(S::Recovered.is_closed() && S::Canceled.is_closed());
        assert!(!S::Ended.is_closed());
    }
}
