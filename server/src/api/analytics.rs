//! `GET /api/v1/cover/analytics`: the recovery figures of a period, the
//! same ones the console's overview shows (it renders this [`Report`]).
//! Definitions: `domain::analytics` and README's "Recovery analytics".

use axum::Json;
use axum::extract::State;

use super::json::ApiQuery;
use serde::{Deserialize, Serialize};

use super::{ApiError, AuthPartner};
use crate::domain::analytics::{
    Cohort, Interval, MAX_STAGE, NoticeState, Period, RECOVERY_HOURS, RecoveredBy, kst_day,
    summarize,
};
use crate::domain::case::ChargeSource;
use crate::domain::scenario::Channel;
use crate::state::AppState;
use crate::store::{Store, StoreError};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// First Korean day of the period, `YYYY-MM-DD` (default: 29 days
    /// before `to`).
    #[param(value_type = Option<String>, format = Date, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    from: Option<String>,
    /// Last Korean day of the period, included (default: today, KST). At
    /// most 366 days after `from`.
    #[param(value_type = Option<String>, format = Date, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    to: Option<String>,
    /// `day` (default) or `week` (Monday to Sunday, KST): how `series` is cut.
    #[param(schema_with = super::schema::analytics_interval)]
    interval: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct CountAmount {
    pub count: u64,
    /// KRW.
    pub amount: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BySource {
    /// Silent retries of the saved card.
    pub retry: CountAmount,
    /// The customer paid on the recovery page.
    pub page: CountAmount,
    /// The customer registered a new card, charged at once.
    pub method_change: CountAmount,
    /// The payment date the customer chose came and the charge went through.
    pub scheduled_date: CountAmount,
    /// The partner reported the order paid (`PATCH /order/success`), or
    /// a console user marked it paid elsewhere.
    pub partner: CountAmount,
    /// A console user pressed "retry now".
    pub console: CountAmount,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StageCount {
    /// The highest stage whose message went out; 0: none yet. The last
    /// entry counts that stage and every later one.
    pub stage: usize,
    pub cases: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryTimeBucket {
    /// Recovered within this many hours of opening (and after the previous
    /// bucket); null: later than the last bucket (60 days).
    pub within_hours: Option<i64>,
    pub cases: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ended {
    /// The scenario ran out and paused the subscription.
    pub paused: u64,
    /// Canceled by the scenario's end action or by the partner.
    pub canceled: u64,
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct SentFailed {
    pub sent: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Messages {
    /// KakaoTalk AlimTalk stages (SMS fallback inside the provider).
    pub alimtalk: SentFailed,
    pub sms: SentFailed,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notices {
    pub delivered: u64,
    /// Not delivered yet; the worker tries again.
    pub retrying: u64,
    /// Retries ran out, or the endpoint answered 410 Gone.
    pub failed: u64,
    /// Created while the partner had no notify URL.
    pub no_endpoint: u64,
}

/// The figures of a set of cases (a period, or one bucket of it).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    /// Failed payments that opened a case.
    pub opened: u64,
    /// Their amount (KRW).
    pub opened_amount: i64,
    pub recovered: u64,
    pub recovered_amount: i64,
    /// recovered / opened; null with no case.
    pub recovery_rate_by_count: Option<f64>,
    /// recoveredAmount / openedAmount; null with no case.
    pub recovery_rate_by_amount: Option<f64>,
    pub recovered_by: BySource,
    pub by_stage: Vec<StageCount>,
    /// Half of the recovered cases came back within this many hours (the
    /// bucket's bound, nearest rank); null when none was recovered, or
    /// later than 60 days.
    pub median_recovery_hours: Option<i64>,
    /// 90% of them within this many hours.
    pub p90_recovery_hours: Option<i64>,
    pub recovery_time: Vec<RecoveryTimeBucket>,
    /// The cases still open and their amount.
    pub revenue_at_risk: CountAmount,
    pub ended_unrecovered: Ended,
    /// The cases' stage messages, resends from the console included.
    pub messages: Messages,
    /// Notices created in the period, by their delivery now.
    pub notices: Notices,
}

impl From<&Cohort> for Figures {
    fn from(c: &Cohort) -> Figures {
        let by = |r| {
            let (count, amount) = c.by(r);
            CountAmount { count, amount }
        };
        let sent_failed = |ch| {
            let (sent, failed) = c.messages_on(ch);
            SentFailed { sent, failed }
        };
        Figures {
            opened: c.opened,
            opened_amount: c.opened_amount,
            recovered: c.recovered,
            recovered_amount: c.recovered_amount,
            recovery_rate_by_count: c.rate_by_count(),
            recovery_rate_by_amount: c.rate_by_amount(),
            recovered_by: BySource {
                retry: by(RecoveredBy::Charge(ChargeSource::Retry)),
                page: by(RecoveredBy::Charge(ChargeSource::Page)),
                method_change: by(RecoveredBy::Charge(ChargeSource::MethodChange)),
                scheduled_date: by(RecoveredBy::Charge(ChargeSource::ScheduledDate)),
                partner: by(RecoveredBy::Partner),
                console: by(RecoveredBy::Charge(ChargeSource::Console)),
            },
            by_stage: (0..=MAX_STAGE)
                .map(|stage| StageCount {
                    stage,
                    cases: c.by_stage[stage],
                })
                .collect(),
            median_recovery_hours: c.recovered_within_hours(0.5).flatten(),
            p90_recovery_hours: c.recovered_within_hours(0.9).flatten(),
            recovery_time: c
                .recovery_time
                .iter()
                .enumerate()
                .map(|(i, n)| RecoveryTimeBucket {
                    within_hours: RECOVERY_HOURS.get(i).copied(),
                    cases: *n,
                })
                .collect(),
            revenue_at_risk: CountAmount {
                count: c.open,
                amount: c.open_amount,
            },
            ended_unrecovered: Ended {
                paused: c.paused,
                canceled: c.canceled,
            },
            messages: Messages {
                alimtalk: sent_failed(Channel::Alimtalk),
                sms: sent_failed(Channel::Sms),
            },
            notices: Notices {
                delivered: c.notices_in(NoticeState::Delivered),
                retrying: c.notices_in(NoticeState::Retrying),
                failed: c.notices_in(NoticeState::Failed),
                no_endpoint: c.notices_in(NoticeState::NoEndpoint),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    /// The bucket's first Korean day (a Monday for weeks; the first one
    /// may begin before the period, whose days alone count).
    pub start: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// A period's figures. A case counts in the period it opened (a cohort),
/// whatever happened to it later; days are Korean (Asia/Seoul).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub from: String,
    pub to: String,
    /// `day` or `week`.
    pub interval: &'static str,
    /// Always `Asia/Seoul`.
    pub time_zone: &'static str,
    pub totals: Figures,
    /// Every bucket of the period in order, empty ones included.
    pub series: Vec<Bucket>,
}

/// The report of one partner (`None`: every partner, for operators).
pub async fn build(
    store: &Store,
    partner_id: Option<i64>,
    period: Period,
    interval: Interval,
    now_ms: i64,
) -> Result<Report, StoreError> {
    let days = store
        .analytics_days(partner_id, period.from, period.to, now_ms)
        .await?;
    let (start, end) = period.bounds_ms();
    let (total, series) = summarize(days, start, end, interval);
    Ok(Report {
        from: period.from.to_string(),
        to: period.to.to_string(),
        interval: match interval {
            Interval::Day => "day",
            Interval::Week => "week",
        },
        time_zone: "Asia/Seoul",
        totals: Figures::from(&total),
        series: series
            .iter()
            .map(|(day, c)| Bucket {
                start: day.to_string(),
                figures: Figures::from(c),
            })
            .collect(),
    })
}

/// Parses the query's period and interval, as the API and the console
/// take them.
pub fn parse_query(
    from: Option<&str>,
    to: Option<&str>,
    interval: Option<&str>,
    now_ms: i64,
) -> Result<(Period, Interval), ApiError> {
    let period = Period::parse(from, to, kst_day(now_ms)).map_err(ApiError::Validation)?;
    let interval = match interval {
        // Empty is not a value the document allows (Schemathesis, ST201).
        None => Interval::Day,
        Some(raw) => Interval::parse(raw)
            .ok_or_else(|| ApiError::invalid("interval", "must be day or week"))?,
    };
    Ok((period, interval))
}

#[utoipa::path(get, path = "/api/v1/cover/analytics", operation_id = "getAnalytics", params(AnalyticsQuery), responses((status = 200, body = Report), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn report(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> Result<Json<Report>, ApiError> {
    let now_ms = state.clock.now().timestamp_millis();
    let (period, interval) = parse_query(
        q.from.as_deref(),
        q.to.as_deref(),
        q.interval.as_deref(),
        now_ms,
    )?;
    Ok(Json(
        build(&state.store, Some(partner.id), period, interval, now_ms).await?,
    ))
}
