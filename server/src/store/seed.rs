//! A complete failed order in one transaction: customer, product, price,
//! subscription, order and its recovery case. Used by the demo and by tests;
//! the partner API builds the same rows one call at a time.

use super::{Store, StoreError};
use crate::domain::token::TokenHash;

pub struct FailedOrderSeed<'a> {
    pub partner_customer_id: &'a str,
    pub customer_name: &'a str,
    pub customer_phone: &'a str,
    pub product_name: &'a str,
    pub product_image_url: Option<&'a str>,
    pub amount: i64,
    pub partner_order_id: &'a str,
    pub id_key: &'a str,
    pub payment_info: &'a str,
    pub failure_reason: &'a str,
    pub failed_at_ms: i64,
    /// Hash of the recovery-link token the caller generated.
    pub token: &'a TokenHash,
    /// The order's `paymentGateway` (StepPay's names), e.g. `TOSS`.
    pub payment_gateway: &'a str,
}

#[derive(Debug, Clone, Copy)]
pub struct DemoCase {
    pub case_id: i64,
    pub order_id: i64,
}

impl Store {
    pub async fn seed_failed_order(
        &self,
        partner_id: i64,
        s: &FailedOrderSeed<'_>,
    ) -> Result<DemoCase, StoreError> {
        let now = s.failed_at_ms;
        let (mut tx, _write) = self.begin_write().await?;
        // Upsert-style so seeding many orders for one customer/product works.
        sqlx::query(
            "INSERT INTO customers (partner_id, partner_customer_id, name, email, phone, created_at, updated_at) \
             VALUES ($1, $2, $3, 'customer@example.com', $5, $4, $4) \
             ON CONFLICT (partner_id, partner_customer_id) DO NOTHING",
        )
        .bind(partner_id)
        .bind(s.partner_customer_id)
        .bind(s.customer_name)
        .bind(now)
        .bind(s.customer_phone)
        .execute(&mut *tx)
        .await?;
        let (customer_id,): (i64,) = sqlx::query_as(
            "SELECT id FROM customers WHERE partner_id = $1 AND partner_customer_id = $2",
        )
        .bind(partner_id)
        .bind(s.partner_customer_id)
        .fetch_one(&mut *tx)
        .await?;
        let (product_id,): (i64,) = sqlx::query_as(
            "INSERT INTO products (partner_id, partner_product_id, name, featured_image_url, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(partner_id)
        .bind(format!("product-{}", s.partner_order_id))
        .bind(s.product_name)
        .bind(s.product_image_url)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let (price_id,): (i64,) = sqlx::query_as(
            "INSERT INTO prices (partner_id, partner_price_id, product_id, name, price, is_recurring, \
                                 recurring_interval, recurring_interval_count, created_at) \
             VALUES ($1, $2, $3, $4, $5, 1, 'MONTH', 1, $6) RETURNING id",
        )
        .bind(partner_id)
        .bind(format!("price-{}", s.partner_order_id))
        .bind(product_id)
        .bind(s.product_name)
        .bind(s.amount)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let (subscription_id,): (i64,) = sqlx::query_as(
            "INSERT INTO subscriptions (partner_id, partner_subscription_id, customer_id, status, \
                                        current_period_start, current_period_end, recurring_interval, \
                                        recurring_interval_count, created_at) \
             VALUES ($1, $2, $3, 'UNPAID', $4, $4, 'MONTH', 1, $4) RETURNING id",
        )
        .bind(partner_id)
        .bind(format!("sub-{}", s.partner_order_id))
        .bind(customer_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let (order_id,): (i64,) = sqlx::query_as(
            "INSERT INTO orders (partner_id, partner_order_id, customer_id, subscription_id, amount, \
                                 amount_returned, status, payment_gateway, id_key, payment_info, \
                                 error_code, error_message, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, 'PAYMENT_FAILURE', $10, $6, $7, 'DECLINED', $8, $9) \
             RETURNING id",
        )
        .bind(partner_id)
        .bind(s.partner_order_id)
        .bind(customer_id)
        .bind(subscription_id)
        .bind(s.amount)
        .bind(s.id_key)
        .bind(s.payment_info)
        .bind(s.failure_reason)
        .bind(now)
        .bind(s.payment_gateway)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO order_items (order_id, price_id, quantity) VALUES ($1, $2, 1)")
            .bind(order_id)
            .bind(price_id)
            .execute(&mut *tx)
            .await?;
        let case_id = super::cases::open_case(
            &mut tx,
            &super::cases::OpenCase {
                partner_id,
                order_id,
                subscription_id: Some(subscription_id),
                token: s.token,
                failed_at_ms: now,
                now_ms: now,
            },
        )
        .await?
        .ok_or(StoreError::Integrity("a new order already had a case"))?;
        tx.commit().await?;
        Ok(DemoCase { case_id, order_id })
    }
}
