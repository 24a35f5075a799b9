//! The scenario engine (design section 6): sends each due stage's message
//! once, moves the case to its next stage, and ends cases nobody recovered.
//!
//! Durability comes from the database, not from this process: a case is due
//! when `next_stage_at <= now`; a worker claims due cases under a lease (other
//! workers and instances skip them), enters the stage in the `stage_sends`
//! ledger (unique per case and stage) before sending, sends with a dedupe key
//! the provider honours, then records the outcome and the next due time in
//! one transaction. A worker killed anywhere in between leaves either nothing
//! done (the lease expires, another worker takes over) or a `SENDING` entry
//! whose resend the provider recognises: no stage goes out twice.

pub mod message;
pub mod provider;

use std::time::Duration;

use crate::clock::SharedClock;
use crate::domain::origin::AllowedOrigins;
use crate::domain::scenario::{Scenario, Step};
use crate::domain::token::{TokenHash, link_token};
use crate::store::{DueCase, StageState, Store, StoreError};
use provider::{OutgoingMessage, SendError, SharedProvider};

/// How long a claimed case is a worker's alone; longer than any send.
pub const LEASE_MS: i64 = 60_000;
/// A stage that failed this many times is recorded as failed and skipped.
pub const MAX_ATTEMPTS: i64 = 5;

#[derive(Clone)]
pub struct Engine {
    store: Store,
    clock: SharedClock,
    provider: SharedProvider,
    /// Key for the per-stage link tokens (HMAC), shared by all instances.
    link_key: String,
}

impl Engine {
    pub async fn new(
        store: Store,
        clock: SharedClock,
        provider: SharedProvider,
    ) -> Result<Engine, StoreError> {
        let link_key = store
            .server_secret("link_key", &crate::domain::token::new_id())
            .await?;
        Ok(Engine {
            store,
            clock,
            provider,
            link_key,
        })
    }

    /// Processes due cases until none is left (or `max` were handled);
    /// returns how many stage steps were taken.
    pub async fn run_due(&self, max: usize) -> Result<usize, StoreError> {
        let mut done = 0;
        while done < max {
            let now = self.clock.now().timestamp_millis();
            let batch = self
                .store
                .claim_due_cases(now, LEASE_MS, (max - done).min(64) as i64)
                .await?;
            if batch.is_empty() {
                break;
            }
            for case in batch {
                self.step(&case).await?;
                done += 1;
            }
        }
        Ok(done)
    }

    async fn step(&self, case: &DueCase) -> Result<(), StoreError> {
        let scenario = self.store.scenario(case.scenario_id).await?;
        let now = self.clock.now().timestamp_millis();
        match scenario.step(case.next_stage) {
            Step::End(action) => {
                if self.store.end_case(case.id, action, now).await? {
                    tracing::info!(
                        case_id = case.id,
                        ?action,
                        "scenario ended without recovery"
                    );
                }
                Ok(())
            }
            Step::Send { stage, channel } => {
                let token = link_token(&self.link_key, case.id, stage);
                let dedupe_key = format!("rb-case-{}-stage-{stage}", case.id);
                let state = self
                    .store
                    .begin_stage(
                        case.id,
                        stage,
                        channel.as_str(),
                        &dedupe_key,
                        &TokenHash::of(&token),
                        now,
                    )
                    .await?;
                let next_due = next_due(&scenario, case.failed_at, stage, now);
                let attempts = match state {
                    StageState::Sent => {
                        return self
                            .store
                            .finish_stage(case.id, stage, Ok(""), next_due, now)
                            .await;
                    }
                    StageState::ToSend { attempts } => attempts,
                };
                let msg = self.message(case, &scenario, stage, channel, dedupe_key, &token);
                match self.provider.send(&msg).await {
                    Ok(reference) => {
                        self.store
                            .finish_stage(case.id, stage, Ok(&reference), next_due, now)
                            .await
                    }
                    Err(SendError::Retryable(e)) if attempts + 1 < MAX_ATTEMPTS => {
                        tracing::warn!(case_id = case.id, stage, error = %e, "stage send failed; will retry");
                        let retry_at = now + backoff_ms(attempts);
                        self.store.retry_stage(case.id, stage, &e, retry_at).await
                    }
                    Err(SendError::Retryable(e) | SendError::Permanent(e)) => {
                        tracing::error!(case_id = case.id, stage, error = %e, "stage send failed for good");
                        self.store
                            .finish_stage(case.id, stage, Err(&e), next_due, now)
                            .await
                    }
                }
            }
        }
    }

    fn message(
        &self,
        case: &DueCase,
        scenario: &Scenario,
        stage: i64,
        channel: crate::domain::scenario::Channel,
        dedupe_key: String,
        token: &str,
    ) -> OutgoingMessage {
        let page = case.recovery_page_url.clone().unwrap_or_else(|| {
            AllowedOrigins::from_stored(&case.embed_origins)
                .first()
                .map(|o| format!("{}/", o.as_str()))
                .unwrap_or_default()
        });
        let link = message::link(&page, token);
        let failed_on = crate::clock::kst_text(case.failed_at, "%Y-%m-%d");
        let body = message::render(&message::MessageFacts {
            business_name: &case.business_name,
            customer_name: &case.customer_name,
            product_name: case.product_name.as_deref().unwrap_or("구독"),
            amount: case.amount,
            failed_on: &failed_on,
            stage,
            last_stage: stage as usize == scenario.stages.len(),
            link: &link,
        });
        OutgoingMessage {
            dedupe_key,
            partner_id: case.partner_id,
            case_id: case.id,
            stage,
            channel,
            recipient: case.customer_phone.clone(),
            body,
            link,
        }
    }
}

/// The next stage's due time: its place in the scenario, but never closer to
/// this send than the scenario's own spacing (a stage delayed by a date
/// change or retries does not drag the next one in right behind it).
fn next_due(scenario: &Scenario, failed_at: i64, stage: i64, now: i64) -> i64 {
    let planned = scenario.due_at(failed_at, stage + 1);
    let spacing = planned - scenario.due_at(failed_at, stage);
    planned.max(now + spacing)
}

/// 1 min, 5 min, 25 min, ~2 h: retries of a failed send.
fn backoff_ms(attempts: i64) -> i64 {
    60_000 * 5_i64.pow(attempts.clamp(0, 4) as u32)
}

/// Runs the engine every second until `shutdown` flips.
pub async fn run_worker(engine: Engine, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        if let Err(e) = engine.run_due(1_000).await {
            tracing::error!(error = %e, "scenario engine pass failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_stage_keeps_its_spacing_to_the_next() {
        let s = Scenario::default();
        let day = 86_400_000;
        assert_eq!(next_due(&s, 0, 1, 0), 3 * day, "on time");
        assert_eq!(
            next_due(&s, 0, 2, 7 * day),
            10 * day,
            "stage 2 sent on day 7"
        );
        assert_eq!(backoff_ms(0), 60_000);
        assert_eq!(backoff_ms(9), 60_000 * 625);
    }
}
