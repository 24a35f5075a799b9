//! The one worker loop. Every background queue (the scenario engine with its
//! silent charges and resolver, the notice delivery) implements [`Queue`]
//! and runs in this loop, each in a task of its own so that one queue's slow
//! batch (a partner endpoint that hangs, a slow PG) never holds back another.
//!
//! Work is claimed from the database under a lease of [`LEASE_MS`], shared
//! by every queue: a batch must end within half of it ([`SEND_BUDGET`]),
//! so the other half lets a send cut off at the deadline settle before
//! another instance may take the row.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::watch;

use crate::store::StoreError;

/// How long a claimed row is one worker's alone.
pub const LEASE_MS: i64 = 60_000;

/// How long a batch's sends may take from its claim: half the lease.
pub const SEND_BUDGET: Duration = Duration::from_millis(LEASE_MS as u64 / 2);

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A queue of due work in the database.
pub trait Queue: Send + Sync + 'static {
    /// For logs and metrics.
    fn name(&self) -> &'static str;
    /// How much one pass takes on; a pass ends within [`SEND_BUDGET`] of
    /// each claim.
    fn batch(&self) -> usize;
    /// Works through due rows until none is left or `max` were handled;
    /// returns how many were.
    fn run_due(&self, max: usize) -> BoxFuture<'_, Result<usize, StoreError>>;
}

/// Runs `queue` until `shutdown` flips: one batch after another while work
/// is due, otherwise every `poll`. Shutdown is seen between batches, so the
/// batch in flight (its sends, its charges) finishes and is recorded.
pub async fn run(queue: impl Queue, poll: Duration, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let started = std::time::Instant::now();
        let busy = match queue.run_due(queue.batch()).await {
            Ok(n) => {
                if n > 0 {
                    metrics::counter!("rebound_worker_items_total", "queue" => queue.name())
                        .increment(n as u64);
                }
                n > 0
            }
            Err(e) => {
                tracing::error!(queue = queue.name(), error = %e, "worker pass failed");
                false
            }
        };
        metrics::histogram!("rebound_worker_pass_seconds", "queue" => queue.name())
            .record(started.elapsed().as_secs_f64());
        if busy && !*shutdown.borrow() {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => return,
        }
    }
}
