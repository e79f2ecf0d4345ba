//! sqlx arguments for PostgreSQL from the values a statement holds.

use crate::data::error::Result;
use sea_query::Value as S;
use sqlx::postgres::{PgArgumentBuffer, PgArguments, PgTypeInfo, Postgres};
use sqlx::{Arguments, Encode, Type};

/// A NULL (`crate::data::value::UNTYPED_NULL`) sent with type OID 0, "unspecified": the server infers the type.
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
    crate::engine::server_args::add_values!(&mut args, values, UntypedNull, "PostgreSQL");
    Ok(args)
}
