//! The money rules as operators run them (issue 22's proof): real `server`
//! processes charging 1,000 renewals through a local fake of Toss that
//! stores and replays answers per idempotency key as Toss does, with cards
//! of every decline class (a passing `PROVIDER_ERROR`, limits, stopped
//! cards, unreadable declines), answers lost after approval, 409s while a
//! key is processed and bare 5xxs; SIGKILLed during retry waves and across
//! 10:00 and midnight; while the partner's client re-sends `POST /recovery`
//! and failed-order upserts for random orders, paid or not.
//!
//! The same story runs against a local fake of PortOne V2 (issue 23): a
//! partner's own PortOne store charging NICE renewals, one successful
//! payment per payment id, typed 500s after approval, forgotten
//! idempotency keys answered `409 ALREADY_PAID`.
//!
//! Time is the dev clock (`REBOUND_DEV_CLOCK=1`).

use crate::common;

use std::collections::{HashMap, HashSet};
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::processes::{self, Seeds, Setup, dev_now};
use common::{portone_fake, toss_fake};
use rebound::domain::retry::maintenance_end;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Which PG the renewals were made with, and how it answers.
#[derive(Clone, Copy, PartialEq)]
enum Pg {
    /// The server-wide Toss account (`REBOUND_TOSS_*`).
    Toss,
    /// The partner's own PortOne store, for its NICE orders.
    PortOne,
}

impl Pg {
    fn payment_gateway(self) -> &'static str {
        match self {
            Pg::Toss => "TOSS",
            Pg::PortOne => "NICE",
        }
    }

    /// Card `i`'s billing key: what the fake answers for it (see
    /// `toss_fake`, `portone_fake`).
    fn card(self, i: usize) -> String {
        let kind = match (self, i % 10) {
            (Pg::Toss, 4) => "bk_provider_once",
            (Pg::Toss, 5) => "bk_flaky",
            (Pg::Toss, 6) => "bk_limit",
            (Pg::Toss, 7) => "bk_stopped",
            (Pg::Toss, 8) => "bk_company",
            (Pg::Toss, _) => "bk_card",
            (Pg::PortOne, 4) => "bk_po_once",
            (Pg::PortOne, 5) => "bk_po_flaky",
            (Pg::PortOne, 6) => "bk_po_limit",
            (Pg::PortOne, 7) => "bk_po_hard",
            (Pg::PortOne, 8) => "bk_po_deleted",
            (Pg::PortOne, _) => "bk_po_card",
        };
        format!("{kind}_{i}")
    }
}

/// Whether card `i` pays once tried (now, or after a passing failure).
fn pays(i: usize) -> bool {
    !matches!(i % 10, 6..=8)
}

/// The fake PG of a run and what it saw.
enum Fake {
    Toss(toss_fake::Shared),
    PortOne(portone_fake::Shared),
}

impl Fake {
    /// Starts the fake with its faults: slow answers (kills land
    /// mid-charge), answers lost after approval, and for PortOne keys
    /// forgotten before a resend.
    async fn start(pg: Pg) -> (String, Fake) {
        match pg {
            Pg::Toss => {
                let (base, fake) = toss_fake::start_fake().await;
                fake.lock().unwrap().faults = toss_fake::Faults {
                    lose_after_approval_percent: 5,
                    delay_ms: 40,
                };
                (base, Fake::Toss(fake))
            }
            Pg::PortOne => {
                let (base, fake) = portone_fake::start_fake().await;
                {
                    let mut f = fake.lock().unwrap();
                    f.amount = Some(10_000);
                    f.faults = portone_fake::Faults {
                        lose_after_approval_percent: 5,
                        delay_ms: 40,
                        forget_key_percent: 30,
                        lose_next_cancel: false,
                    };
                }
                (base, Fake::PortOne(fake))
            }
        }
    }

    /// Our idempotency key of every approved charge, in order.
    fn approved_keys(&self) -> Vec<String> {
        let (bodies, field) = match self {
            Fake::Toss(f) => (f.lock().unwrap().approved.clone(), "orderId"),
            Fake::PortOne(f) => (f.lock().unwrap().approved.clone(), "paymentId"),
        };
        bodies
            .iter()
            .map(|b| b[field].as_str().unwrap().to_owned())
            .collect()
    }

    /// Charge requests and lookups received.
    fn counts(&self) -> (u64, u64) {
        match self {
            Fake::Toss(f) => {
                let f = f.lock().unwrap();
                (f.requests, f.lookups)
            }
            Fake::PortOne(f) => {
                let f = f.lock().unwrap();
                (f.requests, f.lookups)
            }
        }
    }

    /// Requests a real account would have refused (wrong secret, store,
    /// idempotency key or amount).
    fn rejected(&self) -> Vec<String> {
        match self {
            Fake::Toss(f) => {
                let n = f.lock().unwrap().key_mismatches;
                (0..n).map(|_| "idempotency key".to_owned()).collect()
            }
            Fake::PortOne(f) => f.lock().unwrap().rejected.clone(),
        }
    }
}

fn start_server(setup: &Setup, pg: Pg, pg_base: &str, listen: &str) -> Child {
    let mut env = vec![("REBOUND_LISTEN", listen.to_owned())];
    match pg {
        Pg::Toss => env.extend([
            ("REBOUND_GATEWAY", "toss".to_owned()),
            ("REBOUND_TOSS_SECRET_KEY", toss_fake::SECRET.to_owned()),
            ("REBOUND_TOSS_CLIENT_KEY", "test_ck_fake".to_owned()),
            // Keys issued under the customers' own ids, as many shops do.
            (
                "REBOUND_TOSS_CUSTOMER_KEYS",
                "partner-customer-id".to_owned(),
            ),
            ("REBOUND_TOSS_API_BASE", pg_base.to_owned()),
        ]),
        // The partner's own store (registered in `portone_account`); the
        // server-wide gateway stays the sandbox.
        Pg::PortOne => env.push((
            "REBOUND_CREDENTIALS_KEY",
            common::TEST_CREDENTIALS_KEY.to_owned(),
        )),
    }
    processes::start_server(&setup.database_url, &env)
}

/// The partner's PortOne store for its NICE orders, on the fake at `base`.
async fn portone_account(setup: &Setup, base: &str) {
    use rebound::domain::gateway_account::{AccountInput, AccountSettings};
    let key = rebound::sealing::CredentialsKey::parse(common::TEST_CREDENTIALS_KEY).unwrap();
    let account = AccountInput {
        payment_gateway: "NICE",
        kind: "portone",
        secret: portone_fake::SECRET,
        live: Some(false),
        customer_keys: None,
        settings: AccountSettings {
            store_id: Some(portone_fake::STORE_ID.into()),
            channel_key: Some("channel-key-nice".into()),
            api_base: Some(base.into()),
            ..Default::default()
        },
    }
    .check()
    .unwrap();
    rebound::gateway::registry::register_account(
        &setup.store,
        &key,
        setup.partner_id,
        &account,
        "test",
        0,
    )
    .await
    .unwrap();
}

/// A port nobody listens on now: every server of the test takes it in turn,
/// so the partner's client finds whichever runs.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What the partner's client needs of order `i`.
#[derive(Clone)]
struct Order {
    id: i64,
    partner_order_id: String,
    subscription_id: i64,
    customer_id: i64,
    price_id: i64,
    id_key: String,
}

async fn orders(setup: &Setup) -> Vec<Order> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&setup.database_url).await.unwrap();
    let rows: Vec<(i64, String, i64, i64, i64, String)> = sqlx::query_as(
        "SELECT o.id, o.partner_order_id, o.subscription_id, o.customer_id, \
                (SELECT MIN(oi.price_id) FROM order_items oi WHERE oi.order_id = o.id), o.id_key \
         FROM orders o ORDER BY o.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.into_iter()
        .map(
            |(id, partner_order_id, subscription_id, customer_id, price_id, id_key)| Order {
                id,
                partner_order_id,
                subscription_id,
                customer_id,
                price_id,
                id_key,
            },
        )
        .collect()
}

/// The partner's client, re-sending failures for random orders (paid or
/// not) until told to stop: `POST /recovery` and `POST /order` with
/// `replaceIfExists` and `paymentFailed`. Answers it counts: 409s (a paid
/// order refused), 2xx, and no answer (the server down between kills).
struct Client {
    stop: Arc<AtomicBool>,
    refused: Arc<AtomicU64>,
    accepted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

/// The partner's report that an order's renewal failed (`POST /recovery`).
fn failure_report(o: &Order) -> serde_json::Value {
    serde_json::json!({"subscriptionId": o.subscription_id, "orderId": o.id,
                       "errorCode": "REJECT_CARD_PAYMENT"})
}

fn partner_client(base: String, secret: String, orders: Vec<Order>, pg: Pg) -> Client {
    let stop = Arc::new(AtomicBool::new(false));
    let (refused, accepted) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let task = tokio::spawn({
        let (stop, refused, accepted) = (stop.clone(), refused.clone(), accepted.clone());
        async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap();
            let mut rng: u64 = 0x2545_F491_4F6C_DD1D;
            while !stop.load(Ordering::Relaxed) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let o = &orders[(rng % orders.len() as u64) as usize];
                let (path, body) = if rng.is_multiple_of(2) {
                    ("/api/v1/cover/recovery", failure_report(o))
                } else {
                    (
                        "/api/v1/cover/order",
                        serde_json::json!({"customerId": o.customer_id, "amount": 10000, "amountReturned": 0,
                                           "items": [{"priceId": o.price_id, "quantity": 1}],
                                           "partnerOrderId": o.partner_order_id, "paymentGateway": pg.payment_gateway(),
                                           "idKey": o.id_key, "subscriptionId": o.subscription_id,
                                           "paymentFailed": true, "replaceIfExists": true}),
                    )
                };
                match http
                    .post(format!("{base}{path}"))
                    .header("Secret-Token", &secret)
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(res) if res.status() == 409 => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(res) if res.status().is_success() => {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    // Throttled or shed: a client waits and sends again.
                    Ok(res) if res.status() == 429 || res.status() == 503 => {}
                    Ok(res) => panic!("{path} answered {}", res.status()),
                    Err(_) => {} // the server is down between kills
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    Client {
        stop,
        refused,
        accepted,
        task,
    }
}

/// Until every case is settled (recovered, or its retries stopped or
/// spent) and nothing is pending. When nothing moves, the dev clock jumps
/// to the engine's next work (at least two minutes).
async fn run_until_settled(setup: &Setup, deadline: Duration) {
    let start = Instant::now();
    let mut last = None;
    loop {
        let (statuses, pending) = setup.store.charge_backlog().await.unwrap();
        let next = setup.store.next_retry_due().await.unwrap();
        if pending == 0 && next.is_none() {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "after {deadline:?}: {statuses:?}, {pending} charges pending, next retry {next:?}"
        );
        let now = (statuses.clone(), pending, next);
        if last.as_ref() == Some(&now) {
            let at = dev_now(&setup.store).await;
            let next = setup.store.next_work_at().await.unwrap().unwrap_or(at);
            let by = (next - at + 1_000).max(2 * MINUTE_MS);
            setup.store.advance_dev_clock(by).await.unwrap();
        }
        last = Some(now);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The Korean day of `ms` (days since the epoch, KST).
fn kst_day(ms: i64) -> i64 {
    (ms + 9 * HOUR_MS).div_euclid(DAY_MS)
}

async fn charges(setup: &Setup) -> Vec<(i64, i64, String, i64, i64, String)> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&setup.database_url).await.unwrap();
    let rows = sqlx::query_as(
        "SELECT c.order_id, ch.id, ch.billing_key, ch.created_at, COALESCE(ch.sent_at, ch.created_at), \
                ch.status FROM charges ch JOIN recovery_cases c ON c.id = ch.case_id ORDER BY ch.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows
}

/// 1,000 renewals, 12 kills across a retry wave at 10:00 and across
/// midnight, on SQLite and (REBOUND_TEST_DB=postgres) Postgres.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_rules_hold_through_kills_and_a_repeating_client_1000_cases_12_kills() {
    money_rules_hold(Pg::Toss, 12).await;
}

/// The same through a partner's own PortOne store: 1,000 renewals, 8 kills
/// (enough to land in a charge wave, a lookup pass and across midnight).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portone_charges_hold_through_kills_1000_cases_8_kills() {
    money_rules_hold(Pg::PortOne, 8).await;
}

async fn money_rules_hold(pg: Pg, kill_count: usize) {
    let card = |i: usize| pg.card(i);
    let setup = processes::setup(Seeds {
        cases: 1_000,
        id_key: &card,
        payment_gateway: pg.payment_gateway(),
        scenario: None,
    })
    .await;
    let orders = orders(&setup).await;
    let (pg_base, fake) = Fake::start(pg).await;
    if pg == Pg::PortOne {
        portone_account(&setup, &pg_base).await;
    }
    let listen = format!("127.0.0.1:{}", free_port());
    let client = partner_client(
        format!("http://{listen}"),
        setup.secret.clone(),
        orders.clone(),
        pg,
    );
    // The dev clock starts at noon on the failure day. The kills land on
    // the first retry wave (D+1 10:00) and around midnight after it.
    setup
        .store
        .advance_dev_clock(DAY_MS - 2 * HOUR_MS - MINUTE_MS + 30_000)
        .await
        .unwrap();
    let mut kills = 0;
    processes::kill_repeatedly(
        kill_count,
        0x94D0_49BB_1331_11EB,
        700,
        || start_server(&setup, pg, &pg_base, &listen),
        || {
            kills += 1;
            let store = &setup.store;
            let k = kills;
            async move {
                // Half the kills at the 10:00 wave, then a jump to 23:59
                // and the rest across midnight.
                let by = if k == kill_count / 2 {
                    14 * HOUR_MS - 2 * MINUTE_MS
                } else {
                    2 * MINUTE_MS
                };
                store.advance_dev_clock(by).await.unwrap();
            }
        },
    )
    .await;
    // The last server runs on; the client goes on a few seconds more, then
    // stops (a client upserting failed orders for ever would keep opening
    // cases for ever), and the server settles every case.
    let mut server = start_server(&setup, pg, &pg_base, &listen);
    tokio::time::sleep(Duration::from_secs(3)).await;
    client.stop.store(true, Ordering::Relaxed);
    client.task.await.unwrap();
    run_until_settled(&setup, Duration::from_secs(400)).await;
    // The random client may or may not have hit a paid order in time; a
    // failure re-sent for one now must be refused.
    let paid_order = orders
        .iter()
        .enumerate()
        .find(|(i, _)| pays(*i))
        .map(|(_, o)| o)
        .unwrap();
    let resend = reqwest::Client::new()
        .post(format!("http://{listen}/api/v1/cover/recovery"))
        .header("Secret-Token", &setup.secret)
        .json(&failure_report(paid_order))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resend.status(),
        409,
        "a failure re-sent for a paid order is refused"
    );
    server.kill().unwrap();
    server.wait().unwrap();

    // The PG's ledger: no idempotency key (payment id) approved twice, no
    // order paid twice, every card that pays paid once, nothing sent that
    // the account would refuse.
    let approved = fake.approved_keys();
    assert_eq!(fake.rejected(), Vec::<String>::new());
    let case_order: HashMap<i64, i64> = {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&setup.database_url).await.unwrap();
        let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT id, order_id FROM recovery_cases")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows.into_iter().collect()
    };
    let mut keys = HashSet::new();
    let mut paid: HashMap<i64, usize> = HashMap::new();
    for key in &approved {
        assert!(keys.insert(key.clone()), "{key} approved twice");
        let case: i64 = key.split('-').nth(1).unwrap().parse().unwrap();
        *paid.entry(case_order[&case]).or_default() += 1;
    }
    let order_status: HashMap<i64, String> = {
        let pool = sqlx::AnyPool::connect(&setup.database_url).await.unwrap();
        let rows: Vec<(i64, String)> = sqlx::query_as("SELECT id, status FROM orders")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows.into_iter().collect()
    };
    for (i, o) in orders.iter().enumerate() {
        let n = paid.get(&o.id).copied().unwrap_or(0);
        assert_eq!(
            n,
            usize::from(pays(i)),
            "order {} ({}) paid {n} times",
            o.id,
            o.id_key
        );
        // No case lost: a card that pays left its order paid in our books.
        assert_eq!(
            order_status[&o.id] == "PAID",
            pays(i),
            "order {} ({})",
            o.id,
            o.id_key
        );
    }
    // Our books: nothing pending, no charge in the night window, no two
    // charges of one key on one Korean day (by when each reached the PG).
    let rows = charges(&setup).await;
    let (_, pending) = setup.store.charge_backlog().await.unwrap();
    assert_eq!(pending, 0, "nothing left pending");
    let mut per_key_day: HashMap<(String, i64), usize> = HashMap::new();
    for (_, id, key, created, reached, status) in &rows {
        for (what, at) in [("claimed", *created), ("sent", *reached)] {
            assert_eq!(
                maintenance_end(at),
                None,
                "charge {id} ({status}) {what} in the night window"
            );
        }
        *per_key_day
            .entry((key.clone(), kst_day(*reached)))
            .or_default() += 1;
    }
    let twice: Vec<_> = per_key_day.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "keys charged twice on one day: {twice:?}");
    let (refused, accepted) = (
        client.refused.load(Ordering::Relaxed),
        client.accepted.load(Ordering::Relaxed),
    );
    let (requests, lookups) = fake.counts();
    eprintln!(
        "{}: {kills} kills; {} approvals for 1,000 orders; {requests} charge requests, {lookups} lookups; \
         client: {refused} refused (paid), {accepted} accepted; {} charges recorded",
        pg.payment_gateway(),
        approved.len(),
        rows.len()
    );
}
