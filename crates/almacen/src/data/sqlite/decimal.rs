//! Exact decimals on SQLite, which has no decimal type.
//!
//! A `decimal(p, s)` column with p ≤ 15 is declared `DECIMAL_REAL(p, s)`: REAL affinity, the
//! value stored as the nearest double. A double holds every decimal of up to 15 significant
//! digits exactly enough that formatting it at the column's scale gives the decimal back, so
//! typed reads are exact (and a stored double that is not such a decimal is a decode error),
//! while raw SQL and other tools see, compare and sort plain numbers.
//!
//! Above 15 digits a double is not enough: the column is declared
//! `DECIMAL_TEXT(p, s) COLLATE almacen_decimal`, text affinity so the value stays the exact
//! text almacen writes (`12345678901234567.1234`), with a collation that compares such texts
//! as numbers. Because the column carries the collation, `<`, `=`, `BETWEEN`, `IN`,
//! `ORDER BY`, `MIN`/`MAX`, `GROUP BY`, `UNIQUE` and indexes on the column itself are exact,
//! in typed queries and raw SQL alike (a number compared with the column takes its text
//! affinity, then the collation). An expression over it (`MAX(v) > 5`, `COALESCE(v, 0) > 5`)
//! is no column: compared with a number it compares as text, so raw SQL writes
//! `MAX(v) COLLATE almacen_decimal > '5'` or casts. A connection without the collation (the
//! `sqlite3` shell) fails with "no such collation sequence" rather than compare strings.
//!
//! Both kinds sum and average exactly with `almacen_decimal_sum(x)` and
//! `almacen_decimal_avg(x)`, which return decimal text; typed `sum`/`avg` use them. SQLite's
//! own `SUM`/`AVG` and arithmetic give floats (the nearest value).
//!
//! This module is SQL text and value conversions only (every build generates SQLite SQL); the
//! functions and the collation themselves are in `functions.rs`, with the driver.

use rust_decimal::Decimal;

/// The collation of SQLite decimal columns.
pub(crate) const DECIMAL_COLLATION: &str = "almacen_decimal";
/// The exact `SUM` of decimal values, as decimal text.
pub(crate) const DECIMAL_SUM: &str = "almacen_decimal_sum";
/// The `AVG` of decimal values, rounded half away from zero to a number of places, as
/// decimal text.
pub(crate) const DECIMAL_AVG: &str = "almacen_decimal_avg";
/// `almacen_decimal_add(column, delta, precision, scale)`: the exact `column + delta` in the
/// column's form, for `patch(..).add(..)` (a double's `+` is not exact).
pub(crate) const DECIMAL_ADD: &str = "almacen_decimal_add";
/// `almacen_decimal_text(x, scale)`: a decimal of either form as text at `scale` (aggregates
/// and comparisons across the two forms read it).
pub(crate) const DECIMAL_TEXT: &str = "almacen_decimal_text";
/// `almacen_f32(x)`: `x` rounded to the nearest 32-bit float, as PostgreSQL and MariaDB
/// store a `REAL`/`FLOAT` (an `f32` column's `add` on SQLite).
pub(crate) const F32: &str = "almacen_f32";

/// The largest precision stored as a double (every decimal of 15 digits survives one).
pub(crate) const REAL_MAX_PRECISION: u32 = 15;

/// The declared type of a `decimal(precision, scale)` column.
pub(crate) fn column_sql(precision: u32, scale: u32) -> String {
    if precision <= REAL_MAX_PRECISION {
        format!("DECIMAL_REAL({precision}, {scale})")
    } else {
        format!("DECIMAL_TEXT({precision}, {scale}) COLLATE {DECIMAL_COLLATION}")
    }
}

/// The CHECK that keeps other values out of a decimal column (NULL passes, as in any CHECK).
pub(crate) fn column_check(col: &str, precision: u32, scale: u32) -> String {
    if precision <= REAL_MAX_PRECISION {
        // Below 10^(p - s): the largest such decimal's double is below that power's.
        format!("typeof({col}) IN ('real', 'null') AND abs({col}) < 1e{}", precision - scale)
    } else {
        format!("{col} NOT GLOB '*[^0-9.eE+-]*' AND {col} GLOB '*[0-9]*'")
    }
}

/// The scale of a decimal column, from the type it was declared with.
#[cfg_attr(not(any(feature = "sqlite", test)), expect(dead_code, reason = "reads stored values: only the driver does"))]
pub(crate) fn declared_scale(decl_type: &str) -> Option<u32> {
    let rest = decl_type.strip_prefix("DECIMAL_REAL(").or_else(|| decl_type.strip_prefix("DECIMAL_TEXT("))?;
    let (_, scale) = rest.split_once(',')?;
    scale.trim_start().split(')').next()?.trim().parse().ok()
}

/// A decimal as a `decimal(precision, scale)` column stores it (it fits: checked before).
pub(crate) fn stored(d: Decimal, precision: u32, scale: u32) -> sea_query::Value {
    if precision <= REAL_MAX_PRECISION {
        sea_query::Value::Double(Some(nearest_double(d)))
    } else {
        sea_query::Value::String(Some(text_at_scale(d, scale)))
    }
}

/// A decimal compared with a `decimal(precision, _)` column: in the column's form, with no
/// limit on its digits (a double column is compared with values of at most its scale, see
/// `query::sqlite_decimal_rewrite`).
pub(crate) fn compared(d: Decimal, precision: u32) -> sea_query::Value {
    if precision <= REAL_MAX_PRECISION {
        sea_query::Value::Double(Some(nearest_double(d)))
    } else {
        sea_query::Value::String(Some(d.to_string()))
    }
}

/// The double nearest to `d` (parsing its text rounds correctly).
pub(crate) fn nearest_double(d: Decimal) -> f64 {
    exact_quotient(d.mantissa(), d.scale()).unwrap_or_else(|| d.to_string().parse().unwrap_or(f64::NAN))
}

/// The powers of ten a double holds exactly.
const POW10: [f64; 23] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/// The double nearest to `mantissa` × 10^-`scale` without going through text, when both
/// numbers are exact doubles (|mantissa| ≤ 2^53, scale ≤ 22): IEEE division rounds the exact
/// quotient correctly, so this is what parsing the text gives (every float parser's fast
/// path). `None` otherwise, and for zero (whose sign the text keeps).
fn exact_quotient(mantissa: i128, scale: u32) -> Option<f64> {
    let pow = *POW10.get(scale as usize)?;
    (mantissa != 0 && mantissa.unsigned_abs() <= 1 << 53).then(|| mantissa as f64 / pow)
}

/// `d` at the column's scale as text (`158.00`), no negative zero.
pub(crate) fn text_at_scale(mut d: Decimal, scale: u32) -> String {
    d.rescale(scale);
    if d.is_zero() {
        d.set_sign_positive(true);
    }
    d.to_string()
}

/// The decimal of `scale` places a stored double stands for; a double that is no such
/// decimal's nearest (written by someone else: `1.005` in a 2-place column) is refused.
#[cfg_attr(not(any(feature = "sqlite", test)), expect(dead_code, reason = "reads stored values: only the driver does"))]
pub(crate) fn from_double(f: f64, scale: u32) -> Result<Decimal, String> {
    // Without text: the candidate `round(f × 10^scale)`, kept when it gives `f` back. Below
    // 2^52 units two decimals of `scale` places are further apart than a double's spacing
    // there, so at most one of them gives `f` back, and it is the one the text below finds.
    if let Some(&pow) = POW10.get(scale as usize) {
        let units = (f * pow).round();
        if units.abs() < (1u64 << 52) as f64 && exact_quotient(units as i128, scale) == Some(f) {
            return Ok(Decimal::new(units as i64, scale));
        }
    }
    let text = format!("{f:.0$}", scale as usize);
    let d = crate::data::exact::parse_decimal(&text)?;
    if nearest_double(d) == f {
        Ok(crate::data::exact::at_column_scale(d, scale)?)
    } else {
        Err(format!("{f} is not a decimal of {scale} places"))
    }
}

/// Why an integer in a decimal column with places is refused: a column almacen created
/// holds a double or text there (the column's affinity converts an integer written to it),
/// so an integer is a table from before that change, which held decimals scaled to whole
/// units (`15800` for 158.00). Read as it stands it would be a hundred times off.
#[cfg_attr(not(feature = "sqlite"), expect(dead_code, reason = "reads stored values: only the driver does"))]
pub(crate) fn scaled_integer(i: i64, scale: u32) -> String {
    format!(
        "the integer {i} in a decimal column of {scale} places: columns almacen creates hold a double or text, while tables made by earlier almacen versions held scaled integers (15800 for 158.00); recreate the table"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_stand_for_decimals_of_the_column_scale() {
        let d: Decimal = "1234567890123.45".parse().unwrap();
        let sea_query::Value::Double(Some(f)) = stored(d, 15, 2) else { panic!() };
        assert_eq!(from_double(f, 2).unwrap(), d);
        assert_eq!(from_double(0.1 + 0.2, 2).unwrap_err(), "0.30000000000000004 is not a decimal of 2 places");
        assert_eq!(from_double(158.0, 2).unwrap().to_string(), "158.00");
        assert_eq!(declared_scale("DECIMAL_TEXT(20, 4)"), Some(4));
        assert_eq!(declared_scale("DECIMAL_REAL(12,2)"), Some(2));
        assert_eq!(declared_scale("DECIMAL(12,2)"), None);
    }

    /// The path without text gives what the text gives, for every double near decimals of
    /// up to 15 digits (and their neighbours, which no decimal of the scale gives back).
    #[test]
    fn doubles_convert_without_text_as_with_it() {
        let slow_nearest = |d: Decimal| -> f64 { d.to_string().parse().unwrap() };
        let slow_from = |f: f64, scale: u32| -> Result<Decimal, String> {
            let d = crate::data::exact::parse_decimal(&format!("{f:.0$}", scale as usize))?;
            if slow_nearest(d) == f { Ok(crate::data::exact::at_column_scale(d, scale)?) } else { Err(String::new()) }
        };
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..50_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let digits = (seed % 15 + 1) as u32;
            let mantissa = (seed >> 8) as i64 % 10i64.pow(digits);
            let mantissa = if seed & 1 == 0 { mantissa } else { -mantissa };
            let scale = (seed >> 4) as u32 % (digits + 1);
            let d = Decimal::new(mantissa, scale);
            let f = slow_nearest(d);
            assert_eq!(nearest_double(d).to_bits(), f.to_bits(), "{d}");
            for g in [f, f.next_up(), f.next_down()] {
                for s in [scale, scale.saturating_sub(1), scale + 1] {
                    let (fast, slow) = (from_double(g, s), slow_from(g, s));
                    assert_eq!(fast.is_ok(), slow.is_ok(), "{g} at {s}");
                    if let (Ok(a), Ok(b)) = (fast, slow) {
                        assert_eq!((a.mantissa(), a.scale()), (b.mantissa(), b.scale()), "{g} at {s}");
                    }
                }
            }
        }
        for f in [0.0, -0.0, 1e20, 4503599627370495.0, 4503599627370497.0, f64::MAX, f64::MIN_POSITIVE, f64::NAN, f64::INFINITY] {
            for s in [0, 2, 4, 15] {
                let parts = |r: Result<Decimal, String>| r.ok().map(|d| (d.mantissa(), d.scale()));
                assert_eq!(parts(from_double(f, s)), parts(slow_from(f, s)), "{f} at {s}");
            }
        }
    }
}
