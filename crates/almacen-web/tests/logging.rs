//! Structured logs: one JSON line per request, with its id, method, route template, status
//! and latency, and no secret from the headers or the query string.

mod support;

use almacen_web::{LogFormat, logging, with_service_layers};
use axum::Router;
use axum::routing::get;
use serde_json::Value;
use std::io::Write;
use std::sync::{Arc, Mutex};
use support::serve;
use tracing_subscriber::EnvFilter;

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

impl Capture {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// The only test in this binary that installs the global subscriber.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_json_line_per_request_without_secrets() {
    let capture = Capture::default();
    let writer = capture.clone();
    let sub = logging::subscriber(LogFormat::Json, EnvFilter::new("info"), move || writer.clone());
    tracing::subscriber::set_global_default(sub).unwrap();

    let app = with_service_layers(Router::new().route("/login/{user}", get(|| async { "ok" })));
    let base = serve(app).await;
    let resp = reqwest::Client::new()
        .get(format!("{base}/login/bob?password=hunter2-secret&next=%2Fhome"))
        .header("authorization", "Bearer token-secret-xyz")
        .header("x-request-id", "req-log-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let resp = reqwest::get(format!("{base}/nowhere")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 404);

    let text = capture.text();
    let lines: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))).collect();
    let finished: Vec<&Value> = lines.iter().filter(|v| v["message"] == "request finished").collect();
    let ok = finished.iter().find(|v| v["request_id"] == "req-log-1").unwrap_or_else(|| panic!("no access log line:\n{text}"));
    assert_eq!(ok["level"], "INFO", "{ok}");
    assert_eq!(ok["method"], "GET", "{ok}");
    assert_eq!(ok["route"], "/login/{user}", "{ok}");
    assert_eq!(ok["status"], 200, "{ok}");
    assert!(ok["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{ok}");
    // The request span, with the raw path but not the query string.
    assert_eq!(ok["span"]["request_id"], "req-log-1", "{ok}");
    assert_eq!(ok["span"]["path"], "/login/bob", "{ok}");

    let missing = finished.iter().find(|v| v["status"] == 404).unwrap_or_else(|| panic!("no 404 line:\n{text}"));
    assert_eq!(missing["route"], "unmatched", "{missing}");
    assert!(missing["request_id"].as_str().is_some_and(|id| id.len() == 36), "{missing}");

    for secret in ["hunter2", "token-secret", "password"] {
        assert!(!text.contains(secret), "{secret} logged:\n{text}");
    }
}

#[test]
fn text_format_writes_readable_lines() {
    let capture = Capture::default();
    let writer = capture.clone();
    let sub = logging::subscriber(LogFormat::Text, EnvFilter::new("info"), move || writer.clone());
    tracing::subscriber::with_default(sub, || tracing::info!(status = 200, "request finished"));
    let text = capture.text();
    assert!(text.contains("INFO") && text.contains("request finished") && text.contains("status=200"), "{text}");
    assert!(serde_json::from_str::<Value>(text.trim()).is_err(), "{text}");
}

#[test]
fn log_format_parses() {
    assert_eq!("JSON".parse::<LogFormat>().unwrap(), LogFormat::Json);
    assert_eq!("text".parse::<LogFormat>().unwrap(), LogFormat::Text);
    let err = "yaml".parse::<LogFormat>().unwrap_err();
    assert!(err.contains("yaml") && err.contains("json or text"), "{err}");
}
