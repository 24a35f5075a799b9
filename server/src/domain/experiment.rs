//! Experiments (issue 25): a partner's new cases split into arms, each a
//! scenario version or the holdout (nothing Rebound starts by itself: no
//! messages, no silent retries), so the figures can say how much money
//! Rebound brought back that would otherwise be lost.
//!
//! The rules here are pure: which arm an order lands in (a stable hash, the
//! same on every instance), what an experiment may look like, when a case
//! counts in a rate (only once its window has closed), and the figures of
//! each arm against the control and the holdout (`stats`). No SQL, no clock.

use sha2::{Digest, Sha256};

use super::FieldError;
use super::case::stored_enum;
use super::stats::{self, CurvePoint, DayCount, Interval, ZTest};

/// Shares are in basis points of the partner's new cases.
pub const WHOLE: u32 = 10_000;
/// The holdout's share unless the partner picks another.
pub const DEFAULT_HOLDOUT: u32 = 1_000;
/// The most a holdout may take: every case in it gets no help.
pub const MAX_HOLDOUT: u32 = 2_000;
/// No arm below 1 %: it would never gather enough cases to say anything.
pub const MIN_SHARE: u32 = 100;
pub const MAX_ARMS: usize = 4;
pub const DEFAULT_WINDOW_DAYS: u32 = 30;
pub const MAX_WINDOW_DAYS: u32 = 90;
/// Closed cases per arm before a verdict, unless the partner picks another:
/// about what 30 % against 36 % needs (`stats::sample_size_per_arm`).
pub const DEFAULT_HORIZON: u64 = 1_000;
const DAY_MS: i64 = 86_400_000;

stored_enum!(
    /// Whether an experiment still takes new cases (`experiments.status`).
    ExperimentStatus, "experiment status" {
        Running => "RUNNING",
        /// No new cases join; the ones in it keep their arm and count.
        Stopped => "STOPPED",
    }
);

stored_enum!(
    /// What an arm does to its cases (`experiment_arms.kind`).
    ArmKind, "arm kind" {
        /// A scenario version: its messages, retries and quiet hours.
        Scenario => "SCENARIO",
        /// Nothing Rebound starts by itself; the page still works for a
        /// customer who arrives by other means, and what the customer asks
        /// for there (a charge, a card, a date, a reminder) still happens.
        Holdout => "HOLDOUT",
    }
);

/// Which scenario a scenario arm runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScenarioPick {
    /// The partner's current scenario when the experiment starts.
    Current,
    /// A saved version of the partner's scenario.
    Version(i64),
}

/// One arm as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmSpec {
    pub name: String,
    pub kind: ArmKind,
    /// `None` for the holdout.
    pub scenario: Option<ScenarioPick>,
    /// Basis points.
    pub share: u32,
}

impl ArmSpec {
    /// Reads `name=holdout:10`, `name=current:45` or `name=v3:45` (a share in
    /// whole percent, or with decimals: `12.5`), the form the CLI and the
    /// console take.
    pub fn parse(field: &str, text: &str) -> Result<ArmSpec, FieldError> {
        let bad = |m: &str| {
            FieldError::new(
                field,
                format!("{m}: expected name=holdout|current|vN:percent, got {text:?}"),
            )
        };
        let (name, rest) = text.split_once('=').ok_or_else(|| bad("no name"))?;
        let (what, share) = rest.split_once(':').ok_or_else(|| bad("no share"))?;
        let name = super::required_text(field, Some(name), 40)?;
        let share = percent_to_bp(share.trim())
            .ok_or_else(|| bad("the share is a percent from 1 to 100"))?;
        let (kind, scenario) = match what.trim() {
            "holdout" => (ArmKind::Holdout, None),
            "current" => (ArmKind::Scenario, Some(ScenarioPick::Current)),
            v => {
                let n = v
                    .strip_prefix('v')
                    .and_then(|n| n.parse::<i64>().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("unknown scenario"))?;
                (ArmKind::Scenario, Some(ScenarioPick::Version(n)))
            }
        };
        Ok(ArmSpec {
            name,
            kind,
            scenario,
            share,
        })
    }
}

fn percent_to_bp(text: &str) -> Option<u32> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole
            .chars()
            .chain(frac.chars())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: u32 = whole.parse().ok()?;
    let frac: u32 = format!("{frac:0<2}").parse().ok()?;
    let bp = whole.checked_mul(100)?.checked_add(frac)?;
    (MIN_SHARE..=WHOLE).contains(&bp).then_some(bp)
}

/// An experiment as asked for, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentSpec {
    pub name: String,
    pub arms: Vec<ArmSpec>,
    /// Closed cases every arm needs before the page gives a verdict (the
    /// fixed horizon, chosen at start: looking earlier decides nothing).
    pub horizon: u64,
    /// Days after its failure a case may still recover and count.
    pub window_days: u32,
}

impl ExperimentSpec {
    /// Checks the rules: 2 to 4 arms with distinct names, at least one
    /// scenario arm (the first is the control), at most one holdout of at
    /// most 20 %, each share at least 1 %, together exactly 100 %.
    pub fn check(
        name: &str,
        arms: Vec<ArmSpec>,
        horizon: u64,
        window_days: u32,
    ) -> Result<ExperimentSpec, Vec<FieldError>> {
        let mut problems = super::Problems::default();
        let name = problems.check(super::required_text("name", Some(name), 80));
        let fail = |m: &str| FieldError::new("arms", m);
        if !(2..=MAX_ARMS).contains(&arms.len()) {
            problems.check::<()>(Err(fail("an experiment has 2 to 4 arms")));
        }
        let holdouts: Vec<&ArmSpec> = arms.iter().filter(|a| a.kind == ArmKind::Holdout).collect();
        if holdouts.len() > 1 {
            problems.check::<()>(Err(fail("at most one arm is the holdout")));
        }
        if holdouts.iter().any(|h| h.share > MAX_HOLDOUT) {
            problems.check::<()>(Err(fail("the holdout takes at most 20 % of new cases")));
        }
        if !arms.iter().any(|a| a.kind == ArmKind::Scenario) {
            problems.check::<()>(Err(fail("at least one arm runs a scenario")));
        }
        if arms.iter().any(|a| a.share < MIN_SHARE) {
            problems.check::<()>(Err(fail("every arm takes at least 1 %")));
        }
        if arms.iter().map(|a| a.share).sum::<u32>() != WHOLE {
            problems.check::<()>(Err(fail("the shares add up to 100 %")));
        }
        let mut names: Vec<String> = arms.iter().map(|a| a.name.to_lowercase()).collect();
        names.sort();
        names.dedup();
        if names.len() != arms.len() {
            problems.check::<()>(Err(fail("every arm has its own name")));
        }
        if !(10..=1_000_000).contains(&horizon) {
            problems.check::<()>(Err(FieldError::new(
                "horizon",
                "closed cases per arm: 10 to 1,000,000",
            )));
        }
        if !(1..=MAX_WINDOW_DAYS).contains(&window_days) {
            problems.check::<()>(Err(FieldError::new("windowDays", "1 to 90 days")));
        }
        problems.into_result()?;
        Ok(ExperimentSpec {
            name: name.unwrap_or_default(),
            arms,
            horizon,
            window_days,
        })
    }
}

/// Where an order falls in an experiment, 0 to 9,999: the first eight bytes
/// of SHA-256 over the experiment, the partner and the order. The same on
/// every instance and every time; another experiment of the partner deals
/// its orders afresh.
pub fn bucket(experiment_id: i64, partner_id: i64, order_id: i64) -> u32 {
    let mut h = Sha256::new();
    h.update(b"rebound experiment arm\0");
    h.update(experiment_id.to_be_bytes());
    h.update(partner_id.to_be_bytes());
    h.update(order_id.to_be_bytes());
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    (u64::from_be_bytes(first) % u64::from(WHOLE)) as u32
}

/// The arm (its index) a bucket falls in, given the arms' shares in order.
pub fn arm_of(shares: &[u32], bucket: u32) -> usize {
    let mut edge = 0;
    for (i, s) in shares.iter().enumerate() {
        edge += s;
        if bucket < edge {
            return i;
        }
    }
    shares.len().saturating_sub(1)
}

/// Where one case stands for the figures, at `now_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Its window is still open: neither lost nor recovered yet (it may
    /// have paid already; it counts once the window closes, so that early
    /// payers do not outweigh late ones).
    InProgress { recovered: bool },
    /// Its window has closed: it counts in the rate.
    Closed { recovered: bool },
}

/// A case's standing: recovered means paid by any means (a charge, or the
/// partner reporting it paid) before its window closed.
pub fn standing(
    failed_at_ms: i64,
    recovered_at_ms: Option<i64>,
    window_days: u32,
    now_ms: i64,
) -> Standing {
    let ends = failed_at_ms + i64::from(window_days) * DAY_MS;
    let recovered = recovered_at_ms.is_some_and(|t| t < ends);
    if now_ms >= ends {
        Standing::Closed { recovered }
    } else {
        Standing::InProgress { recovered }
    }
}

/// The day since the failure a case leaves the recovery curve on, and
/// whether by recovering (else censored: still open at that age, or its
/// window over, or closed unpaid, which can no longer recover and so stays
/// watched to the window's end).
pub fn curve_day(
    failed_at_ms: i64,
    recovered_at_ms: Option<i64>,
    window_days: u32,
    now_ms: i64,
) -> (u32, bool) {
    let window_ms = i64::from(window_days) * DAY_MS;
    match recovered_at_ms {
        Some(t) if t - failed_at_ms < window_ms && t <= now_ms => {
            (((t - failed_at_ms).max(0) / DAY_MS) as u32, true)
        }
        _ => (
            ((now_ms - failed_at_ms).clamp(0, window_ms) / DAY_MS) as u32,
            false,
        ),
    }
}

/// One arm's counts, as the store tallies them with the rules above.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArmTally {
    pub cases: u64,
    pub closed: u64,
    pub recovered: u64,
    /// KRW owed by the closed cases.
    pub closed_owed: i64,
    /// KRW of the closed cases that were recovered.
    pub recovered_amount: i64,
    pub in_progress: u64,
    /// Of those in progress, paid already.
    pub in_progress_recovered: u64,
    /// The recovery curve's input, by day since the failure.
    pub days: Vec<DayCount>,
}

impl ArmTally {
    /// Adds one case (tests and small sets; the store sums in SQL).
    pub fn add(
        &mut self,
        amount: i64,
        failed_at_ms: i64,
        recovered_at_ms: Option<i64>,
        window_days: u32,
        now_ms: i64,
    ) {
        self.cases += 1;
        match standing(failed_at_ms, recovered_at_ms, window_days, now_ms) {
            Standing::Closed { recovered } => {
                self.closed += 1;
                self.closed_owed += amount;
                if recovered {
                    self.recovered += 1;
                    self.recovered_amount += amount;
                }
            }
            Standing::InProgress { recovered } => {
                self.in_progress += 1;
                self.in_progress_recovered += u64::from(recovered);
            }
        }
        let (day, recovered) = curve_day(failed_at_ms, recovered_at_ms, window_days, now_ms);
        let d = match self.days.iter_mut().find(|d| d.day == day) {
            Some(d) => d,
            None => {
                self.days.push(DayCount {
                    day,
                    ..DayCount::default()
                });
                self.days.last_mut().expect("just pushed")
            }
        };
        if recovered {
            d.recovered += 1;
        } else {
            d.censored += 1;
        }
    }
}

/// An arm against another: the difference of rates (this minus that) with
/// Newcombe's interval, and the z-test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    pub difference: f64,
    pub interval: Interval,
    pub test: ZTest,
}

/// Money the arm brought back that the holdout's rate says would otherwise
/// have been lost, in won, with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incremental {
    pub won: i64,
    pub low: i64,
    pub high: i64,
}

/// One arm's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmFigures {
    pub rate: Option<f64>,
    pub interval: Option<Interval>,
    /// Against the control (none for the control itself).
    pub vs_control: Option<Comparison>,
    /// Against the holdout (scenario arms, when there is a holdout).
    pub vs_holdout: Option<Comparison>,
    pub incremental: Option<Incremental>,
    pub curve: Vec<CurvePoint>,
}

/// Whether the fixed horizon has been reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every arm has its closed cases: the intervals and tests may be read
    /// as a result.
    Ready,
    /// So many more closed cases are needed (the sum over the arms short
    /// of the horizon); until then the figures are shown, not judged.
    NotYet { more_needed: u64 },
}

pub fn verdict(tallies: &[&ArmTally], horizon: u64) -> Verdict {
    let more: u64 = tallies
        .iter()
        .map(|t| horizon.saturating_sub(t.closed))
        .sum();
    if more == 0 {
        Verdict::Ready
    } else {
        Verdict::NotYet { more_needed: more }
    }
}

fn compare(a: &ArmTally, b: &ArmTally) -> Option<Comparison> {
    let (k1, n1, k2, n2) = (a.recovered, a.closed, b.recovered, b.closed);
    Some(Comparison {
        difference: k1 as f64 / n1.max(1) as f64 - k2 as f64 / n2.max(1) as f64,
        interval: stats::newcombe(k1, n1, k2, n2)?,
        test: stats::z_test(k1, n1, k2, n2)?,
    })
}

/// Every arm's figures. The control is the first scenario arm; the holdout,
/// if any, is what incremental money is measured against.
pub fn figures(arms: &[(ArmKind, &ArmTally)]) -> Vec<ArmFigures> {
    let control = arms.iter().position(|(k, _)| *k == ArmKind::Scenario);
    let holdout = arms.iter().position(|(k, _)| *k == ArmKind::Holdout);
    arms.iter()
        .enumerate()
        .map(|(i, (kind, t))| {
            let vs_control = control
                .filter(|c| *c != i)
                .and_then(|c| compare(t, arms[c].1));
            let vs_holdout = holdout
                .filter(|_| *kind == ArmKind::Scenario)
                .and_then(|h| compare(t, arms[h].1));
            let incremental = holdout
                .filter(|_| *kind == ArmKind::Scenario)
                .and_then(|h| {
                    let held = arms[h].1;
                    let base = held.recovered as f64 / held.closed.max(1) as f64;
                    let cmp = vs_holdout?;
                    let owed = t.closed_owed as f64;
                    let won = t.recovered_amount as f64 - base * owed;
                    // The difference's margins in won, around the amount
                    // itself: when amounts differ between cases the point
                    // (by amount) and the count-based difference part, and
                    // the interval must still hold the point.
                    let below = (cmp.difference - cmp.interval.low).max(0.0) * owed;
                    let above = (cmp.interval.high - cmp.difference).max(0.0) * owed;
                    Some(Incremental {
                        won: won.round() as i64,
                        low: (won - below).round() as i64,
                        high: (won + above).round() as i64,
                    })
                });
            ArmFigures {
                rate: (t.closed > 0).then(|| t.recovered as f64 / t.closed as f64),
                interval: stats::wilson(t.recovered, t.closed),
                vs_control,
                vs_holdout,
                incremental,
                curve: stats::kaplan_meier(&t.days),
            }
        })
        .collect()
}

/// A made-up experiment's cases for the demo and `make bench`: `count`
/// cases dealt over the arms by their shares, failed over the `days` before
/// `end_ms`, each arm recovering at its rate in permille (the first
/// scenario arm 450, other scenario arms 380, the holdout 120), within a
/// few days. Returns each case's arm position with its fact.
pub fn sample_cases(
    count: usize,
    arms: &[(ArmKind, u32)],
    end_ms: i64,
    days: i64,
) -> Vec<(i64, super::analytics::CaseFact)> {
    use super::analytics::{CaseFact, EndedAs, Outcome, RecoveredBy};
    use super::case::ChargeSource;
    let shares: Vec<u32> = arms.iter().map(|a| a.1).collect();
    let control = arms.iter().position(|a| a.0 == ArmKind::Scenario);
    let span = days.max(1) * DAY_MS;
    (0..count)
        .map(|i| {
            // A fixed spread over the buckets, so the shares hold exactly.
            let bucket = ((i as u64 * 7_919) % u64::from(WHOLE)) as u32;
            let arm = arm_of(&shares, bucket);
            let permille = match arms[arm].0 {
                ArmKind::Holdout => 120,
                _ if Some(arm) == control => 450,
                _ => 380,
            };
            let draw = (i as u64 * 104_729 + 17) % 1_000;
            let failed_at_ms = end_ms - span + (i as i64 * span) / count.max(1) as i64;
            let outcome = if draw < permille {
                let by = match (arms[arm].0, i % 3) {
                    (ArmKind::Holdout, _) => RecoveredBy::Partner,
                    (_, 0) => RecoveredBy::Charge(ChargeSource::Retry),
                    (_, 1) => RecoveredBy::Charge(ChargeSource::Page),
                    _ => RecoveredBy::Partner,
                };
                Outcome::Recovered {
                    by,
                    after_ms: (1 + (i as i64 % 7)) * DAY_MS / 2,
                }
            } else if failed_at_ms + 10 * DAY_MS < end_ms {
                Outcome::Ended(EndedAs::Paused)
            } else {
                Outcome::Open
            };
            // Recoveries that would lie in the future are still open.
            let outcome = match outcome {
                Outcome::Recovered { after_ms, .. } if failed_at_ms + after_ms > end_ms => {
                    Outcome::Open
                }
                o => o,
            };
            (
                arm as i64,
                CaseFact {
                    failed_at_ms,
                    amount: 9_900 + (i as i64 % 5) * 5_000,
                    stage: 1,
                    outcome,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(text: &str) -> ArmSpec {
        ArmSpec::parse("arms", text).unwrap()
    }

    #[test]
    fn arms_read_from_text() {
        assert_eq!(
            arm("holdout=holdout:10"),
            ArmSpec {
                name: "holdout".into(),
                kind: ArmKind::Holdout,
                scenario: None,
                share: 1_000
            }
        );
        assert_eq!(arm("A=current:45").scenario, Some(ScenarioPick::Current));
        assert_eq!(
            arm("B = v3 : 12.5").scenario,
            Some(ScenarioPick::Version(3))
        );
        assert_eq!(arm("B=v3:12.5").share, 1_250);
        for bad in [
            "holdout:10",
            "a=holdout",
            "a=v0:10",
            "a=w3:10",
            "a=current:0.5",
            "a=current:101",
            "=current:10",
            "a=current:1.234",
            "a=current:-1",
        ] {
            assert!(ArmSpec::parse("arms", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_experiment_keeps_to_its_rules() {
        let ok = |arms: &[&str]| {
            ExperimentSpec::check("x", arms.iter().map(|a| arm(a)).collect(), 100, 30)
        };
        assert!(ok(&["a=current:90", "h=holdout:10"]).is_ok());
        assert!(ok(&["a=current:40", "b=v2:40", "h=holdout:20"]).is_ok());
        let cases: [(&[&str], &str); 7] = [
            (&["a=current:100"], "2 to 4"),
            (
                &[
                    "a=current:20",
                    "b=current:20",
                    "c=current:20",
                    "d=current:20",
                    "e=current:20",
                ],
                "2 to 4",
            ),
            (&["a=current:75", "h=holdout:25"], "20 %"),
            (&["h=holdout:10", "g=holdout:10"], "one arm"),
            (&["h=holdout:10", "g=holdout:90"], "scenario"),
            (&["a=current:50", "h=holdout:10"], "100 %"),
            (&["a=current:90", "A=v2:10"], "own name"),
        ];
        for (arms, why) in cases {
            let e = ok(arms).unwrap_err();
            assert!(e.iter().any(|e| e.message.contains(why)), "{arms:?}: {e:?}");
        }
        let e = ExperimentSpec::check(" ", vec![arm("a=current:90"), arm("h=holdout:10")], 5, 0)
            .unwrap_err();
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "horizon", "windowDays"]);
    }

    #[test]
    fn the_same_order_lands_in_the_same_arm_and_shares_hold() {
        assert_eq!(bucket(1, 2, 3), bucket(1, 2, 3));
        assert_ne!(
            (0..50).map(|o| bucket(1, 2, o)).collect::<Vec<_>>(),
            (0..50).map(|o| bucket(2, 2, o)).collect::<Vec<_>>()
        );
        let shares = [4_500, 4_500, 1_000];
        let mut counts = [0u32; 3];
        for order in 0..20_000 {
            counts[arm_of(&shares, bucket(7, 1, order))] += 1;
        }
        // 10 % of 20,000 is 2,000, give or take 3 standard deviations (127).
        assert!((1_873..=2_127).contains(&counts[2]), "{counts:?}");
        assert!((8_700..=9_300).contains(&counts[0]), "{counts:?}");
        assert_eq!(arm_of(&shares, 0), 0);
        assert_eq!(arm_of(&shares, 4_499), 0);
        assert_eq!(arm_of(&shares, 4_500), 1);
        assert_eq!(arm_of(&shares, 9_999), 2);
    }

    #[test]
    fn a_case_counts_in_a_rate_only_once_its_window_closes() {
        let day = DAY_MS;
        assert_eq!(
            standing(0, Some(day), 14, 2 * day),
            Standing::InProgress { recovered: true }
        );
        assert_eq!(
            standing(0, None, 14, 13 * day),
            Standing::InProgress { recovered: false }
        );
        assert_eq!(
            standing(0, Some(day), 14, 14 * day),
            Standing::Closed { recovered: true }
        );
        // Paid after the window: not recovered by this experiment's rule.
        assert_eq!(
            standing(0, Some(15 * day), 14, 20 * day),
            Standing::Closed { recovered: false }
        );
        assert_eq!(
            standing(0, None, 14, 14 * day),
            Standing::Closed { recovered: false }
        );
        assert_eq!(curve_day(0, Some(3 * day + 5), 14, 4 * day), (3, true));
        assert_eq!(curve_day(0, None, 14, 4 * day + 5), (4, false));
        assert_eq!(curve_day(0, None, 14, 40 * day), (14, false));
        assert_eq!(curve_day(0, Some(20 * day), 14, 40 * day), (14, false));
    }

    fn tally(recovered: u64, closed: u64, amount: i64) -> ArmTally {
        ArmTally {
            cases: closed,
            closed,
            recovered,
            closed_owed: closed as i64 * amount,
            recovered_amount: recovered as i64 * amount,
            ..ArmTally::default()
        }
    }

    #[test]
    fn incremental_money_is_what_the_holdouts_rate_would_not_have_brought() {
        // Control 400/1000 at 10,000 won, holdout 10/100: 4,000,000 won
        // back, 1,000,000 of it would have come anyway.
        let (control, variant, held) = (
            tally(400, 1_000, 10_000),
            tally(450, 1_000, 10_000),
            tally(10, 100, 10_000),
        );
        let f = figures(&[
            (ArmKind::Scenario, &control),
            (ArmKind::Scenario, &variant),
            (ArmKind::Holdout, &held),
        ]);
        let inc = f[0].incremental.unwrap();
        assert_eq!(inc.won, 3_000_000);
        let band = stats::newcombe(400, 1_000, 10, 100)
            .unwrap()
            .scaled(10_000_000.0);
        // Equal amounts: the difference's interval times what was owed.
        assert!(
            (inc.low - band.low.round() as i64).abs() <= 1,
            "{inc:?} {band:?}"
        );
        assert!(
            (inc.high - band.high.round() as i64).abs() <= 1,
            "{inc:?} {band:?}"
        );
        assert!(inc.low < inc.won && inc.won < inc.high);
        // Amounts that differ: the interval still holds the point.
        let mut rich = tally(400, 1_000, 10_000);
        rich.recovered_amount = 400 * 50_000;
        let f2 = figures(&[(ArmKind::Scenario, &rich), (ArmKind::Holdout, &held)]);
        let i2 = f2[0].incremental.unwrap();
        assert!(i2.low < i2.won && i2.won < i2.high, "{i2:?}");
        assert!(
            f[0].vs_control.is_none(),
            "the control is not compared with itself"
        );
        let v = f[1].vs_control.unwrap();
        assert!((v.difference - 0.05).abs() < 1e-12 && v.test.significant());
        assert!(f[2].incremental.is_none() && f[2].vs_holdout.is_none());
        assert!((f[2].vs_control.unwrap().difference + 0.3).abs() < 1e-12);
        assert_eq!(f[2].rate, Some(0.1));
        // No holdout: no incremental money claimed.
        let f = figures(&[(ArmKind::Scenario, &control), (ArmKind::Scenario, &variant)]);
        assert!(f.iter().all(|a| a.incremental.is_none()));
        // An arm with no closed case has no rate yet.
        let empty = ArmTally::default();
        let f = figures(&[(ArmKind::Scenario, &empty), (ArmKind::Holdout, &held)]);
        assert_eq!(
            (f[0].rate, f[0].interval, f[0].incremental),
            (None, None, None)
        );
    }

    #[test]
    fn the_sample_recovers_each_arm_at_its_rate() {
        use crate::domain::analytics::Outcome;
        let arms = [
            (ArmKind::Scenario, 4_500),
            (ArmKind::Scenario, 4_500),
            (ArmKind::Holdout, 1_000),
        ];
        let now = 100 * DAY_MS;
        let cases = sample_cases(10_000, &arms, now, 60);
        for (position, expected) in [(0, 0.45), (1, 0.38), (2, 0.12)] {
            let mine: Vec<_> = cases.iter().filter(|c| c.0 == position).collect();
            let share = mine.len() as f64 / 10_000.0;
            assert!(
                (share - f64::from(arms[position as usize].1) / 10_000.0).abs() < 0.01,
                "{position}: {share}"
            );
            let old: Vec<_> = mine
                .iter()
                .filter(|c| c.1.failed_at_ms + 10 * DAY_MS < now)
                .collect();
            let rate = old
                .iter()
                .filter(|c| matches!(c.1.outcome, Outcome::Recovered { .. }))
                .count() as f64
                / old.len() as f64;
            assert!((rate - expected).abs() < 0.03, "{position}: {rate}");
        }
        assert!(
            cases
                .iter()
                .all(|c| c.1.failed_at_ms <= now && c.1.failed_at_ms >= now - 60 * DAY_MS)
        );
    }

    #[test]
    fn no_verdict_before_every_arm_reaches_the_horizon() {
        let (a, b) = (tally(10, 80, 1), tally(10, 120, 1));
        assert_eq!(verdict(&[&a, &b], 100), Verdict::NotYet { more_needed: 20 });
        assert_eq!(verdict(&[&b, &b], 100), Verdict::Ready);
    }

    #[test]
    fn a_tally_sorts_cases_by_the_rules() {
        let day = DAY_MS;
        let mut t = ArmTally::default();
        t.add(5_000, 0, Some(day), 14, 20 * day);
        t.add(7_000, 0, None, 14, 20 * day);
        t.add(9_000, 10 * day, Some(11 * day), 14, 20 * day);
        t.add(9_000, 10 * day, None, 14, 20 * day);
        assert_eq!(
            (
                t.cases,
                t.closed,
                t.recovered,
                t.closed_owed,
                t.recovered_amount
            ),
            (4, 2, 1, 12_000, 5_000)
        );
        assert_eq!((t.in_progress, t.in_progress_recovered), (2, 1));
        let mut days = t.days.clone();
        days.sort_by_key(|d| d.day);
        assert_eq!(
            days,
            [
                DayCount {
                    day: 1,
                    recovered: 2,
                    censored: 0
                },
                DayCount {
                    day: 10,
                    recovered: 0,
                    censored: 1
                },
                DayCount {
                    day: 14,
                    recovered: 0,
                    censored: 1
                },
            ]
        );
    }
}
