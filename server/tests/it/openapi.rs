//! The OpenAPI document comes from the router itself (`api::documented`:
//! utoipa-axum's `routes!`), so a route cannot go undocumented. These check
//! that what it documents is served, that every operation declares the
//! StepPay error shape, and that the StepCover routes are all there.

use crate::common;

use common::spawn_app;
use serde_json::Value;

async fn document(app: &common::TestApp) -> Value {
    let res = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "served without a Secret-Token");
    res.json().await.unwrap()
}

#[tokio::test]
async fn every_documented_operation_is_served_and_declares_its_errors() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(doc["components"]["securitySchemes"]["Secret-Token"].is_object());
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            for status in ["400", "401", "404", "429", "503"] {
                let schema =
                    &op["responses"][status]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
            // Without a token the router answers 401: the route exists
            // with this method (an undocumented-but-served or documented-
            // but-missing route would be a 404 or 405).
            let url = app.url(&path.replace("{id}", "1"));
            let res = app
                .client
                .request(method.to_uppercase().parse().unwrap(), url)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 401, "{method} {path}");
        }
    }
    assert!(operations >= 26, "{operations} operations");
}

#[tokio::test]
async fn the_stepcover_routes_and_ours_are_all_in_the_document() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    for (method, path) in [
        ("post", "/api/v1/cover/customer"),
        ("get", "/api/v1/cover/customer/{id}"),
        ("post", "/api/v1/cover/product"),
        ("post", "/api/v1/cover/price"),
        ("post", "/api/v1/cover/order"),
        ("post", "/api/v1/cover/subscription"),
        ("put", "/api/v1/cover/subscription/{id}/active"),
        ("put", "/api/v1/cover/subscription/{id}/cancel"),
        ("patch", "/api/v1/cover/order/success/{id}"),
        ("patch", "/api/v1/cover/order/cancel/{id}"),
        ("get", "/api/v1/cover/order/{id}/idKey"),
        ("post", "/api/v1/cover/recovery"),
        ("get", "/api/v1/cover/analytics"),
        ("get", "/api/v1/cover/events"),
        ("post", "/api/v1/cover/events/redeliver"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    let analytics = &doc["paths"]["/api/v1/cover/analytics"]["get"];
    let params: Vec<&str> = analytics["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["from", "to", "interval"]);
}

/// Every operation has an id of its own (OpenAPI requires them unique;
/// `create` and `get` were used five and six times), named for what it
/// does, so generated clients get one method each.
#[tokio::test]
async fn every_operation_has_a_unique_meaningful_id() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let mut ids = std::collections::BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
                .to_owned();
            assert!(
                id.len() > 6 && id.chars().next().unwrap().is_ascii_lowercase(),
                "{method} {path}: {id}"
            );
            if let Some(other) = ids.insert(id.clone(), format!("{method} {path}")) {
                panic!("{id} is both {other} and {method} {path}");
            }
        }
    }
    assert_eq!(ids["createOrder"], "post /api/v1/cover/order");
    assert_eq!(ids["getOrderIdKey"], "get /api/v1/cover/order/{id}/idKey");
}
