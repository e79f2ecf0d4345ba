//! Safe read-modify-write on every dialect: row locks (`for_update`, `for_share`,
//! `skip_locked`, `nowait`, `get_for_update`) and the guarded atomic update, each run by
//! concurrent buyers of a product with little stock. None may oversell.

mod common;

use almacen::prelude::*;
use common::Backend;
use futures::future::join_all;
use std::time::Duration;

#[derive(Model, Debug, Clone)]
#[model(table = "stock_items")]
struct StockItem {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40)]
    name: String,
    stock: i32,
}

#[derive(Model, Debug, Clone)]
#[model(table = "stock_orders")]
struct StockOrder {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = "stock_items.id")]
    item_id: i64,
    quantity: i32,
}

const BUYERS: usize = 10;
const STOCK: i32 = 3;

async fn setup(db: &Database) -> StockItem {
    db.create_tables(&[StockItem::TABLE, StockOrder::TABLE]).await.unwrap();
    StockItem::insert(db, NewStockItem { name: "Lamp".into(), stock: STOCK }).await.unwrap()
}

/// Orders placed and stock left: every order took one unit, and none oversold.
async fn check_no_oversell(db: &Database, item: i64, sold: usize) {
    let left = StockItem::get(db, item).await.unwrap().unwrap().stock;
    let orders = StockOrder::select().count(db).await.unwrap();
    assert_eq!((sold, orders, left), (STOCK as usize, STOCK as u64, 0), "sold {sold}, orders {orders}, left {left}");
}

/// The README's pattern, as written there: read the row locked, check, write it back, in
/// one transaction; `Ok(false)` when it refused for want of stock.
async fn buy_locked(db: &Database, item: i64) -> almacen::Result<bool> {
    let bought = db
        .transaction(async |tx| {
            let mut p = StockItem::get_for_update(tx, item).await?.ok_or(Error::NotFound)?;
            if p.stock < 1 {
                return Err(Error::other("out of stock"));
            }
            // Give the other buyers time to read the row too, were it not locked.
            tokio::time::sleep(Duration::from_millis(5)).await;
            p.stock -= 1;
            p.update(tx).await?;
            StockOrder::insert(tx, NewStockOrder { item_id: item, quantity: 1 }).await?;
            Ok(())
        })
        .await;
    match bought {
        Ok(()) => Ok(true),
        Err(e) if e.to_string().contains("out of stock") => Ok(false),
        Err(e) => Err(e),
    }
}

async fn concurrent_buyers_with_row_locks(db: Database, _b: Backend) {
    let item = setup(&db).await.id;
    let outcomes = join_all((0..BUYERS).map(|_| buy_locked(&db, item))).await;
    let sold = outcomes.into_iter().map(|o| o.unwrap()).filter(|&ok| ok).count();
    check_no_oversell(&db, item, sold).await;
}

/// The other safe pattern: one guarded UPDATE that reports whether it matched.
async fn buy_guarded(db: &Database, item: i64) -> almacen::Result<bool> {
    db.transaction(async |tx| {
        let taken =
            StockItem::update_where(StockItem::ID.eq(item).and(StockItem::STOCK.ge(1))).add(StockItem::STOCK, -1).execute(tx).await?;
        if taken == 0 {
            return Ok(false);
        }
        StockOrder::insert(tx, NewStockOrder { item_id: item, quantity: 1 }).await?;
        Ok(true)
    })
    .await
}

async fn concurrent_buyers_with_a_guarded_update(db: Database, _b: Backend) {
    let item = setup(&db).await.id;
    let outcomes = join_all((0..BUYERS).map(|_| buy_guarded(&db, item))).await;
    let sold = outcomes.into_iter().map(|o| o.unwrap()).filter(|&ok| ok).count();
    check_no_oversell(&db, item, sold).await;
}

/// The clause each lock writes on each dialect (SQLite: none, its write lock covers it),
/// after the limit (a parameter on the servers, a literal on SQLite).
async fn lock_clauses(db: Database, backend: Backend) {
    setup(&db).await;
    let d = db.dialect();
    let q = || StockItem::select().filter(StockItem::STOCK.gt(0)).limit(5);
    let cases = [
        (q().for_update(), " LIMIT $2 FOR UPDATE", " LIMIT ? FOR UPDATE"),
        (q().for_update().skip_locked(), " LIMIT $2 FOR UPDATE SKIP LOCKED", " LIMIT ? FOR UPDATE SKIP LOCKED"),
        (q().for_update().nowait(), " LIMIT $2 FOR UPDATE NOWAIT", " LIMIT ? FOR UPDATE NOWAIT"),
        (q().for_share(), " LIMIT $2 FOR SHARE", " LIMIT ? LOCK IN SHARE MODE"),
        (q().skip_locked().for_share(), " LIMIT $2 FOR SHARE SKIP LOCKED", " LIMIT ? LOCK IN SHARE MODE SKIP LOCKED"),
    ];
    for (select, pg, my) in cases {
        let sql = select.debug_sql(d);
        let want = match backend {
            Backend::Postgres => pg,
            Backend::MariaDb => my,
            Backend::Sqlite => " LIMIT 5",
        };
        assert!(sql.ends_with(want), "{backend:?}: {sql}");
        // And every one runs, in a transaction.
        db.transaction(async |tx| select.fetch_all(tx).await).await.unwrap();
    }
    // A count has no lock to take (PostgreSQL refuses FOR UPDATE with an aggregate).
    assert_eq!(q().for_update().count(&db).await.unwrap(), 1);
}

/// A worker skips rows another transaction holds; NOWAIT fails at once with
/// `LockNotAvailable`. (SQLite has one writer at a time: the second transaction cannot begin
/// while the first holds the lock, so there is nothing to skip.)
async fn skip_locked_and_nowait(db: Database, backend: Backend) {
    if backend == Backend::Sqlite {
        return;
    }
    db.create_tables(&[StockItem::TABLE]).await.unwrap();
    let rows = StockItem::insert_many(&db, (0..3).map(|i| NewStockItem { name: format!("job {i}"), stock: 1 }).collect()).await.unwrap();
    let first = db.begin().await.unwrap();
    let held = StockItem::select().order_by(StockItem::ID.asc()).limit(1).for_update().skip_locked().fetch_all(&first).await.unwrap();
    assert_eq!(held.iter().map(|r| r.id).collect::<Vec<_>>(), [rows[0].id]);
    let second = db.begin().await.unwrap();
    let next = StockItem::select().order_by(StockItem::ID.asc()).limit(1).for_update().skip_locked().fetch_all(&second).await.unwrap();
    assert_eq!(next.iter().map(|r| r.id).collect::<Vec<_>>(), [rows[1].id], "the locked row is skipped");
    let e = StockItem::select().filter(StockItem::ID.eq(rows[0].id)).for_update().nowait().fetch_all(&second).await.unwrap_err();
    assert!(matches!(e, Error::LockNotAvailable(_)) && e.is_retryable(), "{e:?}");
    second.rollback().await.unwrap();
    first.commit().await.unwrap();
}

per_backend!(concurrent_buyers_with_row_locks, concurrent_buyers_with_a_guarded_update, lock_clauses, skip_locked_and_nowait);
