//! [`Valid<T>`]: a JSON body checked against the rules of its type, with one source of truth
//! for the rules and for the type's OpenAPI schema.
//!
//! An input type derives `serde::Deserialize` and `utoipa::ToSchema` and states its rules as
//! schema attributes; the same attributes appear in the OpenAPI document, so clients see the
//! rules the server enforces. Rules that a schema cannot express go in [`Validate`].
//!
//! ```
//! use almacen_web::validate::{Valid, Validate};
//! use almacen_web::{ApiError, FieldError, Json};
//! use axum::{Router, http::StatusCode, routing::post};
//!
//! #[derive(serde::Deserialize, utoipa::ToSchema)]
//! #[serde(deny_unknown_fields)]           // unknown fields are a 422 `unknown_field`
//! struct Register {
//!     #[schema(min_length = 3, max_length = 50, pattern = "^[A-Za-z0-9_.-]+$")]
//!     username: String,
//!     #[schema(format = Email)]
//!     email: String,
//!     #[schema(min_length = 8, max_length = 128)]
//!     password: String,
//! }
//!
//! impl Validate for Register {
//!     fn validate(&self) -> Result<(), Vec<FieldError>> {
//!         let ok = self.password.chars().any(|c| c.is_ascii_uppercase())
//!             && self.password.chars().any(|c| c.is_ascii_digit());
//!         if ok { Ok(()) } else {
//!             Err(vec![FieldError::new(Some("password"),
//!                 "must contain at least one uppercase letter and one digit", "password_strength")])
//!         }
//!     }
//! }
//!
//! async fn register(Valid(input): Valid<Register>) -> Result<StatusCode, ApiError> {
//!     let _ = (input.username, input.email);
//!     Ok(StatusCode::CREATED)
//! }
//! let app: Router = Router::new().route("/register", post(register));
//! ```
//!
//! # What a request goes through
//!
//! 1. The body is read as [`Json`](crate::Json) reads it: 415 without a JSON content type,
//!    413 over the body limit, 422 `json_invalid` when it is not JSON (including nesting
//!    deeper than 128 levels).
//! 2. The JSON value is checked against `T`'s JSON Schema (from `utoipa::ToSchema`, with the
//!    component schemas it refers to, so nested types' rules apply too), compiled once per
//!    type and cached — on the first request, or at start-up with [`prepare`] (which a
//!    [`Resource`](crate::resource::Resource) calls for its inputs when its router is built,
//!    so that a schema that cannot compile stops the service instead of answering 500s). Formats are checked (`email`, `date-time`, `uuid`, …); unknown formats
//!    (`int64`, `double`) are ignored. **Every** violation is reported, one `errors[]` entry
//!    each.
//! 3. The value is deserialized into `T` (errors as [`Json`](crate::Json) reports them).
//! 4. [`Validate::validate`] runs the type's own rules.
//!
//! Any failure is a 422 with `detail` `"invalid input"`. `errors[].field` is the path of the
//! value (`items[0].quantity`, `password`); `errors[].type` is one of:
//!
//! | schema rule | `type` |
//! |---|---|
//! | `min_length`, `min_items`, `min_properties` | `too_short` |
//! | `max_length`, `max_items`, `max_properties` | `too_long` |
//! | `pattern` | `pattern` |
//! | `format = Email` (or `format = "email"`) | `email` |
//! | another `format` | `format` |
//! | `minimum`, `exclusive_minimum` | `minimum` |
//! | `maximum`, `exclusive_maximum` | `maximum` |
//! | `multiple_of` | `multiple_of` |
//! | an enum or constant value | `enum` |
//! | a required field absent | `missing` |
//! | a value of the wrong JSON type | `type_error` |
//! | a field the type does not know, when it denies them | `unknown_field` |
//! | `unique_items` | `unique_items` |
//! | a number no Rust number holds (`1e400` for an `f64`) | `out_of_range` |
//! | anything else (no branch of a `oneOf` matched, …) | `invalid` |
//!
//! Messages name the rule and never quote the value sent, so a password never appears in a
//! response. At most [`MAX_ERRORS`] problems are listed; a last entry of type `more_errors`
//! (no field) counts the rest.
//!
//! For a `oneOf` (a nullable nested type, an enum), the errors are those of the branch the
//! value was meant for: branches whose tag (an internally tagged enum's `"kind": "circle"`)
//! does not match are skipped, and of the rest the one with the fewest errors is reported.
//!
//! # Names, recursion, aliases
//!
//! - Schemas are keyed by utoipa's short name: two types both named `Line` (in different
//!   modules) would be checked against one schema. [`prepare`] (and a resource's router and
//!   OpenAPI fragment) refuse that, asking for `#[schema(as = a::Line)]` on each.
//! - A type that contains itself (`struct Node { children: Vec<Node> }`) needs
//!   `#[schema(no_recursion)]` on the recursive field: without it utoipa's schema
//!   collection recurses until the stack overflows, which cannot be caught (call [`prepare`]
//!   at start-up so that it happens there, not on a request). With it, the type's `$ref` to
//!   itself resolves and every level is checked.
//! - `#[serde(alias = "…")]` is not seen by utoipa: the schema knows only the field's main
//!   name, so an aliased key is a `missing` field (and, with `deny_unknown_fields`, an
//!   `unknown_field`) even though serde alone would accept it. Do not use aliases on
//!   validated inputs.
//!
//! # Unknown fields
//!
//! One mechanism, the type's own: `#[serde(deny_unknown_fields)]` makes them a 422
//! `unknown_field` (utoipa turns it into `additionalProperties: false`, which both the schema
//! check and serde enforce, and which the OpenAPI document shows); without it they are
//! ignored, as serde ignores them.
//!
//! # Numbers
//!
//! The workspace's `serde_json` keeps numbers exactly (`arbitrary_precision`): `1e400` is
//! compared exactly with the schema's limits, and a number no Rust type can hold is a 422,
//! never a 500.
//!
//! Query strings are not covered: use [`Query`](crate::Query), whose rejections are 422s too.

use crate::{ApiError, FieldError};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, schema::Schema};

/// The rules of an input that its schema cannot express. The default accepts everything,
/// so `impl Validate for X {}` is all a type without such rules needs.
///
/// ```
/// use almacen_web::{FieldError, validate::Validate};
///
/// struct Range { low: i64, high: i64 }
/// impl Validate for Range {
///     fn validate(&self) -> Result<(), Vec<FieldError>> {
///         if self.low <= self.high { return Ok(()) }
///         Err(vec![FieldError::new(Some("high"), "must not be below low", "range")])
///     }
/// }
/// assert!(Range { low: 2, high: 1 }.validate().is_err());
/// ```
pub trait Validate {
    /// Every problem found, one [`FieldError`] each (`field` the path, `type` a stable name);
    /// `Ok(())` when there are none.
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        Ok(())
    }
}

/// A JSON request body that passed its type's schema and [`Validate`] rules (see the
/// [module](self)).
///
/// ```
/// use almacen_web::validate::{Valid, Validate};
/// use axum::{Router, routing::post};
///
/// #[derive(serde::Deserialize, utoipa::ToSchema)]
/// struct NewTag {
///     #[schema(min_length = 1, max_length = 30)]
///     name: String,
/// }
/// impl Validate for NewTag {}
///
/// async fn create(Valid(tag): Valid<NewTag>) -> String { tag.name }
/// let app: Router = Router::new().route("/tags", post(create));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Valid<T>(pub T);

impl<T, S> FromRequest<S> for Valid<T>
where
    T: DeserializeOwned + ToSchema + Validate + 'static,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = crate::json::body(req, state).await?;
        let value: Value = crate::json::parse(&bytes)?;
        check_schema::<T>(&value)?;
        // The typed parse reads the body itself (not the value written out again): what
        // `Json` would see, without a second serialisation per request.
        let parsed: T = crate::json::parse(&bytes)?;
        parsed.validate().map_err(invalid)?;
        Ok(Valid(parsed))
    }
}

/// Check a JSON value against `T`'s schema, deserialize it and run [`Validate`]: what
/// [`Valid`] does with a body, for a value obtained another way.
///
/// ```
/// use almacen_web::validate::{Validate, check};
///
/// #[derive(serde::Deserialize, utoipa::ToSchema)]
/// struct Item {
///     #[schema(minimum = 1)]
///     quantity: u32,
/// }
/// impl Validate for Item {}
///
/// let e = check::<Item>(&serde_json::json!({"quantity": 0})).err().unwrap();
/// assert_eq!(e.status().as_u16(), 422);
/// assert_eq!((e.errors()[0].field.as_deref(), e.errors()[0].kind.as_str()), (Some("quantity"), "minimum"));
/// ```
pub fn check<T>(value: &Value) -> Result<T, ApiError>
where
    T: DeserializeOwned + ToSchema + Validate + 'static,
{
    check_schema::<T>(value)?;
    // Deserialize from the text so that serde sees exactly what `Json` would; the value is
    // small next to the work of a request, and the error paths stay those of `Json`.
    let text = serde_json::to_vec(value).map_err(ApiError::internal)?;
    let parsed: T = crate::json::parse(&text)?;
    parsed.validate().map_err(invalid)?;
    Ok(parsed)
}

/// The schema half of [`check`]: `value` against `T`'s schema, every problem (up to
/// [`MAX_ERRORS`]) in one 422.
fn check_schema<T: ToSchema + 'static>(value: &Value) -> Result<(), ApiError> {
    let validator = validator_for::<T>().map_err(ApiError::internal)?;
    let mut errors: Vec<FieldError> = Vec::new();
    let mut more = 0usize;
    for e in validator.iter_errors(value) {
        for f in to_field_errors(&e) {
            if errors.len() < MAX_ERRORS { errors.push(f) } else { more += 1 }
        }
    }
    if !errors.is_empty() {
        let mut e = invalid(errors);
        if more > 0 {
            e = e.with_error(
                None::<String>,
                format!("and {more} more problem{} not listed", if more == 1 { "" } else { "s" }),
                "more_errors",
            );
        }
        return Err(e);
    }
    Ok(())
}

/// The most `errors[]` entries of a 422 from the schema check; the rest are counted in one
/// last entry of type `more_errors`.
///
/// ```
/// #[derive(serde::Deserialize, utoipa::ToSchema)]
/// struct Many { #[schema(inline)] v: Vec<Small> }
/// #[derive(serde::Deserialize, utoipa::ToSchema)]
/// struct Small { #[schema(maximum = 1)] n: i64 }
/// impl almacen_web::Validate for Many {}
///
/// let body = serde_json::json!({"v": vec![serde_json::json!({"n": 5}); 150]});
/// let e = almacen_web::validate::check::<Many>(&body).err().unwrap();
/// assert_eq!(e.errors().len(), almacen_web::validate::MAX_ERRORS + 1);
/// assert_eq!(e.errors().last().unwrap().kind, "more_errors");
/// ```
pub const MAX_ERRORS: usize = 100;

fn invalid(errors: Vec<FieldError>) -> ApiError {
    let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid input");
    for f in errors {
        e = e.with_error(f.field, f.message, f.kind);
    }
    e
}

/// The JSON Schema document of `T` that [`Valid`] checks against: `T`'s schema at the root,
/// with the component schemas it refers to under `components.schemas`, where utoipa's
/// `$ref`s (`#/components/schemas/Name`) point.
///
/// ```
/// #[derive(serde::Deserialize, utoipa::ToSchema)]
/// struct Line { #[schema(minimum = 1)] quantity: u32 }
/// #[derive(serde::Deserialize, utoipa::ToSchema)]
/// struct Order { items: Vec<Line> }
///
/// let doc = almacen_web::validate::json_schema::<Order>();
/// assert!(doc["components"]["schemas"]["Line"].is_object());
/// ```
///
/// # Panics
///
/// When two different types share a component name (see [`prepare`]); [`prepare`] returns
/// the same problem as an error.
pub fn json_schema<T: ToSchema>() -> Value {
    try_json_schema::<T>().unwrap_or_else(|e| panic!("{e}"))
}

fn try_json_schema<T: ToSchema>() -> Result<Value, SchemaError> {
    let mut components: Vec<(String, RefOr<Schema>)> = Vec::new();
    T::schemas(&mut components);
    // `T` itself too, so that a recursive type's `$ref` to itself resolves.
    components.push((T::name().into_owned(), T::schema()));
    let mut doc = serde_json::to_value(T::schema()).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut doc {
        let mut schemas = serde_json::Map::new();
        for (name, schema) in components {
            let schema = serde_json::to_value(schema).unwrap_or(Value::Null);
            match schemas.get(&name) {
                Some(seen) if *seen != schema => return Err(SchemaError::name_clash::<T>(&name)),
                Some(_) => {}
                None => {
                    schemas.insert(name, schema);
                }
            }
        }
        map.insert("components".into(), serde_json::json!({ "schemas": schemas }));
    }
    Ok(doc)
}

/// Why the schema of an input type cannot be used: two types under one component name, or
/// a schema that does not compile (a bad `pattern`). Returned by [`prepare`]; a
/// [`Resource`](crate::resource::Resource) panics with it when its router is built.
///
/// ```
/// #[derive(serde::Deserialize, utoipa::ToSchema)]
/// struct Code { #[schema(pattern = "([a-z]")] code: String }
/// impl almacen_web::Validate for Code {}
///
/// let e = almacen_web::validate::prepare::<Code>().unwrap_err();
/// assert!(e.to_string().contains("Code"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError(String);

impl SchemaError {
    fn name_clash<T>(name: &str) -> Self {
        SchemaError(format!(
            "the JSON Schema of {} refers to two different types named `{name}`: give them distinct names with \
             `#[schema(as = path::{name})]` on each (e.g. `#[schema(as = a::{name})]`)",
            std::any::type_name::<T>()
        ))
    }
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SchemaError {}

/// Build and cache the validator of `T` now rather than on the first request, and report a
/// schema that cannot be used. Call it at start-up for every type a [`Valid`] extracts
/// ([`Resource`](crate::resource::Resource) does it for its inputs when its router is built):
/// a bad schema then stops the service at once instead of answering 500s.
///
/// A type that contains itself (`struct Node { children: Vec<Node> }`) needs
/// `#[schema(no_recursion)]` on the recursive field (or the type): without it, utoipa's
/// schema collection recurses until the stack overflows, which no code can catch — with
/// `prepare` (or a resource) it happens at start-up, not on a request.
///
/// ```
/// #[derive(serde::Deserialize, utoipa::ToSchema)]
/// struct Node {
///     #[schema(min_length = 1)]
///     name: String,
///     #[schema(no_recursion)]
///     children: Vec<Node>,
/// }
/// impl almacen_web::Validate for Node {}
///
/// almacen_web::validate::prepare::<Node>().unwrap();
/// let e = almacen_web::validate::check::<Node>(&serde_json::json!(
///     {"name": "a", "children": [{"name": "", "children": []}]})).err().unwrap();
/// assert_eq!(e.errors()[0].field.as_deref(), Some("children[0].name"));
/// ```
pub fn prepare<T: ToSchema + 'static>() -> Result<(), SchemaError> {
    validator_for::<T>().map(|_| ())
}

type Cache = RwLock<HashMap<TypeId, Arc<jsonschema::Validator>>>;

fn validator_for<T: ToSchema + 'static>() -> Result<Arc<jsonschema::Validator>, SchemaError> {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let id = TypeId::of::<T>();
    if let Some(v) = cache.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return Ok(v.clone());
    }
    let doc = try_json_schema::<T>()?;
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .should_ignore_unknown_formats(true)
        .build(&doc)
        .map_err(|e| SchemaError(format!("the JSON Schema of {} does not compile: {e}", std::any::type_name::<T>())))?;
    let validator = Arc::new(validator);
    cache.write().unwrap_or_else(|e| e.into_inner()).entry(id).or_insert_with(|| validator.clone());
    Ok(validator)
}

fn path_of(location: &jsonschema::paths::Location) -> String {
    let mut out = String::new();
    for segment in location.iter() {
        push_segment(&mut out, &segment);
    }
    out
}

fn push_segment(out: &mut String, segment: &LocationSegment<'_>) {
    match segment {
        LocationSegment::Property(name) => {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(name);
        }
        LocationSegment::Index(i) => {
            out.push('[');
            out.push_str(&i.to_string());
            out.push(']');
        }
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

fn field(path: String) -> Option<String> {
    Some(path).filter(|p| !p.is_empty())
}

fn type_name(kind: &TypeKind) -> String {
    let names: Vec<String> = match kind {
        TypeKind::Single(t) => vec![t.to_string()],
        TypeKind::Multiple(set) => set.iter().map(|t| t.to_string()).collect(),
    };
    let names: Vec<&str> = names.iter().map(String::as_str).filter(|n| *n != "null").collect();
    match names.as_slice() {
        [] => "null".to_string(),
        [one] => format!("{} {one}", if one.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }),
        many => format!("one of {}", many.join(", ")),
    }
}

/// The field errors of one schema violation. Messages come from the schema, never from the
/// value sent.
fn to_field_errors(e: &jsonschema::ValidationError<'_>) -> Vec<FieldError> {
    let path = path_of(e.instance_path());
    let one = |message: String, kind: &str| vec![FieldError::new(field(path.clone()), message, kind)];
    match e.kind() {
        ValidationErrorKind::MinLength { limit } => one(format!("must be at least {limit} character{} long", plural(*limit)), "too_short"),
        ValidationErrorKind::MaxLength { limit } => one(format!("must be at most {limit} character{} long", plural(*limit)), "too_long"),
        ValidationErrorKind::MinItems { limit } => one(format!("must have at least {limit} item{}", plural(*limit)), "too_short"),
        ValidationErrorKind::MaxItems { limit } => one(format!("must have at most {limit} item{}", plural(*limit)), "too_long"),
        ValidationErrorKind::MinProperties { limit } => one(format!("must have at least {limit} field{}", plural(*limit)), "too_short"),
        ValidationErrorKind::MaxProperties { limit } => one(format!("must have at most {limit} field{}", plural(*limit)), "too_long"),
        ValidationErrorKind::Pattern { pattern } => one(format!("must match the pattern {pattern}"), "pattern"),
        ValidationErrorKind::Format { format } if format == "email" => one("must be a valid e-mail address".to_string(), "email"),
        ValidationErrorKind::Format { format } => one(format!("must be a valid {format}"), "format"),
        ValidationErrorKind::Minimum { limit } => one(format!("must be at least {limit}"), "minimum"),
        ValidationErrorKind::ExclusiveMinimum { limit } => one(format!("must be greater than {limit}"), "minimum"),
        ValidationErrorKind::Maximum { limit } => one(format!("must be at most {limit}"), "maximum"),
        ValidationErrorKind::ExclusiveMaximum { limit } => one(format!("must be less than {limit}"), "maximum"),
        ValidationErrorKind::MultipleOf { .. } => one("must be a multiple of the schema's step".to_string(), "multiple_of"),
        ValidationErrorKind::Enum { options } => one(format!("must be one of {options}"), "enum"),
        ValidationErrorKind::Constant { expected_value } => one(format!("must be {expected_value}"), "enum"),
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().map(str::to_string).unwrap_or_else(|| property.to_string());
            vec![FieldError::new(Some(join(&path, &name)), "field required", "missing")]
        }
        ValidationErrorKind::Type { kind } => one(format!("must be {}", type_name(kind)), "type_error"),
        ValidationErrorKind::AdditionalProperties { unexpected } | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            unexpected.iter().map(|name| FieldError::new(Some(join(&path, name)), "unknown field", "unknown_field")).collect()
        }
        ValidationErrorKind::UniqueItems => one("must not contain the same item twice".to_string(), "unique_items"),
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // A nullable nested type is `oneOf: [{"type": "null"}, {"$ref": …}]`: skip the
            // branch that merely wanted another type. An internally tagged enum has one
            // branch per variant, each with a constant tag: skip the branches whose tag does
            // not match. Of those left, report the one with the fewest errors.
            let candidates: Vec<_> = context
                .iter()
                .filter(|branch| !branch.is_empty())
                .filter(|branch| {
                    !(branch.len() == 1
                        && matches!(branch[0].kind(), ValidationErrorKind::Type { .. })
                        && path_of(branch[0].instance_path()) == path)
                })
                .collect();
            let depth = e.instance_path().iter().count();
            let tag_mismatch = |branch: &&&Vec<jsonschema::ValidationError<'_>>| {
                branch.iter().any(|err| {
                    matches!(err.kind(), ValidationErrorKind::Enum { .. } | ValidationErrorKind::Constant { .. })
                        && err.instance_path().iter().count() == depth + 1
                        && matches!(err.instance_path().iter().last(), Some(LocationSegment::Property(_)))
                })
            };
            let tagged: Vec<_> = candidates.iter().filter(|b| !tag_mismatch(b)).collect();
            let best =
                if tagged.is_empty() { candidates.iter().min_by_key(|b| b.len()) } else { tagged.into_iter().min_by_key(|b| b.len()) };
            match best {
                Some(branch) => branch.iter().flat_map(|e| to_field_errors(e)).collect(),
                None => one("does not match any of the allowed shapes".to_string(), "invalid"),
            }
        }
        _ => one("is not valid".to_string(), "invalid"),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
