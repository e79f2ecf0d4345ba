//! The runner: applies and undoes revisions on a live database, records them in the version
//! table, and takes a lock so that processes migrating at once apply each revision once.
//!
//! # The version table
//!
//! `almacen_version` ([`VERSION_TABLE`]) has one row per applied head (`version_num`, its
//! primary key), as Alembic's `alembic_version`: one row on a straight history, one per
//! branch when the database is at several heads. A revision is applied when it or a
//! revision after it is in the table.
//!
//! # One revision at a time, under the lock
//!
//! Each revision runs in a unit of its own: take the lock, read the version table (so a
//! process that waited sees what the other one did and does not do it again), run the
//! revision's statements, update the version table, commit, let go of the lock.
//!
//! | dialect | the lock | a failing revision |
//! |---|---|---|
//! | PostgreSQL | `pg_advisory_xact_lock` in the revision's transaction, waiting at most `lock_timeout` | rolled back whole (DDL is transactional); the version table unchanged |
//! | SQLite | the write lock of the revision's `BEGIN IMMEDIATE` transaction, waited for up to `lock_timeout` | rolled back whole; the version table unchanged |
//! | MariaDB | `GET_LOCK` (per database and version table) on the revision's connection, waiting at most `lock_timeout` | DDL commits as it runs: the steps before the failing one stay, the error names the revision, step, operation, SQL and database error, and the version table stays at the last revision applied whole |
//!
//! While a revision runs, statements that wait for a table lock give up after
//! `ddl_lock_timeout` (PostgreSQL `lock_timeout`, MariaDB `lock_wait_timeout`) rather than
//! queue behind a long transaction and hold up every query on that table.
//!
//! The SQL of each step comes from [`render::render`](crate::render::render), against the
//! schema the applied revisions build (their operations replayed from the base with
//! [`ops::apply`]). Every step of the whole plan is rendered before
//! anything runs, so a step that cannot be rendered for this dialect stops the run before it
//! touches the database.

use crate::graph::{DowngradeTarget, GraphError, Migrations, StampTarget, UpgradeTarget};
use crate::ops::{self, Operation};
use crate::render::RenderError;
use crate::revision::describe;
use crate::schema::Table;
use almacen::{Database, Dialect, Error, Executor, IsolationLevel, Statement, Transaction, TxOptions, params};
use std::fmt;
use std::time::{Duration, Instant};

/// The version table's name.
pub const VERSION_TABLE: &str = "almacen_version";

/// Which way a run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Applying revisions.
    Upgrade,
    /// Undoing revisions.
    Downgrade,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Upgrade => "upgrade",
            Direction::Downgrade => "downgrade",
        })
    }
}

/// A step that failed on the database.
#[derive(Debug)]
pub struct StepFailure {
    /// The revision.
    pub revision: String,
    /// Its message.
    pub message: String,
    /// Applying or undoing it.
    pub direction: Direction,
    /// The step's number, from 1.
    pub step: usize,
    /// How many steps the revision has in that direction.
    pub steps: usize,
    /// The operation, described ([`describe`]).
    pub operation: String,
    /// The statement that failed.
    pub sql: String,
    /// What the database said.
    pub error: Error,
    /// The dialect.
    pub dialect: Dialect,
    /// Whether the revision's earlier steps were rolled back with it (PostgreSQL, SQLite);
    /// on MariaDB they stay.
    pub rolled_back: bool,
    /// The version table's rows as the failure left them.
    pub version: Vec<String>,
}

impl fmt::Display for StepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "revision {} ({:?}) failed at {} step {} of {} ({}) on {}: {}\n  SQL: {}\n  ",
            self.revision, self.message, self.direction, self.step, self.steps, self.operation, self.dialect, self.error, self.sql
        )?;
        let at = show_version(&self.version);
        if self.rolled_back {
            write!(f, "the revision was rolled back whole; the version table is still at {at}")
        } else if self.step > 1 {
            write!(
                f,
                "{} commits DDL as it runs: steps 1 to {} of this revision stay done; the version table is still at {at} \
                 (undo those steps, or finish the revision by hand and `stamp` it)",
                self.dialect,
                self.step - 1
            )
        } else {
            write!(f, "no step of this revision ran to the end; the version table is still at {at}")
        }
    }
}

fn show_version(rows: &[String]) -> String {
    if rows.is_empty() { "base (no revision)".to_string() } else { rows.join(", ") }
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The revisions, or the target, do not allow it.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The migration lock could not be had in time: another process is migrating.
    #[error("could not take the migration lock within {waited:?} ({how}): another process is migrating this database")]
    LockTimeout {
        /// How long the runner waited.
        waited: Duration,
        /// Which lock.
        how: &'static str,
    },
    /// A step cannot be written as SQL for this dialect (checked before anything runs).
    #[error("revision {revision} ({message:?}), {direction} step {step} ({operation}), cannot be written for {dialect}: {error}")]
    Render {
        /// The revision.
        revision: String,
        /// Its message.
        message: String,
        /// Applying or undoing it.
        direction: Direction,
        /// The step's number, from 1.
        step: usize,
        /// The operation, described.
        operation: String,
        /// The dialect.
        dialect: Dialect,
        /// Why.
        error: RenderError,
    },
    /// The applied revisions' operations do not fit together (a revision file changed
    /// after it was applied, or was written wrong).
    #[error("revision {revision}, upgrade step {step} ({operation}), does not fit the schema the revisions before it build: {error}")]
    Replay {
        /// The revision.
        revision: String,
        /// The step's number, from 1.
        step: usize,
        /// The operation, described.
        operation: String,
        /// Why.
        error: ops::OpError,
    },
    /// A step failed on the database.
    #[error("{0}")]
    Step(Box<StepFailure>),
    /// SQLite: rows that break a foreign key after the revision's steps (which run with
    /// enforcement off, as table rebuilds need); the revision was rolled back.
    #[error(
        "revision {revision} ({message:?}), {direction}: its steps leave rows that break foreign keys ({}); the revision was rolled back",
        .violations.join("; ")
    )]
    ForeignKeys {
        /// The revision.
        revision: String,
        /// Its message.
        message: String,
        /// Applying or undoing it.
        direction: Direction,
        /// Each violation: `table` row `rowid` references `parent`.
        violations: Vec<String>,
    },
    /// The database failed outside a step (the lock, the version table).
    #[error("{doing}: {error}")]
    Database {
        /// What the runner was doing.
        doing: &'static str,
        /// What the database said.
        error: Error,
    },
    /// The version table changed in a way this run cannot follow (another process
    /// downgraded or stamped meanwhile).
    #[error("{0}")]
    Changed(String),
}

fn db_err(doing: &'static str) -> impl FnOnce(Error) -> MigrateError {
    move |error| MigrateError::Database { doing, error }
}

/// One revision a run applied or undid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionRun {
    /// The revision.
    pub id: String,
    /// Its message.
    pub message: String,
    /// Its steps in that direction.
    pub steps: usize,
    /// The statements they ran.
    pub statements: usize,
    /// How long it took.
    pub elapsed: Duration,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Applying or undoing.
    pub direction: Direction,
    /// The version table's rows before (when the run first read it).
    pub before: Vec<String>,
    /// The version table's rows after.
    pub after: Vec<String>,
    /// The revisions this process ran, in order (another process may have run others of
    /// the same plan meanwhile).
    pub revisions: Vec<RevisionRun>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.direction {
            Direction::Upgrade => "applied",
            Direction::Downgrade => "undid",
        };
        if self.revisions.is_empty() {
            return write!(f, "nothing to do: the database is at {}", show_version(&self.after));
        }
        for r in &self.revisions {
            writeln!(f, "{verb} {} {:?} ({} statement(s), {:.1?})", r.id, r.message, r.statements, r.elapsed)?;
        }
        write!(f, "the database is at {}", show_version(&self.after))
    }
}

/// Runs revisions on a database. Cheap to make: it borrows the migrations.
///
/// ```no_run
/// # use almacen::Database;
/// # use almacen_migrate::{graph::{Migrations, UpgradeTarget, DowngradeTarget}, runner::Migrator};
/// # async fn f(db: &Database) -> Result<(), Box<dyn std::error::Error>> {
/// let migrations = Migrations::from_dir("migrations".as_ref())?;
/// let migrator = Migrator::new(&migrations);
/// let report = migrator.upgrade(db, &UpgradeTarget::Head).await?;
/// println!("{report}");
/// migrator.downgrade(db, &"-1".parse::<DowngradeTarget>()?).await?;
/// println!("at {:?}", migrator.current(db).await?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Migrator<'m> {
    migrations: &'m Migrations,
    lock_timeout: Duration,
    ddl_lock_timeout: Duration,
}

impl fmt::Debug for Migrator<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migrator")
            .field("revisions", &self.migrations.len())
            .field("lock_timeout", &self.lock_timeout)
            .field("ddl_lock_timeout", &self.ddl_lock_timeout)
            .finish_non_exhaustive()
    }
}

/// A run's work, decided at its first unit and followed at each.
enum Job<'a> {
    Upgrade(&'a UpgradeTarget),
    Downgrade(&'a DowngradeTarget),
}

impl<'m> Migrator<'m> {
    /// A runner for `migrations`: waits up to 5 minutes for the migration lock and up to
    /// 60 s for a table lock a step needs.
    pub fn new(migrations: &'m Migrations) -> Self {
        Migrator { migrations, lock_timeout: Duration::from_secs(300), ddl_lock_timeout: Duration::from_secs(60) }
    }

    /// How long to wait for the migration lock (another process migrating) before failing
    /// with [`MigrateError::LockTimeout`].
    pub fn lock_timeout(mut self, d: Duration) -> Self {
        self.lock_timeout = d;
        self
    }

    /// How long a step may wait for a table lock (held by the application's transactions)
    /// before it fails, on PostgreSQL and MariaDB.
    pub fn ddl_lock_timeout(mut self, d: Duration) -> Self {
        self.ddl_lock_timeout = d;
        self
    }

    /// The version table's rows: the heads the database is at (empty: nothing applied, or
    /// no version table yet). Takes no lock.
    pub async fn current(&self, db: &Database) -> Result<Vec<String>, MigrateError> {
        if !version_table_exists(db, db.dialect()).await? {
            return Ok(Vec::new());
        }
        read_version(db).await
    }

    /// Apply revisions up to `target`, one transaction (and lock) per revision.
    pub async fn upgrade(&self, db: &Database, target: &UpgradeTarget) -> Result<Report, MigrateError> {
        self.run(db, Job::Upgrade(target)).await
    }

    /// Undo revisions down to `target`, latest first, one transaction (and lock) per revision.
    pub async fn downgrade(&self, db: &Database, target: &DowngradeTarget) -> Result<Report, MigrateError> {
        self.run(db, Job::Downgrade(target)).await
    }

    /// Write `target` into the version table without running anything (for a database
    /// whose schema was made otherwise). The report lists no revisions.
    pub async fn stamp(&self, db: &Database, target: &StampTarget) -> Result<Report, MigrateError> {
        let rows = self.migrations.stamp_rows(target)?;
        let session = Session::open(db).await?;
        let unit = match Unit::begin(&session, self).await {
            Ok(unit) => unit,
            Err(e) => {
                session.close().await;
                return Err(e);
            }
        };
        let outcome = async {
            let before = read_version(unit.tx()).await?;
            reopen_mysql_transaction(unit.tx(), db.dialect()).await?;
            write_version(unit.tx(), &before, &rows).await?;
            Ok::<_, MigrateError>(before)
        }
        .await;
        let outcome = match outcome {
            Ok(before) => unit.commit().await.map(|()| before),
            Err(e) => {
                unit.abort().await;
                Err(e)
            }
        };
        session.close().await;
        let before = outcome?;
        tracing::info!(target: "almacen_migrate", before = %show_version(&before), after = %show_version(&rows), "stamped");
        Ok(Report { direction: Direction::Upgrade, before, after: rows, revisions: Vec::new() })
    }

    /// Render every step of `plan` (revision positions, in run order) from the schema the
    /// `applied` revisions build, so that a step this dialect cannot run stops the run
    /// before anything touches the database.
    fn check_renders(&self, dialect: Dialect, applied: &[bool], plan: &[usize], direction: Direction) -> Result<(), MigrateError> {
        let mut schema = self.schema_at(applied)?;
        for &i in plan {
            self.render_revision(i, dialect, direction, &mut schema)?;
        }
        Ok(())
    }

    /// The statements of each step of revision `i` in `direction`, `schema` moved on.
    fn render_revision(
        &self,
        i: usize,
        dialect: Dialect,
        direction: Direction,
        schema: &mut Vec<Table>,
    ) -> Result<Vec<Vec<String>>, MigrateError> {
        let r = self.migrations.at(i);
        let ops = steps_of(self.migrations, i, direction);
        let mut out = Vec::with_capacity(ops.len());
        for (n, op) in ops.iter().enumerate() {
            let sql = crate::render::render(op, dialect, schema).map_err(|error| MigrateError::Render {
                revision: r.id.clone(),
                message: r.summary().to_string(),
                direction,
                step: n + 1,
                operation: describe(op),
                dialect,
                error,
            })?;
            out.push(sql);
        }
        Ok(out)
    }

    /// The schema the applied revisions build, replayed from the base.
    fn schema_at(&self, applied: &[bool]) -> Result<Vec<Table>, MigrateError> {
        let mut schema = Vec::new();
        for (i, _) in applied.iter().enumerate().filter(|(_, a)| **a) {
            let r = self.migrations.at(i);
            for (n, op) in r.upgrade.iter().enumerate() {
                ops::apply(&mut schema, op).map_err(|error| MigrateError::Replay {
                    revision: r.id.clone(),
                    step: n + 1,
                    operation: describe(op),
                    error,
                })?;
            }
        }
        Ok(schema)
    }

    async fn run(&self, db: &Database, job: Job<'_>) -> Result<Report, MigrateError> {
        let session = Session::open(db).await?;
        let outcome = self.run_in(&session, job).await;
        session.close().await;
        outcome
    }

    async fn run_in(&self, session: &Session, job: Job<'_>) -> Result<Report, MigrateError> {
        let dialect = session.db.dialect();
        let direction = match job {
            Job::Upgrade(_) => Direction::Upgrade,
            Job::Downgrade(_) => Direction::Downgrade,
        };
        let mut report = Report { direction, before: Vec::new(), after: Vec::new(), revisions: Vec::new() };
        // The revisions this run is to apply (or undo), by history position: fixed at the
        // first unit, so `+N` and `-N` count from where the database was then.
        let mut goal: Option<Vec<bool>> = None;
        let started = Instant::now();
        loop {
            let unit = Unit::begin(session, self).await?;
            match self.next_revision(&unit, dialect, &job, &mut goal, &mut report).await {
                Ok(Some(done)) => {
                    unit.commit().await?;
                    tracing::info!(
                        target: "almacen_migrate",
                        direction = %direction,
                        revision = %done.id,
                        message = %done.message,
                        statements = done.statements,
                        elapsed_ms = done.elapsed.as_millis() as u64,
                        "revision done"
                    );
                    report.revisions.push(done);
                }
                Ok(None) => {
                    unit.commit().await?;
                    break;
                }
                Err(e) => {
                    unit.abort().await;
                    return Err(e);
                }
            }
        }
        tracing::info!(
            target: "almacen_migrate",
            direction = %direction,
            revisions = report.revisions.len(),
            at = %show_version(&report.after),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "migration run finished"
        );
        Ok(report)
    }

    /// Under the lock: read where the database is, and apply (or undo) the next revision
    /// of the goal, if any is left.
    async fn next_revision(
        &self,
        unit: &Unit,
        dialect: Dialect,
        job: &Job<'_>,
        goal: &mut Option<Vec<bool>>,
        report: &mut Report,
    ) -> Result<Option<RevisionRun>, MigrateError> {
        let m = self.migrations;
        let rows = read_version(unit.tx()).await?;
        let applied = m.applied(&rows)?;
        let direction = report.direction;
        if goal.is_none() {
            let plan = match job {
                Job::Upgrade(t) => m.upgrade_plan_indexes(&rows, t)?,
                Job::Downgrade(t) => m.downgrade_plan_indexes(&rows, t)?,
            };
            self.check_renders(dialect, &applied, &plan, direction)?;
            let mut flags = vec![false; m.len()];
            plan.iter().for_each(|&i| flags[i] = true);
            tracing::info!(
                target: "almacen_migrate",
                direction = %direction,
                from = %show_version(&rows),
                revisions = plan.len(),
                "migration run starting"
            );
            *goal = Some(flags);
            report.before = rows.clone();
        }
        let goal = goal.as_ref().expect("set above");
        report.after = rows.clone();
        // The next revision: the earliest pending one when applying (its parents are
        // applied or earlier in the goal), the latest applied one when undoing.
        let next = match direction {
            Direction::Upgrade => (0..m.len()).find(|&i| goal[i] && !applied[i]),
            Direction::Downgrade => (0..m.len()).rev().find(|&i| goal[i] && applied[i]),
        };
        let Some(i) = next else { return Ok(None) };
        let rev = m.at(i);
        let blocked = match direction {
            Direction::Upgrade => m.parent_indexes(i).iter().find(|&&p| !applied[p]),
            Direction::Downgrade => m.child_indexes(i).iter().find(|&&c| applied[c]),
        };
        if let Some(&other) = blocked {
            return Err(MigrateError::Changed(format!(
                "cannot {direction} revision {}: revision {} is {} (the version table changed during the run; it is at {})",
                rev.id,
                m.at(other).id,
                if direction == Direction::Upgrade { "not applied" } else { "still applied" },
                show_version(&rows)
            )));
        }

        let mut schema = self.schema_at(&applied)?;
        let statements = self.render_revision(i, dialect, direction, &mut schema)?;
        let ops = steps_of(m, i, direction);
        let started = Instant::now();
        tracing::info!(
            target: "almacen_migrate",
            direction = %direction,
            revision = %rev.id,
            message = %rev.summary(),
            steps = ops.len(),
            "revision starting"
        );
        let mut count = 0;
        for (n, (op, sqls)) in ops.iter().zip(&statements).enumerate() {
            let step_started = Instant::now();
            tracing::debug!(target: "almacen_migrate", revision = %rev.id, step = n + 1, of = ops.len(), operation = %describe(op), "step");
            for sql in sqls {
                if let Err(error) = unit.tx().execute_statement(Statement::new(sql.as_str(), Vec::new())).await {
                    return Err(MigrateError::Step(Box::new(StepFailure {
                        revision: rev.id.clone(),
                        message: rev.summary().to_string(),
                        direction,
                        step: n + 1,
                        steps: ops.len(),
                        operation: describe(op),
                        sql: sql.clone(),
                        error,
                        dialect,
                        rolled_back: dialect != Dialect::MySql,
                        version: rows,
                    })));
                }
                count += 1;
            }
            // Progress for long runs: a step that took a while says so when it ends.
            if step_started.elapsed() >= Duration::from_secs(1) {
                tracing::info!(
                    target: "almacen_migrate",
                    revision = %rev.id,
                    step = n + 1,
                    of = ops.len(),
                    operation = %describe(op),
                    elapsed_ms = step_started.elapsed().as_millis() as u64,
                    "step done"
                );
            }
        }
        if dialect == Dialect::Sqlite {
            check_foreign_keys(unit.tx(), rev, direction).await?;
        }
        let mut after = applied;
        after[i] = direction == Direction::Upgrade;
        let new_rows = m.rows_for(&after);
        reopen_mysql_transaction(unit.tx(), dialect).await?;
        write_version(unit.tx(), &rows, &new_rows).await?;
        report.after = new_rows;
        Ok(Some(RevisionRun {
            id: rev.id.clone(),
            message: rev.summary().to_string(),
            steps: ops.len(),
            statements: count,
            elapsed: started.elapsed(),
        }))
    }
}

fn steps_of(m: &Migrations, i: usize, direction: Direction) -> &[Operation] {
    match direction {
        Direction::Upgrade => &m.at(i).upgrade,
        Direction::Downgrade => &m.at(i).downgrade,
    }
}

/// Apply every revision up to the one head, for a service at start-up: one call, under the
/// lock, so that every instance starting at once can make it.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use almacen_migrate::graph::Migrations;
/// let db = almacen::Database::connect(&std::env::var("DATABASE_URL")?).await?;
/// // const MIGRATIONS: &[(&str, &str)] = almacen_migrate::embed_migrations!("../migrations", ["…_init.toml"]);
/// # const MIGRATIONS: &[(&str, &str)] = &[];
/// let migrations = Migrations::from_embedded(MIGRATIONS)?;
/// almacen_migrate::upgrade_to_head(&db, &migrations).await?;
/// # Ok(()) }
/// ```
pub async fn upgrade_to_head(db: &Database, migrations: &Migrations) -> Result<Report, MigrateError> {
    Migrator::new(migrations).upgrade(db, &UpgradeTarget::Head).await
}

/// The database handle a run's units use. On a SQLite file, a pool of its own with one
/// connection: revisions run there with foreign key enforcement off (a table rebuild drops
/// and re-creates a table others reference, and `PRAGMA foreign_keys` cannot change inside a
/// transaction), which must not leak to the application's connections. An in-memory
/// SQLite database has one connection, shared: enforcement is turned back on after each
/// revision.
struct Session {
    db: Database,
    /// The pool was opened for this run (closed at its end).
    own: bool,
}

impl Session {
    async fn open(db: &Database) -> Result<Session, MigrateError> {
        if db.dialect() != Dialect::Sqlite || db.options().is_in_memory() {
            return Ok(Session { db: db.clone(), own: false });
        }
        let mut options = db.options().clone();
        options.max_connections = 1;
        options.min_connections = 0;
        let own = Database::connect_with(options).await.map_err(db_err("opening the migration connection"))?;
        Ok(Session { db: own, own: true })
    }

    async fn close(self) {
        if self.own {
            self.db.close().await;
        }
    }
}

/// One revision's unit of work: a transaction holding the migration lock.
struct Unit {
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
    async fn begin(session: &Session, m: &Migrator<'_>) -> Result<Unit, MigrateError> {
        let db = &session.db;
        let dialect = db.dialect();
        let deadline = Instant::now() + m.lock_timeout;
        let unit = match dialect {
            Dialect::Postgres => {
                let tx = db.begin().await.map_err(db_err("beginning the migration transaction"))?;
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
                loop {
                    // Only outside a transaction does this pragma take effect.
                    db.execute_raw("PRAGMA foreign_keys = OFF", params! {}).await.map_err(db_err("turning foreign key enforcement off"))?;
                    match db.begin().await {
                        Ok(tx) => break Unit { tx: Some(tx), mysql_locked: false, sqlite_restore: sqlite_restore.clone() },
                        Err(Error::Deadlock(_) | Error::PoolTimeout(_)) if Instant::now() < deadline => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(Error::Deadlock(_) | Error::PoolTimeout(_)) => {
                            return Err(MigrateError::LockTimeout { waited: m.lock_timeout, how: "BEGIN IMMEDIATE" });
                        }
                        Err(e) => return Err(db_err("beginning the migration transaction (BEGIN IMMEDIATE)")(e)),
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

    fn tx(&self) -> &Transaction {
        self.tx.as_ref().expect("a unit's transaction is there until it finishes")
    }

    /// Commit, then let go of the lock.
    async fn commit(mut self) -> Result<(), MigrateError> {
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
    async fn abort(mut self) {
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
async fn check_foreign_keys(tx: &Transaction, rev: &crate::revision::Revision, direction: Direction) -> Result<(), MigrateError> {
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

/// Whether the version table exists.
async fn version_table_exists(ex: &impl Executor, dialect: Dialect) -> Result<bool, MigrateError> {
    let sql = match dialect {
        Dialect::Sqlite => "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = :t",
        Dialect::Postgres => {
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = :t"
        }
        Dialect::MySql => "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = :t",
    };
    let row = ex.fetch_one_raw(sql, params! { "t" => VERSION_TABLE }).await.map_err(db_err("looking for the version table"))?;
    Ok(row.get::<i64>("n").map_err(db_err("looking for the version table"))? > 0)
}

/// Create the version table if it is missing (under the lock, so two processes do not
/// race to create it).
async fn ensure_version_table(tx: &Transaction, dialect: Dialect) -> Result<(), MigrateError> {
    if version_table_exists(tx, dialect).await? {
        return Ok(());
    }
    let sql = format!(
        "CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL, CONSTRAINT {VERSION_TABLE}_pkc PRIMARY KEY (version_num))"
    );
    tx.execute_raw(&sql, params! {}).await.map_err(db_err("creating the version table"))?;
    Ok(())
}

async fn read_version(ex: &impl Executor) -> Result<Vec<String>, MigrateError> {
    let rows = ex
        .fetch_all_raw(&format!("SELECT version_num FROM {VERSION_TABLE} ORDER BY version_num"), params! {})
        .await
        .map_err(db_err("reading the version table"))?;
    rows.iter().map(|r| r.get::<String>("version_num").map_err(db_err("reading the version table"))).collect()
}

/// MariaDB commits the transaction implicitly at each DDL statement (the version table's
/// creation, a step's): start another if so, so the version table's rows change together.
async fn reopen_mysql_transaction(tx: &Transaction, dialect: Dialect) -> Result<(), MigrateError> {
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

/// Change the version table's rows from `old` to `new`.
async fn write_version(tx: &Transaction, old: &[String], new: &[String]) -> Result<(), MigrateError> {
    for gone in old.iter().filter(|r| !new.contains(r)) {
        tx.execute_raw(&format!("DELETE FROM {VERSION_TABLE} WHERE version_num = :v"), params! { "v" => gone.as_str() })
            .await
            .map_err(db_err("updating the version table"))?;
    }
    for added in new.iter().filter(|r| !old.contains(r)) {
        tx.execute_raw(&format!("INSERT INTO {VERSION_TABLE} (version_num) VALUES (:v)"), params! { "v" => added.as_str() })
            .await
            .map_err(db_err("updating the version table"))?;
    }
    Ok(())
}
