//! [`Resource`]: the CRUD routes of a model from its declared input and output types.
//!
//! What can be read (the output type), written (the input types), sorted and filtered is
//! declared, never implied. A resource at `/products` serves:
//!
//! | route | answer |
//! |---|---|
//! | `POST /products` ([`Resource::create`]) | 201, `Location: /products/{id}`, the row |
//! | `GET /products/{id}` | 200 and the row; 404 when absent (or soft-deleted); 422 for an id outside 1..=i64::MAX |
//! | `GET /products` | a page (below) |
//! | `PUT /products/{id}` ([`Resource::replace`]) | 200 and the row; 404 when absent (no upsert) |
//! | `PATCH /products/{id}` ([`Resource::patch`]) | 200 and the row; 404 when absent |
//! | `DELETE /products/{id}` ([`Resource::delete`]) | 204; a soft delete for a model with a `#[model(soft_delete)]` field; 404 when absent or already deleted |
//! | `POST /products/{id}/restore` (soft-delete models, with `delete`) | 200 and the row; 404 when not deleted or absent |
//!
//! Inputs go through [`Valid`] (422 per rule). Database errors map as
//! [`ApiError`] maps them: a unique or foreign-key violation is a 409 naming the field, a
//! stale `#[model(version)]` is a 409 `stale_version` (a [`ReplaceInput`] that carries the
//! version the client read makes PUT check it).
//!
//! # Listing
//!
//! `GET /products?page=2&page_size=20` answers `almacen::query::Page`:
//! `{"items": [...], "total", "page", "page_size", "total_pages", "has_next", "has_prev"}`.
//! `page` is from 1, `page_size` defaults to the configured default and may not exceed the
//! configured maximum ([`Resource::page_size`]): a larger value is a 422, never clamped.
//! A page past the last is empty (with the totals).
//!
//! `GET /products?skip=40&limit=20` answers [`Slice`]:
//! `{"items": [...], "total", "skip", "limit", "has_next"}` (`limit` has the same default and
//! maximum as `page_size`). Mixing `page`/`page_size` with `skip`/`limit` is a 422.
//!
//! `sort=name,-price` sorts by fields of [`Resource::sortable`] (`-` descending); the key
//! always comes last, so pages are stable. Filters are declared per query parameter with
//! [`Resource::filter`] (`min_price` → `price >= …`), or for whole fields with
//! [`Resource::filterable`], which accepts `price` (equal), `price__ne`, `price__lt`,
//! `price__le`, `price__gt`, `price__ge`, `price__in=1,2`, `name__contains`,
//! `name__icontains`, `name__startswith`, `name__endswith` and `note__isnull=true`, each only
//! where the column's type allows it ([`Op::for_column`]: no `lt` on a boolean, text matches
//! on text only, `isnull` on nullable columns only); these names and no others (no `__eq`,
//! `__lte`, `__like`), and the OpenAPI document lists exactly those accepted.
//! `contains` and the like match `%` and `_` literally (no wildcards). The value is parsed to the column's
//! type; a bad one is a 422 naming the parameter. **An unknown query parameter is a 422
//! naming it** (a typo never silently returns everything), as is a parameter given twice.
//!
//! # Keys
//!
//! The model's key must be `i64` (the `{id}` segment goes through [`Id`]); other
//! key types (UUIDs, composite keys) are not served by this builder.
//!
//! # Guards
//!
//! [`Resource::write_role`] and [`Resource::read_role`] require a bearer token with the role
//! (see [`auth::CurrentUser`](crate::auth::CurrentUser); a `TokenConfig` must be installed as
//! an `Extension`): 401 without a valid token, 403 without the role, checked before the body
//! is read.
//!
//! # Example
//!
//! ```
//! use almacen::prelude::*;
//! use almacen::{Field, Patch};
//! use almacen_web::resource::{CreateInput, Op, PatchInput, ReplaceInput, Resource};
//! use almacen_web::Validate;
//!
//! #[derive(Model, Debug, Clone)]
//! #[model(table = "products")]
//! pub struct Product {
//!     #[model(primary_key, auto)]
//!     pub id: i64,
//!     #[model(max_len = 200)]
//!     pub name: String,
//!     #[model(unique, max_len = 64)]
//!     pub sku: String,
//!     pub price: f64,
//!     #[model(soft_delete)]
//!     pub deleted_at: Option<almacen::chrono::DateTime<almacen::chrono::Utc>>,
//! }
//!
//! #[derive(serde::Deserialize, utoipa::ToSchema)]
//! #[serde(deny_unknown_fields)]
//! pub struct ProductIn {
//!     #[schema(min_length = 1, max_length = 200)]
//!     pub name: String,
//!     #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$")]
//!     pub sku: String,
//!     #[schema(minimum = 0)]
//!     pub price: f64,
//! }
//! impl Validate for ProductIn {}
//! impl CreateInput<Product> for ProductIn {
//!     fn into_new(self) -> NewProduct {
//!         NewProduct { name: self.name, sku: self.sku, price: self.price }
//!     }
//! }
//! impl ReplaceInput<Product> for ProductIn {
//!     fn apply(self, row: &mut Product) -> almacen::Result<()> {
//!         (row.name, row.sku, row.price) = (self.name, self.sku, self.price);
//!         Ok(())
//!     }
//! }
//!
//! /// Absent keeps a field. These columns are not nullable, so the schema says "optional,
//! /// not nullable" (`value_type = String`, not `Option<String>`): a null is a 422 from the
//! /// schema check, and the OpenAPI document says so. (For a nullable column use
//! /// `value_type = Option<T>`: null then sets it to NULL.)
//! #[derive(serde::Deserialize, utoipa::ToSchema)]
//! #[serde(deny_unknown_fields)]
//! pub struct ProductPatch {
//!     #[serde(default)]
//!     #[schema(value_type = String, min_length = 1, max_length = 200)]
//!     pub name: Field<String>,
//!     #[serde(default)]
//!     #[schema(value_type = f64, minimum = 0)]
//!     pub price: Field<f64>,
//! }
//! impl Validate for ProductPatch {}
//! impl PatchInput<Product> for ProductPatch {
//!     fn into_patch(self, key: i64) -> almacen::Result<Patch<Product>> {
//!         let mut patch = Product::patch(key);
//!         match self.name {
//!             Field::Absent => {}
//!             Field::Null => return Err(almacen::Error::InvalidValue { column: "name".into(), message: "cannot be null".into() }),
//!             Field::Value(v) => patch = patch.set(Product::NAME, v),
//!         }
//!         match self.price {
//!             Field::Absent => {}
//!             Field::Null => return Err(almacen::Error::InvalidValue { column: "price".into(), message: "cannot be null".into() }),
//!             Field::Value(v) => patch = patch.set(Product::PRICE, v),
//!         }
//!         Ok(patch)
//!     }
//! }
//!
//! #[derive(serde::Serialize, utoipa::ToSchema)]
//! pub struct ProductOut { pub id: i64, pub name: String, pub sku: String, pub price: f64 }
//! impl From<Product> for ProductOut {
//!     fn from(p: Product) -> Self { ProductOut { id: p.id, name: p.name, sku: p.sku, price: p.price } }
//! }
//!
//! let products = Resource::<Product, ProductOut>::new("/products")
//!     .create::<ProductIn>()
//!     .replace::<ProductIn>()
//!     .patch::<ProductPatch>()
//!     .delete()
//!     .sortable(&["name", "price"])
//!     .filter("min_price", "price", Op::Ge)
//!     .filter("max_price", "price", Op::Le)
//!     .filter("name_contains", "name", Op::Contains)
//!     .filterable(&["sku"])
//!     .page_size(20, 100)
//!     .write_role("admin");
//! let doc = products.openapi();
//! assert!(doc.paths.paths.contains_key("/products/{id}/restore"));
//! # async fn serve(products: Resource<Product, ProductOut>) -> almacen::Result<()> {
//! let db = almacen::Database::connect("sqlite::memory:").await?;
//! let app: axum::Router = products.router(db);
//! # Ok(()) }
//! ```

mod list;
mod openapi;

use crate::auth::CurrentUser;
use crate::validate::{Valid, Validate};
use crate::{ApiError, Id, Json, Path};
use almacen::{Database, Model, Patch};
use axum::Router;
use axum::extract::{FromRequestParts, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::sync::Arc;
use utoipa::ToSchema;

pub use list::Slice;

/// An input that creates a row: a request body of `POST /things`.
///
/// ```
/// use almacen::prelude::*;
/// use almacen_web::{Validate, resource::CreateInput};
///
/// #[derive(Model, Debug)]
/// #[model(table = "tags")]
/// struct Tag { #[model(primary_key, auto)] id: i64, #[model(max_len = 30)] name: String }
///
/// #[derive(serde::Deserialize, utoipa::ToSchema)]
/// struct TagIn { #[schema(min_length = 1, max_length = 30)] name: String }
/// impl Validate for TagIn {}
/// impl CreateInput<Tag> for TagIn {
///     fn into_new(self) -> NewTag { NewTag { name: self.name } }
/// }
/// ```
pub trait CreateInput<M: Model>: DeserializeOwned + ToSchema + Validate + Send + 'static {
    /// The row to insert.
    fn into_new(self) -> M::New;
}

/// An input that replaces the writable fields of a row: a request body of `PUT /things/{id}`.
/// In one transaction, the row is read locked (`get_for_update`), `apply`'d and written back
/// with `almacen::ops::update` (so a version field set from the input makes a stale write a
/// 409, and a concurrent write to a column the input does not cover is never undone).
///
/// ```
/// use almacen::prelude::*;
/// use almacen_web::{Validate, resource::ReplaceInput};
///
/// #[derive(Model, Debug)]
/// #[model(table = "tags")]
/// struct Tag { #[model(primary_key, auto)] id: i64, #[model(max_len = 30)] name: String }
///
/// #[derive(serde::Deserialize, utoipa::ToSchema)]
/// struct TagIn { #[schema(min_length = 1, max_length = 30)] name: String }
/// impl Validate for TagIn {}
/// impl ReplaceInput<Tag> for TagIn {
///     fn apply(self, row: &mut Tag) -> almacen::Result<()> { row.name = self.name; Ok(()) }
/// }
/// ```
pub trait ReplaceInput<M: Model>: DeserializeOwned + ToSchema + Validate + Send + 'static {
    /// Write the input's fields into `row`; an error (e.g. `almacen::Error::invalid`) is
    /// answered as [`ApiError`] maps it.
    fn apply(self, row: &mut M) -> almacen::Result<()>;
}

/// An input that changes some fields of a row: a request body of `PATCH /things/{id}`.
/// Use `almacen::Field<T>` fields (absent, null, value) with `#[serde(default)]`, as the
/// derive's `<Model>Patch` does (its `into_patch` is this method). Their schema: for a
/// non-nullable column `#[schema(value_type = T)]` (optional, not nullable: the schema
/// check rejects a null), for a nullable one `#[schema(value_type = Option<T>)]` (null sets
/// NULL), so that the OpenAPI document says what the server accepts.
///
/// ```
/// use almacen::prelude::*;
/// use almacen::{Field, Patch};
/// use almacen_web::{Validate, resource::PatchInput};
///
/// #[derive(Model, Debug)]
/// #[model(table = "tags")]
/// struct Tag { #[model(primary_key, auto)] id: i64, #[model(max_len = 30)] name: Option<String> }
///
/// #[derive(serde::Deserialize, utoipa::ToSchema)]
/// struct TagPatch {
///     #[serde(default)]
///     #[schema(value_type = Option<String>, max_length = 30)]
///     name: Field<String>,
/// }
/// impl Validate for TagPatch {}
/// impl PatchInput<Tag> for TagPatch {
///     fn into_patch(self, key: i64) -> almacen::Result<Patch<Tag>> {
///         Ok(match self.name {
///             Field::Absent => Tag::patch(key),
///             Field::Null => Tag::patch(key).set(Tag::NAME, None),
///             Field::Value(v) => Tag::patch(key).set(Tag::NAME, Some(v)),
///         })
///     }
/// }
/// ```
pub trait PatchInput<M: Model>: DeserializeOwned + ToSchema + Validate + Send + 'static {
    /// The database patch of the row with `key`.
    fn into_patch(self, key: M::Key) -> almacen::Result<Patch<M>>;
}

/// A filter operator of [`Resource::filter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `field = value`
    Eq,
    /// `field <> value`
    Ne,
    /// `field < value`
    Lt,
    /// `field <= value`
    Le,
    /// `field > value`
    Gt,
    /// `field >= value`
    Ge,
    /// `field IN (v1, v2, …)`, the values comma-separated.
    In,
    /// The text contains the value, `%` and `_` matched literally (LIKE, escaped).
    Contains,
    /// As [`Op::Contains`], ignoring case.
    IContains,
    /// The text starts with the value (literally).
    StartsWith,
    /// The text ends with the value (literally).
    EndsWith,
    /// `field IS NULL` for `true`, `IS NOT NULL` for `false`.
    IsNull,
}

impl Op {
    /// The operator's name in the core's [`NamedColumn::condition`](almacen::query::NamedColumn::condition).
    ///
    /// ```
    /// assert_eq!(almacen_web::resource::Op::Ge.core_name(), "ge");
    /// ```
    pub fn core_name(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Lt => "lt",
            Op::Le => "le",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::In => "in",
            Op::Contains => "contains",
            Op::IContains => "icontains",
            Op::StartsWith => "starts_with",
            Op::EndsWith => "ends_with",
            Op::IsNull => "is_null",
        }
    }

    /// The operator of a generic filter's suffix (`price__lt` → `lt`); the field alone is
    /// [`Op::Eq`]. These suffixes and no others are accepted.
    ///
    /// ```
    /// use almacen_web::resource::Op;
    /// assert_eq!(Op::from_suffix("isnull"), Some(Op::IsNull));
    /// assert_eq!(Op::from_suffix("like"), None);
    /// ```
    pub fn from_suffix(suffix: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.suffix() == Some(suffix))
    }

    /// The suffix of a generic filter (`lt` for `price__lt`); `None` for [`Op::Eq`], which is
    /// the field's name alone.
    ///
    /// ```
    /// use almacen_web::resource::Op;
    /// assert_eq!(Op::StartsWith.suffix(), Some("startswith"));
    /// assert_eq!(Op::Eq.suffix(), None);
    /// ```
    pub fn suffix(self) -> Option<&'static str> {
        Some(match self {
            Op::Eq => return None,
            Op::Ne => "ne",
            Op::Lt => "lt",
            Op::Le => "le",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::In => "in",
            Op::Contains => "contains",
            Op::IContains => "icontains",
            Op::StartsWith => "startswith",
            Op::EndsWith => "endswith",
            Op::IsNull => "isnull",
        })
    }

    const ALL: [Op; 12] =
        [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge, Op::In, Op::Contains, Op::IContains, Op::StartsWith, Op::EndsWith, Op::IsNull];

    /// The generic filters a column offers ([`Resource::filterable`]): comparisons for
    /// numbers, text, dates and times; equality only for booleans, UUIDs and enums; the text
    /// matches for text only; `isnull` for nullable columns only.
    ///
    /// ```
    /// use almacen::prelude::*;
    /// use almacen_web::resource::Op;
    /// #[derive(Model, Debug)] #[model(table = "flags")]
    /// struct Flag { #[model(primary_key, auto)] id: i64, on: bool }
    /// let on = Flag::TABLE.columns.iter().find(|c| c.field == "on").unwrap();
    /// assert_eq!(Op::for_column(on), vec![Op::Eq, Op::Ne, Op::In]);
    /// ```
    pub fn for_column(column: &almacen::ColumnMeta) -> Vec<Op> {
        use almacen::ColumnType as T;
        let mut ops = match column.ty {
            T::Text { .. } => Op::ALL[..11].to_vec(),
            T::SmallInt | T::Integer | T::BigInt | T::Float | T::Double | T::Decimal { .. } | T::Timestamp | T::Date | T::Time => {
                Op::ALL[..7].to_vec()
            }
            T::Bool | T::Uuid | T::Enum { .. } => vec![Op::Eq, Op::Ne, Op::In],
            _ => Vec::new(),
        };
        if column.nullable {
            ops.push(Op::IsNull);
        }
        ops
    }

    fn describe(self, field: &str) -> String {
        match self {
            Op::Eq => format!("{field} equal to the value"),
            Op::Ne => format!("{field} not equal to the value"),
            Op::Lt => format!("{field} less than the value"),
            Op::Le => format!("{field} at most the value"),
            Op::Gt => format!("{field} greater than the value"),
            Op::Ge => format!("{field} at least the value"),
            Op::In => format!("{field} one of the comma-separated values"),
            Op::Contains => format!("{field} contains the text (% and _ match themselves)"),
            Op::IContains => format!("{field} contains the text, ignoring case"),
            Op::StartsWith => format!("{field} starts with the text"),
            Op::EndsWith => format!("{field} ends with the text"),
            Op::IsNull => format!("{field} is null (true) or not (false)"),
        }
    }
}

/// One declared query-parameter filter.
#[derive(Debug, Clone)]
struct FilterSpec {
    param: String,
    field: String,
    op: Op,
}

/// The declarations every handler reads.
#[derive(Debug, Clone)]
struct Config {
    path: String,
    sortable: Vec<&'static str>,
    filters: Vec<FilterSpec>,
    filterable: Vec<&'static str>,
    default_page_size: u64,
    max_page_size: u64,
    write_role: Option<String>,
    read_role: Option<String>,
}

type RouteFn = Box<dyn Fn(Arc<Config>) -> MethodRouter<Database> + Send + Sync>;
type DocFn = Box<dyn Fn(&Config, &mut utoipa::openapi::OpenApi) + Send + Sync>;

struct Operation {
    /// "" for the collection, "/{id}" or "/{id}/restore".
    suffix: &'static str,
    write: bool,
    route: RouteFn,
    doc: DocFn,
    /// Builds the validator of the operation's input (a bad schema is found at start-up).
    prepare: Option<fn() -> Result<(), crate::validate::SchemaError>>,
}

/// The routes of model `M`, answered as `Out` (see the [module](self) for the whole list and
/// an example). Nothing is served unless declared: `GET /things` and `GET /things/{id}`
/// come with [`Resource::new`], each write with its method.
pub struct Resource<M, Out> {
    config: Config,
    ops: Vec<Operation>,
    _types: PhantomData<fn() -> (M, Out)>,
}

impl<M, Out> Resource<M, Out>
where
    M: Model<Key = i64>,
    Out: Serialize + ToSchema + From<M> + Send + 'static,
{
    /// A resource at `path` (`"/products"`) serving `GET path` and `GET path/{id}`; page
    /// size 20 by default, at most 100.
    ///
    /// ```
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "tags")]
    /// # struct Tag { #[model(primary_key, auto)] id: i64, #[model(max_len = 30)] name: String }
    /// # #[derive(serde::Serialize, utoipa::ToSchema)] struct TagOut { id: i64 }
    /// # impl From<Tag> for TagOut { fn from(t: Tag) -> Self { TagOut { id: t.id } } }
    /// let tags = almacen_web::resource::Resource::<Tag, TagOut>::new("/tags");
    /// ```
    pub fn new(path: &str) -> Self {
        let config = Config {
            path: path.trim_end_matches('/').to_string(),
            sortable: Vec::new(),
            filters: Vec::new(),
            filterable: Vec::new(),
            default_page_size: 20,
            max_page_size: 100,
            write_role: None,
            read_role: None,
        };
        let mut r = Resource { config, ops: Vec::new(), _types: PhantomData };
        r.ops.push(Operation {
            suffix: "",
            write: false,
            route: Box::new(|cfg| get(move |State(db): State<Database>, RawQuery(q): RawQuery| list::list::<M, Out>(db, cfg.clone(), q))),
            doc: Box::new(|cfg, doc| openapi::list::<Out>(cfg, doc, M::TABLE)),
            prepare: None,
        });
        r.ops.push(Operation {
            suffix: "/{id}",
            write: false,
            route: Box::new(|_| get(read::<M, Out>)),
            doc: Box::new(openapi::read::<Out>),
            prepare: None,
        });
        r
    }

    /// Serve `POST path` with body `I`: 201, `Location`, the row.
    pub fn create<I: CreateInput<M>>(mut self) -> Self {
        self.ops.push(Operation {
            suffix: "",
            write: true,
            route: Box::new(|cfg| {
                post(move |State(db): State<Database>, Valid(input): Valid<I>| create::<M, Out, I>(db, cfg.clone(), input))
            }),
            doc: Box::new(openapi::create::<I, Out>),
            prepare: Some(crate::validate::prepare::<I>),
        });
        self
    }

    /// Serve `PUT path/{id}` with body `I` (every writable field; 404 when absent).
    pub fn replace<I: ReplaceInput<M>>(mut self) -> Self {
        self.ops.push(Operation {
            suffix: "/{id}",
            write: true,
            route: Box::new(|_| axum::routing::put(replace::<M, Out, I>)),
            doc: Box::new(openapi::replace::<I, Out>),
            prepare: Some(crate::validate::prepare::<I>),
        });
        self
    }

    /// Serve `PATCH path/{id}` with body `I` (absent fields kept, nulls set).
    pub fn patch<I: PatchInput<M>>(mut self) -> Self {
        self.ops.push(Operation {
            suffix: "/{id}",
            write: true,
            route: Box::new(|_| axum::routing::patch(patch::<M, Out, I>)),
            doc: Box::new(openapi::patch::<I, Out>),
            prepare: Some(crate::validate::prepare::<I>),
        });
        self
    }

    /// Serve `DELETE path/{id}` (204), and for a soft-delete model `POST path/{id}/restore`.
    pub fn delete(mut self) -> Self {
        self.ops.push(Operation {
            suffix: "/{id}",
            write: true,
            route: Box::new(|_| axum::routing::delete(delete::<M>)),
            doc: Box::new(openapi::delete),
            prepare: None,
        });
        if M::TABLE.soft_delete().is_some() {
            self.ops.push(Operation {
                suffix: "/{id}/restore",
                write: true,
                route: Box::new(|_| post(restore::<M, Out>)),
                doc: Box::new(openapi::restore::<Out>),
                prepare: None,
            });
        }
        self
    }

    /// The fields `sort=` may name (`sort=name,-price`).
    pub fn sortable(mut self, fields: &[&'static str]) -> Self {
        self.config.sortable.extend_from_slice(fields);
        self
    }

    /// A query parameter `param` filtering on `field` with `op`:
    /// `.filter("min_price", "price", Op::Ge)` serves `?min_price=10`.
    pub fn filter(mut self, param: &str, field: &str, op: Op) -> Self {
        self.config.filters.push(FilterSpec { param: param.to_string(), field: field.to_string(), op });
        self
    }

    /// Fields with the generic filters `field`, `field__lt`, `field__in`, `field__isnull`, …
    /// (see the [module](self)).
    pub fn filterable(mut self, fields: &[&'static str]) -> Self {
        self.config.filterable.extend_from_slice(fields);
        self
    }

    /// The page size when none is given, and the largest allowed (a larger one is a 422).
    ///
    /// # Panics
    ///
    /// When `max` exceeds the core's cap, [`almacen::query::MAX_PAGE_SIZE`] (1000): the
    /// database layer would silently return fewer rows than asked.
    ///
    /// ```should_panic
    /// # use almacen::prelude::*;
    /// # #[derive(Model, Debug)] #[model(table = "tags")]
    /// # struct Tag { #[model(primary_key, auto)] id: i64, #[model(max_len = 30)] name: String }
    /// # #[derive(serde::Serialize, utoipa::ToSchema)] struct TagOut { id: i64 }
    /// # impl From<Tag> for TagOut { fn from(t: Tag) -> Self { TagOut { id: t.id } } }
    /// let tags = almacen_web::resource::Resource::<Tag, TagOut>::new("/tags").page_size(20, 5000);
    /// ```
    pub fn page_size(mut self, default: u64, max: u64) -> Self {
        let cap = almacen::query::MAX_PAGE_SIZE;
        assert!(
            max <= cap && default <= cap,
            "Resource {}: page_size({default}, {max}) exceeds the largest page the database layer serves, {cap} \
             (almacen::query::MAX_PAGE_SIZE)",
            self.config.path
        );
        self.config.default_page_size = default.max(1);
        self.config.max_page_size = max.max(self.config.default_page_size);
        self
    }

    /// Writes (POST, PUT, PATCH, DELETE, restore) need a bearer token with `role`.
    pub fn write_role(mut self, role: &str) -> Self {
        self.config.write_role = Some(role.to_string());
        self
    }

    /// Reads (GET) need a bearer token with `role`.
    pub fn read_role(mut self, role: &str) -> Self {
        self.config.read_role = Some(role.to_string());
        self
    }

    /// The axum router of the declared routes, on `db`.
    ///
    /// # Panics
    ///
    /// When a declared sortable or filter field is not a field of `M`, or when the schema of
    /// an input type cannot be used (see [`validate::prepare`](crate::validate::prepare): two
    /// types with one name, a `pattern` that does not compile): programming errors, caught at
    /// start-up rather than on a request.
    pub fn router<S: Clone + Send + Sync + 'static>(&self, db: Database) -> Router<S> {
        self.check_declarations();
        for op in &self.ops {
            if let Some(Err(e)) = op.prepare.map(|prepare| prepare()) {
                panic!("Resource {}: {e}", self.config.path);
            }
        }
        let cfg = Arc::new(self.config.clone());
        let mut by_path: Vec<(&'static str, MethodRouter<Database>)> = Vec::new();
        for op in &self.ops {
            let mut route = (op.route)(cfg.clone());
            let role = if op.write { cfg.write_role.clone() } else { cfg.read_role.clone() };
            if let Some(role) = role {
                let role: Arc<str> = role.into();
                route = route.route_layer(axum::middleware::from_fn(move |req: Request, next: Next| {
                    let role = role.clone();
                    async move { guard(&role, req, next).await }
                }));
            }
            match by_path.iter_mut().find(|(s, _)| *s == op.suffix) {
                Some((_, existing)) => *existing = std::mem::take(existing).merge(route),
                None => by_path.push((op.suffix, route)),
            }
        }
        let mut router = Router::new();
        for (suffix, route) in by_path {
            let full = format!("{}{}", cfg.path, suffix);
            router = router.route(&full, route);
        }
        router.with_state(db)
    }

    /// The OpenAPI fragment of the declared routes: each operation with its parameters,
    /// request body, responses (201's `Location`, the error responses that can happen), the
    /// bearer requirement on guarded ones, and the component schemas of the input and output
    /// types and of the error envelope.
    pub fn openapi(&self) -> utoipa::openapi::OpenApi {
        let mut doc = utoipa::openapi::OpenApi::default();
        crate::openapi::add_common_components(&mut doc);
        for op in &self.ops {
            (op.doc)(&self.config, &mut doc);
        }
        openapi::add_schemas::<Out>(&mut doc);
        doc
    }

    fn check_declarations(&self) {
        let c = &self.config;
        let all = |names: &[&str]| {
            for name in names {
                if let Err(e) = almacen::query::NamedColumn::of::<M>(name, &[name]) {
                    panic!("Resource {}: {e}", c.path);
                }
            }
        };
        all(&c.sortable);
        all(&c.filterable);
        all(&c.filters.iter().map(|f| f.field.as_str()).collect::<Vec<_>>());
    }
}

async fn guard(role: &str, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let user = match CurrentUser::from_request_parts(&mut parts, &()).await {
        Ok(user) => user,
        Err(e) => return e.into_response(),
    };
    // The installed RoleCheck (the database) when there is one, the token's claims otherwise.
    if let Err(e) = crate::auth::authorize(&parts.extensions, &user, role).await {
        return e.into_response();
    }
    parts.extensions.insert(user);
    next.run(Request::from_parts(parts, body)).await
}

async fn read<M, Out>(State(db): State<Database>, Path(Id(id)): Path<Id>) -> Result<Json<Out>, ApiError>
where
    M: Model<Key = i64>,
    Out: From<M>,
{
    let row = almacen::ops::get::<M>(&db, &id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(Out::from(row)))
}

async fn create<M, Out, I>(db: Database, cfg: Arc<Config>, input: I) -> Result<Response, ApiError>
where
    M: Model<Key = i64>,
    Out: Serialize + From<M>,
    I: CreateInput<M>,
{
    let row = almacen::ops::insert::<M>(&db, input.into_new()).await?;
    let location = format!("{}/{}", cfg.path, row.key());
    let mut response = (StatusCode::CREATED, Json(Out::from(row))).into_response();
    let value = HeaderValue::from_str(&location).map_err(ApiError::internal)?;
    response.headers_mut().insert(header::LOCATION, value);
    Ok(response)
}

async fn replace<M, Out, I>(State(db): State<Database>, Path(Id(id)): Path<Id>, Valid(input): Valid<I>) -> Result<Json<Out>, ApiError>
where
    M: Model<Key = i64>,
    Out: From<M>,
    I: ReplaceInput<M>,
{
    // Read, apply and write back in one transaction with the row locked, so that a write
    // to a column the input does not cover (a concurrent PATCH) is never undone.
    let tx = db.begin().await?;
    let mut row = almacen::ops::get_for_update::<M>(&tx, &id).await?.ok_or_else(ApiError::not_found)?;
    input.apply(&mut row)?;
    almacen::ops::update::<M>(&tx, &mut row).await?;
    // Read back: columns the database sets (defaults, managed ones) as stored.
    let row = almacen::ops::get::<M>(&tx, &id).await?.ok_or_else(ApiError::not_found)?;
    tx.commit().await?;
    Ok(Json(Out::from(row)))
}

async fn patch<M, Out, I>(State(db): State<Database>, Path(Id(id)): Path<Id>, Valid(input): Valid<I>) -> Result<Json<Out>, ApiError>
where
    M: Model<Key = i64>,
    Out: From<M>,
    I: PatchInput<M>,
{
    let row = input.into_patch(id)?.execute(&db).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(Out::from(row)))
}

async fn delete<M: Model<Key = i64>>(State(db): State<Database>, Path(Id(id)): Path<Id>) -> Result<StatusCode, ApiError> {
    if almacen::ops::delete::<M>(&db, &id).await? { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::not_found()) }
}

async fn restore<M, Out>(State(db): State<Database>, Path(Id(id)): Path<Id>) -> Result<Json<Out>, ApiError>
where
    M: Model<Key = i64>,
    Out: From<M>,
{
    if !almacen::ops::restore::<M>(&db, &id).await? {
        return Err(ApiError::not_found());
    }
    let row = almacen::ops::get::<M>(&db, &id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(Out::from(row)))
}
