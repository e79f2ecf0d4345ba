//! The outbox's metrics: what relays sent and failed, how long events waited between their
//! write and their publish, and the backlog.

use crate::model::OutboxRecord;
use almacen::prelude::*;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// The outbox's backlog at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// Rows not published yet and not dead.
    pub pending: u64,
    /// Dead rows.
    pub dead: u64,
    /// How long the oldest pending row has waited since it was written.
    pub oldest_pending_age: Option<Duration>,
}

/// The backlog of `db`'s outbox now.
///
/// ```no_run
/// # async fn f(db: almacen::Database) -> almacen::Result<()> {
/// let backlog = almacen_events::backlog(&db).await?;
/// println!("{} pending, oldest {:?}", backlog.pending, backlog.oldest_pending_age);
/// # Ok(()) }
/// ```
pub async fn backlog(db: &Database) -> almacen::Result<Backlog> {
    let pending_rows = OutboxRecord::select().filter(OutboxRecord::PUBLISHED_AT.is_null().and(OutboxRecord::DEAD_AT.is_null()));
    let pending = pending_rows.count(db).await?;
    let dead = OutboxRecord::select().filter(OutboxRecord::DEAD_AT.is_not_null()).count(db).await?;
    let oldest = pending_rows.order_by(OutboxRecord::ID.asc()).limit(1).fetch_all(db).await?;
    let oldest_pending_age = oldest.first().map(|r| (Utc::now() - r.created_at).to_std().unwrap_or(Duration::ZERO));
    Ok(Backlog { pending, dead, oldest_pending_age })
}

struct Inner {
    registry: Registry,
    published: Counter,
    failed: Counter,
    dead: Counter,
    latency: Histogram,
    pending: Gauge,
    dead_rows: Gauge,
    oldest_age: Gauge<f64, AtomicU64>,
}

/// Relay metrics in the Prometheus text format (cheap to clone: clones share them). Give
/// them to relays with [`Relay::with_metrics`](crate::Relay::with_metrics), refresh the
/// backlog with [`refresh`](Self::refresh) before each scrape, and serve
/// [`render`](Self::render).
///
/// ```
/// let metrics = almacen_events::RelayMetrics::new();
/// assert!(metrics.render().contains("almacen_outbox_published_total 0"));
/// ```
#[derive(Clone)]
pub struct RelayMetrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RelayMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayMetrics").finish_non_exhaustive()
    }
}

impl Default for RelayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RelayMetrics {
    /// Metrics at zero.
    pub fn new() -> RelayMetrics {
        let mut registry = Registry::default();
        let published = Counter::default();
        registry.register("almacen_outbox_published", "Outbox rows sent and marked published", published.clone());
        let failed = Counter::default();
        registry.register("almacen_outbox_failed", "Failed sends that will be tried again", failed.clone());
        let dead = Counter::default();
        registry.register("almacen_outbox_dead", "Failed sends that parked their row as dead", dead.clone());
        let latency = Histogram::new(exponential_buckets(0.001, 2.0, 18));
        registry.register(
            "almacen_outbox_publish_delay_seconds",
            "Time from an event's write in its transaction to its publish",
            latency.clone(),
        );
        let pending = Gauge::default();
        registry.register("almacen_outbox_pending", "Rows waiting to be published (at the last refresh)", pending.clone());
        let dead_rows = Gauge::default();
        registry.register("almacen_outbox_dead_rows", "Dead rows in the outbox (at the last refresh)", dead_rows.clone());
        let oldest_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "almacen_outbox_oldest_pending_age_seconds",
            "How long the oldest pending row has waited (at the last refresh)",
            oldest_age.clone(),
        );
        RelayMetrics { inner: Arc::new(Inner { registry, published, failed, dead, latency, pending, dead_rows, oldest_age }) }
    }

    /// Read the backlog of `db`'s outbox into the gauges; returns it.
    pub async fn refresh(&self, db: &Database) -> almacen::Result<Backlog> {
        let b = backlog(db).await?;
        self.inner.pending.set(i64::try_from(b.pending).unwrap_or(i64::MAX));
        self.inner.dead_rows.set(i64::try_from(b.dead).unwrap_or(i64::MAX));
        self.inner.oldest_age.set(b.oldest_pending_age.map_or(0.0, |d| d.as_secs_f64()));
        Ok(b)
    }

    /// The metrics now (OpenMetrics 1.0 text).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }

    /// A row published `delay` after it was written.
    pub(crate) fn published(&self, delay: Duration) {
        self.inner.published.inc();
        self.inner.latency.observe(delay.as_secs_f64());
    }

    pub(crate) fn failed(&self) {
        self.inner.failed.inc();
    }

    pub(crate) fn dead(&self) {
        self.inner.dead.inc();
    }
}
