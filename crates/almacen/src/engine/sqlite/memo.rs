//! Rows of deterministic single-row reads (the counts of typed queries) kept on a
//! `query_only` reader, so that a list page's total, asked again and again while nothing
//! changes, costs one `PRAGMA data_version` instead of a scan.
//!
//! Why a kept row is never stale: `PRAGMA data_version` on a connection changes whenever
//! another connection, in this process or another, committed to the database since its
//! last read (a reader commits nothing itself). The version is read *before* the statement
//! runs, and the row is kept under it: if a commit lands between the two, the statement may
//! see it, but the version read next will differ from the kept one, so the row is not
//! handed again. A hit means no commit since the version was read: the kept row is what
//! the statement would return now. Only statements almacen wrote from typed parts are
//! marked (`Statement::memoized`): their functions are deterministic, and they read the
//! main database, the only one a reader sees.

use crate::data::row::DbRow;
use crate::data::sqlite::LiteRow;
use std::collections::VecDeque;

/// Rows kept per connection; the oldest goes first.
const ENTRIES: usize = 32;

/// Statements with more values than this are not kept (a key that large costs more to
/// compare than it saves).
const MAX_VALUES: usize = 32;

/// `data_version` is a 32-bit counter that moves at most once per statement run on the
/// connection: a row kept for fewer runs than this cannot meet its version again after the
/// counter came round.
const MAX_AGE_RUNS: u64 = 1 << 31;

#[derive(Debug, Default)]
pub(crate) struct Memo {
    entries: VecDeque<Entry>,
}

#[derive(Debug)]
struct Entry {
    sql: Box<str>,
    /// The values, written out (`Debug`): exact for every kind, `-0.0` and `0.0` apart.
    values: String,
    version: i64,
    /// The connection's run count when kept.
    at_run: u64,
    row: LiteRow,
}

/// The key of a statement's values, or `None` when it is not worth keeping.
pub(crate) fn values_key(values: &[sea_query::Value]) -> Option<String> {
    (values.len() <= MAX_VALUES).then(|| format!("{values:?}"))
}

impl Memo {
    /// The row kept for `sql` with these values under `version`, if any.
    pub(crate) fn get(&self, sql: &str, values: &str, version: i64, run: u64) -> Option<DbRow> {
        self.entries
            .iter()
            .find(|e| e.version == version && run.saturating_sub(e.at_run) < MAX_AGE_RUNS && *e.sql == *sql && e.values == values)
            .map(|e| DbRow::Sqlite(e.row.clone()))
    }

    /// Keep `row` for `sql` with these values under `version`, replacing what was kept
    /// for them.
    pub(crate) fn put(&mut self, sql: &str, values: String, version: i64, run: u64, row: LiteRow) {
        self.entries.retain(|e| !(*e.sql == *sql && e.values == values));
        if self.entries.len() >= ENTRIES {
            self.entries.pop_front();
        }
        self.entries.push_back(Entry { sql: sql.into(), values, version, at_run: run, row });
    }
}
