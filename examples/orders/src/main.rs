//! Place two orders through the order service: one goes through, one is refused for lack
//! of stock and leaves nothing behind. `DATABASE_URL` picks the database (default:
//! in-memory SQLite).

use almacen::prelude::*;
use orders::model::{Order, OrderItem, Product};
use orders::{OrderLine, OrderService, SqlOrders, reset_shop};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".into());
    let db = Database::connect(&url).await?;
    println!("connected to {} ({url})", db.dialect());

    let seeded = reset_shop(&db).await?;
    println!("seeded {} products", seeded.len());
    print_stock(&db).await?;

    let service = OrderService::new(SqlOrders::new(&db));
    let ada = [OrderLine::new("LAMP", 2), OrderLine::new("DESK", 1)];
    let placed = service.place_order("ada", &ada).await?;
    println!("order {} for ada: {} lines, total {}", placed.order.id, placed.items.len(), placed.order.total);

    // LAMP's stock is taken first; CHAIR then fails, and the unit of work undoes it all.
    let bob = [OrderLine::new("LAMP", 1), OrderLine::new("CHAIR", 1)];
    match service.place_order("bob", &bob).await {
        Ok(placed) => println!("unexpected: order {} for bob went through", placed.order.id),
        Err(e) => println!("order for bob refused: {e}"),
    }

    print_stock(&db).await?;
    let orders = Order::select().count(&db).await?;
    let items = OrderItem::select().count(&db).await?;
    println!("orders: {orders}, order lines: {items} (bob's order left nothing behind)");
    db.close().await;
    Ok(())
}

async fn print_stock(db: &Database) -> almacen::Result<()> {
    let products = Repository::<Product, _>::new(db).list(Product::select().order_by(Product::ID.asc())).await?;
    let stock: Vec<String> = products.iter().map(|p| format!("{} {}", p.sku, p.stock)).collect();
    println!("stock: {}", stock.join(", "));
    Ok(())
}
