//! Who a request comes from, for every per-address limit. The TCP peer,
//! unless the peer is one of the operator's own proxies
//! (`REBOUND_TRUSTED_PROXIES`): then the address the proxies recorded
//! (`Forwarded: for=`, else `X-Forwarded-For`), read from the right, the
//! first that is not itself a trusted proxy. A client's own header is never
//! believed: anyone can write one, only our proxies' entries count.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::state::AppState;

/// The client's address, as resolved; put in the request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// `REBOUND_TRUSTED_PROXIES`: CIDRs or single addresses, separated by
/// commas or spaces.
pub fn parse_trusted(text: &str) -> Result<Vec<IpNet>, String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not an address or a CIDR block"))
        })
        .collect()
}

/// The addresses the proxies recorded, oldest (the client's) first:
/// `Forwarded`'s `for=` values if there are any, else `X-Forwarded-For`'s.
/// An entry that is no address (`unknown`, an obfuscated name) ends the
/// list there: nothing before it can be placed.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect::<Vec<String>>()
    };
    let forwarded: Vec<Option<IpAddr>> = values("forwarded")
        .iter()
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| parse_node(v))
            })
        })
        .collect();
    if !forwarded.is_empty() {
        return forwarded;
    }
    values("x-forwarded-for")
        .iter()
        .map(|v| parse_node(v))
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:80`, `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn parse_node(raw: &str) -> Option<IpAddr> {
    let v = raw.trim().trim_matches('"');
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sock) = v.parse::<SocketAddr>() {
        return Some(sock.ip());
    }
    v.strip_prefix('[')
        .and_then(|rest| rest.split(']').next())
        .and_then(|ip| ip.parse().ok())
}

/// The client of a request from `peer` with these headers.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for node in forwarded_chain(headers).into_iter().rev() {
        match node {
            Some(ip) if is_trusted(&ip) => client = ip,
            Some(ip) => return ip,
            // Unplaceable: the last address we could place stands.
            None => return client,
        }
    }
    client
}

/// Resolves the client once per request, before any limit reads it.
pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(peer) = peer {
        let client = resolve(peer, req.headers(), &state.config.trusted_proxies);
        req.extensions_mut().insert(ClientIp(client));
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peers_headers_are_never_believed() {
        let trusted = parse_trusted("10.0.0.0/8").unwrap();
        let h = headers(&[("x-forwarded-for", "198.51.100.1")]);
        assert_eq!(resolve(ip("203.0.113.9"), &h, &trusted), ip("203.0.113.9"));
        assert_eq!(resolve(ip("203.0.113.9"), &h, &[]), ip("203.0.113.9"));
    }

    #[test]
    fn behind_our_proxies_the_first_untrusted_address_from_the_right_is_the_client() {
        let trusted = parse_trusted("10.0.0.0/8, 192.0.2.7").unwrap();
        // The client forged the first entry; our proxies appended the rest.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.1, 192.0.2.7")]);
        assert_eq!(resolve(ip("10.0.0.2"), &h, &trusted), ip("198.51.100.1"));
        // Two headers are one list.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "198.51.100.2"),
        ]);
        assert_eq!(resolve(ip("10.0.0.2"), &h, &trusted), ip("198.51.100.2"));
        // No header: the proxy itself.
        assert_eq!(
            resolve(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn forwarded_is_read_first_with_ports_brackets_and_unknowns() {
        let trusted = parse_trusted("10.0.0.0/8").unwrap();
        let h = headers(&[
            (
                "forwarded",
                "for=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.0.0.5",
            ),
            ("x-forwarded-for", "198.51.100.3"),
        ]);
        assert_eq!(
            resolve(ip("10.0.0.2"), &h, &trusted),
            ip("2001:db8:cafe::17")
        );
        let h = headers(&[("forwarded", "for=unknown, for=10.0.0.5")]);
        assert_eq!(
            resolve(ip("10.0.0.2"), &h, &trusted),
            ip("10.0.0.5"),
            "nothing before an unplaceable entry is believed"
        );
        let h = headers(&[("x-forwarded-for", "198.51.100.4:8080")]);
        assert_eq!(resolve(ip("10.0.0.2"), &h, &trusted), ip("198.51.100.4"));
    }

    #[test]
    fn the_setting_takes_blocks_and_single_addresses() {
        let t = parse_trusted("10.0.0.0/8 ,::1, 2001:db8::/32").unwrap();
        assert_eq!(t.len(), 3);
        assert!(t[1].contains(&ip("::1")));
        assert!(parse_trusted("10.0.0.0/33").is_err());
        assert!(
            parse_trusted("proxy.local")
                .unwrap_err()
                .contains("proxy.local")
        );
        assert!(parse_trusted("").unwrap().is_empty());
    }
}
