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
                "{} commits at each DDL statement: steps 1 to {} of this revision stay done up to their last DDL statement; \
                 the version table is still at {at} (undo those steps, or finish the revision by hand and `stamp` it)",
                self.dialect,
                self.step - 1
            )
        } else {
            write!(f, "no step of this revision ran to the end; the version table is still at {at}")
        }
    }
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

pub(crate) fn db_err(doing: &'static str) -> impl FnOnce(Error) -> MigrateError {
    move |error| MigrateError::Database { doing, error }
}
