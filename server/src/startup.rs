//! The composition root: [`Application`] builds the store, the clock, the
//! payment gateway, the message provider, the HTTP server and the background
//! workers from one [`Config`], and runs them until shutdown. `main` (through
//! `cli::serve`) and the integration tests build the same thing; tests swap
//! in a manual clock or a scripted gateway and drive the workers themselves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use app::backend::SharedBackend;
use app::{App, shell};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router, middleware};
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::services::ServeDir;

use crate::charging::Charger;
use crate::clock::{DevClock, SharedClock, SystemClock};
use crate::config::Config;
use crate::embed::StoreBackend;
use crate::engine::Engine;
use crate::engine::provider::SharedProvider;
use crate::gateway::SharedGateway;
use crate::notify::Notifier;
use crate::serve::serve;
use crate::state::AppState;
use crate::store::{Store, StoreError};
use crate::{api, demo, embed, sdk, worker};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "this database still holds the link signing key of an earlier version; save it with \
         `server link-key export > /etc/rebound/link.key`, set REBOUND_LINK_KEY_FILE to that \
         file and start again (the copy in the database is then deleted)"
    )]
    LinkKeyInDatabase,
    #[error(
        "partners have gateway accounts, whose secrets are sealed under a credentials key, and \
         REBOUND_CREDENTIALS_KEY_FILE is not set; point it at the key file they were set with"
    )]
    NoCredentialsKey,
    #[error(
        "--demo runs on a local SQLite file only (DATABASE_URL={0:?}): its conveniences (the dev \
         clock, private notify URLs, the sandbox) are not for a shared database"
    )]
    DemoNotLocal(String),
    #[error(
        "--demo refuses this database: it holds partners other than the demo's ({0}), and the \
         demo's conveniences are not for them. Give the demo its own DATABASE_URL (for example \
         sqlite://demo.db), or serve this one without --demo"
    )]
    DemoOnRealPartners(String),
}

/// The demo partner's site and what the banner shows of it.
pub struct DemoSite {
    listener: TcpListener,
    pub secret: String,
    pub token: String,
    /// The demo console operator's password (`demo::DEMO_CONSOLE_EMAIL`).
    pub console_password: String,
}

impl DemoSite {
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }
}

pub struct Application {
    /// Flipped at shutdown: workers stop after their batch, servers stop
    /// accepting, `/readyz` answers 503.
    stop: watch::Sender<bool>,
    listener: TcpListener,
    router: Router,
    state: AppState,
    engine: Option<Engine>,
    notifier: Option<Notifier>,
    rollup: Option<crate::rollup::Rollup>,
    /// Followed from the database while the app runs (`REBOUND_DEV_CLOCK`).
    dev_clock: Option<Arc<DevClock>>,
    demo: Option<DemoSite>,
}

/// `Application::builder(config)`: what tests may put in instead of what
/// the configuration names.
pub struct ApplicationBuilder {
    config: Config,
    clock: Option<SharedClock>,
    gateway: Option<SharedGateway>,
    provider: Option<SharedProvider>,
    workers: bool,
}

impl ApplicationBuilder {
    /// Time from `clock` (tests: a manual clock) instead of the wall or dev clock.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Charges through `gateway` instead of the configured one.
    pub fn gateway(mut self, gateway: SharedGateway) -> Self {
        self.gateway = Some(gateway);
        self
    }

    /// Sends stage messages through `provider` instead of the configured one.
    pub fn provider(mut self, provider: SharedProvider) -> Self {
        self.provider = Some(provider);
        self
    }

    /// No background workers: the test drives the engine and the notifier
    /// on its own clock.
    pub fn without_workers(mut self) -> Self {
        self.workers = false;
        self
    }

    /// Connects the store (running migrations), binds the listen address
    /// (and the demo site's) and puts every part together.
    pub async fn build(self) -> Result<Application, StartupError> {
        let config = self.config;
        crate::telemetry::prometheus();
        let server_wide = self
            .gateway
            .unwrap_or_else(|| crate::gateway::from_config(&config.gateway));
        if config.demo_site().is_some() && !config.database_url.starts_with("sqlite:") {
            return Err(StartupError::DemoNotLocal(redact_url(&config.database_url)));
        }
        let store = Store::connect(&config.database_url)
            .await?
            .with_livemode(server_wide.livemode());
        if config.demo_site().is_some() {
            let others: Vec<String> = store
                .list_partners()
                .await?
                .into_iter()
                .map(|p| p.name)
                .filter(|name| name != demo::DEMO_PARTNER)
                .collect();
            if !others.is_empty() {
                return Err(StartupError::DemoOnRealPartners(others.join(", ")));
            }
        }
        settle_link_key(&store, &config).await?;
        if config.credentials_key.is_none() && store.has_gateway_accounts().await? {
            return Err(StartupError::NoCredentialsKey);
        }
        let gateways = gateways(&config, server_wide, store.clone());
        let mut dev_clock = None;
        let clock: SharedClock = match self.clock {
            Some(clock) => clock,
            None if config.dev_clock => {
                let c = Arc::new(DevClock::default());
                c.set_offset_ms(store.dev_clock_offset_ms().await?);
                dev_clock = Some(c.clone());
                c
            }
            None => Arc::new(SystemClock),
        };
        let listener = bind(config.listen).await?;
        let leptos = LeptosOptions::builder()
            .output_name("rebound")
            .site_root(config.site_root.to_string_lossy().into_owned())
            .site_pkg_dir("pkg")
            .site_addr(config.listen)
            .build();
        let settled = crate::charging::Settled::default();
        let (mut engine, mut notifier, mut rollup) = (None, None, None);
        if self.workers {
            // Cases opened before silent retries existed get none unless an
            // operator opts their partner in.
            let marked = store.mark_older_cases().await?;
            if marked > 0 {
                tracing::info!(
                    cases = marked,
                    "cases opened before silent retries get none; opt a partner in with \
                     `server partner retries-older-cases`"
                );
            }
            let provider = self.provider.unwrap_or_else(|| {
                crate::engine::provider::from_config(&config.messages, &store, &clock)
            });
            engine = Some(
                Engine::new(
                    store.clone(),
                    clock.clone(),
                    provider,
                    config.link_key.clone(),
                )
                .with_charger(Charger {
                    store: store.clone(),
                    gateways: gateways.clone(),
                    clock: clock.clone(),
                    settled: settled.clone(),
                }),
            );
            notifier = Some(Notifier::new(
                store.clone(),
                clock.clone(),
                config.notify_allow_private,
            ));
            rollup = Some(crate::rollup::Rollup::new(store.clone(), clock.clone()));
        }
        let demo = match config.demo_site() {
            Some(addr) => {
                let (partner, secret) = demo::ensure_partner(
                    &store,
                    clock.as_ref(),
                    &demo::default_origins(addr.port()),
                    demo::Token::Renew,
                )
                .await?;
                let secret = secret.unwrap_or_default();
                let token = demo::seed_case(&store, clock.as_ref(), &partner, "sandbox_success")
                    .await?
                    .token;
                let console_password =
                    demo::ensure_console_operator(&store, clock.now().timestamp_millis()).await?;
                Some(DemoSite {
                    listener: bind(addr).await?,
                    secret,
                    token,
                    console_password,
                })
            }
            None => None,
        };
        let (stop, stopping) = watch::channel(false);
        let state = AppState {
            store,
            gateways,
            clock,
            limits: Arc::new(crate::limits::RateLimits::new(&config.rates)),
            settled,
            // As many hashing threads as sign-ins are let in at once.
            hasher: crate::hashing::Hasher::new(config.http.max_sign_ins),
            config: Arc::new(config),
            leptos,
            stopping,
        };
        Ok(Application {
            stop,
            listener,
            router: router(state.clone()),
            state,
            engine,
            notifier,
            rollup,
            dev_clock,
            demo,
        })
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })
}

/// Earlier versions kept the link key in the database. With the key now
/// outside it, the copy there is deleted once the configured key is the
/// same; a different one would break every link already sent, so the
/// server refuses to start until the operator moves the old key out. The
/// demo has no real customers: it just forgets the old key.
async fn settle_link_key(store: &Store, config: &Config) -> Result<(), StartupError> {
    let Some(stored) = store.link_key_in_database().await? else {
        return Ok(());
    };
    let same = crate::domain::token::LinkKey::parse(&stored).is_ok_and(|k| k == config.link_key);
    if !same && config.demo_site().is_none() {
        return Err(StartupError::LinkKeyInDatabase);
    }
    store.delete_link_key_from_database().await?;
    tracing::info!("deleted the link key an earlier version kept in the database");
    Ok(())
}

impl Application {
    /// Everything as the configuration says.
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        Self::builder(config).build().await
    }

    pub fn builder(config: Config) -> ApplicationBuilder {
        ApplicationBuilder {
            config,
            clock: None,
            gateway: None,
            provider: None,
            workers: true,
        }
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

    /// The demo site, with `--demo`.
    pub fn demo(&self) -> Option<&DemoSite> {
        self.demo.as_ref()
    }

    /// Serves and runs the workers until `shutdown` resolves. Then new
    /// connections are refused, `/readyz` answers 503, and in-flight
    /// requests and each worker's batch in flight (its sends, its charges)
    /// get `shutdown_grace` to finish and be recorded before the store
    /// closes; whatever is still running then is dropped, which the leases
    /// and the resolver make safe.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let stopping = self.state.stopping.clone();
        let poll = std::time::Duration::from_millis(self.state.config.engine_poll_ms);
        let mut tasks = Vec::new();
        if let Some(engine) = self.engine {
            let (messages, charges) = engine.queues();
            tasks.push(tokio::spawn(worker::run(messages, poll, stopping.clone())));
            if let Some(charges) = charges {
                tasks.push(tokio::spawn(worker::run(charges, poll, stopping.clone())));
            }
        }
        if let Some(notifier) = self.notifier {
            tasks.push(tokio::spawn(worker::run(notifier, poll, stopping.clone())));
        }
        if let Some(rollup) = self.rollup {
            tasks.push(tokio::spawn(worker::run(rollup, poll, stopping.clone())));
        }
        if let Some(dev_clock) = self.dev_clock {
            tasks.push(tokio::spawn(follow_dev_clock(
                self.state.store.clone(),
                dev_clock,
                poll,
                stopping.clone(),
            )));
        }
        if let Some(demo) = self.demo {
            let site = demo::site_router(self.state.config.public_url.clone());
            tasks.push(tokio::spawn(serve(
                demo.listener,
                site,
                self.state.config.http,
                Vec::new(),
                stopping.clone(),
            )));
        }
        let server = tokio::spawn(serve(
            self.listener,
            self.router,
            self.state.config.http,
            self.state.config.trusted_proxies.clone(),
            stopping.clone(),
        ));
        shutdown.await;
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + self.state.config.shutdown_grace;
        for task in std::iter::once(server).chain(tasks) {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                tracing::warn!("still running at the end of the shutdown grace period; stopped");
                abort.abort();
            }
        }
        self.state.store.close().await;
        Ok(())
    }
}

/// The dev clock's offset lives in the database (`server dev advance`), so
/// every process on it moves together.
async fn follow_dev_clock(
    store: Store,
    clock: Arc<DevClock>,
    poll: std::time::Duration,
    mut stopping: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(poll.min(std::time::Duration::from_millis(500))) => {}
            _ = stopping.changed() => return,
        }
        if let Ok(ms) = store.dev_clock_offset_ms().await {
            clock.set_offset_ms(ms);
        }
    }
}

/// A database URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// The server-wide gateway and the partners' own accounts, as configured
/// (the server's composition root and the operator's `server refund`).
pub fn gateways(
    config: &Config,
    server_wide: crate::gateway::SharedGateway,
    store: Store,
) -> crate::gateway::Gateways {
    let server_wide_keys = match &config.gateway {
        crate::gateway::GatewayConfig::Toss(_, rule) => *rule,
        crate::gateway::GatewayConfig::Sandbox => Default::default(),
    };
    crate::gateway::Gateways::new(
        server_wide,
        server_wide_keys,
        config.credentials_key.clone(),
        store,
    )
}

pub fn router(state: AppState) -> Router {
    let backend: SharedBackend = Arc::new(StoreBackend::of(&state));
    let leptos = state.leptos.clone();
    let limits = state.config.http;
    let framed = || middleware::from_fn_with_state(state.clone(), embed::headers::middleware);
    // Three budgets, so one kind of work cannot crowd out another: page
    // renders (CPU), the actions that wait on the PG, and the rest.
    let renders = Router::new()
        .leptos_routes_with_context(
            &state,
            generate_route_list(App),
            move || provide_context(backend.clone()),
            move || shell(leptos.clone()),
        )
        .route_layer(framed());
    let renders = in_flight(renders, limits.max_renders, limits.request_timeout);
    let gateway_actions = embed::actions::gateway_router(&state)
        .merge(embed::card::gateway_router(&state))
        .route_layer(framed());
    let gateway_actions = in_flight(
        gateway_actions,
        limits.max_gateway_in_flight,
        limits.request_timeout,
    );
    let site_root = state.config.site_root.clone();
    let dev = if state.config.dev_pages {
        Router::new().route("/dev/outbox", get(crate::dev::outbox))
    } else {
        Router::new()
    };
    let light_actions = embed::actions::router(&state)
        .merge(embed::card::router(&state))
        .merge(embed::sandbox_page::router())
        .route_layer(framed());
    let rest = Router::new()
        .merge(dev)
        .merge(api::router(&state).layer(DefaultBodyLimit::max(api::MAX_BODY_BYTES)))
        .merge(light_actions)
        .merge(
            crate::console::router().layer(DefaultBodyLimit::max(crate::console::MAX_FORM_BYTES)),
        )
        .merge(sdk::router(&state.config.sdk_dir))
        .fallback_service(ServeDir::new(site_root));
    let rest = in_flight(rest, limits.max_in_flight, limits.request_timeout);
    let sign_ins = in_flight(
        crate::console::sign_in_router()
            .layer(DefaultBodyLimit::max(crate::console::MAX_FORM_BYTES)),
        limits.max_sign_ins,
        limits.request_timeout,
    );
    // The probes answer however busy the server is.
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::telemetry::metrics))
        .merge(renders)
        .merge(gateway_actions)
        .merge(sign_ins)
        .merge(rest)
        .layer(middleware::from_fn(api::trace::middleware))
        // Before every limit: who the request comes from.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::client_address::middleware,
        ))
        .with_state(state)
}

/// At most `max` requests at once, each answered within `timeout`: past
/// `max`, a request is answered `503` at once instead of waiting behind the
/// others (their latency is what the customers see); a handler still
/// running at `timeout` is dropped and answered `503`.
fn in_flight(
    routes: Router<AppState>,
    max: usize,
    timeout: std::time::Duration,
) -> Router<AppState> {
    routes.layer(
        tower::ServiceBuilder::new()
            .layer(axum::error_handling::HandleErrorLayer::new(shed))
            .load_shed()
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(max))
            .timeout(timeout),
    )
}

/// What a shed or timed-out request is answered.
async fn shed(error: tower::BoxError) -> api::ApiError {
    if error.is::<tower::timeout::error::Elapsed>() {
        metrics::counter!("rebound_http_shed_total", "reason" => "timeout").increment(1);
        api::ApiError::TimedOut
    } else {
        metrics::counter!("rebound_http_shed_total", "reason" => "overloaded").increment(1);
        api::ApiError::Overloaded
    }
}

/// Liveness: the process answers. (A database outage is `/readyz`'s to
/// report: restarting the process would not fix it.)
async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the database answers and the server is not shutting down, so
/// a load balancer sends traffic here.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if *state.stopping.borrow() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "stopping" })),
        );
    }
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))),
        Err(e) => {
            tracing::error!(error = %e, "readiness check: the database does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "unavailable", "database": "unreachable" })),
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
