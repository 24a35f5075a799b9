//! How the server starts and stops: safe production defaults, the link key
//! outside the database, readiness, metrics, and a SIGTERM that lets the
//! work in flight finish.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::processes::{self, Seeds};
use common::sens_fake::{FakeSens, Faults};
use common::{TEST_LINK_KEY, TempDatabase, TestApp, seed_case, test_config_with};
use rebound::startup::{Application, StartupError};
use rebound::store::Store;

/// `n` failed orders on the sandbox's success key, messages only.
async fn messages_only(n: usize) -> processes::Setup {
    processes::setup(Seeds {
        cases: n,
        id_key: &|_| "sandbox_success".to_owned(),
        payment_gateway: "UNKNOWN",
        scenario: Some(common::messages_only_scenario()),
    })
    .await
}

/// `server serve` with only these settings: whether it started (then it is
/// stopped at once) and what it printed on stderr.
fn serve_with(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
    cmd.arg("serve")
        .args(args)
        .env_clear()
        .current_dir(dir.path())
        .env("REBOUND_LISTEN", "127.0.0.1:0")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("t.db").display()),
        )
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server binary");
    // Logs go to stdout, errors to stderr.
    let stdout = child.stdout.take().unwrap();
    let mut printed = String::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap_or_default();
        printed.push_str(&line);
        printed.push('\n');
        if line.contains("listening") {
            child.kill().unwrap();
            let _ = child.wait();
            return (true, printed);
        }
    }
    // stdout closed: the process ended without listening.
    let out = child.wait_with_output().unwrap();
    printed.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), printed)
}

#[test]
fn production_refuses_to_start_until_the_gateway_the_messages_and_the_link_key_are_named() {
    let mut env = vec![];
    for (missing, then) in [
        ("REBOUND_GATEWAY", ("REBOUND_GATEWAY", "sandbox")),
        ("REBOUND_MESSAGES", ("REBOUND_MESSAGES", "outbox")),
        ("REBOUND_LINK_KEY_FILE", ("REBOUND_LINK_KEY", TEST_LINK_KEY)),
    ] {
        let (ok, stderr) = serve_with(&[], &env);
        assert!(!ok, "started without {missing}");
        assert!(stderr.contains(missing), "{missing}: {stderr}");
        env.push(then);
    }
    let (started, stderr) = serve_with(&[], &env);
    assert!(started, "{stderr}");
    assert!(
        stderr.contains("REBOUND_GATEWAY=sandbox: no money moves"),
        "named, but never silently: {stderr}"
    );
}

#[test]
fn the_demo_refuses_to_listen_beyond_loopback() {
    let (ok, stderr) = serve_with(&["--demo"], &[("REBOUND_LISTEN", "0.0.0.0:0")]);
    assert!(!ok, "the demo listened on every interface");
    assert!(stderr.contains("loopback"), "{stderr}");
    let (ok, stderr) = serve_with(&["--demo", "--demo-listen", "0.0.0.0:0"], &[]);
    assert!(!ok && stderr.contains("--demo-listen"), "{stderr}");
    let (ok, stderr) = serve_with(&["--demo", "--demo-listen", "127.0.0.1:0"], &[]);
    assert!(ok, "the demo on loopback starts: {stderr}");
}

/// `--demo`'s conveniences (the dev clock, private notify URLs, the
/// sandbox) never reach real partners' data: it refuses a database that
/// holds other partners, and any but a local SQLite file.
#[test]
fn the_demo_refuses_a_database_of_real_partners_or_a_shared_one() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("real.db").display());
    let run = |args: &[&str], url: &str| {
        Command::new(env!("CARGO_BIN_EXE_server"))
            .args(args)
            .current_dir(dir.path())
            .env("DATABASE_URL", url)
            .env("REBOUND_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "error")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let created = run(
        &[
            "partner",
            "create",
            "--name",
            "acme",
            "--business-name",
            "ACME",
            "--origin",
            "https://shop.acme.example",
        ],
        &url,
    );
    assert!(created.status.success(), "{created:?}");
    let out = run(&["serve", "--demo", "--demo-listen", "127.0.0.1:0"], &url);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the demo started on acme's database");
    assert!(
        stderr.contains("acme") && stderr.contains("DATABASE_URL"),
        "{stderr}"
    );
    let out = run(
        &["serve", "--demo", "--demo-listen", "127.0.0.1:0"],
        "postgres://rebound:hunter2@db.example:5432/prod",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("local SQLite"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "no password in the message");
}

#[tokio::test]
async fn a_database_backup_alone_cannot_mint_stage_links() {
    let app = TestApp::builder().spawn().await;
    let case = seed_case(&app, "sandbox_insufficient_funds").await;
    app.message_engine().await.run_due(10).await.unwrap();
    let messages = app.messages(case.case_id).await;
    assert_eq!(messages.len(), 1, "stage 1 went out with its link");
    // Nothing in the database is the key.
    assert_eq!(app.store.link_key_in_database().await.unwrap(), None);
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT name, value FROM server_secrets")
        .fetch_all(&sqlx::AnyPool::connect(&app.database_url).await.unwrap())
        .await
        .unwrap_or_default();
    for (name, value) in rows {
        assert!(
            !value.contains(app.link_key.expose()),
            "{name} holds the link key"
        );
    }
}

#[tokio::test]
async fn an_earlier_versions_key_in_the_database_is_moved_out_or_the_server_refuses() {
    let db = TempDatabase::new().await;
    let store = Store::connect(&db.url).await.unwrap();
    let earlier = "0123456789abcdef0123456789abcdef";
    store.server_secret("link_key", earlier).await.unwrap();
    // Another key would break every link already sent.
    let other = test_config_with(&db.url, db.dir.path(), &[]);
    match Application::builder(other).without_workers().build().await {
        Err(StartupError::LinkKeyInDatabase) => {}
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("started with another key than the database's"),
    }
    assert_eq!(
        store.link_key_in_database().await.unwrap().as_deref(),
        Some(earlier)
    );
    // The same key, now from the environment: the database's copy goes.
    let same = test_config_with(&db.url, db.dir.path(), &[("REBOUND_LINK_KEY", earlier)]);
    let app = Application::builder(same)
        .without_workers()
        .build()
        .await
        .expect("starts with the key moved out");
    assert_eq!(store.link_key_in_database().await.unwrap(), None);
    drop(app);
}

#[tokio::test]
async fn readiness_follows_the_database_and_metrics_count_requests_by_route() {
    let app = TestApp::builder().spawn().await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let case = seed_case(&app, "sandbox_success").await;
    app.get(&format!("/api/v1/cover/order/{}/idKey", case.token))
        .await;
    app.pay(&case.token).await;
    // Made-up methods: one label between them, never a series each.
    for made_up in ["ZZ123", "QQ9", "XYZZY"] {
        app.client
            .request(
                reqwest::Method::from_bytes(made_up.as_bytes()).unwrap(),
                app.url("/api/v1/cover/customer"),
            )
            .send()
            .await
            .unwrap();
    }
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        r#"rebound_http_requests_total{route="/api/v1/cover/order/{id}/idKey",method="GET",status="200"}"#,
        r#"rebound_http_request_duration_seconds_bucket{route="/embed/recovery/action/pay",method="POST""#,
        r#"rebound_charges_total{source="page",outcome="paid",decline_class=""}"#,
        "rebound_oldest_due_stage_age_seconds",
        "rebound_oldest_due_notice_age_seconds",
        r#"rebound_db_pool_connections{state="open"}"#,
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(!text.contains(&case.token), "no token in the metrics");
    assert!(
        text.contains(r#"method="OTHER""#) && !text.contains("ZZ123") && !text.contains("XYZZY"),
        "made-up methods are one label:\n{text}"
    );
    // The database gone: not ready (alive, still).
    app.store.close().await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let alive = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), 200);
}

/// 8 cases, one batch of slow SENS sends in flight at SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_sends_in_flight_finish_and_be_recorded_before_exit() {
    let setup = messages_only(8).await;
    let fake = FakeSens::start().await;
    fake.set_faults(Faults {
        answer_delay_ms: 1_500,
        ..Faults::default()
    });
    let mut server = processes::start_server(&setup.database_url, &fake.env());
    let started = Instant::now();
    while fake.state.lock().unwrap().alimtalk.len() < 8 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no sends began"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SENS holds the answers; the server is told to stop meanwhile.
    let stopped_at = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(20),
            "still running long after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "a clean exit: {status}");
    assert!(
        stopped_at.elapsed() >= Duration::from_millis(1_000),
        "it waited for SENS's answers"
    );
    for case in &setup.cases {
        assert_eq!(
            setup.store.stage_sends(*case).await.unwrap(),
            [(1, "SENT".to_owned())],
            "case {case}: the answer that came during shutdown is recorded"
        );
    }
    assert_eq!(
        fake.state.lock().unwrap().alimtalk.len(),
        8,
        "nothing new began"
    );
}

/// Counts the connections made to it.
async fn counting_listener() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(socket);
        }
    });
    (format!("http://{addr}"), hits)
}

/// One notice, with a proxy named in the environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_go_straight_to_the_partner_never_through_a_proxy_from_the_environment() {
    let setup = messages_only(1).await;
    let (partner_url, partner_hits) = counting_listener().await;
    let (proxy_url, proxy_hits) = counting_listener().await;
    setup
        .store
        .set_partner_notify_url(setup.partner_id, Some(&format!("{partner_url}/hook")))
        .await
        .unwrap();
    let proxy = |name: &'static str| (name, proxy_url.clone());
    let mut server = processes::start_server(
        &setup.database_url,
        &[
            ("REBOUND_NOTIFY_ALLOW_PRIVATE", "1".to_owned()),
            proxy("HTTP_PROXY"),
            proxy("HTTPS_PROXY"),
            proxy("ALL_PROXY"),
            proxy("http_proxy"),
        ],
    );
    let started = Instant::now();
    while partner_hits.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no notice was sent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill().unwrap();
    let _ = server.wait();
    assert_eq!(proxy_hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}

/// A reverse proxy on the same host makes every client loopback: named as
/// trusted, the client it forwards is who asks for the metrics.
#[tokio::test]
async fn metrics_behind_a_local_proxy_answer_the_host_not_the_internet() {
    let app = TestApp::builder()
        .setting("REBOUND_TRUSTED_PROXIES", "127.0.0.1")
        .spawn()
        .await;
    let from = |client: Option<&str>| {
        let mut req = app.client.get(app.url("/metrics"));
        if let Some(c) = client {
            req = req.header("X-Forwarded-For", c);
        }
        req.send()
    };
    assert_eq!(from(Some("203.0.113.5")).await.unwrap().status(), 404);
    assert_eq!(from(None).await.unwrap().status(), 200, "the host itself");
}
