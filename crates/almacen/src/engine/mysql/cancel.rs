//! Cancelling a MariaDB statement whose caller gave up: `KILL QUERY` from a connection of its
//! own, aimed at the connection's id.

use crate::engine::server_sessions::{CancelServerWork, Sessions, conn_key, spawn_bounded};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{AssertSqlSafe, Connection};
use std::sync::Arc;
use std::time::Duration;

/// Ask a new connection for its id, and remember it.
pub(crate) async fn learn_connection_id(conn: &mut MySqlConnection, sessions: &Sessions<u64>) -> Result<(), sqlx::Error> {
    let (id,): (u64,) = sqlx::query_as("SELECT CONNECTION_ID()").fetch_one(&mut *conn).await?;
    sessions.remember(conn_key(conn), id);
    Ok(())
}

/// Cancels statements of one pool's connections.
#[derive(Debug)]
pub(crate) struct Canceller {
    pub options: MySqlConnectOptions,
    pub sessions: Arc<Sessions<u64>>,
    pub connect_timeout: Duration,
}

impl CancelServerWork for Canceller {
    fn cancel(&self, key: usize) {
        let Some(id) = self.sessions.get(key) else { return };
        let options = self.options.clone();
        spawn_bounded(self.connect_timeout, async move {
            if let Err(error) = kill_query(&options, id).await {
                tracing::debug!(target: "almacen::executor", %error, id, "could not cancel an abandoned statement");
            }
        });
    }
}

async fn kill_query(options: &MySqlConnectOptions, id: u64) -> Result<(), sqlx::Error> {
    let mut conn = MySqlConnection::connect_with(options).await?;
    match sqlx::raw_sql(AssertSqlSafe(format!("KILL QUERY {id}"))).execute(&mut conn).await {
        // 1094: no such thread, it has ended already.
        Err(sqlx::Error::Database(e)) if e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().is_some_and(|e| e.number() == 1094) => {}
        other => {
            other?;
        }
    }
    conn.close().await
}
