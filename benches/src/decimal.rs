//! Decimal storage on SQLite (`--backends sqlite-decimal`): what a `decimal(p, s)` column
//! costs against the integer cents the old storage wrote, on the same workloads.
//!
//! SQLite has no decimal type. almacen stores `decimal(p, s)` with p ≤ 15 as the nearest
//! double (`DECIMAL_REAL(p, s)` with a `typeof` CHECK) and p 16–28 as exact text
//! (`DECIMAL_TEXT(p, s) COLLATE almacen_decimal`), read back exactly as a `Decimal`; before,
//! it stored integers scaled to the column's places (`15800` for 158.00). Five sides, each on
//! its own database with the same rows (10,000 seeded, same ids, same stock, same amount):
//!
//! - rusqlite INTEGER: rusqlite on one held connection (`prepare_cached`), the price an
//!   `INTEGER` of cents read as `i64` — the limit for the old storage;
//! - rusqlite REAL: the same with the price a `REAL` read as `f64`;
//! - almacen cents: the model with `price: i64` (cents) — what the scaled-integer storage
//!   cost, roughly (it also converted to and from `Decimal`, which this side does not);
//! - almacen REAL: `#[model(decimal(12, 2))] price: Decimal`;
//! - almacen TEXT: `#[model(decimal(20, 4))] price: Decimal`.
//!
//! Workloads (keys for `--workloads`): `get` (by primary key), `page` (20 rows, `stock > 10`,
//! ten offsets), `sum` (typed `sum` and `avg` of the price over the 10,000 rows: `Decimal`s
//! for the decimal columns, `i64` and `f64` for cents; SQLite's `SUM`/`AVG` for rusqlite),
//! `insert` (one row returning it), `bulk` (1,000 rows returning them in one transaction:
//! one `INSERT … VALUES (…), … RETURNING` statement on every side, as almacen's
//! `insert_many` writes it). Ratios: almacen REAL / almacen cents, almacen TEXT /
//! almacen cents, almacen cents / rusqlite INTEGER, almacen REAL / rusqlite REAL.
//!
//! For callgrind, `--sides` runs only some sides (`rs-int`, `rs-real`, `cents`, `real`,
//! `text`; the others open nothing and run nothing), `--databases` only `file` or `memory`,
//! and `--ops N` fixes the operations per round: with `--rounds 1`, a run with `--ops 2N`
//! minus one with `--ops N` (N ≥ 200, the warm-up) is N operations of that side.

use crate::sqlite_settings::{PRAGMAS_SQL, SqliteFile};
use crate::{Args, scaled};
use almacen::prelude::*;
use rusqlite::OptionalExtension as _;
use std::path::{Path, PathBuf};

const SEED_ROWS: i64 = 10_000;

/// The prices as cents: 0.99 to 10,000.98, spread over the ids.
fn cents(i: i64) -> i64 {
    (i * 7_919) % 1_000_000 + 99
}

/// The `decimal(20, 4)` price of row `i`: the same amount with two more places.
fn text_price(i: i64) -> Decimal {
    Decimal::new(cents(i) * 100 + i % 97, 4)
}

#[derive(Model, Debug, Clone)]
#[model(table = "bench_prices_cents")]
struct PriceCents {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 100)]
    name: String,
    stock: i32,
    /// In cents.
    price: i64,
}

#[derive(Model, Debug, Clone)]
#[model(table = "bench_prices_real")]
struct PriceReal {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 100)]
    name: String,
    stock: i32,
    #[model(decimal(12, 2))]
    price: Decimal,
}

#[derive(Model, Debug, Clone)]
#[model(table = "bench_prices_text")]
struct PriceText {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 100)]
    name: String,
    stock: i32,
    #[model(decimal(20, 4))]
    price: Decimal,
}

/// A row read by rusqlite.
#[allow(dead_code)]
struct RawRow<P> {
    id: i64,
    name: String,
    stock: i32,
    price: P,
}

/// The sides, in the order of the table's columns.
const SIDES: [&str; 5] = ["rs-int", "rs-real", "cents", "real", "text"];

struct Sides {
    rs_int: Option<rusqlite::Connection>,
    rs_real: Option<rusqlite::Connection>,
    cents: Option<Database>,
    real: Option<Database>,
    text: Option<Database>,
}

/// What almacen's `create_tables` writes for the cents model, with the price `INTEGER` or
/// `REAL` and no CHECK on it (a raw user writes none).
fn raw_ddl(table: &str, price_type: &str) -> String {
    format!(
        "CREATE TABLE \"{table}\" (\"id\" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, \
         \"name\" TEXT NOT NULL CHECK (length(\"name\") <= 100), \
         \"stock\" INTEGER NOT NULL CHECK (typeof(\"stock\") IN ('integer', 'null') AND \"stock\" BETWEEN -2147483648 AND 2147483647), \
         \"price\" {price_type} NOT NULL)"
    )
}

fn open_rusqlite(path: Option<&Path>, settings: SqliteFile, table: &str, price_type: &str, real: bool) -> rusqlite::Connection {
    let c = match path {
        Some(p) => {
            let c = rusqlite::Connection::open(p).unwrap();
            c.execute_batch(&settings.pragmas()).unwrap();
            let (journal, sync) = c.query_row(PRAGMAS_SQL, [], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).unwrap();
            settings.check("rusqlite", &journal, sync);
            c
        }
        None => {
            let c = rusqlite::Connection::open_in_memory().unwrap();
            c.execute_batch("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;").unwrap();
            c
        }
    };
    c.set_prepared_statement_cache_capacity(64);
    c.execute_batch(&raw_ddl(table, price_type)).unwrap();
    let tx = c.unchecked_transaction().unwrap();
    {
        let mut st = tx.prepare(&format!("INSERT INTO {table} (name, stock, price) VALUES (?1, ?2, ?3)")).unwrap();
        for i in 0..SEED_ROWS {
            let (name, stock) = (format!("item {i}"), (i % 100) as i32);
            if real {
                st.execute(rusqlite::params![name, stock, cents(i) as f64 / 100.0]).unwrap();
            } else {
                st.execute(rusqlite::params![name, stock, cents(i)]).unwrap();
            }
        }
    }
    tx.commit().unwrap();
    c
}

async fn open_almacen(url: &str) -> Database {
    Database::connect(url).await.unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

/// Open the sides asked for: on files of their own next to `base`, or in memory.
async fn open_sides(base: Option<&Path>, args: &Args) -> (Sides, Vec<PathBuf>) {
    let on = |side: &str| args.sides.is_empty() || args.sides.iter().any(|s| s == side);
    let path = |side: &str| base.map(|b| PathBuf::from(format!("{}-{side}.db", b.display())));
    let settings = args.sqlite_file();
    let url = |side: &str| path(side).map_or_else(|| "sqlite::memory:".to_string(), |p| settings.url(&p));
    let names = |i: i64| (format!("item {i}"), (i % 100) as i32);
    let mut paths = Vec::new();
    let mut sides = Sides { rs_int: None, rs_real: None, cents: None, real: None, text: None };
    if on("rs-int") {
        sides.rs_int = Some(open_rusqlite(path("rs-int").as_deref(), settings, PriceCents::TABLE.name, "integer", false));
    }
    if on("rs-real") {
        sides.rs_real = Some(open_rusqlite(path("rs-real").as_deref(), settings, PriceReal::TABLE.name, "real", true));
    }
    if on("cents") {
        let db = open_almacen(&url("cents")).await;
        db.create_tables(&[PriceCents::TABLE]).await.unwrap();
        let rows = (0..SEED_ROWS)
            .map(|i| {
                let (name, stock) = names(i);
                NewPriceCents { name, stock, price: cents(i) }
            })
            .collect();
        PriceCents::insert_many(&db, rows).await.unwrap();
        sides.cents = Some(db);
    }
    if on("real") {
        let db = open_almacen(&url("real")).await;
        db.create_tables(&[PriceReal::TABLE]).await.unwrap();
        let rows = (0..SEED_ROWS)
            .map(|i| {
                let (name, stock) = names(i);
                NewPriceReal { name, stock, price: Decimal::new(cents(i), 2) }
            })
            .collect();
        PriceReal::insert_many(&db, rows).await.unwrap();
        sides.real = Some(db);
    }
    if on("text") {
        let db = open_almacen(&url("text")).await;
        db.create_tables(&[PriceText::TABLE]).await.unwrap();
        let rows = (0..SEED_ROWS)
            .map(|i| {
                let (name, stock) = names(i);
                NewPriceText { name, stock, price: text_price(i) }
            })
            .collect();
        PriceText::insert_many(&db, rows).await.unwrap();
        sides.text = Some(db);
    }
    for side in SIDES {
        if let Some(p) = path(side) {
            paths.push(p);
        }
    }
    (sides, paths)
}

// --- rusqlite ------------------------------------------------------------------------------

fn rs_row<P: rusqlite::types::FromSql>(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow<P>> {
    Ok(RawRow { id: r.get(0)?, name: r.get(1)?, stock: r.get(2)?, price: r.get(3)? })
}

fn rs_get<P: rusqlite::types::FromSql>(c: &rusqlite::Connection, table: &str, id: i64) -> Option<RawRow<P>> {
    let sql = match table {
        "bench_prices_cents" => "SELECT id, name, stock, price FROM bench_prices_cents WHERE id = ?1",
        _ => "SELECT id, name, stock, price FROM bench_prices_real WHERE id = ?1",
    };
    c.prepare_cached(sql).unwrap().query_row([id], rs_row).optional().unwrap()
}

/// LIMIT and OFFSET literals, as in almacen's statement (see `sqlite_peers::rs_page`).
fn rs_page<P: rusqlite::types::FromSql>(c: &rusqlite::Connection, table: &str, offset: i64) -> Vec<RawRow<P>> {
    let sql = format!("SELECT id, name, stock, price FROM {table} WHERE stock > ?1 ORDER BY id LIMIT 20 OFFSET {offset}");
    let mut st = c.prepare_cached(&sql).unwrap();
    st.query_map([10], rs_row).unwrap().collect::<Result<_, _>>().unwrap()
}

fn rs_sum<S: rusqlite::types::FromSql>(c: &rusqlite::Connection, table: &str) -> (S, f64) {
    let sql = match table {
        "bench_prices_cents" => "SELECT SUM(price), AVG(price) FROM bench_prices_cents",
        _ => "SELECT SUM(price), AVG(price) FROM bench_prices_real",
    };
    c.prepare_cached(sql).unwrap().query_row([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap()
}

fn rs_insert_sql(table: &str) -> &'static str {
    match table {
        "bench_prices_cents" => "INSERT INTO bench_prices_cents (name, stock, price) VALUES (?1, ?2, ?3) RETURNING id, name, stock, price",
        _ => "INSERT INTO bench_prices_real (name, stock, price) VALUES (?1, ?2, ?3) RETURNING id, name, stock, price",
    }
}

/// Stepped to its end (see `sqlite_peers::rs_insert`: the WAL checkpoint runs only then).
fn rs_insert<P: rusqlite::types::FromSql + rusqlite::ToSql>(c: &rusqlite::Connection, table: &str, stock: i32, price: P) -> RawRow<P> {
    let mut st = c.prepare_cached(rs_insert_sql(table)).unwrap();
    let mut rows: Vec<RawRow<P>> =
        st.query_map(rusqlite::params!["single", stock, price], rs_row).unwrap().collect::<Result<_, _>>().unwrap();
    rows.pop().unwrap()
}

/// `INSERT … VALUES (?, ?, ?), … RETURNING …` for 1,000 rows: one statement, as almacen's
/// `insert_many` writes it (one statement is one transaction).
fn rs_bulk_sql(table: &str) -> String {
    let mut sql = format!("INSERT INTO {table} (name, stock, price) VALUES ");
    for i in 0..1000 {
        sql.push_str(if i == 0 { "(?, ?, ?)" } else { ", (?, ?, ?)" });
    }
    sql.push_str(" RETURNING id, name, stock, price");
    sql
}

/// 1,000 rows in one statement (its text built once, `sql`), prepared once and cached.
fn rs_bulk<P: rusqlite::types::FromSql>(
    c: &rusqlite::Connection,
    sql: &str,
    price: impl Fn(i64) -> rusqlite::types::Value,
) -> Vec<RawRow<P>> {
    use rusqlite::types::Value;
    let mut values = Vec::with_capacity(3000);
    for i in 0..1000 {
        values.extend([Value::Text(format!("bulk {i}")), Value::Integer(i), price(i)]);
    }
    let mut st = c.prepare_cached(sql).unwrap();
    st.query_map(rusqlite::params_from_iter(values), rs_row).unwrap().collect::<Result<_, _>>().unwrap()
}

// --- timing --------------------------------------------------------------------------------

fn cell(v: f64) -> String {
    if v.is_nan() { "—".into() } else { format!("{v:.1}") }
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_nan() || b.is_nan() { "—".into() } else { format!("{:.3}×", a / b) }
}

fn print_row(label: &str, [ri, rr, ce, re, te]: [f64; 5]) {
    println!(
        "| {label:<26} | {:>11} | {:>12} | {:>13} | {:>12} | {:>12} | {:>10} | {:>10} | {:>14} | {:>14} |",
        cell(ri),
        cell(rr),
        cell(ce),
        cell(re),
        cell(te),
        ratio(re, ce),
        ratio(te, ce),
        ratio(ce, ri),
        ratio(re, rr),
    );
}

fn wanted(args: &Args, key: &str) -> bool {
    args.workloads.is_empty() || args.workloads.iter().any(|w| w == key)
}

/// Sum and average the seeded rows must give (the bulk and single inserts come later).
fn seeded_sum_cents() -> i64 {
    (0..SEED_ROWS).map(cents).sum()
}

async fn bench_sides(title: &str, sides: &Sides, args: &Args) {
    println!("\n### SQLite decimal storage: {title}\n");
    println!(
        "| workload                   | rusqlite INTEGER µs | rusqlite REAL µs | almacen cents µs | almacen REAL µs | almacen TEXT µs | REAL/cents | TEXT/cents | cents/rusqlite INT | REAL/rusqlite REAL |"
    );
    println!(
        "|----------------------------|------------:|-------------:|--------------:|-------------:|-------------:|-----------:|-----------:|---------------:|---------------:|"
    );
    let on = [sides.rs_int.is_some(), sides.rs_real.is_some(), sides.cents.is_some(), sides.real.is_some(), sides.text.is_some()];
    let (ri, rr, ce, re, te) =
        (sides.rs_int.as_ref(), sides.rs_real.as_ref(), sides.cents.as_ref(), sides.real.as_ref(), sides.text.as_ref());
    let ops = |n: usize| args.ops.unwrap_or_else(|| scaled(n, args.scale));
    let rounds = args.rounds;
    let id = |i: usize| (i as i64 * 7919) % SEED_ROWS + 1;
    let offset = |i: usize| (i % 10) as i64 * 20;
    let (t_cents, t_real) = (PriceCents::TABLE.name, PriceReal::TABLE.name);

    if wanted(args, "get") {
        let t = crate::sqlite_peers::compare5(
            on,
            rounds,
            ops(2000),
            |i| {
                assert!(rs_get::<i64>(ri.unwrap(), t_cents, id(i)).is_some());
                async {}
            },
            |i| {
                assert!(rs_get::<f64>(rr.unwrap(), t_real, id(i)).is_some());
                async {}
            },
            |i| async move {
                assert!(PriceCents::get(ce.unwrap(), id(i)).await.unwrap().is_some());
            },
            |i| async move {
                assert!(PriceReal::get(re.unwrap(), id(i)).await.unwrap().is_some());
            },
            |i| async move {
                assert!(PriceText::get(te.unwrap(), id(i)).await.unwrap().is_some());
            },
        )
        .await;
        print_row("get by primary key", t);
    }
    if wanted(args, "page") {
        let t = crate::sqlite_peers::compare5(
            on,
            rounds,
            ops(1000),
            |i| {
                assert_eq!(rs_page::<i64>(ri.unwrap(), t_cents, offset(i)).len(), 20);
                async {}
            },
            |i| {
                assert_eq!(rs_page::<f64>(rr.unwrap(), t_real, offset(i)).len(), 20);
                async {}
            },
            |i| async move {
                let q = PriceCents::select().filter(PriceCents::STOCK.gt(10)).order_by(PriceCents::ID.asc());
                assert_eq!(q.limit(20).offset(offset(i) as u64).fetch_all(ce.unwrap()).await.unwrap().len(), 20);
            },
            |i| async move {
                let q = PriceReal::select().filter(PriceReal::STOCK.gt(10)).order_by(PriceReal::ID.asc());
                assert_eq!(q.limit(20).offset(offset(i) as u64).fetch_all(re.unwrap()).await.unwrap().len(), 20);
            },
            |i| async move {
                let q = PriceText::select().filter(PriceText::STOCK.gt(10)).order_by(PriceText::ID.asc());
                assert_eq!(q.limit(20).offset(offset(i) as u64).fetch_all(te.unwrap()).await.unwrap().len(), 20);
            },
        )
        .await;
        print_row("page of 20 rows", t);
    }
    if wanted(args, "sum") {
        let total = seeded_sum_cents();
        let real_total = Decimal::new(total, 2);
        let text_total: Decimal = (0..SEED_ROWS).map(text_price).sum();
        let t = crate::sqlite_peers::compare5(
            on,
            rounds,
            ops(50),
            |_| {
                let (s, a) = rs_sum::<i64>(ri.unwrap(), t_cents);
                assert_eq!(s, total);
                assert!((a - total as f64 / SEED_ROWS as f64).abs() < 1e-6);
                async {}
            },
            |_| {
                let (s, _) = rs_sum::<f64>(rr.unwrap(), t_real);
                assert!((s - total as f64 / 100.0).abs() < 1e-3);
                async {}
            },
            |_| async move {
                let (s, a): (i64, f64) = PriceCents::select()
                    .columns([sum(PriceCents::PRICE).into(), avg(PriceCents::PRICE).into()])
                    .fetch_one(ce.unwrap())
                    .await
                    .unwrap();
                assert_eq!(s, total);
                assert!((a - total as f64 / SEED_ROWS as f64).abs() < 1e-6);
            },
            |_| async move {
                let (s, _): (Decimal, Decimal) = PriceReal::select()
                    .columns([sum(PriceReal::PRICE).into(), avg(PriceReal::PRICE).into()])
                    .fetch_one(re.unwrap())
                    .await
                    .unwrap();
                assert_eq!(s, real_total);
            },
            |_| async move {
                let (s, _): (Decimal, Decimal) = PriceText::select()
                    .columns([sum(PriceText::PRICE).into(), avg(PriceText::PRICE).into()])
                    .fetch_one(te.unwrap())
                    .await
                    .unwrap();
                assert_eq!(s, text_total);
            },
        )
        .await;
        print_row("sum + avg of 10,000 prices", t);
    }
    // Writes last, so they do not change what the reads scan.
    if wanted(args, "insert") {
        let t = crate::sqlite_peers::compare5(
            on,
            rounds,
            ops(1000),
            |i| {
                rs_insert(ri.unwrap(), t_cents, i as i32, 150i64);
                async {}
            },
            |i| {
                rs_insert(rr.unwrap(), t_real, i as i32, 1.5f64);
                async {}
            },
            |i| async move {
                PriceCents::insert(ce.unwrap(), NewPriceCents { name: "single".into(), stock: i as i32, price: 150 }).await.unwrap();
            },
            |i| async move {
                PriceReal::insert(re.unwrap(), NewPriceReal { name: "single".into(), stock: i as i32, price: Decimal::new(150, 2) })
                    .await
                    .unwrap();
            },
            |i| async move {
                PriceText::insert(te.unwrap(), NewPriceText { name: "single".into(), stock: i as i32, price: Decimal::new(15_025, 4) })
                    .await
                    .unwrap();
            },
        )
        .await;
        print_row("single insert returning", t);
    }
    if wanted(args, "bulk") {
        let (sql_int, sql_real) = (rs_bulk_sql(t_cents), rs_bulk_sql(t_real));
        let (sql_int, sql_real) = (sql_int.as_str(), sql_real.as_str());
        let t = crate::sqlite_peers::compare5(
            on,
            rounds,
            ops(10),
            |_| {
                assert_eq!(rs_bulk::<i64>(ri.unwrap(), sql_int, |i| rusqlite::types::Value::Integer(250 + i)).len(), 1000);
                async {}
            },
            |_| {
                assert_eq!(rs_bulk::<f64>(rr.unwrap(), sql_real, |i| rusqlite::types::Value::Real((250 + i) as f64 / 100.0)).len(), 1000);
                async {}
            },
            |_| async move {
                let rows = (0..1000).map(|i| NewPriceCents { name: format!("bulk {i}"), stock: i, price: 250 + i as i64 }).collect();
                assert_eq!(PriceCents::insert_many(ce.unwrap(), rows).await.unwrap().len(), 1000);
            },
            |_| async move {
                let rows = (0..1000)
                    .map(|i| NewPriceReal { name: format!("bulk {i}"), stock: i, price: Decimal::new(250 + i as i64, 2) })
                    .collect();
                assert_eq!(PriceReal::insert_many(re.unwrap(), rows).await.unwrap().len(), 1000);
            },
            |_| async move {
                let rows = (0..1000)
                    .map(|i| NewPriceText { name: format!("bulk {i}"), stock: i, price: Decimal::new(25_000 + i as i64 * 101, 4) })
                    .collect();
                assert_eq!(PriceText::insert_many(te.unwrap(), rows).await.unwrap().len(), 1000);
            },
        )
        .await;
        print_row("insert 1,000 rows", t);
    }
}

async fn close(sides: Sides) {
    let Sides { rs_int, rs_real, cents, real, text } = sides;
    drop(rs_int);
    drop(rs_real);
    for db in [cents, real, text].into_iter().flatten() {
        db.close().await;
    }
}

/// The decimal comparison: a file database per side (every side on `--sqlite-journal-mode`
/// and `--sqlite-synchronous`), then in memory.
pub async fn run(args: &Args) {
    println!(
        "\nalmacen decimal storage on SQLite; ratios = almacen REAL decimal(12,2) / almacen i64 cents, almacen TEXT decimal(20,4) / almacen i64 cents, almacen cents / rusqlite INTEGER, almacen REAL / rusqlite REAL"
    );
    let on = |kind: &str| args.databases.is_empty() || args.databases.iter().any(|d| d == kind);
    if on("file") {
        let base = std::env::temp_dir().join(format!("almacen-bench-dec-{}", uuid::Uuid::new_v4().simple()));
        let (sides, paths) = open_sides(Some(&base), args).await;
        let title = format!("file ({}), each side its own file, rusqlite on one held connection", args.sqlite_file().label());
        bench_sides(&title, &sides, args).await;
        close(sides).await;
        for p in &paths {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
            }
        }
    }
    if on("memory") {
        let (sides, _) = open_sides(None, args).await;
        bench_sides("in memory, one connection per side (each its own database)", &sides, args).await;
        close(sides).await;
    }
}
