//! Server-to-server notices (design section 7): what happened to a
//! partner's customer, as the partner's backend must learn it from us
//! directly (a browser's postMessage is only a hint). The body follows
//! STOVE's payment-complete notice (`noti_type`, `txn_time`, `tid`,
//! `subs_status_code`, snake_case); the envelope and signing follow
//! Standard Webhooks. Pure: no SQL, no HTTP.

use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    PaymentCompleted,
    PaymentMethodChanged,
    PaymentDateChanged,
    RemindedLater,
    StageSent,
    SubscriptionStatusChanged,
    CaseClosed,
    /// A setup decline: our configuration at the PG is wrong; retries stop.
    GatewayProblem,
    /// Money moved for a case that was closed meanwhile: refund it.
    RefundNeeded,
    /// That money went back to the customer.
    Refunded,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PaymentCompleted => "payment.completed",
            EventType::PaymentMethodChanged => "payment_method.changed",
            EventType::PaymentDateChanged => "payment_date.changed",
            EventType::RemindedLater => "reminder.scheduled",
            EventType::StageSent => "stage.sent",
            EventType::SubscriptionStatusChanged => "subscription.status_changed",
            EventType::CaseClosed => "case.closed",
            EventType::GatewayProblem => "gateway.problem",
            EventType::RefundNeeded => "payment.refund_needed",
            EventType::Refunded => "payment.refunded",
        }
    }
}

/// Whether `raw` has a notice's `webhook-id` shape (`msg_` and a
/// time-ordered id). Anything else names no notice, and is refused before
/// any query: Postgres refuses a NUL in text (a 500), and an empty id must
/// never mean "all".
pub fn is_webhook_id(raw: &str) -> bool {
    raw.strip_prefix("msg_").is_some_and(|rest| {
        (1..=80).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

crate::domain::case::stored_enum!(
    /// A notice's delivery (`events.status`).
    DeliveryStatus, "notice status" {
        /// Due, or waiting for its next try.
        Pending => "PENDING",
        Delivered => "DELIVERED",
        /// Every try failed.
        Failed => "FAILED",
        /// The endpoint answered 410 Gone: nothing more is sent to it.
        Disabled => "DISABLED",
        /// The partner has no notify URL.
        NoEndpoint => "NO_ENDPOINT",
    }
);

/// STOVE's subscription status codes (`subs_status_code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubsStatus {
    /// Paid again: the subscription runs on.
    Renewed,
    /// The payment failed and recovery is under way.
    Grace,
    Paused,
    Canceled,
    Expired,
    /// The payment failed.
    Failed,
}

impl SubsStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SubsStatus::Renewed => "RENEWED",
            SubsStatus::Grace => "GRACE",
            SubsStatus::Paused => "PAUSED",
            SubsStatus::Canceled => "CANCELED",
            SubsStatus::Expired => "EXPIRED",
            SubsStatus::Failed => "FAILED",
        }
    }

    /// From a StepCover subscription status as we store it.
    pub fn from_stored(status: &str) -> Option<SubsStatus> {
        Some(match status {
            "ACTIVE" => SubsStatus::Renewed,
            "UNPAID" | "PENDING_PAUSE" | "PENDING_CANCEL" => SubsStatus::Grace,
            "PAUSE" => SubsStatus::Paused,
            "CANCELED" => SubsStatus::Canceled,
            "EXPIRED" => SubsStatus::Expired,
            _ => return None,
        })
    }

    /// What the customer should have meanwhile, so partners need not guess.
    pub fn access(self) -> Access {
        match self {
            SubsStatus::Renewed => Access::Full,
            SubsStatus::Grace | SubsStatus::Failed => Access::Limited,
            SubsStatus::Paused | SubsStatus::Canceled | SubsStatus::Expired => Access::None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Full,
    Limited,
    None,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Full => "full",
            Access::Limited => "limited",
            Access::None => "none",
        }
    }
}

/// The ids that place an event: every notice carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    pub case_id: Option<i64>,
    pub order_id: Option<i64>,
    pub partner_order_id: Option<String>,
    pub subscription_id: Option<i64>,
    pub partner_subscription_id: Option<String>,
    pub partner_customer_id: Option<String>,
    /// The experiment the case is in and its arm's name (issue 25): the
    /// notice carries them as `data.experiment` and `data.arm`.
    pub experiment: Option<(i64, String)>,
}

/// A payment, as its notices describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment<'a> {
    /// The PG's transaction id.
    pub tid: &'a str,
    pub amount: i64,
    pub payment_info: &'a str,
    pub recovered_by: &'a str,
    pub attempt: i64,
    pub stage: i64,
}

/// One notice, before the store numbers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_type: EventType,
    /// The partner's idempotency key for what happened: a payment's PG
    /// transaction id; otherwise the event's own id.
    pub tid: Option<String>,
    /// The subscription's status after this event, which sets `access`.
    pub status: SubsStatus,
    /// Type-specific fields (`data`).
    pub data: Value,
}

/// The JSON body, given the store's numbering. `webhook_id` doubles as the
/// `tid` of events that have no payment. `livemode`: whether real money
/// moves (a live PG key), so a partner never takes a sandbox payment for a
/// real one.
pub fn body(
    e: &Event,
    subject: &Subject,
    webhook_id: &str,
    sequence: i64,
    txn_time_ms: i64,
    livemode: bool,
) -> Value {
    let mut data = e.data.clone();
    if let Value::Object(map) = &mut data {
        map.insert("cover_id".into(), json!(subject.case_id));
        map.insert("order_id".into(), json!(subject.order_id));
        map.insert("partner_order_id".into(), json!(subject.partner_order_id));
        map.insert("subscription_id".into(), json!(subject.subscription_id));
        map.insert(
            "partner_subscription_id".into(),
            json!(subject.partner_subscription_id),
        );
        map.insert(
            "partner_customer_id".into(),
            json!(subject.partner_customer_id),
        );
        map.insert("subs_status_code".into(), json!(e.status.as_str()));
        if let Some((experiment, arm)) = &subject.experiment {
            map.insert("experiment".into(), json!(experiment));
            map.insert("arm".into(), json!(arm));
        }
    }
    json!({
        "noti_type": e.event_type.as_str(),
        "id": webhook_id,
        "tid": e.tid.as_deref().unwrap_or(webhook_id),
        "txn_time": txn_time_ms,
        "sequence": sequence,
        "access": e.status.access().as_str(),
        "livemode": livemode,
        "data": data,
    })
}

impl Event {
    /// `recovered_by`: what made the charge (`retry`, `page`,
    /// `method_change`, `scheduled_date`); `attempt`: its number among the
    /// case's charges, from 1; `stage`: the last stage sent before it (0:
    /// none).
    pub fn payment_completed(p: &Payment<'_>) -> Event {
        Event {
            event_type: EventType::PaymentCompleted,
            tid: Some(p.tid.to_owned()),
            status: SubsStatus::Renewed,
            data: json!({
                "tid": p.tid,
                "amount": p.amount,
                "currency": "KRW",
                "payment_info": p.payment_info,
                "recovered_by": p.recovered_by,
                "attempt": p.attempt,
                "stage": p.stage,
            }),
        }
    }

    /// A charge went through after the case was closed (the partner settled
    /// or canceled it meanwhile): the customer must get the money back.
    pub fn refund_needed(p: &Payment<'_>, status: SubsStatus) -> Event {
        Event {
            event_type: EventType::RefundNeeded,
            tid: Some(p.tid.to_owned()),
            status,
            data: json!({
                "tid": p.tid,
                "amount": p.amount,
                "currency": "KRW",
                "payment_info": p.payment_info,
                "reason": "charged after the case was closed",
            }),
        }
    }

    /// A charge flagged for refund was refunded through its gateway.
    pub fn refunded(p: &Payment<'_>, status: SubsStatus) -> Event {
        Event {
            event_type: EventType::Refunded,
            tid: Some(format!("refund-{}", p.tid)),
            status,
            data: json!({
                "tid": p.tid,
                "amount": p.amount,
                "currency": "KRW",
                "payment_info": p.payment_info,
            }),
        }
    }

    /// The PG refused a charge for a reason of ours (keys, configuration):
    /// retries stop for the partner until an operator fixes it.
    pub fn gateway_problem(code: &str, message: &str) -> Event {
        Event {
            event_type: EventType::GatewayProblem,
            tid: None,
            status: SubsStatus::Grace,
            data: json!({ "code": code, "message": message, "retries": "stopped" }),
        }
    }

    pub fn method_changed(id_key: &str, payment_info: &str) -> Event {
        Event {
            event_type: EventType::PaymentMethodChanged,
            tid: None,
            status: SubsStatus::Grace,
            data: json!({ "id_key": id_key, "payment_info": payment_info }),
        }
    }

    pub fn date_changed(selected_date: &str, next_attempt_at_ms: i64) -> Event {
        Event {
            event_type: EventType::PaymentDateChanged,
            tid: None,
            status: SubsStatus::Grace,
            data: json!({ "selected_date": selected_date, "retry_time": next_attempt_at_ms }),
        }
    }

    pub fn reminded_later(next_stage_at_ms: i64) -> Event {
        Event {
            event_type: EventType::RemindedLater,
            tid: None,
            status: SubsStatus::Grace,
            data: json!({ "retry_time": next_stage_at_ms }),
        }
    }

    pub fn stage_sent(stage: i64, channel: &str, provider_ref: &str) -> Event {
        Event {
            event_type: EventType::StageSent,
            tid: None,
            status: SubsStatus::Grace,
            data: json!({ "stage": stage, "channel": channel, "provider_ref": provider_ref }),
        }
    }

    pub fn status_changed(status: SubsStatus, reason: &str) -> Event {
        Event {
            event_type: EventType::SubscriptionStatusChanged,
            tid: None,
            status,
            data: json!({ "reason": reason }),
        }
    }

    /// `outcome`: `RECOVERED`, `CANCELED` or `ENDED` (no stage recovered it).
    pub fn case_closed(outcome: &str, status: SubsStatus) -> Event {
        Event {
            event_type: EventType::CaseClosed,
            tid: None,
            status,
            data: json!({ "outcome": outcome }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_notice_reads_like_stoves_and_grants_full_access() {
        let subject = Subject {
            case_id: Some(7),
            order_id: Some(3),
            partner_order_id: Some("o-1".into()),
            subscription_id: Some(2),
            partner_subscription_id: Some("s-1".into()),
            partner_customer_id: Some("c-1".into()),
            experiment: None,
        };
        let b = body(
            &Event::payment_completed(&Payment {
                tid: "tid-9",
                amount: 10_000,
                payment_info: "신한카드 1234*",
                recovered_by: "retry",
                attempt: 2,
                stage: 1,
            }),
            &subject,
            "msg_1",
            4,
            1_644_807_685_000,
            true,
        );
        assert_eq!(b["noti_type"], "payment.completed");
        assert_eq!(b["tid"], "tid-9");
        assert_eq!(b["txn_time"], 1_644_807_685_000_i64);
        assert_eq!(b["sequence"], 4);
        assert_eq!(b["access"], "full");
        assert_eq!(b["livemode"], true);
        assert_eq!(b["data"]["amount"], 10_000);
        assert_eq!(b["data"]["currency"], "KRW");
        assert_eq!(b["data"]["partner_subscription_id"], "s-1");
        assert_eq!(b["data"]["subs_status_code"], "RENEWED");
        assert_eq!(b["data"]["recovered_by"], "retry");
        assert_eq!(b["data"]["attempt"], 2);
    }

    #[test]
    fn events_without_a_payment_use_their_own_id_as_tid() {
        let b = body(
            &Event::stage_sent(2, "ALIMTALK", "sens:x"),
            &Subject::default(),
            "msg_2",
            1,
            0,
            false,
        );
        assert_eq!(b["tid"], "msg_2");
        assert_eq!(b["livemode"], false, "a sandbox notice says so");
        assert_eq!(b["access"], "limited");
        assert_eq!(
            SubsStatus::from_stored("PAUSE").map(SubsStatus::access),
            Some(Access::None)
        );
        assert_eq!(SubsStatus::from_stored("ACTIVE"), Some(SubsStatus::Renewed));
    }
}
