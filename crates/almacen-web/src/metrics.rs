//! `GET /metrics` in the Prometheus text format (OpenMetrics), with [`Metrics`]:
//!
//! - `http_requests_total{method, route, status}`: requests answered, by route template
//!   (`/users/{id}`, never the raw path, so the number of series stays bounded; a request
//!   that matched no route is counted under the route `unmatched`, a method outside the
//!   usual ones under `other`);
//! - `http_request_duration_seconds{method, route}`: a latency histogram (5 ms to about
//!   10 s), from the request's head to its response's head;
//! - with a database ([`Metrics::database`]): `db_pool_connections{state="size|idle|in_use|waiting"}`
//!   and `db_statements_total`, read when scraped.
//!
//! Mount it with [`ServiceConfig::metrics`](crate::ServiceConfig::metrics), which records
//! every request (404s, 504s and panics included) and serves `GET /metrics`.

use almacen::Database;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The `route` label of a request that matched no route.
///
/// ```
/// assert_eq!(almacen_web::metrics::UNMATCHED_ROUTE, "unmatched");
/// ```
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The path `GET /metrics` is served on.
///
/// ```
/// assert_eq!(almacen_web::metrics::METRICS_PATH, "/metrics");
/// ```
pub const METRICS_PATH: &str = "/metrics";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    method: &'static str,
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 12))
}

/// The content type of `GET /metrics`: OpenMetrics 1.0 text, which Prometheus reads.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

struct DbMetrics {
    db: Database,
    pool: Family<PoolLabels, Gauge>,
    statements: Counter,
    // The database's statement total at the last scrape.
    seen: AtomicU64,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram, fn() -> Histogram>,
    db: Option<DbMetrics>,
}

/// The service's metrics registry (cheap to clone: clones share it). See the
/// [module](self).
///
/// ```
/// # async fn f() -> almacen::Result<()> {
/// use axum::{Router, routing::get};
/// let db = almacen::Database::connect("sqlite::memory:").await?;
/// let metrics = almacen_web::Metrics::new().database(&db);
/// let app: Router = Router::new().route("/hello", get(|| async { "hi" }));
/// let app = almacen_web::ServiceConfig::default().metrics(metrics).apply(app);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("database", &self.inner.db.is_some()).finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with the request metrics.
    ///
    /// ```
    /// let m = almacen_web::Metrics::new();
    /// assert!(m.render().contains("# EOF"));
    /// ```
    pub fn new() -> Self {
        Self::build(None)
    }

    fn build(db: Option<&Database>) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered, by route template and status", requests.clone());
        let latency = Family::<LatencyLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's head to its response's head, by route template",
            latency.clone(),
        );
        let db = db.map(|db| {
            let pool = Family::<PoolLabels, Gauge>::default();
            registry.register("db_pool_connections", "Database pool connections by state (size, idle, in_use, waiting)", pool.clone());
            let statements = Counter::default();
            registry.register("db_statements", "SQL statements sent to the database", statements.clone());
            DbMetrics { db: db.clone(), pool, statements, seen: AtomicU64::new(db.statements_sent()) }
        });
        Metrics { inner: Arc::new(Inner { registry, requests, latency, db }) }
    }

    /// These metrics plus the pool of `db` and the statements it sends (counted from
    /// now on). Replaces the request counts recorded so far: call it before serving.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let db = almacen::Database::connect("sqlite::memory:").await.unwrap();
    /// let m = almacen_web::Metrics::new().database(&db);
    /// assert!(m.render().contains("db_pool_connections{state=\"in_use\"}"));
    /// # });
    /// ```
    pub fn database(self, db: &Database) -> Self {
        Self::build(Some(db))
    }

    /// The metrics now, in the Prometheus text format (OpenMetrics 1.0).
    ///
    /// ```
    /// assert!(almacen_web::Metrics::new().render().ends_with("# EOF\n"));
    /// ```
    pub fn render(&self) -> String {
        if let Some(d) = &self.inner.db {
            let stats = d.db.stats();
            for (state, v) in [("size", stats.size), ("idle", stats.idle), ("in_use", stats.in_use), ("waiting", stats.waiting)] {
                d.pool.get_or_create(&PoolLabels { state }).set(i64::from(v));
            }
            // The database's own running total; add what was sent since the last scrape.
            let now = d.db.statements_sent();
            let before = d.seen.swap(now, Ordering::Relaxed);
            d.statements.inc_by(now.saturating_sub(before));
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }

    /// Record one answered request.
    pub(crate) fn record(&self, method: &Method, route: Option<&str>, status: u16, seconds: f64) {
        let method = method_label(method);
        let route = intern(route.unwrap_or(UNMATCHED_ROUTE));
        self.inner.requests.get_or_create(&RequestLabels { method, route, status }).inc();
        self.inner.latency.get_or_create(&LatencyLabels { method, route }).observe(seconds);
    }

    /// Add `GET /metrics` to `router` and record each of its requests. Routes added to
    /// `router` after this are not recorded: prefer
    /// [`ServiceConfig::metrics`](crate::ServiceConfig::metrics), which does this last.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// let app: Router = almacen_web::Metrics::new().apply(Router::new().route("/", get(|| async { "hi" })));
    /// ```
    pub fn apply<S: Clone + Send + Sync + 'static>(self, router: Router<S>) -> Router<S> {
        let served = self.clone();
        router
            .route(METRICS_PATH, axum::routing::get(move || async move { served.response() }))
            .layer(axum::middleware::from_fn_with_state(self, metrics_middleware))
    }

    pub(crate) fn response(&self) -> Response {
        ([(header::CONTENT_TYPE, CONTENT_TYPE)], self.render()).into_response()
    }
}

/// The route template as a `'static` label, so recording a request allocates nothing. Each
/// distinct template is kept once for the life of the process: templates come from the
/// router's own routes (never the raw path), so they are few.
fn intern(route: &str) -> &'static str {
    static ROUTES: std::sync::LazyLock<std::sync::RwLock<std::collections::HashSet<&'static str>>> =
        std::sync::LazyLock::new(Default::default);
    if let Some(known) = ROUTES.read().unwrap_or_else(|e| e.into_inner()).get(route) {
        return known;
    }
    let mut routes = ROUTES.write().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = routes.get(route) {
        return known;
    }
    let kept: &'static str = Box::leak(route.to_owned().into_boxed_str());
    routes.insert(kept);
    kept
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

pub(crate) async fn metrics_middleware(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let response = next.run(req).await;
    metrics.record(&method, route.as_ref().map(|r| r.as_str()), response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}
