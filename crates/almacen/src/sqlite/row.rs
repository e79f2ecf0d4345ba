//! SQLite rows, copied out of the statement as it steps, and how Rust types read them.

use crate::row::parse_timestamp;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rusqlite::types::Value as LiteValue;
use std::sync::Arc;

/// A SQLite row: the statement's column names (shared by every row of one result) and the
/// row's values in SQLite's storage classes.
#[derive(Debug, Clone)]
pub struct LiteRow {
    pub(crate) columns: Arc<[Box<str>]>,
    pub(crate) values: Box<[LiteValue]>,
}

impl LiteRow {
    /// The value of column `idx`, or an error naming the missing index.
    pub(crate) fn at(&self, idx: usize) -> Result<&LiteValue, String> {
        self.values.get(idx).ok_or_else(|| format!("column index {idx} is out of range ({} columns)", self.values.len()))
    }
}

/// A Rust type read from one SQLite value.
pub(crate) trait LiteDecode: Sized {
    fn lite(v: &LiteValue) -> Result<Self, String>;
}

fn unexpected<T>(v: &LiteValue, want: &str) -> Result<T, String> {
    match v {
        LiteValue::Null => Err(format!("unexpected NULL, expected {want}")),
        other => Err(format!("expected {want}, found SQLite {}", other.data_type())),
    }
}

fn text<'a>(v: &'a LiteValue, want: &str) -> Result<&'a str, String> {
    match v {
        LiteValue::Text(s) => Ok(s),
        other => unexpected(other, want),
    }
}

impl LiteDecode for i64 {
    fn lite(v: &LiteValue) -> Result<Self, String> {
        match v {
            LiteValue::Integer(i) => Ok(*i),
            // An aggregate over integers can come back as REAL (AVG, or SUM past i64).
            LiteValue::Real(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(*f as i64),
            other => unexpected(other, "an integer"),
        }
    }
}

macro_rules! narrow_int {
    ($($t:ty),*) => {$(
        impl LiteDecode for $t {
            fn lite(v: &LiteValue) -> Result<Self, String> {
                let i = i64::lite(v)?;
                <$t>::try_from(i).map_err(|_| format!("{i} does not fit {}", stringify!($t)))
            }
        }
    )*};
}
narrow_int!(i8, i16, i32, u8, u16, u32, u64);

impl LiteDecode for bool {
    fn lite(v: &LiteValue) -> Result<Self, String> {
        Ok(i64::lite(v).map_err(|_| format!("expected a boolean (0 or 1), found {v:?}"))? != 0)
    }
}

impl LiteDecode for f64 {
    fn lite(v: &LiteValue) -> Result<Self, String> {
        match v {
            LiteValue::Real(f) => Ok(*f),
            LiteValue::Integer(i) => Ok(*i as f64),
            other => unexpected(other, "a number"),
        }
    }
}

impl LiteDecode for f32 {
    fn lite(v: &LiteValue) -> Result<Self, String> {
        f64::lite(v).map(|f| f as f32)
    }
}

impl LiteDecode for String {
    fn lite(v: &LiteValue) -> Result<Self, String> {
        text(v, "text").map(str::to_string)
    }
}

impl LiteDecode for Vec<u8> {
    fn lite(v: &LiteValue) -> Result<Self, String> {
        match v {
            LiteValue::Blob(b) => Ok(b.clone()),
            LiteValue::Text(s) => Ok(s.as_bytes().to_vec()),
            other => unexpected(other, "bytes"),
        }
    }
}

impl LiteDecode for uuid::Uuid {
    fn lite(v: &LiteValue) -> Result<Self, String> {
        match v {
            LiteValue::Blob(b) => uuid::Uuid::from_slice(b).map_err(|e| e.to_string()),
            LiteValue::Text(s) => s.parse().map_err(|e: uuid::Error| e.to_string()),
            other => unexpected(other, "a UUID"),
        }
    }
}

impl LiteDecode for NaiveDate {
    fn lite(v: &LiteValue) -> Result<Self, String> {
        let s = text(v, "a date")?;
        NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| format!("{s:?} is not a date: {e}"))
    }
}

impl LiteDecode for NaiveTime {
    fn lite(v: &LiteValue) -> Result<Self, String> {
        let s = text(v, "a time")?;
        NaiveTime::parse_from_str(s, "%H:%M:%S%.f").map_err(|e| format!("{s:?} is not a time: {e}"))
    }
}

impl LiteDecode for NaiveDateTime {
    fn lite(v: &LiteValue) -> Result<Self, String> {
        DateTime::<Utc>::lite(v).map(|t| t.naive_utc())
    }
}

impl LiteDecode for DateTime<Utc> {
    fn lite(v: &LiteValue) -> Result<Self, String> {
        parse_timestamp(text(v, "a timestamp")?)
    }
}

impl LiteDecode for serde_json::Value {
    fn lite(v: &LiteValue) -> Result<Self, String> {
        serde_json::from_str(text(v, "JSON text")?).map_err(|e| e.to_string())
    }
}

impl<T: LiteDecode> LiteDecode for sqlx::types::Json<T> {
    fn lite(v: &LiteValue) -> Result<Self, String> {
        T::lite(v).map(sqlx::types::Json)
    }
}

impl LiteDecode for rust_decimal::Decimal {
    fn lite(v: &LiteValue) -> Result<Self, String> {
        match v {
            LiteValue::Integer(i) => Ok((*i).into()),
            LiteValue::Real(f) => rust_decimal::Decimal::try_from(*f).map_err(|e| e.to_string()),
            LiteValue::Text(s) => s.parse().map_err(|e: rust_decimal::Error| e.to_string()),
            other => unexpected(other, "a decimal"),
        }
    }
}

impl<T: LiteDecode> LiteDecode for Option<T> {
    fn lite(v: &LiteValue) -> Result<Self, String> {
        match v {
            LiteValue::Null => Ok(None),
            other => T::lite(other).map(Some),
        }
    }
}
