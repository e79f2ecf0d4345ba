//! Exact decoders of PostgreSQL's binary forms (see `crate::data::exact`): where sqlx would
//! round, wrap or panic, these refuse with a message.

use crate::data::exact::{parse_decimal, parse_timestamp};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};
use rust_decimal::Decimal;
use sqlx::postgres::{PgValueFormat, PgValueRef};

type Exact<T> = std::result::Result<T, String>;

/// Microseconds in a day: a time of day is below this.
const DAY_MICROS: i64 = 86_400_000_000;

/// PostgreSQL `NUMERIC`, from its binary form (base-10000 digits), exactly: NaN, infinities
/// and values `Decimal` cannot hold are refused (sqlx's decoder would round them).
pub(crate) fn pg_numeric(v: PgValueRef<'_>) -> Exact<Decimal> {
    if v.format() == PgValueFormat::Text {
        return parse_decimal(v.as_str().map_err(|e| e.to_string())?);
    }
    pg_numeric_bytes(v.as_bytes().map_err(|e| e.to_string())?)
}

/// [`pg_numeric`] from the binary form.
pub(crate) fn pg_numeric_bytes(b: &[u8]) -> Exact<Decimal> {
    let word = |i: usize| -> Exact<u16> {
        b.get(2 * i..2 * i + 2).map(|w| u16::from_be_bytes([w[0], w[1]])).ok_or_else(|| "a NUMERIC value is truncated".to_string())
    };
    let (ndigits, weight, sign, dscale) = (word(0)? as usize, word(1)? as i16 as i32, word(2)?, word(3)? as usize);
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Err("NaN is not a decimal".into()),
        _ => return Err("an infinite NUMERIC is not a decimal".into()),
    }
    // Integer digits are the groups of weight >= 0, fraction digits those below.
    let mut int_part = String::new();
    let mut frac_part = String::new();
    for group in 0..=weight.max(-1) {
        let i = group as usize;
        let digit = if i < ndigits { word(4 + i)? } else { 0 };
        if group == 0 { int_part.push_str(&digit.to_string()) } else { int_part.push_str(&format!("{digit:04}")) }
    }
    if weight < 0 {
        int_part = "0".into();
        frac_part.push_str(&"0000".repeat((-weight - 1) as usize));
    }
    for i in (weight + 1).max(0) as usize..ndigits {
        frac_part.push_str(&format!("{:04}", word(4 + i)?));
    }
    // The display scale is authoritative: pad to it, and drop only the trailing zeros beyond it.
    while frac_part.len() < dscale {
        frac_part.push('0');
    }
    if frac_part.len() > dscale && frac_part[dscale..].bytes().all(|c| c == b'0') {
        frac_part.truncate(dscale);
    }
    let minus = if sign == 0x4000 { "-" } else { "" };
    let text = if frac_part.is_empty() { format!("{minus}{int_part}") } else { format!("{minus}{int_part}.{frac_part}") };
    parse_decimal(&text)
}

/// PostgreSQL `TIME`: microseconds since midnight; `24:00:00`, which PostgreSQL allows, is
/// not a time of day (sqlx would wrap it to midnight).
pub(crate) fn pg_time(v: PgValueRef<'_>) -> Exact<NaiveTime> {
    if v.format() == PgValueFormat::Text {
        let s = v.as_str().map_err(|e| e.to_string())?;
        return NaiveTime::parse_from_str(s, "%H:%M:%S%.f").map_err(|e| format!("{s:?} is not a time of day: {e}"));
    }
    pg_time_bytes(v.as_bytes().map_err(|e| e.to_string())?)
}

/// [`pg_time`] from the binary form.
pub(crate) fn pg_time_bytes(b: &[u8]) -> Exact<NaiveTime> {
    let micros = be_i64(b)?;
    if !(0..DAY_MICROS).contains(&micros) {
        return Err(format!(
            "{}:{:02}:{:02} is not a time of day",
            micros / 3_600_000_000,
            micros / 60_000_000 % 60,
            micros / 1_000_000 % 60
        ));
    }
    let secs = (micros / 1_000_000) as u32;
    NaiveTime::from_num_seconds_from_midnight_opt(secs, (micros % 1_000_000) as u32 * 1000).ok_or_else(|| "not a time of day".into())
}

/// PostgreSQL `DATE`: days since 2000-01-01; `infinity` and dates chrono cannot hold are
/// refused (sqlx would panic).
pub(crate) fn pg_date(v: PgValueRef<'_>) -> Exact<NaiveDate> {
    if v.format() == PgValueFormat::Text {
        let s = v.as_str().map_err(|e| e.to_string())?;
        return NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| format!("{s:?} is not a date: {e}"));
    }
    pg_date_bytes(v.as_bytes().map_err(|e| e.to_string())?)
}

/// [`pg_date`] from the binary form.
pub(crate) fn pg_date_bytes(b: &[u8]) -> Exact<NaiveDate> {
    let days = i32::from_be_bytes(b.try_into().map_err(|_| "a DATE value is not 4 bytes".to_string())?);
    if days == i32::MAX || days == i32::MIN {
        return Err("an infinite date is not a date".into());
    }
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|epoch| epoch.checked_add_signed(TimeDelta::days(days.into())))
        .ok_or_else(|| format!("{days} days from 2000-01-01 is outside the dates chrono holds"))
}

/// PostgreSQL `TIMESTAMP`/`TIMESTAMPTZ`: microseconds since 2000-01-01 UTC; `infinity` and
/// instants chrono cannot hold are refused (sqlx would panic).
pub(crate) fn pg_timestamp(v: PgValueRef<'_>) -> Exact<NaiveDateTime> {
    if v.format() == PgValueFormat::Text {
        let s = v.as_str().map_err(|e| e.to_string())?;
        return parse_timestamp(s).map(|t| t.naive_utc());
    }
    pg_timestamp_bytes(v.as_bytes().map_err(|e| e.to_string())?)
}

/// [`pg_timestamp`] from the binary form.
pub(crate) fn pg_timestamp_bytes(b: &[u8]) -> Exact<NaiveDateTime> {
    let micros = be_i64(b)?;
    if micros == i64::MAX || micros == i64::MIN {
        return Err("an infinite timestamp is not a timestamp".into());
    }
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|epoch| epoch.checked_add_signed(TimeDelta::microseconds(micros)))
        .ok_or_else(|| format!("{micros} µs from 2000-01-01 is outside the instants chrono holds"))
}

fn be_i64(b: &[u8]) -> Exact<i64> {
    Ok(i64::from_be_bytes(b.try_into().map_err(|_| "a time value is not 8 bytes".to_string())?))
}
