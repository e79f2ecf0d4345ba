//! Structured logs: [`init_logging`] installs a subscriber writing JSON lines or text to
//! standard error, filtered by `RUST_LOG` ([`DEFAULT_LOG_FILTER`] when unset).
//!
//! The service layers ([`with_service_layers`](crate::with_service_layers)) log one event
//! per answered request, `request finished`, with `request_id`, `method`, `route` (the
//! route template, `unmatched` when none matched), `status` and `latency_ms`, inside the
//! `request` span of [`request_id`](crate::request_id) (which has the raw `path`). No
//! header, query string or body is logged: no `Authorization`, no password in a query.

use axum::http::Method;
use std::time::Duration;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The filter when `RUST_LOG` is unset or empty: `info`, with the database drivers
/// (`sqlx`) at `warn`.
///
/// ```
/// assert_eq!(almacen_web::logging::DEFAULT_LOG_FILTER, "info,sqlx=warn");
/// ```
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn";

/// How log lines are written.
///
/// ```
/// use almacen_web::LogFormat;
/// assert_eq!("json".parse::<LogFormat>().unwrap(), LogFormat::Json);
/// assert!("xml".parse::<LogFormat>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, the event's fields at the top level (for log collectors).
    Json,
    /// Human-readable lines (for a terminal).
    #[default]
    Text,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(LogFormat::Json),
            "text" => Ok(LogFormat::Text),
            other => Err(format!("unknown log format {other:?}: expected json or text")),
        }
    }
}

/// The filter from `RUST_LOG`, or [`DEFAULT_LOG_FILTER`] when it is unset or empty. A
/// `RUST_LOG` that does not parse is an error naming it.
///
/// ```
/// let filter = almacen_web::logging::env_filter().unwrap();
/// ```
pub fn env_filter() -> Result<EnvFilter, String> {
    match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(&v).map_err(|e| format!("RUST_LOG={v:?} is not a valid filter: {e}")),
        _ => Ok(EnvFilter::new(DEFAULT_LOG_FILTER)),
    }
}

/// A subscriber writing `format` lines to `writer`, filtered by `filter`, without colours:
/// what [`init_logging`] installs (with standard error, coloured text on a terminal), for
/// tests or custom writers.
///
/// ```
/// use almacen_web::{LogFormat, logging};
/// let sub = logging::subscriber(LogFormat::Json, logging::env_filter().unwrap(), std::io::stderr);
/// tracing::subscriber::with_default(sub, || tracing::info!(answer = 42, "hello"));
/// ```
pub fn subscriber<W>(format: LogFormat, filter: EnvFilter, writer: W) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    build(format, filter, writer, false)
}

fn build<W>(format: LogFormat, filter: EnvFilter, writer: W, ansi: bool) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    match format {
        LogFormat::Json => Box::new(builder.json().flatten_event(true).with_current_span(true).with_span_list(false).finish()),
        LogFormat::Text => Box::new(builder.finish()),
    }
}

/// Install the process's log subscriber: `format` lines on standard error, filtered by
/// `RUST_LOG` (see [`env_filter`]). Call it once, first thing in `main`; a second call,
/// or a bad `RUST_LOG`, is an error.
///
/// ```no_run
/// almacen_web::init_logging(almacen_web::LogFormat::Json).expect("logging");
/// tracing::info!("started");
/// ```
pub fn init_logging(format: LogFormat) -> Result<(), String> {
    let filter = env_filter()?;
    let ansi = format == LogFormat::Text && std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing::subscriber::set_global_default(build(format, filter, std::io::stderr, ansi))
        .map_err(|e| format!("could not install the log subscriber: {e}"))
}

/// Log one answered request (see the [module](self)): its id, method, route template,
/// status and latency.
pub(crate) fn access_line(id: &crate::RequestId, method: &Method, route: &str, status: u16, elapsed: Duration) {
    tracing::info!(
        request_id = %id,
        method = %method,
        route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request finished"
    );
}
