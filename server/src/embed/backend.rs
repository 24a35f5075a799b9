//! The page's backend: resolves tokens, checks origins, charges once.

use app::backend::{BoxFuture, RecoveryBackend};
use app::model::{CaseState, EmbedRequest, MessageTarget, PageError, PayOutcome, RecoveryView};
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use protocol::{Action, Envelope, PageMessage};

use crate::clock::SharedClock;
use crate::domain::token::{TokenHash, new_id, redact};
use crate::gateway::{ChargeError, ChargeRequest, SharedGateway};
use crate::store::{CaseRecord, CaseStatus, ChargeClaim, Store};

/// Korea has one time zone and no daylight saving: dates shown to customers
/// and sent to partners are in KST, as StepPay's are.
fn kst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("valid offset")
}

fn kst_text(ms: i64, format: &str) -> String {
    kst()
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format(format).to_string())
        .unwrap_or_default()
}

pub struct StoreBackend {
    pub store: Store,
    pub gateway: SharedGateway,
    pub clock: SharedClock,
}

/// An embed id is a nonce the embedding page chose; anything odd is dropped
/// rather than echoed back into messages.
fn clean_embed_id(id: Option<String>) -> Option<String> {
    id.filter(|e| {
        (1..=64).contains(&e.len())
            && e.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

impl StoreBackend {
    /// The case behind the token and where its messages may go.
    async fn resolve(&self, req: &EmbedRequest) -> Result<(CaseRecord, MessageTarget), PageError> {
        if !super::headers::is_token_shaped(&req.token) {
            return Err(PageError::UnknownToken);
        }
        let case = self
            .store
            .case_by_token(&TokenHash::of(&req.token))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, token = %redact(&req.token), "loading case");
                PageError::Unavailable
            })?
            .ok_or(PageError::UnknownToken)?;
        let origin = case
            .origins
            .resolve(req.origin.as_deref())
            .ok_or_else(|| {
                tracing::warn!(requested = ?req.origin, token = %redact(&req.token), "embed origin not registered");
                PageError::OriginNotAllowed
            })?
            .as_str()
            .to_owned();
        let target = MessageTarget {
            origin,
            embed_id: clean_embed_id(req.embed_id.clone()),
        };
        Ok((case, target))
    }

    fn message(&self, action: Action, target: &MessageTarget) -> PageMessage {
        PageMessage {
            action,
            envelope: Some(Envelope {
                message_id: new_id(),
                embed_id: target.embed_id.clone(),
                sent_at: self
                    .clock
                    .now()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            }),
        }
    }

    async fn load_view(&self, req: EmbedRequest) -> Result<RecoveryView, PageError> {
        let (case, target) = self.resolve(&req).await?;
        let state = match case.status {
            CaseStatus::Open | CaseStatus::Paying => CaseState::Open,
            CaseStatus::Recovered => CaseState::Recovered {
                paid_at: case
                    .paid_at_ms
                    .map(|ms| kst_text(ms, "%Y-%m-%d %H:%M"))
                    .unwrap_or_default(),
            },
            CaseStatus::Canceled => CaseState::Closed,
        };
        let ready = self.message(Action::Ready, &target);
        Ok(RecoveryView {
            business_name: case.business_name,
            product_name: case.product_name,
            amount: case.amount,
            failed_at: kst_text(case.failed_at_ms, "%Y-%m-%d %H:%M"),
            failure_reason: case.failure_reason,
            payment_info: case.payment_info,
            state,
            target,
            ready,
            test_mode: self.gateway.is_sandbox(),
        })
    }

    async fn pay(&self, req: EmbedRequest) -> Result<PayOutcome, PageError> {
        let (case, target) = self.resolve(&req).await?;
        let complete = |this: &Self, paid_at: DateTime<Utc>| {
            let action = Action::PaymentComplete {
                payment_info: case.payment_info.clone().unwrap_or_default(),
                payment_date: paid_at
                    .with_timezone(&kst())
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
                token: req.token.clone(),
                order_id: case.partner_order_id.clone(),
            };
            PayOutcome::Paid {
                message: this.message(action, &target),
                target: target.clone(),
            }
        };
        match case.status {
            CaseStatus::Open => {}
            // A second tab or a repeated click after success: same answer, no charge.
            CaseStatus::Recovered => {
                let paid_at = case
                    .paid_at_ms
                    .and_then(|ms| Utc.timestamp_millis_opt(ms).single());
                return Ok(complete(self, paid_at.unwrap_or_else(|| self.clock.now())));
            }
            CaseStatus::Paying | CaseStatus::Canceled => return Err(PageError::AlreadyClosed),
        }
        let store_err = |e: crate::store::StoreError| {
            tracing::error!(error = %e, case_id = case.id, "recording charge");
            PageError::Unavailable
        };
        let idempotency_key = format!("rb-{}-{}", case.id, new_id());
        let now = self.clock.now();
        let charge_id = match self
            .store
            .claim_charge(
                case.id,
                &idempotency_key,
                case.amount,
                now.timestamp_millis(),
            )
            .await
            .map_err(store_err)?
        {
            ChargeClaim::Claimed { charge_id } => charge_id,
            ChargeClaim::Busy(CaseStatus::Recovered) => {
                return Ok(complete(self, now));
            }
            ChargeClaim::Busy(_) => return Err(PageError::AlreadyClosed),
        };
        let Some(billing_key) = case.id_key.clone() else {
            let reason = "등록된 결제 수단이 없어요".to_owned();
            self.store
                .fail_charge(case.id, charge_id, &reason)
                .await
                .map_err(store_err)?;
            return Ok(self.declined(reason, &req, &target));
        };
        let charge = ChargeRequest {
            billing_key,
            amount: case.amount,
            order_name: case.product_name.clone(),
            idempotency_key,
        };
        match self.gateway.charge(charge).await {
            Ok(receipt) => {
                let paid_at = self.clock.now();
                let recovered = self
                    .store
                    .complete_charge(
                        case.id,
                        charge_id,
                        &receipt.gateway_ref,
                        paid_at.timestamp_millis(),
                    )
                    .await
                    .map_err(store_err)?;
                if recovered {
                    tracing::info!(case_id = case.id, "case recovered by payment");
                } else {
                    // The money moved, so the customer is told it did; the
                    // charge row is marked NEEDS_REFUND for the operator.
                    tracing::error!(
                        case_id = case.id,
                        charge_id,
                        "charged a case closed meanwhile; refund needed"
                    );
                }
                Ok(complete(self, paid_at))
            }
            Err(ChargeError::Declined { reason, .. }) => {
                self.store
                    .fail_charge(case.id, charge_id, &reason)
                    .await
                    .map_err(store_err)?;
                Ok(self.declined(reason, &req, &target))
            }
            Err(ChargeError::Unavailable(e)) => {
                tracing::warn!(error = %e, case_id = case.id, "gateway unavailable");
                self.store
                    .fail_charge(case.id, charge_id, &e)
                    .await
                    .map_err(store_err)?;
                Err(PageError::Unavailable)
            }
        }
    }

    fn declined(&self, reason: String, req: &EmbedRequest, target: &MessageTarget) -> PayOutcome {
        let message = self.message(
            Action::PaymentFailed {
                reason: reason.clone(),
                token: req.token.clone(),
            },
            target,
        );
        PayOutcome::Declined {
            reason,
            message,
            target: target.clone(),
        }
    }
}

impl RecoveryBackend for StoreBackend {
    fn load(&self, req: EmbedRequest) -> BoxFuture<'_, Result<RecoveryView, PageError>> {
        Box::pin(self.load_view(req))
    }

    fn pay_now(&self, req: EmbedRequest) -> BoxFuture<'_, Result<PayOutcome, PageError>> {
        Box::pin(self.pay(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embed_ids_are_short_safe_nonces() {
        assert_eq!(
            clean_embed_id(Some("a1-B_2".into())).as_deref(),
            Some("a1-B_2")
        );
        assert_eq!(clean_embed_id(Some(String::new())), None);
        assert_eq!(clean_embed_id(Some("<script>".into())), None);
        assert_eq!(clean_embed_id(Some("x".repeat(65))), None);
        assert_eq!(clean_embed_id(None), None);
    }

    #[test]
    fn times_are_shown_in_kst() {
        // 2026-11-22T04:05:00Z is 13:05 in Seoul.
        let ms = Utc
            .with_ymd_and_hms(2026, 11, 22, 4, 5, 0)
            .unwrap()
            .timestamp_millis();
        assert_eq!(kst_text(ms, "%Y-%m-%d %H:%M"), "2026-11-22 13:05");
    }
}
