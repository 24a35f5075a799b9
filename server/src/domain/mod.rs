//! Domain types and rules: parse-don't-validate inputs, tokens, origins.
//! Nothing here knows about HTTP or SQL.

pub mod account;
pub mod actions;
pub mod analytics;
pub mod card_window;
pub mod case;
pub mod customer;
pub mod decline;
pub mod event;
pub mod experiment;
pub mod gateway_account;
pub mod order;
pub mod origin;
pub mod price;
pub mod product;
pub mod retry;
pub mod scenario;
pub mod settings;
pub mod stats;
pub mod subscription;
pub mod token;

/// One invalid input field, as reported in an error's `details`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name in the partner's JSON (camelCase).
    pub field: String,
    pub message: String,
    /// A rule between fields, or of time, that the OpenAPI document cannot
    /// state (`amountReturned` at most `amount`, a period's end after its
    /// start): a request that breaks only such rules is well-formed but
    /// unprocessable (422), not malformed (400).
    pub rule: bool,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
            rule: false,
        }
    }

    /// A broken rule between fields or of time (see `rule`).
    pub fn rule(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            rule: true,
            ..FieldError::new(field, message)
        }
    }
}

/// Collects field errors so one response names every bad field, not just the first.
#[derive(Debug, Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    /// Runs a parser and keeps its error, if any.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    pub fn fields(&self) -> &[FieldError] {
        &self.0
    }

    pub fn into_result(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

/// A required, trimmed, bounded text field. The bound counts the value as
/// sent, surrounding white space included, as the OpenAPI document's
/// `maxLength` does (`api::schema`).
pub fn required_text(
    field: &str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<String, FieldError> {
    let raw = value.unwrap_or_default();
    let v = raw.trim();
    if v.is_empty() {
        return Err(FieldError::new(field, "is required"));
    }
    if raw.chars().count() > max_chars {
        return Err(FieldError::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_owned())
}

/// An optional bounded text field; empty means absent.
pub fn optional_text(
    field: &str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<Option<String>, FieldError> {
    match value.filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(v) => required_text(field, Some(v), max_chars).map(Some),
    }
}
