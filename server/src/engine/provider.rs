//! Message providers behind one trait. The outbox (the default) stores each
//! message for the dev page; HTTP adapters for AlimTalk implement the same
//! trait.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::StreamExt;

use crate::domain::scenario::Channel;
use crate::store::Store;

/// One stage's message to one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The same on every attempt of a stage; providers deduplicate on it.
    pub dedupe_key: String,
    /// An earlier try of this stage may have reached the provider (its
    /// outcome was never recorded): an adapter whose provider has no
    /// idempotency key looks for that message before sending again.
    pub maybe_sent: bool,
    /// Only a send at or after this time can be this message: a resend has
    /// the text of its stage's first send, which is not it. `None`: any
    /// send the provider still lists.
    pub sent_since_ms: Option<i64>,
    pub partner_id: i64,
    pub case_id: i64,
    pub stage: i64,
    /// The scenario's last stage (providers may use another template).
    pub last_stage: bool,
    pub channel: Channel,
    /// The partner's business name (an LMS subject, a sender label).
    pub business_name: String,
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
    /// For metrics (`rebound_stage_sends_total{provider}`).
    fn name(&self) -> &'static str {
        "other"
    }

    /// Sends, or recognises a message already sent with the same dedupe key.
    /// Returns the provider's reference.
    fn send<'a>(&'a self, msg: &'a OutgoingMessage) -> BoxFuture<'a, Result<String, SendError>>;

    /// The most messages one batch may hold. A batch's cases are leased
    /// for `engine::LEASE_MS`, and the engine stops waiting for its sends
    /// at `engine::SEND_BUDGET` (their outcome is then unknown and the next
    /// try asks the provider first): one round of concurrent sends by
    /// default, so a batch does not run into the budget unless the provider
    /// is slow.
    fn batch_limit(&self) -> usize {
        SEND_CONCURRENCY
    }

    /// Sends a batch, one result per message in order. By default a few
    /// sends at a time; a provider with a cheaper bulk path overrides it.
    fn send_batch<'a>(
        &'a self,
        msgs: &'a [OutgoingMessage],
    ) -> BoxFuture<'a, Vec<Result<String, SendError>>> {
        Box::pin(
            futures_util::stream::iter(msgs)
                .map(|m| self.send(m))
                .buffered(SEND_CONCURRENCY)
                .collect(),
        )
    }
}

/// Sends in flight at once per worker for HTTP providers.
pub const SEND_CONCURRENCY: usize = 16;

pub type SharedProvider = Arc<dyn MessageProvider>;

/// Stores messages in `outbox_messages`; the unique dedupe key makes a resend
/// after a crash a no-op, so each stage is in the outbox exactly once.
pub struct OutboxProvider {
    pub store: Store,
    pub clock: crate::clock::SharedClock,
}

impl MessageProvider for OutboxProvider {
    fn name(&self) -> &'static str {
        "outbox"
    }

    fn send<'a>(&'a self, msg: &'a OutgoingMessage) -> BoxFuture<'a, Result<String, SendError>> {
        Box::pin(async move {
            self.store
                .put_outbox_message(msg, self.clock.now().timestamp_millis())
                .await
                .map(|()| format!("outbox:{}", msg.dedupe_key))
                .map_err(|e| SendError::Retryable(e.to_string()))
        })
    }

    /// Writing a thousand rows takes milliseconds.
    fn batch_limit(&self) -> usize {
        super::BATCH
    }

    /// The whole batch in one transaction.
    fn send_batch<'a>(
        &'a self,
        msgs: &'a [OutgoingMessage],
    ) -> BoxFuture<'a, Vec<Result<String, SendError>>> {
        Box::pin(async move {
            match self
                .store
                .put_outbox_messages(msgs, self.clock.now().timestamp_millis())
                .await
            {
                Ok(()) => msgs
                    .iter()
                    .map(|m| Ok(format!("outbox:{}", m.dedupe_key)))
                    .collect(),
                Err(e) => msgs
                    .iter()
                    .map(|_| Err(SendError::Retryable(e.to_string())))
                    .collect(),
            }
        })
    }
}

/// Where stage messages go (`REBOUND_MESSAGES`): the provider's own
/// settings, which the configuration reads from the environment.
#[derive(Debug, Clone)]
pub enum MessagesConfig {
    /// Stored and shown on `/dev/outbox`; nothing reaches a phone.
    Outbox,
    /// Naver Cloud SENS AlimTalk with SMS fallback.
    Sens(Box<super::sens::SensConfig>),
}

/// The provider the operator configured (`REBOUND_MESSAGES`).
pub fn from_config(
    config: &MessagesConfig,
    store: &Store,
    clock: &crate::clock::SharedClock,
) -> SharedProvider {
    match config {
        MessagesConfig::Outbox => Arc::new(OutboxProvider {
            store: store.clone(),
            clock: clock.clone(),
        }),
        MessagesConfig::Sens(sens) => Arc::new(super::sens::SensProvider::new(
            (**sens).clone(),
            clock.clone(),
        )),
    }
}
