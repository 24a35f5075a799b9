/// Formats won with thousands separators: `10000` -> `10,000원` (Korean) or
/// `₩10,000` (English). KRW has no minor unit, so the integer is the amount.
pub fn format_krw(amount: i64, lang: crate::copy::Lang) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if amount < 0 { "-" } else { "" };
    match lang {
        crate::copy::Lang::Ko => format!("{sign}{grouped}원"),
        crate::copy::Lang::En => format!("{sign}₩{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::Lang;

    #[test]
    fn groups_thousands() {
        assert_eq!(format_krw(0, Lang::Ko), "0원");
        assert_eq!(format_krw(999, Lang::Ko), "999원");
        assert_eq!(format_krw(1000, Lang::Ko), "1,000원");
        assert_eq!(format_krw(10000, Lang::Ko), "10,000원");
        assert_eq!(format_krw(1234567, Lang::En), "₩1,234,567");
        assert_eq!(format_krw(-5000, Lang::Ko), "-5,000원");
    }
}
