//! Configuration from the environment.
//!
//! Production is the default, and its defaults are safe: the server will not
//! start without a payment gateway, a message provider and a link key named
//! explicitly, so a forgotten setting can never mean "sandbox" (cases marked
//! recovered, signed `payment.completed` notices, no money moved). The
//! conveniences of a fresh checkout (sandbox, outbox, the dev clock, notices
//! to private addresses, a link key file made on first start) come only with
//! `serve --demo`, which listens on loopback alone.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::domain::gateway_account::CustomerKeyRule;
use crate::domain::token::LinkKey;
use crate::engine::provider::MessagesConfig;
use crate::engine::sens::{self, SensConfig};
use crate::gateway::{GatewayConfig, TossConfig, toss};
use crate::limits::{DEFAULT_PAGE_RATE, DEFAULT_SIGN_IN_RATE, HttpLimits, Rate, RateConfig};
use crate::sealing::CredentialsKey;

/// Production, or the demo with its partner site on `site`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Production,
    Demo { site: SocketAddr },
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// `REBOUND_LISTEN`, default `127.0.0.1:3000`. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// `DATABASE_URL`, default a SQLite file `rebound.db` in the working directory.
    /// `postgres://...` selects PostgreSQL.
    pub database_url: String,
    /// `REBOUND_SITE_ROOT`, default `target/site`: cargo-leptos's output
    /// (`pkg/rebound.js`, `.wasm`, `.css`).
    pub site_root: PathBuf,
    /// `REBOUND_SDK_DIR`, default `target/sdk`: the built partner listener.
    pub sdk_dir: PathBuf,
    /// `REBOUND_PUBLIC_URL`, default `http://<listen>`: how partners reach us.
    pub public_url: String,
    /// `REBOUND_GATEWAY`: `toss` (with `REBOUND_TOSS_SECRET_KEY`,
    /// `REBOUND_TOSS_CLIENT_KEY`, optionally `REBOUND_TOSS_API_BASE`) or
    /// `sandbox` (no money moves). Required outside the demo.
    pub gateway: GatewayConfig,
    /// `REBOUND_MESSAGES`: `sens` (Naver Cloud SENS AlimTalk with SMS
    /// fallback; settings in [`SensConfig`]) or `outbox` (stored, nothing
    /// reaches a phone). Required outside the demo.
    pub messages: MessagesConfig,
    /// `REBOUND_DEV_PAGES=1` (and `--demo`): `/dev/outbox`. It shows live
    /// recovery links.
    pub dev_pages: bool,
    /// `REBOUND_DEV_CLOCK=1` (and `--demo`): the clock is the wall clock
    /// plus the offset `server dev advance` stores in the database, so
    /// every instance on that database moves together.
    pub dev_clock: bool,
    /// `REBOUND_ENGINE_POLL_MS`, default 1000: how often the workers look
    /// for due work when they found none.
    pub engine_poll_ms: u64,
    /// `REBOUND_NOTIFY_ALLOW_PRIVATE=1` (and `--demo`): deliver notices to
    /// loopback, private and link-local addresses and over plain http.
    pub notify_allow_private: bool,
    /// `REBOUND_LINK_KEY_FILE` (a file holding the key) or
    /// `REBOUND_LINK_KEY`: signs stage links. Required outside the demo,
    /// which keeps one in `rebound-link.key`.
    pub link_key: LinkKey,
    /// `REBOUND_CREDENTIALS_KEY_FILE` (a file holding the key) or
    /// `REBOUND_CREDENTIALS_KEY`: seals partners' gateway secrets in the
    /// database. Needed once any partner has an account of its own; the
    /// demo keeps one in `rebound-credentials.key`.
    pub credentials_key: Option<std::sync::Arc<crate::sealing::CredentialsKey>>,
    /// `REBOUND_SHUTDOWN_GRACE_SECS`, default 35: on SIGTERM, how long
    /// in-flight requests, sends and charges may take to finish (a
    /// worker's batch ends within 30 s).
    pub shutdown_grace: Duration,
    /// `REBOUND_METRICS_TOKEN`: `/metrics` also answers a request with
    /// `Authorization: Bearer <token>` (without it, loopback peers only).
    pub metrics_token: Option<String>,
    /// The HTTP server's limits: `REBOUND_HEADER_TIMEOUT_SECS` (10),
    /// `REBOUND_MAX_CONNECTIONS` (4096), `REBOUND_MAX_RENDERS` (one per
    /// core, plus one), `REBOUND_MAX_GATEWAY_IN_FLIGHT` (64),
    /// `REBOUND_MAX_IN_FLIGHT` (256), `REBOUND_MAX_SIGN_INS` (one per core,
    /// plus one), `REBOUND_REQUEST_TIMEOUT_SECS` (45),
    /// `REBOUND_WRITE_TIMEOUT_SECS` (30).
    pub http: HttpLimits,
    /// Rate limits; `REBOUND_API_RATE` (50) is the partner API's per
    /// Secret-Token and second, with bursts of twice that;
    /// `REBOUND_PAGE_RATE` (120) the recovery page's actions and
    /// `REBOUND_SIGN_IN_RATE` (20) the console's sign-in attempts per client
    /// address and minute.
    pub rates: RateConfig,
    /// `REBOUND_TRUSTED_PROXIES`: the operator's own proxies (CIDRs); from
    /// them the client address is read from `Forwarded`/`X-Forwarded-For`.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub mode: Mode,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("{name} is not set: {hint}")]
    Missing {
        name: &'static str,
        hint: &'static str,
    },
}

/// The demo's link key, made on its first start.
pub const DEMO_LINK_KEY_FILE: &str = "rebound-link.key";

/// The demo's credentials key, made on its first start.
pub const DEMO_CREDENTIALS_KEY_FILE: &str = "rebound-credentials.key";

impl Config {
    pub fn from_env(mode: Mode) -> Result<Config, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok(), mode)
    }

    /// Reads settings through `get`, so tests need not touch the process env.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        mode: Mode,
    ) -> Result<Config, ConfigError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let demo = matches!(mode, Mode::Demo { .. });
        let listen: SocketAddr = get("REBOUND_LISTEN")
            .unwrap_or_else(|| "127.0.0.1:3000".into())
            .parse()
            .map_err(|e| ConfigError::Invalid {
                name: "REBOUND_LISTEN",
                reason: format!("{e}"),
            })?;
        if let Mode::Demo { site } = mode {
            // The demo's conveniences (a dev clock anyone can move, pages
            // that list live links) must not face a network.
            for (name, addr) in [("REBOUND_LISTEN", listen), ("--demo-listen", site)] {
                if !addr.ip().is_loopback() {
                    return Err(ConfigError::Invalid {
                        name,
                        reason: format!(
                            "--demo listens on loopback only (127.0.0.1 or ::1), not {addr}"
                        ),
                    });
                }
            }
        }
        let gateway = gateway(&get, demo)?;
        let messages = messages(&get, demo)?;
        let engine_poll_ms = number(&get, "REBOUND_ENGINE_POLL_MS", 10..=60_000, 1000)?;
        let shutdown_grace = number(&get, "REBOUND_SHUTDOWN_GRACE_SECS", 1..=600, 35)?;
        let flag = |name: &str| get(name).is_some_and(|v| v == "1" || v == "true");
        let link_key = link_key(&get, demo)?;
        let credentials_key = credentials_key(&get, demo)?.map(std::sync::Arc::new);
        let defaults = HttpLimits::default();
        let http = HttpLimits {
            header_read_timeout: Duration::from_secs(number(
                &get,
                "REBOUND_HEADER_TIMEOUT_SECS",
                1..=300,
                defaults.header_read_timeout.as_secs(),
            )?),
            max_connections: number(
                &get,
                "REBOUND_MAX_CONNECTIONS",
                1..=1_000_000,
                defaults.max_connections as u64,
            )? as usize,
            max_connections_per_address: number(
                &get,
                "REBOUND_MAX_CONNECTIONS_PER_ADDRESS",
                1..=1_000_000,
                defaults.max_connections_per_address as u64,
            )? as usize,
            max_renders: number(
                &get,
                "REBOUND_MAX_RENDERS",
                1..=10_000,
                defaults.max_renders as u64,
            )? as usize,
            max_gateway_in_flight: number(
                &get,
                "REBOUND_MAX_GATEWAY_IN_FLIGHT",
                1..=100_000,
                defaults.max_gateway_in_flight as u64,
            )? as usize,
            max_in_flight: number(
                &get,
                "REBOUND_MAX_IN_FLIGHT",
                1..=100_000,
                defaults.max_in_flight as u64,
            )? as usize,
            max_sign_ins: number(
                &get,
                "REBOUND_MAX_SIGN_INS",
                1..=10_000,
                defaults.max_sign_ins as u64,
            )? as usize,
            request_timeout: Duration::from_secs(number(
                &get,
                "REBOUND_REQUEST_TIMEOUT_SECS",
                1..=600,
                defaults.request_timeout.as_secs(),
            )?),
            write_timeout: Duration::from_secs(number(
                &get,
                "REBOUND_WRITE_TIMEOUT_SECS",
                1..=600,
                defaults.write_timeout.as_secs(),
            )?),
        };
        let rates = RateConfig {
            api: Rate::per_second(number(&get, "REBOUND_API_RATE", 1..=100_000, 50)? as u32),
            page_ip: Rate::per_minute(number(
                &get,
                "REBOUND_PAGE_RATE",
                1..=1_000_000,
                DEFAULT_PAGE_RATE.into(),
            )? as u32),
            login_ip: Rate::per_minute(number(
                &get,
                "REBOUND_SIGN_IN_RATE",
                1..=100_000,
                DEFAULT_SIGN_IN_RATE.into(),
            )? as u32),
            ..RateConfig::default()
        };
        Ok(Config {
            listen,
            database_url: get("DATABASE_URL").unwrap_or_else(|| "sqlite://rebound.db".into()),
            site_root: get("REBOUND_SITE_ROOT")
                .unwrap_or_else(|| "target/site".into())
                .into(),
            sdk_dir: get("REBOUND_SDK_DIR")
                .unwrap_or_else(|| "target/sdk".into())
                .into(),
            public_url: get("REBOUND_PUBLIC_URL").unwrap_or_else(|| format!("http://{listen}")),
            gateway,
            messages,
            dev_pages: demo || flag("REBOUND_DEV_PAGES"),
            dev_clock: demo || flag("REBOUND_DEV_CLOCK"),
            engine_poll_ms,
            notify_allow_private: demo || flag("REBOUND_NOTIFY_ALLOW_PRIVATE"),
            link_key,
            credentials_key,
            shutdown_grace: Duration::from_secs(shutdown_grace),
            metrics_token: get("REBOUND_METRICS_TOKEN"),
            http,
            rates,
            trusted_proxies: crate::client_address::parse_trusted(
                &get("REBOUND_TRUSTED_PROXIES").unwrap_or_default(),
            )
            .map_err(|reason| ConfigError::Invalid {
                name: "REBOUND_TRUSTED_PROXIES",
                reason,
            })?,
            mode,
        })
    }

    /// The demo partner site's address, with `--demo`.
    pub fn demo_site(&self) -> Option<SocketAddr> {
        match self.mode {
            Mode::Demo { site } => Some(site),
            Mode::Production => None,
        }
    }
}

/// The credentials key alone, for `server gateway add`: the file or the
/// value, if set.
pub fn credentials_key_from_env() -> Result<Option<CredentialsKey>, ConfigError> {
    credentials_key(
        &|k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty()),
        false,
    )
}

/// The database alone: what the operator commands (`server partner ...`)
/// need, without the server's settings.
pub fn database_url_from_env() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "sqlite://rebound.db".into())
}

/// `REBOUND_*_MS`-style whole numbers within `range`.
pub(crate) fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
) -> Result<u64, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| ConfigError::Invalid {
                name,
                reason: format!(
                    "{v:?} is not a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            }),
    }
}

fn gateway(
    get: &impl Fn(&str) -> Option<String>,
    demo: bool,
) -> Result<GatewayConfig, ConfigError> {
    let required = |name: &'static str| {
        get(name).ok_or(ConfigError::Missing {
            name,
            hint: "required when REBOUND_GATEWAY=toss",
        })
    };
    let chosen = match get("REBOUND_GATEWAY") {
        Some(g) => g,
        None if demo => "sandbox".into(),
        None => {
            return Err(ConfigError::Missing {
                name: "REBOUND_GATEWAY",
                hint: "set it to `toss` to charge cards (with REBOUND_TOSS_SECRET_KEY and \
                       REBOUND_TOSS_CLIENT_KEY), or to `sandbox` to move no money (test mode)",
            });
        }
    };
    match chosen.as_str() {
        "sandbox" => Ok(GatewayConfig::Sandbox),
        "toss" => Ok(GatewayConfig::Toss(
            TossConfig {
                secret_key: required("REBOUND_TOSS_SECRET_KEY")?,
                client_key: required("REBOUND_TOSS_CLIENT_KEY")?,
                api_base: api_base(
                    "REBOUND_TOSS_API_BASE",
                    get("REBOUND_TOSS_API_BASE"),
                    toss::DEFAULT_API_BASE,
                    demo,
                )?,
            },
            match get("REBOUND_TOSS_CUSTOMER_KEYS") {
                None => CustomerKeyRule::OrderOnly,
                Some(v) => {
                    CustomerKeyRule::from_setting(&v).map_err(|reason| ConfigError::Invalid {
                        name: "REBOUND_TOSS_CUSTOMER_KEYS",
                        reason,
                    })?
                }
            },
        )),
        other => Err(ConfigError::Invalid {
            name: "REBOUND_GATEWAY",
            reason: format!("unknown gateway {other:?}; supported: sandbox, toss"),
        }),
    }
}

/// A provider's API base: its public one by default. Keys and billing keys
/// travel to it, so outside `--demo` only https (plain http only to this
/// machine, where a test's fake listens).
fn api_base(
    name: &'static str,
    value: Option<String>,
    default: &str,
    demo: bool,
) -> Result<String, ConfigError> {
    let Some(value) = value else {
        return Ok(default.to_owned());
    };
    if demo || crate::domain::origin::is_partner_url(&value) {
        Ok(value.trim().to_owned())
    } else {
        Err(ConfigError::Invalid {
            name,
            reason: "must be an https URL (plain http only to this machine)".into(),
        })
    }
}

fn messages(
    get: &impl Fn(&str) -> Option<String>,
    demo: bool,
) -> Result<MessagesConfig, ConfigError> {
    let chosen = match get("REBOUND_MESSAGES") {
        Some(m) => m,
        None if demo => "outbox".into(),
        None => {
            return Err(ConfigError::Missing {
                name: "REBOUND_MESSAGES",
                hint: "set it to `sens` to send KakaoTalk/SMS through Naver Cloud SENS, or to \
                       `outbox` to keep messages in the database (nothing reaches a phone)",
            });
        }
    };
    let need = |name: &'static str| {
        get(name).ok_or(ConfigError::Missing {
            name,
            hint: "required when REBOUND_MESSAGES=sens",
        })
    };
    match chosen.as_str() {
        "outbox" => Ok(MessagesConfig::Outbox),
        "sens" => Ok(MessagesConfig::Sens(Box::new(SensConfig {
            api_base: api_base(
                "REBOUND_SENS_API_BASE",
                get("REBOUND_SENS_API_BASE"),
                sens::DEFAULT_API_BASE,
                demo,
            )?,
            access_key: need("REBOUND_SENS_ACCESS_KEY")?,
            secret_key: need("REBOUND_SENS_SECRET_KEY")?,
            alimtalk_service_id: need("REBOUND_SENS_ALIMTALK_SERVICE_ID")?,
            plus_friend_id: need("REBOUND_SENS_PLUS_FRIEND_ID")?,
            template_code: need("REBOUND_SENS_TEMPLATE_CODE")?,
            last_template_code: get("REBOUND_SENS_LAST_TEMPLATE_CODE"),
            sms_service_id: need("REBOUND_SENS_SMS_SERVICE_ID")?,
            sms_from: need("REBOUND_SENS_SMS_FROM")?,
        }))),
        other => Err(ConfigError::Invalid {
            name: "REBOUND_MESSAGES",
            reason: format!("unknown message provider {other:?}; supported: outbox, sens"),
        }),
    }
}

fn link_key(get: &impl Fn(&str) -> Option<String>, demo: bool) -> Result<LinkKey, ConfigError> {
    if let Some(path) = get("REBOUND_LINK_KEY_FILE") {
        return read_link_key(Path::new(&path), "REBOUND_LINK_KEY_FILE");
    }
    if let Some(value) = get("REBOUND_LINK_KEY") {
        return LinkKey::parse(&value).map_err(|reason| ConfigError::Invalid {
            name: "REBOUND_LINK_KEY",
            reason,
        });
    }
    if !demo {
        return Err(ConfigError::Missing {
            name: "REBOUND_LINK_KEY_FILE",
            hint: "the key that signs recovery links; make one with \
                   `server link-key generate > /etc/rebound/link.key` (readable by the server \
                   only, outside the database and its backups) and point \
                   REBOUND_LINK_KEY_FILE at it",
        });
    }
    let path = Path::new(DEMO_LINK_KEY_FILE);
    if !path.exists() {
        write_secret_file(path, LinkKey::generate().expose()).map_err(|e| {
            ConfigError::Invalid {
                name: "REBOUND_LINK_KEY_FILE",
                reason: format!("cannot create the demo's {DEMO_LINK_KEY_FILE}: {e}"),
            }
        })?;
    }
    read_link_key(path, "REBOUND_LINK_KEY_FILE")
}

/// The credentials key: a file or the value; none in production until a
/// partner needs one (`startup` refuses to start with accounts and no key);
/// the demo makes a file.
fn credentials_key(
    get: &impl Fn(&str) -> Option<String>,
    demo: bool,
) -> Result<Option<CredentialsKey>, ConfigError> {
    let parse = |text: &str, name: &'static str, whence: String| {
        CredentialsKey::parse(text).map_err(|reason| ConfigError::Invalid {
            name,
            reason: format!("{whence}{reason}"),
        })
    };
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
            name: "REBOUND_CREDENTIALS_KEY_FILE",
            reason: format!("cannot read {}: {e}", path.display()),
        })
    };
    if let Some(path) = get("REBOUND_CREDENTIALS_KEY_FILE") {
        let path = Path::new(&path);
        return parse(
            &read(path)?,
            "REBOUND_CREDENTIALS_KEY_FILE",
            format!("{}: ", path.display()),
        )
        .map(Some);
    }
    if let Some(value) = get("REBOUND_CREDENTIALS_KEY") {
        return parse(&value, "REBOUND_CREDENTIALS_KEY", String::new()).map(Some);
    }
    if !demo {
        return Ok(None);
    }
    let path = Path::new(DEMO_CREDENTIALS_KEY_FILE);
    if !path.exists() {
        write_secret_file(path, &CredentialsKey::generate()).map_err(|e| ConfigError::Invalid {
            name: "REBOUND_CREDENTIALS_KEY_FILE",
            reason: format!("cannot create the demo's {DEMO_CREDENTIALS_KEY_FILE}: {e}"),
        })?;
    }
    parse(
        &read(path)?,
        "REBOUND_CREDENTIALS_KEY_FILE",
        format!("{}: ", path.display()),
    )
    .map(Some)
}

fn read_link_key(path: &Path, name: &'static str) -> Result<LinkKey, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
        name,
        reason: format!("cannot read {}: {e}", path.display()),
    })?;
    LinkKey::parse(&text).map_err(|reason| ConfigError::Invalid {
        name,
        reason: format!("{}: {reason}", path.display()),
    })
}

/// A file only its owner may read.
fn write_secret_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    writeln!(file, "{contents}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "rb_lk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    /// The least a production server needs, plus `extra`.
    fn production(extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let base = [
            ("REBOUND_GATEWAY", "sandbox"),
            ("REBOUND_MESSAGES", "outbox"),
            ("REBOUND_LINK_KEY", KEY),
        ];
        Config::from_lookup(
            |k| {
                extra
                    .iter()
                    .chain(base.iter())
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| (*v).to_owned())
            },
            Mode::Production,
        )
    }

    fn demo_site() -> Mode {
        Mode::Demo {
            site: "127.0.0.1:3001".parse().unwrap(),
        }
    }

    #[test]
    fn production_refuses_to_guess_the_gateway_the_messages_or_the_link_key() {
        for missing in [
            "REBOUND_GATEWAY",
            "REBOUND_MESSAGES",
            "REBOUND_LINK_KEY_FILE",
        ] {
            let err = production(&[(
                match missing {
                    "REBOUND_LINK_KEY_FILE" => "REBOUND_LINK_KEY",
                    other => other,
                },
                "",
            )])
            .unwrap_err();
            assert!(err.to_string().contains(missing), "{missing}: {err}");
        }
        let err = production(&[("REBOUND_GATEWAY", "")]).unwrap_err();
        assert!(
            err.to_string().contains("`sandbox` to move no money"),
            "{err}"
        );
    }

    #[test]
    fn production_keeps_the_demo_conveniences_off_unless_named() {
        let c = production(&[]).unwrap();
        assert!(!c.dev_clock && !c.dev_pages && !c.notify_allow_private);
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.database_url, "sqlite://rebound.db");
        assert_eq!(c.public_url, "http://127.0.0.1:3000");
        assert_eq!(c.engine_poll_ms, 1000);
        let c = production(&[
            ("REBOUND_DEV_CLOCK", "1"),
            ("REBOUND_NOTIFY_ALLOW_PRIVATE", "1"),
        ])
        .unwrap();
        assert!(c.dev_clock && c.notify_allow_private && !c.dev_pages);
    }

    #[test]
    fn the_demo_fills_in_its_conveniences_and_listens_on_loopback_only() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("link.key");
        std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
        let key_file = key_file.display().to_string();
        let get = |k: &str| (k == "REBOUND_LINK_KEY_FILE").then(|| key_file.clone());
        let c = Config::from_lookup(get, demo_site()).unwrap();
        assert!(matches!(c.gateway, GatewayConfig::Sandbox));
        assert!(matches!(c.messages, MessagesConfig::Outbox));
        assert!(c.dev_clock && c.dev_pages && c.notify_allow_private);
        assert_eq!(c.link_key.expose(), KEY);
        let err = Config::from_lookup(
            |k| match k {
                "REBOUND_LISTEN" => Some("0.0.0.0:3000".into()),
                _ => get(k),
            },
            demo_site(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
        let err = Config::from_lookup(
            get,
            Mode::Demo {
                site: "0.0.0.0:3001".parse().unwrap(),
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("--demo-listen"), "{err}");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = production(&[("REBOUND_LISTEN", "nope")]).unwrap_err();
        assert!(err.to_string().contains("REBOUND_LISTEN"));
        let err = production(&[("REBOUND_GATEWAY", "paypal")]).unwrap_err();
        assert!(err.to_string().contains("sandbox, toss"));
        let err = production(&[("REBOUND_GATEWAY", "toss")]).unwrap_err();
        assert!(err.to_string().contains("REBOUND_TOSS_SECRET_KEY"));
        let err = production(&[("REBOUND_LINK_KEY", "hunter2")]).unwrap_err();
        assert!(
            err.to_string().contains("server link-key generate"),
            "{err}"
        );
        assert!(
            !err.to_string().contains("hunter2"),
            "no secret in the error"
        );
        let err = production(&[("REBOUND_LINK_KEY_FILE", "/nonexistent/link.key")]).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/link.key"), "{err}");
        let err = production(&[("REBOUND_SHUTDOWN_GRACE_SECS", "0")]).unwrap_err();
        assert!(
            err.to_string().contains("REBOUND_SHUTDOWN_GRACE_SECS"),
            "{err}"
        );
    }

    #[test]
    fn sens_needs_its_keys_and_names_the_missing_one() {
        let err = production(&[("REBOUND_MESSAGES", "sens")]).unwrap_err();
        assert!(err.to_string().contains("REBOUND_SENS_ACCESS_KEY"), "{err}");
        let err = production(&[("REBOUND_MESSAGES", "kakao")]).unwrap_err();
        assert!(err.to_string().contains("outbox, sens"), "{err}");
        let err = production(&[("REBOUND_ENGINE_POLL_MS", "0")]).unwrap_err();
        assert!(err.to_string().contains("REBOUND_ENGINE_POLL_MS"), "{err}");
    }

    #[test]
    fn toss_takes_its_keys_from_the_environment() {
        let toss = |secret: &'static str| {
            production(&[
                ("REBOUND_GATEWAY", "toss"),
                ("REBOUND_TOSS_SECRET_KEY", secret),
                ("REBOUND_TOSS_CLIENT_KEY", "test_ck_1"),
            ])
            .unwrap()
        };
        let c = toss("test_sk_1");
        let GatewayConfig::Toss(t, _) = &c.gateway else {
            panic!("toss selected")
        };
        assert_eq!(t.api_base, "https://api.tosspayments.com");
        assert_eq!(t.secret_key, "test_sk_1");
    }

    #[test]
    fn provider_api_bases_are_https_outside_the_demo() {
        let with = |name: &'static str, base: &'static str| {
            production(&[
                ("REBOUND_GATEWAY", "toss"),
                ("REBOUND_TOSS_SECRET_KEY", "test_sk_1"),
                ("REBOUND_TOSS_CLIENT_KEY", "test_ck_1"),
                ("REBOUND_MESSAGES", "sens"),
                ("REBOUND_SENS_ACCESS_KEY", "a"),
                ("REBOUND_SENS_SECRET_KEY", "s"),
                ("REBOUND_SENS_ALIMTALK_SERVICE_ID", "ncp:kkobizmsg:kr:1:x"),
                ("REBOUND_SENS_PLUS_FRIEND_ID", "@shop"),
                ("REBOUND_SENS_TEMPLATE_CODE", "T1"),
                ("REBOUND_SENS_SMS_SERVICE_ID", "ncp:sms:kr:1:x"),
                ("REBOUND_SENS_SMS_FROM", "0212345678"),
                (name, base),
            ])
        };
        for name in ["REBOUND_TOSS_API_BASE", "REBOUND_SENS_API_BASE"] {
            for bad in [
                "http://api.tosspayments.com",
                "http://localhost.evil.example",
                "ftp://x",
            ] {
                let err = with(name, bad).unwrap_err();
                assert!(err.to_string().contains(name), "{name}={bad}: {err}");
                assert!(err.to_string().contains("https"), "{err}");
            }
            for good in ["https://proxy.example/toss", "http://127.0.0.1:9100"] {
                assert!(with(name, good).is_ok(), "{name}={good}");
            }
        }
    }
}
