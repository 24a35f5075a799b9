//! Recovery scenarios (design section 6): when each stage's message goes out,
//! on which channel, and what happens when the last stage brings nothing.
//! Pure rules: no SQL, no clock.

use serde::{Deserialize, Serialize};

use super::retry::RetryPolicy;
use super::{FieldError, Problems};

const HOUR_MS: i64 = 3_600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Channel {
    /// KakaoTalk AlimTalk, falling back to SMS when AlimTalk cannot deliver.
    Alimtalk,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Alimtalk => "ALIMTALK",
            Channel::Sms => "SMS",
        }
    }

    /// The stored text back (`as_str`), never a default.
    pub fn parse(raw: &str) -> Result<Channel, crate::domain::case::UnknownText> {
        match raw {
            "ALIMTALK" => Ok(Channel::Alimtalk),
            "SMS" => Ok(Channel::Sms),
            other => Err(crate::domain::case::UnknownText {
                kind: "channel",
                value: other.to_owned(),
            }),
        }
    }
}

/// Hours (KST) in which no message goes to a customer: Korean rules keep
/// the night (21:00-08:00) for messages people agreed to at night, and
/// nobody wants a payment reminder at 2 a.m. A stage or resend due then
/// goes when the quiet ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuietHours {
    /// The hour (0-23, KST) the quiet starts.
    pub start: u32,
    /// The hour (0-23, KST) it ends; before `start` for a quiet across
    /// midnight.
    pub end: u32,
}

impl Default for QuietHours {
    fn default() -> Self {
        QuietHours { start: 21, end: 8 }
    }
}

/// A night compressed into this many times less time after its end: the
/// messages held back go in the order they fell due, within a minute.
const QUIET_CATCH_UP: i64 = 1_000;

impl QuietHours {
    fn problems(&self) -> Option<&'static str> {
        (self.start > 23 || self.end > 23 || self.start == self.end)
            .then_some("start and end are hours from 0 to 23, and differ")
    }

    /// The quiet period `ms` falls in, as `(start, end)` in Unix ms.
    fn period(&self, ms: i64) -> Option<(i64, i64)> {
        use chrono::{Days, TimeZone, Timelike};
        let kst = crate::clock::kst();
        let t = kst.timestamp_millis_opt(ms).single()?;
        let at = |day: chrono::NaiveDate, hour: u32| {
            kst.from_local_datetime(&day.and_hms_opt(hour, 0, 0)?)
                .single()
                .map(|t| t.timestamp_millis())
        };
        let (day, hour) = (t.date_naive(), t.hour());
        if self.start < self.end {
            // Within one day (e.g. 13-14).
            return (self.start..self.end)
                .contains(&hour)
                .then(|| Some((at(day, self.start)?, at(day, self.end)?)))
                .flatten();
        }
        if hour >= self.start {
            Some((at(day, self.start)?, at(day + Days::new(1), self.end)?))
        } else if hour < self.end {
            Some((at(day - Days::new(1), self.start)?, at(day, self.end)?))
        } else {
            None
        }
    }

    /// When a message due at `due_ms` may go, if `now_ms` is inside the
    /// quiet: just after its end, in the order messages fell due (the
    /// night compressed `QUIET_CATCH_UP` times). `None`: it may go now.
    pub fn hold(&self, due_ms: i64, now_ms: i64) -> Option<i64> {
        let (start, end) = self.period(now_ms)?;
        Some(end + (due_ms.clamp(start, end) - start) / QUIET_CATCH_UP)
    }
}

/// What becomes of the subscription when no stage recovered the payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EndAction {
    Pause,
    Cancel,
}

impl EndAction {
    /// The subscription status it sets (StepCover's names).
    pub fn subscription_status(self) -> &'static str {
        match self {
            EndAction::Pause => "PAUSE",
            EndAction::Cancel => "CANCELED",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// Hours after the payment failed.
    pub after_hours: i64,
    pub channel: Channel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scenario {
    pub stages: Vec<Stage>,
    pub end_action: EndAction,
    /// How far ahead a customer may move the payment date.
    pub change_date_window_days: i64,
    /// How often a customer may ask to be reminded later.
    pub remind_limit: i64,
    /// How often a customer may move the payment date. Each move puts the
    /// next message and charge off, so without a cap a customer could
    /// postpone them forever. Versions stored before the cap read as 3.
    #[serde(default = "default_change_date_limit")]
    pub change_date_limit: i64,
    /// Silent retries of the saved card. Versions stored before retries
    /// existed read as off: nobody agreed to Rebound charging those cards.
    #[serde(default = "RetryPolicy::off")]
    pub retries: RetryPolicy,
    /// No message between these hours (KST); `null` for none. Versions
    /// stored before the setting read as 21:00-08:00.
    #[serde(default = "default_quiet_hours")]
    pub quiet_hours: Option<QuietHours>,
}

fn default_quiet_hours() -> Option<QuietHours> {
    Some(QuietHours::default())
}

impl Default for Scenario {
    /// StepCover's: stage 1 at the failure, then every 3 days up to stage 4,
    /// then pause.
    fn default() -> Self {
        Scenario {
            stages: [0, 72, 144, 216]
                .into_iter()
                .map(|after_hours| Stage {
                    after_hours,
                    channel: Channel::Alimtalk,
                })
                .collect(),
            end_action: EndAction::Pause,
            change_date_window_days: 14,
            remind_limit: 3,
            change_date_limit: default_change_date_limit(),
            retries: RetryPolicy::default(),
            quiet_hours: default_quiet_hours(),
        }
    }
}

fn default_change_date_limit() -> i64 {
    3
}

/// What a due case calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send stage `stage` (1-based) on `channel`.
    Send { stage: i64, channel: Channel },
    /// No stage left: apply the end action.
    End(EndAction),
}

impl Scenario {
    /// Parses and checks an operator's definition: 1 to 10 stages, the
    /// first at or after the failure, strictly increasing, within 60 days.
    pub fn parse(json: &str) -> Result<Scenario, Problems> {
        let s: Scenario = serde_json::from_str(json)
            .map_err(|e| Problems(vec![FieldError::new("scenario", e.to_string())]))?;
        let mut problems = Vec::new();
        let mut bad = |field: &str, message: &str| problems.push(FieldError::new(field, message));
        if s.stages.is_empty() || s.stages.len() > 10 {
            bad("stages", "between 1 and 10 stages");
        }
        let mut previous = -1;
        for st in &s.stages {
            if st.after_hours <= previous || st.after_hours > 60 * 24 {
                bad(
                    "stages",
                    "afterHours must increase from stage to stage, from 0 up to 1440 (60 days)",
                );
                break;
            }
            previous = st.after_hours;
        }
        if !(1..=60).contains(&s.change_date_window_days) {
            bad("changeDateWindowDays", "between 1 and 60");
        }
        if !(0..=10).contains(&s.remind_limit) {
            bad("remindLimit", "between 0 and 10");
        }
        if !(0..=10).contains(&s.change_date_limit) {
            bad("changeDateLimit", "between 0 and 10");
        }
        for (field, message) in s.retries.problems() {
            bad(field, message);
        }
        if let Some(message) = s.quiet_hours.as_ref().and_then(QuietHours::problems) {
            bad("quietHours", message);
        }
        if problems.is_empty() {
            Ok(s)
        } else {
            Err(Problems(problems))
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// What to do for a case whose next stage is `next_stage`.
    pub fn step(&self, next_stage: i64) -> Step {
        match usize::try_from(next_stage - 1)
            .ok()
            .and_then(|i| self.stages.get(i))
        {
            Some(st) => Step::Send {
                stage: next_stage,
                channel: st.channel,
            },
            None => Step::End(self.end_action),
        }
    }

    /// When stage `stage` (1-based) is due for a payment that failed at
    /// `failed_at_ms`; past the last stage, the end action is due when the
    /// last stage's interval has passed again (the customer's last chance).
    pub fn due_at(&self, failed_at_ms: i64, stage: i64) -> i64 {
        let hours = match usize::try_from(stage - 1)
            .ok()
            .and_then(|i| self.stages.get(i))
        {
            Some(st) => st.after_hours,
            None => {
                let last = self.stages.last().map_or(0, |s| s.after_hours);
                let gap = match self.stages.len() {
                    0 | 1 => 72,
                    n => last - self.stages[n - 2].after_hours,
                };
                last + gap
            }
        };
        failed_at_ms + hours * HOUR_MS
    }
}

/// One moment of a case's life under a scenario, for the editor's preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planned {
    Stage {
        stage: i64,
        channel: Channel,
    },
    /// A silent retry on the ladder (day after the failure), if the card
    /// keeps declining for a reason that passes.
    Retry {
        day: i64,
    },
    End(EndAction),
}

impl Scenario {
    /// The timeline of a case that failed at `failed_at_ms` and is never
    /// paid: its stages, its ladder retries (Korean days at the policy's
    /// hour, before the end) and the end action, in time order. Paydays,
    /// chosen dates and declines that stop retries are left out.
    pub fn preview(&self, failed_at_ms: i64) -> Vec<(i64, Planned)> {
        let mut out: Vec<(i64, Planned)> = self
            .stages
            .iter()
            .enumerate()
            .map(|(i, st)| {
                let stage = i as i64 + 1;
                (
                    self.due_at(failed_at_ms, stage),
                    Planned::Stage {
                        stage,
                        channel: st.channel,
                    },
                )
            })
            .collect();
        let end_at = self.due_at(failed_at_ms, self.stages.len() as i64 + 1);
        if self.retries.enabled {
            let day = crate::domain::analytics::kst_day(failed_at_ms);
            for d in &self.retries.ladder_days {
                let at =
                    crate::domain::analytics::kst_day_start(day + chrono::Days::new(*d as u64))
                        + i64::from(self.retries.hour) * HOUR_MS;
                // A canceled subscription is not charged again; a paused
                // one keeps its retries (a success reactivates it).
                if self.end_action == EndAction::Pause || at < end_at {
                    out.push((at, Planned::Retry { day: *d }));
                }
            }
        }
        out.push((end_at, Planned::End(self.end_action)));
        out.sort_by_key(|(at, _)| *at);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kst(d: u32, h: u32, m: u32) -> i64 {
        use chrono::TimeZone;
        crate::clock::kst()
            .with_ymd_and_hms(2026, 12, d, h, m, 0)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn nothing_goes_in_the_quiet_hours_and_the_night_goes_in_due_order() {
        let q = QuietHours::default();
        // Day: goes.
        assert_eq!(q.hold(kst(2, 20, 59), kst(2, 20, 59)), None);
        assert_eq!(q.hold(kst(2, 8, 0), kst(2, 8, 0)), None);
        // Evening and small hours: at 08:00, in due order.
        let at_21 = q.hold(kst(2, 21, 0), kst(2, 21, 0)).unwrap();
        let at_23 = q.hold(kst(2, 23, 0), kst(2, 23, 30)).unwrap();
        let at_3 = q.hold(kst(3, 3, 0), kst(3, 3, 0)).unwrap();
        assert_eq!(at_21, kst(3, 8, 0));
        assert!(at_21 < at_23 && at_23 < at_3, "due order kept");
        assert!(at_3 < kst(3, 8, 1), "all within the first minute");
        // Due before the quiet, found inside it (a backlog): first.
        assert_eq!(q.hold(kst(2, 20, 0), kst(2, 21, 5)), Some(kst(3, 8, 0)));
        // A quiet within one day.
        let lunch = QuietHours { start: 12, end: 13 };
        assert_eq!(
            lunch
                .hold(kst(2, 12, 30), kst(2, 12, 30))
                .map(|t| t >= kst(2, 13, 0)),
            Some(true)
        );
        assert_eq!(lunch.hold(kst(2, 13, 0), kst(2, 13, 0)), None);
    }

    #[test]
    fn quiet_hours_are_a_setting_on_by_default() {
        let old = Scenario::parse(
            r#"{"stages":[{"afterHours":0,"channel":"SMS"}],"endAction":"PAUSE","changeDateWindowDays":14,"remindLimit":3}"#,
        )
        .unwrap();
        assert_eq!(
            old.quiet_hours,
            Some(QuietHours::default()),
            "older versions"
        );
        let off = Scenario::parse(
            r#"{"stages":[{"afterHours":0,"channel":"SMS"}],"endAction":"PAUSE","changeDateWindowDays":14,"remindLimit":3,"quietHours":null}"#,
        )
        .unwrap();
        assert_eq!(off.quiet_hours, None);
        let bad = Scenario::parse(
            r#"{"stages":[{"afterHours":0,"channel":"SMS"}],"endAction":"PAUSE","changeDateWindowDays":14,"remindLimit":3,"quietHours":{"start":25,"end":8}}"#,
        )
        .unwrap_err();
        assert_eq!(bad.0[0].field, "quietHours");
    }

    #[test]
    fn a_version_stored_before_retries_existed_reads_as_retries_off() {
        let old = Scenario::parse(
            r#"{"stages":[{"afterHours":0,"channel":"SMS"}],"endAction":"PAUSE","changeDateWindowDays":14,"remindLimit":3}"#,
        )
        .unwrap();
        assert!(!old.retries.enabled, "nobody agreed to those charges");
        let round = Scenario::parse(&Scenario::default().to_json()).unwrap();
        assert!(
            round.retries.enabled,
            "a version saved now keeps its retries"
        );
    }

    #[test]
    fn the_preview_lists_stages_ladder_retries_and_the_end_in_order() {
        let failed =
            crate::domain::analytics::kst_day_start("2026-12-01".parse().unwrap()) + 13 * HOUR_MS;
        let p = Scenario::default().preview(failed);
        let shape: Vec<String> = p
            .iter()
            .map(|(at, what)| {
                let when = crate::clock::kst_text(*at, "%m-%d %H:%M");
                match what {
                    Planned::Stage { stage, .. } => format!("{when} stage {stage}"),
                    Planned::Retry { day } => format!("{when} retry day {day}"),
                    Planned::End(a) => format!("{when} end {}", a.subscription_status()),
                }
            })
            .collect();
        assert_eq!(
            shape,
            [
                "12-01 13:00 stage 1",
                "12-02 10:00 retry day 1",
                "12-04 10:00 retry day 3",
                "12-04 13:00 stage 2",
                "12-06 10:00 retry day 5",
                "12-07 13:00 stage 3",
                "12-10 13:00 stage 4",
                "12-11 10:00 retry day 10",
                "12-13 13:00 end PAUSE",
                "12-15 10:00 retry day 14",
            ]
        );
        let mut off = Scenario::default();
        off.retries.enabled = false;
        assert_eq!(off.preview(failed).len(), 5, "stages and the end only");
        let cancel = Scenario {
            end_action: EndAction::Cancel,
            ..Scenario::default()
        };
        assert_eq!(
            cancel.preview(failed).last().map(|(_, w)| *w),
            Some(Planned::End(EndAction::Cancel)),
            "no retry after a cancellation"
        );
    }

    #[test]
    fn the_default_is_four_stages_three_days_apart_then_pause() {
        let s = Scenario::default();
        let day = 24 * HOUR_MS;
        assert_eq!(s.due_at(0, 1), 0);
        assert_eq!(s.due_at(0, 2), 3 * day);
        assert_eq!(s.due_at(0, 4), 9 * day);
        assert_eq!(
            s.due_at(0, 5),
            12 * day,
            "the end action, a stage-gap later"
        );
        assert_eq!(
            s.step(1),
            Step::Send {
                stage: 1,
                channel: Channel::Alimtalk
            }
        );
        assert_eq!(s.step(5), Step::End(EndAction::Pause));
        assert_eq!(Scenario::parse(&s.to_json()).unwrap(), s);
    }

    #[test]
    fn a_version_stored_before_the_date_change_cap_allows_three() {
        let old = r#"{"stages":[{"afterHours":0,"channel":"SMS"}],"endAction":"PAUSE","changeDateWindowDays":14,"remindLimit":3}"#;
        assert_eq!(Scenario::parse(old).unwrap().change_date_limit, 3);
        let none = format!(r#"{},"changeDateLimit":0}}"#, &old[..old.len() - 1]);
        assert_eq!(Scenario::parse(&none).unwrap().change_date_limit, 0);
    }

    #[test]
    fn bad_definitions_name_the_field() {
        for (json, field) in [
            (
                r#"{"stages":[],"endAction":"PAUSE","changeDateWindowDays":14,"remindLimit":3}"#,
                "stages",
            ),
            (
                r#"{"stages":[{"afterHours":72,"channel":"SMS"},{"afterHours":24,"channel":"SMS"}],"endAction":"CANCEL","changeDateWindowDays":14,"remindLimit":3}"#,
                "stages",
            ),
            (
                r#"{"stages":[{"afterHours":0,"channel":"SMS"}],"endAction":"CANCEL","changeDateWindowDays":0,"remindLimit":3}"#,
                "changeDateWindowDays",
            ),
            (
                r#"{"stages":[{"afterHours":0,"channel":"FAX"}]}"#,
                "scenario",
            ),
            (
                r#"{"stages":[{"afterHours":0,"channel":"SMS"}],"endAction":"PAUSE","changeDateWindowDays":14,"remindLimit":3,"retries":{"budget":40}}"#,
                "retries.budget",
            ),
            (
                r#"{"stages":[{"afterHours":0,"channel":"SMS"}],"endAction":"PAUSE","changeDateWindowDays":14,"remindLimit":3,"changeDateLimit":11}"#,
                "changeDateLimit",
            ),
        ] {
            let err = Scenario::parse(json).unwrap_err();
            assert_eq!(err.0[0].field, field, "{json}");
        }
    }
}
