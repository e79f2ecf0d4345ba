//! PostgreSQL's values: exact decoders of its binary forms where sqlx would round or fail,
//! and raw values of types sqlx or almacen do not map (arrays, intervals).

mod decode;
pub(crate) mod exact;

pub(crate) use decode::other_type;
