//! The port the server implements: everything the page needs from storage and
//! payments, with no HTTP or SQL in sight.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::model::{PageError, PageRequest, PageView};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait RecoveryBackend: Send + Sync + 'static {
    /// Resolves the token, checks the origin, and decides which page to show
    /// and which messages it posts. Actions (pay, change method or date,
    /// remind later) are form posts the server handles outside Leptos.
    fn load(&self, req: PageRequest) -> BoxFuture<'_, Result<PageView, PageError>>;
}

/// How the backend travels through Leptos context.
pub type SharedBackend = Arc<dyn RecoveryBackend>;
