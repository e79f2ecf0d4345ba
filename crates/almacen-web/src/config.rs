//! The service's settings from flags or environment variables, with sane defaults:
//! [`ServiceArgs`], to flatten into a service's own `clap` parser.
//!
//! | flag | variable | default |
//! | --- | --- | --- |
//! | `--listen` | `LISTEN_ADDR` | `127.0.0.1:8000` |
//! | `--cors-origins` | `CORS_ORIGINS` | none (comma-separated list) |
//! | `--request-timeout` | `REQUEST_TIMEOUT` | `30s` (more than `0`: a bound is always required) |
//! | `--body-limit` | `BODY_LIMIT` | `2MiB` |
//! | `--compression-min-size` | `COMPRESSION_MIN_SIZE` | `1024` (`0` turns compression off) |
//! | `--log-format` | `LOG_FORMAT` | `text` (`json` or `text`) |
//! | `--shutdown-timeout` | `SHUTDOWN_TIMEOUT` | `30s` |
//!
//! Durations are a number with a unit (`500ms`, `30s`, `5m`, `1h`; a bare number is
//! seconds); sizes a number of bytes with an optional unit (`64KiB`, `2MiB`, `1MB`). A bad
//! value is an error naming the flag and the variable.

use crate::logging::LogFormat;
use crate::plumbing::ServiceConfig;
use std::net::SocketAddr;
use std::time::Duration;

/// The service's flags and environment variables (see the [module](self)). Flatten it
/// into the service's parser; `--help` then lists them all.
///
/// ```
/// use clap::Parser;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     service: almacen_web::ServiceArgs,
///     /// The database URL.
///     #[arg(long, env = "DATABASE_URL", default_value = "sqlite://shop.db")]
///     database_url: String,
/// }
///
/// let cli = Cli::try_parse_from(["shop", "--listen", "0.0.0.0:9000", "--request-timeout", "5s"]).unwrap();
/// assert_eq!(cli.service.listen.port(), 9000);
/// let config = cli.service.service_config();
/// ```
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceArgs {
    /// The address to listen on.
    #[arg(long = "listen", env = "LISTEN_ADDR", default_value = "127.0.0.1:8000", value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// Origins allowed to call the service from a browser, comma-separated
    /// (`https://shop.example.com`).
    #[arg(long = "cors-origins", env = "CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,

    /// How long a request may take before it is answered 504 (500ms, 30s, 5m). `0` is
    /// refused: a request must always have a bound, or one waiting on a frozen database
    /// would hold its connection for ever.
    #[arg(long = "request-timeout", env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_request_timeout)]
    pub request_timeout: Duration,

    /// The largest request body accepted (bytes, or 64KiB, 2MiB, 1MB).
    #[arg(long = "body-limit", env = "BODY_LIMIT", default_value = "2MiB", value_parser = parse_body_limit)]
    pub body_limit: usize,

    /// The smallest response body compressed with gzip, in bytes; 0 turns compression
    /// off.
    #[arg(long = "compression-min-size", env = "COMPRESSION_MIN_SIZE", default_value = "1024", value_parser = parse_compression)]
    pub compression_min_size: u16,

    /// How log lines are written.
    #[arg(long = "log-format", env = "LOG_FORMAT", default_value = "text", value_parser = parse_log_format)]
    pub log_format: LogFormat,

    /// How long requests in flight, then background tasks, may take to finish on shutdown
    /// (500ms, 30s, 5m). `0` is bounded too: requests still in flight are answered 503 at
    /// once.
    #[arg(long = "shutdown-timeout", env = "SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_shutdown_timeout)]
    pub shutdown_timeout: Duration,
}

impl ServiceArgs {
    /// The [`ServiceConfig`] these settings give (the origins were checked when parsed).
    ///
    /// ```
    /// use clap::Parser;
    /// #[derive(Parser)]
    /// struct Cli {
    ///     #[command(flatten)]
    ///     service: almacen_web::ServiceArgs,
    /// }
    /// let cli = Cli::try_parse_from(["shop"]).unwrap();
    /// let app: axum::Router = cli.service.service_config().apply(axum::Router::new());
    /// ```
    pub fn service_config(&self) -> ServiceConfig {
        let config = ServiceConfig::default()
            // Never zero when parsed; a struct built by hand with zero still gets a bound.
            .request_timeout(Some(if self.request_timeout.is_zero() {
                crate::plumbing::DEFAULT_REQUEST_TIMEOUT
            } else {
                self.request_timeout
            }))
            .body_limit(self.body_limit)
            .compression((self.compression_min_size > 0).then_some(self.compression_min_size));
        match config.clone().cors_origins(&self.cors_origins) {
            Ok(c) => c,
            // Each origin was checked by the parser; this is a struct built by hand.
            Err(_) => {
                tracing::error!("CORS_ORIGINS holds an origin that is not a valid header value: no origin allowed");
                config
            }
        }
    }

    /// The [`ServeOptions`](crate::ServeOptions) these settings give (the shutdown timeout).
    ///
    /// ```
    /// use clap::Parser;
    /// #[derive(Parser)]
    /// struct Cli {
    ///     #[command(flatten)]
    ///     service: almacen_web::ServiceArgs,
    /// }
    /// let cli = Cli::try_parse_from(["shop", "--shutdown-timeout", "5s"]).unwrap();
    /// let options = cli.service.serve_options();
    /// ```
    pub fn serve_options(&self) -> crate::ServeOptions {
        crate::ServeOptions::new().shutdown_timeout(self.shutdown_timeout)
    }
}

fn named(flag: &str, var: &str, problem: String) -> String {
    format!("{problem} (--{flag} / {var})")
}

fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    s.trim().parse().map_err(|_| named("listen", "LISTEN_ADDR", format!("{s:?} is not an address with a port, like 127.0.0.1:8000")))
}

fn parse_origin(s: &str) -> Result<String, String> {
    let o = s.trim().trim_end_matches('/');
    let ok = (o.starts_with("http://") || o.starts_with("https://"))
        && o.len() > "https://".len()
        && axum::http::HeaderValue::from_str(o).is_ok()
        && !o.contains(char::is_whitespace);
    if ok {
        Ok(o.to_string())
    } else {
        Err(named("cors-origins", "CORS_ORIGINS", format!("{s:?} is not an origin like https://shop.example.com")))
    }
}

/// Parse a duration: a number with a unit (`ms`, `s`, `m`, `h`); a bare number is seconds.
///
/// ```
/// use almacen_web::config::parse_duration;
/// use std::time::Duration;
/// assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
/// assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
/// assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
/// assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("{s:?} is not a duration like 500ms, 30s, 5m or 1h");
    let n: u64 = num.parse().map_err(|_| bad())?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
        "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    Ok(d)
}

/// Parse a size in bytes: a number with an optional unit (`B`, `KB`, `KiB`, `MB`, `MiB`,
/// `GB`, `GiB`, any case).
///
/// ```
/// use almacen_web::config::parse_size;
/// assert_eq!(parse_size("2MiB"), Ok(2 * 1024 * 1024));
/// assert_eq!(parse_size("64kb"), Ok(64_000));
/// assert_eq!(parse_size("100"), Ok(100));
/// assert!(parse_size("big").is_err());
/// ```
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("{s:?} is not a size like 65536, 64KiB or 2MiB");
    let n: usize = num.parse().map_err(|_| bad())?;
    let factor: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" => 1024,
        "mb" => 1000 * 1000,
        "mib" => 1024 * 1024,
        "gb" => 1000 * 1000 * 1000,
        "gib" => 1024 * 1024 * 1024,
        _ => return Err(bad()),
    };
    n.checked_mul(factor).ok_or_else(bad)
}

fn parse_request_timeout(s: &str) -> Result<Duration, String> {
    parse_duration(s)
        .and_then(|d| {
            if d.is_zero() { Err(format!("{s:?} is no limit at all: a request timeout must be more than 0 (like 30s)")) } else { Ok(d) }
        })
        .map_err(|e| named("request-timeout", "REQUEST_TIMEOUT", e))
}

fn parse_shutdown_timeout(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| named("shutdown-timeout", "SHUTDOWN_TIMEOUT", e))
}

fn parse_body_limit(s: &str) -> Result<usize, String> {
    parse_size(s).map_err(|e| named("body-limit", "BODY_LIMIT", e))
}

fn parse_compression(s: &str) -> Result<u16, String> {
    parse_size(s)
        .and_then(|n| u16::try_from(n).map_err(|_| format!("{s:?} is too large: at most {} bytes", u16::MAX)))
        .map_err(|e| named("compression-min-size", "COMPRESSION_MIN_SIZE", e))
}

fn parse_log_format(s: &str) -> Result<LogFormat, String> {
    s.parse::<LogFormat>().map_err(|e| named("log-format", "LOG_FORMAT", e))
}
