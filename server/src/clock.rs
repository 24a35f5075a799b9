//! Time is injected so tests can run a 12-day scenario in milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, FixedOffset, TimeZone, Utc};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

pub type SharedClock = Arc<dyn Clock>;

/// Korea has one time zone and no daylight saving: dates shown to customers
/// and sent to partners are in KST, as StepPay's are.
pub fn kst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("valid offset")
}

/// Unix milliseconds as KST text in a `chrono` format.
pub fn kst_text(ms: i64, format: &str) -> String {
    kst()
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format(format).to_string())
        .unwrap_or_default()
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The wall clock plus an offset the operator can move forward in dev mode
/// (`server dev advance --hours 72`), to watch a scenario unfold in `make run`.
#[derive(Default)]
pub struct DevClock {
    offset_ms: AtomicI64,
}

impl DevClock {
    pub fn set_offset_ms(&self, ms: i64) {
        self.offset_ms.store(ms, Ordering::SeqCst);
    }
}

impl Clock for DevClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
    }
}

/// A clock that moves only when told to.
pub struct ManualClock {
    millis: AtomicI64,
}

impl ManualClock {
    pub fn starting_at(t: DateTime<Utc>) -> Self {
        ManualClock {
            millis: AtomicI64::new(t.timestamp_millis()),
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.millis.load(Ordering::SeqCst)
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.millis
            .fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.millis.load(Ordering::SeqCst))
            .single()
            .expect("manual clock holds a valid timestamp")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let start = Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap();
        let clock = ManualClock::starting_at(start);
        assert_eq!(clock.now(), start);
        clock.advance(chrono::Duration::days(12));
        assert_eq!(clock.now(), start + chrono::Duration::days(12));
    }
}
