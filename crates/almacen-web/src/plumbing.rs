//! The layers every almacen service wants around its router, in one call:
//! [`with_service_layers`].

use crate::ApiError;
use crate::request_id::request_id_middleware;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::any::Any;
use tower_http::catch_panic::CatchPanicLayer;

/// Wrap `router` so that:
///
/// - every request has a request id (see [`request_id`](crate::request_id)), outermost, so
///   that everything below is logged under it;
/// - a handler that panics answers 500 in the envelope with the request id, the panic
///   message going only to the log;
/// - an unknown path answers 404 and a known path with the wrong method 405, both in the
///   envelope (axum's own answers have no body).
///
/// Call it last, on the whole application (after `merge`, `nest` and `with_state`).
///
/// ```
/// use axum::{Router, routing::get};
/// let app: Router = almacen_web::with_service_layers(Router::new().route("/", get(|| async { "hi" })));
/// ```
pub fn with_service_layers(router: Router) -> Router {
    router
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(request_id_middleware))
}

async fn route_not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "a handler panicked".to_string()
    };
    ApiError::internal(format!("handler panicked: {message}")).into_response()
}
