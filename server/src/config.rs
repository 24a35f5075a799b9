//! Configuration from the environment, with defaults that work on a fresh
//! checkout (`make run`).

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::engine::sens::{self, SensConfig};
use crate::gateway::{GatewayConfig, TossConfig, toss};

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
    /// `REBOUND_GATEWAY`: `sandbox` (default, no money moves) or `toss`
    /// (with `REBOUND_TOSS_SECRET_KEY`, `REBOUND_TOSS_CLIENT_KEY`, and
    /// optionally `REBOUND_TOSS_API_BASE`).
    pub gateway: GatewayConfig,
    /// `REBOUND_DEV_PAGES=1` (and `serve --demo`): `/dev/outbox`. Never in
    /// production: it shows live recovery links.
    pub dev_pages: bool,
    /// `REBOUND_MESSAGES`: `outbox` (default: messages are stored and shown
    /// on `/dev/outbox`, nothing reaches a phone) or `sens` (Naver Cloud
    /// SENS AlimTalk with SMS fallback; settings in [`SensConfig`]).
    pub messages: MessagesConfig,
    /// `REBOUND_DEV_CLOCK=1` (and `serve --demo`): the clock is the wall
    /// clock plus the offset `server dev advance` stores in the database, so
    /// every instance on that database moves together. Never in production.
    pub dev_clock: bool,
    /// `REBOUND_ENGINE_POLL_MS`, default 1000: how often the scenario engine
    /// (and the notice delivery) looks for due work when it found none.
    pub engine_poll_ms: u64,
    /// `REBOUND_NOTIFY_ALLOW_PRIVATE=1` (and `serve --demo`): deliver notices
    /// to loopback, private and link-local addresses and over plain http.
    /// Off by default: partners type their URL, and it must not reach our
    /// own network.
    pub notify_allow_private: bool,
}

#[derive(Debug, Clone)]
pub enum MessagesConfig {
    Outbox,
    Sens(Box<SensConfig>),
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `get`, so tests need not touch the process env.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let listen: SocketAddr = get("REBOUND_LISTEN")
            .unwrap_or_else(|| "127.0.0.1:3000".into())
            .parse()
            .map_err(|e| ConfigError::Invalid {
                name: "REBOUND_LISTEN",
                reason: format!("{e}"),
            })?;
        let required = |name: &'static str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| ConfigError::Invalid {
                    name,
                    reason: "required when REBOUND_GATEWAY=toss".into(),
                })
        };
        let gateway = match get("REBOUND_GATEWAY").as_deref().unwrap_or("sandbox") {
            "sandbox" => GatewayConfig::Sandbox,
            "toss" => GatewayConfig::Toss(TossConfig {
                secret_key: required("REBOUND_TOSS_SECRET_KEY")?,
                client_key: required("REBOUND_TOSS_CLIENT_KEY")?,
                api_base: get("REBOUND_TOSS_API_BASE")
                    .unwrap_or_else(|| toss::DEFAULT_API_BASE.into()),
            }),
            other => {
                return Err(ConfigError::Invalid {
                    name: "REBOUND_GATEWAY",
                    reason: format!("unknown gateway {other:?}; supported: sandbox, toss"),
                });
            }
        };
        let messages = match get("REBOUND_MESSAGES").as_deref().unwrap_or("outbox") {
            "outbox" => MessagesConfig::Outbox,
            "sens" => {
                let need = |name: &'static str| {
                    get(name)
                        .filter(|v| !v.trim().is_empty())
                        .ok_or_else(|| ConfigError::Invalid {
                            name,
                            reason: "required when REBOUND_MESSAGES=sens".into(),
                        })
                };
                MessagesConfig::Sens(Box::new(SensConfig {
                    api_base: get("REBOUND_SENS_API_BASE")
                        .unwrap_or_else(|| sens::DEFAULT_API_BASE.into()),
                    access_key: need("REBOUND_SENS_ACCESS_KEY")?,
                    secret_key: need("REBOUND_SENS_SECRET_KEY")?,
                    alimtalk_service_id: need("REBOUND_SENS_ALIMTALK_SERVICE_ID")?,
                    plus_friend_id: need("REBOUND_SENS_PLUS_FRIEND_ID")?,
                    template_code: need("REBOUND_SENS_TEMPLATE_CODE")?,
                    last_template_code: get("REBOUND_SENS_LAST_TEMPLATE_CODE")
                        .filter(|v| !v.trim().is_empty()),
                    sms_service_id: need("REBOUND_SENS_SMS_SERVICE_ID")?,
                    sms_from: need("REBOUND_SENS_SMS_FROM")?,
                }))
            }
            other => {
                return Err(ConfigError::Invalid {
                    name: "REBOUND_MESSAGES",
                    reason: format!("unknown message provider {other:?}; supported: outbox, sens"),
                });
            }
        };
        let engine_poll_ms = match get("REBOUND_ENGINE_POLL_MS") {
            None => 1000,
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|ms| (10..=60_000).contains(ms))
                .ok_or_else(|| ConfigError::Invalid {
                    name: "REBOUND_ENGINE_POLL_MS",
                    reason: format!("{v:?} is not a number of milliseconds from 10 to 60000"),
                })?,
        };
        let flag = |name: &str| get(name).is_some_and(|v| v == "1" || v == "true");
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
            dev_pages: flag("REBOUND_DEV_PAGES"),
            messages,
            dev_clock: flag("REBOUND_DEV_CLOCK"),
            engine_poll_ms,
            notify_allow_private: flag("REBOUND_NOTIFY_ALLOW_PRIVATE"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_work_without_any_setting() {
        let c = Config::from_lookup(|_| None).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.database_url, "sqlite://rebound.db");
        assert_eq!(c.public_url, "http://127.0.0.1:3000");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err =
            Config::from_lookup(|k| (k == "REBOUND_LISTEN").then(|| "nope".into())).unwrap_err();
        assert!(err.to_string().contains("REBOUND_LISTEN"));
        let err =
            Config::from_lookup(|k| (k == "REBOUND_GATEWAY").then(|| "paypal".into())).unwrap_err();
        assert!(err.to_string().contains("sandbox"));
        let err =
            Config::from_lookup(|k| (k == "REBOUND_GATEWAY").then(|| "toss".into())).unwrap_err();
        assert!(err.to_string().contains("REBOUND_TOSS_SECRET_KEY"));
    }

    #[test]
    fn sens_needs_its_keys_and_names_the_missing_one() {
        let err =
            Config::from_lookup(|k| (k == "REBOUND_MESSAGES").then(|| "sens".into())).unwrap_err();
        assert!(err.to_string().contains("REBOUND_SENS_ACCESS_KEY"), "{err}");
        let err =
            Config::from_lookup(|k| (k == "REBOUND_MESSAGES").then(|| "kakao".into())).unwrap_err();
        assert!(err.to_string().contains("outbox, sens"), "{err}");
        let err = Config::from_lookup(|k| (k == "REBOUND_ENGINE_POLL_MS").then(|| "0".into()))
            .unwrap_err();
        assert!(err.to_string().contains("REBOUND_ENGINE_POLL_MS"), "{err}");
        let c = Config::from_lookup(|_| None).unwrap();
        assert!(matches!(c.messages, MessagesConfig::Outbox));
        assert!(!c.dev_clock);
        assert_eq!(c.engine_poll_ms, 1000);
    }

    #[test]
    fn toss_takes_its_keys_from_the_environment() {
        let c = Config::from_lookup(|k| match k {
            "REBOUND_GATEWAY" => Some("toss".into()),
            "REBOUND_TOSS_SECRET_KEY" => Some("test_sk_1".into()),
            "REBOUND_TOSS_CLIENT_KEY" => Some("test_ck_1".into()),
            _ => None,
        })
        .unwrap();
        let GatewayConfig::Toss(toss) = c.gateway else {
            panic!("toss selected")
        };
        assert_eq!(toss.api_base, "https://api.tosspayments.com");
        assert_eq!(toss.secret_key, "test_sk_1");
    }
}
