//! Data-transfer objects generated from models with `#[model(dto)]`: the insert input
//! (`New<Model>`, deserializable), a patch input (`<Model>Patch`) whose fields tell "absent"
//! from "null" from a value, and an output view (`<Model>Out`) without `hidden` fields and
//! with `rename`d ones.
//!
//! ```
//! use almacen::prelude::*;
//! use almacen::Field;
//!
//! #[derive(Model, Debug, Clone, PartialEq)]
//! #[model(table = "users", dto)]
//! struct User {
//!     #[model(primary_key, auto)]
//!     id: i64,
//!     #[model(max_len = 100, rename = "emailAddress")]
//!     email: String,
//!     #[model(max_len = 200, hidden)]
//!     password_hash: String,
//!     #[model(max_len = 200)]
//!     bio: Option<String>,
//! }
//!
//! // A JSON body: `bio` set to null, `email` absent (left as it is).
//! let patch: UserPatch = serde_json::from_str(r#"{"bio": null}"#).unwrap();
//! assert_eq!(patch.email, Field::Absent);
//! assert_eq!(patch.bio, Field::Null);
//!
//! let mut user = User { id: 1, email: "a@b.c".into(), password_hash: "x".into(), bio: Some("hi".into()) };
//! patch.apply(&mut user).unwrap();
//! assert_eq!(user.bio, None);
//!
//! // The output view leaves the hash out and renames the email.
//! let out = serde_json::to_value(UserOut::from(user)).unwrap();
//! assert_eq!(out, serde_json::json!({"id": 1, "emailAddress": "a@b.c", "bio": null}));
//! ```

use crate::data::error::Error;
use serde::{Deserialize, Deserializer};

/// One field of a patch input: left as it is, set to NULL, or set to a value. In JSON a
/// missing key is `Absent`, `null` is `Null`, anything else is `Value`.
///
/// ```
/// use almacen::Field;
/// assert_eq!(Field::<i32>::default(), Field::Absent);
/// assert_eq!(Field::from(Some(3)), Field::Value(3));
/// assert_eq!(Field::<i32>::from(None), Field::Null);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Field<T> {
    /// Not given: the column keeps its value.
    #[default]
    Absent,
    /// Given as null: the column becomes NULL (an error for a non-nullable column).
    Null,
    /// Given: the column takes this value.
    Value(T),
}

impl<T> Field<T> {
    /// True unless the field is [`Absent`](Field::Absent).
    pub fn is_given(&self) -> bool {
        !matches!(self, Field::Absent)
    }
}

impl<T> From<Option<T>> for Field<T> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Field::Null, Field::Value)
    }
}

/// A present key deserializes to `Null` or `Value`; a missing key is `Absent` through
/// `#[serde(default)]` on the generated struct.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(d).map(Field::from)
    }
}

/// The error for a `Null` given to a non-nullable column.
#[doc(hidden)]
pub fn null_error(column: &str) -> Error {
    Error::invalid(column, "cannot be null")
}
