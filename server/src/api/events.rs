//! `/api/v1/cover/events`: the notices we sent (or tried to send) the
//! partner's backend, so it can reconcile what it missed, read the delivery
//! log, and ask for redelivery.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::json::ApiQuery;
use super::schema::MAX_SAFE_INTEGER;
use super::{ApiError, AuthPartner};
use crate::state::AppState;
use crate::store::{AttemptRow, EventRow};

const MAX_LIMIT: i64 = 500;

/// A notice's `webhook-id`, or a 404 before any query
/// (`event::is_webhook_id`).
fn webhook_id(raw: &str) -> Result<&str, ApiError> {
    if crate::domain::event::is_webhook_id(raw) {
        Ok(raw)
    } else {
        Err(ApiError::NotFound("event"))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Unix milliseconds: events created at or after it (default: all).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    since: Option<String>,
    /// Paging: events after the one with this `cursor` (the previous page's
    /// `nextCursor`).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    cursor: Option<String>,
    /// 1 to 500, default 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventDto {
    /// The `webhook-id` header of every delivery of this notice.
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    tid: String,
    sequence: i64,
    created_at: i64,
    /// PENDING, DELIVERED, FAILED, DISABLED or NO_ENDPOINT.
    delivery_status: String,
    attempts: i64,
    next_attempt_at: Option<i64>,
    delivered_at: Option<i64>,
    /// The notice's JSON body, exactly as delivered (signatures cover it).
    body: String,
}

impl From<EventRow> for EventDto {
    fn from(e: EventRow) -> EventDto {
        EventDto {
            id: e.webhook_id,
            event_type: e.event_type,
            tid: e.tid,
            sequence: e.sequence,
            created_at: e.created_at,
            delivery_status: e.status,
            attempts: e.attempts,
            next_attempt_at: e.next_attempt_at,
            delivered_at: e.delivered_at,
            body: e.body,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventPage {
    content: Vec<EventDto>,
    /// Pass as `cursor` for the next page; null on the last one.
    next_cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptDto {
    attempted_at: i64,
    /// The HTTP status, or null when no answer came.
    status_code: Option<i64>,
    acknowledged: bool,
    error: Option<String>,
    /// The first 500 characters of the answer.
    response_excerpt: Option<String>,
    duration_ms: i64,
}

impl From<AttemptRow> for AttemptDto {
    fn from(a: AttemptRow) -> AttemptDto {
        AttemptDto {
            attempted_at: a.attempted_at,
            status_code: a.status_code,
            acknowledged: a.ok == 1,
            error: a.error,
            response_excerpt: a.response_excerpt,
            duration_ms: a.duration_ms,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventDetailDto {
    #[serde(flatten)]
    event: EventDto,
    delivery_log: Vec<AttemptDto>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedeliverBody {
    /// Unix milliseconds, at most 7 days ago: the notices created at or
    /// after it go again, oldest first, up to 1,000 per call.
    #[schema(minimum = 0, maximum = 9_007_199_254_740_991_i64)]
    #[serde(deserialize_with = "super::json::whole_required")]
    since: i64,
}

/// How far back one redelivery may reach, and how many it queues.
pub const REDELIVER_WINDOW_MS: i64 = 7 * 86_400_000;
pub const REDELIVER_MAX: i64 = 1_000;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedeliverDto {
    /// How many notices were queued again.
    queued: u64,
    /// More notices of the window wait: call again with `since` =
    /// `nextSince` (the last one queued may go twice; dedupe by webhook-id).
    #[serde(skip_serializing_if = "Option::is_none")]
    next_since: Option<i64>,
}

fn number(
    field: &'static str,
    raw: Option<&str>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ApiError> {
    match raw {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    field,
                    format!(
                        "must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                )
            }),
    }
}

#[utoipa::path(get, path = "/api/v1/cover/events", operation_id = "listEvents", params(EventsQuery), responses((status = 200, body = EventPage), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn list(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<EventPage>, ApiError> {
    let since = number("since", q.since.as_deref(), 0, 0..=MAX_SAFE_INTEGER)?;
    let after = number("cursor", q.cursor.as_deref(), 0, 0..=MAX_SAFE_INTEGER)?;
    let limit = number("limit", q.limit.as_deref(), 100, 1..=MAX_LIMIT)?;
    let rows = state
        .store
        .list_events(partner.id, since, after, limit)
        .await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(Json(EventPage {
        content: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

#[utoipa::path(get, path = "/api/v1/cover/events/{id}", operation_id = "getEvent", params(("id" = String, Path, description = "the notice's webhook-id")), responses((status = 200, body = EventDetailDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn get(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    Path(id): Path<String>,
) -> Result<Json<EventDetailDto>, ApiError> {
    let id = webhook_id(&id)?;
    let (event, attempts) = state
        .store
        .event_with_attempts(partner.id, id)
        .await?
        .ok_or(ApiError::NotFound("event"))?;
    Ok(Json(EventDetailDto {
        event: event.into(),
        delivery_log: attempts.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/cover/events/{id}/redeliver", operation_id = "redeliverEvent", params(("id" = String, Path, description = "the notice's webhook-id")), responses((status = 202, body = RedeliverDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn redeliver_one(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<RedeliverDto>), ApiError> {
    let id = webhook_id(&id)?;
    let now = state.clock.now().timestamp_millis();
    let (queued, _) = state
        .store
        .redeliver_events(partner.id, Some(id), 0, 1, now)
        .await?;
    if queued == 0 {
        return Err(ApiError::NotFound("event"));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(RedeliverDto {
            queued,
            next_since: None,
        }),
    ))
}

#[utoipa::path(post, path = "/api/v1/cover/events/redeliver", operation_id = "redeliverEvents", request_body = RedeliverBody, responses((status = 202, body = RedeliverDto), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn redeliver_since(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    super::json::ApiJson(body): super::json::ApiJson<RedeliverBody>,
) -> Result<(StatusCode, Json<RedeliverDto>), ApiError> {
    // Each call may queue 1,000 notices.
    state
        .limits
        .redeliver(partner.id)
        .map_err(ApiError::RateLimited)?;
    let now = state.clock.now().timestamp_millis();
    if !(0..=MAX_SAFE_INTEGER).contains(&body.since) {
        return Err(ApiError::invalid("since", "must be Unix milliseconds"));
    }
    if body.since < now - REDELIVER_WINDOW_MS {
        return Err(ApiError::rule(
            "since",
            "must be within the last 7 days (older notices: redeliver them one by one)",
        ));
    }
    let (queued, last) = state
        .store
        .redeliver_events(partner.id, None, body.since, REDELIVER_MAX, now)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RedeliverDto {
            queued,
            next_since: (queued as i64 >= REDELIVER_MAX).then_some(last).flatten(),
        }),
    ))
}
