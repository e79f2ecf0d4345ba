//! Columns named at run time — a web list endpoint's `?sort=-price&price[lt]=20` — checked
//! against an allow-list, with the value text parsed into the column's type. No name or
//! value ever reaches SQL text: a name picks one of the model's columns, a value is bound.

use super::{CmpOp, ColumnRef, Condition, OrderBy};
use crate::data::error::{Error, Result};
use crate::data::model::{ColumnType, Model};
use crate::data::value::Value;

/// A model's column picked by its field name at run time, from the names allowed.
///
/// ```
/// # use almacen::prelude::*;
/// # use almacen::query::NamedColumn;
/// # #[derive(Model, Debug)] #[model(table = "products")]
/// # struct Product { #[model(primary_key, auto)] id: i64, #[model(max_len = 50)] name: String, stock: i32 }
/// const FILTERABLE: &[&str] = &["name", "stock"];
/// let stock = NamedColumn::of::<Product>("stock", FILTERABLE)?;
/// let q = Product::select().filter(stock.condition("gt", "0")?).order_by_param("-stock,name", FILTERABLE)?;
/// assert!(NamedColumn::of::<Product>("password", FILTERABLE).is_err());
/// # Ok::<(), almacen::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedColumn {
    column: ColumnRef,
}

impl NamedColumn {
    /// The column of `M` whose field is `name`, if `allowed` holds the name; otherwise an
    /// error naming the allowed ones (and the nearest, for a typo).
    pub fn of<M: Model>(name: &str, allowed: &[&str]) -> Result<Self> {
        let meta = allowed.contains(&name).then(|| M::TABLE.columns.iter().find(|c| c.field == name)).flatten();
        match meta {
            Some(meta) => Ok(NamedColumn { column: ColumnRef { table: M::TABLE.name, meta } }),
            None => Err(not_allowed(name, allowed)),
        }
    }

    /// The field's name.
    pub fn field(&self) -> &'static str {
        self.column.meta.field
    }

    /// Ascending order (NULLs first, as every order).
    pub fn asc(self) -> OrderBy {
        OrderBy { column: self.column, descending: false }
    }

    /// Descending order.
    pub fn desc(self) -> OrderBy {
        OrderBy { column: self.column, descending: true }
    }

    /// A condition from an operator and a value as text: `eq`, `ne`, `lt`, `le`, `gt`, `ge`
    /// (the value parsed into the column's type), `in` (comma-separated values),
    /// `contains`, `icontains`, `starts_with`, `ends_with` (text columns, matched
    /// literally), `is_null` (`true` or `false`). Anything else is an error naming it.
    pub fn condition(&self, op: &str, text: &str) -> Result<Condition> {
        let c = self.column;
        let cmp = |op| -> Result<Condition> { Ok(Condition::Cmp(c, op, self.parse(text)?)) };
        let like = |pattern: String, insensitive| -> Result<Condition> {
            match c.meta.ty {
                ColumnType::Text { .. } => Ok(Condition::Like(c, pattern, insensitive)),
                _ => Err(Error::Parameter(format!("{op} needs a text field; {} is not one", self.field()))),
            }
        };
        let literal = super::escape_like(text);
        match op {
            "eq" => cmp(CmpOp::Eq),
            "ne" => cmp(CmpOp::Ne),
            "lt" => cmp(CmpOp::Lt),
            "le" => cmp(CmpOp::Le),
            "gt" => cmp(CmpOp::Gt),
            "ge" => cmp(CmpOp::Ge),
            "in" => Ok(Condition::In(c, text.split(',').map(|v| self.parse(v)).collect::<Result<_>>()?, false)),
            "contains" => like(format!("%{literal}%"), false),
            "icontains" => like(format!("%{literal}%"), true),
            "starts_with" => like(format!("{literal}%"), false),
            "ends_with" => like(format!("%{literal}"), false),
            "is_null" => match text {
                "true" => Ok(Condition::Null(c, true)),
                "false" => Ok(Condition::Null(c, false)),
                _ => Err(Error::Parameter(format!("is_null on {} takes true or false, not {text:?}", self.field()))),
            },
            other => Err(Error::Parameter(format!(
                "unknown filter operator {other:?} on {}: use eq, ne, lt, le, gt, ge, in, contains, icontains, starts_with, ends_with or is_null",
                self.field()
            ))),
        }
    }

    /// `text` as a value of this column's type; an error naming the field when it is not one.
    pub fn parse(&self, text: &str) -> Result<Value> {
        let field = self.field();
        let bad = |what: &str| Error::Parameter(format!("{field}: {text:?} is not {what}"));
        Ok(match self.column.meta.ty {
            ColumnType::Text { .. } => Value::Text(text.into()),
            ColumnType::SmallInt | ColumnType::Integer | ColumnType::BigInt => Value::Int(text.parse().map_err(|_| bad("an integer"))?),
            ColumnType::Float | ColumnType::Double => {
                Value::Float(text.parse::<f64>().ok().filter(|f| f.is_finite()).ok_or_else(|| bad("a finite number"))?)
            }
            ColumnType::Decimal { .. } => Value::Decimal(crate::data::exact::parse_decimal(text).map_err(|_| bad("a decimal"))?),
            ColumnType::Bool => match text {
                "true" | "1" => Value::Bool(true),
                "false" | "0" => Value::Bool(false),
                _ => return Err(bad("true or false")),
            },
            ColumnType::Uuid => Value::Uuid(text.parse().map_err(|_| bad("a UUID"))?),
            ColumnType::Timestamp => Value::Timestamp(crate::data::exact::parse_timestamp(text).map_err(|_| bad("an RFC 3339 timestamp"))?),
            ColumnType::Date => Value::Date(text.parse().map_err(|_| bad("a date (YYYY-MM-DD)"))?),
            ColumnType::Time => Value::Time(text.parse().map_err(|_| bad("a time of day (HH:MM:SS)"))?),
            ColumnType::Enum { variants } => match variants.contains(&text) {
                true => Value::Text(text.into()),
                false => return Err(bad(&format!("one of {}", variants.join(", ")))),
            },
            ColumnType::Json | ColumnType::Bytes => {
                return Err(Error::Parameter(format!("{field} cannot be filtered by a value given as text")));
            }
        })
    }
}

impl<M: Model> super::Select<M> {
    /// Order by a run-time sort parameter: field names separated by commas, each ascending
    /// or, with a leading `-`, descending (`"-price,name"`), every one in `allowed`. A name
    /// not allowed is an error naming the allowed ones; nothing is added then.
    pub fn order_by_param(mut self, spec: &str, allowed: &[&str]) -> Result<Self> {
        let mut orders = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, descending) = match part.strip_prefix('-') {
                Some(name) => (name, true),
                None => (part.strip_prefix('+').unwrap_or(part), false),
            };
            let column = NamedColumn::of::<M>(name, allowed)?;
            orders.push(if descending { column.desc() } else { column.asc() });
        }
        for order in orders {
            self = self.order_by(order);
        }
        Ok(self)
    }
}

/// "cannot use `pirce`: allowed are name, price (did you mean `price`?)"
fn not_allowed(name: &str, allowed: &[&str]) -> Error {
    let nearest = allowed.iter().copied().map(|a| (strsim::levenshtein(name, a), a)).filter(|(d, _)| *d <= 2).min();
    let hint = nearest.map(|(_, a)| format!(" (did you mean `{a}`?)")).unwrap_or_default();
    let list = if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") };
    Error::Parameter(format!("cannot use field `{name}` here: allowed are {list}{hint}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn nearest_names() {
        let e = super::not_allowed("pirce", &["name", "price"]).to_string();
        assert!(e.contains("allowed are name, price") && e.contains("did you mean `price`"), "{e}");
    }
}
