//! Work the database does on stored values stays exact on every dialect: arithmetic of
//! `add`, comparisons SQLite rewrites, aggregates, comparisons across SQLite's two decimal
//! forms. Each case is one the servers get right by their types and SQLite needs almacen for.

mod common;

use almacen::prelude::*;
use almacen::query::{max, min, sum};
use common::Backend;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "numbers")]
struct Numbers {
    #[model(primary_key, auto)]
    id: i64,
    single: f32,
    big: i64,
    #[model(decimal(12, 2))]
    price: Option<Decimal>,
    #[model(decimal(15, 4))]
    short: Decimal,
    #[model(decimal(28, 20))]
    long: Decimal,
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

async fn numbers(db: &Database, rows: Vec<NewNumbers>) -> Vec<Numbers> {
    db.create_tables(&[Numbers::TABLE]).await.unwrap();
    Numbers::insert_many(db, rows).await.unwrap()
}

fn row(price: Option<&str>, short: &str, long: &str) -> NewNumbers {
    NewNumbers { single: 1.0, big: 0, price: price.map(dec), short: dec(short), long: dec(long) }
}

/// `add` on an `f32` stores the nearest `f32` of the sum (SQLite would keep the double and
/// the row could not be read again); an `i64` add that overflows is refused (SQLite would
/// store a REAL), the row left as it was.
async fn adds_stay_in_the_column_type(db: Database, _b: Backend) {
    let stored = numbers(&db, vec![row(None, "0", "0")]).await;
    let id = stored[0].id;
    let got = Numbers::patch(id).add(Numbers::SINGLE, 0.1f32).execute(&db).await.unwrap().unwrap();
    assert_eq!(got.single.to_bits(), ((1.0f64 + 0.1f32 as f64) as f32).to_bits());
    Numbers::patch(id).set(Numbers::BIG, i64::MAX).execute(&db).await.unwrap();
    Numbers::patch(id).add(Numbers::BIG, 1).execute(&db).await.unwrap_err();
    assert_eq!(Numbers::get(&db, id).await.unwrap().unwrap().big, i64::MAX);
    Numbers::patch(id).set(Numbers::SINGLE, f32::MAX).execute(&db).await.unwrap();
    let e = Numbers::patch(id).add(Numbers::SINGLE, f32::MAX).execute(&db).await;
    assert!(e.is_err(), "f32::MAX + f32::MAX is out of range: {e:?}");
    assert_eq!(Numbers::get(&db, id).await.unwrap().unwrap().single, f32::MAX);
}

/// A comparison with more places than the column has (rewritten on SQLite) keeps SQL's
/// three-valued logic: a NULL is neither equal nor unequal, in or not in.
async fn nulls_stay_unknown(db: Database, _b: Backend) {
    let stored = numbers(&db, vec![row(None, "0", "0"), row(Some("1.00"), "0", "0")]).await;
    let only_one = vec![stored[1].id];
    let cases = [
        (Numbers::PRICE.eq(dec("0.105")).not(), only_one.clone()),
        (Numbers::PRICE.ne(dec("0.105")), only_one.clone()),
        (Numbers::PRICE.ne(dec("0.105")).not(), vec![]),
        (Numbers::PRICE.not_in([dec("0.105")]), only_one.clone()),
        (Numbers::PRICE.is_in([dec("0.105")]).not(), only_one.clone()),
    ];
    for (cond, want) in cases {
        let rows = Numbers::select().filter(cond.clone()).order_by(Numbers::ID.asc()).fetch_all(&db).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), want, "{cond:?}");
    }
}

/// Sum, minimum and maximum of a decimal column read at the column's scale everywhere.
async fn aggregates_at_the_column_scale(db: Database, _b: Backend) {
    numbers(&db, vec![row(Some("1.50"), "1.5", "1.5"), row(Some("2.50"), "2.5", "2.5")]).await;
    let (s, lo, hi) = Numbers::select()
        .columns([sum(Numbers::PRICE).into(), min(Numbers::SHORT).into(), max(Numbers::LONG).into()])
        .fetch_one::<(Decimal, Decimal, Decimal)>(&db)
        .await
        .unwrap();
    assert_eq!((s.to_string(), lo.to_string(), hi.to_string()), ("4.00".into(), "1.5000".into(), "2.50000000000000000000".into()));
    // HAVING against a value with more places than the column compares it exactly.
    let over = Numbers::select().columns([max(Numbers::SHORT).into()]).having(max(Numbers::SHORT).ge(dec("2.50000000000000001")));
    assert!(over.fetch_optional::<(Decimal,)>(&db).await.unwrap().is_none());
}

/// On SQLite `short` is a double and `long` text: comparing them compares the decimals, not
/// the double nearest the text.
async fn decimal_columns_compare_exactly(db: Database, _b: Backend) {
    let stored = numbers(&db, vec![row(None, "0.1", "0.1"), row(None, "0.1", "0.10000000000000000001")]).await;
    let equal = Numbers::select().filter(Numbers::SHORT.eq_col(Numbers::LONG)).fetch_all(&db).await.unwrap();
    assert_eq!(equal.iter().map(|r| r.id).collect::<Vec<_>>(), [stored[0].id]);
}

per_backend!(adds_stay_in_the_column_type, nulls_stay_unknown, aggregates_at_the_column_scale, decimal_columns_compare_exactly);
