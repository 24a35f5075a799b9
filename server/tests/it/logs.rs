//! A live recovery token, a stage link or a Secret-Token never reaches the
//! logs: requests are logged by route template, never by raw path or query.
//! And a partner's gateway secret, set in the console's write-only field or
//! through the CLI's path and then used to charge, look up and refund,
//! appears in none of: the logs, the API's answers, the console's and the
//! pages' HTML, the database's stored bytes.
//! The only story in the test binary that installs the process's log
//! subscriber: it also hears the stories running beside it, so its check
//! covers their requests too.

use crate::common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{PARTNER_ORIGIN, TestApp, seed_case};
use rebound::domain::token::link_token;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

#[tokio::test]
async fn no_route_writes_a_live_token_or_a_gateway_secret_anywhere() {
    let logs = Captured::default();
    let writer = logs.clone();
    // Production's filter, and everything of ours down to debug.
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(format!(
            "{},rebound=debug",
            rebound::telemetry::DEFAULT_FILTER
        ))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("no other test sets one");

    let app = TestApp::builder().spawn().await;
    let case = seed_case(&app, "sandbox_insufficient_funds").await;
    let link = link_token(app.link_key.expose(), case.case_id, 1);
    let tokens = [case.token.as_str(), link.as_str()];
    for token in tokens {
        // The partner API: the token in the path.
        app.get(&format!("/api/v1/cover/order/{token}/idKey")).await;
        app.get(&format!("/api/v1/cover/order/{token}")).await;
        app.get(&format!("/api/v1/cover/events/{token}")).await;
        // The page and its result pages: the token in the query.
        for page in [
            "/embed/recovery",
            "/embed/recovery/method",
            "/embed/recovery/date",
            "/embed/recovery/paid",
            "/embed/recovery/failed",
            "/embed/recovery/home",
            "/embed/sandbox/billing-auth",
            "/embed/recovery/method/status",
        ] {
            app.page(page, token).await;
        }
        // Its actions: the token in the form body.
        for action in [
            "/embed/recovery/action/remind",
            "/embed/recovery/action/date",
            "/embed/recovery/action/pay",
        ] {
            app.browser
                .post(app.url(action))
                .form(&[
                    ("token", token),
                    ("origin", PARTNER_ORIGIN),
                    ("selectedDate", "2099-01-01"),
                ])
                .send()
                .await
                .expect("action");
        }
        // The SDK, and paths no route knows.
        for path in [
            format!("/sdk/embed.js?token={token}"),
            format!("/sdk/{token}/embed.js"),
            format!("/{token}"),
            format!("/embed/recovery/{token}?token={token}"),
        ] {
            app.client
                .get(app.url(&path))
                .send()
                .await
                .expect("request");
        }
    }
    // The card page outside the frame: its signed ticket in the query,
    // through the sandbox's window, a forged return and a cancel.
    let card = app.card_window(&case.token).await;
    let ticket = card.url.split_once("t=").unwrap().1.to_owned();
    for path in [
        card.url.clone(),
        format!("/card/return?t={ticket}&authKey=forged&customerKey=c"),
        format!("/card/cancel?t={ticket}&code=USER_CANCEL"),
    ] {
        app.browser
            .get(app.url(&path))
            .send()
            .await
            .expect("card page");
    }
    // The engine sends stage messages with links in them.
    app.engine().await.run_due(100).await.expect("engine pass");

    let answers = gateway_secrets_at_work(&app).await;
    assert!(answers.len() > 10, "the answers were collected");

    let text = logs.text();
    assert!(
        text.contains("/api/v1/cover/order/{id}/idKey")
            && text.contains("/embed/recovery/action/pay"),
        "requests are logged by route template:\n{text}"
    );
    assert!(text.contains("(unmatched)"), "unknown paths are one label");
    for secret in [
        case.token.as_str(),
        link.as_str(),
        app.secret.as_str(),
        ticket.as_str(),
        CONSOLE_SECRET,
        CLI_SECRET,
    ] {
        assert!(!text.contains(secret), "a secret in the logs:\n{text}");
        // Not even a recognisable part of one.
        assert!(
            !text.contains(&secret[secret.len() - 16..]),
            "part of a secret in the logs"
        );
    }
}

const CONSOLE_SECRET: &str = "portone_console_secret_7d1c0a9e4b2f";
const CLI_SECRET: &str = "portone_cli_secret_5e8b3f6a2c9d";

/// One PortOne account set in the console's form (its secret typed into the
/// write-only field) and one through the CLI's path pointed at a fake store,
/// which then charges a customer, has a card window opened, and refunds.
/// Checks the console's and the pages' HTML, the API's answers and the
/// database's bytes; returns every answer's text, for the caller to add
/// the logs.
async fn gateway_secrets_at_work(app: &TestApp) -> Vec<String> {
    use common::console;
    use common::portone_fake;
    use rebound::domain::account::Role;
    use rebound::domain::gateway_account::{AccountInput, AccountSettings};
    let mut answers: Vec<String> = Vec::new();

    // The console: an operator adds a KCP account for acme.
    console::account(app, "ops@example.com", Role::Operator).await;
    let cookie = console::signed_in(app, "ops@example.com").await;
    let settings = format!("/console/settings?partner={}", app.partner.id);
    let page = console::get(app, &settings, &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("type=\"password\""), "a write-only field");
    let res = app
        .browser
        .post(app.url("/console/settings"))
        .header("Cookie", &cookie)
        .header("Origin", app.url(""))
        .form(&[
            ("csrf", console::csrf_in(&page).as_str()),
            ("partner", app.partner.id.to_string().as_str()),
            ("do", "gateway_add"),
            ("pg", "KCP"),
            ("kind", "portone"),
            ("secret", CONSOLE_SECRET),
            ("store_id", "store-console-0001"),
            ("channel_key", "channel-key-kcp"),
            ("customer_keys", "order-only"),
            ("mode", "test"),
            ("current_password", console::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
    let next = res.headers()["location"].to_str().unwrap().to_owned();
    let saved = console::get(app, &next, &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        saved.contains("store-console-0001") && saved.contains("data-gateway-account=\"KCP\""),
        "the account is listed: {saved}"
    );
    answers.push(saved);
    answers.push(
        console::get(app, &settings, &cookie)
            .await
            .text()
            .await
            .unwrap(),
    );

    // The CLI's path: a NICE account on a fake store, which then works.
    let (base, fake) = portone_fake::start_fake().await;
    fake.lock().unwrap().secret = Some(CLI_SECRET.into());
    let key = rebound::sealing::CredentialsKey::parse(common::TEST_CREDENTIALS_KEY).unwrap();
    let account = AccountInput {
        payment_gateway: "NICE",
        kind: "portone",
        secret: CLI_SECRET,
        live: Some(false),
        customer_keys: None,
        settings: AccountSettings {
            store_id: Some(portone_fake::STORE_ID.into()),
            channel_key: Some("channel-key-nice".into()),
            api_base: Some(base),
            ..Default::default()
        },
    }
    .check()
    .unwrap();
    rebound::gateway::registry::register_account(
        &app.store,
        &key,
        app.partner.id,
        &account,
        "cli",
        0,
    )
    .await
    .unwrap();
    let paying = seed_case(app, "bk_po_card_logs").await;
    let other = seed_case(app, "bk_po_card_logs_2").await;
    app.sql(&format!(
        "UPDATE orders SET payment_gateway = 'NICE' WHERE id IN ({}, {})",
        paying.order_id, other.order_id
    ))
    .await;
    answers.push(app.page("/embed/recovery", &paying.token).await);
    assert!(
        app.pay(&paying.token)
            .await
            .contains("/embed/recovery/paid")
    );
    let card = app.card_window(&other.token).await;
    answers.push(
        app.browser
            .get(app.url(&card.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    // Flagged for refund, refunded from the console.
    app.sql(&format!(
        "UPDATE charges SET status = 'NEEDS_REFUND' WHERE case_id = {}",
        paying.case_id
    ))
    .await;
    let res = console::act(app, &cookie, paying.case_id, "refund").await;
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .contains("result=refunded"),
        "{:?}",
        res.headers()
    );
    assert_eq!(fake.lock().unwrap().cancelled.len(), 1);
    answers.push(console::case_page(app, &cookie, paying.case_id).await);
    // The partner API on the case, and the console's lists.
    for path in [
        format!("/api/v1/cover/order/{}", paying.token),
        format!("/api/v1/cover/order/{}/idKey", paying.token),
        format!("/api/v1/cover/events/{}", paying.token),
        "/api/v1/cover/events".to_owned(),
    ] {
        answers.push(app.get(&path).await.text().await.unwrap());
    }
    for path in ["/console/notices", "/console/cases", "/console"] {
        answers.push(console::get(app, path, &cookie).await.text().await.unwrap());
    }
    for text in &answers {
        for secret in [CONSOLE_SECRET, CLI_SECRET] {
            assert!(
                !text.contains(secret),
                "a gateway secret in an answer:\n{text}"
            );
        }
    }

    // The database, as stored: SQLite's files byte for byte; Postgres's
    // every row of every table as text.
    let stored: Vec<u8> = match app.database_url.strip_prefix("sqlite://") {
        Some(path) => {
            let path = path.split('?').next().unwrap();
            let mut bytes = Vec::new();
            for suffix in ["", "-wal"] {
                if let Ok(b) = std::fs::read(format!("{path}{suffix}")) {
                    bytes.extend(b);
                }
            }
            assert!(!bytes.is_empty(), "the database file was read");
            bytes
        }
        None => {
            let tables = app
                .texts(
                    "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
                     WHERE table_schema = current_schema()",
                )
                .await;
            let mut text = String::new();
            for table in tables.into_iter().flatten() {
                for row in app
                    .texts(&format!("SELECT CAST(t AS TEXT) FROM \"{table}\" t"))
                    .await
                    .into_iter()
                    .flatten()
                {
                    text.push_str(&row);
                }
            }
            assert!(text.contains("store-console-0001"), "the rows were read");
            text.into_bytes()
        }
    };
    for secret in [CONSOLE_SECRET, CLI_SECRET] {
        assert!(
            !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a gateway secret stored in clear"
        );
    }
    answers
}
