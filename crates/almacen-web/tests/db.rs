//! `Db` and `Tx` over real HTTP on all three backends: the request's transaction commits on
//! a success and rolls back on a client error, a panic and a request timeout; a commit that
//! fails is never answered 2xx.

#[path = "../../almacen/tests/common/mod.rs"]
mod common;
mod support;

use almacen::Database;
use almacen::prelude::*;
use almacen_web::{ApiError, Db, ServiceConfig, Tx, with_database};
use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use common::Backend;
use std::time::Duration;
use support::{envelope, read, serve};

const TABLE: &str = "CREATE TABLE web_tx_items (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL)";

async fn insert(tx: &Tx, id: i64) -> Result<(), ApiError> {
    tx.execute_raw("INSERT INTO web_tx_items (id, name) VALUES (:id, :name)", params! { "id" => id, "name" => "thing" }).await?;
    Ok(())
}

async fn created(tx: Tx, Path(id): Path<i64>) -> Result<StatusCode, ApiError> {
    insert(&tx, id).await?;
    // A second statement in the same transaction, through a second extraction's handle.
    tx.execute_raw("UPDATE web_tx_items SET name = :name WHERE id = :id", params! { "id" => id, "name" => "renamed" }).await?;
    Ok(StatusCode::CREATED)
}

async fn invalid(tx: Tx, Path(id): Path<i64>) -> Result<StatusCode, ApiError> {
    insert(&tx, id).await?;
    Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid").with_error(Some("name"), "bad name", "value_error"))
}

async fn panics(tx: Tx, Path(id): Path<i64>) -> StatusCode {
    insert(&tx, id).await.unwrap();
    panic!("handler failed after writing");
}

async fn slow(tx: Tx, Path(id): Path<i64>) -> StatusCode {
    insert(&tx, id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    StatusCode::CREATED
}

/// Swallows a failed statement and answers 201: on PostgreSQL the transaction is then
/// aborted and its commit fails.
async fn swallowed(tx: Tx, Path(id): Path<i64>) -> StatusCode {
    insert(&tx, id).await.unwrap();
    let _ = tx.execute_raw("INSERT INTO no_such_table (id) VALUES (1)", params! {}).await;
    StatusCode::CREATED
}

async fn count(db: Db) -> Result<String, ApiError> {
    let row = db.fetch_one_raw("SELECT COUNT(*) AS n FROM web_tx_items", params! {}).await?;
    Ok(row.get::<i64>("n")?.to_string())
}

async fn ids(db: &Database) -> Vec<i64> {
    db.fetch_all_raw("SELECT id FROM web_tx_items ORDER BY id", params! {})
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<i64>("id").unwrap())
        .collect()
}

fn app(db: Database) -> Router {
    let app = Router::new()
        .route("/created/{id}", post(created))
        .route("/invalid/{id}", post(invalid))
        .route("/panics/{id}", post(panics))
        .route("/slow/{id}", post(slow))
        .route("/swallowed/{id}", post(swallowed))
        .route("/count", get(count));
    ServiceConfig::default().request_timeout(Some(Duration::from_millis(500))).apply(with_database(app, db))
}

async fn commit_on_success_rollback_otherwise(db: Database, _backend: Backend) {
    db.execute_raw(TABLE, params! {}).await.unwrap();
    let base = serve(app(db.clone())).await;
    let http = reqwest::Client::new();

    let resp = http.post(format!("{base}/created/1")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(ids(&db).await, [1], "committed on 201");
    let name = db.fetch_one_raw("SELECT name FROM web_tx_items WHERE id = 1", params! {}).await.unwrap();
    assert_eq!(name.get::<String>("name").unwrap(), "renamed");

    let (status, _, body) = read(http.post(format!("{base}/invalid/2")).send().await.unwrap()).await;
    assert_eq!(status, 422);
    envelope(status, &body);
    assert_eq!(ids(&db).await, [1], "rolled back on 422");

    let (status, _, body) = read(http.post(format!("{base}/panics/3")).send().await.unwrap()).await;
    assert_eq!(status, 500);
    envelope(status, &body);
    assert_eq!(ids(&db).await, [1], "rolled back on a panic");

    let (status, _, body) = read(http.post(format!("{base}/slow/4")).send().await.unwrap()).await;
    assert_eq!(status, 504);
    envelope(status, &body);
    // The dropped transaction's connection goes back once rolled back: the next request
    // can write (on SQLite, the one writer) and the timed-out row is not there.
    let resp = http.post(format!("{base}/created/5")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(ids(&db).await, [1, 5], "rolled back on a timeout");

    // Db: the same database, outside any transaction.
    let text = http.get(format!("{base}/count")).send().await.unwrap().text().await.unwrap();
    assert_eq!(text, "2");
}

async fn failed_commit_is_not_2xx(db: Database, backend: Backend) {
    db.execute_raw(TABLE, params! {}).await.unwrap();
    let base = serve(app(db.clone())).await;
    let resp = reqwest::Client::new().post(format!("{base}/swallowed/7")).send().await.unwrap();
    if backend == Backend::Postgres {
        let (status, _, body) = read(resp).await;
        // The failed statement aborted the transaction: the commit fails, and so does the
        // response, in the envelope.
        assert!(!(200..400).contains(&status), "{status} {body}");
        envelope(status, &body);
        assert_eq!(ids(&db).await, Vec::<i64>::new(), "nothing committed");
    } else {
        // SQLite and MariaDB undo only the failed statement: the rest commits.
        assert_eq!(resp.status().as_u16(), 201);
        assert_eq!(ids(&db).await, [7]);
    }
}

per_backend!(commit_on_success_rollback_otherwise, failed_commit_is_not_2xx);

/// Without `with_database`, the extractors are a 500 in the envelope, not a panic.
#[tokio::test]
async fn extractors_without_the_layer_are_500() {
    let app = almacen_web::with_service_layers(Router::new().route("/count", get(count)));
    let base = serve(app).await;
    let (status, _, body) = read(reqwest::get(format!("{base}/count")).await.unwrap()).await;
    assert_eq!(status, 500);
    envelope(status, &body);
}
