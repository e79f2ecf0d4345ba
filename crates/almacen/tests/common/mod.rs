//! One test body, run on SQLite, PostgreSQL and MariaDB, each in a freshly created,
//! uniquely named database that is dropped afterwards.
//!
//! Server URLs come from `ALMACEN_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and `ALMACEN_TEST_MYSQL_URL` (default
//! `mysql://root@127.0.0.1:3306/test`). When a server is unreachable the test says so and
//! passes, unless `ALMACEN_REQUIRE_ALL_BACKENDS=1` (set by `scripts/test.sh` in CI), where it fails.
//! A backend whose Cargo feature is off is skipped (it cannot be required of that build).

#![allow(dead_code)]

use almacen::{Database, Executor, params};
use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// The three backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MariaDb,
}

pub fn postgres_url() -> String {
    std::env::var("ALMACEN_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn mysql_url() -> String {
    std::env::var("ALMACEN_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

fn require_all() -> bool {
    std::env::var("ALMACEN_REQUIRE_ALL_BACKENDS").is_ok_and(|v| v == "1")
}

/// Replace the database name (the URL path) and append `extra` query parameters.
pub fn with_database(url: &str, name: &str, extra: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end).unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..path_start], name);
    let params: Vec<&str> = [query, extra].into_iter().filter(|s| !s.is_empty()).collect();
    if !params.is_empty() {
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

fn unique_name() -> String {
    format!("almacen_t_{}", uuid::Uuid::new_v4().simple())
}

/// A scratch database for one test.
pub struct Scratch {
    pub backend: Backend,
    pub url: String,
    name: String,
    admin_url: String,
}

impl Scratch {
    /// Create the database; `None` (after saying why) when the server is not reachable.
    pub async fn create(backend: Backend, extra: &str) -> Option<Scratch> {
        let name = unique_name();
        let dialect = match backend {
            Backend::Sqlite => almacen::Dialect::Sqlite,
            Backend::Postgres => almacen::Dialect::Postgres,
            Backend::MariaDb => almacen::Dialect::MySql,
        };
        if !dialect.is_built() {
            eprintln!("SKIPPED on {backend:?}: this build of almacen has no {:?} feature", dialect.name());
            return None;
        }
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                let mut url = format!("sqlite://{}", path.display());
                if !extra.is_empty() {
                    url = format!("{url}?{extra}");
                }
                Some(Scratch { backend, url, name, admin_url: String::new() })
            }
            Backend::Postgres | Backend::MariaDb => {
                let admin_url = if backend == Backend::Postgres { postgres_url() } else { mysql_url() };
                let admin = match Database::connect(&with_database(
                    &admin_url,
                    admin_db(backend, &admin_url).as_str(),
                    "connect_timeout=5s&max_connections=1",
                ))
                .await
                {
                    Ok(db) => db,
                    Err(e) => {
                        if require_all() {
                            panic!("{backend:?} is required (ALMACEN_REQUIRE_ALL_BACKENDS=1) but not reachable at {admin_url}: {e}");
                        }
                        eprintln!("SKIPPED on {backend:?}: server not reachable at {admin_url} ({e}); run scripts/test.sh to start it");
                        return None;
                    }
                };
                admin.execute_raw(&format!("CREATE DATABASE {name}"), params! {}).await.expect("create scratch database");
                admin.close().await;
                let url = with_database(&admin_url, &name, extra);
                Some(Scratch { backend, url, name, admin_url })
            }
        }
    }

    /// Drop the database (and the SQLite files).
    pub async fn drop_database(self) {
        match self.backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{}.db", self.name));
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Backend::Postgres | Backend::MariaDb => {
                let admin = Database::connect(&with_database(
                    &self.admin_url,
                    admin_db(self.backend, &self.admin_url).as_str(),
                    "max_connections=1",
                ))
                .await
                .expect("admin connection for cleanup");
                let sql = if self.backend == Backend::Postgres {
                    format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)
                } else {
                    format!("DROP DATABASE IF EXISTS {}", self.name)
                };
                admin.execute_raw(&sql, params! {}).await.expect("drop scratch database");
                admin.close().await;
            }
        }
    }
}

/// The database the admin connection uses: the one named in the configured URL.
fn admin_db(_backend: Backend, url: &str) -> String {
    let base = url.split('?').next().unwrap_or(url);
    let after_scheme = base.split_once("://").map(|(_, r)| r).unwrap_or(base);
    after_scheme.split_once('/').map(|(_, d)| d.to_string()).filter(|d| !d.is_empty()).unwrap_or_else(|| "test".into())
}

/// Run `body` against a fresh database on `backend`, connected with `extra` URL parameters.
pub async fn run_with<F, Fut>(backend: Backend, extra: &str, body: F)
where
    F: FnOnce(Database, Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(scratch) = Scratch::create(backend, extra).await else { return };
    let db = Database::connect(&scratch.url).await.expect("connect to scratch database");
    let outcome = AssertUnwindSafe(body(db.clone(), backend)).catch_unwind().await;
    db.close().await;
    scratch.drop_database().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Run `body` against a fresh database on `backend`.
pub async fn run<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(Database, Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    run_with(backend, "", body).await
}

/// Declare tests that run one async body `fn name(db: Database, backend: Backend)` on every
/// backend: `per_backend!(name1, name2);` makes `name1::sqlite`, `name1::postgres`,
/// `name1::mariadb`, ….
#[macro_export]
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        $crate::per_backend_with!($($name => ""),*);
    };
}

/// Like [`per_backend!`], connecting with extra URL parameters:
/// `per_backend_with!(name => "max_connections=1&acquire_timeout=300ms", ...)`.
#[macro_export]
macro_rules! per_backend_with {
    ($($name:ident => $params:expr),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::common::run_with($crate::common::Backend::Sqlite, $params, super::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::common::run_with($crate::common::Backend::Postgres, $params, super::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mariadb() {
                $crate::common::run_with($crate::common::Backend::MariaDb, $params, super::$name).await
            }
        }
    )*};
}
