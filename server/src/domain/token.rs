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
        TokenHash(hex(&Sha256::digest(token.as_bytes())))
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

/// A new console session id (the cookie's value): 256 bits, base64url.
/// Stored only as its SHA-256 ([`TokenHash`]).
pub fn new_session_id() -> String {
    random_256()
}

/// A new recovery-link token: 43 base64url characters (256 bits).
pub fn new_recovery_token() -> String {
    random_256()
}

/// A new identifier for messages and traces (128 bits, hex).
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    hex(&bytes)
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A new identifier that sorts by creation time (128 bits, hex: 48 bits
/// of Unix milliseconds, then 80 random bits), like a ULID or KSUID. Ids
/// stored under a unique index go in at the index's end instead of at a
/// random page each, which is most of what an insert costs in a large table.
pub fn time_ordered_id(now_ms: i64) -> String {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    format!(
        "{:012x}{}",
        (now_ms.max(0) as u64) & 0xffff_ffff_ffff,
        hex(&bytes)
    )
}

/// The key that signs stage links. It lives outside the database (a file
/// or the environment): with it anyone can mint a working link to any
/// case, so a database backup alone must not hold it.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkKey(String);

/// `rb_lk_` and 256 random bits, base64url.
pub const LINK_KEY_PREFIX: &str = "rb_lk_";

impl LinkKey {
    pub fn generate() -> LinkKey {
        LinkKey(format!("{LINK_KEY_PREFIX}{}", random_256()))
    }

    /// A key as written by [`LinkKey::generate`] (surrounding white space
    /// is ignored: files end in a newline). Keys of earlier versions, kept
    /// in the database before, are 32 hex digits and read as they are.
    pub fn parse(text: &str) -> Result<LinkKey, String> {
        let text = text.trim();
        let generated = text
            .strip_prefix(LINK_KEY_PREFIX)
            .is_some_and(|rest| URL_SAFE_NO_PAD.decode(rest).is_ok_and(|b| b.len() == 32));
        let earlier = text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit());
        if generated || earlier {
            Ok(LinkKey(text.to_owned()))
        } else {
            Err(format!(
                "not a link key: expected {LINK_KEY_PREFIX} and 43 base64url characters \
                 (make one with `server link-key generate`)"
            ))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Never in logs, even through `{:?}`.
impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

/// The link token for a case's stage message: `{case}.{stage}.{mac}`, where
/// `mac` is HMAC-SHA256 of the case and stage under a server key, base64url
/// (256 bits). Deterministic, so a resend after a crash carries the same
/// link, and nothing but its hash is stored. The case and stage in clear let
/// the store find the link by them (`TokenKey`): a key that grows with the
/// case ids, where the hash alone would put each new link on a random page
/// of a large index.
pub fn link_token(key: &str, case_id: i64, stage: i64) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("rebound-link:{case_id}:{stage}").as_bytes());
    format!(
        "{case_id}.{stage}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// How the store finds what a recovery-link token opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKey {
    /// A case's first token (random, 43 characters): found by its hash.
    First(TokenHash),
    /// A stage message's link: found by case and stage, and only if the
    /// whole token's hash is the one stored for them.
    Stage {
        case_id: i64,
        stage: i64,
        hash: TokenHash,
    },
}

impl TokenKey {
    /// Any string is a key; one that opens nothing finds nothing.
    pub fn of(token: &str) -> TokenKey {
        let hash = TokenHash::of(token);
        let mut parts = token.splitn(3, '.');
        let (Some(case), Some(stage), Some(mac)) = (parts.next(), parts.next(), parts.next())
        else {
            return TokenKey::First(hash);
        };
        match (positive(case), positive(stage)) {
            (Some(case_id), Some(stage)) if !mac.is_empty() => TokenKey::Stage {
                case_id,
                stage,
                hash,
            },
            _ => TokenKey::First(hash),
        }
    }
}

/// Digits only (no sign, no spaces), at most 18 of them: a row id.
fn positive(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|n| *n > 0)
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
    fn time_ordered_ids_sort_by_time_and_differ_within_a_millisecond() {
        let (a, b, c) = (
            time_ordered_id(1_795_309_200_000),
            time_ordered_id(1_795_309_200_000),
            time_ordered_id(1_795_309_200_001),
        );
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(a[..12], b[..12]);
        assert!(a < c && b < c);
    }

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
    fn link_keys_parse_as_generated_and_stay_out_of_logs() {
        let key = LinkKey::generate();
        assert_eq!(
            LinkKey::parse(&format!("{}\n", key.expose())),
            Ok(key.clone())
        );
        assert_eq!(format!("{key:?}"), "LinkKey(..)");
        assert!(
            LinkKey::parse("0123456789abcdef0123456789abcdef").is_ok(),
            "an earlier key"
        );
        for bad in [
            "",
            "rb_lk_",
            "rb_lk_short",
            "hunter2",
            "rb_sk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(LinkKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn link_tokens_are_per_stage_and_keyed() {
        let a = link_token("k1", 7, 1);
        assert_eq!(a, link_token("k1", 7, 1), "a resend carries the same link");
        assert_ne!(a, link_token("k1", 7, 2));
        assert_ne!(a, link_token("k2", 7, 1));
        assert!(a.starts_with("7.1."), "{a}");
        assert_eq!(a.len(), 4 + 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c)),
            "URL-safe as is: {a}"
        );
    }

    #[test]
    fn token_keys_find_stage_links_by_case_and_stage_and_the_rest_by_hash() {
        let link = link_token("k", 42, 3);
        assert_eq!(
            TokenKey::of(&link),
            TokenKey::Stage {
                case_id: 42,
                stage: 3,
                hash: TokenHash::of(&link)
            }
        );
        let first = new_recovery_token();
        assert_eq!(TokenKey::of(&first), TokenKey::First(TokenHash::of(&first)));
        // Anything else is a first token that opens nothing, never a panic.
        for odd in [
            "",
            ".",
            "..",
            "1.2.",
            "1..x",
            ".2.x",
            "-1.2.x",
            "+1.2.x",
            "0.1.x",
            "1.0.x",
            " 1.2.x",
            "1.2",
            "99999999999999999999.1.x",
            "1e3.1.x",
            "١.2.x",
        ] {
            assert!(matches!(TokenKey::of(odd), TokenKey::First(_)), "{odd:?}");
        }
        // A mac may itself hold dots or dashes: only the first two split.
        assert!(matches!(
            TokenKey::of("5.1.a.b-c"),
            TokenKey::Stage {
                case_id: 5,
                stage: 1,
                ..
            }
        ));
    }

    #[test]
    fn redaction_hides_the_secret() {
        let t = new_recovery_token();
        let r = redact(&t);
        assert!(r.chars().count() < 8);
        assert!(!r.contains(&t[6..]));
    }
}
