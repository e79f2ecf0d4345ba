//! Work that runs after the response: the [`BackgroundTasks`] extractor queues futures
//! that start once the response has been sent (its body written to the end, or the
//! client gone), on the service's [`TaskRunner`], which tracks them and drains them on
//! shutdown ([`TaskRunner::drain`], called by [`serve`](crate::serve::serve)).
//!
//! Tasks start only for a request that succeeded: a final response of 2xx or 3xx and,
//! with [`with_database`](crate::with_database), a transaction that committed. A request
//! answered 4xx or 5xx, whose handler panicked, whose transaction rolled back or failed to
//! commit, or abandoned before it answered (request timeout, shutdown) runs none of the
//! tasks it queued. This holds whichever of [`TaskRunner::apply`] and
//! [`with_database`](crate::with_database) is outside the other.
//!
//! A task that panics is logged and goes no further; the server goes on.

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use futures::FutureExt;
use futures::future::BoxFuture;
use http_body::{Frame, SizeHint};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The service's background tasks: tracked, and drained on shutdown. Cheap to clone
/// (clones share the tasks). Install it with [`TaskRunner::apply`] for the
/// [`BackgroundTasks`] extractor.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// let runner = almacen_web::TaskRunner::new();
/// runner.spawn(async { /* send an email */ });
/// let report = runner.drain(Duration::from_secs(5)).await;
/// assert_eq!(report.aborted, 0);
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct TaskRunner {
    tracker: TaskTracker,
    /// Cancelled by a drain that reached its bound, then replaced by a fresh token: tasks
    /// spawned after the drain are not aborted.
    abort: Arc<Mutex<CancellationToken>>,
}

/// What [`TaskRunner::drain`] found.
///
/// ```
/// let r = almacen_web::background::DrainReport::default();
/// assert_eq!(r.aborted, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Tasks still running at the bound, aborted.
    pub aborted: usize,
}

impl TaskRunner {
    /// A runner with no task.
    ///
    /// ```
    /// let runner = almacen_web::TaskRunner::new();
    /// assert_eq!(runner.running(), 0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Start `task` now, tracked. A panic in it is logged (`background task panicked`).
    /// Must be called inside a Tokio runtime.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let runner = almacen_web::TaskRunner::new();
    /// runner.spawn(async { panic!("boom") }); // logged; nothing else happens
    /// runner.drain(std::time::Duration::from_secs(1)).await;
    /// # });
    /// ```
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.spawn_boxed(Box::pin(task));
    }

    fn spawn_boxed(&self, task: BoxFuture<'static, ()>) {
        let abort = self.abort.lock().unwrap_or_else(|p| p.into_inner()).clone();
        self.tracker.spawn(async move {
            tokio::select! {
                outcome = AssertUnwindSafe(task).catch_unwind() => {
                    if let Err(panic) = outcome {
                        tracing::error!(panic = %panic_message(&*panic), "background task panicked");
                    }
                }
                () = abort.cancelled() => {
                    tracing::warn!("background task still running at the end of the shutdown bound: aborted");
                }
            }
        });
    }

    /// Tasks started and not finished.
    ///
    /// ```
    /// assert_eq!(almacen_web::TaskRunner::new().running(), 0);
    /// ```
    pub fn running(&self) -> usize {
        self.tracker.len()
    }

    /// Wait up to `bound` for the tasks to finish; abort (and log) those still running
    /// then. Meant for the shutdown, but the runner stays usable: tasks spawned after a
    /// drain (even one that aborted tasks) run normally.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::time::Duration;
    /// let runner = almacen_web::TaskRunner::new();
    /// runner.spawn(std::future::pending());
    /// let report = runner.drain(Duration::from_millis(10)).await;
    /// assert_eq!(report.aborted, 1);
    /// # });
    /// ```
    pub async fn drain(&self, bound: Duration) -> DrainReport {
        self.tracker.close();
        let mut report = DrainReport::default();
        if tokio::time::timeout(bound, self.tracker.wait()).await.is_err() {
            report.aborted = self.tracker.len();
            tracing::warn!(aborted = report.aborted, bound = ?bound, "background tasks did not finish in time: aborting them");
            let abort = std::mem::take(&mut *self.abort.lock().unwrap_or_else(|p| p.into_inner()));
            abort.cancel();
            self.tracker.wait().await;
        }
        self.tracker.reopen();
        report
    }

    /// Give every route of `router` the [`BackgroundTasks`] extractor, whose tasks run on
    /// this runner once the response is sent.
    ///
    /// ```
    /// use almacen_web::{BackgroundTasks, TaskRunner};
    /// use axum::{Router, routing::post};
    ///
    /// async fn signup(tasks: BackgroundTasks) -> &'static str {
    ///     tasks.spawn(async { /* send the welcome email */ });
    ///     "welcome"
    /// }
    /// let runner = TaskRunner::new();
    /// let app: Router = runner.apply(Router::new().route("/signup", post(signup)));
    /// ```
    pub fn apply<S: Clone + Send + Sync + 'static>(&self, router: axum::Router<S>) -> axum::Router<S> {
        let runner = self.clone();
        router.layer(axum::middleware::from_fn(move |req, next| background_middleware(runner.clone(), req, next)))
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "a background task panicked".to_string()
    }
}

/// The tasks a request queued, and whether they were cancelled (the request's
/// transaction rolled back or did not commit).
struct QueueInner {
    tasks: Mutex<Vec<BoxFuture<'static, ()>>>,
    cancelled: RequestTasks,
}

impl QueueInner {
    fn cancelled(&self) -> bool {
        self.cancelled.is_cancelled()
    }
}

type Queue = Arc<QueueInner>;

/// Whether the request's background tasks were cancelled: shared by the background
/// middleware and the transaction middleware through the request's extensions (the
/// first of the two to run inserts it), so that a transaction that rolls back or fails
/// to commit cancels them whichever of [`TaskRunner::apply`] and
/// [`with_database`](crate::with_database) is outside.
#[derive(Clone, Default)]
pub(crate) struct RequestTasks(Arc<std::sync::atomic::AtomicBool>);

impl RequestTasks {
    /// The request's flag, inserted if absent.
    pub(crate) fn of(extensions: &mut axum::http::Extensions) -> Self {
        extensions.get_or_insert_default::<RequestTasks>().clone()
    }

    /// The queued tasks, and any queued later, never start.
    pub(crate) fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Tasks to run once the response is sent (see the [module](self)). Needs
/// [`TaskRunner::apply`] around the router; without it, extracting it is a 500.
///
/// ```
/// use almacen_web::BackgroundTasks;
/// async fn handler(tasks: BackgroundTasks) -> &'static str {
///     tasks.spawn(async { tracing::info!("after the response") });
///     "ok"
/// }
/// ```
#[derive(Clone)]
pub struct BackgroundTasks {
    queue: Queue,
}

impl std::fmt::Debug for BackgroundTasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundTasks").finish_non_exhaustive()
    }
}

impl BackgroundTasks {
    /// Queue `task` to start once the response has been sent.
    ///
    /// ```
    /// # fn f(tasks: almacen_web::BackgroundTasks) {
    /// tasks.spawn(async { /* … */ });
    /// # }
    /// ```
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.queue.cancelled() {
            return;
        }
        self.queue.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(Box::pin(task));
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BackgroundTasks {
    type Rejection = crate::ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Queue>()
            .map(|queue| BackgroundTasks { queue: queue.clone() })
            .ok_or_else(|| crate::ApiError::internal("the BackgroundTasks extractor needs TaskRunner::apply around the router"))
    }
}

async fn background_middleware(runner: TaskRunner, mut req: Request, next: Next) -> Response {
    let cancelled = RequestTasks::of(req.extensions_mut());
    let queue: Queue = Arc::new(QueueInner { tasks: Mutex::default(), cancelled: cancelled.clone() });
    req.extensions_mut().insert(queue.clone());
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_success() || status.is_redirection()) {
        // The request failed (or its transaction did not commit): its tasks never run.
        cancelled.cancel();
        return response;
    }
    let tasks = std::mem::take(&mut *queue.tasks.lock().unwrap_or_else(|p| p.into_inner()));
    if tasks.is_empty() {
        return response;
    }
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, Body::new(AfterBody { inner: body, start: StartOnDrop { runner, tasks, queue } }))
}

/// Starts the tasks when the response body has been written, or when it is dropped (the
/// connection is gone) — unless they were cancelled meanwhile: a transaction middleware
/// inside this layer that rolled back or failed to commit drops this body and answers
/// its error instead.
struct StartOnDrop {
    runner: TaskRunner,
    tasks: Vec<BoxFuture<'static, ()>>,
    queue: Queue,
}

impl StartOnDrop {
    fn start(&mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        if self.queue.cancelled() {
            return;
        }
        for task in tasks {
            self.runner.spawn_boxed(task);
        }
    }
}

impl Drop for StartOnDrop {
    fn drop(&mut self) {
        if self.tasks.is_empty() || self.queue.cancelled() {
            return;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            tracing::error!(tasks = self.tasks.len(), "background tasks dropped outside a Tokio runtime: not run");
            return;
        }
        self.start();
    }
}

struct AfterBody {
    inner: Body,
    start: StartOnDrop,
}

impl HttpBody for AfterBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            // The body is complete: start the tasks now, not when hyper gets round to
            // dropping it.
            self.start.start();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
