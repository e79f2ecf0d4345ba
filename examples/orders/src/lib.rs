//! An order service on almacen's repositories and units of work.
//!
//! [`OrderService`] depends on the [`OrderRepository`] trait, not on a database: in
//! production it runs on [`SqlOrders`] (almacen repositories, one transaction per unit of
//! work), and its unit tests run on [`InMemoryOrders`] (`HashMap`s behind a `Mutex`). Placing
//! an order takes stock, writes the order and its lines in one unit of work: when any step
//! fails, nothing of it stays.
//!
//! `cargo run -p orders` runs it on in-memory SQLite; set `DATABASE_URL` for another
//! database (the program drops and re-creates its three `shop_*` tables there).

pub mod memory;
pub mod model;
pub mod service;
pub mod sql;

pub use memory::InMemoryOrders;
pub use service::{OrderData, OrderError, OrderLine, OrderRepository, OrderService, PlacedOrder};
pub use sql::{ProductRepo, SqlOrders};

use almacen::Database;
use model::{NewProduct, Product, TABLES};

/// Drop and create the shop's tables, and add three products: LAMP (5 at 19.90), DESK (2
/// at 149.00) and CHAIR (none left, 89.50).
pub async fn reset_shop(db: &Database) -> almacen::Result<Vec<Product>> {
    db.drop_tables(&TABLES).await?;
    db.create_tables(&TABLES).await?;
    let product = |sku: &str, name: &str, cents: i64, stock: i32| NewProduct {
        sku: sku.into(),
        name: name.into(),
        price: almacen::rust_decimal::Decimal::new(cents, 2),
        stock,
    };
    let seed = vec![product("LAMP", "Lamp", 1990, 5), product("DESK", "Desk", 14900, 2), product("CHAIR", "Chair", 8950, 0)];
    almacen::Repository::<Product, _>::new(db).create_many(seed).await
}
