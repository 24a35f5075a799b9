//! Recovery cases: what the page shows, and the customer's date and
//! reminder choices. Charges are in `charges.rs`.

use sqlx::{Any, FromRow, Transaction};

use super::events::{self, About};
use super::{Store, StoreError, allowing};
use crate::domain::case::{CaseEvent, CaseStatus};
use crate::domain::event::Event;
use crate::domain::experiment::ArmKind;
use crate::domain::gateway_account::{Adapter, AdapterKind, CustomerKeyRule};
use crate::domain::origin::AllowedOrigins;
use crate::domain::retry::Stop;
use crate::domain::scenario::Scenario;
use crate::domain::token::TokenHash;
use crate::domain::token::TokenKey;

/// A stored scenario version (`None`: the built-in default). A definition
/// that no longer parses is an integrity error, never the default.
pub(super) fn stored_scenario(definition: Option<&str>) -> Result<Scenario, StoreError> {
    match definition {
        None => Ok(Scenario::default()),
        Some(json) => Scenario::parse(json)
            .map_err(|_| StoreError::Integrity("stored scenario does not parse")),
    }
}

/// Everything the recovery page shows about a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRecord {
    pub id: i64,
    pub status: CaseStatus,
    pub business_name: String,
    pub origins: AllowedOrigins,
    pub customer_name: String,
    pub customer_phone: String,
    pub product_name: String,
    pub product_image_url: Option<String>,
    pub amount: i64,
    pub failed_at_ms: i64,
    pub failure_reason: Option<String>,
    pub payment_info: Option<String>,
    pub partner_order_id: String,
    pub id_key: Option<String>,
    /// The PG customer key `id_key` was issued under, if known: ours for a
    /// key Rebound issued, or the partner's `customerKey`.
    pub customer_key: Option<String>,
    /// The order's `paymentGateway`.
    pub payment_gateway: String,
    pub partner_customer_id: String,
    /// The partner's own account for that PG, and whether it is live.
    pub own_account: Option<(Adapter, bool)>,
    pub paid_at_ms: Option<i64>,
    /// `YYYY-MM-DD` the customer chose on the page, if they did.
    pub selected_date: Option<String>,
    pub remind_count: i64,
    pub date_change_count: i64,
    pub method_changed_at_ms: Option<i64>,
    /// The scenario the case opened with (its date window, remind limit).
    pub scenario: crate::domain::scenario::Scenario,
    /// Why the latest declined charge was declined, if the latest failed.
    pub last_decline: Option<String>,
    /// A charge made here succeeded (not just closed by the partner).
    pub paid_here: bool,
    /// Why silent retries stopped, if they did (a hard decline: the page
    /// and the messages ask for a new card).
    pub retry_stop: Option<Stop>,
    /// The next silent charge, if one is planned.
    pub next_retry_at_ms: Option<i64>,
}

#[derive(FromRow)]
struct CaseRow {
    arm_kind: Option<String>,
    id: i64,
    status: String,
    business_name: String,
    embed_origins: String,
    customer_name: String,
    customer_phone: String,
    product_name: Option<String>,
    product_image_url: Option<String>,
    amount: i64,
    failed_at: i64,
    failure_reason: Option<String>,
    payment_info: Option<String>,
    partner_order_id: String,
    id_key: Option<String>,
    billing_customer_key: Option<String>,
    payment_gateway: String,
    partner_customer_id: String,
    account_id: Option<i64>,
    account_kind: Option<AdapterKind>,
    account_keys: Option<CustomerKeyRule>,
    account_livemode: Option<i64>,
    payment_date: Option<i64>,
    selected_date: Option<String>,
    remind_count: i64,
    date_change_count: i64,
    method_changed_at: Option<i64>,
    scenario_definition: Option<String>,
    last_decline: Option<String>,
    paid_here: i64,
    retry_stop: Option<String>,
    next_retry_at: Option<i64>,
}

/// What the page reads of a case, up to the case id it is for (a token's
/// lookup or a bound id). The product shown is the order's first item's
/// product; orders from the seed guide have one item.
macro_rules! case_record_select {
    () => {
            "SELECT c.id, c.status, p.business_name, p.embed_origins, cu.name AS customer_name, cu.phone AS customer_phone, \
                    (SELECT pr.name FROM order_items oi JOIN prices pc ON pc.id = oi.price_id \
                     JOIN products pr ON pr.id = pc.product_id WHERE oi.order_id = o.id \
                     ORDER BY oi.price_id LIMIT 1) AS product_name, \
                    (SELECT pr.featured_image_url FROM order_items oi JOIN prices pc ON pc.id = oi.price_id \
                     JOIN products pr ON pr.id = pc.product_id WHERE oi.order_id = o.id \
                     ORDER BY oi.price_id LIMIT 1) AS product_image_url, \
                    o.amount, c.failed_at, c.failure_reason, o.payment_info, o.partner_order_id, \
                    o.id_key, o.billing_customer_key, o.payment_gateway, cu.partner_customer_id, \
                    ga.id AS account_id, ga.kind AS account_kind, ga.customer_keys AS account_keys, \
                    ga.livemode AS account_livemode, o.payment_date, c.selected_date, \
                    c.remind_count, c.date_change_count, c.method_changed_at, \
                    (SELECT s.definition FROM scenarios s WHERE s.id = c.scenario_id) AS scenario_definition, \
                    (SELECT ch.failure_reason FROM charges ch WHERE ch.case_id = c.id \
                     ORDER BY ch.id DESC LIMIT 1) AS last_decline, \
                    (SELECT COUNT(*) FROM charges ch WHERE ch.case_id = c.id AND ch.status = 'SUCCEEDED') AS paid_here, \
                    c.retry_stop, c.next_retry_at, \
                    (SELECT xa.kind FROM experiment_arms xa WHERE xa.experiment_id = c.experiment_id \
                     AND xa.position = c.experiment_arm) AS arm_kind \
             FROM recovery_cases c \
             JOIN partners p ON p.id = c.partner_id \
             JOIN orders o ON o.id = c.order_id \
             JOIN customers cu ON cu.id = o.customer_id \
             LEFT JOIN gateway_accounts ga ON ga.partner_id = c.partner_id \
                  AND ga.payment_gateway = o.payment_gateway AND ga.retired_at IS NULL \
             WHERE c.id = "
    };
}

impl Store {
    /// The case a recovery-link token opens, with what the page shows.
    pub async fn case_by_token(&self, token: &TokenKey) -> Result<Option<CaseRecord>, StoreError> {
        let t = super::token_binds(token);
        let row: Option<CaseRow> =
            sqlx::query_as(concat!(case_record_select!(), case_id_by_token!()))
                .bind(t.0)
                .bind(t.1)
                .bind(t.2)
                .fetch_optional(&self.pool)
                .await?;
        row.map(CaseRecord::try_from).transpose()
    }

    /// The case a card window's signed ticket names, as `case_by_token`
    /// reads it.
    pub async fn case_by_id(&self, case_id: i64) -> Result<Option<CaseRecord>, StoreError> {
        let row: Option<CaseRow> = sqlx::query_as(concat!(case_record_select!(), "$1"))
            .bind(case_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(CaseRecord::try_from).transpose()
    }
}

impl TryFrom<CaseRow> for CaseRecord {
    type Error = StoreError;

    fn try_from(r: CaseRow) -> Result<CaseRecord, StoreError> {
        Ok(CaseRecord {
            id: r.id,
            status: CaseStatus::parse(&r.status)?,
            business_name: r.business_name,
            origins: AllowedOrigins::from_stored(&r.embed_origins),
            customer_name: r.customer_name,
            customer_phone: r.customer_phone,
            product_name: r.product_name.unwrap_or_default(),
            product_image_url: r.product_image_url,
            amount: r.amount,
            failed_at_ms: r.failed_at,
            failure_reason: r.failure_reason,
            payment_info: r.payment_info,
            partner_order_id: r.partner_order_id,
            id_key: r.id_key,
            customer_key: r.billing_customer_key,
            own_account: match (r.account_id, r.account_kind) {
                (Some(id), Some(kind)) => Some((
                    Adapter {
                        account_id: Some(id),
                        kind,
                        customer_keys: r.account_keys.unwrap_or_default(),
                    },
                    r.account_livemode.unwrap_or(0) != 0,
                )),
                _ => None,
            },
            payment_gateway: r.payment_gateway,
            partner_customer_id: r.partner_customer_id,
            paid_at_ms: r.payment_date,
            selected_date: r.selected_date,
            remind_count: r.remind_count,
            date_change_count: r.date_change_count,
            method_changed_at_ms: r.method_changed_at,
            scenario: {
                let mut s = stored_scenario(r.scenario_definition.as_deref())?;
                // The holdout is sent nothing: the page offers no reminder
                // it would not send.
                if r.arm_kind.as_deref().map(ArmKind::parse).transpose()? == Some(ArmKind::Holdout)
                {
                    s.remind_limit = 0;
                }
                s
            },
            last_decline: r.last_decline,
            paid_here: r.paid_here > 0,
            retry_stop: r.retry_stop.as_deref().map(Stop::parse).transpose()?,
            next_retry_at_ms: r.next_retry_at,
        })
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
        customer_key: Option<&str>,
        payment_info: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        // An ended case takes a new card too: a win-back.
        let open = sqlx::query(&format!(
            "UPDATE recovery_cases SET method_changed_at = $2, retry_stop = NULL \
             WHERE id = $1 AND status IN ({})",
            allowing(CaseEvent::CardChanged)
        ))
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
            // A new key: a fresh budget, no old declines.
            super::charges::replan(&mut tx, case_id, now_ms).await?;
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
        limit: i64,
        next_stage_at_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        // The limit is in the statement, so two tabs cannot both take the
        // last change.
        let changed = sqlx::query(&format!(
            "UPDATE recovery_cases SET selected_date = $2, next_stage_at = $3, \
                    date_change_count = date_change_count + 1 \
             WHERE id = $1 AND status IN ({}) AND date_change_count < $4",
            allowing(CaseEvent::Rescheduled)
        ))
        .bind(case_id)
        .bind(selected_date)
        .bind(next_stage_at_ms)
        .bind(limit)
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
            // The chosen date is charged at 10:00 that day.
            super::charges::replan(&mut tx, case_id, now_ms).await?;
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
        let (mut tx, _write) = self.begin_write().await?;
        let changed = sqlx::query(&format!(
            // Never earlier than already planned (a chosen date stands).
            "UPDATE recovery_cases SET remind_count = remind_count + 1, \
                    next_stage_at = CASE WHEN next_stage_at IS NULL OR next_stage_at < $3 THEN $3 \
                                         ELSE next_stage_at END \
             WHERE id = $1 AND status IN ({}) AND remind_count < $2",
            allowing(CaseEvent::Rescheduled)
        ))
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

/// A failed order's new case: every way a case opens (a failed order, `POST
/// /recovery`, the demo seed) goes through `open_case`.
pub(super) struct OpenCase<'a> {
    pub partner_id: i64,
    pub order_id: i64,
    pub subscription_id: Option<i64>,
    pub token: &'a TokenHash,
    pub failed_at_ms: i64,
    pub now_ms: i64,
}

/// Opens a case for the order unless one is open (the partial unique index
/// settles a race), in the caller's transaction: the partner's current
/// scenario pinned, stage 1 due at once, the order's own failure code and
/// message as the case's, its first silent retry planned, and the
/// `recovery started` notice. Returns the new case's id.
pub(super) async fn open_case(
    tx: &mut Transaction<'_, Any>,
    c: &OpenCase<'_>,
) -> Result<Option<i64>, StoreError> {
    // An ended case of the same order would go on retrying beside the new
    // one: the new case supersedes it (one charge path per order).
    let superseded: Vec<(i64,)> = sqlx::query_as(&format!(
        "UPDATE recovery_cases SET status = 'CANCELED', closed_at = $2, next_retry_at = NULL, \
                next_retry_source = NULL, retry_stop = $3 \
         WHERE order_id = $1 AND status IN ({}) RETURNING id",
        allowing(CaseEvent::Superseded)
    ))
    .bind(c.order_id)
    .bind(c.now_ms)
    .bind(Stop::Superseded.as_str())
    .fetch_all(&mut **tx)
    .await?;
    for (old,) in superseded {
        let status = events::subscription_status(tx, About::Case(old))
            .await?
            .unwrap_or(crate::domain::event::SubsStatus::Grace);
        events::record(
            tx,
            About::Case(old),
            &[Event::case_closed("SUPERSEDED", status)],
            c.now_ms,
        )
        .await?;
    }
    // A running experiment deals the case into an arm: a scenario arm's
    // version, or the holdout's (the current scenario for the page, and no
    // stage due: nothing goes out unless the customer asks for it).
    let arm = super::experiments::assign(tx, c.partner_id, c.order_id).await?;
    let (in_arm, arm_scenario) = match &arm {
        Some(a) if a.kind == ArmKind::Scenario => (1_i64, a.scenario_id),
        _ => (0, None),
    };
    let first_stage_at = match &arm {
        Some(a) if a.kind == ArmKind::Holdout => None,
        _ => Some(c.now_ms),
    };
    let opened: Option<(i64,)> = sqlx::query_as(concat!(
        "INSERT INTO recovery_cases (partner_id, order_id, subscription_id, token_hash, status, failed_at, \
                                     failure_code, failure_reason, next_stage_at, opened_at, scenario_id, \
                                     experiment_id, experiment_arm) \
         SELECT $1, $2, $3, $4, 'OPEN', $5, error_code, error_message, $7, $6, \
                CASE WHEN $8 = 1 THEN $9 ELSE ",
        current_scenario_id!(),
        " END, $10, $11 FROM orders WHERE id = $2 \
         ON CONFLICT (order_id) WHERE status IN ('OPEN', 'PAYING') DO NOTHING RETURNING id",
    ))
    .bind(c.partner_id)
    .bind(c.order_id)
    .bind(c.subscription_id)
    .bind(&c.token.0)
    .bind(c.failed_at_ms)
    .bind(c.now_ms)
    .bind(first_stage_at)
    .bind(in_arm)
    .bind(arm_scenario)
    .bind(arm.as_ref().map(|a| a.experiment_id))
    .bind(arm.as_ref().map(|a| a.position))
    .fetch_optional(&mut **tx)
    .await?;
    let Some((case_id,)) = opened else {
        return Ok(None);
    };
    if arm.as_ref().is_some_and(|a| a.kind == ArmKind::Holdout) {
        // No message, but the scenario's end all the same (the
        // subscription paused or canceled, its notice sent), when the
        // scenario would have ended it: a reminder or a date the customer
        // asks for only moves that later.
        let (definition,): (Option<String>,) = sqlx::query_as(
            "SELECT s.definition FROM recovery_cases c LEFT JOIN scenarios s ON s.id = c.scenario_id WHERE c.id = $1",
        )
        .bind(case_id)
        .fetch_one(&mut **tx)
        .await?;
        let scenario = stored_scenario(definition.as_deref())?;
        let end_step = scenario.stages.len() as i64 + 1;
        sqlx::query("UPDATE recovery_cases SET next_stage = $2, next_stage_at = $3 WHERE id = $1")
            .bind(case_id)
            .bind(end_step)
            .bind(scenario.due_at(c.failed_at_ms, end_step).max(c.now_ms))
            .execute(&mut **tx)
            .await?;
    }
    events::record(
        tx,
        About::Case(case_id),
        &[events::recovery_started()],
        c.now_ms,
    )
    .await?;
    super::charges::replan(tx, case_id, c.now_ms).await?;
    Ok(Some(case_id))
}
