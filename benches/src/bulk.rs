//! Bulk writes: 10,000 rows as multi-row INSERTs, with the stored rows read back (`RETURNING`
//! every column, decoded) and without (no `RETURNING`, only the count), and 10,000 single-row
//! inserts in one transaction (SQLite peers only).
//!
//! Every side writes the same rows (`bulk {i}`, stock `i`, price 2.5, active on even `i`),
//! built from scratch per operation (one `String` per row), and chunks its multi-row INSERTs
//! under SQLite's 32,766 parameters (the servers': 65,535); when that takes more than one
//! statement, all run in one transaction, as almacen's `insert_many` runs them:
//!
//! - rusqlite: `BEGIN IMMEDIATE` … `COMMIT` on its held connection, each chunk's text built and
//!   handed to `prepare_cached`, values bound with `raw_bind_parameter`, rows read with `get`;
//! - Diesel: `immediate_transaction`, `insert_into(…).values(&chunk)` (one multi-row INSERT per
//!   chunk on SQLite when no value is `DEFAULT`), `.returning(..).get_results` or `.execute`;
//! - raw sqlx: `QueryBuilder::push_values` per chunk, in `pool.begin()` … `commit()` when there
//!   is more than one chunk;
//! - SeaORM: `Entity::insert_many(..).exec_with_returning` / `exec_without_returning` per chunk,
//!   in `begin()` … `commit()` when there is more than one chunk (no `RETURNING` side on
//!   MariaDB: SeaORM refuses it there without its `mariadb-use-returning` feature).

use crate::sqlite_peers::{DieselPool, MAX_PARAMS, compare5, print_row, wanted};
use crate::{Args, Item, NewItem, Raw, RawItem, scaled};
use almacen::prelude::*;
use diesel::prelude::*;
use sqlx::Row as _;

/// Rows per bulk operation.
pub(crate) const BULK_ROWS: usize = 10_000;
/// Columns each inserted row binds (name, stock, price, active).
const WIDTH: usize = 4;

/// Rows per multi-row INSERT under a statement parameter limit.
fn rows_per_statement(max_params: usize) -> usize {
    max_params / WIDTH
}

fn name(i: usize) -> String {
    format!("bulk {i}")
}

/// almacen's input rows.
fn new_items(n: usize) -> Vec<NewItem> {
    (0..n).map(|i| NewItem { name: name(i), stock: i as i32, price: 2.5, active: i.is_multiple_of(2) }).collect()
}

/// `INSERT INTO bench_items (name, stock, price, active) VALUES (…), (…)` for `rows` rows,
/// `ph(k)` writing the k-th placeholder (from 1).
fn bulk_sql(rows: usize, returning: bool, ph: impl Fn(usize) -> String) -> String {
    let mut sql = String::with_capacity(64 + rows * 16);
    sql.push_str("INSERT INTO bench_items (name, stock, price, active) VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..WIDTH {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&ph(r * WIDTH + c + 1));
        }
        sql.push(')');
    }
    if returning {
        sql.push_str(" RETURNING id, name, stock, price, active");
    }
    sql
}

// --- rusqlite -----------------------------------------------------------------------------

/// `n` rows in one transaction, chunked; the rows read back when `returning`. Returns how
/// many rows were inserted (or read back).
fn rs_bulk(c: &rusqlite::Connection, n: usize, returning: bool) -> usize {
    let names: Vec<String> = (0..n).map(name).collect();
    let per = rows_per_statement(MAX_PARAMS);
    let mut read: Vec<RawItem> = Vec::with_capacity(if returning { n } else { 0 });
    let mut inserted = 0;
    c.execute_batch("BEGIN IMMEDIATE").unwrap();
    for (k, chunk) in names.chunks(per).enumerate() {
        let mut st = c.prepare_cached(&bulk_sql(chunk.len(), returning, |_| "?".into())).unwrap();
        let mut p = 1;
        for (j, name) in chunk.iter().enumerate() {
            let i = k * per + j;
            st.raw_bind_parameter(p, name.as_str()).unwrap();
            st.raw_bind_parameter(p + 1, i as i32).unwrap();
            st.raw_bind_parameter(p + 2, 2.5f64).unwrap();
            st.raw_bind_parameter(p + 3, i.is_multiple_of(2)).unwrap();
            p += WIDTH;
        }
        if returning {
            let mut rows = st.raw_query();
            while let Some(r) = rows.next().unwrap() {
                read.push(RawItem {
                    id: r.get(0).unwrap(),
                    name: r.get(1).unwrap(),
                    stock: r.get(2).unwrap(),
                    price: r.get(3).unwrap(),
                    active: r.get(4).unwrap(),
                });
            }
        } else {
            inserted += st.raw_execute().unwrap();
        }
    }
    c.execute_batch("COMMIT").unwrap();
    if returning { read.len() } else { inserted }
}

/// `n` single-row inserts returning the row, in one transaction.
fn rs_inserts_tx(c: &rusqlite::Connection, n: usize) {
    c.execute_batch("BEGIN IMMEDIATE").unwrap();
    for i in 0..n {
        crate::sqlite_peers::rs_insert(c, &name(i), i as i32);
    }
    c.execute_batch("COMMIT").unwrap();
}

// --- Diesel -------------------------------------------------------------------------------

fn diesel_bulk(pool: &DieselPool, n: usize, returning: bool) -> usize {
    use crate::sqlite_peers::dsl::{DItem, DNewItem, bench_items};
    let names: Vec<String> = (0..n).map(name).collect();
    let rows: Vec<DNewItem<'_>> =
        names.iter().enumerate().map(|(i, name)| DNewItem { name, stock: i as i32, price: 2.5, active: i.is_multiple_of(2) }).collect();
    let mut conn = pool.get().unwrap();
    conn.immediate_transaction::<_, diesel::result::Error, _>(|c| {
        let mut count = 0;
        for chunk in rows.chunks(rows_per_statement(MAX_PARAMS)) {
            count += if returning {
                diesel::insert_into(bench_items::table).values(chunk).returning(DItem::as_returning()).get_results(c)?.len()
            } else {
                diesel::insert_into(bench_items::table).values(chunk).execute(c)?
            };
        }
        Ok(count)
    })
    .unwrap()
}

/// `n` single-row inserts returning the row (as the `insert` workload's), in one transaction.
fn diesel_inserts_tx(pool: &DieselPool, n: usize) {
    use crate::sqlite_peers::dsl::{DItem, DNewItem, bench_items};
    let mut conn = pool.get().unwrap();
    conn.immediate_transaction::<_, diesel::result::Error, _>(|c| {
        for i in 0..n {
            let _: DItem = diesel::insert_into(bench_items::table)
                .values(DNewItem { name: &name(i), stock: i as i32, price: 1.5, active: true })
                .returning(DItem::as_returning())
                .get_result(c)?;
        }
        Ok(())
    })
    .unwrap();
}

// --- raw sqlx -----------------------------------------------------------------------------

impl Raw {
    fn max_params(&self) -> usize {
        match self {
            Raw::Sqlite(_) => MAX_PARAMS,
            _ => 65_535,
        }
    }

    /// `n` rows, chunked; in one transaction when that takes more than one statement.
    pub(crate) async fn bulk(&self, n: usize, returning: bool) -> usize {
        let per = rows_per_statement(self.max_params());
        macro_rules! run {
            ($db:ty, $pool:expr) => {{
                let mut tx = if n > per { Some($pool.begin().await.unwrap()) } else { None };
                let mut count = 0;
                let mut start = 0;
                while start < n {
                    let end = (start + per).min(n);
                    let mut qb = sqlx::QueryBuilder::<$db>::new("INSERT INTO bench_items (name, stock, price, active) ");
                    qb.push_values(start..end, |mut b, i| {
                        b.push_bind(name(i)).push_bind(i as i32).push_bind(2.5f64).push_bind(i.is_multiple_of(2));
                    });
                    if returning {
                        qb.push(" RETURNING id, name, stock, price, active");
                        let q = qb.build();
                        let rows = match tx.as_mut() {
                            Some(tx) => q.fetch_all(&mut **tx).await,
                            None => q.fetch_all($pool).await,
                        };
                        let items: Vec<RawItem> = rows.unwrap().into_iter().map(|r| crate::raw_item!(r)).collect();
                        count += items.len();
                    } else {
                        let q = qb.build();
                        let done = match tx.as_mut() {
                            Some(tx) => q.execute(&mut **tx).await,
                            None => q.execute($pool).await,
                        };
                        count += done.unwrap().rows_affected() as usize;
                    }
                    start = end;
                }
                if let Some(tx) = tx {
                    tx.commit().await.unwrap();
                }
                count
            }};
        }
        match self {
            Raw::Sqlite(p) => run!(sqlx::Sqlite, p),
            Raw::Postgres(p) => run!(sqlx::Postgres, p),
            Raw::MySql(p) => run!(sqlx::MySql, p),
        }
    }

    /// `n` single-row inserts returning the row, in one transaction.
    async fn inserts_tx(&self, n: usize) {
        let Raw::Sqlite(p) = self else { unimplemented!("single inserts in a transaction run on SQLite only") };
        let mut tx = p.begin().await.unwrap();
        for i in 0..n {
            let r = sqlx::query(
                "INSERT INTO bench_items (name, stock, price, active) VALUES (?, ?, ?, ?) RETURNING id, name, stock, price, active",
            )
            .bind(name(i))
            .bind(i as i32)
            .bind(1.5f64)
            .bind(true)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            let _: RawItem = crate::raw_item!(r);
        }
        tx.commit().await.unwrap();
    }
}

// --- SeaORM -------------------------------------------------------------------------------

/// `n` rows through `Entity::insert_many`, chunked under `max_params`; in one transaction
/// when that takes more than one statement.
pub(crate) async fn seaorm_bulk(db: &sea_orm::DatabaseConnection, n: usize, returning: bool, max_params: usize) -> usize {
    use crate::seaorm::item;
    use sea_orm::{EntityTrait as _, Set, TransactionTrait as _};
    async fn chunk(c: &impl sea_orm::ConnectionTrait, range: std::ops::Range<usize>, returning: bool) -> usize {
        let rows = range.map(|i| item::ActiveModel {
            name: Set(name(i)),
            stock: Set(i as i32),
            price: Set(2.5),
            active: Set(i.is_multiple_of(2)),
            ..Default::default()
        });
        if returning {
            item::Entity::insert_many(rows).exec_with_returning(c).await.unwrap().len()
        } else {
            item::Entity::insert_many(rows).exec_without_returning(c).await.unwrap() as usize
        }
    }
    let per = rows_per_statement(max_params);
    if n <= per {
        return chunk(db, 0..n, returning).await;
    }
    let tx = db.begin().await.unwrap();
    let mut count = 0;
    for start in (0..n).step_by(per) {
        count += chunk(&tx, start..(start + per).min(n), returning).await;
    }
    tx.commit().await.unwrap();
    count
}

async fn seaorm_inserts_tx(db: &sea_orm::DatabaseConnection, n: usize) {
    use crate::seaorm::item;
    use sea_orm::{ActiveModelTrait as _, Set, TransactionTrait as _};
    let tx = db.begin().await.unwrap();
    for i in 0..n {
        item::ActiveModel { name: Set(name(i)), stock: Set(i as i32), price: Set(1.5), active: Set(true), ..Default::default() }
            .insert(&tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

// --- almacen ------------------------------------------------------------------------------

/// `n` rows through `insert_many` (rows back) or `insert_many_without_returning` (a count).
pub(crate) async fn almacen_bulk(db: &Database, n: usize, returning: bool) -> usize {
    if returning {
        Item::insert_many(db, new_items(n)).await.unwrap().len()
    } else {
        Item::insert_many_without_returning(db, new_items(n)).await.unwrap() as usize
    }
}

async fn almacen_inserts_tx(db: &Database, n: usize) {
    db.transaction(async |tx| -> almacen::Result<()> {
        for i in 0..n {
            Item::insert(tx, NewItem { name: name(i), stock: i as i32, price: 1.5, active: true }).await?;
        }
        Ok(())
    })
    .await
    .unwrap();
}

// --- the workloads ------------------------------------------------------------------------

/// The SQLite peers' bulk workloads (`bulk10k`, `bulk10k-plain`, `insert10k-tx`), after their
/// other writes.
pub(crate) async fn sqlite_workloads(
    rs: &rusqlite::Connection,
    db: &Database,
    diesel: &DieselPool,
    raw: &Raw,
    so: &sea_orm::DatabaseConnection,
    args: &Args,
) {
    let (rounds, ops, n) = (args.rounds, scaled(4, args.scale), BULK_ROWS);
    for (key, label, returning) in [("bulk10k", "10k rows, RETURNING", true), ("bulk10k-plain", "10k rows, no RETURNING", false)] {
        if !wanted(args, key) {
            continue;
        }
        let t = compare5(
            [true; 5],
            rounds,
            ops,
            |_| {
                assert_eq!(rs_bulk(rs, n, returning), n);
                async {}
            },
            |_| async move {
                assert_eq!(almacen_bulk(db, n, returning).await, n);
            },
            |_| {
                assert_eq!(diesel_bulk(diesel, n, returning), n);
                async {}
            },
            |_| async move {
                assert_eq!(raw.bulk(n, returning).await, n);
            },
            |_| async move {
                assert_eq!(seaorm_bulk(so, n, returning, MAX_PARAMS).await, n);
            },
        )
        .await;
        print_row(label, t);
    }
    if wanted(args, "insert10k-tx") {
        let t = compare5(
            [true; 5],
            rounds,
            ops,
            |_| {
                rs_inserts_tx(rs, n);
                async {}
            },
            |_| async move {
                almacen_inserts_tx(db, n).await;
            },
            |_| {
                diesel_inserts_tx(diesel, n);
                async {}
            },
            |_| async move {
                raw.inserts_tx(n).await;
            },
            |_| async move {
                seaorm_inserts_tx(so, n).await;
            },
        )
        .await;
        print_row("10k inserts in 1 tx", t);
    }
}
