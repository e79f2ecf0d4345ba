//! Alembic-style migrations for almacen: the schema in dialect-neutral terms, read from the
//! models and from a live database, compared into revisions of portable operations, rendered
//! per dialect and applied under a lock, with the `migrate` commands a service binary
//! exposes in one call.
//!
//! Layers, top to bottom: the commands (`cli`) over the runner and revision files over the
//! comparison and rendering over the neutral schema (`schema`, `ops`).

#![warn(missing_docs)]

pub mod autogenerate;
pub mod cli;
pub mod equivalence;
pub mod graph;
pub mod introspect;
pub mod ops;
pub mod render;
pub mod revision;
pub mod runner;
pub mod schema;

pub use runner::upgrade_to_head;
