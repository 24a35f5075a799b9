//! What the scenario engine reads and writes: scenarios, due cases (claimed
//! under a lease), the send ledger, link tokens and the end of a case.

use sqlx::FromRow;

use super::{Backend, Store, StoreError};
use crate::domain::scenario::{EndAction, Scenario};
use crate::domain::token::TokenHash;

/// A case whose next stage is due, with what its message needs.
#[derive(Debug, Clone, FromRow)]
pub struct DueCase {
    pub id: i64,
    pub partner_id: i64,
    pub scenario_id: Option<i64>,
    pub next_stage: i64,
    pub failed_at: i64,
    pub subscription_id: Option<i64>,
    pub business_name: String,
    pub recovery_page_url: Option<String>,
    pub embed_origins: String,
    pub customer_name: String,
    pub customer_phone: String,
    pub product_name: Option<String>,
    pub amount: i64,
}

/// Where a stage stands in the send ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageState {
    /// Not sent yet (or a send whose outcome is unknown): send it, with the
    /// same dedupe key as any earlier attempt.
    ToSend { attempts: i64 },
    /// Already sent: only the case's schedule is behind.
    Sent,
}

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
                Scenario::parse(&json).unwrap_or_default(),
            ),
            None => (None, 0, Scenario::default()),
        })
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
        Ok(Scenario::parse(&json).unwrap_or_default())
    }

    /// Stores a new version of the partner's scenario; open cases keep theirs.
    pub async fn add_scenario_version(
        &self,
        partner_id: i64,
        scenario: &Scenario,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
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
        tx.commit().await?;
        Ok(version)
    }

    /// Claims up to `limit` due cases for `lease_ms`: no other worker (or
    /// instance) takes them until the lease ends. Postgres skips rows another
    /// transaction holds (`FOR UPDATE SKIP LOCKED`); SQLite has one writer.
    pub async fn claim_due_cases(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<DueCase>, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut tx = self.begin_write().await?;
        let ids: Vec<(i64,)> = sqlx::query_as(&format!(
            "UPDATE recovery_cases SET lease_until = $2 WHERE id IN ( \
                 SELECT id FROM recovery_cases WHERE status = 'OPEN' AND next_stage_at <= $1 \
                   AND (lease_until IS NULL OR lease_until < $1) \
                 ORDER BY next_stage_at LIMIT $3 {lock}) \
             RETURNING id"
        ))
        .bind(now_ms)
        .bind(now_ms + lease_ms)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut cases = Vec::with_capacity(ids.len());
        for (id,) in ids {
            let case: DueCase = sqlx::query_as(
                "SELECT c.id, c.partner_id, c.scenario_id, c.next_stage, c.failed_at, c.subscription_id, \
                        p.business_name, p.recovery_page_url, p.embed_origins, \
                        cu.name AS customer_name, cu.phone AS customer_phone, \
                        (SELECT pr.name FROM order_items oi JOIN prices pc ON pc.id = oi.price_id \
                         JOIN products pr ON pr.id = pc.product_id WHERE oi.order_id = o.id \
                         ORDER BY oi.price_id LIMIT 1) AS product_name, \
                        o.amount \
                 FROM recovery_cases c JOIN partners p ON p.id = c.partner_id \
                 JOIN orders o ON o.id = c.order_id JOIN customers cu ON cu.id = o.customer_id \
                 WHERE c.id = $1",
            )
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
            cases.push(case);
        }
        Ok(cases)
    }

    /// Enters the stage in the send ledger (once) with its link token, and
    /// says whether it still needs sending.
    pub async fn begin_stage(
        &self,
        case_id: i64,
        stage: i64,
        channel: &str,
        dedupe_key: &str,
        link: &TokenHash,
        now_ms: i64,
    ) -> Result<StageState, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO stage_sends (case_id, stage, channel, status, dedupe_key, created_at) \
             VALUES ($1, $2, $3, 'SENDING', $4, $5) ON CONFLICT (case_id, stage) DO NOTHING",
        )
        .bind(case_id)
        .bind(stage)
        .bind(channel)
        .bind(dedupe_key)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO case_links (token_hash, case_id, stage) VALUES ($1, $2, $3) \
             ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(&link.0)
        .bind(case_id)
        .bind(stage)
        .execute(&mut *tx)
        .await?;
        let (status, attempts): (String, i64) = sqlx::query_as(
            "SELECT status, attempts FROM stage_sends WHERE case_id = $1 AND stage = $2",
        )
        .bind(case_id)
        .bind(stage)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(if status == "SENDING" {
            StageState::ToSend { attempts }
        } else {
            StageState::Sent
        })
    }

    /// Records the stage's outcome (`SENT`, or `FAILED` for good) and moves
    /// the case to its next stage, in one transaction. The case moves only if
    /// it is still open and still at this stage.
    pub async fn finish_stage(
        &self,
        case_id: i64,
        stage: i64,
        outcome: Result<&str, &str>,
        next_stage_at_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let (status, provider_ref, error) = match outcome {
            Ok(r) => ("SENT", Some(r), None),
            Err(e) => ("FAILED", None, Some(e)),
        };
        sqlx::query(
            "UPDATE stage_sends SET status = $3, provider_ref = $4, last_error = $5, sent_at = $6, \
                    attempts = attempts + 1 \
             WHERE case_id = $1 AND stage = $2 AND status = 'SENDING'",
        )
        .bind(case_id)
        .bind(stage)
        .bind(status)
        .bind(provider_ref)
        .bind(error)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE recovery_cases SET next_stage = $2 + 1, next_stage_at = $3, lease_until = NULL \
             WHERE id = $1 AND status = 'OPEN' AND next_stage = $2",
        )
        .bind(case_id)
        .bind(stage)
        .bind(next_stage_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A send failed but may work later: count it and retry at `retry_at_ms`.
    pub async fn retry_stage(
        &self,
        case_id: i64,
        stage: i64,
        error: &str,
        retry_at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE stage_sends SET attempts = attempts + 1, last_error = $3 \
             WHERE case_id = $1 AND stage = $2 AND status = 'SENDING'",
        )
        .bind(case_id)
        .bind(stage)
        .bind(error)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE recovery_cases SET next_stage_at = $2, lease_until = NULL WHERE id = $1 AND status = 'OPEN'",
        )
        .bind(case_id)
        .bind(retry_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// No stage recovered the payment: close the case and pause or cancel
    /// the subscription, together.
    pub async fn end_case(
        &self,
        case_id: i64,
        action: EndAction,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let ended = sqlx::query(
            "UPDATE recovery_cases SET status = 'ENDED', closed_at = $2, next_stage_at = NULL, lease_until = NULL \
             WHERE id = $1 AND status = 'OPEN'",
        )
        .bind(case_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if ended {
            sqlx::query(
                "UPDATE subscriptions SET status = $2, updated_at = $3 \
                 WHERE id = (SELECT subscription_id FROM recovery_cases WHERE id = $1)",
            )
            .bind(case_id)
            .bind(action.subscription_status())
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(ended)
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

    /// The dev clock's offset (ms); 0 until `server dev advance` moves it.
    pub async fn dev_clock_offset_ms(&self) -> Result<i64, StoreError> {
        Ok(self
            .server_secret("dev_clock_offset_ms", "0")
            .await?
            .parse()
            .unwrap_or(0))
    }

    pub async fn advance_dev_clock(&self, by_ms: i64) -> Result<i64, StoreError> {
        let now = self.dev_clock_offset_ms().await? + by_ms;
        sqlx::query("UPDATE server_secrets SET value = $2 WHERE name = $1")
            .bind("dev_clock_offset_ms")
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
        sqlx::query(
            "INSERT INTO outbox_messages (dedupe_key, partner_id, case_id, stage, channel, recipient, body, link, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(&m.dedupe_key)
        .bind(m.partner_id)
        .bind(m.case_id)
        .bind(m.stage)
        .bind(m.channel.as_str())
        .bind(&m.recipient)
        .bind(&m.body)
        .bind(&m.link)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
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
