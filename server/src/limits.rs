//! What one caller may ask of the server: the HTTP server's own limits
//! (header read timeout, connections, requests in flight, handler timeout;
//! `serve.rs` and `startup::router` apply them) and the rate limits, kept
//! by `governor`'s keyed GCRA limiters, one per thing a caller could flood:
//!
//! - the partner API, per Secret-Token (requests without one, per IP);
//! - the page's actions, per client IP and per recovery link (case);
//! - `POST /events/redeliver`, per partner;
//! - console sign-ins, per account (e-mail) and per client IP;
//! - console case actions, per console user.
//!
//! Over a limit, the caller gets `429` with `Retry-After`
//! ([`crate::api::ApiError::RateLimited`]).

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

/// The HTTP server's limits (`REBOUND_HEADER_TIMEOUT_SECS`,
/// `REBOUND_MAX_CONNECTIONS`, `REBOUND_MAX_IN_FLIGHT`,
/// `REBOUND_REQUEST_TIMEOUT_SECS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// A client must send a request's headers within this long, or the
    /// connection is closed (slowloris). Also how long an idle keep-alive
    /// connection stays open.
    pub header_read_timeout: Duration,
    /// Connections open at once; past it, new ones wait in the kernel's
    /// backlog until one closes.
    pub max_connections: usize,
    /// Connections open at once from one client address (an IPv6 /64;
    /// trusted proxies are exempt): past it, a new one is closed at once,
    /// so one host cannot take every slot. Generous: Korean carriers put
    /// many phones behind one address.
    pub max_connections_per_address: usize,
    /// Recovery pages rendered at once. Rendering is CPU work, so past one
    /// per core (and one waiting on the database) a render only waits for
    /// the others: the excess is answered `503` at once (load shedding)
    /// rather than queued, so the pages let in keep their latency
    /// (`make bench` holds the answered p99 within 3x of the unloaded p99
    /// at twice the capacity).
    pub max_renders: usize,
    /// The page's actions that wait on the payment gateway (a charge, a
    /// card registration): their time is the card company's, so they have
    /// a budget of their own and cannot crowd out the rest.
    pub max_gateway_in_flight: usize,
    /// Everything else at once: the partner API, static files, the SDK,
    /// the other page actions (database work).
    pub max_in_flight: usize,
    /// Console sign-ins checked at once. Each costs an Argon2 hash (tens of
    /// milliseconds of a core, on purpose), so they have a small budget of
    /// their own: a flood of sign-ins is shed there and cannot crowd out
    /// the partner API or the pages.
    pub max_sign_ins: usize,
    /// A request still unanswered after this long is answered `503`. Longer
    /// than the PG's own 30 s timeout, so a charge is not cut off while the
    /// card company answers (a cut-off charge stays pending and is settled
    /// by the resolver; nothing is lost).
    pub request_timeout: Duration,
    /// Writing a response may stall (the client reading nothing) this long
    /// at most; then the connection is closed, so slow readers cannot hold
    /// every connection slot. Counted per write, so a large download to a
    /// slow but reading phone goes on.
    pub write_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_connections_per_address: 256,
            max_renders: default_renders(),
            max_gateway_in_flight: 64,
            max_in_flight: 256,
            max_sign_ins: default_renders(),
            request_timeout: Duration::from_secs(45),
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// One render per core and one waiting on the database. Measured on two
/// cores at twice the capacity: 3 in flight kept the answered p99 at 2.8x
/// the unloaded one, 4 at 3.9x, 16 at 10.6x.
pub fn default_renders() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    cores + 1
}

/// A rate: `burst` requests at once, then one every `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub burst: u32,
    pub every: Duration,
}

impl Rate {
    pub const fn new(burst: u32, every: Duration) -> Rate {
        Rate { burst, every }
    }

    /// `n` a second, with bursts of `2n`.
    pub fn per_second(n: u32) -> Rate {
        Rate::new(
            n.saturating_mul(2).max(1),
            Duration::from_secs(1) / n.max(1),
        )
    }

    /// `n` a minute, all of them at once if need be.
    pub fn per_minute(n: u32) -> Rate {
        Rate::new(n.max(1), Duration::from_secs(60) / n.max(1))
    }

    fn quota(self) -> Quota {
        let burst = NonZeroU32::new(self.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(self.every.max(Duration::from_micros(1)))
            .unwrap_or_else(|| Quota::per_second(burst))
            .allow_burst(burst)
    }
}

/// The rate limits (`REBOUND_API_RATE` sets the API's, per second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateConfig {
    /// Partner API calls per Secret-Token.
    pub api: Rate,
    /// Page actions (pay, change card, change date, remind) per client IP.
    /// Generous: Korean mobile carriers put many phones behind one address.
    pub page_ip: Rate,
    /// Page actions per recovery link: a customer acts a handful of times.
    pub page_case: Rate,
    /// `POST /events/redeliver` calls per partner; each queues up to 1,000.
    pub redeliver: Rate,
    /// Test notices from the console per partner: each is an outbound
    /// request to the partner's URL, which must not become a way to make
    /// this server call a URL in a loop.
    pub test_notice: Rate,
    /// Console sign-in attempts per account from one address, right or
    /// wrong: a guesser gets five tries, then one a minute.
    pub login_client: Rate,
    /// Console sign-in attempts per account from everywhere: a higher cap,
    /// slow to refill, so guessers spread over many addresses are held
    /// back, while one guesser alone cannot lock the real user out.
    pub login_account: Rate,
    /// Console sign-in attempts per client IP (one address trying many
    /// accounts).
    pub login_ip: Rate,
    /// Console case actions (retry now, resend, pause, settle) per console
    /// user: a person clicks a few times a minute; a script that charges
    /// every case in a loop is held back.
    pub console_action: Rate,
}

/// `REBOUND_PAGE_RATE`'s default: page actions a minute from one address
/// (a carrier's address may stand for many phones).
pub const DEFAULT_PAGE_RATE: u32 = 120;
/// `REBOUND_SIGN_IN_RATE`'s default: sign-in attempts a minute from one
/// address, over every account it names.
pub const DEFAULT_SIGN_IN_RATE: u32 = 20;

impl Default for RateConfig {
    fn default() -> Self {
        RateConfig {
            api: Rate::per_second(50),
            page_ip: Rate::per_minute(DEFAULT_PAGE_RATE),
            page_case: Rate::new(12, Duration::from_secs(20)),
            redeliver: Rate::new(10, Duration::from_secs(6)),
            test_notice: Rate::new(3, Duration::from_secs(20)),
            login_client: Rate::new(5, Duration::from_secs(60)),
            login_account: Rate::new(50, Duration::from_secs(30)),
            login_ip: Rate::per_minute(DEFAULT_SIGN_IN_RATE),
            console_action: Rate::new(10, Duration::from_secs(6)),
        }
    }
}

/// Over a limit: the caller may try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

impl Limited {
    /// `Retry-After` in whole seconds, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }
}

/// A digest of a secret, so the limiter's table holds no token.
pub type SecretKey = [u8; 32];

pub fn secret_key(secret: &str) -> SecretKey {
    Sha256::digest(secret.as_bytes()).into()
}

/// One limiter per key kind. Keys unused for a while are dropped, so the
/// table does not grow with every address that ever called.
struct Keyed<K: Hash + Eq + Clone> {
    /// The `limit` label of `rebound_rate_limited_total`.
    name: &'static str,
    limiter: DefaultKeyedRateLimiter<K>,
    /// Idle keys are forgotten when the table grows past this; then it is
    /// set to twice what remained, so a flood of live keys does not make
    /// every check walk the table.
    prune_above: std::sync::atomic::AtomicUsize,
}

/// Below this many keys, nothing is forgotten.
const PRUNE_ABOVE: usize = 50_000;

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn new(name: &'static str, rate: Rate) -> Self {
        Keyed {
            name,
            limiter: RateLimiter::keyed(rate.quota()),
            prune_above: PRUNE_ABOVE.into(),
        }
    }

    fn check(&self, key: &K, clock: &DefaultClock) -> Result<(), Limited> {
        use std::sync::atomic::Ordering::Relaxed;
        if self.limiter.len() > self.prune_above.load(Relaxed) {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
            self.prune_above
                .store((self.limiter.len() * 2).max(PRUNE_ABOVE), Relaxed);
        }
        self.limiter.check_key(key).map_err(|not_until| {
            metrics::counter!("rebound_rate_limited_total", "limit" => self.name).increment(1);
            Limited {
                retry_after: not_until.wait_time_from(clock.now()),
            }
        })
    }
}

/// The address a per-address limit counts: IPv4 as it is (an IPv4-mapped
/// IPv6 address too), IPv6 by its /64, the block one subscriber is given:
/// per address, one host could spend its 2^64 addresses on fresh buckets.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
    }
}

/// Every rate limit of one server process. (Several instances each keep
/// their own: a caller spread over `n` instances gets up to `n` times the
/// rate, which bounds abuse without a shared store.)
pub struct RateLimits {
    clock: DefaultClock,
    api: Keyed<i64>,
    api_anonymous: Keyed<IpAddr>,
    page_ip: Keyed<IpAddr>,
    page_case: Keyed<SecretKey>,
    redeliver: Keyed<i64>,
    test_notice: Keyed<i64>,
    login_client: Keyed<SecretKey>,
    login_account: Keyed<SecretKey>,
    login_ip: Keyed<IpAddr>,
    console_action: Keyed<i64>,
}

impl RateLimits {
    pub fn new(config: &RateConfig) -> Self {
        RateLimits {
            clock: DefaultClock::default(),
            api: Keyed::new("api", config.api),
            api_anonymous: Keyed::new("api", config.api),
            page_ip: Keyed::new("page_ip", config.page_ip),
            page_case: Keyed::new("page_case", config.page_case),
            redeliver: Keyed::new("redeliver", config.redeliver),
            test_notice: Keyed::new("test_notice", config.test_notice),
            login_client: Keyed::new("login_client", config.login_client),
            login_account: Keyed::new("login_account", config.login_account),
            login_ip: Keyed::new("login_ip", config.login_ip),
            console_action: Keyed::new("console_action", config.console_action),
        }
    }

    /// An API call of this partner, counted once its Secret-Token is known
    /// to be the partner's: every token of one partner (an old one in its
    /// grace period too) shares one bucket, and a made-up token gets none.
    pub fn api_partner(&self, partner_id: i64) -> Result<(), Limited> {
        self.api.check(&partner_id, &self.clock)
    }

    /// An API call that names no partner (no token, or one that opens
    /// nothing), counted by its address.
    pub fn api_anonymous(&self, ip: Option<IpAddr>) -> Result<(), Limited> {
        match ip {
            Some(ip) => self.api_anonymous.check(&address_key(ip), &self.clock),
            None => Ok(()),
        }
    }

    /// A page action from this address.
    pub fn page_ip(&self, ip: IpAddr) -> Result<(), Limited> {
        self.page_ip.check(&address_key(ip), &self.clock)
    }

    /// A page action on the case behind this recovery token.
    pub fn page_case(&self, token: &str) -> Result<(), Limited> {
        self.page_case.check(&secret_key(token), &self.clock)
    }

    /// A redelivery request by this partner.
    pub fn redeliver(&self, partner_id: i64) -> Result<(), Limited> {
        self.redeliver.check(&partner_id, &self.clock)
    }

    /// A test notice to this partner's URL, sent from the console.
    pub fn test_notice(&self, partner_id: i64) -> Result<(), Limited> {
        self.test_notice.check(&partner_id, &self.clock)
    }

    /// A console sign-in attempt for this (normalized) e-mail from this
    /// address: per address, per account from this address, per account
    /// from everywhere. All count whatever the outcome, so the answer to a
    /// throttled guess says nothing about the password.
    pub fn login(&self, email: &str, ip: Option<IpAddr>) -> Result<(), Limited> {
        if let Some(ip) = ip {
            let ip = address_key(ip);
            self.login_ip.check(&ip, &self.clock)?;
            self.login_client
                .check(&secret_key(&format!("{email}\n{ip}")), &self.clock)?;
        }
        self.login_account.check(&secret_key(email), &self.clock)
    }

    /// A case action by this console user.
    pub fn console_action(&self, user_id: i64) -> Result<(), Limited> {
        self.console_action.check(&user_id, &self.clock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_let_through_and_the_next_request_is_told_when_to_come_back() {
        let limits = RateLimits::new(&RateConfig {
            page_case: Rate::new(3, Duration::from_secs(20)),
            ..RateConfig::default()
        });
        for _ in 0..3 {
            assert_eq!(limits.page_case("tok-a"), Ok(()));
        }
        let limited = limits.page_case("tok-a").unwrap_err();
        assert!(
            (1..=20).contains(&limited.retry_after_secs()),
            "{limited:?}"
        );
        assert_eq!(
            limits.page_case("tok-b"),
            Ok(()),
            "another case is not held back"
        );
    }

    #[test]
    fn api_callers_are_counted_by_partner_and_anonymous_ones_by_address() {
        let limits = RateLimits::new(&RateConfig {
            api: Rate::new(2, Duration::from_secs(60)),
            ..RateConfig::default()
        });
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(limits.api_partner(1).is_ok());
        assert!(limits.api_partner(1).is_ok());
        assert!(limits.api_partner(1).is_err());
        assert!(limits.api_partner(2).is_ok(), "another partner");
        assert!(limits.api_anonymous(Some(ip)).is_ok());
        assert!(limits.api_anonymous(Some(ip)).is_ok());
        assert!(limits.api_anonymous(Some(ip)).is_err());
        assert!(limits.api_anonymous(None).is_ok(), "no address to count");
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_block() {
        let limits = RateLimits::new(&RateConfig {
            page_ip: Rate::new(2, Duration::from_secs(60)),
            ..RateConfig::default()
        });
        // One subscriber's /64: every address in it shares one bucket.
        for ip in ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9"] {
            assert!(limits.page_ip(ip.parse().unwrap()).is_ok(), "{ip}");
        }
        assert!(
            limits
                .page_ip("2001:db8:1:2:dead:beef::1".parse().unwrap())
                .is_err(),
            "a fresh address in the same /64 is no fresh bucket"
        );
        assert!(
            limits.page_ip("2001:db8:1:3::1".parse().unwrap()).is_ok(),
            "the next /64 is someone else"
        );
        // IPv4, however it arrives.
        assert!(limits.page_ip("198.51.100.7".parse().unwrap()).is_ok());
        assert!(
            limits
                .page_ip("::ffff:198.51.100.7".parse().unwrap())
                .is_ok()
        );
        assert!(
            limits.page_ip("198.51.100.7".parse().unwrap()).is_err(),
            "the mapped form is the same address"
        );
    }

    #[test]
    fn one_guesser_cannot_lock_the_real_user_out() {
        let limits = RateLimits::new(&RateConfig::default());
        let (guesser, owner): (IpAddr, IpAddr) = (
            "198.51.100.66".parse().unwrap(),
            "203.0.113.7".parse().unwrap(),
        );
        for _ in 0..5 {
            assert!(limits.login("ops@acme.example", Some(guesser)).is_ok());
        }
        assert!(
            limits.login("ops@acme.example", Some(guesser)).is_err(),
            "the guesser is held back"
        );
        assert!(
            limits.login("ops@acme.example", Some(owner)).is_ok(),
            "the owner, elsewhere, still signs in"
        );
        // Guessers spread over many addresses meet the account's own cap.
        let mut refused = 0;
        for n in 0..60u8 {
            let ip: IpAddr = format!("192.0.2.{n}").parse().unwrap();
            if limits.login("ops@acme.example", Some(ip)).is_err() {
                refused += 1;
            }
        }
        assert!(refused >= 10, "{refused} of 60 refused");
    }

    #[test]
    fn console_actions_are_counted_per_user() {
        let limits = RateLimits::new(&RateConfig {
            console_action: Rate::new(2, Duration::from_secs(60)),
            ..RateConfig::default()
        });
        assert!(limits.console_action(1).is_ok());
        assert!(limits.console_action(1).is_ok());
        assert!(limits.console_action(1).is_err());
        assert!(
            limits.console_action(2).is_ok(),
            "another user is not held back"
        );
    }

    #[test]
    fn retry_after_is_whole_seconds_and_never_zero() {
        let l = |ms| Limited {
            retry_after: Duration::from_millis(ms),
        };
        assert_eq!(l(0).retry_after_secs(), 1);
        assert_eq!(l(10).retry_after_secs(), 1);
        assert_eq!(l(1_001).retry_after_secs(), 2);
        assert_eq!(Rate::per_second(50).burst, 100);
        assert_eq!(Rate::per_second(50).every, Duration::from_millis(20));
        assert_eq!(
            Rate::per_minute(120),
            Rate::new(120, Duration::from_millis(500))
        );
        assert_eq!(Rate::per_minute(0), Rate::new(1, Duration::from_secs(60)));
    }
}
