//! `ApiJson<T>`: a JSON body extractor whose every failure is an [`ApiError`]
//! naming the offending field (serde_path_to_error), instead of axum's
//! plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use super::ApiError;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json")
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::MalformedJson(rejection.body_text())
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Parses a body, turning serde's errors into field-level validation errors.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde accepts a JSON array for a struct (fields by position); a partner
    // sending one has made a mistake worth naming plainly.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::MalformedJson(
            "the body must be a JSON object".into(),
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::MalformedJson(inner.to_string());
        }
        let msg = strip_position(&inner.to_string());
        // Unknown and missing fields are reported on the enclosing object;
        // name the field itself.
        let named = field_in_message(&msg)
            .filter(|_| msg.starts_with("unknown field") || msg.starts_with("missing field"));
        match (path.as_str(), named) {
            (".", Some(name)) => ApiError::invalid(name, msg),
            (".", None) => ApiError::MalformedJson(msg),
            (p, Some(name)) if !p.ends_with(name.as_str()) => {
                ApiError::invalid(format!("{p}.{name}"), msg)
            }
            (p, _) => ApiError::invalid(p, msg),
        }
    })
}

/// serde_json appends " at line 1 column 42"; the field name says more.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// "unknown field `foo`, expected ..." / "missing field `foo`" -> "foo".
fn field_in_message(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let end = start + msg[start..].find('`')?;
    Some(msg[start..end].to_owned())
}

/// A query string extractor whose failure (a repeated or malformed
/// parameter) is an [`ApiError`] in StepPay's shape, like the body's,
/// never axum's plain-text rejection.
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
            .map(ApiQuery)
            .map_err(|e| ApiError::invalid("query", e.to_string()))
    }
}

/// A whole number as JSON Schema's `integer` reads it: `961` and `961.0`
/// alike (the OpenAPI document says `integer`, and a JSON writer may put
/// either). For `Option<i64>` request fields, with `#[serde(default)]`.
pub fn whole<'de, D>(d: D) -> Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize;
    use serde::de::Error;
    let n: Option<serde_json::Number> = Option::deserialize(d)?;
    n.map(|n| {
        n.as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() <= 9.0e18)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| D::Error::custom("expected a whole number"))
    })
    .transpose()
}

/// As [`whole`], for a required field.
pub fn whole_required<'de, D>(d: D) -> Result<i64, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    whole(d)?.ok_or_else(|| D::Error::custom("expected a whole number"))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Body {
        name: Option<String>,
        replace_if_exists: Option<bool>,
    }

    fn field_of(err: ApiError) -> String {
        match err {
            ApiError::Validation(v) => v[0].field.clone(),
            other => panic!("expected validation error, got {other:?}"),
        }
    }

    #[test]
    fn names_the_field_with_the_wrong_type() {
        let err = parse::<Body>(br#"{"name": 5}"#).unwrap_err();
        assert_eq!(field_of(err), "name");
        let err = parse::<Body>(br#"{"replaceIfExists": "yes"}"#).unwrap_err();
        assert_eq!(field_of(err), "replaceIfExists");
    }

    #[test]
    fn names_unknown_fields() {
        let err = parse::<Body>(br#"{"nmae": "x"}"#).unwrap_err();
        assert_eq!(field_of(err), "nmae");
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        items: Vec<Body>,
    }

    #[test]
    fn names_nested_unknown_fields_with_their_path() {
        let err = parse::<Outer>(br#"{"items": [{"name": "a"}, {"x": 1}]}"#).unwrap_err();
        assert_eq!(field_of(err), "items[1].x");
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        assert!(matches!(
            parse::<Body>(b"{\"name\": "),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse::<Body>(b"not json"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse::<Body>(b"[1]"),
            Err(ApiError::MalformedJson(_))
        ));
    }
}
