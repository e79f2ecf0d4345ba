//! The shop's three measured endpoints written by hand on plain axum + sqlx: what a team
//! writes without almacen, doing the same work as the shop (the same table, the same JSON,
//! the same checks: a bearer token whose user has the `admin` role in the database for POST, the field rules, a 409 on
//! a duplicate sku, the page envelope with its total).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteRow;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, Row as _, SqlitePool};
use std::sync::Arc;

// The statements, as literals (sqlx takes a `&'static str`, or a string it is told is safe).
const GET_SQL: &str =
    "SELECT id, name, sku, description, price, stock, created_at, updated_at FROM products WHERE id = ? AND deleted_at IS NULL";
const COUNT_SQL: &str = "SELECT COUNT(*) FROM products WHERE deleted_at IS NULL";
const PAGE_SQL: &str = "SELECT id, name, sku, description, price, stock, created_at, updated_at FROM products \
     WHERE deleted_at IS NULL ORDER BY id LIMIT ? OFFSET ?";
const INSERT_SQL: &str = "INSERT INTO products (name, sku, description, price, stock, created_at, updated_at) \
     VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id, name, sku, description, price, stock, created_at, updated_at";

#[derive(Serialize, Clone)]
struct Product {
    id: i64,
    name: String,
    sku: String,
    description: Option<String>,
    price: f64,
    stock: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl FromRow<'_, SqliteRow> for Product {
    fn from_row(row: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(Product {
            id: row.try_get(0)?,
            name: row.try_get(1)?,
            sku: row.try_get(2)?,
            description: row.try_get(3)?,
            price: row.try_get(4)?,
            stock: row.try_get(5)?,
            created_at: row.try_get(6)?,
            updated_at: row.try_get(7)?,
        })
    }
}

#[derive(Deserialize)]
struct NewProduct {
    name: String,
    sku: String,
    #[serde(default)]
    description: Option<String>,
    price: f64,
    stock: i64,
}

#[derive(Deserialize)]
struct PageParams {
    page: Option<u64>,
    page_size: Option<u64>,
}

#[derive(Serialize)]
struct Page {
    items: Vec<Product>,
    total: u64,
    page: u64,
    page_size: u64,
    total_pages: u64,
    has_next: bool,
    has_prev: bool,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

// The shop's role guard asks the database (a deleted or demoted admin loses write access at
// once): the subject is a user id; no row is an unknown user (401), rows without `admin`
// a missing role (403). One statement here.
const ROLES_SQL: &str = "SELECT r.name FROM users u LEFT JOIN user_roles ur ON ur.user_id = u.id \
     LEFT JOIN roles r ON r.id = ur.role_id WHERE u.id = ?";

struct AppState {
    pool: SqlitePool,
    key: DecodingKey,
    validation: Validation,
}

type Shared = Arc<AppState>;

fn error(status: StatusCode, detail: &str) -> Response {
    (status, Json(serde_json::json!({"detail": detail, "errors": []}))).into_response()
}

/// The router over the SQLite file at `path` (WAL, synchronous=NORMAL, as almacen's default),
/// with a pool of `connections`.
pub async fn router(path: &std::path::Path, connections: u32, jwt_secret: &[u8]) -> Router {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(std::time::Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(connections)
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .expect("open the SQLite file");
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    let state = Arc::new(AppState { pool, key: DecodingKey::from_secret(jwt_secret), validation });
    Router::new().route("/products", get(list).post(create)).route("/products/{id}", get(get_one)).with_state(state)
}

/// The machine's ceiling: plain axum with no database and no middleware answering GET by id
/// with one constant product of the same shape, and the list with a constant page of 20 of
/// them (the items cloned per request, as rows read would be) (`--http` prints both beside
/// the table).
pub fn floor_router() -> Router {
    let product = Arc::new(Product {
        id: 1,
        name: "Product 0".into(),
        sku: "SKU-00000".into(),
        description: None,
        price: 1.0,
        stock: 100,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    });
    let page = product.clone();
    Router::new()
        .route(
            "/products/{id}",
            get(move |Path(id): Path<i64>| {
                let product = product.clone();
                async move { Json(Product { id, ..(*product).clone() }) }
            }),
        )
        .route(
            "/products",
            get(move || {
                let product = page.clone();
                async move {
                    let items = (1..=20).map(|id| Product { id, ..(*product).clone() }).collect();
                    Json(Page { items, total: 10_000, page: 1, page_size: 20, total_pages: 500, has_next: true, has_prev: false })
                }
            }),
        )
}

async fn get_one(State(state): State<Shared>, Path(id): Path<i64>) -> Response {
    match sqlx::query_as::<_, Product>(GET_SQL).bind(id).fetch_optional(&state.pool).await {
        Ok(Some(p)) => Json(p).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "not found"),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error"),
    }
}

async fn list(State(state): State<Shared>, Query(params): Query<PageParams>) -> Response {
    let page = params.page.unwrap_or(1);
    let page_size = params.page_size.unwrap_or(20);
    if page == 0 || page_size == 0 || page_size > 100 {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "invalid page or page_size");
    }
    let total: i64 = match sqlx::query_scalar(COUNT_SQL).fetch_one(&state.pool).await {
        Ok(n) => n,
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error"),
    };
    let items = match sqlx::query_as::<_, Product>(PAGE_SQL)
        .bind(page_size as i64)
        .bind(((page - 1) * page_size) as i64)
        .fetch_all(&state.pool)
        .await
    {
        Ok(rows) => rows,
        Err(_) => return error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error"),
    };
    let total = total as u64;
    let total_pages = total.div_ceil(page_size);
    Json(Page { items, total, page, page_size, total_pages, has_next: page < total_pages, has_prev: page > 1 }).into_response()
}

async fn is_admin(state: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    let unauthorized = || error(StatusCode::UNAUTHORIZED, "not authenticated");
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(unauthorized)?;
    let token = value.strip_prefix("Bearer ").ok_or_else(unauthorized)?;
    let claims = jsonwebtoken::decode::<Claims>(token, &state.key, &state.validation).map_err(|_| unauthorized())?;
    let id: i64 = claims.claims.sub.parse().map_err(|_| unauthorized())?;
    let roles: Vec<Option<String>> = sqlx::query_scalar(ROLES_SQL)
        .bind(id)
        .fetch_all(&state.pool)
        .await
        .map_err(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error"))?;
    if roles.is_empty() {
        Err(unauthorized())
    } else if roles.iter().any(|r| r.as_deref() == Some("admin")) {
        Ok(())
    } else {
        Err(error(StatusCode::FORBIDDEN, "not enough permissions"))
    }
}

fn check(new: &NewProduct) -> Result<(), Response> {
    let invalid = |what: &str| error(StatusCode::UNPROCESSABLE_ENTITY, what);
    let name = new.name.chars().count();
    if !(1..=200).contains(&name) {
        return Err(invalid("name"));
    }
    let sku_ok =
        (1..=64).contains(&new.sku.chars().count()) && new.sku.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !sku_ok {
        return Err(invalid("sku"));
    }
    if new.description.as_ref().is_some_and(|d| d.chars().count() > 2000) {
        return Err(invalid("description"));
    }
    if !new.price.is_finite() || new.price < 0.0 {
        return Err(invalid("price"));
    }
    if new.stock < 0 {
        return Err(invalid("stock"));
    }
    Ok(())
}

async fn create(State(state): State<Shared>, headers: HeaderMap, Json(new): Json<NewProduct>) -> Response {
    if let Err(r) = is_admin(&state, &headers).await {
        return r;
    }
    if let Err(r) = check(&new) {
        return r;
    }
    // almacen's normal form for timestamps on SQLite, so both servers store the same text.
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    let row = sqlx::query_as::<_, Product>(INSERT_SQL)
        .bind(&new.name)
        .bind(&new.sku)
        .bind(&new.description)
        .bind(new.price)
        .bind(new.stock)
        .bind(&now)
        .bind(&now)
        .fetch_one(&state.pool)
        .await;
    match row {
        Ok(p) => {
            let location = HeaderValue::from_str(&format!("/products/{}", p.id)).expect("ascii");
            (StatusCode::CREATED, [(header::LOCATION, location)], Json(p)).into_response()
        }
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => error(StatusCode::CONFLICT, "sku already exists"),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error"),
    }
}
