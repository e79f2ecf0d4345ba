//! One SQLite connection, run in place: prepared statements cached per connection, and a
//! progress handler that enforces the statement timeout and hands long statements over
//! to a blocking thread.

use super::bind::Bind;
use super::memo::Memo;
use super::result::ResultBuffer;
use crate::data::error::{DbErrorInfo, Error};
use crate::data::row::DbRow;
use crate::data::sqlite::{Columns, LiteColumn, LiteResult, LiteRow, LiveRow};
use crate::engine::config::{JournalMode, Synchronous};
use crate::engine::executor::{Fetch, Fetched};
use crate::engine::statement::ExecResult;
/// Maps keyed by SQL text hash it on every statement: a fast hasher matters here.
type SqlMap<V> = hashbrown::HashMap<Arc<str>, V, foldhash::fast::RandomState>;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// VM instructions between progress-handler calls: a primary-key lookup takes far fewer,
/// so short statements never pay for the check.
const PROGRESS_OPS: i32 = 1_000;
/// Statements kept prepared per connection.
const STATEMENT_CACHE: usize = 256;

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
/// Rows a transaction may change and still commit or roll back on the async thread. Above
/// it (or when one of its writes did `IN_PLACE_TICKS` of work) its COMMIT writes many pages
/// and its ROLLBACK undoes many: both run on a blocking thread, where one more hop is
/// nothing beside the work.
const LARGE_TX_CHANGES: u64 = 1_000;

/// What the progress handler checks: deadlines in nanoseconds since `epoch` (`u64::MAX`:
/// none) and the ticks of work done by the current statement.
#[derive(Debug)]
struct Watch {
    epoch: Instant,
    timeout_at: AtomicU64,
    offload_at: AtomicU64,
    ticks: AtomicU32,
    tick_budget: AtomicU32,
    /// The in-place wall-clock backstop applies but its start was not read: `offload_at` is
    /// then set at the first tick (see [`arm`](Self::arm)).
    wall_backstop: AtomicBool,
    stopped: AtomicU8,
}

impl Watch {
    fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos().min(u64::MAX as u128 - 1) as u64
    }

    /// Arm the watch for one statement: its timeout, and, when it runs on the async thread
    /// with the in-place budget, when it started. A statement whose last run reached no
    /// progress tick (nearly every lookup) does not read the clock: if it reaches one this
    /// time, its wall-clock backstop counts from there.
    fn arm(&self, deadline: Option<Instant>, in_place: Option<Option<Instant>>) {
        self.stopped.store(STOP_NONE, Ordering::Relaxed);
        self.ticks.store(0, Ordering::Relaxed);
        self.timeout_at.store(deadline.map_or(u64::MAX, |d| self.nanos(d)), Ordering::Relaxed);
        self.tick_budget.store(if in_place.is_some() { IN_PLACE_TICKS } else { u32::MAX }, Ordering::Relaxed);
        let started = in_place.flatten();
        self.offload_at.store(started.map_or(u64::MAX, |s| self.nanos(s + IN_PLACE_WALL)), Ordering::Relaxed);
        self.wall_backstop.store(in_place.is_some() && started.is_none(), Ordering::Relaxed);
    }

    fn disarm(&self) {
        self.timeout_at.store(u64::MAX, Ordering::Relaxed);
        self.offload_at.store(u64::MAX, Ordering::Relaxed);
        self.tick_budget.store(u32::MAX, Ordering::Relaxed);
        self.wall_backstop.store(false, Ordering::Relaxed);
    }

    fn check(&self) -> bool {
        // Only the connection's own thread runs the handler: no read-modify-write needed.
        let ticks = self.ticks.load(Ordering::Relaxed).saturating_add(1);
        self.ticks.store(ticks, Ordering::Relaxed);
        let now = self.epoch.elapsed().as_nanos() as u64;
        if ticks == 1 && self.wall_backstop.load(Ordering::Relaxed) {
            self.offload_at.store(now.saturating_add(IN_PLACE_WALL.as_nanos() as u64), Ordering::Relaxed);
        }
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
    /// Set when a commit on the async thread left the WAL due for a checkpoint
    /// ([`after_commit`]); the connection takes it over as soon as the run ends.
    static CHECKPOINT_DUE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// WAL frames after a commit from which the WAL is checkpointed (SQLite's own default).
const CHECKPOINT_FRAMES: std::ffi::c_int = 1_000;

/// The writer's WAL hook, in place of SQLite's auto-checkpoint (same threshold): a
/// checkpoint copies the WAL into the database and syncs it (a few milliseconds after small
/// commits, up to seconds after a large one), so a commit on the async thread only marks it
/// due, and it runs on a blocking thread as the connection goes back to the pool. PASSIVE,
/// as SQLite's: it never waits for readers.
fn after_commit(wal: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    if frames >= CHECKPOINT_FRAMES {
        if WAIT_FOR_LOCKS.with(|w| w.get()) {
            // Off the async thread: (an error only means another checkpoint is running.)
            let _ = wal.checkpoint();
        } else {
            CHECKPOINT_DUE.with(|c| c.set(true));
        }
    }
    Ok(())
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

/// Disarms the watch and lets the thread wait for locks again when a run ends, however it
/// ends (a decoder may panic).
struct RunEnd<'w>(&'w Watch);

impl Drop for RunEnd<'_> {
    fn drop(&mut self) {
        WAIT_FOR_LOCKS.with(|w| w.set(true));
        self.0.disarm();
    }
}

/// How a run on this connection ended without a result.
pub(crate) enum RunError {
    /// The statement failed.
    Failed(Error),
    /// The statement ran past its in-place budget and was stopped before it changed
    /// anything: run it again on a blocking thread.
    Offload,
}

impl RunError {
    /// The error of a run that could not be offloaded (it was already off the async thread).
    pub(crate) fn into_error(self) -> Error {
        match self {
            RunError::Failed(e) => e,
            RunError::Offload => unreachable!("no in-place budget off the async thread"),
        }
    }
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
    /// When the statement started, if the clock was read for its deadline.
    pub started: Option<Instant>,
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
    /// The journal mode and synchronous level every connection sets (and checks); `None`
    /// leaves SQLite's (in-memory and read-only databases).
    pub journal: Option<(JournalMode, Synchronous)>,
}

/// What the runs of a statement on this connection have shown of its work.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pace {
    /// Not run to the end yet. A read or a write outside a transaction starts in place (it
    /// can be stopped and run again); a write inside a transaction cannot (stopping it
    /// would roll the whole transaction back, savepoints included), so it starts on a
    /// blocking thread.
    New,
    /// Its last run did little work: it starts in place.
    Short,
    /// Its last run did a lot of work: it starts on a blocking thread.
    Slow,
    /// `ROLLBACK TO` a savepoint (or `ROLLBACK`), whose work is one VM instruction (no
    /// progress tick can stop it) and grows with what it undoes: on a blocking thread in a
    /// large transaction.
    Undo,
}

impl Pace {
    /// The pace a run that ended normally after `ticks` of work shows.
    fn after(self, ticks: u32, in_place: bool) -> Pace {
        if self == Pace::Undo {
            self
        } else if ticks >= IN_PLACE_TICKS {
            Pace::Slow
        } else if in_place || ticks < IN_PLACE_TICKS / 2 {
            // (Off the runtime, short only well below the budget: it may have been moved
            // there for waiting rather than working.)
            Pace::Short
        } else {
            self
        }
    }
}

/// A statement prepared on a connection, and what almacen knows of it.
struct Prepared<'c> {
    stmt: rusqlite::Statement<'c>,
    /// Column names, shared by every row the statement returns.
    columns: Columns,
    /// Where it starts (in place or on a blocking thread), from its earlier runs here.
    pace: Pace,
    /// Read the clock when it starts, for its in-place wall-clock backstop: it is new, or
    /// its last run reached a progress tick (a lookup never does, and skips the read).
    timed: bool,
    /// How many times SQLite prepared it again after a schema change, when `columns` were
    /// read (a `SELECT *` changes its columns with the table).
    reprepared: i32,
}

/// The statements prepared on a connection, by SQL text.
type Statements<'c> = SqlMap<Prepared<'c>>;

self_cell::self_cell!(
    /// A rusqlite connection and the statements prepared on it (which borrow it). almacen
    /// keeps its own statement cache: rusqlite's copies the SQL text into a new key and
    /// hashes it twice per statement, which cost a lookup by key a fifth of its time.
    struct Session {
        owner: rusqlite::Connection,
        #[covariant]
        dependent: Statements,
    }
);

// SAFETY: a `Statement` is not `Send` only because it holds a `&Connection` and a
// `Connection` is not `Sync`. Here the connection and every statement that borrows it are
// owned by one `Session` and only reached through it (`with_dependent_mut` borrows the
// whole session), so they always move between threads together and are never used from
// two threads at once.
unsafe impl Send for Session {}

/// A SQLite connection and what almacen keeps beside it.
pub(crate) struct LiteConn {
    session: Session,
    watch: Arc<Watch>,
    /// The last result, reused when its rows are gone.
    results: ResultBuffer,
    /// What the open transaction has done, for where its end runs
    /// ([`is_large_transaction`](Self::is_large_transaction)): SQLite's count of changed
    /// rows when it began, and whether one of its writes did a lot of work.
    tx_changes_at: u64,
    tx_long: bool,
    /// A commit in place left the WAL to checkpoint ([`after_commit`]).
    checkpoint_due: bool,
    /// Rows of deterministic reads kept on a reader ([`super::memo`]).
    memo: Memo,
    /// Statements run here (the age of kept rows).
    runs: u64,
    pub(crate) opened: Instant,
    /// The pool's reaper tick when the connection was last given back (idle timeout).
    pub(crate) idle_since: u32,
}

impl std::fmt::Debug for LiteConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiteConn").field("opened", &self.opened).finish_non_exhaustive()
    }
}

impl LiteConn {
    /// Open a connection; readers are `query_only`, so a write sent to one fails instead
    /// of competing with the writer. With `wait` false (on the async thread) a lock held
    /// elsewhere is not waited for: `Offload` then says to open it on a blocking thread.
    #[cold]
    #[inline(never)]
    #[allow(clippy::result_large_err, reason = "see run")]
    pub(crate) fn open(cfg: &OpenConfig, reader: bool, wait: bool) -> Result<LiteConn, RunError> {
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
        super::functions::register(&conn).map_err(lite_error)?;
        conn.execute_batch("PRAGMA foreign_keys = ON").map_err(lite_error)?;
        if let Some((mode, sync)) = cfg.journal {
            // Setting the journal mode reads the database's header, under a shared lock that
            // a rollback journal's writer may hold off while it commits.
            WAIT_FOR_LOCKS.with(|w| w.set(wait));
            let set = set_journal(&conn, cfg, mode, sync);
            WAIT_FOR_LOCKS.with(|w| w.set(true));
            set?;
            // The WAL hook runs the writer's checkpoints; without a WAL there are none.
            if mode == JournalMode::Wal && !reader {
                conn.wal_hook(Some(after_commit));
            }
        }
        if reader {
            conn.execute_batch("PRAGMA query_only = ON").map_err(lite_error)?;
        }
        let watch = Arc::new(Watch {
            epoch: Instant::now(),
            timeout_at: AtomicU64::new(u64::MAX),
            offload_at: AtomicU64::new(u64::MAX),
            ticks: AtomicU32::new(0),
            tick_budget: AtomicU32::new(u32::MAX),
            wall_backstop: AtomicBool::new(false),
            stopped: AtomicU8::new(STOP_NONE),
        });
        let handler_watch = watch.clone();
        conn.progress_handler(PROGRESS_OPS, Some(move || handler_watch.check())).map_err(lite_error)?;
        let session = Session::new(conn, |_| Statements::default());
        Ok(LiteConn {
            session,
            watch,
            results: ResultBuffer::default(),
            tx_changes_at: 0,
            tx_long: false,
            checkpoint_due: false,
            memo: Memo::default(),
            runs: 0,
            opened: Instant::now(),
            idle_since: 0,
        })
    }

    fn conn(&self) -> &rusqlite::Connection {
        self.session.borrow_owner()
    }

    /// True when no transaction is open on the connection.
    pub(crate) fn is_autocommit(&self) -> bool {
        self.conn().is_autocommit()
    }

    /// A transaction starts: count what it does from here.
    pub(crate) fn transaction_starts(&mut self) {
        self.tx_changes_at = self.conn().total_changes();
        self.tx_long = false;
    }

    /// Whether the open transaction (since [`transaction_starts`](Self::transaction_starts))
    /// changed more than `LARGE_TX_CHANGES` rows or ran a long write (DDL on a large table
    /// changes no rows): then its COMMIT or ROLLBACK may take a while and runs on a
    /// blocking thread.
    pub(crate) fn is_large_transaction(&self) -> bool {
        large_transaction(self.conn(), self.tx_changes_at, self.tx_long)
    }

    /// Whether a commit in place left the WAL due for a checkpoint.
    pub(crate) fn checkpoint_due(&self) -> bool {
        self.checkpoint_due
    }

    /// Checkpoint the WAL if a commit in place left it due (PASSIVE: never waits).
    #[inline]
    pub(crate) fn checkpoint_if_due(&mut self) {
        if self.checkpoint_due {
            self.checkpoint();
        }
    }

    #[cold]
    #[inline(never)]
    fn checkpoint(&mut self) {
        self.checkpoint_due = false;
        // (An error only means another connection is checkpointing.)
        let _ = self.conn().execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
    }

    /// Run SQL without parameters and without results (BEGIN, COMMIT, PRAGMA…), waiting
    /// for locks held elsewhere.
    pub(crate) fn execute_batch(&mut self, sql: &str) -> Result<(), Error> {
        self.conn().execute_batch(sql).map_err(lite_error)
    }

    /// [`execute_batch`](Self::execute_batch) on the async thread: `Offload` instead of
    /// waiting when another connection holds the lock (nothing has been done then).
    #[allow(clippy::result_large_err, reason = "see run")]
    pub(crate) fn execute_batch_in_place(&mut self, sql: &str) -> Result<(), RunError> {
        WAIT_FOR_LOCKS.with(|w| w.set(false));
        let out = self.conn().execute_batch(sql);
        WAIT_FOR_LOCKS.with(|w| w.set(true));
        self.checkpoint_due |= CHECKPOINT_DUE.with(|c| c.replace(false));
        match out {
            Err(e) if is_busy(&e) => Err(RunError::Offload),
            other => other.map_err(|e| RunError::Failed(lite_error(e))),
        }
    }

    /// A handle that interrupts whatever statement this connection is running.
    pub(crate) fn interrupt_handle(&self) -> rusqlite::InterruptHandle {
        self.conn().get_interrupt_handle()
    }

    /// Run one statement to the end.
    #[allow(
        clippy::result_large_err,
        reason = "the crate's Error, plus one variant; boxing would cost every failed statement an allocation"
    )]
    pub(crate) fn run(
        &mut self,
        sql: &str,
        values: &[sea_query::Value],
        mut fetch: Fetch<'_>,
        limits: Limits,
    ) -> Result<Fetched, RunError> {
        self.runs += 1;
        let mark = fetch.mark();
        let out = self.run_inner(sql, values, fetch.reborrow(), limits);
        let out = self.classify(sql, out, limits);
        if matches!(out, Err(RunError::Offload)) {
            // Rows decoded in place before the stop are handed again by the run that follows.
            fetch.rewind(mark);
        }
        out
    }

    /// This connection's `PRAGMA data_version`, read in place (its own short read); `None`
    /// when it cannot be read at once. See [`super::memo`].
    pub(crate) fn data_version(&mut self) -> Option<i64> {
        let limits = Limits { timeout: None, deadline: None, started: None, in_place: true };
        match self.run("PRAGMA data_version", &[], Fetch::Optional, limits) {
            Ok(Fetched::Row(Some(row))) => row.get_as::<i64>(0).ok(),
            _ => None,
        }
    }

    /// The row kept for `sql` with these values (see [`memo::values_key`]) under `version`.
    pub(crate) fn kept_row(&self, sql: &str, values: &str, version: i64) -> Option<DbRow> {
        self.memo.get(sql, values, version, self.runs)
    }

    /// Keep `row` for `sql` with these values under `version`, read before it ran.
    pub(crate) fn keep_row(&mut self, sql: &str, values: String, version: i64, row: LiteRow) {
        self.memo.put(sql, values, version, self.runs, row);
    }

    /// Tell why a run was stopped (timeout, moved to a blocking thread).
    #[allow(clippy::result_large_err, reason = "see run")]
    fn classify(&mut self, sql: &str, out: Result<Fetched, RunError>, limits: Limits) -> Result<Fetched, RunError> {
        match out {
            Err(RunError::Failed(e)) => match self.watch.stopped.swap(STOP_NONE, Ordering::Relaxed) {
                STOP_TIMEOUT => {
                    let limit = limits.timeout.unwrap_or_default();
                    Err(RunError::Failed(Error::StatementTimeout(format!("statement exceeded {limit:?} and was interrupted"))))
                }
                STOP_OFFLOAD => {
                    self.session.with_dependent_mut(|_, statements| {
                        if let Some(p) = statements.get_mut(sql) {
                            p.pace = Pace::Slow;
                        }
                    });
                    Err(RunError::Offload)
                }
                _ => Err(RunError::Failed(e)),
            },
            other => other,
        }
    }

    #[allow(clippy::result_large_err, reason = "see run")]
    fn run_inner(&mut self, sql: &str, values: &[sea_query::Value], mut fetch: Fetch<'_>, limits: Limits) -> Result<Fetched, RunError> {
        let LiteConn { session, watch, results, tx_changes_at, tx_long, checkpoint_due, .. } = self;
        WAIT_FOR_LOCKS.with(|w| w.set(!limits.in_place));
        let _end = RunEnd(watch);
        session.with_dependent_mut(|conn, statements| {
            if statements.len() >= STATEMENT_CACHE && !statements.contains_key(sql) {
                statements.clear();
            }
            let prepared = match statements.entry_ref(sql) {
                hashbrown::hash_map::EntryRef::Occupied(e) => e.into_mut(),
                hashbrown::hash_map::EntryRef::Vacant(e) => match prepare(conn, sql) {
                    Ok(prepared) => e.insert(prepared),
                    // Several statements in one text (scripts, DDL): run them as a batch,
                    // always on a blocking thread (stopping half-way would not undo the first
                    // statements).
                    Err(rusqlite::Error::MultipleStatement) if values.is_empty() => {
                        if limits.in_place {
                            return Err(RunError::Offload);
                        }
                        return run_batch(conn, watch, sql, limits);
                    }
                    // Waiting for another connection's lock must not happen on the async thread.
                    Err(e) if limits.in_place && is_busy(&e) => return Err(RunError::Offload),
                    Err(e) => return Err(lite_error(e).into()),
                },
            };
            let read_only = prepared.stmt.readonly();
            // Stopping a statement undoes it only when it is a read, or a write outside an
            // explicit transaction (SQLite rolls back the whole transaction otherwise).
            let restartable = read_only || conn.is_autocommit();
            if limits.in_place
                && match prepared.pace {
                    Pace::Short => false,
                    Pace::Slow => true,
                    Pace::New => !restartable,
                    Pace::Undo => !conn.is_autocommit() && large_transaction(conn, *tx_changes_at, *tx_long),
                }
            {
                return Err(RunError::Offload);
            }
            let Prepared { stmt, columns, reprepared, timed, pace } = prepared;
            // Copied text and blobs stay bound until cleared: the connection's small-allocation
            // pool (lookaside) would fill up with them, and every later statement would
            // allocate its cursors from the heap (a third more work for a lookup).
            let clear_bindings = match bind_all(stmt, values) {
                Ok(clear) => clear,
                Err(e) => {
                    stmt.clear_bindings();
                    return Err(e.into());
                }
            };
            let started = limits.started.or_else(|| timed.then(Instant::now));
            watch.arm(limits.deadline, (limits.in_place && restartable).then_some(started));

            let mut n = columns.len();
            let first_only = matches!(fetch, Fetch::Optional | Fetch::Decode { first: true, .. });
            let execute = matches!(fetch, Fetch::Execute);
            // A sink that decodes in place gets each row as it is stepped; otherwise the rows
            // are copied into the result buffer.
            let mut in_place = match &mut fetch {
                Fetch::Decode { sink, .. } if n > 0 && sink.in_place() => Some(&mut **sink),
                _ => None,
            };
            let mut result = (n > 0 && in_place.is_none() && !execute).then(|| results.start(columns));
            let filled = result.is_some();
            let changes_before = if read_only { 0 } else { conn.total_changes() };
            let offload_when_busy = limits.in_place && restartable;
            let busy_offload = |e: rusqlite::Error| if offload_when_busy && is_busy(&e) { RunError::Offload } else { lite_error(e).into() };
            let mut decoded = 0u64;
            let stepped = (|| -> Result<(), RunError> {
                let mut rows = stmt.raw_query();
                let mut first_row = true;
                while let Some(row) = rows.next().map_err(busy_offload)? {
                    if std::mem::take(&mut first_row) {
                        // After a schema change SQLite prepares the statement again as it
                        // steps, and its columns may have changed with the table.
                        let now = AsRef::<rusqlite::Statement>::as_ref(row);
                        let count = now.get_status(rusqlite::StatementStatus::RePrepare);
                        if count != *reprepared {
                            *reprepared = count;
                            *columns = column_names(now);
                            n = columns.len();
                            if let Some(result) = result.as_mut() {
                                result.set_columns(columns);
                            }
                        }
                    }
                    if let Some(sink) = in_place.as_deref_mut() {
                        // A write's RETURNING rows are all stepped; only the first is wanted.
                        if !(first_only && decoded > 0) {
                            sink.live_row(&LiveRow::new(row, columns))?;
                            decoded += 1;
                        }
                    } else if let Some(result) = result.as_mut() {
                        for i in 0..n {
                            result.push(row.get_ref(i).map_err(lite_error)?);
                        }
                    }
                    // A write's RETURNING rows all come with the first step: keep stepping it.
                    if first_only && read_only {
                        break;
                    }
                }
                Ok(())
            })();
            let in_place = in_place.is_some();
            let ticks = watch.ticks.load(Ordering::Relaxed);
            *timed = ticks > 0;
            if clear_bindings {
                stmt.clear_bindings();
            }
            if limits.in_place && !read_only {
                // A write in autocommit commits as it ends, which may leave a checkpoint due.
                *checkpoint_due |= CHECKPOINT_DUE.with(|c| c.replace(false));
            }
            stepped?;
            // Remembered for its next run here (a long one stopped in place is marked by
            // `classify`), and for where its transaction's end runs (a long write leaves
            // much to commit or undo; a long read nothing).
            *pace = pace.after(ticks, limits.in_place);
            *tx_long |= !read_only && ticks >= IN_PLACE_TICKS;
            Ok(match fetch {
                Fetch::All if filled => results.set().map_or(Fetched::Rows(Vec::new()), Fetched::Set),
                Fetch::All => Fetched::Rows(Vec::new()),
                Fetch::Optional if filled => Fetched::Row(results.first_row()),
                Fetch::Optional => Fetched::Row(None),
                Fetch::Decode { .. } if in_place => Fetched::Done(ExecResult { rows_affected: decoded, last_insert_id: None }),
                Fetch::Decode { sink, first } => {
                    let rows = if filled { results.feed(sink, first)? } else { 0 };
                    Fetched::Done(ExecResult { rows_affected: rows as u64, last_insert_id: None })
                }
                Fetch::Execute => Fetched::Done(ExecResult {
                    // `changes()` keeps the last INSERT/UPDATE/DELETE's count through DDL: count
                    // only when this statement changed rows.
                    rows_affected: if read_only || conn.total_changes() == changes_before { 0 } else { conn.changes() },
                    last_insert_id: Some(conn.last_insert_rowid()),
                }),
            })
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
        let result = (|| -> Result<(), Error> {
            // (A stream runs long and rarely: its statement is not kept.)
            let mut stmt = self.session.borrow_owner().prepare(sql).map_err(lite_error)?;
            bind_all(&mut stmt, values)?;
            self.watch.arm(deadline, None);
            let columns = column_names(&stmt);
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

/// Prepare `sql` to keep (off the hot path: a statement is prepared once per connection).
#[cold]
#[inline(never)]
fn prepare<'c>(conn: &'c rusqlite::Connection, sql: &str) -> rusqlite::Result<Prepared<'c>> {
    let stmt = conn.prepare_with_flags(sql, rusqlite::PrepFlags::SQLITE_PREPARE_PERSISTENT)?;
    let columns = column_names(&stmt);
    let pace = if is_rollback(sql) { Pace::Undo } else { Pace::New };
    Ok(Prepared { stmt, columns, pace, timed: true, reprepared: 0 })
}

/// `ROLLBACK TO` a savepoint (or a whole `ROLLBACK` sent as a statement).
fn is_rollback(sql: &str) -> bool {
    sql.split_ascii_whitespace().next().is_some_and(|w| w.eq_ignore_ascii_case("ROLLBACK"))
}

/// See [`LiteConn::is_large_transaction`].
fn large_transaction(conn: &rusqlite::Connection, changes_at: u64, long: bool) -> bool {
    long || conn.total_changes().wrapping_sub(changes_at) > LARGE_TX_CHANGES
}

/// Run a text of several statements as one batch (on a blocking thread).
#[cold]
#[inline(never)]
#[allow(clippy::result_large_err, reason = "see LiteConn::run")]
fn run_batch(conn: &rusqlite::Connection, watch: &Watch, sql: &str, limits: Limits) -> Result<Fetched, RunError> {
    watch.arm(limits.deadline, None);
    let before = conn.total_changes();
    conn.execute_batch(sql).map_err(lite_error)?;
    let rows_affected = conn.total_changes() - before;
    Ok(Fetched::Done(ExecResult { rows_affected, last_insert_id: None }))
}

/// A statement's column names, shared by the rows it returns.
fn column_names(stmt: &rusqlite::Statement<'_>) -> Columns {
    stmt.columns().iter().map(|c| LiteColumn::new(c.name(), c.decl_type())).collect()
}

/// Bind every value, after checking there is one per parameter; true when SQLite copied
/// one (text, blobs), so the bindings are to be cleared after the statement.
fn bind_all(stmt: &mut rusqlite::Statement<'_>, values: &[sea_query::Value]) -> Result<bool, Error> {
    let expected = stmt.parameter_count();
    if expected != values.len() {
        return Err(Error::Parameter(format!("the statement takes {expected} parameters but {} were given", values.len())));
    }
    let mut copied = false;
    for (i, v) in values.iter().enumerate() {
        copied |= bind_one(stmt, i + 1, v).map_err(lite_error)?;
    }
    Ok(copied)
}

/// Bind one value; true when SQLite copied it. The types almacen's own values bind as are
/// bound by their Rust type, so nothing goes through a value built and read back per
/// parameter (a bulk insert binds every value of every row: that round trip cost as much
/// as SQLite's own binding).
#[inline]
fn bind_one(stmt: &mut rusqlite::Statement<'_>, index: usize, v: &sea_query::Value) -> rusqlite::Result<bool> {
    use sea_query::Value as S;
    match v {
        S::BigInt(Some(i)) => stmt.raw_bind_parameter(index, *i).map(|()| false),
        S::Int(Some(i)) => stmt.raw_bind_parameter(index, i64::from(*i)).map(|()| false),
        S::Double(Some(f)) => stmt.raw_bind_parameter(index, *f).map(|()| false),
        S::Bool(Some(b)) => stmt.raw_bind_parameter(index, i64::from(*b)).map(|()| false),
        S::String(Some(s)) => stmt.raw_bind_parameter(index, s.as_str()).map(|()| true),
        other => {
            let bind = Bind(other);
            let copied = bind.copied_by_sqlite();
            stmt.raw_bind_parameter(index, bind).map(|()| copied)
        }
    }
}

/// Set `mode` and `sync` on a new connection and check that SQLite applied them: it answers
/// a journal mode it cannot use with the mode it kept (WAL needs shared memory, which some
/// filesystems and `nolock=1` lack) or with "database is locked" (another connection has
/// the file open in WAL, which only a lone connection can leave, or is reading it while
/// WAL would start).
#[cold]
#[allow(clippy::result_large_err, reason = "see LiteConn::run")]
fn set_journal(conn: &rusqlite::Connection, cfg: &OpenConfig, mode: JournalMode, sync: Synchronous) -> Result<(), RunError> {
    let what = cfg.path.as_deref().unwrap_or(":memory:");
    let wanted = mode.as_str();
    let applied: String = match conn.query_row(&format!("PRAGMA journal_mode = {wanted}"), [], |r| r.get(0)) {
        Ok(applied) => applied,
        Err(e) if is_busy(&e) && !WAIT_FOR_LOCKS.with(|w| w.get()) => return Err(RunError::Offload),
        // Waited out the busy timeout: still classified as a lock (retryable), said where.
        Err(e) if is_busy(&e) => {
            return Err(match lite_error(e) {
                Error::Deadlock(mut info) => {
                    info.message = format!(
                        "SQLite could not set journal_mode={wanted} on {what:?}: {} (another connection holds the file: \
                         leaving WAL needs the database to itself, entering it a moment without readers)",
                        info.message
                    );
                    Error::Deadlock(info)
                }
                other => other,
            }
            .into());
        }
        Err(e) => return Err(open_error(cfg, e).into()),
    };
    if !applied.eq_ignore_ascii_case(wanted) {
        let hint = if mode == JournalMode::Wal {
            "WAL needs memory shared between connections, which this filesystem or VFS does not give (a network filesystem, \
             nolock=1): use journal_mode=delete (with synchronous=full for durability)"
        } else {
            "another connection keeps the file in its mode"
        };
        return Err(Error::Config(format!(
            "SQLite did not apply journal_mode={wanted} on {what:?}: the database is in {applied:?} mode ({hint})"
        ))
        .into());
    }
    conn.execute_batch(&format!("PRAGMA synchronous = {}", sync.as_str())).map_err(lite_error)?;
    let level: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).map_err(lite_error)?;
    if level != sync.pragma_value() {
        return Err(Error::Config(format!(
            "SQLite did not apply synchronous={sync} on {what:?}: PRAGMA synchronous reads {level}, not {}",
            sync.pragma_value()
        ))
        .into());
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
            crate::data::error::classify_sqlite_info(DbErrorInfo {
                constraint: crate::data::error::sqlite_constraint_target(&message),
                message,
                code: Some(err.extended_code.to_string()),
                table: None,
                column: None,
                field: None,
            })
        }
        rusqlite::Error::SqlInputError { error, msg, offset, .. } => crate::data::error::classify_sqlite_info(DbErrorInfo {
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
