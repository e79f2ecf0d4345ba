//! Introspection on SQLite, PostgreSQL and MariaDB: tables almacen creates from models read
//! back equal to the models (zero differences, and the right values), every kind of change
//! made by hand with raw DDL is seen, and odd identifiers and quotes in defaults survive.

#[path = "../../almacen/tests/common/mod.rs"]
mod common;
mod corpus;

use almacen::Dialect;
use almacen::prelude::*;
use almacen_migrate::equivalence::{Difference, table_differences};
use almacen_migrate::introspect::{read_live_schema, read_schema, read_table};
use almacen_migrate::schema::{Column, Default as SqlDefault, ForeignKey, Index, OnDeleteAction, Table, Type};
use common::Backend;
use corpus::*;

fn dialect(b: Backend) -> Dialect {
    match b {
        Backend::Sqlite => Dialect::Sqlite,
        Backend::Postgres => Dialect::Postgres,
        Backend::MariaDb => Dialect::MySql,
    }
}

fn text(max_len: Option<u32>) -> Type {
    Type::Text { max_len }
}

fn sql(s: &str) -> Option<SqlDefault> {
    Some(SqlDefault::Sql(s.into()))
}

fn mood_variants() -> Type {
    Type::Enum { variants: vec!["calm".into(), "busy".into(), "on-hold".into()] }
}

fn column<'a>(t: &'a Table, name: &str) -> &'a Column {
    t.column(name).unwrap_or_else(|| panic!("table {} has no column {name}: {:?}", t.name, t.columns))
}

async fn live(db: &Database, name: &str) -> Table {
    read_table(db, name).await.unwrap().unwrap_or_else(|| panic!("table {name} was not read back"))
}

/// Every model's table, created by almacen and read back, has no difference from the model.
async fn round_trip_has_no_differences(db: Database, b: Backend) {
    let d = dialect(b);
    db.create_tables(CORPUS).await.unwrap();
    let schema = read_schema(&db).await.unwrap();
    let mut names: Vec<&str> = CORPUS.iter().map(|t| t.name).collect();
    names.sort();
    assert_eq!(schema.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), names, "every table, sorted, SQLite's own left out");
    for model in CORPUS {
        let model = Table::from_model(model);
        let live = schema.iter().find(|t| t.name == model.name).unwrap();
        let differences = table_differences(d, &model, live);
        assert!(differences.is_empty(), "{b:?}: table {} differs from its model: {differences:#?}\nlive: {live:#?}", model.name);
    }
}

/// The values read back, not only their comparison: types, nullability, generated keys.
async fn round_trip_types(db: Database, b: Backend) {
    db.create_tables(CORPUS).await.unwrap();
    let t = live(&db, "every_type").await;
    let sqlite = b == Backend::Sqlite;
    let id = column(&t, "id");
    assert_eq!((id.ty.clone(), id.nullable, id.auto, id.default.clone()), (Type::BigInt, false, true, None));
    assert_eq!(t.primary_key, ["id"]);
    let expect = [
        ("small", Type::SmallInt),
        ("int", Type::Integer),
        ("big", Type::BigInt),
        // SQLite stores f32 and f64 alike (REAL).
        ("float", if sqlite { Type::Double } else { Type::Float }),
        ("double", Type::Double),
        ("price", Type::Decimal { precision: 12, scale: 2 }),
        ("wide", Type::Decimal { precision: 24, scale: 6 }),
        ("flag", Type::Bool),
        ("code", text(Some(40))),
        ("body", text(None)),
        ("uid", Type::Uuid),
        // SQLite stores timestamps, dates and times as TEXT.
        ("at", if sqlite { text(None) } else { Type::Timestamp }),
        ("day", if sqlite { text(None) } else { Type::Date }),
        ("clock", if sqlite { text(None) } else { Type::Time }),
        ("doc", Type::Json),
        ("data", Type::Bytes),
        ("mood", mood_variants()),
        ("as_text", text(None)),
    ];
    for (name, ty) in expect {
        let c = column(&t, name);
        assert_eq!(c.ty, ty, "{b:?}: type of {name}");
        assert!(!c.nullable && !c.auto, "{b:?}: {name} is NOT NULL and not generated: {c:?}");
        let n = format!("{name}_n");
        if let Some(c) = t.column(&n) {
            assert_eq!(c.ty, ty, "{b:?}: type of {n}");
            assert!(c.nullable, "{b:?}: {n} is nullable");
        }
    }
    assert_eq!(column(&t, "counter").default, sql("0"));
    assert_eq!(
        t.indexes,
        [
            Index { name: "ix_every_type_counter".into(), columns: vec!["counter".into()], unique: false },
            Index { name: "uq_every_type_code".into(), columns: vec!["code".into()], unique: true },
        ],
        "{b:?}"
    );

    let s = live(&db, "seats").await;
    assert_eq!(s.primary_key, ["hall", "row_no"], "{b:?}: key in key order");
    let mut indexes = s.indexes.clone();
    indexes.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        indexes,
        [
            Index { name: "ix_seats_row_no_hall".into(), columns: vec!["row_no".into(), "hall".into()], unique: false },
            Index { name: "uq_seats_label_row_no".into(), columns: vec!["label".into(), "row_no".into()], unique: true },
        ],
        "{b:?}: the key's own index is not listed; each index once"
    );
    assert_eq!(
        s.foreign_keys,
        [ForeignKey {
            name: "fk_seats_owner".into(),
            column: "owner".into(),
            ref_table: "every_type".into(),
            ref_column: "id".into(),
            on_delete: OnDeleteAction::Cascade
        }],
        "{b:?}"
    );
}

/// Defaults read back as each dialect stores them, tidied.
async fn round_trip_defaults(db: Database, b: Backend) {
    db.create_tables(CORPUS).await.unwrap();
    let t = live(&db, "drafts").await;
    let default = |name: &str| column(&t, name).default.clone();
    let id = column(&t, "id");
    assert!(id.auto && id.default.is_none() && id.ty == Type::Integer, "{b:?}: {id:?}");
    assert_eq!(default("revision"), sql("0"));
    assert_eq!(default("state"), sql("'draft'"));
    assert_eq!(default("mood"), sql("'on-hold'"));
    assert_eq!(default("views"), sql("7"));
    assert_eq!(default("quoted"), sql("'it''s'"), "{b:?}: a quote in a default");
    assert_eq!(default("meta"), sql("'{}'"));
    for now in ["created_at", "created_on", "created_tod"] {
        assert_eq!(default(now), Some(SqlDefault::Now), "{b:?}: {now}");
    }
    // Each dialect's own spelling of what the model wrote.
    let (pinned, visible, below, amount, ratio) = match b {
        Backend::Sqlite => ("FALSE", "TRUE", "-1", "0", "1.5"),
        Backend::Postgres => ("false", "true", "'-1'", "0", "1.5"),
        Backend::MariaDb => ("0", "1", "-1", "0.00", "1.5"),
    };
    assert_eq!(default("pinned"), sql(pinned), "{b:?}");
    assert_eq!(default("visible"), sql(visible), "{b:?}");
    assert_eq!(default("below"), sql(below), "{b:?}");
    assert_eq!(default("amount"), sql(amount), "{b:?}");
    assert_eq!(default("ratio"), sql(ratio), "{b:?}");
}

/// Mixed case and spaces in table, column, index and constraint names; quotes in defaults.
async fn odd_identifiers_and_quotes(db: Database, b: Backend) {
    let d = dialect(b);
    db.create_tables(&[Odd::TABLE]).await.unwrap();
    let t = live(&db, "Odd Table").await;
    assert_eq!(t.name, "Odd Table");
    assert_eq!(
        t.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["Row Id", "Mixed Case", "with space", "Parent", "Tone Of Voice"]
    );
    let tone = column(&t, "Tone Of Voice");
    assert_eq!(tone.ty, Type::Enum { variants: vec!["plain".into(), "it's".into()] }, "{b:?}");
    assert_eq!(tone.default, sql("'it''s'"), "{b:?}");
    assert_eq!(t.primary_key, ["Row Id"]);
    assert_eq!(column(&t, "Mixed Case").default, sql("'it''s'"), "{b:?}");
    assert_eq!(column(&t, "with space").default, sql(r#"'a "quoted" word, isn''t it'"#), "{b:?}");
    let mut indexes = t.indexes.clone();
    indexes.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        indexes,
        [
            Index {
                name: "ix_Odd Table_Mixed Case_with space".into(),
                columns: vec!["Mixed Case".into(), "with space".into()],
                unique: false
            },
            Index { name: "uq_Odd Table_Mixed Case".into(), columns: vec!["Mixed Case".into()], unique: true },
        ],
        "{b:?}"
    );
    assert_eq!(
        t.foreign_keys,
        [ForeignKey {
            name: "fk_Odd Table_Parent".into(),
            column: "Parent".into(),
            ref_table: "Odd Table".into(),
            ref_column: "Row Id".into(),
            on_delete: OnDeleteAction::SetNull
        }],
        "{b:?}"
    );
    let differences = table_differences(d, &Table::from_model(Odd::TABLE), &t);
    assert!(differences.is_empty(), "{b:?}: {differences:#?}");
    // PostgreSQL's quoted names are case-sensitive; SQLite's are not.
    match b {
        Backend::Postgres => assert!(read_table(&db, "odd table").await.unwrap().is_none()),
        Backend::Sqlite => assert_eq!(read_table(&db, "odd table").await.unwrap().map(|t| t.name), Some("Odd Table".into())),
        // MariaDB follows the server's lower_case_table_names.
        Backend::MariaDb => {}
    }
    assert!(read_table(&db, "no such table").await.unwrap().is_none());
}

/// A table written by hand, in spellings other than almacen's.
#[derive(Model, Debug, Clone)]
#[model(table = "hand")]
struct Hand {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40, server_default = "'x'")]
    name: String,
    ratio: Option<f64>,
    #[model(server_default = now)]
    at: Option<DateTime<Utc>>,
    #[model(server_default = true)]
    flag: Option<bool>,
}

/// Tables written by hand in each dialect's other spellings of the same types and defaults
/// (`bigserial`, `character varying`, `double precision`, `now()`, `DEFAULT TRUE`; on
/// SQLite a `VARCHAR` and `DOUBLE PRECISION` declared type and bare identifiers in the
/// CHECKs) match the model: no false positives.
async fn other_spellings_match(db: Database, b: Backend) {
    let ddl = match b {
        Backend::Postgres => {
            "CREATE TABLE hand (id bigserial PRIMARY KEY, name character varying(40) NOT NULL DEFAULT 'x', \
             ratio double precision, at timestamp(6) with time zone DEFAULT now(), flag boolean DEFAULT TRUE)"
        }
        Backend::MariaDb => {
            "CREATE TABLE hand (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) NOT NULL DEFAULT 'x', \
             ratio DOUBLE PRECISION, at DATETIME(6) DEFAULT NOW(6), flag BOOLEAN DEFAULT TRUE CHECK (flag IN (0, 1)))"
        }
        Backend::Sqlite => {
            "CREATE TABLE hand (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(40) NOT NULL DEFAULT 'x' CHECK (length(name) <= 40), \
             ratio DOUBLE PRECISION, at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'), \
             flag INTEGER DEFAULT TRUE CHECK (flag IN (0,1)))"
        }
    };
    db.execute_raw(ddl, params! {}).await.unwrap();
    let t = live(&db, "hand").await;
    assert!(column(&t, "id").auto, "{b:?}: {:?}", column(&t, "id"));
    assert_eq!(column(&t, "ratio").ty, Type::Double, "{b:?}");
    assert_eq!(column(&t, "at").default, Some(SqlDefault::Now), "{b:?}");
    let differences = table_differences(dialect(b), &Table::from_model(Hand::TABLE), &t);
    assert!(differences.is_empty(), "{b:?}: {differences:#?}\nlive: {t:#?}");
}

// ---------------------------------------------------------------------------------------
// Changes made by hand.
// ---------------------------------------------------------------------------------------

/// Raw DDL for one change, per dialect. On SQLite, which cannot alter most of a table, a
/// change is a rewrite of the `CREATE TABLE` text: (from, to) replacements.
struct Change {
    what: &'static str,
    postgres: &'static [&'static str],
    mariadb: &'static [&'static str],
    sqlite: Sqlite,
}

/// What the differences after a change must be.
type Expected = Box<dyn Fn(&[Difference]) -> bool>;

enum Sqlite {
    Ddl(&'static [&'static str]),
    Rewrite(&'static [(&'static str, &'static str)]),
}

/// Rebuild `items` from its `CREATE TABLE` text with `replacements` made (the table is empty),
/// with its indexes.
async fn sqlite_rewrite(db: &Database, replacements: &[(&str, &str)]) {
    let row = db.fetch_one_raw("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'items'", params! {}).await.unwrap();
    let mut create: String = row.get("sql").unwrap();
    for (from, to) in replacements {
        assert!(create.contains(from), "the CREATE TABLE text has {from:?}: {create}");
        create = create.replace(from, to);
    }
    let indexes = db
        .fetch_all_raw("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items' AND sql IS NOT NULL", params! {})
        .await
        .unwrap();
    db.execute_raw("DROP TABLE items", params! {}).await.unwrap();
    db.execute_raw(&create, params! {}).await.unwrap();
    for ix in indexes {
        let sql: String = ix.get("sql").unwrap();
        db.execute_raw(&sql, params! {}).await.unwrap();
    }
}

async fn apply(db: &Database, b: Backend, change: &Change) {
    let statements: &[&str] = match (b, &change.sqlite) {
        (Backend::Postgres, _) => change.postgres,
        (Backend::MariaDb, _) => change.mariadb,
        (Backend::Sqlite, Sqlite::Ddl(s)) => s,
        (Backend::Sqlite, Sqlite::Rewrite(r)) => return sqlite_rewrite(db, r).await,
    };
    for s in statements {
        db.execute_raw(s, params! {}).await.unwrap_or_else(|e| panic!("{b:?}: {}: {s}: {e}", change.what));
    }
}

/// Make each change to a freshly created `items`, and check that exactly the expected
/// differences are found.
async fn hand_made_changes_are_seen(db: Database, b: Backend) {
    let d = dialect(b);
    let model = Table::from_model(Item::TABLE);
    let cases: Vec<(Change, Expected)> = vec![
        (
            Change {
                what: "column added",
                postgres: &["ALTER TABLE items ADD COLUMN extra INTEGER"],
                mariadb: &["ALTER TABLE items ADD COLUMN extra INT"],
                sqlite: Sqlite::Ddl(&["ALTER TABLE items ADD COLUMN extra INTEGER"]),
            },
            Box::new(|d| matches!(d, [Difference::ExtraColumn { column }] if column.name == "extra" && column.nullable)),
        ),
        (
            Change {
                what: "column dropped",
                postgres: &["ALTER TABLE items DROP COLUMN note"],
                mariadb: &["ALTER TABLE items DROP COLUMN note"],
                sqlite: Sqlite::Ddl(&["ALTER TABLE items DROP COLUMN note"]),
            },
            Box::new(|d| matches!(d, [Difference::MissingColumn { column }] if column.name == "note")),
        ),
        (
            Change {
                what: "type changed",
                postgres: &["ALTER TABLE items ALTER COLUMN name TYPE VARCHAR(80)"],
                mariadb: &["ALTER TABLE items MODIFY name VARCHAR(80) NOT NULL"],
                sqlite: Sqlite::Rewrite(&[(r#"length("name") <= 40"#, r#"length("name") <= 80"#)]),
            },
            Box::new(
                |d| matches!(d, [Difference::Type { column, model: Type::Text { max_len: Some(40) }, live: Type::Text { max_len: Some(80) } }] if column == "name"),
            ),
        ),
        (
            Change {
                what: "integer widened",
                postgres: &["ALTER TABLE items ALTER COLUMN qty TYPE BIGINT"],
                mariadb: &["ALTER TABLE items MODIFY qty BIGINT NOT NULL DEFAULT 0"],
                sqlite: Sqlite::Rewrite(&[(r#" AND "qty" BETWEEN -2147483648 AND 2147483647"#, "")]),
            },
            Box::new(|d| matches!(d, [Difference::Type { column, model: Type::Integer, live: Type::BigInt }] if column == "qty")),
        ),
        (
            Change {
                what: "nullability changed",
                postgres: &["ALTER TABLE items ALTER COLUMN name DROP NOT NULL"],
                mariadb: &["ALTER TABLE items MODIFY name VARCHAR(40) NULL"],
                sqlite: Sqlite::Rewrite(&[(r#""name" TEXT NOT NULL"#, r#""name" TEXT"#)]),
            },
            Box::new(|d| matches!(d, [Difference::Nullability { column, model: false, live: true }] if column == "name")),
        ),
        (
            Change {
                what: "default changed",
                postgres: &["ALTER TABLE items ALTER COLUMN qty SET DEFAULT 5"],
                mariadb: &["ALTER TABLE items ALTER COLUMN qty SET DEFAULT 5"],
                sqlite: Sqlite::Rewrite(&[("DEFAULT (0)", "DEFAULT (5)")]),
            },
            Box::new(|d| matches!(d, [Difference::Default { column, live: Some(SqlDefault::Sql(s)), .. }] if column == "qty" && s == "5")),
        ),
        (
            Change {
                what: "default dropped",
                postgres: &["ALTER TABLE items ALTER COLUMN qty DROP DEFAULT"],
                mariadb: &["ALTER TABLE items ALTER COLUMN qty DROP DEFAULT"],
                sqlite: Sqlite::Rewrite(&[(" DEFAULT (0)", "")]),
            },
            Box::new(|d| matches!(d, [Difference::Default { column, live: None, .. }] if column == "qty")),
        ),
        (
            Change {
                what: "index added",
                postgres: &["CREATE INDEX ix_extra ON items (qty, name)"],
                mariadb: &["CREATE INDEX ix_extra ON items (qty, name)"],
                sqlite: Sqlite::Ddl(&["CREATE INDEX ix_extra ON items (qty, name)"]),
            },
            Box::new(
                |d| matches!(d, [Difference::ExtraIndex { index }] if index.name == "ix_extra" && index.columns == ["qty", "name"] && !index.unique),
            ),
        ),
        (
            Change {
                what: "unique constraint added",
                postgres: &["ALTER TABLE items ADD CONSTRAINT uq_extra UNIQUE (name)"],
                mariadb: &["ALTER TABLE items ADD CONSTRAINT uq_extra UNIQUE (name)"],
                sqlite: Sqlite::Rewrite(&[("\n)", ",\n  CONSTRAINT \"uq_extra\" UNIQUE (\"name\")\n)")]),
            },
            Box::new(
                |d| matches!(d, [Difference::ExtraIndex { index }] if index.name == "uq_extra" && index.columns == ["name"] && index.unique),
            ),
        ),
        (
            Change {
                what: "index dropped",
                postgres: &["DROP INDEX ix_items_cat"],
                mariadb: &["DROP INDEX ix_items_cat ON items"],
                sqlite: Sqlite::Ddl(&["DROP INDEX ix_items_cat"]),
            },
            Box::new(|d| matches!(d, [Difference::MissingIndex { index }] if index.name == "ix_items_cat")),
        ),
        (
            Change {
                what: "unique constraint dropped",
                postgres: &["ALTER TABLE items DROP CONSTRAINT uq_items_sku"],
                mariadb: &["DROP INDEX uq_items_sku ON items"],
                sqlite: Sqlite::Rewrite(&[(",\n  CONSTRAINT \"uq_items_sku\" UNIQUE (\"sku\")", "")]),
            },
            Box::new(|d| matches!(d, [Difference::MissingIndex { index }] if index.name == "uq_items_sku" && index.unique)),
        ),
        (
            Change {
                what: "foreign key dropped",
                postgres: &["ALTER TABLE items DROP CONSTRAINT fk_items_team_id"],
                mariadb: &["ALTER TABLE items DROP FOREIGN KEY fk_items_team_id"],
                sqlite: Sqlite::Rewrite(&[(
                    ",\n  CONSTRAINT \"fk_items_team_id\" FOREIGN KEY (\"team_id\") REFERENCES \"teams\" (\"id\") ON DELETE SET NULL",
                    "",
                )]),
            },
            Box::new(|d| matches!(d, [Difference::MissingForeignKey { foreign_key }] if foreign_key.name == "fk_items_team_id")),
        ),
        (
            Change {
                what: "foreign key added",
                postgres: &["ALTER TABLE items ADD CONSTRAINT fk_extra FOREIGN KEY (owner_id) REFERENCES teams (id) ON DELETE CASCADE"],
                // InnoDB adds an index of its own for the key: not an index of the table's.
                mariadb: &["ALTER TABLE items ADD CONSTRAINT fk_extra FOREIGN KEY (owner_id) REFERENCES teams (id) ON DELETE CASCADE"],
                sqlite: Sqlite::Rewrite(&[(
                    "\n)",
                    ",\n  CONSTRAINT \"fk_extra\" FOREIGN KEY (\"owner_id\") REFERENCES \"teams\" (\"id\") ON DELETE CASCADE\n)",
                )]),
            },
            Box::new(|d| {
                matches!(d, [Difference::ExtraForeignKey { foreign_key: k }]
                    if k.name == "fk_extra" && k.column == "owner_id" && k.ref_table == "teams" && k.ref_column == "id" && k.on_delete == OnDeleteAction::Cascade)
            }),
        ),
        (
            Change {
                what: "foreign key's ON DELETE changed",
                postgres: &[
                    "ALTER TABLE items DROP CONSTRAINT fk_items_team_id",
                    "ALTER TABLE items ADD CONSTRAINT fk_items_team_id FOREIGN KEY (team_id) REFERENCES teams (id) ON DELETE CASCADE",
                ],
                mariadb: &[
                    "ALTER TABLE items DROP FOREIGN KEY fk_items_team_id",
                    "ALTER TABLE items ADD CONSTRAINT fk_items_team_id FOREIGN KEY (team_id) REFERENCES teams (id) ON DELETE CASCADE",
                ],
                sqlite: Sqlite::Rewrite(&[("ON DELETE SET NULL", "ON DELETE CASCADE")]),
            },
            Box::new(|d| {
                matches!(d, [Difference::MissingForeignKey { foreign_key: m }, Difference::ExtraForeignKey { foreign_key: l }]
                    if m.on_delete == OnDeleteAction::SetNull && l.on_delete == OnDeleteAction::Cascade)
            }),
        ),
        (
            Change {
                what: "enum value added",
                postgres: &[
                    "ALTER TABLE items DROP CONSTRAINT items_status_check",
                    "ALTER TABLE items ADD CONSTRAINT items_status_check CHECK (status IN ('calm', 'busy', 'on-hold', 'angry'))",
                ],
                // A column's own CHECK goes with a MODIFY of the column; this one is the table's.
                mariadb: &[
                    "ALTER TABLE items MODIFY status VARCHAR(7) NOT NULL",
                    "ALTER TABLE items ADD CONSTRAINT status_values CHECK (status IN ('calm', 'busy', 'on-hold', 'angry'))",
                ],
                sqlite: Sqlite::Rewrite(&[("'on-hold')", "'on-hold', 'angry')")]),
            },
            Box::new(|d| {
                matches!(d, [Difference::Type { column, model: Type::Enum { .. }, live: Type::Enum { variants } }]
                    if column == "status" && variants == &["calm", "busy", "on-hold", "angry"])
            }),
        ),
        (
            Change {
                what: "enum value removed",
                postgres: &[
                    "ALTER TABLE items DROP CONSTRAINT items_status_check",
                    "ALTER TABLE items ADD CONSTRAINT items_status_check CHECK (status IN ('calm'))",
                ],
                mariadb: &["ALTER TABLE items MODIFY status VARCHAR(7) NOT NULL CHECK (status IN ('calm'))"],
                sqlite: Sqlite::Rewrite(&[("IN ('calm', 'busy', 'on-hold')", "IN ('calm')")]),
            },
            Box::new(
                |d| matches!(d, [Difference::Type { column, model: Type::Enum { .. }, live: Type::Enum { variants } }] if column == "status" && variants == &["calm"]),
            ),
        ),
    ];
    for (change, expected) in &cases {
        db.drop_tables(&[Team::TABLE, Item::TABLE]).await.unwrap();
        db.create_tables(&[Team::TABLE, Item::TABLE]).await.unwrap();
        let before = table_differences(d, &model, &live(&db, "items").await);
        assert!(before.is_empty(), "{b:?}: before {}: {before:#?}", change.what);
        apply(&db, b, change).await;
        let differences = table_differences(d, &model, &live(&db, "items").await);
        assert!(expected(&differences), "{b:?}: {}: unexpected differences {differences:#?}", change.what);
    }
}

/// Indexes an `Index` cannot say, made by hand on `items`, per backend: (the SQL, the
/// index's name, a word its reason has, a word its definition has).
fn odd_indexes(b: Backend) -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    match b {
        Backend::Postgres => vec![
            ("CREATE INDEX ix_expr ON items (lower(name))", "ix_expr", "expression", "lower"),
            ("CREATE UNIQUE INDEX ix_partial ON items (sku) WHERE qty > 0", "ix_partial", "partial", "WHERE"),
            ("CREATE INDEX ix_include ON items (cat) INCLUDE (qty)", "ix_include", "INCLUDE", "INCLUDE"),
            ("CREATE INDEX ix_hash ON items USING hash (name)", "ix_hash", "hash", "hash"),
            ("CREATE INDEX ix_desc ON items (qty DESC)", "ix_desc", "descending", "DESC"),
            ("CREATE INDEX ix_opclass ON items (name text_pattern_ops)", "ix_opclass", "operator class", "text_pattern_ops"),
            (r#"CREATE INDEX ix_collate ON items (name COLLATE "C")"#, "ix_collate", "collation", "COLLATE"),
        ],
        Backend::Sqlite => vec![
            ("CREATE INDEX ix_expr ON items (lower(name))", "ix_expr", "expression", "lower"),
            ("CREATE UNIQUE INDEX ix_partial ON items (sku) WHERE qty > 0", "ix_partial", "partial", "WHERE"),
            ("CREATE INDEX ix_desc ON items (qty DESC)", "ix_desc", "descending", "DESC"),
        ],
        Backend::MariaDb => vec![
            ("CREATE INDEX ix_prefix ON items (name(5))", "ix_prefix", "prefix", "(5)"),
            ("CREATE INDEX ix_desc ON items (qty DESC)", "ix_desc", "descending", "DESC"),
            ("CREATE FULLTEXT INDEX ix_fulltext ON items (name)", "ix_fulltext", "full-text", "FULLTEXT"),
        ],
    }
}

/// Indexes an `Index` cannot say are left out of the table (which still equals its model)
/// and reported, with why and how they are defined; a plain index made by hand is read.
async fn indexes_an_index_cannot_say_are_left_out(db: Database, b: Backend) {
    let d = dialect(b);
    db.create_tables(&[Team::TABLE, Item::TABLE]).await.unwrap();
    let odd = odd_indexes(b);
    for (sql, ..) in &odd {
        db.execute_raw(sql, params! {}).await.unwrap_or_else(|e| panic!("{b:?}: {sql}: {e}"));
    }
    db.execute_raw("CREATE INDEX ix_plain ON items (qty, cat)", params! {}).await.unwrap();
    let mut model = Table::from_model(Item::TABLE);
    model.indexes.push(Index { name: "ix_plain".into(), columns: vec!["qty".into(), "cat".into()], unique: false });
    let items = live(&db, "items").await;
    let differences = table_differences(d, &model, &items);
    assert!(differences.is_empty(), "{b:?}: only the plain index is read: {differences:#?}");

    let schema = read_live_schema(&db).await.unwrap();
    assert_eq!(schema.tables, read_schema(&db).await.unwrap(), "{b:?}");
    let mut expected: Vec<&str> = odd.iter().map(|(_, name, ..)| *name).collect();
    expected.sort();
    let names: Vec<&str> = schema.skipped.iter().map(|ix| ix.name.as_str()).collect();
    assert_eq!(names, expected, "{b:?}: each reported once, sorted");
    for (_, name, reason, definition) in &odd {
        let ix = schema.skipped.iter().find(|ix| ix.name == *name).unwrap();
        assert_eq!(ix.table, "items", "{b:?}");
        assert!(ix.reason.contains(reason), "{b:?}: {name} is {reason}: {ix:?}");
        assert!(ix.definition.contains(definition), "{b:?}: {name}'s definition has {definition}: {ix:?}");
    }
}

per_backend!(
    round_trip_has_no_differences,
    round_trip_types,
    round_trip_defaults,
    odd_identifiers_and_quotes,
    other_spellings_match,
    hand_made_changes_are_seen,
    indexes_an_index_cannot_say_are_left_out,
);
