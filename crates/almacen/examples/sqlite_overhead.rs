//! Where the time of an in-memory SQLite lookup goes: the same primary-key lookup through
//! each layer of almacen, against rusqlite on its own connection. Not a test.
//!
//! ```text
//! cargo run --release -p almacen --example sqlite_overhead
//! ```

use almacen::prelude::*;
use almacen::{Executor, Statement};
use std::time::Instant;

#[derive(Model, Debug, Clone)]
#[model(table = "items")]
struct Item {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 100)]
    name: String,
    stock: i32,
    price: f64,
    active: bool,
}

/// Lookups per layer (`SQLITE_OVERHEAD_N` to change; small under valgrind).
fn n() -> i64 {
    std::env::var("SQLITE_OVERHEAD_N").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000)
}

/// Whether to run layer `name` (`SQLITE_OVERHEAD_LAYERS=rusqlite,rsown,fetch_row,decode,get`; all
/// when unset), so callgrind can count one layer alone.
fn layer(name: &str) -> bool {
    std::env::var("SQLITE_OVERHEAD_LAYERS").map_or(true, |v| v.split(',').any(|l| l == name))
}

fn report(label: &str, started: Instant, n: i64) {
    println!("{label:<44} {:>7.0} ns/op", started.elapsed().as_nanos() as f64 / n as f64);
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = Database::connect("sqlite::memory:").await?;
    db.create_tables(&[Item::TABLE]).await?;
    let rows: Vec<NewItem> = (0..1000).map(|i| NewItem { name: format!("item {i}"), stock: i, price: 1.5, active: true }).collect();
    Item::insert_many(&db, rows).await?;

    let rs = rusqlite::Connection::open_in_memory().unwrap();
    rs.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, stock INTEGER, price REAL, active INTEGER)").unwrap();
    for i in 0..1000 {
        rs.execute("INSERT INTO items (name, stock, price, active) VALUES (?1, ?2, 1.5, 1)", (format!("item {i}"), i)).unwrap();
    }
    let sql = "SELECT \"id\", \"name\", \"stock\", \"price\", \"active\" FROM \"items\" WHERE \"id\" = ?";

    let all = n();
    // Layers not asked for run zero times.
    let n = |name: &str| if layer(name) { all } else { 0 };
    let stmt_sql: std::sync::Arc<str> = sql.into();
    for _ in 0..2 {
        let t = Instant::now();
        for i in 0..n("rusqlite") {
            let mut st = rs.prepare_cached(sql).unwrap();
            let item = st
                .query_row([i % 1000 + 1], |r| {
                    Ok(Item { id: r.get(0)?, name: r.get(1)?, stock: r.get(2)?, price: r.get(3)?, active: r.get(4)? })
                })
                .unwrap();
            std::hint::black_box(item);
        }
        report("rusqlite prepare_cached + query_row", t, all);

        // rusqlite with one statement held and reused: what a statement cache costs.
        let t = Instant::now();
        {
            let mut st = rs.prepare_with_flags(sql, rusqlite::PrepFlags::SQLITE_PREPARE_PERSISTENT).unwrap();
            for i in 0..n("rsown") {
                st.raw_bind_parameter(1, i % 1000 + 1).unwrap();
                let mut rows = st.raw_query();
                let r = rows.next().unwrap().unwrap();
                let item = Item {
                    id: r.get(0).unwrap(),
                    name: r.get(1).unwrap(),
                    stock: r.get(2).unwrap(),
                    price: r.get(3).unwrap(),
                    active: r.get(4).unwrap(),
                };
                drop(rows);
                std::hint::black_box(item);
            }
        }
        report("rusqlite, one statement held", t, all);

        let t = Instant::now();
        for i in 0..n("fetch_row") {
            let stmt = Statement::new(stmt_sql.clone(), vec![sea_query::Value::BigInt(Some(i % 1000 + 1))]);
            std::hint::black_box(db.fetch_row(stmt).await?);
        }
        report("almacen Executor::fetch_row (no decode)", t, all);

        let t = Instant::now();
        for i in 0..n("decode") {
            let stmt = Statement::new(stmt_sql.clone(), vec![sea_query::Value::BigInt(Some(i % 1000 + 1))]);
            let row = db.fetch_row(stmt).await?.unwrap();
            std::hint::black_box(<Item as almacen::Model>::decode(&row, 0)?);
        }
        report("almacen fetch_row + Model::decode", t, all);

        let t = Instant::now();
        for i in 0..n("get") {
            std::hint::black_box(Item::get(&db, i % 1000 + 1).await?);
        }
        report("almacen Item::get", t, all);
        println!();
    }
    Ok(())
}
