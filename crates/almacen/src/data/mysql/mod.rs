//! MariaDB's values: exact decoders where sqlx would wrap or fail.

mod exact;

pub(crate) use exact::my_time;
