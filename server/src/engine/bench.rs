//! `server bench engine`: stage sends per second through the whole engine
//! (claim, ledger, provider, outcome), against the outbox provider's own
//! cost, and silent charges per second through the sandbox against those
//! stage sends, measured in one run on one database (`make bench`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};

use super::Engine;
use super::provider::{MessageProvider, OutboxProvider, OutgoingMessage};
use crate::charging::Charger;
use crate::clock::{ManualClock, SharedClock};
use crate::domain::origin::{AllowedOrigins, Origin};
use crate::domain::scenario::Channel;
use crate::domain::token::{TokenHash, new_recovery_token};
use crate::gateway::SandboxGateway;
use crate::store::{FailedOrderSeed, Store, StoreError};

pub struct EngineBench {
    pub cases: usize,
    pub stage_sends: usize,
    /// Time spent in the engine's passes (seeding excluded).
    pub engine_time: Duration,
    /// The same number of messages written straight to the outbox in
    /// batches of the engine's size: what the provider costs by itself.
    pub outbox_time: Duration,
    /// Silent charges made (one per case: its D+1 retry, approved).
    pub silent_charges: usize,
    /// Time the engine took to make them (claim, PG call, record, notices).
    pub charge_time: Duration,
}

impl EngineBench {
    pub fn sends_per_second(&self) -> f64 {
        self.stage_sends as f64 / self.engine_time.as_secs_f64()
    }

    pub fn outbox_per_second(&self) -> f64 {
        self.stage_sends as f64 / self.outbox_time.as_secs_f64()
    }

    pub fn charges_per_second(&self) -> f64 {
        self.silent_charges as f64 / self.charge_time.as_secs_f64()
    }
}

/// Seeds `cases` failed orders on a fresh database, then walks the default
/// scenario (4 stages, then the end action) on a test clock.
pub async fn run(store: &Store, cases: usize) -> Result<EngineBench, StoreError> {
    let start = Utc
        .with_ymd_and_hms(2026, 11, 22, 1, 0, 0)
        .single()
        .expect("valid date");
    let clock = Arc::new(ManualClock::starting_at(start));
    let origins = AllowedOrigins::new(vec![
        Origin::parse("https://bench.example").expect("valid origin"),
    ]);
    let partner = store
        .create_partner(
            "bench-engine",
            "Bench",
            &origins,
            &TokenHash::of(&new_recovery_token()),
            clock.now_ms(),
        )
        .await?;
    for i in 0..cases {
        let order = format!("bench-{i}");
        store
            .seed_failed_order(
                partner.id,
                &FailedOrderSeed {
                    partner_customer_id: &format!("c-{i}"),
                    customer_name: "김길동",
                    customer_phone: &format!("010{:08}", i),
                    product_name: "프리미엄 멤버십",
                    product_image_url: None,
                    amount: 10_000,
                    partner_order_id: &order,
                    id_key: "sandbox_success",
                    payment_info: "신한카드 1234*",
                    failure_reason: "한도초과",
                    failed_at_ms: clock.now_ms(),
                    token: &TokenHash::of(&new_recovery_token()),
                    payment_gateway: "UNKNOWN",
                },
            )
            .await?;
    }
    let shared: SharedClock = clock.clone();
    let provider = Arc::new(OutboxProvider {
        store: store.clone(),
        clock: shared.clone(),
    });
    let key = crate::domain::token::LinkKey::generate();
    let engine = Engine::new(store.clone(), shared.clone(), provider.clone(), key.clone());
    let mut engine_time = Duration::ZERO;
    let mut steps = 0;
    // Stage 1 is due at once; each later one (and the end) 72 h apart.
    for round in 0..5 {
        if round > 0 {
            clock.advance(chrono::Duration::hours(72));
        }
        let t = Instant::now();
        steps += engine.run_due(usize::MAX).await?;
        engine_time += t.elapsed();
    }
    let stage_sends = steps.saturating_sub(cases);

    // Baseline: the provider alone, same batch size, fresh dedupe keys.
    let msgs: Vec<OutgoingMessage> = (0..stage_sends)
        .map(|i| OutgoingMessage {
            dedupe_key: format!("bench-baseline-{i}"),
            maybe_sent: false,
            sent_since_ms: None,
            partner_id: partner.id,
            case_id: 1 + (i % cases.max(1)) as i64,
            stage: 1,
            last_stage: false,
            channel: Channel::Alimtalk,
            business_name: "Bench".into(),
            recipient: "01012345678".into(),
            body:
                "[Bench] 김길동님, 2026-11-22에 프리미엄 멤버십 정기 결제(10,000원)가 실패했어요."
                    .into(),
            link: "https://bench.example/?token=t".into(),
        })
        .collect();
    let t = Instant::now();
    for chunk in msgs.chunks(super::BATCH) {
        for r in provider.send_batch(chunk).await {
            r.map_err(|_| StoreError::Integrity("outbox baseline insert failed"))?;
        }
    }
    let outbox_time = t.elapsed();

    // Silent retries: the messages ran out (the scenario paused every
    // subscription), each case's D+1 retry is due; an engine that charges
    // makes them all through the sandbox, each approved (a win-back).
    let charging =
        Engine::new(store.clone(), shared.clone(), provider, key).with_charger(Charger {
            store: store.clone(),
            gateways: crate::gateway::Gateways::new(
                Arc::new(SandboxGateway::default()),
                Default::default(),
                None,
                store.clone(),
            ),
            clock: shared.clone(),
            settled: Default::default(),
        });
    let t = Instant::now();
    let silent_charges = charging.run_due(usize::MAX).await?;
    let charge_time = t.elapsed();
    Ok(EngineBench {
        cases,
        stage_sends,
        engine_time,
        outbox_time,
        silent_charges,
        charge_time,
    })
}
