//! What console users do to a case, recorded with who and when; pausing
//! and resuming a case's messages (the other actions go through the
//! partner API's and the page's own store paths).

use super::{Store, StoreError, allowing};
use crate::domain::case::CaseEvent;

/// One recorded console action.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConsoleActionRow {
    pub at: i64,
    pub email: String,
    pub action: String,
    pub detail: Option<String>,
}

impl Store {
    pub async fn record_console_action(
        &self,
        case_id: i64,
        user_id: i64,
        action: &str,
        detail: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        insert_action(&mut tx, case_id, user_id, action, detail, now_ms).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn console_actions(&self, case_id: i64) -> Result<Vec<ConsoleActionRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT a.at, u.email, a.action, a.detail FROM console_actions a \
             JOIN console_users u ON u.id = a.user_id WHERE a.case_id = $1 ORDER BY a.id",
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Holds an open case's messages: the due stage is kept aside and the
    /// engine skips the case. False if it was not open or already paused.
    /// The action is recorded in the same transaction.
    pub async fn pause_case_messages(
        &self,
        case_id: i64,
        user_id: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.change_case_recording(
            &format!(
                "UPDATE recovery_cases SET paused_next_stage_at = next_stage_at, next_stage_at = NULL, \
                        messages_paused_at = $2, lease_until = NULL \
                 WHERE id = $1 AND status IN ({}) AND messages_paused_at IS NULL \
                   AND next_stage_at IS NOT NULL",
                allowing(CaseEvent::MessagesHeld)
            ),
            (case_id, user_id, "pause_messages"),
            now_ms,
        )
        .await
    }

    /// Lets a paused case's messages go again: the stage kept aside is due
    /// when it was, or now if that has passed.
    pub async fn resume_case_messages(
        &self,
        case_id: i64,
        user_id: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.change_case_recording(
            &format!(
                "UPDATE recovery_cases SET \
                        next_stage_at = CASE WHEN paused_next_stage_at < $2 THEN $2 ELSE paused_next_stage_at END, \
                        paused_next_stage_at = NULL, messages_paused_at = NULL \
                 WHERE id = $1 AND messages_paused_at IS NOT NULL AND status IN ({})",
                allowing(CaseEvent::MessagesHeld)
            ),
            (case_id, user_id, "resume_messages"),
            now_ms,
        )
        .await
    }

    /// Runs a conditional update of one case (`$1` the case, `$2` now) and,
    /// if it changed the case, records `(case, user, action)` in the same
    /// transaction.
    async fn change_case_recording(
        &self,
        sql: &str,
        (case_id, user_id, action): (i64, i64, &str),
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        let changed = sqlx::query(sql)
            .bind(case_id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if changed {
            insert_action(&mut tx, case_id, user_id, action, None, now_ms).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Whether the case's messages are paused.
    pub async fn case_messages_paused(&self, case_id: i64) -> Result<bool, StoreError> {
        let (paused,): (Option<i64>,) =
            sqlx::query_as("SELECT messages_paused_at FROM recovery_cases WHERE id = $1")
                .bind(case_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(paused.is_some())
    }
}

pub(super) async fn insert_action(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    case_id: i64,
    user_id: i64,
    action: &str,
    detail: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO console_actions (case_id, user_id, action, detail, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(case_id)
    .bind(user_id)
    .bind(action)
    .bind(detail)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
