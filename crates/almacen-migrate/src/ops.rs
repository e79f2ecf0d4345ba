//! The operations a revision is made of, in dialect-neutral terms, and their effect on a
//! schema ([`apply`]), which the renderer uses to know the whole table a change touches
//! (SQLite rebuilds a table for most changes) and `migrate sql` uses to run offline.

use crate::schema::{Column, ForeignKey, Index, Table};
use serde::{Deserialize, Serialize};

/// One step of a revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Create a table with its key, unique constraints, indexes and foreign keys.
    CreateTable {
        /// The whole table.
        table: Table,
    },
    /// Drop a table.
    DropTable {
        /// Its name.
        table: String,
    },
    /// Rename a table.
    RenameTable {
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
    /// Add a column.
    AddColumn {
        /// The table.
        table: String,
        /// The new column.
        column: Column,
    },
    /// Drop a column.
    DropColumn {
        /// The table.
        table: String,
        /// The column's name.
        column: String,
    },
    /// Rename a column (its data kept).
    RenameColumn {
        /// The table.
        table: String,
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
    /// Change a column's type, nullability or default (its name stays).
    AlterColumn {
        /// The table.
        table: String,
        /// The column as it is.
        from: Column,
        /// The column as it becomes.
        to: Column,
    },
    /// Create an index or a unique constraint.
    CreateIndex {
        /// The table.
        table: String,
        /// The index.
        index: Index,
    },
    /// Drop an index or a unique constraint.
    DropIndex {
        /// The table.
        table: String,
        /// Its name.
        name: String,
    },
    /// Add a foreign key.
    AddForeignKey {
        /// The table.
        table: String,
        /// The key.
        foreign_key: ForeignKey,
    },
    /// Drop a foreign key.
    DropForeignKey {
        /// The table.
        table: String,
        /// Its name.
        name: String,
    },
    /// Raw SQL, per dialect: `all` runs on every dialect without one of its own; a dialect
    /// with neither is an error (never a silent skip).
    Sql {
        /// For every dialect without its own text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        all: Option<String>,
        /// SQLite's text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sqlite: Option<String>,
        /// PostgreSQL's text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        postgres: Option<String>,
        /// MariaDB's / MySQL's text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mysql: Option<String>,
    },
}

/// Why an operation does not fit the schema it is applied to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OpError(pub String);

fn table_mut<'a>(schema: &'a mut [Table], name: &str) -> Result<&'a mut Table, OpError> {
    schema.iter_mut().find(|t| t.name == name).ok_or_else(|| OpError(format!("no table \"{name}\"")))
}

fn column_index(table: &Table, name: &str) -> Result<usize, OpError> {
    table.columns.iter().position(|c| c.name == name).ok_or_else(|| OpError(format!("no column \"{name}\" in table \"{}\"", table.name)))
}

/// Apply `op` to `schema` (the tables as they are before it), as the database will.
/// Fails, naming the problem, when the operation does not fit: a table or column that is
/// missing or already there, an index or key that does not exist. `Sql` steps change
/// nothing here (their effect is unknown).
pub fn apply(schema: &mut Vec<Table>, op: &Operation) -> Result<(), OpError> {
    match op {
        Operation::CreateTable { table } => {
            if schema.iter().any(|t| t.name == table.name) {
                return Err(OpError(format!("table \"{}\" already exists", table.name)));
            }
            schema.push(table.clone());
        }
        Operation::DropTable { table } => {
            let i = schema.iter().position(|t| t.name == *table).ok_or_else(|| OpError(format!("no table \"{table}\"")))?;
            schema.remove(i);
        }
        Operation::RenameTable { from, to } => {
            if schema.iter().any(|t| t.name == *to) {
                return Err(OpError(format!("table \"{to}\" already exists")));
            }
            table_mut(schema, from)?.name = to.clone();
            for t in schema.iter_mut() {
                for fk in &mut t.foreign_keys {
                    if fk.ref_table == *from {
                        fk.ref_table = to.clone();
                    }
                }
            }
        }
        Operation::AddColumn { table, column } => {
            let t = table_mut(schema, table)?;
            if t.column(&column.name).is_some() {
                return Err(OpError(format!("column \"{}\" already exists in table \"{table}\"", column.name)));
            }
            t.columns.push(column.clone());
        }
        Operation::DropColumn { table, column } => {
            let t = table_mut(schema, table)?;
            let i = column_index(t, column)?;
            if t.primary_key.contains(column) {
                return Err(OpError(format!("column \"{column}\" is part of the primary key of table \"{table}\"")));
            }
            t.columns.remove(i);
            t.indexes.retain(|ix| !ix.columns.contains(column));
            t.foreign_keys.retain(|fk| fk.column != *column);
        }
        Operation::RenameColumn { table, from, to } => {
            let t = table_mut(schema, table)?;
            let i = column_index(t, from)?;
            if t.column(to).is_some() {
                return Err(OpError(format!("column \"{to}\" already exists in table \"{table}\"")));
            }
            t.columns[i].name = to.clone();
            let rename = |c: &mut String| {
                if c == from {
                    *c = to.clone();
                }
            };
            t.primary_key.iter_mut().for_each(rename);
            t.indexes.iter_mut().flat_map(|ix| ix.columns.iter_mut()).for_each(rename);
            t.foreign_keys.iter_mut().map(|fk| &mut fk.column).for_each(rename);
            let table_name = t.name.clone();
            for other in schema.iter_mut() {
                for fk in &mut other.foreign_keys {
                    if fk.ref_table == table_name && fk.ref_column == *from {
                        fk.ref_column = to.clone();
                    }
                }
            }
        }
        Operation::AlterColumn { table, from, to } => {
            if from.name != to.name {
                return Err(OpError(format!(
                    "alter_column on table \"{table}\" names \"{}\" and \"{}\": a rename is its own step (rename_column)",
                    from.name, to.name
                )));
            }
            let t = table_mut(schema, table)?;
            let i = column_index(t, &to.name)?;
            t.columns[i] = to.clone();
        }
        Operation::CreateIndex { table, index } => {
            let t = table_mut(schema, table)?;
            if t.indexes.iter().any(|ix| ix.name == index.name) {
                return Err(OpError(format!("index \"{}\" already exists on table \"{table}\"", index.name)));
            }
            for c in &index.columns {
                column_index(t, c)?;
            }
            t.indexes.push(index.clone());
        }
        Operation::DropIndex { table, name } => {
            let t = table_mut(schema, table)?;
            let i = t
                .indexes
                .iter()
                .position(|ix| ix.name == *name)
                .ok_or_else(|| OpError(format!("no index \"{name}\" on table \"{table}\"")))?;
            t.indexes.remove(i);
        }
        Operation::AddForeignKey { table, foreign_key } => {
            let t = table_mut(schema, table)?;
            if t.foreign_keys.iter().any(|fk| fk.name == foreign_key.name) {
                return Err(OpError(format!("foreign key \"{}\" already exists on table \"{table}\"", foreign_key.name)));
            }
            column_index(t, &foreign_key.column)?;
            t.foreign_keys.push(foreign_key.clone());
        }
        Operation::DropForeignKey { table, name } => {
            let t = table_mut(schema, table)?;
            let i = t
                .foreign_keys
                .iter()
                .position(|fk| fk.name == *name)
                .ok_or_else(|| OpError(format!("no foreign key \"{name}\" on table \"{table}\"")))?;
            t.foreign_keys.remove(i);
        }
        Operation::Sql { .. } => {}
    }
    Ok(())
}
