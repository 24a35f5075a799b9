//! `server bench notify`: notices delivered per second to a local receiver
//! (claim, sign, POST, acknowledgement, record), against plain POSTs of the
//! same bodies to the same receiver at the same concurrency, in one run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::Notifier;
use crate::clock::{SharedClock, SystemClock};
use crate::domain::origin::{AllowedOrigins, Origin};
use crate::domain::token::{TokenHash, new_recovery_token};
use crate::store::{FailedOrderSeed, Store, StoreError};

pub struct NotifyBench {
    pub deliveries: usize,
    pub notifier_time: Duration,
    pub plain_time: Duration,
}

impl NotifyBench {
    pub fn deliveries_per_second(&self) -> f64 {
        self.deliveries as f64 / self.notifier_time.as_secs_f64()
    }

    pub fn plain_per_second(&self) -> f64 {
        self.deliveries as f64 / self.plain_time.as_secs_f64()
    }
}

/// Seeds `n` failed orders (each writes one notice) on a fresh database and
/// delivers them all to a receiver on 127.0.0.1.
pub async fn run(store: &Store, n: usize) -> Result<NotifyBench, Box<dyn std::error::Error>> {
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                axum::Json(serde_json::json!({"code": 0, "message": "OK"}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let clock: SharedClock = Arc::new(SystemClock);
    let now = clock.now().timestamp_millis();
    let origins = AllowedOrigins::new(vec![
        Origin::parse("https://bench.example").expect("valid origin"),
    ]);
    let partner = store
        .create_partner(
            "bench-notify",
            "Bench",
            &origins,
            &TokenHash::of(&new_recovery_token()),
            now,
        )
        .await?;
    store.set_partner_notify_url(partner.id, Some(&url)).await?;
    for i in 0..n {
        store
            .seed_failed_order(
                partner.id,
                &FailedOrderSeed {
                    partner_customer_id: &format!("c-{i}"),
                    customer_name: "김길동",
                    customer_phone: "01012345678",
                    product_name: "프리미엄 멤버십",
                    product_image_url: None,
                    amount: 10_000,
                    partner_order_id: &format!("bench-{i}"),
                    id_key: "sandbox_success",
                    payment_info: "신한카드 1234*",
                    failure_reason: "한도초과",
                    failed_at_ms: now,
                    token: &TokenHash::of(&new_recovery_token()),
                    payment_gateway: "UNKNOWN",
                },
            )
            .await?;
    }
    let notifier = Notifier::new(store.clone(), clock, true);
    let t = Instant::now();
    let mut deliveries = 0;
    while deliveries < n {
        let done = notifier.run_due(usize::MAX).await?;
        if done == 0 {
            break;
        }
        deliveries += done;
    }
    let notifier_time = t.elapsed();
    if received.load(Ordering::Relaxed) < n {
        return Err(StoreError::Integrity("the bench receiver missed notices").into());
    }

    // Baseline: the same number of POSTs of a notice-sized body, 16 at a time.
    let http = reqwest::Client::new();
    let body =
        serde_json::json!({"noti_type": "subscription.status_changed", "pad": "x".repeat(400)})
            .to_string();
    let t = Instant::now();
    futures_util::stream::iter(0..n)
        .map(|_| http.post(&url).body(body.clone()).send())
        .buffer_unordered(16)
        .for_each(|_| async {})
        .await;
    Ok(NotifyBench {
        deliveries,
        notifier_time,
        plain_time: t.elapsed(),
    })
}
