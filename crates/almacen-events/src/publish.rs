//! Writing an event to the outbox in the caller's transaction.

use crate::event::Event;
use crate::model::OutboxRecord;
use almacen::prelude::*;

/// `tx.publish(event)`: the event is written to the outbox in this transaction, so it is
/// published if and only if the transaction commits. On PostgreSQL it also notifies
/// listening relays, which wake when the transaction commits.
///
/// ```no_run
/// use almacen::prelude::*;
/// use almacen_events::{Event, Publish};
/// # async fn f(db: Database) -> almacen::Result<()> {
/// db.transaction(async |tx| {
///     tx.publish(Event::new("order.placed", serde_json::json!({"order": 7})).aggregate("order", 7)).await?;
///     Ok::<_, almacen::Error>(())
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub trait Publish {
    /// Write `event` to the outbox; returns its id.
    fn publish(&self, event: Event) -> impl Future<Output = almacen::Result<Uuid>> + Send;
}

impl Publish for Transaction {
    async fn publish(&self, event: Event) -> almacen::Result<Uuid> {
        let id = OutboxRecord::insert(self, event.into_outbox_row()).await?.event_id;
        if self.dialect() == almacen::Dialect::Postgres {
            // Relays listening wake at the commit (PostgreSQL sends one per transaction).
            self.execute_raw("SELECT pg_notify(:channel, '')", params! { "channel" => crate::relay::NOTIFY_CHANNEL }).await?;
        }
        Ok(id)
    }
}
