//! Why a run stopped: the graph or target, the lock, a step that cannot be rendered or
//! failed on the database (named down to its SQL), broken foreign keys, the version table.

use super::report::{Direction, show_version};
use crate::graph::GraphError;
use crate::ops;
use crate::render::RenderError;
use almacen::{Dialect, Error};
use std::fmt;
use std::time::Duration;

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
    /// The operation, described ([`describe`](crate::revision::describe)).
    pub operation: String,
    /// The statement that failed.
    pub sql: String,
    /// Its number among the step's statements, from 1.
    pub statement: usize,
    /// The step's statements that ran before it, in order.
    pub ran: Vec<String>,
    /// MariaDB: the last statement of this revision whose effect stays, as (step, statement
    /// number within it), both from 1; `None` when nothing of the revision stays. DDL
    /// commits the transaction as it runs, and every statement after the first commit runs
    /// in autocommit mode. Always `None` where the revision was rolled back whole.
    pub kept_through: Option<(usize, usize)>,
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
            return write!(f, "the revision was rolled back whole; the version table is still at {at}");
        }
        let stays = |n: usize| self.kept_through.is_some_and(|(s, k)| s > self.step || (s == self.step && k >= n));
        write!(f, "{} commits at each DDL statement, so a failure undoes only what ran since the last commit. ", self.dialect)?;
        match self.kept_through {
            None => write!(f, "Nothing of this revision stays done. ")?,
            Some((s, k)) => write!(f, "Everything of this revision up to statement {k} of step {s} stays done. ")?,
        }
        if self.ran.is_empty() {
            write!(f, "Step {} failed at its first statement, so nothing of it ran; ", self.step)?;
        } else {
            write!(f, "Of step {}, statement(s) 1 to {} ran before statement {} failed: ", self.step, self.ran.len(), self.statement)?;
            for (n, sql) in self.ran.iter().enumerate() {
                let fate = if stays(n + 1) { "stays done" } else { "rolled back" };
                write!(f, "[{}] {sql} ({fate}); ", n + 1)?;
            }
        }
        write!(f, "the version table is still at {at}")?;
        if self.kept_through.is_some() {
            write!(f, " (undo what stays done, or finish the revision by hand and `stamp` it)")?;
        }
        Ok(())
    }
}

/// SQLite: a step rebuilds a table (create the new table, copy the rows, drop the old
/// one), and the live table differs from the one the revisions describe (a raw SQL step or
/// a hand changed it). The rebuild re-creates the table as described, which would lose what
/// differs, so the revision was refused and rolled back.
#[derive(Debug, thiserror::Error)]
#[error(
    "revision {revision} ({message:?}), {direction} step {step} ({operation}), rebuilds table \"{table}\" on SQLite, \
     but the live table differs from the one the revisions describe: {}. The rebuild re-creates the table as the \
     revisions describe it and would lose these, so the revision was rolled back and nothing of it applied. \
     Describe the change that made them in a revision with portable operations (add_column, create_index, \
     alter_column…) instead of raw SQL, or undo it, then run again",
    .differences.join("; ")
)]
pub struct RebuildRefusal {
    /// The revision.
    pub revision: String,
    /// Its message.
    pub message: String,
    /// Applying or undoing it.
    pub direction: Direction,
    /// The step's number, from 1.
    pub step: usize,
    /// The operation, described.
    pub operation: String,
    /// The table.
    pub table: String,
    /// Each way the live table differs from the described one.
    pub differences: Vec<String>,
}

/// A step adds a NOT NULL column without a default to a table that has rows: PostgreSQL and
/// SQLite would fail, MariaDB would silently fill `''` or `0`. Refused before the step runs.
#[derive(Debug, thiserror::Error)]
#[error(
    "revision {revision} ({message:?}), {direction} step {step} ({operation}), adds column \"{column}\" NOT NULL \
     without a default to table \"{table}\", which has rows: {note}. Give the column a server default, or add it \
     nullable, fill it, then make it NOT NULL (alter_column)"
)]
pub struct NotNullRefusal {
    /// The revision.
    pub revision: String,
    /// Its message.
    pub message: String,
    /// Applying or undoing it.
    pub direction: Direction,
    /// The step's number, from 1.
    pub step: usize,
    /// The operation, described.
    pub operation: String,
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
    /// What of the revision ran: nothing (refused before it ran), or on MariaDB the
    /// statements before this step that were committed as they ran.
    pub note: String,
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
    /// SQLite: a step rebuilds a table whose live form differs from the one the revisions
    /// describe; refused, the revision rolled back.
    #[error("{0}")]
    RebuildWouldLose(Box<RebuildRefusal>),
    /// A step adds a NOT NULL column without a default to a table that has rows; refused
    /// before the step runs.
    #[error("{0}")]
    NotNullOnRows(Box<NotNullRefusal>),
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

pub(crate) fn db_err(doing: &'static str) -> impl FnOnce(Error) -> MigrateError {
    move |error| MigrateError::Database { doing, error }
}
