//! What counts as a partner or host origin, for the listener and the server alike.

/// An origin as the browser serializes `event.origin`: scheme, lower-case host,
/// optional port, nothing else. https anywhere; http only for local hosts.
pub fn is_exact_origin(s: &str) -> bool {
    let Some((scheme, authority)) = s.split_once("://") else {
        return false;
    };
    let Some((host, port)) = split_host_port(authority) else {
        return false;
    };
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
    } else {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    };
    let port_ok =
        port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    let local = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    host_ok && port_ok && (scheme == "https" || (scheme == "http" && local))
}

/// `host[:port]` or `[v6][:port]`; `None` when anything else follows the host.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    let (host, tail) = if authority.starts_with('[') {
        let end = authority.find(']')? + 1;
        authority.split_at(end)
    } else {
        match authority.find(':') {
            Some(i) => authority.split_at(i),
            None => (authority, ""),
        }
    };
    match tail {
        "" => Some((host, None)),
        _ => tail.strip_prefix(':').map(|p| (host, Some(p))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_secure_origins_only() {
        for good in [
            "https://pay.example.com",
            "https://pay.example.com:8443",
            "http://localhost:3000",
            "http://127.0.0.1:3000",
            "http://[::1]:3000",
            "http://[::1]",
        ] {
            assert!(is_exact_origin(good), "{good}");
        }
        for bad in [
            "*",
            "",
            "null",
            "pay.example.com",
            "http://pay.example.com",
            "https://pay.example.com/",
            "https://pay.example.com/path",
            "https://pay.example.com:",
            "https://pay.example.com:99999x",
            "https://Pay.example.com",
            "https://user@pay.example.com",
            "javascript://x",
            "http://[::1",
        ] {
            assert!(!is_exact_origin(bad), "{bad}");
        }
    }
}
