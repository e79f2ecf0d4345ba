//! Scratch databases for the examples' tests: a uniquely named SQLite file, or a database
//! created on a server and dropped afterwards. Included by each example's tests with
//! `#[path = "../../scratch.rs"] mod scratch;`.

#![allow(dead_code)]

use almacen::prelude::*;

/// A uniquely named database: a file next to the others in the temp directory for SQLite,
/// `CREATE DATABASE` on a server.
pub struct Scratch {
    pub url: String,
    name: String,
    admin_url: Option<String>,
}

impl Scratch {
    pub async fn create(url: &str) -> Scratch {
        let name = format!("example_t_{}", almacen::uuid::Uuid::new_v4().simple());
        if url.starts_with("sqlite") {
            let path = std::env::temp_dir().join(format!("{name}.db"));
            return Scratch { url: format!("sqlite://{}", path.display()), name, admin_url: None };
        }
        let admin = Database::connect(url).await.unwrap_or_else(|e| panic!("{url} is set but not reachable: {e}"));
        admin.execute_raw(&format!("CREATE DATABASE {name}"), params! {}).await.unwrap();
        admin.close().await;
        Scratch { url: with_database(url, &name), name, admin_url: Some(url.to_string()) }
    }

    pub async fn remove(self) {
        let Some(admin_url) = self.admin_url else {
            let path = std::env::temp_dir().join(format!("{}.db", self.name));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            return;
        };
        let admin = Database::connect(&admin_url).await.unwrap();
        // PostgreSQL refuses to drop a database someone is connected to, unless forced.
        let force = if admin.dialect() == almacen::Dialect::Postgres { " WITH (FORCE)" } else { "" };
        admin.execute_raw(&format!("DROP DATABASE IF EXISTS {}{force}", self.name), params! {}).await.unwrap();
        admin.close().await;
    }
}

/// `url` with its database (the path) replaced by `name`, query parameters kept.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[host_start..].find('/').map_or(base.len(), |i| i + host_start);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        out = format!("{out}?{q}");
    }
    out
}

/// The server URL from `var`, or `None` (the test says it skips) when unset.
pub fn server(var: &str) -> Option<String> {
    let url = std::env::var(var).ok().filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("SKIPPED: {var} is not set");
    }
    url
}
