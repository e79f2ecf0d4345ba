//! The order service on real databases: SQLite always (a temporary file), PostgreSQL and
//! MariaDB when `ALMACEN_TEST_POSTGRES_URL` / `ALMACEN_TEST_MYSQL_URL` are set, each in a
//! uniquely named scratch database created and dropped here.

#[path = "../../scratch.rs"]
mod scratch;

use almacen::prelude::*;
use orders::model::{Order, OrderItem, Product};
use orders::{OrderError, OrderLine, OrderService, SqlOrders, reset_shop};
use scratch::{Scratch, server};

/// Every row of every table, in key order.
async fn snapshot(db: &Database) -> (Vec<Product>, Vec<Order>, Vec<OrderItem>) {
    (
        Product::select().order_by(Product::ID.asc()).fetch_all(db).await.unwrap(),
        Order::select().order_by(Order::ID.asc()).fetch_all(db).await.unwrap(),
        OrderItem::select().order_by(OrderItem::ID.asc()).fetch_all(db).await.unwrap(),
    )
}

async fn stock(db: &Database) -> Vec<(String, i32)> {
    snapshot(db).await.0.into_iter().map(|p| (p.sku, p.stock)).collect()
}

fn line(sku: &str, quantity: i32) -> OrderLine {
    OrderLine::new(sku, quantity)
}

async fn place_orders(db: Database) {
    reset_shop(&db).await.unwrap();
    let service = OrderService::new(SqlOrders::new(&db));
    let before = snapshot(&db).await;

    // LAMP's stock is taken, then CHAIR is short: nothing stays.
    let err = service.place_order("bob", &[line("LAMP", 1), line("CHAIR", 1)]).await.unwrap_err();
    assert!(matches!(&err, OrderError::OutOfStock { sku, requested: 1, available: 0 } if sku == "CHAIR"), "{err}");
    assert_eq!(snapshot(&db).await, before);
    let err = service.place_order("bob", &[line("DESK", 1), line("SOFA", 1)]).await.unwrap_err();
    assert!(matches!(&err, OrderError::UnknownProduct(sku) if sku == "SOFA"), "{err}");
    assert_eq!(snapshot(&db).await, before);

    // Placed: stock taken, the order and its lines written together.
    let placed = service.place_order("ada", &[line("LAMP", 2), line("DESK", 1), line("LAMP", 1)]).await.unwrap();
    assert_eq!(placed.order.total, Decimal::new(20870, 2), "3 × 19.90 + 149.00");
    assert_eq!(stock(&db).await, [("LAMP".into(), 2), ("DESK".into(), 1), ("CHAIR".into(), 0)]);
    let (_, orders, items) = snapshot(&db).await;
    assert_eq!(orders, std::slice::from_ref(&placed.order));
    assert_eq!(items, placed.items);
    assert_eq!(service.orders_of("ada").await.unwrap(), [placed.order]);
    assert!(service.orders_of("bob").await.unwrap().is_empty());
}

/// Four customers race for the last DESK: exactly one gets it, and the others leave
/// nothing behind (the stock is checked and taken in one statement).
async fn no_overselling(db: Database) {
    reset_shop(&db).await.unwrap();
    OrderService::new(SqlOrders::new(&db)).place_order("ada", &[line("DESK", 1)]).await.unwrap();
    let racers = (0..4).map(|i| {
        let db = db.clone();
        tokio::spawn(async move {
            OrderService::new(SqlOrders::new(&db)).place_order(&format!("c{i}"), &[line("LAMP", 1), line("DESK", 1)]).await
        })
    });
    let mut placed = 0;
    for racer in racers.collect::<Vec<_>>() {
        match racer.await.unwrap() {
            Ok(_) => placed += 1,
            Err(OrderError::OutOfStock { sku, .. }) => assert_eq!(sku, "DESK"),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(placed, 1);
    assert_eq!(stock(&db).await, [("LAMP".into(), 4), ("DESK".into(), 0), ("CHAIR".into(), 0)]);
    let (_, orders, items) = snapshot(&db).await;
    assert_eq!((orders.len(), items.len()), (2, 3));
}

/// Run `body` on a fresh database behind `url`, then remove that database (even when the
/// body panics).
async fn on_scratch<F: Future<Output = ()> + Send + 'static>(url: &str, body: impl FnOnce(Database) -> F) {
    let scratch = Scratch::create(url).await;
    let db = Database::connect(&scratch.url).await.expect("connect to the scratch database");
    let outcome = tokio::spawn(body(db.clone())).await;
    db.close().await;
    scratch.remove().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    on_scratch("sqlite", place_orders).await;
    on_scratch("sqlite", no_overselling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let Some(url) = server("ALMACEN_TEST_POSTGRES_URL") else { return };
    on_scratch(&url, place_orders).await;
    on_scratch(&url, no_overselling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb() {
    let Some(url) = server("ALMACEN_TEST_MYSQL_URL") else { return };
    on_scratch(&url, place_orders).await;
    on_scratch(&url, no_overselling).await;
}

#[test]
fn database_names_are_replaced() {
    assert_eq!(scratch::with_database("postgres://u@h:5432/test?sslmode=disable", "x"), "postgres://u@h:5432/x?sslmode=disable");
    assert_eq!(scratch::with_database("mysql://root@127.0.0.1:3306", "x"), "mysql://root@127.0.0.1:3306/x");
}
