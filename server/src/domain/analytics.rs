//! Recovery analytics (issue 15): what each figure counts, as pure rules
//! over cohorts. No SQL, no clock.
//!
//! A case counts in the period in which its **payment failed** (the order's
//! `paymentDate` when the partner gave one, else when Rebound heard of the
//! failure), whatever happened to it later: a cohort view, so a period's
//! recovery rate does not move when later periods recover older debts, and
//! a failure reported late or imported lands on its own day. Time to
//! recovery counts from the failure too. Days are Korean days (KST, UTC+9);
//! weeks start on Monday, KST.
//!
//! Figures add up: a [`Cohort`] is one case or a whole day's cases of one
//! partner, and `+` merges them, so the store may keep daily rollups and
//! the figures of any period are the sum of its days.

use std::ops::AddAssign;

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::case::{CaseStatus, ChargeSource, StageStatus};
use super::scenario::{Channel, EndAction};
use crate::clock::kst;

/// What brought a case's money back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecoveredBy {
    /// A charge Rebound made (its source).
    Charge(ChargeSource),
    /// The partner reported the order paid (`PATCH /order/success`).
    Partner,
}

impl RecoveredBy {
    pub const ALL: [RecoveredBy; 6] = [
        RecoveredBy::Charge(ChargeSource::Retry),
        RecoveredBy::Charge(ChargeSource::Page),
        RecoveredBy::Charge(ChargeSource::MethodChange),
        RecoveredBy::Charge(ChargeSource::ScheduledDate),
        RecoveredBy::Partner,
        RecoveredBy::Charge(ChargeSource::Console),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecoveredBy::Charge(source) => source.as_str(),
            RecoveredBy::Partner => "partner",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// How an unrecovered case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedAs {
    /// The scenario ran out and paused the subscription.
    Paused,
    /// Canceled: by the scenario's end action or by the partner.
    Canceled,
}

/// Where a case stands, for the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Open,
    Recovered { by: RecoveredBy, after_ms: i64 },
    Ended(EndedAs),
}

impl Outcome {
    /// A stored case's outcome: its status, how it ended (`end_action`),
    /// the source of its succeeded charge (none: the partner settled it),
    /// and how long after opening it closed.
    pub fn of_stored(
        status: CaseStatus,
        end_action: Option<EndAction>,
        charged_by: Option<ChargeSource>,
        closed_after_ms: i64,
    ) -> Outcome {
        match status {
            // A charge in flight has not brought anything back yet.
            CaseStatus::Open | CaseStatus::Paying => Outcome::Open,
            CaseStatus::Recovered => Outcome::Recovered {
                by: charged_by.map_or(RecoveredBy::Partner, RecoveredBy::Charge),
                after_ms: closed_after_ms,
            },
            CaseStatus::Ended => match end_action {
                Some(EndAction::Cancel) => Outcome::Ended(EndedAs::Canceled),
                _ => Outcome::Ended(EndedAs::Paused),
            },
            // Canceled by the partner, or superseded by a newer case of the
            // same order after the scenario had paused it.
            CaseStatus::Canceled => match end_action {
                Some(EndAction::Pause) => Outcome::Ended(EndedAs::Paused),
                _ => Outcome::Ended(EndedAs::Canceled),
            },
        }
    }
}

/// One case, as the figures see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseFact {
    pub failed_at_ms: i64,
    /// KRW.
    pub amount: i64,
    /// The highest stage whose message went out (0: none yet).
    pub stage: i64,
    pub outcome: Outcome,
}

/// Time-to-recovery buckets: "within" these many hours.
pub const RECOVERY_HOURS: [i64; 12] = [1, 6, 24, 48, 72, 120, 168, 240, 336, 504, 720, 1440];
/// Stages are counted one by one up to this; higher ones count here.
pub const MAX_STAGE: usize = 10;

/// Channels in [`Cohort::messages`] order.
pub const CHANNELS: [Channel; 2] = [Channel::Alimtalk, Channel::Sms];

/// Where a notice's delivery stands, for the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeState {
    Delivered,
    /// Not delivered yet; the worker tries again (or has not tried yet).
    Retrying,
    /// Retries ran out, or the endpoint answered 410 Gone.
    Failed,
    /// The partner has no notify URL.
    NoEndpoint,
}

impl NoticeState {
    pub const ALL: [NoticeState; 4] = [
        NoticeState::Delivered,
        NoticeState::Retrying,
        NoticeState::Failed,
        NoticeState::NoEndpoint,
    ];

    /// From `events.status`; `None` for a status these figures do not know.
    pub fn of_stored(status: &str) -> Option<NoticeState> {
        match status {
            "DELIVERED" => Some(NoticeState::Delivered),
            "PENDING" => Some(NoticeState::Retrying),
            "FAILED" | "DISABLED" => Some(NoticeState::Failed),
            "NO_ENDPOINT" => Some(NoticeState::NoEndpoint),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Additive figures of a set of cases (and of the notices created on the
/// same days: see [`Cohort::notices`]). Stored as JSON in the daily rollup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cohort {
    pub opened: u64,
    pub opened_amount: i64,
    pub recovered: u64,
    pub recovered_amount: i64,
    /// By [`RecoveredBy::ALL`]: (count, amount).
    pub by_source: [(u64, i64); 6],
    /// Recovered cases per time-to-recovery bucket ([`RECOVERY_HOURS`],
    /// and one more for longer).
    pub recovery_time: [u64; 13],
    /// Cases by the highest stage sent: `[0]` none, ..., `[MAX_STAGE]`.
    pub by_stage: [u64; MAX_STAGE + 1],
    pub open: u64,
    /// Revenue at risk: the amount of the cases still open.
    pub open_amount: i64,
    pub paused: u64,
    pub canceled: u64,
    /// The cases' stage messages by [`CHANNELS`]: (sent, failed).
    pub messages: [(u64, u64); 2],
    /// Notices by [`NoticeState::ALL`]. Notices are not cases: they count
    /// on the Korean day they were created, in their state now.
    pub notices: [u64; 4],
}

impl Cohort {
    /// One stage message of a case in the set.
    pub fn add_message(&mut self, channel: Channel, status: StageStatus, n: u64) {
        let i = CHANNELS.iter().position(|c| *c == channel).unwrap_or(0);
        match status {
            StageStatus::Sent => self.messages[i].0 += n,
            StageStatus::Failed => self.messages[i].1 += n,
            // Still going out: neither sent nor failed yet.
            StageStatus::Sending | StageStatus::Skipped => {}
        }
    }

    /// `n` notices in this state.
    pub fn add_notices(&mut self, state: NoticeState, n: u64) {
        self.notices[state.index()] += n;
    }

    pub fn notices_in(&self, state: NoticeState) -> u64 {
        self.notices[state.index()]
    }

    pub fn messages_on(&self, channel: Channel) -> (u64, u64) {
        let i = CHANNELS.iter().position(|c| *c == channel).unwrap_or(0);
        self.messages[i]
    }

    pub fn of(case: &CaseFact) -> Cohort {
        let mut c = Cohort {
            opened: 1,
            opened_amount: case.amount,
            ..Cohort::default()
        };
        c.by_stage[case.stage.clamp(0, MAX_STAGE as i64) as usize] = 1;
        match case.outcome {
            Outcome::Open => {
                c.open = 1;
                c.open_amount = case.amount;
            }
            Outcome::Recovered { by, after_ms } => {
                c.recovered = 1;
                c.recovered_amount = case.amount;
                c.by_source[by.index()] = (1, case.amount);
                let hours_ceil = (after_ms.max(0) + 3_599_999) / 3_600_000;
                let bucket = RECOVERY_HOURS
                    .iter()
                    .position(|h| hours_ceil <= *h)
                    .unwrap_or(RECOVERY_HOURS.len());
                c.recovery_time[bucket] = 1;
            }
            Outcome::Ended(EndedAs::Paused) => c.paused = 1,
            Outcome::Ended(EndedAs::Canceled) => c.canceled = 1,
        }
        c
    }

    /// Recovered cases over opened cases; `None` with no case.
    pub fn rate_by_count(&self) -> Option<f64> {
        (self.opened > 0).then(|| self.recovered as f64 / self.opened as f64)
    }

    /// Recovered amount over the amount that failed.
    pub fn rate_by_amount(&self) -> Option<f64> {
        (self.opened_amount > 0).then(|| self.recovered_amount as f64 / self.opened_amount as f64)
    }

    /// The time within which `share` of the recovered cases came back, as
    /// the bucket's upper bound in hours (`None` past the last bucket, or
    /// with nothing recovered): "half were recovered within 48 hours".
    pub fn recovered_within_hours(&self, share: f64) -> Option<Option<i64>> {
        if self.recovered == 0 {
            return None;
        }
        // Nearest rank: the smallest bucket holding the ceil(share * n)th.
        let rank = ((share * self.recovered as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.recovery_time.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(RECOVERY_HOURS.get(i).copied());
            }
        }
        Some(None)
    }

    pub fn by(&self, by: RecoveredBy) -> (u64, i64) {
        self.by_source[by.index()]
    }
}

impl AddAssign<&Cohort> for Cohort {
    fn add_assign(&mut self, o: &Cohort) {
        self.opened += o.opened;
        self.opened_amount += o.opened_amount;
        self.recovered += o.recovered;
        self.recovered_amount += o.recovered_amount;
        for (a, b) in self.by_source.iter_mut().zip(o.by_source) {
            a.0 += b.0;
            a.1 += b.1;
        }
        for (a, b) in self.recovery_time.iter_mut().zip(o.recovery_time) {
            *a += b;
        }
        for (a, b) in self.by_stage.iter_mut().zip(o.by_stage) {
            *a += b;
        }
        self.open += o.open;
        self.open_amount += o.open_amount;
        self.paused += o.paused;
        self.canceled += o.canceled;
        for (a, b) in self.messages.iter_mut().zip(o.messages) {
            a.0 += b.0;
            a.1 += b.1;
        }
        for (a, b) in self.notices.iter_mut().zip(o.notices) {
            *a += b;
        }
    }
}

/// How a period's series is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Day,
    /// Monday to Sunday, KST.
    Week,
}

impl Interval {
    pub fn parse(raw: &str) -> Option<Interval> {
        match raw {
            "day" => Some(Interval::Day),
            "week" => Some(Interval::Week),
            _ => None,
        }
    }
}

/// A period of whole Korean days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// The default period: the 30 days ending today.
pub const DEFAULT_DAYS: u64 = 30;
/// The longest period one call may ask for.
pub const MAX_DAYS: i64 = 366;

impl Period {
    /// `from` and `to` as `YYYY-MM-DD` (Korean days, both included);
    /// without `to`, today; without `from`, 30 days ending at `to`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        today: NaiveDate,
    ) -> Result<Period, Vec<super::FieldError>> {
        use super::FieldError;
        // Exactly `YYYY-MM-DD` (RFC 3339's full-date): chrono alone would
        // also take `2026-1-5`.
        let date = |field: &str, raw: &str| {
            let shaped = raw.len() == 10
                && raw.bytes().enumerate().all(|(i, b)| {
                    if i == 4 || i == 7 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                });
            shaped
                .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
                .flatten()
                .ok_or_else(|| FieldError::new(field, "must be a date as YYYY-MM-DD (Korean days)"))
        };
        let mut problems = super::Problems::default();
        let to = match to {
            Some(raw) => problems.check(date("to", raw)),
            None => Some(today),
        };
        let from = match from {
            Some(raw) => problems.check(date("from", raw)),
            None => to.map(|t| t - Days::new(DEFAULT_DAYS - 1)),
        };
        problems.into_result()?;
        let (Some(from), Some(to)) = (from, to) else {
            return Err(vec![FieldError::new("from", "must be a date")]);
        };
        if from > to {
            return Err(vec![FieldError::rule("from", "must not be after to")]);
        }
        if (to - from).num_days() >= MAX_DAYS {
            return Err(vec![FieldError::rule(
                "from",
                format!("the period may span at most {MAX_DAYS} days"),
            )]);
        }
        Ok(Period { from, to })
    }

    /// `[start, end)` in Unix ms.
    pub fn bounds_ms(self) -> (i64, i64) {
        (
            kst_day_start(self.from),
            kst_day_start(self.to + Days::new(1)),
        )
    }
}

/// The Korean day a moment falls on.
pub fn kst_day(ms: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&kst())
        .date_naive()
}

/// The rollup's day number (days since 1970-01-01, KST), as the
/// migration's triggers compute it: `(ms + 9 h) / 24 h`.
pub fn day_number(day: NaiveDate) -> i64 {
    (day - NaiveDate::default()).num_days()
}

/// The day a rollup day number names.
pub fn day_of_number(n: i64) -> NaiveDate {
    NaiveDate::default() + chrono::Duration::days(n)
}

/// The first moment (Unix ms) of a Korean day.
pub fn kst_day_start(day: NaiveDate) -> i64 {
    kst()
        .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map_or(0, |d| d.timestamp_millis())
}

/// The bucket a day belongs to: itself, or its week's Monday.
pub fn bucket_of(day: NaiveDate, interval: Interval) -> NaiveDate {
    match interval {
        Interval::Day => day,
        Interval::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
    }
}

/// The figures of the cases opened in `[from_ms, to_ms)`, in total and per
/// bucket (every bucket of the period, empty ones included, in order).
pub fn summarize(
    cases: impl IntoIterator<Item = (NaiveDate, Cohort)>,
    from_ms: i64,
    to_ms: i64,
    interval: Interval,
) -> (Cohort, Vec<(NaiveDate, Cohort)>) {
    let (first_day, last_day) = (kst_day(from_ms), kst_day((to_ms - 1).max(from_ms)));
    let first = bucket_of(first_day, interval);
    let last = bucket_of(last_day, interval);
    let step = match interval {
        Interval::Day => 1,
        Interval::Week => 7,
    };
    let mut buckets = Vec::new();
    let mut d = first;
    while d <= last {
        buckets.push((d, Cohort::default()));
        d = d + Days::new(step);
    }
    let mut total = Cohort::default();
    for (day, cohort) in cases {
        // The period, not the buckets, decides: a week may begin before it.
        if day < first_day || day > last_day {
            continue;
        }
        let b = bucket_of(day, interval);
        if let Some(i) = buckets.iter().position(|(d, _)| *d == b) {
            buckets[i].1 += &cohort;
            total += &cohort;
        }
    }
    (total, buckets)
}

/// The dataset of known outcomes, repeated to `count` cases and
/// spread over `days` Korean days from `start_ms` (case `i` opens on day
/// `i % days`): per 20, 6 recovered by silent retry, 4 on the page, 2 by a
/// card change, 1 on a chosen date, 2 settled by the partner, 3 paused and
/// 2 still open; 220,000원 of which 160,000원 recovered. Seeded by tests,
/// the console's end-to-end walk and `make bench`.
pub fn sample_facts(count: usize, start_ms: i64, days: i64) -> Vec<CaseFact> {
    const HOUR: i64 = 3_600_000;
    let recovered = |by, hours: i64| Outcome::Recovered {
        by,
        after_ms: hours * HOUR,
    };
    let charge = RecoveredBy::Charge;
    // (amount, stage reached, outcome) of each of the twenty.
    let twenty: Vec<(i64, i64, Outcome)> = (0..6)
        .map(|i| (10_000, 1, recovered(charge(ChargeSource::Retry), 24 + i)))
        .chain((0..4).map(|_| (10_000, 1, recovered(charge(ChargeSource::Page), 2))))
        .chain((0..2).map(|_| (20_000, 2, recovered(charge(ChargeSource::MethodChange), 80))))
        .chain([(
            10_000,
            3,
            recovered(charge(ChargeSource::ScheduledDate), 200),
        )])
        .chain((0..2).map(|_| (5_000, 1, recovered(RecoveredBy::Partner, 10))))
        .chain((0..3).map(|_| (10_000, 4, Outcome::Ended(EndedAs::Paused))))
        .chain((0..2).map(|_| (15_000, 2, Outcome::Open)))
        .collect();
    (0..count)
        .map(|i| {
            let (amount, stage, outcome) = twenty[i % twenty.len()];
            CaseFact {
                failed_at_ms: start_ms
                    + (i as i64 % days.max(1)) * 24 * HOUR
                    + (i as i64 % 7) * 60_000,
                amount,
                stage,
                outcome,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn case(amount: i64, stage: i64, outcome: Outcome) -> CaseFact {
        CaseFact {
            failed_at_ms: 0,
            amount,
            stage,
            outcome,
        }
    }

    fn twenty() -> Vec<CaseFact> {
        sample_facts(20, 0, 1)
    }

    fn total(cases: &[CaseFact]) -> Cohort {
        let mut t = Cohort::default();
        for c in cases {
            t += &Cohort::of(c);
        }
        t
    }

    #[test]
    fn the_twenty_case_dataset_adds_up_as_the_definitions_say() {
        let t = total(&twenty());
        assert_eq!(t.opened, 20);
        assert_eq!(t.recovered, 15);
        assert_eq!(t.rate_by_count(), Some(0.75));
        // 6*10k + 4*10k + 2*20k + 10k + 2*5k = 160,000 of 220,000 (with
        // 3*10k paused and 2*15k open).
        assert_eq!(t.recovered_amount, 160_000);
        assert_eq!(t.opened_amount, 220_000);
        assert_eq!(t.rate_by_amount(), Some(160_000.0 / 220_000.0));
        assert_eq!(t.by(RecoveredBy::Charge(ChargeSource::Retry)), (6, 60_000));
        assert_eq!(t.by(RecoveredBy::Charge(ChargeSource::Page)), (4, 40_000));
        assert_eq!(
            t.by(RecoveredBy::Charge(ChargeSource::MethodChange)),
            (2, 40_000)
        );
        assert_eq!(
            t.by(RecoveredBy::Charge(ChargeSource::ScheduledDate)),
            (1, 10_000)
        );
        assert_eq!(t.by(RecoveredBy::Partner), (2, 10_000));
        assert_eq!((t.open, t.open_amount), (2, 30_000), "revenue at risk");
        assert_eq!((t.paused, t.canceled), (3, 0));
        assert_eq!(t.by_stage[..5], [0, 12, 4, 1, 3]);
        // Recovery times: 4x2h, 2x10h, 6x24-29h, 2x80h, 1x200h. The 8th of
        // 15 (the median) is in the 48 h bucket; the 14th (p90) in 120 h.
        assert_eq!(t.recovered_within_hours(0.5), Some(Some(48)));
        assert_eq!(t.recovered_within_hours(0.9), Some(Some(120)));
    }

    #[test]
    fn stored_cases_map_to_their_outcomes() {
        use CaseStatus as S;
        let retry = Some(ChargeSource::Retry);
        assert_eq!(Outcome::of_stored(S::Open, None, None, 0), Outcome::Open);
        assert_eq!(
            Outcome::of_stored(S::Paying, Some(EndAction::Pause), None, 0),
            Outcome::Open,
            "a charge in flight is still at risk"
        );
        assert_eq!(
            Outcome::of_stored(S::Recovered, None, retry, 7),
            recovered_ms(RecoveredBy::Charge(ChargeSource::Retry), 7)
        );
        assert_eq!(
            Outcome::of_stored(S::Recovered, Some(EndAction::Pause), None, 7),
            recovered_ms(RecoveredBy::Partner, 7),
            "no charge of ours: the partner settled it, even after a pause"
        );
        let ended = |status, action| Outcome::of_stored(status, action, None, 0);
        assert_eq!(ended(S::Ended, None), Outcome::Ended(EndedAs::Paused));
        assert_eq!(
            ended(S::Ended, Some(EndAction::Pause)),
            Outcome::Ended(EndedAs::Paused)
        );
        assert_eq!(
            ended(S::Ended, Some(EndAction::Cancel)),
            Outcome::Ended(EndedAs::Canceled)
        );
        assert_eq!(ended(S::Canceled, None), Outcome::Ended(EndedAs::Canceled));
        assert_eq!(
            ended(S::Canceled, Some(EndAction::Cancel)),
            Outcome::Ended(EndedAs::Canceled)
        );
        assert_eq!(
            ended(S::Canceled, Some(EndAction::Pause)),
            Outcome::Ended(EndedAs::Paused),
            "superseded after its scenario paused it"
        );
    }

    fn recovered_ms(by: RecoveredBy, after_ms: i64) -> Outcome {
        Outcome::Recovered { by, after_ms }
    }

    #[test]
    fn messages_and_notices_add_up_and_survive_the_rollup() {
        let mut day = Cohort::of(&case(1, 1, Outcome::Open));
        day.add_message(Channel::Alimtalk, StageStatus::Sent, 3);
        day.add_message(Channel::Alimtalk, StageStatus::Failed, 1);
        day.add_message(Channel::Sms, StageStatus::Sent, 2);
        day.add_message(Channel::Sms, StageStatus::Sending, 5);
        for status in [
            "DELIVERED",
            "DELIVERED",
            "PENDING",
            "FAILED",
            "DISABLED",
            "NO_ENDPOINT",
        ] {
            day.add_notices(NoticeState::of_stored(status).unwrap(), 1);
        }
        assert_eq!(NoticeState::of_stored("SOMETHING"), None);
        let mut two = day.clone();
        two += &day;
        assert_eq!(two.messages_on(Channel::Alimtalk), (6, 2));
        assert_eq!(two.messages_on(Channel::Sms), (4, 0), "sending is neither");
        assert_eq!(two.notices_in(NoticeState::Delivered), 4);
        assert_eq!(two.notices_in(NoticeState::Retrying), 2);
        assert_eq!(two.notices_in(NoticeState::Failed), 4);
        assert_eq!(two.notices_in(NoticeState::NoEndpoint), 2);
        let json = serde_json::to_string(&two).unwrap();
        assert_eq!(serde_json::from_str::<Cohort>(&json).unwrap(), two);
        // A rollup written before a figure existed reads it as zero.
        assert_eq!(
            serde_json::from_str::<Cohort>("{}").unwrap(),
            Cohort::default()
        );
    }

    #[test]
    fn day_numbers_match_the_migrations_arithmetic() {
        let ms = Utc
            .with_ymd_and_hms(2026, 11, 29, 15, 30, 0)
            .unwrap()
            .timestamp_millis();
        let n = (ms + 9 * HOUR) / (24 * HOUR);
        assert_eq!(day_of_number(n), kst_day(ms));
        assert_eq!(day_number(kst_day(ms)), n);
        assert_eq!(day_of_number(0).to_string(), "1970-01-01");
    }

    #[test]
    fn a_period_defaults_to_thirty_days_ending_today_and_refuses_nonsense() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let today = d("2026-12-02");
        let p = Period::parse(None, None, today).unwrap();
        assert_eq!((p.from, p.to), (d("2026-11-03"), today));
        let p = Period::parse(Some("2026-11-01"), Some("2026-11-30"), today).unwrap();
        assert_eq!(p.bounds_ms().0, kst_day_start(d("2026-11-01")));
        assert_eq!(p.bounds_ms().1, kst_day_start(d("2026-12-01")));
        let p = Period::parse(None, Some("2026-01-30"), today).unwrap();
        assert_eq!(p.from, d("2026-01-01"));
        let fields = |f: Option<&str>, t: Option<&str>| -> Vec<String> {
            Period::parse(f, t, today)
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(fields(Some("2026-13-01"), None), ["from"]);
        assert_eq!(fields(Some("yesterday"), Some("x")), ["to", "from"]);
        assert_eq!(fields(Some("2026-12-01"), Some("2026-11-01")), ["from"]);
        assert_eq!(fields(Some("2024-01-01"), Some("2026-01-01")), ["from"]);
        assert!(
            Period::parse(Some("2025-01-01"), Some("2026-01-01"), today).is_ok(),
            "366 days"
        );
    }

    #[test]
    fn an_empty_period_has_no_rates_rather_than_zero() {
        let t = Cohort::default();
        assert_eq!(t.rate_by_count(), None);
        assert_eq!(t.rate_by_amount(), None);
        assert_eq!(t.recovered_within_hours(0.5), None);
    }

    #[test]
    fn recovery_times_fall_in_the_bucket_that_holds_them() {
        let one = |hours_ms: i64| {
            Cohort::of(&case(
                1,
                0,
                Outcome::Recovered {
                    by: RecoveredBy::Partner,
                    after_ms: hours_ms,
                },
            ))
            .recovered_within_hours(0.5)
        };
        assert_eq!(one(0), Some(Some(1)));
        assert_eq!(one(HOUR), Some(Some(1)), "exactly an hour is within 1 h");
        assert_eq!(one(HOUR + 1), Some(Some(6)));
        assert_eq!(one(1440 * HOUR), Some(Some(1440)));
        assert_eq!(one(1441 * HOUR), Some(None), "past 60 days");
        assert_eq!(one(-5), Some(Some(1)), "clock skew counts as at once");
    }

    #[test]
    fn stages_past_the_last_counted_one_share_its_slot() {
        let c = Cohort::of(&case(1, 42, Outcome::Open));
        assert_eq!(c.by_stage[MAX_STAGE], 1);
    }

    #[test]
    fn a_case_counts_in_the_korean_day_and_week_it_opened() {
        // 2026-11-29 15:30 UTC is Monday 2026-11-30 00:30 in Seoul.
        let ms = Utc
            .with_ymd_and_hms(2026, 11, 29, 15, 30, 0)
            .unwrap()
            .timestamp_millis();
        let day = kst_day(ms);
        assert_eq!(day.to_string(), "2026-11-30");
        assert_eq!(bucket_of(day, Interval::Week).to_string(), "2026-11-30");
        let sunday = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        assert_eq!(bucket_of(sunday, Interval::Week).to_string(), "2026-11-30");
        assert_eq!(
            kst_day_start(day),
            Utc.with_ymd_and_hms(2026, 11, 29, 15, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
    }

    #[test]
    fn a_period_lists_every_bucket_and_sums_only_its_own_days() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let from = kst_day_start(d("2026-11-01"));
        let to = kst_day_start(d("2026-11-04"));
        let one = Cohort::of(&case(100, 1, Outcome::Open));
        let (total, series) = summarize(
            [
                (d("2026-10-31"), one.clone()),
                (d("2026-11-01"), one.clone()),
                (d("2026-11-03"), one.clone()),
                (d("2026-11-03"), one.clone()),
                (d("2026-11-04"), one.clone()),
            ],
            from,
            to,
            Interval::Day,
        );
        assert_eq!(total.opened, 3, "only 11-01 to 11-03");
        let per_day: Vec<(String, u64)> = series
            .iter()
            .map(|(day, c)| (day.to_string(), c.opened))
            .collect();
        assert_eq!(
            per_day,
            [
                ("2026-11-01".to_owned(), 1),
                ("2026-11-02".to_owned(), 0),
                ("2026-11-03".to_owned(), 2)
            ]
        );
        let (week_total, weeks) = summarize(
            [
                (d("2026-10-31"), one.clone()),
                (d("2026-11-01"), one.clone()),
            ],
            from,
            to,
            Interval::Week,
        );
        assert_eq!(
            week_total.opened, 1,
            "10-31 is in the first week but not the period"
        );
        assert_eq!(
            weeks.iter().map(|(d, _)| d.to_string()).collect::<Vec<_>>(),
            ["2026-10-26", "2026-11-02"],
            "the weeks holding 11-01 (a Sunday) and 11-02 to 11-03"
        );
        assert_eq!(Interval::parse("week"), Some(Interval::Week));
        assert_eq!(Interval::parse("month"), None);
    }
}
