//! [`Path<T>`] and [`Query<T>`]: axum's path and query extractors, with every rejection in
//! the error envelope, and [`Id`], a 64-bit id in a path or a query.
//!
//! | problem | status | `errors[].type` | `errors[].field` |
//! |---|---|---|---|
//! | a path or query value of the wrong type (`/things/abc` for an integer, a number out of range) | 422 | `type_error` | the parameter's name |
//! | a required query parameter absent | 422 | `missing` | the parameter's name |
//! | a path parameter that is not valid UTF-8 once decoded | 422 | `type_error` | the parameter's name |
//! | the route and the extractor disagree (a programming error) | 500 | — | — |
//!
//! **Ids out of range are 422, not 404.** `/things/99999999999999999999` or `/things/abc`
//! does not name any row a 64-bit id could name: it is malformed input, like a string where
//! a number belongs in a JSON body, so it gets the same 422 `type_error` naming the
//! parameter. A 404 is kept for a well-formed id with no row behind it, so a client can
//! tell a bug in the URL it built from a row that is gone.

use crate::ApiError;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Path parameters, rejected with the envelope (see the [module](self)).
///
/// ```
/// use almacen_web::{ApiError, Json, Path};
/// use axum::{Router, routing::get};
///
/// // GET /things/abc or /things/99999999999999999999 → 422 {"field": "id", "type": "type_error"}
/// async fn show(Path(id): Path<i64>) -> Result<Json<i64>, ApiError> {
///     Ok(Json(id))
/// }
/// let app: Router = Router::new().route("/things/{id}", get(show));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(rejection) => {
                let keys: Vec<String> = match RawPathParams::from_request_parts(parts, state).await {
                    Ok(raw) => raw.iter().map(|(k, _)| k.to_string()).collect(),
                    Err(_) => Vec::new(),
                };
                Err(path_rejection(rejection, &keys))
            }
        }
    }
}

fn path_rejection(rejection: PathRejection, keys: &[String]) -> ApiError {
    use axum::extract::path::ErrorKind as K;
    let PathRejection::FailedToDeserializePathParams(failed) = rejection else {
        return ApiError::internal(format!("path extraction: {rejection}"));
    };
    let sole_key = || if keys.len() == 1 { keys.first().cloned() } else { None };
    let (field, message) = match failed.into_kind() {
        K::ParseErrorAtKey { key, expected_type, .. } => (Some(key), expected(expected_type)),
        K::ParseErrorAtIndex { index, expected_type, .. } => (keys.get(index).cloned(), expected(expected_type)),
        K::ParseError { expected_type, .. } => (sole_key(), expected(expected_type)),
        K::InvalidUtf8InPathParam { key } => (Some(key), "is not valid UTF-8".to_string()),
        K::DeserializeError { key, message, .. } => (Some(key), crate::json::without_value(&message)),
        K::Message(message) => (sole_key(), crate::json::without_value(&message)),
        other => return ApiError::internal(format!("path extraction: {other}")),
    };
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid path parameter").with_error(field, message, "type_error")
}

/// What a parameter of `expected_type` must be, in words.
fn expected(expected_type: &str) -> String {
    macro_rules! ints {
        ($($t:ty),*) => {
            $(if expected_type == stringify!($t) {
                return format!("must be a whole number from {} to {}", <$t>::MIN, <$t>::MAX);
            })*
        };
    }
    ints!(i8, i16, i32, i64, u8, u16, u32, u64, i128, u128, isize, usize);
    match expected_type {
        "f32" | "f64" => "must be a number".to_string(),
        "bool" => "must be true or false".to_string(),
        other => format!("must be a valid {other}"),
    }
}

/// The query string, rejected with the envelope (see the [module](self)). Parsed with
/// `serde_urlencoded`, like axum's `Query`, but the parameter that failed is named.
///
/// ```
/// use almacen_web::{ApiError, Json, Query};
/// use axum::{Router, routing::get};
///
/// #[derive(serde::Deserialize)]
/// struct Page { page: u32, page_size: Option<u32> }
///
/// // GET /things?page=x → 422 {"field": "page", "type": "type_error"};
/// // GET /things        → 422 {"field": "page", "type": "missing"}
/// async fn list(Query(p): Query<Page>) -> Result<Json<u32>, ApiError> {
///     Ok(Json(p.page * p.page_size.unwrap_or(20)))
/// }
/// let app: Router = Router::new().route("/things", get(list));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(Query)
    }
}

/// Parse a query string (without the `?`) into `T`, with the envelope's 422 on failure.
///
/// ```
/// #[derive(serde::Deserialize, Debug)]
/// struct Filter { min_price: f64 }
/// let e = almacen_web::params::parse_query::<Filter>("min_price=cheap").unwrap_err();
/// assert_eq!(e.status().as_u16(), 422);
/// assert_eq!(e.errors()[0].field.as_deref(), Some("min_price"));
/// assert_eq!(e.errors()[0].kind, "type_error");
/// ```
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let (field, kind, message) = if let Some(name) = backticked_after(&message, "missing field ") {
            (Some(name), "missing", "is required".to_string())
        } else {
            (Some(path).filter(|p| p != "."), "type_error", crate::json::without_value(&message))
        };
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid query parameter").with_error(field, message, kind)
    })
}

fn backticked_after(msg: &str, prefix: &str) -> Option<String> {
    let rest = msg.strip_prefix(prefix)?.strip_prefix('`')?;
    Some(rest[..rest.find('`')?].to_string())
}

/// A 64-bit row id, 1 to `i64::MAX` (what almacen's auto keys hand out), read from a path
/// or query parameter (text) or a JSON number. Anything else — not a number, zero, negative,
/// or past `i64::MAX` — fails with a message saying so, which [`Path`] and [`Query`] turn into
/// a 422 `type_error` naming the parameter (why 422 and not 404: see the [module](self)).
/// Use `Path<i64>` instead where ids may be zero or negative.
///
/// ```
/// use almacen_web::{ApiError, Id, Json, Path};
/// use axum::{Router, routing::get};
///
/// async fn show(Path(Id(id)): Path<Id>) -> Result<Json<i64>, ApiError> {
///     Ok(Json(id))
/// }
/// let app: Router = Router::new().route("/things/{id}", get(show));
///
/// #[derive(serde::Deserialize, Debug)]
/// struct Q { owner: Id }
/// assert_eq!(almacen_web::params::parse_query::<Q>("owner=42").unwrap().owner, Id(42));
/// let e = almacen_web::params::parse_query::<Q>("owner=99999999999999999999").unwrap_err();
/// assert_eq!((e.status().as_u16(), e.errors()[0].field.as_deref()), (422, Some("owner")));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Id(pub i64);

/// The message of an id that is not one.
const NOT_AN_ID: &str = "must be an id: a whole number from 1 to 9223372036854775807";

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(NOT_AN_ID)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                if v >= 1 { Ok(Id(v)) } else { Err(E::custom(NOT_AN_ID)) }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                i64::try_from(v).map_err(|_| E::custom(NOT_AN_ID)).and_then(|v| self.visit_i64(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                let digits = v.strip_prefix('+').unwrap_or(v);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(E::custom(NOT_AN_ID));
                }
                digits.parse::<i64>().map_err(|_| E::custom(NOT_AN_ID)).and_then(|v| self.visit_i64(v))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The query of a hand-written list route: `page` (from 1) and `page_size` (from 1; the
/// route applies its default and refuses more than its cap with a 422). The document says
/// 1–100, the cap of `accounts` and the example shop.
///
/// ```
/// let q: almacen_web::params::PageQuery = almacen_web::params::parse_query("page=2").unwrap();
/// assert_eq!((q.page, q.page_size), (Some(2), None));
/// ```
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The page, from 1 (default 1).
    #[param(minimum = 1)]
    pub page: Option<u64>,
    /// Rows per page, 1 to the cap (100 by default).
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u64>,
}
