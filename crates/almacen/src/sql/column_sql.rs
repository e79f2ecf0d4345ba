//! How a model's column is spelled in each dialect's DDL: its type, and the length limit
//! on the names of constraints. Shared by `schema` (which writes the DDL) and `introspect`
//! (which compares a live table with it).

use crate::data::dialect::Dialect;
use crate::data::error::{Error, Result};
use crate::data::model::{ColumnMeta, ColumnType};

/// The largest decimal precision a column may declare: `rust_decimal` holds 28 digits exactly.
pub const MAX_DECIMAL_PRECISION: u32 = 28;

/// Identifiers PostgreSQL would cut at 63 bytes are shortened here, so names stay stable.
pub(crate) fn ident_name(name: String) -> String {
    if name.len() <= 63 {
        return name;
    }
    let mut cut = 63;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    name[..cut].to_string()
}

/// A column's type as this dialect's DDL spells it (refusing what it cannot hold).
pub fn sql_type(c: &ColumnMeta, d: Dialect) -> Result<String> {
    Ok(match (c.ty, d) {
        (ColumnType::Text { max_len: Some(n) }, Dialect::Postgres | Dialect::MySql) => format!("VARCHAR({n})"),
        (ColumnType::Text { max_len: None }, Dialect::MySql) => {
            if c.primary_key || c.unique || c.indexed {
                return Err(Error::Unsupported(format!(
                    "column {} is indexed text without max_len: MariaDB cannot index unbounded text; add #[model(max_len = N)]",
                    c.name
                )));
            }
            "LONGTEXT".into()
        }
        (ColumnType::Text { .. }, _) => "TEXT".into(),
        (ColumnType::SmallInt, Dialect::Sqlite) | (ColumnType::Integer, Dialect::Sqlite) | (ColumnType::BigInt, Dialect::Sqlite) => {
            "INTEGER".into()
        }
        (ColumnType::SmallInt, _) => "SMALLINT".into(),
        (ColumnType::Integer, Dialect::Postgres) => "INTEGER".into(),
        (ColumnType::Integer, Dialect::MySql) => "INT".into(),
        (ColumnType::BigInt, _) => "BIGINT".into(),
        (ColumnType::Float, Dialect::MySql) => "FLOAT".into(),
        (ColumnType::Float, _) => "REAL".into(),
        (ColumnType::Double, Dialect::Postgres) => "DOUBLE PRECISION".into(),
        (ColumnType::Double, Dialect::MySql) => "DOUBLE".into(),
        (ColumnType::Double, Dialect::Sqlite) => "REAL".into(),
        (ColumnType::Decimal { precision, scale }, _) if precision == 0 || precision > MAX_DECIMAL_PRECISION || scale > precision => {
            return Err(Error::Unsupported(format!(
                "column {}: decimal({precision}, {scale}) needs a precision of 1 to {MAX_DECIMAL_PRECISION} (the digits rust_decimal holds exactly on every dialect) and a scale no larger",
                c.name
            )));
        }
        (ColumnType::Decimal { precision, scale }, Dialect::Sqlite) => crate::data::sqlite::decimal::column_sql(precision, scale),
        (ColumnType::Decimal { precision, scale }, Dialect::Postgres) => format!("NUMERIC({precision}, {scale})"),
        (ColumnType::Decimal { precision, scale }, Dialect::MySql) => format!("DECIMAL({precision}, {scale})"),
        (ColumnType::Bool, Dialect::Sqlite) => "INTEGER".into(),
        (ColumnType::Bool, _) => "BOOLEAN".into(),
        (ColumnType::Uuid, Dialect::Sqlite) => "BLOB".into(),
        (ColumnType::Uuid, Dialect::Postgres) => "UUID".into(),
        // Not BINARY(16): it pads a shorter value with zero bytes before any CHECK sees it.
        (ColumnType::Uuid, Dialect::MySql) => "VARBINARY(16)".into(),
        (ColumnType::Timestamp, Dialect::Sqlite) => "TEXT".into(),
        (ColumnType::Timestamp, Dialect::Postgres) => "TIMESTAMPTZ".into(),
        (ColumnType::Timestamp, Dialect::MySql) => "DATETIME(6)".into(),
        (ColumnType::Date, Dialect::Sqlite) => "TEXT".into(),
        (ColumnType::Date, _) => "DATE".into(),
        (ColumnType::Time, Dialect::Sqlite) => "TEXT".into(),
        (ColumnType::Time, Dialect::Postgres) => "TIME".into(),
        (ColumnType::Time, Dialect::MySql) => "TIME(6)".into(),
        (ColumnType::Json, Dialect::Sqlite) => "TEXT".into(),
        (ColumnType::Json, Dialect::Postgres) => "JSONB".into(),
        (ColumnType::Json, Dialect::MySql) => "JSON".into(),
        (ColumnType::Bytes, Dialect::Sqlite) => "BLOB".into(),
        (ColumnType::Bytes, Dialect::Postgres) => "BYTEA".into(),
        (ColumnType::Bytes, Dialect::MySql) => "LONGBLOB".into(),
        (ColumnType::Enum { variants }, Dialect::MySql) => {
            let longest = variants.iter().map(|v| v.chars().count()).max().unwrap_or(1).max(1);
            format!("VARCHAR({longest})")
        }
        (ColumnType::Enum { .. }, _) => "TEXT".into(),
    })
}
