//! A local stand-in for Naver Cloud SENS, following the requests and answers
//! NCP documents: signed calls (`x-ncp-apigw-signature-v2` is checked, a bad
//! one gets 401), AlimTalk and SMS sends answered `202`, and the message
//! lists (`404` with an empty body when nothing matches, pages joined by
//! `nextToken`). Faults can be switched on to play the cases that matter:
//! AlimTalk refused at request time, a 503 before anything was accepted, and
//! the nasty one, a 500 *after* the message was accepted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

pub const ACCESS_KEY: &str = "fake-access-key";
pub const SECRET_KEY: &str = "fake-secret-key";
pub const ALIMTALK_SERVICE: &str = "ncp:kkobizmsg:kr:2700000000006:sens";
pub const SMS_SERVICE: &str = "ncp:sms:kr:5000000000001:sens";
pub const PLUS_FRIEND: &str = "@rebound-test";
pub const TEMPLATE: &str = "recovery01";
pub const LAST_TEMPLATE: &str = "recovery02";
pub const SMS_FROM: &str = "0212345678";
/// Messages per list page: small, so paging is exercised.
const PAGE: usize = 2;

#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub to: String,
    pub content: String,
    /// AlimTalk only.
    pub template_code: Option<String>,
    pub button_link: Option<String>,
    pub sms_failover: bool,
    /// SMS only: `SMS` or `LMS`.
    pub sms_type: Option<String>,
    /// When it was accepted, on SENS's clock (if the test set one).
    pub at_ms: Option<i64>,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Faults {
    /// AlimTalk answers 202 with a non-`A000` request status (the recipient
    /// or template was refused); nothing is accepted.
    pub refuse_alimtalk: bool,
    /// Percent of sends answered 503 before anything is accepted.
    pub fail_before_percent: u64,
    /// Percent of sends accepted, then answered 500.
    pub fail_after_percent: u64,
    /// Percent of list calls answered 503.
    pub list_fail_percent: u64,
    /// Accepted AlimTalk sends are answered this much later (a slow SENS).
    pub answer_delay_ms: u64,
}

#[derive(Default)]
pub struct FakeState {
    pub alimtalk: Vec<Received>,
    pub sms: Vec<Received>,
    pub bad_signatures: usize,
    pub lists: usize,
    pub faults: Faults,
    /// How far SENS's clock runs ahead of real time, set by tests whose
    /// server runs on an injected or dev clock: accepted messages are
    /// stamped with it and the lists keep to their request window, as
    /// SENS's do. `None`: no stamps, windows not applied.
    pub clock_offset_ms: Option<i64>,
    rng: u64,
    next_id: u64,
}

impl FakeState {
    fn roll(&mut self, percent: u64) -> bool {
        // xorshift: deterministic per run, no dependency.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        percent > 0 && self.rng % 100 < percent
    }

    fn now_ms(&self) -> Option<i64> {
        let offset = self.clock_offset_ms?;
        Some(chrono::Utc::now().timestamp_millis() + offset)
    }

    /// Sets SENS's clock to read `now_ms` now.
    pub fn set_clock(&mut self, now_ms: i64) {
        self.clock_offset_ms = Some(now_ms - chrono::Utc::now().timestamp_millis());
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }

    /// Every accepted message (AlimTalk and SMS) by content: how often each
    /// reached a phone.
    pub fn deliveries(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for m in self.alimtalk.iter().chain(&self.sms) {
            *counts.entry(m.content.clone()).or_default() += 1;
        }
        counts
    }
}

pub struct FakeSens {
    pub base: String,
    pub state: Arc<Mutex<FakeState>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl FakeSens {
    pub async fn start() -> FakeSens {
        let state = Arc::new(Mutex::new(FakeState {
            rng: 0x2545_F491_4F6C_DD1D,
            ..FakeState::default()
        }));
        let app = Router::new()
            .route(
                "/alimtalk/v2/services/{service}/messages",
                post(alimtalk_send).get(alimtalk_list),
            )
            .route(
                "/sms/v2/services/{service}/messages",
                post(sms_send).get(sms_list),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        FakeSens {
            base,
            state,
            _shutdown: tx,
        }
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state.lock().unwrap().faults = faults;
    }

    /// The environment a server process needs to send through this fake.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("REBOUND_MESSAGES", "sens".into()),
            ("REBOUND_SENS_API_BASE", self.base.clone()),
            ("REBOUND_SENS_ACCESS_KEY", ACCESS_KEY.into()),
            ("REBOUND_SENS_SECRET_KEY", SECRET_KEY.into()),
            ("REBOUND_SENS_ALIMTALK_SERVICE_ID", ALIMTALK_SERVICE.into()),
            ("REBOUND_SENS_PLUS_FRIEND_ID", PLUS_FRIEND.into()),
            ("REBOUND_SENS_TEMPLATE_CODE", TEMPLATE.into()),
            ("REBOUND_SENS_LAST_TEMPLATE_CODE", LAST_TEMPLATE.into()),
            ("REBOUND_SENS_SMS_SERVICE_ID", SMS_SERVICE.into()),
            ("REBOUND_SENS_SMS_FROM", SMS_FROM.into()),
        ]
    }
}

/// The fake's own reading of NCP's signature rule, independent of the
/// server's code: `METHOD path?query \n timestamp \n accessKey`.
fn signed(headers: &HeaderMap, method: &str, uri: &Uri) -> bool {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    if h("x-ncp-iam-access-key") != ACCESS_KEY {
        return false;
    }
    let ts = h("x-ncp-apigw-timestamp");
    let Ok(ts_ms) = ts.parse::<u128>() else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    if now.abs_diff(ts_ms) > 5 * 60 * 1000 {
        return false;
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET_KEY.as_bytes()).unwrap();
    mac.update(format!("{method} {path}\n{ts}\n{ACCESS_KEY}").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    h("x-ncp-apigw-signature-v2") == expected
}

fn unauthorized(state: &Mutex<FakeState>) -> Response {
    state.lock().unwrap().bad_signatures += 1;
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(
            json!({"status": 401, "errors": "Unauthorized", "errorMessage": "invalid signature"}),
        ),
    )
        .into_response()
}

async fn alimtalk_send(
    State(state): State<Arc<Mutex<FakeState>>>,
    service: Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    let delay = state.lock().unwrap().faults.answer_delay_ms;
    let answer = alimtalk_accept(State(state), service, uri, headers, body);
    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    answer
}

fn alimtalk_accept(
    State(state): State<Arc<Mutex<FakeState>>>,
    Path(service): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if !signed(&headers, "POST", &uri) {
        return unauthorized(&state);
    }
    if service != ALIMTALK_SERVICE || body["plusFriendId"] != PLUS_FRIEND {
        return (StatusCode::NOT_FOUND, "").into_response();
    }
    let template = body["templateCode"].as_str().unwrap_or("").to_owned();
    if template != TEMPLATE && template != LAST_TEMPLATE {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"status": 400, "errors": "Bad Request", "errorMessage": "template not found"})),
        )
            .into_response();
    }
    let mut s = state.lock().unwrap();
    let faults = s.faults;
    if s.roll(faults.fail_before_percent) {
        return (StatusCode::SERVICE_UNAVAILABLE, "").into_response();
    }
    let request_id = s.id("req");
    let mut answers = Vec::new();
    for m in body["messages"].as_array().cloned().unwrap_or_default() {
        let message_id = s.id("msg");
        let to = m["to"].as_str().unwrap_or("").to_owned();
        if faults.refuse_alimtalk {
            answers.push(
                json!({"messageId": message_id, "to": to, "requestStatusCode": "A013",
                "requestStatusName": "fail", "requestStatusDesc": "template mismatch"}),
            );
            continue;
        }
        let at_ms = s.now_ms();
        s.alimtalk.push(Received {
            message_id: message_id.clone(),
            to: to.clone(),
            content: m["content"].as_str().unwrap_or("").to_owned(),
            template_code: Some(template.clone()),
            button_link: m["buttons"][0]["linkMobile"].as_str().map(str::to_owned),
            sms_failover: m["useSmsFailover"] == true && m["failoverConfig"]["from"] == SMS_FROM,
            sms_type: None,
            at_ms,
        });
        answers.push(
            json!({"messageId": message_id, "to": to, "requestStatusCode": "A000",
            "requestStatusName": "success", "requestStatusDesc": "성공", "useSmsFailover": true}),
        );
    }
    if s.roll(faults.fail_after_percent) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "").into_response();
    }
    (
        StatusCode::ACCEPTED,
        axum::Json(
            json!({"requestId": request_id, "requestTime": "2026-11-22T10:00:00.000",
            "statusCode": "202", "statusName": "success", "messages": answers}),
        ),
    )
        .into_response()
}

async fn sms_send(
    State(state): State<Arc<Mutex<FakeState>>>,
    Path(service): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if !signed(&headers, "POST", &uri) {
        return unauthorized(&state);
    }
    if service != SMS_SERVICE {
        return (StatusCode::NOT_FOUND, "").into_response();
    }
    let kind = body["type"].as_str().unwrap_or("").to_owned();
    let content = body["content"].as_str().unwrap_or("").to_owned();
    let bytes: usize = content
        .chars()
        .map(|c| if c.is_ascii() { 1 } else { 2 })
        .sum();
    if body["from"] != SMS_FROM || !(kind == "SMS" && bytes <= 90 || kind == "LMS" && bytes <= 2000)
    {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"status": 400, "errors": "Bad Request", "errorMessage": "bad type, sender or length"})),
        )
            .into_response();
    }
    let mut s = state.lock().unwrap();
    let faults = s.faults;
    if s.roll(faults.fail_before_percent) {
        return (StatusCode::SERVICE_UNAVAILABLE, "").into_response();
    }
    let request_id = s.id("smsreq");
    for m in body["messages"].as_array().cloned().unwrap_or_default() {
        let message_id = s.id("smsmsg");
        let at_ms = s.now_ms();
        s.sms.push(Received {
            message_id,
            to: m["to"].as_str().unwrap_or("").to_owned(),
            content: m["content"].as_str().unwrap_or(&content).to_owned(),
            template_code: None,
            button_link: None,
            sms_failover: false,
            sms_type: Some(kind.clone()),
            at_ms,
        });
    }
    if s.roll(faults.fail_after_percent) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "").into_response();
    }
    (
        StatusCode::ACCEPTED,
        axum::Json(
            json!({"requestId": request_id, "requestTime": "2026-11-22T10:00:00.000",
            "statusCode": "202", "statusName": "success"}),
        ),
    )
        .into_response()
}

/// The request window SENS requires: both ends `YYYY-MM-DD HH:mm:ss`, at
/// most 31 days apart.
fn window_ok(q: &HashMap<String, String>) -> bool {
    let parse = |k| request_time(q, k);
    match (parse("requestStartTime"), parse("requestEndTime")) {
        (Some(a), Some(b)) => b >= a && (b - a) <= chrono::Duration::days(31),
        _ => false,
    }
}

/// A window end as SENS reads it: `YYYY-MM-DD HH:mm:ss`, Korean time.
fn request_time(q: &HashMap<String, String>, k: &str) -> Option<chrono::NaiveDateTime> {
    chrono::NaiveDateTime::parse_from_str(q.get(k)?, "%Y-%m-%d %H:%M:%S").ok()
}

fn list_page(found: Vec<&Received>, q: &HashMap<String, String>, alimtalk: bool) -> Response {
    if found.is_empty() {
        return (StatusCode::NOT_FOUND, "").into_response();
    }
    let start: usize = q.get("nextToken").and_then(|t| t.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = found
        .iter()
        .skip(start)
        .take(PAGE)
        .map(|m| {
            let mut v = json!({"messageId": m.message_id, "to": m.to, "content": m.content});
            if alimtalk {
                v["requestStatusCode"] = json!("A000");
                v["templateCode"] = json!(m.template_code);
            }
            v
        })
        .collect();
    let next = (start + PAGE < found.len()).then(|| (start + PAGE).to_string());
    axum::Json(
        json!({"statusCode": "202", "statusName": "success", "messages": page, "nextToken": next}),
    )
    .into_response()
}

async fn alimtalk_list(
    State(state): State<Arc<Mutex<FakeState>>>,
    Query(q): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    list(&state, &q, &uri, &headers, true)
}

async fn sms_list(
    State(state): State<Arc<Mutex<FakeState>>>,
    Query(q): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    list(&state, &q, &uri, &headers, false)
}

/// Both lists: signed, a valid request window (and, for AlimTalk, the
/// channel), filtered by `to` (and `templateCode`).
fn list(
    state: &Mutex<FakeState>,
    q: &HashMap<String, String>,
    uri: &Uri,
    headers: &HeaderMap,
    alimtalk: bool,
) -> Response {
    if !signed(headers, "GET", uri) {
        return unauthorized(state);
    }
    let mut s = state.lock().unwrap();
    s.lists += 1;
    let faults = s.faults;
    if s.roll(faults.list_fail_percent) {
        return (StatusCode::SERVICE_UNAVAILABLE, "").into_response();
    }
    let channel_ok = !alimtalk || q.get("plusFriendId").map(String::as_str) == Some(PLUS_FRIEND);
    if !channel_ok || !window_ok(q) {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"status": 400, "errors": "Bad Request", "errorMessage": "bad query"}),
            ),
        )
            .into_response();
    }
    let sent = if alimtalk { &s.alimtalk } else { &s.sms };
    let kst = |k| Some(request_time(q, k)?.and_utc().timestamp_millis() - 9 * 3_600_000);
    let (from, to) = (kst("requestStartTime"), kst("requestEndTime"));
    let found = sent
        .iter()
        .filter(|m| q.get("to").is_none_or(|to| &m.to == to))
        .filter(|m| match (m.at_ms, from, to) {
            // SENS's window is whole seconds, both ends included.
            (Some(at), Some(from), Some(to)) => from <= at && at < to + 1_000,
            _ => true,
        })
        .filter(|m| {
            !alimtalk
                || q.get("templateCode")
                    .is_none_or(|t| m.template_code.as_ref() == Some(t))
        })
        .collect();
    list_page(found, q, alimtalk)
}
