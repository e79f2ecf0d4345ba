//! SQLite rows, copied out of the statement as it steps, and how Rust types read them.

use crate::data::error::{Error, Result};
use crate::data::exact::parse_timestamp;
use crate::data::model::ColumnType;
use crate::data::row::DbRow;
use crate::data::types::SqlType;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rusqlite::types::ValueRef;
use std::sync::Arc;

/// The columns of a statement's result, shared by every row it returns.
pub(crate) type Columns = Arc<[LiteColumn]>;

/// A result column: its name, and the decimal column it reads, if it reads one (from the
/// declared type, `DECIMAL_REAL(p, s)` or `DECIMAL_TEXT(p, s)`), so that raw rows give a
/// decimal as the servers' do.
#[derive(Debug)]
pub(crate) struct LiteColumn {
    name: Box<str>,
    decimal_scale: Option<u32>,
}

impl LiteColumn {
    pub(crate) fn new(name: &str, decl_type: Option<&str>) -> Self {
        LiteColumn { name: name.into(), decimal_scale: decl_type.and_then(crate::data::sqlite::decimal::declared_scale) }
    }
}

impl std::ops::Deref for LiteColumn {
    type Target = str;
    fn deref(&self) -> &str {
        &self.name
    }
}

/// The rows of one result, stored together: the cells of every row in one list and the
/// text and bytes of every row in one buffer, so a row costs no allocation of its own.
#[derive(Debug)]
pub(crate) struct LiteResult {
    columns: Columns,
    cells: Vec<Cell>,
    bytes: Vec<u8>,
}

/// One value; text and blobs point into the result's byte buffer.
#[derive(Debug, Clone, Copy)]
enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    Text(usize, usize),
    Blob(usize, usize),
}

impl LiteResult {
    pub(crate) fn new(columns: Columns) -> Self {
        let width = columns.len();
        LiteResult { columns, cells: Vec::with_capacity(width), bytes: Vec::with_capacity(64) }
    }

    /// Append the next value (row after row, column after column).
    pub(crate) fn push(&mut self, v: ValueRef<'_>) {
        let mut bytes = |b: &[u8]| {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(b);
            (start, b.len())
        };
        let cell = match v {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(i) => Cell::Integer(i),
            ValueRef::Real(f) => Cell::Real(f),
            ValueRef::Text(t) => {
                let (s, n) = bytes(t);
                Cell::Text(s, n)
            }
            ValueRef::Blob(b) => {
                let (s, n) = bytes(b);
                Cell::Blob(s, n)
            }
        };
        self.cells.push(cell);
    }

    /// Name the columns again (before any value is pushed).
    pub(crate) fn set_columns(&mut self, columns: &Columns) {
        debug_assert!(self.cells.is_empty(), "columns renamed after values were pushed");
        self.columns = columns.clone();
    }

    /// Split the result into its rows.
    pub(crate) fn into_rows(self) -> Vec<DbRow> {
        rows_of(&Arc::new(self))
    }

    /// The number of rows.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.cells.len() / self.columns.len().max(1)
    }

    /// Whether it holds no value.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The room its cells and its bytes take.
    #[inline]
    pub(crate) fn capacity(&self) -> (usize, usize) {
        (self.cells.capacity(), self.bytes.capacity())
    }

    /// Empty it, to be filled again with the values of `columns`.
    #[inline]
    pub(crate) fn reset(&mut self, columns: &Columns) {
        self.cells.clear();
        self.bytes.clear();
        if !Arc::ptr_eq(&self.columns, columns) {
            self.columns = columns.clone();
        }
    }
}

/// Every row of `set`, each a row object.
pub(crate) fn rows_of(set: &Arc<LiteResult>) -> Vec<DbRow> {
    let width = set.columns.len().max(1);
    (0..set.cells.len() / width).map(|row| DbRow::Sqlite(LiteRow { set: set.clone(), start: row * width })).collect()
}

/// The first row of `set`, which has one.
#[inline]
pub(crate) fn first_row(set: Arc<LiteResult>) -> DbRow {
    DbRow::Sqlite(LiteRow { set, start: 0 })
}

/// Hand the first `count` rows of `set` to `each` through one row view moved along it: no
/// row object and no reference count per row. Stops at the first error; the set comes back.
pub(crate) fn each_row(set: Arc<LiteResult>, count: usize, mut each: impl FnMut(&DbRow) -> Result<()>) -> (Result<()>, Arc<LiteResult>) {
    let width = set.columns.len().max(1);
    let mut view = LiteRow { set, start: 0 }.into_db_row();
    let mut out = Ok(());
    for row in 0..count {
        match &mut view {
            DbRow::Sqlite(r) => r.start = row * width,
            #[cfg(any(feature = "postgres", feature = "mysql"))]
            _ => unreachable!("made as a SQLite row above"),
        }
        if let Err(e) = each(&view) {
            out = Err(e);
            break;
        }
    }
    match view {
        DbRow::Sqlite(r) => (out, r.set),
        #[cfg(any(feature = "postgres", feature = "mysql"))]
        _ => unreachable!("made as a SQLite row above"),
    }
}

/// A SQLite row: a view of one row of a result (the rows of one result share its buffer).
/// Read it through [`DbRow`](crate::DbRow) or [`Row`](crate::Row):
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
/// use almacen::prelude::*;
/// use almacen::{DbRow, Statement};
/// let db = Database::connect("sqlite::memory:").await?;
/// let rows = db.fetch_rows(Statement::new("SELECT 7 AS n, 'x' AS s", Vec::new())).await?;
/// assert!(matches!(rows[0], DbRow::Sqlite(_)));
/// assert_eq!((rows[0].column_name(1), rows[0].get_as::<i64>(0)?), ("s", 7));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct LiteRow {
    set: Arc<LiteResult>,
    start: usize,
}

impl LiteRow {
    fn into_db_row(self) -> DbRow {
        DbRow::Sqlite(self)
    }

    /// Number of columns.
    pub(crate) fn len(&self) -> usize {
        self.set.columns.len()
    }

    /// The name of column `idx`.
    pub(crate) fn column_name(&self, idx: usize) -> &str {
        &self.set.columns[idx]
    }

    /// The scale of the decimal column that column `idx` reads, if it reads one.
    pub(crate) fn decimal_scale(&self, idx: usize) -> Option<u32> {
        self.set.columns.get(idx).and_then(|c| c.decimal_scale)
    }

    /// The value of column `idx`, or an error naming the missing index.
    pub(crate) fn at(&self, idx: usize) -> Result<ValueRef<'_>, String> {
        if idx >= self.len() {
            return Err(format!("column index {idx} is out of range ({} columns)", self.len()));
        }
        let bytes = |s: usize, n: usize| &self.set.bytes[s..s + n];
        Ok(match self.set.cells[self.start + idx] {
            Cell::Null => ValueRef::Null,
            Cell::Integer(i) => ValueRef::Integer(i),
            Cell::Real(f) => ValueRef::Real(f),
            Cell::Text(s, n) => ValueRef::Text(bytes(s, n)),
            Cell::Blob(s, n) => ValueRef::Blob(bytes(s, n)),
        })
    }
}

impl std::fmt::Debug for LiteRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for i in 0..self.len() {
            m.entry(&self.column_name(i), &self.at(i).ok());
        }
        m.finish()
    }
}

/// SQLite's current row, read in place while its statement steps: models decode from it
/// without the row being copied (see `SqlType::decode_sqlite`).
#[doc(hidden)]
pub struct LiveRow<'r> {
    row: &'r rusqlite::Row<'r>,
    columns: &'r [LiteColumn],
}

impl<'r> LiveRow<'r> {
    pub(crate) fn new(row: &'r rusqlite::Row<'r>, columns: &'r [LiteColumn]) -> Self {
        LiveRow { row, columns }
    }

    /// Decode column `idx`, whose column has type `ty`.
    #[inline]
    pub fn decode<T: SqlType>(&self, idx: usize, ty: &ColumnType) -> Result<T> {
        match self.row.get_ref(idx) {
            Ok(v) => T::decode_sqlite(v, ty).map_err(|e| self.error(idx, e)),
            Err(e) => Err(self.error(idx, e)),
        }
    }

    #[cold]
    fn error(&self, idx: usize, e: impl std::fmt::Display) -> Error {
        let name = self.columns.get(idx).map_or_else(|| format!("#{idx}"), |c| c.to_string());
        Error::decode(name, e)
    }
}

/// A Rust type read from one SQLite value.
pub(crate) trait LiteDecode: Sized {
    fn lite(v: ValueRef<'_>) -> Result<Self, String>;
}

fn unexpected<T>(v: ValueRef<'_>, want: &str) -> Result<T, String> {
    match v {
        ValueRef::Null => Err(format!("unexpected NULL, expected {want}")),
        other => Err(format!("expected {want}, found SQLite {}", other.data_type())),
    }
}

/// The text of a value, or an error naming what was wanted.
pub(crate) fn lite_text<'a>(v: ValueRef<'a>, want: &str) -> Result<&'a str, String> {
    match v {
        ValueRef::Text(s) => std::str::from_utf8(s).map_err(|e| format!("text is not UTF-8: {e}")),
        other => unexpected(other, want),
    }
}

impl LiteDecode for i64 {
    fn lite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Integer(i) => Ok(i),
            // An aggregate over integers can come back as REAL (AVG, or SUM past i64).
            ValueRef::Real(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(f as i64),
            other => unexpected(other, "an integer"),
        }
    }
}

macro_rules! narrow_int {
    ($($t:ty),*) => {$(
        impl LiteDecode for $t {
            fn lite(v: ValueRef<'_>) -> Result<Self, String> {
                let i = i64::lite(v)?;
                <$t>::try_from(i).map_err(|_| format!("{i} does not fit {}", stringify!($t)))
            }
        }
    )*};
}
narrow_int!(i8, i16, i32, u8, u16, u32, u64);

impl LiteDecode for bool {
    fn lite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Integer(i) => crate::data::exact::bool_from_int(i),
            other => unexpected(other, "a boolean (0 or 1)"),
        }
    }
}

impl LiteDecode for f64 {
    fn lite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Real(f) => Ok(crate::data::exact::plus_zero(f)),
            ValueRef::Integer(i) => crate::data::exact::f64_from_int(i),
            other => unexpected(other, "a number"),
        }
    }
}

impl LiteDecode for f32 {
    fn lite(v: ValueRef<'_>) -> Result<Self, String> {
        crate::data::exact::f32_exact(f64::lite(v)?)
    }
}

impl LiteDecode for String {
    fn lite(v: ValueRef<'_>) -> Result<Self, String> {
        lite_text(v, "text").map(str::to_string)
    }
}

/// The bytes of a blob or text value.
pub(crate) fn lite_bytes<'a>(v: ValueRef<'a>) -> Result<&'a [u8], String> {
    match v {
        ValueRef::Blob(b) | ValueRef::Text(b) => Ok(b),
        other => unexpected(other, "bytes"),
    }
}

impl LiteDecode for Vec<u8> {
    fn lite(v: ValueRef<'_>) -> Result<Self, String> {
        lite_bytes(v).map(<[u8]>::to_vec)
    }
}

impl LiteDecode for uuid::Uuid {
    fn lite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Blob(b) => uuid::Uuid::from_slice(b).map_err(|e| e.to_string()),
            ValueRef::Text(_) => lite_text(v, "a UUID")?.parse().map_err(|e: uuid::Error| e.to_string()),
            other => unexpected(other, "a UUID"),
        }
    }
}

impl LiteDecode for NaiveDate {
    fn lite(v: ValueRef<'_>) -> Result<Self, String> {
        let s = lite_text(v, "a date")?;
        NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| format!("{s:?} is not a date: {e}"))
    }
}

impl LiteDecode for NaiveTime {
    fn lite(v: ValueRef<'_>) -> Result<Self, String> {
        let s = lite_text(v, "a time")?;
        let t = NaiveTime::parse_from_str(s, "%H:%M:%S%.f").map_err(|e| format!("{s:?} is not a time: {e}"))?;
        crate::data::exact::check_time_of_day(t)
    }
}

impl LiteDecode for NaiveDateTime {
    fn lite(v: ValueRef<'_>) -> Result<Self, String> {
        DateTime::<Utc>::lite(v).map(|t| t.naive_utc())
    }
}

impl LiteDecode for DateTime<Utc> {
    fn lite(v: ValueRef<'_>) -> Result<Self, String> {
        parse_timestamp(lite_text(v, "a timestamp")?)
    }
}

impl LiteDecode for serde_json::Value {
    fn lite(v: ValueRef<'_>) -> Result<Self, String> {
        serde_json::from_str(lite_text(v, "JSON text")?).map_err(|e| e.to_string())
    }
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl<T: LiteDecode> LiteDecode for sqlx::types::Json<T> {
    fn lite(v: ValueRef<'_>) -> Result<Self, String> {
        T::lite(v).map(sqlx::types::Json)
    }
}

impl LiteDecode for rust_decimal::Decimal {
    fn lite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Integer(i) => Ok(i.into()),
            // A float stands for the decimal of its shortest text (0.1 → 0.1), as SQLite's text of it does.
            ValueRef::Real(f) => crate::data::exact::parse_decimal(&f.to_string()),
            ValueRef::Text(_) => crate::data::exact::parse_decimal(lite_text(v, "a decimal")?),
            other => unexpected(other, "a decimal"),
        }
    }
}

impl<T: LiteDecode> LiteDecode for Option<T> {
    fn lite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Null => Ok(None),
            other => T::lite(other).map(Some),
        }
    }
}
