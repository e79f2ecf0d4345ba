//! Connection settings: pool size, timeouts, pre-ping, echo, SQLite's journal mode and
//! synchronous level; from code or URL query parameters.

use crate::data::dialect::Dialect;
use crate::data::error::{Error, Result};
use std::time::Duration;

/// Pool and timeout settings. Each can be set in code or as a URL query parameter
/// (SQLAlchemy's names are accepted too, e.g. `pool_size`, `pool_timeout`, `pool_recycle`,
/// `pool_pre_ping`).
///
/// | URL parameter | also accepted | meaning | default |
/// |---|---|---|---|
/// | `max_connections` | `pool_size` (+ `max_overflow`) | most connections open at once | 10 (1 for in-memory SQLite) |
/// | `min_connections` | | connections kept open when idle | 0 |
/// | `acquire_timeout` | `pool_timeout` | wait for a connection (a free one, or a new one while the server is unreachable) before [`Error::PoolTimeout`](crate::Error::PoolTimeout) | 5s |
/// | `max_lifetime` | `pool_recycle` | close connections older than this | 30min |
/// | `idle_timeout` | | close connections idle longer than this | 10min |
/// | `pre_ping` | `pool_pre_ping`, `test_before_acquire` | ping a connection before handing it out | false |
/// | `connect_timeout` | | give up on one connection attempt (TCP, TLS, login) after this; also bounds [`Database::connect`](crate::Database::connect) | 2s |
/// | `statement_timeout` | | cancel statements running longer (per-query override exists) | none |
/// | `slow_statement` | | log a warning for statements slower than this | none |
/// | `echo` | | log every statement at INFO | false |
/// | `log_parameters` | | include bound parameters in logs | false |
/// | `cancel_on_drop` | | ask the server to cancel a statement whose future is dropped (turn it off behind a proxy that moves a client's statements between server sessions, such as PgBouncer in transaction mode) | true |
/// | `journal_mode` | | SQLite files only: how a transaction is kept atomic, [`JournalMode`]: `wal`, `delete`, `truncate` or `persist` | `wal` |
/// | `synchronous` | | SQLite files only: how often SQLite waits for the disk, [`Synchronous`]: `off`, `normal`, `full` or `extra` | `normal` |
///
/// The timeouts are short so that a web service fails fast and recovers fast. SQLAlchemy's
/// `pool_timeout` defaults to 30 s; almacen's `acquire_timeout` to 5 s: a request that cannot
/// get a connection fails with `PoolTimeout` well before a client or proxy gives up on it.
/// While a server is down (refusing connections), waiting callers try to connect again at
/// least every fifth of the connect timeout (400 ms by default), so the first requests
/// succeed within about that of the server's return; a larger `connect_timeout`, for a slow
/// network, makes that retry interval larger too.
///
/// Durations are written `250ms`, `5s`, `2m`, `1h`, or a bare number of seconds, up to
/// 2^31 − 1 ms (about 24.8 days, PostgreSQL's longest `statement_timeout`). Any other
/// parameter must be one the driver reads (PostgreSQL: `sslmode`, `application_name`,
/// `options[..]`, …; MariaDB: `ssl-mode`, `charset`, `timezone`, …; SQLite: `mode`, `cache`,
/// `immutable`, `vfs`, `nolock`): a mistyped one is an error naming the nearest known name,
/// never passed on (PostgreSQL's driver would log it, value and all). A `sqlite:` URL without
/// a path is an error. `Debug` shows the URL without its password ([`redacted_url`](crate::redacted_url)).
///
/// `journal_mode` and `synchronous` apply to a SQLite file opened for writing, and are set
/// (and checked) on every connection of its pool, the writer and the readers. On a
/// PostgreSQL or MariaDB URL, and on an in-memory or read-only (`mode=ro`, `immutable=1`)
/// SQLite database, they are refused rather than ignored. WAL with `synchronous=normal` is
/// the fast default: readers never wait for the writer, and a crash of the program loses
/// nothing committed (a power cut may lose the last commits, never consistency). For
/// commits that survive a power cut too, use `synchronous=full`; where WAL cannot work (a
/// network filesystem, `nolock=1`), use a rollback journal (`delete`, with `full`): readers
/// and the writer then wait for each other (see [`JournalMode`]).
///
/// ```
/// use almacen::ConnectOptions;
/// use std::time::Duration;
/// let opts = ConnectOptions::from_url("postgres://u@localhost/db?pool_size=5&max_overflow=3&pool_timeout=2s").unwrap();
/// assert_eq!(opts.max_connections, 8);
/// assert_eq!(opts.acquire_timeout, Duration::from_secs(2));
/// assert_eq!(opts.driver_url(), "postgres://u@localhost/db");
///
/// use almacen::{JournalMode, Synchronous};
/// let opts = ConnectOptions::from_url("sqlite://app.db?synchronous=FULL").unwrap();
/// assert_eq!(opts.journal_mode, Some(JournalMode::Wal));
/// assert_eq!(opts.synchronous, Some(Synchronous::Full));
/// assert_eq!(opts.driver_url(), "sqlite://app.db");
/// let e = ConnectOptions::from_url("postgres://u@localhost/db?synchronous=full").unwrap_err();
/// assert!(e.to_string().contains("SQLite"), "{e}");
/// ```
#[derive(Clone)]
pub struct ConnectOptions {
    url: String,
    dialect: Dialect,
    in_memory: bool,
    /// Most connections open at once.
    pub max_connections: u32,
    /// Connections kept open even when idle.
    pub min_connections: u32,
    /// How long to wait for a connection: a free one, or a new one (retrying while the
    /// server refuses connections). SQLAlchemy's `pool_timeout`. Default 5 s.
    pub acquire_timeout: Duration,
    /// Close connections older than this (SQLAlchemy's pool_recycle).
    pub max_lifetime: Option<Duration>,
    /// Close connections idle for longer than this.
    pub idle_timeout: Option<Duration>,
    /// Ping each connection before handing it out (SQLAlchemy's pool_pre_ping).
    pub pre_ping: bool,
    /// How long one attempt to open a connection may take (TCP, TLS, login, session setup),
    /// in the pool and at [`Database::connect`](crate::Database::connect). While a server
    /// refuses connections, the pool tries again at least every fifth of this. Default 2 s.
    pub connect_timeout: Duration,
    /// Default statement timeout; `None` means no limit.
    pub statement_timeout: Option<Duration>,
    /// Statements slower than this are logged as warnings.
    pub slow_statement: Option<Duration>,
    /// Log every statement at INFO level (SQLAlchemy's echo).
    pub echo: bool,
    /// Include bound parameters in statement logs.
    pub log_parameters: bool,
    /// Ask a PostgreSQL or MariaDB server to cancel a statement whose future is dropped
    /// (SQLite's are always interrupted). The cancel is aimed at the server session a
    /// connection had when it was opened: behind a proxy that moves a client's statements
    /// between server sessions (PgBouncer in transaction or statement mode) it could reach
    /// another client's statement, so turn it off there. Default true.
    pub cancel_on_drop: bool,
    /// SQLite's journal mode, set on every connection to a SQLite file opened for writing:
    /// `Some(JournalMode::Wal)` unless the URL says otherwise. `None` where it does not
    /// apply (PostgreSQL, MariaDB, an in-memory or read-only SQLite database), and there a
    /// `Some` is refused by [`Database::connect_with`](crate::Database::connect_with); on a
    /// writable SQLite file `None` means the default, WAL.
    pub journal_mode: Option<JournalMode>,
    /// SQLite's `synchronous` level, set on every connection to a SQLite file opened for
    /// writing: `Some(Synchronous::Normal)` unless the URL says otherwise. `None` (and
    /// refused when set) where it does not apply, as for
    /// [`journal_mode`](Self::journal_mode); on a writable SQLite file `None` means the
    /// default, NORMAL.
    pub synchronous: Option<Synchronous>,
}

/// SQLite's journal mode for a database file (the `journal_mode` URL parameter, written in
/// any case): how SQLite keeps a transaction all-or-nothing through a crash, and so whether
/// readers and the writer wait for each other.
///
/// - [`Wal`](Self::Wal) (the default): commits are appended to a write-ahead log (`-wal`
///   file) and copied into the database by checkpoints. Readers read a snapshot while the
///   writer writes; neither waits for the other. Needs shared memory between the
///   connections (`-shm`), so not on a network filesystem, nor with `nolock=1`.
/// - [`Delete`](Self::Delete), [`Truncate`](Self::Truncate), [`Persist`](Self::Persist): a
///   rollback journal (`-journal` file) keeps the pages a transaction changes, so a crash
///   can undo it; at commit the journal is deleted, truncated to nothing, or kept with its
///   header zeroed (the latter two save a file creation per commit). Readers and the writer
///   block each other: a commit waits until no read is in progress (and no new read starts
///   meanwhile), and a large transaction that spills changed pages to the file blocks reads
///   until it ends. A wait lasts at most 5 s, then the statement fails with
///   [`Error::Deadlock`](crate::Error::Deadlock) and changes nothing (retryable), so keep
///   reads short and do not write while holding a read open in the same task (a stream
///   being read, a read-only transaction): that write waits for the read and fails.
///
/// `memory` and `off` are refused: with the journal in memory a crash in the middle of a
/// transaction can leave the database corrupt, and with none at all a rollback cannot undo
/// what a transaction did. almacen never leaves an operation half-written.
///
/// ```
/// use almacen::JournalMode;
/// assert_eq!("DELETE".parse::<JournalMode>().unwrap(), JournalMode::Delete);
/// assert!("off".parse::<JournalMode>().unwrap_err().to_string().contains("atomic"));
/// assert_eq!(JournalMode::default().as_str(), "wal");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum JournalMode {
    /// Write-ahead log: readers and the writer do not block each other (the default).
    #[default]
    Wal,
    /// Rollback journal, deleted at each commit (SQLite's own default).
    Delete,
    /// Rollback journal, truncated to zero bytes at each commit.
    Truncate,
    /// Rollback journal, kept with its header zeroed at each commit.
    Persist,
}

impl JournalMode {
    /// Every mode almacen accepts.
    pub const ALL: [JournalMode; 4] = [JournalMode::Wal, JournalMode::Delete, JournalMode::Truncate, JournalMode::Persist];

    /// The mode's name as SQLite writes it (what `PRAGMA journal_mode` answers): `wal`,
    /// `delete`, `truncate` or `persist`.
    pub const fn as_str(self) -> &'static str {
        match self {
            JournalMode::Wal => "wal",
            JournalMode::Delete => "delete",
            JournalMode::Truncate => "truncate",
            JournalMode::Persist => "persist",
        }
    }
}

impl std::fmt::Display for JournalMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for JournalMode {
    type Err = Error;

    /// Parse a mode's name in any case; `memory`, `off` and unknown names are
    /// [`Error::Config`] saying why and what is accepted.
    fn from_str(value: &str) -> Result<Self> {
        let lower = value.trim().to_ascii_lowercase();
        if let Some(mode) = JournalMode::ALL.into_iter().find(|m| m.as_str() == lower) {
            return Ok(mode);
        }
        Err(Error::Config(match lower.as_str() {
            "memory" | "off" => format!(
                "journal_mode={value:?} is refused: it loses atomicity on a crash ({}), and almacen never leaves an operation \
                 half-written; use wal (the default), delete, truncate or persist",
                if lower == "off" {
                    "with no journal a rollback cannot undo a transaction, and a crash in one corrupts the database"
                } else {
                    "with the journal in memory a crash in the middle of a transaction can corrupt the database"
                }
            ),
            _ => format!("journal_mode={value:?} is not a journal mode: use wal (the default), delete, truncate or persist"),
        }))
    }
}

/// SQLite's `synchronous` level for a database file (the `synchronous` URL parameter,
/// written in any case): how often SQLite waits for the disk to have written what it was
/// given (fsync), which decides what a power cut or an operating-system crash can take.
/// A crash of the program alone loses nothing committed at any level.
///
/// | level | WAL (the default journal) | rollback journal (`delete`, `truncate`, `persist`) |
/// |---|---|---|
/// | `off` | a power cut may lose recent commits and can corrupt the database | a power cut can corrupt the database |
/// | `normal` (default) | a power cut may lose the last commits; never corrupts | on older filesystems a power cut at the wrong moment can, rarely, corrupt the database: use `full` |
/// | `full` | every commit survives a power cut (one more sync per commit) | every commit survives a power cut |
/// | `extra` | at least as `full` | as `full`, and the directory is synced after the journal is deleted (`delete`) |
///
/// ```
/// use almacen::Synchronous;
/// assert_eq!("Full".parse::<Synchronous>().unwrap(), Synchronous::Full);
/// assert!("2".parse::<Synchronous>().unwrap_err().to_string().contains("off, normal"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Synchronous {
    /// Never wait for the disk.
    Off,
    /// Wait at the critical moments only (with WAL: at checkpoints). The default.
    #[default]
    Normal,
    /// Wait at every commit.
    Full,
    /// As `Full`, and sync the directory after deleting a rollback journal.
    Extra,
}

impl Synchronous {
    /// Every level.
    pub const ALL: [Synchronous; 4] = [Synchronous::Off, Synchronous::Normal, Synchronous::Full, Synchronous::Extra];

    /// The level's name as the URL takes it: `off`, `normal`, `full` or `extra`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Synchronous::Off => "off",
            Synchronous::Normal => "normal",
            Synchronous::Full => "full",
            Synchronous::Extra => "extra",
        }
    }

    /// The number `PRAGMA synchronous` answers for the level (0 to 3).
    pub const fn pragma_value(self) -> i64 {
        match self {
            Synchronous::Off => 0,
            Synchronous::Normal => 1,
            Synchronous::Full => 2,
            Synchronous::Extra => 3,
        }
    }
}

impl std::fmt::Display for Synchronous {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Synchronous {
    type Err = Error;

    /// Parse a level's name in any case; anything else is [`Error::Config`] listing them.
    fn from_str(value: &str) -> Result<Self> {
        let lower = value.trim().to_ascii_lowercase();
        Synchronous::ALL.into_iter().find(|s| s.as_str() == lower).ok_or_else(|| {
            Error::Config(format!("synchronous={value:?} is not a synchronous level: use off, normal (the default), full or extra"))
        })
    }
}

/// Settings almacen reads from a URL's query, SQLAlchemy's names included.
const OWN_PARAMETERS: &[&str] = &[
    "max_connections",
    "pool_size",
    "max_overflow",
    "min_connections",
    "acquire_timeout",
    "pool_timeout",
    "max_lifetime",
    "pool_recycle",
    "idle_timeout",
    "pre_ping",
    "pool_pre_ping",
    "test_before_acquire",
    "connect_timeout",
    "statement_timeout",
    "slow_statement",
    "slow_statement_threshold",
    "echo",
    "log_parameters",
    "cancel_on_drop",
    "journal_mode",
    "synchronous",
];

/// The query parameters sqlx's PostgreSQL driver reads (`options[name]` too); it would log
/// any other, value included, and ignore it.
const POSTGRES_PARAMETERS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

/// The query parameters of SQLite's URI filenames almacen passes on.
const SQLITE_PARAMETERS: &[&str] = &["mode", "cache", "immutable", "vfs", "nolock"];

/// The query parameters sqlx's MySQL/MariaDB driver reads.
const MYSQL_PARAMETERS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslca",
    "ssl-ca",
    "charset",
    "collation",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "socket",
    "timezone",
    "time-zone",
];

/// The longest duration a setting takes: PostgreSQL's `statement_timeout` holds 2^31 − 1
/// ms, and nothing else a pool waits for is sensibly longer (about 24.8 days).
pub(crate) const MAX_DURATION: Duration = Duration::from_millis(i32::MAX as u64);

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("url", &redacted_url(&self.url))
            .field("dialect", &self.dialect)
            .field("in_memory", &self.in_memory)
            .field("max_connections", &self.max_connections)
            .field("min_connections", &self.min_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("max_lifetime", &self.max_lifetime)
            .field("idle_timeout", &self.idle_timeout)
            .field("pre_ping", &self.pre_ping)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("slow_statement", &self.slow_statement)
            .field("echo", &self.echo)
            .field("log_parameters", &self.log_parameters)
            .field("cancel_on_drop", &self.cancel_on_drop)
            .field("journal_mode", &self.journal_mode)
            .field("synchronous", &self.synchronous)
            .finish()
    }
}

/// `url` with its password (in the user part, or a `password=` parameter) replaced by
/// `***`, for Debug output, logs and errors.
///
/// ```
/// assert_eq!(
///     almacen::redacted_url("postgres://app:s3cret@db:5432/shop?password=x&sslmode=require"),
///     "postgres://app:***@db:5432/shop?password=***&sslmode=require"
/// );
/// ```
pub fn redacted_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let authority = match authority.rsplit_once('@') {
                Some((user_info, host)) => match user_info.split_once(':') {
                    Some((user, _password)) => format!("{user}:***@{host}"),
                    None => authority.to_string(),
                },
                None => authority.to_string(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => base.to_string(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

impl ConnectOptions {
    /// Parse a URL: `sqlite://path`, `sqlite::memory:`, `postgres://…`, `postgresql://…`,
    /// `mysql://…` or `mariadb://…`, with the settings above as query parameters.
    pub fn from_url(url: &str) -> Result<Self> {
        let (scheme, rest) =
            url.split_once(':').ok_or_else(|| Error::Config(format!("{url:?} is not a database URL (expected e.g. sqlite://app.db)")))?;
        let (dialect, scheme) = match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => (Dialect::Sqlite, "sqlite"),
            "postgres" | "postgresql" => (Dialect::Postgres, "postgres"),
            "mysql" | "mariadb" => (Dialect::MySql, "mysql"),
            other => {
                return Err(Error::Config(format!(
                    "unsupported URL scheme {other:?}: use sqlite://, postgres://, postgresql://, mysql:// or mariadb://"
                )));
            }
        };
        let (base, query) = match rest.split_once('?') {
            Some((b, q)) => (b, q),
            None => (rest, ""),
        };
        let in_memory = dialect == Dialect::Sqlite && (base == ":memory:" || base == "//:memory:" || query.contains("mode=memory"));
        if dialect == Dialect::Sqlite && !in_memory && base.trim_start_matches('/').is_empty() {
            // SQLite would give every pooled connection a private temporary database.
            return Err(Error::Config(
                "the SQLite URL has no file path (an unset variable?): write sqlite://app.db, or sqlite::memory: for an in-memory database"
                    .into(),
            ));
        }
        let mut opts = ConnectOptions {
            url: String::new(),
            dialect,
            in_memory,
            max_connections: if in_memory { 1 } else { 10 },
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            max_lifetime: Some(Duration::from_secs(30 * 60)),
            idle_timeout: Some(Duration::from_secs(10 * 60)),
            pre_ping: false,
            connect_timeout: Duration::from_secs(2),
            statement_timeout: None,
            slow_statement: None,
            echo: false,
            log_parameters: false,
            cancel_on_drop: true,
            journal_mode: None,
            synchronous: None,
        };
        let mut pool_size = None;
        let mut overflow = 0u32;
        let mut passthrough = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = url_decode(value);
            match key {
                "max_connections" => opts.max_connections = parse_u32(key, &value)?,
                "pool_size" => pool_size = Some(parse_u32(key, &value)?),
                "max_overflow" => overflow = parse_u32(key, &value)?,
                "min_connections" => opts.min_connections = parse_u32(key, &value)?,
                "acquire_timeout" | "pool_timeout" => opts.acquire_timeout = parse_duration(key, &value)?,
                "max_lifetime" | "pool_recycle" => opts.max_lifetime = parse_optional_duration(key, &value)?,
                "idle_timeout" => opts.idle_timeout = parse_optional_duration(key, &value)?,
                "pre_ping" | "pool_pre_ping" | "test_before_acquire" => opts.pre_ping = parse_bool(key, &value)?,
                "connect_timeout" => opts.connect_timeout = parse_duration(key, &value)?,
                "statement_timeout" => opts.statement_timeout = parse_optional_duration(key, &value)?,
                "slow_statement" | "slow_statement_threshold" => opts.slow_statement = parse_optional_duration(key, &value)?,
                "echo" => opts.echo = parse_bool(key, &value)?,
                "log_parameters" => opts.log_parameters = parse_bool(key, &value)?,
                "cancel_on_drop" => opts.cancel_on_drop = parse_bool(key, &value)?,
                "journal_mode" => opts.journal_mode = Some(value.parse()?),
                "synchronous" => opts.synchronous = Some(value.parse()?),
                _ => {
                    let driver = match dialect {
                        Dialect::Sqlite => SQLITE_PARAMETERS,
                        Dialect::Postgres => POSTGRES_PARAMETERS,
                        Dialect::MySql => MYSQL_PARAMETERS,
                    };
                    let bracketed = dialect == Dialect::Postgres && key.starts_with("options[") && key.ends_with(']');
                    if !driver.contains(&key) && !bracketed {
                        return Err(unknown_parameter(key, driver));
                    }
                    passthrough.push(pair.to_string());
                }
            }
        }
        if let Some(size) = pool_size {
            opts.max_connections = size.checked_add(overflow).ok_or_else(|| {
                Error::Config(format!("pool_size={size} plus max_overflow={overflow} is more connections than a pool can count"))
            })?;
        }
        if opts.max_connections == 0 {
            return Err(Error::Config("max_connections must be at least 1".into()));
        }
        if opts.in_memory && opts.max_connections != 1 {
            return Err(Error::Config(
                "an in-memory SQLite database lives in one connection: max_connections must be 1 (use a file for more)".into(),
            ));
        }
        let mut driver = format!("{scheme}:{base}");
        if !passthrough.is_empty() {
            driver.push('?');
            driver.push_str(&passthrough.join("&"));
        }
        opts.url = driver;
        opts.check_sqlite_file_settings()?;
        if opts.sqlite_file_for_writing() {
            opts.journal_mode.get_or_insert_default();
            opts.synchronous.get_or_insert_default();
        }
        Ok(opts)
    }

    /// A SQLite file opened for writing: where `journal_mode` and `synchronous` apply.
    pub(crate) fn sqlite_file_for_writing(&self) -> bool {
        self.dialect == Dialect::Sqlite && !self.in_memory && !self.sqlite_read_only()
    }

    /// A SQLite file opened read-only: `mode=ro`, or `immutable` (read-only media).
    fn sqlite_read_only(&self) -> bool {
        let query = self.url.split_once('?').map_or("", |(_, q)| q);
        query.split('&').any(|pair| match pair.split_once('=').unwrap_or((pair, "")) {
            ("mode", value) => value == "ro",
            // SQLite's URI booleans: any of these, or a non-zero number.
            ("immutable", value) => {
                ["yes", "true", "on"].iter().any(|t| value.eq_ignore_ascii_case(t)) || value.parse::<i64>().is_ok_and(|n| n != 0)
            }
            _ => false,
        })
    }

    /// Refuse `journal_mode` and `synchronous` where they would do nothing: on a server, on
    /// an in-memory SQLite database, on a read-only SQLite file. (Run on a URL as it is
    /// parsed, and again by [`Database::connect_with`](crate::Database::connect_with) for
    /// options changed in code.)
    pub(crate) fn check_sqlite_file_settings(&self) -> Result<()> {
        let given = [("journal_mode", self.journal_mode.is_some()), ("synchronous", self.synchronous.is_some())];
        let Some((name, _)) = given.into_iter().find(|(_, set)| *set) else { return Ok(()) };
        let why = if self.dialect != Dialect::Sqlite {
            format!("it is a SQLite setting, and this is a {} database", self.dialect)
        } else if self.in_memory && name == "journal_mode" {
            "an in-memory SQLite database keeps its journal in memory and cannot use WAL; use a file to choose".to_string()
        } else if self.in_memory {
            "an in-memory SQLite database writes nothing to disk".to_string()
        } else if self.sqlite_read_only() {
            "the SQLite database is opened read-only (mode=ro or immutable), so nothing is written; its journal mode is the file's own"
                .to_string()
        } else {
            return Ok(());
        };
        Err(Error::Config(format!("{name} does not apply here: {why}")))
    }

    /// Read the URL from the `DATABASE_URL` environment variable.
    pub fn from_env() -> Result<Self> {
        let url = std::env::var("DATABASE_URL").map_err(|_| Error::Config("DATABASE_URL is not set".into()))?;
        Self::from_url(&url)
    }

    /// The dialect the URL names.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// True for an in-memory SQLite database (one connection, kept open for the pool's life).
    pub fn is_in_memory(&self) -> bool {
        self.in_memory
    }

    /// The URL handed to the driver: almacen's own parameters removed.
    pub fn driver_url(&self) -> &str {
        &self.url
    }

    /// Set the most connections open at once.
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }
    /// Set the connections kept open even when idle.
    pub fn min_connections(mut self, n: u32) -> Self {
        self.min_connections = n;
        self
    }
    /// Set how long to wait for a free connection.
    pub fn acquire_timeout(mut self, d: Duration) -> Self {
        self.acquire_timeout = d;
        self
    }
    /// Set the connection recycle age.
    pub fn max_lifetime(mut self, d: Option<Duration>) -> Self {
        self.max_lifetime = d;
        self
    }
    /// Set the idle timeout.
    pub fn idle_timeout(mut self, d: Option<Duration>) -> Self {
        self.idle_timeout = d;
        self
    }
    /// Turn pre-ping on or off.
    pub fn pre_ping(mut self, on: bool) -> Self {
        self.pre_ping = on;
        self
    }
    /// Set the connect timeout.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }
    /// Set the default statement timeout.
    pub fn statement_timeout(mut self, d: Option<Duration>) -> Self {
        self.statement_timeout = d;
        self
    }
    /// Set the slow-statement warning threshold.
    pub fn slow_statement(mut self, d: Option<Duration>) -> Self {
        self.slow_statement = d;
        self
    }
    /// Log every statement at INFO.
    pub fn echo(mut self, on: bool) -> Self {
        self.echo = on;
        self
    }
    /// Include parameters in statement logs.
    pub fn log_parameters(mut self, on: bool) -> Self {
        self.log_parameters = on;
        self
    }
    /// Turn the server's cancel of abandoned statements on or off (see
    /// [`cancel_on_drop`](Self::cancel_on_drop)).
    pub fn cancel_on_drop(mut self, on: bool) -> Self {
        self.cancel_on_drop = on;
        self
    }
    /// Set SQLite's journal mode for a file (see [`JournalMode`]); refused at connect on
    /// other databases.
    ///
    /// ```
    /// use almacen::{ConnectOptions, JournalMode, Synchronous};
    /// let opts = ConnectOptions::from_url("sqlite://app.db").unwrap().journal_mode(JournalMode::Delete).synchronous(Synchronous::Full);
    /// assert_eq!((opts.journal_mode, opts.synchronous), (Some(JournalMode::Delete), Some(Synchronous::Full)));
    /// ```
    pub fn journal_mode(mut self, mode: JournalMode) -> Self {
        self.journal_mode = Some(mode);
        self
    }
    /// Set SQLite's `synchronous` level for a file (see [`Synchronous`]); refused at connect
    /// on other databases.
    pub fn synchronous(mut self, level: Synchronous) -> Self {
        self.synchronous = Some(level);
        self
    }
}

/// A URL parameter neither almacen nor the driver knows, with the nearest known name.
fn unknown_parameter(key: &str, driver: &[&str]) -> Error {
    let known: Vec<&str> = OWN_PARAMETERS.iter().chain(driver).copied().collect();
    let nearest = known.iter().map(|k| (strsim::levenshtein(key, k), *k)).filter(|(d, _)| *d <= 2).min().map(|(_, k)| k);
    let hint = nearest.map(|n| format!(": did you mean {n:?}?")).unwrap_or_default();
    Error::Config(format!(
        "unknown URL parameter {key:?}{hint} (almacen's: {}; the driver's: {})",
        OWN_PARAMETERS.join(", "),
        driver.join(", ")
    ))
}

fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            // On bytes: a `%` may be followed by any character, a multi-byte one included.
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_u32(key: &str, value: &str) -> Result<u32> {
    value.parse().map_err(|_| Error::Config(format!("{key}={value:?} is not a whole number")))
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::Config(format!("{key}={value:?} is not true or false"))),
    }
}

fn parse_optional_duration(key: &str, value: &str) -> Result<Option<Duration>> {
    match value.to_ascii_lowercase().as_str() {
        "" | "none" | "off" | "0" | "-1" => Ok(None),
        _ => parse_duration(key, value).map(Some),
    }
}

/// Parse `250ms`, `5s`, `2m`, `1h` or a bare number of seconds (fractions allowed).
pub(crate) fn parse_duration(key: &str, value: &str) -> Result<Duration> {
    let v = value.trim().to_ascii_lowercase();
    let (num, unit) = match v.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => v.split_at(i),
        None => (v.as_str(), "s"),
    };
    let n: f64 = num.trim().parse().map_err(|_| Error::Config(format!("{key}={value:?} is not a duration (e.g. 250ms, 5s, 2m)")))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "sec" | "secs" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(Error::Config(format!("{key}={value:?}: unknown unit {unit:?} (use ms, s, m or h)"))),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(Error::Config(format!("{key}={value:?} must be a positive duration")));
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        _ => Err(Error::Config(format!("{key}={value:?} is longer than the longest setting, {}ms (about 24.8 days)", i32::MAX))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_every_dialect_parse() {
        assert_eq!(ConnectOptions::from_url("sqlite::memory:").unwrap().dialect(), Dialect::Sqlite);
        assert!(ConnectOptions::from_url("sqlite::memory:").unwrap().is_in_memory());
        assert_eq!(ConnectOptions::from_url("postgresql://x/y").unwrap().dialect(), Dialect::Postgres);
        let m = ConnectOptions::from_url("mariadb://root@h/db?ssl-mode=disabled&echo=true").unwrap();
        assert_eq!(m.dialect(), Dialect::MySql);
        assert!(m.echo);
        assert_eq!(m.driver_url(), "mysql://root@h/db?ssl-mode=disabled");
    }

    #[test]
    fn bad_settings_name_the_problem() {
        let e = ConnectOptions::from_url("sqlite://a.db?pool_timeout=soon").unwrap_err().to_string();
        assert!(e.contains("pool_timeout"), "{e}");
        let e = ConnectOptions::from_url("oracle://x").unwrap_err().to_string();
        assert!(e.contains("oracle"), "{e}");
        assert!(ConnectOptions::from_url("sqlite::memory:?max_connections=4").is_err());
    }

    /// Values that once panicked or wrapped are errors naming the setting.
    #[test]
    fn out_of_range_values_are_errors_not_panics() {
        let e = ConnectOptions::from_url("postgres://u@h/db?statement_timeout=99999999999999999999999").unwrap_err().to_string();
        assert!(e.contains("statement_timeout") && e.contains("longer than"), "{e}");
        let e = ConnectOptions::from_url("sqlite://a.db?pool_timeout=30d").unwrap_err().to_string();
        assert!(e.contains("unknown unit"), "{e}");
        assert_eq!(
            ConnectOptions::from_url("sqlite://a.db?acquire_timeout=2147483ms").unwrap().acquire_timeout,
            Duration::from_millis(2_147_483)
        );
        assert!(ConnectOptions::from_url("sqlite://a.db?acquire_timeout=2147484s").is_err());
        let e = ConnectOptions::from_url("mysql://root@h/db?pool_size=4294967295&max_overflow=1").unwrap_err().to_string();
        assert!(e.contains("pool_size=4294967295") && e.contains("max_overflow=1"), "{e}");
        // A `%` before a multi-byte character is kept as it is.
        let opts = ConnectOptions::from_url("postgres://u@h/db?application_name=a%é%41").unwrap();
        assert!(opts.driver_url().ends_with("application_name=a%é%41"), "{}", opts.driver_url());
        assert_eq!(url_decode("a%é%41%4"), "a%éA%4");
    }

    /// On the servers a parameter neither almacen nor the driver reads is refused with the
    /// nearest name (the driver would log it, value included, and ignore it); the driver's
    /// own parameters pass through by their real names.
    #[test]
    fn unknown_url_parameters_are_refused_on_every_dialect() {
        for (url, wanted) in [
            ("postgres://u@h/db?max_conections=2", "\"max_connections\""),
            ("mysql://root@h/db?pool_szie=1", "\"pool_size\""),
            ("postgres://u@h/db?passwrd=s3cret", "\"password\""),
            ("sqlite://a.db?pool_szie=1", "\"pool_size\""),
            ("sqlite://a.db?mdoe=ro", "\"mode\""),
        ] {
            let e = ConnectOptions::from_url(url).unwrap_err().to_string();
            assert!(e.contains(wanted), "{url}: {e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
        let pg = ConnectOptions::from_url("postgres://u@h/db?sslmode=disable&application_name=shop&options[search_path]=app&pool_size=3")
            .unwrap();
        assert_eq!(pg.driver_url(), "postgres://u@h/db?sslmode=disable&application_name=shop&options[search_path]=app");
        let my = ConnectOptions::from_url("mariadb://root@h/db?ssl-mode=disabled&charset=utf8mb4&timezone=%2B00:00").unwrap();
        assert_eq!(my.driver_url(), "mysql://root@h/db?ssl-mode=disabled&charset=utf8mb4&timezone=%2B00:00");
    }

    #[test]
    fn a_sqlite_url_without_a_path_is_refused() {
        for url in ["sqlite://", "sqlite:", "sqlite:///?mode=rwc", "sqlite://?cache=shared"] {
            let e = ConnectOptions::from_url(url).unwrap_err().to_string();
            assert!(e.contains("no file path"), "{url}: {e}");
        }
        assert!(ConnectOptions::from_url("sqlite://app.db").is_ok());
        assert!(ConnectOptions::from_url("sqlite:///tmp/app.db").is_ok());
        assert!(ConnectOptions::from_url("sqlite::memory:").is_ok());
    }

    #[test]
    fn passwords_stay_out_of_debug_output() {
        let opts = ConnectOptions::from_url("postgres://app:s3cret@db:5432/shop?password=other&sslmode=disable").unwrap();
        let shown = format!("{opts:?}");
        assert!(!shown.contains("s3cret") && !shown.contains("other"), "{shown}");
        assert!(shown.contains("postgres://app:***@db:5432/shop?password=***&sslmode=disable"), "{shown}");
        assert_eq!(redacted_url("mysql://root@h/db"), "mysql://root@h/db");
        assert_eq!(redacted_url("mysql://root:@h/db"), "mysql://root:***@h/db");
        assert_eq!(redacted_url("sqlite://a.db?mode=ro"), "sqlite://a.db?mode=ro");
    }

    proptest::proptest! {
        /// Whatever the URL, parsing it returns a value or an error, never a panic.
        #[test]
        fn from_url_never_panics(scheme in "(sqlite|postgres|mysql|mariadb|x)?(:|://)?", rest in "\\PC{0,40}", key in "[a-z_%é-]{0,16}", value in "(\\PC|%){0,24}") {
            let _ = ConnectOptions::from_url(&format!("{scheme}{rest}"));
            let _ = ConnectOptions::from_url(&format!("{scheme}h/db?{key}={value}"));
            let _ = ConnectOptions::from_url(&format!("postgres://u@h/db?{key}={value}&statement_timeout={value}"));
            let _ = ConnectOptions::from_url(&format!("mysql://u@h/db?pool_size={value}&max_overflow={value}&acquire_timeout={value}"));
        }
    }

    /// `journal_mode` and `synchronous`: today's WAL + NORMAL by default on a SQLite file,
    /// any case, taken out of the driver's URL, shown by `Debug`.
    #[test]
    fn sqlite_file_settings_parse() {
        let opts = ConnectOptions::from_url("sqlite://a.db").unwrap();
        assert_eq!((opts.journal_mode, opts.synchronous), (Some(JournalMode::Wal), Some(Synchronous::Normal)));
        let opts = ConnectOptions::from_url("sqlite://a.db?journal_mode=TRUNCATE&synchronous=Extra&mode=rwc").unwrap();
        assert_eq!((opts.journal_mode, opts.synchronous), (Some(JournalMode::Truncate), Some(Synchronous::Extra)));
        assert_eq!(opts.driver_url(), "sqlite://a.db?mode=rwc");
        let shown = format!("{opts:?}");
        assert!(shown.contains("journal_mode: Some(Truncate)") && shown.contains("synchronous: Some(Extra)"), "{shown}");
        for mode in JournalMode::ALL {
            let url = format!("sqlite://a.db?journal_mode={}", mode.as_str().to_uppercase());
            assert_eq!(ConnectOptions::from_url(&url).unwrap().journal_mode, Some(mode));
            assert_eq!(mode.to_string().parse::<JournalMode>().unwrap(), mode);
        }
        for level in Synchronous::ALL {
            assert_eq!(ConnectOptions::from_url(&format!("sqlite://a.db?synchronous={level}")).unwrap().synchronous, Some(level));
        }
        // Where they do not apply they are None, and the defaults are not filled in.
        for url in ["sqlite::memory:", "sqlite://a.db?mode=ro", "sqlite://a.db?immutable=1", "postgres://u@h/db", "mysql://u@h/db"] {
            let opts = ConnectOptions::from_url(url).unwrap();
            assert_eq!((opts.journal_mode, opts.synchronous), (None, None), "{url}");
        }
        assert_eq!(ConnectOptions::from_url("sqlite://a.db?immutable=0").unwrap().journal_mode, Some(JournalMode::Wal));
    }

    /// Bad values, modes that lose atomicity, and the settings where they would do nothing
    /// are errors naming the problem.
    #[test]
    fn sqlite_file_settings_are_refused_where_they_cannot_hold() {
        for (url, wanted) in [
            ("sqlite://a.db?journal_mode=memory", "journal_mode=\"memory\" is refused: it loses atomicity"),
            ("sqlite://a.db?journal_mode=OFF", "rollback cannot undo"),
            (
                "sqlite://a.db?journal_mode=wal2",
                "journal_mode=\"wal2\" is not a journal mode: use wal (the default), delete, truncate or persist",
            ),
            ("sqlite://a.db?journal_mode=", "is not a journal mode"),
            ("sqlite://a.db?synchronous=2", "synchronous=\"2\" is not a synchronous level: use off, normal (the default), full or extra"),
            ("sqlite://a.db?synchronous=fast", "synchronous=\"fast\""),
            ("sqlite://a.db?journal_mod=wal", "did you mean \"journal_mode\""),
            (
                "postgres://u@h/db?journal_mode=wal",
                "journal_mode does not apply here: it is a SQLite setting, and this is a postgres database",
            ),
            ("mariadb://u@h/db?synchronous=full", "synchronous does not apply here: it is a SQLite setting, and this is a mysql database"),
            ("sqlite::memory:?journal_mode=wal", "journal_mode does not apply here: an in-memory SQLite database"),
            ("sqlite::memory:?synchronous=full", "synchronous does not apply here: an in-memory SQLite database writes nothing"),
            ("sqlite://a.db?mode=memory&journal_mode=delete", "in-memory"),
            ("sqlite://a.db?mode=ro&synchronous=full", "opened read-only"),
            ("sqlite://a.db?immutable=true&journal_mode=delete", "opened read-only"),
        ] {
            let e = ConnectOptions::from_url(url).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{url}: {e:?}");
            assert!(e.to_string().contains(wanted), "{url}: {e}");
        }
        // In code: the same refusal, at connect (`connect_with` runs the check).
        let pg = ConnectOptions::from_url("postgres://u@h/db").unwrap().synchronous(Synchronous::Full);
        assert!(pg.check_sqlite_file_settings().unwrap_err().to_string().contains("SQLite setting"));
        let mem = ConnectOptions::from_url("sqlite::memory:").unwrap().journal_mode(JournalMode::Wal);
        assert!(mem.check_sqlite_file_settings().unwrap_err().to_string().contains("in-memory"));
        assert!(ConnectOptions::from_url("sqlite://a.db").unwrap().journal_mode(JournalMode::Persist).check_sqlite_file_settings().is_ok());
    }

    /// Short enough for a web service: see the table in the type's docs.
    #[test]
    fn timeouts_default_to_failing_fast() {
        let opts = ConnectOptions::from_url("postgres://u@h/db").unwrap();
        assert_eq!(opts.acquire_timeout, Duration::from_secs(5));
        assert_eq!(opts.connect_timeout, Duration::from_secs(2));
        assert_eq!(ConnectOptions::from_url("sqlite://a.db").unwrap().acquire_timeout, Duration::from_secs(5));
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("t", "250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("t", "2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("t", "1.5").unwrap(), Duration::from_millis(1500));
        let opts = ConnectOptions::from_url("sqlite://x.db?statement_timeout=5s&pool_recycle=none&pre_ping=1").unwrap();
        assert_eq!(opts.statement_timeout, Some(Duration::from_secs(5)));
        assert_eq!(opts.max_lifetime, None);
        assert!(opts.pre_ping);
    }
}
