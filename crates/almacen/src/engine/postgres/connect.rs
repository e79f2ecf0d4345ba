//! Opening a PostgreSQL pool: every session in UTC with the default statement timeout, and
//! (unless `cancel_on_drop` is off) each new connection's backend learnt, so an abandoned
//! statement can be cancelled.

use super::cancel::{Canceller, learn_backend};
use crate::data::error::Result;
use crate::engine::config::ConnectOptions;
use crate::engine::database::{check_reachable, pool_options};
use crate::engine::executor::RunSettings;
use crate::engine::server_sessions::Sessions;
use std::str::FromStr;
use std::sync::Arc;

/// The pool `o` names, and what cancels its connections' abandoned statements (none when
/// `cancel_on_drop` is off).
pub(crate) async fn open(o: &ConnectOptions, settings: &RunSettings) -> Result<(sqlx::PgPool, Option<Canceller>)> {
    let err = |e| settings.err(e);
    let mut server = vec![("TimeZone".to_string(), "UTC".to_string())];
    if let Some(t) = o.statement_timeout {
        server.push(("statement_timeout".into(), t.as_millis().max(1).to_string()));
    }
    let opts = sqlx::postgres::PgConnectOptions::from_str(o.driver_url()).map_err(err)?.options(server);
    check_reachable::<sqlx::PgConnection>(&opts, settings).await?;
    let sessions = Arc::new(Sessions::new(o.max_connections));
    let learn = sessions.clone();
    let mut pool = pool_options::<sqlx::Postgres>(o);
    if o.cancel_on_drop {
        pool = pool.after_connect(move |conn, _meta| {
            let sessions = learn.clone();
            Box::pin(async move { learn_backend(conn, &sessions).await })
        });
    }
    let pool = pool.connect_with(opts.clone()).await.map_err(err)?;
    let canceller = Canceller { options: opts, sessions, connect_timeout: o.connect_timeout };
    Ok((pool, o.cancel_on_drop.then_some(canceller)))
}
