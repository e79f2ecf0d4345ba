//! Repositories: the reads and writes of one model, bound to an executor. The guide
//! (specific repositories, services over repository traits, units of work) is on
//! [`Repository`], where the public documentation shows it.

use crate::data::error::{Error, Result};
use crate::data::model::{Keyed, Model};
use crate::data::value::Value;
use crate::engine::executor::Executor;
use crate::orm::crud::{self, Patch};
use crate::sql::query::{Condition, Page, Select};
use std::collections::HashMap;
use std::marker::PhantomData;

/// Composite keys are matched with `(a = ? AND b = ?) OR …`: an expression one level
/// deeper per key, built and rendered recursively (1,200 keys overflow a 2 MB thread stack
/// in a debug build; SQLite's own limit is 1,000 levels). At most this many per statement.
const COMPOSITE_KEYS_PER_STATEMENT: usize = 128;

/// The reads and writes of model `M`, bound to executor `E`.
///
/// A [`Repository`] is bound to a [`Database`](crate::Database) or to a
/// [`Transaction`](crate::Transaction), so the same repository code runs on pooled
/// connections or inside a unit of work. It delegates to the CRUD functions and typed
/// queries; it holds nothing but the executor, so making one is free.
///
/// **Repositories never commit or roll back.** Atomicity belongs to the caller: the unit of
/// work is a transaction scope, and every repository used in it is made from its
/// `&Transaction`. When the closure returns `Ok` everything is committed; on `Err` (a
/// database error or the application's own, wrapped with [`Error::other`](crate::Error::other))
/// or a panic, nothing stays. A repository made from the `Database` inside the closure works
/// outside the unit of work (and on SQLite its writes wait for the writer the transaction
/// holds, until the pool times out): make them all from `tx`. Inside a transaction,
/// `tx.transaction(..)` opens a nested unit of work (a savepoint).
///
/// A *specific* repository wraps the generic one and adds the model's own queries; a
/// service depends on a repository *trait*, so its unit tests can pass an in-memory double
/// instead of a database:
///
/// ```no_run
/// use almacen::prelude::*;
/// use std::ops::Deref;
///
/// #[derive(Model, Debug, Clone)]
/// #[model(table = "products")]
/// pub struct Product {
///     #[model(primary_key, auto)]
///     pub id: i64,
///     #[model(max_len = 64, unique)]
///     pub sku: String,
///     pub stock: i32,
/// }
///
/// #[derive(Model, Debug, Clone)]
/// #[model(table = "orders")]
/// pub struct Order {
///     #[model(primary_key, auto)]
///     pub id: i64,
///     #[model(references = "products.id")]
///     pub product_id: i64,
///     pub quantity: i32,
/// }
///
/// /// Products: the generic operations (through `Deref`) plus queries of their own.
/// pub struct ProductRepo<'e, E>(Repository<'e, Product, E>);
///
/// impl<'e, E: Executor> ProductRepo<'e, E> {
///     pub fn new(db: &'e E) -> Self {
///         ProductRepo(Repository::new(db))
///     }
///
///     pub async fn find_by_sku(&self, sku: &str) -> almacen::Result<Option<Product>> {
///         Product::select().filter(Product::SKU.eq(sku)).fetch_optional(self.executor()).await
///     }
/// }
///
/// impl<'e, E> Deref for ProductRepo<'e, E> {
///     type Target = Repository<'e, Product, E>;
///     fn deref(&self) -> &Self::Target {
///         &self.0
///     }
/// }
///
/// /// What the restocking service needs; tests implement it over a `HashMap`.
/// trait Stock {
///     async fn add_stock(&self, sku: &str, quantity: i32) -> almacen::Result<bool>;
/// }
///
/// impl<E: Executor> Stock for ProductRepo<'_, E> {
///     async fn add_stock(&self, sku: &str, quantity: i32) -> almacen::Result<bool> {
///         let Some(p) = self.find_by_sku(sku).await? else { return Ok(false) };
///         Ok(self.patch(Product::patch(p.id).add(Product::STOCK, quantity)).await?.is_some())
///     }
/// }
///
/// /// The service is generic over the trait (no `dyn`, no boxing).
/// async fn restock(stock: &impl Stock, sku: &str) -> almacen::Result<bool> {
///     stock.add_stock(sku, 10).await
/// }
///
/// # async fn run(db: &Database) -> almacen::Result<()> {
/// // On pooled connections:
/// restock(&ProductRepo::new(db), "LAMP-1").await?;
///
/// // A unit of work: several repositories over one transaction. Any error undoes all of it.
/// let order = db
///     .transaction(async |tx| {
///         let products = ProductRepo::new(tx);
///         let orders = Repository::<Order, _>::new(tx);
///         let lamp = products.find_by_sku("LAMP-1").await?.ok_or(Error::NotFound)?;
///         // (Under concurrency, take stock with one conditional UPDATE instead:
///         // `Product::update_where(..)`, as `examples/orders` does.)
///         if lamp.stock < 2 {
///             return Err(Error::other("out of stock"));
///         }
///         products.patch(Product::patch(lamp.id).add(Product::STOCK, -2)).await?;
///         orders.create(NewOrder { product_id: lamp.id, quantity: 2 }).await
///     })
///     .await?;
/// # let _ = order; Ok(()) }
/// ```
pub struct Repository<'e, M, E> {
    db: &'e E,
    _m: PhantomData<fn() -> M>,
}

// By hand: derives would require `M: Clone` and `E: Clone`, and the fields are a reference.
impl<M, E> Clone for Repository<'_, M, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M, E> Copy for Repository<'_, M, E> {}

impl<M: Model, E> std::fmt::Debug for Repository<'_, M, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository").field("table", &M::TABLE.name).finish_non_exhaustive()
    }
}

impl<'e, M: Model, E: Executor> Repository<'e, M, E> {
    /// A repository of `M` bound to `db`: a `&Database`, or the `&Transaction` of a unit of work.
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let on_pool = Repository::<Item, _>::new(db);
    /// db.transaction(async |tx| {
    ///     let in_tx = Repository::<Item, _>::new(tx);
    ///     in_tx.create(NewItem { name: "Lamp".into(), stock: 1 }).await?;
    ///     Ok(())
    /// })
    /// .await?;
    /// # let _ = on_pool; Ok(()) }
    /// ```
    pub fn new(db: &'e E) -> Self {
        Repository { db, _m: PhantomData }
    }

    /// The executor this repository runs on, for a specific repository's own queries.
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let items = Repository::<Item, _>::new(db);
    /// let lamp = Item::select().filter(Item::NAME.eq("Lamp")).fetch_optional(items.executor()).await?;
    /// # let _ = lamp; Ok(()) }
    /// ```
    pub fn executor(&self) -> &'e E {
        self.db
    }

    /// Insert one row and return it as stored (generated key and server defaults filled in).
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let lamp: Item = Repository::new(db).create(NewItem { name: "Lamp".into(), stock: 3 }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, new: M::New) -> Result<M> {
        crud::insert::<M>(self.db, new).await
    }

    /// Insert many rows and return them as stored, in input order; all or none (see
    /// [`ops::insert_many`](crate::ops::insert_many)).
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let rows = vec![NewItem { name: "Lamp".into(), stock: 3 }, NewItem { name: "Desk".into(), stock: 1 }];
    /// let items: Vec<Item> = Repository::new(db).create_many(rows).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_many(&self, rows: Vec<M::New>) -> Result<Vec<M>> {
        crud::insert_many::<M>(self.db, rows).await
    }

    /// Insert many rows as [`create_many`](Self::create_many) does (all or none) without
    /// reading them back; returns how many were inserted (see
    /// [`ops::insert_many_without_returning`](crate::ops::insert_many_without_returning)).
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let rows: Vec<NewItem> = (0..1_000).map(|i| NewItem { name: format!("item {i}"), stock: 0 }).collect();
    /// let inserted: u64 = Repository::<Item, _>::new(db).create_many_without_returning(rows).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_many_without_returning(&self, rows: Vec<M::New>) -> Result<u64> {
        crud::insert_many_without_returning::<M>(self.db, rows).await
    }

    /// The rows `query` selects, in its order (build it with `M::select()`).
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let in_stock = Repository::new(db).list(Item::select().filter(Item::STOCK.gt(0)).order_by(Item::NAME.asc())).await?;
    /// # Ok(()) }
    /// ```
    pub async fn list(&self, query: Select<M>) -> Result<Vec<M>> {
        query.fetch_all(self.db).await
    }

    /// Page `page` (from 1) of `page_size` rows of `query`, with totals
    /// (see [`Select::paginate`]).
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let page = Repository::new(db).paginate(Item::select().order_by(Item::NAME.asc()), 2, 20).await?;
    /// println!("page {} of {}", page.page, page.total_pages);
    /// # Ok(()) }
    /// ```
    pub async fn paginate(&self, query: Select<M>, page: u64, page_size: u64) -> Result<Page<M>> {
        query.paginate(self.db, page, page_size).await
    }

    /// How many rows `query` matches (its limit and offset ignored).
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let sold_out: u64 = Repository::new(db).count(Item::select().filter(Item::STOCK.eq(0))).await?;
    /// # Ok(()) }
    /// ```
    pub async fn count(&self, query: Select<M>) -> Result<u64> {
        query.count(self.db).await
    }
}

/// What needs a primary key: a `#[model(keyless)]` model has none of these. Keys are passed
/// by value, as in `Model::get(db, key)`; many keys as a slice. `delete` takes the row and
/// `delete_by_key` its key, as on the model.
impl<'e, M: Keyed, E: Executor> Repository<'e, M, E> {
    /// The row with this primary key, if any.
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let item: Option<Item> = Repository::new(db).get(7).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, key: M::Key) -> Result<Option<M>> {
        crud::get::<M>(self.db, &key).await
    }

    /// The row with this primary key, if any, locked against other transactions' writes
    /// until the transaction ends (`SELECT … FOR UPDATE`): make the repository from the
    /// transaction.
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// db.transaction(async |tx| {
    ///     let items = Repository::<Item, _>::new(tx);
    ///     let item = items.get_for_update(7).await?;
    ///     Ok(())
    /// })
    /// .await
    /// # }
    /// ```
    pub async fn get_for_update(&self, key: M::Key) -> Result<Option<M>> {
        crud::get_for_update::<M>(self.db, &key).await
    }

    /// The rows with these primary keys, in the order of `keys`; keys without a row are
    /// skipped, and a key given twice yields its row once (where it first appears). One
    /// `IN (…)` statement per chunk of keys that fits the dialect's parameter limit
    /// (composite keys: `(a = ? AND b = ?) OR …`, at most 128 keys per statement). On a
    /// `Database` the chunks run as separate statements; inside a transaction they see
    /// one snapshot (at the transaction's isolation level).
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let items: Vec<Item> = Repository::new(db).get_many(&[3, 1, 2]).await?;
    /// // items[0] is row 3 (when it exists), then 1, then 2.
    /// # Ok(()) }
    /// ```
    pub async fn get_many(&self, keys: &[M::Key]) -> Result<Vec<M>> {
        self.get_many_chunked(keys, usize::MAX).await
    }

    /// [`get_many`](Self::get_many) with at most `keys_per_statement` keys in each
    /// statement (still under the dialect's limit), for smaller statements.
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let ids: Vec<i64> = (1..=5000).collect();
    /// let items: Vec<Item> = Repository::new(db).get_many_chunked(&ids, 1000).await?; // 5 statements
    /// # Ok(()) }
    /// ```
    pub async fn get_many_chunked(&self, keys: &[M::Key], keys_per_statement: usize) -> Result<Vec<M>> {
        let (positions, unique) = index_keys::<M>(keys);
        let chunk = keys_per_statement.clamp(1, self.max_keys_per_statement());
        let mut slots: Vec<Option<M>> = std::iter::repeat_with(|| None).take(unique.len()).collect();
        for keys in unique.chunks(chunk) {
            let keys = padded_composite::<M>(keys);
            for row in Select::<M>::new().filter(keys_condition::<M>(&keys)?).fetch_all(self.db).await? {
                if let Some(&at) = positions.get(&key_id(M::key_values(&row.key()))) {
                    slots[at] = Some(row);
                }
            }
        }
        Ok(slots.into_iter().flatten().collect())
    }

    /// How many keys one `get_many` statement may carry on this executor's dialect.
    fn max_keys_per_statement(&self) -> usize {
        let width = M::TABLE.primary_key().count().max(1);
        let by_params = self.db.dialect().max_bind_params() / width;
        if width > 1 { by_params.min(COMPOSITE_KEYS_PER_STATEMENT) } else { by_params }
    }

    /// Write every column of `model` to its row; [`Error::NotFound`](crate::Error::NotFound)
    /// when the row is gone. Managed columns behave as in [`ops::update`](crate::ops::update)
    /// (`model`'s `updated_at` and `version` are refreshed).
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let items = Repository::<Item, _>::new(db);
    /// let mut lamp = items.get(7).await?.ok_or(Error::NotFound)?;
    /// lamp.stock += 1;
    /// items.update(&mut lamp).await?;
    /// # Ok(()) }
    /// ```
    pub async fn update(&self, model: &mut M) -> Result<()> {
        crud::update::<M>(self.db, model).await
    }

    /// Apply a partial update (start one with `M::patch(key)`); returns the updated row, or
    /// `None` when no row has the key.
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let lamp: Option<Item> = Repository::new(db).patch(Item::patch(7).add(Item::STOCK, -1)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn patch(&self, patch: Patch<M>) -> Result<Option<M>> {
        patch.execute(self.db).await
    }

    /// Delete the row with this primary key; true when a row was deleted. A soft-deletable
    /// model's row is only marked deleted (see [`hard_delete`](Self::hard_delete) and
    /// [`restore`](Self::restore)); reads here skip marked rows.
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let deleted = Repository::<Item, _>::new(db).delete_by_key(7).await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_by_key(&self, key: M::Key) -> Result<bool> {
        crud::delete::<M>(self.db, &key).await
    }

    /// Delete this row (by its key), as [`delete_by_key`](Self::delete_by_key) does.
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let items = Repository::<Item, _>::new(db);
    /// if let Some(lamp) = items.get(7).await? {
    ///     items.delete(&lamp).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, model: &M) -> Result<bool> {
        crud::delete::<M>(self.db, &model.key()).await
    }

    /// Remove the row with this primary key for good, even from a soft-deletable model;
    /// true when a row went.
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(soft_delete)] deleted_at: Option<DateTime<Utc>> }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let gone = Repository::<Item, _>::new(db).hard_delete(7).await?;
    /// # Ok(()) }
    /// ```
    pub async fn hard_delete(&self, key: M::Key) -> Result<bool> {
        crud::hard_delete::<M>(self.db, &key).await
    }

    /// Clear the deleted mark of a soft-deleted row; true when it was marked.
    /// [`Error::Unsupported`](crate::Error::Unsupported) for a model without
    /// `#[model(soft_delete)]`.
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(soft_delete)] deleted_at: Option<DateTime<Utc>> }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let back = Repository::<Item, _>::new(db).restore(7).await?;
    /// # Ok(()) }
    /// ```
    pub async fn restore(&self, key: M::Key) -> Result<bool> {
        crud::restore::<M>(self.db, &key).await
    }

    /// Whether a row has this primary key (without reading it).
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "items")]
    /// # struct Item { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let known = Repository::<Item, _>::new(db).exists(7).await?;
    /// # Ok(()) }
    /// ```
    pub async fn exists(&self, key: M::Key) -> Result<bool> {
        Select::<M>::new().filter(keys_condition::<M>(&[&key])?).exists(self.db).await
    }
}

/// Each distinct key's position (first appearance), and the distinct keys in that order.
fn index_keys<M: Model>(keys: &[M::Key]) -> (HashMap<Vec<KeyPart>, usize>, Vec<&M::Key>) {
    let mut positions = HashMap::with_capacity(keys.len());
    let mut unique = Vec::with_capacity(keys.len());
    for key in keys {
        positions.entry(key_id(M::key_values(key))).or_insert_with(|| {
            unique.push(key);
            unique.len() - 1
        });
    }
    (positions, unique)
}

/// A chunk of composite keys, its last key repeated up to the next power of two. The SQL
/// of an OR of ANDs is cached per length (an `IN` list of more than 16 is not): this keeps
/// at most 8 lengths per model in the cache. A repeated key matches no extra row.
fn padded_composite<'k, M: Model>(keys: &[&'k M::Key]) -> Vec<&'k M::Key> {
    let mut out = keys.to_vec();
    if M::TABLE.primary_key().count() > 1
        && let Some(&last) = keys.last()
    {
        out.resize(keys.len().next_power_of_two(), last);
    }
    out
}

/// `pk IN (…)` for a one-column key, `(a = ? AND b = ?) OR …` for a composite one.
/// An error, as `get` gives, for a model without a primary key.
fn keys_condition<M: Model>(keys: &[&M::Key]) -> Result<Condition> {
    let pk: Vec<_> = M::TABLE.primary_key().map(|meta| crate::sql::query::ColumnRef { table: M::TABLE.name, meta }).collect();
    match pk[..] {
        [] => return Err(Error::Unsupported(format!("model for table {} has no primary key", M::TABLE.name))),
        [column] => return Ok(Condition::In(column, keys.iter().flat_map(|k| M::key_values(k)).collect(), false)),
        _ => {}
    }
    let per_key = keys.iter().map(|k| {
        let parts = pk.iter().zip(M::key_values(k)).map(|(c, v)| Condition::Cmp(*c, crate::sql::query::CmpOp::Eq, v)).collect();
        Condition::And(parts)
    });
    Ok(Condition::Or(per_key.collect()))
}

/// A key value in a form that can be hashed, equal for a key as given and as read back
/// (decimals normalised, times to the microsecond as stored).
#[derive(Debug, PartialEq, Eq, Hash)]
enum KeyPart {
    Null,
    Bool(bool),
    Int(i64),
    Float(u64),
    Decimal(rust_decimal::Decimal),
    Text(String),
    Bytes(Vec<u8>),
    Uuid(uuid::Uuid),
    Micros(i64),
    Date(chrono::NaiveDate),
    TimeMicros(u32, u32),
    Other(String),
}

fn key_id(values: Vec<Value>) -> Vec<KeyPart> {
    use chrono::Timelike;
    values
        .into_iter()
        .map(|v| match v {
            Value::Null(_) => KeyPart::Null,
            Value::Bool(b) => KeyPart::Bool(b),
            Value::Int(i) => KeyPart::Int(i),
            Value::Float(f) => KeyPart::Float(f.to_bits()),
            Value::Decimal(d) => KeyPart::Decimal(d.normalize()),
            Value::Text(t) => KeyPart::Text(t),
            Value::Bytes(b) => KeyPart::Bytes(b),
            Value::Uuid(u) => KeyPart::Uuid(u),
            Value::Timestamp(t) => KeyPart::Micros(t.timestamp_micros()),
            Value::Date(d) => KeyPart::Date(d),
            Value::Time(t) => KeyPart::TimeMicros(t.num_seconds_from_midnight(), t.nanosecond() / 1000),
            other => KeyPart::Other(format!("{other:?}")),
        })
        .collect()
}
