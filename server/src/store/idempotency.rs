//! Stored responses for `Idempotency-Key` requests.

use super::{Store, StoreError};

/// What the store knows about a key when a request arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// First use: the caller owns the key and must `finish` it.
    Claimed,
    /// A request with this key is still running (or was abandoned).
    InFlight { request_hash: String },
    /// Done before: the request's hash and the response to replay.
    Done {
        request_hash: String,
        status: u16,
        body: String,
    },
}

impl Store {
    /// Claims the key for a request with `request_hash`, or reports what it
    /// holds. A claim older than `stale_ms` that never finished (the client
    /// went away and the request was dropped, or the process died) is taken
    /// over, so a retry is not refused for the rest of the key's life.
    pub async fn claim_idempotency_key(
        &self,
        partner_id: i64,
        key: &str,
        request_hash: &str,
        now_ms: i64,
        stale_ms: i64,
    ) -> Result<KeyState, StoreError> {
        let taken_over = sqlx::query(
            "UPDATE idempotency_keys SET request_hash = $3, created_at = $4 \
             WHERE partner_id = $1 AND idempotency_key = $2 AND request_hash = $3 \
               AND status = 0 AND created_at < $5",
        )
        .bind(partner_id)
        .bind(key)
        .bind(request_hash)
        .bind(now_ms)
        .bind(now_ms - stale_ms)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if taken_over == 1 {
            return Ok(KeyState::Claimed);
        }
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (partner_id, idempotency_key, request_hash, status, created_at) \
             VALUES ($1, $2, $3, 0, $4) ON CONFLICT (partner_id, idempotency_key) DO NOTHING",
        )
        .bind(partner_id)
        .bind(key)
        .bind(request_hash)
        .bind(now_ms)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(KeyState::Claimed);
        }
        let (stored_hash, status, body): (String, i64, Option<String>) = sqlx::query_as(
            "SELECT request_hash, status, response_body FROM idempotency_keys \
             WHERE partner_id = $1 AND idempotency_key = $2",
        )
        .bind(partner_id)
        .bind(key)
        .fetch_one(&self.pool)
        .await?;
        Ok(match (status, body) {
            (0, _) | (_, None) => KeyState::InFlight {
                request_hash: stored_hash,
            },
            (status, Some(body)) => KeyState::Done {
                request_hash: stored_hash,
                status: u16::try_from(status).unwrap_or(500),
                body,
            },
        })
    }

    /// Stores the response of a claimed key.
    pub async fn finish_idempotency_key(
        &self,
        partner_id: i64,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE idempotency_keys SET status = $3, response_body = $4 \
             WHERE partner_id = $1 AND idempotency_key = $2",
        )
        .bind(partner_id)
        .bind(key)
        .bind(i64::from(status))
        .bind(body)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Releases a claimed key whose request produced no storable response, so
    /// a retry can run.
    pub async fn release_idempotency_key(
        &self,
        partner_id: i64,
        key: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM idempotency_keys WHERE partner_id = $1 AND idempotency_key = $2 AND status = 0")
            .bind(partner_id)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets keys older than `before_ms` (they are kept at least 24 hours).
    pub async fn purge_idempotency_keys(&self, before_ms: i64) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
                .bind(before_ms)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }
}
