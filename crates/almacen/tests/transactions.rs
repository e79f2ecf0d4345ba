//! Transactions on every backend: closure-scoped commit and rollback (on `Err`, panic,
//! cancellation and drop), manual begin/commit/rollback, nested savepoints, isolation
//! levels, read-only transactions, constraint errors inside transactions and the retry
//! helper under concurrent conflicting transfers.

mod common;

use almacen::prelude::*;
use almacen::{Statement, Transaction};
use common::Backend;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A tiny table: `id` is given explicitly, `name` is unique.
async fn setup(db: &Database) {
    db.execute_raw(
        "CREATE TABLE acct (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL UNIQUE, balance INTEGER NOT NULL)",
        params! {},
    )
    .await
    .unwrap();
}

async fn insert(ex: &impl Executor, id: i64, name: &str) -> almacen::Result<u64> {
    insert_with_balance(ex, id, name, 0).await
}

async fn insert_with_balance(ex: &impl Executor, id: i64, name: &str, balance: i64) -> almacen::Result<u64> {
    ex.execute_raw(
        "INSERT INTO acct (id, name, balance) VALUES (:id, :name, :balance)",
        params! { "id" => id, "name" => name, "balance" => balance },
    )
    .await
}

/// The names in the table, by id.
async fn names(ex: &impl Executor) -> Vec<String> {
    try_names(ex).await.unwrap()
}

async fn try_names(ex: &impl Executor) -> almacen::Result<Vec<String>> {
    let rows = ex.fetch_all_raw("SELECT name FROM acct ORDER BY id", params! {}).await?;
    let mut names = Vec::with_capacity(rows.len());
    for row in &rows {
        names.push(row.get::<String>("name")?);
    }
    Ok(names)
}

async fn count(ex: &impl Executor) -> almacen::Result<i64> {
    ex.fetch_one_raw("SELECT COUNT(*) AS n FROM acct", params! {}).await?.get::<i64>("n")
}

async fn balance(ex: &impl Executor, id: i64) -> almacen::Result<i64> {
    ex.fetch_one_raw("SELECT balance FROM acct WHERE id = :id", params! { "id" => id }).await?.get::<i64>("balance")
}

/// After a rollback the row's key must be free again at once: no lock (PostgreSQL,
/// MariaDB) or write lock (SQLite) of the rolled-back transaction may linger.
async fn key_is_free(db: &Database, id: i64, name: &str) {
    let started = Instant::now();
    match tokio::time::timeout(Duration::from_secs(10), insert(db, id, name)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!("inserting id {id} after the rollback failed after {:?}: {e}", started.elapsed()),
        Err(_) => panic!("inserting id {id} blocked for 10 s: the rolled-back transaction still holds its locks"),
    }
    db.execute_raw("DELETE FROM acct WHERE id = :id", params! { "id" => id }).await.unwrap();
}

fn boom() -> Error {
    Error::other("boom")
}

// ---------------------------------------------------------------------------------------
// Closure transactions
// ---------------------------------------------------------------------------------------

async fn closure_commits_on_ok(db: Database, _b: Backend) {
    setup(&db).await;
    let v = db
        .transaction(async |tx| -> almacen::Result<_> {
            insert(tx, 1, "a").await?;
            insert(tx, 2, "b").await?;
            // The transaction sees its own writes.
            assert_eq!(count(tx).await?, 2);
            Ok(42)
        })
        .await
        .unwrap();
    assert_eq!(v, 42);
    assert_eq!(names(&db).await, ["a", "b"]);
}

async fn closure_rolls_back_on_err(db: Database, _b: Backend) {
    setup(&db).await;
    insert(&db, 1, "before").await.unwrap();
    let res: almacen::Result<()> = db
        .transaction(async |tx| {
            insert(tx, 2, "doomed").await?;
            tx.execute_raw("UPDATE acct SET name = 'changed' WHERE id = 1", params! {}).await?;
            Err(boom())
        })
        .await;
    match res {
        Err(Error::Other(e)) => assert_eq!(e.to_string(), "boom"),
        other => panic!("expected the closure's own error back, got {other:?}"),
    }
    assert_eq!(names(&db).await, ["before"]);
    key_is_free(&db, 2, "doomed").await;
}

async fn closure_rolls_back_on_panic(db: Database, _b: Backend) {
    setup(&db).await;
    let db2 = db.clone();
    let handle = tokio::spawn(async move {
        db2.transaction(async |tx| -> almacen::Result<_> {
            insert(tx, 1, "doomed").await?;
            if count(tx).await? == 1 {
                panic!("deliberate panic inside a transaction");
            }
            Ok(())
        })
        .await
    });
    let err = handle.await.expect_err("the task must panic");
    assert!(err.is_panic(), "expected a panic, got {err:?}");
    assert!(names(&db).await.is_empty(), "the panicking transaction's row is visible");
    key_is_free(&db, 1, "doomed").await;
    assert!(names(&db).await.is_empty());
}

async fn closure_rolls_back_when_cancelled(db: Database, _b: Backend) {
    setup(&db).await;
    // Cancelled while the closure waits between statements.
    let res = tokio::time::timeout(
        Duration::from_millis(300),
        db.transaction(async |tx| -> almacen::Result<_> {
            insert(tx, 1, "cancelled").await?;
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        }),
    )
    .await;
    assert!(res.is_err(), "the transaction should have been cancelled");
    assert!(names(&db).await.is_empty());
    key_is_free(&db, 1, "cancelled").await;
    // The pool still works normally afterwards.
    db.transaction(async |tx| -> almacen::Result<_> {
        insert(tx, 3, "after").await?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(names(&db).await, ["after"]);
}

/// Cancelled while a statement of the transaction is running on the server.
async fn closure_rolls_back_when_cancelled_mid_statement(db: Database, backend: Backend) {
    setup(&db).await;
    let slow = match backend {
        Backend::Postgres => "SELECT pg_sleep(1) IS NULL AS done",
        Backend::MariaDb => "SELECT SLEEP(1) AS done",
        // Finite but slow: a cancelled SQLite statement runs to its end in the worker.
        Backend::Sqlite => "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 3000000) SELECT count(*) AS done FROM c",
    };
    let res = tokio::time::timeout(
        Duration::from_millis(200),
        db.transaction(async |tx| -> almacen::Result<_> {
            insert(tx, 1, "cancelled").await?;
            tx.fetch_all_raw(slow, params! {}).await?;
            Ok(())
        }),
    )
    .await;
    assert!(res.is_err(), "the transaction should have been cancelled");
    assert!(names(&db).await.is_empty());
    key_is_free(&db, 1, "cancelled").await;
    assert_eq!(db.fetch_one_raw("SELECT 1 AS one", params! {}).await.unwrap().get::<i64>("one").unwrap(), 1);
}

async fn dropped_transaction_rolls_back(db: Database, _b: Backend) {
    setup(&db).await;
    let tx = db.begin().await.unwrap();
    insert(&tx, 1, "dropped").await.unwrap();
    assert_eq!(names(&tx).await, ["dropped"]);
    drop(tx);
    // The rollback runs when the connection goes back to the pool; a new query must not
    // see the row, and the key must not stay locked.
    assert!(names(&db).await.is_empty());
    key_is_free(&db, 1, "dropped").await;
    assert!(names(&db).await.is_empty());
}

// ---------------------------------------------------------------------------------------
// Manual transactions
// ---------------------------------------------------------------------------------------

async fn manual_begin_commit_rollback(db: Database, _b: Backend) {
    setup(&db).await;
    let tx = db.begin().await.unwrap();
    assert!(!tx.is_savepoint());
    insert(&tx, 1, "committed").await.unwrap();
    assert_eq!(names(&tx).await, ["committed"]);
    // Not visible from other connections before the commit.
    assert!(names(&db).await.is_empty());
    tx.commit().await.unwrap();
    assert_eq!(names(&db).await, ["committed"]);

    let tx = db.begin().await.unwrap();
    insert(&tx, 2, "rolled back").await.unwrap();
    tx.execute_raw("DELETE FROM acct WHERE id = 1", params! {}).await.unwrap();
    assert_eq!(names(&tx).await, ["rolled back"]);
    tx.rollback().await.unwrap();
    assert_eq!(names(&db).await, ["committed"]);
    key_is_free(&db, 2, "rolled back").await;

    // The transaction's handle on its database.
    let tx = db.begin().await.unwrap();
    assert_eq!(tx.database().dialect(), db.dialect());
    tx.commit().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Savepoints
// ---------------------------------------------------------------------------------------

async fn nested_savepoint_err_rolls_back_only_inner(db: Database, _b: Backend) {
    setup(&db).await;
    db.transaction(async |tx| -> almacen::Result<_> {
        insert(tx, 1, "outer").await?;
        let inner: almacen::Result<()> = tx
            .transaction(async |sp| {
                assert!(sp.is_savepoint());
                insert(sp, 2, "inner").await?;
                assert_eq!(count(sp).await?, 2);
                Err(boom())
            })
            .await;
        assert!(matches!(inner, Err(Error::Other(_))), "{inner:?}");
        // Only the inner work is gone; the outer transaction goes on.
        assert_eq!(names(tx).await, ["outer"]);
        let kept = tx
            .transaction(async |sp| {
                insert(sp, 3, "inner ok").await?;
                Ok(7)
            })
            .await?;
        assert_eq!(kept, 7);
        insert(tx, 4, "outer again").await?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(names(&db).await, ["outer", "inner ok", "outer again"]);

    // An outer rollback undoes released savepoints too.
    let res: almacen::Result<()> = db
        .transaction(async |tx| {
            tx.transaction(async |sp| {
                insert(sp, 5, "released").await?;
                Ok(())
            })
            .await?;
            Err(boom())
        })
        .await;
    assert!(res.is_err());
    assert_eq!(names(&db).await, ["outer", "inner ok", "outer again"]);
}

async fn three_levels_of_savepoints(db: Database, _b: Backend) {
    setup(&db).await;
    db.transaction(async |l1| -> almacen::Result<_> {
        insert(l1, 1, "l1").await?;
        l1.transaction(async |l2| {
            insert(l2, 2, "l2").await?;
            let r: almacen::Result<()> = l2
                .transaction(async |l3| {
                    insert(l3, 3, "l3 failed").await?;
                    Err(boom())
                })
                .await;
            assert!(r.is_err());
            l2.transaction(async |l3| {
                insert(l3, 4, "l3 ok").await?;
                Ok(())
            })
            .await?;
            assert_eq!(names(l2).await, ["l1", "l2", "l3 ok"]);
            Ok(())
        })
        .await?;
        // A level-2 failure takes its released level-3 work with it.
        let r: almacen::Result<()> = l1
            .transaction(async |l2| {
                insert(l2, 5, "l2 failed").await?;
                l2.transaction(async |l3| {
                    insert(l3, 6, "l3 under failed l2").await?;
                    Ok(())
                })
                .await?;
                Err(boom())
            })
            .await;
        assert!(r.is_err());
        assert_eq!(names(l1).await, ["l1", "l2", "l3 ok"]);
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(names(&db).await, ["l1", "l2", "l3 ok"]);
}

async fn manual_savepoints(db: Database, _b: Backend) {
    setup(&db).await;
    let tx = db.begin().await.unwrap();
    insert(&tx, 1, "base").await.unwrap();

    let sp = tx.savepoint().await.unwrap();
    assert!(sp.is_savepoint());
    insert(&sp, 2, "rolled back").await.unwrap();
    assert_eq!(count(&tx).await.unwrap(), 2);
    sp.rollback().await.unwrap();
    assert_eq!(names(&tx).await, ["base"]);

    let sp = tx.savepoint().await.unwrap();
    insert(&sp, 3, "released").await.unwrap();
    sp.commit().await.unwrap();
    assert_eq!(names(&tx).await, ["base", "released"]);

    // Dropped unfinished: rolled back before the transaction's next statement.
    let sp = tx.savepoint().await.unwrap();
    insert(&sp, 4, "dropped").await.unwrap();
    drop(sp);
    assert_eq!(names(&tx).await, ["base", "released"]);

    // Savepoints inside savepoints: the outer one's rollback takes the released inner one.
    let sp1 = tx.savepoint().await.unwrap();
    insert(&sp1, 5, "sp1").await.unwrap();
    let sp2 = sp1.savepoint().await.unwrap();
    insert(&sp2, 6, "sp2").await.unwrap();
    sp2.commit().await.unwrap();
    assert_eq!(count(&sp1).await.unwrap(), 4);
    sp1.rollback().await.unwrap();
    assert_eq!(names(&tx).await, ["base", "released"]);

    tx.commit().await.unwrap();
    assert_eq!(names(&db).await, ["base", "released"]);
}

/// A savepoint dropped unfinished, followed directly by the enclosing transaction's commit
/// (no statement in between): its work must not be committed.
async fn dropped_savepoint_not_committed(db: Database, _b: Backend) {
    setup(&db).await;
    let tx = db.begin().await.unwrap();
    insert(&tx, 1, "base").await.unwrap();
    let sp = tx.savepoint().await.unwrap();
    insert(&sp, 2, "dropped savepoint").await.unwrap();
    drop(sp);
    tx.commit().await.unwrap();
    assert_eq!(names(&db).await, ["base"], "the dropped savepoint's work was committed");
}

/// The same through the closure API: a nested savepoint cancelled by a timeout, then the
/// enclosing closure returns `Ok` at once.
async fn cancelled_savepoint_not_committed(db: Database, _b: Backend) {
    setup(&db).await;
    insert(&db, 1, "base").await.unwrap();
    db.transaction(async |tx| -> almacen::Result<_> {
        let r = tokio::time::timeout(
            Duration::from_millis(100),
            tx.transaction(async |sp| -> almacen::Result<_> {
                insert(sp, 3, "cancelled savepoint").await?;
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(())
            }),
        )
        .await;
        assert!(r.is_err(), "the savepoint should have been cancelled");
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(names(&db).await, ["base"], "the cancelled savepoint's work was committed");
}

// ---------------------------------------------------------------------------------------
// Isolation levels and read-only transactions
// ---------------------------------------------------------------------------------------

const LEVELS: [IsolationLevel; 4] =
    [IsolationLevel::ReadUncommitted, IsolationLevel::ReadCommitted, IsolationLevel::RepeatableRead, IsolationLevel::Serializable];

async fn every_isolation_level_runs(db: Database, backend: Backend) {
    setup(&db).await;
    insert(&db, 1, "a").await.unwrap();
    for (i, level) in LEVELS.into_iter().enumerate() {
        let id = 10 + i as i64;
        let (n, reported) = db
            .transaction_with(TxOptions::new().isolation(level), async |tx| -> almacen::Result<_> {
                let n = count(tx).await?;
                insert(tx, id, &format!("{level:?}")).await?;
                let reported = match backend {
                    Backend::Postgres => Some(
                        tx.fetch_one_raw("SELECT current_setting('transaction_isolation') AS iso", params! {})
                            .await?
                            .get::<String>("iso")?,
                    ),
                    // MariaDB 10.11: @@tx_isolation shows the session level, not the level a
                    // `SET TRANSACTION ISOLATION LEVEL` gave the current transaction (and
                    // @@transaction_isolation does not exist before 11.1), so the level is
                    // checked by behaviour in `isolation_levels_behave`.
                    Backend::MariaDb | Backend::Sqlite => None,
                };
                Ok((n, reported))
            })
            .await
            .unwrap_or_else(|e| panic!("{level:?}: {e}"));
        assert_eq!(n, 1 + i as i64, "{level:?}");
        if let Some(reported) = reported {
            let want = match level {
                IsolationLevel::ReadUncommitted => "read uncommitted",
                IsolationLevel::ReadCommitted => "read committed",
                IsolationLevel::RepeatableRead => "repeatable read",
                IsolationLevel::Serializable => "serializable",
            };
            assert_eq!(reported, want);
        }
    }
    assert_eq!(count(&db).await.unwrap(), 5);

    // The level applies to one transaction only: the next default one is back to normal.
    if backend == Backend::Postgres {
        let iso = db
            .transaction(async |tx| {
                tx.fetch_one_raw("SELECT current_setting('transaction_isolation') AS iso", params! {}).await?.get::<String>("iso")
            })
            .await
            .unwrap();
        assert_eq!(iso, "read committed");
    }
}

/// The isolation levels do what they say (PostgreSQL and MariaDB; SQLite is always
/// serializable, see `sqlite_write_transactions_take_the_write_lock`).
async fn isolation_levels_behave(db: Database, backend: Backend) {
    if backend == Backend::Sqlite {
        return;
    }
    setup(&db).await;
    insert(&db, 1, "a").await.unwrap();

    // READ COMMITTED sees rows committed meanwhile; REPEATABLE READ keeps its snapshot.
    for (level, id, sees_new_row) in [(IsolationLevel::ReadCommitted, 2, true), (IsolationLevel::RepeatableRead, 3, false)] {
        let (before, after) = db
            .transaction_with(TxOptions::new().isolation(level), async |tx| -> almacen::Result<_> {
                let before = count(tx).await?;
                insert(&db, id, &format!("committed during {level:?}")).await?;
                let after = count(tx).await?;
                Ok((before, after))
            })
            .await
            .unwrap();
        assert_eq!(after - before, sees_new_row as i64, "{level:?} on {backend:?}: before {before}, after {after}");
    }

    // READ UNCOMMITTED: MariaDB reads dirty rows, PostgreSQL treats it as READ COMMITTED.
    let other = db.begin().await.unwrap();
    insert(&other, 99, "uncommitted").await.unwrap();
    let seen = db.transaction_with(TxOptions::new().isolation(IsolationLevel::ReadUncommitted), async |tx| count(tx).await).await.unwrap();
    other.rollback().await.unwrap();
    let committed = count(&db).await.unwrap();
    match backend {
        Backend::MariaDb => assert_eq!(seen, committed + 1, "READ UNCOMMITTED did not see the dirty row"),
        _ => assert_eq!(seen, committed),
    }

    // SERIALIZABLE on MariaDB turns plain reads into locking reads: a concurrent write to a
    // row it read must wait. Under REPEATABLE READ it does not.
    if backend == Backend::MariaDb {
        for (level, blocks) in [(IsolationLevel::Serializable, true), (IsolationLevel::RepeatableRead, false)] {
            let outcome = db
                .transaction_with(TxOptions::new().isolation(level), async |tx| -> almacen::Result<_> {
                    balance(tx, 1).await?;
                    let stmt = Statement::new("UPDATE acct SET balance = balance + 1 WHERE id = 1", Vec::new())
                        .with_timeout(Some(Duration::from_millis(500)));
                    Ok(db.execute_statement(stmt).await)
                })
                .await
                .unwrap();
            if blocks {
                assert!(
                    matches!(outcome, Err(Error::StatementTimeout(_)) | Err(Error::LockNotAvailable(_))),
                    "{level:?}: a concurrent write to a row read should block, got {outcome:?}"
                );
            } else {
                assert!(outcome.is_ok(), "{level:?}: a concurrent write should not block, got {outcome:?}");
            }
        }
    }
}

/// SQLite: every transaction that may write starts with BEGIN IMMEDIATE (takes the write
/// lock at once, whatever isolation level was asked for); a read-only one takes no lock.
async fn sqlite_write_transactions_take_the_write_lock(db: Database, backend: Backend) {
    if backend != Backend::Sqlite {
        return;
    }
    setup(&db).await;
    let checker = Database::connect(&format!("{}?max_connections=1", db.options().driver_url())).await.unwrap();
    checker.execute_raw("PRAGMA busy_timeout = 100", params! {}).await.unwrap();

    for (i, opts) in
        [TxOptions::serializable(), TxOptions::new(), TxOptions::new().isolation(IsolationLevel::ReadCommitted)].into_iter().enumerate()
    {
        let tx = db.begin_with(opts).await.unwrap();
        let blocked = insert(&checker, 10 + i as i64, "blocked").await;
        assert!(matches!(blocked, Err(Error::Deadlock(_))), "{opts:?}: a write from elsewhere should be locked out, got {blocked:?}");
        tx.commit().await.unwrap();
    }

    let tx = db.begin_with(TxOptions::new().read_only(true)).await.unwrap();
    assert_eq!(count(&tx).await.unwrap(), 0);
    insert(&checker, 2, "not blocked").await.expect("a read-only transaction takes no write lock");
    // It keeps its snapshot: the row committed meanwhile is not seen.
    assert_eq!(count(&tx).await.unwrap(), 0);
    tx.commit().await.unwrap();
    checker.close().await;
    assert_eq!(names(&db).await, ["not blocked"]);
}

async fn read_only_transactions(db: Database, backend: Backend) {
    setup(&db).await;
    insert(&db, 1, "a").await.unwrap();
    // Reads work.
    let n = db.transaction_with(TxOptions::new().read_only(true), async |tx| count(tx).await).await.unwrap();
    assert_eq!(n, 1);
    // Writes are refused.
    for opts in [TxOptions::new().read_only(true), TxOptions::serializable().read_only(true)] {
        let res = db
            .transaction_with(opts, async |tx| -> almacen::Result<_> {
                insert(tx, 2, "written").await?;
                Ok(())
            })
            .await;
        let e = res.expect_err("a write in a read-only transaction must fail");
        // PostgreSQL: SQLSTATE 25006; MariaDB: ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION;
        // SQLite: SQLITE_READONLY.
        let want = match backend {
            Backend::Postgres => "25006",
            Backend::MariaDb => "1792",
            Backend::Sqlite => "8",
        };
        let code = e.db_info().and_then(|i| i.code.clone());
        assert_eq!(code.as_deref(), Some(want), "{opts:?}: {e:?}");
    }
    assert_eq!(names(&db).await, ["a"]);
    if backend == Backend::Postgres {
        let (ro, iso) = db
            .transaction_with(TxOptions::serializable().read_only(true), async |tx| -> almacen::Result<_> {
                let r = tx
                    .fetch_one_raw(
                        "SELECT current_setting('transaction_read_only') AS ro, current_setting('transaction_isolation') AS iso",
                        params! {},
                    )
                    .await?;
                Ok((r.get::<String>("ro")?, r.get::<String>("iso")?))
            })
            .await
            .unwrap();
        assert_eq!((ro.as_str(), iso.as_str()), ("on", "serializable"));
    }
    // The next transaction on the pool can write again.
    db.transaction(async |tx| -> almacen::Result<_> {
        insert(tx, 3, "b").await?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(names(&db).await, ["a", "b"]);
}

// ---------------------------------------------------------------------------------------
// Errors inside transactions
// ---------------------------------------------------------------------------------------

async fn unique_violation_rolls_back_everything(db: Database, _b: Backend) {
    setup(&db).await;
    insert(&db, 1, "taken").await.unwrap();
    let res: almacen::Result<()> = db
        .transaction(async |tx| {
            insert(tx, 2, "first").await?;
            insert(tx, 3, "second").await?;
            insert(tx, 4, "taken").await?;
            insert(tx, 5, "never").await?;
            Ok(())
        })
        .await;
    match &res {
        Err(Error::UniqueViolation(info)) => assert!(!info.message.is_empty()),
        other => panic!("expected UniqueViolation, got {other:?}"),
    }
    assert!(!res.unwrap_err().is_retryable());
    assert_eq!(names(&db).await, ["taken"]);
    key_is_free(&db, 2, "first").await;

    // Caught in a savepoint, the violation leaves the enclosing transaction usable (needed on
    // PostgreSQL, whose transactions are aborted by any error otherwise).
    db.transaction(async |tx| -> almacen::Result<_> {
        insert(tx, 6, "kept").await?;
        let dup = tx
            .transaction(async |sp| {
                insert(sp, 7, "inner").await?;
                insert(sp, 8, "taken").await
            })
            .await;
        assert!(matches!(dup, Err(Error::UniqueViolation(_))), "{dup:?}");
        insert(tx, 9, "after").await?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(names(&db).await, ["taken", "kept", "after"]);
}

// ---------------------------------------------------------------------------------------
// Conflicts and the retry helper
// ---------------------------------------------------------------------------------------

/// Two serializable transactions that read and write the same row: the second writer gets a
/// conflict error the retry helper recognises (PostgreSQL: serialization failure, MariaDB:
/// deadlock). SQLite's BEGIN IMMEDIATE serializes writers, so no conflict there.
async fn serialization_conflict_is_classified(db: Database, backend: Backend) {
    if backend == Backend::Sqlite {
        return;
    }
    setup(&db).await;
    insert_with_balance(&db, 1, "acct", 100).await.unwrap();
    let t1 = db.begin_with(TxOptions::serializable()).await.unwrap();
    let t2 = db.begin_with(TxOptions::serializable()).await.unwrap();
    let b1 = balance(&t1, 1).await.unwrap();
    let b2 = balance(&t2, 1).await.unwrap();
    let update = "UPDATE acct SET balance = :b WHERE id = 1";
    match backend {
        Backend::Postgres => {
            t1.execute_raw(update, params! { "b" => b1 + 1 }).await.unwrap();
            t1.commit().await.unwrap();
            let e = t2.execute_raw(update, params! { "b" => b2 + 1 }).await.expect_err("t2 must conflict");
            assert!(matches!(e, Error::SerializationFailure(_)), "{e:?}");
            assert!(e.is_transaction_conflict() && e.is_retryable());
            t2.rollback().await.unwrap();
        }
        Backend::MariaDb => {
            // Both hold shared locks on the row: whichever writes second is a deadlock victim.
            let first = tokio::spawn(async move {
                let r = t1.execute_raw(update, params! { "b" => b1 + 1 }).await;
                match r {
                    Ok(_) => t1.commit().await.map(|_| ()),
                    Err(e) => {
                        let _ = t1.rollback().await;
                        Err(e)
                    }
                }
            });
            tokio::time::sleep(Duration::from_millis(300)).await;
            let second = match t2.execute_raw(update, params! { "b" => b2 + 1 }).await {
                Ok(_) => t2.commit().await.map(|_| ()),
                Err(e) => {
                    let _ = t2.rollback().await;
                    Err(e)
                }
            };
            let first = first.await.unwrap();
            let errors: Vec<&Error> = [&first, &second].into_iter().filter_map(|r| r.as_ref().err()).collect();
            assert_eq!(errors.len(), 1, "exactly one writer should lose: {first:?} / {second:?}");
            assert!(matches!(errors[0], Error::Deadlock(_)), "{:?}", errors[0]);
            assert!(errors[0].is_transaction_conflict());
        }
        Backend::Sqlite => unreachable!(),
    }
    assert_eq!(balance(&db, 1).await.unwrap(), 101);
}

async fn concurrent_transfers_with_retry(db: Database, backend: Backend) {
    setup(&db).await;
    insert_with_balance(&db, 1, "alice", 1000).await.unwrap();
    insert_with_balance(&db, 2, "bob", 1000).await.unwrap();
    const PER_SIDE: u32 = 50;
    let runs = AtomicU32::new(0);
    // The closure's error type is the application's: a conflict reaches it as
    // `AppError::Db(..)`, and the retry still sees that the transaction was lost.
    let transfer = async |from: i64, to: i64| {
        db.transaction_retry(
            TxOptions::serializable(),
            RetryPolicy::new(50).base_delay(Duration::from_millis(2)).max_delay(Duration::from_millis(100)),
            async |tx| {
                runs.fetch_add(1, Ordering::Relaxed);
                let a = balance(tx, from).await?;
                let b = balance(tx, to).await?;
                if a < 1 {
                    return Err(AppError::Insufficient { have: a });
                }
                // Widen the window between read and write so transfers overlap.
                tokio::task::yield_now().await;
                // Write in id order: opposite transfers then conflict without a lock cycle
                // (PostgreSQL would need its 1 s deadlock_timeout to break one).
                let mut writes = [(from, a - 1), (to, b + 1)];
                writes.sort();
                for (id, new_balance) in writes {
                    tx.execute_raw("UPDATE acct SET balance = :b WHERE id = :id", params! { "b" => new_balance, "id" => id }).await?;
                }
                Ok(())
            },
        )
        .await
    };
    let side = async |from: i64, to: i64| {
        let mut failures = Vec::new();
        for _ in 0..PER_SIDE {
            if let Err(e) = transfer(from, to).await {
                failures.push(format!("{e:?}"));
            }
        }
        failures
    };
    let started = Instant::now();
    let (f1, f2, f3, f4) = tokio::join!(side(1, 2), side(2, 1), side(1, 2), side(2, 1));
    let failures: Vec<String> = [f1, f2, f3, f4].concat();
    let total = count_balances(&db).await;
    let runs = runs.load(Ordering::Relaxed);
    let retries = runs - 4 * PER_SIDE;
    eprintln!("{backend:?}: {} transfers, {runs} runs ({retries} retries) in {:?}", 4 * PER_SIDE, started.elapsed());
    assert!(failures.is_empty(), "{} transfers failed after retries: {:?}", failures.len(), &failures[..failures.len().min(5)]);
    assert_eq!(total, 2000, "money was created or destroyed");
    // Equal numbers each way: both balances are back where they started.
    assert_eq!(balance(&db, 1).await.unwrap(), 1000);
    assert_eq!(balance(&db, 2).await.unwrap(), 1000);
    if backend == Backend::Postgres {
        assert!(retries > 0, "expected serialization conflicts on PostgreSQL under concurrent serializable transfers");
    }
}

async fn count_balances(db: &Database) -> i64 {
    db.fetch_one_raw("SELECT SUM(balance) AS total FROM acct", params! {}).await.unwrap().get::<i64>("total").unwrap()
}

/// An application's own error type, as a service would declare it.
#[derive(Debug)]
enum AppError {
    Insufficient { have: i64 },
    Db(Error),
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        AppError::Db(e)
    }
}

/// Debit `id` by `amount` in `tx`, refusing with the application's error when the balance
/// is short (after the debit was written, so the rollback must undo it).
async fn debit(tx: &Transaction, id: i64, amount: i64) -> Result<(), AppError> {
    tx.execute_raw("UPDATE acct SET balance = balance - :a WHERE id = :id", params! { "a" => amount, "id" => id }).await?;
    let have = balance(tx, id).await?;
    if have < 0 {
        return Err(AppError::Insufficient { have: have + amount });
    }
    Ok(())
}

/// Transactions and savepoints carry the caller's error type: a business refusal is an
/// `Err` of that type and rolls back; almacen's errors convert through `From`.
async fn closures_return_the_applications_error_type(db: Database, _b: Backend) {
    setup(&db).await;
    insert_with_balance(&db, 1, "alice", 10).await.unwrap();

    let refused = db.transaction(async |tx| debit(tx, 1, 25).await).await;
    assert!(matches!(refused, Err(AppError::Insufficient { have: 10 })), "{refused:?}");
    assert_eq!(balance(&db, 1).await.unwrap(), 10, "the refused debit was rolled back");

    let db_error = db
        .transaction(async |tx| {
            debit(tx, 1, 5).await?;
            insert(tx, 2, "alice").await?; // duplicate name
            Ok::<_, AppError>(())
        })
        .await;
    assert!(matches!(db_error, Err(AppError::Db(Error::UniqueViolation(_)))), "{db_error:?}");
    assert_eq!(balance(&db, 1).await.unwrap(), 10, "the debit before the violation was rolled back");

    // A refused savepoint is undone alone; the outer transaction goes on and commits.
    let left = db
        .transaction(async |tx| {
            debit(tx, 1, 4).await?;
            let inner = tx.transaction(async |sp| debit(sp, 1, 100).await).await;
            assert!(matches!(inner, Err(AppError::Insufficient { have: 6 })), "{inner:?}");
            balance(tx, 1).await.map_err(AppError::from)
        })
        .await
        .unwrap();
    assert_eq!(left, 6);
    assert_eq!(balance(&db, 1).await.unwrap(), 6);

    // The same with the retrying form: a business refusal is not retried.
    let runs = AtomicU32::new(0);
    let refused = db
        .transaction_retry(TxOptions::serializable(), RetryPolicy::new(5), async |tx| {
            runs.fetch_add(1, Ordering::Relaxed);
            debit(tx, 1, 7).await
        })
        .await;
    assert!(matches!(refused, Err(AppError::Insufficient { have: 6 })), "{refused:?}");
    assert_eq!(runs.load(Ordering::Relaxed), 1);
    assert_eq!(balance(&db, 1).await.unwrap(), 6);
}

/// `db` instead of `tx` inside a transaction closure. On SQLite the transaction holds the
/// only writer, so a write (or a nested transaction) through `db` fails at once with an
/// error that says so, instead of waiting out the pool timeout; reads go to a reader. On
/// the servers `db` is simply another connection. Work joined beside the closure in the
/// same task is not mistaken for it: it waits for the writer and runs.
async fn db_instead_of_tx_inside_a_transaction(db: Database, backend: Backend) {
    setup(&db).await;
    let (through_db, nested, seen) = db
        .transaction(async |tx| -> almacen::Result<_> {
            insert(tx, 1, "in tx").await?;
            let through_db = insert(&db, 2, "through db").await;
            let nested = db.transaction(async |inner| insert(inner, 3, "nested").await).await;
            let seen = count(&db).await?;
            insert(tx, 4, "after").await?;
            Ok((through_db, nested, seen))
        })
        .await
        .unwrap();
    if backend == Backend::Sqlite {
        for e in [through_db.unwrap_err(), nested.unwrap_err()] {
            assert!(matches!(&e, Error::Unsupported(m) if m.contains("run it on the transaction (`tx`)")), "{e}");
        }
        assert_eq!(seen, 0, "a reader sees what was committed before the transaction");
        assert_eq!(names(&db).await, ["in tx", "after"]);
    } else {
        assert_eq!((through_db.unwrap(), nested.unwrap()), (1, 1));
        assert_eq!(seen, 2, "another connection sees its own committed rows only");
        assert_eq!(names(&db).await, ["in tx", "through db", "nested", "after"]);
    }

    let (a, b) = tokio::join!(
        db.transaction(async |tx| -> almacen::Result<_> {
            insert(tx, 5, "joined tx").await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(())
        }),
        async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            insert(&db, 6, "joined beside").await
        }
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(count(&db).await.unwrap(), if backend == Backend::Sqlite { 4 } else { 6 });
}

/// An in-memory SQLite database has no readers: a read through `db` inside a transaction
/// would wait for the writer too, and fails at once instead.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_memory_read_through_db_inside_a_transaction_fails_at_once() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    setup(&db).await;
    let read = db
        .transaction(async |tx| -> almacen::Result<_> {
            insert(tx, 1, "a").await?;
            let read = count(&db).await;
            assert_eq!(count(tx).await?, 1);
            Ok(read)
        })
        .await
        .unwrap();
    assert!(matches!(&read, Err(Error::Unsupported(m)) if m.contains("`tx`")), "{read:?}");
    assert_eq!(count(&db).await.unwrap(), 1);
}

/// Errors other than conflicts are not retried; a conflict-free closure runs once.
async fn retry_does_not_retry_other_errors(db: Database, _b: Backend) {
    setup(&db).await;
    insert(&db, 1, "taken").await.unwrap();
    let runs = AtomicU32::new(0);
    let res = db
        .transaction_retry(TxOptions::new(), RetryPolicy::new(5), async |tx| {
            runs.fetch_add(1, Ordering::Relaxed);
            insert(tx, 2, "taken").await
        })
        .await;
    assert!(matches!(res, Err(Error::UniqueViolation(_))), "{res:?}");
    assert_eq!(runs.load(Ordering::Relaxed), 1);

    let runs = AtomicU32::new(0);
    let v = db
        .transaction_retry(TxOptions::serializable(), RetryPolicy::default(), async |tx| -> almacen::Result<_> {
            runs.fetch_add(1, Ordering::Relaxed);
            insert(tx, 3, "fresh").await?;
            Ok("done")
        })
        .await
        .unwrap();
    assert_eq!((v, runs.load(Ordering::Relaxed)), ("done", 1));
    assert_eq!(names(&db).await, ["taken", "fresh"]);
}

per_backend!(
    closure_commits_on_ok,
    closure_rolls_back_on_err,
    closure_rolls_back_on_panic,
    closure_rolls_back_when_cancelled,
    closure_rolls_back_when_cancelled_mid_statement,
    dropped_transaction_rolls_back,
    manual_begin_commit_rollback,
    nested_savepoint_err_rolls_back_only_inner,
    three_levels_of_savepoints,
    manual_savepoints,
    dropped_savepoint_not_committed,
    cancelled_savepoint_not_committed,
    every_isolation_level_runs,
    isolation_levels_behave,
    sqlite_write_transactions_take_the_write_lock,
    read_only_transactions,
    unique_violation_rolls_back_everything,
    serialization_conflict_is_classified,
    concurrent_transfers_with_retry,
    retry_does_not_retry_other_errors,
    closures_return_the_applications_error_type,
    db_instead_of_tx_inside_a_transaction,
);
