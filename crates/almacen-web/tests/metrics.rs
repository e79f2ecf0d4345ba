//! `GET /metrics` scraped over HTTP after real requests, on all three backends: requests
//! by route template and status, the latency histogram, the pool gauges and the statement
//! count.

#[path = "../../almacen/tests/common/mod.rs"]
mod common;
mod support;

use almacen::Database;
use almacen::prelude::*;
use almacen_web::{ApiError, Db, Metrics, Path, ServiceConfig, with_database};
use axum::Router;
use axum::routing::get;
use common::Backend;
use support::serve;

async fn user(db: Db, Path(id): Path<i64>) -> Result<String, ApiError> {
    db.fetch_one_raw("SELECT 1 AS one", params! {}).await?;
    Ok(format!("user {id}"))
}

async fn boom() -> String {
    panic!("boom")
}

/// The value of the sample `name{labels}` (labels as written, in order), if present.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn scrape(base: &str) -> String {
    let resp = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    resp.text().await.unwrap()
}

async fn requests_pool_and_statements(db: Database, _backend: Backend) {
    let metrics = Metrics::new().database(&db);
    let app = Router::new().route("/users/{id}", get(user)).route("/boom", get(boom));
    let app = ServiceConfig::default().metrics(metrics).apply(with_database(app, db));
    let base = serve(app).await;
    let http = reqwest::Client::new();
    for id in [1, 2, 3] {
        assert_eq!(http.get(format!("{base}/users/{id}")).send().await.unwrap().status().as_u16(), 200);
    }
    assert_eq!(http.get(format!("{base}/users/x")).send().await.unwrap().status().as_u16(), 422);
    assert_eq!(http.get(format!("{base}/no/such/path")).send().await.unwrap().status().as_u16(), 404);
    assert_eq!(http.get(format!("{base}/boom")).send().await.unwrap().status().as_u16(), 500);
    assert_eq!(http.delete(format!("{base}/users/1")).send().await.unwrap().status().as_u16(), 405);

    let text = scrape(&base).await;
    let count = |labels: &str| sample(&text, &format!("http_requests_total{{{labels}}}"));
    assert_eq!(count(r#"method="GET",route="/users/{id}",status="200""#), Some(3.0), "{text}");
    assert_eq!(count(r#"method="GET",route="/users/{id}",status="422""#), Some(1.0), "{text}");
    assert_eq!(count(r#"method="GET",route="unmatched",status="404""#), Some(1.0), "{text}");
    assert_eq!(count(r#"method="GET",route="/boom",status="500""#), Some(1.0), "{text}");
    assert_eq!(count(r#"method="DELETE",route="/users/{id}",status="405""#), Some(1.0), "{text}");
    // Never the raw path: the label set stays bounded.
    assert!(!text.contains("/users/1\"") && !text.contains("/no/such/path"), "{text}");

    let hist = |suffix: &str| sample(&text, &format!("http_request_duration_seconds_{suffix}"));
    assert_eq!(hist(r#"count{method="GET",route="/users/{id}"}"#), Some(4.0), "{text}");
    assert!(hist(r#"sum{method="GET",route="/users/{id}"}"#).is_some_and(|s| s > 0.0), "{text}");
    assert_eq!(hist(r#"bucket{le="+Inf",method="GET",route="/users/{id}"}"#), Some(4.0), "{text}");

    let size = sample(&text, r#"db_pool_connections{state="size"}"#).expect("pool size");
    let idle = sample(&text, r#"db_pool_connections{state="idle"}"#).expect("idle");
    let in_use = sample(&text, r#"db_pool_connections{state="in_use"}"#).expect("in use");
    assert!(sample(&text, r#"db_pool_connections{state="waiting"}"#).is_some(), "{text}");
    assert!(size >= 1.0, "{text}");
    assert_eq!(size, idle + in_use, "{text}");
    let statements = sample(&text, "db_statements_total").expect("statements");
    assert!(statements >= 3.0, "three SELECTs ran: {text}");

    // The second scrape counts itself under /metrics, and the statements keep adding up.
    http.get(format!("{base}/users/4")).send().await.unwrap();
    let text2 = scrape(&base).await;
    assert_eq!(sample(&text2, r#"http_requests_total{method="GET",route="/metrics",status="200"}"#), Some(1.0), "{text2}");
    assert!(sample(&text2, "db_statements_total").unwrap() >= statements + 1.0, "{text2}");
}

per_backend!(requests_pool_and_statements);
