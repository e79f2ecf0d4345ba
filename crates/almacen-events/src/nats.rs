//! NATS JetStream as a transport (feature `nats`).

use crate::event::Message;
use crate::transport::{Transport, TransportError};
use async_nats::jetstream;
use futures::future::BoxFuture;

/// Publishes each message to JetStream on subject `<prefix>.<event type>` and waits for the
/// stream's acknowledgement. The message's id goes in the `Nats-Msg-Id` header, so the
/// stream drops a message the relay sends again within its duplicate window. The body is
/// the [`Message`] as JSON.
///
/// ```no_run
/// # async fn f(db: almacen::Database) -> Result<(), Box<dyn std::error::Error>> {
/// let nats = almacen_events::NatsJetStream::connect("nats://127.0.0.1:4222", "EVENTS", "events").await?;
/// let relay = almacen_events::Relay::new(db, nats, Default::default());
/// relay.run_once().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct NatsJetStream {
    context: jetstream::Context,
    prefix: String,
}

impl NatsJetStream {
    /// Connect to `url` and make sure stream `stream` exists and takes `<prefix>.>` (it is
    /// created with the server's defaults when missing; an existing one is left as it is).
    pub async fn connect(url: &str, stream: &str, prefix: &str) -> Result<NatsJetStream, TransportError> {
        let client = async_nats::connect(url).await.map_err(|e| TransportError::new(format!("NATS at {url}: {e}")))?;
        let context = jetstream::new(client);
        context
            .get_or_create_stream(jetstream::stream::Config {
                name: stream.to_string(),
                subjects: vec![format!("{prefix}.>")],
                ..Default::default()
            })
            .await
            .map_err(|e| TransportError::new(format!("JetStream stream {stream}: {e}")))?;
        Ok(NatsJetStream { context, prefix: prefix.to_string() })
    }

    /// The subject a message goes to.
    pub fn subject(&self, message: &Message) -> String {
        format!("{}.{}", self.prefix, message.event_type)
    }
}

impl Transport for NatsJetStream {
    fn send<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            let body = serde_json::to_vec(message).map_err(|e| TransportError::new(e.to_string()))?;
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", message.id.to_string().as_str());
            let ack = self
                .context
                .publish_with_headers(self.subject(message), headers, body.into())
                .await
                .map_err(|e| TransportError::new(format!("JetStream publish: {e}")))?;
            ack.await.map_err(|e| TransportError::new(format!("JetStream acknowledgement: {e}")))?;
            Ok(())
        })
    }
}
