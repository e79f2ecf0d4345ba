//! Result rows: the driver's row (`DbRow`) and the column→value map of raw SQL (`Row`).

use crate::data::dialect::Dialect;
use crate::data::error::{Error, Result};
use crate::data::exact::{self, plus_zero};
#[cfg(feature = "sqlite")]
use crate::data::sqlite::LiteDecode as _;
use crate::data::types::SqlType;
use crate::data::value::{Kind, Value};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::ser::{Serialize, SerializeMap, Serializer};
#[cfg(any(feature = "postgres", feature = "mysql"))]
use sqlx::{Column as _, Row as _, TypeInfo as _, ValueRef as _};

/// A row as the driver returned it. Decoding reads straight from it, without copies.
#[derive(Debug)]
pub enum DbRow {
    /// A SQLite row.
    #[cfg(feature = "sqlite")]
    Sqlite(crate::data::sqlite::LiteRow),
    /// A PostgreSQL row.
    #[cfg(feature = "postgres")]
    Postgres(sqlx::postgres::PgRow),
    /// A MySQL/MariaDB row.
    #[cfg(feature = "mysql")]
    MySql(sqlx::mysql::MySqlRow),
}

/// A type every driver built in can decode straight from a column.
pub(crate) trait DriverDecode: crate::data::sqlite::LiteDecode + PgDecode + MyDecode {}
impl<T: crate::data::sqlite::LiteDecode + PgDecode + MyDecode> DriverDecode for T {}

/// A type sqlx's PostgreSQL driver decodes (any type, when that driver is not built).
#[cfg(feature = "postgres")]
pub(crate) trait PgDecode: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> {}
#[cfg(feature = "postgres")]
impl<T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>> PgDecode for T {}
#[cfg(not(feature = "postgres"))]
pub(crate) trait PgDecode {}
#[cfg(not(feature = "postgres"))]
impl<T> PgDecode for T {}

/// A type sqlx's MySQL driver decodes (any type, when that driver is not built).
#[cfg(feature = "mysql")]
pub(crate) trait MyDecode: for<'r> sqlx::Decode<'r, sqlx::MySql> + sqlx::Type<sqlx::MySql> {}
#[cfg(feature = "mysql")]
impl<T: for<'r> sqlx::Decode<'r, sqlx::MySql> + sqlx::Type<sqlx::MySql>> MyDecode for T {}
#[cfg(not(feature = "mysql"))]
pub(crate) trait MyDecode {}
#[cfg(not(feature = "mysql"))]
impl<T> MyDecode for T {}

impl DbRow {
    /// The dialect the row came from.
    pub fn dialect(&self) -> Dialect {
        match self {
            #[cfg(feature = "sqlite")]
            DbRow::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            DbRow::Postgres(_) => Dialect::Postgres,
            #[cfg(feature = "mysql")]
            DbRow::MySql(_) => Dialect::MySql,
        }
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        match self {
            #[cfg(feature = "sqlite")]
            DbRow::Sqlite(r) => r.len(),
            #[cfg(feature = "postgres")]
            DbRow::Postgres(r) => r.len(),
            #[cfg(feature = "mysql")]
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
            #[cfg(feature = "sqlite")]
            DbRow::Sqlite(r) => r.column_name(idx),
            #[cfg(feature = "postgres")]
            DbRow::Postgres(r) => r.columns()[idx].name(),
            #[cfg(feature = "mysql")]
            DbRow::MySql(r) => r.columns()[idx].name(),
        }
    }

    /// The index of the column called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        (0..self.len()).find(|&i| self.column_name(i) == name)
    }

    /// Whether column `idx` is NULL.
    pub fn is_null(&self, idx: usize) -> Result<bool> {
        match self {
            #[cfg(feature = "sqlite")]
            DbRow::Sqlite(r) => {
                r.at(idx).map(|v| matches!(v, rusqlite::types::ValueRef::Null)).map_err(|e| Error::decode(idx.to_string(), e))
            }
            #[cfg(feature = "postgres")]
            DbRow::Postgres(r) => r.try_get_raw(idx).map(|v| v.is_null()).map_err(|e| Error::decode(idx.to_string(), e)),
            #[cfg(feature = "mysql")]
            DbRow::MySql(r) => r.try_get_raw(idx).map(|v| v.is_null()).map_err(|e| Error::decode(idx.to_string(), e)),
        }
    }

    /// Decode column `idx` with the driver's own decoder.
    pub(crate) fn get<T: DriverDecode>(&self, idx: usize) -> Result<T> {
        match self {
            #[cfg(feature = "sqlite")]
            DbRow::Sqlite(r) => r.at(idx).and_then(T::lite).map_err(|e| self.decode_error(idx, e)),
            #[cfg(feature = "postgres")]
            DbRow::Postgres(r) => r.try_get::<T, _>(idx).map_err(|e| self.decode_error(idx, e)),
            #[cfg(feature = "mysql")]
            DbRow::MySql(r) => r.try_get::<T, _>(idx).map_err(|e| self.decode_error(idx, e)),
        }
    }

    /// Decode column `idx` of a MySQL row (types only MySQL decodes).
    #[cfg(feature = "mysql")]
    pub(crate) fn get_my<T>(&self, r: &sqlx::mysql::MySqlRow, idx: usize) -> Result<T>
    where
        T: for<'r> sqlx::Decode<'r, sqlx::MySql> + sqlx::Type<sqlx::MySql>,
    {
        r.try_get::<T, _>(idx).map_err(|e| self.decode_error(idx, e))
    }

    /// Whether column `idx` of a server row is a double (`FLOAT8` / `DOUBLE`).
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub(crate) fn is_double(&self, idx: usize) -> bool {
        match self {
            #[cfg(feature = "sqlite")]
            DbRow::Sqlite(_) => false,
            #[cfg(feature = "postgres")]
            DbRow::Postgres(r) => r.try_get_raw(idx).is_ok_and(|v| v.type_info().name() == "FLOAT8"),
            #[cfg(feature = "mysql")]
            DbRow::MySql(r) => r.try_get_raw(idx).is_ok_and(|v| v.type_info().name() == "DOUBLE"),
        }
    }

    /// The outcome of an exact conversion of column `idx`, its message in a decode error.
    pub(crate) fn exact<T>(&self, v: std::result::Result<T, String>, idx: usize) -> Result<T> {
        v.map_err(|e| self.decode_error(idx, e))
    }

    /// Column `idx` of a PostgreSQL row, raw, when its type is one of `types` (an exact
    /// decoder reads it); another type is a decode error naming both.
    #[cfg(feature = "postgres")]
    fn pg_raw<'r>(&self, r: &'r sqlx::postgres::PgRow, idx: usize, types: &[&str]) -> Result<sqlx::postgres::PgValueRef<'r>> {
        let raw = r.try_get_raw(idx).map_err(|e| self.decode_error(idx, e))?;
        let name = raw.type_info().name().to_string();
        if types.contains(&name.as_str()) {
            Ok(raw)
        } else {
            Err(self.decode_error(idx, format!("expected {}, found PostgreSQL {name}", types.join(" or "))))
        }
    }

    /// A MariaDB `DECIMAL`, read from its text exactly (sqlx's decoder rounds past 28 places).
    #[cfg(feature = "mysql")]
    fn my_decimal(&self, r: &sqlx::mysql::MySqlRow, idx: usize) -> Result<Decimal> {
        let raw = r.try_get_raw(idx).map_err(|e| self.decode_error(idx, e))?;
        let name = raw.type_info().name().to_string();
        if name != "DECIMAL" {
            return Err(self.decode_error(idx, format!("expected DECIMAL, found MariaDB {name}")));
        }
        let text = r.try_get_unchecked::<&str, _>(idx).map_err(|e| self.decode_error(idx, e))?;
        self.exact(exact::parse_decimal(text), idx)
    }

    /// A MariaDB `TIME` as a time of day: negative or 24 hours and more is refused.
    #[cfg(feature = "mysql")]
    fn my_time(&self, r: &sqlx::mysql::MySqlRow, idx: usize) -> Result<NaiveTime> {
        let t = self.get_my::<sqlx::mysql::types::MySqlTime>(r, idx)?;
        self.exact(crate::data::mysql::my_time(t), idx)
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
            #[cfg(feature = "sqlite")]
            DbRow::Sqlite(r) => {
                use rusqlite::types::ValueRef as L;
                let cell = r.at(idx).map_err(|e| self.decode_error(idx, e))?;
                // A decimal column reads as a decimal, as on the servers.
                if let Some(scale) = r.decimal_scale(idx) {
                    let d = match cell {
                        L::Real(f) => crate::data::sqlite::decimal::from_double(f, scale),
                        other => Decimal::lite(other).and_then(|d| exact::at_column_scale(d, scale)),
                    };
                    return self.exact(d, idx).map(Value::Decimal);
                }
                Ok(match cell {
                    L::Null => Value::Null(Kind::Unknown),
                    L::Integer(i) => Value::Int(i),
                    L::Real(f) => Value::Float(plus_zero(f)),
                    L::Text(_) => Value::Text(self.get::<String>(idx)?),
                    L::Blob(b) => Value::Bytes(b.to_vec()),
                })
            }
            #[cfg(feature = "postgres")]
            DbRow::Postgres(r) => {
                let raw = r.try_get_raw(idx).map_err(|e| self.decode_error(idx, e))?;
                let ty = raw.type_info().name().to_string();
                Ok(match ty.as_str() {
                    "BOOL" => Value::Bool(self.get(idx)?),
                    "INT2" => Value::Int(self.get::<i16>(idx)? as i64),
                    "INT4" => Value::Int(self.get::<i32>(idx)? as i64),
                    "INT8" => Value::Int(self.get::<i64>(idx)?),
                    "FLOAT4" => Value::Float(plus_zero(self.get::<f32>(idx)? as f64)),
                    "FLOAT8" => Value::Float(plus_zero(self.get::<f64>(idx)?)),
                    "NUMERIC" => {
                        let expression = r.columns()[idx].relation_id().is_none();
                        integer_sum(self.exact(crate::data::postgres::exact::pg_numeric(raw), idx)?, expression)
                    }
                    "BYTEA" => Value::Bytes(self.get(idx)?),
                    "UUID" => Value::Uuid(self.get(idx)?),
                    "TIMESTAMPTZ" | "TIMESTAMP" => {
                        Value::Timestamp(self.exact(crate::data::postgres::exact::pg_timestamp(raw), idx)?.and_utc())
                    }
                    "DATE" => Value::Date(self.exact(crate::data::postgres::exact::pg_date(raw), idx)?),
                    "TIME" => Value::Time(self.exact(crate::data::postgres::exact::pg_time(raw), idx)?),
                    "JSON" | "JSONB" => Value::Json(self.get::<sqlx::types::Json<serde_json::Value>>(idx)?.0),
                    _ if let Some(v) = raw_other(&raw) => self.exact(v, idx)?,
                    _ => Value::Text(
                        self.get::<String>(idx)
                            .map_err(|_| self.decode_error(idx, format!("PostgreSQL type {ty} has no almacen value")))?,
                    ),
                })
            }
            #[cfg(feature = "mysql")]
            DbRow::MySql(r) => {
                let raw = r.try_get_raw(idx).map_err(|e| self.decode_error(idx, e))?;
                let ty = raw.type_info().name().to_string();
                Ok(match ty.as_str() {
                    "BOOLEAN" => Value::Bool(self.exact(exact::bool_from_int(self.get::<i64>(idx)?), idx)?),
                    "TINYINT" | "SMALLINT" | "INT" | "MEDIUMINT" | "BIGINT" => Value::Int(self.get::<i64>(idx)?),
                    "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "INT UNSIGNED" | "MEDIUMINT UNSIGNED" | "BIGINT UNSIGNED" => {
                        let v = self.get_my::<u64>(r, idx)?;
                        Value::Int(i64::try_from(v).map_err(|e| self.decode_error(idx, e))?)
                    }
                    "FLOAT" => Value::Float(plus_zero(self.get::<f32>(idx)? as f64)),
                    "DOUBLE" => Value::Float(plus_zero(self.get::<f64>(idx)?)),
                    "DECIMAL" => {
                        let expression = matches!(r.columns()[idx].origin(), sqlx::ColumnOrigin::Expression);
                        integer_sum(self.my_decimal(r, idx)?, expression)
                    }
                    "DATETIME" | "TIMESTAMP" => Value::Timestamp(self.get::<chrono::NaiveDateTime>(idx)?.and_utc()),
                    "DATE" => Value::Date(self.get(idx)?),
                    "TIME" => Value::Time(self.my_time(r, idx)?),
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

/// A decimal computed by an expression (not read from a column) with no places is an
/// integer: `SUM` of integers is a `DECIMAL` on MariaDB and, of `BIGINT`s, a `NUMERIC` on
/// PostgreSQL, where SQLite gives an integer; so raw rows read the same on every dialect.
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn integer_sum(d: Decimal, expression: bool) -> Value {
    match i64::try_from(d) {
        Ok(i) if expression && d.scale() == 0 => Value::Int(i),
        _ => Value::Decimal(d),
    }
}

/// A PostgreSQL value of a type almacen reads only in raw rows (arrays, intervals, …).
#[cfg(feature = "postgres")]
fn raw_other(raw: &sqlx::postgres::PgValueRef<'_>) -> Option<std::result::Result<Value, String>> {
    let oid = raw.type_info().oid()?.0;
    let bytes = match raw.format() {
        sqlx::postgres::PgValueFormat::Binary => raw.as_bytes().ok()?,
        sqlx::postgres::PgValueFormat::Text => return None,
    };
    crate::data::postgres::other_type(oid, bytes)
}

/// Helpers shared by [`SqlType`] implementations for dialect-specific storage.
pub(crate) fn decode_timestamp(row: &DbRow, idx: usize) -> Result<DateTime<Utc>> {
    match row {
        #[cfg(feature = "postgres")]
        DbRow::Postgres(r) => row
            .exact(crate::data::postgres::exact::pg_timestamp(row.pg_raw(r, idx, &["TIMESTAMPTZ", "TIMESTAMP"])?), idx)
            .map(|t| t.and_utc()),
        #[cfg(feature = "mysql")]
        DbRow::MySql(_) => Ok(row.get::<chrono::NaiveDateTime>(idx)?.and_utc()),
        #[cfg(feature = "sqlite")]
        DbRow::Sqlite(_) => exact::parse_timestamp(&row.get::<String>(idx)?).map_err(|e| row.decode_error(idx, e)),
    }
}

pub(crate) fn decode_uuid(row: &DbRow, idx: usize) -> Result<uuid::Uuid> {
    match row {
        #[cfg(feature = "postgres")]
        DbRow::Postgres(_) => row.get::<uuid::Uuid>(idx),
        #[cfg(any(feature = "sqlite", feature = "mysql"))]
        _ => {
            let bytes = row.get::<Vec<u8>>(idx)?;
            uuid::Uuid::from_slice(&bytes).map_err(|e| row.decode_error(idx, e))
        }
    }
}

pub(crate) fn decode_decimal(row: &DbRow, idx: usize, scale: Option<u32>) -> Result<Decimal> {
    let d = match row {
        #[cfg(feature = "sqlite")]
        DbRow::Sqlite(_) => match (row.value(idx)?, scale) {
            (Value::Float(f), Some(s)) => return row.exact(crate::data::sqlite::decimal::from_double(f, s), idx),
            (Value::Float(f), None) => row.exact(exact::parse_decimal(&f.to_string()), idx)?,
            (Value::Int(i), Some(s)) if s > 0 => return Err(row.decode_error(idx, crate::data::sqlite::decimal::scaled_integer(i, s))),
            (Value::Int(i), _) => Decimal::from(i),
            (Value::Decimal(d), _) => d,
            (Value::Text(t), _) => row.exact(exact::parse_decimal(&t), idx)?,
            (other, _) => return Err(row.decode_error(idx, format!("{other:?} is not an exact decimal"))),
        },
        #[cfg(feature = "postgres")]
        DbRow::Postgres(r) => row.exact(crate::data::postgres::exact::pg_numeric(row.pg_raw(r, idx, &["NUMERIC"])?), idx)?,
        #[cfg(feature = "mysql")]
        DbRow::MySql(r) => row.my_decimal(r, idx)?,
    };
    match scale {
        Some(s) => row.exact(exact::at_column_scale(d, s), idx),
        None => Ok(d),
    }
}

pub(crate) fn decode_json(row: &DbRow, idx: usize) -> Result<serde_json::Value> {
    match row {
        #[cfg(feature = "postgres")]
        DbRow::Postgres(_) => Ok(row.get::<sqlx::types::Json<serde_json::Value>>(idx)?.0),
        #[cfg(any(feature = "sqlite", feature = "mysql"))]
        _ => {
            let text = row.get::<String>(idx)?;
            serde_json::from_str(&text).map_err(|e| row.decode_error(idx, e))
        }
    }
}

pub(crate) fn decode_date(row: &DbRow, idx: usize) -> Result<NaiveDate> {
    match row {
        #[cfg(feature = "postgres")]
        DbRow::Postgres(r) => row.exact(crate::data::postgres::exact::pg_date(row.pg_raw(r, idx, &["DATE"])?), idx),
        #[cfg(any(feature = "sqlite", feature = "mysql"))]
        _ => row.get::<NaiveDate>(idx),
    }
}

pub(crate) fn decode_time(row: &DbRow, idx: usize) -> Result<NaiveTime> {
    match row {
        #[cfg(feature = "postgres")]
        DbRow::Postgres(r) => row.exact(crate::data::postgres::exact::pg_time(row.pg_raw(r, idx, &["TIME"])?), idx),
        #[cfg(feature = "mysql")]
        DbRow::MySql(r) => row.my_time(r, idx),
        #[cfg(feature = "sqlite")]
        DbRow::Sqlite(_) => row.get::<NaiveTime>(idx),
    }
}

pub(crate) fn decode_bool(row: &DbRow, idx: usize) -> Result<bool> {
    match row {
        #[cfg(feature = "postgres")]
        DbRow::Postgres(_) => row.get::<bool>(idx),
        #[cfg(feature = "mysql")]
        DbRow::MySql(r) => row.exact(exact::bool_from_int(row.get_my::<i8>(r, idx)?.into()), idx),
        #[cfg(feature = "sqlite")]
        DbRow::Sqlite(_) => row.get::<bool>(idx),
    }
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
