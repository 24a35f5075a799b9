//! A subscription as the partner reports it.

use super::order::timestamp;
use super::price::{MAX_INTERVAL_COUNT, RecurringInterval, id};
use super::{FieldError, Problems, required_text};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub customer_id: i64,
    pub current_period_start_ms: i64,
    pub current_period_end_ms: i64,
    pub interval: RecurringInterval,
    pub interval_count: i64,
    pub partner_subscription_id: String,
    pub trial_start_ms: Option<i64>,
    pub trial_end_ms: Option<i64>,
    pub cancel_at_period_end: bool,
    pub initial_order_id: Option<i64>,
}

pub struct SubscriptionInput<'a> {
    pub customer_id: Option<i64>,
    pub current_period_start: Option<&'a str>,
    pub current_period_end: Option<&'a str>,
    pub recurring_interval: Option<&'a str>,
    pub recurring_interval_count: Option<i64>,
    pub partner_subscription_id: Option<&'a str>,
    pub trial_start: Option<&'a str>,
    pub trial_end: Option<&'a str>,
    pub cancel_at_period_end: Option<bool>,
    pub initial_order_id: Option<i64>,
}

fn required_time(field: &str, value: Option<&str>) -> Result<i64, FieldError> {
    timestamp(field, value)?.ok_or_else(|| FieldError::new(field, "is required"))
}

impl NewSubscription {
    pub fn parse(input: SubscriptionInput<'_>) -> Result<NewSubscription, Vec<FieldError>> {
        let mut p = Problems::default();
        let customer_id = p.check(id("customerId", input.customer_id));
        let start = p.check(required_time(
            "currentPeriodStart",
            input.current_period_start,
        ));
        let end = p.check(required_time("currentPeriodEnd", input.current_period_end));
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            p.check::<()>(Err(FieldError::rule(
                "currentPeriodEnd",
                "must not be before currentPeriodStart",
            )));
        }
        let interval = p.check(match input.recurring_interval {
            None => Err(FieldError::new("recurringInterval", "is required")),
            Some(i) => RecurringInterval::parse("recurringInterval", i),
        });
        let interval_count = p.check(match input.recurring_interval_count {
            None => Err(FieldError::new("recurringIntervalCount", "is required")),
            Some(c) if (1..=MAX_INTERVAL_COUNT).contains(&c) => Ok(c),
            Some(_) => Err(FieldError::new(
                "recurringIntervalCount",
                format!("must be between 1 and {MAX_INTERVAL_COUNT}"),
            )),
        });
        let partner_subscription_id = p.check(required_text(
            "partnerSubscriptionId",
            input.partner_subscription_id,
            100,
        ));
        let trial_start = p.check(timestamp("trialStart", input.trial_start));
        let trial_end = p.check(timestamp("trialEnd", input.trial_end));
        let initial_order_id = p.check(match input.initial_order_id {
            None => Ok(None),
            some => id("initialOrderId", some).map(Some),
        });
        p.into_result()?;
        Ok(NewSubscription {
            customer_id: customer_id.expect("checked"),
            current_period_start_ms: start.expect("checked"),
            current_period_end_ms: end.expect("checked"),
            interval: interval.expect("checked"),
            interval_count: interval_count.expect("checked"),
            partner_subscription_id: partner_subscription_id.expect("checked"),
            trial_start_ms: trial_start.expect("checked"),
            trial_end_ms: trial_end.expect("checked"),
            cancel_at_period_end: input.cancel_at_period_end.unwrap_or(false),
            initial_order_id: initial_order_id.expect("checked"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SubscriptionInput<'static> {
        // STEP 5 of the StepCover guide.
        SubscriptionInput {
            customer_id: Some(7),
            current_period_start: Some("2023-01-01T12:00:00Z"),
            current_period_end: Some("2023-01-31T12:00:00Z"),
            recurring_interval: Some("MONTH"),
            recurring_interval_count: Some(1),
            partner_subscription_id: Some("14"),
            trial_start: None,
            trial_end: None,
            cancel_at_period_end: None,
            initial_order_id: None,
        }
    }

    #[test]
    fn parses_the_seed_guide_subscription() {
        let s = NewSubscription::parse(input()).unwrap();
        assert_eq!(s.interval, RecurringInterval::Month);
        assert_eq!(
            s.current_period_end_ms - s.current_period_start_ms,
            30 * 24 * 3600 * 1000
        );
    }

    #[test]
    fn rejects_bad_periods_and_enums() {
        let cases: Vec<(SubscriptionInput, &str)> = vec![
            (
                SubscriptionInput {
                    current_period_end: Some("2022-12-01T00:00:00Z"),
                    ..input()
                },
                "currentPeriodEnd",
            ),
            (
                SubscriptionInput {
                    current_period_start: Some("yesterday"),
                    ..input()
                },
                "currentPeriodStart",
            ),
            (
                SubscriptionInput {
                    recurring_interval: Some("HOUR"),
                    ..input()
                },
                "recurringInterval",
            ),
            (
                SubscriptionInput {
                    recurring_interval_count: None,
                    ..input()
                },
                "recurringIntervalCount",
            ),
            (
                SubscriptionInput {
                    partner_subscription_id: None,
                    ..input()
                },
                "partnerSubscriptionId",
            ),
        ];
        for (i, want) in cases {
            assert_eq!(NewSubscription::parse(i).unwrap_err()[0].field, want);
        }
    }
}
