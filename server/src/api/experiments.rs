//! `GET /api/v1/cover/experiments` and `/experiments/{id}`: each arm's
//! figures with their 95 % intervals, against the control and the holdout,
//! and the recovery curves: the same [`ExperimentReport`] the console's
//! experiment page renders. Definitions: `domain::experiment`,
//! `domain::stats`, README's "Experiments".

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

use super::orders::rfc3339;
use super::{ApiError, AuthPartner, parse_id};
use crate::domain::experiment::{self, ArmKind, Comparison, Verdict};
use crate::state::AppState;
use crate::store::{ExperimentRow, Store, StoreError};

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Bounds {
    pub low: f64,
    pub high: f64,
}

/// This arm's recovery rate minus another's, in rate points (0.05 = 5 %p).
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    pub difference: f64,
    /// Newcombe's hybrid score interval, 95 %.
    pub interval: Bounds,
    /// The two-proportion z-test with the pooled rate.
    pub z: f64,
    /// Two-sided.
    pub p_value: f64,
}

impl From<Comparison> for Difference {
    fn from(c: Comparison) -> Self {
        Difference {
            difference: c.difference,
            interval: Bounds {
                low: c.interval.low,
                high: c.interval.high,
            },
            z: c.test.z,
            p_value: c.test.p_value,
        }
    }
}

/// Won the arm recovered that the holdout's rate says would otherwise have
/// been lost: its recovered amount minus the holdout's rate times what its
/// closed cases owed; the interval is the difference's times that amount.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct IncrementalDto {
    pub won: i64,
    pub low: i64,
    pub high: i64,
}

/// One step of an arm's Kaplan-Meier recovery curve.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurveStep {
    /// Days since the failure.
    pub day: u32,
    /// Share of cases recovered by the end of that day.
    pub recovered: f64,
    /// Cases still watched at the day's start.
    pub at_risk: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArmDto {
    pub name: String,
    /// `SCENARIO` or `HOLDOUT` (no messages, no silent retries).
    pub kind: String,
    /// The scenario version the arm runs; null: the built-in default, or
    /// the holdout.
    pub scenario_version: Option<i64>,
    /// Share of new cases, in percent.
    pub share_percent: f64,
    pub cases: u64,
    /// Cases whose window has closed: these count in the rate.
    pub closed: u64,
    pub recovered: u64,
    /// KRW owed by the closed cases.
    pub closed_amount: i64,
    /// KRW recovered of the closed cases.
    pub recovered_amount: i64,
    /// Cases whose window is still open: neither lost nor recovered yet.
    pub in_progress: u64,
    /// Of those, already paid.
    pub in_progress_recovered: u64,
    /// Recovered of closed; null before any case closes.
    pub rate: Option<f64>,
    /// Wilson score interval, 95 %.
    pub rate_interval: Option<Bounds>,
    /// Against the control (null for the control).
    pub vs_control: Option<Difference>,
    /// Against the holdout (scenario arms, when there is one).
    pub vs_holdout: Option<Difference>,
    pub incremental: Option<IncrementalDto>,
    pub curve: Vec<CurveStep>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentReport {
    pub id: i64,
    pub name: String,
    /// `RUNNING` or `STOPPED`.
    pub status: String,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
    /// Closed cases each arm needs before the figures are a verdict (the
    /// fixed horizon chosen at start).
    pub horizon: u64,
    /// Days after its failure a case may recover and count.
    pub window_days: u32,
    /// True once every arm has `horizon` closed cases.
    pub ready: bool,
    /// Closed cases still needed over all arms (0 when ready).
    pub more_closed_cases_needed: u64,
    /// The first scenario arm's name.
    pub control: Option<String>,
    pub holdout: Option<String>,
    /// When the figures were computed.
    pub as_of: Option<String>,
    pub arms: Vec<ArmDto>,
}

/// An experiment's figures at `now_ms` (counted at most a few seconds
/// before: `asOf`).
pub async fn build(
    store: &Store,
    e: &ExperimentRow,
    now_ms: i64,
) -> Result<ExperimentReport, StoreError> {
    let (tallies, as_of_ms) = store.experiment_figures_input(e, now_ms).await?;
    let kinds: Vec<(ArmKind, &experiment::ArmTally)> =
        e.arms.iter().map(|a| a.kind).zip(tallies.iter()).collect();
    let figures = experiment::figures(&kinds);
    let verdict = experiment::verdict(&tallies.iter().collect::<Vec<_>>(), e.horizon);
    let arms = e
        .arms
        .iter()
        .zip(tallies.iter().zip(figures))
        .map(|(arm, (t, f))| ArmDto {
            name: arm.name.clone(),
            kind: arm.kind.as_str().to_owned(),
            scenario_version: arm.scenario_version,
            share_percent: f64::from(arm.share) / 100.0,
            cases: t.cases,
            closed: t.closed,
            recovered: t.recovered,
            closed_amount: t.closed_owed,
            recovered_amount: t.recovered_amount,
            in_progress: t.in_progress,
            in_progress_recovered: t.in_progress_recovered,
            rate: f.rate,
            rate_interval: f.interval.map(|i| Bounds {
                low: i.low,
                high: i.high,
            }),
            vs_control: f.vs_control.map(Into::into),
            vs_holdout: f.vs_holdout.map(Into::into),
            incremental: f.incremental.map(|i| IncrementalDto {
                won: i.won,
                low: i.low,
                high: i.high,
            }),
            curve: f
                .curve
                .iter()
                .map(|p| CurveStep {
                    day: p.day,
                    recovered: p.recovered,
                    at_risk: p.at_risk,
                })
                .collect(),
        })
        .collect();
    Ok(ExperimentReport {
        id: e.id,
        name: e.name.clone(),
        status: e.status.as_str().to_owned(),
        started_at: rfc3339(e.started_at_ms),
        stopped_at: e.stopped_at_ms.and_then(rfc3339),
        horizon: e.horizon,
        window_days: e.window_days,
        ready: verdict == Verdict::Ready,
        more_closed_cases_needed: match verdict {
            Verdict::Ready => 0,
            Verdict::NotYet { more_needed } => more_needed,
        },
        control: e
            .arms
            .iter()
            .find(|a| a.kind == ArmKind::Scenario)
            .map(|a| a.name.clone()),
        holdout: e
            .arms
            .iter()
            .find(|a| a.kind == ArmKind::Holdout)
            .map(|a| a.name.clone()),
        as_of: rfc3339(as_of_ms),
        arms,
    })
}

/// An experiment of the partner's with each arm's figures now; another
/// partner's id is a 404 like a missing one.
#[utoipa::path(get, path = "/api/v1/cover/experiments/{id}", operation_id = "getExperiment", params(("id" = i64, Path)), responses((status = 200, body = ExperimentReport), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn get(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
    Path(id): Path<String>,
) -> Result<Json<ExperimentReport>, ApiError> {
    let e = state
        .store
        .experiment(partner.id, parse_id(&id, "experiment")?)
        .await?
        .ok_or(ApiError::NotFound("experiment"))?;
    let now_ms = state.clock.now().timestamp_millis();
    Ok(Json(build(&state.store, &e, now_ms).await?))
}

/// One experiment in the list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentSummary {
    pub id: i64,
    pub name: String,
    pub status: String,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
    /// The arms' names, in order (the first scenario arm is the control).
    pub arms: Vec<String>,
}

/// The partner's experiments, newest first.
#[utoipa::path(get, path = "/api/v1/cover/experiments", operation_id = "listExperiments", responses((status = 200, body = Vec<ExperimentSummary>), super::error::ApiError), security(("Secret-Token" = [])), tag = "cover")]
pub async fn list(
    State(state): State<AppState>,
    AuthPartner(partner): AuthPartner,
) -> Result<Json<Vec<ExperimentSummary>>, ApiError> {
    let rows = state.store.experiments(partner.id).await?;
    Ok(Json(
        rows.into_iter()
            .map(|e| ExperimentSummary {
                id: e.id,
                name: e.name,
                status: e.status.as_str().to_owned(),
                started_at: rfc3339(e.started_at_ms),
                stopped_at: e.stopped_at_ms.and_then(rfc3339),
                arms: e.arms.into_iter().map(|a| a.name).collect(),
            })
            .collect(),
    ))
}
