//! The `server` command line: serve, seed the demo, manage partners.

use std::net::SocketAddr;

use clap::{Parser, Subcommand};

use crate::config::{Config, Mode, database_url_from_env};
use crate::domain::account::{Email, NewPassword, PartnerRole, Role};
use crate::domain::origin::{AllowedOrigins, Origin};
use crate::domain::settings::PartnerUrls;
use crate::domain::token::{LinkKey, TokenHash, new_secret_token};
use crate::engine::provider::MessagesConfig;
use crate::gateway::GatewayConfig;
use crate::startup::{Application, shutdown_signal};
use crate::store::Store;
use crate::{demo, telemetry};

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
    /// Console accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Development helpers (for `make run`).
    #[command(subcommand)]
    Dev(DevCommand),
    /// The key that signs recovery links (kept outside the database).
    #[command(subcommand)]
    LinkKey(LinkKeyCommand),
    /// The key that seals partners' gateway secrets (kept outside the
    /// database).
    #[command(subcommand)]
    CredentialsKey(CredentialsKeyCommand),
    /// Partners' own payment gateway accounts.
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// Charges flagged NEEDS_REFUND (approved after the partner settled
    /// the order some other way), and giving them back.
    #[command(subcommand)]
    Refund(RefundCommand),
    /// A partner's experiments: arms of new cases, one of them perhaps a
    /// holdout that gets no messages and no silent retries.
    #[command(subcommand)]
    Experiment(ExperimentCommand),
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
    /// Twice the page's capacity with slow connections open, against a
    /// running server (`loadtest.rs`).
    Load {
        /// A recovery page URL with a live token.
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 60)]
        duration_secs: u64,
        #[arg(long, default_value_t = 1_000)]
        slow: usize,
        #[arg(long, default_value_t = 10)]
        probe_secs: u64,
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Console sign-in attempts a second during the overload, each
        /// from its own address (X-Forwarded-For: run the server with
        /// REBOUND_TRUSTED_PROXIES naming this client).
        #[arg(long, default_value_t = 2_000.0)]
        sign_ins: f64,
        /// A partner's Secret-Token: its API is called during the overload
        /// and must answer every call.
        #[arg(long)]
        api_token: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a console account: an operator admin, or with --partner a
    /// user who sees that partner only (its admin, unless --role member).
    /// Reads the password (12 characters or more) from the first line of
    /// standard input, so it stays out of the shell's history and the
    /// process list.
    Create {
        #[arg(long)]
        email: String,
        /// The partner's name (`server partner list`).
        #[arg(long)]
        partner: Option<String>,
        /// With --partner: `admin` (changes the partner's settings and
        /// users) or `member` (reads and acts on cases).
        #[arg(long, default_value = "admin", requires = "partner")]
        role: String,
    },
}

#[derive(Subcommand)]
pub enum LinkKeyCommand {
    /// Print a new key: `server link-key generate > /etc/rebound/link.key`,
    /// then start the server with REBOUND_LINK_KEY_FILE=/etc/rebound/link.key.
    /// Every instance on one database needs the same key.
    Generate,
    /// Print the key an earlier version kept in the database, to move it
    /// to a file (links already sent keep working); the server deletes the
    /// database's copy when it starts with that key.
    Export,
}

#[derive(Subcommand)]
pub enum CredentialsKeyCommand {
    /// Print a new key: `server credentials-key generate >
    /// /etc/rebound/credentials.key`, then start every instance with
    /// REBOUND_CREDENTIALS_KEY_FILE=/etc/rebound/credentials.key.
    Generate,
}

#[derive(Subcommand)]
pub enum GatewayCommand {
    /// Add the partner's account for one `paymentGateway` of its orders
    /// (replacing the current one: charges already sent keep theirs).
    /// Reads the API secret from the first line of standard input, so it
    /// stays out of the shell's history and the process list; needs
    /// REBOUND_CREDENTIALS_KEY_FILE to seal it.
    Add {
        #[arg(long)]
        partner: String,
        /// The orders' paymentGateway it charges: TOSS, NICE, KCP, KG, ...
        #[arg(long)]
        pg: String,
        /// `toss` (Toss Payments' own API) or `portone` (PortOne V2).
        #[arg(long)]
        kind: String,
        /// Moves real money (PortOne's secrets do not say; Toss's do).
        #[arg(long)]
        live: bool,
        /// A test account (PortOne).
        #[arg(long, conflicts_with = "live")]
        test: bool,
        /// Toss's client key (its card window).
        #[arg(long)]
        client_key: Option<String>,
        /// PortOne's store id.
        #[arg(long)]
        store_id: Option<String>,
        /// PortOne's channel key for the PG (its card window).
        #[arg(long)]
        channel_key: Option<String>,
        /// The PG's API base, if not its public one.
        #[arg(long)]
        api_base: Option<String>,
        /// What a Toss key is charged with when the order names no
        /// customerKey: `order-only` (nothing: ask for a new card) or
        /// `partner-customer-id`.
        #[arg(long)]
        customer_keys: Option<String>,
    },
    /// The partner's accounts (never their secrets).
    List {
        #[arg(long)]
        partner: String,
    },
    /// Retire the partner's account for a PG; its orders go back to the
    /// server-wide gateway, if that reaches the PG.
    Remove {
        #[arg(long)]
        partner: String,
        #[arg(long)]
        pg: String,
    },
}

#[derive(Subcommand)]
pub enum ExperimentCommand {
    /// Start one (a partner runs one at a time). Without --arm: the current
    /// scenario for 90 % of new cases and a 10 % holdout.
    Start {
        #[arg(long)]
        partner: String,
        #[arg(long, default_value = "Rebound against no dunning")]
        name: String,
        /// `name=current:PERCENT` (the current scenario), `name=vN:PERCENT`
        /// (scenario version N) or `name=holdout:PERCENT` (at most 20);
        /// two to four, adding up to 100. The first scenario arm is the
        /// control.
        #[arg(long = "arm")]
        arms: Vec<String>,
        /// Closed cases each arm needs before the figures are a verdict.
        #[arg(long, default_value_t = crate::domain::experiment::DEFAULT_HORIZON)]
        horizon: u64,
        /// Days after its failure a case may recover and count.
        #[arg(long, default_value_t = crate::domain::experiment::DEFAULT_WINDOW_DAYS)]
        window_days: u32,
    },
    /// Stop the running one: no new case joins; its cases keep their arms.
    Stop {
        #[arg(long)]
        partner: String,
        /// The experiment's id (`server experiment list`).
        id: i64,
    },
    /// The partner's experiments.
    List {
        #[arg(long)]
        partner: String,
    },
    /// One experiment's figures, as the API answers them (JSON).
    Show {
        #[arg(long)]
        partner: String,
        id: i64,
    },
}

#[derive(Subcommand)]
pub enum RefundCommand {
    /// Charges waiting for a refund (or for a lost refund answer).
    List {
        /// Only this partner's.
        #[arg(long)]
        partner: Option<String>,
    },
    /// Refunds one charge through the account that made it; run with the
    /// server's settings (its gateway and credentials key). Asking again
    /// after a lost answer never refunds twice.
    Charge {
        /// The charge's id (`server refund list`).
        id: i64,
        /// With the demo's settings (`make run`).
        #[arg(long)]
        demo: bool,
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
    /// Seed cases with known outcomes for a partner, for the console's
    /// figures (tests, `make bench`): the 20-case mix of
    /// `domain::analytics::sample_facts`, repeated to --cases and spread
    /// over the --days Korean days ending today.
    SeedOutcomes {
        #[arg(long)]
        partner: String,
        #[arg(long, default_value_t = 20)]
        cases: usize,
        #[arg(long, default_value_t = 1)]
        days: i64,
    },
    /// Fill the partner's running experiment with made-up cases of known
    /// rates per arm (the first scenario arm 45 %, others 38 %, the holdout
    /// 12 %), failed over the last --days.
    SeedExperiment {
        #[arg(long)]
        partner: String,
        #[arg(long, default_value_t = 2_000)]
        cases: usize,
        #[arg(long, default_value_t = 60)]
        days: i64,
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
        /// "changeDateLimit":3,
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
    /// Opt the partner's cases opened before silent retries existed in to
    /// them: those still inside the retry ladder get planned; older ones,
    /// and cases whose scenario has retries off, get none.
    RetriesOlderCases {
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
    let command = cli.command.unwrap_or(Command::Serve {
        demo: false,
        demo_listen: "127.0.0.1:3001".parse().expect("valid address"),
    });
    let store = || async { Store::connect(&database_url_from_env()).await };
    match command {
        Command::Serve { demo, demo_listen } => {
            let mode = match demo {
                true => Mode::Demo { site: demo_listen },
                false => Mode::Production,
            };
            serve(Config::from_env(mode)?).await
        }
        Command::SeedDemo { demo_port, id_key } => {
            let store = store().await?;
            // The demo server's time: after `dev advance`, a case seeded at
            // wall time would be days old, its retries long due.
            let dev_clock = crate::clock::DevClock::default();
            dev_clock.set_offset_ms(store.dev_clock_offset_ms().await?);
            let (partner, secret) = demo::ensure_partner(
                &store,
                &dev_clock,
                &demo::default_origins(demo_port),
                demo::Token::Keep,
            )
            .await?;
            let order = demo::seed_case(&store, &dev_clock, &partner, &id_key).await?;
            match secret {
                Some(secret) => println!("demo partner Secret-Token: {secret}"),
                None => {
                    println!("demo partner Secret-Token: unchanged (the one `make run` printed)")
                }
            }
            println!("recovery token: {}", order.token);
            println!("partner order id: {}", order.partner_order_id);
            println!("open: http://localhost:{demo_port}/?token={}", order.token);
            Ok(())
        }
        Command::Partner(cmd) => partner(cmd, &store().await?).await,
        Command::Dev(DevCommand::Advance { hours }) => {
            let offset = store().await?.advance_dev_clock(hours * 3_600_000).await?;
            println!(
                "the demo clock now runs {:.1} hours ahead",
                offset as f64 / 3_600_000.0
            );
            Ok(())
        }
        Command::Dev(DevCommand::SeedOutcomes {
            partner,
            cases,
            days,
        }) => {
            use crate::domain::analytics::{kst_day, kst_day_start, sample_facts};
            let store = store().await?;
            let partner = find_partner(&store, &partner).await?;
            let days = days.clamp(1, 366);
            // Today on the demo's clock (`server dev advance` moves it).
            let now = chrono::Utc::now().timestamp_millis() + store.dev_clock_offset_ms().await?;
            let first = kst_day(now) - chrono::Days::new(days as u64 - 1);
            // Ten in the morning, so no case lands on the next day.
            let start = kst_day_start(first) + 10 * 3_600_000;
            let prefix = format!("seeded-{}", crate::domain::token::new_id());
            let facts = sample_facts(cases, start, days);
            let ids = store
                .seed_outcomes(
                    partner.id,
                    &crate::store::OutcomeSeed {
                        prefix: &prefix,
                        facts: &facts,
                    },
                )
                .await?;
            println!(
                "seeded {} cases for {} over {} days from {first} (orders {prefix}-1 ...)",
                ids.len(),
                partner.name,
                days
            );
            Ok(())
        }
        Command::Dev(DevCommand::SeedExperiment {
            partner,
            cases,
            days,
        }) => {
            let store = store().await?;
            let partner = find_partner(&store, &partner).await?;
            let e = store.running_experiment(partner.id).await?.ok_or_else(|| {
                CliError::Usage(format!(
                    "{} runs no experiment (`server experiment start --partner {}`)",
                    partner.name, partner.name
                ))
            })?;
            let now = chrono::Utc::now().timestamp_millis() + store.dev_clock_offset_ms().await?;
            let arms: Vec<_> = e.arms.iter().map(|a| (a.kind, a.share)).collect();
            let sample =
                crate::domain::experiment::sample_cases(cases, &arms, now, days.clamp(1, 366));
            let prefix = format!("seeded-x{}-{}", e.id, crate::domain::token::new_id());
            let n = store
                .seed_experiment(partner.id, e.id, &prefix, &sample)
                .await?;
            println!(
                "seeded {n} cases into experiment {} of {}",
                e.id, partner.name
            );
            Ok(())
        }
        Command::Admin(AdminCommand::Create {
            email,
            partner,
            role,
        }) => {
            let store = store().await?;
            let email = Email::parse(&email)
                .map_err(|want| CliError::Usage(format!("--email: expected {want}")))?;
            let partner_role = PartnerRole::from_word(&role)
                .ok_or_else(|| CliError::Usage("--role: expected admin or member".into()))?;
            let role = match partner {
                Some(name) => Role::Partner(find_partner(&store, &name).await?.id, partner_role),
                None => Role::Operator,
            };
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            let password =
                NewPassword::parse(line.trim_end_matches(['\r', '\n'])).map_err(|want| {
                    CliError::Usage(format!("the password (standard input): {want}"))
                })?;
            let now = chrono::Utc::now().timestamp_millis();
            match store
                .create_console_user(&email, &password.hash(), role, "cli", now)
                .await?
            {
                Some(user) => {
                    let who = match user.role {
                        Role::Operator => "operator admin".to_owned(),
                        Role::Partner(id, role) => {
                            format!("{} of partner {id}", role.word())
                        }
                    };
                    println!("created {who} {}", user.email);
                    Ok(())
                }
                None => Err(CliError::Usage(format!(
                    "{} already has an account",
                    email.as_str()
                ))),
            }
        }
        Command::CredentialsKey(CredentialsKeyCommand::Generate) => {
            println!("{}", crate::sealing::CredentialsKey::generate());
            Ok(())
        }
        Command::Gateway(cmd) => gateway(cmd, &store().await?).await,
        Command::Refund(cmd) => refund(cmd, store().await?).await,
        Command::Experiment(cmd) => experiment(cmd, store().await?).await,
        Command::LinkKey(LinkKeyCommand::Generate) => {
            println!("{}", LinkKey::generate().expose());
            Ok(())
        }
        Command::LinkKey(LinkKeyCommand::Export) => {
            match store().await?.link_key_in_database().await? {
                Some(key) => {
                    println!("{key}");
                    Ok(())
                }
                None => Err(CliError::Usage(
                    "this database holds no link key (nothing to move out)".into(),
                )),
            }
        }
        Command::Bench(BenchCommand::Notify { events }) => {
            let store = store().await?;
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
        Command::Bench(BenchCommand::Load {
            url,
            duration_secs,
            slow,
            probe_secs,
            clients,
            sign_ins,
            api_token,
        }) => {
            let spec = crate::loadtest::LoadSpec {
                url,
                duration: std::time::Duration::from_secs(duration_secs),
                slow_connections: slow,
                probe: std::time::Duration::from_secs(probe_secs),
                clients,
                hang_after: std::time::Duration::from_secs(50),
                sign_ins_per_second: sign_ins,
                api_token,
            };
            let r = crate::loadtest::run(&spec).await.map_err(CliError::Usage)?;
            println!(
                "page capacity {:.0}/s ({} clients); unloaded p99 {:.1} ms (one client)",
                r.capacity_per_second,
                spec.clients,
                r.unloaded_p99.as_secs_f64() * 1e3
            );
            println!(
                "offered {:.0}/s for {} s with {} slow connections (peak open {}, {} closed by the server's header timeout)",
                r.offered_per_second,
                duration_secs,
                slow,
                r.slow_open_peak,
                r.slow_closed_by_server
            );
            println!(
                "of {} requests: {} answered 200, {} shed 503, {} shed 429, {} other, {} errors, {} hung past 50 s",
                r.sent, r.answered_ok, r.shed_503, r.shed_429, r.other_status, r.errors, r.hung
            );
            println!(
                "sign-in flood ({sign_ins:.0}/s from many addresses): {}",
                r.sign_ins
            );
            println!(
                "partner API meanwhile: {} -> {}",
                r.api,
                if r.api_kept_answering() {
                    "kept answering"
                } else {
                    "FAILED TO ANSWER"
                }
            );
            println!(
                "answered p99 {:.1} ms (max {:.1} ms); ratio loaded/unloaded p99 {:.2} (bar: 3.00) -> {}",
                r.loaded_p99.as_secs_f64() * 1e3,
                r.loaded_max.as_secs_f64() * 1e3,
                r.p99_ratio(),
                if r.passed() { "PASS" } else { "FAIL" }
            );
            if r.passed() {
                Ok(())
            } else {
                Err(CliError::Usage("the overload test did not pass".into()))
            }
        }
        Command::Bench(BenchCommand::Engine { cases }) => {
            let store = store().await?;
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

fn check_partner_url(url: &str, what: &str) -> Result<(), CliError> {
    if crate::domain::origin::is_partner_url(url) {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "the {what} must be an absolute https URL (http only for localhost)"
        )))
    }
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

async fn gateway(cmd: GatewayCommand, store: &Store) -> Result<(), CliError> {
    use crate::domain::gateway_account::{AccountInput, AccountSettings};
    let now = chrono::Utc::now().timestamp_millis();
    match cmd {
        GatewayCommand::Add {
            partner,
            pg,
            kind,
            live,
            test,
            client_key,
            store_id,
            channel_key,
            api_base,
            customer_keys,
        } => {
            let partner = find_partner(store, &partner).await?;
            let key = crate::config::credentials_key_from_env()?.ok_or_else(|| {
                CliError::Usage(
                    "REBOUND_CREDENTIALS_KEY_FILE is not set: make a key with \
                     `server credentials-key generate` and point it there (the server needs the \
                     same one)"
                        .into(),
                )
            })?;
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            let account = AccountInput {
                payment_gateway: &pg,
                kind: &kind,
                secret: line.trim_end_matches(['\r', '\n']),
                live: match (live, test) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                customer_keys: customer_keys.as_deref(),
                settings: AccountSettings {
                    client_key,
                    store_id,
                    channel_key,
                    api_base,
                },
            }
            .check()
            .map_err(|problems| {
                CliError::Usage(
                    problems
                        .iter()
                        .map(|p| format!("{}: {}", p.field, p.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?;
            let id = crate::gateway::registry::register_account(
                store, &key, partner.id, &account, "cli", now,
            )
            .await?;
            println!(
                "{}: {} orders now charge through {} account {id} ({})",
                partner.name,
                account.payment_gateway,
                account.kind.as_str(),
                if account.livemode { "live" } else { "test" }
            );
            Ok(())
        }
        GatewayCommand::List { partner } => {
            let partner = find_partner(store, &partner).await?;
            for a in store.gateway_accounts(partner.id).await? {
                println!(
                    "{}\t{}\t{}\t{}\tcustomer keys {}\t{}",
                    a.payment_gateway,
                    a.kind.as_str(),
                    if a.livemode { "live" } else { "test" },
                    a.id,
                    a.customer_keys.as_str(),
                    serde_json::to_string(&a.settings).unwrap_or_default()
                );
            }
            Ok(())
        }
        GatewayCommand::Remove { partner, pg } => {
            let partner = find_partner(store, &partner).await?;
            if store
                .retire_gateway_account(partner.id, &pg, "cli", now)
                .await?
            {
                println!("{}: the {pg} account is retired", partner.name);
                Ok(())
            } else {
                Err(CliError::Usage(format!(
                    "{} has no {pg} account",
                    partner.name
                )))
            }
        }
    }
}

async fn experiment(cmd: ExperimentCommand, store: Store) -> Result<(), CliError> {
    use crate::domain::experiment::{ArmSpec, ExperimentSpec};
    let now_ms = || chrono::Utc::now().timestamp_millis();
    match cmd {
        ExperimentCommand::Start {
            partner,
            name,
            arms,
            horizon,
            window_days,
        } => {
            let partner = find_partner(&store, &partner).await?;
            let arms = if arms.is_empty() {
                vec![
                    "rebound=current:90".to_owned(),
                    "holdout=holdout:10".to_owned(),
                ]
            } else {
                arms
            };
            let usage = |e: Vec<crate::domain::FieldError>| {
                CliError::Usage(
                    e.iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            };
            let arms = arms
                .iter()
                .map(|a| ArmSpec::parse("arm", a))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| usage(vec![e]))?;
            let spec = ExperimentSpec::check(&name, arms, horizon, window_days).map_err(usage)?;
            let id = store
                .start_experiment(partner.id, &spec, "cli", now_ms())
                .await
                .map_err(experiment_error)?;
            println!(
                "experiment {id} started for {}: {}",
                partner.name, spec.name
            );
            Ok(())
        }
        ExperimentCommand::Stop { partner, id } => {
            let partner = find_partner(&store, &partner).await?;
            store
                .stop_experiment(partner.id, id, now_ms())
                .await
                .map_err(experiment_error)?;
            println!("experiment {id} stopped: no new case joins; its cases keep their arms");
            Ok(())
        }
        ExperimentCommand::List { partner } => {
            let partner = find_partner(&store, &partner).await?;
            let rows = store.experiments(partner.id).await?;
            if rows.is_empty() {
                println!("{} has no experiment", partner.name);
            }
            for e in rows {
                let arms: Vec<String> = e
                    .arms
                    .iter()
                    .map(|a| format!("{} {}%", a.name, f64::from(a.share) / 100.0))
                    .collect();
                println!("{}\t{}\t{}\t{}", e.id, e.status, e.name, arms.join(", "));
            }
            Ok(())
        }
        ExperimentCommand::Show { partner, id } => {
            let partner = find_partner(&store, &partner).await?;
            let e = store.experiment(partner.id, id).await?.ok_or_else(|| {
                CliError::Usage(format!("{} has no experiment {id}", partner.name))
            })?;
            let report = crate::api::experiments::build(&store, &e, now_ms()).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&report)
                    .map_err(|e| CliError::Usage(e.to_string()))?
            );
            Ok(())
        }
    }
}

fn experiment_error(e: crate::store::ExperimentError) -> CliError {
    match e {
        crate::store::ExperimentError::Store(e) => CliError::Store(e),
        other => CliError::Usage(other.to_string()),
    }
}

async fn refund(cmd: RefundCommand, store: Store) -> Result<(), CliError> {
    match cmd {
        RefundCommand::List { partner } => {
            let partner_id = match partner {
                Some(name) => Some(find_partner(&store, &name).await?.id),
                None => None,
            };
            let due = store.refunds_due(partner_id).await?;
            if due.is_empty() {
                println!("no charge waits for a refund");
            }
            for d in due {
                println!(
                    "charge {}\tcase {}\tpartner {}\t{} KRW\t{}\t{}",
                    d.charge_id,
                    d.case_id,
                    d.partner_id,
                    d.amount,
                    d.status,
                    match d.gateway_account_id {
                        Some(a) => format!("account {a}"),
                        None => "server-wide gateway".to_owned(),
                    }
                );
            }
            Ok(())
        }
        RefundCommand::Charge { id, demo } => {
            let not_due = || {
                CliError::Usage(format!(
                    "charge {id} does not wait for a refund (`server refund list`)"
                ))
            };
            // Said before the settings are read: no gateway needed to learn it.
            if !store
                .refunds_due(None)
                .await?
                .iter()
                .any(|d| d.charge_id == id)
            {
                return Err(not_due());
            }
            let mode = match demo {
                true => Mode::Demo {
                    site: "127.0.0.1:3001".parse().expect("valid address"),
                },
                false => Mode::Production,
            };
            let config = Config::from_env(mode)?;
            let server_wide = crate::gateway::from_config(&config.gateway);
            let refunder = crate::refunding::Refunder {
                gateways: crate::startup::gateways(&config, server_wide, store.clone()),
                store,
                clock: std::sync::Arc::new(crate::clock::SystemClock),
            };
            match refunder.refund(id, None, "cli").await? {
                crate::refunding::Refunded::Done => {
                    println!("charge {id} refunded; the partner is sent payment.refunded");
                    Ok(())
                }
                crate::refunding::Refunded::Refused { code, reason } => Err(CliError::Usage(
                    format!("the PG refused the refund of charge {id}: {code} {reason}"),
                )),
                crate::refunding::Refunded::Unknown => Err(CliError::Usage(format!(
                    "no answer from the PG for charge {id}: run this again (it never refunds twice)"
                ))),
                crate::refunding::Refunded::NotRefundable => Err(not_due()),
            }
        }
    }
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
                .rotate_partner_token(p.id, &TokenHash::of(&secret), grace_ms, "cli", now)
                .await?;
            println!("new Secret-Token for {name} (shown once): {secret}");
            println!("the previous token stops working in {grace_hours} h");
        }
        PartnerCommand::SetOrigins { name, origins } => {
            let p = find_partner(store, &name).await?;
            let origins = parse_origins(&origins)?;
            let urls = store.partner_urls(p.id).await?;
            let new = PartnerUrls {
                origins: origins.to_stored(),
                ..urls
            };
            store.save_partner_urls(p.id, &new, "cli", now).await?;
            println!("{name} may embed from: {}", origins.to_stored());
        }
        PartnerCommand::SetNotifyUrl { name, url } => {
            let p = find_partner(store, &name).await?;
            check_partner_url(&url, "notify URL")?;
            let urls = store.partner_urls(p.id).await?;
            let new = PartnerUrls {
                notify_url: Some(url.clone()),
                ..urls
            };
            store.save_partner_urls(p.id, &new, "cli", now).await?;
            println!("{name} notifications go to {url}");
        }
        PartnerCommand::SetRecoveryUrl { name, url } => {
            let p = find_partner(store, &name).await?;
            check_partner_url(&url, "recovery page URL")?;
            let urls = store.partner_urls(p.id).await?;
            let new = PartnerUrls {
                recovery_url: Some(url.clone()),
                ..urls
            };
            store.save_partner_urls(p.id, &new, "cli", now).await?;
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
            // The JSON alone on stdout, so `scenario-show > scenario.json`
            // gives a file `scenario-set --file` takes back.
            eprintln!("{name} scenario version {version}{which}:");
            println!("{}", scenario.to_json());
            if let Some(problem) = store.gateway_problem(p.id).await? {
                eprintln!(
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
        PartnerCommand::RetriesOlderCases { name } => {
            let p = find_partner(store, &name).await?;
            let (planned, too_old) = store.opt_in_older_cases(p.id, now).await?;
            println!(
                "{name}: silent retries planned for {planned} older cases; \
                 {too_old} were past their retry ladder and get none"
            );
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
                        "cli",
                        now,
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

/// Starts everything the configuration names and, with `--demo`, prints
/// what a newcomer needs.
async fn serve(config: Config) -> Result<(), CliError> {
    if config.demo_site().is_none() {
        // Allowed when named, but never silently.
        if matches!(config.gateway, GatewayConfig::Sandbox) {
            tracing::warn!("REBOUND_GATEWAY=sandbox: no money moves; notices say livemode false");
        }
        if matches!(config.messages, MessagesConfig::Outbox) {
            tracing::warn!("REBOUND_MESSAGES=outbox: messages are stored, none reaches a phone");
        }
        if config.dev_clock {
            tracing::warn!("REBOUND_DEV_CLOCK=1: the clock can be moved with `server dev advance`");
        }
    }
    let app = Application::build(config).await?;
    if let Some(demo) = app.demo() {
        print_demo_banner(app.port(), demo);
    }
    tracing::info!(port = app.port(), "listening");
    app.run_until(shutdown_signal()).await?;
    Ok(())
}

fn print_demo_banner(port: u16, demo: &crate::startup::DemoSite) {
    let (site, token, secret) = (demo.port(), &demo.token, &demo.secret);
    println!();
    println!("  Rebound is running with a demo partner.");
    println!("  Open the partner's recovery page:  http://localhost:{site}/?token={token}");
    println!(
        "  The same with the listener's endpoints mode:  http://localhost:{site}/endpoints?token={token}"
    );
    println!(
        "  AlimTalk messages the scenario engine sent (outbox):  http://127.0.0.1:{port}/dev/outbox"
    );
    println!(
        "  Move the demo clock a day on (the saved card is retried silently at 10:00 KST):  ./rebound dev advance --hours 24"
    );
    println!(
        "  The console (operator {} / {}, new at each start):  http://127.0.0.1:{port}/console",
        crate::demo::DEMO_CONSOLE_EMAIL,
        demo.console_password
    );
    println!(
        "  Fill the console's figures with 200 cases of known outcomes:  ./rebound dev seed-outcomes --partner demo --cases 200 --days 30"
    );
    println!("  Demo partner Secret-Token (new at each start):  {secret}");
    println!("  Try the API:  curl -X POST http://127.0.0.1:{port}/api/v1/cover/customer \\");
    println!("      -H 'Secret-Token: {secret}' -H 'Content-Type: application/json' \\");
    println!(
        "      -d '{{\"name\":\"김길동\",\"email\":\"gildong@domain.com\",\"phone\":\"01012345678\",\"partnerCustomerId\":\"10424\"}}'"
    );
    println!();
}

#[cfg(test)]
mod tests {
    use super::check_partner_url;

    #[test]
    fn partner_urls_are_https_or_exactly_this_machine() {
        for ok in [
            "https://api.acme.example/rebound",
            "http://localhost:3001/recovery",
            "http://127.0.0.1:9/hook",
            "http://[::1]:9/hook",
        ] {
            assert!(check_partner_url(ok, "URL").is_ok(), "{ok}");
        }
        for bad in [
            "http://localhost.evil.example/hook",
            "http://127.0.0.1.evil.example/hook",
            "http://localhost@evil.example/hook",
            "https://user:pass@api.acme.example/",
            "http://api.acme.example/hook",
            "ftp://localhost/x",
            "https://api.acme.example/a b",
            " https://api.acme.example/",
            "/relative",
        ] {
            assert!(check_partner_url(bad, "URL").is_err(), "{bad}");
        }
    }
}
