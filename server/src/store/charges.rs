//! Charges: the one exactly-once path every charge takes (the page, a card
//! change, a silent retry, a chosen date, the resolver of unknown
//! outcomes), and the retry plan each outcome leaves behind.
//!
//! A charge starts with a conditional update of its case (`OPEN` or `ENDED`
//! to `PAYING`): of any number of callers exactly one changes the row and
//! goes to the PG, with an idempotency key that is also the PG's order id.
//! Its outcome is recorded in one transaction with the case's new state,
//! its notices and the next silent retry (`replan`), so a crash between
//! any two of them cannot leave a retry due that was already made.

use chrono::NaiveDate;
use sqlx::{Any, FromRow, Transaction};

use super::cases::stored_scenario;
use super::events::{self, About};
use super::{Leased, Store, StoreError, WorkQueue};
use crate::domain::case::{CaseStatus, ChargeSource, ChargeStatus};
use crate::domain::decline::{CodeSource, Decline, DeclineClass, Wait, classify};
use crate::domain::event::{Event, Payment, SubsStatus};
use crate::domain::retry::{self, Attempt, Plan, RetryFacts, Stop};
use crate::domain::scenario::EndAction;

/// Exactly what a charge sends to the PG; stored with the charge when it is
/// claimed, so a resend repeats it byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeSpec {
    pub idempotency_key: String,
    pub amount: i64,
    /// `None` when the order has no billing key (nothing can be charged).
    pub billing_key: Option<String>,
    pub customer_key: String,
    pub order_name: String,
}

/// The result of trying to start a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeClaim {
    /// This caller owns the charge with this id and must send exactly this
    /// (a retried charge keeps its first key, amount and billing key).
    Claimed { charge_id: i64, spec: ChargeSpec },
    /// Someone else is charging, or the case is closed.
    Busy(CaseStatus),
    /// The customer pressed pay too often today.
    DailyLimit,
}

/// Why a charge was declined, as the gateway said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChargeFailure<'a> {
    /// The PG's code (`REJECT_CARD_PAYMENT`); `None` when no PG was asked.
    pub code: Option<&'a str>,
    pub decline: Decline,
    /// Safe to show the customer.
    pub reason: &'a str,
}

/// A pending charge old enough to resend (its outcome was never recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleCharge {
    pub charge_id: i64,
    pub case_id: i64,
    pub spec: ChargeSpec,
    /// The case still waits for this charge (else it was closed meanwhile:
    /// the charge must be looked up, never sent again).
    pub case_paying: bool,
}

/// A case whose silent retry is due.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DueRetry {
    pub case_id: i64,
    pub source: Option<String>,
    /// The order's `paymentGateway` (StepPay's names).
    pub payment_gateway: String,
    pub has_billing_key: i64,
}

impl Leased for DueRetry {
    fn id(&self) -> i64 {
        self.case_id
    }
}

/// Cases with a silent retry due; a partner whose PG setup is broken gets
/// none until an operator clears it.
const RETRIES: WorkQueue = WorkQueue {
    table: "recovery_cases",
    waiting: "status IN ('OPEN', 'ENDED') \
              AND partner_id NOT IN (SELECT id FROM partners WHERE gateway_problem IS NOT NULL)",
    due_column: "next_retry_at",
};

/// One charge of a case, as audits and tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRow {
    pub id: i64,
    pub created_at_ms: i64,
    pub source: ChargeSource,
    pub status: ChargeStatus,
    pub stage: i64,
    pub decline_code: Option<String>,
    pub decline_class: Option<DeclineClass>,
    pub billing_key: Option<String>,
}

impl Store {
    /// Moves the case to PAYING and records the attempt, in one
    /// transaction. The conditional update is the lock: of any number of
    /// concurrent callers exactly one sees a changed row. An `ENDED` case
    /// (its messages ran out) is payable too: a win-back.
    ///
    /// A case left PAYING by a charge whose outcome never got recorded (PG
    /// timeout, process killed mid-charge) is taken over once the attempt is
    /// older than `stale_before_ms`: the caller resends the same charge with
    /// the same idempotency key, so the PG answers with the first outcome
    /// instead of charging twice.
    ///
    /// The billing key, customer key, amount and order name are read inside
    /// the claim's transaction, so a card change cannot slip in between.
    pub async fn claim_charge(
        &self,
        case_id: i64,
        idempotency_key: &str,
        source: ChargeSource,
        now_ms: i64,
        stale_before_ms: i64,
    ) -> Result<ChargeClaim, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        if source == ChargeSource::Page {
            let (today,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM charges WHERE case_id = $1 AND source = 'page' AND created_at >= $2",
            )
            .bind(case_id)
            .bind(retry::day_start(now_ms))
            .fetch_one(&mut *tx)
            .await?;
            if today >= retry::PAGE_ATTEMPTS_PER_DAY {
                return Ok(ChargeClaim::DailyLimit);
            }
        }
        // An ended case is claimed only while no newer case of its order is
        // open (one open case per order, a partial unique index), and no
        // case of a paid order. A silent charge also needs its retry still
        // planned and due (a decline on the page, a card change or the
        // scenario's end may have moved or cancelled it since the engine
        // claimed the case), and takes it: the outcome plans the next.
        let silent = source.is_silent();
        let sql = format!(
            "UPDATE recovery_cases SET status = 'PAYING'{} \
             WHERE id = $1 AND status IN ('OPEN', 'ENDED') \
               AND NOT EXISTS (SELECT 1 FROM recovery_cases other \
                               WHERE other.order_id = recovery_cases.order_id \
                                 AND other.id <> recovery_cases.id \
                                 AND other.status IN ('OPEN', 'PAYING')) \
               AND NOT EXISTS (SELECT 1 FROM orders o \
                               WHERE o.id = recovery_cases.order_id AND o.status = 'PAID'){}",
            if silent {
                ", next_retry_at = NULL, next_retry_source = NULL"
            } else {
                ""
            },
            if silent {
                " AND next_retry_at IS NOT NULL AND next_retry_at <= $2"
            } else {
                ""
            }
        );
        let claim = sqlx::query(&sql).bind(case_id);
        let claim = if silent { claim.bind(now_ms) } else { claim };
        let claimed = claim.execute(&mut *tx).await?.rows_affected();
        if claimed != 1 {
            let (status,): (String,) =
                sqlx::query_as("SELECT status FROM recovery_cases WHERE id = $1")
                    .bind(case_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let status = CaseStatus::parse(&status)?;
            if status == CaseStatus::Paying {
                // Take over a stale attempt: again a conditional update, so
                // only one of several retrying callers wins.
                let stale: Option<SpecRow> = sqlx::query_as(
                    "UPDATE charges SET attempted_at = $3 \
                     WHERE id = (SELECT id FROM charges WHERE case_id = $1 AND status = 'PENDING' \
                                 ORDER BY id DESC LIMIT 1) \
                       AND status = 'PENDING' AND COALESCE(attempted_at, created_at) < $2 \
                     RETURNING id, case_id, idempotency_key, amount, billing_key, customer_key, order_name",
                )
                .bind(case_id)
                .bind(stale_before_ms)
                .bind(now_ms)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(row) = stale {
                    tx.commit().await?;
                    let stale = row.into_stale();
                    return Ok(ChargeClaim::Claimed {
                        charge_id: stale.charge_id,
                        spec: stale.spec,
                    });
                }
            }
            if silent && matches!(status, CaseStatus::Open | CaseStatus::Ended) {
                // Still due but not claimable: the order is paid, or a newer
                // case of it carries the recovery. Stop, or the engine would
                // claim it again every lease.
                sqlx::query(
                    "UPDATE recovery_cases SET next_retry_at = NULL, next_retry_source = NULL, \
                            retry_stop = $3 \
                     WHERE id = $1 AND next_retry_at <= $2",
                )
                .bind(case_id)
                .bind(now_ms)
                .bind(Stop::Superseded.as_str())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
            // Ended but another case of the order is open, or the order is
            // paid: nothing to charge here.
            let status = if status == CaseStatus::Ended {
                CaseStatus::Canceled
            } else {
                status
            };
            return Ok(ChargeClaim::Busy(status));
        }
        let (amount, billing_key, customer_key, product): (
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
        ) = sqlx::query_as(
            "SELECT o.amount, o.id_key, o.billing_customer_key, \
                        (SELECT pr.name FROM order_items oi JOIN prices pc ON pc.id = oi.price_id \
                         JOIN products pr ON pr.id = pc.product_id WHERE oi.order_id = o.id \
                         ORDER BY oi.price_id LIMIT 1) \
                 FROM recovery_cases c JOIN orders o ON o.id = c.order_id WHERE c.id = $1",
        )
        .bind(case_id)
        .fetch_one(&mut *tx)
        .await?;
        let spec = ChargeSpec {
            idempotency_key: idempotency_key.to_owned(),
            amount,
            billing_key,
            // Keys issued elsewhere (the partner's own PG integration) were
            // not issued under one of ours; the case id stands in.
            customer_key: customer_key.unwrap_or_else(|| format!("rb_case_{case_id}")),
            order_name: product
                .filter(|p| !p.trim().is_empty())
                .unwrap_or_else(|| "정기 결제".to_owned()),
        };
        // The stage it follows: the last one whose message went out.
        let (charge_id,): (i64,) = sqlx::query_as(
            "INSERT INTO charges (case_id, idempotency_key, amount, status, created_at, attempted_at, \
                                  billing_key, customer_key, order_name, source, stage) \
             VALUES ($1, $2, $3, 'PENDING', $4, $4, $5, $6, $7, $8, \
                     (SELECT COALESCE(MAX(stage), 0) FROM stage_sends WHERE case_id = $1 AND status = 'SENT')) \
             RETURNING id",
        )
        .bind(case_id)
        .bind(idempotency_key)
        .bind(spec.amount)
        .bind(now_ms)
        .bind(&spec.billing_key)
        .bind(&spec.customer_key)
        .bind(&spec.order_name)
        .bind(source.as_str())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ChargeClaim::Claimed { charge_id, spec })
    }

    /// Leaves a charge of unknown outcome pending (the case stays PAYING)
    /// so it is resent with the same key, by the resolver or the next
    /// attempt; only the time of this attempt is recorded.
    pub async fn charge_outcome_unknown(
        &self,
        charge_id: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE charges SET attempted_at = $2 WHERE id = $1 AND status = 'PENDING'")
            .bind(charge_id)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a successful charge: the charge, the case, the order and the
    /// subscription change together with their notices, or not at all.
    /// Returns false when the case was closed while the charge was in
    /// flight (the partner canceled or settled it): then the partner's
    /// decision stands, the charge is marked for refund and the partner
    /// told.
    pub async fn complete_charge(
        &self,
        case_id: i64,
        charge_id: i64,
        gateway_ref: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        // Only a still-pending charge is recorded: a slow first attempt that
        // answers after a resend already recorded the same charge (same key,
        // same PG answer) changes nothing.
        let pending = sqlx::query(
            "UPDATE charges SET status = 'SUCCEEDED', gateway_ref = $2 WHERE id = $1 AND status = 'PENDING'",
        )
        .bind(charge_id)
        .bind(gateway_ref)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !pending {
            let (status,): (String,) = sqlx::query_as("SELECT status FROM charges WHERE id = $1")
                .bind(charge_id)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(ChargeStatus::parse(&status)? == ChargeStatus::Succeeded);
        }
        let recovered: Option<(Option<i64>,)> = sqlx::query_as(
            "UPDATE recovery_cases SET status = 'RECOVERED', closed_at = $2, next_stage_at = NULL, \
                    next_retry_at = NULL, lease_until = NULL \
             WHERE id = $1 AND status = 'PAYING' RETURNING ended_at",
        )
        .bind(case_id)
        .bind(now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let (amount, source, stage, attempt, payment_info): (i64, String, i64, i64, Option<String>) =
            sqlx::query_as(
                "SELECT ch.amount, ch.source, ch.stage, \
                        (SELECT COUNT(*) FROM charges a WHERE a.case_id = ch.case_id AND a.id <= ch.id), \
                        o.payment_info \
                 FROM charges ch JOIN recovery_cases c ON c.id = ch.case_id \
                 JOIN orders o ON o.id = c.order_id WHERE ch.id = $1",
            )
            .bind(charge_id)
            .fetch_one(&mut *tx)
            .await?;
        let payment = Payment {
            tid: gateway_ref,
            amount,
            payment_info: payment_info.as_deref().unwrap_or(""),
            recovered_by: ChargeSource::parse(&source)?.as_str(),
            attempt,
            stage,
        };
        let Some((ended_at,)) = recovered else {
            sqlx::query("UPDATE charges SET status = 'NEEDS_REFUND' WHERE id = $1")
                .bind(charge_id)
                .execute(&mut *tx)
                .await?;
            let status = events::subscription_status(&mut tx, About::Case(case_id))
                .await?
                .unwrap_or(SubsStatus::Canceled);
            events::record(
                &mut tx,
                About::Case(case_id),
                &[Event::refund_needed(&payment, status)],
                now_ms,
            )
            .await?;
            tx.commit().await?;
            return Ok(false);
        };
        sqlx::query(
            "UPDATE orders SET status = 'PAID', payment_date = $2, error_code = NULL, error_message = NULL \
             WHERE id = (SELECT order_id FROM recovery_cases WHERE id = $1)",
        )
        .bind(case_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        // Paid: the subscription runs on, also after the scenario paused
        // it (a win-back).
        sqlx::query(
            "UPDATE subscriptions SET status = 'ACTIVE', updated_at = $2 \
             WHERE id = (SELECT subscription_id FROM recovery_cases WHERE id = $1)",
        )
        .bind(case_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let mut notices = vec![Event::payment_completed(&payment)];
        if ended_at.is_some() {
            notices.push(Event::status_changed(
                SubsStatus::Renewed,
                "paid after the scenario ended",
            ));
        }
        notices.push(Event::case_closed("RECOVERED", SubsStatus::Renewed));
        events::record(&mut tx, About::Case(case_id), &notices, now_ms).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a declined charge, reopens the case (to `ENDED` if its
    /// scenario had ended) and plans the next silent retry, in one
    /// transaction. A setup decline also stops the partner's retries and
    /// tells the partner. Returns the plan, or `None` if the charge had
    /// been recorded already.
    pub async fn fail_charge(
        &self,
        case_id: i64,
        charge_id: i64,
        failure: &ChargeFailure<'_>,
        now_ms: i64,
    ) -> Result<Option<Plan>, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        let pending = sqlx::query(
            "UPDATE charges SET status = 'FAILED', failure_reason = $2, decline_code = $3, decline_class = $4 \
             WHERE id = $1 AND status = 'PENDING'",
        )
        .bind(charge_id)
        .bind(failure.reason)
        .bind(failure.code)
        .bind(failure.decline.class().as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if pending == 0 {
            // Recorded already by another attempt of the same charge.
            tx.commit().await?;
            return Ok(None);
        }
        sqlx::query(
            "UPDATE recovery_cases SET status = CASE WHEN ended_at IS NULL THEN 'OPEN' ELSE 'ENDED' END, \
                    lease_until = NULL \
             WHERE id = $1 AND status = 'PAYING'",
        )
        .bind(case_id)
        .execute(&mut *tx)
        .await?;
        if failure.decline == Decline::Setup {
            let code = failure.code.unwrap_or("SETUP");
            sqlx::query(
                "UPDATE partners SET gateway_problem = $2, gateway_problem_at = $3 \
                 WHERE id = (SELECT partner_id FROM recovery_cases WHERE id = $1)",
            )
            .bind(case_id)
            .bind(code)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            events::record(
                &mut tx,
                About::Case(case_id),
                &[Event::gateway_problem(code, failure.reason)],
                now_ms,
            )
            .await?;
        }
        let plan = replan(&mut tx, case_id, now_ms).await?;
        tx.commit().await?;
        Ok(Some(plan))
    }

    /// Claims up to `limit` pending charges whose last send is older than
    /// `stale_before_ms`, on open or closed cases alike: the resolver
    /// resends each with its own key. The conditional update of
    /// `attempted_at` is the claim (one winner, also against a page's
    /// takeover).
    pub async fn claim_stale_charges(
        &self,
        now_ms: i64,
        stale_before_ms: i64,
        limit: i64,
    ) -> Result<Vec<StaleCharge>, StoreError> {
        let lock = match self.backend {
            super::Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            super::Backend::Sqlite => "",
        };
        let (mut tx, _write) = self.begin_write().await?;
        let rows: Vec<SpecRow> = sqlx::query_as(&format!(
            "UPDATE charges SET attempted_at = $1 \
             WHERE id IN (SELECT id FROM charges WHERE status = 'PENDING' \
                            AND COALESCE(attempted_at, created_at) < $2 \
                          ORDER BY attempted_at LIMIT $3 {lock}) \
               AND status = 'PENDING' AND COALESCE(attempted_at, created_at) < $2 \
             RETURNING id, case_id, idempotency_key, amount, billing_key, customer_key, order_name"
        ))
        .bind(now_ms)
        .bind(stale_before_ms)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut stale: Vec<StaleCharge> = rows.into_iter().map(SpecRow::into_stale).collect();
        if !stale.is_empty() {
            let ids: Vec<i64> = stale.iter().map(|c| c.case_id).collect();
            let paying: Vec<(i64,)> = sqlx::query_as(&format!(
                "SELECT id FROM recovery_cases WHERE status = 'PAYING' AND id IN ({})",
                super::id_list(&ids)
            ))
            .persistent(false)
            .fetch_all(&mut *tx)
            .await?;
            let paying: std::collections::HashSet<i64> =
                paying.into_iter().map(|(id,)| id).collect();
            for c in &mut stale {
                c.case_paying = paying.contains(&c.case_id);
            }
        }
        tx.commit().await?;
        Ok(stale)
    }

    /// Claims up to `limit` cases whose silent retry is due, under a lease
    /// (`Store::claim_due`), with what the engine checks before charging.
    pub async fn claim_due_retries(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<DueRetry>, StoreError> {
        self.claim_due(
            &RETRIES,
            "SELECT c.id AS case_id, c.next_retry_source AS source, o.payment_gateway, \
                    CAST(CASE WHEN o.id_key IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_billing_key \
             FROM {due} JOIN recovery_cases c ON c.id = due.id JOIN orders o ON o.id = c.order_id \
             ORDER BY c.next_retry_at, c.id",
            now_ms,
            lease_ms,
            limit,
        )
        .await
    }

    /// No silent retry for this case, and why (an order no adapter here
    /// can charge, no billing key).
    /// Only a retry still due is stopped: a plan made meanwhile (a card
    /// change) stands.
    pub async fn stop_retries(
        &self,
        case_id: i64,
        stop: Stop,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE recovery_cases SET next_retry_at = NULL, next_retry_source = NULL, retry_stop = $2, \
                    lease_until = NULL \
             WHERE id = $1 AND status IN ('OPEN', 'ENDED') AND next_retry_at <= $3",
        )
        .bind(case_id)
        .bind(stop.as_str())
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Plans retries for open or ended cases that have no plan and no
    /// reason for none: cases opened before retries existed (run once at
    /// start). Returns how many it planned.
    pub async fn plan_unplanned_retries(&self, now_ms: i64) -> Result<usize, StoreError> {
        let ids: Vec<(i64,)> = sqlx::query_as(
            "SELECT id FROM recovery_cases WHERE status IN ('OPEN', 'ENDED') \
               AND next_retry_at IS NULL AND retry_stop IS NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        for chunk in ids.chunks(256) {
            let (mut tx, _write) = self.begin_write().await?;
            for (id,) in chunk {
                replan(&mut tx, *id, now_ms).await?;
            }
            tx.commit().await?;
        }
        Ok(ids.len())
    }

    /// Lets the partner's retries run again once an operator fixed the
    /// problem a setup decline reported; returns the problem it cleared.
    pub async fn clear_gateway_problem(
        &self,
        partner_id: i64,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        let (problem,): (Option<String>,) =
            sqlx::query_as("SELECT gateway_problem FROM partners WHERE id = $1")
                .bind(partner_id)
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query(
            "UPDATE partners SET gateway_problem = NULL, gateway_problem_at = NULL WHERE id = $1",
        )
        .bind(partner_id)
        .execute(&mut *tx)
        .await?;
        // Cases whose own retries stopped on the setup decline plan again.
        let stopped: Vec<(i64,)> = sqlx::query_as(
            "SELECT id FROM recovery_cases WHERE partner_id = $1 AND retry_stop = 'SETUP_DECLINE' \
               AND status IN ('OPEN', 'ENDED')",
        )
        .bind(partner_id)
        .fetch_all(&mut *tx)
        .await?;
        for (case_id,) in stopped {
            replan_after_fix(&mut tx, case_id, now_ms).await?;
        }
        tx.commit().await?;
        Ok(problem)
    }

    /// The partner's gateway problem, if a setup decline reported one.
    pub async fn gateway_problem(&self, partner_id: i64) -> Result<Option<String>, StoreError> {
        let (problem,): (Option<String>,) =
            sqlx::query_as("SELECT gateway_problem FROM partners WHERE id = $1")
                .bind(partner_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(problem)
    }

    /// Every charge of a case, oldest first (audits, tests).
    pub async fn charges(&self, case_id: i64) -> Result<Vec<ChargeRow>, StoreError> {
        type Row = (
            i64,
            i64,
            String,
            String,
            i64,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, created_at, source, status, stage, decline_code, decline_class, billing_key \
             FROM charges WHERE case_id = $1 ORDER BY id",
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, at, source, status, stage, code, class, key)| {
                Ok(ChargeRow {
                    id,
                    created_at_ms: at,
                    source: ChargeSource::parse(&source)?,
                    status: ChargeStatus::parse(&status)?,
                    stage,
                    decline_code: code,
                    decline_class: class.as_deref().map(DeclineClass::parse).transpose()?,
                    billing_key: key,
                })
            })
            .collect()
    }

    /// Status of every charge of a case, oldest first (tests and audits).
    pub async fn charge_statuses(&self, case_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(self
            .charges(case_id)
            .await?
            .into_iter()
            .map(|c| c.status.as_str().to_owned())
            .collect())
    }

    /// Number of successful charges for a case (tests and audits).
    pub async fn successful_charges(&self, case_id: i64) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM charges WHERE case_id = $1 AND status = 'SUCCEEDED'",
        )
        .bind(case_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    /// `(next silent retry, why retries stopped)` of a case (tests, audits).
    pub async fn retry_plan(
        &self,
        case_id: i64,
    ) -> Result<(Option<i64>, Option<Stop>), StoreError> {
        let (at, stop): (Option<i64>, Option<String>) =
            sqlx::query_as("SELECT next_retry_at, retry_stop FROM recovery_cases WHERE id = $1")
                .bind(case_id)
                .fetch_one(&self.pool)
                .await?;
        Ok((at, stop.as_deref().map(Stop::parse).transpose()?))
    }
}

#[derive(FromRow)]
struct SpecRow {
    id: i64,
    case_id: i64,
    idempotency_key: String,
    amount: i64,
    billing_key: Option<String>,
    customer_key: Option<String>,
    order_name: Option<String>,
}

impl SpecRow {
    fn into_stale(self) -> StaleCharge {
        StaleCharge {
            charge_id: self.id,
            case_id: self.case_id,
            spec: ChargeSpec {
                idempotency_key: self.idempotency_key,
                amount: self.amount,
                billing_key: self.billing_key,
                customer_key: self.customer_key.unwrap_or_default(),
                order_name: self.order_name.unwrap_or_default(),
            },
            case_paying: true,
        }
    }
}

#[derive(FromRow)]
struct PlanRow {
    status: String,
    failed_at: i64,
    failure_code: Option<String>,
    selected_date: Option<String>,
    method_changed_at: Option<i64>,
    ended_at: Option<i64>,
    id_key: Option<String>,
    definition: Option<String>,
}

/// What a stored decline class and code say about waiting. The class is
/// the gateway's verdict; the code refines a soft one.
fn stored_decline(class: Option<&str>, code: Option<&str>) -> Result<Decline, StoreError> {
    Ok(match class.map(DeclineClass::parse).transpose()? {
        Some(DeclineClass::Soft) => match code.map(|c| classify(CodeSource::Partner, c)) {
            Some(Decline::Soft(wait)) => Decline::Soft(wait),
            _ => Decline::Soft(Wait::Soon),
        },
        Some(DeclineClass::Hard) => Decline::Hard,
        Some(DeclineClass::Setup) => Decline::Setup,
        Some(DeclineClass::Unknown) | None => Decline::Unknown,
    })
}

/// Plans the case's next silent retry from everything that happened to it
/// (`domain::retry::plan`) and stores it, in the caller's transaction.
pub(super) async fn replan(
    tx: &mut Transaction<'_, Any>,
    case_id: i64,
    now_ms: i64,
) -> Result<Plan, StoreError> {
    let c: PlanRow = sqlx::query_as(
        "SELECT c.status, c.failed_at, c.failure_code, c.selected_date, c.method_changed_at, c.ended_at, \
                o.id_key, (SELECT s.definition FROM scenarios s WHERE s.id = c.scenario_id) AS definition \
         FROM recovery_cases c JOIN orders o ON o.id = c.order_id WHERE c.id = $1",
    )
    .bind(case_id)
    .fetch_one(&mut **tx)
    .await?;
    let status = CaseStatus::parse(&c.status)?;
    let scenario = stored_scenario(c.definition.as_deref())?;
    let plan = if status.is_closed() || status == CaseStatus::Paying {
        // Closed: nothing more. Paying: the charge's outcome plans next.
        return Ok(Plan::Stop(Stop::LadderDone));
    } else if c.ended_at.is_some() && scenario.end_action == EndAction::Cancel {
        Plan::Stop(Stop::SubscriptionCanceled)
    } else if let Some(key) = c.id_key.as_deref() {
        type ChargeFacts = (
            i64,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let charges: Vec<ChargeFacts> = sqlx::query_as(
            "SELECT created_at, source, status, decline_code, decline_class, billing_key \
             FROM charges WHERE case_id = $1 ORDER BY id",
        )
        .bind(case_id)
        .fetch_all(&mut **tx)
        .await?;
        let mut attempts = Vec::with_capacity(charges.len());
        for (at, source, status, code, class, billing_key) in charges {
            let decline = match ChargeStatus::parse(&status)? {
                ChargeStatus::Failed => Some(stored_decline(class.as_deref(), code.as_deref())?),
                _ => None,
            };
            attempts.push(Attempt {
                at_ms: at,
                source: ChargeSource::parse(&source)?,
                decline,
                current_key: billing_key.as_deref() == Some(key),
            });
        }
        let (key_attempts_30d,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM charges WHERE billing_key = $1 AND created_at > $2",
        )
        .bind(key)
        .bind(now_ms - retry::BUDGET_WINDOW_MS)
        .fetch_one(&mut **tx)
        .await?;
        retry::plan(
            &scenario.retries,
            &RetryFacts {
                failed_at_ms: c.failed_at,
                now_ms,
                attempts: &attempts,
                // The partner's decline was about the key it declined.
                initial_decline: match c.method_changed_at {
                    None => c
                        .failure_code
                        .as_deref()
                        .map(|code| classify(CodeSource::Partner, code)),
                    Some(_) => None,
                },
                key_attempts_30d,
                chosen_date: c
                    .selected_date
                    .as_deref()
                    .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()),
            },
        )
    } else {
        Plan::Stop(Stop::NoBillingKey)
    };
    let (at, source, stop) = match plan {
        Plan::Charge { at_ms, source } => (Some(at_ms), Some(source.as_str()), None),
        Plan::Stop(stop) => (None, None, Some(stop.as_str())),
    };
    sqlx::query(
        "UPDATE recovery_cases SET next_retry_at = $2, next_retry_source = $3, retry_stop = $4 WHERE id = $1",
    )
    .bind(case_id)
    .bind(at)
    .bind(source)
    .bind(stop)
    .execute(&mut **tx)
    .await?;
    Ok(plan)
}

/// After an operator fixed the PG setup, the setup decline no longer
/// speaks for the key: plan as if the latest decline were a passing one.
async fn replan_after_fix(
    tx: &mut Transaction<'_, Any>,
    case_id: i64,
    now_ms: i64,
) -> Result<Plan, StoreError> {
    sqlx::query(
        "UPDATE charges SET decline_class = 'soft' WHERE case_id = $1 AND decline_class = 'setup'",
    )
    .bind(case_id)
    .execute(&mut **tx)
    .await?;
    replan(tx, case_id, now_ms).await
}

impl Store {
    /// The earliest moment the engine has work: a stage, a silent charge,
    /// or a pending charge to resolve (tests on the test clock step from
    /// one to the next; operators: is anything due?).
    pub async fn next_work_at(&self) -> Result<Option<i64>, StoreError> {
        let (at,): (Option<i64>,) = sqlx::query_as(
            "SELECT MIN(t) FROM ( \
               SELECT MIN(next_stage_at) AS t FROM recovery_cases WHERE status = 'OPEN' \
               UNION ALL SELECT MIN(next_retry_at) AS t FROM recovery_cases \
                 WHERE status IN ('OPEN', 'ENDED') \
                   AND partner_id NOT IN (SELECT id FROM partners WHERE gateway_problem IS NOT NULL) \
               UNION ALL SELECT MIN(COALESCE(attempted_at, created_at)) + $1 AS t FROM charges \
                 WHERE status = 'PENDING' \
             ) AS due",
        )
        .bind(crate::charging::CHARGE_RETRY_AFTER_MS + 1)
        .fetch_one(&self.pool)
        .await?;
        Ok(at)
    }
}

impl Store {
    /// `(cases by status, charges still pending)` (tests and operators: is
    /// anything left in the dark?).
    pub async fn charge_backlog(&self) -> Result<(Vec<(String, i64)>, i64), StoreError> {
        let statuses: Vec<(String, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*) FROM recovery_cases GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await?;
        let (pending,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM charges WHERE status = 'PENDING'")
                .fetch_one(&self.pool)
                .await?;
        Ok((statuses, pending))
    }
}
