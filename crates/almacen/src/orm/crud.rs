//! Create, read, update, delete and upsert for any model. `#[derive(Model)]` generates
//! inherent methods (`Product::insert`, `Product::get`, `product.update(db)`, …) that call
//! these functions.

pub use super::insert::{insert, insert_many, insert_many_without_returning};
use crate::data::dialect::Dialect;
use crate::data::error::{Error, Result};
use crate::data::model::{ColumnMeta, ColumnType, Managed, Model};
use crate::data::types::SqlType;
use crate::data::value::{Kind, Value};
use crate::engine::executor::Executor;
use crate::engine::statement::{Sql, Statement, Values};
use crate::sql::query::{CmpOp, ColumnRef, Condition, build};
use sea_query::{Expr, ExprTrait, OnConflict, Query};
use std::any::TypeId;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock, RwLock};

fn sea(v: &Value, dialect: Dialect, c: &ColumnMeta) -> Result<sea_query::Value> {
    v.to_sea(dialect, Some(&c.ty), c.name)
}

/// ` RETURNING a, b, c` for every column of `M` (sea-query's MySQL writer has no RETURNING;
/// MariaDB 10.5+ supports it on INSERT).
pub(super) fn returning<M: Model>(dialect: Dialect) -> String {
    let cols: Vec<String> = M::TABLE.columns.iter().map(|c| dialect.quote(c.name)).collect();
    format!(" RETURNING {}", cols.join(", "))
}

fn key_condition<M: Model>(key: &M::Key) -> Result<Condition> {
    let values = M::key_values(key);
    let pk: Vec<&'static ColumnMeta> = M::TABLE.primary_key().collect();
    if pk.is_empty() {
        return Err(Error::Unsupported(format!("model for table {} has no primary key", M::TABLE.name)));
    }
    let conds = pk.iter().zip(values).map(|(c, v)| Condition::Cmp(ColumnRef { table: M::TABLE.name, meta: c }, CmpOp::Eq, v)).collect();
    Ok(Condition::And(conds))
}

/// The row with this primary key, if any.
pub async fn get<M: Model>(db: &impl Executor, key: &M::Key) -> Result<Option<M>> {
    let dialect = db.dialect();
    let mut pk = M::TABLE.primary_key().peekable();
    if pk.peek().is_none() || M::TABLE.primary_key().any(|c| matches!(c.ty, ColumnType::Decimal { .. })) {
        // (A decimal key may need its comparison rewritten on SQLite: no cached SQL.)
        return crate::sql::query::Select::<M>::new().filter(key_condition::<M>(key)?).fetch_optional(db).await;
    }
    // The SQL of a lookup by key depends only on the model and the dialect: build it once.
    let build = || crate::sql::query::Select::<M>::new().filter(key_condition::<M>(key)?).sql(dialect);
    let sql = match M::statements() {
        Some(statements) => Sql::Static(statements.get_by_key(dialect, build)?),
        None => Sql::Shared(cached_sql(TypeId::of::<M>(), dialect, build)?),
    };
    // (The key's values live in the statement: no list is allocated for them.)
    let mut values = Values::new();
    for (i, c) in pk.enumerate() {
        let col = ColumnRef { table: M::TABLE.name, meta: c };
        values.push(crate::sql::query::compared_value(&col, &M::key_value(key, i), dialect)?);
    }
    db.fetch_model::<M>(Statement::from_parts(sql, values)).await
}

/// The row with this primary key, if any, locked until the transaction ends
/// (`SELECT … FOR UPDATE`; SQLite: the transaction's write lock covers it).
pub async fn get_for_update<M: Model>(db: &impl Executor, key: &M::Key) -> Result<Option<M>> {
    if M::TABLE.primary_key().next().is_none() {
        return Err(Error::Unsupported(format!("{} has no primary key to look a row up by", M::TABLE.name)));
    }
    crate::sql::query::Select::<M>::new().filter(key_condition::<M>(key)?).for_update().fetch_optional(db).await
}

/// Which statement of a model a cached SQL text is: the lookup by key, or an insert of
/// `rows` rows of the columns in a bit mask, with or without `RETURNING`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum CachedKind {
    GetByKey,
    Insert { columns: u64, rows: usize, returning: bool },
}

type SqlCache = RwLock<HashMap<(TypeId, Dialect, CachedKind), Arc<str>, foldhash::fast::RandomState>>;

/// SQL text built once per (model, dialect, statement) and shared by every later call.
pub(super) fn cached(model: TypeId, dialect: Dialect, kind: CachedKind, build: impl FnOnce() -> Result<String>) -> Result<Arc<str>> {
    static CACHE: OnceLock<SqlCache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (model, dialect, kind);
    if let Some(sql) = cache.read().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(sql.clone());
    }
    let sql: Arc<str> = build()?.into();
    cache.write().unwrap_or_else(|p| p.into_inner()).insert(key, sql.clone());
    Ok(sql)
}

/// The lookup by key's SQL, built once per (model, dialect).
fn cached_sql(model: TypeId, dialect: Dialect, build: impl FnOnce() -> Result<String>) -> Result<Arc<str>> {
    cached(model, dialect, CachedKind::GetByKey, build)
}

/// Write every column of `model` to its row; [`Error::NotFound`] when the row is gone
/// (or soft-deleted). Managed columns: `created_at` and the soft-delete mark are left as
/// stored, `updated_at` becomes now, and a `version` must still be the one `model` was read
/// at — it is incremented, or the update fails with [`Error::Conflict`]. `model`'s managed
/// fields are updated to match.
pub async fn update<M: Model>(db: &impl Executor, model: &mut M) -> Result<()> {
    let dialect = db.dialect();
    let now = crate::data::value::now();
    let values = model.values();
    let mut q = Query::update();
    q.table(M::TABLE.name);
    let mut cond = key_condition::<M>(&model.key())?;
    let mut any = false;
    for (c, v) in M::TABLE.columns.iter().zip(&values) {
        if c.primary_key {
            continue;
        }
        match c.managed {
            Managed::CreatedAt | Managed::DeletedAt => continue,
            Managed::UpdatedAt => q.value(c.name, Expr::val(sea(&Value::Timestamp(now), dialect, c)?)),
            Managed::Version => {
                cond = cond.and(Condition::Cmp(ColumnRef { table: M::TABLE.name, meta: c }, CmpOp::Eq, v.clone()));
                q.value(c.name, Expr::col(c.name).add(1))
            }
            Managed::No => q.value(c.name, Expr::val(sea(v, dialect, c)?)),
        };
        any = true;
    }
    if !any {
        return Ok(());
    }
    q.and_where(live::<M>(cond).to_expr(dialect)?);
    let (sql, vals) = build(&q, dialect);
    let done = db.execute_statement(Statement::new(sql, vals)).await.map_err(name_field::<M>)?;
    if done.rows_affected == 0 {
        if M::TABLE.managed(Managed::Version).is_some() && get::<M>(db, &model.key()).await?.is_some() {
            return Err(Error::Conflict(format!(
                "{} row {:?} was changed since it was read (its version moved on)",
                M::TABLE.name,
                M::key_values(&model.key())
            )));
        }
        return Err(Error::NotFound);
    }
    model.touch(now);
    Ok(())
}

/// `cond` restricted to live rows when `M` is soft-deletable.
fn live<M: Model>(cond: Condition) -> Condition {
    match M::TABLE.soft_delete() {
        Some(meta) => cond.and(Condition::Null(ColumnRef { table: M::TABLE.name, meta }, true)),
        None => cond,
    }
}

/// Delete the row with this primary key; true when a row was deleted. A soft-deletable
/// model's row is only marked deleted (see [`hard_delete`], [`restore`]).
pub async fn delete<M: Model>(db: &impl Executor, key: &M::Key) -> Result<bool> {
    Ok(DeleteWhere::<M>::new(key_condition::<M>(key)?).execute(db).await? > 0)
}

/// Remove the row with this primary key for good, deleted-marked or not; true when a row
/// went.
pub async fn hard_delete<M: Model>(db: &impl Executor, key: &M::Key) -> Result<bool> {
    Ok(DeleteWhere::<M>::new(key_condition::<M>(key)?).hard().execute(db).await? > 0)
}

/// Clear the deleted mark of the row with this primary key; true when it was marked.
/// [`Error::Unsupported`] for a model without `#[model(soft_delete)]`.
pub async fn restore<M: Model>(db: &impl Executor, key: &M::Key) -> Result<bool> {
    let meta = M::TABLE.soft_delete().ok_or_else(|| Error::Unsupported(format!("{} is not soft-deletable", M::TABLE.name)))?;
    let column = ColumnRef { table: M::TABLE.name, meta };
    let cond = key_condition::<M>(key)?.and(Condition::Null(column, false));
    let sets = [Assignment::Value(column, Value::Null(Kind::Timestamp))];
    let (sql, vals) = update_statement::<M>(&sets, &cond, db.dialect())?;
    Ok(db.execute_statement(Statement::new(sql, vals)).await?.rows_affected > 0)
}

/// Insert `model`, or update the existing row whose `conflict` columns (the primary key when
/// empty) are equal: `ON CONFLICT … DO UPDATE` on PostgreSQL and SQLite, `ON DUPLICATE KEY
/// UPDATE` on MariaDB. Returns the stored row. Managed columns follow the database, not
/// `model`: a new row gets `created_at`/`updated_at` now and version 1; an existing one keeps
/// its `created_at`, gets `updated_at` now and the next version (no version check: an upsert
/// overwrites), and is live again if it was soft-deleted.
pub async fn upsert<M: Model>(db: &impl Executor, model: &M, conflict: &[ColumnRef]) -> Result<M> {
    let dialect = db.dialect();
    let target: Vec<&'static ColumnMeta> =
        if conflict.is_empty() { M::TABLE.primary_key().collect() } else { conflict.iter().map(|c| c.meta).collect() };
    if target.is_empty() {
        return Err(Error::Unsupported(format!("upsert on {} needs a primary key or conflict columns", M::TABLE.name)));
    }
    let on_key = target.iter().all(|c| c.primary_key);
    let now = crate::data::value::now();
    let mut values = model.values();
    // Managed columns as an insert sets them: the struct's own values do not count.
    for (c, v) in M::TABLE.columns.iter().zip(values.iter_mut()) {
        match c.managed {
            Managed::CreatedAt | Managed::UpdatedAt => *v = Value::Timestamp(now),
            Managed::Version => *v = Value::Int(1),
            Managed::DeletedAt => *v = Value::Null(Kind::Timestamp),
            Managed::No => {}
        }
    }
    let mut insert_cols = Vec::new();
    let mut insert_vals = Vec::new();
    for (c, v) in M::TABLE.columns.iter().zip(&values) {
        // A generated key is left to the database unless the key itself is the target.
        if c.auto_increment && !on_key {
            continue;
        }
        insert_cols.push(c.name);
        insert_vals.push(Expr::val(sea(v, dialect, c)?));
    }
    // On conflict: the given columns, `updated_at` now, the next `version`, and the row live
    // again (an upsert makes the row exist as given); `created_at` stays.
    let plain: Vec<&'static str> = M::TABLE
        .columns
        .iter()
        .filter(|c| {
            !c.primary_key
                && !target.iter().any(|t| t.name == c.name)
                && matches!(c.managed, Managed::No | Managed::UpdatedAt | Managed::DeletedAt)
        })
        .map(|c| c.name)
        .collect();
    let mut on_conflict = OnConflict::columns(target.iter().map(|c| c.name));
    if let Some(version) = M::TABLE.managed(Managed::Version) {
        on_conflict.value(version.name, Expr::col((M::TABLE.name, version.name)).add(1));
    }
    if !plain.is_empty() {
        on_conflict.update_columns(plain);
    } else if M::TABLE.managed(Managed::Version).is_none() {
        // Nothing to change: touch the key so the row is still returned.
        on_conflict.update_column(target[0].name);
    }
    let mut q = Query::insert();
    q.into_table(M::TABLE.name)
        .columns(insert_cols)
        .values(insert_vals)
        .map_err(|e| Error::Unsupported(e.to_string()))?
        .on_conflict(on_conflict);
    let (mut sql, vals) = build(&q, dialect);
    if dialect == Dialect::MySql {
        db.execute_statement(Statement::new(sql, vals)).await.map_err(name_field::<M>)?;
        let by_target = Condition::And(
            target
                .iter()
                .map(|c| {
                    let i = M::TABLE.columns.iter().position(|m| m.name == c.name).expect("target column of M");
                    Condition::Cmp(ColumnRef { table: M::TABLE.name, meta: c }, CmpOp::Eq, values[i].clone())
                })
                .collect(),
        );
        return crate::sql::query::Select::<M>::new().filter(by_target).fetch_one(db).await;
    }
    sql.push_str(&returning::<M>(dialect));
    db.fetch_model::<M>(Statement::new(sql, vals)).await.map_err(name_field::<M>)?.ok_or(Error::NotFound)
}

/// A partial update of one row by primary key: only the columns given with
/// [`set`](Self::set) change. Start one with `Model::patch(key)`.
///
/// ```no_run
/// # use almacen::prelude::*;
/// # #[derive(Model, Debug)] #[model(table = "items")]
/// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
/// # async fn f(db: &Database) -> almacen::Result<()> {
/// let item: Option<Item> = Item::patch(7).set(Item::NAME, "Lamp").add(Item::STOCK, -1).execute(db).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Patch<M: Model> {
    key: M::Key,
    sets: Vec<Assignment>,
}

#[derive(Debug, Clone)]
enum Assignment {
    Value(ColumnRef, Value),
    Add(ColumnRef, Value),
}

/// The `set` and `add` methods `Patch` and `UpdateWhere` share, kept in their `sets` field.
macro_rules! assignment_methods {
    () => {
        /// Set a column to a value.
        pub fn set<T: SqlType>(mut self, column: crate::sql::query::Column<M, T>, value: impl Into<T>) -> Self {
            self.sets.push(Assignment::Value(column.as_ref(), value.into().to_value()));
            self
        }

        /// Add `delta` to a numeric column in the database (`stock = stock + delta`), safe
        /// under concurrency.
        pub fn add<T: SqlType>(mut self, column: crate::sql::query::Column<M, T>, delta: impl Into<T::Inner>) -> Self {
            self.sets.push(Assignment::Add(column.as_ref(), delta.into().to_value()));
            self
        }
    };
}

/// `UPDATE table SET … WHERE condition` for these assignments, exactly as given.
fn update_statement<M: Model>(sets: &[Assignment], condition: &Condition, dialect: Dialect) -> Result<(String, Vec<sea_query::Value>)> {
    let mut q = Query::update();
    q.table(M::TABLE.name);
    apply_sets(&mut q, sets, dialect)?;
    q.and_where(condition.to_expr(dialect)?);
    Ok(build(&q, dialect))
}

/// A user's update of rows of `M`: their assignments plus the managed ones (`updated_at`
/// now, `version` + 1), on live rows only.
fn managed_update<M: Model>(sets: &[Assignment], condition: &Condition, dialect: Dialect) -> Result<(String, Vec<sea_query::Value>)> {
    for s in sets {
        let (Assignment::Value(c, _) | Assignment::Add(c, _)) = s;
        if c.meta.managed != Managed::No {
            return Err(Error::Unsupported(format!(
                "{}.{} is maintained by almacen ({:?}); it cannot be set by an update",
                M::TABLE.name,
                c.meta.name,
                c.meta.managed
            )));
        }
    }
    let mut all = sets.to_vec();
    if let Some(meta) = M::TABLE.managed(Managed::UpdatedAt) {
        all.push(Assignment::Value(ColumnRef { table: M::TABLE.name, meta }, Value::Timestamp(crate::data::value::now())));
    }
    if let Some(meta) = M::TABLE.managed(Managed::Version) {
        all.push(Assignment::Add(ColumnRef { table: M::TABLE.name, meta }, Value::Int(1)));
    }
    update_statement::<M>(&all, &live::<M>(condition.clone()), dialect)
}

fn apply_sets(q: &mut sea_query::UpdateStatement, sets: &[Assignment], dialect: Dialect) -> Result<()> {
    for s in sets {
        match s {
            Assignment::Value(c, v) => {
                q.value(c.meta.name, Expr::val(v.to_sea(dialect, Some(&c.meta.ty), c.meta.name)?));
            }
            // SQLite adds doubles inexactly: a decimal column adds exactly in almacen's function.
            Assignment::Add(c, v) if dialect == Dialect::Sqlite && matches!(c.meta.ty, ColumnType::Decimal { .. }) => {
                let ColumnType::Decimal { precision, scale } = c.meta.ty else { unreachable!() };
                let delta = match v {
                    Value::Decimal(d) => {
                        crate::data::value::check_decimal_fits(*d, precision, scale, c.meta.name)?;
                        sea_query::Value::String(Some(d.to_string()))
                    }
                    other => other.to_sea(dialect, None, c.meta.name)?,
                };
                let sql = format!("{}(?, ?, {precision}, {scale})", crate::data::sqlite::DECIMAL_ADD);
                q.value(c.meta.name, Expr::cust_with_exprs(sql, [Expr::col(c.meta.name), Expr::val(delta)]));
            }
            // SQLite keeps the double sum; PostgreSQL and MariaDB round it to the f32 they store.
            Assignment::Add(c, v) if dialect == Dialect::Sqlite && c.meta.ty == ColumnType::Float => {
                let delta = Expr::val(v.to_sea(dialect, Some(&c.meta.ty), c.meta.name)?);
                q.value(
                    c.meta.name,
                    Expr::cust_with_exprs(format!("{}(?)", crate::data::sqlite::F32), [Expr::col(c.meta.name).add(delta)]),
                );
            }
            Assignment::Add(c, v) => {
                let delta = Expr::val(v.to_sea(dialect, Some(&c.meta.ty), c.meta.name)?);
                q.value(c.meta.name, Expr::col(c.meta.name).add(delta));
            }
        }
    }
    Ok(())
}

impl<M: Model> Patch<M> {
    /// A patch of the row with this key.
    pub fn new(key: M::Key) -> Self {
        Patch { key, sets: Vec::new() }
    }

    assignment_methods!();

    /// Run it; returns the updated row, or `None` when no row has the key.
    pub async fn execute(self, db: &impl Executor) -> Result<Option<M>> {
        let dialect = db.dialect();
        let cond = key_condition::<M>(&self.key)?;
        if self.sets.is_empty() {
            return get::<M>(db, &self.key).await;
        }
        let (mut sql, vals) = managed_update::<M>(&self.sets, &cond, dialect)?;
        if dialect == Dialect::MySql {
            // MariaDB has no UPDATE … RETURNING: read the row back.
            let done = db.execute_statement(Statement::new(sql, vals)).await.map_err(name_field::<M>)?;
            if done.rows_affected == 0 {
                return Ok(None);
            }
            return get::<M>(db, &self.key).await;
        }
        sql.push_str(&returning::<M>(dialect));
        db.fetch_model::<M>(Statement::new(sql, vals)).await.map_err(name_field::<M>)
    }
}

/// `UPDATE … SET … WHERE condition`, returning the number of rows changed. Start one with
/// `Model::update_where(condition)`.
#[derive(Debug, Clone)]
pub struct UpdateWhere<M> {
    condition: Condition,
    sets: Vec<Assignment>,
    _model: PhantomData<fn() -> M>,
}

impl<M: Model> UpdateWhere<M> {
    /// Update the rows matching `condition`.
    pub fn new(condition: Condition) -> Self {
        UpdateWhere { condition, sets: Vec::new(), _model: PhantomData }
    }
    assignment_methods!();

    /// Run it; returns the number of rows matched.
    pub async fn execute(self, db: &impl Executor) -> Result<u64> {
        if self.sets.is_empty() {
            return Err(Error::Unsupported("update_where needs at least one set(...)".into()));
        }
        let dialect = db.dialect();
        let (sql, vals) = managed_update::<M>(&self.sets, &self.condition, dialect)?;
        Ok(db.execute_statement(Statement::new(sql, vals)).await.map_err(name_field::<M>)?.rows_affected)
    }
}

/// `DELETE … WHERE condition`, returning the number of rows deleted. Start one with
/// `Model::delete_where(condition)`. On a soft-deletable model it marks the live matching
/// rows deleted instead, unless [`hard`](Self::hard) is asked for.
#[derive(Debug, Clone)]
pub struct DeleteWhere<M> {
    condition: Condition,
    hard: bool,
    _model: PhantomData<fn() -> M>,
}

impl<M: Model> DeleteWhere<M> {
    /// Delete the rows matching `condition`.
    pub fn new(condition: Condition) -> Self {
        DeleteWhere { condition, hard: false, _model: PhantomData }
    }

    /// Remove the rows for good, deleted-marked ones included, even on a soft-deletable model.
    pub fn hard(mut self) -> Self {
        self.hard = true;
        self
    }

    /// Run it; returns the number of rows deleted (or marked).
    pub async fn execute(self, db: &impl Executor) -> Result<u64> {
        let dialect = db.dialect();
        if let (Some(meta), false) = (M::TABLE.soft_delete(), self.hard) {
            let sets = [Assignment::Value(ColumnRef { table: M::TABLE.name, meta }, Value::Timestamp(crate::data::value::now()))];
            let (sql, vals) = update_statement::<M>(&sets, &live::<M>(self.condition), dialect)?;
            return Ok(db.execute_statement(Statement::new(sql, vals)).await?.rows_affected);
        }
        let mut q = Query::delete();
        q.from_table(M::TABLE.name).and_where(self.condition.to_expr(dialect)?);
        let (sql, vals) = build(&q, dialect);
        Ok(db.execute_statement(Statement::new(sql, vals)).await?.rows_affected)
    }
}

/// A constraint violation of one of `M`'s writes, with the model's field named: from the
/// constraint almacen named (`uq_users_email`, `fk_posts_user_id`, `pk_…`, an index of the
/// model), or the `table.column` SQLite reports, or the column the server reports. SQLite
/// names no foreign key: the field is named when the model has one only.
pub(crate) fn name_field<M: Model>(mut e: Error) -> Error {
    let foreign_key = matches!(e, Error::ForeignKeyViolation(_));
    let info = match &mut e {
        Error::UniqueViolation(i) | Error::ForeignKeyViolation(i) | Error::NotNullViolation(i) | Error::CheckViolation(i) => i,
        _ => return e,
    };
    let table = M::TABLE;
    let by_name = |name: &str| table.columns.iter().find(|c| c.name == name);
    let named = |prefix: &str, c: &ColumnMeta| crate::sql::column_sql::ident_name(format!("{prefix}_{}_{}", table.name, c.name));
    let from_constraint = info.constraint.as_deref().and_then(|k| {
        // SQLite: "users.email", or "t.a, t.b" for a composite key.
        let first = k.split(", ").next().unwrap_or(k);
        if let Some((t, col)) = first.split_once('.') {
            return (t == table.name).then(|| by_name(col)).flatten();
        }
        let bare = k.rsplit('.').next().unwrap_or(k);
        table
            .columns
            .iter()
            .find(|c| [named("uq", c), named("fk", c), named("ix", c)].iter().any(|n| n == bare))
            .or_else(|| {
                table
                    .indexes
                    .iter()
                    .find(|ix| crate::sql::column_sql::ident_name(ix.name.to_string()) == bare)
                    .and_then(|ix| by_name(ix.columns[0]))
            })
            .or_else(|| {
                let key = crate::sql::column_sql::ident_name(format!("pk_{}", table.name));
                (bare == key || bare == "PRIMARY").then(|| table.primary_key().next()).flatten()
            })
    });
    let column = from_constraint.or_else(|| info.column.as_deref().and_then(by_name)).or_else(|| {
        // SQLite's foreign-key error names nothing: one foreign key can only be that one.
        let mut fks = table.columns.iter().filter(|c| c.references.is_some());
        match (foreign_key, fks.next(), fks.next()) {
            (true, Some(only), None) => Some(only),
            _ => None,
        }
    });
    if let Some(c) = column {
        info.table = Some(table.name.to_string());
        info.column = Some(c.name.to_string());
        info.field = Some(c.field.to_string());
    }
    e
}
