//! A partner's customer, parsed from the API's input.

use super::{FieldError, Problems, required_text};

pub const MAX_NAME: usize = 100;
pub const MAX_EMAIL: usize = 254;
pub const MAX_PARTNER_ID: usize = 100;

/// A customer that passed validation; the only way to store one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    pub name: String,
    pub email: String,
    pub phone: String,
    pub partner_customer_id: String,
}

/// The raw fields as the partner sent them.
pub struct CustomerInput<'a> {
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub partner_customer_id: Option<&'a str>,
}

impl NewCustomer {
    pub fn parse(input: CustomerInput<'_>) -> Result<NewCustomer, Vec<FieldError>> {
        let mut p = Problems::default();
        let name = p.check(required_text("name", input.name, MAX_NAME));
        let email = p.check(parse_email(input.email));
        let phone = p.check(parse_phone(input.phone));
        let partner_customer_id = p.check(required_text(
            "partnerCustomerId",
            input.partner_customer_id,
            MAX_PARTNER_ID,
        ));
        p.into_result()?;
        Ok(NewCustomer {
            name: name.expect("checked"),
            email: email.expect("checked"),
            phone: phone.expect("checked"),
            partner_customer_id: partner_customer_id.expect("checked"),
        })
    }
}

/// Deliberately loose (one `@`, a dot in the domain, no spaces): the partner
/// already verified the address; we only refuse what is plainly not one.
fn parse_email(value: Option<&str>) -> Result<String, FieldError> {
    let v = required_text("email", value, MAX_EMAIL)?;
    let valid = match v.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !v.contains(char::is_whitespace)
        }
        None => false,
    };
    if valid {
        Ok(v)
    } else {
        Err(FieldError::new(
            "email",
            "must be an email address like name@example.com",
        ))
    }
}

/// Korean mobile numbers as partners send them (`01012345678`, `010-1234-5678`,
/// `+821012345678`), normalised to digits with an optional leading `+`.
fn parse_phone(value: Option<&str>) -> Result<String, FieldError> {
    let v = required_text("phone", value, 32)?;
    let (plus, rest) = match v.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", v.as_str()),
    };
    if !rest
        .chars()
        .all(|c| c.is_ascii_digit() || c == '-' || c == ' ')
    {
        return Err(FieldError::new(
            "phone",
            "must contain only digits, spaces, dashes and a leading +",
        ));
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    if !(8..=15).contains(&digits.len()) {
        return Err(FieldError::new("phone", "must have 8 to 15 digits"));
    }
    Ok(format!("{plus}{digits}"))
}

/// A name as the page shows it to whoever holds the link: the first and
/// last characters, the rest starred (`김길동` -> `김*동`, `이몽` -> `이*`).
pub fn masked_name(name: &str) -> String {
    let chars: Vec<char> = name.trim().chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => chars[0].to_string(),
        2 => format!("{}*", chars[0]),
        n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
    }
}

/// The phone's last four digits (`01012345678` -> `5678`).
pub fn phone_last4(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(4)..].iter().collect()
}

/// Toss's limit on a charge's `orderName`.
const MAX_ORDER_NAME: usize = 100;

/// A charge's order name: the product, and whose subscription it pays
/// (`프리미엄 멤버십 (김*동님)`), so whoever's card pays sees it in the card
/// company's notice and receipt: a forwarded link cannot quietly put
/// someone else's debt on a card.
pub fn order_name(product: Option<&str>, customer_name: &str) -> String {
    let product = product
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .unwrap_or("정기 결제");
    let name = masked_name(customer_name);
    let payer = if name.is_empty() {
        String::new()
    } else {
        format!(" ({name}님)")
    };
    if product.chars().count() + payer.chars().count() <= MAX_ORDER_NAME {
        return format!("{product}{payer}");
    }
    // Too long: keep the payer, cut the product.
    let keep = MAX_ORDER_NAME.saturating_sub(payer.chars().count() + 1);
    format!("{}…{payer}", product.chars().take(keep).collect::<String>())
}

/// A billing key as a person may see it: its last four characters, so two
/// keys can be told apart, and nothing that could charge the card.
pub fn masked_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    if chars.len() <= 8 {
        "••••".to_owned()
    } else {
        format!("••••{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_keys_show_their_last_four_only() {
        assert_eq!(masked_key("sandbox_ok_0123456789abcdef"), "••••cdef");
        assert_eq!(masked_key("short"), "••••", "too short to show any of");
        assert_eq!(masked_key(""), "••••");
        assert!(!masked_key("bk_live_secretpart_9876").contains("secret"));
    }

    #[test]
    fn a_charge_names_the_product_and_whose_debt_it_pays() {
        assert_eq!(
            order_name(Some("프리미엄 멤버십"), "김길동"),
            "프리미엄 멤버십 (김*동님)"
        );
        assert_eq!(order_name(None, "김길동"), "정기 결제 (김*동님)");
        assert_eq!(order_name(Some("  "), ""), "정기 결제");
        let long = "가".repeat(120);
        let named = order_name(Some(&long), "김길동");
        assert_eq!(named.chars().count(), 100);
        assert!(named.ends_with("… (김*동님)"), "{named}");
    }

    #[test]
    fn the_page_shows_whose_debt_it_is_without_showing_who() {
        assert_eq!(masked_name("김길동"), "김*동");
        assert_eq!(masked_name("남궁민수"), "남**수");
        assert_eq!(masked_name("이몽"), "이*");
        assert_eq!(masked_name("김"), "김");
        assert_eq!(masked_name(" John Smith "), "J********h");
        assert_eq!(masked_name(""), "");
        assert_eq!(phone_last4("01012345678"), "5678");
        assert_eq!(phone_last4("010-1234-5678"), "5678");
        assert_eq!(phone_last4("12"), "12");
    }

    fn input<'a>(name: &'a str, email: &'a str, phone: &'a str, id: &'a str) -> CustomerInput<'a> {
        CustomerInput {
            name: Some(name),
            email: Some(email),
            phone: Some(phone),
            partner_customer_id: Some(id),
        }
    }

    #[test]
    fn parses_the_seed_guide_example() {
        let c = NewCustomer::parse(input(
            "김길동",
            "gildong@domain.com",
            "01012345678",
            "10424",
        ))
        .unwrap();
        assert_eq!(c.name, "김길동");
        assert_eq!(c.phone, "01012345678");
    }

    #[test]
    fn normalises_phone_numbers() {
        let c = NewCustomer::parse(input("a", "a@b.co", "010-1234-5678", "1")).unwrap();
        assert_eq!(c.phone, "01012345678");
        let c = NewCustomer::parse(input("a", "a@b.co", "+82 10 1234 5678", "1")).unwrap();
        assert_eq!(c.phone, "+821012345678");
    }

    #[test]
    fn reports_every_bad_field() {
        let errs =
            NewCustomer::parse(input(" ", "not-an-email", "12", &"x".repeat(101))).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "email", "phone", "partnerCustomerId"]);
    }

    #[test]
    fn missing_fields_are_required() {
        let errs = NewCustomer::parse(CustomerInput {
            name: None,
            email: None,
            phone: None,
            partner_customer_id: None,
        })
        .unwrap_err();
        assert!(errs.iter().all(|e| e.message == "is required"));
        assert_eq!(errs.len(), 4);
    }

    #[test]
    fn rejects_control_characters_and_odd_emails() {
        assert!(NewCustomer::parse(input("a\u{0}b", "a@b.co", "01012345678", "1")).is_err());
        for bad in ["a@b", "@b.co", "a@.co", "a@b.co.", "a b@c.co", "a@b@c.co"] {
            assert!(
                NewCustomer::parse(input("a", bad, "01012345678", "1")).is_err(),
                "{bad}"
            );
        }
    }
}
