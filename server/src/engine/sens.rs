//! Naver Cloud SENS (Simple & Easy Notification Service): KakaoTalk
//! AlimTalk with SMS fallback, as NCP documents it.
//!
//! - `POST /alimtalk/v2/services/{serviceId}/messages` with `plusFriendId`,
//!   `templateCode` and one message (`to`, `content`, a web-link button to
//!   the recovery page, `useSmsFailover` with `failoverConfig`): SENS itself
//!   sends the SMS/LMS when Kakao cannot deliver (not a KakaoTalk user,
//!   blocked channel). `202` with `requestStatusCode == "A000"` is accepted.
//! - A message SENS refused at request time (`requestStatusCode` other than
//!   `A000`, or a 400/404 for the template) was not accepted, so its failover
//!   never runs: we send it ourselves with
//!   `POST /sms/v2/services/{serviceId}/messages` (SMS up to 90 EUC-KR bytes,
//!   LMS above). Never both, or the customer would get two texts.
//! - Every call is signed: `x-ncp-apigw-signature-v2` is Base64 of
//!   HMAC-SHA256 (key: the secret key) over
//!   `"{METHOD} {path}[?{query}]\n{timestamp}\n{accessKey}"`, the timestamp
//!   (epoch ms, within 5 minutes of NCP's clock) also in
//!   `x-ncp-apigw-timestamp`.
//!
//! SENS takes no idempotency key. So when an earlier try of a stage may have
//! reached SENS (its worker died, or the answer was a timeout or a 5xx), we
//! first list what SENS sent to that number and match the exact content,
//! which is unique per stage (it carries the stage's own link token); only
//! when neither the AlimTalk nor the SMS list has it do we send again.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use super::provider::{BoxFuture, MessageProvider, OutgoingMessage, SendError};
use crate::clock::{SharedClock, kst_text};
use crate::domain::scenario::Channel;

pub const DEFAULT_API_BASE: &str = "https://sens.apigw.ntruss.com";
/// The AlimTalk button that opens the recovery page; it must match the
/// button registered with the template.
pub const BUTTON_NAME: &str = "결제 정보 확인";
/// How far back a lookup searches (SENS allows at most 31 days).
const LOOKUP_DAYS: i64 = 30;

#[derive(Clone, PartialEq, Eq)]
pub struct SensConfig {
    /// `REBOUND_SENS_API_BASE`, default NCP's; tests point it at a fake.
    pub api_base: String,
    /// `REBOUND_SENS_ACCESS_KEY`, `REBOUND_SENS_SECRET_KEY`: an NCP API key.
    pub access_key: String,
    pub secret_key: String,
    /// `REBOUND_SENS_ALIMTALK_SERVICE_ID` (`ncp:kkobizmsg:kr:...:sens`).
    pub alimtalk_service_id: String,
    /// `REBOUND_SENS_PLUS_FRIEND_ID`: the KakaoTalk channel (`@name`).
    pub plus_friend_id: String,
    /// `REBOUND_SENS_TEMPLATE_CODE`: the approved template of stages 1 to
    /// n-1; `REBOUND_SENS_LAST_TEMPLATE_CODE` (optional) the last stage's.
    pub template_code: String,
    pub last_template_code: Option<String>,
    /// `REBOUND_SENS_SMS_SERVICE_ID` (`ncp:sms:kr:...:sens`) and
    /// `REBOUND_SENS_SMS_FROM`, a sender number registered with SENS.
    pub sms_service_id: String,
    pub sms_from: String,
}

/// Keys never reach logs, even through `{:?}`.
impl fmt::Debug for SensConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SensConfig")
            .field("api_base", &self.api_base)
            .field("alimtalk_service_id", &self.alimtalk_service_id)
            .field("plus_friend_id", &self.plus_friend_id)
            .field("template_code", &self.template_code)
            .finish_non_exhaustive()
    }
}

/// The string SENS's API gateway signs, and its signature.
pub fn signature(
    secret_key: &str,
    method: &str,
    path_and_query: &str,
    timestamp_ms: &str,
    access_key: &str,
) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{method} {path_and_query}\n{timestamp_ms}\n{access_key}").as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Length as SENS counts it (EUC-KR: Hangul and other non-ASCII 2 bytes).
pub fn euc_kr_len(text: &str) -> usize {
    text.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
}

/// SMS holds 90 bytes; anything longer goes as LMS (SENS would silently cut
/// an SMS).
pub fn sms_type(text: &str) -> &'static str {
    if euc_kr_len(text) <= 90 { "SMS" } else { "LMS" }
}

/// Phone numbers as SENS wants them: digits only.
fn digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

pub struct SensProvider {
    config: SensConfig,
    http: reqwest::Client,
    clock: SharedClock,
}

/// What one HTTP call came to.
enum Reply {
    Ok(serde_json::Value),
    /// 404 on a list: nothing matched.
    NotFound,
    /// SENS refused the request itself (4xx but 429): sending it again as
    /// is cannot work.
    Refused(String),
    /// Outcome unknown or temporary (timeout, 429, 5xx).
    Unknown(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlimtalkAnswer {
    request_id: String,
    #[serde(default)]
    messages: Vec<AlimtalkAnswerMessage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlimtalkAnswerMessage {
    #[serde(default)]
    message_id: String,
    #[serde(default)]
    request_status_code: String,
    #[serde(default)]
    request_status_desc: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListAnswer {
    #[serde(default)]
    messages: Vec<ListedMessage>,
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedMessage {
    #[serde(default)]
    message_id: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    content: String,
    /// AlimTalk: `A000` accepted. Absent on SMS lists.
    #[serde(default)]
    request_status_code: Option<String>,
}

impl SensProvider {
    pub fn new(config: SensConfig, clock: SharedClock) -> SensProvider {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            // A redirect would carry our keys to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client with default TLS settings");
        SensProvider {
            config,
            http,
            clock,
        }
    }

    /// One signed call. `path_and_query` is sent and signed byte for byte.
    async fn call(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<serde_json::Value>,
    ) -> Reply {
        // The gateway compares this with real time: never the injected clock.
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
            .to_string();
        let sig = signature(
            &self.config.secret_key,
            method.as_str(),
            path_and_query,
            &timestamp,
            &self.config.access_key,
        );
        let url = format!(
            "{}{}",
            self.config.api_base.trim_end_matches('/'),
            path_and_query
        );
        let mut req = self
            .http
            .request(method, url)
            .header("x-ncp-apigw-timestamp", &timestamp)
            .header("x-ncp-iam-access-key", &self.config.access_key)
            .header("x-ncp-apigw-signature-v2", sig);
        if let Some(body) = body {
            req = req
                .header("Content-Type", "application/json; charset=utf-8")
                .json(&body);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            // No URL in the text: it is ours, but keep logs to the point.
            Err(e) => return Reply::Unknown(format!("SENS unreachable: {}", e.without_url())),
        };
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let excerpt: String = text.chars().take(300).collect();
        if status.is_success() {
            match serde_json::from_str(&text) {
                Ok(v) => Reply::Ok(v),
                Err(_) if text.trim().is_empty() => Reply::Ok(serde_json::Value::Null),
                Err(e) => {
                    Reply::Unknown(format!("SENS answered {status} with unreadable JSON: {e}"))
                }
            }
        } else if status == reqwest::StatusCode::NOT_FOUND && body_is_empty(&text) {
            Reply::NotFound
        } else if status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status.is_server_error()
            // A bad key or clock skew can be fixed by the operator; retry.
            || status == reqwest::StatusCode::UNAUTHORIZED
        {
            Reply::Unknown(format!("SENS answered {status}: {excerpt}"))
        } else {
            Reply::Refused(format!("SENS answered {status}: {excerpt}"))
        }
    }

    fn template_for(&self, msg: &OutgoingMessage) -> &str {
        match (&self.config.last_template_code, msg.last_stage) {
            (Some(last), true) => last,
            _ => &self.config.template_code,
        }
    }

    async fn send_alimtalk(&self, msg: &OutgoingMessage, to: &str) -> Result<String, SendError> {
        let path = format!(
            "/alimtalk/v2/services/{}/messages",
            self.config.alimtalk_service_id
        );
        let body = json!({
            "plusFriendId": self.config.plus_friend_id,
            "templateCode": self.template_for(msg),
            "messages": [{
                "countryCode": "82",
                "to": to,
                "content": msg.body,
                "buttons": [{
                    "type": "WL",
                    "name": BUTTON_NAME,
                    "linkMobile": msg.link,
                    "linkPc": msg.link,
                }],
                "useSmsFailover": true,
                "failoverConfig": {
                    "type": sms_type(&msg.body),
                    "from": self.config.sms_from,
                    "subject": msg.business_name,
                    "content": msg.body,
                },
            }],
        });
        match self.call(reqwest::Method::POST, &path, Some(body)).await {
            Reply::Ok(v) => {
                let answer: AlimtalkAnswer = serde_json::from_value(v).map_err(|e| {
                    SendError::Retryable(format!("SENS AlimTalk answer unreadable: {e}"))
                })?;
                match answer.messages.first() {
                    Some(m) if m.request_status_code == "A000" => Ok(format!(
                        "sens:alimtalk:{}:{}",
                        answer.request_id, m.message_id
                    )),
                    Some(m) => {
                        tracing::warn!(
                            case_id = msg.case_id,
                            stage = msg.stage,
                            code = %m.request_status_code,
                            desc = %m.request_status_desc,
                            "AlimTalk refused; sending SMS instead"
                        );
                        self.send_sms(msg, to).await
                    }
                    None => Err(SendError::Retryable(
                        "SENS AlimTalk answer lists no message".into(),
                    )),
                }
            }
            Reply::Refused(e) => {
                tracing::warn!(case_id = msg.case_id, stage = msg.stage, error = %e, "AlimTalk refused; sending SMS instead");
                self.send_sms(msg, to).await
            }
            Reply::NotFound => {
                tracing::warn!(
                    case_id = msg.case_id,
                    stage = msg.stage,
                    "AlimTalk service not found; sending SMS instead"
                );
                self.send_sms(msg, to).await
            }
            Reply::Unknown(e) => Err(SendError::Retryable(e)),
        }
    }

    async fn send_sms(&self, msg: &OutgoingMessage, to: &str) -> Result<String, SendError> {
        let path = format!("/sms/v2/services/{}/messages", self.config.sms_service_id);
        let kind = sms_type(&msg.body);
        let mut body = json!({
            "type": kind,
            "contentType": "COMM",
            "countryCode": "82",
            "from": self.config.sms_from,
            "content": msg.body,
            "messages": [{ "to": to }],
        });
        if kind == "LMS" {
            body["subject"] = json!(msg.business_name);
        }
        match self.call(reqwest::Method::POST, &path, Some(body)).await {
            Reply::Ok(v) => {
                let request_id = v["requestId"].as_str().unwrap_or_default();
                let code = v["statusCode"].as_str().unwrap_or("202");
                if code == "202" {
                    Ok(format!("sens:sms:{request_id}"))
                } else {
                    Err(SendError::Permanent(format!(
                        "SENS SMS refused: statusCode {code}"
                    )))
                }
            }
            Reply::Refused(e) => Err(SendError::Permanent(e)),
            Reply::NotFound => Err(SendError::Permanent("SENS SMS service not found".into())),
            Reply::Unknown(e) => Err(SendError::Retryable(e)),
        }
    }

    /// Looks for this exact message among what SENS accepted for the number
    /// in the last 30 days, AlimTalk first, then SMS. `Ok(None)`: not sent.
    async fn find_sent(
        &self,
        msg: &OutgoingMessage,
        to: &str,
    ) -> Result<Option<String>, SendError> {
        let now = self.clock.now().timestamp_millis();
        let window = |from_ms: i64, to_ms: i64| {
            format!(
                "requestStartTime={}&requestEndTime={}",
                encode_time(from_ms),
                encode_time(to_ms)
            )
        };
        let since = (now - LOOKUP_DAYS * 86_400_000).max(msg.sent_since_ms.unwrap_or(i64::MIN));
        let range = window(since, now + 300_000);
        let alimtalk = format!(
            "/alimtalk/v2/services/{}/messages?plusFriendId={}&{range}&to={to}&templateCode={}",
            self.config.alimtalk_service_id,
            query_encode(&self.config.plus_friend_id),
            query_encode(self.template_for(msg)),
        );
        if let Some(id) = self.find_in_list(&alimtalk, msg, to, true).await? {
            return Ok(Some(format!("sens:alimtalk:{id}")));
        }
        let sms = format!(
            "/sms/v2/services/{}/messages?{range}&to={to}",
            self.config.sms_service_id
        );
        Ok(self
            .find_in_list(&sms, msg, to, false)
            .await?
            .map(|id| format!("sens:sms:{id}")))
    }

    async fn find_in_list(
        &self,
        first_page: &str,
        msg: &OutgoingMessage,
        to: &str,
        alimtalk: bool,
    ) -> Result<Option<String>, SendError> {
        let mut page = first_page.to_owned();
        // A bound on paging: a number gets a handful of messages a month.
        for _ in 0..20 {
            let answer: ListAnswer = match self.call(reqwest::Method::GET, &page, None).await {
                Reply::Ok(v) => serde_json::from_value(v).map_err(|e| {
                    SendError::Retryable(format!("SENS list answer unreadable: {e}"))
                })?,
                Reply::NotFound => return Ok(None),
                // We cannot tell whether it went out: do not send blind.
                Reply::Refused(e) | Reply::Unknown(e) => {
                    return Err(SendError::Retryable(format!(
                        "looking for an earlier send: {e}"
                    )));
                }
            };
            let found = answer.messages.iter().find(|m| {
                digits(&m.to) == to
                    && m.content == msg.body
                    && (!alimtalk || m.request_status_code.as_deref() == Some("A000"))
            });
            if let Some(m) = found {
                return Ok(Some(m.message_id.clone()));
            }
            match answer.next_token {
                Some(t) if !t.is_empty() => {
                    page = format!("{first_page}&nextToken={}", query_encode(&t));
                }
                _ => return Ok(None),
            }
        }
        Err(SendError::Retryable(
            "looking for an earlier send: too many pages".into(),
        ))
    }
}

fn body_is_empty(text: &str) -> bool {
    let t = text.trim();
    t.is_empty() || t == "{}" || t == "null"
}

/// `YYYY-MM-DD HH:mm:ss` in Korean time, URL-encoded as SENS asks.
fn encode_time(ms: i64) -> String {
    query_encode(&kst_text(ms, "%Y-%m-%d %H:%M:%S"))
}

/// Percent-encodes everything but unreserved characters, so the query we
/// sign is exactly the one on the wire.
fn query_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl MessageProvider for SensProvider {
    fn name(&self) -> &'static str {
        "sens"
    }

    fn send<'a>(&'a self, msg: &'a OutgoingMessage) -> BoxFuture<'a, Result<String, SendError>> {
        Box::pin(async move {
            let to = digits(&msg.recipient);
            if to.len() < 9 {
                return Err(SendError::Permanent(format!(
                    "{:?} is not a phone number SENS can send to",
                    msg.recipient
                )));
            }
            if msg.maybe_sent
                && let Some(found) = self.find_sent(msg, &to).await?
            {
                tracing::info!(
                    case_id = msg.case_id,
                    stage = msg.stage,
                    "stage was already sent; not sending again"
                );
                return Ok(found);
            }
            match msg.channel {
                Channel::Alimtalk => self.send_alimtalk(msg, &to).await,
                Channel::Sms => self.send_sms(msg, &to).await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_method_path_timestamp_and_key_as_ncp_documents() {
        // Recomputed by hand: HMAC-SHA256("secret", "POST /x?a=1\n1700000000000\nAK").
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(b"POST /x?a=1\n1700000000000\nAK");
        let expected = STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(
            signature("secret", "POST", "/x?a=1", "1700000000000", "AK"),
            expected
        );
        assert_ne!(
            signature("secret", "GET", "/x?a=1", "1700000000000", "AK"),
            expected
        );
    }

    #[test]
    fn long_korean_text_goes_as_lms() {
        assert_eq!(euc_kr_len("결제 a"), 6);
        assert_eq!(sms_type(&"가".repeat(45)), "SMS");
        assert_eq!(sms_type(&"가".repeat(46)), "LMS");
        assert_eq!(sms_type(&"a".repeat(90)), "SMS");
    }

    #[test]
    fn lookup_times_are_korean_and_encoded() {
        // 2026-11-22 00:00:00 UTC is 09:00 in Korea.
        assert_eq!(encode_time(1_795_305_600_000), "2026-11-22%2009%3A00%3A00");
        assert_eq!(query_encode("@rebound"), "%40rebound");
        assert_eq!(digits("010-1234-5678"), "01012345678");
    }
}
