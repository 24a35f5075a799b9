//! A gateway that moves no money. Billing keys choose the outcome, so tests and
//! demos can exercise every path deterministically.

use std::collections::HashSet;
use std::sync::Mutex;

use super::{BoxFuture, ChargeError, ChargeRequest, PaymentGateway, Receipt};

/// Billing keys with a fixed outcome. Any other key succeeds.
pub const KEY_INSUFFICIENT_FUNDS: &str = "sandbox_insufficient_funds";
pub const KEY_EXPIRED_CARD: &str = "sandbox_expired_card";
pub const KEY_DO_NOT_HONOR: &str = "sandbox_do_not_honor";
pub const KEY_NETWORK_ERROR: &str = "sandbox_network_error";

#[derive(Default)]
pub struct SandboxGateway {
    /// Idempotency keys already charged: a repeat returns the first receipt
    /// instead of charging again, as a real PG does.
    seen: Mutex<HashSet<String>>,
}

impl SandboxGateway {
    /// How many distinct charges went through: what a customer's statement
    /// would show. Tests use it to prove a case is charged once.
    pub fn charged_count(&self) -> usize {
        self.seen.lock().expect("sandbox lock").len()
    }

    fn outcome(req: &ChargeRequest) -> Result<Receipt, ChargeError> {
        let declined = |code: &str, reason: &str| ChargeError::Declined {
            code: code.into(),
            reason: reason.into(),
        };
        match req.billing_key.as_str() {
            KEY_INSUFFICIENT_FUNDS => Err(declined("INSUFFICIENT_FUNDS", "한도초과")),
            KEY_EXPIRED_CARD => Err(declined("EXPIRED_CARD", "유효기간 만료")),
            KEY_DO_NOT_HONOR => Err(declined("DO_NOT_HONOR", "카드사 승인 거절")),
            KEY_NETWORK_ERROR => Err(ChargeError::Unavailable("sandbox network error".into())),
            _ => Ok(Receipt {
                gateway_ref: format!("sandbox_{}", req.idempotency_key),
            }),
        }
    }
}

impl PaymentGateway for SandboxGateway {
    fn charge(&self, req: ChargeRequest) -> BoxFuture<'_, Result<Receipt, ChargeError>> {
        Box::pin(async move {
            let result = Self::outcome(&req);
            if result.is_ok() {
                let mut seen = self.seen.lock().expect("sandbox lock");
                seen.insert(req.idempotency_key.clone());
            }
            result
        })
    }

    fn is_sandbox(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(key: &str) -> ChargeRequest {
        ChargeRequest {
            billing_key: key.into(),
            amount: 10_000,
            order_name: "구독".into(),
            idempotency_key: "k1".into(),
        }
    }

    #[tokio::test]
    async fn billing_keys_pick_the_outcome() {
        let g = SandboxGateway::default();
        assert!(g.charge(req("sandbox_ok")).await.is_ok());
        assert!(
            g.charge(req("sandbox_ok")).await.is_ok(),
            "a retry with the same key"
        );
        assert_eq!(g.charged_count(), 1, "one charge per idempotency key");
        assert!(matches!(
            g.charge(req(KEY_INSUFFICIENT_FUNDS)).await,
            Err(ChargeError::Declined { code, .. }) if code == "INSUFFICIENT_FUNDS"
        ));
        assert!(matches!(
            g.charge(req(KEY_EXPIRED_CARD)).await,
            Err(ChargeError::Declined { .. })
        ));
        assert!(matches!(
            g.charge(req(KEY_DO_NOT_HONOR)).await,
            Err(ChargeError::Declined { .. })
        ));
        assert!(matches!(
            g.charge(req(KEY_NETWORK_ERROR)).await,
            Err(ChargeError::Unavailable(_))
        ));
    }
}
