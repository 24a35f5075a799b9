//! An order as the partner reports it, parsed from the API's input.

use chrono::{DateTime, Utc};

use super::price::{id, won};
use super::{FieldError, Problems, optional_text, required_text};

pub const MAX_ITEMS: usize = 100;
pub const MAX_QUANTITY: i64 = 10_000;

/// StepPay's `paymentGateway` values.
pub const PAYMENT_GATEWAYS: &[&str] = &[
    "NAVER",
    "DANAL",
    "KAKAO",
    "KG",
    "KCP",
    "NICE",
    "JT",
    "GOOGLE",
    "BANKPAY",
    "BLUEWALNUT",
    "KSNET",
    "TOSS",
    "EXIMBAY",
    "SETTLE",
    "DAOUDATA",
    "WELCOME",
    "NICE_V2",
    "STRIPE",
    "PAYPLE",
    "PAYPLE_GLOBAL",
    "UNKNOWN",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderItem {
    pub price_id: i64,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub customer_id: i64,
    pub amount: i64,
    pub amount_returned: i64,
    pub items: Vec<OrderItem>,
    pub partner_order_id: String,
    pub payment_gateway: &'static str,
    pub payment_date_ms: Option<i64>,
    pub id_key: Option<String>,
    /// The Toss customer key `id_key` was issued under, if the partner
    /// said (`gateway_account::route`).
    pub customer_key: Option<String>,
    pub subscription_id: Option<i64>,
    pub payment_info: Option<String>,
    pub payment_failed: bool,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
}

impl NewOrder {
    /// StepPay's order status for what the partner reported.
    pub fn status(&self) -> &'static str {
        if self.payment_failed {
            "PAYMENT_FAILURE"
        } else if self.payment_date_ms.is_some() {
            "PAID"
        } else {
            "CREATED"
        }
    }
}

pub struct ItemInput {
    pub price_id: Option<i64>,
    pub quantity: Option<i64>,
}

pub struct OrderInput<'a> {
    pub customer_id: Option<i64>,
    pub amount: Option<i64>,
    pub amount_returned: Option<i64>,
    pub items: Option<&'a [ItemInput]>,
    pub partner_order_id: Option<&'a str>,
    pub payment_gateway: Option<&'a str>,
    pub payment_date: Option<&'a str>,
    pub id_key: Option<&'a str>,
    pub customer_key: Option<&'a str>,
    pub subscription_id: Option<i64>,
    pub payment_info: Option<&'a str>,
    pub payment_failed: Option<bool>,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
}

/// RFC 3339 with an offset, as everywhere in the API.
pub fn timestamp(field: &str, value: Option<&str>) -> Result<Option<i64>, FieldError> {
    match value {
        None => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v)
            .map(|t| Some(t.with_timezone(&Utc).timestamp_millis()))
            .map_err(|_| {
                FieldError::new(
                    field,
                    "must be an RFC 3339 time such as 2023-01-01T12:00:00Z",
                )
            }),
    }
}

fn items(value: Option<&[ItemInput]>) -> Result<Vec<OrderItem>, FieldError> {
    let items = value.ok_or_else(|| FieldError::new("items", "is required"))?;
    if items.is_empty() || items.len() > MAX_ITEMS {
        return Err(FieldError::new(
            "items",
            format!("must have 1 to {MAX_ITEMS} items"),
        ));
    }
    let mut out: Vec<OrderItem> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let price_id = id(&format!("items[{i}].priceId"), item.price_id)?;
        let quantity = match item.quantity {
            Some(q) if (1..=MAX_QUANTITY).contains(&q) => q,
            Some(_) => {
                return Err(FieldError::new(
                    format!("items[{i}].quantity"),
                    format!("must be between 1 and {MAX_QUANTITY}"),
                ));
            }
            None => {
                return Err(FieldError::new(
                    format!("items[{i}].quantity"),
                    "is required",
                ));
            }
        };
        if out.iter().any(|o| o.price_id == price_id) {
            return Err(FieldError::rule(
                format!("items[{i}].priceId"),
                "appears twice; use quantity instead",
            ));
        }
        out.push(OrderItem { price_id, quantity });
    }
    Ok(out)
}

impl NewOrder {
    pub fn parse(input: OrderInput<'_>) -> Result<NewOrder, Vec<FieldError>> {
        let mut p = Problems::default();
        let customer_id = p.check(id("customerId", input.customer_id));
        let amount = p.check(won("amount", input.amount));
        let amount_returned = p.check(won("amountReturned", input.amount_returned));
        if let (Some(a), Some(r)) = (amount, amount_returned)
            && r > a
        {
            p.check::<()>(Err(FieldError::rule(
                "amountReturned",
                "must not exceed amount",
            )));
        }
        let items = p.check(items(input.items));
        let partner_order_id =
            p.check(required_text("partnerOrderId", input.partner_order_id, 100));
        let payment_gateway = p.check(match input.payment_gateway {
            None => Err(FieldError::new("paymentGateway", "is required")),
            Some(g) => PAYMENT_GATEWAYS
                .iter()
                .find(|known| **known == g)
                .copied()
                .ok_or_else(|| {
                    FieldError::new(
                        "paymentGateway",
                        "must be one of StepPay's gateway names (NICE, TOSS, KCP, ..., UNKNOWN)",
                    )
                }),
        });
        let payment_date_ms = p.check(timestamp("paymentDate", input.payment_date));
        let id_key = p.check(optional_text("idKey", input.id_key, 512));
        let customer_key = p.check(match input.customer_key.map(str::trim) {
            None | Some("") => Ok(None),
            Some(_) if input.id_key.is_none_or(|k| k.trim().is_empty()) => Err(FieldError::rule(
                "customerKey",
                "goes with idKey: the customer key that billing key was issued under",
            )),
            Some(k) if super::gateway_account::valid_customer_key(k) => Ok(Some(k.to_owned())),
            Some(_) => Err(FieldError::new(
                "customerKey",
                "must be 2 to 300 letters, digits or -_=.@ (as Toss accepts)",
            )),
        });
        let subscription_id = p.check(match input.subscription_id {
            None => Ok(None),
            some => id("subscriptionId", some).map(Some),
        });
        let payment_info = p.check(optional_text("paymentInfo", input.payment_info, 100));
        let error_code = p.check(optional_text("errorCode", input.error_code, 100));
        let error_message = p.check(optional_text("errorMessage", input.error_message, 500));
        p.into_result()?;
        Ok(NewOrder {
            customer_id: customer_id.expect("checked"),
            amount: amount.expect("checked"),
            amount_returned: amount_returned.expect("checked"),
            items: items.expect("checked"),
            partner_order_id: partner_order_id.expect("checked"),
            payment_gateway: payment_gateway.expect("checked"),
            payment_date_ms: payment_date_ms.expect("checked"),
            id_key: id_key.expect("checked"),
            customer_key: customer_key.expect("checked"),
            subscription_id: subscription_id.expect("checked"),
            payment_info: payment_info.expect("checked"),
            payment_failed: input.payment_failed.unwrap_or(false),
            error_code: error_code.expect("checked"),
            error_message: error_message.expect("checked"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items_one() -> Vec<ItemInput> {
        vec![ItemInput {
            price_id: Some(10),
            quantity: Some(1),
        }]
    }

    fn input(items: &[ItemInput]) -> OrderInput<'_> {
        // STEP 4 of the StepCover guide.
        OrderInput {
            customer_id: Some(7),
            amount: Some(10000),
            amount_returned: Some(0),
            items: Some(items),
            partner_order_id: Some("1002"),
            payment_gateway: Some("NICE"),
            payment_date: None,
            id_key: None,
            customer_key: None,
            subscription_id: None,
            payment_info: None,
            payment_failed: None,
            error_code: None,
            error_message: None,
        }
    }

    #[test]
    fn parses_the_seed_guide_order() {
        let items = items_one();
        let o = NewOrder::parse(input(&items)).unwrap();
        assert_eq!(o.status(), "CREATED");
        assert_eq!(
            o.items,
            vec![OrderItem {
                price_id: 10,
                quantity: 1
            }]
        );
        let o = NewOrder::parse(OrderInput {
            payment_failed: Some(true),
            ..input(&items)
        })
        .unwrap();
        assert_eq!(o.status(), "PAYMENT_FAILURE");
    }

    #[test]
    fn rejects_bad_orders_by_field() {
        let items = items_one();
        let dup = vec![
            ItemInput {
                price_id: Some(1),
                quantity: Some(1),
            },
            ItemInput {
                price_id: Some(1),
                quantity: Some(2),
            },
        ];
        let zero = vec![ItemInput {
            price_id: Some(1),
            quantity: Some(0),
        }];
        let none: Vec<ItemInput> = vec![];
        let cases: Vec<(OrderInput, &str)> = vec![
            (
                OrderInput {
                    payment_gateway: Some("PAYPAL"),
                    ..input(&items)
                },
                "paymentGateway",
            ),
            (
                OrderInput {
                    payment_gateway: Some("nice"),
                    ..input(&items)
                },
                "paymentGateway",
            ),
            (
                OrderInput {
                    amount_returned: Some(20000),
                    ..input(&items)
                },
                "amountReturned",
            ),
            (
                OrderInput {
                    amount: Some(-5),
                    ..input(&items)
                },
                "amount",
            ),
            (
                OrderInput {
                    payment_date: Some("2023-01-01"),
                    ..input(&items)
                },
                "paymentDate",
            ),
            (input(&dup), "items[1].priceId"),
            (input(&zero), "items[0].quantity"),
            (input(&none), "items"),
            (
                OrderInput {
                    items: None,
                    ..input(&items)
                },
                "items",
            ),
            (
                OrderInput {
                    subscription_id: Some(0),
                    ..input(&items)
                },
                "subscriptionId",
            ),
        ];
        for (i, want) in cases {
            let errs = NewOrder::parse(i).unwrap_err();
            assert_eq!(errs[0].field, want);
        }
    }
}
