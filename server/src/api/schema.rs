//! The request fields' schemas, written to say exactly what the domain's
//! parsers accept (`domain::required_text`, `optional_text`, the e-mail,
//! phone, URL and customer-key rules): a value the document allows is
//! accepted, one it forbids is refused. Schemathesis holds both sides to
//! it in `make test` (`scripts/contract.sh`).
//!
//! The patterns use only what ECMA-262 and Python's `re` read alike, with
//! the white space Rust's `str::trim` removes spelled out (`\s` differs
//! between them).

use utoipa::openapi::KnownFormat;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaFormat, SchemaType, Type};

/// The largest whole number every JSON reader keeps exact (2^53 - 1,
/// JavaScript's `Number.MAX_SAFE_INTEGER`): the bound of the ids, times and
/// cursors the API takes.
pub const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

/// Rust's White_Space, which `trim` removes around a value.
macro_rules! space {
    () => {
        r"[\x09-\x0d\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    };
}
/// Neither a control character nor white space.
macro_rules! visible {
    () => {
        r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    };
}
/// Not a control character.
macro_rules! inner {
    () => {
        r"[^\x00-\x1f\x7f-\x9f]"
    };
}

/// Required text: something besides white space, no control character.
pub const TEXT: &str = concat!(
    "^",
    space!(),
    "*",
    visible!(),
    "(?:",
    inner!(),
    "*",
    visible!(),
    ")?",
    space!(),
    "*$"
);
/// Optional text: as `TEXT`, or only white space (read as absent).
pub const OPTIONAL_TEXT: &str = concat!(
    "^",
    space!(),
    "*(?:",
    visible!(),
    "(?:",
    inner!(),
    "*",
    visible!(),
    ")?",
    space!(),
    "*)?$"
);
/// An e-mail address as `domain::customer` reads it: something, `@`, a
/// domain with a dot inside.
pub const EMAIL: &str = concat!(
    "^",
    space!(),
    "*",
    r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]+@",
    r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.]",
    r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]*\.",
    r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@]*",
    r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@.]",
    space!(),
    "*$"
);
/// A phone number: 8 to 15 digits, spaces and dashes, a leading `+`.
pub const PHONE: &str = concat!(
    "^",
    space!(),
    r"*\+?[ -]*(?:[0-9][ -]*){8,15}",
    space!(),
    "*$"
);
/// An absolute http(s) URL with a host, no white space.
pub const IMAGE_URL: &str = concat!(
    "^",
    space!(),
    "*(?:https?://",
    r"[^/\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    visible!(),
    "*)?",
    space!(),
    "*$"
);
/// A Toss customer key (or only white space: none).
pub const CUSTOMER_KEY: &str = concat!(
    "^",
    space!(),
    "*(?:[A-Za-z0-9_=.@-]{2,300})?",
    space!(),
    "*$"
);

fn string(pattern: &str, max: Option<usize>, nullable: bool) -> ObjectBuilder {
    let ty = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(ty)
        .pattern(Some(pattern))
        .max_length(max)
}

macro_rules! texts {
    ($($name:ident => $pattern:expr, $max:expr, $nullable:expr;)+) => {
        $(
            pub fn $name() -> Object {
                string($pattern, $max, $nullable).build()
            }
        )+
    };
}

texts! {
    text_100 => TEXT, Some(100), false;
    text_200 => TEXT, Some(200), false;
    optional_text_100 => OPTIONAL_TEXT, Some(100), true;
    optional_text_500 => OPTIONAL_TEXT, Some(500), true;
    optional_text_512 => OPTIONAL_TEXT, Some(512), true;
    email => EMAIL, Some(crate::domain::customer::MAX_EMAIL), false;
    phone => PHONE, Some(32), false;
    image_url => IMAGE_URL, Some(crate::domain::product::MAX_URL), true;
    customer_key => CUSTOMER_KEY, None, true;
}

fn one_of(values: &[&str], nullable: bool) -> Object {
    let ty = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    let mut values: Vec<serde_json::Value> = values.iter().map(|v| (*v).into()).collect();
    if nullable {
        values.push(serde_json::Value::Null);
    }
    ObjectBuilder::new()
        .schema_type(ty)
        .enum_values(Some(values))
        .build()
}

const INTERVALS: &[&str] = &["DAY", "WEEK", "MONTH", "YEAR"];

/// A price's or subscription's `recurringInterval`.
pub fn interval() -> Object {
    one_of(INTERVALS, false)
}

pub fn optional_interval() -> Object {
    one_of(INTERVALS, true)
}

/// StepPay's gateway names (`domain::order::PAYMENT_GATEWAYS`).
pub fn payment_gateway() -> Object {
    one_of(crate::domain::order::PAYMENT_GATEWAYS, false)
}

/// How the analytics series is cut.
pub fn analytics_interval() -> Object {
    one_of(&["day", "week"], false)
}

/// An RFC 3339 time with its offset (`2023-01-01T12:00:00Z`).
pub fn time() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .build()
}

/// As `time`, or null.
pub fn optional_time() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, value: &str) -> bool {
        regex::Regex::new(pattern).unwrap().is_match(value)
    }

    /// The patterns agree with the parsers on the edges that matter.
    #[test]
    fn the_patterns_accept_what_the_parsers_accept() {
        use crate::domain::required_text;
        for (value, ok) in [
            ("Kim", true),
            ("  Kim\t", true),
            ("김 민수", true),
            ("", false),
            ("   ", false),
            ("\u{3000}", false),
            ("a\u{0}b", false),
            ("a\u{85}b", false),
            ("a\u{a0}b", true),
        ] {
            assert_eq!(matches(TEXT, value), ok, "{value:?}");
            assert_eq!(
                required_text("f", Some(value), 100).is_ok(),
                ok,
                "{value:?}"
            );
        }
        assert!(matches(OPTIONAL_TEXT, "  ") && matches(OPTIONAL_TEXT, ""));
        for (value, ok) in [
            ("kim@example.com", true),
            (" kim@example.com ", true),
            ("kim@example", false),
            ("kim@.example.com", false),
            ("kim@example.com.", false),
            ("@example.com", false),
            ("k m@example.com", false),
            ("a@b@c.com", false),
            ("a@b..c", true),
        ] {
            assert_eq!(matches(EMAIL, value), ok, "{value:?}");
        }
        for (value, ok) in [
            ("010-1234-5678", true),
            ("+82 10 1234 5678", true),
            ("1234567", false),
            ("1234567890123456", false),
            ("-12345678", true),
            ("1+2345678", false),
        ] {
            assert_eq!(matches(PHONE, value), ok, "{value:?}");
        }
        for (value, ok) in [
            ("https://cdn.example/a.png", true),
            ("http://x", true),
            ("https:///x", false),
            ("https://", false),
            ("ftp://x", false),
            ("https://a b", false),
            ("  ", true),
        ] {
            assert_eq!(matches(IMAGE_URL, value), ok, "{value:?}");
        }
        assert!(matches(CUSTOMER_KEY, "cust_01") && !matches(CUSTOMER_KEY, "c"));
    }
}
