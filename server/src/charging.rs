//! The one way money moves: the recovery page, a card change, the engine's
//! silent retries and the resolver of unknown outcomes all charge through
//! [`Charger`], which claims the case (one winner), sends exactly what it
//! claimed to the gateway and records the outcome with its retry plan.

use futures_util::StreamExt;

use crate::clock::SharedClock;
use crate::domain::case::{CaseStatus, ChargeSource};
use crate::domain::decline::{Decline, Wait};
use crate::domain::retry::{self, Blocked};
use crate::domain::token::new_id;
use crate::gateway::{ChargeError, ChargeRequest, Gateways, Lookup, Receipt};
use crate::store::{
    ChargeClaim, ChargeDone, ChargeFailure, ChargeSpec, ChargeStart, StaleCharge, Store, StoreError,
};

/// A charge whose outcome is unknown may be resent (same idempotency key)
/// after this long; shorter than any PG's own request timeout would risk
/// two requests in flight at once.
pub const CHARGE_RETRY_AFTER_MS: i64 = 60_000;

/// How long a PG keeps an idempotency key (Toss: 15 days), less a day: an
/// older key is never resent (the PG may have forgotten it and charge
/// anew), and a charge still not found by then was not made.
pub const KEY_KEPT_MS: i64 = 14 * 24 * 3_600_000;

/// How long a pending charge of a case closed meanwhile is looked up before
/// it is settled as not made: a PG can record a payment late.
pub const CLOSED_LOOKUP_MS: i64 = 24 * 3_600_000;

/// PG calls of one batch in flight at once.
pub const CONCURRENCY: usize = 16;

/// Stands in for a PG code when there was no key to send.
const NO_BILLING_KEY: &str = "NO_BILLING_KEY";

/// What a charge came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charged {
    Paid,
    /// Declined; the case is payable again and its next retry planned.
    Declined(Decline),
    /// The PG's answer was lost: the charge stays pending and is resent
    /// with the same key (the resolver, or the next attempt).
    Unknown,
    /// Someone else is charging, or the case is closed.
    Busy(CaseStatus),
    /// The gates said not now, or not with this card (nothing was sent).
    Blocked(Blocked),
    /// The charge went through for a case closed meanwhile: flagged for
    /// refund, and the partner told.
    ClosedMeanwhile,
}

/// What an approval came to once recorded: a recovery, or (the partner
/// closed the case while the charge was in flight) a payment their
/// decision overrules, marked NEEDS_REFUND for the operator and told to
/// the partner.
fn paid(case_id: i64, charge_id: i64, recovered: bool) -> Charged {
    if recovered {
        tracing::info!(case_id, charge_id, "case recovered by payment");
        Charged::Paid
    } else {
        tracing::error!(
            case_id,
            charge_id,
            "charged a case closed meanwhile; refund needed"
        );
        Charged::ClosedMeanwhile
    }
}

/// `rebound_charges_total{source, outcome, decline_class}`: every charge
/// attempt's end, whatever made it.
fn count(source: ChargeSource, answer: &Result<Charged, StoreError>) {
    let (outcome, class) = match answer {
        Ok(Charged::Paid) => ("paid", ""),
        Ok(Charged::Declined(d)) => ("declined", d.class().as_str()),
        Ok(Charged::Unknown) => ("unknown", ""),
        Ok(Charged::Busy(_)) => ("busy", ""),
        Ok(Charged::Blocked(_)) => ("blocked", ""),
        Ok(Charged::ClosedMeanwhile) => ("refund_needed", ""),
        Err(_) => ("error", ""),
    };
    metrics::counter!(
        "rebound_charges_total",
        "source" => source.as_str(),
        "outcome" => outcome,
        "decline_class" => class
    )
    .increment(1);
}

/// Tells the requests of this process waiting on a case that a charge on
/// it was just recorded, so a second pay request waits for the first
/// without polling the database (and holding no connection while it
/// waits). A hint only: a waiter reads the case once woken, and looks
/// again now and then for charges another instance made.
#[derive(Clone)]
pub struct Settled(tokio::sync::broadcast::Sender<i64>);

impl Default for Settled {
    fn default() -> Self {
        Settled(tokio::sync::broadcast::channel(1024).0)
    }
}

impl Settled {
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<i64> {
        self.0.subscribe()
    }

    fn tell(&self, case_id: i64) {
        // No one waiting is the usual case, not an error.
        let _ = self.0.send(case_id);
    }
}

#[derive(Clone)]
pub struct Charger {
    pub store: Store,
    pub gateways: Gateways,
    pub clock: SharedClock,
    pub settled: Settled,
}

impl Charger {
    fn now(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// Charges the case's amount with the order's billing key, once however
    /// many callers arrive: the first claims the case, the rest see it busy
    /// (or take over a charge whose outcome was never recorded, and resend
    /// it with its own key).
    pub async fn charge(&self, case_id: i64, source: ChargeSource) -> Result<Charged, StoreError> {
        self.charge_many(&[(case_id, source)], None)
            .await?
            .pop()
            .ok_or(StoreError::Integrity("a charge answered nothing"))?
    }

    /// `charge` for a batch of cases (the engine's silent charges): one
    /// transaction claims them all, the PG calls run `CONCURRENCY` at a
    /// time, one transaction records every approval. Answers in order, each
    /// case on its own: one case's trouble does not undo the others'.
    ///
    /// At `deadline` it stops waiting for PG calls still in flight (their
    /// charges stay pending: the resolver settles them) and records what
    /// came back, declines with their class included.
    pub async fn charge_many(
        &self,
        cases: &[(i64, ChargeSource)],
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Vec<Result<Charged, StoreError>>, StoreError> {
        let now = self.now();
        let starts: Vec<ChargeStart> = cases
            .iter()
            .map(|(case_id, source)| ChargeStart {
                case_id: *case_id,
                idempotency_key: format!("rb-{case_id}-{}", new_id()),
                source: *source,
            })
            .collect();
        let stale_before = now - CHARGE_RETRY_AFTER_MS;
        let server_wide = |pg: &str| self.gateways.server_wide_for(pg);
        let claims: Vec<Result<ChargeClaim, StoreError>> = match self
            .store
            .claim_charges(&starts, now, stale_before, &server_wide)
            .await
        {
            Ok(claims) => claims.into_iter().map(Ok).collect(),
            Err(e) if starts.len() > 1 => {
                // One bad case must not keep the batch from its
                // charges: claim them one by one.
                tracing::warn!(error = %e, "a batch claim failed; claiming one by one");
                let mut claims = Vec::with_capacity(starts.len());
                for start in &starts {
                    let claim = self
                        .store
                        .claim_charges(std::slice::from_ref(start), now, stale_before, &server_wide)
                        .await
                        .and_then(|mut c| {
                            c.pop()
                                .ok_or(StoreError::Integrity("a claim answered nothing"))
                        });
                    claims.push(claim);
                }
                claims
            }
            Err(e) => return Err(e),
        };
        let mut answers: Vec<Option<Result<Charged, StoreError>>> =
            (0..cases.len()).map(|_| None).collect();
        let mut sends = Vec::new();
        for (i, (claim, (case_id, _))) in claims.into_iter().zip(cases).enumerate() {
            match claim {
                Ok(ChargeClaim::Claimed { charge_id, spec }) => {
                    sends.push((i, *case_id, charge_id, spec))
                }
                Ok(ChargeClaim::Busy(status)) => answers[i] = Some(Ok(Charged::Busy(status))),
                Ok(ChargeClaim::Blocked(b)) => answers[i] = Some(Ok(Charged::Blocked(b))),
                Err(e) => answers[i] = Some(Err(e)),
            }
        }
        let mut calls = futures_util::stream::iter(sends)
            .map(|(i, case_id, charge_id, spec)| async move {
                let account = spec.account_id;
                (
                    i,
                    case_id,
                    charge_id,
                    account,
                    self.call_gateway(spec).await,
                )
            })
            .buffer_unordered(CONCURRENCY);
        let mut results = Vec::new();
        loop {
            let next = match deadline {
                Some(at) => match tokio::time::timeout_at(at, calls.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        tracing::warn!(
                            "charges ran past their budget; the resolver settles the unfinished ones"
                        );
                        break;
                    }
                },
                None => calls.next().await,
            };
            match next {
                Some(result) => results.push(result),
                None => break,
            }
        }
        drop(calls);
        let mut approved = Vec::new();
        for (i, case_id, charge_id, account, result) in results {
            match result {
                Ok(receipt) => approved.push((
                    i,
                    ChargeDone {
                        case_id,
                        charge_id,
                        gateway_ref: receipt.gateway_ref,
                    },
                )),
                Err(e) => {
                    answers[i] = Some(self.record_failure(case_id, charge_id, account, e).await)
                }
            }
        }
        let done: Vec<ChargeDone> = approved.iter().map(|(_, d)| d.clone()).collect();
        match self.store.complete_charges(&done, self.now()).await {
            Ok(recorded) => {
                for ((i, d), recovered) in approved.into_iter().zip(recorded) {
                    answers[i] = Some(Ok(paid(d.case_id, d.charge_id, recovered)));
                }
            }
            // Approved at the PG but not recorded: still pending here, so
            // the resolver finds them at the PG and records them.
            Err(e) => {
                tracing::error!(error = %e, approvals = approved.len(), "recording approvals failed");
                for (i, _) in approved {
                    answers[i] = Some(Ok(Charged::Unknown));
                }
            }
        }
        // Calls cut off at the deadline: outcome unknown, pending.
        let answers: Vec<Result<Charged, StoreError>> = answers
            .into_iter()
            .map(|a| a.unwrap_or(Ok(Charged::Unknown)))
            .collect();
        for ((case_id, source), answer) in cases.iter().zip(&answers) {
            count(*source, answer);
            if !matches!(answer, Ok(Charged::Busy(_) | Charged::Blocked(_))) {
                self.settled.tell(*case_id);
            }
        }
        Ok(answers)
    }

    /// Settles up to `limit` charges whose outcome has been unknown for a
    /// minute, whether or not the customer comes back: the PG is asked
    /// for the payment by our order id; found, it is recorded (and flagged
    /// for refund if the partner closed the case meanwhile).
    ///
    /// Found failed, it is recorded with the PG's code. Not found (or the
    /// PG cannot say), a charge its case still waits for is sent again with
    /// its own key, for as long as the PG keeps keys (`KEY_KEPT_MS`). "Not found" cannot tell a charge that
    /// never left us from one still in flight (a slow batch of another
    /// instance, a PG that records late); concluding "not charged" there
    /// and planning a fresh charge under a new key is how a customer pays
    /// twice. The same key makes both safe: the PG charges once and answers
    /// every send with the first outcome. A charge of a closed case is
    /// never sent again (that could be its first charge): not found for a
    /// day (`CLOSED_LOOKUP_MS`), it failed without charging (should it be
    /// approved after all, the record flags it for refund); the PG unable to
    /// say, it is asked again later.
    /// Returns how many it took up.
    ///
    /// The PG calls run `CONCURRENCY` at a time and are waited for until
    /// `deadline` (within the lease): one still out then stays pending, its
    /// claim's time moved, and is taken up again a minute on.
    pub async fn resolve_stale(
        &self,
        limit: i64,
        deadline: tokio::time::Instant,
    ) -> Result<usize, StoreError> {
        let now = self.now();
        let stale = self
            .store
            .claim_stale_charges(now, now - CHARGE_RETRY_AFTER_MS, limit)
            .await?;
        let taken = stale.len();
        let mut calls = futures_util::stream::iter(stale)
            .map(|c| async move { (c.case_id, self.resolve(c).await) })
            .buffer_unordered(CONCURRENCY);
        loop {
            let next = match tokio::time::timeout_at(deadline, calls.next()).await {
                Ok(next) => next,
                Err(_) => {
                    tracing::warn!("resolving ran past its budget; the rest is taken up again");
                    break;
                }
            };
            let Some((case_id, r)) = next else { break };
            self.settled.tell(case_id);
            // One case's trouble must not hold up the others.
            if let Err(e) = r {
                tracing::error!(error = %e, case_id, "resolving a charge failed");
            }
        }
        Ok(taken)
    }

    async fn resolve(&self, stale: StaleCharge) -> Result<Charged, StoreError> {
        let StaleCharge {
            charge_id,
            case_id,
            spec,
            case_paying,
            created_at_ms,
        } = stale;
        tracing::info!(case_id, charge_id, "settling a charge of unknown outcome");
        let age = self.now() - created_at_ms;
        // Nothing reaches the PG in the card companies' night window, a
        // resend neither: it is looked up, and sent again after the window.
        let may_send = age < KEY_KEPT_MS && retry::maintenance_end(self.now()).is_none();
        let lookup = match self.gateways.adapter(spec.account_id).await {
            Ok(adapter) => adapter.lookup(spec.idempotency_key.clone()).await,
            Err(e) => Err(e),
        };
        let account = spec.account_id;
        match lookup {
            Ok(Lookup::Charged(receipt)) => {
                self.record_paid(case_id, charge_id, &receipt.gateway_ref)
                    .await
            }
            // The PG recorded it failed: its code says how.
            Ok(Lookup::Failed { code, reason }) => {
                self.record_failure(
                    case_id,
                    charge_id,
                    account,
                    ChargeError::Declined { code, reason },
                )
                .await
            }
            // Past the PG's memory of the key, a resend could charge anew,
            // and a charge not found by then was never made.
            Ok(Lookup::NotFound) if age >= KEY_KEPT_MS => {
                self.not_charged(case_id, charge_id).await
            }
            Ok(Lookup::NotFound) if case_paying && may_send => {
                tracing::info!(
                    case_id,
                    "no payment at the PG yet; sending the same charge again"
                );
                self.store.charge_resending(charge_id, self.now()).await?;
                self.send(case_id, charge_id, spec).await
            }
            Err(e) if case_paying && may_send => {
                tracing::warn!(error = %e, case_id, "the PG cannot say; sending the same charge again");
                self.store.charge_resending(charge_id, self.now()).await?;
                self.send(case_id, charge_id, spec).await
            }
            // The case closed meanwhile: never sent again (that could be its
            // first charge). A PG can record late, so it is looked up for a
            // day before it is taken for not made.
            Ok(Lookup::NotFound) if !case_paying && age >= CLOSED_LOOKUP_MS => {
                self.not_charged(case_id, charge_id).await
            }
            Ok(Lookup::NotFound) => {
                self.store
                    .charge_outcome_unknown(charge_id, self.now())
                    .await?;
                Ok(Charged::Unknown)
            }
            Err(e) => {
                tracing::warn!(error = %e, case_id, "the PG cannot say; asking again later");
                self.store
                    .charge_outcome_unknown(charge_id, self.now())
                    .await?;
                Ok(Charged::Unknown)
            }
        }
    }

    /// Settles a charge the PG has no record of as never made.
    async fn not_charged(&self, case_id: i64, charge_id: i64) -> Result<Charged, StoreError> {
        self.store
            .fail_charge(
                case_id,
                charge_id,
                &ChargeFailure {
                    code: Some("NOT_CHARGED"),
                    decline: Decline::Soft(Wait::Soon),
                    reason: "결제가 처리되지 않았어요",
                },
                self.now(),
            )
            .await?;
        Ok(Charged::Declined(Decline::Soft(Wait::Soon)))
    }

    /// Records an approved charge.
    async fn record_paid(
        &self,
        case_id: i64,
        charge_id: i64,
        gateway_ref: &str,
    ) -> Result<Charged, StoreError> {
        let recorded = self
            .store
            .complete_charge(case_id, charge_id, gateway_ref, self.now())
            .await?;
        Ok(paid(case_id, charge_id, recorded))
    }

    /// Sends exactly the claimed charge and records what the PG said.
    async fn send(
        &self,
        case_id: i64,
        charge_id: i64,
        spec: ChargeSpec,
    ) -> Result<Charged, StoreError> {
        let account = spec.account_id;
        match self.call_gateway(spec).await {
            Ok(receipt) => {
                self.record_paid(case_id, charge_id, &receipt.gateway_ref)
                    .await
            }
            Err(e) => self.record_failure(case_id, charge_id, account, e).await,
        }
    }

    /// Exactly the claimed charge, to the account it was claimed for. A
    /// case without a billing key is a decline without a PG call.
    async fn call_gateway(&self, spec: ChargeSpec) -> Result<Receipt, ChargeError> {
        let Some(billing_key) = spec.billing_key else {
            return Err(ChargeError::Declined {
                code: NO_BILLING_KEY.to_owned(),
                reason: "등록된 결제 수단이 없어요".to_owned(),
            });
        };
        self.gateways
            .adapter(spec.account_id)
            .await?
            .charge(ChargeRequest {
                billing_key,
                customer_key: spec.customer_key,
                amount: spec.amount,
                order_name: spec.order_name,
                idempotency_key: spec.idempotency_key,
            })
            .await
    }

    /// Records a decline (with its class and the next retry) or leaves an
    /// unknown outcome pending for the resolver.
    async fn record_failure(
        &self,
        case_id: i64,
        charge_id: i64,
        account_id: Option<i64>,
        error: ChargeError,
    ) -> Result<Charged, StoreError> {
        match error {
            ChargeError::Declined { code, reason } => {
                let (decline, code) = if code == NO_BILLING_KEY {
                    (Decline::Unknown, None)
                } else {
                    // The adapter that answered reads its own codes.
                    let class = match self.gateways.adapter(account_id).await {
                        Ok(adapter) => adapter.classify(&code),
                        Err(_) => Decline::Unknown,
                    };
                    (class, Some(code))
                };
                if decline == Decline::Setup {
                    // Not the customer's card: our keys or settings at the
                    // PG. Retries stop for the partner until fixed.
                    tracing::error!(
                        case_id,
                        code,
                        "the payment gateway refused our configuration; silent retries stop for this partner"
                    );
                } else {
                    tracing::info!(case_id, code, class = %decline.class(), "charge declined");
                }
                self.store
                    .fail_charge(
                        case_id,
                        charge_id,
                        &ChargeFailure {
                            code: code.as_deref(),
                            decline,
                            reason: &reason,
                        },
                        self.now(),
                    )
                    .await?;
                Ok(Charged::Declined(decline))
            }
            ChargeError::Unavailable(e) => {
                tracing::warn!(error = %e, case_id, "charge outcome unknown; will settle it");
                self.store
                    .charge_outcome_unknown(charge_id, self.now())
                    .await?;
                Ok(Charged::Unknown)
            }
        }
    }
}
