//! Opening a MariaDB pool: every session strict, in UTC, in utf8mb4 and with the default
//! statement timeout; on each new connection MariaDB's NULL type and the connection's id
//! are learnt, the id (unless `cancel_on_drop` is off) so that an abandoned statement can
//! be cancelled.

use super::cancel::{Canceller, learn_connection_id};
use super::{learn_null_type, statement_seconds};
use crate::data::error::Result;
use crate::engine::config::ConnectOptions;
use crate::engine::database::{check_reachable, pool_options};
use crate::engine::executor::RunSettings;
use crate::engine::server_sessions::Sessions;
use sqlx::{AssertSqlSafe, Executor as _};
use std::str::FromStr;
use std::sync::Arc;

/// The pool `o` names, and what cancels its connections' abandoned statements (none when
/// `cancel_on_drop` is off).
pub(crate) async fn open(o: &ConnectOptions, settings: &RunSettings) -> Result<(sqlx::MySqlPool, Option<Canceller>)> {
    let err = |e| settings.err(e);
    let opts =
        sqlx::mysql::MySqlConnectOptions::from_str(o.driver_url()).map_err(err)?.timezone(Some("+00:00".to_string())).charset("utf8mb4");
    check_reachable::<sqlx::MySqlConnection>(&opts, settings).await?;
    let mut session = String::from(
        "SET SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO')",
    );
    if let Some(t) = o.statement_timeout {
        session.push_str(&format!(", max_statement_time = {}", statement_seconds(t)));
    }
    let session: Arc<str> = session.into();
    let sessions = Arc::new(Sessions::new(o.max_connections));
    let learn = o.cancel_on_drop.then(|| sessions.clone());
    let pool = pool_options::<sqlx::MySql>(o)
        .after_connect(move |conn, _meta| {
            let session = session.clone();
            let learn = learn.clone();
            Box::pin(async move {
                conn.execute(AssertSqlSafe(session)).await?;
                learn_null_type(conn).await?;
                match learn {
                    Some(sessions) => learn_connection_id(conn, &sessions).await,
                    None => Ok(()),
                }
            })
        })
        .connect_with(opts.clone())
        .await
        .map_err(err)?;
    let canceller = Canceller { options: opts, sessions, connect_timeout: o.connect_timeout };
    Ok((pool, o.cancel_on_drop.then_some(canceller)))
}
