//! The pieces of an OpenAPI 3.1 document (utoipa) that every part of the web layer shares:
//! the error envelope's schemas, error responses that refer to them, and the bearer security
//! scheme. Routers of this crate describe themselves as `utoipa::openapi::OpenApi` fragments
//! built with these, and an application merges the fragments into one document.
//!
//! ```
//! use almacen_web::openapi;
//! use utoipa::openapi::OpenApi;
//!
//! let mut doc = OpenApi::default();
//! openapi::add_common_components(&mut doc);
//! let json = serde_json::to_value(&doc).unwrap();
//! assert!(json["components"]["schemas"][openapi::API_ERROR_SCHEMA].is_object());
//! assert!(json["components"]["securitySchemes"][openapi::BEARER_SCHEME].is_object());
//! ```

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Ref, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, OpenApi, RefOr};

/// The component name of the error envelope's schema (`#/components/schemas/ApiError`).
pub const API_ERROR_SCHEMA: &str = "ApiError";
/// The component name of one entry of the envelope's `errors` list.
pub const FIELD_ERROR_SCHEMA: &str = "FieldError";
/// The name of the bearer (JWT) security scheme in `components.securitySchemes`.
pub const BEARER_SCHEME: &str = "bearer";

/// The schema of [`FieldError`](crate::FieldError): `{"field": string | null, "message", "type"}`.
///
/// ```
/// let s = serde_json::to_value(almacen_web::openapi::field_error_schema()).unwrap();
/// assert_eq!(s["required"], serde_json::json!(["field", "message", "type"]));
/// ```
pub fn field_error_schema() -> Schema {
    ObjectBuilder::new()
        .property(
            "field",
            ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]))
                .description(Some("The path of the value at fault (`items[0].quantity`), or null")),
        )
        .property("message", ObjectBuilder::new().schema_type(Type::String))
        .property(
            "type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("A machine-readable kind: `missing`, `type_error`, `too_long`, `unique`, …")),
        )
        .required("field")
        .required("message")
        .required("type")
        .into()
}

/// The schema of the error envelope, [`ApiError`](crate::ApiError):
/// `{"detail": string, "errors": [FieldError]}`.
///
/// ```
/// let s = serde_json::to_value(almacen_web::openapi::api_error_schema()).unwrap();
/// assert_eq!(s["required"], serde_json::json!(["detail", "errors"]));
/// ```
pub fn api_error_schema() -> Schema {
    ObjectBuilder::new()
        .property("detail", ObjectBuilder::new().schema_type(Type::String))
        .property("errors", ArrayBuilder::new().items(Ref::from_schema_name(FIELD_ERROR_SCHEMA)))
        .required("detail")
        .required("errors")
        .into()
}

/// A response whose body is the error envelope, with `description`.
///
/// ```
/// let r = almacen_web::openapi::error_response("Not found");
/// let v = serde_json::to_value(r).unwrap();
/// assert_eq!(v["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ApiError");
/// ```
pub fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name(API_ERROR_SCHEMA))).build())
        .build()
}

/// The security requirement "a bearer token", for operations that need one.
///
/// ```
/// let r = almacen_web::openapi::bearer_requirement();
/// assert_eq!(serde_json::to_value(r).unwrap(), serde_json::json!({"bearer": []}));
/// ```
pub fn bearer_requirement() -> SecurityRequirement {
    SecurityRequirement::new(BEARER_SCHEME, Vec::<String>::new())
}

/// The bearer security scheme (`Authorization: Bearer <JWT>`).
pub fn bearer_scheme() -> SecurityScheme {
    SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build())
}

/// Adds the envelope's schemas and the bearer scheme to `doc`'s components (kept if present).
///
/// ```
/// let mut doc = utoipa::openapi::OpenApi::default();
/// almacen_web::openapi::add_common_components(&mut doc);
/// assert!(doc.components.unwrap().schemas.contains_key("FieldError"));
/// ```
pub fn add_common_components(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(|| ComponentsBuilder::new().build());
    components.schemas.entry(API_ERROR_SCHEMA.to_owned()).or_insert_with(|| RefOr::T(api_error_schema()));
    components.schemas.entry(FIELD_ERROR_SCHEMA.to_owned()).or_insert_with(|| RefOr::T(field_error_schema()));
    components.security_schemes.entry(BEARER_SCHEME.to_owned()).or_insert_with(bearer_scheme);
}
