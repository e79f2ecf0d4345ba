//! Autogenerate on SQLite, PostgreSQL and MariaDB: a corpus of schema changes, each run as
//! create v1 → insert rows → autogenerate against v2 → upgrade → the database compares
//! equal to v2 (and a second autogenerate plans nothing) → every value of every kept column
//! is still there, a new row goes in → downgrade → the database compares equal to v1
//! again, the values still there, a new row goes in. Plus: no operations for a schema
//! created from the models, renames marked and unmarked, tables the models do not own,
//! the NOT NULL refusal, and enum values added and removed.

#[path = "../../almacen/tests/common/mod.rs"]
mod common;
mod corpus;

use almacen::prelude::*;
use almacen::{Dialect, Statement, TableMeta, Value};
use almacen_migrate::autogenerate::{AutogenError, Options, Plan, autogenerate, autogenerate_tables, compare};
use almacen_migrate::cli::{Cli, Command, execute};
use almacen_migrate::equivalence::table_differences;
use almacen_migrate::introspect::{read_live_schema, read_schema};
use almacen_migrate::ops::Operation;
use almacen_migrate::render::render;
use almacen_migrate::schema::{Column, Default as SqlDefault, ForeignKey, Index, OnDeleteAction, Table, Type, from_models};
use clap::Parser;
use common::Backend;
use corpus::*;
use std::collections::BTreeMap;
use std::process::ExitCode;

// ---------------------------------------------------------------------------------------
// The model corpus of the introspection tests: a schema created from it plans nothing.
// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// Running plans on a real database.
// ---------------------------------------------------------------------------------------

async fn exec(db: &Database, sql: &str) -> almacen::Result<u64> {
    db.execute_statement(Statement::new(sql.to_string(), Vec::new())).await.map(|r| r.rows_affected)
}

/// Render and run `ops` from the live schema, as the runner does: on SQLite with foreign
/// key enforcement off around the table rebuilds, checked afterwards.
async fn run_ops(db: &Database, ops: &[Operation]) {
    let sqlite = db.dialect() == Dialect::Sqlite;
    if sqlite {
        exec(db, "PRAGMA foreign_keys = OFF").await.unwrap();
    }
    let mut schema = read_schema(db).await.unwrap();
    for op in ops {
        let statements = render(op, db.dialect(), &mut schema).unwrap_or_else(|e| panic!("{op:?} does not render: {e}"));
        for sql in statements {
            if let Err(e) = exec(db, &sql).await {
                panic!("{:?}: {op:?}\n{sql}\nfailed: {e}", db.dialect());
            }
        }
    }
    if sqlite {
        let broken = db.fetch_all_raw("PRAGMA foreign_key_check", params! {}).await.unwrap();
        assert!(broken.is_empty(), "rows break a foreign key after {ops:?}");
        exec(db, "PRAGMA foreign_keys = ON").await.unwrap();
    }
}

async fn create(db: &Database, tables: &[Table]) {
    let ops: Vec<Operation> = tables.iter().map(|t| Operation::CreateTable { table: t.clone() }).collect();
    run_ops(db, &ops).await;
}

/// Drop every table, referencing ones first (retrying those still referenced).
async fn drop_all(db: &Database) {
    for _ in 0..10 {
        let tables = read_schema(db).await.unwrap();
        if tables.is_empty() {
            return;
        }
        for t in tables {
            let _ = exec(db, &format!("DROP TABLE {}", db.dialect().quote(&t.name))).await;
        }
    }
    panic!("tables left: {:?}", read_schema(db).await.unwrap());
}

async fn count(db: &Database, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) AS n FROM {}", db.dialect().quote(table));
    db.fetch_all_raw(&sql, params! {}).await.unwrap()[0].get::<i64>("n").unwrap()
}

/// A value as text, the same whichever type holds it: an integer widened, or turned into
/// text, reads the same.
fn shown(v: &Value) -> String {
    match v {
        Value::Null(_) => "NULL".into(),
        Value::Int(i) => i.to_string(),
        Value::Text(t) => t.clone(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Decimal(d) => d.to_string(),
        other => format!("{other:?}"),
    }
}

/// Every row of `table` ordered by `key`, each as column → value shown as text.
async fn table_rows(db: &Database, table: &str, key: &str) -> Vec<BTreeMap<String, String>> {
    let q = |s: &str| db.dialect().quote(s);
    let sql = format!("SELECT * FROM {} ORDER BY {}", q(table), q(key));
    let rows = db.fetch_all_raw(&sql, params! {}).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter().map(|r| r.iter().map(|(c, v)| (c.to_string(), shown(v))).collect()).collect()
}

async fn texts(db: &Database, sql: &str) -> Vec<String> {
    db.fetch_all_raw(sql, params! {}).await.unwrap().iter().map(|r| r.get::<String>("v").unwrap()).collect()
}

/// Every difference between the database and `expected` (tables missing or extra included).
async fn schema_differences(db: &Database, expected: &[Table]) -> Vec<String> {
    let d = db.dialect();
    let live = read_schema(db).await.unwrap();
    let mut out = Vec::new();
    for t in expected {
        match live.iter().find(|l| l.name == t.name) {
            Some(l) => out.extend(table_differences(d, t, l).iter().map(|x| format!("{}: {x}", t.name))),
            None => out.push(format!("table {} is missing", t.name)),
        }
    }
    for l in &live {
        if !expected.iter().any(|t| t.name == l.name) {
            out.push(format!("extra table {}", l.name));
        }
    }
    out
}

/// One line per operation, for comparing plans.
fn summary(ops: &[Operation]) -> Vec<String> {
    ops.iter()
        .map(|op| match op {
            Operation::CreateTable { table } => format!("create_table {}", table.name),
            Operation::DropTable { table } => format!("drop_table {table}"),
            Operation::RenameTable { from, to } => format!("rename_table {from}->{to}"),
            Operation::AddColumn { table, column } => format!("add_column {table}.{}", column.name),
            Operation::DropColumn { table, column } => format!("drop_column {table}.{column}"),
            Operation::RenameColumn { table, from, to } => format!("rename_column {table}.{from}->{to}"),
            Operation::AlterColumn { table, to, .. } => format!("alter_column {table}.{}", to.name),
            Operation::CreateIndex { table, index } => format!("create_index {table}.{}", index.name),
            Operation::DropIndex { table, name } => format!("drop_index {table}.{name}"),
            Operation::AddForeignKey { table, foreign_key } => format!("add_foreign_key {table}.{}", foreign_key.name),
            Operation::DropForeignKey { table, name } => format!("drop_foreign_key {table}.{name}"),
            Operation::Sql { .. } => "sql".into(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The v1 schema the corpus changes.
// ---------------------------------------------------------------------------------------

fn col(name: &str, ty: Type, nullable: bool) -> Column {
    Column { name: name.into(), ty, nullable, auto: false, default: None }
}

fn id() -> Column {
    Column { auto: true, ..col("id", Type::BigInt, false) }
}

fn text(n: u32) -> Type {
    Type::Text { max_len: Some(n) }
}

fn status(values: &[&str]) -> Type {
    Type::Enum { variants: values.iter().map(|v| v.to_string()).collect() }
}

fn sql(s: &str) -> Option<SqlDefault> {
    Some(SqlDefault::Sql(s.into()))
}

fn index(name: &str, columns: &[&str], unique: bool) -> Index {
    Index { name: name.into(), columns: columns.iter().map(|c| c.to_string()).collect(), unique }
}

fn fk(table: &str, column: &str, ref_table: &str, on_delete: OnDeleteAction) -> ForeignKey {
    ForeignKey {
        name: format!("fk_{table}_{column}"),
        column: column.into(),
        ref_table: ref_table.into(),
        ref_column: "id".into(),
        on_delete,
    }
}

fn v1() -> Vec<Table> {
    let authors = Table {
        name: "authors".into(),
        columns: vec![id(), col("name", text(40), false), col("bio", Type::Text { max_len: None }, true)],
        primary_key: vec!["id".into()],
        indexes: vec![index("uq_authors_name", &["name"], true)],
        foreign_keys: vec![],
    };
    let books = Table {
        name: "books".into(),
        columns: vec![
            id(),
            col("title", text(100), false),
            col("author_id", Type::BigInt, false),
            col("pages", Type::Integer, true),
            Column { default: sql("'draft'"), ..col("status", status(&["draft", "live"]), false) },
        ],
        primary_key: vec!["id".into()],
        indexes: vec![index("ix_books_pages", &["pages"], false)],
        foreign_keys: vec![fk("books", "author_id", "authors", OnDeleteAction::Cascade)],
    };
    let notes = Table {
        name: "notes".into(),
        columns: vec![id(), col("body", Type::Text { max_len: None }, false), col("author_id", Type::BigInt, true)],
        primary_key: vec!["id".into()],
        indexes: vec![],
        foreign_keys: vec![],
    };
    vec![authors, books, notes]
}

const ROWS: [(&str, usize); 3] = [("authors", 2), ("books", 3), ("notes", 2)];

async fn insert_rows(db: &Database) {
    for sql in [
        "INSERT INTO authors (name, bio) VALUES ('ann', 'wrote things'), ('bo', NULL)",
        "INSERT INTO books (title, author_id, pages) VALUES ('one', 1, 120), ('two', 1, 80), ('three', 2, 300)",
        "INSERT INTO notes (body, author_id) VALUES ('remember', 1), ('forget', NULL)",
    ] {
        exec(db, sql).await.unwrap();
    }
}

fn table<'a>(tables: &'a mut [Table], name: &str) -> &'a mut Table {
    tables.iter_mut().find(|t| t.name == name).unwrap()
}

fn column<'a>(tables: &'a mut [Table], t: &str, c: &str) -> &'a mut Column {
    table(tables, t).columns.iter_mut().find(|x| x.name == c).unwrap()
}

/// One schema change: v2 made from v1, the options, and the upgrade expected.
struct Case {
    what: &'static str,
    change: fn(&mut Vec<Table>),
    options: Options,
    upgrade: &'static [&'static str],
}

fn corpus() -> Vec<Case> {
    let none = Options::default;
    vec![
        Case {
            what: "table created, in foreign-key order, with an index",
            change: |v| {
                // Declared before the table it references: created after it.
                v.insert(
                    0,
                    Table {
                        name: "reviews".into(),
                        columns: vec![id(), col("shelf_id", Type::BigInt, false), col("stars", Type::SmallInt, false)],
                        primary_key: vec!["id".into()],
                        indexes: vec![index("ix_reviews_stars", &["stars"], false)],
                        foreign_keys: vec![fk("reviews", "shelf_id", "shelves", OnDeleteAction::NoAction)],
                    },
                );
                v.push(Table {
                    name: "shelves".into(),
                    columns: vec![id(), col("label", text(20), false)],
                    primary_key: vec!["id".into()],
                    indexes: vec![],
                    foreign_keys: vec![],
                });
            },
            options: none(),
            upgrade: &["create_table shelves", "create_table reviews"],
        },
        Case {
            what: "table dropped (the models own the database)",
            change: |v| v.retain(|t| t.name != "notes"),
            options: Options::default().owning_database(),
            upgrade: &["drop_table notes"],
        },
        Case {
            what: "nullable column added",
            change: |v| table(v, "books").columns.push(col("isbn", text(20), true)),
            options: none(),
            upgrade: &["add_column books.isbn"],
        },
        Case {
            what: "NOT NULL column with a default added to a populated table",
            change: |v| table(v, "books").columns.push(Column { default: sql("0"), ..col("rating", Type::Integer, false) }),
            options: none(),
            upgrade: &["add_column books.rating"],
        },
        Case {
            what: "column dropped",
            change: |v| table(v, "authors").columns.retain(|c| c.name != "bio"),
            options: none(),
            upgrade: &["drop_column authors.bio"],
        },
        Case {
            what: "text column widened",
            change: |v| column(v, "books", "title").ty = text(200),
            options: none(),
            upgrade: &["alter_column books.title"],
        },
        Case {
            what: "integer widened, with data",
            change: |v| column(v, "books", "pages").ty = Type::BigInt,
            options: none(),
            upgrade: &["alter_column books.pages"],
        },
        Case {
            what: "integer to text, with data",
            change: |v| column(v, "books", "pages").ty = text(20),
            options: none(),
            upgrade: &["alter_column books.pages"],
        },
        Case {
            what: "a key and the column referencing it change type, with data",
            change: |v| {
                column(v, "authors", "id").ty = Type::Integer;
                column(v, "books", "author_id").ty = Type::Integer;
            },
            options: none(),
            upgrade: &[
                "drop_foreign_key books.fk_books_author_id",
                "alter_column authors.id",
                "alter_column books.author_id",
                "add_foreign_key books.fk_books_author_id",
            ],
        },
        Case {
            what: "nullability tightened and loosened",
            change: |v| {
                column(v, "books", "pages").nullable = false;
                column(v, "books", "title").nullable = true;
            },
            options: none(),
            upgrade: &["alter_column books.title", "alter_column books.pages"],
        },
        Case {
            what: "defaults changed, added and dropped",
            change: |v| {
                column(v, "books", "status").default = sql("'live'");
                column(v, "books", "pages").default = sql("0");
                column(v, "notes", "body").default = sql("'it''s'");
            },
            options: none(),
            upgrade: &["alter_column books.pages", "alter_column books.status", "alter_column notes.body"],
        },
        Case {
            what: "default dropped",
            change: |v| column(v, "books", "status").default = None,
            options: none(),
            upgrade: &["alter_column books.status"],
        },
        Case {
            what: "enum value added",
            change: |v| column(v, "books", "status").ty = status(&["draft", "live", "gone"]),
            options: none(),
            upgrade: &["alter_column books.status"],
        },
        Case {
            what: "enum value removed",
            change: |v| column(v, "books", "status").ty = status(&["draft"]),
            options: none(),
            upgrade: &["alter_column books.status"],
        },
        Case {
            what: "generated key made plain",
            change: |v| {
                column(v, "notes", "id").auto = false;
            },
            options: none(),
            upgrade: &["alter_column notes.id"],
        },
        Case {
            what: "indexes created and dropped",
            change: |v| {
                let books = table(v, "books");
                books.indexes = vec![index("ix_books_status_pages", &["status", "pages"], false)];
            },
            options: none(),
            upgrade: &["drop_index books.ix_books_pages", "create_index books.ix_books_status_pages"],
        },
        Case {
            what: "unique constraints created and dropped",
            change: |v| {
                table(v, "authors").indexes.clear();
                let books = table(v, "books");
                books.indexes.push(index("uq_books_title", &["title"], true));
                books.indexes.push(index("uq_books_title_author_id", &["title", "author_id"], true));
            },
            options: none(),
            upgrade: &[
                "drop_index authors.uq_authors_name",
                "create_index books.uq_books_title",
                "create_index books.uq_books_title_author_id",
            ],
        },
        Case {
            what: "foreign key added",
            change: |v| table(v, "notes").foreign_keys.push(fk("notes", "author_id", "authors", OnDeleteAction::SetNull)),
            options: none(),
            upgrade: &["add_foreign_key notes.fk_notes_author_id"],
        },
        Case {
            what: "foreign key dropped",
            change: |v| table(v, "books").foreign_keys.clear(),
            options: none(),
            upgrade: &["drop_foreign_key books.fk_books_author_id"],
        },
        Case {
            what: "foreign key's ON DELETE changed",
            change: |v| table(v, "books").foreign_keys[0].on_delete = OnDeleteAction::NoAction,
            options: none(),
            upgrade: &["drop_foreign_key books.fk_books_author_id", "add_foreign_key books.fk_books_author_id"],
        },
        Case {
            what: "column dropped with its foreign key and index",
            change: |v| {
                let books = table(v, "books");
                books.columns.retain(|c| c.name != "pages");
                books.indexes.clear();
                let notes = table(v, "notes");
                notes.columns.retain(|c| c.name != "author_id");
            },
            options: none(),
            upgrade: &["drop_index books.ix_books_pages", "drop_column books.pages", "drop_column notes.author_id"],
        },
        Case {
            what: "table rename, marked",
            change: |v| table(v, "notes").name = "memos".into(),
            options: Options::default().rename_table("notes", "memos"),
            upgrade: &["rename_table notes->memos"],
        },
        Case {
            what: "referenced table renamed, marked: the keys follow",
            change: |v| {
                // The unique constraint keeps the name it was created under (see
                // `unique_constraint_of_a_renamed_table` for renaming it).
                table(v, "authors").name = "writers".into();
                table(v, "books").foreign_keys[0].ref_table = "writers".into();
            },
            options: Options::default().rename_table("authors", "writers"),
            upgrade: &["rename_table authors->writers"],
        },
        Case {
            what: "column rename, marked, with a type change",
            change: |v| {
                let pages = column(v, "books", "pages");
                pages.name = "page_count".into();
                pages.ty = Type::BigInt;
                table(v, "books").indexes[0].columns = vec!["page_count".into()];
            },
            options: Options::default().rename_column("books", "pages", "page_count"),
            upgrade: &["rename_column books.pages->page_count", "alter_column books.page_count"],
        },
    ]
}

/// Rows per table, each as column → value shown as text (see [`shown`]), ordered by `id`.
type Snapshot = BTreeMap<String, Vec<BTreeMap<String, String>>>;

/// Every row of every table of `tables` (all keyed by `id`).
async fn snapshot(db: &Database, tables: &[Table]) -> Snapshot {
    let mut out = Snapshot::new();
    for t in tables {
        out.insert(t.name.clone(), table_rows(db, &t.name, "id").await);
    }
    out
}

impl Case {
    /// The name table `t` of v1 has in v2.
    fn table_in_v2<'a>(&'a self, t: &'a str) -> &'a str {
        self.options.table_renames.iter().find(|(from, _)| from == t).map_or(t, |(_, to)| to.as_str())
    }

    /// The name column `c` of v1's table `t` has in v2.
    fn column_in_v2<'a>(&'a self, t: &str, c: &'a str) -> &'a str {
        let t = self.table_in_v2(t);
        self.options.column_renames.iter().find(|r| r.table == t && r.from == c).map_or(c, |r| r.to.as_str())
    }
}

/// A value of column `c` for a new row whose key will be `next_key`, as a SQL literal,
/// that every type v1 and v2 give the column can hold: text of digits (a text column turned
/// back into an integer takes it), the key's (unique constraints take it).
fn sample(c: &Column, key: bool, next_key: i64) -> String {
    match &c.ty {
        _ if key => next_key.to_string(),
        Type::Enum { variants } => format!("'{}'", variants[0]),
        Type::Text { .. } => format!("'{next_key}'"),
        Type::Bool => "TRUE".into(),
        _ => "1".into(),
    }
}

/// Insert one row into `table`, every column given a value but a generated key: the insert
/// must succeed (a generated key restarting at 1 collides with the rows there), and the
/// new row's key comes after every key already there.
async fn insert_one(db: &Database, table: &Table, what: &str) {
    let q = |s: &str| db.dialect().quote(s);
    let max_id = || async {
        let sql = format!("SELECT MAX(id) AS n FROM {}", q(&table.name));
        db.fetch_all_raw(&sql, params! {}).await.unwrap()[0].get::<Option<i64>>("n").unwrap().unwrap_or(0)
    };
    let before = max_id().await;
    let columns: Vec<&Column> = table.columns.iter().filter(|c| !c.auto).collect();
    let names: Vec<String> = columns.iter().map(|c| q(&c.name)).collect();
    let values: Vec<String> = columns.iter().map(|c| sample(c, table.primary_key.contains(&c.name), before + 1)).collect();
    let sql = format!("INSERT INTO {} ({}) VALUES ({})", q(&table.name), names.join(", "), values.join(", "));
    if let Err(e) = exec(db, &sql).await {
        panic!("{what}: a new row in {}: {sql}: {e}", table.name);
    }
    assert!(max_id().await > before, "{what}: the new row of {} comes after the others", table.name);
}

/// A table's columns kept from one schema to another: (name then, name now).
type KeptColumns = Vec<(String, String)>;

/// The rows of `now` (ordered by key) hold, in every column `kept` maps from a column of
/// `then`, the values they held then; `then` has no more rows than `now` (rows added since
/// come last).
fn same_values(what: &str, table: &str, then: &[BTreeMap<String, String>], now: &[BTreeMap<String, String>], kept: &[(String, String)]) {
    assert!(now.len() >= then.len(), "{what}: {table} had {} rows, has {}", then.len(), now.len());
    for (i, (old, new)) in then.iter().zip(now).enumerate() {
        for (from, to) in kept {
            assert_eq!(old.get(from), new.get(to), "{what}: {table} row {i}: column {from} (now {to}): {old:?} became {new:?}");
        }
    }
}

/// The whole round trip for one case. Every value of every column v2 keeps is the same
/// after the upgrade (an integer widened or turned into text keeps its digits) and after
/// the downgrade; a column added holds its default; a new row goes in after the upgrade
/// and after the downgrade.
async fn round_trip(db: &Database, case: &Case) {
    let what = format!("{:?}: {}", db.dialect(), case.what);
    drop_all(db).await;
    let v1 = v1();
    let mut v2 = v1.clone();
    (case.change)(&mut v2);
    create(db, &v1).await;
    insert_rows(db).await;
    assert!(schema_differences(db, &v1).await.is_empty(), "{what}: v1 as created");
    let before = snapshot(db, &v1).await;
    for (t, n) in ROWS {
        assert_eq!(before[t].len(), n, "{what}: rows of {t}");
    }

    let plan = autogenerate_tables(db, &v2, &case.options).await.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(summary(&plan.upgrade), case.upgrade, "{what}: upgrade {:#?}", plan.upgrade);
    run_ops(db, &plan.upgrade).await;
    let left = schema_differences(db, &v2).await;
    assert!(left.is_empty(), "{what}: after the upgrade: {left:#?}");
    let again = autogenerate_tables(db, &v2, &case.options).await.unwrap();
    assert!(again.is_empty(), "{what}: a second autogenerate plans {:#?}", again.upgrade);

    // v1's columns that v2 keeps, per v1 table v2 keeps: (v1 name, v2 name).
    let mut kept: Vec<(&Table, &Table, KeptColumns)> = Vec::new();
    for old in &v1 {
        let Some(new) = v2.iter().find(|t| t.name == case.table_in_v2(&old.name)) else { continue };
        let columns = old
            .columns
            .iter()
            .map(|c| (c.name.clone(), case.column_in_v2(&old.name, &c.name).to_string()))
            .filter(|(_, to)| new.column(to).is_some())
            .collect();
        kept.push((old, new, columns));
    }
    let after = snapshot(db, &kept.iter().map(|(_, new, _)| (*new).clone()).collect::<Vec<_>>()).await;
    for (old, new, columns) in &kept {
        let rows = &after[&new.name];
        assert_eq!(rows.len(), before[&old.name].len(), "{what}: rows of {} after the upgrade", new.name);
        same_values(&format!("{what}: after the upgrade"), &new.name, &before[&old.name], rows, columns);
        for added in new.columns.iter().filter(|c| !columns.iter().any(|(_, to)| *to == c.name)) {
            let expected = match &added.default {
                Some(SqlDefault::Sql(s)) => s.trim_matches('\'').to_string(),
                _ => "NULL".to_string(),
            };
            for row in rows {
                assert_eq!(row[&added.name], expected, "{what}: {}.{} added to a row there: {row:?}", new.name, added.name);
            }
        }
    }
    for (_, new, _) in &kept {
        insert_one(db, new, &format!("{what}: after the upgrade")).await;
    }

    run_ops(db, &plan.downgrade).await;
    let left = schema_differences(db, &v1).await;
    assert!(left.is_empty(), "{what}: after the downgrade: {left:#?}");
    let back = snapshot(db, &v1).await;
    for (old, _, columns) in &kept {
        // The rows of v1, then the one added after the upgrade; the columns v2 dropped come
        // back empty.
        assert_eq!(back[&old.name].len(), before[&old.name].len() + 1, "{what}: rows of {} after the downgrade", old.name);
        let unchanged: KeptColumns = columns.iter().map(|(from, _)| (from.clone(), from.clone())).collect();
        same_values(&format!("{what}: after the downgrade"), &old.name, &before[&old.name], &back[&old.name], &unchanged);
    }
    for old in &v1 {
        insert_one(db, old, &format!("{what}: after the downgrade")).await;
    }
}

async fn corpus_round_trips(db: Database, _b: Backend) {
    for case in corpus() {
        round_trip(&db, &case).await;
    }
}

// ---------------------------------------------------------------------------------------
// No false positives.
// ---------------------------------------------------------------------------------------

/// A schema created from the models (by `create_tables`, or by the rendered operations)
/// plans zero operations.
async fn models_plan_nothing(db: Database, b: Backend) {
    db.create_tables(CORPUS).await.unwrap();
    let plan = autogenerate(&db, CORPUS, &Options::default()).await.unwrap();
    assert!(plan.is_empty() && plan.downgrade.is_empty(), "{b:?}: created by create_tables: {:#?}", plan.upgrade);
    assert!(plan.untouched.is_empty(), "{b:?}");
    drop_all(&db).await;
    let mut ordered: Vec<&TableMeta> = almacen::ddl::dependency_order(CORPUS).unwrap();
    ordered.dedup_by_key(|t| t.name);
    create(&db, &from_models(&ordered)).await;
    let plan = autogenerate(&db, CORPUS, &Options::default()).await.unwrap();
    assert!(plan.is_empty(), "{b:?}: created by rendered operations: {:#?}", plan.upgrade);
}

// ---------------------------------------------------------------------------------------
// Renames.
// ---------------------------------------------------------------------------------------

/// The rename mark a warning suggests (the first `--…` between backticks), given to the
/// real `migrate revision` command line: the tables and columns it marks (a flag that does
/// not exist fails here).
fn suggested_marks(note: &str) -> (Vec<String>, Vec<String>) {
    let mark = note.split('`').find(|s| s.starts_with("--")).unwrap_or_else(|| panic!("no command-line mark in {note:?}"));
    let mut argv = vec!["migrate", "revision", "-m", "x", "--autogenerate"];
    argv.extend(mark.split_whitespace());
    match Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("the suggested {mark:?} is not a flag of `migrate revision`: {e}")).command {
        Command::Revision { rename_tables, rename_columns, .. } => (rename_tables, rename_columns),
        other => panic!("{other:?}"),
    }
}

/// Unmarked, a rename is a drop plus an add with a warning above the drop; marked, it is a
/// rename and the data is kept.
async fn renames_marked_and_unmarked(db: Database, _b: Backend) {
    let d = db.dialect();
    create(&db, &v1()).await;
    insert_rows(&db).await;
    let mut v2 = v1();
    column(&mut v2, "authors", "bio").name = "about".into();

    let plan = autogenerate_tables(&db, &v2, &Options::default()).await.unwrap();
    assert_eq!(summary(&plan.upgrade), ["drop_column authors.bio", "add_column authors.about"]);
    let notes: Vec<&str> = plan.notes_for(0).collect();
    assert_eq!(notes.len(), 1, "{d:?}: {:?}", plan.notes);
    for part in
        ["looks like a rename", "will be lost", "--rename-column authors.bio=about", "rename_column(\"authors\", \"bio\", \"about\")"]
    {
        assert!(notes[0].contains(part), "{d:?}: the warning says {part:?}: {}", notes[0]);
    }
    let (_, columns) = suggested_marks(notes[0]);
    assert_eq!(columns, ["authors.bio=about"], "{d:?}: the command line takes the mark the warning suggests");

    let marked = Options::default().mark_rename("authors.bio -> about").unwrap();
    let plan = autogenerate_tables(&db, &v2, &marked).await.unwrap();
    assert_eq!(summary(&plan.upgrade), ["rename_column authors.bio->about"]);
    assert!(plan.notes.is_empty(), "{:?}", plan.notes);
    run_ops(&db, &plan.upgrade).await;
    assert_eq!(texts(&db, "SELECT about AS v FROM authors WHERE about IS NOT NULL").await, ["wrote things"], "{d:?}: the data is kept");
    assert!(autogenerate_tables(&db, &v2, &marked).await.unwrap().is_empty(), "{d:?}: a rename already made is not made again");
    run_ops(&db, &plan.downgrade).await;
    assert_eq!(texts(&db, "SELECT bio AS v FROM authors WHERE bio IS NOT NULL").await, ["wrote things"], "{d:?}: and back");

    // A table: unmarked, a warning above the new table (the old one is left alone).
    let mut v2 = v1();
    table(&mut v2, "notes").name = "memos".into();
    let plan = autogenerate_tables(&db, &v2, &Options::default()).await.unwrap();
    assert_eq!(summary(&plan.upgrade), ["create_table memos"]);
    assert_eq!(plan.untouched, ["notes"]);
    assert!(plan.notes_for(0).any(|n| n.contains("looks like a rename") && n.contains("--rename-table notes=memos")), "{:?}", plan.notes);
    let (tables, _) = suggested_marks(plan.notes_for(0).next().unwrap());
    assert_eq!(tables, ["notes=memos"], "{d:?}: the command line takes the mark the warning suggests");
    let owning = Options::default().owning_database();
    let plan = autogenerate_tables(&db, &v2, &owning).await.unwrap();
    assert_eq!(summary(&plan.upgrade), ["drop_table notes", "create_table memos"]);
    assert!(plan.notes_for(0).any(|n| n.contains("rows will be lost")), "{:?}", plan.notes);
    let marked = Options::default().mark_rename("notes -> memos").unwrap();
    let plan = autogenerate_tables(&db, &v2, &marked).await.unwrap();
    assert_eq!(summary(&plan.upgrade), ["rename_table notes->memos"]);
    run_ops(&db, &plan.upgrade).await;
    assert_eq!(count(&db, "memos").await, 2, "{d:?}: the rows are kept");

    // A mark that does not fit is refused, naming it.
    let wrong = Options::default().rename_column("books", "nothing", "nowhere");
    let err = autogenerate_tables(&db, &v1(), &wrong).await.unwrap_err();
    assert!(err.to_string().contains("\"books.nothing\" -> \"nowhere\": the model of \"books\" has no column \"nowhere\""), "{err}");
}

// ---------------------------------------------------------------------------------------
// Tables the models do not own.
// ---------------------------------------------------------------------------------------

async fn foreign_tables_are_left_alone(db: Database, _b: Backend) {
    let mut tables = v1();
    let other = |name: &str| Table {
        name: name.into(),
        columns: vec![id(), col("x", Type::Integer, true)],
        primary_key: vec!["id".into()],
        indexes: vec![],
        foreign_keys: vec![],
    };
    tables.extend([other("almacen_version"), other("billing_invoices"), other("billing_lines"), other("legacy")]);
    create(&db, &tables).await;
    let models = v1();
    let ignoring = Options::default().ignore_prefix("billing_");
    let plan = autogenerate_tables(&db, &models, &ignoring).await.unwrap();
    assert!(plan.is_empty(), "{:#?}", plan.upgrade);
    assert_eq!(plan.untouched, ["legacy"], "not ignored, not owned: listed, not dropped");

    let plan = autogenerate_tables(&db, &models, &ignoring.clone().owning_database()).await.unwrap();
    assert_eq!(summary(&plan.upgrade), ["drop_table legacy"], "the version table and the ignored ones stay");
    run_ops(&db, &plan.upgrade).await;
    let names: Vec<String> = read_schema(&db).await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["almacen_version", "authors", "billing_invoices", "billing_lines", "books", "notes"]);

    let by_name = Options::default().ignore_table("billing_invoices").owning_database();
    let plan = autogenerate_tables(&db, &models, &by_name).await.unwrap();
    assert_eq!(summary(&plan.upgrade), ["drop_table billing_lines"]);
}

// ---------------------------------------------------------------------------------------
// What the rows make fail.
// ---------------------------------------------------------------------------------------

async fn not_null_without_default_is_refused_on_rows(db: Database, _b: Backend) {
    let d = db.dialect();
    create(&db, &v1()).await;
    let mut v2 = v1();
    table(&mut v2, "books").columns.push(col("isbn", text(20), false));
    // Empty table: allowed, and it applies.
    let plan = autogenerate_tables(&db, &v2, &Options::default()).await.unwrap();
    assert_eq!(summary(&plan.upgrade), ["add_column books.isbn"]);
    run_ops(&db, &plan.upgrade).await;
    run_ops(&db, &plan.downgrade).await;

    insert_rows(&db).await;
    let err = autogenerate_tables(&db, &v2, &Options::default()).await.unwrap_err();
    match &err {
        AutogenError::Refused { table, column, .. } => assert_eq!((table.as_str(), column.as_str()), ("books", "isbn")),
        other => panic!("{d:?}: {other}"),
    }
    let message = err.to_string();
    for part in ["\"books\".\"isbn\"", "NOT NULL without a server default", "has rows", "server default", "nullable"] {
        assert!(message.contains(part), "{d:?}: the message says {part:?}: {message}");
    }

    // Made NOT NULL while NULLs are there: refused; once they are filled: planned.
    let mut v2 = v1();
    column(&mut v2, "authors", "bio").nullable = false;
    let err = autogenerate_tables(&db, &v2, &Options::default()).await.unwrap_err();
    assert!(err.to_string().contains("\"authors\".\"bio\" NOT NULL: it holds NULLs"), "{d:?}: {err}");
    exec(&db, "UPDATE authors SET bio = '' WHERE bio IS NULL").await.unwrap();
    let plan = autogenerate_tables(&db, &v2, &Options::default()).await.unwrap();
    run_ops(&db, &plan.upgrade).await;
    assert!(schema_differences(&db, &v2).await.is_empty());
}

// ---------------------------------------------------------------------------------------
// Enum values, through models declared twice under one table name.
// ---------------------------------------------------------------------------------------

mod v1 {
    use almacen::prelude::*;

    #[derive(DbEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum Stage {
        #[default]
        Draft,
        Live,
    }

    #[derive(Model, Debug, Clone)]
    #[model(table = "posts")]
    pub struct Post {
        #[model(primary_key, auto)]
        pub id: i64,
        pub stage: Stage,
    }
}

mod v2 {
    use almacen::prelude::*;

    #[derive(DbEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum Stage {
        #[default]
        Draft,
        Live,
        Archived,
    }

    #[derive(Model, Debug, Clone)]
    #[model(table = "posts")]
    pub struct Post {
        #[model(primary_key, auto)]
        pub id: i64,
        pub stage: Stage,
    }
}

async fn enum_values_added_and_removed(db: Database, b: Backend) {
    db.create_tables(&[v1::Post::TABLE]).await.unwrap();
    exec(&db, "INSERT INTO posts (stage) VALUES ('draft'), ('live')").await.unwrap();
    let added = autogenerate(&db, &[v2::Post::TABLE], &Options::default()).await.unwrap();
    assert_eq!(summary(&added.upgrade), ["alter_column posts.stage"], "{b:?}: a value added is seen");
    run_ops(&db, &added.upgrade).await;
    exec(&db, "INSERT INTO posts (stage) VALUES ('archived')").await.unwrap();
    exec(&db, "DELETE FROM posts WHERE stage = 'archived'").await.unwrap();

    let removed = autogenerate(&db, &[v1::Post::TABLE], &Options::default()).await.unwrap();
    assert_eq!(summary(&removed.upgrade), ["alter_column posts.stage"], "{b:?}: a value removed is seen");
    assert!(removed.notes_for(0).any(|n| n.contains("[\"archived\"]") && n.contains("removed")), "{b:?}: {:?}", removed.notes);
    run_ops(&db, &removed.upgrade).await;
    assert!(exec(&db, "INSERT INTO posts (stage) VALUES ('archived')").await.is_err(), "{b:?}: the removed value is refused");
    assert_eq!(count(&db, "posts").await, 2);
    assert!(autogenerate(&db, &[v1::Post::TABLE], &Options::default()).await.unwrap().is_empty());
}

/// Mixed case and spaces in table and column names all the way through: the refusal's
/// row check, a marked column rename, an added column, and back.
async fn odd_identifiers(db: Database, b: Backend) {
    let d = db.dialect();
    let q = |s: &str| d.quote(s);
    db.create_tables(&[Odd::TABLE]).await.unwrap();
    let insert = format!("INSERT INTO {} ({}, {}) VALUES ('x', 'y')", q("Odd Table"), q("Mixed Case"), q("with space"));
    exec(&db, &insert).await.unwrap();
    let v1 = from_models(&[Odd::TABLE]);
    let mut v2 = v1.clone();
    table(&mut v2, "Odd Table").columns.push(col("New Col", Type::Integer, false));
    let err = autogenerate_tables(&db, &v2, &Options::default()).await.unwrap_err();
    assert!(err.to_string().contains("cannot add column \"Odd Table\".\"New Col\""), "{b:?}: {err}");

    column(&mut v2, "Odd Table", "New Col").default = sql("0");
    column(&mut v2, "Odd Table", "with space").name = "with spaces".into();
    table(&mut v2, "Odd Table")
        .indexes
        .iter_mut()
        .flat_map(|ix| ix.columns.iter_mut())
        .filter(|c| *c == "with space")
        .for_each(|c| *c = "with spaces".into());
    let options = Options::default().mark_rename("Odd Table.with space -> with spaces").unwrap();
    let plan = autogenerate_tables(&db, &v2, &options).await.unwrap();
    assert_eq!(summary(&plan.upgrade), ["rename_column Odd Table.with space->with spaces", "add_column Odd Table.New Col"], "{b:?}");
    run_ops(&db, &plan.upgrade).await;
    assert!(schema_differences(&db, &v2).await.is_empty(), "{b:?}: {:#?}", schema_differences(&db, &v2).await);
    let sql = format!("SELECT {} AS v FROM {}", q("with spaces"), q("Odd Table"));
    assert_eq!(texts(&db, &sql).await, ["y"], "{b:?}: the renamed column keeps its data");
    run_ops(&db, &plan.downgrade).await;
    assert!(schema_differences(&db, &v1).await.is_empty(), "{b:?}: {:#?}", schema_differences(&db, &v1).await);
}

// ---------------------------------------------------------------------------------------
// Type changes of the columns a foreign key uses.
// ---------------------------------------------------------------------------------------

/// `fa` (a key referenced by `fb` and by itself) and `fb`, every key column `i32`.
fn keyed_v1() -> Vec<Table> {
    let key = |table: &str, column: &str, on_delete| ForeignKey {
        name: format!("fk_{table}_{column}"),
        column: column.into(),
        ref_table: "fa".into(),
        ref_column: "id".into(),
        on_delete,
    };
    let int_id = || Column { auto: true, ..col("id", Type::Integer, false) };
    let fa = Table {
        name: "fa".into(),
        columns: vec![int_id(), col("parent_id", Type::Integer, true), col("label", text(20), false)],
        primary_key: vec!["id".into()],
        indexes: vec![],
        foreign_keys: vec![key("fa", "parent_id", OnDeleteAction::SetNull)],
    };
    let fb = Table {
        name: "fb".into(),
        columns: vec![int_id(), col("a_id", Type::Integer, false)],
        primary_key: vec!["id".into()],
        indexes: vec![index("ix_fb_a_id", &["a_id"], false)],
        foreign_keys: vec![key("fb", "a_id", OnDeleteAction::Cascade)],
    };
    vec![fa, fb]
}

/// Every key column of `keyed_v1` widened to `i64`.
fn keyed_v2() -> Vec<Table> {
    let mut v = keyed_v1();
    for (t, c) in [("fa", "id"), ("fa", "parent_id"), ("fb", "id"), ("fb", "a_id")] {
        column(&mut v, t, c).ty = Type::BigInt;
    }
    v
}

async fn keyed_rows(db: &Database) -> Vec<BTreeMap<String, String>> {
    let mut out = table_rows(db, "fa", "id").await;
    out.extend(table_rows(db, "fb", "id").await);
    out
}

/// MariaDB refuses to change the type of a column a foreign key uses, from either end
/// (error 1833): the plan drops the keys first and adds them back after, on every dialect,
/// and the downgrade mirrors it. Rows reference each other throughout, the keys still hold
/// afterwards, and a key beyond `i32` fits once widened.
async fn key_columns_change_type(db: Database, b: Backend) {
    create(&db, &keyed_v1()).await;
    for sql in [
        "INSERT INTO fa (label, parent_id) VALUES ('root', NULL)",
        "INSERT INTO fa (label, parent_id) VALUES ('child', 1)",
        "INSERT INTO fb (a_id) VALUES (1), (2), (2)",
    ] {
        exec(&db, sql).await.unwrap();
    }
    let before = keyed_rows(&db).await;
    assert_eq!(before.len(), 5);

    let plan = autogenerate_tables(&db, &keyed_v2(), &Options::default()).await.unwrap_or_else(|e| panic!("{b:?}: {e}"));
    // Run first: without the keys dropped around the alterations, MariaDB fails here.
    run_ops(&db, &plan.upgrade).await;
    assert_eq!(
        summary(&plan.upgrade),
        [
            "drop_foreign_key fa.fk_fa_parent_id",
            "drop_foreign_key fb.fk_fb_a_id",
            "alter_column fa.id",
            "alter_column fa.parent_id",
            "alter_column fb.id",
            "alter_column fb.a_id",
            "add_foreign_key fa.fk_fa_parent_id",
            "add_foreign_key fb.fk_fb_a_id",
        ],
        "{b:?}"
    );
    assert!(plan.notes_for(0).any(|n| n.contains("added back") && n.contains("MariaDB")), "{b:?}: {:?}", plan.notes);
    assert_eq!(
        summary(&plan.downgrade),
        [
            "drop_foreign_key fb.fk_fb_a_id",
            "drop_foreign_key fa.fk_fa_parent_id",
            "alter_column fb.a_id",
            "alter_column fb.id",
            "alter_column fa.parent_id",
            "alter_column fa.id",
            "add_foreign_key fb.fk_fb_a_id",
            "add_foreign_key fa.fk_fa_parent_id",
        ],
        "{b:?}"
    );
    assert!(schema_differences(&db, &keyed_v2()).await.is_empty(), "{b:?}: {:#?}", schema_differences(&db, &keyed_v2()).await);
    assert!(autogenerate_tables(&db, &keyed_v2(), &Options::default()).await.unwrap().is_empty(), "{b:?}: nothing left to do");
    assert_eq!(keyed_rows(&db).await, before, "{b:?}: the rows after the upgrade");
    // Wider keys fit, and the keys are enforced again.
    exec(&db, "INSERT INTO fa (id, label, parent_id) VALUES (3000000000, 'big', 2)").await.unwrap();
    exec(&db, "INSERT INTO fb (a_id) VALUES (3000000000)").await.unwrap();
    assert!(exec(&db, "INSERT INTO fb (a_id) VALUES (3000000001)").await.is_err(), "{b:?}: fb.a_id references fa.id");
    assert!(exec(&db, "INSERT INTO fa (label, parent_id) VALUES ('orphan', 4000000000)").await.is_err(), "{b:?}: fa.parent_id too");
    // ON DELETE CASCADE is back too: the rows beyond i32 go with their parent.
    exec(&db, "DELETE FROM fa WHERE id = 3000000000").await.unwrap();
    assert_eq!(count(&db, "fb").await, 3, "{b:?}: the cascade");

    run_ops(&db, &plan.downgrade).await;
    assert!(schema_differences(&db, &keyed_v1()).await.is_empty(), "{b:?}: {:#?}", schema_differences(&db, &keyed_v1()).await);
    assert_eq!(keyed_rows(&db).await, before, "{b:?}: the rows after the downgrade");
    assert!(exec(&db, "INSERT INTO fb (a_id) VALUES (99)").await.is_err(), "{b:?}: the key holds after the downgrade");
}

/// The keys around a type change, planned without a database: the key of a table the
/// models drop goes with its table, a key the models change is dropped and added once.
#[test]
fn keys_around_a_type_change_are_planned_once() {
    for d in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
        let live = keyed_v1();
        let mut models = keyed_v2();
        table(&mut models, "fb").foreign_keys[0].on_delete = OnDeleteAction::NoAction;
        let plan = compare(d, &models, &live, &Options::default()).unwrap();
        let drops = summary(&plan.upgrade).iter().filter(|s| *s == "drop_foreign_key fb.fk_fb_a_id").count();
        let adds = summary(&plan.upgrade).iter().filter(|s| *s == "add_foreign_key fb.fk_fb_a_id").count();
        assert_eq!((drops, adds), (1, 1), "{d:?}: {:#?}", plan.upgrade);
        // Only the referencing side changes type: its key still goes around it.
        let mut models = keyed_v1();
        column(&mut models, "fb", "a_id").ty = Type::BigInt;
        let plan = compare(d, &models, &live, &Options::default()).unwrap();
        assert_eq!(
            summary(&plan.upgrade),
            ["drop_foreign_key fb.fk_fb_a_id", "alter_column fb.a_id", "add_foreign_key fb.fk_fb_a_id"],
            "{d:?}"
        );
        // A default change is no type change: no key is touched.
        let mut models = keyed_v1();
        column(&mut models, "fb", "a_id").default = sql("1");
        assert_eq!(summary(&compare(d, &models, &live, &Options::default()).unwrap().upgrade), ["alter_column fb.a_id"], "{d:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Indexes an Index cannot say: made by hand, left alone.
// ---------------------------------------------------------------------------------------

/// Hand-made indexes on v1's tables that an `Index` cannot say, per dialect: the SQL that
/// makes them, and their names sorted by table and name. MariaDB has neither expression
/// nor partial indexes: a column prefix and a descending order stand in for them.
fn hand_made_indexes(d: Dialect) -> (&'static [&'static str], &'static [&'static str]) {
    match d {
        Dialect::Postgres | Dialect::Sqlite => (
            &[
                "CREATE INDEX ix_authors_lower_name ON authors (lower(name))",
                "CREATE INDEX ix_books_live_pages ON books (pages) WHERE status = 'live'",
                "CREATE UNIQUE INDEX uq_books_live_title ON books (title) WHERE status = 'live'",
            ],
            &["ix_authors_lower_name", "ix_books_live_pages", "uq_books_live_title"],
        ),
        Dialect::MySql => (
            &["CREATE INDEX ix_authors_name_prefix ON authors (name(5))", "CREATE INDEX ix_books_pages_desc ON books (pages DESC)"],
            &["ix_authors_name_prefix", "ix_books_pages_desc"],
        ),
    }
}

async fn skipped_names(db: &Database) -> Vec<String> {
    read_live_schema(db).await.unwrap().skipped.into_iter().map(|ix| ix.name).collect()
}

/// An index on an expression, a partial index (and on MariaDB a prefix and a descending
/// one) made by hand are not compared with the models: a plan never drops them, the
/// database with them plans nothing (so `check` passes), an upgrade and its downgrade
/// keep them, and the file names them above the first step on their table.
async fn hand_made_indexes_are_left_alone(db: Database, b: Backend) {
    let d = db.dialect();
    create(&db, &v1()).await;
    insert_rows(&db).await;
    let (made, names) = hand_made_indexes(d);
    for sql in made {
        exec(&db, sql).await.unwrap();
    }
    let plan = autogenerate_tables(&db, &v1(), &Options::default()).await.unwrap_or_else(|e| panic!("{b:?}: {e}"));
    assert!(plan.is_empty(), "{b:?}: the hand-made indexes are not the plan's: {:#?}", plan.upgrade);
    assert_eq!(plan.skipped.iter().map(|ix| ix.name.as_str()).collect::<Vec<_>>(), names, "{b:?}: and they are listed");

    // A change to the table they are on: they stay, and the file says why.
    let mut v2 = v1();
    table(&mut v2, "books").indexes.push(index("ix_books_title", &["title"], false));
    table(&mut v2, "notes").columns.push(col("seen", Type::Bool, true));
    let plan = autogenerate_tables(&db, &v2, &Options::default()).await.unwrap();
    assert_eq!(summary(&plan.upgrade), ["add_column notes.seen", "create_index books.ix_books_title"], "{b:?}");
    let books: Vec<&&str> = names.iter().filter(|n| n.contains("books")).collect();
    for name in &books {
        assert!(
            plan.notes_for(1).any(|n| n.contains(&format!("\"{name}\"")) && n.contains("leaves it alone")),
            "{b:?}: {name} is named above the step on its table: {:?}",
            plan.notes
        );
    }
    assert!(!plan.notes_for(0).any(|n| n.contains("Index")), "{b:?}: nothing about them above another table's step");
    run_ops(&db, &plan.upgrade).await;
    assert_eq!(skipped_names(&db).await, names, "{b:?}: kept by the upgrade");
    assert!(schema_differences(&db, &v2).await.is_empty(), "{b:?}: {:#?}", schema_differences(&db, &v2).await);
    assert!(autogenerate_tables(&db, &v2, &Options::default()).await.unwrap().is_empty(), "{b:?}: a second autogenerate");
    run_ops(&db, &plan.downgrade).await;
    assert_eq!(skipped_names(&db).await, names, "{b:?}: kept by the downgrade");
    assert!(autogenerate_tables(&db, &v1(), &Options::default()).await.unwrap().is_empty(), "{b:?}");
}

/// `migrate check` passes on a database with hand-made indexes the models do not declare.
async fn check_passes_with_hand_made_indexes(db: Database, b: Backend) {
    db.create_tables(&[Team::TABLE, Item::TABLE]).await.unwrap();
    let made: &[&str] = match db.dialect() {
        Dialect::MySql => &["CREATE INDEX ix_items_name_prefix ON items (name(5))"],
        _ => &["CREATE INDEX ix_items_lower_name ON items (lower(name))", "CREATE INDEX ix_items_stocked ON items (qty) WHERE qty > 0"],
    };
    for sql in made {
        exec(&db, sql).await.unwrap();
    }
    let url = db.options().driver_url().to_string();
    let no_revisions = std::env::temp_dir().join(format!("almacen_no_revisions_{}", uuid::Uuid::new_v4().simple()));
    let cli = Cli::try_parse_from(["migrate", "--database-url", &url, "--dir", no_revisions.to_str().unwrap(), "check"]).unwrap();
    let mut out = Vec::new();
    let code = execute(&cli, &[Team::TABLE, Item::TABLE], &mut out).await.unwrap_or_else(|e| panic!("{b:?}: check failed: {e}"));
    let out = String::from_utf8(out).unwrap();
    assert_eq!(code, ExitCode::SUCCESS, "{b:?}: {out}");
    assert!(out.contains("the database matches the models"), "{b:?}: {out}");
    let shown = if db.dialect() == Dialect::MySql { "ix_items_name_prefix" } else { "ix_items_stocked" };
    assert!(out.contains(&format!("left alone: index \"{shown}\"")), "{b:?}: the skipped index is not mentioned: {out}");
}

per_backend_with!(
    corpus_round_trips => "max_connections=1",
    models_plan_nothing => "max_connections=1",
    renames_marked_and_unmarked => "max_connections=1",
    foreign_tables_are_left_alone => "max_connections=1",
    not_null_without_default_is_refused_on_rows => "max_connections=1",
    enum_values_added_and_removed => "max_connections=1",
    odd_identifiers => "max_connections=1",
    key_columns_change_type => "max_connections=1",
    hand_made_indexes_are_left_alone => "max_connections=1",
    check_passes_with_hand_made_indexes => "max_connections=1",
);

// ---------------------------------------------------------------------------------------
// The pure comparison.
// ---------------------------------------------------------------------------------------

/// Plans are the same on every dialect for portable changes, and each is checked: an
/// upgrade that does not reach the models is never returned.
#[test]
fn pure_plans_and_their_downgrades() {
    for d in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
        let v1 = v1();
        for case in corpus() {
            let mut v2 = v1.clone();
            (case.change)(&mut v2);
            let plan = compare(d, &v2, &v1, &case.options).unwrap_or_else(|e| panic!("{d:?} {}: {e}", case.what));
            assert_eq!(summary(&plan.upgrade), case.upgrade, "{d:?} {}", case.what);
            assert_eq!(plan.downgrade.len(), plan.upgrade.len(), "{d:?} {}", case.what);
        }
        let none: Plan = compare(d, &v1, &v1, &Options::default()).unwrap();
        assert!(none.is_empty());
    }
}

/// A primary key change has no operation: refused, naming the table.
#[test]
fn primary_key_change_is_refused() {
    let live = v1();
    let mut models = live.clone();
    table(&mut models, "notes").primary_key = vec!["id".into(), "body".into()];
    let err = compare(Dialect::Postgres, &models, &live, &Options::default()).unwrap_err();
    assert!(err.to_string().contains("table \"notes\": the primary key changes"), "{err}");
}

#[test]
fn rename_marks_are_parsed() {
    let o = Options::default().mark_rename(" a -> b ").unwrap().mark_rename("t.x->y").unwrap();
    assert_eq!(o.table_renames, [("a".to_string(), "b".to_string())]);
    assert_eq!((o.column_renames[0].table.as_str(), o.column_renames[0].from.as_str(), o.column_renames[0].to.as_str()), ("t", "x", "y"));
    for bad in ["a", "a ->", "-> b", ".x -> y", "t.x -> u.y"] {
        assert!(Options::default().mark_rename(bad).is_err(), "{bad}");
    }
}

/// A `#[model(unique)]` constraint of a renamed table is renamed with it (the models name it
/// `uq_<new table>_<column>`): the old constraint is dropped and the new one made, though
/// the old one's name no longer matches its table (a plain `DROP INDEX` fails on PostgreSQL,
/// where a constraint owns the index, and on SQLite, where a rebuild is needed).
async fn unique_constraint_of_a_renamed_table(db: Database, b: Backend) {
    create(&db, &v1()).await;
    insert_rows(&db).await;
    let mut v2 = v1();
    table(&mut v2, "authors").name = "writers".into();
    table(&mut v2, "writers").indexes = vec![index("uq_writers_name", &["name"], true)];
    table(&mut v2, "books").foreign_keys[0].ref_table = "writers".into();
    let options = Options::default().rename_table("authors", "writers");
    let plan = autogenerate_tables(&db, &v2, &options).await.unwrap();
    assert_eq!(
        summary(&plan.upgrade),
        ["rename_table authors->writers", "drop_index writers.uq_authors_name", "create_index writers.uq_writers_name"]
    );
    run_ops(&db, &plan.upgrade).await;
    assert!(schema_differences(&db, &v2).await.is_empty(), "{b:?}");
    run_ops(&db, &plan.downgrade).await;
    assert!(schema_differences(&db, &v1()).await.is_empty(), "{b:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_constraint_of_a_renamed_table_on_every_backend() {
    for b in [Backend::Sqlite, Backend::Postgres, Backend::MariaDb] {
        common::run_with(b, "max_connections=1", unique_constraint_of_a_renamed_table).await;
    }
}

/// A dropped NOT NULL column without a default cannot come back on a populated table: the
/// file says so above the drop.
#[test]
fn dropping_a_required_column_warns_about_the_downgrade() {
    let live = v1();
    let mut models = live.clone();
    table(&mut models, "notes").columns.retain(|c| c.name != "body");
    let plan = compare(Dialect::MySql, &models, &live, &Options::default()).unwrap();
    assert_eq!(summary(&plan.upgrade), ["drop_column notes.body"]);
    assert!(plan.notes_for(0).any(|n| n.contains("\"notes\".\"body\" back empty")), "{:?}", plan.notes);
    // A nullable one comes back as NULLs: nothing to say.
    let mut models = live.clone();
    table(&mut models, "authors").columns.retain(|c| c.name != "bio");
    assert!(compare(Dialect::MySql, &models, &live, &Options::default()).unwrap().notes.is_empty());
}
