//! The analytics rollup as a queue of the worker loop: folds the logged
//! changes into the daily figures now and then, so the change log stays
//! short when nobody reads the figures. A read folds what is left itself
//! (`Store::analytics_days`), so this cadence never makes figures stale.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock::SharedClock;
use crate::store::{Store, StoreError};
use crate::worker::{BoxFuture, Queue};

/// At most one fold this often: while the engine works through a backlog,
/// each fold recomputes every day it touched.
pub const FOLD_EVERY: Duration = Duration::from_secs(60);

pub struct Rollup {
    store: Store,
    clock: SharedClock,
    last: Mutex<Option<Instant>>,
}

impl Rollup {
    pub fn new(store: Store, clock: SharedClock) -> Rollup {
        Rollup {
            store,
            clock,
            last: Mutex::new(None),
        }
    }

    async fn fold(&self) -> Result<usize, StoreError> {
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < FOLD_EVERY) {
                return Ok(0);
            }
            *last = Some(Instant::now());
        }
        self.store
            .fold_analytics(None, self.clock.now().timestamp_millis())
            .await
    }
}

impl Queue for Rollup {
    fn name(&self) -> &'static str {
        "analytics"
    }

    fn batch(&self) -> usize {
        1
    }

    fn run_due(&self, _max: usize) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(self.fold())
    }
}
