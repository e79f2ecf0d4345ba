//! `--http`: the shop's HTTP endpoints (examples/shop, on almacen-web over embedded SQLite)
//! against the same endpoints written by hand on plain axum + sqlx (module `http_raw`), with
//! `wrk` as the load generator on loopback, in one run.
//!
//! Each side gets its own SQLite file with the shop's schema and 10,000 products, and runs in
//! a child process of this binary (`--http-serve SIDE`), so the server's threads are its own
//! and `taskset` on the bench applies to servers and wrk alike. Workloads: GET by id (a random
//! id of the 10,000), a list page (`page` random of the first 50, 20 rows, with the total),
//! POST a product (admin bearer token, a fresh sku per request). The sides alternate for
//! `--rounds` rounds per workload; the median round's requests/s, p99 and the server's CPU
//! time per request (from `/proc`, user + system) are kept. Last, the
//! machine's ceiling: GET by id on plain axum answering a constant product (`floor`: no
//! database, no middleware), with the same load generator on the same cores.

use crate::Args;
use almacen::prelude::*;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SIDES: [&str; 2] = ["sqlx", "almacen"];
const PRODUCTS: usize = 10_000;
const JWT_SECRET: &[u8] = b"almacen-bench-http-secret-0123456789";

const GET_LUA: &str = r#"
request = function()
  return wrk.format("GET", "/products/" .. math.random(1, 10000))
end
"#;

const LIST_LUA: &str = r#"
request = function()
  return wrk.format("GET", "/products?page=" .. math.random(1, 50) .. "&page_size=20")
end
"#;

// A fresh sku per request: the run's prefix, the wrk thread, a counter.
const POST_LUA: &str = r#"
local threads = {}
setup = function(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
init = function(args)
  token = args[1]
  prefix = args[2]
  counter = 0
end
request = function()
  counter = counter + 1
  local body = string.format('{"name":"Bench product","sku":"%s-%d-%d","description":null,"price":9.5,"stock":100}', prefix, tid, counter)
  return wrk.format("POST", "/products", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
"#;

/// One wrk run's figures.
#[derive(Debug, Clone, Copy)]
struct Figures {
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    /// The server process's CPU time (user + system) per request served, in µs: less
    /// sensitive than requests/s to wrk sharing the cores (NaN off Linux).
    cpu_us_per_request: f64,
}

/// The pool size of both sides: almacen's SQLite default (`sqlite://file` with no
/// `max_connections`: 10, one writer and nine readers), given to sqlx's pool as well (ten
/// connections, each reading or writing).
fn pool_size() -> u32 {
    almacen::ConnectOptions::from_url("sqlite://shop.db").expect("the shop's default URL").max_connections
}

/// The child process side: serve `side` on `port` over the SQLite file `db` until killed.
///
/// Neither side installs a log subscriber (the shop's `main` calls `init_logging`; this
/// does not): logging is off on both, so the shop's access-log event per request is a
/// disabled `tracing` call site, as is anything sqlx would log.
pub fn serve(side: &str, db: &Path, port: u16) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        match side {
            "sqlx" => {
                let router = crate::http_raw::router(db, pool_size(), JWT_SECRET).await;
                axum::serve(listener, router).await.expect("serve");
            }
            "almacen" => serve_shop(db, listener).await,
            "floor" => axum::serve(listener, crate::http_raw::floor_router()).await.expect("serve"),
            other => panic!("unknown --http-serve side {other:?} (expected sqlx, almacen or floor)"),
        }
    });
}

/// The shop's settings at their defaults, parsed as the shop parses them (`ServiceArgs`).
#[derive(clap::Parser)]
struct ShopService {
    #[command(flatten)]
    service: almacen_web::ServiceArgs,
}

/// The shop as `examples/shop/src/main.rs` serves it: its whole router
/// (`shop::app::router`), wrapped in the service layers of its default settings (request
/// ids, access log, 30 s request timeout, 2 MiB body limit, panics as 500s, metrics with the
/// pool's gauges, gzip for bodies of 1 KiB or more when asked for), served by
/// `almacen_web::serve` (graceful shutdown). Not done here: `init_logging` (see [`serve`]),
/// the admin's seeding (a token is all POST needs) and the sample products.
async fn serve_shop(db: &Path, listener: tokio::net::TcpListener) {
    use clap::Parser as _;
    let cli = ShopService::try_parse_from(["shop"]).expect("the shop's default settings");
    let db = Database::connect(&format!("sqlite://{}", db.display())).await.expect("open the shop's database");
    let tokens = almacen_web::auth::TokenConfig::hs256(JWT_SECRET);
    let app = shop::app::router(db.clone(), tokens);
    let app = cli.service.service_config().metrics(almacen_web::Metrics::new().database(&db)).apply(app);
    almacen_web::serve(listener, app, cli.service.serve_options().database(db)).await.expect("serve");
}

/// Creates the shop's schema in a new file (the shop's own migrations), the admin account
/// (as the shop seeds it) and the products; returns the admin's id, the tokens' subject.
async fn prepare(path: &Path) -> i64 {
    let url = format!("sqlite://{}", path.display());
    let db = Database::connect(&url).await.expect("create the database");
    shop::app::migrate(&db).await.expect("the shop's migrations");
    let admin = almacen_web::accounts::ensure_admin(&db, "admin", "Bench-Passw0rd").await.expect("the admin account");
    let rows: Vec<shop::models::NewProduct> = (0..PRODUCTS)
        .map(|i| shop::models::NewProduct {
            name: format!("Product {i}"),
            sku: format!("SKU-{i:05}"),
            description: (i % 3 == 0).then(|| format!("The description of product {i}")),
            price: 1.0 + (i % 500) as f64 / 4.0,
            stock: 100,
        })
        .collect();
    shop::models::Product::insert_many_without_returning(&db, rows).await.expect("seed products");
    db.close().await;
    admin.id
}

/// The server processes, ended when dropped (a failed check or wrk run included).
struct Servers(Vec<(&'static str, u16, Child)>);

impl Drop for Servers {
    fn drop(&mut self) {
        for (_, _, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port()
}

/// `program` as a command, on CPU `cpu` only when given (through `taskset`, which execs
/// it: the child's pid is the program's).
fn on_cpu(program: impl AsRef<std::ffi::OsStr>, cpu: Option<u32>) -> Command {
    match cpu {
        Some(cpu) => {
            let mut command = Command::new("taskset");
            command.args(["-c", &cpu.to_string()]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

fn spawn_server(args: &Args, side: &str, db: &Path, port: u16) -> Child {
    let exe = std::env::current_exe().expect("current exe");
    on_cpu(exe, args.http_split_cores.then_some(0))
        .args(["--http-serve", side, "--http-db"])
        .arg(db)
        .args(["--http-port", &port.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the server")
}

async fn wait_ready(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server on port {port} did not start within 10 s");
}

fn millis(text: &str) -> f64 {
    let (number, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len()));
    let n: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

/// Reads requests/s, the 50th and 99th percentiles and the error count off wrk's output.
fn parse_wrk(out: &str) -> Figures {
    let mut f = Figures { requests_per_sec: f64::NAN, p50_ms: f64::NAN, p99_ms: f64::NAN, errors: 0, cpu_us_per_request: f64::NAN };
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", n] => f.requests_per_sec = n.parse().unwrap_or(f64::NAN),
            ["50%", t] => f.p50_ms = millis(t),
            ["99%", t] => f.p99_ms = millis(t),
            ["Non-2xx", "or", "3xx", "responses:", n] => f.errors += n.parse::<u64>().unwrap_or(1),
            ["Socket", "errors:", rest @ ..] => {
                // "connect 0, read 0, write 0, timeout 0"
                f.errors += rest.iter().filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok()).sum::<u64>();
            }
            _ => {}
        }
    }
    f
}

/// The CPU time process `pid` has used so far (user + system), from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> Option<f64> {
    static TICKS_PER_SECOND: std::sync::LazyLock<f64> = std::sync::LazyLock::new(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output().ok();
        out.and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(100.0)
    });
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (in parentheses, which may hold spaces): state is the
    // 3rd field, utime the 14th, stime the 15th.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = rest.get(11)?.parse::<f64>().ok()? + rest.get(12)?.parse::<f64>().ok()?;
    Some(ticks / *TICKS_PER_SECOND)
}

fn run_wrk(args: &Args, script: &Path, url: &str, extra: &[String], server: u32) -> Figures {
    let cpu_before = cpu_seconds(server);
    let out = on_cpu("wrk", args.http_split_cores.then_some(1))
        .args(["-t", &args.http_threads.to_string(), "-c", &args.http_connections.to_string()])
        .args(["-d", &format!("{}s", args.http_seconds), "--latency", "-s"])
        .arg(script)
        .arg(url)
        .arg("--")
        .args(extra)
        .output()
        .expect("run wrk (install it: apt-get install wrk)");
    let cpu = cpu_before.zip(cpu_seconds(server)).map(|(before, after)| after - before);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut figures = parse_wrk(&text);
    if !out.status.success() || figures.requests_per_sec.is_nan() {
        panic!("wrk failed: {}\n{}", String::from_utf8_lossy(&out.stderr), text);
    }
    if let Some(cpu) = cpu {
        figures.cpu_us_per_request = cpu * 1e6 / (figures.requests_per_sec * args.http_seconds as f64);
    }
    figures
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The JSON's shape: object keys (recursively), array elements' shape (the first's), and
/// each value's kind; `null` and a string are told apart.
fn shape(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(a) => format!("[{}]", a.first().map(shape).unwrap_or_default()),
        Value::Object(o) => {
            let mut fields: Vec<String> = o.iter().map(|(k, v)| format!("{k}: {}", shape(v))).collect();
            fields.sort();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

/// Before measuring: both sides answer the same requests with the same status and the same
/// JSON shape (a product, a page, a created product; 401 without a token, 404 for an absent
/// id), and POST with the token is a 201 with a Location on both.
async fn check_same_answers(servers: &[(&str, u16, Child)], token: &str) {
    let client = reqwest::Client::new();
    let body = |side: &str| serde_json::json!({"name": "Check product", "sku": format!("CHECK-{side}"), "description": null, "price": 1.25, "stock": 3});
    let mut answers: Vec<Vec<(String, u16, String)>> = Vec::new();
    for (side, port, _) in servers {
        let base = format!("http://127.0.0.1:{port}");
        let mut got = Vec::new();
        let requests = [
            ("GET /products/1", client.get(format!("{base}/products/1"))),
            ("GET /products/999999", client.get(format!("{base}/products/999999"))),
            ("GET /products?page=2&page_size=20", client.get(format!("{base}/products?page=2&page_size=20"))),
            ("POST /products (no token)", client.post(format!("{base}/products")).json(&body(side))),
            ("POST /products", client.post(format!("{base}/products")).bearer_auth(token).json(&body(side))),
        ];
        for (what, request) in requests {
            let response = request.send().await.unwrap_or_else(|e| panic!("{side}: {what}: {e}"));
            let status = response.status().as_u16();
            if what == "POST /products" {
                assert_eq!(status, 201, "{side}: {what} with the admin token");
                assert!(response.headers().contains_key("location"), "{side}: {what}: no Location header");
            }
            let json: serde_json::Value = response.json().await.unwrap_or_else(|e| panic!("{side}: {what}: the body is not JSON: {e}"));
            if what == "GET /products?page=2&page_size=20" {
                let items = json["items"].as_array().map(Vec::len);
                assert_eq!(items, Some(20), "{side}: {what}: 20 items expected");
                assert_eq!(json["total"], PRODUCTS, "{side}: {what}: the total");
            }
            // The error envelope's entries differ in wording; their shape is compared
            // only down to the envelope's top-level keys.
            let shape = if status >= 400 {
                let mut keys: Vec<&String> = json.as_object().map(|o| o.keys().collect()).unwrap_or_default();
                keys.sort();
                format!("{keys:?}")
            } else {
                shape(&json)
            };
            got.push((what.to_string(), status, shape));
        }
        answers.push(got);
    }
    for ((what, status_a, shape_a), (_, status_b, shape_b)) in answers[0].iter().zip(&answers[1]) {
        assert_eq!(status_a, status_b, "{what}: status {} {status_a} vs {} {status_b}", servers[0].0, servers[1].0);
        assert_eq!(shape_a, shape_b, "{what}: the JSON differs in shape between {} and {}", servers[0].0, servers[1].0);
    }
    println!(
        "check: both sides answer {} requests with the same statuses and JSON shapes; POST with the token is 201 on both",
        answers[0].len()
    );
}

pub async fn run(args: &Args) {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!(
            "--http needs wrk, the HTTP load generator, on PATH: install it with `sudo apt-get install wrk` \
             (Debian/Ubuntu), `brew install wrk` (macOS), or build it from https://github.com/wg/wrk"
        );
        std::process::exit(2);
    }
    let dir = std::env::temp_dir().join(format!("almacen-bench-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let scripts: Vec<(&str, PathBuf)> = [("get", GET_LUA), ("list", LIST_LUA), ("post", POST_LUA)]
        .into_iter()
        .map(|(name, body)| {
            let path = dir.join(format!("{name}.lua"));
            std::fs::File::create(&path).and_then(|mut f| f.write_all(body.as_bytes())).expect("write the wrk script");
            (name, path)
        })
        .collect();
    let mut servers = Servers(Vec::new());
    let mut admins = Vec::new();
    for side in SIDES {
        let db = dir.join(format!("{side}.db"));
        admins.push(prepare(&db).await);
        let port = free_port();
        servers.0.push((side, port, spawn_server(args, side, &db, port)));
    }
    assert!(admins.windows(2).all(|w| w[0] == w[1]), "the admin's id differs between the databases");
    let floor_port = free_port();
    let floor = Servers(vec![("floor", floor_port, spawn_server(args, "floor", &dir.join("floor.db"), floor_port))]);
    wait_ready(floor_port).await;
    // The shop's guard checks the role in the database (the subject is the user's id); the
    // token's own claim is kept as the shop's login would issue it.
    let token = almacen_web::auth::TokenConfig::hs256(JWT_SECRET)
        .with_lifetime(Duration::from_secs(24 * 3600))
        .issue(&admins[0].to_string(), &["admin"])
        .expect("a token");
    for (_, port, _) in &servers.0 {
        wait_ready(*port).await;
    }
    check_same_answers(&servers.0, &token).await;

    println!(
        "HTTP: wrk -t{} -c{} -d{}s per round, {} rounds, sides alternate; median round; pools of {} connections on both sides; logging off on both{}",
        args.http_threads,
        args.http_connections,
        args.http_seconds,
        args.rounds,
        pool_size(),
        if args.http_split_cores { "; servers on CPU 0, wrk on CPU 1" } else { "" }
    );
    println!(
        "{:<8} {:>12} {:>9} {:>10} {:>14} {:>9} {:>10} {:>14} {:>9}",
        "workload", "sqlx req/s", "p99 ms", "µs CPU/req", "almacen req/s", "p99 ms", "µs CPU/req", "almacen/sqlx", "non-2xx"
    );
    let mut total_errors = 0;
    for (workload, script) in &scripts {
        let mut rps: Vec<Vec<f64>> = vec![Vec::new(); SIDES.len()];
        let mut p99: Vec<Vec<f64>> = vec![Vec::new(); SIDES.len()];
        let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); SIDES.len()];
        let mut errors = 0;
        for round in 0..args.rounds {
            // Alternate which side goes first, round by round.
            for k in 0..servers.0.len() {
                let i = (round + k) % servers.0.len();
                let (side, port, child) = &servers.0[i];
                let extra = vec![token.clone(), format!("{side}{round}")];
                let f = run_wrk(args, script, &format!("http://127.0.0.1:{port}"), &extra, child.id());
                if f.errors > 0 {
                    eprintln!("warning: {side} {workload} round {round}: {} errors (non-2xx or socket)", f.errors);
                }
                errors += f.errors;
                rps[i].push(f.requests_per_sec);
                p99[i].push(f.p99_ms);
                cpu[i].push(f.cpu_us_per_request);
            }
        }
        total_errors += errors;
        let (raw, ours) = (median(rps[0].clone()), median(rps[1].clone()));
        println!(
            "{:<8} {:>12.0} {:>9.2} {:>10.1} {:>14.0} {:>9.2} {:>10.1} {:>13.3}× {:>9}",
            workload,
            raw,
            median(p99[0].clone()),
            median(cpu[0].clone()),
            ours,
            median(p99[1].clone()),
            median(cpu[1].clone()),
            ours / raw,
            errors
        );
    }
    // The machine's ceiling: what plain axum serves with no database and no middleware, on
    // the same cores, with the same load generator.
    let floor_pid = floor.0[0].2.id();
    for (workload, what) in [("get", "one constant product"), ("list", "a constant page of 20 products")] {
        let script = &scripts.iter().find(|(name, _)| *name == workload).expect("the script").1;
        let floor_runs: Vec<Figures> = (0..args.rounds)
            .map(|round| {
                let url = format!("http://127.0.0.1:{floor_port}");
                let f = run_wrk(args, script, &url, &[token.clone(), format!("floor{round}")], floor_pid);
                total_errors += f.errors;
                f
            })
            .collect();
        println!(
            "floor    plain axum, {what}, no database, no middleware: {workload} {:.0} req/s, {:.1} µs CPU/req (median of {} rounds)",
            median(floor_runs.iter().map(|f| f.requests_per_sec).collect()),
            median(floor_runs.iter().map(|f| f.cpu_us_per_request).collect()),
            args.rounds
        );
    }
    drop(floor);
    if total_errors == 0 {
        println!("wrk: every response 2xx, no socket errors");
    } else {
        println!("wrk: {total_errors} non-2xx responses or socket errors (see the warnings)");
    }
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);
}
