//! SQLite's `journal_mode` and `synchronous` URL options on real files: every mode and
//! level is what SQLite reports on every pooled connection (the writer and each reader),
//! a mode SQLite cannot apply is an error at connect, and under a rollback journal
//! (`delete`, `truncate`, `persist`), where readers and the writer block each other,
//! concurrent readers and writers finish with right answers, nothing waits unbounded, and
//! the async thread is not held up waiting for locks.
//!
//! SQLite only by nature: each test works on its own temp files, removed afterwards.

#![cfg(feature = "sqlite")]

mod common;

use almacen::prelude::*;
use almacen::{JournalMode, Synchronous};
use common::Backend;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const ROLLBACK_MODES: [JournalMode; 3] = [JournalMode::Delete, JournalMode::Truncate, JournalMode::Persist];

/// A temp file path for one test, with its side files removed when dropped.
struct TempDb(PathBuf);

impl TempDb {
    fn new() -> TempDb {
        TempDb(std::env::temp_dir().join(format!("almacen_j_{}.db", uuid::Uuid::new_v4().simple())))
    }
    fn url(&self, params: &str) -> String {
        format!("sqlite://{}?{params}", self.0.display())
    }
    fn side(&self, suffix: &str) -> PathBuf {
        PathBuf::from(format!("{}{suffix}", self.0.display()))
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(self.side(suffix));
        }
    }
}

async fn one(ex: &impl Executor, sql: &str) -> Value {
    let row = ex.fetch_one_raw(sql, params! {}).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let column = row.columns().next().unwrap().to_string();
    row.value(&column).cloned().unwrap()
}

async fn count(ex: &impl Executor, sql: &str) -> i64 {
    ex.fetch_one_raw(sql, params! {}).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get::<i64>("n").unwrap()
}

// ---------------------------------------------------------------------------------------
// 1. What SQLite reports, on every connection
// ---------------------------------------------------------------------------------------

/// The journal mode and synchronous level as one connection reports them (in a transaction
/// on it, so every statement runs on that connection), and whether it is a reader.
async fn reported(tx: &Transaction) -> (Value, Value, Value) {
    (
        one(tx, "SELECT journal_mode FROM pragma_journal_mode()").await,
        one(tx, "SELECT synchronous FROM pragma_synchronous()").await,
        one(tx, "SELECT query_only FROM pragma_query_only()").await,
    )
}

/// Every mode with every level: the writer and three readers open at once (three
/// read-only transactions, each on its own reader) all report what was asked; the files on
/// disk are those of the mode; `db.options()` and its `Debug` say it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_and_level_is_what_each_pooled_connection_reports() {
    for mode in JournalMode::ALL {
        for level in Synchronous::ALL {
            let file = TempDb::new();
            // Written in upper case: values are case-insensitive.
            let url = file.url(&format!("journal_mode={}&synchronous={}&max_connections=4", mode.as_str().to_uppercase(), level));
            let db = Database::connect(&url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!((db.options().journal_mode, db.options().synchronous), (Some(mode), Some(level)));
            let shown = format!("{:?}", db.options());
            assert!(shown.contains(&format!("journal_mode: Some({mode:?})")) && shown.contains(&format!("synchronous: Some({level:?})")));
            db.execute_raw("CREATE TABLE t (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
            db.execute_raw("INSERT INTO t (id) VALUES (1), (2)", params! {}).await.unwrap();

            let writer = db.begin().await.unwrap();
            let readers = [
                db.begin_with(TxOptions::new().read_only(true)).await.unwrap(),
                db.begin_with(TxOptions::new().read_only(true)).await.unwrap(),
                db.begin_with(TxOptions::new().read_only(true)).await.unwrap(),
            ];
            let wanted = |query_only: i64| (Value::from(mode.as_str()), Value::Int(level.pragma_value()), Value::Int(query_only));
            assert_eq!(reported(&writer).await, wanted(0), "{url}: the writer");
            for (i, r) in readers.iter().enumerate() {
                assert_eq!(reported(r).await, wanted(1), "{url}: reader {i}");
            }
            assert_eq!(db.stats().size, 4, "{url}: the writer and three readers");
            writer.rollback().await.unwrap();
            for r in readers {
                r.commit().await.unwrap();
            }
            // The files are the mode's: a WAL beside the database, or a rollback journal
            // that is gone (delete), empty (truncate) or kept (persist) after each commit.
            db.execute_raw("INSERT INTO t (id) VALUES (3)", params! {}).await.unwrap();
            let wal = file.side("-wal").exists();
            let journal = std::fs::metadata(file.side("-journal")).ok().map(|m| m.len());
            match mode {
                JournalMode::Wal => assert!(wal && journal.is_none(), "{url}: wal {wal}, journal {journal:?}"),
                JournalMode::Delete => assert!(!wal && journal.is_none(), "{url}: wal {wal}, journal {journal:?}"),
                JournalMode::Truncate => assert!(!wal && journal == Some(0), "{url}: wal {wal}, journal {journal:?}"),
                JournalMode::Persist => assert!(!wal && journal.is_some_and(|n| n > 0), "{url}: wal {wal}, journal {journal:?}"),
            }
            db.close().await;
            // WAL is the file's own (a later connection finds it); a rollback journal mode is
            // the connection's, the file says only "not WAL" (SQLite's default, delete).
            let later = rusqlite::Connection::open(file.path()).unwrap();
            let on_file: String = later.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
            assert_eq!(on_file, if mode == JournalMode::Wal { "wal" } else { "delete" }, "{url}");
        }
    }
}

/// Without the options a file is WAL with `synchronous = NORMAL` on every connection, as it
/// always was; a file left in WAL is taken out of it by a pool in a rollback mode (its
/// rows intact), and back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defaults_are_wal_and_normal_and_a_file_can_change_mode() {
    let file = TempDb::new();
    let db = Database::connect(&file.url("max_connections=2")).await.unwrap();
    assert_eq!((db.options().journal_mode, db.options().synchronous), (Some(JournalMode::Wal), Some(Synchronous::Normal)));
    db.execute_raw("CREATE TABLE t (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
    db.execute_raw("INSERT INTO t (id) VALUES (1)", params! {}).await.unwrap();
    let w = db.begin().await.unwrap();
    let r = db.begin_with(TxOptions::new().read_only(true)).await.unwrap();
    assert_eq!(reported(&w).await, (Value::from("wal"), Value::Int(1), Value::Int(0)));
    assert_eq!(reported(&r).await, (Value::from("wal"), Value::Int(1), Value::Int(1)));
    w.commit().await.unwrap();
    r.commit().await.unwrap();
    db.close().await;

    let db = Database::connect(&file.url("journal_mode=delete&synchronous=full&max_connections=2")).await.unwrap();
    assert_eq!(count(&db, "SELECT count(*) AS n FROM t").await, 1);
    db.execute_raw("INSERT INTO t (id) VALUES (2)", params! {}).await.unwrap();
    assert!(!file.side("-wal").exists(), "the WAL was checkpointed and removed on leaving it");
    assert_eq!(one(&db, "PRAGMA journal_mode").await, Value::from("delete"));
    db.close().await;

    let db = Database::connect(&file.url("")).await.unwrap();
    assert_eq!(one(&db, "PRAGMA journal_mode").await, Value::from("wal"));
    assert_eq!(count(&db, "SELECT count(*) AS n FROM t").await, 2);
    db.close().await;
}

/// The options set in code are the same options, with the same refusals at connect.
#[tokio::test]
async fn options_set_in_code_apply_and_are_refused_where_they_cannot() {
    let file = TempDb::new();
    let opts = almacen::ConnectOptions::from_url(&file.url("")).unwrap().journal_mode(JournalMode::Truncate).synchronous(Synchronous::Off);
    let db = Database::connect_with(opts).await.unwrap();
    assert_eq!(one(&db, "PRAGMA journal_mode").await, Value::from("truncate"));
    assert_eq!(one(&db, "PRAGMA synchronous").await, Value::Int(0));
    db.close().await;

    let memory = almacen::ConnectOptions::from_url("sqlite::memory:").unwrap().journal_mode(JournalMode::Delete);
    let e = Database::connect_with(memory).await.unwrap_err();
    assert!(matches!(&e, Error::Config(m) if m.contains("journal_mode does not apply here: an in-memory")), "{e:?}");
    let read_only = almacen::ConnectOptions::from_url(&file.url("mode=ro")).unwrap().synchronous(Synchronous::Full);
    let e = Database::connect_with(read_only).await.unwrap_err();
    assert!(matches!(&e, Error::Config(m) if m.contains("read-only")), "{e:?}");
    // On the servers the check comes before any connection is tried (nothing listens here).
    let pg = almacen::ConnectOptions::from_url("postgres://u@127.0.0.1:1/db").unwrap().journal_mode(JournalMode::Wal);
    let e = Database::connect_with(pg).await.unwrap_err();
    assert!(matches!(&e, Error::Config(m) if m.contains("SQLite setting")), "{e:?}");
    // Refused on the URL of every server dialect too.
    for url in ["postgres://u@127.0.0.1:1/db?synchronous=full", "mysql://root@127.0.0.1:1/db?journal_mode=wal"] {
        let e = Database::connect(url).await.unwrap_err();
        assert!(matches!(&e, Error::Config(m) if m.contains("SQLite setting")), "{url}: {e:?}");
    }
}

// ---------------------------------------------------------------------------------------
// 2. A mode SQLite does not apply is an error
// ---------------------------------------------------------------------------------------

/// SQLite answers a journal mode it cannot use with the one it kept, silently: WAL without
/// file locks (`nolock=1`) stays `delete`. almacen checks the answer and refuses to run on
/// a mode other than the one asked for; a rollback journal works there.
#[tokio::test]
async fn a_mode_sqlite_does_not_apply_is_refused_at_connect() {
    let file = TempDb::new();
    let e = Database::connect(&file.url("nolock=1")).await.unwrap_err();
    let Error::Config(message) = &e else { panic!("{e:?}") };
    assert!(message.contains("did not apply journal_mode=wal") && message.contains("\"delete\" mode"), "{message}");
    assert!(message.contains("journal_mode=delete"), "the error says what to use instead: {message}");

    let db = Database::connect(&file.url("nolock=1&journal_mode=delete&synchronous=full")).await.unwrap();
    db.execute_raw("CREATE TABLE t (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
    db.execute_raw("INSERT INTO t (id) VALUES (1)", params! {}).await.unwrap();
    assert_eq!(count(&db, "SELECT count(*) AS n FROM t").await, 1);
    db.close().await;
}

/// A file another connection holds in WAL cannot leave it (only a lone connection can):
/// connecting in a rollback mode waits out the busy timeout and fails saying why, and
/// nothing is half-changed (the other connection goes on in WAL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_wal_while_another_connection_holds_it_fails_in_bounded_time() {
    let file = TempDb::new();
    let other = rusqlite::Connection::open(file.path()).unwrap();
    let mode: String = other.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    other.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1);").unwrap();

    let started = Instant::now();
    let e = Database::connect(&file.url("journal_mode=delete&connect_timeout=20s")).await.unwrap_err();
    let took = started.elapsed();
    eprintln!("leaving WAL beside another connection: {e} after {took:?}");
    assert!(matches!(&e, Error::Deadlock(i) if i.message.contains("could not set journal_mode=delete")), "{e:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    other.execute_batch("INSERT INTO t VALUES (2)").unwrap();
    let mode: String = other.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

// ---------------------------------------------------------------------------------------
// 3. Readers and the writer under a rollback journal
// ---------------------------------------------------------------------------------------

/// Accounts whose balances always sum to `TOTAL`: a transfer moves money in one
/// transaction, so any read that sees another sum saw half a transaction.
const ACCOUNTS: i64 = 20;
const TOTAL: i64 = ACCOUNTS * 1_000;

async fn create_accounts(db: &Database) {
    db.execute_raw("CREATE TABLE acct (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)", params! {}).await.unwrap();
    db.execute_raw("CREATE TABLE bulk (x INTEGER NOT NULL)", params! {}).await.unwrap();
    db.execute_raw(
        &format!("INSERT INTO acct (id, balance) SELECT x, 1000 FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT {ACCOUNTS}) SELECT x FROM c)"),
        params! {},
    )
    .await
    .unwrap();
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

/// Writers (transfers in transactions, autocommit updates, a large transaction that spills
/// to the file and so blocks readers until it commits) beside readers (single reads,
/// read-only transactions reading twice, a stream) for a while: every operation succeeds,
/// every read sees whole transactions, the two reads of a read-only transaction agree, and
/// the money adds up at the end.
async fn concurrent_readers_and_writers(db: Database, _b: Backend) {
    let mode = db.options().journal_mode.unwrap();
    create_accounts(&db).await;
    // A small page cache on the writer (a PRAGMA runs there), so that each large
    // transaction below spills pages to the file before its commit.
    db.execute_raw("PRAGMA cache_size = 50", params! {}).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = spawn_ticker(stop.clone());
    let (transfers, reads, updates) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for w in 0..3i64 {
        let (db, stop, transfers) = (db.clone(), stop.clone(), transfers.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let (from, to) = (i % ACCOUNTS + 1, (i * 7 + 3) % ACCOUNTS + 1);
                db.transaction(async |tx| -> almacen::Result<()> {
                    tx.execute_raw("UPDATE acct SET balance = balance - 5 WHERE id = :id", params! { "id" => from }).await?;
                    tokio::task::yield_now().await;
                    tx.execute_raw("UPDATE acct SET balance = balance + 5 WHERE id = :id", params! { "id" => to }).await?;
                    Ok(())
                })
                .await
                .unwrap_or_else(|e| panic!("{mode}: transfer: {e:?}"));
                transfers.fetch_add(1, Ordering::Relaxed);
                // (Paced: the pool's writer goes to whoever asks first when it comes back, so
                // writers in a tight loop would starve the other tasks that want it.)
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }));
    }
    {
        // Autocommit writes that keep the total: a no-op on the sum, but a commit each.
        let (db, stop, updates) = (db.clone(), stop.clone(), updates.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                db.execute_raw("UPDATE acct SET balance = balance + 0 WHERE id = 1", params! {})
                    .await
                    .unwrap_or_else(|e| panic!("{mode}: autocommit update: {e:?}"));
                updates.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }));
    }
    {
        // Large transactions: more pages than the page cache holds, so the writer spills
        // them to the file under an exclusive lock and readers wait until it commits.
        let (db, stop) = (db.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && n < 3 {
                n += 1;
                db.transaction(async |tx| -> almacen::Result<()> {
                    tx.execute_raw(
                        "INSERT INTO bulk (x) SELECT x FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100000) SELECT x FROM c)",
                        params! {},
                    )
                    .await?;
                    tx.execute_raw("UPDATE acct SET balance = balance - 1 WHERE id = 1", params! {}).await?;
                    tx.execute_raw("UPDATE acct SET balance = balance + 1 WHERE id = 2", params! {}).await?;
                    Ok(())
                })
                .await
                .unwrap_or_else(|e| panic!("{mode}: large transaction: {e:?}"));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    for r in 0..4 {
        let (db, stop, reads) = (db.clone(), stop.clone(), reads.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if r % 2 == 0 {
                    let sum = count(&db, "SELECT sum(balance) AS n FROM acct").await;
                    assert_eq!(sum, TOTAL, "{mode}: a read saw half a transfer");
                    let bulk = count(&db, "SELECT count(*) AS n FROM bulk").await;
                    assert_eq!(bulk % 100_000, 0, "{mode}: a read saw half a large transaction");
                } else {
                    let tx = db.begin_with(TxOptions::new().read_only(true)).await.unwrap();
                    let first = count(&tx, "SELECT sum(balance) AS n FROM acct").await;
                    tokio::task::yield_now().await;
                    let bulk = count(&tx, "SELECT count(*) AS n FROM bulk").await;
                    let again = count(&tx, "SELECT sum(balance) AS n FROM acct").await;
                    tx.commit().await.unwrap();
                    assert_eq!((first, again), (TOTAL, TOTAL), "{mode}: a read-only transaction");
                    assert_eq!(bulk % 100_000, 0, "{mode}");
                }
                reads.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }));
    }
    {
        // A stream on a reader, read to its end each time.
        let (db, stop, reads) = (db.clone(), stop.clone(), reads.clone());
        tasks.push(tokio::spawn(async move {
            use futures::StreamExt;
            while !stop.load(Ordering::Relaxed) {
                let rows: Vec<_> = db.stream_rows(almacen::Statement::new("SELECT balance FROM acct", Vec::new())).collect().await;
                let sum: i64 = rows.into_iter().map(|r| r.unwrap().get_as::<i64>(0).unwrap()).sum();
                assert_eq!(sum, TOTAL, "{mode}: a stream saw half a transfer");
                reads.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(20), t).await.expect("a task never finished").unwrap();
    }
    let max_gap = ticker.await.unwrap();
    let (transfers, reads, updates) = (transfers.load(Ordering::Relaxed), reads.load(Ordering::Relaxed), updates.load(Ordering::Relaxed));
    eprintln!("{mode}: {transfers} transfers, {updates} autocommit updates, {reads} reads in 3 s; longest runtime stall {max_gap:?}");
    assert!(transfers > 20 && reads > 20 && updates > 20, "{mode}: too little progress: {transfers} {reads} {updates}");
    assert_eq!(count(&db, "SELECT sum(balance) AS n FROM acct").await, TOTAL);
    assert!(count(&db, "SELECT count(*) AS n FROM bulk").await >= 100_000);
    let wal = Path::new(&format!("{}-wal", db.options().driver_url().trim_start_matches("sqlite://"))).exists();
    assert_eq!(wal, mode == JournalMode::Wal, "{mode}: a WAL file");
    assert_eq!(db.stats().in_use, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_and_writers_under_delete() {
    common::run_with(Backend::Sqlite, "journal_mode=delete&synchronous=full", concurrent_readers_and_writers).await
}

/// One thread for every task: whatever waits for a lock on it would hold up the rest.
#[tokio::test(flavor = "current_thread")]
async fn concurrent_readers_and_writers_under_delete_on_one_thread() {
    common::run_with(Backend::Sqlite, "journal_mode=delete", concurrent_readers_and_writers).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_and_writers_under_truncate_and_persist() {
    for mode in ["truncate", "persist"] {
        common::run_with(Backend::Sqlite, &format!("journal_mode={mode}&synchronous=normal"), concurrent_readers_and_writers).await
    }
}

/// The same workload in WAL, for comparison (nothing there waits for a reader).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_and_writers_under_wal() {
    common::run_with(Backend::Sqlite, "", concurrent_readers_and_writers).await
}

/// Another connection holds the database's exclusive lock: a new reader connection must
/// read the database's header to set its journal mode, and waits for that lock on a
/// blocking thread, not on the async one (one thread here: a wait in place stalls the
/// ticker as long as the lock is held).
#[tokio::test(flavor = "current_thread")]
async fn a_new_connection_waits_for_a_lock_off_the_async_thread() {
    for mode in ROLLBACK_MODES {
        let file = TempDb::new();
        let db = Database::connect(&file.url(&format!("journal_mode={mode}&max_connections=3"))).await.unwrap();
        db.execute_raw("CREATE TABLE t (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
        db.execute_raw("INSERT INTO t (id) VALUES (1)", params! {}).await.unwrap();
        assert_eq!(db.stats().size, 1, "no reader opened yet");

        let (locked_tx, locked) = tokio::sync::oneshot::channel();
        let path = file.path().to_path_buf();
        let holder = std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(&format!("PRAGMA journal_mode = {mode}; BEGIN EXCLUSIVE")).unwrap();
            let _ = locked_tx.send(());
            std::thread::sleep(Duration::from_millis(400));
            conn.execute_batch("COMMIT").unwrap();
        });
        locked.await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = spawn_ticker(stop.clone());
        tokio::time::sleep(Duration::from_millis(5)).await;
        let started = Instant::now();
        // Two reads at once: two new readers, both blocked by the lock.
        let (a, b) = tokio::join!(count(&db, "SELECT count(*) AS n FROM t"), count(&db, "SELECT count(*) + 0 AS n FROM t"));
        let waited = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        let max_gap = ticker.await.unwrap();
        holder.join().unwrap();
        eprintln!("{mode}: reads behind an exclusive lock: waited {waited:?}, longest runtime stall {max_gap:?}");
        assert_eq!((a, b), (1, 1));
        assert!(waited >= Duration::from_millis(250), "{mode}: the reads did not wait for the lock: {waited:?}");
        assert!(max_gap < Duration::from_millis(150), "{mode}: the async thread waited for the lock: {max_gap:?}");
        assert_eq!(db.stats().size, 3, "{mode}: the writer and two readers");
        db.close().await;
    }
}

/// Under a rollback journal a commit waits for reads in progress. A write from the task
/// that holds a read open (a read-only transaction) can never have it: the write waits the
/// busy timeout (about 5 s, never unbounded), fails as retryable `Deadlock` and leaves
/// nothing behind, autocommit or in a transaction; the writer goes on working afterwards.
/// In WAL the same writes succeed at once.
async fn write_beside_own_read(db: Database, _b: Backend) {
    let mode = db.options().journal_mode.unwrap();
    db.execute_raw("CREATE TABLE t (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
    db.execute_raw("INSERT INTO t (id) VALUES (1)", params! {}).await.unwrap();
    let ro = db.begin_with(TxOptions::new().read_only(true)).await.unwrap();
    assert_eq!(count(&ro, "SELECT count(*) AS n FROM t").await, 1);

    let started = Instant::now();
    let autocommit = db.execute_raw("INSERT INTO t (id) VALUES (2)", params! {}).await;
    let in_tx = db
        .transaction(async |tx| -> almacen::Result<()> {
            tx.execute_raw("INSERT INTO t (id) VALUES (3)", params! {}).await?;
            Ok(())
        })
        .await;
    let took = started.elapsed();
    eprintln!("{mode}: writes beside the task's own open read: {autocommit:?} / {in_tx:?} after {took:?}");
    if mode == JournalMode::Wal {
        assert!(autocommit.is_ok() && in_tx.is_ok(), "{autocommit:?} {in_tx:?}");
        assert!(took < Duration::from_secs(1), "{took:?}");
    } else {
        for r in [autocommit.map(|_| ()), in_tx] {
            let e = r.unwrap_err();
            assert!(matches!(e, Error::Deadlock(_)) && e.is_retryable(), "{mode}: {e:?}");
            assert!(e.to_string().contains(&format!("with journal_mode={mode} a commit waits until no read is in progress")), "{e}");
        }
        assert!(took >= Duration::from_secs(8) && took < Duration::from_secs(16), "{mode}: two waits of about 5 s: {took:?}");
    }
    // The read's snapshot never moved.
    assert_eq!(count(&ro, "SELECT count(*) AS n FROM t").await, 1);
    ro.commit().await.unwrap();
    let expected = if mode == JournalMode::Wal { 3 } else { 1 };
    assert_eq!(count(&db, "SELECT count(*) AS n FROM t").await, expected, "{mode}: nothing half-written");
    // The writer is healthy: the next writes go through at once.
    let started = Instant::now();
    db.execute_raw("INSERT INTO t (id) VALUES (4)", params! {}).await.unwrap();
    db.transaction(async |tx| -> almacen::Result<()> {
        tx.execute_raw("INSERT INTO t (id) VALUES (5)", params! {}).await?;
        Ok(())
    })
    .await
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(count(&db, "SELECT count(*) AS n FROM t").await, expected + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_beside_its_own_open_read_fails_in_bounded_time_under_delete() {
    common::run_with(Backend::Sqlite, "journal_mode=delete", write_beside_own_read).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_beside_its_own_open_read_succeeds_under_wal() {
    common::run_with(Backend::Sqlite, "", write_beside_own_read).await
}

/// A commit waits for a read in progress elsewhere and then goes through: another task's
/// read-only transaction that ends within the busy timeout holds the commit up, never
/// fails it.
async fn commit_waits_for_reads(db: Database, _b: Backend) {
    db.execute_raw("CREATE TABLE t (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
    let ro = db.begin_with(TxOptions::new().read_only(true)).await.unwrap();
    assert_eq!(count(&ro, "SELECT count(*) AS n FROM t").await, 0);
    let reader = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(count(&ro, "SELECT count(*) AS n FROM t").await, 0);
        ro.commit().await.unwrap();
    });
    let started = Instant::now();
    db.transaction(async |tx| -> almacen::Result<()> {
        tx.execute_raw("INSERT INTO t (id) VALUES (1)", params! {}).await?;
        Ok(())
    })
    .await
    .unwrap();
    let waited = started.elapsed();
    reader.await.unwrap();
    eprintln!("commit behind another task's 300 ms read: {waited:?}");
    assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(3), "{waited:?}");
    assert_eq!(count(&db, "SELECT count(*) AS n FROM t").await, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn a_commit_waits_for_another_tasks_read_under_delete() {
    common::run_with(Backend::Sqlite, "journal_mode=delete", commit_waits_for_reads).await
}
