//! Sorting and filtering by names and values that arrive at run time (a list endpoint's
//! query string), against an allow-list, on every dialect.

mod common;

use almacen::prelude::*;
use almacen::query::NamedColumn;
use common::Backend;

#[derive(Model, Debug, Clone)]
#[model(table = "catalog")]
struct Item {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40)]
    name: String,
    stock: i32,
    #[model(decimal(10, 2))]
    price: Decimal,
    active: bool,
    #[model(max_len = 40)]
    secret: String,
}

const ALLOWED: &[&str] = &["name", "stock", "price", "active"];

async fn seed(db: &Database) {
    db.create_tables(&[Item::TABLE]).await.unwrap();
    let rows = [("lamp", 3, "19.90", true), ("desk", 0, "149.00", true), ("chair", 7, "89.50", false), ("lamp shade", 3, "9.99", true)];
    let new = rows.iter().map(|(n, s, p, a)| NewItem {
        name: n.to_string(),
        stock: *s,
        price: p.parse().unwrap(),
        active: *a,
        secret: "x".into(),
    });
    Item::insert_many(db, new.collect()).await.unwrap();
}

async fn names(db: &Database, q: almacen::query::Select<Item>) -> Vec<String> {
    q.fetch_all(db).await.unwrap().into_iter().map(|i| i.name).collect()
}

async fn sort_and_filter_by_name(db: Database, _b: Backend) {
    seed(&db).await;
    let col = |name: &str| NamedColumn::of::<Item>(name, ALLOWED).unwrap();
    let sorted = Item::select().order_by_param("-stock, name", ALLOWED).unwrap();
    assert_eq!(names(&db, sorted).await, ["chair", "lamp", "lamp shade", "desk"]);
    let cheap = Item::select().filter(col("price").condition("lt", "20").unwrap()).order_by_param("price", ALLOWED).unwrap();
    assert_eq!(names(&db, cheap).await, ["lamp shade", "lamp"]);
    let q = Item::select().filter(col("stock").condition("in", "0,7").unwrap()).order_by_param("name", ALLOWED).unwrap();
    assert_eq!(names(&db, q).await, ["chair", "desk"]);
    let q = Item::select().filter(col("active").condition("eq", "false").unwrap());
    assert_eq!(names(&db, q).await, ["chair"]);
    let q = Item::select().filter(col("name").condition("starts_with", "lamp").unwrap()).order_by_param("-name", ALLOWED).unwrap();
    assert_eq!(names(&db, q).await, ["lamp shade", "lamp"]);
    let q = Item::select().filter(col("name").condition("contains", "%").unwrap());
    assert!(names(&db, q).await.is_empty(), "a % in the value is literal");
}

fn parameter_error(r: Result<impl std::fmt::Debug, Error>) -> String {
    match r {
        Err(Error::Parameter(m)) => m,
        other => panic!("expected a parameter error, got {other:?}"),
    }
}

async fn names_and_values_not_allowed_are_errors(db: Database, _b: Backend) {
    seed(&db).await;
    let e = parameter_error(NamedColumn::of::<Item>("secret", ALLOWED));
    assert!(e.contains("`secret`") && e.contains("allowed are name, stock, price, active"), "{e}");
    let e = parameter_error(Item::select().order_by_param("-pirce", ALLOWED));
    assert!(e.contains("did you mean `price`"), "{e}");
    let e = parameter_error(NamedColumn::of::<Item>("id; DROP TABLE catalog", ALLOWED));
    assert!(e.contains("allowed are"), "{e}");
    let stock = NamedColumn::of::<Item>("stock", ALLOWED).unwrap();
    assert!(parameter_error(stock.condition("lt", "ten")).contains("stock: \"ten\" is not an integer"));
    assert!(parameter_error(stock.condition("like", "1")).contains("unknown filter operator"));
    assert!(parameter_error(stock.condition("contains", "1")).contains("needs a text field"));
    let price = NamedColumn::of::<Item>("price", ALLOWED).unwrap();
    assert!(parameter_error(price.condition("eq", "1e400")).contains("not a decimal"));
    // The table is untouched and every row is there.
    assert_eq!(Item::select().count(&db).await.unwrap(), 4);
}

per_backend!(sort_and_filter_by_name, names_and_values_not_allowed_are_errors);
