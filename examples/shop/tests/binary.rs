//! The real `shop` binary: started on a SQLite file, it prints the URL of `/docs`, the
//! seeded admin logs in, and SIGTERM stops it cleanly; `--help` lists every setting without
//! the secrets' values; a short JWT secret is refused. And the embedded migrations are
//! exactly the folder's files.

#[path = "../../../crates/almacen/tests/common/mod.rs"]
mod common;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Generous bounds so that a hung binary fails the test instead of hanging it (never a
/// timing assertion).
const START_BOUND: Duration = Duration::from_secs(120);
const EXIT_BOUND: Duration = Duration::from_secs(60);

const SECRET: &str = "the JWT secret of the binary test, 48 bytes long!";
const ADMIN_PASSWORD: &str = "Binary-Adm1n-Passw0rd";

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("shop_bin_{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with a clean environment and `vars`.
fn shop(vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shop"));
    cmd.env_clear();
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the child when a test fails before it exits.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn wait_exit(child: &mut Child, bound: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < bound, "the shop did not exit within {bound:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the binary on `url` and `listen`; waits for the stdout line naming `/docs`.
fn start(url: &str, listen: &str) -> (Running, std::thread::JoinHandle<String>, Vec<String>) {
    let child = shop(&[
        ("DATABASE_URL", url),
        ("LISTEN_ADDR", listen),
        ("JWT_SECRET", SECRET),
        ("ADMIN_USERNAME", "boss"),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut child = Running(child);
    let stdout = child.0.stdout.take().unwrap();
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let logs = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());

    // Its stdout names the /docs URL on the configured address.
    let docs_url = format!("http://{listen}/docs");
    let deadline = Instant::now() + START_BOUND;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(&docs_url);
                seen.push(line);
                if found {
                    break;
                }
            }
            Err(e) => {
                drop(child);
                panic!("no line with {docs_url} ({e}); stdout: {seen:?}; stderr: {}", logs.join().unwrap());
            }
        }
    }
    // The configured admin password is not printed.
    assert!(seen.iter().all(|l| !l.contains(ADMIN_PASSWORD) && !l.contains(SECRET)), "{seen:?}");
    (child, logs, seen)
}

/// Sends SIGTERM; the binary exits 0 with no secret in its logs.
fn stop(mut child: Running, logs: std::thread::JoinHandle<String>) {
    let pid = child.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = wait_exit(&mut child.0, EXIT_BOUND);
    let logs = logs.join().unwrap();
    assert!(status.success(), "exit {status:?}; stderr: {logs}");
    assert!(!logs.contains(ADMIN_PASSWORD) && !logs.contains(SECRET), "a secret in the logs: {logs}");
}

/// Logs in as the admin and reads the total of products.
async fn check_serving(base: &str) -> u64 {
    let client = reqwest::Client::new();
    let resp =
        client.post(format!("{base}/auth/login")).json(&json!({"username": "boss", "password": ADMIN_PASSWORD})).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let token: Value = resp.json().await.unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let me: Value = client.get(format!("{base}/users/me")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!((&me["username"], &me["roles"]), (&json!("boss"), &json!(["admin"])), "{me}");
    let docs = client.get(format!("{base}/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().to_lowercase().contains("<html"));
    let page: Value = client.get(format!("{base}/products")).send().await.unwrap().json().await.unwrap();
    page["total"].as_u64().unwrap_or_else(|| panic!("{page}"))
}

#[tokio::test]
async fn the_binary_serves_and_stops_on_sigterm() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("shop.db").display());
    let listen = format!("127.0.0.1:{}", free_port());
    let (child, logs, _) = start(&url, &listen);
    // The sample products are there.
    let products = check_serving(&format!("http://{listen}")).await;
    assert!(products > 0);
    stop(child, logs);

    // Started again on the same file: the schema is current, the admin and the products
    // are as they were (no second set of samples).
    let listen = format!("127.0.0.1:{}", free_port());
    let (child, logs, _) = start(&url, &listen);
    assert_eq!(check_serving(&format!("http://{listen}")).await, products);
    stop(child, logs);
}

/// The same binary on PostgreSQL and MariaDB, by `DATABASE_URL` alone (started twice: the
/// second start finds the schema current and the admin there).
async fn on_server(backend: common::Backend) {
    let Some(scratch) = common::Scratch::create(backend, "").await else { return };
    for _ in 0..2 {
        let listen = format!("127.0.0.1:{}", free_port());
        let (child, logs, _) = start(&scratch.url, &listen);
        assert!(check_serving(&format!("http://{listen}")).await > 0);
        stop(child, logs);
    }
    scratch.drop_database().await;
}

#[tokio::test]
async fn the_binary_on_postgres() {
    on_server(common::Backend::Postgres).await;
}

#[tokio::test]
async fn the_binary_on_mariadb() {
    on_server(common::Backend::MariaDb).await;
}

#[test]
fn help_lists_the_settings_without_secret_values() {
    let out = shop(&[
        ("DATABASE_URL", "postgres://shop:db-password-value@127.0.0.1/shop"),
        ("JWT_SECRET", SECRET),
        ("ADMIN_PASSWORD", ADMIN_PASSWORD),
    ])
    .arg("--help")
    .output()
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8(out.stdout).unwrap();
    for var in ["DATABASE_URL", "LISTEN_ADDR", "JWT_SECRET", "ADMIN_USERNAME", "ADMIN_PASSWORD", "CORS_ORIGINS", "LOG_FORMAT"] {
        assert!(help.contains(var), "--help does not name {var}:\n{help}");
    }
    for secret in [SECRET, ADMIN_PASSWORD, "db-password-value"] {
        assert!(!help.contains(secret), "--help prints a secret value {secret:?}:\n{help}");
    }
}

#[test]
fn a_short_jwt_secret_is_refused() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("shop.db").display());
    let listen = format!("127.0.0.1:{}", free_port());
    let child =
        shop(&[("DATABASE_URL", &url), ("LISTEN_ADDR", &listen), ("JWT_SECRET", "short-secret"), ("ADMIN_PASSWORD", ADMIN_PASSWORD)])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    let mut child = Running(child);
    let status = wait_exit(&mut child.0, EXIT_BOUND);
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{status:?}");
    assert!(stderr.contains("JWT_SECRET"), "{stderr}");
    assert!(!stderr.contains("short-secret"), "the secret echoed: {stderr}");
}

fn migrations_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
}

#[test]
fn every_revision_is_embedded() {
    almacen_migrate::graph::check_embedded(shop::app::MIGRATIONS, migrations_dir()).unwrap();
    // A revision file left off the list fails.
    let (last, rest) = shop::app::MIGRATIONS.split_last().unwrap();
    let err = almacen_migrate::graph::check_embedded(rest, migrations_dir()).unwrap_err();
    assert!(err.to_string().contains(last.0), "{err}");
    // So does a folder with a revision the binary does not hold.
    let dir = TempDir::new();
    for (name, text) in shop::app::MIGRATIONS {
        std::fs::write(dir.0.join(name), text).unwrap();
    }
    almacen_migrate::graph::check_embedded(shop::app::MIGRATIONS, &dir.0).unwrap();
    std::fs::write(dir.0.join("abcdef012345_more.toml"), "revision = \"abcdef012345\"\n").unwrap();
    assert!(almacen_migrate::graph::check_embedded(shop::app::MIGRATIONS, &dir.0).is_err());
}

/// Without ADMIN_PASSWORD, a user holding the admin's name but not the admin role (someone
/// registered it while there was no admin) is not taken for the admin: the binary refuses
/// to start, saying so, rather than serve a shop without an admin.
#[tokio::test]
async fn the_admin_name_without_the_role_is_refused_at_start() {
    use almacen_web::accounts::{NewUser, User};
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("shop.db").display());
    {
        let db = almacen::Database::connect(&format!("{url}?mode=rwc")).await.unwrap();
        shop::app::migrate(&db).await.unwrap();
        User::insert(&db, NewUser { username: "admin".into(), email: "mallory@example.com".into(), password_hash: "-".into() })
            .await
            .unwrap();
        db.close().await;
    }
    let listen = format!("127.0.0.1:{}", free_port());
    let child = shop(&[("DATABASE_URL", &url), ("LISTEN_ADDR", &listen), ("JWT_SECRET", SECRET)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Running(child);
    let status = wait_exit(&mut child.0, EXIT_BOUND);
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "started without an admin: {status:?} {stderr}");
    assert!(stderr.contains("exists without the admin role") && stderr.contains("ADMIN_PASSWORD"), "{stderr}");
}
