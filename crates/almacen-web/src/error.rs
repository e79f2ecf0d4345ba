//! [`ApiError`] and the one error envelope every response of an almacen service uses.
//!
//! ```json
//! {"detail": "a row with this value already exists",
//!  "errors": [{"field": "email", "message": "already exists", "type": "unique_violation"}]}
//! ```
//!
//! `errors` may be empty. A 500 also carries `"request_id"`, the id echoed in the
//! `x-request-id` response header, so a user's report can be matched with the log; its
//! `detail` is generic and the real error is logged (tracing, error level), never sent.

use crate::request_id::current_request_id;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::fmt;
use std::time::Duration;

/// One problem with one input (or with the request as a whole when `field` is `None`).
///
/// ```
/// use almacen_web::FieldError;
/// let e = FieldError::new(Some("email"), "already exists", "unique_violation");
/// assert_eq!(serde_json::to_value(&e).unwrap(),
///            serde_json::json!({"field": "email", "message": "already exists", "type": "unique_violation"}));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The input involved: a field name or a dotted path into the JSON body (`items[0].qty`),
    /// `null` when the problem is not one field's.
    pub field: Option<String>,
    /// What is wrong, for a person.
    pub message: String,
    /// What is wrong, for a program: `json_invalid`, `type_error`, `missing`,
    /// `unknown_field`, `unique_violation`, `foreign_key_violation`, `stale_version`, ….
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    /// A field error.
    ///
    /// ```
    /// use almacen_web::FieldError;
    /// let e = FieldError::new(None::<String>, "expected a JSON object", "type_error");
    /// assert_eq!(e.field, None);
    /// ```
    pub fn new(field: Option<impl Into<String>>, message: impl Into<String>, kind: impl Into<String>) -> Self {
        FieldError { field: field.map(Into::into), message: message.into(), kind: kind.into() }
    }
}

/// An error answer of the API: a status, the envelope, and for server errors the cause,
/// which goes to the log and never into the response.
///
/// Handlers return `Result<_, ApiError>` and use `?` on almacen's results:
///
/// ```
/// use almacen_web::ApiError;
/// use axum::http::StatusCode;
///
/// let e = ApiError::from(almacen::Error::NotFound);
/// assert_eq!(e.status(), StatusCode::NOT_FOUND);
///
/// let e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid input")
///     .with_error(Some("name"), "must not be empty", "too_short");
/// assert_eq!(e.errors().len(), 1);
/// ```
///
/// How almacen's errors map (`From<almacen::Error>`):
///
/// | error | status |
/// |---|---|
/// | `NotFound` | 404 |
/// | `InvalidValue` (text over `max_len`, a number the column cannot hold, …) | 422, `value_error`, naming the column |
/// | `NotNullViolation`, `CheckViolation` (naming the field where the core knows it) | 422, `not_null_violation` / `check_violation` |
/// | `UniqueViolation`, `ForeignKeyViolation` (naming the field where the core knows it), `Conflict` (a stale version) | 409 |
/// | `Deadlock`, `SerializationFailure`, `LockNotAvailable` | 409, `retryable_conflict`: nothing was applied and the client may retry |
/// | `PoolTimeout` | 503 with `Retry-After` |
/// | `ConnectionLost` | 503 with `Retry-After: 1` |
/// | `StatementTimeout` | 504 |
/// | `OutcomeUnknown` | 500 with [`OUTCOME_UNKNOWN_DETAIL`]: the write may or may not have been saved |
/// | anything else | 500, generic message, `request_id` in the body, details in the log |
///
/// Violations never carry the database's message (it may quote SQL, a constraint or a
/// stored value); `InvalidValue`'s message is the core's own, about what the client sent.
///
/// ```
/// use almacen_web::ApiError;
/// use axum::http::StatusCode;
/// use std::time::Duration;
///
/// let e = ApiError::from(almacen::Error::PoolTimeout(Duration::from_millis(300)));
/// assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
/// let e = ApiError::from(almacen::Error::Config("postgres://u:secret@db/x".into()));
/// assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
/// assert!(!e.detail().contains("secret"));
/// ```
pub struct ApiError {
    status: StatusCode,
    detail: String,
    errors: Vec<FieldError>,
    retry_after: Option<Duration>,
    www_authenticate: Option<&'static str>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// The `detail` of every 500.
///
/// ```
/// assert_eq!(almacen_web::ApiError::internal("boom").detail(), almacen_web::INTERNAL_DETAIL);
/// ```
pub const INTERNAL_DETAIL: &str = "internal server error";

/// The `detail` of a 409 for a transient conflict with a concurrent request (a deadlock, a
/// serialization failure, a row lock not available): the transaction was rolled back, so the
/// client may send the same request again.
///
/// ```
/// use almacen_web::ApiError;
/// let e = ApiError::from(almacen::Error::Deadlock(Default::default()));
/// assert_eq!((e.status().as_u16(), e.detail()), (409, almacen_web::RETRYABLE_CONFLICT_DETAIL));
/// assert_eq!(e.errors()[0].kind, "retryable_conflict");
/// ```
pub const RETRYABLE_CONFLICT_DETAIL: &str = "the request conflicted with a concurrent one and was not applied; it may be retried";

/// The `detail` of the 500 for [`almacen::Error::OutcomeUnknown`]: the connection was lost
/// while a write was being committed, so it may or may not have taken effect.
///
/// ```
/// use almacen_web::ApiError;
/// let e = ApiError::from(almacen::Error::OutcomeUnknown("lost during COMMIT on db-1".into()));
/// assert_eq!((e.status().as_u16(), e.detail()), (500, almacen_web::OUTCOME_UNKNOWN_DETAIL));
/// assert!(!e.detail().contains("db-1"));
/// ```
pub const OUTCOME_UNKNOWN_DETAIL: &str =
    "the outcome of the request is unknown: the change may or may not have been saved; read it back before retrying";

impl ApiError {
    /// An error with a status and a message (no field errors).
    ///
    /// ```
    /// use almacen_web::ApiError;
    /// use axum::http::StatusCode;
    /// let e = ApiError::new(StatusCode::FORBIDDEN, "not yours");
    /// assert_eq!((e.status(), e.detail()), (StatusCode::FORBIDDEN, "not yours"));
    /// ```
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError { status, detail: detail.into(), errors: Vec::new(), retry_after: None, www_authenticate: None, source: None }
    }

    /// A 500: `detail` is [`INTERNAL_DETAIL`], the body carries the request id, and `source`
    /// is logged at error level when the response is made.
    ///
    /// ```
    /// use almacen_web::ApiError;
    /// let e = ApiError::internal("disk on fire at /var/lib/db");
    /// assert_eq!(e.detail(), almacen_web::INTERNAL_DETAIL);
    /// ```
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let mut e = ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_DETAIL);
        e.source = Some(source.into());
        e
    }

    /// A 404 with the envelope.
    ///
    /// ```
    /// use almacen_web::ApiError;
    /// assert_eq!(ApiError::not_found().status(), axum::http::StatusCode::NOT_FOUND);
    /// ```
    pub fn not_found() -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not found")
    }

    /// Add one entry to `errors`.
    ///
    /// ```
    /// use almacen_web::ApiError;
    /// use axum::http::StatusCode;
    /// let e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid input")
    ///     .with_error(Some("price"), "must be at least 0", "greater_than_equal");
    /// assert_eq!(e.errors()[0].field.as_deref(), Some("price"));
    /// ```
    pub fn with_error(mut self, field: Option<impl Into<String>>, message: impl Into<String>, kind: impl Into<String>) -> Self {
        self.errors.push(FieldError::new(field, message, kind));
        self
    }

    /// Send `Retry-After` (whole seconds, at least 1) with the response.
    ///
    /// ```
    /// use almacen_web::ApiError;
    /// use axum::http::StatusCode;
    /// use std::time::Duration;
    /// let e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy").with_retry_after(Duration::from_secs(2));
    /// assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
    /// ```
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Send `WWW-Authenticate: <challenge>` with the response (a 401's, RFC 6750).
    ///
    /// ```
    /// use almacen_web::ApiError;
    /// use axum::{http::StatusCode, response::IntoResponse};
    /// let e = ApiError::new(StatusCode::UNAUTHORIZED, "not authenticated").with_www_authenticate("Bearer");
    /// assert_eq!(e.www_authenticate(), Some("Bearer"));
    /// assert_eq!(e.into_response().headers()["www-authenticate"], "Bearer");
    /// ```
    pub fn with_www_authenticate(mut self, challenge: &'static str) -> Self {
        self.www_authenticate = Some(challenge);
        self
    }

    /// The `WWW-Authenticate` challenge the response will carry.
    ///
    /// ```
    /// # use almacen_web::ApiError;
    /// assert_eq!(ApiError::not_found().www_authenticate(), None);
    /// ```
    pub fn www_authenticate(&self) -> Option<&'static str> {
        self.www_authenticate
    }

    /// The status.
    ///
    /// ```
    /// # use almacen_web::ApiError;
    /// assert_eq!(ApiError::not_found().status().as_u16(), 404);
    /// ```
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The envelope's `detail`.
    ///
    /// ```
    /// # use almacen_web::ApiError;
    /// assert_eq!(ApiError::not_found().detail(), "not found");
    /// ```
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The envelope's `errors`.
    ///
    /// ```
    /// # use almacen_web::ApiError;
    /// assert!(ApiError::not_found().errors().is_empty());
    /// ```
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// The `Retry-After` the response will carry.
    ///
    /// ```
    /// # use almacen_web::ApiError;
    /// assert_eq!(ApiError::not_found().retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("status", &self.status)
            .field("detail", &self.detail)
            .field("errors", &self.errors)
            .field("retry_after", &self.retry_after)
            .field("www_authenticate", &self.www_authenticate)
            .field("source", &self.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.detail)?;
        if let Some(s) = &self.source {
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl From<almacen::Error> for ApiError {
    fn from(err: almacen::Error) -> Self {
        use almacen::Error as E;
        match err {
            E::NotFound => ApiError::not_found(),
            E::UniqueViolation(info) => ApiError::new(StatusCode::CONFLICT, "a row with this value already exists").with_error(
                info.field.clone(),
                "already exists",
                "unique_violation",
            ),
            E::ForeignKeyViolation(info) => ApiError::new(
                StatusCode::CONFLICT,
                "the row refers to a row that does not exist, or is still referred to",
            )
            .with_error(info.field.clone(), "refers to a missing row, or is still referred to", "foreign_key_violation"),
            E::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "the row was changed by someone else; read it again").with_error(
                None::<String>,
                "stale version",
                "stale_version",
            ),
            E::InvalidValue { column, message } => {
                // The core's message names the limit and at most the value the client sent
                // ("text of 120 characters exceeds the maximum of 100").
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid input").with_error(Some(column), message, "value_error")
            }
            E::NotNullViolation(info) => {
                let field = info.field.clone();
                let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "a required value is missing").with_error(
                    field,
                    "must not be null",
                    "not_null_violation",
                );
                e.source = Some(Box::new(E::NotNullViolation(info)));
                e
            }
            E::CheckViolation(info) => {
                let field = info.field.clone();
                let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "a value is not allowed").with_error(
                    field,
                    "is not allowed here (too long, or against a rule on the stored value)",
                    "check_violation",
                );
                e.source = Some(Box::new(E::CheckViolation(info)));
                e
            }
            E::Deadlock(_) | E::SerializationFailure(_) | E::LockNotAvailable(_) => {
                let mut e = ApiError::new(StatusCode::CONFLICT, RETRYABLE_CONFLICT_DETAIL).with_error(
                    None::<String>,
                    "conflicted with a concurrent request; nothing was changed",
                    "retryable_conflict",
                );
                e.source = Some(Box::new(err));
                e
            }
            E::ConnectionLost(_) => {
                let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the database is unavailable; retry later");
                e.retry_after = Some(Duration::from_secs(1));
                e.source = Some(Box::new(err));
                e
            }
            E::OutcomeUnknown(_) => {
                let mut e = ApiError::internal(err);
                e.detail = OUTCOME_UNKNOWN_DETAIL.to_string();
                e
            }
            E::PoolTimeout(d) => {
                let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the service is busy; retry later");
                e.retry_after = Some(d);
                e.source = Some(Box::new(err));
                e
            }
            E::StatementTimeout(_) => {
                let mut e = ApiError::new(StatusCode::GATEWAY_TIMEOUT, "the database did not answer in time");
                e.source = Some(Box::new(err));
                e
            }
            other => ApiError::internal(other),
        }
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    detail: &'a str,
    errors: &'a [FieldError],
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = if self.status.is_server_error() { Some(current_request_id()) } else { None };
        match (&self.source, self.status) {
            (Some(source), StatusCode::INTERNAL_SERVER_ERROR) => {
                tracing::error!(request_id = request_id.as_deref(), error = %source, error_debug = ?source, "request failed");
            }
            (Some(source), status) => {
                tracing::warn!(request_id = request_id.as_deref(), status = status.as_u16(), error = %source, "request failed");
            }
            _ => {}
        }
        let body = Envelope {
            detail: &self.detail,
            errors: &self.errors,
            request_id: if self.status == StatusCode::INTERNAL_SERVER_ERROR { request_id } else { None },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(after) = self.retry_after {
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if let Some(challenge) = self.www_authenticate {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use almacen::{DbErrorInfo, Error as E};

    fn info(field: Option<&str>) -> Box<DbErrorInfo> {
        Box::new(DbErrorInfo {
            message: "new row for relation \"users\" violates check constraint \"users_age_check\" DETAIL: (secret-value)".into(),
            code: Some("23514".into()),
            table: Some("users".into()),
            column: Some("age".into()),
            constraint: Some("users_age_check".into()),
            field: field.map(str::to_string),
        })
    }

    fn text(e: &ApiError) -> String {
        format!("{} {:?}", e.detail(), e.errors())
    }

    #[test]
    fn violations_are_422_naming_the_field_and_nothing_else() {
        for (err, kind) in
            [(E::NotNullViolation(info(Some("age"))), "not_null_violation"), (E::CheckViolation(info(Some("age"))), "check_violation")]
        {
            let e = ApiError::from(err);
            assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(e.errors().len(), 1);
            assert_eq!((e.errors()[0].field.as_deref(), e.errors()[0].kind.as_str()), (Some("age"), kind));
            for leak in ["secret-value", "users_age_check", "relation", "23514"] {
                assert!(!text(&e).contains(leak), "{leak}: {}", text(&e));
            }
        }
        let e = ApiError::from(E::CheckViolation(info(None)));
        assert_eq!((e.status().as_u16(), e.errors()[0].field.as_deref()), (422, None));
        let e =
            ApiError::from(E::InvalidValue { column: "name".into(), message: "text of 120 characters exceeds the maximum of 100".into() });
        assert_eq!((e.status().as_u16(), e.errors()[0].field.as_deref(), e.errors()[0].kind.as_str()), (422, Some("name"), "value_error"));
    }

    #[test]
    fn transient_conflicts_are_retryable_409s() {
        for err in [E::Deadlock(info(None)), E::SerializationFailure(info(None)), E::LockNotAvailable(info(None))] {
            let e = ApiError::from(err);
            assert_eq!((e.status(), e.detail()), (StatusCode::CONFLICT, RETRYABLE_CONFLICT_DETAIL));
            assert_eq!((e.errors()[0].field.as_deref(), e.errors()[0].kind.as_str()), (None, "retryable_conflict"));
            assert!(!text(&e).contains("secret-value"), "{}", text(&e));
        }
    }

    #[test]
    fn lost_connections_are_503_with_retry_after() {
        let e = ApiError::from(E::ConnectionLost("connection reset by 10.0.0.7:5432".into()));
        assert_eq!((e.status(), e.retry_after()), (StatusCode::SERVICE_UNAVAILABLE, Some(Duration::from_secs(1))));
        assert!(e.errors().is_empty() && !e.detail().contains("10.0.0.7"));
        let resp = e.into_response();
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn an_unknown_outcome_is_a_500_of_its_own() {
        let e = ApiError::from(E::OutcomeUnknown("lost during COMMIT to 10.0.0.7".into()));
        assert_eq!((e.status(), e.detail()), (StatusCode::INTERNAL_SERVER_ERROR, OUTCOME_UNKNOWN_DETAIL));
        assert_ne!(OUTCOME_UNKNOWN_DETAIL, INTERNAL_DETAIL);
        assert!(e.errors().is_empty() && !e.detail().contains("10.0.0.7"));
        assert_eq!(ApiError::from(E::Protocol("x".into())).detail(), INTERNAL_DETAIL);
    }
}
