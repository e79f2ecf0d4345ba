//! Running a statement on PostgreSQL: on a connection, under its own statement timeout when
//! it has one (set before, reset after), or streamed from the pool.

use super::{arguments, statement_text};
use crate::data::error::Result;
use crate::data::row::DbRow;
use crate::engine::executor::{Fetch, Fetched, RunSettings, run_query};
use crate::engine::statement::{ExecResult, Statement};
use futures::stream::{BoxStream, StreamExt};
use sqlx::AssertSqlSafe;

/// Run `stmt` on `conn`, applying its statement timeout.
pub(crate) async fn run(
    conn: &mut sqlx::PgConnection,
    settings: &RunSettings,
    stmt: Statement,
    fetch: Fetch<'_>,
    in_tx: bool,
) -> Result<Fetched> {
    let (timeout, overridden) = settings.timeout_for(stmt.timeout);
    let Statement { sql, values, .. } = stmt;
    let pg_done = |r: sqlx::postgres::PgQueryResult| ExecResult { rows_affected: r.rows_affected(), last_insert_id: None };
    let sql = statement_text(sql, &values);
    let args = arguments(values.into_vec())?;
    if overridden {
        let ms = timeout.map(|t| t.as_millis().max(1)).unwrap_or(0);
        set_timeout(conn, ms).await.map_err(|e| settings.err(e))?;
        let out = run_query!(conn, args, sql, fetch, DbRow::Postgres, pg_done);
        let default_ms = settings.statement_timeout.map(|t| t.as_millis().max(1)).unwrap_or(0);
        // Inside a failed transaction the reset fails, but the rollback undoes the SET.
        let reset = set_timeout(conn, default_ms).await;
        let out = out.map_err(|e| settings.err(e))?;
        if !in_tx {
            reset.map_err(|e| settings.err(e))?;
        }
        fetch.finish(out)
    } else {
        let out = run_query!(conn, args, sql, fetch, DbRow::Postgres, pg_done).map_err(|e| settings.err(e))?;
        fetch.finish(out)
    }
}

async fn set_timeout(conn: &mut sqlx::PgConnection, ms: u128) -> std::result::Result<(), sqlx::Error> {
    sqlx::raw_sql(AssertSqlSafe(format!("SET statement_timeout = {ms}"))).execute(&mut *conn).await.map(|_| ())
}

/// The rows of `stmt`, streamed from one of `pool`'s connections as the server sends them.
pub(crate) fn stream<'a>(pool: &'a sqlx::PgPool, settings: &'a RunSettings, stmt: Statement) -> BoxStream<'a, Result<DbRow>> {
    let rows = match arguments(stmt.values.to_vec()) {
        Ok(args) => {
            let sql = statement_text(stmt.sql.clone(), &stmt.values);
            sqlx::query_with(sql, args).fetch(pool).map(move |r| r.map(DbRow::Postgres).map_err(|e| settings.err(e))).boxed()
        }
        Err(e) => futures::stream::once(async { Err(e) }).boxed(),
    };
    settings.logged_stream(&stmt, rows)
}
