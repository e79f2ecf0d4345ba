//! Reliable events for almacen services: the transactional outbox.
//!
//! A service writes its events in the same transaction as its data
//! ([`Publish::publish`]): an outbox row commits with the data or not at all. Relays
//! ([`Relay`]) read committed outbox rows and hand them to a [`Transport`], in order per
//! partition key, retrying with capped exponential backoff and parking a row as dead after
//! too many attempts. Delivery is at least once: a relay that stops between a publish and
//! its mark publishes the row again. Consumers make it once in effect with an [`Inbox`]:
//! the handler's writes and the message's record commit together.
//!
//! ```no_run
//! use almacen::prelude::*;
//! use almacen_events::{Event, InProcessBus, Publish, Relay, RelayConfig};
//!
//! # async fn f(db: Database) -> almacen::Result<()> {
//! db.create_tables(almacen_events::TABLES).await?; // or the service's migrations
//! let tx = db.begin().await?;
//! // ... the business writes ...
//! tx.publish(Event::new("order.placed", serde_json::json!({"order": 7})).aggregate("order", "7")).await?;
//! tx.commit().await?;
//!
//! let bus = InProcessBus::new();
//! let relay = Relay::new(db.clone(), bus.clone(), RelayConfig::default());
//! relay.run_once().await?;
//! # Ok(()) }
//! ```
//!
//! How the relays share the work: each row belongs to one of [`BUCKETS`] buckets (a stable
//! hash of its partition key). A relay claims buckets, publishes their rows in id order and
//! marks them. On PostgreSQL and MariaDB a claim is a transaction that holds the buckets'
//! rows with `FOR UPDATE SKIP LOCKED` until the marks commit: another relay skips them, and a
//! relay that dies releases them with its connection. On SQLite, whose one writer cannot be
//! held while a broker answers, a claim is a lease written on the bucket row, which another
//! relay may take once it expires. Either way one relay at a time publishes a bucket, so a
//! key's events go out in the order of their ids. A row is found by a query for unpublished
//! rows, not by an id past the last one seen, so a row whose transaction commits late is
//! never skipped.

mod bus;
mod cleanup;
#[cfg(feature = "cli")]
pub mod cli;
mod event;
mod inbox;
mod metrics;
mod model;
#[cfg(feature = "nats")]
mod nats;
mod publish;
mod relay;
mod transport;

pub use bus::InProcessBus;
pub use event::{Event, Message};
pub use inbox::{Handled, Inbox, InboxRecord, ParkedMessage};
pub use metrics::{Backlog, RelayMetrics, backlog};
pub use model::{BUCKETS, NewOutboxRecord, OutboxBucket, OutboxRecord, TABLES, bucket_of};
#[cfg(feature = "nats")]
pub use nats::{NatsJetStream, NatsSubscriber};
pub use publish::Publish;
pub use relay::{DeadLetters, NOTIFY_CHANNEL, Relay, RelayConfig, RelayRound};
pub use transport::{Transport, TransportError};
