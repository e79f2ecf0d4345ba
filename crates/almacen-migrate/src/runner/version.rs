//! The version table, `almacen_version`: one row per applied head (`version_num`, its
//! primary key), created under the lock by the first run.

use super::error::{MigrateError, db_err};
use almacen::{Dialect, Executor, Transaction, params};

/// The version table's name.
pub const VERSION_TABLE: &str = "almacen_version";

/// Whether the version table exists.
pub(crate) async fn version_table_exists(ex: &impl Executor, dialect: Dialect) -> Result<bool, MigrateError> {
    let sql = match dialect {
        Dialect::Sqlite => "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = :t",
        Dialect::Postgres => {
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = :t"
        }
        Dialect::MySql => "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = :t",
    };
    let row = ex.fetch_one_raw(sql, params! { "t" => VERSION_TABLE }).await.map_err(db_err("looking for the version table"))?;
    Ok(row.get::<i64>("n").map_err(db_err("looking for the version table"))? > 0)
}

/// Create the version table if it is missing (under the lock, so two processes do not
/// race to create it).
pub(crate) async fn ensure_version_table(tx: &Transaction, dialect: Dialect) -> Result<(), MigrateError> {
    if version_table_exists(tx, dialect).await? {
        return Ok(());
    }
    tx.execute_raw(&create_version_table_sql(), params! {}).await.map_err(db_err("creating the version table"))?;
    Ok(())
}

/// The statement that creates the version table (the same on every dialect).
pub fn create_version_table_sql() -> String {
    format!("CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL, CONSTRAINT {VERSION_TABLE}_pkc PRIMARY KEY (version_num))")
}

/// The statements that change the version table's rows from `old` to `new`, with the ids
/// written in (revision ids are hex digits: nothing to escape), for SQL shown rather than run.
pub(crate) fn version_change_sql(old: &[String], new: &[String]) -> Vec<String> {
    let gone = old.iter().filter(|r| !new.contains(r)).map(|r| format!("DELETE FROM {VERSION_TABLE} WHERE version_num = '{r}'"));
    let added = new.iter().filter(|r| !old.contains(r)).map(|r| format!("INSERT INTO {VERSION_TABLE} (version_num) VALUES ('{r}')"));
    gone.chain(added).collect()
}

pub(crate) async fn read_version(ex: &impl Executor) -> Result<Vec<String>, MigrateError> {
    let rows = ex
        .fetch_all_raw(&format!("SELECT version_num FROM {VERSION_TABLE} ORDER BY version_num"), params! {})
        .await
        .map_err(db_err("reading the version table"))?;
    rows.iter().map(|r| r.get::<String>("version_num").map_err(db_err("reading the version table"))).collect()
}

/// Change the version table's rows from `old` (as read under the lock) to `new`. A row of
/// `old` that is no longer there means something else changed the table meanwhile (a step
/// of the revision itself): an error, so the unit rolls back.
pub(crate) async fn write_version(tx: &Transaction, old: &[String], new: &[String]) -> Result<(), MigrateError> {
    for gone in old.iter().filter(|r| !new.contains(r)) {
        let deleted = tx
            .execute_raw(&format!("DELETE FROM {VERSION_TABLE} WHERE version_num = :v"), params! { "v" => gone.as_str() })
            .await
            .map_err(db_err("updating the version table"))?;
        if deleted != 1 {
            return Err(MigrateError::Changed(format!(
                "the version table changed under the lock: its row {gone} was gone when the run came to replace it"
            )));
        }
    }
    for added in new.iter().filter(|r| !old.contains(r)) {
        tx.execute_raw(&format!("INSERT INTO {VERSION_TABLE} (version_num) VALUES (:v)"), params! { "v" => added.as_str() })
            .await
            .map_err(db_err("updating the version table"))?;
    }
    Ok(())
}
