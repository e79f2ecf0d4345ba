//! Inserts: one row, or many as multi-row INSERTs (chunked, all or none), with the stored
//! rows read back (`RETURNING`, decoded) or only counted.

use super::crud::{CachedKind, cached, name_field, returning};
use crate::data::dialect::Dialect;
use crate::data::error::{Error, Result};
use crate::data::model::{BoundRow, ColumnMeta, Model, NewRecord};
use crate::engine::executor::Executor;
use crate::engine::statement::Statement;
use std::any::TypeId;
use std::sync::Arc;

/// Bound values per multi-row INSERT on SQLite. SQLite allows 32,766, but a statement's
/// prepared program grows with them (about 100 bytes each) and almacen keeps its statements
/// prepared, and each row costs the same as in a chunk of 8,000 (measured: 270–400 ns a row
/// at every size from 8 rows up). At 1,024 a chunk (256 rows of 4 columns, about a quarter
/// of a millisecond) stays well inside the work a statement may do on the async thread, so
/// it runs in place; at 4,096 a chunk with `RETURNING` did just enough work to be sent to a
/// blocking thread every time, and the dozen hand-offs of 10,000 rows cost 15–25 % of the
/// batch (1.14–1.26× rusqlite → 0.99–1.07×, docs/PERFORMANCE.md).
const SQLITE_CHUNK_PARAMS: usize = 1_024;

/// Insert one row and return it as stored (generated id and server defaults filled in).
pub async fn insert<M: Model>(db: &impl Executor, new: M::New) -> Result<M> {
    let dialect = db.dialect();
    let mut row = BoundRow::new(dialect, M::TABLE.columns.len());
    new.push_bound(&mut row)?;
    let stmt = if row.columns.is_empty() {
        Statement::new(default_values_sql::<M>(dialect, true), Vec::new())
    } else {
        let sql = insert_text::<M>(dialect, row.columns.iter().copied(), 1, true, true)?;
        Statement::matched(sql, row.values)
    };
    db.fetch_model::<M>(stmt).await.map_err(name_field::<M>)?.ok_or(Error::NotFound)
}

/// Insert many rows with multi-row INSERTs, chunked under the dialect's parameter limit,
/// and return them as stored, in input order. When that takes more than one statement on a
/// [`Database`](crate::Database), they run in one transaction, so either every row is
/// inserted or none is. Every value is checked before anything is sent.
pub async fn insert_many<M: Model>(db: &impl Executor, rows: Vec<M::New>) -> Result<Vec<M>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let n = rows.len();
    match insert_all::<M>(db, rows, Output::Rows(Vec::with_capacity(n))).await? {
        Output::Rows(rows) => Ok(rows),
        Output::Count(_) => unreachable!("asked for rows"),
    }
}

/// Insert many rows as [`insert_many`] does (multi-row INSERTs, chunked, all or none, every
/// value checked first) without reading them back: no `RETURNING`, nothing decoded. Returns
/// the number of rows inserted. For loads that need neither the generated keys nor the
/// server defaults.
///
/// ```no_run
/// # use almacen::prelude::*;
/// # #[derive(Model, Debug)] #[model(table = "items")]
/// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
/// # async fn f(db: &Database) -> almacen::Result<()> {
/// let rows: Vec<NewItem> = (0..10_000).map(|i| NewItem { name: format!("item {i}"), stock: 1 }).collect();
/// let inserted: u64 = almacen::ops::insert_many_without_returning::<Item>(db, rows).await?;
/// assert_eq!(inserted, 10_000);
/// # Ok(()) }
/// ```
pub async fn insert_many_without_returning<M: Model>(db: &impl Executor, rows: Vec<M::New>) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    match insert_all::<M>(db, rows, Output::Count(0)).await? {
        Output::Count(n) => Ok(n),
        Output::Rows(_) => unreachable!("asked for a count"),
    }
}

/// Encode the batch and run its statements, all or none: when there are several, in a
/// transaction of their own on a `Database`, or in a savepoint of the caller's transaction.
/// Statements are encoded one at a time, just before they run, so a batch holds one
/// statement's values at a time (encoding every chunk first held them all: 1.3 MB for
/// 10,000 rows of 4 columns, which the allocator gave back to the system after each batch
/// and faulted in again for the next, 8 % of a batch's time). A batch of one statement is
/// checked whole before it is sent; in a longer one a refused value rolls back the chunks
/// already sent.
async fn insert_all<M: Model>(db: &impl Executor, rows: Vec<M::New>, mut out: Output<M>) -> Result<Output<M>> {
    let mut batch = Encoder::<M>::new(rows, db.dialect());
    let first = batch.next().map_err(name_field::<M>)?.ok_or(Error::NotFound)?;
    let done = if batch.is_done() {
        run_one::<M>(db, first, &mut out).await
    } else if let Some(database) = db.as_database() {
        database.transaction(async |tx| run_all::<M>(tx, first, &mut batch, &mut out).await).await
    } else if let Some(tx) = db.as_transaction() {
        tx.transaction(async |savepoint| run_all::<M>(savepoint, first, &mut batch, &mut out).await).await
    } else {
        run_all::<M>(db, first, &mut batch, &mut out).await
    };
    done.map(|()| out).map_err(name_field::<M>)
}

/// Run `first`, then every statement `batch` has left.
///
/// Between statements the task yields: SQLite's chunks complete in place, and a batch of
/// many would otherwise hold the async thread from the first to the last.
async fn run_all<M: Model>(db: &impl Executor, first: Planned, batch: &mut Encoder<M>, out: &mut Output<M>) -> Result<()> {
    run_one::<M>(db, first, out).await?;
    while let Some(step) = batch.next()? {
        tokio::task::yield_now().await;
        run_one::<M>(db, step, out).await?;
    }
    Ok(())
}

/// What the statements of a batch give back: the stored rows, or how many were inserted.
enum Output<M> {
    Rows(Vec<M>),
    Count(u64),
}

/// One INSERT statement: its rows' values, row after row, as the dialect binds them.
struct Planned {
    rows: usize,
    /// The columns every row of it names.
    columns: Arc<[usize]>,
    values: Vec<sea_query::Value>,
    /// Its SQL text is one of the few kept ([`chunk_rows`]).
    reuse: bool,
}

/// The INSERT statements that store a batch of rows, in input order, encoded one at a time.
/// Runs of consecutive rows naming the same columns (an input may leave a server-default
/// column out on some rows only) are cut into statements by [`chunk_rows`]; a row naming no
/// column is a `DEFAULT VALUES` statement of its own. Each row is converted as soon as it is
/// read (its cells are still in the cache), straight into the statement that carries it.
struct Encoder<M: Model> {
    input: std::vec::IntoIter<M::New>,
    dialect: Dialect,
    /// Statements encoded and not yet handed out.
    ready: std::collections::VecDeque<Planned>,
    /// The current run: its columns, its rows not yet in a statement, and a full chunk's rows.
    columns: Arc<[usize]>,
    pending: Vec<sea_query::Value>,
    pending_rows: usize,
    full: usize,
    /// One row, reused.
    row: BoundRow,
}

impl<M: Model> Encoder<M> {
    fn new(rows: Vec<M::New>, dialect: Dialect) -> Self {
        Encoder {
            input: rows.into_iter(),
            dialect,
            ready: Default::default(),
            columns: Arc::new([]),
            pending: Vec::new(),
            pending_rows: 0,
            full: 0,
            row: BoundRow::new(dialect, M::TABLE.columns.len()),
        }
    }

    /// The next statement, or `None` when every row is in one.
    fn next(&mut self) -> Result<Option<Planned>> {
        loop {
            if let Some(step) = self.ready.pop_front() {
                return Ok(Some(step));
            }
            let Some(new) = self.input.next() else {
                self.flush();
                return Ok(self.ready.pop_front());
            };
            self.row.clear();
            new.push_bound(&mut self.row)?;
            if self.full == 0 || *self.columns != *self.row.columns {
                self.flush();
                self.columns = self.row.columns.as_slice().into();
                self.full = chunk_rows(self.columns.len(), self.dialect);
            }
            if self.pending.capacity() == 0 {
                self.pending.reserve_exact((self.input.len() + 1).min(self.full) * self.columns.len());
            }
            self.pending.append(&mut self.row.values);
            self.pending_rows += 1;
            if self.pending_rows == self.full {
                let values = std::mem::take(&mut self.pending);
                self.push(self.full, values);
                self.pending_rows = 0;
            }
        }
    }

    /// True when every row has been handed out in a statement.
    fn is_done(&self) -> bool {
        self.ready.is_empty() && self.pending_rows == 0 && self.input.len() == 0
    }

    fn push(&mut self, rows: usize, values: Vec<sea_query::Value>) {
        let reuse = self.dialect == Dialect::Sqlite || rows == 1;
        self.ready.push_back(Planned { rows, columns: self.columns.clone(), values, reuse });
    }

    /// The last rows of a run, fewer than a full chunk: one statement on the servers; on
    /// SQLite one per binary digit of their number, largest first ([`chunk_rows`]).
    fn flush(&mut self) {
        let rows = std::mem::take(&mut self.pending_rows);
        if rows == 0 {
            return;
        }
        let values = std::mem::take(&mut self.pending);
        if self.dialect != Dialect::Sqlite || rows.is_power_of_two() {
            return self.push(rows, values);
        }
        let width = values.len() / rows;
        let mut rest = values;
        let mut pieces = Vec::new();
        // From the smallest digit up, each cut off the end; then handed out largest first.
        for bit in (0..usize::BITS).map(|b| 1usize << b).filter(|&b| rows & b != 0) {
            let tail = rest.split_off(rest.len() - bit * width);
            pieces.push((bit, tail));
        }
        for (bit, values) in pieces.into_iter().rev() {
            self.push(bit, values);
        }
    }
}

/// Rows per statement for rows of `width` columns (each row its own statement when there
/// are none: `DEFAULT VALUES`).
///
/// SQLite has no round trip per statement, so a run of rows is cut into full chunks of
/// [`SQLITE_CHUNK_PARAMS`] values rounded down to a power of two rows, and the rest one
/// statement per binary digit of its number (10,000 rows of 4 columns are 39 × 256 + 16).
/// A column set then has at most a dozen SQL texts, each prepared once per connection and
/// kept, whatever sizes the batches have; with one text per size, each new
/// size paid SQLite's prepare (about twice the time of inserting the rows: 5 ms for 8,191
/// rows of 4 columns) and filled the statement cache with programs of megabytes. On the
/// servers each statement is a round trip: chunks as large as the parameter limit allows,
/// the last one smaller (only a single row's text is kept there: a full chunk's is hundreds
/// of kilobytes, and writing it costs little beside the round trip and the server's work).
fn chunk_rows(width: usize, dialect: Dialect) -> usize {
    if width == 0 {
        return 1;
    }
    let most = (dialect.max_bind_params() / width).max(1);
    match dialect {
        Dialect::Sqlite => prev_power_of_two(most.min(SQLITE_CHUNK_PARAMS / width).max(1)),
        Dialect::Postgres | Dialect::MySql => most,
    }
}

/// The largest power of two not above `n` (n ≥ 1).
fn prev_power_of_two(n: usize) -> usize {
    1 << (usize::BITS - 1 - n.leading_zeros())
}

/// Run one planned statement, adding what it gives back to `out`.
async fn run_one<M: Model>(db: &impl Executor, step: Planned, out: &mut Output<M>) -> Result<()> {
    let dialect = db.dialect();
    let with_rows = matches!(out, Output::Rows(_));
    if step.values.len() != step.rows * step.columns.len() {
        return Err(Error::Unsupported("insert plan and values disagree".into()));
    }
    let stmt = match step.columns.len() {
        0 => Statement::new(default_values_sql::<M>(dialect, with_rows), Vec::new()),
        // (`insert_sql` writes a placeholder per value: `rows` rows of the run's columns.)
        _ => Statement::matched(insert_text::<M>(dialect, step.columns.iter().copied(), step.rows, step.reuse, with_rows)?, step.values),
    };
    match out {
        Output::Rows(rows) if step.rows == 1 => rows.push(db.fetch_model::<M>(stmt).await?.ok_or(Error::NotFound)?),
        Output::Rows(rows) => rows.extend(db.fetch_models::<M>(stmt).await?),
        Output::Count(n) => *n += db.execute_statement(stmt).await?.rows_affected,
    }
    Ok(())
}

/// The SQL text inserting `rows` rows of `columns`: built once and shared when `reuse` and
/// the columns fit a 64-bit mask, built for this call otherwise.
fn insert_text<M: Model>(
    dialect: Dialect,
    columns: impl Iterator<Item = usize> + Clone,
    rows: usize,
    reuse: bool,
    with_rows: bool,
) -> Result<Arc<str>> {
    let build = || {
        let metas: Vec<&ColumnMeta> = columns.clone().map(|i| &M::TABLE.columns[i]).collect();
        insert_sql::<M>(dialect, &metas, rows, with_rows)
    };
    match columns.clone().try_fold(0u64, |mask, i| (i < 64).then(|| mask | 1 << i)) {
        Some(mask) if reuse => {
            let kind = CachedKind::Insert { columns: mask, rows, returning: with_rows };
            cached(TypeId::of::<M>(), dialect, kind, || Ok(build()))
        }
        _ => Ok(build().into()),
    }
}

/// A row of server defaults only: `DEFAULT VALUES` (MariaDB: `() VALUES ()`).
fn default_values_sql<M: Model>(dialect: Dialect, with_rows: bool) -> String {
    let table = dialect.quote(M::TABLE.name);
    let back = if with_rows { returning::<M>(dialect) } else { String::new() };
    match dialect {
        Dialect::MySql => format!("INSERT INTO {table} () VALUES (){back}"),
        _ => format!("INSERT INTO {table} DEFAULT VALUES{back}"),
    }
}

/// `INSERT INTO t (a, b) VALUES (?, ?), (?, ?)`, with `RETURNING …` every column when
/// `with_rows`, written directly: on the hot path of bulk inserts a builder would only add
/// work (one expression per value).
fn insert_sql<M: Model>(dialect: Dialect, columns: &[&ColumnMeta], rows: usize, with_rows: bool) -> String {
    use std::fmt::Write;
    let names: Vec<String> = columns.iter().map(|c| dialect.quote(c.name)).collect();
    let mut sql = String::with_capacity(64 + rows * columns.len() * 5);
    let _ = write!(sql, "INSERT INTO {} ({}) VALUES ", dialect.quote(M::TABLE.name), names.join(", "));
    // Placeholders are written with `itoa`: `write!` cost ~350 instructions each, a third
    // of a 1,000-row insert's client work on PostgreSQL.
    let mut digits = itoa::Buffer::new();
    let mut n = 0u32;
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..columns.len() {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            match dialect {
                Dialect::Postgres => {
                    sql.push('$');
                    sql.push_str(digits.format(n));
                }
                _ => sql.push('?'),
            }
        }
        sql.push(')');
    }
    if with_rows {
        sql.push_str(&returning::<M>(dialect));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::model::{ColumnMeta, ColumnType, Managed, NewRecord, TableMeta};
    use crate::data::value::Value;

    /// A model of four integer columns (`c0` to `c3`), no key, for planning alone.
    #[derive(Debug)]
    struct Wide;
    const fn column(name: &'static str) -> ColumnMeta {
        ColumnMeta {
            name,
            field: name,
            ty: ColumnType::BigInt,
            nullable: false,
            primary_key: false,
            auto_increment: false,
            unique: false,
            indexed: false,
            server_default: None,
            references: None,
            managed: Managed::No,
        }
    }
    static TABLE: TableMeta =
        TableMeta { name: "wide", model: "Wide", columns: &[column("c0"), column("c1"), column("c2"), column("c3")], indexes: &[] };

    /// A row naming the columns in `cols`.
    struct Row(Vec<usize>);
    impl NewRecord<Wide> for Row {
        fn insert_values(&self) -> Vec<(usize, Value)> {
            self.0.iter().map(|&i| (i, Value::Int(i as i64))).collect()
        }
    }
    impl Model for Wide {
        const TABLE: &'static TableMeta = &TABLE;
        type Key = ();
        type New = Row;
        fn decode(_: &crate::data::row::DbRow, _: usize) -> Result<Self> {
            Ok(Wide)
        }
        fn values(&self) -> Vec<Value> {
            Vec::new()
        }
        fn key(&self) {}
        fn key_values(_: &()) -> Vec<Value> {
            Vec::new()
        }
    }

    /// The statements of `rows`: (rows, columns) each, checking their values.
    fn plan(rows: Vec<Row>, dialect: Dialect) -> Vec<(usize, usize)> {
        let n = rows.len();
        let mut enc = Encoder::<Wide>::new(rows, dialect);
        let mut out = Vec::new();
        while let Some(step) = enc.next().unwrap() {
            assert_eq!(step.values.len(), step.rows * step.columns.len());
            out.push((step.rows, step.columns.len()));
        }
        assert!(enc.is_done());
        assert_eq!(out.iter().map(|(r, _)| r).sum::<usize>(), n);
        out
    }

    fn rows(n: usize, cols: &[usize]) -> Vec<Row> {
        (0..n).map(|_| Row(cols.to_vec())).collect()
    }

    #[test]
    fn sqlite_chunks_are_powers_of_two_under_the_cap() {
        let all = [0, 1, 2, 3];
        let sizes = |n| plan(rows(n, &all), Dialect::Sqlite).into_iter().map(|(r, _)| r).collect::<Vec<_>>();
        assert_eq!(sizes(10_000), [vec![256; 39], vec![16]].concat());
        assert_eq!(sizes(1_000), [256, 256, 256, 128, 64, 32, 8]);
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(7), [4, 2, 1]);
        assert_eq!(sizes(2048), [256; 8]);
        assert_eq!(chunk_rows(3, Dialect::Sqlite), 256);
        // Wider than the cap: one row per statement, still under SQLite's own limit.
        assert_eq!(chunk_rows(5_000, Dialect::Sqlite), 1);
    }

    #[test]
    fn server_chunks_fill_the_parameter_limit() {
        let all = [0, 1, 2, 3];
        let sizes = |n, d| plan(rows(n, &all), d).into_iter().map(|(r, _)| r).collect::<Vec<_>>();
        assert_eq!(sizes(10_000, Dialect::Postgres), [10_000]);
        assert_eq!(sizes(40_000, Dialect::MySql), [16_383, 16_383, 7_234]);
        assert_eq!(sizes(16_384, Dialect::Postgres), [16_383, 1]);
    }

    #[test]
    fn runs_of_other_columns_start_new_statements() {
        let mut input = rows(3, &[0, 1]);
        input.extend(rows(2, &[0, 1, 2]));
        input.extend(rows(1, &[]));
        input.extend(rows(1, &[]));
        input.extend(rows(1, &[0, 1]));
        assert_eq!(plan(input, Dialect::Sqlite), [(2, 2), (1, 2), (2, 3), (1, 0), (1, 0), (1, 2)]);
    }
}
