//! Recovery cases and the charges made against them.

use sqlx::FromRow;

use super::events::{self, About};
use super::{Store, StoreError};
use crate::domain::event::{Event, SubsStatus};
use crate::domain::origin::AllowedOrigins;
use crate::domain::token::TokenKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseStatus {
    Open,
    /// A charge is in flight; nobody else may start one.
    Paying,
    Recovered,
    Canceled,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "OPEN",
            CaseStatus::Paying => "PAYING",
            CaseStatus::Recovered => "RECOVERED",
            CaseStatus::Canceled => "CANCELED",
        }
    }

    fn parse(s: &str) -> CaseStatus {
        match s {
            "OPEN" => CaseStatus::Open,
            "PAYING" => CaseStatus::Paying,
            "RECOVERED" => CaseStatus::Recovered,
            _ => CaseStatus::Canceled,
        }
    }
}

/// Everything the recovery page shows about a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRecord {
    pub id: i64,
    pub status: CaseStatus,
    pub business_name: String,
    pub origins: AllowedOrigins,
    pub product_name: String,
    pub product_image_url: Option<String>,
    pub amount: i64,
    pub failed_at_ms: i64,
    pub failure_reason: Option<String>,
    pub payment_info: Option<String>,
    pub partner_order_id: String,
    pub id_key: Option<String>,
    /// The PG customer key `id_key` was issued under, if we issued it.
    pub customer_key: Option<String>,
    pub paid_at_ms: Option<i64>,
    /// `YYYY-MM-DD` the customer chose on the page, if they did.
    pub selected_date: Option<String>,
    pub remind_count: i64,
    pub method_changed_at_ms: Option<i64>,
    /// The scenario the case opened with (its date window, remind limit).
    pub scenario: crate::domain::scenario::Scenario,
    /// Why the latest declined charge was declined, if the latest failed.
    pub last_decline: Option<String>,
    /// A charge made through the page succeeded (not just closed by the partner).
    pub paid_here: bool,
}

#[derive(FromRow)]
struct CaseRow {
    id: i64,
    status: String,
    business_name: String,
    embed_origins: String,
    product_name: Option<String>,
    product_image_url: Option<String>,
    amount: i64,
    failed_at: i64,
    failure_reason: Option<String>,
    payment_info: Option<String>,
    partner_order_id: String,
    id_key: Option<String>,
    billing_customer_key: Option<String>,
    payment_date: Option<i64>,
    selected_date: Option<String>,
    remind_count: i64,
    method_changed_at: Option<i64>,
    scenario_definition: Option<String>,
    last_decline: Option<String>,
    paid_here: i64,
}

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
}

impl Store {
    /// The case a recovery-link token opens, with what the page shows.
    pub async fn case_by_token(&self, token: &TokenKey) -> Result<Option<CaseRecord>, StoreError> {
        let t = super::token_binds(token);
        // The product shown is the order's first item's product; orders from
        // the seed guide have one item.
        let row: Option<CaseRow> = sqlx::query_as(concat!(
            "SELECT c.id, c.status, p.business_name, p.embed_origins, \
                    (SELECT pr.name FROM order_items oi JOIN prices pc ON pc.id = oi.price_id \
                     JOIN products pr ON pr.id = pc.product_id WHERE oi.order_id = o.id \
                     ORDER BY oi.price_id LIMIT 1) AS product_name, \
                    (SELECT pr.featured_image_url FROM order_items oi JOIN prices pc ON pc.id = oi.price_id \
                     JOIN products pr ON pr.id = pc.product_id WHERE oi.order_id = o.id \
                     ORDER BY oi.price_id LIMIT 1) AS product_image_url, \
                    o.amount, c.failed_at, c.failure_reason, o.payment_info, o.partner_order_id, \
                    o.id_key, o.billing_customer_key, o.payment_date, c.selected_date, \
                    c.remind_count, c.method_changed_at, \
                    (SELECT s.definition FROM scenarios s WHERE s.id = c.scenario_id) AS scenario_definition, \
                    (SELECT ch.failure_reason FROM charges ch WHERE ch.case_id = c.id \
                     ORDER BY ch.id DESC LIMIT 1) AS last_decline, \
                    (SELECT COUNT(*) FROM charges ch WHERE ch.case_id = c.id AND ch.status = 'SUCCEEDED') AS paid_here \
             FROM recovery_cases c \
             JOIN partners p ON p.id = c.partner_id \
             JOIN orders o ON o.id = c.order_id \
             WHERE c.id = ",
            case_id_by_token!()
        ),
        )
        .bind(t.0)
        .bind(t.1)
        .bind(t.2)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| CaseRecord {
            id: r.id,
            status: CaseStatus::parse(&r.status),
            business_name: r.business_name,
            origins: AllowedOrigins::from_stored(&r.embed_origins),
            product_name: r.product_name.unwrap_or_default(),
            product_image_url: r.product_image_url,
            amount: r.amount,
            failed_at_ms: r.failed_at,
            failure_reason: r.failure_reason,
            payment_info: r.payment_info,
            partner_order_id: r.partner_order_id,
            id_key: r.id_key,
            customer_key: r.billing_customer_key,
            paid_at_ms: r.payment_date,
            selected_date: r.selected_date,
            remind_count: r.remind_count,
            method_changed_at_ms: r.method_changed_at,
            scenario: r
                .scenario_definition
                .and_then(|json| crate::domain::scenario::Scenario::parse(&json).ok())
                .unwrap_or_default(),
            last_decline: r.last_decline,
            paid_here: r.paid_here > 0,
        }))
    }

    /// Moves the case from OPEN to PAYING and records the attempt, in one
    /// transaction. The conditional update is the lock: of any number of
    /// concurrent callers exactly one sees a changed row.
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
        now_ms: i64,
        stale_before_ms: i64,
    ) -> Result<ChargeClaim, StoreError> {
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE recovery_cases SET status = 'PAYING' WHERE id = $1 AND status = 'OPEN'",
        )
        .bind(case_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed != 1 {
            let status: (String,) =
                sqlx::query_as("SELECT status FROM recovery_cases WHERE id = $1")
                    .bind(case_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let status = CaseStatus::parse(&status.0);
            if status == CaseStatus::Paying {
                // Take over a stale attempt: again a conditional update, so
                // only one of several retrying callers wins.
                type Stale = (
                    i64,
                    String,
                    i64,
                    Option<String>,
                    Option<String>,
                    Option<String>,
                );
                let stale: Option<Stale> = sqlx::query_as(
                    "UPDATE charges SET attempted_at = $3 \
                     WHERE id = (SELECT id FROM charges WHERE case_id = $1 AND status = 'PENDING' \
                                 ORDER BY id DESC LIMIT 1) \
                       AND COALESCE(attempted_at, created_at) < $2 \
                     RETURNING id, idempotency_key, amount, billing_key, customer_key, order_name",
                )
                .bind(case_id)
                .bind(stale_before_ms)
                .bind(now_ms)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((
                    charge_id,
                    idempotency_key,
                    amount,
                    billing_key,
                    customer_key,
                    order_name,
                )) = stale
                {
                    tx.commit().await?;
                    return Ok(ChargeClaim::Claimed {
                        charge_id,
                        spec: ChargeSpec {
                            idempotency_key,
                            amount,
                            billing_key,
                            customer_key: customer_key.unwrap_or_default(),
                            order_name: order_name.unwrap_or_default(),
                        },
                    });
                }
            }
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
        let (charge_id,): (i64,) = sqlx::query_as(
            "INSERT INTO charges (case_id, idempotency_key, amount, status, created_at, attempted_at, \
                                  billing_key, customer_key, order_name) \
             VALUES ($1, $2, $3, 'PENDING', $4, $4, $5, $6, $7) RETURNING id",
        )
        .bind(case_id)
        .bind(idempotency_key)
        .bind(spec.amount)
        .bind(now_ms)
        .bind(&spec.billing_key)
        .bind(&spec.customer_key)
        .bind(&spec.order_name)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ChargeClaim::Claimed { charge_id, spec })
    }

    /// Leaves a charge of unknown outcome pending (the case stays PAYING)
    /// so the next attempt resends it with the same key; only the time of
    /// this attempt is recorded.
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

    /// Records a successful charge: the charge, the case and the order change
    /// together or not at all. Returns false when the case was closed while
    /// the charge was in flight (the partner canceled or settled it): then
    /// the partner's decision stands and the charge is marked for refund.
    pub async fn complete_charge(
        &self,
        case_id: i64,
        charge_id: i64,
        gateway_ref: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
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
            return Ok(status == "SUCCEEDED");
        }
        let recovered = sqlx::query(
            "UPDATE recovery_cases SET status = 'RECOVERED', closed_at = $2, next_stage_at = NULL \
             WHERE id = $1 AND status = 'PAYING'",
        )
        .bind(case_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !recovered {
            sqlx::query("UPDATE charges SET status = 'NEEDS_REFUND' WHERE id = $1")
                .bind(charge_id)
                .execute(&mut *tx)
                .await?;
        }
        if recovered {
            sqlx::query(
                "UPDATE orders SET status = 'PAID', payment_date = $2, error_code = NULL, error_message = NULL \
                 WHERE id = (SELECT order_id FROM recovery_cases WHERE id = $1)",
            )
            .bind(case_id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            let (amount, payment_info): (i64, Option<String>) = sqlx::query_as(
                "SELECT ch.amount, o.payment_info FROM charges ch JOIN recovery_cases c ON c.id = ch.case_id \
                 JOIN orders o ON o.id = c.order_id WHERE ch.id = $1",
            )
            .bind(charge_id)
            .fetch_one(&mut *tx)
            .await?;
            events::record(
                &mut tx,
                About::Case(case_id),
                &[
                    Event::payment_completed(
                        gateway_ref,
                        amount,
                        payment_info.as_deref().unwrap_or(""),
                    ),
                    Event::case_closed("RECOVERED", SubsStatus::Renewed),
                ],
                now_ms,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(recovered)
    }

    /// Records a declined charge and reopens the case for another try.
    pub async fn fail_charge(
        &self,
        case_id: i64,
        charge_id: i64,
        reason: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let pending = sqlx::query(
            "UPDATE charges SET status = 'FAILED', failure_reason = $2 WHERE id = $1 AND status = 'PENDING'",
        )
        .bind(charge_id)
        .bind(reason)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if pending == 0 {
            // Recorded already by another attempt of the same charge.
            tx.commit().await?;
            return Ok(());
        }
        sqlx::query(
            "UPDATE recovery_cases SET status = 'OPEN' WHERE id = $1 AND status = 'PAYING'",
        )
        .bind(case_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Status of every charge of a case, oldest first (tests and audits).
    pub async fn charge_statuses(&self, case_id: i64) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT status FROM charges WHERE case_id = $1 ORDER BY id")
                .bind(case_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(s,)| s).collect())
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
}

/// What a page action asks of a case.
impl Store {
    /// Stores a newly issued billing key on the case's order, for this and
    /// every later charge (the partner reads it with `GET /order/{token}/idKey`).
    /// False if the case is no longer open.
    pub async fn replace_billing_key(
        &self,
        case_id: i64,
        id_key: &str,
        customer_key: &str,
        payment_info: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let open = sqlx::query(
            "UPDATE recovery_cases SET method_changed_at = $2 WHERE id = $1 AND status = 'OPEN'",
        )
        .bind(case_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if open {
            sqlx::query(
                "UPDATE orders SET id_key = $2, billing_customer_key = $3, payment_info = $4, \
                 updated_at = $5 WHERE id = (SELECT order_id FROM recovery_cases WHERE id = $1)",
            )
            .bind(case_id)
            .bind(id_key)
            .bind(customer_key)
            .bind(payment_info)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            events::record(
                &mut tx,
                About::Case(case_id),
                &[Event::method_changed(id_key, payment_info)],
                now_ms,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(open)
    }

    /// Records the customer's new payment date and moves the next stage to
    /// it. False if the case is no longer open.
    pub async fn change_date(
        &self,
        case_id: i64,
        selected_date: &str,
        next_stage_at_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE recovery_cases SET selected_date = $2, next_stage_at = $3 \
             WHERE id = $1 AND status = 'OPEN'",
        )
        .bind(case_id)
        .bind(selected_date)
        .bind(next_stage_at_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if changed {
            events::record(
                &mut tx,
                About::Case(case_id),
                &[Event::date_changed(selected_date, next_stage_at_ms)],
                now_ms,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// Counts a "remind me later" and postpones the next stage, at most
    /// `limit` times per case. The limit is in the statement, so two tabs
    /// cannot both take the last one.
    pub async fn remind_later(
        &self,
        case_id: i64,
        limit: i64,
        next_stage_at_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            // Never earlier than already planned (a chosen date stands).
            "UPDATE recovery_cases SET remind_count = remind_count + 1, \
                    next_stage_at = CASE WHEN next_stage_at IS NULL OR next_stage_at < $3 THEN $3 \
                                         ELSE next_stage_at END \
             WHERE id = $1 AND status = 'OPEN' AND remind_count < $2",
        )
        .bind(case_id)
        .bind(limit)
        .bind(next_stage_at_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if changed {
            let (next,): (Option<i64>,) =
                sqlx::query_as("SELECT next_stage_at FROM recovery_cases WHERE id = $1")
                    .bind(case_id)
                    .fetch_one(&mut *tx)
                    .await?;
            events::record(
                &mut tx,
                About::Case(case_id),
                &[Event::reminded_later(next.unwrap_or(next_stage_at_ms))],
                now_ms,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// The next stage's due time (tests; the API answers it as `retryDate`).
    pub async fn next_stage_at(&self, case_id: i64) -> Result<Option<i64>, StoreError> {
        let (at,): (Option<i64>,) =
            sqlx::query_as("SELECT next_stage_at FROM recovery_cases WHERE id = $1")
                .bind(case_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(at)
    }
}

impl Store {
    /// Just the framing origins for a token's partner: what the header
    /// middleware needs, without loading the whole case.
    pub async fn embed_origins_by_token(
        &self,
        token: &TokenKey,
    ) -> Result<Option<AllowedOrigins>, StoreError> {
        let t = super::token_binds(token);
        let row: Option<(String,)> = sqlx::query_as(concat!(
            "SELECT p.embed_origins FROM recovery_cases c JOIN partners p ON p.id = c.partner_id \
                 WHERE c.id = ",
            case_id_by_token!()
        ))
        .bind(t.0)
        .bind(t.1)
        .bind(t.2)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(o,)| AllowedOrigins::from_stored(&o)))
    }
}
