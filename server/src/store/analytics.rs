//! The analytics rollup: each partner's figures per Korean day
//! (`analytics_days`), recomputed for the days the migration's triggers
//! logged as changed (`analytics_changes`). A period's figures are a read
//! of its days, so no request scans every case.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use super::{IDS_PER_STATEMENT, Store, StoreError, id_list};
use crate::domain::analytics::{
    CaseFact, Cohort, NoticeState, Outcome, day_number, day_of_number, kst_day_start,
};
use crate::domain::case::{CaseStatus, ChargeSource, StageStatus, UnknownText};
use crate::domain::scenario::{Channel, EndAction};

/// Change rows folded per round, bounding its memory (24 bytes a row).
/// A round recomputes each day it saw once, however many rows name it, so
/// rounds are large: a bulk import logs a row per case and stage message,
/// spread over every day it covers.
const CHANGES_PER_ROUND: i64 = 1_000_000;

type CaseRow = (
    String,
    Option<String>,
    i64,
    Option<i64>,
    i64,
    Option<i64>,
    Option<String>,
);

fn unknown(kind: &'static str, value: &str) -> StoreError {
    StoreError::UnknownText(UnknownText {
        kind,
        value: value.to_owned(),
    })
}

fn end_action(raw: Option<&str>) -> Result<Option<EndAction>, StoreError> {
    match raw {
        None => Ok(None),
        Some("PAUSE") => Ok(Some(EndAction::Pause)),
        Some("CANCEL") => Ok(Some(EndAction::Cancel)),
        Some(other) => Err(unknown("end action", other)),
    }
}

/// The Postgres advisory lock key of the analytics fold ("rebound" in
/// ASCII): every instance on one database takes the same lock.
const FOLD_LOCK_KEY: i64 = 0x0072_6562_6f75_6e64;

/// The analytics fold's turn (`Store::analytics_fold_turn`): while it is
/// held, no other fold of this process, or on Postgres of any process on
/// the database, runs. Dropping it ends the turn.
pub struct FoldTurn {
    _local: tokio::sync::OwnedMutexGuard<()>,
    /// On Postgres: the transaction holding `pg_advisory_xact_lock`. Its
    /// end (commit, rollback, or the connection dying with the process)
    /// releases the lock, so a crashed fold never keeps it.
    _shared: Option<sqlx::Transaction<'static, sqlx::Any>>,
}

impl Store {
    /// Waits for the analytics fold's turn. Two folds at once could write
    /// older figures over newer ones: each reads the change log, then the
    /// cases, then writes, and the later reader may write first. Readers
    /// fold too (`analytics_days`), so this is not only the worker's.
    pub async fn analytics_fold_turn(&self) -> Result<FoldTurn, StoreError> {
        let local = self.fold_gate.clone().lock_owned().await;
        let shared = match self.backend {
            super::Backend::Sqlite => None,
            super::Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                // COUNT(*) around it: the lock function returns `void`,
                // which the Any driver cannot describe.
                sqlx::query("SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock($1)) l")
                    .bind(FOLD_LOCK_KEY)
                    .execute(&mut *tx)
                    .await?;
                Some(tx)
            }
        };
        Ok(FoldTurn {
            _local: local,
            _shared: shared,
        })
    }

    /// The figures of each Korean day in `[from, to]` (inclusive) that has
    /// any, for one partner or (operators) every partner summed. Days that
    /// changed since they were computed are recomputed first, so the
    /// figures are never older than the call.
    pub async fn analytics_days(
        &self,
        partner_id: Option<i64>,
        from: NaiveDate,
        to: NaiveDate,
        now_ms: i64,
    ) -> Result<Vec<(NaiveDate, Cohort)>, StoreError> {
        self.fold_analytics(partner_id, now_ms).await?;
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT day, figures FROM analytics_days \
             WHERE ($1 < 0 OR partner_id = $1) AND day >= $2 AND day <= $3",
        )
        .bind(partner_id.unwrap_or(-1))
        .bind(day_number(from))
        .bind(day_number(to))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(day, figures)| {
                let cohort: Cohort = serde_json::from_str(&figures)
                    .map_err(|_| StoreError::Integrity("analytics_days.figures is not a Cohort"))?;
                Ok((day_of_number(day), cohort))
            })
            .collect()
    }

    /// Recomputes every day logged as changed (of one partner, or all);
    /// returns how many days it recomputed. The worker calls it too, so the
    /// change log stays short when nobody reads the figures.
    pub async fn fold_analytics(
        &self,
        partner_id: Option<i64>,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let _turn = self.analytics_fold_turn().await?;
        let mut recomputed = 0;
        loop {
            let changes: Vec<(i64, i64, i64)> = sqlx::query_as(
                "SELECT id, partner_id, day FROM analytics_changes \
                 WHERE ($1 < 0 OR partner_id = $1) ORDER BY id LIMIT $2",
            )
            .bind(partner_id.unwrap_or(-1))
            .bind(CHANGES_PER_ROUND)
            .fetch_all(&self.pool)
            .await?;
            if changes.is_empty() {
                return Ok(recomputed);
            }
            let days: BTreeSet<(i64, i64)> = changes.iter().map(|(_, p, d)| (*p, *d)).collect();
            // Read after the change rows: whatever they logged is
            // committed, so these figures include it. A change committed
            // meanwhile leaves its own row for the next round.
            let mut figures = Vec::with_capacity(days.len());
            for (partner, day) in &days {
                figures.push((*partner, *day, self.day_figures(*partner, *day).await?));
            }
            let (mut tx, _write) = self.begin_write().await?;
            for (partner, day, cohort) in &figures {
                let json = serde_json::to_string(cohort)
                    .map_err(|_| StoreError::Integrity("a Cohort did not serialize"))?;
                sqlx::query(
                    "INSERT INTO analytics_days (partner_id, day, figures, computed_at) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (partner_id, day) DO UPDATE \
                     SET figures = excluded.figures, computed_at = excluded.computed_at",
                )
                .bind(partner)
                .bind(day)
                .bind(json)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            // Exactly the rows read: one logged meanwhile, even with a
            // smaller id (Postgres commits out of id order), stays.
            let ids: Vec<i64> = changes.iter().map(|(id, _, _)| *id).collect();
            for chunk in ids.chunks(IDS_PER_STATEMENT) {
                sqlx::query(&format!(
                    "DELETE FROM analytics_changes WHERE id IN ({})",
                    id_list(chunk)
                ))
                .persistent(false)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            recomputed += figures.len();
            if (changes.len() as i64) < CHANGES_PER_ROUND {
                return Ok(recomputed);
            }
        }
    }

    /// One partner's figures of one Korean day, from the cases whose
    /// payment failed on it and the notices created on it.
    async fn day_figures(&self, partner_id: i64, day: i64) -> Result<Cohort, StoreError> {
        let from = kst_day_start(day_of_number(day));
        let to = kst_day_start(day_of_number(day + 1));
        let cases: Vec<CaseRow> = sqlx::query_as(
            "SELECT c.status, c.end_action, c.failed_at, c.closed_at, o.amount, \
                    (SELECT MAX(s.stage) FROM stage_sends s WHERE s.case_id = c.id AND s.status = 'SENT'), \
                    (SELECT ch.source FROM charges ch WHERE ch.case_id = c.id AND ch.status = 'SUCCEEDED' \
                     ORDER BY ch.id LIMIT 1) \
             FROM recovery_cases c JOIN orders o ON o.id = c.order_id \
             WHERE c.partner_id = $1 AND c.failed_at >= $2 AND c.failed_at < $3",
        )
        .bind(partner_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let mut cohort = Cohort::default();
        for (status, action, failed_at, closed_at, amount, stage, source) in cases {
            let charged_by = source.as_deref().map(ChargeSource::parse).transpose()?;
            let outcome = Outcome::of_stored(
                CaseStatus::parse(&status)?,
                end_action(action.as_deref())?,
                charged_by,
                // Time to recovery counts from the failure, never below 0.
                (closed_at.unwrap_or(failed_at) - failed_at).max(0),
            );
            cohort += &Cohort::of(&CaseFact {
                failed_at_ms: failed_at,
                amount,
                stage: stage.unwrap_or(0),
                outcome,
            });
        }
        // A stage resent from the console is a message too (one skipped
        // because the case closed first is none). (Two queries,
        // each on its table's case index, rather than a UNION the planner
        // might scan.)
        for table in ["stage_sends", "stage_resends"] {
            let messages: Vec<(String, String, i64)> = sqlx::query_as(&format!(
                "SELECT s.channel, s.status, COUNT(*) FROM {table} s \
                 JOIN recovery_cases c ON c.id = s.case_id \
                 WHERE c.partner_id = $1 AND c.failed_at >= $2 AND c.failed_at < $3 \
                 GROUP BY s.channel, s.status"
            ))
            .bind(partner_id)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
            for (ch, status, n) in messages {
                cohort.add_message(Channel::parse(&ch)?, StageStatus::parse(&status)?, n as u64);
            }
        }
        let notices: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) FROM events \
             WHERE partner_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY status",
        )
        .bind(partner_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        for (status, n) in notices {
            let state =
                NoticeState::of_stored(&status).ok_or_else(|| unknown("notice status", &status))?;
            cohort.add_notices(state, n as u64);
        }
        Ok(cohort)
    }
}
