//! PostgreSQL notifications (`LISTEN` / `NOTIFY`): a connection of its own, outside the
//! pool, that waits for them. Other backends have none: asking is an error that says so.

use crate::data::error::{Error, Result};
use crate::engine::database::Database;
#[cfg(feature = "postgres")]
use crate::engine::database::Pool;
use std::time::Duration;

/// A notification heard on a channel (`NOTIFY channel, 'payload'`, or `pg_notify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The channel it was sent on.
    pub channel: String,
    /// Its payload (empty when none was given).
    pub payload: String,
}

/// What [`Listener::wait`] heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A notification.
    Notification(Notification),
    /// The connection was lost and opened again: notifications sent in between were missed,
    /// so look at whatever they would have announced.
    Reconnected,
    /// Nothing within the time given.
    Nothing,
}

/// A PostgreSQL connection listening on channels; see [`Database::listen`].
pub struct Listener {
    #[cfg(feature = "postgres")]
    inner: sqlx::postgres::PgListener,
    #[cfg(feature = "postgres")]
    acquire_timeout: Duration,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").finish_non_exhaustive()
    }
}

impl Database {
    /// Listen on `channels` (PostgreSQL `LISTEN`), on a connection of its own opened with
    /// this pool's settings. SQLite and MySQL/MariaDB have no notifications: they answer
    /// [`Error::Unsupported`].
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let mut listener = db.listen(&["orders"]).await?;
    /// db.execute_raw("SELECT pg_notify('orders', 'placed')", params! {}).await?;
    /// if let almacen::Heard::Notification(n) = listener.wait(std::time::Duration::from_secs(5)).await? {
    ///     assert_eq!((n.channel.as_str(), n.payload.as_str()), ("orders", "placed"));
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn listen(&self, channels: &[&str]) -> Result<Listener> {
        match &self.inner.pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => {
                let acquire_timeout = self.inner.options.acquire_timeout;
                let map = |e| Error::from_sqlx(e, crate::Dialect::Postgres, acquire_timeout);
                let mut inner = sqlx::postgres::PgListener::connect_with(pool).await.map_err(map)?;
                inner.listen_all(channels.iter().copied()).await.map_err(map)?;
                Ok(Listener { inner, acquire_timeout })
            }
            #[allow(unreachable_patterns, reason = "only with more than one backend built")]
            _ => {
                let _ = channels;
                Err(Error::Unsupported(format!(
                    "LISTEN/NOTIFY is PostgreSQL's; {} has no notifications (poll instead)",
                    self.dialect().name()
                )))
            }
        }
    }
}

impl Listener {
    /// Wait at most `timeout` for a notification.
    pub async fn wait(&mut self, timeout: Duration) -> Result<Heard> {
        #[cfg(feature = "postgres")]
        {
            let acquire_timeout = self.acquire_timeout;
            match tokio::time::timeout(timeout, self.inner.try_recv()).await {
                Err(_) => Ok(Heard::Nothing),
                Ok(Ok(Some(n))) => {
                    Ok(Heard::Notification(Notification { channel: n.channel().to_string(), payload: n.payload().to_string() }))
                }
                Ok(Ok(None)) => Ok(Heard::Reconnected),
                Ok(Err(e)) => Err(Error::from_sqlx(e, crate::Dialect::Postgres, acquire_timeout)),
            }
        }
        #[cfg(not(feature = "postgres"))]
        {
            let _ = timeout;
            Err(Error::Unsupported("this build of almacen has no PostgreSQL".into()))
        }
    }
}
