//! `Db` and `Tx` over real HTTP on all three backends: the request's transaction commits on
//! a success and rolls back on a client error, a panic and a request timeout; a commit that
//! fails, or a statement that failed, is never answered 2xx; background tasks queued by a
//! request whose transaction did not commit never run.

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

/// Swallows a failed statement and answers 201.
async fn swallowed(tx: Tx, Path(id): Path<i64>) -> StatusCode {
    insert(&tx, id).await.unwrap();
    let _ = tx.execute_raw("INSERT INTO no_such_table (id) VALUES (1)", params! {}).await;
    StatusCode::CREATED
}

/// A failing statement in a savepoint, rolled back (its error handled): the request goes on.
async fn in_savepoint(tx: Tx, Path(id): Path<i64>) -> StatusCode {
    insert(&tx, id).await.unwrap();
    let failed = tx.transaction(async |sp| sp.execute_raw("INSERT INTO no_such_table (id) VALUES (1)", params! {}).await).await;
    assert!(failed.is_err());
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
        .route("/savepoint/{id}", post(in_savepoint))
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

/// A handler that swallows a failed statement and answers 201 gets the same answer on
/// every backend: a 500 saying nothing was committed, and nothing committed (SQLite and
/// MariaDB used to commit the statements before the failure, PostgreSQL to answer 409/500).
async fn failed_statement_is_never_committed(db: Database, _backend: Backend) {
    db.execute_raw(TABLE, params! {}).await.unwrap();
    let base = serve(app(db.clone())).await;
    let (status, _, body) = read(reqwest::Client::new().post(format!("{base}/swallowed/7")).send().await.unwrap()).await;
    assert_eq!(status, 500, "{body}");
    envelope(status, &body);
    assert_eq!(body["detail"], "a statement of this request failed; nothing was committed");
    assert_eq!(ids(&db).await, Vec::<i64>::new(), "nothing committed");
}

/// A failure inside a savepoint that was rolled back does not count: the rest commits.
async fn failure_in_a_savepoint_does_not_count(db: Database, _backend: Backend) {
    db.execute_raw(TABLE, params! {}).await.unwrap();
    let base = serve(app(db.clone())).await;
    let resp = reqwest::Client::new().post(format!("{base}/savepoint/8")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(ids(&db).await, [8]);
}

per_backend!(commit_on_success_rollback_otherwise, failed_statement_is_never_committed, failure_in_a_savepoint_does_not_count);

/// Without `with_database`, the extractors are a 500 in the envelope, not a panic.
#[tokio::test]
async fn extractors_without_the_layer_are_500() {
    let app = almacen_web::with_service_layers(Router::new().route("/count", get(count)));
    let base = serve(app).await;
    let (status, _, body) = read(reqwest::get(format!("{base}/count")).await.unwrap()).await;
    assert_eq!(status, 500);
    envelope(status, &body);
}

const PARENT: &str = "CREATE TABLE web_bg_parent (id INTEGER PRIMARY KEY)";
const CHILD: &str = "CREATE TABLE web_bg_child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL \
     REFERENCES web_bg_parent (id) DEFERRABLE INITIALLY DEFERRED)";

/// Background tasks and the request's transaction: a task queued by a request whose
/// commit fails (a deferred foreign key), whose handler answers 4xx or panics, never
/// runs; one queued by a request that commits runs. With the task runner outside and
/// inside `with_database`. MariaDB has no deferred constraints.
async fn tasks_run_only_after_a_commit(db: Database, backend: Backend) {
    if backend == Backend::MariaDb {
        return;
    }
    db.execute_raw(PARENT, params! {}).await.unwrap();
    db.execute_raw(CHILD, params! {}).await.unwrap();
    db.execute_raw("INSERT INTO web_bg_parent (id) VALUES (1)", params! {}).await.unwrap();
    for runner_outside in [true, false] {
        let (ran_tx, mut ran_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let handler = move |tx: Tx, tasks: almacen_web::BackgroundTasks, Path((what, id)): Path<(String, i64)>| {
            let ran_tx = ran_tx.clone();
            async move {
                let parent = if what == "dangling" { 99 } else { 1 };
                tx.execute_raw(
                    "INSERT INTO web_bg_child (id, parent_id) VALUES (:id, :parent)",
                    params! { "id" => id, "parent" => parent },
                )
                .await?;
                let name = what.clone();
                tasks.spawn(async move {
                    ran_tx.send(name).unwrap();
                });
                match what.as_str() {
                    "invalid" => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid")),
                    "panics" => panic!("after queueing a task"),
                    _ => Ok::<_, ApiError>(StatusCode::CREATED),
                }
            }
        };
        let runner = almacen_web::TaskRunner::new();
        let routes = Router::new().route("/child/{what}/{id}", post(handler));
        let app =
            if runner_outside { runner.apply(with_database(routes, db.clone())) } else { with_database(runner.apply(routes), db.clone()) };
        let base = serve(almacen_web::with_service_layers(app)).await;
        let http = reqwest::Client::new();
        let offset = if runner_outside { 0 } else { 10 };
        let (status, _, body) = read(http.post(format!("{base}/child/dangling/{}", offset + 1)).send().await.unwrap()).await;
        assert_eq!(status, 409, "runner outside: {runner_outside}: {body}");
        let (status, _, _) = read(http.post(format!("{base}/child/invalid/{}", offset + 2)).send().await.unwrap()).await;
        assert_eq!(status, 422);
        let (status, _, _) = read(http.post(format!("{base}/child/panics/{}", offset + 3)).send().await.unwrap()).await;
        assert_eq!(status, 500);
        let resp = http.post(format!("{base}/child/good/{}", offset + 4)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        resp.bytes().await.unwrap();
        assert_eq!(ran_rx.recv().await.as_deref(), Some("good"), "runner outside: {runner_outside}");
        assert_eq!(runner.drain(Duration::from_secs(10)).await.aborted, 0);
        assert!(ran_rx.try_recv().is_err(), "a task of a request that did not commit ran (runner outside: {runner_outside})");
    }
}

per_backend!(tasks_run_only_after_a_commit);

/// A request timeout or a shutdown that cuts a request while its transaction is committing answers 500
/// "outcome unknown" (the work may have been committed), not 503 "shutting down" (which
/// invites a retry that could do it twice). PostgreSQL only: a deferred constraint
/// trigger makes the commit slow.
async fn a_commit_cut_by_the_shutdown_is_outcome_unknown(db: Database, backend: Backend) {
    if backend != Backend::Postgres {
        return;
    }
    for sql in [
        "CREATE TABLE web_slow_commit (id INTEGER PRIMARY KEY)",
        "CREATE FUNCTION web_slow_commit_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(5); RETURN NULL; END $$",
        "CREATE CONSTRAINT TRIGGER web_slow_commit_tr AFTER INSERT ON web_slow_commit DEFERRABLE INITIALLY DEFERRED \
         FOR EACH ROW EXECUTE FUNCTION web_slow_commit_fn()",
    ] {
        db.execute_raw(sql, params! {}).await.unwrap();
    }
    let (entered_tx, mut entered_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let handler = move |tx: Tx, Path(id): Path<i64>| {
        let entered_tx = entered_tx.clone();
        async move {
            tx.execute_raw("INSERT INTO web_slow_commit (id) VALUES (:id)", params! { "id" => id }).await?;
            entered_tx.send(()).unwrap();
            Ok::<_, ApiError>(StatusCode::CREATED)
        }
    };
    let app = with_database(Router::new().route("/slow-commit/{id}", post(handler)), db.clone());
    // The request timeout: the same.
    let timed = ServiceConfig::default().request_timeout(Some(Duration::from_millis(500))).apply(app.clone());
    let base = serve(timed).await;
    let (status, _, body) = read(reqwest::Client::new().post(format!("{base}/slow-commit/2")).send().await.unwrap()).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["detail"], almacen_web::OUTCOME_UNKNOWN_DETAIL, "{body}");
    assert_eq!(body["errors"][0]["type"], "outcome_unknown", "{body}");
    entered_rx.recv().await.unwrap();
    // The shutdown cut.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let options = almacen_web::ServeOptions::new().shutdown_timeout(Duration::from_millis(500)).shutdown_on(async {
        let _ = stop_rx.await;
    });
    let server = tokio::spawn(almacen_web::serve(listener, app, options));
    let in_flight = tokio::spawn(async move { reqwest::Client::new().post(format!("http://{addr}/slow-commit/1")).send().await.unwrap() });
    entered_rx.recv().await.unwrap();
    stop_tx.send(()).unwrap();
    server.await.unwrap().unwrap();
    let (status, _, body) = read(in_flight.await.unwrap()).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["detail"], almacen_web::OUTCOME_UNKNOWN_DETAIL, "{body}");
    assert_eq!(body["errors"][0]["type"], "outcome_unknown", "{body}");
}

per_backend!(a_commit_cut_by_the_shutdown_is_outcome_unknown);
