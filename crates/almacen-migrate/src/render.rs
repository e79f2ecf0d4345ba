//! Operations rendered as each dialect's SQL.
//!
//! (Being written: see `render` below for the contract the runner and `migrate sql` use.)

use crate::ops::Operation;
use crate::schema::Table;
use almacen::Dialect;

/// Why an operation cannot be rendered for a dialect (a native type of another dialect,
/// raw SQL without a text for this dialect, an operation that does not fit the schema).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

/// The statements that perform `op` on `dialect`, given `schema`, the tables as they are
/// before it; `schema` is updated to the tables as they are after it
/// ([`ops::apply`](crate::ops::apply)). On SQLite a change ALTER TABLE cannot make is a
/// table rebuild (create the new table, copy the rows, drop the old, rename), keeping the
/// data. The statements run in order, in the revision's transaction where the dialect has
/// transactional DDL.
pub fn render(op: &Operation, dialect: Dialect, schema: &mut Vec<Table>) -> Result<Vec<String>, RenderError> {
    let _ = (op, dialect, schema);
    Err(RenderError("rendering is not written yet".into()))
}
