//! # almacen
//!
//! The persistence layer of a Rust microservice: one [`Database`] over SQLite, PostgreSQL
//! and MariaDB, models declared once with `#[derive(Model)]`, typed queries, transactions
//! and raw SQL with `:name` parameters. A [`Repository`] groups one model's reads and
//! writes over a `Database` or a `Transaction` (its documentation shows specific
//! repositories and units of work).
//!
//! ```no_run
//! use almacen::prelude::*;
//!
//! #[derive(Model, Debug, Clone)]
//! #[model(table = "products")]
//! pub struct Product {
//!     #[model(primary_key, auto)]
//!     pub id: i64,
//!     #[model(max_len = 200, index)]
//!     pub name: String,
//!     #[model(default = 0)]
//!     pub stock: i32,
//! }
//!
//! # async fn run() -> almacen::Result<()> {
//! let db = Database::connect("sqlite::memory:").await?;
//! db.create_tables(&[Product::TABLE]).await?;
//! let lamp = Product::insert(&db, NewProduct { name: "Lamp".into(), stock: 3 }).await?;
//! let in_stock: Vec<Product> = Product::select()
//!     .filter(Product::STOCK.gt(0))
//!     .order_by(Product::NAME.asc())
//!     .fetch_all(&db)
//!     .await?;
//! db.transaction(async |tx| {
//!     // Locked until commit, so no concurrent writer slips in between read and write.
//!     let mut p = Product::get_for_update(tx, lamp.id).await?.ok_or(Error::NotFound)?;
//!     p.stock -= 1;
//!     p.update(tx).await?;
//!     Ok(())
//! })
//! .await?;
//! # Ok(()) }
//! ```
//!
//! ## Model attributes
//!
//! On the struct: `#[model(table = "name")]` (default: the struct's name in snake_case,
//! `OrderItem` → `order_item`), `index("a", "b")` and `unique("a", "b")` for composite
//! indexes (repeatable), `composite` to allow a primary key of several fields, `keyless` for
//! a table without a primary key (every other model must mark one: a model without a key
//! does not compile), `no_default` to leave `Default` off `New<Model>` (when a defaulted
//! insert input would be a mistake), and `dto` (below).
//!
//! On a field: `primary_key`, `auto` (database-generated integer), `column = "name"`,
//! `max_len = N` (text), `decimal(P, S)` (a `Decimal`, precision 1 to 28), `unique`, `index`,
//! `default = <expr>` (client side, used by `New<Model>::default()`), `server_default = now`
//! or `server_default = "<sql>"`, `references = User::ID` (the referenced model's column
//! constant: the field's type must be that key's, checked at compile time) or
//! `references = "table.column"` (unchecked; needed when two models reference each other,
//! on one side, since their constants would depend on each other),
//! `on_delete = "cascade" | "set_null" | "restrict" | "no_action"`,
//! `sql_type = "text" | "smallint" | "integer" | "bigint" | "float" | "double" | "json" | "bytes"`.
//! Mistakes are compile errors naming the field (a misspelt attribute gets "did you mean"),
//! all of a struct's at once, and the items below are still generated so that they are the
//! only errors.
//!
//! ## What `#[derive(Model)]` generates
//!
//! For `struct Product`:
//! - `impl Model for Product` (table metadata in `Product::TABLE`, row decoding, values) and,
//!   unless `keyless`, `impl Keyed for Product`;
//! - a column constant per field, `Product::PRICE: Column<Product, Decimal>`, for filters,
//!   ordering, aggregates and patches;
//! - `NewProduct`, the insert input: every field but `auto` keys and managed columns; fields
//!   with a server default are `Option`s (None lets the database fill them in); `Default`
//!   unless `no_default`;
//! - on `Product`: `select()`, `insert(db, new)`, `insert_many(db, rows)`,
//!   `insert_many_without_returning(db, rows)` (the count only: nothing read back),
//!   `update_where(cond)`, `delete_where(cond)`, and with a key: `get(db, key)`,
//!   `get_for_update(db, key)`, `model.update(db)`, `model.delete(db)` (this row),
//!   `delete_by_key(db, key)`, `hard_delete(db, key)`, `restore(db, key)`,
//!   `model.upsert(db)`, `model.upsert_on(db, cols)` and `patch(key)`. Keys are passed by
//!   value everywhere (in [`Repository`] too); a method that takes a key, not a row, says
//!   so (`delete_by_key`) where a row-taking one has the same verb (`delete`);
//! - with `dto`: `ProductPatch` and `ProductOut` (below).
//!
//! Columns almacen maintains itself (see [`Managed`]); none of them is in `New<Model>`:
//! `created_at` and `updated_at` on a `DateTime<Utc>` (set on insert; `updated_at` on every
//! update too), `version` on an `i32`/`i64` (optimistic locking: an `update` of a row read
//! at an older version is [`Error::Conflict`]), and `soft_delete` on an
//! `Option<DateTime<Utc>>` (deleting marks the row; queries skip marked rows unless
//! `with_deleted()` / `only_deleted()`; `Model::restore` and `Model::hard_delete`).
//!
//! Relationships are constants on the models ([`BelongsTo`], [`HasMany`], [`HasOne`],
//! [`ManyToMany`]) loaded for whole result sets without N+1, or for one row, and chained
//! into the nested shape ([`Chain`]: `Author::BOOKS.then(Book::REVIEWS)`); see the
//! [`relation`] module example.
//!
//! `#[model(dto)]` on the struct also generates the API shapes (see the [`dto`] module
//! example): `New<Model>` becomes deserializable, `<Model>Patch` holds a [`Field`] per
//! column (absent, null or a value) and turns into a database patch, `<Model>Out` is the
//! output view. Field attributes for them: `hidden` (left out of `<Model>Out`, and never
//! taken from input: `New<Model>` skips it when deserializing, so the service sets it, and
//! `<Model>Patch` has no such field) and `rename = "name"` (the JSON name in all three).

#![warn(missing_docs)]

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
compile_error!("almacen needs at least one backend feature: \"sqlite\", \"postgres\" or \"mysql\"");

// The crate in four layers, each using only those below it: `orm` (models' reads and
// writes, relationships, DTOs) over `sql` (typed queries, schema) over `engine` (running
// statements: pool, executor, transactions, raw SQL, each dialect's connections) over
// `data` (model metadata, types, values, rows, errors). See docs/ARCHITECTURE.md.
mod data;
mod engine;
mod orm;
mod sql;

// The public modules, at the paths they have always had.
pub use data::json;
pub use orm::{dto, relation};
pub use sql::{introspect, query};

/// The DDL almacen writes for a model's table, piece by piece, for tools that write their
/// own (migrations): a column's definition, its CHECKs and default, the table options.
pub mod ddl {
    pub use crate::sql::column_sql::sql_type;
    pub use crate::sql::schema::{
        MYSQL_TABLE_OPTIONS, column_checks, column_def, create_table_sql, default_sql, dependency_order, on_delete_sql, sqlite_rowid_key,
    };
}

pub use almacen_macros::{DbEnum, FromRow, Model};

pub use data::dialect::Dialect;
pub use data::error::{DbErrorInfo, Error, Result};
pub use data::model::{
    ColumnMeta, ColumnType, ForeignKey, FromRow, IndexMeta, Keyed, Managed, Model, NewRecord, OnDelete, ServerDefault, TableMeta,
};
pub use data::row::{DbRow, Row};
#[cfg(feature = "sqlite")]
pub use data::sqlite::LiteRow;
pub use data::types::{DbEnumText, SqlType};
pub use data::value::{Kind, Value};

pub use engine::config::{ConnectOptions, JournalMode, Synchronous, redacted_url};
pub use engine::database::{Database, PoolStats};
pub use engine::executor::Executor;
pub use engine::listen::{Heard, Listener, Notification};
pub use engine::observe::StatementCounter;
pub use engine::raw::{NamedSql, NamedSqlError, Params, PlaceholderStyle};
pub use engine::statement::{ExecResult, Statement};
pub use engine::transaction::{IsolationLevel, RetryPolicy, Transaction, TxOptions};

pub use sql::introspect::{ColumnInfo, SchemaDifference, TableMismatch};
pub use sql::query::{Column, Condition, OrderBy};

pub use orm::crud::{DeleteWhere, Patch, UpdateWhere};
pub use orm::dto::Field;
pub use orm::relation::{BelongsTo, Chain, HasMany, HasOne, Load, ManyToMany, Relation};
pub use orm::repository::Repository;

/// The generic CRUD functions behind the methods `#[derive(Model)]` generates.
pub mod ops {
    pub use crate::orm::crud::{
        delete, get, get_for_update, hard_delete, insert, insert_many, insert_many_without_returning, restore, update, upsert,
    };
}

/// Re-exports for generated code; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::data::model::{BoundRow, ModelStatements};
    pub use crate::data::sqlite::{LiveRow, ValueRef};
    pub use crate::data::types::{decode_enum, decode_enum_sqlite, enum_from_value};
    pub use crate::data::value::now;
    pub use crate::orm::dto::null_error;
    pub use serde;

    /// Types `#[model(decimal(p, s))]` fits.
    #[diagnostic::on_unimplemented(
        message = "`decimal(p, s)` needs a `Decimal` field, not `{Self}`",
        label = "this field has `#[model(decimal(..))]`"
    )]
    pub trait DecimalField {}
    impl DecimalField for rust_decimal::Decimal {}
    impl DecimalField for Option<rust_decimal::Decimal> {}

    /// Types `#[model(max_len = N)]` fits.
    #[diagnostic::on_unimplemented(
        message = "`max_len` needs a `String` field, not `{Self}`",
        label = "this field has `#[model(max_len = ..)]`"
    )]
    pub trait TextField {}
    impl TextField for String {}
    impl TextField for Option<String> {}

    /// Types `#[model(auto)]` fits: integers the database generates.
    #[diagnostic::on_unimplemented(
        message = "`auto` needs an integer field (i16, i32 or i64), not `{Self}`",
        label = "this field has `#[model(auto)]`"
    )]
    pub trait IntegerField {}
    impl IntegerField for i16 {}
    impl IntegerField for i32 {}
    impl IntegerField for i64 {}

    /// A foreign key field's type (`Option` aside) is the referenced key's.
    #[diagnostic::on_unimplemented(
        message = "a foreign key of type `{Self}` cannot reference a key of type `{K}`",
        label = "the referencing field's type must be the referenced key's (or an `Option` of it)"
    )]
    pub trait ReferenceOf<K> {}
    impl<T> ReferenceOf<T> for T {}

    /// Checks, at compile time, that a field of type `F` may reference `column`.
    pub const fn check_reference<F: ReferenceOf<K::Inner>, M, K: crate::SqlType>(column: crate::Column<M, K>) {
        let _ = column;
    }
}

/// Re-exported crates whose types appear in models.
pub use chrono;
pub use rust_decimal;
pub use serde_json;
pub use uuid;

/// Everything a service module usually needs: `use almacen::prelude::*;`.
///
/// Only names a service types often are here, none a domain model is likely to take in a
/// module that also glob-imports its models (the ORDER BY key is `OrderBy`, not `Order`;
/// the patch tri-state `Field` stays at `almacen::Field`). A type of the service's own
/// with the same name as one here (`Page`, `Row`) simply shadows it: an explicit item or
/// import wins over a glob import without an error.
pub mod prelude {
    pub use crate::sql::query::{CursorKey, KeysetPage, Page, Select, avg, count, count_all, max, min, sum};
    pub use crate::{
        Column, Condition, Database, DbEnum, Error, Executor, FromRow, IsolationLevel, Model, OrderBy, Params, Repository, RetryPolicy,
        Row, Transaction, TxOptions, Value, params,
    };
    pub use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
    pub use rust_decimal::Decimal;
    pub use uuid::Uuid;
}

/// Misuse of `#[derive(Model)]` is a compile error that names the field. These examples
/// must not compile:
///
/// An unknown attribute:
/// ```compile_fail
/// use almacen::prelude::*;
/// #[derive(Model)]
/// struct A { #[model(primary_key, sizee = 3)] id: i64 }
/// ```
/// A field type that is not a column type:
/// ```compile_fail
/// use almacen::prelude::*;
/// struct Opaque;
/// #[derive(Model)]
/// struct B { #[model(primary_key)] id: i64, blob: Opaque }
/// ```
/// Two primary keys without `#[model(composite)]`:
/// ```compile_fail
/// use almacen::prelude::*;
/// #[derive(Model)]
/// struct C { #[model(primary_key)] a: i64, #[model(primary_key)] b: i64 }
/// ```
/// A decimal without precision and scale:
/// ```compile_fail
/// use almacen::prelude::*;
/// #[derive(Model)]
/// struct D { #[model(primary_key)] id: i64, price: Decimal }
/// ```
/// A managed column of the wrong type (a version must be an integer):
/// ```compile_fail
/// use almacen::prelude::*;
/// #[derive(Model)]
/// struct F { #[model(primary_key)] id: i64, #[model(version)] version: String }
/// ```
/// Two soft-delete columns:
/// ```compile_fail
/// use almacen::prelude::*;
/// #[derive(Model)]
/// struct G { #[model(primary_key)] id: i64, #[model(soft_delete)] a: Option<DateTime<Utc>>, #[model(soft_delete)] b: Option<DateTime<Utc>> }
/// ```
/// A soft-delete column that is not nullable:
/// ```compile_fail
/// use almacen::prelude::*;
/// #[derive(Model)]
/// struct H { #[model(primary_key)] id: i64, #[model(soft_delete)] gone: DateTime<Utc> }
/// ```
/// And the same structs with the misuse fixed compile:
/// ```
/// use almacen::prelude::*;
/// #[derive(Model)]
/// #[model(composite)]
/// struct E { #[model(primary_key)] a: i64, #[model(primary_key)] b: i64, #[model(decimal(10, 2))] price: Decimal }
/// #[derive(Model)]
/// struct F {
///     #[model(primary_key)] id: i64,
///     #[model(version)] version: i64,
///     #[model(created_at)] created_at: DateTime<Utc>,
///     #[model(updated_at)] updated_at: DateTime<Utc>,
///     #[model(soft_delete)] deleted_at: Option<DateTime<Utc>>,
/// }
/// ```
#[doc(hidden)]
pub mod _compile_checks {}
