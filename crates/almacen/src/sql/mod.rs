//! The floor that writes SQL: typed queries (`query/`: columns, conditions, `Select`,
//! aggregates, pages), tables from models (`schema`: `create_tables` / `drop_tables`, and
//! `column_sql`, a column's type as each dialect's DDL spells it), and what a live table
//! looks like (`introspect`). Its statements run on the `engine`; its values and metadata
//! are `data`'s.
//!
//! It names nothing of the ORM (`orm`).

pub(crate) mod column_sql;
pub mod introspect;
pub mod query;
pub(crate) mod schema;
