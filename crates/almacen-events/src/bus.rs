//! The in-process bus: the embedded default, no broker.

use crate::event::Message;
use crate::transport::{Transport, TransportError};
use futures::future::BoxFuture;
use std::sync::{Arc, Mutex};

type Handler = Arc<dyn Fn(Message) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Hands each message to every subscribed handler in this process and reports it sent only
/// once all of them returned `Ok`. A handler that fails makes the relay send the message
/// again later, to every handler: handlers must be idempotent.
///
/// ```
/// use almacen_events::InProcessBus;
/// let bus = InProcessBus::new();
/// bus.subscribe(|message| async move {
///     println!("{} {}", message.event_type, message.payload);
///     Ok(())
/// });
/// ```
#[derive(Clone, Default)]
pub struct InProcessBus {
    handlers: Arc<Mutex<Vec<Handler>>>,
}

impl std::fmt::Debug for InProcessBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessBus").field("handlers", &self.handlers().len()).finish()
    }
}

impl InProcessBus {
    /// A bus with no handlers.
    pub fn new() -> InProcessBus {
        InProcessBus::default()
    }

    /// Call `handler` with every message from now on.
    pub fn subscribe<F, Fut>(&self, handler: F)
    where
        F: Fn(Message) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |m| Box::pin(handler(m)));
        self.handlers.lock().unwrap_or_else(|p| p.into_inner()).push(handler);
    }

    fn handlers(&self) -> Vec<Handler> {
        self.handlers.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Transport for InProcessBus {
    fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            for handler in self.handlers() {
                handler(message.clone()).await.map_err(TransportError)?;
            }
            Ok(())
        })
    }
}
