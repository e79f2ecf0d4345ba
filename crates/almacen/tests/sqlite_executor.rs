mod common;

use almacen::Statement;
use almacen::prelude::*;
use common::Backend;
use futures::StreamExt;
use std::time::{Duration, Instant};

async fn explore(db: Database, _b: Backend) {
    for n in [1_000_000u64, 3_000_000] {
        let sql = format!("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT {n}) SELECT count(*) AS n FROM c");
        let t = Instant::now();
        let r = db.fetch_one_raw(&sql, params! {}).await.unwrap();
        eprintln!("count {n}: {:?} -> {:?}", t.elapsed(), r.get::<i64>("n"));
    }
    db.execute_raw("CREATE TABLE t2 (x INTEGER NOT NULL)", params! {}).await.unwrap();
    for n in [200_000u64, 1_000_000] {
        let sql = format!("INSERT INTO t2 (x) SELECT x FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT {n}) SELECT x FROM c)");
        let t = Instant::now();
        let r = db.execute_raw(&sql, params! {}).await.unwrap();
        eprintln!("insert {n}: {:?} -> {r}", t.elapsed());
    }
    let t = Instant::now();
    let mut s = db.stream_rows(Statement::new("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000000) SELECT x FROM c", vec![]));
    let mut k = 0;
    while let Some(r) = s.next().await { r.unwrap(); k += 1; }
    drop(s);
    eprintln!("stream 1M: {:?} ({k})", t.elapsed());
    for sql in ["PRAGMA journal_mode", "PRAGMA busy_timeout", "PRAGMA synchronous", "PRAGMA query_only",
                "SELECT * FROM pragma_journal_mode()", "SELECT * FROM pragma_busy_timeout()", "SELECT * FROM pragma_query_only()", "SELECT * FROM pragma_synchronous()"] {
        eprintln!("{sql}: {:?}", db.fetch_all_raw(sql, params! {}).await);
    }
    // WITH ... DELETE
    eprintln!("with delete: {:?}", db.execute_raw("WITH d AS (SELECT x FROM t2 WHERE x <= 10) DELETE FROM t2 WHERE x IN (SELECT x FROM d)", params! {}).await);
    // multi-statement timeout
    let t = Instant::now();
    let stmt = Statement::new("CREATE TABLE IF NOT EXISTS zz (a INTEGER); WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 3000000) SELECT count(*) FROM c", vec![]).with_timeout(Some(Duration::from_millis(200)));
    eprintln!("multi timeout: {:?} after {:?}", db.execute_statement(stmt).await, t.elapsed());
    // ro
    let url = db.options().driver_url().to_string();
    let ro = Database::connect(&format!("{url}?mode=ro")).await;
    eprintln!("ro connect (rw open): {:?}", ro.as_ref().err());
    let ro = ro.unwrap();
    eprintln!("ro select: {:?}", ro.fetch_one_raw("SELECT count(*) AS n FROM t2", params! {}).await);
    eprintln!("ro insert: {:?}", ro.execute_raw("INSERT INTO t2 (x) VALUES (1)", params! {}).await);
    let tx = ro.begin().await;
    eprintln!("ro begin: {:?}", tx.as_ref().err());
    if let Ok(tx) = tx { eprintln!("ro tx insert: {:?}", tx.execute_raw("INSERT INTO t2 (x) VALUES (1)", params! {}).await); }
    ro.close().await;
    eprintln!("colour: {:?}", Database::connect(&format!("{url}x?colour=blue")).await.err());
    eprintln!("file exists: {}", std::path::Path::new(&format!("{}x", url.trim_start_matches("sqlite://"))).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explore_it() {
    common::run_with(Backend::Sqlite, "", explore).await
}

#[tokio::test]
async fn explore_ro_closed() {
    let s = common::Scratch::create(Backend::Sqlite, "").await.unwrap();
    let db = Database::connect(&s.url).await.unwrap();
    db.execute_raw("CREATE TABLE t (x INTEGER)", params! {}).await.unwrap();
    db.execute_raw("INSERT INTO t VALUES (1)", params! {}).await.unwrap();
    db.close().await;
    drop(db);
    let path = s.url.trim_start_matches("sqlite://").to_string();
    for suf in ["-wal", "-shm"] { eprintln!("{suf} exists: {}", std::path::Path::new(&format!("{path}{suf}")).exists()); }
    let ro = Database::connect(&format!("{}?mode=ro", s.url)).await;
    eprintln!("ro connect (closed): {:?}", ro.as_ref().err());
    if let Ok(ro) = ro {
        eprintln!("ro select: {:?}", ro.fetch_one_raw("SELECT count(*) AS n FROM t", params! {}).await);
        eprintln!("ro insert: {:?}", ro.execute_raw("INSERT INTO t VALUES (2)", params! {}).await);
        ro.close().await;
    }
    let mem = Database::connect("sqlite::memory:").await.unwrap();
    mem.execute_raw("CREATE TABLE t (x INTEGER)", params! {}).await.unwrap();
    let tx = mem.begin_with(TxOptions::new().read_only(true)).await.unwrap();
    let e = tx.execute_raw("INSERT INTO t VALUES (2)", params! {}).await.unwrap_err();
    eprintln!("mem ro tx insert: {e:?} {:?}", e.db_info());
    drop(tx);
    eprintln!("mem after: {:?}", mem.execute_raw("INSERT INTO t VALUES (2)", params! {}).await);
    s.drop_database().await;
}
