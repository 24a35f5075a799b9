//! A gateway that moves no money. Billing keys choose the outcome, so tests and
//! demos can exercise every path deterministically. Its card window is our own
//! page (`/embed/sandbox/billing-auth`, see `embed::sandbox_page`), standing in
//! for the PG's hosted window.

use std::collections::HashSet;
use std::sync::Mutex;

use super::{
    BillingAuthLaunch, BillingAuthRequest, BoxFuture, ChargeError, ChargeRequest, IssuedKey,
    Lookup, PaymentGateway, Receipt,
};

/// Billing keys with a fixed outcome, one for each decline class (they
/// answer with Toss's codes, so Toss's table classifies them). Any other
/// key succeeds. A key may carry a suffix after a dot
/// (`sandbox_expired_card.k3x9`): each customer's key is their own, as a
/// real PG's are, so a per-key retry budget counts one customer's tries;
/// the part before the dot picks the outcome.
/// Soft, over the limit or out of balance: retried on a payday.
pub const KEY_INSUFFICIENT_FUNDS: &str = "sandbox_insufficient_funds";
/// Soft, the card's daily count used up: retried tomorrow.
pub const KEY_DAILY_LIMIT: &str = "sandbox_daily_limit";
/// Soft, the card company in maintenance: retried after the night window.
pub const KEY_MAINTENANCE: &str = "sandbox_maintenance";
/// Soft, a passing failure at the card company: retried soon.
pub const KEY_CARD_COMPANY_ERROR: &str = "sandbox_card_company_error";
/// Hard: the card expired; retries stop and the messages ask for a new card.
pub const KEY_EXPIRED_CARD: &str = "sandbox_expired_card";
/// Setup: the billing key does not match our customer key; retries stop
/// for the partner and the operator is told.
pub const KEY_SETUP_ERROR: &str = "sandbox_setup_error";
/// Unknown: the card company refused without saying why; a few retries.
pub const KEY_DO_NOT_HONOR: &str = "sandbox_do_not_honor";
/// No answer at all (the outcome is unknown; nothing was charged).
pub const KEY_NETWORK_ERROR: &str = "sandbox_network_error";
/// The PG charges, but the answer is lost (a timeout after approval): the
/// first request for an idempotency key reports the outcome unknown, a
/// resend with the same key returns the charge. A resend with a new key
/// would charge again, which is what tests look for.
pub const KEY_TIMEOUT_AFTER_APPROVAL: &str = "sandbox_timeout_after_approval";

/// The test cards the sandbox card window offers: (outcome, card label,
/// what it does). The outcome travels in the auth key and picks the
/// billing key (`sandbox_<outcome>`, or a fresh succeeding key for `ok`).
pub const TEST_CARDS: &[(&str, &str, &str)] = &[
    ("ok", "테스트카드 4242*", "승인"),
    (
        "insufficient_funds",
        "테스트카드 9995*",
        "한도초과: 월급날 재시도",
    ),
    (
        "daily_limit",
        "테스트카드 9987*",
        "하루 횟수 초과: 다음 날 재시도",
    ),
    (
        "maintenance",
        "테스트카드 9979*",
        "카드사 점검: 점검 후 재시도",
    ),
    (
        "card_company_error",
        "테스트카드 0051*",
        "카드사 오류: 곧 재시도",
    ),
    (
        "expired_card",
        "테스트카드 0069*",
        "유효기간 만료: 새 카드 필요",
    ),
    (
        "setup_error",
        "테스트카드 0044*",
        "가맹점 설정 오류: 재시도 중단",
    ),
    (
        "do_not_honor",
        "테스트카드 0002*",
        "승인 거절: 몇 번만 재시도",
    ),
    ("network_error", "테스트카드 0119*", "네트워크 오류"),
    (
        "timeout_after_approval",
        "테스트카드 0127*",
        "승인 후 응답 유실",
    ),
];

/// The auth key the sandbox window hands back for a test card.
pub fn auth_key_for(outcome: &str, nonce: &str) -> String {
    format!("sandbox_auth.{outcome}.{nonce}")
}

#[derive(Default)]
pub struct SandboxGateway {
    /// Idempotency keys already charged: a repeat returns the first receipt
    /// instead of charging again, as a real PG does.
    seen: Mutex<HashSet<String>>,
    /// Charges refunded (a refund of a refunded charge is no new refund).
    refunded: Mutex<HashSet<String>>,
}

impl SandboxGateway {
    /// How many distinct charges went through: what a customer's statement
    /// would show. Tests use it to prove a case is charged once.
    pub fn charged_count(&self) -> usize {
        self.seen.lock().expect("sandbox lock").len()
    }

    /// How many distinct charges were refunded.
    pub fn refunded_count(&self) -> usize {
        self.refunded.lock().expect("sandbox lock").len()
    }

    /// The test card a billing key stands for (the part before any dot).
    fn card(billing_key: &str) -> &str {
        billing_key.split('.').next().unwrap_or_default()
    }

    fn outcome(req: &ChargeRequest) -> Result<Receipt, ChargeError> {
        let declined = |code: &str, reason: &str| ChargeError::Declined {
            code: code.into(),
            reason: reason.into(),
        };
        match Self::card(&req.billing_key) {
            KEY_INSUFFICIENT_FUNDS => Err(declined("REJECT_CARD_PAYMENT", "한도초과")),
            KEY_DAILY_LIMIT => Err(declined(
                "EXCEED_MAX_DAILY_PAYMENT_COUNT",
                "하루 결제 횟수를 넘었어요",
            )),
            KEY_MAINTENANCE => Err(declined("NOT_AVAILABLE_PAYMENT", "카드사 점검 시간이에요")),
            KEY_CARD_COMPANY_ERROR => Err(declined(
                "FAILED_CARD_COMPANY_RESPONSE",
                "카드사 응답이 없어요",
            )),
            KEY_EXPIRED_CARD => Err(declined("INVALID_CARD_EXPIRATION", "유효기간 만료")),
            KEY_SETUP_ERROR => Err(declined("UNAUTHORIZED_KEY", "결제를 처리할 수 없어요")),
            KEY_DO_NOT_HONOR => Err(declined("REJECT_CARD_COMPANY", "카드사 승인 거절")),
            KEY_NETWORK_ERROR => Err(ChargeError::Unavailable("sandbox network error".into())),
            _ => Ok(Receipt {
                gateway_ref: format!("sandbox_{}", req.idempotency_key),
            }),
        }
    }

    fn issue(auth_key: &str) -> Result<IssuedKey, ChargeError> {
        let invalid = || ChargeError::Declined {
            code: "INVALID_AUTH_KEY".into(),
            reason: "카드 등록을 확인할 수 없어요".into(),
        };
        let mut parts = auth_key.splitn(3, '.');
        let (Some("sandbox_auth"), Some(outcome), Some(nonce)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let label = TEST_CARDS
            .iter()
            .find(|(o, _, _)| *o == outcome)
            .map(|(_, label, _)| *label)
            .ok_or_else(invalid)?;
        if nonce.is_empty() || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(invalid());
        }
        let billing_key = match outcome {
            "ok" => format!("sandbox_ok_{nonce}"),
            other => format!("sandbox_{other}.{nonce}"),
        };
        Ok(IssuedKey {
            billing_key,
            payment_info: label.to_owned(),
        })
    }
}

impl PaymentGateway for SandboxGateway {
    fn charge(&self, req: ChargeRequest) -> BoxFuture<'_, Result<Receipt, ChargeError>> {
        Box::pin(async move {
            if Self::card(&req.billing_key) == KEY_TIMEOUT_AFTER_APPROVAL {
                let first = self
                    .seen
                    .lock()
                    .expect("sandbox lock")
                    .insert(req.idempotency_key.clone());
                return if first {
                    Err(ChargeError::Unavailable(
                        "sandbox timeout after approval".into(),
                    ))
                } else {
                    Ok(Receipt {
                        gateway_ref: format!("sandbox_{}", req.idempotency_key),
                    })
                };
            }
            let result = Self::outcome(&req);
            if result.is_ok() {
                let mut seen = self.seen.lock().expect("sandbox lock");
                seen.insert(req.idempotency_key.clone());
            }
            result
        })
    }

    fn lookup(&self, idempotency_key: String) -> BoxFuture<'_, Result<Lookup, ChargeError>> {
        Box::pin(async move {
            let seen = self.seen.lock().expect("sandbox lock");
            Ok(if seen.contains(&idempotency_key) {
                Lookup::Charged(Receipt {
                    gateway_ref: format!("sandbox_{idempotency_key}"),
                })
            } else {
                Lookup::NotFound
            })
        })
    }

    fn billing_auth(&self, req: &BillingAuthRequest) -> BillingAuthLaunch {
        let query = serde_urlencoded::to_string([
            ("customerKey", req.customer_key.as_str()),
            ("customerName", req.customer_name.as_str()),
            ("successUrl", req.success_url.as_str()),
            ("failUrl", req.fail_url.as_str()),
        ])
        .unwrap_or_default();
        BillingAuthLaunch::Redirect(format!("/embed/sandbox/billing-auth?{query}"))
    }

    fn issue_billing_key(
        &self,
        auth_key: String,
        _customer_key: String,
    ) -> BoxFuture<'_, Result<IssuedKey, ChargeError>> {
        Box::pin(async move { Self::issue(&auth_key) })
    }

    fn kind(&self) -> super::AdapterKind {
        super::AdapterKind::Sandbox
    }

    /// Only a charge the sandbox approved can be refunded.
    fn refund(
        &self,
        _gateway_ref: String,
        idempotency_key: String,
        _amount: i64,
        _reason: String,
    ) -> BoxFuture<'_, Result<(), ChargeError>> {
        Box::pin(async move {
            let mut refunded = self.refunded.lock().expect("sandbox lock");
            if !self
                .seen
                .lock()
                .expect("sandbox lock")
                .contains(&idempotency_key)
            {
                return Err(ChargeError::Declined {
                    code: "NOT_FOUND_PAYMENT".into(),
                    reason: "결제를 찾을 수 없어요".into(),
                });
            }
            refunded.insert(idempotency_key);
            Ok(())
        })
    }

    /// The sandbox stands in for every PG.
    fn can_charge(&self, _payment_gateway: &str) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(key: &str) -> ChargeRequest {
        ChargeRequest {
            billing_key: key.into(),
            customer_key: Some("c1".into()),
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
            g.lookup("k1".into()).await.unwrap(),
            Lookup::Charged(_)
        ));
        assert_eq!(g.lookup("k2".into()).await.unwrap(), Lookup::NotFound);
        assert!(matches!(
            g.charge(req(KEY_INSUFFICIENT_FUNDS)).await,
            Err(ChargeError::Declined { code, .. }) if code == "REJECT_CARD_PAYMENT"
        ));
        // One test card per decline class, classified by Toss's table.
        use crate::domain::decline::{Decline, Wait};
        for (key, class) in [
            (KEY_INSUFFICIENT_FUNDS, Decline::Soft(Wait::Payday)),
            (KEY_DAILY_LIMIT, Decline::Soft(Wait::NextDay)),
            (KEY_MAINTENANCE, Decline::Soft(Wait::AfterMaintenance)),
            (KEY_CARD_COMPANY_ERROR, Decline::Soft(Wait::Soon)),
            (KEY_EXPIRED_CARD, Decline::Hard),
            (KEY_SETUP_ERROR, Decline::Setup),
            (KEY_DO_NOT_HONOR, Decline::Unknown),
        ] {
            match g.charge(req(key)).await {
                Err(ChargeError::Declined { code, .. }) => {
                    assert_eq!(g.classify(&code), class, "{key}")
                }
                other => panic!("{key}: {other:?}"),
            }
        }
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

    #[tokio::test]
    async fn test_cards_issue_keys_with_their_outcome() {
        let g = SandboxGateway::default();
        let ok = g
            .issue_billing_key(auth_key_for("ok", "n1"), "c1".into())
            .await
            .unwrap();
        assert_eq!(ok.billing_key, "sandbox_ok_n1");
        assert_eq!(ok.payment_info, "테스트카드 4242*");
        assert!(g.charge(req(&ok.billing_key)).await.is_ok());
        let declining = g
            .issue_billing_key(auth_key_for("expired_card", "n2"), "c1".into())
            .await
            .unwrap();
        assert_eq!(declining.billing_key, format!("{KEY_EXPIRED_CARD}.n2"));
        assert!(matches!(
            g.charge(req(&declining.billing_key)).await,
            Err(ChargeError::Declined { code, .. }) if code == "INVALID_CARD_EXPIRATION"
        ));
        for bad in [
            "",
            "sandbox_auth.ok.",
            "sandbox_auth.stolen.n1",
            "other.ok.n1",
            "sandbox_auth.ok.a/b",
        ] {
            assert!(
                g.issue_billing_key(bad.into(), "c1".into()).await.is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_card_window_is_our_sandbox_page() {
        let launch = SandboxGateway::default().billing_auth(&BillingAuthRequest {
            customer_key: "c 1".into(),
            customer_name: "김*동".into(),
            success_url: "http://h/embed/recovery/method/return?token=t".into(),
            fail_url: "http://h/embed/recovery/method/cancel".into(),
        });
        let BillingAuthLaunch::Redirect(url) = launch else {
            panic!("sandbox redirects")
        };
        assert!(url.starts_with(
            "/embed/sandbox/billing-auth?customerKey=c+1&customerName=%EA%B9%80*%EB%8F%99&successUrl=http%3A%2F%2Fh%2F"
        ));
    }
}
