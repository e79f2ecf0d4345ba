//! The three SQL dialects almacen speaks.

use std::fmt;

/// A SQL dialect: decides placeholders, column types and the few statements that differ.
///
/// ```
/// use almacen::Dialect;
/// assert_eq!(Dialect::Postgres.max_bind_params(), 65_535);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite 3.35 or newer (RETURNING is used).
    Sqlite,
    /// PostgreSQL 12 or newer.
    Postgres,
    /// MariaDB 10.5 or newer (INSERT … RETURNING is used); MySQL where the SQL is common.
    MySql,
}

impl Dialect {
    /// The most bind parameters one statement may carry.
    pub const fn max_bind_params(self) -> usize {
        match self {
            Dialect::Sqlite => 32_766,
            Dialect::Postgres | Dialect::MySql => 65_535,
        }
    }

    /// Quote an identifier for this dialect, doubling any embedded quote character.
    ///
    /// ```
    /// use almacen::Dialect;
    /// assert_eq!(Dialect::MySql.quote("order"), "`order`");
    /// assert_eq!(Dialect::Postgres.quote("a\"b"), "\"a\"\"b\"");
    /// ```
    pub fn quote(self, ident: &str) -> String {
        let q = match self {
            Dialect::MySql => '`',
            _ => '"',
        };
        let mut out = String::with_capacity(ident.len() + 2);
        out.push(q);
        for c in ident.chars() {
            if c == q {
                out.push(q);
            }
            out.push(c);
        }
        out.push(q);
        out
    }

    /// Whether this build of almacen has this dialect's backend: when almacen's Cargo feature
    /// of the same [name](Self::name) (`sqlite`, `postgres`, `mysql`) is on. SQL is generated
    /// for every dialect in every build; only connecting needs the backend.
    ///
    /// ```
    /// use almacen::Dialect;
    /// assert_eq!(Dialect::Sqlite.is_built(), cfg!(feature = "sqlite"));
    /// ```
    pub const fn is_built(self) -> bool {
        match self {
            Dialect::Sqlite => cfg!(feature = "sqlite"),
            Dialect::Postgres => cfg!(feature = "postgres"),
            Dialect::MySql => cfg!(feature = "mysql"),
        }
    }

    /// The name used in URLs and logs.
    pub const fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::MySql => "mysql",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
