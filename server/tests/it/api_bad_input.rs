//! The bad-input battery: every malformed request gets a 4xx in StepPay's
//! error shape naming the field, and writes nothing.

use crate::common;

use common::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// (path, a valid body, the fields it requires, which are strings).
struct Endpoint {
    path: &'static str,
    body: Value,
    required: &'static [&'static str],
    strings: &'static [&'static str],
}

async fn endpoints(app: &TestApp) -> Vec<Endpoint> {
    // Records the valid bodies refer to.
    let (customer, product, price) = common::create_catalog(app).await;
    vec![
        Endpoint {
            path: "/api/v1/cover/customer",
            body: json!({"name": "김길동", "email": "gildong@domain.com", "phone": "01012345678", "partnerCustomerId": "new"}),
            required: &["name", "email", "phone", "partnerCustomerId"],
            strings: &["name", "email", "phone", "partnerCustomerId"],
        },
        Endpoint {
            path: "/api/v1/cover/product",
            body: json!({"name": "상품", "partnerProductId": "new", "featuredImageUrl": "https://cdn.example/a.png"}),
            required: &["name", "partnerProductId"],
            strings: &["name", "partnerProductId", "featuredImageUrl"],
        },
        Endpoint {
            path: "/api/v1/cover/price",
            body: json!({"name": "월", "partnerPriceId": "new", "productId": product, "price": 10000,
                         "recurringInterval": "MONTH", "recurringIntervalCount": 1}),
            required: &["name", "partnerPriceId", "productId", "price"],
            strings: &["name", "partnerPriceId", "recurringInterval"],
        },
        Endpoint {
            path: "/api/v1/cover/order",
            body: json!({"items": [{"priceId": price, "quantity": 1}], "paymentGateway": "NICE",
                         "customerId": customer, "amount": 10000, "amountReturned": 0, "partnerOrderId": "new",
                         "paymentDate": "2026-11-22T00:00:00Z", "idKey": "k", "paymentInfo": "카드",
                         "errorCode": "E", "errorMessage": "m"}),
            required: &[
                "items",
                "paymentGateway",
                "customerId",
                "amount",
                "amountReturned",
                "partnerOrderId",
            ],
            strings: &[
                "paymentGateway",
                "partnerOrderId",
                "paymentDate",
                "idKey",
                "paymentInfo",
                "errorCode",
                "errorMessage",
            ],
        },
        Endpoint {
            path: "/api/v1/cover/subscription",
            body: json!({"recurringInterval": "MONTH", "customerId": customer,
                         "currentPeriodStart": "2023-01-01T12:00:00Z", "currentPeriodEnd": "2023-01-31T12:00:00Z",
                         "partnerSubscriptionId": "new", "recurringIntervalCount": 1}),
            required: &[
                "recurringInterval",
                "customerId",
                "currentPeriodStart",
                "currentPeriodEnd",
                "partnerSubscriptionId",
                "recurringIntervalCount",
            ],
            strings: &[
                "recurringInterval",
                "currentPeriodStart",
                "currentPeriodEnd",
                "partnerSubscriptionId",
            ],
        },
    ]
}

fn with(body: &Value, field: &str, value: Value) -> Value {
    let mut b = body.clone();
    b[field] = value;
    b
}

fn without(body: &Value, field: &str) -> Value {
    let mut b = body.clone();
    b.as_object_mut().unwrap().remove(field);
    b
}

/// Every case: (path, body, field the error must name).
fn cases(endpoints: &[Endpoint]) -> Vec<(&'static str, Value, String)> {
    let mut out = Vec::new();
    for e in endpoints {
        for f in e.required {
            out.push((e.path, without(&e.body, f), f.to_string()));
            out.push((e.path, with(&e.body, f, Value::Null), f.to_string()));
        }
        for f in e.strings {
            out.push((e.path, with(&e.body, f, json!(12345)), f.to_string()));
            out.push((e.path, with(&e.body, f, json!(["array"])), f.to_string()));
            out.push((
                e.path,
                with(&e.body, f, json!("x".repeat(10_000))),
                f.to_string(),
            ));
        }
        out.push((
            e.path,
            with(&e.body, "unexpectedField", json!(1)),
            "unexpectedField".into(),
        ));
        out.push((
            e.path,
            with(&e.body, "replaceIfExists", json!("yes")),
            "replaceIfExists".into(),
        ));
    }
    let price = &endpoints[2];
    let order = &endpoints[3];
    let sub = &endpoints[4];
    for (field, value) in [
        ("price", json!(-1)),
        ("price", json!(1e15)),
        ("price", json!(100.5)),
        ("price", json!("100")),
        ("productId", json!(0)),
        ("productId", json!(-7)),
        ("productId", json!("1")),
        ("recurringInterval", json!("FORTNIGHT")),
        ("recurringInterval", json!("month")),
        ("recurringIntervalCount", json!(0)),
        ("recurringIntervalCount", json!(100000)),
        ("isRecurring", json!("true")),
    ] {
        out.push((price.path, with(&price.body, field, value), field.into()));
    }
    for (field, value) in [
        ("amount", json!(-100)),
        ("amount", json!(1e13)),
        ("amount", json!(99.99)),
        ("amountReturned", json!(20000)),
        ("amountReturned", json!(-1)),
        ("paymentGateway", json!("PAYPAL")),
        ("paymentGateway", json!("nice")),
        ("paymentGateway", json!("")),
        ("paymentDate", json!("2026-11-22")),
        ("paymentDate", json!("yesterday")),
        ("paymentFailed", json!("true")),
        ("customerId", json!(0)),
        ("customerId", json!("7")),
        ("subscriptionId", json!(-1)),
        ("items", json!([])),
        ("items", json!({"priceId": 1})),
        ("items", json!("all of them")),
    ] {
        out.push((order.path, with(&order.body, field, value), field.into()));
    }
    let item = |v: Value| with(&order.body, "items", v);
    out.push((
        order.path,
        item(json!([{"quantity": 1}])),
        "items[0].priceId".into(),
    ));
    out.push((
        order.path,
        item(json!([{"priceId": 1}])),
        "items[0].quantity".into(),
    ));
    out.push((
        order.path,
        item(json!([{"priceId": 1, "quantity": 0}])),
        "items[0].quantity".into(),
    ));
    out.push((
        order.path,
        item(json!([{"priceId": 1, "quantity": -3}])),
        "items[0].quantity".into(),
    ));
    out.push((
        order.path,
        item(json!([{"priceId": 1, "quantity": "2"}])),
        "items[0].quantity".into(),
    ));
    out.push((
        order.path,
        item(json!([{"priceId": 1, "quantity": 1, "x": 1}])),
        "items[0].x".into(),
    ));
    for (field, value) in [
        ("currentPeriodEnd", json!("2022-01-01T00:00:00Z")),
        ("currentPeriodStart", json!("2023-13-01T00:00:00Z")),
        ("recurringInterval", json!("HOUR")),
        ("recurringIntervalCount", json!(0)),
        ("cancelAtPeriodEnd", json!("no")),
        ("trialStart", json!("soon")),
        ("initialOrderId", json!(0)),
        ("paymentFailed", json!(true)),
    ] {
        out.push((sub.path, with(&sub.body, field, value), field.into()));
    }
    out
}

#[tokio::test]
async fn every_bad_body_gets_a_4xx_naming_the_field_and_writes_nothing() {
    let app = spawn_app().await;
    let endpoints = endpoints(&app).await;
    let cases = cases(&endpoints);
    assert!(cases.len() >= 100, "the battery has {} cases", cases.len());
    let mut failures = Vec::new();
    for (path, body, field) in &cases {
        let res = app.post_json(path, body).await;
        let status = res.status();
        let err: Value = res.json().await.unwrap_or(Value::Null);
        let named = err["details"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["field"] == field.as_str()));
        let shaped = err["traceId"].is_string()
            && err["errorCode"].is_string()
            && err["errorMessage"].is_string();
        if !(status.is_client_error() && named && shaped) {
            failures.push(format!("{path} {field}: {status} {err}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // Nothing above was stored: each list still holds only the reference records.
    for (path, expected) in [
        ("/api/v1/cover/customer", 1),
        ("/api/v1/cover/product", 1),
        ("/api/v1/cover/price", 1),
        ("/api/v1/cover/order", 0),
        ("/api/v1/cover/subscription", 0),
    ] {
        let page: Value = app.get(path).await.json().await.unwrap();
        assert_eq!(page["totalElements"], expected, "{path}: {page}");
    }
}

#[tokio::test]
async fn raw_bodies_that_are_not_json_objects() {
    let app = spawn_app().await;
    for body in [
        "",
        "null",
        "[]",
        "\"text\"",
        "42",
        "{",
        "{\"name\": \"a\",}",
        "\u{feff}{}",
    ] {
        let res = app
            .client
            .post(app.url("/api/v1/cover/customer"))
            .header("Secret-Token", &app.secret)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body:?}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["errorCode"], "MALFORMED_JSON", "{body:?}");
    }
}

#[tokio::test]
async fn lists_are_paged_newest_first_and_check_their_parameters() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.post_json(
            "/api/v1/cover/customer",
            &json!({"name": "c", "email": "c@e.co", "phone": "01012345678", "partnerCustomerId": format!("c{i}")}),
        )
        .await;
    }
    let page: Value = app
        .get("/api/v1/cover/customer?page=0&size=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["totalElements"], 5);
    assert_eq!(page["totalPages"], 3);
    let ids: Vec<&str> = page["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["partnerCustomerId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c4", "c3"]);
    let last: Value = app
        .get("/api/v1/cover/customer?page=2&size=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(last["content"].as_array().unwrap().len(), 1);
    for (query, field) in [
        ("page=-1", "page"),
        ("size=0", "size"),
        ("size=101", "size"),
        ("page=x", "page"),
    ] {
        let res = app.get(&format!("/api/v1/cover/customer?{query}")).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["details"][0]["field"],
            field
        );
    }
}

/// Issue 24, item 6: the OpenAPI document is the contract. A whole number
/// written `2.0` is an `integer` to it, so the API takes it; a rule between
/// fields that it cannot state is a 422 (well-formed, unprocessable), and
/// what it forbids a 400; a repeated query parameter is refused in
/// StepPay's error shape, not as plain text.
#[tokio::test]
async fn the_api_answers_as_its_openapi_document_says() {
    let app = spawn_app().await;
    let (customer, _, price) = common::create_catalog(&app).await;
    let order = |amount_returned: Value, quantity: Value, id: &str| {
        json!({
            "customerId": customer, "amount": 9900, "amountReturned": amount_returned,
            "items": [{"priceId": price, "quantity": quantity}], "partnerOrderId": id,
            "paymentGateway": "TOSS"
        })
    };
    let res = app
        .post_json("/api/v1/cover/order", &order(json!(0), json!(2.0), "whole"))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "2.0 is a whole number");
    let res = app
        .post_json("/api/v1/cover/order", &order(json!(0), json!(2.5), "half"))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "2.5 is not");
    let res = app
        .post_json(
            "/api/v1/cover/order",
            &order(json!(10_000), json!(1), "over"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["errorCode"], "VALIDATION_FAILED");
    assert_eq!(body["details"][0]["field"], "amountReturned");
    let res = app.get("/api/v1/cover/order?size=5&size=6").await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = res.json().await.unwrap();
    assert!(body["traceId"].is_string());
    // The document itself says so: integers with bounds, required fields,
    // and the patterns the parsers enforce.
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let order = &doc["components"]["schemas"]["CreateOrder"];
    let required: Vec<&str> = order["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for field in [
        "customerId",
        "amount",
        "items",
        "partnerOrderId",
        "paymentGateway",
    ] {
        assert!(required.contains(&field), "{field}");
    }
    assert_eq!(
        order["properties"]["amount"]["maximum"],
        100_000_000_000_i64
    );
    assert_eq!(order["additionalProperties"], false);
    let customer = &doc["components"]["schemas"]["CreateCustomer"]["properties"];
    assert!(customer["phone"]["pattern"].is_string());
    assert_eq!(customer["name"]["maxLength"], 100);
}
