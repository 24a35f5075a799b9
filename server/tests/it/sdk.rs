//! `/sdk/`: current files, immutable versioned paths, and the SRI manifest.

use crate::common;

use base64::Engine;
use common::spawn_app;
use reqwest::StatusCode;
use sha2::{Digest, Sha384};

fn sri(bytes: &[u8]) -> String {
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha384::digest(bytes))
    )
}

#[tokio::test]
async fn versioned_files_are_immutable_and_listed_with_their_integrity() {
    let app = spawn_app().await;
    std::fs::create_dir_all(&app.sdk_dir).unwrap();
    let files: [(&str, &[u8]); 3] = [
        ("embed.js", b"import './rebound_listener.js';"),
        ("rebound_listener.js", b"export default 1;"),
        ("rebound_listener_bg.wasm", b"\0asm\x01\0\0\0"),
    ];
    for (name, bytes) in files {
        std::fs::write(app.sdk_dir.join(name), bytes).unwrap();
    }
    let manifest: serde_json::Value = app
        .client
        .get(app.url("/sdk/manifest.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let version = manifest["version"].as_str().unwrap().to_owned();
    for (name, bytes) in files {
        let entry = &manifest["files"][name];
        assert_eq!(entry["integrity"], sri(bytes), "{name}");
        let path = entry["path"].as_str().unwrap();
        assert_eq!(path, format!("/sdk/{version}/{name}"));
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let h = res.headers();
        assert_eq!(h["cache-control"], "public, max-age=31536000, immutable");
        assert_eq!(h["access-control-allow-origin"], "*");
        assert_eq!(h["cross-origin-resource-policy"], "cross-origin");
        let wasm = name.ends_with(".wasm");
        assert_eq!(
            h["content-type"].to_str().unwrap().contains("wasm"),
            wasm,
            "{name}"
        );
        assert_eq!(&res.bytes().await.unwrap()[..], bytes);

        let latest = app
            .client
            .get(app.url(&format!("/sdk/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(latest.headers()["cache-control"], "no-cache");
    }

    // A rebuilt file gets a new version; the old versioned URL is gone
    // rather than serving different bytes.
    std::fs::write(app.sdk_dir.join("embed.js"), b"// v2").unwrap();
    let old = app
        .client
        .get(app.url(&format!("/sdk/{version}/embed.js")))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), StatusCode::NOT_FOUND);
    for path in [
        "/sdk/0000000000000000/embed.js",
        "/sdk/missing.js",
        "/sdk/../Cargo.toml",
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
}
