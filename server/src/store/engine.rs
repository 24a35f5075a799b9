//! What the scenario engine reads and writes: scenarios, due cases (claimed
//! under a lease), the send ledger, link tokens and the end of a case.

use std::collections::HashMap;

use sqlx::FromRow;

use super::events;
use super::{
    IDS_PER_STATEMENT, Leased, ROWS_PER_STATEMENT, Store, StoreError, WorkQueue, allowing, id_list,
    placeholders,
};
use crate::domain::case::CaseEvent;
use crate::domain::event::{Event, Subject, SubsStatus};
use crate::domain::retry::Stop;
use crate::domain::scenario::{EndAction, Scenario};
use crate::domain::token::{TokenHash, TokenKey};

/// A case whose next stage is due, with what its message and its notices
/// need.
#[derive(Debug, Clone)]
pub struct DueCase {
    pub id: i64,
    pub partner_id: i64,
    pub scenario_id: Option<i64>,
    pub next_stage: i64,
    /// When the stage fell due (its order among those held back at night).
    pub next_stage_at: Option<i64>,
    pub failed_at: i64,
    pub business_name: String,
    pub recovery_page_url: Option<String>,
    pub embed_origins: String,
    pub customer_name: String,
    pub customer_phone: String,
    pub product_name: Option<String>,
    pub amount: i64,
    /// What the case's notices carry (and its subscription) (ids that never change once the case
    /// is open, so reading them at the claim is reading them at the send).
    pub subject: Subject,
    /// The next silent charge: a stage due the same day waits for it.
    pub next_retry_at: Option<i64>,
    /// The key was declined for good: the message asks for a new card.
    pub needs_new_card: bool,
}

#[derive(FromRow)]
pub(super) struct DueRow {
    id: i64,
    partner_id: i64,
    scenario_id: Option<i64>,
    next_stage: i64,
    next_stage_at: Option<i64>,
    failed_at: i64,
    subscription_id: Option<i64>,
    business_name: String,
    recovery_page_url: Option<String>,
    embed_origins: String,
    customer_name: String,
    customer_phone: String,
    product_name: Option<String>,
    amount: i64,
    order_id: i64,
    partner_order_id: String,
    partner_subscription_id: Option<String>,
    partner_customer_id: String,
    next_retry_at: Option<i64>,
    retry_stop: Option<String>,
    experiment_id: Option<i64>,
    experiment_arm: Option<String>,
}

/// What a `DueRow` reads of case `c` (with `DUE_CASE_JOINS`).
pub(super) const DUE_CASE_COLUMNS: &str = "c.id, c.partner_id, c.scenario_id, c.next_stage, c.next_stage_at, \
     c.failed_at, c.subscription_id, \
     p.business_name, p.recovery_page_url, p.embed_origins, \
     cu.name AS customer_name, cu.phone AS customer_phone, \
     (SELECT pr.name FROM order_items oi JOIN prices pc ON pc.id = oi.price_id \
      JOIN products pr ON pr.id = pc.product_id WHERE oi.order_id = o.id \
      ORDER BY oi.price_id LIMIT 1) AS product_name, \
     o.amount, o.id AS order_id, o.partner_order_id, s.partner_subscription_id, \
     cu.partner_customer_id, c.next_retry_at, c.retry_stop, c.experiment_id, \
     (SELECT xa.name FROM experiment_arms xa WHERE xa.experiment_id = c.experiment_id \
      AND xa.position = c.experiment_arm) AS experiment_arm";

/// The tables `DUE_CASE_COLUMNS` reads, joined to case `c`.
pub(super) const DUE_CASE_JOINS: &str = "JOIN partners p ON p.id = c.partner_id \
     JOIN orders o ON o.id = c.order_id JOIN customers cu ON cu.id = o.customer_id \
     LEFT JOIN subscriptions s ON s.id = c.subscription_id";

/// Open cases, due at their next stage.
const CASES: WorkQueue = WorkQueue {
    table: "recovery_cases",
    waiting: "status = 'OPEN'",
    due_column: "next_stage_at",
    fair_by: None,
};

impl Leased for DueRow {
    fn id(&self) -> i64 {
        self.id
    }
}

impl From<DueRow> for DueCase {
    fn from(r: DueRow) -> DueCase {
        DueCase {
            subject: Subject {
                case_id: Some(r.id),
                order_id: Some(r.order_id),
                partner_order_id: Some(r.partner_order_id),
                subscription_id: r.subscription_id,
                partner_subscription_id: r.partner_subscription_id,
                partner_customer_id: Some(r.partner_customer_id),
                experiment: r.experiment_id.zip(r.experiment_arm),
            },
            id: r.id,
            partner_id: r.partner_id,
            scenario_id: r.scenario_id,
            next_stage: r.next_stage,
            next_stage_at: r.next_stage_at,
            failed_at: r.failed_at,
            business_name: r.business_name,
            recovery_page_url: r.recovery_page_url,
            embed_origins: r.embed_origins,
            customer_name: r.customer_name,
            customer_phone: r.customer_phone,
            product_name: r.product_name,
            amount: r.amount,
            next_retry_at: r.next_retry_at,
            needs_new_card: r.retry_stop.as_deref() == Some(Stop::HardDecline.as_str()),
        }
    }
}

/// Where a stage stands in the send ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageState {
    /// Not sent yet (or a send whose outcome is unknown): send it, with the
    /// same dedupe key as any earlier attempt. `attempts` counts tries that
    /// failed; `maybe_sent` says an earlier try's outcome was never recorded
    /// (its worker died), so the message may already be out.
    ToSend { attempts: i64, maybe_sent: bool },
    /// Already sent: only the case's schedule is behind.
    Sent,
}

/// A stage a worker is about to send.
#[derive(Debug, Clone)]
pub struct StageStart<'a> {
    pub case_id: i64,
    pub stage: i64,
    pub channel: &'static str,
    pub dedupe_key: String,
    pub link: TokenHash,
    pub now_ms: i64,
    /// The engine instance sending it.
    pub worker: &'a str,
}

/// What became of one stage's send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageResult {
    Sent {
        provider_ref: String,
    },
    /// Failed for good (or too often): recorded, and the case moves on.
    Failed {
        error: String,
    },
    /// Failed for now: the case is due again at `next_at_ms`.
    Retry {
        error: String,
    },
}

#[derive(Debug, Clone)]
pub struct StageOutcome<'a> {
    /// The claimed case (whose, and what its `stage.sent` notice is about).
    pub case: &'a DueCase,
    pub stage: i64,
    pub result: StageResult,
    /// The next stage's due time (`Sent`, `Failed`) or the retry's (`Retry`).
    pub next_at_ms: i64,
    pub now_ms: i64,
}

/// The dev clock's offset from real time, in `server_secrets` (`--dev-clock`).
const DEV_CLOCK: &str = "dev_clock_offset_ms";

impl Store {
    /// The partner's current scenario: `(id, scenario)`; `None` id for the
    /// built-in default.
    pub async fn current_scenario(
        &self,
        partner_id: i64,
    ) -> Result<(Option<i64>, i64, Scenario), StoreError> {
        let row: Option<(i64, i64, String)> = sqlx::query_as(
            "SELECT id, version, definition FROM scenarios WHERE partner_id = $1 \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(partner_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some((id, version, json)) => (
                Some(id),
                version,
                super::cases::stored_scenario(Some(&json))?,
            ),
            None => (None, 0, Scenario::default()),
        })
    }

    /// The partner's scenario versions, newest first: `(version, created_at)`.
    pub async fn scenario_versions(&self, partner_id: i64) -> Result<Vec<(i64, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT version, created_at FROM scenarios WHERE partner_id = $1 ORDER BY version DESC",
        )
        .bind(partner_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The scenario a case opened with.
    pub async fn scenario(&self, id: Option<i64>) -> Result<Scenario, StoreError> {
        let Some(id) = id else {
            return Ok(Scenario::default());
        };
        let (json,): (String,) = sqlx::query_as("SELECT definition FROM scenarios WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        super::cases::stored_scenario(Some(&json))
    }

    /// Stores a new version of the partner's scenario; open cases keep theirs,
    /// except for the retry switch: retries turned off stop every case's
    /// silent retries at once.
    pub async fn add_scenario_version(
        &self,
        partner_id: i64,
        scenario: &Scenario,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        let (version,): (i64,) = sqlx::query_as(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM scenarios WHERE partner_id = $1",
        )
        .bind(partner_id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO scenarios (partner_id, version, definition, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(partner_id)
        .bind(version)
        .bind(scenario.to_json())
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        // The switch is the partner's: open and ended cases follow it now.
        Store::retries_switched(&mut tx, partner_id, scenario.retries.enabled, now_ms).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Claims up to `limit` due cases for `lease_ms` (`Store::claim_due`),
    /// with what their messages and notices need.
    pub async fn claim_due_cases(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<DueCase>, StoreError> {
        let rows: Vec<DueRow> = self
            .claim_due(
                &CASES,
                &format!(
                    "SELECT {DUE_CASE_COLUMNS} FROM {{due}} JOIN recovery_cases c ON c.id = due.id \
                     {DUE_CASE_JOINS} ORDER BY c.next_stage_at, c.id"
                ),
                now_ms,
                lease_ms,
                limit,
            )
            .await?;
        Ok(rows.into_iter().map(DueCase::from).collect())
    }

    /// Enters each stage in the send ledger (once) with its link token, in
    /// one transaction of two multi-row statements, and says for each
    /// whether it still needs sending.
    pub async fn begin_stages(
        &self,
        starts: &[StageStart<'_>],
    ) -> Result<Vec<StageState>, StoreError> {
        if starts.is_empty() {
            return Ok(Vec::new());
        }
        let (mut tx, _write) = self.begin_write().await?;
        // A first begin inserts; a later one (a retry, or a worker that died
        // mid-send) counts the try. A stage already settled returns no row.
        let mut rows = Vec::with_capacity(starts.len());
        for chunk in starts.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO stage_sends (case_id, stage, channel, dedupe_key, created_at, worker, status, started) \
                 VALUES {} \
                 ON CONFLICT (case_id, stage) DO UPDATE SET started = stage_sends.started + 1, worker = excluded.worker \
                 WHERE stage_sends.status = 'SENDING' \
                 RETURNING case_id, stage, attempts, started",
                placeholders(self.backend, chunk.len(), 6, "'SENDING', 1")
            );
            let mut q = sqlx::query_as::<_, (i64, i64, i64, i64)>(&sql);
            for s in chunk {
                q = q
                    .bind(s.case_id)
                    .bind(s.stage)
                    .bind(s.channel)
                    .bind(&s.dedupe_key)
                    .bind(s.now_ms)
                    .bind(s.worker);
            }
            rows.extend(q.fetch_all(&mut *tx).await?);
            let sql = format!(
                "INSERT INTO case_links (token_hash, case_id, stage) VALUES {} \
                 ON CONFLICT (case_id, stage) DO NOTHING",
                placeholders(self.backend, chunk.len(), 3, "")
            );
            let mut q = sqlx::query(&sql);
            for s in chunk {
                q = q.bind(&s.link.0).bind(s.case_id).bind(s.stage);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let open: std::collections::HashMap<(i64, i64), (i64, i64)> = rows
            .into_iter()
            .map(|(case, stage, attempts, started)| ((case, stage), (attempts, started)))
            .collect();
        Ok(starts
            .iter()
            .map(|s| match open.get(&(s.case_id, s.stage)) {
                Some(&(attempts, started)) => StageState::ToSend {
                    attempts,
                    maybe_sent: started > 1,
                },
                None => StageState::Sent,
            })
            .collect())
    }

    /// Records each stage's outcome and moves its case on, in one
    /// transaction of two multi-row updates. A case moves only if it is
    /// still open and still at that stage (a payment or a date change in
    /// between wins); the ledger changes only while the stage is `SENDING`.
    pub async fn record_stage_outcomes(
        &self,
        outcomes: &[StageOutcome<'_>],
    ) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let (mut tx, _write) = self.begin_write().await?;
        // (case, stage, status, provider_ref, last_error, sent_at)
        let mut changed = Vec::with_capacity(outcomes.len());
        for chunk in outcomes.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE stage_sends SET status = v.column3, provider_ref = v.column4, last_error = v.column5, \
                        sent_at = v.column6, attempts = stage_sends.attempts + 1 \
                 FROM (VALUES {}) AS v \
                 WHERE stage_sends.case_id = v.column1 AND stage_sends.stage = v.column2 \
                   AND stage_sends.status = 'SENDING' \
                 RETURNING stage_sends.case_id, stage_sends.stage, stage_sends.channel, stage_sends.status, \
                           stage_sends.provider_ref",
                placeholders(self.backend, chunk.len(), 6, "")
            );
            let mut q = sqlx::query_as::<_, (i64, i64, String, String, Option<String>)>(&sql);
            for o in chunk {
                let (status, provider_ref, error, sent_at) = match &o.result {
                    StageResult::Sent { provider_ref } => {
                        ("SENT", Some(provider_ref.as_str()), None, Some(o.now_ms))
                    }
                    StageResult::Failed { error } => {
                        ("FAILED", None, Some(error.as_str()), Some(o.now_ms))
                    }
                    StageResult::Retry { error } => ("SENDING", None, Some(error.as_str()), None),
                };
                q = q
                    .bind(o.case.id)
                    .bind(o.stage)
                    .bind(status)
                    .bind(provider_ref)
                    .bind(error)
                    .bind(sent_at);
            }
            changed.extend(q.fetch_all(&mut *tx).await?);
        }
        // Exactly the stages that became SENT here: each is noticed once.
        let sent: Vec<(i64, i64, String, Option<String>)> = changed
            .into_iter()
            .filter(|(_, _, _, status, _)| status == "SENT")
            .map(|(case, stage, channel, _, r)| (case, stage, channel, r))
            .collect();
        if !sent.is_empty() {
            let about: HashMap<i64, &StageOutcome> =
                outcomes.iter().map(|o| (o.case.id, o)).collect();
            let notices: Vec<(i64, &Subject, Event)> = sent
                .iter()
                .filter_map(|(case, stage, channel, provider_ref)| {
                    let o = about.get(case)?;
                    Some((
                        o.case.partner_id,
                        &o.case.subject,
                        Event::stage_sent(*stage, channel, provider_ref.as_deref().unwrap_or("")),
                    ))
                })
                .collect();
            let items: Vec<(i64, &Subject, &Event)> =
                notices.iter().map(|(p, s, e)| (*p, *s, e)).collect();
            events::record_many(&mut tx, &items, outcomes[0].now_ms).await?;
        }
        // (case, stage, next stage, next due time)
        for chunk in outcomes.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE recovery_cases SET next_stage = v.column3, next_stage_at = v.column4, lease_until = NULL \
                 FROM (VALUES {}) AS v \
                 WHERE recovery_cases.id = v.column1 AND recovery_cases.status IN ({}) \
                   AND recovery_cases.next_stage = v.column2",
                placeholders(self.backend, chunk.len(), 4, ""),
                allowing(CaseEvent::StageSent)
            );
            let mut q = sqlx::query(&sql);
            for o in chunk {
                let next_stage = match o.result {
                    StageResult::Retry { .. } => o.stage,
                    StageResult::Sent { .. } | StageResult::Failed { .. } => o.stage + 1,
                };
                q = q
                    .bind(o.case.id)
                    .bind(o.stage)
                    .bind(next_stage)
                    .bind(o.next_at_ms);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Moves stages that fell on a silent charge's day to just after it
    /// (`domain::retry::defer_stage`): the message goes only if the charge
    /// fails. `(case, new due time)`; only open cases move.
    pub async fn postpone_stages(&self, moves: &[(i64, i64)]) -> Result<(), StoreError> {
        if moves.is_empty() {
            return Ok(());
        }
        let (mut tx, _write) = self.begin_write().await?;
        for (case_id, at) in moves {
            sqlx::query(&format!(
                "UPDATE recovery_cases SET next_stage_at = $2, lease_until = NULL \
                 WHERE id = $1 AND status IN ({})",
                allowing(CaseEvent::StageSent)
            ))
            .bind(case_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// No stage recovered these payments: close each case and pause or
    /// cancel its subscription, together. Returns the cases that ended here
    /// (not those closed in the meantime).
    pub async fn end_cases(
        &self,
        ends: &[(&DueCase, EndAction)],
        now_ms: i64,
    ) -> Result<Vec<i64>, StoreError> {
        if ends.is_empty() {
            return Ok(Vec::new());
        }
        let (mut tx, _write) = self.begin_write().await?;
        let mut ended = std::collections::HashSet::new();
        for chunk in ends.chunks(IDS_PER_STATEMENT) {
            let ids: Vec<i64> = chunk.iter().map(|(c, _)| c.id).collect();
            let rows: Vec<(i64,)> = sqlx::query_as(&format!(
                "UPDATE recovery_cases SET status = 'ENDED', closed_at = $1, ended_at = $1, \
                        next_stage_at = NULL, lease_until = NULL, end_action = 'PAUSE' \
                 WHERE id IN ({}) AND status IN ({}) RETURNING id",
                id_list(&ids),
                allowing(CaseEvent::ScenarioEnded)
            ))
            .persistent(false)
            .bind(now_ms)
            .fetch_all(&mut *tx)
            .await?;
            ended.extend(rows.into_iter().map(|(id,)| id));
        }
        let ended: Vec<&(&DueCase, EndAction)> =
            ends.iter().filter(|(c, _)| ended.contains(&c.id)).collect();
        // A paused subscription keeps its silent retries (a success
        // reactivates it); a canceled one is charged only when the customer
        // asks, on the page.
        let canceled: Vec<i64> = ended
            .iter()
            .filter(|(_, a)| *a == EndAction::Cancel)
            .map(|(c, _)| c.id)
            .collect();
        for chunk in canceled.chunks(IDS_PER_STATEMENT) {
            sqlx::query(&format!(
                "UPDATE recovery_cases SET next_retry_at = NULL, next_retry_source = NULL, retry_stop = $1, \
                        end_action = 'CANCEL' \
                 WHERE id IN ({}) AND status IN ({})",
                id_list(chunk),
                allowing(CaseEvent::RetryReplanned)
            ))
            .persistent(false)
            .bind(Stop::SubscriptionCanceled.as_str())
            .execute(&mut *tx)
            .await?;
        }
        for action in [EndAction::Pause, EndAction::Cancel] {
            let subscriptions: Vec<i64> = ended
                .iter()
                .filter(|(_, a)| *a == action)
                .filter_map(|(c, _)| c.subject.subscription_id)
                .collect();
            for chunk in subscriptions.chunks(IDS_PER_STATEMENT) {
                sqlx::query(&format!(
                    "UPDATE subscriptions SET status = $1, updated_at = $2 WHERE id IN ({})",
                    id_list(chunk)
                ))
                .persistent(false)
                .bind(action.subscription_status())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
        }
        let notices: Vec<(i64, &Subject, Event)> = ended
            .iter()
            .flat_map(|(case, action)| {
                let status = match action {
                    EndAction::Pause => SubsStatus::Paused,
                    EndAction::Cancel => SubsStatus::Canceled,
                };
                [
                    Event::status_changed(status, "no stage recovered the payment"),
                    Event::case_closed("ENDED", status),
                ]
                .map(|e| (case.partner_id, &case.subject, e))
            })
            .collect();
        let items: Vec<(i64, &Subject, &Event)> =
            notices.iter().map(|(p, s, e)| (*p, *s, e)).collect();
        events::record_many(&mut tx, &items, now_ms).await?;
        tx.commit().await?;
        Ok(ended.iter().map(|(c, _)| c.id).collect())
    }

    /// A named server secret, created with `fresh` on first use; every
    /// instance sharing the database sees the same value.
    pub async fn server_secret(&self, name: &str, fresh: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(fresh)
            .execute(&self.pool)
            .await?;
        let (value,): (String,) =
            sqlx::query_as("SELECT value FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?;
        Ok(value)
    }

    /// The link key earlier versions kept in the database, if it is still there.
    pub async fn link_key_in_database(&self) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_as::<_, (String,)>(
            "SELECT value FROM server_secrets WHERE name = 'link_key'",
        )
        .fetch_optional(&self.pool)
        .await?
        .map(|(v,)| v))
    }

    pub async fn delete_link_key_from_database(&self) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM server_secrets WHERE name = 'link_key'")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// When the longest-waiting due stage fell due.
    pub async fn oldest_due_stage_at(&self, now_ms: i64) -> Result<Option<i64>, StoreError> {
        self.oldest_due_at(&CASES, now_ms).await
    }

    /// The dev clock's offset (ms); 0 until `server dev advance` moves it.
    /// A plain read: every dev-clock server polls it twice a second, and a
    /// write there (it used to insert the row when missing) took SQLite's
    /// one writer from the engines and could fail with "database is
    /// locked" when another process had committed since its read began.
    pub async fn dev_clock_offset_ms(&self) -> Result<i64, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT value FROM server_secrets WHERE name = $1")
                .bind(DEV_CLOCK)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|(v,)| v.parse().ok()).unwrap_or(0))
    }

    /// Moves the dev clock on (one caller at a time: a test or the CLI).
    pub async fn advance_dev_clock(&self, by_ms: i64) -> Result<i64, StoreError> {
        let now = self.dev_clock_offset_ms().await? + by_ms;
        sqlx::query(
            "INSERT INTO server_secrets (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(DEV_CLOCK)
        .bind(now.to_string())
        .execute(&self.pool)
        .await?;
        Ok(now)
    }

    /// `(stage, status)` of every send of a case, in stage order (tests, audits).
    pub async fn stage_sends(&self, case_id: i64) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT stage, status FROM stage_sends WHERE case_id = $1 ORDER BY stage",
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// A message as the outbox provider stored it.
#[derive(Debug, Clone, FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub case_id: i64,
    pub stage: i64,
    pub channel: String,
    pub recipient: String,
    pub body: String,
    pub link: String,
    pub created_at: i64,
}

impl Store {
    /// Stores a message once per dedupe key (a resend is a no-op).
    pub async fn put_outbox_message(
        &self,
        m: &crate::engine::provider::OutgoingMessage,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.put_outbox_messages(std::slice::from_ref(m), now_ms)
            .await
    }

    /// Stores messages, each once per dedupe key, in one transaction.
    pub async fn put_outbox_messages(
        &self,
        msgs: &[crate::engine::provider::OutgoingMessage],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if msgs.is_empty() {
            return Ok(());
        }
        let (mut tx, _write) = self.begin_write().await?;
        for chunk in msgs.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO outbox_messages (dedupe_key, partner_id, case_id, stage, channel, recipient, body, link, created_at) \
                 VALUES {} ON CONFLICT (dedupe_key) DO NOTHING",
                placeholders(self.backend, chunk.len(), 9, "")
            );
            let mut q = sqlx::query(&sql);
            for m in chunk {
                q = q
                    .bind(&m.dedupe_key)
                    .bind(m.partner_id)
                    .bind(m.case_id)
                    .bind(m.stage)
                    .bind(m.channel.as_str())
                    .bind(&m.recipient)
                    .bind(&m.body)
                    .bind(&m.link)
                    .bind(now_ms);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The newest outbox messages first (the dev page; tests).
    pub async fn outbox(&self, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, case_id, stage, channel, recipient, body, link, created_at FROM outbox_messages \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Store {
    /// The case and stage a stage link token belongs to, if it was issued
    /// (tests, audits).
    pub async fn case_link(&self, link: &TokenKey) -> Result<Option<(i64, i64)>, StoreError> {
        let TokenKey::Stage { .. } = link else {
            return Ok(None);
        };
        let t = super::token_binds(link);
        Ok(sqlx::query_as(
            "SELECT case_id, stage FROM case_links WHERE token_hash = $1 AND case_id = $2 AND stage = $3",
        )
        .bind(t.0)
        .bind(t.1)
        .bind(t.2)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Open cases: `(all, due now and free to claim, leased by a worker)`
    /// (tests and operators: is the engine keeping up?).
    pub async fn engine_backlog(&self, now_ms: i64) -> Result<(i64, i64, i64), StoreError> {
        Ok(sqlx::query_as(
            "SELECT COUNT(*), \
                    COALESCE(SUM(CASE WHEN next_stage_at <= $1 AND (lease_until IS NULL OR lease_until < $1) THEN 1 ELSE 0 END), 0), \
                    COALESCE(SUM(CASE WHEN lease_until >= $1 THEN 1 ELSE 0 END), 0) \
             FROM recovery_cases WHERE status = 'OPEN'",
        )
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?)
    }

    /// How many engine instances sent stages (tests, audits).
    pub async fn stage_workers(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(DISTINCT worker) FROM stage_sends WHERE status = 'SENT'")
                .fetch_one(&self.pool)
                .await?;
        Ok(n)
    }

    /// Stages whose send was begun more than once (a worker died or a try
    /// failed before the outcome was known) (tests, audits).
    pub async fn restarted_stage_sends(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM stage_sends WHERE started > 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    /// The status of the case and of its subscription (tests, audits).
    pub async fn case_and_subscription_status(
        &self,
        case_id: i64,
    ) -> Result<(String, Option<String>), StoreError> {
        Ok(sqlx::query_as(
            "SELECT c.status, s.status FROM recovery_cases c \
             LEFT JOIN subscriptions s ON s.id = c.subscription_id WHERE c.id = $1",
        )
        .bind(case_id)
        .fetch_one(&self.pool)
        .await?)
    }
}
