//! SQLite peers: almacen against rusqlite used directly (the limit), Diesel, raw sqlx and SeaORM, on
//! the same schema and data, once on a file database (journal mode and synchronous level from
//! `--sqlite-journal-mode` and `--sqlite-synchronous`, by default almacen's WAL and NORMAL,
//! the same on every side and checked on each) and once in memory.
//!
//! Every side links the same libsqlite3-sys (sqlx 0.9's), so the SQLite library is the same;
//! what differs is the layer above it. Each side has its own database, built from one
//! template that almacen creates and seeds (same DDL, same rows, same ids), so no side's
//! writes touch another side's pages or WAL:
//!
//! - rusqlite: one connection held for the whole run, statements from `prepare_cached`;
//! - almacen: `Database::connect("sqlite://file")` / `sqlite::memory:`, its default pool;
//! - Diesel 2.3: synchronous, r2d2 pool of the same size, called directly from the async task
//!   as a Diesel user would (no `spawn_blocking`);
//! - sqlx: `SqlitePool` of the same size;
//! - SeaORM 2: `ConnectOptions` with a pool of the same size (module `seaorm`).
//!
//! No pool pings a connection before handing it out (r2d2's `test_on_check_out` and sqlx's
//! and SeaORM's `test_before_acquire` are off, as almacen's `pre_ping` is by default).

use crate::sqlite_settings::{DieselPragmas, PRAGMAS_SQL, SqliteFile};
use crate::{Args, Item, NewItem, Post, Raw, RawItem, User, median, scaled, time_ops};
use almacen::prelude::*;
use diesel::prelude::*;
use rusqlite::OptionalExtension as _;
use sqlx::Row as _;
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// SQLite's limit on bound parameters per statement (SQLITE_MAX_VARIABLE_NUMBER since 3.32);
/// the servers' limit (65,535) is higher, so the servers' raw side chunks by it too.
pub(crate) const MAX_PARAMS: usize = 32_766;
pub(crate) const USERS: i64 = 1_000;
pub(crate) const POSTS_PER_USER: i64 = 10;

/// What almacen is measured against (printed above each table).
const TARGET_VS_RUSQLITE: f64 = 1.3;
const TARGET_VS_DIESEL: f64 = 1.0;
const TARGET_VS_SQLX: f64 = 0.5;
const TARGET_VS_SEAORM: f64 = 1.0;

/// Users and posts decoded by hand (rusqlite, sqlx).
#[allow(dead_code)]
pub(crate) struct RawUser {
    pub(crate) id: i64,
    pub(crate) name: String,
}

#[allow(dead_code)]
pub(crate) struct RawPost {
    pub(crate) id: i64,
    pub(crate) user_id: i64,
    pub(crate) title: String,
}

/// The Diesel side: the schema as `diesel print-schema` would write it, and its models.
pub(crate) mod dsl {
    diesel::table! {
        bench_items (id) {
            id -> BigInt,
            name -> Text,
            stock -> Integer,
            price -> Double,
            active -> Bool,
        }
    }
    diesel::table! {
        bench_users (id) {
            id -> BigInt,
            name -> Text,
        }
    }
    diesel::table! {
        bench_posts (id) {
            id -> BigInt,
            user_id -> BigInt,
            title -> Text,
        }
    }
    diesel::joinable!(bench_posts -> bench_users (user_id));
    diesel::allow_tables_to_appear_in_same_query!(bench_items, bench_users, bench_posts);

    use diesel::prelude::*;

    #[derive(Queryable, Selectable, Debug)]
    #[diesel(table_name = bench_items, check_for_backend(diesel::sqlite::Sqlite))]
    #[allow(dead_code)]
    pub struct DItem {
        pub id: i64,
        pub name: String,
        pub stock: i32,
        pub price: f64,
        pub active: bool,
    }

    #[derive(Insertable)]
    #[diesel(table_name = bench_items)]
    pub struct DNewItem<'a> {
        pub name: &'a str,
        pub stock: i32,
        pub price: f64,
        pub active: bool,
    }

    #[derive(Queryable, Selectable, Identifiable, Debug)]
    #[diesel(table_name = bench_users, check_for_backend(diesel::sqlite::Sqlite))]
    #[allow(dead_code)]
    pub struct DUser {
        pub id: i64,
        pub name: String,
    }

    #[derive(Queryable, Selectable, Identifiable, Associations, Debug)]
    #[diesel(table_name = bench_posts, belongs_to(DUser, foreign_key = user_id), check_for_backend(diesel::sqlite::Sqlite))]
    #[allow(dead_code)]
    pub struct DPost {
        pub id: i64,
        pub user_id: i64,
        pub title: String,
    }
}
use dsl::{DItem, DNewItem, DPost, DUser, bench_items, bench_users};

pub(crate) type DieselPool = diesel::r2d2::Pool<diesel::r2d2::ConnectionManager<diesel::SqliteConnection>>;

/// The PRAGMAs almacen sets on each connection, for the sides that set them by hand: on a
/// file (`Some`) with its journal mode and synchronous level, in memory (`None`) without.
fn pragmas(file: Option<SqliteFile>) -> String {
    match file {
        Some(file) => file.pragmas(),
        None => "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;".into(),
    }
}

#[derive(Debug)]
struct Pragmas(String);

impl diesel::r2d2::CustomizeConnection<diesel::SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut diesel::SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        use diesel::connection::SimpleConnection as _;
        conn.batch_execute(&self.0).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The five sides on one kind of database.
struct Sides {
    rusqlite: rusqlite::Connection,
    almacen: Database,
    diesel: DieselPool,
    sqlx: sqlx::SqlitePool,
    seaorm: sea_orm::DatabaseConnection,
}

/// Create the template database with almacen and seed it: the items of the main bench, and
/// 1,000 users with 10 posts each (posts interleaved, as if written over time).
async fn make_template(path: &Path) {
    let db = Database::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    crate::seed(&db, false).await;
    crate::seed_users(&db).await;
    db.close().await;
}

/// The statements that rebuild the template in an empty database: its DDL as almacen wrote
/// it, then a copy of every row (ids included) through ATTACH. The template is attached by
/// URI with `mode=ro`: a connection opened with SQLITE_OPEN_MEMORY (sqlx's `sqlite::memory:`)
/// would otherwise attach an empty in-memory database in its place.
fn setup_sql(template: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(template).unwrap();
    let mut st = conn.prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid").unwrap();
    let mut out: Vec<String> = st.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
    let mut uri = String::from("file:");
    for c in template.display().to_string().chars() {
        match c {
            '%' | '?' | '#' => uri.push_str(&format!("%{:02X}", c as u32)),
            '\'' => uri.push_str("''"),
            c => uri.push(c),
        }
    }
    out.push(format!("ATTACH DATABASE '{uri}?mode=ro' AS seed"));
    for t in [Item::TABLE.name, User::TABLE.name, Post::TABLE.name] {
        out.push(format!("INSERT INTO main.\"{t}\" SELECT * FROM seed.\"{t}\""));
    }
    out.push("DETACH DATABASE seed".into());
    out
}

fn remove_db_files(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Open the five sides on their own files, each a copy of the template, all on `settings`
/// (checked on each side once open).
async fn open_file_sides(base: &Path, setup: &[String], settings: SqliteFile) -> (Sides, Vec<PathBuf>) {
    let file = |side: &str| PathBuf::from(format!("{}-{side}.db", base.display()));
    let paths = vec![file("rusqlite"), file("almacen"), file("diesel"), file("sqlx"), file("seaorm")];
    for p in &paths {
        // Each copy is built before its side connects, with the side's own journal settings.
        let c = rusqlite::Connection::open(p).unwrap();
        c.execute_batch(&pragmas(Some(settings))).unwrap();
        for s in setup {
            c.execute_batch(s).unwrap();
        }
    }
    // (More of almacen's URL parameters from the environment, `?` or `&` first, for trying them.)
    let mut almacen_url = settings.url(&paths[1]);
    if let Ok(more) = std::env::var("ALMACEN_BENCH_SQLITE_PARAMS")
        && !more.is_empty()
    {
        almacen_url = format!("{almacen_url}&{}", more.trim_start_matches(['?', '&']));
    }
    let almacen = Database::connect(&almacen_url).await.unwrap_or_else(|e| panic!("connect {almacen_url}: {e}"));
    let pool_size = almacen.options().max_connections;
    let rusqlite = rusqlite::Connection::open(&paths[0]).unwrap();
    rusqlite.execute_batch(&pragmas(Some(settings))).unwrap();
    rusqlite.set_prepared_statement_cache_capacity(64);
    let diesel = diesel::r2d2::Pool::builder()
        .max_size(pool_size)
        .test_on_check_out(false)
        .connection_customizer(Box::new(Pragmas(pragmas(Some(settings)))))
        .build(diesel::r2d2::ConnectionManager::new(paths[2].display().to_string()))
        .unwrap();
    let sqlx = sqlx::pool::PoolOptions::new()
        .max_connections(pool_size)
        .test_before_acquire(false)
        .connect_with(
            settings
                .sqlx(sqlx::sqlite::SqliteConnectOptions::new().filename(&paths[3]))
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5)),
        )
        .await
        .unwrap();
    let seaorm = crate::seaorm::connect_sqlite(Some((&paths[4], settings)), pool_size).await;
    let sides = Sides { rusqlite, almacen, diesel, sqlx, seaorm };
    check_file_settings(&sides, settings).await;
    (sides, paths)
}

/// Ask every side what journal mode and synchronous level it runs on (almacen checks its
/// readers itself; a pool's connections all get the same options).
async fn check_file_settings(sides: &Sides, settings: SqliteFile) {
    let (journal, sync) = sides.rusqlite.query_row(PRAGMAS_SQL, [], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).unwrap();
    settings.check("rusqlite", &journal, sync);
    let a = sides.almacen.fetch_one_raw(PRAGMAS_SQL, params! {}).await.unwrap();
    settings.check("almacen", &a.get::<String>("journal_mode").unwrap(), a.get::<i64>("synchronous").unwrap());
    let d: DieselPragmas = diesel::sql_query(PRAGMAS_SQL).get_result(&mut sides.diesel.get().unwrap()).unwrap();
    settings.check("Diesel", &d.journal_mode, d.synchronous);
    let (journal, sync): (String, i64) = sqlx::query_as(PRAGMAS_SQL).fetch_one(&sides.sqlx).await.unwrap();
    settings.check("sqlx", &journal, sync);
    let (journal, sync) = crate::seaorm::pragmas(&sides.seaorm).await;
    settings.check("SeaORM", &journal, sync);
}

/// Open the five sides on their own in-memory databases (one connection each), each filled
/// from the template through its own connection.
async fn open_memory_sides(setup: &[String]) -> Sides {
    let rusqlite = rusqlite::Connection::open_in_memory().unwrap();
    rusqlite.execute_batch(&pragmas(None)).unwrap();
    rusqlite.set_prepared_statement_cache_capacity(64);
    for s in setup {
        rusqlite.execute_batch(s).unwrap();
    }

    let almacen = Database::connect("sqlite::memory:").await.unwrap();
    assert_eq!(almacen.options().max_connections, 1);
    for s in setup {
        almacen.execute_raw(s, params! {}).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }

    let diesel: DieselPool = diesel::r2d2::Pool::builder()
        .max_size(1)
        .min_idle(Some(1))
        .max_lifetime(None)
        .idle_timeout(None)
        .test_on_check_out(false)
        .connection_customizer(Box::new(Pragmas(pragmas(None))))
        .build(diesel::r2d2::ConnectionManager::new(":memory:"))
        .unwrap();
    {
        use diesel::connection::SimpleConnection as _;
        let mut c = diesel.get().unwrap();
        for s in setup {
            c.batch_execute(s).unwrap();
        }
    }

    let sqlx = sqlx::pool::PoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .test_before_acquire(false)
        .connect_with(sqlx::sqlite::SqliteConnectOptions::from_str("sqlite::memory:").unwrap().foreign_keys(true))
        .await
        .unwrap();
    {
        let mut c = sqlx.acquire().await.unwrap();
        for s in setup {
            sqlx::raw_sql(sqlx::AssertSqlSafe(s.clone())).execute(&mut *c).await.unwrap();
        }
    }

    let seaorm = crate::seaorm::connect_sqlite(None, 1).await;
    for s in setup {
        sea_orm::ConnectionTrait::execute_unprepared(&seaorm, s).await.unwrap();
    }
    Sides { rusqlite, almacen, diesel, sqlx, seaorm }
}

// --- rusqlite, directly -------------------------------------------------------------------

const RS_GET: &str = "SELECT id, name, stock, price, active FROM bench_items WHERE id = ?1";
const RS_INSERT: &str =
    "INSERT INTO bench_items (name, stock, price, active) VALUES (?1, ?2, ?3, ?4) RETURNING id, name, stock, price, active";
pub(crate) const USERS_SQL: &str = "SELECT id, name FROM bench_users ORDER BY id LIMIT 1000";

fn rs_item(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawItem> {
    Ok(RawItem { id: r.get(0)?, name: r.get(1)?, stock: r.get(2)?, price: r.get(3)?, active: r.get(4)? })
}

fn rs_get(c: &rusqlite::Connection, id: i64) -> Option<RawItem> {
    c.prepare_cached(RS_GET).unwrap().query_row([id], rs_item).optional().unwrap()
}

/// A literal LIMIT and a bound OFFSET, as almacen writes a page on SQLite: SQLite reads a
/// bound LIMIT's value when it plans, so rebinding it makes it prepare the statement again
/// on every run; a bound OFFSET does not, and one cached statement serves every page.
const RS_PAGE: &str = "SELECT id, name, stock, price, active FROM bench_items WHERE stock > ?1 ORDER BY id LIMIT 20 OFFSET ?2";

fn rs_page(c: &rusqlite::Connection, min_stock: i32, offset: i64) -> Vec<RawItem> {
    let mut st = c.prepare_cached(RS_PAGE).unwrap();
    st.query_map(rusqlite::params![min_stock, offset], rs_item).unwrap().collect::<Result<_, _>>().unwrap()
}

const RS_COUNT: &str = "SELECT COUNT(*) FROM bench_items WHERE stock > ?1";

/// A numbered page with its total: the count, then the page (two prepared statements).
fn rs_paginate(c: &rusqlite::Connection, min_stock: i32, page: i64) -> (Vec<RawItem>, i64) {
    let total: i64 = c.prepare_cached(RS_COUNT).unwrap().query_row([min_stock], |r| r.get(0)).unwrap();
    (rs_page(c, min_stock, (page - 1) * 20), total)
}

/// Stepped to its end, not `query_row`: SQLite runs its WAL auto-checkpoint only when a
/// statement's step returns DONE. An INSERT … RETURNING read once and reset commits in the
/// reset and never checkpoints, so the WAL grows without bound (166 MB after 20,000
/// single inserts here) and the inserts skip the checkpoint's writes.
pub(crate) fn rs_insert(c: &rusqlite::Connection, name: &str, stock: i32) -> RawItem {
    let mut st = c.prepare_cached(RS_INSERT).unwrap();
    let mut rows: Vec<RawItem> =
        st.query_map(rusqlite::params![name, stock, 1.5f64, true], rs_item).unwrap().collect::<Result<_, _>>().unwrap();
    rows.pop().unwrap()
}

/// `SELECT id, user_id, title FROM bench_posts WHERE user_id IN (?, ?, …)` for `n` ids,
/// `ph(i)` writing the placeholder of the i-th parameter (from 1).
pub(crate) fn posts_in_sql(n: usize, ph: impl Fn(usize) -> String) -> String {
    let mut sql = String::with_capacity(64 + n * 4);
    sql.push_str("SELECT id, user_id, title FROM bench_posts WHERE user_id IN (");
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&ph(i + 1));
    }
    sql.push(')');
    sql
}

fn question_mark(_: usize) -> String {
    "?".into()
}

fn rs_eager(c: &rusqlite::Connection) -> Vec<(RawUser, Vec<RawPost>)> {
    let users: Vec<RawUser> = c
        .prepare_cached(USERS_SQL)
        .unwrap()
        .query_map([], |r| Ok(RawUser { id: r.get(0)?, name: r.get(1)? }))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    let mut posts = Vec::new();
    for chunk in ids.chunks(MAX_PARAMS) {
        let mut st = c.prepare_cached(&posts_in_sql(chunk.len(), question_mark)).unwrap();
        let rows = st.query_map(rusqlite::params_from_iter(chunk), |r| Ok(RawPost { id: r.get(0)?, user_id: r.get(1)?, title: r.get(2)? }));
        for p in rows.unwrap() {
            posts.push(p.unwrap());
        }
    }
    group(users, posts, |u| u.id, |p| p.user_id)
}

// --- sqlx ---------------------------------------------------------------------------------

async fn sqlx_eager(pool: &sqlx::SqlitePool) -> Vec<(RawUser, Vec<RawPost>)> {
    let users: Vec<RawUser> =
        sqlx::query(USERS_SQL).fetch_all(pool).await.unwrap().into_iter().map(|r| RawUser { id: r.get(0), name: r.get(1) }).collect();
    let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    let mut posts = Vec::new();
    for chunk in ids.chunks(MAX_PARAMS) {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(posts_in_sql(chunk.len(), question_mark)));
        for id in chunk {
            q = q.bind(*id);
        }
        posts.extend(q.fetch_all(pool).await.unwrap().into_iter().map(|r| RawPost { id: r.get(0), user_id: r.get(1), title: r.get(2) }));
    }
    group(users, posts, |u| u.id, |p| p.user_id)
}

// --- Diesel -------------------------------------------------------------------------------

/// As Diesel's guide writes it: `find(id)…first(conn).optional()`. `first` binds `LIMIT ?`,
/// and SQLite expires a statement whose LIMIT parameter is rebound, so Diesel re-prepares
/// this one on every call (measured apart: ~9 µs against ~1.2 µs with `get_result`). That is
/// what a Diesel user pays (the page query binds its LIMIT too).
fn diesel_get(pool: &DieselPool, id: i64) -> Option<DItem> {
    let mut conn = pool.get().unwrap();
    bench_items::table.find(id).select(DItem::as_select()).first(&mut conn).optional().unwrap()
}

fn diesel_page(pool: &DieselPool, min_stock: i32, offset: i64) -> Vec<DItem> {
    let mut conn = pool.get().unwrap();
    bench_items::table
        .filter(bench_items::stock.gt(min_stock))
        .order(bench_items::id.asc())
        .limit(20)
        .offset(offset)
        .select(DItem::as_select())
        .load(&mut conn)
        .unwrap()
}

/// Diesel's count, then the page (its `limit`/`offset` are bound parameters).
fn diesel_paginate(pool: &DieselPool, min_stock: i32, page: i64) -> (Vec<DItem>, i64) {
    let total: i64 = {
        let mut conn = pool.get().unwrap();
        bench_items::table.filter(bench_items::stock.gt(min_stock)).count().get_result(&mut conn).unwrap()
    };
    (diesel_page(pool, min_stock, (page - 1) * 20), total)
}

fn diesel_insert(pool: &DieselPool, name: &str, stock: i32) -> DItem {
    let mut conn = pool.get().unwrap();
    diesel::insert_into(bench_items::table)
        .values(DNewItem { name, stock, price: 1.5, active: true })
        .returning(DItem::as_returning())
        .get_result(&mut conn)
        .unwrap()
}

fn diesel_eager(pool: &DieselPool) -> Vec<(DUser, Vec<DPost>)> {
    let mut conn = pool.get().unwrap();
    let users: Vec<DUser> = bench_users::table.order(bench_users::id.asc()).limit(1000).select(DUser::as_select()).load(&mut conn).unwrap();
    let mut posts = Vec::new();
    for chunk in users.chunks(MAX_PARAMS) {
        posts.extend(DPost::belonging_to(chunk).select(DPost::as_select()).load(&mut conn).unwrap());
    }
    let grouped = posts.grouped_by(&users);
    users.into_iter().zip(grouped).collect()
}

// --- almacen ------------------------------------------------------------------------------

/// Through the relation constant: the users, then `User::POSTS.load` (one statement per
/// chunk of ids, grouped per user).
pub(crate) async fn almacen_eager(db: &Database) -> Vec<(User, Vec<Post>)> {
    let users = User::select().order_by(User::ID.asc()).limit(1000).fetch_all(db).await.unwrap();
    let posts = User::POSTS.load(db, &users).await.unwrap();
    users.into_iter().zip(posts).collect()
}

/// Each user with its posts, in the users' order (what Diesel's `grouped_by` does too).
pub(crate) fn group<U, P>(users: Vec<U>, posts: Vec<P>, user_id: impl Fn(&U) -> i64, post_user: impl Fn(&P) -> i64) -> Vec<(U, Vec<P>)> {
    let index: HashMap<i64, usize> = users.iter().enumerate().map(|(i, u)| (user_id(u), i)).collect();
    let mut groups: Vec<Vec<P>> = std::iter::repeat_with(Vec::new).take(users.len()).collect();
    for p in posts {
        if let Some(&i) = index.get(&post_user(&p)) {
            groups[i].push(p);
        }
    }
    users.into_iter().zip(groups).collect()
}

pub(crate) fn check_eager<U, P>(loaded: &[(U, Vec<P>)]) {
    assert_eq!(loaded.len(), USERS as usize);
    assert!(loaded.iter().all(|(_, p)| p.len() == POSTS_PER_USER as usize));
}

/// Rows with `stock > 10` among the seeded items (stock = i % 100): what every paginate
/// must report as its total.
pub(crate) const PAGINATE_TOTAL: u64 = (crate::SEED_ROWS as u64 / 100) * 89;

/// A full page of 20 and the right total.
pub(crate) fn check_page<T>(items: &[T], total: impl TryInto<u64>) {
    assert_eq!(items.len(), 20);
    assert_eq!(total.try_into().ok(), Some(PAGINATE_TOTAL));
}

// --- timing -------------------------------------------------------------------------------

/// Run the sides marked in `on` (of five) in turn for `rounds` rounds (the side that starts
/// rotates each round), after one untimed warm-up each; the median µs/op per side (NaN for a
/// side not run). The SQLite peers run all five: rusqlite, almacen, Diesel, sqlx, SeaORM.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn compare5<A, AF, B, BF, C, CF, D, DF, E, EF>(
    on: [bool; 5],
    rounds: usize,
    ops: usize,
    mut a: A,
    mut b: B,
    mut c: C,
    mut d: D,
    mut e: E,
) -> [f64; 5]
where
    A: FnMut(usize) -> AF,
    AF: Future<Output = ()>,
    B: FnMut(usize) -> BF,
    BF: Future<Output = ()>,
    C: FnMut(usize) -> CF,
    CF: Future<Output = ()>,
    D: FnMut(usize) -> DF,
    DF: Future<Output = ()>,
    E: FnMut(usize) -> EF,
    EF: Future<Output = ()>,
{
    let mut t: [Vec<f64>; 5] = Default::default();
    let warm = ops.min(200);
    for round in 0..=rounds {
        for k in 0..5 {
            let side = (round + k) % 5;
            if !on[side] {
                continue;
            }
            // Round 0 is the warm-up.
            let n = if round == 0 { warm } else { ops };
            let us = match side {
                0 => time_ops(n, &mut a).await,
                1 => time_ops(n, &mut b).await,
                2 => time_ops(n, &mut c).await,
                3 => time_ops(n, &mut d).await,
                _ => time_ops(n, &mut e).await,
            };
            if round > 0 {
                t[side].push(us);
            }
        }
    }
    t.map(|v| if v.is_empty() { f64::NAN } else { median(v) })
}

/// A ratio with ✓ when it meets its target (`strict`: strictly below it), ✗ when not.
fn ratio_cell(r: f64, target: f64, strict: bool) -> String {
    let met = if strict { r < target } else { r <= target };
    format!("{r:.2}× {}", if met { "✓" } else { "✗" })
}

pub(crate) fn print_row(label: &str, [rs, al, di, sx, so]: [f64; 5]) {
    println!(
        "| {label:<24} | {rs:>14.1} | {al:>13.1} | {di:>12.1} | {sx:>10.1} | {so:>12.1} | {:>16} | {:>14} | {:>12} | {:>14} |",
        ratio_cell(al / rs, TARGET_VS_RUSQLITE, false),
        ratio_cell(al / di, TARGET_VS_DIESEL, true),
        ratio_cell(al / sx, TARGET_VS_SQLX, false),
        ratio_cell(al / so, TARGET_VS_SEAORM, false),
    );
}

pub(crate) fn wanted(args: &Args, key: &str) -> bool {
    args.workloads.is_empty() || args.workloads.iter().any(|w| w == key)
}

async fn bench_sides(title: &str, sides: &Sides, args: &Args) {
    println!("\n### SQLite peers: {title}\n");
    println!(
        "targets: almacen ≤ {TARGET_VS_RUSQLITE}× rusqlite direct; ahead of Diesel (< {TARGET_VS_DIESEL}×); \
         at least 2× faster than raw sqlx (≤ {TARGET_VS_SQLX}×); no slower than SeaORM (≤ {TARGET_VS_SEAORM}×)\n"
    );
    println!(
        "| workload                 | rusqlite µs/op | almacen µs/op | Diesel µs/op | sqlx µs/op | SeaORM µs/op | almacen/rusqlite | almacen/Diesel | almacen/sqlx | almacen/SeaORM |"
    );
    println!(
        "|--------------------------|---------------:|--------------:|-------------:|-----------:|-------------:|-----------------:|---------------:|-------------:|---------------:|"
    );
    let Sides { rusqlite: rs, almacen: db, diesel, sqlx: sx, seaorm: so } = sides;
    let raw = Raw::Sqlite(sx.clone());
    let (rounds, s) = (args.rounds, args.scale);
    let id = |i: usize| (i as i64 * 7919) % crate::SEED_ROWS + 1;

    if wanted(args, "get") {
        let t = compare5(
            [true; 5],
            rounds,
            scaled(2000, s),
            |i| {
                assert!(rs_get(rs, id(i)).is_some());
                async {}
            },
            |i| async move {
                assert!(Item::get(db, id(i)).await.unwrap().is_some());
            },
            |i| {
                assert!(diesel_get(diesel, id(i)).is_some());
                async {}
            },
            |i| {
                let raw = &raw;
                async move {
                    assert!(raw.get(id(i)).await.is_some());
                }
            },
            |i| async move {
                assert!(crate::seaorm::get(so, id(i)).await.is_some());
            },
        )
        .await;
        print_row("get by primary key", t);
    }
    // Ten offsets, and 500 different offsets visited out of order (a list endpoint's traffic).
    let pages: [(&str, &str, crate::Offsets); 2] =
        [("page", "page of 20 rows", crate::offset10), ("pages500", "page of 20, 500 offsets", crate::offset500)];
    for (key, label, offset) in pages {
        if !wanted(args, key) {
            continue;
        }
        let t = compare5(
            [true; 5],
            rounds,
            scaled(1000, s),
            |i| {
                assert_eq!(rs_page(rs, 10, offset(i)).len(), 20);
                async {}
            },
            |i| async move {
                assert_eq!(crate::almacen_page(db, offset(i)).await.len(), 20);
            },
            |i| {
                assert_eq!(diesel_page(diesel, 10, offset(i)).len(), 20);
                async {}
            },
            |i| {
                let raw = &raw;
                // Raw sqlx writes the ten offsets as literals (they fit its statement cache)
                // and binds the 500.
                async move {
                    let rows = if key == "page" { raw.page(10, offset(i)).await } else { raw.page_bound(10, offset(i)).await };
                    assert_eq!(rows.len(), 20);
                }
            },
            |i| async move {
                assert_eq!(crate::seaorm::page(so, 10, offset(i) as u64).await.len(), 20);
            },
        )
        .await;
        print_row(label, t);
    }
    let page = |i: usize| (i % 10) as i64 + 1;
    if wanted(args, "paginate") {
        let t = compare5(
            [true; 5],
            rounds,
            scaled(500, s),
            |i| {
                let (items, total) = rs_paginate(rs, 10, page(i));
                check_page(&items, total);
                async {}
            },
            |i| async move {
                let p = Item::select().filter(Item::STOCK.gt(10)).order_by(Item::ID.asc()).paginate(db, page(i) as u64, 20).await.unwrap();
                check_page(&p.items, p.total);
            },
            |i| {
                let (items, total) = diesel_paginate(diesel, 10, page(i));
                check_page(&items, total);
                async {}
            },
            |i| {
                let raw = &raw;
                async move {
                    let (items, total) = raw.paginate(10, page(i)).await;
                    check_page(&items, total);
                }
            },
            |i| async move {
                let (items, total) = crate::seaorm::paginate(so, 10, page(i) as u64).await;
                check_page(&items, total);
            },
        )
        .await;
        print_row("paginate (count + page)", t);
    }
    if wanted(args, "eager") {
        let t = compare5(
            [true; 5],
            rounds,
            scaled(20, s),
            |_| {
                check_eager(&rs_eager(rs));
                async {}
            },
            |_| async move {
                check_eager(&almacen_eager(db).await);
            },
            |_| {
                check_eager(&diesel_eager(diesel));
                async {}
            },
            |_| async move {
                check_eager(&sqlx_eager(sx).await);
            },
            |_| async move {
                check_eager(&crate::seaorm::eager(so).await);
            },
        )
        .await;
        print_row("1,000 users × 10 posts", t);
    }
    // Writes last, so they do not change what the reads scan.
    if wanted(args, "insert") {
        let t = compare5(
            [true; 5],
            rounds,
            scaled(1000, s),
            |i| {
                rs_insert(rs, "single", i as i32);
                async {}
            },
            |i| async move {
                Item::insert(db, NewItem { name: "single".into(), stock: i as i32, price: 1.5, active: true }).await.unwrap();
            },
            |i| {
                diesel_insert(diesel, "single", i as i32);
                async {}
            },
            |i| {
                let raw = &raw;
                async move {
                    raw.insert("single", i as i32).await;
                }
            },
            |i| async move {
                crate::seaorm::insert(so, "single", i as i32).await;
            },
        )
        .await;
        print_row("single insert returning", t);
    }
    crate::bulk::sqlite_workloads(rs, db, diesel, &raw, so, args).await;
}

/// The SQLite peers comparison: a file database, then in-memory databases.
pub async fn run(args: &Args) {
    let base = std::env::temp_dir().join(format!("almacen-bench-{}", uuid::Uuid::new_v4().simple()));
    let template = PathBuf::from(format!("{}-template.db", base.display()));
    make_template(&template).await;
    let setup = setup_sql(&template);

    let settings = args.sqlite_file();
    let (sides, paths) = open_file_sides(&base, &setup, settings).await;
    let pool = sides.almacen.options().max_connections;
    bench_sides(&format!("file ({}), pools of {pool}, rusqlite on one held connection", settings.label()), &sides, args).await;
    if settings.journal == almacen::JournalMode::Wal {
        // A side that never checkpoints writes less per insert, and its WAL shows it (read
        // before closing: the last connection to close checkpoints and removes it).
        let wal = |p: &PathBuf| std::fs::metadata(format!("{}-wal", p.display())).map_or(0.0, |m| m.len() as f64 / 1e6);
        println!(
            "\nWAL files after the run (MB): rusqlite {:.1}, almacen {:.1}, Diesel {:.1}, sqlx {:.1}, SeaORM {:.1}",
            wal(&paths[0]),
            wal(&paths[1]),
            wal(&paths[2]),
            wal(&paths[3]),
            wal(&paths[4])
        );
    }
    close(sides).await;
    for p in &paths {
        remove_db_files(p);
    }

    let sides = open_memory_sides(&setup).await;
    bench_sides("in memory, one connection per side (each its own database)", &sides, args).await;
    close(sides).await;
    remove_db_files(&template);
}

async fn close(sides: Sides) {
    let Sides { rusqlite, almacen, diesel, sqlx, seaorm } = sides;
    drop(rusqlite);
    drop(diesel);
    almacen.close().await;
    sqlx.close().await;
    seaorm.close().await.unwrap();
}
