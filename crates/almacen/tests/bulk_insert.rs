//! Bulk writes: `insert_many_without_returning` (and `insert_many` beside it), the same on
//! SQLite, PostgreSQL and MariaDB: rows stored exactly, the count returned, empty input,
//! chunks across many statements, all or none, clear errors, server defaults left out on
//! some rows only.

mod common;

use almacen::chrono::{Duration, TimeZone};
use almacen::prelude::*;
use common::Backend;

/// Every kind of value a load carries, a unique code, and two columns the database fills
/// in when a row leaves them out.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "loads")]
struct Load {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40, unique)]
    code: String,
    n: i32,
    big: i64,
    #[model(decimal(12, 2))]
    price: Decimal,
    ratio: f64,
    flag: bool,
    note: Option<String>,
    at: DateTime<Utc>,
    #[model(server_default = 0)]
    views: i64,
    #[model(server_default = now)]
    created_at: DateTime<Utc>,
}

fn at(i: usize) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 2, 3, 4, 5).unwrap() + Duration::microseconds(i as i64 * 1_000_001)
}

/// Row `i` of a load: every value depends on `i`, so each stored row can be checked.
fn load(prefix: &str, i: usize) -> NewLoad {
    NewLoad {
        code: format!("{prefix}-{i:06}"),
        n: i as i32 - 500,
        big: (i as i64) << 33,
        price: Decimal::new(i as i64 * 7 + 1, 2),
        ratio: i as f64 / 8.0,
        flag: i.is_multiple_of(3),
        note: (!i.is_multiple_of(4)).then(|| format!("note {i} ñ")),
        at: at(i),
        views: None,
        created_at: None,
    }
}

fn loads(prefix: &str, n: usize) -> Vec<NewLoad> {
    (0..n).map(|i| load(prefix, i)).collect()
}

/// The stored rows, in code order.
async fn stored(db: &Database) -> Vec<Load> {
    Load::select().order_by(Load::CODE.asc()).fetch_all(db).await.unwrap()
}

/// `row` holds what `new` asked for (and the defaults where it left them out).
fn check(row: &Load, new: &NewLoad) {
    let what = format!("row {}", new.code);
    assert_eq!(row.code, new.code, "{what}");
    assert_eq!(row.n, new.n, "{what}");
    assert_eq!(row.big, new.big, "{what}");
    assert_eq!(row.price, new.price, "{what}");
    assert_eq!(row.ratio, new.ratio, "{what}");
    assert_eq!(row.flag, new.flag, "{what}");
    assert_eq!(row.note, new.note, "{what}");
    assert_eq!(row.at, new.at, "{what}");
    assert_eq!(row.views, new.views.unwrap_or(0), "{what}");
    if let Some(t) = new.created_at {
        assert_eq!(row.created_at, t, "{what}");
    }
}

/// How many statements the counter saw that insert into `loads`, and whether any read
/// rows back.
fn inserts(counter: &almacen::StatementCounter) -> (usize, bool) {
    let sql = counter.statements();
    let inserts: Vec<&String> = sql.iter().filter(|s| s.starts_with("INSERT INTO")).collect();
    (inserts.len(), inserts.iter().any(|s| s.contains("RETURNING")))
}

async fn rows_are_stored_exactly(db: Database, _b: Backend) {
    db.create_tables(&[Load::TABLE]).await.unwrap();
    let counter = db.statement_counter();
    let n = Load::insert_many_without_returning(&db, loads("a", 1_000)).await.unwrap();
    assert_eq!(n, 1_000, "the count of rows inserted");
    let (statements, returning) = inserts(&counter);
    assert!(statements >= 1 && !returning, "{statements} INSERT(s), RETURNING: {returning}");
    let rows = stored(&db).await;
    assert_eq!(rows.len(), 1_000);
    for (i, row) in rows.iter().enumerate() {
        check(row, &load("a", i));
    }
    // Keys follow the input order; the server default is the insert's time.
    assert!(rows.windows(2).all(|w| w[0].id < w[1].id), "ids increase in input order");
    let age = (Utc::now() - rows[0].created_at).num_seconds();
    assert!(age.abs() < 300, "created_at {:?}", rows[0].created_at);

    // The same rows through insert_many come back as stored, and as the table holds them.
    let back = Load::insert_many(&db, loads("b", 300)).await.unwrap();
    assert_eq!(back.len(), 300);
    let again = Load::select().filter(Load::CODE.starts_with("b-")).order_by(Load::CODE.asc()).fetch_all(&db).await.unwrap();
    assert_eq!(back, again);
    for (i, row) in back.iter().enumerate() {
        check(row, &load("b", i));
    }
}

async fn empty_input_sends_nothing(db: Database, _b: Backend) {
    db.create_tables(&[Load::TABLE]).await.unwrap();
    let counter = db.statement_counter();
    assert_eq!(Load::insert_many_without_returning(&db, Vec::new()).await.unwrap(), 0);
    assert!(Load::insert_many(&db, Vec::new()).await.unwrap().is_empty());
    assert_eq!(counter.count(), 0, "{:?}", counter.statements());
}

/// 20,000 rows of 9 columns are 180,000 values: several statements on every dialect (SQLite
/// takes 32,766 a statement, the servers 65,535), in one transaction.
async fn chunks_across_many_statements(db: Database, _b: Backend) {
    db.create_tables(&[Load::TABLE]).await.unwrap();
    let counter = db.statement_counter();
    let n = Load::insert_many_without_returning(&db, loads("c", 20_000)).await.unwrap();
    assert_eq!(n, 20_000);
    let (statements, returning) = inserts(&counter);
    assert!(statements >= 3 && !returning, "{statements} INSERT(s), RETURNING: {returning}");
    let rows = stored(&db).await;
    assert_eq!(rows.len(), 20_000);
    for (i, row) in rows.iter().enumerate() {
        check(row, &load("c", i));
    }
    assert!(rows.windows(2).all(|w| w[0].id < w[1].id), "ids increase in input order");

    // Sizes that end in every remainder: each count is what is stored.
    for (k, size) in [1usize, 2, 3, 1_023, 1_025, 4_097].into_iter().enumerate() {
        let prefix = format!("s{k}");
        assert_eq!(Load::insert_many_without_returning(&db, loads(&prefix, size)).await.unwrap(), size as u64);
        let filter = Load::CODE.starts_with(&format!("{prefix}-"));
        assert_eq!(Load::select().filter(filter).count(&db).await.unwrap(), size as u64, "{size} rows");
    }
}

async fn a_violation_midway_leaves_nothing(db: Database, _b: Backend) {
    db.create_tables(&[Load::TABLE]).await.unwrap();
    // The last row repeats the first row's unique code: the violation comes in the last
    // statement, after the others inserted their rows.
    let mut rows = loads("d", 20_000);
    rows[19_999].code = rows[0].code.clone();
    let err = Load::insert_many_without_returning(&db, rows).await.unwrap_err();
    assert!(matches!(err, Error::UniqueViolation(_)), "{err:?}");
    assert_eq!(err.db_info().and_then(|i| i.field.as_deref()), Some("code"), "{err:?}");
    assert_eq!(Load::select().count(&db).await.unwrap(), 0, "nothing of a failed load stays");

    // One statement with a duplicate leaves nothing either.
    let mut few = loads("e", 5);
    few[4].code = few[1].code.clone();
    let err = Load::insert_many_without_returning(&db, few).await.unwrap_err();
    assert_eq!(err.db_info().and_then(|i| i.field.as_deref()), Some("code"), "{err:?}");
    assert_eq!(Load::select().count(&db).await.unwrap(), 0);

    // A value no column may hold is refused, naming the column: in a batch of one
    // statement before anything is sent, in a longer one undoing what was sent.
    let mut bad = loads("f", 3);
    bad[2].code = "x".repeat(41);
    let counter = db.statement_counter();
    let err = Load::insert_many_without_returning(&db, bad).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidValue { column, .. } if column == "code"), "{err:?}");
    assert_eq!(counter.count(), 0, "{} statement(s) sent", counter.count());
    let mut bad = loads("f", 20_000);
    bad[19_321].price = Decimal::new(1, 3);
    let err = Load::insert_many_without_returning(&db, bad).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidValue { column, .. } if column == "price"), "{err:?}");
    assert_eq!(Load::select().count(&db).await.unwrap(), 0, "nothing of a refused load stays");

    // Inside a transaction the rows are the transaction's: gone with its rollback, kept by
    // its commit. A load that fails there leaves the transaction as it was (a savepoint
    // around its statements), whatever the caller then does.
    let out: almacen::Result<()> = db
        .transaction(async |tx| {
            assert_eq!(Load::insert_many_without_returning(tx, loads("g", 3_000)).await?, 3_000);
            assert_eq!(Load::select().count(tx).await?, 3_000);
            Err(Error::other("changed my mind"))
        })
        .await;
    assert!(out.is_err());
    assert_eq!(Load::select().count(&db).await.unwrap(), 0);
    db.transaction(async |tx| -> almacen::Result<()> {
        Load::insert_many_without_returning(tx, loads("k", 10)).await?;
        let mut rows = loads("m", 20_000);
        rows[19_999].code = "k-000003".into();
        let err = Load::insert_many_without_returning(tx, rows).await.unwrap_err();
        assert_eq!(err.db_info().and_then(|i| i.field.as_deref()), Some("code"), "{err:?}");
        let mut rows = loads("m", 20_000);
        rows[19_999].price = Decimal::new(1, 3);
        let err = Load::insert_many(tx, rows).await.unwrap_err();
        assert!(matches!(&err, Error::InvalidValue { column, .. } if column == "price"), "{err:?}");
        assert_eq!(Load::select().count(tx).await?, 10, "the failed loads left nothing in the transaction");
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(Load::select().count(&db).await.unwrap(), 10);
    Load::delete_where(Load::ID.gt(0)).execute(&db).await.unwrap();
    db.transaction(async |tx| -> almacen::Result<()> {
        let repo = Repository::<Load, _>::new(tx);
        assert_eq!(repo.create_many_without_returning(loads("h", 2_500)).await?, 2_500);
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(Load::select().count(&db).await.unwrap(), 2_500, "the database is usable and the commit kept them");
}

/// Rows that leave the server-default columns out on some rows only: each keeps what it
/// gave, the others get the defaults, in input order.
async fn server_defaults_left_out_on_some_rows(db: Database, _b: Backend) {
    db.create_tables(&[Load::TABLE]).await.unwrap();
    let given = Utc.with_ymd_and_hms(2001, 2, 3, 4, 5, 6).unwrap();
    let rows: Vec<NewLoad> = (0..2_500)
        .map(|i| {
            let mut row = load("v", i);
            // Runs of every length, alternating which columns are given.
            if (i / 7) % 2 == 1 {
                row.views = Some(i as i64);
            }
            if i.is_multiple_of(5) || (1_000..1_600).contains(&i) {
                row.created_at = Some(given);
            }
            row
        })
        .collect();
    let expected = rows.clone();
    assert_eq!(Load::insert_many_without_returning(&db, rows.clone()).await.unwrap(), 2_500);
    let stored_rows = stored(&db).await;
    assert_eq!(stored_rows.len(), 2_500);
    for (row, new) in stored_rows.iter().zip(&expected) {
        check(row, new);
        if new.created_at.is_none() {
            assert_ne!(row.created_at, given, "row {} got the server default", new.code);
        }
    }
    assert!(stored_rows.windows(2).all(|w| w[0].id < w[1].id), "ids increase in input order");

    // The same through insert_many, which returns each row with its defaults.
    db.drop_tables(&[Load::TABLE]).await.unwrap();
    db.create_tables(&[Load::TABLE]).await.unwrap();
    let back = Load::insert_many(&db, rows).await.unwrap();
    assert_eq!(back, stored(&db).await);
    for (row, new) in back.iter().zip(&expected) {
        check(row, new);
    }
}

per_backend!(
    rows_are_stored_exactly,
    empty_input_sends_nothing,
    chunks_across_many_statements,
    a_violation_midway_leaves_nothing,
    server_defaults_left_out_on_some_rows,
);
