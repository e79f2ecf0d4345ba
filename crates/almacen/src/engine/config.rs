//! Connection settings: pool size, timeouts, pre-ping, echo; from code or URL query parameters.

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
/// ```
/// use almacen::ConnectOptions;
/// use std::time::Duration;
/// let opts = ConnectOptions::from_url("postgres://u@localhost/db?pool_size=5&max_overflow=3&pool_timeout=2s").unwrap();
/// assert_eq!(opts.max_connections, 8);
/// assert_eq!(opts.acquire_timeout, Duration::from_secs(2));
/// assert_eq!(opts.driver_url(), "postgres://u@localhost/db");
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
        Ok(opts)
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
