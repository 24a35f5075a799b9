//! One notice over HTTP to a partner's URL, with the outbound safety a
//! server that calls URLs its tenants typed must have: no redirects, short
//! timeouts, a cap on how much of the answer is read, and no connection to
//! loopback, private, link-local or other internal addresses unless the
//! operator allows them (dev and tests do). Names are checked after
//! resolution, in the resolver the connection itself uses, so a name that
//! resolves to 127.0.0.1 (or is re-pointed there) gets nowhere.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// At most this much of an answer is read.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Kept in the delivery log.
const EXCERPT_CHARS: usize = 500;

/// An address a notice may go to: nothing internal.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                // Carrier-grade NAT, 100.64.0.0/10.
                || (o[0] == 100 && (o[1] & 0xC0) == 64)
                // IETF protocol assignments, 192.0.0.0/24.
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                // Benchmarking, 198.18.0.0/15; reserved 240.0.0.0/4.
                || (o[0] == 198 && (o[1] & 0xFE) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // IPv4-compatible ::/96 (deprecated; carries an IPv4 address).
                || s[..6] == [0; 6]
                // NAT64 64:ff9b::/96 and local-use 64:ff9b:1::/48: a
                // translator on our network would reach the embedded IPv4.
                || (s[0] == 0x64 && s[1] == 0xFF9B && s[2..6] == [0; 4])
                || (s[0] == 0x64 && s[1] == 0xFF9B && s[2] == 1)
                // 6to4 2002::/16: a relay reaches the embedded IPv4.
                || s[0] == 0x2002
                // Unique local fc00::/7, site-local fec0::/10 (deprecated),
                // link-local fe80::/10.
                || (s[0] & 0xFE00) == 0xFC00
                || (s[0] & 0xFFC0) == 0xFEC0
                || (s[0] & 0xFFC0) == 0xFE80
                // Documentation 2001:db8::/32.
                || (s[0] == 0x2001 && s[1] == 0x0DB8))
        }
    }
}

/// Resolves names, then drops every internal address.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: Option<u16>,
    /// The acknowledgement STOVE defines: a 2xx with
    /// `{"code":0,"message":"OK"}`.
    pub acknowledged: bool,
    pub gone: bool,
    pub retry_after_secs: Option<i64>,
    pub error: Option<String>,
    pub excerpt: Option<String>,
    pub duration_ms: i64,
}

pub struct Sender {
    http: reqwest::Client,
    allow_private: bool,
}

/// The headers of one signed attempt.
pub struct Signed<'a> {
    pub webhook_id: &'a str,
    pub timestamp: i64,
    pub signature: &'a str,
}

impl Sender {
    pub fn new(allow_private: bool) -> Sender {
        // `no_proxy`: an HTTPS_PROXY in the environment would connect for
        // us, past the resolver that keeps internal addresses out.
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Rebound-Notices/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Sender {
            http: builder
                .build()
                .expect("an HTTP client with default TLS settings"),
            allow_private,
        }
    }

    /// Checks what a URL itself says (scheme, literal address); names are
    /// checked when resolved.
    pub fn refusal(&self, url: &str) -> Option<String> {
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return Some("the notify URL does not parse".into());
        };
        if !matches!(parsed.scheme(), "https" | "http") {
            return Some("the notify URL must be http(s)".into());
        }
        if self.allow_private {
            return None;
        }
        if parsed.scheme() != "https" {
            return Some("the notify URL must be https".into());
        }
        match parsed.host() {
            Some(url::Host::Ipv4(ip)) if !is_public(IpAddr::V4(ip)) => {
                Some("the notify URL points at an internal address".into())
            }
            Some(url::Host::Ipv6(ip)) if !is_public(IpAddr::V6(ip)) => {
                Some("the notify URL points at an internal address".into())
            }
            Some(url::Host::Domain(d)) if d == "localhost" || d.ends_with(".localhost") => {
                Some("the notify URL points at an internal address".into())
            }
            None => Some("the notify URL has no host".into()),
            _ => None,
        }
    }

    pub async fn post(&self, url: &str, signed: &Signed<'_>, body: &str) -> Answer {
        let started = Instant::now();
        let elapsed = |started: Instant| started.elapsed().as_millis() as i64;
        if let Some(refusal) = self.refusal(url) {
            return Answer {
                status: None,
                acknowledged: false,
                gone: false,
                retry_after_secs: None,
                error: Some(refusal),
                excerpt: None,
                duration_ms: 0,
            };
        }
        let sent = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", signed.webhook_id)
            .header("webhook-timestamp", signed.timestamp.to_string())
            .header("webhook-signature", signed.signature)
            .body(body.to_owned())
            .send()
            .await;
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => {
                let why = if e.is_timeout() {
                    "timed out".to_owned()
                } else if e.is_connect() {
                    format!("could not connect: {}", root_cause(&e))
                } else {
                    format!("request failed: {}", root_cause(&e))
                };
                return Answer {
                    status: None,
                    acknowledged: false,
                    gone: false,
                    retry_after_secs: None,
                    error: Some(why),
                    excerpt: None,
                    duration_ms: elapsed(started),
                };
            }
        };
        let status = resp.status();
        let retry_after_secs = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(super::schedule::parse_retry_after);
        let mut body = Vec::new();
        let mut error = None;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                        error = Some(format!("answer longer than {MAX_RESPONSE_BYTES} bytes"));
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(format!("reading the answer failed: {}", root_cause(&e)));
                    break;
                }
            }
        }
        let text = String::from_utf8_lossy(&body);
        let acknowledged = error.is_none() && status.is_success() && is_ack(&text);
        if error.is_none() && !acknowledged {
            error = Some(if status.is_success() {
                "answered 2xx without {\"code\":0,\"message\":\"OK\"}".to_owned()
            } else {
                format!("answered {status}")
            });
        }
        Answer {
            status: Some(status.as_u16()),
            acknowledged,
            gone: status == reqwest::StatusCode::GONE,
            retry_after_secs,
            error,
            excerpt: (!text.is_empty()).then(|| text.chars().take(EXCERPT_CHARS).collect()),
            duration_ms: elapsed(started),
        }
    }
}

/// `{"code":0,"message":"OK"}`, whatever the spacing or key order.
fn is_ack(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .is_ok_and(|v| v["code"] == 0 && v["message"] == "OK")
}

/// The innermost error's text: the useful part, without our URL.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "192.0.0.8",
            "64:ff9b::a00:1",
            "64:ff9b::808:808",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:808:808::1",
            "::7f00:1",
            "::808:808",
            "fec0::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "211.234.10.1",
            "192.0.1.1",
            "2600::1",
            "2001:4860:4860::8888",
            "64:ff9c::1",
            "2003::1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn only_the_stove_acknowledgement_counts() {
        assert!(is_ack(r#"{"code":0,"message":"OK"}"#));
        assert!(is_ack(r#"{ "message": "OK", "code": 0 }"#));
        assert!(!is_ack(r#"{"code":500,"message":"Internal Server Error"}"#));
        assert!(!is_ack("OK"));
        assert!(!is_ack(""));
    }

    #[test]
    fn urls_are_refused_before_any_connection() {
        let strict = Sender::new(false);
        assert!(
            strict.refusal("http://partner.example/hook").is_some(),
            "https only"
        );
        assert!(strict.refusal("https://127.0.0.1/hook").is_some());
        assert!(strict.refusal("https://[::1]/hook").is_some());
        assert!(strict.refusal("https://localhost/hook").is_some());
        assert!(strict.refusal("https://api.partner.example/hook").is_none());
        assert!(
            Sender::new(true)
                .refusal("http://127.0.0.1:9/hook")
                .is_none()
        );
    }
}
