//! Which messages a listener accepts. No browser APIs here.

use alloc::borrow::ToOwned;
use alloc::string::String;

use protocol::{Fields, PageMessage, Rejection, is_exact_origin};

/// More own properties than any page message has (ours carry at most ten):
/// a bigger object is not ours and is not read at all.
pub const MAX_FIELDS: u32 = 24;

/// Why a message was ignored; [`Drop::code`] is what `onDrop` receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drop {
    /// `event.origin` is not exactly the recovery host.
    WrongOrigin,
    /// Posted by some window other than the bound iframe's.
    WrongSource,
    /// From our host and frame, but for another embed (or none).
    WrongEmbed,
    /// An object with far more properties than a page message.
    TooLarge,
    /// Not a valid recovery page message.
    Invalid(Rejection),
}

impl Drop {
    pub fn code(&self) -> String {
        match self {
            Drop::WrongOrigin => "wrong-origin".into(),
            Drop::WrongSource => "wrong-source".into(),
            Drop::WrongEmbed => "wrong-embed-id".into(),
            Drop::TooLarge => "too-large".into(),
            Drop::Invalid(r) => r.code(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The host is not an exact origin (`https://host[:port]`, or http on localhost).
    BadHost,
    /// The embed id is empty.
    BadEmbedId,
}

impl ConfigError {
    pub fn message(&self) -> &'static str {
        match self {
            ConfigError::BadHost => {
                "host must be an exact origin such as https://recovery.example.com (http only for localhost)"
            }
            ConfigError::BadEmbedId => "embedId must be a non-empty string",
        }
    }
}

/// The rules one listener applies to every message event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    host: String,
    embed_id: Option<String>,
}

impl Policy {
    pub fn new(host: &str, embed_id: Option<String>) -> Result<Policy, ConfigError> {
        if !is_exact_origin(host) {
            return Err(ConfigError::BadHost);
        }
        if embed_id.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError::BadEmbedId);
        }
        Ok(Policy {
            host: host.to_owned(),
            embed_id,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Checks, in order of cost: origin, source window, shape, embed id.
    /// `field_count` is the number of the object's own properties.
    pub fn check(
        &self,
        origin: &str,
        from_bound_frame: bool,
        field_count: u32,
        fields: &impl Fields,
    ) -> Result<PageMessage, Drop> {
        if origin != self.host {
            return Err(Drop::WrongOrigin);
        }
        if !from_bound_frame {
            return Err(Drop::WrongSource);
        }
        if field_count > MAX_FIELDS {
            return Err(Drop::TooLarge);
        }
        let message = PageMessage::read(fields).map_err(Drop::Invalid)?;
        if let Some(expected) = &self.embed_id
            && message.embed_id() != Some(expected.as_str())
        {
            return Err(Drop::WrongEmbed);
        }
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use protocol::{Action, Value};

    use super::*;

    fn ready(embed_id: Option<&str>) -> BTreeMap<String, Value> {
        let mut m = BTreeMap::new();
        for (k, v) in [
            ("action", "ready"),
            ("protocol", "rebound"),
            ("messageId", "m1"),
            ("sentAt", "2026-11-22T00:00:00Z"),
        ] {
            m.insert(k.to_string(), Value::Text(v.to_string()));
        }
        m.insert("version".into(), Value::Number(1.0));
        if let Some(e) = embed_id {
            m.insert("embedId".into(), Value::Text(e.into()));
        }
        m
    }

    fn policy() -> Policy {
        Policy::new("https://pay.rebound.example", Some("e1".into())).unwrap()
    }

    #[test]
    fn accepts_only_exact_origin_bound_frame_and_embed_id() {
        let p = policy();
        let ok = p
            .check("https://pay.rebound.example", true, 8, &ready(Some("e1")))
            .unwrap();
        assert_eq!(ok.action, Action::Ready);

        for origin in [
            "https://pay.rebound.example.evil.com",
            "http://pay.rebound.example",
            "https://pay.rebound.example:443",
            "https://PAY.rebound.example",
            "null",
            "",
        ] {
            assert_eq!(
                p.check(origin, true, 8, &ready(Some("e1"))),
                Err(Drop::WrongOrigin),
                "{origin}"
            );
        }
        assert_eq!(
            p.check("https://pay.rebound.example", false, 8, &ready(Some("e1"))),
            Err(Drop::WrongSource)
        );
        assert_eq!(
            p.check("https://pay.rebound.example", true, 8, &ready(Some("e2"))),
            Err(Drop::WrongEmbed)
        );
        assert_eq!(
            p.check("https://pay.rebound.example", true, 8, &ready(None)),
            Err(Drop::WrongEmbed)
        );
    }

    #[test]
    fn oversized_objects_are_not_read() {
        let p = policy();
        assert_eq!(
            p.check(
                "https://pay.rebound.example",
                true,
                MAX_FIELDS + 1,
                &ready(Some("e1"))
            ),
            Err(Drop::TooLarge)
        );
        let mut m = ready(Some("e1"));
        m.insert(
            "messageId".into(),
            Value::Text("x".repeat(protocol::MAX_FIELD_BYTES + 1)),
        );
        assert_eq!(
            p.check("https://pay.rebound.example", true, 8, &m)
                .unwrap_err()
                .code(),
            "field-too-long:messageId"
        );
    }

    #[test]
    fn legacy_stepcover_messages_are_accepted_without_their_id_key() {
        // StepPay's page posted flat messages without our envelope, with the
        // billing key in them; the listener reads only the known fields.
        let p = Policy::new("https://cover.example", None).unwrap();
        let mut m = BTreeMap::new();
        for (k, v) in [
            ("action", "payment-complete"),
            ("paymentInfo", "신한카드 1234*"),
            ("paymentDate", "2026-11-22 13:05:00"),
            ("token", "t"),
            ("orderId", "o-1"),
            ("idKey", "billing-key-secret"),
        ] {
            m.insert(k.to_string(), Value::Text(v.to_string()));
        }
        let msg = p.check("https://cover.example", true, 6, &m).unwrap();
        let mut names = Vec::new();
        msg.write(|name, _| names.push(name));
        assert_eq!(
            names,
            ["action", "paymentInfo", "paymentDate", "token", "orderId"]
        );
    }

    #[test]
    fn malformed_messages_are_dropped_with_the_reason() {
        let mut m = ready(Some("e1"));
        m.insert("action".into(), Value::Text("exfiltrate".into()));
        let err = policy()
            .check("https://pay.rebound.example", true, 8, &m)
            .unwrap_err();
        assert_eq!(err.code(), "unknown-action");
    }

    #[test]
    fn without_embed_id_legacy_messages_are_accepted() {
        let p = Policy::new("https://cover.example", None).unwrap();
        let mut m = BTreeMap::new();
        m.insert("action".to_string(), Value::Text("redirect".into()));
        assert!(p.check("https://cover.example", true, 8, &m).is_ok());
    }

    #[test]
    fn refuses_to_start_without_an_exact_host_or_with_an_empty_embed_id() {
        // The full origin grammar is tested in `protocol`; here: that it is applied.
        assert!(Policy::new("https://pay.example.com", None).is_ok());
        for bad in ["*", "https://pay.example.com/", "http://pay.example.com"] {
            assert_eq!(Policy::new(bad, None), Err(ConfigError::BadHost), "{bad}");
        }
        assert_eq!(
            Policy::new("https://pay.example.com", Some(String::new())),
            Err(ConfigError::BadEmbedId)
        );
    }
}
