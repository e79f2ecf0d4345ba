//! almacen against its peers, same schema, same data, one run, printed as ratios.
//!
//! ```text
//! cargo run --release -p almacen-bench -- --backends sqlite,postgres
//! cargo run --release -p almacen-bench -- --backends sqlite --scale 0.1 --rounds 3
//! cargo run --release -p almacen-bench -- --backends sqlite-sqlx,mariadb
//! cargo run --release -p almacen-bench -- --load --load-seconds 30 --load-clients 64
//! cargo build --release -p almacen-bench && target/release/almacen-bench --http --rounds 3
//! taskset -c 0 cargo run --release -p almacen-bench -- --backends sqlite,postgres
//! ```
//!
//! `--backends` takes:
//!
//! - `sqlite`: the SQLite peers (module `sqlite_peers`): rusqlite used directly on one held
//!   connection with `prepare_cached` (the limit), almacen, Diesel 2.3 (r2d2 pool, called
//!   synchronously from the async task), raw sqlx and SeaORM 2, on a file database (WAL,
//!   synchronous=NORMAL) and then in memory. Workloads: get by primary key, a page of 20
//!   rows, paginate (page N of 20 rows with the total: a `COUNT(*)` with the filter, then
//!   the page), 1,000 users with their 10 posts each (two statements: the users, then their
//!   posts with one `IN (…)` per 32,766 ids, grouped per user; almacen through its
//!   `User::POSTS` relation, SeaORM through `LoaderTrait::load_many`), and a single insert
//!   returning the row; then bulk writes (module `bulk`): 10,000 rows as multi-row INSERTs
//!   with the rows read back (`bulk10k`) and without (`bulk10k-plain`), and 10,000 single-row
//!   inserts in one transaction (`insert10k-tx`). Ratios are almacen / rusqlite, almacen /
//!   Diesel, almacen / sqlx, almacen / SeaORM, each marked against its target.
//! - `postgres`, `mariadb`: almacen against raw sqlx and SeaORM 2 (module `seaorm`: get,
//!   page (ten offsets), pages over 500 offsets (sqlx binding LIMIT and OFFSET), paginate, eager load through its `LoaderTrait::load_many`, single insert; count
//!   and bulk insert of 1,000 rows against sqlx alone; 10,000 rows with and without the rows
//!   read back, `bulk10k` and `bulk10k-plain`, against both, SeaORM's RETURNING side
//!   PostgreSQL only) on a scratch database of the server.
//! - `sqlite-sqlx`: almacen against raw sqlx alone on a SQLite file, same workloads.
//! - `sqlite-decimal` (module `decimal`): what `decimal(p, s)` columns cost on SQLite
//!   (`DECIMAL_REAL` for p ≤ 15, `DECIMAL_TEXT` above) against the same model with an `i64`
//!   cents price, and rusqlite with `INTEGER`/`REAL` prices: get, page, sum + avg, insert,
//!   insert of 1,000 rows, on files and in memory. Not in the default `--backends`;
//!   `--sides`, `--databases` and `--ops` narrow it for callgrind.
//!
//! `--migrate` times almacen-migrate's autogenerate on a 100-table schema per backend
//! (module `migrate`) instead.
//!
//! `--http` measures the example shop's HTTP endpoints (GET by id, a list page, POST) against
//! the same endpoints written by hand on axum + sqlx, with `wrk` on loopback (module `http`):
//! `--http-seconds` (10) per round and side, `--http-connections` (64), `--http-threads` (2),
//! `--rounds` rounds, median round's requests/s and p99 per side and their ratio;
//! `--http-split-cores` puts each server on CPU 0 and wrk on CPU 1.
//!
//! `--load` runs the SQLite load test instead (module `load`): `--load-clients` tasks (64)
//! for `--load-seconds` (30) on one almacen file database with default URL parameters, ~80%
//! reads and ~20% writes (inserts, updates by primary key, short transactions); it reports
//! ops/s, p50/p99/max latency of reads and writes, errors per kind ("database is locked"
//! named as such), how late a task sleeping 10 ms in a loop on the same runtime woke (the
//! timer lag: whether anything blocked the runtime), and checks that the row count equals
//! the seeded rows plus the committed inserts (PASS/FAIL). `--load-bulk` adds a task that
//! runs a large transaction every second (100,000 rows, committed or rolled back in turn);
//! `--load-current-thread` runs it all on a current-thread runtime.
//! It is bounded: per-operation timeouts, an abort after a grace period, and a watchdog
//! thread that ends the process if the runtime itself is stuck.
//!
//! Every SQLite file database (every side of `sqlite`, `sqlite-sqlx` and `sqlite-decimal`,
//! and the load test's) runs on one journal mode and `synchronous` level:
//! `--sqlite-journal-mode` (wal, delete, truncate, persist; default wal) and
//! `--sqlite-synchronous` (off, normal, full, extra; default normal), almacen's defaults.
//! almacen gets them in its URL, the others as PRAGMAs or sqlx options, and each side is
//! asked what it runs on before it is measured (module `sqlite_settings`).
//!
//! The pools (almacen's, sqlx's, Diesel's r2d2, SeaORM's) are of the same size and none pings
//! a connection before handing it out (sqlx's, r2d2's and SeaORM's own defaults ping on every
//! acquire, which would flatter almacen).
//!
//! Each workload runs the sides alternately for several rounds; the figure kept per side is
//! the median round, in microseconds per operation. Reads run first, on the seeded 10,000
//! rows; the writes come last, so they do not change what the reads scan. Keep development
//! runs short: `--scale 0.1 --rounds 3`, `--load --load-seconds 5`.

mod bulk;
mod decimal;
mod events;
mod http;
mod http_raw;
mod load;
mod migrate;
mod seaorm;
mod sqlite_peers;
mod sqlite_settings;

use almacen::HasMany;
use almacen::prelude::*;
use clap::Parser;
use sqlite_peers::{RawPost, RawUser, check_eager, check_page};
use sqlx::Row as _;
use std::future::Future;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    about = "almacen vs its peers (raw sqlx, SeaORM; on SQLite also rusqlite and Diesel): per-operation time and ratios; --load: a SQLite load test"
)]
struct Args {
    /// Backends to measure: sqlite (peers: rusqlite, almacen, Diesel, sqlx, SeaORM), postgres
    /// and mariadb (sqlx, almacen, SeaORM), sqlite-sqlx (almacen against raw sqlx alone on SQLite),
    /// sqlite-decimal (decimal columns against i64 cents on SQLite).
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    backends: Vec<String>,
    /// PostgreSQL server URL (a scratch database is created on it and dropped).
    #[arg(long, env = "ALMACEN_TEST_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres_url: String,
    /// MariaDB server URL.
    #[arg(long, env = "ALMACEN_TEST_MYSQL_URL", default_value = "mysql://root@127.0.0.1:3306/test")]
    mysql_url: String,
    /// Rounds per workload and side (the median is reported).
    #[arg(long, default_value_t = 7)]
    rounds: usize,
    /// Scale the operation counts (1.0 = default).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Only these workloads (get, texts500, page, pages500, paginate, count, eager, insert, bulk,
    /// bulk10k, bulk10k-plain; SQLite peers: get, page, pages500, paginate, eager, insert,
    /// bulk10k, bulk10k-plain, insert10k-tx; sqlite-decimal: get, page, sum, insert, bulk); all
    /// when empty.
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// sqlite-decimal: only these sides (rs-int, rs-real, cents, real, text); all when empty.
    #[arg(long, value_delimiter = ',')]
    sides: Vec<String>,
    /// sqlite-decimal: only these databases (file, memory); both when empty.
    #[arg(long, value_delimiter = ',')]
    databases: Vec<String>,
    /// sqlite-decimal: operations per round and side, instead of each workload's scaled count
    /// (for callgrind: `--rounds 1`, then --ops 2N minus --ops N is N operations).
    #[arg(long)]
    ops: Option<usize>,
    /// Skip ANALYZE after seeding (the tables' statistics then are the server's guesses).
    #[arg(long)]
    no_analyze: bool,
    /// SQLite files: the journal mode every side runs on (wal, delete, truncate, persist).
    #[arg(long, default_value = "wal")]
    sqlite_journal_mode: almacen::JournalMode,
    /// SQLite files: the synchronous level every side runs on (off, normal, full, extra).
    #[arg(long, default_value = "normal")]
    sqlite_synchronous: almacen::Synchronous,
    /// Run the SQLite load test instead of the comparisons.
    #[arg(long)]
    load: bool,
    /// Time almacen-migrate's autogenerate on a 100-table schema on each backend instead.
    #[arg(long)]
    migrate: bool,
    /// HTTP instead: the shop (examples/shop) against the same endpoints by hand on axum +
    /// sqlx, each in a child process, loaded by wrk on loopback (module `http`).
    #[arg(long)]
    http: bool,
    /// HTTP: how long wrk runs per round and side, in seconds.
    #[arg(long, default_value_t = 10)]
    http_seconds: u64,
    /// HTTP: wrk's open connections (-c).
    #[arg(long, default_value_t = 64)]
    http_connections: usize,
    /// HTTP: wrk's threads (-t).
    #[arg(long, default_value_t = 2)]
    http_threads: usize,
    /// Events instead: PostgreSQL's outbox relayed to NATS JetStream by 1, 2 and 4 relays
    /// (events/s), then the write-to-publish delay at a steady 1,000 events/s (module
    /// `events`).
    #[arg(long)]
    events: bool,
    /// Events: rows in the outbox for the throughput runs.
    #[arg(long, default_value_t = 20_000)]
    events_count: usize,
    /// Events: the NATS server.
    #[arg(long, env = "ALMACEN_TEST_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// HTTP: each server on CPU 0 and wrk on CPU 1 (`taskset`), so that the server has one
    /// core of its own rather than sharing it with the load generator.
    #[arg(long)]
    http_split_cores: bool,
    /// HTTP (internal: what `--http` starts as a child process): serve this side (sqlx or
    /// almacen) on `--http-port` over the SQLite file `--http-db` until killed.
    #[arg(long, requires_all = ["http_db", "http_port"])]
    http_serve: Option<String>,
    /// HTTP server (internal): the SQLite file.
    #[arg(long)]
    http_db: Option<std::path::PathBuf>,
    /// HTTP server (internal): the port on 127.0.0.1.
    #[arg(long)]
    http_port: Option<u16>,
    /// Load test: how long the clients run, in seconds.
    #[arg(long, default_value_t = 30)]
    load_seconds: u64,
    /// Load test: concurrent tasks.
    #[arg(long, default_value_t = 64)]
    load_clients: usize,
    /// Load test: one more task runs a large transaction every second (an INSERT … SELECT
    /// of 100,000 rows, a new SQL text each time), committing every other one and rolling
    /// back the rest.
    #[arg(long)]
    load_bulk: bool,
    /// Load test: run on a current-thread runtime (one thread for every task: whatever
    /// SQLite runs in place holds up everything, the timer-lag probe included) instead of
    /// the default multi-thread one.
    #[arg(long)]
    load_current_thread: bool,
}

impl Args {
    /// The settings of every SQLite file database the run opens.
    fn sqlite_file(&self) -> sqlite_settings::SqliteFile {
        sqlite_settings::SqliteFile { journal: self.sqlite_journal_mode, sync: self.sqlite_synchronous }
    }
}

#[derive(Model, Debug, Clone)]
#[model(table = "bench_items")]
struct Item {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 100)]
    name: String,
    stock: i32,
    price: f64,
    active: bool,
}

/// The same row, decoded by hand the way a raw sqlx user would.
#[allow(dead_code)]
struct RawItem {
    id: i64,
    name: String,
    stock: i32,
    price: f64,
    active: bool,
}

const SEED_ROWS: i64 = 10_000;

#[derive(Model, Debug, Clone)]
#[model(table = "bench_users")]
struct User {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 100)]
    name: String,
}

#[derive(Model, Debug, Clone)]
#[model(table = "bench_posts")]
struct Post {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = "bench_users.id", index)]
    user_id: i64,
    #[model(max_len = 200)]
    title: String,
}

impl User {
    const POSTS: HasMany<User, Post> = HasMany::new(Post::USER_ID);
}

/// 1,000 users with 10 posts each (posts interleaved, as if written over time).
async fn seed_users(db: &Database) {
    use sqlite_peers::{POSTS_PER_USER, USERS};
    db.drop_tables(&[Post::TABLE, User::TABLE]).await.unwrap();
    db.create_tables(&[User::TABLE, Post::TABLE]).await.unwrap();
    let users = (0..USERS).map(|i| NewUser { name: format!("user {i}") }).collect();
    let users = User::insert_many(db, users).await.unwrap();
    let posts = (0..USERS * POSTS_PER_USER)
        .map(|j| NewPost { user_id: users[(j % USERS) as usize].id, title: format!("post {j} of user {}", j % USERS) })
        .collect();
    Post::insert_many(db, posts).await.unwrap();
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
    MySql(sqlx::MySqlPool),
}

macro_rules! raw_item {
    ($row:expr) => {{
        let r = $row;
        RawItem { id: r.get(0), name: r.get(1), stock: r.get(2), price: r.get(3), active: r.get(4) }
    }};
}
pub(crate) use raw_item;

impl Raw {
    fn ph(&self, n: usize) -> String {
        match self {
            Raw::Postgres(_) => format!("${n}"),
            _ => "?".into(),
        }
    }

    async fn get(&self, id: i64) -> Option<RawItem> {
        let sql = format!("SELECT id, name, stock, price, active FROM bench_items WHERE id = {}", self.ph(1));
        let sql = sqlx::AssertSqlSafe(sql);
        match self {
            Raw::Sqlite(p) => sqlx::query(sql).bind(id).fetch_optional(p).await.unwrap().map(|r| raw_item!(r)),
            Raw::Postgres(p) => sqlx::query(sql).bind(id).fetch_optional(p).await.unwrap().map(|r| raw_item!(r)),
            Raw::MySql(p) => sqlx::query(sql).bind(id).fetch_optional(p).await.unwrap().map(|r| raw_item!(r)),
        }
    }

    /// A lookup whose key is written into the text: a new statement for every id.
    async fn get_literal(&self, id: i64) -> Option<RawItem> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT id, name, stock, price, active FROM bench_items WHERE id = {id}"));
        match self {
            Raw::Sqlite(p) => sqlx::query(sql).fetch_optional(p).await.unwrap().map(|r| raw_item!(r)),
            Raw::Postgres(p) => sqlx::query(sql).fetch_optional(p).await.unwrap().map(|r| raw_item!(r)),
            Raw::MySql(p) => sqlx::query(sql).fetch_optional(p).await.unwrap().map(|r| raw_item!(r)),
        }
    }

    async fn insert(&self, name: &str, stock: i32) -> RawItem {
        let sql = format!(
            "INSERT INTO bench_items (name, stock, price, active) VALUES ({}, {}, {}, {}) RETURNING id, name, stock, price, active",
            self.ph(1),
            self.ph(2),
            self.ph(3),
            self.ph(4)
        );
        let sql = sqlx::AssertSqlSafe(sql);
        match self {
            Raw::Sqlite(p) => raw_item!(sqlx::query(sql).bind(name).bind(stock).bind(1.5f64).bind(true).fetch_one(p).await.unwrap()),
            Raw::Postgres(p) => raw_item!(sqlx::query(sql).bind(name).bind(stock).bind(1.5f64).bind(true).fetch_one(p).await.unwrap()),
            Raw::MySql(p) => raw_item!(sqlx::query(sql).bind(name).bind(stock).bind(1.5f64).bind(true).fetch_one(p).await.unwrap()),
        }
    }

    async fn insert_many(&self, n: usize) -> Vec<RawItem> {
        macro_rules! build {
            ($db:ty) => {{
                let mut qb = sqlx::QueryBuilder::<$db>::new("INSERT INTO bench_items (name, stock, price, active) ");
                qb.push_values(0..n, |mut b, i| {
                    b.push_bind(format!("bulk {i}")).push_bind(i as i32).push_bind(2.5f64).push_bind(i % 2 == 0);
                });
                qb.push(" RETURNING id, name, stock, price, active");
                qb
            }};
        }
        match self {
            Raw::Sqlite(p) => build!(sqlx::Sqlite).build().fetch_all(p).await.unwrap().into_iter().map(|r| raw_item!(r)).collect(),
            Raw::Postgres(p) => build!(sqlx::Postgres).build().fetch_all(p).await.unwrap().into_iter().map(|r| raw_item!(r)).collect(),
            Raw::MySql(p) => build!(sqlx::MySql).build().fetch_all(p).await.unwrap().into_iter().map(|r| raw_item!(r)).collect(),
        }
    }

    async fn page(&self, min_stock: i32, offset: i64) -> Vec<RawItem> {
        let sql = format!(
            "SELECT id, name, stock, price, active FROM bench_items WHERE stock > {} ORDER BY id LIMIT 20 OFFSET {offset}",
            self.ph(1)
        );
        let sql = sqlx::AssertSqlSafe(sql);
        match self {
            Raw::Sqlite(p) => sqlx::query(sql).bind(min_stock).fetch_all(p).await.unwrap().into_iter().map(|r| raw_item!(r)).collect(),
            Raw::Postgres(p) => sqlx::query(sql).bind(min_stock).fetch_all(p).await.unwrap().into_iter().map(|r| raw_item!(r)).collect(),
            Raw::MySql(p) => sqlx::query(sql).bind(min_stock).fetch_all(p).await.unwrap().into_iter().map(|r| raw_item!(r)).collect(),
        }
    }

    /// A page with LIMIT and OFFSET bound as parameters, as a sqlx user writes a list
    /// endpoint: one statement text for every page.
    async fn page_bound(&self, min_stock: i32, offset: i64) -> Vec<RawItem> {
        let sql = format!(
            "SELECT id, name, stock, price, active FROM bench_items WHERE stock > {} ORDER BY id LIMIT {} OFFSET {}",
            self.ph(1),
            self.ph(2),
            self.ph(3)
        );
        let sql = sqlx::AssertSqlSafe(sql);
        macro_rules! run {
            ($p:expr) => {
                sqlx::query(sql)
                    .bind(min_stock)
                    .bind(20i64)
                    .bind(offset)
                    .fetch_all($p)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| raw_item!(r))
                    .collect()
            };
        }
        match self {
            Raw::Sqlite(p) => run!(p),
            Raw::Postgres(p) => run!(p),
            Raw::MySql(p) => run!(p),
        }
    }

    async fn count(&self, min_stock: i32) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM bench_items WHERE stock > {}", self.ph(1));
        let sql = sqlx::AssertSqlSafe(sql);
        match self {
            Raw::Sqlite(p) => sqlx::query(sql).bind(min_stock).fetch_one(p).await.unwrap().get(0),
            Raw::Postgres(p) => sqlx::query(sql).bind(min_stock).fetch_one(p).await.unwrap().get(0),
            Raw::MySql(p) => sqlx::query(sql).bind(min_stock).fetch_one(p).await.unwrap().get(0),
        }
    }

    /// A numbered page (from 1) with its total: the count, then the page.
    async fn paginate(&self, min_stock: i32, page: i64) -> (Vec<RawItem>, i64) {
        let total = self.count(min_stock).await;
        (self.page(min_stock, (page - 1) * 20).await, total)
    }

    /// The first 1,000 users, then their posts with one `IN (…)` per chunk of ids, grouped
    /// per user.
    async fn eager(&self) -> Vec<(RawUser, Vec<RawPost>)> {
        use sqlite_peers::{MAX_PARAMS, USERS_SQL, posts_in_sql};
        macro_rules! run {
            ($p:expr) => {{
                let users: Vec<RawUser> = sqlx::query(USERS_SQL)
                    .fetch_all($p)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| RawUser { id: r.get(0), name: r.get(1) })
                    .collect();
                let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
                let mut posts = Vec::new();
                for chunk in ids.chunks(MAX_PARAMS) {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(posts_in_sql(chunk.len(), |n| self.ph(n))));
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    posts.extend(q.fetch_all($p).await.unwrap().into_iter().map(|r| RawPost {
                        id: r.get(0),
                        user_id: r.get(1),
                        title: r.get(2),
                    }));
                }
                sqlite_peers::group(users, posts, |u| u.id, |p| p.user_id)
            }};
        }
        match self {
            Raw::Sqlite(p) => run!(p),
            Raw::Postgres(p) => run!(p),
            Raw::MySql(p) => run!(p),
        }
    }

    async fn close(&self) {
        match self {
            Raw::Sqlite(p) => p.close().await,
            Raw::Postgres(p) => p.close().await,
            Raw::MySql(p) => p.close().await,
        }
    }
}

/// Time `ops` calls of `f`, returning microseconds per call.
async fn time_ops<F, Fut>(ops: usize, mut f: F) -> f64
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let start = Instant::now();
    for i in 0..ops {
        f(i).await;
    }
    start.elapsed().as_secs_f64() * 1e6 / ops as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Run the sides (raw sqlx, almacen, and SeaORM when `sea` is given) in turn for `rounds`
/// rounds, the side that starts rotating each round, after one untimed warm-up each; print
/// the medians and the ratios. `key` is the workload's name for `--workloads`.
#[allow(clippy::too_many_arguments)]
async fn compare<R, RF, A, AF, S, SF>(label: &str, key: &str, args: &Args, ops: usize, mut raw: R, mut ours: A, mut sea: Option<S>)
where
    R: FnMut(usize) -> RF,
    RF: Future<Output = ()>,
    A: FnMut(usize) -> AF,
    AF: Future<Output = ()>,
    S: FnMut(usize) -> SF,
    SF: Future<Output = ()>,
{
    if !args.workloads.is_empty() && !args.workloads.iter().any(|w| w == key) {
        return;
    }
    // One untimed warm-up round each: statement caches, pool connections.
    let warm = ops.min(200);
    time_ops(warm, &mut raw).await;
    time_ops(warm, &mut ours).await;
    if let Some(sea) = sea.as_mut() {
        time_ops(warm, sea).await;
    }
    let sides = if sea.is_some() { 3 } else { 2 };
    let mut t: [Vec<f64>; 3] = Default::default();
    for round in 0..args.rounds {
        for k in 0..sides {
            let side = (round + k) % sides;
            let us = match (side, sea.as_mut()) {
                (0, _) => time_ops(ops, &mut raw).await,
                (1, _) => time_ops(ops, &mut ours).await,
                (_, Some(sea)) => time_ops(ops, sea).await,
                (_, None) => unreachable!(),
            };
            t[side].push(us);
        }
    }
    let (r, a) = (median(std::mem::take(&mut t[0])), median(std::mem::take(&mut t[1])));
    let (so, vs_so) = if sea.is_some() {
        let so = median(std::mem::take(&mut t[2]));
        (format!("{so:.1}"), format!("{:.3}×", a / so))
    } else {
        ("—".into(), "—".into())
    };
    println!("| {label:<24} | {r:>10.1} | {a:>13.1} | {so:>12} | {:>11.3}× | {vs_so:>14} |", a / r);
}

/// No SeaORM side (workloads it is not measured on, or `sqlite-sqlx`, which is two-sided).
fn no_sea() -> Option<fn(usize) -> std::future::Ready<()>> {
    None
}

/// Which offset a page workload asks for in its `i`th operation.
type Offsets = fn(usize) -> i64;

/// Ten offsets, 0 to 180: they fit every statement cache even as literals.
fn offset10(i: usize) -> i64 {
    (i % 10) as i64 * 20
}

/// 500 different offsets (0 to 8,483), visited out of order: a list endpoint's traffic.
fn offset500(i: usize) -> i64 {
    ((i * 7919) % 500) as i64 * 17
}

/// almacen's page of 20 rows with stock above 10, as the README writes a page.
async fn almacen_page(db: &Database, offset: i64) -> Vec<Item> {
    Item::select().filter(Item::STOCK.gt(10)).order_by(Item::ID.asc()).limit(20).offset(offset as u64).fetch_all(db).await.unwrap()
}

fn scaled(n: usize, scale: f64) -> usize {
    ((n as f64 * scale) as usize).max(1)
}

async fn seed(db: &Database, analyze: bool) {
    db.drop_tables(&[Item::TABLE]).await.unwrap();
    db.create_tables(&[Item::TABLE]).await.unwrap();
    let rows: Vec<NewItem> = (0..SEED_ROWS)
        .map(|i| NewItem { name: format!("item {i}"), stock: (i % 100) as i32, price: i as f64 / 10.0, active: i % 3 == 0 })
        .collect();
    Item::insert_many(db, rows).await.unwrap();
    // Statistics as a server that has run for a while has them. Without them PostgreSQL
    // guesses a third of the rows match, and a page at a large literal OFFSET gets a sort
    // of the whole table where an index scan is 2x faster; which plan a bound OFFSET gets
    // then depends on the first offsets the statement saw.
    if analyze {
        let sql = match db.dialect() {
            almacen::Dialect::Postgres => "ANALYZE bench_items",
            almacen::Dialect::MySql => "ANALYZE TABLE bench_items",
            almacen::Dialect::Sqlite => "ANALYZE",
        };
        db.execute_raw(sql, params! {}).await.unwrap();
    }
}

async fn bench_backend(name: &str, url: &str, args: &Args) {
    let db = Database::connect(url).await.unwrap_or_else(|e| panic!("connect {url}: {e}"));
    seed(&db, !args.no_analyze).await;
    seed_users(&db).await;
    let options = db.options().clone();
    let raw = match db.dialect() {
        almacen::Dialect::Sqlite => Raw::Sqlite(
            sqlx::pool::PoolOptions::new()
                .max_connections(options.max_connections)
                .test_before_acquire(false)
                .connect_with(
                    options
                        .driver_url()
                        .parse::<sqlx::sqlite::SqliteConnectOptions>()
                        .map(|o| args.sqlite_file().sqlx(o))
                        .unwrap(),
                )
                .await
                .unwrap(),
        ),
        almacen::Dialect::Postgres => Raw::Postgres(
            sqlx::pool::PoolOptions::new()
                .max_connections(options.max_connections)
                .test_before_acquire(false)
                .connect(options.driver_url())
                .await
                .unwrap(),
        ),
        almacen::Dialect::MySql => Raw::MySql(
            sqlx::pool::PoolOptions::new()
                .max_connections(options.max_connections)
                .test_before_acquire(false)
                .after_connect(|conn, _| Box::pin(async move { sqlx::Executor::execute(conn, "SET SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO')").await.map(|_| ()) }))
                .connect(options.driver_url())
                .await
                .unwrap(),
        ),
    };
    if let Raw::Sqlite(p) = &raw {
        let file = args.sqlite_file();
        let a = db.fetch_one_raw(sqlite_settings::PRAGMAS_SQL, params! {}).await.unwrap();
        file.check("almacen", &a.get::<String>("journal_mode").unwrap(), a.get::<i64>("synchronous").unwrap());
        let (journal, sync): (String, i64) = sqlx::query_as(sqlite_settings::PRAGMAS_SQL).fetch_one(p).await.unwrap();
        file.check("sqlx", &journal, sync);
    }
    // SeaORM on the servers (SQLite has its own five-sided table), with a pool of the same
    // size and no pre-ping either.
    let sea = match db.dialect() {
        almacen::Dialect::Sqlite => None,
        _ => Some(seaorm::connect(options.driver_url(), options.max_connections).await),
    };
    let sea = sea.as_ref();
    println!("\n### {name}\n");
    println!("| workload                 | sqlx µs/op | almacen µs/op | SeaORM µs/op | almacen/sqlx | almacen/SeaORM |");
    println!("|--------------------------|-----------:|--------------:|-------------:|-------------:|---------------:|");
    run_workloads(args, &raw, &db, sea).await;
    if let Some(sea) = sea {
        sea.close_by_ref().await.unwrap();
    }
    raw.close().await;
    db.drop_tables(&[Post::TABLE, User::TABLE, Item::TABLE]).await.unwrap();
    db.close().await;
}

/// The server (and `sqlite-sqlx`) workloads, reads first, writes last.
async fn run_workloads(args: &Args, raw: &Raw, db: &Database, sea: Option<&sea_orm::DatabaseConnection>) {
    let s = args.scale;
    let id = |i: usize| (i as i64 * 7919) % SEED_ROWS + 1;
    let page = |i: usize| (i % 10) as i64 + 1;
    compare(
        "get by primary key",
        "get",
        args,
        scaled(2000, s),
        |i| async move {
            assert!(raw.get(id(i)).await.is_some());
        },
        |i| async move {
            assert!(Item::get(db, id(i)).await.unwrap().is_some());
        },
        sea.map(|c| {
            move |i| async move {
                assert!(seaorm::get(c, id(i)).await.is_some());
            }
        }),
    )
    .await;
    // Raw SQL with the key in the text, 500 different texts: past the driver's statement
    // cache (100 per connection) each run prepares, and evicts an older statement.
    let id500 = |i: usize| ((i * 7919) % 500) as i64 + 1;
    compare(
        "raw SQL, 500 texts",
        "texts500",
        args,
        scaled(1000, s),
        |i| async move {
            assert!(raw.get_literal(id500(i)).await.is_some());
        },
        |i| async move {
            let sql = format!("SELECT id, name, stock, price, active FROM bench_items WHERE id = {}", id500(i));
            assert!(db.fetch_optional_raw(&sql, params! {}).await.unwrap().is_some());
        },
        None::<fn(usize) -> std::future::Ready<()>>,
    )
    .await;
    compare(
        "page of 20 rows",
        "page",
        args,
        scaled(1000, s),
        |i| async move {
            assert_eq!(raw.page(10, offset10(i)).await.len(), 20);
        },
        |i| async move {
            assert_eq!(almacen_page(db, offset10(i)).await.len(), 20);
        },
        sea.map(|c| {
            move |i| async move {
                assert_eq!(seaorm::page(c, 10, offset10(i) as u64).await.len(), 20);
            }
        }),
    )
    .await;
    compare(
        "page of 20, 500 offsets",
        "pages500",
        args,
        scaled(1000, s),
        |i| async move {
            assert_eq!(raw.page_bound(10, offset500(i)).await.len(), 20);
        },
        |i| async move {
            assert_eq!(almacen_page(db, offset500(i)).await.len(), 20);
        },
        sea.map(|c| {
            move |i| async move {
                assert_eq!(seaorm::page(c, 10, offset500(i) as u64).await.len(), 20);
            }
        }),
    )
    .await;
    compare(
        "paginate (count + page)",
        "paginate",
        args,
        scaled(500, s),
        |i| async move {
            let (items, total) = raw.paginate(10, page(i)).await;
            check_page(&items, total);
        },
        |i| async move {
            let p = Item::select().filter(Item::STOCK.gt(10)).order_by(Item::ID.asc()).paginate(db, page(i) as u64, 20).await.unwrap();
            check_page(&p.items, p.total);
        },
        sea.map(|c| {
            move |i| async move {
                let (items, total) = seaorm::paginate(c, 10, page(i) as u64).await;
                check_page(&items, total);
            }
        }),
    )
    .await;
    compare(
        "count with a filter",
        "count",
        args,
        scaled(500, s),
        |i| async move {
            assert!(raw.count((i % 50) as i32).await > 0);
        },
        |i| async move {
            assert!(Item::select().filter(Item::STOCK.gt((i % 50) as i32)).count(db).await.unwrap() > 0);
        },
        no_sea(),
    )
    .await;
    compare(
        "1,000 users × 10 posts",
        "eager",
        args,
        scaled(20, s),
        |_| async move {
            check_eager(&raw.eager().await);
        },
        |_| async move {
            check_eager(&sqlite_peers::almacen_eager(db).await);
        },
        sea.map(|c| {
            move |_| async move {
                check_eager(&seaorm::eager(c).await);
            }
        }),
    )
    .await;
    // Writes last, so they do not change what the reads scan.
    compare(
        "single insert",
        "insert",
        args,
        scaled(1000, s),
        |i| async move {
            raw.insert("single", i as i32).await;
        },
        |i| async move {
            Item::insert(db, NewItem { name: "single".into(), stock: i as i32, price: 1.5, active: true }).await.unwrap();
        },
        sea.map(|c| {
            move |i| async move {
                seaorm::insert(c, "single", i as i32).await;
            }
        }),
    )
    .await;
    compare(
        "insert 1,000 rows",
        "bulk",
        args,
        scaled(10, s),
        |_| async move {
            assert_eq!(raw.insert_many(1000).await.len(), 1000);
        },
        |_| async move {
            let rows = (0..1000).map(|i| NewItem { name: format!("bulk {i}"), stock: i, price: 2.5, active: i % 2 == 0 }).collect();
            assert_eq!(Item::insert_many(db, rows).await.unwrap().len(), 1000);
        },
        no_sea(),
    )
    .await;
    // 10,000 rows with and without the stored rows read back (module `bulk`).
    let n = bulk::BULK_ROWS;
    let max_params = db.dialect().max_bind_params();
    for (key, label, returning) in [("bulk10k", "10k rows, RETURNING", true), ("bulk10k-plain", "10k rows, no RETURNING", false)] {
        // SeaORM refuses INSERT … RETURNING on MariaDB (without its mariadb-use-returning).
        let sea = sea.filter(|_| !returning || db.dialect() != almacen::Dialect::MySql);
        compare(
            label,
            key,
            args,
            scaled(4, s),
            |_| async move {
                assert_eq!(raw.bulk(n, returning).await, n);
            },
            |_| async move {
                assert_eq!(bulk::almacen_bulk(db, n, returning).await, n);
            },
            sea.map(|c| {
                move |_| async move {
                    assert_eq!(bulk::seaorm_bulk(c, n, returning, max_params).await, n);
                }
            }),
        )
        .await;
    }
}

/// A scratch database on a server: created now, dropped by the returned guard's `drop_db`.
pub(crate) async fn scratch_server_db(admin_url: &str, postgres: bool) -> Option<(String, Database, String)> {
    let admin = match Database::connect(&format!("{admin_url}{}connect_timeout=3s", if admin_url.contains('?') { "&" } else { "?" })).await
    {
        Ok(db) => db,
        Err(e) => {
            println!("\n(skipped {admin_url}: {e})");
            return None;
        }
    };
    let name = format!("almacen_bench_{}", uuid::Uuid::new_v4().simple());
    admin.execute_raw(&format!("CREATE DATABASE {name}"), params! {}).await.unwrap();
    let base = admin_url.split('?').next().unwrap();
    let cut = base.rfind('/').unwrap();
    let url = format!("{}/{name}", &base[..cut]);
    let drop = if postgres { format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)") } else { format!("DROP DATABASE IF EXISTS {name}") };
    Some((url, admin, drop))
}

fn main() {
    let args = Args::parse();
    if let (Some(side), Some(db), Some(port)) = (&args.http_serve, &args.http_db, args.http_port) {
        // A server of `--http`: its own process and runtime (multi-thread, default size).
        http::serve(side, db, port);
        return;
    }
    let mut runtime = if args.load && args.load_current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    runtime.enable_all().build().expect("a tokio runtime").block_on(run(args));
}

async fn run(args: Args) {
    if args.load {
        load::run(&args).await;
        return;
    }
    if args.migrate {
        migrate::run(&args).await;
        return;
    }
    if args.http {
        http::run(&args).await;
        return;
    }
    if args.events {
        events::run(&args).await;
        return;
    }
    println!("almacen-bench: {} rounds per side, median µs per operation", args.rounds);
    for backend in &args.backends {
        match backend.as_str() {
            "sqlite" => sqlite_peers::run(&args).await,
            "sqlite-decimal" => decimal::run(&args).await,
            "sqlite-sqlx" => {
                println!("\nalmacen vs raw sqlx; ratio = almacen / sqlx");
                let path = std::env::temp_dir().join(format!("almacen-bench-{}.db", uuid::Uuid::new_v4().simple()));
                let file = args.sqlite_file();
                bench_backend(&format!("SQLite (file, {})", file.label()), &file.url(&path), &args).await;
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            "postgres" | "mariadb" => {
                let pg = backend == "postgres";
                let admin_url = if pg { &args.postgres_url } else { &args.mysql_url };
                println!("\nalmacen vs raw sqlx and SeaORM; ratios = almacen / sqlx, almacen / SeaORM");
                if let Some((url, admin, drop)) = scratch_server_db(admin_url, pg).await {
                    bench_backend(if pg { "PostgreSQL" } else { "MariaDB" }, &url, &args).await;
                    admin.execute_raw(&drop, params! {}).await.unwrap();
                    admin.close().await;
                }
            }
            other => eprintln!("unknown backend {other:?} (expected sqlite, sqlite-sqlx, sqlite-decimal, postgres, mariadb)"),
        }
    }
}
