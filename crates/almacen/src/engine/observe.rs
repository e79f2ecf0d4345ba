//! Watching the statements a database sends: [`StatementCounter`], for tests that assert
//! how many statements an operation takes (no N+1) and for a service's own diagnostics.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The counters attached to one database. Free when none is attached: one atomic load per
/// statement.
#[derive(Debug, Default, Clone)]
pub(crate) struct Observers(Arc<ObserversInner>);

#[derive(Debug, Default)]
struct ObserversInner {
    /// Every statement sent since the database was opened (for metrics: no text kept).
    sent: AtomicU64,
    active: AtomicUsize,
    counters: Mutex<Vec<Weak<CounterState>>>,
}

#[derive(Debug, Default)]
struct CounterState {
    statements: Mutex<Vec<Arc<str>>>,
}

impl Observers {
    /// Called for every statement sent.
    #[inline]
    pub(crate) fn statement(&self, sql: &str) {
        self.0.sent.fetch_add(1, Ordering::Relaxed);
        if self.0.active.load(Ordering::Relaxed) > 0 {
            self.record(sql);
        }
    }

    #[cold]
    fn record(&self, sql: &str) {
        let sql: Arc<str> = sql.into();
        let counters = self.0.counters.lock().unwrap_or_else(|p| p.into_inner());
        for state in counters.iter().filter_map(Weak::upgrade) {
            state.statements.lock().unwrap_or_else(|p| p.into_inner()).push(sql.clone());
        }
    }

    /// Statements sent since the database was opened.
    pub(crate) fn sent(&self) -> u64 {
        self.0.sent.load(Ordering::Relaxed)
    }

    pub(crate) fn counter(&self) -> StatementCounter {
        let state = Arc::new(CounterState::default());
        self.0.counters.lock().unwrap_or_else(|p| p.into_inner()).push(Arc::downgrade(&state));
        self.0.active.fetch_add(1, Ordering::Relaxed);
        StatementCounter { state, observers: self.clone() }
    }
}

/// Counts the statements a [`Database`](crate::Database) — and its transactions — sends
/// from its creation until it is dropped: queries, inserts, updates, raw SQL, streams, and
/// savepoint statements; `BEGIN`, `COMMIT` and `ROLLBACK` of a transaction are not counted.
/// A statement sent twice (SQLite re-runs a `WITH` that writes on its writer) counts twice.
/// Several counters may be alive at once; each sees every statement.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
/// use almacen::prelude::*;
/// let db = Database::connect("sqlite::memory:").await?;
/// let counter = db.statement_counter();
/// db.fetch_all_raw("SELECT 1", params! {}).await?;
/// assert_eq!(counter.count(), 1);
/// assert_eq!(counter.statements(), ["SELECT 1"]);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct StatementCounter {
    state: Arc<CounterState>,
    observers: Observers,
}

impl StatementCounter {
    /// Statements sent so far.
    pub fn count(&self) -> usize {
        self.state.statements.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The SQL of each statement sent so far, in order.
    pub fn statements(&self) -> Vec<String> {
        self.state.statements.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|s| s.to_string()).collect()
    }

    /// Start counting from zero again.
    pub fn reset(&self) {
        self.state.statements.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl Drop for StatementCounter {
    fn drop(&mut self) {
        self.observers.0.active.fetch_sub(1, Ordering::Relaxed);
        let mut counters = self.observers.0.counters.lock().unwrap_or_else(|p| p.into_inner());
        counters.retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), Arc::as_ptr(&self.state)));
    }
}
