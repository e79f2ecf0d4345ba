//! Where a relay sends messages.

use crate::event::Message;
use futures::future::BoxFuture;

/// A broker, a bus or a webhook: sends one message and says when it has it.
///
/// `send` returns `Ok` only once the other side has the message (a broker's ack, a
/// publisher confirm, a handler's commit): the relay then marks the row published.
pub trait Transport: Send + Sync + 'static {
    /// Send `message`.
    fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), TransportError>>;
}

/// A message the transport could not deliver; the relay retries it later.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

impl TransportError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> TransportError {
        TransportError(message.into())
    }
}
