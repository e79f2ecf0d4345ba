//! The SQLite pool: one writer connection and a set of `query_only` readers, handed out
//! without a round trip (a semaphore permit and a pop from a list), run in place.

use super::conn::{Limits, LiteConn, OpenConfig, RunError};
use crate::executor::{Fetch, Fetched, RunSettings};
use crate::{ConnectOptions, DbRow, Error, PoolStats, Result, Statement};
use futures::stream::BoxStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a statement may run on the calling thread before it is stopped and run again
/// on a blocking thread, so one long query never stalls the other tasks of the runtime.
pub(crate) const IN_PLACE_BUDGET: Duration = Duration::from_millis(2);

/// Rows buffered between a streaming statement's thread and its consumer.
const STREAM_BUFFER: usize = 256;

/// A set of interchangeable connections: a semaphore bounds them, a list keeps the idle.
/// Connections stay boxed: they move between the list, guards and blocking threads as
/// one pointer.
#[allow(clippy::vec_box)]
#[derive(Debug)]
struct Slot {
    reader: bool,
    capacity: u32,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Box<LiteConn>>>,
}

impl Slot {
    fn new(reader: bool, capacity: u32) -> Self {
        Slot { reader, capacity, permits: Arc::new(Semaphore::new(capacity as usize)), idle: Mutex::new(Vec::new()) }
    }

    #[allow(clippy::vec_box)]
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Box<LiteConn>>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
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
    size: AtomicUsize,
    waiting: AtomicUsize,
    closed: AtomicBool,
}

/// The SQLite connection pool. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct LitePool {
    shared: Arc<Shared>,
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
            size: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        });
        let writer = LiteConn::open(&shared.open, false)?;
        shared.size.fetch_add(1, Ordering::Relaxed);
        shared.writer.idle().push(Box::new(writer));
        spawn_reaper(&shared);
        Ok(LitePool { shared })
    }

    /// A connection for a statement outside a transaction: reads go to a reader, the rest
    /// to the writer.
    pub(crate) async fn acquire_for(&self, sql: &str) -> Result<LiteGuard> {
        match &self.shared.readers {
            Some(_) if is_read(sql) => self.acquire(true).await,
            _ => self.acquire(false).await,
        }
    }

    /// The writer (`reader == false`) or a reader connection.
    pub(crate) async fn acquire(&self, reader: bool) -> Result<LiteGuard> {
        let sh = &self.shared;
        if sh.closed.load(Ordering::Acquire) {
            return Err(closed_error());
        }
        let slot = match (&sh.readers, reader) {
            (Some(readers), true) => readers,
            _ => &sh.writer,
        };
        let permit = match slot.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(tokio::sync::TryAcquireError::Closed) => return Err(closed_error()),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                sh.waiting.fetch_add(1, Ordering::Relaxed);
                let _waiting = Waiting(&sh.waiting);
                match tokio::time::timeout(sh.acquire_timeout, slot.permits.clone().acquire_owned()).await {
                    Ok(Ok(p)) => p,
                    Ok(Err(_)) => return Err(closed_error()),
                    Err(_) => return Err(Error::PoolTimeout(sh.acquire_timeout)),
                }
            }
        };
        if sh.closed.load(Ordering::Acquire) {
            return Err(closed_error());
        }
        let conn = loop {
            let Some(conn) = slot.idle().pop() else { break None };
            if sh.expired(&conn) {
                sh.size.fetch_sub(1, Ordering::Relaxed);
                continue;
            }
            break Some(conn);
        };
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = LiteConn::open(&sh.open, slot.reader)?;
                sh.size.fetch_add(1, Ordering::Relaxed);
                Box::new(c)
            }
        };
        Ok(LiteGuard {
            pool: Some(self.clone()),
            reader: slot.reader,
            conn: Some(conn),
            permit: Some(permit),
            in_tx: false,
            restore_query_only: false,
        })
    }

    /// Run one statement outside a transaction.
    pub(crate) async fn run(&self, s: &RunSettings, stmt: Statement, fetch: Fetch) -> Result<Fetched> {
        let mut guard = self.acquire_for(&stmt.sql).await?;
        let retry_on_writer = guard.reader.then(|| stmt.clone());
        match s.run(crate::executor::ConnRef::Sqlite(&mut guard), stmt, fetch, false).await {
            // A statement that looked like a read but writes (`WITH … DELETE`): the reader
            // refused it (SQLITE_READONLY) before doing anything; the writer runs it.
            Err(Error::Database(info)) if info.code.as_deref() == Some("8") && retry_on_writer.is_some() => {
                drop(guard);
                let mut writer = self.acquire(false).await?;
                let stmt = retry_on_writer.expect("checked above");
                s.run(crate::executor::ConnRef::Sqlite(&mut writer), stmt, fetch, false).await
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
            let mut guard = match pool.acquire_for(&stmt.sql).await {
                Ok(g) => g,
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
        let idle = sh.writer.idle().len() + sh.readers.as_ref().map_or(0, |r| r.idle().len());
        let size = sh.size.load(Ordering::Relaxed);
        PoolStats {
            size: size as u32,
            idle: idle.min(size) as u32,
            in_use: size.saturating_sub(idle) as u32,
            waiting: sh.waiting.load(Ordering::Relaxed) as u32,
            max_connections: sh.max_connections,
        }
    }

    /// Refuse new work, wait for every connection in use to come back, and close them all.
    pub(crate) async fn close(&self) {
        let sh = &self.shared;
        sh.closed.store(true, Ordering::Release);
        for slot in std::iter::once(&sh.writer).chain(sh.readers.as_ref()) {
            if let Ok(all) = slot.permits.acquire_many(slot.capacity).await {
                slot.permits.close();
                let drained: Vec<_> = std::mem::take(&mut *slot.idle());
                sh.size.fetch_sub(drained.len(), Ordering::Relaxed);
                drop(drained);
                drop(all);
            }
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }
}

impl Shared {
    /// Past its idle timeout or its maximum lifetime (never for an in-memory database).
    fn expired(&self, conn: &LiteConn) -> bool {
        !self.keep_alive
            && (self.idle_timeout.is_some_and(|t| conn.last_used.elapsed() >= t)
                || self.max_lifetime.is_some_and(|t| conn.opened.elapsed() >= t))
    }

    /// Close the idle connections that have expired.
    fn reap(&self) {
        for slot in std::iter::once(&self.writer).chain(self.readers.as_ref()) {
            let mut idle = slot.idle();
            let before = idle.len();
            idle.retain(|c| !self.expired(c));
            self.size.fetch_sub(before - idle.len(), Ordering::Relaxed);
        }
    }
}

/// Close expired idle connections in the background, as the other pools do. The task
/// holds only a weak reference and ends with the pool.
fn spawn_reaper(shared: &Arc<Shared>) {
    let Some(shortest) = [shared.idle_timeout, shared.max_lifetime].into_iter().flatten().min() else { return };
    if shared.keep_alive {
        return;
    }
    let period = (shortest / 4).clamp(Duration::from_millis(50), Duration::from_secs(30));
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(period).await;
            match weak.upgrade() {
                Some(sh) if !sh.closed.load(Ordering::Acquire) => sh.reap(),
                _ => break,
            }
        }
    });
}

fn closed_error() -> Error {
    Error::ConnectionLost("the pool is closed".into())
}

/// Statements that can only read go to the readers: SELECT, VALUES and WITH … SELECT
/// (a `WITH` that writes is refused by the `query_only` reader and re-run on the writer).
fn is_read(sql: &str) -> bool {
    let head = sql.trim_start().as_bytes();
    let starts = |kw: &str| head.len() >= kw.len() && head[..kw.len()].eq_ignore_ascii_case(kw.as_bytes());
    starts("SELECT") || starts("VALUES") || starts("WITH")
}

/// A connection taken from the pool. Dropping it rolls back an open transaction and puts
/// the connection back.
#[derive(Debug)]
pub(crate) struct LiteGuard {
    pool: Option<LitePool>,
    reader: bool,
    pub(crate) conn: Option<Box<LiteConn>>,
    permit: Option<OwnedSemaphorePermit>,
    /// A transaction is open on it: a statement that finds the connection back in
    /// autocommit means SQLite rolled the transaction back itself.
    pub(crate) in_tx: bool,
    /// A read-only transaction on the writer switched `query_only` on.
    pub(crate) restore_query_only: bool,
}

impl LiteGuard {
    /// An empty guard, left behind while the connection is on a blocking thread.
    fn placeholder() -> Self {
        LiteGuard { pool: None, reader: false, conn: None, permit: None, in_tx: false, restore_query_only: false }
    }

    /// Whether this is a `query_only` reader (not the writer).
    pub(crate) fn is_reader(&self) -> bool {
        self.reader && self.pool.as_ref().is_some_and(|p| p.shared.readers.is_some())
    }

    /// True when no transaction is open on the connection (or it is gone).
    pub(crate) fn is_autocommit(&self) -> bool {
        self.conn.as_ref().is_none_or(|c| c.is_autocommit())
    }

    fn conn(&mut self) -> Result<&mut LiteConn> {
        self.conn.as_deref_mut().ok_or_else(|| Error::ConnectionLost("the SQLite connection was lost while a statement ran".into()))
    }

    /// Run a statement: in place, or on a blocking thread when it runs long.
    pub(crate) async fn run(&mut self, s: &RunSettings, stmt: Statement, fetch: Fetch, in_tx: bool) -> Result<Fetched> {
        let (timeout, _) = s.timeout_for(stmt.timeout);
        let limits = Limits { timeout, deadline: timeout.map(|t| Instant::now() + t), in_place_budget: Some(IN_PLACE_BUDGET) };
        let tx_open = self.in_tx;
        let conn = self.conn()?;
        if in_tx && tx_open && conn.is_autocommit() {
            return Err(rolled_back_error());
        }
        if !conn.is_slow(&stmt.sql) {
            match conn.run(&stmt.sql, &stmt.values, fetch, limits) {
                Ok(out) => return Ok(out),
                Err(RunError::Failed(e)) => return Err(e),
                Err(RunError::Offload) => {}
            }
        }
        // Long statement: move the connection (with its permit) to a blocking thread. If
        // this task is cancelled meanwhile, the guard still comes back to the pool there.
        let mut owned = std::mem::replace(self, LiteGuard::placeholder());
        let limits = Limits { in_place_budget: None, ..limits };
        let joined = tokio::task::spawn_blocking(move || {
            let out = match owned.conn() {
                Ok(conn) => conn.run(&stmt.sql, &stmt.values, fetch, limits),
                Err(e) => Err(RunError::Failed(e)),
            };
            (owned, out)
        })
        .await;
        let (owned, out) = joined.map_err(|e| Error::Driver(format!("the SQLite blocking task failed: {e}")))?;
        *self = owned;
        match out {
            Ok(out) => Ok(out),
            Err(RunError::Failed(e)) => Err(e),
            Err(RunError::Offload) => unreachable!("no in-place budget off the runtime"),
        }
    }

    /// Run SQL without parameters or results on this connection (BEGIN, COMMIT…).
    pub(crate) fn batch(&mut self, sql: &str) -> Result<()> {
        self.conn()?.execute_batch(sql)
    }
}

pub(crate) fn rolled_back_error() -> Error {
    Error::Database(crate::DbErrorInfo {
        message: "SQLite rolled the transaction back after an interrupted or failed write; start a new transaction".into(),
        ..Default::default()
    })
}

impl Drop for LiteGuard {
    fn drop(&mut self) {
        let (Some(pool), Some(mut conn)) = (self.pool.take(), self.conn.take()) else { return };
        let sh = &pool.shared;
        let mut healthy = true;
        if !conn.is_autocommit() {
            healthy &= conn.execute_batch("ROLLBACK").is_ok();
        }
        if self.restore_query_only {
            healthy &= conn.execute_batch("PRAGMA query_only = OFF").is_ok();
        }
        if (healthy || sh.keep_alive) && !sh.closed.load(Ordering::Acquire) {
            let slot = if self.reader { sh.readers.as_ref().unwrap_or(&sh.writer) } else { &sh.writer };
            slot.idle().push(conn);
        } else {
            sh.size.fetch_sub(1, Ordering::Relaxed);
        }
        // The permit is released after the connection is back in the list.
        self.permit.take();
    }
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
    Ok(OpenConfig { path, read_only_file, busy_timeout: Duration::from_secs(5) })
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
        assert!(cfg("sqlite://app.db?color=blue").unwrap_err().to_string().contains("color"));
    }
}
