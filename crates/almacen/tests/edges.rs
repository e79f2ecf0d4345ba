//! Edge values of every portable type, on SQLite, PostgreSQL and MariaDB: "every value comes
//! back as written or is refused, on every dialect".
//!
//! Random values (proptest strategies, sampled with a deterministic runner so every run
//! writes the same values) and hand-picked extremes are written through the typed API and
//! read back. Each must come back equal, or in its documented normal form, or be refused
//! with `Error::InvalidValue` before any statement is sent — never a different value. Rows
//! written by raw SQL that the Rust type cannot hold must be `Error::Decode` naming the
//! column, never a nearby value.
//!
//! Each test collects the rule violations it finds ([`Findings`]) and fails at its end with
//! all of them, each naming the value, the backend and what came back.

mod common;

use almacen::chrono::{Datelike, TimeDelta, Timelike};
use almacen::prelude::*;
use almacen::query::Selectable;
use almacen::serde_json::{self, Value as Json, json};
use almacen::{Column, ColumnMeta, ColumnType, Managed, SqlType, TableMeta};
use common::Backend;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::strategy::{Union, ValueTree};
use proptest::test_runner::TestRunner;
use std::collections::HashMap;
use std::fmt::Debug;

/// Random values per type and backend: enough to hit the corners, few enough to stay fast.
const SAMPLES: usize = 100;

// ---------------------------------------------------------------------------------------
// Findings: every violation of a test, reported together
// ---------------------------------------------------------------------------------------

/// The rule violations one test found. Collected rather than asserted one by one, so a
/// run shows every failing value, not just the first.
struct Findings {
    backend: Backend,
    items: Vec<String>,
}

impl Findings {
    fn new(backend: Backend) -> Self {
        Findings { backend, items: Vec::new() }
    }

    fn add(&mut self, what: String) {
        // Deep JSON and long texts make long messages: keep each readable.
        const MAX: usize = 1500;
        let what = match what.char_indices().nth(MAX) {
            Some((cut, _)) => format!("{}… ({} chars)", &what[..cut], what.chars().count()),
            None => what,
        };
        self.items.push(what);
    }

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.add(what());
        }
    }

    #[track_caller]
    fn finish(self) {
        assert!(self.items.is_empty(), "{:?}: {} rule violation(s):\n- {}", self.backend, self.items.len(), self.items.join("\n- "));
    }
}

fn is_invalid<T>(r: &almacen::Result<T>, columns: &[&str]) -> bool {
    matches!(r, Err(Error::InvalidValue { column, .. }) if columns.contains(&column.as_str()))
}

/// A decode error naming `column` (bare or qualified by its table).
fn is_decode<T>(r: &almacen::Result<T>, column: &str) -> bool {
    matches!(r, Err(Error::Decode { column: c, .. }) if c == column || c.ends_with(&format!(".{column}")))
}

fn outcome<T: Debug, E: Debug>(r: &Result<T, E>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => format!("Err({e:?})"),
    }
}

// ---------------------------------------------------------------------------------------
// Sampling
// ---------------------------------------------------------------------------------------

/// `n` values of `strategy`, the same on every run (deterministic runner; no shrinking, so
/// a failure prints the value itself).
fn samples<S: Strategy>(strategy: S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..n).map(|_| strategy.new_tree(&mut runner).expect("strategy yields a value").current()).collect()
}

/// Values for a `(v, o)` row: `o` is `None` about half the time.
fn pairs<S: Strategy + Clone>(s: S) -> impl Strategy<Value = (S::Value, Option<S::Value>)> {
    (s.clone(), proptest::option::of(s))
}

/// Random `(v, o)` rows, then each edge value in both columns.
fn cases<S: Strategy + Clone>(s: S, edges: impl IntoIterator<Item = S::Value>) -> Vec<(S::Value, Option<S::Value>)>
where
    S::Value: Clone,
{
    let mut out = samples(pairs(s), SAMPLES);
    out.extend(edges.into_iter().map(|e| (e.clone(), Some(e))));
    out
}

/// Characters that stress text handling: 4-byte, combining, zero-width, quoting, control.
const SPECIAL_CHARS: &[char] = &[
    '🦀',
    '🚀',
    '𝄞',
    '😀',
    '\u{301}',
    '\u{308}',
    '\u{200D}',
    '\u{FEFF}',
    '\u{FFFF}',
    '\u{10FFFF}',
    '日',
    'ñ',
    'é',
    '\'',
    '"',
    '\\',
    '%',
    '_',
    ' ',
    '\n',
    '\t',
    '\r',
    '\u{1}',
    '\u{7f}',
    '\u{85}',
    '\u{2028}',
];

/// Unicode text without NUL, of `chars` characters.
fn text(chars: std::ops::Range<usize>) -> BoxedStrategy<String> {
    let ch = prop_oneof![any::<char>(), proptest::sample::select(SPECIAL_CHARS)].prop_filter("no NUL", |c| *c != '\0');
    vec(ch, chars).prop_map(String::from_iter).boxed()
}

/// Text with a NUL character somewhere in it.
fn text_with_nul() -> BoxedStrategy<String> {
    (text(0..20), any::<prop::sample::Index>())
        .prop_map(|(s, at)| {
            let mut chars: Vec<char> = s.chars().collect();
            chars.insert(at.index(chars.len() + 1), '\0');
            chars.into_iter().collect()
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------
// One table per type: a `v: T` column and an `o: Option<T>` column
// ---------------------------------------------------------------------------------------

/// What a value written through the typed API must do.
#[derive(Debug, Clone)]
enum Expect<T> {
    /// Be stored and read back as this: the value itself or its documented normal form.
    Reads(T),
    /// Be refused with `Error::InvalidValue` before anything is sent.
    Invalid,
}

/// Equality as a round trip must keep it.
trait Same {
    fn same(&self, other: &Self) -> bool;
}

macro_rules! same_by_eq {
    ($($t:ty),*) => {$(
        impl Same for $t {
            fn same(&self, other: &Self) -> bool { self == other }
        }
    )*};
}
same_by_eq!(i16, i32, i64, bool, String, Vec<u8>, Uuid, DateTime<Utc>, NaiveDate, NaiveTime, Json);

// Bit for bit: 0.1 must not come back as its neighbour, nor -0.0 as itself (it reads +0.0).
impl Same for f32 {
    fn same(&self, other: &Self) -> bool {
        self.to_bits() == other.to_bits()
    }
}
impl Same for f64 {
    fn same(&self, other: &Self) -> bool {
        self.to_bits() == other.to_bits()
    }
}
// The text: equal numbers at the same scale, and no negative zero.
impl Same for Decimal {
    fn same(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

fn same_opt<T: Same>(a: &Option<T>, b: &Option<T>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.same(b),
        _ => false,
    }
}

/// A model of one portable type in two columns, `v: T` and `o: Option<T>`.
trait Pair: Model<Key = i64> + Clone + Debug {
    type T: Same + SqlType<Inner = Self::T> + Clone + Debug;
    const V_COL: Column<Self, Self::T>;
    const O_COL: Column<Self, Option<Self::T>>;
    fn new(v: Self::T, o: Option<Self::T>) -> Self::New;
    fn id(&self) -> i64;
    fn v(&self) -> &Self::T;
    fn o(&self) -> &Option<Self::T>;
    fn set(&mut self, v: Self::T, o: Option<Self::T>);
}

/// Declare a [`Pair`] model; the attributes after the type go on both columns.
macro_rules! pair_model {
    ($name:ident, $new:ident, $table:tt, $t:ty $(, $($attr:tt)+)?) => {
        #[derive(Model, Debug, Clone, PartialEq)]
        #[model(table = $table)]
        struct $name {
            #[model(primary_key, auto)]
            id: i64,
            $(#[model($($attr)+)])?
            v: $t,
            $(#[model($($attr)+)])?
            o: Option<$t>,
        }

        impl Pair for $name {
            type T = $t;
            const V_COL: Column<Self, $t> = $name::V;
            const O_COL: Column<Self, Option<$t>> = $name::O;
            fn new(v: $t, o: Option<$t>) -> $new {
                $new { v, o }
            }
            fn id(&self) -> i64 {
                self.id
            }
            fn v(&self) -> &$t {
                &self.v
            }
            fn o(&self) -> &Option<$t> {
                &self.o
            }
            fn set(&mut self, v: $t, o: Option<$t>) {
                self.v = v;
                self.o = o;
            }
        }
    };
}

pair_model!(I16s, NewI16s, "edge_i16", i16);
pair_model!(I32s, NewI32s, "edge_i32", i32);
pair_model!(I64s, NewI64s, "edge_i64", i64);
pair_model!(F32s, NewF32s, "edge_f32", f32);
pair_model!(F64s, NewF64s, "edge_f64", f64);
pair_model!(Bools, NewBools, "edge_bool", bool);
pair_model!(Uuids, NewUuids, "edge_uuid", Uuid);
pair_model!(Texts, NewTexts, "edge_text", String);
pair_model!(ShortTexts, NewShortTexts, "edge_short_text", String, max_len = 12);
pair_model!(Blobs, NewBlobs, "edge_bytes", Vec<u8>);
pair_model!(Stamps, NewStamps, "edge_timestamp", DateTime<Utc>);
pair_model!(Days, NewDays, "edge_date", NaiveDate);
pair_model!(Clocks, NewClocks, "edge_time", NaiveTime);
pair_model!(Docs, NewDocs, "edge_json", Json);

pair_model!(Dec12_2, NewDec12_2, "edge_dec_12_2", Decimal, decimal(12, 2));
pair_model!(Dec15_4, NewDec15_4, "edge_dec_15_4", Decimal, decimal(15, 4));
pair_model!(Dec16_2, NewDec16_2, "edge_dec_16_2", Decimal, decimal(16, 2));
pair_model!(Dec18_0, NewDec18_0, "edge_dec_18_0", Decimal, decimal(18, 0));
pair_model!(Dec20_4, NewDec20_4, "edge_dec_20_4", Decimal, decimal(20, 4));
pair_model!(Dec28_8, NewDec28_8, "edge_dec_28_8", Decimal, decimal(28, 8));
pair_model!(Dec28_0, NewDec28_0, "edge_dec_28_0", Decimal, decimal(28, 0));
pair_model!(Dec1_0, NewDec1_0, "edge_dec_1_0", Decimal, decimal(1, 0));
pair_model!(Dec5_5, NewDec5_5, "edge_dec_5_5", Decimal, decimal(5, 5));

const DECIMAL_TABLES: [&TableMeta; 9] = [
    Dec12_2::TABLE,
    Dec15_4::TABLE,
    Dec16_2::TABLE,
    Dec18_0::TABLE,
    Dec20_4::TABLE,
    Dec28_8::TABLE,
    Dec28_0::TABLE,
    Dec1_0::TABLE,
    Dec5_5::TABLE,
];

/// Run `$check::<M>(db, findings)` for every decimal model.
macro_rules! for_each_decimal {
    ($check:ident, $db:expr, $f:expr) => {{
        $check::<Dec12_2>($db, $f).await;
        $check::<Dec15_4>($db, $f).await;
        $check::<Dec16_2>($db, $f).await;
        $check::<Dec18_0>($db, $f).await;
        $check::<Dec20_4>($db, $f).await;
        $check::<Dec28_8>($db, $f).await;
        $check::<Dec28_0>($db, $f).await;
        $check::<Dec1_0>($db, $f).await;
        $check::<Dec5_5>($db, $f).await;
    }};
}

// The macro gives each column its type, attributes included.
const _: () = {
    assert!(matches!(I16s::TABLE.columns[1].ty, ColumnType::SmallInt) && I16s::TABLE.columns[2].nullable);
    assert!(matches!(F32s::TABLE.columns[2].ty, ColumnType::Float));
    assert!(matches!(ShortTexts::TABLE.columns[1].ty, ColumnType::Text { max_len: Some(12) }));
    assert!(matches!(ShortTexts::TABLE.columns[2].ty, ColumnType::Text { max_len: Some(12) }));
    assert!(matches!(Texts::TABLE.columns[1].ty, ColumnType::Text { max_len: None }));
    assert!(matches!(Dec28_8::TABLE.columns[2].ty, ColumnType::Decimal { precision: 28, scale: 8 }));
    assert!(matches!(Dec5_5::TABLE.columns[1].ty, ColumnType::Decimal { precision: 5, scale: 5 }));
    assert!(matches!(Docs::TABLE.columns[1].ty, ColumnType::Json) && !Docs::TABLE.columns[1].nullable);
};

// ---------------------------------------------------------------------------------------
// The round trip
// ---------------------------------------------------------------------------------------

/// The values of a row's `v` and `o`.
type Row2<T> = (T, Option<T>);
/// A storable row: what was written, and the form it must read back in.
type Case<T> = (Row2<T>, Row2<T>);

/// Write `cases` through the typed API. Each `(v, o)` whose values `expect` stores is
/// written (in batches, as a service would) and must read back in `expect`'s form from
/// `insert_many`, `get` and a `select`. Each with a refused value must be `InvalidValue`
/// naming that column, with no statement sent, from `insert`, `insert_many` (next to a
/// storable row) and `update`. Returns the stored rows.
async fn round_trip<M: Pair>(db: &Database, f: &mut Findings, cases: Vec<Row2<M::T>>, expect: impl Fn(&M::T) -> Expect<M::T>) -> Vec<M> {
    let table = M::TABLE.name;
    let mut storable: Vec<Case<M::T>> = Vec::new();
    let mut refused: Vec<(Row2<M::T>, Vec<&str>)> = Vec::new();
    for (v, o) in cases {
        let ev = expect(&v);
        let eo = o.as_ref().map(&expect);
        match (ev, eo) {
            (Expect::Reads(wv), None) => storable.push(((v, o), (wv, None))),
            (Expect::Reads(wv), Some(Expect::Reads(wo))) => storable.push(((v, o), (wv, Some(wo)))),
            (ev, eo) => {
                let mut columns = Vec::new();
                if matches!(ev, Expect::Invalid) {
                    columns.push("v");
                }
                if matches!(eo, Some(Expect::Invalid)) {
                    columns.push("o");
                }
                refused.push(((v, o), columns));
            }
        }
    }

    // Storable rows, in batches; a failing batch is retried row by row to name the value.
    let mut rows: Vec<(M, &Case<M::T>)> = Vec::new();
    for chunk in storable.chunks(50) {
        let news = chunk.iter().map(|((v, o), _)| M::new(v.clone(), o.clone())).collect();
        match almacen::ops::insert_many::<M>(db, news).await {
            Ok(inserted) => rows.extend(inserted.into_iter().zip(chunk)),
            Err(batch_error) => {
                for case in chunk {
                    let ((v, o), _) = case;
                    match almacen::ops::insert::<M>(db, M::new(v.clone(), o.clone())).await {
                        Ok(row) => rows.push((row, case)),
                        Err(e) => f.add(format!("{table}: v={v:?}, o={o:?} must be stored, got Err({e:?}) (batch: {batch_error})")),
                    }
                }
            }
        }
    }

    // Refused rows: nothing may be sent, by any write path.
    for ((v, o), columns) in &refused {
        let counter = db.statement_counter();
        let r = almacen::ops::insert::<M>(db, M::new(v.clone(), o.clone())).await;
        f.check(is_invalid(&r, columns) && counter.count() == 0, || {
            format!(
                "{table}: insert of v={v:?}, o={o:?}: want InvalidValue for {columns:?} with nothing sent, got {} after {} statement(s)",
                outcome(&r),
                counter.count()
            )
        });
        if let Some(((gv, go), _)) = storable.first() {
            counter.reset();
            let r = almacen::ops::insert_many::<M>(db, vec![M::new(gv.clone(), go.clone()), M::new(v.clone(), o.clone())]).await;
            f.check(is_invalid(&r, columns) && counter.count() == 0, || {
                format!("{table}: insert_many with v={v:?}, o={o:?} second: want InvalidValue for {columns:?} with nothing sent, got {} after {} statement(s)", outcome(&r), counter.count())
            });
        }
        if let Some((row, _)) = rows.first() {
            let mut changed = row.clone();
            changed.set(v.clone(), o.clone());
            counter.reset();
            let r = almacen::ops::update::<M>(db, &mut changed).await;
            f.check(is_invalid(&r, columns) && counter.count() == 0, || {
                format!("{table}: update to v={v:?}, o={o:?}: want InvalidValue for {columns:?} with nothing sent, got {} after {} statement(s)", outcome(&r), counter.count())
            });
        }
    }

    // Read back three ways: what insert returned, get, and one select of the whole table.
    let all: HashMap<i64, M> = match Select::<M>::new().fetch_all(db).await {
        Ok(all) => all.into_iter().map(|r| (r.id(), r)).collect(),
        Err(e) => {
            f.add(format!("{table}: select of every row failed: {e:?}"));
            HashMap::new()
        }
    };
    f.check(all.len() == rows.len(), || format!("{table}: {} rows stored, {} inserted", all.len(), rows.len()));
    let check = |f: &mut Findings, how: &str, (given, want): &Case<M::T>, got: &M| {
        let ((v, o), (wv, wo)) = (given, want);
        f.check(got.v().same(wv) && same_opt(got.o(), wo), || {
            format!("{table}: wrote v={v:?}, o={o:?}; {how} read v={:?}, o={:?}; want v={wv:?}, o={wo:?}", got.v(), got.o())
        })
    };
    for (row, case) in &rows {
        check(f, "insert_many", case, row);
        match almacen::ops::get::<M>(db, &row.id()).await {
            Ok(Some(got)) => check(f, "get", case, &got),
            other => f.add(format!("{table}: get of v={:?}, o={:?} (id {}): {}", case.0.0, case.0.1, row.id(), outcome(&other))),
        }
        if let Some(got) = all.get(&row.id()) {
            check(f, "select", case, got);
        }
    }
    rows.into_iter().map(|(row, _)| row).collect()
}

/// Stored as written.
fn as_is<T: Clone>(v: &T) -> Expect<T> {
    Expect::Reads(v.clone())
}

/// Set column `column` of row `id` by raw SQL, then read the row back through the typed
/// API: the value is one the Rust type cannot hold, so both `get` and `select` must be a
/// decode error naming the column.
async fn raw_write_is_a_decode_error<M: Pair>(db: &Database, f: &mut Findings, id: i64, column: &str, sql_value: &str) {
    let table = M::TABLE.name;
    let sql = format!("UPDATE {table} SET {column} = {sql_value} WHERE id = :id");
    if let Err(e) = db.execute_raw(&sql, params! {"id" => id}).await {
        f.add(format!("{table}: `{sql}` failed: {e:?}"));
        return;
    }
    let got = almacen::ops::get::<M>(db, &id).await;
    f.check(is_decode(&got, column), || {
        format!("{table}: after `{sql}`, get must be a decode error naming {column}, got {}", outcome(&got))
    });
    let got = Select::<M>::new().fetch_all(db).await;
    f.check(is_decode(&got, column), || {
        format!("{table}: after `{sql}`, select must be a decode error naming {column}, got {}", outcome(&got.as_ref().map(|r| r.len())))
    });
}

/// The first stored row's id; the tests that write raw SQL need one.
fn first_id<M: Pair>(rows: &[M]) -> i64 {
    rows.first().map(|r| r.id()).expect("at least one row stored")
}

// ---------------------------------------------------------------------------------------
// Integers
// ---------------------------------------------------------------------------------------

async fn integers_full_range(db: Database, backend: Backend) {
    db.create_tables(&[I16s::TABLE, I32s::TABLE, I64s::TABLE]).await.unwrap();
    let mut f = Findings::new(backend);
    round_trip::<I16s>(&db, &mut f, cases(any::<i16>(), [i16::MIN, i16::MAX, 0, -1, 1, i16::MIN + 1, i16::MAX - 1]), as_is).await;
    round_trip::<I32s>(&db, &mut f, cases(any::<i32>(), [i32::MIN, i32::MAX, 0, -1, 1, i16::MAX as i32 + 1, i16::MIN as i32 - 1]), as_is)
        .await;
    round_trip::<I64s>(&db, &mut f, cases(any::<i64>(), [i64::MIN, i64::MAX, 0, -1, 1, i32::MAX as i64 + 1, i32::MIN as i64 - 1]), as_is)
        .await;

    // A raw result wider than the field asked for is a decode error, not a wrapped value.
    for (sql, want) in [("SELECT 40000 AS v", "i16"), ("SELECT -32769 AS v", "i16"), ("SELECT 3000000000 AS v", "i32")] {
        let row = db.fetch_one_raw(sql, params! {}).await.unwrap();
        let got = if want == "i16" { row.get::<i16>("v").map(i64::from) } else { row.get::<i32>("v").map(i64::from) };
        f.check(is_decode(&got, "v"), || format!("`{sql}` read as {want}: want a decode error naming v, got {}", outcome(&got)));
    }
    f.finish();
}

// ---------------------------------------------------------------------------------------
// Floats
// ---------------------------------------------------------------------------------------

/// Finite values round trip bit for bit, -0.0 reads +0.0, NaN and infinities are refused.
fn float_normal<F: Copy + PartialEq + Default + Into<f64>>(v: &F) -> Expect<F> {
    let wide: f64 = (*v).into();
    if !wide.is_finite() {
        Expect::Invalid
    } else if wide == 0.0 {
        Expect::Reads(F::default())
    } else {
        Expect::Reads(*v)
    }
}

/// Every bit pattern (so every exponent and subnormals), proptest's float classes, plain
/// magnitudes, and now and then a NaN or an infinity (in either column).
fn f64_values() -> BoxedStrategy<f64> {
    prop_oneof![
        3 => any::<u64>().prop_map(f64::from_bits),
        3 => any::<f64>(),
        3 => -1.0e6..1.0e6f64,
        1 => proptest::sample::select(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0][..]),
    ]
    .boxed()
}

fn f32_values() -> BoxedStrategy<f32> {
    prop_oneof![
        3 => any::<u32>().prop_map(f32::from_bits),
        3 => any::<f32>(),
        3 => -1.0e6..1.0e6f32,
        1 => proptest::sample::select(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0][..]),
    ]
    .boxed()
}

async fn floats_bit_for_bit(db: Database, backend: Backend) {
    db.create_tables(&[F32s::TABLE, F64s::TABLE]).await.unwrap();
    let mut f = Findings::new(backend);
    let edges64 = [
        0.0,
        -0.0,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        f64::from_bits(1), // the smallest subnormal
        -f64::from_bits(1),
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        0.1,
        1.0 / 3.0,
        9_007_199_254_740_993.0, // 2^53 + 1 (rounds to 2^53 in the literal: still a value)
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    round_trip::<F64s>(&db, &mut f, cases(f64_values(), edges64), float_normal).await;
    let edges32 = [
        0.0,
        -0.0,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
        -f32::from_bits(1),
        f32::MAX,
        f32::MIN,
        f32::EPSILON,
        0.1,
        16_777_217.0,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    let rows = round_trip::<F32s>(&db, &mut f, cases(f32_values(), edges32), float_normal).await;

    // SQLite stores REAL as a double: one no f32 holds exactly is not read as its neighbour.
    if backend == Backend::Sqlite {
        let id = first_id(&rows);
        raw_write_is_a_decode_error::<F32s>(&db, &mut f, id, "v", "0.1").await;
        db.execute_raw("UPDATE edge_f32 SET v = 1 WHERE id = :id", params! {"id" => id}).await.unwrap();
        raw_write_is_a_decode_error::<F32s>(&db, &mut f, id, "o", "16777217").await;
    }
    f.finish();
}

// ---------------------------------------------------------------------------------------
// Decimals
// ---------------------------------------------------------------------------------------

fn pow10(n: u32) -> u128 {
    10u128.pow(n)
}

fn digits(m: u128) -> u32 {
    if m == 0 { 0 } else { m.ilog10() + 1 }
}

/// `±m / 10^scale` (`m` below 10^28 and `scale` at most 28: always a `Decimal`).
fn signed(m: u128, scale: u32, negative: bool) -> Decimal {
    let m = m as i128;
    Decimal::from_i128_with_scale(if negative { -m } else { m }, scale)
}

/// The precision and scale of `M`'s decimal columns.
fn spec<M: Pair>() -> (u32, u32) {
    match M::TABLE.columns[1].ty {
        ColumnType::Decimal { precision, scale } => (precision, scale),
        other => panic!("{} is not a decimal table: {other:?}", M::TABLE.name),
    }
}

/// Digits before the decimal point.
fn integer_digits(d: &Decimal) -> u32 {
    digits(d.mantissa().unsigned_abs() / pow10(d.scale()))
}

/// What a decimal(p, s) column does with `d`: stored at scale `s` (no negative zero) when it
/// has at most `s` places and `p - s` integer digits; refused otherwise.
fn decimal_normal(p: u32, s: u32) -> impl Fn(&Decimal) -> Expect<Decimal> {
    move |d| {
        if d.normalize().scale() > s || integer_digits(d) > p - s {
            return Expect::Invalid;
        }
        let mut want = *d;
        want.rescale(s);
        if want.is_zero() {
            want.set_sign_positive(true);
        }
        Expect::Reads(want)
    }
}

/// Decimals that fit decimal(p, s), with a random count of integer digits and of places,
/// so small values and values with fewer places (5.5 in a 2-place column) are as likely
/// as long ones.
fn fitting_decimal(p: u32, s: u32) -> BoxedStrategy<Decimal> {
    (0..=p - s, 0..=s, any::<bool>(), any::<u128>())
        .prop_map(|(int_digits, places, negative, bits)| signed(bits % pow10(int_digits + places), places, negative))
        .boxed()
}

/// `d` written with `zeros` more trailing zeros (1.2300 for 1.23): the same number.
fn with_zeros(d: Decimal, zeros: u32) -> Decimal {
    let m = d.mantissa().unsigned_abs();
    if d.scale() + zeros > 28 || digits(m) + zeros > 28 {
        return d;
    }
    signed(m * pow10(zeros), d.scale() + zeros, d.is_sign_negative())
}

/// More places than the scale, the last not zero (0.105 in a 2-place column).
fn over_scale_decimal(p: u32, s: u32) -> BoxedStrategy<Decimal> {
    let int_max = (p - s).min(3);
    (0..=int_max, s + 1..=(s + 3).min(28 - int_max), any::<bool>(), any::<u128>(), 1..=9u128)
        .prop_map(|(int_digits, places, negative, bits, last)| signed(bits % pow10(int_digits + places - 1) * 10 + last, places, negative))
        .boxed()
}

/// More integer digits than `p - s` (at most 28 digits in all, what a `Decimal` holds);
/// `None` when `p - s` is already 28.
fn over_precision_decimal(p: u32, s: u32) -> Option<BoxedStrategy<Decimal>> {
    let (lo, hi) = (p - s + 1, (p - s + 3).min(28));
    (lo <= hi).then(|| {
        (lo..=hi, 0..=s, any::<bool>(), any::<u128>(), any::<u128>())
            .prop_map(|(k, places, negative, a, b)| {
                let places = places.min(28 - k);
                let int = pow10(k - 1) + a % (9 * pow10(k - 1));
                signed(int * pow10(places) + b % pow10(places), places, negative)
            })
            .boxed()
    })
}

/// Values written to a decimal(p, s) column: mostly fitting, some with trailing zeros past
/// the scale, some with a place or an integer digit too many.
fn decimal_values(p: u32, s: u32) -> BoxedStrategy<Decimal> {
    let mut arms = vec![
        (6, fitting_decimal(p, s)),
        (1, (fitting_decimal(p, s), 1..=3u32).prop_map(|(d, z)| with_zeros(d, z)).boxed()),
        (1, over_scale_decimal(p, s)),
    ];
    if let Some(over) = over_precision_decimal(p, s) {
        arms.push((1, over));
    }
    Union::new_weighted(arms).boxed()
}

/// The largest value of decimal(p, s): all nines.
fn decimal_max(p: u32, s: u32) -> Decimal {
    signed(pow10(p) - 1, s, false)
}

/// The extremes of decimal(p, s) and their neighbours just outside.
fn decimal_edges(p: u32, s: u32) -> Vec<Decimal> {
    let max = decimal_max(p, s);
    let ulp = signed(1, s, false);
    let mut negative_zero = Decimal::new(0, s);
    negative_zero.set_sign_negative(true);
    let mut out = vec![
        Decimal::ZERO,
        negative_zero,
        Decimal::new(0, (s + 3).min(28)),
        max,
        -max,
        ulp,
        -ulp,
        Decimal::ONE,
        Decimal::new(55, 1), // 5.5: fewer places than most scales
        Decimal::MAX,
        Decimal::MIN,
        with_zeros(max, 1),
    ];
    if p - s < 28 {
        // 10^(p - s): one integer digit too many.
        out.extend([max + ulp, -(max + ulp)]);
    }
    if s < 28 {
        // Half a unit of the last place: one place too many.
        out.extend([signed(5, s + 1, false), signed(5, s + 1, true), max - ulp + signed(5, s + 1, false)]);
    }
    out
}

async fn decimals_round_trip_at_column_scale(db: Database, backend: Backend) {
    db.create_tables(&DECIMAL_TABLES).await.unwrap();
    let mut f = Findings::new(backend);
    async fn check<M: Pair<T = Decimal>>(db: &Database, f: &mut Findings) {
        let (p, s) = spec::<M>();
        let rows = round_trip::<M>(db, f, cases(decimal_values(p, s), decimal_edges(p, s)), decimal_normal(p, s)).await;
        // `same` compared the text; the scale is also asked for by name.
        for r in &rows {
            f.check(r.v().scale() == s && r.o().is_none_or(|o| o.scale() == s), || format!("{}: {r:?} not at scale {s}", M::TABLE.name));
        }
    }
    for_each_decimal!(check, &db, &mut f);
    f.finish();
}

/// Insert random fitting values (and the extremes) into `M`; the round trip itself is
/// checked by `decimals_round_trip_at_column_scale`.
async fn insert_fitting<M: Pair<T = Decimal>>(db: &Database) -> Vec<M> {
    let (p, s) = spec::<M>();
    let max = decimal_max(p, s);
    let mut values = cases(fitting_decimal(p, s), [max, -max, Decimal::ZERO, signed(1, s, false), signed(1, s, true)]);
    // A few repeats, so equality and IN match more than one row.
    values.extend(values[..5].to_vec());
    let news = values.into_iter().map(|(v, o)| M::new(v, o)).collect();
    almacen::ops::insert_many::<M>(db, news).await.unwrap_or_else(|e| panic!("{}: {e}", M::TABLE.name))
}

/// Comparison bounds for decimal(p, s): fitting values, values between two of the column's
/// values (more places than the scale: 0.105 on a 2-place column), and values outside
/// the column's range.
fn decimal_bounds(p: u32, s: u32) -> Vec<Decimal> {
    let between = (fitting_decimal(p, s), 1..=8u32, any::<u128>()).prop_map(move |(d, extra, bits)| {
        let mut d = d;
        d.rescale(s);
        let m = d.mantissa();
        let extra = extra.min(28 - s).min(28u32.saturating_sub(digits(m.unsigned_abs()) + 1));
        if extra == 0 {
            return d;
        }
        let r = 1 + (bits % (pow10(extra) - 1)) as i128;
        Decimal::try_from_i128_with_scale(m * pow10(extra) as i128 + r, s + extra).unwrap_or(d)
    });
    let mut out = samples(prop_oneof![fitting_decimal(p, s), between], 10);
    let max = decimal_max(p, s);
    out.extend([Decimal::ZERO, max, -max]);
    if s < 28 {
        out.extend([signed(5, s + 1, false), signed(5, s + 1, true)]);
    }
    if p - s < 28 {
        out.extend([max + signed(1, s, false), -(max + signed(1, s, false))]);
    }
    out
}

/// The sorted ids of the rows matching `cond`, or the error.
async fn ids_where<M: Pair>(db: &Database, cond: Condition) -> almacen::Result<Vec<i64>> {
    let mut ids: Vec<i64> = Select::<M>::new().filter(cond).fetch_all(db).await?.iter().map(|r| r.id()).collect();
    ids.sort();
    Ok(ids)
}

/// `cond` selects exactly the rows `pred` picks.
async fn check_filter<M: Pair>(db: &Database, f: &mut Findings, rows: &[M], label: String, cond: Condition, pred: impl Fn(&M) -> bool) {
    let mut want: Vec<i64> = rows.iter().filter(|r| pred(r)).map(|r| r.id()).collect();
    want.sort();
    let got = ids_where::<M>(db, cond).await;
    if got.as_ref().ok() != Some(&want) {
        let got = got.map(|ids| {
            let extra: Vec<String> =
                rows.iter().filter(|r| ids.contains(&r.id()) && !want.contains(&r.id())).map(|r| format!("{r:?}")).collect();
            let missing: Vec<String> =
                rows.iter().filter(|r| !ids.contains(&r.id()) && want.contains(&r.id())).map(|r| format!("{r:?}")).collect();
            format!("extra rows {extra:?}, missing rows {missing:?}")
        });
        f.add(format!("{}: filter {label}: {}", M::TABLE.name, outcome(&got)));
    }
}

async fn decimal_filters_and_order_are_numeric(db: Database, backend: Backend) {
    db.create_tables(&DECIMAL_TABLES).await.unwrap();
    let mut f = Findings::new(backend);
    async fn check<M: Pair<T = Decimal>>(db: &Database, f: &mut Findings) {
        let (p, s) = spec::<M>();
        let rows = insert_fitting::<M>(db).await;
        let bounds = decimal_bounds(p, s);
        for &b in &bounds {
            let v = |r: &M| *r.v();
            let o = |r: &M| *r.o();
            check_filter(db, f, &rows, format!("v < {b}"), M::V_COL.lt(b), |r| v(r) < b).await;
            check_filter(db, f, &rows, format!("v <= {b}"), M::V_COL.le(b), |r| v(r) <= b).await;
            check_filter(db, f, &rows, format!("v > {b}"), M::V_COL.gt(b), |r| v(r) > b).await;
            check_filter(db, f, &rows, format!("v >= {b}"), M::V_COL.ge(b), |r| v(r) >= b).await;
            check_filter(db, f, &rows, format!("v = {b}"), M::V_COL.eq(b), |r| v(r) == b).await;
            check_filter(db, f, &rows, format!("v <> {b}"), M::V_COL.ne(b), |r| v(r) != b).await;
            // NULL compares as nothing: it matches neither `<` nor `<>`.
            check_filter(db, f, &rows, format!("o < {b}"), M::O_COL.lt(b), |r| o(r).is_some_and(|x| x < b)).await;
            check_filter(db, f, &rows, format!("o >= {b}"), M::O_COL.ge(b), |r| o(r).is_some_and(|x| x >= b)).await;
            check_filter(db, f, &rows, format!("o = {b}"), M::O_COL.eq(b), |r| o(r).is_some_and(|x| x == b)).await;
            check_filter(db, f, &rows, format!("o <> {b}"), M::O_COL.ne(b), |r| o(r).is_some_and(|x| x != b)).await;
        }
        for (i, pair) in bounds.windows(2).enumerate() {
            // In either order: BETWEEN a high and a low bound matches nothing.
            let (lo, hi) = (pair[0], pair[1]);
            check_filter(db, f, &rows, format!("v BETWEEN {lo} AND {hi}"), M::V_COL.between(lo, hi), |r| lo <= *r.v() && *r.v() <= hi)
                .await;
            check_filter(db, f, &rows, format!("o BETWEEN {lo} AND {hi}"), M::O_COL.between(lo, hi), |r| {
                r.o().is_some_and(|x| lo <= x && x <= hi)
            })
            .await;
            let list = [lo, hi, *rows[i].v(), *rows[i + 7].v()];
            check_filter(db, f, &rows, format!("v IN {list:?}"), M::V_COL.is_in(list), |r| list.contains(r.v())).await;
            check_filter(db, f, &rows, format!("o IN {list:?}"), M::O_COL.is_in(list), |r| r.o().is_some_and(|x| list.contains(&x))).await;
        }

        // ORDER BY is numeric order, both ways (ties may come in any order: compare values).
        let table = M::TABLE.name;
        let mut want: Vec<Decimal> = rows.iter().map(|r| *r.v()).collect();
        want.sort();
        let asc = Select::<M>::new().order_by(M::V_COL.asc()).fetch_all(db).await.map(|r| r.iter().map(|r| *r.v()).collect::<Vec<_>>());
        f.check(asc.as_ref().is_ok_and(|got| got == &want), || format!("{table}: ORDER BY v ASC: got {}, want {want:?}", outcome(&asc)));
        want.reverse();
        let desc = Select::<M>::new().order_by(M::V_COL.desc()).fetch_all(db).await.map(|r| r.iter().map(|r| *r.v()).collect::<Vec<_>>());
        f.check(desc.as_ref().is_ok_and(|got| got == &want), || format!("{table}: ORDER BY v DESC: got {}, want {want:?}", outcome(&desc)));
        let mut want: Vec<Decimal> = rows.iter().filter_map(|r| *r.o()).collect();
        want.sort();
        let asc = Select::<M>::new()
            .filter(M::O_COL.is_not_null())
            .order_by(M::O_COL.asc())
            .fetch_all(db)
            .await
            .map(|r| r.iter().filter_map(|r| *r.o()).collect::<Vec<_>>());
        f.check(asc.as_ref().is_ok_and(|got| got == &want), || format!("{table}: ORDER BY o ASC: got {}, want {want:?}", outcome(&asc)));
    }
    for_each_decimal!(check, &db, &mut f);
    f.finish();
}

/// One aggregate of `M`, over the rows matching `cond`.
async fn aggregate<M: Pair>(db: &Database, agg: Selectable, cond: Option<Condition>) -> almacen::Result<Option<Decimal>> {
    let mut q = Select::<M>::new();
    if let Some(c) = cond {
        q = q.filter(c);
    }
    q.columns([agg]).fetch_one::<(Option<Decimal>,)>(db).await.map(|(d,)| d)
}

/// SUM, MIN and MAX of `values` equal the exact Rust results; AVG the exact average rounded
/// half away from zero to the scale + 4. A result a `Decimal` cannot hold must be an error,
/// never a rounded one.
async fn check_aggregates<M: Pair>(
    db: &Database,
    f: &mut Findings,
    what: &str,
    values: &[Decimal],
    cond: Option<Condition>,
    [sum_of, min_of, max_of, avg_of]: [Selectable; 4],
    s: u32,
) {
    let table = M::TABLE.name;
    // Exact: every value is a whole number of units of the last place (10^-s), and 100-odd
    // values of at most 28 digits sum well inside an i128.
    let units: i128 = values
        .iter()
        .map(|d| {
            let mut d = *d;
            d.rescale(s);
            d.mantissa()
        })
        .sum();
    let exact_sum = Decimal::try_from_i128_with_scale(units, s).ok();
    let n = values.len();

    let got = aggregate::<M>(db, sum_of, cond.clone()).await;
    match (n, exact_sum) {
        (0, _) => f.check(matches!(got, Ok(None)), || format!("{table}: SUM({what}) of no rows: got {}", outcome(&got))),
        (_, Some(want)) => f.check(matches!(got, Ok(Some(d)) if d == want), || {
            format!("{table}: SUM({what}) over {n} values: got {}, want {want}", outcome(&got))
        }),
        (_, None) => f.check(got.is_err(), || {
            format!("{table}: SUM({what}) over {n} values is {units}e-{s}, which no Decimal holds: want an error, got {}", outcome(&got))
        }),
    }
    let want_min = values.iter().min().copied();
    let got = aggregate::<M>(db, min_of, cond.clone()).await;
    f.check(matches!(got, Ok(d) if d == want_min), || format!("{table}: MIN({what}): got {}, want {want_min:?}", outcome(&got)));
    let want_max = values.iter().max().copied();
    let got = aggregate::<M>(db, max_of, cond.clone()).await;
    f.check(matches!(got, Ok(d) if d == want_max), || format!("{table}: MAX({what}): got {}, want {want_max:?}", outcome(&got)));

    // The average is a division: on every dialect it is rounded half away from zero to the
    // column's scale + 4 places (MariaDB's rule), so it is one exact value everywhere, or an
    // error where that value has more digits than a Decimal holds.
    if n > 0 {
        let (num, den) = (units * 10_000, n as i128);
        let (q, r) = (num / den, num % den);
        let rounded = if 2 * r.abs() >= den { q + num.signum() } else { q };
        let want = decimal_trimmed(rounded, s + 4);
        let got = aggregate::<M>(db, avg_of, cond).await;
        match want {
            Some(want) => f.check(matches!(got, Ok(Some(g)) if g == want), || {
                format!("{table}: AVG({what}) over {n} values: got {}, want {want}", outcome(&got))
            }),
            None => f.check(got.is_err(), || {
                format!(
                    "{table}: AVG({what}) over {n} values is {rounded}e-{}, which no Decimal holds: want an error, got {}",
                    s + 4,
                    outcome(&got)
                )
            }),
        }
    }
}

/// `mantissa` × 10^-`scale` as a Decimal, trailing zeros dropped until it fits.
fn decimal_trimmed(mut mantissa: i128, mut scale: u32) -> Option<Decimal> {
    while scale > 0 && mantissa % 10 == 0 && Decimal::try_from_i128_with_scale(mantissa, scale).is_err() {
        mantissa /= 10;
        scale -= 1;
    }
    Decimal::try_from_i128_with_scale(mantissa, scale).ok()
}

async fn decimal_aggregates_are_exact(db: Database, backend: Backend) {
    db.create_tables(&DECIMAL_TABLES).await.unwrap();
    let mut f = Findings::new(backend);
    async fn check<M: Pair<T = Decimal>>(db: &Database, f: &mut Findings) {
        let (p, s) = spec::<M>();
        let mut rows = insert_fitting::<M>(db).await;
        // Nine more of the largest value: with 28 digits, a sum no Decimal holds.
        let largest = decimal_max(p, s);
        let more = (0..9).map(|_| M::new(largest, Some(largest))).collect();
        rows.extend(almacen::ops::insert_many::<M>(db, more).await.unwrap());
        let v: Vec<Decimal> = rows.iter().map(|r| *r.v()).collect();
        let o: Vec<Decimal> = rows.iter().filter_map(|r| *r.o()).collect();
        let of_v = || [sum(M::V_COL).into(), min(M::V_COL).into(), max(M::V_COL).into(), avg(M::V_COL).into()];
        let of_o = || [sum(M::O_COL).into(), min(M::O_COL).into(), max(M::O_COL).into(), avg(M::O_COL).into()];
        check_aggregates::<M>(db, f, "v", &v, None, of_v(), s).await;
        check_aggregates::<M>(db, f, "o", &o, None, of_o(), s).await;
        // Rows of at most 10^26 units of the last place: their sum is always a Decimal.
        let bound = signed(pow10(26), s, false);
        let small = |d: &&Decimal| d.abs() <= bound;
        let v_small: Vec<Decimal> = v.iter().filter(small).copied().collect();
        let o_small: Vec<Decimal> = o.iter().filter(small).copied().collect();
        check_aggregates::<M>(db, f, "v (|v| <= 10^26 units)", &v_small, Some(M::V_COL.between(-bound, bound)), of_v(), s).await;
        check_aggregates::<M>(db, f, "o (|o| <= 10^26 units)", &o_small, Some(M::O_COL.between(-bound, bound)), of_o(), s).await;
        // No rows: SUM is NULL.
        check_aggregates::<M>(db, f, "v of no rows", &[], Some(M::V_COL.gt(bound).and(M::V_COL.lt(-bound))), of_v(), s).await;
    }
    for_each_decimal!(check, &db, &mut f);
    f.finish();
}

/// `patch(..).add(..)` on a decimal column is exact (SQLite adds doubles inexactly: 0.10 +
/// 0.20 would store 0.30000000000000004), NULL stays NULL, and a sum the column cannot hold
/// is an error on every dialect, the row left as it was.
async fn decimal_add_is_exact(db: Database, backend: Backend) {
    db.create_tables(&DECIMAL_TABLES).await.unwrap();
    let mut f = Findings::new(backend);
    async fn check<M: Pair<T = Decimal>>(db: &Database, f: &mut Findings) {
        let (p, s) = spec::<M>();
        let table = M::TABLE.name;
        let unit = Decimal::new(1, s);
        let row = almacen::ops::insert::<M>(db, M::new(Decimal::ZERO, None)).await.unwrap();
        let mut want = Decimal::ZERO;
        for step in [unit, unit * Decimal::from(2), -unit, unit * Decimal::from(7)] {
            want += step;
            let got = almacen::Patch::<M>::new(row.key()).add(M::V_COL, step).add(M::O_COL, step).execute(db).await;
            f.check(matches!(&got, Ok(Some(r)) if *r.v() == want && r.o().is_none()), || {
                format!("{table}: adding {step} to reach {want}: got {}", outcome(&got))
            });
        }
        let largest = decimal_max(p, s);
        let got = almacen::Patch::<M>::new(row.key()).add(M::V_COL, largest).execute(db).await;
        f.check(got.is_err(), || format!("{table}: {want} + {largest} passes decimal({p}, {s}): want an error, got {}", outcome(&got)));
        let kept = almacen::ops::get::<M>(db, &row.key()).await;
        f.check(matches!(&kept, Ok(Some(r)) if *r.v() == want), || format!("{table}: after the refused add: {}", outcome(&kept)));
    }
    for_each_decimal!(check, &db, &mut f);
    f.finish();
}

async fn decimal_raw_sql(db: Database, backend: Backend) {
    db.create_tables(&DECIMAL_TABLES).await.unwrap();
    let mut f = Findings::new(backend);
    async fn check<M: Pair<T = Decimal>>(db: &Database, f: &mut Findings) {
        let (p, s) = spec::<M>();
        let table = M::TABLE.name;
        let rows = insert_fitting::<M>(db).await;
        let by_id: HashMap<i64, &M> = rows.iter().map(|r| (r.id(), r)).collect();

        // A decimal column reads as a Value::Decimal at the column's scale.
        let raw = db.fetch_all_raw(&format!("SELECT id, v, o FROM {table}"), params! {}).await.unwrap();
        for row in &raw {
            let want = by_id[&row.get::<i64>("id").unwrap()];
            for (column, want) in [("v", Some(*want.v())), ("o", *want.o())] {
                let got = row.value(column);
                let ok = match (got, want) {
                    (Some(Value::Decimal(d)), Some(w)) => *d == w && d.scale() == s,
                    (Some(Value::Null(_)), None) => true,
                    _ => false,
                };
                f.check(ok, || format!("{table}: raw SELECT {column}: got {got:?}, want Value::Decimal({want:?}) at scale {s}"));
            }
        }

        // `WHERE v >= :min` with a Decimal parameter: the column's own values and the
        // midpoints between two of them.
        let half = signed(5, s + 1, false);
        let mut bounds: Vec<Decimal> = rows.iter().take(12).map(|r| *r.v()).collect();
        bounds.extend(rows.iter().take(12).map(|r| *r.v() + half).filter(|d| integer_digits(d) <= p - s));
        for b in bounds {
            for column in ["v", "o"] {
                let sql = format!("SELECT id FROM {table} WHERE {column} >= :min");
                let got = db.fetch_all_raw(&sql, params! {"min" => b}).await.map(|rs| {
                    let mut ids: Vec<i64> = rs.iter().map(|r| r.get::<i64>("id").unwrap()).collect();
                    ids.sort();
                    ids
                });
                let mut want: Vec<i64> = rows
                    .iter()
                    .filter(|r| if column == "v" { *r.v() >= b } else { r.o().is_some_and(|o| o >= b) })
                    .map(|r| r.id())
                    .collect();
                want.sort();
                f.check(got.as_ref().ok() == Some(&want), || {
                    format!("{table}: `{sql}` with min = {b}: got {}, want {want:?}", outcome(&got))
                });
            }
        }

        // SQLite keeps p <= 15 as a double and above as text: a value with one place too
        // many written by raw SQL is no value of the column.
        if db.dialect() == almacen::Dialect::Sqlite {
            let stored_as = db.fetch_one_raw(&format!("SELECT typeof(v) AS t FROM {table} LIMIT 1"), params! {}).await.unwrap();
            let stored_as = stored_as.get::<String>("t").unwrap();
            let want = if p <= 15 { "real" } else { "text" };
            f.check(stored_as == want, || format!("{table}: SQLite stores decimal({p}, {s}) as {stored_as}, want {want}"));
            let places = if p > s { format!("1.{}5", "0".repeat(s as usize)) } else { format!("0.{}5", "0".repeat(s as usize)) };
            let literal = if p <= 15 { places } else { format!("'{places}'") };
            let id = first_id(&rows);
            raw_write_is_a_decode_error::<M>(db, f, id, "v", &literal).await;
            db.execute_raw(&format!("UPDATE {table} SET v = 0 WHERE id = :id"), params! {"id" => id}).await.unwrap();
            raw_write_is_a_decode_error::<M>(db, f, id, "o", &literal).await;
        }
    }
    for_each_decimal!(check, &db, &mut f);
    f.finish();
}

/// A column of the given type on a table built by hand (a derive refuses such a decimal at
/// compile time).
const fn column(name: &'static str, ty: ColumnType, primary_key: bool) -> ColumnMeta {
    ColumnMeta {
        name,
        field: name,
        ty,
        nullable: false,
        primary_key,
        auto_increment: primary_key,
        unique: false,
        indexed: false,
        server_default: None,
        references: None,
        managed: Managed::No,
    }
}

const PRECISION_29: &[ColumnMeta] =
    &[column("id", ColumnType::BigInt, true), column("too_precise", ColumnType::Decimal { precision: 29, scale: 2 }, false)];
const PRECISION_40: &[ColumnMeta] =
    &[column("id", ColumnType::BigInt, true), column("far_too_precise", ColumnType::Decimal { precision: 40, scale: 2 }, false)];

async fn decimal_precision_over_28_is_refused(db: Database, backend: Backend) {
    let mut f = Findings::new(backend);
    for (table, col) in [("edge_wide_29", PRECISION_29), ("edge_wide_40", PRECISION_40)] {
        let meta = TableMeta { name: table, model: "Edge", columns: col, indexes: &[] };
        let r = db.create_tables(&[&meta]).await;
        let name = col[1].name;
        f.check(r.as_ref().is_err_and(|e| e.to_string().contains(name)), || {
            format!("create_tables with {:?}: want an error naming {name}, got {}", col[1].ty, outcome(&r))
        });
        let exists = db.fetch_all_raw(&format!("SELECT * FROM {table}"), params! {}).await;
        f.check(exists.is_err(), || format!("{table} was created anyway"));
    }
    f.finish();
}

// ---------------------------------------------------------------------------------------
// Booleans, UUIDs, text, bytes
// ---------------------------------------------------------------------------------------

async fn booleans(db: Database, backend: Backend) {
    db.create_tables(&[Bools::TABLE]).await.unwrap();
    let mut f = Findings::new(backend);
    let rows = round_trip::<Bools>(&db, &mut f, cases(any::<bool>(), [true, false]), as_is).await;
    let id = first_id(&rows);
    let before = almacen::ops::get::<Bools>(&db, &id).await.unwrap();

    // The database itself keeps anything but 0 and 1 out (MariaDB's BOOLEAN is a TINYINT).
    for bad in ["2", "-1"] {
        for sql in [format!("INSERT INTO edge_bool (v, o) VALUES ({bad}, NULL)"), format!("UPDATE edge_bool SET o = {bad} WHERE id = :id")]
        {
            let p = if sql.contains(":id") {
                params! {"id" => id}
            } else {
                params! {}
            };
            let r = db.execute_raw(&sql, p).await;
            f.check(r.is_err(), || format!("edge_bool: `{sql}` must be refused by the database, got {}", outcome(&r)));
        }
    }
    let count = Bools::select().count(&db).await.unwrap();
    f.check(count == rows.len() as u64, || format!("edge_bool: {count} rows after refused writes, want {}", rows.len()));
    let after = almacen::ops::get::<Bools>(&db, &id).await;
    f.check(matches!(&after, Ok(a) if *a == before), || format!("edge_bool: row {id} changed by a refused write: {}", outcome(&after)));
    f.finish();
}

async fn uuids(db: Database, backend: Backend) {
    db.create_tables(&[Uuids::TABLE]).await.unwrap();
    let mut f = Findings::new(backend);
    let edges = [Uuid::nil(), Uuid::max(), Uuid::from_bytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])];
    let rows = round_trip::<Uuids>(&db, &mut f, cases(any::<[u8; 16]>().prop_map(Uuid::from_bytes), edges), as_is).await;
    let id = first_id(&rows);

    // A UUID is 16 bytes: a CHECK refuses any other length where it is stored as bytes
    // (PostgreSQL's uuid type refuses bytes outright).
    for len in [0, 10, 15, 17] {
        let bytes = vec![0xabu8; len];
        let writes = [
            ("INSERT INTO edge_uuid (v) VALUES (:b)", params! {"b" => bytes.clone()}),
            ("UPDATE edge_uuid SET o = :b WHERE id = :id", params! {"b" => bytes.clone(), "id" => id}),
        ];
        for (sql, p) in writes {
            let r = db.execute_raw(sql, p).await;
            let ok = match backend {
                Backend::Postgres => r.is_err(),
                _ => matches!(r, Err(Error::CheckViolation(_))),
            };
            f.check(ok, || format!("edge_uuid: `{sql}` with {len} bytes: want the database to refuse it (CHECK), got {}", outcome(&r)));
        }
    }
    let count = Uuids::select().count(&db).await.unwrap();
    f.check(count == rows.len() as u64, || format!("edge_uuid: {count} rows after refused writes, want {}", rows.len()));
    f.finish();
}

/// Refused when it holds NUL or has more than `max_len` characters.
fn text_normal(max_len: Option<usize>) -> impl Fn(&String) -> Expect<String> {
    move |s| {
        if s.contains('\0') || max_len.is_some_and(|max| s.chars().count() > max) { Expect::Invalid } else { Expect::Reads(s.clone()) }
    }
}

async fn texts(db: Database, backend: Backend) {
    db.create_tables(&[Texts::TABLE, ShortTexts::TABLE]).await.unwrap();
    let mut f = Findings::new(backend);
    let long = Union::new_weighted(vec![(8, text(0..300)), (1, text_with_nul())]);
    let edges = ["".to_string(), "🦀".repeat(1000), "e\u{301}".repeat(500), "\u{10FFFF}\u{FFFF}\u{FEFF}".into(), "\0".into(), "a\0".into()];
    round_trip::<Texts>(&db, &mut f, cases(long, edges), text_normal(None)).await;

    // max_len = 12 counts characters, whatever their bytes.
    let short = Union::new_weighted(vec![(6, text(0..13)), (2, text(13..30)), (1, text_with_nul())]);
    let edges = [
        String::new(),
        "🦀".repeat(12),
        "🦀".repeat(13),
        "e\u{301}".repeat(6),
        "e\u{301}".repeat(6) + "x",
        "ñ".repeat(12),
        "a".repeat(13),
        "abc\0".into(),
    ];
    round_trip::<ShortTexts>(&db, &mut f, cases(short, edges), text_normal(Some(12))).await;
    f.finish();
}

async fn bytes(db: Database, backend: Backend) {
    db.create_tables(&[Blobs::TABLE]).await.unwrap();
    let mut f = Findings::new(backend);
    let edges = [Vec::new(), vec![0], vec![0; 64], (0..=255).collect(), vec![0xff; 3]];
    round_trip::<Blobs>(&db, &mut f, cases(vec(any::<u8>(), 0..400), edges), as_is).await;
    f.finish();
}

// ---------------------------------------------------------------------------------------
// Timestamps, dates, times
// ---------------------------------------------------------------------------------------

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn at(day: NaiveDate, h: u32, m: u32, s: u32, nanos: u32) -> DateTime<Utc> {
    day.and_time(NaiveTime::from_hms_nano_opt(h, m, s, nanos).unwrap()).and_utc()
}

fn truncate_to_micros(t: NaiveTime) -> NaiveTime {
    t.with_nanosecond(t.nanosecond() / 1000 * 1000).unwrap()
}

/// A leap second rolls into the next second (23:59:60.5 is 00:00:00.5 of the next day),
/// then the year must be 1 to 9999 and the time is truncated to the microsecond.
fn timestamp_normal(t: &DateTime<Utc>) -> Expect<DateTime<Utc>> {
    let mut t = *t;
    if t.nanosecond() >= 1_000_000_000 {
        t = t.with_nanosecond(t.nanosecond() - 1_000_000_000).unwrap() + TimeDelta::seconds(1);
    }
    if !(1..=9999).contains(&t.year()) {
        return Expect::Invalid;
    }
    Expect::Reads(t.with_nanosecond(t.nanosecond() / 1000 * 1000).unwrap())
}

/// Instants of years 1 to 9999 with nanoseconds, and a few outside.
fn timestamps() -> BoxedStrategy<DateTime<Utc>> {
    let first = at(date(1, 1, 1), 0, 0, 0, 0).timestamp();
    let last = at(date(9999, 12, 31), 23, 59, 59, 0).timestamp();
    let inside = (first..=last, 0..1_000_000_000u32).prop_map(|(s, n)| DateTime::from_timestamp(s, n).unwrap());
    let outside = (prop_oneof![first - 400 * 366 * 86_400..first, last + 1..last + 400 * 366 * 86_400], 0..1_000_000_000u32)
        .prop_map(|(s, n)| DateTime::from_timestamp(s, n).unwrap());
    Union::new_weighted(vec![(9, inside.boxed()), (1, outside.boxed())]).boxed()
}

async fn timestamps_truncate_to_microseconds(db: Database, backend: Backend) {
    db.create_tables(&[Stamps::TABLE]).await.unwrap();
    let mut f = Findings::new(backend);
    let edges = [
        at(date(1, 1, 1), 0, 0, 0, 0),
        at(date(9999, 12, 31), 23, 59, 59, 999_999_999),
        at(date(1970, 1, 1), 0, 0, 0, 0),
        at(date(1969, 12, 31), 23, 59, 59, 999_999_999),
        at(date(2000, 2, 29), 12, 0, 0, 1),
        at(date(2016, 12, 31), 23, 59, 59, 1_500_000_000), // leap second: 2017-01-01 00:00:00.5
        at(date(2016, 12, 31), 23, 59, 59, 1_999_999_999),
        at(date(9999, 12, 31), 23, 59, 59, 1_500_000_000), // rolls into year 10000: refused
        at(date(0, 12, 31), 0, 0, 0, 0),
        at(date(10000, 1, 1), 0, 0, 0, 0),
        at(date(-1, 6, 1), 0, 0, 0, 0),
    ];
    let rows = round_trip::<Stamps>(&db, &mut f, cases(timestamps(), edges), timestamp_normal).await;
    if backend == Backend::Postgres {
        // TIMESTAMPTZ holds ±infinity, which no DateTime<Utc> is.
        let id = first_id(&rows);
        raw_write_is_a_decode_error::<Stamps>(&db, &mut f, id, "v", "'infinity'").await;
        db.execute_raw("UPDATE edge_timestamp SET v = '2000-01-01T00:00:00Z' WHERE id = :id", params! {"id" => id}).await.unwrap();
        raw_write_is_a_decode_error::<Stamps>(&db, &mut f, id, "o", "'-infinity'").await;
    }
    f.finish();
}

fn date_normal(d: &NaiveDate) -> Expect<NaiveDate> {
    if (1..=9999).contains(&d.year()) { Expect::Reads(*d) } else { Expect::Invalid }
}

async fn dates_of_years_1_to_9999(db: Database, backend: Backend) {
    db.create_tables(&[Days::TABLE]).await.unwrap();
    let mut f = Findings::new(backend);
    let (first, last) = (date(1, 1, 1).num_days_from_ce(), date(9999, 12, 31).num_days_from_ce());
    let days = Union::new_weighted(vec![(9, first..=last), (1, first - 20_000..=last + 20_000)])
        .prop_map(|n| NaiveDate::from_num_days_from_ce_opt(n).unwrap());
    let edges =
        [date(1, 1, 1), date(9999, 12, 31), date(2000, 2, 29), date(1970, 1, 1), date(0, 12, 31), date(10000, 1, 1), date(-4712, 1, 1)];
    let rows = round_trip::<Days>(&db, &mut f, cases(days, edges), date_normal).await;
    if backend == Backend::Postgres {
        let id = first_id(&rows);
        raw_write_is_a_decode_error::<Days>(&db, &mut f, id, "v", "'infinity'").await;
        db.execute_raw("UPDATE edge_date SET v = '2000-01-01' WHERE id = :id", params! {"id" => id}).await.unwrap();
        raw_write_is_a_decode_error::<Days>(&db, &mut f, id, "o", "'-infinity'").await;
    }
    f.finish();
}

/// A time of day keeps microseconds; a leap second (nanoseconds past 1e9) is no time of day.
fn time_normal(t: &NaiveTime) -> Expect<NaiveTime> {
    if t.nanosecond() >= 1_000_000_000 { Expect::Invalid } else { Expect::Reads(truncate_to_micros(*t)) }
}

async fn times_truncate_to_microseconds(db: Database, backend: Backend) {
    db.create_tables(&[Clocks::TABLE]).await.unwrap();
    let mut f = Findings::new(backend);
    let plain = (0..86_400u32, 0..1_000_000_000u32).prop_map(|(s, n)| NaiveTime::from_num_seconds_from_midnight_opt(s, n).unwrap());
    // chrono's leap second: second 59 with 1e9 nanoseconds or more.
    let leap =
        (0..24u32, 0..60u32, 1_000_000_000..2_000_000_000u32).prop_map(|(h, m, n)| NaiveTime::from_hms_nano_opt(h, m, 59, n).unwrap());
    let times = Union::new_weighted(vec![(9, plain.boxed()), (1, leap.boxed())]);
    let t = |h, m, s, n| NaiveTime::from_hms_nano_opt(h, m, s, n).unwrap();
    let edges = [t(0, 0, 0, 0), t(23, 59, 59, 999_999_999), t(0, 0, 0, 999), t(12, 0, 0, 1_000), t(23, 59, 59, 1_500_000_000)];
    let rows = round_trip::<Clocks>(&db, &mut f, cases(times, edges), time_normal).await;

    // Stored times that are no time of day: a driver would wrap or clamp them.
    let id = first_id(&rows);
    let bad: &[&str] = match backend {
        Backend::Postgres => &["'24:00:00'"],
        Backend::MariaDb => &["'-01:00:00'", "'25:00:00'"],
        Backend::Sqlite => &["'23:59:60'", "'23:59:60.500000'", "'24:00:00'"],
    };
    for value in bad {
        raw_write_is_a_decode_error::<Clocks>(&db, &mut f, id, "v", value).await;
        db.execute_raw("UPDATE edge_time SET v = '01:02:03' WHERE id = :id", params! {"id" => id}).await.unwrap();
    }
    raw_write_is_a_decode_error::<Clocks>(&db, &mut f, id, "o", bad[0]).await;
    f.finish();
}

// ---------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------

fn number(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// JSON numbers: 64-bit integers, integers past 64 bits, decimals of up to 30 places,
/// exponents, and every kind of f64.
fn json_number() -> BoxedStrategy<Json> {
    prop_oneof![
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        "-?[1-9][0-9]{19,40}".prop_map(|t| number(&t)),
        "-?(0|[1-9][0-9]{0,14})\\.[0-9]{1,30}".prop_map(|t| number(&t)),
        "-?(0|[1-9])(\\.[0-9]{1,15})?[eE][+-]?([0-9]{1,2}|[1-3][0-9]{2})".prop_map(|t| number(&t)),
        any::<f64>().prop_filter_map("finite", |x| serde_json::Number::from_f64(x).map(Json::Number)),
    ]
    .boxed()
}

/// Documents of scalars, arrays and objects, a few levels deep.
fn json_doc() -> BoxedStrategy<Json> {
    let leaf = prop_oneof![Just(Json::Null), any::<bool>().prop_map(Json::Bool), text(0..12).prop_map(Json::String), json_number()];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Json::Array),
            btree_map(text(0..8), inner, 0..6).prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Nesting of arrays and objects (a scalar is 0, `[1]` is 1).
fn depth(doc: &Json) -> usize {
    match doc {
        Json::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Json::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn has_nul(doc: &Json) -> bool {
    match doc {
        Json::String(s) => s.contains('\0'),
        Json::Array(items) => items.iter().any(has_nul),
        Json::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// `doc` inside `levels` more arrays and objects, alternately.
fn nest(doc: Json, levels: usize) -> Json {
    (0..levels).fold(doc, |inner, i| if i % 2 == 0 { json!([inner]) } else { json!({ "k": inner }) })
}

/// Random documents, some nested to exactly the deepest storable level or one past it,
/// some with a NUL in a string or a key.
fn json_values() -> BoxedStrategy<Json> {
    let deep = (json_doc(), any::<bool>()).prop_map(|(doc, past)| {
        let target = almacen::json::MAX_DEPTH + past as usize;
        let levels = target.saturating_sub(depth(&doc));
        nest(doc, levels)
    });
    let nul = (json_doc(), text_with_nul(), any::<bool>())
        .prop_map(|(doc, s, in_key)| if in_key { json!({ s: doc }) } else { json!({ "doc": doc, "s": s }) });
    Union::new_weighted(vec![(8, json_doc()), (1, deep.boxed()), (1, nul.boxed())]).boxed()
}

/// Stored in `almacen::json::normal_form` (numbers in plain notation, no negative zero)
/// when at most `MAX_DEPTH` deep and without NUL; refused otherwise.
fn json_normal(doc: &Json) -> Expect<Json> {
    if depth(doc) > almacen::json::MAX_DEPTH || has_nul(doc) {
        return Expect::Invalid;
    }
    Expect::Reads(almacen::json::normal_form(doc.clone()).unwrap_or_else(|e| panic!("normal_form refused a storable document {doc}: {e}")))
}

/// The text of every number in `doc`.
fn numbers(doc: &Json, out: &mut Vec<String>) {
    match doc {
        Json::Number(n) => out.push(n.to_string()),
        Json::Array(items) => items.iter().for_each(|i| numbers(i, out)),
        Json::Object(map) => map.values().for_each(|v| numbers(v, out)),
        _ => {}
    }
}

async fn json_documents(db: Database, backend: Backend) {
    db.create_tables(&[Docs::TABLE]).await.unwrap();
    let mut f = Findings::new(backend);
    let max = almacen::json::MAX_DEPTH;
    let mut edges = vec![
        nest(json!(1), max),
        nest(json!({}), max - 1),
        nest(json!(1), max + 1),
        nest(json!([]), max),
        json!({ "s": "a\u{0}b" }),
        json!({ "a\u{0}": 1 }),
        json!("emoji 🦀, combining e\u{301}, 4-byte 𝄞, controls \u{1}\u{1f}"),
        json!(null),
        json!([]),
        json!({}),
    ];
    for t in [
        "123456789012345678901234567890",
        "-123456789012345678901234567890",
        "0.123456789012345678901234567890",
        "-98765432109876543210.1234567890",
        "1e300",
        "1.5e-7",
        "1E+2",
        "-1.25e-3",
        "0e10",
        "-0",
        "-0.0",
        "-0.000e5",
        "0.000",
        "1.50",
        "18446744073709551616",
        "-9223372036854775809",
        "1e400",
        "4.9e-324",
    ] {
        edges.push(number(t));
        edges.push(json!({ "n": number(t), "list": [number(t)] }));
    }
    // Some(JSON null) is a value, not SQL NULL.
    let mut all = cases(json_values(), edges);
    all.push((json!(null), Some(json!(null))));

    // The normal form the rules compare with: numbers written out, no negative zero.
    for (v, _) in &all {
        if let Expect::Reads(n) = json_normal(v) {
            let mut texts = Vec::new();
            numbers(&n, &mut texts);
            for t in texts {
                let negative_zero = t.starts_with('-') && t.bytes().all(|b| matches!(b, b'-' | b'0' | b'.'));
                f.check(!t.contains(['e', 'E']) && !negative_zero, || format!("normal_form({v}) keeps the number {t}"));
            }
        }
    }
    round_trip::<Docs>(&db, &mut f, all, json_normal).await;
    f.finish();
}

per_backend!(
    integers_full_range,
    floats_bit_for_bit,
    decimals_round_trip_at_column_scale,
    decimal_filters_and_order_are_numeric,
    decimal_aggregates_are_exact,
    decimal_add_is_exact,
    decimal_raw_sql,
    decimal_precision_over_28_is_refused,
    booleans,
    uuids,
    texts,
    bytes,
    timestamps_truncate_to_microseconds,
    dates_of_years_1_to_9999,
    times_truncate_to_microseconds,
    json_documents,
);
