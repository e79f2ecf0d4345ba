//! The layers every almacen service wants around its router, in one call:
//! [`with_service_layers`], or [`ServiceConfig::apply`] to choose the request timeout, the
//! CORS origins and the body limit.

use crate::ApiError;
use crate::metrics::Metrics;
use crate::request_id::REQUEST_ID_HEADER;
use crate::request_layer::RequestLayer;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header::{self, InvalidHeaderValue};
use axum::http::{HeaderValue, Method, StatusCode};
use std::time::Duration;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The request timeout unless set: [`ServiceConfig::request_timeout`].
///
/// ```
/// assert_eq!(almacen_web::plumbing::DEFAULT_REQUEST_TIMEOUT.as_secs(), 30);
/// ```
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The body limit unless set, in bytes (2 MiB, axum's own default):
/// [`ServiceConfig::body_limit`].
///
/// ```
/// assert_eq!(almacen_web::plumbing::DEFAULT_BODY_LIMIT, 2 * 1024 * 1024);
/// ```
pub const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The service layers' settings, with sane defaults: a request timeout of 30 s
/// ([`DEFAULT_REQUEST_TIMEOUT`]), no CORS origin allowed (no CORS headers at all), a body
/// limit of 2 MiB ([`DEFAULT_BODY_LIMIT`]).
///
/// ```
/// use almacen_web::ServiceConfig;
/// use axum::{Router, routing::get};
/// use std::time::Duration;
///
/// let app: Router = Router::new().route("/", get(|| async { "hi" }));
/// let app = ServiceConfig::default()
///     .request_timeout(Some(Duration::from_secs(10)))
///     .cors_origins(["https://shop.example.com"])
///     .expect("valid origins")
///     .body_limit(64 * 1024)
///     .apply(app);
/// ```
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    request_timeout: Option<Duration>,
    cors_origins: Vec<HeaderValue>,
    body_limit: usize,
    compression: Option<u16>,
    metrics: Option<Metrics>,
}

/// The smallest response body, in bytes, compressed unless set:
/// [`ServiceConfig::compression`].
///
/// ```
/// assert_eq!(almacen_web::plumbing::DEFAULT_COMPRESSION_MIN_SIZE, 1024);
/// ```
pub const DEFAULT_COMPRESSION_MIN_SIZE: u16 = 1024;

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
            cors_origins: Vec::new(),
            body_limit: DEFAULT_BODY_LIMIT,
            compression: Some(DEFAULT_COMPRESSION_MIN_SIZE),
            metrics: None,
        }
    }
}

impl ServiceConfig {
    /// How long a request may take, from when its head is read to when its response head
    /// is ready, before it is answered 504 in the envelope (`type` `request_timeout`, the
    /// request id in the `x-request-id` header) and its handler is dropped — which cancels
    /// its database work. `None`: no limit.
    ///
    /// tower-http's `TimeoutLayer` answers an empty 408; this answers in the envelope.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = almacen_web::ServiceConfig::default().request_timeout(Some(Duration::from_secs(5)));
    /// ```
    pub fn request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The origins (`https://shop.example.com`, scheme, host and port as the browser sends
    /// them) allowed to call the service from a browser. None by default: no CORS headers
    /// are sent, so browsers allow only same-origin calls. For an allowed origin, a
    /// preflight is answered with the methods `GET, POST, PUT, PATCH, DELETE`, the request
    /// headers `content-type`, `authorization` and `x-request-id`, and a max age of 10
    /// minutes; responses expose `x-request-id`, `location` and `retry-after`. Credentials
    /// (cookies) are not allowed. An origin that is not a valid header value is an error.
    ///
    /// ```
    /// let c = almacen_web::ServiceConfig::default().cors_origins(["http://localhost:5173"]).unwrap();
    /// assert!(almacen_web::ServiceConfig::default().cors_origins(["bad\norigin"]).is_err());
    /// ```
    pub fn cors_origins<I, S>(mut self, origins: I) -> Result<Self, InvalidHeaderValue>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.cors_origins =
            origins.into_iter().map(|o| HeaderValue::from_str(o.as_ref().trim_end_matches('/'))).collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// The largest request body, in bytes, that [`Json`](crate::Json) (and axum's body
    /// extractors) accept; over it, 413 in the envelope.
    ///
    /// ```
    /// let c = almacen_web::ServiceConfig::default().body_limit(64 * 1024);
    /// ```
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Compress responses with gzip for clients that accept it (`Accept-Encoding: gzip`),
    /// when the body is known to be at least `min_size` bytes: a small JSON body costs
    /// more to compress than it saves. Images, gRPC and server-sent events are never
    /// compressed. On by default with [`DEFAULT_COMPRESSION_MIN_SIZE`]; `None` turns it off.
    ///
    /// ```
    /// let c = almacen_web::ServiceConfig::default().compression(None);
    /// let c = almacen_web::ServiceConfig::default().compression(Some(4096));
    /// ```
    pub fn compression(mut self, min_size: Option<u16>) -> Self {
        self.compression = min_size;
        self
    }

    /// Record every request in `metrics` (by route template and status, with its latency;
    /// 404s, timeouts and panics included) and serve them on `GET /metrics` (see
    /// [`metrics`](crate::metrics)). Off unless set.
    ///
    /// ```
    /// let c = almacen_web::ServiceConfig::default().metrics(almacen_web::Metrics::new());
    /// ```
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Wrap `router` in the service layers (see [`with_service_layers`]) with these
    /// settings. Call it last, on the whole application (after `merge`, `nest` and
    /// `with_state`).
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// let app: Router = almacen_web::ServiceConfig::default().apply(Router::new().route("/", get(|| async { "hi" })));
    /// ```
    pub fn apply(self, mut router: Router) -> Router {
        if let Some(metrics) = &self.metrics {
            let served = metrics.clone();
            router = router.route(crate::metrics::METRICS_PATH, axum::routing::get(move || async move { served.response() }));
        }
        let cors = (!self.cors_origins.is_empty()).then(|| {
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(self.cors_origins))
                .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
                .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, REQUEST_ID_HEADER.clone()])
                .expose_headers([REQUEST_ID_HEADER.clone(), header::LOCATION, header::RETRY_AFTER])
                .max_age(Duration::from_secs(600))
        });
        let compression = self.compression.map(|min_size| {
            let predicate =
                SizeAbove::new(min_size).and(NotForContentType::GRPC).and(NotForContentType::IMAGES).and(NotForContentType::SSE);
            // Back to axum's body type, which the router's services answer with.
            tower::ServiceBuilder::new()
                .map_response(|response: axum::http::Response<_>| response.map(axum::body::Body::new))
                .layer(CompressionLayer::new().gzip(true).compress_when(predicate))
        });
        // One `Router::layer` call: each call boxes every route's service again.
        router.fallback(route_not_found).method_not_allowed_fallback(method_not_allowed).layer(
            tower::ServiceBuilder::new()
                .layer(RequestLayer::new(self.request_timeout, self.body_limit, self.metrics))
                .option_layer(cors)
                .option_layer(compression)
                .layer(DefaultBodyLimit::max(self.body_limit)),
        )
    }
}

/// Wrap `router` with the default [`ServiceConfig`] so that:
///
/// - every request has a request id (see [`request_id`](crate::request_id)), outermost, so
///   that everything below is logged under it;
/// - a request that takes longer than 30 s answers 504 in the envelope;
/// - request bodies over 2 MiB answer 413 in the envelope (through [`Json`](crate::Json));
/// - no CORS headers are sent (set origins with [`ServiceConfig::cors_origins`]);
/// - a handler that panics answers 500 in the envelope with the request id, the panic
///   message going only to the log;
/// - an unknown path answers 404 and a known path with the wrong method 405, both in the
///   envelope (axum's own answers have no body);
/// - each request is logged when answered (see [`logging`](crate::logging));
/// - responses of 1 KiB or more are gzip-compressed for clients that accept it.
///
/// Call it last, on the whole application (after `merge`, `nest` and `with_state`).
///
/// ```
/// use axum::{Router, routing::get};
/// let app: Router = almacen_web::with_service_layers(Router::new().route("/", get(|| async { "hi" })));
/// ```
pub fn with_service_layers(router: Router) -> Router {
    ServiceConfig::default().apply(router)
}

async fn route_not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}
