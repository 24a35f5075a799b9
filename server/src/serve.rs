//! The HTTP server. `axum::serve` gives hyper no timer, so it cannot time
//! out a client that sends its headers a byte at a time (slowloris), and it
//! accepts every connection offered. (No connection upgrades: nothing
//! here speaks WebSocket.) This is the accept loop of hyper's own
//! server example with hyper's `header_read_timeout`, a deadline on a
//! stalled response write, and caps on open connections; the per-request limits (in flight, handler timeout) are
//! tower layers on the router (`startup::router`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use crate::limits::HttpLimits;

/// Serves `router` on `listener` until `stopping` flips, then stops
/// accepting and lets open requests finish (the caller bounds the wait).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    trusted_proxies: Vec<ipnet::IpNet>,
    mut stopping: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_address = Arc::new(PerAddress::default());
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        // A slot first: at the cap, connections wait in the backlog rather
        // than being accepted and starved.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = stopped(&mut stopping) => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stopping) => break,
        };
        // One host may not hold every slot; the operator's proxies carry
        // everyone's connections and are exempt.
        let held = if trusted_proxies.iter().any(|net| net.contains(&peer.ip())) {
            None
        } else {
            match per_address.open(peer.ip(), limits.max_connections_per_address) {
                Some(held) => Some(held),
                None => {
                    metrics::counter!("rebound_connections_refused_total", "reason" => "per_address")
                        .increment(1);
                    drop(tcp);
                    continue;
                }
            }
        };
        // Without TCP_NODELAY a response written in two parts (headers, then
        // a file body from ServeDir) waits out the client's delayed ACK:
        // static files measured ~40 ms each, 460 req/s, before this.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY");
        }
        let service = router
            .clone()
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(axum::body::Body::new)
            });
        // A write that makes no progress for the write timeout (a client
        // that reads nothing) fails, and the connection closes.
        let mut io = tokio_io_timeout::TimeoutStream::new(tcp);
        io.set_write_timeout(Some(limits.write_timeout));
        let conn = http.serve_connection(
            TokioIo::new(Box::pin(io)),
            TowerToHyperService::new(service),
        );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // Errors here are the client's: a reset, a header timeout.
            let _ = conn.await;
            drop(held);
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Connections open per client address (`limits::address_key`).
#[derive(Default)]
struct PerAddress(std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>);

/// One open connection of an address; closing it (dropping this) frees it.
struct Held(Arc<PerAddress>, std::net::IpAddr);

impl PerAddress {
    fn open(self: &Arc<Self>, ip: std::net::IpAddr, cap: usize) -> Option<Held> {
        let key = crate::limits::address_key(ip);
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= cap.max(1) {
            return None;
        }
        *n += 1;
        Some(Held(self.clone(), key))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut open = self.0.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// Resolves once `stopping` is set (holding no borrow of it, so the
/// future stays `Send`).
pub async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// The client of a request served by [`serve`]: the TCP peer, or behind
/// the operator's trusted proxies the address they recorded
/// (`client_address`).
pub fn peer_ip(req: &axum::http::request::Parts) -> Option<std::net::IpAddr> {
    if let Some(crate::client_address::ClientIp(ip)) = req.extensions.get() {
        return Some(*ip);
    }
    req.extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// The peer's address as an extractor (`None` when the request did not
/// come through [`serve`]).
pub struct PeerIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(PeerIp(peer_ip(parts)))
    }
}
