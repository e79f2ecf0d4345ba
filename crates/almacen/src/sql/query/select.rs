//! `SELECT` builders: rows of a model, joined models, columns and aggregates.

use super::{ColumnRef, Condition, OrderBy, Selectable};
use crate::data::dialect::Dialect;
use crate::data::error::{Error, Result};
use crate::data::model::{FromRow, Model, TableMeta};
use crate::data::types::SqlType;
use crate::engine::executor::Executor;
use crate::engine::statement::Statement;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use sea_query::{Expr, NullOrdering, Query, QueryStatementWriter, SelectStatement};
use std::any::TypeId;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

type SelectCache = RwLock<HashMap<(TypeId, Dialect, String), Arc<str>>>;

/// Distinct query shapes kept; later ones are built each time (a bound on memory).
const SELECT_CACHE_CAPACITY: usize = 1024;

/// SELECT texts by shape, shared by every `Select` of the process.
fn select_cache() -> &'static SelectCache {
    static CACHE: OnceLock<SelectCache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Build a sea-query statement for `dialect`.
pub(crate) fn build<S: QueryStatementWriter>(stmt: &S, dialect: Dialect) -> (String, Vec<sea_query::Value>) {
    let (sql, values) = match dialect {
        Dialect::Postgres => stmt.build(sea_query::PostgresQueryBuilder),
        Dialect::MySql => stmt.build(sea_query::MysqlQueryBuilder),
        Dialect::Sqlite => stmt.build(sea_query::SqliteQueryBuilder),
    };
    (sql, values.0)
}

#[derive(Debug, Clone)]
struct Join {
    table: &'static str,
    on: Condition,
    left: bool,
}

/// Which rows of a soft-deletable model a query sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Deleted {
    /// Live rows only (the default).
    #[default]
    Hide,
    /// Live and deleted rows.
    Include,
    /// Deleted rows only.
    Only,
}

/// The parts every SELECT shares: filter, joins, order, limit/offset, timeout.
#[derive(Debug, Clone, Default)]
struct Clauses {
    /// The model's soft-delete column (soft-deletable models only), and which rows to see.
    deleted: (Option<ColumnRef>, Deleted),
    filter: Option<Condition>,
    joins: Vec<Join>,
    order: Vec<OrderBy>,
    limit: Option<u64>,
    offset: Option<u64>,
    lock: Option<RowLock>,
    timeout: Option<Option<Duration>>,
}

/// A row lock taken by a SELECT (`FOR UPDATE` / `FOR SHARE`), held until the transaction
/// ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RowLock {
    /// `FOR SHARE` rather than `FOR UPDATE`.
    share: bool,
    wait: LockWait,
}

/// What a locking SELECT does about rows another transaction has locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LockWait {
    /// Wait for them (the default).
    Wait,
    /// Leave them out of the result (`SKIP LOCKED`): a queue's workers each take other rows.
    SkipLocked,
    /// Fail at once (`NOWAIT`).
    Nowait,
}

impl RowLock {
    /// The clause for `dialect`. SQLite has none: every transaction that may write holds the
    /// database's one write lock from its `BEGIN IMMEDIATE`, so no other writer runs
    /// between its read and its write, and nothing is ever skipped or waited for twice.
    fn sql(&self, dialect: Dialect) -> &'static str {
        use LockWait::*;
        match (dialect, self.share, self.wait) {
            (Dialect::Sqlite, _, _) => "",
            (_, false, Wait) => " FOR UPDATE",
            (_, false, SkipLocked) => " FOR UPDATE SKIP LOCKED",
            (_, false, Nowait) => " FOR UPDATE NOWAIT",
            (Dialect::Postgres, true, Wait) => " FOR SHARE",
            (Dialect::Postgres, true, SkipLocked) => " FOR SHARE SKIP LOCKED",
            (Dialect::Postgres, true, Nowait) => " FOR SHARE NOWAIT",
            // MariaDB spells a shared lock the older way.
            (Dialect::MySql, true, Wait) => " LOCK IN SHARE MODE",
            (Dialect::MySql, true, SkipLocked) => " LOCK IN SHARE MODE SKIP LOCKED",
            (Dialect::MySql, true, Nowait) => " LOCK IN SHARE MODE NOWAIT",
        }
    }
}

/// A join condition that also leaves `N`'s soft-deleted rows out.
fn live_join<N: Model>(on: Condition) -> Condition {
    match N::TABLE.soft_delete() {
        Some(meta) => on.and(Condition::Null(ColumnRef { table: N::TABLE.name, meta }, true)),
        None => on,
    }
}

impl Clauses {
    /// Clauses of a query of `M`: soft-deleted rows hidden when `M` has them.
    fn of<M: Model>() -> Self {
        let column = M::TABLE.soft_delete().map(|meta| ColumnRef { table: M::TABLE.name, meta });
        Clauses { deleted: (column, Deleted::Hide), ..Clauses::default() }
    }

    fn see_deleted(&mut self, mode: Deleted) {
        self.deleted.1 = mode;
    }

    fn filter(&mut self, c: Condition) {
        self.filter = Some(match self.filter.take() {
            Some(f) => f.and(c),
            None => c,
        });
    }

    fn apply(&self, q: &mut SelectStatement, dialect: Dialect) -> Result<()> {
        for j in &self.joins {
            let on = j.on.to_expr(dialect)?;
            if j.left {
                q.left_join(j.table, on);
            } else {
                q.inner_join(j.table, on);
            }
        }
        if let Some(f) = &self.filter {
            q.and_where(f.to_expr(dialect)?);
        }
        match self.deleted {
            (Some(column), Deleted::Hide) => q.and_where(Condition::Null(column, true).to_expr(dialect)?),
            (Some(column), Deleted::Only) => q.and_where(Condition::Null(column, false).to_expr(dialect)?),
            // A model without soft delete has no deleted rows.
            (None, Deleted::Only) => q.and_where(Expr::cust("1 = 0")),
            (_, Deleted::Include) | (None, Deleted::Hide) => q,
        };
        for o in &self.order {
            let dir = if o.descending { sea_query::Order::Desc } else { sea_query::Order::Asc };
            if o.column.meta.nullable {
                // NULLs first ascending and last descending, the same on every dialect.
                let nulls = if o.descending { NullOrdering::Last } else { NullOrdering::First };
                q.order_by_expr_with_nulls(o.column.expr(), dir, nulls);
            } else {
                q.order_by_expr(o.column.expr(), dir);
            }
        }
        Ok(())
    }

    /// The shape of these clauses for the SQL cache, or `None` when the SQL depends on values.
    fn shape(&self, dialect: Dialect, extra: &[&'static TableMeta]) -> Option<String> {
        use std::fmt::Write;
        let mut out = String::with_capacity(64);
        for t in extra {
            let _ = write!(out, "+{}", t.name);
        }
        for j in &self.joins {
            let _ = write!(out, "J{}{}", j.left, j.table);
            j.on.shape(&mut out, dialect)?;
        }
        out.push_str("|W");
        if let Some(f) = &self.filter {
            f.shape(&mut out, dialect)?;
        }
        let _ = write!(out, "|D{:?}", self.deleted.1);
        out.push_str("|O");
        for o in &self.order {
            let _ = write!(out, "{}.{}{},", o.column.table, o.column.meta.name, o.descending);
        }
        Some(out)
    }

    /// The bound values, in SQL order: join conditions, then the filter.
    fn values(&self, dialect: Dialect) -> Result<Vec<sea_query::Value>> {
        let mut out = Vec::new();
        for j in &self.joins {
            j.on.values(dialect, &mut out)?;
        }
        if let Some(f) = &self.filter {
            f.values(dialect, &mut out)?;
        }
        Ok(out)
    }

    /// Finish the statement: its text and values, then the tail ([`tail`](Self::tail)).
    fn finish(&self, q: &SelectStatement, dialect: Dialect) -> Statement {
        let (mut sql, mut values) = build(q, dialect);
        self.tail(dialect, &mut sql, &mut values);
        let mut stmt = Statement::new(sql, values);
        stmt.timeout = self.timeout;
        stmt
    }

    /// Append what follows the cached text to `sql` and `values`: ` LIMIT n OFFSET m` in the
    /// form each dialect accepts, then the row lock.
    ///
    /// The offset is a parameter, so one text serves every page and stays in the statement
    /// caches: a literal per offset made each page a statement of its own, and past a
    /// cache's size (sqlx: 100 per connection, almacen's SQLite pool: 256) every page paid a
    /// prepare, an eviction and a plan (over 500 offsets PostgreSQL took 2.5x and MariaDB
    /// 57x raw sqlx's time; docs/PERFORMANCE.md, 2026-12-06 (e) and (f)). The limit is a
    /// parameter on PostgreSQL and MariaDB too, but a literal on SQLite: SQLite reads a bound
    /// LIMIT's value when it plans, so every new value makes it prepare the statement again
    /// (a bound OFFSET does not). PostgreSQL may plan a bound page again on each run (its
    /// generic plan guesses a tenth of the rows are read), tens of microseconds, as it does
    /// for peers that bind.
    fn tail(&self, dialect: Dialect, sql: &mut String, values: &mut Vec<sea_query::Value>) {
        // A number as a parameter, or as a literal when it is out of a parameter's range.
        let mut bound = |n: u64, sql: &mut String| match i64::try_from(n) {
            Ok(n) => {
                values.push(sea_query::Value::BigInt(Some(n)));
                match dialect {
                    Dialect::Postgres => write!(sql, "${}", values.len()).expect("writing to a String"),
                    Dialect::Sqlite | Dialect::MySql => sql.push('?'),
                }
            }
            Err(_) => write!(sql, "{n}").expect("writing to a String"),
        };
        match (self.limit, self.offset) {
            (Some(l), o) => {
                sql.push_str(" LIMIT ");
                if dialect == Dialect::Sqlite {
                    write!(sql, "{l}").expect("writing to a String");
                } else {
                    bound(l, sql);
                }
                if let Some(o) = o {
                    sql.push_str(" OFFSET ");
                    bound(o, sql);
                }
            }
            (None, Some(o)) => {
                sql.push_str(match dialect {
                    Dialect::Postgres => " OFFSET ",
                    Dialect::Sqlite => " LIMIT -1 OFFSET ",
                    Dialect::MySql => " LIMIT 18446744073709551615 OFFSET ",
                });
                bound(o, sql);
            }
            (None, None) => {}
        }
        if let Some(lock) = self.lock {
            sql.push_str(lock.sql(dialect));
        }
    }
}

/// The clause methods `Select` and `SelectAs` share: filter, order, limit/offset, joins,
/// timeout — all kept in their `clauses` field.
macro_rules! clause_methods {
    () => {
        /// Keep rows matching `condition` (several calls are ANDed; before grouping).
        pub fn filter(mut self, condition: Condition) -> Self {
            self.clauses.filter(condition);
            self
        }

        /// Order by a key; call again for further keys.
        pub fn order_by(mut self, order: OrderBy) -> Self {
            self.clauses.order.push(order);
            self
        }

        /// Return at most `n` rows.
        pub fn limit(mut self, n: u64) -> Self {
            self.clauses.limit = Some(n);
            self
        }

        /// Skip the first `n` rows.
        pub fn offset(mut self, n: u64) -> Self {
            self.clauses.offset = Some(n);
            self
        }

        /// Override the database's statement timeout for this query (`None`: no limit).
        pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
            self.clauses.timeout = Some(timeout);
            self
        }

        /// `INNER JOIN` model `N`'s table on `on`; filter and order on `N`'s columns too.
        /// Soft-deleted rows of `N` never join.
        pub fn inner_join<N: Model>(mut self, on: Condition) -> Self {
            self.clauses.joins.push(Join { table: N::TABLE.name, on: live_join::<N>(on), left: false });
            self
        }

        /// `LEFT JOIN` model `N`'s table on `on`. Soft-deleted rows of `N` never join.
        pub fn left_join<N: Model>(mut self, on: Condition) -> Self {
            self.clauses.joins.push(Join { table: N::TABLE.name, on: live_join::<N>(on), left: true });
            self
        }

        /// Lock the rows this query returns against other transactions' writes until this
        /// transaction ends (`SELECT … FOR UPDATE`): read, check and write them back without
        /// another writer slipping in between. Use it inside a transaction. On SQLite it adds
        /// nothing: every transaction that may write holds the database's write lock from its
        /// `BEGIN IMMEDIATE`.
        ///
        /// ```no_run
        /// # use almacen::prelude::*;
        /// # #[derive(Model, Debug)] #[model(table = "items")]
        /// # struct Item { #[model(primary_key, auto)] id: i64, stock: i32 }
        /// # async fn f(db: &Database) -> almacen::Result<()> {
        /// db.transaction(async |tx| {
        ///     let item = Item::select().filter(Item::ID.eq(7)).for_update().fetch_one(tx).await?;
        ///     if item.stock > 0 {
        ///         Item::patch(7).add(Item::STOCK, -1).execute(tx).await?;
        ///     }
        ///     Ok(())
        /// })
        /// .await
        /// # }
        /// ```
        pub fn for_update(mut self) -> Self {
            self.clauses.lock = Some(RowLock { share: false, wait: self.clauses.lock.map_or(LockWait::Wait, |l| l.wait) });
            self
        }

        /// Lock the rows this query returns against other transactions' writes, letting
        /// other shared locks in (`FOR SHARE`; MariaDB's `LOCK IN SHARE MODE`). SQLite: as
        /// [`for_update`](Self::for_update).
        pub fn for_share(mut self) -> Self {
            self.clauses.lock = Some(RowLock { share: true, wait: self.clauses.lock.map_or(LockWait::Wait, |l| l.wait) });
            self
        }

        /// Leave out rows another transaction has locked instead of waiting for them
        /// (`SKIP LOCKED`), after [`for_update`](Self::for_update) or
        /// [`for_share`](Self::for_share) (alone: `FOR UPDATE SKIP LOCKED`) — how workers
        /// take jobs from a queue table without taking the same one.
        pub fn skip_locked(mut self) -> Self {
            self.clauses.lock = Some(RowLock { share: self.clauses.lock.is_some_and(|l| l.share), wait: LockWait::SkipLocked });
            self
        }

        /// Fail at once (a database error, `SQLSTATE 55P03` on PostgreSQL) when a row is
        /// locked by another transaction, instead of waiting (`NOWAIT`), after
        /// [`for_update`](Self::for_update) or [`for_share`](Self::for_share).
        pub fn nowait(mut self) -> Self {
            self.clauses.lock = Some(RowLock { share: self.clauses.lock.is_some_and(|l| l.share), wait: LockWait::Nowait });
            self
        }

        /// See soft-deleted rows of the model too (models with `#[model(soft_delete)]`;
        /// others have none).
        pub fn with_deleted(mut self) -> Self {
            self.clauses.see_deleted(Deleted::Include);
            self
        }

        /// See only the soft-deleted rows of the model (none, for a model without soft
        /// delete).
        pub fn only_deleted(mut self) -> Self {
            self.clauses.see_deleted(Deleted::Only);
            self
        }
    };
}

/// A typed `SELECT` of model `M`'s rows. Start one with `M::select()`.
///
/// ```no_run
/// # use almacen::prelude::*;
/// # #[derive(Model, Debug)] #[model(table = "items")]
/// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
/// # async fn f(db: &Database) -> almacen::Result<()> {
/// let page: Vec<Item> = Item::select()
///     .filter(Item::STOCK.gt(0).and(Item::NAME.like("L%")))
///     .order_by(Item::NAME.asc())
///     .order_by(Item::ID.desc())
///     .limit(20)
///     .offset(40)
///     .fetch_all(db)
///     .await?;
/// let n = Item::select().filter(Item::STOCK.eq(0)).count(db).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Select<M> {
    clauses: Clauses,
    _model: PhantomData<fn() -> M>,
}

impl<M> Clone for Select<M> {
    fn clone(&self) -> Self {
        Select { clauses: self.clauses.clone(), _model: PhantomData }
    }
}

impl<M: Model> Default for Select<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Model> Select<M> {
    /// All rows of `M`.
    pub fn new() -> Self {
        Select { clauses: Clauses::of::<M>(), _model: PhantomData }
    }

    clause_methods!();

    /// The order keys so far.
    pub(crate) fn order_keys(&self) -> &[OrderBy] {
        &self.clauses.order
    }

    /// Whether a limit or offset was set.
    pub(crate) fn is_paged(&self) -> bool {
        self.clauses.limit.is_some() || self.clauses.offset.is_some()
    }

    /// Whether soft-deleted rows are hidden (neither `with_deleted` nor `only_deleted`).
    pub(crate) fn hides_deleted(&self) -> bool {
        self.clauses.deleted.1 == Deleted::Hide
    }

    /// `LEFT JOIN` model `N`'s table on `on`, soft-deleted rows of `N` included (a
    /// relation loaded `with_deleted`).
    pub(crate) fn left_join_with_deleted<N: Model>(mut self, on: Condition) -> Self {
        self.clauses.joins.push(Join { table: N::TABLE.name, on, left: true });
        self
    }

    /// Select chosen columns and aggregates instead of whole rows, e.g.
    /// `.columns([Item::NAME.into(), count_all().into()])`, then decode into a tuple or a
    /// `#[derive(FromRow)]` struct.
    pub fn columns(self, columns: impl IntoIterator<Item = Selectable>) -> SelectAs<M> {
        SelectAs { clauses: self.clauses, columns: columns.into_iter().collect(), group_by: Vec::new(), having: None, _model: PhantomData }
    }

    /// The SQL this query sends on `dialect` (placeholders, not values), for logs and tests.
    pub fn debug_sql(&self, dialect: Dialect) -> String {
        self.sql(dialect).unwrap_or_else(|e| format!("<{e}>"))
    }

    /// The SQL this query sends on `dialect`, or why it cannot be built.
    pub(crate) fn sql(&self, dialect: Dialect) -> Result<String> {
        Ok(self.statement(dialect, &[])?.sql().to_string())
    }

    /// The statement for `dialect`. Its SQL text is built once per query shape (model,
    /// joined tables, clause tree without values, order, limit, offset) and reused; only the
    /// values are converted on each call.
    fn statement(&self, dialect: Dialect, extra: &[&'static TableMeta]) -> Result<Statement> {
        let Some(shape) = self.clauses.shape(dialect, extra) else {
            return self.build_statement(dialect, extra);
        };
        let key = (TypeId::of::<M>(), dialect, shape);
        let cache = select_cache();
        let cached = cache.read().unwrap_or_else(|p| p.into_inner()).get(&key).cloned();
        let base = match cached {
            Some(base) => base,
            None => {
                // The cached text leaves LIMIT/OFFSET and the lock out: they are appended per call.
                let unlimited =
                    Select::<M> { clauses: Clauses { limit: None, offset: None, lock: None, ..self.clauses.clone() }, _model: PhantomData };
                let base = unlimited.build_statement(dialect, extra)?.sql.into_shared();
                let mut cache = cache.write().unwrap_or_else(|p| p.into_inner());
                if cache.len() < SELECT_CACHE_CAPACITY {
                    cache.insert(key, base.clone());
                }
                base
            }
        };
        let mut values = self.clauses.values(dialect)?;
        let mut sql = base.to_string();
        self.clauses.tail(dialect, &mut sql, &mut values);
        if cfg!(debug_assertions) {
            // Tests run in debug builds: prove the cached SQL and value order match a fresh build.
            let fresh = self.build_statement(dialect, extra)?;
            assert_eq!(&*fresh.sql, sql.as_str(), "cached SELECT differs from a fresh build");
            assert_eq!(fresh.values.as_slice(), values.as_slice(), "cached SELECT binds values in another order");
        }
        let mut stmt = Statement::new(sql, values);
        stmt.timeout = self.clauses.timeout;
        Ok(stmt)
    }

    fn build_statement(&self, dialect: Dialect, extra: &[&'static TableMeta]) -> Result<Statement> {
        let mut q = Query::select();
        for t in std::iter::once(M::TABLE).chain(extra.iter().copied()) {
            for c in t.columns {
                q.expr(Expr::col((t.name, c.name)));
            }
        }
        q.from(M::TABLE.name);
        self.clauses.apply(&mut q, dialect)?;
        Ok(self.clauses.finish(&q, dialect))
    }

    /// Every matching row.
    pub async fn fetch_all(&self, db: &impl Executor) -> Result<Vec<M>> {
        db.fetch_models::<M>(self.statement(db.dialect(), &[])?).await
    }

    /// The first matching row, if any.
    pub async fn fetch_optional(&self, db: &impl Executor) -> Result<Option<M>> {
        let mut first = self.clone();
        if first.clauses.limit.is_none() {
            first.clauses.limit = Some(1);
        }
        db.fetch_model::<M>(first.statement(db.dialect(), &[])?).await
    }

    /// The first matching row; [`Error::NotFound`] when there is none.
    pub async fn fetch_one(&self, db: &impl Executor) -> Result<M> {
        self.fetch_optional(db).await?.ok_or(Error::NotFound)
    }

    /// Matching rows as a stream, decoded as they arrive (for results too large to collect).
    pub fn stream<'e, E: Executor>(&self, db: &'e E) -> BoxStream<'e, Result<M>> {
        match self.statement(db.dialect(), &[]) {
            Ok(stmt) => db.stream_rows(stmt).and_then(|r| async move { M::decode(&r, 0) }).boxed(),
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        }
    }

    /// Each row of `M` with its joined row of `N` (use with [`inner_join`](Self::inner_join)).
    pub async fn fetch_joined<N: Model>(&self, db: &impl Executor) -> Result<Vec<(M, N)>> {
        let rows = db.fetch_rows(self.statement(db.dialect(), &[N::TABLE])?).await?;
        let at = M::TABLE.columns.len();
        rows.iter().map(|r| Ok((M::decode(r, 0)?, N::decode(r, at)?))).collect()
    }

    /// Each row of `M` with its joined row of `N`, `None` where a [`left_join`](Self::left_join)
    /// found none.
    pub async fn fetch_left_joined<N: Model>(&self, db: &impl Executor) -> Result<Vec<(M, Option<N>)>> {
        let rows = db.fetch_rows(self.statement(db.dialect(), &[N::TABLE])?).await?;
        let at = M::TABLE.columns.len();
        let key = N::TABLE.columns.iter().position(|c| c.primary_key).unwrap_or(0);
        rows.iter()
            .map(|r| {
                let right = if r.is_null(at + key)? { None } else { Some(N::decode(r, at)?) };
                Ok((M::decode(r, 0)?, right))
            })
            .collect()
    }

    /// Number of matching rows (limit and offset ignored), a `u64` like
    /// [`Page::total`](crate::query::Page::total).
    pub async fn count(&self, db: &impl Executor) -> Result<u64> {
        let dialect = db.dialect();
        let mut q = Query::select();
        q.expr(Expr::cust("COUNT(*)")).from(M::TABLE.name);
        let clauses = Clauses { order: Vec::new(), limit: None, offset: None, lock: None, ..self.clauses.clone() };
        clauses.apply(&mut q, dialect)?;
        // Typed conditions only call deterministic functions: on SQLite, a reader may hand
        // the count again while nothing was committed (a list page's total, page after page).
        let stmt = clauses.finish(&q, dialect).memoized();
        let row = db.fetch_row(stmt).await?.ok_or(Error::NotFound)?;
        let n = row.get_as::<i64>(0)?;
        u64::try_from(n).map_err(|_| row.decode_error(0, format!("a count of {n}")))
    }

    /// Whether any row matches.
    pub async fn exists(&self, db: &impl Executor) -> Result<bool> {
        let dialect = db.dialect();
        let mut inner = Query::select();
        inner.expr(Expr::val(1)).from(M::TABLE.name);
        let clauses = Clauses { order: Vec::new(), limit: None, offset: None, lock: None, ..self.clauses.clone() };
        clauses.apply(&mut inner, dialect)?;
        let mut q = Query::select();
        q.expr_as(Expr::exists(inner), "present");
        let row = db.fetch_row(clauses.finish(&q, dialect)).await?.ok_or(Error::NotFound)?;
        Ok(row.get_as::<i64>(0).or_else(|_| row.get_as::<bool>(0).map(i64::from))? != 0)
    }
}

/// A `SELECT` of chosen columns and aggregates, with GROUP BY and HAVING, decoded into a
/// tuple or a `#[derive(FromRow)]` struct.
///
/// ```no_run
/// # use almacen::prelude::*;
/// # #[derive(Model, Debug)] #[model(table = "items")]
/// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] kind: String, stock: i32 }
/// # async fn f(db: &Database) -> almacen::Result<()> {
/// let per_kind: Vec<(String, i64, i64)> = Item::select()
///     .columns([Item::KIND.into(), count_all().into(), sum(Item::STOCK).into()])
///     .group_by(Item::KIND)
///     .having(count_all().gt(1))
///     .fetch_all(db)
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SelectAs<M> {
    clauses: Clauses,
    columns: Vec<Selectable>,
    group_by: Vec<super::ColumnRef>,
    having: Option<Condition>,
    _model: PhantomData<fn() -> M>,
}

impl<M: Model> SelectAs<M> {
    clause_methods!();

    /// Group by a column (call again for more).
    pub fn group_by<N: Model, T: SqlType>(mut self, column: super::Column<N, T>) -> Self {
        self.group_by.push(column.as_ref());
        self
    }
    /// Keep groups matching `condition` (aggregate conditions such as `count_all().gt(1)`).
    pub fn having(mut self, condition: Condition) -> Self {
        self.having = Some(match self.having.take() {
            Some(h) => h.and(condition),
            None => condition,
        });
        self
    }

    fn statement(&self, dialect: Dialect) -> Result<Statement> {
        let mut q = Query::select();
        for (i, c) in self.columns.iter().enumerate() {
            let alias = match c {
                Selectable::Column(c) => c.meta.name.to_string(),
                Selectable::Aggregate(a) => format!("{}_{}", agg_name(a.func), a.column.map(|c| c.meta.name).unwrap_or("all")),
            };
            let alias = if self.columns[..i].iter().any(|p| matches!(p, Selectable::Column(c) if c.meta.name == alias)) {
                format!("{alias}_{i}")
            } else {
                alias
            };
            q.expr_as(c.expr(dialect), alias);
        }
        q.from(M::TABLE.name);
        for g in &self.group_by {
            q.add_group_by([g.expr()]);
        }
        if let Some(h) = &self.having {
            q.and_having(h.to_expr(dialect)?);
        }
        self.clauses.apply(&mut q, dialect)?;
        Ok(self.clauses.finish(&q, dialect))
    }

    /// Every result row, decoded into `T` (a tuple of column types, or a `FromRow` struct).
    pub async fn fetch_all<T: FromRow>(&self, db: &impl Executor) -> Result<Vec<T>> {
        db.fetch_decoded(self.statement(db.dialect())?, T::from_row).await
    }

    /// The first result row, if any.
    pub async fn fetch_optional<T: FromRow>(&self, db: &impl Executor) -> Result<Option<T>> {
        db.fetch_first_decoded(self.statement(db.dialect())?, T::from_row).await
    }

    /// The first result row; [`Error::NotFound`] when there is none.
    pub async fn fetch_one<T: FromRow>(&self, db: &impl Executor) -> Result<T> {
        self.fetch_optional(db).await?.ok_or(Error::NotFound)
    }
}

fn agg_name(f: super::AggFunc) -> &'static str {
    use super::AggFunc::*;
    match f {
        CountAll | Count => "count",
        Sum => "sum",
        Avg => "avg",
        Min => "min",
        Max => "max",
    }
}

macro_rules! tuple_from_row {
    ($($t:ident $i:tt),+) => {
        impl<$($t: crate::data::types::SqlType + Send + Unpin),+> FromRow for ($($t,)+) {
            fn from_row(row: &crate::data::row::DbRow) -> Result<Self> {
                Ok(($(row.get_as::<$t>($i)?,)+))
            }
        }
    };
}
tuple_from_row!(A 0);
tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);
tuple_from_row!(A 0, B 1, C 2, D 3);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
