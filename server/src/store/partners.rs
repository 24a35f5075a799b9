//! Partners and their Secret-Token hashes.

use sqlx::FromRow;

use super::{Store, StoreError};
use crate::domain::origin::AllowedOrigins;
use crate::domain::settings::{Setting, SettingChange};
use crate::domain::token::TokenHash;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRecord {
    pub id: i64,
    pub name: String,
    pub business_name: String,
    pub origins: AllowedOrigins,
}

#[derive(FromRow)]
struct PartnerRow {
    id: i64,
    name: String,
    business_name: String,
    embed_origins: String,
}

#[derive(FromRow)]
struct TokenPartnerRow {
    token_hash: String,
    expires_at: Option<i64>,
    id: i64,
    name: String,
    business_name: String,
    embed_origins: String,
}

impl From<PartnerRow> for PartnerRecord {
    fn from(r: PartnerRow) -> Self {
        PartnerRecord {
            id: r.id,
            name: r.name,
            business_name: r.business_name,
            origins: AllowedOrigins::from_stored(&r.embed_origins),
        }
    }
}

impl Store {
    /// Creates a partner with its first token (stored hashed), atomically.
    pub async fn create_partner(
        &self,
        name: &str,
        business_name: &str,
        origins: &AllowedOrigins,
        token: &TokenHash,
        now_ms: i64,
    ) -> Result<PartnerRecord, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        let row: PartnerRow = sqlx::query_as(
            "INSERT INTO partners (name, business_name, embed_origins, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id, name, business_name, embed_origins",
        )
        .bind(name)
        .bind(business_name)
        .bind(origins.to_stored())
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        insert_token(&mut tx, row.id, token, now_ms).await?;
        tx.commit().await?;
        Ok(row.into())
    }

    pub async fn partner_by_id(&self, id: i64) -> Result<Option<PartnerRecord>, StoreError> {
        let row: Option<PartnerRow> = sqlx::query_as(
            "SELECT id, name, business_name, embed_origins FROM partners WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    /// The partner's settings the console shows: notify URL, recovery page
    /// URL, and the gateway problem that stopped its retries, if any.
    pub async fn partner_settings(
        &self,
        id: i64,
    ) -> Result<(Option<String>, Option<String>, Option<String>, Option<i64>), StoreError> {
        Ok(sqlx::query_as(
            "SELECT notify_url, recovery_page_url, gateway_problem, notify_disabled_at FROM partners WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn partner_by_name(&self, name: &str) -> Result<Option<PartnerRecord>, StoreError> {
        let row: Option<PartnerRow> = sqlx::query_as(
            "SELECT id, name, business_name, embed_origins FROM partners WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    /// The partner a presented Secret-Token belongs to, if the token is current
    /// or still in its grace period.
    pub async fn partner_by_token(
        &self,
        presented: &TokenHash,
        now_ms: i64,
    ) -> Result<Option<PartnerRecord>, StoreError> {
        // One round trip on every API call: the token row and its partner.
        let row: Option<TokenPartnerRow> = sqlx::query_as(
            "SELECT t.token_hash, t.expires_at, p.id, p.name, p.business_name, p.embed_origins \
             FROM partner_tokens t JOIN partners p ON p.id = t.partner_id WHERE t.token_hash = $1",
        )
        .bind(&presented.0)
        .fetch_optional(&self.pool)
        .await?;
        // The index lookup finds the row; the constant-time comparison is the
        // actual check, so correctness never rests on the database's collation.
        let row = row.filter(|t| {
            presented.matches(&t.token_hash) && t.expires_at.is_none_or(|exp| exp > now_ms)
        });
        Ok(row.map(|t| {
            PartnerRow {
                id: t.id,
                name: t.name,
                business_name: t.business_name,
                embed_origins: t.embed_origins,
            }
            .into()
        }))
    }

    /// Replaces every token of the partner with a new one at once (no grace
    /// period). Used for the demo partner, whose token is printed at each start.
    pub async fn replace_partner_tokens(
        &self,
        partner_id: i64,
        token: &TokenHash,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        sqlx::query("DELETE FROM partner_tokens WHERE partner_id = $1")
            .bind(partner_id)
            .execute(&mut *tx)
            .await?;
        insert_token(&mut tx, partner_id, token, now_ms).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn insert_token(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    partner_id: i64,
    token: &TokenHash,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO partner_tokens (partner_id, token_hash, created_at) VALUES ($1, $2, $3)",
    )
    .bind(partner_id)
    .bind(&token.0)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    pub async fn list_partners(&self) -> Result<Vec<PartnerRecord>, StoreError> {
        let rows: Vec<PartnerRow> = sqlx::query_as(
            "SELECT id, name, business_name, embed_origins FROM partners ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Adds a new token; the partner's current tokens stay valid until
    /// `now + grace_ms`, so its servers can switch without an outage.
    pub async fn rotate_partner_token(
        &self,
        partner_id: i64,
        token: &TokenHash,
        grace_ms: i64,
        by: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        sqlx::query(
            "UPDATE partner_tokens SET expires_at = $2 \
             WHERE partner_id = $1 AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(partner_id)
        .bind(now_ms + grace_ms)
        .execute(&mut *tx)
        .await?;
        insert_token(&mut tx, partner_id, token, now_ms).await?;
        super::settings::record(
            &mut tx,
            partner_id,
            &[SettingChange::rotated(Setting::SecretToken)],
            by,
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets the origins with no trace in the settings history: for seeding
    /// and tests. People change settings through `save_partner_urls`.
    pub async fn set_partner_origins(
        &self,
        partner_id: i64,
        origins: &AllowedOrigins,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE partners SET embed_origins = $2 WHERE id = $1")
            .bind(partner_id)
            .bind(origins.to_stored())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets the notify URL with no trace in the settings history: for
    /// seeding, benchmarks and tests (`save_partner_urls` records).
    pub async fn set_partner_notify_url(
        &self,
        partner_id: i64,
        url: Option<&str>,
    ) -> Result<(), StoreError> {
        // A new URL is a new chance: an endpoint disabled by a 410 revives.
        sqlx::query("UPDATE partners SET notify_url = $2, notify_disabled_at = NULL WHERE id = $1")
            .bind(partner_id)
            .bind(url)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets the recovery page URL with no trace (seeding and tests).
    pub async fn set_partner_recovery_url(
        &self,
        partner_id: i64,
        url: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE partners SET recovery_page_url = $2 WHERE id = $1")
            .bind(partner_id)
            .bind(url)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
