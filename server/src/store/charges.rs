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

use sqlx::{Any, FromRow, Transaction};

use super::events::{self, About};
use super::plan_facts::{CaseFacts, case_facts};
use super::{Leased, Store, StoreError, WorkQueue, allowing, charge_allowing};
use crate::domain::case::{
    CaseEvent, CaseState, CaseStatus, ChargeEvent, ChargeSource, ChargeStatus,
};
use crate::domain::decline::{Decline, DeclineClass};
use crate::domain::event::{Event, Payment, Subject, SubsStatus};
use crate::domain::retry::{self, Blocked, Plan, Stop};
use crate::domain::scenario::EndAction;

/// Exactly what a charge sends to the PG; stored with the charge when it is
/// claimed, so a resend repeats it byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeSpec {
    pub idempotency_key: String,
    pub amount: i64,
    /// `None` when the order has no billing key (nothing can be charged).
    pub billing_key: Option<String>,
    /// Sent where the PG wants one (Toss: required, the key's own).
    pub customer_key: Option<String>,
    pub order_name: String,
    /// The partner's gateway account it goes through (`None`: the
    /// server-wide gateway); its resends and lookups go there too.
    pub account_id: Option<i64>,
}

/// The result of trying to start a charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeClaim {
    /// This caller owns the charge with this id and must send exactly this
    /// (a retried charge keeps its first key, amount and billing key).
    Claimed { charge_id: i64, spec: ChargeSpec },
    /// Someone else is charging, or the case is closed.
    Busy(CaseStatus),
    /// Not now, or not with this card: the gates' answer. Nothing was
    /// written but, for a silent retry, its new plan.
    Blocked(Blocked),
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
    /// When the charge was claimed: its idempotency key is as old.
    pub created_at_ms: i64,
}

/// A case whose silent retry is due.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DueRetry {
    pub case_id: i64,
    pub source: Option<String>,
}

impl Leased for DueRetry {
    fn id(&self) -> i64 {
        self.case_id
    }
}

/// Distinct cases whose charges the PG refused for the partner's
/// credentials (a `setup` decline) within `CREDENTIAL_WINDOW_MS` before the
/// partner's charges stop: one refusal may be the PG's passing fault.
pub const CREDENTIAL_REPEATS: i64 = 2;
pub const CREDENTIAL_WINDOW_MS: i64 = retry::DAY_MS;

/// Cases with a silent retry due; a partner whose PG setup is broken gets
/// none until an operator clears it.
const RETRIES: WorkQueue = WorkQueue {
    table: "recovery_cases",
    waiting: "status IN ('OPEN', 'ENDED') \
              AND partner_id NOT IN (SELECT id FROM partners WHERE gateway_problem IS NOT NULL)",
    due_column: "next_retry_at",
    // A partner's big wave does not hold back another's retries.
    fair_by: Some("partner_id"),
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

use super::plan_facts::ServerWide;

impl Store {
    /// `claim_charges` for one case, on an adapter that charges every
    /// order's PG (tests and tools).
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
            .claim_charges(
                std::slice::from_ref(&start),
                now_ms,
                stale_before_ms,
                &|_| {
                    Some(crate::domain::gateway_account::Adapter {
                        account_id: None,
                        kind: crate::domain::gateway_account::AdapterKind::Sandbox,
                        customer_keys: Default::default(),
                    })
                },
            )
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
    /// Before it, every charge passes the same gates (`CaseFacts::gate`):
    /// a billing key, an account for the order's PG (the partner's own, or
    /// the server-wide gateway, `server_wide`) with the key's customer key, no
    /// credential problem, the night window, the key's hard decline and
    /// 30-day budget, the day's cap on charges people ask for; a silent one
    /// goes only if the planner, asked again now, gives this moment (an
    /// overdue retry is planned again instead).
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
        server_wide: ServerWide<'_>,
    ) -> Result<Vec<ChargeClaim>, StoreError> {
        if starts.is_empty() {
            return Ok(Vec::new());
        }
        let (mut tx, _write) = self.begin_write().await?;
        let mut answers: HashMap<i64, ChargeClaim> = HashMap::with_capacity(starts.len());
        // The same gates for every charge (`CaseFacts::gate`), read in the
        // claim's transaction. A case not payable now (busy, closed) is
        // left to the conditional update below, which answers for it.
        let ids: Vec<i64> = starts.iter().map(|s| s.case_id).collect();
        let gates = case_facts(&mut tx, &ids, now_ms).await?;
        let payable = CaseState::statuses_allowing(CaseEvent::ClaimCharge);
        let mut routes = HashMap::with_capacity(starts.len());
        for st in starts {
            let Some(f) = gates.get(&st.case_id) else {
                continue;
            };
            if !payable.contains(&f.status) {
                continue;
            }
            let blocked = match f.gate(st.source, now_ms, server_wide) {
                Ok(route) => {
                    routes.insert(st.case_id, route);
                    continue;
                }
                Err(blocked) => blocked,
            };
            if st.source.is_silent() {
                // The retry does not go now: it is planned again, or
                // stopped for good with the reason.
                let plan = match blocked {
                    Blocked::Replanned(plan) => Some(plan),
                    Blocked::NoAdapter => Some(Plan::Stop(Stop::NoAdapter)),
                    Blocked::NoBillingKey => Some(Plan::Stop(Stop::NoBillingKey)),
                    Blocked::NoCustomerKey => Some(Plan::Stop(Stop::NoCustomerKey)),
                    _ => None,
                };
                if let Some(plan) = plan {
                    write_plan(&mut tx, st.case_id, plan).await?;
                }
            }
            answers.insert(st.case_id, ChargeClaim::Blocked(blocked));
        }
        // An ended case is claimed only while no newer case of its order is
        // open (one open case per order, a partial unique index), and no
        // case of a paid order (`order_is_paid`: a charge of any of its
        // cases that moved money counts). A silent charge also needs its retry still
        // planned and due (a decline on the page, a card change or the
        // scenario's end may have moved or cancelled it since the engine
        // claimed the case), and takes it: the outcome plans the next.
        let claimable = allowing(CaseEvent::ClaimCharge);
        // A paid order is final, whichever of its cases paid it: no path
        // reaches the PG twice for one order.
        let paid = super::orders::order_is_paid("o");
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
                                       WHERE o.id = recovery_cases.order_id AND {paid}){} \
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
            let gated = routes
                .remove(&st.case_id)
                .ok_or(StoreError::Integrity("a claimed case passed no gate"))?;
            // The customer key goes with the key read after the claim (a
            // card change cannot slip in between); the gate's route stands
            // if that reading routes nowhere.
            let route = gates
                .get(&st.case_id)
                .and_then(|g| g.route(server_wide, f.billing_customer_key.as_deref()).ok())
                .filter(|r| r.account_id == gated.account_id)
                .unwrap_or(gated);
            rows.push((
                st,
                ChargeSpec {
                    idempotency_key: st.idempotency_key.clone(),
                    amount: f.amount,
                    billing_key: f.id_key,
                    customer_key: route.customer_key,
                    account_id: route.account_id,
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
                                      gateway_account_id, source, stage, created_at, attempted_at, sent_at, status) \
                 VALUES {} RETURNING id, case_id",
                super::placeholders(self.backend, chunk.len(), 12, "'PENDING'")
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
                    .bind(spec.account_id)
                    .bind(st.source.as_str())
                    .bind(*stage)
                    .bind(now_ms)
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

    /// What the gates would say of a charge from `source` on this case now
    /// (`CaseFacts::gate`), without charging: the console shows why "retry
    /// now" is not possible, and until when. `None` for an unknown case.
    pub async fn charge_gate(
        &self,
        case_id: i64,
        source: ChargeSource,
        now_ms: i64,
        server_wide: ServerWide<'_>,
    ) -> Result<Option<Result<(), Blocked>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let facts = case_facts(&mut tx, &[case_id], now_ms).await?;
        tx.commit().await?;
        Ok(facts
            .get(&case_id)
            .map(|f| f.gate(source, now_ms, server_wide).map(|_| ())))
    }

    /// A pending charge is about to go to the PG again (the resolver's
    /// resend under its own key): the day the card was charged on moves.
    pub async fn charge_resending(&self, charge_id: i64, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "UPDATE charges SET sent_at = $2 WHERE id = $1 AND status IN ({})",
            charge_allowing(ChargeEvent::Attempted)
        ))
        .bind(charge_id)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Leaves a charge of unknown outcome pending (the case stays PAYING)
    /// so it is resent with the same key, by the resolver or the next
    /// attempt; only the time of this attempt is recorded.
    pub async fn charge_outcome_unknown(
        &self,
        charge_id: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "UPDATE charges SET attempted_at = $2 WHERE id = $1 AND status IN ({})",
            charge_allowing(ChargeEvent::Attempted)
        ))
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
                 WHERE charges.id = v.column1 AND charges.status IN ({}) RETURNING charges.id",
                super::placeholders(self.backend, chunk.len(), 2, ""),
                charge_allowing(ChargeEvent::Approved)
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
                sqlx::query(&format!(
                    "UPDATE charges SET status = 'NEEDS_REFUND', gateway_ref = $2 \
                     WHERE id = $1 AND status IN ({})",
                    charge_allowing(ChargeEvent::ApprovedAfterSettled)
                ))
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
                 WHERE id IN ({}) AND status IN ({}) RETURNING id, ended_at",
                super::id_list(chunk),
                allowing(CaseEvent::ChargeSucceeded)
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
                sqlx::query(&format!(
                    "UPDATE charges SET status = 'NEEDS_REFUND' WHERE id = $1 AND status IN ({})",
                    charge_allowing(ChargeEvent::ClosedMeanwhile)
                ))
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
    /// transaction. A setup decline repeated across the partner's cases
    /// also stops the partner's charges and tells the partner. Returns the plan, or `None` if the charge had
    /// been recorded already.
    pub async fn fail_charge(
        &self,
        case_id: i64,
        charge_id: i64,
        failure: &ChargeFailure<'_>,
        now_ms: i64,
    ) -> Result<Option<Plan>, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        let pending = sqlx::query(&format!(
            "UPDATE charges SET status = 'FAILED', failure_reason = $2, decline_code = $3, decline_class = $4 \
             WHERE id = $1 AND status IN ({})",
            charge_allowing(ChargeEvent::Declined)
        ))
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
        sqlx::query(&format!(
            "UPDATE recovery_cases SET status = CASE WHEN ended_at IS NULL THEN 'OPEN' ELSE 'ENDED' END, \
                    lease_until = NULL \
             WHERE id = $1 AND status IN ({})",
            allowing(CaseEvent::ChargeDeclined)
        ))
        .bind(case_id)
        .execute(&mut *tx)
        .await?;
        if failure.decline == Decline::Setup {
            // The PG refused the partner's credentials. Once is not proof (a
            // passing fault at the PG); the same refusal on another case
            // within a day is: the partner's charges stop, the operator sees
            // why in the console, and the partner is told once.
            let code = failure.code.unwrap_or("SETUP");
            let (cases,): (i64,) = sqlx::query_as(
                "SELECT COUNT(DISTINCT ch.case_id) FROM charges ch \
                 JOIN recovery_cases c ON c.id = ch.case_id \
                 WHERE c.partner_id = (SELECT partner_id FROM recovery_cases WHERE id = $1) \
                   AND ch.status = 'FAILED' AND ch.decline_class = 'setup' AND ch.created_at > $2",
            )
            .bind(case_id)
            .bind(now_ms - CREDENTIAL_WINDOW_MS)
            .fetch_one(&mut *tx)
            .await?;
            let flagged = if cases >= CREDENTIAL_REPEATS {
                sqlx::query(
                    "UPDATE partners SET gateway_problem = $2, gateway_problem_at = $3 \
                     WHERE id = (SELECT partner_id FROM recovery_cases WHERE id = $1) \
                       AND gateway_problem IS NULL",
                )
                .bind(case_id)
                .bind(code)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected()
            } else {
                0
            };
            if flagged > 0 {
                events::record(
                    &mut tx,
                    About::Case(case_id),
                    &[Event::gateway_problem(code, failure.reason)],
                    now_ms,
                )
                .await?;
            }
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
        let attemptable = charge_allowing(ChargeEvent::Attempted);
        let (mut tx, _write) = self.begin_write().await?;
        let rows: Vec<SpecRow> = sqlx::query_as(&format!(
            "UPDATE charges SET attempted_at = $1 \
             WHERE id IN (SELECT id FROM charges WHERE status IN ({attemptable}) \
                            AND COALESCE(attempted_at, created_at) < $2 \
                          ORDER BY attempted_at LIMIT $3 {lock}) \
               AND status IN ({attemptable}) AND COALESCE(attempted_at, created_at) < $2 \
             RETURNING id, case_id, idempotency_key, amount, billing_key, customer_key, order_name, gateway_account_id, created_at"
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
            "SELECT c.id AS case_id, c.next_retry_source AS source \
             FROM {due} JOIN recovery_cases c ON c.id = due.id \
             ORDER BY c.next_retry_at, c.id",
            now_ms,
            lease_ms,
            limit,
        )
        .await
    }

    /// Cases opened before silent retries existed (open or ended, no plan,
    /// no reason for none) get none: nobody agreed to Rebound charging
    /// those cards. They are marked `OLDER_CASE`, and an operator may opt a
    /// partner in (`opt_in_older_cases`). Runs once per database (every
    /// case opened since is planned as it opens); returns how many it
    /// marked.
    pub async fn mark_older_cases(&self) -> Result<u64, StoreError> {
        const DONE: &str = "retries_planned_for_older_cases";
        let (done,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM server_secrets WHERE name = $1")
            .bind(DONE)
            .fetch_one(&self.pool)
            .await?;
        if done > 0 {
            return Ok(0);
        }
        let (mut tx, _write) = self.begin_write().await?;
        let marked = sqlx::query(&format!(
            "UPDATE recovery_cases SET retry_stop = $1 \
             WHERE status IN ({}) AND next_retry_at IS NULL AND retry_stop IS NULL",
            allowing(CaseEvent::RetryReplanned)
        ))
        .bind(Stop::OlderCase.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Another instance may have marked them too: the same marks.
        sqlx::query(
            "INSERT INTO server_secrets (name, value) VALUES ($1, '1') ON CONFLICT (name) DO NOTHING",
        )
        .bind(DONE)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(marked)
    }

    /// The operator opts a partner's older cases (`OLDER_CASE`) in to
    /// silent retries: each still inside its ladder (younger than the
    /// ladder's last step) is planned by the planner; older ones get
    /// `LADDER_DONE`. Cases whose scenario has retries off stay off.
    /// Returns `(planned, past their ladder)`.
    pub async fn opt_in_older_cases(
        &self,
        partner_id: i64,
        now_ms: i64,
    ) -> Result<(usize, usize), StoreError> {
        let ids = stopped_for(&self.pool, partner_id, Stop::OlderCase).await?;
        let (mut planned, mut too_old) = (0, 0);
        for chunk in ids.chunks(256) {
            let ids = chunk.to_vec();
            let (mut tx, _write) = self.begin_write().await?;
            let facts = case_facts(&mut tx, &ids, now_ms).await?;
            for id in ids {
                let Some(f) = facts.get(&id) else { continue };
                let inside = f
                    .policy()
                    .ladder_end(f.failed_at_ms)
                    .is_some_and(|end| end > now_ms);
                let plan = if inside {
                    plan_for(f, now_ms)
                } else {
                    Some(Plan::Stop(Stop::LadderDone))
                };
                if let Some(plan) = plan {
                    write_plan(&mut tx, id, plan).await?;
                    match plan {
                        Plan::Charge { .. } => planned += 1,
                        Plan::Stop(_) => too_old += usize::from(!inside),
                    }
                }
            }
            tx.commit().await?;
        }
        Ok((planned, too_old))
    }

    /// A partner's retry switch changed (a scenario version saved with
    /// retries on or off): off stops every open and ended case's planned
    /// retry at once; on plans again the cases that switch had stopped.
    pub(super) async fn retries_switched(
        tx: &mut Transaction<'_, Any>,
        partner_id: i64,
        on: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if !on {
            sqlx::query(&format!(
                "UPDATE recovery_cases SET next_retry_at = NULL, next_retry_source = NULL, retry_stop = $2 \
                 WHERE partner_id = $1 AND status IN ({}) AND next_retry_at IS NOT NULL",
                allowing(CaseEvent::RetryReplanned)
            ))
            .bind(partner_id)
            .bind(Stop::Disabled.as_str())
            .execute(&mut **tx)
            .await?;
            return Ok(());
        }
        let ids = stopped_for(&mut **tx, partner_id, Stop::Disabled).await?;
        let facts = case_facts(tx, &ids, now_ms).await?;
        for id in ids {
            if let Some(plan) = facts.get(&id).and_then(|f| plan_for(f, now_ms)) {
                write_plan(tx, id, plan).await?;
            }
        }
        Ok(())
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
        for case_id in stopped_for(&mut *tx, partner_id, Stop::SetupDecline).await? {
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
pub(super) struct PaymentFacts {
    id: i64,
    amount: i64,
    source: String,
    stage: i64,
    attempt: i64,
    payment_info: Option<String>,
}

impl PaymentFacts {
    pub(super) fn payment<'a>(&'a self, tid: &'a str) -> Result<Payment<'a>, StoreError> {
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
pub(super) async fn payment_facts(
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
    // A takeover resends the charge: never in the card companies' night
    // window (the resolver sends it after).
    if status == CaseStatus::Paying && retry::maintenance_end(now_ms).is_none() {
        // Take over a stale attempt: again a conditional update, so only
        // one of several retrying callers wins.
        // The caller sends it again at once.
        let stale: Option<SpecRow> = sqlx::query_as(&format!(
            "UPDATE charges SET attempted_at = $3, sent_at = $3 \
             WHERE id = (SELECT id FROM charges WHERE case_id = $1 AND status IN ({attemptable}) \
                         ORDER BY id DESC LIMIT 1) \
               AND status IN ({attemptable}) AND COALESCE(attempted_at, created_at) < $2 \
             RETURNING id, case_id, idempotency_key, amount, billing_key, customer_key, order_name, gateway_account_id, created_at",
            attemptable = charge_allowing(ChargeEvent::Attempted)
        ))
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
        sqlx::query(&format!(
            "UPDATE recovery_cases SET next_retry_at = NULL, next_retry_source = NULL, retry_stop = $3 \
             WHERE id = $1 AND next_retry_at <= $2 AND status IN ({})",
            allowing(CaseEvent::RetryReplanned)
        ))
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
    gateway_account_id: Option<i64>,
    created_at: i64,
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
                customer_key: self.customer_key,
                order_name: self.order_name.unwrap_or_default(),
                account_id: self.gateway_account_id,
            },
            case_paying: true,
            created_at_ms: self.created_at,
        }
    }
}

/// The partner's cases whose silent retries stopped for `stop` and that a
/// plan could still apply to (open or ended).
async fn stopped_for<'e>(
    db: impl sqlx::Executor<'e, Database = Any>,
    partner_id: i64,
    stop: Stop,
) -> Result<Vec<i64>, StoreError> {
    let ids: Vec<(i64,)> = sqlx::query_as(&format!(
        "SELECT id FROM recovery_cases WHERE partner_id = $1 AND retry_stop = $2 AND status IN ({})",
        allowing(CaseEvent::RetryReplanned)
    ))
    .bind(partner_id)
    .bind(stop.as_str())
    .fetch_all(db)
    .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// The next silent retry of a case, by the planner, from its facts. `None`
/// for a case nothing plans now (closed, or a charge in flight: its outcome
/// plans next).
fn plan_for(f: &CaseFacts, now_ms: i64) -> Option<Plan> {
    if f.status.is_closed() || f.status == CaseStatus::Paying {
        return None;
    }
    Some(if f.ended && f.scenario.end_action == EndAction::Cancel {
        Plan::Stop(Stop::SubscriptionCanceled)
    } else if f.has_billing_key {
        match retry::plan(&f.policy(), &f.retry_facts(now_ms)) {
            // The holdout's ladder is empty: say why.
            Plan::Stop(Stop::LadderDone) if f.holdout => Plan::Stop(Stop::Holdout),
            plan => plan,
        }
    } else {
        Plan::Stop(Stop::NoBillingKey)
    })
}

/// Stores a case's plan (its next silent retry, or why none).
async fn write_plan(
    tx: &mut Transaction<'_, Any>,
    case_id: i64,
    plan: Plan,
) -> Result<(), StoreError> {
    let (at, source, stop) = match plan {
        Plan::Charge { at_ms, source } => (Some(at_ms), Some(source.as_str()), None),
        Plan::Stop(stop) => (None, None, Some(stop.as_str())),
    };
    sqlx::query(&format!(
        "UPDATE recovery_cases SET next_retry_at = $2, next_retry_source = $3, retry_stop = $4 \
         WHERE id = $1 AND status IN ({})",
        allowing(CaseEvent::RetryReplanned)
    ))
    .bind(case_id)
    .bind(at)
    .bind(source)
    .bind(stop)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Plans the case's next silent retry from everything that happened to it
/// (`domain::retry::plan`) and stores it, in the caller's transaction.
pub(super) async fn replan(
    tx: &mut Transaction<'_, Any>,
    case_id: i64,
    now_ms: i64,
) -> Result<Plan, StoreError> {
    let facts = case_facts(tx, &[case_id], now_ms).await?;
    let f = facts
        .get(&case_id)
        .ok_or(StoreError::Integrity("a case to plan went missing"))?;
    let Some(plan) = plan_for(f, now_ms) else {
        return Ok(Plan::Stop(Stop::LadderDone));
    };
    write_plan(tx, case_id, plan).await?;
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
    /// The earliest silent retry planned (tests and operators: is any card
    /// still to be tried?).
    pub async fn next_retry_due(&self) -> Result<Option<i64>, StoreError> {
        let (at,): (Option<i64>,) = sqlx::query_as(&format!(
            "SELECT MIN(next_retry_at) FROM recovery_cases WHERE status IN ({})",
            allowing(CaseEvent::RetryReplanned)
        ))
        .fetch_one(&self.pool)
        .await?;
        Ok(at)
    }

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
