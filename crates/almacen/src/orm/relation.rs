//! Relationships between models, declared as associated constants, and loaded for a whole
//! result set at once (no N+1): one extra statement per relation, chunked under the
//! dialect's parameter limit. Relations chain ([`Chain`]: a path of relations giving the
//! nested shape, one statement per level), load for one row (`load_one`), and include
//! soft-deleted targets on request (`with_deleted`).
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
//! struct Genre {
//!     #[model(primary_key, auto)] id: i64,
//!     #[model(max_len = 30)] name: String,
//!     #[model(soft_delete)] deleted_at: Option<DateTime<Utc>>,
//! }
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
//!     // From the link model's columns: checked when compiled.
//!     const GENRES: ManyToMany<Book, Genre> = ManyToMany::through(BookGenre::BOOK_ID, BookGenre::GENRE_ID);
//! }
//! impl Genre {
//!     // The other side of the same association; an association table without a model is
//!     // named instead: ManyToMany::new("book_genres", "genre_id", "book_id").
//!     const BOOKS: ManyToMany<Genre, Book> = ManyToMany::through(BookGenre::GENRE_ID, BookGenre::BOOK_ID);
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
//! let db = Database::connect("sqlite::memory:").await?;
//! db.create_tables(&[Author::TABLE, Book::TABLE, Genre::TABLE, BookGenre::TABLE]).await?;
//! let ursula = Author::insert(&db, NewAuthor { name: "Ursula".into() }).await?;
//! let book = Book::insert(&db, NewBook { author_id: ursula.id, title: "The Dispossessed".into() }).await?;
//! let sf = Genre::insert(&db, NewGenre { name: "SF".into() }).await?;
//! let utopia = Genre::insert(&db, NewGenre { name: "Utopia".into() }).await?;
//! Book::GENRES.link(&db, &book, &sf).await?;
//! Book::GENRES.link(&db, &book, &utopia).await?;
//!
//! let authors = Author::select().fetch_all(&db).await?;
//! let books = Author::BOOKS.load(&db, &authors).await?; // one statement for all authors
//! assert_eq!(books[0][0].title, "The Dispossessed");
//! let genres = Book::GENRES.load(&db, &books[0]).await?;
//! assert_eq!(genres[0][0].name, "SF");
//! let by = Book::AUTHOR.load(&db, &books[0]).await?;
//! assert_eq!(by[0].as_ref().map(|a| a.name.as_str()), Some("Ursula"));
//!
//! // Chained: per author, its books each with its genres; one statement per level.
//! let shelves: Vec<Vec<(Book, Vec<Genre>)>> = Author::BOOKS.then(Book::GENRES).load(&db, &authors).await?;
//! assert_eq!(shelves[0][0].1.len(), 2);
//!
//! // For one row; a soft-deleted genre is left out unless asked for.
//! utopia.delete(&db).await?;
//! assert_eq!(Book::GENRES.load_one(&db, &book).await?.len(), 1);
//! let all = Author::BOOKS.then(Book::GENRES.with_deleted()).load_one(&db, &ursula).await?;
//! assert_eq!(all[0].1.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["SF", "Utopia"]);
//! # Ok(()) }
//! ```

use crate::data::dialect::Dialect;
use crate::data::error::{Error, Result};
use crate::data::model::{ColumnMeta, ColumnType, Managed, Model};
use crate::data::row::DbRow;
use crate::data::types::SqlType;
use crate::data::value::Value;
use crate::engine::executor::Executor;
use crate::engine::statement::Statement;
use crate::orm::crud::DeleteWhere;
use crate::sql::query::{CmpOp, Column, ColumnRef, Condition, OrderBy, Select};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
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

/// The one result a load for one row gives (loads give exactly one per row).
fn only<T>(mut results: Vec<T>) -> T {
    debug_assert_eq!(results.len(), 1, "a load gives one result per row");
    results.pop().expect("a load gives one result per row")
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
    with_deleted: bool,
    _models: PhantomData<fn() -> (C, P)>,
}

copy_without_bounds!(BelongsTo);

impl<C: Model, P: Model> BelongsTo<C, P> {
    /// The relation through `fk`, a column of `C` holding `P`'s primary key (nullable or not).
    pub const fn new<T: SqlType<Inner = P::Key>>(fk: Column<C, T>) -> Self
    where
        P::Key: SqlType,
    {
        BelongsTo { fk: fk.position(), with_deleted: false, _models: PhantomData }
    }

    /// The same relation, loading soft-deleted parents too: an order item still shows its
    /// since-deleted product. By default a soft-deleted parent loads as `None`, like a
    /// missing one. Also in [`fetch_joined`](Self::fetch_joined) and in chains.
    ///
    /// ```
    /// # use almacen::prelude::*;
    /// # use almacen::BelongsTo;
    /// # #[derive(Model, Debug, Clone)] #[model(table = "products")]
    /// # struct Product { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String,
    /// #     #[model(soft_delete)] deleted_at: Option<DateTime<Utc>> }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(references = "products.id")] product_id: i64, qty: i32 }
    /// impl Item {
    ///     const PRODUCT: BelongsTo<Item, Product> = BelongsTo::new(Item::PRODUCT_ID);
    ///     // Or declared once for good: BelongsTo::new(Item::PRODUCT_ID).with_deleted()
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_tables(&[Product::TABLE, Item::TABLE]).await?;
    /// let lamp = Product::insert(&db, NewProduct { name: "Lamp".into() }).await?;
    /// let item = Item::insert(&db, NewItem { product_id: lamp.id, qty: 2 }).await?;
    /// lamp.delete(&db).await?; // soft delete: no longer sold
    ///
    /// assert!(Item::PRODUCT.load_one(&db, &item).await?.is_none());
    /// let sold = Item::PRODUCT.with_deleted().load_one(&db, &item).await?.unwrap();
    /// assert_eq!(sold.name, "Lamp");
    /// assert!(sold.deleted_at.is_some());
    /// # Ok(()) }
    /// ```
    pub const fn with_deleted(self) -> Self {
        BelongsTo { with_deleted: true, ..self }
    }

    /// The parent of each child, in the children's order (`None` where the key is NULL or
    /// the parent is gone or soft-deleted, unless [`with_deleted`](Self::with_deleted)). One
    /// statement per chunk of distinct keys; none for no keys.
    pub async fn load<B: Borrow<C>>(&self, db: &impl Executor, children: &[B]) -> Result<Vec<Option<P>>>
    where
        P: Clone,
    {
        let (key_at, key) = single_key::<P>()?;
        let wanted = distinct_values(children.iter().map(Borrow::borrow), self.fk);
        let mut parents: Map<P> = Map::with_capacity_and_hasher(wanted.len(), Default::default());
        let query = if self.with_deleted { Select::<P>::new().with_deleted() } else { Select::<P>::new() };
        for chunk in wanted.chunks(chunk_size(db)) {
            for p in query.clone().filter(is_in(key, chunk)).fetch_all(db).await? {
                if let Some(k) = KeyOf::of(&p.column_value(key_at)) {
                    parents.insert(k, p);
                }
            }
        }
        Ok(children.iter().map(|c| KeyOf::of(&c.borrow().column_value(self.fk)).and_then(|k| parents.get(&k).cloned())).collect())
    }

    /// The parent of one child: [`load`](Self::load) for one row (no statement when its
    /// key is NULL).
    ///
    /// ```
    /// # use almacen::prelude::*;
    /// # use almacen::BelongsTo;
    /// # #[derive(Model, Debug, Clone)] #[model(table = "authors")]
    /// # struct Author { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "books")]
    /// # struct Book { #[model(primary_key, auto)] id: i64, #[model(references = "authors.id")] author_id: Option<i64>, #[model(max_len = 99)] title: String }
    /// impl Book {
    ///     const AUTHOR: BelongsTo<Book, Author> = BelongsTo::new(Book::AUTHOR_ID);
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_tables(&[Author::TABLE, Book::TABLE]).await?;
    /// let ursula = Author::insert(&db, NewAuthor { name: "Ursula".into() }).await?;
    /// let book = Book::insert(&db, NewBook { author_id: Some(ursula.id), title: "Lathe".into() }).await?;
    /// let anonymous = Book::insert(&db, NewBook { author_id: None, title: "Beowulf".into() }).await?;
    /// assert_eq!(Book::AUTHOR.load_one(&db, &book).await?.map(|a| a.name), Some("Ursula".into()));
    /// assert!(Book::AUTHOR.load_one(&db, &anonymous).await?.is_none());
    /// # Ok(()) }
    /// ```
    pub async fn load_one(&self, db: &impl Executor, child: &C) -> Result<Option<P>>
    where
        P: Clone,
    {
        Ok(only(self.load(db, std::slice::from_ref(child)).await?))
    }

    /// `query`'s children each with its parent, in one statement (a LEFT JOIN).
    pub async fn fetch_joined(&self, db: &impl Executor, query: Select<C>) -> Result<Vec<(C, Option<P>)>> {
        let (_, key) = single_key::<P>()?;
        let fk = fk_column::<C>(self.fk);
        let on = Condition::Columns(fk, CmpOp::Eq, key);
        let query = if self.with_deleted { query.left_join_with_deleted::<P>(on) } else { query.left_join::<P>(on) };
        query.fetch_left_joined::<P>(db).await
    }

    /// This relation, then `next` for each parent it reaches: see [`Chain`].
    ///
    /// ```
    /// # use almacen::prelude::*;
    /// # use almacen::{BelongsTo, HasMany};
    /// # #[derive(Model, Debug, Clone)] #[model(table = "authors")]
    /// # struct Author { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "books")]
    /// # struct Book { #[model(primary_key, auto)] id: i64, #[model(references = "authors.id")] author_id: i64, #[model(max_len = 99)] title: String }
    /// # impl Author { const BOOKS: HasMany<Author, Book> = HasMany::new(Book::AUTHOR_ID); }
    /// # impl Book { const AUTHOR: BelongsTo<Book, Author> = BelongsTo::new(Book::AUTHOR_ID); }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_tables(&[Author::TABLE, Book::TABLE]).await?;
    /// # let ursula = Author::insert(&db, NewAuthor { name: "Ursula".into() }).await?;
    /// # for title in ["Lathe", "Tehanu"] { Book::insert(&db, NewBook { author_id: ursula.id, title: title.into() }).await?; }
    /// let book = Book::select().fetch_all(&db).await?.remove(0);
    /// // The book's author, with all the author's books: two statements.
    /// let (author, books) = Book::AUTHOR.then(Author::BOOKS).load_one(&db, &book).await?.unwrap();
    /// assert_eq!(author.name, "Ursula");
    /// assert_eq!(books.len(), 2);
    /// # Ok(()) }
    /// ```
    pub fn then<N: Load<From = P>>(self, next: N) -> Chain<Self, N>
    where
        P: Clone,
    {
        Chain { first: self, next }
    }
}

/// A to-many relation from parent `P` to the children `C` whose foreign key column holds
/// `P`'s primary key (`users.id ← posts.user_id`).
pub struct HasMany<P, C> {
    fk: usize,
    with_deleted: bool,
    _models: PhantomData<fn() -> (P, C)>,
}

copy_without_bounds!(HasMany);

impl<P: Model, C: Model> HasMany<P, C> {
    /// The relation through `fk`, a column of `C` holding `P`'s primary key.
    pub const fn new<T: SqlType<Inner = P::Key>>(fk: Column<C, T>) -> Self
    where
        P::Key: SqlType,
    {
        HasMany { fk: fk.position(), with_deleted: false, _models: PhantomData }
    }

    /// The same relation, loading soft-deleted children too (by default they are left
    /// out). In [`load_with`](Self::load_with) it applies when the query itself hides
    /// deleted rows (the default); a query's `only_deleted()` is kept.
    ///
    /// ```
    /// # use almacen::prelude::*;
    /// # use almacen::HasMany;
    /// # #[derive(Model, Debug, Clone)] #[model(table = "posts")]
    /// # struct Post { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] title: String }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "comments")]
    /// # struct Comment { #[model(primary_key, auto)] id: i64, #[model(references = "posts.id")] post_id: i64,
    /// #     #[model(max_len = 99)] body: String, #[model(soft_delete)] deleted_at: Option<DateTime<Utc>> }
    /// impl Post {
    ///     const COMMENTS: HasMany<Post, Comment> = HasMany::new(Comment::POST_ID);
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_tables(&[Post::TABLE, Comment::TABLE]).await?;
    /// let post = Post::insert(&db, NewPost { title: "Hello".into() }).await?;
    /// let spam = Comment::insert(&db, NewComment { post_id: post.id, body: "buy now".into() }).await?;
    /// Comment::insert(&db, NewComment { post_id: post.id, body: "welcome".into() }).await?;
    /// spam.delete(&db).await?; // moderated away
    /// assert_eq!(Post::COMMENTS.load_one(&db, &post).await?.len(), 1);
    /// assert_eq!(Post::COMMENTS.with_deleted().load_one(&db, &post).await?.len(), 2);
    /// # Ok(()) }
    /// ```
    pub const fn with_deleted(self) -> Self {
        HasMany { with_deleted: true, ..self }
    }

    /// The children of each parent, in the parents' order; within a parent in `C`'s
    /// primary-key order. One statement per chunk of distinct keys; none for no parents.
    pub async fn load<B: Borrow<P>>(&self, db: &impl Executor, parents: &[B]) -> Result<Vec<Vec<C>>>
    where
        C: Clone,
    {
        self.load_with(db, parents, Select::new()).await
    }

    /// The children of one parent, in `C`'s primary-key order: [`load`](Self::load) for
    /// one row.
    ///
    /// ```
    /// # use almacen::prelude::*;
    /// # use almacen::HasMany;
    /// # #[derive(Model, Debug, Clone)] #[model(table = "authors")]
    /// # struct Author { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "books")]
    /// # struct Book { #[model(primary_key, auto)] id: i64, #[model(references = "authors.id")] author_id: i64, #[model(max_len = 99)] title: String }
    /// impl Author {
    ///     const BOOKS: HasMany<Author, Book> = HasMany::new(Book::AUTHOR_ID);
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_tables(&[Author::TABLE, Book::TABLE]).await?;
    /// let ursula = Author::insert(&db, NewAuthor { name: "Ursula".into() }).await?;
    /// Book::insert(&db, NewBook { author_id: ursula.id, title: "Lathe".into() }).await?;
    /// let books: Vec<Book> = Author::BOOKS.load_one(&db, &ursula).await?;
    /// assert_eq!(books[0].title, "Lathe");
    /// # Ok(()) }
    /// ```
    pub async fn load_one(&self, db: &impl Executor, parent: &P) -> Result<Vec<C>>
    where
        C: Clone,
    {
        Ok(only(self.load(db, std::slice::from_ref(parent)).await?))
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
        let query = if self.with_deleted && query.hides_deleted() { query.with_deleted() } else { query };
        let (child_key_at, child_key) = single_key::<C>()?;
        let fk = fk_column::<C>(self.fk);
        let keys = distinct_values(parents.iter().map(Borrow::borrow), key_at);
        // Integer keys are put in order here (below); any other key type is ordered by the
        // database, whose collation decides.
        let int_key = matches!(child_key.meta.ty, ColumnType::SmallInt | ColumnType::Integer | ColumnType::BigInt);
        let unordered = query.order_keys().is_empty();
        let query = if unordered && !int_key { query.order_by(OrderBy { column: child_key, descending: false }) } else { query };
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

    /// This relation, then `next` for each child it reaches: see [`Chain`].
    ///
    /// ```
    /// # use almacen::prelude::*;
    /// # use almacen::HasMany;
    /// # #[derive(Model, Debug, Clone)] #[model(table = "authors")]
    /// # struct Author { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "books")]
    /// # struct Book { #[model(primary_key, auto)] id: i64, #[model(references = "authors.id")] author_id: i64, #[model(max_len = 99)] title: String }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "reviews")]
    /// # struct Review { #[model(primary_key, auto)] id: i64, #[model(references = "books.id")] book_id: i64, stars: i32 }
    /// impl Author {
    ///     const BOOKS: HasMany<Author, Book> = HasMany::new(Book::AUTHOR_ID);
    /// }
    /// impl Book {
    ///     const REVIEWS: HasMany<Book, Review> = HasMany::new(Review::BOOK_ID);
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_tables(&[Author::TABLE, Book::TABLE, Review::TABLE]).await?;
    /// # let ursula = Author::insert(&db, NewAuthor { name: "Ursula".into() }).await?;
    /// # let lathe = Book::insert(&db, NewBook { author_id: ursula.id, title: "Lathe".into() }).await?;
    /// # Review::insert(&db, NewReview { book_id: lathe.id, stars: 5 }).await?;
    /// let authors = Author::select().fetch_all(&db).await?;
    /// // Per author, its books each with its reviews: one statement per level.
    /// let shelves: Vec<Vec<(Book, Vec<Review>)>> = Author::BOOKS.then(Book::REVIEWS).load(&db, &authors).await?;
    /// for (author, books) in authors.iter().zip(&shelves) {
    ///     for (book, reviews) in books {
    ///         println!("{}: {} ({} reviews)", author.name, book.title, reviews.len());
    ///     }
    /// }
    /// assert_eq!(shelves[0][0].1[0].stars, 5);
    /// # Ok(()) }
    /// ```
    pub fn then<N: Load<From = C>>(self, next: N) -> Chain<Self, N>
    where
        C: Clone,
    {
        Chain { first: self, next }
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
        Ok(DeleteWhere::<C>::new(mine).execute(db).await? > 0)
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
            n += DeleteWhere::<C>::new(is_in(fk, chunk)).execute(db).await?;
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
        crate::orm::crud::delete::<P>(db, &parent.key()).await
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

    /// The same relation, loading a soft-deleted child too (by default it loads as `None`).
    ///
    /// ```
    /// # use almacen::prelude::*;
    /// # use almacen::HasOne;
    /// # #[derive(Model, Debug, Clone)] #[model(table = "users")]
    /// # struct User { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "profiles")]
    /// # struct Profile { #[model(primary_key, auto)] id: i64, #[model(unique, references = "users.id")] user_id: i64,
    /// #     #[model(max_len = 99)] bio: String, #[model(soft_delete)] deleted_at: Option<DateTime<Utc>> }
    /// impl User {
    ///     const PROFILE: HasOne<User, Profile> = HasOne::new(Profile::USER_ID);
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_tables(&[User::TABLE, Profile::TABLE]).await?;
    /// let ann = User::insert(&db, NewUser { name: "Ann".into() }).await?;
    /// Profile::insert(&db, NewProfile { user_id: ann.id, bio: "hi".into() }).await?.delete(&db).await?;
    /// assert!(User::PROFILE.load_one(&db, &ann).await?.is_none());
    /// assert!(User::PROFILE.with_deleted().load_one(&db, &ann).await?.is_some());
    /// # Ok(()) }
    /// ```
    pub const fn with_deleted(self) -> Self {
        HasOne { many: self.many.with_deleted() }
    }

    /// The child of each parent, in the parents' order (`None` where there is none).
    pub async fn load<B: Borrow<P>>(&self, db: &impl Executor, parents: &[B]) -> Result<Vec<Option<C>>>
    where
        C: Clone,
    {
        Ok(self.many.load(db, parents).await?.into_iter().map(|mut v| if v.is_empty() { None } else { Some(v.swap_remove(0)) }).collect())
    }

    /// The child of one parent: [`load`](Self::load) for one row.
    ///
    /// ```
    /// # use almacen::prelude::*;
    /// # use almacen::HasOne;
    /// # #[derive(Model, Debug, Clone)] #[model(table = "users")]
    /// # struct User { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "profiles")]
    /// # struct Profile { #[model(primary_key, auto)] id: i64, #[model(unique, references = "users.id")] user_id: i64, #[model(max_len = 99)] bio: String }
    /// impl User {
    ///     const PROFILE: HasOne<User, Profile> = HasOne::new(Profile::USER_ID);
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_tables(&[User::TABLE, Profile::TABLE]).await?;
    /// let ann = User::insert(&db, NewUser { name: "Ann".into() }).await?;
    /// assert!(User::PROFILE.load_one(&db, &ann).await?.is_none());
    /// Profile::insert(&db, NewProfile { user_id: ann.id, bio: "hi".into() }).await?;
    /// assert_eq!(User::PROFILE.load_one(&db, &ann).await?.map(|p| p.bio), Some("hi".into()));
    /// # Ok(()) }
    /// ```
    pub async fn load_one(&self, db: &impl Executor, parent: &P) -> Result<Option<C>>
    where
        C: Clone,
    {
        Ok(only(self.load(db, std::slice::from_ref(parent)).await?))
    }

    /// This relation, then `next` for each child it reaches: see [`Chain`].
    ///
    /// ```
    /// # use almacen::prelude::*;
    /// # use almacen::{HasMany, HasOne};
    /// # #[derive(Model, Debug, Clone)] #[model(table = "users")]
    /// # struct User { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "carts")]
    /// # struct Cart { #[model(primary_key, auto)] id: i64, #[model(unique, references = "users.id")] user_id: i64 }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "lines")]
    /// # struct Line { #[model(primary_key, auto)] id: i64, #[model(references = "carts.id")] cart_id: i64, qty: i32 }
    /// impl User {
    ///     const CART: HasOne<User, Cart> = HasOne::new(Cart::USER_ID);
    /// }
    /// impl Cart {
    ///     const LINES: HasMany<Cart, Line> = HasMany::new(Line::CART_ID);
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_tables(&[User::TABLE, Cart::TABLE, Line::TABLE]).await?;
    /// let ann = User::insert(&db, NewUser { name: "Ann".into() }).await?;
    /// let cart = Cart::insert(&db, NewCart { user_id: ann.id }).await?;
    /// Line::insert(&db, NewLine { cart_id: cart.id, qty: 3 }).await?;
    /// let (cart, lines): (Cart, Vec<Line>) = User::CART.then(Cart::LINES).load_one(&db, &ann).await?.unwrap();
    /// assert_eq!((cart.user_id, lines[0].qty), (ann.id, 3));
    /// # Ok(()) }
    /// ```
    pub fn then<N: Load<From = C>>(self, next: N) -> Chain<Self, N>
    where
        C: Clone,
    {
        Chain { first: self, next }
    }
}

/// A many-to-many relation from `A` to `B` through an association table holding both
/// primary keys, with or without a model of its own. Declare one on each side (with the
/// columns swapped) to use it from both: with [`through`](Self::through) from the link
/// model's column constants, or with [`new`](Self::new) from names. The association table
/// is used as two key columns: `link` inserts only those (other columns need defaults),
/// `unlink` deletes the row, and a link model's own managed columns (timestamps, soft
/// delete) are not maintained; a link row marked deleted is not followed when the relation
/// was declared with `through`.
pub struct ManyToMany<A, B> {
    through: &'static str,
    from: &'static str,
    to: &'static str,
    /// The link model's soft-delete column (known with `through`).
    link_deleted: Option<&'static str>,
    with_deleted: bool,
    _models: PhantomData<fn() -> (A, B)>,
}

copy_without_bounds!(ManyToMany);

/// `a == b`, in a `const fn`.
const fn same_str(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `column` may hold `M`'s key: it references `M`'s single primary-key column, or
/// declares no reference (its type is `M`'s key type, checked by the compiler). A model
/// without a single-column key passes here and is refused by the load.
const fn may_reference<M: Model>(column: &ColumnMeta) -> bool {
    let Some(fk) = column.references else { return true };
    if !same_str(fk.table, M::TABLE.name) {
        return false;
    }
    let columns = M::TABLE.columns;
    let (mut i, mut keys, mut key) = (0, 0, "");
    while i < columns.len() {
        if columns[i].primary_key {
            keys += 1;
            key = columns[i].name;
        }
        i += 1;
    }
    keys != 1 || same_str(fk.column, key)
}

/// The soft-delete column of `L`, in a `const fn`.
const fn soft_delete_column<L: Model>() -> Option<&'static str> {
    let columns = L::TABLE.columns;
    let mut i = 0;
    while i < columns.len() {
        if matches!(columns[i].managed, Managed::DeletedAt) {
            return Some(columns[i].name);
        }
        i += 1;
    }
    None
}

impl<A: Model, B: Model> ManyToMany<A, B> {
    /// The relation through table `through`, whose column `from` holds `A`'s key and `to`
    /// holds `B`'s. Nothing here is checked against the models; prefer
    /// [`through`](Self::through) when the association table has a model.
    pub const fn new(through: &'static str, from: &'static str, to: &'static str) -> Self {
        ManyToMany { through, from, to, link_deleted: None, with_deleted: false, _models: PhantomData }
    }

    /// The relation through the link model of `from` and `to`: `from` holds `A`'s key and
    /// `to` holds `B`'s. The compiler checks that both are columns of one model and that
    /// their types are `A`'s and `B`'s key types; where a column declares
    /// `references = "table.column"`, it must name `A`'s (for `from`) or `B`'s (for `to`)
    /// primary key, checked when the constant is compiled.
    ///
    /// ```
    /// # use almacen::prelude::*;
    /// use almacen::ManyToMany;
    /// # #[derive(Model, Debug, Clone)] #[model(table = "books")]
    /// # struct Book { #[model(primary_key, auto)] id: i64, #[model(max_len = 99)] title: String }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "genres")]
    /// # struct Genre { #[model(primary_key, auto)] id: i64, #[model(max_len = 30)] name: String }
    /// #[derive(Model, Debug, Clone)]
    /// #[model(table = "book_genres", composite)]
    /// struct BookGenre {
    ///     #[model(primary_key, references = "books.id")] book_id: i64,
    ///     #[model(primary_key, references = "genres.id")] genre_id: i64,
    /// }
    /// impl Book {
    ///     const GENRES: ManyToMany<Book, Genre> = ManyToMany::through(BookGenre::BOOK_ID, BookGenre::GENRE_ID);
    /// }
    /// impl Genre {
    ///     const BOOKS: ManyToMany<Genre, Book> = ManyToMany::through(BookGenre::GENRE_ID, BookGenre::BOOK_ID);
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_tables(&[Book::TABLE, Genre::TABLE, BookGenre::TABLE]).await?;
    /// let book = Book::insert(&db, NewBook { title: "Lathe".into() }).await?;
    /// let sf = Genre::insert(&db, NewGenre { name: "SF".into() }).await?;
    /// Book::GENRES.link(&db, &book, &sf).await?;
    /// assert_eq!(Genre::BOOKS.load_one(&db, &sf).await?[0].title, "Lathe");
    /// # Ok(()) }
    /// ```
    ///
    /// The columns swapped (each references the other side's key) do not compile:
    ///
    /// ```compile_fail
    /// # use almacen::prelude::*;
    /// # use almacen::ManyToMany;
    /// # #[derive(Model, Debug, Clone)] #[model(table = "books")]
    /// # struct Book { #[model(primary_key, auto)] id: i64 }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "genres")]
    /// # struct Genre { #[model(primary_key, auto)] id: i64 }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "book_genres", composite)]
    /// # struct BookGenre { #[model(primary_key, references = "books.id")] book_id: i64,
    /// #     #[model(primary_key, references = "genres.id")] genre_id: i64 }
    /// impl Book {
    ///     const GENRES: ManyToMany<Book, Genre> = ManyToMany::through(BookGenre::GENRE_ID, BookGenre::BOOK_ID);
    /// }
    /// # fn main() { let _ = Book::GENRES; }
    /// ```
    ///
    /// Nor do columns of two different models, or of another type than the keys':
    ///
    /// ```compile_fail
    /// # use almacen::prelude::*;
    /// # use almacen::ManyToMany;
    /// # #[derive(Model, Debug, Clone)] #[model(table = "books")]
    /// # struct Book { #[model(primary_key, auto)] id: i64, #[model(max_len = 9)] isbn: String }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "genres")]
    /// # struct Genre { #[model(primary_key, auto)] id: i64 }
    /// impl Book {
    ///     // `Book::ISBN` is text, not Book's `i64` key, and not a column of `Genre`.
    ///     const GENRES: ManyToMany<Book, Genre> = ManyToMany::through(Book::ISBN, Genre::ID);
    /// }
    /// # fn main() { let _ = Book::GENRES; }
    /// ```
    ///
    /// # Panics
    ///
    /// When a column references another table or column than the key it must hold, or both
    /// are the same column: a compile error for a constant (as above), a panic when called
    /// at run time.
    pub const fn through<L: Model, T: SqlType<Inner = A::Key>, U: SqlType<Inner = B::Key>>(from: Column<L, T>, to: Column<L, U>) -> Self
    where
        A::Key: SqlType,
        B::Key: SqlType,
    {
        let columns = L::TABLE.columns;
        let (f, t) = (&columns[from.position()], &columns[to.position()]);
        assert!(from.position() != to.position(), "ManyToMany::through: both columns are the same column of the association model");
        assert!(
            may_reference::<A>(f),
            "ManyToMany::through: the first column's `references` names another key than the primary key of A, the model the relation starts from (columns swapped?)"
        );
        assert!(
            may_reference::<B>(t),
            "ManyToMany::through: the second column's `references` names another key than the primary key of B, the model the relation reaches (columns swapped?)"
        );
        ManyToMany {
            through: L::TABLE.name,
            from: f.name,
            to: t.name,
            link_deleted: soft_delete_column::<L>(),
            with_deleted: false,
            _models: PhantomData,
        }
    }

    /// The same relation, loading soft-deleted `B`s too (by default they are left out).
    /// Link rows of a link model marked deleted stay unfollowed: they mean "unlinked".
    ///
    /// ```
    /// # use almacen::prelude::*;
    /// # use almacen::ManyToMany;
    /// # #[derive(Model, Debug, Clone)] #[model(table = "books")]
    /// # struct Book { #[model(primary_key, auto)] id: i64, #[model(max_len = 99)] title: String }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "genres")]
    /// # struct Genre { #[model(primary_key, auto)] id: i64, #[model(max_len = 30)] name: String,
    /// #     #[model(soft_delete)] deleted_at: Option<DateTime<Utc>> }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "book_genres", composite)]
    /// # struct BookGenre { #[model(primary_key, references = "books.id")] book_id: i64,
    /// #     #[model(primary_key, references = "genres.id")] genre_id: i64 }
    /// impl Book {
    ///     const GENRES: ManyToMany<Book, Genre> = ManyToMany::through(BookGenre::BOOK_ID, BookGenre::GENRE_ID);
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_tables(&[Book::TABLE, Genre::TABLE, BookGenre::TABLE]).await?;
    /// let book = Book::insert(&db, NewBook { title: "Lathe".into() }).await?;
    /// let sf = Genre::insert(&db, NewGenre { name: "SF".into() }).await?;
    /// Book::GENRES.link(&db, &book, &sf).await?;
    /// sf.delete(&db).await?;
    /// assert!(Book::GENRES.load_one(&db, &book).await?.is_empty());
    /// assert_eq!(Book::GENRES.with_deleted().load_one(&db, &book).await?[0].name, "SF");
    /// # Ok(()) }
    /// ```
    pub const fn with_deleted(self) -> Self {
        ManyToMany { with_deleted: true, ..self }
    }

    /// The `B`s linked to each `A`, in the `A`s' order; within one in `B`'s key order. One
    /// statement (a join with the association table) per chunk of distinct keys; none for
    /// no rows. Soft-deleted `B`s are left out unless [`with_deleted`](Self::with_deleted).
    pub async fn load<R: Borrow<A>>(&self, db: &impl Executor, rows: &[R]) -> Result<Vec<Vec<B>>>
    where
        B: Clone,
    {
        let (a_at, a_key) = single_key::<A>()?;
        let (_, b_key) = single_key::<B>()?;
        let dialect = db.dialect();
        let q = |s: &str| dialect.quote(s);
        let columns: Vec<String> = B::TABLE.columns.iter().map(|c| format!("b.{}", q(c.name))).collect();
        let mut live = match B::TABLE.soft_delete() {
            Some(c) if !self.with_deleted => format!(" AND b.{} IS NULL", q(c.name)),
            _ => String::new(),
        };
        if let Some(c) = self.link_deleted {
            live.push_str(&format!(" AND t.{} IS NULL", q(c)));
        }
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

    /// The `B`s linked to one `A`, in `B`'s key order: [`load`](Self::load) for one row.
    ///
    /// ```
    /// # use almacen::prelude::*;
    /// # use almacen::ManyToMany;
    /// # #[derive(Model, Debug, Clone)] #[model(table = "books")]
    /// # struct Book { #[model(primary_key, auto)] id: i64, #[model(max_len = 99)] title: String }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "genres")]
    /// # struct Genre { #[model(primary_key, auto)] id: i64, #[model(max_len = 30)] name: String }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "book_genres", composite)]
    /// # struct BookGenre { #[model(primary_key, references = "books.id")] book_id: i64,
    /// #     #[model(primary_key, references = "genres.id")] genre_id: i64 }
    /// impl Book {
    ///     const GENRES: ManyToMany<Book, Genre> = ManyToMany::through(BookGenre::BOOK_ID, BookGenre::GENRE_ID);
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_tables(&[Book::TABLE, Genre::TABLE, BookGenre::TABLE]).await?;
    /// let book = Book::insert(&db, NewBook { title: "Lathe".into() }).await?;
    /// for name in ["SF", "Fantasy"] {
    ///     let genre = Genre::insert(&db, NewGenre { name: name.into() }).await?;
    ///     Book::GENRES.link(&db, &book, &genre).await?;
    /// }
    /// let genres: Vec<Genre> = Book::GENRES.load_one(&db, &book).await?;
    /// assert_eq!(genres.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["SF", "Fantasy"]);
    /// # Ok(()) }
    /// ```
    pub async fn load_one(&self, db: &impl Executor, row: &A) -> Result<Vec<B>>
    where
        B: Clone,
    {
        Ok(only(self.load(db, std::slice::from_ref(row)).await?))
    }

    /// This relation, then `next` for each `B` it reaches: see [`Chain`].
    ///
    /// ```
    /// # use almacen::prelude::*;
    /// # use almacen::{HasMany, ManyToMany};
    /// # #[derive(Model, Debug, Clone)] #[model(table = "books")]
    /// # struct Book { #[model(primary_key, auto)] id: i64, #[model(max_len = 99)] title: String }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "genres")]
    /// # struct Genre { #[model(primary_key, auto)] id: i64, #[model(max_len = 30)] name: String }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "book_genres", composite)]
    /// # struct BookGenre { #[model(primary_key, references = "books.id")] book_id: i64,
    /// #     #[model(primary_key, references = "genres.id")] genre_id: i64 }
    /// impl Genre {
    ///     const BOOKS: ManyToMany<Genre, Book> = ManyToMany::through(BookGenre::GENRE_ID, BookGenre::BOOK_ID);
    /// }
    /// impl Book {
    ///     const GENRES: ManyToMany<Book, Genre> = ManyToMany::through(BookGenre::BOOK_ID, BookGenre::GENRE_ID);
    /// }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_tables(&[Book::TABLE, Genre::TABLE, BookGenre::TABLE]).await?;
    /// let sf = Genre::insert(&db, NewGenre { name: "SF".into() }).await?;
    /// let fantasy = Genre::insert(&db, NewGenre { name: "Fantasy".into() }).await?;
    /// let lathe = Book::insert(&db, NewBook { title: "Lathe".into() }).await?;
    /// Book::GENRES.link(&db, &lathe, &sf).await?;
    /// Book::GENRES.link(&db, &lathe, &fantasy).await?;
    /// // SF's books, each with all its genres.
    /// let books = Genre::BOOKS.then(Book::GENRES).load_one(&db, &sf).await?;
    /// assert_eq!(books[0].0.title, "Lathe");
    /// assert_eq!(books[0].1.len(), 2);
    /// # Ok(()) }
    /// ```
    pub fn then<N: Load<From = B>>(self, next: N) -> Chain<Self, N>
    where
        B: Clone,
    {
        Chain { first: self, next }
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

mod sealed {
    /// Only this module's relation types are relations and loads.
    pub trait Sealed {}
}

impl<X, Y> sealed::Sealed for BelongsTo<X, Y> {}
impl<X, Y> sealed::Sealed for HasMany<X, Y> {}
impl<X, Y> sealed::Sealed for HasOne<X, Y> {}
impl<X, Y> sealed::Sealed for ManyToMany<X, Y> {}
impl<X, Y> sealed::Sealed for Chain<X, Y> {}

/// One relation from model [`From`](Self::From) to model [`To`](Self::To): [`BelongsTo`],
/// [`HasOne`], [`HasMany`] or [`ManyToMany`] (the trait is sealed). It names what one row
/// gets — `Vec<T>` from a to-many relation, `Option<T>` from a to-one — so that a
/// [`Chain`] can give its nested shape; write code generic over relations with it.
///
/// ```
/// # use almacen::prelude::*;
/// use almacen::{HasMany, Relation};
/// # #[derive(Model, Debug, Clone)] #[model(table = "authors")]
/// # struct Author { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String }
/// # #[derive(Model, Debug, Clone)] #[model(table = "books")]
/// # struct Book { #[model(primary_key, auto)] id: i64, #[model(references = "authors.id")] author_id: i64, #[model(max_len = 99)] title: String }
/// # impl Author { const BOOKS: HasMany<Author, Book> = HasMany::new(Book::AUTHOR_ID); }
/// /// The table a relation reaches.
/// fn target_table<R: Relation>(_: R) -> &'static str {
///     <R::To as Model>::TABLE.name
/// }
/// assert_eq!(target_table(Author::BOOKS), "books");
/// let _: <HasMany<Author, Book> as Relation>::Each<Book> = Vec::new();
/// ```
pub trait Relation: sealed::Sealed + Copy + Send + Sync + 'static {
    /// The model the relation starts from.
    type From: Model;
    /// The model the relation reaches.
    type To: Model + Clone;
    /// What one `From` row gets: `Vec<T>` (to-many) or `Option<T>` (to-one).
    type Each<T: Send>: Send;

    /// The `To`s of each row, in the rows' order (at most one for a to-one relation).
    #[doc(hidden)]
    fn load_groups<E: Executor>(self, db: &E, rows: &[&Self::From]) -> impl Future<Output = Result<Vec<Vec<Self::To>>>> + Send;

    /// One row's group in this relation's shape.
    #[doc(hidden)]
    fn each<T: Send>(group: Vec<T>) -> Self::Each<T>;
}

impl<C: Model, P: Model + Clone> Relation for BelongsTo<C, P> {
    type From = C;
    type To = P;
    type Each<T: Send> = Option<T>;

    async fn load_groups<E: Executor>(self, db: &E, rows: &[&C]) -> Result<Vec<Vec<P>>> {
        Ok(self.load(db, rows).await?.into_iter().map(|p| p.into_iter().collect()).collect())
    }

    fn each<T: Send>(group: Vec<T>) -> Option<T> {
        group.into_iter().next()
    }
}

impl<P: Model, C: Model + Clone> Relation for HasMany<P, C> {
    type From = P;
    type To = C;
    type Each<T: Send> = Vec<T>;

    async fn load_groups<E: Executor>(self, db: &E, rows: &[&P]) -> Result<Vec<Vec<C>>> {
        self.load(db, rows).await
    }

    fn each<T: Send>(group: Vec<T>) -> Vec<T> {
        group
    }
}

impl<P: Model, C: Model + Clone> Relation for HasOne<P, C> {
    type From = P;
    type To = C;
    type Each<T: Send> = Option<T>;

    async fn load_groups<E: Executor>(self, db: &E, rows: &[&P]) -> Result<Vec<Vec<C>>> {
        // The first child only, as `load` gives, so the next level loads for it alone.
        let mut groups = self.many.load(db, rows).await?;
        groups.iter_mut().for_each(|g| g.truncate(1));
        Ok(groups)
    }

    fn each<T: Send>(group: Vec<T>) -> Option<T> {
        group.into_iter().next()
    }
}

impl<A: Model, B: Model + Clone> Relation for ManyToMany<A, B> {
    type From = A;
    type To = B;
    type Each<T: Send> = Vec<T>;

    async fn load_groups<E: Executor>(self, db: &E, rows: &[&A]) -> Result<Vec<Vec<B>>> {
        self.load(db, rows).await
    }

    fn each<T: Send>(group: Vec<T>) -> Vec<T> {
        group
    }
}

/// Something loaded for each row of model [`From`](Self::From): a [`Relation`] (each row
/// gets its related rows) or a [`Chain`] of them (each row gets its related rows, each
/// with what the rest of the chain loads for it). Sealed; what [`then`](HasMany::then)
/// takes.
///
/// ```
/// # use almacen::prelude::*;
/// use almacen::{BelongsTo, HasMany, Load};
/// # #[derive(Model, Debug, Clone)] #[model(table = "authors")]
/// # struct Author { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String }
/// # #[derive(Model, Debug, Clone)] #[model(table = "books")]
/// # struct Book { #[model(primary_key, auto)] id: i64, #[model(references = "authors.id")] author_id: i64, #[model(max_len = 99)] title: String }
/// # impl Author { const BOOKS: HasMany<Author, Book> = HasMany::new(Book::AUTHOR_ID); }
/// # impl Book { const AUTHOR: BelongsTo<Book, Author> = BelongsTo::new(Book::AUTHOR_ID); }
/// // What each author gets from a load of its books, each with its author.
/// type Shelf = <almacen::Chain<HasMany<Author, Book>, BelongsTo<Book, Author>> as Load>::Out;
/// let shelf: Shelf = Vec::<(Book, Option<Author>)>::new();
/// # let _ = (shelf, Author::BOOKS.then(Book::AUTHOR));
/// ```
pub trait Load: sealed::Sealed + Copy + Send + Sync + 'static {
    /// The model of the rows loaded for.
    type From: Model;
    /// The model the last relation reaches (where a further `then` starts).
    type Leaf: Model;
    /// What one row gets.
    type Out: Send;
    /// This load with `N` loaded for each of its leaves.
    type Then<N: Load<From = Self::Leaf>>: Load<From = Self::From, Leaf = N::Leaf>;

    /// What each row gets, in the rows' order.
    #[doc(hidden)]
    fn load_each<E: Executor>(self, db: &E, rows: &[&Self::From]) -> impl Future<Output = Result<Vec<Self::Out>>> + Send;

    /// This load with `next` loaded for each of its leaves.
    #[doc(hidden)]
    fn then_load<N: Load<From = Self::Leaf>>(self, next: N) -> Self::Then<N>;
}

impl<R: Relation> Load for R {
    type From = R::From;
    type Leaf = R::To;
    type Out = R::Each<R::To>;
    type Then<N: Load<From = R::To>> = Chain<R, N>;

    async fn load_each<E: Executor>(self, db: &E, rows: &[&R::From]) -> Result<Vec<Self::Out>> {
        Ok(self.load_groups(db, rows).await?.into_iter().map(R::each).collect())
    }

    fn then_load<N: Load<From = R::To>>(self, next: N) -> Chain<R, N> {
        Chain { first: self, next }
    }
}

/// A relation `R`, then the load `N` for each row it reaches: eager loading a path of
/// relations (like SQLAlchemy's `selectinload(User.posts).selectinload(Post.comments)`),
/// one statement per relation (per chunk of keys), whatever the number of rows. Each row
/// gets its related rows each paired with what `N` gives for it:
///
/// | chain | what each row gets |
/// | --- | --- |
/// | `Author::BOOKS.then(Book::REVIEWS)` | `Vec<(Book, Vec<Review>)>` |
/// | `Book::AUTHOR.then(Author::BOOKS)` | `Option<(Author, Vec<Book>)>` |
/// | `Author::BOOKS.then(Book::REVIEWS).then(Review::USER)` | `Vec<(Book, Vec<(Review, Option<User>)>)>` |
///
/// A further `then` reaches from the last model (`Review` above); the same chain is
/// `Author::BOOKS.then(Book::REVIEWS.then(Review::USER))`. Each relation keeps its own
/// settings: `Order::ITEMS.then(Item::PRODUCT.with_deleted())`. A row reached from several
/// parents (a genre of many books) is loaded once and copied to each.
///
/// ```
/// # use almacen::prelude::*;
/// use almacen::{BelongsTo, HasMany};
/// # #[derive(Model, Debug, Clone)] #[model(table = "users")]
/// # struct User { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String }
/// # #[derive(Model, Debug, Clone)] #[model(table = "authors")]
/// # struct Author { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String }
/// # #[derive(Model, Debug, Clone)] #[model(table = "books")]
/// # struct Book { #[model(primary_key, auto)] id: i64, #[model(references = "authors.id")] author_id: i64, #[model(max_len = 99)] title: String }
/// # #[derive(Model, Debug, Clone)] #[model(table = "reviews")]
/// # struct Review { #[model(primary_key, auto)] id: i64, #[model(references = "books.id")] book_id: i64,
/// #     #[model(references = "users.id")] user_id: i64, stars: i32 }
/// impl Author {
///     const BOOKS: HasMany<Author, Book> = HasMany::new(Book::AUTHOR_ID);
/// }
/// impl Book {
///     const REVIEWS: HasMany<Book, Review> = HasMany::new(Review::BOOK_ID);
/// }
/// impl Review {
///     const USER: BelongsTo<Review, User> = BelongsTo::new(Review::USER_ID);
/// }
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
/// # let db = Database::connect("sqlite::memory:").await?;
/// # db.create_tables(&[User::TABLE, Author::TABLE, Book::TABLE, Review::TABLE]).await?;
/// let ann = User::insert(&db, NewUser { name: "Ann".into() }).await?;
/// let ursula = Author::insert(&db, NewAuthor { name: "Ursula".into() }).await?;
/// let lathe = Book::insert(&db, NewBook { author_id: ursula.id, title: "Lathe".into() }).await?;
/// Review::insert(&db, NewReview { book_id: lathe.id, user_id: ann.id, stars: 5 }).await?;
///
/// let authors = Author::select().fetch_all(&db).await?;
/// let counter = db.statement_counter();
/// let shelves = Author::BOOKS.then(Book::REVIEWS).then(Review::USER).load(&db, &authors).await?;
/// assert_eq!(counter.count(), 3, "one statement per relation");
/// let (book, reviews) = &shelves[0][0];
/// let (review, by) = &reviews[0];
/// assert_eq!((book.title.as_str(), review.stars, by.as_ref().unwrap().name.as_str()), ("Lathe", 5, "Ann"));
/// # Ok(()) }
/// ```
#[derive(Clone, Copy)]
pub struct Chain<R, N> {
    first: R,
    next: N,
}

impl<R: Relation, N: Load<From = R::To>> Load for Chain<R, N> {
    type From = R::From;
    type Leaf = N::Leaf;
    type Out = R::Each<(R::To, N::Out)>;
    type Then<X: Load<From = N::Leaf>> = Chain<R, N::Then<X>>;

    async fn load_each<E: Executor>(self, db: &E, rows: &[&R::From]) -> Result<Vec<Self::Out>> {
        let groups = self.first.load_groups(db, rows).await?;
        let reached: Vec<&R::To> = groups.iter().flatten().collect();
        let mut nested = self.next.load_each(db, &reached).await?.into_iter();
        drop(reached);
        let mut out = Vec::with_capacity(groups.len());
        for group in groups {
            let mut each = Vec::with_capacity(group.len());
            for row in group {
                let Some(theirs) = nested.next() else { unreachable!("a load gives one result per row") };
                each.push((row, theirs));
            }
            out.push(R::each(each));
        }
        Ok(out)
    }

    fn then_load<X: Load<From = N::Leaf>>(self, next: X) -> Self::Then<X> {
        Chain { first: self.first, next: self.next.then_load(next) }
    }
}

impl<R: Relation, N: Load<From = R::To>> Chain<R, N> {
    /// What each row gets, in the rows' order: its related rows, each paired with what the
    /// rest of the chain gives for it. One statement per relation in the chain (per chunk of
    /// distinct keys); none for no rows, and none past a level that reached no rows.
    /// See [`Chain`] for an example.
    pub async fn load<B: Borrow<R::From>>(&self, db: &impl Executor, rows: &[B]) -> Result<Vec<R::Each<(R::To, N::Out)>>> {
        let rows: Vec<&R::From> = rows.iter().map(Borrow::borrow).collect();
        self.load_each(db, &rows).await
    }

    /// What one row gets: [`load`](Self::load) for one row.
    ///
    /// ```
    /// # use almacen::prelude::*;
    /// # use almacen::HasMany;
    /// # #[derive(Model, Debug, Clone)] #[model(table = "authors")]
    /// # struct Author { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "books")]
    /// # struct Book { #[model(primary_key, auto)] id: i64, #[model(references = "authors.id")] author_id: i64, #[model(max_len = 99)] title: String }
    /// # #[derive(Model, Debug, Clone)] #[model(table = "reviews")]
    /// # struct Review { #[model(primary_key, auto)] id: i64, #[model(references = "books.id")] book_id: i64, stars: i32 }
    /// # impl Author { const BOOKS: HasMany<Author, Book> = HasMany::new(Book::AUTHOR_ID); }
    /// # impl Book { const REVIEWS: HasMany<Book, Review> = HasMany::new(Review::BOOK_ID); }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
    /// # let db = Database::connect("sqlite::memory:").await?;
    /// # db.create_tables(&[Author::TABLE, Book::TABLE, Review::TABLE]).await?;
    /// let ursula = Author::insert(&db, NewAuthor { name: "Ursula".into() }).await?;
    /// Book::insert(&db, NewBook { author_id: ursula.id, title: "Lathe".into() }).await?;
    /// let books: Vec<(Book, Vec<Review>)> = Author::BOOKS.then(Book::REVIEWS).load_one(&db, &ursula).await?;
    /// assert_eq!(books[0].0.title, "Lathe");
    /// assert!(books[0].1.is_empty(), "no reviews yet");
    /// # Ok(()) }
    /// ```
    pub async fn load_one(&self, db: &impl Executor, row: &R::From) -> Result<R::Each<(R::To, N::Out)>> {
        Ok(only(self.load_each(db, &[row]).await?))
    }

    /// This chain, then `next` for each row its last relation reaches. See [`Chain`].
    pub fn then<X: Load<From = N::Leaf>>(self, next: X) -> Chain<R, N::Then<X>> {
        self.then_load(next)
    }
}

/// `?` placeholders as the dialect writes them (`$1, $2…` on PostgreSQL). The texts here are
/// built from quoted identifiers and `?` only, so every `?` is a placeholder.
fn number_placeholders(sql: &str, dialect: Dialect) -> String {
    if dialect != Dialect::Postgres {
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
fn link_key(row: &DbRow, a_key: ColumnRef, dialect: Dialect) -> Result<KeyOf> {
    stored_key(row.value(0)?, dialect, a_key)?.ok_or_else(|| Error::decode(a_key.meta.name, "NULL key in the association table"))
}

/// A key in the form the database stores it (a date is text on SQLite, a decimal text at
/// its scale…), so a key read back untyped from the association table matches the model's.
fn stored_key(v: Value, dialect: Dialect, column: ColumnRef) -> Result<Option<KeyOf>> {
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
