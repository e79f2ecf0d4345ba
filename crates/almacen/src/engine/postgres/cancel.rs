//! Cancelling a PostgreSQL statement whose caller gave up: `pg_cancel_backend` from a
//! connection of its own, aimed at the backend by process id and start time (a process id
//! alone could be a later backend's).

use crate::engine::server_sessions::{CancelServerWork, Sessions, conn_key, spawn_bounded};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::sync::Arc;
use std::time::Duration;

/// A backend: its process id and start time (as text, exact to the microsecond).
#[derive(Debug, Clone)]
pub(crate) struct Backend {
    pid: i32,
    started: String,
}

/// Ask a new connection which backend it is, and remember it. A connection whose backend
/// cannot be learnt still serves; its abandoned statements are only closed on, not cancelled.
pub(crate) async fn learn_backend(conn: &mut PgConnection, sessions: &Sessions<Backend>) -> Result<(), sqlx::Error> {
    let sql = "SELECT pid, backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid()";
    match sqlx::query_as::<_, (i32, String)>(sql).fetch_optional(&mut *conn).await? {
        Some((pid, started)) => sessions.remember(conn_key(conn), Backend { pid, started }),
        None => tracing::debug!(target: "almacen::executor", "the connection's backend is not in pg_stat_activity: no cancel"),
    }
    Ok(())
}

/// Cancels statements of one pool's connections.
#[derive(Debug)]
pub(crate) struct Canceller {
    pub options: PgConnectOptions,
    pub sessions: Arc<Sessions<Backend>>,
    pub connect_timeout: Duration,
}

impl CancelServerWork for Canceller {
    fn cancel(&self, key: usize) {
        let Some(backend) = self.sessions.get(key) else { return };
        let options = self.options.clone();
        spawn_bounded(self.connect_timeout, async move {
            if let Err(error) = cancel_backend(&options, &backend).await {
                tracing::debug!(target: "almacen::executor", %error, pid = backend.pid, "could not cancel an abandoned statement");
            }
        });
    }
}

async fn cancel_backend(options: &PgConnectOptions, backend: &Backend) -> Result<(), sqlx::Error> {
    let mut conn = PgConnection::connect_with(options).await?;
    sqlx::query("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid = $1 AND backend_start::text = $2")
        .bind(backend.pid)
        .bind(&backend.started)
        .execute(&mut conn)
        .await?;
    conn.close().await
}
