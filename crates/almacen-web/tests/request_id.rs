//! Request ids over real HTTP: taken from the client when well-formed, replaced when not,
//! echoed, given to handlers, in the body of a 500 (whose cause is only in the log) and on
//! the log lines of the request.

mod support;

use almacen_web::{ApiError, RequestId, with_request_id};
use axum::Router;
use axum::routing::get;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use support::{envelope, read, serve};

/// Everything logged by this test binary.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).init();
        captured
    })
}

fn log_text() -> String {
    String::from_utf8(logs().0.lock().unwrap().clone()).unwrap()
}

const SECRET: &str = "connect to postgres://app:hunter2@db.internal/shop failed: SELECT password FROM users";

async fn app() -> String {
    logs();
    let app = Router::new()
        .route("/id", get(|id: RequestId| async move { id.to_string() }))
        .route(
            "/boom",
            get(|| async {
                tracing::info!("about to fail");
                Err::<(), _>(ApiError::internal(SECRET))
            }),
        )
        .route("/missing", get(|| async { Err::<(), _>(ApiError::not_found()) }));
    serve(with_request_id(app)).await
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| u.get_version_num() == 4)
}

async fn get_id(url: &str, header: Option<&str>) -> (String, String) {
    get_id_bytes(url, header.map(str::as_bytes)).await
}

async fn get_id_bytes(url: &str, header: Option<&[u8]>) -> (String, String) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(h) = header {
        req = req.header("x-request-id", reqwest::header::HeaderValue::from_bytes(h).unwrap());
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let echoed = resp.headers().get("x-request-id").expect("x-request-id echoed").to_str().unwrap().to_string();
    (echoed, resp.text().await.unwrap())
}

#[tokio::test]
async fn a_new_id_when_the_client_sends_none() {
    let base = app().await;
    let (echoed, seen) = get_id(&format!("{base}/id"), None).await;
    assert!(is_uuid(&echoed), "{echoed}");
    assert_eq!(seen, echoed, "the handler sees the id the response carries");
    let (again, _) = get_id(&format!("{base}/id"), None).await;
    assert_ne!(again, echoed, "one id per request");
}

#[tokio::test]
async fn a_well_formed_client_id_is_kept() {
    let base = app().await;
    for id in ["abc-123", "7f9c2ba4-e88f-11e3-a5e8-0800200c9a66", "trace:1/span.2_x", &"x".repeat(128)] {
        let (echoed, seen) = get_id(&format!("{base}/id"), Some(id)).await;
        assert_eq!((echoed.as_str(), seen.as_str()), (id, id));
    }
}

#[tokio::test]
async fn a_malformed_client_id_is_replaced() {
    let base = app().await;
    let long = "x".repeat(129);
    for id in [&b"two words"[..], b"", b"semi;colon", b"quote\"d", long.as_bytes(), b"caf\xe9", b"tab\there"] {
        let (echoed, seen) = get_id_bytes(&format!("{base}/id"), Some(id)).await;
        assert!(is_uuid(&echoed), "{id:?} → {echoed:?}");
        assert_eq!(seen, echoed);
    }
}

#[tokio::test]
async fn a_500_carries_the_request_id_and_hides_the_cause() {
    let base = app().await;
    for client_id in [None, Some("client-chosen-500")] {
        let mut req = reqwest::Client::new().get(format!("{base}/boom"));
        if let Some(id) = client_id {
            req = req.header("x-request-id", id);
        }
        let (status, header_id, body) = read(req.send().await.unwrap()).await;
        assert_eq!(status, 500);
        assert!(envelope(status, &body).is_empty(), "{body}");
        assert_eq!(body["detail"], almacen_web::INTERNAL_DETAIL);
        let header_id = header_id.expect("x-request-id");
        assert_eq!(body["request_id"].as_str(), Some(header_id.as_str()), "{body}");
        if let Some(id) = client_id {
            assert_eq!(header_id, id);
        }
        let text = body.to_string();
        for leak in ["hunter2", "postgres://", "SELECT", "password", "db.internal"] {
            assert!(!text.contains(leak), "{leak} leaked: {text}");
        }
        // The cause is in the log, at error level, on a line that names the request.
        let log = log_text();
        let line = log
            .lines()
            .find(|l| l.contains(&header_id) && l.contains("hunter2"))
            .unwrap_or_else(|| panic!("no log line with {header_id} and the cause:\n{log}"));
        assert!(line.contains("ERROR"), "{line}");
        // The handler's own log lines carry the request id (the span).
        assert!(log.lines().any(|l| l.contains("about to fail") && l.contains(&header_id)), "{log}");
    }
}

#[tokio::test]
async fn other_errors_carry_the_header_but_no_request_id_in_the_body() {
    let base = app().await;
    let (status, header_id, body) = read(reqwest::get(format!("{base}/missing")).await.unwrap()).await;
    assert_eq!(status, 404);
    assert!(header_id.is_some_and(|id| is_uuid(&id)));
    assert!(envelope(status, &body).is_empty());
    assert_eq!(body["detail"], "not found");
}
