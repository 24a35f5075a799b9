//! Giving money back: a charge flagged NEEDS_REFUND (approved after the
//! partner settled or canceled the order some other way) is refunded
//! through the gateway account that made it, when an operator asks (the
//! CLI's `server refund`, the console's case page). Refunds are idempotent
//! at the PG (Toss: our key, prefixed; PortOne: a cancelled payment stays
//! cancelled), so an answer lost on the way is asked for again, never
//! guessed.

use crate::clock::SharedClock;
use crate::gateway::{ChargeError, Gateways};
use crate::store::{Store, StoreError};

/// Shown to the customer by some PGs, and in the partner's PG console.
const REASON: &str = "이미 결제된 주문의 중복 결제 환불";

/// What a refund request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refunded {
    /// The PG gave the money back; the partner got `payment.refunded`.
    Done,
    /// The PG said no (the charge waits for an operator again).
    Refused { code: String, reason: String },
    /// No answer: the charge stays REFUNDING; asking again is safe.
    Unknown,
    /// Not a charge waiting for a refund (of this partner).
    NotRefundable,
}

pub struct Refunder {
    pub store: Store,
    pub gateways: Gateways,
    pub clock: SharedClock,
}

impl Refunder {
    /// Refunds `charge_id` (only the partner's own, when `partner_id` is
    /// given), recording who asked.
    pub async fn refund(
        &self,
        charge_id: i64,
        partner_id: Option<i64>,
        by: &str,
    ) -> Result<Refunded, StoreError> {
        let now = self.clock.now().timestamp_millis();
        let Some(due) = self
            .store
            .start_refund(charge_id, partner_id, by, now)
            .await?
        else {
            return Ok(Refunded::NotRefundable);
        };
        let Ok(adapter) = self.gateways.adapter(due.gateway_account_id).await else {
            return Ok(Refunded::Unknown);
        };
        let result = adapter
            .refund(
                due.gateway_ref.clone().unwrap_or_default(),
                due.idempotency_key.clone(),
                due.amount,
                REASON.to_owned(),
            )
            .await;
        let now = self.clock.now().timestamp_millis();
        let outcome = match result {
            Ok(()) => {
                self.store.finish_refund(charge_id, true, now).await?;
                Refunded::Done
            }
            Err(ChargeError::Declined { code, reason }) => {
                self.store.finish_refund(charge_id, false, now).await?;
                Refunded::Refused { code, reason }
            }
            Err(ChargeError::Unavailable(_)) => Refunded::Unknown,
        };
        tracing::info!(charge_id, case_id = due.case_id, outcome = ?outcome, "refund");
        Ok(outcome)
    }
}
