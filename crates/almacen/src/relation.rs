//! Relationships between models, declared as associated constants, and loaded for a whole
//! result set at once (no N+1): one extra statement per relation, chunked under the
//! dialect's parameter limit.
//!
//! ```
//! use almacen::prelude::*;
//! use almacen::{BelongsTo, HasMany, ManyToMany};
//!
//! #[derive(Model, Debug, Clone)]
//! #[model(table = "authors")]
//! struct Author { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String }
//!
//! #[derive(Model, Debug, Clone)]
//! #[model(table = "books")]
//! struct Book {
//!     #[model(primary_key, auto)] id: i64,
//!     #[model(references = "authors.id", on_delete = "cascade")] author_id: i64,
//!     #[model(max_len = 100)] title: String,
//! }
//!
//! #[derive(Model, Debug, Clone)]
//! #[model(table = "genres")]
//! struct Genre { #[model(primary_key, auto)] id: i64, #[model(max_len = 30)] name: String }
//!
//! /// The association table, here with a model of its own.
//! #[derive(Model, Debug, Clone)]
//! #[model(table = "book_genres", composite)]
//! struct BookGenre {
//!     #[model(primary_key, references = "books.id", on_delete = "cascade")] book_id: i64,
//!     #[model(primary_key, references = "genres.id", on_delete = "cascade")] genre_id: i64,
//! }
//!
//! impl Author {
//!     const BOOKS: HasMany<Author, Book> = HasMany::new(Book::AUTHOR_ID);
//! }
//! impl Book {
//!     const AUTHOR: BelongsTo<Book, Author> = BelongsTo::new(Book::AUTHOR_ID);
//!     const GENRES: ManyToMany<Book, Genre> = ManyToMany::new("book_genres", "book_id", "genre_id");
//! }
//! impl Genre {
//!     // The other side of the same association.
//!     const BOOKS: ManyToMany<Genre, Book> = ManyToMany::new("book_genres", "genre_id", "book_id");
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
//! let db = Database::connect("sqlite::memory:").await?;
//! db.create_tables(&[Author::TABLE, Book::TABLE, Genre::TABLE, BookGenre::TABLE]).await?;
//! let ursula = Author::insert(&db, NewAuthor { name: "Ursula".into() }).await?;
//! let book = Book::insert(&db, NewBook { author_id: ursula.id, title: "The Dispossessed".into() }).await?;
//! let sf = Genre::insert(&db, NewGenre { name: "SF".into() }).await?;
//! Book::GENRES.link(&db, &book, &sf).await?;
//!
//! let authors = Author::select().fetch_all(&db).await?;
//! let books = Author::BOOKS.load(&db, &authors).await?; // one statement for all authors
//! assert_eq!(books[0][0].title, "The Dispossessed");
//! let genres = Book::GENRES.load(&db, &books[0]).await?;
//! assert_eq!(genres[0][0].name, "SF");
//! let by = Book::AUTHOR.load(&db, &books[0]).await?;
//! assert_eq!(by[0].as_ref().map(|a| a.name.as_str()), Some("Ursula"));
//! # Ok(()) }
//! ```

use crate::query::{CmpOp, ColumnRef, Condition, Select};
use crate::{Column, DbRow, Error, Executor, Model, Result, SqlType, Statement, Value};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::marker::PhantomData;

/// A key value usable in a hash map (values of key columns: integers, text, UUIDs, bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum KeyOf {
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    Other(String),
}

impl KeyOf {
    fn of(v: &Value) -> Option<KeyOf> {
        Some(match v {
            Value::Null(_) => return None,
            Value::Int(i) => KeyOf::Int(*i),
            Value::Bool(b) => KeyOf::Int(*b as i64),
            Value::Text(t) => KeyOf::Text(t.clone()),
            Value::Uuid(u) => KeyOf::Bytes(u.as_bytes().to_vec()),
            Value::Bytes(b) => KeyOf::Bytes(b.clone()),
            other => KeyOf::Other(format!("{other:?}")),
        })
    }
}

/// The single primary-key column of `M` (relations need one).
fn single_key<M: Model>() -> Result<(usize, ColumnRef)> {
    let mut pk = M::TABLE.columns.iter().enumerate().filter(|(_, c)| c.primary_key);
    match (pk.next(), pk.next()) {
        (Some((i, meta)), None) => Ok((i, ColumnRef { table: M::TABLE.name, meta })),
        _ => Err(Error::Unsupported(format!("relations need a single-column primary key; {} has none or several", M::TABLE.name))),
    }
}

/// How many keys one `IN (…)` may carry, leaving room for the query's own parameters.
fn chunk_size(db: &impl Executor) -> usize {
    db.dialect().max_bind_params() - 1_000
}

/// The distinct non-null values of column `index` of `rows`, in first-seen order.
fn distinct_values<'a, M: Model + 'a>(rows: impl IntoIterator<Item = &'a M>, index: usize) -> Vec<Value> {
    let mut seen = std::collections::HashSet::with_hasher(foldhash::fast::RandomState::default());
    let mut out = Vec::new();
    for row in rows {
        let v = row.column_value(index);
        if let Some(k) = KeyOf::of(&v)
            && seen.insert(k)
        {
            out.push(v);
        }
    }
    out
}

/// A map keyed by key values, with a fast hasher (keys come from the database, not from
/// an attacker choosing collisions).
type Map<V> = HashMap<KeyOf, V, foldhash::fast::RandomState>;

/// The groups for each row's key, in the rows' order. A key that several rows share gets a
/// copy of its group for each (the last one takes the original).
fn aligned<T: Clone>(keys: Vec<Option<KeyOf>>, mut groups: Map<Vec<T>>) -> Vec<Vec<T>> {
    let mut uses: Map<usize> = Map::with_capacity_and_hasher(keys.len(), Default::default());
    for k in keys.iter().flatten() {
        *uses.entry(k.clone()).or_default() += 1;
    }
    let repeated = uses.values().any(|&n| n > 1);
    keys.into_iter()
        .map(|k| {
            let Some(k) = k else { return Vec::new() };
            if repeated {
                let n = uses.get_mut(&k).expect("counted above");
                *n -= 1;
                if *n > 0 {
                    return groups.get(&k).cloned().unwrap_or_default();
                }
            }
            groups.remove(&k).unwrap_or_default()
        })
        .collect()
}

/// `column IN (values)`, the way conditions carry it.
fn is_in(column: ColumnRef, values: &[Value]) -> Condition {
    Condition::In(column, values.to_vec(), false)
}

/// `Clone` and `Copy` for a relation type whatever its models are (a derive would ask
/// the models to be `Copy` too).
macro_rules! copy_without_bounds {
    ($t:ident) => {
        impl<X, Y> Clone for $t<X, Y> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<X, Y> Copy for $t<X, Y> {}
    };
}

/// The foreign-key column of `C` at position `fk`.
fn fk_column<C: Model>(fk: usize) -> ColumnRef {
    ColumnRef { table: C::TABLE.name, meta: &C::TABLE.columns[fk] }
}

/// A to-one relation from child `C` to parent `P` through the foreign key column of `C`
/// (`posts.user_id → users.id`).
pub struct BelongsTo<C, P> {
    fk: usize,
    _models: PhantomData<fn() -> (C, P)>,
}

copy_without_bounds!(BelongsTo);

impl<C: Model, P: Model> BelongsTo<C, P> {
    /// The relation through `fk`, a column of `C` holding `P`'s primary key (nullable or not).
    pub const fn new<T: SqlType<Inner = P::Key>>(fk: Column<C, T>) -> Self
    where
        P::Key: SqlType,
    {
        BelongsTo { fk: fk.position(), _models: PhantomData }
    }

    /// The parent of each child, in the children's order (`None` where the key is NULL or
    /// the parent is gone). One statement per chunk of distinct keys.
    pub async fn load<B: Borrow<C>>(&self, db: &impl Executor, children: &[B]) -> Result<Vec<Option<P>>>
    where
        P: Clone,
    {
        let (key_at, key) = single_key::<P>()?;
        let wanted = distinct_values(children.iter().map(Borrow::borrow), self.fk);
        let mut parents: Map<P> = Map::with_capacity_and_hasher(wanted.len(), Default::default());
        for chunk in wanted.chunks(chunk_size(db)) {
            for p in Select::<P>::new().filter(is_in(key, chunk)).fetch_all(db).await? {
                if let Some(k) = KeyOf::of(&p.column_value(key_at)) {
                    parents.insert(k, p);
                }
            }
        }
        Ok(children.iter().map(|c| KeyOf::of(&c.borrow().column_value(self.fk)).and_then(|k| parents.get(&k).cloned())).collect())
    }

    /// `query`'s children each with its parent, in one statement (a LEFT JOIN).
    pub async fn fetch_joined(&self, db: &impl Executor, query: Select<C>) -> Result<Vec<(C, Option<P>)>> {
        let (_, key) = single_key::<P>()?;
        let fk = fk_column::<C>(self.fk);
        query.left_join::<P>(Condition::Columns(fk, CmpOp::Eq, key)).fetch_left_joined::<P>(db).await
    }
}

/// A to-many relation from parent `P` to the children `C` whose foreign key column holds
/// `P`'s primary key (`users.id ← posts.user_id`).
pub struct HasMany<P, C> {
    fk: usize,
    _models: PhantomData<fn() -> (P, C)>,
}

copy_without_bounds!(HasMany);

impl<P: Model, C: Model> HasMany<P, C> {
    /// The relation through `fk`, a column of `C` holding `P`'s primary key.
    pub const fn new<T: SqlType<Inner = P::Key>>(fk: Column<C, T>) -> Self
    where
        P::Key: SqlType,
    {
        HasMany { fk: fk.position(), _models: PhantomData }
    }

    /// The children of each parent, in the parents' order; within a parent in `C`'s
    /// primary-key order. One statement per chunk of distinct keys.
    pub async fn load<B: Borrow<P>>(&self, db: &impl Executor, parents: &[B]) -> Result<Vec<Vec<C>>>
    where
        C: Clone,
    {
        self.load_with(db, parents, Select::new()).await
    }

    /// [`load`](Self::load) with the children filtered and ordered by `query` (e.g. only
    /// published posts, newest first). Limits and offsets of `query` would apply to all
    /// parents together, so they are refused.
    pub async fn load_with<B: Borrow<P>>(&self, db: &impl Executor, parents: &[B], query: Select<C>) -> Result<Vec<Vec<C>>>
    where
        C: Clone,
    {
        let (key_at, _) = single_key::<P>()?;
        if query.is_paged() {
            return Err(Error::Unsupported("a relation load cannot take a limit or offset: it would apply to all parents together".into()));
        }
        let (child_key_at, child_key) = single_key::<C>()?;
        let fk = fk_column::<C>(self.fk);
        let keys = distinct_values(parents.iter().map(Borrow::borrow), key_at);
        // Integer keys are put in order here (below); any other key type is ordered by the
        // database, whose collation decides.
        let int_key = matches!(child_key.meta.ty, crate::ColumnType::SmallInt | crate::ColumnType::Integer | crate::ColumnType::BigInt);
        let unordered = query.order_keys().is_empty();
        let query = if unordered && !int_key { query.order_by(crate::OrderBy { column: child_key, descending: false }) } else { query };
        let mut groups: Map<Vec<C>> = Map::with_capacity_and_hasher(keys.len(), Default::default());
        for chunk in keys.chunks(chunk_size(db)) {
            for child in query.clone().filter(is_in(fk, chunk)).fetch_all(db).await? {
                if let Some(k) = KeyOf::of(&child.column_value(self.fk)) {
                    groups.entry(k).or_default().push(child);
                }
            }
        }
        if unordered && int_key {
            // Key order within each parent, checked and (rarely) sorted here rather than by
            // an ORDER BY over every child: the index scan mostly delivers it already.
            let id = |c: &C| match c.column_value(child_key_at) {
                Value::Int(i) => i,
                _ => i64::MIN,
            };
            for group in groups.values_mut() {
                if !group.is_sorted_by_key(id) {
                    group.sort_by_key(id);
                }
            }
        }
        let keys = parents.iter().map(|p| KeyOf::of(&p.borrow().column_value(key_at))).collect();
        Ok(aligned(keys, groups))
    }

    /// Take `child` out of `parent`'s children. A child cannot live without its parent
    /// here (delete-orphan), so it is deleted — marked deleted for a soft-deletable `C`.
    /// False when `child` was not one of `parent`'s (nothing is done then).
    pub async fn remove(&self, db: &impl Executor, parent: &P, child: &C) -> Result<bool> {
        let (key_at, _) = single_key::<P>()?;
        let (child_key_at, child_key) = single_key::<C>()?;
        let fk = fk_column::<C>(self.fk);
        let mine = Condition::Cmp(child_key, CmpOp::Eq, child.column_value(child_key_at)).and(Condition::Cmp(
            fk,
            CmpOp::Eq,
            parent.column_value(key_at),
        ));
        Ok(crate::DeleteWhere::<C>::new(mine).execute(db).await? > 0)
    }

    /// Delete the children of `parents` (mark them deleted, for a soft-deletable `C`): the
    /// ORM's side of a cascade, for soft deletes (which no `ON DELETE` sees) and tables
    /// without `ON DELETE CASCADE`. Returns how many went.
    pub async fn delete_children<B: Borrow<P>>(&self, db: &impl Executor, parents: &[B]) -> Result<u64> {
        let (key_at, _) = single_key::<P>()?;
        let fk = fk_column::<C>(self.fk);
        let keys = distinct_values(parents.iter().map(Borrow::borrow), key_at);
        let mut n = 0;
        for chunk in keys.chunks(chunk_size(db)) {
            n += crate::DeleteWhere::<C>::new(is_in(fk, chunk)).execute(db).await?;
        }
        Ok(n)
    }

    /// Delete `parent` and its children together (children first), in one transaction when
    /// `db` is a [`Database`](crate::Database): cascade by the ORM. Refused when `P` is
    /// soft-deletable and `C` is not (a restored parent would have lost its children).
    pub async fn delete_with_children(&self, db: &impl Executor, parent: &P) -> Result<bool> {
        if P::TABLE.soft_delete().is_some() && C::TABLE.soft_delete().is_none() {
            // Restoring the parent could not bring hard-deleted children back.
            return Err(Error::Unsupported(format!(
                "{} is soft-deletable but {} is not: deleting them together would lose the children for good",
                P::TABLE.name,
                C::TABLE.name
            )));
        }
        match db.as_database() {
            Some(database) => database.transaction(async |tx| self.delete_both(tx, parent).await).await,
            None => self.delete_both(db, parent).await,
        }
    }

    async fn delete_both(&self, db: &impl Executor, parent: &P) -> Result<bool> {
        self.delete_children(db, std::slice::from_ref(parent)).await?;
        crate::crud::delete::<P>(db, &parent.key()).await
    }
}

/// A to-one relation from parent `P` to the one child `C` whose foreign key holds `P`'s key
/// (`users.id ← profiles.user_id`, with the foreign key unique).
pub struct HasOne<P, C> {
    many: HasMany<P, C>,
}

copy_without_bounds!(HasOne);

impl<P: Model, C: Model> HasOne<P, C> {
    /// The relation through `fk`, a column of `C` holding `P`'s primary key.
    pub const fn new<T: SqlType<Inner = P::Key>>(fk: Column<C, T>) -> Self
    where
        P::Key: SqlType,
    {
        HasOne { many: HasMany::new(fk) }
    }

    /// The child of each parent, in the parents' order (`None` where there is none).
    pub async fn load<B: Borrow<P>>(&self, db: &impl Executor, parents: &[B]) -> Result<Vec<Option<C>>>
    where
        C: Clone,
    {
        Ok(self.many.load(db, parents).await?.into_iter().map(|mut v| if v.is_empty() { None } else { Some(v.swap_remove(0)) }).collect())
    }
}

/// A many-to-many relation from `A` to `B` through an association table holding both
/// primary keys, with or without a model of its own. Declare one on each side (with the
/// columns swapped) to use it from both. The association table is used as two key columns:
/// `link` inserts only those (other columns need defaults), `unlink` deletes the row, and a
/// link model's own managed columns (timestamps, soft delete) are not maintained.
pub struct ManyToMany<A, B> {
    through: &'static str,
    from: &'static str,
    to: &'static str,
    _models: PhantomData<fn() -> (A, B)>,
}

copy_without_bounds!(ManyToMany);

impl<A: Model, B: Model> ManyToMany<A, B> {
    /// The relation through table `through`, whose column `from` holds `A`'s key and `to`
    /// holds `B`'s.
    pub const fn new(through: &'static str, from: &'static str, to: &'static str) -> Self {
        ManyToMany { through, from, to, _models: PhantomData }
    }

    /// The `B`s linked to each `A`, in the `A`s' order; within one in `B`'s key order. One
    /// statement (a join with the association table) per chunk of distinct keys. Soft-deleted
    /// `B`s are left out.
    pub async fn load<R: Borrow<A>>(&self, db: &impl Executor, rows: &[R]) -> Result<Vec<Vec<B>>>
    where
        B: Clone,
    {
        let (a_at, a_key) = single_key::<A>()?;
        let (_, b_key) = single_key::<B>()?;
        let dialect = db.dialect();
        let q = |s: &str| dialect.quote(s);
        let columns: Vec<String> = B::TABLE.columns.iter().map(|c| format!("b.{}", q(c.name))).collect();
        let live = B::TABLE.soft_delete().map(|c| format!(" AND b.{} IS NULL", q(c.name))).unwrap_or_default();
        let keys = distinct_values(rows.iter().map(Borrow::borrow), a_at);
        let mut groups: Map<Vec<B>> = Map::with_capacity_and_hasher(keys.len(), Default::default());
        for chunk in keys.chunks(chunk_size(db)) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT t.{from}, {cols} FROM {b} b INNER JOIN {t} t ON t.{to} = b.{bk} WHERE t.{from} IN ({marks}){live} ORDER BY t.{from}, b.{bk}",
                from = q(self.from),
                cols = columns.join(", "),
                b = q(B::TABLE.name),
                t = q(self.through),
                to = q(self.to),
                bk = q(b_key.meta.name),
            );
            let sql = number_placeholders(&sql, dialect);
            let values = chunk.iter().map(|v| v.to_sea(dialect, Some(&a_key.meta.ty), self.from)).collect::<Result<Vec<_>>>()?;
            for row in db.fetch_rows(Statement::new(sql, values)).await? {
                let key = link_key(&row, a_key, dialect)?;
                groups.entry(key).or_default().push(B::decode(&row, 1)?);
            }
        }
        let keys = rows.iter().map(|r| stored_key(r.borrow().column_value(a_at), dialect, a_key)).collect::<Result<Vec<_>>>()?;
        Ok(aligned(keys, groups))
    }

    /// Link `a` and `b` (insert the association row). Linking a linked pair again is the
    /// association table's unique violation.
    pub async fn link(&self, db: &impl Executor, a: &A, b: &B) -> Result<()> {
        let (sql, values) = self.pair_statement(db, a, b, |t, from, to| format!("INSERT INTO {t} ({from}, {to}) VALUES (?, ?)"))?;
        db.execute_statement(Statement::new(sql, values)).await?;
        Ok(())
    }

    /// Unlink `a` and `b`; true when they were linked.
    pub async fn unlink(&self, db: &impl Executor, a: &A, b: &B) -> Result<bool> {
        let (sql, values) = self.pair_statement(db, a, b, |t, from, to| format!("DELETE FROM {t} WHERE {from} = ? AND {to} = ?"))?;
        Ok(db.execute_statement(Statement::new(sql, values)).await?.rows_affected > 0)
    }

    fn pair_statement(
        &self,
        db: &impl Executor,
        a: &A,
        b: &B,
        sql: impl Fn(&str, &str, &str) -> String,
    ) -> Result<(String, Vec<sea_query::Value>)> {
        let (a_at, a_key) = single_key::<A>()?;
        let (b_at, b_key) = single_key::<B>()?;
        let dialect = db.dialect();
        let q = |s: &str| dialect.quote(s);
        let text = number_placeholders(&sql(&q(self.through), &q(self.from), &q(self.to)), dialect);
        let values = vec![
            a.column_value(a_at).to_sea(dialect, Some(&a_key.meta.ty), self.from)?,
            b.column_value(b_at).to_sea(dialect, Some(&b_key.meta.ty), self.to)?,
        ];
        Ok((text, values))
    }
}

/// `?` placeholders as the dialect writes them (`$1, $2…` on PostgreSQL). The texts here are
/// built from quoted identifiers and `?` only, so every `?` is a placeholder.
fn number_placeholders(sql: &str, dialect: crate::Dialect) -> String {
    if dialect != crate::Dialect::Postgres {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

/// The `A` key in column 0 of a many-to-many row.
fn link_key(row: &DbRow, a_key: ColumnRef, dialect: crate::Dialect) -> Result<KeyOf> {
    stored_key(row.value(0)?, dialect, a_key)?.ok_or_else(|| Error::decode(a_key.meta.name, "NULL key in the association table"))
}

/// A key in the form the database stores it (a date is text on SQLite, a decimal text at
/// its scale…), so a key read back untyped from the association table matches the model's.
fn stored_key(v: Value, dialect: crate::Dialect, column: ColumnRef) -> Result<Option<KeyOf>> {
    use sea_query::Value as S;
    if v.is_null() {
        return Ok(None);
    }
    Ok(Some(match v.into_sea(dialect, Some(&column.meta.ty), column.meta.name)? {
        S::BigInt(Some(i)) => KeyOf::Int(i),
        S::Int(Some(i)) => KeyOf::Int(i.into()),
        S::SmallInt(Some(i)) => KeyOf::Int(i.into()),
        S::String(Some(t)) => KeyOf::Text(t),
        S::Bytes(Some(b)) => KeyOf::Bytes(b),
        S::Uuid(Some(u)) => KeyOf::Bytes(u.as_bytes().to_vec()),
        other => KeyOf::Other(format!("{other:?}")),
    }))
}
