//! Where the time of a SQLite bulk insert goes: 10,000 rows through almacen (`insert_many`,
//! `insert_many_without_returning`, or 10,000 `insert`s in one transaction) against rusqlite
//! doing the same work on its own connection, one side and one workload per run so
//! callgrind can count each alone. Not a test.
//!
//! ```text
//! cargo build --profile profiling -p almacen --example sqlite_bulk
//! BULK_SIDE=almacen BULK_WORK=plain BULK_OPS=4 valgrind --tool=callgrind ./target/profiling/examples/sqlite_bulk
//! ```
//!
//! `BULK_SIDE`: `almacen` or `rusqlite`; `BULK_WORK`: `returning` (multi-row INSERT …
//! RETURNING, rows decoded), `plain` (multi-row INSERT, the count only) or `single` (one
//! INSERT … RETURNING per row, all in one transaction); `BULK_OPS`: operations of 10,000
//! rows after one untimed warm-up (a run with 2N minus one with N is N operations);
//! `BULK_FILE=1` for a WAL file (synchronous=NORMAL) instead of memory.

use almacen::prelude::*;
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

const ROWS: usize = 10_000;
/// SQLite's limit on bound values per statement, for rusqlite's chunks.
const MAX_PARAMS: usize = 32_766;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.into())
}

fn new_items() -> Vec<NewItem> {
    (0..ROWS).map(|i| NewItem { name: format!("bulk {i}"), stock: i as i32, price: 2.5, active: i.is_multiple_of(2) }).collect()
}

async fn almacen_op(db: &Database, work: &str) {
    match work {
        "returning" => assert_eq!(Item::insert_many(db, new_items()).await.unwrap().len(), ROWS),
        "plain" => assert_eq!(Item::insert_many_without_returning(db, new_items()).await.unwrap(), ROWS as u64),
        _ => db
            .transaction(async |tx| -> almacen::Result<()> {
                for i in 0..ROWS {
                    Item::insert(tx, NewItem { name: format!("bulk {i}"), stock: i as i32, price: 1.5, active: true }).await?;
                }
                Ok(())
            })
            .await
            .unwrap(),
    }
}

fn bulk_sql(rows: usize, returning: bool) -> String {
    let mut sql = String::from("INSERT INTO items (name, stock, price, active) VALUES ");
    for r in 0..rows {
        sql.push_str(if r == 0 { "(?, ?, ?, ?)" } else { ", (?, ?, ?, ?)" });
    }
    if returning {
        sql.push_str(" RETURNING id, name, stock, price, active");
    }
    sql
}

fn rusqlite_op(c: &rusqlite::Connection, work: &str) {
    let returning = work == "returning";
    let names: Vec<String> = (0..ROWS).map(|i| format!("bulk {i}")).collect();
    c.execute_batch("BEGIN IMMEDIATE").unwrap();
    if work == "single" {
        for (i, name) in names.iter().enumerate() {
            let mut st = c
                .prepare_cached(
                    "INSERT INTO items (name, stock, price, active) VALUES (?1, ?2, ?3, ?4) RETURNING id, name, stock, price, active",
                )
                .unwrap();
            let mut rows = st.query(rusqlite::params![name, i as i32, 1.5f64, true]).unwrap();
            while let Some(r) = rows.next().unwrap() {
                let item = Item {
                    id: r.get(0).unwrap(),
                    name: r.get(1).unwrap(),
                    stock: r.get(2).unwrap(),
                    price: r.get(3).unwrap(),
                    active: r.get(4).unwrap(),
                };
                std::hint::black_box(item);
            }
        }
    } else {
        let per = MAX_PARAMS / 4;
        let mut read = Vec::with_capacity(ROWS);
        for (k, chunk) in names.chunks(per).enumerate() {
            let mut st = c.prepare_cached(&bulk_sql(chunk.len(), returning)).unwrap();
            for (j, name) in chunk.iter().enumerate() {
                let (i, p) = (k * per + j, j * 4 + 1);
                st.raw_bind_parameter(p, name.as_str()).unwrap();
                st.raw_bind_parameter(p + 1, i as i32).unwrap();
                st.raw_bind_parameter(p + 2, 2.5f64).unwrap();
                st.raw_bind_parameter(p + 3, i.is_multiple_of(2)).unwrap();
            }
            if returning {
                let mut rows = st.raw_query();
                while let Some(r) = rows.next().unwrap() {
                    read.push(Item {
                        id: r.get(0).unwrap(),
                        name: r.get(1).unwrap(),
                        stock: r.get(2).unwrap(),
                        price: r.get(3).unwrap(),
                        active: r.get(4).unwrap(),
                    });
                }
            } else {
                st.raw_execute().unwrap();
            }
        }
        std::hint::black_box(read);
    }
    c.execute_batch("COMMIT").unwrap();
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (side, work) = (env("BULK_SIDE", "almacen"), env("BULK_WORK", "plain"));
    let ops: usize = env("BULK_OPS", "10").parse()?;
    let file = (env("BULK_FILE", "0") == "1").then(|| std::env::temp_dir().join(format!("sqlite_bulk_{}.db", std::process::id())));
    let started = match side.as_str() {
        "almacen" => {
            let url = file.as_ref().map_or("sqlite::memory:".to_owned(), |f| format!("sqlite://{}", f.display()));
            let db = Database::connect(&url).await?;
            db.create_tables(&[Item::TABLE]).await?;
            almacen_op(&db, &work).await;
            let t = Instant::now();
            for _ in 0..ops {
                almacen_op(&db, &work).await;
            }
            db.close().await;
            t
        }
        _ => {
            let c = match &file {
                Some(f) => rusqlite::Connection::open(f)?,
                None => rusqlite::Connection::open_in_memory()?,
            };
            c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
            // The table as almacen writes it (CHECKs included), so SQLite does the same work.
            let ddl = {
                let db = Database::connect("sqlite::memory:").await?;
                db.create_tables(&[Item::TABLE]).await?;
                let row = db.fetch_one_raw("SELECT sql FROM sqlite_master WHERE name = 'items'", params! {}).await?;
                row.get::<String>("sql")?
            };
            c.execute_batch(&ddl)?;
            rusqlite_op(&c, &work);
            let t = Instant::now();
            for _ in 0..ops {
                rusqlite_op(&c, &work);
            }
            t
        }
    };
    println!("{side} {work}: {:.0} µs per {ROWS} rows", started.elapsed().as_secs_f64() * 1e6 / ops.max(1) as f64);
    if let Some(f) = file {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
        }
    }
    Ok(())
}
