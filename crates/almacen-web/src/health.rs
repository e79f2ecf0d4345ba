//! `GET /health` (liveness) and `GET /ready` (readiness: the database answers).

use crate::ApiError;
use almacen::prelude::*;
use almacen::{Database, Statement};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::time::Duration;

/// How long `/ready` waits for the database (connection and statement together).
///
/// ```
/// assert_eq!(almacen_web::health::READY_TIMEOUT, std::time::Duration::from_secs(2));
/// ```
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /health`: 200 `{"status":"ok"}` as long as the process serves requests.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let axum::Json(body) = almacen_web::health::health().await;
/// assert_eq!(body, serde_json::json!({"status": "ok"}));
/// # });
/// ```
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /ready`: runs `SELECT 1` on `db` within [`READY_TIMEOUT`]; 200 `{"status":"ok"}`
/// when it answers, 503 with the error envelope when not (the cause is logged).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let db = almacen::Database::connect("sqlite::memory:").await.unwrap();
/// assert!(almacen_web::health::ready(&db).await.is_ok());
/// db.close().await;
/// let err = almacen_web::health::ready(&db).await.unwrap_err();
/// assert_eq!(err.status().as_u16(), 503);
/// # });
/// ```
pub async fn ready(db: &Database) -> Result<Json<Value>, ApiError> {
    let stmt = Statement::new("SELECT 1 AS one", Vec::new()).with_timeout(Some(READY_TIMEOUT));
    let outcome = tokio::time::timeout(READY_TIMEOUT, db.fetch_rows(stmt)).await;
    let cause = match outcome {
        Ok(Ok(_)) => return Ok(Json(json!({"status": "ok"}))),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {READY_TIMEOUT:?}"),
    };
    tracing::warn!(error = %cause, "readiness check failed");
    Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the database is not available").with_error(
        None::<String>,
        "the database did not answer",
        "database_unavailable",
    ))
}

/// A router with `GET /health` and `GET /ready` on `db`; merge it into the application's.
///
/// ```no_run
/// # async fn f() -> almacen::Result<()> {
/// let db = almacen::Database::connect("sqlite::memory:").await?;
/// let app: axum::Router = almacen_web::health::routes(db);
/// # Ok(()) }
/// ```
pub fn routes<S: Clone + Send + Sync + 'static>(db: Database) -> Router<S> {
    Router::new().route("/health", get(health)).route("/ready", get(move || async move { ready(&db).await }))
}
