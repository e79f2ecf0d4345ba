//! One revision's unit of work under the migration lock, per dialect: the transaction, the
//! lock (PostgreSQL `pg_advisory_xact_lock`, MariaDB `GET_LOCK`, SQLite `BEGIN IMMEDIATE`),
//! bounded waits, and letting go of it whatever happens; SQLite's foreign key enforcement
//! turned off for the unit and checked before it commits.

use super::Migrator;
use super::error::{MigrateError, db_err};
use super::report::Direction;
use super::version::ensure_version_table;
use almacen::{Database, Dialect, Error, Executor, IsolationLevel, Transaction, TxOptions, params};
use std::time::{Duration, Instant};

/// The database handle a run's units use. On a SQLite file, a pool of its own with one
/// connection: revisions run there with foreign key enforcement off (a table rebuild drops
/// and re-creates a table others reference, and `PRAGMA foreign_keys` cannot change inside a
/// transaction), which must not leak to the application's connections. An in-memory
/// SQLite database has one connection, shared: enforcement is turned back on after each
/// revision.
pub(crate) struct Session {
    pub(crate) db: Database,
    /// The pool was opened for this run (closed at its end).
    own: bool,
}

impl Session {
    pub(crate) async fn open(db: &Database) -> Result<Session, MigrateError> {
        if db.dialect() != Dialect::Sqlite || db.options().is_in_memory() {
            return Ok(Session { db: db.clone(), own: false });
        }
        let mut options = db.options().clone();
        options.max_connections = 1;
        options.min_connections = 0;
        let own = Database::connect_with(options).await.map_err(db_err("opening the migration connection"))?;
        Ok(Session { db: own, own: true })
    }

    pub(crate) async fn close(self) {
        if self.own {
            self.db.close().await;
        }
    }
}

/// One revision's unit of work: a transaction holding the migration lock.
pub(crate) struct Unit {
    /// `None` only once finished.
    tx: Option<Transaction>,
    /// MariaDB: the named lock is held by the connection, not the transaction, and must be
    /// let go of before the connection goes back to the pool.
    mysql_locked: bool,
    /// SQLite in memory: the shared connection whose foreign key enforcement this unit
    /// turned off, to turn back on when it ends.
    sqlite_restore: Option<Database>,
}

/// MariaDB's lock name: per database and version table (`GET_LOCK` names are server-wide;
/// the hash keeps it under the 64 characters allowed).
const MYSQL_LOCK_NAME: &str = "CONCAT('almacen_migrate_', SHA1(CONCAT(DATABASE(), '.', 'almacen_version')))";

/// PostgreSQL's advisory lock key (advisory locks are per database already): FNV-1a of the
/// version table's name, fixed so every build of every service agrees.
fn postgres_lock_key() -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in "almacen_migrate.almacen_version".bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

impl Unit {
    /// Begin the transaction and take the lock, waiting at most the migrator's lock
    /// timeout; then make sure the version table exists.
    pub(crate) async fn begin(session: &Session, m: &Migrator<'_>) -> Result<Unit, MigrateError> {
        let db = &session.db;
        let dialect = db.dialect();
        let deadline = Instant::now() + m.lock_timeout;
        let unit = match dialect {
            Dialect::Postgres => {
                // Read committed, whatever the server's default: the version table read after
                // the lock must see what the process that held it committed (a repeatable-read
                // snapshot, taken at the first statement, predates that commit).
                let tx = db
                    .begin_with(TxOptions::new().isolation(IsolationLevel::ReadCommitted))
                    .await
                    .map_err(db_err("beginning the migration transaction"))?;
                let ms = m.lock_timeout.as_millis().max(1);
                tx.execute_raw(&format!("SET LOCAL lock_timeout = '{ms}ms'"), params! {}).await.map_err(db_err("setting lock_timeout"))?;
                match tx.fetch_one_raw(&format!("SELECT 1 AS locked FROM pg_advisory_xact_lock({})", postgres_lock_key()), params! {}).await
                {
                    Ok(_) => {}
                    Err(Error::LockNotAvailable(_)) => {
                        let _ = tx.rollback().await;
                        return Err(MigrateError::LockTimeout { waited: m.lock_timeout, how: "pg_advisory_xact_lock" });
                    }
                    Err(e) => return Err(db_err("taking the migration lock (pg_advisory_xact_lock)")(e)),
                }
                // From here on the timeout is for the steps' table locks.
                let ms = m.ddl_lock_timeout.as_millis().max(1);
                tx.execute_raw(&format!("SET LOCAL lock_timeout = '{ms}ms'"), params! {}).await.map_err(db_err("setting lock_timeout"))?;
                Unit { tx: Some(tx), mysql_locked: false, sqlite_restore: None }
            }
            Dialect::MySql => {
                // Read committed: the version table read after the lock sees what the process
                // that held it committed.
                let tx = db
                    .begin_with(TxOptions::new().isolation(IsolationLevel::ReadCommitted))
                    .await
                    .map_err(db_err("beginning the migration transaction"))?;
                let secs = m.lock_timeout.as_secs_f64();
                let got = tx
                    .fetch_one_raw(&format!("SELECT GET_LOCK({MYSQL_LOCK_NAME}, :secs) AS got"), params! { "secs" => secs })
                    .await
                    .and_then(|row| row.get::<Option<i64>>("got"));
                match got {
                    Ok(Some(1)) => {}
                    Ok(other) => {
                        let _ = tx.rollback().await;
                        return Err(match other {
                            Some(_) => MigrateError::LockTimeout { waited: m.lock_timeout, how: "GET_LOCK" },
                            None => MigrateError::Database {
                                doing: "taking the migration lock (GET_LOCK)",
                                error: Error::other("GET_LOCK returned NULL"),
                            },
                        });
                    }
                    Err(e) => return Err(db_err("taking the migration lock (GET_LOCK)")(e)),
                }
                let unit = Unit { tx: Some(tx), mysql_locked: true, sqlite_restore: None };
                // Bound the steps' waits for metadata locks; restored before the lock goes.
                let secs = m.ddl_lock_timeout.as_secs().max(1);
                let set = unit
                    .tx()
                    .execute_raw(
                        &format!("SET @almacen_lock_wait_timeout = @@session.lock_wait_timeout, SESSION lock_wait_timeout = {secs}"),
                        params! {},
                    )
                    .await;
                if let Err(e) = set {
                    unit.abort().await;
                    return Err(db_err("setting lock_wait_timeout")(e));
                }
                unit
            }
            Dialect::Sqlite => {
                // BEGIN IMMEDIATE takes the database's write lock; another process holding it
                // makes it wait (up to SQLite's busy timeout), then it is tried again until the
                // deadline.
                let sqlite_restore = (!session.own).then(|| db.clone());
                let failed = async |e: MigrateError| {
                    // The shared in-memory connection gets its enforcement back.
                    if !session.own {
                        let _ = db.execute_raw("PRAGMA foreign_keys = ON", params! {}).await;
                    }
                    Err(e)
                };
                loop {
                    // Only outside a transaction does this pragma take effect.
                    if let Err(e) = db.execute_raw("PRAGMA foreign_keys = OFF", params! {}).await {
                        return failed(db_err("turning foreign key enforcement off")(e)).await;
                    }
                    match db.begin().await {
                        Ok(tx) => break Unit { tx: Some(tx), mysql_locked: false, sqlite_restore: sqlite_restore.clone() },
                        Err(Error::Deadlock(_) | Error::PoolTimeout(_)) if Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(Error::Deadlock(_) | Error::PoolTimeout(_)) => {
                            return failed(MigrateError::LockTimeout { waited: m.lock_timeout, how: "BEGIN IMMEDIATE" }).await;
                        }
                        Err(e) => return failed(db_err("beginning the migration transaction (BEGIN IMMEDIATE)")(e)).await,
                    }
                }
            }
        };
        if dialect == Dialect::Sqlite {
            // The pool of one connection could have replaced it since the pragma (an idle
            // connection closed): refuse to run with enforcement on rather than lose rows.
            let on = unit.tx().fetch_one_raw("PRAGMA foreign_keys", params! {}).await.and_then(|r| r.get::<i64>("foreign_keys"));
            match on {
                Ok(0) => {}
                Ok(_) => {
                    unit.abort().await;
                    return Err(MigrateError::Changed("foreign key enforcement is on in the migration transaction; try again".into()));
                }
                Err(e) => {
                    unit.abort().await;
                    return Err(db_err("reading foreign key enforcement")(e));
                }
            }
        }
        if let Err(e) = ensure_version_table(unit.tx(), dialect).await {
            unit.abort().await;
            return Err(e);
        }
        Ok(unit)
    }

    pub(crate) fn tx(&self) -> &Transaction {
        self.tx.as_ref().expect("a unit's transaction is there until it finishes")
    }

    /// Commit, then let go of the lock.
    pub(crate) async fn commit(mut self) -> Result<(), MigrateError> {
        if self.mysql_locked {
            // Commit before letting go of the lock: a process that takes it next must read
            // this revision's row in the version table.
            if let Err(e) = self.tx().execute_raw("COMMIT", params! {}).await {
                self.abort().await;
                return Err(db_err("committing the revision")(e));
            }
            release_mysql(self.tx()).await;
            self.mysql_locked = false;
        }
        let tx = self.tx.take().expect("not finished");
        let done = tx.commit().await.map_err(db_err("committing the revision"));
        self.restore_sqlite().await;
        done
    }

    /// SQLite in memory: turn foreign key enforcement back on for the application.
    async fn restore_sqlite(&mut self) {
        if let Some(db) = self.sqlite_restore.take()
            && let Err(e) = db.execute_raw("PRAGMA foreign_keys = ON", params! {}).await
        {
            tracing::warn!(target: "almacen_migrate", error = %e, "turning foreign key enforcement back on failed");
        }
    }

    /// Roll back and let go of the lock (errors here are logged: the error that ended the
    /// run matters more).
    pub(crate) async fn abort(mut self) {
        if self.mysql_locked {
            if let Err(e) = self.tx().execute_raw("ROLLBACK", params! {}).await {
                tracing::warn!(target: "almacen_migrate", error = %e, "rollback failed");
            }
            release_mysql(self.tx()).await;
            self.mysql_locked = false;
        }
        let tx = self.tx.take().expect("not finished");
        if let Err(e) = tx.rollback().await {
            tracing::warn!(target: "almacen_migrate", error = %e, "rollback failed");
        }
        self.restore_sqlite().await;
    }
}

/// MariaDB: restore `lock_wait_timeout` and let go of the named lock.
async fn release_mysql(tx: &Transaction) {
    let restore = tx
        .execute_raw("SET SESSION lock_wait_timeout = COALESCE(@almacen_lock_wait_timeout, @@global.lock_wait_timeout)", params! {})
        .await;
    if let Err(e) = restore {
        tracing::warn!(target: "almacen_migrate", error = %e, "restoring lock_wait_timeout failed");
    }
    if let Err(e) = tx.fetch_one_raw(&format!("SELECT RELEASE_LOCK({MYSQL_LOCK_NAME}) AS released"), params! {}).await {
        tracing::warn!(target: "almacen_migrate", error = %e, "releasing the migration lock failed");
    }
}

impl Drop for Unit {
    /// A unit dropped unfinished (its run was cancelled): the transaction rolls back as it
    /// drops, but MariaDB's named lock belongs to the connection, which goes back to the
    /// pool, so a task lets go of it first (bounded).
    fn drop(&mut self) {
        let Some(tx) = self.tx.take() else { return };
        if !self.mysql_locked && self.sqlite_restore.is_none() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let (mysql, sqlite) = (self.mysql_locked, self.sqlite_restore.take());
        handle.spawn(async move {
            if mysql {
                let _ = tokio::time::timeout(Duration::from_secs(5), release_mysql(&tx)).await;
            }
            let _ = tx.rollback().await;
            if let Some(db) = sqlite {
                let _ = tokio::time::timeout(Duration::from_secs(5), db.execute_raw("PRAGMA foreign_keys = ON", params! {})).await;
            }
        });
    }
}

/// SQLite: the rows that break a foreign key once a revision's steps ran (with enforcement
/// off), which must roll it back.
pub(crate) async fn check_foreign_keys(
    tx: &Transaction,
    rev: &crate::revision::Revision,
    direction: Direction,
) -> Result<(), MigrateError> {
    let rows = tx.fetch_all_raw("PRAGMA foreign_key_check", params! {}).await.map_err(db_err("checking foreign keys"))?;
    if rows.is_empty() {
        return Ok(());
    }
    let violations = rows
        .iter()
        .take(10)
        .map(|r| {
            let table = r.get::<String>("table").unwrap_or_default();
            let parent = r.get::<String>("parent").unwrap_or_default();
            match r.get::<Option<i64>>("rowid").ok().flatten() {
                Some(rowid) => format!("{table} row {rowid} references a missing {parent} row"),
                None => format!("a {table} row references a missing {parent} row"),
            }
        })
        .collect();
    Err(MigrateError::ForeignKeys { revision: rev.id.clone(), message: rev.summary().to_string(), direction, violations })
}

/// MariaDB commits the transaction implicitly at each DDL statement (the version table's
/// creation, a step's): start another if so, so the version table's rows change together.
pub(crate) async fn reopen_mysql_transaction(tx: &Transaction, dialect: Dialect) -> Result<(), MigrateError> {
    if dialect != Dialect::MySql {
        return Ok(());
    }
    // `@@in_transaction` is MariaDB's; where it is missing (MySQL), start one regardless.
    let open = match tx.fetch_one_raw("SELECT @@in_transaction AS open", params! {}).await {
        Ok(row) => row.get::<i64>("open").unwrap_or(0),
        Err(_) => 0,
    };
    if open == 0 {
        tx.execute_raw("START TRANSACTION", params! {}).await.map_err(db_err("starting the version table's transaction"))?;
    }
    Ok(())
}
