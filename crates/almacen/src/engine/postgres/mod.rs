//! What PostgreSQL needs besides sqlx: arguments bound from almacen's values, statement
//! texts that keep sqlx's statement cache right when one text is run with values of other
//! types, opening its pool, running statements and cancelling abandoned ones.

mod args;
mod cancel;
mod connect;
mod run;
mod signature;

use args::arguments;
pub(crate) use connect::open;
pub(crate) use run::{run, stream};
use signature::statement_text;
