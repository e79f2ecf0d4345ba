//! What a run did: the direction, the version table before and after, the revisions run.

use std::fmt;
use std::time::Duration;

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

/// The version table's rows as a reader says them.
pub(crate) fn show_version(rows: &[String]) -> String {
    if rows.is_empty() { "base (no revision)".to_string() } else { rows.join(", ") }
}
