//! The experiment statistics (issue 25), as pure functions over counts:
//! Wilson's interval for one rate, Newcombe's hybrid score interval for a
//! difference of two, the pooled two-proportion z-test, Kaplan-Meier for
//! recovery over time, and the sample size a fixed horizon needs. All at
//! 95 %. No SQL, no clock. The simulation tests at the bottom check the
//! promises (coverage, false positives, no bias from cases in progress)
//! against seeded random experiments whose true rates are known.

/// The 97.5th percentile of the standard normal: a two-sided 95 % level.
pub const Z95: f64 = 1.959_963_984_540_054;
/// The 80th percentile: 80 % power.
const Z80: f64 = 0.841_621_233_572_914_2;

/// A two-sided 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }

    /// Both ends times `k` (a rate's interval in won).
    pub fn scaled(&self, k: f64) -> Interval {
        let (a, b) = (self.low * k, self.high * k);
        Interval {
            low: a.min(b),
            high: a.max(b),
        }
    }
}

/// A rate `k / n` with its Wilson score interval (Wilson 1927), which stays
/// inside [0, 1] and keeps its coverage near 0, near 1 and at small `n`,
/// where the textbook Wald interval does not. `None` when `n` is 0.
pub fn wilson(k: u64, n: u64) -> Option<Interval> {
    if n == 0 || k > n {
        return None;
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(Interval {
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    })
}

/// The difference `k1/n1 - k2/n2` with Newcombe's hybrid score interval
/// (Newcombe 1998, method 10), built from the two Wilson intervals.
pub fn newcombe(k1: u64, n1: u64, k2: u64, n2: u64) -> Option<Interval> {
    let (a, b) = (wilson(k1, n1)?, wilson(k2, n2)?);
    let (p1, p2) = (k1 as f64 / n1 as f64, k2 as f64 / n2 as f64);
    let d = p1 - p2;
    let low = d - ((p1 - a.low).powi(2) + (b.high - p2).powi(2)).sqrt();
    let high = d + ((a.high - p1).powi(2) + (p2 - b.low).powi(2)).sqrt();
    Some(Interval { low, high })
}

/// A two-proportion z-test with the pooled rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZTest {
    pub z: f64,
    /// Two-sided.
    pub p_value: f64,
}

impl ZTest {
    /// Rejects "the two rates are equal" at 5 %.
    pub fn significant(&self) -> bool {
        self.p_value < 0.05
    }
}

/// Tests `k1/n1` against `k2/n2`. `None` when either arm is empty; a pooled
/// rate of 0 or 1 (no variance: both arms identical) gives z = 0, p = 1.
pub fn z_test(k1: u64, n1: u64, k2: u64, n2: u64) -> Option<ZTest> {
    if n1 == 0 || n2 == 0 || k1 > n1 || k2 > n2 {
        return None;
    }
    let (k1, n1, k2, n2) = (k1 as f64, n1 as f64, k2 as f64, n2 as f64);
    let pooled = (k1 + k2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se == 0.0 {
        return Some(ZTest {
            z: 0.0,
            p_value: 1.0,
        });
    }
    let z = (k1 / n1 - k2 / n2) / se;
    Some(ZTest {
        z,
        p_value: 2.0 * (1.0 - normal_cdf(z.abs())),
    })
}

/// The standard normal's distribution function, through libm's `erfc`.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// Closed cases each arm needs to tell `p1` from `p2` with a two-sided 5 %
/// test at 80 % power (the normal approximation).
pub fn sample_size_per_arm(p1: f64, p2: f64) -> u64 {
    let d = (p1 - p2).abs();
    if d == 0.0 {
        return u64::MAX;
    }
    let pbar = (p1 + p2) / 2.0;
    let n = (Z95 * (2.0 * pbar * (1.0 - pbar)).sqrt()
        + Z80 * (p1 * (1.0 - p1) + p2 * (1.0 - p2)).sqrt())
    .powi(2)
        / (d * d);
    n.ceil() as u64
}

/// What happened on one day since the failure, for Kaplan-Meier: cases
/// recovered that day, and cases that left observation without recovering
/// (still open at that age, or their window ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayCount {
    pub day: u32,
    pub recovered: u64,
    pub censored: u64,
}

/// One step of a recovery curve: by the end of `day`, this share of cases
/// is recovered (1 - the Kaplan-Meier survival), with `at_risk` cases
/// still watched at the day's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    pub day: u32,
    pub recovered: f64,
    pub at_risk: u64,
}

/// The Kaplan-Meier recovery curve over `days` (any order; one entry per
/// day that saw something). A case still open is censored at its age: it
/// counts as at risk until then, never as lost. Recoveries on a day count
/// before the censorings of that day, as usual.
pub fn kaplan_meier(days: &[DayCount]) -> Vec<CurvePoint> {
    let mut days = days.to_vec();
    days.sort_by_key(|d| d.day);
    let mut at_risk: u64 = days.iter().map(|d| d.recovered + d.censored).sum();
    let mut survival = 1.0_f64;
    let mut curve = Vec::with_capacity(days.len());
    for d in days {
        if at_risk == 0 {
            break;
        }
        if d.recovered > 0 {
            survival *= 1.0 - d.recovered as f64 / at_risk as f64;
        }
        curve.push(CurvePoint {
            day: d.day,
            recovered: 1.0 - survival,
            at_risk,
        });
        at_risk = at_risk.saturating_sub(d.recovered + d.censored);
    }
    curve
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, eps: f64) -> bool {
        (a - b).abs() < eps
    }

    #[test]
    fn wilson_matches_the_published_examples() {
        // Newcombe (1998), table I: 81/263 -> 0.2553 to 0.3662;
        // 15/148 -> 0.0624 to 0.1605; 0/20 -> 0 to 0.1611; 1/29 ->
        // 0.0061 to 0.1718.
        let i = wilson(81, 263).unwrap();
        assert!(
            close(i.low, 0.2553, 5e-4) && close(i.high, 0.3662, 5e-4),
            "{i:?}"
        );
        let i = wilson(15, 148).unwrap();
        assert!(
            close(i.low, 0.0624, 5e-4) && close(i.high, 0.1605, 5e-4),
            "{i:?}"
        );
        let i = wilson(0, 20).unwrap();
        assert!(i.low == 0.0 && close(i.high, 0.1611, 5e-4), "{i:?}");
        let i = wilson(1, 29).unwrap();
        assert!(
            close(i.low, 0.0061, 5e-4) && close(i.high, 0.1718, 5e-4),
            "{i:?}"
        );
        assert_eq!(wilson(0, 0), None);
        assert_eq!(wilson(3, 2), None);
        let all = wilson(20, 20).unwrap();
        assert!(all.high == 1.0 && all.low > 0.8);
    }

    #[test]
    fn newcombes_hybrid_interval_matches_his_paper() {
        // Newcombe (1998), table II, method 10: 56/70 - 48/80 = 0.2,
        // 0.0524 to 0.3339; 9/10 - 3/10 = 0.6, 0.1705 to 0.8090;
        // 6/7 - 2/7: 0.0582 to 0.8062; 5/56 - 0/29: -0.0381 to 0.1926.
        for (k1, n1, k2, n2, lo, hi) in [
            (56, 70, 48, 80, 0.0524, 0.3339),
            (9, 10, 3, 10, 0.1705, 0.8090),
            (6, 7, 2, 7, 0.0582, 0.8062),
            (5, 56, 0, 29, -0.0381, 0.1926),
        ] {
            let i = newcombe(k1, n1, k2, n2).unwrap();
            assert!(
                close(i.low, lo, 5e-4) && close(i.high, hi, 5e-4),
                "{k1}/{n1} - {k2}/{n2}: {i:?}"
            );
        }
        assert_eq!(newcombe(1, 0, 1, 2), None);
    }

    #[test]
    fn the_z_test_uses_the_pooled_rate() {
        // 60/200 vs 40/200: pooled 0.25, se = sqrt(.25*.75*(2/200)) =
        // 0.0433, z = 0.1/0.0433 = 2.309, p = 0.0209.
        let t = z_test(60, 200, 40, 200).unwrap();
        assert!(close(t.z, 2.3094, 1e-3), "{t:?}");
        assert!(close(t.p_value, 0.0209, 5e-4), "{t:?}");
        assert!(t.significant());
        let same = z_test(30, 100, 30, 100).unwrap();
        assert!(close(same.z, 0.0, 1e-12) && close(same.p_value, 1.0, 1e-12));
        assert_eq!(z_test(0, 10, 0, 10).unwrap().p_value, 1.0);
        assert_eq!(z_test(1, 0, 1, 1), None);
        assert!(close(normal_cdf(Z95), 0.975, 1e-9));
        assert!(close(normal_cdf(0.0), 0.5, 1e-12));
    }

    #[test]
    fn thirty_against_thirty_six_percent_needs_about_960_closed_cases_per_arm() {
        let n = sample_size_per_arm(0.30, 0.36);
        assert!((950..=970).contains(&n), "{n}");
        assert_eq!(sample_size_per_arm(0.3, 0.3), u64::MAX);
        assert!(sample_size_per_arm(0.10, 0.20) < sample_size_per_arm(0.10, 0.15));
    }

    #[test]
    fn kaplan_meier_counts_open_cases_while_they_are_at_risk() {
        // Ten cases: day 1 two recover; day 2 two are censored (open, two
        // days old); day 3 three recover of the six left: S = 0.8 * 0.5.
        let curve = kaplan_meier(&[
            DayCount {
                day: 3,
                recovered: 3,
                censored: 3,
            },
            DayCount {
                day: 1,
                recovered: 2,
                censored: 0,
            },
            DayCount {
                day: 2,
                recovered: 0,
                censored: 2,
            },
        ]);
        assert_eq!(curve.len(), 3);
        assert!(close(curve[0].recovered, 0.2, 1e-12) && curve[0].at_risk == 10);
        assert!(close(curve[1].recovered, 0.2, 1e-12) && curve[1].at_risk == 8);
        assert!(close(curve[2].recovered, 0.6, 1e-12) && curve[2].at_risk == 6);
        // A naive share would say 5 of 10.
        assert!(kaplan_meier(&[]).is_empty());
    }

    #[test]
    fn an_interval_in_won_keeps_its_ends_in_order() {
        let i = Interval {
            low: -0.1,
            high: 0.2,
        }
        .scaled(1000.0);
        assert_eq!((i.low, i.high), (-100.0, 200.0));
        let i = Interval {
            low: -0.1,
            high: 0.2,
        }
        .scaled(-1.0);
        assert_eq!((i.low, i.high), (-0.2, 0.1));
    }
}

/// Seeded simulations: experiments whose true rates are known, run a
/// thousand times, as the "Done when" asks.
#[cfg(test)]
mod simulation {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    const RUNS: usize = 1_000;

    fn bernoulli(rng: &mut ChaCha8Rng, n: u64, p: f64) -> u64 {
        (0..n).filter(|_| rng.random::<f64>() < p).count() as u64
    }

    #[test]
    fn newcombes_interval_covers_the_true_difference_93_to_97_percent_of_1000_experiments() {
        let mut rng = ChaCha8Rng::seed_from_u64(25);
        // Rates and sizes as partners see them: a strong arm, a weak one,
        // a small test.
        for (p1, p2, n1, n2) in [
            (0.36, 0.30, 800, 800),
            (0.42, 0.10, 300, 60),
            (0.25, 0.22, 150, 150),
        ] {
            let truth = p1 - p2;
            let covered = (0..RUNS)
                .filter(|_| {
                    let (k1, k2) = (bernoulli(&mut rng, n1, p1), bernoulli(&mut rng, n2, p2));
                    newcombe(k1, n1, k2, n2).unwrap().contains(truth)
                })
                .count();
            let share = covered as f64 / RUNS as f64;
            assert!(
                (0.93..=0.97).contains(&share),
                "{p1} vs {p2}, n {n1}/{n2}: covered {share}"
            );
        }
    }

    #[test]
    fn the_z_test_at_5_percent_rejects_a_true_null_3_5_to_6_5_percent_of_1000_experiments() {
        let mut rng = ChaCha8Rng::seed_from_u64(24);
        for (p, n1, n2) in [(0.30, 800, 800), (0.12, 400, 100)] {
            let rejected = (0..RUNS)
                .filter(|_| {
                    let (k1, k2) = (bernoulli(&mut rng, n1, p), bernoulli(&mut rng, n2, p));
                    z_test(k1, n1, k2, n2).unwrap().significant()
                })
                .count();
            let share = rejected as f64 / RUNS as f64;
            assert!(
                (0.035..=0.065).contains(&share),
                "p {p}, n {n1}/{n2}: rejected {share}"
            );
        }
    }

    /// One simulated case: it failed on `start` (days into the experiment)
    /// and recovers on day `recovers` after that, or never.
    struct SimCase {
        start: f64,
        recovers: Option<f64>,
    }

    /// Cases arriving evenly over `days`, each recovering with probability
    /// `p` inside the window, most of them early (as dunning recoveries do).
    fn cases(rng: &mut ChaCha8Rng, n: usize, days: f64, p: f64, window: f64) -> Vec<SimCase> {
        (0..n)
            .map(|_| SimCase {
                start: rng.random::<f64>() * days,
                recovers: (rng.random::<f64>() < p).then(|| {
                    // Exponential with a mean of a fifth of the window,
                    // folded into it.
                    let t = -(1.0 - rng.random::<f64>()).ln() * window / 5.0;
                    t % window
                }),
            })
            .collect()
    }

    #[test]
    fn with_cases_in_progress_the_rates_stay_unbiased_where_a_naive_count_does_not() {
        // Read on day 40 of an experiment that takes cases from day 0 to
        // day 40, with a 14-day window: a third of the cases are still
        // in progress.
        let (p, window, now) = (0.30, 14.0, 40.0);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (mut closed_rate, mut naive_rate, mut left_out_rate, mut km_rate) =
            (0.0, 0.0, 0.0, 0.0);
        for _ in 0..RUNS {
            let cs = cases(&mut rng, 400, now, p, window);
            // The rule: only cases whose window has closed count.
            let closed: Vec<&SimCase> = cs.iter().filter(|c| c.start + window <= now).collect();
            let recovered_closed = closed.iter().filter(|c| c.recovers.is_some()).count();
            closed_rate += recovered_closed as f64 / closed.len() as f64;
            // Naive: every case so far, open ones as not recovered.
            let recovered_now = cs
                .iter()
                .filter(|c| c.recovers.is_some_and(|t| c.start + t <= now))
                .count();
            naive_rate += recovered_now as f64 / cs.len() as f64;
            // Naive the other way: open cases left out, early payers kept.
            let lost = closed.len() - recovered_closed;
            left_out_rate += recovered_now as f64 / (recovered_now + lost) as f64;
            // Kaplan-Meier by day since failure, open cases censored at
            // their age, closed ones at the window.
            let mut by_day = std::collections::BTreeMap::<u32, DayCount>::new();
            for c in &cs {
                let age = (now - c.start).min(window);
                let (day, recovered) = match c.recovers {
                    Some(t) if t <= age => (t.floor() as u32, true),
                    _ => (age.floor() as u32, false),
                };
                let e = by_day.entry(day).or_insert(DayCount {
                    day,
                    ..DayCount::default()
                });
                if recovered {
                    e.recovered += 1;
                } else {
                    e.censored += 1;
                }
            }
            let curve = kaplan_meier(&by_day.into_values().collect::<Vec<_>>());
            km_rate += curve.last().map_or(0.0, |c| c.recovered);
        }
        let runs = RUNS as f64;
        let (closed_rate, naive_rate, left_out_rate, km_rate) = (
            closed_rate / runs,
            naive_rate / runs,
            left_out_rate / runs,
            km_rate / runs,
        );
        // Over a thousand runs the mean's standard error is about 0.001.
        assert!(
            (closed_rate - p).abs() < 0.005,
            "closed-window rate {closed_rate}"
        );
        assert!(
            (km_rate - p).abs() < 0.01,
            "Kaplan-Meier at the window {km_rate}"
        );
        assert!(
            p - naive_rate > 0.015,
            "open cases counted as lost run low: {naive_rate}"
        );
        assert!(
            left_out_rate - p > 0.03,
            "open cases left out run high: {left_out_rate}"
        );
    }
}
