//! The SQLite pool: one writer connection and a set of `query_only` readers, handed out
//! without a round trip (a pop from a list under a short lock), run in place.

use super::conn::{Limits, LiteConn, OpenConfig, RunError};
use crate::data::error::{DbErrorInfo, Error, Result};
use crate::data::row::DbRow;
use crate::engine::config::{ConnectOptions, JournalMode};
use crate::engine::database::PoolStats;
use crate::engine::executor::{Fetch, Fetched, RunSettings};
use crate::engine::statement::Statement;
use futures::stream::BoxStream;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Rows buffered between a streaming statement's thread and its consumer.
const STREAM_BUFFER: usize = 256;

/// A set of interchangeable connections, at most `capacity` open (idle or handed out).
/// Taking one is a pop under a short lock; waiters are woken only when there are some.
#[derive(Debug)]
struct Slot {
    reader: bool,
    capacity: u32,
    state: Mutex<SlotState>,
    returned: Notify,
    waiters: AtomicUsize,
}

/// Connections stay boxed: they move between the list, guards and blocking threads as
/// one pointer.
#[allow(clippy::vec_box)]
#[derive(Debug, Default)]
struct SlotState {
    idle: Vec<Box<LiteConn>>,
    /// Open connections, idle or handed out.
    open: u32,
    closed: bool,
}

/// What a slot can give right now.
enum Take {
    Conn(Box<LiteConn>),
    /// Room for one more: the caller opens it (counted as open already).
    Open,
    Full,
    Closed,
}

impl Slot {
    fn new(reader: bool, capacity: u32) -> Self {
        Slot { reader, capacity, state: Mutex::new(SlotState::default()), returned: Notify::new(), waiters: AtomicUsize::new(0) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn try_take(&self) -> Take {
        let mut st = self.state();
        if st.closed {
            Take::Closed
        } else if let Some(conn) = st.idle.pop() {
            Take::Conn(conn)
        } else if st.open < self.capacity {
            st.open += 1;
            Take::Open
        } else {
            Take::Full
        }
    }

    /// Put a connection back (`None`: it was closed), and wake one waiter.
    fn give_back(&self, conn: Option<Box<LiteConn>>) {
        {
            let mut st = self.state();
            match conn {
                Some(conn) if !st.closed => st.idle.push(conn),
                _ => st.open -= 1,
            }
        }
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.returned.notify_one();
        }
    }

    /// Wait until `try_take` gives something other than `Full`.
    async fn take(&self, timeout: Duration) -> Result<Take> {
        let deadline = tokio::time::Instant::now() + timeout;
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiters);
        loop {
            let returned = self.returned.notified();
            tokio::pin!(returned);
            // Registered before looking, so a connection given back after the look wakes us.
            returned.as_mut().enable();
            match self.try_take() {
                Take::Full => {}
                other => return Ok(other),
            }
            if tokio::time::timeout_at(deadline, returned).await.is_err() {
                return Err(Error::PoolTimeout(timeout));
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    open: OpenConfig,
    writer: Slot,
    /// `None` for an in-memory database or a pool of one: everything uses the writer.
    readers: Option<Slot>,
    acquire_timeout: Duration,
    idle_timeout: Option<Duration>,
    max_lifetime: Option<Duration>,
    /// In-memory databases live in their one connection: it is never closed early.
    keep_alive: bool,
    max_connections: u32,
    closed: AtomicBool,
    /// The reaper's clock: it counts one tick per `tick_period`, and a connection given
    /// back records the tick (cheaper than reading the clock on every statement).
    ticks: AtomicU32,
    tick_period: Duration,
}

/// The SQLite connection pool. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct LitePool {
    shared: Arc<Shared>,
}

tokio::task_local! {
    /// The pool (by [`LitePool::id`]) whose writer the transaction closure being polled
    /// holds. Set only while that closure's own future runs, so work joined beside it
    /// (`join!`) or spawned from it is not affected.
    static HOLDING_WRITER: usize;
}

/// Run `fut`, a write transaction's closure on `pool_id`'s writer, so that a statement in
/// it that asks the pool for the writer again (through `db` instead of `tx`) fails at once
/// instead of waiting out the pool timeout for a connection its own caller holds.
pub(crate) async fn holding_writer<F: std::future::Future>(pool_id: usize, fut: F) -> F::Output {
    HOLDING_WRITER.scope(pool_id, fut).await
}

/// Decrements the waiting counter however the acquire ends (including cancellation).
struct Waiting<'a>(&'a AtomicUsize);
impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl LitePool {
    /// Open the pool and its writer connection (so a bad path fails here, not later).
    pub(crate) fn open(o: &ConnectOptions) -> Result<LitePool> {
        let open = open_config(o)?;
        let in_memory = open.path.is_none();
        let readers = (!in_memory && o.max_connections > 1).then(|| Slot::new(true, o.max_connections - 1));
        let shared = Arc::new(Shared {
            open,
            writer: Slot::new(false, 1),
            readers,
            acquire_timeout: o.acquire_timeout,
            idle_timeout: o.idle_timeout,
            max_lifetime: o.max_lifetime,
            keep_alive: in_memory,
            max_connections: o.max_connections,
            closed: AtomicBool::new(false),
            ticks: AtomicU32::new(0),
            tick_period: reap_period(o.idle_timeout, o.max_lifetime),
        });
        // (At connect, once: a lock held elsewhere is waited for here, up to the busy timeout.)
        let writer = LiteConn::open(&shared.open, false, true).map_err(RunError::into_error)?;
        {
            let mut st = shared.writer.state();
            st.open = 1;
            st.idle.push(Box::new(writer));
        }
        spawn_reaper(&shared);
        Ok(LitePool { shared })
    }

    /// A connection for a statement outside a transaction: reads go to a reader, the rest
    /// to the writer.
    pub(crate) async fn acquire_for(&self, sql: &str) -> Result<LiteGuard<'_>> {
        match &self.shared.readers {
            Some(_) if is_read(sql) => self.acquire(true).await,
            _ => self.acquire(false).await,
        }
    }

    /// This pool's identity, for [`holding_writer`].
    pub(crate) fn id(&self) -> usize {
        Arc::as_ptr(&self.shared) as usize
    }

    /// The writer (`reader == false`) or a reader connection.
    pub(crate) async fn acquire(&self, reader: bool) -> Result<LiteGuard<'_>> {
        let sh = &self.shared;
        if sh.closed.load(Ordering::Acquire) {
            return Err(closed_error());
        }
        let slot = match (&sh.readers, reader) {
            (Some(readers), true) => readers,
            _ => &sh.writer,
        };
        if !slot.reader && HOLDING_WRITER.try_with(|id| *id == self.id()).unwrap_or(false) {
            return Err(Error::Unsupported(
                "this statement was run on the database (`db`) inside a transaction on it, which holds SQLite's \
                 only writer connection until it ends, so it would wait for itself: run it on the transaction \
                 (`tx`) instead"
                    .into(),
            ));
        }
        let take = match slot.try_take() {
            Take::Full => slot.take(sh.acquire_timeout).await?,
            other => other,
        };
        let conn = match take {
            Take::Conn(conn) => conn,
            Take::Open => {
                // (Boxed: rare, and its future would otherwise ride along in every acquire's.)
                let mut conn = Box::pin(self.open_conn(slot)).await?;
                conn.idle_since = sh.ticks.load(Ordering::Relaxed);
                Box::new(conn)
            }
            Take::Closed | Take::Full => return Err(closed_error()),
        };
        Ok(LiteGuard {
            pool: Some(PoolRef::Borrowed(self)),
            reader: slot.reader,
            conn: Some(conn),
            in_tx: false,
            restore_query_only: false,
        })
    }

    /// Open a connection in `slot`'s room for one: in place, or on a blocking thread when a
    /// lock held elsewhere must be waited for (a rollback journal's writer committing holds
    /// off the shared lock a new connection reads the database's header under). If this
    /// fails or is cancelled, the room is given back.
    #[cold]
    #[inline(never)]
    async fn open_conn(&self, slot: &Slot) -> Result<LiteConn> {
        struct Room<'s>(Option<&'s Slot>);
        impl Drop for Room<'_> {
            fn drop(&mut self) {
                if let Some(slot) = self.0 {
                    slot.give_back(None);
                }
            }
        }
        let mut room = Room(Some(slot));
        let reader = slot.reader;
        let conn = match LiteConn::open(&self.shared.open, reader, false) {
            Ok(conn) => conn,
            Err(RunError::Failed(e)) => return Err(e),
            Err(RunError::Offload) => {
                let cfg = self.shared.open.clone();
                tokio::task::spawn_blocking(move || LiteConn::open(&cfg, reader, true).map_err(RunError::into_error))
                    .await
                    .map_err(|e| Error::Driver(format!("the SQLite blocking task failed: {e}")))??
            }
        };
        room.0 = None;
        Ok(conn)
    }

    /// Run one statement outside a transaction.
    pub(crate) async fn run(&self, s: &RunSettings, stmt: Statement, mut fetch: Fetch<'_>) -> Result<Fetched> {
        let mut guard = self.acquire_for(&stmt.sql).await?;
        let retry_on_writer = (guard.reader && starts_with_keyword(&stmt.sql, "WITH")).then(|| stmt.clone());
        // Nothing to log: straight to the connection, one async layer less for every lookup.
        let out = if s.logs() {
            s.run(crate::engine::executor::ConnRef::Sqlite(&mut guard), stmt, fetch.reborrow(), false).await
        } else {
            s.observers.statement(&stmt.sql);
            guard.run(s, stmt, fetch.reborrow(), false).await
        };
        match out {
            // A statement that looked like a read but writes (`WITH … DELETE`): the reader
            // refused it (SQLITE_READONLY) before doing anything; the writer runs it. (Boxed:
            // a second statement future would double the size of every lookup's future.)
            Err(Error::Database(info)) if info.code.as_deref() == Some("8") && retry_on_writer.is_some() => {
                drop(guard);
                let stmt = retry_on_writer.expect("checked above");
                Box::pin(async move {
                    let mut writer = self.acquire(false).await?;
                    s.run(crate::engine::executor::ConnRef::Sqlite(&mut writer), stmt, fetch, false).await
                })
                .await
            }
            other => other,
        }
    }

    /// Stream a statement's rows from a blocking thread, a bounded buffer at a time. The
    /// session's default statement timeout applies.
    pub(crate) fn stream<'a>(&'a self, s: &'a RunSettings, stmt: Statement) -> BoxStream<'a, Result<DbRow>> {
        let pool = self.clone();
        let deadline = s.statement_timeout.map(|t| Instant::now() + t);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<DbRow>>(STREAM_BUFFER);
        let logged = stmt.clone();
        tokio::spawn(async move {
            // A streamed `WITH` may write: only plain reads stream from a reader.
            let reader = pool.shared.readers.is_some() && !starts_with_keyword(&stmt.sql, "WITH") && is_read(&stmt.sql);
            let mut guard = match pool.acquire(reader).await {
                Ok(g) => g.into_owned(),
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let _ = tokio::task::spawn_blocking(move || {
                match guard.conn() {
                    Ok(conn) => conn.stream(&stmt.sql, &stmt.values, deadline, |row| tx.blocking_send(row).is_ok()),
                    Err(e) => drop(tx.blocking_send(Err(e))),
                }
                drop(guard);
            })
            .await;
        });
        let rows = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
        s.logged_stream(&logged, Box::pin(rows))
    }

    /// Pool statistics.
    pub(crate) fn stats(&self) -> PoolStats {
        let sh = &self.shared;
        let (mut size, mut idle, mut waiting) = (0, 0, 0);
        for slot in sh.slots() {
            let st = slot.state();
            size += st.open;
            idle += st.idle.len() as u32;
            waiting += slot.waiters.load(Ordering::Relaxed) as u32;
        }
        PoolStats { size, idle, in_use: size - idle, waiting, max_connections: sh.max_connections }
    }

    /// Refuse new work, wait for every connection in use to come back, and close them all.
    pub(crate) async fn close(&self) {
        let sh = &self.shared;
        sh.closed.store(true, Ordering::Release);
        for slot in sh.slots() {
            slot.state().closed = true;
            // Wake waiters so they see the pool closed.
            slot.returned.notify_waiters();
            loop {
                let drained = {
                    let mut st = slot.state();
                    let idle = std::mem::take(&mut st.idle);
                    st.open -= idle.len() as u32;
                    (idle, st.open)
                };
                drop(drained.0);
                if drained.1 == 0 {
                    break;
                }
                // Connections in use are closed as they come back.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }
}

impl Shared {
    fn slots(&self) -> impl Iterator<Item = &Slot> {
        std::iter::once(&self.writer).chain(self.readers.as_ref())
    }

    /// Past its idle timeout or its maximum lifetime (never for an in-memory database).
    fn expired(&self, conn: &LiteConn) -> bool {
        // Whole periods only: the one it was given back in may have been nearly over.
        let idle_ticks = self.ticks.load(Ordering::Relaxed).wrapping_sub(conn.idle_since).saturating_sub(1);
        !self.keep_alive
            && (self.idle_timeout.is_some_and(|t| self.tick_period.saturating_mul(idle_ticks) >= t)
                || self.max_lifetime.is_some_and(|t| conn.opened.elapsed() >= t))
    }

    /// Close the idle connections that have expired.
    fn reap(&self) {
        for slot in self.slots() {
            let mut st = slot.state();
            let before = st.idle.len();
            st.idle.retain(|c| !self.expired(c));
            st.open -= (before - st.idle.len()) as u32;
        }
    }
}

/// Close expired idle connections in the background, as the other pools do. The task
/// holds only a weak reference and ends with the pool.
fn spawn_reaper(shared: &Arc<Shared>) {
    if shared.keep_alive || (shared.idle_timeout.is_none() && shared.max_lifetime.is_none()) {
        return;
    }
    let period = shared.tick_period;
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        loop {
            // (Sleeping, not an interval: after a stall an interval would tick in a burst
            // and connections just given back would look idle for periods they were not.)
            tokio::time::sleep(period).await;
            match weak.upgrade() {
                Some(sh) if !sh.closed.load(Ordering::Acquire) => {
                    sh.ticks.fetch_add(1, Ordering::Relaxed);
                    sh.reap();
                }
                _ => break,
            }
        }
    });
}

/// How often the reaper runs: an eighth of the shortest limit, within 25 ms and 30 s. A
/// connection is closed once it has been idle for its timeout, and at most two periods
/// (a quarter) later.
fn reap_period(idle_timeout: Option<Duration>, max_lifetime: Option<Duration>) -> Duration {
    let shortest = [idle_timeout, max_lifetime].into_iter().flatten().min().unwrap_or(Duration::from_secs(120));
    (shortest / 8).clamp(Duration::from_millis(25), Duration::from_secs(30))
}

fn closed_error() -> Error {
    Error::ConnectionLost("the pool is closed".into())
}

/// Statements that can only read go to the readers: SELECT, VALUES and WITH … SELECT
/// (a `WITH` that writes is refused by the `query_only` reader and re-run on the writer).
fn is_read(sql: &str) -> bool {
    starts_with_keyword(sql, "SELECT") || starts_with_keyword(sql, "VALUES") || starts_with_keyword(sql, "WITH")
}

fn starts_with_keyword(sql: &str, keyword: &str) -> bool {
    let head = sql.trim_start().as_bytes();
    head.len() >= keyword.len() && head[..keyword.len()].eq_ignore_ascii_case(keyword.as_bytes())
}

/// A connection taken from the pool. Dropping it rolls back an open transaction and puts
/// the connection back. A single statement's guard borrows the pool; a transaction's owns
/// a handle to it ([`into_owned`](Self::into_owned)).
#[derive(Debug)]
pub(crate) struct LiteGuard<'p> {
    pool: Option<PoolRef<'p>>,
    reader: bool,
    pub(crate) conn: Option<Box<LiteConn>>,
    /// A transaction is open on it: a statement that finds the connection back in
    /// autocommit means SQLite rolled the transaction back itself.
    pub(crate) in_tx: bool,
    /// A read-only transaction on the writer switched `query_only` on.
    pub(crate) restore_query_only: bool,
}

/// The pool a guard returns its connection to.
#[derive(Debug)]
enum PoolRef<'p> {
    Borrowed(&'p LitePool),
    Owned(LitePool),
}

impl PoolRef<'_> {
    fn get(&self) -> &LitePool {
        match self {
            PoolRef::Borrowed(p) => p,
            PoolRef::Owned(p) => p,
        }
    }
}

impl<'p> LiteGuard<'p> {
    /// This guard with its own handle to the pool, to outlive the borrow (transactions,
    /// blocking threads). The guard left behind is empty.
    fn detach(&mut self) -> LiteGuard<'static> {
        LiteGuard {
            pool: self.pool.as_ref().map(|p| PoolRef::Owned(p.get().clone())),
            reader: self.reader,
            conn: self.conn.take(),
            in_tx: self.in_tx,
            restore_query_only: self.restore_query_only,
        }
    }

    /// The guard with its own handle to the pool.
    pub(crate) fn into_owned(mut self) -> LiteGuard<'static> {
        self.detach()
    }

    /// Whether this is a `query_only` reader (not the writer).
    pub(crate) fn is_reader(&self) -> bool {
        self.reader && self.pool.as_ref().is_some_and(|p| p.get().shared.readers.is_some())
    }

    /// True when no transaction is open on the connection (or it is gone).
    pub(crate) fn is_autocommit(&self) -> bool {
        self.conn.as_ref().is_none_or(|c| c.is_autocommit())
    }

    fn conn(&mut self) -> Result<&mut LiteConn> {
        self.conn.as_deref_mut().ok_or_else(|| Error::ConnectionLost("the SQLite connection was lost while a statement ran".into()))
    }

    /// Run a statement: in place, or on a blocking thread when it runs long. A reader
    /// hands a deterministic read's row again while nothing was committed
    /// ([`super::memo`]).
    pub(crate) async fn run(&mut self, s: &RunSettings, stmt: Statement, fetch: Fetch<'_>, in_tx: bool) -> Result<Fetched> {
        if !(stmt.memo && !in_tx && matches!(fetch, Fetch::Optional) && self.is_reader()) {
            return self.run_statement(s, stmt, fetch, in_tx).await;
        }
        let conn = self.conn()?;
        let kept = match (conn.is_autocommit(), super::memo::values_key(&stmt.values)) {
            (true, Some(values)) => conn.data_version().map(|version| (version, values)),
            _ => None,
        };
        let Some((version, values)) = kept else {
            return self.run_statement(s, stmt, fetch, in_tx).await;
        };
        if let Some(row) = conn.kept_row(&stmt.sql, &values, version) {
            return Ok(Fetched::Row(Some(row)));
        }
        let sql = stmt.sql.clone();
        let out = self.run_statement(s, stmt, fetch, in_tx).await?;
        if let (Fetched::Row(Some(DbRow::Sqlite(row))), Some(conn)) = (&out, self.conn.as_deref_mut()) {
            conn.keep_row(&sql, values, version, row.clone());
        }
        Ok(out)
    }

    async fn run_statement(&mut self, s: &RunSettings, stmt: Statement, mut fetch: Fetch<'_>, in_tx: bool) -> Result<Fetched> {
        let (timeout, _) = s.timeout_for(stmt.timeout);
        // The clock is read only for a deadline.
        let started = timeout.map(|_| Instant::now());
        let limits = Limits { timeout, deadline: started.zip(timeout).map(|(s, t)| s + t), started, in_place: true };
        let tx_open = self.in_tx;
        let conn = self.conn()?;
        if in_tx && tx_open && conn.is_autocommit() {
            return Err(rolled_back_error());
        }
        // In place first; a statement known to be long answers `Offload` at once.
        match conn.run(&stmt.sql, &stmt.values, fetch.reborrow(), limits) {
            Ok(out) => return Ok(out),
            Err(RunError::Failed(e)) => return Err(e),
            Err(RunError::Offload) => {}
        }
        // Long statement: run it again on a blocking thread. A sink that can move goes with
        // it and decodes the rows there in place; otherwise they come back here for it.
        let limits = Limits { in_place: false, ..limits };
        if let Fetch::Decode { sink, first } = &mut fetch
            && let Some(mut owned) = sink.take_owned()
        {
            let first = *first;
            let (owned, out) = self
                .on_blocking_thread(move |conn| {
                    let out = conn.run(&stmt.sql, &stmt.values, Fetch::Decode { sink: &mut *owned, first }, limits);
                    (owned, out)
                })
                .await?;
            sink.put_back(owned);
            return match out {
                Ok(out) => Ok(out),
                Err(RunError::Failed(e)) => Err(e),
                Err(RunError::Offload) => unreachable!("no in-place budget off the async thread"),
            };
        }
        let detached = fetch.detached();
        let out = self
            .on_blocking_thread(move |conn| match conn.run(&stmt.sql, &stmt.values, detached, limits) {
                Ok(out) => Ok(out),
                Err(RunError::Failed(e)) => Err(e),
                Err(RunError::Offload) => unreachable!("no in-place budget off the async thread"),
            })
            .await?
            .map_err(|e| self.explain_busy(e))?;
        fetch.finish(out)
    }

    /// Run SQL without parameters or results on this connection (BEGIN, COMMIT…); when
    /// another connection holds the lock, wait for it on a blocking thread. The COMMIT or
    /// ROLLBACK of a large transaction runs there from the start: it writes (and may then
    /// checkpoint the WAL) or undoes a lot, in one step no progress handler can stop.
    pub(crate) async fn batch(&mut self, sql: &'static str) -> Result<()> {
        let conn = self.conn()?;
        if conn.is_autocommit() {
            // It begins a transaction.
            conn.transaction_starts();
        } else if conn.is_large_transaction() {
            return self.on_blocking_thread(move |conn| conn.execute_batch(sql)).await?.map_err(|e| self.explain_busy(e));
        }
        match conn.execute_batch_in_place(sql) {
            Ok(()) => return Ok(()),
            Err(RunError::Failed(e)) => return Err(e),
            Err(RunError::Offload) => {}
        }
        self.on_blocking_thread(move |conn| conn.execute_batch(sql)).await?.map_err(|e| self.explain_busy(e))
    }

    /// A lock waited for in vain (the busy timeout ran out): under a rollback journal, the
    /// likely reason is in this process, so say it.
    #[cold]
    #[inline(never)]
    fn explain_busy(&self, e: Error) -> Error {
        let journal = self.pool.as_ref().and_then(|p| p.get().shared.open.journal);
        match (e, journal) {
            (Error::Deadlock(mut info), Some((mode, _))) if mode != JournalMode::Wal && info.code.as_deref() == Some("5") => {
                info.message = format!(
                    "{} (waited 5 s; with journal_mode={mode} a commit waits until no read is in progress, and a read \
                     waits while a commit is written: a read held open meanwhile, such as a read-only transaction or a \
                     stream in the task that writes, or a long transaction, held the other side off)",
                    info.message
                );
                Error::Deadlock(info)
            }
            (e, _) => e,
        }
    }

    /// Run `f` on this guard's connection on a blocking thread. The connection moves there
    /// with a guard of its own, so if this task is cancelled meanwhile the connection still
    /// returns to the pool there; and the statement is interrupted.
    async fn on_blocking_thread<T: Send + 'static>(&mut self, f: impl FnOnce(&mut LiteConn) -> T + Send + 'static) -> Result<T> {
        let mut owned = self.detach();
        let mut on_cancel = InterruptOnDrop(owned.conn.as_ref().map(|c| c.interrupt_handle()));
        let joined = tokio::task::spawn_blocking(move || {
            let out = owned.conn().map(f);
            (owned, out)
        })
        .await;
        on_cancel.0 = None;
        let (mut owned, out) = joined.map_err(|e| Error::Driver(format!("the SQLite blocking task failed: {e}")))?;
        // Back to this guard; the owned one, empty, gives nothing back.
        self.conn = owned.conn.take();
        self.in_tx = owned.in_tx;
        self.restore_query_only = owned.restore_query_only;
        out
    }
}

/// Interrupts a connection's statement when dropped armed (its caller was cancelled).
struct InterruptOnDrop(Option<rusqlite::InterruptHandle>);

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.interrupt();
        }
    }
}

pub(crate) fn rolled_back_error() -> Error {
    Error::Database(
        DbErrorInfo {
            message: "SQLite rolled the transaction back after an interrupted or failed write; start a new transaction".into(),
            ..Default::default()
        }
        .into(),
    )
}

impl Drop for LiteGuard<'_> {
    fn drop(&mut self) {
        let (Some(pool), Some(conn)) = (self.pool.take(), self.conn.take()) else { return };
        let open = !conn.is_autocommit();
        if (conn.checkpoint_due() || (open && conn.is_large_transaction()))
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            // A WAL checkpoint left due by a commit in place, or the rollback of a large
            // transaction dropped unfinished: on a blocking thread (or wherever the closure
            // is dropped if that thread never comes), which then gives the connection back.
            let back =
                GiveBack { pool: pool.get().clone(), conn: Some(conn), reader: self.reader, restore_query_only: self.restore_query_only };
            runtime.spawn_blocking(move || drop(back));
            return;
        }
        give_back(pool.get(), conn, open, self.reader, self.restore_query_only);
    }
}

/// A connection on its way back to the pool from a blocking thread.
struct GiveBack {
    pool: LitePool,
    conn: Option<Box<LiteConn>>,
    reader: bool,
    restore_query_only: bool,
}

impl Drop for GiveBack {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let open = !conn.is_autocommit();
            give_back(&self.pool, conn, open, self.reader, self.restore_query_only);
        }
    }
}

/// Roll back what is `open` on `conn`, undo a read-only transaction's `query_only`, run a
/// checkpoint left due, and put it back in its slot (closed if that failed). (Inlined: it
/// is every statement's last step.)
#[inline(always)]
fn give_back(pool: &LitePool, mut conn: Box<LiteConn>, open: bool, reader: bool, restore_query_only: bool) {
    let sh = &pool.shared;
    let mut healthy = true;
    if open {
        healthy &= conn.execute_batch("ROLLBACK").is_ok();
    }
    if restore_query_only {
        healthy &= conn.execute_batch("PRAGMA query_only = OFF").is_ok();
    }
    conn.checkpoint_if_due();
    let slot = if reader { sh.readers.as_ref().unwrap_or(&sh.writer) } else { &sh.writer };
    conn.idle_since = sh.ticks.load(Ordering::Relaxed);
    slot.give_back((healthy || sh.keep_alive).then_some(conn));
}

/// Where and how to open the connections of a `sqlite:` URL.
fn open_config(o: &ConnectOptions) -> Result<OpenConfig> {
    let url = o.driver_url();
    let rest = url.split_once(':').map_or(url, |(_, r)| r);
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = base.strip_prefix("//").unwrap_or(base);
    let mut read_only_file = false;
    let mut uri_params = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "mode" => {
                read_only_file = value == "ro";
                if !["ro", "rw", "rwc", "memory"].contains(&value) {
                    return Err(Error::Config(format!("unknown SQLite mode {value:?} (expected ro, rw, rwc or memory)")));
                }
                uri_params.push(pair);
            }
            "cache" | "immutable" | "vfs" | "nolock" => uri_params.push(pair),
            other => return Err(Error::Config(format!("unknown query parameter {other:?} in the SQLite URL"))),
        }
    }
    let path = if o.is_in_memory() {
        None
    } else if uri_params.is_empty() {
        Some(path.to_string())
    } else {
        Some(format!("file:{path}?{}", uri_params.join("&")))
    };
    // (Options built in code were checked by `connect_with`: set only on a file for writing.)
    let journal = o.sqlite_file_for_writing().then(|| (o.journal_mode.unwrap_or_default(), o.synchronous.unwrap_or_default()));
    Ok(OpenConfig { path, read_only_file, journal })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_told_from_writes() {
        assert!(is_read("  select 1"));
        assert!(is_read("WITH x AS (SELECT 1) SELECT * FROM x"));
        assert!(!is_read("INSERT INTO t VALUES (1)"));
        assert!(!is_read("PRAGMA foreign_keys"));
        assert!(!is_read(""));
    }

    #[test]
    fn urls_become_paths() {
        let cfg = |u: &str| open_config(&ConnectOptions::from_url(u).unwrap());
        assert_eq!(cfg("sqlite://app.db").unwrap().path.as_deref(), Some("app.db"));
        assert_eq!(cfg("sqlite:///tmp/app.db").unwrap().path.as_deref(), Some("/tmp/app.db"));
        assert_eq!(cfg("sqlite::memory:").unwrap().path, None);
        let ro = cfg("sqlite://app.db?mode=ro").unwrap();
        assert_eq!(ro.path.as_deref(), Some("file:app.db?mode=ro"));
        assert!(ro.read_only_file);
        // Unknown parameters are refused when the URL is parsed, before any file is opened.
        assert!(ConnectOptions::from_url("sqlite://app.db?color=blue").unwrap_err().to_string().contains("color"));
    }
}
