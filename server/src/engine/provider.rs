//! Message providers behind one trait. The outbox (the default) stores each
//! message for the dev page; HTTP adapters for AlimTalk implement the same
//! trait.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::domain::scenario::Channel;
use crate::store::Store;

/// One stage's message to one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The same on every attempt of a stage; providers deduplicate on it.
    pub dedupe_key: String,
    pub partner_id: i64,
    pub case_id: i64,
    pub stage: i64,
    pub channel: Channel,
    /// The customer's phone number.
    pub recipient: String,
    pub body: String,
    /// The recovery link in the body (for providers with link buttons).
    pub link: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later (timeouts, 5xx, throttling).
    #[error("send failed, will retry: {0}")]
    Retryable(String),
    /// Will never work (invalid number, template rejected).
    #[error("send failed for good: {0}")]
    Permanent(String),
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait MessageProvider: Send + Sync + 'static {
    /// Sends, or recognises a message already sent with the same dedupe key.
    /// Returns the provider's reference.
    fn send<'a>(&'a self, msg: &'a OutgoingMessage) -> BoxFuture<'a, Result<String, SendError>>;
}

pub type SharedProvider = Arc<dyn MessageProvider>;

/// Stores messages in `outbox_messages`; the unique dedupe key makes a resend
/// after a crash a no-op, so each stage is in the outbox exactly once.
pub struct OutboxProvider {
    pub store: Store,
    pub clock: crate::clock::SharedClock,
}

impl MessageProvider for OutboxProvider {
    fn send<'a>(&'a self, msg: &'a OutgoingMessage) -> BoxFuture<'a, Result<String, SendError>> {
        Box::pin(async move {
            self.store
                .put_outbox_message(msg, self.clock.now().timestamp_millis())
                .await
                .map(|()| format!("outbox:{}", msg.dedupe_key))
                .map_err(|e| SendError::Retryable(e.to_string()))
        })
    }
}
