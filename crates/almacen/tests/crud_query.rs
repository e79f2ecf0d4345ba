//! CRUD operations and typed queries, the same on SQLite, PostgreSQL and MariaDB.

mod common;

use almacen::chrono::TimeZone;
use almacen::prelude::*;
use common::Backend;
use futures::TryStreamExt;
use std::collections::HashSet;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "items")]
struct Item {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 20, unique)]
    sku: String,
    #[model(max_len = 100)]
    name: String,
    #[model(max_len = 30, index)]
    category: String,
    #[model(default = 5)]
    stock: i32,
    #[model(decimal(10, 2))]
    price: Decimal,
    rating: Option<i32>,
    note: Option<String>,
    #[model(server_default = 0)]
    views: i64,
    #[model(server_default = now)]
    created_at: DateTime<Utc>,
}

/// A model with a natural (not generated) primary key.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "settings")]
struct Setting {
    #[model(primary_key, max_len = 40)]
    code: String,
    #[model(max_len = 200)]
    value: String,
    version: i32,
}

/// Four inserted columns (plus the id): 20,000 rows need 80,000 bound parameters.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "bulk_rows")]
struct BulkRow {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40, unique)]
    code: String,
    n: i32,
    #[model(max_len = 40)]
    label: String,
    flag: bool,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "users")]
struct User {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 50, unique)]
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "posts")]
struct Post {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = "users.id", on_delete = "cascade")]
    user_id: i64,
    #[model(max_len = 100)]
    title: String,
}

#[derive(FromRow, Debug, PartialEq)]
struct SkuPrice {
    sku: String,
    price: Decimal,
    #[from_row(column = "rating")]
    stars: Option<i32>,
}

#[derive(FromRow, Debug)]
struct CategoryStats {
    category: String,
    count_all: i64,
    count_rating: i64,
    sum_price: Decimal,
    avg_stock: f64,
    min_price: Decimal,
    max_stock: i32,
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn new_item(sku: &str, name: &str, category: &str, stock: i32, price: &str, rating: Option<i32>, note: Option<&str>) -> NewItem {
    NewItem {
        sku: sku.into(),
        name: name.into(),
        category: category.into(),
        stock,
        price: dec(price),
        rating,
        note: note.map(Into::into),
        ..Default::default()
    }
}

/// Six items:
///
/// | sku | name    | category | stock | price | rating | note                |
/// |-----|---------|----------|-------|-------|--------|---------------------|
/// | A1  | Lamp    | light    | 3     | 19.99 | 4      | "100% cotton shade" |
/// | A2  | lamp    | light    | 0     | 5.50  | NULL   | NULL                |
/// | A3  | Lantern | light    | 7     | 12.25 | 2      | "100 lumens"        |
/// | M1  | Clip    | misc     | 10    | 0.10  | 5      | NULL                |
/// | M2  | Pin     | misc     | 2     | 0.20  | NULL   | "steel"             |
/// | T1  | Rug     | textile  | 1     | 30.00 | 3      | NULL                |
async fn seed(db: &Database) -> Vec<Item> {
    db.create_tables(&[Item::TABLE]).await.unwrap();
    let rows = vec![
        new_item("A1", "Lamp", "light", 3, "19.99", Some(4), Some("100% cotton shade")),
        new_item("A2", "lamp", "light", 0, "5.50", None, None),
        new_item("A3", "Lantern", "light", 7, "12.25", Some(2), Some("100 lumens")),
        new_item("M1", "Clip", "misc", 10, "0.10", Some(5), None),
        new_item("M2", "Pin", "misc", 2, "0.20", None, Some("steel")),
        new_item("T1", "Rug", "textile", 1, "30.00", Some(3), None),
    ];
    let stored = Item::insert_many(db, rows).await.unwrap();
    assert_eq!(stored.len(), 6);
    stored
}

/// The skus of the items matching `cond`, in sku order.
async fn skus(db: &Database, cond: Condition) -> Vec<String> {
    Item::select().filter(cond).order_by(Item::SKU.asc()).fetch_all(db).await.unwrap().into_iter().map(|i| i.sku).collect()
}

/// The skus `q` returns, in its order.
async fn ordered_skus(db: &Database, q: Select<Item>) -> Vec<String> {
    q.fetch_all(db).await.unwrap().into_iter().map(|i| i.sku).collect()
}

fn sku_list(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.sku.as_str()).collect()
}

fn bulk(n: usize, prefix: &str) -> Vec<NewBulkRow> {
    (0..n).map(|i| NewBulkRow { code: format!("{prefix}-{i:06}"), n: i as i32, label: format!("label {i}"), flag: i % 2 == 0 }).collect()
}

fn fixed_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2021, 3, 4, 5, 6, 7).unwrap() + almacen::chrono::Duration::microseconds(123_456)
}

// ---------------------------------------------------------------------------------------
// CRUD
// ---------------------------------------------------------------------------------------

async fn insert_returns_stored_row(db: Database, _b: Backend) {
    db.create_tables(&[Item::TABLE]).await.unwrap();
    let before = Utc::now();
    let lamp = Item::insert(
        &db,
        NewItem { sku: "A1".into(), name: "Lamp".into(), category: "light".into(), price: dec("19.99"), ..Default::default() },
    )
    .await
    .unwrap();
    assert!(lamp.id > 0, "generated id: {lamp:?}");
    assert_eq!(lamp.sku, "A1");
    assert_eq!(lamp.stock, 5, "client default");
    assert_eq!(lamp.price, dec("19.99"));
    assert_eq!(lamp.price.to_string(), "19.99");
    assert_eq!(lamp.rating, None);
    assert_eq!(lamp.note, None);
    assert_eq!(lamp.views, 0, "integer server default");
    let drift = (lamp.created_at - before).num_seconds().abs();
    assert!(drift < 120, "created_at server default {} is far from now {before}", lamp.created_at);

    // Explicit values for server-default columns are stored as given.
    let rug = Item::insert(
        &db,
        NewItem {
            sku: "T1".into(),
            name: "Rug".into(),
            category: "textile".into(),
            stock: 0,
            price: dec("30"),
            rating: Some(3),
            note: Some("wool".into()),
            views: Some(42),
            created_at: Some(fixed_time()),
        },
    )
    .await
    .unwrap();
    assert!(rug.id > lamp.id);
    assert_eq!(rug.stock, 0);
    assert_eq!(rug.views, 42);
    assert_eq!(rug.created_at, fixed_time());
    assert_eq!(rug.rating, Some(3));
    assert_eq!(rug.note.as_deref(), Some("wool"));

    // What insert returned is what is stored.
    assert_eq!(Item::get(&db, lamp.id).await.unwrap(), Some(lamp.clone()));
    assert_eq!(Item::get(&db, rug.id).await.unwrap(), Some(rug));
    assert_eq!(Item::get(&db, lamp.id + 1000).await.unwrap(), None);
}

async fn insert_many_small_in_order(db: Database, _b: Backend) {
    db.create_tables(&[Item::TABLE]).await.unwrap();
    assert!(Item::insert_many(&db, Vec::new()).await.unwrap().is_empty());
    let mut second = new_item("B", "Bravo", "x", 2, "2.00", Some(1), None);
    second.created_at = Some(fixed_time());
    second.views = Some(7);
    let rows = vec![
        new_item("A", "Alpha", "x", 1, "1.00", None, None),
        second,
        new_item("C", "Charlie", "x", 3, "3.00", None, Some("c")),
        new_item("D", "Delta", "x", 4, "4.00", Some(4), None),
    ];
    let stored = Item::insert_many(&db, rows).await.unwrap();
    assert_eq!(sku_list(&stored), ["A", "B", "C", "D"]);
    let ids: HashSet<i64> = stored.iter().map(|i| i.id).collect();
    assert_eq!(ids.len(), 4, "distinct ids: {stored:?}");
    assert!(stored.windows(2).all(|w| w[0].id < w[1].id), "ids increase in input order: {stored:?}");
    assert_eq!(stored[1].created_at, fixed_time());
    assert_eq!(stored[1].views, 7);
    assert_eq!(stored[0].views, 0);
    assert_eq!(stored[2].views, 0);
    assert_eq!(stored[2].note.as_deref(), Some("c"));
    assert_eq!(stored.iter().map(|i| i.stock).collect::<Vec<_>>(), [1, 2, 3, 4]);
    for s in &stored {
        assert_eq!(Item::get(&db, s.id).await.unwrap().as_ref(), Some(s));
    }
}

async fn insert_many_chunked_20k(db: Database, _b: Backend) {
    db.create_tables(&[BulkRow::TABLE]).await.unwrap();
    let stored = BulkRow::insert_many(&db, bulk(20_000, "k")).await.unwrap();
    assert_eq!(stored.len(), 20_000);
    let ids: HashSet<i64> = stored.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 20_000, "ids are distinct");
    for (i, r) in stored.iter().enumerate() {
        assert_eq!(r.code, format!("k-{i:06}"), "returned in input order");
        assert_eq!(r.n, i as i32);
        assert_eq!(r.flag, i % 2 == 0);
    }
    assert_eq!(BulkRow::select().count(&db).await.unwrap(), 20_000);
    assert_eq!(BulkRow::select().filter(BulkRow::FLAG.eq(true)).count(&db).await.unwrap(), 10_000);
    let last = BulkRow::select().filter(BulkRow::CODE.eq("k-019999")).fetch_one(&db).await.unwrap();
    assert_eq!(last, stored[19_999]);
}

async fn insert_many_is_atomic_across_chunks(db: Database, _b: Backend) {
    db.create_tables(&[BulkRow::TABLE]).await.unwrap();
    let mut rows = bulk(20_000, "k");
    // The last row repeats the first row's unique code: the violation happens in the last
    // chunk, after earlier chunks were inserted.
    rows[19_999].code = rows[0].code.clone();
    let err = BulkRow::insert_many(&db, rows).await.unwrap_err();
    assert!(matches!(err, Error::UniqueViolation(_)), "unexpected error: {err:?}");
    assert_eq!(BulkRow::select().count(&db).await.unwrap(), 0, "nothing of a failed insert_many stays");

    // A single-statement insert_many with a duplicate leaves nothing either.
    let mut few = bulk(5, "f");
    few[4].code = few[1].code.clone();
    let err = BulkRow::insert_many(&db, few).await.unwrap_err();
    assert!(matches!(err, Error::UniqueViolation(_)), "unexpected error: {err:?}");
    assert_eq!(BulkRow::select().count(&db).await.unwrap(), 0);

    // Rows naming different columns (one sets a server-default column) take one statement
    // per run of rows, even under the chunk limit: a failure in the last leaves nothing.
    db.create_tables(&[Item::TABLE]).await.unwrap();
    let mut with_views = new_item("V2", "Views", "x", 2, "2.00", None, None);
    with_views.views = Some(9);
    let mixed = vec![
        new_item("V1", "One", "x", 1, "1.00", None, None),
        with_views,
        new_item("V1", "Duplicate of the first", "x", 3, "3.00", None, None),
    ];
    let err = Item::insert_many(&db, mixed).await.unwrap_err();
    assert!(matches!(err, Error::UniqueViolation(_)), "unexpected error: {err:?}");
    assert_eq!(Item::select().count(&db).await.unwrap(), 0, "no row of a failed mixed insert_many stays");

    // The database is still usable afterwards.
    let ok = BulkRow::insert_many(&db, bulk(3, "g")).await.unwrap();
    assert_eq!(ok.len(), 3);
    assert_eq!(BulkRow::select().count(&db).await.unwrap(), 3);
}

async fn get_update_and_not_found(db: Database, _b: Backend) {
    let items = seed(&db).await;
    let a1 = items[0].clone();
    assert_eq!(Item::get(&db, a1.id).await.unwrap(), Some(a1.clone()));
    assert_eq!(Item::get(&db, -1).await.unwrap(), None);

    let mut changed = a1.clone();
    changed.sku = "A1-new".into();
    changed.name = "Desk lamp".into();
    changed.category = "office".into();
    changed.stock = 99;
    changed.price = dec("1234.56");
    changed.rating = None;
    changed.note = Some("changed".into());
    changed.views = 12;
    changed.created_at = fixed_time();
    changed.update(&db).await.unwrap();
    assert_eq!(Item::get(&db, a1.id).await.unwrap(), Some(changed.clone()), "update writes every field");
    // Other rows are untouched.
    assert_eq!(Item::get(&db, items[1].id).await.unwrap(), Some(items[1].clone()));

    // Updating with unchanged values still finds the row.
    changed.update(&db).await.unwrap();

    // Setting a nullable column back from NULL.
    changed.rating = Some(1);
    changed.note = None;
    changed.update(&db).await.unwrap();
    assert_eq!(Item::get(&db, a1.id).await.unwrap(), Some(changed.clone()));

    assert!(changed.delete(&db).await.unwrap());
    let err = changed.update(&db).await.unwrap_err();
    assert!(matches!(err, Error::NotFound), "update of a deleted row: {err:?}");
    assert_eq!(Item::select().count(&db).await.unwrap(), 5);
}

async fn patch_partial_update(db: Database, _b: Backend) {
    let items = seed(&db).await;
    let a1 = items[0].clone();
    let patched = Item::patch(a1.id)
        .set(Item::NAME, "Desk lamp")
        .add(Item::STOCK, -1)
        .add(Item::PRICE, dec("0.05"))
        .set(Item::NOTE, None::<String>)
        .execute(&db)
        .await
        .unwrap()
        .expect("patched row");
    assert_eq!(patched.id, a1.id);
    assert_eq!(patched.name, "Desk lamp");
    assert_eq!(patched.stock, 2);
    assert_eq!(patched.price, dec("20.04"));
    assert_eq!(patched.note, None);
    // Untouched columns keep their values.
    assert_eq!(patched.sku, a1.sku);
    assert_eq!(patched.category, a1.category);
    assert_eq!(patched.rating, a1.rating);
    assert_eq!(patched.views, a1.views);
    assert_eq!(patched.created_at, a1.created_at);
    assert_eq!(Item::get(&db, a1.id).await.unwrap(), Some(patched.clone()));
    assert_eq!(Item::get(&db, items[1].id).await.unwrap(), Some(items[1].clone()), "other rows untouched");

    // Setting a value equal to the current one still returns the row.
    let same = Item::patch(a1.id).set(Item::NAME, "Desk lamp").execute(&db).await.unwrap();
    assert_eq!(same, Some(patched.clone()));

    // Setting a nullable column to a value.
    let noted =
        Item::patch(items[1].id).set(Item::NOTE, "new note".to_string()).set(Item::RATING, Some(1)).execute(&db).await.unwrap().unwrap();
    assert_eq!(noted.note.as_deref(), Some("new note"));
    assert_eq!(noted.rating, Some(1));

    // A patch with no assignments returns the row as it is.
    assert_eq!(Item::patch(a1.id).execute(&db).await.unwrap(), Some(patched));

    // A missing key: None, nothing changed.
    assert_eq!(Item::patch(-5).add(Item::STOCK, 1).execute(&db).await.unwrap(), None);
    assert_eq!(Item::patch(-5).set(Item::NAME, "ghost").execute(&db).await.unwrap(), None);
    assert_eq!(Item::select().filter(Item::NAME.eq("ghost")).count(&db).await.unwrap(), 0);
}

async fn delete_and_delete_by_key(db: Database, _b: Backend) {
    let items = seed(&db).await;
    assert!(items[0].delete(&db).await.unwrap());
    assert!(!items[0].delete(&db).await.unwrap());
    assert_eq!(Item::get(&db, items[0].id).await.unwrap(), None);
    assert!(Item::delete_by_key(&db, items[1].id).await.unwrap());
    assert!(!Item::delete_by_key(&db, items[1].id).await.unwrap());
    assert!(!Item::delete_by_key(&db, -1).await.unwrap());
    assert_eq!(Item::select().count(&db).await.unwrap(), 4);
    assert_eq!(skus(&db, Item::ID.gt(0)).await, ["A3", "M1", "M2", "T1"]);
}

async fn upsert_by_primary_key(db: Database, _b: Backend) {
    db.create_tables(&[Setting::TABLE, Item::TABLE]).await.unwrap();
    let first = Setting { code: "theme".into(), value: "dark".into(), version: 1 };
    let stored = first.upsert(&db).await.unwrap();
    assert_eq!(stored, first);
    let other = Setting { code: "lang".into(), value: "es".into(), version: 1 }.upsert(&db).await.unwrap();
    assert_eq!(other.value, "es");

    let second = Setting { code: "theme".into(), value: "light".into(), version: 2 };
    let stored = second.upsert(&db).await.unwrap();
    assert_eq!(stored, second, "upsert updated and returned the stored row");
    assert_eq!(Setting::get(&db, "theme".to_string()).await.unwrap(), Some(second.clone()));
    assert_eq!(Setting::get(&db, "lang".to_string()).await.unwrap(), Some(other));
    assert_eq!(Setting::select().count(&db).await.unwrap(), 2);

    // Upserting the same values again changes nothing and still returns the row.
    assert_eq!(second.upsert(&db).await.unwrap(), second);

    // An existing row of a model with a generated key, upserted by its key.
    let items = seed(&db).await;
    let mut a2 = items[1].clone();
    a2.name = "Floor lamp".into();
    a2.price = dec("77.70");
    a2.rating = Some(5);
    let stored = a2.upsert(&db).await.unwrap();
    assert_eq!(stored, a2);
    assert_eq!(Item::get(&db, a2.id).await.unwrap(), Some(a2));
    assert_eq!(Item::select().count(&db).await.unwrap(), 6);
}

async fn upsert_on_unique_column(db: Database, _b: Backend) {
    let items = seed(&db).await;
    let fresh = Item {
        id: 0,
        sku: "Z9".into(),
        name: "Zither".into(),
        category: "music".into(),
        stock: 1,
        price: dec("250.00"),
        rating: None,
        note: None,
        views: 3,
        created_at: fixed_time(),
    };
    let inserted = fresh.upsert_on(&db, &[Item::SKU.as_ref()]).await.unwrap();
    assert!(inserted.id > 0, "generated id: {inserted:?}");
    assert!(items.iter().all(|i| i.id != inserted.id));
    assert_eq!(Item { id: inserted.id, ..fresh.clone() }, inserted);

    let again = Item {
        id: 0,
        name: "Zither deluxe".into(),
        stock: 4,
        price: dec("299.99"),
        rating: Some(5),
        note: Some("tuned".into()),
        ..fresh.clone()
    };
    let updated = again.upsert_on(&db, &[Item::SKU.as_ref()]).await.unwrap();
    assert_eq!(updated.id, inserted.id, "same row, same id");
    assert_eq!(updated.name, "Zither deluxe");
    assert_eq!(updated.stock, 4);
    assert_eq!(updated.price, dec("299.99"));
    assert_eq!(updated.rating, Some(5));
    assert_eq!(updated.note.as_deref(), Some("tuned"));
    assert_eq!(Item::get(&db, inserted.id).await.unwrap(), Some(updated));
    assert_eq!(Item::select().filter(Item::SKU.eq("Z9")).count(&db).await.unwrap(), 1);
    assert_eq!(Item::select().count(&db).await.unwrap(), 7);

    // Conflict with a seeded row: its id is kept, its fields replaced.
    let a1 = Item { id: 0, name: "Lamp v2".into(), ..items[0].clone() };
    let stored = a1.upsert_on(&db, &[Item::SKU.as_ref()]).await.unwrap();
    assert_eq!(stored.id, items[0].id);
    assert_eq!(stored.name, "Lamp v2");
    assert_eq!(Item::select().count(&db).await.unwrap(), 7);
}

async fn update_where_and_delete_where(db: Database, _b: Backend) {
    let items = seed(&db).await;
    let n =
        Item::update_where(Item::CATEGORY.eq("light")).set(Item::NOTE, "sale".to_string()).add(Item::STOCK, 1).execute(&db).await.unwrap();
    assert_eq!(n, 3);
    let light = Item::select().filter(Item::CATEGORY.eq("light")).order_by(Item::SKU.asc()).fetch_all(&db).await.unwrap();
    assert_eq!(light.iter().map(|i| i.stock).collect::<Vec<_>>(), [4, 1, 8]);
    assert!(light.iter().all(|i| i.note.as_deref() == Some("sale")));
    assert_eq!(light.iter().map(|i| i.price).collect::<Vec<_>>(), [dec("19.99"), dec("5.50"), dec("12.25")]);
    // Rows outside the condition are untouched.
    for i in &items[3..] {
        assert_eq!(Item::get(&db, i.id).await.unwrap().as_ref(), Some(i));
    }

    // The count is of matched rows, even when a value does not change.
    let n = Item::update_where(Item::SKU.is_in(["T1", "M2"])).set(Item::STOCK, 1).execute(&db).await.unwrap();
    assert_eq!(n, 2, "T1 already has stock 1, M2 changes");
    let n = Item::update_where(Item::SKU.eq("nope")).set(Item::STOCK, 1).execute(&db).await.unwrap();
    assert_eq!(n, 0);
    let n = Item::update_where(Item::PRICE.lt(dec("1"))).add(Item::PRICE, dec("1.01")).execute(&db).await.unwrap();
    assert_eq!(n, 2);
    assert_eq!(Item::get(&db, items[3].id).await.unwrap().unwrap().price, dec("1.11"));
    assert_eq!(Item::get(&db, items[4].id).await.unwrap().unwrap().price, dec("1.21"));
    assert!(Item::update_where(Item::SKU.eq("A1")).execute(&db).await.is_err(), "update_where without set");

    let n = Item::delete_where(Item::CATEGORY.eq("misc")).execute(&db).await.unwrap();
    assert_eq!(n, 2);
    assert_eq!(Item::delete_where(Item::CATEGORY.eq("misc")).execute(&db).await.unwrap(), 0);
    let n = Item::delete_where(Item::RATING.is_null().or(Item::STOCK.gt(7))).execute(&db).await.unwrap();
    assert_eq!(n, 2, "A2 (NULL rating) and A3 (stock 8)");
    assert_eq!(skus(&db, Item::ID.gt(0)).await, ["A1", "T1"]);
}

// ---------------------------------------------------------------------------------------
// Typed queries
// ---------------------------------------------------------------------------------------

async fn comparisons_and_lists(db: Database, _b: Backend) {
    seed(&db).await;
    assert_eq!(skus(&db, Item::STOCK.eq(0)).await, ["A2"]);
    assert_eq!(skus(&db, Item::CATEGORY.ne("light")).await, ["M1", "M2", "T1"]);
    assert_eq!(skus(&db, Item::PRICE.lt(dec("12.25"))).await, ["A2", "M1", "M2"]);
    assert_eq!(skus(&db, Item::PRICE.le(dec("12.25"))).await, ["A2", "A3", "M1", "M2"]);
    assert_eq!(skus(&db, Item::PRICE.gt(dec("19.99"))).await, ["T1"]);
    assert_eq!(skus(&db, Item::PRICE.ge(dec("19.99"))).await, ["A1", "T1"]);
    assert_eq!(skus(&db, Item::STOCK.gt(7)).await, ["M1"]);
    assert_eq!(skus(&db, Item::STOCK.ge(7)).await, ["A3", "M1"]);
    assert_eq!(skus(&db, Item::STOCK.lt(2)).await, ["A2", "T1"]);
    assert_eq!(skus(&db, Item::STOCK.le(2)).await, ["A2", "M2", "T1"]);
    assert_eq!(skus(&db, Item::RATING.eq(4)).await, ["A1"]);
    assert_eq!(skus(&db, Item::RATING.ne(4)).await, ["A3", "M1", "T1"], "NULL is neither equal nor unequal");
    assert_eq!(skus(&db, Item::NAME.eq("lamp")).await, ["A2"], "= is case-sensitive");

    assert_eq!(skus(&db, Item::SKU.is_in(["A1", "T1", "ZZ"])).await, ["A1", "T1"]);
    assert_eq!(skus(&db, Item::STOCK.is_in([0, 10])).await, ["A2", "M1"]);
    assert_eq!(skus(&db, Item::PRICE.is_in([dec("0.1"), dec("30")])).await, ["M1", "T1"]);
    assert!(skus(&db, Item::SKU.is_in(Vec::<String>::new())).await.is_empty(), "empty IN matches nothing");
    assert_eq!(skus(&db, Item::SKU.not_in(["A1", "A2"])).await, ["A3", "M1", "M2", "T1"]);
    assert_eq!(skus(&db, Item::SKU.not_in(Vec::<String>::new())).await.len(), 6, "empty NOT IN matches everything");
    assert_eq!(skus(&db, Item::SKU.not_in(Vec::<String>::new()).and(Item::STOCK.eq(0))).await, ["A2"]);
    assert_eq!(skus(&db, Item::SKU.is_in(Vec::<String>::new()).or(Item::STOCK.eq(0))).await, ["A2"]);

    assert_eq!(skus(&db, Item::PRICE.between(dec("5.50"), dec("19.99"))).await, ["A1", "A2", "A3"], "both ends included");
    assert_eq!(skus(&db, Item::STOCK.between(2, 3)).await, ["A1", "M2"]);
    assert!(skus(&db, Item::STOCK.between(4, 3)).await.is_empty());

    assert_eq!(skus(&db, Item::RATING.is_null()).await, ["A2", "M2"]);
    assert_eq!(skus(&db, Item::RATING.is_not_null()).await, ["A1", "A3", "M1", "T1"]);
    assert_eq!(skus(&db, Item::NOTE.is_null().and(Item::RATING.is_null())).await, ["A2"]);
}

async fn decimal_comparison_with_extra_places(db: Database, _b: Backend) {
    seed(&db).await;
    // A value with more decimal places than the column (scale 2) must still compare by
    // numeric value (query::compare_type promises this for SQLite's scaled storage).
    let got = (
        skus(&db, Item::PRICE.gt(dec("0.105"))).await,
        skus(&db, Item::PRICE.le(dec("5.505"))).await,
        skus(&db, Item::PRICE.between(dec("0.095"), dec("0.205"))).await,
    );
    let want = (vec!["A1", "A2", "A3", "M2", "T1"], vec!["A2", "M1", "M2"], vec!["M1", "M2"]);
    assert_eq!(got.0, want.0, "price > 0.105 (all: {got:?})");
    assert_eq!(got.1, want.1, "price <= 5.505 (all: {got:?})");
    assert_eq!(got.2, want.2, "price BETWEEN 0.095 AND 0.205 (all: {got:?})");
}

async fn like_and_ilike(db: Database, _b: Backend) {
    seed(&db).await;
    assert_eq!(skus(&db, Item::NAME.like("L%")).await, ["A1", "A3"], "LIKE is case-sensitive");
    assert_eq!(skus(&db, Item::NAME.like("l%")).await, ["A2"]);
    assert_eq!(skus(&db, Item::NAME.like("_amp")).await, ["A1", "A2"]);
    assert_eq!(skus(&db, Item::NAME.like("%a%")).await, ["A1", "A2", "A3"]);
    assert_eq!(skus(&db, Item::NAME.like("Lamp")).await, ["A1"]);
    assert!(skus(&db, Item::NAME.like("LAMP")).await.is_empty());
    assert_eq!(skus(&db, Item::NAME.ilike("l%")).await, ["A1", "A2", "A3"], "ILIKE ignores case");
    assert_eq!(skus(&db, Item::NAME.ilike("LAMP")).await, ["A1", "A2"]);
    assert_eq!(skus(&db, Item::NAME.ilike("%IN")).await, ["M2"]);
    assert_eq!(skus(&db, Item::NAME.ilike("c_ip")).await, ["M1"]);
    // Wildcards and escapes.
    assert_eq!(skus(&db, Item::NOTE.like("100%")).await, ["A1", "A3"]);
    assert_eq!(skus(&db, Item::NOTE.like("100\\%%")).await, ["A1"], "escaped % is a literal %");
    assert_eq!(skus(&db, Item::NOTE.ilike("100\\% COTTON%")).await, ["A1"]);
    assert!(skus(&db, Item::NOTE.like("100\\_%")).await.is_empty(), "escaped _ is a literal _");
    assert_eq!(skus(&db, Item::NOTE.like("100_%")).await, ["A1", "A3"]);
    assert!(skus(&db, Item::NOTE.like("%*%")).await.is_empty(), "* is not a wildcard");
    assert!(skus(&db, Item::NOTE.like("stee?")).await.is_empty(), "? is not a wildcard");
    assert_eq!(skus(&db, Item::NOTE.like("stee_")).await, ["M2"]);
    assert_eq!(skus(&db, Item::NOTE.like("%l").not()).await, ["A1", "A3"], "NOT LIKE; NULL notes match neither");
}

async fn boolean_combinations(db: Database, _b: Backend) {
    seed(&db).await;
    assert_eq!(skus(&db, Item::CATEGORY.eq("light").and(Item::STOCK.gt(0))).await, ["A1", "A3"]);
    assert_eq!(skus(&db, Item::CATEGORY.eq("misc").or(Item::PRICE.gt(dec("25")))).await, ["M1", "M2", "T1"]);
    assert_eq!(skus(&db, Item::CATEGORY.eq("light").not()).await, ["M1", "M2", "T1"]);
    assert_eq!(
        skus(&db, Item::CATEGORY.eq("light").and(Item::STOCK.eq(0).or(Item::RATING.ge(4)))).await,
        ["A1", "A2"],
        "OR nested in AND keeps its grouping"
    );
    assert_eq!(
        skus(&db, Item::CATEGORY.eq("light").and(Item::STOCK.eq(0)).or(Item::CATEGORY.eq("textile"))).await,
        ["A2", "T1"],
        "AND nested in OR keeps its grouping"
    );
    assert_eq!(skus(&db, Item::CATEGORY.eq("light").or(Item::CATEGORY.eq("misc")).not()).await, ["T1"], "NOT applies to the whole OR");
    assert_eq!(skus(&db, Item::STOCK.gt(1).and(Item::STOCK.lt(10)).and(Item::RATING.is_not_null())).await, ["A1", "A3"]);
    assert_eq!(skus(&db, Item::STOCK.gt(1).and(Item::STOCK.lt(10).not())).await, ["M1"]);
    assert!(skus(&db, Item::STOCK.gt(100).or(Item::STOCK.lt(-1))).await.is_empty());
    // Several filter calls are ANDed.
    let v = Item::select()
        .filter(Item::CATEGORY.eq("light").or(Item::CATEGORY.eq("misc")))
        .filter(Item::STOCK.ge(3))
        .order_by(Item::SKU.asc())
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(sku_list(&v), ["A1", "A3", "M1"]);
}

async fn ordering_and_paging(db: Database, _b: Backend) {
    seed(&db).await;
    let all = |q: Select<Item>| ordered_skus(&db, q);
    assert_eq!(all(Item::select().order_by(Item::SKU.asc())).await, ["A1", "A2", "A3", "M1", "M2", "T1"]);
    assert_eq!(all(Item::select().order_by(Item::SKU.desc())).await, ["T1", "M2", "M1", "A3", "A2", "A1"]);
    assert_eq!(all(Item::select().order_by(Item::CATEGORY.asc()).order_by(Item::PRICE.desc())).await, ["A1", "A3", "A2", "M2", "M1", "T1"]);
    assert_eq!(all(Item::select().order_by(Item::CATEGORY.desc()).order_by(Item::STOCK.asc())).await, ["T1", "M2", "M1", "A2", "A1", "A3"]);
    // Nullable column: NULLs first ascending, last descending.
    assert_eq!(all(Item::select().order_by(Item::RATING.asc()).order_by(Item::SKU.asc())).await, ["A2", "M2", "A3", "T1", "A1", "M1"]);
    assert_eq!(all(Item::select().order_by(Item::RATING.desc()).order_by(Item::SKU.asc())).await, ["M1", "A1", "T1", "A3", "A2", "M2"]);
    assert_eq!(
        all(Item::select().filter(Item::SKU.ne("A3")).order_by(Item::NOTE.desc()).order_by(Item::SKU.desc())).await,
        ["M2", "A1", "T1", "M1", "A2"]
    );
    // Paging.
    let by_sku = || Item::select().order_by(Item::SKU.asc());
    assert_eq!(all(by_sku().limit(2)).await, ["A1", "A2"]);
    assert_eq!(all(by_sku().limit(2).offset(1)).await, ["A2", "A3"]);
    assert_eq!(all(by_sku().limit(10).offset(5)).await, ["T1"]);
    assert!(all(by_sku().limit(3).offset(6)).await.is_empty());
    assert!(all(by_sku().limit(0)).await.is_empty());
    assert_eq!(all(by_sku().offset(4)).await, ["M2", "T1"], "offset without limit");
    assert!(all(by_sku().offset(100)).await.is_empty());
    assert_eq!(all(by_sku().filter(Item::CATEGORY.eq("light")).offset(1).limit(1)).await, ["A2"]);
}

async fn count_exists_and_fetch_variants(db: Database, _b: Backend) {
    db.create_tables(&[Item::TABLE]).await.unwrap();
    assert_eq!(Item::select().count(&db).await.unwrap(), 0);
    assert!(!Item::select().exists(&db).await.unwrap());
    let err = Item::select().fetch_one(&db).await.unwrap_err();
    assert!(matches!(err, Error::NotFound), "fetch_one on an empty table: {err:?}");
    assert_eq!(Item::select().fetch_optional(&db).await.unwrap(), None);
    assert!(Item::select().fetch_all(&db).await.unwrap().is_empty());
    db.execute_raw("DROP TABLE items", params! {}).await.unwrap();

    let items = seed(&db).await;
    assert_eq!(Item::select().count(&db).await.unwrap(), 6);
    assert_eq!(Item::select().filter(Item::CATEGORY.eq("light")).count(&db).await.unwrap(), 3);
    assert_eq!(Item::select().filter(Item::RATING.is_null()).count(&db).await.unwrap(), 2);
    assert_eq!(Item::select().filter(Item::CATEGORY.eq("none")).count(&db).await.unwrap(), 0);
    assert_eq!(Item::select().order_by(Item::SKU.asc()).limit(2).offset(1).count(&db).await.unwrap(), 6, "count ignores limit/offset");

    assert!(Item::select().filter(Item::CATEGORY.eq("misc")).exists(&db).await.unwrap());
    assert!(!Item::select().filter(Item::CATEGORY.eq("none")).exists(&db).await.unwrap());
    assert!(Item::select().exists(&db).await.unwrap());

    let cheapest = Item::select().order_by(Item::PRICE.asc()).fetch_one(&db).await.unwrap();
    assert_eq!(cheapest, items[3]);
    let priciest = Item::select().order_by(Item::PRICE.desc()).fetch_optional(&db).await.unwrap();
    assert_eq!(priciest.as_ref(), Some(&items[5]));
    let second = Item::select().order_by(Item::PRICE.asc()).offset(1).fetch_one(&db).await.unwrap();
    assert_eq!(second, items[4]);
    let err = Item::select().filter(Item::SKU.eq("nope")).fetch_one(&db).await.unwrap_err();
    assert!(matches!(err, Error::NotFound), "{err:?}");
    assert_eq!(Item::select().filter(Item::SKU.eq("nope")).fetch_optional(&db).await.unwrap(), None);
    let all = Item::select().order_by(Item::ID.asc()).fetch_all(&db).await.unwrap();
    assert_eq!(all, items);
}

async fn stream_many_rows(db: Database, _b: Backend) {
    db.create_tables(&[BulkRow::TABLE]).await.unwrap();
    let stored = BulkRow::insert_many(&db, bulk(1_000, "s")).await.unwrap();
    let streamed: Vec<BulkRow> = BulkRow::select().order_by(BulkRow::ID.asc()).stream(&db).try_collect().await.unwrap();
    assert_eq!(streamed.len(), 1_000);
    assert_eq!(streamed, stored);
    let sum: i64 = streamed.iter().map(|r| r.n as i64).sum();
    assert_eq!(sum, 999 * 1_000 / 2);

    let filtered: Vec<BulkRow> = BulkRow::select()
        .filter(BulkRow::N.ge(900).and(BulkRow::FLAG.eq(true)))
        .order_by(BulkRow::N.desc())
        .stream(&db)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(filtered.len(), 50);
    assert_eq!(filtered[0].n, 998);
    assert_eq!(filtered[49].n, 900);

    let none: Vec<BulkRow> = BulkRow::select().filter(BulkRow::N.lt(0)).stream(&db).try_collect().await.unwrap();
    assert!(none.is_empty());
    let paged: Vec<BulkRow> = BulkRow::select().order_by(BulkRow::N.asc()).limit(10).offset(990).stream(&db).try_collect().await.unwrap();
    assert_eq!(paged.iter().map(|r| r.n).collect::<Vec<_>>(), (990..1000).collect::<Vec<_>>());
}

async fn group_by_having_aggregates(db: Database, _b: Backend) {
    seed(&db).await;
    let rows: Vec<(String, i64, Decimal, f64, Decimal, i32)> = Item::select()
        .columns([
            Item::CATEGORY.into(),
            count_all().into(),
            sum(Item::PRICE).into(),
            avg(Item::STOCK).into(),
            min(Item::PRICE).into(),
            max(Item::STOCK).into(),
        ])
        .group_by(Item::CATEGORY)
        .having(count_all().gt(1))
        .order_by(Item::CATEGORY.asc())
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "textile has one item and is filtered out: {rows:?}");
    let (cat, n, total, mean, cheapest, most) = &rows[0];
    assert_eq!(cat, "light");
    assert_eq!(*n, 3);
    assert_eq!(*total, dec("37.74"), "exact decimal SUM");
    assert!((mean - 10.0 / 3.0).abs() < 1e-3, "avg stock {mean}");
    assert_eq!(*cheapest, dec("5.50"));
    assert_eq!(*most, 7);
    let (cat, n, total, mean, cheapest, most) = &rows[1];
    assert_eq!(cat, "misc");
    assert_eq!(*n, 2);
    assert_eq!(*total, dec("0.30"), "0.10 + 0.20 is exactly 0.30");
    assert!((mean - 6.0).abs() < 1e-9, "avg stock {mean}");
    assert_eq!(*cheapest, dec("0.10"));
    assert_eq!(*most, 10);

    // HAVING on a decimal SUM, combined with a count condition.
    let rows: Vec<(String, Decimal)> = Item::select()
        .columns([Item::CATEGORY.into(), sum(Item::PRICE).into()])
        .group_by(Item::CATEGORY)
        .having(count_all().gt(1))
        .having(sum(Item::PRICE).gt(dec("1")))
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(rows, [("light".to_string(), dec("37.74"))]);
    let rows: Vec<(String, i64)> = Item::select()
        .columns([Item::CATEGORY.into(), count_all().into()])
        .group_by(Item::CATEGORY)
        .having(sum(Item::PRICE).ge(dec("30.00")))
        .order_by(Item::CATEGORY.desc())
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(rows, [("textile".to_string(), 1), ("light".to_string(), 3)]);

    // Filter before grouping.
    let rows: Vec<(String, i64, i64)> = Item::select()
        .filter(Item::STOCK.gt(0))
        .columns([Item::CATEGORY.into(), count_all().into(), sum(Item::STOCK).into()])
        .group_by(Item::CATEGORY)
        .order_by(Item::CATEGORY.asc())
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(rows, [("light".to_string(), 2, 10), ("misc".to_string(), 2, 12), ("textile".to_string(), 1, 1)]);

    // Aggregates over the whole table, no GROUP BY.
    let (n, total, lo, hi): (i64, Decimal, Decimal, Decimal) = Item::select()
        .columns([count_all().into(), sum(Item::PRICE).into(), min(Item::PRICE).into(), max(Item::PRICE).into()])
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!((n, total, lo, hi), (6, dec("68.04"), dec("0.10"), dec("30.00")));
    let (avg_price,): (f64,) = Item::select().columns([avg(Item::PRICE).into()]).fetch_one(&db).await.unwrap();
    assert!((avg_price - 11.34).abs() < 1e-6, "avg price {avg_price}");
    let (rated, mean_rating): (i64, f64) =
        Item::select().columns([count(Item::RATING).into(), avg(Item::RATING).into()]).fetch_one(&db).await.unwrap();
    assert_eq!(rated, 4, "COUNT(column) skips NULLs");
    assert!((mean_rating - 3.5).abs() < 1e-9, "avg rating {mean_rating}");

    // SUM over no rows is NULL.
    let (empty_sum,): (Option<Decimal>,) =
        Item::select().filter(Item::CATEGORY.eq("none")).columns([sum(Item::PRICE).into()]).fetch_one(&db).await.unwrap();
    assert_eq!(empty_sum, None);

    // Into a FromRow struct, fields read by alias.
    let stats: Vec<CategoryStats> = Item::select()
        .columns([
            Item::CATEGORY.into(),
            count_all().into(),
            count(Item::RATING).into(),
            sum(Item::PRICE).into(),
            avg(Item::STOCK).into(),
            min(Item::PRICE).into(),
            max(Item::STOCK).into(),
        ])
        .group_by(Item::CATEGORY)
        .order_by(Item::CATEGORY.asc())
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(stats.iter().map(|s| s.category.as_str()).collect::<Vec<_>>(), ["light", "misc", "textile"]);
    assert_eq!(stats.iter().map(|s| s.count_all).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(stats.iter().map(|s| s.count_rating).collect::<Vec<_>>(), [2, 1, 1]);
    assert_eq!(stats.iter().map(|s| s.sum_price).collect::<Vec<_>>(), [dec("37.74"), dec("0.30"), dec("30.00")]);
    assert_eq!(stats.iter().map(|s| s.min_price).collect::<Vec<_>>(), [dec("5.50"), dec("0.10"), dec("30.00")]);
    assert_eq!(stats.iter().map(|s| s.max_stock).collect::<Vec<_>>(), [7, 10, 1]);
    for (s, want) in stats.iter().zip([10.0 / 3.0, 6.0, 1.0]) {
        assert!((s.avg_stock - want).abs() < 1e-3, "{}: avg stock {} != {want}", s.category, s.avg_stock);
    }
}

async fn select_into_tuples_and_structs(db: Database, _b: Backend) {
    seed(&db).await;
    let rows: Vec<(String, Decimal, Option<i32>)> = Item::select()
        .filter(Item::CATEGORY.eq("light"))
        .order_by(Item::SKU.asc())
        .columns([Item::SKU.into(), Item::PRICE.into(), Item::RATING.into()])
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(
        rows,
        [("A1".to_string(), dec("19.99"), Some(4)), ("A2".to_string(), dec("5.50"), None), ("A3".to_string(), dec("12.25"), Some(2)),]
    );
    let structs: Vec<SkuPrice> = Item::select()
        .columns([Item::RATING.into(), Item::SKU.into(), Item::PRICE.into()])
        .filter(Item::CATEGORY.eq("misc"))
        .order_by(Item::SKU.desc())
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(
        structs,
        [SkuPrice { sku: "M2".into(), price: dec("0.20"), stars: None }, SkuPrice { sku: "M1".into(), price: dec("0.10"), stars: Some(5) },]
    );
    let one: Option<(String, i32, Option<String>)> = Item::select()
        .columns([Item::NAME.into(), Item::STOCK.into(), Item::NOTE.into()])
        .filter(Item::SKU.eq("A3"))
        .fetch_optional(&db)
        .await
        .unwrap();
    assert_eq!(one, Some(("Lantern".to_string(), 7, Some("100 lumens".to_string()))));
    let none: Option<(String,)> =
        Item::select().columns([Item::NAME.into()]).filter(Item::SKU.eq("nope")).fetch_optional(&db).await.unwrap();
    assert_eq!(none, None);
    let err = Item::select().columns([Item::NAME.into()]).filter(Item::SKU.eq("nope")).fetch_one::<(String,)>(&db).await.unwrap_err();
    assert!(matches!(err, Error::NotFound), "{err:?}");
    let paged: Vec<(String,)> =
        Item::select().columns([Item::SKU.into()]).order_by(Item::SKU.asc()).limit(2).offset(3).fetch_all(&db).await.unwrap();
    assert_eq!(paged, [("M1".to_string(),), ("M2".to_string(),)]);
}

async fn seed_users_posts(db: &Database) -> (Vec<User>, Vec<Post>) {
    db.create_tables(&[User::TABLE, Post::TABLE]).await.unwrap();
    let users = User::insert_many(db, ["ada", "bob", "cy"].iter().map(|n| NewUser { name: n.to_string() }).collect()).await.unwrap();
    let posts = Post::insert_many(
        db,
        vec![
            NewPost { user_id: users[0].id, title: "p1".into() },
            NewPost { user_id: users[1].id, title: "b1".into() },
            NewPost { user_id: users[0].id, title: "p2".into() },
        ],
    )
    .await
    .unwrap();
    (users, posts)
}

async fn joins(db: Database, _b: Backend) {
    let (users, posts) = seed_users_posts(&db).await;
    let (ada, bob, cy) = (&users[0], &users[1], &users[2]);

    let adas = Post::select()
        .inner_join::<User>(Post::USER_ID.eq_col(User::ID))
        .filter(User::NAME.eq("ada"))
        .order_by(Post::TITLE.asc())
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(adas, [posts[0].clone(), posts[2].clone()]);

    let pairs = Post::select()
        .inner_join::<User>(Post::USER_ID.eq_col(User::ID))
        .filter(User::NAME.eq("ada"))
        .order_by(Post::ID.asc())
        .fetch_joined::<User>(&db)
        .await
        .unwrap();
    assert_eq!(pairs, [(posts[0].clone(), ada.clone()), (posts[2].clone(), ada.clone())]);

    let all_pairs = Post::select()
        .inner_join::<User>(Post::USER_ID.eq_col(User::ID))
        .order_by(User::NAME.desc())
        .order_by(Post::TITLE.asc())
        .fetch_joined::<User>(&db)
        .await
        .unwrap();
    let got: Vec<(&str, &str)> = all_pairs.iter().map(|(p, u)| (p.title.as_str(), u.name.as_str())).collect();
    assert_eq!(got, [("b1", "bob"), ("p1", "ada"), ("p2", "ada")]);
    assert!(all_pairs.iter().all(|(p, u)| p.user_id == u.id));

    assert_eq!(Post::select().inner_join::<User>(Post::USER_ID.eq_col(User::ID)).filter(User::NAME.eq("ada")).count(&db).await.unwrap(), 2);
    assert!(!Post::select().inner_join::<User>(Post::USER_ID.eq_col(User::ID)).filter(User::NAME.eq("cy")).exists(&db).await.unwrap());

    let left = User::select()
        .left_join::<Post>(Post::USER_ID.eq_col(User::ID))
        .order_by(User::NAME.asc())
        .order_by(Post::TITLE.asc())
        .fetch_left_joined::<Post>(&db)
        .await
        .unwrap();
    assert_eq!(
        left,
        [
            (ada.clone(), Some(posts[0].clone())),
            (ada.clone(), Some(posts[2].clone())),
            (bob.clone(), Some(posts[1].clone())),
            (cy.clone(), None),
        ]
    );
    let without_posts =
        User::select().left_join::<Post>(Post::USER_ID.eq_col(User::ID)).filter(Post::ID.is_null()).fetch_all(&db).await.unwrap();
    assert_eq!(without_posts, std::slice::from_ref(cy));

    // Aggregates over a join.
    let per_user: Vec<(String, i64)> = Post::select()
        .inner_join::<User>(Post::USER_ID.eq_col(User::ID))
        .columns([User::NAME.into(), count_all().into()])
        .group_by(User::NAME)
        .order_by(User::NAME.asc())
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(per_user, [("ada".to_string(), 2), ("bob".to_string(), 1)]);
}

async fn queries_inside_transaction(db: Database, _b: Backend) {
    let items = seed(&db).await;
    db.create_tables(&[BulkRow::TABLE]).await.unwrap();
    let expected = items.clone();
    let created = db
        .transaction(async |tx| -> almacen::Result<_> {
            let all = Item::select().order_by(Item::ID.asc()).fetch_all(tx).await?;
            assert_eq!(all, expected);
            assert_eq!(Item::select().filter(Item::CATEGORY.eq("light")).count(tx).await?, 3);
            assert!(Item::select().filter(Item::NAME.like("L%")).exists(tx).await?);
            let streamed: Vec<Item> = Item::select().order_by(Item::ID.asc()).stream(tx).try_collect().await?;
            assert_eq!(streamed, expected);
            let totals: Vec<(String, Decimal)> = Item::select()
                .columns([Item::CATEGORY.into(), sum(Item::PRICE).into()])
                .group_by(Item::CATEGORY)
                .order_by(Item::CATEGORY.asc())
                .fetch_all(tx)
                .await?;
            assert_eq!(totals[0], ("light".to_string(), dec("37.74")));

            let new = Item::insert(tx, new_item("X1", "Xylophone", "music", 1, "99.00", None, None)).await?;
            assert_eq!(Item::select().filter(Item::SKU.eq("X1")).fetch_one(tx).await?, new);
            let patched = Item::patch(new.id).add(Item::STOCK, 4).execute(tx).await?.ok_or(Error::NotFound)?;
            assert_eq!(patched.stock, 5);
            assert_eq!(Item::update_where(Item::CATEGORY.eq("misc")).set(Item::STOCK, 0).execute(tx).await?, 2);
            assert_eq!(Item::delete_where(Item::SKU.eq("T1")).execute(tx).await?, 1);
            // Chunked insert_many on a transaction.
            let rows = BulkRow::insert_many(tx, bulk(9_000, "t")).await?;
            assert_eq!(rows.len(), 9_000);
            assert_eq!(BulkRow::select().count(tx).await?, 9_000);
            Ok(new)
        })
        .await
        .unwrap();
    assert_eq!(Item::get(&db, created.id).await.unwrap().map(|i| i.stock), Some(5), "committed");
    assert_eq!(Item::select().filter(Item::STOCK.eq(0)).count(&db).await.unwrap(), 3);
    assert_eq!(Item::select().count(&db).await.unwrap(), 6);
    assert_eq!(BulkRow::select().count(&db).await.unwrap(), 9_000);

    // A failing transaction leaves nothing behind.
    let out: almacen::Result<()> = db
        .transaction(async |tx| {
            Item::insert(tx, new_item("X2", "Gone", "music", 1, "1.00", None, None)).await?;
            Item::delete_where(Item::CATEGORY.eq("light")).execute(tx).await?;
            assert_eq!(Item::select().count(tx).await?, 4);
            Item::select().filter(Item::SKU.eq("nope")).fetch_one(tx).await?;
            Ok(())
        })
        .await;
    assert!(matches!(out, Err(Error::NotFound)), "{out:?}");
    assert_eq!(Item::select().filter(Item::SKU.eq("X2")).count(&db).await.unwrap(), 0);
    assert_eq!(Item::select().filter(Item::CATEGORY.eq("light")).count(&db).await.unwrap(), 3);
    assert_eq!(Item::select().count(&db).await.unwrap(), 6);
}

per_backend!(
    insert_returns_stored_row,
    insert_many_small_in_order,
    insert_many_chunked_20k,
    insert_many_is_atomic_across_chunks,
    get_update_and_not_found,
    patch_partial_update,
    delete_and_delete_by_key,
    upsert_by_primary_key,
    upsert_on_unique_column,
    update_where_and_delete_where,
    comparisons_and_lists,
    decimal_comparison_with_extra_places,
    like_and_ilike,
    boolean_combinations,
    ordering_and_paging,
    count_exists_and_fetch_variants,
    stream_many_rows,
    group_by_having_aggregates,
    select_into_tuples_and_structs,
    joins,
    queries_inside_transaction,
);
