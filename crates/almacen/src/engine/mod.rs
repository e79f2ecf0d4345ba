//! The floor that runs statements: a [`Statement`](statement::Statement) goes in, rows or an
//! [`ExecResult`](statement::ExecResult) come out. The `Executor` trait shared by the pool
//! and transactions (`executor`), the pool (`database`), transactions (`transaction`),
//! connect options (`config`), statement counters (`observe`), raw SQL with `:name`
//! parameters (`raw/`, which the executor's `*_raw` methods bind), and each dialect's
//! connection handling: opening its pool, running and streaming statements, cancelling
//! abandoned ones (`sqlite/`, `postgres/`, `mysql/`, with what the two servers share in
//! `server_args` and `server_sessions`).
//!
//! It builds on `data` and names neither the queries (`sql`) nor the ORM (`orm`).

pub(crate) mod config;
pub(crate) mod database;
pub(crate) mod executor;
pub(crate) mod listen;
#[cfg(feature = "mysql")]
pub(crate) mod mysql;
pub(crate) mod observe;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod raw;
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) mod server_args;
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) mod server_sessions;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;
pub(crate) mod statement;
pub(crate) mod transaction;
