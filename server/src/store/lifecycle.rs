//! Case lifecycle driven by the partner: recovery started by API, orders paid
//! or canceled elsewhere, subscriptions reactivated or canceled. Each call
//! changes the record and closes or opens cases in one transaction.

use sqlx::{Any, Transaction};

use super::events::{self, About};
use super::{Store, StoreError};
use crate::domain::case::{CaseEvent, CaseState, sql_list};
use crate::domain::event::{Event, SubsStatus};
use crate::domain::token::{TokenHash, TokenKey};

/// How a case ended, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseEnd {
    Recovered,
    Canceled,
}

impl CaseEnd {
    fn as_str(self) -> &'static str {
        match self {
            CaseEnd::Recovered => "RECOVERED",
            CaseEnd::Canceled => "CANCELED",
        }
    }
}

/// A started recovery: the case id (StepCover's `coverId`) and when its next
/// stage is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovery {
    pub case_id: i64,
    pub next_stage_at_ms: Option<i64>,
    /// False when the order already had an open case (returned instead).
    pub created: bool,
}

/// What settling an order came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    Done,
    /// Not the partner's order.
    NotFound,
    /// The order is paid: final, nothing was changed.
    AlreadyPaid,
}

impl Store {
    /// Sets the order's status and closes its open cases. A paid order is
    /// final (`order_is_paid`): neither paid again (its payment date stays)
    /// nor canceled, and nothing is written.
    pub async fn settle_order(
        &self,
        partner_id: i64,
        order_id: i64,
        order_status: &str,
        end: CaseEnd,
        now_ms: i64,
    ) -> Result<Settlement, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        let paid_at = (end == CaseEnd::Recovered).then_some(now_ms);
        let changed = sqlx::query(&format!(
            "UPDATE orders SET status = $3, payment_date = COALESCE($4, payment_date) \
             WHERE partner_id = $1 AND id = $2 AND NOT {}",
            super::orders::order_is_paid("orders")
        ))
        .bind(partner_id)
        .bind(order_id)
        .bind(order_status)
        .bind(paid_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            let (mine,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM orders WHERE partner_id = $1 AND id = $2")
                    .bind(partner_id)
                    .bind(order_id)
                    .fetch_one(&mut *tx)
                    .await?;
            return Ok(if mine == 0 {
                Settlement::NotFound
            } else {
                Settlement::AlreadyPaid
            });
        }
        let closed = close_cases(&mut tx, Owner::Order(order_id), end, now_ms).await?;
        for case_id in closed {
            let status = match end {
                CaseEnd::Recovered => SubsStatus::Renewed,
                CaseEnd::Canceled => events::subscription_status(&mut tx, About::Case(case_id))
                    .await?
                    .unwrap_or(SubsStatus::Canceled),
            };
            events::record(
                &mut tx,
                About::Case(case_id),
                &[Event::case_closed(end.as_str(), status)],
                now_ms,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Settlement::Done)
    }

    /// Sets the subscription's status and closes its open cases.
    pub async fn settle_subscription(
        &self,
        partner_id: i64,
        subscription_id: i64,
        status: &str,
        end: CaseEnd,
        now_ms: i64,
    ) -> Result<Option<()>, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE subscriptions SET status = $3, updated_at = $4 WHERE partner_id = $1 AND id = $2",
        )
        .bind(partner_id)
        .bind(subscription_id)
        .bind(status)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(None);
        }
        let closed =
            close_cases(&mut tx, Owner::Subscription(subscription_id), end, now_ms).await?;
        if let Some(status) = SubsStatus::from_stored(status) {
            events::record(
                &mut tx,
                About::Subscription(subscription_id),
                &[Event::status_changed(status, "set by the partner")],
                now_ms,
            )
            .await?;
            for case_id in closed {
                events::record(
                    &mut tx,
                    About::Case(case_id),
                    &[Event::case_closed(end.as_str(), status)],
                    now_ms,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(Some(()))
    }

    /// `POST /recovery`: marks the order failed and the subscription unpaid,
    /// and opens a case unless one is open for the order (then returns it).
    /// A paid order is refused (`None`), and nothing is written: a client
    /// resending its failure after a retry recovered the order must not
    /// reopen a paid debt. The caller has checked both records are the
    /// partner's.
    #[allow(clippy::too_many_arguments)]
    pub async fn start_recovery(
        &self,
        partner_id: i64,
        subscription_id: i64,
        order_id: i64,
        error_code: Option<&str>,
        error_message: Option<&str>,
        link_token: &TokenHash,
        now_ms: i64,
    ) -> Result<Option<Recovery>, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        if super::orders::is_paid(&mut tx, order_id).await? {
            return Ok(None);
        }
        let open: Option<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT id, next_stage_at FROM recovery_cases WHERE order_id = $1 AND status IN ('OPEN', 'PAYING')",
        )
        .bind(order_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((case_id, next)) = open {
            tx.commit().await?;
            return Ok(Some(Recovery {
                case_id,
                next_stage_at_ms: next,
                created: false,
            }));
        }
        // The failure day is the order's payment date when the partner gave
        // one (never in the future), else now.
        let (payment_date,): (Option<i64>,) =
            sqlx::query_as("SELECT payment_date FROM orders WHERE id = $1")
                .bind(order_id)
                .fetch_one(&mut *tx)
                .await?;
        let failed_at_ms = payment_date.map_or(now_ms, |d| d.min(now_ms));
        sqlx::query(
            "UPDATE orders SET status = 'PAYMENT_FAILURE', subscription_id = $2, \
                               error_code = COALESCE($3, error_code), error_message = COALESCE($4, error_message) \
             WHERE id = $1",
        )
        .bind(order_id)
        .bind(subscription_id)
        .bind(error_code)
        .bind(error_message)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE subscriptions SET status = 'UNPAID', updated_at = $2 WHERE id = $1")
            .bind(subscription_id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        // A concurrent call may have opened the case since the check above
        // (Postgres runs both); the partial unique index settles it.
        let inserted = super::cases::open_case(
            &mut tx,
            &super::cases::OpenCase {
                partner_id,
                order_id,
                subscription_id: Some(subscription_id),
                token: link_token,
                failed_at_ms,
                now_ms,
            },
        )
        .await?;
        let recovery = match inserted {
            Some(case_id) => {
                // Now, unless the case is in a holdout (no message due).
                let (next,): (Option<i64>,) =
                    sqlx::query_as("SELECT next_stage_at FROM recovery_cases WHERE id = $1")
                        .bind(case_id)
                        .fetch_one(&mut *tx)
                        .await?;
                Recovery {
                    case_id,
                    next_stage_at_ms: next,
                    created: true,
                }
            }
            None => {
                let (case_id, next): (i64, Option<i64>) = sqlx::query_as(
                    "SELECT id, next_stage_at FROM recovery_cases \
                     WHERE order_id = $1 AND status IN ('OPEN', 'PAYING')",
                )
                .bind(order_id)
                .fetch_one(&mut *tx)
                .await?;
                Recovery {
                    case_id,
                    next_stage_at_ms: next,
                    created: false,
                }
            }
        };
        tx.commit().await?;
        Ok(Some(recovery))
    }

    /// `GET /order/{token}/idKey`: the billing key of the order a link token
    /// opens, with our order id and the gateway, if the token is the partner's.
    pub async fn id_key_by_token(
        &self,
        partner_id: i64,
        token: &TokenKey,
    ) -> Result<Option<(Option<String>, i64, String, String)>, StoreError> {
        let t = super::token_binds(token);
        Ok(sqlx::query_as(
            concat!(
                "SELECT o.id_key, o.id, o.payment_gateway, cu.partner_customer_id FROM recovery_cases c \
                 JOIN orders o ON o.id = c.order_id JOIN customers cu ON cu.id = o.customer_id \
                 WHERE c.id = ",
                case_id_by_token!(),
                " AND c.partner_id = $4"
            ),
        )
        .bind(t.0)
        .bind(t.1)
        .bind(t.2)
        .bind(partner_id)
        .fetch_optional(&self.pool)
        .await?)
    }
}

/// Whose open cases to close.
enum Owner {
    Order(i64),
    Subscription(i64),
}

/// Closes the owner's cases that are not closed yet (an ended one too:
/// the partner settled it); returns their ids. A charge still pending on one
/// is resolved by the resolver, and flagged for refund if it went through.
async fn close_cases(
    tx: &mut Transaction<'_, Any>,
    owner: Owner,
    end: CaseEnd,
    now_ms: i64,
) -> Result<Vec<i64>, StoreError> {
    // Every status a partner's cancellation or settlement may close.
    let closable = sql_list(&CaseState::statuses_allowing(CaseEvent::Canceled));
    let (column, id) = match owner {
        Owner::Order(id) => ("order_id", id),
        Owner::Subscription(id) => ("subscription_id", id),
    };
    let sql = format!(
        "UPDATE recovery_cases SET status = $2, closed_at = $3, next_stage_at = NULL, next_retry_at = NULL, \
                end_action = COALESCE($4, end_action) \
         WHERE {column} = $1 AND status IN ({closable}) RETURNING id"
    );
    // For the figures: a partner's cancellation ends the case as canceled.
    let end_action = (end == CaseEnd::Canceled).then_some("CANCEL");
    let ids: Vec<(i64,)> = sqlx::query_as(&sql)
        .bind(id)
        .bind(end.as_str())
        .bind(now_ms)
        .bind(end_action)
        .fetch_all(&mut **tx)
        .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}
