//! What almacen adds on the client to a PostgreSQL or MariaDB statement, for counting with
//! callgrind: one side (raw sqlx or almacen) runs one workload `N` times. Run each side with
//! `N` and with `N=0` and divide the difference by `N`; the server's work is not counted.
//! Not a test.
//!
//! ```text
//! cargo build --profile profiling -p almacen --example server_overhead
//! URL=postgres://postgres@127.0.0.1:5432/test SIDE=almacen WORKLOAD=get N=2000 \
//!   valgrind --tool=callgrind ./target/profiling/examples/server_overhead
//! ```
//!
//! `WORKLOAD` is `get` (primary key), `page` (20 rows), `bulk` (insert 1,000 rows
//! returning them), `plain` (insert 1,000 rows, the count only: almacen's
//! `insert_many_without_returning`) or `insert` (one row returning it). The table is created
//! fresh each run.

use almacen::prelude::*;

#[derive(Model, Debug, Clone)]
#[model(table = "overhead_items")]
struct Item {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 100)]
    name: String,
    stock: i32,
    price: f64,
    active: bool,
}

#[allow(dead_code)]
struct RawItem {
    id: i64,
    name: String,
    stock: i32,
    price: f64,
    active: bool,
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn raw_item<R: sqlx::Row>(r: R) -> RawItem
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> f64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    RawItem { id: r.get(0), name: r.get(1), stock: r.get(2), price: r.get(3), active: r.get(4) }
}

macro_rules! raw_side {
    ($db:ty, $pool:expr, $workload:expr, $n:expr, $ph:expr) => {{
        let pool = $pool;
        let ph = $ph;
        for i in 0..$n {
            match $workload {
                "get" => {
                    let sql = format!("SELECT id, name, stock, price, active FROM overhead_items WHERE id = {}", ph(1));
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind((i % 1000 + 1) as i64).fetch_optional(&pool).await?;
                    std::hint::black_box(row.map(raw_item));
                }
                "page" => {
                    let sql = format!(
                        "SELECT id, name, stock, price, active FROM overhead_items WHERE stock > {} ORDER BY id LIMIT 20 OFFSET {}",
                        ph(1),
                        (i % 10) * 20
                    );
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(10i32).fetch_all(&pool).await?;
                    std::hint::black_box(rows.into_iter().map(raw_item).collect::<Vec<_>>());
                }
                "insert" => {
                    let sql = format!(
                        "INSERT INTO overhead_items (name, stock, price, active) VALUES ({}, {}, {}, {}) RETURNING id, name, stock, price, active",
                        ph(1),
                        ph(2),
                        ph(3),
                        ph(4)
                    );
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind("single").bind(i as i32).bind(1.5f64).bind(true).fetch_one(&pool).await?;
                    std::hint::black_box(raw_item(row));
                }
                "plain" => {
                    let mut qb = sqlx::QueryBuilder::<$db>::new("INSERT INTO overhead_items (name, stock, price, active) ");
                    qb.push_values(0..1000usize, |mut b, i| {
                        b.push_bind(format!("bulk {i}")).push_bind(i as i32).push_bind(2.5f64).push_bind(i.is_multiple_of(2));
                    });
                    std::hint::black_box(qb.build().execute(&pool).await?.rows_affected());
                }
                _ => {
                    let mut qb = sqlx::QueryBuilder::<$db>::new("INSERT INTO overhead_items (name, stock, price, active) ");
                    qb.push_values(0..1000, |mut b, i| {
                        b.push_bind(format!("bulk {i}")).push_bind(i as i32).push_bind(2.5f64).push_bind(i % 2 == 0);
                    });
                    qb.push(" RETURNING id, name, stock, price, active");
                    let rows = qb.build().fetch_all(&pool).await?;
                    std::hint::black_box(rows.into_iter().map(raw_item).collect::<Vec<_>>());
                }
            }
        }
        pool.close().await;
    }};
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = env("URL", "postgres://postgres@127.0.0.1:5432/test");
    let side = env("SIDE", "almacen");
    let workload = env("WORKLOAD", "get");
    let n: usize = env("N", "2000").parse()?;

    let db = Database::connect(&url).await?;
    db.drop_tables(&[Item::TABLE]).await?;
    db.create_tables(&[Item::TABLE]).await?;
    let rows: Vec<NewItem> = (0..1000).map(|i| NewItem { name: format!("item {i}"), stock: i % 100, price: 1.5, active: true }).collect();
    Item::insert_many(&db, rows).await?;

    if side == "sqlx" {
        let options = db.options().clone();
        match db.dialect() {
            almacen::Dialect::Postgres => {
                raw_side!(
                    sqlx::Postgres,
                    sqlx::pool::PoolOptions::<sqlx::Postgres>::new()
                        .max_connections(options.max_connections)
                        .test_before_acquire(false)
                        .connect(options.driver_url())
                        .await?,
                    workload.as_str(),
                    n,
                    |k: usize| format!("${k}")
                )
            }
            almacen::Dialect::MySql => {
                raw_side!(
                    sqlx::MySql,
                    sqlx::pool::PoolOptions::<sqlx::MySql>::new()
                        .max_connections(options.max_connections)
                        .test_before_acquire(false)
                        .connect(options.driver_url())
                        .await?,
                    workload.as_str(),
                    n,
                    |_: usize| "?".to_string()
                )
            }
            almacen::Dialect::Sqlite => return Err("SQLite has its own example: sqlite_overhead".into()),
        }
    } else {
        for i in 0..n {
            match workload.as_str() {
                "get" => {
                    std::hint::black_box(Item::get(&db, (i % 1000 + 1) as i64).await?);
                }
                "page" => {
                    let page = Item::select()
                        .filter(Item::STOCK.gt(10))
                        .order_by(Item::ID.asc())
                        .limit(20)
                        .offset((i % 10) as u64 * 20)
                        .fetch_all(&db)
                        .await?;
                    std::hint::black_box(page);
                }
                "insert" => {
                    std::hint::black_box(
                        Item::insert(&db, NewItem { name: "single".into(), stock: i as i32, price: 1.5, active: true }).await?,
                    );
                }
                "plain" => {
                    let rows = (0..1000).map(|i| NewItem { name: format!("bulk {i}"), stock: i, price: 2.5, active: i % 2 == 0 }).collect();
                    std::hint::black_box(Item::insert_many_without_returning(&db, rows).await?);
                }
                _ => {
                    let rows = (0..1000).map(|i| NewItem { name: format!("bulk {i}"), stock: i, price: 2.5, active: i % 2 == 0 }).collect();
                    std::hint::black_box(Item::insert_many(&db, rows).await?);
                }
            }
        }
    }
    db.drop_tables(&[Item::TABLE]).await?;
    db.close().await;
    Ok(())
}
