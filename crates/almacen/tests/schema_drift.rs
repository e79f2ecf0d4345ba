//! `create_tables` on a table that already exists compares it with the model: a table it
//! made itself matches on every dialect, a table that differs (missing or extra column,
//! other type or nullability, other primary key) is an error naming every difference, and
//! then nothing at all is created.

mod common;

use almacen::introspect::{schema_diff, table_columns};
use almacen::prelude::*;
use almacen::{Dialect, SchemaDifference, TableMismatch};
use common::Backend;

#[derive(DbEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Mood {
    #[default]
    Calm,
    Busy,
}

/// One column of every portable type, not null and nullable.
#[derive(Model, Debug, Clone)]
#[model(table = "every_type")]
struct EveryType {
    #[model(primary_key, auto)]
    id: i64,
    small: i16,
    small_n: Option<i16>,
    int: i32,
    int_n: Option<i32>,
    big: i64,
    big_n: Option<i64>,
    float: f32,
    float_n: Option<f32>,
    double: f64,
    double_n: Option<f64>,
    #[model(decimal(12, 2))]
    price: Decimal,
    #[model(decimal(12, 2))]
    price_n: Option<Decimal>,
    #[model(decimal(24, 6))]
    wide: Decimal,
    #[model(decimal(24, 6))]
    wide_n: Option<Decimal>,
    flag: bool,
    flag_n: Option<bool>,
    #[model(max_len = 40, unique)]
    code: String,
    #[model(max_len = 40)]
    code_n: Option<String>,
    body: String,
    body_n: Option<String>,
    uid: Uuid,
    uid_n: Option<Uuid>,
    #[model(created_at)]
    created_at: DateTime<Utc>,
    at: DateTime<Utc>,
    at_n: Option<DateTime<Utc>>,
    day: NaiveDate,
    day_n: Option<NaiveDate>,
    clock: NaiveTime,
    clock_n: Option<NaiveTime>,
    doc: serde_json::Value,
    doc_n: Option<serde_json::Value>,
    data: Vec<u8>,
    data_n: Option<Vec<u8>>,
    mood: Mood,
    mood_n: Option<Mood>,
    #[model(server_default = "0", index)]
    counter: i32,
    #[model(sql_type = "text")]
    as_text: String,
}

/// A composite key, in an order other than the columns'.
#[derive(Model, Debug, Clone)]
#[model(table = "seats", composite, index("row_no", "hall"))]
struct Seat {
    #[model(max_len = 10)]
    label: String,
    #[model(primary_key, max_len = 20)]
    hall: String,
    #[model(primary_key)]
    row_no: i32,
    #[model(references = "every_type.id", on_delete = "cascade")]
    owner: Option<i64>,
}

#[derive(Model, Debug, Clone)]
#[model(table = "products")]
struct Product {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40)]
    name: String,
    #[model(decimal(12, 2))]
    price: Decimal,
    #[model(max_len = 20, unique)]
    sku: String,
    note: Option<String>,
}

#[derive(Model, Debug, Clone)]
#[model(table = "teams")]
struct Team {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40)]
    name: String,
}

#[derive(Model, Debug, Clone)]
#[model(table = "members")]
struct Member {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = "teams.id")]
    team_id: i64,
}

#[derive(Model, Debug, Clone)]
#[model(table = "tags")]
struct Tag {
    #[model(primary_key)]
    id: i32,
    #[model(max_len = 20)]
    name: String,
}

/// Dialect spellings for the raw-SQL tables.
struct Types {
    id: &'static str,
    int: &'static str,
    name40: &'static str,
    text: &'static str,
    price: &'static str,
}

fn types(backend: Backend) -> Types {
    match backend {
        Backend::Sqlite => Types { id: "INTEGER", int: "INTEGER", name40: "TEXT", text: "TEXT", price: "DECIMAL_REAL(12,2)" },
        Backend::Postgres => Types { id: "BIGINT", int: "INTEGER", name40: "VARCHAR(40)", text: "TEXT", price: "NUMERIC(12,2)" },
        Backend::MariaDb => Types { id: "BIGINT", int: "INT", name40: "VARCHAR(40)", text: "LONGTEXT", price: "DECIMAL(12,2)" },
    }
}

/// The products table as an older release (or a hand) made it: `price` an integer, `name`
/// nullable, `note` not null, no `sku`, and a `legacy` column.
async fn make_drifted_products(db: &Database, backend: Backend) {
    let t = types(backend);
    let sql = format!(
        "CREATE TABLE products (id {} NOT NULL PRIMARY KEY, name {}, price {} NOT NULL, note {} NOT NULL, legacy {})",
        t.id, t.name40, t.int, t.text, t.int
    );
    db.execute_raw(&sql, params! {}).await.unwrap();
}

async fn mismatches(db: &Database, tables: &[&almacen::TableMeta]) -> Vec<TableMismatch> {
    match db.create_tables(tables).await {
        Err(Error::SchemaMismatch(m)) => m,
        other => panic!("expected a schema mismatch, got {other:?}"),
    }
}

async fn tables_made_by_create_tables_match_their_models(db: Database, backend: Backend) {
    db.create_tables(&[Seat::TABLE, EveryType::TABLE]).await.unwrap();
    for t in [EveryType::TABLE, Seat::TABLE] {
        let live = db.table_columns(t.name).await.unwrap().unwrap_or_else(|| panic!("{backend:?}: {} not found", t.name));
        assert_eq!(live.len(), t.columns.len(), "{backend:?}: {live:?}");
        let diff = schema_diff(t, &live, db.dialect()).unwrap();
        assert!(diff.is_empty(), "{backend:?}: table {} differs from the model it was made from: {diff:?}", t.name);
        for (c, l) in t.columns.iter().zip(&live) {
            assert_eq!(c.name, l.name, "{backend:?}: columns come in table order");
            assert_eq!(c.nullable, l.nullable, "{backend:?}: column {}", c.name);
        }
    }
    // The composite key is reported in key order (hall, row_no), not column order.
    let seats = db.table_columns("seats").await.unwrap().unwrap();
    let key: Vec<(&str, Option<u32>)> = seats.iter().map(|c| (c.name.as_str(), c.primary_key)).collect();
    assert_eq!(key, [("label", None), ("hall", Some(1)), ("row_no", Some(2)), ("owner", None)], "{backend:?}");

    // What each dialect declares, normalised as almacen writes it.
    let live = db.table_columns("every_type").await.unwrap().unwrap();
    let ty = |name: &str| live.iter().find(|c| c.name == name).unwrap().sql_type.clone();
    let expected: &[(&str, &str)] = match backend {
        Backend::Sqlite => &[("id", "INTEGER"), ("price", "DECIMAL_REAL(12,2)"), ("wide", "DECIMAL_TEXT(24,6)"), ("uid", "BLOB")],
        Backend::Postgres => {
            &[("id", "BIGINT"), ("price", "NUMERIC(12,2)"), ("at", "TIMESTAMPTZ"), ("doc", "JSONB"), ("code", "VARCHAR(40)")]
        }
        Backend::MariaDb => &[("int", "INT"), ("flag", "BOOLEAN"), ("doc", "JSON"), ("body", "LONGTEXT"), ("uid", "VARBINARY(16)")],
    };
    for (name, sql_type) in expected {
        assert_eq!(ty(name), *sql_type, "{backend:?}: column {name}");
    }

    // A name that is not a table is no table, whatever it contains.
    assert_eq!(db.table_columns("nope").await.unwrap(), None);
    assert_eq!(table_columns(&db, "every_type' OR '1'='1").await.unwrap(), None);
    assert_eq!(db.table_columns("every_type\"; DROP TABLE seats; --").await.unwrap(), None);
    assert!(db.table_columns("seats").await.unwrap().is_some());
}

async fn create_tables_twice_is_ok(db: Database, backend: Backend) {
    let all = [EveryType::TABLE, Seat::TABLE, Team::TABLE, Member::TABLE, Product::TABLE, Tag::TABLE];
    db.create_tables(&all).await.unwrap();
    db.create_tables(&all).await.unwrap_or_else(|e| panic!("{backend:?}: second create_tables: {e}"));
    // Inside a transaction, too (the introspection runs on any executor).
    db.transaction(async |tx| {
        let live = table_columns(tx, "products").await?.expect("products exists");
        assert!(schema_diff(Product::TABLE, &live, tx.dialect())?.is_empty());
        Ok::<(), Error>(())
    })
    .await
    .unwrap();
}

async fn a_drifted_table_is_refused_naming_every_difference(db: Database, backend: Backend) {
    make_drifted_products(&db, backend).await;
    let t = types(backend);
    let found = mismatches(&db, &[Product::TABLE]).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].table, "products");
    let expected = vec![
        SchemaDifference::Nullability { column: "name".into(), model_nullable: false },
        SchemaDifference::Type { column: "price".into(), model_type: t.price.into(), table_type: t.int.into() },
        SchemaDifference::MissingColumn {
            column: "sku".into(),
            model_type: if backend == Backend::Sqlite { "TEXT".into() } else { "VARCHAR(20)".into() },
            model_nullable: false,
        },
        SchemaDifference::Nullability { column: "note".into(), model_nullable: true },
        SchemaDifference::ExtraColumn { column: "legacy".into(), table_type: t.int.into(), table_nullable: true },
    ];
    assert_eq!(found[0].differences, expected, "{backend:?}");

    let message = Error::SchemaMismatch(found).to_string();
    for part in [
        "schema mismatch: table \"products\" differs from the model Product: ".to_string(),
        "column \"name\": model has NOT NULL, table has NULL".to_string(),
        format!("column \"price\": model has {}, table has {}", t.price, t.int),
        "column \"sku\" is missing".to_string(),
        "column \"note\": model has NULL, table has NOT NULL".to_string(),
        format!("extra column \"legacy\" (table has {} NULL)", t.int),
    ] {
        assert!(message.contains(&part), "{backend:?}: {part:?} not in {message}");
    }

    // The table is left as it was.
    let live = db.table_columns("products").await.unwrap().unwrap();
    let names: Vec<&str> = live.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "name", "price", "note", "legacy"]);
}

async fn nothing_is_created_when_one_table_differs(db: Database, backend: Backend) {
    make_drifted_products(&db, backend).await;
    // A tags table keyed on another column.
    let t = types(backend);
    let sql = format!(
        "CREATE TABLE tags (id {} NOT NULL, name {} NOT NULL PRIMARY KEY)",
        t.int,
        if backend == Backend::Sqlite { "TEXT" } else { "VARCHAR(20)" }
    );
    db.execute_raw(&sql, params! {}).await.unwrap();

    let found = mismatches(&db, &[Member::TABLE, Product::TABLE, Team::TABLE, Tag::TABLE]).await;
    let tables: Vec<&str> = found.iter().map(|m| m.table.as_str()).collect();
    assert_eq!(tables, ["products", "tags"], "{backend:?}: every differing table is named, and only those");
    assert_eq!(
        found[1].differences,
        [SchemaDifference::PrimaryKey { model: vec!["id".into()], table: vec!["name".into()] }],
        "{backend:?}"
    );
    let message = Error::SchemaMismatch(found).to_string();
    assert!(
        message.contains(
            r#"table "tags" differs from the model Tag: primary key: model has PRIMARY KEY ("id"), table has PRIMARY KEY ("name")"#
        ),
        "{message}"
    );

    for name in ["teams", "members"] {
        assert_eq!(db.table_columns(name).await.unwrap(), None, "{backend:?}: {name} was created despite the mismatch");
    }

    // With the drifted tables gone, the same call creates everything.
    db.execute_raw("DROP TABLE products", params! {}).await.unwrap();
    db.execute_raw("DROP TABLE tags", params! {}).await.unwrap();
    db.create_tables(&[Member::TABLE, Product::TABLE, Team::TABLE, Tag::TABLE]).await.unwrap();
    for name in ["teams", "members", "products", "tags"] {
        assert!(db.table_columns(name).await.unwrap().is_some(), "{backend:?}: {name}");
    }
}

async fn a_missing_primary_key_and_other_type_are_named(db: Database, backend: Backend) {
    // Model i64 key, table with an i32-sized key on the servers (SQLite declares both INTEGER).
    let sql = match backend {
        Backend::Sqlite => "CREATE TABLE teams (id INTEGER, name TEXT NOT NULL)",
        Backend::Postgres => "CREATE TABLE teams (id INTEGER, name VARCHAR(41) NOT NULL)",
        Backend::MariaDb => "CREATE TABLE teams (id INT, name VARCHAR(41) NOT NULL)",
    };
    db.execute_raw(sql, params! {}).await.unwrap();
    let found = mismatches(&db, &[Team::TABLE]).await;
    let d = &found[0].differences;
    let id_type = match db.dialect() {
        Dialect::Sqlite => None,
        Dialect::Postgres => Some(("BIGINT", "INTEGER")),
        Dialect::MySql => Some(("BIGINT", "INT")),
    };
    let mut expected = Vec::new();
    if let Some((model_type, table_type)) = id_type {
        expected.push(SchemaDifference::Type { column: "id".into(), model_type: model_type.into(), table_type: table_type.into() });
    }
    expected.push(SchemaDifference::Nullability { column: "id".into(), model_nullable: false });
    if backend != Backend::Sqlite {
        expected.push(SchemaDifference::Type { column: "name".into(), model_type: "VARCHAR(40)".into(), table_type: "VARCHAR(41)".into() });
    }
    expected.push(SchemaDifference::PrimaryKey { model: vec!["id".into()], table: vec![] });
    assert_eq!(*d, expected, "{backend:?}");
    assert!(found[0].to_string().contains("table has no primary key"), "{}", found[0]);
}

/// Version 1 of a table, as an earlier model made it.
mod v1 {
    use almacen::prelude::*;
    #[derive(Model, Debug, Clone)]
    #[model(table = "readings")]
    pub struct Reading {
        #[model(primary_key, auto)]
        pub id: i64,
        pub value: i32,
        pub flag: bool,
        pub note: String,
    }
}

/// The same table as the model now declares it: other types that SQLite declares alike
/// (`i32` → `i64` is `INTEGER` both times, `bool` → `i16` too, `String` → a timestamp is
/// `TEXT` both times); only the integers' CHECKs differ there.
mod v2 {
    use almacen::prelude::*;
    #[derive(Model, Debug, Clone)]
    #[model(table = "readings")]
    pub struct Reading {
        #[model(primary_key, auto)]
        pub id: i64,
        pub value: i64,
        pub flag: i16,
        pub note: DateTime<Utc>,
    }
}

/// A type change is found on every dialect, SQLite included, where the declared types are
/// the same and only the columns' whole definitions tell.
async fn types_sqlite_declares_alike_are_told_apart(db: Database, backend: Backend) {
    db.create_tables(&[v1::Reading::TABLE]).await.unwrap();
    db.create_tables(&[v1::Reading::TABLE]).await.expect("the same model again matches");
    let err = db.create_tables(&[v2::Reading::TABLE]).await.unwrap_err();
    let Error::SchemaMismatch(found) = &err else { panic!("{backend:?}: {err:?}") };
    let columns: Vec<&str> = found[0]
        .differences
        .iter()
        .map(|d| match d {
            SchemaDifference::Type { column, .. } | SchemaDifference::Definition { column, .. } => column.as_str(),
            other => panic!("{backend:?}: unexpected {other:?}"),
        })
        .collect();
    // SQLite writes text and timestamps alike (`TEXT`, no CHECK): that change it cannot see
    // (a stored text that is no timestamp is a decode error naming the column on read).
    let expected: &[&str] = if backend == Backend::Sqlite { &["value", "flag"] } else { &["value", "flag", "note"] };
    assert_eq!(columns, expected, "{backend:?}: {err}");
    if backend == Backend::Sqlite {
        assert!(found[0].differences.iter().all(|d| matches!(d, SchemaDifference::Definition { .. })), "{err}");
        let message = err.to_string();
        assert!(message.contains(r#"table has `"flag" INTEGER NOT NULL CHECK"#), "{message}");
    }
}

per_backend!(
    types_sqlite_declares_alike_are_told_apart,
    tables_made_by_create_tables_match_their_models,
    create_tables_twice_is_ok,
    a_drifted_table_is_refused_naming_every_difference,
    nothing_is_created_when_one_table_differs,
    a_missing_primary_key_and_other_type_are_named,
);
