//! The SQLite load test: many concurrent tasks on one almacen file database, mostly reads and
//! some writes, then a check that no committed insert was lost.
//!
//! Each client loops until the deadline: ~56% get by primary key of a random existing row,
//! ~24% a page of 20, ~12% single inserts, ~6% updates by primary key, ~2% a short
//! transaction (insert + update). Every operation has a timeout; the clients are aborted if
//! they have not all finished shortly after the deadline, and a watchdog thread ends the
//! process if even that hangs (a blocked runtime thread cannot be cancelled).
//!
//! Beside them a task sleeps 10 ms in a loop and records how late each wake is: the timer
//! lag, which shows whether anything held a runtime thread (SQLite work run in place for
//! too long). With `--load-bulk` one more task runs a large transaction every second.

use crate::{Args, Item, NewItem, SEED_ROWS};
use almacen::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest any one operation may take before it is counted as timed out.
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// Time after the deadline for clients to finish their last operation before being aborted.
const GRACE: Duration = Duration::from_secs(15);
/// Latency samples a client keeps before handing them over (bounds what an abort loses).
const FLUSH_EVERY: usize = 1024;
/// The timer-lag probe's sleep.
const TICK: Duration = Duration::from_millis(10);
/// Rows each large transaction of `--load-bulk` inserts (plus its round number, so that
/// every one is a new SQL text, whose first run is the one SQLite might run in place).
const BULK_ROWS: u64 = 100_000;
/// Time between the end of one large transaction and the start of the next.
const BULK_PAUSE: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Get,
    Page,
    Insert,
    Update,
    Transaction,
}

impl Kind {
    const ALL: [Kind; 5] = [Kind::Get, Kind::Page, Kind::Insert, Kind::Update, Kind::Transaction];

    fn name(self) -> &'static str {
        match self {
            Kind::Get => "get by pk",
            Kind::Page => "page of 20",
            Kind::Insert => "insert",
            Kind::Update => "update by pk",
            Kind::Transaction => "tx insert+update",
        }
    }

    fn is_write(self) -> bool {
        !matches!(self, Kind::Get | Kind::Page)
    }

    fn pick(roll: u32) -> Kind {
        match roll {
            0..56 => Kind::Get,
            56..80 => Kind::Page,
            80..92 => Kind::Insert,
            92..98 => Kind::Update,
            _ => Kind::Transaction,
        }
    }
}

/// Counters every client updates as it goes, so they survive an abort.
#[derive(Default)]
struct Shared {
    ok: [AtomicU64; 5],
    /// Errors by kind and class.
    errors: Mutex<BTreeMap<(Kind, String), u64>>,
    /// Inserts (single or in a transaction) whose outcome is unknown: timed out mid-flight.
    unknown_inserts: AtomicU64,
    /// Reads or updates of a row that must exist but was not found.
    missing: AtomicU64,
    /// The highest id of a committed row; every id from 1 to it exists (ids are never reused
    /// and no row is deleted).
    max_id: AtomicI64,
    read_latency: Mutex<Vec<u32>>,
    write_latency: Mutex<Vec<u32>>,
    /// `--load-bulk`: rows committed by large transactions, rows of those whose outcome is
    /// unknown (timed out), and how many were committed and rolled back.
    bulk_rows: AtomicU64,
    bulk_unknown_rows: AtomicU64,
    bulk_committed: AtomicU64,
    bulk_rolled_back: AtomicU64,
    bulk_latency: Mutex<Vec<u32>>,
}

impl Shared {
    fn error(&self, kind: Kind, class: String) {
        *self.errors.lock().unwrap().entry((kind, class)).or_default() += 1;
    }
}

/// A short name for an error, grouping alike ones; "database is locked" is named as such.
fn classify(e: &Error) -> String {
    let text = match e {
        Error::Deadlock(info) => format!("database is locked (Error::Deadlock: {})", info.message),
        Error::PoolTimeout(d) => format!("pool timeout ({d:?})"),
        Error::StatementTimeout(_) => "statement timeout".into(),
        Error::ConnectionLost(m) => format!("connection lost: {m}"),
        other => other.to_string(),
    };
    text.chars().take(140).collect()
}

/// What one operation found, beyond success or an error.
enum Done {
    Fine,
    /// A row that must exist was not there.
    Missing,
    /// A row was inserted (and committed) with this id.
    Inserted(i64),
}

async fn one_op(db: &Database, kind: Kind, rng: &mut StdRng, client: usize, n: u64, max_id: i64) -> Result<Done, Error> {
    let any_id = rng.random_range(1..=max_id);
    Ok(match kind {
        Kind::Get => match Item::get(db, any_id).await? {
            Some(_) => Done::Fine,
            None => Done::Missing,
        },
        Kind::Page => {
            let page = Item::select()
                .filter(Item::STOCK.gt(10))
                .order_by(Item::ID.asc())
                .limit(20)
                .offset(rng.random_range(0..50u64) * 20)
                .fetch_all(db)
                .await?;
            if page.len() == 20 { Done::Fine } else { Done::Missing }
        }
        Kind::Insert => {
            let row = NewItem { name: format!("load {client}-{n}"), stock: rng.random_range(0..100), price: 9.5, active: true };
            Done::Inserted(Item::insert(db, row).await?.id)
        }
        Kind::Update => match Item::patch(any_id).add(Item::STOCK, 1).execute(db).await? {
            Some(_) => Done::Fine,
            None => Done::Missing,
        },
        Kind::Transaction => {
            let name = format!("load tx {client}-{n}");
            let id = db
                .transaction(async |tx| {
                    let row = Item::insert(tx, NewItem { name, stock: 1, price: 2.5, active: false }).await?;
                    Item::patch(any_id).add(Item::STOCK, -1).execute(tx).await?.ok_or(Error::NotFound)?;
                    Ok(row.id)
                })
                .await?;
            Done::Inserted(id)
        }
    })
}

async fn client(db: Database, shared: Arc<Shared>, client: usize, deadline: tokio::time::Instant) {
    let mut rng = StdRng::seed_from_u64(0x5eed_0000 + client as u64);
    let (mut reads, mut writes) = (Vec::with_capacity(FLUSH_EVERY), Vec::with_capacity(FLUSH_EVERY));
    let mut n = 0u64;
    while tokio::time::Instant::now() < deadline {
        n += 1;
        let kind = Kind::pick(rng.random_range(0..100));
        let max_id = shared.max_id.load(Ordering::Acquire);
        let start = Instant::now();
        let outcome = tokio::time::timeout(OP_TIMEOUT, one_op(&db, kind, &mut rng, client, n, max_id)).await;
        let us = start.elapsed().as_micros().min(u32::MAX as u128) as u32;
        match outcome {
            Ok(Ok(done)) => {
                shared.ok[kind as usize].fetch_add(1, Ordering::Relaxed);
                match done {
                    Done::Fine => {}
                    Done::Missing => {
                        shared.missing.fetch_add(1, Ordering::Relaxed);
                        shared.error(kind, "row that must exist not found".into());
                    }
                    Done::Inserted(id) => {
                        shared.max_id.fetch_max(id, Ordering::AcqRel);
                    }
                }
            }
            Ok(Err(e)) => shared.error(kind, classify(&e)),
            Err(_) => {
                if matches!(kind, Kind::Insert | Kind::Transaction) {
                    shared.unknown_inserts.fetch_add(1, Ordering::Relaxed);
                }
                shared.error(kind, format!("no answer within {OP_TIMEOUT:?} (cancelled)"));
            }
        }
        let samples = if kind.is_write() { &mut writes } else { &mut reads };
        samples.push(us);
        if samples.len() >= FLUSH_EVERY {
            flush(&shared, &mut reads, &mut writes);
        }
        // Let the other clients on this worker run even if every await was ready at once.
        tokio::task::yield_now().await;
    }
    flush(&shared, &mut reads, &mut writes);
}

/// How a large transaction of `--load-bulk` ended without committing.
enum BulkEnd {
    /// Rolled back on purpose.
    RolledBack,
    Failed(Error),
}

impl From<Error> for BulkEnd {
    fn from(e: Error) -> Self {
        BulkEnd::Failed(e)
    }
}

/// `--load-bulk`: until the deadline, a large transaction (one INSERT … SELECT of about
/// `BULK_ROWS` rows) every `BULK_PAUSE`, committed and rolled back in turn.
async fn bulk_client(db: Database, shared: Arc<Shared>, deadline: tokio::time::Instant) {
    let mut round = 0u64;
    while tokio::time::Instant::now() + BULK_PAUSE < deadline {
        tokio::time::sleep(BULK_PAUSE).await;
        round += 1;
        let commit = round % 2 == 1;
        let rows = BULK_ROWS + round;
        let sql = format!(
            "INSERT INTO bench_items (name, stock, price, active) SELECT 'bulk ' || x, x % 100, 1.5, 0 FROM \
             (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT {rows}) SELECT x FROM c)"
        );
        let start = Instant::now();
        let tx = db.transaction(async |tx| {
            tx.execute_raw(&sql, params! {}).await?;
            if commit { Ok(()) } else { Err(BulkEnd::RolledBack) }
        });
        let outcome = tokio::time::timeout(OP_TIMEOUT, tx).await;
        shared.bulk_latency.lock().unwrap().push(start.elapsed().as_micros().min(u32::MAX as u128) as u32);
        match outcome {
            Ok(Ok(())) => {
                shared.bulk_committed.fetch_add(1, Ordering::Relaxed);
                shared.bulk_rows.fetch_add(rows, Ordering::Relaxed);
            }
            Ok(Err(BulkEnd::RolledBack)) => {
                shared.bulk_rolled_back.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(BulkEnd::Failed(e))) => shared.error(Kind::Transaction, format!("large transaction: {}", classify(&e))),
            Err(_) => {
                if commit {
                    shared.bulk_unknown_rows.fetch_add(rows, Ordering::Relaxed);
                }
                shared.error(Kind::Transaction, format!("large transaction: no answer within {OP_TIMEOUT:?} (cancelled)"));
            }
        }
    }
}

/// Sleep `TICK` in a loop until the deadline; how late each wake came, in µs.
async fn timer_lag(deadline: tokio::time::Instant) -> Vec<u32> {
    let mut lags = Vec::new();
    while tokio::time::Instant::now() < deadline {
        let due = Instant::now() + TICK;
        tokio::time::sleep(TICK).await;
        lags.push(Instant::now().saturating_duration_since(due).as_micros().min(u32::MAX as u128) as u32);
    }
    lags
}

fn flush(shared: &Shared, reads: &mut Vec<u32>, writes: &mut Vec<u32>) {
    shared.read_latency.lock().unwrap().append(reads);
    shared.write_latency.lock().unwrap().append(writes);
}

fn percentiles(mut v: Vec<u32>) -> String {
    if v.is_empty() {
        return "no samples".into();
    }
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    format!("p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)", at(0.5), at(0.99), at(1.0), v.len())
}

/// Run `fut` with a deadline; `None` (and a note) when it does not finish in time.
async fn bounded<T>(what: &str, limit: Duration, fut: impl Future<Output = T>) -> Option<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => Some(v),
        Err(_) => {
            println!("({what} did not finish within {limit:?})");
            None
        }
    }
}

pub async fn run(args: &Args) {
    let seconds = args.load_seconds.max(1);
    let clients = args.load_clients.max(1);
    let duration = Duration::from_secs(seconds);

    // The hard bound: whatever happens to the runtime, the process ends.
    let finished = Arc::new(AtomicBool::new(false));
    let hard_limit = duration + OP_TIMEOUT + GRACE + Duration::from_secs(120);
    {
        let finished = finished.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < hard_limit {
                std::thread::sleep(Duration::from_millis(200));
                if finished.load(Ordering::Acquire) {
                    return;
                }
            }
            eprintln!("load test: still running {hard_limit:?} after its start; the runtime is stuck. Exiting. FAIL");
            std::process::exit(3);
        });
    }

    let path = std::env::temp_dir().join(format!("almacen-load-{}.db", uuid::Uuid::new_v4().simple()));
    let url = args.sqlite_file().url(&path);
    let db = Database::connect(&url).await.unwrap_or_else(|e| panic!("connect {url}: {e}"));
    crate::seed(&db, false).await;
    let seeded = Item::select().count(&db).await.unwrap();
    assert_eq!(seeded, SEED_ROWS as u64);

    println!("\n### SQLite load test\n");
    println!(
        "{clients} tasks for {seconds} s on one almacen file database, {seeded} rows seeded, on a {} runtime",
        if args.load_current_thread { "current-thread" } else { "multi-thread" }
    );
    println!(
        "{url}, the pool's settings left at their defaults (pool of {}, acquire timeout {:?})",
        db.options().max_connections,
        db.options().acquire_timeout
    );
    println!("mix: 56% get by pk, 24% page of 20, 12% insert, 6% update by pk, 2% transaction (insert + update)");
    if args.load_bulk {
        println!("plus a large transaction every {BULK_PAUSE:?} (INSERT … SELECT of {BULK_ROWS} rows), committed and rolled back in turn");
    }
    println!("per-operation timeout {OP_TIMEOUT:?}; clients aborted {GRACE:?} after that past the deadline");

    let shared = Arc::new(Shared { max_id: AtomicI64::new(SEED_ROWS), ..Default::default() });
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + duration;
    let lag = tokio::spawn(timer_lag(deadline));
    let mut set = tokio::task::JoinSet::new();
    for c in 0..clients {
        set.spawn(client(db.clone(), shared.clone(), c, deadline));
    }
    if args.load_bulk {
        set.spawn(bulk_client(db.clone(), shared.clone(), deadline));
    }
    let mut panicked = 0;
    let joined = tokio::time::timeout_at(deadline + OP_TIMEOUT + GRACE, async {
        while let Some(r) = set.join_next().await {
            if r.is_err() {
                panicked += 1;
            }
        }
    })
    .await;
    let stuck = if joined.is_err() {
        let n = set.len();
        set.abort_all();
        while set.join_next().await.is_some() {}
        n
    } else {
        0
    };
    let elapsed = start.elapsed().as_secs_f64();

    let ok: Vec<u64> = shared.ok.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let errors = shared.errors.lock().unwrap().clone();
    let errors_of = |k: Kind| errors.iter().filter(|((kind, _), _)| *kind == k).map(|(_, n)| n).sum::<u64>();
    println!("\n| operation        |        ok |    errors |      ok/s |");
    println!("|------------------|----------:|----------:|----------:|");
    for k in Kind::ALL {
        let n = ok[k as usize];
        println!("| {:<16} | {n:>9} | {:>9} | {:>9.0} |", k.name(), errors_of(k), n as f64 / elapsed);
    }
    let reads = ok[Kind::Get as usize] + ok[Kind::Page as usize];
    let writes: u64 = Kind::ALL.iter().filter(|k| k.is_write()).map(|k| ok[*k as usize]).sum();
    println!(
        "\nthroughput: {:.0} ops/s in all ({:.0} reads/s, {:.0} writes/s) over {elapsed:.1} s",
        (reads + writes) as f64 / elapsed,
        reads as f64 / elapsed,
        writes as f64 / elapsed
    );
    println!("read latency:  {}", percentiles(std::mem::take(&mut *shared.read_latency.lock().unwrap())));
    println!("write latency: {}", percentiles(std::mem::take(&mut *shared.write_latency.lock().unwrap())));
    println!("(latency of every attempt, failed ones included)");
    if args.load_bulk {
        println!(
            "large transactions: {} committed ({} rows), {} rolled back; duration {}",
            shared.bulk_committed.load(Ordering::Relaxed),
            shared.bulk_rows.load(Ordering::Relaxed),
            shared.bulk_rolled_back.load(Ordering::Relaxed),
            percentiles(std::mem::take(&mut *shared.bulk_latency.lock().unwrap()))
        );
    }
    match bounded("the timer-lag probe", Duration::from_secs(5), lag).await {
        Some(Ok(lags)) => println!("timer lag (a {TICK:?} sleep in a loop, how late it woke): {}", percentiles(lags)),
        other => println!("timer lag: the probe did not finish ({other:?})"),
    }

    let locked: u64 = errors.iter().filter(|((_, class), _)| class.starts_with("database is locked")).map(|(_, n)| n).sum();
    println!("\n\"database is locked\" (Error::Deadlock): {locked}");
    if errors.is_empty() {
        println!("errors: none");
    } else {
        println!("errors:");
        for ((kind, class), n) in &errors {
            println!("  {:<16} {n:>7} × {class}", kind.name());
        }
    }
    if panicked > 0 || stuck > 0 {
        println!("clients panicked: {panicked}; clients still running after the grace period (aborted): {stuck}");
    }

    // No lost writes: every committed insert is in the table.
    let inserted = ok[Kind::Insert as usize] + ok[Kind::Transaction as usize];
    let unknown = shared.unknown_inserts.load(Ordering::Relaxed) + shared.bulk_unknown_rows.load(Ordering::Relaxed);
    let bulk_rows = shared.bulk_rows.load(Ordering::Relaxed);
    let expected = seeded + inserted + bulk_rows;
    let verdict = match bounded("the final count", Duration::from_secs(30), Item::select().count(&db)).await {
        Some(Ok(rows)) => {
            println!(
                "\nrows in table: {rows}; expected: {expected} = {seeded} seeded + {} inserts + {} transactions{}{}",
                ok[Kind::Insert as usize],
                ok[Kind::Transaction as usize],
                if args.load_bulk { format!(" + {bulk_rows} rows of large transactions") } else { String::new() },
                if unknown > 0 { format!(" (+ up to {unknown} whose outcome is unknown: timed out)") } else { String::new() }
            );
            let missing = shared.missing.load(Ordering::Relaxed);
            if missing > 0 {
                println!("rows that must exist but were not found: {missing}");
            }
            rows >= expected && rows <= expected + unknown && missing == 0 && panicked == 0
        }
        Some(Err(e)) => {
            println!("\nthe final count failed: {e}");
            false
        }
        None => false,
    };
    println!("no lost writes: {}", if verdict { "PASS" } else { "FAIL" });

    bounded("closing the database", Duration::from_secs(30), db.close()).await;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    finished.store(true, Ordering::Release);
}
