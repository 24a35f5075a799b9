//! What every handler shares. Its own module so that handlers depend on it,
//! and the composition root (`startup.rs`) on them, with no circle.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::charging::Settled;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::gateway::Gateways;
use crate::limits::RateLimits;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// The server-wide gateway and partners' own accounts.
    pub gateways: Gateways,
    pub clock: SharedClock,
    pub config: Arc<Config>,
    pub leptos: LeptosOptions,
    /// True once shutdown began (`/readyz` then answers 503).
    pub stopping: tokio::sync::watch::Receiver<bool>,
    pub limits: Arc<RateLimits>,
    /// Wakes page requests waiting on a charge in flight.
    pub settled: Settled,
    /// Password hashes, on low-priority threads of their own.
    pub hasher: crate::hashing::Hasher,
}

impl AppState {
    /// The one charge path, for a handler that charges (the console's
    /// "retry now").
    pub fn charger(&self) -> crate::charging::Charger {
        crate::charging::Charger {
            store: self.store.clone(),
            gateways: self.gateways.clone(),
            clock: self.clock.clone(),
            settled: self.settled.clone(),
        }
    }

    /// Refunds of charges flagged NEEDS_REFUND (the console's button).
    pub fn refunder(&self) -> crate::refunding::Refunder {
        crate::refunding::Refunder {
            store: self.store.clone(),
            gateways: self.gateways.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
