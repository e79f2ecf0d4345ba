//! The top floor, the ORM: a model's reads and writes (`crud`; inserts in `insert`), grouped per model over a
//! database or a transaction (`repository`), relationships loaded for whole result sets
//! (`relation`), and the API shapes `#[model(dto)]` generates (`dto`). It builds on the
//! queries (`sql`), runs on the `engine` and reads `data`; nothing below names it.

pub(crate) mod crud;
pub mod dto;
mod insert;
pub mod relation;
pub(crate) mod repository;
