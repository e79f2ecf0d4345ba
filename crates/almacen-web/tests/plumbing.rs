//! `with_service_layers` over real HTTP: panics, unknown routes and wrong methods answer in
//! the envelope with a request id.

mod support;

use axum::Router;
use axum::routing::get;
use support::{envelope, read, serve};

async fn app() -> String {
    let app = Router::new().route("/ok", get(|| async { almacen_web::Json(serde_json::json!({"ok": true})) })).route(
        "/panic",
        get(|| async {
            if std::hint::black_box(true) {
                panic!("secret panic text: password=hunter2");
            }
            "unreachable"
        }),
    );
    serve(almacen_web::with_service_layers(app)).await
}

#[tokio::test]
async fn a_panic_is_a_500_with_the_request_id() {
    let base = app().await;
    let resp = reqwest::Client::new().get(format!("{base}/panic")).header("x-request-id", "panic-1").send().await.unwrap();
    let (status, id, body) = read(resp).await;
    assert_eq!(status, 500, "{body}");
    assert!(envelope(status, &body).is_empty());
    assert_eq!((id.as_deref(), body["request_id"].as_str()), (Some("panic-1"), Some("panic-1")));
    assert_eq!(body["detail"], almacen_web::INTERNAL_DETAIL);
    assert!(!body.to_string().contains("hunter2"), "{body}");
    // The server goes on serving.
    let (status, _, body) = read(reqwest::get(format!("{base}/ok")).await.unwrap()).await;
    assert_eq!((status, body), (200, serde_json::json!({"ok": true})));
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_use_the_envelope() {
    let base = app().await;
    let (status, id, body) = read(reqwest::get(format!("{base}/nowhere")).await.unwrap()).await;
    assert_eq!(status, 404, "{body}");
    assert!(id.is_some());
    assert!(envelope(status, &body).is_empty());
    let (status, id, body) = read(reqwest::Client::new().post(format!("{base}/ok")).send().await.unwrap()).await;
    assert_eq!(status, 405, "{body}");
    assert!(id.is_some());
    assert!(envelope(status, &body).is_empty());
    assert_eq!(body["detail"], "method not allowed");
}
