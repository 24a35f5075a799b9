//! A price plan of a product, parsed from the API's input.

use super::{FieldError, Problems, required_text};

/// Upper bound on an amount in won: far above any subscription, far below
/// where i64 arithmetic on sums could overflow.
pub const MAX_WON: i64 = 100_000_000_000;
pub const MAX_INTERVAL_COUNT: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecurringInterval {
    Day,
    Week,
    Month,
    Year,
}

impl RecurringInterval {
    pub fn parse(field: &str, s: &str) -> Result<RecurringInterval, FieldError> {
        match s {
            "DAY" => Ok(RecurringInterval::Day),
            "WEEK" => Ok(RecurringInterval::Week),
            "MONTH" => Ok(RecurringInterval::Month),
            "YEAR" => Ok(RecurringInterval::Year),
            _ => Err(FieldError::new(
                field,
                "must be one of DAY, WEEK, MONTH, YEAR",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecurringInterval::Day => "DAY",
            RecurringInterval::Week => "WEEK",
            RecurringInterval::Month => "MONTH",
            RecurringInterval::Year => "YEAR",
        }
    }
}

/// An amount of won, checked for range.
pub fn won(field: &str, value: Option<i64>) -> Result<i64, FieldError> {
    match value {
        None => Err(FieldError::new(field, "is required")),
        Some(v) if !(0..=MAX_WON).contains(&v) => Err(FieldError::new(
            field,
            format!("must be between 0 and {MAX_WON}"),
        )),
        Some(v) => Ok(v),
    }
}

/// One of our ids, as sent by the partner.
pub fn id(field: &str, value: Option<i64>) -> Result<i64, FieldError> {
    match value {
        None => Err(FieldError::new(field, "is required")),
        Some(v) if v <= 0 => Err(FieldError::new(field, "must be a positive id")),
        Some(v) => Ok(v),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurrence {
    pub interval: RecurringInterval,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPrice {
    pub name: String,
    pub partner_price_id: String,
    pub product_id: i64,
    pub price: i64,
    /// `None` for a one-off price.
    pub recurrence: Option<Recurrence>,
}

pub struct PriceInput<'a> {
    pub name: Option<&'a str>,
    pub partner_price_id: Option<&'a str>,
    pub product_id: Option<i64>,
    pub price: Option<i64>,
    pub is_recurring: Option<bool>,
    pub recurring_interval: Option<&'a str>,
    pub recurring_interval_count: Option<i64>,
}

impl NewPrice {
    pub fn parse(input: PriceInput<'_>) -> Result<NewPrice, Vec<FieldError>> {
        let mut p = Problems::default();
        let name = p.check(required_text("name", input.name, 200));
        let partner_price_id =
            p.check(required_text("partnerPriceId", input.partner_price_id, 100));
        let product_id = p.check(id("productId", input.product_id));
        let price = p.check(won("price", input.price));
        // StepCover's own example omits isRecurring and sends an interval:
        // an interval without the flag means recurring.
        let recurring = input
            .is_recurring
            .unwrap_or(input.recurring_interval.is_some());
        // A count out of range is refused even when unused, as the OpenAPI
        // document's range says.
        if let Some(c) = input.recurring_interval_count
            && !(1..=MAX_INTERVAL_COUNT).contains(&c)
            && !recurring
        {
            p.check::<()>(Err(FieldError::new(
                "recurringIntervalCount",
                format!("must be between 1 and {MAX_INTERVAL_COUNT}"),
            )));
        }
        let recurrence = p.check(match (recurring, input.recurring_interval) {
            (false, None) => Ok(None),
            (false, Some(_)) => Err(FieldError::rule(
                "recurringInterval",
                "must be absent when isRecurring is false",
            )),
            (true, None) => Err(FieldError::rule(
                "recurringInterval",
                "is required when isRecurring is true",
            )),
            (true, Some(i)) => {
                let interval = RecurringInterval::parse("recurringInterval", i);
                let count = match input.recurring_interval_count.unwrap_or(1) {
                    c if (1..=MAX_INTERVAL_COUNT).contains(&c) => Ok(c),
                    _ => Err(FieldError::new(
                        "recurringIntervalCount",
                        format!("must be between 1 and {MAX_INTERVAL_COUNT}"),
                    )),
                };
                match (interval, count) {
                    (Ok(interval), Ok(count)) => Ok(Some(Recurrence { interval, count })),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
        });
        p.into_result()?;
        Ok(NewPrice {
            name: name.expect("checked"),
            partner_price_id: partner_price_id.expect("checked"),
            product_id: product_id.expect("checked"),
            price: price.expect("checked"),
            recurrence: recurrence.expect("checked"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> PriceInput<'static> {
        // STEP 3 of the StepCover guide.
        PriceInput {
            name: Some("1개월 구독권"),
            partner_price_id: Some("128"),
            product_id: Some(10),
            price: Some(10000),
            is_recurring: None,
            recurring_interval: Some("MONTH"),
            recurring_interval_count: Some(1),
        }
    }

    #[test]
    fn the_seed_guide_price_is_monthly() {
        let p = NewPrice::parse(input()).unwrap();
        assert_eq!(
            p.recurrence,
            Some(Recurrence {
                interval: RecurringInterval::Month,
                count: 1
            })
        );
    }

    #[test]
    fn one_off_prices_have_no_interval() {
        let p = NewPrice::parse(PriceInput {
            is_recurring: Some(false),
            recurring_interval: None,
            ..input()
        })
        .unwrap();
        assert_eq!(p.recurrence, None);
    }

    #[test]
    fn rejects_bad_values_by_field() {
        let cases: Vec<(PriceInput, &str)> = vec![
            (
                PriceInput {
                    price: Some(-1),
                    ..input()
                },
                "price",
            ),
            (
                PriceInput {
                    price: Some(MAX_WON + 1),
                    ..input()
                },
                "price",
            ),
            (
                PriceInput {
                    price: None,
                    ..input()
                },
                "price",
            ),
            (
                PriceInput {
                    product_id: Some(0),
                    ..input()
                },
                "productId",
            ),
            (
                PriceInput {
                    recurring_interval: Some("FORTNIGHT"),
                    ..input()
                },
                "recurringInterval",
            ),
            (
                PriceInput {
                    recurring_interval: Some("month"),
                    ..input()
                },
                "recurringInterval",
            ),
            (
                PriceInput {
                    recurring_interval_count: Some(0),
                    ..input()
                },
                "recurringIntervalCount",
            ),
            (
                PriceInput {
                    is_recurring: Some(true),
                    recurring_interval: None,
                    ..input()
                },
                "recurringInterval",
            ),
            (
                PriceInput {
                    is_recurring: Some(false),
                    ..input()
                },
                "recurringInterval",
            ),
        ];
        for (i, want) in cases {
            let errs = NewPrice::parse(i).unwrap_err();
            assert_eq!(errs[0].field, want);
        }
    }
}
