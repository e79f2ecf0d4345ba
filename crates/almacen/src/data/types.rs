//! The Rust types a model field can have, and how each is encoded and decoded.

use crate::data::dialect::Dialect;
use crate::data::error::Result;
use crate::data::exact::parse_timestamp;
use crate::data::model::{ColumnMeta, ColumnType};
use crate::data::row::{DbRow, decode_bool, decode_date, decode_decimal, decode_json, decode_time, decode_timestamp, decode_uuid};
#[cfg(feature = "sqlite")]
use crate::data::sqlite::LiteDecode;
use crate::data::sqlite::ValueRef;
use crate::data::value::Value;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

/// A Rust type that can be a column: it knows its portable column type, how to become a
/// [`Value`] and how to decode itself from a row on every dialect.
///
/// Implemented for `i16`, `i32`, `i64`, `f32`, `f64`, `bool`, `String`, `Decimal`, `Uuid`,
/// `DateTime<Utc>`, `NaiveDate`, `NaiveTime`, `serde_json::Value`, `Vec<u8>`, enums with
/// `#[derive(DbEnum)]`, and `Option` of any of these (a nullable column).
///
/// ```
/// use almacen::{SqlType, Value, ColumnType};
/// assert_eq!(<i32 as SqlType>::COLUMN_TYPE, ColumnType::Integer);
/// assert!(<Option<String> as SqlType>::NULLABLE);
/// assert_eq!(<i64 as SqlType>::from_value(Value::Int(3)).unwrap(), 3);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a column type almacen supports",
    label = "unsupported column type",
    note = "supported: i16, i32, i64, f32, f64, bool, String, Decimal, Uuid, DateTime<Utc>, NaiveDate, NaiveTime, serde_json::Value, Vec<u8>, enums with #[derive(DbEnum)], and Option of these"
)]
pub trait SqlType: Sized + Send + Sync + 'static {
    /// The column type used when the model does not say otherwise.
    const COLUMN_TYPE: ColumnType;
    /// Whether the column allows NULL.
    const NULLABLE: bool = false;
    /// The non-null type (`T` for `Option<T>`), which filters compare against.
    type Inner: SqlType;
    /// This value as a dialect-neutral [`Value`].
    fn to_value(&self) -> Value;
    /// [`to_value`](Self::to_value) by move: text, bytes and JSON are not copied.
    fn into_value(self) -> Value {
        self.to_value()
    }
    /// Convert a [`Value`] (from raw SQL or an aggregate) into this type.
    fn from_value(v: Value) -> std::result::Result<Self, String>;
    /// Decode column `idx` of a row whose column has type `ty`.
    fn decode(row: &DbRow, idx: usize, ty: &ColumnType) -> Result<Self>;
    /// Whether [`decode_sqlite`](Self::decode_sqlite) is implemented: models whose fields
    /// all have it decode SQLite rows in place, without copying them into a row object.
    #[doc(hidden)]
    const SQLITE_IN_PLACE: bool = false;
    /// Decode a SQLite value read in place, as [`decode`](Self::decode) decodes it from a
    /// SQLite row (only called when [`SQLITE_IN_PLACE`](Self::SQLITE_IN_PLACE) is true).
    #[doc(hidden)]
    fn decode_sqlite(v: ValueRef<'_>, ty: &ColumnType) -> std::result::Result<Self, String> {
        let _ = (v, ty);
        Err("this type decodes only from a row object".into())
    }
    /// This value as `dialect` binds it for `column`, checked as every write checks it:
    /// what [`into_value`](Self::into_value) and the column's conversion give, without the
    /// [`Value`] in between for the common types in their own columns.
    #[doc(hidden)]
    fn into_bound(self, dialect: Dialect, column: &ColumnMeta) -> Result<sea_query::Value> {
        self.into_value().into_sea(dialect, Some(&column.ty), column.name)
    }
}

fn mismatch<T>(v: &Value, want: &str) -> std::result::Result<T, String> {
    Err(format!("expected {want}, found {v:?}"))
}

macro_rules! int_type {
    ($t:ty, $col:expr) => {
        impl SqlType for $t {
            const COLUMN_TYPE: ColumnType = $col;
            type Inner = $t;
            fn to_value(&self) -> Value {
                Value::Int(*self as i64)
            }
            fn into_bound(self, _dialect: Dialect, column: &ColumnMeta) -> Result<sea_query::Value> {
                crate::data::value::int_to_sea(self as i64, Some(&column.ty), column.name)
            }
            fn from_value(v: Value) -> std::result::Result<Self, String> {
                let i: i64 = match &v {
                    Value::Int(i) => *i,
                    Value::Bool(b) => *b as i64,
                    Value::Decimal(d) if d.fract().is_zero() => i64::try_from(*d).map_err(|e| e.to_string())?,
                    _ => return mismatch(&v, stringify!($t)),
                };
                <$t>::try_from(i).map_err(|_| format!("{i} does not fit {}", stringify!($t)))
            }
            fn decode(row: &DbRow, idx: usize, _ty: &ColumnType) -> Result<Self> {
                match row {
                    #[cfg(feature = "sqlite")]
                    DbRow::Sqlite(_) => {
                        let i = row.get::<i64>(idx)?;
                        <$t>::try_from(i).map_err(|e| row.decode_error(idx, e))
                    }
                    #[cfg(any(feature = "postgres", feature = "mysql"))]
                    _ => row.get::<$t>(idx),
                }
            }
            #[cfg(feature = "sqlite")]
            const SQLITE_IN_PLACE: bool = true;
            #[cfg(feature = "sqlite")]
            fn decode_sqlite(v: ValueRef<'_>, _ty: &ColumnType) -> std::result::Result<Self, String> {
                <$t>::try_from(i64::lite(v)?).map_err(|e| e.to_string())
            }
        }
    };
}
int_type!(i16, ColumnType::SmallInt);
int_type!(i32, ColumnType::Integer);
int_type!(i64, ColumnType::BigInt);

macro_rules! float_type {
    ($t:ty, $col:expr) => {
        impl SqlType for $t {
            const COLUMN_TYPE: ColumnType = $col;
            type Inner = $t;
            fn to_value(&self) -> Value {
                Value::Float(*self as f64)
            }
            fn into_bound(self, _dialect: Dialect, column: &ColumnMeta) -> Result<sea_query::Value> {
                crate::data::value::float_to_sea(self as f64, Some(&column.ty), column.name)
            }
            fn from_value(v: Value) -> std::result::Result<Self, String> {
                match v {
                    Value::Float(f) => <$t as FloatField>::exact(f),
                    Value::Int(i) => <$t as FloatField>::exact(crate::data::exact::f64_from_int(i)?),
                    // A decimal result (an average, SQLite's decimal text) read as a float is
                    // the nearest float: asking for a float asks for that. (Parsing the text
                    // rounds once, correctly.)
                    Value::Decimal(d) => d.to_string().parse::<$t>().map_err(|e| e.to_string()),
                    Value::Text(t) => crate::data::exact::parse_decimal(&t)?.to_string().parse::<$t>().map_err(|e| e.to_string()),
                    other => mismatch(&other, stringify!($t)),
                }
            }
            fn decode(row: &DbRow, idx: usize, _ty: &ColumnType) -> Result<Self> {
                match row {
                    #[cfg(feature = "sqlite")]
                    DbRow::Sqlite(_) => row.get::<$t>(idx),
                    // A double column read into an `f32` (sqlx would narrow it): only exactly.
                    #[cfg(any(feature = "postgres", feature = "mysql"))]
                    _ if <$t as FloatField>::NARROW && row.is_double(idx) => {
                        row.get::<f64>(idx).and_then(|f| row.exact(<$t as FloatField>::exact(f), idx))
                    }
                    #[cfg(any(feature = "postgres", feature = "mysql"))]
                    _ => row.get::<$t>(idx).map(crate::data::exact::plus_zero),
                }
            }
            #[cfg(feature = "sqlite")]
            const SQLITE_IN_PLACE: bool = true;
            #[cfg(feature = "sqlite")]
            fn decode_sqlite(v: ValueRef<'_>, _ty: &ColumnType) -> std::result::Result<Self, String> {
                <$t>::lite(v)
            }
        }
    };
}
float_type!(f32, ColumnType::Float);
float_type!(f64, ColumnType::Double);

/// A float of either width from an `f64`, exactly.
trait FloatField: Sized {
    /// Narrower than a double.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    const NARROW: bool;
    fn exact(f: f64) -> std::result::Result<Self, String>;
}
impl FloatField for f32 {
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    const NARROW: bool = true;
    fn exact(f: f64) -> std::result::Result<Self, String> {
        crate::data::exact::f32_exact(f)
    }
}
impl FloatField for f64 {
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    const NARROW: bool = false;
    fn exact(f: f64) -> std::result::Result<Self, String> {
        Ok(crate::data::exact::plus_zero(f))
    }
}

impl SqlType for bool {
    const COLUMN_TYPE: ColumnType = ColumnType::Bool;
    type Inner = bool;
    fn to_value(&self) -> Value {
        Value::Bool(*self)
    }
    fn into_bound(self, _dialect: Dialect, _column: &ColumnMeta) -> Result<sea_query::Value> {
        Ok(sea_query::Value::Bool(Some(self)))
    }
    fn from_value(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::Bool(b) => Ok(b),
            Value::Int(i) => crate::data::exact::bool_from_int(i),
            other => mismatch(&other, "bool"),
        }
    }
    fn decode(row: &DbRow, idx: usize, _ty: &ColumnType) -> Result<Self> {
        decode_bool(row, idx)
    }
    #[cfg(feature = "sqlite")]
    const SQLITE_IN_PLACE: bool = true;
    #[cfg(feature = "sqlite")]
    fn decode_sqlite(v: ValueRef<'_>, _ty: &ColumnType) -> std::result::Result<Self, String> {
        bool::lite(v)
    }
}

impl SqlType for String {
    const COLUMN_TYPE: ColumnType = ColumnType::Text { max_len: None };
    type Inner = String;
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
    fn into_value(self) -> Value {
        Value::Text(self)
    }
    fn into_bound(self, dialect: Dialect, column: &ColumnMeta) -> Result<sea_query::Value> {
        match column.ty {
            ColumnType::Text { .. } => {
                crate::data::value::check_text(&self, Some(&column.ty), column.name)?;
                Ok(sea_query::Value::String(Some(self)))
            }
            _ => self.into_value().into_sea(dialect, Some(&column.ty), column.name),
        }
    }
    fn from_value(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::Text(s) => Ok(s),
            other => mismatch(&other, "text"),
        }
    }
    fn decode(row: &DbRow, idx: usize, _ty: &ColumnType) -> Result<Self> {
        row.get::<String>(idx)
    }
    #[cfg(feature = "sqlite")]
    const SQLITE_IN_PLACE: bool = true;
    #[cfg(feature = "sqlite")]
    fn decode_sqlite(v: ValueRef<'_>, _ty: &ColumnType) -> std::result::Result<Self, String> {
        String::lite(v)
    }
}

impl SqlType for Vec<u8> {
    const COLUMN_TYPE: ColumnType = ColumnType::Bytes;
    type Inner = Vec<u8>;
    fn to_value(&self) -> Value {
        Value::Bytes(self.clone())
    }
    fn into_value(self) -> Value {
        Value::Bytes(self)
    }
    fn from_value(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::Bytes(b) => Ok(b),
            other => mismatch(&other, "bytes"),
        }
    }
    fn decode(row: &DbRow, idx: usize, _ty: &ColumnType) -> Result<Self> {
        row.get::<Vec<u8>>(idx)
    }
    #[cfg(feature = "sqlite")]
    const SQLITE_IN_PLACE: bool = true;
    #[cfg(feature = "sqlite")]
    fn decode_sqlite(v: ValueRef<'_>, _ty: &ColumnType) -> std::result::Result<Self, String> {
        Vec::<u8>::lite(v)
    }
}

impl SqlType for Decimal {
    /// Decimal columns need their precision and scale: `#[model(decimal(12, 2))]`.
    const COLUMN_TYPE: ColumnType = ColumnType::Decimal { precision: 18, scale: 4 };
    type Inner = Decimal;
    fn to_value(&self) -> Value {
        Value::Decimal(*self)
    }
    fn from_value(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::Decimal(d) => Ok(d),
            Value::Int(i) => Ok(Decimal::from(i)),
            // A float's shortest text is the decimal it stands for (0.1 → 0.1).
            Value::Float(f) if f.is_finite() => crate::data::exact::parse_decimal(&f.to_string()),
            Value::Text(t) => crate::data::exact::parse_decimal(&t),
            other => mismatch(&other, "decimal"),
        }
    }
    fn decode(row: &DbRow, idx: usize, ty: &ColumnType) -> Result<Self> {
        let scale = match ty {
            ColumnType::Decimal { scale, .. } => Some(*scale),
            _ => None,
        };
        decode_decimal(row, idx, scale)
    }
    #[cfg(feature = "sqlite")]
    const SQLITE_IN_PLACE: bool = true;
    #[cfg(feature = "sqlite")]
    fn decode_sqlite(v: ValueRef<'_>, ty: &ColumnType) -> std::result::Result<Self, String> {
        match (ty, v) {
            (ColumnType::Decimal { scale, .. }, ValueRef::Real(f)) => crate::data::sqlite::decimal::from_double(f, *scale),
            (ColumnType::Decimal { scale, .. }, ValueRef::Integer(i)) if *scale > 0 => {
                Err(crate::data::sqlite::decimal::scaled_integer(i, *scale))
            }
            (ColumnType::Decimal { scale, .. }, v) => crate::data::exact::at_column_scale(Decimal::lite(v)?, *scale),
            (_, v) => Decimal::lite(v),
        }
    }
}

impl SqlType for Uuid {
    const COLUMN_TYPE: ColumnType = ColumnType::Uuid;
    type Inner = Uuid;
    fn to_value(&self) -> Value {
        Value::Uuid(*self)
    }
    fn from_value(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::Uuid(u) => Ok(u),
            Value::Bytes(b) => Uuid::from_slice(&b).map_err(|e| e.to_string()),
            Value::Text(t) => t.parse().map_err(|e: uuid::Error| e.to_string()),
            other => mismatch(&other, "uuid"),
        }
    }
    fn decode(row: &DbRow, idx: usize, _ty: &ColumnType) -> Result<Self> {
        decode_uuid(row, idx)
    }
    #[cfg(feature = "sqlite")]
    const SQLITE_IN_PLACE: bool = true;
    #[cfg(feature = "sqlite")]
    fn decode_sqlite(v: ValueRef<'_>, _ty: &ColumnType) -> std::result::Result<Self, String> {
        Uuid::from_slice(crate::data::sqlite::lite_bytes(v)?).map_err(|e| e.to_string())
    }
}

impl SqlType for DateTime<Utc> {
    const COLUMN_TYPE: ColumnType = ColumnType::Timestamp;
    type Inner = DateTime<Utc>;
    fn to_value(&self) -> Value {
        Value::Timestamp(*self)
    }
    fn from_value(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::Timestamp(t) => Ok(t),
            Value::Text(t) => parse_timestamp(&t),
            other => mismatch(&other, "timestamp"),
        }
    }
    fn decode(row: &DbRow, idx: usize, _ty: &ColumnType) -> Result<Self> {
        decode_timestamp(row, idx)
    }
    #[cfg(feature = "sqlite")]
    const SQLITE_IN_PLACE: bool = true;
    #[cfg(feature = "sqlite")]
    fn decode_sqlite(v: ValueRef<'_>, _ty: &ColumnType) -> std::result::Result<Self, String> {
        DateTime::<Utc>::lite(v)
    }
}

impl SqlType for NaiveDate {
    const COLUMN_TYPE: ColumnType = ColumnType::Date;
    type Inner = NaiveDate;
    fn to_value(&self) -> Value {
        Value::Date(*self)
    }
    fn from_value(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::Date(d) => Ok(d),
            Value::Text(t) => t.parse().map_err(|e: chrono::ParseError| e.to_string()),
            other => mismatch(&other, "date"),
        }
    }
    fn decode(row: &DbRow, idx: usize, _ty: &ColumnType) -> Result<Self> {
        decode_date(row, idx)
    }
    #[cfg(feature = "sqlite")]
    const SQLITE_IN_PLACE: bool = true;
    #[cfg(feature = "sqlite")]
    fn decode_sqlite(v: ValueRef<'_>, _ty: &ColumnType) -> std::result::Result<Self, String> {
        NaiveDate::lite(v)
    }
}

impl SqlType for NaiveTime {
    const COLUMN_TYPE: ColumnType = ColumnType::Time;
    type Inner = NaiveTime;
    fn to_value(&self) -> Value {
        Value::Time(*self)
    }
    fn from_value(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::Time(t) => Ok(t),
            Value::Text(t) => crate::data::exact::check_time_of_day(t.parse().map_err(|e: chrono::ParseError| e.to_string())?),
            other => mismatch(&other, "time"),
        }
    }
    fn decode(row: &DbRow, idx: usize, _ty: &ColumnType) -> Result<Self> {
        decode_time(row, idx)
    }
    #[cfg(feature = "sqlite")]
    const SQLITE_IN_PLACE: bool = true;
    #[cfg(feature = "sqlite")]
    fn decode_sqlite(v: ValueRef<'_>, _ty: &ColumnType) -> std::result::Result<Self, String> {
        NaiveTime::lite(v)
    }
}

impl SqlType for serde_json::Value {
    const COLUMN_TYPE: ColumnType = ColumnType::Json;
    type Inner = serde_json::Value;
    fn to_value(&self) -> Value {
        Value::Json(self.clone())
    }
    fn into_value(self) -> Value {
        Value::Json(self)
    }
    fn from_value(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::Json(j) => Ok(j),
            Value::Text(t) => serde_json::from_str(&t).map_err(|e| e.to_string()),
            other => mismatch(&other, "json"),
        }
    }
    fn decode(row: &DbRow, idx: usize, _ty: &ColumnType) -> Result<Self> {
        decode_json(row, idx)
    }
    #[cfg(feature = "sqlite")]
    const SQLITE_IN_PLACE: bool = true;
    #[cfg(feature = "sqlite")]
    fn decode_sqlite(v: ValueRef<'_>, _ty: &ColumnType) -> std::result::Result<Self, String> {
        serde_json::Value::lite(v)
    }
}

impl<T: SqlType> SqlType for Option<T> {
    const COLUMN_TYPE: ColumnType = T::COLUMN_TYPE;
    const NULLABLE: bool = true;
    type Inner = T::Inner;
    fn to_value(&self) -> Value {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null(T::COLUMN_TYPE.kind()),
        }
    }
    fn into_value(self) -> Value {
        match self {
            Some(v) => v.into_value(),
            None => Value::Null(T::COLUMN_TYPE.kind()),
        }
    }
    fn into_bound(self, dialect: Dialect, column: &ColumnMeta) -> Result<sea_query::Value> {
        match self {
            Some(v) => v.into_bound(dialect, column),
            None => self.into_value().into_sea(dialect, Some(&column.ty), column.name),
        }
    }
    fn from_value(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::Null(_) => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
    fn decode(row: &DbRow, idx: usize, ty: &ColumnType) -> Result<Self> {
        if row.is_null(idx)? {
            return Ok(None);
        }
        T::decode(row, idx, ty).map(Some)
    }
    #[cfg(feature = "sqlite")]
    const SQLITE_IN_PLACE: bool = T::SQLITE_IN_PLACE;
    #[cfg(feature = "sqlite")]
    fn decode_sqlite(v: ValueRef<'_>, ty: &ColumnType) -> std::result::Result<Self, String> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::decode_sqlite(v, ty).map(Some),
        }
    }
}

/// Used by `#[derive(DbEnum)]`: the text of each variant, and back.
pub trait DbEnumText: Sized {
    /// The stored text of every variant, in declaration order.
    const VARIANTS: &'static [&'static str];
    /// The stored text of this variant.
    fn as_text(&self) -> &'static str;
    /// The variant stored as `text`.
    fn from_text(text: &str) -> Option<Self>;
}

/// Decode an enum stored as text (called by `#[derive(DbEnum)]`'s generated code).
#[doc(hidden)]
pub fn decode_enum<E: DbEnumText>(row: &DbRow, idx: usize) -> Result<E> {
    let text = row.get::<String>(idx)?;
    E::from_text(&text).ok_or_else(|| row.decode_error(idx, format!("{text:?} is not one of {:?}", E::VARIANTS)))
}

/// Decode an enum stored as text from a SQLite value read in place (called by
/// `#[derive(DbEnum)]`'s generated code).
#[doc(hidden)]
#[cfg(feature = "sqlite")]
pub fn decode_enum_sqlite<E: DbEnumText>(v: ValueRef<'_>) -> std::result::Result<E, String> {
    let text = crate::data::sqlite::lite_text(v, "text")?;
    E::from_text(text).ok_or_else(|| format!("{text:?} is not one of {:?}", E::VARIANTS))
}

/// Without the `sqlite` feature there is no SQLite value to decode.
#[doc(hidden)]
#[cfg(not(feature = "sqlite"))]
pub fn decode_enum_sqlite<E: DbEnumText>(v: ValueRef<'_>) -> std::result::Result<E, String> {
    v.never()
}

/// Convert a [`Value`] into an enum stored as text (called by generated code).
#[doc(hidden)]
pub fn enum_from_value<E: DbEnumText>(v: Value) -> std::result::Result<E, String> {
    match v {
        Value::Text(t) => E::from_text(&t).ok_or_else(|| format!("{t:?} is not one of {:?}", E::VARIANTS)),
        other => mismatch(&other, "enum text"),
    }
}
