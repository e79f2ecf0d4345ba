//! The OpenAPI operations of a [`Resource`](super::Resource).

use super::Config;
use crate::openapi::{bearer_requirement, error_response};
use utoipa::ToSchema;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Ref, Schema, Type};
use utoipa::openapi::{OpenApi, RefOr, Required};

fn name<T: ToSchema>() -> String {
    T::name().into_owned()
}

/// Add `T` and the schemas it refers to as components.
///
/// # Panics
///
/// When a name is already taken by a different schema (two types with one short name):
/// the document would describe one of them wrongly.
pub(super) fn add_schemas<T: ToSchema>(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    let mut found: Vec<(String, RefOr<Schema>)> = Vec::new();
    T::schemas(&mut found);
    found.push((name::<T>(), T::schema()));
    for (n, s) in found {
        match components.schemas.get(&n) {
            Some(seen) if serde_json::to_value(seen).ok() != serde_json::to_value(&s).ok() => panic!(
                "two different types are named `{n}` in the OpenAPI document (the second from {}): give them distinct \
                 names with `#[schema(as = path::{n})]` (e.g. `#[schema(as = a::{n})]`)",
                std::any::type_name::<T>()
            ),
            Some(_) => {}
            None => {
                components.schemas.insert(n, s);
            }
        }
    }
}

fn id_param() -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some("The row's id, from 1 to 9223372036854775807"))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64)))
                .minimum(Some(1)),
        ))
        .build()
}

fn query_param(name: &str, ty: Type, description: String) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(ty)))
        .build()
}

fn json_response<T: ToSchema>(description: &str) -> utoipa::openapi::response::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name(name::<T>()))).build())
        .build()
}

fn body<T: ToSchema>() -> utoipa::openapi::request_body::RequestBody {
    RequestBodyBuilder::new()
        .required(Some(Required::True))
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name(name::<T>()))).build())
        .build()
}

/// The operation's common parts: the id, the guard, the errors every one may answer.
fn base(cfg: &Config, id: &str, summary: String, write: bool, with_id: bool) -> OperationBuilder {
    let mut op = OperationBuilder::new().operation_id(Some(id)).summary(Some(summary)).tag(cfg.path.trim_start_matches('/'));
    if with_id {
        op = op.parameter(id_param());
    }
    let role = if write { &cfg.write_role } else { &cfg.read_role };
    if role.is_some() {
        op = op
            .security(bearer_requirement())
            .response("401", error_response("Not authenticated: no token, or an invalid or expired one"))
            .response("403", error_response("The token lacks the role"));
    }
    op.response("422", error_response("Invalid input: each problem in `errors`"))
        .response("500", error_response("An internal error (details in the log, by the request id)"))
        .response("503", unavailable())
        .response("504", error_response("The database statement timed out"))
}

/// 503 with its `Retry-After` header (the pool had no connection in time, or it was lost).
fn unavailable() -> utoipa::openapi::response::Response {
    let mut r = error_response("The database is unavailable for now: retry after `Retry-After` seconds");
    r.headers.insert(
        "Retry-After".into(),
        HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)))
            .description(Some("Seconds to wait before retrying".to_string()))
            .build(),
    );
    r
}

fn op_id(cfg: &Config, verb: &str) -> String {
    let name: String = cfg.path.trim_start_matches('/').chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    format!("{verb}_{name}")
}

fn item_path(cfg: &Config) -> String {
    format!("{}/{{id}}", cfg.path)
}

pub(super) fn list<Out: ToSchema>(cfg: &Config, doc: &mut OpenApi, table: &almacen::TableMeta) {
    let max = cfg.max_page_size;
    let def = cfg.default_page_size;
    let int_param = |name: &str, min: u64, max: Option<u64>, description: String| {
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .description(Some(description))
            .schema(Some(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(min)).maximum(max)))
            .build()
    };
    let mut op = base(cfg, &op_id(cfg, "list"), format!("List {}", cfg.path), false, false)
        .parameter(int_param("page", 1, Some(u64::MAX), "The page, from 1 (default 1)".into()))
        .parameter(int_param("page_size", 1, Some(max), format!("Rows per page (default {def}, at most {max})")))
        .parameter(int_param("skip", 0, Some(u64::MAX), "Rows to skip, instead of page (default 0)".into()))
        .parameter(int_param("limit", 1, Some(max), format!("Rows to return, instead of page_size (default {def}, at most {max})")));
    if !cfg.sortable.is_empty() {
        op = op.parameter(query_param(
            "sort",
            Type::String,
            format!("Fields separated by commas, `-` for descending; among {}", cfg.sortable.join(", ")),
        ));
    }
    for f in &cfg.filters {
        op = op.parameter(query_param(&f.param, Type::String, f.op.describe(&f.field)));
    }
    for field in &cfg.filterable {
        let Some(column) = table.columns.iter().find(|c| c.field == *field) else { continue };
        for op_ in super::Op::for_column(column) {
            let param = match op_.suffix() {
                Some(suffix) => format!("{field}__{suffix}"),
                None => field.to_string(),
            };
            let ty = if op_ == super::Op::IsNull { Type::Boolean } else { Type::String };
            op = op.parameter(query_param(&param, ty, op_.describe(field)));
        }
    }
    let items = || ArrayBuilder::new().items(Ref::from_schema_name(name::<Out>()));
    let int = || ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0));
    let boolean = || ObjectBuilder::new().schema_type(Type::Boolean);
    let page = ObjectBuilder::new()
        .property("items", items())
        .property("total", int())
        .property("page", int())
        .property("page_size", int())
        .property("total_pages", int())
        .property("has_next", boolean())
        .property("has_prev", boolean())
        .required("items")
        .required("total")
        .required("page")
        .required("page_size")
        .required("total_pages")
        .required("has_next")
        .required("has_prev");
    let slice = ObjectBuilder::new()
        .property("items", items())
        .property("total", int())
        .property("skip", int())
        .property("limit", int())
        .property("has_next", boolean())
        .required("items")
        .required("total")
        .required("skip")
        .required("limit")
        .required("has_next");
    let response = ResponseBuilder::new()
        .description("A page (with page/page_size, the default) or a slice (with skip/limit)")
        .content("application/json", ContentBuilder::new().schema(Some(OneOfBuilder::new().item(page).item(slice))).build())
        .build();
    op = op.response("200", response);
    doc.paths.add_path_operation(&cfg.path, vec![HttpMethod::Get], op.build());
}

pub(super) fn read<Out: ToSchema>(cfg: &Config, doc: &mut OpenApi) {
    let op = base(cfg, &op_id(cfg, "read"), format!("Read one of {}", cfg.path), false, true)
        .response("200", json_response::<Out>("The row"))
        .response("404", error_response("No such row"));
    doc.paths.add_path_operation(item_path(cfg), vec![HttpMethod::Get], op.build());
}

pub(super) fn create<I: ToSchema, Out: ToSchema>(cfg: &Config, doc: &mut OpenApi) {
    let created = ResponseBuilder::new()
        .description("Created")
        .header(
            "Location",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some(format!("The new row's URL, {}/{{id}}", cfg.path)))
                .build(),
        )
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name(name::<Out>()))).build())
        .build();
    let op = base(cfg, &op_id(cfg, "create"), format!("Create one of {}", cfg.path), true, false)
        .request_body(Some(body::<I>()))
        .response("201", created)
        .response("400", error_response("The body could not be read"))
        .response("409", error_response("A unique or foreign-key conflict"))
        .response("413", error_response("The body is too large"))
        .response("415", error_response("The body is not JSON"));
    doc.paths.add_path_operation(&cfg.path, vec![HttpMethod::Post], op.build());
    add_schemas::<I>(doc);
}

fn write_with_body<I: ToSchema, Out: ToSchema>(cfg: &Config, doc: &mut OpenApi, method: HttpMethod, verb: &str, summary: String) {
    let op = base(cfg, &op_id(cfg, verb), summary, true, true)
        .request_body(Some(body::<I>()))
        .response("200", json_response::<Out>("The row as stored"))
        .response("400", error_response("The body could not be read"))
        .response("404", error_response("No such row"))
        .response("409", error_response("A unique or foreign-key conflict, or a stale version"))
        .response("413", error_response("The body is too large"))
        .response("415", error_response("The body is not JSON"));
    doc.paths.add_path_operation(item_path(cfg), vec![method], op.build());
    add_schemas::<I>(doc);
}

pub(super) fn replace<I: ToSchema, Out: ToSchema>(cfg: &Config, doc: &mut OpenApi) {
    write_with_body::<I, Out>(cfg, doc, HttpMethod::Put, "replace", format!("Replace one of {}", cfg.path));
}

pub(super) fn patch<I: ToSchema, Out: ToSchema>(cfg: &Config, doc: &mut OpenApi) {
    write_with_body::<I, Out>(cfg, doc, HttpMethod::Patch, "patch", format!("Change fields of one of {}", cfg.path));
}

pub(super) fn delete(cfg: &Config, doc: &mut OpenApi) {
    let op = base(cfg, &op_id(cfg, "delete"), format!("Delete one of {}", cfg.path), true, true)
        .response("204", ResponseBuilder::new().description("Deleted").build())
        .response("404", error_response("No such row (or already deleted)"))
        .response("409", error_response("Still referred to by other rows"));
    doc.paths.add_path_operation(item_path(cfg), vec![HttpMethod::Delete], op.build());
}

pub(super) fn restore<Out: ToSchema>(cfg: &Config, doc: &mut OpenApi) {
    let op = base(cfg, &op_id(cfg, "restore"), format!("Restore a deleted one of {}", cfg.path), true, true)
        .response("200", json_response::<Out>("The restored row"))
        .response("404", error_response("No such deleted row"))
        .response("409", error_response("A unique conflict with a live row"));
    doc.paths.add_path_operation(format!("{}/{{id}}/restore", cfg.path), vec![HttpMethod::Post], op.build());
}
