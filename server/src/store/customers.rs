//! Customers, unique per partner by the partner's own id.

use sqlx::FromRow;

use super::upsert::{self, UpsertOutcome};
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

impl Store {
    /// Creates the customer, or returns/replaces the partner's existing one.
    pub async fn upsert_customer(
        &self,
        partner_id: i64,
        c: &NewCustomer,
        replace: bool,
        now_ms: i64,
    ) -> Result<(CustomerRecord, UpsertOutcome), StoreError> {
        // Insert and update take the same parameters.
        let bind = |sql: &'static str| {
            sqlx::query_as(sql)
                .bind(partner_id)
                .bind(&c.partner_customer_id)
                .bind(&c.name)
                .bind(&c.email)
                .bind(&c.phone)
                .bind(now_ms)
        };
        upsert::run(
            &self.pool,
            replace,
            || {
                bind(
                    "INSERT INTO customers (partner_id, partner_customer_id, name, email, phone, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6) \
                     ON CONFLICT (partner_id, partner_customer_id) DO NOTHING \
                     RETURNING id, name, email, phone, partner_customer_id",
                )
            },
            || {
                bind(
                    "UPDATE customers SET name = $3, email = $4, phone = $5, updated_at = $6 \
                     WHERE partner_id = $1 AND partner_customer_id = $2 \
                     RETURNING id, name, email, phone, partner_customer_id",
                )
            },
            || {
                sqlx::query_as(
                    "SELECT id, name, email, phone, partner_customer_id FROM customers \
                     WHERE partner_id = $1 AND partner_customer_id = $2",
                )
                .bind(partner_id)
                .bind(&c.partner_customer_id)
            },
        )
        .await
    }

    /// A customer by our id, only if it belongs to the partner.
    pub async fn customer(
        &self,
        partner_id: i64,
        id: i64,
    ) -> Result<Option<CustomerRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, name, email, phone, partner_customer_id FROM customers \
             WHERE partner_id = $1 AND id = $2",
        )
        .bind(partner_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }
}
