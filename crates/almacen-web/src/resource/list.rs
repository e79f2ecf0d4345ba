//! `GET /things`: query parameters to a `Select`, a page or a slice out.

use super::{Config, Op};
use crate::{ApiError, Json};
use almacen::query::{NamedColumn, Page, Select};
use almacen::{Database, Model};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;

/// The answer of `GET /things?skip=…&limit=…`: up to `limit` rows after the first `skip`.
///
/// ```
/// let s = almacen_web::resource::Slice { items: vec![1, 2], total: 5, skip: 0, limit: 2, has_next: true };
/// assert_eq!(serde_json::to_value(&s).unwrap(),
///            serde_json::json!({"items": [1, 2], "total": 5, "skip": 0, "limit": 2, "has_next": true}));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slice<T> {
    /// The rows (empty past the end).
    pub items: Vec<T>,
    /// Rows matching the filters in all.
    pub total: u64,
    /// Rows skipped.
    pub skip: u64,
    /// The most rows asked for.
    pub limit: u64,
    /// Whether rows follow these.
    pub has_next: bool,
}

fn bad(param: &str, message: impl Into<String>, kind: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid query parameter").with_error(Some(param), message, kind)
}

/// The message of a core error about a parameter, without its variant's prefix and without
/// the value sent (`qty: "abc" is not an integer` → `must be an integer`).
fn core_message(e: almacen::Error) -> String {
    let m = match e {
        almacen::Error::Parameter(m) => m,
        almacen::Error::InvalidValue { message, .. } => message,
        other => other.to_string(),
    };
    without_value(&m)
}

/// The core's parse messages quote the text sent: keep what was expected only.
fn without_value(m: &str) -> String {
    if let Some(i) = m.rfind(" is not ")
        && m[..i].contains('"')
    {
        return format!("must be {}", &m[i + " is not ".len()..]);
    }
    if let Some(i) = m.find(" is out of range for ") {
        return m[i + 1..].to_string();
    }
    if let Some(i) = m.find(" takes true or false, not ") {
        return format!("{} takes true or false", &m[..i]);
    }
    m.to_string()
}

/// A database error while running a filtered query: a value the column cannot hold
/// (`qty__lt=3000000000` on an `i32`) names the query parameter that gave it, not the column.
fn filter_error<M: Model>(e: almacen::Error, applied: &[(String, &str)]) -> ApiError {
    if let almacen::Error::InvalidValue { column, message } = &e {
        let field_of = |col: &str| M::TABLE.columns.iter().find(|c| c.name == col || c.field == col).map(|c| c.field);
        let wanted = field_of(column);
        if let Some((param, _)) = applied.iter().find(|(_, f)| Some(*f) == wanted || *f == column.as_str()) {
            return bad(param, without_value(message), "value_error");
        }
    }
    e.into()
}

fn number(param: &str, text: &str, min: u64) -> Result<u64, ApiError> {
    match text.parse::<u64>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(bad(param, format!("must be a whole number of at least {min}"), "type_error")),
    }
}

pub(super) async fn list<M, Out>(db: Database, cfg: Arc<Config>, raw: Option<String>) -> Result<Response, ApiError>
where
    M: Model,
    Out: Serialize + From<M>,
{
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let mut seen: Vec<&str> = Vec::new();
    let (mut page, mut page_size, mut skip, mut limit, mut sort) = (None, None, None, None, None);
    let mut query: Select<M> = Select::new();
    let mut applied: Vec<(String, &'static str)> = Vec::new();
    for (name, value) in &pairs {
        if seen.contains(&name.as_str()) {
            return Err(bad(name, "given more than once", "duplicate_parameter"));
        }
        seen.push(name);
        match name.as_str() {
            "page" => page = Some(number(name, value, 1)?),
            "page_size" => page_size = Some(number(name, value, 1)?),
            "skip" => skip = Some(number(name, value, 0)?),
            "limit" => limit = Some(number(name, value, 1)?),
            "sort" => sort = Some(value.as_str()),
            _ => {
                let (field, op) = resolve::<M>(&cfg, name)
                    .ok_or_else(|| bad(name, format!("unknown query parameter; {}", known(&cfg)), "unknown_parameter"))?;
                let column = NamedColumn::of::<M>(field, &[field]).map_err(|e| bad(name, core_message(e), "value_error"))?;
                let condition = column.condition(op.core_name(), value).map_err(|e| bad(name, core_message(e), "value_error"))?;
                query = query.filter(condition);
                applied.push((name.clone(), column.field()));
            }
        }
    }
    if let Some(spec) = sort {
        query = query.order_by_param(spec, &cfg.sortable).map_err(|e| bad("sort", core_message(e), "value_error"))?;
    }
    let max = cfg.max_page_size;
    let too_big = |param: &str| bad(param, format!("must be at most {max}"), "maximum");
    if skip.is_some() || limit.is_some() {
        if page.is_some() || page_size.is_some() {
            let param = if page.is_some() { "page" } else { "page_size" };
            return Err(bad(param, "cannot be combined with skip/limit: use page and page_size, or skip and limit", "conflict"));
        }
        let (skip, limit) = (skip.unwrap_or(0), limit.unwrap_or(cfg.default_page_size));
        if limit > max {
            return Err(too_big("limit"));
        }
        let on_filter = |e| filter_error::<M>(e, &applied);
        let total = query.count(&db).await.map_err(on_filter)?;
        let items = if skip < total {
            let key = key_column::<M>()?;
            query.order_by(key.asc()).limit(limit).offset(skip).fetch_all(&db).await.map_err(on_filter)?
        } else {
            Vec::new()
        };
        let has_next = skip.saturating_add(items.len() as u64) < total;
        let items = items.into_iter().map(Out::from).collect();
        return Ok(Json(Slice { items, total, skip, limit, has_next }).into_response());
    }
    let page_size = page_size.unwrap_or(cfg.default_page_size);
    if page_size > max {
        return Err(too_big("page_size"));
    }
    let page: Page<M> = query.paginate(&db, page.unwrap_or(1), page_size).await.map_err(|e| filter_error::<M>(e, &applied))?;
    Ok(Json(page.map(Out::from)).into_response())
}

/// The model's single key column (the tie-break of every order).
fn key_column<M: Model>() -> Result<NamedColumn, ApiError> {
    let mut keys = M::TABLE.primary_key();
    match (keys.next(), keys.next()) {
        (Some(meta), None) => NamedColumn::of::<M>(meta.field, &[meta.field]).map_err(ApiError::internal),
        _ => Err(ApiError::internal(format!("{} needs a single-column primary key to be listed", M::TABLE.name))),
    }
}

/// The field and operator a filter parameter stands for.
fn resolve<'c, M: Model>(cfg: &'c Config, name: &'c str) -> Option<(&'c str, Op)> {
    if let Some(f) = cfg.filters.iter().find(|f| f.param == name) {
        return Some((f.field.as_str(), f.op));
    }
    let (field, op) = match name.split_once("__") {
        Some((field, suffix)) => (field, Op::from_suffix(suffix)?),
        None => (name, Op::Eq),
    };
    let field = cfg.filterable.iter().find(|f| **f == field)?;
    // Only the operators the column's type offers (those the OpenAPI document lists).
    let column = M::TABLE.columns.iter().find(|c| c.field == *field)?;
    Op::for_column(column).contains(&op).then_some((*field, op))
}

/// "known parameters are page, page_size, …" for an unknown one.
fn known(cfg: &Config) -> String {
    let mut names: Vec<String> = ["page", "page_size", "skip", "limit"].iter().map(|s| s.to_string()).collect();
    if !cfg.sortable.is_empty() {
        names.push("sort".into());
    }
    names.extend(cfg.filters.iter().map(|f| f.param.clone()));
    names.extend(cfg.filterable.iter().map(|f| format!("{f}, {f}__<op>")));
    format!("known parameters are {}", names.join(", "))
}
