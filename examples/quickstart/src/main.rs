//! The almacen quickstart: a small shop on embedded SQLite. It creates tables, inserts,
//! queries, places orders in transactions (refusing one that would oversell), runs some raw
//! SQL, discontinues a product (soft delete) and lists the orders with their lines and
//! products through relations, and prints what it did.
//!
//! Run it with `cargo run -p quickstart` (or pass another URL: `cargo run -p quickstart --
//! postgres://postgres@127.0.0.1:5432/test`).

use almacen::prelude::*;
use almacen::{BelongsTo, HasMany};

#[derive(Model, Debug, Clone)]
#[model(table = "products")]
pub struct Product {
    #[model(primary_key, auto)]
    pub id: i64,
    #[model(max_len = 200, index)]
    pub name: String,
    #[model(unique, max_len = 64)]
    pub sku: String,
    pub description: Option<String>,
    #[model(decimal(12, 2))]
    pub price: Decimal,
    #[model(default = 0)]
    pub stock: i32,
    #[model(server_default = now)]
    pub created_at: DateTime<Utc>,
    /// Set when the product is discontinued: queries skip it, old orders still show it.
    #[model(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(DbEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderStatus {
    #[default]
    Pending,
    Paid,
    Cancelled,
}

#[derive(Model, Debug, Clone)]
#[model(table = "orders")]
pub struct Order {
    #[model(primary_key, auto)]
    pub id: i64,
    #[model(max_len = 120)]
    pub customer: String,
    pub status: OrderStatus,
    #[model(server_default = now)]
    pub created_at: DateTime<Utc>,
}

#[derive(Model, Debug, Clone)]
#[model(table = "order_items")]
pub struct OrderItem {
    #[model(primary_key, auto)]
    pub id: i64,
    #[model(references = Order::ID, on_delete = "cascade", index)]
    pub order_id: i64,
    #[model(references = Product::ID)]
    pub product_id: i64,
    pub quantity: i32,
}

impl Order {
    /// The order's lines.
    pub const ITEMS: HasMany<Order, OrderItem> = HasMany::new(OrderItem::ORDER_ID);
}

impl OrderItem {
    /// The product a line is for, discontinued (soft-deleted) or not.
    pub const PRODUCT: BelongsTo<OrderItem, Product> = BelongsTo::new(OrderItem::PRODUCT_ID).with_deleted();
}

/// Why an order was not placed: the shop's own error type, which transactions carry.
#[derive(Debug)]
enum OrderError {
    OutOfStock { product: String, left: i32 },
    UnknownProduct(i64),
    Db(almacen::Error),
}

impl From<almacen::Error> for OrderError {
    fn from(e: almacen::Error) -> Self {
        OrderError::Db(e)
    }
}

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrderError::OutOfStock { product, left } => write!(f, "only {left} of {product} left"),
            OrderError::UnknownProduct(id) => write!(f, "no product {id}"),
            OrderError::Db(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for OrderError {}

/// Place an order in one transaction: check and decrement stock, create the order and its
/// item. Any failure, a refusal included, leaves nothing behind.
async fn place_order(db: &Database, customer: &str, product_id: i64, quantity: i32) -> Result<Order, OrderError> {
    db.transaction(async |tx| {
        // Locked until commit: a concurrent order waits, then sees the stock this one left.
        let product = Product::get_for_update(tx, product_id).await?.ok_or(OrderError::UnknownProduct(product_id))?;
        if product.stock < quantity {
            return Err(OrderError::OutOfStock { product: product.name, left: product.stock });
        }
        Product::patch(product_id).add(Product::STOCK, -quantity).execute(tx).await?;
        let order = Order::insert(tx, NewOrder { customer: customer.into(), status: OrderStatus::Pending, created_at: None }).await?;
        OrderItem::insert(tx, NewOrderItem { order_id: order.id, product_id, quantity }).await?;
        Ok(order)
    })
    .await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into())).init();
    let url = std::env::args().nth(1).unwrap_or_else(|| "sqlite::memory:".into());
    let db = Database::connect(&url).await?;
    println!("connected to {} ({url})", db.dialect());

    let tables = [Product::TABLE, Order::TABLE, OrderItem::TABLE];
    db.drop_tables(&tables).await?;
    db.create_tables(&tables).await?;
    println!("created tables: products, orders, order_items");

    let lamp = Product::insert(
        &db,
        NewProduct { name: "Lamp".into(), sku: "L-1".into(), price: "19.90".parse()?, stock: 5, ..Default::default() },
    )
    .await?;
    println!("inserted {} (id {}, created at {})", lamp.name, lamp.id, lamp.created_at);
    let more = Product::insert_many(
        &db,
        vec![
            NewProduct { name: "Desk".into(), sku: "D-1".into(), price: "149.00".parse()?, stock: 2, ..Default::default() },
            NewProduct { name: "Chair".into(), sku: "C-1".into(), price: "89.50".parse()?, stock: 0, ..Default::default() },
        ],
    )
    .await?;
    println!("inserted {} more products", more.len());

    let cheap_in_stock = Product::select()
        .filter(Product::PRICE.lt(Decimal::from(100)).and(Product::STOCK.gt(0)))
        .order_by(Product::NAME.asc())
        .fetch_all(&db)
        .await?;
    for p in &cheap_in_stock {
        println!("under 100 and in stock: {} at {} ({} left)", p.name, p.price, p.stock);
    }
    println!("products out of stock: {}", Product::select().filter(Product::STOCK.eq(0)).count(&db).await?);

    let order = place_order(&db, "ada@example.com", lamp.id, 2).await?;
    println!("order {} placed for {}, status {:?}", order.id, order.customer, order.status);
    match place_order(&db, "bob@example.com", lamp.id, 10).await {
        Ok(_) => println!("unexpected: the order went through"),
        Err(e @ OrderError::OutOfStock { .. }) => println!("second order refused and rolled back: {e}"),
        Err(e) => return Err(e.into()),
    }
    let lamp_now = Product::get(&db, lamp.id).await?.ok_or(Error::NotFound)?;
    println!("lamp stock after orders: {} (5 - 2)", lamp_now.stock);

    let rows = db
        .fetch_all_raw(
            "SELECT p.name, SUM(i.quantity) AS sold FROM order_items i JOIN products p ON p.id = i.product_id \
             WHERE p.id IN (:ids) GROUP BY p.name",
            params! { "ids" => vec![lamp.id, more[0].id] },
        )
        .await?;
    println!("raw SQL report: {}", serde_json::to_string(&rows)?);

    // Discontinued: queries skip the lamp from now on, but the order's line still shows it.
    lamp_now.delete(&db).await?;
    println!("lamp discontinued; products on sale: {}", Product::select().count(&db).await?);
    let orders = Order::select().order_by(Order::ID.asc()).fetch_all(&db).await?;
    let lines = Order::ITEMS.then(OrderItem::PRODUCT).load(&db, &orders).await?; // one statement per level
    for (order, items) in orders.iter().zip(&lines) {
        for (item, product) in items {
            let (name, gone) = product.as_ref().map_or(("?", false), |p| (p.name.as_str(), p.deleted_at.is_some()));
            let note = if gone { " (discontinued)" } else { "" };
            println!("order {} for {}: {} x {name}{note}", order.id, order.customer, item.quantity);
        }
    }

    let stats = db.stats();
    println!("pool: size {}, idle {}, in use {}", stats.size, stats.idle, stats.in_use);
    db.close().await;
    println!("done");
    Ok(())
}
