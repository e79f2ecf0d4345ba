//! The one mapping from statement values to sqlx arguments, shared by the PostgreSQL and
//! MariaDB binders (`postgres/args.rs`, `mysql/args.rs`): each variant binds as the Rust
//! type sqlx encodes for both, a NULL of unknown type as the dialect's own `UntypedNull`.

use crate::data::error::{Error, Result};

/// Add `values` to `args` (a `PgArguments` or `MySqlArguments`), naming `dialect` in
/// errors: a value the binder cannot encode is an error, never dropped.
macro_rules! add_values {
    ($args:expr, $values:expr, $untyped:expr, $dialect:literal) => {{
        use sea_query::Value as S;
        use sqlx::Arguments as _;
        let args = $args;
        crate::engine::server_args::check_count($values.len(), $dialect)?;
        for v in $values {
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
                S::Char(None) => args.add($untyped),
                other => {
                    return Err(crate::data::error::Error::Unsupported(format!(
                        concat!("almacen does not bind {:?} on ", $dialect),
                        other
                    )));
                }
            };
            added.map_err(|e| {
                crate::data::error::Error::Unsupported(format!(concat!("a value could not be encoded for ", $dialect, ": {}"), e))
            })?;
        }
    }};
}
pub(crate) use add_values;

/// The most values one statement can carry: the protocols of PostgreSQL (Bind) and MariaDB
/// (COM_STMT_EXECUTE) count them in 16 bits.
pub(crate) const MAX_PARAMETERS: usize = u16::MAX as usize;

/// Refuse, before sending, a statement with more values than the protocol can carry (sqlx
/// reports it as a protocol error after taking the connection).
pub(crate) fn check_count(values: usize, dialect: &str) -> Result<()> {
    if values > MAX_PARAMETERS {
        return Err(Error::Parameter(format!(
            "the statement has {values} parameters; {dialect} takes at most {MAX_PARAMETERS} in one statement \
             (split a long IN list or a bulk insert into chunks); nothing was sent"
        )));
    }
    Ok(())
}
