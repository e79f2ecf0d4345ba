//! Raw SQL with `:name` parameters on every dialect.

#[cfg(any(feature = "postgres", feature = "mysql"))]
mod kind;
mod named;

#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) use kind::reads_only;

#[cfg(feature = "mysql")]
pub(crate) use named::question_placeholders;
pub use named::{NamedSql, NamedSqlError, PlaceholderStyle};

use crate::data::dialect::Dialect;
use crate::data::error::{Error, Result};
use crate::data::value::Value;
use crate::engine::statement::Statement;

/// Named parameters for raw SQL, built with [`params!`](crate::params).
///
/// ```
/// use almacen::{params, Value};
/// let p = params! { "min" => 5, "ids" => vec![1, 2, 3], "name" => "ada" };
/// assert_eq!(p.get("min"), Some(&Value::Int(5)));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(Vec<(String, Value)>);

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Params(Vec::new())
    }

    /// Add a parameter (replacing one of the same name).
    pub fn set(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        let value = value.into();
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
        self
    }

    /// The value of a parameter.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// Build [`Params`] for raw SQL: `params! { "name" => value, ... }`.
///
/// A `Vec` value expands for `IN (:name)`.
#[macro_export]
macro_rules! params {
    () => { $crate::Params::new() };
    ($($name:expr => $value:expr),+ $(,)?) => {
        $crate::Params::new()$(.set($name, $value))+
    };
}
// `params!` by its module's path too, for the crate's own code (`#[macro_export]` puts it at the root).
pub(crate) use params;

impl Statement {
    /// A statement from raw SQL with `:name` parameters, for `dialect`. Use it to give one
    /// raw statement its own timeout:
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # use almacen::Statement;
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// let stmt = Statement::named(db.dialect(), "SELECT * FROM reports WHERE year = :y", params! {"y" => 2024})?
    ///     .with_timeout(Some(std::time::Duration::from_secs(30)));
    /// let rows: Vec<Row> = db.fetch_rows(stmt).await?.iter().map(Row::from_db_row).collect::<Result<_, _>>()?;
    /// # Ok(()) }
    /// ```
    pub fn named(dialect: Dialect, sql: &str, params: Params) -> Result<Self> {
        bind_named(sql, params, dialect)
    }
}

/// Rewrite `:name` parameters to the dialect's placeholders and bind the values, or say
/// which parameter is missing or unused before anything is sent.
pub(crate) fn bind_named(sql: &str, params: Params, dialect: Dialect) -> Result<Statement> {
    let parsed = NamedSql::parse(sql, dialect).map_err(|e| Error::Parameter(e.to_string()))?;
    let style = match dialect {
        Dialect::Postgres => PlaceholderStyle::Dollar,
        _ => PlaceholderStyle::Question,
    };
    let given: Vec<&str> = params.0.iter().map(|(n, _)| n.as_str()).collect();
    let arity = |name: &str| {
        params.get(name).map(|v| match v {
            Value::List(items) => Some(items.len()),
            _ => None,
        })
    };
    // One value per `?`, or per distinct `$n` (PostgreSQL binds a repeated name once).
    let (text, binds) = parsed.render(style, &given, arity).map_err(|e| Error::Parameter(e.to_string()))?;
    let mut values = Vec::with_capacity(binds.len());
    for (name, index) in binds {
        let value = params.get(&name).expect("render checked every name");
        let value = match (value, index) {
            (Value::List(items), Some(i)) => &items[i],
            (v, _) => v,
        };
        values.push(match value {
            // PostgreSQL picks functions by argument type and casts an int4 up, never an int8
            // down (`make_interval(days => :n)` takes an int4): integers that fit bind as int4.
            Value::Int(i) if dialect == Dialect::Postgres => match i32::try_from(*i) {
                Ok(small) => sea_query::Value::Int(Some(small)),
                Err(_) => sea_query::Value::BigInt(Some(*i)),
            },
            v => v.to_sea(dialect, None, &format!(":{name}"))?,
        });
    }
    Ok(Statement::new(text, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_expand_and_values_bind_in_order() {
        let s = bind_named("SELECT * FROM t WHERE a = :a AND id IN (:ids)", params! {"a" => "x", "ids" => vec![1, 2]}, Dialect::Postgres)
            .unwrap();
        assert_eq!(s.sql(), "SELECT * FROM t WHERE a = $1 AND id IN ($2, $3)");
        assert_eq!(s.values.len(), 3);
    }

    #[test]
    fn missing_and_unused_are_errors() {
        let e = bind_named("SELECT :a", params! {}, Dialect::Sqlite).unwrap_err().to_string();
        assert!(e.contains(":a") || e.contains("a"), "{e}");
        let e = bind_named("SELECT 1", params! {"b" => 1}, Dialect::MySql).unwrap_err().to_string();
        assert!(e.contains('b'), "{e}");
    }
}
