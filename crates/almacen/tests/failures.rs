//! Failure modes on every backend: an exhausted pool, statements that outlive their
//! timeout, idle connections reaped, server-side connection kills (with and without
//! pre-ping), pool statistics, a closed pool, and connect errors.

mod common;

use almacen::prelude::*;
use almacen::{PoolStats, Statement};
use common::Backend;
use std::time::{Duration, Instant};

/// A statement that never finishes on its own within the test (5 s on the servers,
/// unbounded on SQLite).
fn endless_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "SELECT 1 AS one FROM pg_sleep(5)",
        Backend::MariaDb => "SELECT SLEEP(5) AS slept",
        Backend::Sqlite => "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS n FROM c",
    }
}

/// A statement that takes about a second or more, then finishes.
fn second_long_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "SELECT 1 AS one FROM pg_sleep(1)",
        Backend::MariaDb => "SELECT SLEEP(1) AS slept",
        Backend::Sqlite => "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 6000000) SELECT count(*) AS n FROM c",
    }
}

async fn select_one(ex: &impl Executor) -> almacen::Result<i64> {
    ex.fetch_one_raw("SELECT 1 AS one", params! {}).await?.get::<i64>("one")
}

/// Wait (up to 3 s) until every connection is back in the pool; return the stats then.
/// (Waits for `idle == size`, not just `in_use == 0`: see `pool_stats_consistent_under_churn`
/// for transiently inconsistent snapshots.)
async fn settled_stats(db: &Database) -> PoolStats {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let s = db.stats();
        if (s.in_use == 0 && s.idle == s.size) || Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A second, independent connection to the same scratch database.
async fn admin_connection(db: &Database) -> Database {
    let url = db.options().driver_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    Database::connect(&format!("{url}{sep}max_connections=1")).await.expect("admin connection")
}

// ---------------------------------------------------------------------------------------
// Pool exhaustion
// ---------------------------------------------------------------------------------------

async fn pool_exhausted_times_out(db: Database, _b: Backend) {
    select_one(&db).await.unwrap();
    let tx = db.begin().await.unwrap();
    let held = db.stats();
    assert_eq!((held.size, held.in_use, held.idle, held.max_connections), (1, 1, 0, 1), "{held:?}");

    let waiter_db = db.clone();
    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        let r = select_one(&waiter_db).await;
        (r, started.elapsed())
    });
    // Sample the stats while the waiter waits.
    let mut seen_waiting = None;
    let deadline = Instant::now() + Duration::from_millis(250);
    while Instant::now() < deadline {
        let s = db.stats();
        if s.waiting >= 1 {
            seen_waiting = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let s = seen_waiting.expect("stats never showed the waiting caller");
    assert_eq!((s.size, s.in_use, s.idle, s.waiting, s.max_connections), (1, 1, 0, 1, 1), "{s:?}");

    let (r, elapsed) = waiter.await.unwrap();
    match r {
        Err(Error::PoolTimeout(d)) => assert_eq!(d, Duration::from_millis(300)),
        other => panic!("expected PoolTimeout, got {other:?}"),
    }
    assert!(elapsed >= Duration::from_millis(250), "gave up too early: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "took too long to give up: {elapsed:?}");
    assert_eq!(db.stats().waiting, 0);
    assert!(Error::PoolTimeout(Duration::from_millis(300)).is_retryable());

    // The transaction holding the connection is unaffected.
    assert_eq!(select_one(&tx).await.unwrap(), 1);
    tx.commit().await.unwrap();
    assert_eq!(select_one(&db).await.unwrap(), 1);

    // A waiter whose connection comes back in time gets it.
    let tx = db.begin().await.unwrap();
    let releaser = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        tx.rollback().await.unwrap();
    });
    let started = Instant::now();
    assert_eq!(select_one(&db).await.unwrap(), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
    releaser.await.unwrap();
    let s = settled_stats(&db).await;
    assert_eq!((s.size, s.idle, s.in_use, s.waiting), (1, 1, 0, 0), "{s:?}");
}

// ---------------------------------------------------------------------------------------
// Statement timeouts
// ---------------------------------------------------------------------------------------

/// The URL's `statement_timeout=500ms` cancels a long statement; the pool's only connection
/// stays usable (or is replaced).
async fn default_statement_timeout(db: Database, backend: Backend) {
    let started = Instant::now();
    let r = db.fetch_all_raw(endless_sql(backend), params! {}).await;
    let elapsed = started.elapsed();
    match &r {
        Err(Error::StatementTimeout(msg)) => assert!(!msg.is_empty()),
        other => panic!("expected StatementTimeout after {elapsed:?}, got {other:?}"),
    }
    assert!(elapsed >= Duration::from_millis(400), "cancelled too early: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "not cancelled in time: {elapsed:?}");
    assert!(!r.unwrap_err().is_retryable());

    // The same pool (one connection) still works, several times over.
    for _ in 0..3 {
        assert_eq!(select_one(&db).await.unwrap(), 1);
    }
    db.execute_raw("CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY)", params! {}).await.unwrap();
    db.execute_raw("INSERT INTO t (id) VALUES (1)", params! {}).await.unwrap();

    // A per-statement override lifts the default: no limit, or a longer one.
    for timeout in [None, Some(Duration::from_secs(10))] {
        let started = Instant::now();
        let stmt = Statement::new(second_long_sql(backend), Vec::new()).with_timeout(timeout);
        let rows = db.fetch_rows(stmt).await.unwrap_or_else(|e| panic!("override {timeout:?}: {e}"));
        assert_eq!(rows.len(), 1);
        assert!(started.elapsed() >= Duration::from_millis(500), "the long statement was not long: {:?}", started.elapsed());
    }
    // And the default applies again to the next statement.
    let r = db.fetch_all_raw(endless_sql(backend), params! {}).await;
    assert!(matches!(r, Err(Error::StatementTimeout(_))), "{r:?}");
    assert_eq!(select_one(&db).await.unwrap(), 1);
}

/// A per-statement timeout on a pool without a default.
async fn per_statement_timeout(db: Database, backend: Backend) {
    let started = Instant::now();
    let stmt = Statement::new(endless_sql(backend), Vec::new()).with_timeout(Some(Duration::from_millis(300)));
    let r = db.fetch_rows(stmt).await;
    let elapsed = started.elapsed();
    assert!(matches!(r, Err(Error::StatementTimeout(_))), "after {elapsed:?}: {r:?}");
    assert!(elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(4), "{elapsed:?}");
    assert_eq!(select_one(&db).await.unwrap(), 1);
    // The override did not stick to the connection: a long statement now runs to its end.
    let rows = db.fetch_rows(Statement::new(second_long_sql(backend), Vec::new())).await.unwrap();
    assert_eq!(rows.len(), 1);

    // Through `execute_statement` too.
    let stmt = Statement::new(endless_sql(backend), Vec::new()).with_timeout(Some(Duration::from_millis(300)));
    let r = db.execute_statement(stmt).await;
    assert!(matches!(r, Err(Error::StatementTimeout(_))), "{r:?}");
    assert_eq!(select_one(&db).await.unwrap(), 1);
}

#[derive(Model, Debug, Clone)]
#[model(table = "slow_view")]
struct SlowView {
    #[model(primary_key)]
    id: i64,
}

/// The typed query's `timeout(...)`: a model over a view that never finishes.
async fn typed_select_timeout(db: Database, backend: Backend) {
    let view = match backend {
        Backend::Postgres => "CREATE VIEW slow_view AS SELECT 1::bigint AS id FROM pg_sleep(5)",
        Backend::MariaDb => "CREATE VIEW slow_view AS SELECT CAST(SLEEP(5) + 1 AS SIGNED) AS id",
        Backend::Sqlite => {
            "CREATE VIEW slow_view AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS id FROM c"
        }
    };
    db.execute_raw(view, params! {}).await.unwrap();
    let started = Instant::now();
    let r = SlowView::select().timeout(Some(Duration::from_millis(300))).fetch_all(&db).await;
    let elapsed = started.elapsed();
    assert!(matches!(r, Err(Error::StatementTimeout(_))), "after {elapsed:?}: {r:?}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    let r = SlowView::select().timeout(Some(Duration::from_millis(300))).count(&db).await;
    assert!(matches!(r, Err(Error::StatementTimeout(_))), "{r:?}");
    assert_eq!(select_one(&db).await.unwrap(), 1);
}

/// A statement timeout inside a transaction: the closure's error is the timeout, the
/// transaction is rolled back, and the pool's only connection is fine afterwards.
async fn statement_timeout_in_transaction(db: Database, backend: Backend) {
    db.execute_raw("CREATE TABLE t (id INTEGER NOT NULL PRIMARY KEY)", params! {}).await.unwrap();
    let r: almacen::Result<()> = db
        .transaction(async |tx| {
            tx.execute_raw("INSERT INTO t (id) VALUES (1)", params! {}).await?;
            tx.fetch_all_raw(endless_sql(backend), params! {}).await?;
            Ok(())
        })
        .await;
    assert!(matches!(r, Err(Error::StatementTimeout(_))), "{r:?}");
    let n = db.fetch_one_raw("SELECT COUNT(*) AS n FROM t", params! {}).await.unwrap().get::<i64>("n").unwrap();
    assert_eq!(n, 0);

    // Per-statement overrides inside transactions do not leak into the session: one that
    // lifts the limit, committed; one that shortens it, timed out and rolled back.
    db.transaction(async |tx| -> almacen::Result<_> {
        tx.execute_raw("INSERT INTO t (id) VALUES (2)", params! {}).await?;
        let stmt = Statement::new(second_long_sql(backend), Vec::new()).with_timeout(None);
        tx.fetch_rows(stmt).await?;
        Ok(())
    })
    .await
    .unwrap();
    let r: almacen::Result<()> = db
        .transaction(async |tx| {
            tx.execute_raw("INSERT INTO t (id) VALUES (3)", params! {}).await?;
            let stmt = Statement::new(endless_sql(backend), Vec::new()).with_timeout(Some(Duration::from_millis(200)));
            tx.fetch_rows(stmt).await?;
            Ok(())
        })
        .await;
    assert!(matches!(r, Err(Error::StatementTimeout(_))), "{r:?}");
    let ids = db.fetch_all_raw("SELECT id FROM t ORDER BY id", params! {}).await.unwrap();
    let ids: Vec<i64> = ids.iter().map(|r| r.get::<i64>("id").unwrap()).collect();
    assert_eq!(ids, [2]);
    assert_eq!(select_one(&db).await.unwrap(), 1);
    let started = Instant::now();
    let r = db.fetch_all_raw(endless_sql(backend), params! {}).await;
    assert!(matches!(r, Err(Error::StatementTimeout(_))), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "the default timeout no longer applies: {:?}", started.elapsed());
    assert_eq!(select_one(&db).await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------------
// Idle timeout, server-side kills
// ---------------------------------------------------------------------------------------

async fn idle_connections_are_reaped(db: Database, _b: Backend) {
    assert_eq!(select_one(&db).await.unwrap(), 1);
    assert!(settled_stats(&db).await.size >= 1);
    // Reaped a second or so after idle_timeout=1s; a loaded machine may run the reaper late,
    // so look until 6 s have passed.
    let deadline = Instant::now() + Duration::from_secs(6);
    while db.stats().size > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let s = db.stats();
    assert_eq!(s.size, 0, "the idle connection was not closed within 6 s of idle_timeout=1s: {s:?}");
    let started = Instant::now();
    assert_eq!(select_one(&db).await.unwrap(), 1);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

/// Kill every connection of the scratch database except the admin's own; return how many.
async fn kill_pool_connections(db: &Database, backend: Backend) -> usize {
    let admin = admin_connection(db).await;
    let killed = match backend {
        Backend::Postgres => {
            let rows = admin
                .fetch_all_raw(
                    "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    params! {},
                )
                .await
                .unwrap();
            rows.len()
        }
        Backend::MariaDb => {
            let rows = admin
                .fetch_all_raw(
                    "SELECT CAST(ID AS SIGNED) AS id FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()",
                    params! {},
                )
                .await
                .unwrap();
            for row in &rows {
                let id = row.get::<i64>("id").unwrap();
                let _ = admin.execute_raw(&format!("KILL {id}"), params! {}).await;
            }
            rows.len()
        }
        Backend::Sqlite => unreachable!("SQLite has no server connections to kill"),
    };
    // Wait until the server has really let them go.
    let remaining_sql = match backend {
        Backend::Postgres => "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        _ => "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()",
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let n = admin.fetch_one_raw(remaining_sql, params! {}).await.unwrap().get::<i64>("n").unwrap();
        if n == 0 || Instant::now() > deadline {
            assert_eq!(n, 0, "connections survived the kill");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    admin.close().await;
    killed
}

/// With pre_ping, connections the server killed are noticed and replaced before use.
/// (SQLite has no server to kill its connections: skipped there.)
async fn pre_ping_survives_server_kill(db: Database, backend: Backend) {
    if backend == Backend::Sqlite {
        return;
    }
    // Open both connections of the pool.
    let tx = db.begin().await.unwrap();
    assert_eq!(select_one(&db).await.unwrap(), 1);
    tx.commit().await.unwrap();
    let s = settled_stats(&db).await;
    assert_eq!((s.size, s.idle), (2, 2), "{s:?}");

    let killed = kill_pool_connections(&db, backend).await;
    assert_eq!(killed, 2);

    for i in 0..3 {
        select_one(&db).await.unwrap_or_else(|e| panic!("query {i} after the kill failed despite pre_ping: {e:?}"));
    }
    // Both connections at once work too.
    let tx = db.begin().await.unwrap();
    assert_eq!(select_one(&db).await.unwrap(), 1);
    assert_eq!(select_one(&tx).await.unwrap(), 1);
    tx.commit().await.unwrap();
}

/// Without pre_ping the first use of a killed connection may fail, with a retryable
/// ConnectionLost; the next query gets a fresh connection. (SQLite: skipped.)
async fn server_kill_without_pre_ping(db: Database, backend: Backend) {
    if backend == Backend::Sqlite {
        return;
    }
    assert_eq!(select_one(&db).await.unwrap(), 1);
    assert_eq!(settled_stats(&db).await.size, 1);
    let killed = kill_pool_connections(&db, backend).await;
    assert_eq!(killed, 1);

    match select_one(&db).await {
        Ok(one) => assert_eq!(one, 1),
        Err(e) => {
            assert!(matches!(e, Error::ConnectionLost(_)), "expected ConnectionLost, got {e:?}");
            assert!(e.is_retryable());
        }
    }
    assert_eq!(select_one(&db).await.expect("the query after a lost connection must succeed"), 1);

    // Same for a transaction begun on a killed connection.
    kill_pool_connections(&db, backend).await;
    if let Err(e) = db.transaction(async |tx| select_one(tx).await).await {
        assert!(matches!(e, Error::ConnectionLost(_)), "expected ConnectionLost, got {e:?}");
    }
    assert_eq!(db.transaction(async |tx| select_one(tx).await).await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------------
// Pool statistics and closing
// ---------------------------------------------------------------------------------------

/// (On SQLite one connection writes: there the first three transactions are read-only, on
/// the readers, and the fourth takes the writer.)
async fn pool_stats_add_up(db: Database, backend: Backend) {
    let begin = async |i: usize| {
        let read_only = backend == Backend::Sqlite && i < 3;
        db.begin_with(TxOptions::new().read_only(read_only)).await.unwrap()
    };
    for _ in 0..3 {
        select_one(&db).await.unwrap();
    }
    let s = settled_stats(&db).await;
    assert_eq!(s.max_connections, 4);
    assert!((1..=4).contains(&s.size), "{s:?}");
    assert_eq!((s.idle, s.in_use, s.waiting), (s.size, 0, 0), "{s:?}");

    let t1 = begin(0).await;
    let t2 = begin(1).await;
    let s = db.stats();
    assert!(s.size >= 2, "{s:?}");
    assert_eq!(s.in_use, 2, "{s:?}");
    assert_eq!(s.idle + s.in_use, s.size, "{s:?}");

    let t3 = begin(2).await;
    let t4 = begin(3).await;
    let s = db.stats();
    assert_eq!((s.size, s.in_use, s.idle, s.waiting), (4, 4, 0, 0), "{s:?}");
    for tx in [t1, t2, t3, t4] {
        tx.commit().await.unwrap();
    }
    let s = settled_stats(&db).await;
    assert_eq!((s.size, s.in_use, s.idle, s.waiting), (4, 0, 4, 0), "{s:?}");
}

/// Every snapshot must add up (`idle + in_use == size <= max_connections`), even while
/// the only connection is handed from one caller to the next.
async fn pool_stats_consistent_under_churn(db: Database, _b: Backend) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                for _ in 0..100 {
                    select_one(&db).await.unwrap();
                }
            })
        })
        .collect();
    let sampler = {
        let db = db.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut bad = Vec::new();
            let mut samples = 0u32;
            while !done.load(Ordering::Relaxed) {
                let s = db.stats();
                samples += 1;
                if s.idle > s.size || s.idle + s.in_use != s.size || s.size > s.max_connections {
                    bad.push(s);
                }
                tokio::task::yield_now().await;
            }
            (samples, bad)
        })
    };
    for w in workers {
        w.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let (samples, bad) = sampler.await.unwrap();
    assert!(bad.is_empty(), "{} of {samples} stats snapshots do not add up, e.g. {:?}", bad.len(), &bad[..bad.len().min(3)]);
}

async fn closed_pool_refuses_queries(db: Database, _b: Backend) {
    assert_eq!(select_one(&db).await.unwrap(), 1);
    assert!(!db.is_closed());
    let other_handle = db.clone();
    db.close().await;
    assert!(db.is_closed());
    assert!(other_handle.is_closed(), "clones share the pool");
    let r = select_one(&db).await;
    assert!(matches!(r, Err(Error::ConnectionLost(_))), "{r:?}");
    let r = db.begin().await;
    assert!(matches!(r, Err(Error::ConnectionLost(_))), "{r:?}");
    assert_eq!(db.stats().size, 0);
}

/// Statements whose placeholders and values disagree are refused before anything is sent,
/// inside and outside a transaction, and the pool's one connection stays usable: MariaDB's
/// driver used to fail after queueing a reply it never read, wedging the connection for
/// good (the pool then drained to PoolTimeout and `close` hung).
async fn mismatched_placeholders_leave_the_pool_whole(db: Database, backend: Backend) {
    let bounded = Duration::from_secs(10);
    let positional = match backend {
        Backend::Postgres => "SELECT $1::int AS a",
        _ => "SELECT ? AS a",
    };
    for _ in 0..3 {
        let raw = tokio::time::timeout(bounded, db.fetch_all_raw("SELECT ? AS a", params! {})).await.expect("no hang");
        match backend {
            Backend::MariaDb => assert!(matches!(&raw, Err(Error::Parameter(m)) if m.contains("`?` placeholder")), "{raw:?}"),
            Backend::Sqlite => assert!(matches!(&raw, Err(Error::Parameter(_))), "{raw:?}"),
            // On PostgreSQL `?` is an operator, here a syntax error from the server.
            Backend::Postgres => {}
        }
        assert!(raw.is_err());
        let stmt = tokio::time::timeout(bounded, db.fetch_rows(Statement::new(positional, Vec::new()))).await.expect("no hang");
        let e = stmt.unwrap_err();
        assert!(matches!(e, Error::Parameter(_)), "{backend:?}: a malformed statement is the statement's fault: {e:?}");
        assert!(!e.is_retryable(), "{backend:?}: {e:?}");
        let in_tx = tokio::time::timeout(
            bounded,
            db.transaction(async |tx| -> almacen::Result<_> {
                let bad = tx.fetch_rows(Statement::new(positional, Vec::new())).await;
                assert!(bad.is_err(), "{backend:?}");
                Ok(())
            }),
        )
        .await
        .expect("a transaction after a malformed statement returns");
        // PostgreSQL aborts the transaction on the error, so its commit fails; the others commit.
        if backend != Backend::Postgres {
            in_tx.unwrap();
        }
    }
    // The one connection still answers, and closing returns.
    let one = db.fetch_one_raw("SELECT 1 AS one", params! {}).await.unwrap().get::<i64>("one").unwrap();
    assert_eq!(one, 1);
    for _ in 0..50 {
        if db.stats().in_use == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(db.stats().in_use, 0, "{backend:?}: {:?}", db.stats());
    tokio::time::timeout(bounded, db.close()).await.expect("close returns");
}

/// A statement with its own timeout, dropped mid-run, leaves no session setting behind: the
/// next user of the pool's one connection runs under the pool's default (PostgreSQL used to
/// keep the override, because the reset after the statement never ran). SQLite has no
/// session to leak into.
async fn dropped_timeout_override_does_not_leak(db: Database, backend: Backend) {
    let (sleep, show) = match backend {
        Backend::Postgres => ("SELECT pg_sleep(3)", "SELECT current_setting('statement_timeout') AS t"),
        Backend::MariaDb => ("SELECT SLEEP(3)", "SELECT CAST(@@max_statement_time AS CHAR) AS t"),
        Backend::Sqlite => return,
    };
    let default = db.fetch_one_raw(show, params! {}).await.unwrap().get::<String>("t").unwrap();
    for _ in 0..2 {
        let long = Statement::new(sleep, Vec::new()).with_timeout(Some(Duration::from_secs(60)));
        let dropped = tokio::time::timeout(Duration::from_millis(300), db.fetch_rows(long)).await;
        assert!(dropped.is_err(), "{backend:?}: the sleep was cut short by the caller");
        let now = tokio::time::timeout(Duration::from_secs(10), db.fetch_one_raw(show, params! {}))
            .await
            .expect("the pool hands out a connection again")
            .unwrap()
            .get::<String>("t")
            .unwrap();
        assert_eq!(now, default, "{backend:?}: the override leaked into the pool");
    }
}

/// A statement that runs for 30 s on a server, tagged so the server's list of running
/// statements can find it.
fn tagged_sleep(backend: Backend, tag: &str) -> String {
    match backend {
        Backend::Postgres => format!("SELECT 1 AS {tag} FROM pg_sleep(30)"),
        Backend::MariaDb => format!("SELECT SLEEP(30) AS {tag}"),
        Backend::Sqlite => format!("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS {tag} FROM c"),
    }
}

/// How many statements tagged `tag` the server is running (for other sessions than `admin`'s).
async fn running_tagged(admin: &Database, backend: Backend, tag: &str) -> i64 {
    let sql = match backend {
        Backend::Postgres => {
            "SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE :pattern AND pid <> pg_backend_pid()"
        }
        Backend::MariaDb => "SELECT count(*) AS n FROM information_schema.processlist WHERE info LIKE :pattern AND id <> CONNECTION_ID()",
        Backend::Sqlite => return 0,
    };
    let pattern = format!("%AS {tag}%");
    admin.fetch_one_raw(sql, params! { "pattern" => pattern }).await.unwrap().get::<i64>("n").unwrap()
}

/// Wait (up to `limit`) until the server runs no statement tagged `tag`; true if it stopped.
async fn stops_running(admin: &Database, backend: Backend, tag: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if running_tagged(admin, backend, tag).await == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn dropped_statement_is_cancelled_on_the_server(db: Database, backend: Backend) {
    let admin = admin_connection(&db).await;
    let tag = "cancel_outside";
    let dropped = tokio::time::timeout(Duration::from_millis(300), db.fetch_all_raw(&tagged_sleep(backend, tag), params! {})).await;
    assert!(dropped.is_err(), "{backend:?}: the caller gave up first");
    assert!(
        stops_running(&admin, backend, tag, Duration::from_secs(3)).await,
        "{backend:?}: the server still runs the abandoned statement"
    );
    // The pool (one connection) serves the next caller at once.
    let next = tokio::time::timeout(Duration::from_secs(2), select_one(&db)).await;
    assert_eq!(next.expect("the pool has its connection back within 2 s").unwrap(), 1, "{backend:?}");
    tokio::time::timeout(Duration::from_secs(5), db.close()).await.expect("close returns");
}

/// With `cancel_on_drop=false` (behind PgBouncer, say) nothing is sent to the server: the
/// abandoned statement runs on, and its connection is still closed, never reused.
async fn cancel_on_drop_can_be_turned_off(db: Database, backend: Backend) {
    if backend == Backend::Sqlite {
        return;
    }
    let admin = admin_connection(&db).await;
    let tag = "cancel_off";
    let sql = match backend {
        Backend::Postgres => format!("SELECT 1 AS {tag} FROM pg_sleep(3)"),
        _ => format!("SELECT SLEEP(3) AS {tag}"),
    };
    let dropped = tokio::time::timeout(Duration::from_millis(300), db.fetch_all_raw(&sql, params! {})).await;
    assert!(dropped.is_err());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(running_tagged(&admin, backend, tag).await, 1, "{backend:?}: the statement runs on");
    assert_eq!(select_one(&db).await.unwrap(), 1, "{backend:?}: a new connection serves the next caller");
}

async fn dropped_statement_in_a_transaction(db: Database, backend: Backend) {
    db.execute_raw("CREATE TABLE marks (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
    let admin = admin_connection(&db).await;
    let tag = "cancel_inside";
    let tx = db.begin().await.unwrap();
    tx.execute_raw("INSERT INTO marks (id) VALUES (1)", params! {}).await.unwrap();
    let dropped = tokio::time::timeout(Duration::from_millis(300), tx.fetch_all_raw(&tagged_sleep(backend, tag), params! {})).await;
    assert!(dropped.is_err(), "{backend:?}: the caller gave up first");
    assert!(
        stops_running(&admin, backend, tag, Duration::from_secs(3)).await,
        "{backend:?}: the server still runs the abandoned statement"
    );
    // The abandoned statement's effect is unknown: the transaction can only roll back.
    let next = tx.execute_raw("INSERT INTO marks (id) VALUES (2)", params! {}).await;
    assert!(matches!(next, Err(Error::TransactionAborted(_))), "{backend:?}: {next:?}");
    let commit = tx.commit().await;
    assert!(matches!(commit, Err(Error::TransactionAborted(_))), "{backend:?}: {commit:?}");
    let n = marks_within_2s(&db).await;
    assert_eq!(n, 0, "{backend:?}: nothing of the abandoned transaction is committed");
    tokio::time::timeout(Duration::from_secs(5), db.close()).await.expect("close returns");
}

/// The rows of `marks`, counted on a pooled connection that must come within 2 s.
async fn marks_within_2s(db: &Database) -> i64 {
    let counted = tokio::time::timeout(Duration::from_secs(2), db.fetch_one_raw("SELECT count(*) AS n FROM marks", params! {}));
    counted.await.expect("the pool has a connection within 2 s").unwrap().get::<i64>("n").unwrap()
}

/// A transaction dropped while a statement runs (a request timeout around `db.transaction`):
/// the statement is cancelled, nothing commits, and the connection is not handed out mid-statement.
async fn dropped_transaction_closure(db: Database, backend: Backend) {
    db.execute_raw("CREATE TABLE marks (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
    let admin = admin_connection(&db).await;
    let tag = "cancel_closure";
    let sleep = tagged_sleep(backend, tag);
    let work = db.transaction(async |tx| -> almacen::Result<()> {
        tx.execute_raw("INSERT INTO marks (id) VALUES (1)", params! {}).await?;
        tx.fetch_all_raw(&sleep, params! {}).await?;
        Ok(())
    });
    assert!(tokio::time::timeout(Duration::from_millis(300), work).await.is_err());
    assert!(
        stops_running(&admin, backend, tag, Duration::from_secs(3)).await,
        "{backend:?}: the server still runs the abandoned statement"
    );
    let n = marks_within_2s(&db).await;
    assert_eq!(n, 0, "{backend:?}");
    tokio::time::timeout(Duration::from_secs(5), db.close()).await.expect("close returns");
}

/// A failed statement inside a transaction: PostgreSQL aborts the transaction, and its
/// COMMIT used to answer with a silent rollback. Every dialect either commits all the
/// successful statements or says it did not.
async fn commit_after_a_failed_statement(db: Database, backend: Backend) {
    db.execute_raw("CREATE TABLE marks (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
    let tx = db.begin().await.unwrap();
    tx.execute_raw("INSERT INTO marks (id) VALUES (1)", params! {}).await.unwrap();
    let dup = tx.execute_raw("INSERT INTO marks (id) VALUES (1)", params! {}).await;
    assert!(matches!(dup, Err(Error::UniqueViolation(_))), "{dup:?}");
    let commit = tx.commit().await;
    let n = db.fetch_one_raw("SELECT count(*) AS n FROM marks", params! {}).await.unwrap().get::<i64>("n").unwrap();
    match backend {
        Backend::Postgres => {
            assert!(matches!(&commit, Err(Error::TransactionAborted(m)) if m.contains("savepoint")), "{commit:?}");
            assert_eq!(n, 0);
        }
        _ => {
            commit.unwrap();
            assert_eq!(n, 1, "{backend:?}");
        }
    }
    // In a savepoint the failure is contained on every dialect.
    let tx = db.begin().await.unwrap();
    tx.execute_raw("INSERT INTO marks (id) VALUES (2)", params! {}).await.unwrap();
    let inner = tx.transaction(async |sp| sp.execute_raw("INSERT INTO marks (id) VALUES (2)", params! {}).await).await;
    assert!(matches!(inner, Err(Error::UniqueViolation(_))), "{inner:?}");
    tx.commit().await.unwrap();
    let has_two = db.fetch_one_raw("SELECT count(*) AS n FROM marks WHERE id = 2", params! {}).await.unwrap().get::<i64>("n").unwrap();
    assert_eq!(has_two, 1, "{backend:?}");
}

/// Run `sql` on `db` and kill its connection from the server side 300 ms in.
async fn killed_mid_statement(db: &Database, backend: Backend, sql: &'static str) -> almacen::Result<u64> {
    let running = {
        let db = db.clone();
        tokio::spawn(async move { db.execute_raw(sql, params! {}).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    kill_pool_connections(db, backend).await;
    tokio::time::timeout(Duration::from_secs(10), running).await.expect("the killed statement returns").unwrap()
}

/// A connection lost while a write runs outside a transaction: the write may have taken
/// effect, so the error says the outcome is unknown and is not retryable; a lost read is
/// `ConnectionLost`, which is.
async fn lost_connection_during_a_write(db: Database, backend: Backend) {
    let (write, read) = match backend {
        Backend::Postgres => ("INSERT INTO marks (id) SELECT 1 FROM pg_sleep(3)", "SELECT 1 FROM pg_sleep(3)"),
        Backend::MariaDb => ("INSERT INTO marks (id) SELECT 1 FROM (SELECT SLEEP(3)) AS s", "SELECT SLEEP(3)"),
        Backend::Sqlite => return,
    };
    db.execute_raw("CREATE TABLE marks (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
    let lost = killed_mid_statement(&db, backend, write).await;
    assert!(matches!(&lost, Err(Error::OutcomeUnknown(_))), "{backend:?}: {lost:?}");
    assert!(!lost.unwrap_err().is_retryable());
    let lost = killed_mid_statement(&db, backend, read).await;
    assert!(matches!(&lost, Err(Error::ConnectionLost(_))), "{backend:?}: {lost:?}");
    assert!(lost.unwrap_err().is_retryable());
    assert_eq!(select_one(&db).await.unwrap(), 1, "{backend:?}: the pool recovers");
}

/// A connection lost during COMMIT: the transaction may have committed. (PostgreSQL, where a
/// deferred constraint trigger can make COMMIT itself take seconds.)
async fn lost_connection_during_commit(db: Database, backend: Backend) {
    if backend != Backend::Postgres {
        return;
    }
    for sql in [
        "CREATE TABLE marks (id INTEGER PRIMARY KEY)",
        "CREATE FUNCTION slow_check() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(3); RETURN NULL; END $$",
        "CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON marks DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_check()",
    ] {
        db.execute_raw(sql, params! {}).await.unwrap();
    }
    let committing = {
        let db = db.clone();
        tokio::spawn(async move {
            let tx = db.begin().await?;
            tx.execute_raw("INSERT INTO marks (id) VALUES (1)", params! {}).await?;
            tx.commit().await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    kill_pool_connections(&db, backend).await;
    let lost = tokio::time::timeout(Duration::from_secs(10), committing).await.expect("the commit returns").unwrap();
    assert!(matches!(&lost, Err(Error::OutcomeUnknown(m)) if m.contains("COMMIT")), "{lost:?}");
    assert!(!lost.unwrap_err().is_retryable());
}

/// More values than the protocol carries: refused before sending on the servers (sqlx
/// reported a protocol error as a lost connection), refused by SQLite; the pool stays whole.
async fn too_many_parameters(db: Database, backend: Backend) {
    let sql = "SELECT 1 AS one WHERE 1 IN (:ids)";
    if backend != Backend::Sqlite {
        let most: Vec<i64> = (0..65_535).collect();
        assert_eq!(db.fetch_all_raw(sql, params! { "ids" => most }).await.unwrap().len(), 1, "{backend:?}");
    }
    let over: Vec<i64> = (0..65_536).collect();
    let refused = db.fetch_all_raw(sql, params! { "ids" => over }).await.unwrap_err();
    match backend {
        Backend::Sqlite => assert!(refused.to_string().contains("too many SQL variables"), "{refused}"),
        _ => {
            assert!(matches!(&refused, Error::Parameter(m) if m.contains("65536 parameters") && m.contains("at most 65535")), "{refused:?}")
        }
    }
    assert!(!refused.is_retryable(), "{backend:?}");
    assert_eq!(select_one(&db).await.unwrap(), 1, "{backend:?}");
    tokio::time::timeout(Duration::from_secs(5), db.close()).await.expect("close returns");
}

/// On the servers each of the pool's attempts lasts at most the connect timeout (so that its
/// reconnect backoff stays short); a caller still waits the whole acquire timeout, over
/// several attempts, gets a connection given back during a later one, and its timeout error
/// names the acquire timeout.
async fn acquire_timeout_spans_attempts(db: Database, _b: Backend) {
    let tx = db.begin().await.unwrap();
    let started = Instant::now();
    match select_one(&db).await {
        Err(Error::PoolTimeout(d)) => assert_eq!(d, Duration::from_millis(1500)),
        other => panic!("expected PoolTimeout, got {other:?}"),
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1450), "gave up after {elapsed:?}, before the acquire timeout of 1.5 s");
    assert!(elapsed < Duration::from_millis(2500), "gave up only after {elapsed:?} (acquire timeout 1.5 s)");
    assert_eq!(db.stats().waiting, 0);

    // A connection given back during the waiter's third attempt (of 400 ms) is handed to it.
    let waiter_db = db.clone();
    let waiter = tokio::spawn(async move { select_one(&waiter_db).await });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    tx.commit().await.unwrap();
    assert_eq!(waiter.await.unwrap().expect("the waiter gets the connection given back"), 1);
}

per_backend_with!(
    lost_connection_during_a_write => "max_connections=1",
    lost_connection_during_commit => "max_connections=1",
    too_many_parameters => "max_connections=1&acquire_timeout=3s",
    dropped_statement_is_cancelled_on_the_server => "max_connections=1&acquire_timeout=5s",
    dropped_statement_in_a_transaction => "max_connections=1&acquire_timeout=5s",
    cancel_on_drop_can_be_turned_off => "max_connections=1&cancel_on_drop=false",
    dropped_transaction_closure => "max_connections=1&acquire_timeout=5s",
    commit_after_a_failed_statement => "max_connections=2",
    dropped_timeout_override_does_not_leak => "max_connections=1&statement_timeout=3s&acquire_timeout=10s",
    mismatched_placeholders_leave_the_pool_whole => "max_connections=1&acquire_timeout=2s",
    pool_exhausted_times_out => "max_connections=1&acquire_timeout=300ms",
    acquire_timeout_spans_attempts => "max_connections=1&acquire_timeout=1500ms&connect_timeout=400ms",
    default_statement_timeout => "max_connections=1&statement_timeout=500ms",
    per_statement_timeout => "max_connections=1",
    typed_select_timeout => "max_connections=1",
    statement_timeout_in_transaction => "max_connections=1&statement_timeout=500ms",
    idle_connections_are_reaped => "idle_timeout=1s",
    pre_ping_survives_server_kill => "pre_ping=true&max_connections=2",
    server_kill_without_pre_ping => "max_connections=1",
    pool_stats_add_up => "max_connections=4",
    pool_stats_consistent_under_churn => "max_connections=1",
    closed_pool_refuses_queries => "",
);

// ---------------------------------------------------------------------------------------
// Connect errors
// ---------------------------------------------------------------------------------------

async fn assert_connect_lost(url: &str) {
    let started = Instant::now();
    let r = Database::connect(url).await;
    let elapsed = started.elapsed();
    match r {
        Err(Error::ConnectionLost(msg)) => assert!(!msg.is_empty()),
        other => panic!("{url}: expected ConnectionLost, got {other:?} after {elapsed:?}"),
    }
    assert!(elapsed < Duration::from_secs(4), "{url}: gave up only after {elapsed:?} (connect_timeout=2s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_to_closed_port_postgres() {
    assert_connect_lost("postgres://postgres@127.0.0.1:1/test?connect_timeout=2s").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_to_closed_port_mariadb() {
    assert_connect_lost("mysql://root@127.0.0.1:1/test?connect_timeout=2s").await;
}

/// A server that accepts the TCP connection and then says nothing: only the connect
/// timeout ends the wait.
async fn silent_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_to_silent_server_times_out() {
    let (port, task) = silent_server().await;
    assert_connect_lost(&format!("postgres://postgres@127.0.0.1:{port}/test?connect_timeout=1s")).await;
    assert_connect_lost(&format!("mysql://root@127.0.0.1:{port}/test?connect_timeout=1s")).await;
    task.abort();
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_unopenable_path_fails() {
    let started = Instant::now();
    let r = Database::connect("sqlite:///nonexistent-almacen-dir/sub/x.db?connect_timeout=2s").await;
    let e = r.expect_err("a database in a missing directory cannot be opened");
    assert!(started.elapsed() < Duration::from_secs(4));
    // SQLITE_CANTOPEN (14), reported as the database's own error.
    let cantopen = matches!(&e, Error::Database(info) if info.code.as_deref() == Some("14"));
    assert!(cantopen || matches!(e, Error::ConnectionLost(_)), "{e:?}");
}

#[tokio::test]
async fn bad_url_scheme_is_a_config_error() {
    for (url, named) in [("oracle://scott@localhost/orcl", "oracle"), ("redis://127.0.0.1:6379", "redis")] {
        match Database::connect(url).await {
            Err(Error::Config(msg)) => assert!(msg.contains(named), "{url}: the message should name the scheme: {msg}"),
            other => panic!("{url}: expected Error::Config, got {other:?}"),
        }
    }
    assert!(matches!(Database::connect("no scheme at all").await, Err(Error::Config(_))));
    match Database::connect("sqlite://x.db?acquire_timeout=soon").await {
        Err(Error::Config(msg)) => assert!(msg.contains("acquire_timeout"), "{msg}"),
        other => panic!("expected Error::Config, got {other:?}"),
    }
}
