//! What PostgreSQL needs besides sqlx: arguments bound from almacen's values, statement
//! texts that keep sqlx's statement cache right when one text is run with values of other
//! types, and raw values of types sqlx or almacen do not map (arrays, intervals).

mod args;
mod cancel;
mod connect;
mod decode;
pub(crate) mod exact;
mod run;
mod signature;

use args::arguments;
pub(crate) use connect::open;
pub(crate) use decode::other_type;
pub(crate) use run::{run, stream};
use signature::statement_text;
