//! Refunds of charges flagged NEEDS_REFUND: money that moved for an order
//! the partner settled some other way. An operator starts one (the CLI or
//! the console); the refund goes to the PG through the account that made
//! the charge; its outcome and the partner's `payment.refunded` notice are
//! written in one transaction.

use sqlx::FromRow;

use super::events::{self, About};
use super::{Store, StoreError};
use crate::domain::case::{ChargeEvent, ChargeStatus};
use crate::domain::event::{Event, SubsStatus};

/// A refund to send: what the PG needs to find the payment.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct RefundDue {
    pub charge_id: i64,
    pub case_id: i64,
    pub partner_id: i64,
    pub amount: i64,
    /// The PG's transaction id (Toss's paymentKey; PortOne's payment id).
    pub gateway_ref: Option<String>,
    /// Our key of the charge (PortOne's payment id).
    pub idempotency_key: String,
    /// The account that made the charge (`None`: the server-wide one).
    pub gateway_account_id: Option<i64>,
    pub status: ChargeStatus,
    /// When a refund was last asked for, if one was.
    pub refund_at: Option<i64>,
}

const COLUMNS: &str = "ch.id AS charge_id, ch.case_id, c.partner_id, ch.amount, ch.gateway_ref, \
                       ch.idempotency_key, ch.gateway_account_id, ch.status, ch.refund_at";

fn allowing(event: ChargeEvent) -> String {
    crate::domain::case::sql_list(&ChargeStatus::allowing(event))
}

impl Store {
    /// Charges waiting for a refund, or whose refund's answer is awaited,
    /// oldest first; one partner's, or everyone's.
    pub async fn refunds_due(&self, partner_id: Option<i64>) -> Result<Vec<RefundDue>, StoreError> {
        self.refunds_due_of(partner_id, None).await
    }

    /// The case's charges waiting for a refund (the console's button).
    pub async fn case_refunds_due(&self, case_id: i64) -> Result<Vec<RefundDue>, StoreError> {
        self.refunds_due_of(None, Some(case_id)).await
    }

    async fn refunds_due_of(
        &self,
        partner_id: Option<i64>,
        case_id: Option<i64>,
    ) -> Result<Vec<RefundDue>, StoreError> {
        let rows = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM charges ch JOIN recovery_cases c ON c.id = ch.case_id \
             WHERE ch.status IN ({}) AND ($1 < 0 OR c.partner_id = $1) \
               AND ($2 < 0 OR ch.case_id = $2) ORDER BY ch.id",
            allowing(ChargeEvent::RefundStarted)
        ))
        .bind(partner_id.unwrap_or(-1))
        .bind(case_id.unwrap_or(-1))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// Marks the charge REFUNDING for `by`, if it waits for a refund (or an
    /// earlier try's answer was lost); what to send, or `None` when it
    /// cannot be refunded (not this partner's, never made, refunded).
    pub async fn start_refund(
        &self,
        charge_id: i64,
        partner_id: Option<i64>,
        by: &str,
        now_ms: i64,
    ) -> Result<Option<RefundDue>, StoreError> {
        let (mut tx, _turn) = self.begin_write().await?;
        let due: Option<RefundDue> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM charges ch JOIN recovery_cases c ON c.id = ch.case_id \
             WHERE ch.id = $1 AND ch.status IN ({}) AND ($2 < 0 OR c.partner_id = $2)",
            allowing(ChargeEvent::RefundStarted)
        ))
        .bind(charge_id)
        .bind(partner_id.unwrap_or(-1))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(due) = due else {
            return Ok(None);
        };
        sqlx::query(&format!(
            "UPDATE charges SET status = $1, refund_at = $2, refund_by = $3 \
             WHERE id = $4 AND status IN ({})",
            allowing(ChargeEvent::RefundStarted)
        ))
        .bind(ChargeStatus::Refunding)
        .bind(now_ms)
        .bind(by)
        .bind(charge_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(due))
    }

    /// Records the PG's answer: refunded (and the partner's notice, in the
    /// same transaction), or refused (back to NEEDS_REFUND). False if the
    /// charge was not REFUNDING (another request recorded it first).
    pub async fn finish_refund(
        &self,
        charge_id: i64,
        refunded: bool,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let (event, to) = match refunded {
            true => (ChargeEvent::RefundDone, ChargeStatus::Refunded),
            false => (ChargeEvent::RefundRefused, ChargeStatus::NeedsRefund),
        };
        let (mut tx, _turn) = self.begin_write().await?;
        let moved: Option<(i64, Option<String>)> = sqlx::query_as(&format!(
            "UPDATE charges SET status = $1, refund_at = $2 WHERE id = $3 AND status IN ({}) \
             RETURNING case_id, gateway_ref",
            allowing(event)
        ))
        .bind(to)
        .bind(now_ms)
        .bind(charge_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((case_id, gateway_ref)) = moved else {
            return Ok(false);
        };
        if refunded {
            let facts = super::charges::payment_facts(&mut tx, &[charge_id]).await?;
            let f = facts
                .get(&charge_id)
                .ok_or(StoreError::Integrity("a refunded charge lost its case"))?;
            let tid = gateway_ref.unwrap_or_default();
            let payment = f.payment(&tid)?;
            let status = events::subscription_status(&mut tx, About::Case(case_id))
                .await?
                .unwrap_or(SubsStatus::Canceled);
            events::record(
                &mut tx,
                About::Case(case_id),
                &[Event::refunded(&payment, status)],
                now_ms,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
