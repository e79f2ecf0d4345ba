//! Graceful shutdown: in process with a trigger future (a request in flight completes, new
//! connections are refused, background tasks finish and the database is closed before
//! `serve` returns), the shutdown timeout, and a real process stopped with SIGTERM.

use almacen_web::{BackgroundTasks, ServeOptions, TaskRunner, serve, with_service_layers};
use axum::Router;
use axum::routing::get;
use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Wait (a bounded number of tries) until connecting to `addr` is refused.
async fn until_refused(addr: std::net::SocketAddr) -> bool {
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_and_background_tasks_finish_before_serve_returns() {
    let db = almacen::Database::connect("sqlite::memory:").await.unwrap();
    let (entered_tx, mut entered_rx) = mpsc::unbounded_channel::<()>();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let release_rx = Arc::new(Mutex::new(Some(release_rx)));
    let (task_tx, mut task_rx) = mpsc::unbounded_channel::<&'static str>();
    let handler = move |tasks: BackgroundTasks| {
        let release = release_rx.lock().unwrap().take().unwrap();
        let entered_tx = entered_tx.clone();
        let task_tx = task_tx.clone();
        async move {
            entered_tx.send(()).unwrap();
            let _ = release.await;
            tasks.spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                task_tx.send("background done").unwrap();
            });
            "slow done"
        }
    };
    let runner = TaskRunner::new();
    let app = with_service_layers(runner.apply(Router::new().route("/slow", get(handler))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let options =
        ServeOptions::new().shutdown_timeout(Duration::from_secs(30)).database(db.clone()).background(runner).shutdown_on(async {
            let _ = stop_rx.await;
        });
    let server = tokio::spawn(serve(listener, app, options));

    let in_flight = tokio::spawn(async move { reqwest::get(format!("http://{addr}/slow")).await.unwrap().text().await.unwrap() });
    entered_rx.recv().await.unwrap();
    stop_tx.send(()).unwrap();
    assert!(until_refused(addr).await, "new connections still accepted after the shutdown began");
    assert!(!server.is_finished(), "serve returned with a request in flight");
    release_tx.send(()).unwrap();
    assert_eq!(in_flight.await.unwrap(), "slow done");
    server.await.unwrap().unwrap();
    assert_eq!(task_rx.try_recv(), Ok("background done"), "the background task finished before serve returned");
    assert!(db.is_closed(), "the database is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_the_shutdown_timeout_is_cut() {
    let (entered_tx, mut entered_rx) = mpsc::unbounded_channel::<()>();
    let handler = move || {
        let entered_tx = entered_tx.clone();
        async move {
            entered_tx.send(()).unwrap();
            std::future::pending::<&'static str>().await
        }
    };
    let app = Router::new().route("/never", get(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let options = ServeOptions::new().shutdown_timeout(Duration::from_millis(200)).shutdown_on(async {
        let _ = stop_rx.await;
    });
    let server = tokio::spawn(serve(listener, app, options));
    let in_flight = tokio::spawn(async move { reqwest::get(format!("http://{addr}/never")).await.unwrap() });
    entered_rx.recv().await.unwrap();
    stop_tx.send(()).unwrap();
    server.await.unwrap().unwrap();
    let resp = in_flight.await.unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["type"], "shutting_down", "{body}");
}

/// The child half of `sigterm_stops_a_real_process`: serves until SIGTERM (ignored when run
/// on its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by sigterm_stops_a_real_process as a child process"]
async fn child_serve() {
    if std::env::var("ALMACEN_WEB_CHILD_SERVE").is_err() {
        return;
    }
    let db = almacen::Database::connect("sqlite::memory:").await.unwrap();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let handler = move |tasks: BackgroundTasks| {
        let flag = flag.clone();
        async move {
            // Answer only once the SIGTERM has arrived: the request is in flight during it.
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
            println!("IN FLIGHT");
            term.recv().await;
            tasks.spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            "slow done"
        }
    };
    let runner = TaskRunner::new();
    let app = with_service_layers(runner.apply(Router::new().route("/slow", get(handler))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = ServeOptions::new().shutdown_timeout(Duration::from_secs(30)).database(db.clone()).background(runner);
    println!("LISTENING {}", listener.local_addr().unwrap());
    serve(listener, app, options).await.unwrap();
    println!("SERVE RETURNED background_done={} db_closed={}", done.load(std::sync::atomic::Ordering::SeqCst), db.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_real_process() {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_serve", "--ignored", "--nocapture", "--test-threads", "1"])
        .env("ALMACEN_WEB_CHILD_SERVE", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let (line_tx, mut line_rx) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let addr = loop {
        let line = line_rx.recv().await.unwrap_or_else(|| panic!("the child ended before listening: {seen:?}"));
        // libtest's "test child_serve ... " comes first on the line.
        if let Some(a) = line.split("LISTENING ").nth(1) {
            break a.trim().to_string();
        }
        seen.push(line);
    };
    let in_flight = tokio::spawn(async move { reqwest::get(format!("http://{addr}/slow")).await.unwrap().text().await.unwrap() });
    loop {
        let line = line_rx.recv().await.unwrap_or_else(|| panic!("the child ended before the request: {seen:?}"));
        if line.contains("IN FLIGHT") {
            break;
        }
        seen.push(line);
    }
    let killed = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    assert_eq!(in_flight.await.unwrap(), "slow done", "the request in flight completed");
    let mut rest = Vec::new();
    while let Some(line) = line_rx.recv().await {
        rest.push(line);
    }
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(status.success(), "the child failed: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("SERVE RETURNED background_done=true db_closed=true")), "{rest:?}");
}

/// The whole shutdown (requests in flight, then background tasks) fits in the one
/// shutdown timeout, counted from the signal: with a request and a background task that
/// never finish, `serve` returns at the deadline, not the requests' timeout plus the
/// drain's. On Tokio's paused clock, so that the virtual time measured is exact.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_whole_shutdown_fits_in_the_timeout() {
    let (entered_tx, mut entered_rx) = mpsc::unbounded_channel::<()>();
    let handler = move |tasks: BackgroundTasks| {
        let entered_tx = entered_tx.clone();
        async move {
            tasks.spawn(std::future::pending());
            entered_tx.send(()).unwrap();
            std::future::pending::<&'static str>().await
        }
    };
    let runner = TaskRunner::new();
    runner.spawn(std::future::pending());
    let app = runner.apply(Router::new().route("/never", get(handler)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let timeout = Duration::from_secs(10);
    let options = ServeOptions::new().shutdown_timeout(timeout).background(runner.clone()).shutdown_on(async {
        let _ = stop_rx.await;
    });
    let server = tokio::spawn(serve(listener, app, options));
    let in_flight = tokio::spawn(async move { reqwest::get(format!("http://{addr}/never")).await.map(|r| r.status().as_u16()) });
    entered_rx.recv().await.unwrap();
    let began = tokio::time::Instant::now();
    stop_tx.send(()).unwrap();
    server.await.unwrap().unwrap();
    let took = began.elapsed();
    assert!(took <= timeout, "the shutdown took {took:?} on the paused clock, past its timeout of {timeout:?}");
    assert_eq!(runner.running(), 0, "the background task was aborted");
    drop(in_flight);

    // A drained runner goes on: a task spawned after an aborting drain runs to its end.
    let (done_tx, done_rx) = oneshot::channel::<()>();
    runner.spawn(async move {
        tokio::task::yield_now().await;
        done_tx.send(()).unwrap();
    });
    done_rx.await.expect("a task spawned after an aborting drain was aborted at once");
}
