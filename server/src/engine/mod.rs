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

pub mod bench;
pub mod message;
pub mod provider;
pub mod sens;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::charging::{Charged, Charger};
use crate::clock::SharedClock;
use crate::domain::case::ChargeSource;
use crate::domain::origin::AllowedOrigins;
use crate::domain::retry;
use crate::domain::scenario::{Scenario, Step};
use crate::domain::token::{LinkKey, TokenHash, link_token};
use crate::store::{
    DueCase, ResendResult, StageOutcome, StageResult, StageStart, StageState, Store, StoreError,
};
use provider::{OutgoingMessage, SendError, SharedProvider};

/// How long a claimed case is a worker's alone, and how long a batch's
/// sends may take from its claim (half the lease, so a send cut off at the
/// deadline has the other half to settle at the provider before another
/// instance may take the case and look for it there before sending again):
/// the one lease setting every queue shares.
pub use crate::worker::{LEASE_MS, SEND_BUDGET};
// A batch's PG calls must end before a pending charge may be resent (the
// resolver, a page's takeover): two requests for one charge in flight at
// once would be one too many.
const _: () = assert!(LEASE_MS / 2 < crate::charging::CHARGE_RETRY_AFTER_MS);

/// A stage that failed this many times is recorded as failed and skipped.
pub const MAX_ATTEMPTS: i64 = 5;

/// The most due cases one pass claims and sends together: the ledger
/// entries, the sends and the outcomes of a batch each take one
/// transaction. Providers that send one message at a time ask for fewer
/// (`MessageProvider::batch_limit`), so that a batch ends within its lease.
pub const BATCH: usize = 1024;

/// Silent charges claimed together (their PG calls run
/// `charging::CONCURRENCY` at a time): a batch (each call up to the PG's
/// 30 s timeout) must end within `SEND_BUDGET`.
pub const CHARGE_BATCH: usize = 256;

#[derive(Clone)]
pub struct Engine {
    store: Store,
    clock: SharedClock,
    provider: SharedProvider,
    /// Key for the per-stage link tokens (HMAC), shared by all instances.
    link_key: LinkKey,
    /// Names this instance in the send ledger (several may share a database).
    worker: Arc<str>,
    /// Scenario versions never change once stored, so each is read once.
    scenarios: Arc<Mutex<HashMap<Option<i64>, Arc<Scenario>>>>,
    /// `SEND_BUDGET`, shorter in tests.
    send_budget: Duration,
    /// Silent retries and the resolver of unknown outcomes; `None` runs
    /// messages only.
    charger: Option<Charger>,
}

impl Engine {
    pub fn new(
        store: Store,
        clock: SharedClock,
        provider: SharedProvider,
        link_key: LinkKey,
    ) -> Engine {
        Engine {
            store,
            clock,
            provider,
            link_key,
            worker: format!(
                "pid{}-{}",
                std::process::id(),
                &crate::domain::token::new_id()[..6]
            )
            .into(),
            scenarios: Arc::default(),
            send_budget: SEND_BUDGET,
            charger: None,
        }
    }

    /// Makes the engine charge: due silent retries, chosen dates, and
    /// charges whose outcome stayed unknown, each pass before the stages
    /// (a stage on a charge's day waits for its outcome).
    pub fn with_charger(mut self, charger: Charger) -> Engine {
        self.charger = Some(charger);
        self
    }

    /// Cuts a batch's sends off sooner than `SEND_BUDGET` (tests).
    pub fn with_send_budget(mut self, budget: Duration) -> Engine {
        self.send_budget = budget;
        self
    }

    /// Processes due charges, then due stages, until none is left (or
    /// `max` were handled); returns how many steps were taken. Tests drive
    /// the engine with this; the worker runs charges and messages as two
    /// queues (`Engine::queues`), so a slow PG never holds a message back.
    pub async fn run_due(&self, max: usize) -> Result<usize, StoreError> {
        let mut done = 0;
        if let Some(charger) = &self.charger {
            done += self.run_charges(charger, max).await?;
        }
        done += self.run_messages(max.saturating_sub(done)).await?;
        Ok(done)
    }

    /// The worker's two queues: messages (stages and resends) and charges
    /// (the resolver, then silent retries), each in a task of its own with
    /// its own budget.
    pub fn queues(self) -> (MessageQueue, Option<ChargeQueue>) {
        let charges = self.charger.clone().map(|charger| ChargeQueue {
            engine: self.clone(),
            charger,
        });
        (MessageQueue(self), charges)
    }

    /// Due resends, then due stages, until none is left (or `max` were
    /// handled).
    async fn run_messages(&self, max: usize) -> Result<usize, StoreError> {
        let mut done = self.run_resends(max).await?;
        while done < max {
            let now = self.clock.now().timestamp_millis();
            let deadline = tokio::time::Instant::now() + self.send_budget;
            let batch = self
                .store
                .claim_due_cases(now, LEASE_MS, (max - done).min(self.batch()) as i64)
                .await?;
            if batch.is_empty() {
                break;
            }
            done += batch.len();
            self.run_batch(batch, deadline).await?;
        }
        Ok(done)
    }

    /// Resolves charges of unknown outcome, then makes due silent charges,
    /// until none is left (or `max` were handled). A batch's PG calls run
    /// `CHARGE_CONCURRENCY` at a time and stop being awaited at the send
    /// budget: a charge cut off there stays pending and the resolver sends
    /// it again with its own key, so a slow PG cannot hold a case past its
    /// lease.
    async fn run_charges(&self, charger: &Charger, max: usize) -> Result<usize, StoreError> {
        let mut done = 0;
        while done < max {
            let limit = (max - done).min(CHARGE_BATCH) as i64;
            let resolved = charger
                .resolve_stale(limit, tokio::time::Instant::now() + self.send_budget)
                .await?;
            done += resolved;
            let now = self.clock.now().timestamp_millis();
            let due = self.store.claim_due_retries(now, LEASE_MS, limit).await?;
            if due.is_empty() && resolved == 0 {
                break;
            }
            done += due.len();
            let deadline = tokio::time::Instant::now() + self.send_budget;
            // The claim gates each (a key, an adapter for the order's PG,
            // the planner asked again now) and stops or moves what may not go.
            let batch: Vec<(i64, ChargeSource)> = due
                .iter()
                .map(|retry| {
                    let source = retry
                        .source
                        .as_deref()
                        .and_then(|s| ChargeSource::parse(s).ok())
                        .unwrap_or(ChargeSource::Retry);
                    (retry.case_id, source)
                })
                .collect();
            match charger.charge_many(&batch, Some(deadline)).await {
                Ok(results) => {
                    let mut paid = 0;
                    for ((case_id, _), result) in batch.iter().zip(results) {
                        match result {
                            Ok(Charged::Paid) => paid += 1,
                            Ok(_) => {}
                            Err(e) => tracing::error!(error = %e, case_id, "silent charge failed"),
                        }
                    }
                    if paid > 0 {
                        tracing::info!(paid, of = batch.len(), "silent charges recovered cases");
                    }
                }
                Err(e) => tracing::error!(error = %e, "silent charges failed"),
            }
        }
        Ok(done)
    }

    /// Cases per pass: as many as the provider can send within a lease.
    fn batch(&self) -> usize {
        self.provider.batch_limit().clamp(1, BATCH)
    }

    async fn scenario(&self, id: Option<i64>) -> Result<Arc<Scenario>, StoreError> {
        if let Some(s) = self.scenarios.lock().expect("not poisoned").get(&id) {
            return Ok(s.clone());
        }
        let s = Arc::new(self.store.scenario(id).await?);
        self.scenarios
            .lock()
            .expect("not poisoned")
            .insert(id, s.clone());
        Ok(s)
    }

    /// One step for each claimed case: end it, or send its due stage.
    async fn run_batch(
        &self,
        batch: Vec<DueCase>,
        deadline: tokio::time::Instant,
    ) -> Result<(), StoreError> {
        let now = self.clock.now().timestamp_millis();
        let mut ends = Vec::new();
        let mut sends = Vec::new();
        let mut postponed = Vec::new();
        for case in &batch {
            // A silent charge later today goes first; the message follows
            // only if it fails.
            if self.charger.is_some()
                && let Some(at) = retry::defer_stage(now, case.next_retry_at)
            {
                postponed.push((case.id, at));
                continue;
            }
            let scenario = self.scenario(case.scenario_id).await?;
            match scenario.step(case.next_stage) {
                Step::End(action) => ends.push((case, action)),
                Step::Send { stage, channel } => {
                    // Nobody gets a message at night: it goes when the
                    // quiet ends, in the order the stages fell due.
                    if let Some(at) = scenario
                        .quiet_hours
                        .and_then(|q| q.hold(case.next_stage_at.unwrap_or(now), now))
                    {
                        postponed.push((case.id, at));
                        continue;
                    }
                    sends.push((case, scenario, stage, channel))
                }
            }
        }
        self.store.postpone_stages(&postponed).await?;
        if !ends.is_empty() {
            for id in self.store.end_cases(&ends, now).await? {
                tracing::info!(case_id = id, "scenario ended without recovery");
            }
        }
        if sends.is_empty() {
            return Ok(());
        }
        let tokens: Vec<String> = sends
            .iter()
            .map(|(case, _, stage, _)| link_token(self.link_key.expose(), case.id, *stage))
            .collect();
        let starts: Vec<StageStart> = sends
            .iter()
            .zip(&tokens)
            .map(|((case, _, stage, channel), token)| StageStart {
                case_id: case.id,
                stage: *stage,
                channel: channel.as_str(),
                dedupe_key: dedupe_key(case.id, *stage),
                link: TokenHash::of(token),
                now_ms: now,
                worker: &self.worker,
            })
            .collect();
        let states = self.store.begin_stages(&starts).await?;

        let mut outcomes = Vec::with_capacity(sends.len());
        let mut pending = Vec::new();
        let mut messages = Vec::new();
        for (((case, scenario, stage, channel), token), state) in
            sends.into_iter().zip(&tokens).zip(states)
        {
            let next_at = next_due(&scenario, case.failed_at, stage, now);
            match state {
                // Already out: only the case's schedule is behind.
                StageState::Sent => outcomes.push(StageOutcome {
                    case,
                    stage,
                    result: StageResult::Sent {
                        provider_ref: String::new(),
                    },
                    next_at_ms: next_at,
                    now_ms: now,
                }),
                StageState::ToSend {
                    attempts,
                    maybe_sent,
                } => {
                    let mut msg = self.message(case, &scenario, stage, channel, token);
                    msg.maybe_sent = maybe_sent || attempts > 0;
                    messages.push(msg);
                    pending.push((case, stage, attempts, next_at));
                }
            }
        }
        let results = self.send_all(&messages, deadline).await;
        for ((case, stage, attempts, next_at), result) in pending.into_iter().zip(results) {
            let case_id = case.id;
            let (result, next_at_ms) = match self.settle(result, attempts) {
                Try::Sent(provider_ref) => (StageResult::Sent { provider_ref }, next_at),
                Try::Retry(error) => {
                    tracing::warn!(case_id, stage, %error, "stage send failed; will retry");
                    (StageResult::Retry { error }, now + backoff_ms(attempts))
                }
                Try::Failed(error) => {
                    tracing::error!(case_id, stage, %error, "stage send failed for good");
                    (StageResult::Failed { error }, next_at)
                }
            };
            outcomes.push(StageOutcome {
                case,
                stage,
                result,
                next_at_ms,
                now_ms: now,
            });
        }
        self.store.record_stage_outcomes(&outcomes).await
    }

    /// Sends stages resent from the console (one pass: there are few), each
    /// with its own dedupe key, under the same lease, budget and retries as
    /// a stage; a case closed since the request gets none.
    async fn run_resends(&self, max: usize) -> Result<usize, StoreError> {
        if max == 0 {
            return Ok(0);
        }
        let now = self.clock.now().timestamp_millis();
        let deadline = tokio::time::Instant::now() + self.send_budget;
        let due = self
            .store
            .claim_due_resends(now, LEASE_MS, max.min(self.batch()) as i64, &self.worker)
            .await?;
        let mut outcomes = Vec::with_capacity(due.len());
        let mut messages = Vec::new();
        let mut pending = Vec::new();
        for (resend, tried) in &due {
            if resend.case_closed {
                outcomes.push((resend.id, ResendResult::Skipped));
                continue;
            }
            let scenario = self.scenario(resend.case.scenario_id).await?;
            if let Some(at) = scenario.quiet_hours.and_then(|q| q.hold(now, now)) {
                // Asked for at night: it goes when the quiet ends.
                outcomes.push((resend.id, ResendResult::Later { due_at_ms: at }));
                continue;
            }
            let token = link_token(self.link_key.expose(), resend.case.id, resend.stage);
            let mut msg = self.message(
                &resend.case,
                &scenario,
                resend.stage,
                resend.channel,
                &token,
            );
            msg.dedupe_key = format!("{}-resend-{}", msg.dedupe_key, resend.id);
            msg.maybe_sent = tried.maybe_sent || tried.attempts > 0;
            // Our clock and the provider's may differ by seconds; the
            // stage itself went out a whole gap before the request.
            msg.sent_since_ms = Some(resend.requested_at - crate::store::RESEND_GAP_MS / 2);
            messages.push(msg);
            pending.push((resend, tried.attempts));
        }
        let results = self.send_all(&messages, deadline).await;
        for ((resend, attempts), result) in pending.into_iter().zip(results) {
            let (case_id, stage) = (resend.case.id, resend.stage);
            outcomes.push((
                resend.id,
                match self.settle(result, attempts) {
                    Try::Sent(provider_ref) => {
                        tracing::info!(case_id, stage, "stage resent");
                        ResendResult::Sent { provider_ref }
                    }
                    Try::Retry(error) => {
                        tracing::warn!(case_id, stage, %error, "stage resend failed; will retry");
                        ResendResult::Retry {
                            error,
                            due_at_ms: now + backoff_ms(attempts),
                        }
                    }
                    Try::Failed(error) => {
                        tracing::error!(case_id, stage, %error, "stage resend failed for good");
                        ResendResult::Failed { error }
                    }
                },
            ));
        }
        self.store.record_resend_outcomes(&outcomes, now).await?;
        Ok(due.len())
    }

    /// Sends a batch, waiting no longer than `deadline`. Past it the lease
    /// is running out: stop waiting, and treat every send of the batch as
    /// of unknown outcome (the next try asks the provider first; the
    /// outbox deduplicates by key).
    async fn send_all(
        &self,
        messages: &[OutgoingMessage],
        deadline: tokio::time::Instant,
    ) -> Vec<Result<String, SendError>> {
        match tokio::time::timeout_at(deadline, self.provider.send_batch(messages)).await {
            Ok(results) => results,
            Err(_) => {
                tracing::warn!(
                    sends = messages.len(),
                    "stage sends ran past their budget; each will be retried"
                );
                messages
                    .iter()
                    .map(|_| {
                        Err(SendError::Retryable(
                            "the send ran past the batch's time budget".into(),
                        ))
                    })
                    .collect()
            }
        }
    }

    /// What one try came to, after `attempts` earlier failed ones (counted
    /// in the metrics).
    fn settle(&self, result: Result<String, SendError>, attempts: i64) -> Try {
        let settled = match result {
            Ok(provider_ref) => Try::Sent(provider_ref),
            Err(SendError::Retryable(error)) if attempts + 1 < MAX_ATTEMPTS => Try::Retry(error),
            Err(SendError::Retryable(error) | SendError::Permanent(error)) => Try::Failed(error),
        };
        let outcome = match settled {
            Try::Sent(_) => "sent",
            Try::Retry(_) => "retry",
            Try::Failed(_) => "failed",
        };
        metrics::counter!("rebound_stage_sends_total", "provider" => self.provider.name(), "outcome" => outcome)
            .increment(1);
        settled
    }

    fn message(
        &self,
        case: &DueCase,
        scenario: &Scenario,
        stage: i64,
        channel: crate::domain::scenario::Channel,
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
            new_card: case.needs_new_card,
            link: &link,
        });
        let last_stage = stage as usize == scenario.stages.len();
        OutgoingMessage {
            dedupe_key: dedupe_key(case.id, stage),
            maybe_sent: false,
            sent_since_ms: None,
            partner_id: case.partner_id,
            case_id: case.id,
            stage,
            last_stage,
            channel,
            business_name: case.business_name.clone(),
            recipient: case.customer_phone.clone(),
            body,
            link,
        }
    }
}

/// One send try, settled.
enum Try {
    Sent(String),
    /// Failed for now: try again after a backoff.
    Retry(String),
    /// Failed for good (or too often).
    Failed(String),
}

/// What the provider deduplicates a stage's message on: the same on every
/// try, on every instance.
fn dedupe_key(case_id: i64, stage: i64) -> String {
    format!("rb-case-{case_id}-stage-{stage}")
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

/// The engine's messages: stages and console resends.
pub struct MessageQueue(Engine);

impl crate::worker::Queue for MessageQueue {
    fn name(&self) -> &'static str {
        "engine"
    }

    /// A few batches of stages per pass.
    fn batch(&self) -> usize {
        self.0.batch() * 4
    }

    fn run_due(&self, max: usize) -> crate::worker::BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(self.0.run_messages(max))
    }
}

/// The engine's charges: the resolver of unknown outcomes, then silent
/// retries. A queue of its own: a PG that answers slowly (or not at all)
/// holds back only charges, never a customer's message.
pub struct ChargeQueue {
    engine: Engine,
    charger: Charger,
}

impl crate::worker::Queue for ChargeQueue {
    fn name(&self) -> &'static str {
        "charges"
    }

    fn batch(&self) -> usize {
        CHARGE_BATCH * 4
    }

    fn run_due(&self, max: usize) -> crate::worker::BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(self.engine.run_charges(&self.charger, max))
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
