//! `server bench load`: the overload test of `make bench` (issue 14). It
//! measures, in one run against a running server, the recovery page's
//! capacity and its unloaded p99, then offers twice that capacity for a
//! minute at a fixed rate (open loop: requests are sent on schedule
//! whether or not earlier ones were answered, as customers would) while
//! slowloris-style connections trickle header bytes. The server passes
//! when it keeps answering, sheds the excess with 429 or 503, lets nothing
//! hang past its timeouts, and the answered pages' p99 stays within 3x of
//! the unloaded p99. Meanwhile console sign-ins arrive from many addresses
//! (a credential-stuffing flood, each an Argon2 hash if let in) and a
//! partner calls the API: the partner API must keep answering.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What to run.
pub struct LoadSpec {
    /// A page URL to load (the recovery page with a live token).
    pub url: String,
    /// How long the overload lasts.
    pub duration: Duration,
    /// Slow connections kept open during the overload.
    pub slow_connections: usize,
    /// How long each of the two calm measurements lasts.
    pub probe: Duration,
    /// Concurrent clients of the capacity measurement.
    pub clients: usize,
    /// A request unanswered after this long counts as hung (longer than
    /// the server's own request timeout).
    pub hang_after: Duration,
    /// Console sign-in attempts a second during the overload, each from
    /// its own address (`X-Forwarded-For`: the server must trust this
    /// client as its proxy) and for its own made-up account.
    pub sign_ins_per_second: f64,
    /// A partner's Secret-Token: the API is called 20 times a second during
    /// the overload and must answer every call.
    pub api_token: Option<String>,
}

/// Partner API calls a second during the overload.
const API_CALLS_PER_SECOND: f64 = 20.0;

/// What came of it.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    pub capacity_per_second: f64,
    pub unloaded_p99: Duration,
    pub offered_per_second: f64,
    pub sent: u64,
    pub answered_ok: u64,
    pub shed_429: u64,
    pub shed_503: u64,
    pub other_status: u64,
    /// Refused connections, resets: the server stopped answering someone.
    pub errors: u64,
    /// Unanswered past `hang_after`.
    pub hung: u64,
    pub loaded_p99: Duration,
    pub loaded_max: Duration,
    /// Slow connections the server closed (its header timeout), and the
    /// most that were open at once.
    pub slow_closed_by_server: u64,
    pub slow_open_peak: u64,
    /// The sign-in flood: sent, and answered by status class.
    pub sign_ins: Tally,
    /// The partner API during the overload.
    pub api: Tally,
}

/// Answers to a stream of requests.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub sent: u64,
    pub ok: u64,
    pub refused_401: u64,
    pub shed_429: u64,
    pub shed_503: u64,
    pub other: u64,
    /// Refused connections, resets: the server stopped answering someone.
    pub errors: u64,
    /// Unanswered within the client's timeout (`LoadSpec::hang_after`).
    pub hung: u64,
    /// How long each 2xx/3xx answer took.
    pub latencies: Vec<Duration>,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} sent: {} 2xx/3xx, {} 401, {} 429, {} 503, {} other, {} errors, {} hung",
            self.sent,
            self.ok,
            self.refused_401,
            self.shed_429,
            self.shed_503,
            self.other,
            self.errors,
            self.hung
        )
    }
}

impl LoadReport {
    pub fn p99_ratio(&self) -> f64 {
        self.loaded_p99.as_secs_f64() / self.unloaded_p99.as_secs_f64().max(1e-6)
    }

    /// The bar.
    pub fn passed(&self) -> bool {
        self.hung == 0
            && self.errors == 0
            && self.answered_ok > 0
            && self.p99_ratio() <= 3.0
            && self.slow_open_peak > 0
            && self.api_kept_answering()
            && self.sign_ins.errors == 0
            && self.sign_ins.hung == 0
    }

    /// Every partner API call during the overload was answered 200.
    pub fn api_kept_answering(&self) -> bool {
        self.api.sent == self.api.ok
    }
}

fn p99(mut latencies: Vec<Duration>) -> Duration {
    if latencies.is_empty() {
        return Duration::ZERO;
    }
    latencies.sort_unstable();
    let i = ((latencies.len() as f64) * 0.99).ceil() as usize;
    latencies[i.saturating_sub(1).min(latencies.len() - 1)]
}

fn client(spec: &LoadSpec) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(spec.hang_after)
        .pool_max_idle_per_host(usize::MAX)
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

/// `clients` requests in flight at all times for `probe`: what the server
/// answers per second, and each answer's latency.
async fn closed_loop(
    http: &reqwest::Client,
    url: &str,
    clients: usize,
    probe: Duration,
) -> (f64, Vec<Duration>) {
    let started = Instant::now();
    let until = started + probe;
    let workers = (0..clients).map(|_| {
        let (http, url) = (http.clone(), url.to_owned());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let t = Instant::now();
                if let Ok(res) = http.get(&url).send().await
                    && res.status() == 200
                    && res.bytes().await.is_ok()
                {
                    latencies.push(t.elapsed());
                }
            }
            latencies
        })
    });
    let mut all = Vec::new();
    for w in futures_util::future::join_all(workers).await {
        all.extend(w.unwrap_or_default());
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    (rate, all)
}

/// Keeps `n` connections open that send a request's headers a byte every
/// second or two and never finish them; reconnects each one the server
/// closes. Returns (closed by the server, peak open) when `stop` is set.
async fn slowloris(
    url: url::Url,
    n: usize,
    stop: tokio::sync::watch::Receiver<bool>,
) -> (u64, u64) {
    let addr = format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port_or_known_default().unwrap_or(80)
    );
    let head = format!("GET {} HTTP/1.1\r\nHost: {addr}\r\n", url.path());
    let closed = Arc::new(AtomicU64::new(0));
    let open = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (addr, head, mut stop) = (addr.clone(), head.clone(), stop.clone());
            let (closed, open, peak) = (closed.clone(), open.clone(), peak.clone());
            tokio::spawn(async move {
                // Spread the trickles so they do not arrive in lockstep.
                let pause = Duration::from_millis(1_000 + (i as u64 * 7) % 1_000);
                loop {
                    let stopped = *stop.borrow();
                    if stopped {
                        return;
                    }
                    let Ok(mut tcp) = tokio::net::TcpStream::connect(&addr).await else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    if tcp.write_all(head.as_bytes()).await.is_err() {
                        continue;
                    }
                    let now_open = open.fetch_add(1, Ordering::Relaxed) + 1;
                    peak.fetch_max(now_open, Ordering::Relaxed);
                    let mut buf = [0u8; 512];
                    let by_server = loop {
                        tokio::select! {
                            () = crate::serve::stopped(&mut stop) => break false,
                            read = tcp.read(&mut buf) => match read {
                                Ok(0) | Err(_) => break true,
                                Ok(_) => continue,
                            },
                            _ = tokio::time::sleep(pause) => {
                                if tcp.write_all(b"X-Slow: y\r\n").await.is_err() {
                                    break true;
                                }
                            }
                        }
                    };
                    open.fetch_sub(1, Ordering::Relaxed);
                    if !by_server {
                        return;
                    }
                    closed.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    (closed.load(Ordering::Relaxed), peak.load(Ordering::Relaxed))
}

/// Sends `rate` requests a second for `duration` (open loop), each built
/// by `request(n)`; counts the answers.
async fn steady(
    rate: f64,
    duration: Duration,
    request: impl Fn(u64) -> reqwest::RequestBuilder,
) -> Tally {
    let tally = Arc::new(std::sync::Mutex::new(Tally::default()));
    if rate <= 0.0 {
        return Tally::default();
    }
    let started = Instant::now();
    let mut sent: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut in_flight = Vec::new();
    while started.elapsed() < duration {
        tick.tick().await;
        let due = (started.elapsed().as_secs_f64() * rate) as u64;
        while sent < due {
            let req = request(sent);
            sent += 1;
            let tally = tally.clone();
            in_flight.push(tokio::spawn(async move {
                let t = Instant::now();
                let answer = match req.send().await {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        res.bytes().await.map(|_| status)
                    }
                    Err(e) => Err(e),
                };
                let latency = t.elapsed();
                let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                match answer {
                    Ok(200..=399) => {
                        t.ok += 1;
                        t.latencies.push(latency);
                    }
                    Ok(401) => t.refused_401 += 1,
                    Ok(429) => t.shed_429 += 1,
                    Ok(503) => t.shed_503 += 1,
                    Ok(_) => t.other += 1,
                    Err(e) if e.is_timeout() => t.hung += 1,
                    Err(_) => t.errors += 1,
                }
            }));
        }
        if in_flight.len() > 10_000 {
            in_flight.retain(|t| !t.is_finished());
        }
    }
    for t in in_flight {
        let _ = t.await;
    }
    let mut out = std::mem::take(&mut *tally.lock().unwrap_or_else(|p| p.into_inner()));
    out.sent = sent;
    out
}

/// A made-up address per attempt: 10.x.y.z, spread so no two in a row
/// share a bucket.
fn flood_address(n: u64) -> String {
    let n = n.wrapping_mul(2_654_435_761) & 0x00ff_ffff;
    format!("10.{}.{}.{}", n >> 16, (n >> 8) & 0xff, n & 0xff)
}

pub async fn run(spec: &LoadSpec) -> Result<LoadReport, String> {
    let url = url::Url::parse(&spec.url).map_err(|e| format!("--url: {e}"))?;
    let http = client(spec);
    let mut report = LoadReport::default();
    // Warm up connections and caches.
    let _ = closed_loop(&http, &spec.url, spec.clients, Duration::from_secs(1)).await;
    let (capacity, _) = closed_loop(&http, &spec.url, spec.clients, spec.probe).await;
    if capacity <= 0.0 {
        return Err("the page answered nothing with 200".into());
    }
    report.capacity_per_second = capacity;
    let (_, calm) = closed_loop(&http, &spec.url, 1, spec.probe).await;
    report.unloaded_p99 = p99(calm);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let slow = tokio::spawn(slowloris(url.clone(), spec.slow_connections, stopped));
    // Let the slow connections open before the flood.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fresh = client(spec);
    let origin = url.origin().ascii_serialization();
    let flood_http = client(spec);
    let login = format!("{origin}/console/login");
    let sign_ins = steady(spec.sign_ins_per_second, spec.duration, move |n| {
        flood_http
            .post(&login)
            .header("X-Forwarded-For", flood_address(n))
            .form(&[
                ("email", format!("stuffed{n}@example.com")),
                ("password", format!("a guessed password {n}")),
            ])
    });
    let api_http = client(spec);
    let api_url = format!("{origin}/api/v1/cover/customer?size=1");
    let token = spec.api_token.clone();
    let api_rate = if token.is_some() {
        API_CALLS_PER_SECOND
    } else {
        0.0
    };
    let api = steady(api_rate, spec.duration, move |_| {
        api_http
            .get(&api_url)
            .header("Secret-Token", token.as_deref().unwrap_or_default())
    });
    let page_url = spec.url.clone();
    let pages = steady(capacity * 2.0, spec.duration, move |_| fresh.get(&page_url));
    let (pages, sign_ins, api) = tokio::join!(pages, sign_ins, api);
    report.offered_per_second = pages.sent as f64 / spec.duration.as_secs_f64();
    report.sent = pages.sent;
    report.answered_ok = pages.ok;
    report.shed_429 = pages.shed_429;
    report.shed_503 = pages.shed_503;
    report.other_status = pages.other + pages.refused_401;
    report.errors = pages.errors;
    report.hung = pages.hung;
    report.loaded_max = pages.latencies.iter().max().copied().unwrap_or_default();
    report.loaded_p99 = p99(pages.latencies);
    report.sign_ins = sign_ins;
    report.api = api;
    let _ = stop.send(true);
    let slow = tokio::time::timeout(Duration::from_secs(10), slow)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    report.slow_closed_by_server = slow.0;
    report.slow_open_peak = slow.1;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_is_the_value_below_which_ninety_nine_in_a_hundred_fall() {
        let ms = |n| Duration::from_millis(n);
        let mut v: Vec<Duration> = (1..=100).map(ms).collect();
        v.reverse();
        assert_eq!(p99(v), ms(99));
        assert_eq!(p99(vec![ms(5)]), ms(5));
        assert_eq!(p99(Vec::new()), Duration::ZERO);
    }

    #[test]
    fn the_bar_is_no_hang_no_error_and_p99_within_three_times() {
        let ok = LoadReport {
            unloaded_p99: Duration::from_millis(4),
            loaded_p99: Duration::from_millis(11),
            answered_ok: 10,
            slow_open_peak: 1000,
            ..LoadReport::default()
        };
        assert!(ok.passed());
        assert!(
            !LoadReport {
                loaded_p99: Duration::from_millis(13),
                ..ok.clone()
            }
            .passed()
        );
        assert!(!LoadReport { hung: 1, ..ok }.passed());
    }
}
