//! Exact conversions of stored values into Rust values: where a driver would round, wrap
//! or panic (a PostgreSQL `TIME '24:00'` read as midnight, a `NUMERIC` with more places
//! than `Decimal` holds rounded, `DATE 'infinity'` panicking, a MariaDB `TIME '-01:00'`
//! read as 01:00, a boolean column holding 2 read as `true`), these refuse with a message
//! instead. Callers wrap the message in a decode error naming the column.

use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeDelta, Timelike, Utc};
use rust_decimal::Decimal;

type Exact<T> = std::result::Result<T, String>;

/// A boolean stored as an integer (SQLite, MariaDB's `TINYINT(1)`): 0 or 1, nothing else.
pub(crate) fn bool_from_int(i: i64) -> Exact<bool> {
    match i {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(format!("{other} is not a boolean (0 or 1)")),
    }
}

/// A float read for an `f32` field: only values an `f32` holds exactly.
pub(crate) fn f32_exact(f: f64) -> Exact<f32> {
    let narrow = f as f32;
    if narrow as f64 == f || f.is_nan() { Ok(plus_zero(narrow)) } else { Err(format!("{f} has no exact 32-bit float")) }
}

/// An integer read as a float: only integers an `f64` holds exactly (|i| ≤ 2^53).
pub(crate) fn f64_from_int(i: i64) -> Exact<f64> {
    const LIMIT: i64 = 1 << 53;
    if (-LIMIT..=LIMIT).contains(&i) { Ok(i as f64) } else { Err(format!("the integer {i} has no exact 64-bit float")) }
}

/// The sign of zero is not kept: SQLite and MariaDB store -0.0 as 0, so every dialect
/// writes and reads it as +0.0.
pub(crate) fn plus_zero<F: PartialEq + Default>(f: F) -> F {
    if f == F::default() { F::default() } else { f }
}

/// A time of day with a leap second (`23:59:60`) is not portable: refused.
pub(crate) fn check_time_of_day(t: NaiveTime) -> Exact<NaiveTime> {
    if t.nanosecond() >= 1_000_000_000 { Err(format!("{t} is a leap second, which no dialect stores as a time of day")) } else { Ok(t) }
}

/// A timestamp on a leap second rolls to the next second, as POSIX time does
/// (`23:59:60.5` is `00:00:00.5` of the next day).
pub(crate) fn roll_leap_second(t: DateTime<Utc>) -> Exact<DateTime<Utc>> {
    let nanos = t.nanosecond();
    if nanos < 1_000_000_000 {
        return Ok(t);
    }
    t.with_nanosecond(nanos - 1_000_000_000)
        .and_then(|t| t.checked_add_signed(TimeDelta::seconds(1)))
        .ok_or_else(|| format!("{t} cannot roll its leap second into the next second"))
}

/// Parse the timestamp text SQLite holds (RFC 3339, or SQLite's own `YYYY-MM-DD HH:MM:SS`);
/// a leap second rolls to the next second.
pub(crate) fn parse_timestamp(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    let t = match DateTime::parse_from_rfc3339(s) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
            .map(|t| t.and_utc())
            .map_err(|e| format!("{s:?} is not a timestamp: {e}"))?,
    };
    roll_leap_second(t)
}

/// Decimal text, exactly: plain (`-12.50`) or scientific (`1.25e3`, as SQLite writes a
/// float converted to text). A value `Decimal` cannot hold without rounding is refused.
pub(crate) fn parse_decimal(text: &str) -> Exact<Decimal> {
    let t = text.trim();
    let plain: std::borrow::Cow<'_, str> =
        if t.contains(['e', 'E']) { plain_number(t, 64).ok_or_else(|| format!("{text:?} is not a decimal"))?.into() } else { t.into() };
    // Trailing zeros of the fraction carry no value: drop them if the digits do not fit.
    let trimmed = if plain.contains('.') { plain.trim_end_matches('0').trim_end_matches('.') } else { &plain };
    Decimal::from_str_exact(&plain)
        .or_else(|_| Decimal::from_str_exact(trimmed))
        .map_err(|e| format!("{text:?} is not a decimal that fits 28 digits exactly ({e})"))
}

/// A number written `[-]digits[.digits][e[+-]digits]` in plain notation, with the decimal
/// places PostgreSQL's `NUMERIC` keeps for it (fraction digits minus the exponent, at least
/// 0) and no negative zero: `1.50e1` → `15.0`, `1e2` → `100`, `-0.0` → `0.0`. `None` when the
/// text is not such a number, or when either part would pass `max_digits` digits.
pub(crate) fn plain_number(text: &str, max_digits: usize) -> Option<String> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int.is_empty() && frac.is_empty()) || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    // The digits, and where the point falls among them once the exponent is applied.
    let digits = format!("{int}{frac}");
    let point = (int.len() as i64).checked_add(exponent)?;
    let places = (frac.len() as i64).checked_sub(exponent)?.max(0);
    if point > max_digits as i64 || places > max_digits as i64 {
        return None;
    }
    let (int_digits, frac_digits) = if point <= 0 {
        ("0".to_string(), format!("{}{digits}", "0".repeat(point.unsigned_abs() as usize)))
    } else if point as usize >= digits.len() {
        (format!("{digits}{}", "0".repeat(point as usize - digits.len())), String::new())
    } else {
        (digits[..point as usize].to_string(), digits[point as usize..].to_string())
    };
    let int_digits = match int_digits.trim_start_matches('0') {
        "" => "0",
        trimmed => trimmed,
    };
    let zero = int_digits == "0" && frac_digits.bytes().all(|b| b == b'0');
    let sign = if negative && !zero { "-" } else { "" };
    Some(if frac_digits.is_empty() { format!("{sign}{int_digits}") } else { format!("{sign}{int_digits}.{frac_digits}") })
}

/// A decimal fits a `decimal(precision, scale)` column when it has at most `scale` places
/// and at most `precision - scale` digits before the point.
pub(crate) fn decimal_fits(d: Decimal, precision: u32, scale: u32) -> Exact<()> {
    let n = d.normalize();
    if n.scale() > scale {
        return Err(format!("{d} has more than {scale} decimal places"));
    }
    // The digits before the point, counted without text: |mantissa| / 10^scale (a Decimal's
    // mantissa has 96 bits and its scale is at most 28, so both fit a u128).
    let whole = n.mantissa().unsigned_abs() / 10u128.pow(n.scale());
    let integer_digits = whole.checked_ilog10().map_or(0, |l| l + 1);
    if integer_digits > precision.saturating_sub(scale) {
        return Err(format!("{d} has more than {} digits before the decimal point (decimal({precision}, {scale}))", precision - scale));
    }
    Ok(())
}

/// A decimal read for a column of `scale` places: more places than that is a value the
/// column could not have held, so it is refused; fewer are padded (`5.5` → `5.50`).
pub(crate) fn at_column_scale(mut d: Decimal, scale: u32) -> Exact<Decimal> {
    if d.normalize().scale() > scale {
        return Err(format!("{d} has more than the column's {scale} decimal places"));
    }
    d.rescale(scale);
    if d.is_zero() {
        d.set_sign_positive(true);
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn booleans_are_zero_or_one() {
        assert_eq!(bool_from_int(0), Ok(false));
        assert_eq!(bool_from_int(1), Ok(true));
        assert!(bool_from_int(2).is_err() && bool_from_int(-1).is_err());
    }

    #[test]
    fn floats_narrow_only_exactly() {
        assert_eq!(f32_exact(0.5), Ok(0.5));
        assert!(f32_exact(0.1).is_err());
        assert!(f32_exact(1e300).is_err());
        assert_eq!(f32_exact(-0.0).unwrap().to_bits(), 0.0f32.to_bits());
        assert!(f64_from_int(1 << 53).is_ok() && f64_from_int((1 << 53) + 1).is_err());
    }

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(parse_decimal("-12.50").unwrap().to_string(), "-12.50");
        assert_eq!(parse_decimal("1.25e3").unwrap(), Decimal::from(1250));
        assert_eq!(parse_decimal("1.0e-07").unwrap().to_string(), "0.00000010");
        assert!(parse_decimal("0.12345678901234567890123456789").is_err(), "29 places do not fit");
        assert!(parse_decimal("123456789012345678901234567890").is_err(), "30 digits do not fit");
        assert!(parse_decimal("abc").is_err());
        assert_eq!(parse_decimal("99999999999999999999.999999990000").unwrap().to_string(), "99999999999999999999.99999999");
        assert_eq!(at_column_scale(Decimal::new(55, 1), 2).unwrap().to_string(), "5.50");
        assert!(at_column_scale(Decimal::new(1005, 3), 2).is_err());
        assert_eq!(at_column_scale(Decimal::new(-0, 2), 2).unwrap().to_string(), "0.00");
    }

    #[test]
    fn numbers_in_plain_notation() {
        let plain = |t| plain_number(t, 64).unwrap();
        assert_eq!(plain("1.50e1"), "15.0");
        assert_eq!(plain("1e2"), "100");
        assert_eq!(plain("1.5e-3"), "0.0015");
        assert_eq!(plain("123.456e1"), "1234.56");
        assert_eq!(plain("-0.0"), "0.0");
        assert_eq!(plain("-0"), "0");
        assert_eq!(plain("0e5"), "0");
        assert_eq!(plain("-2.5E+0"), "-2.5");
        assert_eq!(plain("12"), "12");
        assert!(plain_number("1e65", 64).is_none());
        assert!(plain_number("1e-65", 64).is_none());
        assert!(plain_number("1x", 64).is_none() && plain_number("e5", 64).is_none());
    }

    #[test]
    fn leap_seconds() {
        let leap = NaiveTime::from_hms_milli_opt(23, 59, 59, 1_500).unwrap();
        assert!(check_time_of_day(leap).is_err());
        let t = NaiveDate::from_ymd_opt(2016, 12, 31).unwrap().and_time(leap).and_utc();
        assert_eq!(roll_leap_second(t).unwrap().to_rfc3339(), "2017-01-01T00:00:00.500+00:00");
    }

    /// The digit count without text is the count of the text's digits.
    #[test]
    fn decimal_fits_counts_integer_digits() {
        let by_text = |d: Decimal| d.normalize().trunc().abs().to_string().trim_start_matches('0').len() as u32;
        for text in [
            "0",
            "-0.00",
            "0.5",
            "-0.999",
            "1",
            "9.99",
            "10",
            "-10.5",
            "99999",
            "100000.01",
            "79228162514264337593543950335",
            "-7922816251426433759354395033.5",
            "0.0000000000000000000000000001",
        ] {
            let d: Decimal = text.parse().unwrap();
            let (n, places) = (by_text(d), d.normalize().scale());
            assert!(decimal_fits(d, n + places, places).is_ok(), "{text} has {n} integer digits");
            if n > 0 {
                assert!(decimal_fits(d, n - 1 + places, places).is_err(), "{text} has {n} integer digits");
            }
        }
    }
}
