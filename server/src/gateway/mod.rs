//! Payment gateways behind one trait. The sandbox is the default; real PG
//! adapters (Toss Payments) implement the same trait.

pub mod sandbox;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use sandbox::SandboxGateway;

/// A charge of a stored billing key (StepPay's `idKey`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub billing_key: String,
    /// KRW, from our database, never from the browser.
    pub amount: i64,
    /// Shown on the customer's statement.
    pub order_name: String,
    /// Sent to the PG so a retried request cannot charge twice.
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The PG's transaction id.
    pub gateway_ref: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChargeError {
    /// The card issuer said no; the reason is safe to show the customer.
    #[error("declined: {reason}")]
    Declined { code: String, reason: String },
    /// We could not reach the PG or it failed; the outcome is unknown.
    #[error("gateway unavailable: {0}")]
    Unavailable(String),
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait PaymentGateway: Send + Sync + 'static {
    fn charge(&self, req: ChargeRequest) -> BoxFuture<'_, Result<Receipt, ChargeError>>;
    /// True for gateways that move no real money; the page shows a banner.
    fn is_sandbox(&self) -> bool;
}

pub type SharedGateway = Arc<dyn PaymentGateway>;
