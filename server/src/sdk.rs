//! `/sdk/`: the one-tag embed script and the partner listener's JS and WASM,
//! loaded cross-origin by partner pages (hence CORS and CORP headers).
//!
//! - `/sdk/<file>`: the current build, revalidated on every load.
//! - `/sdk/<version>/<file>`: immutable, cached for a year. The version is a
//!   hash over every file's content, so one version directory always holds
//!   files built together, and a changed file gets a new URL.
//! - `/sdk/manifest.json`: the current version and each file's versioned path
//!   and Subresource Integrity hash (`sha384-...`), for partners who pin.
//!
//! Files are read from disk on each request (they are a few KB), so a
//! rebuilt SDK is picked up without a restart.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256, Sha384};

/// What the SDK directory holds, in a fixed order.
pub const FILES: [&str; 3] = [
    "embed.js",
    "rebound_listener.js",
    "rebound_listener_bg.wasm",
];

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

#[derive(Clone)]
struct SdkDir(PathBuf);

pub fn router<S: Clone + Send + Sync + 'static>(dir: &Path) -> Router<S> {
    Router::new()
        .route("/sdk/manifest.json", get(manifest))
        .route("/sdk/{file}", get(latest))
        .route("/sdk/{version}/{file}", get(versioned))
        .with_state(SdkDir(dir.to_owned()))
}

struct Built {
    name: &'static str,
    bytes: Vec<u8>,
}

async fn read_all(dir: &Path) -> Vec<Built> {
    let mut out = Vec::new();
    for name in FILES {
        if let Ok(bytes) = tokio::fs::read(dir.join(name)).await {
            out.push(Built { name, bytes });
        }
    }
    out
}

/// 16 hex digits of SHA-256 over every file's name and content hash.
fn version_of(files: &[Built]) -> String {
    let mut h = Sha256::new();
    for f in files {
        h.update(f.name.as_bytes());
        h.update([0]);
        h.update(Sha256::digest(&f.bytes));
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn integrity(bytes: &[u8]) -> String {
    format!("sha384-{}", STANDARD.encode(Sha384::digest(bytes)))
}

fn content_type(name: &str) -> &'static str {
    if name.ends_with(".wasm") {
        "application/wasm"
    } else if name.ends_with(".json") {
        "application/json"
    } else {
        "text/javascript; charset=utf-8"
    }
}

/// Any partner page loads the SDK; it carries no credentials or data.
fn respond(body: Vec<u8>, content_type: &'static str, cache: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CACHE_CONTROL, HeaderValue::from_static(cache)),
            (ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
            (
                HeaderName::from_static("cross-origin-resource-policy"),
                HeaderValue::from_static("cross-origin"),
            ),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        body,
    )
        .into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

async fn latest(State(dir): State<SdkDir>, UrlPath(file): UrlPath<String>) -> Response {
    let Some(name) = FILES.iter().find(|f| **f == file) else {
        return not_found();
    };
    match tokio::fs::read(dir.0.join(name)).await {
        Ok(bytes) => respond(bytes, content_type(name), "no-cache"),
        Err(_) => not_found(),
    }
}

async fn versioned(
    State(dir): State<SdkDir>,
    UrlPath((version, file)): UrlPath<(String, String)>,
) -> Response {
    let files = read_all(&dir.0).await;
    if version != version_of(&files) {
        return not_found();
    }
    match files.into_iter().find(|f| f.name == file) {
        Some(f) => respond(f.bytes, content_type(f.name), IMMUTABLE),
        None => not_found(),
    }
}

async fn manifest(State(dir): State<SdkDir>) -> Response {
    let files = read_all(&dir.0).await;
    let version = version_of(&files);
    let entries: serde_json::Map<String, serde_json::Value> = files
        .iter()
        .map(|f| {
            (
                f.name.to_owned(),
                serde_json::json!({
                    "path": format!("/sdk/{version}/{}", f.name),
                    "integrity": integrity(&f.bytes),
                    "bytes": f.bytes.len(),
                }),
            )
        })
        .collect();
    let body = serde_json::json!({ "version": version, "files": entries });
    respond(
        body.to_string().into_bytes(),
        "application/json",
        "no-cache",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_is_sri_sha384() {
        // `printf '' | openssl dgst -sha384 -binary | base64`
        assert_eq!(
            integrity(b""),
            "sha384-OLBgp1GsljhM2TJ+sbHjaiH9txEUvgdDTAzHv2P24donTt6/529l+9Ua0vFImLlb"
        );
    }

    #[test]
    fn the_version_changes_with_any_file() {
        let a = [Built {
            name: "embed.js",
            bytes: b"1".to_vec(),
        }];
        let b = [Built {
            name: "embed.js",
            bytes: b"2".to_vec(),
        }];
        assert_ne!(version_of(&a), version_of(&b));
        assert_eq!(version_of(&a).len(), 16);
    }
}
