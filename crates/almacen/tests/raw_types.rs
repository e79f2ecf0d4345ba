//! Raw SQL's values on every dialect: one text run with values of different types on one
//! connection, integers PostgreSQL resolves functions with, untyped NULLs, and raw rows of
//! PostgreSQL types almacen has no portable type for (arrays, intervals).

mod common;

use almacen::{Database, Error, Executor, Kind, Model, Value, params};
use common::Backend;
use rust_decimal::Decimal;

/// The values one `SELECT :v AS v` is run with, in an order that changes types every time.
fn mixed_values() -> Vec<Value> {
    vec![
        Value::Int(7),
        Value::Float(2.5),
        Value::from("abc"),
        Value::Int(1 << 40),
        Value::Bool(true),
        Value::Decimal(Decimal::new(12345, 2)),
        Value::Float(-1e300),
        Value::from("12345678"),
        Value::Int(-3),
        Value::Null(Kind::Unknown),
    ]
}

/// One SQL text, run again and again with values of other types on a single connection,
/// reads back each value: PostgreSQL's cached statement never takes a value for a parameter
/// of another type (a float's 8 bytes read as a bigint, or "insufficient data left").
async fn one_text_with_values_of_many_types(db: Database, backend: Backend) {
    for round in 0..20 {
        let values = mixed_values();
        let order: Vec<usize> = (0..values.len()).map(|i| (i * 7 + round * 3) % values.len()).collect();
        for i in order {
            let v = values[i].clone();
            let row = db.fetch_one_raw("SELECT :v AS v", params! {"v" => v.clone()}).await.unwrap_or_else(|e| panic!("{v:?}: {e}"));
            let got = row.value("v").unwrap().clone();
            match (&v, &got, backend) {
                // MariaDB has no boolean values and SQLite none either: 1.
                (Value::Bool(true), Value::Int(1), Backend::MariaDb | Backend::Sqlite) => {}
                // SQLite reads a decimal parameter as the text it was bound as.
                (Value::Decimal(d), Value::Text(t), Backend::Sqlite) => assert_eq!(t, &d.to_string()),
                (Value::Null(_), Value::Null(_), _) => {}
                (Value::Float(f), Value::Float(g), _) => assert_eq!(f.to_bits(), g.to_bits(), "{v:?}"),
                _ => assert_eq!(got, v, "{backend:?}, round {round}"),
            }
        }
    }
}

/// PostgreSQL picks functions by argument type: small integers bind as int4, which
/// `make_interval(days => …)` takes; the interval reads back as ISO 8601 text.
async fn integers_resolve_functions(db: Database, backend: Backend) {
    if backend != Backend::Postgres {
        return;
    }
    let row = db.fetch_one_raw("SELECT make_interval(days => :n) AS i", params! {"n" => 3}).await.unwrap();
    assert_eq!(row.value("i"), Some(&Value::from("P3D")));
    let row =
        db.fetch_one_raw("SELECT repeat('ab', :n) AS r, :big::bigint + 1 AS b", params! {"n" => 2, "big" => i64::MAX - 1}).await.unwrap();
    assert_eq!((row.get::<String>("r").unwrap(), row.get::<i64>("b").unwrap()), ("abab".into(), i64::MAX));
}

/// A NULL of no known type takes the type of where it stands, as a literal NULL does.
async fn untyped_null_takes_the_type_of_its_place(db: Database, backend: Backend) {
    db.execute_raw("CREATE TABLE stock (n INTEGER NOT NULL)", params! {}).await.unwrap();
    db.execute_raw("INSERT INTO stock (n) VALUES (5)", params! {}).await.unwrap();
    let none: Option<i32> = None;
    let row = db.fetch_one_raw("SELECT COALESCE(:x, n) AS v FROM stock", params! {"x" => none}).await.unwrap();
    assert_eq!(row.value("v"), Some(&Value::Int(5)), "{backend:?}");
    let row = db.fetch_one_raw("SELECT COALESCE(:x, 1) AS v", params! {"x" => none}).await.unwrap();
    assert_eq!(row.value("v"), Some(&Value::Int(1)), "{backend:?}");
    // A timestamp stays a timestamp (MariaDB types a VARCHAR NULL's COALESCE as text).
    if backend != Backend::Sqlite {
        let ty = if backend == Backend::Postgres { "TIMESTAMPTZ" } else { "DATETIME(6)" };
        db.execute_raw(&format!("CREATE TABLE events (at {ty} NOT NULL)"), params! {}).await.unwrap();
        db.execute_raw("INSERT INTO events (at) VALUES ('2024-05-06 07:08:09')", params! {}).await.unwrap();
        let row = db.fetch_one_raw("SELECT COALESCE(:x, at) AS v FROM events", params! {"x" => none}).await.unwrap();
        let at = chrono::NaiveDate::from_ymd_opt(2024, 5, 6).unwrap().and_hms_opt(7, 8, 9).unwrap().and_utc();
        assert_eq!(row.value("v"), Some(&Value::Timestamp(at)), "{backend:?}");
    }
    // Where nothing gives it a type, PostgreSQL asks for one (as for any parameter); a cast
    // gives it. The others take it as a plain NULL.
    let bare = db.fetch_one_raw("SELECT :x AS v, CASE WHEN :x IS NULL THEN 1 ELSE 0 END AS is_null", params! {"x" => none}).await;
    let row = match backend {
        Backend::Postgres => {
            let e = bare.unwrap_err();
            assert!(matches!(&e, Error::Database(info) if info.code.as_deref() == Some("42P08")), "{e:?}");
            db.fetch_one_raw("SELECT :x::text AS v, CASE WHEN :x::text IS NULL THEN 1 ELSE 0 END AS is_null", params! {"x" => none})
                .await
                .unwrap()
        }
        _ => bare.unwrap(),
    };
    assert!(row.value("v").unwrap().is_null(), "{backend:?}");
    assert_eq!(row.get::<i64>("is_null").unwrap(), 1, "{backend:?}");
    // The same texts with a value, after the NULL.
    let row = db.fetch_one_raw("SELECT COALESCE(:x, 1) AS v", params! {"x" => 9}).await.unwrap();
    assert_eq!(row.value("v"), Some(&Value::Int(9)), "{backend:?}");
}

/// Raw rows of PostgreSQL arrays and intervals, and of a function returning `void`.
async fn postgres_arrays_and_intervals(db: Database, backend: Backend) {
    if backend != Backend::Postgres {
        return;
    }
    let row = db
        .fetch_one_raw(
            "SELECT ARRAY[1, 2, NULL]::int4[] AS ints, ARRAY['x', 'y'] AS texts, ARRAY[1.50, 123456789012345678.9]::numeric[] AS nums, \
             '{}'::int8[] AS empty, ARRAY['2020-02-29'::date] AS dates, ARRAY[true, false] AS bools, ARRAY[0.5::float8] AS floats, \
             INTERVAL '1 year 2 months 3 days 04:05:06.5' AS i, INTERVAL '0' AS zero, pg_sleep(0) AS slept",
            params! {},
        )
        .await
        .unwrap();
    let list = |name: &str| match row.value(name) {
        Some(Value::List(items)) => items.clone(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(list("ints"), [Value::Int(1), Value::Int(2), Value::Null(Kind::Unknown)]);
    assert_eq!(list("texts"), [Value::from("x"), Value::from("y")]);
    assert_eq!(list("nums"), [Value::Decimal("1.50".parse().unwrap()), Value::Decimal("123456789012345678.9".parse().unwrap())]);
    assert_eq!(list("empty"), []);
    assert_eq!(list("dates"), [Value::Date(chrono::NaiveDate::from_ymd_opt(2020, 2, 29).unwrap())]);
    assert_eq!(list("bools"), [Value::Bool(true), Value::Bool(false)]);
    assert_eq!(list("floats"), [Value::Float(0.5)]);
    assert_eq!(row.value("i"), Some(&Value::from("P1Y2M3DT4H5M6.5S")));
    assert_eq!(row.value("zero"), Some(&Value::from("PT0S")));
    assert!(row.value("slept").unwrap().is_null());
    assert_eq!(serde_json::to_value(&row).unwrap()["ints"], serde_json::json!([1, 2, null]));
    // Two dimensions have no value: a decode error naming the column, not a wrong value.
    let e = db.fetch_one_raw("SELECT ARRAY[[1, 2], [3, 4]] AS grid", params! {}).await.unwrap_err();
    assert!(matches!(&e, Error::Decode { column, .. } if column == "grid"), "{e:?}");
}

per_backend!(
    one_text_with_values_of_many_types,
    integers_resolve_functions,
    untyped_null_takes_the_type_of_its_place,
    postgres_arrays_and_intervals
);

/// On a pool of one connection every run shares its statement cache.
async fn one_text_on_one_connection(db: Database, backend: Backend) {
    one_text_with_values_of_many_types(db, backend).await
}
per_backend_with!(one_text_on_one_connection => "max_connections=1");

#[derive(almacen::Model, Debug, Clone)]
#[model(table = "prices")]
struct Price {
    #[model(primary_key)]
    id: i64,
    #[model(decimal(12, 2))]
    amount: Decimal,
}

/// A SQLite table from an earlier almacen held decimals as scaled integers (15800 for
/// 158.00): reading one is a decode error that says so, not an amount a hundred times off.
async fn sqlite_scaled_integer_decimals_are_refused(db: Database, backend: Backend) {
    if backend != Backend::Sqlite {
        return;
    }
    db.execute_raw("CREATE TABLE prices (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)", params! {}).await.unwrap();
    db.execute_raw("INSERT INTO prices (id, amount) VALUES (1, 15800)", params! {}).await.unwrap();
    let e = Price::get(&db, 1).await.unwrap_err();
    assert!(matches!(&e, Error::Decode { column, message } if column == "amount" && message.contains("scaled integers")), "{e:?}");
    // A table almacen creates converts an integer written by raw SQL, and reads it right.
    db.execute_raw("DROP TABLE prices", params! {}).await.unwrap();
    db.create_tables(&[Price::TABLE]).await.unwrap();
    db.execute_raw("INSERT INTO prices (id, amount) VALUES (1, 158)", params! {}).await.unwrap();
    assert_eq!(Price::get(&db, 1).await.unwrap().unwrap().amount.to_string(), "158.00");
    // Past the precision (decimal(12, 2) holds below 10^10) or not a number: refused.
    for bad in ["10000000000", "'abc'", "x'00'"] {
        let e = db.execute_raw(&format!("UPDATE prices SET amount = {bad}"), params! {}).await.unwrap_err();
        assert!(matches!(e, Error::CheckViolation { .. }), "{bad}: {e:?}");
    }
    db.execute_raw("UPDATE prices SET amount = 9999999999.99", params! {}).await.unwrap();
    assert_eq!(Price::get(&db, 1).await.unwrap().unwrap().amount.to_string(), "9999999999.99");
}

per_backend!(sqlite_scaled_integer_decimals_are_refused);

/// An integer expression reads as an integer on every dialect (MariaDB's `SUM` of integers
/// is a `DECIMAL`, PostgreSQL's of `BIGINT`s a `NUMERIC`); a decimal one stays a decimal.
async fn integer_sums_are_integers(db: Database, backend: Backend) {
    let big = if backend == Backend::Sqlite { "INTEGER" } else { "BIGINT" };
    let dec = if backend == Backend::Sqlite { "TEXT" } else { "DECIMAL(10, 2)" };
    db.execute_raw(&format!("CREATE TABLE qty (q INTEGER NOT NULL, b {big} NOT NULL, d {dec} NOT NULL)"), params! {}).await.unwrap();
    db.execute_raw("INSERT INTO qty (q, b, d) VALUES (1, 10, '1.50'), (1, 20, '2.25')", params! {}).await.unwrap();
    let row = db.fetch_one_raw("SELECT SUM(q) AS q, SUM(b) AS b FROM qty", params! {}).await.unwrap();
    assert_eq!((row.value("q"), row.value("b")), (Some(&Value::Int(2)), Some(&Value::Int(30))), "{backend:?}");
    assert_eq!(serde_json::to_string(&row).unwrap(), r#"{"q":2,"b":30}"#);
    if backend != Backend::Sqlite {
        let row = db.fetch_one_raw("SELECT SUM(d) AS d FROM qty", params! {}).await.unwrap();
        assert_eq!(row.value("d"), Some(&Value::Decimal(Decimal::new(375, 2))), "{backend:?}");
    }
}

per_backend!(integer_sums_are_integers);

#[derive(almacen::DbEnum, Debug, Clone, Copy, PartialEq)]
enum Mood {
    Calm,
    #[db_enum(rename = "on_fire")]
    OnFire,
}

/// An enum binds as its stored text in raw SQL, alone and as a list for `IN (:moods)`.
async fn enums_are_raw_parameters(db: Database, _b: Backend) {
    db.execute_raw("CREATE TABLE moods (id INTEGER PRIMARY KEY, mood VARCHAR(20) NOT NULL)", params! {}).await.unwrap();
    db.execute_raw("INSERT INTO moods (id, mood) VALUES (1, :a), (2, :b), (3, :a)", params! {"a" => Mood::Calm, "b" => Mood::OnFire})
        .await
        .unwrap();
    let fire = db.fetch_all_raw("SELECT id FROM moods WHERE mood = :m", params! {"m" => Mood::OnFire}).await.unwrap();
    assert_eq!(fire.iter().map(|r| r.get::<i64>("id").unwrap()).collect::<Vec<_>>(), [2]);
    let both = db
        .fetch_all_raw("SELECT id FROM moods WHERE mood IN (:ms) ORDER BY id", params! {"ms" => vec![Mood::Calm, Mood::OnFire]})
        .await
        .unwrap();
    assert_eq!(both.len(), 3);
    let stored = db.fetch_one_raw("SELECT mood FROM moods WHERE id = 2", params! {}).await.unwrap();
    assert_eq!(stored.get::<Mood>("mood").unwrap(), Mood::OnFire);
}

per_backend!(enums_are_raw_parameters);
