//! The JSON extractor over real HTTP: every rejection is the envelope with the right status.

mod support;

use almacen_web::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::{envelope, read, serve};

#[derive(Deserialize, Serialize)]
struct Item {
    quantity: u32,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Strict {
    name: String,
    qty: u32,
    #[serde(default)]
    items: Vec<Item>,
}

#[derive(Deserialize, Serialize)]
struct Lenient {
    name: String,
}

async fn app() -> String {
    let app = Router::new()
        .route("/strict", post(|Json(v): Json<Strict>| async move { Json(v) }))
        .route("/lenient", post(|Json(v): Json<Lenient>| async move { Json(v) }))
        .route("/small", post(|Json(v): Json<Value>| async move { Json(v) }).layer(DefaultBodyLimit::max(64)));
    serve(app).await
}

async fn post_raw(url: &str, content_type: Option<&str>, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let mut req = reqwest::Client::new().post(url).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let (status, _, body) = read(req.send().await.unwrap()).await;
    (status, body)
}

/// The one error of a 422/413/415: (field, type).
fn only_error(status: u16, body: &Value) -> (Option<String>, String) {
    let errors = envelope(status, body);
    assert_eq!(errors.len(), 1, "{body}");
    (errors[0]["field"].as_str().map(str::to_string), errors[0]["type"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn valid_bodies_pass_through() {
    let base = app().await;
    let body = json!({"name": "lamp", "qty": 2, "items": [{"quantity": 1}]});
    for ct in ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"] {
        let (status, got) = post_raw(&format!("{base}/strict"), Some(ct), body.to_string()).await;
        assert_eq!((status, &got), (200, &body), "{ct}");
    }
}

#[tokio::test]
async fn malformed_json_is_422_json_invalid() {
    let base = app().await;
    for bad in [r#"{"name": "#, "hello", r#"{"name": "a", "qty": 1} trailing"#, "", r#"{"name": "a",}"#] {
        let (status, body) = post_raw(&format!("{base}/strict"), Some("application/json"), bad).await;
        assert_eq!(status, 422, "{bad:?}: {body}");
        assert_eq!(only_error(status, &body), (None, "json_invalid".into()), "{bad:?}: {body}");
        assert_eq!(body["detail"], "the request body is not valid JSON");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(!message.contains(" at line "), "{message}");
    }
}

#[tokio::test]
async fn wrong_types_name_the_path() {
    let base = app().await;
    let cases = [
        (json!({"name": "a", "qty": "two"}), Some("qty")),
        (json!({"name": 5, "qty": 1}), Some("name")),
        (json!({"name": "a", "qty": -1}), Some("qty")),
        (json!({"name": "a", "qty": 1, "items": [{"quantity": 1}, {"quantity": "x"}]}), Some("items[1].quantity")),
        (json!({"name": "a", "qty": 1, "items": {"quantity": 1}}), Some("items")),
        (json!("a string"), None),
        (json!(42), None),
    ];
    for (input, field) in cases {
        let (status, body) = post_raw(&format!("{base}/strict"), Some("application/json"), input.to_string()).await;
        assert_eq!(status, 422, "{input}: {body}");
        assert_eq!(only_error(status, &body), (field.map(str::to_string), "type_error".into()), "{input}: {body}");
        assert_eq!(body["detail"], "invalid input");
    }
}

#[tokio::test]
async fn missing_fields_are_named() {
    let base = app().await;
    let cases =
        [(json!({"qty": 1}), "name"), (json!({"name": "a"}), "qty"), (json!({"name": "a", "qty": 1, "items": [{}]}), "items[0].quantity")];
    for (input, field) in cases {
        let (status, body) = post_raw(&format!("{base}/strict"), Some("application/json"), input.to_string()).await;
        assert_eq!(status, 422, "{input}: {body}");
        assert_eq!(only_error(status, &body), (Some(field.to_string()), "missing".into()), "{input}: {body}");
    }
}

#[tokio::test]
async fn unknown_fields_denied_or_ignored_by_the_dto() {
    let base = app().await;
    let input = json!({"name": "a", "qty": 1, "nmae": "typo"});
    let (status, body) = post_raw(&format!("{base}/strict"), Some("application/json"), input.to_string()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(only_error(status, &body), (Some("nmae".into()), "unknown_field".into()), "{body}");

    let input = json!({"name": "a", "extra": {"anything": [1]}});
    let (status, body) = post_raw(&format!("{base}/lenient"), Some("application/json"), input.to_string()).await;
    assert_eq!((status, body), (200, json!({"name": "a"})));

    // Nested: the path of the unknown key.
    let input = json!({"name": "a", "qty": 1, "items": [{"quantity": 1, "qty": 2}]});
    let (status, body) = post_raw(&format!("{base}/strict"), Some("application/json"), input.to_string()).await;
    assert_eq!(status, 200, "Item does not deny unknown fields: {body}");
}

#[tokio::test]
async fn wrong_or_missing_content_type_is_415() {
    let base = app().await;
    let good = json!({"name": "a", "qty": 1}).to_string();
    for ct in [None, Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("json"), Some("application/jsonx")] {
        let (status, body) = post_raw(&format!("{base}/strict"), ct, good.clone()).await;
        assert_eq!(status, 415, "{ct:?}: {body}");
        assert_eq!(only_error(status, &body), (None, "unsupported_media_type".into()), "{ct:?}");
    }
}

#[tokio::test]
async fn oversized_body_is_413() {
    let base = app().await;
    // Under the 64-byte limit: fine.
    let (status, _) = post_raw(&format!("{base}/small"), Some("application/json"), json!({"a": 1}).to_string()).await;
    assert_eq!(status, 200);
    // Over it, with a Content-Length and streamed without one.
    let big = json!({"a": "x".repeat(1000)}).to_string();
    let (status, body) = post_raw(&format!("{base}/small"), Some("application/json"), big.clone()).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(only_error(status, &body), (None, "body_too_large".into()));
    // Chunked, without a Content-Length (written by hand: the limit must hold while reading).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    let mut request = String::from(
        "POST /small HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    for chunk in big.as_bytes().chunks(100) {
        request.push_str(&format!("{:x}\r\n{}\r\n", chunk.len(), std::str::from_utf8(chunk).unwrap()));
    }
    request.push_str("0\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    let body: Value = serde_json::from_str(&response[response.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert_eq!(only_error(413, &body), (None, "body_too_large".into()));
}

#[test]
fn serde_messages_never_quote_the_value() {
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct T {
        i: i32,
        s: u32,
        e: Option<Color>,
    }
    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "lowercase")]
    enum Color {
        Red,
    }
    for (body, secret) in [
        (r#"{"i": 99999999999, "s": 1}"#, "99999999999"),
        (r#"{"i": 1, "s": "hunter2"}"#, "hunter2"),
        (r#"{"i": 1, "s": 1, "e": "hunter3"}"#, "hunter3"),
    ] {
        let e = almacen_web::json::parse::<T>(body.as_bytes()).unwrap_err();
        let text = serde_json::to_string(&e.errors()).unwrap();
        assert!(!text.contains(secret), "{body}: {text}");
        assert!(text.contains("expected"), "{body}: {text}");
    }
}

#[test]
fn a_number_out_of_range_is_a_field_error() {
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct T {
        price: f64,
    }
    let e = almacen_web::json::parse::<T>(br#"{"price": 1e400}"#).unwrap_err();
    assert_eq!((e.errors()[0].field.as_deref(), e.errors()[0].kind.as_str()), (Some("price"), "out_of_range"));
}
