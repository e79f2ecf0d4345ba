//! A server restarted under load (issue 13): 16 clients insert rows with unique ids into a
//! PostgreSQL or MariaDB server while it is stopped, left down for a few seconds and started
//! again, all through one `Database` with the default options. Afterwards:
//!
//! - every insert a client saw acknowledged (`Ok`) is in the table;
//! - every error a client saw is one of [`ALLOWED_KINDS`] (never `Driver` or another kind);
//! - every client has a success again within [`RECOVERY_LIMIT`] of the server's port
//!   accepting connections. The clock starts at the last probe that found the port closed,
//!   before the first that found it open, so the measured time is if anything too long.
//!
//! The servers are private, throwaway ones that `scripts/private-servers.sh up` starts (and
//! `scripts/test.sh` does, for the run): never the shared servers the other tests use. The
//! test needs `ALMACEN_RESTART_POSTGRES_URL` / `ALMACEN_RESTART_MYSQL_URL` and
//! `ALMACEN_RESTART_COMMAND` (the script, run as `COMMAND stop|start postgres|mariadb`);
//! without them it says so and passes, unless `CI` is `true` or `1`, where it fails.

#![cfg(any(feature = "postgres", feature = "mysql"))]

use almacen::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const CLIENTS: usize = 16;
/// How long the server stays down (the measurement used a 5 s outage).
const OUTAGE: Duration = Duration::from_secs(5);
/// Load before the stop, and after the port accepts connections again.
const BEFORE: Duration = Duration::from_secs(1);
const AFTER: Duration = Duration::from_secs(3);
/// The requirement: success again within a second of the server accepting connections.
const RECOVERY_LIMIT: Duration = Duration::from_secs(1);
/// A client's pause between operations.
const PAUSE: Duration = Duration::from_millis(5);

/// The error kinds (variant names) a client may see while its server restarts: a lost
/// connection, a write whose outcome is unknown (its connection died during it), no
/// connection within the acquire timeout.
const ALLOWED_KINDS: &[&str] = &["ConnectionLost", "OutcomeUnknown", "PoolTimeout"];

/// The variant name of an error, from its `Debug` form (`ConnectionLost("…")` → `ConnectionLost`),
/// so that a variant added later is named without changing this test.
fn kind(e: &Error) -> String {
    let debug = format!("{e:?}");
    debug.split(['(', '{', ' ']).next().unwrap_or_default().to_string()
}

/// The two restart tests share the machine's two cores: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The private server's URL and the restart command, or `None` (after saying why) when unset.
fn private_server(url_var: &str) -> Option<(String, String)> {
    let url = std::env::var(url_var).ok().filter(|v| !v.is_empty());
    let command = std::env::var("ALMACEN_RESTART_COMMAND").ok().filter(|v| !v.is_empty());
    match (url, command) {
        (Some(url), Some(command)) => Some((url, command)),
        _ => {
            let why = format!(
                "{url_var} and ALMACEN_RESTART_COMMAND are not both set: they name a private server this test may restart \
                 (eval \"$(scripts/private-servers.sh up)\", or run scripts/test.sh, which does)"
            );
            if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                panic!("in CI the restart test must run: {why}");
            }
            eprintln!("SKIPPED: {why}");
            None
        }
    }
}

/// Run `command action service` (the private-servers script), failing the test if it fails.
async fn restart_command(command: &str, action: &str, service: &str) {
    let out = tokio::process::Command::new(command)
        .args([action, service])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {command}: {e}"));
    assert!(
        out.status.success(),
        "`{command} {action} {service}` failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// 127.0.0.1:port of a server URL.
fn address(url: &str) -> String {
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = after_scheme.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    assert!(host_port.contains(':'), "the restart URL must name its port: {url}");
    host_port.to_string()
}

/// Wait until `addr` accepts a TCP connection (it must refuse at first); return the time of
/// the last refusal, just before the port began to accept.
async fn wait_for_port(addr: &str, limit: Duration) -> Instant {
    let started = Instant::now();
    let mut last_refused = None;
    loop {
        let probe_at = Instant::now();
        match tokio::time::timeout(Duration::from_millis(200), tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => {
                return last_refused.unwrap_or_else(|| panic!("{addr} still accepted connections after the server was stopped"));
            }
            _ => last_refused = Some(probe_at),
        }
        assert!(started.elapsed() < limit, "{addr} did not accept connections within {limit:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// What one operation of one client came to.
struct Outcome {
    /// When the operation returned.
    done: Instant,
    /// The ids it inserted, if acknowledged; else the error's kind and text.
    result: std::result::Result<Vec<i64>, (String, String)>,
}

/// A client: until `stop`, insert rows with ids of its own, alternately one plain insert
/// and a transaction of two.
async fn client(db: Database, table: String, c: i64, stop: Arc<AtomicBool>) -> Vec<Outcome> {
    let insert = format!("INSERT INTO {table} (id, client) VALUES (:id, :client)");
    let mut outcomes = Vec::new();
    let mut n = 0i64;
    while !stop.load(Ordering::Relaxed) {
        let id = c * 10_000_000 + n * 2;
        let result = if n % 2 == 0 {
            db.execute_raw(&insert, params! { "id" => id, "client" => c }).await.map(|_| vec![id])
        } else {
            db.transaction(async |tx| -> almacen::Result<_> {
                tx.execute_raw(&insert, params! { "id" => id, "client" => c }).await?;
                tx.execute_raw(&insert, params! { "id" => id + 1, "client" => c }).await?;
                Ok(vec![id, id + 1])
            })
            .await
        };
        outcomes.push(Outcome { done: Instant::now(), result: result.map_err(|e| (kind(&e), e.to_string())) });
        n += 1;
        tokio::time::sleep(PAUSE).await;
    }
    outcomes
}

async fn restart_under_load(service: &str, url_var: &str) {
    let Some((url, command)) = private_server(url_var) else { return };
    let _serial = SERIAL.lock().await;
    let addr = address(&url);
    let db = Database::connect(&url).await.unwrap_or_else(|e| panic!("{service}: connect to {url}: {e}"));
    let table = format!("restart_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    db.execute_raw(&format!("CREATE TABLE {table} (id BIGINT PRIMARY KEY, client INT NOT NULL)"), params! {}).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS as i64).map(|c| tokio::spawn(client(db.clone(), table.clone(), c, stop.clone()))).collect();
    tokio::time::sleep(BEFORE).await;

    let t_stop = Instant::now();
    restart_command(&command, "stop", service).await;
    let t_stopped = Instant::now();
    let port_open = tokio::spawn({
        let addr = addr.clone();
        async move { wait_for_port(&addr, OUTAGE + Duration::from_secs(60)).await }
    });
    tokio::time::sleep(OUTAGE).await;
    let t_start = Instant::now();
    restart_command(&command, "start", service).await;
    let t_started = Instant::now();
    let t_open = port_open.await.unwrap();
    tokio::time::sleep_until((t_open + AFTER).into()).await;
    stop.store(true, Ordering::Relaxed);

    let mut per_client = Vec::new();
    for (c, handle) in clients.into_iter().enumerate() {
        // A client waits at most the acquire timeout for a connection, then ends.
        let outcomes = tokio::time::timeout(Duration::from_secs(60), handle)
            .await
            .unwrap_or_else(|_| panic!("{service}: client {c} still running 60 s after being told to stop"))
            .unwrap();
        per_client.push(outcomes);
    }

    // The table as the restarted server has it.
    let stored: std::collections::HashSet<i64> = db
        .fetch_all_raw(&format!("SELECT id FROM {table}"), params! {})
        .await
        .unwrap_or_else(|e| panic!("{service}: reading the table back: {e}"))
        .iter()
        .map(|r| r.get::<i64>("id").unwrap())
        .collect();
    db.execute_raw(&format!("DROP TABLE {table}"), params! {}).await.unwrap();
    db.close().await;

    // Acknowledged writes, errors by kind, and each client's first success after the port opened.
    let mut acked = Vec::new();
    let mut errors: std::collections::BTreeMap<String, (usize, String)> = Default::default();
    let mut recoveries = Vec::new();
    let mut never_recovered = Vec::new();
    for (c, outcomes) in per_client.iter().enumerate() {
        let mut recovery = None;
        for o in outcomes {
            match &o.result {
                Ok(ids) => {
                    acked.extend_from_slice(ids);
                    if recovery.is_none() && o.done >= t_open {
                        recovery = Some(o.done - t_open);
                    }
                }
                Err((k, text)) => errors.entry(k.clone()).or_insert((0, text.clone())).0 += 1,
            }
        }
        match recovery {
            Some(r) => recoveries.push((r, c)),
            None => never_recovered.push(c),
        }
    }
    recoveries.sort();
    let lost: Vec<i64> = acked.iter().copied().filter(|id| !stored.contains(id)).collect();
    let unacknowledged_but_stored = stored.len() as i64 - (acked.len() - lost.len()) as i64;

    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    eprintln!(
        "{service}: stop took {}, down {} (port refused from the stop until {} after it), start took {}",
        ms(t_stopped - t_stop),
        ms(t_start - t_stopped),
        ms(t_open.saturating_duration_since(t_stopped)),
        ms(t_started - t_start)
    );
    eprintln!(
        "{service}: {} writes acknowledged, {} rows stored ({} of them without an acknowledgement), {} lost",
        acked.len(),
        stored.len(),
        unacknowledged_but_stored,
        lost.len()
    );
    for (k, (n, example)) in &errors {
        eprintln!("{service}: {n} × {k}, e.g. {example}");
    }
    let list: Vec<String> = recoveries.iter().map(|(r, _)| ms(*r)).collect();
    eprintln!("{service}: first success after the port accepted connections, per client: {}", list.join(", "));

    assert!(lost.is_empty(), "{service}: acknowledged writes missing after the restart: {lost:?}");
    let unexpected: Vec<&String> = errors.keys().filter(|k| !ALLOWED_KINDS.contains(&k.as_str())).collect();
    assert!(unexpected.is_empty(), "{service}: errors of kinds other than {ALLOWED_KINDS:?}: {unexpected:?} ({errors:?})");
    assert!(never_recovered.is_empty(), "{service}: clients {never_recovered:?} had no success in the {AFTER:?} after the restart");
    let (slowest, c) = *recoveries.last().unwrap();
    assert!(
        slowest <= RECOVERY_LIMIT,
        "{service}: client {c} succeeded again only {} after the server accepted connections (limit {})",
        ms(slowest),
        ms(RECOVERY_LIMIT)
    );
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_under_load() {
    restart_under_load("postgres", "ALMACEN_RESTART_POSTGRES_URL").await;
}

#[cfg(feature = "mysql")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_restart_under_load() {
    restart_under_load("mariadb", "ALMACEN_RESTART_MYSQL_URL").await;
}
