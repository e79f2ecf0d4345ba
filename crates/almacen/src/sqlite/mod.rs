//! SQLite without a thread hop per statement.
//!
//! Connections are rusqlite connections used in place, on the task that runs the
//! statement: prepared statements are cached per connection, and taking a connection from
//! the pool is a pop from a list under a short lock. One connection writes; the others
//! are `query_only` readers (WAL mode lets them read while it writes). Transactions that
//! may write run on the writer and start with `BEGIN IMMEDIATE`.
//!
//! A statement that does more than about 1–2 ms of work on the async thread (counted in
//! VM instructions, with a 25 ms wall-clock backstop) is stopped by SQLite's progress
//! handler, before it has changed anything, and run again on a blocking thread, so a long
//! query never stalls the runtime. The same handler enforces statement timeouts.

mod bind;
mod conn;
pub(crate) mod decimal;
mod functions;
mod pool;
mod row;

pub(crate) use decimal::{DECIMAL_ADD, DECIMAL_AVG, DECIMAL_COLLATION, DECIMAL_SUM, DECIMAL_TEXT, F32};
pub(crate) use pool::{LiteGuard, LitePool, holding_writer, rolled_back_error};
pub(crate) use row::{LiteDecode, RowSet, lite_bytes, lite_text};
pub use row::{LiteRow, LiveRow};
