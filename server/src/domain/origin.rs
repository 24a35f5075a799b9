//! Partner embed origins: the only places our page may be framed by and post to.

use std::fmt;

/// An exact web origin (`https://shop.example.com`, or http on localhost).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(String);

impl Origin {
    pub fn parse(s: &str) -> Result<Origin, String> {
        if protocol::is_exact_origin(s) {
            Ok(Origin(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not an exact origin: use scheme://host[:port] in lower case, \
                 https (http only for localhost), no path or trailing slash"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A partner's registered origins, stored space-separated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowedOrigins(Vec<Origin>);

impl AllowedOrigins {
    pub fn new(origins: Vec<Origin>) -> Self {
        AllowedOrigins(origins)
    }

    /// Origins typed one per line (the console's forms); `None` if any line
    /// is not an exact origin, or there is none.
    pub fn parse_lines(text: &str) -> Option<AllowedOrigins> {
        let origins: Result<Vec<Origin>, String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(Origin::parse)
            .collect();
        origins.ok().filter(|v| !v.is_empty()).map(AllowedOrigins)
    }

    /// Reads the stored form; entries that no longer parse are skipped.
    pub fn from_stored(s: &str) -> Self {
        AllowedOrigins(
            s.split_whitespace()
                .filter_map(|o| Origin::parse(o).ok())
                .collect(),
        )
    }

    /// The first registered origin (where message links default to).
    pub fn first(&self) -> Option<&Origin> {
        self.0.first()
    }

    pub fn to_stored(&self) -> String {
        self.0
            .iter()
            .map(Origin::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The origin messages go to. An explicit request must match a registered
    /// origin exactly; without one (StepCover partners forward only `?token=`)
    /// a partner with a single registered origin gets that one.
    pub fn resolve(&self, requested: Option<&str>) -> Option<&Origin> {
        match requested {
            Some(r) => self.0.iter().find(|o| o.as_str() == r),
            None if self.0.len() == 1 => self.0.first(),
            None => None,
        }
    }

    /// The partner page a whole-tab card window goes back to: `requested`
    /// if it is an http(s) address on a registered origin (without its
    /// fragment), else nothing.
    pub fn way_back(&self, requested: Option<&str>) -> Option<String> {
        let mut url = url::Url::parse(requested?.trim()).ok()?;
        if !matches!(url.scheme(), "https" | "http") {
            return None;
        }
        let origin = url.origin().ascii_serialization();
        self.0.iter().find(|o| o.as_str() == origin)?;
        url.set_fragment(None);
        Some(url.to_string())
    }

    /// The `frame-ancestors` source list; `'none'` when nothing is registered.
    pub fn frame_ancestors(&self) -> String {
        if self.0.is_empty() {
            "'none'".into()
        } else {
            self.to_stored()
        }
    }
}

/// A partner URL we call or link to (notify URL, recovery page): an
/// absolute https URL, or plain http to this machine alone (the host
/// exactly `localhost`, `127.0.0.1` or `[::1]`: `http://localhost.evil.example`
/// is not local); no credentials, no whitespace.
pub fn is_partner_url(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url.trim()) else {
        return false;
    };
    let local = match parsed.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let ok = match parsed.scheme() {
        "https" => parsed.host().is_some(),
        "http" => local,
        _ => false,
    };
    ok && !url.contains(char::is_whitespace)
        && parsed.username().is_empty()
        && parsed.password().is_none()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_way_back_goes_only_to_the_partners_registered_origins() {
        let origins =
            AllowedOrigins::from_stored("https://shop.example.com https://m.shop.example.com");
        assert_eq!(
            origins
                .way_back(Some("https://m.shop.example.com/recover?x=1#top"))
                .as_deref(),
            Some("https://m.shop.example.com/recover?x=1")
        );
        for elsewhere in [
            "https://evil.example/recover",
            "https://shop.example.com.evil.example/",
            "https://shop.example.com:8443/",
            "javascript:alert(1)",
            "//evil.example",
            "not a url",
            "",
        ] {
            assert_eq!(origins.way_back(Some(elsewhere)), None, "{elsewhere}");
        }
        assert_eq!(origins.way_back(None), None);
    }

    #[test]
    fn typed_origins_are_one_per_line_and_all_exact() {
        let o =
            AllowedOrigins::parse_lines(" https://a.example\n\nhttp://localhost:3001 \n").unwrap();
        assert_eq!(o.to_stored(), "https://a.example http://localhost:3001");
        assert_eq!(AllowedOrigins::parse_lines("https://a.example/path"), None);
        assert_eq!(AllowedOrigins::parse_lines("https://a.example\nnope"), None);
        assert_eq!(AllowedOrigins::parse_lines("  \n"), None);
    }

    use super::*;

    fn origins(list: &[&str]) -> AllowedOrigins {
        AllowedOrigins::new(list.iter().map(|o| Origin::parse(o).unwrap()).collect())
    }

    #[test]
    fn resolves_only_registered_origins() {
        let two = origins(&["https://a.example", "https://b.example"]);
        assert_eq!(
            two.resolve(Some("https://b.example")).unwrap().as_str(),
            "https://b.example"
        );
        assert!(two.resolve(Some("https://evil.example")).is_none());
        assert!(two.resolve(Some("https://a.example/")).is_none());
        assert!(
            two.resolve(None).is_none(),
            "ambiguous without an explicit origin"
        );
        let one = origins(&["https://a.example"]);
        assert_eq!(one.resolve(None).unwrap().as_str(), "https://a.example");
        assert!(AllowedOrigins::default().resolve(None).is_none());
    }

    #[test]
    fn stored_form_round_trips_and_builds_frame_ancestors() {
        let two = origins(&["https://a.example", "http://localhost:3001"]);
        assert_eq!(AllowedOrigins::from_stored(&two.to_stored()), two);
        assert_eq!(
            two.frame_ancestors(),
            "https://a.example http://localhost:3001"
        );
        assert_eq!(AllowedOrigins::default().frame_ancestors(), "'none'");
    }

    #[test]
    fn rejects_wildcards_and_paths() {
        assert!(Origin::parse("*").is_err());
        assert!(Origin::parse("https://a.example/path").is_err());
    }
}
