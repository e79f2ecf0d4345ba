//! The per-request bookkeeping of [`ServiceConfig::apply`](crate::ServiceConfig::apply) as
//! one tower service: the request id (and its tracing span), the declared body length, the
//! request timeout, panics as 500s, the metrics and the access log.
//!
//! One service instead of one `axum::middleware::from_fn` per concern: `Router::layer`
//! boxes each layer's service again and every `from_fn` clones the boxed route and boxes a
//! future per request; six of them cost about a third of a GET by id on embedded SQLite
//! (docs/PERFORMANCE.md, section (k)).

use crate::ApiError;
use crate::metrics::Metrics;
use crate::request_id::{self, RequestId};
use crate::serve::Committing;
use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::FutureExt as _;
use futures::future::BoxFuture;
use std::any::Any;
use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::{Layer, Service, ServiceExt as _};
use tracing::Instrument as _;

/// What the service needs to know, shared by every route's copy.
#[derive(Debug)]
struct Settings {
    request_timeout: Option<Duration>,
    body_limit: usize,
    metrics: Option<Metrics>,
}

/// The layer (see the [module](self)).
#[derive(Debug, Clone)]
pub(crate) struct RequestLayer {
    settings: Arc<Settings>,
}

impl RequestLayer {
    pub(crate) fn new(request_timeout: Option<Duration>, body_limit: usize, metrics: Option<Metrics>) -> Self {
        RequestLayer { settings: Arc::new(Settings { request_timeout, body_limit, metrics }) }
    }
}

impl<S> Layer<S> for RequestLayer {
    type Service = RequestService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestService { inner, settings: self.settings.clone() }
    }
}

/// The service of [`RequestLayer`] around one route.
#[derive(Debug, Clone)]
pub(crate) struct RequestService<S> {
    inner: S,
    settings: Arc<Settings>,
}

impl<S> Service<Request> for RequestService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        // The ready service answers this request; a clone stays for the next one.
        let spare = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, spare);
        let settings = self.settings.clone();
        let (id, span) = request_id::assign(&mut req);
        let answer = answer(ready, settings, id.clone(), req);
        Box::pin(request_id::scope(id, answer.instrument(span)).map(Ok))
    }
}

/// Serve `req` with `route` under the settings, then record it (metrics, access log) and
/// stamp its id on the response.
async fn answer<S>(route: S, settings: Arc<Settings>, id: RequestId, mut req: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let started = Instant::now();
    let method = req.method().clone();
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route_name = || matched.as_ref().map_or(crate::metrics::UNMATCHED_ROUTE, |m| m.as_str());
    let mut response = if declared_length(&req).is_some_and(|n| n > settings.body_limit as u64) {
        // Refused at once: otherwise a client that sends only the headers holds the
        // connection until the request timeout (the limit applies when the body is read).
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large")
            .with_error(None::<String>, "the body exceeds the size limit", "body_too_large")
            .into_response()
    } else {
        let uri = req.uri().clone();
        let committing = Committing::install(req.extensions_mut());
        let served = AssertUnwindSafe(route.oneshot(req)).catch_unwind();
        let outcome = match settings.request_timeout {
            Some(limit) => tokio::time::timeout(limit, served).await.map_err(|_| limit),
            None => Ok(served.await),
        };
        match outcome {
            Ok(Ok(Ok(response))) => response,
            Ok(Ok(Err(never))) => match never {},
            Ok(Err(panic)) => panic_response(panic),
            Err(limit) => timed_out(&id, &method, uri.path(), limit, &committing),
        }
    };
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(metrics) = &settings.metrics {
        metrics.record(&method, matched.as_ref().map(|m| m.as_str()), status, elapsed.as_secs_f64());
    }
    crate::logging::access_line(&id, &method, route_name(), status, elapsed);
    request_id::stamp(&mut response, &id);
    response
}

/// The answer to a request cut by the timeout: 504, or "outcome unknown" when the cut
/// landed during its commit.
fn timed_out(id: &RequestId, method: &Method, path: &str, limit: Duration, committing: &Committing) -> Response {
    if committing.in_flight() {
        tracing::warn!(request_id = %id, %method, %path, timeout = ?limit, "request timed out during its commit");
        return Committing::outcome_unknown("the request timeout cut the request").into_response();
    }
    tracing::warn!(request_id = %id, %method, %path, timeout = ?limit, "request timed out");
    ApiError::new(StatusCode::GATEWAY_TIMEOUT, "the request took too long and was abandoned")
        .with_error(None::<String>, format!("no response within {} ms", limit.as_millis()), "request_timeout")
        .into_response()
}

fn declared_length(req: &Request) -> Option<u64> {
    req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok())
}

/// A handler's panic as the 500 envelope (with the request id); the message goes only to
/// the log, through [`ApiError::internal`].
pub(crate) fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "a handler panicked".to_string()
    };
    ApiError::internal(format!("handler panicked: {message}")).into_response()
}
