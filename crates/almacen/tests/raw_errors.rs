//! Raw SQL with `:name` parameters, error classification and statement logging, on SQLite,
//! PostgreSQL and MariaDB.

mod common;

use almacen::prelude::*;
use almacen::serde_json;
use common::Backend;
use futures::TryStreamExt;
use std::fmt;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::instrument::WithSubscriber;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async fn exec(db: &Database, sql: &str) {
    db.execute_raw(sql, params! {}).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn count(db: &impl Executor, table: &str) -> i64 {
    let row = db.fetch_one_raw(&format!("SELECT COUNT(*) AS n FROM {table}"), params! {}).await.unwrap();
    row.get::<i64>("n").unwrap()
}

async fn ids(db: &impl Executor, table: &str) -> Vec<i64> {
    let rows = db.fetch_all_raw(&format!("SELECT id FROM {table} ORDER BY id"), params! {}).await.unwrap();
    rows.iter().map(|r| r.get::<i64>("id").unwrap()).collect()
}

async fn create_items(db: &Database) {
    exec(db, "CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(50), n INTEGER)").await;
    let added = db
        .execute_raw("INSERT INTO items (id, name, n) VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3), (4, 'd', 4), (5, 'e', 5)", params! {})
        .await
        .unwrap();
    assert_eq!(added, 5, "a five-row INSERT affects five rows");
}

fn assert_parameter_error(e: &Error, needle: &str) {
    match e {
        Error::Parameter(msg) => assert!(msg.contains(needle), "parameter error should mention {needle:?}: {msg}"),
        other => panic!("expected Error::Parameter mentioning {needle:?}, got {other:?}"),
    }
    assert!(e.to_string().starts_with("parameter error: "), "{e}");
    assert!(!e.is_retryable());
}

// ---------------------------------------------------------------------------------------------
// Raw SQL
// ---------------------------------------------------------------------------------------------

async fn execute_raw_returns_rows_affected(db: Database, _b: Backend) {
    create_items(&db).await;
    let n = db.execute_raw("UPDATE items SET n = n + 10 WHERE id IN (:ids)", params! { "ids" => vec![1, 2, 3] }).await.unwrap();
    assert_eq!(n, 3);
    let n = db.execute_raw("UPDATE items SET name = :name WHERE n > :min", params! { "name" => "big", "min" => 10 }).await.unwrap();
    assert_eq!(n, 3);
    let n = db.execute_raw("DELETE FROM items WHERE id = :id", params! { "id" => 5 }).await.unwrap();
    assert_eq!(n, 1);
    let n = db.execute_raw("DELETE FROM items WHERE id = :id", params! { "id" => 999 }).await.unwrap();
    assert_eq!(n, 0, "deleting nothing affects no rows");
    let n = db
        .execute_raw("INSERT INTO items (id, name, n) VALUES (:id, :name, :n)", params! { "id" => 6, "name" => "f", "n" => 6 })
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(ids(&db, "items").await, vec![1, 2, 3, 4, 6]);
    // DDL changes no rows (SQLite's own counter still holds the INSERT's 1).
    let n = db.execute_raw("CREATE TABLE ddl_after_insert (id INTEGER PRIMARY KEY)", params! {}).await.unwrap();
    assert_eq!(n, 0, "DDL reports no rows affected");
}

async fn fetch_all_one_optional(db: Database, _b: Backend) {
    create_items(&db).await;

    let rows = db
        .fetch_all_raw(
            "SELECT id, name FROM items WHERE n >= :a AND id IN (:ids) ORDER BY id",
            params! { "a" => 1, "ids" => vec![1, 2, 3] },
        )
        .await
        .unwrap();
    let got: Vec<(i64, String)> = rows.iter().map(|r| (r.get::<i64>("id").unwrap(), r.get::<String>("name").unwrap())).collect();
    assert_eq!(got, vec![(1, "a".to_string()), (2, "b".to_string()), (3, "c".to_string())]);

    // A list of one, and a list next to scalars on both sides.
    let rows = db
        .fetch_all_raw(
            "SELECT id FROM items WHERE n > :lo AND id IN (:ids) AND n < :hi ORDER BY id",
            params! { "lo" => 1, "ids" => vec![2, 4, 5], "hi" => 5 },
        )
        .await
        .unwrap();
    assert_eq!(rows.iter().map(|r| r.get::<i64>("id").unwrap()).collect::<Vec<_>>(), vec![2, 4]);
    let rows = db.fetch_all_raw("SELECT id FROM items WHERE id IN (:ids)", params! { "ids" => vec![3i64] }).await.unwrap();
    assert_eq!(rows.len(), 1);
    let rows =
        db.fetch_all_raw("SELECT id FROM items WHERE name IN (:names) ORDER BY id", params! { "names" => vec!["e", "a"] }).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.get::<i64>("id").unwrap()).collect::<Vec<_>>(), vec![1, 5]);
    let none = db.fetch_all_raw("SELECT id FROM items WHERE id > :id", params! { "id" => 100 }).await.unwrap();
    assert!(none.is_empty());

    let one = db.fetch_one_raw("SELECT name FROM items WHERE id = :id", params! { "id" => 4 }).await.unwrap();
    assert_eq!(one.get::<String>("name").unwrap(), "d");
    let missing = db.fetch_one_raw("SELECT name FROM items WHERE id = :id", params! { "id" => 404 }).await.unwrap_err();
    assert!(matches!(missing, Error::NotFound), "fetch_one_raw without a row: {missing:?}");
    assert_eq!(missing.to_string(), "row not found");

    let some = db.fetch_optional_raw("SELECT name FROM items WHERE id = :id", params! { "id" => 2 }).await.unwrap();
    assert_eq!(some.expect("row 2").get::<String>("name").unwrap(), "b");
    let nothing = db.fetch_optional_raw("SELECT name FROM items WHERE id = :id", params! { "id" => 404 }).await.unwrap();
    assert!(nothing.is_none());
}

async fn same_name_twice(db: Database, _b: Backend) {
    create_items(&db).await;
    // :v is one value (PostgreSQL binds it once as $1; SQLite and MariaDB once per `?`).
    let rows = db.fetch_all_raw("SELECT id FROM items WHERE id >= :v AND n <= :v + 1 ORDER BY id", params! { "v" => 3 }).await.unwrap();
    assert_eq!(rows.iter().map(|r| r.get::<i64>("id").unwrap()).collect::<Vec<_>>(), vec![3, 4]);
    // A name used twice with a list used twice in between.
    let rows = db
        .fetch_all_raw(
            "SELECT id FROM items WHERE (id IN (:ids) AND n <> :skip) OR (n IN (:ids) AND id = :skip) ORDER BY id",
            params! { "ids" => vec![1, 2, 3], "skip" => 2 },
        )
        .await
        .unwrap();
    assert_eq!(rows.iter().map(|r| r.get::<i64>("id").unwrap()).collect::<Vec<_>>(), vec![1, 2, 3]);
    let n = db.execute_raw("UPDATE items SET name = :s WHERE name = :s OR id = :id", params! { "s" => "c", "id" => 1 }).await.unwrap();
    assert_eq!(n, 2);
}

async fn colons_in_strings_and_comments_are_not_parameters(db: Database, backend: Backend) {
    create_items(&db).await;
    let sql = "SELECT ':v' AS lit, 'a:b' AS ab, id -- :c is a comment\nFROM items /* and :d\n too */ WHERE id = :v";
    let row = db.fetch_one_raw(sql, params! { "v" => 2 }).await.unwrap();
    assert_eq!(row.get::<String>("lit").unwrap(), ":v", "a :name inside a string literal is kept as text");
    assert_eq!(row.get::<String>("ab").unwrap(), "a:b");
    assert_eq!(row.get::<i64>("id").unwrap(), 2);
    // A name that only appears inside a comment or a string is not a use of it.
    let e = db.fetch_all_raw("SELECT id FROM items -- :v\n", params! { "v" => 1 }).await.unwrap_err();
    assert_parameter_error(&e, ":v");
    let e = db.fetch_all_raw("SELECT id FROM items /* :v */ WHERE name <> ':v'", params! { "v" => 1 }).await.unwrap_err();
    assert_parameter_error(&e, ":v");
    // Dialect-specific quoting.
    match backend {
        Backend::Postgres => {
            let row =
                db.fetch_one_raw("SELECT $$ :a 'x $$ AS d, $t$:b$t$ AS t, E'it\\'s :c' AS e, :v AS v", params! { "v" => 1 }).await.unwrap();
            assert_eq!(row.get::<String>("d").unwrap(), " :a 'x ");
            assert_eq!(row.get::<String>("t").unwrap(), ":b");
            assert_eq!(row.get::<String>("e").unwrap(), "it's :c");
            assert_eq!(row.get::<i64>("v").unwrap(), 1);
        }
        Backend::MariaDb => {
            let row = db
                .fetch_one_raw("SELECT 'it\\'s :c' AS e, `id` AS `x:y`, :v AS v FROM items WHERE id = :v", params! { "v" => 2 })
                .await
                .unwrap();
            assert_eq!(row.get::<String>("e").unwrap(), "it's :c");
            assert_eq!(row.get::<i64>("x:y").unwrap(), 2);
        }
        Backend::Sqlite => {
            let row =
                db.fetch_one_raw(r#"SELECT "id" AS "x:y", 'C:\dir\' AS p FROM items WHERE id = :v"#, params! { "v" => 2 }).await.unwrap();
            assert_eq!(row.get::<i64>("x:y").unwrap(), 2);
            assert_eq!(row.get::<String>("p").unwrap(), "C:\\dir\\");
        }
    }
    // Stored text containing ':x' round-trips untouched.
    let n = db.execute_raw("UPDATE items SET name = 'x:y' WHERE id = :id", params! { "id" => 1 }).await.unwrap();
    assert_eq!(n, 1);
    let row = db.fetch_one_raw("SELECT name FROM items WHERE name = 'x:y'", params! {}).await.unwrap();
    assert_eq!(row.get::<String>("name").unwrap(), "x:y");
}

/// On MariaDB (without ANSI_QUOTES) `"..."` is a string literal in which `\"` escapes a quote.
async fn mariadb_double_quoted_strings(db: Database, backend: Backend) {
    if backend != Backend::MariaDb {
        return;
    }
    let row = db.fetch_one_raw(r#"SELECT "a:b" AS plain, :v AS v"#, params! { "v" => 1 }).await.unwrap();
    assert_eq!(row.get::<String>("plain").unwrap(), "a:b");
    let row = db
        .fetch_one_raw(r#"SELECT "it\"s :x" AS quoted, :v AS v"#, params! { "v" => 1 })
        .await
        .unwrap_or_else(|e| panic!("a valid MariaDB string literal with \\\" escapes is rejected: {e}"));
    assert_eq!(row.get::<String>("quoted").unwrap(), r#"it"s :x"#);
}

async fn postgres_casts_after_parameters(db: Database, backend: Backend) {
    if backend != Backend::Postgres {
        return;
    }
    let row = db.fetch_one_raw("SELECT :id::text AS s, '7'::int AS seven, :id::int + 1 AS next", params! { "id" => 42 }).await.unwrap();
    assert_eq!(row.get::<String>("s").unwrap(), "42");
    assert_eq!(row.get::<i64>("seven").unwrap(), 7);
    assert_eq!(row.get::<i64>("next").unwrap(), 43);
    create_items(&db).await;
    let rows = db.fetch_all_raw("SELECT id FROM items WHERE id::text = :s::text ORDER BY id", params! { "s" => "3" }).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<i64>("id").unwrap(), 3);
}

async fn parameter_errors_are_raised_before_anything_runs(db: Database, _b: Backend) {
    exec(&db, "CREATE TABLE notes (id BIGINT PRIMARY KEY, body VARCHAR(100))").await;
    let insert = "INSERT INTO notes (id, body) VALUES (:id, :body)";

    // Used but not given.
    let e = db.execute_raw(insert, params! { "id" => 1 }).await.unwrap_err();
    assert_parameter_error(&e, ":body");
    assert_eq!(count(&db, "notes").await, 0, "a statement with a missing parameter must not run");
    let e = db.fetch_all_raw("SELECT id FROM notes WHERE id = :id", params! {}).await.unwrap_err();
    assert_parameter_error(&e, ":id");
    let e = db.fetch_one_raw("SELECT id FROM notes WHERE id = :id", params! { "ID" => 1 }).await.unwrap_err();
    assert_parameter_error(&e, ":id");
    let e = db.fetch_optional_raw("SELECT id FROM notes WHERE id = :id", params! {}).await.unwrap_err();
    assert_parameter_error(&e, ":id");

    // Given but not used.
    let e = db.execute_raw(insert, params! { "id" => 1, "body" => "x", "extra" => 3 }).await.unwrap_err();
    assert_parameter_error(&e, ":extra");
    assert_eq!(count(&db, "notes").await, 0, "a statement with an unused parameter must not run");

    // An empty list.
    db.execute_raw(insert, params! { "id" => 1, "body" => "keep" }).await.unwrap();
    let e = db.execute_raw("DELETE FROM notes WHERE id IN (:ids)", params! { "ids" => Vec::<i64>::new() }).await.unwrap_err();
    assert_parameter_error(&e, ":ids");
    let e = db.fetch_all_raw("SELECT id FROM notes WHERE id IN (:ids)", params! { "ids" => Vec::<String>::new() }).await.unwrap_err();
    assert_parameter_error(&e, ":ids");
    assert_eq!(ids(&db, "notes").await, vec![1]);

    // Values that cannot be bound and SQL that cannot be parsed are rejected before sending too.
    match db.execute_raw(insert, params! { "id" => 7, "body" => "nul\0byte" }).await.unwrap_err() {
        Error::InvalidValue { column, .. } => assert_eq!(column, ":body"),
        other => panic!("a NUL character in text is an InvalidValue: {other:?}"),
    }
    match db.fetch_all_raw("SELECT id FROM notes WHERE id > :f", params! { "f" => f64::NAN }).await.unwrap_err() {
        Error::InvalidValue { column, .. } => assert_eq!(column, ":f"),
        other => panic!("NaN is an InvalidValue: {other:?}"),
    }
    let e = db.execute_raw("UPDATE notes SET body = 'unterminated WHERE id = :id", params! { "id" => 1 }).await.unwrap_err();
    assert_parameter_error(&e, "unterminated string literal");
    assert_eq!(ids(&db, "notes").await, vec![1]);

    // Multi-part: inside a transaction the bad statement must not reach the server. On
    // PostgreSQL a statement that failed on the server aborts the transaction, so the insert
    // after it would fail; everywhere the rows before and after must be committed.
    let tx = db.begin().await.unwrap();
    tx.execute_raw(insert, params! { "id" => 2, "body" => "before" }).await.unwrap();
    let e = tx.execute_raw(insert, params! { "id" => 3 }).await.unwrap_err();
    assert_parameter_error(&e, ":body");
    let e = tx.execute_raw("INSERT INTO notes (id, body) VALUES (:id, :body); DELETE FROM notes", params! { "id" => 9 }).await.unwrap_err();
    assert_parameter_error(&e, ":body");
    tx.execute_raw(insert, params! { "id" => 4, "body" => "after" })
        .await
        .expect("the transaction is still usable: the failed statement was never sent");
    tx.commit().await.unwrap();
    assert_eq!(ids(&db, "notes").await, vec![1, 2, 4]);

    // The same inside a closure transaction.
    let out: almacen::Result<()> = db
        .transaction(async |tx| {
            let e = tx.execute_raw(insert, params! { "body" => "no id" }).await.unwrap_err();
            assert_parameter_error(&e, ":id");
            tx.execute_raw(insert, params! { "id" => 5, "body" => "after" }).await?;
            Ok(())
        })
        .await;
    out.unwrap();
    assert_eq!(ids(&db, "notes").await, vec![1, 2, 4, 5]);
}

async fn values_are_bound_not_spliced(db: Database, _b: Backend) {
    exec(&db, "CREATE TABLE t (id BIGINT PRIMARY KEY, body VARCHAR(200))").await;
    let evil = "x'); DROP TABLE t; --";
    let quoted = r#"it's "quoted" \ back\slash :name ?  $1 /* not a comment */"#;
    db.execute_raw("INSERT INTO t (id, body) VALUES (:id, :body)", params! { "id" => 1, "body" => evil }).await.unwrap();
    db.execute_raw("INSERT INTO t (id, body) VALUES (:id, :body)", params! { "id" => 2, "body" => quoted }).await.unwrap();
    assert_eq!(count(&db, "t").await, 2, "the table still exists with both rows");
    let row = db.fetch_one_raw("SELECT body FROM t WHERE id = :id", params! { "id" => 1 }).await.unwrap();
    assert_eq!(row.get::<String>("body").unwrap(), evil);
    let row = db.fetch_one_raw("SELECT body FROM t WHERE id = :id", params! { "id" => 2 }).await.unwrap();
    assert_eq!(row.get::<String>("body").unwrap(), quoted);
    let row = db.fetch_one_raw("SELECT id FROM t WHERE body = :b", params! { "b" => evil }).await.unwrap();
    assert_eq!(row.get::<i64>("id").unwrap(), 1);
    // A hostile value in a WHERE clause matches nothing instead of widening it.
    let rows = db.fetch_all_raw("SELECT id FROM t WHERE body = :b", params! { "b" => "' OR '1'='1" }).await.unwrap();
    assert!(rows.is_empty());
}

async fn create_people(db: &Database) {
    exec(
        db,
        "CREATE TABLE people (id BIGINT PRIMARY KEY, name VARCHAR(50) NOT NULL, score DOUBLE PRECISION, active BOOLEAN, note VARCHAR(50), price DECIMAL(10, 2))",
    )
    .await;
    db.execute_raw(
        "INSERT INTO people (id, name, score, active, note, price) VALUES (:id, :name, :score, :active, :note, :price)",
        params! { "id" => 1, "name" => "ada", "score" => 1.5, "active" => true, "note" => Option::<String>::None, "price" => Decimal::new(1250, 2) },
    )
    .await
    .unwrap();
    db.execute_raw(
        "INSERT INTO people (id, name, score, active, note, price) VALUES (:id, :name, :score, :active, :note, :price)",
        params! { "id" => 2, "name" => "bob", "score" => -0.25, "active" => false, "note" => "hi", "price" => Decimal::new(-3, 0) },
    )
    .await
    .unwrap();
}

async fn rows_keep_select_order_and_serialise(db: Database, backend: Backend) {
    create_people(&db).await;
    let row = db.fetch_one_raw("SELECT score, name, id, note FROM people WHERE id = :id", params! { "id" => 1 }).await.unwrap();
    assert_eq!(row.columns().collect::<Vec<_>>(), ["score", "name", "id", "note"]);
    assert_eq!(row.len(), 4);
    assert_eq!(serde_json::to_string(&row).unwrap(), r#"{"score":1.5,"name":"ada","id":1,"note":null}"#);

    let row = db.fetch_one_raw("SELECT note, id AS zz, name AS aa FROM people WHERE id = 2", params! {}).await.unwrap();
    assert_eq!(row.columns().collect::<Vec<_>>(), ["note", "zz", "aa"]);
    assert_eq!(serde_json::to_string(&row).unwrap(), r#"{"note":"hi","zz":2,"aa":"bob"}"#);

    let rows = db.fetch_all_raw("SELECT name, id, price, note, active, score FROM people ORDER BY id", params! {}).await.unwrap();
    let json = serde_json::to_string(&rows).unwrap();
    let expected = match backend {
        // SQLite has no boolean or decimal storage: BOOLEAN holds 0/1 and DECIMAL(10,2) a REAL.
        Backend::Sqlite => {
            r#"[{"name":"ada","id":1,"price":12.5,"note":null,"active":1,"score":1.5},{"name":"bob","id":2,"price":-3,"note":"hi","active":0,"score":-0.25}]"#
        }
        Backend::Postgres | Backend::MariaDb => {
            r#"[{"name":"ada","id":1,"price":"12.50","note":null,"active":true,"score":1.5},{"name":"bob","id":2,"price":"-3.00","note":"hi","active":false,"score":-0.25}]"#
        }
    };
    assert_eq!(json, expected);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let keys: Vec<&str> = value[0].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["name", "id", "price", "note", "active", "score"]);
}

async fn typed_getters(db: Database, _b: Backend) {
    create_people(&db).await;
    let rows = db.fetch_all_raw("SELECT id, name, score, active, note, price FROM people ORDER BY id", params! {}).await.unwrap();
    let (ada, bob) = (&rows[0], &rows[1]);
    assert_eq!(ada.get::<i64>("id").unwrap(), 1);
    assert_eq!(ada.get::<i32>("id").unwrap(), 1);
    assert_eq!(ada.get::<String>("name").unwrap(), "ada");
    assert_eq!(ada.get::<f64>("score").unwrap(), 1.5);
    assert_eq!(bob.get::<f64>("score").unwrap(), -0.25);
    assert!(ada.get::<bool>("active").unwrap());
    assert!(!bob.get::<bool>("active").unwrap());
    assert_eq!(ada.get::<Option<String>>("note").unwrap(), None);
    assert_eq!(bob.get::<Option<String>>("note").unwrap(), Some("hi".to_string()));
    assert_eq!(ada.get::<Option<i64>>("note").unwrap(), None);
    assert_eq!(ada.get::<Decimal>("price").unwrap(), Decimal::new(1250, 2));
    assert_eq!(bob.get::<Decimal>("price").unwrap(), Decimal::from(-3));
    assert_eq!(ada.get::<Option<Decimal>>("price").unwrap(), Some(Decimal::new(125, 1)));
    assert!(ada.value("note").unwrap().is_null());
    assert!(ada.value("nope").is_none());

    // Aggregates decode through the same getters.
    let agg = db.fetch_one_raw("SELECT COUNT(*) AS n, MAX(id) AS top, MIN(name) AS first FROM people", params! {}).await.unwrap();
    assert_eq!(agg.get::<i64>("n").unwrap(), 2);
    assert_eq!(agg.get::<i64>("top").unwrap(), 2);
    assert_eq!(agg.get::<String>("first").unwrap(), "ada");
}

fn assert_decode_error(e: &Error, column: &str) {
    match e {
        Error::Decode { column: c, message } => {
            assert_eq!(c, column, "decode error names the column: {message}");
            assert!(!message.is_empty());
        }
        other => panic!("expected Error::Decode for {column}, got {other:?}"),
    }
    let text = e.to_string();
    assert!(text.contains(column), "the message names the column {column}: {text}");
    assert!(!e.is_retryable());
    assert!(e.db_info().is_none());
}

async fn getter_errors_name_the_column(db: Database, backend: Backend) {
    create_people(&db).await;
    let row = db.fetch_one_raw("SELECT id, name, note, price FROM people WHERE id = 1", params! {}).await.unwrap();
    let e = row.get::<i64>("missing_col").unwrap_err();
    assert_decode_error(&e, "missing_col");
    assert!(e.to_string().contains("no such column"), "{e}");
    assert_decode_error(&row.get::<i64>("name").unwrap_err(), "name");
    assert_decode_error(&row.get::<bool>("name").unwrap_err(), "name");
    assert_decode_error(&row.get::<String>("id").unwrap_err(), "id");
    // NULL into a non-Option type.
    assert_decode_error(&row.get::<String>("note").unwrap_err(), "note");
    // A value out of the target's range.
    exec(&db, "CREATE TABLE bigs (id BIGINT PRIMARY KEY, big BIGINT)").await;
    db.execute_raw("INSERT INTO bigs (id, big) VALUES (1, :v)", params! { "v" => i64::MAX }).await.unwrap();
    let big = db.fetch_one_raw("SELECT big FROM bigs", params! {}).await.unwrap();
    assert_eq!(big.get::<i64>("big").unwrap(), i64::MAX);
    assert_decode_error(&big.get::<i32>("big").unwrap_err(), "big");
    // A column type almacen has no value for fails the whole row, naming the column.
    let unsupported = match backend {
        Backend::Postgres => Some("SELECT 1 AS ok, point(1, 2) AS odd"),
        Backend::MariaDb => Some("SELECT 1 AS ok, POINT(1, 2) AS odd"),
        Backend::Sqlite => None,
    };
    if let Some(sql) = unsupported {
        let e = db.fetch_one_raw(sql, params! {}).await.unwrap_err();
        assert_decode_error(&e, "odd");
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

fn assert_not_transient(e: &Error) {
    assert!(!e.is_retryable(), "constraint violations are not retryable: {e:?}");
    assert!(!e.is_transaction_conflict(), "{e:?}");
}

async fn unique_violation(db: Database, backend: Backend) {
    exec(&db, "CREATE TABLE users (id BIGINT PRIMARY KEY, email VARCHAR(100) NOT NULL, CONSTRAINT uq_users_email UNIQUE (email))").await;
    let insert = "INSERT INTO users (id, email) VALUES (:id, :email)";
    db.execute_raw(insert, params! { "id" => 1, "email" => "a@x.io" }).await.unwrap();
    let e = db.execute_raw(insert, params! { "id" => 2, "email" => "a@x.io" }).await.unwrap_err();
    assert!(matches!(e, Error::UniqueViolation(_)), "{e:?}");
    assert_not_transient(&e);
    let info = e.db_info().expect("db info");
    let constraint = info.constraint.as_deref().unwrap_or_else(|| panic!("constraint is reported: {info:?}"));
    match backend {
        Backend::Sqlite => assert_eq!(constraint, "users.email"),
        Backend::Postgres => {
            assert_eq!(constraint, "uq_users_email");
            assert_eq!(info.table.as_deref(), Some("users"));
        }
        Backend::MariaDb => assert_eq!(constraint, "uq_users_email"),
    }
    assert!(info.code.is_some(), "{info:?}");
    let text = e.to_string();
    assert!(text.starts_with("unique violation: "), "{text}");
    assert!(text.contains(constraint), "the message names the constraint: {text}");
    assert_eq!(count(&db, "users").await, 1);

    // The same through fetch (INSERT … RETURNING is not needed: a plain UPDATE will do).
    db.execute_raw(insert, params! { "id" => 2, "email" => "b@x.io" }).await.unwrap();
    let e = db.execute_raw("UPDATE users SET email = :e WHERE id = :id", params! { "e" => "a@x.io", "id" => 2 }).await.unwrap_err();
    assert!(matches!(e, Error::UniqueViolation(_)), "{e:?}");

    // A duplicate primary key is a unique violation too.
    let e = db.execute_raw(insert, params! { "id" => 1, "email" => "c@x.io" }).await.unwrap_err();
    assert!(matches!(e, Error::UniqueViolation(_)), "duplicate primary key: {e:?}");
    assert_not_transient(&e);
    let pk = e.db_info().and_then(|i| i.constraint.clone()).unwrap_or_default();
    match backend {
        Backend::Sqlite => assert_eq!(pk, "users.id"),
        Backend::Postgres => assert_eq!(pk, "users_pkey"),
        Backend::MariaDb => assert_eq!(pk, "PRIMARY"),
    }
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "members")]
struct Member {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 100, unique)]
    email: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "posts")]
struct Post {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = "members.id")]
    member_id: i64,
    #[model(max_len = 100)]
    title: String,
}

async fn model_constraints_are_named(db: Database, backend: Backend) {
    db.create_tables(&[Member::TABLE, Post::TABLE]).await.unwrap();
    let m = Member::insert(&db, NewMember { email: "a@x.io".into() }).await.unwrap();
    let e = Member::insert(&db, NewMember { email: "a@x.io".into() }).await.unwrap_err();
    assert!(matches!(e, Error::UniqueViolation(_)), "{e:?}");
    let constraint = e.db_info().and_then(|i| i.constraint.clone()).unwrap_or_default();
    match backend {
        Backend::Sqlite => assert_eq!(constraint, "members.email"),
        Backend::Postgres | Backend::MariaDb => assert_eq!(constraint, "uq_members_email"),
    }
    assert!(e.to_string().contains(&constraint), "{e}");

    Post::insert(&db, NewPost { member_id: m.id, title: "ok".into() }).await.unwrap();
    let e = Post::insert(&db, NewPost { member_id: m.id + 100, title: "orphan".into() }).await.unwrap_err();
    assert!(matches!(e, Error::ForeignKeyViolation(_)), "{e:?}");
    assert_not_transient(&e);
    if backend != Backend::Sqlite {
        let constraint = e.db_info().and_then(|i| i.constraint.clone());
        assert_eq!(constraint.as_deref(), Some("fk_posts_member_id"), "{e}");
        assert!(e.to_string().contains("fk_posts_member_id"), "{e}");
    }
    assert_eq!(count(&db, "posts").await, 1);
}

async fn foreign_key_violation(db: Database, backend: Backend) {
    exec(&db, "CREATE TABLE parents (id BIGINT PRIMARY KEY)").await;
    exec(&db, "CREATE TABLE children (id BIGINT PRIMARY KEY, parent_id BIGINT NOT NULL, CONSTRAINT fk_children_parent FOREIGN KEY (parent_id) REFERENCES parents (id))").await;
    exec(&db, "INSERT INTO parents (id) VALUES (1)").await;
    db.execute_raw("INSERT INTO children (id, parent_id) VALUES (:id, :p)", params! { "id" => 1, "p" => 1 }).await.unwrap();

    // A child pointing nowhere.
    let e = db.execute_raw("INSERT INTO children (id, parent_id) VALUES (:id, :p)", params! { "id" => 2, "p" => 99 }).await.unwrap_err();
    assert!(matches!(e, Error::ForeignKeyViolation(_)), "SQLite must enforce foreign keys too: {e:?}");
    assert_not_transient(&e);
    let text = e.to_string();
    assert!(text.starts_with("foreign key violation: "), "{text}");
    let info = e.db_info().unwrap();
    assert!(info.code.is_some(), "{info:?}");
    match backend {
        Backend::Sqlite => {}
        Backend::Postgres => {
            assert_eq!(info.constraint.as_deref(), Some("fk_children_parent"));
            assert_eq!(info.table.as_deref(), Some("children"));
            assert!(text.contains("fk_children_parent") && text.contains("children"), "{text}");
        }
        Backend::MariaDb => {
            assert_eq!(info.constraint.as_deref(), Some("fk_children_parent"));
            assert!(text.contains("fk_children_parent") && text.contains("children"), "{text}");
        }
    }
    assert_eq!(count(&db, "children").await, 1);

    // Deleting a parent that still has children.
    let e = db.execute_raw("DELETE FROM parents WHERE id = :id", params! { "id" => 1 }).await.unwrap_err();
    assert!(matches!(e, Error::ForeignKeyViolation(_)), "deleting a referenced row: {e:?}");
    assert_not_transient(&e);
    if backend != Backend::Sqlite {
        assert_eq!(e.db_info().unwrap().constraint.as_deref(), Some("fk_children_parent"), "{e}");
    }
    assert_eq!(count(&db, "parents").await, 1);
}

async fn not_null_violation(db: Database, backend: Backend) {
    exec(&db, "CREATE TABLE users (id BIGINT PRIMARY KEY, email VARCHAR(100) NOT NULL, nick VARCHAR(20))").await;

    for (what, sql, params) in [
        ("literal NULL", "INSERT INTO users (id, email) VALUES (:id, NULL)", params! { "id" => 1 }),
        ("bound NULL", "INSERT INTO users (id, email) VALUES (:id, :email)", params! { "id" => 2, "email" => Option::<String>::None }),
        ("column left out", "INSERT INTO users (id, nick) VALUES (:id, :nick)", params! { "id" => 3, "nick" => "n" }),
    ] {
        let e = db.execute_raw(sql, params).await.unwrap_err();
        assert!(matches!(e, Error::NotNullViolation(_)), "{what}: {e:?}");
        assert_not_transient(&e);
        let info = e.db_info().unwrap();
        assert_eq!(info.column.as_deref(), Some("email"), "{what}: the column is reported on {backend:?}: {info:?}");
        let text = e.to_string();
        assert!(text.starts_with("not null violation: "), "{text}");
        assert!(text.contains("email"), "{what}: {text}");
        if backend != Backend::MariaDb {
            assert_eq!(info.table.as_deref(), Some("users"), "{what}: {info:?}");
        }
    }
    // UPDATE to NULL as well.
    exec(&db, "INSERT INTO users (id, email) VALUES (10, 'x@y.z')").await;
    let e = db.execute_raw("UPDATE users SET email = NULL WHERE id = :id", params! { "id" => 10 }).await.unwrap_err();
    assert!(matches!(e, Error::NotNullViolation(_)), "{e:?}");
    assert_eq!(count(&db, "users").await, 1);
}

async fn check_violation(db: Database, backend: Backend) {
    exec(&db, "CREATE TABLE stock (id BIGINT PRIMARY KEY, qty INTEGER NOT NULL, CONSTRAINT ck_stock_qty CHECK (qty >= 0))").await;
    db.execute_raw("INSERT INTO stock (id, qty) VALUES (:id, :qty)", params! { "id" => 1, "qty" => 5 }).await.unwrap();
    let e = db.execute_raw("INSERT INTO stock (id, qty) VALUES (:id, :qty)", params! { "id" => 2, "qty" => -1 }).await.unwrap_err();
    assert!(matches!(e, Error::CheckViolation(_)), "{e:?}");
    assert_not_transient(&e);
    let info = e.db_info().unwrap();
    assert_eq!(info.constraint.as_deref(), Some("ck_stock_qty"), "the CHECK is named on {backend:?}: {info:?}");
    let text = e.to_string();
    assert!(text.starts_with("check violation: "), "{text}");
    assert!(text.contains("ck_stock_qty"), "{text}");
    if backend == Backend::Postgres {
        assert_eq!(info.table.as_deref(), Some("stock"));
    }
    let e = db.execute_raw("UPDATE stock SET qty = qty - :n WHERE id = :id", params! { "n" => 10, "id" => 1 }).await.unwrap_err();
    assert!(matches!(e, Error::CheckViolation(_)), "{e:?}");
    let row = db.fetch_one_raw("SELECT qty FROM stock WHERE id = 1", params! {}).await.unwrap();
    assert_eq!(row.get::<i64>("qty").unwrap(), 5);
}

async fn syntax_and_other_database_errors(db: Database, backend: Backend) {
    let e = db.execute_raw("SELEC 1", params! {}).await.unwrap_err();
    let Error::Database(info) = &e else { panic!("a syntax error is Error::Database: {e:?}") };
    let code = info.code.as_deref().unwrap_or_else(|| panic!("a syntax error carries a code: {info:?}"));
    if backend == Backend::Postgres {
        assert_eq!(code, "42601");
    }
    assert!(!info.message.is_empty());
    assert!(!e.is_retryable());
    let text = e.to_string();
    assert!(text.starts_with("database error: "), "{text}");
    assert!(text.contains(code), "the code is in the message: {text}");

    let e = db.fetch_all_raw("SELECT * FROM no_such_table WHERE id = :id", params! { "id" => 1 }).await.unwrap_err();
    assert!(matches!(e, Error::Database(_)), "{e:?}");
    assert!(e.to_string().contains("no_such_table"), "{e}");

    // The database is still usable afterwards.
    let row = db.fetch_one_raw("SELECT 1 AS one", params! {}).await.unwrap();
    assert_eq!(row.get::<i64>("one").unwrap(), 1);
}

/// `DbErrorInfo::code` is documented as "SQLSTATE (PostgreSQL), error number (MariaDB) or
/// extended result code (SQLite)".
async fn error_codes_follow_the_documentation(db: Database, backend: Backend) {
    exec(&db, "CREATE TABLE users (id BIGINT PRIMARY KEY, email VARCHAR(100) NOT NULL, CONSTRAINT uq_users_email UNIQUE (email))").await;
    exec(&db, "INSERT INTO users (id, email) VALUES (1, 'a')").await;
    let unique = db.execute_raw("INSERT INTO users (id, email) VALUES (2, 'a')", params! {}).await.unwrap_err();
    let not_null = db.execute_raw("INSERT INTO users (id, email) VALUES (3, NULL)", params! {}).await.unwrap_err();
    let syntax = db.execute_raw("SELEC 1", params! {}).await.unwrap_err();
    let codes: Vec<Option<&str>> = [&unique, &not_null, &syntax].iter().map(|e| e.db_info().and_then(|i| i.code.as_deref())).collect();
    let expected = match backend {
        Backend::Sqlite => [Some("2067"), Some("1299"), Some("1")],
        Backend::Postgres => [Some("23505"), Some("23502"), Some("42601")],
        Backend::MariaDb => [Some("1062"), Some("1048"), Some("1064")],
    };
    assert_eq!(codes, expected, "codes on {backend:?}: {unique} / {not_null} / {syntax}");
}

async fn decode_error_from_a_text_column(db: Database, _b: Backend) {
    exec(&db, "CREATE TABLE t (id BIGINT PRIMARY KEY, label VARCHAR(20))").await;
    exec(&db, "INSERT INTO t (id, label) VALUES (1, 'abc')").await;
    let row = db.fetch_one_raw("SELECT label FROM t", params! {}).await.unwrap();
    let e = row.get::<i64>("label").unwrap_err();
    assert_decode_error(&e, "label");
    assert!(e.to_string().starts_with("decode error in column label"), "{e}");
}

per_backend!(
    execute_raw_returns_rows_affected,
    fetch_all_one_optional,
    same_name_twice,
    colons_in_strings_and_comments_are_not_parameters,
    postgres_casts_after_parameters,
    mariadb_double_quoted_strings,
    parameter_errors_are_raised_before_anything_runs,
    values_are_bound_not_spliced,
    rows_keep_select_order_and_serialise,
    typed_getters,
    getter_errors_name_the_column,
    unique_violation,
    model_constraints_are_named,
    foreign_key_violation,
    not_null_violation,
    check_violation,
    syntax_and_other_database_errors,
    error_codes_follow_the_documentation,
    decode_error_from_a_text_column,
);

// ---------------------------------------------------------------------------------------------
// Tracing
// ---------------------------------------------------------------------------------------------

/// One captured event or new span.
#[derive(Debug, Clone)]
struct Captured {
    span: bool,
    level: Level,
    target: String,
    name: String,
    fields: Vec<(String, String)>,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
    fn message(&self) -> &str {
        self.field("message").unwrap_or("")
    }
    fn mentions(&self, needle: &str) -> bool {
        self.fields.iter().any(|(_, v)| v.contains(needle))
    }
}

#[derive(Default)]
struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_string(), value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((field.name().to_string(), format!("{value:?}")));
    }
}

/// A layer recording every event and span (with their fields) into a shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

impl<S: Subscriber> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let meta = attrs.metadata();
        self.0.lock().unwrap().push(Captured {
            span: true,
            level: *meta.level(),
            target: meta.target().to_string(),
            name: meta.name().to_string(),
            fields: fields.0,
        });
    }
    fn on_record(&self, _id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        values.record(&mut fields);
        self.0.lock().unwrap().push(Captured {
            span: true,
            level: Level::TRACE,
            target: String::new(),
            name: "record".into(),
            fields: fields.0,
        });
    }
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        self.0.lock().unwrap().push(Captured {
            span: false,
            level: *meta.level(),
            target: meta.target().to_string(),
            name: meta.name().to_string(),
            fields: fields.0,
        });
    }
}

/// A global subscriber that enables nothing but keeps every callsite's interest at
/// "sometimes". Without it, a callsite first hit by a test running without a subscriber
/// can cache "never" while another test installs its capture (a race in tracing's
/// interest cache), and that test then misses events.
struct KeepCallsitesLive;

impl Subscriber for KeepCallsitesLive {
    fn register_callsite(&self, _: &'static tracing::Metadata<'static>) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        false
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Capture {
    fn subscriber(&self) -> impl Subscriber + Send + Sync + 'static {
        static GLOBAL: std::sync::Once = std::sync::Once::new();
        GLOBAL.call_once(|| {
            let _ = tracing::subscriber::set_global_default(KeepCallsitesLive);
        });
        tracing_subscriber::registry().with(self.clone())
    }
    fn all(&self) -> Vec<Captured> {
        self.0.lock().unwrap().clone()
    }
    /// Events almacen logs for statements.
    fn statements(&self) -> Vec<Captured> {
        self.all().into_iter().filter(|c| !c.span && c.target == "almacen::sql").collect()
    }
    fn dump(&self) -> String {
        self.all().iter().map(|c| format!("{} {} {} {:?}\n", c.level, c.target, c.name, c.fields)).collect()
    }
}

fn placeholders(backend: Backend, sql_pg: &str, sql_other: &str) -> String {
    if backend == Backend::Postgres { sql_pg.to_string() } else { sql_other.to_string() }
}

fn slow_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000) SELECT COUNT(*) AS n FROM c",
        Backend::Postgres => "SELECT pg_sleep(0.05)",
        Backend::MariaDb => "SELECT SLEEP(0.05) AS s",
    }
}

const SECRET: &str = "s3cret-token-9f2c7a";

async fn slow_statement_warns(db: Database, backend: Backend) {
    assert!(db.options().slow_statement.is_some_and(|d| d <= std::time::Duration::from_millis(1)));
    let cap = Capture::default();
    let sql = slow_sql(backend);
    async {
        db.execute_raw(sql, params! {}).await.unwrap();
        db.fetch_all_raw("SELECT :s AS s", params! { "s" => SECRET }).await.unwrap();
    }
    .with_subscriber(cap.subscriber())
    .await;
    let warnings: Vec<Captured> = cap.statements().into_iter().filter(|c| c.level == Level::WARN && c.field("sql") == Some(sql)).collect();
    assert_eq!(warnings.len(), 1, "one slow-statement warning for {sql:?}; captured:\n{}", cap.dump());
    let w = &warnings[0];
    assert_eq!(w.message(), "slow statement");
    let number = |name: &str| -> f64 { w.field(name).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{name} is logged: {w:?}")) };
    let (threshold, elapsed) = (number("threshold_ms"), number("elapsed_ms"));
    assert!((threshold - 1.0).abs() < 0.01, "{w:?}");
    assert!(elapsed >= threshold, "{w:?}");
    // Parameters stay hidden in slow-statement warnings too.
    assert!(!cap.all().iter().any(|c| c.mentions(SECRET)), "the secret leaked into the logs:\n{}", cap.dump());
}

async fn fast_statements_do_not_warn(db: Database, _b: Backend) {
    let cap = Capture::default();
    async {
        db.fetch_one_raw("SELECT 1 AS one", params! {}).await.unwrap();
    }
    .with_subscriber(cap.subscriber())
    .await;
    let statements = cap.statements();
    assert_eq!(statements.len(), 1, "{}", cap.dump());
    assert!(statements.iter().all(|c| c.level == Level::DEBUG), "below the threshold and without echo: DEBUG only\n{}", cap.dump());
}

async fn echo_logs_every_statement(db: Database, backend: Backend) {
    assert!(db.options().echo);
    let cap = Capture::default();
    async {
        db.execute_raw("CREATE TABLE echo_t (id BIGINT PRIMARY KEY, token VARCHAR(50))", params! {}).await.unwrap();
        db.execute_raw("INSERT INTO echo_t (id, token) VALUES (:id, :token)", params! { "id" => 1, "token" => SECRET }).await.unwrap();
        // Rejected before sending: not a statement, nothing logged.
        db.execute_raw("INSERT INTO echo_t (id, token) VALUES (:id, :token)", params! { "id" => 2 }).await.unwrap_err();
        db.fetch_all_raw("SELECT id FROM echo_t WHERE token = :token", params! { "token" => SECRET }).await.unwrap();
        db.fetch_one_raw("SELECT COUNT(*) AS n FROM echo_t", params! {}).await.unwrap();
        db.execute_raw("SELEC 1", params! {}).await.unwrap_err();
    }
    .with_subscriber(cap.subscriber())
    .await;
    let statements = cap.statements();
    let logged: Vec<&str> = statements.iter().map(|c| c.field("sql").unwrap_or("<no sql field>")).collect();
    let expected = [
        "CREATE TABLE echo_t (id BIGINT PRIMARY KEY, token VARCHAR(50))".to_string(),
        placeholders(backend, "INSERT INTO echo_t (id, token) VALUES ($1, $2)", "INSERT INTO echo_t (id, token) VALUES (?, ?)"),
        placeholders(backend, "SELECT id FROM echo_t WHERE token = $1", "SELECT id FROM echo_t WHERE token = ?"),
        "SELECT COUNT(*) AS n FROM echo_t".to_string(),
        "SELEC 1".to_string(),
    ];
    assert_eq!(logged, expected, "every statement sent, in order, and nothing else:\n{}", cap.dump());
    for c in &statements {
        assert_eq!(c.level, Level::INFO, "echo logs at INFO: {c:?}");
        assert_eq!(c.message(), "statement");
        assert!(c.field("elapsed_ms").is_some(), "{c:?}");
    }
    assert_eq!(statements[0].field("ok"), Some("true"));
    assert_eq!(statements[4].field("ok"), Some("false"), "a failing statement is logged with ok=false");
    assert!(!cap.all().iter().any(|c| c.mentions(SECRET)), "echo alone must not log parameters:\n{}", cap.dump());
}

async fn parameters_are_hidden_by_default(db: Database, _b: Backend) {
    assert!(!db.options().log_parameters);
    let cap = Capture::default();
    async {
        db.execute_raw("CREATE TABLE secrets (id BIGINT PRIMARY KEY, token VARCHAR(50))", params! {}).await.unwrap();
        db.execute_raw("INSERT INTO secrets (id, token) VALUES (:id, :token)", params! { "id" => 1, "token" => SECRET }).await.unwrap();
        let row = db.fetch_one_raw("SELECT id FROM secrets WHERE token = :token", params! { "token" => SECRET }).await.unwrap();
        assert_eq!(row.get::<i64>("id").unwrap(), 1);
        db.fetch_all_raw("SELECT id FROM secrets WHERE token IN (:tokens)", params! { "tokens" => vec![SECRET, "other"] }).await.unwrap();
    }
    .with_subscriber(cap.subscriber())
    .await;
    let statements = cap.statements();
    assert_eq!(statements.len(), 4, "every statement is logged (at DEBUG):\n{}", cap.dump());
    for c in &statements {
        assert_eq!(c.level, Level::DEBUG, "without echo statements log at DEBUG: {c:?}");
        assert_eq!(c.field("params"), Some("<hidden>"), "{c:?}");
    }
    let spans: Vec<Captured> = cap.all().into_iter().filter(|c| c.span && c.name == "almacen.query").collect();
    assert_eq!(spans.len(), 4, "one span per statement:\n{}", cap.dump());
    assert!(spans[1].field("db.statement").is_some_and(|s| s.starts_with("INSERT INTO secrets")), "{:?}", spans[1]);
    assert!(!cap.all().iter().any(|c| c.mentions(SECRET)), "the secret leaked into the logs:\n{}", cap.dump());
}

async fn log_parameters_shows_them(db: Database, _b: Backend) {
    assert!(db.options().log_parameters);
    let cap = Capture::default();
    async {
        db.execute_raw("CREATE TABLE secrets (id BIGINT PRIMARY KEY, token VARCHAR(50))", params! {}).await.unwrap();
        db.execute_raw("INSERT INTO secrets (id, token) VALUES (:id, :token)", params! { "id" => 1, "token" => SECRET }).await.unwrap();
        db.fetch_all_raw(
            "SELECT id FROM secrets WHERE id IN (:ids) AND token = :token",
            params! { "ids" => vec![1, 77], "token" => SECRET },
        )
        .await
        .unwrap();
    }
    .with_subscriber(cap.subscriber())
    .await;
    let statements = cap.statements();
    assert_eq!(statements.len(), 3, "{}", cap.dump());
    let params: Vec<&str> = statements.iter().map(|c| c.field("params").unwrap_or("<none>")).collect();
    assert!(params[1].contains(SECRET), "log_parameters=true logs the bound values: {params:?}");
    assert!(params[2].contains(SECRET) && params[2].contains("77"), "list items are logged too: {params:?}");
    assert_ne!(params[0], "<hidden>");
}

async fn echo_covers_transactions_and_streams(db: Database, _b: Backend) {
    db.create_tables(&[Member::TABLE]).await.unwrap();
    Member::insert(&db, NewMember { email: "m@x.io".into() }).await.unwrap();
    let cap = Capture::default();
    async {
        db.transaction(async |tx| -> almacen::Result<_> {
            tx.execute_raw("UPDATE members SET email = :e WHERE id = :id", params! { "e" => "n@x.io", "id" => 1 }).await?;
            Ok(())
        })
        .await
        .unwrap();
    }
    .with_subscriber(cap.subscriber())
    .await;
    let in_tx: Vec<Captured> =
        cap.statements().into_iter().filter(|c| c.field("sql").is_some_and(|s| s.starts_with("UPDATE members SET email"))).collect();
    assert_eq!(in_tx.len(), 1, "a statement inside a transaction is logged:\n{}", cap.dump());
    assert_eq!(in_tx[0].level, Level::INFO);

    let cap = Capture::default();
    let streamed: Vec<Member> = async { Member::select().stream(&db).try_collect().await.unwrap() }.with_subscriber(cap.subscriber()).await;
    assert_eq!(streamed.len(), 1);
    let selects: Vec<Captured> =
        cap.statements().into_iter().filter(|c| c.level == Level::INFO && c.field("sql").is_some_and(|s| s.contains("members"))).collect();
    assert_eq!(selects.len(), 1, "with echo=true a streamed SELECT is logged at INFO like every other statement:\n{}", cap.dump());
    let spans = cap.all().into_iter().filter(|c| c.span && c.name == "almacen.query").count();
    assert_eq!(spans, 1, "a streamed SELECT gets its almacen.query span:\n{}", cap.dump());
}

per_backend_with!(slow_statement_warns => "slow_statement=1ms");
per_backend_with!(fast_statements_do_not_warn => "slow_statement=10s");
per_backend_with!(echo_logs_every_statement => "echo=true&slow_statement=1m");
per_backend!(parameters_are_hidden_by_default);
per_backend_with!(log_parameters_shows_them => "log_parameters=true");
per_backend_with!(echo_covers_transactions_and_streams => "echo=true");

// ---------------------------------------------------------------------------------------------
// Secrets in URLs
// ---------------------------------------------------------------------------------------------

const PASSWORD: &str = "pw-7d1e0b";

/// `url` with `user:PASSWORD@` for its user part.
fn with_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let user = if scheme.starts_with("postgres") { "postgres" } else { "root" };
    format!("{scheme}://{user}:{PASSWORD}@{rest}")
}

/// Connecting with a password in the URL, however it fails, never shows the password: not in
/// the error (Display or Debug), nor in anything logged meanwhile, nor in the options' or the
/// database's Debug.
#[tokio::test]
async fn passwords_stay_out_of_errors_and_logs() {
    let servers = [with_password(&common::postgres_url()), with_password(&common::mysql_url())];
    let mut urls = Vec::new();
    for server in &servers {
        let (base, _) = server.split_once('?').unwrap_or((server, ""));
        let (scheme, _) = base.split_once("://").unwrap();
        urls.extend([
            // A closed port, a wrong password or user, a database that does not exist.
            format!("{scheme}://u:{PASSWORD}@127.0.0.1:1/x?connect_timeout=1s"),
            format!("{base}?connect_timeout=2s"),
            format!("{}_nobody?connect_timeout=2s", base.rsplit_once('/').unwrap().0.to_string() + "/almacen_no_such_db"),
            // Malformed URLs and options, with the password beside the mistake.
            format!("{scheme}://u:{PASSWORD}@127.0.0.1:notaport/x"),
            format!("{scheme}://u:{PASSWORD}@127.0.0.1/x?pool_size=lots"),
            format!("{scheme}://u@127.0.0.1/x?passwrd={PASSWORD}"),
            format!("{scheme}://u@127.0.0.1/x?password={PASSWORD}&max_conections=2"),
            format!("{scheme}://u:{PASSWORD}%zz@127.0.0.1/x"),
        ]);
    }
    let cap = Capture::default();
    let mut seen = Vec::new();
    async {
        for url in &urls {
            if let Ok(options) = almacen::ConnectOptions::from_url(url) {
                seen.push(format!("{options:?}"));
            }
            match Database::connect(url).await {
                Err(e) => seen.push(format!("{url}: {e} / {e:?}")),
                Ok(db) => {
                    seen.push(format!("{url}: {db:?}"));
                    db.close().await;
                }
            }
        }
    }
    .with_subscriber(cap.subscriber())
    .await;
    for line in &seen {
        assert!(!line.split_once(": ").map_or(line.as_str(), |(_, shown)| shown).contains(PASSWORD), "the password shows: {line}");
    }
    assert!(!cap.all().iter().any(|c| c.mentions(PASSWORD)), "the password was logged:\n{}", cap.dump());
}
