//! Schema from models: `CREATE TABLE` / `DROP TABLE` in foreign-key order, with the
//! portable column types mapped for each dialect.
//!
//! The DDL is written here rather than through sea-query's table builder because almost
//! every column needs a dialect-specific type plus a CHECK that sea-query cannot derive
//! (text length and JSON validity on SQLite, decimals on SQLite, UUID lengths, …).

use crate::data::dialect::Dialect;
use crate::data::error::{Error, Result};
use crate::data::mismatch::{SchemaDifference, TableMismatch};
use crate::data::model::{ColumnMeta, ColumnType, OnDelete, ServerDefault, TableMeta};
use crate::engine::database::Database;
use crate::engine::executor::Executor;
use crate::engine::raw::params;
use crate::engine::statement::Statement;
use crate::sql::column_sql::{ident_name, sql_type};

/// Order tables so every table comes after the tables it references (references to tables
/// outside the list are ignored). A cycle is an error naming the tables in it.
pub fn dependency_order<'a>(tables: &[&'a TableMeta]) -> Result<Vec<&'a TableMeta>> {
    let mut ordered: Vec<&TableMeta> = Vec::with_capacity(tables.len());
    let mut remaining: Vec<&TableMeta> = tables.to_vec();
    while !remaining.is_empty() {
        let ready = remaining.iter().position(|t| {
            t.references().filter(|r| *r != t.name).all(|r| ordered.iter().any(|o| o.name == r) || !remaining.iter().any(|o| o.name == r))
        });
        match ready {
            Some(i) => ordered.push(remaining.remove(i)),
            None => {
                let names: Vec<&str> = remaining.iter().map(|t| t.name).collect();
                return Err(Error::Unsupported(format!("foreign keys form a cycle among tables {names:?}")));
            }
        }
    }
    Ok(ordered)
}

/// CHECK constraints that make every dialect reject what the portable type does not allow
/// (the expressions, without `CHECK`).
///
/// ```
/// use almacen::{ColumnType, Dialect, ddl};
/// # use almacen::{ColumnMeta, Managed};
/// let column = ColumnMeta {
///     name: "stock", field: "stock", ty: ColumnType::SmallInt, nullable: false, primary_key: false,
///     auto_increment: false, unique: false, indexed: false, server_default: None, references: None,
///     managed: Managed::No,
/// };
/// assert!(ddl::column_checks(&column, Dialect::Sqlite)[0].contains("BETWEEN -32768 AND 32767"));
/// assert!(ddl::column_checks(&column, Dialect::Postgres).is_empty());
/// ```
pub fn column_checks(c: &ColumnMeta, d: Dialect) -> Vec<String> {
    let col = d.quote(c.name);
    let mut out = Vec::new();
    match (c.ty, d) {
        (ColumnType::Text { max_len: Some(n) }, Dialect::Sqlite) => out.push(format!("length({col}) <= {n}")),
        // An integer that overflows in SQLite arithmetic becomes a REAL: refuse it, as the
        // servers refuse the overflow.
        (ColumnType::SmallInt, Dialect::Sqlite) => {
            out.push(format!("typeof({col}) IN ('integer', 'null') AND {col} BETWEEN -32768 AND 32767"))
        }
        (ColumnType::Integer, Dialect::Sqlite) => {
            out.push(format!("typeof({col}) IN ('integer', 'null') AND {col} BETWEEN -2147483648 AND 2147483647"))
        }
        (ColumnType::BigInt, Dialect::Sqlite) => out.push(format!("typeof({col}) IN ('integer', 'null')")),
        // MariaDB's BOOLEAN is a TINYINT: without the check it holds 2 or -1.
        (ColumnType::Bool, Dialect::Sqlite | Dialect::MySql) => out.push(format!("{col} IN (0, 1)")),
        (ColumnType::Uuid, Dialect::Sqlite | Dialect::MySql) => out.push(format!("length({col}) = 16")),
        (ColumnType::Decimal { precision, scale }, Dialect::Sqlite) => {
            out.push(crate::data::sqlite::decimal::column_check(&col, precision, scale))
        }
        (ColumnType::Json, Dialect::Sqlite) => out.push(format!("json_valid({col})")),
        (ColumnType::Enum { variants }, _) => {
            let list: Vec<String> = variants.iter().map(|v| format!("'{}'", v.replace('\'', "''"))).collect();
            out.push(format!("{col} IN ({})", list.join(", ")));
        }
        _ => {}
    }
    out
}

/// The column's `DEFAULT` expression as this dialect's DDL writes it, if it has one.
pub fn default_sql(c: &ColumnMeta, d: Dialect) -> Option<String> {
    Some(match c.server_default? {
        ServerDefault::Sql(expr) => format!("({expr})"),
        ServerDefault::Now => match (c.ty, d) {
            (ColumnType::Date, Dialect::Sqlite) => "(date('now'))".into(),
            (ColumnType::Time, Dialect::Sqlite) => "(strftime('%H:%M:%f', 'now') || '000')".into(),
            (_, Dialect::Sqlite) => "(strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')".into(),
            (ColumnType::Date, Dialect::Postgres) => "CURRENT_DATE".into(),
            (ColumnType::Time, Dialect::Postgres) => "LOCALTIME".into(),
            (_, Dialect::Postgres) => "CURRENT_TIMESTAMP".into(),
            (ColumnType::Date, Dialect::MySql) => "(CURRENT_DATE)".into(),
            (ColumnType::Time, Dialect::MySql) => "(CURRENT_TIME(6))".into(),
            (_, Dialect::MySql) => "CURRENT_TIMESTAMP(6)".into(),
        },
    })
}

/// The `ON DELETE` action's SQL.
pub fn on_delete_sql(a: OnDelete) -> &'static str {
    match a {
        OnDelete::NoAction => "NO ACTION",
        OnDelete::Restrict => "RESTRICT",
        OnDelete::Cascade => "CASCADE",
        OnDelete::SetNull => "SET NULL",
    }
}

/// One column's definition in `CREATE TABLE`: name, type, key, nullability, default, CHECKs.
/// `sqlite_rowid_key`: the table's key is this single auto integer (SQLite's rowid).
pub fn column_def(c: &ColumnMeta, d: Dialect, sqlite_rowid_key: bool) -> Result<String> {
    let q = |s: &str| d.quote(s);
    let mut def = format!("{} {}", q(c.name), sql_type(c, d)?);
    if c.auto_increment {
        if !matches!(c.ty, ColumnType::Integer | ColumnType::BigInt | ColumnType::SmallInt) {
            return Err(Error::Unsupported(format!("column {}: auto needs an integer type", c.name)));
        }
        match d {
            Dialect::Sqlite if sqlite_rowid_key => def.push_str(" PRIMARY KEY AUTOINCREMENT"),
            Dialect::Sqlite => {
                return Err(Error::Unsupported(format!("column {}: SQLite generates only a single-column integer primary key", c.name)));
            }
            Dialect::Postgres => def.push_str(" GENERATED BY DEFAULT AS IDENTITY"),
            Dialect::MySql => def.push_str(" AUTO_INCREMENT"),
        }
    }
    if !c.nullable {
        def.push_str(" NOT NULL");
    }
    if let Some(default) = default_sql(c, d) {
        def.push_str(" DEFAULT ");
        def.push_str(&default);
    }
    for check in column_checks(c, d) {
        def.push_str(&format!(" CHECK ({check})"));
    }
    Ok(def)
}

/// Whether `table`'s single key column is SQLite's rowid (`INTEGER PRIMARY KEY AUTOINCREMENT`).
pub fn sqlite_rowid_key(table: &TableMeta) -> bool {
    let pk: Vec<&ColumnMeta> = table.primary_key().collect();
    pk.len() == 1 && pk[0].auto_increment
}

/// What almacen's `CREATE TABLE` appends on MariaDB/MySQL: a binary, no-pad collation, so
/// `=`, UNIQUE and DISTINCT respect case and trailing spaces as on PostgreSQL and SQLite.
pub const MYSQL_TABLE_OPTIONS: &str = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin";

/// The statements that create `table` (if it does not exist) and its indexes.
pub fn create_table_sql(table: &TableMeta, d: Dialect) -> Result<Vec<String>> {
    let q = |s: &str| d.quote(s);
    let pk: Vec<&ColumnMeta> = table.primary_key().collect();
    let sqlite_rowid_key = d == Dialect::Sqlite && sqlite_rowid_key(table);
    let mut parts = Vec::new();
    for c in table.columns {
        parts.push(column_def(c, d, sqlite_rowid_key)?);
    }
    if !pk.is_empty() && !sqlite_rowid_key {
        let cols: Vec<String> = pk.iter().map(|c| q(c.name)).collect();
        parts.push(format!("CONSTRAINT {} PRIMARY KEY ({})", q(&ident_name(format!("pk_{}", table.name))), cols.join(", ")));
    }
    for c in table.columns.iter().filter(|c| c.unique && !c.primary_key) {
        let name = ident_name(format!("uq_{}_{}", table.name, c.name));
        parts.push(format!("CONSTRAINT {} UNIQUE ({})", q(&name), q(c.name)));
    }
    for c in table.columns {
        if let Some(fk) = c.references {
            let name = ident_name(format!("fk_{}_{}", table.name, c.name));
            parts.push(format!(
                "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {}",
                q(&name),
                q(c.name),
                q(fk.table),
                q(fk.column),
                on_delete_sql(fk.on_delete)
            ));
        }
    }
    let mut sql = format!("CREATE TABLE IF NOT EXISTS {} (\n  {}\n)", q(table.name), parts.join(",\n  "));
    if d == Dialect::MySql {
        // Binary, no-pad collation: `=`, UNIQUE and DISTINCT respect case and trailing spaces
        // as they do on PostgreSQL and SQLite.
        sql.push_str(MYSQL_TABLE_OPTIONS);
    }
    let mut out = vec![sql];
    for c in table.columns.iter().filter(|c| c.indexed && !c.unique && !c.primary_key) {
        let name = ident_name(format!("ix_{}_{}", table.name, c.name));
        out.push(format!("CREATE INDEX IF NOT EXISTS {} ON {} ({})", q(&name), q(table.name), q(c.name)));
    }
    for ix in table.indexes {
        let cols: Vec<String> = ix.columns.iter().map(|c| q(c)).collect();
        let unique = if ix.unique { "UNIQUE " } else { "" };
        out.push(format!(
            "CREATE {unique}INDEX IF NOT EXISTS {} ON {} ({})",
            q(&ident_name(ix.name.to_string())),
            q(table.name),
            cols.join(", ")
        ));
    }
    Ok(out)
}

impl Database {
    /// Create the tables of these models, if they do not exist, in foreign-key order, with
    /// their indexes. On PostgreSQL and SQLite this is one transaction; MariaDB commits each
    /// DDL statement on its own.
    ///
    /// A table that already exists is compared with its model first (see
    /// [`introspect::schema_diff`](crate::introspect::schema_diff)): columns, their types as
    /// this dialect declares them, nullability and the primary key. If any existing table
    /// differs, nothing at all is created and the error is [`Error::SchemaMismatch`],
    /// naming each such table and every difference, rather than `Ok(())` followed by
    /// failures at run time. Existing tables that match are left as they are (their missing
    /// indexes are added), so calling this again is harmless.
    ///
    /// ```no_run
    /// # use almacen::prelude::*;
    /// # #[derive(Model)] #[model(table = "users")] struct User { #[model(primary_key, auto)] id: i64 }
    /// # async fn f(db: &Database) -> almacen::Result<()> {
    /// match db.create_tables(&[User::TABLE]).await {
    ///     Ok(()) => {}
    ///     // e.g. schema mismatch: table "users" differs from the model User: column "id": model
    ///     // has BIGINT, table has INTEGER; extra column "legacy" (table has TEXT NULL)
    ///     Err(Error::SchemaMismatch(tables)) => {
    ///         for t in &tables {
    ///             eprintln!("{t}");
    ///         }
    ///         return Err(Error::SchemaMismatch(tables));
    ///     }
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn create_tables(&self, tables: &[&TableMeta]) -> Result<()> {
        let d = self.dialect();
        let ordered = dependency_order(tables)?;
        let mut statements = Vec::new();
        for t in &ordered {
            statements.extend(create_table_sql(t, d)?);
        }
        // Every existing table is checked before any DDL runs, so a mismatch leaves the
        // database as it was.
        let mut mismatches = Vec::new();
        for t in &ordered {
            if let Some(live) = crate::sql::introspect::table_columns(self, t.name).await? {
                let mut differences = crate::sql::introspect::schema_diff(t, &live, d)?;
                if d == Dialect::Sqlite {
                    differences.extend(self.sqlite_definition_differences(t, &differences).await?);
                }
                if !differences.is_empty() {
                    mismatches.push(TableMismatch { table: t.name.to_string(), model: t.model.to_string(), differences });
                }
            }
        }
        if !mismatches.is_empty() {
            return Err(Error::SchemaMismatch(mismatches));
        }
        self.run_ddl(statements).await
    }

    /// On SQLite the declared type cannot tell `i32` from `i64` or text from a timestamp
    /// (their CHECKs do), so each column of `t` not already reported is compared, as a whole
    /// definition, with the one `create_table_sql` writes.
    async fn sqlite_definition_differences(&self, t: &TableMeta, reported: &[SchemaDifference]) -> Result<Vec<SchemaDifference>> {
        let sql = "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name";
        let Some(row) = self.fetch_optional_raw(sql, params! { "name" => t.name }).await? else { return Ok(Vec::new()) };
        let stored: String = row.get("sql")?;
        // almacen writes one column per line: `(\n  "a" ..,\n  "b" ..\n)`.
        let Some(body) = stored.split_once("(\n  ").map(|(_, rest)| rest.strip_suffix("\n)").unwrap_or(rest)) else {
            return Ok(Vec::new());
        };
        let lines: Vec<&str> = body.split(",\n  ").collect();
        let rowid = sqlite_rowid_key(t);
        let mut out = Vec::new();
        for c in t.columns {
            let named = |d: &SchemaDifference| match d {
                SchemaDifference::MissingColumn { column, .. }
                | SchemaDifference::Type { column, .. }
                | SchemaDifference::Nullability { column, .. } => column == c.name,
                _ => false,
            };
            if reported.iter().any(named) {
                continue;
            }
            let model = column_def(c, Dialect::Sqlite, rowid)?;
            if lines.contains(&model.as_str()) {
                continue;
            }
            let quoted = Dialect::Sqlite.quote(c.name);
            let table = lines.iter().find(|l| l.starts_with(&format!("{quoted} "))).map_or_else(|| stored.clone(), |l| l.to_string());
            out.push(SchemaDifference::Definition { column: c.name.to_string(), model, table });
        }
        Ok(out)
    }

    /// Drop these models' tables if they exist, dependents first.
    pub async fn drop_tables(&self, tables: &[&TableMeta]) -> Result<()> {
        let d = self.dialect();
        let statements = dependency_order(tables)?.iter().rev().map(|t| format!("DROP TABLE IF EXISTS {}", d.quote(t.name))).collect();
        self.run_ddl(statements).await
    }

    async fn run_ddl(&self, statements: Vec<String>) -> Result<()> {
        if self.dialect() == Dialect::MySql {
            for s in statements {
                self.execute_statement(Statement::new(s, Vec::new())).await?;
            }
            return Ok(());
        }
        self.transaction(async |tx| {
            for s in statements {
                tx.execute_statement(Statement::new(s, Vec::new())).await?;
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::model::{IndexMeta, Managed};

    const COLS: &[ColumnMeta] = &[
        ColumnMeta {
            name: "id",
            field: "id",
            ty: ColumnType::BigInt,
            nullable: false,
            primary_key: true,
            auto_increment: true,
            unique: false,
            indexed: false,
            server_default: None,
            references: None,
            managed: Managed::No,
        },
        ColumnMeta {
            name: "sku",
            field: "sku",
            ty: ColumnType::Text { max_len: Some(10) },
            nullable: false,
            primary_key: false,
            auto_increment: false,
            unique: true,
            indexed: false,
            server_default: None,
            references: None,
            managed: Managed::No,
        },
    ];
    const T: TableMeta = TableMeta {
        name: "items",
        model: "Item",
        columns: COLS,
        indexes: &[IndexMeta { name: "ix_items_sku_id", columns: &["sku", "id"], unique: false }],
    };

    #[test]
    fn ddl_per_dialect() {
        let s = create_table_sql(&T, Dialect::Sqlite).unwrap();
        assert!(s[0].contains("\"id\" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL"), "{}", s[0]);
        assert!(s[0].contains("CHECK (length(\"sku\") <= 10)"), "{}", s[0]);
        let p = create_table_sql(&T, Dialect::Postgres).unwrap();
        assert!(p[0].contains("GENERATED BY DEFAULT AS IDENTITY"), "{}", p[0]);
        assert!(p[0].contains("VARCHAR(10)"));
        let m = create_table_sql(&T, Dialect::MySql).unwrap();
        assert!(m[0].contains("AUTO_INCREMENT") && m[0].contains("utf8mb4_nopad_bin"), "{}", m[0]);
        assert_eq!(m.len(), 2);
    }
}
