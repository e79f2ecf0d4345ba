//! The `migrate` commands a service binary exposes with one call in its `main`:
//!
//! ```no_run
//! # #[derive(almacen::Model)] #[model(table = "users")] struct User { #[model(primary_key, auto)] id: i64 }
//! use almacen::Model;
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     // `my-service migrate upgrade head`, `my-service migrate revision -m "add users" --autogenerate`, …
//!     if std::env::args().nth(1).as_deref() == Some("migrate") {
//!         return almacen_migrate::cli::run(&[User::TABLE]).await;
//!     }
//!     // … serve …
//!     std::process::ExitCode::SUCCESS
//! }
//! ```
//!
//! The database URL comes from `--database-url` or `DATABASE_URL` (never printed: errors
//! show it with the password redacted), the revisions from `--dir` (default `migrations`).

use crate::autogenerate::{self, AutogenError, Options as AutogenerateOptions};
use crate::graph::{DowngradeTarget, Migrations, StampTarget, UpgradeTarget};
use crate::revision::Section;
use crate::runner::{MigrateError, Migrator, create_version_table_sql};
use almacen::{ConnectOptions, Database, Dialect, TableMeta};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// The `migrate` command line.
#[derive(Debug, Parser)]
#[command(name = "migrate", about = "Database migrations: revisions of the models' schema, applied under a lock")]
pub struct Cli {
    /// The database URL (sqlite://…, postgres://…, mysql://…).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<DatabaseUrl>,
    /// The folder of revision files.
    #[arg(long, default_value = "migrations", global = true)]
    pub dir: PathBuf,
    /// A table the models do not own, left out of `revision --autogenerate` and `check`
    /// (repeatable; the version table always is).
    #[arg(long = "ignore-table", value_name = "NAME", global = true)]
    pub ignore_tables: Vec<String>,
    /// Tables whose names start with this are left out too (repeatable).
    #[arg(long = "ignore-prefix", value_name = "PREFIX", global = true)]
    pub ignore_prefixes: Vec<String>,
    /// The models own the whole database: autogenerate drops tables they do not declare
    /// (by default it leaves them alone and lists them).
    #[arg(long, global = true)]
    pub owns_database: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A database URL whose `Debug` hides the password (`almacen::redacted_url`), so printing
/// the parsed command line never shows it.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL itself, to connect with.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(DatabaseUrl(s.to_string()))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&almacen::redacted_url(&self.0))
    }
}

/// One `migrate` command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the revisions folder.
    Init,
    /// Write a new revision file after the head: empty, or with the operations that bring
    /// the database to the models (`--autogenerate`).
    Revision {
        /// What it does, in a few words.
        #[arg(short, long)]
        message: String,
        /// Compare the models with the database (which must be at the head) and write the
        /// operations.
        #[arg(long)]
        autogenerate: bool,
        /// A table the models renamed: `old=new` (repeatable). Never guessed.
        #[arg(long = "rename-table", value_name = "OLD=NEW")]
        rename_tables: Vec<String>,
        /// A column the models renamed: `table.old=new` (repeatable). Never guessed.
        #[arg(long = "rename-column", value_name = "TABLE.OLD=NEW")]
        rename_columns: Vec<String>,
    },
    /// Write a revision that merges every head into one.
    Merge {
        /// What it does.
        #[arg(short, long, default_value = "merge heads")]
        message: String,
    },
    /// Apply revisions: `head` (default), `heads`, `+N`, or a revision id (or unique prefix).
    Upgrade {
        /// Where to go.
        #[arg(default_value = "head")]
        target: String,
    },
    /// Undo revisions: `-N`, a revision id (it stays applied), or `base`.
    Downgrade {
        /// Where to go.
        #[arg(allow_hyphen_values = true)]
        target: String,
    },
    /// The revisions, newest first.
    History,
    /// The revisions the database is at.
    Current,
    /// The revisions nothing follows (more than one: the history branches).
    Heads,
    /// Record revisions as applied without running them: `head`, `heads`, `base`, or ids.
    Stamp {
        /// What to record.
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// Exit with status 1 when the models and the database differ (for CI).
    Check,
    /// Print the SQL an upgrade would run, without a database.
    Sql {
        /// The dialect (sqlite, postgres, mysql); the URL's when not given.
        #[arg(long)]
        dialect: Option<String>,
        /// Where to go (as for upgrade).
        #[arg(default_value = "head")]
        target: String,
        /// The revision the database is at (default: none).
        #[arg(long)]
        from: Option<String>,
    },
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments or missing settings.
    #[error("{0}")]
    Usage(String),
    /// The revisions or the runner refused.
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// Autogenerate refused (or found no way to make a change).
    #[error(transparent)]
    Autogenerate(#[from] AutogenError),
    /// The database refused.
    #[error(transparent)]
    Database(#[from] almacen::Error),
    /// Writing a file or the output failed.
    #[error("{0}")]
    Io(String),
}

impl From<crate::graph::GraphError> for CliError {
    fn from(e: crate::graph::GraphError) -> Self {
        CliError::Migrate(MigrateError::Graph(e))
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Io(e.to_string())
    }
}

/// Parse the process's arguments (after the binary's name and a leading `migrate`, if any),
/// run the command for these models, print what it did; the exit code says how it went.
pub async fn run(models: &[&'static TableMeta]) -> ExitCode {
    let mut args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("migrate") {
        args.remove(1);
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    // Progress of long runs (each revision, and each step that takes a second or more) as
    // the runner logs it, on stderr, unless the service set up its own logging.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("almacen_migrate=info")))
        .try_init();
    let mut out = std::io::stdout().lock();
    match execute(&cli, models, &mut out).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Run one parsed command, writing its output to `out` (for tests and embedding).
pub async fn execute(cli: &Cli, models: &[&'static TableMeta], out: &mut dyn Write) -> Result<ExitCode, CliError> {
    match &cli.command {
        Command::Init => init(&cli.dir, out),
        Command::Revision { message, autogenerate, rename_tables, rename_columns } => {
            let migrations = load(&cli.dir)?;
            let mut revision = migrations.new_revision(message)?;
            if *autogenerate {
                let db = connect(cli).await?;
                let at = Migrator::new(&migrations).current(&db).await?;
                let heads: Vec<String> = migrations.heads().iter().map(|r| r.id.clone()).collect();
                if sorted(at.clone()) != sorted(heads.clone()) {
                    db.close().await;
                    return Err(CliError::Usage(format!(
                        "the database is at {} but the revisions' head is {}: run `migrate upgrade head` before autogenerating",
                        show(&at),
                        show(&heads)
                    )));
                }
                let options = rename_options(autogenerate_options(cli), rename_tables, rename_columns)?;
                let plan = autogenerate::autogenerate(&db, models, &options).await;
                db.close().await;
                let plan = plan?;
                for note in &plan.notes {
                    revision.note(Section::Upgrade, note.op, note.text.clone());
                }
                if plan.is_empty() {
                    writeln!(out, "no changes: the database matches the models (the revision is empty)")?;
                }
                for table in &plan.untouched {
                    writeln!(out, "left alone: table {table:?} is not in the models (ignore it in the options, or own the database)")?;
                }
                write_skipped(&plan, out)?;
                revision.upgrade = plan.upgrade;
                revision.downgrade = plan.downgrade;
            }
            let path = revision.write_new(&cli.dir).map_err(|e| CliError::Io(e.to_string()))?;
            writeln!(out, "wrote {}", path.display())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Merge { message } => {
            let migrations = load(&cli.dir)?;
            let revision = migrations.merge_revision(message)?;
            let path = revision.write_new(&cli.dir).map_err(|e| CliError::Io(e.to_string()))?;
            writeln!(out, "wrote {}", path.display())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Upgrade { target } => {
            let migrations = load(&cli.dir)?;
            let target: UpgradeTarget = target.parse()?;
            let db = connect(cli).await?;
            let report = Migrator::new(&migrations).upgrade(&db, &target).await;
            db.close().await;
            writeln!(out, "{}", report?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Downgrade { target } => {
            let migrations = load(&cli.dir)?;
            let target: DowngradeTarget = target.parse()?;
            let db = connect(cli).await?;
            let report = Migrator::new(&migrations).downgrade(&db, &target).await;
            db.close().await;
            writeln!(out, "{}", report?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Stamp { targets } => {
            let migrations = load(&cli.dir)?;
            let target = stamp_target(targets)?;
            let db = connect(cli).await?;
            let report = Migrator::new(&migrations).stamp(&db, &target).await;
            db.close().await;
            writeln!(out, "{}", report?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::History => {
            let migrations = load(&cli.dir)?;
            let heads: Vec<&str> = migrations.heads().iter().map(|r| r.id.as_str()).collect();
            for r in migrations.history().iter().rev() {
                let parents = if r.parents.is_empty() { "<base>".to_string() } else { r.parents.join(", ") };
                let mark = if heads.contains(&r.id.as_str()) { " (head)" } else { "" };
                writeln!(out, "{parents} -> {}{mark}, {} [{}]", r.id, r.summary(), r.created.format("%Y-%m-%d %H:%M"))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Heads => {
            let migrations = load(&cli.dir)?;
            let heads = migrations.heads();
            for r in &heads {
                writeln!(out, "{} {}", r.id, r.summary())?;
            }
            if heads.len() > 1 {
                writeln!(out, "the history branches: {} heads; `migrate merge -m \"…\"` joins them", heads.len())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Current => {
            let migrations = load(&cli.dir)?;
            let db = connect(cli).await?;
            let at = Migrator::new(&migrations).current(&db).await;
            db.close().await;
            let at = at?;
            if at.is_empty() {
                writeln!(out, "<base> (no revision applied)")?;
            }
            for id in at {
                let summary =
                    migrations.get(&id).map(|r| r.summary().to_string()).unwrap_or_else(|| "(not in the revisions folder)".into());
                writeln!(out, "{id} {summary}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            let db = connect(cli).await?;
            let checked = check(cli, &db, models, out).await;
            db.close().await;
            checked
        }
        Command::Sql { dialect, target, from } => {
            let migrations = load(&cli.dir)?;
            let dialect = match dialect {
                Some(name) => parse_dialect(name)?,
                None => {
                    let url = cli
                        .database_url
                        .as_ref()
                        .map(DatabaseUrl::expose)
                        .ok_or_else(|| CliError::Usage("give --dialect or a database URL".into()))?;
                    ConnectOptions::from_url(url)?.dialect()
                }
            };
            let target: UpgradeTarget = target.parse()?;
            write_sql(&migrations, dialect, from.as_deref(), &target, out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `check`: success only when the database is at the revisions' head (when there is a
/// revisions folder) and autogenerate finds nothing to do, not even a table the models do
/// not declare (ignore those with the flags).
async fn check(cli: &Cli, db: &Database, models: &[&'static TableMeta], out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let mut differs = false;
    if cli.dir.is_dir() {
        let migrations = load(&cli.dir)?;
        let at = Migrator::new(&migrations).current(db).await?;
        let heads: Vec<String> = migrations.heads().iter().map(|r| r.id.clone()).collect();
        if sorted(at.clone()) != sorted(heads.clone()) {
            writeln!(out, "the database is at {} but the revisions' head is {}: run `migrate upgrade head`", show(&at), show(&heads))?;
            differs = true;
        }
    }
    let plan = autogenerate::autogenerate(db, models, &autogenerate_options(cli)).await?;
    if !plan.is_empty() {
        writeln!(out, "the database differs from the models; a revision would:")?;
        for op in &plan.upgrade {
            writeln!(out, "  {}", crate::revision::describe(op))?;
        }
        differs = true;
    }
    if !plan.untouched.is_empty() {
        writeln!(
            out,
            "tables the models do not declare: {} (--ignore-table / --ignore-prefix if another owner's, --owns-database to drop them)",
            plan.untouched.join(", ")
        )?;
        differs = true;
    }
    write_skipped(&plan, out)?;
    if differs {
        return Ok(ExitCode::FAILURE);
    }
    writeln!(out, "the database matches the models")?;
    Ok(ExitCode::SUCCESS)
}

/// Indexes a revision cannot describe (expression, partial, …): left alone, and said so.
fn write_skipped(plan: &autogenerate::Plan, out: &mut dyn Write) -> Result<(), CliError> {
    for ix in &plan.skipped {
        writeln!(
            out,
            "left alone: index {:?} on {:?}, {} (revisions cannot describe it; raw SQL steps can)",
            ix.name, ix.table, ix.reason
        )?;
    }
    Ok(())
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn show(ids: &[String]) -> String {
    if ids.is_empty() { "<base>".into() } else { ids.join(", ") }
}

fn init(dir: &Path, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(CliError::Usage(format!("{} already exists and is not empty", dir.display())));
    }
    std::fs::create_dir_all(dir)?;
    writeln!(out, "created {}: write a first revision with `migrate revision -m \"first\" --autogenerate`", dir.display())?;
    Ok(ExitCode::SUCCESS)
}

fn load(dir: &Path) -> Result<Migrations, CliError> {
    if !dir.is_dir() {
        return Err(CliError::Usage(format!("no revisions folder {}: run `migrate init` first (or pass --dir)", dir.display())));
    }
    Ok(Migrations::from_dir(dir)?)
}

async fn connect(cli: &Cli) -> Result<Database, CliError> {
    let url = cli
        .database_url
        .as_ref()
        .map(DatabaseUrl::expose)
        .ok_or_else(|| CliError::Usage("no database URL: set DATABASE_URL or pass --database-url".into()))?;
    Ok(Database::connect(url).await?)
}

fn parse_dialect(name: &str) -> Result<Dialect, CliError> {
    match name.to_ascii_lowercase().as_str() {
        "sqlite" => Ok(Dialect::Sqlite),
        "postgres" | "postgresql" => Ok(Dialect::Postgres),
        "mysql" | "mariadb" => Ok(Dialect::MySql),
        other => Err(CliError::Usage(format!("unknown dialect {other:?}: use sqlite, postgres or mysql"))),
    }
}

fn stamp_target(targets: &[String]) -> Result<StampTarget, CliError> {
    match targets {
        [one] => Ok(one.parse()?),
        ids => Ok(StampTarget::Revisions(ids.to_vec())),
    }
}

/// The tables autogenerate leaves out, from the flags.
fn autogenerate_options(cli: &Cli) -> AutogenerateOptions {
    let mut options = AutogenerateOptions::default();
    for t in &cli.ignore_tables {
        options = options.ignore_table(t);
    }
    for p in &cli.ignore_prefixes {
        options = options.ignore_prefix(p);
    }
    if cli.owns_database { options.owning_database() } else { options }
}

fn rename_options(mut options: AutogenerateOptions, tables: &[String], columns: &[String]) -> Result<AutogenerateOptions, CliError> {
    for t in tables {
        let (old, new) = t.split_once('=').ok_or_else(|| CliError::Usage(format!("--rename-table {t:?}: write old=new")))?;
        options = options.rename_table(old, new);
    }
    for c in columns {
        let bad = || CliError::Usage(format!("--rename-column {c:?}: write table.old=new"));
        let (path, new) = c.split_once('=').ok_or_else(bad)?;
        let (table, old) = path.split_once('.').ok_or_else(bad)?;
        options = options.rename_column(table, old, new);
    }
    Ok(options)
}

/// The SQL an upgrade from `from` (none: an empty database) to `target` runs on `dialect`,
/// as the runner runs it: the version table, each revision in a transaction where the
/// dialect has transactional DDL (on SQLite with foreign key enforcement off, checked
/// before COMMIT, as table rebuilds need), and the version table's rows.
pub fn write_sql(
    migrations: &Migrations,
    dialect: Dialect,
    from: Option<&str>,
    target: &UpgradeTarget,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let current: Vec<String> = match from {
        Some(id) => vec![migrations.resolve(id)?.id.clone()],
        None => Vec::new(),
    };
    let plan = Migrator::new(migrations).upgrade_sql(dialect, &current, target)?;
    let transactional = dialect != Dialect::MySql;
    writeln!(out, "-- almacen-migrate: upgrade on {} from {}, {} revision(s)", dialect_name(dialect), show(&current), plan.len())?;
    if dialect == Dialect::MySql {
        writeln!(out, "-- MariaDB/MySQL commit each DDL statement on its own: a failed step leaves the ones before it done.")?;
    }
    if current.is_empty() {
        writeln!(out, "\n{};", create_version_table_sql())?;
    }
    for r in plan {
        writeln!(out, "\n-- {} {}", r.id, r.message)?;
        if dialect == Dialect::Sqlite {
            writeln!(out, "PRAGMA foreign_keys = OFF;")?;
        }
        if transactional {
            writeln!(out, "BEGIN;")?;
        }
        for (n, step) in r.steps.iter().enumerate() {
            writeln!(out, "-- step {}", n + 1)?;
            for sql in step {
                writeln!(out, "{sql};")?;
            }
        }
        for sql in &r.version {
            writeln!(out, "{sql};")?;
        }
        if dialect == Dialect::Sqlite {
            writeln!(out, "PRAGMA foreign_key_check; -- the runner rolls back when this returns rows")?;
        }
        if transactional {
            writeln!(out, "COMMIT;")?;
        }
        if dialect == Dialect::Sqlite {
            writeln!(out, "PRAGMA foreign_keys = ON;")?;
        }
    }
    Ok(())
}

fn dialect_name(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "SQLite",
        Dialect::Postgres => "PostgreSQL",
        Dialect::MySql => "MariaDB/MySQL",
    }
}
