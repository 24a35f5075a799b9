//! The port the server implements: everything the page needs from storage and
//! payments, with no HTTP or SQL in sight.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::model::{EmbedRequest, PageError, PayOutcome, RecoveryView};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait RecoveryBackend: Send + Sync + 'static {
    /// Resolves the token and checks the origin; the page's data.
    fn load(&self, req: EmbedRequest) -> BoxFuture<'_, Result<RecoveryView, PageError>>;
    /// Charges the case's amount once, whatever the number of clicks.
    fn pay_now(&self, req: EmbedRequest) -> BoxFuture<'_, Result<PayOutcome, PageError>>;
}

/// How the backend travels through Leptos context.
pub type SharedBackend = Arc<dyn RecoveryBackend>;
