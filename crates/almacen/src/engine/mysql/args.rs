//! sqlx arguments for MariaDB/MySQL from the values a statement holds.

use crate::data::error::{Error, Result};
use sea_query::Value as S;
use sqlx::mysql::{MySql, MySqlArguments, MySqlTypeInfo};
use sqlx::{Column, Encode, Executor, Row, Type};
use std::sync::OnceLock;

/// MariaDB's own NULL type (`MYSQL_TYPE_NULL`). A NULL of no known type
/// (`crate::data::value::UNTYPED_NULL`) is sent with it, so the server types an expression from
/// its other operands: `COALESCE(:x, created_at)` stays a DATETIME, where a VARCHAR NULL
/// would make it text. sqlx has no constructor for it; a result column of `SELECT NULL`
/// carries it, so the first connection of the process reads it there.
static NULL_TYPE: OnceLock<MySqlTypeInfo> = OnceLock::new();

/// On a new connection: read MariaDB's NULL type once per process.
pub(crate) async fn learn_null_type(conn: &mut sqlx::MySqlConnection) -> std::result::Result<(), sqlx::Error> {
    if NULL_TYPE.get().is_none() {
        let row = conn.fetch_one("SELECT NULL").await?;
        let _ = NULL_TYPE.set(row.columns()[0].type_info().clone());
    }
    Ok(())
}

/// A NULL sent with MariaDB's NULL type (a VARCHAR NULL until that type is known).
struct UntypedNull;

impl Type<MySql> for UntypedNull {
    fn type_info() -> MySqlTypeInfo {
        <String as Type<MySql>>::type_info()
    }
}

impl Encode<'_, MySql> for UntypedNull {
    fn encode_by_ref(&self, _buf: &mut Vec<u8>) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }
    fn produces(&self) -> Option<MySqlTypeInfo> {
        NULL_TYPE.get().cloned()
    }
}

/// The values as MariaDB arguments for `sql`, whose `?` placeholders must be as many: the
/// driver would otherwise fail without sending the statement and leave the connection
/// waiting for a reply that never comes. `matched`: almacen wrote them so, nothing to count.
pub(crate) fn arguments(sql: &str, values: Vec<S>, matched: bool) -> Result<MySqlArguments> {
    let placeholders =
        if matched { values.len() } else { crate::engine::raw::question_placeholders(sql).map_err(|e| Error::Parameter(e.to_string()))? };
    if placeholders != values.len() {
        return Err(Error::Parameter(format!(
            "the statement has {placeholders} `?` placeholder(s) but {} value(s); nothing was sent",
            values.len()
        )));
    }
    let mut args = MySqlArguments::default();
    crate::engine::server_args::add_values!(&mut args, values, UntypedNull, "MariaDB");
    Ok(args)
}
