//! What a service publishes ([`Event`]) and what a transport sends ([`Message`]).

use almacen::prelude::*;
use serde::{Deserialize, Serialize};

/// An event to write to the outbox with [`Publish::publish`](crate::Publish::publish).
///
/// ```
/// use almacen_events::Event;
/// let event = Event::new("order.placed", serde_json::json!({"order": 7}))
///     .aggregate("order", "7")
///     .header("correlation_id", "c-42");
/// assert_eq!(event.partition_key(), "order:7");
/// ```
#[derive(Debug, Clone)]
pub struct Event {
    pub(crate) event_type: String,
    pub(crate) payload: serde_json::Value,
    pub(crate) aggregate_type: String,
    pub(crate) aggregate_id: String,
    pub(crate) partition_key: Option<String>,
    pub(crate) headers: serde_json::Map<String, serde_json::Value>,
}

impl Event {
    /// An event of `event_type` with this payload, about no aggregate yet.
    pub fn new(event_type: impl Into<String>, payload: impl Into<serde_json::Value>) -> Event {
        Event {
            event_type: event_type.into(),
            payload: payload.into(),
            aggregate_type: String::new(),
            aggregate_id: String::new(),
            partition_key: None,
            headers: serde_json::Map::new(),
        }
    }

    /// An event whose payload is `value` written as JSON.
    ///
    /// ```
    /// #[derive(serde::Serialize)]
    /// struct Placed { order: i64 }
    /// let event = almacen_events::Event::json("order.placed", &Placed { order: 7 }).unwrap();
    /// ```
    pub fn json(event_type: impl Into<String>, value: &impl Serialize) -> Result<Event, serde_json::Error> {
        Ok(Event::new(event_type, serde_json::to_value(value)?))
    }

    /// The aggregate the event is about; also its partition key (`"type:id"`) unless one is
    /// set with [`partition_key`](Self::partition_key).
    pub fn aggregate(mut self, aggregate_type: impl Into<String>, aggregate_id: impl ToString) -> Event {
        self.aggregate_type = aggregate_type.into();
        self.aggregate_id = aggregate_id.to_string();
        self
    }

    /// The key whose events are published in order (by default the aggregate's).
    pub fn with_partition_key(mut self, key: impl Into<String>) -> Event {
        self.partition_key = Some(key.into());
        self
    }

    /// A header sent with the event (trace and correlation ids, and the producer's own).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<serde_json::Value>) -> Event {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// The outbox row this event becomes, written now, with a new id: what
    /// [`Publish::publish`](crate::Publish::publish) inserts. For loading many at once
    /// (`OutboxRecord::insert_many` in a transaction); such rows wake no PostgreSQL relay
    /// until its next poll.
    ///
    /// ```
    /// let row = almacen_events::Event::new("order.placed", serde_json::json!({})).aggregate("order", 7).into_outbox_row();
    /// assert_eq!((row.partition_key.as_str(), row.bucket), ("order:7", almacen_events::bucket_of("order:7")));
    /// ```
    pub fn into_outbox_row(self) -> crate::NewOutboxRecord {
        let now = Utc::now();
        let partition_key = self.partition_key();
        crate::NewOutboxRecord {
            event_id: Uuid::new_v4(),
            aggregate_type: self.aggregate_type,
            aggregate_id: self.aggregate_id,
            event_type: self.event_type,
            payload: self.payload,
            headers: serde_json::Value::Object(self.headers),
            bucket: crate::bucket_of(&partition_key),
            partition_key,
            created_at: now,
            available_at: now,
            attempts: 0,
            last_error: None,
            published_at: None,
            dead_at: None,
        }
    }

    /// The partition key the event will have.
    pub fn partition_key(&self) -> String {
        match &self.partition_key {
            Some(key) => key.clone(),
            None => format!("{}:{}", self.aggregate_type, self.aggregate_id),
        }
    }
}

/// An event as a transport sends it: an outbox row's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The event's id (consumers deduplicate on it).
    pub id: Uuid,
    /// What happened.
    pub event_type: String,
    /// The kind of entity it is about.
    pub aggregate_type: String,
    /// Which one.
    pub aggregate_id: String,
    /// The key whose events arrive in order.
    pub partition_key: String,
    /// The body.
    pub payload: serde_json::Value,
    /// Headers (trace and correlation ids…).
    pub headers: serde_json::Value,
    /// When the producing transaction wrote it.
    pub created_at: DateTime<Utc>,
}

impl From<&crate::OutboxRecord> for Message {
    fn from(r: &crate::OutboxRecord) -> Message {
        Message {
            id: r.event_id,
            event_type: r.event_type.clone(),
            aggregate_type: r.aggregate_type.clone(),
            aggregate_id: r.aggregate_id.clone(),
            partition_key: r.partition_key.clone(),
            payload: r.payload.clone(),
            headers: r.headers.clone(),
            created_at: r.created_at,
        }
    }
}
