//! Idempotent consumers: a message's effects and the record that it was handled commit in
//! one transaction, so a message delivered again has no second effect.

use crate::event::Message;
use almacen::prelude::*;
use std::time::Duration;

/// A message a consumer has handled (`almacen_inbox`): its effects committed with this row.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "almacen_inbox", unique("consumer", "message_id"))]
pub struct InboxRecord {
    /// Generated key.
    #[model(primary_key, auto)]
    pub id: i64,
    /// The consumer's name: each consumer handles a message once.
    #[model(max_len = 100)]
    pub consumer: String,
    /// The message's id ([`Message::id`]).
    pub message_id: Uuid,
    /// The message's type, for whoever reads the table.
    #[model(max_len = 200)]
    pub event_type: String,
    /// When it was handled (UTC).
    #[model(index)]
    pub handled_at: DateTime<Utc>,
}

/// A message a consumer gave up on (`almacen_parked_messages`): unreadable, or its handler
/// failed on every delivery the subscriber allows. Kept for a person to look at.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "almacen_parked_messages")]
pub struct ParkedMessage {
    /// Generated key.
    #[model(primary_key, auto)]
    pub id: i64,
    /// The consumer that parked it.
    #[model(max_len = 100)]
    pub consumer: String,
    /// The message's id, when it could be read.
    pub message_id: Option<Uuid>,
    /// Where it came from (a broker subject, queue or stream).
    #[model(max_len = 500)]
    pub source: String,
    /// The body as received.
    pub body: Vec<u8>,
    /// Why it was parked.
    #[model(max_len = 2000)]
    pub error: String,
    /// When (UTC).
    pub parked_at: DateTime<Utc>,
}

/// What [`Inbox::handle`] did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled<T> {
    /// The handler ran and its transaction committed with the message recorded.
    Applied(T),
    /// This consumer had handled the message already: the handler did not run.
    Duplicate,
}

/// One consumer's inbox.
///
/// ```no_run
/// use almacen::prelude::*;
/// use almacen_events::{Handled, Inbox, Message};
/// # async fn f(db: Database, message: Message) -> almacen::Result<()> {
/// let inbox = Inbox::new(db, "billing");
/// let outcome = inbox
///     .handle(&message, async |tx| {
///         tx.execute_raw("UPDATE accounts SET paid = paid + 1 WHERE id = 1", params! {}).await?;
///         Ok::<_, almacen::Error>(())
///     })
///     .await?;
/// if outcome == Handled::Duplicate {
///     println!("{} was handled before", message.id);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Inbox {
    db: Database,
    consumer: String,
}

impl Inbox {
    /// The inbox of consumer `consumer` in `db`.
    pub fn new(db: Database, consumer: impl Into<String>) -> Inbox {
        Inbox { db, consumer: consumer.into() }
    }

    /// Run `handler` in a transaction that also records `message` for this consumer; if
    /// the consumer handled it before, do nothing and say so. When the handler fails, its
    /// transaction rolls back, the message stays unrecorded, and the error is returned (a
    /// redelivery runs it again). Two deliveries of one message at once: one runs, the
    /// other waits for it and then finds it handled (or runs, if the first rolled back).
    pub async fn handle<T, E, F>(&self, message: &Message, handler: F) -> Result<Handled<T>, E>
    where
        F: AsyncFnOnce(&Transaction) -> Result<T, E>,
        E: From<almacen::Error>,
    {
        let tx = self.db.begin().await?;
        let record = NewInboxRecord {
            consumer: self.consumer.clone(),
            message_id: message.id,
            event_type: message.event_type.clone(),
            handled_at: Utc::now(),
        };
        match InboxRecord::insert(&tx, record).await {
            Ok(_) => {}
            Err(almacen::Error::UniqueViolation(_)) => {
                tx.rollback().await?;
                return Ok(Handled::Duplicate);
            }
            Err(e) => return Err(e.into()),
        }
        match handler(&tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(Handled::Applied(value))
            }
            Err(e) => {
                tx.rollback().await?;
                Err(e)
            }
        }
    }

    /// Park a message this consumer gives up on (see [`ParkedMessage`]).
    pub async fn park(&self, message_id: Option<Uuid>, source: &str, body: &[u8], error: &str) -> almacen::Result<ParkedMessage> {
        let record = NewParkedMessage {
            consumer: self.consumer.clone(),
            message_id,
            source: source.chars().take(500).collect(),
            body: body.to_vec(),
            error: error.chars().take(2000).collect(),
            parked_at: Utc::now(),
        };
        ParkedMessage::insert(&self.db, record).await
    }

    /// Up to `limit` of this consumer's parked messages, oldest first.
    pub async fn parked(&self, limit: u64) -> almacen::Result<Vec<ParkedMessage>> {
        ParkedMessage::select()
            .filter(ParkedMessage::CONSUMER.eq(self.consumer.clone()))
            .order_by(ParkedMessage::ID.asc())
            .limit(limit)
            .fetch_all(&self.db)
            .await
    }

    /// This consumer's name.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// Forget this consumer's messages handled more than `retention` ago, `batch` at a
    /// time; returns how many. A message redelivered after its record is gone is handled
    /// again, so keep records longer than a broker may redeliver.
    pub async fn clean(&self, retention: Duration, batch: u64) -> almacen::Result<u64> {
        let old = InboxRecord::CONSUMER.eq(self.consumer.clone()).and(InboxRecord::HANDLED_AT.lt(crate::cleanup::ago(retention)));
        crate::cleanup::delete_in_batches(&self.db, old, InboxRecord::ID, batch).await
    }
}
