//! The silent-retry planner: when Rebound next charges a case's saved card
//! by itself, or why it stops. Pure: the store gathers the facts (the
//! case's charges, the key's recent attempts) and writes the plan in the
//! transaction that records the decline, so a crash cannot leave a stale
//! due time behind.
//!
//! The rules, in order:
//! 1. retries off in the scenario or a `hard` decline (the key is dead)
//!    stop them; a `setup` decline (the PG refused the partner's
//!    credentials) waits for the next step, as the partner's charges stop
//!    as a whole once such declines repeat across its cases (the store's
//!    rule), and one refusal alone may have been the PG's passing trouble;
//! 2. a key's budget (default 8 attempts in 30 days, page attempts
//!    included; Visa charges fees past 15) stops them, and so do
//!    `unknown_limit` declines of unknown class on one key;
//! 3. a date the customer chose is charged at 10:00 that day, before any
//!    ladder step, and the ladder resumes after it;
//! 4. the ladder (default D+1, D+3, D+5, D+10, D+14 after the failure, at
//!    10:00 KST) gives the next step after the last silent charge;
//! 5. the latest decline can bring it forward or move it: a limit/balance
//!    decline to the next payday (10th or 25th) when that comes before the
//!    ladder's step after it, a daily-count decline to tomorrow, a
//!    maintenance decline to after the night window, a passing failure
//!    to an hour later;
//! 6. never in the card companies' night maintenance (23:30-00:40 KST),
//!    never two silent charges on one Korean day, never in the past.

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, NaiveTime, TimeZone, Timelike};
use serde::{Deserialize, Serialize};

use super::case::{ChargeSource, stored_enum};
// Card companies' maintenance and paydays are Korean.
use super::decline::{Decline, Wait};
use crate::clock::kst;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// The budget's window: Visa counts reattempts of one card over 30 days.
pub const BUDGET_WINDOW_MS: i64 = 30 * DAY_MS;
/// Charges people may ask for on one case in one Korean day (pay-now
/// presses, card changes and the console's "retry now" together): a card
/// declined over and over trips the card networks' rules.
pub const PAGE_ATTEMPTS_PER_DAY: i64 = 5;

/// The partner's retry settings, versioned with its scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RetryPolicy {
    /// Off for a partner who retries on its own side (a StepCover partner).
    pub enabled: bool,
    /// Days after the failure (Korean days), strictly increasing.
    pub ladder_days: Vec<i64>,
    /// The hour (KST) of ladder steps, paydays and chosen dates.
    pub hour: u32,
    /// Attempts per billing key in 30 days, page attempts included.
    pub budget: i64,
    /// Declines of unknown class one key may take before retries stop.
    pub unknown_limit: i64,
}

impl Default for RetryPolicy {
    /// StepPay's own dunning ladder; Stripe's default budget of 8.
    fn default() -> Self {
        RetryPolicy {
            enabled: true,
            ladder_days: vec![1, 3, 5, 10, 14],
            hour: 10,
            budget: 8,
            unknown_limit: 3,
        }
    }
}

impl RetryPolicy {
    /// No silent retries (the default's other settings kept).
    pub fn off() -> RetryPolicy {
        RetryPolicy {
            enabled: false,
            ..RetryPolicy::default()
        }
    }

    /// When the ladder's last step falls for a payment that failed at
    /// `failed_at_ms`: past it, the ladder has nothing left to try.
    pub fn ladder_end(&self, failed_at_ms: i64) -> Option<i64> {
        let last = *self.ladder_days.last()?;
        Some(at_hour(
            day_of(failed_at_ms) + Days::new(last.max(0) as u64),
            self.hour,
        ))
    }

    /// The policy's own problems, as `(field, message)`.
    pub fn problems(&self) -> Vec<(&'static str, &'static str)> {
        let mut out = Vec::new();
        if self.ladder_days.len() > 10
            || self.ladder_days.windows(2).any(|w| w[0] >= w[1])
            || self.ladder_days.iter().any(|d| !(1..=30).contains(d))
        {
            out.push((
                "retries.ladderDays",
                "at most 10 days, increasing, each from 1 to 30",
            ));
        }
        if !(7..=21).contains(&self.hour) {
            out.push(("retries.hour", "between 7 and 21 (KST)"));
        }
        if !(1..=15).contains(&self.budget) {
            out.push((
                "retries.budget",
                "between 1 and 15 (card networks fine more)",
            ));
        }
        if !(1..=10).contains(&self.unknown_limit) {
            out.push(("retries.unknownLimit", "between 1 and 10"));
        }
        out
    }
}

/// A charge already made on the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub at_ms: i64,
    pub source: ChargeSource,
    /// `None` for a charge that succeeded or whose outcome is unknown.
    pub decline: Option<Decline>,
    /// Made with the billing key the case holds now (a new card starts
    /// afresh: its budget, its hard and unknown declines).
    pub current_key: bool,
}

/// What the planner looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryFacts<'a> {
    /// When the partner's charge failed.
    pub failed_at_ms: i64,
    pub now_ms: i64,
    /// The case's charges, oldest first.
    pub attempts: &'a [Attempt],
    /// The partner's own decline of the renewal (its `errorCode`), while
    /// the case still holds the key it was declined with.
    pub initial_decline: Option<Decline>,
    /// Charges of the current key in the last 30 days, on any case.
    pub key_attempts_30d: i64,
    /// The payment date the customer chose on the page.
    pub chosen_date: Option<NaiveDate>,
    /// When charges of the same card reached the PG for other cases (the
    /// last 30 days): a card is charged at most once a Korean day.
    pub key_charged_at: &'a [i64],
    /// The case's minute in the policy's hour (`slot_spread_ms`).
    pub spread_ms: i64,
}

stored_enum!(
    /// Why a case gets no more silent charges (`recovery_cases.retry_stop`).
    Stop, "retry stop" {
        /// The scenario has retries off.
        Disabled => "DISABLED",
        /// The key is dead; the messages ask for a new card.
        HardDecline => "HARD_DECLINE",
        /// Our configuration at the PG was wrong (written by versions that
        /// stopped a case on one setup decline; such cases plan again when
        /// the operator clears the partner's problem).
        SetupDecline => "SETUP_DECLINE",
        /// The key's attempts in 30 days are used up.
        Budget => "BUDGET",
        /// Too many declines nobody could read.
        UnknownLimit => "UNKNOWN_LIMIT",
        /// Every step of the ladder was tried.
        LadderDone => "LADDER_DONE",
        /// The order has no billing key.
        NoBillingKey => "NO_BILLING_KEY",
        /// The case is in an experiment's holdout: only a date the customer
        /// chose is charged.
        Holdout => "HOLDOUT",
        /// The order's `paymentGateway` has no adapter here.
        NoAdapter => "NO_ADAPTER",
        /// A Toss key whose customer key nobody named: charging it with a
        /// guess is a sure decline (`gateway_account::route`).
        NoCustomerKey => "NO_CUSTOMER_KEY",
        /// The scenario ended by canceling the subscription: nothing more
        /// is charged unasked (the customer may still pay on the page).
        SubscriptionCanceled => "SUBSCRIPTION_CANCELED",
        /// A newer case opened for the same order carries the recovery.
        Superseded => "SUPERSEDED",
        /// Opened before silent retries existed: none, unless the operator
        /// opts the partner in (`server partner retries-older-cases`).
        OlderCase => "OLDER_CASE",
    }
);

/// The next silent charge, or why there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Charge { at_ms: i64, source: ChargeSource },
    Stop(Stop),
}

impl Plan {
    pub fn at_ms(self) -> Option<i64> {
        match self {
            Plan::Charge { at_ms, .. } => Some(at_ms),
            Plan::Stop(_) => None,
        }
    }
}

fn day_of(ms: i64) -> NaiveDate {
    kst()
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

fn at_hour(day: NaiveDate, hour: u32) -> i64 {
    let time = NaiveTime::from_hms_opt(hour.min(23), 0, 0).unwrap_or_default();
    kst()
        .from_local_datetime(&day.and_time(time))
        .single()
        .map(|t| t.timestamp_millis())
        .unwrap_or_default()
}

/// The start (00:00 KST) of the Korean day of `ms`.
pub fn day_start(ms: i64) -> i64 {
    at_hour(day_of(ms), 0)
}

fn kst_time(ms: i64) -> Option<DateTime<FixedOffset>> {
    kst().timestamp_millis_opt(ms).single()
}

/// Inside the card companies' night maintenance (23:30-00:40 KST), the end
/// of the window; else `None`.
pub fn maintenance_end(ms: i64) -> Option<i64> {
    let t = kst_time(ms)?;
    let minutes = t.hour() * 60 + t.minute();
    if minutes >= 23 * 60 + 30 {
        Some(at_hour(t.date_naive() + Days::new(1), 0) + 40 * MINUTE_MS)
    } else if minutes < 40 {
        Some(at_hour(t.date_naive(), 0) + 40 * MINUTE_MS)
    } else {
        None
    }
}

/// The first payday (10th or 25th, at the case's slot) after `ms`.
fn next_payday(ms: i64, slot: &impl Fn(NaiveDate) -> i64) -> i64 {
    let mut day = day_of(ms);
    loop {
        if matches!(day.day(), 10 | 25) && slot(day) > ms {
            return slot(day);
        }
        day = day + Days::new(1);
    }
}

/// Where in the retry hour a case's charges fall: cases are spread over
/// the hour (by id, so the partners' cases interleave), so a partner's
/// 10:00 wave is not thousands of charges at 10:00:00 at the PG and the
/// card companies. Whole minutes; the first case of a database is at :00.
pub fn slot_spread_ms(case_id: i64) -> i64 {
    (case_id - 1).rem_euclid(60) * 37 % 60 * MINUTE_MS
}

/// The next silent charge for a case whose latest charge (if any) was
/// declined or never made.
pub fn plan(policy: &RetryPolicy, f: &RetryFacts<'_>) -> Plan {
    if !policy.enabled {
        return Plan::Stop(Stop::Disabled);
    }
    let on_key: Vec<&Attempt> = f.attempts.iter().filter(|a| a.current_key).collect();
    let latest = match on_key.last() {
        Some(a) => a.decline,
        None => f.initial_decline,
    };
    if latest == Some(Decline::Hard) {
        return Plan::Stop(Stop::HardDecline);
    }
    if f.key_attempts_30d >= policy.budget {
        return Plan::Stop(Stop::Budget);
    }
    let unknown = on_key
        .iter()
        .filter(|a| a.decline == Some(Decline::Unknown))
        .count() as i64;
    if unknown >= policy.unknown_limit {
        return Plan::Stop(Stop::UnknownLimit);
    }
    // A day a charge of this key already reached the PG on: a silent one of
    // this case, or any of another case on the same card.
    let mut silent_days: Vec<NaiveDate> = f
        .attempts
        .iter()
        .filter(|a| a.source.is_silent())
        .map(|a| day_of(a.at_ms))
        .collect();
    silent_days.extend(f.key_charged_at.iter().map(|ms| day_of(*ms)));
    // The case's own minute in the policy's hour.
    let slot = |day: NaiveDate| at_hour(day, policy.hour) + f.spread_ms;
    let last_silent = f
        .attempts
        .iter()
        .filter(|a| a.source.is_silent())
        .map(|a| a.at_ms)
        .max();
    // Never right after another attempt, whoever made it: an hour apart.
    let not_before = f
        .attempts
        .iter()
        .map(|a| a.at_ms + HOUR_MS)
        .max()
        .unwrap_or(f.now_ms)
        .max(f.now_ms);

    // The customer's date comes first, once.
    if let Some(date) = f.chosen_date {
        let due = slot(date);
        let done = f
            .attempts
            .iter()
            .any(|a| a.source == ChargeSource::ScheduledDate && a.at_ms >= due - DAY_MS);
        if !done {
            return Plan::Charge {
                at_ms: settle(due, not_before, &slot, &silent_days),
                source: ChargeSource::ScheduledDate,
            };
        }
    }

    let failed_day = day_of(f.failed_at_ms);
    let steps: Vec<i64> = policy
        .ladder_days
        .iter()
        .map(|d| slot(failed_day + Days::new(*d as u64)))
        .collect();
    let after = last_silent.unwrap_or(f.failed_at_ms);
    let next_index = steps.iter().position(|s| *s > after);
    let Some(i) = next_index else {
        return Plan::Stop(Stop::LadderDone);
    };
    let t1 = steps[i];
    let mut at = match latest {
        Some(Decline::Soft(wait)) => {
            // Waits count from the decline, not from now: asked again at
            // the planned moment (the claim's check) or later, the plan
            // is the same moment.
            let now = on_key.last().map_or(f.failed_at_ms, |a| a.at_ms);
            match wait {
                Wait::Payday => {
                    let payday = next_payday(now, &slot);
                    // When the ladder has no later step, only a sooner payday.
                    let bound = steps.get(i + 1).copied().unwrap_or(t1 + 1);
                    if payday < bound { payday } else { t1 }
                }
                Wait::NextDay => t1.min(slot(day_of(now) + Days::new(1))),
                Wait::AfterMaintenance => {
                    let end = maintenance_end(now)
                        .unwrap_or_else(|| at_hour(day_of(now) + Days::new(1), 0) + 40 * MINUTE_MS);
                    t1.min(end)
                }
                Wait::Soon => t1.min(now + HOUR_MS),
            }
        }
        _ => t1,
    };
    at = settle(at, not_before, &slot, &silent_days);
    Plan::Charge {
        at_ms: at,
        source: ChargeSource::Retry,
    }
}

/// Moves a charge time to the first allowed moment at or after it: not
/// before `not_before` (now, and an hour after the latest attempt), not in the night window, not on a day that had a silent
/// charge (then at `hour` the next day).
fn settle(
    mut at: i64,
    not_before: i64,
    slot: &impl Fn(NaiveDate) -> i64,
    silent_days: &[NaiveDate],
) -> i64 {
    at = at.max(not_before);
    // Each round moves forward to a fixed point (a day move lands at the
    // slot, outside the window); a month of taken days at the most.
    for _ in 0..40 {
        if let Some(end) = maintenance_end(at) {
            at = end;
        }
        let day = day_of(at);
        if silent_days.contains(&day) {
            at = slot(day + Days::new(1));
            continue;
        }
        if maintenance_end(at).is_none() {
            break;
        }
    }
    at
}

/// Why a charge may not be made now: the same gates for every charge,
/// whoever asks (the page, a card change, the console, a silent retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// The order has no billing key: a card must be registered first.
    NoBillingKey,
    /// The order's `paymentGateway` has no adapter on this server.
    NoAdapter,
    /// A Toss key without the customer key it was issued under: a new
    /// card (issued by Rebound, under its own key) will pay.
    NoCustomerKey,
    /// The PG refused the partner's credentials on several cases: every
    /// charge of the partner waits for the operator.
    GatewayProblem,
    /// The key's latest decline was hard: it will never pay; a new card will.
    HardDecline,
    /// The key's attempts in 30 days are used up (the card networks fine
    /// more): a new card, or the next month.
    Budget,
    /// The card companies' night maintenance (23:30-00:40 KST).
    NightWindow { until_ms: i64 },
    /// Attempts people asked for (the page, a card change, the console)
    /// are used up for the Korean day.
    DailyLimit { until_ms: i64 },
    /// A silent charge whose moment the rules no longer give (overdue after
    /// an outage, a charge of the key already reached the PG today, the plan
    /// moved): planned again instead.
    Replanned(Plan),
}

impl Blocked {
    /// When the charge could go, if it is a matter of time.
    pub fn until_ms(self) -> Option<i64> {
        match self {
            Blocked::NightWindow { until_ms } | Blocked::DailyLimit { until_ms } => Some(until_ms),
            Blocked::Replanned(plan) => plan.at_ms(),
            _ => None,
        }
    }
}

/// The gates a charge passes besides its case's status. `customer_today`
/// counts today's attempts people asked for on this case (page, card
/// change, console).
pub fn gate(
    policy: &RetryPolicy,
    f: &RetryFacts<'_>,
    source: ChargeSource,
    has_billing_key: bool,
    customer_today: i64,
) -> Result<(), Blocked> {
    if !has_billing_key {
        return Err(Blocked::NoBillingKey);
    }
    if source.is_silent() {
        // The plan again, by the rules, as of now: an overdue retry is
        // not sent at a moment the rules would not have chosen.
        return match plan(policy, f) {
            Plan::Charge { at_ms, .. } if at_ms <= f.now_ms => Ok(()),
            other => Err(Blocked::Replanned(other)),
        };
    }
    if let Some(until_ms) = maintenance_end(f.now_ms) {
        return Err(Blocked::NightWindow { until_ms });
    }
    let latest_on_key = f
        .attempts
        .iter()
        .rev()
        .find(|a| a.current_key)
        .map(|a| a.decline)
        .unwrap_or(f.initial_decline);
    if latest_on_key == Some(Decline::Hard) {
        return Err(Blocked::HardDecline);
    }
    if f.key_attempts_30d >= policy.budget {
        return Err(Blocked::Budget);
    }
    if customer_today >= PAGE_ATTEMPTS_PER_DAY {
        return Err(Blocked::DailyLimit {
            until_ms: at_hour(day_of(f.now_ms) + Days::new(1), 0) + 40 * MINUTE_MS,
        });
    }
    Ok(())
}

/// A stage's message and a silent charge on the same Korean day: the
/// charge goes first and the message waits for its outcome (sent only if
/// it fails). Returns the stage's new due time when it must wait.
pub fn defer_stage(stage_at_ms: i64, retry_at_ms: Option<i64>) -> Option<i64> {
    let retry = retry_at_ms?;
    (day_of(stage_at_ms) == day_of(retry) && stage_at_ms <= retry).then_some(retry + 10 * MINUTE_MS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::decline::Decline::{Hard, Setup, Soft, Unknown};

    /// KST wall time as Unix ms.
    fn t(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
        kst()
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .timestamp_millis()
    }

    fn show(ms: i64) -> String {
        kst_time(ms).unwrap().format("%m-%d %H:%M").to_string()
    }

    fn retry(at_ms: i64, decline: Decline) -> Attempt {
        Attempt {
            at_ms,
            source: ChargeSource::Retry,
            decline: Some(decline),
            current_key: true,
        }
    }

    fn facts(failed: i64, now: i64, attempts: &[Attempt]) -> RetryFacts<'_> {
        RetryFacts {
            failed_at_ms: failed,
            now_ms: now,
            attempts,
            initial_decline: None,
            key_attempts_30d: attempts.iter().filter(|a| a.current_key).count() as i64,
            chosen_date: None,
            key_charged_at: &[],
            spread_ms: 0,
        }
    }

    /// Runs the planner as the engine would: charge at each planned time,
    /// declined with `decline` every time, until it stops.
    fn walk(policy: &RetryPolicy, failed: i64, decline: Decline) -> (Vec<String>, Stop) {
        let mut attempts = Vec::new();
        let mut now = failed;
        for _ in 0..40 {
            match plan(policy, &facts(failed, now, &attempts)) {
                Plan::Charge { at_ms, .. } => {
                    assert!(at_ms >= now, "never in the past");
                    now = at_ms;
                    attempts.push(retry(at_ms, decline));
                }
                Plan::Stop(why) => return (attempts.iter().map(|a| show(a.at_ms)).collect(), why),
            }
        }
        panic!("the planner never stopped");
    }

    // 2026-12-01 (Tue) 13:05 KST: the partner's renewal failed.
    fn failed() -> i64 {
        t(2026, 12, 1, 13, 5)
    }

    #[test]
    fn the_ladder_is_d1_d3_d5_d10_d14_at_ten() {
        let (times, stop) = walk(&RetryPolicy::default(), failed(), Unknown);
        assert_eq!(times, ["12-02 10:00", "12-04 10:00", "12-06 10:00"]);
        assert_eq!(stop, Stop::UnknownLimit, "unknown declines: a few retries");
        let lenient = RetryPolicy {
            unknown_limit: 10,
            ..RetryPolicy::default()
        };
        let (times, stop) = walk(&lenient, failed(), Unknown);
        assert_eq!(
            times,
            [
                "12-02 10:00",
                "12-04 10:00",
                "12-06 10:00",
                "12-11 10:00",
                "12-15 10:00"
            ]
        );
        assert_eq!(stop, Stop::LadderDone);
    }

    #[test]
    fn a_limit_decline_waits_for_payday_when_it_comes_before_the_next_step() {
        let (times, stop) = walk(&RetryPolicy::default(), failed(), Soft(Wait::Payday));
        // 12-06 would be next, but the 10th comes before the step after
        // it (12-11): the try moves to the payday. The ladder then goes on.
        assert_eq!(
            times,
            [
                "12-02 10:00",
                "12-04 10:00",
                "12-10 10:00",
                "12-11 10:00",
                "12-15 10:00"
            ]
        );
        assert_eq!(stop, Stop::LadderDone);
    }

    #[test]
    fn a_payday_sooner_than_the_ladder_brings_the_try_forward() {
        // Failed on the 23rd: the 25th comes before D+3.
        let failed = t(2026, 12, 23, 9, 0);
        let attempts = [retry(t(2026, 12, 24, 10, 0), Soft(Wait::Payday))];
        let p = plan(
            &RetryPolicy::default(),
            &facts(failed, t(2026, 12, 24, 10, 1), &attempts),
        );
        assert_eq!(p.at_ms().map(show).as_deref(), Some("12-25 10:00"));
    }

    #[test]
    fn soft_declines_bring_the_next_try_forward_but_once_a_day() {
        let now = t(2026, 12, 2, 10, 0);
        // A page attempt (not silent) declined for a passing failure: an
        // hour later, the same day (no silent charge yet that day).
        let page = [Attempt {
            at_ms: now,
            source: ChargeSource::Page,
            decline: Some(Soft(Wait::Soon)),
            current_key: true,
        }];
        let p = plan(&RetryPolicy::default(), &facts(failed(), now, &page));
        assert_eq!(
            p,
            Plan::Charge {
                at_ms: t(2026, 12, 2, 11, 0),
                source: ChargeSource::Retry
            }
        );
        // After a silent charge that day: tomorrow at ten.
        let silent = [retry(now, Soft(Wait::Soon))];
        let p = plan(&RetryPolicy::default(), &facts(failed(), now, &silent));
        assert_eq!(p.at_ms().map(show).as_deref(), Some("12-03 10:00"));
        // The daily count: tomorrow, sooner than D+3.
        let daily = [retry(now, Soft(Wait::NextDay))];
        let p = plan(&RetryPolicy::default(), &facts(failed(), now, &daily));
        assert_eq!(p.at_ms().map(show).as_deref(), Some("12-03 10:00"));
    }

    #[test]
    fn nothing_is_charged_in_the_night_maintenance_window() {
        // A page attempt at 23:50 refused for maintenance: after the
        // window, and an hour after that attempt.
        let now = t(2026, 12, 2, 23, 50);
        let page = [Attempt {
            at_ms: now,
            source: ChargeSource::Page,
            decline: Some(Soft(Wait::AfterMaintenance)),
            current_key: true,
        }];
        let p = plan(&RetryPolicy::default(), &facts(failed(), now, &page));
        assert_eq!(p.at_ms().map(show).as_deref(), Some("12-03 00:50"));
        // "Soon" at 23:10 would be 00:10: moved out of the window too.
        let at = t(2026, 12, 3, 23, 10);
        let page = [Attempt {
            at_ms: at,
            source: ChargeSource::Page,
            decline: Some(Soft(Wait::Soon)),
            current_key: true,
        }];
        let p = plan(&RetryPolicy::default(), &facts(failed(), at, &page));
        assert_eq!(p.at_ms().map(show).as_deref(), Some("12-04 00:40"));
        assert_eq!(maintenance_end(t(2026, 12, 3, 23, 29)), None);
        assert_eq!(
            maintenance_end(t(2026, 12, 3, 23, 30)),
            Some(t(2026, 12, 4, 0, 40))
        );
        assert_eq!(
            maintenance_end(t(2026, 12, 4, 0, 39)),
            Some(t(2026, 12, 4, 0, 40))
        );
        assert_eq!(maintenance_end(t(2026, 12, 4, 0, 40)), None);
    }

    #[test]
    fn a_lone_setup_decline_waits_for_the_next_step() {
        // The partner-wide stop is the store's (repeats across cases); one
        // refusal of the credentials does not end this customer's retries.
        let now = t(2026, 12, 2, 10, 0);
        let a = [retry(now, Setup)];
        let p = plan(&RetryPolicy::default(), &facts(failed(), now, &a));
        assert_eq!(p.at_ms().map(show).as_deref(), Some("12-04 10:00"));
    }

    #[test]
    fn hard_declines_stop_and_a_new_card_starts_afresh() {
        let now = t(2026, 12, 2, 10, 0);
        let a = [retry(now, Hard)];
        assert_eq!(
            plan(&RetryPolicy::default(), &facts(failed(), now, &a)),
            Plan::Stop(Stop::HardDecline)
        );
        // The partner's own decline was hard: no retry at all.
        let mut f = facts(failed(), failed(), &[]);
        f.initial_decline = Some(Hard);
        assert_eq!(
            plan(&RetryPolicy::default(), &f),
            Plan::Stop(Stop::HardDecline)
        );
        // A new card after a hard decline: the old key's declines no
        // longer count, and its budget is fresh.
        let old = Attempt {
            current_key: false,
            ..retry(now, Hard)
        };
        let after_card = [
            old,
            Attempt {
                at_ms: now + HOUR_MS,
                source: ChargeSource::MethodChange,
                decline: Some(Soft(Wait::Payday)),
                current_key: true,
            },
        ];
        let p = plan(
            &RetryPolicy::default(),
            &facts(failed(), now + HOUR_MS, &after_card),
        );
        assert!(matches!(p, Plan::Charge { .. }), "{p:?}");
    }

    #[test]
    fn the_budget_counts_every_attempt_of_the_key() {
        let now = t(2026, 12, 2, 10, 0);
        let a = [retry(now, Soft(Wait::Soon))];
        let mut f = facts(failed(), now, &a);
        f.key_attempts_30d = 8;
        assert_eq!(plan(&RetryPolicy::default(), &f), Plan::Stop(Stop::Budget));
        f.key_attempts_30d = 7;
        assert!(matches!(
            plan(&RetryPolicy::default(), &f),
            Plan::Charge { .. }
        ));
    }

    #[test]
    fn retries_off_plans_nothing() {
        let off = RetryPolicy {
            enabled: false,
            ..RetryPolicy::default()
        };
        assert_eq!(
            plan(&off, &facts(failed(), failed(), &[])),
            Plan::Stop(Stop::Disabled)
        );
    }

    #[test]
    fn the_chosen_date_is_charged_at_ten_then_the_ladder_resumes() {
        let mut f = facts(failed(), t(2026, 12, 1, 14, 0), &[]);
        f.chosen_date = NaiveDate::from_ymd_opt(2026, 12, 8);
        assert_eq!(
            plan(&RetryPolicy::default(), &f),
            Plan::Charge {
                at_ms: t(2026, 12, 8, 10, 0),
                source: ChargeSource::ScheduledDate
            },
            "ladder steps before the chosen date are skipped"
        );
        let done = [Attempt {
            at_ms: t(2026, 12, 8, 10, 0),
            source: ChargeSource::ScheduledDate,
            decline: Some(Unknown),
            current_key: true,
        }];
        let mut f = facts(failed(), t(2026, 12, 8, 10, 0), &done);
        f.chosen_date = NaiveDate::from_ymd_opt(2026, 12, 8);
        assert_eq!(
            plan(&RetryPolicy::default(), &f)
                .at_ms()
                .map(show)
                .as_deref(),
            Some("12-11 10:00")
        );
    }

    #[test]
    fn the_first_try_is_the_next_day_even_for_a_failure_before_ten() {
        let early = t(2026, 12, 1, 7, 0);
        let p = plan(&RetryPolicy::default(), &facts(early, early, &[]));
        assert_eq!(p.at_ms().map(show).as_deref(), Some("12-02 10:00"));
        // A server down for days catches up once, not with every missed step.
        let late = t(2026, 12, 7, 15, 0);
        let p = plan(&RetryPolicy::default(), &facts(early, late, &[]));
        assert_eq!(p.at_ms().map(show).as_deref(), Some("12-07 15:00"));
    }

    #[test]
    fn a_stage_on_a_retry_day_waits_for_the_charge() {
        let retry_at = t(2026, 12, 4, 10, 0);
        assert_eq!(
            defer_stage(t(2026, 12, 4, 8, 0), Some(retry_at)),
            Some(t(2026, 12, 4, 10, 10))
        );
        assert_eq!(defer_stage(t(2026, 12, 4, 13, 5), Some(retry_at)), None);
        assert_eq!(defer_stage(t(2026, 12, 3, 8, 0), Some(retry_at)), None);
        assert_eq!(defer_stage(t(2026, 12, 4, 8, 0), None), None);
    }

    fn page(at_ms: i64, decline: Option<Decline>) -> Attempt {
        Attempt {
            at_ms,
            source: ChargeSource::Page,
            decline,
            current_key: true,
        }
    }

    #[test]
    fn every_charge_passes_the_same_gates() {
        let p = RetryPolicy::default();
        let now = t(2026, 12, 2, 15, 0);
        let none: [Attempt; 0] = [];
        for source in [
            ChargeSource::Page,
            ChargeSource::Console,
            ChargeSource::MethodChange,
        ] {
            assert_eq!(
                gate(&p, &facts(failed(), now, &none), source, true, 0),
                Ok(())
            );
            assert_eq!(
                gate(&p, &facts(failed(), now, &none), source, false, 0),
                Err(Blocked::NoBillingKey),
                "{source}"
            );
            // The night window, whoever asks.
            let night = t(2026, 12, 2, 23, 45);
            assert_eq!(
                gate(&p, &facts(failed(), night, &none), source, true, 0),
                Err(Blocked::NightWindow {
                    until_ms: t(2026, 12, 3, 0, 40)
                })
            );
            // The daily cap counts what people asked for today.
            assert_eq!(
                gate(
                    &p,
                    &facts(failed(), now, &none),
                    source,
                    true,
                    PAGE_ATTEMPTS_PER_DAY
                ),
                Err(Blocked::DailyLimit {
                    until_ms: t(2026, 12, 3, 0, 40)
                })
            );
        }
        // A hard decline of the key stops every charge of it.
        let dead = [page(now - HOUR_MS, Some(Hard))];
        assert_eq!(
            gate(
                &p,
                &facts(failed(), now, &dead),
                ChargeSource::Console,
                true,
                1
            ),
            Err(Blocked::HardDecline)
        );
        let mut partner_hard = facts(failed(), now, &none);
        partner_hard.initial_decline = Some(Hard);
        assert_eq!(
            gate(&p, &partner_hard, ChargeSource::Page, true, 0),
            Err(Blocked::HardDecline),
            "the partner's own decline was hard"
        );
        // A soft decline after it (a passing trouble) does not.
        let soft = [page(now - HOUR_MS, Some(Soft(Wait::Soon)))];
        assert_eq!(
            gate(
                &p,
                &facts(failed(), now, &soft),
                ChargeSource::Page,
                true,
                1
            ),
            Ok(())
        );
        // The key's budget, whoever spent it.
        let mut spent = facts(failed(), now, &none);
        spent.key_attempts_30d = p.budget;
        assert_eq!(
            gate(&p, &spent, ChargeSource::Page, true, 0),
            Err(Blocked::Budget)
        );
    }

    #[test]
    fn a_silent_charge_goes_only_when_the_rules_give_this_moment() {
        let p = RetryPolicy::default();
        // Due at 10:00, claimed at 10:00: goes.
        let at_ten = t(2026, 12, 2, 10, 0);
        assert_eq!(
            gate(
                &p,
                &facts(failed(), at_ten, &[]),
                ChargeSource::Retry,
                true,
                0
            ),
            Ok(())
        );
        // Overdue after an outage that ended inside the night window: not
        // now, at the window's end.
        let night = t(2026, 12, 2, 23, 50);
        assert_eq!(
            gate(
                &p,
                &facts(failed(), night, &[]),
                ChargeSource::Retry,
                true,
                0
            ),
            Err(Blocked::Replanned(Plan::Charge {
                at_ms: t(2026, 12, 3, 0, 40),
                source: ChargeSource::Retry
            }))
        );
        // A silent charge of the key already reached the PG today (a
        // charge from before the outage, resent and answered this morning):
        // tomorrow at ten.
        let resent = [retry(t(2026, 12, 2, 9, 58), Soft(Wait::Soon))];
        assert_eq!(
            gate(
                &p,
                &facts(failed(), at_ten, &resent),
                ChargeSource::Retry,
                true,
                0
            ),
            Err(Blocked::Replanned(Plan::Charge {
                at_ms: t(2026, 12, 3, 10, 0),
                source: ChargeSource::Retry
            }))
        );
        // A stop stays a stop.
        let dead = [retry(t(2026, 12, 2, 9, 0), Hard)];
        assert_eq!(
            gate(
                &p,
                &facts(failed(), at_ten, &dead),
                ChargeSource::Retry,
                true,
                0
            ),
            Err(Blocked::Replanned(Plan::Stop(Stop::HardDecline)))
        );
        assert_eq!(
            Blocked::Replanned(Plan::Stop(Stop::Budget)).until_ms(),
            None
        );
    }

    #[test]
    fn cases_are_spread_over_the_retry_hour() {
        assert_eq!(slot_spread_ms(1), 0, "the first case at :00");
        let minutes: std::collections::HashSet<i64> =
            (1..=60).map(|id| slot_spread_ms(id) / MINUTE_MS).collect();
        assert_eq!(minutes.len(), 60, "sixty cases, sixty minutes");
        assert!(minutes.iter().all(|m| (0..60).contains(m)));
        let mut f = facts(failed(), failed(), &[]);
        f.spread_ms = slot_spread_ms(2);
        assert_eq!(
            plan(&RetryPolicy::default(), &f)
                .at_ms()
                .map(show)
                .as_deref(),
            Some("12-02 10:37")
        );
    }

    #[test]
    fn a_card_is_charged_once_a_day_whichever_case_charged_it() {
        // Another case of the same card was charged on 12-02 at 09:00.
        let other = [t(2026, 12, 2, 9, 0)];
        let mut f = facts(failed(), failed(), &[]);
        f.key_charged_at = &other;
        assert_eq!(
            plan(&RetryPolicy::default(), &f)
                .at_ms()
                .map(show)
                .as_deref(),
            Some("12-03 10:00")
        );
    }

    #[test]
    fn the_ladder_ends_at_its_last_step() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.ladder_end(failed()).map(show).as_deref(),
            Some("12-15 10:00")
        );
        let none = RetryPolicy {
            ladder_days: vec![],
            ..RetryPolicy::default()
        };
        assert_eq!(none.ladder_end(failed()), None);
        assert!(!RetryPolicy::off().enabled);
    }

    #[test]
    fn policies_are_checked() {
        assert!(RetryPolicy::default().problems().is_empty());
        let bad = RetryPolicy {
            ladder_days: vec![3, 1],
            hour: 3,
            budget: 20,
            unknown_limit: 11,
            enabled: true,
        };
        let fields: Vec<_> = bad.problems().into_iter().map(|(f, _)| f).collect();
        let none_unknown = RetryPolicy {
            unknown_limit: 0,
            ..RetryPolicy::default()
        };
        assert_eq!(
            none_unknown.problems(),
            [("retries.unknownLimit", "between 1 and 10")],
            "0 would stop every case before its first retry"
        );
        assert_eq!(
            fields,
            [
                "retries.ladderDays",
                "retries.hour",
                "retries.budget",
                "retries.unknownLimit"
            ]
        );
        // A policy that names some settings takes the default for the rest.
        let p: RetryPolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(p, RetryPolicy::default());
    }
}
