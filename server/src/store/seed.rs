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

/// Cases in final states, for the analytics figures' tests, the console's
/// end-to-end walk and `make bench`: each fact becomes an order, its case,
/// the stage messages it reached and (recovered by a charge) the succeeded
/// charge, as the engine, the page and the partner API leave them.
pub struct OutcomeSeed<'a> {
    /// Prefix of the orders' partner ids (`{prefix}-{n}`); unique per call.
    pub prefix: &'a str,
    pub facts: &'a [crate::domain::analytics::CaseFact],
}

/// Facts per transaction: large seeds commit as they go.
const SEEDS_PER_TX: usize = 1000;

impl Store {
    /// Seeds `seed.facts` for a partner; returns the case ids in order.
    pub async fn seed_outcomes(
        &self,
        partner_id: i64,
        seed: &OutcomeSeed<'_>,
    ) -> Result<Vec<i64>, StoreError> {
        use crate::domain::analytics::{EndedAs, Outcome, RecoveredBy};
        let mut case_ids = Vec::with_capacity(seed.facts.len());
        for (chunk_no, chunk) in seed.facts.chunks(SEEDS_PER_TX).enumerate() {
            let (mut tx, _write) = self.begin_write().await?;
            let first_at = chunk.first().map_or(0, |f| f.failed_at_ms);
            sqlx::query(
                "INSERT INTO customers (partner_id, partner_customer_id, name, email, phone, created_at, updated_at) \
                 VALUES ($1, 'seeded-customer', '김시드', 'seed@example.com', '01000000000', $2, $2) \
                 ON CONFLICT (partner_id, partner_customer_id) DO NOTHING",
            )
            .bind(partner_id)
            .bind(first_at)
            .execute(&mut *tx)
            .await?;
            let (customer_id,): (i64,) = sqlx::query_as(
                "SELECT id FROM customers WHERE partner_id = $1 AND partner_customer_id = 'seeded-customer'",
            )
            .bind(partner_id)
            .fetch_one(&mut *tx)
            .await?;
            for (i, f) in chunk.iter().enumerate() {
                let n = chunk_no * SEEDS_PER_TX + i + 1;
                let closed_at = match f.outcome {
                    Outcome::Open => None,
                    Outcome::Recovered { after_ms, .. } => Some(f.failed_at_ms + after_ms),
                    Outcome::Ended(_) => Some(f.failed_at_ms + (f.stage + 1) * 3_600_000),
                };
                let (case_status, order_status, end_action) = match f.outcome {
                    Outcome::Open => ("OPEN", "PAYMENT_FAILURE", None),
                    Outcome::Recovered { .. } => ("RECOVERED", "PAID", None),
                    Outcome::Ended(EndedAs::Paused) => ("ENDED", "PAYMENT_FAILURE", Some("PAUSE")),
                    Outcome::Ended(EndedAs::Canceled) => ("CANCELED", "CANCELED", Some("CANCEL")),
                };
                let (order_id,): (i64,) = sqlx::query_as(
                    "INSERT INTO orders (partner_id, partner_order_id, customer_id, amount, amount_returned, \
                                         status, payment_gateway, id_key, payment_info, error_code, \
                                         error_message, created_at) \
                     VALUES ($1, $2, $3, $4, 0, $5, 'UNKNOWN', $7, '신한카드 1234*', \
                             'DECLINED', '한도초과', $6) RETURNING id",
                )
                .bind(partner_id)
                .bind(format!("{}-{n}", seed.prefix))
                .bind(customer_id)
                .bind(f.amount)
                .bind(order_status)
                .bind(f.failed_at_ms)
                // Each customer their own card (the sandbox reads the part
                // before the dot): one card's 30-day budget is one
                // customer's, as in life.
                .bind(format!("sandbox_success.{}-{n}", seed.prefix))
                .fetch_one(&mut *tx)
                .await?;
                let token = TokenHash::of(&crate::domain::token::new_recovery_token());
                let (case_id,): (i64,) = sqlx::query_as(
                    "INSERT INTO recovery_cases (partner_id, order_id, token_hash, status, failed_at, \
                                                 failure_code, failure_reason, opened_at, closed_at, \
                                                 ended_at, end_action, next_stage) \
                     VALUES ($1, $2, $3, $4, $5, 'DECLINED', '한도초과', $5, $6, $7, $8, $9) RETURNING id",
                )
                .bind(partner_id)
                .bind(order_id)
                .bind(&token.0)
                .bind(case_status)
                .bind(f.failed_at_ms)
                .bind(closed_at)
                .bind(end_action.and(closed_at))
                .bind(end_action)
                .bind(f.stage + 1)
                .fetch_one(&mut *tx)
                .await?;
                for stage in 1..=f.stage {
                    // An hour apart: a seed of today has no message in the future.
                    let at = f.failed_at_ms + (stage - 1) * 3_600_000;
                    sqlx::query(
                        "INSERT INTO stage_sends (case_id, stage, channel, status, dedupe_key, attempts, \
                                                  provider_ref, created_at, sent_at, started) \
                         VALUES ($1, $2, 'ALIMTALK', 'SENT', $3, 1, $4, $5, $5, 1)",
                    )
                    .bind(case_id)
                    .bind(stage)
                    .bind(format!("seed-{case_id}-{stage}"))
                    .bind(format!("outbox:seed-{case_id}-{stage}"))
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
                if let Outcome::Recovered {
                    by: RecoveredBy::Charge(source),
                    ..
                } = f.outcome
                {
                    sqlx::query(
                        "INSERT INTO charges (case_id, idempotency_key, amount, status, gateway_ref, created_at, \
                                              attempted_at, billing_key, source, stage) \
                         VALUES ($1, $2, $3, 'SUCCEEDED', $4, $5, $5, $8, $6, $7)",
                    )
                    .bind(case_id)
                    .bind(format!("seed-charge-{case_id}"))
                    .bind(f.amount)
                    .bind(format!("sandbox_seed-{case_id}"))
                    .bind(closed_at)
                    .bind(source.as_str())
                    .bind(f.stage)
                    .bind(format!("sandbox_success.{}-{n}", seed.prefix))
                    .execute(&mut *tx)
                    .await?;
                }
                case_ids.push(case_id);
            }
            tx.commit().await?;
        }
        Ok(case_ids)
    }
}
