//! sqlx arguments for PostgreSQL from the values a statement holds.

use crate::{Error, Result};
use sea_query::Value as S;
use sqlx::postgres::{PgArgumentBuffer, PgArguments, PgTypeInfo, Postgres};
use sqlx::{Arguments, Encode, Type};

/// A NULL (`crate::value::UNTYPED_NULL`) sent with type OID 0, "unspecified": the server infers the type.
struct UntypedNull;

impl Type<Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(sqlx::postgres::types::Oid(0))
    }
}

impl Encode<'_, Postgres> for UntypedNull {
    fn encode_by_ref(&self, _buf: &mut PgArgumentBuffer) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }
}

/// The values as PostgreSQL arguments, each with the type its variant stands for (the
/// signature in `signature.rs` follows the same mapping).
pub(crate) fn arguments(values: Vec<S>) -> Result<PgArguments> {
    let mut args = PgArguments::default();
    args.reserve(values.len(), values.len() * 8);
    for v in values {
        let added = match v {
            S::Bool(b) => args.add(b),
            S::SmallInt(i) => args.add(i),
            S::Int(i) => args.add(i),
            S::BigInt(i) => args.add(i),
            S::Float(f) => args.add(f),
            S::Double(f) => args.add(f),
            S::String(s) => args.add(s),
            S::Bytes(b) => args.add(b),
            S::Uuid(u) => args.add(u),
            S::Decimal(d) => args.add(d),
            S::Json(j) => args.add(j.map(|j| sqlx::types::Json(*j))),
            S::ChronoDate(d) => args.add(d),
            S::ChronoTime(t) => args.add(t),
            S::ChronoDateTime(t) => args.add(t),
            S::ChronoDateTimeUtc(t) => args.add(t),
            S::Char(None) => args.add(UntypedNull),
            other => return Err(Error::Unsupported(format!("almacen does not bind {other:?} on PostgreSQL"))),
        };
        added.map_err(|e| Error::Unsupported(format!("a value could not be encoded for PostgreSQL: {e}")))?;
    }
    Ok(args)
}
