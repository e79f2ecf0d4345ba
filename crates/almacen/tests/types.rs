//! Portable types and schema, the same on SQLite, PostgreSQL and MariaDB: every column type
//! round-trips through insert, get and a typed filter; values no dialect should store are
//! rejected before they are sent; `create_tables` / `drop_tables` order tables by their
//! foreign keys; constraints, indexes, keys and defaults behave as declared.

mod common;

use almacen::chrono::{FixedOffset, TimeZone};
use almacen::prelude::*;
use almacen::query::Select;
use almacen::serde_json::{self, json};
use almacen::{ColumnType, ForeignKey, OnDelete, ServerDefault, SqlType};
use common::Backend;

// ---------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "ints")]
struct Ints {
    #[model(primary_key, auto)]
    id: i64,
    small_v: i16,
    int_v: i32,
    big_v: i64,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "floats")]
struct Floats {
    #[model(primary_key, auto)]
    id: i64,
    f32_v: f32,
    f64_v: f64,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "flags")]
struct Flags {
    #[model(primary_key, auto)]
    id: i64,
    flag: bool,
    #[model(default = true)]
    enabled: bool,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "texts")]
struct Texts {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 10)]
    short: String,
    body: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "prices")]
struct Prices {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 20)]
    label: String,
    #[model(decimal(12, 2))]
    amount: Decimal,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "uuids")]
struct Uuids {
    #[model(primary_key, auto)]
    id: i64,
    u: Uuid,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "moments")]
struct Moments {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 20)]
    label: String,
    at: DateTime<Utc>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "days")]
struct Days {
    #[model(primary_key, auto)]
    id: i64,
    day: NaiveDate,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "clocks")]
struct Clocks {
    #[model(primary_key, auto)]
    id: i64,
    tod: NaiveTime,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "json_docs")]
struct JsonDocs {
    #[model(primary_key, auto)]
    id: i64,
    body: serde_json::Value,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "blobs")]
struct Blobs {
    #[model(primary_key, auto)]
    id: i64,
    data: Vec<u8>,
}

#[derive(DbEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Status {
    #[default]
    Draft,
    Published,
    #[db_enum(rename = "on-hold")]
    OnHold,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "tickets")]
struct Tickets {
    #[model(primary_key, auto)]
    id: i64,
    status: Status,
    prev: Option<Status>,
}

/// Every nullable flavour of the portable types.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "maybes")]
struct Maybe {
    #[model(primary_key, auto)]
    id: i64,
    n: Option<i32>,
    #[model(max_len = 20)]
    s: Option<String>,
    #[model(decimal(10, 3))]
    d: Option<Decimal>,
    u: Option<Uuid>,
    t: Option<DateTime<Utc>>,
    day: Option<NaiveDate>,
    tod: Option<NaiveTime>,
    j: Option<serde_json::Value>,
    b: Option<Vec<u8>>,
    e: Option<Status>,
    flag: Option<bool>,
    f: Option<f64>,
}

// Schema: a chain of foreign keys, a self reference, a NO ACTION reference.

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "authors")]
struct Author {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 50, unique)]
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "posts")]
struct Post {
    #[model(primary_key, auto)]
    id: i64,
    // Named by the model's constant: the field's type is checked against `Author::ID`'s.
    #[model(references = Author::ID, on_delete = "cascade")]
    author_id: i64,
    #[model(references = "authors.id", on_delete = "set_null")]
    editor_id: Option<i64>,
    #[model(max_len = 100)]
    title: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "comments")]
struct Comment {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = "posts.id", on_delete = "cascade")]
    post_id: i64,
    body: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "categories")]
struct Category {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = Self::ID, on_delete = "set_null")]
    parent_id: Option<i64>,
    #[model(max_len = 40)]
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "reviews")]
struct Review {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = Category::ID)]
    category_id: i64,
    stars: i16,
}

/// Two tables that reference each other: no creation order exists.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "cycle_a")]
struct CycleA {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = "cycle_b.id")]
    b_id: Option<i64>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "cycle_b")]
struct CycleB {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = "cycle_a.id")]
    a_id: Option<i64>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "seats", unique("venue", "seat_no"), index("venue", "row_label"))]
struct Seat {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40)]
    venue: String,
    #[model(max_len = 5)]
    row_label: String,
    seat_no: i32,
    #[model(max_len = 20, unique)]
    barcode: String,
    #[model(index)]
    price_band: i16,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "memberships", composite)]
struct Membership {
    #[model(primary_key)]
    org_id: i64,
    #[model(primary_key, max_len = 40)]
    user_code: String,
    #[model(max_len = 20)]
    role: String,
    since: NaiveDate,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "settings")]
struct Setting {
    #[model(primary_key, max_len = 40)]
    code: String,
    #[model(max_len = 200)]
    value: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "tokens")]
struct Token {
    #[model(primary_key, default = Uuid::new_v4())]
    id: Uuid,
    #[model(max_len = 40)]
    owner: String,
    #[model(default = 3)]
    uses: i32,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "token_uses")]
struct TokenUse {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = "tokens.id", on_delete = "cascade")]
    token_id: Uuid,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "drafts")]
struct Draft {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40)]
    title: String,
    #[model(server_default = "0")]
    revision: i32,
    #[model(max_len = 20, server_default = "'draft'")]
    state: String,
    #[model(server_default = "'on-hold'")]
    status: Status,
    #[model(server_default = 7)]
    views: i64,
    #[model(server_default = false)]
    pinned: bool,
    #[model(server_default = now)]
    created_at: DateTime<Utc>,
    #[model(server_default = now)]
    created_on: NaiveDate,
    #[model(server_default = now)]
    created_tod: NaiveTime,
    #[model(server_default = "'x'", max_len = 5)]
    note: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Compile-time checks: the metadata the derive generates, evaluated by the compiler.
// ---------------------------------------------------------------------------------------

const _: () = {
    let c = Ints::TABLE.columns;
    assert!(c.len() == 4);
    assert!(c[0].primary_key && c[0].auto_increment && !c[0].nullable);
    assert!(matches!(c[1].ty, ColumnType::SmallInt) && matches!(c[2].ty, ColumnType::Integer) && matches!(c[3].ty, ColumnType::BigInt));
    assert!(matches!(Floats::TABLE.columns[1].ty, ColumnType::Float) && matches!(Floats::TABLE.columns[2].ty, ColumnType::Double));
    assert!(matches!(Flags::TABLE.columns[1].ty, ColumnType::Bool));
    assert!(matches!(Texts::TABLE.columns[1].ty, ColumnType::Text { max_len: Some(10) }));
    assert!(matches!(Texts::TABLE.columns[2].ty, ColumnType::Text { max_len: None }));
    assert!(matches!(Prices::TABLE.columns[2].ty, ColumnType::Decimal { precision: 12, scale: 2 }));
    assert!(matches!(Uuids::TABLE.columns[1].ty, ColumnType::Uuid));
    assert!(matches!(Moments::TABLE.columns[2].ty, ColumnType::Timestamp));
    assert!(matches!(Days::TABLE.columns[1].ty, ColumnType::Date));
    assert!(matches!(Clocks::TABLE.columns[1].ty, ColumnType::Time));
    assert!(matches!(JsonDocs::TABLE.columns[1].ty, ColumnType::Json));
    assert!(matches!(Blobs::TABLE.columns[1].ty, ColumnType::Bytes));
    assert!(matches!(Tickets::TABLE.columns[1].ty, ColumnType::Enum { variants: [_, _, _] }));
    // Every Option field is nullable and keeps its inner column type.
    let m = Maybe::TABLE.columns;
    let mut i = 1;
    while i < m.len() {
        assert!(m[i].nullable);
        i += 1;
    }
    assert!(matches!(m[3].ty, ColumnType::Decimal { precision: 10, scale: 3 }));
    assert!(matches!(m[2].ty, ColumnType::Text { max_len: Some(20) }));
    // Foreign keys and their actions.
    assert!(matches!(Post::TABLE.columns[1].references, Some(ForeignKey { on_delete: OnDelete::Cascade, .. })));
    assert!(matches!(Post::TABLE.columns[2].references, Some(ForeignKey { on_delete: OnDelete::SetNull, .. })));
    assert!(matches!(Review::TABLE.columns[1].references, Some(ForeignKey { on_delete: OnDelete::NoAction, .. })));
    // Keys.
    assert!(Membership::TABLE.columns[0].primary_key && Membership::TABLE.columns[1].primary_key);
    assert!(!Membership::TABLE.columns[0].auto_increment && !Token::TABLE.columns[0].auto_increment);
    // Server defaults.
    assert!(matches!(Draft::TABLE.columns[2].server_default, Some(ServerDefault::Sql(_))));
    assert!(matches!(Draft::TABLE.columns[7].server_default, Some(ServerDefault::Now)));
    assert!(Draft::TABLE.columns[1].server_default.is_none());
    // Indexes and unique flags.
    assert!(Seat::TABLE.columns[4].unique && Seat::TABLE.columns[5].indexed && !Seat::TABLE.columns[5].unique);
    assert!(Seat::TABLE.indexes.len() == 2);
};

/// Type-level shapes: keys, the inner type filters compare with, `New` inputs with server
/// defaults as `Option`s. Compiling is the check; the asserts check the strings.
#[test]
fn generated_shapes() {
    fn key_is<M: Model<Key = K>, K>() {}
    key_is::<Ints, i64>();
    key_is::<Membership, (i64, String)>();
    key_is::<Setting, String>();
    key_is::<Token, Uuid>();
    fn inner_is<T: SqlType<Inner = I>, I>() {}
    inner_is::<Option<Decimal>, Decimal>();
    inner_is::<Option<Status>, Status>();
    inner_is::<Vec<u8>, Vec<u8>>();
    // Option columns filter with the inner type; DateTime<FixedOffset> converts into the UTC column type.
    let _: Condition = Maybe::N.eq(5);
    let _: Condition = Maybe::E.eq(Status::Draft);
    let offset = FixedOffset::east_opt(3600).unwrap().with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let _: Condition = Moments::AT.eq(offset);
    let new = NewDraft {
        title: "t".into(),
        revision: None,
        state: None,
        status: None,
        views: None,
        pinned: None,
        created_at: None,
        created_on: None,
        created_tod: None,
        note: None,
    };
    assert_eq!(new.title, "t");
    let tok = NewToken::default();
    assert!(!tok.id.is_nil());
    assert_eq!(tok.uses, 3);

    assert_eq!(<Status as almacen::DbEnumText>::VARIANTS, ["draft", "published", "on-hold"]);
    assert_eq!(Post::TABLE.columns[1].references, Some(ForeignKey { table: "authors", column: "id", on_delete: OnDelete::Cascade }));
    assert_eq!(Category::TABLE.references().collect::<Vec<_>>(), ["categories"]);
    assert_eq!(Draft::TABLE.columns[2].server_default, Some(ServerDefault::Sql("0")));
    assert_eq!(Draft::TABLE.columns[3].server_default, Some(ServerDefault::Sql("'draft'")));
    assert_eq!(Draft::TABLE.columns[5].server_default, Some(ServerDefault::Sql("7")));
    assert_eq!(Draft::TABLE.columns[6].server_default, Some(ServerDefault::Sql("FALSE")));
    let ix: Vec<(&str, &[&str], bool)> = Seat::TABLE.indexes.iter().map(|i| (i.name, i.columns, i.unique)).collect();
    assert_eq!(
        ix,
        [("uq_seats_venue_seat_no", &["venue", "seat_no"][..], true), ("ix_seats_venue_row_label", &["venue", "row_label"][..], false)]
    );
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}")).with_timezone(&Utc)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn tod(h: u32, m: u32, s: u32, micro: u32) -> NaiveTime {
    NaiveTime::from_hms_micro_opt(h, m, s, micro).unwrap()
}

/// The sorted ids of the rows of `M` matching `cond`.
async fn ids_where<M: Model + std::fmt::Debug>(db: &Database, cond: Condition, id: fn(&M) -> i64) -> Vec<i64> {
    let what = format!("{cond:?}");
    let rows = Select::<M>::new().filter(cond).fetch_all(db).await.unwrap_or_else(|e| panic!("filter {what}: {e}"));
    let mut ids: Vec<i64> = rows.iter().map(id).collect();
    ids.sort();
    ids
}

async fn count_all<M: Model>(db: &Database) -> u64 {
    Select::<M>::new().count(db).await.unwrap()
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(r: almacen::Result<T>, column: &str) {
    match r {
        Err(Error::InvalidValue { column: c, message }) => assert_eq!(c, column, "InvalidValue names the column ({message})"),
        other => panic!("expected Error::InvalidValue for {column}, got {other:?}"),
    }
}

#[track_caller]
fn assert_unique_violation<T: std::fmt::Debug>(r: almacen::Result<T>) {
    match r {
        Err(Error::UniqueViolation(_)) => {}
        other => panic!("expected Error::UniqueViolation, got {other:?}"),
    }
}

/// The index names the catalog lists for `table`.
async fn index_names(db: &Database, backend: Backend, table: &str) -> Vec<String> {
    let sql = match backend {
        Backend::Sqlite => "SELECT name AS n FROM sqlite_master WHERE type = 'index' AND tbl_name = :t",
        Backend::Postgres => "SELECT indexname::text AS n FROM pg_indexes WHERE tablename = :t",
        Backend::MariaDb => {
            "SELECT DISTINCT index_name AS n FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = :t"
        }
    };
    let rows = db.fetch_all_raw(sql, params! {"t" => table}).await.unwrap();
    let mut names: Vec<String> = rows.iter().map(|r| r.get::<String>("n").unwrap()).collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------------------

async fn integers_round_trip(db: Database, _b: Backend) {
    db.create_tables(&[Ints::TABLE]).await.unwrap();
    let cases = [(i16::MIN, i32::MIN, i64::MIN), (i16::MAX, i32::MAX, i64::MAX), (0, 0, 0), (-1, -1, -1), (1, 1, 1)];
    let mut stored = Vec::new();
    for (s, i, b) in cases {
        let row = Ints::insert(&db, NewInts { small_v: s, int_v: i, big_v: b }).await.unwrap();
        assert_eq!((row.small_v, row.int_v, row.big_v), (s, i, b), "insert returns the stored values");
        assert_eq!(Ints::get(&db, row.id).await.unwrap().as_ref(), Some(&row));
        stored.push(row);
    }
    for row in &stored {
        assert_eq!(ids_where(&db, Ints::SMALL_V.eq(row.small_v), |r: &Ints| r.id).await, [row.id], "small = {}", row.small_v);
        assert_eq!(ids_where(&db, Ints::INT_V.eq(row.int_v), |r: &Ints| r.id).await, [row.id], "int = {}", row.int_v);
        assert_eq!(ids_where(&db, Ints::BIG_V.eq(row.big_v), |r: &Ints| r.id).await, [row.id], "big = {}", row.big_v);
    }
    let (min, max, zero, neg, one) = (stored[0].id, stored[1].id, stored[2].id, stored[3].id, stored[4].id);
    assert_eq!(ids_where(&db, Ints::BIG_V.lt(0), |r: &Ints| r.id).await, [min, neg]);
    assert_eq!(ids_where(&db, Ints::INT_V.gt(0), |r: &Ints| r.id).await, [max, one]);
    assert_eq!(ids_where(&db, Ints::SMALL_V.between(-1i16, 1i16), |r: &Ints| r.id).await, [zero, neg, one]);
    assert_eq!(ids_where(&db, Ints::BIG_V.ge(i64::MAX), |r: &Ints| r.id).await, [max]);
    assert_eq!(ids_where(&db, Ints::BIG_V.le(i64::MIN), |r: &Ints| r.id).await, [min]);
}

async fn floats_round_trip(db: Database, _b: Backend) {
    db.create_tables(&[Floats::TABLE]).await.unwrap();
    let cases: [(f32, f64); 9] = [
        (0.0, 0.0),
        (-1.5, -2.25),
        (0.1, 0.1),
        (1.0e-30, 1.0e-300),
        (f32::MIN_POSITIVE, f64::MIN_POSITIVE),
        (3.0e38, 1.0e300),
        (f32::MAX, f64::MAX),
        (f32::MIN, f64::MIN),
        (-123.456, -9_876_543.210_987),
    ];
    let mut stored = Vec::new();
    for (a, b) in cases {
        let row = Floats::insert(&db, NewFloats { f32_v: a, f64_v: b }).await.unwrap();
        assert_eq!((row.f32_v.to_bits(), row.f64_v.to_bits()), (a.to_bits(), b.to_bits()), "insert of ({a:e}, {b:e}) returned {row:?}");
        let got = Floats::get(&db, row.id).await.unwrap().unwrap();
        assert_eq!((got.f32_v.to_bits(), got.f64_v.to_bits()), (a.to_bits(), b.to_bits()), "get of ({a:e}, {b:e}) returned {got:?}");
        stored.push(row);
    }
    for row in &stored {
        assert_eq!(ids_where(&db, Floats::F32_V.eq(row.f32_v), |r: &Floats| r.id).await, [row.id], "f32 = {:e}", row.f32_v);
        assert_eq!(ids_where(&db, Floats::F64_V.eq(row.f64_v), |r: &Floats| r.id).await, [row.id], "f64 = {:e}", row.f64_v);
    }
    let id = |i: usize| stored[i].id;
    assert_eq!(ids_where(&db, Floats::F64_V.lt(0.0), |r: &Floats| r.id).await, [id(1), id(7), id(8)]);
    assert_eq!(ids_where(&db, Floats::F32_V.gt(1.0e38f32), |r: &Floats| r.id).await, [id(5), id(6)]);
    assert_eq!(ids_where(&db, Floats::F64_V.between(0.0, 1.0e-200), |r: &Floats| r.id).await, [id(0), id(3), id(4)]);
}

async fn non_finite_floats_are_rejected(db: Database, _b: Backend) {
    db.create_tables(&[Floats::TABLE]).await.unwrap();
    assert_invalid(Floats::insert(&db, NewFloats { f32_v: f32::NAN, f64_v: 1.0 }).await, "f32_v");
    assert_invalid(Floats::insert(&db, NewFloats { f32_v: f32::INFINITY, f64_v: 1.0 }).await, "f32_v");
    assert_invalid(Floats::insert(&db, NewFloats { f32_v: 1.0, f64_v: f64::NAN }).await, "f64_v");
    assert_invalid(Floats::insert(&db, NewFloats { f32_v: 1.0, f64_v: f64::INFINITY }).await, "f64_v");
    assert_invalid(Floats::insert(&db, NewFloats { f32_v: 1.0, f64_v: f64::NEG_INFINITY }).await, "f64_v");
    assert_eq!(count_all::<Floats>(&db).await, 0, "nothing reached the database");
    // Updates and filters reject them too.
    let mut row = Floats::insert(&db, NewFloats { f32_v: 1.0, f64_v: 2.0 }).await.unwrap();
    row.f64_v = f64::NAN;
    assert_invalid(row.update(&db).await, "f64_v");
    assert_invalid(Floats::patch(row.id).set(Floats::F32_V, f32::NEG_INFINITY).execute(&db).await, "f32_v");
    assert_invalid(Floats::select().filter(Floats::F64_V.lt(f64::NAN)).fetch_all(&db).await, "f64_v");
    assert_invalid(Floats::select().filter(Floats::F32_V.gt(f32::INFINITY)).count(&db).await, "f32_v");
    let got = Floats::get(&db, row.id).await.unwrap().unwrap();
    assert_eq!((got.f32_v, got.f64_v), (1.0, 2.0));
}

async fn booleans_round_trip(db: Database, _b: Backend) {
    db.create_tables(&[Flags::TABLE]).await.unwrap();
    let t = Flags::insert(&db, NewFlags { flag: true, ..Default::default() }).await.unwrap();
    let f = Flags::insert(&db, NewFlags { flag: false, enabled: false }).await.unwrap();
    assert!(t.flag && t.enabled, "client default = true: {t:?}");
    assert!(!f.flag && !f.enabled);
    assert_eq!(Flags::get(&db, t.id).await.unwrap(), Some(t.clone()));
    assert_eq!(Flags::get(&db, f.id).await.unwrap(), Some(f.clone()));
    assert_eq!(ids_where(&db, Flags::FLAG.eq(true), |r: &Flags| r.id).await, [t.id]);
    assert_eq!(ids_where(&db, Flags::FLAG.eq(false), |r: &Flags| r.id).await, [f.id]);
    assert_eq!(ids_where(&db, Flags::ENABLED.ne(true), |r: &Flags| r.id).await, [f.id]);
}

// ---------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------

async fn text_with_max_len_round_trips(db: Database, _b: Backend) {
    db.create_tables(&[Texts::TABLE]).await.unwrap();
    let values = [
        String::new(),
        "plain".to_string(),
        "Plain".to_string(),
        "plain ".to_string(),
        "日本語テキスト".to_string(),
        "🦀🚀✨".to_string(),
        "\u{e9}".to_string(),        // é, precomposed
        "e\u{301}".to_string(),      // e + combining acute: two characters
        "ñ".repeat(10),              // exactly max_len two-byte characters
        "🦀".repeat(10),             // exactly max_len four-byte characters
        "e\u{301}".repeat(5),        // exactly max_len characters, half of them combining
        "t\tn\n'\"\\%_".to_string(), // nine characters that need escaping somewhere
    ];
    let mut stored = Vec::new();
    for v in &values {
        let row =
            Texts::insert(&db, NewTexts { short: v.clone(), body: format!("body of {v}") }).await.unwrap_or_else(|e| panic!("{v:?}: {e}"));
        assert_eq!(&row.short, v);
        let got = Texts::get(&db, row.id).await.unwrap().unwrap();
        assert_eq!(&got.short, v, "get returns exactly the text");
        assert_eq!(got.body, format!("body of {v}"));
        stored.push(row);
    }
    // Equality is exact: no case folding, no trailing-space padding, no Unicode normalisation.
    for (row, v) in stored.iter().zip(&values) {
        assert_eq!(ids_where(&db, Texts::SHORT.eq(v.clone()), |r: &Texts| r.id).await, [row.id], "short = {v:?}");
        assert_eq!(ids_where(&db, Texts::BODY.eq(format!("body of {v}")), |r: &Texts| r.id).await, [row.id], "body of {v:?}");
    }
    // A filter value longer than the column simply matches nothing.
    assert_eq!(ids_where(&db, Texts::SHORT.eq("x".repeat(11)), |r: &Texts| r.id).await, Vec::<i64>::new());
    assert_eq!(ids_where(&db, Texts::SHORT.is_in(["plain", "🦀🚀✨"]), |r: &Texts| r.id).await, [stored[1].id, stored[5].id]);
}

async fn text_over_max_len_or_with_nul_is_rejected(db: Database, _b: Backend) {
    db.create_tables(&[Texts::TABLE]).await.unwrap();
    assert_invalid(Texts::insert(&db, NewTexts { short: "a".repeat(11), body: String::new() }).await, "short");
    assert_invalid(Texts::insert(&db, NewTexts { short: "🦀".repeat(11), body: String::new() }).await, "short");
    assert_invalid(Texts::insert(&db, NewTexts { short: "e\u{301}".repeat(5) + "x", body: String::new() }).await, "short");
    assert_invalid(Texts::insert(&db, NewTexts { short: "a\0b".into(), body: String::new() }).await, "short");
    assert_invalid(Texts::insert(&db, NewTexts { short: "ok".into(), body: "nul \0 inside".into() }).await, "body");
    assert_invalid(Texts::insert(&db, NewTexts { short: "ok".into(), body: "\0".into() }).await, "body");
    assert_eq!(count_all::<Texts>(&db).await, 0, "nothing reached the database");
    let row = Texts::insert(&db, NewTexts { short: "ok".into(), body: "fine".into() }).await.unwrap();
    assert_invalid(Texts::patch(row.id).set(Texts::SHORT, "ñ".repeat(11)).execute(&db).await, "short");
    assert_invalid(Texts::select().filter(Texts::BODY.eq("a\0")).fetch_all(&db).await, "body");
    assert_eq!(Texts::get(&db, row.id).await.unwrap(), Some(row));
}

async fn long_text_without_max_len(db: Database, _b: Backend) {
    db.create_tables(&[Texts::TABLE]).await.unwrap();
    let mut long = String::new();
    let mut i = 0u32;
    while long.len() < 100 * 1024 {
        long.push_str(&format!("line {i}: ascii, ñandú, 日本, 🦀, e\u{301}\n"));
        i += 1;
    }
    let row = Texts::insert(&db, NewTexts { short: "long".into(), body: long.clone() }).await.unwrap();
    assert_eq!(row.body.len(), long.len());
    let got = Texts::get(&db, row.id).await.unwrap().unwrap();
    assert!(got.body == long, "100 KB text changed in the round trip (len {} vs {})", got.body.len(), long.len());
    Texts::insert(&db, NewTexts { short: "other".into(), body: long[..long.len() - 1].to_string() }).await.unwrap();
    assert_eq!(ids_where(&db, Texts::BODY.eq(long), |r: &Texts| r.id).await, [row.id]);
}

// ---------------------------------------------------------------------------------------
// Decimal
// ---------------------------------------------------------------------------------------

/// Values for a decimal(12, 2) column: (label, inserted, text as stored).
const DECIMAL_CASES: [(&str, &str, &str); 10] = [
    ("max", "9999999999.99", "9999999999.99"),
    ("min", "-9999999999.99", "-9999999999.99"),
    ("zero", "0", "0.00"),
    ("cent", "0.01", "0.01"),
    ("minus cent", "-0.01", "-0.01"),
    ("one place", "5.5", "5.50"),
    ("integer", "7", "7.00"),
    ("trailing zeros", "1.2300", "1.23"),
    ("19.99", "19.99", "19.99"),
    ("20", "20.00", "20.00"),
];

async fn decimals_round_trip(db: Database, _b: Backend) {
    db.create_tables(&[Prices::TABLE]).await.unwrap();
    let cases = DECIMAL_CASES;
    let mut stored = Vec::new();
    for (label, value, _) in cases {
        let row =
            Prices::insert(&db, NewPrices { label: label.into(), amount: dec(value) }).await.unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(row.amount, dec(value), "{label}: insert returns the value");
        let got = Prices::get(&db, row.id).await.unwrap().unwrap();
        assert_eq!(got.amount, dec(value), "{label}: get returns the value");
        stored.push(row);
    }
    let id = |i: usize| stored[i].id;
    for (i, (_, value, _)) in cases.iter().enumerate() {
        assert_eq!(ids_where(&db, Prices::AMOUNT.eq(dec(value)), |r: &Prices| r.id).await, [id(i)], "amount = {value}");
    }
    assert_eq!(ids_where(&db, Prices::AMOUNT.lt(Decimal::ZERO), |r: &Prices| r.id).await, [id(1), id(4)]);
    assert_eq!(ids_where(&db, Prices::AMOUNT.gt(dec("9999999999.98")), |r: &Prices| r.id).await, [id(0)]);
    assert_eq!(ids_where(&db, Prices::AMOUNT.ge(dec("19.99")), |r: &Prices| r.id).await, [id(0), id(8), id(9)]);
    assert_eq!(ids_where(&db, Prices::AMOUNT.between(dec("-0.01"), dec("0.01")), |r: &Prices| r.id).await, [id(2), id(3), id(4)]);
    // A comparison value with fewer places than the scale.
    assert_eq!(ids_where(&db, Prices::AMOUNT.eq(dec("5.5")), |r: &Prices| r.id).await, [id(5)]);
    assert_eq!(ids_where(&db, Prices::AMOUNT.le(dec("7")), |r: &Prices| r.id).await, [id(1), id(2), id(3), id(4), id(5), id(6), id(7)]);
}

/// Decimals come back with the column's scale on every backend: `5.5` reads as `5.50`, zero as `0.00`.
async fn decimals_keep_the_column_scale(db: Database, _b: Backend) {
    db.create_tables(&[Prices::TABLE]).await.unwrap();
    let mut wrong = Vec::new();
    for (label, value, text) in DECIMAL_CASES {
        let row = Prices::insert(&db, NewPrices { label: label.into(), amount: dec(value) }).await.unwrap();
        let got = Prices::get(&db, row.id).await.unwrap().unwrap();
        if row.amount.to_string() != text || got.amount.to_string() != text {
            wrong.push(format!("{value}: insert returned {}, get returned {}, want {text}", row.amount, got.amount));
        }
    }
    assert!(wrong.is_empty(), "decimals not at the column's scale:\n{}", wrong.join("\n"));
}

/// Comparison values with more places than the column's scale compare by numeric value.
async fn decimal_filters_with_extra_places(db: Database, _b: Backend) {
    db.create_tables(&[Prices::TABLE]).await.unwrap();
    let a = Prices::insert(&db, NewPrices { label: "a".into(), amount: dec("19.99") }).await.unwrap();
    let b = Prices::insert(&db, NewPrices { label: "b".into(), amount: dec("20.00") }).await.unwrap();
    let c = Prices::insert(&db, NewPrices { label: "c".into(), amount: dec("19.98") }).await.unwrap();
    assert_eq!(ids_where(&db, Prices::AMOUNT.lt(dec("19.995")), |r: &Prices| r.id).await, [a.id, c.id], "amount < 19.995");
    assert_eq!(ids_where(&db, Prices::AMOUNT.gt(dec("19.985")), |r: &Prices| r.id).await, [a.id, b.id], "amount > 19.985");
    assert_eq!(ids_where(&db, Prices::AMOUNT.between(dec("19.985"), dec("19.995")), |r: &Prices| r.id).await, [a.id], "between");
    assert_eq!(ids_where(&db, Prices::AMOUNT.eq(dec("19.991")), |r: &Prices| r.id).await, Vec::<i64>::new(), "amount = 19.991");
    assert_eq!(ids_where(&db, Prices::AMOUNT.ne(dec("19.991")), |r: &Prices| r.id).await, [a.id, b.id, c.id], "amount <> 19.991");
    assert_eq!(ids_where(&db, Prices::AMOUNT.le(dec("19.989")), |r: &Prices| r.id).await, [c.id], "amount <= 19.989");
    assert_eq!(ids_where(&db, Prices::AMOUNT.ge(dec("19.981")), |r: &Prices| r.id).await, [a.id, b.id], "amount >= 19.981");
    assert_eq!(ids_where(&db, Prices::AMOUNT.is_in([dec("19.99"), dec("19.985")]), |r: &Prices| r.id).await, [a.id], "IN");
    // Negative values round the other way.
    let n = Prices::insert(&db, NewPrices { label: "n".into(), amount: dec("-19.99") }).await.unwrap();
    assert_eq!(ids_where(&db, Prices::AMOUNT.lt(dec("-19.985")), |r: &Prices| r.id).await, [n.id], "amount < -19.985");
    assert_eq!(ids_where(&db, Prices::AMOUNT.gt(dec("-19.995")), |r: &Prices| r.id).await, [a.id, b.id, c.id, n.id], "amount > -19.995");
    assert_eq!(ids_where(&db, Prices::AMOUNT.lt(dec("-19.995")), |r: &Prices| r.id).await, Vec::<i64>::new(), "amount < -19.995");
    // Inside AND / OR / NOT too.
    let cond = Prices::AMOUNT.gt(dec("19.985")).and(Prices::AMOUNT.lt(dec("19.995"))).or(Prices::AMOUNT.lt(dec("-19.985")));
    assert_eq!(ids_where(&db, cond, |r: &Prices| r.id).await, [a.id, n.id]);
    assert_eq!(ids_where(&db, Prices::AMOUNT.lt(dec("19.995")).not(), |r: &Prices| r.id).await, [b.id]);
}

async fn decimal_with_more_places_than_scale_is_rejected(db: Database, _b: Backend) {
    db.create_tables(&[Prices::TABLE]).await.unwrap();
    assert_invalid(Prices::insert(&db, NewPrices { label: "x".into(), amount: dec("1.234") }).await, "amount");
    assert_invalid(Prices::insert(&db, NewPrices { label: "x".into(), amount: dec("-0.001") }).await, "amount");
    assert_invalid(Prices::insert(&db, NewPrices { label: "x".into(), amount: dec("19.995") }).await, "amount");
    let stored: Vec<String> = Prices::select().fetch_all(&db).await.unwrap().iter().map(|p| p.amount.to_string()).collect();
    assert!(stored.is_empty(), "nothing may be stored (rounded or not): {stored:?}");
    // Extra zeros are not extra places.
    let ok = Prices::insert(&db, NewPrices { label: "ok".into(), amount: dec("1.230000") }).await.unwrap();
    assert_eq!(ok.amount.to_string(), "1.23");
}

async fn decimal_over_precision_is_rejected(db: Database, _b: Backend) {
    db.create_tables(&[Prices::TABLE]).await.unwrap();
    // decimal(12, 2) holds ten integer digits; eleven do not fit.
    let r = Prices::insert(&db, NewPrices { label: "big".into(), amount: dec("99999999999.99") }).await;
    assert!(r.is_err(), "a value over the column's precision must not be stored: {r:?}");
    let r = Prices::insert(&db, NewPrices { label: "big".into(), amount: dec("-10000000000") }).await;
    assert!(r.is_err(), "a value over the column's precision must not be stored: {r:?}");
    assert_eq!(count_all::<Prices>(&db).await, 0);
}

// ---------------------------------------------------------------------------------------
// UUID, timestamps, dates, times
// ---------------------------------------------------------------------------------------

async fn uuids_round_trip(db: Database, _b: Backend) {
    db.create_tables(&[Uuids::TABLE]).await.unwrap();
    let values = [
        Uuid::nil(),
        Uuid::from_bytes([0xff; 16]),
        Uuid::new_v4(),
        Uuid::new_v4(),
        "00112233-4455-6677-8899-aabbccddeeff".parse().unwrap(),
    ];
    let mut stored = Vec::new();
    for u in values {
        let row = Uuids::insert(&db, NewUuids { u }).await.unwrap();
        assert_eq!(row.u, u);
        assert_eq!(Uuids::get(&db, row.id).await.unwrap().map(|r| r.u), Some(u));
        stored.push(row);
    }
    for row in &stored {
        assert_eq!(ids_where(&db, Uuids::U.eq(row.u), |r: &Uuids| r.id).await, [row.id], "u = {}", row.u);
    }
    assert_eq!(
        ids_where(&db, Uuids::U.is_in([Uuid::nil(), Uuid::from_bytes([0xff; 16])]), |r: &Uuids| r.id).await,
        [stored[0].id, stored[1].id]
    );
    assert_eq!(ids_where(&db, Uuids::U.ne(Uuid::nil()), |r: &Uuids| r.id).await.len(), 4);
}

async fn timestamps_round_trip(db: Database, _b: Backend) {
    db.create_tables(&[Moments::TABLE]).await.unwrap();
    let plus_0530 = FixedOffset::east_opt(5 * 3600 + 30 * 60).unwrap().with_ymd_and_hms(2021, 3, 4, 10, 36, 7).unwrap();
    let minus_0900 = DateTime::parse_from_rfc3339("2021-03-03T20:06:07.25-09:00").unwrap();
    // (label, inserted, expected as stored)
    let cases: Vec<(&str, DateTime<Utc>, DateTime<Utc>)> = vec![
        ("year 1", ts("0001-01-01T00:00:00Z"), ts("0001-01-01T00:00:00Z")),
        ("1900", ts("1900-01-01T00:00:00Z"), ts("1900-01-01T00:00:00Z")),
        ("pre-epoch", ts("1969-12-31T23:59:59.999999Z"), ts("1969-12-31T23:59:59.999999Z")),
        ("epoch", Utc.timestamp_opt(0, 0).unwrap(), ts("1970-01-01T00:00:00Z")),
        ("micros", ts("2021-03-04T05:06:07.123456Z"), ts("2021-03-04T05:06:07.123456Z")),
        ("nanos", ts("2021-03-04T05:06:08.123456789Z"), ts("2021-03-04T05:06:08.123456Z")),
        ("nanos at end", ts("2020-12-31T23:59:59.999999999Z"), ts("2020-12-31T23:59:59.999999Z")),
        ("+05:30", plus_0530.with_timezone(&Utc), ts("2021-03-04T05:06:07Z")),
        ("-09:00", minus_0900.into(), ts("2021-03-04T05:06:07.25Z")),
        ("far future", ts("9999-12-31T23:59:59.999999Z"), ts("9999-12-31T23:59:59.999999Z")),
    ];
    let mut stored = Vec::new();
    for (label, at, want) in &cases {
        let row = Moments::insert(&db, NewMoments { label: label.to_string(), at: *at }).await.unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(row.at, *want, "{label}: insert returns the stored instant");
        let got = Moments::get(&db, row.id).await.unwrap().unwrap();
        assert_eq!(got.at, *want, "{label}: get");
        stored.push(row);
    }
    let id = |i: usize| stored[i].id;
    // Equality with the value as given (nanoseconds are truncated the same way) and as stored.
    for (i, (label, at, want)) in cases.iter().enumerate() {
        assert_eq!(ids_where(&db, Moments::AT.eq(*at), |r: &Moments| r.id).await, [id(i)], "{label}: at = given");
        assert_eq!(ids_where(&db, Moments::AT.eq(*want), |r: &Moments| r.id).await, [id(i)], "{label}: at = stored");
    }
    // An offset timestamp converts into the column's UTC type and compares as an instant.
    assert_eq!(ids_where(&db, Moments::AT.eq(plus_0530), |r: &Moments| r.id).await, [id(7)]);
    assert_eq!(ids_where(&db, Moments::AT.eq(minus_0900), |r: &Moments| r.id).await, [id(8)]);
    assert_eq!(
        ids_where(&db, Moments::AT.between(ts("1900-01-01T00:00:00Z"), ts("1970-01-01T00:00:00Z")), |r: &Moments| r.id).await,
        [id(1), id(2), id(3)],
        "between includes both ends"
    );
    assert_eq!(ids_where(&db, Moments::AT.lt(ts("1970-01-01T00:00:00Z")), |r: &Moments| r.id).await, [id(0), id(1), id(2)]);
    assert_eq!(ids_where(&db, Moments::AT.gt(ts("9999-12-31T23:59:59.999998Z")), |r: &Moments| r.id).await, [id(9)]);
    assert_eq!(
        ids_where(&db, Moments::AT.between(ts("2021-03-04T05:06:07Z"), ts("2021-03-04T05:06:07.25Z")), |r: &Moments| r.id).await,
        [id(4), id(7), id(8)]
    );
    // Chronological order, whatever the storage.
    let labels: Vec<String> =
        Moments::select().order_by(Moments::AT.asc()).fetch_all(&db).await.unwrap().into_iter().map(|m| m.label).collect();
    assert_eq!(labels, ["year 1", "1900", "pre-epoch", "epoch", "nanos at end", "+05:30", "micros", "-09:00", "nanos", "far future"]);
}

async fn dates_and_timestamps_outside_years_1_to_9999_are_rejected(db: Database, _b: Backend) {
    db.create_tables(&[Days::TABLE, Moments::TABLE]).await.unwrap();
    let mut accepted = Vec::new();
    for y in [0, -1, -4712, 10000, 12345] {
        let d = date(y, 1, 1);
        match Days::insert(&db, NewDays { day: d }).await {
            Err(Error::InvalidValue { column, .. }) => assert_eq!(column, "day"),
            other => accepted.push(format!("date {d}: {other:?}")),
        }
        let t = Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).unwrap();
        match Moments::insert(&db, NewMoments { label: format!("{y}"), at: t }).await {
            Err(Error::InvalidValue { column, .. }) => assert_eq!(column, "at"),
            other => accepted.push(format!("timestamp {t}: {other:?}")),
        }
    }
    assert!(accepted.is_empty(), "values outside 0001-9999 were not rejected with InvalidValue:\n{}", accepted.join("\n"));
    assert_eq!(count_all::<Days>(&db).await, 0, "no out-of-range date was stored");
    assert_eq!(count_all::<Moments>(&db).await, 0, "no out-of-range timestamp was stored");
}

async fn dates_round_trip(db: Database, _b: Backend) {
    db.create_tables(&[Days::TABLE]).await.unwrap();
    let values = [date(1, 1, 1), date(1969, 12, 31), date(1970, 1, 1), date(2000, 2, 29), date(2024, 12, 31), date(9999, 12, 31)];
    let mut stored = Vec::new();
    for d in values {
        let row = Days::insert(&db, NewDays { day: d }).await.unwrap_or_else(|e| panic!("{d}: {e}"));
        assert_eq!(row.day, d);
        assert_eq!(Days::get(&db, row.id).await.unwrap().map(|r| r.day), Some(d));
        stored.push(row);
    }
    let id = |i: usize| stored[i].id;
    for (i, d) in values.iter().enumerate() {
        assert_eq!(ids_where(&db, Days::DAY.eq(*d), |r: &Days| r.id).await, [id(i)], "day = {d}");
    }
    assert_eq!(ids_where(&db, Days::DAY.ge(date(2000, 1, 1)), |r: &Days| r.id).await, [id(3), id(4), id(5)]);
    assert_eq!(ids_where(&db, Days::DAY.lt(date(1970, 1, 1)), |r: &Days| r.id).await, [id(0), id(1)]);
    assert_eq!(ids_where(&db, Days::DAY.between(date(1969, 12, 31), date(2000, 2, 29)), |r: &Days| r.id).await, [id(1), id(2), id(3)]);
    let ordered: Vec<NaiveDate> =
        Days::select().order_by(Days::DAY.desc()).fetch_all(&db).await.unwrap().into_iter().map(|r| r.day).collect();
    let mut want = values.to_vec();
    want.reverse();
    assert_eq!(ordered, want);
}

async fn times_round_trip(db: Database, _b: Backend) {
    db.create_tables(&[Clocks::TABLE]).await.unwrap();
    let nanos = NaiveTime::from_hms_nano_opt(1, 2, 3, 123_456_789).unwrap();
    // (inserted, expected as stored)
    let cases = [
        (tod(0, 0, 0, 0), tod(0, 0, 0, 0)),
        (tod(0, 0, 0, 1), tod(0, 0, 0, 1)),
        (tod(12, 34, 56, 789_000), tod(12, 34, 56, 789_000)),
        (tod(23, 59, 59, 999_999), tod(23, 59, 59, 999_999)),
        (nanos, tod(1, 2, 3, 123_456)),
    ];
    let mut stored = Vec::new();
    for (t, want) in cases {
        let row = Clocks::insert(&db, NewClocks { tod: t }).await.unwrap_or_else(|e| panic!("{t}: {e}"));
        assert_eq!(row.tod, want, "insert of {t}");
        assert_eq!(Clocks::get(&db, row.id).await.unwrap().map(|r| r.tod), Some(want), "get of {t}");
        stored.push(row);
    }
    let id = |i: usize| stored[i].id;
    for (i, (t, want)) in cases.iter().enumerate() {
        assert_eq!(ids_where(&db, Clocks::TOD.eq(*want), |r: &Clocks| r.id).await, [id(i)], "tod = {want}");
        assert_eq!(ids_where(&db, Clocks::TOD.eq(*t), |r: &Clocks| r.id).await, [id(i)], "tod = {t} (as given)");
    }
    assert_eq!(ids_where(&db, Clocks::TOD.ge(tod(12, 0, 0, 0)), |r: &Clocks| r.id).await, [id(2), id(3)]);
    assert_eq!(ids_where(&db, Clocks::TOD.lt(tod(0, 0, 1, 0)), |r: &Clocks| r.id).await, [id(0), id(1)]);
    assert_eq!(ids_where(&db, Clocks::TOD.gt(tod(23, 59, 59, 999_998)), |r: &Clocks| r.id).await, [id(3)]);
}

// ---------------------------------------------------------------------------------------
// JSON, bytes, enums
// ---------------------------------------------------------------------------------------

async fn json_round_trips_by_value(db: Database, _b: Backend) {
    db.create_tables(&[JsonDocs::TABLE]).await.unwrap();
    let values = vec![
        json!({"a": {"b": [1, 2, {"c": null}]}, "z": true, "y": false, "empty": {}, "list": []}),
        json!({"zeta": 1, "alpha": 2, "mid": {"k2": "v2", "k1": "v1"}}),
        json!([1, "two", 3.5, null, false, {"k": []}, [[]]]),
        json!({"ключ": "значение", "日本": "語", "emoji": "🦀🚀", "combining": "e\u{301}", "escapes": "quote \" backslash \\ tab \t nl \n ctl \u{1}"}),
        json!({"int": 9_007_199_254_740_993_i64, "neg": -42, "float": 0.1, "sum": 0.30000000000000004, "big": 1e300, "small": 1e-300,
               "u64max": u64::MAX, "i64min": i64::MIN, "one": 1.0, "zero": 0}),
        json!("just a string"),
        json!(12345),
        json!(-0.5),
        json!(true),
        json!(null),
        json!([]),
        json!({}),
    ];
    let mut stored = Vec::new();
    for v in &values {
        let row = JsonDocs::insert(&db, NewJsonDocs { body: v.clone() }).await.unwrap_or_else(|e| panic!("{v}: {e}"));
        // Numbers come back in plain notation (1e300 written out) on every dialect.
        let v = &almacen::json::normal_form(v.clone()).unwrap();
        assert_eq!(&row.body, v, "insert returns an equal value");
        let got = JsonDocs::get(&db, row.id).await.unwrap().unwrap();
        assert_eq!(&got.body, v, "get returns an equal value");
        stored.push(row);
    }
    // Object key order is not part of the value.
    let reordered = json!({"alpha": 2, "mid": {"k1": "v1", "k2": "v2"}, "zeta": 1});
    assert_eq!(JsonDocs::get(&db, stored[1].id).await.unwrap().unwrap().body, reordered);
    // A typed filter with the very value that was stored.
    assert_eq!(ids_where(&db, JsonDocs::BODY.eq(values[0].clone()), |r: &JsonDocs| r.id).await, [stored[0].id]);
    assert_eq!(ids_where(&db, JsonDocs::BODY.eq(json!("just a string")), |r: &JsonDocs| r.id).await, [stored[5].id]);
    assert_eq!(ids_where(&db, JsonDocs::BODY.is_not_null(), |r: &JsonDocs| r.id).await.len(), values.len(), "JSON null is not SQL NULL");
}

/// A JSON string may hold U+0000 (`"\u0000"`); it must be stored and read back, or be
/// rejected before it is sent, the same on every backend.
async fn json_with_nul_escape(db: Database, _b: Backend) {
    db.create_tables(&[JsonDocs::TABLE]).await.unwrap();
    let v = json!({"s": "a\u{0}b"});
    match JsonDocs::insert(&db, NewJsonDocs { body: v.clone() }).await {
        Ok(row) => assert_eq!(JsonDocs::get(&db, row.id).await.unwrap().unwrap().body, v),
        Err(Error::InvalidValue { .. }) => {}
        Err(other) => panic!("JSON with \\u0000 was sent and failed in the database instead of being rejected or stored: {other:?}"),
    }
}

async fn bytes_round_trip(db: Database, _b: Backend) {
    db.create_tables(&[Blobs::TABLE]).await.unwrap();
    let all: Vec<u8> = (0..=255).collect();
    let reversed: Vec<u8> = (0..=255).rev().collect();
    let megabyte: Vec<u8> = (0..1_048_576u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let values = vec![Vec::new(), all.clone(), reversed, vec![0], vec![0, 0, 0], megabyte.clone(), b"text\xff\xfe".to_vec()];
    let mut stored = Vec::new();
    for v in &values {
        let row = Blobs::insert(&db, NewBlobs { data: v.clone() }).await.unwrap_or_else(|e| panic!("{} bytes: {e}", v.len()));
        assert!(&row.data == v, "insert of {} bytes returned {} bytes", v.len(), row.data.len());
        let got = Blobs::get(&db, row.id).await.unwrap().unwrap();
        assert!(&got.data == v, "get of {} bytes returned {} bytes", v.len(), got.data.len());
        stored.push(row);
    }
    let id = |i: usize| stored[i].id;
    assert_eq!(ids_where(&db, Blobs::DATA.eq(Vec::<u8>::new()), |r: &Blobs| r.id).await, [id(0)], "empty bytes");
    assert_eq!(ids_where(&db, Blobs::DATA.eq(all), |r: &Blobs| r.id).await, [id(1)], "all 256 byte values");
    assert_eq!(ids_where(&db, Blobs::DATA.eq(vec![0u8]), |r: &Blobs| r.id).await, [id(3)], "a zero byte is not padding");
    assert_eq!(ids_where(&db, Blobs::DATA.eq(megabyte), |r: &Blobs| r.id).await, [id(5)], "1 MB");
    assert_eq!(ids_where(&db, Blobs::DATA.is_in([vec![0u8, 0, 0], b"text\xff\xfe".to_vec()]), |r: &Blobs| r.id).await, [id(4), id(6)]);
}

async fn enums_round_trip_and_check_their_values(db: Database, _b: Backend) {
    db.create_tables(&[Tickets::TABLE]).await.unwrap();
    let rows = [
        (Status::Draft, None),
        (Status::Published, Some(Status::Draft)),
        (Status::OnHold, Some(Status::Published)),
        (Status::OnHold, Some(Status::OnHold)),
    ];
    let mut stored = Vec::new();
    for (status, prev) in rows {
        let row = Tickets::insert(&db, NewTickets { status, prev }).await.unwrap();
        assert_eq!((row.status, row.prev), (status, prev));
        assert_eq!(Tickets::get(&db, row.id).await.unwrap(), Some(row.clone()));
        stored.push(row);
    }
    let id = |i: usize| stored[i].id;
    assert_eq!(ids_where(&db, Tickets::STATUS.eq(Status::OnHold), |r: &Tickets| r.id).await, [id(2), id(3)]);
    assert_eq!(ids_where(&db, Tickets::STATUS.eq(Status::Draft), |r: &Tickets| r.id).await, [id(0)]);
    assert_eq!(ids_where(&db, Tickets::STATUS.ne(Status::OnHold), |r: &Tickets| r.id).await, [id(0), id(1)]);
    assert_eq!(ids_where(&db, Tickets::PREV.eq(Status::Published), |r: &Tickets| r.id).await, [id(2)]);
    assert_eq!(ids_where(&db, Tickets::PREV.is_null(), |r: &Tickets| r.id).await, [id(0)]);
    assert_eq!(ids_where(&db, Tickets::STATUS.is_in([Status::Draft, Status::Published]), |r: &Tickets| r.id).await, [id(0), id(1)]);

    // Stored as the variant's text (the rename included), readable from raw SQL.
    let raw = db.fetch_one_raw("SELECT status FROM tickets WHERE id = :id", params! {"id" => id(2)}).await.unwrap();
    assert_eq!(raw.get::<String>("status").unwrap(), "on-hold");
    db.execute_raw("INSERT INTO tickets (status, prev) VALUES (:s, :p)", params! {"s" => "published", "p" => "on-hold"}).await.unwrap();
    let by_raw =
        Tickets::select().filter(Tickets::PREV.eq(Status::OnHold).and(Tickets::STATUS.eq(Status::Published))).fetch_one(&db).await.unwrap();
    assert_eq!((by_raw.status, by_raw.prev), (Status::Published, Some(Status::OnHold)));

    // Anything else is refused by the CHECK constraint, however it is written.
    for bad in ["archived", "Draft", "", "draft ", "a_value_longer_than_any_variant"] {
        match db.execute_raw("INSERT INTO tickets (status) VALUES (:s)", params! {"s" => bad}).await {
            Err(Error::CheckViolation(_)) => {}
            other => panic!("INSERT of status {bad:?}: expected Error::CheckViolation, got {other:?}"),
        }
        match db.execute_raw("UPDATE tickets SET prev = :s WHERE id = :id", params! {"s" => bad, "id" => id(0)}).await {
            Err(Error::CheckViolation(_)) => {}
            other => panic!("UPDATE of prev to {bad:?}: expected Error::CheckViolation, got {other:?}"),
        }
    }
    assert_eq!(count_all::<Tickets>(&db).await, 5);
}

// ---------------------------------------------------------------------------------------
// Option<T>
// ---------------------------------------------------------------------------------------

async fn optionals_null_and_value(db: Database, _b: Backend) {
    db.create_tables(&[Maybe::TABLE]).await.unwrap();
    let none = Maybe::insert(&db, NewMaybe::default()).await.unwrap();
    assert_eq!(
        none,
        Maybe {
            id: none.id,
            n: None,
            s: None,
            d: None,
            u: None,
            t: None,
            day: None,
            tod: None,
            j: None,
            b: None,
            e: None,
            flag: None,
            f: None
        }
    );
    assert_eq!(Maybe::get(&db, none.id).await.unwrap(), Some(none.clone()));

    let full_new = NewMaybe {
        n: Some(-7),
        s: Some("ñandú 🦀".into()),
        d: Some(dec("-1234567.891")),
        u: Some(Uuid::new_v4()),
        t: Some(ts("1955-11-05T06:15:00.000001Z")),
        day: Some(date(2024, 2, 29)),
        tod: Some(tod(6, 15, 0, 250_000)),
        j: Some(json!({"k": [1, null]})),
        b: Some(vec![0, 1, 2, 255]),
        e: Some(Status::OnHold),
        flag: Some(false),
        f: Some(-0.125),
    };
    let full = Maybe::insert(&db, full_new.clone()).await.unwrap();
    let want = Maybe {
        id: full.id,
        n: full_new.n,
        s: full_new.s.clone(),
        d: full_new.d,
        u: full_new.u,
        t: full_new.t,
        day: full_new.day,
        tod: full_new.tod,
        j: full_new.j.clone(),
        b: full_new.b.clone(),
        e: full_new.e,
        flag: full_new.flag,
        f: full_new.f,
    };
    assert_eq!(full, want);
    assert_eq!(Maybe::get(&db, full.id).await.unwrap(), Some(want.clone()));
    // JSON null inside Some is a value, not SQL NULL.
    let json_null = Maybe::insert(&db, NewMaybe { j: Some(json!(null)), ..Default::default() }).await.unwrap();
    assert_eq!(json_null.j, Some(json!(null)));
    assert_eq!(Maybe::get(&db, json_null.id).await.unwrap().unwrap().j, Some(json!(null)), "Some(JSON null) reads back as Some");

    let (n0, n1, n2) = (none.id, full.id, json_null.id);
    let by = |c: Condition| {
        let db = db.clone();
        async move { ids_where(&db, c, |r: &Maybe| r.id).await }
    };
    // IS NULL / IS NOT NULL on every column.
    let null_checks: Vec<(Condition, Condition, &str)> = vec![
        (Maybe::N.is_null(), Maybe::N.is_not_null(), "n"),
        (Maybe::S.is_null(), Maybe::S.is_not_null(), "s"),
        (Maybe::D.is_null(), Maybe::D.is_not_null(), "d"),
        (Maybe::U.is_null(), Maybe::U.is_not_null(), "u"),
        (Maybe::T.is_null(), Maybe::T.is_not_null(), "t"),
        (Maybe::DAY.is_null(), Maybe::DAY.is_not_null(), "day"),
        (Maybe::TOD.is_null(), Maybe::TOD.is_not_null(), "tod"),
        (Maybe::B.is_null(), Maybe::B.is_not_null(), "b"),
        (Maybe::E.is_null(), Maybe::E.is_not_null(), "e"),
        (Maybe::FLAG.is_null(), Maybe::FLAG.is_not_null(), "flag"),
        (Maybe::F.is_null(), Maybe::F.is_not_null(), "f"),
    ];
    for (is_null, not_null, col) in null_checks {
        assert_eq!(by(is_null).await, [n0, n2], "{col} IS NULL");
        assert_eq!(by(not_null).await, [n1], "{col} IS NOT NULL");
    }
    assert_eq!(by(Maybe::J.is_null()).await, [n0], "j IS NULL");
    assert_eq!(by(Maybe::J.is_not_null()).await, [n1, n2], "j IS NOT NULL");
    // Typed comparisons on Option columns take the inner type.
    assert_eq!(by(Maybe::N.eq(-7)).await, [n1]);
    assert_eq!(by(Maybe::N.lt(0)).await, [n1], "NULL is not less than 0");
    assert_eq!(by(Maybe::S.eq("ñandú 🦀")).await, [n1]);
    assert_eq!(by(Maybe::D.lt(Decimal::ZERO)).await, [n1]);
    assert_eq!(by(Maybe::U.eq(want.u.unwrap())).await, [n1]);
    assert_eq!(by(Maybe::T.lt(ts("1970-01-01T00:00:00Z"))).await, [n1]);
    assert_eq!(by(Maybe::DAY.ge(date(2024, 1, 1))).await, [n1]);
    assert_eq!(by(Maybe::TOD.between(tod(6, 0, 0, 0), tod(7, 0, 0, 0))).await, [n1]);
    assert_eq!(by(Maybe::E.eq(Status::OnHold)).await, [n1]);
    assert_eq!(by(Maybe::FLAG.eq(false)).await, [n1]);
    assert_eq!(by(Maybe::F.eq(-0.125)).await, [n1]);
    assert_eq!(by(Maybe::B.eq(vec![0u8, 1, 2, 255])).await, [n1]);

    // Value → NULL and back through update.
    let mut changed = want.clone();
    changed.n = None;
    changed.t = None;
    changed.e = None;
    changed.b = None;
    changed.update(&db).await.unwrap();
    assert_eq!(Maybe::get(&db, full.id).await.unwrap(), Some(changed.clone()));
    changed.n = Some(i32::MAX);
    changed.update(&db).await.unwrap();
    assert_eq!(Maybe::get(&db, full.id).await.unwrap().unwrap().n, Some(i32::MAX));
    // The rules of the inner type apply to Some.
    assert_invalid(Maybe::insert(&db, NewMaybe { s: Some("x".repeat(21)), ..Default::default() }).await, "s");
    assert_invalid(Maybe::insert(&db, NewMaybe { f: Some(f64::NAN), ..Default::default() }).await, "f");
    assert_invalid(Maybe::insert(&db, NewMaybe { d: Some(dec("0.0001")), ..Default::default() }).await, "d");
    assert_eq!(count_all::<Maybe>(&db).await, 3);
}

// ---------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------

const BLOG: [&almacen::TableMeta; 5] = [Comment::TABLE, Review::TABLE, Post::TABLE, Category::TABLE, Author::TABLE];

async fn create_tables_orders_foreign_keys_and_is_idempotent(db: Database, _b: Backend) {
    // Dependents first: create_tables must reorder.
    db.create_tables(&BLOG).await.unwrap();
    db.create_tables(&BLOG).await.unwrap();
    db.create_tables(&[Post::TABLE, Author::TABLE]).await.unwrap();
    let ann = Author::insert(&db, NewAuthor { name: "ann".into() }).await.unwrap();
    let post = Post::insert(&db, NewPost { author_id: ann.id, editor_id: None, title: "hello".into() }).await.unwrap();
    Comment::insert(&db, NewComment { post_id: post.id, body: "first".into() }).await.unwrap();
    // Creating again keeps the data.
    db.create_tables(&[Comment::TABLE, Author::TABLE, Post::TABLE]).await.unwrap();
    assert_eq!(count_all::<Comment>(&db).await, 1);
    assert_eq!(Author::get(&db, ann.id).await.unwrap(), Some(ann.clone()));
    // The foreign keys exist.
    match Post::insert(&db, NewPost { author_id: ann.id + 1000, editor_id: None, title: "orphan".into() }).await {
        Err(Error::ForeignKeyViolation(_)) => {}
        other => panic!("a post of a missing author: expected ForeignKeyViolation, got {other:?}"),
    }
    match Comment::insert(&db, NewComment { post_id: -1, body: "orphan".into() }).await {
        Err(Error::ForeignKeyViolation(_)) => {}
        other => panic!("a comment on a missing post: expected ForeignKeyViolation, got {other:?}"),
    }
    // A cycle has no order.
    match db.create_tables(&[CycleA::TABLE, CycleB::TABLE]).await {
        Err(Error::Unsupported(m)) => assert!(m.contains("cycle_a") && m.contains("cycle_b"), "{m}"),
        other => panic!("a foreign-key cycle: expected Error::Unsupported, got {other:?}"),
    }
}

async fn drop_tables_in_any_order(db: Database, _b: Backend) {
    db.create_tables(&BLOG).await.unwrap();
    let ann = Author::insert(&db, NewAuthor { name: "ann".into() }).await.unwrap();
    let post = Post::insert(&db, NewPost { author_id: ann.id, editor_id: Some(ann.id), title: "t".into() }).await.unwrap();
    Comment::insert(&db, NewComment { post_id: post.id, body: "c".into() }).await.unwrap();
    let root = Category::insert(&db, NewCategory { parent_id: None, name: "root".into() }).await.unwrap();
    Category::insert(&db, NewCategory { parent_id: Some(root.id), name: "child".into() }).await.unwrap();
    Review::insert(&db, NewReview { category_id: root.id, stars: 5 }).await.unwrap();
    // Parents first: drop_tables must reorder.
    db.drop_tables(&[Author::TABLE, Category::TABLE, Post::TABLE, Review::TABLE, Comment::TABLE]).await.unwrap();
    for t in ["authors", "posts", "comments", "categories", "reviews"] {
        let r = db.fetch_all_raw(&format!("SELECT * FROM {t}"), params! {}).await;
        assert!(r.is_err(), "table {t} should be gone: {r:?}");
    }
    // Dropping what does not exist is fine.
    db.drop_tables(&BLOG).await.unwrap();
    db.create_tables(&BLOG).await.unwrap();
    assert_eq!(count_all::<Author>(&db).await, 0);
    assert_eq!(count_all::<Comment>(&db).await, 0);
    db.drop_tables(&[Post::TABLE, Author::TABLE, Comment::TABLE]).await.unwrap();
    db.drop_tables(&[Review::TABLE, Category::TABLE]).await.unwrap();
}

async fn on_delete_cascade_and_set_null(db: Database, _b: Backend) {
    db.create_tables(&BLOG).await.unwrap();
    let ann = Author::insert(&db, NewAuthor { name: "ann".into() }).await.unwrap();
    let bob = Author::insert(&db, NewAuthor { name: "bob".into() }).await.unwrap();
    let p1 = Post::insert(&db, NewPost { author_id: ann.id, editor_id: Some(bob.id), title: "ann's".into() }).await.unwrap();
    let p2 = Post::insert(&db, NewPost { author_id: bob.id, editor_id: Some(ann.id), title: "bob's, ann edits".into() }).await.unwrap();
    let p3 = Post::insert(&db, NewPost { author_id: bob.id, editor_id: Some(bob.id), title: "bob's own".into() }).await.unwrap();
    let c1 = Comment::insert(&db, NewComment { post_id: p1.id, body: "on ann's".into() }).await.unwrap();
    Comment::insert(&db, NewComment { post_id: p1.id, body: "again on ann's".into() }).await.unwrap();
    let c3 = Comment::insert(&db, NewComment { post_id: p2.id, body: "on bob's".into() }).await.unwrap();

    // Model delete: ann's post goes (cascade), and its comments with it (cascade of a cascade);
    // the post she edited stays, without an editor (set null).
    assert!(ann.delete(&db).await.unwrap());
    assert_eq!(Post::get(&db, p1.id).await.unwrap(), None);
    assert_eq!(Comment::get(&db, c1.id).await.unwrap(), None);
    assert_eq!(ids_where(&db, Comment::POST_ID.eq(p1.id), |r: &Comment| r.id).await, Vec::<i64>::new());
    let p2_now = Post::get(&db, p2.id).await.unwrap().unwrap();
    assert_eq!(p2_now.editor_id, None, "ON DELETE SET NULL");
    assert_eq!(p2_now.author_id, bob.id);
    assert_eq!(Post::get(&db, p3.id).await.unwrap(), Some(p3.clone()));
    assert_eq!(ids_where(&db, Post::EDITOR_ID.is_null(), |r: &Post| r.id).await, [p2.id]);
    assert_eq!(Comment::get(&db, c3.id).await.unwrap().map(|c| c.body), Some("on bob's".into()));

    // Raw SQL delete: the same actions.
    assert_eq!(db.execute_raw("DELETE FROM authors WHERE id = :id", params! {"id" => bob.id}).await.unwrap(), 1);
    assert_eq!(count_all::<Post>(&db).await, 0);
    assert_eq!(count_all::<Comment>(&db).await, 0);

    // A self reference with SET NULL.
    let root = Category::insert(&db, NewCategory { parent_id: None, name: "root".into() }).await.unwrap();
    let child = Category::insert(&db, NewCategory { parent_id: Some(root.id), name: "child".into() }).await.unwrap();
    let grandchild = Category::insert(&db, NewCategory { parent_id: Some(child.id), name: "grandchild".into() }).await.unwrap();
    assert!(Category::delete_by_key(&db, root.id).await.unwrap());
    assert_eq!(Category::get(&db, child.id).await.unwrap().unwrap().parent_id, None);
    assert_eq!(Category::get(&db, grandchild.id).await.unwrap().unwrap().parent_id, Some(child.id));

    // NO ACTION refuses to delete a referenced row.
    Review::insert(&db, NewReview { category_id: child.id, stars: 4 }).await.unwrap();
    match Category::delete_by_key(&db, child.id).await {
        Err(Error::ForeignKeyViolation(_)) => {}
        other => panic!("deleting a category with reviews: expected ForeignKeyViolation, got {other:?}"),
    }
    assert!(Category::get(&db, child.id).await.unwrap().is_some());
    assert_eq!(Category::get(&db, grandchild.id).await.unwrap().unwrap().parent_id, Some(child.id), "the failed delete changed nothing");
}

async fn unique_columns_and_composite_unique_indexes(db: Database, _b: Backend) {
    db.create_tables(&[Seat::TABLE, Author::TABLE]).await.unwrap();
    let seat = |venue: &str, row: &str, no: i32, code: &str| NewSeat {
        venue: venue.into(),
        row_label: row.into(),
        seat_no: no,
        barcode: code.into(),
        price_band: 1,
    };
    let first = Seat::insert(&db, seat("hall", "A", 1, "bc-1")).await.unwrap();
    // Column UNIQUE.
    assert_unique_violation(Seat::insert(&db, seat("hall", "A", 2, "bc-1")).await);
    // Struct-level unique("venue", "seat_no").
    assert_unique_violation(Seat::insert(&db, seat("hall", "B", 1, "bc-2")).await);
    // Either half alone may repeat; case and trailing spaces make different values.
    Seat::insert(&db, seat("arena", "A", 1, "bc-3")).await.unwrap();
    Seat::insert(&db, seat("hall", "A", 2, "BC-1")).await.unwrap();
    Seat::insert(&db, seat("Hall", "A", 1, "bc-1 ")).await.unwrap();
    assert_eq!(count_all::<Seat>(&db).await, 4);
    // Updates are checked too.
    let mut moved = first.clone();
    moved.barcode = "bc-3".into();
    assert_unique_violation(moved.update(&db).await);
    assert_unique_violation(Seat::patch(first.id).set(Seat::SEAT_NO, 2).execute(&db).await);
    assert_eq!(Seat::get(&db, first.id).await.unwrap(), Some(first));
    // unique on a text column of another table.
    Author::insert(&db, NewAuthor { name: "ann".into() }).await.unwrap();
    assert_unique_violation(Author::insert(&db, NewAuthor { name: "ann".into() }).await);
    Author::insert(&db, NewAuthor { name: "Ann".into() }).await.unwrap();
}

async fn indexes_are_created(db: Database, backend: Backend) {
    db.create_tables(&[Seat::TABLE]).await.unwrap();
    db.create_tables(&[Seat::TABLE]).await.unwrap();
    let names = index_names(&db, backend, "seats").await;
    for want in ["ix_seats_price_band", "ix_seats_venue_row_label", "uq_seats_venue_seat_no"] {
        assert!(names.iter().any(|n| n == want), "index {want} missing from {names:?}");
    }
    if backend != Backend::Sqlite {
        // SQLite names the index behind a UNIQUE constraint itself.
        assert!(names.iter().any(|n| n == "uq_seats_barcode"), "unique constraint index missing from {names:?}");
    }
    let rows: Vec<NewSeat> = (0..50)
        .map(|i| NewSeat {
            venue: format!("v{}", i % 5),
            row_label: ["A", "B"][i % 2].into(),
            seat_no: i as i32,
            barcode: format!("code-{i}"),
            price_band: (i % 3) as i16,
        })
        .collect();
    Seat::insert_many(&db, rows).await.unwrap();
    assert_eq!(Seat::select().filter(Seat::PRICE_BAND.eq(2i16)).count(&db).await.unwrap(), 16);
    assert_eq!(Seat::select().filter(Seat::VENUE.eq("v1").and(Seat::ROW_LABEL.eq("B"))).count(&db).await.unwrap(), 5);
    let s = Seat::select().filter(Seat::BARCODE.eq("code-42")).fetch_one(&db).await.unwrap();
    assert_eq!((s.venue.as_str(), s.row_label.as_str(), s.seat_no, s.price_band), ("v2", "A", 42, 0));
}

async fn composite_primary_key(db: Database, _b: Backend) {
    db.create_tables(&[Membership::TABLE]).await.unwrap();
    let m = |org: i64, user: &str, role: &str| NewMembership {
        org_id: org,
        user_code: user.into(),
        role: role.into(),
        since: date(2020, 1, 2),
    };
    let a = Membership::insert(&db, m(1, "ann", "owner")).await.unwrap();
    let b = Membership::insert(&db, m(1, "bob", "member")).await.unwrap();
    let c = Membership::insert(&db, m(2, "ann", "member")).await.unwrap();
    assert_eq!(a.key(), (1, "ann".to_string()));
    assert_eq!(Membership::get(&db, (1, "ann".into())).await.unwrap(), Some(a.clone()));
    assert_eq!(Membership::get(&db, (2, "ann".into())).await.unwrap(), Some(c.clone()));
    assert_eq!(Membership::get(&db, (2, "bob".into())).await.unwrap(), None);
    assert_eq!(Membership::get(&db, (1, "Ann".into())).await.unwrap(), None, "text key compare is exact");
    assert_unique_violation(Membership::insert(&db, m(1, "bob", "owner")).await);
    // Update by key changes only that row.
    let mut promoted = b.clone();
    promoted.role = "admin".into();
    promoted.update(&db).await.unwrap();
    assert_eq!(Membership::get(&db, (1, "bob".into())).await.unwrap().unwrap().role, "admin");
    assert_eq!(Membership::get(&db, (2, "ann".into())).await.unwrap().unwrap().role, "member");
    let patched = Membership::patch((2, "ann".into())).set(Membership::ROLE, "guest").execute(&db).await.unwrap();
    assert_eq!(patched.map(|p| p.role), Some("guest".into()));
    // Delete by key.
    assert!(Membership::delete_by_key(&db, (1, "ann".into())).await.unwrap());
    assert!(!Membership::delete_by_key(&db, (1, "ann".into())).await.unwrap());
    assert_eq!(Membership::get(&db, (1, "ann".into())).await.unwrap(), None);
    assert!(c.delete(&db).await.unwrap());
    let left: Vec<(i64, String)> = Membership::select().fetch_all(&db).await.unwrap().iter().map(|m| m.key()).collect();
    assert_eq!(left, [(1, "bob".to_string())]);
}

async fn natural_text_primary_key(db: Database, _b: Backend) {
    db.create_tables(&[Setting::TABLE]).await.unwrap();
    let a = Setting::insert(&db, NewSetting { code: "site.name".into(), value: "Almacén".into() }).await.unwrap();
    let b = Setting::insert(&db, NewSetting { code: "clé-🔑".into(), value: "unicode key".into() }).await.unwrap();
    Setting::insert(&db, NewSetting { code: "SITE.NAME".into(), value: "other case".into() }).await.unwrap();
    assert_eq!(Setting::get(&db, "site.name".into()).await.unwrap(), Some(a.clone()));
    assert_eq!(Setting::get(&db, "clé-🔑".into()).await.unwrap(), Some(b.clone()));
    assert_eq!(Setting::get(&db, "site.name ".into()).await.unwrap(), None);
    assert_unique_violation(Setting::insert(&db, NewSetting { code: "site.name".into(), value: "dup".into() }).await);
    let mut changed = a.clone();
    changed.value = "New name".into();
    changed.update(&db).await.unwrap();
    assert_eq!(Setting::get(&db, "site.name".into()).await.unwrap().unwrap().value, "New name");
    assert!(Setting::delete_by_key(&db, "clé-🔑".into()).await.unwrap());
    assert_eq!(Setting::get(&db, "clé-🔑".into()).await.unwrap(), None);
    assert_eq!(count_all::<Setting>(&db).await, 2);
}

async fn uuid_primary_key_with_client_default(db: Database, _b: Backend) {
    db.create_tables(&[TokenUse::TABLE, Token::TABLE]).await.unwrap();
    let n1 = NewToken { owner: "ann".into(), ..Default::default() };
    let n2 = NewToken { owner: "bob".into(), ..Default::default() };
    assert_ne!(n1.id, n2.id, "each default is a fresh UUID");
    let t1 = Token::insert(&db, n1.clone()).await.unwrap();
    let t2 = Token::insert(&db, n2.clone()).await.unwrap();
    assert_eq!((t1.id, t1.uses), (n1.id, 3));
    assert_eq!(t2.id, n2.id);
    assert_eq!(Token::get(&db, t1.id).await.unwrap(), Some(t1.clone()));
    assert_eq!(Token::get(&db, Uuid::new_v4()).await.unwrap(), None);
    assert_unique_violation(Token::insert(&db, NewToken { id: t1.id, owner: "dup".into(), uses: 0 }).await);
    // A UUID foreign key, with cascade.
    let u = TokenUse::insert(&db, NewTokenUse { token_id: t1.id }).await.unwrap();
    TokenUse::insert(&db, NewTokenUse { token_id: t2.id }).await.unwrap();
    assert_eq!(ids_where(&db, TokenUse::TOKEN_ID.eq(t1.id), |r: &TokenUse| r.id).await, [u.id]);
    assert!(Token::delete_by_key(&db, t1.id).await.unwrap());
    assert_eq!(TokenUse::get(&db, u.id).await.unwrap(), None);
    assert_eq!(count_all::<TokenUse>(&db).await, 1);
}

async fn server_defaults_fill_omitted_columns(db: Database, _b: Backend) {
    db.create_tables(&[Draft::TABLE]).await.unwrap();
    let before = Utc::now();
    let d = Draft::insert(&db, NewDraft { title: "first".into(), ..Default::default() }).await.unwrap();
    assert_eq!(d.revision, 0, "server_default = \"0\"");
    assert_eq!(d.state, "draft", "server_default = \"'draft'\"");
    assert_eq!(d.status, Status::OnHold, "enum server default");
    assert_eq!(d.views, 7, "integer literal server default");
    assert!(!d.pinned, "bool server default");
    assert_eq!(d.note.as_deref(), Some("x"), "server default of an Option column");
    let drift = (d.created_at - before).num_seconds().abs();
    assert!(drift < 60, "created_at {} is not within a minute of {before}", d.created_at);
    let today = Utc::now().date_naive();
    assert!((d.created_on - today).num_days().abs() <= 1, "created_on {} vs today {today}", d.created_on);
    let now_tod = Utc::now().time();
    let secs = (d.created_tod - now_tod).num_seconds().abs();
    assert!(!(120..=86_400 - 120).contains(&secs), "created_tod {} vs now {now_tod}", d.created_tod);
    assert_eq!(Draft::get(&db, d.id).await.unwrap(), Some(d.clone()), "get returns the same defaults");

    // Values given explicitly win over server defaults.
    let at = ts("2001-02-03T04:05:06.789Z");
    let e = Draft::insert(
        &db,
        NewDraft {
            title: "second".into(),
            revision: Some(5),
            state: Some("published".into()),
            status: Some(Status::Published),
            views: Some(0),
            pinned: Some(true),
            created_at: Some(at),
            created_on: Some(date(2001, 2, 3)),
            created_tod: Some(tod(4, 5, 6, 789_000)),
            note: Some("given".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (e.revision, e.state.as_str(), e.status, e.views, e.pinned, e.created_at, e.created_on, e.created_tod, e.note.as_deref()),
        (5, "published", Status::Published, 0, true, at, date(2001, 2, 3), tod(4, 5, 6, 789_000), Some("given"))
    );
    // Several rows, some with defaults and some without, in one call.
    let many = Draft::insert_many(
        &db,
        vec![
            NewDraft { title: "m1".into(), ..Default::default() },
            NewDraft { title: "m2".into(), revision: Some(9), ..Default::default() },
            NewDraft { title: "m3".into(), ..Default::default() },
        ],
    )
    .await
    .unwrap();
    let revs: Vec<(&str, i32, &str)> = many.iter().map(|m| (m.title.as_str(), m.revision, m.state.as_str())).collect();
    assert_eq!(revs, [("m1", 0, "draft"), ("m2", 9, "draft"), ("m3", 0, "draft")]);
    assert_eq!(Draft::select().filter(Draft::REVISION.eq(0)).count(&db).await.unwrap(), 3);
    assert_eq!(Draft::select().filter(Draft::CREATED_AT.ge(before - almacen::chrono::Duration::minutes(1))).count(&db).await.unwrap(), 4);
}

per_backend!(
    integers_round_trip,
    floats_round_trip,
    non_finite_floats_are_rejected,
    booleans_round_trip,
    text_with_max_len_round_trips,
    text_over_max_len_or_with_nul_is_rejected,
    long_text_without_max_len,
    decimals_round_trip,
    decimals_keep_the_column_scale,
    decimal_filters_with_extra_places,
    decimal_with_more_places_than_scale_is_rejected,
    decimal_over_precision_is_rejected,
    uuids_round_trip,
    timestamps_round_trip,
    dates_and_timestamps_outside_years_1_to_9999_are_rejected,
    dates_round_trip,
    times_round_trip,
    json_round_trips_by_value,
    json_with_nul_escape,
    bytes_round_trip,
    enums_round_trip_and_check_their_values,
    optionals_null_and_value,
    create_tables_orders_foreign_keys_and_is_idempotent,
    drop_tables_in_any_order,
    on_delete_cascade_and_set_null,
    unique_columns_and_composite_unique_indexes,
    indexes_are_created,
    composite_primary_key,
    natural_text_primary_key,
    uuid_primary_key_with_client_default,
    server_defaults_fill_omitted_columns,
);
