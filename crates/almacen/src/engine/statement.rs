//! A statement ready to run (its SQL text and bound values) and what running one that
//! returns no rows did: what every layer above hands to the executor.

#[cfg(any(feature = "postgres", feature = "mysql"))]
use sqlx::AssertSqlSafe;
use std::sync::Arc;
use std::time::Duration;

/// A statement ready to run: SQL in the dialect's placeholder style and its bound values.
#[derive(Debug, Clone)]
pub struct Statement {
    pub(crate) sql: Sql,
    pub(crate) values: Values,
    /// Per-statement timeout: `None` uses the database default, `Some(None)` means no limit.
    pub(crate) timeout: Option<Option<Duration>>,
    /// almacen wrote the SQL with one placeholder per value, so a driver that would count
    /// them (MariaDB's) need not read the text (a 1,000-row insert's is 14 KB).
    #[cfg_attr(not(feature = "mysql"), expect(dead_code, reason = "only MariaDB counts placeholders"))]
    pub(crate) matched: bool,
    /// A deterministic single-row read (the count of a typed query) whose row a SQLite
    /// reader may keep and hand again while nothing is committed to the database.
    pub(crate) memo: bool,
}

/// A statement's bound values: one or two live inline (a lookup by key allocates nothing).
pub(crate) type Values = smallvec::SmallVec<[sea_query::Value; 2]>;

/// A statement's SQL text: built once for the program's life (a model's lookup by key), or
/// shared. A static text costs no reference count per statement.
#[derive(Debug, Clone)]
pub(crate) enum Sql {
    Static(&'static str),
    Shared(Arc<str>),
}

impl std::ops::Deref for Sql {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Sql::Static(s) => s,
            Sql::Shared(s) => s,
        }
    }
}

impl Sql {
    /// The text as a shared string.
    pub(crate) fn into_shared(self) -> Arc<str> {
        match self {
            Sql::Static(s) => s.into(),
            Sql::Shared(s) => s,
        }
    }
}

impl std::fmt::Display for Sql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl sqlx::SqlSafeStr for Sql {
    fn into_sql_str(self) -> sqlx::SqlStr {
        match self {
            Sql::Static(s) => s.into_sql_str(),
            Sql::Shared(s) => AssertSqlSafe(s).into_sql_str(),
        }
    }
}

impl Statement {
    /// A statement from SQL text already in the dialect's placeholder style.
    pub fn new(sql: impl Into<Arc<str>>, values: Vec<sea_query::Value>) -> Self {
        Statement { sql: Sql::Shared(sql.into()), values: Values::from_vec(values), timeout: None, matched: false, memo: false }
    }

    /// A statement from its parts.
    pub(crate) fn from_parts(sql: Sql, values: Values) -> Self {
        Statement { sql, values, timeout: None, matched: false, memo: false }
    }

    /// A statement whose SQL almacen wrote with exactly one placeholder per value.
    pub(crate) fn matched(sql: Arc<str>, values: Vec<sea_query::Value>) -> Self {
        Statement { matched: true, ..Statement::new(sql, values) }
    }

    /// This statement marked as a deterministic single-row read whose result may be kept
    /// ([`memo`](Self::memo)): only for text almacen wrote from typed parts, never for
    /// text that could call a function whose answer changes without a commit (`random()`,
    /// the clock).
    pub(crate) fn memoized(mut self) -> Self {
        self.memo = true;
        self
    }

    /// Override the database's default statement timeout for this statement
    /// (`None`: no limit).
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The SQL text.
    pub fn sql(&self) -> &str {
        &self.sql
    }
}

/// What a statement that returns no rows did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExecResult {
    /// Rows inserted, updated or deleted.
    pub rows_affected: u64,
    /// The last auto-increment id (SQLite and MySQL).
    pub last_insert_id: Option<i64>,
}
