//! The outbox's commands, for a service's own binary (feature `cli`): run relays, list,
//! retry and discard dead rows, clean up published ones.

use crate::relay::{DeadLetters, Relay, RelayConfig};
use crate::transport::Transport;
use almacen::Database;
use std::time::Duration;

/// The outbox's commands, to flatten into a service's `clap` command line.
///
/// ```no_run
/// use clap::Parser;
/// #[derive(Parser)]
/// struct Cli {
///     #[command(subcommand)]
///     outbox: almacen_events::cli::OutboxCommand,
/// }
/// # async fn f(db: almacen::Database) -> Result<(), Box<dyn std::error::Error>> {
/// let cli = Cli::parse();
/// let out = cli.outbox.execute(db, almacen_events::InProcessBus::new(), async { tokio::signal::ctrl_c().await.ok(); }).await?;
/// print!("{out}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, clap::Subcommand)]
pub enum OutboxCommand {
    /// Publish the outbox until Ctrl-C or SIGTERM.
    Relay {
        /// Relays in this process.
        #[arg(long, default_value_t = 1)]
        relays: usize,
        /// Rows per round.
        #[arg(long, default_value_t = 500)]
        batch_size: u64,
        /// Milliseconds to sleep when a round found nothing.
        #[arg(long, default_value_t = 100)]
        poll_ms: u64,
        /// SQLite: seconds a claim holds its buckets.
        #[arg(long, default_value_t = 30)]
        lease_secs: u64,
        /// Failed sends before a row is dead.
        #[arg(long, default_value_t = 10)]
        max_attempts: i32,
    },
    /// Dead rows.
    Dead {
        #[command(subcommand)]
        action: DeadAction,
    },
    /// Delete rows published more than `--retention-hours` ago, in batches.
    Clean {
        /// Keep rows published within this many hours.
        #[arg(long, default_value_t = 168)]
        retention_hours: u64,
        /// Rows per statement.
        #[arg(long, default_value_t = 1000)]
        batch: u64,
    },
}

/// What to do with dead rows.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DeadAction {
    /// List them, oldest first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Put one back in line.
    Retry {
        /// Its id.
        id: i64,
    },
    /// Delete one for good.
    Discard {
        /// Its id.
        id: i64,
    },
}

/// A command that could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The database failed.
    #[error(transparent)]
    Database(#[from] almacen::Error),
    /// No dead row has this id.
    #[error("no dead outbox row has id {0}")]
    NoDeadRow(i64),
}

impl OutboxCommand {
    /// Run the command over `db`'s outbox, sending through `transport`; returns what to
    /// print. `relay` runs until `shutdown` completes.
    pub async fn execute<T: Transport + Clone>(
        self,
        db: Database,
        transport: T,
        shutdown: impl Future<Output = ()>,
    ) -> Result<String, CommandError> {
        match self {
            OutboxCommand::Relay { relays, batch_size, poll_ms, lease_secs, max_attempts } => {
                let config = RelayConfig {
                    batch_size,
                    poll_interval: Duration::from_millis(poll_ms),
                    lease: Duration::from_secs(lease_secs),
                    max_attempts,
                    ..Default::default()
                };
                let stop = tokio::sync::watch::channel(false);
                let runs = (0..relays.max(1)).map(|_| {
                    let relay = Relay::new(db.clone(), transport.clone(), config.clone());
                    let mut stopped = stop.1.clone();
                    async move { relay.run(async move { while stopped.changed().await.is_ok() && !*stopped.borrow() {} }).await }
                });
                let all = futures::future::try_join_all(runs);
                tokio::pin!(all);
                tokio::select! {
                    done = &mut all => { done?; }
                    () = shutdown => {
                        let _ = stop.0.send(true);
                        all.await?;
                    }
                }
                Ok(String::new())
            }
            OutboxCommand::Dead { action } => {
                let dead = DeadLetters::new(db);
                match action {
                    DeadAction::List { limit } => {
                        let mut out = String::new();
                        for row in dead.list(limit).await? {
                            out.push_str(&format!(
                                "{}\t{}\t{}\t{}\tattempts={}\t{}\n",
                                row.id,
                                row.event_id,
                                row.event_type,
                                row.partition_key,
                                row.attempts,
                                row.last_error.unwrap_or_default()
                            ));
                        }
                        Ok(out)
                    }
                    DeadAction::Retry { id } => {
                        if dead.retry(id).await? {
                            Ok(format!("outbox row {id} is back in line\n"))
                        } else {
                            Err(CommandError::NoDeadRow(id))
                        }
                    }
                    DeadAction::Discard { id } => {
                        if dead.discard(id).await? {
                            Ok(format!("outbox row {id} discarded\n"))
                        } else {
                            Err(CommandError::NoDeadRow(id))
                        }
                    }
                }
            }
            OutboxCommand::Clean { retention_hours, batch } => {
                let n = DeadLetters::new(db).clean_published(Duration::from_secs(retention_hours.saturating_mul(3600)), batch).await?;
                Ok(format!("{n} published rows deleted\n"))
            }
        }
    }
}
