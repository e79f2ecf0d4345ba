//! `Database`: one handle over a SQLite, PostgreSQL or MariaDB pool.

use crate::data::dialect::Dialect;
use crate::data::error::{Error, Result};
use crate::data::row::DbRow;
use crate::engine::config::{ConnectOptions, redacted_url};
#[cfg(any(feature = "postgres", feature = "mysql"))]
use crate::engine::executor::ConnRef;
use crate::engine::executor::{Executor, Fetch, Fetched, RunSettings, Runs};
use crate::engine::observe::StatementCounter;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use crate::engine::server_sessions::{CancelServerWork, conn_key};
use crate::engine::statement::{ExecResult, Statement};
use futures::stream::BoxStream;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use sqlx::pool::PoolOptions;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The concrete pools, behind one type (`sqlx::Any` would drop UUID, decimal, JSON and
/// date types): SQLite's, and each server's whose Cargo feature is on.
#[derive(Debug, Clone)]
pub(crate) enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(crate::engine::sqlite::LitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlPool),
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub pool: Pool,
    pub options: ConnectOptions,
    pub settings: RunSettings,
    /// Callers waiting for a server connection (SQLite's pool counts its own).
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    waiting: AtomicUsize,
    /// Server connections almacen has handed out (sqlx's own idle count is racy at hand-offs).
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    in_use: Arc<AtomicUsize>,
    /// Stops a server statement whose caller gave up.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub(crate) canceller: Option<Canceller>,
}

/// A pool of connections to one database, reached by URL. Cheap to clone (an `Arc`).
///
/// ```no_run
/// # async fn f() -> almacen::Result<()> {
/// use almacen::prelude::*;
/// let db = Database::connect("sqlite://app.db?max_connections=8&statement_timeout=5s").await?;
/// let n = db.execute_raw("DELETE FROM sessions WHERE expired = :yes", params! { "yes" => true }).await?;
/// println!("{n} sessions removed; pool: {:?}", db.stats());
/// db.close().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Database {
    pub(crate) inner: Arc<Inner>,
}

/// The dialect, the URL without its password, and the pool's state: the pools' own Debug
/// would print the driver's options, password included.
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("dialect", &self.dialect())
            .field("url", &redacted_url(self.inner.options.driver_url()))
            .field("stats", &self.stats())
            .finish()
    }
}

/// A snapshot of the pool's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open (idle plus in use).
    pub size: u32,
    /// Open connections waiting in the pool.
    pub idle: u32,
    /// Connections handed out.
    pub in_use: u32,
    /// Callers waiting for a connection.
    pub waiting: u32,
    /// The most connections the pool will open.
    pub max_connections: u32,
}

/// What stops a server statement whose caller gave up (SQLite's pool interrupts its own).
#[cfg(any(feature = "postgres", feature = "mysql"))]
type Canceller = Box<dyn CancelServerWork>;
#[cfg(not(any(feature = "postgres", feature = "mysql")))]
type Canceller = std::convert::Infallible;

/// Counts one connection as in use while it lives.
#[derive(Debug)]
pub(crate) struct InUse(Arc<AtomicUsize>);

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl InUse {
    fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        InUse(counter.clone())
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Decrements the waiting counter however the acquire ends (including cancellation).
#[cfg(any(feature = "postgres", feature = "mysql"))]
struct Waiting<'a>(&'a AtomicUsize);
#[cfg(any(feature = "postgres", feature = "mysql"))]
impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Database {
    /// Connect to the database at `url` (see [`ConnectOptions`] for the URL forms and the
    /// query parameters that tune the pool).
    pub async fn connect(url: &str) -> Result<Database> {
        Self::connect_with(ConnectOptions::from_url(url)?).await
    }

    /// Connect to the database named by the `DATABASE_URL` environment variable.
    pub async fn connect_env() -> Result<Database> {
        Self::connect_with(ConnectOptions::from_env()?).await
    }

    /// Connect with options built in code.
    pub async fn connect_with(options: ConnectOptions) -> Result<Database> {
        // (Options built in code skip the URL's checks: SQLite's file settings set where they
        // would do nothing.)
        options.check_sqlite_file_settings()?;
        let settings = RunSettings {
            dialect: options.dialect(),
            statement_timeout: options.statement_timeout,
            slow_statement: options.slow_statement,
            echo: options.echo,
            log_parameters: options.log_parameters,
            #[cfg(any(feature = "postgres", feature = "mysql"))]
            acquire_timeout: options.acquire_timeout,
            observers: Default::default(),
        };
        let connect = Self::open_pool(&options, &settings);
        #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), expect(unused_variables, reason = "only server pools cancel"))]
        let (pool, canceller) = match tokio::time::timeout(options.connect_timeout, connect).await {
            Ok(pool) => pool?,
            Err(_) => {
                return Err(Error::ConnectionLost(format!(
                    "could not connect to {} within the connect timeout of {:?}",
                    options.dialect(),
                    options.connect_timeout
                )));
            }
        };
        Ok(Database {
            inner: Arc::new(Inner {
                pool,
                options,
                settings,
                #[cfg(any(feature = "postgres", feature = "mysql"))]
                waiting: AtomicUsize::new(0),
                #[cfg(any(feature = "postgres", feature = "mysql"))]
                in_use: Arc::new(AtomicUsize::new(0)),
                #[cfg(any(feature = "postgres", feature = "mysql"))]
                canceller,
            }),
        })
    }

    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), expect(unused_variables, reason = "only server pools use the settings"))]
    async fn open_pool(o: &ConnectOptions, settings: &RunSettings) -> Result<(Pool, Option<Canceller>)> {
        backend_built(o.dialect())?;
        Ok(match o.dialect() {
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => (Pool::Sqlite(crate::engine::sqlite::LitePool::open(o)?), None),
            #[cfg(feature = "postgres")]
            Dialect::Postgres => {
                let (pool, canceller) = crate::engine::postgres::open(o, settings).await?;
                (Pool::Postgres(pool), canceller.map(|c| Box::new(c) as Canceller))
            }
            #[cfg(feature = "mysql")]
            Dialect::MySql => {
                let (pool, canceller) = crate::engine::mysql::open(o, settings).await?;
                (Pool::MySql(pool), canceller.map(|c| Box::new(c) as Canceller))
            }
            #[cfg(not(all(feature = "sqlite", feature = "postgres", feature = "mysql")))]
            _ => unreachable!("backend_built refused it"),
        })
    }

    /// A counter of the statements this database (and its transactions) sends from now on.
    pub fn statement_counter(&self) -> StatementCounter {
        self.inner.settings.observers.counter()
    }

    /// How many statements this database (and its transactions) has sent since it was
    /// opened, counted as [`statement_counter`](Self::statement_counter) counts them: a
    /// plain counter for metrics, which keeps no statement text.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
    /// use almacen::prelude::*;
    /// let db = Database::connect("sqlite::memory:").await?;
    /// let before = db.statements_sent();
    /// db.fetch_all_raw("SELECT 1", params! {}).await?;
    /// assert_eq!(db.statements_sent() - before, 1);
    /// # Ok(()) }
    /// ```
    pub fn statements_sent(&self) -> u64 {
        self.inner.settings.observers.sent()
    }

    /// The dialect of this database.
    pub fn dialect(&self) -> Dialect {
        self.inner.settings.dialect
    }

    /// The options this database was opened with.
    pub fn options(&self) -> &ConnectOptions {
        &self.inner.options
    }

    /// The pool's current size, idle and busy connections, and waiting callers.
    pub fn stats(&self) -> PoolStats {
        match &self.inner.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => p.stats(),
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => self.server_stats(p.size(), p.num_idle()),
            #[cfg(feature = "mysql")]
            Pool::MySql(p) => self.server_stats(p.size(), p.num_idle()),
        }
    }

    /// The stats of a server pool (sqlx's) of `size` connections, `idle` of them idle.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    fn server_stats(&self, size: u32, idle: usize) -> PoolStats {
        // sqlx's idle count can be off by one while a returned connection is handed to a
        // waiter; almacen's own count of connections out is exact except for open streams,
        // which only sqlx sees. Take the larger of the two views of "in use".
        let sqlx_in_use = size.saturating_sub(idle.min(size as usize) as u32);
        let ours = (self.inner.in_use.load(Ordering::Relaxed) as u32).min(size);
        let in_use = sqlx_in_use.max(ours);
        PoolStats {
            size,
            idle: size - in_use,
            in_use,
            waiting: self.inner.waiting.load(Ordering::Relaxed) as u32,
            max_connections: self.inner.options.max_connections,
        }
    }

    /// Close every connection: waits for connections in use to come back, then closes them.
    /// Later calls fail with [`Error::ConnectionLost`].
    pub async fn close(&self) {
        match &self.inner.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => p.close().await,
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => p.close().await,
            #[cfg(feature = "mysql")]
            Pool::MySql(p) => p.close().await,
        }
    }

    /// True once [`close`](Self::close) has been called.
    pub fn is_closed(&self) -> bool {
        match &self.inner.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => p.is_closed(),
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => p.is_closed(),
            #[cfg(feature = "mysql")]
            Pool::MySql(p) => p.is_closed(),
        }
    }

    /// A pooled connection, counted as in use until the returned guard drops.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub(crate) async fn acquire<DB: sqlx::Database>(&self, pool: &sqlx::Pool<DB>) -> Result<(sqlx::pool::PoolConnection<DB>, InUse)> {
        self.inner.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.inner.waiting);
        let conn = match pool.acquire().await {
            Ok(conn) => conn,
            Err(sqlx::Error::PoolTimedOut) => self.acquire_again(pool).await?,
            Err(e) => return Err(self.inner.settings.err(e)),
        };
        Ok((conn, InUse::new(&self.inner.in_use)))
    }

    /// The rest of `acquire` once its first attempt window (see [`attempt_window`]) has passed
    /// without a connection: attempts until the acquire timeout is spent. Each attempt starts
    /// sqlx's reconnect backoff again, so a server that refused connections is tried again
    /// within a fifth of the window of its coming back.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    #[cold]
    async fn acquire_again<DB: sqlx::Database>(&self, pool: &sqlx::Pool<DB>) -> Result<sqlx::pool::PoolConnection<DB>> {
        let window = attempt_window(&self.inner.options);
        // sqlx times out only at the end of the window: the first attempt took all of it.
        let deadline = tokio::time::Instant::now() + self.inner.options.acquire_timeout.saturating_sub(window);
        let timed_out = || self.inner.settings.err(sqlx::Error::PoolTimedOut);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(timed_out());
            }
            let attempt = if left >= window {
                pool.acquire().await
            } else {
                tokio::time::timeout(left, pool.acquire()).await.unwrap_or(Err(sqlx::Error::PoolTimedOut))
            };
            match attempt {
                Ok(conn) => return Ok(conn),
                Err(sqlx::Error::PoolTimedOut) => continue,
                Err(e) => return Err(self.inner.settings.err(e)),
            }
        }
    }
}

/// `Error::Config` for a URL of a backend this build does not have (its Cargo feature is off).
fn backend_built(dialect: Dialect) -> Result<()> {
    if dialect.is_built() {
        return Ok(());
    }
    let schemes = match dialect {
        Dialect::Postgres => "postgres:// and postgresql://",
        Dialect::MySql => "mysql:// and mariadb://",
        Dialect::Sqlite => "sqlite:// and sqlite::memory:",
    };
    let built: Vec<&str> =
        [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql].into_iter().filter(|d| d.is_built()).map(Dialect::name).collect();
    let built = match built.as_slice() {
        [one] => format!("{one} only"),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
        [] => "no backend".into(),
    };
    Err(Error::Config(format!("{schemes} URLs need almacen's {:?} feature (this build has {built})", dialect.name())))
}

/// The options of a server's sqlx pool, from almacen's.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) fn pool_options<DB: sqlx::Database>(o: &ConnectOptions) -> PoolOptions<DB> {
    let keep_alive = o.is_in_memory();
    PoolOptions::<DB>::new()
        .max_connections(o.max_connections)
        .min_connections(if keep_alive { 1 } else { o.min_connections })
        // One attempt: `Database::acquire` makes attempts until `acquire_timeout` is spent.
        .acquire_timeout(attempt_window(o))
        .max_lifetime(if keep_alive { None } else { o.max_lifetime })
        .idle_timeout(if keep_alive { None } else { o.idle_timeout })
        .test_before_acquire(o.pre_ping)
}

/// How long one of sqlx's acquires may take (its own acquire timeout): the connect timeout, or
/// the acquire timeout if shorter. While the server refuses connections, sqlx retries within
/// one acquire with a backoff that doubles from 10 ms up to a fifth of the time that acquire
/// has left: 6 s for a 30 s acquire. `Database::acquire` therefore makes acquires of this
/// length until its own acquire timeout, which caps the backoff at a fifth of the connect
/// timeout (400 ms by default), and bounds each connection attempt by the connect timeout.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn attempt_window(o: &ConnectOptions) -> std::time::Duration {
    o.acquire_timeout.min(o.connect_timeout)
}

/// Open and close one connection, so an unreachable server fails at once with the
/// driver's reason (the pool would retry until its acquire timeout and lose the reason).
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) async fn check_reachable<C: sqlx::Connection>(opts: &<C as sqlx::Connection>::Options, settings: &RunSettings) -> Result<()> {
    let conn = C::connect_with(opts).await.map_err(|e| match settings.err(e) {
        Error::ConnectionLost(m) => Error::ConnectionLost(format!("cannot connect to {}: {m}", settings.dialect)),
        other => other,
    })?;
    let _ = conn.close().await;
    Ok(())
}

impl Runs for Database {
    async fn run(&self, stmt: Statement, fetch: Fetch<'_>) -> Result<Fetched> {
        let s = &self.inner.settings;
        match &self.inner.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => p.run(s, stmt, fetch).await,
            // Boxed: SQLite's path, in place, should not carry (and copy) these futures.
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => {
                Box::pin(async move {
                    let (mut c, _in_use) = self.acquire(p).await?;
                    let overridden = s.timeout_for(stmt.timeout).1;
                    // Kept for the error path only (a shared text costs a reference count, a scan would cost more).
                    let sql = stmt.sql.clone();
                    let mut c = Settling { conn: &mut c, settled: false, canceller: self.inner.canceller.as_deref() };
                    let out = s.run(ConnRef::Postgres(c.conn), stmt, fetch, false).await;
                    // A failed override (its reset may not have run) leaves the setting in doubt.
                    c.settled = match &out {
                        Ok(_) => true,
                        Err(e) => !overridden && !e.leaves_connection_in_doubt(),
                    };
                    out.map_err(|e| if crate::engine::raw::reads_only(&sql) { e } else { e.during_autocommit_write() })
                })
                .await
            }
            #[cfg(feature = "mysql")]
            Pool::MySql(p) => {
                Box::pin(async move {
                    let (mut c, _in_use) = self.acquire(p).await?;
                    // Kept for the error path only (a shared text costs a reference count, a scan would cost more).
                    let sql = stmt.sql.clone();
                    let mut c = Settling { conn: &mut c, settled: false, canceller: self.inner.canceller.as_deref() };
                    let out = s.run(ConnRef::MySql(c.conn), stmt, fetch, false).await;
                    c.settled = out.as_ref().err().is_none_or(|e| !e.leaves_connection_in_doubt());
                    out.map_err(|e| if crate::engine::raw::reads_only(&sql) { e } else { e.during_autocommit_write() })
                })
                .await
            }
        }
    }
}

/// A server connection running one statement outside a transaction. If the statement's
/// future is dropped before it settled, the server is asked to cancel the statement and the
/// connection is closed instead of going back to the pool: the statement may still be
/// running there (a late cancel must not reach the next user), or a session setting almacen
/// changed for it (PostgreSQL's `statement_timeout` override) may not have been reset.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) struct Settling<'c, DB: sqlx::Database> {
    pub conn: &'c mut sqlx::pool::PoolConnection<DB>,
    pub settled: bool,
    pub canceller: Option<&'c dyn CancelServerWork>,
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl<DB: sqlx::Database> Drop for Settling<'_, DB> {
    fn drop(&mut self) {
        if !self.settled {
            if let Some(canceller) = self.canceller {
                canceller.cancel(conn_key::<DB::Connection>(&**self.conn));
            }
            self.conn.close_on_drop();
        }
    }
}

impl Executor for Database {
    fn dialect(&self) -> Dialect {
        self.inner.settings.dialect
    }

    async fn fetch_rows(&self, stmt: Statement) -> Result<Vec<DbRow>> {
        Ok(self.run(stmt, Fetch::All).await?.rows())
    }

    crate::engine::executor::typed_fetches!();

    fn as_database(&self) -> Option<&Database> {
        Some(self)
    }

    async fn fetch_row(&self, stmt: Statement) -> Result<Option<DbRow>> {
        Ok(self.run(stmt, Fetch::Optional).await?.row())
    }

    async fn execute_statement(&self, stmt: Statement) -> Result<ExecResult> {
        Ok(self.run(stmt, Fetch::Execute).await?.done())
    }

    /// Streams rows from one pooled connection as the database sends them. The session's
    /// default statement timeout applies (a per-statement override does not).
    fn stream_rows(&self, stmt: Statement) -> BoxStream<'_, Result<DbRow>> {
        let s = &self.inner.settings;
        match &self.inner.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(p) => p.stream(s, stmt),
            #[cfg(feature = "postgres")]
            Pool::Postgres(p) => crate::engine::postgres::stream(p, s, stmt),
            #[cfg(feature = "mysql")]
            Pool::MySql(p) => crate::engine::mysql::stream(p, s, stmt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Dialect; 3] = [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql];

    #[test]
    fn built_backends_follow_the_features() {
        assert_eq!(Dialect::Sqlite.is_built(), cfg!(feature = "sqlite"));
        assert_eq!(Dialect::Postgres.is_built(), cfg!(feature = "postgres"));
        assert_eq!(Dialect::MySql.is_built(), cfg!(feature = "mysql"));
        for d in ALL {
            assert_eq!(backend_built(d).is_ok(), d.is_built(), "{d}");
        }
    }

    #[test]
    fn a_backend_not_built_names_its_feature_and_what_is_built() {
        for d in ALL.into_iter().filter(|d| !d.is_built()) {
            let Err(Error::Config(m)) = backend_built(d) else { panic!("{d} is not built: expected Error::Config") };
            assert!(m.contains(&format!("URLs need almacen's \"{d}\" feature (this build has ")), "{m}");
            for built in ALL.into_iter().filter(|b| b.is_built()) {
                assert!(m.contains(built.name()), "{m} should name {built}");
            }
        }
    }

    #[cfg(all(feature = "sqlite", not(any(feature = "postgres", feature = "mysql"))))]
    #[tokio::test]
    async fn sqlite_only_build_refuses_server_urls_at_connect() {
        let e = Database::connect("postgres://u@127.0.0.1/db").await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "configuration error: postgres:// and postgresql:// URLs need almacen's \"postgres\" feature (this build has sqlite only)"
        );
        let e = Database::connect("mariadb://root@127.0.0.1/db").await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "configuration error: mysql:// and mariadb:// URLs need almacen's \"mysql\" feature (this build has sqlite only)"
        );
    }

    #[cfg(all(feature = "postgres", not(any(feature = "sqlite", feature = "mysql"))))]
    #[tokio::test]
    async fn postgres_only_build_refuses_sqlite_urls_at_connect() {
        for url in ["sqlite::memory:", "sqlite:///tmp/almacen-never-created.db"] {
            let e = Database::connect(url).await.unwrap_err();
            assert_eq!(
                e.to_string(),
                "configuration error: sqlite:// and sqlite::memory: URLs need almacen's \"sqlite\" feature (this build has postgres only)",
                "{url}"
            );
        }
    }

    #[cfg(not(feature = "sqlite"))]
    #[tokio::test]
    async fn sqlite_url_without_the_feature_is_a_config_error() {
        let path = std::env::temp_dir().join(format!("almacen-no-sqlite-{}.db", std::process::id()));
        for url in ["sqlite::memory:".to_string(), format!("sqlite://{}", path.display())] {
            let e = Database::connect(&url).await.unwrap_err();
            assert!(matches!(&e, Error::Config(m) if m.contains("need almacen's \"sqlite\" feature")), "{url}: {e}");
        }
        assert!(!path.exists(), "no SQLite file is created");
    }

    #[cfg(not(feature = "postgres"))]
    #[tokio::test]
    async fn postgres_url_without_the_feature_is_a_config_error() {
        let e = Database::connect("postgres://u@127.0.0.1/db").await.unwrap_err();
        assert!(matches!(&e, Error::Config(m) if m.contains("need almacen's \"postgres\" feature")), "{e}");
    }

    #[cfg(not(feature = "mysql"))]
    #[tokio::test]
    async fn mysql_url_without_the_feature_is_a_config_error() {
        let e = Database::connect("mysql://root@127.0.0.1/db").await.unwrap_err();
        assert!(matches!(&e, Error::Config(m) if m.contains("need almacen's \"mysql\" feature")), "{e}");
    }
}
