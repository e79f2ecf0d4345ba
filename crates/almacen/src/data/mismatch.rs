//! How a live table differs from its model: what [`schema_diff`](crate::introspect::schema_diff)
//! finds and [`Error::SchemaMismatch`](crate::Error::SchemaMismatch) carries. Public as
//! `almacen::introspect::{SchemaDifference, TableMismatch}`.

use std::fmt;

/// One way a live table differs from its model.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaDifference {
    /// The model has a column the table lacks.
    MissingColumn {
        /// The column name.
        column: String,
        /// The type the model expects (normalised, see [`ColumnInfo::sql_type`](crate::introspect::ColumnInfo::sql_type)).
        model_type: String,
        /// Whether the model's column accepts NULL.
        model_nullable: bool,
    },
    /// The table has a column the model lacks.
    ExtraColumn {
        /// The column name.
        column: String,
        /// The table's type for it.
        table_type: String,
        /// Whether the table's column accepts NULL.
        table_nullable: bool,
    },
    /// A column's type differs.
    Type {
        /// The column name.
        column: String,
        /// The type the model expects.
        model_type: String,
        /// The type the table has.
        table_type: String,
    },
    /// A column accepts NULL in one and not in the other.
    Nullability {
        /// The column name.
        column: String,
        /// Whether the model's column accepts NULL (the table's does the opposite).
        model_nullable: bool,
    },
    /// SQLite only: a column's definition (its CHECKs, default or key clause) is not the one
    /// almacen writes for the model, where the declared type alone cannot tell (SQLite
    /// declares `i16`, `i32`, `i64` and `bool` all `INTEGER`, text and timestamps all `TEXT`;
    /// their CHECKs differ).
    Definition {
        /// The column name.
        column: String,
        /// The definition almacen writes for the model's column.
        model: String,
        /// The table's definition of it, as stored by SQLite.
        table: String,
    },
    /// The primary key columns (or their order) differ.
    PrimaryKey {
        /// The model's key columns, in order.
        model: Vec<String>,
        /// The table's key columns, in order (empty: no primary key).
        table: Vec<String>,
    },
}

fn null_text(nullable: bool) -> &'static str {
    if nullable { "NULL" } else { "NOT NULL" }
}

fn type_text(t: &str) -> &str {
    if t.is_empty() { "no type" } else { t }
}

fn key_text(cols: &[String]) -> String {
    if cols.is_empty() {
        return "no primary key".into();
    }
    let names: Vec<String> = cols.iter().map(|c| format!("{c:?}")).collect();
    format!("PRIMARY KEY ({})", names.join(", "))
}

impl fmt::Display for SchemaDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaDifference::MissingColumn { column, model_type, model_nullable } => {
                write!(f, "column {column:?} is missing (model has {} {})", type_text(model_type), null_text(*model_nullable))
            }
            SchemaDifference::ExtraColumn { column, table_type, table_nullable } => {
                write!(f, "extra column {column:?} (table has {} {})", type_text(table_type), null_text(*table_nullable))
            }
            SchemaDifference::Type { column, model_type, table_type } => {
                write!(f, "column {column:?}: model has {}, table has {}", type_text(model_type), type_text(table_type))
            }
            SchemaDifference::Nullability { column, model_nullable } => {
                write!(f, "column {column:?}: model has {}, table has {}", null_text(*model_nullable), null_text(!*model_nullable))
            }
            SchemaDifference::Definition { column, model, table } => {
                write!(f, "column {column:?}: model has `{model}`, table has `{table}`")
            }
            SchemaDifference::PrimaryKey { model, table } => {
                write!(f, "primary key: model has {}, table has {}", key_text(model), key_text(table))
            }
        }
    }
}

/// A table that exists and differs from its model, with every difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMismatch {
    /// The table name.
    pub table: String,
    /// The model's Rust name.
    pub model: String,
    /// What differs, model columns first (in model order), then extra columns, then the key.
    pub differences: Vec<SchemaDifference>,
}

impl fmt::Display for TableMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table {:?} differs from the model {}: ", self.table, self.model)?;
        for (i, d) in self.differences.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}
