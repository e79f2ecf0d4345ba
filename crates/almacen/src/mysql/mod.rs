//! What MariaDB/MySQL needs besides sqlx: arguments bound from almacen's values.

mod args;

pub(crate) use args::{arguments, learn_null_type};
