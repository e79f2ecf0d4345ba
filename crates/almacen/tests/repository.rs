//! Repositories and units of work, the same on SQLite, PostgreSQL and MariaDB: every
//! generic repository method, a specific repository with its own queries, one repository
//! code path on a `Database` and inside a transaction, `get_many` chunking, and an order
//! placed across several repositories in one transaction (all or nothing).

mod common;

use almacen::prelude::*;
use common::Backend;
use std::collections::HashMap;
use std::ops::Deref;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "products")]
struct Product {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40, unique)]
    sku: String,
    #[model(max_len = 100)]
    name: String,
    #[model(decimal(10, 2))]
    price: Decimal,
    stock: i32,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "orders")]
struct Order {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 100, index)]
    customer: String,
    #[model(decimal(12, 2))]
    total: Decimal,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "order_items", unique("order_id", "product_id"))]
struct OrderItem {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = "orders.id", on_delete = "cascade")]
    order_id: i64,
    #[model(references = "products.id")]
    product_id: i64,
    quantity: i32,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "memberships", composite)]
struct Membership {
    #[model(primary_key)]
    org_id: i64,
    #[model(primary_key, max_len = 40)]
    user_code: String,
    #[model(max_len = 20)]
    role: String,
}

/// A model without a primary key: key lookups are refused, as `get` refuses them.
mod keyless {
    use almacen::prelude::*;

    #[derive(Model, Debug, Clone, PartialEq)]
    #[model(table = "notes", keyless)]
    pub struct Note {
        #[model(max_len = 40)]
        pub text: String,
    }
}
use keyless::{NewNote, Note};

/// A model with managed columns: soft delete and optimistic locking.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "documents")]
struct Document {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40)]
    title: String,
    #[model(version)]
    version: i64,
    #[model(soft_delete)]
    deleted_at: Option<DateTime<Utc>>,
}

/// A specific repository: the generic operations (through `Deref`) plus its own queries.
struct ProductRepo<'e, E>(Repository<'e, Product, E>);

impl<'e, E: Executor> ProductRepo<'e, E> {
    fn new(db: &'e E) -> Self {
        ProductRepo(Repository::new(db))
    }

    async fn find_by_sku(&self, sku: &str) -> almacen::Result<Option<Product>> {
        Product::select().filter(Product::SKU.eq(sku)).fetch_optional(self.executor()).await
    }

    async fn low_stock(&self, below: i32) -> almacen::Result<Vec<Product>> {
        self.list(Product::select().filter(Product::STOCK.lt(below)).order_by(Product::STOCK.asc()).order_by(Product::SKU.asc())).await
    }
}

impl<'e, E> Deref for ProductRepo<'e, E> {
    type Target = Repository<'e, Product, E>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

struct OrderRepo<'e, E>(Repository<'e, Order, E>);

impl<'e, E: Executor> OrderRepo<'e, E> {
    fn new(db: &'e E) -> Self {
        OrderRepo(Repository::new(db))
    }

    async fn of_customer(&self, customer: &str) -> almacen::Result<Vec<Order>> {
        self.list(Order::select().filter(Order::CUSTOMER.eq(customer)).order_by(Order::ID.asc())).await
    }
}

impl<'e, E> Deref for OrderRepo<'e, E> {
    type Target = Repository<'e, Order, E>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

async fn create_tables(db: &Database) {
    db.create_tables(&[Product::TABLE, Order::TABLE, OrderItem::TABLE, Membership::TABLE]).await.unwrap();
}

fn new_product(sku: &str, stock: i32) -> NewProduct {
    NewProduct { sku: sku.into(), name: format!("Product {sku}"), price: Decimal::new(1250, 2), stock }
}

fn ids(rows: &[Product]) -> Vec<i64> {
    rows.iter().map(|p| p.id).collect()
}

async fn every_generic_method(db: Database, _b: Backend) {
    create_tables(&db).await;
    let repo = Repository::<Product, _>::new(&db);
    assert!(std::ptr::eq(repo.executor(), &db));

    // create / create_many return rows as stored, in input order.
    let lamp = repo.create(new_product("LAMP", 3)).await.unwrap();
    assert_eq!((lamp.sku.as_str(), lamp.stock, lamp.price), ("LAMP", 3, Decimal::new(1250, 2)));
    let more = repo.create_many(vec![new_product("DESK", 0), new_product("CHAIR", 7), new_product("RUG", 1)]).await.unwrap();
    assert_eq!(more.iter().map(|p| p.sku.as_str()).collect::<Vec<_>>(), ["DESK", "CHAIR", "RUG"]);
    assert!(repo.create_many(Vec::new()).await.unwrap().is_empty());
    let (desk, chair, rug) = (more[0].clone(), more[1].clone(), more[2].clone());
    let err = repo.create(new_product("LAMP", 1)).await.unwrap_err();
    assert!(matches!(err, Error::UniqueViolation(_)), "{err:?}");

    // get / exists
    assert_eq!(repo.get(lamp.id).await.unwrap(), Some(lamp.clone()));
    assert_eq!(repo.get(-1).await.unwrap(), None);
    assert!(repo.exists(desk.id).await.unwrap());
    assert!(!repo.exists(-1).await.unwrap());

    // get_many: the order of the keys, missing keys skipped, a repeated key once.
    let got = repo.get_many(&[rug.id, -5, lamp.id, chair.id, rug.id, 999_999]).await.unwrap();
    assert_eq!(ids(&got), [rug.id, lamp.id, chair.id]);
    assert_eq!(got[0], rug);
    assert!(repo.get_many(&[]).await.unwrap().is_empty());
    assert!(repo.get_many(&[-1, -2]).await.unwrap().is_empty());

    // list / count with filters and ordering.
    let in_stock = repo.list(Product::select().filter(Product::STOCK.gt(0)).order_by(Product::STOCK.desc())).await.unwrap();
    assert_eq!(ids(&in_stock), [chair.id, lamp.id, rug.id]);
    assert_eq!(ids(&repo.list(Product::select().order_by(Product::SKU.asc()).limit(2)).await.unwrap()), [chair.id, desk.id]);
    assert_eq!(repo.count(Product::select()).await.unwrap(), 4);
    assert_eq!(repo.count(Product::select().filter(Product::STOCK.eq(0))).await.unwrap(), 1);
    assert_eq!(repo.count(Product::select().filter(Product::SKU.like("%R%")).limit(1)).await.unwrap(), 2, "limit ignored");

    // paginate
    let page = repo.paginate(Product::select().order_by(Product::SKU.asc()), 2, 3).await.unwrap();
    assert_eq!((page.total, page.total_pages, page.has_prev, page.has_next), (4, 2, true, false));
    assert_eq!(ids(&page.items), [rug.id]);

    // update: every column; NotFound once the row is gone.
    let mut changed = desk.clone();
    changed.name = "Standing desk".into();
    changed.stock = 2;
    repo.update(&mut changed).await.unwrap();
    assert_eq!(repo.get(desk.id).await.unwrap(), Some(changed.clone()));

    // patch: only the given columns; None for a missing key.
    let patched = repo.patch(Product::patch(lamp.id).add(Product::STOCK, -1).set(Product::NAME, "Desk lamp")).await.unwrap().unwrap();
    assert_eq!((patched.stock, patched.name.as_str(), patched.sku.as_str()), (2, "Desk lamp", "LAMP"));
    assert_eq!(repo.patch(Product::patch(-1).add(Product::STOCK, 1)).await.unwrap(), None);

    // delete
    assert!(repo.delete_by_key(rug.id).await.unwrap());
    assert!(!repo.delete_by_key(rug.id).await.unwrap());
    assert!(!repo.exists(rug.id).await.unwrap());
    let err = repo.update(&mut rug.clone()).await.unwrap_err();
    assert!(matches!(err, Error::NotFound), "{err:?}");
    assert_eq!(repo.count(Product::select()).await.unwrap(), 3);

    // Without a primary key there is nothing to look up by: a keyless model's repository
    // has no key methods at all (`notes.get(..)` does not compile), only the others.
    db.create_tables(&[Note::TABLE]).await.unwrap();
    let notes = Repository::<Note, _>::new(&db);
    notes.create(NewNote { text: "remember".into() }).await.unwrap();
    assert_eq!(notes.count(Note::select()).await.unwrap(), 1);
    assert_eq!(notes.list(Note::select()).await.unwrap(), [Note { text: "remember".into() }]);

    // A repository is a copyable handle.
    let copy = repo;
    assert_eq!(copy.count(Product::select()).await.unwrap(), repo.count(Product::select()).await.unwrap());
    assert!(format!("{repo:?}").contains("products"));
}

async fn soft_delete_and_versions(db: Database, _b: Backend) {
    db.create_tables(&[Document::TABLE]).await.unwrap();
    let docs = Repository::<Document, _>::new(&db);
    let new = |title: &str| NewDocument { title: title.into() };
    let stored = docs.create_many(vec![new("a"), new("b"), new("c")]).await.unwrap();
    let (a, b, c) = (stored[0].id, stored[1].id, stored[2].id);

    // A deleted row is only marked: every read skips it until it is restored.
    assert!(docs.delete_by_key(b).await.unwrap());
    assert!(!docs.delete_by_key(b).await.unwrap(), "already marked");
    assert_eq!(docs.get(b).await.unwrap(), None);
    assert!(!docs.exists(b).await.unwrap());
    let titles = |rows: Vec<Document>| rows.into_iter().map(|d| d.title).collect::<Vec<_>>();
    assert_eq!(titles(docs.get_many(&[c, b, a]).await.unwrap()), ["c", "a"]);
    assert_eq!(docs.count(Document::select()).await.unwrap(), 2);
    assert_eq!(docs.count(Document::select().with_deleted()).await.unwrap(), 3);
    assert_eq!(titles(docs.list(Document::select().only_deleted()).await.unwrap()), ["b"]);
    assert!(docs.restore(b).await.unwrap());
    assert!(!docs.restore(b).await.unwrap(), "not marked any more");
    assert!(docs.exists(b).await.unwrap());
    assert!(docs.hard_delete(b).await.unwrap());
    assert_eq!(docs.count(Document::select().with_deleted()).await.unwrap(), 2);
    let err = Repository::<Product, _>::new(&db).restore(1).await.unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");

    // Optimistic locking: update refreshes the version; a stale copy is a conflict.
    let mut fresh = docs.get(a).await.unwrap().unwrap();
    let mut stale = fresh.clone();
    fresh.title = "a2".into();
    docs.update(&mut fresh).await.unwrap();
    assert_eq!(fresh.version, stale.version + 1);
    stale.title = "lost update".into();
    let err = docs.update(&mut stale).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert_eq!(docs.get(a).await.unwrap().unwrap().title, "a2");
}

async fn specific_repository(db: Database, _b: Backend) {
    create_tables(&db).await;
    let products = ProductRepo::new(&db);
    products.create_many(vec![new_product("A-1", 5), new_product("B-2", 0), new_product("C-3", 2), new_product("D-4", 9)]).await.unwrap();

    let b2 = products.find_by_sku("B-2").await.unwrap().unwrap();
    assert_eq!((b2.sku.as_str(), b2.stock), ("B-2", 0));
    assert_eq!(products.find_by_sku("b-2").await.unwrap(), None, "exact match");
    let low: Vec<String> = products.low_stock(5).await.unwrap().into_iter().map(|p| p.sku).collect();
    assert_eq!(low, ["B-2", "C-3"]);
    // The generic operations are there too.
    assert_eq!(products.count(Product::select()).await.unwrap(), 4);

    let orders = OrderRepo::new(&db);
    for customer in ["ann", "bob", "ann"] {
        orders.create(NewOrder { customer: customer.into(), total: Decimal::ZERO }).await.unwrap();
    }
    let anns = orders.of_customer("ann").await.unwrap();
    assert_eq!(anns.len(), 2);
    assert!(anns[0].id < anns[1].id);
}

/// Repository code that knows nothing about transactions.
async fn restock_and_rename<E: Executor>(products: &ProductRepo<'_, E>) -> almacen::Result<Product> {
    let p = products.create(new_product("TX-1", 1)).await?;
    let p = products.patch(Product::patch(p.id).add(Product::STOCK, 4)).await?.ok_or(Error::NotFound)?;
    let mut renamed = p.clone();
    renamed.name = "Renamed".into();
    products.update(&mut renamed).await?;
    // It sees its own writes, wherever it runs.
    assert_eq!(products.find_by_sku("TX-1").await?.map(|p| (p.stock, p.name)), Some((5, "Renamed".to_string())));
    products.create(new_product("TX-2", 0)).await?;
    assert!(products.delete_by_key(p.id).await?);
    Ok(renamed)
}

async fn same_code_on_database_and_in_transaction(db: Database, _b: Backend) {
    create_tables(&db).await;
    let skus = async |db: &Database| -> Vec<String> {
        Product::select().order_by(Product::SKU.asc()).fetch_all(db).await.unwrap().into_iter().map(|p| p.sku).collect()
    };

    // In a transaction that fails after the work: nothing stays.
    let err = db
        .transaction(async |tx| {
            restock_and_rename(&ProductRepo::new(tx)).await?;
            Err::<(), _>(Error::other("changed my mind"))
        })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "changed my mind");
    assert!(skus(&db).await.is_empty());

    // A manual transaction rolled back: nothing stays either.
    let tx = db.begin().await.unwrap();
    restock_and_rename(&ProductRepo::new(&tx)).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(skus(&db).await.is_empty());

    // Committed: it stays.
    db.transaction(async |tx| restock_and_rename(&ProductRepo::new(tx)).await).await.unwrap();
    assert_eq!(skus(&db).await, ["TX-2"]);

    // On the pool, the same code.
    Product::delete_where(Product::ID.gt(0)).execute(&db).await.unwrap();
    restock_and_rename(&ProductRepo::new(&db)).await.unwrap();
    assert_eq!(skus(&db).await, ["TX-2"]);
}

/// Keys in a scrambled order, with missing keys and repeats mixed in, and the rows
/// `get_many` must return for them.
fn scrambled<K: Clone + std::hash::Hash + Eq, M: Clone>(rows: &[(K, M)], missing: impl Fn(usize) -> K) -> (Vec<K>, Vec<M>) {
    let n = rows.len();
    let mut keys = Vec::new();
    let mut expected = Vec::new();
    let mut seen = std::collections::HashSet::new();
    // 7919 is prime and does not divide n: i * 7919 % n visits every row once.
    for i in 0..n {
        let (key, row) = &rows[i * 7919 % n];
        keys.push(key.clone());
        if seen.insert(key.clone()) {
            expected.push(row.clone());
        }
        if i % 10 == 0 {
            keys.push(missing(i));
        }
        if i % 13 == 0 {
            keys.push(rows[i / 2].0.clone()); // a repeat (or a first sight of a later row)
            if seen.insert(rows[i / 2].0.clone()) {
                expected.push(rows[i / 2].1.clone());
            }
        }
    }
    (keys, expected)
}

async fn get_many_in_chunks(db: Database, b: Backend) {
    create_tables(&db).await;
    let repo = Repository::<Product, _>::new(&db);
    let all = repo.create_many((0..3000).map(|i| new_product(&format!("P{i:05}"), i % 50)).collect()).await.unwrap();
    let rows: Vec<(i64, Product)> = all.iter().map(|p| (p.id, p.clone())).collect();
    let (keys, expected) = scrambled(&rows, |i| -(i as i64) - 1);
    assert!(keys.len() > 3300 && expected.len() == 3000);
    for chunk in [1, 7, 1000, usize::MAX] {
        let got = if chunk == 1 {
            repo.get_many_chunked(&keys[..200], 1).await.unwrap()
        } else {
            repo.get_many_chunked(&keys, chunk).await.unwrap()
        };
        let want = if chunk == 1 { get_expected(&keys[..200], &rows) } else { expected.clone() };
        assert_eq!(ids(&got), ids(&want), "keys per statement: {chunk}");
        assert_eq!(got, want);
    }
    assert_eq!(repo.get_many(&keys).await.unwrap(), expected);
    assert_eq!(repo.get_many_chunked(&keys[..50], 0).await.unwrap(), get_expected(&keys[..50], &rows), "0 means 1");

    // Composite keys: at most 128 per statement (the last chunk padded by repeating a key).
    let members = Repository::<Membership, _>::new(&db);
    let stored = members
        .create_many(
            (0..1200).map(|i| NewMembership { org_id: i % 7, user_code: format!("user{i}"), role: format!("r{}", i % 3) }).collect(),
        )
        .await
        .unwrap();
    let rows: Vec<((i64, String), Membership)> = stored.iter().map(|m| (m.key(), m.clone())).collect();
    let (keys, expected) = scrambled(&rows, |i| (i as i64 % 7, format!("nobody{i}")));
    assert_eq!(members.get_many(&keys).await.unwrap(), expected);
    assert_eq!(members.get_many_chunked(&keys, 33).await.unwrap(), expected);
    // A key whose parts exist, but not together.
    assert!(members.get_many(&[(6, "user0".to_string())]).await.unwrap().is_empty());

    if b == Backend::Sqlite {
        // More keys than SQLite's 32,766 parameters: chunking is required, not just allowed.
        let many: Vec<i64> = (1..=40_000).rev().collect();
        let got = repo.get_many(&many).await.unwrap();
        let mut want = ids(&all);
        want.reverse();
        assert_eq!(ids(&got), want);
    }
}

fn get_expected<K: std::hash::Hash + Eq + Clone, M: Clone>(keys: &[K], rows: &[(K, M)]) -> Vec<M> {
    let by_key: HashMap<&K, &M> = rows.iter().map(|(k, m)| (k, m)).collect();
    let mut seen = std::collections::HashSet::new();
    keys.iter().filter(|k| seen.insert((*k).clone())).filter_map(|k| by_key.get(k).map(|m| (*m).clone())).collect()
}

// --- The unit of work: an order placed across several repositories in one transaction.

/// The application's own reasons to refuse an order.
#[derive(Debug, PartialEq)]
enum Refusal {
    UnknownSku(String),
    OutOfStock(String),
    OverCreditLimit,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for Refusal {}

fn refusal(e: &Error) -> Option<&Refusal> {
    match e {
        Error::Other(inner) => inner.downcast_ref::<Refusal>(),
        _ => None,
    }
}

/// Check stock, decrement it, create the order, then its items; a credit limit is checked
/// last. Any failure leaves every table as it was.
async fn place_order(db: &Database, customer: &str, lines: &[(&str, i32)], credit_limit: Decimal) -> almacen::Result<Order> {
    db.transaction(async |tx| {
        let products = ProductRepo::new(tx);
        let orders = OrderRepo::new(tx);
        let items = Repository::<OrderItem, _>::new(tx);
        let mut reserved = Vec::new();
        let mut total = Decimal::ZERO;
        for &(sku, quantity) in lines {
            let product = products.find_by_sku(sku).await?.ok_or_else(|| Error::other(Refusal::UnknownSku(sku.into())))?;
            if product.stock < quantity {
                return Err(Error::other(Refusal::OutOfStock(sku.into())));
            }
            products.patch(Product::patch(product.id).add(Product::STOCK, -quantity)).await?;
            total += product.price * Decimal::from(quantity);
            reserved.push((product.id, quantity));
        }
        let order = orders.create(NewOrder { customer: customer.into(), total }).await?;
        let new_items = reserved.into_iter().map(|(product_id, quantity)| NewOrderItem { order_id: order.id, product_id, quantity });
        for item in new_items {
            items.create(item).await?;
        }
        if total > credit_limit {
            return Err(Error::other(Refusal::OverCreditLimit));
        }
        Ok(order)
    })
    .await
}

/// Every row of every table, in key order.
async fn snapshot(db: &Database) -> (Vec<Product>, Vec<Order>, Vec<OrderItem>) {
    let products = ProductRepo::new(db).list(Product::select().order_by(Product::ID.asc())).await.unwrap();
    let orders = OrderRepo::new(db).list(Order::select().order_by(Order::ID.asc())).await.unwrap();
    let items = Repository::<OrderItem, _>::new(db).list(OrderItem::select().order_by(OrderItem::ID.asc())).await.unwrap();
    (products, orders, items)
}

async fn place_order_is_one_unit_of_work(db: Database, _b: Backend) {
    create_tables(&db).await;
    let products = ProductRepo::new(&db);
    products.create_many(vec![new_product("LAMP", 5), new_product("DESK", 2), new_product("RUG", 0)]).await.unwrap();
    let limit = Decimal::new(100_000, 2);
    let before = snapshot(&db).await;

    // The last step fails in the database: the same product twice breaks the items'
    // UNIQUE (order_id, product_id) after stock was taken and the order and an item written.
    let err = place_order(&db, "ann", &[("LAMP", 1), ("DESK", 1), ("LAMP", 1)], limit).await.unwrap_err();
    assert!(matches!(err, Error::UniqueViolation(_)), "{err:?}");
    assert_eq!(snapshot(&db).await, before, "a failed last step leaves every table as it was");

    // The last step is the application's refusal, after every write.
    let err = place_order(&db, "ann", &[("LAMP", 2), ("DESK", 2)], Decimal::new(1000, 2)).await.unwrap_err();
    assert_eq!(refusal(&err), Some(&Refusal::OverCreditLimit), "{err:?}");
    assert_eq!(snapshot(&db).await, before);

    // Out of stock on a later line, after the first line's stock was taken.
    let err = place_order(&db, "ann", &[("LAMP", 1), ("RUG", 1)], limit).await.unwrap_err();
    assert_eq!(refusal(&err), Some(&Refusal::OutOfStock("RUG".into())), "{err:?}");
    let err = place_order(&db, "ann", &[("LAMP", 1), ("NOPE", 1)], limit).await.unwrap_err();
    assert_eq!(refusal(&err), Some(&Refusal::UnknownSku("NOPE".into())), "{err:?}");
    assert_eq!(snapshot(&db).await, before);

    // Success: stock taken, the order and its items written, together.
    let order = place_order(&db, "bob", &[("LAMP", 2), ("DESK", 2)], limit).await.unwrap();
    assert_eq!((order.customer.as_str(), order.total), ("bob", Decimal::new(5000, 2)));
    let (after_products, after_orders, after_items) = snapshot(&db).await;
    let stock: Vec<(String, i32)> = after_products.into_iter().map(|p| (p.sku, p.stock)).collect();
    assert_eq!(stock, [("LAMP".to_string(), 3), ("DESK".to_string(), 0), ("RUG".to_string(), 0)]);
    assert_eq!(after_orders, std::slice::from_ref(&order));
    let lines: Vec<(i64, i64, i32)> = after_items.iter().map(|i| (i.order_id, i.product_id, i.quantity)).collect();
    let (lamp, desk) = (&before.0[0], &before.0[1]);
    assert_eq!(lines, [(order.id, lamp.id, 2), (order.id, desk.id, 2)]);

    // Now DESK is sold out: refused, and nothing of it stays.
    let before = snapshot(&db).await;
    let err = place_order(&db, "cy", &[("LAMP", 1), ("DESK", 1)], limit).await.unwrap_err();
    assert_eq!(refusal(&err), Some(&Refusal::OutOfStock("DESK".into())));
    assert_eq!(snapshot(&db).await, before);
}

per_backend!(
    every_generic_method,
    soft_delete_and_versions,
    specific_repository,
    same_code_on_database_and_in_transaction,
    get_many_in_chunks,
    place_order_is_one_unit_of_work
);
