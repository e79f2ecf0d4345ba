//! Counts of typed queries (`Select::count`, a page's total) always answer for the data as
//! committed when they ran. On SQLite a reader keeps a count's row while nothing is
//! committed and hands it again (`engine/sqlite/memo.rs`); these tests write between
//! counts in every way a kept row could go stale: the same pool, concurrent writers, another
//! pool, another connection outside almacen, a rollback journal, a table dropped and
//! created again. The per-backend tests run on SQLite, PostgreSQL and MariaDB.

mod common;

use almacen::prelude::*;
use common::Backend;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "tallies")]
struct Tally {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 20)]
    kind: String,
    score: f64,
}

fn new(kind: &str, score: f64) -> NewTally {
    NewTally { kind: kind.into(), score }
}

/// Count twice (the second may be a kept row): both must be `expected`.
async fn assert_count(db: &impl Executor, query: &Select<Tally>, expected: u64, when: &str) {
    for attempt in 0..2 {
        assert_eq!(query.count(db).await.unwrap(), expected, "{when} (count {attempt})");
    }
}

async fn counts_follow_every_commit(db: Database, _b: Backend) {
    db.create_tables(&[Tally::TABLE]).await.unwrap();
    let all = Tally::select();
    let a = Tally::select().filter(Tally::KIND.eq("a"));
    let b = Tally::select().filter(Tally::KIND.eq("b"));
    assert_count(&db, &all, 0, "empty").await;
    for i in 1..=12u64 {
        Tally::insert(&db, new(if i % 3 == 0 { "b" } else { "a" }, i as f64)).await.unwrap();
        assert_count(&db, &all, i, &format!("after insert {i}")).await;
        assert_count(&db, &b, i / 3, &format!("kind b after insert {i}")).await;
    }
    assert_count(&db, &a, 8, "kind a").await;
    // An update that moves rows between the filters, not changing the row count.
    let moved = db.execute_raw("UPDATE tallies SET kind = 'a' WHERE kind = 'b'", params! {}).await.unwrap();
    assert_eq!(moved, 4);
    assert_count(&db, &a, 12, "kind a after the update").await;
    assert_count(&db, &b, 0, "kind b after the update").await;
    // Values that differ only in ways a careless key would merge.
    let zero = Tally::select().filter(Tally::SCORE.ge(0.0));
    let negative_zero = Tally::select().filter(Tally::SCORE.ge(-0.0));
    let above = Tally::select().filter(Tally::SCORE.gt(6.0));
    assert_count(&db, &zero, 12, "score >= 0.0").await;
    assert_count(&db, &negative_zero, 12, "score >= -0.0").await;
    assert_count(&db, &above, 6, "score > 6").await;
    for row in Tally::select().filter(Tally::SCORE.gt(10.0)).fetch_all(&db).await.unwrap() {
        assert!(row.delete(&db).await.unwrap());
    }
    assert_count(&db, &above, 4, "score > 6 after the delete").await;
    assert_count(&db, &all, 10, "after the delete").await;
    // Raw SQL writes count as commits too.
    db.execute_raw("DELETE FROM tallies WHERE score < 3", params! {}).await.unwrap();
    assert_count(&db, &all, 8, "after the raw delete").await;
    let page = all.paginate(&db, 1, 5).await.unwrap();
    assert_eq!((page.total, page.items.len()), (8, 5));
}

/// Writers and counters at once: a count never misses a row whose insert had returned
/// before the count began, and never sees more rows than were sent.
async fn counts_under_concurrent_writers(db: Database, _b: Backend) {
    db.create_tables(&[Tally::TABLE]).await.unwrap();
    const WRITERS: u64 = 3;
    const ROWS: u64 = 40;
    let confirmed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (db, confirmed) = (db.clone(), confirmed.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..ROWS {
                Tally::insert(&db, new("w", (w * ROWS + i) as f64)).await.unwrap();
                confirmed.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut counters = Vec::new();
    for _ in 0..3 {
        let (db, confirmed) = (db.clone(), confirmed.clone());
        counters.push(tokio::spawn(async move {
            let query = Tally::select().filter(Tally::KIND.eq("w"));
            let mut checks = 0;
            loop {
                let before = confirmed.load(Ordering::SeqCst);
                let n = query.count(&db).await.unwrap();
                assert!(n >= before, "a count of {n} after {before} inserts had returned");
                assert!(n <= WRITERS * ROWS, "a count of {n} with {} rows sent", WRITERS * ROWS);
                checks += 1;
                // (SQLite runs short statements in place, without yielding: let the writers in.)
                tokio::task::yield_now().await;
                if before == WRITERS * ROWS {
                    assert_eq!(n, WRITERS * ROWS);
                    return checks;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for c in counters {
        assert!(c.await.unwrap() > 0);
    }
    assert_count(&db, &Tally::select(), WRITERS * ROWS, "at the end").await;
}

/// Inside a transaction a count sees the transaction's own writes; outside it, only what
/// is committed, and the commit is seen at once.
async fn counts_in_and_around_a_transaction(db: Database, _b: Backend) {
    db.create_tables(&[Tally::TABLE]).await.unwrap();
    let all = Tally::select();
    Tally::insert(&db, new("a", 1.0)).await.unwrap();
    assert_count(&db, &all, 1, "before").await;
    let tx = db.begin().await.unwrap();
    Tally::insert(&tx, new("a", 2.0)).await.unwrap();
    assert_count(&tx, &all, 2, "inside, after its insert").await;
    assert_count(&db, &all, 1, "outside, before the commit").await;
    tx.commit().await.unwrap();
    assert_count(&db, &all, 2, "after the commit").await;
    let tx = db.begin().await.unwrap();
    Tally::insert(&tx, new("a", 3.0)).await.unwrap();
    tx.rollback().await.unwrap();
    assert_count(&db, &all, 2, "after a rollback").await;
}

per_backend!(counts_follow_every_commit, counts_under_concurrent_writers, counts_in_and_around_a_transaction);

/// SQLite only: writers the pool does not know of.
#[cfg(feature = "sqlite")]
mod sqlite_outside_writers {
    use super::*;
    use std::path::PathBuf;

    struct TempDb(PathBuf);

    impl TempDb {
        fn new() -> TempDb {
            TempDb(std::env::temp_dir().join(format!("almacen_counts_{}.db", uuid::Uuid::new_v4().simple())))
        }
        fn url(&self, params: &str) -> String {
            format!("sqlite://{}?{params}", self.0.display())
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
            }
        }
    }

    /// Count on every reader of the pool: as many counts at once as there are readers, so
    /// each reader's kept row is asked for.
    async fn count_everywhere(db: &Database, query: &Select<Tally>, expected: u64, when: &str) {
        for round in 0..2 {
            let counts = futures::future::join_all((0..8).map(|_| query.count(db))).await;
            for n in counts {
                assert_eq!(n.unwrap(), expected, "{when} (round {round})");
            }
        }
    }

    /// Another pool, a plain rusqlite connection (what another process does to the file)
    /// and a table dropped and created again: each is seen by the next count, in WAL mode
    /// and under a rollback journal.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commits_from_outside_the_pool_are_counted() {
        for journal in ["journal_mode=wal", "journal_mode=delete"] {
            let file = TempDb::new();
            let db = Database::connect(&file.url(journal)).await.unwrap();
            db.create_tables(&[Tally::TABLE]).await.unwrap();
            let all = Tally::select();
            count_everywhere(&db, &all, 0, journal).await;

            let other = Database::connect(&file.url(journal)).await.unwrap();
            Tally::insert(&other, new("a", 1.0)).await.unwrap();
            count_everywhere(&db, &all, 1, &format!("{journal}: after another pool's insert")).await;

            let raw = rusqlite::Connection::open(&file.0).unwrap();
            raw.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
            raw.execute("INSERT INTO tallies (kind, score) VALUES ('a', 2.0), ('b', 3.0)", []).unwrap();
            count_everywhere(&db, &all, 3, &format!("{journal}: after a plain connection's insert")).await;
            count_everywhere(&db, &Tally::select().filter(Tally::KIND.eq("b")), 1, &format!("{journal}: kind b")).await;

            raw.execute("UPDATE tallies SET kind = 'b'", []).unwrap();
            count_everywhere(&db, &Tally::select().filter(Tally::KIND.eq("b")), 3, &format!("{journal}: after an update")).await;

            raw.execute_batch(
                "DROP TABLE tallies; CREATE TABLE tallies (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, score REAL NOT NULL); \
                 INSERT INTO tallies (kind, score) VALUES ('b', 9.0);",
            )
            .unwrap();
            count_everywhere(&db, &all, 1, &format!("{journal}: after the table was made again")).await;
            drop(raw);
            other.close().await;
            db.close().await;
        }
    }
}
