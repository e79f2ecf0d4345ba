//! The SQLite executor (rusqlite connections run in place): long statements leave the async
//! runtime, one writer and `query_only` readers, WAL, statement timeouts and SQLite's own
//! rollbacks, cancellation, streams, in-memory databases, read-only files and pool
//! statistics.
//!
//! SQLite only by nature: each test opens its own temp-file database (`common::run_with`,
//! removed afterwards) or an in-memory one. Statements that must take a while are sized
//! at run time (`rows_for`), since debug builds run SQLite unoptimized and machines differ.

#![cfg(feature = "sqlite")]

mod common;

use almacen::prelude::*;
use almacen::{PoolStats, Statement};
use common::Backend;
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Run `body` on a fresh SQLite temp-file database connected with `params`.
async fn on_file<F, Fut>(params: &str, body: F)
where
    F: FnOnce(Database, Backend) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    common::run_with(Backend::Sqlite, params, body).await
}

/// `x` from 1 to `n`, as a recursive CTE.
fn series(n: u64) -> String {
    format!("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT {n}) SELECT x FROM c")
}

/// A read that counts `n` rows (CPU only, no I/O).
fn count_sql(n: u64) -> String {
    format!("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT {n}) SELECT count(*) AS n FROM c")
}

/// A write of `n` rows into `bulk`.
fn bulk_insert_sql(table: &str, n: u64) -> String {
    format!("INSERT INTO {table} (x) SELECT x FROM ({})", series(n))
}

/// A read that never ends by itself.
const ENDLESS_READ: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS n FROM c";

/// How many rows `sql_for(n)` must handle to take at least about `target` here: the fastest
/// of three runs on 200,000 rows, scaled (so a busy machine only makes it longer).
async fn rows_for(db: &Database, target: Duration, sql_for: impl Fn(u64) -> String) -> u64 {
    const PROBE: u64 = 200_000;
    let mut fastest = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        db.execute_statement(Statement::new(sql_for(PROBE), Vec::new()).with_timeout(None)).await.unwrap();
        fastest = fastest.min(started.elapsed());
    }
    let per_row = fastest.as_secs_f64() / PROBE as f64;
    ((target.as_secs_f64() / per_row) as u64).clamp(500_000, 200_000_000)
}

/// Tests that measure how long the runtime stalls, or keep the cores busy for seconds, run
/// one at a time: on a small machine one test's busy threads would show in another's figures.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn count_of(ex: &impl Executor, sql: &str) -> i64 {
    ex.fetch_one_raw(sql, params! {}).await.unwrap().get::<i64>("n").unwrap()
}

async fn ids(ex: &impl Executor, table: &str) -> Vec<i64> {
    let rows = ex.fetch_all_raw(&format!("SELECT id FROM {table} ORDER BY id"), params! {}).await.unwrap();
    rows.iter().map(|r| r.get::<i64>("id").unwrap()).collect()
}

/// Wait (up to `limit`) until every connection is back in the pool; the stats then, and how
/// long it took.
async fn settled_within(db: &Database, limit: Duration) -> (PoolStats, Duration) {
    let started = Instant::now();
    loop {
        let s = db.stats();
        if (s.in_use == 0 && s.idle == s.size) || started.elapsed() > limit {
            return (s, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The database error's SQLite result code, if it is one.
fn code(e: &Error) -> Option<&str> {
    e.db_info().and_then(|i| i.code.as_deref())
}

/// `kv`: 1,000 rows, `v = id * 7`, for primary-key lookups.
async fn create_kv(db: &Database) {
    db.execute_raw("CREATE TABLE kv (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)", params! {}).await.unwrap();
    db.execute_raw(&format!("INSERT INTO kv (id, v) SELECT x, x * 7 FROM ({})", series(1_000)), params! {}).await.unwrap();
}

async fn lookup(db: &Database, id: i64) {
    let v = db.fetch_one_raw("SELECT v FROM kv WHERE id = :id", params! { "id" => id }).await.unwrap().get::<i64>("v").unwrap();
    assert_eq!(v, id * 7);
}

/// One primary-key lookup of the probe: when it ended, how long it took, and the time since
/// the previous one ended (which includes a 1 ms sleep: a stalled runtime shows up here
/// even when the lookup itself is quick).
struct Sample {
    done: Instant,
    latency: Duration,
    gap: Duration,
}

/// Look up keys of `kv` in a loop, 1 ms apart, until `stop`.
fn spawn_lookups(db: Database, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<Sample>> {
    tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut last = Instant::now();
        let mut id = 0i64;
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(1)).await;
            id = id % 1_000 + 1;
            let started = Instant::now();
            lookup(&db, id).await;
            let done = Instant::now();
            samples.push(Sample { done, latency: done - started, gap: done - last });
            last = done;
        }
        samples
    })
}

/// Tick every millisecond until `stop`; the longest time between two ticks (how long the
/// runtime could not run this task).
fn spawn_ticker(stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Duration> {
    tokio::spawn(async move {
        let (mut last, mut max_gap) = (Instant::now(), Duration::ZERO);
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(1)).await;
            max_gap = max_gap.max(last.elapsed());
            last = Instant::now();
        }
        max_gap
    })
}

/// Run `long` statements (each in its own task, all at once) while a probe task looks up
/// keys; check that the lookups went on at their usual pace while every long statement ran.
/// Returns each long statement's rows.
async fn long_statements_leave_the_runtime(db: &Database, label: &str, long: Vec<String>) -> Vec<Vec<almacen::DbRow>> {
    let stop = Arc::new(AtomicBool::new(false));
    let probe = spawn_lookups(db.clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(30)).await;
    let tasks: Vec<_> = long
        .into_iter()
        .map(|sql| {
            let db = db.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let r = db.fetch_rows(Statement::new(sql, Vec::new()).with_timeout(None)).await;
                (started, Instant::now(), r)
            })
        })
        .collect();
    let (mut windows, mut results) = (Vec::new(), Vec::new());
    for task in tasks {
        let (started, ended, r) = task.await.unwrap();
        results.push(r.unwrap());
        windows.push((started, ended));
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    stop.store(true, Ordering::Relaxed);
    let samples = probe.await.unwrap();

    // The time every long statement was running.
    let from = windows.iter().map(|w| w.0).max().unwrap();
    let to = windows.iter().map(|w| w.1).min().unwrap();
    let together = to.saturating_duration_since(from);
    let durations: Vec<Duration> = windows.iter().map(|(s, e)| *e - *s).collect();
    let during: Vec<&Sample> = samples.iter().filter(|s| s.done >= from && s.done <= to).collect();
    let max_latency = samples.iter().map(|s| s.latency).max().unwrap_or_default();
    let max_gap = samples.iter().map(|s| s.gap).max().unwrap_or_default();
    let mut latencies: Vec<Duration> = during.iter().map(|s| s.latency).collect();
    latencies.sort();
    let p99 = latencies.get(latencies.len() * 99 / 100).copied().unwrap_or_default();
    eprintln!(
        "{label}: long statements {durations:?} ({together:?} together); {} lookups meanwhile ({} in all), \
         latency p99 {p99:?} max {max_latency:?}, max gap between lookups {max_gap:?}",
        during.len(),
        samples.len()
    );
    assert!(together >= Duration::from_secs(1), "{label}: the long statements were not long enough to mean anything: {durations:?}");
    assert!(max_latency < Duration::from_millis(250), "{label}: a lookup took {max_latency:?} while a long statement ran");
    assert!(max_gap < Duration::from_millis(250), "{label}: the runtime stalled for {max_gap:?} while a long statement ran");
    assert!(during.len() > 50, "{label}: only {} lookups completed in {together:?} while the long statements ran", during.len());
    results
}

// ---------------------------------------------------------------------------------------
// 1. Long statements do not stall the runtime
// ---------------------------------------------------------------------------------------

/// A ~2 s read (one per worker thread) while lookups run on other readers.
async fn long_reads(db: Database, label: &str, how_many: usize) {
    create_kv(&db).await;
    let n = rows_for(&db, Duration::from_millis(2000), count_sql).await;
    for rows in long_statements_leave_the_runtime(&db, label, vec![count_sql(n); how_many]).await {
        // Run again on a blocking thread, to the end.
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get_as::<i64>(0).unwrap(), n as i64);
    }
}

#[tokio::test]
async fn long_read_does_not_stall_current_thread_runtime() {
    let _one = ONE_AT_A_TIME.lock().await;
    on_file("", |db, _| long_reads(db, "read, current-thread", 1)).await
}

/// Two long reads: with both worker threads stuck in SQLite, nothing else could run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_reads_do_not_stall_multi_thread_runtime() {
    let _one = ONE_AT_A_TIME.lock().await;
    on_file("", |db, _| long_reads(db, "2 reads, multi-thread", 2)).await
}

/// A write of a few million rows outside a transaction (on the writer; stopped soon after it
/// starts in place, undone, and run again on a blocking thread) while lookups run on the readers. On the
/// multi-thread runtime a long read runs beside it, so both workers would be stuck.
async fn long_write(db: Database, label: &str, with_read: bool) {
    create_kv(&db).await;
    db.execute_raw("CREATE TABLE bulk (x INTEGER NOT NULL)", params! {}).await.unwrap();
    db.execute_raw("CREATE TABLE probe (x INTEGER NOT NULL)", params! {}).await.unwrap();
    let n = rows_for(&db, Duration::from_millis(2000), |n| bulk_insert_sql("probe", n)).await;
    db.execute_raw("DROP TABLE probe", params! {}).await.unwrap();
    let mut long = vec![bulk_insert_sql("bulk", n)];
    if with_read {
        long.push(count_sql(rows_for(&db, Duration::from_millis(2000), count_sql).await));
    }
    long_statements_leave_the_runtime(&db, label, long).await;
    // Exactly `n` rows: the attempt stopped on the async thread left nothing behind.
    assert_eq!(count_of(&db, "SELECT count(*) AS n FROM bulk").await, n as i64);
}

#[tokio::test]
async fn long_write_does_not_stall_current_thread_runtime() {
    let _one = ONE_AT_A_TIME.lock().await;
    on_file("", |db, _| long_write(db, "write, current-thread", false)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_write_does_not_stall_multi_thread_runtime() {
    let _one = ONE_AT_A_TIME.lock().await;
    on_file("", |db, _| long_write(db, "write + read, multi-thread", true)).await
}

/// A write inside a transaction cannot be stopped and started again (SQLite would roll the
/// whole transaction back), so a write whose SQL text has not run here yet starts on a
/// blocking thread; a long one is remembered as such, so its next run starts there too.
/// Neither run holds the runtime. (The write here spends its time computing, not writing
/// pages, so its COMMIT is quick.)
async fn slow_write_in_transaction(db: Database, _b: Backend) {
    db.execute_raw("CREATE TABLE counter (n INTEGER NOT NULL)", params! {}).await.unwrap();
    db.execute_raw("INSERT INTO counter (n) VALUES (0)", params! {}).await.unwrap();
    let mut n = rows_for(&db, Duration::from_millis(500), count_sql).await;
    // The calibration runs on a machine whose load changes: when the second run came out too
    // short to tell anything, try again with more work (a fresh SQL text, so it starts in
    // place once more).
    for attempt in 1..=4 {
        db.execute_raw("UPDATE counter SET n = 0", params! {}).await.unwrap();
        let update = format!("UPDATE counter SET n = n + ({})", count_sql(n));
        let mut runs = Vec::new();
        for _ in 0..2 {
            let stop = Arc::new(AtomicBool::new(false));
            let ticker = spawn_ticker(stop.clone());
            tokio::time::sleep(Duration::from_millis(20)).await;
            let started = Instant::now();
            db.transaction(async |tx| tx.execute_raw(&update, params! {}).await).await.unwrap();
            let took = started.elapsed();
            tokio::time::sleep(Duration::from_millis(20)).await;
            stop.store(true, Ordering::Relaxed);
            runs.push((took, ticker.await.unwrap()));
        }
        eprintln!("slow UPDATE in a transaction, (duration, longest runtime stall): first {:?}, second {:?}", runs[0], runs[1]);
        assert_eq!(count_of(&db, "SELECT n FROM counter").await, 2 * n as i64);
        let shortest = runs[0].0.min(runs[1].0);
        if shortest < Duration::from_millis(300) && attempt < 4 {
            n *= 2;
            continue;
        }
        assert!(shortest >= Duration::from_millis(300), "the update was not long enough to mean anything: {runs:?}");
        for (run, (took, stall)) in ["first", "second"].into_iter().zip(runs) {
            assert!(stall < Duration::from_millis(150), "the {run} run ({took:?}) stalled the runtime for {stall:?}");
        }
        return;
    }
}

#[tokio::test]
async fn slow_write_in_a_transaction_leaves_the_runtime() {
    let _one = ONE_AT_A_TIME.lock().await;
    on_file("", slow_write_in_transaction).await
}

/// The timer-lag probe's sleep.
const TICK: Duration = Duration::from_millis(10);

/// Run `phase` while another task sleeps `TICK` in a loop: what it returned, how long it
/// took, and how late the sleeper woke at worst (how long the runtime was held).
async fn beside_a_timer<T>(phase: impl std::future::Future<Output = T>) -> (T, Duration, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let probe = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                let due = Instant::now() + TICK;
                tokio::time::sleep(TICK).await;
                worst = worst.max(Instant::now().saturating_duration_since(due));
            }
            worst
        })
    };
    tokio::time::sleep(3 * TICK).await;
    let started = Instant::now();
    let out = phase.await;
    let took = started.elapsed();
    tokio::time::sleep(3 * TICK).await;
    stop.store(true, Ordering::Relaxed);
    (out, took, probe.await.unwrap())
}

/// What the runtime may be held for at worst beside a statement that runs for seconds (a
/// hand-off to a blocking thread, a busy machine); far below what running it in place costs.
const HELD_AT_MOST: Duration = Duration::from_millis(200);

fn sum_to(n: u64) -> i64 {
    (n * (n + 1) / 2) as i64
}

/// Long writes inside transactions (a few million rows in one INSERT … SELECT, a new SQL
/// text each time) run off the runtime, and so do the COMMIT and ROLLBACK of the large
/// transactions they make (to a savepoint, too, and a transaction dropped unfinished);
/// what they commit is all there and what they roll back is all gone.
async fn long_writes_in_transactions(db: Database, _b: Backend) {
    db.execute_raw("CREATE TABLE bulk (x INTEGER NOT NULL)", params! {}).await.unwrap();
    db.execute_raw("CREATE TABLE probe (x INTEGER NOT NULL)", params! {}).await.unwrap();
    let n = rows_for(&db, Duration::from_millis(2000), |n| bulk_insert_sql("probe", n)).await;
    db.execute_raw("DROP TABLE probe", params! {}).await.unwrap();
    let write = |rows: u64| Statement::new(bulk_insert_sql("bulk", rows), Vec::new()).with_timeout(None);
    let check = |what: &str, took: Duration, held: Duration| {
        eprintln!("{what}: took {took:?}, runtime held at most {held:?}");
        assert!(held < HELD_AT_MOST, "{what} ({took:?}) held the runtime for {held:?}");
    };

    // Committed.
    let tx = db.begin().await.unwrap();
    let (done, took, held) = beside_a_timer(tx.execute_statement(write(n))).await;
    assert_eq!(done.unwrap().rows_affected, n);
    assert!(took >= Duration::from_secs(1), "the write was not long enough to mean anything: {took:?}");
    check("a long write's first run in a transaction", took, held);
    let (done, took, held) = beside_a_timer(tx.commit()).await;
    done.unwrap();
    check("the COMMIT of its transaction", took, held);
    assert_eq!(count_of(&db, "SELECT count(*) AS n FROM bulk").await, n as i64);
    assert_eq!(count_of(&db, "SELECT sum(x) AS n FROM bulk").await, sum_to(n));

    // Rolled back (through the closure's error), with a write of a new text.
    let (done, took, held) = beside_a_timer(db.transaction(async |tx| {
        tx.execute_statement(write(n + 1)).await?;
        Err::<(), _>(Error::NotFound)
    }))
    .await;
    assert!(matches!(done, Err(Error::NotFound)), "{done:?}");
    check("a long write and the ROLLBACK of its transaction", took, held);
    assert_eq!(count_of(&db, "SELECT count(*) AS n FROM bulk").await, n as i64, "a rolled-back row was kept");

    // A savepoint rolled back after a long write in it, inside a transaction that goes on.
    let (done, took, held) = beside_a_timer(db.transaction(async |tx| {
        tx.execute_raw("INSERT INTO bulk (x) VALUES (-1)", params! {}).await?;
        let inner = tx
            .transaction(async |sp| {
                sp.execute_statement(write(n + 2)).await?;
                Err::<(), _>(Error::NotFound)
            })
            .await;
        assert!(matches!(inner, Err(Error::NotFound)), "{inner:?}");
        tx.execute_raw("INSERT INTO bulk (x) VALUES (-2)", params! {}).await
    }))
    .await;
    done.unwrap();
    check("a long write in a savepoint, its ROLLBACK TO and the COMMIT", took, held);
    assert_eq!(count_of(&db, "SELECT count(*) AS n FROM bulk").await, n as i64 + 2);
    assert_eq!(count_of(&db, "SELECT sum(x) AS n FROM bulk").await, sum_to(n) - 3);

    // Dropped unfinished: rolled back (on a blocking thread), and the writer comes back.
    let tx = db.begin().await.unwrap();
    tx.execute_statement(write(n + 3)).await.unwrap();
    let ((), took, held) = beside_a_timer(async {
        drop(tx);
        let (s, _) = settled_within(&db, Duration::from_secs(30)).await;
        assert_eq!((s.in_use, s.idle), (0, s.size), "the dropped transaction's connection never came back: {s:?}");
    })
    .await;
    check("a large transaction dropped unfinished", took, held);
    assert_eq!(count_of(&db, "SELECT count(*) AS n FROM bulk").await, n as i64 + 2, "a dropped transaction's row was kept");
    db.execute_raw("INSERT INTO bulk (x) VALUES (0)", params! {}).await.unwrap();
}

#[tokio::test]
async fn long_writes_in_transactions_do_not_stall_current_thread_runtime() {
    let _one = ONE_AT_A_TIME.lock().await;
    on_file("", long_writes_in_transactions).await
}

/// A transaction of many short writes (each runs in place), large enough that its COMMIT
/// (writing what is left in the cache, then checkpointing the WAL it grew) takes a while:
/// the COMMIT runs off the runtime, and every row is there afterwards.
async fn large_commit(db: Database, _b: Backend) {
    db.execute_raw("CREATE TABLE wide (id INTEGER PRIMARY KEY, pad BLOB NOT NULL)", params! {}).await.unwrap();
    // 100 rows of a page each per statement.
    let fill = format!("INSERT INTO wide (id, pad) SELECT x + :base, zeroblob(3900) FROM ({})", series(100));
    let (mut statements, mut rows) = (250u64, 0u64);
    // The commit's duration depends on the disk: when it came out too short to tell
    // anything, try again with a larger transaction.
    for attempt in 1..=4 {
        let tx = db.begin().await.unwrap();
        let started = Instant::now();
        for i in 0..statements {
            let base = (rows + i * 100) as i64;
            tx.execute_raw(&fill, params! { "base" => base }).await.unwrap();
            // The statements complete in place: let the rest of the runtime in between.
            tokio::task::yield_now().await;
        }
        let filled = started.elapsed();
        let (done, took, held) = beside_a_timer(tx.commit()).await;
        done.unwrap();
        rows += statements * 100;
        eprintln!(
            "COMMIT of {statements} statements × 100 rows of 4 KB (filled in {filled:?}): took {took:?}, runtime held at most {held:?}"
        );
        assert_eq!(count_of(&db, "SELECT count(*) AS n FROM wide").await, rows as i64);
        assert_eq!(count_of(&db, "SELECT sum(id) AS n FROM wide").await, sum_to(rows));
        if took < Duration::from_millis(500) && attempt < 4 {
            statements *= 2;
            continue;
        }
        assert!(took >= Duration::from_millis(500), "the COMMIT was not long enough to mean anything: {took:?}");
        assert!(held < HELD_AT_MOST, "the COMMIT ({took:?}) held the runtime for {held:?}");
        return;
    }
}

#[tokio::test]
async fn commit_of_a_large_transaction_does_not_stall_current_thread_runtime() {
    let _one = ONE_AT_A_TIME.lock().await;
    on_file("", large_commit).await
}

/// Commits in place leave the WAL checkpoint (due every 1,000 frames, as SQLite's own
/// auto-checkpoint) to a blocking thread as the writer goes back to the pool: it still
/// happens, so the WAL stays small however many commits there are, and every row is there.
async fn wal_checkpoints(db: Database, _b: Backend) {
    db.execute_raw("CREATE TABLE pages (id INTEGER PRIMARY KEY, pad BLOB NOT NULL)", params! {}).await.unwrap();
    let wal = format!("{}-wal", db.options().driver_url().strip_prefix("sqlite://").unwrap());
    // Each commit writes a page of its own, and the tree's pages above it.
    const COMMITS: i64 = 3_000;
    let ((), took, held) = beside_a_timer(async {
        for id in 1..=COMMITS {
            db.execute_raw("INSERT INTO pages (id, pad) VALUES (:id, zeroblob(3900))", params! { "id" => id }).await.unwrap();
        }
    })
    .await;
    let frames = std::fs::metadata(&wal).unwrap().len() / 4_096;
    eprintln!("{COMMITS} commits of a page: took {took:?}, runtime held at most {held:?}; WAL {frames} frames");
    assert!(frames < 2_000, "the WAL grew to {frames} frames over {COMMITS} commits: it was not checkpointed");
    assert_eq!(count_of(&db, "SELECT count(*) AS n FROM pages").await, COMMITS);
    // SQLite's auto-checkpoint is replaced: the pragma shows none (setting it would put
    // SQLite's back, checkpointing where the commit runs).
    let pragma = db.fetch_one_raw("PRAGMA wal_autocheckpoint", params! {}).await.unwrap();
    assert_eq!(pragma.get::<i64>("wal_autocheckpoint").unwrap(), 0);
}

#[tokio::test]
async fn wal_is_checkpointed_off_the_runtime() {
    let _one = ONE_AT_A_TIME.lock().await;
    on_file("", wal_checkpoints).await
}

/// Rows of a scan: the first and the last match, everything between is work.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "scan_rows")]
struct ScanRow {
    #[model(primary_key)]
    id: i64,
    x: i64,
}

/// A typed fetch decodes SQLite's rows in place as they are stepped. When the statement
/// then runs past its in-place budget and is run again on a blocking thread, the rows
/// decoded before the stop are not handed twice.
async fn typed_fetch_moved_off_the_runtime(db: Database, _b: Backend) {
    db.create_tables(&[ScanRow::TABLE]).await.unwrap();
    let n = rows_for(&db, Duration::from_millis(200), count_sql).await.max(300_000);
    let fill = format!("INSERT INTO scan_rows (id, x) SELECT x, x FROM ({})", series(n));
    db.execute_statement(Statement::new(fill, Vec::new()).with_timeout(None)).await.unwrap();
    let ends = ScanRow::X.eq(1).or(ScanRow::X.eq(n as i64));
    let rows = ScanRow::select().filter(ends.clone()).fetch_all(&db).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.x).collect::<Vec<_>>(), [1, n as i64], "each row once");
    // The first match of a scan that then runs long, alone.
    let first = ScanRow::select().filter(ends).order_by(ScanRow::ID.desc()).fetch_optional(&db).await.unwrap();
    assert_eq!(first.map(|r| r.x), Some(n as i64));
}

#[tokio::test]
async fn a_typed_fetch_moved_off_the_runtime_returns_each_row_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    on_file("", typed_fetch_moved_off_the_runtime).await
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "loaded_rows")]
struct LoadedRow {
    #[model(primary_key, auto)]
    id: i64,
    name: String,
    x: i64,
}

fn loaded_rows(from: usize, n: usize) -> Vec<NewLoadedRow> {
    (from..from + n).map(|i| NewLoadedRow { name: format!("row {i}"), x: i as i64 }).collect()
}

/// `insert_many` cuts a large batch into chunks that each run in place: the task yields
/// between them, so a batch of seconds never holds the runtime, with the rows back or
/// without; every row is stored, and returned once, in order.
async fn large_insert_many(db: Database, _b: Backend) {
    db.create_tables(&[LoadedRow::TABLE]).await.unwrap();
    // Sized so each batch takes about a second on this machine and build.
    let probe = 20_000;
    let started = Instant::now();
    LoadedRow::insert_many_without_returning(&db, loaded_rows(0, probe)).await.unwrap();
    let n = ((1.0 / started.elapsed().as_secs_f64()) * probe as f64).clamp(50_000.0, 2_000_000.0) as usize;

    let (stored, took, held) = beside_a_timer(LoadedRow::insert_many(&db, loaded_rows(probe, n))).await;
    let stored = stored.unwrap();
    eprintln!("insert_many of {n} rows: took {took:?}, runtime held at most {held:?}");
    assert_eq!(stored.len(), n);
    assert!(stored.iter().enumerate().all(|(k, r)| r.x == (probe + k) as i64 && r.name == format!("row {}", probe + k)));
    assert!(took >= Duration::from_millis(300), "the batch was not long enough to mean anything: {took:?}");
    assert!(held < HELD_AT_MOST, "insert_many ({took:?}) held the runtime for {held:?}");

    let (count, took, held) = beside_a_timer(LoadedRow::insert_many_without_returning(&db, loaded_rows(probe + n, n))).await;
    eprintln!("insert_many_without_returning of {n} rows: took {took:?}, runtime held at most {held:?}");
    assert_eq!(count.unwrap(), n as u64);
    assert!(held < HELD_AT_MOST, "insert_many_without_returning ({took:?}) held the runtime for {held:?}");
    let total = (probe + 2 * n) as u64;
    assert_eq!(count_of(&db, "SELECT count(*) AS n FROM loaded_rows").await, total as i64);
    assert_eq!(count_of(&db, "SELECT sum(x) AS n FROM loaded_rows").await, sum_to(total - 1));
}

#[tokio::test]
async fn a_large_insert_many_does_not_stall_current_thread_runtime() {
    let _one = ONE_AT_A_TIME.lock().await;
    on_file("", large_insert_many).await
}

// ---------------------------------------------------------------------------------------
// 2. Writers do not fight
// ---------------------------------------------------------------------------------------

/// 32 tasks × 50 writes (single inserts, updates, and transactions that read a shared counter,
/// insert, update and write the counter back) on a pool of 8: no error at all (SQLite's
/// "database is locked" would be `Error::Deadlock`), no lost insert or update, and each task
/// then reads its own writes from a reader.
async fn writers_do_not_fight(db: Database, _b: Backend) {
    db.execute_raw(
        "CREATE TABLE w (id INTEGER PRIMARY KEY, task INTEGER NOT NULL, seq INTEGER NOT NULL, hits INTEGER NOT NULL DEFAULT 0, UNIQUE (task, seq))",
        params! {},
    )
    .await
    .unwrap();
    db.execute_raw("CREATE TABLE total (n INTEGER NOT NULL)", params! {}).await.unwrap();
    db.execute_raw("INSERT INTO total (n) VALUES (0)", params! {}).await.unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..32i64)
        .map(|task| {
            let db = db.clone();
            tokio::spawn(async move {
                let (mut inserted, mut bumped, mut errors) = (0u64, 0u64, Vec::new());
                for seq in 0..50i64 {
                    // Writers that fought would wait in SQLite's busy handler: give up in time.
                    if started.elapsed() > Duration::from_secs(20) {
                        errors.push(format!("task {task}: gave up after 20 s at op {seq}"));
                        break;
                    }
                    let p = || params! { "t" => task, "s" => seq };
                    let r = match seq % 3 {
                        0 => db.execute_raw("INSERT INTO w (task, seq) VALUES (:t, :s)", p()).await.map(|n| inserted += n),
                        1 => db.execute_raw("UPDATE w SET hits = hits + 1 WHERE task = :t AND seq < :s", p()).await.map(|n| bumped += n),
                        _ => db
                            .transaction(async |tx| {
                                // Read first: a transaction that had not taken the write lock at
                                // BEGIN could not write after another writer's commit.
                                let total = tx.fetch_one_raw("SELECT n FROM total", params! {}).await?.get::<i64>("n")?;
                                let a = tx.execute_raw("INSERT INTO w (task, seq) VALUES (:t, :s)", p()).await?;
                                let b = tx.execute_raw("UPDATE w SET hits = hits + 1 WHERE task = :t AND seq = :s", p()).await?;
                                tx.execute_raw("UPDATE total SET n = :n", params! { "n" => total + 1 }).await?;
                                Ok((a, b))
                            })
                            .await
                            .map(|(a, b)| {
                                inserted += a;
                                bumped += b;
                            }),
                    };
                    if let Err(e) = r {
                        errors.push(format!("task {task} op {seq}: {e:?}"));
                    }
                }
                let mine = db.fetch_one_raw("SELECT count(*) AS n FROM w WHERE task = :t", params! { "t" => task }).await;
                (inserted, bumped, errors, mine.map(|r| r.get::<i64>("n").unwrap()))
            })
        })
        .collect();
    let (mut inserted, mut bumped, mut errors) = (0u64, 0u64, Vec::new());
    for t in tasks {
        let (i, b, e, mine) = t.await.unwrap();
        assert_eq!(mine.unwrap(), i as i64, "a task does not see its own committed inserts");
        inserted += i;
        bumped += b;
        errors.extend(e);
    }
    let elapsed = started.elapsed();
    eprintln!("32 × 50 writes: {elapsed:?}, {inserted} inserts, {bumped} rows bumped, {} errors", errors.len());
    assert!(errors.is_empty(), "{} writes failed, e.g. {:?}", errors.len(), &errors[..errors.len().min(3)]);
    assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
    // 17 single inserts (seq % 3 == 0) and 16 in transactions (seq % 3 == 2) per task.
    assert_eq!(inserted, 32 * 33);
    assert_eq!(count_of(&db, "SELECT count(*) AS n FROM w").await, inserted as i64);
    assert_eq!(count_of(&db, "SELECT sum(hits) AS n FROM w").await, bumped as i64, "an update was lost");
    assert_eq!(count_of(&db, "SELECT n FROM total").await, 32 * 16, "a read-modify-write in a transaction was lost");
    let (s, _) = settled_within(&db, Duration::from_secs(3)).await;
    assert_eq!((s.in_use, s.waiting), (0, 0), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_do_not_fight() {
    let _one = ONE_AT_A_TIME.lock().await;
    on_file("max_connections=8", writers_do_not_fight).await
}

/// A read-write transaction takes SQLite's write lock at BEGIN (`BEGIN IMMEDIATE`), so it
/// cannot fail later upgrading a read lock when another connection (a second pool, another
/// process) wrote meanwhile; a read-only transaction takes no write lock.
async fn write_lock_at_begin(db: Database, _b: Backend) {
    db.execute_raw("CREATE TABLE t (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
    let path = db.options().driver_url().strip_prefix("sqlite://").unwrap().to_string();
    // Another connection to the file, which does not wait for locks.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.busy_timeout(Duration::ZERO).unwrap();
    let other_writes = || other.execute_batch("BEGIN IMMEDIATE; INSERT INTO t (id) VALUES (NULL); COMMIT");
    other_writes().unwrap();

    let tx = db.begin().await.unwrap();
    match other_writes() {
        Err(rusqlite::Error::SqliteFailure(e, _)) => assert_eq!(e.code, rusqlite::ErrorCode::DatabaseBusy, "{e:?}"),
        other => panic!("another connection wrote while a transaction was open that had not written yet: {other:?}"),
    }
    tx.execute_raw("INSERT INTO t (id) VALUES (100)", params! {}).await.unwrap();
    tx.commit().await.unwrap();
    other_writes().unwrap();

    let ro = db.begin_with(TxOptions::new().read_only(true)).await.unwrap();
    assert_eq!(count_of(&ro, "SELECT count(*) AS n FROM t").await, 3);
    other_writes().expect("a read-only transaction holds the write lock");
    // It reads the snapshot it started with.
    assert_eq!(count_of(&ro, "SELECT count(*) AS n FROM t").await, 3);
    ro.commit().await.unwrap();
    assert_eq!(count_of(&db, "SELECT count(*) AS n FROM t").await, 4);
}

#[tokio::test]
async fn write_transactions_take_the_write_lock_at_begin() {
    on_file("", write_lock_at_begin).await
}

// ---------------------------------------------------------------------------------------
// 3. Reads are not blocked by a write transaction
// ---------------------------------------------------------------------------------------

async fn reads_beside_a_write_transaction(db: Database, _b: Backend) {
    db.execute_raw("CREATE TABLE t (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
    db.execute_raw("INSERT INTO t (id) VALUES (1)", params! {}).await.unwrap();
    let tx = db.begin().await.unwrap();
    tx.execute_raw("INSERT INTO t (id) VALUES (2)", params! {}).await.unwrap();
    assert_eq!(ids(&tx, "t").await, [1, 2]);

    // A read outside runs on a reader at once and sees the last committed state.
    let started = Instant::now();
    let outside = tokio::time::timeout(Duration::from_secs(2), db.fetch_all_raw("SELECT id FROM t ORDER BY id", params! {}))
        .await
        .expect("a read outside waited for the write transaction")
        .unwrap();
    let took = started.elapsed();
    eprintln!("read beside an open write transaction: {took:?}");
    assert!(took < Duration::from_millis(200), "{took:?}");
    let outside: Vec<i64> = outside.iter().map(|r| r.get::<i64>("id").unwrap()).collect();
    assert_eq!(outside, [1], "a read outside sees the uncommitted row");
    // So does a read-only transaction.
    let ro = db.begin_with(TxOptions::new().read_only(true)).await.unwrap();
    assert_eq!(ids(&ro, "t").await, [1]);

    // A write outside queues for the writer (no "database is locked") and runs after the commit.
    let writer = {
        let db = db.clone();
        tokio::spawn(async move { db.execute_raw("INSERT INTO t (id) VALUES (3)", params! {}).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!writer.is_finished(), "a write outside ran while the transaction held the writer");
    tx.commit().await.unwrap();
    assert_eq!(tokio::time::timeout(Duration::from_secs(2), writer).await.expect("the queued write never ran").unwrap().unwrap(), 1);
    assert_eq!(ids(&db, "t").await, [1, 2, 3]);
    // The read-only transaction keeps its snapshot.
    assert_eq!(ids(&ro, "t").await, [1]);
    ro.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_not_blocked_by_a_write_transaction() {
    on_file("", reads_beside_a_write_transaction).await
}

/// In memory there is one connection: a statement outside waits for the transaction, then
/// runs after the commit and sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_statement_waits_for_the_transaction() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    db.execute_raw("CREATE TABLE t (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
    db.execute_raw("INSERT INTO t (id) VALUES (1)", params! {}).await.unwrap();
    let tx = db.begin().await.unwrap();
    tx.execute_raw("INSERT INTO t (id) VALUES (2)", params! {}).await.unwrap();
    let reader = {
        let db = db.clone();
        tokio::spawn(async move { ids(&db, "t").await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!reader.is_finished(), "a statement ran beside the transaction on the only connection");
    let s = db.stats();
    assert_eq!((s.size, s.in_use, s.waiting), (1, 1, 1), "{s:?}");
    tx.commit().await.unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(2), reader).await.expect("the waiting statement never ran").unwrap();
    assert_eq!(seen, [1, 2]);
    db.close().await;
}

// ---------------------------------------------------------------------------------------
// 4. WITH … DELETE / UPDATE / INSERT outside a transaction
// ---------------------------------------------------------------------------------------

/// They start like reads and go to a reader, which refuses them; they run again on the writer.
async fn with_writes(db: Database, _b: Backend) {
    db.execute_raw("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)", params! {}).await.unwrap();
    db.execute_raw(&format!("INSERT INTO t (id, v) SELECT x, 0 FROM ({})", series(10)), params! {}).await.unwrap();

    let n = db
        .execute_raw("WITH doomed AS (SELECT id FROM t WHERE id % 2 = 0) DELETE FROM t WHERE id IN (SELECT id FROM doomed)", params! {})
        .await
        .unwrap();
    assert_eq!(n, 5);
    assert_eq!(ids(&db, "t").await, [1, 3, 5, 7, 9]);

    let rows = db
        .fetch_all_raw(
            "WITH big AS (SELECT id FROM t WHERE id > :min) UPDATE t SET v = v + 100 WHERE id IN (SELECT id FROM big) RETURNING id, v",
            params! { "min" => 4 },
        )
        .await
        .unwrap();
    let mut bumped: Vec<(i64, i64)> = rows.iter().map(|r| (r.get::<i64>("id").unwrap(), r.get::<i64>("v").unwrap())).collect();
    bumped.sort();
    assert_eq!(bumped, [(5, 100), (7, 100), (9, 100)]);

    let n = db
        .execute_raw(
            "WITH RECURSIVE c(x) AS (SELECT 20 UNION ALL SELECT x + 1 FROM c LIMIT 3) INSERT INTO t (id, v) SELECT x, 1 FROM c",
            params! {},
        )
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(count_of(&db, "SELECT sum(v) AS n FROM t").await, 303);
    assert_eq!(ids(&db, "t").await, [1, 3, 5, 7, 9, 20, 21, 22]);

    // A WITH that only reads still runs on a `query_only` reader.
    assert_eq!(count_of(&db, "WITH q AS (SELECT query_only AS n FROM pragma_query_only()) SELECT n FROM q").await, 1);
    let (s, _) = settled_within(&db, Duration::from_secs(3)).await;
    assert_eq!(s.in_use, 0, "{s:?}");
}

#[tokio::test]
async fn with_writes_outside_a_transaction_run_on_the_writer() {
    on_file("", with_writes).await
}

// ---------------------------------------------------------------------------------------
// 5. Connection settings
// ---------------------------------------------------------------------------------------

/// Another connection to `path` takes the write lock (`BEGIN IMMEDIATE`) on its own thread;
/// `locked` resolves once it holds it; it commits when `release` is sent or dropped.
fn hold_write_lock(path: &str) -> (tokio::sync::oneshot::Receiver<()>, std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (locked_tx, locked) = tokio::sync::oneshot::channel();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    let path = path.to_string();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        let _ = locked_tx.send(());
        let _ = release_rx.recv_timeout(Duration::from_secs(15));
        conn.execute_batch("COMMIT").unwrap();
    });
    (locked, release, holder)
}

/// Files are in WAL mode with `synchronous = NORMAL` and foreign keys on, on the writer and
/// on the `query_only` readers; a write waits up to 5 s for a lock another connection holds
/// (checked by behaviour: `PRAGMA busy_timeout` does not show a busy handler's timeout).
async fn file_settings(db: Database, _b: Backend) {
    // PRAGMA statements run on the writer.
    let one = async |sql: &str, col: &str| db.fetch_one_raw(sql, params! {}).await.unwrap().value(col).cloned().unwrap();
    assert_eq!(one("PRAGMA journal_mode", "journal_mode").await, Value::from("wal"));
    assert_eq!(one("PRAGMA synchronous", "synchronous").await, Value::Int(1), "synchronous = NORMAL");
    assert_eq!(one("PRAGMA foreign_keys", "foreign_keys").await, Value::Int(1));
    assert_eq!(one("PRAGMA query_only", "query_only").await, Value::Int(0), "the writer is query_only too");
    // SELECTs run on a reader: the same settings, plus query_only.
    assert_eq!(one("SELECT journal_mode FROM pragma_journal_mode()", "journal_mode").await, Value::from("wal"));
    assert_eq!(one("SELECT synchronous FROM pragma_synchronous()", "synchronous").await, Value::Int(1));
    assert_eq!(one("SELECT foreign_keys FROM pragma_foreign_keys()", "foreign_keys").await, Value::Int(1));
    assert_eq!(one("SELECT query_only FROM pragma_query_only()", "query_only").await, Value::Int(1));
    // A read-only transaction is on a reader too; a read-write one on the writer.
    let ro = db.begin_with(TxOptions::new().read_only(true)).await.unwrap();
    assert_eq!(count_of(&ro, "SELECT query_only AS n FROM pragma_query_only()").await, 1);
    ro.commit().await.unwrap();
    let rw = db.begin().await.unwrap();
    assert_eq!(count_of(&rw, "SELECT query_only AS n FROM pragma_query_only()").await, 0);
    rw.commit().await.unwrap();

    // The busy timeout: a write waits for a lock held elsewhere for 300 ms, then runs...
    db.execute_raw("CREATE TABLE t (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
    let path = db.options().driver_url().strip_prefix("sqlite://").unwrap().to_string();
    let (locked, release, holder) = hold_write_lock(&path);
    locked.await.unwrap();
    let releaser = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(release);
    });
    let started = Instant::now();
    db.execute_raw("INSERT INTO t (id) VALUES (1)", params! {}).await.unwrap();
    let waited = started.elapsed();
    releaser.await.unwrap();
    tokio::task::spawn_blocking(move || holder.join().unwrap()).await.unwrap();
    assert!(waited >= Duration::from_millis(200), "the write did not wait for the lock: {waited:?}");
    // ...and gives up after about 5 s when the lock stays held.
    let (locked, release, holder) = hold_write_lock(&path);
    locked.await.unwrap();
    let started = Instant::now();
    let r = db.execute_raw("INSERT INTO t (id) VALUES (2)", params! {}).await;
    let gave_up = started.elapsed();
    drop(release);
    tokio::task::spawn_blocking(move || holder.join().unwrap()).await.unwrap();
    eprintln!("write behind another connection's lock: waited {waited:?} for a 300 ms lock; gave up after {gave_up:?}");
    assert!(matches!(r, Err(Error::Deadlock(_))), "{r:?}");
    assert!(gave_up >= Duration::from_secs(4) && gave_up < Duration::from_secs(8), "busy timeout of about 5 s: {gave_up:?}");
    assert_eq!(ids(&db, "t").await, [1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_databases_use_wal_and_wait_for_locks() {
    on_file("", file_settings).await
}

// ---------------------------------------------------------------------------------------
// 6. A statement timeout after a write ends the transaction
// ---------------------------------------------------------------------------------------

/// An endless write stopped by its timeout inside a transaction makes SQLite roll the whole
/// transaction back: what follows must fail, not run in autocommit, and nothing is kept.
/// A read stopped by its timeout leaves the transaction as it was.
async fn timeout_in_transaction(db: Database, _b: Backend) {
    db.execute_raw("CREATE TABLE t (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
    let endless_write =
        "INSERT INTO t (id) SELECT x + 1000 FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c)";

    let tx = db.begin().await.unwrap();
    tx.execute_raw("INSERT INTO t (id) VALUES (1)", params! {}).await.unwrap();
    let started = Instant::now();
    let r = tx.execute_statement(Statement::new(endless_write, Vec::new()).with_timeout(Some(Duration::from_millis(200)))).await;
    let elapsed = started.elapsed();
    assert!(matches!(r, Err(Error::StatementTimeout(_))), "after {elapsed:?}: {r:?}");
    assert!(elapsed >= Duration::from_millis(150) && elapsed < Duration::from_secs(3), "{elapsed:?}");

    let rolled_back = |what: &str, r: Result<(), Error>| match r {
        Err(e) => assert!(e.to_string().contains("rolled the transaction back"), "{what}: {e}"),
        Ok(()) => panic!("{what} succeeded after SQLite rolled the transaction back"),
    };
    rolled_back("an insert", tx.execute_raw("INSERT INTO t (id) VALUES (2)", params! {}).await.map(drop));
    rolled_back("a select", tx.fetch_all_raw("SELECT id FROM t", params! {}).await.map(drop));
    rolled_back("the commit", tx.commit().await);
    assert_eq!(ids(&db, "t").await, Vec::<i64>::new(), "a row of the rolled-back transaction was kept");

    // The database is fine afterwards.
    db.execute_raw("INSERT INTO t (id) VALUES (3)", params! {}).await.unwrap();
    db.transaction(async |tx| tx.execute_raw("INSERT INTO t (id) VALUES (4)", params! {}).await).await.unwrap();
    assert_eq!(ids(&db, "t").await, [3, 4]);

    // A read stopped by its timeout does not end the transaction.
    let tx = db.begin().await.unwrap();
    tx.execute_raw("INSERT INTO t (id) VALUES (5)", params! {}).await.unwrap();
    let r = tx.fetch_rows(Statement::new(ENDLESS_READ, Vec::new()).with_timeout(Some(Duration::from_millis(200)))).await;
    assert!(matches!(r, Err(Error::StatementTimeout(_))), "{r:?}");
    tx.execute_raw("INSERT INTO t (id) VALUES (6)", params! {}).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(ids(&db, "t").await, [3, 4, 5, 6]);
}

#[tokio::test]
async fn statement_timeout_after_a_write_ends_the_transaction() {
    on_file("", timeout_in_transaction).await
}

// ---------------------------------------------------------------------------------------
// 7. Cancellation
// ---------------------------------------------------------------------------------------

/// After a row is committed, every read on the pool (one reader here) sees it: a reader left
/// inside an old read transaction would not.
async fn readers_see_new_writes(db: &Database, id: i64) {
    db.execute_raw("INSERT INTO t (id) VALUES (:id)", params! { "id" => id }).await.unwrap();
    for _ in 0..3 {
        assert!(ids(db, "t").await.contains(&id), "a reader does not see row {id}: stale snapshot");
    }
}

/// A long read on the pool's one reader, cancelled at 50 ms: it had left the async thread (so
/// the timeout could fire on time), it goes on until it ends on its blocking thread (it is
/// not interrupted: see `cancelled_endless_read_is_interrupted`), then the connection is back
/// and works.
async fn cancelled_read(db: Database, _b: Backend) {
    db.execute_raw("CREATE TABLE t (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
    let n = rows_for(&db, Duration::from_millis(800), count_sql).await;
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_millis(50), db.fetch_rows(Statement::new(count_sql(n), Vec::new()))).await;
    let cancelled_after = started.elapsed();
    assert!(r.is_err(), "the long read finished within 50 ms: {n} rows are not enough");
    assert!(
        cancelled_after < Duration::from_millis(250),
        "the 50 ms timeout fired only after {cancelled_after:?}: the read held the runtime"
    );
    let held = db.stats();
    let (s, back_after) = settled_within(&db, Duration::from_secs(10)).await;
    eprintln!("cancelled read ({n} rows): cancelled after {cancelled_after:?}, {held:?} then; connection back after {back_after:?}");
    assert_eq!((s.in_use, s.idle), (0, s.size), "the cancelled read's connection never came back: {s:?}");
    assert_eq!(count_of(&db, "SELECT count(*) AS n FROM t").await, 0);
    readers_see_new_writes(&db, 1).await;
}

#[tokio::test]
async fn cancelled_long_read_gives_its_connection_back() {
    let _one = ONE_AT_A_TIME.lock().await;
    on_file("max_connections=2", cancelled_read).await
}

/// A model over an endless view.
#[derive(Model, Debug, Clone)]
#[model(table = "numbers")]
struct Number {
    #[model(primary_key)]
    id: i64,
}

/// Streams dropped after 10 rows stop reading (a 1,000,000-row stream takes seconds here, the
/// endless one forever) and give their connection back at once. `statement_timeout=10s`
/// bounds a stream that would not stop.
async fn dropped_streams(db: Database, _b: Backend) {
    db.execute_raw("CREATE TABLE t (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
    db.execute_raw(
        "CREATE VIEW numbers AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x AS id FROM c",
        params! {},
    )
    .await
    .unwrap();

    let mut rows = db.stream_rows(Statement::new(series(1_000_000), Vec::new()));
    for i in 1..=10 {
        assert_eq!(rows.next().await.unwrap().unwrap().get_as::<i64>(0).unwrap(), i);
    }
    assert_eq!(db.stats().in_use, 1, "an open stream holds its connection");
    drop(rows);
    let (s, back_after) = settled_within(&db, Duration::from_secs(5)).await;
    eprintln!("dropped raw stream: connection back after {back_after:?}");
    assert_eq!(s.in_use, 0, "{s:?}");
    assert!(back_after < Duration::from_millis(500), "the dropped stream read on for {back_after:?}");
    readers_see_new_writes(&db, 1).await;

    let mut numbers = Number::select().stream(&db);
    for i in 1..=10 {
        assert_eq!(numbers.next().await.unwrap().unwrap().id, i);
    }
    drop(numbers);
    let (s, back_after) = settled_within(&db, Duration::from_secs(5)).await;
    eprintln!("dropped typed stream: connection back after {back_after:?}");
    assert_eq!(s.in_use, 0, "{s:?}");
    assert!(back_after < Duration::from_millis(500), "the dropped stream read on for {back_after:?}");
    readers_see_new_writes(&db, 2).await;
    // The early `fetch_optional` stop leaves no read open either.
    assert!(db.fetch_optional_raw(&series(1_000), params! {}).await.unwrap().is_some());
    readers_see_new_writes(&db, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_streams_stop_and_give_their_connection_back() {
    on_file("max_connections=2&statement_timeout=10s", dropped_streams).await
}

// ---------------------------------------------------------------------------------------
// 8. Streaming a large result
// ---------------------------------------------------------------------------------------

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "big")]
struct Big {
    #[model(primary_key)]
    id: i64,
    v: i64,
}

fn big_v(id: i64) -> i64 {
    id * 7919 % 100_003
}

/// 200,000 rows streamed in order, every one of them, from one snapshot: a row committed while
/// the stream runs is not in it; other statements run meanwhile.
async fn large_stream(db: Database, _b: Backend) {
    const N: i64 = 200_000;
    db.execute_raw("CREATE TABLE big (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)", params! {}).await.unwrap();
    db.execute_raw(&format!("INSERT INTO big (id, v) SELECT x, x * 7919 % 100003 FROM ({})", series(N as u64)), params! {}).await.unwrap();

    let started = Instant::now();
    let mut rows = db.stream_rows(Statement::new("SELECT id, v FROM big ORDER BY id", Vec::new()));
    let mut next = 1i64;
    while let Some(row) = rows.next().await {
        let row = row.unwrap();
        let (id, v) = (row.get_as::<i64>(0).unwrap(), row.get_as::<i64>(1).unwrap());
        assert_eq!((id, v), (next, big_v(next)), "row {next} out of order or wrong");
        if next == N / 2 {
            db.execute_raw("INSERT INTO big (id, v) VALUES (:id, 0)", params! { "id" => N + 1 }).await.unwrap();
            assert_eq!(count_of(&db, "SELECT count(*) AS n FROM big").await, N + 1);
        }
        next += 1;
    }
    drop(rows);
    assert_eq!(next - 1, N, "the stream ended early");
    eprintln!("raw stream of {N} rows: {:?}", started.elapsed());

    // Typed, through the model.
    let started = Instant::now();
    let mut typed = Big::select().order_by(Big::ID.asc()).stream(&db);
    let mut next = 1i64;
    while let Some(big) = typed.next().await {
        let big = big.unwrap();
        let want = if next == N + 1 { 0 } else { big_v(next) };
        assert_eq!(big, Big { id: next, v: want });
        next += 1;
    }
    drop(typed);
    assert_eq!(next - 1, N + 1);
    eprintln!("typed stream of {} rows: {:?}", N + 1, started.elapsed());
    let (s, _) = settled_within(&db, Duration::from_secs(3)).await;
    assert_eq!(s.in_use, 0, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_stream_yields_every_row_in_order() {
    let _one = ONE_AT_A_TIME.lock().await;
    on_file("", large_stream).await
}

/// An idle connection is closed once it has been idle for `idle_timeout`, not before: the
/// reaper counts idle time in whole periods, whenever in a period the connection came back.
async fn idle_connections_live_their_timeout(db: Database, _b: Backend) {
    let idle_timeout = Duration::from_secs(1);
    // The moment the first connection is closed is one of the reaper's ticks.
    db.execute_raw("SELECT 1", params! {}).await.unwrap();
    while db.stats().size > 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut lives = Vec::new();
    for after_tick in [100u64, 60, 10] {
        tokio::time::sleep(Duration::from_millis(after_tick)).await;
        db.execute_raw("SELECT 1", params! {}).await.unwrap();
        let released = Instant::now();
        while db.stats().size > 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        lives.push(released.elapsed());
    }
    assert!(lives.iter().all(|&idle| idle >= idle_timeout), "closed before {idle_timeout:?} idle: {lives:?}");
    assert!(lives.iter().all(|&idle| idle < idle_timeout * 2), "closed long after {idle_timeout:?} idle: {lives:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_their_timeout_not_before() {
    on_file("idle_timeout=1s&max_lifetime=1h&max_connections=1", idle_connections_live_their_timeout).await
}

// ---------------------------------------------------------------------------------------
// 9. In-memory databases
// ---------------------------------------------------------------------------------------

/// 16 tasks share the one connection; read-only transactions (on that connection, with
/// `query_only` switched on) refuse writes and leave it writable however they end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_database_serves_concurrent_tasks_and_read_only_transactions() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    assert_eq!(db.options().max_connections, 1);
    db.execute_raw("CREATE TABLE m (id INTEGER PRIMARY KEY, task INTEGER NOT NULL)", params! {}).await.unwrap();
    let tasks: Vec<_> = (0..16i64)
        .map(|task| {
            let db = db.clone();
            tokio::spawn(async move {
                for i in 0..25i64 {
                    let id = task * 100 + i;
                    if i % 5 == 4 {
                        db.transaction(async |tx| {
                            tx.execute_raw("INSERT INTO m (id, task) VALUES (:id, :t)", params! { "id" => id, "t" => task }).await
                        })
                        .await?;
                    } else {
                        db.execute_raw("INSERT INTO m (id, task) VALUES (:id, :t)", params! { "id" => id, "t" => task }).await?;
                    }
                    let mine = db.fetch_one_raw("SELECT count(*) AS n FROM m WHERE task = :t", params! { "t" => task }).await?;
                    assert_eq!(mine.get::<i64>("n")?, i + 1);
                }
                Ok::<_, Error>(())
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(count_of(&db, "SELECT count(*) AS n FROM m").await, 400);
    let s = db.stats();
    assert_eq!((s.size, s.in_use, s.max_connections), (1, 0, 1), "{s:?}");

    // Read-only transactions, ended by commit, rollback, drop and the closure's error.
    let insert = |id: i64| format!("INSERT INTO m (id, task) VALUES ({id}, 99)");
    for (round, end) in ["commit", "rollback", "drop"].into_iter().enumerate() {
        let tx = db.begin_with(TxOptions::new().read_only(true)).await.unwrap();
        assert_eq!(count_of(&tx, "SELECT count(*) AS n FROM m").await, 400 + round as i64);
        let e = tx.execute_raw(&insert(10_000 + round as i64), params! {}).await.unwrap_err();
        assert_eq!(code(&e), Some("8"), "{end}: {e:?}");
        // Still usable for reads after the refused write.
        assert_eq!(count_of(&tx, "SELECT count(*) AS n FROM m").await, 400 + round as i64);
        match end {
            "commit" => tx.commit().await.unwrap(),
            "rollback" => tx.rollback().await.unwrap(),
            _ => drop(tx),
        }
        assert_eq!(count_of(&db, "SELECT query_only AS n FROM pragma_query_only()").await, 0, "{end}: the connection stayed query_only");
        db.execute_raw(&insert(20_000 + round as i64), params! {})
            .await
            .unwrap_or_else(|e| panic!("write after a read-only transaction ({end}): {e:?}"));
    }
    let r = db.transaction_with(TxOptions::new().read_only(true), async |tx| tx.execute_raw(&insert(30_000), params! {}).await).await;
    assert_eq!(code(r.as_ref().unwrap_err()), Some("8"), "{r:?}");
    db.execute_raw(&insert(30_001), params! {}).await.unwrap();
    assert_eq!(count_of(&db, "SELECT count(*) AS n FROM m WHERE task = 99").await, 4);
    db.close().await;
}

/// Statements stay prepared on their connection. After a schema change SQLite prepares one
/// again as it runs, and a `SELECT *` then has the table's new columns, under their names.
#[tokio::test]
async fn kept_statements_follow_schema_changes() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    db.execute_raw("CREATE TABLE grows (id INTEGER PRIMARY KEY, a TEXT)", params! {}).await.unwrap();
    db.execute_raw("INSERT INTO grows (id, a) VALUES (1, 'x')", params! {}).await.unwrap();
    let select_all = async || db.fetch_one_raw("SELECT * FROM grows", params! {}).await.unwrap();
    assert_eq!(select_all().await.columns().collect::<Vec<_>>(), ["id", "a"]);
    db.execute_raw("ALTER TABLE grows ADD COLUMN b INTEGER DEFAULT 7", params! {}).await.unwrap();
    let row = select_all().await;
    assert_eq!(row.columns().collect::<Vec<_>>(), ["id", "a", "b"]);
    assert_eq!(row.get::<i64>("b").unwrap(), 7);
    db.execute_raw("ALTER TABLE grows RENAME COLUMN a TO title", params! {}).await.unwrap();
    assert_eq!(select_all().await.get::<String>("title").unwrap(), "x");
    db.close().await;
}

// ---------------------------------------------------------------------------------------
// 10. Read-only files and URL parameters
// ---------------------------------------------------------------------------------------

async fn read_only_file(db: Database, _b: Backend) {
    db.execute_raw("CREATE TABLE t (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
    db.execute_raw("INSERT INTO t (id) VALUES (1), (2), (3)", params! {}).await.unwrap();
    let url = db.options().driver_url().to_string();
    let ro = Database::connect(&format!("{url}?mode=ro")).await.unwrap();
    assert_eq!(ids(&ro, "t").await, [1, 2, 3]);
    for write in [
        "INSERT INTO t (id) VALUES (4)",
        "UPDATE t SET id = id + 10",
        "DELETE FROM t",
        "WITH d AS (SELECT 1) DELETE FROM t",
        "CREATE TABLE u (id INTEGER)",
    ] {
        match ro.execute_raw(write, params! {}).await {
            Err(Error::Database(info)) => {
                assert_eq!(info.code.as_deref(), Some("8"), "{write}: {info:?}");
                assert!(info.message.contains("readonly"), "{write}: not a clear message: {}", info.message);
            }
            other => panic!("{write} on a read-only file: {other:?}"),
        }
    }
    let r = ro.transaction(async |tx| tx.execute_raw("INSERT INTO t (id) VALUES (4)", params! {}).await).await;
    assert_eq!(code(r.as_ref().unwrap_err()), Some("8"), "{r:?}");
    // The read-write pool still writes, and the read-only one sees it.
    db.execute_raw("INSERT INTO t (id) VALUES (4)", params! {}).await.unwrap();
    assert_eq!(ids(&ro, "t").await, [1, 2, 3, 4]);
    ro.close().await;

    // Unknown parameters and a read-only missing file fail at connect, creating nothing.
    let missing = std::env::temp_dir().join(format!("almacen_t_{}.db", uuid::Uuid::new_v4().simple()));
    match Database::connect(&format!("sqlite://{}?colour=blue", missing.display())).await {
        Err(Error::Config(msg)) => assert!(msg.contains("colour"), "the error does not name the parameter: {msg}"),
        other => panic!("expected Error::Config for ?colour=blue, got {other:?}"),
    }
    let r = Database::connect(&format!("sqlite://{}?mode=ro", missing.display())).await;
    assert!(r.is_err(), "a missing file opened read-only");
    assert!(!missing.exists(), "connecting created {}", missing.display());
}

#[tokio::test]
async fn read_only_file_reads_and_refuses_writes() {
    on_file("", read_only_file).await
}

// ---------------------------------------------------------------------------------------
// 11. Pool statistics
// ---------------------------------------------------------------------------------------

/// Three readers and the writer, all held by transactions; a fifth transaction waits (and is
/// counted as waiting) until the acquire timeout.
async fn stats_of_a_full_pool(db: Database, _b: Backend) {
    let read_only = || TxOptions::new().read_only(true);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(db.begin_with(read_only()).await.unwrap());
    }
    held.push(db.begin().await.unwrap());
    let s = db.stats();
    assert_eq!((s.size, s.in_use, s.idle, s.waiting, s.max_connections), (4, 4, 0, 0, 4), "{s:?}");

    for (what, opts) in [("read-only", read_only()), ("read-write", TxOptions::new())] {
        let waiter = {
            let db = db.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                (db.begin_with(opts).await.map(drop), started.elapsed())
            })
        };
        let mut seen = None;
        let deadline = Instant::now() + Duration::from_millis(250);
        while seen.is_none() && Instant::now() < deadline {
            let s = db.stats();
            if s.waiting == 1 {
                seen = Some(s);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let s = seen.unwrap_or_else(|| panic!("{what}: the waiting transaction never showed in {:?}", db.stats()));
        assert_eq!((s.size, s.in_use, s.waiting), (4, 4, 1), "{what}: {s:?}");
        let (r, elapsed) = waiter.await.unwrap();
        assert!(matches!(r, Err(Error::PoolTimeout(d)) if d == Duration::from_millis(300)), "{what}: {r:?}");
        assert!(elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(3), "{what}: {elapsed:?}");
        assert_eq!(db.stats().waiting, 0);
    }
    for tx in held {
        tx.commit().await.unwrap();
    }
    let (s, _) = settled_within(&db, Duration::from_secs(3)).await;
    assert_eq!((s.size, s.in_use, s.idle, s.waiting), (4, 0, 4, 0), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_stats_with_every_connection_held() {
    on_file("max_connections=4&acquire_timeout=300ms", stats_of_a_full_pool).await
}

// ---------------------------------------------------------------------------------------
// Cancellation, scripts and lock waits
// ---------------------------------------------------------------------------------------

/// A statement running on a blocking thread is not interrupted when its caller is cancelled:
/// it runs to its end (or its timeout; without one, forever), holding its connection. The
/// read here is endless with a 5 s timeout (so the test ends either way); the connection
/// should be back well before that.
async fn cancelled_endless_read(db: Database, _b: Backend) {
    let stmt = Statement::new(ENDLESS_READ, Vec::new()).with_timeout(Some(Duration::from_secs(5)));
    let r = tokio::time::timeout(Duration::from_millis(50), db.fetch_rows(stmt)).await;
    assert!(r.is_err());
    let (s, back_after) = settled_within(&db, Duration::from_secs(6)).await;
    assert!(
        s.in_use == 0 && back_after < Duration::from_secs(1),
        "the cancelled read kept its connection for {back_after:?} ({s:?}): it was not interrupted"
    );
}

#[tokio::test]
async fn cancelled_endless_read_is_interrupted() {
    let _one = ONE_AT_A_TIME.lock().await;
    on_file("max_connections=2", cancelled_endless_read).await
}

/// Several statements in one text run through `execute_batch` without the progress handler
/// armed: neither the statement timeout nor the move to a blocking thread applies.
async fn multi_statement_text(db: Database, _b: Backend) {
    let n = rows_for(&db, Duration::from_millis(1000), count_sql).await;
    let script = format!("CREATE TABLE IF NOT EXISTS s (a INTEGER); {}", count_sql(n));
    let started = Instant::now();
    let r = db.execute_statement(Statement::new(script.clone(), Vec::new()).with_timeout(Some(Duration::from_millis(200)))).await;
    let elapsed = started.elapsed();
    assert!(matches!(r, Err(Error::StatementTimeout(_))), "the 200 ms timeout did not apply: {r:?} after {elapsed:?}");

    let stop = Arc::new(AtomicBool::new(false));
    let ticker = spawn_ticker(stop.clone());
    tokio::time::sleep(Duration::from_millis(20)).await;
    db.execute_statement(Statement::new(script, Vec::new()).with_timeout(None)).await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let max_gap = ticker.await.unwrap();
    assert!(max_gap < Duration::from_millis(250), "a long multi-statement text stalled the runtime for {max_gap:?}");
}

#[tokio::test]
async fn multi_statement_text_has_a_timeout_and_leaves_the_runtime() {
    let _one = ONE_AT_A_TIME.lock().await;
    on_file("max_connections=1", multi_statement_text).await
}

/// Waiting for a write lock another pool (or process) holds happens in SQLite's busy handler,
/// in place: the progress handler is not called there. The runtime stalls for up to
/// `busy_timeout` (5 s); on a current-thread runtime the other pool's transaction cannot
/// even commit meanwhile, so the wait ends in "database is locked".
async fn lock_wait(a: Database, _b: Backend) {
    let b = Database::connect(a.options().driver_url()).await.unwrap();
    a.execute_raw("CREATE TABLE t (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
    let tx = a.begin().await.unwrap();
    tx.execute_raw("INSERT INTO t (id) VALUES (1)", params! {}).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = spawn_ticker(stop.clone());
    let committer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        tx.commit().await
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let started = Instant::now();
    let r = b.execute_raw("INSERT INTO t (id) VALUES (2)", params! {}).await;
    let elapsed = started.elapsed();
    committer.await.unwrap().unwrap();
    stop.store(true, Ordering::Relaxed);
    let max_gap = ticker.await.unwrap();
    b.close().await;
    assert!(r.is_ok(), "the second pool's insert failed after {elapsed:?}: {r:?}");
    assert!(max_gap < Duration::from_millis(250), "waiting for the lock stalled the runtime for {max_gap:?}");
}

#[tokio::test]
async fn lock_wait_for_another_pool_does_not_stall_the_runtime() {
    let _one = ONE_AT_A_TIME.lock().await;
    on_file("", lock_wait).await
}

/// A connection reuses its last result buffer once every row of it is gone: rows still held
/// keep their values while later statements run on the same connection, whatever their size.
async fn rows_outlive_later_statements(db: Database, _b: Backend) {
    db.execute_raw("CREATE TABLE r (id INTEGER PRIMARY KEY, name TEXT, n REAL)", params! {}).await.unwrap();
    db.execute_raw(&format!("INSERT INTO r (id, name, n) SELECT x, 'name ' || x, x / 2.0 FROM ({})", series(3000)), params! {})
        .await
        .unwrap();
    let one = |id: i64| db.fetch_one_raw("SELECT id, name, n FROM r WHERE id = :id", params! { "id" => id });
    let held = one(7).await.unwrap();
    let page = db.fetch_all_raw("SELECT id, name FROM r WHERE id > :a ORDER BY id LIMIT 20", params! { "a" => 100 }).await.unwrap();
    // A result too large to keep, then small ones again.
    let all = db.fetch_all_raw("SELECT id, name FROM r ORDER BY id", params! {}).await.unwrap();
    for id in [8, 9, 10] {
        let row = one(id).await.unwrap();
        assert_eq!(row.get::<String>("name").unwrap(), format!("name {id}"));
    }
    assert_eq!((held.get::<i64>("id").unwrap(), held.get::<String>("name").unwrap()), (7, "name 7".to_string()));
    assert_eq!(held.get::<f64>("n").unwrap(), 3.5);
    assert_eq!(page.len(), 20);
    for (i, row) in page.iter().enumerate() {
        assert_eq!(row.get::<String>("name").unwrap(), format!("name {}", 101 + i));
    }
    assert_eq!(all.len(), 3000);
    assert_eq!(all[2999].get::<String>("name").unwrap(), "name 3000");
    drop((held, page, all));
    // Once nothing holds a result, the next statements still read right.
    for id in [1, 2999] {
        assert_eq!(one(id).await.unwrap().get::<String>("name").unwrap(), format!("name {id}"));
    }
}

#[tokio::test]
async fn rows_outlive_later_statements_on_a_file() {
    on_file("", rows_outlive_later_statements).await
}

#[tokio::test]
async fn rows_outlive_later_statements_in_memory() {
    rows_outlive_later_statements(Database::connect("sqlite::memory:").await.unwrap(), Backend::Sqlite).await
}
