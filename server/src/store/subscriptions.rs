//! Subscriptions, each of a customer of the same partner.

use sqlx::FromRow;

use super::upsert::{self, UpsertOutcome};
use super::{Store, StoreError};
use crate::domain::subscription::NewSubscription;

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SubscriptionRecord {
    pub id: i64,
    pub customer_id: i64,
    pub status: String,
    pub current_period_start: i64,
    pub current_period_end: i64,
    pub recurring_interval: String,
    pub recurring_interval_count: i64,
    pub partner_subscription_id: String,
    pub trial_start: Option<i64>,
    pub trial_end: Option<i64>,
    pub cancel_at_period_end: i64,
    pub initial_order_id: Option<i64>,
}

const COLUMNS: &str = "id, customer_id, status, current_period_start, current_period_end, recurring_interval, \
                       recurring_interval_count, partner_subscription_id, trial_start, trial_end, \
                       cancel_at_period_end, initial_order_id";

impl Store {
    /// The caller has checked the customer (and initial order) are the partner's.
    pub async fn upsert_subscription(
        &self,
        partner_id: i64,
        s: &NewSubscription,
        replace: bool,
        now_ms: i64,
    ) -> Result<(SubscriptionRecord, UpsertOutcome), StoreError> {
        let insert = format!(
            "INSERT INTO subscriptions (partner_id, partner_subscription_id, customer_id, status, \
                 current_period_start, current_period_end, recurring_interval, recurring_interval_count, \
                 trial_start, trial_end, cancel_at_period_end, initial_order_id, created_at, updated_at) \
             VALUES ($1, $2, $3, 'ACTIVE', $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
             ON CONFLICT (partner_id, partner_subscription_id) DO NOTHING RETURNING {COLUMNS}"
        );
        let update = format!(
            "UPDATE subscriptions SET customer_id = $3, current_period_start = $4, current_period_end = $5, \
                 recurring_interval = $6, recurring_interval_count = $7, trial_start = $8, trial_end = $9, \
                 cancel_at_period_end = $10, initial_order_id = $11, updated_at = $12 \
             WHERE partner_id = $1 AND partner_subscription_id = $2 RETURNING {COLUMNS}"
        );
        let select = format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE partner_id = $1 AND partner_subscription_id = $2"
        );
        let bind_all = |sql| {
            sqlx::query_as(sql)
                .bind(partner_id)
                .bind(&s.partner_subscription_id)
                .bind(s.customer_id)
                .bind(s.current_period_start_ms)
                .bind(s.current_period_end_ms)
                .bind(s.interval.as_str())
                .bind(s.interval_count)
                .bind(s.trial_start_ms)
                .bind(s.trial_end_ms)
                .bind(i64::from(s.cancel_at_period_end))
                .bind(s.initial_order_id)
                .bind(now_ms)
        };
        upsert::run(
            &self.pool,
            replace,
            || bind_all(&insert),
            || bind_all(&update),
            || {
                sqlx::query_as(&select)
                    .bind(partner_id)
                    .bind(&s.partner_subscription_id)
            },
        )
        .await
    }

    /// A subscription by our id, only if it belongs to the partner.
    pub async fn subscription(
        &self,
        partner_id: i64,
        id: i64,
    ) -> Result<Option<SubscriptionRecord>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE partner_id = $1 AND id = $2"
        ))
        .bind(partner_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Whether the partner has an order with this id.
    pub async fn owns_order(&self, partner_id: i64, id: i64) -> Result<bool, StoreError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM orders WHERE partner_id = $1 AND id = $2")
                .bind(partner_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }
}
