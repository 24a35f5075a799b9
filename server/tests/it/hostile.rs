//! The hostile-input battery of the console-free surface (issue 14): the
//! partner API, the page's actions, the SDK and the events API, fed what an
//! attacker or a broken client sends. No answer is a 5xx, none takes longer
//! than the server's timeouts, and nothing rejected writes a row. Runs on
//! SQLite and (REBOUND_TEST_DB=postgres) Postgres.

use crate::common;

use std::time::Duration;

use common::{PARTNER_ORIGIN, TestApp, seed_case};
use reqwest::Method;
use sqlx::Row;

/// Every table's row count and the cases' mutable fields: what a rejected
/// request must leave as it was. (Not `idempotency_keys`: a refusal sent
/// with a key is kept to be replayed to a retry with that key, as Stripe
/// does; see api_idempotency's errors_are_replayed_too.)
async fn fingerprint(app: &TestApp) -> Vec<String> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
    let mut out = Vec::new();
    for table in [
        "case_links",
        "charges",
        "customers",
        "event_attempts",
        "events",
        "order_items",
        "orders",
        "outbox_messages",
        "partner_tokens",
        "partners",
        "prices",
        "products",
        "recovery_cases",
        "scenarios",
        "stage_sends",
        "subscriptions",
    ] {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
        out.push(format!("{table}={n}"));
    }
    let cases = sqlx::query(
        "SELECT id, status, remind_count, date_change_count, COALESCE(selected_date, ''), \
                COALESCE(next_stage_at, 0), COALESCE(next_retry_at, 0) FROM recovery_cases ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for c in cases {
        out.push(format!(
            "case {} {} {} {} {} {} {}",
            c.get::<i64, _>(0),
            c.get::<String, _>(1),
            c.get::<i64, _>(2),
            c.get::<i64, _>(3),
            c.get::<String, _>(4),
            c.get::<i64, _>(5),
            c.get::<i64, _>(6)
        ));
    }
    pool.close().await;
    out
}

/// One hostile request.
struct Shot {
    method: Method,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<(&'static str, Vec<u8>)>,
}

fn shot(method: Method, path: impl Into<String>) -> Shot {
    Shot {
        method,
        path: path.into(),
        headers: Vec::new(),
        body: None,
    }
}

impl Shot {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Shot {
        self.headers.push((name, value.into()));
        self
    }
    fn body(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Shot {
        self.body = Some((content_type, body.into()));
        self
    }
}

/// Fires every shot; returns what failed the bar (a 5xx, a hang, a 2xx
/// where a refusal was due).
async fn fire(app: &TestApp, shots: Vec<Shot>) -> Vec<String> {
    // Past the server's 5 s request timeout, plus slack: a hang.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut failures = Vec::new();
    for s in shots {
        let mut req = client.request(s.method.clone(), app.url(&s.path));
        for (k, v) in &s.headers {
            req = req.header(*k, v.as_str());
        }
        if let Some((ct, body)) = s.body {
            req = req.header("content-type", ct).body(body);
        }
        let what = format!("{} {}", s.method, &s.path[..s.path.len().min(120)]);
        match req.send().await {
            Err(e) if e.is_timeout() => failures.push(format!("{what}: no answer within 10 s")),
            Err(e) => failures.push(format!("{what}: {e}")),
            Ok(res) if res.status().is_server_error() => {
                failures.push(format!("{what}: {}", res.status()))
            }
            Ok(res) if res.status().is_success() && s.method != Method::GET => {
                failures.push(format!("{what}: accepted ({})", res.status()))
            }
            Ok(_) => {}
        }
    }
    failures
}

fn hostile_strings() -> Vec<String> {
    vec![
        String::new(),
        " ".into(),
        "\0".into(),
        "%00".into(),
        "../../etc/passwd".into(),
        "<script>alert(1)</script>".into(),
        "' OR 1=1 --".into(),
        "\u{202e}\u{feff}".into(),
        "x".repeat(10_000),
        "-1".into(),
        "0".into(),
        "99999999999999999999999".into(),
        "1e309".into(),
    ]
}

#[tokio::test]
async fn the_public_surface_refuses_hostile_input_without_a_5xx_a_hang_or_a_write() {
    let app = TestApp::builder()
        .setting("REBOUND_REQUEST_TIMEOUT_SECS", "5")
        .spawn()
        .await;
    let case = seed_case(&app, "sandbox_success").await;
    let before = fingerprint(&app).await;
    let mut shots = Vec::new();
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();

    // The partner API without a valid Secret-Token: every route refused.
    let routes = [
        (Method::POST, "/api/v1/cover/customer"),
        (Method::POST, "/api/v1/cover/order"),
        (Method::POST, "/api/v1/cover/recovery"),
        (Method::PUT, "/api/v1/cover/subscription/1/cancel"),
        (Method::PATCH, "/api/v1/cover/order/success/1"),
        (Method::POST, "/api/v1/cover/events/redeliver"),
    ];
    for (m, path) in &routes {
        for token in ["", "rb_sk_wrong", &"t".repeat(300), "rb_sk_%00'\"--"] {
            shots.push(
                shot(m.clone(), *path)
                    .header("secret-token", token)
                    .body("application/json", r#"{"name":"x"}"#),
            );
        }
    }
    // With the token: bodies no parser should take.
    let deep = "[".repeat(100_000);
    let bodies: Vec<(&'static str, Vec<u8>)> = vec![
        ("application/json", b"{".to_vec()),
        ("application/json", deep.clone().into_bytes()),
        ("application/json", vec![0xff, 0xfe, 0x00]),
        ("application/json", b"null".to_vec()),
        ("application/json", b"[]".to_vec()),
        ("application/json", br#"{"name":1e999}"#.to_vec()),
        ("application/json", vec![b' '; 2 * 1024 * 1024]),
        ("text/plain", br#"{"name":"x"}"#.to_vec()),
        ("application/x-www-form-urlencoded", b"name=x".to_vec()),
    ];
    for path in [
        "/api/v1/cover/customer",
        "/api/v1/cover/product",
        "/api/v1/cover/price",
        "/api/v1/cover/order",
        "/api/v1/cover/subscription",
        "/api/v1/cover/recovery",
        "/api/v1/cover/events/redeliver",
    ] {
        for (ct, body) in &bodies {
            shots.push(
                shot(Method::POST, path)
                    .header("secret-token", &app.secret)
                    .body(ct, body.clone()),
            );
        }
    }
    // Well-formed JSON carrying what a database refuses: NUL, lone
    // surrogates' replacement, control characters.
    for name in ["a\\u0000b", "\\u0007", "\\ud800", "\\u202e\\u0000"] {
        shots.push(
            shot(Method::POST, "/api/v1/cover/customer")
                .header("secret-token", &app.secret)
                .body(
                    "application/json",
                    format!(
                        r#"{{"name":"{name}","email":"a@b.co","phone":"01012345678","partnerCustomerId":"{name}"}}"#
                    ),
                ),
        );
    }
    // Ids and query values of every shape, on reads and on writes.
    for s in hostile_strings() {
        let e = enc(&s);
        for path in [
            format!("/api/v1/cover/customer/{e}"),
            format!("/api/v1/cover/order/{e}/idKey"),
            format!("/api/v1/cover/events/{e}"),
            format!("/api/v1/cover/customer?page={e}&size={e}"),
            format!("/api/v1/cover/events?since={e}&cursor={e}&limit={e}"),
        ] {
            shots.push(shot(Method::GET, path).header("secret-token", &app.secret));
        }
        for (m, path) in [
            (
                Method::PUT,
                format!("/api/v1/cover/subscription/{e}/active"),
            ),
            (Method::PATCH, format!("/api/v1/cover/order/cancel/{e}")),
            (Method::POST, format!("/api/v1/cover/events/{e}/redeliver")),
        ] {
            shots.push(shot(m, path).header("secret-token", &app.secret));
        }
        shots.push(
            shot(Method::POST, "/api/v1/cover/customer")
                .header("secret-token", &app.secret)
                .header(
                    "idempotency-key",
                    s.chars()
                        .filter(char::is_ascii_graphic)
                        .take(300)
                        .collect::<String>(),
                )
                .body("application/json", format!(r#"{{"name":{s:?}}}"#)),
        );
    }
    // The page's actions: made-up and broken links, foreign origins, odd
    // dates, forged card-window returns; the real link with bad fields.
    let actions = [
        "/embed/recovery/action/pay",
        "/embed/recovery/action/date",
        "/embed/recovery/action/remind",
    ];
    for (i, s) in hostile_strings().iter().enumerate() {
        let form = format!(
            "token={}&origin={}&embedId={}&selectedDate={}",
            enc(s),
            enc(PARTNER_ORIGIN),
            enc(s),
            enc(s)
        );
        shots.push(
            shot(Method::POST, actions[i % actions.len()])
                .body("application/x-www-form-urlencoded", form),
        );
        // Forged card-page tickets, returns and status questions.
        shots.push(shot(
            Method::GET,
            format!(
                "/card/return?t={}&authKey={}&customerKey={}&back={}",
                enc(s),
                enc(s),
                enc(s),
                enc(s)
            ),
        ));
        shots.push(shot(
            Method::GET,
            format!("/card?t={}&back={}&mode={}", enc(s), enc(s), enc(s)),
        ));
        shots.push(shot(
            Method::GET,
            format!(
                "/embed/recovery/method/status?token={}&origin={}&window={}",
                case.token,
                enc(PARTNER_ORIGIN),
                enc(s)
            ),
        ));
        shots.push(shot(
            Method::GET,
            format!("/embed/recovery?token={}&origin={}", enc(s), enc(s)),
        ));
    }
    for bad in [
        "2026-13-40",
        "yesterday",
        "2020-01-01",
        "9999-12-31",
        "2026-11-22T00:00",
    ] {
        let form = format!(
            "token={}&origin={}&selectedDate={}",
            case.token,
            enc(PARTNER_ORIGIN),
            enc(bad)
        );
        shots.push(
            shot(Method::POST, "/embed/recovery/action/date")
                .body("application/x-www-form-urlencoded", form),
        );
    }
    for origin in [
        "https://evil.example",
        "null",
        "http://localhost.evil.example",
    ] {
        for action in &actions[..2] {
            let form = format!("token={}&origin={}", case.token, enc(origin));
            shots.push(shot(Method::POST, *action).body("application/x-www-form-urlencoded", form));
        }
    }
    shots.push(shot(
        Method::GET,
        format!(
            "/card/cancel?t={}.0123456789abcdef0123456789abcdef.99999999999999.AAAA",
            case.case_id
        ),
    ));
    shots.push(shot(Method::POST, "/embed/recovery/action/pay").body(
        "application/x-www-form-urlencoded",
        vec![0xff; 2 * 1024 * 1024],
    ));
    shots.push(shot(Method::POST, "/embed/recovery/action/remind").body(
        "application/x-www-form-urlencoded",
        b"token=%ZZ&&&==".to_vec(),
    ));
    // The SDK and static files: paths out of their directories.
    for path in [
        "/sdk/../Cargo.toml",
        "/sdk/%2e%2e/%2e%2e/etc/passwd",
        "/sdk/..%2fCargo.toml",
        "/sdk/v0.0.0/embed.js",
        "/pkg/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/embed/sandbox/billing-auth?successUrl=https://evil.example/&failUrl=//evil.example",
        "/embed/sandbox/billing-auth/approve?successUrl=javascript:alert(1)&failUrl=x&outcome=ok",
    ] {
        shots.push(shot(Method::GET, path));
    }
    let count = shots.len();
    let failures = fire(&app, shots).await;
    assert!(
        failures.is_empty(),
        "{} of {count} hostile requests failed the bar:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(fingerprint(&app).await, before, "a rejected request wrote");
    // Nothing escaped a directory: no file outside the SDK was served.
    for path in [
        "/sdk/../Cargo.toml",
        "/sdk/%2e%2e/%2e%2e/etc/passwd",
        "/pkg/../../../../etc/passwd",
    ] {
        let body = app
            .client
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !body.contains("[package]") && !body.contains("root:"),
            "{path}"
        );
    }
    assert!(count > 250, "the battery has {count} requests");
}
