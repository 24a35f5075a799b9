//! Which messages a listener accepts. No browser APIs here.

use protocol::{Fields, PageMessage, Rejection, is_exact_origin};

/// Why a message was ignored; [`Drop::code`] is what `onDrop` receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drop {
    /// `event.origin` is not exactly the recovery host.
    WrongOrigin,
    /// Posted by some window other than the bound iframe's.
    WrongSource,
    /// From our host and frame, but for another embed (or none).
    WrongEmbed,
    /// Not a valid recovery page message.
    Invalid(Rejection),
}

impl Drop {
    pub fn code(&self) -> String {
        match self {
            Drop::WrongOrigin => "wrong-origin".into(),
            Drop::WrongSource => "wrong-source".into(),
            Drop::WrongEmbed => "wrong-embed-id".into(),
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
    pub fn check(
        &self,
        origin: &str,
        from_bound_frame: bool,
        fields: &impl Fields,
    ) -> Result<PageMessage, Drop> {
        if origin != self.host {
            return Err(Drop::WrongOrigin);
        }
        if !from_bound_frame {
            return Err(Drop::WrongSource);
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
            .check("https://pay.rebound.example", true, &ready(Some("e1")))
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
                p.check(origin, true, &ready(Some("e1"))),
                Err(Drop::WrongOrigin),
                "{origin}"
            );
        }
        assert_eq!(
            p.check("https://pay.rebound.example", false, &ready(Some("e1"))),
            Err(Drop::WrongSource)
        );
        assert_eq!(
            p.check("https://pay.rebound.example", true, &ready(Some("e2"))),
            Err(Drop::WrongEmbed)
        );
        assert_eq!(
            p.check("https://pay.rebound.example", true, &ready(None)),
            Err(Drop::WrongEmbed)
        );
    }

    #[test]
    fn malformed_messages_are_dropped_with_the_reason() {
        let mut m = ready(Some("e1"));
        m.insert("action".into(), Value::Text("exfiltrate".into()));
        let err = policy()
            .check("https://pay.rebound.example", true, &m)
            .unwrap_err();
        assert_eq!(err.code(), "unknown-action");
    }

    #[test]
    fn without_embed_id_legacy_messages_are_accepted() {
        let p = Policy::new("https://cover.example", None).unwrap();
        let mut m = BTreeMap::new();
        m.insert("action".to_string(), Value::Text("redirect".into()));
        assert!(p.check("https://cover.example", true, &m).is_ok());
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
