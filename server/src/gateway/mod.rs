//! Payment gateways behind one trait. The sandbox is the default; the Toss
//! Payments adapter implements the same trait against Toss's billing API.

pub mod portone;
pub mod registry;
pub mod sandbox;
pub mod toss;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::domain::decline::{CodeSource, Decline, classify};
pub use crate::domain::gateway_account::AdapterKind;

pub use portone::{PortOneConfig, PortOneGateway};
pub use registry::Gateways;
pub use sandbox::SandboxGateway;
pub use toss::{TossConfig, TossGateway};

/// A charge of a stored billing key (StepPay's `idKey`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub billing_key: String,
    /// The PG's customer key the billing key belongs to (Toss's
    /// `customerKey`, required there; `gateway_account::route` never lets a
    /// Toss charge go without one).
    pub customer_key: Option<String>,
    /// KRW, from our database, never from the browser.
    pub amount: i64,
    /// Shown on the customer's statement.
    pub order_name: String,
    /// Sent to the PG so a retried request cannot charge twice; also the
    /// PG-side order id.
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The PG's transaction id.
    pub gateway_ref: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChargeError {
    /// The card issuer (or the PG) said no; the reason is safe to show the
    /// customer. Nothing was charged.
    #[error("declined: {reason}")]
    Declined { code: String, reason: String },
    /// We could not reach the PG or it failed; the outcome is unknown, so the
    /// charge must be retried with the same idempotency key, never a new one.
    #[error("gateway unavailable: {0}")]
    Unavailable(String),
}

/// What the PG holds under one of our order ids (`PaymentGateway::lookup`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Money moved for it (and may have gone back since: a refund is still
    /// a charge that was made).
    Charged(Receipt),
    /// The PG recorded the attempt as failed, and why.
    Failed { code: String, reason: String },
    /// Nothing is recorded under that id.
    NotFound,
}

/// Where the customer registers a new card: the PG's hosted window stands
/// between our "change method" page and our return URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingAuthRequest {
    pub customer_key: String,
    /// Whose card it will be, masked (`김*동`): the window shows it, so a
    /// customer given someone else's link sees whose debt it is.
    pub customer_name: String,
    /// Absolute URLs on our host; the PG appends its own query parameters
    /// (`authKey`, `customerKey` on success; `code`, `message` on failure).
    pub success_url: String,
    pub fail_url: String,
}

/// How to send the customer to the card window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillingAuthLaunch {
    /// A plain redirect (the sandbox's page).
    Redirect(String),
    /// A small HTML page that opens the PG's window with its JS SDK.
    Page(String),
}

/// A billing key the PG issued after the customer registered a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedKey {
    pub billing_key: String,
    /// Display text such as `신한카드 4330*`: never the full number.
    pub payment_info: String,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait PaymentGateway: Send + Sync + 'static {
    fn charge(&self, req: ChargeRequest) -> BoxFuture<'_, Result<Receipt, ChargeError>>;
    /// Asks the PG what became of the charge with this idempotency key (our
    /// PG order id): made, failed (with the PG's code), or nothing recorded.
    /// Settles an unknown outcome without sending anything; an error means
    /// the PG cannot say now.
    fn lookup(&self, idempotency_key: String) -> BoxFuture<'_, Result<Lookup, ChargeError>>;
    /// Starts card registration.
    fn billing_auth(&self, req: &BillingAuthRequest) -> BillingAuthLaunch;
    /// Exchanges the one-time `authKey` from the card window for a billing key.
    fn issue_billing_key(
        &self,
        auth_key: String,
        customer_key: String,
    ) -> BoxFuture<'_, Result<IssuedKey, ChargeError>>;
    /// Which PG API this speaks.
    fn kind(&self) -> AdapterKind;
    /// True for the sandbox, whose card window is our own test page.
    fn is_sandbox(&self) -> bool {
        self.kind() == AdapterKind::Sandbox
    }
    /// Refunds a charge the PG approved (`Receipt::gateway_ref`, and our
    /// idempotency key, which is PortOne's payment id): the whole amount.
    fn refund(
        &self,
        gateway_ref: String,
        idempotency_key: String,
        amount: i64,
        reason: String,
    ) -> BoxFuture<'_, Result<(), ChargeError>>;
    /// Whether charges move real money. Notices carry it (`livemode`) and
    /// the page shows a test-mode banner without it, so nobody takes a
    /// test payment for a real one.
    fn livemode(&self) -> bool {
        false
    }
    /// What a decline code of this gateway says about retrying. Toss's
    /// table by default (the sandbox speaks Toss's codes).
    fn classify(&self, code: &str) -> Decline {
        classify(CodeSource::Toss, code)
    }
    /// Whether this adapter can charge billing keys of an order with this
    /// `paymentGateway` (StepPay's names): a key issued by another PG is
    /// never sent here, and such a case is never retried.
    fn can_charge(&self, payment_gateway: &str) -> bool;
}

pub type SharedGateway = Arc<dyn PaymentGateway>;

/// Which gateway the server uses for partners without an account of
/// their own (`REBOUND_GATEWAY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayConfig {
    Sandbox,
    /// With the rule for Toss keys whose order names no customer key
    /// (`REBOUND_TOSS_CUSTOMER_KEYS`).
    Toss(TossConfig, crate::domain::gateway_account::CustomerKeyRule),
}

pub fn from_config(config: &GatewayConfig) -> SharedGateway {
    match config {
        GatewayConfig::Sandbox => Arc::new(SandboxGateway::default()),
        GatewayConfig::Toss(toss, _) => Arc::new(TossGateway::new(toss.clone())),
    }
}

/// Percent-encodes a path segment (billing keys are opaque PG strings).
pub(crate) fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A value embedded in an inline script: JSON, with `<` escaped so no value
/// can close the script element.
pub(crate) fn js_string(s: &str) -> String {
    serde_json::to_string(s)
        .unwrap_or_else(|_| "\"\"".into())
        .replace('<', "\\u003c")
}

/// `신한카드 4330*` from a card company and a masked number such as
/// `43301234****123*`: the company and the first four digits, as StepPay shows.
pub fn card_label(company: &str, masked_number: &str) -> String {
    let digits: String = masked_number
        .chars()
        .filter(char::is_ascii_digit)
        .take(4)
        .collect();
    let company = company.trim();
    let company = if company.is_empty() || company.ends_with("카드") {
        company.to_owned()
    } else {
        format!("{company}카드")
    };
    match (company.is_empty(), digits.is_empty()) {
        (_, true) => company,
        (true, false) => format!("{digits}*"),
        (false, false) => format!("{company} {digits}*"),
    }
}

#[cfg(test)]
mod tests {
    use super::card_label;

    #[test]
    fn card_labels_show_company_and_four_digits() {
        assert_eq!(card_label("신한", "43301234****123*"), "신한카드 4330*");
        assert_eq!(card_label("현대카드", "5310********1234"), "현대카드 5310*");
        assert_eq!(card_label("", "1234"), "1234*");
        assert_eq!(card_label("국민", ""), "국민카드");
    }
}
