//! The outbox's commands with NATS JetStream as the transport:
//! `almacen-events --database-url … --nats-url … relay`, `… dead list`, `… clean`.

use almacen_events::NatsJetStream;
use almacen_events::cli::OutboxCommand;
use clap::Parser;

/// The outbox's commands over a database, publishing to NATS JetStream.
#[derive(Parser)]
#[command(name = "almacen-events", version)]
struct Cli {
    /// The database whose outbox to work on.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// The NATS server.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222", hide_env_values = true)]
    nats_url: String,
    /// The JetStream stream (created if missing).
    #[arg(long, env = "NATS_STREAM", default_value = "EVENTS")]
    stream: String,
    /// Messages go to `<prefix>.<event type>`.
    #[arg(long, env = "NATS_SUBJECT_PREFIX", default_value = "events")]
    prefix: String,
    #[command(subcommand)]
    command: OutboxCommand,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("almacen-events: {e}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let db = almacen::Database::connect(&cli.database_url).await?;
    let nats = NatsJetStream::connect(&cli.nats_url, &cli.stream, &cli.prefix).await?;
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    let out = cli.command.execute(db.clone(), nats, shutdown).await;
    db.close().await;
    print!("{}", out?);
    Ok(())
}
