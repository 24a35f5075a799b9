//! The settings history (`domain::settings`): every change to what can
//! send a partner's customers or money elsewhere is recorded, with who made
//! it, and told to the partner in a `settings.changed` notice, in the
//! change's own transaction. The notice also goes to the notify URL a
//! change replaced.

use sqlx::{Any, FromRow, Transaction};

use super::{Store, StoreError};
use crate::domain::settings::{
    NOTICE_TYPE, PartnerUrls, Setting, SettingChange, notice_body, replaced_notify_url, url_changes,
};

/// One recorded change, newest first in the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsHistoryRow {
    pub changed_at_ms: i64,
    pub changed_by: String,
    pub change: SettingChange,
}

#[derive(FromRow)]
struct HistoryRow {
    changed_at: i64,
    changed_by: String,
    setting: String,
    old_value: Option<String>,
    new_value: Option<String>,
}

/// Records `changes` and their notice in the caller's transaction; nothing
/// when there are none.
pub(super) async fn record(
    tx: &mut Transaction<'_, Any>,
    partner_id: i64,
    changes: &[SettingChange],
    by: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    for c in changes {
        sqlx::query(
            "INSERT INTO settings_changes (partner_id, changed_at, changed_by, setting, old_value, new_value) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(partner_id)
        .bind(now_ms)
        .bind(by)
        .bind(c.setting.as_str())
        .bind(c.old.as_deref())
        .bind(c.new.as_deref())
        .execute(&mut **tx)
        .await?;
    }
    // To the current URL (read at delivery), and to the one replaced.
    let replaced = replaced_notify_url(changes);
    for endpoint in std::iter::once(None).chain(replaced.map(Some)) {
        let webhook_id = format!("msg_{}", crate::domain::token::time_ordered_id(now_ms));
        let body = notice_body(changes, by, &webhook_id, now_ms, super::events::livemode());
        sqlx::query(
            "INSERT INTO events (partner_id, webhook_id, type, tid, sequence, body, created_at, \
                                 next_attempt_at, status, endpoint) \
             VALUES ($1, $2, $3, $2, 0, $4, $5, $5, 'PENDING', $6)",
        )
        .bind(partner_id)
        .bind(&webhook_id)
        .bind(NOTICE_TYPE)
        .bind(body.to_string())
        .bind(now_ms)
        .bind(endpoint)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn urls(tx: &mut Transaction<'_, Any>, partner_id: i64) -> Result<PartnerUrls, StoreError> {
    let (origins, recovery_url, notify_url): (String, Option<String>, Option<String>) =
        sqlx::query_as(
            "SELECT embed_origins, recovery_page_url, notify_url FROM partners WHERE id = $1",
        )
        .bind(partner_id)
        .fetch_one(&mut **tx)
        .await?;
    Ok(PartnerUrls {
        origins,
        recovery_url,
        notify_url,
    })
}

impl Store {
    /// The partner's origins and URLs as they are now.
    pub async fn partner_urls(&self, partner_id: i64) -> Result<PartnerUrls, StoreError> {
        let mut tx = self.pool.begin().await?;
        let urls = urls(&mut tx, partner_id).await?;
        tx.commit().await?;
        Ok(urls)
    }

    /// Saves the partner's origins and URLs together; returns what changed
    /// (recorded, and told to the partner).
    pub async fn save_partner_urls(
        &self,
        partner_id: i64,
        new: &PartnerUrls,
        by: &str,
        now_ms: i64,
    ) -> Result<Vec<SettingChange>, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        let old = urls(&mut tx, partner_id).await?;
        let changes = url_changes(&old, new);
        // Saved again, even unchanged, the URL gets a new chance: delivery
        // stopped by a 410 resumes.
        sqlx::query(
            "UPDATE partners SET embed_origins = $2, recovery_page_url = $3, notify_url = $4, \
                    notify_disabled_at = NULL WHERE id = $1",
        )
        .bind(partner_id)
        .bind(&new.origins)
        .bind(new.recovery_url.as_deref())
        .bind(new.notify_url.as_deref())
        .execute(&mut *tx)
        .await?;
        record(&mut tx, partner_id, &changes, by, now_ms).await?;
        tx.commit().await?;
        Ok(changes)
    }

    /// The partner's recorded changes, newest first.
    pub async fn settings_history(
        &self,
        partner_id: i64,
        limit: i64,
    ) -> Result<Vec<SettingsHistoryRow>, StoreError> {
        let rows: Vec<HistoryRow> = sqlx::query_as(
            "SELECT changed_at, changed_by, setting, old_value, new_value FROM settings_changes \
             WHERE partner_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(partner_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(SettingsHistoryRow {
                    changed_at_ms: r.changed_at,
                    changed_by: r.changed_by,
                    change: SettingChange {
                        setting: Setting::parse(&r.setting)?,
                        old: r.old_value,
                        new: r.new_value,
                    },
                })
            })
            .collect()
    }
}
