//! Background tasks over real HTTP: they start once the response is sent, a panicking one
//! is logged and the server goes on, and draining aborts those still running at the bound.

mod support;

use almacen_web::{BackgroundTasks, TaskRunner, with_service_layers};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use futures::StreamExt;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::serve;
use tokio::sync::{mpsc, oneshot};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A response whose body ends only when `release` fires, with a task queued that reports
/// on `ran`.
#[tokio::test]
async fn tasks_start_once_the_response_is_sent() {
    let (ran_tx, mut ran_rx) = mpsc::unbounded_channel::<&'static str>();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let release_rx = Arc::new(Mutex::new(Some(release_rx)));
    let runner = TaskRunner::new();
    let handler = move |tasks: BackgroundTasks| {
        let ran_tx = ran_tx.clone();
        let release = release_rx.lock().unwrap().take().unwrap();
        async move {
            tasks.spawn(async move {
                ran_tx.send("task ran").unwrap();
            });
            let head = futures::stream::once(async { Ok::<_, std::io::Error>("first part, ") });
            let tail = futures::stream::once(async move {
                let _ = release.await;
                Ok::<_, std::io::Error>("last part")
            });
            Body::from_stream(head.chain(tail))
        }
    };
    let app = with_service_layers(runner.apply(Router::new().route("/stream", get(handler))));
    let base = serve(app).await;

    let mut resp = reqwest::get(format!("{base}/stream")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let first = resp.chunk().await.unwrap().unwrap();
    assert_eq!(&first[..], b"first part, ");
    // The handler has answered but the body is not sent yet: the task has not started.
    tokio::task::yield_now().await;
    assert!(ran_rx.try_recv().is_err(), "the task ran before the response was sent");
    release_tx.send(()).unwrap();
    let mut rest = Vec::new();
    while let Some(c) = resp.chunk().await.unwrap() {
        rest.extend_from_slice(&c);
    }
    assert_eq!(rest, b"last part");
    assert_eq!(ran_rx.recv().await, Some("task ran"));
    assert_eq!(runner.drain(Duration::from_secs(10)).await.aborted, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_task_is_logged_and_the_server_goes_on() {
    let capture = Capture::default();
    let writer = capture.clone();
    let sub =
        almacen_web::logging::subscriber(almacen_web::LogFormat::Json, tracing_subscriber::EnvFilter::new("info"), move || writer.clone());
    tracing::subscriber::set_global_default(sub).unwrap();

    let (ran_tx, mut ran_rx) = mpsc::unbounded_channel::<u32>();
    let runner = TaskRunner::new();
    let handler = move |tasks: BackgroundTasks, axum::extract::Path(n): axum::extract::Path<u32>| {
        let ran_tx = ran_tx.clone();
        async move {
            tasks.spawn(async move {
                if n == 1 {
                    panic!("task {n} failed");
                }
                ran_tx.send(n).unwrap();
            });
            "ok"
        }
    };
    let app = with_service_layers(runner.apply(Router::new().route("/work/{n}", get(handler))));
    let base = serve(app).await;
    assert_eq!(reqwest::get(format!("{base}/work/1")).await.unwrap().text().await.unwrap(), "ok");
    assert_eq!(reqwest::get(format!("{base}/work/2")).await.unwrap().text().await.unwrap(), "ok");
    assert_eq!(ran_rx.recv().await, Some(2), "the next task still runs");
    assert_eq!(runner.drain(Duration::from_secs(10)).await.aborted, 0);
    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let line = log.lines().find(|l| l.contains("background task panicked")).unwrap_or_else(|| panic!("not logged:\n{log}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["level"], "ERROR");
    assert_eq!(v["panic"], "task 1 failed");
}

struct Dropped(Option<oneshot::Sender<()>>);
impl Drop for Dropped {
    fn drop(&mut self) {
        let _ = self.0.take().unwrap().send(());
    }
}

#[tokio::test]
async fn drain_waits_for_tasks_and_aborts_those_past_the_bound() {
    let runner = TaskRunner::new();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    runner.spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        done_tx.send(()).unwrap();
    });
    let report = runner.drain(Duration::from_secs(30)).await;
    assert_eq!(report.aborted, 0);
    done_rx.await.expect("the task finished before drain returned");

    let runner = TaskRunner::new();
    let (dropped_tx, dropped_rx) = oneshot::channel::<()>();
    runner.spawn(async move {
        let _guard = Dropped(Some(dropped_tx));
        std::future::pending::<()>().await;
    });
    let report = runner.drain(Duration::from_millis(50)).await;
    assert_eq!(report.aborted, 1);
    assert_eq!(runner.running(), 0);
    dropped_rx.await.expect("the aborted task was dropped");
}

/// A request that fails (4xx, or a handler that panics) runs none of the tasks it queued;
/// the next successful one runs its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_of_a_failed_request_never_run() {
    let (ran_tx, mut ran_rx) = mpsc::unbounded_channel::<String>();
    let runner = TaskRunner::new();
    let handler = move |tasks: BackgroundTasks, axum::extract::Path(what): axum::extract::Path<String>| {
        let ran_tx = ran_tx.clone();
        async move {
            let name = what.clone();
            tasks.spawn(async move {
                ran_tx.send(name).unwrap();
            });
            match what.as_str() {
                "invalid" => Err(almacen_web::ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "invalid")),
                "panics" => panic!("after queueing a task"),
                _ => Ok("ok"),
            }
        }
    };
    let app = with_service_layers(runner.apply(Router::new().route("/work/{what}", get(handler))));
    let base = serve(app).await;
    assert_eq!(reqwest::get(format!("{base}/work/invalid")).await.unwrap().status().as_u16(), 422);
    assert_eq!(reqwest::get(format!("{base}/work/panics")).await.unwrap().status().as_u16(), 500);
    assert_eq!(reqwest::get(format!("{base}/work/good")).await.unwrap().text().await.unwrap(), "ok");
    assert_eq!(ran_rx.recv().await.as_deref(), Some("good"));
    assert_eq!(runner.drain(Duration::from_secs(10)).await.aborted, 0);
    assert!(ran_rx.try_recv().is_err(), "a task of a failed request ran");
}
