//! A partner's product, parsed from the API's input.

use super::{FieldError, Problems, required_text};

pub const MAX_NAME: usize = 200;
pub const MAX_PARTNER_ID: usize = 100;
pub const MAX_URL: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub name: String,
    pub partner_product_id: String,
    pub featured_image_url: Option<String>,
}

pub struct ProductInput<'a> {
    pub name: Option<&'a str>,
    pub partner_product_id: Option<&'a str>,
    pub featured_image_url: Option<&'a str>,
}

impl NewProduct {
    pub fn parse(input: ProductInput<'_>) -> Result<NewProduct, Vec<FieldError>> {
        let mut p = Problems::default();
        let name = p.check(required_text("name", input.name, MAX_NAME));
        let partner_product_id = p.check(required_text(
            "partnerProductId",
            input.partner_product_id,
            MAX_PARTNER_ID,
        ));
        let featured_image_url = p.check(optional_image_url(input.featured_image_url));
        p.into_result()?;
        Ok(NewProduct {
            name: name.expect("checked"),
            partner_product_id: partner_product_id.expect("checked"),
            featured_image_url: featured_image_url.expect("checked"),
        })
    }
}

/// The page shows this image, so only absolute http(s) URLs: never
/// `javascript:` or `data:` from a partner's database.
fn optional_image_url(value: Option<&str>) -> Result<Option<String>, FieldError> {
    let Some(raw) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let v = raw.trim();
    let field = "featuredImageUrl";
    // As sent, in characters, like the OpenAPI document's `maxLength`.
    if raw.chars().count() > MAX_URL {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_URL} characters"),
        ));
    }
    let rest = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"));
    match rest {
        Some(r)
            if !r.is_empty()
                && !r.starts_with('/')
                && !v.contains(|c: char| c.is_whitespace() || c.is_control()) =>
        {
            Ok(Some(v.to_owned()))
        }
        _ => Err(FieldError::new(field, "must be an absolute http(s) URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(
        name: Option<&'a str>,
        id: Option<&'a str>,
        url: Option<&'a str>,
    ) -> ProductInput<'a> {
        ProductInput {
            name,
            partner_product_id: id,
            featured_image_url: url,
        }
    }

    #[test]
    fn parses_the_seed_guide_example() {
        let p = NewProduct::parse(input(
            Some("상품이름"),
            Some("512"),
            Some("https://cdn.image.com/example.png"),
        ))
        .unwrap();
        assert_eq!(
            p.featured_image_url.as_deref(),
            Some("https://cdn.image.com/example.png")
        );
        let p = NewProduct::parse(input(Some("a"), Some("1"), Some(""))).unwrap();
        assert_eq!(p.featured_image_url, None, "empty means no image");
    }

    #[test]
    fn refuses_scripts_and_relative_urls() {
        for bad in [
            "javascript:alert(1)",
            "data:image/png;base64,AA",
            "/img.png",
            "https://",
            "http:///x",
            "https://a b",
        ] {
            let errs = NewProduct::parse(input(Some("a"), Some("1"), Some(bad))).unwrap_err();
            assert_eq!(errs[0].field, "featuredImageUrl", "{bad}");
        }
    }

    #[test]
    fn requires_name_and_partner_id() {
        let errs = NewProduct::parse(input(None, None, None)).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "partnerProductId"]);
    }
}
