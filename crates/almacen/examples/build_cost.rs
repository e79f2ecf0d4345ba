//! How long building a typed SELECT takes (no database involved).
use almacen::prelude::*;
use std::time::Instant;

#[derive(Model, Debug, Clone)]
#[model(table = "bench_items")]
struct Item {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 100)]
    name: String,
    stock: i32,
    price: f64,
    active: bool,
}

fn main() {
    let n = 200_000;
    let start = Instant::now();
    let mut total = 0;
    for i in 0..n {
        let q = Item::select().filter(Item::STOCK.gt(10)).order_by(Item::ID.asc()).limit(20).offset((i % 10) * 20);
        total += q.debug_sql(almacen::Dialect::Sqlite).len();
    }
    println!("{:.2} µs per build ({total})", start.elapsed().as_secs_f64() * 1e6 / n as f64);
}
