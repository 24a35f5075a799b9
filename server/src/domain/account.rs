//! Console accounts (issue 15): operator admins and partner users, their
//! passwords and how long a session lives. Passwords are hashed with
//! Argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes, OWASP's
//! minimum); unlike tokens, a password is guessable, so the hash must be
//! slow. No SQL here.

use argon2::Argon2;

use super::case::UnknownText;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Who an account is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sees and manages every partner.
    Operator,
    /// Sees only this partner's data; anything else is a 404.
    Partner(i64, PartnerRole),
}

/// What a partner's user may do on the partner's behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartnerRole {
    /// Also changes the partner's settings (URLs, origins, secrets, gateway
    /// accounts, the scenario) and its users: the fields that can send
    /// customers or money elsewhere.
    Admin,
    /// Reads the figures and notices, and acts on cases.
    Member,
}

impl PartnerRole {
    /// `console_users.partner_role`.
    pub fn as_str(self) -> &'static str {
        match self {
            PartnerRole::Admin => "ADMIN",
            PartnerRole::Member => "MEMBER",
        }
    }

    pub fn parse(raw: &str) -> Result<PartnerRole, UnknownText> {
        match raw {
            "ADMIN" => Ok(PartnerRole::Admin),
            "MEMBER" => Ok(PartnerRole::Member),
            other => Err(UnknownText {
                kind: "partner role",
                value: other.to_owned(),
            }),
        }
    }

    /// A form's or flag's word for it (`admin`, `member`).
    pub fn from_word(raw: &str) -> Option<PartnerRole> {
        match raw.trim() {
            "admin" => Some(PartnerRole::Admin),
            "member" => Some(PartnerRole::Member),
            _ => None,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            PartnerRole::Admin => "admin",
            PartnerRole::Member => "member",
        }
    }
}

impl Role {
    /// From `console_users.partner_id` and `partner_role` (a partner user
    /// with no role stored reads as a member: the smaller power).
    pub fn from_stored(partner_id: Option<i64>, role: Option<&str>) -> Result<Role, UnknownText> {
        Ok(match partner_id {
            None => Role::Operator,
            Some(id) => Role::Partner(
                id,
                role.map(PartnerRole::parse)
                    .transpose()?
                    .unwrap_or(PartnerRole::Member),
            ),
        })
    }

    pub fn partner_id(self) -> Option<i64> {
        match self {
            Role::Operator => None,
            Role::Partner(id, _) => Some(id),
        }
    }

    /// `console_users.partner_role`: `None` for operators.
    pub fn stored_role(self) -> Option<&'static str> {
        match self {
            Role::Operator => None,
            Role::Partner(_, role) => Some(role.as_str()),
        }
    }

    /// Whether this account may see `partner_id`'s records.
    pub fn sees(self, partner_id: i64) -> bool {
        match self {
            Role::Operator => true,
            Role::Partner(own, _) => own == partner_id,
        }
    }

    /// Whether this account may change `partner_id`'s settings and users.
    pub fn administers(self, partner_id: i64) -> bool {
        match self {
            Role::Operator => true,
            Role::Partner(own, role) => own == partner_id && role == PartnerRole::Admin,
        }
    }
}

/// A sign-in name: an e-mail address, trimmed and lower-cased so one
/// person cannot hold two accounts by case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, &'static str> {
        let v = raw.trim().to_lowercase();
        let ok = v.len() <= 254
            && !v.contains(char::is_whitespace)
            && v.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            });
        if ok {
            Ok(Email(v))
        } else {
            Err("an e-mail address")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 12 to 256 characters (NIST SP 800-63B: length, not
/// composition rules).
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

pub const MIN_PASSWORD: usize = 12;
pub const MAX_PASSWORD: usize = 256;

impl NewPassword {
    pub fn parse(raw: &str) -> Result<NewPassword, &'static str> {
        let n = raw.chars().count();
        if n < MIN_PASSWORD {
            Err("at least 12 characters")
        } else if n > MAX_PASSWORD {
            Err("at most 256 characters")
        } else {
            Ok(NewPassword(raw.to_owned()))
        }
    }

    /// The PHC string to store (`$argon2id$v=19$m=19456,t=2,p=1$...`).
    pub fn hash(&self) -> String {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).expect("the OS random source is available");
        let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
        Argon2::default()
            .hash_password(self.0.as_bytes(), &salt)
            .expect("argon2 hashes any password within its limits")
            .to_string()
    }
}

/// Whether `attempt` is the password `stored` was made from. A stored hash
/// that does not parse never matches.
pub fn password_matches(attempt: &str, stored: &str) -> bool {
    if attempt.len() > MAX_PASSWORD * 4 {
        return false;
    }
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(attempt.as_bytes(), &hash)
            .is_ok()
    })
}

/// A hash to verify against when the account does not exist, so a wrong
/// name costs the same time as a wrong password (no account probing).
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| NewPassword("decoy-password-never-used".into()).hash())
}

/// A session ends after this long without a request.
pub const SESSION_IDLE_MS: i64 = 2 * 3_600_000;
/// And this long after sign-in, however active.
pub const SESSION_MAX_MS: i64 = 12 * 3_600_000;

/// Whether a session signed in at `created_ms` and last used at
/// `last_seen_ms` is still good at `now_ms`.
pub fn session_alive(created_ms: i64, last_seen_ms: i64, now_ms: i64) -> bool {
    now_ms - last_seen_ms < SESSION_IDLE_MS && now_ms - created_ms < SESSION_MAX_MS
}

/// The CSRF token of a session: HMAC-SHA256 of its id under a server key
/// (the link key, with a label of its own), base64url. Every console form
/// carries it; a site that makes the browser post to us cannot read it.
pub fn csrf_token(key: &str, session_id: &str) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"rebound-console-csrf:");
    mac.update(session_id.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Whether `presented` is the session's CSRF token, compared in constant
/// time.
pub fn csrf_matches(key: &str, session_id: &str, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    csrf_token(key, session_id)
        .as_bytes()
        .ct_eq(presented.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csrf_token_belongs_to_one_session_and_one_key() {
        let t = csrf_token("key-a", "session-1");
        assert_eq!(t.len(), 43);
        assert!(csrf_matches("key-a", "session-1", &t));
        assert!(!csrf_matches("key-a", "session-2", &t));
        assert!(!csrf_matches("key-b", "session-1", &t));
        assert!(!csrf_matches("key-a", "session-1", ""));
        assert!(!csrf_matches("key-a", "session-1", &t[..42]));
    }

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let p = NewPassword::parse("correct horse battery").unwrap();
        let stored = p.hash();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        assert!(password_matches("correct horse battery", &stored));
        assert!(!password_matches("correct horse batterY", &stored));
        assert!(!password_matches("", &stored));
        assert!(!password_matches("correct horse battery", "not a hash"));
        assert_ne!(stored, p.hash(), "a fresh salt each time");
        assert!(!password_matches("anything at all", decoy_hash()));
        assert_eq!(format!("{p:?}"), "NewPassword(..)", "never printed");
    }

    #[test]
    fn passwords_are_judged_by_length_alone() {
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse("elevenchars").is_err());
        assert!(NewPassword::parse("twelve chars").is_ok());
        assert!(NewPassword::parse("한국어비밀번호도열두글자면돼").is_ok());
        assert!(NewPassword::parse(&"x".repeat(257)).is_err());
    }

    #[test]
    fn sign_in_names_are_one_per_address_whatever_the_case() {
        assert_eq!(
            Email::parse("  Admin@Example.COM ").unwrap().as_str(),
            "admin@example.com"
        );
        for bad in ["", "admin", "a@b", "a b@c.co", "@c.co", "a@.co", "a@c.co."] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_session_ends_when_idle_or_old() {
        let h = 3_600_000;
        assert!(session_alive(0, 0, h));
        assert!(!session_alive(0, 0, 2 * h), "two idle hours");
        assert!(session_alive(0, 11 * h, 12 * h - 1));
        assert!(
            !session_alive(0, 11 * h + h / 2, 12 * h),
            "twelve hours after sign-in"
        );
    }

    #[test]
    fn a_partner_user_sees_its_own_partner_only() {
        for role in [PartnerRole::Admin, PartnerRole::Member] {
            assert!(Role::Partner(7, role).sees(7));
            assert!(!Role::Partner(7, role).sees(8));
        }
        assert!(Role::Operator.sees(7));
        assert_eq!(Role::from_stored(None, None).unwrap(), Role::Operator);
        assert_eq!(
            Role::from_stored(Some(3), Some("ADMIN")).unwrap(),
            Role::Partner(3, PartnerRole::Admin)
        );
    }

    #[test]
    fn only_operators_and_the_partners_own_admins_change_its_settings() {
        assert!(Role::Operator.administers(7));
        assert!(Role::Partner(7, PartnerRole::Admin).administers(7));
        assert!(!Role::Partner(7, PartnerRole::Admin).administers(8));
        assert!(!Role::Partner(7, PartnerRole::Member).administers(7));
        assert_eq!(
            Role::from_stored(Some(3), None).unwrap(),
            Role::Partner(3, PartnerRole::Member),
            "no role stored: the smaller power"
        );
        assert!(Role::from_stored(Some(3), Some("OWNER")).is_err());
        for r in [PartnerRole::Admin, PartnerRole::Member] {
            assert_eq!(PartnerRole::parse(r.as_str()).unwrap(), r);
            assert_eq!(PartnerRole::from_word(r.word()), Some(r));
            assert_eq!(Role::Partner(1, r).stored_role(), Some(r.as_str()));
        }
        assert_eq!(Role::Operator.stored_role(), None);
    }
}
