//! What counts as a partner or host origin, for the listener and the server alike.

/// An origin as the browser serializes `event.origin`: scheme, lower-case host,
/// optional port, nothing else. https anywhere; http only for local hosts.
///
/// Works on bytes with `strip_prefix` and `split_at` at found indexes, so the
/// listener's WASM links no substring search or slicing-panic paths.
pub fn is_exact_origin(s: &str) -> bool {
    let b = s.as_bytes();
    let (authority, secure) = if let Some(rest) = b.strip_prefix(b"https://") {
        (rest, true)
    } else if let Some(rest) = b.strip_prefix(b"http://") {
        (rest, false)
    } else {
        return false;
    };
    let (host, port) = if authority.first() == Some(&b'[') {
        match authority.iter().position(|&c| c == b']') {
            Some(end) => authority.split_at(end + 1),
            None => return false,
        }
    } else {
        match authority.iter().position(|&c| c == b':') {
            Some(i) => authority.split_at(i),
            None => (authority, &[][..]),
        }
    };
    let host_ok = match host {
        [b'[', v6 @ .., b']'] => {
            !v6.is_empty() && v6.iter().all(|c| c.is_ascii_hexdigit() || *c == b':')
        }
        _ => {
            !host.is_empty()
                && host.iter().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-'
                })
        }
    };
    let port_ok = match port {
        [] => true,
        [b':', digits @ ..] => {
            (1..=5).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    };
    let local = matches!(host, b"localhost" | b"127.0.0.1" | b"[::1]");
    host_ok && port_ok && (secure || local)
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
            "https://[::1]x",
            "https://pay.example.com:443:1",
            "https:/pay.example.com",
            "HTTPS://pay.example.com",
        ] {
            assert!(!is_exact_origin(bad), "{bad}");
        }
    }
}
