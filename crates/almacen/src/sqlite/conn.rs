//! One SQLite connection, run in place: prepared statements cached per connection, and a
//! progress handler that enforces the statement timeout and hands long statements over
//! to a blocking thread.

use super::bind::Bind;
use super::row::{LiteResult, ResultBuffer};
use crate::executor::{Fetch, Fetched};
use crate::{DbErrorInfo, DbRow, Error, ExecResult};
/// Maps keyed by SQL text hash it on every statement: a fast hasher matters here.
type SqlMap<V> = std::collections::HashMap<Arc<str>, V, foldhash::fast::RandomState>;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// VM instructions between progress-handler calls: a primary-key lookup takes far fewer,
/// so short statements never pay for the check.
const PROGRESS_OPS: i32 = 1_000;
/// Statements kept prepared per connection.
const STATEMENT_CACHE: usize = 256;
/// SQL texts a connection remembers (column names, slowness).
const KNOWN_CACHE: usize = 512;

/// Why the progress handler stopped a statement.
const STOP_NONE: u8 = 0;
const STOP_TIMEOUT: u8 = 1;
const STOP_OFFLOAD: u8 = 2;

/// Work a statement may do on the async thread before it is moved to a blocking thread,
/// in progress-handler ticks of `PROGRESS_OPS` VM instructions (about 1–2 ms of CPU).
/// Counting work rather than time means a statement that was merely preempted is not
/// taken for a long one.
const IN_PLACE_TICKS: u32 = 100;
/// The wall-clock backstop for statements that wait rather than compute (cold disk reads).
const IN_PLACE_WALL: Duration = Duration::from_millis(25);

/// What the progress handler checks: deadlines in nanoseconds since `epoch` (`u64::MAX`:
/// none) and the ticks of work done by the current statement.
#[derive(Debug)]
struct Watch {
    epoch: Instant,
    timeout_at: AtomicU64,
    offload_at: AtomicU64,
    ticks: AtomicU32,
    tick_budget: AtomicU32,
    stopped: AtomicU8,
}

impl Watch {
    fn nanos(&self, at: Option<Instant>) -> u64 {
        at.map_or(u64::MAX, |t| t.saturating_duration_since(self.epoch).as_nanos().min(u64::MAX as u128 - 1) as u64)
    }

    /// Arm the watch for one statement.
    fn arm(&self, deadline: Option<Instant>, offload: Option<(u32, Instant)>) {
        self.stopped.store(STOP_NONE, Ordering::Relaxed);
        self.ticks.store(0, Ordering::Relaxed);
        self.timeout_at.store(self.nanos(deadline), Ordering::Relaxed);
        self.tick_budget.store(offload.map_or(u32::MAX, |(t, _)| t), Ordering::Relaxed);
        self.offload_at.store(self.nanos(offload.map(|(_, at)| at)), Ordering::Relaxed);
    }

    fn disarm(&self) {
        self.timeout_at.store(u64::MAX, Ordering::Relaxed);
        self.offload_at.store(u64::MAX, Ordering::Relaxed);
        self.tick_budget.store(u32::MAX, Ordering::Relaxed);
    }

    fn check(&self) -> bool {
        // Only the connection's own thread runs the handler: no read-modify-write needed.
        let ticks = self.ticks.load(Ordering::Relaxed).saturating_add(1);
        self.ticks.store(ticks, Ordering::Relaxed);
        let now = self.epoch.elapsed().as_nanos() as u64;
        let stop = if now >= self.timeout_at.load(Ordering::Relaxed) {
            STOP_TIMEOUT
        } else if ticks >= self.tick_budget.load(Ordering::Relaxed) || now >= self.offload_at.load(Ordering::Relaxed) {
            STOP_OFFLOAD
        } else {
            return false;
        };
        self.stopped.store(stop, Ordering::Relaxed);
        true
    }
}

/// How long a statement waits for another connection's lock before "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

thread_local! {
    /// False while a statement runs on the async thread: there a lock held elsewhere makes
    /// the statement move to a blocking thread instead of waiting in place.
    static WAIT_FOR_LOCKS: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// SQLite's busy handler: sleep and retry, on SQLite's own schedule, up to `BUSY_TIMEOUT`;
/// give up at once on the async thread.
fn wait_for_lock(attempt: i32) -> bool {
    if !WAIT_FOR_LOCKS.with(|w| w.get()) {
        return false;
    }
    const DELAYS_MS: [u64; 12] = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100];
    let i = attempt.max(0) as usize;
    let (delay, waited) = match DELAYS_MS.get(i) {
        Some(&d) => (d, DELAYS_MS[..i].iter().sum::<u64>()),
        None => (100, DELAYS_MS.iter().sum::<u64>() + (i - DELAYS_MS.len()) as u64 * 100),
    };
    if waited + delay > BUSY_TIMEOUT.as_millis() as u64 {
        return false;
    }
    std::thread::sleep(Duration::from_millis(delay));
    true
}

/// SQLITE_BUSY: another connection holds the lock.
fn is_busy(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
}

/// How a run on this connection ended without a result.
pub(crate) enum RunError {
    /// The statement failed.
    Failed(Error),
    /// The statement ran past its in-place budget and was stopped before it changed
    /// anything: run it again on a blocking thread.
    Offload,
}

impl From<Error> for RunError {
    fn from(e: Error) -> Self {
        RunError::Failed(e)
    }
}

/// Limits for one run.
#[derive(Clone, Copy)]
pub(crate) struct Limits {
    /// The statement timeout, for the error message.
    pub timeout: Option<Duration>,
    /// When the statement times out.
    pub deadline: Option<Instant>,
    /// Running on the calling (async) thread, with the in-place budget; false when
    /// already on a blocking thread.
    pub in_place: bool,
}

/// How a connection is opened.
#[derive(Debug, Clone)]
pub(crate) struct OpenConfig {
    /// A file path or SQLite URI (`file:…`); `None` for a private in-memory database.
    pub path: Option<String>,
    pub read_only_file: bool,
}

/// What a connection remembers of one SQL text.
#[derive(Default)]
struct Known {
    /// Column names, shared by every row the statement returns.
    columns: Option<Arc<[Box<str>]>>,
    /// It did a lot of work here before: start it on a blocking thread.
    slow: bool,
}

/// A SQLite connection and what almacen keeps beside it.
pub(crate) struct LiteConn {
    conn: rusqlite::Connection,
    watch: Arc<Watch>,
    /// What almacen knows of each SQL text run here: one lookup per statement.
    known: SqlMap<Known>,
    /// The last result, reused when its rows are gone.
    results: ResultBuffer,
    pub(crate) opened: Instant,
    pub(crate) last_used: Instant,
}

impl std::fmt::Debug for LiteConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiteConn").field("opened", &self.opened).finish_non_exhaustive()
    }
}

impl LiteConn {
    /// Open a connection; readers are `query_only`, so a write sent to one fails instead
    /// of competing with the writer.
    pub(crate) fn open(cfg: &OpenConfig, reader: bool) -> Result<LiteConn, Error> {
        use rusqlite::OpenFlags as F;
        let conn = match &cfg.path {
            None => rusqlite::Connection::open_in_memory(),
            Some(path) => {
                let access = if cfg.read_only_file { F::SQLITE_OPEN_READ_ONLY } else { F::SQLITE_OPEN_READ_WRITE | F::SQLITE_OPEN_CREATE };
                rusqlite::Connection::open_with_flags(path, access | F::SQLITE_OPEN_URI | F::SQLITE_OPEN_NO_MUTEX)
            }
        }
        .map_err(|e| open_error(cfg, e))?;
        conn.busy_handler(Some(wait_for_lock)).map_err(lite_error)?;
        conn.execute_batch("PRAGMA foreign_keys = ON").map_err(lite_error)?;
        if cfg.path.is_some() && !cfg.read_only_file {
            // WAL lets readers run while the writer writes; NORMAL sync is safe with WAL.
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())).map_err(|e| open_error(cfg, e))?;
            conn.execute_batch("PRAGMA synchronous = NORMAL").map_err(lite_error)?;
        }
        if reader {
            conn.execute_batch("PRAGMA query_only = ON").map_err(lite_error)?;
        }
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let watch = Arc::new(Watch {
            epoch: Instant::now(),
            timeout_at: AtomicU64::new(u64::MAX),
            offload_at: AtomicU64::new(u64::MAX),
            ticks: AtomicU32::new(0),
            tick_budget: AtomicU32::new(u32::MAX),
            stopped: AtomicU8::new(STOP_NONE),
        });
        let handler_watch = watch.clone();
        conn.progress_handler(PROGRESS_OPS, Some(move || handler_watch.check())).map_err(lite_error)?;
        let now = Instant::now();
        Ok(LiteConn { conn, watch, known: SqlMap::default(), results: ResultBuffer::default(), opened: now, last_used: now })
    }

    /// True when no transaction is open on the connection.
    pub(crate) fn is_autocommit(&self) -> bool {
        self.conn.is_autocommit()
    }

    /// Run SQL without parameters and without results (BEGIN, COMMIT, PRAGMA…), waiting
    /// for locks held elsewhere.
    pub(crate) fn execute_batch(&mut self, sql: &str) -> Result<(), Error> {
        self.last_used = Instant::now();
        self.conn.execute_batch(sql).map_err(lite_error)
    }

    /// [`execute_batch`](Self::execute_batch) on the async thread: `Offload` instead of
    /// waiting when another connection holds the lock (nothing has been done then).
    #[allow(clippy::result_large_err, reason = "see run")]
    pub(crate) fn execute_batch_in_place(&mut self, sql: &str) -> Result<(), RunError> {
        self.last_used = Instant::now();
        WAIT_FOR_LOCKS.with(|w| w.set(false));
        let out = self.conn.execute_batch(sql);
        WAIT_FOR_LOCKS.with(|w| w.set(true));
        match out {
            Err(e) if is_busy(&e) => Err(RunError::Offload),
            other => other.map_err(|e| RunError::Failed(lite_error(e))),
        }
    }

    /// A handle that interrupts whatever statement this connection is running.
    pub(crate) fn interrupt_handle(&self) -> rusqlite::InterruptHandle {
        self.conn.get_interrupt_handle()
    }

    /// Run one statement to the end.
    #[allow(
        clippy::result_large_err,
        reason = "the crate's Error, plus one variant; boxing would cost every failed statement an allocation"
    )]
    pub(crate) fn run(&mut self, sql: &Arc<str>, values: &[sea_query::Value], fetch: Fetch, limits: Limits) -> Result<Fetched, RunError> {
        self.last_used = Instant::now();
        WAIT_FOR_LOCKS.with(|w| w.set(!limits.in_place));
        let out = self.run_inner(sql, values, fetch, limits);
        WAIT_FOR_LOCKS.with(|w| w.set(true));
        self.watch.disarm();
        match out {
            Err(RunError::Failed(e)) => match self.watch.stopped.swap(STOP_NONE, Ordering::Relaxed) {
                STOP_TIMEOUT => {
                    let limit = limits.timeout.unwrap_or_default();
                    Err(RunError::Failed(Error::StatementTimeout(format!("statement exceeded {limit:?} and was interrupted"))))
                }
                STOP_OFFLOAD => {
                    self.mark_slow(sql);
                    Err(RunError::Offload)
                }
                _ => Err(RunError::Failed(e)),
            },
            Ok(out) => {
                let ticks = self.watch.ticks.load(Ordering::Relaxed);
                if limits.in_place && ticks >= IN_PLACE_TICKS {
                    // Long without being stopped (a write inside a transaction cannot be
                    // restarted): next time, start it on a blocking thread.
                    self.mark_slow(sql);
                } else if !limits.in_place && ticks < IN_PLACE_TICKS / 2 {
                    // Short after all (it was stopped for waiting, not for working).
                    if let Some(known) = self.known.get_mut(&**sql) {
                        known.slow = false;
                    }
                }
                Ok(out)
            }
            Err(RunError::Offload) => Err(RunError::Offload),
        }
    }

    fn mark_slow(&mut self, sql: &Arc<str>) {
        self.known_mut(sql).slow = true;
    }

    /// The entry for `sql`, made when missing (the map is emptied when full).
    fn known_mut(&mut self, sql: &Arc<str>) -> &mut Known {
        if self.known.len() >= KNOWN_CACHE && !self.known.contains_key(&**sql) {
            self.known.clear();
        }
        self.known.entry(sql.clone()).or_default()
    }

    #[allow(clippy::result_large_err, reason = "see run")]
    fn run_inner(&mut self, sql: &Arc<str>, values: &[sea_query::Value], fetch: Fetch, limits: Limits) -> Result<Fetched, RunError> {
        let (known_columns, slow) = match self.known.get(&**sql) {
            Some(k) => (k.columns.clone(), k.slow),
            None => (None, false),
        };
        if slow && limits.in_place {
            return Err(RunError::Offload);
        }
        let mut stmt = match self.conn.prepare_cached(sql) {
            Ok(stmt) => stmt,
            // Several statements in one text (scripts, DDL): run them as a batch, always on
            // a blocking thread (stopping half-way would not undo the first statements).
            Err(rusqlite::Error::MultipleStatement) if values.is_empty() => {
                if limits.in_place {
                    return Err(RunError::Offload);
                }
                self.watch.arm(limits.deadline, None);
                let before = self.conn.total_changes();
                self.conn.execute_batch(sql).map_err(lite_error)?;
                let rows_affected = self.conn.total_changes() - before;
                return Ok(Fetched::Done(ExecResult { rows_affected, last_insert_id: None }));
            }
            // Waiting for another connection's lock must not happen on the async thread.
            Err(e) if limits.in_place && is_busy(&e) => return Err(RunError::Offload),
            Err(e) => return Err(lite_error(e).into()),
        };
        bind_all(&mut stmt, values)?;
        let read_only = stmt.readonly();
        // Stopping a statement undoes it only when it is a read, or a write outside an
        // explicit transaction (SQLite rolls back the whole transaction otherwise).
        let restartable = read_only || self.conn.is_autocommit();
        let offload = (limits.in_place && restartable).then(|| (IN_PLACE_TICKS, self.last_used + IN_PLACE_WALL));
        self.watch.arm(limits.deadline, offload);

        let n = stmt.column_count();
        let columns = if n > 0 && !matches!(fetch, Fetch::Execute) {
            match known_columns {
                Some(c) => Some(c),
                None => {
                    let names: Arc<[Box<str>]> = stmt.column_names().into_iter().map(Box::from).collect();
                    // (`stmt` borrows the connection, not `known`.)
                    let known = self.known.len() < KNOWN_CACHE || self.known.contains_key(&**sql);
                    if !known {
                        self.known.clear();
                    }
                    self.known.entry(sql.clone()).or_default().columns = Some(names.clone());
                    Some(names)
                }
            }
        } else {
            None
        };
        let changes_before = if read_only { 0 } else { self.conn.total_changes() };
        let mut rows = stmt.raw_query();
        let mut result = columns.map(|c| self.results.start(c));
        let offload_when_busy = limits.in_place && restartable;
        let busy_offload = |e: rusqlite::Error| if offload_when_busy && is_busy(&e) { RunError::Offload } else { lite_error(e).into() };
        while let Some(row) = rows.next().map_err(busy_offload)? {
            let Some(result) = result.as_mut() else { continue };
            for i in 0..n {
                result.push(row.get_ref(i).map_err(lite_error)?);
            }
            // A write's RETURNING rows all come with the first step: keep stepping it.
            if matches!(fetch, Fetch::Optional) && read_only {
                break;
            }
        }
        drop(rows);
        let filled = result.is_some();
        Ok(match fetch {
            Fetch::All if filled => self.results.set().map_or(Fetched::Rows(Vec::new()), Fetched::Set),
            Fetch::All => Fetched::Rows(Vec::new()),
            Fetch::Optional if filled => Fetched::Row(self.results.first_row()),
            Fetch::Optional => Fetched::Row(None),
            Fetch::Execute => Fetched::Done(ExecResult {
                // `changes()` keeps the last INSERT/UPDATE/DELETE's count through DDL: count
                // only when this statement changed rows.
                rows_affected: if read_only || self.conn.total_changes() == changes_before { 0 } else { self.conn.changes() },
                last_insert_id: Some(self.conn.last_insert_rowid()),
            }),
        })
    }

    /// Step `sql` and hand each row to `send` until it returns false (for streams).
    pub(crate) fn stream(
        &mut self,
        sql: &str,
        values: &[sea_query::Value],
        deadline: Option<Instant>,
        mut send: impl FnMut(Result<DbRow, Error>) -> bool,
    ) {
        self.last_used = Instant::now();
        let result = (|| -> Result<(), Error> {
            let mut stmt = self.conn.prepare_cached(sql).map_err(lite_error)?;
            bind_all(&mut stmt, values)?;
            self.watch.arm(deadline, None);
            let columns: Arc<[Box<str>]> = stmt.column_names().into_iter().map(Box::from).collect();
            let n = columns.len();
            let mut rows = stmt.raw_query();
            while let Some(row) = rows.next().map_err(lite_error)? {
                let mut one = LiteResult::new(columns.clone());
                for i in 0..n {
                    one.push(row.get_ref(i).map_err(lite_error)?);
                }
                for row in one.into_rows() {
                    if !send(Ok(row)) {
                        return Ok(());
                    }
                }
            }
            Ok(())
        })();
        self.watch.disarm();
        if let Err(e) = result {
            let e = match self.watch.stopped.swap(STOP_NONE, Ordering::Relaxed) {
                STOP_TIMEOUT => Error::StatementTimeout("statement exceeded its timeout and was interrupted".into()),
                _ => e,
            };
            send(Err(e));
        }
    }
}

/// Bind every value, after checking there is one per parameter.
fn bind_all(stmt: &mut rusqlite::Statement<'_>, values: &[sea_query::Value]) -> Result<(), Error> {
    let expected = stmt.parameter_count();
    if expected != values.len() {
        return Err(Error::Parameter(format!("the statement takes {expected} parameters but {} were given", values.len())));
    }
    for (i, v) in values.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, Bind(v)).map_err(lite_error)?;
    }
    Ok(())
}

fn open_error(cfg: &OpenConfig, e: rusqlite::Error) -> Error {
    let what = cfg.path.as_deref().unwrap_or(":memory:");
    match lite_error(e) {
        Error::Database(info) => Error::ConnectionLost(format!("cannot open SQLite database {what:?}: {info}")),
        other => other,
    }
}

/// Classify a rusqlite error like every other driver's (extended result codes).
pub(crate) fn lite_error(e: rusqlite::Error) -> Error {
    match e {
        rusqlite::Error::SqliteFailure(err, message) => {
            let message = message.unwrap_or_else(|| err.to_string());
            crate::error::classify_sqlite_info(DbErrorInfo {
                constraint: crate::error::sqlite_constraint_target(&message),
                message,
                code: Some(err.extended_code.to_string()),
                table: None,
                column: None,
            })
        }
        rusqlite::Error::SqlInputError { error, msg, offset, .. } => crate::error::classify_sqlite_info(DbErrorInfo {
            message: format!("{msg} (at offset {offset})"),
            code: Some(error.extended_code.to_string()),
            ..Default::default()
        }),
        rusqlite::Error::InvalidParameterCount(given, expected) => {
            Error::Parameter(format!("the statement takes {expected} parameters but {given} were given"))
        }
        rusqlite::Error::ToSqlConversionFailure(e) => Error::Parameter(e.to_string()),
        rusqlite::Error::MultipleStatement => {
            Error::Parameter("several statements in one text cannot take parameters: send them one by one".into())
        }
        other => Error::Driver(other.to_string()),
    }
}
