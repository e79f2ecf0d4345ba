//! Transactions: closure-scoped or manual, nested savepoints, isolation levels, and a
//! retry helper for serialization failures and deadlocks.

use crate::data::dialect::Dialect;
use crate::data::error::{Error, Result};
use crate::data::model::Model;
use crate::data::row::DbRow;
use crate::engine::database::{Database, InUse, Pool};
use crate::engine::executor::{ConnRef, Executor, Fetch, Fetched, Runs};
#[cfg(any(feature = "postgres", feature = "mysql"))]
use crate::engine::server_sessions::spawn_bounded;
use crate::engine::statement::{ExecResult, Statement};
use futures::stream::{self, BoxStream, StreamExt};
#[cfg(any(feature = "postgres", feature = "mysql"))]
use sqlx::AssertSqlSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// Transaction isolation levels. SQLite is always serializable and ignores the level: every
/// transaction that may write starts with `BEGIN IMMEDIATE` on the one writer connection
/// (it takes the write lock at once, so it cannot deadlock upgrading a read lock), and a
/// read-only one reads a consistent snapshot on a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationLevel {
    /// READ UNCOMMITTED.
    ReadUncommitted,
    /// READ COMMITTED.
    ReadCommitted,
    /// REPEATABLE READ.
    RepeatableRead,
    /// SERIALIZABLE.
    Serializable,
}

impl IsolationLevel {
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    fn sql(self) -> &'static str {
        match self {
            IsolationLevel::ReadUncommitted => "READ UNCOMMITTED",
            IsolationLevel::ReadCommitted => "READ COMMITTED",
            IsolationLevel::RepeatableRead => "REPEATABLE READ",
            IsolationLevel::Serializable => "SERIALIZABLE",
        }
    }
}

/// How a transaction starts.
///
/// ```
/// use almacen::{TxOptions, IsolationLevel};
/// let opts = TxOptions::new().isolation(IsolationLevel::Serializable).read_only(true);
/// assert_eq!(opts.isolation_level(), Some(IsolationLevel::Serializable));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxOptions {
    isolation: Option<IsolationLevel>,
    read_only: bool,
}

impl TxOptions {
    /// The database's default isolation, read-write.
    pub fn new() -> Self {
        Self::default()
    }
    /// Shorthand for `TxOptions::new().isolation(IsolationLevel::Serializable)`.
    pub fn serializable() -> Self {
        Self::new().isolation(IsolationLevel::Serializable)
    }
    /// Choose the isolation level.
    pub fn isolation(mut self, level: IsolationLevel) -> Self {
        self.isolation = Some(level);
        self
    }
    /// Start a read-only transaction: writes in it fail (on SQLite it runs on a reader
    /// connection, without taking the write lock).
    pub fn read_only(mut self, on: bool) -> Self {
        self.read_only = on;
        self
    }
    /// The isolation level asked for, if any.
    pub fn isolation_level(&self) -> Option<IsolationLevel> {
        self.isolation
    }
}

/// How [`Database::transaction_retry`] retries: up to `max_attempts` runs in all, sleeping a
/// random time up to `min(max_delay, base_delay × 2^attempt)` between them (full jitter).
///
/// ```
/// use almacen::RetryPolicy;
/// use std::time::Duration;
/// let p = RetryPolicy::new(10).base_delay(Duration::from_millis(5));
/// assert_eq!(p.max_attempts, 10);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Runs in all, the first included.
    pub max_attempts: u32,
    /// The first backoff's upper bound.
    pub base_delay: Duration,
    /// The cap on any backoff.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 5, base_delay: Duration::from_millis(10), max_delay: Duration::from_secs(1) }
    }
}

impl RetryPolicy {
    /// A policy of `max_attempts` runs with the default delays.
    pub fn new(max_attempts: u32) -> Self {
        RetryPolicy { max_attempts: max_attempts.max(1), ..Self::default() }
    }
    /// Set the first backoff's upper bound.
    pub fn base_delay(mut self, d: Duration) -> Self {
        self.base_delay = d;
        self
    }
    /// Set the cap on any backoff.
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }
    /// The backoff before retry number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << attempt.min(20));
        let cap = exp.min(self.max_delay);
        cap.mul_f64(rand::random::<f64>())
    }
}

enum TxConn {
    #[cfg(feature = "sqlite")]
    Sqlite(crate::engine::sqlite::LiteGuard<'static>),
    // The pooled connection itself, not sqlx's `Transaction`: a connection left in doubt
    // must be closed, never handed back, and only the pool's handle can do that.
    #[cfg(feature = "postgres")]
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
    #[cfg(feature = "mysql")]
    MySql(sqlx::pool::PoolConnection<sqlx::MySql>),
}

struct Shared {
    db: Database,
    conn: tokio::sync::Mutex<Option<TxConn>>,
    /// Counts the connection as in use until the transaction is finished.
    in_use: std::sync::Mutex<Option<InUse>>,
    /// Rollbacks to savepoints dropped unfinished (Drop cannot run SQL); run before the
    /// next statement.
    pending: std::sync::Mutex<Vec<String>>,
    next_savepoint: AtomicU32,
    /// Set when a statement failed with a serialization failure or deadlock: the
    /// transaction is lost, whatever error the caller's code then returns.
    conflict: AtomicBool,
    /// Set when a statement failed: on PostgreSQL the transaction may then be aborted, and
    /// its COMMIT would answer with a silent rollback.
    failed: AtomicBool,
    /// Set when a statement run on the transaction itself, not in a savepoint, failed:
    /// [`Transaction::statement_failed`].
    failed_outside_savepoint: AtomicBool,
    /// Why the transaction can only be rolled back, once it can: a statement's future was
    /// dropped before it finished (its effect is unknown; it was cancelled on the server),
    /// or its connection was lost or fell out of step.
    abandoned: std::sync::OnceLock<&'static str>,
    /// The SQLite pool (by id) whose writer this transaction holds, if it does.
    #[cfg(feature = "sqlite")]
    sqlite_writer: Option<usize>,
}

/// A transaction, or a savepoint inside one. It runs statements like a [`Database`]
/// (it is an [`Executor`]), commits with [`commit`](Self::commit), and rolls back with
/// [`rollback`](Self::rollback) or when dropped unfinished (for instance on a panic).
///
/// ```no_run
/// # use almacen::prelude::*;
/// # async fn f(db: &Database) -> almacen::Result<()> {
/// let tx = db.begin().await?;
/// tx.execute_raw("UPDATE items SET stock = stock - 1 WHERE id = :id", params! { "id" => 1 }).await?;
/// tx.commit().await?;
/// # Ok(()) }
/// ```
pub struct Transaction {
    shared: Arc<Shared>,
    savepoint: Option<String>,
    finished: bool,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction").field("savepoint", &self.savepoint).field("finished", &self.finished).finish()
    }
}

impl Database {
    /// Begin a transaction with the database's default isolation.
    pub async fn begin(&self) -> Result<Transaction> {
        self.begin_with(TxOptions::new()).await
    }

    /// Begin a transaction with the given options.
    pub async fn begin_with(&self, opts: TxOptions) -> Result<Transaction> {
        #[cfg(feature = "sqlite")]
        let mut sqlite_writer = None;
        let (conn, in_use) = match &self.inner.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => {
                // SQLite is always serializable. A transaction that may write runs on the
                // writer and takes the write lock at once (BEGIN IMMEDIATE), so it cannot
                // deadlock upgrading a read lock; a read-only one runs on a reader.
                let mut guard = p.acquire(opts.read_only).await?;
                if opts.read_only && !guard.is_reader() {
                    guard.batch("BEGIN; PRAGMA query_only = ON").await?;
                    guard.restore_query_only = true;
                } else if opts.read_only {
                    guard.batch("BEGIN").await?;
                } else {
                    guard.batch("BEGIN IMMEDIATE").await?;
                }
                guard.in_tx = true;
                if !guard.is_reader() {
                    sqlite_writer = Some(p.id());
                }
                (TxConn::Sqlite(guard.into_owned()), None)
            }
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => {
                let err = |e| self.inner.settings.err(e);
                let (mut conn, in_use) = self.acquire(p).await?;
                let mut begin = String::from("BEGIN");
                if let Some(level) = opts.isolation {
                    begin.push_str(" ISOLATION LEVEL ");
                    begin.push_str(level.sql());
                }
                if opts.read_only {
                    begin.push_str(" READ ONLY");
                }
                control(&mut conn, &[begin]).await.map_err(err)?;
                (TxConn::Postgres(conn), Some(in_use))
            }
            #[cfg(feature = "mysql")]
            Pool::MySql(p) => {
                let err = |e| self.inner.settings.err(e);
                let (mut conn, in_use) = self.acquire(p).await?;
                let mut begin = Vec::new();
                if let Some(level) = opts.isolation {
                    // Applies to the next transaction on this connection only.
                    begin.push(format!("SET TRANSACTION ISOLATION LEVEL {}", level.sql()));
                }
                begin.push(if opts.read_only { "START TRANSACTION READ ONLY" } else { "BEGIN" }.to_string());
                control(&mut conn, &begin).await.map_err(err)?;
                (TxConn::MySql(conn), Some(in_use))
            }
        };
        Ok(Transaction {
            shared: Arc::new(Shared {
                db: self.clone(),
                conn: tokio::sync::Mutex::new(Some(conn)),
                in_use: std::sync::Mutex::new(in_use),
                pending: std::sync::Mutex::new(Vec::new()),
                next_savepoint: AtomicU32::new(1),
                conflict: AtomicBool::new(false),
                failed: AtomicBool::new(false),
                failed_outside_savepoint: AtomicBool::new(false),
                abandoned: std::sync::OnceLock::new(),
                #[cfg(feature = "sqlite")]
                sqlite_writer,
            }),
            savepoint: None,
            finished: false,
        })
    }

    /// Run `f` in a transaction: commit when it returns `Ok`, roll back when it returns
    /// `Err`, panics, or is cancelled.
    ///
    /// The closure's error type is yours: any `E` with `From<almacen::Error>`, so `?` works
    /// on almacen's calls and a business refusal is just `Err(MyError::OutOfStock)`. A failed
    /// commit comes back as `E::from(error)`. When nothing else names `E`, name it on the
    /// closure (`async |tx| -> almacen::Result<_> { .. }`).
    ///
    /// # Reading, checking and writing back
    ///
    /// A transaction alone does not stop two of them from reading the same row, both
    /// deciding on what they read, and both writing: at PostgreSQL's default isolation (read
    /// committed) and MariaDB's (repeatable read) the second write wins, or both take stock
    /// that was there once. Which patterns are safe:
    ///
    /// | pattern | read committed / repeatable read | serializable | SQLite |
    /// |---|---|---|---|
    /// | read, check, write back | lost updates, oversold stock | safe: the loser fails with a retryable `SerializationFailure` (use `transaction_retry`) | safe |
    /// | read with [`for_update`](crate::query::Select::for_update) / `get_for_update`, check, write | safe: the others wait for the lock | safe | safe |
    /// | one guarded `update_where(cond).add(..)`, check the rows it changed | safe | safe | safe |
    ///
    /// SQLite is always serializable: every transaction that may write takes the database's
    /// write lock at `BEGIN IMMEDIATE`, so row locks add nothing there. Take locks in one
    /// order (by key) across transactions, or expect `Deadlock`s to retry.
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "products")]
    /// # struct Product { #[model(primary_key, auto)] id: i64, stock: i32 }
    /// #[derive(Debug)]
    /// enum ShopError {
    ///     OutOfStock,
    ///     Db(almacen::Error),
    /// }
    /// impl From<almacen::Error> for ShopError {
    ///     fn from(e: almacen::Error) -> Self {
    ///         ShopError::Db(e)
    ///     }
    /// }
    ///
    /// async fn buy(db: &Database, id: i64) -> Result<(), ShopError> {
    ///     db.transaction(async |tx| {
    ///         let p = Product::get_for_update(tx, id).await?.ok_or(Error::NotFound)?;
    ///         if p.stock < 1 {
    ///             return Err(ShopError::OutOfStock); // rolled back
    ///         }
    ///         Product::patch(id).add(Product::STOCK, -1).execute(tx).await?;
    ///         Ok(())
    ///     })
    ///     .await
    /// }
    /// ```
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let moved = db.transaction(async |tx| -> almacen::Result<_> {
    ///     tx.execute_raw("UPDATE accounts SET balance = balance - 10 WHERE id = 1", params! {}).await?;
    ///     tx.execute_raw("UPDATE accounts SET balance = balance + 10 WHERE id = 2", params! {}).await?;
    ///     Ok(10)
    /// }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&Transaction) -> Result<T, E>,
        E: From<Error>,
    {
        self.transaction_with(TxOptions::new(), f).await
    }

    /// [`transaction`](Self::transaction) with an isolation level or read-only mode.
    pub async fn transaction_with<T, E, F>(&self, opts: TxOptions, f: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&Transaction) -> Result<T, E>,
        E: From<Error>,
    {
        let tx = self.begin_with(opts).await?;
        tx.scope(f).await
    }

    /// Run `f` in a transaction, and run it again in a new transaction when the transaction
    /// was lost to a serialization failure or deadlock (a statement in it, or its commit,
    /// failed so), backing off between runs. Whatever error `f` then returns, the run is
    /// retried; other errors are returned at once. `f` must be safe to re-run: each run
    /// calls a fresh clone of it (an `async` closure is `Clone` when what it captures is),
    /// which also keeps the returned future `Send` for `tokio::spawn` and axum handlers.
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// db.transaction_retry(TxOptions::serializable(), RetryPolicy::default(), async |tx| -> almacen::Result<_> {
    ///     tx.execute_raw("UPDATE accounts SET balance = balance - 1 WHERE id = 1", params! {}).await?;
    ///     Ok(())
    /// }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn transaction_retry<T, E, F>(&self, opts: TxOptions, policy: RetryPolicy, f: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&Transaction) -> Result<T, E> + Clone,
        E: From<Error>,
    {
        let mut attempt = 1;
        loop {
            let outcome = match self.begin_with(opts).await {
                Ok(tx) => tx.run_scope(f.clone()).await,
                Err(e) => Err(Ended::Database(e)),
            };
            let conflict = match &outcome {
                Ok(_) => None,
                Err(Ended::Database(e)) if e.is_transaction_conflict() => Some(e.to_string()),
                Err(Ended::Caller { conflict: true, .. }) => Some("a statement failed with a transaction conflict".into()),
                Err(_) => None,
            };
            match conflict {
                Some(why) if attempt < policy.max_attempts => {
                    tracing::debug!(target: "almacen::tx", attempt, error = %why, "retrying transaction");
                    tokio::time::sleep(policy.delay(attempt)).await;
                    attempt += 1;
                }
                _ => return outcome.map_err(Ended::into_error),
            }
        }
    }
}

impl Transaction {
    /// The database this transaction belongs to.
    pub fn database(&self) -> &Database {
        &self.shared.db
    }

    /// True for a savepoint inside another transaction.
    pub fn is_savepoint(&self) -> bool {
        self.savepoint.is_some()
    }

    /// True once a statement run on the transaction itself (not inside a savepoint) has
    /// failed, on every backend and whatever the error, even if the caller ignored the
    /// error. Committing then would keep the statements before it (SQLite, MariaDB) or
    /// nothing (PostgreSQL aborts the transaction): callers that must not commit partial
    /// work check it first. A failure inside a savepoint ([`transaction`](Self::transaction)
    /// on a transaction) does not count: the savepoint's rollback undoes it. Shared by the
    /// transaction and its savepoints.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use almacen::prelude::*;
    /// let db = Database::connect("sqlite::memory:").await.unwrap();
    /// let tx = db.begin().await.unwrap();
    /// // A failure in a savepoint, rolled back, does not count.
    /// let _ = tx
    ///     .transaction(async |sp| sp.execute_raw("INSERT INTO missing VALUES (1)", params! {}).await)
    ///     .await;
    /// assert!(!tx.statement_failed());
    /// let _ = tx.execute_raw("INSERT INTO missing VALUES (1)", params! {}).await;
    /// assert!(tx.statement_failed());
    /// tx.rollback().await.unwrap();
    /// # });
    /// ```
    pub fn statement_failed(&self) -> bool {
        self.shared.failed_outside_savepoint.load(Ordering::Relaxed)
    }

    async fn scope<T, E, F>(self, f: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&Transaction) -> Result<T, E>,
        E: From<Error>,
    {
        self.run_scope(f).await.map_err(Ended::into_error)
    }

    /// Run `f`, then commit on `Ok` or roll back on `Err`, telling apart the caller's error
    /// and the database's (a failed commit), for the retry decision.
    async fn run_scope<T, E, F>(self, f: F) -> std::result::Result<T, Ended<E>>
    where
        F: AsyncFnOnce(&Transaction) -> Result<T, E>,
    {
        // A panic in `f` unwinds through here and drops `self` unfinished: rolled back.
        let work = f(&self);
        #[cfg(feature = "sqlite")]
        let outcome = match self.shared.sqlite_writer {
            Some(pool) => crate::engine::sqlite::holding_writer(pool, work).await,
            None => work.await,
        };
        #[cfg(not(feature = "sqlite"))]
        let outcome = work.await;
        match outcome {
            Ok(v) => match self.commit().await {
                Ok(()) => Ok(v),
                Err(e) => Err(Ended::Database(e)),
            },
            Err(e) => {
                let conflict = self.shared.conflict.load(Ordering::Relaxed);
                // The error that ended the work matters more than a failed rollback.
                if let Err(rb) = self.rollback().await {
                    tracing::warn!(target: "almacen::tx", error = %rb, "rollback failed");
                }
                Err(Ended::Caller { error: e, conflict })
            }
        }
    }

    /// Open a savepoint: a nested transaction whose rollback undoes only its own work.
    pub async fn savepoint(&self) -> Result<Transaction> {
        let name = format!("almacen_sp_{}", self.shared.next_savepoint.fetch_add(1, Ordering::Relaxed));
        self.run_sql(format!("SAVEPOINT {name}")).await?;
        Ok(Transaction { shared: self.shared.clone(), savepoint: Some(name), finished: false })
    }

    /// Run `f` in a savepoint: released on `Ok`, rolled back to on `Err` or panic, while
    /// the enclosing transaction goes on. The error type is the caller's, as for
    /// [`Database::transaction`].
    pub async fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: AsyncFnOnce(&Transaction) -> Result<T, E>,
        E: From<Error>,
    {
        self.savepoint().await?.scope(f).await
    }

    /// Commit (or release the savepoint).
    pub async fn commit(mut self) -> Result<()> {
        self.finished = true;
        match self.savepoint.take() {
            Some(name) => self.run_sql(format!("RELEASE SAVEPOINT {name}")).await,
            None => {
                let s = &self.shared.db.inner.settings;
                let mut guard = self.shared.conn.lock().await;
                if let Some(why) = self.shared.abandoned.get() {
                    if let Some(conn) = guard.take() {
                        discard(conn);
                    }
                    self.shared.release();
                    return Err(Error::TransactionAborted(why.to_string()));
                }
                // Savepoints dropped unfinished must be rolled back before the commit, or
                // their work would be committed with the rest.
                if let Some(conn) = guard.as_mut()
                    && let Err(e) = run_pending(&self.shared, s, conn).await
                {
                    guard.take();
                    self.shared.release();
                    return Err(e);
                }
                let conn = guard.take().ok_or_else(finished_error)?;
                drop(guard);
                let done = match conn {
                    #[cfg(feature = "sqlite")]
                    TxConn::Sqlite(mut g) => {
                        if g.is_autocommit() {
                            Err(crate::engine::sqlite::rolled_back_error())
                        } else {
                            g.batch("COMMIT").await
                        }
                    }
                    #[cfg(feature = "postgres")]
                    TxConn::Postgres(mut c) => {
                        // After a failed statement PostgreSQL may have aborted the transaction,
                        // and COMMIT would then roll back without an error: ask first.
                        if self.shared.failed.load(Ordering::Relaxed)
                            && let Err(e) = control(&mut c, &["SELECT 1".into()]).await
                        {
                            let _ = control(&mut c, &["ROLLBACK".into()]).await;
                            self.shared.release();
                            return Err(match s.err(e) {
                                Error::TransactionAborted(_) => Error::TransactionAborted(
                                    "a statement in it failed, so PostgreSQL aborted it; it has been rolled back, nothing was committed \
                                     (run statements that may fail in a savepoint, tx.transaction(..), to go on after them)"
                                        .into(),
                                ),
                                other => other,
                            });
                        }
                        control(&mut c, &["COMMIT".into()]).await.map_err(|e| commit_error(s.err(e)))
                    }
                    #[cfg(feature = "mysql")]
                    TxConn::MySql(mut c) => control(&mut c, &["COMMIT".into()]).await.map_err(|e| commit_error(s.err(e))),
                };
                self.shared.release();
                done
            }
        }
    }

    /// Roll back (or roll back to the savepoint and release it).
    pub async fn rollback(mut self) -> Result<()> {
        self.finished = true;
        match self.savepoint.take() {
            Some(name) => self.run_sql(format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}")).await,
            None => {
                let conn = self.shared.conn.lock().await.take().ok_or_else(finished_error)?;
                if self.shared.abandoned.get().is_some() {
                    // Closing the connection rolls the transaction back on the server.
                    discard(conn);
                    self.shared.release();
                    return Ok(());
                }
                let done = match conn {
                    #[cfg(feature = "sqlite")]
                    TxConn::Sqlite(mut g) => {
                        if g.is_autocommit() {
                            Ok(())
                        } else {
                            g.batch("ROLLBACK").await
                        }
                    }
                    #[cfg(feature = "postgres")]
                    TxConn::Postgres(mut c) => {
                        control(&mut c, &["ROLLBACK".into()]).await.map_err(|e| self.shared.db.inner.settings.err(e))
                    }
                    #[cfg(feature = "mysql")]
                    TxConn::MySql(mut c) => control(&mut c, &["ROLLBACK".into()]).await.map_err(|e| self.shared.db.inner.settings.err(e)),
                };
                self.shared.release();
                done
            }
        }
    }

    /// Run control SQL (SAVEPOINT and friends) on the transaction's connection.
    async fn run_sql(&self, sql: String) -> Result<()> {
        for part in sql.split("; ") {
            self.execute_statement(Statement::new(part.to_string(), Vec::new())).await?;
        }
        Ok(())
    }
}

/// How a transaction scope ended when it did not commit.
enum Ended<E> {
    /// The caller's code returned an error; `conflict` says whether a statement in the
    /// transaction had failed with a serialization failure or deadlock.
    Caller { error: E, conflict: bool },
    /// Beginning or committing failed.
    Database(Error),
}

impl<E: From<Error>> Ended<E> {
    fn into_error(self) -> E {
        match self {
            Ended::Caller { error, .. } => error,
            Ended::Database(e) => E::from(e),
        }
    }
}

impl Shared {
    /// Stop counting the connection as in use (it has gone back to the pool).
    fn release(&self) {
        self.in_use.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// A connection still here when the last handle goes (the transaction was dropped while a
/// savepoint of it was running a statement elsewhere) is closed: it may be mid-transaction.
impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.get_mut().take() {
            discard(conn);
        }
    }
}

/// Run the savepoint rollbacks queued by drops.
async fn run_pending(shared: &Shared, s: &crate::engine::executor::RunSettings, conn: &mut TxConn) -> Result<()> {
    let pending: Vec<String> = std::mem::take(&mut *shared.pending.lock().unwrap_or_else(|p| p.into_inner()));
    for sql in pending {
        s.run(conn_ref(conn), Statement::new(sql, Vec::new()), Fetch::Execute, true).await?;
    }
    Ok(())
}

fn conn_ref(conn: &mut TxConn) -> ConnRef<'_, 'static> {
    match conn {
        #[cfg(feature = "sqlite")]
        TxConn::Sqlite(g) => ConnRef::Sqlite(g),
        #[cfg(feature = "postgres")]
        TxConn::Postgres(c) => ConnRef::Postgres(&mut *c),
        #[cfg(feature = "mysql")]
        TxConn::MySql(c) => ConnRef::MySql(&mut *c),
    }
}

/// The server connection's identity, for cancelling what it runs.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn server_key(conn: &TxConn) -> Option<usize> {
    match conn {
        #[cfg(feature = "sqlite")]
        TxConn::Sqlite(_) => None,
        #[cfg(feature = "postgres")]
        TxConn::Postgres(c) => Some(crate::engine::server_sessions::conn_key::<sqlx::PgConnection>(c)),
        #[cfg(feature = "mysql")]
        TxConn::MySql(c) => Some(crate::engine::server_sessions::conn_key::<sqlx::MySqlConnection>(c)),
    }
}

/// Run transaction control statements (BEGIN, COMMIT, …) on a server connection. If they
/// fail or their future is dropped, the connection is in doubt and is closed when dropped.
#[cfg(any(feature = "postgres", feature = "mysql"))]
async fn control<DB: sqlx::Database>(
    conn: &mut sqlx::pool::PoolConnection<DB>,
    statements: &[String],
) -> std::result::Result<(), sqlx::Error>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
{
    let mut guard = crate::engine::database::Settling { conn, settled: false, canceller: None };
    for sql in statements {
        sqlx::raw_sql(AssertSqlSafe(sql.clone())).execute(&mut **guard.conn).await?;
    }
    guard.settled = true;
    Ok(())
}

/// A COMMIT whose connection was lost may or may not have committed.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn commit_error(e: Error) -> Error {
    match e {
        Error::ConnectionLost(m) => {
            Error::OutcomeUnknown(format!("the connection was lost during COMMIT, which may or may not have committed: {m}"))
        }
        other => other,
    }
}

/// Let go of a transaction's connection without running anything on it: a server
/// connection is closed (the server rolls its transaction back), SQLite's guard rolls back.
fn discard(conn: TxConn) {
    match conn {
        #[cfg(feature = "sqlite")]
        TxConn::Sqlite(g) => drop(g),
        #[cfg(feature = "postgres")]
        TxConn::Postgres(mut c) => c.close_on_drop(),
        #[cfg(feature = "mysql")]
        TxConn::MySql(mut c) => c.close_on_drop(),
    }
}

/// Roll back a transaction dropped unfinished, from `Drop`: on a server in a task of its
/// own (bounded), after which the connection goes back to the pool; without a runtime, or
/// when the rollback fails, the connection is closed instead.
fn roll_back_later(conn: TxConn) {
    /// How long a rollback of a dropped transaction may take before its connection is closed.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    const LIMIT: Duration = Duration::from_secs(5);
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    if tokio::runtime::Handle::try_current().is_err() {
        return discard(conn);
    }
    match conn {
        #[cfg(feature = "sqlite")]
        TxConn::Sqlite(g) => drop(g),
        // A rollback cut short by the limit drops the connection mid-statement: `control` closes it.
        #[cfg(feature = "postgres")]
        TxConn::Postgres(mut c) => spawn_bounded(LIMIT, async move {
            let _ = control(&mut c, &["ROLLBACK".into()]).await;
        }),
        #[cfg(feature = "mysql")]
        TxConn::MySql(mut c) => spawn_bounded(LIMIT, async move {
            let _ = control(&mut c, &["ROLLBACK".into()]).await;
        }),
    }
}

fn finished_error() -> Error {
    Error::Unsupported("the transaction has already been committed or rolled back".into())
}

const STATEMENT_ABANDONED: &str = "a statement in it was abandoned before it finished (its future was dropped) and cancelled; \
     the transaction has been rolled back";

const CONNECTION_IN_DOUBT: &str =
    "its connection was lost or fell out of step with the server during a statement; the transaction has been rolled back";

impl Drop for Transaction {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Some(name) = self.savepoint.take() {
            let mut pending = self.shared.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.push(format!("ROLLBACK TO SAVEPOINT {name}"));
            pending.push(format!("RELEASE SAVEPOINT {name}"));
        } else if let Ok(mut conn) = self.shared.conn.try_lock() {
            if let Some(conn) = conn.take() {
                if self.shared.abandoned.get().is_some() { discard(conn) } else { roll_back_later(conn) }
            }
            self.shared.release();
        }
    }
}

impl Runs for Transaction {
    async fn run(&self, stmt: Statement, fetch: Fetch<'_>) -> Result<Fetched> {
        let s = &self.shared.db.inner.settings;
        let mut guard = self.shared.conn.lock().await;
        if let Some(why) = self.shared.abandoned.get() {
            return Err(Error::TransactionAborted(why.to_string()));
        }
        let conn = guard.as_mut().ok_or_else(finished_error)?;
        let mut running = Running {
            shared: &self.shared,
            #[cfg(any(feature = "postgres", feature = "mysql"))]
            key: server_key(conn),
            done: false,
        };
        let outcome = match run_pending(&self.shared, s, conn).await {
            Ok(()) => s.run(conn_ref(conn), stmt, fetch, true).await,
            Err(e) => Err(e),
        };
        running.done = true;
        if let Err(e) = &outcome {
            self.shared.failed.store(true, Ordering::Relaxed);
            if self.savepoint.is_none() {
                self.shared.failed_outside_savepoint.store(true, Ordering::Relaxed);
            }
            // A lost or out-of-step connection cannot go on with the transaction, nor be reused.
            if e.leaves_connection_in_doubt() {
                let _ = self.shared.abandoned.set(CONNECTION_IN_DOUBT);
            }
            if e.is_transaction_conflict() {
                self.shared.conflict.store(true, Ordering::Relaxed);
            }
        }
        outcome
    }
}

/// A statement running in a transaction. If its future is dropped before it finished, the
/// server is asked to cancel it and the transaction is marked abandoned: it can then only
/// roll back, and its connection is closed.
struct Running<'a> {
    shared: &'a Shared,
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    key: Option<usize>,
    done: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        #[cfg(any(feature = "postgres", feature = "mysql"))]
        if let (Some(key), Some(canceller)) = (self.key, &self.shared.db.inner.canceller) {
            canceller.cancel(key);
        }
        // SQLite interrupts its own statement (only one moved to a blocking thread can be
        // dropped mid-run), and its connection, transaction rolled back, returns to the pool.
        let _ = self.shared.abandoned.set(STATEMENT_ABANDONED);
    }
}

impl Executor for Transaction {
    fn dialect(&self) -> Dialect {
        self.shared.db.dialect()
    }

    async fn fetch_rows(&self, stmt: Statement) -> Result<Vec<DbRow>> {
        Ok(self.run(stmt, Fetch::All).await?.rows())
    }

    crate::engine::executor::typed_fetches!();

    async fn fetch_row(&self, stmt: Statement) -> Result<Option<DbRow>> {
        Ok(self.run(stmt, Fetch::Optional).await?.row())
    }

    async fn execute_statement(&self, stmt: Statement) -> Result<ExecResult> {
        Ok(self.run(stmt, Fetch::Execute).await?.done())
    }

    fn as_transaction(&self) -> Option<&Transaction> {
        Some(self)
    }

    /// Inside a transaction the rows are fetched first, then streamed from memory (the
    /// connection is shared with the transaction's other statements).
    fn stream_rows(&self, stmt: Statement) -> BoxStream<'_, Result<DbRow>> {
        stream::once(self.fetch_rows(stmt))
            .flat_map(|r| match r {
                Ok(rows) => stream::iter(rows.into_iter().map(Ok)).boxed(),
                Err(e) => stream::iter(vec![Err(e)]).boxed(),
            })
            .boxed()
    }
}

/// `&Transaction` and `&Database` are executors too, so `Model::get(tx, id)` works with the
/// `&Transaction` a closure receives.
impl<E: Executor> Executor for &E {
    fn dialect(&self) -> Dialect {
        (**self).dialect()
    }
    fn fetch_rows(&self, stmt: Statement) -> impl std::future::Future<Output = Result<Vec<DbRow>>> + Send {
        (**self).fetch_rows(stmt)
    }
    fn fetch_row(&self, stmt: Statement) -> impl std::future::Future<Output = Result<Option<DbRow>>> + Send {
        (**self).fetch_row(stmt)
    }
    fn execute_statement(&self, stmt: Statement) -> impl std::future::Future<Output = Result<ExecResult>> + Send {
        (**self).execute_statement(stmt)
    }
    fn stream_rows(&self, stmt: Statement) -> BoxStream<'_, Result<DbRow>> {
        (**self).stream_rows(stmt)
    }
    fn as_database(&self) -> Option<&Database> {
        (**self).as_database()
    }
    fn as_transaction(&self) -> Option<&Transaction> {
        (**self).as_transaction()
    }
    fn fetch_decoded<T: Send, F: FnMut(&DbRow) -> Result<T> + Send>(
        &self,
        stmt: Statement,
        decode: F,
    ) -> impl std::future::Future<Output = Result<Vec<T>>> + Send {
        (**self).fetch_decoded(stmt, decode)
    }
    fn fetch_first_decoded<T: Send, F: FnOnce(&DbRow) -> Result<T> + Send>(
        &self,
        stmt: Statement,
        decode: F,
    ) -> impl std::future::Future<Output = Result<Option<T>>> + Send {
        (**self).fetch_first_decoded(stmt, decode)
    }
    fn fetch_models<M: Model>(&self, stmt: Statement) -> impl std::future::Future<Output = Result<Vec<M>>> + Send {
        (**self).fetch_models(stmt)
    }
    fn fetch_model<M: Model>(&self, stmt: Statement) -> impl std::future::Future<Output = Result<Option<M>>> + Send {
        (**self).fetch_model(stmt)
    }
}
