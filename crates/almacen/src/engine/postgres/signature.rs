//! One SQL text, one set of parameter types.
//!
//! sqlx caches a prepared statement per connection by its text, with the parameter types
//! of its first run. Run the same text again with a value of another type and sqlx sends
//! that value's binary form for the old type: "insufficient data left in message" at best,
//! and at worst the bytes read as a value of the old type (a float's 8 bytes as a bigint).
//! So each text is sent as written only with the types it was first seen with in this
//! process; with other types it gets a comment naming them (`/* almacen: i8,t */ …`), a text
//! of its own in the cache. (Texts are told apart by a hash: two texts that share one only
//! get the comment more often.)

use crate::engine::statement::Sql;
use sea_query::Value as S;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{LazyLock, RwLock};

/// The type of each parameter, one code per value.
type Types = SmallVec<[u8; 16]>;

/// Texts remembered; past this many, new texts always carry their types' comment.
const MAX_TEXTS: usize = 16_384;

static FIRST_TYPES: LazyLock<RwLock<HashMap<u64, Box<[u8]>>>> = LazyLock::new(Default::default);

/// The text to send `sql` as, given the values it is run with.
pub(crate) fn statement_text(sql: Sql, values: &[S]) -> Sql {
    if values.is_empty() {
        return sql;
    }
    let types: Types = values.iter().map(code).collect();
    let key = foldhash::fast::FixedState::with_seed(0x0061_6c6d_6163_656e).hash_one(&*sql);
    let known = FIRST_TYPES.read().unwrap_or_else(|e| e.into_inner()).get(&key).map(|first| **first == *types);
    let first = match known {
        Some(same) => same,
        None => {
            let mut map = FIRST_TYPES.write().unwrap_or_else(|e| e.into_inner());
            match map.get(&key) {
                Some(first) => **first == *types,
                None if map.len() < MAX_TEXTS => {
                    map.insert(key, types.as_slice().into());
                    true
                }
                None => false,
            }
        }
    };
    if first { sql } else { Sql::Shared(format!("/* almacen: {} */ {}", names(&types), &*sql).into()) }
}

/// The code of a value's PostgreSQL type (as `args.rs` binds it).
fn code(v: &S) -> u8 {
    match v {
        S::Bool(_) => 1,
        S::SmallInt(_) => 2,
        S::Int(_) => 3,
        S::BigInt(_) => 4,
        S::Float(_) => 5,
        S::Double(_) => 6,
        S::String(_) => 7,
        S::Bytes(_) => 8,
        S::Uuid(_) => 9,
        S::Decimal(_) => 10,
        S::Json(_) => 11,
        S::ChronoDate(_) => 12,
        S::ChronoTime(_) => 13,
        S::ChronoDateTime(_) => 14,
        S::ChronoDateTimeUtc(_) => 15,
        S::Char(None) => 16,
        _ => 0,
    }
}

fn names(types: &[u8]) -> String {
    const NAMES: [&str; 17] = [
        "?",
        "bool",
        "int2",
        "int4",
        "int8",
        "float4",
        "float8",
        "text",
        "bytea",
        "uuid",
        "numeric",
        "jsonb",
        "date",
        "time",
        "timestamp",
        "timestamptz",
        "unknown",
    ];
    types.iter().map(|&c| NAMES[c as usize]).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_keeps_its_first_types_and_others_get_their_own_text() {
        let sql = || Sql::Shared("SELECT $1 /* signature test */".into());
        let first = statement_text(sql(), &[S::BigInt(Some(1))]);
        assert_eq!(&*first, "SELECT $1 /* signature test */");
        assert_eq!(&*statement_text(sql(), &[S::BigInt(Some(2))]), "SELECT $1 /* signature test */");
        assert_eq!(&*statement_text(sql(), &[S::Double(Some(2.5))]), "/* almacen: float8 */ SELECT $1 /* signature test */");
        assert_eq!(&*statement_text(sql(), &[S::Char(None)]), "/* almacen: unknown */ SELECT $1 /* signature test */");
    }
}
