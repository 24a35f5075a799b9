//! URL query encoding for the page's own links (no dependency for one loop).

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode;
    use crate::copy::Lang;
    use crate::model::LinkParams;

    #[test]
    fn encodes_reserved_characters() {
        assert_eq!(
            encode("http://localhost:3001"),
            "http%3A%2F%2Flocalhost%3A3001"
        );
        assert_eq!(encode("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(encode("Ab-_.~9"), "Ab-_.~9");
    }

    #[test]
    fn links_carry_token_origin_embed_id_and_lang() {
        let link = LinkParams {
            token: "t-1".into(),
            origin: "https://shop.example.com".into(),
            embed_id: Some("e1".into()),
            lang: Lang::En,
            back: None,
        };
        assert_eq!(
            link.href("/embed/recovery/date"),
            "/embed/recovery/date?token=t-1&origin=https%3A%2F%2Fshop.example.com&embedId=e1&lang=en"
        );
        let ko = LinkParams {
            lang: Lang::Ko,
            embed_id: None,
            ..link
        };
        assert!(!ko.href("/x").contains("lang"), "Korean is the default");
        let back = LinkParams {
            back: Some("https://shop.example.com/r".into()),
            ..ko
        };
        assert!(
            back.href("/x")
                .ends_with("&back=https%3A%2F%2Fshop.example.com%2Fr")
        );
    }
}
