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
//!
//! The driver is built with the `sqlite` feature. SQLite's rows and values, and the SQL
//! text of its decimal columns, are the data layer's (`data/sqlite/`).

mod bind;
mod conn;
mod functions;
mod memo;
mod pool;
mod result;

pub(crate) use pool::{LiteGuard, LitePool, holding_writer, rolled_back_error};
pub(crate) use result::RowSet;
