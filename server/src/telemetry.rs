//! Structured logs via `tracing`. `RUST_LOG` sets the level (default `info`).

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    // `try_init`: tests and embedders may have installed a subscriber already.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
