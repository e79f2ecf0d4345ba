//! Revision operations rendered per dialect and run on real databases: the DDL of a created
//! table is almacen's own, and every change keeps the rows (SQLite's table rebuilds
//! included).

#[path = "../../almacen/tests/common/mod.rs"]
mod common;

use almacen::prelude::*;
use almacen::{Dialect, Statement, ddl};
use almacen_migrate::ops::Operation;
use almacen_migrate::render::render;
use almacen_migrate::schema::{Column, Default as ColumnDefault, ForeignKey, Index, OnDeleteAction, Table, Type};
use common::Backend;

#[derive(DbEnum, Debug, Clone, Copy, PartialEq, Eq, std::default::Default)]
enum Stage {
    #[default]
    Draft,
    Live,
}

#[derive(Model, Debug, Clone)]
#[model(table = "authors")]
struct Author {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40, unique)]
    name: String,
}

#[derive(Model, Debug, Clone)]
#[model(table = "books", unique("title", "author_id"), index("stage", "pages"))]
struct Book {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 100)]
    title: String,
    #[model(references = "authors.id", on_delete = "cascade", index)]
    author_id: i64,
    #[model(server_default = "'draft'")]
    stage: Stage,
    pages: Option<i32>,
    #[model(decimal(10, 2), server_default = "0")]
    price: Decimal,
    #[model(server_default = now)]
    added: DateTime<Utc>,
    on_loan: bool,
    cover: Option<Vec<u8>>,
    meta: Option<almacen::serde_json::Value>,
    key: Uuid,
}

const DIALECTS: [Dialect; 3] = [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql];

/// A created table is declared exactly as `create_tables` declares it from the model.
#[test]
fn create_table_is_almacens_own_ddl() {
    for d in DIALECTS {
        let mut schema = Vec::new();
        for table in [Author::TABLE, Book::TABLE] {
            let rendered = render(&Operation::CreateTable { table: Table::from_model(table) }, d, &mut schema).unwrap();
            let core: Vec<String> = ddl::create_table_sql(table, d).unwrap().iter().map(|s| s.replace(" IF NOT EXISTS", "")).collect();
            assert_eq!(rendered, core, "{d:?} {}", table.name);
        }
    }
}

/// A raw step without a text for the dialect is refused, never skipped.
#[test]
fn raw_sql_needs_a_text_for_the_dialect() {
    let op = Operation::Sql { all: None, sqlite: Some("SELECT 1".into()), postgres: None, mysql: None };
    assert_eq!(render(&op, Dialect::Sqlite, &mut Vec::new()).unwrap(), ["SELECT 1"]);
    let err = render(&op, Dialect::Postgres, &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("no text for postgres"), "{err}");
}

/// An operation that does not fit the schema is refused before any SQL is written.
#[test]
fn operations_must_fit_the_schema() {
    let op = Operation::DropColumn { table: "nowhere".into(), column: "x".into() };
    let err = render(&op, Dialect::Postgres, &mut Vec::new()).unwrap_err();
    assert_eq!(err.to_string(), "no table \"nowhere\"");
}

fn col(name: &str, ty: Type, nullable: bool) -> Column {
    Column { name: name.into(), ty, nullable, auto: false, default: None }
}

async fn run_op(db: &Database, schema: &mut Vec<Table>, op: Operation) {
    let statements = render(&op, db.dialect(), schema).unwrap();
    for sql in statements {
        if let Err(e) = db.execute_statement(Statement::new(sql.clone(), Vec::new())).await {
            panic!("{op:?}\n{sql}\nfailed: {e}");
        }
    }
}

async fn exec(db: &Database, sql: &str) -> almacen::Result<u64> {
    db.execute_statement(Statement::new(sql.to_string(), Vec::new())).await.map(|r| r.rows_affected)
}

async fn texts(db: &Database, sql: &str) -> Vec<String> {
    db.fetch_all_raw(sql, params! {}).await.unwrap().iter().map(|r| r.get::<String>("v").unwrap()).collect()
}

async fn count(db: &Database, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) AS n FROM {}", db.dialect().quote(table));
    db.fetch_all_raw(&sql, params! {}).await.unwrap()[0].get::<i64>("n").unwrap()
}

/// Each kind of change, on a populated table: the rows are still there after every step,
/// and the new shape is enforced (lengths, NOT NULL, enum values, unique indexes, keys).
async fn changes_keep_the_rows(db: Database, b: Backend) {
    if b == Backend::Sqlite {
        // Rebuilds run with foreign key enforcement off, as the runner runs them.
        exec(&db, "PRAGMA foreign_keys = OFF").await.unwrap();
    }
    let q = |s: &str| db.dialect().quote(s);
    let mut schema = Vec::new();
    let id = Column { auto: true, ..col("id", Type::BigInt, false) };
    let items = Table {
        name: "items".into(),
        columns: vec![id.clone(), col("name", Type::Text { max_len: Some(10) }, false), col("qty", Type::Integer, false)],
        primary_key: vec!["id".into()],
        indexes: vec![],
        foreign_keys: vec![],
    };
    run_op(&db, &mut schema, Operation::CreateTable { table: items }).await;
    for (name, qty) in [("apple", 3), ("pear", 5), ("fig", 7)] {
        exec(&db, &format!("INSERT INTO items (name, qty) VALUES ('{name}', {qty})")).await.unwrap();
    }
    let rows = |db: &Database, table: &'static str, column: &'static str| {
        let (db, sql) = (db.clone(), format!("SELECT {} AS v FROM {} ORDER BY {}", q(column), q(table), q(column)));
        async move { texts(&db, &sql).await }
    };
    let names = || rows(&db, "items", "name");
    assert_eq!(names().await, ["apple", "fig", "pear"]);

    // A NOT NULL column with a default, on a populated table (SQLite: a rebuild).
    let stage = Type::Enum { variants: vec!["draft".into(), "live".into()] };
    let status = Column { default: Some(ColumnDefault::Sql("'draft'".into())), ..col("status", stage.clone(), false) };
    run_op(&db, &mut schema, Operation::AddColumn { table: "items".into(), column: status.clone() }).await;
    assert_eq!(rows(&db, "items", "status").await, ["draft", "draft", "draft"]);
    let added = Column { default: Some(ColumnDefault::Now), ..col("added", Type::Timestamp, false) };
    run_op(&db, &mut schema, Operation::AddColumn { table: "items".into(), column: added }).await;
    // A nullable column without a default (SQLite: ALTER TABLE ADD COLUMN).
    run_op(&db, &mut schema, Operation::AddColumn { table: "items".into(), column: col("note", Type::Text { max_len: None }, true) }).await;
    exec(&db, "UPDATE items SET note = 'n'").await.unwrap();
    assert_eq!(names().await, ["apple", "fig", "pear"]);

    // Widen a text column; an over-long value is refused before, taken after.
    let long = "INSERT INTO items (name, qty, note) VALUES ('abcdefghijklmnop', 1, 'n')";
    assert!(exec(&db, long).await.is_err(), "a 16-character name fit a 10-character column");
    let (from, to) = (col("name", Type::Text { max_len: Some(10) }, false), col("name", Type::Text { max_len: Some(40) }, false));
    run_op(&db, &mut schema, Operation::AlterColumn { table: "items".into(), from, to }).await;
    exec(&db, long).await.unwrap();
    exec(&db, "DELETE FROM items WHERE qty = 1").await.unwrap();

    // Change a type with data: integer to bigint, then values only the new type holds.
    let (from, to) = (col("qty", Type::Integer, false), col("qty", Type::BigInt, false));
    run_op(&db, &mut schema, Operation::AlterColumn { table: "items".into(), from, to }).await;
    exec(&db, "UPDATE items SET qty = qty * 1000000000").await.unwrap();
    assert_eq!(count(&db, "items").await, 3);

    // Nullability: the note becomes required.
    let (from, to) = (col("note", Type::Text { max_len: None }, true), col("note", Type::Text { max_len: None }, false));
    run_op(&db, &mut schema, Operation::AlterColumn { table: "items".into(), from, to }).await;
    assert!(exec(&db, "INSERT INTO items (name, qty) VALUES ('kiwi', 1)").await.is_err(), "a NULL note was taken");

    // Enum values: one added (now accepted), one removed (now refused); a default changed.
    let wider = Type::Enum { variants: vec!["draft".into(), "live".into(), "gone".into()] };
    let to = Column { ty: wider.clone(), ..status.clone() };
    run_op(&db, &mut schema, Operation::AlterColumn { table: "items".into(), from: status.clone(), to: to.clone() }).await;
    exec(&db, "UPDATE items SET status = 'gone' WHERE name = 'fig'").await.unwrap();
    let narrower = Column {
        ty: Type::Enum { variants: vec!["draft".into(), "gone".into()] },
        default: Some(ColumnDefault::Sql("'gone'".into())),
        ..to.clone()
    };
    run_op(&db, &mut schema, Operation::AlterColumn { table: "items".into(), from: to, to: narrower }).await;
    assert!(exec(&db, "UPDATE items SET status = 'live'").await.is_err(), "a removed enum value was taken");
    exec(&db, "INSERT INTO items (name, qty, note) VALUES ('kiwi', 1, 'n')").await.unwrap();
    assert_eq!(texts(&db, "SELECT status AS v FROM items WHERE name = 'kiwi'").await, ["gone"]);

    // Rename a column and the table; the rows follow.
    run_op(&db, &mut schema, Operation::RenameColumn { table: "items".into(), from: "qty".into(), to: "quantity".into() }).await;
    run_op(&db, &mut schema, Operation::RenameTable { from: "items".into(), to: "products".into() }).await;
    assert_eq!(rows(&db, "products", "name").await, ["apple", "fig", "kiwi", "pear"]);
    assert_eq!(count(&db, "products").await, 4);

    // Indexes: a unique one as a model's `unique` column makes it, and a plain one.
    let uq = Index { name: "uq_products_name".into(), columns: vec!["name".into()], unique: true };
    run_op(&db, &mut schema, Operation::CreateIndex { table: "products".into(), index: uq }).await;
    assert!(
        exec(&db, "INSERT INTO products (name, quantity, note) VALUES ('fig', 1, 'n')").await.is_err(),
        "the unique name was not enforced"
    );
    let ix = Index { name: "ix_products_status_quantity".into(), columns: vec!["status".into(), "quantity".into()], unique: false };
    run_op(&db, &mut schema, Operation::CreateIndex { table: "products".into(), index: ix }).await;
    run_op(&db, &mut schema, Operation::DropIndex { table: "products".into(), name: "uq_products_name".into() }).await;
    exec(&db, "INSERT INTO products (name, quantity, note) VALUES ('fig', 1, 'n')").await.unwrap();
    run_op(&db, &mut schema, Operation::DropIndex { table: "products".into(), name: "ix_products_status_quantity".into() }).await;

    // Foreign keys, added to and dropped from a populated table.
    let orders = Table {
        name: "orders".into(),
        columns: vec![id.clone(), col("product_id", Type::BigInt, false)],
        primary_key: vec!["id".into()],
        indexes: vec![],
        foreign_keys: vec![],
    };
    run_op(&db, &mut schema, Operation::CreateTable { table: orders }).await;
    exec(&db, "INSERT INTO orders (product_id) SELECT id FROM products").await.unwrap();
    let fk = ForeignKey {
        name: "fk_orders_product_id".into(),
        column: "product_id".into(),
        ref_table: "products".into(),
        ref_column: "id".into(),
        on_delete: OnDeleteAction::Cascade,
    };
    run_op(&db, &mut schema, Operation::AddForeignKey { table: "orders".into(), foreign_key: fk }).await;
    if b == Backend::Sqlite {
        exec(&db, "PRAGMA foreign_keys = ON").await.unwrap();
    }
    assert!(exec(&db, "INSERT INTO orders (product_id) VALUES (999999)").await.is_err(), "the foreign key was not enforced");
    exec(&db, "DELETE FROM products WHERE name = 'kiwi'").await.unwrap();
    assert_eq!(count(&db, "orders").await, 4, "ON DELETE CASCADE");
    if b == Backend::Sqlite {
        exec(&db, "PRAGMA foreign_keys = OFF").await.unwrap();
    }
    // A rebuild of the referenced table keeps the rows that reference it.
    run_op(&db, &mut schema, Operation::DropColumn { table: "products".into(), column: "note".into() }).await;
    run_op(&db, &mut schema, Operation::DropForeignKey { table: "orders".into(), name: "fk_orders_product_id".into() }).await;
    exec(&db, "INSERT INTO orders (product_id) VALUES (999999)").await.unwrap();
    assert_eq!(count(&db, "orders").await, 5);
    assert_eq!(rows(&db, "products", "name").await, ["apple", "fig", "fig", "pear"]);

    run_op(&db, &mut schema, Operation::DropTable { table: "orders".into() }).await;
    run_op(&db, &mut schema, Operation::DropTable { table: "products".into() }).await;
    assert!(schema.is_empty());
}

per_backend!(changes_keep_the_rows);

/// Generated keys go on past the rows a table holds after any change: a key column made
/// generated on a populated table (PostgreSQL's identity starts at 1), and on SQLite a
/// rebuild, which must not hand out a deleted key again (AUTOINCREMENT's promise).
async fn keys_continue_after_changes(db: Database, _b: Backend) {
    let mut schema = Vec::new();
    let plain_id = col("id", Type::BigInt, false);
    let k = Table {
        name: "k".into(),
        columns: vec![plain_id.clone(), col("v", Type::Integer, false)],
        primary_key: vec!["id".into()],
        indexes: vec![],
        foreign_keys: vec![],
    };
    run_op(&db, &mut schema, Operation::CreateTable { table: k }).await;
    exec(&db, "INSERT INTO k (id, v) VALUES (1, 1), (2, 2), (3, 3)").await.unwrap();
    let auto_id = Column { auto: true, ..plain_id.clone() };
    run_op(&db, &mut schema, Operation::AlterColumn { table: "k".into(), from: plain_id, to: auto_id }).await;
    exec(&db, "INSERT INTO k (v) VALUES (4)").await.expect("the generated key collided with the rows there");
    let id_of = |v: i64| {
        let db = db.clone();
        async move { db.fetch_all_raw("SELECT id FROM k WHERE v = :v", params! { "v" => v }).await.unwrap()[0].get::<i64>("id").unwrap() }
    };
    assert_eq!(id_of(4).await, 4);

    // Delete the newest rows, then change the table (SQLite: a rebuild): a new row gets a
    // key never used before.
    exec(&db, "DELETE FROM k WHERE id >= 3").await.unwrap();
    let (from, to) =
        (col("v", Type::Integer, false), Column { default: Some(ColumnDefault::Sql("7".into())), ..col("v", Type::Integer, false) });
    run_op(&db, &mut schema, Operation::AlterColumn { table: "k".into(), from, to }).await;
    exec(&db, "INSERT INTO k (v) VALUES (5)").await.unwrap();
    assert_eq!(id_of(5).await, 5, "a deleted key was handed out again");
    assert_eq!(count(&db, "k").await, 3);
}

per_backend!(keys_continue_after_changes);
