//! Experiments (`domain::experiment`): starting and stopping one, the arm a
//! new case lands in (in `open_case`'s transaction), and each arm's tally,
//! summed in SQL by the domain's rules so 100,000 cases cost one pass.

use sqlx::{Any, FromRow, Transaction};

use super::{Store, StoreError};
use crate::domain::case::CaseStatus;
use crate::domain::experiment::{
    self, ArmKind, ArmSpec, ArmTally, ExperimentSpec, ExperimentStatus, ScenarioPick,
};
use crate::domain::stats::DayCount;

const DAY_MS: i64 = 86_400_000;
/// How long an experiment's tallies are reused: 100,000 cases take two
/// passes over the table, and a page or API call a second should not each
/// pay for them. The report's `asOf` says when they were counted.
const CACHE_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// Tallies per experiment, with the clock's minute they were counted in
/// and when (wall time): a test clock that moves, or a new minute, counts
/// afresh.
#[derive(Default)]
pub(super) struct TallyCache(std::sync::Mutex<std::collections::HashMap<i64, CachedTallies>>);

struct CachedTallies {
    minute: i64,
    counted_at: std::time::Instant,
    as_of_ms: i64,
    tallies: Vec<ArmTally>,
}

/// An experiment as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentRow {
    pub id: i64,
    pub partner_id: i64,
    pub name: String,
    pub status: ExperimentStatus,
    pub horizon: u64,
    pub window_days: u32,
    pub started_at_ms: i64,
    pub started_by: String,
    pub stopped_at_ms: Option<i64>,
    pub arms: Vec<ArmRow>,
}

/// One arm as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmRow {
    pub position: i64,
    pub name: String,
    pub kind: ArmKind,
    /// The scenario version it runs (`None`: the built-in default, or the
    /// holdout).
    pub scenario_version: Option<i64>,
    pub scenario_id: Option<i64>,
    /// Basis points.
    pub share: u32,
}

/// Why an experiment did not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error("the partner already runs an experiment: stop it first")]
    AlreadyRunning,
    #[error("the partner has no scenario version {0}")]
    UnknownVersion(i64),
    #[error("no such running experiment")]
    NotRunning,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ExperimentError {
    fn from(e: sqlx::Error) -> Self {
        ExperimentError::Store(e.into())
    }
}

#[derive(FromRow)]
struct Row {
    id: i64,
    partner_id: i64,
    name: String,
    status: String,
    horizon: i64,
    window_days: i64,
    started_at: i64,
    started_by: String,
    stopped_at: Option<i64>,
}

#[derive(FromRow)]
struct ArmDbRow {
    experiment_id: i64,
    position: i64,
    name: String,
    kind: String,
    scenario_id: Option<i64>,
    version: Option<i64>,
    share: i64,
}

/// One arm's sums, as `experiment_tallies` counts them.
#[derive(FromRow)]
struct ArmSums {
    arm: i64,
    cases: i64,
    closed: i64,
    recovered: i64,
    closed_owed: i64,
    recovered_amount: i64,
    in_progress: i64,
    in_progress_recovered: i64,
}

/// The arm a new case of `order_id` opens in, if the partner runs an
/// experiment: `(experiment, arm position, kind, the arm's scenario)`.
pub(super) struct Assignment {
    pub experiment_id: i64,
    pub position: i64,
    pub kind: ArmKind,
    pub scenario_id: Option<i64>,
}

/// Deals a new case of the partner's order into the running experiment's
/// arms, in the caller's transaction (the same answer on every instance).
pub(super) async fn assign(
    tx: &mut Transaction<'_, Any>,
    partner_id: i64,
    order_id: i64,
) -> Result<Option<Assignment>, StoreError> {
    let arms: Vec<(i64, i64, String, Option<i64>, i64)> = sqlx::query_as(
        "SELECT e.id, a.position, a.kind, a.scenario_id, a.share \
         FROM experiments e JOIN experiment_arms a ON a.experiment_id = e.id \
         WHERE e.partner_id = $1 AND e.status = $2 ORDER BY a.position",
    )
    .bind(partner_id)
    .bind(ExperimentStatus::Running.as_str())
    .fetch_all(&mut **tx)
    .await?;
    let Some((experiment_id, ..)) = arms.first() else {
        return Ok(None);
    };
    let shares: Vec<u32> = arms.iter().map(|a| a.4 as u32).collect();
    let i = experiment::arm_of(
        &shares,
        experiment::bucket(*experiment_id, partner_id, order_id),
    );
    let (experiment_id, position, kind, scenario_id, _) = arms[i].clone();
    Ok(Some(Assignment {
        experiment_id,
        position,
        kind: ArmKind::parse(&kind)?,
        scenario_id,
    }))
}

impl Store {
    /// Starts an experiment for the partner; the scenario versions named
    /// are resolved now ("current" is the version current at start).
    pub async fn start_experiment(
        &self,
        partner_id: i64,
        spec: &ExperimentSpec,
        by: &str,
        now_ms: i64,
    ) -> Result<i64, ExperimentError> {
        let (mut tx, _write) = self.begin_write().await?;
        let running: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM experiments WHERE partner_id = $1 AND status = $2")
                .bind(partner_id)
                .bind(ExperimentStatus::Running.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if running.is_some() {
            return Err(ExperimentError::AlreadyRunning);
        }
        let mut scenario_ids = Vec::with_capacity(spec.arms.len());
        for arm in &spec.arms {
            scenario_ids.push(match arm.scenario {
                None => None,
                Some(ScenarioPick::Current) => {
                    // NULL: the partner never saved one (the built-in default).
                    let (id,): (Option<i64>,) =
                        sqlx::query_as(concat!("SELECT ", current_scenario_id!()))
                            .bind(partner_id)
                            .fetch_one(&mut *tx)
                            .await?;
                    id
                }
                Some(ScenarioPick::Version(v)) => {
                    let row: Option<(i64,)> = sqlx::query_as(
                        "SELECT id FROM scenarios WHERE partner_id = $1 AND version = $2",
                    )
                    .bind(partner_id)
                    .bind(v)
                    .fetch_optional(&mut *tx)
                    .await?;
                    Some(row.ok_or(ExperimentError::UnknownVersion(v))?.0)
                }
            });
        }
        // The partial unique index settles a race between two starts.
        let inserted: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO experiments (partner_id, name, status, horizon, window_days, started_at, started_by) \
             VALUES ($1, $2, 'RUNNING', $3, $4, $5, $6) \
             ON CONFLICT (partner_id) WHERE status = 'RUNNING' DO NOTHING RETURNING id",
        )
        .bind(partner_id)
        .bind(&spec.name)
        .bind(spec.horizon as i64)
        .bind(i64::from(spec.window_days))
        .bind(now_ms)
        .bind(by)
        .fetch_optional(&mut *tx)
        .await?;
        let (id,) = inserted.ok_or(ExperimentError::AlreadyRunning)?;
        for (position, (arm, scenario_id)) in spec.arms.iter().zip(scenario_ids).enumerate() {
            insert_arm(&mut tx, id, position as i64, arm, scenario_id).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Stops the partner's running experiment: no new case joins; its
    /// cases keep their arms (a holdout case stays without messages) and
    /// keep counting.
    pub async fn stop_experiment(
        &self,
        partner_id: i64,
        id: i64,
        now_ms: i64,
    ) -> Result<(), ExperimentError> {
        let (mut tx, _write) = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE experiments SET status = 'STOPPED', stopped_at = $3 \
             WHERE id = $1 AND partner_id = $2 AND status = 'RUNNING'",
        )
        .bind(id)
        .bind(partner_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(ExperimentError::NotRunning);
        }
        tx.commit().await?;
        Ok(())
    }

    /// The partner's experiments, newest first.
    pub async fn experiments(&self, partner_id: i64) -> Result<Vec<ExperimentRow>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, partner_id, name, status, horizon, window_days, started_at, started_by, stopped_at \
             FROM experiments WHERE partner_id = $1 ORDER BY id DESC",
        )
        .bind(partner_id)
        .fetch_all(&self.pool)
        .await?;
        self.with_arms(rows).await
    }

    /// One experiment of the partner's (another partner's is `None`).
    pub async fn experiment(
        &self,
        partner_id: i64,
        id: i64,
    ) -> Result<Option<ExperimentRow>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, partner_id, name, status, horizon, window_days, started_at, started_by, stopped_at \
             FROM experiments WHERE partner_id = $1 AND id = $2",
        )
        .bind(partner_id)
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(self.with_arms(rows).await?.pop())
    }

    /// The partner's running experiment, if any.
    pub async fn running_experiment(
        &self,
        partner_id: i64,
    ) -> Result<Option<ExperimentRow>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, partner_id, name, status, horizon, window_days, started_at, started_by, stopped_at \
             FROM experiments WHERE partner_id = $1 AND status = 'RUNNING'",
        )
        .bind(partner_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(self.with_arms(rows).await?.pop())
    }

    async fn with_arms(&self, rows: Vec<Row>) -> Result<Vec<ExperimentRow>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let arms: Vec<ArmDbRow> = sqlx::query_as(&format!(
            "SELECT a.experiment_id, a.position, a.name, a.kind, a.scenario_id, s.version, a.share \
             FROM experiment_arms a LEFT JOIN scenarios s ON s.id = a.scenario_id \
             WHERE a.experiment_id IN ({}) ORDER BY a.experiment_id, a.position",
            super::id_list(&ids)
        ))
        .persistent(false)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(ExperimentRow {
                    arms: arms
                        .iter()
                        .filter(|a| a.experiment_id == r.id)
                        .map(|a| {
                            Ok(ArmRow {
                                position: a.position,
                                name: a.name.clone(),
                                kind: ArmKind::parse(&a.kind)?,
                                scenario_version: a.version,
                                scenario_id: a.scenario_id,
                                share: a.share as u32,
                            })
                        })
                        .collect::<Result<_, StoreError>>()?,
                    id: r.id,
                    partner_id: r.partner_id,
                    name: r.name,
                    status: ExperimentStatus::parse(&r.status)?,
                    horizon: r.horizon.max(0) as u64,
                    window_days: r.window_days.clamp(1, i64::from(u32::MAX)) as u32,
                    started_at_ms: r.started_at,
                    started_by: r.started_by,
                    stopped_at_ms: r.stopped_at,
                })
            })
            .collect()
    }

    /// Each arm's tally, counted at most `CACHE_FOR` ago in the same minute
    /// of the clock as `now_ms`, and the moment it was counted at.
    pub async fn experiment_figures_input(
        &self,
        e: &ExperimentRow,
        now_ms: i64,
    ) -> Result<(Vec<ArmTally>, i64), StoreError> {
        let minute = now_ms.div_euclid(60_000);
        if let Some(hit) = self
            .experiment_cache
            .0
            .lock()
            .expect("the tally cache is never poisoned")
            .get(&e.id)
            .filter(|c| c.minute == minute && c.counted_at.elapsed() < CACHE_FOR)
        {
            return Ok((hit.tallies.clone(), hit.as_of_ms));
        }
        let tallies = self.experiment_tallies(e, now_ms).await?;
        self.experiment_cache
            .0
            .lock()
            .expect("the tally cache is never poisoned")
            .insert(
                e.id,
                CachedTallies {
                    minute,
                    counted_at: std::time::Instant::now(),
                    as_of_ms: now_ms,
                    tallies: tallies.clone(),
                },
            );
        Ok((tallies, now_ms))
    }

    /// Each arm's tally at `now_ms` (in arm order), by the domain's rules
    /// (`experiment::standing`, `experiment::curve_day`), summed in two
    /// statements: the rates, and the recovery curve by day. Recovered
    /// means the case was paid by any means: its `closed_at` as RECOVERED.
    pub async fn experiment_tallies(
        &self,
        e: &ExperimentRow,
        now_ms: i64,
    ) -> Result<Vec<ArmTally>, StoreError> {
        let window_ms = i64::from(e.window_days) * DAY_MS;
        // $2: now, $3: the window. A case's window closes at failed_at + $3.
        let recovered_in_window = format!(
            "(c.status = '{}' AND c.closed_at < c.failed_at + $3)",
            CaseStatus::Recovered.as_str()
        );
        let sums: Vec<ArmSums> = sqlx::query_as(&format!(
            "SELECT c.experiment_arm AS arm, COUNT(*) AS cases, \
                    COALESCE(SUM(CASE WHEN c.failed_at + $3 <= $2 THEN 1 ELSE 0 END), 0) AS closed, \
                    COALESCE(SUM(CASE WHEN c.failed_at + $3 <= $2 AND {r} THEN 1 ELSE 0 END), 0) AS recovered, \
                    CAST(COALESCE(SUM(CASE WHEN c.failed_at + $3 <= $2 THEN o.amount ELSE 0 END), 0) AS BIGINT) \
                        AS closed_owed, \
                    CAST(COALESCE(SUM(CASE WHEN c.failed_at + $3 <= $2 AND {r} THEN o.amount ELSE 0 END), 0) \
                        AS BIGINT) AS recovered_amount, \
                    COALESCE(SUM(CASE WHEN c.failed_at + $3 > $2 THEN 1 ELSE 0 END), 0) AS in_progress, \
                    COALESCE(SUM(CASE WHEN c.failed_at + $3 > $2 AND {r} THEN 1 ELSE 0 END), 0) \
                        AS in_progress_recovered \
             FROM recovery_cases c JOIN orders o ON o.id = c.order_id \
             WHERE c.experiment_id = $1 GROUP BY c.experiment_arm",
            r = recovered_in_window
        ))
        .bind(e.id)
        .bind(now_ms)
        .bind(window_ms)
        .fetch_all(&self.pool)
        .await?;
        // A recovery counts on its day since the failure (if inside the
        // window and already happened); every other case is censored at its
        // age, at most the window.
        let days: Vec<(i64, i64, i64, i64)> = sqlx::query_as(&format!(
            "SELECT arm, day, SUM(recovered), COUNT(*) - SUM(recovered) FROM ( \
                 SELECT c.experiment_arm AS arm, \
                        CASE WHEN {r} AND c.closed_at <= $2 THEN (c.closed_at - c.failed_at) / $4 \
                             ELSE (CASE WHEN $2 - c.failed_at < $3 THEN \
                                        (CASE WHEN $2 < c.failed_at THEN 0 ELSE $2 - c.failed_at END) \
                                   ELSE $3 END) / $4 END AS day, \
                        CASE WHEN {r} AND c.closed_at <= $2 THEN 1 ELSE 0 END AS recovered \
                 FROM recovery_cases c WHERE c.experiment_id = $1) t \
             GROUP BY arm, day",
            r = recovered_in_window
        ))
        .bind(e.id)
        .bind(now_ms)
        .bind(window_ms)
        .bind(DAY_MS)
        .fetch_all(&self.pool)
        .await?;
        Ok(e.arms
            .iter()
            .map(|arm| {
                let mut t = ArmTally::default();
                if let Some(s) = sums.iter().find(|s| s.arm == arm.position) {
                    t.cases = s.cases.max(0) as u64;
                    t.closed = s.closed.max(0) as u64;
                    t.recovered = s.recovered.max(0) as u64;
                    t.closed_owed = s.closed_owed;
                    t.recovered_amount = s.recovered_amount;
                    t.in_progress = s.in_progress.max(0) as u64;
                    t.in_progress_recovered = s.in_progress_recovered.max(0) as u64;
                }
                t.days = days
                    .iter()
                    .filter(|d| d.0 == arm.position)
                    .map(|d| DayCount {
                        day: d.1.max(0) as u32,
                        recovered: d.2.max(0) as u64,
                        censored: d.3.max(0) as u64,
                    })
                    .collect();
                t
            })
            .collect())
    }

    /// Every case of the experiment as the figures see it: `(arm, amount,
    /// failed_at, recovered_at)`. Tests check the SQL tallies against the
    /// domain's rules applied case by case.
    pub async fn experiment_cases(
        &self,
        experiment_id: i64,
    ) -> Result<Vec<(i64, i64, i64, Option<i64>)>, StoreError> {
        Ok(sqlx::query_as(
            &format!(
                "SELECT c.experiment_arm, o.amount, c.failed_at, \
                        CASE WHEN c.status = '{}' THEN c.closed_at END \
                 FROM recovery_cases c JOIN orders o ON o.id = c.order_id WHERE c.experiment_id = $1 ORDER BY c.id",
                CaseStatus::Recovered.as_str()
            ),
        )
        .bind(experiment_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl Store {
    /// Seeds made-up cases into an experiment's arms (`server dev
    /// seed-experiment`, `make bench`): `seed_outcomes`, then each case its
    /// arm as given (not by hash: the seed picks outcomes per arm).
    pub async fn seed_experiment(
        &self,
        partner_id: i64,
        experiment_id: i64,
        prefix: &str,
        cases: &[(i64, crate::domain::analytics::CaseFact)],
    ) -> Result<usize, StoreError> {
        let facts: Vec<_> = cases.iter().map(|c| c.1).collect();
        let ids = self
            .seed_outcomes(
                partner_id,
                &super::OutcomeSeed {
                    prefix,
                    facts: &facts,
                },
            )
            .await?;
        let positions: std::collections::BTreeSet<i64> = cases.iter().map(|c| c.0).collect();
        for position in positions {
            let mine: Vec<i64> = ids
                .iter()
                .zip(cases)
                .filter(|(_, c)| c.0 == position)
                .map(|(id, _)| *id)
                .collect();
            for chunk in mine.chunks(super::IDS_PER_STATEMENT) {
                let (mut tx, _write) = self.begin_write().await?;
                sqlx::query(&format!(
                    "UPDATE recovery_cases SET experiment_id = $1, experiment_arm = $2 WHERE id IN ({})",
                    super::id_list(chunk)
                ))
                .persistent(false)
                .bind(experiment_id)
                .bind(position)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
        }
        Ok(ids.len())
    }
}

async fn insert_arm(
    tx: &mut Transaction<'_, Any>,
    experiment_id: i64,
    position: i64,
    arm: &ArmSpec,
    scenario_id: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO experiment_arms (experiment_id, position, name, kind, scenario_id, share) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(experiment_id)
    .bind(position)
    .bind(&arm.name)
    .bind(arm.kind.as_str())
    .bind(scenario_id)
    .bind(i64::from(arm.share))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
