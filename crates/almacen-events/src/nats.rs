//! NATS JetStream as a transport (feature `nats`).

use crate::event::Message;
use crate::transport::{Transport, TransportError};
use async_nats::jetstream;
use futures::future::BoxFuture;

/// A JetStream context on the server at `url` (its password, if any, never in the error).
async fn connect(url: &str) -> Result<jetstream::Context, TransportError> {
    let client = async_nats::connect(url).await.map_err(|e| TransportError::new(format!("NATS at {}: {e}", almacen::redacted_url(url))))?;
    Ok(jetstream::new(client))
}

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
        let context = connect(url).await?;
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

/// Consumes a JetStream stream through a durable pull consumer into an [`Inbox`](crate::Inbox): each
/// message's handler runs in a transaction with the inbox record, then the message is
/// acknowledged. A message already handled is acknowledged without running the handler
/// (a redelivery after a lost ack has no second effect). A failed handler's message is
/// delivered again after `retry_delay`, up to `max_deliver` deliveries; then, like a
/// message that is not a [`Message`] at all, it is parked ([`Inbox::park`](crate::Inbox::park)) and terminated.
///
/// ```no_run
/// use almacen::prelude::*;
/// use almacen_events::{Inbox, Message, NatsSubscriber};
/// # async fn f(db: Database) -> Result<(), Box<dyn std::error::Error>> {
/// let inbox = Inbox::new(db.clone(), "billing");
/// let subscriber = NatsSubscriber::connect("nats://127.0.0.1:4222", "EVENTS", "billing", "events.>", inbox).await?;
/// subscriber
///     .run(
///         async |tx: &Transaction, message: &Message| {
///             tx.execute_raw("UPDATE accounts SET paid = paid + 1 WHERE id = :id", params! {"id" => 1}).await?;
///             Ok::<_, almacen::Error>(())
///         },
///         async { tokio::signal::ctrl_c().await.ok(); },
///     )
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct NatsSubscriber {
    consumer: jetstream::consumer::PullConsumer,
    inbox: crate::Inbox,
    /// Deliveries before a failing message is parked.
    pub max_deliver: i64,
    /// The wait before a failed message comes again.
    pub retry_delay: std::time::Duration,
}

impl NatsSubscriber {
    /// Connect to `url` and make (or reuse) the durable pull consumer `durable` of stream
    /// `stream`, taking subjects that match `filter_subject`. Defaults: 5 deliveries, 1 s
    /// between them.
    pub async fn connect(
        url: &str,
        stream: &str,
        durable: &str,
        filter_subject: &str,
        inbox: crate::Inbox,
    ) -> Result<NatsSubscriber, TransportError> {
        let context = connect(url).await?;
        let stream = context.get_stream(stream).await.map_err(|e| TransportError::new(format!("JetStream stream {stream}: {e}")))?;
        let consumer = stream
            .get_or_create_consumer(
                durable,
                jetstream::consumer::pull::Config {
                    durable_name: Some(durable.to_string()),
                    filter_subject: filter_subject.to_string(),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| TransportError::new(format!("JetStream consumer {durable}: {e}")))?;
        Ok(NatsSubscriber { consumer, inbox, max_deliver: 5, retry_delay: std::time::Duration::from_secs(1) })
    }

    /// Handle messages with `handler` until `shutdown` completes. Returns an error when the
    /// subscription fails or the database does (the message in hand is then delivered
    /// again later).
    pub async fn run<E, H>(&self, handler: H, shutdown: impl Future<Output = ()>) -> Result<(), TransportError>
    where
        H: AsyncFn(&almacen::Transaction, &Message) -> Result<(), E>,
        E: From<almacen::Error> + std::fmt::Display,
    {
        use futures::StreamExt;
        tokio::pin!(shutdown);
        let mut messages = self.consumer.messages().await.map_err(|e| TransportError::new(format!("JetStream subscription: {e}")))?;
        loop {
            let next = tokio::select! {
                next = messages.next() => next,
                () = &mut shutdown => return Ok(()),
            };
            let Some(next) = next else { return Err(TransportError::new("the JetStream subscription ended")) };
            let delivery = next.map_err(|e| TransportError::new(format!("JetStream subscription: {e}")))?;
            self.handle_one(&delivery, &handler).await?;
        }
    }

    async fn handle_one<E, H>(&self, delivery: &jetstream::Message, handler: &H) -> Result<(), TransportError>
    where
        H: AsyncFn(&almacen::Transaction, &Message) -> Result<(), E>,
        E: From<almacen::Error> + std::fmt::Display,
    {
        use jetstream::AckKind;
        let ack = |kind: AckKind| async move {
            delivery.ack_with(kind).await.map_err(|e| TransportError::new(format!("JetStream acknowledgement: {e}")))
        };
        let source = delivery.subject.to_string();
        let message: Message = match serde_json::from_slice(&delivery.payload) {
            Ok(message) => message,
            Err(e) => {
                self.park(None, &source, &delivery.payload, &format!("not a message: {e}")).await?;
                return ack(AckKind::Term).await;
            }
        };
        match self.inbox.handle(&message, async |tx| handler(tx, &message).await).await {
            Ok(_) => ack(AckKind::Ack).await,
            Err(e) => {
                let delivered = delivery.info().map(|i| i.delivered).unwrap_or(1);
                tracing::warn!(message_id = %message.id, delivered, error = %e, "almacen-events: a handler failed");
                if delivered >= self.max_deliver {
                    self.park(Some(message.id), &source, &delivery.payload, &e.to_string()).await?;
                    ack(AckKind::Term).await
                } else {
                    ack(AckKind::Nak(Some(self.retry_delay))).await
                }
            }
        }
    }

    async fn park(&self, id: Option<almacen::prelude::Uuid>, source: &str, body: &[u8], error: &str) -> Result<(), TransportError> {
        tracing::warn!(consumer = self.inbox.consumer(), source, error, "almacen-events: a message was parked");
        self.inbox.park(id, source, body, error).await.map(|_| ()).map_err(|e| TransportError::new(format!("parking a message: {e}")))
    }
}
