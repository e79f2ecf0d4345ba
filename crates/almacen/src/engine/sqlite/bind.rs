//! Binding sea-query values to SQLite parameters, borrowing text and bytes.

use crate::data::value::format_timestamp;
use rusqlite::types::{ToSqlOutput, Value as LiteValue, ValueRef};

/// One bound value. almacen's own values arrive as SQLite's storage types already (see
/// `Value::to_sea`); the other variants cover statements users build by hand.
pub(super) struct Bind<'a>(pub &'a sea_query::Value);

impl Bind<'_> {
    /// Whether SQLite keeps a copy of this value once bound: numbers are bound by value,
    /// everything else (text, blobs, and values bound as text) is copied.
    pub(super) fn copied_by_sqlite(&self) -> bool {
        use sea_query::Value as S;
        !matches!(
            self.0,
            S::Bool(_)
                | S::TinyInt(_)
                | S::SmallInt(_)
                | S::Int(_)
                | S::BigInt(_)
                | S::TinyUnsigned(_)
                | S::SmallUnsigned(_)
                | S::Unsigned(_)
                | S::BigUnsigned(_)
                | S::Float(_)
                | S::Double(_)
        )
    }
}

impl rusqlite::ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use sea_query::Value as S;
        let owned = |v: LiteValue| Ok(ToSqlOutput::Owned(v));
        let int = |v: Option<i64>| owned(v.map_or(LiteValue::Null, LiteValue::Integer));
        match self.0 {
            S::Bool(v) => int(v.map(i64::from)),
            S::TinyInt(v) => int(v.map(i64::from)),
            S::SmallInt(v) => int(v.map(i64::from)),
            S::Int(v) => int(v.map(i64::from)),
            S::BigInt(v) => int(*v),
            S::TinyUnsigned(v) => int(v.map(i64::from)),
            S::SmallUnsigned(v) => int(v.map(i64::from)),
            S::Unsigned(v) => int(v.map(i64::from)),
            S::BigUnsigned(v) => match v.map(i64::try_from) {
                Some(Err(_)) => Err(rusqlite::Error::ToSqlConversionFailure("an unsigned 64-bit value above i64::MAX".into())),
                Some(Ok(i)) => int(Some(i)),
                None => int(None),
            },
            S::Float(v) => owned(v.map_or(LiteValue::Null, |f| LiteValue::Real(f as f64))),
            S::Double(v) => owned(v.map_or(LiteValue::Null, LiteValue::Real)),
            S::String(Some(s)) => Ok(ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))),
            S::Char(Some(c)) => owned(LiteValue::Text(c.to_string())),
            S::Bytes(Some(b)) => Ok(ToSqlOutput::Borrowed(ValueRef::Blob(b))),
            S::Uuid(Some(u)) => Ok(ToSqlOutput::Borrowed(ValueRef::Blob(u.as_bytes()))),
            S::Json(Some(j)) => owned(LiteValue::Text(j.to_string())),
            S::Decimal(Some(d)) => owned(LiteValue::Text(d.to_string())),
            S::ChronoDateTimeUtc(Some(t)) => owned(LiteValue::Text(format_timestamp(*t))),
            S::ChronoDateTime(Some(t)) => owned(LiteValue::Text(t.format("%Y-%m-%d %H:%M:%S%.f").to_string())),
            S::ChronoDate(Some(d)) => owned(LiteValue::Text(d.format("%Y-%m-%d").to_string())),
            S::ChronoTime(Some(t)) => owned(LiteValue::Text(t.format("%H:%M:%S%.6f").to_string())),
            S::String(None)
            | S::Char(None)
            | S::Bytes(None)
            | S::Uuid(None)
            | S::Json(None)
            | S::Decimal(None)
            | S::ChronoDateTimeUtc(None)
            | S::ChronoDateTime(None)
            | S::ChronoDate(None)
            | S::ChronoTime(None) => Ok(ToSqlOutput::Owned(LiteValue::Null)),
            #[allow(unreachable_patterns)]
            other => Err(rusqlite::Error::ToSqlConversionFailure(format!("SQLite cannot bind {other:?}").into())),
        }
    }
}
