//! Result rows: the driver's row (`DbRow`) and the column→value map of raw SQL (`Row`).

use crate::value::unscale_decimal;
use crate::{Dialect, Error, Kind, Result, SqlType, Value};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::ser::{Serialize, SerializeMap, Serializer};
use sqlx::{Column as _, Row as _, TypeInfo as _, ValueRef as _};

/// A row as the driver returned it. Decoding reads straight from it, without copies.
#[derive(Debug)]
pub enum DbRow {
    /// A SQLite row.
    Sqlite(crate::sqlite::LiteRow),
    /// A PostgreSQL row.
    Postgres(sqlx::postgres::PgRow),
    /// A MySQL/MariaDB row.
    MySql(sqlx::mysql::MySqlRow),
}

/// A type every driver can decode straight from a column.
pub(crate) trait DriverDecode:
    crate::sqlite::LiteDecode
    + for<'r> sqlx::Decode<'r, sqlx::Postgres>
    + sqlx::Type<sqlx::Postgres>
    + for<'r> sqlx::Decode<'r, sqlx::MySql>
    + sqlx::Type<sqlx::MySql>
{
}
impl<T> DriverDecode for T where
    T: crate::sqlite::LiteDecode
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
        + for<'r> sqlx::Decode<'r, sqlx::MySql>
        + sqlx::Type<sqlx::MySql>
{
}

impl DbRow {
    /// The dialect the row came from.
    pub fn dialect(&self) -> Dialect {
        match self {
            DbRow::Sqlite(_) => Dialect::Sqlite,
            DbRow::Postgres(_) => Dialect::Postgres,
            DbRow::MySql(_) => Dialect::MySql,
        }
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        match self {
            DbRow::Sqlite(r) => r.len(),
            DbRow::Postgres(r) => r.len(),
            DbRow::MySql(r) => r.len(),
        }
    }

    /// True when the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name of column `idx`.
    pub fn column_name(&self, idx: usize) -> &str {
        match self {
            DbRow::Sqlite(r) => r.column_name(idx),
            DbRow::Postgres(r) => r.columns()[idx].name(),
            DbRow::MySql(r) => r.columns()[idx].name(),
        }
    }

    /// The index of the column called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        (0..self.len()).find(|&i| self.column_name(i) == name)
    }

    /// Whether column `idx` is NULL.
    pub fn is_null(&self, idx: usize) -> Result<bool> {
        let null = match self {
            DbRow::Sqlite(r) => {
                return r.at(idx).map(|v| matches!(v, rusqlite::types::ValueRef::Null)).map_err(|e| Error::decode(idx.to_string(), e));
            }
            DbRow::Postgres(r) => r.try_get_raw(idx).map(|v| v.is_null()),
            DbRow::MySql(r) => r.try_get_raw(idx).map(|v| v.is_null()),
        };
        null.map_err(|e| Error::decode(idx.to_string(), e))
    }

    /// Decode column `idx` with the driver's own decoder.
    pub(crate) fn get<T: DriverDecode>(&self, idx: usize) -> Result<T> {
        let r = match self {
            DbRow::Sqlite(r) => return r.at(idx).and_then(T::lite).map_err(|e| self.decode_error(idx, e)),
            DbRow::Postgres(r) => r.try_get::<T, _>(idx),
            DbRow::MySql(r) => r.try_get::<T, _>(idx),
        };
        r.map_err(|e| self.decode_error(idx, e))
    }

    /// Decode column `idx` of a PostgreSQL row (types only PostgreSQL decodes).
    pub(crate) fn get_pg<T>(&self, r: &sqlx::postgres::PgRow, idx: usize) -> Result<T>
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        r.try_get::<T, _>(idx).map_err(|e| self.decode_error(idx, e))
    }

    /// Decode column `idx` of a MySQL row (types only MySQL decodes).
    pub(crate) fn get_my<T>(&self, r: &sqlx::mysql::MySqlRow, idx: usize) -> Result<T>
    where
        T: for<'r> sqlx::Decode<'r, sqlx::MySql> + sqlx::Type<sqlx::MySql>,
    {
        r.try_get::<T, _>(idx).map_err(|e| self.decode_error(idx, e))
    }

    pub(crate) fn decode_error(&self, idx: usize, e: impl std::fmt::Display) -> Error {
        let name = if idx < self.len() { self.column_name(idx).to_string() } else { format!("#{idx}") };
        Error::decode(name, e)
    }

    /// Decode column `idx` into a [`Value`], choosing the variant from the column's type.
    pub fn value(&self, idx: usize) -> Result<Value> {
        if self.is_null(idx)? {
            return Ok(Value::Null(Kind::Unknown));
        }
        match self {
            DbRow::Sqlite(r) => {
                use rusqlite::types::ValueRef as L;
                Ok(match r.at(idx).map_err(|e| self.decode_error(idx, e))? {
                    L::Null => Value::Null(Kind::Unknown),
                    L::Integer(i) => Value::Int(i),
                    L::Real(f) => Value::Float(f),
                    L::Text(_) => Value::Text(self.get::<String>(idx)?),
                    L::Blob(b) => Value::Bytes(b.to_vec()),
                })
            }
            DbRow::Postgres(r) => {
                let raw = r.try_get_raw(idx).map_err(|e| self.decode_error(idx, e))?;
                let ty = raw.type_info().name().to_string();
                Ok(match ty.as_str() {
                    "BOOL" => Value::Bool(self.get(idx)?),
                    "INT2" => Value::Int(self.get::<i16>(idx)? as i64),
                    "INT4" => Value::Int(self.get::<i32>(idx)? as i64),
                    "INT8" => Value::Int(self.get::<i64>(idx)?),
                    "FLOAT4" => Value::Float(self.get::<f32>(idx)? as f64),
                    "FLOAT8" => Value::Float(self.get::<f64>(idx)?),
                    "NUMERIC" => Value::Decimal(self.get_pg::<Decimal>(r, idx)?),
                    "BYTEA" => Value::Bytes(self.get(idx)?),
                    "UUID" => Value::Uuid(self.get(idx)?),
                    "TIMESTAMPTZ" => Value::Timestamp(self.get(idx)?),
                    "TIMESTAMP" => Value::Timestamp(self.get::<NaiveDateTime>(idx)?.and_utc()),
                    "DATE" => Value::Date(self.get(idx)?),
                    "TIME" => Value::Time(self.get(idx)?),
                    "JSON" | "JSONB" => Value::Json(self.get::<sqlx::types::Json<serde_json::Value>>(idx)?.0),
                    _ => Value::Text(
                        self.get::<String>(idx)
                            .map_err(|_| self.decode_error(idx, format!("PostgreSQL type {ty} has no almacen value")))?,
                    ),
                })
            }
            DbRow::MySql(r) => {
                let raw = r.try_get_raw(idx).map_err(|e| self.decode_error(idx, e))?;
                let ty = raw.type_info().name().to_string();
                Ok(match ty.as_str() {
                    "BOOLEAN" => Value::Bool(self.get(idx)?),
                    "TINYINT" | "SMALLINT" | "INT" | "MEDIUMINT" | "BIGINT" => Value::Int(self.get::<i64>(idx)?),
                    "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "INT UNSIGNED" | "MEDIUMINT UNSIGNED" | "BIGINT UNSIGNED" => {
                        let v = self.get_my::<u64>(r, idx)?;
                        Value::Int(i64::try_from(v).map_err(|e| self.decode_error(idx, e))?)
                    }
                    "FLOAT" => Value::Float(self.get::<f32>(idx)? as f64),
                    "DOUBLE" => Value::Float(self.get::<f64>(idx)?),
                    "DECIMAL" => Value::Decimal(self.get_my::<Decimal>(r, idx)?),
                    "DATETIME" | "TIMESTAMP" => Value::Timestamp(self.get::<NaiveDateTime>(idx)?.and_utc()),
                    "DATE" => Value::Date(self.get(idx)?),
                    "TIME" => Value::Time(self.get(idx)?),
                    "JSON" => Value::Json(self.get::<sqlx::types::Json<serde_json::Value>>(idx)?.0),
                    // Text in a *_bin collation carries the BINARY flag too: the driver's
                    // String check (which looks at the collation) tells text from bytes.
                    "BINARY" | "VARBINARY" | "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" => match self.get_my::<String>(r, idx) {
                        Ok(text) => Value::Text(text),
                        Err(_) => Value::Bytes(self.get(idx)?),
                    },
                    "BIT" => Value::Bytes(self.get(idx)?),
                    _ => Value::Text(self.get::<String>(idx)?),
                })
            }
        }
    }

    /// Decode column `idx` as `T`, through its [`Value`] (lenient about integer widths and
    /// numeric types, for aggregates and raw SQL).
    pub fn get_as<T: SqlType>(&self, idx: usize) -> Result<T> {
        let v = self.value(idx)?;
        T::from_value(v).map_err(|m| self.decode_error(idx, m))
    }
}

/// Helpers shared by [`SqlType`] implementations for dialect-specific storage.
pub(crate) fn decode_timestamp(row: &DbRow, idx: usize) -> Result<DateTime<Utc>> {
    match row {
        DbRow::Postgres(_) => row.get::<DateTime<Utc>>(idx),
        DbRow::MySql(_) => Ok(row.get::<NaiveDateTime>(idx)?.and_utc()),
        DbRow::Sqlite(_) => parse_timestamp(&row.get::<String>(idx)?).map_err(|e| row.decode_error(idx, e)),
    }
}

/// Parse the timestamp text SQLite holds (RFC 3339, or SQLite's own `YYYY-MM-DD HH:MM:SS`).
pub(crate) fn parse_timestamp(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").map(|t| t.and_utc()).map_err(|e| format!("{s:?} is not a timestamp: {e}"))
}

pub(crate) fn decode_uuid(row: &DbRow, idx: usize) -> Result<uuid::Uuid> {
    match row {
        DbRow::Postgres(_) => row.get::<uuid::Uuid>(idx),
        _ => {
            let bytes = row.get::<Vec<u8>>(idx)?;
            uuid::Uuid::from_slice(&bytes).map_err(|e| row.decode_error(idx, e))
        }
    }
}

pub(crate) fn decode_decimal(row: &DbRow, idx: usize, scale: Option<u32>) -> Result<Decimal> {
    match row {
        DbRow::Sqlite(_) => match scale {
            Some(s) => Ok(unscale_decimal(row.get::<i64>(idx)?, s)),
            None => match row.value(idx)? {
                Value::Int(i) => Ok(Decimal::from(i)),
                Value::Float(f) => Decimal::try_from(f).map_err(|e| row.decode_error(idx, e)),
                Value::Text(t) => t.parse().map_err(|e| row.decode_error(idx, e)),
                other => Err(row.decode_error(idx, format!("{other:?} is not a decimal"))),
            },
        },
        DbRow::Postgres(r) => row.get_pg::<Decimal>(r, idx).map(|d| at_scale(d, scale)),
        DbRow::MySql(r) => row.get_my::<Decimal>(r, idx).map(|d| at_scale(d, scale)),
    }
}

/// Decimals read back with the column's scale on every dialect (`5.5` in a scale-2 column
/// reads as `5.50`; PostgreSQL would give `0` for `0.00`).
fn at_scale(mut d: Decimal, scale: Option<u32>) -> Decimal {
    if let Some(s) = scale {
        d.rescale(s);
    }
    d
}

pub(crate) fn decode_json(row: &DbRow, idx: usize) -> Result<serde_json::Value> {
    match row {
        DbRow::Postgres(_) => Ok(row.get::<sqlx::types::Json<serde_json::Value>>(idx)?.0),
        _ => {
            let text = row.get::<String>(idx)?;
            serde_json::from_str(&text).map_err(|e| row.decode_error(idx, e))
        }
    }
}

pub(crate) fn decode_date(row: &DbRow, idx: usize) -> Result<NaiveDate> {
    row.get::<NaiveDate>(idx)
}

pub(crate) fn decode_time(row: &DbRow, idx: usize) -> Result<NaiveTime> {
    row.get::<NaiveTime>(idx)
}

/// A row of a raw SQL result: columns in the order the database returned them, each
/// with its value. Serialises to a JSON object.
///
/// ```
/// use almacen::{Row, Value};
/// let row = Row::new(vec![("id".into(), Value::Int(7)), ("name".into(), Value::from("ada"))]);
/// assert_eq!(row.get::<i64>("id").unwrap(), 7);
/// assert_eq!(serde_json::to_string(&row).unwrap(), r#"{"id":7,"name":"ada"}"#);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Vec<(String, Value)>,
}

impl Row {
    /// Build a row from (column, value) pairs.
    pub fn new(columns: Vec<(String, Value)>) -> Self {
        Row { columns }
    }

    /// Copy a driver row into a column→value map.
    pub fn from_db_row(row: &DbRow) -> Result<Self> {
        let mut columns = Vec::with_capacity(row.len());
        for i in 0..row.len() {
            columns.push((row.column_name(i).to_string(), row.value(i)?));
        }
        Ok(Row { columns })
    }

    /// The value of a column, if the row has it.
    pub fn value(&self, column: &str) -> Option<&Value> {
        self.columns.iter().find(|(c, _)| c == column).map(|(_, v)| v)
    }

    /// A column's value converted to `T`; an error names the column when it is missing or
    /// of another type.
    pub fn get<T: SqlType>(&self, column: &str) -> Result<T> {
        let v = self.value(column).ok_or_else(|| Error::decode(column, "no such column in the row"))?;
        T::from_value(v.clone()).map_err(|m| Error::decode(column, m))
    }

    /// Column names, in order.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|(c, _)| c.as_str())
    }

    /// (column, value) pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.columns.iter().map(|(c, v)| (c.as_str(), v))
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// True when there are no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.columns.len()))?;
        for (c, v) in &self.columns {
            map.serialize_entry(c, v)?;
        }
        map.end()
    }
}
