//! Serving a router on a real socket for the tests, and checking the envelope.

#![allow(dead_code)]

use serde_json::Value;

/// Serve `app` on 127.0.0.1 (a free port) for the rest of the test; the base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}")
}

/// The response's status, `x-request-id` header and JSON body.
pub async fn read(resp: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = resp.status().as_u16();
    let id = resp.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_string());
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    let text = resp.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text:?}"));
    assert_eq!(ct.as_deref(), Some("application/json"), "{status} {text}");
    (status, id, body)
}

/// Check `body` is the error envelope (with `request_id` only on a 500) and return its
/// `errors`.
pub fn envelope(status: u16, body: &Value) -> Vec<Value> {
    let obj = body.as_object().unwrap_or_else(|| panic!("not an object: {body}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    let want: &[&str] = if status == 500 { &["detail", "errors", "request_id"] } else { &["detail", "errors"] };
    assert_eq!(keys, want, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    let errors = body["errors"].as_array().unwrap().clone();
    for e in &errors {
        let mut k: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        k.sort();
        assert_eq!(k, ["field", "message", "type"], "{body}");
        assert!(e["field"].is_null() || e["field"].is_string(), "{body}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        assert!(e["type"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    }
    errors
}
