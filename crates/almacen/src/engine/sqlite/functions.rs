//! The SQL functions and the collation behind SQLite decimal columns (see [`decimal`](crate::data::sqlite::decimal)),
//! registered on every connection.

use crate::data::sqlite::decimal::{
    DECIMAL_ADD, DECIMAL_AVG, DECIMAL_COLLATION, DECIMAL_SUM, DECIMAL_TEXT, F32, from_double, scaled_integer, stored, text_at_scale,
};
use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::types::ValueRef;
use rust_decimal::Decimal;
use std::cmp::Ordering;

/// Register the collation and the aggregates on a new connection.
pub(crate) fn register(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.create_collation(DECIMAL_COLLATION, compare)?;
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_aggregate_function(DECIMAL_SUM, 1, flags, Sum { average: false })?;
    conn.create_aggregate_function(DECIMAL_SUM, 2, flags, Sum { average: false })?;
    conn.create_aggregate_function(DECIMAL_AVG, 1, flags, Sum { average: true })?;
    conn.create_aggregate_function(DECIMAL_AVG, 2, flags, Sum { average: true })?;
    conn.create_aggregate_function(DECIMAL_AVG, 3, flags, Sum { average: true })?;
    conn.create_scalar_function(DECIMAL_ADD, 4, flags, add)?;
    conn.create_scalar_function(DECIMAL_TEXT, 2, flags, text_at_scale_fn)?;
    conn.create_scalar_function(F32, 1, flags, nearest_f32)?;
    conn.create_scalar_function(LOWER, 1, flags | FunctionFlags::SQLITE_INNOCUOUS, lower)
}

/// The Unicode lowercase function behind `ilike`/`icontains` on SQLite, whose own `lower()`
/// and `LIKE` fold ASCII letters only.
pub(crate) const LOWER: &str = "almacen_lower";

/// `almacen_lower(x)`: text lowercased as PostgreSQL's and MariaDB's `lower()` do
/// ([`unicode_lower`](crate::sql::query::unicode_lower)); NULL stays NULL, a number is
/// returned as it is (it has no case), a blob is read as UTF-8 text when it is that.
fn lower(ctx: &Context<'_>) -> rusqlite::Result<rusqlite::types::Value> {
    use rusqlite::types::Value;
    Ok(match ctx.get_raw(0) {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(crate::sql::query::unicode_lower(&String::from_utf8_lossy(t))),
        ValueRef::Blob(b) => match std::str::from_utf8(b) {
            Ok(t) => Value::Text(crate::sql::query::unicode_lower(t)),
            Err(_) => Value::Blob(b.to_vec()),
        },
    })
}

/// A number as written in text: sign, digits (integer then fraction) and where the decimal
/// point falls among them.
struct Number<'a> {
    negative: bool,
    int: &'a [u8],
    frac: &'a [u8],
    exponent: i64,
}

impl<'a> Number<'a> {
    /// `[+-]digits[.digits][e[+-]digits]`, surrounding spaces allowed; `None` otherwise.
    fn parse(text: &'a str) -> Option<Number<'a>> {
        let t = text.trim().as_bytes();
        let (negative, t) = match t.first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (mantissa, exponent) = match t.iter().position(|b| matches!(b, b'e' | b'E')) {
            Some(i) => (&t[..i], std::str::from_utf8(&t[i + 1..]).ok()?.parse::<i64>().ok()?),
            None => (t, 0),
        };
        let (int, frac) = match mantissa.iter().position(|&b| b == b'.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, &mantissa[mantissa.len()..]),
        };
        let digits_only = int.iter().chain(frac).all(u8::is_ascii_digit);
        if !digits_only || (int.is_empty() && frac.is_empty()) {
            return None;
        }
        Some(Number { negative, int, frac, exponent })
    }

    fn digits(&self) -> impl Iterator<Item = u8> + '_ {
        self.int.iter().chain(self.frac).copied()
    }

    /// The power of ten of the first significant digit, or `None` for zero.
    fn magnitude(&self) -> Option<i128> {
        let leading = self.digits().take_while(|&d| d == b'0').count();
        // In i128: any exponent SQLite's text may hold, without overflow.
        (leading < self.int.len() + self.frac.len()).then(|| self.int.len() as i128 - 1 - leading as i128 + i128::from(self.exponent))
    }

    /// -1, 0 or 1.
    fn sign(&self) -> i8 {
        match (self.magnitude(), self.negative) {
            (None, _) => 0,
            (Some(_), true) => -1,
            (Some(_), false) => 1,
        }
    }
}

/// Compare the magnitudes of two non-zero numbers.
fn compare_abs(a: &Number<'_>, b: &Number<'_>, mag_a: i128, mag_b: i128) -> Ordering {
    mag_a.cmp(&mag_b).then_with(|| {
        // Same leading power: compare the significant digits, a missing digit being 0.
        let mut da = a.digits().skip_while(|&d| d == b'0');
        let mut db = b.digits().skip_while(|&d| d == b'0');
        loop {
            match (da.next(), db.next()) {
                (None, None) => return Ordering::Equal,
                (x, y) => match x.unwrap_or(b'0').cmp(&y.unwrap_or(b'0')) {
                    Ordering::Equal => {}
                    other => return other,
                },
            }
        }
    })
}

/// The collation: numbers in numeric order (`1.5` = `1.50` < `10`), then anything that is
/// not a number, in byte order.
pub(crate) fn compare(a: &str, b: &str) -> Ordering {
    match (Number::parse(a), Number::parse(b)) {
        (Some(x), Some(y)) => {
            let (sx, sy) = (x.sign(), y.sign());
            if sx != sy || sx == 0 {
                return sx.cmp(&sy);
            }
            let order = compare_abs(&x, &y, x.magnitude().unwrap_or(0), y.magnitude().unwrap_or(0));
            if sx < 0 { order.reverse() } else { order }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.as_bytes().cmp(b.as_bytes()),
    }
}

/// `almacen_decimal_add(column, delta, precision, scale)`: NULL when either is NULL, as `+`;
/// a sum the column cannot hold is an error, as it is on the servers.
fn add(ctx: &Context<'_>) -> rusqlite::Result<Option<rusqlite::types::Value>> {
    let precision = u32::try_from(ctx.get::<i64>(2)?).map_err(|_| user_error("precision must be positive".into()))?;
    let scale = u32::try_from(ctx.get::<i64>(3)?).map_err(|_| user_error("scale must be 0 or more".into()))?;
    let decimal = |i: usize| -> rusqlite::Result<Option<Decimal>> {
        Ok(Some(match ctx.get_raw(i) {
            ValueRef::Null => return Ok(None),
            ValueRef::Integer(n) => Decimal::from(n),
            ValueRef::Real(f) => from_double(f, scale).map_err(user_error)?,
            ValueRef::Text(t) => crate::data::exact::parse_decimal(&String::from_utf8_lossy(t)).map_err(user_error)?,
            ValueRef::Blob(_) => return Err(user_error("a blob is not a decimal".into())),
        }))
    };
    let (Some(a), Some(b)) = (decimal(0)?, decimal(1)?) else { return Ok(None) };
    let sum = a.checked_add(b).ok_or_else(|| user_error(OVERFLOW.into()))?;
    crate::data::exact::decimal_fits(sum, precision, scale).map_err(user_error)?;
    Ok(Some(match stored(sum, precision, scale) {
        sea_query::Value::Double(Some(f)) => rusqlite::types::Value::Real(f),
        sea_query::Value::String(Some(t)) => rusqlite::types::Value::Text(t),
        _ => unreachable!("a decimal is stored as a double or text"),
    }))
}

/// `almacen_decimal_text(x, scale)`: NULL stays NULL.
fn text_at_scale_fn(ctx: &Context<'_>) -> rusqlite::Result<Option<String>> {
    let scale = u32::try_from(ctx.get::<i64>(1)?).map_err(|_| user_error("scale must be 0 or more".into()))?;
    let d = match ctx.get_raw(0) {
        ValueRef::Null => return Ok(None),
        ValueRef::Integer(n) => Decimal::from(n),
        ValueRef::Real(f) => from_double(f, scale).map_err(user_error)?,
        ValueRef::Text(t) => crate::data::exact::parse_decimal(&String::from_utf8_lossy(t)).map_err(user_error)?,
        ValueRef::Blob(_) => return Err(user_error("a blob is not a decimal".into())),
    };
    Ok(Some(text_at_scale(crate::data::exact::at_column_scale(d, scale).map_err(user_error)?, scale)))
}

/// `almacen_f32(x)`: NULL stays NULL; past an `f32`'s range is an error, as on the servers.
fn nearest_f32(ctx: &Context<'_>) -> rusqlite::Result<Option<f64>> {
    let Some(f) = ctx.get::<Option<f64>>(0)? else { return Ok(None) };
    let narrow = f as f32;
    if narrow.is_finite() { Ok(Some(narrow.into())) } else { Err(user_error(format!("{f} is out of range for a 32-bit float"))) }
}

/// `almacen_decimal_sum(x[, scale])` / `almacen_decimal_avg(x[, places[, scale]])`: exact
/// over decimal text, integers and floats (a float counts as the decimal of its shortest
/// text); NULLs skipped; NULL when no value was seen, as SQL's SUM and AVG. A sum that
/// `Decimal` cannot hold is an error, never rounded. The average is rounded half away from
/// zero to `places` (typed `avg` passes the column's scale + 4, MariaDB's rule), or to the
/// largest scale seen + 4. With the column's `scale` (typed `sum`/`avg` pass it), a value is
/// read as a typed read reads it: a float as the decimal of `scale` places it stands for,
/// without text (about ten times cheaper), and a float or integer that stands for none is an
/// error, as it is when the row is read.
struct Sum {
    average: bool,
}

/// An exact running total: `mantissa` × 10^-`scale`, `scale` the largest seen.
#[derive(Default)]
struct Acc {
    mantissa: i128,
    scale: u32,
    count: u64,
    places: Option<u32>,
    /// The column's scale, when the call gave it.
    column_scale: Option<u32>,
}

fn user_error(message: String) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(message.into())
}

const OVERFLOW: &str = "the decimal sum needs more than the 28 digits a Decimal holds";

fn pow10(n: u32) -> rusqlite::Result<i128> {
    10i128.checked_pow(n).ok_or_else(|| user_error(OVERFLOW.into()))
}

impl Acc {
    fn add(&mut self, d: Decimal) -> rusqlite::Result<()> {
        let overflow = || user_error(OVERFLOW.into());
        let (mut m, mut s) = (d.mantissa(), d.scale());
        if s > self.scale {
            self.mantissa = self.mantissa.checked_mul(pow10(s - self.scale)?).ok_or_else(overflow)?;
            self.scale = s;
        }
        if s < self.scale {
            m = m.checked_mul(pow10(self.scale - s)?).ok_or_else(overflow)?;
            s = self.scale;
        }
        debug_assert_eq!(s, self.scale);
        self.mantissa = self.mantissa.checked_add(m).ok_or_else(overflow)?;
        self.count += 1;
        Ok(())
    }

    /// `mantissa` × 10^-`scale` as a `Decimal`, trailing zeros dropped until it fits.
    fn decimal(mut mantissa: i128, mut scale: u32) -> rusqlite::Result<Decimal> {
        while scale > 0 && mantissa % 10 == 0 && (scale > 28 || Decimal::try_from_i128_with_scale(mantissa, scale).is_err()) {
            mantissa /= 10;
            scale -= 1;
        }
        Decimal::try_from_i128_with_scale(mantissa, scale).map_err(|_| user_error(OVERFLOW.into()))
    }

    /// The average rounded half away from zero to `places`.
    fn average(&self, places: u32) -> rusqlite::Result<Decimal> {
        let count = i128::from(self.count);
        let (num, den) = if places >= self.scale {
            (self.mantissa.checked_mul(pow10(places - self.scale)?).ok_or_else(|| user_error(OVERFLOW.into()))?, count)
        } else {
            (self.mantissa, count.checked_mul(pow10(self.scale - places)?).ok_or_else(|| user_error(OVERFLOW.into()))?)
        };
        let (q, r) = (num / den, num % den);
        let rounded = if 2 * r.abs() >= den { q + num.signum() } else { q };
        Acc::decimal(rounded, places)
    }
}

impl Aggregate<Acc, Option<String>> for Sum {
    fn init(&self, _ctx: &mut Context<'_>) -> rusqlite::Result<Acc> {
        Ok(Acc::default())
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut Acc) -> rusqlite::Result<()> {
        if acc.count == 0 {
            let number = |i: usize, what: &str| -> rusqlite::Result<u32> {
                u32::try_from(ctx.get::<i64>(i)?).map_err(|_| user_error(format!("{what} must be 0 or more")))
            };
            let scale_at = if self.average { 2 } else { 1 };
            if self.average && ctx.len() > 1 {
                acc.places = Some(number(1, "places")?);
            }
            if ctx.len() > scale_at {
                acc.column_scale = Some(number(scale_at, "scale")?);
            }
        }
        let value = match (ctx.get_raw(0), acc.column_scale) {
            (ValueRef::Null, _) => return Ok(()),
            (ValueRef::Integer(i), Some(scale)) if scale > 0 => return Err(user_error(scaled_integer(i, scale))),
            (ValueRef::Integer(i), _) => Decimal::from(i),
            (ValueRef::Real(f), Some(scale)) => from_double(f, scale).map_err(user_error)?,
            (ValueRef::Real(f), None) => crate::data::exact::parse_decimal(&f.to_string()).map_err(user_error)?,
            (ValueRef::Text(t), _) => crate::data::exact::parse_decimal(&String::from_utf8_lossy(t)).map_err(user_error)?,
            (ValueRef::Blob(_), _) => return Err(user_error("a blob is not a decimal".into())),
        };
        acc.add(value)
    }

    fn finalize(&self, _ctx: &mut Context<'_>, acc: Option<Acc>) -> rusqlite::Result<Option<String>> {
        let Some(acc) = acc.filter(|a| a.count > 0) else { return Ok(None) };
        let value = if self.average { acc.average(acc.places.unwrap_or(acc.scale + 4))? } else { Acc::decimal(acc.mantissa, acc.scale)? };
        Ok(Some(value.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::sqlite::decimal::nearest_double;
    use std::cmp::Ordering::*;

    /// Raw SQL binds a decimal as text, which SQLite converts to a double where it meets a
    /// `DECIMAL_REAL` column: that conversion must give the double almacen stores.
    #[test]
    fn sqlite_reads_decimal_text_as_the_nearest_double() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let digits = (seed % 15 + 1) as u32;
            let mantissa = (seed >> 8) as i64 % 10i64.pow(digits);
            let d = Decimal::new(mantissa, (seed >> 4) as u32 % (digits + 1));
            let sqlite: f64 = conn.query_row("SELECT CAST(?1 AS REAL)", [d.to_string()], |r| r.get(0)).unwrap();
            assert_eq!(sqlite.to_bits(), nearest_double(d).to_bits(), "{d}");
        }
    }

    fn total(values: &[&str]) -> Acc {
        let mut acc = Acc::default();
        for v in values {
            acc.add(v.parse().unwrap()).unwrap();
        }
        acc
    }

    #[test]
    fn sums_are_exact_or_refused() {
        let acc = total(&["1.50", "2.25", "-0.75"]);
        assert_eq!(Acc::decimal(acc.mantissa, acc.scale).unwrap().to_string(), "3.00");
        let max = "99999999999999999999.99999999";
        let acc = total(&[max; 8]);
        assert!(Acc::decimal(acc.mantissa, acc.scale).is_err(), "799999999999999999999.99999992 has 29 digits");
        let acc = total(&["0.10", "0.20", "0.30"]);
        assert_eq!(Acc::decimal(acc.mantissa, acc.scale).unwrap().to_string(), "0.60");
    }

    /// With the column's scale the sum reads doubles as typed reads do: the same totals as
    /// without it for the decimals a column holds, and an error for what it cannot hold.
    #[test]
    fn sums_given_the_scale_read_doubles_as_typed_reads_do() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        conn.execute_batch("CREATE TABLE t (v REAL); INSERT INTO t VALUES (0.1), (0.2), (158.0), (-0.75), (NULL), (1e-2)").unwrap();
        let one = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, Option<String>>(0));
        assert_eq!(one("SELECT almacen_decimal_sum(v, 2) FROM t").unwrap().as_deref(), Some("157.56"));
        assert_eq!(one("SELECT almacen_decimal_sum(v) FROM t").unwrap().as_deref(), Some("157.56"));
        assert_eq!(one("SELECT almacen_decimal_avg(v, 6, 2) FROM t").unwrap().as_deref(), Some("31.512000"));
        assert_eq!(one("SELECT almacen_decimal_sum(v, 2) FROM t WHERE v IS NULL").unwrap(), None);
        // 1.005 is no decimal of 2 places, and an integer in a 2-place column is an old table's.
        conn.execute_batch("INSERT INTO t VALUES (1.005)").unwrap();
        let err = one("SELECT almacen_decimal_sum(v, 2) FROM t").unwrap_err().to_string();
        assert!(err.contains("is not a decimal of 2 places"), "{err}");
        assert_eq!(one("SELECT almacen_decimal_sum(v) FROM t").unwrap().as_deref(), Some("158.565"));
        let err = one("SELECT almacen_decimal_avg(x, 6, 2) FROM (SELECT 15800 AS x)").unwrap_err().to_string();
        assert!(err.contains("scaled integers"), "{err}");
        assert_eq!(one("SELECT almacen_decimal_sum(x, 0) FROM (SELECT 15800 AS x)").unwrap().as_deref(), Some("15800"));
    }

    #[test]
    fn averages_round_half_away_from_zero() {
        assert_eq!(total(&["1.00", "2.00", "2.00"]).average(6).unwrap().to_string(), "1.666667");
        let mut ones = vec!["0"; 31];
        ones.push("1");
        assert_eq!(total(&ones).average(4).unwrap().to_string(), "0.0313", "1/32 = 0.03125");
        ones[31] = "-1";
        assert_eq!(total(&ones).average(4).unwrap().to_string(), "-0.0313");
        assert_eq!(total(&["99999999999999999999.99999999"; 8]).average(12).unwrap().to_string(), "99999999999999999999.99999999");
    }

    #[test]
    fn almacen_lower_folds_unicode_and_keeps_null() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let one = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, Option<String>>(0)).unwrap();
        assert_eq!(one("SELECT almacen_lower('Élan STRAẞE ΣΑΣ ПРИВЕТ İ')").as_deref(), Some("élan straße σασ привет i"));
        assert_eq!(one("SELECT almacen_lower(NULL)"), None);
        assert_eq!(one("SELECT almacen_lower(12) || ''").as_deref(), Some("12"));
        assert_eq!(one("SELECT almacen_lower(NULL) GLOB '*'"), None, "NULL matches nothing");
    }

    #[test]
    fn collation_orders_numbers_numerically() {
        assert_eq!(compare("1.5", "1.50"), Equal);
        assert_eq!(compare("9.99", "10"), Less);
        assert_eq!(compare("-10", "-9.99"), Less);
        assert_eq!(compare("-0.00", "0"), Equal);
        assert_eq!(compare("0.001", "0.01"), Less);
        assert_eq!(compare("1.0e+20", "99999999999999999999.9999"), Greater);
        assert_eq!(compare("1.0e-07", "0.0000001"), Equal);
        assert_eq!(compare("12345678901234567890.12345678", "12345678901234567890.12345679"), Less);
        assert_eq!(compare("-1", "abc"), Less);
        assert_eq!(compare("abc", "abd"), Less);
        assert_eq!(compare("007", "7.000"), Equal);
        // Exponents at i64's ends order without overflow.
        assert_eq!(compare("10e9223372036854775807", "1"), Greater);
        assert_eq!(compare("1e-9223372036854775808", "0"), Greater);
        assert_eq!(compare("-10e9223372036854775807", "-1e9223372036854775807"), Less);
    }
}
