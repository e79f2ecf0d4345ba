//! JSON documents in the form every dialect stores and returns alike.
//!
//! Numbers keep their exact text (serde_json's `arbitrary_precision`): integers past 64 bits
//! and decimals past `f64` come back digit for digit. PostgreSQL's `JSONB` holds numbers as
//! `NUMERIC`, which rewrites `1e2` as `100` and `-0` as `0`; so numbers are written in that
//! form on every dialect (plain notation, no negative zero), and what is read back is the
//! same text everywhere ([`normal_form`]). Nesting is limited to MariaDB's: its `JSON` column
//! refuses 32 levels ([`MAX_DEPTH`]).

use crate::data::error::{Error, Result};
use serde_json::{Number, Value as Json};

/// The deepest nesting of arrays and objects every dialect stores (MariaDB refuses 32).
pub const MAX_DEPTH: usize = 31;

/// Digits a number may have written out in plain notation (an `f64`'s extremes need ~330).
const MAX_DIGITS: usize = 1000;

/// The form in which `doc` is stored and read back on every dialect: numbers in plain
/// notation without negative zero; an error for what some dialect refuses (NUL characters,
/// nesting deeper than [`MAX_DEPTH`]). Compare a document read back with this form of the
/// one written: numbers compare by their text, and `1e300` reads back written out.
///
/// ```
/// use serde_json::json;
/// let doc = serde_json::from_str(r#"{"price": 1.50e1, "big": 123456789012345678901234567890}"#).unwrap();
/// let stored = almacen::json::normal_form(doc).unwrap();
/// assert_eq!(stored.to_string(), r#"{"price":15.0,"big":123456789012345678901234567890}"#);
/// let too_deep = (0..32).fold(json!(1), |inner, _| json!([inner]));
/// assert!(almacen::json::normal_form(too_deep).is_err());
/// ```
pub fn normal_form(doc: Json) -> Result<Json> {
    portable(doc, "JSON document")
}

/// Check `doc` for what some dialect refuses or changes (NUL characters, nesting deeper than
/// [`MAX_DEPTH`]) and write its numbers in plain notation. `name` is used in errors.
pub(crate) fn portable(mut doc: Json, name: &str) -> Result<Json> {
    visit(&mut doc, 1, name)?;
    Ok(doc)
}

fn visit(v: &mut Json, depth: usize, name: &str) -> Result<()> {
    let too_deep = || {
        Error::invalid(
            name,
            format!("JSON nested deeper than {MAX_DEPTH} levels: MariaDB refuses it, so almacen refuses it on every dialect"),
        )
    };
    match v {
        Json::String(s) if s.contains('\0') => Err(nul(name)),
        Json::Number(n) => {
            if let Some(plain) = plain_form(n, name)? {
                *n = plain;
            }
            Ok(())
        }
        Json::Array(items) => {
            if depth > MAX_DEPTH {
                return Err(too_deep());
            }
            items.iter_mut().try_for_each(|item| visit(item, depth + 1, name))
        }
        Json::Object(map) => {
            if depth > MAX_DEPTH {
                return Err(too_deep());
            }
            if map.keys().any(|k| k.contains('\0')) {
                return Err(nul(name));
            }
            map.values_mut().try_for_each(|item| visit(item, depth + 1, name))
        }
        _ => Ok(()),
    }
}

fn nul(name: &str) -> Error {
    Error::invalid(name, "JSON contains a NUL character (\\u0000), which PostgreSQL cannot store")
}

/// The plain form of a number whose text PostgreSQL would rewrite; `None` when it is plain.
fn plain_form(n: &Number, name: &str) -> Result<Option<Number>> {
    let text = n.to_string();
    let negative_zero = text.starts_with('-') && text.bytes().all(|b| matches!(b, b'-' | b'0' | b'.'));
    if !text.contains(['e', 'E']) && !negative_zero {
        return Ok(None);
    }
    let plain = crate::data::exact::plain_number(&text, MAX_DIGITS)
        .ok_or_else(|| Error::invalid(name, format!("JSON number {text} has more than {MAX_DIGITS} digits written out")))?;
    plain.parse().map(Some).map_err(|e| Error::invalid(name, format!("JSON number {text}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(depth: usize) -> Json {
        (0..depth).fold(json!(1), |inner, _| json!([inner]))
    }

    #[test]
    fn numbers_keep_their_digits_in_plain_notation() {
        let doc: Json = serde_json::from_str(r#"{"big": 123456789012345678901234567890, "exp": 1.50e1, "neg0": -0.0, "x": 0.1}"#).unwrap();
        let out = portable(doc, "doc").unwrap();
        assert_eq!(out.to_string(), r#"{"big":123456789012345678901234567890,"exp":15.0,"neg0":0.0,"x":0.1}"#);
        assert!(portable(serde_json::from_str("1e5000").unwrap(), "doc").is_err());
    }

    #[test]
    fn nesting_is_limited_to_what_mariadb_stores() {
        assert!(portable(nested(MAX_DEPTH), "doc").is_ok());
        let e = portable(nested(MAX_DEPTH + 1), "doc").unwrap_err().to_string();
        assert!(e.contains("deeper than 31") && e.contains("doc"), "{e}");
    }

    #[test]
    fn nul_is_refused_in_strings_and_keys() {
        assert!(portable(json!({"a": "x\u{0}"}), "doc").is_err());
        assert!(portable(json!({"a\u{0}": 1}), "doc").is_err());
    }
}
