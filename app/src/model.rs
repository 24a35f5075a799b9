//! What the server hands the page. Plain data, serializable so islands can
//! receive it as props.

use protocol::PageMessage;
use serde::{Deserialize, Serialize};

/// What the iframe URL asked for: `?token=&origin=&embedId=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedRequest {
    pub token: String,
    /// The partner page's origin, as the embed snippet put it in the URL.
    /// Optional for StepCover partners that forward only `?token=`.
    pub origin: Option<String>,
    pub embed_id: Option<String>,
}

/// Where the page's messages may go. Only ever built by the server after it
/// matched the requested origin against the partner's registered origins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageTarget {
    pub origin: String,
    pub embed_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaseState {
    /// The payment is still outstanding.
    Open,
    /// Paid; `paid_at` is display text in the partner's time zone.
    Recovered { paid_at: String },
    /// Canceled or otherwise closed without payment.
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryView {
    pub business_name: String,
    pub product_name: String,
    /// Minor units of KRW (= won).
    pub amount: i64,
    /// `YYYY-MM-DD HH:MM` in the partner's time zone.
    pub failed_at: String,
    pub failure_reason: Option<String>,
    pub payment_info: Option<String>,
    pub state: CaseState,
    pub target: MessageTarget,
    /// Posted on load so the listener knows the page is up.
    pub ready: PageMessage,
    /// True when payments go to the sandbox gateway.
    pub test_mode: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayOutcome {
    /// Charged; the message to post and where.
    Paid {
        message: PageMessage,
        target: MessageTarget,
    },
    /// The gateway declined; the case stays open.
    Declined {
        reason: String,
        message: PageMessage,
        target: MessageTarget,
    },
}

/// Why a page cannot be shown. Each has its own clear page; none is a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PageError {
    /// No case has this token (mistyped, forged or very old link).
    UnknownToken,
    /// The iframe's claimed parent origin is not one the partner registered.
    OriginNotAllowed,
    /// The case is already closed (paid, canceled): nothing to do here.
    AlreadyClosed,
    /// Something on our side failed; the customer may try again.
    Unavailable,
}
