//! A request id per request: the client's `x-request-id` when it is well-formed, a new
//! UUID otherwise; echoed in the response's `x-request-id`, recorded on a tracing span
//! (`request`, with `request_id`, `method` and `path`), available to handlers as the
//! [`RequestId`] extractor and put in the body of every 500 by [`ApiError`](crate::ApiError).
//!
//! Mount it with [`with_request_id`].

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use std::convert::Infallible;
use std::sync::Arc;
use tracing::Instrument;

/// The header read and written: `x-request-id`.
///
/// ```
/// assert_eq!(almacen_web::request_id::REQUEST_ID_HEADER.as_str(), "x-request-id");
/// ```
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client id kept; a longer one is replaced by a new id.
///
/// ```
/// use almacen_web::{RequestId, request_id::MAX_REQUEST_ID_LEN};
/// assert!(RequestId::parse(&"a".repeat(MAX_REQUEST_ID_LEN)).is_some());
/// ```
pub const MAX_REQUEST_ID_LEN: usize = 128;

tokio::task_local! {
    static CURRENT: RequestId;
}

/// The id of the request being served. As an extractor it needs [`with_request_id`] (or
/// [`with_service_layers`](crate::with_service_layers)) around the router; without it,
/// each extraction makes a new random id.
///
/// ```
/// use almacen_web::RequestId;
/// use axum::{Router, routing::get};
///
/// async fn whoami(id: RequestId) -> String {
///     format!("you are request {}", id.as_str())
/// }
/// let app: Router = almacen_web::with_request_id(Router::new().route("/", get(whoami)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// A new random id (a UUID v4).
    ///
    /// ```
    /// let id = almacen_web::RequestId::new_random();
    /// assert_eq!(id.as_str().len(), 36);
    /// ```
    pub fn new_random() -> Self {
        // uuid's `fast-rng`: a thread-local generator, not a getrandom call per request.
        let mut text = uuid::Uuid::encode_buffer();
        RequestId(Arc::from(&*uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text)))
    }

    /// The client's id if it is well-formed: 1 to [`MAX_REQUEST_ID_LEN`] characters among
    /// ASCII letters, digits, `-`, `_`, `.`, `:` and `/`.
    ///
    /// ```
    /// use almacen_web::RequestId;
    /// assert!(RequestId::parse("req-42.a").is_some());
    /// assert!(RequestId::parse("").is_none());
    /// assert!(RequestId::parse("two words").is_none());
    /// assert!(RequestId::parse(&"x".repeat(129)).is_none());
    /// ```
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= MAX_REQUEST_ID_LEN
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/'));
        ok.then(|| RequestId(Arc::from(s)))
    }

    /// The id as text.
    ///
    /// ```
    /// assert_eq!(almacen_web::RequestId::parse("abc").unwrap().as_str(), "abc");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The current request's id, inside a request served with [`with_request_id`]; outside one,
/// a new id (which the caller should log, as [`ApiError`](crate::ApiError) does).
pub(crate) fn current_request_id() -> String {
    CURRENT.try_with(|id| id.0.to_string()).unwrap_or_else(|_| RequestId::new_random().0.to_string())
}

/// Run `f` as the request `id`: [`current_request_id`] answers `id` inside it.
pub(crate) fn scope<F: std::future::Future>(id: RequestId, f: F) -> impl std::future::Future<Output = F::Output> {
    CURRENT.scope(id, f)
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<RequestId>().cloned().unwrap_or_else(RequestId::new_random))
    }
}

/// The middleware behind [`with_request_id`], for `axum::middleware::from_fn`.
///
/// ```
/// use axum::{Router, middleware, routing::get};
/// let app: Router = Router::new()
///     .route("/", get(|| async { "hi" }))
///     .layer(middleware::from_fn(almacen_web::request_id::request_id_middleware));
/// ```
pub async fn request_id_middleware(mut req: Request, next: Next) -> Response {
    let (id, span) = assign(&mut req);
    let mut response = CURRENT.scope(id.clone(), next.run(req).instrument(span)).await;
    stamp(&mut response, &id);
    response
}

/// The request's id (the client's `x-request-id` when well-formed, a new one otherwise),
/// stored in its extensions, and the `request` span to serve it in.
pub(crate) fn assign(req: &mut Request) -> (RequestId, tracing::Span) {
    let id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::parse)
        .unwrap_or_else(RequestId::new_random);
    req.extensions_mut().insert(id.clone());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    (id, span)
}

/// Echo the id in the response's `x-request-id`.
pub(crate) fn stamp(response: &mut Response, id: &RequestId) {
    // A well-formed id is always a valid header value.
    if let Ok(v) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
}

/// Give every request of `router` a request id (see the [module](self)).
///
/// ```
/// use axum::{Router, routing::get};
/// let app: Router = almacen_web::with_request_id(Router::new().route("/", get(|| async { "hi" })));
/// ```
pub fn with_request_id<S: Clone + Send + Sync + 'static>(router: axum::Router<S>) -> axum::Router<S> {
    router.layer(axum::middleware::from_fn(request_id_middleware))
}
