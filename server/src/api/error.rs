//! The one place API errors become responses, in StepPay's error shape
//! `{traceId, errorCode, errorMessage, details}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::FieldError;
use crate::limits::Limited;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("The request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("Send the body as JSON with Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("The request body is larger than 1 MiB")]
    PayloadTooLarge,
    #[error("Some fields are invalid")]
    Validation(Vec<FieldError>),
    #[error("Missing or invalid Secret-Token header")]
    Unauthorized,
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The body names a record the partner does not have (another partner's
    /// records count as missing).
    #[error("{field} does not name one of your {resource} records")]
    UnknownReference {
        field: &'static str,
        resource: &'static str,
    },
    /// The order is paid (by the partner's word or by a charge of ours):
    /// it is final. A new debt is a new order.
    #[error(
        "This order is already paid; nothing was changed. A new debt is a new order (a new partnerOrderId)"
    )]
    OrderAlreadyPaid,
    #[error("This Idempotency-Key was used with a different request")]
    IdempotencyKeyReused,
    #[error("A request with this Idempotency-Key is still being processed; retry shortly")]
    IdempotencyInFlight,
    #[error("Too many requests; retry after {} seconds", .0.retry_after_secs())]
    RateLimited(Limited),
    #[error("The server is at capacity; retry shortly")]
    Overloaded,
    #[error("The request took too long and was stopped; retry shortly")]
    TimedOut,
    #[error("Internal error; quote the traceId when contacting support")]
    Internal(#[from] StoreError),
}

/// StepPay's error shape.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    trace_id: String,
    error_code: &'static str,
    error_message: String,
    details: Option<Vec<Detail>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Detail {
    field: String,
    message: String,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    /// A rule beyond the OpenAPI document broken (`FieldError::rule`): 422.
    pub fn rule(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Validation(vec![FieldError::rule(field, message)])
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "MALFORMED_JSON"),
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE")
            }
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            // Only rules beyond the OpenAPI document broken: well-formed,
            // but unprocessable.
            ApiError::Validation(v) if !v.is_empty() && v.iter().all(|e| e.rule) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED")
            }
            ApiError::Validation(_) => (StatusCode::BAD_REQUEST, "VALIDATION_FAILED"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            ApiError::UnknownReference { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "UNKNOWN_REFERENCE")
            }
            ApiError::OrderAlreadyPaid => (StatusCode::CONFLICT, "ORDER_ALREADY_PAID"),
            ApiError::IdempotencyKeyReused => (StatusCode::CONFLICT, "IDEMPOTENCY_KEY_REUSED"),
            ApiError::IdempotencyInFlight => (StatusCode::CONFLICT, "IDEMPOTENCY_KEY_IN_FLIGHT"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
            ApiError::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "OVERLOADED"),
            ApiError::TimedOut => (StatusCode::SERVICE_UNAVAILABLE, "TIMED_OUT"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
        }
    }

    /// Seconds a caller should wait before retrying, when it should.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited(limited) => Some(limited.retry_after_secs()),
            ApiError::Overloaded | ApiError::TimedOut | ApiError::IdempotencyInFlight => Some(1),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(e) = &self {
            // The cause goes to the log, not to the partner.
            tracing::error!(error = %e, "request failed");
        }
        let details = match &self {
            ApiError::Validation(errors) => Some(
                errors
                    .iter()
                    .map(|e| Detail {
                        field: e.field.clone(),
                        message: e.message.clone(),
                    })
                    .collect(),
            ),
            ApiError::UnknownReference { field, resource } => Some(vec![Detail {
                field: (*field).to_owned(),
                message: format!("no {resource} with this id"),
            }]),
            ApiError::OrderAlreadyPaid => Some(vec![Detail {
                field: "orderId".to_owned(),
                message: "paid: no new recovery, charge, settlement or cancellation".to_owned(),
            }]),
            _ => None,
        };
        let body = ErrorBody {
            trace_id: super::trace::current(),
            error_code: code,
            error_message: self.to_string(),
            details,
        };
        let mut res = (status, Json(body)).into_response();
        if let Some(secs) = self.retry_after() {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        res
    }
}

/// Every error the API answers, in the OpenAPI document: one response per
/// status, naming its `errorCode`s, from the variants themselves, so the
/// handlers declare their errors once (`responses(..., ApiError)`).
impl utoipa::IntoResponses for ApiError {
    fn responses() -> std::collections::BTreeMap<
        String,
        utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
    > {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let mut by_status: std::collections::BTreeMap<u16, Vec<&'static str>> = Default::default();
        for e in ApiError::every_kind() {
            let (status, code) = e.status_and_code();
            by_status.entry(status.as_u16()).or_default().push(code);
        }
        by_status
            .into_iter()
            .map(|(status, codes)| {
                let response = ResponseBuilder::new()
                    .description(format!(
                        "StepPay's error shape; errorCode {}",
                        codes.join(" or ")
                    ))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build();
                (status.to_string(), response.into())
            })
            .collect()
    }
}

impl ApiError {
    /// One error of each kind. The match makes a new variant a compile
    /// error here until it is listed, so the document never misses one.
    fn every_kind() -> Vec<ApiError> {
        let all = vec![
            ApiError::MalformedJson(String::new()),
            ApiError::UnsupportedMediaType,
            ApiError::PayloadTooLarge,
            ApiError::Validation(Vec::new()),
            ApiError::Unauthorized,
            ApiError::NotFound(""),
            ApiError::UnknownReference {
                field: "",
                resource: "",
            },
            ApiError::OrderAlreadyPaid,
            ApiError::IdempotencyKeyReused,
            ApiError::IdempotencyInFlight,
            ApiError::RateLimited(Limited {
                retry_after: std::time::Duration::ZERO,
            }),
            ApiError::Overloaded,
            ApiError::TimedOut,
            ApiError::Internal(StoreError::Integrity("")),
        ];
        for e in &all {
            match e {
                ApiError::MalformedJson(_)
                | ApiError::UnsupportedMediaType
                | ApiError::PayloadTooLarge
                | ApiError::Validation(_)
                | ApiError::Unauthorized
                | ApiError::NotFound(_)
                | ApiError::UnknownReference { .. }
                | ApiError::OrderAlreadyPaid
                | ApiError::IdempotencyKeyReused
                | ApiError::IdempotencyInFlight
                | ApiError::RateLimited(_)
                | ApiError::Overloaded
                | ApiError::TimedOut
                | ApiError::Internal(_) => {}
            }
        }
        all
    }
}
