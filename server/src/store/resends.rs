//! A case's current stage sent again, asked for from the console: the
//! request (recorded as the console action in the same transaction), the
//! engine's claim of due resends under the shared lease, and their outcomes.
//! A resend is its own row with its own dedupe key, so the stage's ledger
//! entry (and its "sent once" guarantee) is never touched.

use std::collections::HashMap;

use sqlx::FromRow;

use super::engine::{DUE_CASE_COLUMNS, DUE_CASE_JOINS, DueRow};
use super::{DueCase, Leased, Store, StoreError, WorkQueue, id_list};
use crate::domain::scenario::Channel;

/// Resends waiting to go (or whose try's outcome is unknown).
const RESENDS: WorkQueue = WorkQueue {
    table: "stage_resends",
    waiting: "status = 'SENDING'",
    due_column: "due_at",
    fair_by: None,
};

/// What came of asking for a resend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResendRequest {
    /// Queued: the engine sends this stage again on its next pass.
    Queued { stage: i64 },
    /// No stage has gone out yet (or the case is closed): nothing to resend.
    NothingSent,
    /// A resend of this case is already waiting: this one asks nothing more.
    AlreadyWaiting,
    /// The stage went out (or was resent) less than `RESEND_EVERY_MS` ago:
    /// once a day per stage, asked again from `until_ms`.
    TooSoon { until_ms: i64 },
}

/// A stage is resent at most once a day, counted from its latest send
/// (resends included): a customer is reminded, not pestered.
pub const RESEND_EVERY_MS: i64 = 24 * 3_600_000;

/// How long after a stage went out it may be resent: longer than any gap
/// between our clock and the provider's, so that a lookup for the resend
/// (from its request time less that gap) never finds the stage's own send.
pub const RESEND_GAP_MS: i64 = 60_000;

/// A claimed resend with what its message needs.
#[derive(Debug, Clone)]
pub struct DueResend {
    pub id: i64,
    pub stage: i64,
    pub channel: Channel,
    /// When it was asked for (at least `RESEND_GAP_MS` after its stage
    /// went out): an earlier send of the same text is not it.
    pub requested_at: i64,
    /// Closed since it was asked for (paid, canceled): not sent.
    pub case_closed: bool,
    pub case: DueCase,
}

#[derive(FromRow)]
struct ResendRow {
    resend_id: i64,
    resend_stage: i64,
    resend_channel: String,
    resend_created_at: i64,
    case_status: String,
    #[sqlx(flatten)]
    case: DueRow,
}

impl Leased for ResendRow {
    fn id(&self) -> i64 {
        self.resend_id
    }
}

/// Where a claimed resend's tries stand: `attempts` failed tries recorded,
/// `maybe_sent` when an earlier try's outcome was never recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResendTry {
    pub attempts: i64,
    pub maybe_sent: bool,
}

/// What became of one resend's try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResendResult {
    Sent {
        provider_ref: String,
    },
    Failed {
        error: String,
    },
    /// Failed for now: due again at the time given.
    Retry {
        error: String,
        due_at_ms: i64,
    },
    /// Not sent: the case closed (paid, canceled) before it went.
    Skipped,
    /// Not tried now (the quiet hours): due again at the time given, no try
    /// counted.
    Later {
        due_at_ms: i64,
    },
}

impl Store {
    /// Queues the case's latest stage (sent, or failed for good) to be sent
    /// again, and records the console action with its outcome, in one
    /// transaction. Only an open or ended case (one the customer can still
    /// pay) is resent.
    pub async fn request_resend(
        &self,
        case_id: i64,
        user_id: i64,
        now_ms: i64,
    ) -> Result<ResendRequest, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        let latest: Option<(i64, String, Option<i64>)> = sqlx::query_as(
            "SELECT s.stage, s.channel, s.sent_at FROM stage_sends s JOIN recovery_cases c ON c.id = s.case_id \
             WHERE s.case_id = $1 AND s.status IN ('SENT', 'FAILED') AND c.status IN ('OPEN', 'ENDED') \
             ORDER BY s.stage DESC LIMIT 1",
        )
        .bind(case_id)
        .fetch_optional(&mut *tx)
        .await?;
        // The stage's latest send: its own, or a resend's (one still on its
        // way is answered below: the index allows one waiting per case).
        let latest = match latest {
            Some((stage, channel, sent_at)) => {
                let (resent,): (Option<i64>,) = sqlx::query_as(
                    "SELECT MAX(sent_at) FROM stage_resends \
                     WHERE case_id = $1 AND stage = $2 AND status = 'SENT'",
                )
                .bind(case_id)
                .bind(stage)
                .fetch_one(&mut *tx)
                .await?;
                Some((stage, channel, sent_at.max(resent)))
            }
            None => None,
        };
        let outcome = match latest {
            None => ResendRequest::NothingSent,
            Some((_, _, Some(sent_at))) if sent_at > now_ms - RESEND_EVERY_MS => {
                ResendRequest::TooSoon {
                    until_ms: sent_at + RESEND_EVERY_MS,
                }
            }
            Some((stage, channel, _)) => {
                // The partial unique index (one waiting per case) turns a
                // second request into no row.
                let queued: Option<(i64,)> = sqlx::query_as(
                    "INSERT INTO stage_resends (case_id, stage, channel, status, requested_by, created_at, due_at) \
                     VALUES ($1, $2, $3, 'SENDING', $4, $5, $5) ON CONFLICT DO NOTHING RETURNING id",
                )
                .bind(case_id)
                .bind(stage)
                .bind(&channel)
                .bind(user_id)
                .bind(now_ms)
                .fetch_optional(&mut *tx)
                .await?;
                match queued {
                    Some(_) => ResendRequest::Queued { stage },
                    None => ResendRequest::AlreadyWaiting,
                }
            }
        };
        let detail = match outcome {
            ResendRequest::Queued { stage } => format!("queued stage {stage}"),
            ResendRequest::NothingSent => "nothing_sent".to_owned(),
            ResendRequest::AlreadyWaiting => "already_waiting".to_owned(),
            ResendRequest::TooSoon { .. } => "too_soon".to_owned(),
        };
        super::console_actions::insert_action(
            &mut tx,
            case_id,
            user_id,
            "resend_stage",
            Some(&detail),
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Claims up to `limit` due resends for `lease_ms` and counts the try
    /// each begins, with what their messages need.
    pub async fn claim_due_resends(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
        worker: &str,
    ) -> Result<Vec<(DueResend, ResendTry)>, StoreError> {
        // Resends are rare and the engine asks on every pass: a read (on
        // the partial index) first, so that an idle pass takes no write
        // lock (SQLite has one per database, shared by every instance).
        let due: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM stage_resends WHERE status = 'SENDING' AND due_at <= $1 \
               AND (lease_until IS NULL OR lease_until < $1) LIMIT 1",
        )
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let rows: Vec<ResendRow> = self
            .claim_due(
                &RESENDS,
                &format!(
                    "SELECT r.id AS resend_id, r.stage AS resend_stage, r.channel AS resend_channel, \
                            r.created_at AS resend_created_at, c.status AS case_status, {DUE_CASE_COLUMNS} \
                     FROM {{due}} JOIN stage_resends r ON r.id = due.id \
                     JOIN recovery_cases c ON c.id = r.case_id {DUE_CASE_JOINS} \
                     ORDER BY r.due_at, r.id"
                ),
                now_ms,
                lease_ms,
                limit,
            )
            .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        // Counted before the send: a try that never reports back leaves
        // `started` ahead of `attempts`, and the next says "maybe sent".
        let ids: Vec<i64> = rows.iter().map(|r| r.resend_id).collect();
        let (mut tx, _write) = self.begin_write().await?;
        let tries: Vec<(i64, i64, i64)> = sqlx::query_as(&format!(
            "UPDATE stage_resends SET started = started + 1, worker = $1 \
             WHERE id IN ({}) AND status = 'SENDING' RETURNING id, attempts, started",
            id_list(&ids)
        ))
        .persistent(false)
        .bind(worker)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let tries: HashMap<i64, (i64, i64)> =
            tries.into_iter().map(|(id, a, s)| (id, (a, s))).collect();
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let Some(&(attempts, started)) = tries.get(&r.resend_id) else {
                continue;
            };
            let channel = Channel::parse(&r.resend_channel)?;
            out.push((
                DueResend {
                    id: r.resend_id,
                    stage: r.resend_stage,
                    channel,
                    requested_at: r.resend_created_at,
                    case_closed: !matches!(r.case_status.as_str(), "OPEN" | "ENDED"),
                    case: DueCase::from(r.case),
                },
                ResendTry {
                    attempts,
                    maybe_sent: started > attempts + 1,
                },
            ));
        }
        Ok(out)
    }

    /// Records each resend's outcome (only while it is still `SENDING`) and
    /// lets its lease go, in one transaction.
    pub async fn record_resend_outcomes(
        &self,
        outcomes: &[(i64, ResendResult)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let (mut tx, _write) = self.begin_write().await?;
        for (id, result) in outcomes {
            if let ResendResult::Later { due_at_ms } = result {
                // Not tried: the claim's count of a try begun is taken back.
                sqlx::query(
                    "UPDATE stage_resends SET due_at = $2, started = started - 1, lease_until = NULL \
                     WHERE id = $1 AND status = 'SENDING'",
                )
                .bind(id)
                .bind(due_at_ms)
                .execute(&mut *tx)
                .await?;
                continue;
            }
            let (status, provider_ref, error, sent_at, due_at) = match result {
                ResendResult::Sent { provider_ref } => (
                    "SENT",
                    Some(provider_ref.as_str()),
                    None,
                    Some(now_ms),
                    None,
                ),
                ResendResult::Failed { error } => {
                    ("FAILED", None, Some(error.as_str()), Some(now_ms), None)
                }
                ResendResult::Retry { error, due_at_ms } => (
                    "SENDING",
                    None,
                    Some(error.as_str()),
                    None,
                    Some(*due_at_ms),
                ),
                ResendResult::Skipped => ("SKIPPED", None, None, None, None),
                ResendResult::Later { .. } => continue,
            };
            sqlx::query(
                "UPDATE stage_resends SET status = $2, provider_ref = $3, last_error = $4, sent_at = $5, \
                        due_at = COALESCE($6, due_at), attempts = attempts + 1, lease_until = NULL \
                 WHERE id = $1 AND status = 'SENDING'",
            )
            .bind(id)
            .bind(status)
            .bind(provider_ref)
            .bind(error)
            .bind(sent_at)
            .bind(due_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// `(resends still to go, resends begun more than once)` (tests,
    /// audits: did a crash leave one behind?).
    pub async fn resend_backlog(&self) -> Result<(i64, i64), StoreError> {
        Ok(sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN status = 'SENDING' THEN 1 ELSE 0 END), 0), \
                    COALESCE(SUM(CASE WHEN started > 1 THEN 1 ELSE 0 END), 0) FROM stage_resends",
        )
        .fetch_one(&self.pool)
        .await?)
    }
}
