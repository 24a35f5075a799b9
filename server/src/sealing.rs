//! Gateway credentials at rest: sealed with XChaCha20-Poly1305 (the
//! `chacha20poly1305` crate) under a key kept outside the database
//! (`REBOUND_CREDENTIALS_KEY_FILE`), so a copy of the database or its
//! backups holds no secret that moves money. Each sealed value is bound to
//! what it belongs to (the partner and the account's PG), so a sealed secret
//! copied onto another partner's row does not open.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

/// `rb_ck_` and 256 random bits, base64url.
pub const CREDENTIALS_KEY_PREFIX: &str = "rb_ck_";

/// Sealed values start with their format's version.
const SEALED_PREFIX: &str = "v1.";

const NONCE_LEN: usize = 24;

pub struct CredentialsKey(XChaCha20Poly1305);

/// Never in logs, even through `{:?}`.
impl std::fmt::Debug for CredentialsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialsKey(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Not sealed by this format, or altered, or sealed under another key
    /// or for another owner.
    #[error("the sealed credentials do not open with this key")]
    DoesNotOpen,
}

impl CredentialsKey {
    /// A new key's text, for a file: `server credentials-key generate`.
    pub fn generate() -> String {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        format!("{CREDENTIALS_KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A key as `generate` writes it (surrounding white space ignored).
    pub fn parse(text: &str) -> Result<CredentialsKey, String> {
        let bytes = text
            .trim()
            .strip_prefix(CREDENTIALS_KEY_PREFIX)
            .and_then(|rest| URL_SAFE_NO_PAD.decode(rest).ok())
            .filter(|b| b.len() == 32)
            .ok_or_else(|| {
                format!(
                    "not a credentials key: expected {CREDENTIALS_KEY_PREFIX} and 43 base64url \
                     characters (make one with `server credentials-key generate`)"
                )
            })?;
        Ok(CredentialsKey(XChaCha20Poly1305::new(Key::from_slice(
            &bytes,
        ))))
    }

    /// A key from 32 bytes derived elsewhere (the console seals a secret
    /// shown once under a key derived from the session id, which only the
    /// browser's cookie holds).
    pub fn from_bytes(bytes: &[u8; 32]) -> CredentialsKey {
        CredentialsKey(XChaCha20Poly1305::new(Key::from_slice(bytes)))
    }

    /// Seals `secret` for `owner` (e.g. `partner:3:TOSS`) under a fresh
    /// random nonce.
    pub fn seal(&self, secret: &str, owner: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the OS random source is available");
        let sealed = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret.as_bytes(),
                    aad: owner.as_bytes(),
                },
            )
            .expect("sealing a short secret cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    pub fn open(&self, sealed: &str, owner: &str) -> Result<String, SealError> {
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|rest| URL_SAFE_NO_PAD.decode(rest).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or(SealError::DoesNotOpen)?;
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let plain = self
            .0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| SealError::DoesNotOpen)?;
        String::from_utf8(plain).map_err(|_| SealError::DoesNotOpen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_for_its_owner() {
        let key = CredentialsKey::parse(&CredentialsKey::generate()).unwrap();
        let sealed = key.seal("live_sk_secret", "partner:1:TOSS");
        assert!(!sealed.contains("live_sk_secret"));
        assert_ne!(
            sealed,
            key.seal("live_sk_secret", "partner:1:TOSS"),
            "a fresh nonce each time"
        );
        assert_eq!(
            key.open(&sealed, "partner:1:TOSS").as_deref(),
            Ok("live_sk_secret")
        );
        assert_eq!(
            key.open(&sealed, "partner:2:TOSS"),
            Err(SealError::DoesNotOpen),
            "copied onto another partner's row"
        );
        let other = CredentialsKey::parse(&CredentialsKey::generate()).unwrap();
        assert_eq!(
            other.open(&sealed, "partner:1:TOSS"),
            Err(SealError::DoesNotOpen)
        );
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            key.open(&String::from_utf8(altered).unwrap(), "partner:1:TOSS"),
            Err(SealError::DoesNotOpen)
        );
        assert_eq!(
            key.open("live_sk_secret", "partner:1:TOSS"),
            Err(SealError::DoesNotOpen)
        );
    }

    #[test]
    fn keys_are_checked_and_never_printed() {
        assert!(CredentialsKey::parse("rb_ck_short").is_err());
        assert!(CredentialsKey::parse("hunter2").is_err());
        let text = CredentialsKey::generate();
        let key = CredentialsKey::parse(&format!("{text}\n")).unwrap();
        assert_eq!(format!("{key:?}"), "CredentialsKey(..)");
    }
}
