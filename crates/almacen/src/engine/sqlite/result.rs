//! The result buffer of a SQLite connection: the rows of its last statement, handed to a
//! typed fetch's sink in place or kept as a set of rows, and reused by the next statement
//! when no row of it is still held.

use crate::data::error::Result;
use crate::data::row::DbRow;
use crate::data::sqlite::{Columns, LiteResult, each_row, first_row, rows_of};
use crate::engine::executor::RowSink;
use std::sync::Arc;

/// The rows of one result, shared, for callers that keep row objects.
#[derive(Debug, Clone)]
pub(crate) struct RowSet(Arc<LiteResult>);

impl RowSet {
    pub(crate) fn rows(&self) -> Vec<DbRow> {
        rows_of(&self.0)
    }

    pub(crate) fn first(&self) -> Option<DbRow> {
        (!self.0.is_empty()).then(|| first_row(self.0.clone()))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Hand every row (or only the first) to `sink`; the number of rows handed.
    pub(crate) fn feed(self, sink: &mut dyn RowSink, first: bool) -> Result<usize> {
        feed(self.0, sink, first).0
    }
}

/// Hand the rows of `set` (or only the first) to `sink`, decoded in place. The set comes
/// back for reuse.
fn feed(set: Arc<LiteResult>, sink: &mut dyn RowSink, first: bool) -> (Result<usize>, Arc<LiteResult>) {
    let count = set.len().min(if first { 1 } else { usize::MAX });
    sink.expect(count);
    let (out, set) = each_row(set, count, |row| sink.row(row));
    (out.map(|()| count), set)
}

/// The largest result (cells, bytes of text) a connection keeps to reuse.
const REUSE_CELLS: usize = 1024;
const REUSE_BYTES: usize = 16 * 1024;

/// Small enough to keep for the next statement.
fn reusable(r: &LiteResult) -> bool {
    let (cells, bytes) = r.capacity();
    cells <= REUSE_CELLS && bytes <= REUSE_BYTES
}

/// The result a connection fills for its next statement: the previous one again when every
/// row of it has been dropped (a lookup then allocates nothing for its result).
#[derive(Debug, Default)]
pub(crate) struct ResultBuffer(Option<Arc<LiteResult>>);

impl ResultBuffer {
    /// An empty result with these columns, to fill.
    pub(crate) fn start(&mut self, columns: &Columns) -> &mut LiteResult {
        let reuse = self.0.as_mut().and_then(Arc::get_mut).is_some_and(|r| reusable(r));
        if !reuse {
            self.0 = Some(Arc::new(LiteResult::new(columns.clone())));
        }
        let r = Arc::get_mut(self.0.as_mut().expect("set above")).expect("not shared");
        r.reset(columns);
        r
    }

    /// Hand the rows filled since [`start`](Self::start) (or only the first) to `sink`,
    /// decoded in place; the buffer stays for the next statement.
    pub(crate) fn feed(&mut self, sink: &mut dyn RowSink, first: bool) -> Result<usize> {
        let Some(set) = self.0.take() else { return Ok(0) };
        let (out, set) = feed(set, sink, first);
        if reusable(&set) {
            self.0 = Some(set);
        }
        out
    }

    /// The result filled since [`start`](Self::start), as a set of rows.
    pub(crate) fn set(&mut self) -> Option<RowSet> {
        self.shared().map(RowSet)
    }

    /// The first row of the result filled since [`start`](Self::start), if any.
    pub(crate) fn first_row(&mut self) -> Option<DbRow> {
        self.shared().filter(|set| !set.is_empty()).map(first_row)
    }

    /// The result to hand out; a large one is not kept.
    fn shared(&mut self) -> Option<Arc<LiteResult>> {
        match &self.0 {
            Some(set) if reusable(set) => Some(set.clone()),
            _ => self.0.take(),
        }
    }
}
