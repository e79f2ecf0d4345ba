//! Relays: publish the outbox's committed rows through a transport, in order per partition
//! key, with backoff and dead letters; and the commands on dead rows and old published ones.

use crate::cleanup::chrono_duration;
use crate::event::Message;
use crate::metrics::RelayMetrics;
use crate::model::{BUCKETS, NewOutboxBucket, OutboxBucket, OutboxRecord};
use crate::transport::Transport;
use almacen::Dialect;
use almacen::prelude::*;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The PostgreSQL channel [`Publish::publish`](crate::Publish::publish) notifies and relays
/// listen on.
pub const NOTIFY_CHANNEL: &str = "almacen_outbox";

/// How a relay works. The defaults suit a service publishing up to some thousands of events
/// a second.
///
/// ```
/// use std::time::Duration;
/// let config = almacen_events::RelayConfig { max_attempts: 5, ..Default::default() };
/// assert_eq!(config.backoff_max, Duration::from_secs(60));
/// ```
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Rows published per round at most.
    pub batch_size: u64,
    /// Buckets claimed per round at most (see the crate's documentation).
    pub buckets_per_claim: usize,
    /// How long [`Relay::run`] sleeps when a round found nothing to do. On PostgreSQL it
    /// wakes earlier, when a transaction that published commits (`LISTEN`); the interval
    /// still bounds the wait for rows whose retry time comes.
    pub poll_interval: Duration,
    /// SQLite: how long a claim holds its buckets; a relay that stops holds them this long.
    pub lease: Duration,
    /// After this many failed sends a row is parked as dead.
    pub max_attempts: i32,
    /// The wait after the first failure; it doubles with each one, up to `backoff_max`, and
    /// each wait is drawn between half of it and all of it (jitter).
    pub backoff_base: Duration,
    /// The longest wait between two attempts.
    pub backoff_max: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            batch_size: 500,
            buckets_per_claim: 8,
            poll_interval: Duration::from_millis(100),
            lease: Duration::from_secs(30),
            max_attempts: 10,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayRound {
    /// Rows sent and marked published.
    pub published: u64,
    /// Rows whose send failed and that will be tried again.
    pub failed: u64,
    /// Rows whose send failed for the last time: parked as dead.
    pub dead: u64,
}

impl RelayRound {
    /// Whether the round found anything to send.
    pub fn is_idle(&self) -> bool {
        self.published + self.failed + self.dead == 0
    }
}

/// Publishes the outbox through a transport. Run as many as you like, in one process or
/// many: they share the work by buckets (see the crate's documentation).
#[derive(Debug)]
pub struct Relay<T> {
    db: Database,
    transport: T,
    config: RelayConfig,
    /// This relay's name in SQLite leases.
    owner: String,
    buckets_made: AtomicBool,
    metrics: Option<RelayMetrics>,
}

/// A row's fate in a round.
enum Outcome {
    /// Sent: the row's id and when it was written.
    Published(i64, DateTime<Utc>),
    Failed {
        id: i64,
        attempts: i32,
        error: String,
        retry_at: DateTime<Utc>,
    },
    Dead {
        id: i64,
        attempts: i32,
        error: String,
    },
}

impl<T: Transport> Relay<T> {
    /// A relay over `db`'s outbox sending through `transport`.
    pub fn new(db: Database, transport: T, config: RelayConfig) -> Relay<T> {
        Relay {
            db,
            transport,
            config,
            owner: format!("relay-{}", Uuid::new_v4().simple()),
            buckets_made: AtomicBool::new(false),
            metrics: None,
        }
    }

    /// This relay, counting what it does in `metrics` (shared with other relays and the
    /// `/metrics` route).
    ///
    /// ```no_run
    /// # async fn f(db: almacen::Database) {
    /// let metrics = almacen_events::RelayMetrics::new();
    /// let relay = almacen_events::Relay::new(db, almacen_events::InProcessBus::new(), Default::default()).with_metrics(metrics.clone());
    /// # }
    /// ```
    pub fn with_metrics(mut self, metrics: RelayMetrics) -> Relay<T> {
        self.metrics = Some(metrics);
        self
    }

    /// Publish until `shutdown` completes: a round, then, when it found nothing to send, a
    /// sleep of the poll interval. A database error ends the loop with that error (the
    /// claimed rows are published again by the next relay that claims them).
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # async fn f(db: Database) -> almacen::Result<()> {
    /// let relay = almacen_events::Relay::new(db, almacen_events::InProcessBus::new(), Default::default());
    /// relay.run(async { tokio::signal::ctrl_c().await.ok(); }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> almacen::Result<()> {
        tokio::pin!(shutdown);
        let mut listener = self.listener().await;
        loop {
            let round = tokio::select! {
                round = self.run_once() => round?,
                () = &mut shutdown => return Ok(()),
            };
            if round.is_idle() {
                let idle = self.idle(&mut listener);
                tokio::select! {
                    () = idle => {}
                    () = &mut shutdown => return Ok(()),
                }
            }
        }
    }

    /// On PostgreSQL, a connection listening for published events; elsewhere (or when it
    /// cannot be opened) none, and the relay polls.
    async fn listener(&self) -> Option<almacen::Listener> {
        if self.db.dialect() != Dialect::Postgres {
            return None;
        }
        match self.db.listen(&[NOTIFY_CHANNEL]).await {
            Ok(listener) => Some(listener),
            Err(e) => {
                tracing::warn!(error = %e, "almacen-events: cannot LISTEN; the relay polls instead");
                None
            }
        }
    }

    /// Wait for a notification or the poll interval, whichever comes first.
    async fn idle(&self, listener: &mut Option<almacen::Listener>) {
        let Some(l) = listener else { return tokio::time::sleep(self.config.poll_interval).await };
        if let Err(e) = l.wait(self.config.poll_interval).await {
            tracing::warn!(error = %e, "almacen-events: the LISTEN connection failed; the relay polls instead");
            *listener = None;
        }
    }

    /// One round: claim buckets with rows due, send their rows in id order, mark what was
    /// sent. A key whose earliest pending row cannot be sent yet (waiting for a retry, or
    /// failing now) has none of its later rows sent in this round.
    pub async fn run_once(&self) -> almacen::Result<RelayRound> {
        self.make_buckets().await?;
        let now = Utc::now();
        let mut due = self.due_buckets(now).await?;
        if due.is_empty() {
            return Ok(RelayRound::default());
        }
        // Relays start from different buckets, so that they rarely reach for the same ones.
        let turn = rand::random_range(0..due.len());
        due.rotate_left(turn);
        if self.db.dialect() == Dialect::Sqlite { self.round_with_lease(due, now).await } else { self.round_with_locks(due, now).await }
    }

    /// PostgreSQL and MariaDB: the buckets stay locked by this transaction until the marks
    /// commit.
    async fn round_with_locks(&self, due: Vec<i32>, now: DateTime<Utc>) -> almacen::Result<RelayRound> {
        let tx = self.db.begin().await?;
        let claimed: Vec<i32> = OutboxBucket::select()
            .filter(OutboxBucket::BUCKET.is_in(due))
            .order_by(OutboxBucket::BUCKET.asc())
            .for_update()
            .skip_locked()
            .limit(self.config.buckets_per_claim as u64)
            .fetch_all(&tx)
            .await?
            .into_iter()
            .map(|b| b.bucket)
            .collect();
        if claimed.is_empty() {
            tx.rollback().await?;
            return Ok(RelayRound::default());
        }
        let rows = self.pending_rows(&tx, claimed).await?;
        let outcomes = self.send_all(&rows, now).await;
        let round = mark(&tx, &outcomes).await?;
        tx.commit().await?;
        self.count(&outcomes);
        Ok(round)
    }

    /// SQLite: a lease on the buckets, written in a short transaction (the one writer is
    /// not held while the transport answers), given back with the marks.
    async fn round_with_lease(&self, due: Vec<i32>, now: DateTime<Utc>) -> almacen::Result<RelayRound> {
        let until = now + chrono_duration(self.config.lease);
        let tx = self.db.begin().await?;
        let claimed: Vec<i32> = OutboxBucket::select()
            .filter(OutboxBucket::BUCKET.is_in(due))
            .fetch_all(&tx)
            .await?
            .into_iter()
            .filter(|b| b.lease_until.is_none_or(|t| t <= now))
            .map(|b| b.bucket)
            .take(self.config.buckets_per_claim)
            .collect();
        if claimed.is_empty() {
            tx.rollback().await?;
            return Ok(RelayRound::default());
        }
        OutboxBucket::update_where(OutboxBucket::BUCKET.is_in(claimed.clone()))
            .set(OutboxBucket::LEASE_OWNER, Some(self.owner.clone()))
            .set(OutboxBucket::LEASE_UNTIL, Some(until))
            .execute(&tx)
            .await?;
        tx.commit().await?;
        let rows = self.pending_rows(&self.db, claimed.clone()).await?;
        let outcomes = self.send_all(&rows, now).await;
        let tx = self.db.begin().await?;
        let round = mark(&tx, &outcomes).await?;
        OutboxBucket::update_where(OutboxBucket::BUCKET.is_in(claimed).and(OutboxBucket::LEASE_OWNER.eq(self.owner.clone())))
            .set(OutboxBucket::LEASE_OWNER, None::<String>)
            .set(OutboxBucket::LEASE_UNTIL, None::<DateTime<Utc>>)
            .execute(&tx)
            .await?;
        tx.commit().await?;
        self.count(&outcomes);
        Ok(round)
    }

    /// Count a round's committed outcomes in the metrics, if any.
    fn count(&self, outcomes: &[Outcome]) {
        let Some(metrics) = &self.metrics else { return };
        let now = Utc::now();
        for outcome in outcomes {
            match outcome {
                Outcome::Published(_, written) => metrics.published((now - *written).to_std().unwrap_or(Duration::ZERO)),
                Outcome::Failed { .. } => metrics.failed(),
                Outcome::Dead { .. } => metrics.dead(),
            }
        }
    }

    /// The bucket rows, made once per relay (an existing one is left alone).
    async fn make_buckets(&self) -> almacen::Result<()> {
        if self.buckets_made.load(Ordering::Relaxed) {
            return Ok(());
        }
        let have: HashSet<i32> = OutboxBucket::select().fetch_all(&self.db).await?.into_iter().map(|b| b.bucket).collect();
        let missing: Vec<NewOutboxBucket> = (0..BUCKETS)
            .filter(|b| !have.contains(b))
            .map(|bucket| NewOutboxBucket { bucket, lease_owner: None, lease_until: None })
            .collect();
        if !missing.is_empty() {
            match OutboxBucket::insert_many(&self.db, missing).await {
                Ok(_) => {}
                // Another relay made them at the same moment.
                Err(almacen::Error::UniqueViolation(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.buckets_made.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// The buckets holding rows due now, oldest row first.
    async fn due_buckets(&self, now: DateTime<Utc>) -> almacen::Result<Vec<i32>> {
        let rows = self
            .db
            .fetch_all_raw(
                "SELECT bucket, MIN(id) AS first_id FROM almacen_outbox \
                 WHERE published_at IS NULL AND dead_at IS NULL AND available_at <= :now \
                 GROUP BY bucket ORDER BY first_id",
                params! { "now" => now },
            )
            .await?;
        rows.iter().map(|r| r.get::<i64>("bucket").map(|b| b as i32)).collect()
    }

    /// The claimed buckets' pending rows (due or not: a row waiting for a retry holds back
    /// its key's later rows), in id order.
    async fn pending_rows(&self, db: &impl Executor, buckets: Vec<i32>) -> almacen::Result<Vec<OutboxRecord>> {
        OutboxRecord::select()
            .filter(OutboxRecord::BUCKET.is_in(buckets).and(OutboxRecord::PUBLISHED_AT.is_null()).and(OutboxRecord::DEAD_AT.is_null()))
            .order_by(OutboxRecord::ID.asc())
            .limit(self.config.batch_size)
            .fetch_all(db)
            .await
    }

    /// Send the rows, each key's in order; a key stops at its first row that is not sent.
    async fn send_all(&self, rows: &[OutboxRecord], now: DateTime<Utc>) -> Vec<Outcome> {
        // Each key's rows in id order, keys in the order of their first row.
        let mut lines: Vec<(&str, std::collections::VecDeque<&OutboxRecord>)> = Vec::new();
        for row in rows {
            match lines.iter_mut().find(|(key, _)| *key == row.partition_key) {
                Some((_, line)) => line.push_back(row),
                None => lines.push((&row.partition_key, std::collections::VecDeque::from([row]))),
            }
        }
        // Waves: the next row of every key at once (the transport pipelines them), never
        // two rows of one key, so a key's rows still go out one after the other. A key stops
        // at a row that is not due or whose send fails.
        let mut outcomes = Vec::with_capacity(rows.len());
        loop {
            let mut wave: Vec<&OutboxRecord> = Vec::new();
            for (_, line) in lines.iter_mut() {
                match line.front() {
                    Some(row) if row.available_at <= now => wave.push(line.pop_front().expect("front")),
                    _ => line.clear(),
                }
            }
            if wave.is_empty() {
                return outcomes;
            }
            let messages: Vec<Message> = wave.iter().map(|row| Message::from(*row)).collect();
            let sent = futures::future::join_all(messages.iter().map(|m| self.transport.send(m))).await;
            for (row, result) in wave.into_iter().zip(sent) {
                match result {
                    Ok(()) => outcomes.push(Outcome::Published(row.id, row.created_at)),
                    Err(e) => {
                        if let Some((_, line)) = lines.iter_mut().find(|(key, _)| *key == row.partition_key) {
                            line.clear();
                        }
                        outcomes.push(self.failure(row, e, now));
                    }
                }
            }
        }
    }

    /// A failed send's outcome: tried again later, or dead.
    fn failure(&self, row: &OutboxRecord, e: crate::TransportError, now: DateTime<Utc>) -> Outcome {
        let attempts = row.attempts.saturating_add(1);
        let error: String = e.0.chars().take(2000).collect();
        tracing::warn!(event_id = %row.event_id, attempts, error = %error, "almacen-events: a send failed");
        if attempts >= self.config.max_attempts {
            Outcome::Dead { id: row.id, attempts, error }
        } else {
            Outcome::Failed { id: row.id, attempts, error, retry_at: now + self.backoff(attempts) }
        }
    }

    /// The wait before attempt `attempts + 1`: base × 2^(attempts − 1), capped, then a
    /// random share of it between half and all.
    fn backoff(&self, attempts: i32) -> chrono::Duration {
        let exponent = attempts.saturating_sub(1).clamp(0, 30) as u32;
        let full = self.config.backoff_base.saturating_mul(1u32 << exponent).min(self.config.backoff_max);
        chrono_duration(full.mul_f64(0.5 + rand::random::<f64>() * 0.5))
    }
}

/// Write the round's outcomes: one statement for the published rows, one per failure.
async fn mark(tx: &Transaction, outcomes: &[Outcome]) -> almacen::Result<RelayRound> {
    let now = Utc::now();
    let mut round = RelayRound::default();
    let published: Vec<i64> = outcomes.iter().filter_map(|o| if let Outcome::Published(id, _) = o { Some(*id) } else { None }).collect();
    if !published.is_empty() {
        round.published = published.len() as u64;
        OutboxRecord::update_where(OutboxRecord::ID.is_in(published)).set(OutboxRecord::PUBLISHED_AT, Some(now)).execute(tx).await?;
    }
    for outcome in outcomes {
        match outcome {
            Outcome::Published(..) => {}
            Outcome::Failed { id, attempts, error, retry_at } => {
                round.failed += 1;
                OutboxRecord::update_where(OutboxRecord::ID.eq(*id))
                    .set(OutboxRecord::ATTEMPTS, *attempts)
                    .set(OutboxRecord::LAST_ERROR, Some(error.clone()))
                    .set(OutboxRecord::AVAILABLE_AT, *retry_at)
                    .execute(tx)
                    .await?;
            }
            Outcome::Dead { id, attempts, error } => {
                round.dead += 1;
                OutboxRecord::update_where(OutboxRecord::ID.eq(*id))
                    .set(OutboxRecord::ATTEMPTS, *attempts)
                    .set(OutboxRecord::LAST_ERROR, Some(error.clone()))
                    .set(OutboxRecord::DEAD_AT, Some(now))
                    .execute(tx)
                    .await?;
            }
        }
    }
    Ok(round)
}

/// The outbox's dead rows and old published ones: list, retry, discard, clean up.
///
/// ```no_run
/// # use almacen::prelude::*;
/// # async fn f(db: Database) -> almacen::Result<()> {
/// let dead = almacen_events::DeadLetters::new(db.clone());
/// for row in dead.list(50).await? {
///     println!("{} {}: {:?}", row.id, row.event_type, row.last_error);
///     dead.retry(row.id).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DeadLetters {
    db: Database,
}

impl DeadLetters {
    /// The commands over `db`'s outbox.
    pub fn new(db: Database) -> DeadLetters {
        DeadLetters { db }
    }

    /// Up to `limit` dead rows, oldest first.
    pub async fn list(&self, limit: u64) -> almacen::Result<Vec<OutboxRecord>> {
        OutboxRecord::select()
            .filter(OutboxRecord::DEAD_AT.is_not_null())
            .order_by(OutboxRecord::ID.asc())
            .limit(limit)
            .fetch_all(&self.db)
            .await
    }

    /// Put dead row `id` back in line, its attempts counted from zero; false when no dead
    /// row has that id.
    pub async fn retry(&self, id: i64) -> almacen::Result<bool> {
        let changed = OutboxRecord::update_where(OutboxRecord::ID.eq(id).and(OutboxRecord::DEAD_AT.is_not_null()))
            .set(OutboxRecord::DEAD_AT, None::<DateTime<Utc>>)
            .set(OutboxRecord::ATTEMPTS, 0)
            .set(OutboxRecord::AVAILABLE_AT, Utc::now())
            .execute(&self.db)
            .await?;
        Ok(changed > 0)
    }

    /// Delete dead row `id` for good; false when no dead row has that id.
    pub async fn discard(&self, id: i64) -> almacen::Result<bool> {
        let gone =
            OutboxRecord::delete_where(OutboxRecord::ID.eq(id).and(OutboxRecord::DEAD_AT.is_not_null())).hard().execute(&self.db).await?;
        Ok(gone > 0)
    }

    /// Delete rows published more than `retention` ago, `batch` at a time (each batch its
    /// own short statement, so a large backlog never holds locks for long); returns how
    /// many were deleted.
    pub async fn clean_published(&self, retention: Duration, batch: u64) -> almacen::Result<u64> {
        let old = OutboxRecord::PUBLISHED_AT.lt(crate::cleanup::ago(retention));
        crate::cleanup::delete_in_batches(&self.db, old, OutboxRecord::ID, batch).await
    }
}
