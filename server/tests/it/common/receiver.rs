//! A partner backend receiving our notices, as the partner guide tells
//! partners to write one: verify the Standard Webhooks signature over the
//! raw body, grant at most once per `tid`, answer `{"code":0,"message":"OK"}`.
//! It can be switched down (503), made to answer something else, or to
//! hold an answer for a while.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Up,
    /// 503 to everything.
    Down,
    /// 200 with a body that is not the acknowledgement.
    WrongAck,
    /// 429 with `Retry-After: 3600` (longer than our own next delay).
    Throttle,
    /// 410 Gone.
    Gone,
    /// A 2xx acknowledgement followed by more than the server reads.
    Huge,
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub webhook_id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: Vec<u8>,
    pub verified: bool,
}

#[derive(Default)]
pub struct ReceiverState {
    pub mode: Mode,
    /// The signing secret to verify with (from the store).
    pub secret: String,
    /// Every request, in arrival order.
    pub deliveries: Vec<Delivery>,
    /// `tid`s granted (the partner's own dedupe table).
    pub granted: HashSet<String>,
    /// How many grants were refused as repeats.
    pub repeats: usize,
    /// Acknowledged notices by webhook id: body JSON.
    pub accepted: HashMap<String, Value>,
    /// Hold the next this-many answers for `hold`.
    pub hold_next: usize,
    pub hold: Duration,
}

pub struct Receiver {
    pub url: String,
    pub state: Arc<Mutex<ReceiverState>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    pub async fn start(secret: &str) -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState {
            secret: secret.to_owned(),
            ..ReceiverState::default()
        }));
        let app = Router::new()
            .route("/rebound/notices", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/rebound/notices", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Receiver {
            url,
            state,
            _shutdown: tx,
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (id, ts, sig) = (
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
    );
    let (mode, hold) = {
        let mut s = state.lock().unwrap();
        let now = chrono::Utc::now().timestamp();
        let verified = protocol::webhook::verify(&s.secret, &id, &ts, &sig, &body, now).is_ok();
        s.deliveries.push(Delivery {
            webhook_id: id.clone(),
            timestamp: ts.parse().unwrap_or(0),
            signature: sig.clone(),
            body: body.to_vec(),
            verified,
        });
        let hold = if s.hold_next > 0 {
            s.hold_next -= 1;
            Some(s.hold)
        } else {
            None
        };
        if !verified {
            return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
        }
        (s.mode, hold)
    };
    if let Some(d) = hold {
        tokio::time::sleep(d).await;
    }
    match mode {
        Mode::Down => return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response(),
        Mode::WrongAck => return (StatusCode::OK, "thanks").into_response(),
        Mode::Throttle => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "3600")],
                "slow down",
            )
                .into_response();
        }
        Mode::Gone => return (StatusCode::GONE, "no such endpoint").into_response(),
        Mode::Huge => {
            return (
                StatusCode::OK,
                format!("{{\"code\":0,\"message\":\"OK\"}}{}", " ".repeat(200_000)),
            )
                .into_response();
        }
        Mode::Up => {}
    }
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let tid = json["tid"].as_str().unwrap_or("").to_owned();
    let mut s = state.lock().unwrap();
    if !s.granted.insert(tid) {
        s.repeats += 1;
    }
    s.accepted.insert(id, json);
    axum::Json(serde_json::json!({"code": 0, "message": "OK"})).into_response()
}
