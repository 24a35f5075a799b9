//! The OpenAPI document lists every route the API router registers.

mod common;

use common::spawn_app;
use serde_json::Value;

/// (method, path) of every `.route(...)` in the API router's source, so a
/// route added there without documentation fails this test.
fn registered_routes() -> Vec<(String, String)> {
    let source = include_str!("../src/api/mod.rs");
    let mut routes = Vec::new();
    for (start, _) in source.match_indices(".route(") {
        // The call's text, up to its closing parenthesis (calls span lines).
        let mut depth = 0;
        let call: String = source[start..]
            .chars()
            .take_while(|c| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                !(depth == 0 && *c == ')')
            })
            .collect();
        let path = call.split('"').nth(1).unwrap().to_string();
        if path == "/api/openapi.json" {
            continue;
        }
        for method in ["get", "post", "put", "patch", "delete"] {
            if call.contains(&format!("{method}(")) {
                routes.push((method.to_string(), path.clone()));
            }
        }
    }
    routes
}

#[tokio::test]
async fn every_route_is_documented_in_openapi_3_1() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "served without a Secret-Token");
    let doc: Value = res.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let routes = registered_routes();
    assert!(routes.len() >= 21, "parsed {} routes", routes.len());
    let missing: Vec<_> = routes
        .iter()
        .filter(|(method, path)| doc["paths"][path.as_str()][method.as_str()].is_null())
        .collect();
    assert!(missing.is_empty(), "undocumented routes: {missing:?}");
    assert!(doc["components"]["securitySchemes"]["Secret-Token"].is_object());
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}
