//! Running statements: one executor trait for the pool and for transactions, with
//! tracing spans, slow-statement warnings and statement timeouts on every dialect.

use crate::data::dialect::Dialect;
use crate::data::error::{Error, Result};
use crate::data::model::Model;
use crate::data::row::{DbRow, Row};
use crate::engine::database::Database;
use crate::engine::raw::{Params, bind_named};
use crate::engine::statement::{ExecResult, Sql, Statement};
use futures::stream::BoxStream;
use std::future::Future;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Anything that runs statements: a [`Database`](crate::Database) (each statement on a pooled
/// connection) or a [`Transaction`](crate::Transaction). Query code takes `&impl Executor`
/// and runs the same inside or outside a transaction.
///
/// ```no_run
/// use almacen::prelude::*;
/// async fn count_rows(db: &impl Executor) -> almacen::Result<i64> {
///     let row = db.fetch_one_raw("SELECT COUNT(*) AS n FROM items", params! {}).await?;
///     row.get::<i64>("n")
/// }
/// ```
pub trait Executor: Send + Sync {
    /// The dialect of the database behind this executor.
    fn dialect(&self) -> Dialect;

    /// Run a statement and collect every row.
    fn fetch_rows(&self, stmt: Statement) -> impl Future<Output = Result<Vec<DbRow>>> + Send;

    /// Run a statement and return its first row, if any.
    fn fetch_row(&self, stmt: Statement) -> impl Future<Output = Result<Option<DbRow>>> + Send;

    /// Run a statement that returns no rows.
    fn execute_statement(&self, stmt: Statement) -> impl Future<Output = Result<ExecResult>> + Send;

    /// Run a statement and stream its rows.
    fn stream_rows(&self, stmt: Statement) -> BoxStream<'_, Result<DbRow>>;

    /// The pool behind this executor when it is not a transaction (so multi-statement
    /// operations can open one of their own).
    fn as_database(&self) -> Option<&Database> {
        None
    }

    /// The transaction behind this executor, if it is one (so multi-statement operations
    /// can run in a savepoint of it, all or none).
    #[doc(hidden)]
    fn as_transaction(&self) -> Option<&crate::engine::transaction::Transaction> {
        None
    }

    /// Run a statement and decode every row with `decode`. The same as decoding what
    /// [`fetch_rows`](Self::fetch_rows) returns; `Database` and `Transaction` do it on
    /// SQLite without building a row object per row.
    #[doc(hidden)]
    fn fetch_decoded<T: Send, F: FnMut(&DbRow) -> Result<T> + Send>(
        &self,
        stmt: Statement,
        decode: F,
    ) -> impl Future<Output = Result<Vec<T>>> + Send {
        async move { self.fetch_rows(stmt).await?.iter().map(decode).collect() }
    }

    /// Run a statement and decode its first row, if any, with `decode`. The same as decoding
    /// what [`fetch_row`](Self::fetch_row) returns; `Database` and `Transaction` do it on
    /// SQLite without a row object.
    #[doc(hidden)]
    fn fetch_first_decoded<T: Send, F: FnOnce(&DbRow) -> Result<T> + Send>(
        &self,
        stmt: Statement,
        decode: F,
    ) -> impl Future<Output = Result<Option<T>>> + Send {
        async move { self.fetch_row(stmt).await?.as_ref().map(decode).transpose() }
    }

    /// Run a statement and decode every row as model `M` (on SQLite, in place).
    #[doc(hidden)]
    fn fetch_models<M: Model>(&self, stmt: Statement) -> impl Future<Output = Result<Vec<M>>> + Send {
        self.fetch_decoded(stmt, |row| M::decode(row, 0))
    }

    /// Run a statement and decode its first row, if any, as model `M` (on SQLite, in place).
    #[doc(hidden)]
    fn fetch_model<M: Model>(&self, stmt: Statement) -> impl Future<Output = Result<Option<M>>> + Send {
        self.fetch_first_decoded(stmt, |row| M::decode(row, 0))
    }

    /// Run raw SQL with `:name` parameters and return every row as a column→value map.
    ///
    /// Parameters are found with the lexical rules of the database's dialect: nothing inside
    /// its comments, strings or quoted identifiers is a parameter. On MySQL/MariaDB that covers
    /// `#` comments, `-- ` comments (`--` then whitespace or a control character), `"…"` strings
    /// and backslash escapes (`'it\'s'`); on PostgreSQL nested `/* */` comments, `E'…'` strings
    /// and `$$…$$`; on SQLite `[…]` identifiers. Where a dialect has no such construct the bytes
    /// are ordinary SQL (`#` is xor on PostgreSQL, `[:i]` a subscript). Names may be Unicode
    /// (`:número`), `\:` writes a literal colon (`@v \:= :n`), and on PostgreSQL a name used
    /// twice is bound once (`$1 + $1`).
    /// The same applies to the other `*_raw` methods and [`Statement::named`].
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let rows = db
    ///     .fetch_all_raw("SELECT id FROM items WHERE stock < :min AND id IN (:ids)",
    ///                    params! { "min" => 5, "ids" => vec![1, 2, 3] })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    fn fetch_all_raw(&self, sql: &str, params: Params) -> impl Future<Output = Result<Vec<Row>>> + Send {
        let stmt = bind_named(sql, params, self.dialect());
        async move {
            let rows = self.fetch_rows(stmt?).await?;
            rows.iter().map(Row::from_db_row).collect()
        }
    }

    /// Run raw SQL and return its only row; [`Error::NotFound`] when there is none.
    fn fetch_one_raw(&self, sql: &str, params: Params) -> impl Future<Output = Result<Row>> + Send {
        let fut = self.fetch_optional_raw(sql, params);
        async move { fut.await?.ok_or(Error::NotFound) }
    }

    /// Run raw SQL and return its first row, if any.
    fn fetch_optional_raw(&self, sql: &str, params: Params) -> impl Future<Output = Result<Option<Row>>> + Send {
        let stmt = bind_named(sql, params, self.dialect());
        async move {
            let row = self.fetch_row(stmt?).await?;
            row.as_ref().map(Row::from_db_row).transpose()
        }
    }

    /// Run raw SQL that returns no rows; returns the number of rows affected.
    fn execute_raw(&self, sql: &str, params: Params) -> impl Future<Output = Result<u64>> + Send {
        let stmt = bind_named(sql, params, self.dialect());
        async move { Ok(self.execute_statement(stmt?).await?.rows_affected) }
    }
}

/// Logging and timeout settings every run needs, copied from the connect options.
#[derive(Debug, Clone)]
pub(crate) struct RunSettings {
    pub dialect: Dialect,
    pub statement_timeout: Option<Duration>,
    pub slow_statement: Option<Duration>,
    pub echo: bool,
    pub log_parameters: bool,
    /// The pool's acquire timeout, named by a server's pool timeout error.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub acquire_timeout: Duration,
    /// Statement counters attached to the database.
    pub observers: crate::engine::observe::Observers,
}

impl RunSettings {
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub(crate) fn err(&self, e: sqlx::Error) -> Error {
        Error::from_sqlx(e, self.dialect, self.acquire_timeout)
    }

    /// The timeout that applies to `stmt`, and whether it differs from the session default.
    pub(crate) fn timeout_for(&self, timeout: Option<Option<Duration>>) -> (Option<Duration>, bool) {
        match timeout {
            None => (self.statement_timeout, false),
            Some(t) => (t, t != self.statement_timeout),
        }
    }

    /// Run `stmt` on `conn` inside a tracing span, then log it (slow ones as warnings).
    pub(crate) async fn run(&self, conn: ConnRef<'_, '_>, stmt: Statement, fetch: Fetch<'_>, in_tx: bool) -> Result<Fetched> {
        self.observers.statement(&stmt.sql);
        if !self.logs() {
            // Nothing listens: no span, no clock, no log line (on SQLite they would cost a
            // lookup a third of its time).
            return match conn {
                #[cfg(feature = "sqlite")]
                ConnRef::Sqlite(guard) => guard.run(self, stmt, fetch, in_tx).await,
                #[cfg(any(feature = "postgres", feature = "mysql"))]
                server => Box::pin(server.run(self, stmt, fetch, in_tx)).await,
            };
        }
        let log = StatementLog::start(self, &stmt);
        let out = match conn {
            // SQLite runs in place, where every move of a future between the layers is a
            // copy of it: its future stays small, and the servers' (kilobytes) are boxed.
            #[cfg(feature = "sqlite")]
            ConnRef::Sqlite(guard) => guard.run(self, stmt, fetch, in_tx).instrument(log.span.clone()).await,
            #[cfg(any(feature = "postgres", feature = "mysql"))]
            server => Box::pin(server.run(self, stmt, fetch, in_tx)).instrument(log.span.clone()).await,
        };
        log.finish(self, out.is_ok());
        out
    }

    /// Whether statements are logged or traced.
    pub(crate) fn logs(&self) -> bool {
        self.slow_statement.is_some()
            || self.echo
            || tracing::enabled!(target: "almacen::sql", tracing::Level::DEBUG)
            || tracing::enabled!(target: "almacen::executor", tracing::Level::DEBUG)
    }

    /// Wrap a row stream so it is logged like every other statement when it ends.
    pub(crate) fn logged_stream<'a>(&'a self, stmt: &Statement, inner: BoxStream<'a, Result<DbRow>>) -> BoxStream<'a, Result<DbRow>> {
        self.observers.statement(&stmt.sql);
        Box::pin(LoggedStream { inner, settings: self, log: Some(StatementLog::start(self, stmt)), ok: true })
    }
}

/// The span and start time of one statement, and the log line written when it ends.
struct StatementLog {
    sql: Sql,
    params: Option<String>,
    span: tracing::Span,
    /// `None` when nothing would be logged: the clock is not read.
    start: Option<Instant>,
}

impl StatementLog {
    fn start(settings: &RunSettings, stmt: &Statement) -> Self {
        let sql = stmt.sql.clone();
        let timed = settings.slow_statement.is_some() || settings.echo || tracing::enabled!(target: "almacen::sql", tracing::Level::DEBUG);
        StatementLog {
            params: settings.log_parameters.then(|| format!("{:?}", stmt.values)),
            // Only when a subscriber listens: with tracing's `log` bridge on, even a disabled
            // span records its fields, which costs a lookup of SQLite its whole budget.
            span: if tracing::enabled!(target: "almacen::executor", tracing::Level::DEBUG) {
                tracing::debug_span!("almacen.query", db.system = settings.dialect.name(), db.statement = %sql)
            } else {
                tracing::Span::none()
            },
            sql,
            start: timed.then(Instant::now),
        }
    }

    fn finish(&self, settings: &RunSettings, ok: bool) {
        let Some(start) = self.start else { return };
        let sql = &self.sql;
        let params = self.params.as_deref().unwrap_or("<hidden>");
        let elapsed = start.elapsed();
        let elapsed_ms = elapsed.as_secs_f64() * 1e3;
        match settings.slow_statement {
            Some(limit) if elapsed >= limit => {
                let threshold_ms = limit.as_secs_f64() * 1e3;
                tracing::warn!(target: "almacen::sql", %sql, params, elapsed_ms, threshold_ms, ok, "slow statement");
            }
            _ if settings.echo => tracing::info!(target: "almacen::sql", %sql, params, elapsed_ms, ok, "statement"),
            _ => tracing::debug!(target: "almacen::sql", %sql, params, elapsed_ms, ok, "statement"),
        }
    }
}

/// A row stream that logs its statement when it ends (or is dropped early).
struct LoggedStream<'a> {
    inner: BoxStream<'a, Result<DbRow>>,
    settings: &'a RunSettings,
    log: Option<StatementLog>,
    ok: bool,
}

impl futures::Stream for LoggedStream<'_> {
    type Item = Result<DbRow>;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        let this = &mut *self;
        let _entered = this.log.as_ref().map(|l| l.span.clone().entered());
        let polled = this.inner.as_mut().poll_next(cx);
        match &polled {
            std::task::Poll::Ready(Some(Err(_))) => this.ok = false,
            std::task::Poll::Ready(None) => {
                if let Some(log) = this.log.take() {
                    log.finish(this.settings, this.ok);
                }
            }
            _ => {}
        }
        polled
    }
}

impl Drop for LoggedStream<'_> {
    fn drop(&mut self) {
        if let Some(log) = self.log.take() {
            log.finish(self.settings, self.ok);
        }
    }
}

/// What to do with a statement's result.
pub(crate) enum Fetch<'s> {
    All,
    Optional,
    Execute,
    /// Decode every row (or only the first) into `sink` as soon as it can be read; the
    /// result is `Fetched::Done` with the number of rows decoded.
    Decode {
        sink: &'s mut dyn RowSink,
        first: bool,
    },
}

impl Fetch<'_> {
    /// The same fetch, borrowed again (to run a statement a second time).
    #[cfg_attr(not(feature = "sqlite"), expect(dead_code, reason = "only the SQLite driver runs a statement again"))]
    pub(crate) fn reborrow(&mut self) -> Fetch<'_> {
        match self {
            Fetch::All => Fetch::All,
            Fetch::Optional => Fetch::Optional,
            Fetch::Execute => Fetch::Execute,
            Fetch::Decode { sink, first } => Fetch::Decode { sink: &mut **sink, first: *first },
        }
    }

    /// Where the sink, if any, stands ([`RowSink::mark`]).
    #[cfg_attr(not(feature = "sqlite"), expect(dead_code, reason = "only the SQLite driver runs a statement again"))]
    pub(crate) fn mark(&self) -> usize {
        match self {
            Fetch::Decode { sink, .. } => sink.mark(),
            _ => 0,
        }
    }

    /// Take the sink, if any, back to `mark` ([`RowSink::rewind`]).
    #[cfg_attr(not(feature = "sqlite"), expect(dead_code, reason = "only the SQLite driver runs a statement again"))]
    pub(crate) fn rewind(&mut self, mark: usize) {
        if let Fetch::Decode { sink, .. } = self {
            sink.rewind(mark);
        }
    }

    /// The rows this fetch needs, without the sink: for a statement run on another thread,
    /// whose rows are handed to the sink when they come back ([`Fetched::feed`]).
    pub(crate) fn detached(&self) -> Fetch<'static> {
        match self {
            Fetch::All | Fetch::Decode { first: false, .. } => Fetch::All,
            Fetch::Optional | Fetch::Decode { first: true, .. } => Fetch::Optional,
            Fetch::Execute => Fetch::Execute,
        }
    }

    /// Hand `out`, fetched as [`detached`](Self::detached) says, to this fetch's sink, if any.
    pub(crate) fn finish(self, out: Fetched) -> Result<Fetched> {
        match self {
            Fetch::Decode { sink, first } => {
                let rows = out.feed(sink, first)?;
                Ok(Fetched::Done(ExecResult { rows_affected: rows as u64, last_insert_id: None }))
            }
            _ => Ok(out),
        }
    }
}

/// Where a typed fetch puts its rows: each is decoded while the statement's result is
/// still in the connection's buffer, without a row object of its own.
#[cfg_attr(
    not(feature = "sqlite"),
    expect(dead_code, reason = "reading rows in place and running a statement again are the SQLite driver's")
)]
pub(crate) trait RowSink: Send {
    /// How many rows are coming, before the first.
    fn expect(&mut self, rows: usize) {
        let _ = rows;
    }
    /// One row.
    fn row(&mut self, row: &DbRow) -> Result<()>;
    /// Whether this sink takes SQLite's rows in place ([`live_row`](Self::live_row)), so
    /// they are not copied into row objects.
    fn in_place(&self) -> bool {
        false
    }
    /// SQLite's current row, read in place (called only when [`in_place`](Self::in_place)).
    fn live_row(&mut self, row: &crate::data::sqlite::LiveRow<'_>) -> Result<()> {
        let _ = row;
        Err(Error::Unsupported("this sink takes row objects only".into()))
    }
    /// How many rows the sink holds, to [`rewind`](Self::rewind) to.
    fn mark(&self) -> usize;
    /// Forget the rows taken since [`mark`](Self::mark) said `mark`: a statement stopped
    /// in place to run again on a blocking thread hands its rows again.
    fn rewind(&mut self, mark: usize);
    /// This sink, rows so far included, as a value that can go to a blocking thread and
    /// decode SQLite's rows in place there ([`put_back`](Self::put_back) takes it back); `None`
    /// when it cannot move, and then the rows are copied out for it.
    fn take_owned(&mut self) -> Option<Box<dyn OwnedSink>> {
        None
    }
    /// Take back what [`take_owned`](Self::take_owned) gave, with the rows it decoded.
    fn put_back(&mut self, owned: Box<dyn OwnedSink>) {
        let _ = owned;
    }
}

/// A sink that owns everything it holds (see [`RowSink::take_owned`]).
pub(crate) trait OwnedSink: RowSink + std::any::Any {}

impl<T: RowSink + std::any::Any> OwnedSink for T {}

/// A sink that decodes every row as model `M`, SQLite's in place when `M` can.
pub(crate) struct Models<M>(pub Vec<M>);

impl<M: Model> RowSink for Models<M> {
    fn mark(&self) -> usize {
        self.0.len()
    }
    fn rewind(&mut self, mark: usize) {
        self.0.truncate(mark);
    }
    fn expect(&mut self, rows: usize) {
        self.0.reserve_exact(rows);
    }
    fn row(&mut self, row: &DbRow) -> Result<()> {
        self.0.push(M::decode(row, 0)?);
        Ok(())
    }
    fn in_place(&self) -> bool {
        M::SQLITE_IN_PLACE
    }
    fn live_row(&mut self, row: &crate::data::sqlite::LiveRow<'_>) -> Result<()> {
        self.0.push(M::decode_sqlite(row, 0)?);
        Ok(())
    }
    fn take_owned(&mut self) -> Option<Box<dyn OwnedSink>> {
        M::SQLITE_IN_PLACE.then(|| Box::new(Models(std::mem::take(&mut self.0))) as Box<dyn OwnedSink>)
    }
    fn put_back(&mut self, owned: Box<dyn OwnedSink>) {
        if let Ok(owned) = (owned as Box<dyn std::any::Any>).downcast::<Self>() {
            self.0 = owned.0;
        }
    }
}

/// A sink that decodes the first row as model `M`, SQLite's in place when `M` can.
pub(crate) struct FirstModel<M>(pub Option<M>);

impl<M: Model> RowSink for FirstModel<M> {
    fn mark(&self) -> usize {
        self.0.is_some() as usize
    }
    fn rewind(&mut self, mark: usize) {
        if mark == 0 {
            self.0 = None;
        }
    }
    fn row(&mut self, row: &DbRow) -> Result<()> {
        if self.0.is_none() {
            self.0 = Some(M::decode(row, 0)?);
        }
        Ok(())
    }
    fn in_place(&self) -> bool {
        M::SQLITE_IN_PLACE
    }
    fn live_row(&mut self, row: &crate::data::sqlite::LiveRow<'_>) -> Result<()> {
        if self.0.is_none() {
            self.0 = Some(M::decode_sqlite(row, 0)?);
        }
        Ok(())
    }
    fn take_owned(&mut self) -> Option<Box<dyn OwnedSink>> {
        M::SQLITE_IN_PLACE.then(|| Box::new(FirstModel(self.0.take())) as Box<dyn OwnedSink>)
    }
    fn put_back(&mut self, owned: Box<dyn OwnedSink>) {
        if let Ok(owned) = (owned as Box<dyn std::any::Any>).downcast::<Self>() {
            self.0 = owned.0;
        }
    }
}

/// A sink that decodes every row into a list.
pub(crate) struct Collect<T, F> {
    pub out: Vec<T>,
    pub decode: F,
}

impl<T: Send, F: FnMut(&DbRow) -> Result<T> + Send> RowSink for Collect<T, F> {
    fn mark(&self) -> usize {
        self.out.len()
    }
    fn rewind(&mut self, mark: usize) {
        self.out.truncate(mark);
    }
    fn expect(&mut self, rows: usize) {
        self.out.reserve_exact(rows);
    }
    fn row(&mut self, row: &DbRow) -> Result<()> {
        self.out.push((self.decode)(row)?);
        Ok(())
    }
}

/// A sink that decodes the first row only.
pub(crate) struct First<T, F> {
    pub out: Option<T>,
    pub decode: Option<F>,
}

impl<T: Send, F: FnOnce(&DbRow) -> Result<T> + Send> RowSink for First<T, F> {
    fn mark(&self) -> usize {
        self.out.is_some() as usize
    }
    fn rewind(&mut self, mark: usize) {
        if mark == 0 {
            self.out = None;
        }
    }
    fn row(&mut self, row: &DbRow) -> Result<()> {
        if let Some(decode) = self.decode.take() {
            self.out = Some(decode(row)?);
        }
        Ok(())
    }
}

/// Running one statement with a [`Fetch`]: what `Database` and `Transaction` each do their
/// own way. The typed fetches below are written once on top of it.
pub(crate) trait Runs: Sync {
    fn run(&self, stmt: Statement, fetch: Fetch<'_>) -> impl Future<Output = Result<Fetched>> + Send;
}

/// The typed fetches of an `Executor` that [`Runs`] statements, in its `impl Executor`.
macro_rules! typed_fetches {
    () => {
        fn fetch_decoded<T: Send, F: FnMut(&crate::data::row::DbRow) -> crate::data::error::Result<T> + Send>(
            &self,
            stmt: crate::engine::statement::Statement,
            decode: F,
        ) -> impl std::future::Future<Output = crate::data::error::Result<Vec<T>>> + Send {
            crate::engine::executor::decoded(self, stmt, decode)
        }

        fn fetch_first_decoded<T: Send, F: FnOnce(&crate::data::row::DbRow) -> crate::data::error::Result<T> + Send>(
            &self,
            stmt: crate::engine::statement::Statement,
            decode: F,
        ) -> impl std::future::Future<Output = crate::data::error::Result<Option<T>>> + Send {
            crate::engine::executor::first_decoded(self, stmt, decode)
        }

        fn fetch_models<M: crate::data::model::Model>(
            &self,
            stmt: crate::engine::statement::Statement,
        ) -> impl std::future::Future<Output = crate::data::error::Result<Vec<M>>> + Send {
            crate::engine::executor::models(self, stmt)
        }

        fn fetch_model<M: crate::data::model::Model>(
            &self,
            stmt: crate::engine::statement::Statement,
        ) -> impl std::future::Future<Output = crate::data::error::Result<Option<M>>> + Send {
            crate::engine::executor::model(self, stmt)
        }
    };
}
pub(crate) use typed_fetches;

/// Every row, decoded with `decode`.
pub(crate) async fn decoded<T: Send, F: FnMut(&DbRow) -> Result<T> + Send>(ex: &impl Runs, stmt: Statement, decode: F) -> Result<Vec<T>> {
    let mut rows = Collect { out: Vec::new(), decode };
    ex.run(stmt, Fetch::Decode { sink: &mut rows, first: false }).await?;
    Ok(rows.out)
}

/// The first row, if any, decoded with `decode`.
pub(crate) async fn first_decoded<T: Send, F: FnOnce(&DbRow) -> Result<T> + Send>(
    ex: &impl Runs,
    stmt: Statement,
    decode: F,
) -> Result<Option<T>> {
    let mut row = First { out: None, decode: Some(decode) };
    ex.run(stmt, Fetch::Decode { sink: &mut row, first: true }).await?;
    Ok(row.out)
}

/// Every row as model `M` (SQLite's decoded in place).
pub(crate) async fn models<M: Model>(ex: &impl Runs, stmt: Statement) -> Result<Vec<M>> {
    let mut rows = Models(Vec::new());
    ex.run(stmt, Fetch::Decode { sink: &mut rows, first: false }).await?;
    Ok(rows.0)
}

/// The first row, if any, as model `M` (SQLite's decoded in place).
pub(crate) async fn model<M: Model>(ex: &impl Runs, stmt: Statement) -> Result<Option<M>> {
    let mut row = FirstModel(None);
    ex.run(stmt, Fetch::Decode { sink: &mut row, first: true }).await?;
    Ok(row.0)
}

/// The result of a run, shaped by [`Fetch`].
pub(crate) enum Fetched {
    Rows(Vec<DbRow>),
    /// SQLite's rows of a result, still together in its buffer.
    #[cfg(feature = "sqlite")]
    Set(crate::engine::sqlite::RowSet),
    Row(Option<DbRow>),
    Done(ExecResult),
}

impl Fetched {
    pub(crate) fn rows(self) -> Vec<DbRow> {
        match self {
            Fetched::Rows(r) => r,
            #[cfg(feature = "sqlite")]
            Fetched::Set(s) => s.rows(),
            Fetched::Row(r) => r.into_iter().collect(),
            Fetched::Done(_) => Vec::new(),
        }
    }
    pub(crate) fn row(self) -> Option<DbRow> {
        match self {
            Fetched::Rows(r) => r.into_iter().next(),
            #[cfg(feature = "sqlite")]
            Fetched::Set(s) => s.first(),
            Fetched::Row(r) => r,
            Fetched::Done(_) => None,
        }
    }
    pub(crate) fn done(self) -> ExecResult {
        match self {
            Fetched::Done(d) => d,
            Fetched::Rows(r) => ExecResult { rows_affected: r.len() as u64, last_insert_id: None },
            #[cfg(feature = "sqlite")]
            Fetched::Set(s) => ExecResult { rows_affected: s.len() as u64, last_insert_id: None },
            Fetched::Row(r) => ExecResult { rows_affected: r.is_some() as u64, last_insert_id: None },
        }
    }
    /// Hand every row (or only the first) to `sink`; the number of rows handed.
    pub(crate) fn feed(self, sink: &mut dyn RowSink, first: bool) -> Result<usize> {
        let rows = match self {
            #[cfg(feature = "sqlite")]
            Fetched::Set(s) => return s.feed(sink, first),
            Fetched::Rows(mut r) if first => {
                r.truncate(1);
                r
            }
            other => other.rows(),
        };
        sink.expect(rows.len());
        for row in &rows {
            sink.row(row)?;
        }
        Ok(rows.len())
    }
}

/// Run a statement on a server connection: the rows `$fetch` needs (a sink's are handed to
/// it by the caller, through [`Fetch::finish`]).
#[cfg(any(feature = "postgres", feature = "mysql"))]
macro_rules! run_query {
    ($conn:expr, $args:expr, $sql:expr, $fetch:expr, $row:path, $done:expr) => {{
        let q = sqlx::query_with($sql, $args);
        match $fetch.detached() {
            Fetch::All => q.fetch_all(&mut *$conn).await.map(|rows| Fetched::Rows(rows.into_iter().map($row).collect())),
            Fetch::Optional => q.fetch_optional(&mut *$conn).await.map(|row| Fetched::Row(row.map($row))),
            _ => q.execute(&mut *$conn).await.map(|r| Fetched::Done($done(r))),
        }
    }};
}
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) use run_query;

/// A connection of any dialect, borrowed for one statement.
pub(crate) enum ConnRef<'c, 'p> {
    #[cfg(feature = "sqlite")]
    Sqlite(&'c mut crate::engine::sqlite::LiteGuard<'p>),
    #[cfg(feature = "postgres")]
    Postgres(&'c mut sqlx::PgConnection),
    #[cfg(feature = "mysql")]
    MySql(&'c mut sqlx::MySqlConnection),
    /// Without SQLite, what holds the pool's lifetime `'p`: no value has it.
    #[cfg(not(feature = "sqlite"))]
    #[expect(dead_code, reason = "uninhabited, so never constructed")]
    NoSqlite(std::convert::Infallible, std::marker::PhantomData<&'p ()>),
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl ConnRef<'_, '_> {
    /// Run `stmt` on a server connection, applying its statement timeout.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), expect(unused_variables, reason = "MySQL does not need it"))]
    pub(crate) async fn run(self, settings: &RunSettings, stmt: Statement, fetch: Fetch<'_>, in_tx: bool) -> Result<Fetched> {
        match self {
            #[cfg(feature = "sqlite")]
            ConnRef::Sqlite(guard) => guard.run(settings, stmt, fetch, in_tx).await,
            #[cfg(feature = "postgres")]
            ConnRef::Postgres(conn) => crate::engine::postgres::run(conn, settings, stmt, fetch, in_tx).await,
            #[cfg(feature = "mysql")]
            ConnRef::MySql(conn) => crate::engine::mysql::run(conn, settings, stmt, fetch).await,
        }
    }
}
