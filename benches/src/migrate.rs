//! `--migrate`: how long autogenerate takes on a 100-table schema (issue 15 asks for under a
//! second), per backend: the models' 100 tables created through a rendered revision, then
//! `autogenerate_tables` (read the live schema, compare, check the plan) with the models
//! unchanged (an empty plan) and with one column added to every table (100 operations).
//! Each table has 8 columns of assorted types, a unique column, an index and, from the
//! second on, a foreign key to the one before it.

use crate::{Args, scratch_server_db};
use almacen::{Database, Executor};
use almacen_migrate::autogenerate::{Options, autogenerate_tables};
use almacen_migrate::ops::Operation;
use almacen_migrate::render::render;
use almacen_migrate::schema::{Column, Default as ColumnDefault, ForeignKey, Index, OnDeleteAction, Table, Type};
use std::time::{Duration, Instant};

const TABLES: usize = 100;

fn column(name: &str, ty: Type, nullable: bool) -> Column {
    Column { name: name.into(), ty, nullable, auto: false, default: None }
}

/// Table `i` of the schema.
fn table(i: usize) -> Table {
    let name = format!("t{i:03}");
    let mut columns = vec![
        Column { auto: true, ..column("id", Type::BigInt, false) },
        column("code", Type::Text { max_len: Some(40) }, false),
        column("label", Type::Text { max_len: None }, true),
        Column { default: Some(ColumnDefault::Sql("0".into())), ..column("qty", Type::Integer, false) },
        column("price", Type::Decimal { precision: 12, scale: 2 }, true),
        Column { default: Some(ColumnDefault::Now), ..column("created", Type::Timestamp, false) },
        column("state", Type::Enum { variants: vec!["new".into(), "done".into()] }, false),
    ];
    let mut foreign_keys = Vec::new();
    if i > 0 {
        columns.push(column("parent_id", Type::BigInt, true));
        foreign_keys.push(ForeignKey {
            name: format!("fk_{name}_parent_id"),
            column: "parent_id".into(),
            ref_table: format!("t{:03}", i - 1),
            ref_column: "id".into(),
            on_delete: OnDeleteAction::SetNull,
        });
    } else {
        columns.push(column("parent_id", Type::BigInt, true));
    }
    Table {
        indexes: vec![
            Index { name: format!("uq_{name}_code"), columns: vec!["code".into()], unique: true },
            Index { name: format!("ix_{name}_state_qty"), columns: vec!["state".into(), "qty".into()], unique: false },
        ],
        name,
        columns,
        primary_key: vec!["id".into()],
        foreign_keys,
    }
}

async fn create(db: &Database, tables: &[Table]) {
    let mut schema = Vec::new();
    for t in tables {
        for sql in render(&Operation::CreateTable { table: t.clone() }, db.dialect(), &mut schema).unwrap() {
            db.execute_statement(almacen::Statement::new(sql, Vec::new())).await.unwrap();
        }
    }
}

/// The median of `rounds` runs of autogenerate against `models`, and the plan's length.
async fn time_autogenerate(db: &Database, models: &[Table], rounds: usize) -> (Duration, usize) {
    let mut times = Vec::with_capacity(rounds);
    let mut ops = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        let plan = autogenerate_tables(db, models, &Options::default()).await.unwrap();
        times.push(started.elapsed());
        ops = plan.upgrade.len();
    }
    times.sort();
    (times[times.len() / 2], ops)
}

async fn measure(label: &str, db: &Database, rounds: usize) {
    let models: Vec<Table> = (0..TABLES).map(table).collect();
    create(db, &models).await;
    let (same, none) = time_autogenerate(db, &models, rounds).await;
    let mut changed = models.clone();
    for t in &mut changed {
        t.columns.push(column("note", Type::Text { max_len: None }, true));
    }
    let (added, ops) = time_autogenerate(db, &changed, rounds).await;
    assert_eq!(none, 0, "{label}: a schema created from the models must compare equal");
    assert_eq!(ops, TABLES);
    println!("| {label:<10} | {:>12.1} | {:>16.1} |", same.as_secs_f64() * 1e3, added.as_secs_f64() * 1e3);
}

/// Run the autogenerate measurement on the backends asked for.
pub(crate) async fn run(args: &Args) {
    println!("\nautogenerate on {TABLES} tables (8 columns, 2 indexes, a foreign key each): median of {} runs, ms", args.rounds);
    println!("| backend    | no change ms | +1 column each ms |");
    println!("|------------|-------------:|------------------:|");
    for backend in &args.backends {
        match backend.as_str() {
            "sqlite" => {
                let path = std::env::temp_dir().join(format!("almacen-bench-migrate-{}.db", uuid::Uuid::new_v4().simple()));
                let db = Database::connect(&format!("sqlite://{}", path.display())).await.unwrap();
                measure("SQLite", &db, args.rounds).await;
                db.close().await;
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            "postgres" | "mariadb" => {
                let pg = backend == "postgres";
                let admin_url = if pg { &args.postgres_url } else { &args.mysql_url };
                if let Some((url, admin, drop)) = scratch_server_db(admin_url, pg).await {
                    let db = Database::connect(&url).await.unwrap();
                    measure(if pg { "PostgreSQL" } else { "MariaDB" }, &db, args.rounds).await;
                    db.close().await;
                    admin.execute_raw(&drop, almacen::params! {}).await.unwrap();
                    admin.close().await;
                }
            }
            _ => {}
        }
    }
}
