//! Wiring: state, router, listener. Integration tests build the same
//! [`Application`] on port 0 with a fresh database.

use std::future::Future;
use std::sync::Arc;

use app::backend::SharedBackend;
use app::{App, shell};
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::{Json, Router, middleware};
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tokio::net::TcpListener;
use tower_http::services::ServeDir;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::embed::StoreBackend;
use crate::gateway::SharedGateway;
use crate::store::{Store, StoreError};
use crate::{api, embed, sdk};

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub gateway: SharedGateway,
    pub clock: SharedClock,
    pub config: Arc<Config>,
    pub leptos: LeptosOptions,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    /// Connects the store (running migrations) and binds the listen address.
    pub async fn build(
        config: Config,
        clock: SharedClock,
        gateway: SharedGateway,
    ) -> Result<Application, StartupError> {
        let store = Store::connect(&config.database_url).await?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartupError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let leptos = LeptosOptions::builder()
            .output_name("rebound")
            .site_root(config.site_root.to_string_lossy().into_owned())
            .site_pkg_dir("pkg")
            .site_addr(config.listen)
            .build();
        let state = AppState {
            store,
            gateway,
            clock,
            config: Arc::new(config),
            leptos,
        };
        Ok(Application {
            listener,
            router: router(state.clone()),
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // Without TCP_NODELAY a response written in two parts (headers, then
        // a file body from ServeDir) waits out the client's delayed ACK:
        // static files measured ~40 ms each, 460 req/s, before this.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::warn!(error = %e, "cannot set TCP_NODELAY");
            }
        });
        axum::serve(listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await?;
        self.state.store.close().await;
        Ok(())
    }
}

pub fn router(state: AppState) -> Router {
    let backend: SharedBackend = Arc::new(StoreBackend {
        store: state.store.clone(),
        gateway: state.gateway.clone(),
        clock: state.clock.clone(),
        public_url: state.config.public_url.clone(),
    });
    let leptos = state.leptos.clone();
    let page_routes = Router::new()
        .leptos_routes_with_context(
            &state,
            generate_route_list(App),
            move || provide_context(backend.clone()),
            move || shell(leptos.clone()),
        )
        .merge(embed::actions::router())
        .merge(embed::sandbox_page::router())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            embed::headers::middleware,
        ));
    let site_root = state.config.site_root.clone();
    let dev = if state.config.dev_pages {
        Router::new().route("/dev/outbox", get(crate::dev::outbox))
    } else {
        Router::new()
    };
    Router::new()
        .merge(dev)
        .route("/healthz", get(healthz))
        .merge(api::router(&state).layer(DefaultBodyLimit::max(api::MAX_BODY_BYTES)))
        .merge(page_routes)
        .merge(sdk::router(&state.config.sdk_dir))
        .fallback_service(ServeDir::new(site_root))
        .layer(middleware::from_fn(api::trace::middleware))
        .with_state(state)
}

/// Liveness and database reachability.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "unavailable" })),
            )
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
