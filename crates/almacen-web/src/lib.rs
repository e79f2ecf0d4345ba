//! The HTTP layer of an almacen service, on axum.
//!
//! - [`ApiError`]: one error envelope everywhere,
//!   `{"detail": "...", "errors": [{"field", "message", "type"}]}`, and the mapping of
//!   almacen's errors to statuses (404, 409, 422, 503 with `Retry-After`, 504, 500 with a request
//!   id and nothing more).
//! - [`Json`]: the JSON extractor whose rejections use the envelope (422, 413, 415).
//! - [`Valid`]: a JSON body checked against its type's rules, stated once as `utoipa` schema
//!   attributes (so the OpenAPI document shows them) plus [`Validate`] for custom rules; every
//!   problem is one entry of a 422.
//! - [`Path`], [`Query`] and [`Id`]: path and query parameters whose rejections are 422s in
//!   the envelope naming the parameter; an id out of range is a 422, never a 500.
//! - [`RequestId`] and [`with_request_id`]: a request id per request, echoed, logged, and
//!   in every 500.
//! - [`auth`]: argon2id password hashes, JWT access tokens (HS256, or RS256), the
//!   [`auth::CurrentUser`] extractor with role guards (401 with `WWW-Authenticate`, 403), and
//!   the OAuth2 password form.
//! - [`accounts`]: users and roles as models, register / login / me / the admin's user list
//!   routes with their OpenAPI fragment, and the admin seeded at start-up.
//! - [`health`]: `GET /health` and `GET /ready`.
//! - [`resource`]: the CRUD routes of a model from declared input and output types (create,
//!   read, list with pages, sort and filters, replace, patch, delete, restore), with role
//!   guards and their OpenAPI fragment.
//! - [`ApiDoc`] ([`docs`]): the service's OpenAPI 3.1 document at `/openapi.json`, with
//!   Swagger UI at `/docs` and ReDoc at `/redoc`, built into the binary (no internet needed).
//! - [`with_service_layers`]: the request id, a request timeout (504), the body limit (413),
//!   panics as 500s, and 404/405 in the envelope around the whole application;
//!   [`ServiceConfig`] sets the timeout, the CORS origins, the body limit, gzip compression
//!   and [`Metrics`] (`GET /metrics`).
//! - [`db`]: the [`Db`] and [`Tx`] extractors ([`with_database`]), one transaction per
//!   request committed on success and rolled back otherwise.
//! - [`logging`]: [`init_logging`], JSON or text logs, one event per request.
//! - [`background`]: [`BackgroundTasks`] run after the response on a [`TaskRunner`].
//! - [`serve()`]: serving with a graceful shutdown on SIGTERM or Ctrl-C.
//! - [`config`]: [`ServiceArgs`], the settings from flags or environment variables.
//!
//! [`service_routes`] puts these together:
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, routing::get};
//!
//! let db = almacen::Database::connect("sqlite://shop.db").await?;
//! let app: Router = Router::new()
//!     .route("/hello", get(|| async { "hi" }))
//!     .merge(almacen_web::service_routes(db));
//! let app = almacen_web::with_service_layers(app);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

pub mod accounts;
pub mod auth;
pub mod background;
pub mod config;
pub mod db;
pub mod docs;
pub mod error;
pub mod health;
pub mod json;
pub mod logging;
pub mod metrics;
pub mod openapi;
pub mod params;
pub mod plumbing;
pub mod request_id;
mod request_layer;
pub mod resource;
pub mod serve;
pub mod validate;

pub use docs::ApiDoc;
pub use error::{ApiError, FieldError, INTERNAL_DETAIL, OUTCOME_UNKNOWN_DETAIL, RETRYABLE_CONFLICT_DETAIL};
pub use json::Json;
pub use params::{Id, Path, Query};
pub use plumbing::{ServiceConfig, with_service_layers};
pub use request_id::{RequestId, with_request_id};
pub use validate::{Valid, Validate};

pub use background::{BackgroundTasks, TaskRunner};
pub use config::ServiceArgs;
pub use db::{Db, Tx, with_database};
pub use logging::{LogFormat, init_logging};
pub use metrics::Metrics;
pub use serve::{ServeOptions, serve};

/// The service's own routes, `GET /health` and `GET /ready` (see [`health`]), to merge into
/// the application's router. Wrap the whole application in [`with_service_layers`] (or at
/// least [`with_request_id`]) so that these, too, get a request id.
///
/// ```no_run
/// # async fn f() -> almacen::Result<()> {
/// let db = almacen::Database::connect("sqlite::memory:").await?;
/// let app: axum::Router = almacen_web::with_service_layers(almacen_web::service_routes(db));
/// # Ok(()) }
/// ```
pub fn service_routes<S: Clone + Send + Sync + 'static>(db: almacen::Database) -> axum::Router<S> {
    health::routes(db)
}
