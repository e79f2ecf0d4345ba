//! [`Json<T>`]: axum's JSON extractor and response, with every rejection in the error
//! envelope.
//!
//! | problem | status | `errors[].type` |
//! |---|---|---|
//! | no `Content-Type`, or not `application/json` / `application/*+json` | 415 | `unsupported_media_type` |
//! | body over the limit (axum's [`DefaultBodyLimit`](axum::extract::DefaultBodyLimit), 2 MB unless set) | 413 | `body_too_large` |
//! | not JSON, or cut short | 422 | `json_invalid` |
//! | a value of the wrong type | 422 | `type_error` |
//! | a number out of range of every Rust number (`1e400`) | 422 | `out_of_range` |
//! | a required field absent | 422 | `missing` |
//! | a field the DTO does not know, if it denies them | 422 | `unknown_field` |
//!
//! `errors[].field` is the path of the value in the body (`items[0].quantity`) where serde
//! reports it. Messages say what was expected and never quote the value sent
//! (`invalid value, expected i32`).
//!
//! **Unknown fields** are the DTO's choice: serde ignores them by default, and a DTO with
//! `#[serde(deny_unknown_fields)]` makes them a 422:
//!
//! ```
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]            // {"name": "x", "nmae": "y"} → 422 unknown_field
//! struct NewTag { name: String }
//!
//! #[derive(serde::Deserialize)]
//! struct NewNote { text: String }          // {"text": "x", "extra": 1} → extra ignored
//! ```
//!
//! The body is read by axum (so its body limit applies) and parsed with
//! `serde_path_to_error`, which knows the path of the value that failed; axum's own `Json`
//! reports that path only inside its message text.

use crate::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A JSON request body (or response), rejected with the envelope (see the [module](self)).
///
/// ```
/// use almacen_web::{ApiError, Json};
/// use axum::{Router, routing::post};
///
/// #[derive(serde::Deserialize)]
/// struct NewTag { name: String }
/// #[derive(serde::Serialize)]
/// struct Tag { name: String }
///
/// async fn create(Json(new): Json<NewTag>) -> Result<Json<Tag>, ApiError> {
///     Ok(Json(Tag { name: new.name }))
/// }
/// let app: Router = Router::new().route("/tags", post(create));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = body(req, state).await?;
        parse(&bytes).map(Json)
    }
}

/// The body of a JSON request: 415 unless the content type is JSON, 413 over the limit.
pub(crate) async fn body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if !is_json_content_type(req.headers()) {
        return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected a JSON body").with_error(
            None::<String>,
            "Content-Type must be application/json",
            "unsupported_media_type",
        ));
    }
    Bytes::from_request(req, state).await.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(status, "the request body is too large").with_error(
                None::<String>,
                "the body exceeds the size limit",
                "body_too_large",
            )
        } else {
            ApiError::new(status, "the request body could not be read").with_error(None::<String>, rejection.body_text(), "body_unreadable")
        }
    })
}

/// Parse a JSON body into `T`, with the envelope's 422 on failure.
///
/// ```
/// #[derive(serde::Deserialize, Debug)]
/// struct Item { quantity: u32 }
/// #[derive(serde::Deserialize, Debug)]
/// struct Order { items: Vec<Item> }
///
/// let e = almacen_web::json::parse::<Order>(br#"{"items": [{"quantity": "two"}]}"#).unwrap_err();
/// assert_eq!(e.status().as_u16(), 422);
/// assert_eq!(e.errors()[0].field.as_deref(), Some("items[0].quantity"));
/// assert_eq!(e.errors()[0].kind, "type_error");
/// ```
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let outcome = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        // Trailing characters after the value are malformed JSON too.
        Ok(v) => de.end().map(|()| v).map_err(|e| (String::from("."), e)),
        Err(e) => Err((e.path().to_string(), e.into_inner())),
    };
    outcome.map_err(|(path, inner)| {
        let raw = strip_position(&inner.to_string());
        let message = without_value(&raw);
        let inner = &inner;
        use serde_json::error::Category;
        let (field, kind) = match inner.classify() {
            // Valid JSON whose number no Rust number holds (`1e400`): a data error at its path.
            _ if raw == "number out of range" => (Some(path.clone()).filter(|p| p != "."), "out_of_range"),
            Category::Syntax | Category::Eof | Category::Io => (None, "json_invalid"),
            Category::Data => {
                if let Some(name) = backticked_after(&message, "missing field ") {
                    (Some(join_path(&path, &name)), "missing")
                } else if let Some(name) = backticked_after(&message, "duplicate field ") {
                    (Some(join_path(&path, &name)), "duplicate_field")
                } else if message.starts_with("unknown field `") {
                    // The path already ends at the unknown key.
                    (Some(path.clone()), "unknown_field")
                } else {
                    (Some(path.clone()).filter(|p| p != "."), "type_error")
                }
            }
        };
        let detail = if kind == "json_invalid" { "the request body is not valid JSON" } else { "invalid input" };
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, detail).with_error(field, message, kind)
    })
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let Some((ty, sub)) = essence.split_once('/') else { return false };
    ty == "application" && (sub == "json" || sub.ends_with("+json"))
}

/// serde_json appends " at line 1 column 12" to its messages; the path says more.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => msg[..i].to_string(),
        _ => msg.to_string(),
    }
}

/// serde's messages quote the value sent (`invalid value: integer `99999999999`, expected
/// i32`, `invalid type: string "x", expected u32`, `unknown variant `x`, expected …`): keep
/// what was expected only, so that no value (a password) is echoed.
pub(crate) fn without_value(msg: &str) -> String {
    if msg == "number out of range" {
        return "is out of range for the field's type".to_string();
    }
    for prefix in ["invalid value: ", "invalid type: ", "invalid length ", "unknown variant "] {
        if msg.starts_with(prefix) {
            let what = prefix.trim_end_matches([':', ' ']);
            return match msg.find(", expected ") {
                Some(i) => format!("{what}, {}", &msg[i + 2..]),
                None => what.to_string(),
            };
        }
    }
    msg.to_string()
}

/// The name in "missing field `name`".
fn backticked_after(msg: &str, prefix: &str) -> Option<String> {
    let rest = msg.strip_prefix(prefix)?.strip_prefix('`')?;
    Some(rest[..rest.find('`')?].to_string())
}

fn join_path(path: &str, name: &str) -> String {
    if path == "." || path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}
