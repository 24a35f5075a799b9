//! Card windows (`domain::card_window`): what the iframe polls while the
//! card page runs top-level. One row per window, created when the card page
//! first opens; every change is a guarded update, so two requests for one
//! window (a reload of the PG's return, a second instance) agree.

use sqlx::FromRow;

use super::{Store, StoreError};
use crate::domain::card_window::CardWindowStatus;

/// A window as the iframe sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardWindow {
    pub status: CardWindowStatus,
    /// The page notice stored with `Settled`.
    pub notice: Option<String>,
    pub updated_at_ms: i64,
}

#[derive(FromRow)]
struct WindowRow {
    status: CardWindowStatus,
    notice: Option<String>,
    updated_at: i64,
}

impl Store {
    /// Records that the card page opened for `window_id` (once; opening it
    /// again changes nothing). The window as it is now.
    pub async fn open_card_window(
        &self,
        window_id: &str,
        case_id: i64,
        now_ms: i64,
    ) -> Result<CardWindow, StoreError> {
        sqlx::query(
            "INSERT INTO card_windows (id, case_id, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(window_id)
        .bind(case_id)
        .bind(CardWindowStatus::Open)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        self.card_window(window_id, case_id)
            .await?
            .ok_or(StoreError::Integrity("a card window vanished"))
    }

    /// The window, if the card page opened for it, and only for its case.
    pub async fn card_window(
        &self,
        window_id: &str,
        case_id: i64,
    ) -> Result<Option<CardWindow>, StoreError> {
        let row: Option<WindowRow> = sqlx::query_as(
            "SELECT status, notice, updated_at FROM card_windows WHERE id = $1 AND case_id = $2",
        )
        .bind(window_id)
        .bind(case_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| CardWindow {
            status: r.status,
            notice: r.notice,
            updated_at_ms: r.updated_at,
        }))
    }

    /// Moves the window from `from` to `to`; false if it was not in `from`
    /// (someone else moved it first).
    pub async fn move_card_window(
        &self,
        window_id: &str,
        from: CardWindowStatus,
        to: CardWindowStatus,
        notice: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE card_windows SET status = $1, notice = $2, updated_at = $3 \
             WHERE id = $4 AND status = $5",
        )
        .bind(to)
        .bind(notice)
        .bind(now_ms)
        .bind(window_id)
        .bind(from)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
