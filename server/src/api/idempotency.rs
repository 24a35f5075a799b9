//! `Idempotency-Key` on POST, PATCH and PUT: a retry with the same key and
//! body gets the first response (errors included) without running again; the
//! same key with another body is a 409. Keys are per partner and kept at least
//! 24 hours.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::auth::authenticate;
use super::{ApiError, MAX_BODY_BYTES};
use crate::state::AppState;
use crate::store::KeyState;

const HEADER: &str = "idempotency-key";
const KEEP_MS: i64 = 24 * 60 * 60 * 1000;
/// A request still unfinished after this long was abandoned (every API call
/// is far shorter); its key may be claimed again.
const ABANDONED_MS: i64 = 60 * 1000;

fn valid_key(k: &str) -> bool {
    (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic())
}

/// What makes two requests "the same": method, path with query, body.
fn request_hash(method: &Method, uri: &axum::http::Uri, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update(b" ");
    h.update(
        uri.path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("")
            .as_bytes(),
    );
    h.update(b"\n");
    h.update(body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::POST | Method::PATCH | Method::PUT) {
        return next.run(req).await;
    }
    let Some(raw_key) = req.headers().get(HEADER) else {
        return next.run(req).await;
    };
    let key = match raw_key.to_str() {
        Ok(k) if valid_key(k) => k.to_owned(),
        _ => {
            return ApiError::invalid(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )
            .into_response();
        }
    };
    // Keys belong to a partner; an unauthenticated (or throttled) request
    // is answered as the handler would, without counting it twice.
    let (mut parts, body) = req.into_parts();
    let ip = crate::serve::peer_ip(&parts);
    let partner = match authenticate(&state, &parts.headers, ip).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError::PayloadTooLarge.into_response();
    };
    let hash = request_hash(&parts.method, &parts.uri, &bytes);
    let now = state.clock.now().timestamp_millis();
    // Expired keys go when new requests come; no separate sweeper needed.
    if let Err(e) = state.store.purge_idempotency_keys(now - KEEP_MS).await {
        tracing::warn!(error = %e, "purging idempotency keys");
    }
    let claim = state
        .store
        .claim_idempotency_key(partner.id, &key, &hash, now, ABANDONED_MS)
        .await;
    match claim {
        Err(e) => ApiError::from(e).into_response(),
        Ok(KeyState::InFlight { request_hash }) if request_hash != hash => {
            ApiError::IdempotencyKeyReused.into_response()
        }
        Ok(KeyState::InFlight { .. }) => ApiError::IdempotencyInFlight.into_response(),
        Ok(KeyState::Done {
            request_hash,
            status,
            body,
        }) => {
            if request_hash != hash {
                return ApiError::IdempotencyKeyReused.into_response();
            }
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut res = (status, body).into_response();
            res.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            res.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            res
        }
        Ok(KeyState::Claimed) => {
            let partner_id = partner.id;
            parts.extensions.insert(partner);
            let res = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            let (res_parts, res_body) = res.into_parts();
            let body = to_bytes(res_body, usize::MAX).await.unwrap_or_default();
            let stored = match std::str::from_utf8(&body) {
                Ok(text) => {
                    state
                        .store
                        .finish_idempotency_key(partner_id, &key, res_parts.status.as_u16(), text)
                        .await
                }
                Err(_) => state.store.release_idempotency_key(partner_id, &key).await,
            };
            if let Err(e) = stored {
                tracing::error!(error = %e, "storing idempotent response");
            }
            Response::from_parts(res_parts, Body::from(body))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(valid_key("order-1002-attempt-1"));
        assert!(valid_key(&"k".repeat(255)));
        assert!(!valid_key(""));
        assert!(!valid_key(&"k".repeat(256)));
        assert!(!valid_key("with space"));
        assert!(!valid_key("키"));
    }

    #[test]
    fn the_hash_covers_method_path_and_body() {
        let uri: axum::http::Uri = "/api/v1/cover/order".parse().unwrap();
        let other: axum::http::Uri = "/api/v1/cover/customer".parse().unwrap();
        let a = request_hash(&Method::POST, &uri, b"{}");
        assert_eq!(a, request_hash(&Method::POST, &uri, b"{}"));
        assert_ne!(a, request_hash(&Method::PUT, &uri, b"{}"));
        assert_ne!(a, request_hash(&Method::POST, &other, b"{}"));
        assert_ne!(a, request_hash(&Method::POST, &uri, b"{ }"));
    }
}
