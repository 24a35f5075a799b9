//! Cases as the console reads them: a filtered, paged list (newest first)
//! and one case with everything that happened to it. Scoped by partner in
//! the query itself, so a partner user's request for another partner's case
//! finds nothing (a 404), never a record to hide afterwards.

use sqlx::FromRow;

use super::{Store, StoreError};
use crate::domain::case::{CaseStatus, ChargeSource, ChargeStatus, StageStatus};
use crate::domain::decline::DeclineClass;
use crate::domain::event::DeliveryStatus;
use crate::domain::retry::Stop;
use crate::domain::scenario::Channel;

/// Which cases a list shows.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    /// `None`: every partner (operators).
    pub partner_id: Option<i64>,
    pub status: Option<CaseStatus>,
    /// The highest stage sent (0: none yet).
    pub stage: Option<i64>,
    /// A charge source (`retry`, `page`, ...) or `partner`.
    pub recovered_by: Option<String>,
    /// Failed in `[from, to)`, Unix ms (the period a case counts in).
    pub failed_from_ms: i64,
    pub failed_to_ms: i64,
    /// The partner's order, customer or subscription id, exactly.
    pub search: Option<String>,
    /// Cases older than this id (the previous page's last).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// One row of the list.
#[derive(Debug, Clone, FromRow)]
pub struct CaseListRow {
    pub id: i64,
    pub partner_name: String,
    pub status: CaseStatus,
    /// When the payment failed: the day a case counts in.
    pub failed_at: i64,
    pub closed_at: Option<i64>,
    pub partner_order_id: String,
    pub amount: i64,
    pub partner_customer_id: String,
    pub customer_name: String,
    pub partner_subscription_id: Option<String>,
    /// The succeeded charge's source, if any.
    pub charged_by: Option<ChargeSource>,
    pub stage: Option<i64>,
}

/// SQL: the case's succeeded charge's source.
const CHARGED_BY: &str = "(SELECT ch.source FROM charges ch WHERE ch.case_id = c.id \
                          AND ch.status = 'SUCCEEDED' ORDER BY ch.id LIMIT 1)";
/// SQL: the highest stage sent.
const STAGE: &str =
    "(SELECT MAX(ss.stage) FROM stage_sends ss WHERE ss.case_id = c.id AND ss.status = 'SENT')";

/// One case with its order, customer and scenario.
#[derive(Debug, Clone, FromRow)]
pub struct CaseDetail {
    pub id: i64,
    pub partner_id: i64,
    pub partner_name: String,
    pub status: CaseStatus,
    pub failed_at: i64,
    pub failure_code: Option<String>,
    pub failure_reason: Option<String>,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
    pub next_stage: i64,
    pub next_stage_at: Option<i64>,
    pub next_retry_at: Option<i64>,
    pub retry_stop: Option<Stop>,
    pub selected_date: Option<String>,
    pub remind_count: i64,
    pub method_changed_at: Option<i64>,
    pub end_action: Option<String>,
    pub scenario_version: Option<i64>,
    pub order_id: i64,
    pub partner_order_id: String,
    pub amount: i64,
    pub order_status: String,
    pub payment_info: Option<String>,
    pub partner_customer_id: String,
    pub customer_name: String,
    pub partner_subscription_id: Option<String>,
    pub charged_by: Option<ChargeSource>,
    /// 1 when the order is paid (`orders::order_is_paid`): final.
    pub order_paid: i64,
    /// 1 when the order has a billing key to charge.
    pub has_billing_key: i64,
}

/// Something that happened to a case, for its timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimelineItem {
    /// A stage's message, or (`resent_by` the console user who asked) the
    /// stage sent again.
    Stage {
        stage: i64,
        channel: Channel,
        status: StageStatus,
        provider_ref: Option<String>,
        error: Option<String>,
        resent_by: Option<String>,
    },
    Charge {
        source: ChargeSource,
        amount: i64,
        status: ChargeStatus,
        decline_code: Option<String>,
        decline_class: Option<DeclineClass>,
    },
    Notice {
        webhook_id: String,
        event_type: String,
        delivery: DeliveryStatus,
        attempts: i64,
    },
}

impl Store {
    pub async fn list_cases(&self, f: &CaseFilter) -> Result<Vec<CaseListRow>, StoreError> {
        let sql = format!(
            "SELECT c.id, p.name AS partner_name, c.status, c.failed_at, c.closed_at, \
                    o.partner_order_id, o.amount, cu.partner_customer_id, cu.name AS customer_name, \
                    s.partner_subscription_id, {CHARGED_BY} AS charged_by, {STAGE} AS stage \
             FROM recovery_cases c \
             JOIN partners p ON p.id = c.partner_id \
             JOIN orders o ON o.id = c.order_id \
             JOIN customers cu ON cu.id = o.customer_id \
             LEFT JOIN subscriptions s ON s.id = c.subscription_id \
             WHERE ($1 < 0 OR c.partner_id = $1) \
               AND ($2 = '' OR c.status = $2) \
               AND c.failed_at >= $3 AND c.failed_at < $4 \
               AND ($5 = '' OR o.partner_order_id = $5 OR cu.partner_customer_id = $5 \
                    OR s.partner_subscription_id = $5) \
               AND ($6 < 0 OR c.id < $6) \
               AND ($7 < 0 OR COALESCE({STAGE}, 0) = $7) \
               AND ($8 = '' \
                    OR ($8 = 'partner' AND c.status = 'RECOVERED' AND {CHARGED_BY} IS NULL) \
                    OR {CHARGED_BY} = $8) \
             ORDER BY c.id DESC LIMIT $9"
        );
        Ok(sqlx::query_as(&sql)
            .bind(f.partner_id.unwrap_or(-1))
            .bind(f.status.map_or("", CaseStatus::as_str))
            .bind(f.failed_from_ms)
            .bind(f.failed_to_ms)
            .bind(f.search.as_deref().unwrap_or(""))
            .bind(f.before_id.unwrap_or(-1))
            .bind(f.stage.unwrap_or(-1))
            .bind(f.recovered_by.as_deref().unwrap_or(""))
            .bind(f.limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// One case, if it is `partner_id`'s (`None`: any partner's).
    pub async fn case_detail(
        &self,
        partner_id: Option<i64>,
        case_id: i64,
    ) -> Result<Option<CaseDetail>, StoreError> {
        let sql = format!(
            "SELECT c.id, c.partner_id, p.name AS partner_name, c.status, c.failed_at, c.failure_code, \
                    c.failure_reason, c.opened_at, c.closed_at, c.next_stage, c.next_stage_at, \
                    c.next_retry_at, c.retry_stop, c.selected_date, c.remind_count, c.method_changed_at, \
                    c.end_action, (SELECT sc.version FROM scenarios sc WHERE sc.id = c.scenario_id) AS scenario_version, \
                    o.id AS order_id, o.partner_order_id, o.amount, o.status AS order_status, o.payment_info, \
                    cu.partner_customer_id, cu.name AS customer_name, s.partner_subscription_id, \
                    {CHARGED_BY} AS charged_by, \
                    CAST(CASE WHEN {paid} THEN 1 ELSE 0 END AS BIGINT) AS order_paid, \
                    CAST(CASE WHEN o.id_key IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_billing_key \
             FROM recovery_cases c \
             JOIN partners p ON p.id = c.partner_id \
             JOIN orders o ON o.id = c.order_id \
             JOIN customers cu ON cu.id = o.customer_id \
             LEFT JOIN subscriptions s ON s.id = c.subscription_id \
             WHERE c.id = $1 AND ($2 < 0 OR c.partner_id = $2)",
            paid = super::orders::order_is_paid("o")
        );
        Ok(sqlx::query_as(&sql)
            .bind(case_id)
            .bind(partner_id.unwrap_or(-1))
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Everything recorded on a case, oldest first: `(at, item)`.
    pub async fn case_timeline(
        &self,
        case_id: i64,
    ) -> Result<Vec<(i64, TimelineItem)>, StoreError> {
        let mut items = Vec::new();
        type StageRow = (
            i64,
            Option<i64>,
            i64,
            String,
            StageStatus,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let stages: Vec<StageRow> = sqlx::query_as(
            "SELECT created_at, sent_at, stage, channel, status, provider_ref, last_error, \
                    NULL AS resent_by FROM stage_sends WHERE case_id = $1 \
             UNION ALL \
             SELECT r.created_at, r.sent_at, r.stage, r.channel, r.status, r.provider_ref, r.last_error, \
                    u.email FROM stage_resends r JOIN console_users u ON u.id = r.requested_by \
             WHERE r.case_id = $1",
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        for (created, sent, stage, channel, status, provider_ref, error, resent_by) in stages {
            items.push((
                sent.unwrap_or(created),
                TimelineItem::Stage {
                    stage,
                    channel: Channel::parse(&channel)?,
                    status,
                    provider_ref,
                    error,
                    resent_by,
                },
            ));
        }
        type ChargeRow = (
            i64,
            ChargeSource,
            i64,
            ChargeStatus,
            Option<String>,
            Option<DeclineClass>,
        );
        let charges: Vec<ChargeRow> = sqlx::query_as(
            "SELECT created_at, source, amount, status, decline_code, decline_class \
             FROM charges WHERE case_id = $1",
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        for (at, source, amount, status, decline_code, decline_class) in charges {
            items.push((
                at,
                TimelineItem::Charge {
                    source,
                    amount,
                    status,
                    decline_code,
                    decline_class,
                },
            ));
        }
        let notices: Vec<(i64, String, String, String, i64)> = sqlx::query_as(
            "SELECT created_at, webhook_id, type, status, attempts FROM events WHERE case_id = $1",
        )
        .bind(case_id)
        .fetch_all(&self.pool)
        .await?;
        for (at, webhook_id, event_type, delivery, attempts) in notices {
            items.push((
                at,
                TimelineItem::Notice {
                    webhook_id,
                    event_type,
                    delivery: DeliveryStatus::parse(&delivery)?,
                    attempts,
                },
            ));
        }
        // Stable: a charge and the notice it caused keep their order.
        items.sort_by_key(|(at, _)| *at);
        Ok(items)
    }
}
