//! Delivers server-to-server notices (design section 7): the rows
//! `store::events` wrote inside each state change, to the partner's URL,
//! signed per Standard Webhooks, acknowledged only by STOVE's
//! `{"code":0,"message":"OK"}`, retried for about three days.
//!
//! Like the scenario engine, workers claim due rows under a lease (`SKIP
//! LOCKED` on Postgres), so several instances share the work and a worker
//! killed mid-delivery only delays the notice: after the lease it goes out
//! again with the same `webhook-id` and `tid`, which the partner
//! deduplicates on.

pub mod bench;
pub mod http;
pub mod schedule;

use futures_util::StreamExt;

use crate::clock::SharedClock;
use crate::store::{AttemptOutcome, DueEvent, NextStep, Store, StoreError};
use http::{Sender, Signed};

/// The lease every queue shares: longer than an attempt's timeout (15 s).
pub use crate::worker::LEASE_MS;
/// Notices claimed, and sent at once, per pass.
const BATCH: i64 = 64;

#[derive(Clone)]
pub struct Notifier {
    store: Store,
    clock: SharedClock,
    sender: std::sync::Arc<Sender>,
    /// `worker::SEND_BUDGET`, shorter in tests.
    send_budget: std::time::Duration,
}

/// A fresh signing secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    format!(
        "{}{}",
        protocol::webhook::SECRET_PREFIX,
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

impl Notifier {
    /// `allow_private`: deliver to loopback and private addresses too (dev,
    /// tests, a partner backend on the same private network).
    pub fn new(store: Store, clock: SharedClock, allow_private: bool) -> Notifier {
        Notifier {
            store,
            clock,
            sender: std::sync::Arc::new(Sender::new(allow_private)),
            send_budget: crate::worker::SEND_BUDGET,
        }
    }

    /// Stops waiting for a batch's deliveries sooner than `SEND_BUDGET` (tests).
    pub fn with_send_budget(mut self, budget: std::time::Duration) -> Notifier {
        self.send_budget = budget;
        self
    }

    /// Delivers due notices until none is left (or `max` were tried);
    /// returns how many attempts were made.
    ///
    /// A batch takes due notices round-robin across partners (the claim's
    /// `fair_by`), sends them all at once, and stops waiting at the send
    /// budget: a partner whose endpoint hangs holds its own notices, never
    /// a batch's worth of everyone's, and never a batch past its lease
    /// (another instance would send it again). A notice cut off at the
    /// budget is retried soon, with the same `webhook-id`.
    pub async fn run_due(&self, max: usize) -> Result<usize, StoreError> {
        let mut done = 0;
        while done < max {
            let now = self.clock.now().timestamp_millis();
            let deadline = tokio::time::Instant::now() + self.send_budget;
            let batch = self
                .store
                .claim_due_events(now, LEASE_MS, (max - done).min(BATCH as usize) as i64)
                .await?;
            if batch.is_empty() {
                break;
            }
            done += batch.len();
            let claimed: Vec<(i64, i64)> = batch.iter().map(|e| (e.id, e.attempts)).collect();
            let mut attempts = futures_util::stream::iter(batch)
                .map(|e| self.attempt(e))
                .buffer_unordered(BATCH as usize);
            let mut outcomes: Vec<AttemptOutcome> = Vec::with_capacity(claimed.len());
            loop {
                match tokio::time::timeout_at(deadline, attempts.next()).await {
                    Ok(Some(outcome)) => outcomes.push(outcome?),
                    Ok(None) => break,
                    Err(_) => {
                        tracing::warn!(
                            unfinished = claimed.len() - outcomes.len(),
                            "notice deliveries ran past their budget; each will be retried"
                        );
                        break;
                    }
                }
            }
            drop(attempts);
            let now = self.clock.now().timestamp_millis();
            for (event_id, attempts) in claimed {
                if outcomes.iter().all(|o| o.event_id != event_id) {
                    let next = match schedule::next_attempt_at(now, attempts + 1, 0.5, None) {
                        Some(at) => NextStep::RetryAt(at),
                        None => NextStep::GiveUp,
                    };
                    metrics::counter!("rebound_notice_deliveries_total", "outcome" => "timed_out")
                        .increment(1);
                    outcomes.push(AttemptOutcome {
                        event_id,
                        status_code: None,
                        error: Some("no answer within the batch's time budget".into()),
                        response_excerpt: None,
                        duration_ms: self.send_budget.as_millis() as i64,
                        next,
                    });
                }
            }
            self.store.record_attempts(&outcomes, now).await?;
        }
        Ok(done)
    }

    async fn attempt(&self, e: DueEvent) -> Result<AttemptOutcome, StoreError> {
        let no_endpoint = AttemptOutcome {
            event_id: e.id,
            status_code: None,
            error: None,
            response_excerpt: None,
            duration_ms: 0,
            next: NextStep::NoEndpoint,
        };
        let url = match (&e.notify_url, e.notify_disabled_at) {
            (Some(url), None) if !url.is_empty() => url.clone(),
            _ => return Ok(no_endpoint),
        };
        let secret = match &e.webhook_secret {
            Some(s) => s.clone(),
            None => {
                self.store
                    .webhook_secret(e.partner_id, &new_secret())
                    .await?
            }
        };
        // The receiver compares this with its own clock: real time, always.
        let timestamp = chrono::Utc::now().timestamp();
        let mut signature =
            protocol::webhook::sign(&secret, &e.webhook_id, timestamp, e.body.as_bytes()).map_err(
                |_| StoreError::Integrity("a stored webhook secret is not whsec_ base64"),
            )?;
        // During a rotation both secrets sign; the partner may verify with either.
        let now = self.clock.now().timestamp_millis();
        if let (Some(prev), Some(until)) = (&e.webhook_secret_previous, e.webhook_previous_until)
            && until > now
            && let Ok(old) =
                protocol::webhook::sign(prev, &e.webhook_id, timestamp, e.body.as_bytes())
        {
            signature.push(' ');
            signature.push_str(&old);
        }
        let answer = self
            .sender
            .post(
                &url,
                &Signed {
                    webhook_id: &e.webhook_id,
                    timestamp,
                    signature: &signature,
                },
                &e.body,
            )
            .await;
        let failed_attempts = e.attempts + 1;
        let next = if answer.acknowledged {
            NextStep::Delivered
        } else if answer.gone {
            NextStep::DisableEndpoint
        } else {
            let jitter = {
                let mut b = [0u8; 2];
                getrandom::fill(&mut b).expect("the OS random source is available");
                f64::from(u16::from_le_bytes(b)) / 65_536.0
            };
            match schedule::next_attempt_at(now, failed_attempts, jitter, answer.retry_after_secs) {
                Some(at) => NextStep::RetryAt(at),
                None => NextStep::GiveUp,
            }
        };
        let outcome = match next {
            NextStep::Delivered => "delivered",
            NextStep::DisableEndpoint => "endpoint_gone",
            NextStep::RetryAt(_) => "retry",
            NextStep::GiveUp => "failed",
            NextStep::NoEndpoint => "no_endpoint",
        };
        metrics::counter!("rebound_notice_deliveries_total", "outcome" => outcome).increment(1);
        if !answer.acknowledged {
            tracing::warn!(
                event = %e.webhook_id,
                attempt = failed_attempts,
                error = answer.error.as_deref().unwrap_or(""),
                ?next,
                "notice not acknowledged"
            );
        }
        Ok(AttemptOutcome {
            event_id: e.id,
            status_code: answer.status.map(i64::from),
            error: answer.error,
            response_excerpt: answer.excerpt,
            duration_ms: answer.duration_ms,
            next,
        })
    }
}

impl crate::worker::Queue for Notifier {
    fn name(&self) -> &'static str {
        "notices"
    }

    fn batch(&self) -> usize {
        BATCH as usize * 4
    }

    fn run_due(&self, max: usize) -> crate::worker::BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(Notifier::run_due(self, max))
    }
}

/// A signed test notice (`noti_type` `rebound.test`) to the partner's
/// notify URL, sent at once and recorded nowhere, so the partner can check
/// its endpoint and signature check from the console. `None` when the
/// partner has no notify URL.
pub async fn send_test(
    store: &Store,
    partner_id: i64,
    allow_private: bool,
) -> Result<Option<http::Answer>, StoreError> {
    let (notify_url, _, _, _) = store.partner_settings(partner_id).await?;
    let Some(url) = notify_url.filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let secret = store.webhook_secret(partner_id, &new_secret()).await?;
    let timestamp = chrono::Utc::now().timestamp();
    let webhook_id = format!(
        "msg_test_{}",
        crate::domain::token::time_ordered_id(timestamp * 1000)
    );
    let body = serde_json::json!({
        "noti_type": "rebound.test",
        "webhook_id": webhook_id,
        "created_at": chrono::Utc::now().to_rfc3339(),
        "livemode": false,
    })
    .to_string();
    let signature = protocol::webhook::sign(&secret, &webhook_id, timestamp, body.as_bytes())
        .map_err(|_| StoreError::Integrity("a stored webhook secret is not whsec_ base64"))?;
    let sender = Sender::new(allow_private);
    Ok(Some(
        sender
            .post(
                &url,
                &Signed {
                    webhook_id: &webhook_id,
                    timestamp,
                    signature: &signature,
                },
                &body,
            )
            .await,
    ))
}
