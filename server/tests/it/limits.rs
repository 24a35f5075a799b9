//! What one caller may ask of the server (issue 14, item 4): rate limits
//! per Secret-Token, per address and per recovery link, per partner on
//! redelivery; a client that sends its headers slowly is cut off; past the
//! connection cap, connections wait; past the in-flight cap, requests are
//! shed at once; a handler past its timeout is answered. Every refusal is in
//! StepPay's error shape and writes nothing.

use crate::common;

use std::time::{Duration, Instant};

use common::scripted_gateway::Answer;
use common::{PARTNER_ORIGIN, TestApp, create_partner, seed_case};
use rebound::domain::case::ChargeStatus;
use rebound::domain::token::new_recovery_token;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A refusal in StepPay's shape with `Retry-After`; returns the body.
async fn refused(res: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status);
    let retry_after: u64 = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After header in seconds");
    assert!(retry_after >= 1);
    let body: Value = res.json().await.expect("a JSON body");
    assert_eq!(body["errorCode"], code, "{body}");
    assert!(body["traceId"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body["errorMessage"].as_str().is_some());
    body
}

/// Posts a page action's form as the browser does.
async fn action(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.browser
        .post(app.url(path))
        .form(&[("token", token), ("origin", PARTNER_ORIGIN)])
        .send()
        .await
        .expect("action request")
}

#[tokio::test]
async fn a_partner_over_its_rate_is_told_when_to_come_back_and_nothing_is_written() {
    // One request a second, bursts of two.
    let app = TestApp::builder()
        .setting("REBOUND_API_RATE", "1")
        .spawn()
        .await;
    let customer = |n: u32| {
        json!({"name": "홍길동", "email": "h@example.com", "phone": "01012345678",
               "partnerCustomerId": format!("c-{n}")})
    };
    for n in 0..2 {
        let res = app.post_json("/api/v1/cover/customer", &customer(n)).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let res = app.post_json("/api/v1/cover/customer", &customer(2)).await;
    refused(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    let (_, other_secret) = create_partner(&app.store, "globex", &[PARTNER_ORIGIN]).await;
    let res = app
        .client
        .post(app.url("/api/v1/cover/customer"))
        .header("Secret-Token", &other_secret)
        .json(&customer(9))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "another partner's token has its own rate"
    );
    // A second later the partner may call again, and finds the refused
    // customer was not written.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, list) = app
        .call(reqwest::Method::GET, "/api/v1/cover/customer", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["content"].as_array().unwrap().len(), 2, "{list}");
}

/// Behind the operator's proxies every caller's TCP peer is the proxy:
/// with `REBOUND_TRUSTED_PROXIES` naming it, each client is counted by the
/// address the proxy recorded; without it (or from anyone else) the header
/// is ignored, since any client can write one.
#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_bucket() {
    let anonymous = |app: &TestApp, client: &'static str| {
        app.client
            .get(app.url("/api/v1/cover/customer"))
            .header("X-Forwarded-For", format!("{client}, 127.0.0.1"))
            .send()
    };
    // One request a second, bursts of two; the test's client is 127.0.0.1.
    let proxied = TestApp::builder()
        .setting("REBOUND_API_RATE", "1")
        .setting("REBOUND_TRUSTED_PROXIES", "127.0.0.0/8")
        .spawn()
        .await;
    for _ in 0..2 {
        let res = anonymous(&proxied, "198.51.100.1").await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = anonymous(&proxied, "198.51.100.1").await.unwrap();
    refused(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    let res = anonymous(&proxied, "198.51.100.2").await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "another client behind the same proxy"
    );
    // Not trusted: the header means nothing, all share the peer's bucket.
    let direct = TestApp::builder()
        .setting("REBOUND_API_RATE", "1")
        .spawn()
        .await;
    for _ in 0..2 {
        anonymous(&direct, "198.51.100.1").await.unwrap();
    }
    let res = anonymous(&direct, "198.51.100.2").await.unwrap();
    refused(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
}

/// Sign-ins cost an Argon2 hash each: they have a budget of their own
/// (here one at a time), so a flood of them is shed there while the
/// partner API, in the budget of everything else, keeps answering.
#[tokio::test]
async fn a_flood_of_sign_ins_is_shed_on_its_own_and_the_api_keeps_answering() {
    let app = TestApp::builder()
        .setting("REBOUND_MAX_SIGN_INS", "1")
        .setting("REBOUND_MAX_IN_FLIGHT", "2")
        .spawn()
        .await;
    let sign_in = |n: usize| {
        app.browser
            .post(app.url("/console/login"))
            .form(&[
                ("email", format!("guess{n}@example.com")),
                ("password", "not the password at all".to_owned()),
            ])
            .send()
    };
    let api = || {
        app.client
            .get(app.url("/api/v1/cover/customer"))
            .header("Secret-Token", &app.secret)
            .send()
    };
    let (sign_ins, apis) = tokio::join!(
        futures_util::future::join_all((0..8).map(sign_in)),
        futures_util::future::join_all((0..2).map(|_| api()))
    );
    for res in apis {
        assert_eq!(res.unwrap().status(), StatusCode::OK, "the API answered");
    }
    let statuses: Vec<StatusCode> = sign_ins.into_iter().map(|r| r.unwrap().status()).collect();
    assert!(
        statuses.contains(&StatusCode::SERVICE_UNAVAILABLE),
        "the sign-ins beyond their budget were shed: {statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| [StatusCode::SERVICE_UNAVAILABLE, StatusCode::UNAUTHORIZED].contains(s)),
        "shed, or checked and refused: {statuses:?}"
    );
}

#[tokio::test]
async fn made_up_tokens_get_no_bucket_of_their_own() {
    // One request a second, bursts of two.
    let app = TestApp::builder()
        .setting("REBOUND_API_RATE", "1")
        .spawn()
        .await;
    let guess = |n: u32| {
        app.client
            .get(app.url("/api/v1/cover/customer"))
            .header("Secret-Token", format!("rb_sk_guess_{n}"))
            .send()
    };
    // Each guess used to be a fresh token, so a fresh bucket: a guesser was
    // never held back. Now they count against the address.
    for n in 0..2 {
        assert_eq!(guess(n).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    refused(
        guess(2).await.unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
    )
    .await;
    // With an Idempotency-Key too (its middleware checks the token first).
    let res = app
        .client
        .post(app.url("/api/v1/cover/customer"))
        .header("Secret-Token", "rb_sk_guess_idem")
        .header("Idempotency-Key", "k-1")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    refused(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    // The partner's own token has its own bucket, untouched by the guesses.
    let (status, _) = app
        .call(reqwest::Method::GET, "/api/v1/cover/customer", None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_flood_of_actions_on_one_recovery_link_is_held_back_while_other_links_work() {
    let app = TestApp::builder().spawn().await;
    let case = seed_case(&app, "sandbox_success").await;
    let other = seed_case(&app, "sandbox_success").await;
    // Twelve actions on one link go through (remind later: three, then
    // the page says no more); the thirteenth is refused before it is read.
    for _ in 0..12 {
        let res = action(&app, "/embed/recovery/action/remind", &case.token).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    let res = action(&app, "/embed/recovery/action/remind", &case.token).await;
    refused(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    let res = action(&app, "/embed/recovery/action/pay", &case.token).await;
    refused(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    assert!(
        app.store.charges(case.case_id).await.unwrap().is_empty(),
        "the refused pay charged nothing"
    );
    let res = action(&app, "/embed/recovery/action/remind", &other.token).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "another link is not held back"
    );
}

#[tokio::test]
async fn one_address_flooding_page_actions_is_held_back() {
    let app = TestApp::builder().spawn().await;
    // A burst of 120 actions from one address (made-up links, each its own
    // case count) goes through, and one more each half second after; then
    // the address is refused. (Counted against the time the loop took, so
    // a slow machine cannot fail it.)
    let started = Instant::now();
    for n in 0.. {
        let res = action(&app, "/embed/recovery/action/remind", &new_recovery_token()).await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            let refills = started.elapsed().as_millis() as usize / 500 + 1;
            assert!((120..=120 + refills).contains(&n), "refused after {n}");
            refused(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
            return;
        }
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "action {n}");
        assert!(n < 1_000, "never refused");
    }
}

#[tokio::test]
async fn bulk_redelivery_is_limited_per_partner() {
    let app = TestApp::builder().spawn().await;
    let since = app.clock.now_ms() - 3_600_000;
    for _ in 0..10 {
        let res = app
            .post_json("/api/v1/cover/events/redeliver", &json!({ "since": since }))
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let res = app
        .post_json("/api/v1/cover/events/redeliver", &json!({ "since": since }))
        .await;
    refused(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
}

/// Opens a connection and sends half a request's headers.
async fn half_a_request(app: &TestApp) -> tokio::net::TcpStream {
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tcp
}

#[tokio::test]
async fn a_client_that_sends_its_headers_slowly_is_disconnected() {
    let app = TestApp::builder()
        .setting("REBOUND_HEADER_TIMEOUT_SECS", "1")
        .spawn()
        .await;
    let mut slow = half_a_request(&app).await;
    let started = Instant::now();
    let mut buf = [0u8; 256];
    // Trickle a header byte now and then, as slowloris does.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            tokio::select! {
                n = slow.read(&mut buf) => return n.unwrap_or(0),
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    if slow.write_all(b"X").await.is_err() {
                        return 0;
                    }
                }
            }
        }
    })
    .await
    .expect("the server closed the connection");
    assert_eq!(closed, 0, "closed without an answer");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// One address may hold only so many connections (3 here); the next is
/// closed at once, while the connections it holds still work, and a slot
/// freed is usable again.
#[tokio::test]
async fn one_address_cannot_hold_every_connection() {
    let app = TestApp::builder()
        .setting("REBOUND_MAX_CONNECTIONS_PER_ADDRESS", "3")
        .spawn()
        .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(half_a_request(&app).await);
    }
    let mut refused = half_a_request(&app).await;
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), refused.read(&mut buf))
        .await
        .expect("closed at once")
        .unwrap_or(0);
    assert_eq!(n, 0, "the fourth connection is closed without an answer");
    // The held ones are served when they finish their request.
    let mut first = held.remove(0);
    first.write_all(b"\r\n").await.unwrap();
    let n = first.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    drop(first);
    // Its slot is free again.
    let mut again = String::new();
    for _ in 0..50 {
        let mut tcp = half_a_request(&app).await;
        tcp.write_all(b"Connection: close\r\n\r\n").await.unwrap();
        again.clear();
        let _ = tcp.read_to_string(&mut again).await;
        if again.starts_with("HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.starts_with("HTTP/1.1 200"), "{again:?}");
}

#[tokio::test]
async fn past_the_connection_cap_a_new_connection_waits_until_one_closes() {
    let app = TestApp::builder()
        .setting("REBOUND_MAX_CONNECTIONS", "2")
        .spawn()
        .await;
    let first = half_a_request(&app).await;
    let _second = half_a_request(&app).await;
    let waiting = reqwest::Client::new()
        .get(app.url("/healthz"))
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(
        waiting.is_err(),
        "a third connection is not served while two are open"
    );
    drop(first);
    let res = reqwest::Client::new()
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("served once a connection closed");
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn requests_past_the_in_flight_cap_are_shed_at_once_and_page_loads_keep_their_budget() {
    // Four actions may wait on the PG at once; its card company here
    // never answers.
    let app = TestApp::builder()
        .scripted_gateway()
        .setting("REBOUND_MAX_GATEWAY_IN_FLIGHT", "4")
        .spawn()
        .await;
    app.scripted().script("hang", &[Answer::Hang]);
    let mut cases = Vec::new();
    for _ in 0..5 {
        cases.push(seed_case(&app, "hang").await);
    }
    let mut hanging = Vec::new();
    for case in &cases[..4] {
        let (browser, url, token) = (
            app.browser.clone(),
            app.url("/embed/recovery/action/pay"),
            case.token.clone(),
        );
        hanging.push(tokio::spawn(async move {
            browser
                .post(url)
                .form(&[("token", token.as_str()), ("origin", PARTNER_ORIGIN)])
                .send()
                .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let res = action(&app, "/embed/recovery/action/pay", &cases[4].token).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "shed at once, not queued"
    );
    refused(res, StatusCode::SERVICE_UNAVAILABLE, "OVERLOADED").await;
    assert!(
        app.store
            .charges(cases[4].case_id)
            .await
            .unwrap()
            .is_empty(),
        "a shed pay charged nothing"
    );
    // The page itself still loads: the PG's budget is not the page's.
    let html = app.page("/embed/recovery", &cases[4].token).await;
    assert!(html.contains("data-testid=\"heading\""), "{html}");
    for h in hanging {
        h.abort();
    }
}

#[tokio::test]
async fn a_request_past_its_timeout_is_answered_and_its_charge_is_left_to_the_resolver() {
    let app = TestApp::builder()
        .scripted_gateway()
        .setting("REBOUND_REQUEST_TIMEOUT_SECS", "1")
        .spawn()
        .await;
    app.scripted().script("hang", &[Answer::Hang]);
    let case = seed_case(&app, "hang").await;
    let started = Instant::now();
    let res = action(&app, "/embed/recovery/action/pay", &case.token).await;
    let waited = started.elapsed();
    refused(res, StatusCode::SERVICE_UNAVAILABLE, "TIMED_OUT").await;
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    let charges = app.store.charges(case.case_id).await.unwrap();
    assert_eq!(
        charges.len(),
        1,
        "the charge was claimed before the PG hung"
    );
    assert_eq!(
        charges[0].status,
        ChargeStatus::Pending,
        "pending: the resolver settles it"
    );
}

#[tokio::test]
async fn a_second_tap_waits_for_the_first_charge_without_holding_a_connection() {
    let (app, case) = common::case_on_scripted_card("slow", &[Answer::ApproveAfterMs(3_000)]).await;
    let first = {
        let (browser, url, token) = (
            app.browser.clone(),
            app.url("/embed/recovery/action/pay"),
            case.token.clone(),
        );
        tokio::spawn(async move {
            browser
                .post(url)
                .form(&[("token", token.as_str()), ("origin", PARTNER_ORIGIN)])
                .send()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Ten more taps while the card company thinks (eleven actions: within
    // the link's rate): more than SQLite's eight pooled connections, so
    // waiting on one each would starve the page.
    let mut taps = Vec::new();
    for _ in 0..10 {
        let (browser, url, token) = (
            app.browser.clone(),
            app.url("/embed/recovery/action/pay"),
            case.token.clone(),
        );
        taps.push(tokio::spawn(async move {
            let res = browser
                .post(url)
                .form(&[("token", token.as_str()), ("origin", PARTNER_ORIGIN)])
                .send()
                .await
                .unwrap();
            (Instant::now(), res)
        }));
    }
    // Were each waiting tap to hold a connection, the pool would stay full
    // until the charge ends. On a loaded machine the taps' own reads (and
    // Postgres opening connections) take a while, so the check is that the
    // pool drains while all of them still wait, not that it never filled.
    let mut quietest = usize::MAX;
    let watch_until = Instant::now() + Duration::from_millis(2_000);
    while Instant::now() < watch_until && quietest > 1 {
        let (open, idle) = app.store.pool_usage();
        quietest = quietest.min(open as usize - idle);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        !first.is_finished() && taps.iter().all(|t| !t.is_finished()),
        "the taps still wait for the charge"
    );
    assert!(
        quietest <= 1,
        "{quietest} connections held while the taps wait"
    );
    let html = app.page("/embed/recovery", &case.token).await;
    assert!(
        html.contains("data-testid=\"heading\""),
        "the page loads meanwhile"
    );
    let first = first.await.unwrap();
    let paid_at = Instant::now();
    assert!(
        first.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/paid")
    );
    for tap in taps {
        let (answered, res) = tap.await.unwrap();
        let loc = res.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            loc.contains("/paid"),
            "each tap shows the first charge's outcome: {loc}"
        );
        assert!(
            answered < paid_at + Duration::from_millis(800),
            "woken by the charge, not by the once-a-second look"
        );
    }
    assert_eq!(app.scripted().received().len(), 1, "charged once");
}

/// Issue 24, item 2: the per-address page and sign-in rates are settings
/// (here 3 page actions and 2 sign-ins a minute from one address).
#[tokio::test]
async fn the_page_and_sign_in_rates_per_address_are_settings() {
    let app = TestApp::builder()
        .setting("REBOUND_PAGE_RATE", "3")
        .setting("REBOUND_SIGN_IN_RATE", "2")
        .spawn()
        .await;
    for n in 0..3 {
        let res = action(&app, "/embed/recovery/action/remind", &new_recovery_token()).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "page action {n}");
    }
    let res = action(&app, "/embed/recovery/action/remind", &new_recovery_token()).await;
    refused(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;

    // Two accounts named from one address, then a third is refused before
    // its password is checked.
    let sign_in = |n: usize| {
        app.browser
            .post(app.url("/console/login"))
            .form(&[
                ("email", format!("someone{n}@example.com")),
                ("password", "not the password at all".to_owned()),
            ])
            .send()
    };
    for n in 0..2 {
        let status = sign_in(n).await.unwrap().status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "sign-in {n} is checked");
    }
    assert_eq!(
        sign_in(2).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Issue 24, item 4: a client that asks for a large response and reads
/// none of it is cut off after the write timeout (here 1 s), freeing its
/// connection slot (here one per address). One 32 MiB file, more than the
/// kernel's socket buffers hold.
#[tokio::test]
async fn a_client_that_reads_nothing_is_cut_off_and_its_slot_freed() {
    let app = TestApp::builder()
        .setting("REBOUND_WRITE_TIMEOUT_SECS", "1")
        .setting("REBOUND_MAX_CONNECTIONS_PER_ADDRESS", "1")
        .spawn()
        .await;
    let site = app.sdk_dir.parent().unwrap().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("big.bin"), vec![7u8; 32 << 20]).unwrap();
    let addr: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(addr).await.unwrap();
    stalled
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // It reads nothing. Within a few write timeouts its one slot is free
    // again and the same address is served.
    let started = Instant::now();
    let mut served = false;
    while started.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let Ok(res) = app.client.get(app.url("/healthz")).send().await else {
            continue;
        };
        if res.status() == StatusCode::OK {
            served = true;
            break;
        }
    }
    assert!(
        served,
        "the stalled reader still holds the address's only slot"
    );
    drop(stalled);
}
