//! `ServiceConfig` over real HTTP: the request timeout answers 504 in the envelope with the
//! request id, CORS headers go to allowed origins only, and the body limit is applied.

mod support;

use almacen_web::{Json, ServiceConfig};
use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::{envelope, read, serve};

fn routes() -> Router {
    Router::new()
        .route("/ok", get(|| async { Json(json!({"ok": true})) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                Json(json!({"slept": true}))
            }),
        )
        .route("/echo", post(|Json(v): Json<Value>| async move { Json(json!({"len": v.to_string().len()})) }))
}

const ALLOWED: &str = "https://shop.example.com";

#[tokio::test]
async fn a_slow_request_gets_504_in_the_envelope_with_its_request_id() {
    let base = serve(ServiceConfig::default().request_timeout(Some(Duration::from_millis(300))).apply(routes())).await;
    let started = Instant::now();
    let resp = reqwest::Client::new().get(format!("{base}/slow")).header("x-request-id", "slow-1").send().await.unwrap();
    let (status, id, body) = read(resp).await;
    assert_eq!(status, 504, "{body}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(id.as_deref(), Some("slow-1"));
    let errors = envelope(status, &body);
    assert_eq!((errors[0]["field"].as_str(), errors[0]["type"].as_str()), (None, Some("request_timeout")), "{body}");
    // A fast request is untouched.
    let (status, _, body) = read(reqwest::get(format!("{base}/ok")).await.unwrap()).await;
    assert_eq!((status, body), (200, json!({"ok": true})));
    // No timeout: the slow handler finishes.
    let base = serve(ServiceConfig::default().request_timeout(None).apply(routes())).await;
    let (status, _, body) = read(reqwest::get(format!("{base}/slow")).await.unwrap()).await;
    assert_eq!((status, body), (200, json!({"slept": true})));
}

async fn preflight(base: &str, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{base}/echo"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers().get(name).map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn cors_headers_go_to_allowed_origins_only() {
    let base = serve(ServiceConfig::default().cors_origins([ALLOWED, "http://localhost:5173"]).unwrap().apply(routes())).await;

    let resp = preflight(&base, ALLOWED).await;
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(header(&resp, "access-control-allow-origin").as_deref(), Some(ALLOWED));
    assert!(header(&resp, "access-control-allow-methods").unwrap().contains("POST"));
    assert!(header(&resp, "access-control-allow-headers").unwrap().to_lowercase().contains("content-type"));
    assert!(header(&resp, "access-control-max-age").is_some());

    // Another origin: no Access-Control-Allow-Origin, so the browser refuses the call
    // (tower-http still lists the methods, which grants nothing without it).
    let resp = preflight(&base, "https://evil.example.com").await;
    assert_eq!(header(&resp, "access-control-allow-origin"), None);

    // An actual request from the allowed origin: the origin allowed and the request id exposed.
    let resp = reqwest::Client::new().get(format!("{base}/ok")).header("origin", ALLOWED).send().await.unwrap();
    assert_eq!(header(&resp, "access-control-allow-origin").as_deref(), Some(ALLOWED));
    assert!(header(&resp, "access-control-expose-headers").unwrap().contains("x-request-id"));
    let resp = reqwest::Client::new().get(format!("{base}/ok")).header("origin", "https://evil.example.com").send().await.unwrap();
    assert_eq!(header(&resp, "access-control-allow-origin"), None);

    // By default no origin is allowed: no CORS headers for anyone.
    let base = serve(almacen_web::with_service_layers(routes())).await;
    let resp = preflight(&base, ALLOWED).await;
    assert_eq!(header(&resp, "access-control-allow-origin"), None);
    let resp = reqwest::Client::new().get(format!("{base}/ok")).header("origin", ALLOWED).send().await.unwrap();
    assert_eq!(header(&resp, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn the_body_limit_is_applied() {
    let base = serve(ServiceConfig::default().body_limit(1024).apply(routes())).await;
    let post = |body: Value| reqwest::Client::new().post(format!("{base}/echo")).json(&body).send();
    let (status, _, body) = read(post(json!({"text": "x".repeat(500)})).await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = read(post(json!({"text": "x".repeat(2000)})).await.unwrap()).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(envelope(status, &body)[0]["type"], "body_too_large");
    // The default (2 MiB) takes the same 2000 characters.
    let base = serve(almacen_web::with_service_layers(routes())).await;
    let resp = reqwest::Client::new().post(format!("{base}/echo")).json(&json!({"text": "x".repeat(2000)})).send().await.unwrap();
    assert_eq!(read(resp).await.0, 200);
}

fn list_routes() -> Router {
    let items: Vec<Value> = (0..500).map(|i| json!({"id": i, "name": format!("item number {i}")})).collect();
    Router::new()
        .route(
            "/items",
            get(move || {
                let items = items.clone();
                async move { Json(Value::Array(items)) }
            }),
        )
        // Some 300 bytes: over tower-http's default threshold (32), under ours (1 KiB).
        .route("/small", get(|| async { Json(json!({"ok": true, "note": "x".repeat(300)})) }))
}

async fn get_gzip(url: &str) -> (Option<String>, Vec<u8>) {
    // reqwest is built without its gzip feature: the body comes as sent.
    let resp = reqwest::Client::new().get(url).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let enc = resp.headers().get("content-encoding").map(|v| v.to_str().unwrap().to_string());
    (enc, resp.bytes().await.unwrap().to_vec())
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

#[tokio::test]
async fn large_bodies_are_gzipped_small_ones_not() {
    let base = serve(ServiceConfig::default().apply(list_routes())).await;
    let plain = reqwest::get(format!("{base}/items")).await.unwrap().bytes().await.unwrap().to_vec();
    let (enc, bytes) = get_gzip(&format!("{base}/items")).await;
    assert_eq!(enc.as_deref(), Some("gzip"));
    assert!(bytes.len() < plain.len(), "{} compressed vs {} plain", bytes.len(), plain.len());
    let decoded = gunzip(&bytes);
    let v: Value = serde_json::from_slice(&decoded).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 500);
    assert_eq!(decoded, plain, "the same JSON");

    let (enc, bytes) = get_gzip(&format!("{base}/small")).await;
    assert_eq!(enc, None, "a small body is sent as is");
    assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap()["ok"], true);

    // Without Accept-Encoding, never compressed.
    let resp = reqwest::get(format!("{base}/items")).await.unwrap();
    assert!(resp.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn compression_can_be_turned_off() {
    let base = serve(ServiceConfig::default().compression(None).apply(list_routes())).await;
    let (enc, bytes) = get_gzip(&format!("{base}/items")).await;
    assert_eq!(enc, None);
    assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap().as_array().unwrap().len(), 500);
}

/// A request that declares a body over the limit is answered 413 at once, from its headers,
/// even when the client sends nothing more: it does not hold the connection until the
/// request timeout (which answered 504 before).
#[tokio::test]
async fn a_declared_length_over_the_limit_is_a_413_before_the_body() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let base = serve(ServiceConfig::default().body_limit(1024).request_timeout(Some(Duration::from_secs(20))).apply(routes())).await;
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("POST /echo HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 3145728\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    // Read the head and the body of the answer, without sending the promised body.
    while !String::from_utf8_lossy(&answer).contains("body_too_large") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await.expect("answered within 10 s").unwrap();
        assert!(n > 0, "closed without an answer: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // A body within the limit still goes through.
    let (status, _, body) = read(reqwest::Client::new().post(format!("{base}/echo")).json(&json!({"a": 1})).send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
}
