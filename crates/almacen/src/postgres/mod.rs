//! What PostgreSQL needs besides sqlx: arguments bound from almacen's values, statement
//! texts that keep sqlx's statement cache right when one text is run with values of other
//! types, and raw values of types sqlx or almacen do not map (arrays, intervals).

mod args;
mod cancel;
mod decode;
pub(crate) mod exact;
mod signature;

pub(crate) use args::arguments;
pub(crate) use cancel::{Canceller, learn_backend};
pub(crate) use decode::other_type;
pub(crate) use signature::statement_text;
