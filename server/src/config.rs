//! Configuration from the environment, with defaults that work on a fresh
//! checkout (`make run`).

use std::net::SocketAddr;
use std::path::PathBuf;

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
            dev_pages: get("REBOUND_DEV_PAGES").is_some_and(|v| v == "1" || v == "true"),
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
