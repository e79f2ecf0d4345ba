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
//! revision's statements, update the version table, commit, let go of the lock. Two
//! processes upgrading at once may so take turns, each applying some of the revisions;
//! each revision is applied exactly once, and both end at the target. (A lock held across
//! the whole run would need a connection idle in a transaction between revisions, which
//! servers may cut, losing the lock unnoticed.)
//!
//! | dialect | the lock | a failing revision |
//! |---|---|---|
//! | PostgreSQL | `pg_advisory_xact_lock` in the revision's transaction, waiting at most `lock_timeout` | rolled back whole (DDL is transactional); the version table unchanged |
//! | SQLite | the write lock of the revision's `BEGIN IMMEDIATE` transaction, waited for up to `lock_timeout` (at least SQLite's 5 s busy timeout) | rolled back whole; the version table unchanged |
//! | MariaDB | `GET_LOCK` (per database and version table) on the revision's connection, waiting at most `lock_timeout` | DDL commits as it runs (and the session autocommits after the first commit): what ran before the failing statement stays, and the error says exactly up to which statement (asked of the server, `@@in_transaction`), names the revision, step, statement, operation, SQL and database error; the version table stays at the last revision applied whole |
//!
//! On SQLite a revision runs with foreign key enforcement off, on a connection of the run's
//! own (table rebuilds drop and re-create tables others reference; with enforcement on, the
//! `DROP TABLE` would cascade), and `PRAGMA foreign_key_check` must find nothing before it
//! commits.
//!
//! While a revision runs, statements that wait for a table lock give up after
//! `ddl_lock_timeout` (PostgreSQL `lock_timeout`, MariaDB `lock_wait_timeout`) rather than
//! queue behind a long transaction and hold up every query on that table.
//!
//! Two refusals need the live data, and come before the step they concern runs:
//!
//! - A step adding a NOT NULL column without a default (and not generated) to a table that
//!   has rows is refused on every dialect: PostgreSQL and SQLite would fail, MariaDB would
//!   fill `''` or `0` without a word. Checked for every such step before anything of the
//!   revision runs, and again as the step comes (raw SQL before it may have filled the table).
//! - On SQLite, a step that rebuilds a table (see [`render`](crate::render)) re-creates it
//!   as the revisions describe it. If the live table differs (a raw SQL step or a hand added
//!   a column, an index, a trigger…), the rebuild would lose that, data included: the
//!   revision is refused and rolled back, the error naming the table and each difference.
//!
//! The SQL of each step comes from [`render::render`](crate::render::render), against the
//! schema the applied revisions build (their operations replayed from the base with
//! [`ops::apply`]). Every step of the whole plan is rendered before
//! anything runs, so a step that cannot be rendered for this dialect stops the run before it
//! touches the database.

mod error;
mod report;
mod unit;
mod version;

pub use error::{MigrateError, NotNullRefusal, RebuildRefusal, StepFailure};
pub use report::{Direction, Report, RevisionRun};
pub use version::{VERSION_TABLE, create_version_table_sql};

use crate::equivalence::{Difference, table_differences};
use crate::graph::{DowngradeTarget, Migrations, StampTarget, UpgradeTarget};
use crate::ops::{self, Operation};
use crate::revision::describe;
use crate::schema::Table;
use almacen::{Database, Dialect, Executor, Statement, Transaction, params};
use error::db_err;
use report::show_version;
use std::fmt;
use std::time::{Duration, Instant};
use unit::{Session, Unit, check_foreign_keys, reopen_mysql_transaction};
use version::{read_version, version_change_sql, version_table_exists, write_version};

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

/// One revision's SQL as a run would execute it ([`Migrator::upgrade_sql`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRevision {
    /// The revision.
    pub id: String,
    /// Its message.
    pub message: String,
    /// Applying or undoing it.
    pub direction: Direction,
    /// Each step's statements, in order.
    pub steps: Vec<Vec<String>>,
    /// The statements that then change the version table.
    pub version: Vec<String>,
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

    /// The SQL `upgrade` would run from the version table's rows `current` to `target` on
    /// `dialect`, without a database (for `migrate sql`): per revision, its steps'
    /// statements and the version table's change.
    pub fn upgrade_sql(&self, dialect: Dialect, current: &[String], target: &UpgradeTarget) -> Result<Vec<PlannedRevision>, MigrateError> {
        let plan = self.migrations.upgrade_plan_indexes(current, target)?;
        self.plan_sql(dialect, current, &plan, Direction::Upgrade)
    }

    /// The SQL `downgrade` would run from `current` to `target` on `dialect`, without a
    /// database (see [`upgrade_sql`](Self::upgrade_sql)).
    pub fn downgrade_sql(
        &self,
        dialect: Dialect,
        current: &[String],
        target: &DowngradeTarget,
    ) -> Result<Vec<PlannedRevision>, MigrateError> {
        let plan = self.migrations.downgrade_plan_indexes(current, target)?;
        self.plan_sql(dialect, current, &plan, Direction::Downgrade)
    }

    /// Render `plan` as a run would: each revision against the schema the revisions
    /// applied before it build.
    fn plan_sql(
        &self,
        dialect: Dialect,
        current: &[String],
        plan: &[usize],
        direction: Direction,
    ) -> Result<Vec<PlannedRevision>, MigrateError> {
        let m = self.migrations;
        let mut applied = m.applied(current)?;
        let mut rows = current.to_vec();
        let mut out = Vec::with_capacity(plan.len());
        for &i in plan {
            let mut schema = self.schema_at(&applied)?;
            let steps = self.render_revision(i, dialect, direction, &mut schema)?;
            applied[i] = direction == Direction::Upgrade;
            let new_rows = m.rows_for(&applied);
            let r = m.at(i);
            out.push(PlannedRevision {
                id: r.id.clone(),
                message: r.summary().to_string(),
                direction,
                steps,
                version: version_change_sql(&rows, &new_rows),
            });
            rows = new_rows;
        }
        Ok(out)
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
        self.render_revision_from(i, dialect, direction, schema, None)
    }

    /// [`render_revision`](Self::render_revision), also keeping in `before_each` the
    /// schema as it is before each step.
    fn render_revision_from(
        &self,
        i: usize,
        dialect: Dialect,
        direction: Direction,
        schema: &mut Vec<Table>,
        mut before_each: Option<&mut Vec<Vec<Table>>>,
    ) -> Result<Vec<Vec<String>>, MigrateError> {
        let r = self.migrations.at(i);
        let ops = steps_of(self.migrations, i, direction);
        let mut out = Vec::with_capacity(ops.len());
        for (n, op) in ops.iter().enumerate() {
            if let Some(keep) = before_each.as_deref_mut() {
                keep.push(schema.clone());
            }
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
        if report.revisions.iter().any(|done| done.id == rev.id) {
            // This run already did it, yet the version table says otherwise: something else
            // (a step of a revision, another process) rewrote the table. Stop rather than loop.
            return Err(MigrateError::Changed(format!(
                "revision {} comes up a second time in this run: the version table ({}) does not show its first {direction}",
                rev.id,
                show_version(&rows)
            )));
        }
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
        let mut before_each = Vec::new();
        let statements = self.render_revision_from(i, dialect, direction, &mut schema, Some(&mut before_each))?;
        let ops = steps_of(m, i, direction);
        // Refusals that need the live data, before anything of the revision runs.
        for (n, op) in ops.iter().enumerate() {
            if let Some((table, column)) = not_null_without_default(op)
                && known_before_revision(ops, n, table)
                && has_rows(unit.tx(), dialect, table).await?
            {
                return Err(not_null_on_rows(rev, direction, n, op, table, column, "refused before anything of the revision ran".into()));
            }
        }
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
        // MariaDB: the last statement (step, number) whose effect a failure would leave.
        let mut kept_through: Option<(usize, usize)> = None;
        for (n, (op, sqls)) in ops.iter().zip(&statements).enumerate() {
            let step_started = Instant::now();
            tracing::debug!(target: "almacen_migrate", revision = %rev.id, step = n + 1, of = ops.len(), operation = %describe(op), "step");
            // Checked again as the step comes: earlier steps of the revision (raw SQL) may
            // have filled the table.
            if let Some((table, column)) = not_null_without_default(op)
                && has_rows(unit.tx(), dialect, table).await?
            {
                let note = match kept_through {
                    Some((s, k)) => format!(
                        "refused before this step ran; on {dialect} the revision's statements up to statement {k} of step {s} were committed as they ran and stay done"
                    ),
                    None => "refused before this step ran; nothing of the revision stays done".into(),
                };
                return Err(not_null_on_rows(rev, direction, n, op, table, column, note));
            }
            if dialect == Dialect::Sqlite
                && !matches!(op, Operation::Sql { .. })
                && let Some(table) = sqls.first().and_then(|sql| rebuilt_table(sql))
            {
                check_rebuild(unit.tx(), rev, direction, n, op, &table, &before_each[n]).await?;
            }
            for (k, sql) in sqls.iter().enumerate() {
                if let Err(error) = unit.tx().execute_statement(Statement::new(sql.as_str(), Vec::new())).await {
                    let rolled_back = dialect != Dialect::MySql;
                    return Err(MigrateError::Step(Box::new(StepFailure {
                        revision: rev.id.clone(),
                        message: rev.summary().to_string(),
                        direction,
                        step: n + 1,
                        steps: ops.len(),
                        operation: describe(op),
                        sql: sql.clone(),
                        statement: k + 1,
                        ran: sqls[..k].to_vec(),
                        kept_through: if rolled_back { None } else { kept_through },
                        error,
                        dialect,
                        rolled_back,
                        version: rows,
                    })));
                }
                if dialect == Dialect::MySql && committed_so_far(unit.tx(), sql, kept_through.is_some()).await {
                    kept_through = Some((n + 1, k + 1));
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

/// The table and column of a step that adds a NOT NULL column without a default (and not
/// generated by the database): on a table with rows, PostgreSQL and SQLite fail, and
/// MariaDB fills `''` or `0` without a word.
fn not_null_without_default(op: &Operation) -> Option<(&str, &str)> {
    match op {
        Operation::AddColumn { table, column } if !column.nullable && column.default.is_none() && !column.auto => {
            Some((table.as_str(), column.name.as_str()))
        }
        _ => None,
    }
}

/// Whether the rows `table` has before the revision are the rows it has at step `n`: no
/// earlier step makes, drops or renames a table of that name, and no raw SQL (whose effect
/// is unknown, e.g. a `DELETE`) runs before it. Otherwise only the check as the step comes
/// applies.
fn known_before_revision(ops: &[Operation], n: usize, table: &str) -> bool {
    !ops[..n].iter().any(|op| match op {
        Operation::Sql { .. } => true,
        Operation::CreateTable { table: t } => t.name == table,
        Operation::DropTable { table: t } => t == table,
        Operation::RenameTable { from, to } => from == table || to == table,
        _ => false,
    })
}

/// Whether `table` exists and has at least one row.
async fn has_rows(tx: &Transaction, dialect: Dialect, table: &str) -> Result<bool, MigrateError> {
    if crate::introspect::read_table(tx, table).await.map_err(db_err("looking for the table a column is added to"))?.is_none() {
        return Ok(false);
    }
    let sql = format!("SELECT 1 AS one FROM {} LIMIT 1", dialect.quote(table));
    let row = tx.fetch_optional_raw(&sql, params! {}).await.map_err(db_err("looking for rows in the table a column is added to"))?;
    Ok(row.is_some())
}

fn not_null_on_rows(
    rev: &crate::revision::Revision,
    direction: Direction,
    n: usize,
    op: &Operation,
    table: &str,
    column: &str,
    note: String,
) -> MigrateError {
    MigrateError::NotNullOnRows(Box::new(NotNullRefusal {
        revision: rev.id.clone(),
        message: rev.summary().to_string(),
        direction,
        step: n + 1,
        operation: describe(op),
        table: table.to_string(),
        column: column.to_string(),
        note,
    }))
}

/// The prefix of the temporary table a SQLite rebuild creates (`render`'s
/// `_almacen_new_<table>`), from which the rebuilt table is known.
const REBUILD_PREFIX: &str = "CREATE TABLE \"_almacen_new_";

/// The table a SQLite step's first statement starts rebuilding, if it does.
fn rebuilt_table(sql: &str) -> Option<String> {
    let rest = sql.strip_prefix(REBUILD_PREFIX)?;
    // The quoted name ends at the first `"` that is not doubled.
    let mut name = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
            } else {
                return Some(name);
            }
        }
        name.push(c);
    }
    None
}

/// SQLite: before step `n` rebuilds `table`, the live table must be the one the revisions
/// describe (`schema`, the replay before the step): the rebuild re-creates it from that
/// description, so a column, index, trigger or anything else added otherwise (a raw SQL
/// step, a hand) would be lost, with its data, without a word.
async fn check_rebuild(
    tx: &Transaction,
    rev: &crate::revision::Revision,
    direction: Direction,
    n: usize,
    op: &Operation,
    table: &str,
    schema: &[Table],
) -> Result<(), MigrateError> {
    let d = Dialect::Sqlite;
    let doing = "reading the table a step rebuilds";
    let mut differences = Vec::new();
    let described = schema.iter().find(|t| t.name == table);
    let live = crate::introspect::read_table(tx, table).await.map_err(db_err(doing))?;
    match (described, &live) {
        (Some(described), Some(live)) => {
            differences.extend(table_differences(d, described, live).iter().map(|diff| match diff {
                // Said from the live table's side: the revisions are the "model" here.
                Difference::ExtraColumn { column } => {
                    format!("column \"{}\" is not in the revisions (its data would be lost)", column.name)
                }
                Difference::ExtraIndex { index } => format!("index \"{}\" on {:?} is not in the revisions", index.name, index.columns),
                Difference::ExtraForeignKey { foreign_key: k } => {
                    format!("foreign key \"{}\" ({} → {}.{}) is not in the revisions", k.name, k.column, k.ref_table, k.ref_column)
                }
                other => format!("{other} (\"model\": the revisions; \"table\": the live table)"),
            }));
        }
        (Some(_), None) => differences.push("the table does not exist".into()),
        // Not in the replay: rendering the step would have failed already.
        (None, _) => {}
    }
    if live.is_some() {
        // What introspection does not show: partial indexes (the revisions have none), and
        // triggers, which `DROP TABLE` drops with the table.
        let partial = "SELECT name FROM pragma_index_list(:t) WHERE partial = 1 ORDER BY name";
        for row in tx.fetch_all_raw(partial, params! { "t" => table }).await.map_err(db_err(doing))? {
            let name = row.get::<String>("name").map_err(db_err(doing))?;
            differences.push(format!("index \"{name}\" is partial (WHERE …), which the revisions cannot describe"));
        }
        let triggers = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t COLLATE NOCASE ORDER BY name";
        for row in tx.fetch_all_raw(triggers, params! { "t" => table }).await.map_err(db_err(doing))? {
            let name = row.get::<String>("name").map_err(db_err(doing))?;
            differences.push(format!("trigger \"{name}\" is not in the revisions (the rebuild's DROP TABLE would drop it)"));
        }
    }
    if differences.is_empty() {
        return Ok(());
    }
    differences.dedup();
    Err(MigrateError::RebuildWouldLose(Box::new(RebuildRefusal {
        revision: rev.id.clone(),
        message: rev.summary().to_string(),
        direction,
        step: n + 1,
        operation: describe(op),
        table: table.to_string(),
        differences,
    })))
}

/// MariaDB, after `sql` ran: whether everything of the revision up to it is committed (a
/// DDL statement commits implicitly; after the first commit the session is in autocommit
/// mode, so every statement commits). Asked of the server (`@@in_transaction`); where that
/// is missing (MySQL), judged from the statement's first word.
async fn committed_so_far(tx: &Transaction, sql: &str, committed_before: bool) -> bool {
    match tx.fetch_one_raw("SELECT @@in_transaction AS open", params! {}).await.and_then(|r| r.get::<i64>("open")) {
        Ok(open) => open == 0,
        Err(_) => {
            let first = sql.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            committed_before || ["CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE"].contains(&first.as_str())
        }
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

#[cfg(test)]
mod tests {
    use super::rebuilt_table;

    #[test]
    fn rebuilt_table_is_read_from_the_temporary_table() {
        assert_eq!(rebuilt_table("CREATE TABLE \"_almacen_new_t\" (\n  \"id\" INTEGER\n)").as_deref(), Some("t"));
        assert_eq!(rebuilt_table("CREATE TABLE \"_almacen_new_Odd \"\"Q\"\" Table\" (x)").as_deref(), Some("Odd \"Q\" Table"));
        assert_eq!(rebuilt_table("CREATE TABLE \"t\" (x)"), None);
        assert_eq!(rebuilt_table("CREATE TABLE \"_almacen_new_unterminated"), None);
    }
}
