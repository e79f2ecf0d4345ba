//! The runner on SQLite, PostgreSQL and MariaDB, each test in a fresh database: upgrade and
//! downgrade by head, count, revision and base; stamp and current; two processes upgrading
//! at once; a failing revision (rolled back whole where DDL is transactional, reported step
//! by step on MariaDB); branches and their merge; the migration lock's timeout; migrations
//! embedded in the binary and applied in one call.

#[path = "../../almacen/tests/common/mod.rs"]
mod common;
mod corpus;

use almacen::{Database, Dialect, Executor, params};
use almacen_migrate::graph::{DowngradeTarget, GraphError, Migrations, StampTarget, UpgradeTarget};
use almacen_migrate::ops::Operation;
use almacen_migrate::revision::Revision;
use almacen_migrate::runner::{MigrateError, Migrator};
use almacen_migrate::schema::{Column, ForeignKey, OnDeleteAction, Table, Type};
use common::Backend;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Raw SQL on every dialect.
fn sql(all: &str) -> Operation {
    Operation::Sql { all: Some(all.into()), sqlite: None, postgres: None, mysql: None }
}

fn migrator(m: &Migrations) -> Migrator<'_> {
    Migrator::new(m)
}

/// Revision `n` (id `00000000000n`-like), created `n` minutes after the first.
fn rev(n: u32, parents: &[u32], message: &str, upgrade: Vec<Operation>, downgrade: Vec<Operation>) -> Revision {
    let mut r = Revision::new(message, parents.iter().map(|&p| id(p)).collect());
    r.id = id(n);
    r.created = chrono::DateTime::from_timestamp(1_800_000_000 + i64::from(n) * 60, 0).unwrap();
    r.upgrade = upgrade;
    r.downgrade = downgrade;
    r
}

fn id(n: u32) -> String {
    format!("{n:012x}")
}

/// `count` revisions in a line, revision `i` creating table `t<i>`.
fn line(count: u32) -> Migrations {
    let revs = (1..=count)
        .map(|i| {
            let parents: Vec<u32> = if i == 1 { vec![] } else { vec![i - 1] };
            rev(
                i,
                &parents,
                &format!("table t{i}"),
                vec![sql(&format!("CREATE TABLE t{i} (id INTEGER PRIMARY KEY)"))],
                vec![sql(&format!("DROP TABLE t{i}"))],
            )
        })
        .collect();
    Migrations::from_revisions(revs).unwrap()
}

async fn has_table(db: &Database, name: &str) -> bool {
    let sql = match db.dialect() {
        Dialect::Sqlite => "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = :t",
        Dialect::Postgres => {
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = :t"
        }
        Dialect::MySql => "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = :t",
    };
    db.fetch_one_raw(sql, params! { "t" => name }).await.unwrap().get::<i64>("n").unwrap() > 0
}

async fn tables(db: &Database, count: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for i in 1..=count {
        if has_table(db, &format!("t{i}")).await {
            out.push(i);
        }
    }
    out
}

fn ids(ns: &[u32]) -> Vec<String> {
    ns.iter().map(|&n| id(n)).collect()
}

fn ran(report: &almacen_migrate::runner::Report) -> Vec<String> {
    report.revisions.iter().map(|r| r.id.clone()).collect()
}

// ---------------------------------------------------------------------------------------
// Upgrade, downgrade, stamp, current
// ---------------------------------------------------------------------------------------

async fn up_down_stamp_current(db: Database, _b: Backend) {
    let m = line(4);
    let mig = migrator(&m);
    assert!(mig.current(&db).await.unwrap().is_empty(), "no version table yet");

    let r = mig.upgrade(&db, &"+2".parse().unwrap()).await.unwrap();
    assert_eq!(ran(&r), ids(&[1, 2]));
    assert_eq!((r.before.clone(), r.after.clone()), (vec![], ids(&[2])));
    assert_eq!(mig.current(&db).await.unwrap(), ids(&[2]));
    assert_eq!(tables(&db, 4).await, [1, 2]);

    let r = mig.upgrade(&db, &UpgradeTarget::Head).await.unwrap();
    assert_eq!(ran(&r), ids(&[3, 4]));
    assert_eq!(tables(&db, 4).await, [1, 2, 3, 4]);
    assert!(r.to_string().contains(&format!("applied {} \"table t3\"", id(3))), "{r}");

    let r = mig.upgrade(&db, &UpgradeTarget::Head).await.unwrap();
    assert!(r.revisions.is_empty());
    assert!(r.to_string().starts_with("nothing to do"), "{r}");
    let e = mig.upgrade(&db, &"+1".parse().unwrap()).await.unwrap_err();
    assert!(e.to_string().contains("only 0 revision(s)"), "{e}");

    let r = mig.downgrade(&db, &"-1".parse().unwrap()).await.unwrap();
    assert_eq!(ran(&r), ids(&[4]));
    assert_eq!(mig.current(&db).await.unwrap(), ids(&[3]));
    assert_eq!(tables(&db, 4).await, [1, 2, 3]);

    // Down to revision 1, named by a prefix of its id.
    let r = mig.downgrade(&db, &DowngradeTarget::Revision("00000000000".into())).await;
    assert!(matches!(r, Err(MigrateError::Graph(GraphError::AmbiguousRevision { .. }))), "{r:?}");
    let r = mig.downgrade(&db, &DowngradeTarget::Revision(id(1))).await.unwrap();
    assert_eq!(ran(&r), ids(&[3, 2]));
    assert_eq!(mig.current(&db).await.unwrap(), ids(&[1]));
    assert_eq!(tables(&db, 4).await, [1]);

    let r = mig.downgrade(&db, &DowngradeTarget::Base).await.unwrap();
    assert_eq!(ran(&r), ids(&[1]));
    assert!(mig.current(&db).await.unwrap().is_empty());
    assert_eq!(tables(&db, 4).await, [] as [u32; 0]);
    assert!(has_table(&db, "almacen_version").await);

    // Stamp writes the version table only.
    let r = mig.stamp(&db, &StampTarget::Head).await.unwrap();
    assert!(r.revisions.is_empty());
    assert_eq!(mig.current(&db).await.unwrap(), ids(&[4]));
    assert_eq!(tables(&db, 4).await, [] as [u32; 0]);
    mig.stamp(&db, &StampTarget::Base).await.unwrap();
    assert!(mig.current(&db).await.unwrap().is_empty());

    mig.upgrade(&db, &UpgradeTarget::Revision(id(2))).await.unwrap();
    assert_eq!(mig.current(&db).await.unwrap(), ids(&[2]));
    assert_eq!(tables(&db, 4).await, [1, 2]);
    // Stamping revision 3 over it: revision 3 counts as applied, without its table.
    mig.stamp(&db, &StampTarget::Revisions(vec![id(3)])).await.unwrap();
    assert_eq!(mig.current(&db).await.unwrap(), ids(&[3]));
    let r = mig.upgrade(&db, &UpgradeTarget::Head).await.unwrap();
    assert_eq!(ran(&r), ids(&[4]));
    assert_eq!(tables(&db, 4).await, [1, 2, 4]);
}

/// The version table names a revision the migrations do not have: refused, nothing run.
async fn unknown_applied_revision(db: Database, _b: Backend) {
    let m = line(2);
    let mig = migrator(&m);
    mig.upgrade(&db, &UpgradeTarget::Head).await.unwrap();
    let fewer = line(1);
    let e = migrator(&fewer).downgrade(&db, &DowngradeTarget::Base).await.unwrap_err();
    assert!(matches!(&e, MigrateError::Graph(GraphError::UnknownApplied(r)) if *r == id(2)), "{e}");
    assert_eq!(tables(&db, 2).await, [1, 2]);
}

/// The SQL a run would execute, without a database, is what the run executes: applied by
/// hand (with the version table's changes), the database is where `upgrade` would take it.
async fn offline_sql_is_what_runs(db: Database, _b: Backend) {
    let m = line(3);
    let mig = migrator(&m);
    let plan = mig.upgrade_sql(db.dialect(), &[], &UpgradeTarget::Head).unwrap();
    assert_eq!(plan.iter().map(|p| p.id.clone()).collect::<Vec<_>>(), ids(&[1, 2, 3]));
    assert_eq!(plan[0].steps, [["CREATE TABLE t1 (id INTEGER PRIMARY KEY)"]]);
    assert_eq!(plan[0].version, [format!("INSERT INTO almacen_version (version_num) VALUES ('{}')", id(1))]);
    assert_eq!(
        plan[1].version,
        [
            format!("DELETE FROM almacen_version WHERE version_num = '{}'", id(1)),
            format!("INSERT INTO almacen_version (version_num) VALUES ('{}')", id(2))
        ]
    );
    db.execute_raw(&almacen_migrate::runner::create_version_table_sql(), params! {}).await.unwrap();
    for p in &plan[..2] {
        for sql in p.steps.iter().flatten().chain(&p.version) {
            db.execute_raw(sql, params! {}).await.unwrap();
        }
    }
    assert_eq!(mig.current(&db).await.unwrap(), ids(&[2]));
    assert_eq!(ran(&mig.upgrade(&db, &UpgradeTarget::Head).await.unwrap()), ids(&[3]));
    let down = mig.downgrade_sql(db.dialect(), &ids(&[3]), &DowngradeTarget::Base).unwrap();
    assert_eq!(down.iter().map(|p| p.steps.concat()).collect::<Vec<_>>(), [["DROP TABLE t3"], ["DROP TABLE t2"], ["DROP TABLE t1"]]);
    assert_eq!(down[2].version, [format!("DELETE FROM almacen_version WHERE version_num = '{}'", id(1))]);
}

// ---------------------------------------------------------------------------------------
// Failures

/// A revision whose step rewrites the version table (deleting the row the run is about to
/// replace) is refused and rolled back, leaving the table as it was.
async fn version_table_rewritten_by_a_step(db: Database, _b: Backend) {
    let m = Migrations::from_revisions(vec![
        rev(1, &[], "one", vec![sql("CREATE TABLE t1 (id INTEGER PRIMARY KEY)")], vec![sql("DROP TABLE t1")]),
        rev(2, &[1], "sneaky", vec![sql("DELETE FROM almacen_version")], vec![]),
    ])
    .unwrap();
    let e = migrator(&m).upgrade(&db, &UpgradeTarget::Head).await.unwrap_err();
    assert!(matches!(e, MigrateError::Changed(_)) && e.to_string().contains(&format!("row {} was gone", id(1))), "{e}");
    assert_eq!(migrator(&m).current(&db).await.unwrap(), ids(&[1]), "rolled back with the revision");
}
// ---------------------------------------------------------------------------------------

/// Revision 2's third step fails: on PostgreSQL and SQLite its first two steps are rolled
/// back with it; on MariaDB they stay, and the error says which step failed. Either way the
/// version table stays at revision 1.
async fn failing_revision(db: Database, backend: Backend) {
    let m = Migrations::from_revisions(vec![
        rev(1, &[], "one", vec![sql("CREATE TABLE t1 (id INTEGER PRIMARY KEY)")], vec![sql("DROP TABLE t1")]),
        rev(
            2,
            &[1],
            "two",
            vec![
                sql("CREATE TABLE t2 (id INTEGER PRIMARY KEY)"),
                sql("CREATE TABLE t3 (id INTEGER PRIMARY KEY)"),
                sql("CREATE TABLE t1 (id INTEGER PRIMARY KEY)"),
            ],
            vec![sql("DROP TABLE t3"), sql("DROP TABLE t2")],
        ),
    ])
    .unwrap();
    let mig = migrator(&m);
    let e = mig.upgrade(&db, &UpgradeTarget::Head).await.unwrap_err();
    let shown = e.to_string();
    let MigrateError::Step(f) = e else { panic!("{shown}") };
    assert_eq!((f.revision.as_str(), f.step, f.steps), (id(2).as_str(), 3, 3), "{shown}");
    assert_eq!(f.sql, "CREATE TABLE t1 (id INTEGER PRIMARY KEY)");
    assert_eq!(f.version, ids(&[1]));
    assert!(shown.contains(&format!("revision {} (\"two\") failed at upgrade step 3 of 3 (sql)", id(2))), "{shown}");
    assert!(shown.contains("SQL: CREATE TABLE t1"), "{shown}");
    assert_eq!(mig.current(&db).await.unwrap(), ids(&[1]));
    if backend == Backend::MariaDb {
        assert!(!f.rolled_back);
        assert_eq!((f.statement, f.ran.len(), f.kept_through), (1, 0, Some((2, 1))), "{shown}");
        assert!(shown.contains("Everything of this revision up to statement 1 of step 2 stays done"), "{shown}");
        assert_eq!(tables(&db, 3).await, [1, 2, 3]);
    } else {
        assert!(f.rolled_back);
        assert!(shown.contains("rolled back whole"), "{shown}");
        assert_eq!(tables(&db, 3).await, [1], "no partial schema");
    }
    // The lock was let go of: another run can take it at once.
    let quick = migrator(&m).lock_timeout(Duration::from_secs(2));
    assert!(matches!(quick.upgrade(&db, &UpgradeTarget::Head).await, Err(MigrateError::Step(_))));
}

/// A step with no SQL for this dialect stops the run before anything runs.
async fn unrenderable_step_runs_nothing(db: Database, _b: Backend) {
    let other_only = match db.dialect() {
        Dialect::Sqlite => Operation::Sql { all: None, sqlite: None, postgres: Some("SELECT 1".into()), mysql: Some("SELECT 1".into()) },
        _ => Operation::Sql { all: None, sqlite: Some("SELECT 1".into()), postgres: None, mysql: None },
    };
    let m = Migrations::from_revisions(vec![
        rev(1, &[], "one", vec![sql("CREATE TABLE t1 (id INTEGER PRIMARY KEY)")], vec![]),
        rev(2, &[1], "two", vec![sql("CREATE TABLE t2 (id INTEGER PRIMARY KEY)"), other_only], vec![]),
    ])
    .unwrap();
    let e = migrator(&m).upgrade(&db, &UpgradeTarget::Head).await.unwrap_err();
    assert!(matches!(&e, MigrateError::Render { revision, step: 2, .. } if *revision == id(2)), "{e}");
    assert!(e.to_string().contains("no text for"), "{e}");
    assert_eq!(tables(&db, 2).await, [] as [u32; 0]);
    assert!(migrator(&m).current(&db).await.unwrap().is_empty());
}

fn column(name: &str, ty: Type, nullable: bool) -> Column {
    Column { name: name.into(), ty, nullable, auto: false, default: None }
}

/// `parent (id, name)` and `child (id, parent_id -> parent ON DELETE CASCADE)`.
fn parent_and_child() -> Vec<Operation> {
    let parent = Table {
        name: "parent".into(),
        columns: vec![column("id", Type::BigInt, false), column("name", Type::Text { max_len: Some(20) }, false)],
        primary_key: vec!["id".into()],
        indexes: vec![],
        foreign_keys: vec![],
    };
    let child = Table {
        name: "child".into(),
        columns: vec![column("id", Type::BigInt, false), column("parent_id", Type::BigInt, false)],
        primary_key: vec!["id".into()],
        indexes: vec![],
        foreign_keys: vec![ForeignKey {
            name: "fk_child_parent_id".into(),
            column: "parent_id".into(),
            ref_table: "parent".into(),
            ref_column: "id".into(),
            on_delete: OnDeleteAction::Cascade,
        }],
    };
    vec![Operation::CreateTable { table: parent }, Operation::CreateTable { table: child }]
}

async fn count(db: &Database, table: &str) -> i64 {
    db.fetch_one_raw(&format!("SELECT COUNT(*) AS n FROM {table}"), params! {}).await.unwrap().get::<i64>("n").unwrap()
}

/// Portable operations through the renderer, against the schema the applied revisions
/// build: widening the referenced table's column (a table rebuild on SQLite) keeps the rows
/// of both tables (no cascade from the rebuild's DROP TABLE), the foreign key still holds
/// afterwards, and the downgrade (rendered from the replayed schema) narrows it back.
async fn portable_operations_keep_the_rows(db: Database, _b: Backend) {
    let narrow = column("name", Type::Text { max_len: Some(20) }, false);
    let wide = column("name", Type::Text { max_len: Some(200) }, false);
    let m = Migrations::from_revisions(vec![
        rev(
            1,
            &[],
            "tables",
            parent_and_child(),
            vec![Operation::DropTable { table: "child".into() }, Operation::DropTable { table: "parent".into() }],
        ),
        rev(
            2,
            &[1],
            "wider names",
            vec![Operation::AlterColumn { table: "parent".into(), from: narrow.clone(), to: wide.clone() }],
            vec![Operation::AlterColumn { table: "parent".into(), from: wide, to: narrow }],
        ),
    ])
    .unwrap();
    let mig = migrator(&m);
    mig.upgrade(&db, &"+1".parse().unwrap()).await.unwrap();
    db.execute_raw("INSERT INTO parent (id, name) VALUES (1, 'one'), (2, 'two')", params! {}).await.unwrap();
    db.execute_raw("INSERT INTO child (id, parent_id) VALUES (10, 1), (11, 1), (20, 2)", params! {}).await.unwrap();

    mig.upgrade(&db, &UpgradeTarget::Head).await.unwrap();
    assert_eq!((count(&db, "parent").await, count(&db, "child").await), (2, 3));
    let long = "x".repeat(150);
    db.execute_raw("UPDATE parent SET name = :n WHERE id = 2", params! { "n" => long.as_str() }).await.unwrap();
    assert!(db.execute_raw("INSERT INTO child (id, parent_id) VALUES (99, 999)", params! {}).await.is_err(), "the foreign key still holds");
    db.execute_raw("DELETE FROM parent WHERE id = 2", params! {}).await.unwrap();
    assert_eq!(count(&db, "child").await, 2, "the cascade still works");

    mig.downgrade(&db, &"-1".parse().unwrap()).await.unwrap();
    assert_eq!((count(&db, "parent").await, count(&db, "child").await), (1, 2));
    assert!(db.execute_raw("UPDATE parent SET name = :n WHERE id = 1", params! { "n" => long.as_str() }).await.is_err(), "narrow again");
    mig.downgrade(&db, &DowngradeTarget::Base).await.unwrap();
    assert!(!has_table(&db, "parent").await && !has_table(&db, "child").await);
}

/// A revision whose data breaks a foreign key is refused and rolled back: at once on the
/// servers; on SQLite (whose revisions run with enforcement off, for rebuilds) by the check
/// before the commit.
async fn broken_foreign_key_is_refused(db: Database, backend: Backend) {
    let m = Migrations::from_revisions(vec![
        rev(1, &[], "tables", parent_and_child(), vec![]),
        rev(2, &[1], "orphan", vec![sql("INSERT INTO child (id, parent_id) VALUES (1, 404)")], vec![]),
    ])
    .unwrap();
    let mig = migrator(&m);
    let e = mig.upgrade(&db, &UpgradeTarget::Head).await.unwrap_err();
    if backend == Backend::Sqlite {
        assert!(matches!(&e, MigrateError::ForeignKeys { revision, .. } if *revision == id(2)), "{e}");
        assert!(e.to_string().contains("child row 1 references a missing parent row"), "{e}");
    } else {
        assert!(matches!(&e, MigrateError::Step(f) if f.revision == id(2) && f.step == 1), "{e}");
    }
    assert_eq!(count(&db, "child").await, 0);
    assert_eq!(mig.current(&db).await.unwrap(), ids(&[1]));
    // The application's connections still enforce foreign keys.
    assert!(db.execute_raw("INSERT INTO child (id, parent_id) VALUES (2, 404)", params! {}).await.is_err());
}

/// An in-memory SQLite database has one connection, shared with the application: the
/// rebuild runs with enforcement off there too, and enforcement is back on afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_memory_restores_foreign_keys() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    let narrow = column("name", Type::Text { max_len: Some(20) }, false);
    let wide = column("name", Type::Text { max_len: Some(200) }, false);
    let m = Migrations::from_revisions(vec![
        rev(1, &[], "tables", parent_and_child(), vec![]),
        rev(2, &[1], "wider", vec![Operation::AlterColumn { table: "parent".into(), from: narrow, to: wide }], vec![]),
    ])
    .unwrap();
    migrator(&m).upgrade(&db, &"+1".parse().unwrap()).await.unwrap();
    db.execute_raw("INSERT INTO parent (id, name) VALUES (1, 'one')", params! {}).await.unwrap();
    db.execute_raw("INSERT INTO child (id, parent_id) VALUES (10, 1)", params! {}).await.unwrap();
    migrator(&m).upgrade(&db, &UpgradeTarget::Head).await.unwrap();
    assert_eq!((count(&db, "parent").await, count(&db, "child").await), (1, 1));
    let on = db.fetch_one_raw("PRAGMA foreign_keys", params! {}).await.unwrap().get::<i64>("foreign_keys").unwrap();
    assert_eq!(on, 1);
    assert!(db.execute_raw("INSERT INTO child (id, parent_id) VALUES (11, 404)", params! {}).await.is_err());
    db.close().await;
}

/// A step of several statements fails at its second on MariaDB (`CREATE TABLE` runs, its
/// `CREATE INDEX` is refused): the error says exactly which statements ran and that they
/// stay (DDL commits as it runs), not that nothing of the step ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_failure_names_the_statements_that_stay() {
    common::run_with(Backend::MariaDb, "", async |db: Database, _b: Backend| {
        let id_col = column("id", Type::BigInt, false);
        let table = |name: &str, columns: Vec<Column>, indexes| Table {
            name: name.into(),
            columns,
            primary_key: vec!["id".into()],
            indexes,
            foreign_keys: vec![],
        };
        // An index name longer than MariaDB's 64 characters: the renderer writes it as given,
        // the table is created, the index refused.
        let long = format!("ix_bad_{}", "n".repeat(70));
        let note = column("note", Type::Integer, true);
        let bad_index = almacen_migrate::schema::Index { name: long.clone(), columns: vec!["note".into()], unique: false };
        let m = Migrations::from_revisions(vec![
            rev(1, &[], "one", vec![sql("CREATE TABLE t1 (id INTEGER PRIMARY KEY)")], vec![]),
            rev(
                2,
                &[1],
                "two",
                vec![
                    Operation::CreateTable { table: table("first", vec![id_col.clone()], vec![]) },
                    Operation::CreateTable { table: table("bad", vec![id_col.clone(), note], vec![bad_index]) },
                ],
                vec![],
            ),
        ])
        .unwrap();
        let e = migrator(&m).upgrade(&db, &UpgradeTarget::Head).await.unwrap_err();
        let shown = e.to_string();
        let MigrateError::Step(f) = e else { panic!("{shown}") };
        assert_eq!((f.step, f.statement, f.ran.len(), f.kept_through), (2, 2, 1, Some((2, 1))), "{shown}");
        assert!(f.ran[0].starts_with("CREATE TABLE `bad`"), "{shown}");
        assert!(f.sql.starts_with(&format!("CREATE INDEX `{long}`")), "{shown}");
        assert!(shown.contains("Everything of this revision up to statement 1 of step 2 stays done"), "{shown}");
        assert!(shown.contains("Of step 2, statement(s) 1 to 1 ran before statement 2 failed: [1] CREATE TABLE `bad`"), "{shown}");
        assert!(shown.contains("(stays done)"), "{shown}");
        assert!(!shown.contains("no step"), "{shown}");
        assert!(has_table(&db, "first").await && has_table(&db, "bad").await, "what the message says stays is there");
        assert_eq!(migrator(&m).current(&db).await.unwrap(), ids(&[1]));

        // A DML statement before the first DDL of the revision is rolled back, and said so.
        let m = Migrations::from_revisions(vec![
            rev(1, &[], "one", vec![sql("CREATE TABLE t1 (id INTEGER PRIMARY KEY)")], vec![]),
            rev(3, &[1], "three", vec![sql("INSERT INTO t1 (id) VALUES (7)"), sql("INSERT INTO t1 (id) VALUES (7)")], vec![]),
        ])
        .unwrap();
        let e = migrator(&m).upgrade(&db, &UpgradeTarget::Head).await.unwrap_err();
        let shown = e.to_string();
        let MigrateError::Step(f) = e else { panic!("{shown}") };
        assert_eq!((f.step, f.statement, f.kept_through), (2, 1, None), "{shown}");
        assert!(shown.contains("Nothing of this revision stays done"), "{shown}");
        assert_eq!(count(&db, "t1").await, 0);
    })
    .await
}

/// `t (id, a)` from a revision; a raw SQL revision adds column `extra` (and an index, and on
/// SQLite a trigger) the revisions do not describe; a row keeps data there. Changing `a`'s
/// default rebuilds `t` on SQLite from the described shape, which would drop `extra` with
/// its data: refused, naming the table and each difference, nothing of the revision applied.
/// The servers ALTER in place: there it runs, and `extra` stays. A rebuild of a table the
/// revisions describe whole still runs.
async fn rebuild_refuses_undescribed_changes(db: Database, backend: Backend) {
    let a = column("a", Type::Text { max_len: Some(20) }, true);
    let mut a_default = a.clone();
    a_default.default = Some(almacen_migrate::schema::Default::Sql("'x'".into()));
    let t = Table {
        name: "t".into(),
        columns: vec![column("id", Type::BigInt, false), a.clone()],
        primary_key: vec!["id".into()],
        indexes: vec![],
        foreign_keys: vec![],
    };
    let per = |sqlite: &str, postgres: &str, mysql: &str| Operation::Sql {
        all: None,
        sqlite: Some(sqlite.into()),
        postgres: Some(postgres.into()),
        mysql: Some(mysql.into()),
    };
    let m = Migrations::from_revisions(vec![
        rev(1, &[], "t", vec![Operation::CreateTable { table: t.clone() }], vec![]),
        rev(
            2,
            &[1],
            "extra by hand",
            vec![
                sql("ALTER TABLE t ADD COLUMN extra VARCHAR(50)"),
                per(
                    "CREATE INDEX ix_t_extra ON t (extra) WHERE extra IS NOT NULL",
                    "CREATE INDEX ix_t_extra ON t (extra) WHERE extra IS NOT NULL",
                    "CREATE INDEX ix_t_extra ON t (extra)",
                ),
                per("CREATE TRIGGER trg_t AFTER INSERT ON t BEGIN SELECT 1; END", "SELECT 1", "SELECT 1"),
            ],
            vec![],
        ),
        rev(3, &[2], "a default", vec![Operation::AlterColumn { table: "t".into(), from: a.clone(), to: a_default.clone() }], vec![]),
    ])
    .unwrap();
    let mig = migrator(&m);
    mig.upgrade(&db, &"+2".parse().unwrap()).await.unwrap();
    db.execute_raw("INSERT INTO t (id, a, extra) VALUES (1, 'a', 'precious')", params! {}).await.unwrap();
    let outcome = mig.upgrade(&db, &UpgradeTarget::Head).await;
    if backend == Backend::Sqlite {
        let e = outcome.unwrap_err();
        let shown = e.to_string();
        let MigrateError::RebuildWouldLose(r) = &e else { panic!("{shown}") };
        assert_eq!((r.table.as_str(), r.step), ("t", 1), "{shown}");
        for part in ["column \"extra\" is not in the revisions", "index \"ix_t_extra\"", "partial", "trigger \"trg_t\""] {
            assert!(r.differences.iter().any(|d| d.contains(part)), "{part}: {shown}");
        }
        assert!(shown.contains(&format!("revision {}", id(3))) && shown.contains("rebuilds table \"t\""), "{shown}");
        assert!(shown.contains("portable operations"), "{shown}");
        assert_eq!(mig.current(&db).await.unwrap(), ids(&[2]));
    } else {
        outcome.unwrap();
        assert_eq!(mig.current(&db).await.unwrap(), ids(&[3]));
    }
    let extra = db.fetch_one_raw("SELECT extra FROM t WHERE id = 1", params! {}).await.unwrap().get::<String>("extra").unwrap();
    assert_eq!(extra, "precious");

    // The same change on a table the revisions describe whole (an index, a unique column, a
    // foreign key): the rebuild runs and keeps the rows.
    let mut u = t.clone();
    u.name = "u".into();
    u.columns.push(column("code", Type::Text { max_len: Some(10) }, false));
    u.columns.push(column("t_id", Type::BigInt, true));
    u.indexes = vec![
        almacen_migrate::schema::Index { name: "ix_u_a".into(), columns: vec!["a".into()], unique: false },
        almacen_migrate::schema::Index { name: "uq_u_code".into(), columns: vec!["code".into()], unique: true },
    ];
    u.foreign_keys = vec![ForeignKey {
        name: "fk_u_t_id".into(),
        column: "t_id".into(),
        ref_table: "t".into(),
        ref_column: "id".into(),
        on_delete: OnDeleteAction::SetNull,
    }];
    let m = Migrations::from_revisions(vec![
        rev(4, &[], "u", vec![Operation::CreateTable { table: u }], vec![]),
        rev(5, &[4], "u.a default", vec![Operation::AlterColumn { table: "u".into(), from: a, to: a_default }], vec![]),
    ])
    .unwrap();
    let other = migrator(&m);
    // A second history in the same database: its own version table rows would clash, so it
    // is stamped apart by running on a fresh version table.
    db.execute_raw("DROP TABLE almacen_version", params! {}).await.unwrap();
    other.upgrade(&db, &"+1".parse().unwrap()).await.unwrap();
    db.execute_raw("INSERT INTO u (id, a, code, t_id) VALUES (1, 'kept', 'c1', 1)", params! {}).await.unwrap();
    other.upgrade(&db, &UpgradeTarget::Head).await.unwrap();
    let kept = db.fetch_one_raw("SELECT a FROM u WHERE id = 1", params! {}).await.unwrap().get::<String>("a").unwrap();
    assert_eq!(kept, "kept");
    db.execute_raw("INSERT INTO u (id, code) VALUES (2, 'c2')", params! {}).await.unwrap();
    let a2 = db.fetch_one_raw("SELECT a FROM u WHERE id = 2", params! {}).await.unwrap().get::<String>("a").unwrap();
    assert_eq!(a2, "x", "the new default");
}

/// Every table of the model corpus (every portable type, defaults of every kind, enums,
/// keys, indexes, unique constraints, foreign keys, odd identifiers), created by a revision
/// and then rebuilt on SQLite (a column with a default added, then dropped again): the live
/// tables are found to be what the revisions describe, so the rebuilds run, rows kept.
async fn rebuild_of_every_corpus_table_runs(db: Database, _b: Backend) {
    let tables = almacen_migrate::schema::from_models(corpus::CORPUS);
    let added = Column {
        name: "zz_added".into(),
        ty: Type::Integer,
        nullable: true,
        auto: false,
        default: Some(almacen_migrate::schema::Default::Sql("7".into())),
    };
    let adds = tables.iter().map(|t| Operation::AddColumn { table: t.name.clone(), column: added.clone() }).collect();
    let drops = tables.iter().map(|t| Operation::DropColumn { table: t.name.clone(), column: added.name.clone() }).collect();
    let m = Migrations::from_revisions(vec![
        rev(1, &[], "corpus", tables.iter().map(|t| Operation::CreateTable { table: t.clone() }).collect(), vec![]),
        rev(2, &[1], "add a column everywhere", adds, drops),
    ])
    .unwrap();
    let mig = migrator(&m);
    mig.upgrade(&db, &"+1".parse().unwrap()).await.unwrap();
    let team = db.dialect().quote("teams");
    db.execute_raw(&format!("INSERT INTO {team} (name) VALUES ('kept')"), params! {}).await.unwrap();
    mig.upgrade(&db, &UpgradeTarget::Head).await.unwrap();
    mig.downgrade(&db, &"-1".parse().unwrap()).await.unwrap();
    assert_eq!(count(&db, &team).await, 1);
}

/// A NOT NULL column without a default, added to a table with rows, is refused on every
/// dialect before anything of its revision runs (MariaDB would fill `''` or `0` silently);
/// on the emptied table it is added.
async fn not_null_column_on_rows_is_refused(db: Database, _b: Backend) {
    let t = Table {
        name: "t".into(),
        columns: vec![column("id", Type::BigInt, false), column("a", Type::Text { max_len: Some(20) }, true)],
        primary_key: vec!["id".into()],
        indexes: vec![],
        foreign_keys: vec![],
    };
    let mut first = t.clone();
    first.name = "first".into();
    let m = Migrations::from_revisions(vec![
        rev(1, &[], "t", vec![Operation::CreateTable { table: t }], vec![]),
        rev(
            2,
            &[1],
            "b",
            vec![
                Operation::CreateTable { table: first },
                Operation::AddColumn { table: "t".into(), column: column("b", Type::Integer, false) },
            ],
            vec![],
        ),
    ])
    .unwrap();
    let mig = migrator(&m);
    mig.upgrade(&db, &"+1".parse().unwrap()).await.unwrap();
    db.execute_raw("INSERT INTO t (id, a) VALUES (1, 'one')", params! {}).await.unwrap();
    let e = mig.upgrade(&db, &UpgradeTarget::Head).await.unwrap_err();
    let shown = e.to_string();
    assert!(matches!(&e, MigrateError::NotNullOnRows(r) if r.table == "t" && r.column == "b" && r.step == 2), "{shown}");
    for part in [
        "adds column \"b\" NOT NULL without a default to table \"t\", which has rows",
        "refused before anything",
        "server default",
        "nullable, fill it",
    ] {
        assert!(shown.contains(part), "{part}: {shown}");
    }
    assert!(!has_table(&db, "first").await, "nothing of the revision ran");
    assert_eq!(mig.current(&db).await.unwrap(), ids(&[1]));
    assert_eq!(count(&db, "t").await, 1);

    // Rows put there by an earlier raw SQL step of the same revision are seen too.
    let m2 = Migrations::from_revisions(vec![
        rev(1, &[], "t", m.get(&id(1)).unwrap().upgrade.clone(), vec![]),
        rev(
            3,
            &[1],
            "fill then b",
            vec![
                sql("DELETE FROM t"),
                sql("INSERT INTO t (id, a) VALUES (2, 'two')"),
                Operation::AddColumn { table: "t".into(), column: column("b", Type::Integer, false) },
            ],
            vec![],
        ),
    ])
    .unwrap();
    let e = migrator(&m2).upgrade(&db, &UpgradeTarget::Head).await.unwrap_err();
    assert!(matches!(&e, MigrateError::NotNullOnRows(r) if r.step == 3), "{e}");
    assert!(e.to_string().contains("nothing of the revision stays done"), "{e}");
    let one = db.fetch_one_raw("SELECT a FROM t", params! {}).await.unwrap().get::<String>("a").unwrap();
    assert_eq!(one, "one", "the raw steps were rolled back");

    db.execute_raw("DELETE FROM t", params! {}).await.unwrap();
    let r = mig.upgrade(&db, &UpgradeTarget::Head).await.unwrap();
    assert_eq!(ran(&r), ids(&[2]));
    db.execute_raw("INSERT INTO t (id, a, b) VALUES (3, 'three', 3)", params! {}).await.unwrap();
    assert!(db.execute_raw("INSERT INTO t (id, a) VALUES (4, 'four')", params! {}).await.is_err(), "b is NOT NULL");
}

// ---------------------------------------------------------------------------------------
// Branches and merges
// ---------------------------------------------------------------------------------------

/// 1 -> 2 and 1 -> 3: two heads. `upgrade head` reports the branch (both ids and messages)
/// and runs nothing; `upgrade heads` applies both; a merge revision joins them.
async fn branches_and_merge(db: Database, _b: Backend) {
    let revs = vec![
        rev(1, &[], "base", vec![sql("CREATE TABLE t1 (id INTEGER PRIMARY KEY)")], vec![sql("DROP TABLE t1")]),
        rev(2, &[1], "left side", vec![sql("CREATE TABLE t2 (id INTEGER PRIMARY KEY)")], vec![sql("DROP TABLE t2")]),
        rev(3, &[1], "right side", vec![sql("CREATE TABLE t3 (id INTEGER PRIMARY KEY)")], vec![sql("DROP TABLE t3")]),
    ];
    let m = Migrations::from_revisions(revs.clone()).unwrap();
    let mig = migrator(&m);
    let e = mig.upgrade(&db, &UpgradeTarget::Head).await.unwrap_err();
    let shown = e.to_string();
    assert!(matches!(e, MigrateError::Graph(GraphError::Branches(ref h)) if h.len() == 2), "{shown}");
    for part in [id(2), id(3), "\"left side\"".into(), "\"right side\"".into()] {
        assert!(shown.contains(&part), "{shown}");
    }
    assert_eq!(tables(&db, 3).await, [] as [u32; 0]);

    let r = mig.upgrade(&db, &UpgradeTarget::Heads).await.unwrap();
    assert_eq!(ran(&r), ids(&[1, 2, 3]));
    assert_eq!(mig.current(&db).await.unwrap(), ids(&[2, 3]), "one row per head");
    assert!(mig.downgrade(&db, &"-1".parse().unwrap()).await.unwrap_err().to_string().contains("2 heads"));

    let mut merge = m.merge_revision("join").unwrap();
    merge.id = id(4);
    merge.created = chrono::DateTime::from_timestamp(1_900_000_000, 0).unwrap();
    let mut all = revs;
    all.push(merge);
    let merged = Migrations::from_revisions(all).unwrap();
    let mig = migrator(&merged);
    let r = mig.upgrade(&db, &UpgradeTarget::Head).await.unwrap();
    assert_eq!(ran(&r), ids(&[4]));
    assert_eq!(mig.current(&db).await.unwrap(), ids(&[4]));
    mig.downgrade(&db, &"-1".parse().unwrap()).await.unwrap();
    assert_eq!(mig.current(&db).await.unwrap(), ids(&[2, 3]));
    mig.downgrade(&db, &DowngradeTarget::Revision(id(1))).await.unwrap();
    assert_eq!(mig.current(&db).await.unwrap(), ids(&[1]));
    assert_eq!(tables(&db, 3).await, [1]);
}

// ---------------------------------------------------------------------------------------
// Two processes at once, and the lock
// ---------------------------------------------------------------------------------------

/// Declare tests whose body gets the scratch database's URL (to open several `Database`
/// handles, as separate processes would), on every backend.
macro_rules! per_backend_url {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::with_url(super::common::Backend::Sqlite, super::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::with_url(super::common::Backend::Postgres, super::$name).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mariadb() {
                super::with_url(super::common::Backend::MariaDb, super::$name).await
            }
        }
    )*};
}

async fn with_url<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(String, Backend) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use futures::FutureExt;
    let Some(scratch) = common::Scratch::create(backend, "").await else { return };
    let outcome = std::panic::AssertUnwindSafe(body(scratch.url.clone(), backend)).catch_unwind().await;
    scratch.drop_database().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Two processes (two `Database` handles) run `upgrade head` at once over 15 revisions:
/// both succeed, and each revision ran once (each creates a table, which would fail the
/// second time, and logs itself in a table).
async fn concurrent_upgraders(url: String, _b: Backend) {
    const N: u32 = 15;
    let mut revs = vec![rev(
        1,
        &[],
        "log",
        vec![sql("CREATE TABLE applied_log (rev INTEGER NOT NULL)"), sql("INSERT INTO applied_log (rev) VALUES (1)")],
        vec![sql("DROP TABLE applied_log")],
    )];
    for i in 2..=N {
        revs.push(rev(
            i,
            &[i - 1],
            &format!("t{i}"),
            vec![sql(&format!("CREATE TABLE t{i} (id INTEGER PRIMARY KEY)")), sql(&format!("INSERT INTO applied_log (rev) VALUES ({i})"))],
            vec![sql(&format!("DROP TABLE t{i}"))],
        ));
    }
    let m = Migrations::from_revisions(revs).unwrap();
    let (a, b) = (Database::connect(&url).await.unwrap(), Database::connect(&url).await.unwrap());
    let (ra, rb) = tokio::time::timeout(Duration::from_secs(120), async {
        let ma = migrator(&m);
        let mb = migrator(&m);
        tokio::join!(ma.upgrade(&a, &UpgradeTarget::Head), mb.upgrade(&b, &UpgradeTarget::Head))
    })
    .await
    .expect("both runs end within 2 minutes");
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    eprintln!("process a ran {} revision(s), process b {}", ra.revisions.len(), rb.revisions.len());
    let mut all: Vec<String> = ran(&ra).into_iter().chain(ran(&rb)).collect();
    all.sort();
    assert_eq!(all, (1..=N).map(id).collect::<Vec<_>>(), "each revision applied by exactly one of them");
    assert_eq!(ra.after, ids(&[N]));
    assert_eq!(rb.after, ids(&[N]));
    let log: Vec<i64> = a
        .fetch_all_raw("SELECT rev FROM applied_log ORDER BY rev", params! {})
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<i64>("rev").unwrap())
        .collect();
    assert_eq!(log, (1..=i64::from(N)).collect::<Vec<_>>());
    // A third process finds nothing to do.
    assert!(migrator(&m).upgrade(&b, &UpgradeTarget::Head).await.unwrap().revisions.is_empty());
    a.close().await;
    b.close().await;
}

/// [`concurrent_upgraders`] on a PostgreSQL database whose sessions default to repeatable
/// read: each unit still reads the version table as the process before it left it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upgraders_under_repeatable_read_postgres() {
    with_url(Backend::Postgres, async |url: String, b: Backend| {
        let admin = Database::connect(&url).await.unwrap();
        let name = admin.fetch_one_raw("SELECT current_database() AS n", params! {}).await.unwrap().get::<String>("n").unwrap();
        let sql = format!("ALTER DATABASE {} SET default_transaction_isolation = 'repeatable read'", Dialect::Postgres.quote(&name));
        admin.execute_raw(&sql, params! {}).await.unwrap();
        admin.close().await;
        let check = Database::connect(&url).await.unwrap();
        let level = check.fetch_one_raw("SHOW default_transaction_isolation", params! {}).await.unwrap();
        assert_eq!(level.get::<String>("default_transaction_isolation").unwrap(), "repeatable read");
        check.close().await;
        concurrent_upgraders(url, b).await
    })
    .await
}

/// While one process holds the migration lock, another gives up after its lock timeout
/// with a clear error, and runs nothing.
async fn lock_timeout(url: String, backend: Backend) {
    let holder = Database::connect(&url).await.unwrap();
    let waiter = Database::connect(&url).await.unwrap();
    let slow_step = match backend {
        Backend::Postgres => Some("SELECT pg_sleep(3)"),
        Backend::MariaDb => Some("SELECT SLEEP(3)"),
        Backend::Sqlite => None,
    };
    let mut up = vec![sql("CREATE TABLE t1 (id INTEGER PRIMARY KEY)")];
    up.extend(slow_step.map(sql));
    let m = Migrations::from_revisions(vec![rev(1, &[], "slow", up, vec![])]).unwrap();

    // SQLite has no sleep: the holder is a write transaction of another handle.
    let sqlite_tx = if backend == Backend::Sqlite {
        let tx = holder.begin().await.unwrap();
        tx.execute_raw("CREATE TABLE hold (id INTEGER)", params! {}).await.unwrap();
        Some(tx)
    } else {
        None
    };
    let slow = {
        let holder = holder.clone();
        let m = m.clone();
        tokio::spawn(async move {
            if slow_step.is_some() { migrator(&m).upgrade(&holder, &UpgradeTarget::Head).await.map(|r| r.revisions.len()) } else { Ok(1) }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let e = migrator(&m).lock_timeout(Duration::from_millis(300)).upgrade(&waiter, &UpgradeTarget::Head).await.unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(e, MigrateError::LockTimeout { .. }), "{e}");
    assert!(e.to_string().contains("another process is migrating"), "{e}");
    // SQLite waits out its busy timeout (5 s) once before the deadline is checked.
    assert!(waited < Duration::from_secs(8), "{waited:?}");
    if let Some(tx) = sqlite_tx {
        tx.rollback().await.unwrap();
    }
    assert_eq!(slow.await.unwrap().unwrap(), 1, "the holder applied the revision");
    if backend == Backend::Sqlite {
        assert!(migrator(&m).current(&waiter).await.unwrap().is_empty());
        migrator(&m).upgrade(&waiter, &UpgradeTarget::Head).await.unwrap();
    }
    assert_eq!(migrator(&m).current(&waiter).await.unwrap(), ids(&[1]));
    holder.close().await;
    waiter.close().await;
}

/// A step that needs a table lock the application holds gives up after the DDL lock
/// timeout instead of queueing behind it (on PostgreSQL and MariaDB; SQLite's readers do not
/// block a writer in WAL mode, so there it runs).
async fn ddl_waits_are_bounded(url: String, backend: Backend) {
    let app = Database::connect(&url).await.unwrap();
    let m = Migrations::from_revisions(vec![
        rev(1, &[], "one", vec![sql("CREATE TABLE t1 (id INTEGER PRIMARY KEY)")], vec![]),
        rev(2, &[1], "two", vec![sql("ALTER TABLE t1 ADD COLUMN note VARCHAR(20)")], vec![]),
    ])
    .unwrap();
    let mig = migrator(&m).ddl_lock_timeout(Duration::from_secs(1));
    mig.upgrade(&app, &"+1".parse().unwrap()).await.unwrap();
    // The application reads t1 in a transaction that stays open.
    let reader = app.begin_with(almacen::TxOptions::new().read_only(backend == Backend::Sqlite)).await.unwrap();
    reader.fetch_all_raw("SELECT id FROM t1", params! {}).await.unwrap();
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(20), mig.upgrade(&app, &UpgradeTarget::Head)).await.expect("bounded");
    let waited = started.elapsed();
    reader.rollback().await.unwrap();
    if backend == Backend::Sqlite {
        outcome.unwrap();
        assert_eq!(mig.current(&app).await.unwrap(), ids(&[2]));
    } else {
        let e = outcome.unwrap_err();
        let MigrateError::Step(f) = &e else { panic!("{e}") };
        assert_eq!((f.revision.as_str(), f.step), (id(2).as_str(), 1), "{e}");
        assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(10), "{waited:?}");
        assert_eq!(mig.current(&app).await.unwrap(), ids(&[1]));
        // Once the application lets go, the revision goes through.
        mig.upgrade(&app, &UpgradeTarget::Head).await.unwrap();
        assert_eq!(mig.current(&app).await.unwrap(), ids(&[2]));
    }
    app.close().await;
}

/// A run leaves the application's connections as it found them: with one connection in
/// the pool, that connection ran the revisions (PostgreSQL, MariaDB) and its lock timeouts
/// are back to the defaults; on SQLite it still enforces foreign keys.
async fn session_settings_are_restored(url: String, backend: Backend) {
    let sep = if url.contains('?') { '&' } else { '?' };
    let db = Database::connect(&format!("{url}{sep}max_connections=1")).await.unwrap();
    let setting = async |db: &Database| -> String {
        let sql = match backend {
            Backend::Postgres => "SELECT current_setting('lock_timeout') AS v",
            Backend::MariaDb => "SELECT CONCAT(@@session.lock_wait_timeout, ' of ', @@global.lock_wait_timeout) AS v",
            Backend::Sqlite => "SELECT CAST(foreign_keys AS TEXT) AS v FROM pragma_foreign_keys",
        };
        db.fetch_one_raw(sql, params! {}).await.unwrap().get::<String>("v").unwrap()
    };
    let before = setting(&db).await;
    let m = line(3);
    let mig = migrator(&m).ddl_lock_timeout(Duration::from_secs(7)).lock_timeout(Duration::from_secs(9));
    mig.upgrade(&db, &UpgradeTarget::Head).await.unwrap();
    assert_eq!(setting(&db).await, before);
    mig.downgrade(&db, &"-1".parse().unwrap()).await.unwrap();
    assert_eq!(setting(&db).await, before);
    // A failing revision's run too.
    let failing = Migrations::from_revisions(vec![rev(
        1,
        &[],
        "bad",
        vec![sql("CREATE TABLE t1 (id INTEGER PRIMARY KEY)"), sql("SELECT * FROM nowhere")],
        vec![],
    )])
    .unwrap();
    migrator(&failing).ddl_lock_timeout(Duration::from_secs(7)).upgrade(&db, &UpgradeTarget::Head).await.unwrap_err();
    assert_eq!(setting(&db).await, before);
    match backend {
        Backend::Postgres => assert_eq!(before, "0"),
        Backend::MariaDb => assert!(!before.starts_with("7 "), "{before}"),
        Backend::Sqlite => assert_eq!(before, "1"),
    }
    db.close().await;
}

/// A run cancelled mid-revision (its future dropped) leaves no lock behind: another run
/// takes the lock at once, and the cancelled revision was not recorded.
async fn cancelled_run_lets_go_of_the_lock(url: String, backend: Backend) {
    let db = Database::connect(&url).await.unwrap();
    let slow = match backend {
        Backend::Postgres => "SELECT pg_sleep(5)",
        Backend::MariaDb => "SELECT SLEEP(5)",
        Backend::Sqlite => "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) SELECT COUNT(*) FROM c",
    };
    let slow_m =
        Migrations::from_revisions(vec![rev(1, &[], "slow", vec![sql("CREATE TABLE t1 (id INTEGER PRIMARY KEY)"), sql(slow)], vec![])])
            .unwrap();
    let cut = tokio::time::timeout(Duration::from_millis(700), migrator(&slow_m).upgrade(&db, &UpgradeTarget::Head)).await;
    assert!(cut.is_err(), "the slow revision was still running");
    let quick =
        Migrations::from_revisions(vec![rev(1, &[], "quick", vec![sql("CREATE TABLE t2 (id INTEGER PRIMARY KEY)")], vec![])]).unwrap();
    let started = Instant::now();
    let r = migrator(&quick).lock_timeout(Duration::from_secs(3)).upgrade(&db, &UpgradeTarget::Head).await.unwrap();
    assert_eq!(ran(&r), ids(&[1]));
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    // The cancelled revision's first step: rolled back, except on MariaDB, where DDL
    // commits as it runs.
    let expected: &[u32] = if backend == Backend::MariaDb { &[1, 2] } else { &[2] };
    assert_eq!(tables(&db, 2).await, expected);
    db.close().await;
}

// ---------------------------------------------------------------------------------------
// Embedded migrations, one call at start-up
// ---------------------------------------------------------------------------------------

const EMBEDDED: &[(&str, &str)] =
    almacen_migrate::embed_migrations!("runner_migrations", ["a1b2c3d4e5f6_embedded_a.toml", "b2c3d4e5f6a7_embedded_b.toml"]);

async fn embedded_upgrade_to_head(db: Database, _b: Backend) {
    let m = Migrations::from_embedded(EMBEDDED).unwrap();
    assert_eq!(m.history().iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["a1b2c3d4e5f6", "b2c3d4e5f6a7"]);
    let r = almacen_migrate::upgrade_to_head(&db, &m).await.unwrap();
    assert_eq!(r.revisions.len(), 2);
    assert!(has_table(&db, "embedded_a").await && has_table(&db, "embedded_b").await);
    db.execute_raw("INSERT INTO embedded_b (id, note) VALUES (1, 'x')", params! {}).await.unwrap();
    // Again, as the next start-up would: nothing to do.
    assert!(almacen_migrate::upgrade_to_head(&db, &m).await.unwrap().revisions.is_empty());
    let set: BTreeSet<String> = Migrator::new(&m).current(&db).await.unwrap().into_iter().collect();
    assert_eq!(set, BTreeSet::from(["b2c3d4e5f6a7".to_string()]));
}

per_backend!(
    up_down_stamp_current,
    unknown_applied_revision,
    offline_sql_is_what_runs,
    version_table_rewritten_by_a_step,
    failing_revision,
    unrenderable_step_runs_nothing,
    portable_operations_keep_the_rows,
    rebuild_refuses_undescribed_changes,
    rebuild_of_every_corpus_table_runs,
    not_null_column_on_rows_is_refused,
    broken_foreign_key_is_refused,
    branches_and_merge,
    embedded_upgrade_to_head
);
per_backend_url!(
    concurrent_upgraders,
    lock_timeout,
    ddl_waits_are_bounded,
    session_settings_are_restored,
    cancelled_run_lets_go_of_the_lock
);
