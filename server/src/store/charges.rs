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

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use sqlx::{Any, FromRow, Transaction};

use super::cases::stored_scenario;
use super::events::{self, About};
use super::{Leased, Store, StoreError, WorkQueue};
use crate::domain::case::{CaseEvent, CaseState, CaseStatus, ChargeSource, ChargeStatus, sql_list};
use crate::domain::decline::{CodeSource, Decline, DeclineClass, Wait, classify};
use crate::domain::event::{Event, Payment, Subject, SubsStatus};
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
    fair_by: None,
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

/// A charge to start: `Store::claim_charges`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeStart {
    pub case_id: i64,
    /// Fresh for a new charge; a stale pending one keeps its own.
    pub idempotency_key: String,
    pub source: ChargeSource,
}

/// A charge the PG approved: `Store::complete_charges`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeDone {
    pub case_id: i64,
    pub charge_id: i64,
    pub gateway_ref: String,
}

/// What a claimed case's charge sends, read in the claim's transaction.
#[derive(FromRow)]
struct ClaimFacts {
    id: i64,
    amount: i64,
    id_key: Option<String>,
    billing_customer_key: Option<String>,
    product: Option<String>,
    customer_name: String,
    stage: i64,
}

impl Store {
    /// `claim_charges` for one case.
    pub async fn claim_charge(
        &self,
        case_id: i64,
        idempotency_key: &str,
        source: ChargeSource,
        now_ms: i64,
        stale_before_ms: i64,
    ) -> Result<ChargeClaim, StoreError> {
        let start = ChargeStart {
            case_id,
            idempotency_key: idempotency_key.to_owned(),
            source,
        };
        let mut claims = self
            .claim_charges(std::slice::from_ref(&start), now_ms, stale_before_ms)
            .await?;
        claims
            .pop()
            .ok_or(StoreError::Integrity("a claim answered nothing"))
    }

    /// Moves each case to PAYING and records its attempt, all in one
    /// transaction (one statement each for the claim, the facts and the
    /// charge rows, whatever the batch's size). The conditional update is
    /// the lock: of any number of concurrent callers exactly one sees a
    /// changed row. An `ENDED` case (its messages ran out) is payable too:
    /// a win-back. Answers in the order asked; a batch names each case once.
    ///
    /// A case left PAYING by a charge whose outcome never got recorded (PG
    /// timeout, process killed mid-charge) is taken over once the attempt is
    /// older than `stale_before_ms`: the caller resends the same charge with
    /// the same idempotency key, so the PG answers with the first outcome
    /// instead of charging twice.
    ///
    /// The billing key, customer key, amount and order name are read inside
    /// the claim's transaction, so a card change cannot slip in between.
    pub async fn claim_charges(
        &self,
        starts: &[ChargeStart],
        now_ms: i64,
        stale_before_ms: i64,
    ) -> Result<Vec<ChargeClaim>, StoreError> {
        if starts.is_empty() {
            return Ok(Vec::new());
        }
        let (mut tx, _write) = self.begin_write().await?;
        let mut answers: HashMap<i64, ChargeClaim> = HashMap::with_capacity(starts.len());
        for st in starts.iter().filter(|s| s.source == ChargeSource::Page) {
            let (today,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM charges WHERE case_id = $1 AND source = 'page' AND created_at >= $2",
            )
            .bind(st.case_id)
            .bind(retry::day_start(now_ms))
            .fetch_one(&mut *tx)
            .await?;
            if today >= retry::PAGE_ATTEMPTS_PER_DAY {
                answers.insert(st.case_id, ChargeClaim::DailyLimit);
            }
        }
        // An ended case is claimed only while no newer case of its order is
        // open (one open case per order, a partial unique index), and no
        // case of a paid order. A silent charge also needs its retry still
        // planned and due (a decline on the page, a card change or the
        // scenario's end may have moved or cancelled it since the engine
        // claimed the case), and takes it: the outcome plans the next.
        let claimable = sql_list(&CaseState::statuses_allowing(CaseEvent::ClaimCharge));
        let mut claimed: HashSet<i64> = HashSet::new();
        for silent in [true, false] {
            let ids: Vec<i64> = starts
                .iter()
                .filter(|s| s.source.is_silent() == silent && !answers.contains_key(&s.case_id))
                .map(|s| s.case_id)
                .collect();
            for chunk in ids.chunks(super::IDS_PER_STATEMENT) {
                let sql = format!(
                    "UPDATE recovery_cases SET status = 'PAYING'{} \
                     WHERE id IN ({}) AND status IN ({claimable}) \
                       AND NOT EXISTS (SELECT 1 FROM recovery_cases other \
                                       WHERE other.order_id = recovery_cases.order_id \
                                         AND other.id <> recovery_cases.id \
                                         AND other.status IN ('OPEN', 'PAYING')) \
                       AND NOT EXISTS (SELECT 1 FROM orders o \
                                       WHERE o.id = recovery_cases.order_id AND o.status = 'PAID'){} \
                     RETURNING id",
                    if silent {
                        ", next_retry_at = NULL, next_retry_source = NULL"
                    } else {
                        ""
                    },
                    super::id_list(chunk),
                    if silent {
                        " AND next_retry_at IS NOT NULL AND next_retry_at <= $1"
                    } else {
                        ""
                    }
                );
                let q = sqlx::query_as::<_, (i64,)>(&sql).persistent(false);
                let q = if silent { q.bind(now_ms) } else { q };
                claimed.extend(q.fetch_all(&mut *tx).await?.into_iter().map(|(id,)| id));
            }
        }
        // Cases nobody else holds: the charge rows, one statement.
        let ids: Vec<i64> = claimed.iter().copied().collect();
        let mut facts: HashMap<i64, ClaimFacts> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(super::IDS_PER_STATEMENT) {
            let rows: Vec<ClaimFacts> = sqlx::query_as(&format!(
                "SELECT c.id, o.amount, o.id_key, o.billing_customer_key, \
                        (SELECT pr.name FROM order_items oi JOIN prices pc ON pc.id = oi.price_id \
                         JOIN products pr ON pr.id = pc.product_id WHERE oi.order_id = o.id \
                         ORDER BY oi.price_id LIMIT 1) AS product, \
                        cu.name AS customer_name, \
                        (SELECT COALESCE(MAX(ss.stage), 0) FROM stage_sends ss \
                         WHERE ss.case_id = c.id AND ss.status = 'SENT') AS stage \
                 FROM recovery_cases c JOIN orders o ON o.id = c.order_id \
                 JOIN customers cu ON cu.id = o.customer_id WHERE c.id IN ({})",
                super::id_list(chunk)
            ))
            .persistent(false)
            .fetch_all(&mut *tx)
            .await?;
            facts.extend(rows.into_iter().map(|f| (f.id, f)));
        }
        let mut rows: Vec<(&ChargeStart, ChargeSpec, i64)> = Vec::with_capacity(ids.len());
        for st in starts.iter().filter(|s| claimed.contains(&s.case_id)) {
            let f = facts
                .remove(&st.case_id)
                .ok_or(StoreError::Integrity("a claimed case has no order"))?;
            rows.push((
                st,
                ChargeSpec {
                    idempotency_key: st.idempotency_key.clone(),
                    amount: f.amount,
                    billing_key: f.id_key,
                    // Keys issued elsewhere (the partner's own PG
                    // integration) were not issued under one of ours; the
                    // case id stands in.
                    customer_key: f
                        .billing_customer_key
                        .unwrap_or_else(|| format!("rb_case_{}", st.case_id)),
                    order_name: crate::domain::customer::order_name(
                        f.product.as_deref(),
                        &f.customer_name,
                    ),
                },
                f.stage,
            ));
        }
        for chunk in rows.chunks(super::ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO charges (case_id, idempotency_key, amount, billing_key, customer_key, order_name, \
                                      source, stage, created_at, attempted_at, status) \
                 VALUES {} RETURNING id, case_id",
                super::placeholders(self.backend, chunk.len(), 10, "'PENDING'")
            );
            let mut q = sqlx::query_as::<_, (i64, i64)>(&sql);
            for (st, spec, stage) in chunk {
                q = q
                    .bind(st.case_id)
                    .bind(&spec.idempotency_key)
                    .bind(spec.amount)
                    .bind(&spec.billing_key)
                    .bind(&spec.customer_key)
                    .bind(&spec.order_name)
                    .bind(st.source.as_str())
                    .bind(*stage)
                    .bind(now_ms)
                    .bind(now_ms);
            }
            let inserted: HashMap<i64, i64> = q
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|(id, case)| (case, id))
                .collect();
            for (st, spec, _) in chunk {
                let charge_id = *inserted
                    .get(&st.case_id)
                    .ok_or(StoreError::Integrity("a charge row went missing"))?;
                answers.insert(
                    st.case_id,
                    ChargeClaim::Claimed {
                        charge_id,
                        spec: spec.clone(),
                    },
                );
            }
        }
        // The rest: busy, closed, or a stale charge to take over.
        for st in starts {
            if answers.contains_key(&st.case_id) {
                continue;
            }
            let answer = unclaimed(&mut tx, st, now_ms, stale_before_ms).await?;
            answers.insert(st.case_id, answer);
        }
        tx.commit().await?;
        starts
            .iter()
            .map(|s| {
                answers
                    .remove(&s.case_id)
                    .ok_or(StoreError::Integrity("a batch named a case twice"))
            })
            .collect()
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

    /// `complete_charges` for one charge.
    pub async fn complete_charge(
        &self,
        case_id: i64,
        charge_id: i64,
        gateway_ref: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = ChargeDone {
            case_id,
            charge_id,
            gateway_ref: gateway_ref.to_owned(),
        };
        let mut recorded = self
            .complete_charges(std::slice::from_ref(&done), now_ms)
            .await?;
        recorded
            .pop()
            .ok_or(StoreError::Integrity("a record answered nothing"))
    }

    /// Records approved charges: each charge, its case, order and
    /// subscription change together with their notices, all in one
    /// transaction of a few statements per batch. Answers, in order,
    /// whether each charge stands recorded as a recovery; false when the
    /// case was closed while the charge was in flight (the partner canceled
    /// or settled it): then the partner's decision stands, the charge is
    /// marked for refund and the partner told.
    pub async fn complete_charges(
        &self,
        done: &[ChargeDone],
        now_ms: i64,
    ) -> Result<Vec<bool>, StoreError> {
        if done.is_empty() {
            return Ok(Vec::new());
        }
        let (mut tx, _write) = self.begin_write().await?;
        // Only a still-pending charge is recorded: a slow first attempt
        // that answers after a resend already recorded the same charge
        // (same key, same PG answer) changes nothing.
        let mut pending: HashSet<i64> = HashSet::new();
        for chunk in done.chunks(super::ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE charges SET status = 'SUCCEEDED', gateway_ref = v.column2 \
                 FROM (VALUES {}) AS v \
                 WHERE charges.id = v.column1 AND charges.status = 'PENDING' RETURNING charges.id",
                super::placeholders(self.backend, chunk.len(), 2, "")
            );
            let mut q = sqlx::query_as::<_, (i64,)>(&sql);
            for d in chunk {
                q = q.bind(d.charge_id).bind(&d.gateway_ref);
            }
            pending.extend(q.fetch_all(&mut *tx).await?.into_iter().map(|(id,)| id));
        }
        let mut answers: HashMap<i64, bool> = HashMap::with_capacity(done.len());
        for d in done.iter().filter(|d| !pending.contains(&d.charge_id)) {
            let (status,): (String,) = sqlx::query_as("SELECT status FROM charges WHERE id = $1")
                .bind(d.charge_id)
                .fetch_one(&mut *tx)
                .await?;
            let status = ChargeStatus::parse(&status)?;
            if status == ChargeStatus::Failed {
                // Settled as never charged (the PG had no such payment when
                // asked), yet approved after all: the money moved and goes
                // back, and the partner is told.
                sqlx::query(
                    "UPDATE charges SET status = 'NEEDS_REFUND', gateway_ref = $2 \
                     WHERE id = $1 AND status = 'FAILED'",
                )
                .bind(d.charge_id)
                .bind(&d.gateway_ref)
                .execute(&mut *tx)
                .await?;
                let facts = payment_facts(&mut tx, &[d.charge_id]).await?;
                if let Some(f) = facts.get(&d.charge_id) {
                    let payment = f.payment(&d.gateway_ref)?;
                    let subs = events::subscription_status(&mut tx, About::Case(d.case_id))
                        .await?
                        .unwrap_or(SubsStatus::Grace);
                    events::record(
                        &mut tx,
                        About::Case(d.case_id),
                        &[Event::refund_needed(&payment, subs)],
                        now_ms,
                    )
                    .await?;
                }
            }
            answers.insert(d.charge_id, status == ChargeStatus::Succeeded);
        }
        let fresh: Vec<&ChargeDone> = done
            .iter()
            .filter(|d| pending.contains(&d.charge_id))
            .collect();
        // Cases still waiting for their charge are recovered.
        let mut recovered: HashMap<i64, Option<i64>> = HashMap::new();
        let case_ids: Vec<i64> = fresh.iter().map(|d| d.case_id).collect();
        for chunk in case_ids.chunks(super::IDS_PER_STATEMENT) {
            let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(&format!(
                "UPDATE recovery_cases SET status = 'RECOVERED', closed_at = $1, next_stage_at = NULL, \
                        next_retry_at = NULL, lease_until = NULL \
                 WHERE id IN ({}) AND status = 'PAYING' RETURNING id, ended_at",
                super::id_list(chunk)
            ))
            .persistent(false)
            .bind(now_ms)
            .fetch_all(&mut *tx)
            .await?;
            recovered.extend(rows);
        }
        // What the notices say of each payment.
        let charge_ids: Vec<i64> = fresh.iter().map(|d| d.charge_id).collect();
        let facts = payment_facts(&mut tx, &charge_ids).await?;
        let won: Vec<i64> = fresh
            .iter()
            .filter(|d| recovered.contains_key(&d.case_id))
            .map(|d| d.case_id)
            .collect();
        for chunk in won.chunks(super::IDS_PER_STATEMENT) {
            let cases = super::id_list(chunk);
            sqlx::query(&format!(
                "UPDATE orders SET status = 'PAID', payment_date = $1, error_code = NULL, error_message = NULL \
                 WHERE id IN (SELECT order_id FROM recovery_cases WHERE id IN ({cases}))"
            ))
            .persistent(false)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            // Paid: the subscription runs on, also after the scenario
            // paused it (a win-back).
            sqlx::query(&format!(
                "UPDATE subscriptions SET status = 'ACTIVE', updated_at = $1 \
                 WHERE id IN (SELECT subscription_id FROM recovery_cases WHERE id IN ({cases}))"
            ))
            .persistent(false)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        let subjects = events::case_subjects(&mut tx, &won).await?;
        let mut notices: Vec<(i64, &Subject, Event)> = Vec::with_capacity(won.len() * 3);
        for d in &fresh {
            let f = facts
                .get(&d.charge_id)
                .ok_or(StoreError::Integrity("a charge lost its case"))?;
            let payment = f.payment(&d.gateway_ref)?;
            let Some(ended_at) = recovered.get(&d.case_id) else {
                // Closed while the charge was in flight: the money goes back.
                sqlx::query("UPDATE charges SET status = 'NEEDS_REFUND' WHERE id = $1")
                    .bind(d.charge_id)
                    .execute(&mut *tx)
                    .await?;
                let status = events::subscription_status(&mut tx, About::Case(d.case_id))
                    .await?
                    .unwrap_or(SubsStatus::Canceled);
                events::record(
                    &mut tx,
                    About::Case(d.case_id),
                    &[Event::refund_needed(&payment, status)],
                    now_ms,
                )
                .await?;
                answers.insert(d.charge_id, false);
                continue;
            };
            answers.insert(d.charge_id, true);
            let Some((partner_id, subject)) = subjects.get(&d.case_id) else {
                continue;
            };
            notices.push((*partner_id, subject, Event::payment_completed(&payment)));
            if ended_at.is_some() {
                notices.push((
                    *partner_id,
                    subject,
                    Event::status_changed(SubsStatus::Renewed, "paid after the scenario ended"),
                ));
            }
            notices.push((
                *partner_id,
                subject,
                Event::case_closed("RECOVERED", SubsStatus::Renewed),
            ));
        }
        let items: Vec<(i64, &Subject, &Event)> =
            notices.iter().map(|(p, s, e)| (*p, *s, e)).collect();
        events::record_many(&mut tx, &items, now_ms).await?;
        tx.commit().await?;
        done.iter()
            .map(|d| {
                answers
                    .get(&d.charge_id)
                    .copied()
                    .ok_or(StoreError::Integrity("a charge went unanswered"))
            })
            .collect()
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
    /// reason for none: cases opened before retries existed. Runs once per
    /// database (every case opened since is planned as it opens); returns
    /// how many it planned.
    pub async fn plan_unplanned_retries(&self, now_ms: i64) -> Result<usize, StoreError> {
        const DONE: &str = "retries_planned_for_older_cases";
        let (done,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM server_secrets WHERE name = $1")
            .bind(DONE)
            .fetch_one(&self.pool)
            .await?;
        if done > 0 {
            return Ok(0);
        }
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
        // Another instance may have planned them too: replanning is the
        // same plan again.
        sqlx::query(
            "INSERT INTO server_secrets (name, value) VALUES ($1, '1') ON CONFLICT (name) DO NOTHING",
        )
        .bind(DONE)
        .execute(&self.pool)
        .await?;
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
struct PaymentFacts {
    id: i64,
    amount: i64,
    source: String,
    stage: i64,
    attempt: i64,
    payment_info: Option<String>,
}

impl PaymentFacts {
    fn payment<'a>(&'a self, tid: &'a str) -> Result<Payment<'a>, StoreError> {
        Ok(Payment {
            tid,
            amount: self.amount,
            payment_info: self.payment_info.as_deref().unwrap_or(""),
            recovered_by: ChargeSource::parse(&self.source)?.as_str(),
            attempt: self.attempt,
            stage: self.stage,
        })
    }
}

/// What the notices say of each of these charges, by charge id.
async fn payment_facts(
    tx: &mut Transaction<'_, Any>,
    charge_ids: &[i64],
) -> Result<HashMap<i64, PaymentFacts>, StoreError> {
    let mut facts = HashMap::with_capacity(charge_ids.len());
    for chunk in charge_ids.chunks(super::IDS_PER_STATEMENT) {
        let rows: Vec<PaymentFacts> = sqlx::query_as(&format!(
            "SELECT ch.id, ch.amount, ch.source, ch.stage, \
                    (SELECT COUNT(*) FROM charges a WHERE a.case_id = ch.case_id AND a.id <= ch.id) AS attempt, \
                    o.payment_info \
             FROM charges ch JOIN recovery_cases c ON c.id = ch.case_id \
             JOIN orders o ON o.id = c.order_id WHERE ch.id IN ({})",
            super::id_list(chunk)
        ))
        .persistent(false)
        .fetch_all(&mut **tx)
        .await?;
        facts.extend(rows.into_iter().map(|f| (f.id, f)));
    }
    Ok(facts)
}

/// A case the claim did not change: busy with another charge (maybe one
/// stale enough to take over), closed, or blocked by its order.
async fn unclaimed(
    tx: &mut Transaction<'_, Any>,
    st: &ChargeStart,
    now_ms: i64,
    stale_before_ms: i64,
) -> Result<ChargeClaim, StoreError> {
    let (status,): (String,) = sqlx::query_as("SELECT status FROM recovery_cases WHERE id = $1")
        .bind(st.case_id)
        .fetch_one(&mut **tx)
        .await?;
    let status = CaseStatus::parse(&status)?;
    if status == CaseStatus::Paying {
        // Take over a stale attempt: again a conditional update, so only
        // one of several retrying callers wins.
        let stale: Option<SpecRow> = sqlx::query_as(
            "UPDATE charges SET attempted_at = $3 \
             WHERE id = (SELECT id FROM charges WHERE case_id = $1 AND status = 'PENDING' \
                         ORDER BY id DESC LIMIT 1) \
               AND status = 'PENDING' AND COALESCE(attempted_at, created_at) < $2 \
             RETURNING id, case_id, idempotency_key, amount, billing_key, customer_key, order_name",
        )
        .bind(st.case_id)
        .bind(stale_before_ms)
        .bind(now_ms)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(row) = stale {
            let stale = row.into_stale();
            return Ok(ChargeClaim::Claimed {
                charge_id: stale.charge_id,
                spec: stale.spec,
            });
        }
    }
    if st.source.is_silent() && matches!(status, CaseStatus::Open | CaseStatus::Ended) {
        // Still due but not claimable: the order is paid, or a newer case
        // of it carries the recovery. Stop, or the engine would claim it
        // again every lease.
        sqlx::query(
            "UPDATE recovery_cases SET next_retry_at = NULL, next_retry_source = NULL, retry_stop = $3 \
             WHERE id = $1 AND next_retry_at <= $2",
        )
        .bind(st.case_id)
        .bind(now_ms)
        .bind(Stop::Superseded.as_str())
        .execute(&mut **tx)
        .await?;
    }
    // Ended but another case of the order is open, or the order is paid:
    // nothing to charge here.
    Ok(ChargeClaim::Busy(if status == CaseStatus::Ended {
        CaseStatus::Canceled
    } else {
        status
    }))
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
               UNION ALL SELECT MIN(due_at) AS t FROM stage_resends WHERE status = 'SENDING' \
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
