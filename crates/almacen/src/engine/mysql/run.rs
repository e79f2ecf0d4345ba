//! Running a statement on MariaDB: on a connection, under its own statement timeout when it
//! has one (`SET STATEMENT ... FOR`, no extra round trip), or streamed from the pool.

use super::{arguments, statement_seconds};
use crate::data::error::Result;
use crate::data::row::DbRow;
use crate::engine::executor::{Fetch, Fetched, RunSettings, run_query};
use crate::engine::statement::{ExecResult, Sql, Statement};
use futures::stream::{BoxStream, StreamExt};

/// Run `stmt` on `conn`, applying its statement timeout.
pub(crate) async fn run(conn: &mut sqlx::MySqlConnection, settings: &RunSettings, stmt: Statement, fetch: Fetch<'_>) -> Result<Fetched> {
    let (timeout, overridden) = settings.timeout_for(stmt.timeout);
    let Statement { sql, values, matched, .. } = stmt;
    let my_done =
        |r: sqlx::mysql::MySqlQueryResult| ExecResult { rows_affected: r.rows_affected(), last_insert_id: Some(r.last_insert_id() as i64) };
    let sql = if overridden {
        // MariaDB runs one statement under its own limit without a round trip.
        // No timeout is 0; a timeout is never below 1 ms, which would print as 0.
        let secs = timeout.map_or_else(|| "0".to_string(), statement_seconds);
        Sql::Shared(format!("SET STATEMENT max_statement_time={secs} FOR {}", &*sql).into())
    } else {
        sql
    };
    let args = arguments(&sql, values.into_vec(), matched)?;
    let out = run_query!(conn, args, sql, fetch, DbRow::MySql, my_done).map_err(|e| settings.err(e))?;
    fetch.finish(out)
}

/// The rows of `stmt`, streamed from one of `pool`'s connections as the server sends them.
pub(crate) fn stream<'a>(pool: &'a sqlx::MySqlPool, settings: &'a RunSettings, stmt: Statement) -> BoxStream<'a, Result<DbRow>> {
    let rows = match arguments(&stmt.sql, stmt.values.to_vec(), stmt.matched) {
        Ok(args) => {
            sqlx::query_with(stmt.sql.clone(), args).fetch(pool).map(move |r| r.map(DbRow::MySql).map_err(|e| settings.err(e))).boxed()
        }
        Err(e) => futures::stream::once(async { Err(e) }).boxed(),
    };
    settings.logged_stream(&stmt, rows)
}
