//! Secrets: partner Secret-Tokens and recovery-link tokens.
//!
//! Both are 256-bit random values shown once and stored only as SHA-256 hashes.
//! A fast hash is right here (unlike passwords): the input is already 256 bits
//! of entropy, so there is nothing to brute-force.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix that makes a leaked partner token recognisable (secret scanners).
pub const SECRET_TOKEN_PREFIX: &str = "rb_sk_";

/// A SHA-256 digest of a token, hex-encoded for storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHash(pub String);

impl TokenHash {
    pub fn of(token: &str) -> TokenHash {
        let digest = Sha256::digest(token.as_bytes());
        TokenHash(digest.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Constant-time comparison, so a stored hash cannot be probed byte by byte.
    pub fn matches(&self, stored: &str) -> bool {
        self.0.as_bytes().ct_eq(stored.as_bytes()).into()
    }
}

fn random_256() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new partner Secret-Token: `rb_sk_` + 43 base64url characters.
pub fn new_secret_token() -> String {
    format!("{SECRET_TOKEN_PREFIX}{}", random_256())
}

/// A new recovery-link token: 43 base64url characters (256 bits).
pub fn new_recovery_token() -> String {
    random_256()
}

/// A new identifier for messages and traces (128 bits, hex).
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The link token for a case's stage message: HMAC-SHA256 of the case and
/// stage under a server key, base64url (256 bits). Deterministic, so a resend
/// after a crash carries the same link, and nothing but its hash is stored.
pub fn link_token(key: &str, case_id: i64, stage: i64) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("rebound-link:{case_id}:{stage}").as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// What logs may show of a token: enough to correlate, never enough to use.
pub fn redact(token: &str) -> String {
    let head: String = token.chars().take(6).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let a = new_recovery_token();
        let b = new_recovery_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert!(new_secret_token().starts_with(SECRET_TOKEN_PREFIX));
    }

    #[test]
    fn hash_matches_only_the_same_token() {
        let t = new_secret_token();
        let stored = TokenHash::of(&t).0;
        assert_eq!(stored.len(), 64);
        assert!(TokenHash::of(&t).matches(&stored));
        assert!(!TokenHash::of("other").matches(&stored));
        assert!(!TokenHash::of(&t).matches(&stored[..63]));
    }

    #[test]
    fn link_tokens_are_per_stage_and_keyed() {
        let a = link_token("k1", 7, 1);
        assert_eq!(a, link_token("k1", 7, 1), "a resend carries the same link");
        assert_ne!(a, link_token("k1", 7, 2));
        assert_ne!(a, link_token("k2", 7, 1));
        assert_eq!(a.len(), 43);
    }

    #[test]
    fn redaction_hides_the_secret() {
        let t = new_recovery_token();
        let r = redact(&t);
        assert!(r.chars().count() < 8);
        assert!(!r.contains(&t[6..]));
    }
}
