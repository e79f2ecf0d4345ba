//! The ground floor: what a model is and what its rows hold, with no database in sight.
//! Model metadata (`model`), the Rust types a column may have (`types`), the
//! dialect-neutral `Value` (`value`), the driver's rows and raw rows (`row`), errors
//! (`error`, `mismatch`), exact conversions (`exact`), JSON's portable form (`json`) and the
//! three dialects (`dialect`); and, one folder per dialect, how its values are stored and
//! read (`sqlite/`, `postgres/`, `mysql/`).
//!
//! Nothing here names the layers above (`engine`, `sql`, `orm`).

pub(crate) mod dialect;
pub(crate) mod error;
pub(crate) mod exact;
pub mod json;
pub(crate) mod mismatch;
pub(crate) mod model;
#[cfg(feature = "mysql")]
pub(crate) mod mysql;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod row;
pub(crate) mod sqlite;
pub(crate) mod types;
pub(crate) mod value;
