//! What MariaDB/MySQL needs besides sqlx: arguments bound from almacen's values.

mod args;
mod exact;

pub(crate) use args::{arguments, learn_null_type};
pub(crate) use exact::my_time;
