//! Logs and metrics.
//!
//! Logs go through `tracing`: `RUST_LOG` sets the filter (default
//! [`DEFAULT_FILTER`]), `REBOUND_LOG_FORMAT=json` writes one JSON object a
//! line for a log collector. Requests are logged by route template, never by
//! raw path or query (`api::trace`): recovery tokens travel in both.
//!
//! Metrics go through the `metrics` facade into one Prometheus recorder
//! (`metrics-exporter-prometheus`), served at `/metrics`. README lists every
//! metric; the names are here and at the places that count them.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use subtle::ConstantTimeEq;
use tracing_subscriber::EnvFilter;

use crate::state::AppState;

pub const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_http=info";

pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let json = std::env::var("REBOUND_LOG_FORMAT").is_ok_and(|v| v == "json");
    // `try_init`: tests and embedders may have installed a subscriber already.
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// The process's Prometheus recorder, installed on first use (the `metrics`
/// macros record into the one global recorder).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            // Seconds, from a fast page render to a slow PG call.
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0,
                ],
            )
            .expect("bucket list is not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed")
    })
}

/// With a token configured, its bearer only (compared in constant time),
/// loopback peers too: a reverse proxy on the same host makes every client
/// loopback. Without one, loopback peers (a sidecar, `curl` on the host).
fn may_read_metrics(token: Option<&str>, bearer: Option<&str>, peer: std::net::IpAddr) -> bool {
    match (token, bearer) {
        (Some(token), Some(given)) => bool::from(token.as_bytes().ct_eq(given.as_bytes())),
        (Some(_), None) => false,
        (None, _) => peer.is_loopback(),
    }
}

/// How long the gauges read from the database are reused: scrapes every few
/// seconds (or a flood of them) cost at most one pair of queries per period.
pub const DB_GAUGE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// A value computed at most once per `ttl`.
#[derive(Debug, Default)]
pub struct Cached<T> {
    slot: std::sync::Mutex<Option<(std::time::Instant, T)>>,
}

impl<T: Clone> Cached<T> {
    /// The value computed within `ttl` of `now`, if any.
    pub fn fresh(&self, now: std::time::Instant, ttl: std::time::Duration) -> Option<T> {
        let slot = self.slot.lock().expect("cache lock");
        slot.as_ref()
            .filter(|(at, _)| now.saturating_duration_since(*at) < ttl)
            .map(|(_, v)| v.clone())
    }

    pub fn store(&self, now: std::time::Instant, value: T) {
        *self.slot.lock().expect("cache lock") = Some((now, value));
    }
}

/// The queue ages last read from the database (stage, notice), in seconds.
static DB_GAUGES: OnceLock<Cached<(f64, f64)>> = OnceLock::new();

/// `GET /metrics`: Prometheus text. Volumes and queue ages are operational
/// data, not public: answered to loopback peers, or to anyone sending
/// `Authorization: Bearer <REBOUND_METRICS_TOKEN>` when that is set.
pub async fn metrics(
    State(state): State<AppState>,
    crate::serve::PeerIp(client): crate::serve::PeerIp,
    headers: HeaderMap,
) -> impl IntoResponse {
    // The client behind the operator's proxies, not the proxy (which, on
    // the same host, is loopback).
    let peer = client.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !may_read_metrics(state.config.metrics_token.as_deref(), bearer, peer) {
        return (StatusCode::NOT_FOUND, String::new()).into_response();
    }
    let cache = DB_GAUGES.get_or_init(Cached::default);
    let instant = std::time::Instant::now();
    let ages = match cache.fresh(instant, DB_GAUGE_TTL) {
        Some(ages) => Some(ages),
        None => {
            let now = state.clock.now().timestamp_millis();
            let age = |due: Option<i64>| due.map_or(0.0, |at| (now - at).max(0) as f64 / 1000.0);
            match (
                state.store.oldest_due_stage_at(now).await,
                state.store.oldest_due_notice_at(now).await,
            ) {
                (Ok(stage), Ok(notice)) => {
                    let ages = (age(stage), age(notice));
                    cache.store(instant, ages);
                    Some(ages)
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "metrics: queue ages");
                    None
                }
            }
        }
    };
    if let Some((stage, notice)) = ages {
        metrics::gauge!("rebound_oldest_due_stage_age_seconds").set(stage);
        metrics::gauge!("rebound_oldest_due_notice_age_seconds").set(notice);
    }
    let (open, idle) = state.store.pool_usage();
    metrics::gauge!("rebound_db_pool_connections", "state" => "open").set(f64::from(open));
    metrics::gauge!("rebound_db_pool_connections", "state" => "idle").set(idle as f64);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        prometheus().render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::may_read_metrics;

    #[test]
    fn metrics_answer_loopback_or_the_token_bearer_only() {
        let (local, remote) = ("127.0.0.1".parse().unwrap(), "203.0.113.9".parse().unwrap());
        assert!(may_read_metrics(None, None, local));
        assert!(!may_read_metrics(None, None, remote));
        assert!(!may_read_metrics(None, Some("guess"), remote));
        assert!(may_read_metrics(Some("s3cret"), Some("s3cret"), remote));
        assert!(!may_read_metrics(Some("s3cret"), Some("s3cre"), remote));
        assert!(!may_read_metrics(Some("s3cret"), None, remote));
        assert!(
            !may_read_metrics(Some("s3cret"), None, local),
            "behind a proxy on the same host every client is loopback"
        );
        assert!(!may_read_metrics(Some("s3cret"), Some("guess"), local));
        assert!(may_read_metrics(Some("s3cret"), Some("s3cret"), local));
    }

    #[test]
    fn a_cached_value_is_reused_within_its_period_only() {
        use super::Cached;
        use std::time::{Duration, Instant};
        let cache = Cached::default();
        let t0 = Instant::now();
        let ttl = Duration::from_secs(5);
        assert_eq!(cache.fresh(t0, ttl), None, "nothing yet");
        cache.store(t0, 7);
        assert_eq!(cache.fresh(t0 + Duration::from_secs(4), ttl), Some(7));
        assert_eq!(cache.fresh(t0 + ttl, ttl), None, "stale: read again");
    }
}
