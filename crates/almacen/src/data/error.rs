//! One error type for everything almacen does, with database errors classified.

#[cfg(any(feature = "postgres", feature = "mysql"))]
use crate::data::dialect::Dialect;
use crate::data::mismatch::TableMismatch;
use std::fmt;

/// The result type used across almacen.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the database said, as far as it said it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbErrorInfo {
    /// The server's message.
    pub message: String,
    /// SQLSTATE (PostgreSQL), error number (MariaDB) or extended result code (SQLite).
    pub code: Option<String>,
    /// The table involved, where the database reports it.
    pub table: Option<String>,
    /// The column involved, where the database reports it.
    pub column: Option<String>,
    /// The constraint or index involved, where the database reports it.
    pub constraint: Option<String>,
    /// The model's field involved: set by a model's writes (insert, update, patch, upsert,
    /// `update_where`) for unique, foreign-key, not-null and check violations, from the
    /// constraint almacen named or the column the database reports, the same on every
    /// dialect — so a handler can answer `409 {"field": "email"}`.
    pub field: Option<String>,
}

impl fmt::Display for DbErrorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let mut parts = Vec::new();
        if let Some(t) = &self.table {
            parts.push(format!("table {t}"));
        }
        if let Some(c) = &self.column {
            parts.push(format!("column {c}"));
        }
        if let Some(c) = &self.field {
            parts.push(format!("field {c}"));
        }
        if let Some(c) = &self.constraint {
            parts.push(format!("constraint {c}"));
        }
        if let Some(c) = &self.code {
            parts.push(format!("code {c}"));
        }
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

/// Every error almacen returns.
///
/// Database errors are classified the same way on SQLite, PostgreSQL and MariaDB, so code
/// can match on [`Error::UniqueViolation`] or ask [`Error::is_retryable`] without knowing
/// the backend.
///
/// ```
/// use almacen::Error;
/// let e = Error::Deadlock(Default::default());
/// assert!(e.is_retryable());
/// assert!(!Error::NotFound.is_retryable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A row that was required does not exist.
    #[error("row not found")]
    NotFound,
    /// A UNIQUE or PRIMARY KEY constraint was violated.
    #[error("unique violation: {0}")]
    UniqueViolation(Box<DbErrorInfo>),
    /// A FOREIGN KEY constraint was violated.
    #[error("foreign key violation: {0}")]
    ForeignKeyViolation(Box<DbErrorInfo>),
    /// A NOT NULL column got NULL.
    #[error("not null violation: {0}")]
    NotNullViolation(Box<DbErrorInfo>),
    /// A CHECK constraint was violated.
    #[error("check violation: {0}")]
    CheckViolation(Box<DbErrorInfo>),
    /// The transaction could not be serialized; retrying it may succeed.
    #[error("serialization failure: {0}")]
    SerializationFailure(Box<DbErrorInfo>),
    /// The transaction was chosen as a deadlock victim (or the database was busy/locked);
    /// retrying it may succeed.
    #[error("deadlock: {0}")]
    Deadlock(Box<DbErrorInfo>),
    /// A row lock could not be had: at once, for a `nowait()` query, or within the server's
    /// lock wait timeout (PostgreSQL `55P03`, MariaDB 1205); retrying later may succeed.
    #[error("lock not available: {0}")]
    LockNotAvailable(Box<DbErrorInfo>),
    /// No connection could be acquired from the pool within the acquire timeout.
    #[error("pool timeout: no connection available within {0:?}")]
    PoolTimeout(std::time::Duration),
    /// A statement ran longer than its statement timeout and was cancelled.
    #[error("statement timeout: {0}")]
    StatementTimeout(String),
    /// The connection to the database was lost or could not be made.
    #[error("connection lost: {0}")]
    ConnectionLost(String),
    /// The connection was lost while a write was being committed (a `COMMIT`, or a write
    /// outside a transaction), so whether it took effect is unknown: it may have. Not
    /// retryable as it stands — retrying could apply the write twice. Make such writes
    /// idempotent (a client-chosen key with `upsert` or a unique constraint, a version
    /// check) and read back before writing again.
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
    /// The driver and the server disagreed about the wire protocol: a statement the driver
    /// could not send as asked, or a driver fault. The connection is closed; retrying the
    /// same statement would fail the same way.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The transaction cannot commit and has been rolled back: a statement in it failed
    /// and PostgreSQL aborted it (SQLSTATE `25P02`), or a statement was abandoned mid-run.
    #[error("transaction aborted: {0}")]
    TransactionAborted(String),
    /// A value read from the database could not be turned into the Rust type asked for.
    #[error("decode error in column {column}: {message}")]
    Decode {
        /// The column that failed.
        column: String,
        /// Why it failed.
        message: String,
    },
    /// A value cannot be stored as given (NaN, NUL character, text over its max length…).
    #[error("invalid value for {column}: {message}")]
    InvalidValue {
        /// The column or parameter the value was meant for.
        column: String,
        /// Why it was rejected.
        message: String,
    },
    /// Raw SQL parameters do not match the `:name`s in the SQL (checked before sending).
    #[error("parameter error: {0}")]
    Parameter(String),
    /// The connection URL or an option is wrong.
    #[error("configuration error: {0}")]
    Config(String),
    /// The operation is not possible as asked (e.g. a model without a primary key).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An optimistic-locking conflict: the row was changed by someone else since it was
    /// read (its `version` moved on). Read it again and redo the change.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Tables that already exist differ from their models (missing or extra columns, other
    /// types, nullability or primary key): `create_tables` names every difference of every
    /// such table and creates nothing.
    #[error("schema mismatch: {}", join_mismatches(.0))]
    SchemaMismatch(Vec<TableMismatch>),
    /// Any other database error, with what the database said.
    #[error("database error: {0}")]
    Database(Box<DbErrorInfo>),
    /// Any other driver error.
    #[error("driver error: {0}")]
    Driver(String),
    /// An error of the application's own, returned from inside a transaction closure.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Wrap an application error so it can be returned from a transaction closure.
    pub fn other(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error::Other(e.into())
    }

    /// True for the transient errors that a retry may cure: serialization failures,
    /// deadlocks (and SQLite busy/locked), locks not available, pool timeouts and lost
    /// connections.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::SerializationFailure(_)
                | Error::Deadlock(_)
                | Error::LockNotAvailable(_)
                | Error::PoolTimeout(_)
                | Error::ConnectionLost(_)
        )
    }

    /// True for serialization failures, deadlocks and locks not available: the errors the
    /// transaction retry helper re-runs on.
    pub fn is_transaction_conflict(&self) -> bool {
        matches!(self, Error::SerializationFailure(_) | Error::Deadlock(_) | Error::LockNotAvailable(_))
    }

    /// Whether the connection that returned this error can no longer be trusted: it was
    /// lost, or the driver and the server fell out of step. Such a connection is closed,
    /// never handed out again.
    pub(crate) fn leaves_connection_in_doubt(&self) -> bool {
        matches!(self, Error::ConnectionLost(_) | Error::OutcomeUnknown(_) | Error::Protocol(_))
    }

    /// A lost connection during a statement that may write, outside a transaction: whether
    /// the write took effect is unknown.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub(crate) fn during_autocommit_write(self) -> Self {
        match self {
            Error::ConnectionLost(m) => Error::OutcomeUnknown(format!(
                "the connection was lost while a write ran outside a transaction, which may or may not have taken effect: {m}"
            )),
            other => other,
        }
    }

    /// The database's own details, for database errors.
    pub fn db_info(&self) -> Option<&DbErrorInfo> {
        match self {
            Error::UniqueViolation(i)
            | Error::ForeignKeyViolation(i)
            | Error::NotNullViolation(i)
            | Error::CheckViolation(i)
            | Error::SerializationFailure(i)
            | Error::Deadlock(i)
            | Error::LockNotAvailable(i)
            | Error::Database(i) => Some(i),
            _ => None,
        }
    }

    pub(crate) fn invalid(column: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidValue { column: column.into(), message: message.into() }
    }

    pub(crate) fn decode(column: impl Into<String>, message: impl fmt::Display) -> Self {
        Error::Decode { column: column.into(), message: message.to_string() }
    }

    /// Classify a sqlx error coming from `dialect`.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    pub(crate) fn from_sqlx(err: sqlx::Error, dialect: Dialect, acquire_timeout: std::time::Duration) -> Self {
        match err {
            sqlx::Error::RowNotFound => Error::NotFound,
            sqlx::Error::PoolTimedOut => Error::PoolTimeout(acquire_timeout),
            sqlx::Error::PoolClosed => Error::ConnectionLost("the pool is closed".into()),
            sqlx::Error::Io(e) => Error::ConnectionLost(e.to_string()),
            sqlx::Error::Tls(e) => Error::ConnectionLost(e.to_string()),
            sqlx::Error::Protocol(e) => Error::Protocol(e),
            sqlx::Error::WorkerCrashed => Error::ConnectionLost("the SQLite worker crashed".into()),
            sqlx::Error::ColumnDecode { index, source } => Error::decode(index, source),
            sqlx::Error::Decode(e) => Error::decode("?", e),
            sqlx::Error::ColumnNotFound(c) => Error::decode(c, "no such column in the result"),
            sqlx::Error::Configuration(e) => Error::Config(e.to_string()),
            sqlx::Error::Database(db) => classify_db(db.as_ref(), dialect),
            other => Error::Driver(other.to_string()),
        }
    }
}

fn join_mismatches(tables: &[TableMismatch]) -> String {
    tables.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(". ")
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
fn classify_db(db: &dyn sqlx::error::DatabaseError, dialect: Dialect) -> Error {
    let mut info = DbErrorInfo {
        message: db.message().to_string(),
        code: db.code().map(|c| c.into_owned()),
        table: db.table().map(str::to_string),
        column: None,
        constraint: db.constraint().map(str::to_string),
        field: None,
    };
    match dialect {
        #[cfg(feature = "postgres")]
        Dialect::Postgres => classify_postgres(db, info),
        #[cfg(feature = "mysql")]
        Dialect::MySql => {
            let number = info.code.as_deref().and_then(|c| c.parse::<u32>().ok());
            // sqlx reports the SQLSTATE as the code for MySQL; the error number is what
            // classifies reliably, so read it from the MySQL error itself.
            let number = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>().map(|e| e.number() as u32).or(number);
            // Report the error number (what MariaDB's documentation lists), not the SQLSTATE.
            if let Some(n) = number {
                info.code = Some(n.to_string());
            }
            classify_mysql(number, info)
        }
        // SQLite (a server whose feature is off has no errors to classify).
        _ => {
            if info.constraint.is_none() {
                info.constraint = sqlite_constraint_target(&info.message);
            }
            classify_sqlite_info(info)
        }
    }
}

#[cfg(feature = "postgres")]
fn classify_postgres(db: &dyn sqlx::error::DatabaseError, mut info: DbErrorInfo) -> Error {
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        info.column = pg.column().map(str::to_string);
        info.table = pg.table().map(str::to_string);
    }
    match info.code.as_deref().unwrap_or("") {
        "23505" => Error::UniqueViolation(info.into()),
        "23503" => Error::ForeignKeyViolation(info.into()),
        "23502" => Error::NotNullViolation(info.into()),
        // A value too long for its column: SQLite reports the same as a CHECK violation.
        "23514" | "22001" => Error::CheckViolation(info.into()),
        "40001" => Error::SerializationFailure(info.into()),
        "40P01" => Error::Deadlock(info.into()),
        "55P03" => Error::LockNotAvailable(info.into()),
        "57014" => Error::StatementTimeout(info.message),
        "25P02" => Error::TransactionAborted(info.message),
        "57P01" | "57P02" | "57P03" => Error::ConnectionLost(info.message),
        // A protocol violation is the statement's fault (its parameters and values disagree,
        // say): the server answered, and no retry can fix it.
        "08P01" => Error::Parameter(info.message),
        c if c.starts_with("08") => Error::ConnectionLost(info.message),
        _ => Error::Database(info.into()),
    }
}

#[cfg(feature = "mysql")]
fn classify_mysql(number: Option<u32>, mut info: DbErrorInfo) -> Error {
    match number {
        // ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME: "Duplicate entry 'x' for key 'name'"
        Some(1062) | Some(1586) => {
            info.constraint = quoted_after(&info.message, "for key ");
            // The message quotes the value (an e-mail, a token…); PostgreSQL's and SQLite's
            // name only the key, and so does this one, since errors reach logs and clients.
            if let Some(rest) = info.message.strip_prefix("Duplicate entry '")
                && let Some(end) = rest.rfind("' for key ")
            {
                info.message = format!("Duplicate entry (value not shown) for key {}", &rest[end + "' for key ".len()..]);
            }
            Error::UniqueViolation(info.into())
        }
        // ER_ROW_IS_REFERENCED(_2), ER_NO_REFERENCED_ROW(_2)
        Some(1451) | Some(1452) | Some(1216) | Some(1217) => {
            info.constraint = backquoted_after(&info.message, "CONSTRAINT ");
            Error::ForeignKeyViolation(info.into())
        }
        // ER_BAD_NULL_ERROR, ER_NO_DEFAULT_FOR_FIELD
        Some(1048) | Some(1364) => {
            info.column = quoted_after(&info.message, "Column ").or_else(|| quoted_after(&info.message, "Field "));
            Error::NotNullViolation(info.into())
        }
        // MariaDB ER_CONSTRAINT_FAILED, MySQL ER_CHECK_CONSTRAINT_VIOLATED
        // ER_DATA_TOO_LONG: classified like the CHECK that enforces lengths on SQLite.
        Some(1406) => Error::CheckViolation(info.into()),
        Some(4025) | Some(3819) => {
            info.constraint = backquoted_after(&info.message, "CONSTRAINT ");
            Error::CheckViolation(info.into())
        }
        Some(1213) => Error::Deadlock(info.into()),
        // Lock wait timeout, and NOWAIT's refusal: the statement is rolled back, not the
        // transaction; retrying is the cure.
        Some(1205) => Error::LockNotAvailable(info.into()),
        // MariaDB max_statement_time, MySQL max_execution_time
        Some(1969) | Some(3024) => Error::StatementTimeout(info.message),
        // 1053: the server is shutting down.
        Some(2006) | Some(2013) | Some(1927) | Some(4031) | Some(1053) => Error::ConnectionLost(info.message),
        _ => Error::Database(info.into()),
    }
}

pub(crate) fn classify_sqlite_info(mut info: DbErrorInfo) -> Error {
    let code: i64 = info.code.as_deref().and_then(|c| c.parse().ok()).unwrap_or(-1);
    match code {
        2067 | 1555 => Error::UniqueViolation(info.into()),
        787 => Error::ForeignKeyViolation(info.into()),
        1299 => {
            // "NOT NULL constraint failed: table.column"
            if let Some((t, c)) = info.constraint.as_deref().and_then(|s| s.split_once('.')) {
                info.table = Some(t.to_string());
                info.column = Some(c.to_string());
            }
            Error::NotNullViolation(info.into())
        }
        275 => Error::CheckViolation(info.into()),
        // SQLITE_BUSY / SQLITE_LOCKED and their extended codes
        5 | 6 | 261 | 517 | 262 => Error::Deadlock(info.into()),
        9 => Error::StatementTimeout(info.message),
        _ if code & 0xff == 19 => Error::Database(info.into()),
        _ => Error::Database(info.into()),
    }
}

/// SQLite names the failing target after the colon: "UNIQUE constraint failed: users.email".
pub(crate) fn sqlite_constraint_target(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("constraint failed: ")?;
    Some(rest.trim().to_string())
}

#[cfg(feature = "mysql")]
fn quoted_after(message: &str, marker: &str) -> Option<String> {
    let start = message.find(marker)? + marker.len();
    let rest = message[start..].strip_prefix('\'')?;
    let end = rest.find('\'')?;
    Some(rest[..end].to_string())
}

#[cfg(feature = "mysql")]
fn backquoted_after(message: &str, marker: &str) -> Option<String> {
    let start = message.find(marker)? + marker.len();
    let rest = message[start..].strip_prefix('`')?;
    let end = rest.find('`')?;
    Some(rest[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A protocol error (the driver and the server out of step, e.g. sqlx's "too many
    /// arguments", MariaDB's unexpected packets) is its own kind: not retryable, and the
    /// connection that returned it is closed. A lost connection is retryable, but in doubt.
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    #[test]
    fn protocol_errors_are_not_retryable_and_leave_the_connection_in_doubt() {
        for dialect in [Dialect::Postgres, Dialect::MySql] {
            let e = Error::from_sqlx(sqlx::Error::Protocol("unexpected packet".into()), dialect, std::time::Duration::from_secs(1));
            assert!(matches!(&e, Error::Protocol(m) if m == "unexpected packet"), "{e:?}");
            assert!(!e.is_retryable() && e.leaves_connection_in_doubt());
            let io = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "eof");
            let lost = Error::from_sqlx(sqlx::Error::Io(io), dialect, std::time::Duration::from_secs(1));
            assert!(matches!(&lost, Error::ConnectionLost(_)) && lost.is_retryable() && lost.leaves_connection_in_doubt());
            let unknown = lost.during_autocommit_write();
            assert!(matches!(&unknown, Error::OutcomeUnknown(_)) && !unknown.is_retryable(), "{unknown:?}");
        }
        assert!(!Error::TransactionAborted("x".into()).is_retryable());
    }

    #[cfg(feature = "mysql")]
    #[test]
    fn mysql_messages_name_their_targets() {
        assert_eq!(quoted_after("Duplicate entry 'a' for key 'users_email_key'", "for key "), Some("users_email_key".into()));
        assert_eq!(
            backquoted_after(
                "Cannot add or update a child row: a foreign key constraint fails (`t`.`posts`, CONSTRAINT `posts_user_fk` FOREIGN KEY",
                "CONSTRAINT "
            ),
            Some("posts_user_fk".into())
        );
    }

    #[test]
    fn sqlite_target_is_read() {
        assert_eq!(sqlite_constraint_target("UNIQUE constraint failed: users.email"), Some("users.email".into()));
    }

    #[test]
    fn retryable_is_exactly_the_transient_errors() {
        assert!(Error::SerializationFailure(Default::default()).is_retryable());
        assert!(Error::PoolTimeout(std::time::Duration::from_secs(1)).is_retryable());
        assert!(!Error::UniqueViolation(Default::default()).is_retryable());
        assert!(!Error::StatementTimeout(String::new()).is_retryable());
    }
}
