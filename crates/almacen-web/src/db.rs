//! The service's database in handlers: [`Db`], and one transaction per request: [`Tx`].
//!
//! [`with_database`] installs a [`Database`] for the whole router. Then:
//!
//! - [`Db`] hands a handler the database (a cheap clone of the pool handle);
//! - [`Tx`] hands a handler the request's transaction, begun when a handler first asks
//!   for it (a request that does not ask holds no connection). Once the handler has
//!   answered, the transaction **commits if the response is a success (2xx or 3xx)** and
//!   **rolls back otherwise** (4xx, 5xx). A handler that panics, or a request dropped
//!   by the request timeout or a closed connection, drops the transaction unfinished:
//!   rolled back too. A commit that fails turns the response into the error's (503, 409,
//!   500, … through [`ApiError`]): the client never gets a 2xx for work that was not
//!   committed.
//! - A statement of the transaction that failed (not inside a savepoint,
//!   `tx.transaction(..)`) and whose error the handler ignored makes a success response a
//!   **rollback and a 500** "a statement of this request failed; nothing was committed",
//!   the same on every backend ([`almacen::Transaction::statement_failed`]). To go on
//!   after a statement that may fail, run it in a savepoint.
//! - A request timeout or a shutdown that cuts the request **while its commit runs**
//!   answers 500 [`OUTCOME_UNKNOWN_DETAIL`](crate::OUTCOME_UNKNOWN_DETAIL) (type
//!   `outcome_unknown`) instead of 504 or 503: the work may have been committed, and a
//!   blind retry could do it twice.
//! - [`BackgroundTasks`](crate::BackgroundTasks) queued by a request whose transaction
//!   rolled back or failed to commit never run, whichever of
//!   [`TaskRunner::apply`](crate::TaskRunner::apply) and [`with_database`] is outside.
//!
//! Inside a handler holding a [`Tx`], run every statement on the transaction, not on
//! [`Db`]: on SQLite the transaction holds the one writer connection, and a write through
//! the database would wait for it until the request times out.

use crate::ApiError;
use almacen::Database;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The service's [`Database`], installed by [`with_database`]. Derefs to the database.
/// Without [`with_database`] around the router, extracting it is a 500 (the cause is
/// logged).
///
/// ```
/// use almacen::prelude::*;
/// use almacen_web::{ApiError, db::Db};
/// use axum::{Router, routing::get};
///
/// async fn count(db: Db) -> Result<String, ApiError> {
///     let row = db.fetch_one_raw("SELECT 1 AS one", params! {}).await?;
///     Ok(format!("{row:?}"))
/// }
/// # async fn f() -> almacen::Result<()> {
/// let db = Database::connect("sqlite::memory:").await?;
/// let app: Router = almacen_web::with_database(Router::new().route("/", get(count)), db);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Db(pub Database);

impl std::ops::Deref for Db {
    type Target = Database;
    fn deref(&self) -> &Database {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Db {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Db>()
            .cloned()
            .ok_or_else(|| ApiError::internal("the Db extractor needs almacen_web::with_database around the router"))
    }
}

/// The request's transaction slot: empty until a handler extracts [`Tx`].
#[derive(Clone, Default)]
struct TxSlot(Arc<tokio::sync::Mutex<Option<Arc<almacen::Transaction>>>>);

/// The request's transaction (see the [module](self)): commits when the handler answers
/// 2xx or 3xx and none of its statements failed, rolls back otherwise. Derefs to [`almacen::Transaction`], an
/// [`Executor`](almacen::Executor). Several `Tx` in one request share one transaction.
///
/// Beginning the transaction can fail (the pool is exhausted, the database is down): the
/// rejection is that error's response (503, …). Without [`with_database`] around the
/// router, extracting it is a 500.
///
/// ```
/// use almacen::prelude::*;
/// use almacen_web::{ApiError, db::Tx};
/// use axum::{Router, http::StatusCode, routing::post};
///
/// async fn move_stock(tx: Tx) -> Result<StatusCode, ApiError> {
///     tx.execute_raw("UPDATE items SET stock = stock - 1 WHERE id = 1", params! {}).await?;
///     tx.execute_raw("UPDATE items SET stock = stock + 1 WHERE id = 2", params! {}).await?;
///     Ok(StatusCode::NO_CONTENT) // a success: both updates commit together
/// }
/// # async fn f() -> almacen::Result<()> {
/// let db = Database::connect("sqlite::memory:").await?;
/// let app: Router = almacen_web::with_database(Router::new().route("/move", post(move_stock)), db);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Tx(Arc<almacen::Transaction>);

impl std::ops::Deref for Tx {
    type Target = almacen::Transaction;
    fn deref(&self) -> &almacen::Transaction {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Tx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let missing = || ApiError::internal("the Tx extractor needs almacen_web::with_database around the router");
        let slot = parts.extensions.get::<TxSlot>().cloned().ok_or_else(missing)?;
        let Db(db) = parts.extensions.get::<Db>().cloned().ok_or_else(missing)?;
        let mut guard = slot.0.lock().await;
        if let Some(tx) = guard.as_ref() {
            return Ok(Tx(tx.clone()));
        }
        let tx = Arc::new(db.begin().await?);
        *guard = Some(tx.clone());
        Ok(Tx(tx))
    }
}

/// Install `db` for every route of `router`: the [`Db`] and [`Tx`] extractors, and the
/// commit or rollback of the request's transaction once the handler has answered. Call it
/// before the service layers ([`with_service_layers`](crate::with_service_layers)), so
/// that a panic or a timeout drops the transaction (rolled back).
///
/// ```
/// # async fn f() -> almacen::Result<()> {
/// use axum::{Router, routing::get};
/// let db = almacen::Database::connect("sqlite::memory:").await?;
/// let app: Router = Router::new().route("/", get(|| async { "hi" }));
/// let app = almacen_web::with_service_layers(almacen_web::with_database(app, db));
/// # Ok(()) }
/// ```
pub fn with_database<S: Clone + Send + Sync + 'static>(router: axum::Router<S>, db: Database) -> axum::Router<S> {
    router.layer(axum::middleware::from_fn(move |req, next| transaction_middleware(Db(db.clone()), req, next)))
}

/// The detail of the 500 answered when a statement of the request's transaction failed
/// and the handler answered a success anyway.
const STATEMENT_FAILED_DETAIL: &str = "a statement of this request failed; nothing was committed";

async fn transaction_middleware(db: Db, mut req: Request, next: Next) -> Response {
    let slot = TxSlot::default();
    req.extensions_mut().insert(db);
    req.extensions_mut().insert(slot.clone());
    // Lets the Tx cancel the background tasks the request queued (whichever layer is outside).
    let tasks = crate::background::RequestTasks::of(req.extensions_mut());
    // Tells the shutdown cut and the request timeout that a cut now leaves the outcome unknown.
    let committing = crate::serve::Committing::install(req.extensions_mut());
    // Dropped here unfinished (panic, timeout, closed connection): the slot, and with it
    // the transaction, is dropped and rolled back.
    let response = next.run(req).await;
    let Some(tx) = slot.0.lock().await.take() else { return response };
    let tx = match Arc::try_unwrap(tx) {
        Ok(tx) => tx,
        Err(_still_shared) => {
            // A Tx outlived the handler (moved into a spawned task): its work can be neither
            // committed nor reported as done. Dropping the last handle rolls it back.
            tasks.cancel();
            return ApiError::internal("a Tx outlived its request (was it moved into a spawned task?); rolled back").into_response();
        }
    };
    let status = response.status();
    if !(status.is_success() || status.is_redirection()) {
        tasks.cancel();
        if let Err(e) = tx.rollback().await {
            tracing::warn!(error = %e, "the request's transaction did not roll back cleanly");
        }
        return response;
    }
    if tx.statement_failed() {
        // The handler answered a success after a failed statement (its error ignored):
        // committing would keep part of the work on SQLite and MariaDB, and nothing on
        // PostgreSQL. Roll back on all of them and say so.
        tasks.cancel();
        tracing::warn!(%status, "a statement of the request's transaction failed but the handler answered a success: rolled back");
        if let Err(e) = tx.rollback().await {
            tracing::warn!(error = %e, "the request's transaction did not roll back cleanly");
        }
        return ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, STATEMENT_FAILED_DETAIL).into_response();
    }
    committing.set(true);
    let committed = tx.commit().await;
    committing.set(false);
    match committed {
        Ok(()) => response,
        Err(e) => {
            tasks.cancel();
            tracing::warn!(error = %e, "the request's transaction did not commit");
            ApiError::from(e).into_response()
        }
    }
}
