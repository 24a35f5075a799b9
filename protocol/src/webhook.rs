//! Standard Webhooks signatures (<https://www.standardwebhooks.com>), as our
//! server signs its notices and as a partner's backend checks them.
//!
//! Each notice carries `webhook-id` (the same on every retry), the
//! `webhook-timestamp` of this attempt (Unix seconds) and
//! `webhook-signature`: one or more space-separated `v1,<base64>` entries,
//! each `HMAC-SHA256(secret, "{id}.{timestamp}.{body}")`. Several entries are
//! sent while a secret is being rotated: either one matching is enough.
//!
//! Partner side:
//!
//! ```
//! use protocol::webhook::{sign, verify};
//! let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! let body = br#"{"noti_type":"payment.completed"}"#;
//! let signature = sign(secret, "msg_1", 1_700_000_000, body).unwrap();
//! // With the three headers and the raw body, at the receiving time:
//! verify(secret, "msg_1", "1700000000", &signature, body, 1_700_000_030).unwrap();
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How a secret is written: `whsec_` and the base64 of its bytes.
pub const SECRET_PREFIX: &str = "whsec_";
/// A notice older or newer than this (seconds) is refused: a replayed
/// capture cannot be passed off as new.
pub const TOLERANCE_SECS: i64 = 5 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookError {
    /// The secret is not `whsec_` + base64.
    BadSecret,
    /// `webhook-timestamp` is not a number of seconds.
    BadTimestamp,
    /// Signed more than [`TOLERANCE_SECS`] before (or after) now.
    Expired,
    /// No `v1` signature in the header matches this body.
    NoMatch,
}

impl core::fmt::Display for WebhookError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            WebhookError::BadSecret => "the signing secret is not whsec_ followed by base64",
            WebhookError::BadTimestamp => "webhook-timestamp is not a Unix time in seconds",
            WebhookError::Expired => "webhook-timestamp is too far from now (replayed or delayed)",
            WebhookError::NoMatch => "no webhook-signature matches the body",
        })
    }
}

/// The key bytes of a `whsec_...` secret.
pub fn secret_bytes(secret: &str) -> Result<Vec<u8>, WebhookError> {
    let b64 = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    match STANDARD.decode(b64) {
        Ok(bytes) if !bytes.is_empty() => Ok(bytes),
        _ => Err(WebhookError::BadSecret),
    }
}

/// `v1,<base64 signature>` for one secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, WebhookError> {
    let key = secret_bytes(secret)?;
    let mut out = String::from("v1,");
    out.push_str(&STANDARD.encode(mac(&key, id, timestamp, body)));
    Ok(out)
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    let mut digits = [0u8; 20];
    mac.update(decimal(timestamp, &mut digits));
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// `n` in decimal without `format!` (this crate stays free of std's
/// formatting machinery for the listener's sake).
fn decimal(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let negative = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if negative {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// Checks a notice: the timestamp within [`TOLERANCE_SECS`] of `now_secs`,
/// and one of the header's `v1` signatures made with `secret` over exactly
/// these body bytes (compare in constant time). Verify the raw body, before
/// any JSON parsing.
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now_secs: i64,
) -> Result<(), WebhookError> {
    let key = secret_bytes(secret)?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| WebhookError::BadTimestamp)?;
    if (now_secs - ts).abs() > TOLERANCE_SECS {
        return Err(WebhookError::Expired);
    }
    let expected = mac(&key, id, ts, body);
    let matched = signature_header
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .any(|sig| sig.len() == expected.len() && bool::from(sig.ct_eq(&expected)));
    if matched {
        Ok(())
    } else {
        Err(WebhookError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn signs_the_standard_webhooks_test_vector() {
        // Published with the specification's reference libraries: what a
        // partner's off-the-shelf verifier will compute.
        assert_eq!(
            sign(SECRET, ID, TS, BODY).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn verifies_good_and_refuses_tampered_old_or_foreign() {
        let sig = sign(SECRET, ID, TS, BODY).unwrap();
        assert_eq!(
            verify(SECRET, ID, "1614265330", &sig, BODY, TS + 10),
            Ok(())
        );
        let tampered = br#"{"test": 2432232315}"#;
        assert_eq!(
            verify(SECRET, ID, "1614265330", &sig, tampered, TS),
            Err(WebhookError::NoMatch)
        );
        assert_eq!(
            verify(SECRET, "msg_other", "1614265330", &sig, BODY, TS),
            Err(WebhookError::NoMatch)
        );
        assert_eq!(
            verify(
                SECRET,
                ID,
                "1614265330",
                &sig,
                BODY,
                TS + TOLERANCE_SECS + 1
            ),
            Err(WebhookError::Expired)
        );
        assert_eq!(
            verify(SECRET, ID, "soon", &sig, BODY, TS),
            Err(WebhookError::BadTimestamp)
        );
        let other = "whsec_c2VjcmV0LW9mLWFub3RoZXItcGFydG5lcg==";
        assert_eq!(
            verify(other, ID, "1614265330", &sig, BODY, TS),
            Err(WebhookError::NoMatch)
        );
        assert_eq!(
            sign("whsec_***", ID, TS, BODY),
            Err(WebhookError::BadSecret)
        );
    }

    #[test]
    fn any_signature_of_a_rotation_header_will_do() {
        let old = "whsec_b2xkLXNlY3JldC1rZXktYnl0ZXM=";
        let header = alloc::format!(
            "{} {}",
            sign(old, ID, TS, BODY).unwrap(),
            sign(SECRET, ID, TS, BODY).unwrap()
        );
        assert_eq!(verify(SECRET, ID, "1614265330", &header, BODY, TS), Ok(()));
        assert_eq!(verify(old, ID, "1614265330", &header, BODY, TS), Ok(()));
        assert_eq!(decimal(-42, &mut [0; 20]), b"-42");
        assert_eq!(decimal(0, &mut [0; 20]), b"0");
    }
}
