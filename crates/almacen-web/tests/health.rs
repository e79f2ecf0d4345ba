//! `/health` and `/ready` over real HTTP on all three backends.

#[path = "../../almacen/tests/common/mod.rs"]
mod common;
mod support;

use almacen::Database;
use common::Backend;
use serde_json::json;
use support::{envelope, read, serve};

/// Live and ready; after the database is closed, still live but no longer ready.
async fn ready_until_closed(db: Database, _backend: Backend) {
    let base = serve(almacen_web::with_request_id(almacen_web::service_routes(db.clone()))).await;
    for _ in 0..2 {
        let (status, id, body) = read(reqwest::get(format!("{base}/health")).await.unwrap()).await;
        assert_eq!((status, body), (200, json!({"status": "ok"})));
        assert!(id.is_some());
        let (status, _, body) = read(reqwest::get(format!("{base}/ready")).await.unwrap()).await;
        assert_eq!((status, body), (200, json!({"status": "ok"})));
    }
    db.close().await;
    let started = std::time::Instant::now();
    let (status, _, body) = read(reqwest::get(format!("{base}/ready")).await.unwrap()).await;
    assert_eq!(status, 503, "{body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "{:?}", started.elapsed());
    let errors = envelope(status, &body);
    assert_eq!(errors[0]["type"], "database_unavailable", "{body}");
    let (status, _, body) = read(reqwest::get(format!("{base}/health")).await.unwrap()).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
}

per_backend!(ready_until_closed);
