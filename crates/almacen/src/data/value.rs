//! Dialect-neutral values, and how each dialect stores them.

use crate::data::dialect::Dialect;
use crate::data::error::{Error, Result};
use crate::data::model::ColumnType;
use crate::data::types::DbEnumText;
use chrono::{DateTime, NaiveDate, NaiveTime, Timelike, Utc};
use rust_decimal::Decimal;
use serde::ser::{Serialize, Serializer};
use uuid::Uuid;

/// The kind of a value, used to give a NULL its type when it is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// No type known (a `None` given to raw SQL): PostgreSQL infers the parameter's type
    /// from where it stands, as for a literal `NULL`, and asks for a cast where nothing
    /// gives it one (`SELECT :x::text`); MariaDB types it as NULL.
    Unknown,
    /// Boolean.
    Bool,
    /// Integer of any width.
    Int,
    /// Floating point.
    Float,
    /// Exact decimal.
    Decimal,
    /// Text.
    Text,
    /// Bytes.
    Bytes,
    /// UUID.
    Uuid,
    /// Timestamp with time zone (UTC).
    Timestamp,
    /// Calendar date.
    Date,
    /// Time of day.
    Time,
    /// JSON document.
    Json,
}

/// A value going to or coming from the database, the same on every dialect.
///
/// ```
/// use almacen::Value;
/// let v: Value = 42.into();
/// assert_eq!(v, Value::Int(42));
/// assert_eq!(serde_json::to_string(&Value::from("hi")).unwrap(), "\"hi\"");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL of a given kind.
    Null(Kind),
    /// Boolean.
    Bool(bool),
    /// Integer (every width is carried as i64).
    Int(i64),
    /// Floating point; NaN and infinities are rejected when bound.
    Float(f64),
    /// Exact decimal.
    Decimal(Decimal),
    /// Text; U+0000 is rejected when bound.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// UUID.
    Uuid(Uuid),
    /// Timestamp in UTC, kept to the microsecond.
    Timestamp(DateTime<Utc>),
    /// Calendar date.
    Date(NaiveDate),
    /// Time of day, kept to the microsecond.
    Time(NaiveTime),
    /// JSON document.
    Json(serde_json::Value),
    /// A list, expanded into `(?, ?, ?)` for `IN (:ids)` in raw SQL.
    List(Vec<Value>),
}

impl Value {
    /// True for NULL of any kind.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null(_))
    }

    /// The kind of this value.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Null(k) => *k,
            Value::Bool(_) => Kind::Bool,
            Value::Int(_) => Kind::Int,
            Value::Float(_) => Kind::Float,
            Value::Decimal(_) => Kind::Decimal,
            Value::Text(_) => Kind::Text,
            Value::Bytes(_) => Kind::Bytes,
            Value::Uuid(_) => Kind::Uuid,
            Value::Timestamp(_) => Kind::Timestamp,
            Value::Date(_) => Kind::Date,
            Value::Time(_) => Kind::Time,
            Value::Json(_) => Kind::Json,
            Value::List(_) => Kind::Unknown,
        }
    }

    /// Turn this value into what `dialect` stores for a column of type `column`
    /// (when known), rejecting what no dialect should accept.
    ///
    /// `name` is used in error messages.
    pub(crate) fn to_sea(&self, dialect: Dialect, column: Option<&ColumnType>, name: &str) -> Result<sea_query::Value> {
        match self {
            // Only text, bytes and JSON own heap data; clone just what is needed.
            Value::Text(_) | Value::Bytes(_) | Value::Json(_) => self.clone().into_sea(dialect, column, name),
            _ => self.convert(dialect, column, name),
        }
    }

    /// [`to_sea`](Self::to_sea) without copying text, bytes or JSON.
    pub(crate) fn into_sea(self, dialect: Dialect, column: Option<&ColumnType>, name: &str) -> Result<sea_query::Value> {
        use sea_query::Value as S;
        match self {
            Value::Text(s) => {
                check_text(&s, column, name)?;
                Ok(S::String(Some(s)))
            }
            Value::Bytes(b) => Ok(S::Bytes(Some(b))),
            Value::Json(j) => json_to_sea(j, dialect, name),
            list @ Value::List(_) => list.convert(dialect, column, name),
            // What is left owns no heap memory, so it is not dropped (a bulk insert converts
            // every value of every row, and each drop was a call); the commonest converted here.
            scalar => {
                let scalar = std::mem::ManuallyDrop::new(scalar);
                match *scalar {
                    Value::Int(i) => int_to_sea(i, column, name),
                    Value::Float(f) => float_to_sea(f, column, name),
                    Value::Bool(b) => Ok(S::Bool(Some(b))),
                    _ => scalar.convert(dialect, column, name),
                }
            }
        }
    }

    fn convert(&self, dialect: Dialect, column: Option<&ColumnType>, name: &str) -> Result<sea_query::Value> {
        use sea_query::Value as S;
        Ok(match self {
            Value::Null(kind) => null_of(*kind, dialect, column),
            Value::Bool(b) => S::Bool(Some(*b)),
            Value::Int(i) => return int_to_sea(*i, column, name),
            Value::Float(f) => return float_to_sea(*f, column, name),
            Value::Decimal(d) => match (dialect, column) {
                (_, Some(ColumnType::Decimal { precision, scale })) => {
                    // PostgreSQL and MariaDB would round extra places silently: reject them everywhere.
                    check_decimal_fits(*d, *precision, *scale, name)?;
                    match dialect {
                        Dialect::Sqlite => crate::data::sqlite::decimal::stored(*d, *precision, *scale),
                        _ => S::Decimal(Some(*d)),
                    }
                }
                // Compared, not stored: SQLite's decimal collation compares the text exactly.
                (Dialect::Sqlite, _) => S::String(Some(d.to_string())),
                _ => S::Decimal(Some(*d)),
            },
            Value::Text(s) => {
                check_text(s, column, name)?;
                S::String(Some(s.clone()))
            }
            Value::Bytes(b) => S::Bytes(Some(b.clone())),
            Value::Uuid(u) => match dialect {
                Dialect::Postgres => S::Uuid(Some(*u)),
                _ => S::Bytes(Some(u.as_bytes().to_vec())),
            },
            Value::Timestamp(t) => {
                let t = crate::data::exact::roll_leap_second(*t).map_err(|e| Error::invalid(name, e))?;
                let t = truncate_micros(t, name)?;
                match dialect {
                    Dialect::Postgres => S::ChronoDateTimeUtc(Some(t)),
                    Dialect::MySql => S::ChronoDateTime(Some(t.naive_utc())),
                    Dialect::Sqlite => S::String(Some(format_timestamp(t))),
                }
            }
            Value::Date(d) => {
                check_year(d.year(), name)?;
                match dialect {
                    Dialect::Sqlite => S::String(Some(d.format("%Y-%m-%d").to_string())),
                    _ => S::ChronoDate(Some(*d)),
                }
            }
            Value::Time(t) => {
                let t = crate::data::exact::check_time_of_day(*t).map_err(|e| Error::invalid(name, e))?;
                let t = t.with_nanosecond(t.nanosecond() / 1000 * 1000).unwrap_or(t);
                match dialect {
                    Dialect::Sqlite => S::String(Some(t.format("%H:%M:%S%.6f").to_string())),
                    _ => S::ChronoTime(Some(t)),
                }
            }
            Value::Json(j) => return json_to_sea(j.clone(), dialect, name),
            Value::List(_) => {
                return Err(Error::invalid(name, "a list can only be bound to an IN (:name) parameter"));
            }
        })
    }
}

use chrono::Datelike;

/// An integer bound at the column's own width, as a hand-written query would: the server
/// then has no cast to make per row. (PostgreSQL keeps the parameter types a statement was
/// first prepared with, so one column always binds one width.)
#[inline]
pub(crate) fn int_to_sea(i: i64, column: Option<&ColumnType>, name: &str) -> Result<sea_query::Value> {
    use sea_query::Value as S;
    Ok(match column {
        Some(ColumnType::Integer) => S::Int(Some(i32::try_from(i).map_err(|_| out_of_range(i, "integer", name))?)),
        Some(ColumnType::SmallInt) => S::SmallInt(Some(i16::try_from(i).map_err(|_| out_of_range(i, "smallint", name))?)),
        _ => S::BigInt(Some(i)),
    })
}

/// A finite float, refused when the column holds 32-bit floats and no `f32` is this value.
#[inline]
pub(crate) fn float_to_sea(f: f64, column: Option<&ColumnType>, name: &str) -> Result<sea_query::Value> {
    if !f.is_finite() {
        return Err(Error::invalid(name, format!("{f} is not a finite number")));
    }
    if matches!(column, Some(ColumnType::Float)) && f as f32 as f64 != f {
        return Err(Error::invalid(name, format!("{f} has no exact 32-bit float, and the column holds 32-bit floats")));
    }
    // SQLite and MariaDB store -0.0 as 0: every dialect does.
    Ok(sea_query::Value::Double(Some(crate::data::exact::plus_zero(f))))
}

fn check_year(year: i32, name: &str) -> Result<()> {
    if !(1..=9999).contains(&year) {
        return Err(Error::invalid(name, format!("year {year} is outside 0001-9999")));
    }
    Ok(())
}

fn truncate_micros(t: DateTime<Utc>, name: &str) -> Result<DateTime<Utc>> {
    check_year(t.year(), name)?;
    Ok(t.with_nanosecond(t.nanosecond() / 1000 * 1000).unwrap_or(t))
}

/// The current time at the precision every dialect stores (microseconds), for the
/// timestamps almacen maintains.
pub fn now() -> DateTime<Utc> {
    let t = Utc::now();
    t.with_nanosecond(t.nanosecond() / 1000 * 1000).unwrap_or(t)
}

/// The text form of a timestamp on SQLite: sortable, always UTC, always six digits.
pub(crate) fn format_timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Text must not contain U+0000 and must fit the column's `max_len` (in characters).
fn out_of_range(i: i64, column_type: &str, name: &str) -> Error {
    Error::invalid(name, format!("{i} is out of range for a {column_type} column"))
}

pub(crate) fn check_text(s: &str, column: Option<&ColumnType>, name: &str) -> Result<()> {
    if s.contains('\0') {
        return Err(Error::invalid(name, "text contains a NUL character (U+0000)"));
    }
    if let Some(ColumnType::Text { max_len: Some(max) }) = column {
        // Bytes bound characters from above: count characters only when it could matter.
        let len = if s.len() <= *max as usize { 0 } else { s.chars().count() };
        if len > *max as usize {
            return Err(Error::invalid(name, format!("text of {len} characters exceeds the maximum of {max}")));
        }
    }
    Ok(())
}

/// A decimal fits a `decimal(precision, scale)` column (see [`crate::data::exact::decimal_fits`]).
pub(crate) fn check_decimal_fits(d: Decimal, precision: u32, scale: u32, name: &str) -> Result<()> {
    crate::data::exact::decimal_fits(d, precision, scale).map_err(|e| Error::invalid(name, e))
}

/// A JSON document as `dialect` stores it, in the portable form of [`crate::data::json`].
fn json_to_sea(j: serde_json::Value, dialect: Dialect, name: &str) -> Result<sea_query::Value> {
    let j = crate::data::json::portable(j, name)?;
    Ok(match dialect {
        Dialect::Postgres => sea_query::Value::Json(Some(Box::new(j))),
        _ => sea_query::Value::String(Some(serde_json::to_string(&j).map_err(|e| Error::invalid(name, e.to_string()))?)),
    })
}

/// A NULL whose type nobody knows (`None` given to raw SQL). PostgreSQL infers its type
/// from where it stands, as for a literal `NULL` (`COALESCE(:x, 1)` is an integer); the
/// other dialects bind a plain NULL. (A `Char` is never bound otherwise.)
pub(crate) const UNTYPED_NULL: sea_query::Value = sea_query::Value::Char(None);

fn null_of(kind: Kind, dialect: Dialect, column: Option<&ColumnType>) -> sea_query::Value {
    use sea_query::Value as S;
    let kind = match (kind, column) {
        (Kind::Unknown, Some(c)) => c.kind(),
        (Kind::Unknown, None) => return UNTYPED_NULL,
        (k, _) => k,
    };
    match (kind, dialect) {
        (Kind::Bool, _) => S::Bool(None),
        // The same width as a value of the column (see `convert`): PostgreSQL keeps the
        // parameter types a statement was first prepared with.
        (Kind::Int, _) => match column {
            Some(ColumnType::Integer) => S::Int(None),
            Some(ColumnType::SmallInt) => S::SmallInt(None),
            _ => S::BigInt(None),
        },
        (Kind::Float, _) => S::Double(None),
        (Kind::Decimal, Dialect::Sqlite) => S::String(None),
        (Kind::Decimal, _) => S::Decimal(None),
        (Kind::Bytes, _) => S::Bytes(None),
        (Kind::Uuid, Dialect::Postgres) => S::Uuid(None),
        (Kind::Uuid, _) => S::Bytes(None),
        (Kind::Timestamp, Dialect::Postgres) => S::ChronoDateTimeUtc(None),
        (Kind::Timestamp, Dialect::MySql) => S::ChronoDateTime(None),
        (Kind::Date, Dialect::Postgres | Dialect::MySql) => S::ChronoDate(None),
        (Kind::Time, Dialect::Postgres | Dialect::MySql) => S::ChronoTime(None),
        (Kind::Json, Dialect::Postgres) => S::Json(None),
        _ => S::String(None),
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Value::Null(_) => s.serialize_none(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) => s.serialize_f64(*f),
            Value::Decimal(d) => s.serialize_str(&d.to_string()),
            Value::Text(t) => s.serialize_str(t),
            Value::Bytes(b) => s.collect_seq(b.iter()),
            Value::Uuid(u) => s.serialize_str(&u.to_string()),
            Value::Timestamp(t) => s.serialize_str(&format_timestamp(*t)),
            Value::Date(d) => s.serialize_str(&d.to_string()),
            Value::Time(t) => s.serialize_str(&t.to_string()),
            Value::Json(j) => j.serialize(s),
            Value::List(l) => l.serialize(s),
        }
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident $(as $cast:ty)?),* $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::$variant(v $(as $cast)?) }
        }
    )*};
}

value_from! {
    bool => Bool,
    i8 => Int as i64, i16 => Int as i64, i32 => Int as i64, i64 => Int,
    u8 => Int as i64, u16 => Int as i64, u32 => Int as i64,
    f32 => Float as f64, f64 => Float,
    Decimal => Decimal, String => Text, Vec<u8> => Bytes, Uuid => Uuid,
    DateTime<Utc> => Timestamp, NaiveDate => Date, NaiveTime => Time, serde_json::Value => Json,
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Bytes(v.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Value::Null(Kind::Unknown))
    }
}

/// Lists bind as `IN (:name)` expansions. `Vec<u8>` stays bytes.
macro_rules! list_from {
    ($($t:ty),*) => {$(
        impl From<Vec<$t>> for Value {
            fn from(v: Vec<$t>) -> Self { Value::List(v.into_iter().map(Into::into).collect()) }
        }
        impl From<&[$t]> for Value {
            fn from(v: &[$t]) -> Self { Value::List(v.iter().cloned().map(Into::into).collect()) }
        }
    )*};
}
list_from!(i16, i32, i64, String, &str, Uuid, Decimal, Value);

/// Lists of a `#[derive(DbEnum)]` enum bind as their stored texts (`IN (:statuses)`).
impl<E: DbEnumText> From<Vec<E>> for Value {
    fn from(v: Vec<E>) -> Self {
        Value::List(v.iter().map(|e| Value::Text(e.as_text().to_string())).collect())
    }
}

impl<E: DbEnumText> From<&[E]> for Value {
    fn from(v: &[E]) -> Self {
        Value::List(v.iter().map(|e| Value::Text(e.as_text().to_string())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_floats_and_nul_text_are_rejected() {
        assert!(Value::Float(f64::NAN).to_sea(Dialect::Postgres, None, "x").is_err());
        assert!(Value::Text("a\0b".into()).to_sea(Dialect::Sqlite, None, "x").is_err());
        let too_long = Value::Text("ñññ".into());
        assert!(too_long.to_sea(Dialect::MySql, Some(&ColumnType::Text { max_len: Some(2) }), "x").is_err());
    }
}
