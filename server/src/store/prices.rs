//! Prices, each of a product of the same partner.

use sqlx::FromRow;

use super::upsert::{self, UpsertOutcome};
use super::{Store, StoreError};
use crate::domain::price::NewPrice;

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct PriceRecord {
    pub id: i64,
    pub name: String,
    pub partner_price_id: String,
    pub product_id: i64,
    pub price: i64,
    pub is_recurring: i64,
    pub recurring_interval: Option<String>,
    pub recurring_interval_count: Option<i64>,
}

impl Store {
    /// The caller has checked that `p.product_id` is the partner's product.
    pub async fn upsert_price(
        &self,
        partner_id: i64,
        p: &NewPrice,
        replace: bool,
        now_ms: i64,
    ) -> Result<(PriceRecord, UpsertOutcome), StoreError> {
        let interval = p.recurrence.as_ref().map(|r| r.interval.as_str());
        let count = p.recurrence.as_ref().map(|r| r.count);
        let recurring = i64::from(p.recurrence.is_some());
        // Insert and update take the same parameters.
        let bind = |sql: &'static str| {
            sqlx::query_as(sql)
                .bind(partner_id)
                .bind(&p.partner_price_id)
                .bind(p.product_id)
                .bind(&p.name)
                .bind(p.price)
                .bind(recurring)
                .bind(interval)
                .bind(count)
                .bind(now_ms)
        };
        upsert::run(
            &self.pool,
            replace,
            || {
                bind(
                    "INSERT INTO prices (partner_id, partner_price_id, product_id, name, price, is_recurring, \
                                         recurring_interval, recurring_interval_count, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
                     ON CONFLICT (partner_id, partner_price_id) DO NOTHING \
                     RETURNING id, name, partner_price_id, product_id, price, is_recurring, \
                               recurring_interval, recurring_interval_count",
                )
            },
            || {
                bind(
                    "UPDATE prices SET product_id = $3, name = $4, price = $5, is_recurring = $6, \
                                       recurring_interval = $7, recurring_interval_count = $8, updated_at = $9 \
                     WHERE partner_id = $1 AND partner_price_id = $2 \
                     RETURNING id, name, partner_price_id, product_id, price, is_recurring, \
                               recurring_interval, recurring_interval_count",
                )
            },
            || {
                sqlx::query_as(
                    "SELECT id, name, partner_price_id, product_id, price, is_recurring, \
                            recurring_interval, recurring_interval_count \
                     FROM prices WHERE partner_id = $1 AND partner_price_id = $2",
                )
                .bind(partner_id)
                .bind(&p.partner_price_id)
            },
        )
        .await
    }

    /// A price by our id, only if it belongs to the partner.
    pub async fn price(&self, partner_id: i64, id: i64) -> Result<Option<PriceRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, name, partner_price_id, product_id, price, is_recurring, \
                    recurring_interval, recurring_interval_count \
             FROM prices WHERE partner_id = $1 AND id = $2",
        )
        .bind(partner_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }
}
