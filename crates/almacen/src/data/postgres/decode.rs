//! Raw-SQL values of PostgreSQL types almacen has no portable type for: one-dimensional
//! arrays (a [`Value::List`]), intervals (ISO 8601 text, `P1Y2M3DT4H5M6.5S`), `"char"`,
//! `oid` and `void`. Read from the binary form; elements go through the same exact
//! decoders as columns.

use crate::data::exact::plus_zero;
use crate::data::value::{Kind, Value};

type Exact<T> = std::result::Result<T, String>;

/// The value of a column of type `oid` in binary form, if almacen reads that type here;
/// `None` for types it reads elsewhere or not at all.
pub(crate) fn other_type(oid: u32, bytes: &[u8]) -> Option<Exact<Value>> {
    Some(match oid {
        1186 => interval(bytes).map(Value::Text),
        18 => std::str::from_utf8(bytes).map(|t| Value::Text(t.into())).map_err(|e| e.to_string()),
        26 => be::<4>(bytes).map(|b| Value::Int(u32::from_be_bytes(b).into())),
        2278 => Ok(Value::Null(Kind::Unknown)),
        _ if element_of(oid).is_some() => array(bytes),
        _ => return None,
    })
}

/// The element type of an array type (PostgreSQL's `_int4` and friends).
fn element_of(array_oid: u32) -> Option<u32> {
    Some(match array_oid {
        1000 => 16,   // bool
        1001 => 17,   // bytea
        1002 => 18,   // "char"
        1003 => 19,   // name
        1005 => 21,   // int2
        1007 => 23,   // int4
        1016 => 20,   // int8
        1009 => 25,   // text
        1014 => 1042, // bpchar
        1015 => 1043, // varchar
        1021 => 700,  // float4
        1022 => 701,  // float8
        1231 => 1700, // numeric
        2951 => 2950, // uuid
        1182 => 1082, // date
        1183 => 1083, // time
        1115 => 1114, // timestamp
        1185 => 1184, // timestamptz
        199 => 114,   // json
        3807 => 3802, // jsonb
        1187 => 1186, // interval
        1028 => 26,   // oid
        _ => return None,
    })
}

fn be<const N: usize>(b: &[u8]) -> Exact<[u8; N]> {
    b.try_into().map_err(|_| format!("expected {N} bytes, found {}", b.len()))
}

/// An array of one dimension (or none: `'{}'`), from its binary form: dimensions, flags,
/// element type, then per dimension its length and lower bound, then each element's length
/// (-1 for NULL) and bytes.
fn array(b: &[u8]) -> Exact<Value> {
    let word = |at: usize| -> Exact<i32> {
        b.get(at..at + 4).ok_or("an array value is truncated").map(|w| i32::from_be_bytes([w[0], w[1], w[2], w[3]])).map_err(String::from)
    };
    let dims = word(0)?;
    let elem = word(8)? as u32;
    match dims {
        0 => return Ok(Value::List(Vec::new())),
        1 => {}
        n => return Err(format!("an array of {n} dimensions has no almacen value (one dimension only)")),
    }
    let len = word(12)?;
    let mut at = 20;
    let mut items = Vec::with_capacity(len.max(0) as usize);
    for _ in 0..len {
        let n = word(at)?;
        at += 4;
        if n < 0 {
            items.push(Value::Null(Kind::Unknown));
            continue;
        }
        let bytes = b.get(at..at + n as usize).ok_or("an array element is truncated")?;
        at += n as usize;
        items.push(element(elem, bytes)?);
    }
    Ok(Value::List(items))
}

/// One array element of type `oid`, from its binary form.
fn element(oid: u32, b: &[u8]) -> Exact<Value> {
    let text = || std::str::from_utf8(b).map(str::to_string).map_err(|e| e.to_string());
    Ok(match oid {
        16 => Value::Bool(b == [1]),
        17 => Value::Bytes(b.to_vec()),
        18 | 19 | 25 | 1042 | 1043 => Value::Text(text()?),
        21 => Value::Int(i16::from_be_bytes(be(b)?).into()),
        23 => Value::Int(i32::from_be_bytes(be(b)?).into()),
        20 => Value::Int(i64::from_be_bytes(be(b)?)),
        26 => Value::Int(u32::from_be_bytes(be(b)?).into()),
        700 => Value::Float(plus_zero(f32::from_be_bytes(be(b)?) as f64)),
        701 => Value::Float(plus_zero(f64::from_be_bytes(be(b)?))),
        1700 => Value::Decimal(super::exact::pg_numeric_bytes(b)?),
        2950 => Value::Uuid(uuid::Uuid::from_bytes(be(b)?)),
        1082 => Value::Date(super::exact::pg_date_bytes(b)?),
        1083 => Value::Time(super::exact::pg_time_bytes(b)?),
        1114 | 1184 => Value::Timestamp(super::exact::pg_timestamp_bytes(b)?.and_utc()),
        114 => Value::Json(serde_json::from_slice(b).map_err(|e| e.to_string())?),
        // JSONB's binary form is a version byte, then the text.
        3802 => Value::Json(serde_json::from_slice(b.get(1..).unwrap_or_default()).map_err(|e| e.to_string())?),
        1186 => Value::Text(interval(b)?),
        other => return Err(format!("arrays of PostgreSQL type {other} have no almacen value")),
    })
}

/// An interval as ISO 8601 text (`P1Y2M3DT4H5M6.5S`, `PT0S` when empty), from its binary
/// form: microseconds, days, months, each kept apart as PostgreSQL does.
fn interval(b: &[u8]) -> Exact<String> {
    if b.len() != 16 {
        return Err(format!("an interval value is {} bytes, not 16", b.len()));
    }
    let micros = i64::from_be_bytes(be(&b[..8])?);
    let days = i32::from_be_bytes(be(&b[8..12])?);
    let months = i32::from_be_bytes(be(&b[12..])?);
    let mut out = String::from("P");
    let (years, months) = (months / 12, months % 12);
    for (n, unit) in [(years as i64, 'Y'), (months as i64, 'M'), (days as i64, 'D')] {
        if n != 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if micros != 0 {
        out.push('T');
        let (hours, rest) = (micros / 3_600_000_000, micros % 3_600_000_000);
        let (minutes, rest) = (rest / 60_000_000, rest % 60_000_000);
        for (n, unit) in [(hours, 'H'), (minutes, 'M')] {
            if n != 0 {
                out.push_str(&format!("{n}{unit}"));
            }
        }
        if rest != 0 {
            let sign = if rest < 0 { "-" } else { "" };
            let (whole, frac) = (rest.abs() / 1_000_000, rest.abs() % 1_000_000);
            let frac = if frac == 0 { String::new() } else { format!(".{frac:06}").trim_end_matches('0').to_string() };
            out.push_str(&format!("{sign}{whole}{frac}S"));
        }
    }
    if out == "P" {
        out.push_str("T0S");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval_bytes(micros: i64, days: i32, months: i32) -> Vec<u8> {
        [micros.to_be_bytes().as_slice(), &days.to_be_bytes(), &months.to_be_bytes()].concat()
    }

    #[test]
    fn intervals_are_iso_8601() {
        assert_eq!(interval(&interval_bytes(4 * 3_600_000_000 + 5 * 60_000_000 + 6_500_000, 3, 14)).unwrap(), "P1Y2M3DT4H5M6.5S");
        assert_eq!(interval(&interval_bytes(0, 0, 0)).unwrap(), "PT0S");
        assert_eq!(interval(&interval_bytes(-1_000_000, -2, 0)).unwrap(), "P-2DT-1S");
    }
}
