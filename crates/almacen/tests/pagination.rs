//! Numbered pages with totals and keyset pages behind signed cursors, the same on SQLite,
//! PostgreSQL and MariaDB.

mod common;

use almacen::chrono::{DateTime, Duration, TimeZone, Utc};
use almacen::prelude::*;
use almacen::query::{CursorKey, MAX_PAGE_SIZE, Page};
use common::Backend;
use std::collections::HashSet;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "entries")]
struct Entry {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 20)]
    kind: String,
    score: i32,
    #[model(decimal(10, 2))]
    price: Decimal,
    at: DateTime<Utc>,
    note: Option<String>,
}

fn key() -> CursorKey {
    CursorKey::new("a test secret of enough bytes").unwrap()
}

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap() + Duration::microseconds(250_001)
}

/// 53 entries: kinds "a"/"b" alternating, scores with many ties (id % 7), prices and times
/// that repeat every 5 rows.
async fn seed(db: &Database) -> Vec<Entry> {
    db.create_tables(&[Entry::TABLE]).await.unwrap();
    let rows = (0..53)
        .map(|i| NewEntry {
            kind: if i % 2 == 0 { "a".into() } else { "b".into() },
            score: i % 7,
            price: Decimal::new(100 + (i % 5) as i64 * 25, 2),
            at: base_time() + Duration::seconds((i % 5) as i64),
            note: (i % 3 == 0).then(|| format!("n{i}")),
        })
        .collect();
    Entry::insert_many(db, rows).await.unwrap()
}

fn ids(items: &[Entry]) -> Vec<i64> {
    items.iter().map(|e| e.id).collect()
}

async fn numbered_pages(db: Database, _b: Backend) {
    let all = seed(&db).await;
    let query = Entry::select().filter(Entry::KIND.eq("a")).order_by(Entry::SCORE.desc());
    // The expected order: score descending, then id (appended as the final key).
    let mut expected: Vec<&Entry> = all.iter().filter(|e| e.kind == "a").collect();
    expected.sort_by(|x, y| y.score.cmp(&x.score).then(x.id.cmp(&y.id)));
    let expected: Vec<i64> = expected.iter().map(|e| e.id).collect();
    assert_eq!(expected.len(), 27);

    let mut seen = Vec::new();
    for page in 1..=3 {
        let p = query.paginate(&db, page, 10).await.unwrap();
        assert_eq!((p.total, p.page, p.page_size, p.total_pages), (27, page, 10, 3));
        assert_eq!(p.has_prev, page > 1);
        assert_eq!(p.has_next, page < 3);
        assert_eq!(p.items.len(), if page < 3 { 10 } else { 7 });
        seen.extend(ids(&p.items));
    }
    assert_eq!(seen, expected, "pages follow the order, with the key as tiebreaker, no overlap, no gap");

    // Past the end: empty items, not an error; totals still right.
    let past = query.paginate(&db, 4, 10).await.unwrap();
    assert!(past.items.is_empty());
    assert_eq!((past.total, past.total_pages, past.has_next, past.has_prev), (27, 3, false, true));
    let far = query.paginate(&db, u64::MAX, 10).await.unwrap();
    assert!(far.items.is_empty(), "an offset that overflows is past the end");

    // Nothing matches.
    let none = Entry::select().filter(Entry::KIND.eq("zzz")).paginate(&db, 1, 10).await.unwrap();
    assert_eq!((none.items.len(), none.total, none.total_pages, none.has_next, none.has_prev), (0, 0, 0, false, false));

    // Page size capped; a query's own limit and offset do not leak into the page.
    let capped = Entry::select().limit(3).offset(50).paginate(&db, 1, MAX_PAGE_SIZE + 500).await.unwrap();
    assert_eq!((capped.page_size, capped.items.len(), capped.total), (MAX_PAGE_SIZE, 53, 53));

    // Bad input is a clear error.
    let err = query.paginate(&db, 0, 10).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidValue { column, .. } if column == "page"), "{err:?}");
    let err = query.paginate(&db, 1, 0).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidValue { column, .. } if column == "page_size"), "{err:?}");

    // A page serialises as an API returns it, and maps to another item type.
    let p: Page<i64> = query.paginate(&db, 2, 10).await.unwrap().map(|e| e.id);
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["total"], 27);
    assert_eq!(json["page"], 2);
    assert_eq!(json["has_next"], true);
    assert_eq!(json["items"].as_array().unwrap().len(), 10);
}

/// Walk every keyset page of `query` with pages of `limit`, returning the ids in order.
async fn walk(db: &Database, query: &almacen::query::Select<Entry>, limit: u64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let page = query.keyset_page(db, &key(), cursor.as_deref(), limit).await.unwrap();
        assert!(page.items.len() as u64 <= limit);
        assert_eq!(page.has_next, page.next_cursor.is_some());
        out.extend(ids(&page.items));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
    panic!("keyset pagination did not end");
}

async fn keyset_pages(db: Database, _b: Backend) {
    let all = seed(&db).await;

    // Primary key only.
    let mut by_id = ids(&all);
    by_id.sort();
    assert_eq!(walk(&db, &Entry::select(), 10).await, by_id);

    // Several keys with ties and mixed directions: decimal descending, timestamp
    // ascending, then the key.
    let query = Entry::select().order_by(Entry::PRICE.desc()).order_by(Entry::AT.asc());
    let mut expected = all.clone();
    expected.sort_by(|x, y| y.price.cmp(&x.price).then(x.at.cmp(&y.at)).then(x.id.cmp(&y.id)));
    for limit in [1, 7, 53, 100] {
        assert_eq!(walk(&db, &query, limit).await, ids(&expected), "pages of {limit}");
    }

    // With a filter, and text and integer keys.
    let query = Entry::select().filter(Entry::SCORE.ge(2)).order_by(Entry::KIND.asc()).order_by(Entry::SCORE.desc());
    let mut expected: Vec<Entry> = all.iter().filter(|e| e.score >= 2).cloned().collect();
    expected.sort_by(|x, y| x.kind.cmp(&y.kind).then(y.score.cmp(&x.score)).then(x.id.cmp(&y.id)));
    let walked = walk(&db, &query, 6).await;
    assert_eq!(walked, ids(&expected));
    assert_eq!(walked.iter().collect::<HashSet<_>>().len(), walked.len(), "no row twice");

    // Rows inserted before the cursor's position do not shift the next page.
    let first = query.keyset_page(&db, &key(), None, 5).await.unwrap();
    let cursor = first.next_cursor.clone().unwrap();
    let expected_next = query.keyset_page(&db, &key(), Some(&cursor), 5).await.unwrap();
    Entry::insert(&db, NewEntry { kind: "a".into(), score: 6, price: Decimal::ONE, at: base_time(), note: None }).await.unwrap();
    let next = query.keyset_page(&db, &key(), Some(&cursor), 5).await.unwrap();
    assert_eq!(ids(&next.items), ids(&expected_next.items));
}

async fn keyset_cursors_are_tamper_evident(db: Database, _b: Backend) {
    seed(&db).await;
    let query = Entry::select().order_by(Entry::SCORE.asc());
    let page = query.keyset_page(&db, &key(), None, 5).await.unwrap();
    let cursor = page.next_cursor.unwrap();
    let is_cursor_error = |e: &Error| matches!(e, Error::InvalidValue { column, .. } if column == "cursor");

    // Any altered character, a truncation, garbage, or another key: refused.
    let (payload, tag) = cursor.split_once('.').unwrap();
    let mut altered_payload = payload.to_string();
    let last = altered_payload.pop().unwrap();
    altered_payload.push(if last == 'A' { 'B' } else { 'A' });
    for bad in [
        format!("{altered_payload}.{tag}"),
        format!("{payload}.{}", &tag[1..]),
        cursor[..cursor.len() - 2].to_string(),
        "not a cursor".to_string(),
        String::new(),
    ] {
        let err = query.keyset_page(&db, &key(), Some(&bad), 5).await.unwrap_err();
        assert!(is_cursor_error(&err), "{bad:?}: {err:?}");
    }
    let other_key = CursorKey::new("another secret, also long enough").unwrap();
    let err = query.keyset_page(&db, &other_key, Some(&cursor), 5).await.unwrap_err();
    assert!(is_cursor_error(&err), "{err:?}");

    // A genuine cursor of another ordering is refused too.
    let err = Entry::select().order_by(Entry::SCORE.desc()).keyset_page(&db, &key(), Some(&cursor), 5).await.unwrap_err();
    assert!(is_cursor_error(&err), "{err:?}");

    // Order keys a cursor cannot carry are named.
    let err = Entry::select().order_by(Entry::NOTE.asc()).keyset_page(&db, &key(), None, 5).await.unwrap_err();
    assert!(matches!(&err, Error::Unsupported(m) if m.contains("note")), "{err:?}");
    let err = query.keyset_page(&db, &key(), None, 0).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidValue { column, .. } if column == "page_size"), "{err:?}");
    assert!(CursorKey::new("short").is_err());
}

/// How many statements the session has prepared (PostgreSQL: held now; MariaDB: ever).
async fn prepared_statements(db: &Database, b: Backend) -> i64 {
    let sql = match b {
        Backend::Postgres => "SELECT count(*)::text AS n FROM pg_prepared_statements",
        Backend::MariaDb => "SELECT VARIABLE_VALUE AS n FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'COM_STMT_PREPARE'",
        Backend::Sqlite => unreachable!("SQLite statements are counted by almacen's own cache"),
    };
    db.fetch_one_raw(sql, params! {}).await.unwrap().get::<String>("n").unwrap().parse().unwrap()
}

/// Every page of one query is one statement text, whatever its offset (and, on the servers,
/// its size), so the statement caches hold one statement for a list endpoint however many
/// pages clients ask for; the pages still hold the right rows. On a pool of one connection,
/// 53 more offsets (past the rows: empty pages) leave the server's count of prepared
/// statements where it was.
async fn pages_share_one_statement(db: Database, b: Backend) {
    let all = seed(&db).await;
    let page = |size: u64, offset: u64| Entry::select().order_by(Entry::ID.asc()).limit(size).offset(offset);
    let d = db.dialect();
    assert_eq!(page(5, 0).debug_sql(d), page(5, 40).debug_sql(d));
    assert_eq!(page(5, 0).debug_sql(d), page(5, 10_000_000).debug_sql(d));
    // SQLite keeps the limit a literal (a bound LIMIT is re-prepared on every new value).
    assert_eq!(page(5, 0).debug_sql(d) == page(7, 0).debug_sql(d), b != Backend::Sqlite, "{}", page(5, 0).debug_sql(d));
    // An offset without a limit is bound as well.
    let rest = |offset: u64| Entry::select().order_by(Entry::ID.asc()).offset(offset);
    assert_eq!(rest(1).debug_sql(d), rest(50).debug_sql(d));
    assert_eq!(ids(&rest(50).fetch_all(&db).await.unwrap()), ids(&all[50..]));

    let run = async |from: u64| {
        for offset in from..from + 53 {
            let got = page(5, offset).fetch_all(&db).await.unwrap();
            let start = (offset as usize).min(all.len());
            assert_eq!(ids(&got), ids(&all[start..(start + 5).min(all.len())]), "offset {offset}");
        }
    };
    if b == Backend::Sqlite {
        run(0).await;
        return;
    }
    run(0).await;
    let before = prepared_statements(&db, b).await;
    run(53).await;
    let after = prepared_statements(&db, b).await;
    // MariaDB counts the count query's own prepare; PostgreSQL holds it once.
    assert!(after - before <= 1, "{b:?}: {before} prepared statements before 53 new offsets, {after} after");
}

per_backend!(numbered_pages, keyset_pages, keyset_cursors_are_tamper_evident);
per_backend_with!(pages_share_one_statement => "max_connections=1");
