//! Orders with their items; a failed order opens a recovery case in the same
//! transaction, so there is never a failed order without its case.

use sqlx::{Any, FromRow, Transaction};

use super::upsert::UpsertOutcome;
use super::{CustomerRecord, PriceRecord, ProductRecord, Store, StoreError};
use crate::domain::order::NewOrder;
use crate::domain::token::TokenHash;

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct OrderRow {
    pub id: i64,
    pub customer_id: i64,
    pub amount: i64,
    pub amount_returned: i64,
    pub status: String,
    pub payment_gateway: String,
    pub payment_date: Option<i64>,
    pub id_key: Option<String>,
    pub partner_order_id: String,
}

/// An order with everything its DTO nests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderView {
    pub order: OrderRow,
    pub customer: CustomerRecord,
    pub items: Vec<(PriceRecord, ProductRecord, i64)>,
    /// When the open recovery case's next stage is due; `None` without one.
    pub retry_at_ms: Option<i64>,
    /// What recovered the order, if a charge of ours did: the charge's
    /// source (`retry`, `page`, `method_change`, `scheduled_date`), its
    /// number among the case's charges, and the stage it followed.
    pub recovery: Option<(String, i64, i64)>,
}

/// Why an order write was refused; nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderRefused {
    /// A reference that is not the partner's.
    UnknownRef(UnknownRef),
    /// A paid order asked to fail again: a paid order is final.
    AlreadyPaid,
}

/// SQL: the order row `alias` is paid. The partner said so (`PAID`), or a
/// charge of ours moved money for it (one awaiting its refund, or refunded
/// since, included: the partner settled the order some other way, whatever
/// its status says since). A paid order is final: no new
/// case opens for it, nothing charges it, nothing settles it again.
pub(super) fn order_is_paid(alias: &str) -> String {
    use crate::domain::case::ChargeStatus;
    format!(
        "({alias}.status = 'PAID' OR EXISTS (SELECT 1 FROM charges paid_ch \
           JOIN recovery_cases paid_c ON paid_c.id = paid_ch.case_id \
           WHERE paid_c.order_id = {alias}.id AND paid_ch.status IN ({})))",
        crate::domain::case::sql_list(&[
            ChargeStatus::Succeeded,
            ChargeStatus::NeedsRefund,
            ChargeStatus::Refunding,
            ChargeStatus::Refunded,
        ])
    )
}

/// Whether the order is paid (`order_is_paid`), in the caller's transaction.
pub(super) async fn is_paid(
    tx: &mut Transaction<'_, Any>,
    order_id: i64,
) -> Result<bool, StoreError> {
    let (paid,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM orders o WHERE o.id = $1 AND {}",
        order_is_paid("o")
    ))
    .bind(order_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(paid > 0)
}

/// A reference in the order that is not the partner's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownRef {
    Customer,
    Price(usize),
    Subscription,
}

const ORDER_COLUMNS: &str = "id, customer_id, amount, amount_returned, status, payment_gateway, payment_date, id_key, partner_order_id";

impl Store {
    /// Creates the order (or returns/replaces the partner's existing one).
    /// A new failed order opens a recovery case with `link_token` due now.
    /// Replacing a paid order with a failed one is refused: the debt was
    /// paid, and reopening it is how a customer pays twice.
    pub async fn create_order(
        &self,
        partner_id: i64,
        o: &NewOrder,
        replace: bool,
        link_token: &TokenHash,
        now_ms: i64,
    ) -> Result<Result<(i64, UpsertOutcome), OrderRefused>, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        if let Some(missing) = check_refs(&mut tx, partner_id, o).await? {
            return Ok(Err(OrderRefused::UnknownRef(missing)));
        }
        if replace && o.payment_failed {
            let existing: Option<(i64,)> = sqlx::query_as(
                "SELECT id FROM orders WHERE partner_id = $1 AND partner_order_id = $2",
            )
            .bind(partner_id)
            .bind(&o.partner_order_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((id,)) = existing
                && is_paid(&mut tx, id).await?
            {
                return Ok(Err(OrderRefused::AlreadyPaid));
            }
        }
        let status = o.status();
        // Insert and update take the same parameters.
        let bind = |sql: &'static str| {
            sqlx::query_as::<_, (i64,)>(sql)
                .bind(partner_id)
                .bind(&o.partner_order_id)
                .bind(o.customer_id)
                .bind(o.subscription_id)
                .bind(o.amount)
                .bind(o.amount_returned)
                .bind(status)
                .bind(o.payment_gateway)
                .bind(o.payment_date_ms)
                .bind(&o.id_key)
                .bind(&o.payment_info)
                .bind(&o.error_code)
                .bind(&o.error_message)
                .bind(now_ms)
                .bind(&o.customer_key)
        };
        let inserted = bind(
            "INSERT INTO orders (partner_id, partner_order_id, customer_id, subscription_id, amount, \
                                 amount_returned, status, payment_gateway, payment_date, id_key, payment_info, \
                                 error_code, error_message, created_at, updated_at, billing_customer_key) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15) \
             ON CONFLICT (partner_id, partner_order_id) DO NOTHING RETURNING id",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let (order_id, outcome) = match inserted {
            Some((id,)) => (id, UpsertOutcome::Created),
            None if replace => {
                let (id,) = bind(
                    "UPDATE orders SET customer_id = $3, subscription_id = $4, amount = $5, amount_returned = $6, \
                                       status = $7, payment_gateway = $8, payment_date = $9, \
                                       billing_customer_key = COALESCE($15, \
                                           CASE WHEN id_key = $10 THEN billing_customer_key END), \
                                       id_key = $10, \
                                       payment_info = $11, error_code = $12, error_message = $13, updated_at = $14 \
                     WHERE partner_id = $1 AND partner_order_id = $2 RETURNING id",
                )
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM order_items WHERE order_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                (id, UpsertOutcome::Replaced)
            }
            None => {
                let (id,): (i64,) = sqlx::query_as(
                    "SELECT id FROM orders WHERE partner_id = $1 AND partner_order_id = $2",
                )
                .bind(partner_id)
                .bind(&o.partner_order_id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(Ok((id, UpsertOutcome::Existing)));
            }
        };
        for item in &o.items {
            sqlx::query(
                "INSERT INTO order_items (order_id, price_id, quantity) VALUES ($1, $2, $3)",
            )
            .bind(order_id)
            .bind(item.price_id)
            .bind(item.quantity)
            .execute(&mut *tx)
            .await?;
        }
        if o.payment_failed {
            open_case(&mut tx, partner_id, order_id, o, link_token, now_ms).await?;
        }
        tx.commit().await?;
        Ok(Ok((order_id, outcome)))
    }

    /// The order with its customer, items and retry time, if it is the partner's.
    pub async fn order_view(
        &self,
        partner_id: i64,
        order_id: i64,
    ) -> Result<Option<OrderView>, StoreError> {
        let order: Option<OrderRow> = sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE partner_id = $1 AND id = $2"
        ))
        .bind(partner_id)
        .bind(order_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(order) = order else {
            return Ok(None);
        };
        let customer =
            self.customer(partner_id, order.customer_id)
                .await?
                .ok_or(StoreError::Integrity(
                    "an order's customer belongs to another partner",
                ))?;
        let item_rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT price_id, quantity FROM order_items WHERE order_id = $1 ORDER BY price_id",
        )
        .bind(order_id)
        .fetch_all(&self.pool)
        .await?;
        let mut items = Vec::with_capacity(item_rows.len());
        for (price_id, quantity) in item_rows {
            let price = self
                .price(partner_id, price_id)
                .await?
                .ok_or(StoreError::Integrity(
                    "an order's price belongs to another partner",
                ))?;
            let product =
                self.product(partner_id, price.product_id)
                    .await?
                    .ok_or(StoreError::Integrity(
                        "a price's product belongs to another partner",
                    ))?;
            items.push((price, product, quantity));
        }
        let retry: Option<(Option<i64>,)> = sqlx::query_as(
            "SELECT next_stage_at FROM recovery_cases WHERE order_id = $1 AND status IN ('OPEN', 'PAYING') \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(order_id)
        .fetch_optional(&self.pool)
        .await?;
        let recovery: Option<(String, i64, i64)> = sqlx::query_as(
            "SELECT ch.source, \
                    (SELECT COUNT(*) FROM charges a WHERE a.case_id = ch.case_id AND a.id <= ch.id), ch.stage \
             FROM charges ch JOIN recovery_cases c ON c.id = ch.case_id \
             WHERE c.order_id = $1 AND ch.status = 'SUCCEEDED' ORDER BY ch.id DESC LIMIT 1",
        )
        .bind(order_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(Some(OrderView {
            order,
            customer,
            items,
            retry_at_ms: retry.and_then(|(t,)| t),
            recovery,
        }))
    }
}

async fn check_refs(
    tx: &mut Transaction<'_, Any>,
    partner_id: i64,
    o: &NewOrder,
) -> Result<Option<UnknownRef>, StoreError> {
    let owns = |table: &'static str, id: i64| {
        sqlx::query_as::<_, (i64,)>(match table {
            "customers" => "SELECT id FROM customers WHERE partner_id = $1 AND id = $2",
            "prices" => "SELECT id FROM prices WHERE partner_id = $1 AND id = $2",
            _ => "SELECT id FROM subscriptions WHERE partner_id = $1 AND id = $2",
        })
        .bind(partner_id)
        .bind(id)
    };
    if owns("customers", o.customer_id)
        .fetch_optional(&mut **tx)
        .await?
        .is_none()
    {
        return Ok(Some(UnknownRef::Customer));
    }
    for (i, item) in o.items.iter().enumerate() {
        if owns("prices", item.price_id)
            .fetch_optional(&mut **tx)
            .await?
            .is_none()
        {
            return Ok(Some(UnknownRef::Price(i)));
        }
    }
    if let Some(sub) = o.subscription_id
        && owns("subscriptions", sub)
            .fetch_optional(&mut **tx)
            .await?
            .is_none()
    {
        return Ok(Some(UnknownRef::Subscription));
    }
    Ok(None)
}

/// Opens a recovery case for a failed order unless one is already open.
/// Stage 1 is due at once (the scenario engine sends it).
async fn open_case(
    tx: &mut Transaction<'_, Any>,
    partner_id: i64,
    order_id: i64,
    o: &NewOrder,
    link_token: &TokenHash,
    now_ms: i64,
) -> Result<(), StoreError> {
    super::cases::open_case(
        tx,
        &super::cases::OpenCase {
            partner_id,
            order_id,
            subscription_id: o.subscription_id,
            token: link_token,
            // The failure day is the order's payment date when given (a
            // failure reported late or imported counts on its own day);
            // never in the future.
            failed_at_ms: o.payment_date_ms.map_or(now_ms, |d| d.min(now_ms)),
            now_ms,
        },
    )
    .await?;
    Ok(())
}
