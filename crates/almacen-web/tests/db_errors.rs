//! almacen's errors from real databases, served over real HTTP, on all three backends:
//! each maps to its status in the envelope.

#[path = "../../almacen/tests/common/mod.rs"]
mod common;
mod support;

use almacen::prelude::*;
use almacen::{Database, Statement};
use almacen_web::{ApiError, Json, with_request_id};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Router, response::IntoResponse};
use common::Backend;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::{envelope, read, serve};

#[derive(Model, Debug, Clone)]
#[model(table = "web_users")]
struct User {
    #[model(primary_key, auto)]
    id: i64,
    #[model(unique, max_len = 100)]
    email: String,
    #[model(version)]
    version: i64,
}

#[derive(Model, Debug, Clone)]
#[model(table = "web_posts")]
struct Post {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = "web_users.id")]
    user_id: i64,
    #[model(max_len = 100)]
    title: String,
}

#[derive(Deserialize)]
struct UserIn {
    email: String,
}

#[derive(Deserialize)]
struct PostIn {
    user_id: i64,
    title: String,
}

fn user_json(u: &User) -> Value {
    json!({"id": u.id, "email": u.email, "version": u.version})
}

/// A statement that never finishes on its own within the test.
fn endless_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "SELECT 1 AS one FROM pg_sleep(5)",
        Backend::MariaDb => "SELECT SLEEP(5) AS slept",
        Backend::Sqlite => "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS n FROM c",
    }
}

async fn create_user(State(db): State<Database>, Json(input): Json<UserIn>) -> Result<impl IntoResponse, ApiError> {
    let u = User::insert(&db, NewUser { email: input.email }).await?;
    Ok((StatusCode::CREATED, Json(user_json(&u))))
}

async fn get_user(State(db): State<Database>, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    let u = User::get(&db, id).await?.ok_or(almacen::Error::NotFound)?;
    Ok(Json(user_json(&u)))
}

/// Renames a user from a copy read before someone else renamed it: a stale version.
async fn stale_rename(State(db): State<Database>, Path(id): Path<i64>) -> Result<Json<Value>, ApiError> {
    let mut mine = User::get(&db, id).await?.ok_or(almacen::Error::NotFound)?;
    let mut theirs = mine.clone();
    theirs.email = format!("theirs-{}", theirs.email);
    theirs.update(&db).await?;
    mine.email = format!("mine-{}", mine.email);
    mine.update(&db).await?;
    Ok(Json(user_json(&mine)))
}

async fn create_post(State(db): State<Database>, Json(input): Json<PostIn>) -> Result<impl IntoResponse, ApiError> {
    let p = Post::insert(&db, NewPost { user_id: input.user_id, title: input.title }).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": p.id, "user_id": p.user_id, "title": p.title}))))
}

async fn ping(State(db): State<Database>) -> Result<Json<Value>, ApiError> {
    let n = db.fetch_one_raw("SELECT 1 AS one", params! {}).await?.get::<i64>("one")?;
    Ok(Json(json!({"one": n})))
}

async fn broken(State(db): State<Database>) -> Result<Json<Value>, ApiError> {
    db.fetch_all_raw("SELECT secret_column FROM no_such_table_xyz WHERE pw = :pw", params! {"pw" => "hunter2"}).await?;
    Ok(Json(json!({})))
}

async fn app(db: Database, backend: Backend) -> String {
    let slow_db = db.clone();
    let app = Router::new()
        .route("/users", post(create_user))
        .route("/users/{id}", get(get_user))
        .route("/users/{id}/stale-rename", post(stale_rename))
        .route("/posts", post(create_post))
        .route("/ping", get(ping))
        .route("/broken", get(broken))
        .route(
            "/slow",
            get(move || async move {
                let stmt = Statement::new(endless_sql(backend), Vec::new()).with_timeout(Some(Duration::from_millis(300)));
                slow_db.fetch_rows(stmt).await?;
                Ok::<_, ApiError>(Json(json!({})))
            }),
        )
        .with_state(db);
    serve(with_request_id(app)).await
}

async fn post_json(url: String, body: Value) -> (u16, Option<String>, Value) {
    read(reqwest::Client::new().post(url).json(&body).send().await.unwrap()).await
}

/// 409 for a unique violation and a foreign-key violation from real inserts, naming the
/// field; 404 for a missing row; 409 for a stale version.
async fn conflicts_and_not_found(db: Database, backend: Backend) {
    db.create_tables(&[User::TABLE, Post::TABLE]).await.unwrap();
    let base = app(db.clone(), backend).await;

    let (status, _, ada) = post_json(format!("{base}/users"), json!({"email": "ada@example.com"})).await;
    assert_eq!(status, 201, "{ada}");
    let id = ada["id"].as_i64().unwrap();

    // The same e-mail again: 409, the field named, nothing of the database's text.
    let (status, _, body) = post_json(format!("{base}/users"), json!({"email": "ada@example.com"})).await;
    assert_eq!(status, 409, "{body}");
    let errors = envelope(status, &body);
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["field"], "email", "{body}");
    assert_eq!(errors[0]["type"], "unique_violation", "{body}");
    let text = body.to_string();
    for leak in ["web_users", "duplicate", "Duplicate", "UNIQUE", "constraint"] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
    assert_eq!(User::select().count(&db).await.unwrap(), 1);

    // A post for a user that does not exist: 409 naming user_id.
    let (status, _, body) = post_json(format!("{base}/posts"), json!({"user_id": id + 1000, "title": "t"})).await;
    assert_eq!(status, 409, "{body}");
    let errors = envelope(status, &body);
    assert_eq!((errors[0]["field"].as_str(), errors[0]["type"].as_str()), (Some("user_id"), Some("foreign_key_violation")), "{body}");
    assert_eq!(Post::select().count(&db).await.unwrap(), 0);
    // And for one that does: 201.
    let (status, _, body) = post_json(format!("{base}/posts"), json!({"user_id": id, "title": "t"})).await;
    assert_eq!(status, 201, "{body}");

    // A row read, then: 200; absent: 404.
    let (status, _, body) = read(reqwest::get(format!("{base}/users/{id}")).await.unwrap()).await;
    assert_eq!((status, body["email"].as_str()), (200, Some("ada@example.com")));
    let (status, _, body) = read(reqwest::get(format!("{base}/users/{}", id + 1000)).await.unwrap()).await;
    assert_eq!(status, 404, "{body}");
    assert!(envelope(status, &body).is_empty());

    // A stale version: 409, and the other writer's change stands.
    let (status, _, body) = post_json(format!("{base}/users/{id}/stale-rename"), json!({})).await;
    assert_eq!(status, 409, "{body}");
    let errors = envelope(status, &body);
    assert_eq!(errors[0]["type"], "stale_version", "{body}");
    let stored = User::get(&db, id).await.unwrap().unwrap();
    assert_eq!((stored.email.as_str(), stored.version), ("theirs-ada@example.com", 2));
}

/// A statement over its timeout: 504, and the service answers afterwards.
async fn statement_timeout_is_504(db: Database, backend: Backend) {
    let base = app(db, backend).await;
    let started = Instant::now();
    let (status, _, body) = read(reqwest::get(format!("{base}/slow")).await.unwrap()).await;
    assert_eq!(status, 504, "{body}");
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    assert!(envelope(status, &body).is_empty());
    assert!(!body.to_string().contains("sleep") && !body.to_string().contains("SLEEP") && !body.to_string().contains("RECURSIVE"));
    let (status, _, body) = read(reqwest::get(format!("{base}/ping")).await.unwrap()).await;
    assert_eq!((status, body), (200, json!({"one": 1})));
}

/// A pool of one held by a transaction: the request waits `acquire_timeout` (300 ms) and
/// gets 503 with Retry-After; once the transaction ends, 200.
async fn pool_timeout_is_503(db: Database, backend: Backend) {
    let base = app(db.clone(), backend).await;
    let (status, _, _) = read(reqwest::get(format!("{base}/ping")).await.unwrap()).await;
    assert_eq!(status, 200);
    let tx = db.begin().await.unwrap();
    let started = Instant::now();
    let resp = reqwest::get(format!("{base}/ping")).await.unwrap();
    let retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    let (status, _, body) = read(resp).await;
    assert_eq!(status, 503, "{body}");
    assert!(started.elapsed() >= Duration::from_millis(250), "{:?}", started.elapsed());
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(envelope(status, &body).is_empty());
    tx.rollback().await.unwrap();
    let (status, _, _) = read(reqwest::get(format!("{base}/ping")).await.unwrap()).await;
    assert_eq!(status, 200);
}

/// Any other database error: 500 with a generic message and the request id of the header;
/// no SQL, no table, no value.
async fn other_errors_are_500(db: Database, backend: Backend) {
    let base = app(db, backend).await;
    let resp = reqwest::Client::new().get(format!("{base}/broken")).header("x-request-id", "trace-500").send().await.unwrap();
    let (status, id, body) = read(resp).await;
    assert_eq!(status, 500, "{body}");
    assert!(envelope(status, &body).is_empty());
    assert_eq!(body["detail"], almacen_web::INTERNAL_DETAIL);
    assert_eq!((id.as_deref(), body["request_id"].as_str()), (Some("trace-500"), Some("trace-500")));
    let text = body.to_string();
    for leak in ["no_such_table", "secret_column", "hunter2", "SELECT", "127.0.0.1", "almacen_t_"] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
}

per_backend!(conflicts_and_not_found, statement_timeout_is_504, other_errors_are_500);
per_backend_with!(pool_timeout_is_503 => "max_connections=1&acquire_timeout=300ms");
