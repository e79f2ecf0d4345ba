//! Serving with a graceful shutdown: [`serve`] stops on SIGTERM or Ctrl-C (or a future of
//! your own, [`ServeOptions::shutdown_on`]), then
//!
//! 1. stops accepting connections (new ones are refused) and closes idle ones;
//! 2. lets the requests in flight finish; those still running shortly before the shutdown
//!    deadline are answered 503 in the envelope (`type` `shutting_down`) and their
//!    connections closed — or, if the cut came while the request's transaction
//!    ([`Tx`](crate::db::Tx)) was committing, 500 with
//!    [`OUTCOME_UNKNOWN_DETAIL`](crate::OUTCOME_UNKNOWN_DETAIL) (`type`
//!    `outcome_unknown`): the work may have been committed, a blind retry could do it twice;
//! 3. drains the background tasks ([`TaskRunner`]) in the time left, aborting (and
//!    logging) those still running at the deadline;
//! 4. closes the database.
//!
//! The shutdown timeout (default 30 s, the same as the request timeout) is **one deadline
//! for the whole shutdown**, counted from the signal: the requests in flight and then the
//! background tasks share it, so that `serve` returns within about the timeout (plus the
//! closing of the database's connections) — set it below your orchestrator's kill grace
//! period (Kubernetes: 30 s by default). The requests are cut a little before the deadline
//! (a tenth of the timeout, at most 1 s) so that their 503s can be written in time; the
//! background tasks get whatever time the requests left.

use crate::background::TaskRunner;
use almacen::Database;
use axum::Router;
use futures::future::BoxFuture;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The shutdown timeout unless set: [`ServeOptions::shutdown_timeout`].
///
/// ```
/// assert_eq!(almacen_web::serve::DEFAULT_SHUTDOWN_TIMEOUT.as_secs(), 30);
/// ```
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// How [`serve`] runs and shuts down.
///
/// ```
/// # async fn f() -> almacen::Result<()> {
/// use std::time::Duration;
/// let db = almacen::Database::connect("sqlite::memory:").await?;
/// let runner = almacen_web::TaskRunner::new();
/// let options = almacen_web::ServeOptions::new()
///     .shutdown_timeout(Duration::from_secs(10))
///     .database(db)
///     .background(runner);
/// # Ok(()) }
/// ```
pub struct ServeOptions {
    shutdown_timeout: Duration,
    database: Option<Database>,
    background: Option<TaskRunner>,
    trigger: Option<BoxFuture<'static, ()>>,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("database", &self.database.is_some())
            .field("background", &self.background.is_some())
            .field("custom_trigger", &self.trigger.is_some())
            .finish()
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions { shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT, database: None, background: None, trigger: None }
    }
}

impl ServeOptions {
    /// The defaults: stop on SIGTERM or Ctrl-C, a shutdown timeout of 30 s, no database
    /// to close, no background tasks to drain.
    ///
    /// ```
    /// let o = almacen_web::ServeOptions::new();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// How long the whole shutdown may take, counted from the signal: the requests in
    /// flight, and then the background tasks, share this one deadline (see the
    /// [module](self)).
    ///
    /// ```
    /// let o = almacen_web::ServeOptions::new().shutdown_timeout(std::time::Duration::from_secs(5));
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The database to close last.
    ///
    /// ```
    /// # async fn f() -> almacen::Result<()> {
    /// let db = almacen::Database::connect("sqlite::memory:").await?;
    /// let o = almacen_web::ServeOptions::new().database(db);
    /// # Ok(()) }
    /// ```
    pub fn database(mut self, db: Database) -> Self {
        self.database = Some(db);
        self
    }

    /// The background tasks to drain once the requests are done.
    ///
    /// ```
    /// let o = almacen_web::ServeOptions::new().background(almacen_web::TaskRunner::new());
    /// ```
    pub fn background(mut self, runner: TaskRunner) -> Self {
        self.background = Some(runner);
        self
    }

    /// Shut down when `trigger` completes, as well as on SIGTERM or Ctrl-C.
    ///
    /// ```
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let o = almacen_web::ServeOptions::new().shutdown_on(async { let _ = stopped.await; });
    /// # drop(stop);
    /// ```
    pub fn shutdown_on<F: Future<Output = ()> + Send + 'static>(mut self, trigger: F) -> Self {
        self.trigger = Some(Box::pin(trigger));
        self
    }
}

/// Serve `app` on `listener` until SIGTERM, Ctrl-C or the [`ServeOptions::shutdown_on`]
/// future, then shut down gracefully (see the [module](self)). Returns when all is done;
/// an error only if serving itself failed.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{Router, routing::get};
/// let db = almacen::Database::connect("sqlite://shop.db").await?;
/// let app: Router = almacen_web::with_service_layers(Router::new().route("/", get(|| async { "hi" })));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// almacen_web::serve(listener, app, almacen_web::ServeOptions::new().database(db)).await?;
/// # Ok(()) }
/// ```
pub async fn serve(listener: tokio::net::TcpListener, app: Router, options: ServeOptions) -> std::io::Result<()> {
    let ServeOptions { shutdown_timeout, database, background, trigger } = options;
    let (began_tx, began_rx) = tokio::sync::oneshot::channel::<()>();
    // Listen for SIGTERM from now on, before the first connection.
    #[cfg(unix)]
    let term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM");
            None
        }
    };
    #[cfg(not(unix))]
    let term = None::<()>;
    let signal = async move {
        let why = stop_signal(trigger, term).await;
        tracing::info!(signal = why, "shutting down: no new connections, waiting for requests in flight");
        let _ = began_tx.send(());
    };
    // Requests still running shortly before the deadline are answered 503 and their
    // connections closed; axum's connection tasks outlive a dropped server future.
    let cut = tokio_util::sync::CancellationToken::new();
    // Around the whole router, not per route (`Router::layer` boxes every route again).
    let app = tower::Layer::layer(&axum::middleware::from_fn_with_state(cut.clone(), cut_middleware), app);
    let app = axum::ServiceExt::<axum::extract::Request>::into_make_service(app);
    let server = axum::serve(listener, app).with_graceful_shutdown(signal).into_future();
    tokio::pin!(server);
    let (deadline_tx, deadline_rx) = tokio::sync::oneshot::channel::<tokio::time::Instant>();
    let grace = cut_grace(shutdown_timeout);
    let cut_at = async move {
        if began_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
        let deadline = tokio::time::Instant::now() + shutdown_timeout;
        let _ = deadline_tx.send(deadline);
        tokio::time::sleep_until(deadline - grace).await;
    };
    let served = tokio::select! {
        served = &mut server => served,
        () = cut_at => {
            tracing::warn!(timeout = ?shutdown_timeout, "requests still in flight at the shutdown timeout: answered 503");
            cut.cancel();
            match tokio::time::timeout(grace, &mut server).await {
                Ok(served) => served,
                Err(_) => {
                    tracing::warn!("connections still open after the 503s: left to close");
                    Ok(())
                }
            }
        }
    };
    // The deadline set at the signal; none if serving stopped without one (an error).
    let deadline = deadline_rx.await.unwrap_or_else(|_| tokio::time::Instant::now() + shutdown_timeout);
    if let Some(runner) = background {
        runner.drain(deadline.saturating_duration_since(tokio::time::Instant::now())).await;
    }
    if let Some(db) = database {
        db.close().await;
    }
    tracing::info!("shut down");
    served
}

/// How long before the deadline the requests still running are cut, for their 503s to be
/// written: a tenth of the timeout, at most 1 s.
fn cut_grace(timeout: Duration) -> Duration {
    (timeout / 10).min(Duration::from_secs(1))
}

/// Whether the request's transaction is committing: set by the transaction middleware
/// around its commit, read by the shutdown cut and the request timeout to answer "outcome
/// unknown" rather than "abandoned" when they cut a commit in flight.
#[derive(Clone, Default)]
pub(crate) struct Committing(Arc<AtomicBool>);

impl Committing {
    /// The request's flag, inserted if absent (the shutdown cut and the request timeout
    /// share it).
    pub(crate) fn install(extensions: &mut axum::http::Extensions) -> Self {
        extensions.get_or_insert_default::<Committing>().clone()
    }

    /// Whether the request's transaction is committing now.
    pub(crate) fn in_flight(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// The answer to a request cut (`why`) while its transaction was committing: 500
    /// [`OUTCOME_UNKNOWN_DETAIL`](crate::OUTCOME_UNKNOWN_DETAIL), type `outcome_unknown`.
    pub(crate) fn outcome_unknown(why: &str) -> crate::ApiError {
        crate::ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, crate::OUTCOME_UNKNOWN_DETAIL).with_error(
            None::<String>,
            format!("{why} while its transaction was committing: it may or may not have been saved"),
            "outcome_unknown",
        )
    }

    /// Mark the commit as running (`true`) or finished (`false`). A commit cut before it
    /// finished stays marked running: the cut reads it after dropping the request.
    pub(crate) fn set(&self, running: bool) {
        self.0.store(running, Ordering::SeqCst);
    }
}

async fn cut_middleware(
    axum::extract::State(cut): axum::extract::State<tokio_util::sync::CancellationToken>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let committing = Committing::install(req.extensions_mut());
    tokio::select! {
        response = next.run(req) => response,
        () = cut.cancelled() => {
            let response = if committing.in_flight() {
                Committing::outcome_unknown("the shutdown timeout cut the request")
            } else {
                crate::ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, "the service is shutting down")
                    .with_error(None::<String>, "the request did not finish before the shutdown timeout", "shutting_down")
            };
            axum::response::IntoResponse::into_response(response)
        }
    }
}

#[cfg(unix)]
type TermSignal = tokio::signal::unix::Signal;
#[cfg(not(unix))]
type TermSignal = ();

/// Wait for SIGTERM, Ctrl-C or `trigger`; which one.
async fn stop_signal(trigger: Option<BoxFuture<'static, ()>>, term: Option<TermSignal>) -> &'static str {
    let trigger = async move {
        match trigger {
            Some(t) => t.await,
            None => std::future::pending().await,
        }
    };
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async move {
        match term {
            #[cfg(unix)]
            Some(mut s) => {
                s.recv().await;
            }
            _ => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = trigger => "trigger",
        () = ctrl_c => "ctrl-c",
        () = term => "SIGTERM",
    }
}
