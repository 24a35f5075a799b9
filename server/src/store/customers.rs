//! Customers, unique per partner by the partner's own id.

use sqlx::FromRow;

use super::{Store, StoreError};
use crate::domain::customer::NewCustomer;

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct CustomerRecord {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub partner_customer_id: String,
}

/// What a create call did, which decides 201 or 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Created,
    /// A record with this partner id existed and was returned unchanged.
    Existing,
    /// A record existed and `replaceIfExists` overwrote it.
    Replaced,
}

const COLUMNS: &str = "id, name, email, phone, partner_customer_id";

impl Store {
    /// Creates the customer unless the partner already has one with this
    /// partner id; then returns it, or replaces it when asked. One statement
    /// per branch, so concurrent creates cannot produce duplicates.
    pub async fn upsert_customer(
        &self,
        partner_id: i64,
        c: &NewCustomer,
        replace: bool,
        now_ms: i64,
    ) -> Result<(CustomerRecord, UpsertOutcome), StoreError> {
        let inserted: Option<CustomerRecord> = sqlx::query_as(&format!(
            "INSERT INTO customers (partner_id, partner_customer_id, name, email, phone, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (partner_id, partner_customer_id) DO NOTHING RETURNING {COLUMNS}"
        ))
        .bind(partner_id)
        .bind(&c.partner_customer_id)
        .bind(&c.name)
        .bind(&c.email)
        .bind(&c.phone)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(record) = inserted {
            return Ok((record, UpsertOutcome::Created));
        }
        if replace {
            let record: CustomerRecord = sqlx::query_as(&format!(
                "UPDATE customers SET name = $3, email = $4, phone = $5, updated_at = $6 \
                 WHERE partner_id = $1 AND partner_customer_id = $2 RETURNING {COLUMNS}"
            ))
            .bind(partner_id)
            .bind(&c.partner_customer_id)
            .bind(&c.name)
            .bind(&c.email)
            .bind(&c.phone)
            .bind(now_ms)
            .fetch_one(&self.pool)
            .await?;
            return Ok((record, UpsertOutcome::Replaced));
        }
        let record: CustomerRecord = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM customers WHERE partner_id = $1 AND partner_customer_id = $2"
        ))
        .bind(partner_id)
        .bind(&c.partner_customer_id)
        .fetch_one(&self.pool)
        .await?;
        Ok((record, UpsertOutcome::Existing))
    }

    /// A customer by our id, only if it belongs to the partner.
    pub async fn customer(
        &self,
        partner_id: i64,
        id: i64,
    ) -> Result<Option<CustomerRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM customers WHERE partner_id = $1 AND id = $2"
        ))
        .bind(partner_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }
}
