//! Notices to partners' backends: written inside the transaction of the
//! change they report (so none is lost, and none is sent for a change that
//! rolled back), numbered per subscription, then delivered by `notify/`.

use std::collections::HashMap;

use sqlx::{Any, FromRow, Transaction};

use super::{Backend, Leased, ROWS_PER_STATEMENT, Store, StoreError, WorkQueue, placeholders};
use crate::domain::event::{self, Event, Subject};
use crate::domain::settings::{Setting, SettingChange};

/// What an event is about: its subject's ids are loaded from it.
#[derive(Debug, Clone, Copy)]
pub(super) enum About {
    Case(i64),
    Subscription(i64),
}

#[derive(FromRow)]
struct SubjectRow {
    partner_id: i64,
    case_id: Option<i64>,
    order_id: Option<i64>,
    partner_order_id: Option<String>,
    subscription_id: Option<i64>,
    partner_subscription_id: Option<String>,
    partner_customer_id: Option<String>,
    experiment_id: Option<i64>,
    experiment_arm: Option<String>,
}

impl SubjectRow {
    fn split(self) -> (i64, Subject) {
        (
            self.partner_id,
            Subject {
                case_id: self.case_id,
                order_id: self.order_id,
                partner_order_id: self.partner_order_id,
                subscription_id: self.subscription_id,
                partner_subscription_id: self.partner_subscription_id,
                partner_customer_id: self.partner_customer_id,
                experiment: self.experiment_id.zip(self.experiment_arm),
            },
        )
    }
}

const CASE_SUBJECT: &str = "SELECT c.partner_id, c.id AS case_id, o.id AS order_id, o.partner_order_id, \
        s.id AS subscription_id, s.partner_subscription_id, cu.partner_customer_id, \
        c.experiment_id, xa.name AS experiment_arm \
     FROM recovery_cases c JOIN orders o ON o.id = c.order_id \
     JOIN customers cu ON cu.id = o.customer_id \
     LEFT JOIN subscriptions s ON s.id = c.subscription_id \
     LEFT JOIN experiment_arms xa ON xa.experiment_id = c.experiment_id AND xa.position = c.experiment_arm";

async fn subject(
    tx: &mut Transaction<'_, Any>,
    about: About,
) -> Result<Option<(i64, Subject)>, StoreError> {
    let row: Option<SubjectRow> =
        match about {
            About::Case(id) => {
                sqlx::query_as(&format!("{CASE_SUBJECT} WHERE c.id = $1"))
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
            }
            About::Subscription(id) => sqlx::query_as(
                "SELECT s.partner_id, NULL AS case_id, NULL AS order_id, NULL AS partner_order_id, \
                        s.id AS subscription_id, s.partner_subscription_id, cu.partner_customer_id, \
                        NULL AS experiment_id, NULL AS experiment_arm \
                 FROM subscriptions s JOIN customers cu ON cu.id = s.customer_id WHERE s.id = $1",
            )
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?,
        };
    Ok(row.map(SubjectRow::split))
}

/// The subjects of several cases at once (batched charges), by case id.
pub(super) async fn case_subjects(
    tx: &mut Transaction<'_, Any>,
    case_ids: &[i64],
) -> Result<HashMap<i64, (i64, Subject)>, StoreError> {
    let mut out = HashMap::with_capacity(case_ids.len());
    for chunk in case_ids.chunks(super::IDS_PER_STATEMENT) {
        let rows: Vec<SubjectRow> = sqlx::query_as(&format!(
            "{CASE_SUBJECT} WHERE c.id IN ({})",
            super::id_list(chunk)
        ))
        .persistent(false)
        .fetch_all(&mut **tx)
        .await?;
        for row in rows {
            if let Some(case_id) = row.case_id {
                out.insert(case_id, row.split());
            }
        }
    }
    Ok(out)
}

/// The notice a newly opened case sends: the payment failed, recovery runs.
pub(super) fn recovery_started() -> Event {
    Event::status_changed(
        crate::domain::event::SubsStatus::Grace,
        "the payment failed; recovery started",
    )
}

/// The subscription's stored status, as a notice code.
pub(super) async fn subscription_status(
    tx: &mut Transaction<'_, Any>,
    about: About,
) -> Result<Option<crate::domain::event::SubsStatus>, StoreError> {
    let row: Option<(Option<String>,)> = match about {
        About::Case(id) => {
            sqlx::query_as(
                "SELECT s.status FROM recovery_cases c LEFT JOIN subscriptions s ON s.id = c.subscription_id \
                 WHERE c.id = $1",
            )
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
        }
        About::Subscription(id) => {
            sqlx::query_as("SELECT status FROM subscriptions WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?
        }
    };
    Ok(row
        .and_then(|(s,)| s)
        .and_then(|s| crate::domain::event::SubsStatus::from_stored(&s)))
}

/// Records events about one subject, in the caller's transaction.
pub(super) async fn record(
    tx: &mut Transaction<'_, Any>,
    about: About,
    events: &[Event],
    now_ms: i64,
) -> Result<(), StoreError> {
    let Some((partner_id, subject)) = subject(tx, about).await? else {
        return Ok(());
    };
    let items: Vec<(i64, &Subject, &Event)> =
        events.iter().map(|e| (partner_id, &subject, e)).collect();
    record_many(tx, &items, now_ms).await
}

/// `(partner, webhook id, event, subscription, sequence, body)`.
type NumberedEvent<'a> = (
    i64,
    String,
    &'a Event,
    Option<i64>,
    i64,
    String,
    Option<i64>,
);

/// Records events in the caller's transaction: numbers them per
/// subscription and inserts them, a few dozen rows per statement, due for
/// delivery at once.
pub(super) async fn record_many(
    tx: &mut Transaction<'_, Any>,
    items: &[(i64, &Subject, &Event)],
    now_ms: i64,
) -> Result<(), StoreError> {
    if items.is_empty() {
        return Ok(());
    }
    // Events per subscription (a map: a batch holds a thousand).
    let mut counts: std::collections::BTreeMap<i64, i64> = Default::default();
    for (_, subject, _) in items {
        if let Some(id) = subject.subscription_id {
            *counts.entry(id).or_default() += 1;
        }
    }
    let per_subscription: Vec<(i64, i64)> = counts.iter().map(|(s, n)| (*s, *n)).collect();
    let live = case_livemode(tx, items).await?;
    // The last number each subscription reached; its events take the
    // numbers up to it, in order.
    let mut next: HashMap<i64, i64> = HashMap::new();
    for chunk in per_subscription.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "UPDATE subscriptions SET event_seq = subscriptions.event_seq + v.column2 \
             FROM (VALUES {}) AS v WHERE subscriptions.id = v.column1 \
             RETURNING subscriptions.id, subscriptions.event_seq",
            placeholders(Backend::of(tx), chunk.len(), 2, "")
        );
        let mut q = sqlx::query_as::<_, (i64, i64)>(&sql);
        for (id, n) in chunk {
            q = q.bind(*id).bind(*n);
        }
        for (id, last) in q.fetch_all(&mut **tx).await? {
            let count = counts.get(&id).copied().unwrap_or(0);
            next.insert(id, last - count + 1);
        }
    }
    let rows: Vec<NumberedEvent> = items
        .iter()
        .map(|(partner_id, subject, e)| {
            let webhook_id = format!("msg_{}", crate::domain::token::time_ordered_id(now_ms));
            let sequence = match subject.subscription_id.and_then(|s| next.get_mut(&s)) {
                Some(n) => {
                    *n += 1;
                    *n - 1
                }
                None => 0,
            };
            // A case's notices say whether its account moves real money
            // (the one its latest charge went through, or that would charge
            // it); others, the server-wide gateway's.
            let livemode = subject
                .case_id
                .and_then(|c| live.get(&c).copied())
                .unwrap_or_else(livemode);
            let body = event::body(e, subject, &webhook_id, sequence, now_ms, livemode).to_string();
            (
                *partner_id,
                webhook_id,
                *e,
                subject.subscription_id,
                sequence,
                body,
                subject.case_id,
            )
        })
        .collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO events (partner_id, webhook_id, type, tid, subscription_id, sequence, body, \
                                 created_at, next_attempt_at, case_id, status) VALUES {}",
            placeholders(Backend::of(tx), chunk.len(), 10, "'PENDING'")
        );
        let mut q = sqlx::query(&sql);
        for (partner_id, webhook_id, e, subscription_id, sequence, body, case_id) in chunk {
            q = q
                .bind(*partner_id)
                .bind(webhook_id.as_str())
                .bind(e.event_type.as_str())
                .bind(e.tid.clone().unwrap_or_else(|| webhook_id.clone()))
                .bind(*subscription_id)
                .bind(*sequence)
                .bind(body.as_str())
                .bind(now_ms)
                .bind(now_ms)
                .bind(*case_id);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// One stored notice.
#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: i64,
    pub partner_id: i64,
    pub webhook_id: String,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub tid: String,
    pub sequence: i64,
    pub body: String,
    pub created_at: i64,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
}

/// The livemode of each case's own gateway account among `items`: the
/// account its latest charge went through, else the partner's current one
/// for the order's PG. Cases charged through the server-wide gateway are
/// left out (`livemode()` answers for them).
async fn case_livemode(
    tx: &mut Transaction<'_, Any>,
    items: &[(i64, &Subject, &Event)],
) -> Result<HashMap<i64, bool>, StoreError> {
    let mut cases: Vec<i64> = items.iter().filter_map(|(_, s, _)| s.case_id).collect();
    cases.sort_unstable();
    cases.dedup();
    let mut out = HashMap::new();
    for chunk in cases.chunks(super::IDS_PER_STATEMENT) {
        let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(&format!(
            "SELECT c.id, COALESCE( \
                 (SELECT ga.livemode FROM charges ch JOIN gateway_accounts ga ON ga.id = ch.gateway_account_id \
                  WHERE ch.case_id = c.id ORDER BY ch.id DESC LIMIT 1), \
                 (SELECT ga.livemode FROM orders o JOIN gateway_accounts ga ON ga.partner_id = c.partner_id \
                  AND ga.payment_gateway = o.payment_gateway AND ga.retired_at IS NULL WHERE o.id = c.order_id)) \
             FROM recovery_cases c WHERE c.id IN ({})",
            super::id_list(chunk)
        ))
        .persistent(false)
        .fetch_all(&mut **tx)
        .await?;
        out.extend(
            rows.into_iter()
                .filter_map(|(id, live)| live.map(|l| (id, l != 0))),
        );
    }
    Ok(out)
}

/// Whether the server-wide gateway moves real money
/// (`Store::with_livemode`): the notices of partners without their own
/// account say so. The notice writes run deep inside transactions that
/// carry no settings, so it is the process's.
static LIVEMODE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(super) fn livemode() -> bool {
    LIVEMODE.load(std::sync::atomic::Ordering::Relaxed)
}

impl Store {
    /// Notices written from now on say whether real money moves.
    pub fn with_livemode(self, livemode: bool) -> Store {
        LIVEMODE.store(livemode, std::sync::atomic::Ordering::Relaxed);
        self
    }
}

const EVENT_COLUMNS: &str = "id, partner_id, webhook_id, type, tid, sequence, body, created_at, \
                             status, attempts, next_attempt_at, delivered_at";

/// Notices waiting for delivery, due at their next attempt.
const EVENTS: WorkQueue = WorkQueue {
    table: "events",
    waiting: "status = 'PENDING'",
    due_column: "next_attempt_at",
    fair_by: Some("partner_id"),
};

impl Store {
    /// When the longest-waiting due notice fell due.
    pub async fn oldest_due_notice_at(&self, now_ms: i64) -> Result<Option<i64>, StoreError> {
        self.oldest_due_at(&EVENTS, now_ms).await
    }
}

impl Leased for DueEvent {
    fn id(&self) -> i64 {
        self.id
    }
}

/// A notice claimed for delivery, with where and how to sign it.
#[derive(Debug, Clone, FromRow)]
pub struct DueEvent {
    pub id: i64,
    pub partner_id: i64,
    pub webhook_id: String,
    pub body: String,
    pub attempts: i64,
    pub created_at: i64,
    pub notify_url: Option<String>,
    pub notify_disabled_at: Option<i64>,
    pub webhook_secret: Option<String>,
    pub webhook_secret_previous: Option<String>,
    pub webhook_previous_until: Option<i64>,
}

/// One delivery attempt, as the log shows it.
#[derive(Debug, Clone, FromRow)]
pub struct AttemptRow {
    pub attempted_at: i64,
    pub status_code: Option<i64>,
    pub ok: i64,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
    pub duration_ms: i64,
}

/// What became of an attempt.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub event_id: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
    pub duration_ms: i64,
    pub next: NextStep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Delivered,
    RetryAt(i64),
    /// Retries exhausted.
    GiveUp,
    /// The endpoint answered 410 Gone: stop sending to it.
    DisableEndpoint,
    /// The partner has no URL (or it is disabled): kept for the event list
    /// and redelivery.
    NoEndpoint,
}

impl Store {
    /// Claims up to `limit` due notices for `lease_ms` (`SKIP LOCKED` on
    /// Postgres), with their partner's URL and signing secrets.
    pub async fn claim_due_events(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<DueEvent>, StoreError> {
        self.claim_due(
            &EVENTS,
            "SELECT e.id, e.partner_id, e.webhook_id, e.body, e.attempts, e.created_at, \
                    COALESCE(e.endpoint, p.notify_url) AS notify_url, \
                    CASE WHEN e.endpoint IS NULL THEN p.notify_disabled_at END AS notify_disabled_at, \
                    p.webhook_secret, p.webhook_secret_previous, p.webhook_previous_until \
             FROM {due} JOIN events e ON e.id = due.id JOIN partners p ON p.id = e.partner_id \
             ORDER BY e.id",
            now_ms,
            lease_ms,
            limit,
        )
        .await
    }

    /// Records attempts and what follows, in one transaction.
    pub async fn record_attempts(
        &self,
        outcomes: &[AttemptOutcome],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        for o in outcomes {
            if o.next != NextStep::NoEndpoint {
                sqlx::query(
                    "INSERT INTO event_attempts (event_id, attempted_at, status_code, ok, error, response_excerpt, duration_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(o.event_id)
                .bind(now_ms)
                .bind(o.status_code)
                .bind(i64::from(o.next == NextStep::Delivered))
                .bind(o.error.as_deref())
                .bind(o.response_excerpt.as_deref())
                .bind(o.duration_ms)
                .execute(&mut *tx)
                .await?;
            }
            let (status, next_at, delivered_at, counted) = match o.next {
                NextStep::Delivered => ("DELIVERED", None, Some(now_ms), 1),
                NextStep::RetryAt(at) => ("PENDING", Some(at), None, 1),
                NextStep::GiveUp => ("FAILED", None, None, 1),
                NextStep::DisableEndpoint => ("DISABLED", None, None, 1),
                NextStep::NoEndpoint => ("NO_ENDPOINT", None, None, 0),
            };
            sqlx::query(
                "UPDATE events SET status = $2, next_attempt_at = $3, delivered_at = $4, \
                        attempts = attempts + $5, lease_until = NULL WHERE id = $1",
            )
            .bind(o.event_id)
            .bind(status)
            .bind(next_at)
            .bind(delivered_at)
            .bind(counted)
            .execute(&mut *tx)
            .await?;
            if o.next == NextStep::DisableEndpoint {
                sqlx::query(
                    "UPDATE partners SET notify_disabled_at = $2 WHERE id = \
                     (SELECT partner_id FROM events WHERE id = $1 AND endpoint IS NULL) \
                       AND notify_disabled_at IS NULL",
                )
                .bind(o.event_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The partner's notices, oldest first, created at or after `since_ms`
    /// and after the event `after_id` (paging).
    pub async fn list_events(
        &self,
        partner_id: i64,
        since_ms: i64,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE partner_id = $1 AND created_at >= $2 AND id > $3 \
             ORDER BY id LIMIT $4"
        ))
        .bind(partner_id)
        .bind(since_ms)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The partner's notices, newest first, older than the event
    /// `before_id` (paging; `None`: from the newest).
    pub async fn recent_events(
        &self,
        partner_id: i64,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<EventRow>, StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE partner_id = $1 AND ($2 < 0 OR id < $2) \
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(partner_id)
        .bind(before_id.unwrap_or(-1))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// One of the partner's notices by its webhook id, with its attempts.
    pub async fn event_with_attempts(
        &self,
        partner_id: i64,
        webhook_id: &str,
    ) -> Result<Option<(EventRow, Vec<AttemptRow>)>, StoreError> {
        let row: Option<EventRow> = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE partner_id = $1 AND webhook_id = $2"
        ))
        .bind(partner_id)
        .bind(webhook_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let attempts = sqlx::query_as(
            "SELECT attempted_at, status_code, ok, error, response_excerpt, duration_ms \
             FROM event_attempts WHERE event_id = $1 ORDER BY id",
        )
        .bind(row.id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some((row, attempts)))
    }

    /// Sends notices again (same webhook id, same body): one by webhook id,
    /// or every one created at or after `since_ms`. Returns how many.
    /// Queues the partner's notices created at or after `since_ms` (or the
    /// one `webhook_id`) again, oldest first, at most `limit`; returns how
    /// many, and when the last one queued was created.
    pub async fn redeliver_events(
        &self,
        partner_id: i64,
        webhook_id: Option<&str>,
        since_ms: i64,
        limit: i64,
        now_ms: i64,
    ) -> Result<(u64, Option<i64>), StoreError> {
        // An empty id would read as "every notice" below.
        if webhook_id == Some("") {
            return Ok((0, None));
        }
        let (mut tx, _write) = self.begin_write().await?;
        let created: Vec<(i64,)> = sqlx::query_as(
            "UPDATE events SET status = 'PENDING', next_attempt_at = $3, lease_until = NULL \
             WHERE id IN (SELECT id FROM events \
                          WHERE partner_id = $1 AND created_at >= $2 AND ($4 = '' OR webhook_id = $4) \
                          ORDER BY created_at, id LIMIT $5) \
             RETURNING created_at",
        )
        .bind(partner_id)
        .bind(since_ms)
        .bind(now_ms)
        .bind(webhook_id.unwrap_or(""))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((created.len() as u64, created.iter().map(|(at,)| *at).max()))
    }

    /// The partner's signing secret, created on first use.
    pub async fn webhook_secret(&self, partner_id: i64, fresh: &str) -> Result<String, StoreError> {
        sqlx::query(
            "UPDATE partners SET webhook_secret = $2 WHERE id = $1 AND webhook_secret IS NULL",
        )
        .bind(partner_id)
        .bind(fresh)
        .execute(&self.pool)
        .await?;
        let (secret,): (String,) =
            sqlx::query_as("SELECT webhook_secret FROM partners WHERE id = $1")
                .bind(partner_id)
                .fetch_one(&self.pool)
                .await?;
        Ok(secret)
    }

    /// A new signing secret; the old one keeps signing (a second
    /// signature) until `previous_until_ms`.
    pub async fn rotate_webhook_secret(
        &self,
        partner_id: i64,
        fresh: &str,
        previous_until_ms: i64,
        by: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (mut tx, _write) = self.begin_write().await?;
        sqlx::query(
            "UPDATE partners SET webhook_secret_previous = webhook_secret, webhook_previous_until = $3, \
                    webhook_secret = $2 WHERE id = $1",
        )
        .bind(partner_id)
        .bind(fresh)
        .bind(previous_until_ms)
        .execute(&mut *tx)
        .await?;
        super::settings::record(
            &mut tx,
            partner_id,
            &[SettingChange::rotated(Setting::WebhookSecret)],
            by,
            now_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Delivery counts by status (tests, operators).
    pub async fn event_statuses(&self, partner_id: i64) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT status, COUNT(*) FROM events WHERE partner_id = $1 GROUP BY status ORDER BY status",
        )
        .bind(partner_id)
        .fetch_all(&self.pool)
        .await?)
    }
}
