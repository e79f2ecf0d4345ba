//! Serving with a graceful shutdown: [`serve`] stops on SIGTERM or Ctrl-C (or a future of
//! your own, [`ServeOptions::shutdown_on`]), then
//!
//! 1. stops accepting connections (new ones are refused) and closes idle ones;
//! 2. lets the requests in flight finish, up to the shutdown timeout (default 30 s, the
//!    same as the request timeout); those still running then are answered 503 in the
//!    envelope (`type` `shutting_down`) and their connections closed;
//! 3. drains the background tasks ([`TaskRunner`]) with the same bound, aborting (and
//!    logging) those still running;
//! 4. closes the database.

use crate::background::TaskRunner;
use almacen::Database;
use axum::Router;
use futures::future::BoxFuture;
use std::future::Future;
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

    /// How long requests in flight, and then background tasks, may take to finish once
    /// the shutdown began.
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
    // Requests still running at the shutdown timeout are answered 503 and their
    // connections closed; axum's connection tasks outlive a dropped server future.
    let cut = tokio_util::sync::CancellationToken::new();
    let app = app.layer(axum::middleware::from_fn_with_state(cut.clone(), cut_middleware));
    let server = axum::serve(listener, app).with_graceful_shutdown(signal).into_future();
    tokio::pin!(server);
    let deadline = async move {
        if began_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(shutdown_timeout).await;
    };
    let served = tokio::select! {
        served = &mut server => served,
        () = deadline => {
            tracing::warn!(timeout = ?shutdown_timeout, "requests still in flight at the shutdown timeout: answered 503");
            cut.cancel();
            match tokio::time::timeout(CUT_GRACE, &mut server).await {
                Ok(served) => served,
                Err(_) => {
                    tracing::warn!("connections still open after the 503s: left to close");
                    Ok(())
                }
            }
        }
    };
    if let Some(runner) = background {
        runner.drain(shutdown_timeout).await;
    }
    if let Some(db) = database {
        db.close().await;
    }
    tracing::info!("shut down");
    served
}

/// How long connections cut at the shutdown timeout get to send their 503.
const CUT_GRACE: Duration = Duration::from_secs(1);

async fn cut_middleware(
    axum::extract::State(cut): axum::extract::State<tokio_util::sync::CancellationToken>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    tokio::select! {
        response = next.run(req) => response,
        () = cut.cancelled() => axum::response::IntoResponse::into_response(
            crate::ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, "the service is shutting down")
                .with_error(None::<String>, "the request did not finish before the shutdown timeout", "shutting_down"),
        ),
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
