//! Raw SQL `:name` parameters scanned with each dialect's lexical rules (comments, strings,
//! quoted identifiers, `\:` escapes, Unicode names, PostgreSQL binding a repeated name once),
//! run on SQLite, PostgreSQL and MariaDB.

mod common;

use almacen::prelude::*;
use almacen::{Dialect, Statement};
use common::Backend;

async fn one(db: &Database, sql: &str, params: Params) -> Row {
    db.fetch_one_raw(sql, params).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn text(row: &Row, column: &str) -> String {
    row.get::<String>(column).unwrap_or_else(|e| panic!("{column}: {e}"))
}

fn int(row: &Row, column: &str) -> i64 {
    row.get::<i64>(column).unwrap_or_else(|e| panic!("{column}: {e}"))
}

/// `sql` uses no parameter `name`: giving it is an "unused" error, raised before anything runs.
async fn assert_not_a_parameter(db: &Database, sql: &str, name: &str) {
    match db.fetch_all_raw(sql, Params::new().set(name, 1)).await {
        Err(Error::Parameter(msg)) => assert!(msg.contains(&format!(":{name} was given but the SQL does not use it")), "{sql}: {msg}"),
        other => panic!("{sql}: expected :{name} to be unused, got {other:?}"),
    }
}

async fn strings_and_quoted_identifiers(db: Database, backend: Backend) {
    match backend {
        Backend::MariaDb => {
            // Backslash escapes in '...' and "..." (a string in MariaDB); `#` comments.
            let row = one(&db, r#"SELECT 'it\'s :x' AS a, "a\" :x \"b" AS s, :y AS b # :z"#, params! { "y" => 1 }).await;
            assert_eq!(text(&row, "a"), "it's :x");
            assert_eq!(text(&row, "s"), r#"a" :x "b"#);
            assert_eq!(int(&row, "b"), 1);
            let row = one(&db, "SELECT 2 AS `a``:x`, :y AS y", params! { "y" => 1 }).await;
            assert_eq!(int(&row, "a`:x"), 2);
            // `\:` inside a string is the server's: MariaDB drops the backslash of an unknown escape.
            let row = one(&db, r"SELECT '\:x' AS s, :n AS n", params! { "n" => 1 }).await;
            assert_eq!(text(&row, "s"), ":x");
        }
        Backend::Postgres => {
            let row = one(&db, r"SELECT $$ :x $$ AS a, E'\' :x' AS b, :y AS c /* /* :z */ */", params! { "y" => "c" }).await;
            assert_eq!(text(&row, "a"), " :x ");
            assert_eq!(text(&row, "b"), "' :x");
            assert_eq!(text(&row, "c"), "c");
            // A plain string ends at `\'`: here `:y` is a parameter between two strings.
            let row = one(&db, r"SELECT 'a\' || :y || 'b' AS s", params! { "y" => "-" }).await;
            assert_eq!(text(&row, "s"), r"a\-b");
            let row = one(&db, r#"SELECT 2 AS "a"":x", $tag$ :x $ $tag$ AS t"#, params! {}).await;
            assert_eq!(int(&row, r#"a":x"#), 2);
            assert_eq!(text(&row, "t"), " :x $ ");
            // `[` is a subscript, not a quote.
            let row = one(&db, "SELECT (ARRAY[10, 20, 30])[:i] AS v", params! { "i" => 2 }).await;
            assert_eq!(int(&row, "v"), 20);
            let row = one(&db, r"SELECT '\:x' AS s, :n AS n", params! { "n" => 1 }).await;
            assert_eq!(text(&row, "s"), r"\:x");
        }
        Backend::Sqlite => {
            let row = one(&db, "SELECT [a:b], [ :x ] AS [c:d], :p AS p FROM (SELECT 1 AS [a:b], 2 AS [ :x ])", params! { "p" => 3 }).await;
            assert_eq!(int(&row, "a:b"), 1);
            assert_eq!(int(&row, "c:d"), 2);
            assert_eq!(int(&row, "p"), 3);
            let row = one(&db, r#"SELECT 'C:\dir\' AS p, 2 AS "a"":x", 3 AS `b``:y`, :n AS n"#, params! { "n" => 1 }).await;
            assert_eq!(text(&row, "p"), r"C:\dir\");
            assert_eq!(int(&row, r#"a":x"#), 2);
            assert_eq!(int(&row, "b`:y"), 3);
            let row = one(&db, r"SELECT '\:x' AS s, :n AS n", params! { "n" => 1 }).await;
            assert_eq!(text(&row, "s"), r"\:x");
        }
    }
}

async fn comments(db: Database, backend: Backend) {
    match backend {
        Backend::MariaDb => {
            // `--` needs a space after it: `5 --:n` is 5 - (-n).
            let row = one(&db, "SELECT 5 --:n AS v", params! { "n" => 2 }).await;
            assert_eq!(int(&row, "v"), 7);
            assert_not_a_parameter(&db, "SELECT 5 AS v -- :n", "n").await;
            assert_not_a_parameter(&db, "SELECT 5 AS v # :n", "n").await;
            // Comments do not nest: the first `*/` ends this one.
            let row = one(&db, "SELECT /* /* */ :n AS v", params! { "n" => 4 }).await;
            assert_eq!(int(&row, "v"), 4);
            // An executable comment's content is SQL.
            let row = one(&db, "SELECT 1 /*! + :n */ AS v", params! { "n" => 4 }).await;
            assert_eq!(int(&row, "v"), 5);
        }
        Backend::Postgres => {
            // `#` is bitwise xor, not a comment.
            let row = one(&db, "SELECT 5 # :n AS v", params! { "n" => 1 }).await;
            assert_eq!(int(&row, "v"), 4);
            assert_not_a_parameter(&db, "SELECT 5 AS v --:n", "n").await;
            assert_not_a_parameter(&db, "SELECT 5 AS v /* /* */ :n */", "n").await;
        }
        Backend::Sqlite => {
            assert_not_a_parameter(&db, "SELECT 5 AS v --:n", "n").await;
            // SQLite reads an unterminated `/*` as a comment to the end.
            let row = one(&db, "SELECT :n AS v /* :z", params! { "n" => 4 }).await;
            assert_eq!(int(&row, "v"), 4);
            let row = one(&db, "SELECT /* /* */ :n AS v", params! { "n" => 4 }).await;
            assert_eq!(int(&row, "v"), 4);
        }
    }
}

async fn backslash_colon_is_a_literal_colon(db: Database, backend: Backend) {
    match backend {
        Backend::MariaDb => {
            let row = one(&db, r"SELECT @v \:= :n AS v", params! { "n" => 5 }).await;
            assert_eq!(int(&row, "v"), 5);
        }
        Backend::Postgres => {
            let row = one(&db, r"SELECT '5'\:\:int + :n AS v, :n\:\:text AS t", params! { "n" => 1 }).await;
            assert_eq!(int(&row, "v"), 6);
            assert_eq!(text(&row, "t"), "1");
        }
        Backend::Sqlite => {
            // Written after `\:`, a name is text; SQLite's own `:x` syntax is not used here, so
            // check the rendered statement instead.
            let stmt = Statement::named(Dialect::Sqlite, r"SELECT 'x' \:name, :n", params! { "n" => 1 }).unwrap();
            assert_eq!(stmt.sql(), "SELECT 'x' :name, ?");
            let row = one(&db, r"SELECT 'a' || '\:' || :n AS s", params! { "n" => "b" }).await;
            assert_eq!(text(&row, "s"), r"a\:b");
        }
    }
}

async fn repeated_name_binds_once_on_postgres(db: Database, backend: Backend) {
    // PostgreSQL gets `$1 + $1` and one value; `?` dialects bind every occurrence.
    let row = one(&db, "SELECT :a + :a AS s", params! { "a" => 20 }).await;
    assert_eq!(int(&row, "s"), 40);
    let row = one(
        &db,
        "SELECT CASE WHEN 2 IN (:ids) AND 3 IN (:ids) AND :k = 7 AND 9 NOT IN (:ids) THEN :k ELSE 0 END AS ok",
        params! { "ids" => vec![1, 2, 3], "k" => 7 },
    )
    .await;
    assert_eq!(int(&row, "ok"), 7);
    let dialect = match backend {
        Backend::Sqlite => Dialect::Sqlite,
        Backend::Postgres => Dialect::Postgres,
        Backend::MariaDb => Dialect::MySql,
    };
    let stmt = Statement::named(dialect, "SELECT :a + :a, :ids, :ids", params! { "a" => 1, "ids" => vec![1, 2] }).unwrap();
    let expected = if backend == Backend::Postgres { "SELECT $1 + $1, $2, $3, $2, $3" } else { "SELECT ? + ?, ?, ?, ?, ?" };
    assert_eq!(stmt.sql(), expected);
}

async fn unicode_parameter_names(db: Database, _b: Backend) {
    let row = one(&db, "SELECT :名前 AS a, :número AS b, :número + 1 AS c", params! { "名前" => "x", "número" => 7 }).await;
    assert_eq!(text(&row, "a"), "x");
    assert_eq!(int(&row, "b"), 7);
    assert_eq!(int(&row, "c"), 8);
}

per_backend!(
    strings_and_quoted_identifiers,
    comments,
    backslash_colon_is_a_literal_colon,
    repeated_name_binds_once_on_postgres,
    unicode_parameter_names
);
