//! What a live table looks like, and how it differs from a model.
//!
//! [`table_columns`] reads an existing table's columns (name, type, nullability, primary
//! key) from the database itself: `information_schema` of the current schema on PostgreSQL
//! and of the current database on MariaDB, `pragma_table_info` on SQLite. Types are
//! normalised to the spelling almacen's `CREATE TABLE` writes, so a
//! table almacen created compares equal to its model, and [`schema_diff`] lists what
//! differs. [`Database::create_tables`](crate::Database::create_tables) refuses a table that
//! differs; migrations build on the same comparison.
//!
//! Types are compared as each dialect declares them, not by their CHECK constraints: where
//! two portable types share a declared type (on SQLite every integer width and `bool` are
//! `INTEGER`; text, dates, times, timestamps, JSON and enums are `TEXT`; on every dialect an
//! enum is text), a change between them is not seen.

use crate::data::dialect::Dialect;
use crate::data::error::{Error, Result};
pub use crate::data::mismatch::{SchemaDifference, TableMismatch};
use crate::data::model::{ColumnMeta, TableMeta};
use crate::data::row::Row;
use crate::data::value::Value;
use crate::engine::database::Database;
use crate::engine::executor::Executor;
use crate::engine::raw::params;

/// One column of a live table, as the database reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ColumnInfo {
    /// The column name.
    pub name: String,
    /// The column type, normalised to the spelling almacen's DDL uses on this dialect:
    /// upper case, no spaces inside parentheses, aliases resolved (`int(11)` → `INT`,
    /// `tinyint(1)` → `BOOLEAN`, `timestamp with time zone` → `TIMESTAMPTZ`,
    /// `character varying(40)` → `VARCHAR(40)`, `numeric(12,2)` → `NUMERIC(12,2)`). Empty
    /// for a SQLite column declared without a type.
    pub sql_type: String,
    /// Whether the column accepts NULL.
    pub nullable: bool,
    /// The column's 1-based position in the primary key, when it is part of it.
    pub primary_key: Option<u32>,
}

impl ColumnInfo {
    /// A column description (for comparing with [`schema_diff`] without a database).
    pub fn new(name: impl Into<String>, sql_type: impl Into<String>, nullable: bool, primary_key: Option<u32>) -> Self {
        ColumnInfo { name: name.into(), sql_type: sql_type.into(), nullable, primary_key }
    }
}

/// Upper case, single spaces, none around parentheses and commas: a declared type in the
/// spelling comparisons use.
///
/// ```
/// assert_eq!(almacen::introspect::canonical_type("numeric( 12, 2 )"), "NUMERIC(12,2)");
/// assert_eq!(almacen::introspect::canonical_type("double   precision"), "DOUBLE PRECISION");
/// ```
pub fn canonical_type(declared: &str) -> String {
    let upper = declared.split_whitespace().collect::<Vec<_>>().join(" ").to_uppercase();
    let mut out = String::with_capacity(upper.len());
    let chars: Vec<char> = upper.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let prev = out.chars().last();
            let next = chars.get(i + 1).copied();
            if matches!(prev, Some('(' | ',')) || matches!(next, Some('(' | ')' | ',')) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// The type almacen's `CREATE TABLE` gives `column` on `dialect`, normalised as
/// [`ColumnInfo::sql_type`] is (an error for a column almacen cannot create).
pub fn model_column_type(column: &ColumnMeta, dialect: Dialect) -> Result<String> {
    let declared = crate::sql::column_sql::sql_type(column, dialect)?;
    // SQLite's declared type stops before the column's COLLATE clause.
    let declared = match declared.find(" COLLATE ") {
        Some(i) if dialect == Dialect::Sqlite => &declared[..i],
        _ => &declared[..],
    };
    Ok(canonical_type(declared))
}

/// Whether the model's column accepts NULL as the database will report it (the servers make
/// every primary key column NOT NULL).
fn model_nullable(column: &ColumnMeta, dialect: Dialect) -> bool {
    column.nullable && (dialect == Dialect::Sqlite || !column.primary_key)
}

fn same_name(a: &str, b: &str, dialect: Dialect) -> bool {
    match dialect {
        // Quoted identifiers are case-sensitive on PostgreSQL only.
        Dialect::Postgres => a == b,
        Dialect::Sqlite | Dialect::MySql => a.eq_ignore_ascii_case(b),
    }
}

/// Compare a model's table with the columns of the live table ([`table_columns`]): every
/// missing or extra column, type, nullability and primary key difference, in model order
/// (empty when they match). Fails only for a model almacen cannot create a table for.
///
/// ```
/// use almacen::prelude::*;
/// use almacen::Dialect;
/// use almacen::introspect::{ColumnInfo, SchemaDifference, schema_diff};
///
/// #[derive(Model)]
/// #[model(table = "products")]
/// struct Product {
///     #[model(primary_key, auto)]
///     id: i64,
///     #[model(decimal(12, 2))]
///     price: Decimal,
/// }
///
/// let live = [ColumnInfo::new("id", "BIGINT", false, Some(1)), ColumnInfo::new("price", "INTEGER", true, None)];
/// let diff = schema_diff(Product::TABLE, &live, Dialect::Postgres).unwrap();
/// assert_eq!(diff[0].to_string(), r#"column "price": model has NUMERIC(12,2), table has INTEGER"#);
/// assert!(matches!(diff[1], SchemaDifference::Nullability { model_nullable: false, .. }));
/// ```
pub fn schema_diff(table: &TableMeta, columns: &[ColumnInfo], dialect: Dialect) -> Result<Vec<SchemaDifference>> {
    let mut out = Vec::new();
    let mut matched = vec![false; columns.len()];
    for c in table.columns {
        let model_type = model_column_type(c, dialect)?;
        let nullable = model_nullable(c, dialect);
        let Some(i) = columns.iter().enumerate().position(|(i, l)| !matched[i] && same_name(&l.name, c.name, dialect)) else {
            out.push(SchemaDifference::MissingColumn { column: c.name.into(), model_type, model_nullable: nullable });
            continue;
        };
        matched[i] = true;
        let live = &columns[i];
        if live.sql_type != model_type {
            out.push(SchemaDifference::Type { column: c.name.into(), model_type, table_type: live.sql_type.clone() });
        }
        if live.nullable != nullable {
            out.push(SchemaDifference::Nullability { column: c.name.into(), model_nullable: nullable });
        }
    }
    for (live, _) in columns.iter().zip(&matched).filter(|(_, m)| !**m) {
        out.push(SchemaDifference::ExtraColumn {
            column: live.name.clone(),
            table_type: live.sql_type.clone(),
            table_nullable: live.nullable,
        });
    }
    let model_key: Vec<String> = table.primary_key().map(|c| c.name.to_string()).collect();
    let mut live_key: Vec<&ColumnInfo> = columns.iter().filter(|c| c.primary_key.is_some()).collect();
    live_key.sort_by_key(|c| c.primary_key);
    let live_key: Vec<String> = live_key.into_iter().map(|c| c.name.clone()).collect();
    let same_key = model_key.len() == live_key.len() && model_key.iter().zip(&live_key).all(|(m, l)| same_name(m, l, dialect));
    if !same_key {
        out.push(SchemaDifference::PrimaryKey { model: model_key, table: live_key });
    }
    Ok(out)
}

/// Text of a catalog cell (MariaDB reports some as binary strings).
fn text(row: &Row, column: &str) -> Result<String> {
    match row.value(column) {
        Some(Value::Text(t)) => Ok(t.clone()),
        Some(Value::Bytes(b)) => String::from_utf8(b.clone()).map_err(|e| Error::decode(column, e)),
        Some(Value::Null(_)) => Ok(String::new()),
        Some(other) => Err(Error::decode(column, format!("expected text from the catalog, found {other:?}"))),
        None => Err(Error::decode(column, "no such column in the catalog row")),
    }
}

fn number(row: &Row, column: &str) -> Result<Option<i64>> {
    match row.value(column) {
        Some(Value::Null(_)) => Ok(None),
        _ => row.get::<i64>(column).map(Some),
    }
}

/// The columns of table `table` in the current schema (PostgreSQL), database (MariaDB) or
/// main database (SQLite), in table order; `None` when there is no such table. The name is
/// bound as a parameter, never spliced into the SQL.
///
/// ```no_run
/// # async fn f(db: &almacen::Database) -> almacen::Result<()> {
/// if let Some(columns) = almacen::introspect::table_columns(db, "products").await? {
///     for c in columns {
///         println!("{} {} {}", c.name, c.sql_type, if c.nullable { "NULL" } else { "NOT NULL" });
///     }
/// }
/// # Ok(()) }
/// ```
pub async fn table_columns(ex: &impl Executor, table: &str) -> Result<Option<Vec<ColumnInfo>>> {
    let columns = match ex.dialect() {
        Dialect::Sqlite => sqlite_columns(ex, table).await?,
        Dialect::Postgres => postgres_columns(ex, table).await?,
        Dialect::MySql => mysql_columns(ex, table).await?,
    };
    if !columns.is_empty() {
        return Ok(Some(columns));
    }
    // A server table can have no columns at all (SQLite's cannot).
    let exists = match ex.dialect() {
        Dialect::Sqlite => false,
        Dialect::Postgres => {
            let sql = "SELECT 1 AS one FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = :table";
            ex.fetch_optional_raw(sql, params! { "table" => table }).await?.is_some()
        }
        Dialect::MySql => {
            let sql = "SELECT 1 AS one FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table";
            ex.fetch_optional_raw(sql, params! { "table" => table }).await?.is_some()
        }
    };
    Ok(exists.then_some(columns))
}

async fn sqlite_columns(ex: &impl Executor, table: &str) -> Result<Vec<ColumnInfo>> {
    let sql = r#"SELECT name, type, "notnull" AS not_null, pk FROM pragma_table_info(:table, 'main') ORDER BY cid"#;
    let rows = ex.fetch_all_raw(sql, params! { "table" => table }).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let pk = number(row, "pk")?.unwrap_or(0);
        out.push(ColumnInfo {
            name: text(row, "name")?,
            sql_type: canonical_type(&text(row, "type")?),
            nullable: number(row, "not_null")? == Some(0),
            primary_key: u32::try_from(pk).ok().filter(|p| *p > 0),
        });
    }
    // The one INTEGER PRIMARY KEY column is the rowid: never NULL, NOT NULL written or not.
    let key: Vec<usize> = (0..out.len()).filter(|i| out[*i].primary_key.is_some()).collect();
    if let [k] = key[..]
        && out[k].sql_type == "INTEGER"
    {
        out[k].nullable = false;
    }
    Ok(out)
}

async fn postgres_columns(ex: &impl Executor, table: &str) -> Result<Vec<ColumnInfo>> {
    // information_schema's own domains (sql_identifier, cardinal_number, …) are cast to
    // plain types.
    let sql = "SELECT CAST(c.column_name AS TEXT) AS name, CAST(c.data_type AS TEXT) AS data_type, \
               CAST(c.udt_name AS TEXT) AS udt_name, CAST(c.is_nullable AS TEXT) AS is_nullable, \
               CAST(c.character_maximum_length AS BIGINT) AS char_len, CAST(c.numeric_precision AS BIGINT) AS num_precision, \
               CAST(c.numeric_scale AS BIGINT) AS num_scale, CAST(c.datetime_precision AS BIGINT) AS dt_precision, \
               (SELECT CAST(k.ordinal_position AS BIGINT) FROM information_schema.table_constraints t \
                  JOIN information_schema.key_column_usage k \
                    ON k.constraint_schema = t.constraint_schema AND k.constraint_name = t.constraint_name \
                   AND k.table_schema = t.table_schema AND k.table_name = t.table_name \
                 WHERE t.constraint_type = 'PRIMARY KEY' AND t.table_schema = c.table_schema \
                   AND t.table_name = c.table_name AND k.column_name = c.column_name) AS pk \
               FROM information_schema.columns c \
               WHERE c.table_schema = current_schema() AND c.table_name = :table ORDER BY c.ordinal_position";
    let rows = ex.fetch_all_raw(sql, params! { "table" => table }).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let data_type = text(row, "data_type")?;
        let len = number(row, "char_len")?;
        let (precision, scale) = (number(row, "num_precision")?, number(row, "num_scale")?);
        let dt_precision = number(row, "dt_precision")?;
        let with_len = |name: &str| match len {
            Some(n) => format!("{name}({n})"),
            None => name.to_string(),
        };
        // Six digits (microseconds) is the default precision: left unsaid, as the DDL does.
        let with_precision = |name: &str| match dt_precision {
            Some(p) if p != 6 => format!("{name}({p})"),
            _ => name.to_string(),
        };
        let sql_type = match data_type.as_str() {
            "character varying" => with_len("VARCHAR"),
            "character" => with_len("CHAR"),
            "text" => "TEXT".into(),
            "smallint" => "SMALLINT".into(),
            "integer" => "INTEGER".into(),
            "bigint" => "BIGINT".into(),
            "real" => "REAL".into(),
            "double precision" => "DOUBLE PRECISION".into(),
            "numeric" => match (precision, scale) {
                (Some(p), Some(s)) => format!("NUMERIC({p},{s})"),
                (Some(p), None) => format!("NUMERIC({p})"),
                _ => "NUMERIC".into(),
            },
            "boolean" => "BOOLEAN".into(),
            "uuid" => "UUID".into(),
            "timestamp with time zone" => with_precision("TIMESTAMPTZ"),
            "timestamp without time zone" => with_precision("TIMESTAMP"),
            "time without time zone" => with_precision("TIME"),
            "time with time zone" => with_precision("TIMETZ"),
            "date" => "DATE".into(),
            "jsonb" => "JSONB".into(),
            "json" => "JSON".into(),
            "bytea" => "BYTEA".into(),
            // Arrays, enums, domains and the rest: the type's own name.
            "ARRAY" | "USER-DEFINED" => canonical_type(&text(row, "udt_name")?),
            other => canonical_type(other),
        };
        out.push(ColumnInfo {
            name: text(row, "name")?,
            sql_type,
            nullable: text(row, "is_nullable")? == "YES",
            primary_key: number(row, "pk")?.and_then(|p| u32::try_from(p).ok()),
        });
    }
    Ok(out)
}

/// MariaDB's column type, normalised: integer display widths dropped, `tinyint(1)` (what
/// `BOOLEAN` is) as `BOOLEAN`, and a `longtext` with MariaDB's own `json_valid` check (what
/// `JSON` is) as `JSON`.
fn mysql_type(column_type: &str, json: bool) -> String {
    let t = canonical_type(column_type);
    if t == "TINYINT(1)" {
        return "BOOLEAN".into();
    }
    if t == "LONGTEXT" && json {
        return "JSON".into();
    }
    for int in ["TINYINT", "SMALLINT", "MEDIUMINT", "BIGINT", "INT"] {
        if let Some(rest) = t.strip_prefix(int).and_then(|r| r.strip_prefix('('))
            && let Some((digits, tail)) = rest.split_once(')')
            && digits.chars().all(|c| c.is_ascii_digit())
        {
            return format!("{int}{tail}");
        }
    }
    t
}

async fn mysql_columns(ex: &impl Executor, table: &str) -> Result<Vec<ColumnInfo>> {
    let sql = "SELECT c.COLUMN_NAME AS name, c.COLUMN_TYPE AS column_type, c.IS_NULLABLE AS is_nullable, \
               (SELECT CAST(k.ORDINAL_POSITION AS SIGNED) FROM information_schema.KEY_COLUMN_USAGE k \
                 WHERE k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME \
                   AND k.CONSTRAINT_NAME = 'PRIMARY' AND k.COLUMN_NAME = c.COLUMN_NAME) AS pk \
               FROM information_schema.COLUMNS c \
               WHERE c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME = :table ORDER BY c.ORDINAL_POSITION";
    let rows = ex.fetch_all_raw(sql, params! { "table" => table }).await?;
    let mut raw = Vec::with_capacity(rows.len());
    for row in &rows {
        raw.push((text(row, "name")?, text(row, "column_type")?, text(row, "is_nullable")? == "YES", number(row, "pk")?));
    }
    // MariaDB's JSON is a LONGTEXT with a column CHECK (json_valid(`col`)) named after it.
    let mut json_checks = Vec::new();
    if raw.iter().any(|(_, t, _, _)| t.eq_ignore_ascii_case("longtext")) {
        let sql = "SELECT CONSTRAINT_NAME AS name, CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS \
                   WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = :table";
        for row in ex.fetch_all_raw(sql, params! { "table" => table }).await? {
            json_checks.push((text(&row, "name")?, text(&row, "clause")?));
        }
    }
    Ok(raw
        .into_iter()
        .map(|(name, column_type, nullable, pk)| {
            let json_clause = format!("json_valid({})", Dialect::MySql.quote(&name));
            let json = json_checks.iter().any(|(n, clause)| *n == name && clause.eq_ignore_ascii_case(&json_clause));
            ColumnInfo { sql_type: mysql_type(&column_type, json), name, nullable, primary_key: pk.and_then(|p| u32::try_from(p).ok()) }
        })
        .collect())
}

impl Database {
    /// The columns of table `name` as the database has them, or `None` when there is no
    /// such table (see [`table_columns`]).
    pub async fn table_columns(&self, name: &str) -> Result<Option<Vec<ColumnInfo>>> {
        table_columns(self, name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_normalised() {
        assert_eq!(canonical_type("numeric( 12 , 2 )"), "NUMERIC(12,2)");
        assert_eq!(canonical_type("  double   precision "), "DOUBLE PRECISION");
        assert_eq!(canonical_type("DECIMAL_REAL(12, 2)"), "DECIMAL_REAL(12,2)");
        assert_eq!(mysql_type("int(11)", false), "INT");
        assert_eq!(mysql_type("int(10) unsigned", false), "INT UNSIGNED");
        assert_eq!(mysql_type("bigint(20)", false), "BIGINT");
        assert_eq!(mysql_type("tinyint(1)", false), "BOOLEAN");
        assert_eq!(mysql_type("tinyint(4)", false), "TINYINT");
        assert_eq!(mysql_type("longtext", true), "JSON");
        assert_eq!(mysql_type("longtext", false), "LONGTEXT");
        assert_eq!(mysql_type("decimal(12,2)", false), "DECIMAL(12,2)");
        assert_eq!(mysql_type("varbinary(16)", false), "VARBINARY(16)");
    }
}
