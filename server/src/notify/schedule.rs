//! When a failed notice is tried again (pure rules): the Standard Webhooks
//! schedule stretched to about three days, with jitter so a partner coming
//! back up is not hit by every backlog entry in the same second.

/// Delays after the 1st, 2nd, ... failed attempt, in seconds: 5 s, 5 min,
/// 30 min, 2 h, 5 h, 10 h, 10 h, 14 h, 24 h. Eleven attempts over about
/// 66 hours; after the last, the notice is marked failed (it stays in the
/// event list and can be redelivered).
const DELAYS_SECS: [i64; 9] = [
    5,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    10 * 3600,
    14 * 3600,
    24 * 3600,
];

/// A partner's `Retry-After` is honoured up to this.
const MAX_RETRY_AFTER_SECS: i64 = 24 * 3600;

/// The next attempt's time after `failed_attempts` failures (counting the
/// one that just failed), or `None` to give up. `jitter` in [0, 1) spreads
/// the delay by up to ±10 %; `retry_after_secs` (the endpoint's
/// `Retry-After`) can only push it later.
pub fn next_attempt_at(
    now_ms: i64,
    failed_attempts: i64,
    jitter: f64,
    retry_after_secs: Option<i64>,
) -> Option<i64> {
    let index = usize::try_from(failed_attempts - 1).ok()?;
    let base = *DELAYS_SECS.get(index)? as f64;
    let spread = base * (0.9 + 0.2 * jitter.clamp(0.0, 1.0));
    let wanted = retry_after_secs
        .map(|s| s.clamp(0, MAX_RETRY_AFTER_SECS) as f64)
        .unwrap_or(0.0);
    Some(now_ms + (spread.max(wanted) * 1000.0) as i64)
}

/// `Retry-After` as seconds (the delta form; an HTTP date is rare from
/// webhook receivers and is ignored).
pub fn parse_retry_after(value: &str) -> Option<i64> {
    value.trim().parse::<i64>().ok().filter(|s| *s >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_for_about_three_days_then_gives_up() {
        let mut t = 0;
        let mut attempts = 1;
        while let Some(next) = next_attempt_at(t, attempts, 0.5, None) {
            t = next;
            attempts += 1;
        }
        assert_eq!(attempts, 10, "ten attempts");
        let hours = t as f64 / 3_600_000.0;
        assert!((60.0..72.0).contains(&hours), "{hours} h");
    }

    #[test]
    fn jitter_stays_within_ten_percent_and_retry_after_only_delays() {
        assert_eq!(next_attempt_at(0, 1, 0.0, None), Some(4_500));
        assert_eq!(next_attempt_at(0, 1, 0.999_999, None), Some(5_499));
        assert_eq!(next_attempt_at(0, 1, 0.5, Some(120)), Some(120_000));
        assert_eq!(next_attempt_at(0, 2, 0.5, Some(1)), Some(300_000));
        assert_eq!(
            next_attempt_at(0, 1, 0.5, Some(10 * 86_400)),
            Some(86_400_000),
            "capped at a day"
        );
        assert_eq!(parse_retry_after(" 30 "), Some(30));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
