//! The `server` command line: serve, seed the demo, manage partners.

use std::net::SocketAddr;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::domain::origin::{AllowedOrigins, Origin};
use crate::domain::token::{TokenHash, new_secret_token};
use crate::gateway;
use crate::startup::{Application, shutdown_signal};
use crate::store::Store;
use crate::{demo, telemetry};
use axum::serve::ListenerExt;

#[derive(Parser)]
#[command(name = "server", version, about = "Rebound payment-recovery server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Start the server (the default).
    Serve {
        /// Also seed the demo partner and serve its site on --demo-listen.
        #[arg(long)]
        demo: bool,
        #[arg(long, env = "REBOUND_DEMO_LISTEN", default_value = "127.0.0.1:3001")]
        demo_listen: SocketAddr,
    },
    /// Create the demo partner (or give it a new Secret-Token) and seed one
    /// failed order; prints the token and the recovery link token.
    SeedDemo {
        /// Port of the demo partner site, for its registered origins.
        #[arg(long, default_value_t = 3001)]
        demo_port: u16,
        /// The order's billing key; with the sandbox gateway it picks the
        /// outcome (e.g. `sandbox_insufficient_funds` declines).
        #[arg(long, default_value = "sandbox_success")]
        id_key: String,
    },
    /// Manage partners.
    #[command(subcommand)]
    Partner(PartnerCommand),
    /// Development helpers (for `make run`).
    #[command(subcommand)]
    Dev(DevCommand),
    /// Measurements for `make bench`; give it a fresh DATABASE_URL.
    #[command(subcommand, hide = true)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Stage sends per second through the scenario engine (outbox provider).
    Engine {
        #[arg(long, default_value_t = 10_000)]
        cases: usize,
    },
    /// Notices delivered per second to a local receiver.
    Notify {
        #[arg(long, default_value_t = 5_000)]
        events: usize,
    },
}

#[derive(Subcommand)]
pub enum DevCommand {
    /// Move the demo server's clock forward (it picks the change up within a
    /// second), e.g. `--hours 72` to reach the next stage.
    Advance {
        #[arg(long)]
        hours: i64,
    },
}

#[derive(Subcommand)]
pub enum PartnerCommand {
    /// Create a partner and print its Secret-Token (shown only this once).
    Create {
        /// Unique short name, e.g. `acme`.
        #[arg(long)]
        name: String,
        /// Shown to customers on the recovery page.
        #[arg(long)]
        business_name: String,
        /// An origin allowed to embed the recovery page; repeat for several.
        #[arg(long = "origin", required = true)]
        origins: Vec<String>,
    },
    /// List partners and their embed origins (never tokens).
    List,
    /// Issue a new Secret-Token; the old one keeps working for --grace-hours.
    RotateToken {
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 24)]
        grace_hours: u32,
    },
    /// Replace the origins allowed to embed the recovery page.
    SetOrigins {
        #[arg(long)]
        name: String,
        #[arg(long = "origin", required = true)]
        origins: Vec<String>,
    },
    /// Set the URL that receives server-to-server notifications.
    SetNotifyUrl {
        #[arg(long)]
        name: String,
        #[arg(long)]
        url: String,
    },
    /// Set the partner's recovery page (message links go there with ?token=).
    SetRecoveryUrl {
        #[arg(long)]
        name: String,
        #[arg(long)]
        url: String,
    },
    /// Print the partner's notice signing secret (whsec_...; created on
    /// first use), or with --rotate issue a new one while the old one keeps
    /// signing for --grace-hours.
    WebhookSecret {
        #[arg(long)]
        name: String,
        #[arg(long)]
        rotate: bool,
        #[arg(long, default_value_t = 24)]
        grace_hours: i64,
    },
    /// Print the partner's current scenario (JSON) and its version.
    ScenarioShow {
        #[arg(long)]
        name: String,
    },
    /// Add a scenario version from a JSON file; open cases keep theirs.
    ScenarioSet {
        #[arg(long)]
        name: String,
        /// e.g. {"stages":[{"afterHours":0,"channel":"ALIMTALK"},...],
        /// "endAction":"PAUSE","changeDateWindowDays":14,"remindLimit":3,
        /// "retries":{"enabled":true,"ladderDays":[1,3,5,10,14],"hour":10,
        /// "budget":8,"unknownLimit":3}
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// Let silent retries run again after fixing what a setup decline
    /// reported (our keys or settings at the PG).
    GatewayResume {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Startup(#[from] crate::startup::StartupError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    telemetry::init();
    let config = Config::from_env()?;
    let clock: SharedClock = Arc::new(SystemClock);
    match cli.command.unwrap_or(Command::Serve {
        demo: false,
        demo_listen: "127.0.0.1:3001".parse().expect("valid address"),
    }) {
        Command::Serve { demo, demo_listen } => {
            serve(config, clock, demo.then_some(demo_listen)).await
        }
        Command::SeedDemo { demo_port, id_key } => {
            let store = Store::connect(&config.database_url).await?;
            // The demo server's time: after `dev advance`, a case seeded at
            // wall time would be days old, its retries long due.
            let dev_clock = crate::clock::DevClock::default();
            dev_clock.set_offset_ms(store.dev_clock_offset_ms().await?);
            let (partner, secret) =
                demo::ensure_partner(&store, &dev_clock, &demo::default_origins(demo_port)).await?;
            let order = demo::seed_case(&store, &dev_clock, &partner, &id_key).await?;
            println!("demo partner Secret-Token: {secret}");
            println!("recovery token: {}", order.token);
            println!("partner order id: {}", order.partner_order_id);
            println!("open: http://localhost:{demo_port}/?token={}", order.token);
            Ok(())
        }
        Command::Partner(cmd) => partner(cmd, &Store::connect(&config.database_url).await?).await,
        Command::Dev(DevCommand::Advance { hours }) => {
            let store = Store::connect(&config.database_url).await?;
            let offset = store.advance_dev_clock(hours * 3_600_000).await?;
            println!(
                "the demo clock now runs {:.1} hours ahead",
                offset as f64 / 3_600_000.0
            );
            Ok(())
        }
        Command::Bench(BenchCommand::Notify { events }) => {
            let store = Store::connect(&config.database_url).await?;
            let b = crate::notify::bench::run(&store, events)
                .await
                .map_err(|e| CliError::Usage(format!("bench failed: {e}")))?;
            println!(
                "{} notices delivered in {:.2} s: {:.0} deliveries/s; plain POSTs to the same receiver {:.0}/s; ratio deliveries/POSTs {:.3}",
                b.deliveries,
                b.notifier_time.as_secs_f64(),
                b.deliveries_per_second(),
                b.plain_per_second(),
                b.deliveries_per_second() / b.plain_per_second()
            );
            Ok(())
        }
        Command::Bench(BenchCommand::Engine { cases }) => {
            let store = Store::connect(&config.database_url).await?;
            let b = crate::engine::bench::run(&store, cases).await?;
            println!(
                "{} cases, {} stage sends in {:.2} s: {:.0} stage sends/s; outbox inserts alone {:.0}/s; ratio sends/outbox {:.3}",
                b.cases,
                b.stage_sends,
                b.engine_time.as_secs_f64(),
                b.sends_per_second(),
                b.outbox_per_second(),
                b.sends_per_second() / b.outbox_per_second()
            );
            println!(
                "{} silent charges (sandbox) in {:.2} s: {:.0} charges/s; ratio charges/stage sends {:.3} (goal >= 0.5)",
                b.silent_charges,
                b.charge_time.as_secs_f64(),
                b.charges_per_second(),
                b.charges_per_second() / b.sends_per_second()
            );
            Ok(())
        }
    }
}

/// A partner URL we call or link to: absolute https (http only for localhost).
fn check_partner_url(url: &str, what: &str) -> Result<(), CliError> {
    let secure = url.starts_with("https://")
        || url.starts_with("http://localhost")
        || url.starts_with("http://127.0.0.1");
    if !secure || url.contains(char::is_whitespace) {
        return Err(CliError::Usage(format!(
            "the {what} must be an absolute https URL (http only for localhost)"
        )));
    }
    Ok(())
}

fn parse_origins(origins: &[String]) -> Result<AllowedOrigins, CliError> {
    origins
        .iter()
        .map(|o| Origin::parse(o))
        .collect::<Result<Vec<_>, _>>()
        .map(AllowedOrigins::new)
        .map_err(CliError::Usage)
}

async fn find_partner(store: &Store, name: &str) -> Result<crate::store::PartnerRecord, CliError> {
    store.partner_by_name(name).await?.ok_or_else(|| {
        CliError::Usage(format!(
            "no partner named {name:?} (see `server partner list`)"
        ))
    })
}

async fn partner(cmd: PartnerCommand, store: &Store) -> Result<(), CliError> {
    let now = chrono::Utc::now().timestamp_millis();
    match cmd {
        PartnerCommand::Create {
            name,
            business_name,
            origins,
        } => {
            let origins = parse_origins(&origins)?;
            let secret = new_secret_token();
            let partner = store
                .create_partner(
                    &name,
                    &business_name,
                    &origins,
                    &TokenHash::of(&secret),
                    now,
                )
                .await?;
            println!("partner {} created (id {})", partner.name, partner.id);
            println!("Secret-Token (shown once, store it now): {secret}");
        }
        PartnerCommand::List => {
            for p in store.list_partners().await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    p.id,
                    p.name,
                    p.business_name,
                    p.origins.to_stored()
                );
            }
        }
        PartnerCommand::RotateToken { name, grace_hours } => {
            let p = find_partner(store, &name).await?;
            let secret = new_secret_token();
            let grace_ms = i64::from(grace_hours) * 3_600_000;
            store
                .rotate_partner_token(p.id, &TokenHash::of(&secret), grace_ms, now)
                .await?;
            println!("new Secret-Token for {name} (shown once): {secret}");
            println!("the previous token stops working in {grace_hours} h");
        }
        PartnerCommand::SetOrigins { name, origins } => {
            let p = find_partner(store, &name).await?;
            let origins = parse_origins(&origins)?;
            store.set_partner_origins(p.id, &origins).await?;
            println!("{name} may embed from: {}", origins.to_stored());
        }
        PartnerCommand::SetNotifyUrl { name, url } => {
            let p = find_partner(store, &name).await?;
            check_partner_url(&url, "notify URL")?;
            store.set_partner_notify_url(p.id, Some(&url)).await?;
            println!("{name} notifications go to {url}");
        }
        PartnerCommand::SetRecoveryUrl { name, url } => {
            let p = find_partner(store, &name).await?;
            check_partner_url(&url, "recovery page URL")?;
            store.set_partner_recovery_url(p.id, &url).await?;
            println!("{name} message links open {url}?token=...");
        }
        PartnerCommand::ScenarioShow { name } => {
            let p = find_partner(store, &name).await?;
            let (_, version, scenario) = store.current_scenario(p.id).await?;
            let which = if version == 0 {
                " (the default)".to_owned()
            } else {
                String::new()
            };
            println!("{name} scenario version {version}{which}:");
            println!("{}", scenario.to_json());
            if let Some(problem) = store.gateway_problem(p.id).await? {
                println!(
                    "silent retries are stopped: the gateway refused our setup ({problem}); \
                     fix it, then run `server partner gateway-resume --name {name}`"
                );
            }
        }
        PartnerCommand::GatewayResume { name } => {
            let p = find_partner(store, &name).await?;
            match store.clear_gateway_problem(p.id, now).await? {
                Some(problem) => println!("{name}: silent retries run again (cleared {problem})"),
                None => println!("{name}: no gateway problem was recorded"),
            }
        }
        PartnerCommand::WebhookSecret {
            name,
            rotate,
            grace_hours,
        } => {
            let p = find_partner(store, &name).await?;
            if rotate {
                store
                    .rotate_webhook_secret(
                        p.id,
                        &crate::notify::new_secret(),
                        now + grace_hours.max(0) * 3_600_000,
                    )
                    .await?;
                println!("new signing secret; the old one also signs for {grace_hours} h");
            }
            let secret = store
                .webhook_secret(p.id, &crate::notify::new_secret())
                .await?;
            println!("{name} notice signing secret: {secret}");
        }
        PartnerCommand::ScenarioSet { name, file } => {
            let p = find_partner(store, &name).await?;
            let json = std::fs::read_to_string(&file)?;
            let scenario = crate::domain::scenario::Scenario::parse(&json)
                .map_err(|problems| CliError::Usage(format!("invalid scenario: {problems:?}")))?;
            let version = store.add_scenario_version(p.id, &scenario, now).await?;
            println!("{name} scenario version {version} applies to cases opened from now on");
        }
    }
    Ok(())
}

async fn serve(
    config: Config,
    clock: SharedClock,
    demo_listen: Option<SocketAddr>,
) -> Result<(), CliError> {
    let public_url = config.public_url.clone();
    let gateway = gateway::from_config(&config.gateway);
    let mut config = config;
    config.dev_pages |= demo_listen.is_some();
    config.dev_clock |= demo_listen.is_some();
    config.notify_allow_private |= demo_listen.is_some();
    // The demo (and dev setups) run on a clock the operator can move forward.
    let dev_clock = Arc::new(crate::clock::DevClock::default());
    let clock: SharedClock = if config.dev_clock {
        dev_clock.clone()
    } else {
        clock
    };
    let messages = config.messages.clone();
    let poll = std::time::Duration::from_millis(config.engine_poll_ms);
    let app = Application::build(config.clone(), clock.clone(), gateway).await?;
    let shutdown = tokio::sync::watch::channel(false);
    let store = app.state().store.clone();
    if config.dev_clock {
        // Read the offset before the worker's first pass, then keep up.
        if let Ok(ms) = store.dev_clock_offset_ms().await {
            dev_clock.set_offset_ms(ms);
        }
        let store = store.clone();
        let mut rx = shutdown.1.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(poll.min(std::time::Duration::from_millis(500))) => {}
                    _ = rx.changed() => return,
                }
                if let Ok(ms) = store.dev_clock_offset_ms().await {
                    dev_clock.set_offset_ms(ms);
                }
            }
        });
    }
    let provider = crate::engine::provider::from_config(&messages, &store, &clock);
    let charger = crate::charging::Charger {
        store: store.clone(),
        gateway: app.state().gateway.clone(),
        clock: clock.clone(),
    };
    // Cases opened before silent retries existed get their plan.
    let planned = store
        .plan_unplanned_retries(clock.now().timestamp_millis())
        .await?;
    if planned > 0 {
        tracing::info!(cases = planned, "planned silent retries for older cases");
    }
    let engine = crate::engine::Engine::new(store.clone(), clock.clone(), provider)
        .await?
        .with_charger(charger);
    let worker = tokio::spawn(crate::engine::run_worker(engine, poll, shutdown.1.clone()));
    let notifier =
        crate::notify::Notifier::new(store.clone(), clock.clone(), config.notify_allow_private);
    let notify_worker = tokio::spawn(crate::notify::run_worker(
        notifier,
        poll,
        shutdown.1.clone(),
    ));
    let mut demo_task = None;
    if let Some(addr) = demo_listen {
        let store = app.state().store.clone();
        let (partner, secret) =
            demo::ensure_partner(&store, clock.as_ref(), &demo::default_origins(addr.port()))
                .await?;
        let token = demo::seed_case(&store, clock.as_ref(), &partner, "sandbox_success")
            .await?
            .token;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let mut rx = shutdown.1.clone();
        demo_task = Some(tokio::spawn(async move {
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(listener, demo::site_router(public_url))
                .with_graceful_shutdown(async move {
                    let _ = rx.changed().await;
                })
                .await;
        }));
        println!();
        println!("  Rebound is running with a demo partner.");
        println!(
            "  Open the partner's recovery page:  http://localhost:{}/?token={token}",
            addr.port()
        );
        println!(
            "  The same with the listener's endpoints mode:  http://localhost:{}/endpoints?token={token}",
            addr.port()
        );
        println!(
            "  AlimTalk messages the scenario engine sent (outbox):  http://127.0.0.1:{}/dev/outbox",
            app.port()
        );
        println!(
            "  Move the demo clock a day on (the saved card is retried silently at 10:00 KST):  target/release/server dev advance --hours 24"
        );
        println!("  Demo partner Secret-Token (new at each start):  {secret}");
        println!(
            "  Try the API:  curl -X POST http://127.0.0.1:{}/api/v1/cover/customer \\",
            app.port()
        );
        println!("      -H 'Secret-Token: {secret}' -H 'Content-Type: application/json' \\");
        println!(
            "      -d '{{\"name\":\"김길동\",\"email\":\"gildong@domain.com\",\"phone\":\"01012345678\",\"partnerCustomerId\":\"10424\"}}'"
        );
        println!();
    }
    tracing::info!(port = app.port(), "listening");
    let tx = shutdown.0;
    app.run_until(async move {
        shutdown_signal().await;
        let _ = tx.send(true);
    })
    .await?;
    let _ = worker.await;
    let _ = notify_worker.await;
    if let Some(t) = demo_task {
        let _ = t.await;
    }
    Ok(())
}
