//! A live recovery token, a stage link or a Secret-Token never reaches the
//! logs: requests are logged by route template, never by raw path or query.
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
async fn no_route_writes_a_live_token_to_the_logs() {
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
    ] {
        assert!(!text.contains(secret), "a secret in the logs:\n{text}");
        // Not even a recognisable part of one.
        assert!(
            !text.contains(&secret[secret.len() - 16..]),
            "part of a secret in the logs"
        );
    }
}
