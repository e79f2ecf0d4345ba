//! Autogenerate: compare the models' tables with the live database and plan the operations
//! that bring the database to the models (`upgrade`) and back (`downgrade`).
//!
//! Sameness is decided by [`equivalence`](crate::equivalence) only, so a schema created
//! from the models plans zero operations on every dialect (no false positives), while
//! every real change is planned: tables created and dropped, columns added, dropped and
//! altered (type, enum values, nullability, server default, generated key), indexes and
//! unique constraints, foreign keys.
//!
//! What it never does on its own:
//!
//! - **Guess a rename.** A table or column rename is planned only when [`Options`] marks
//!   it; otherwise the change is a drop plus an add, and when the two look like a rename
//!   (a dropped and an added column of compatible types in one table, a new table with the
//!   columns of one that is not in the models) a [`Note`] above the drop says so, that the
//!   data will be lost, and how to mark it.
//! - **Touch tables the models do not own.** The version table ([`VERSION_TABLE`]) and the
//!   names and prefixes [`Options`] lists are ignored. Other tables that are not in the
//!   models are left alone and listed in [`Plan::untouched`], unless
//!   [`Options::owns_database`] says the models own the whole database. Alembic drops
//!   them; almacen does not by default, because a database shared with other services,
//!   extensions (PostGIS's `spatial_ref_sys`) or tables made by hand would lose them to
//!   the first `upgrade` of a revision nobody read closely. Dropping a table is one flag
//!   away; getting it back is not.
//!
//! Every plan is checked before it is returned: the upgrade is replayed with
//! [`ops::apply`](crate::ops::apply) on the live schema and must leave zero differences with the models, and
//! the downgrade replayed after it must give the live schema back. A plan that fails the
//! check is an [`AutogenError::Inconsistent`] (a bug here), never a wrong revision.

use crate::equivalence::{Difference, same_name, same_type, table_differences};
use crate::introspect::read_schema;
use crate::ops::{Operation, apply};
use crate::schema::{Column, ForeignKey, Table, Type, from_models};
use almacen::{Dialect, Executor, TableMeta, params};

/// The table in which the runner records applied revisions: never part of a plan.
pub const VERSION_TABLE: &str = "almacen_version";

/// A column rename the user marked: in `table` (as the models name it), `from` becomes
/// `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRename {
    /// The table, under the models' name.
    pub table: String,
    /// The column's name in the database.
    pub from: String,
    /// The column's name in the models.
    pub to: String,
}

/// What autogenerate cannot tell from the models and the database: renames, the tables
/// the models do not own, and whether they own the whole database.
///
/// ```
/// use almacen_migrate::autogenerate::Options;
/// let options = Options::default()
///     .mark_rename("customers -> clients").unwrap()
///     .mark_rename("clients.mail -> email").unwrap()
///     .ignore_prefix("billing_");
/// assert_eq!(options.table_renames, [("customers".to_string(), "clients".to_string())]);
/// assert_eq!(options.column_renames[0].table, "clients");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Table renames, `(old, new)`.
    pub table_renames: Vec<(String, String)>,
    /// Column renames.
    pub column_renames: Vec<ColumnRename>,
    /// Tables ignored by name (other services' tables).
    pub ignore_tables: Vec<String>,
    /// Tables ignored by name prefix.
    pub ignore_prefixes: Vec<String>,
    /// The models own the whole database: a table that is neither in the models nor
    /// ignored is dropped. Off by default (see the module's documentation).
    pub owns_database: bool,
}

impl Options {
    /// Mark table `from` as renamed to `to`.
    pub fn rename_table(mut self, from: &str, to: &str) -> Self {
        self.table_renames.push((from.into(), to.into()));
        self
    }

    /// Mark column `from` of `table` (the models' table name) as renamed to `to`.
    pub fn rename_column(mut self, table: &str, from: &str, to: &str) -> Self {
        self.column_renames.push(ColumnRename { table: table.into(), from: from.into(), to: to.into() });
        self
    }

    /// Mark a rename written as on the command line: `old -> new` for a table,
    /// `table.old -> new` for a column (`table` as the models name it).
    pub fn mark_rename(self, spec: &str) -> Result<Self, AutogenError> {
        let bad = || AutogenError::Options(format!("rename \"{spec}\": write `old -> new` for a table or `table.old -> new` for a column"));
        let (from, to) = spec.split_once("->").ok_or_else(bad)?;
        let (from, to) = (from.trim(), to.trim());
        if from.is_empty() || to.is_empty() || to.contains('.') {
            return Err(bad());
        }
        Ok(match from.split_once('.') {
            Some((table, column)) if !table.is_empty() && !column.is_empty() => self.rename_column(table, column, to),
            Some(_) => return Err(bad()),
            None => self.rename_table(from, to),
        })
    }

    /// Ignore the table `name`.
    pub fn ignore_table(mut self, name: &str) -> Self {
        self.ignore_tables.push(name.into());
        self
    }

    /// Ignore every table whose name starts with `prefix`.
    pub fn ignore_prefix(mut self, prefix: &str) -> Self {
        self.ignore_prefixes.push(prefix.into());
        self
    }

    /// Say that the models own the whole database (tables not in them are dropped).
    pub fn owning_database(mut self) -> Self {
        self.owns_database = true;
        self
    }

    /// Whether the live table `name` is someone else's: the version table, or one the
    /// options list (names and prefixes compared as the dialect compares names).
    ///
    /// ```
    /// use almacen::Dialect;
    /// use almacen_migrate::autogenerate::Options;
    /// let o = Options::default().ignore_prefix("billing_");
    /// assert!(o.ignores(Dialect::MySql, "Billing_Lines") && !o.ignores(Dialect::Postgres, "Billing_Lines"));
    /// assert!(o.ignores(Dialect::Sqlite, "almacen_version") && !o.ignores(Dialect::Sqlite, "users"));
    /// ```
    pub fn ignores(&self, d: Dialect, name: &str) -> bool {
        same_name(d, name, VERSION_TABLE)
            || self.ignore_tables.iter().any(|t| same_name(d, t, name))
            || self.ignore_prefixes.iter().any(|p| name.get(..p.len()).is_some_and(|head| same_name(d, head, p)))
    }
}

/// A warning for the revision file, written as a comment above upgrade operation `op`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The index in [`Plan::upgrade`] of the operation it belongs above.
    pub op: usize,
    /// The warning.
    pub text: String,
}

/// What autogenerate plans: the upgrade, the downgrade that exactly undoes it, warnings
/// for the file, and the live tables left alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The operations that bring the database to the models, in order.
    pub upgrade: Vec<Operation>,
    /// The operations that undo the upgrade, in order.
    pub downgrade: Vec<Operation>,
    /// Warnings, each attached to an upgrade operation.
    pub notes: Vec<Note>,
    /// Live tables not in the models (nor ignored) that the plan leaves alone because the
    /// models do not own the whole database.
    pub untouched: Vec<String>,
}

impl Plan {
    /// Whether the database already matches the models.
    pub fn is_empty(&self) -> bool {
        self.upgrade.is_empty()
    }

    /// The notes attached to upgrade operation `op`.
    pub fn notes_for(&self, op: usize) -> impl Iterator<Item = &str> {
        self.notes.iter().filter(move |n| n.op == op).map(|n| n.text.as_str())
    }
}

/// Why no plan was made.
#[derive(Debug, thiserror::Error)]
pub enum AutogenError {
    /// Reading the live schema (or counting rows) failed.
    #[error(transparent)]
    Database(#[from] almacen::Error),
    /// A marked rename does not fit the models and the database.
    #[error("{0}")]
    Options(String),
    /// A change no operation can make (a primary key change, a foreign key cycle).
    #[error("{0}")]
    Unsupported(String),
    /// A change that would fail at upgrade, or lose data silently, given the rows the
    /// table holds.
    #[error("{message}")]
    Refused {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The plan does not reach the models (or its downgrade does not come back): a bug in
    /// almacen-migrate, reported rather than written into a revision.
    #[error("autogenerate made an inconsistent plan (a bug in almacen-migrate, please report it): {0}")]
    Inconsistent(String),
}

// ---------------------------------------------------------------------------------------
// Entry points.
// ---------------------------------------------------------------------------------------

/// Read the live schema of `db` and plan the migration to `models`, refusing changes that
/// the rows in the database would make fail: a NOT NULL column without a default added to
/// a table with rows, a column made NOT NULL while it holds NULLs.
///
/// ```no_run
/// # async fn f(db: &almacen::Database, models: &[&almacen::TableMeta]) -> Result<(), almacen_migrate::autogenerate::AutogenError> {
/// use almacen_migrate::autogenerate::{Options, autogenerate};
/// let plan = autogenerate(db, models, &Options::default()).await?;
/// println!("{} operations", plan.upgrade.len());
/// # Ok(()) }
/// ```
pub async fn autogenerate(db: &impl Executor, models: &[&TableMeta], options: &Options) -> Result<Plan, AutogenError> {
    autogenerate_tables(db, &from_models(models), options).await
}

/// [`autogenerate`] for models given as neutral tables.
pub async fn autogenerate_tables(db: &impl Executor, models: &[Table], options: &Options) -> Result<Plan, AutogenError> {
    let live = read_schema(db).await?;
    let plan = compare(db.dialect(), models, &live, options)?;
    refuse_what_rows_break(db, &plan).await?;
    Ok(plan)
}

/// Plan the migration of the `live` tables to the `models`' on dialect `d` (pure: no
/// database). See the module's documentation for what is planned and checked.
///
/// ```
/// use almacen::Dialect;
/// use almacen_migrate::autogenerate::{Options, compare};
/// use almacen_migrate::ops::Operation;
/// use almacen_migrate::schema::{Column, Table, Type};
/// let id = Column { name: "id".into(), ty: Type::BigInt, nullable: false, auto: true, default: None };
/// let live = vec![Table { name: "t".into(), columns: vec![id], primary_key: vec!["id".into()], indexes: vec![], foreign_keys: vec![] }];
/// let mut models = live.clone();
/// models[0].columns.push(Column { name: "note".into(), ty: Type::Text { max_len: None }, nullable: true, auto: false, default: None });
/// let plan = compare(Dialect::Postgres, &models, &live, &Options::default()).unwrap();
/// assert!(matches!(&plan.upgrade[..], [Operation::AddColumn { column, .. }] if column.name == "note"));
/// assert!(matches!(&plan.downgrade[..], [Operation::DropColumn { column, .. }] if column == "note"));
/// assert!(compare(Dialect::Postgres, &live, &live, &Options::default()).unwrap().is_empty());
/// ```
pub fn compare(d: Dialect, models: &[Table], live: &[Table], options: &Options) -> Result<Plan, AutogenError> {
    let is_model = |name: &str| models.iter().any(|m| same_name(d, &m.name, name));
    // The tables the plan may look at: the models' and every live one not ignored.
    let live: Vec<Table> = live.iter().filter(|t| is_model(&t.name) || !options.ignores(d, &t.name)).cloned().collect();
    let mut planner = Planner { d, options, models, state: live.clone(), phases: Phases::default(), untouched: Vec::new() };
    planner.renames()?;
    planner.tables()?;
    let Planner { phases, untouched, .. } = planner;
    let (upgrade, notes) = phases.flatten();
    let downgrade = check(d, models, &live, &upgrade, &untouched)?;
    Ok(Plan { upgrade, downgrade, notes, untouched })
}

// ---------------------------------------------------------------------------------------
// Planning.
// ---------------------------------------------------------------------------------------

/// An operation with the warnings to write above it.
struct Step {
    op: Operation,
    notes: Vec<String>,
}

impl From<Operation> for Step {
    fn from(op: Operation) -> Self {
        Step { op, notes: Vec::new() }
    }
}

/// The upgrade in the order it must run: renames first (every later step names the new
/// names); foreign keys dropped before the tables, columns and indexes they use; columns
/// altered and added before the tables, indexes and keys that need them are created.
#[derive(Default)]
struct Phases {
    renames: Vec<Step>,
    drop_foreign_keys: Vec<Step>,
    drop_tables: Vec<Step>,
    drop_indexes: Vec<Step>,
    drop_columns: Vec<Step>,
    alter_columns: Vec<Step>,
    add_columns: Vec<Step>,
    create_tables: Vec<Step>,
    create_indexes: Vec<Step>,
    add_foreign_keys: Vec<Step>,
}

impl Phases {
    fn flatten(self) -> (Vec<Operation>, Vec<Note>) {
        let all = [
            self.renames,
            self.drop_foreign_keys,
            self.drop_tables,
            self.drop_indexes,
            self.drop_columns,
            self.alter_columns,
            self.add_columns,
            self.create_tables,
            self.create_indexes,
            self.add_foreign_keys,
        ];
        let mut ops = Vec::new();
        let mut notes = Vec::new();
        for step in all.into_iter().flatten() {
            notes.extend(step.notes.into_iter().map(|text| Note { op: ops.len(), text }));
            ops.push(step.op);
        }
        (ops, notes)
    }
}

struct Planner<'a> {
    d: Dialect,
    options: &'a Options,
    models: &'a [Table],
    /// The live tables, with the marked renames applied.
    state: Vec<Table>,
    phases: Phases,
    untouched: Vec<String>,
}

fn find<'t>(d: Dialect, tables: &'t [Table], name: &str) -> Option<&'t Table> {
    tables.iter().find(|t| same_name(d, &t.name, name))
}

impl Planner<'_> {
    fn has(&self, name: &str) -> bool {
        find(self.d, &self.state, name).is_some()
    }

    /// Push a marked rename and apply it to the state, so the rest of the plan compares
    /// the renamed table or column with the model's.
    fn rename(&mut self, op: Operation) -> Result<(), AutogenError> {
        apply(&mut self.state, &op).map_err(|e| AutogenError::Inconsistent(e.0))?;
        self.phases.renames.push(op.into());
        Ok(())
    }

    /// The marked renames. One already made (the new name is there, the old one not) is
    /// skipped, so a rename kept in the configuration does not fail the next revision.
    fn renames(&mut self) -> Result<(), AutogenError> {
        let d = self.d;
        for (from, to) in &self.options.table_renames {
            let model = find(d, self.models, to)
                .ok_or_else(|| AutogenError::Options(format!("table rename \"{from}\" -> \"{to}\": the models have no table \"{to}\"")))?;
            let old = find(d, &self.state, from).map(|t| t.name.clone());
            match (old, self.has(to)) {
                (Some(old), false) => self.rename(Operation::RenameTable { from: old, to: model.name.clone() })?,
                (None, true) => {}
                (Some(_), true) => {
                    return Err(AutogenError::Options(format!(
                        "table rename \"{from}\" -> \"{to}\": the database has both tables; drop one or remove the mark"
                    )));
                }
                (None, false) => {
                    return Err(AutogenError::Options(format!(
                        "table rename \"{from}\" -> \"{to}\": the database has no table \"{from}\""
                    )));
                }
            }
        }
        for r in &self.options.column_renames {
            let what = || format!("column rename \"{}.{}\" -> \"{}\"", r.table, r.from, r.to);
            let model = find(d, self.models, &r.table)
                .ok_or_else(|| AutogenError::Options(format!("{}: the models have no table \"{}\"", what(), r.table)))?;
            let model_column = model
                .columns
                .iter()
                .find(|c| same_name(d, &c.name, &r.to))
                .ok_or_else(|| AutogenError::Options(format!("{}: the model of \"{}\" has no column \"{}\"", what(), r.table, r.to)))?;
            let live = find(d, &self.state, &model.name)
                .ok_or_else(|| AutogenError::Options(format!("{}: the database has no table \"{}\"", what(), r.table)))?;
            let col = |n: &str| live.columns.iter().find(|c| same_name(d, &c.name, n)).map(|c| c.name.clone());
            match (col(&r.from), col(&r.to)) {
                (Some(old), None) => {
                    let op = Operation::RenameColumn { table: live.name.clone(), from: old, to: model_column.name.clone() };
                    self.rename(op)?;
                }
                (None, Some(_)) => {}
                (Some(_), Some(_)) => {
                    return Err(AutogenError::Options(format!("{}: table \"{}\" has both columns", what(), live.name)));
                }
                (None, None) => {
                    return Err(AutogenError::Options(format!("{}: table \"{}\" has no column \"{}\"", what(), live.name, r.from)));
                }
            }
        }
        Ok(())
    }

    /// Tables created, compared and dropped.
    fn tables(&mut self) -> Result<(), AutogenError> {
        let d = self.d;
        let mut new_tables = Vec::new();
        for model in self.models {
            match find(d, &self.state, &model.name).cloned() {
                Some(live) => self.table(model, &live)?,
                None => new_tables.push(model.clone()),
            }
        }
        let unknown: Vec<Table> = self.state.iter().filter(|t| find(d, self.models, &t.name).is_none()).cloned().collect();
        self.create_tables(&new_tables, &unknown)?;
        if self.options.owns_database {
            self.drop_tables(&unknown, &new_tables);
        } else {
            self.untouched = unknown.iter().map(|t| t.name.clone()).collect();
        }
        Ok(())
    }

    /// The operations that bring the existing table `live` to `model`.
    fn table(&mut self, model: &Table, live: &Table) -> Result<(), AutogenError> {
        let d = self.d;
        let table = live.name.clone();
        let mut altered: Vec<(Column, Column)> = Vec::new();
        let (mut added, mut dropped) = (Vec::new(), Vec::new());
        for difference in table_differences(d, model, live) {
            let mut alter = |name: &str, change: &dyn Fn(&mut Column)| {
                let i = match altered.iter().position(|(_, to)| same_name(d, &to.name, name)) {
                    Some(i) => i,
                    None => {
                        let from = live.columns.iter().find(|c| same_name(d, &c.name, name)).cloned().expect("a compared column is live");
                        altered.push((from.clone(), from));
                        altered.len() - 1
                    }
                };
                change(&mut altered[i].1);
            };
            match difference {
                Difference::MissingColumn { column } => added.push(column),
                Difference::ExtraColumn { column } => dropped.push(column),
                Difference::Type { column, model, .. } => alter(&column, &|c| c.ty = model.clone()),
                Difference::Nullability { column, model, .. } => alter(&column, &|c| c.nullable = model),
                Difference::Default { column, model, .. } => alter(&column, &|c| c.default = model.clone()),
                Difference::Auto { column, model, .. } => alter(&column, &|c| c.auto = model),
                Difference::PrimaryKey { model, live } => {
                    return Err(AutogenError::Unsupported(format!(
                        "table \"{table}\": the primary key changes from {live:?} to {model:?}; no operation changes a primary key, \
                         so write this revision by hand (create the new table, copy the rows, drop the old one)"
                    )));
                }
                Difference::MissingIndex { index } => {
                    self.phases.create_indexes.push(Operation::CreateIndex { table: table.clone(), index }.into())
                }
                Difference::ExtraIndex { index } => {
                    self.phases.drop_indexes.push(Operation::DropIndex { table: table.clone(), name: index.name }.into())
                }
                Difference::MissingForeignKey { foreign_key } => {
                    self.phases.add_foreign_keys.push(Operation::AddForeignKey { table: table.clone(), foreign_key }.into())
                }
                Difference::ExtraForeignKey { foreign_key } => {
                    self.phases.drop_foreign_keys.push(Operation::DropForeignKey { table: table.clone(), name: foreign_key.name }.into())
                }
            }
        }
        for (from, to) in altered {
            let notes = alter_notes(d, &table, &from, &to);
            self.phases.alter_columns.push(Step { op: Operation::AlterColumn { table: table.clone(), from, to }, notes });
        }
        for column in &dropped {
            let mut notes: Vec<String> = added
                .iter()
                .filter(|a| compatible(d, &column.ty, &a.ty))
                .map(|a| column_rename_note(&table, &model.name, &column.name, &a.name))
                .collect();
            if !column.nullable && column.default.is_none() && !column.auto {
                notes.push(format!(
                    "The downgrade adds \"{table}\".\"{}\" back empty, and it is NOT NULL without a default: the downgrade \
                     fails while the table has rows unless it is given a server default first.",
                    column.name
                ));
            }
            self.phases.drop_columns.push(Step { op: Operation::DropColumn { table: table.clone(), column: column.name.clone() }, notes });
        }
        for column in added {
            self.phases.add_columns.push(Operation::AddColumn { table: table.clone(), column }.into());
        }
        Ok(())
    }

    /// New tables in foreign-key order; foreign keys that close a cycle among them are
    /// added once all are created.
    fn create_tables(&mut self, new_tables: &[Table], unknown: &[Table]) -> Result<(), AutogenError> {
        let d = self.d;
        let (ordered, deferred) = creation_order(d, new_tables);
        for table in ordered {
            let notes = unknown
                .iter()
                .filter(|old| looks_like(d, old, &table))
                .map(|old| table_rename_note(&old.name, &table.name, self.options.owns_database))
                .collect();
            self.phases.create_tables.push(Step { op: Operation::CreateTable { table }, notes });
        }
        for (table, foreign_key) in deferred {
            self.phases.add_foreign_keys.push(Operation::AddForeignKey { table, foreign_key }.into());
        }
        Ok(())
    }

    /// Drop the tables the models do not have, referencing tables first; keys that close a
    /// cycle among them are dropped before any table.
    fn drop_tables(&mut self, dropped: &[Table], new_tables: &[Table]) {
        let d = self.d;
        let (ordered, deferred) = creation_order(d, dropped);
        for (table, foreign_key) in deferred {
            self.phases.drop_foreign_keys.push(Operation::DropForeignKey { table, name: foreign_key.name }.into());
        }
        for table in ordered.into_iter().rev() {
            let notes = new_tables
                .iter()
                .filter(|new| looks_like(d, &table, new))
                .map(|new| format!("{} Its rows will be lost.", table_rename_note(&table.name, &new.name, true)))
                .collect();
            self.phases.drop_tables.push(Step { op: Operation::DropTable { table: table.name }, notes });
        }
    }
}

/// `tables` ordered so that each comes after the ones it references (among `tables`),
/// with the foreign keys removed that close a cycle, returned separately as
/// `(table, key)`.
fn creation_order(d: Dialect, tables: &[Table]) -> (Vec<Table>, Vec<(String, ForeignKey)>) {
    let mut remaining: Vec<Table> = tables.to_vec();
    let mut ordered: Vec<Table> = Vec::with_capacity(tables.len());
    let mut deferred = Vec::new();
    let waits_for = |t: &Table, remaining: &[Table]| {
        t.foreign_keys.iter().any(|fk| !same_name(d, &fk.ref_table, &t.name) && find(d, remaining, &fk.ref_table).is_some())
    };
    while !remaining.is_empty() {
        let i = match remaining.iter().position(|t| !waits_for(t, &remaining)) {
            Some(i) => i,
            None => {
                // A cycle: the first table goes without its keys to the others left.
                let others: Vec<Table> = remaining[1..].to_vec();
                let t = &mut remaining[0];
                let name = t.name.clone();
                let (keep, defer): (Vec<_>, Vec<_>) = t.foreign_keys.drain(..).partition(|fk| find(d, &others, &fk.ref_table).is_none());
                t.foreign_keys = keep;
                deferred.extend(defer.into_iter().map(|fk| (name.clone(), fk)));
                0
            }
        };
        ordered.push(remaining.remove(i));
    }
    (ordered, deferred)
}

// ---------------------------------------------------------------------------------------
// Notes.
// ---------------------------------------------------------------------------------------

/// A broad kind of stored value: a column of one kind could have been renamed into a
/// column of the same kind and keep its values.
fn kind(ty: &Type) -> &'static str {
    match ty {
        Type::Text { .. } | Type::Enum { .. } | Type::Json => "text",
        Type::SmallInt | Type::Integer | Type::BigInt => "integer",
        Type::Float | Type::Double | Type::Decimal { .. } => "number",
        Type::Bool => "bool",
        Type::Uuid => "uuid",
        Type::Timestamp | Type::Date | Type::Time => "time",
        Type::Bytes => "bytes",
        Type::Native { .. } => "native",
    }
}

fn compatible(d: Dialect, a: &Type, b: &Type) -> bool {
    same_type(d, a, b) || kind(a) == kind(b)
}

/// Whether `new` looks like `old` renamed: at least half of `new`'s columns (and at least
/// one beside the key) are in `old` under the same name with a compatible type.
fn looks_like(d: Dialect, old: &Table, new: &Table) -> bool {
    let shared =
        new.columns.iter().filter(|c| old.columns.iter().any(|o| same_name(d, &o.name, &c.name) && compatible(d, &o.ty, &c.ty))).count();
    shared * 2 >= new.columns.len() && shared > new.primary_key.len().min(1)
}

fn column_rename_note(table: &str, model_table: &str, old: &str, new: &str) -> String {
    format!(
        "WARNING: column \"{table}\".\"{old}\" is dropped and \"{new}\" added with a compatible type: this looks like a rename. \
         As written, the data in \"{old}\" will be lost. If it is a rename, mark it (`--rename {model_table}.{old}->{new}`, \
         or Options::rename_column(\"{model_table}\", \"{old}\", \"{new}\")) and generate this revision again."
    )
}

fn table_rename_note(old: &str, new: &str, dropped: bool) -> String {
    let fate = if dropped { "is dropped" } else { "is not in the models (left alone)" };
    format!(
        "WARNING: table \"{new}\" is created while \"{old}\", which {fate}, has the same columns: this looks like a rename. \
         If it is one, mark it (`--rename {old}->{new}`, or Options::rename_table(\"{old}\", \"{new}\")) and generate this \
         revision again, so the rows are kept."
    )
}

/// Warnings for a column change that existing rows can make fail.
fn alter_notes(d: Dialect, table: &str, from: &Column, to: &Column) -> Vec<String> {
    let mut out = Vec::new();
    if same_type(d, &from.ty, &to.ty) {
        return out;
    }
    match (&from.ty, &to.ty) {
        (Type::Enum { variants: old }, Type::Enum { variants: new }) => {
            let removed: Vec<&String> = old.iter().filter(|v| !new.contains(v)).collect();
            if !removed.is_empty() {
                out.push(format!(
                    "WARNING: values {removed:?} are removed from enum column \"{table}\".\"{}\": the upgrade fails while rows hold \
                     them; update those rows first (an `sql` step before this one).",
                    to.name
                ));
            }
        }
        _ => out.push(format!(
            "column \"{table}\".\"{}\" changes type from {:?} to {:?}: existing values are converted, and a value the new type \
             cannot hold makes the upgrade fail.",
            to.name, from.ty, to.ty
        )),
    }
    out
}

// ---------------------------------------------------------------------------------------
// Checking the plan, and the downgrade.
// ---------------------------------------------------------------------------------------

fn inconsistent(e: crate::ops::OpError) -> AutogenError {
    AutogenError::Inconsistent(e.0)
}

/// The operations that undo `op` applied to `before` (the tables as they are before it).
fn inverse(before: &[Table], op: &Operation) -> Result<Vec<Operation>, AutogenError> {
    let table = |name: &str| {
        before.iter().find(|t| t.name == name).ok_or_else(|| AutogenError::Inconsistent(format!("no table \"{name}\" to undo {op:?}")))
    };
    let missing = |what: &str| AutogenError::Inconsistent(format!("no {what} to undo {op:?}"));
    Ok(vec![match op {
        Operation::CreateTable { table } => Operation::DropTable { table: table.name.clone() },
        Operation::DropTable { table: name } => Operation::CreateTable { table: table(name)?.clone() },
        Operation::RenameTable { from, to } => Operation::RenameTable { from: to.clone(), to: from.clone() },
        Operation::AddColumn { table, column } => Operation::DropColumn { table: table.clone(), column: column.name.clone() },
        Operation::DropColumn { table: name, column } => {
            let column = table(name)?.column(column).cloned().ok_or_else(|| missing("column"))?;
            Operation::AddColumn { table: name.clone(), column }
        }
        Operation::RenameColumn { table, from, to } => Operation::RenameColumn { table: table.clone(), from: to.clone(), to: from.clone() },
        Operation::AlterColumn { table: name, to, .. } => {
            let before = table(name)?.column(&to.name).cloned().ok_or_else(|| missing("column"))?;
            Operation::AlterColumn { table: name.clone(), from: to.clone(), to: before }
        }
        Operation::CreateIndex { table, index } => Operation::DropIndex { table: table.clone(), name: index.name.clone() },
        Operation::DropIndex { table: name, name: index } => {
            let index = table(name)?.indexes.iter().find(|ix| ix.name == *index).cloned().ok_or_else(|| missing("index"))?;
            Operation::CreateIndex { table: name.clone(), index }
        }
        Operation::AddForeignKey { table, foreign_key } => {
            Operation::DropForeignKey { table: table.clone(), name: foreign_key.name.clone() }
        }
        Operation::DropForeignKey { table: name, name: key } => {
            let foreign_key = table(name)?.foreign_keys.iter().find(|k| k.name == *key).cloned().ok_or_else(|| missing("foreign key"))?;
            Operation::AddForeignKey { table: name.clone(), foreign_key }
        }
        Operation::Sql { .. } => return Err(AutogenError::Inconsistent("autogenerate does not plan raw SQL".into())),
    }])
}

/// Every difference between `target` and `tables` (tables missing either way included),
/// with `extra_allowed` tables of `tables` not counted.
fn differences(d: Dialect, target: &[Table], tables: &[Table], extra_allowed: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for t in target {
        match find(d, tables, &t.name) {
            Some(live) => out.extend(table_differences(d, t, live).iter().map(|x| format!("table \"{}\": {x}", t.name))),
            None => out.push(format!("table \"{}\" is missing", t.name)),
        }
    }
    for t in tables {
        if find(d, target, &t.name).is_none() && !extra_allowed.iter().any(|n| same_name(d, n, &t.name)) {
            out.push(format!("extra table \"{}\"", t.name));
        }
    }
    out
}

/// Replay `upgrade` on `live` (it must reach `models`) and the downgrade after it (it must
/// come back to `live`); the downgrade.
fn check(
    d: Dialect,
    models: &[Table],
    live: &[Table],
    upgrade: &[Operation],
    untouched: &[String],
) -> Result<Vec<Operation>, AutogenError> {
    let mut schema = live.to_vec();
    let mut undo = Vec::new();
    for op in upgrade {
        undo.push(inverse(&schema, op)?);
        apply(&mut schema, op).map_err(inconsistent)?;
    }
    let left = differences(d, models, &schema, untouched);
    if !left.is_empty() {
        return Err(AutogenError::Inconsistent(format!("after the upgrade: {}", left.join("; "))));
    }
    let downgrade: Vec<Operation> = undo.into_iter().rev().flatten().collect();
    for op in &downgrade {
        apply(&mut schema, op).map_err(inconsistent)?;
    }
    let left = differences(d, live, &schema, &[]);
    if !left.is_empty() {
        return Err(AutogenError::Inconsistent(format!("after the downgrade: {}", left.join("; "))));
    }
    Ok(downgrade)
}

// ---------------------------------------------------------------------------------------
// Refusals that depend on the rows.
// ---------------------------------------------------------------------------------------

/// Names in the database before the plan's renames, for queries made before it runs.
struct LiveNames<'a> {
    upgrade: &'a [Operation],
}

impl LiveNames<'_> {
    fn table(&self, name: &str) -> String {
        let mut name = name.to_string();
        for op in self.upgrade.iter().rev() {
            if let Operation::RenameTable { from, to } = op
                && *to == name
            {
                name = from.clone();
            }
        }
        name
    }

    fn column(&self, table: &str, column: &str) -> String {
        let mut column = column.to_string();
        for op in self.upgrade.iter().rev() {
            if let Operation::RenameColumn { table: t, from, to } = op
                && t == table
                && *to == column
            {
                column = from.clone();
            }
        }
        column
    }
}

async fn any_row(db: &impl Executor, table: &str, null_column: Option<&str>) -> Result<bool, AutogenError> {
    let d = db.dialect();
    let filter = null_column.map(|c| format!(" WHERE {} IS NULL", d.quote(c))).unwrap_or_default();
    let sql = format!("SELECT 1 AS one FROM {}{filter} LIMIT 1", d.quote(table));
    Ok(db.fetch_optional_raw(&sql, params! {}).await?.is_some())
}

/// Refuse a NOT NULL column without a default added to a table with rows, and a column
/// made NOT NULL while it holds NULLs: PostgreSQL and SQLite fail at upgrade, and MariaDB
/// in strict mode fills `''` or `0` without a word. Rows are read only for those steps.
async fn refuse_what_rows_break(db: &impl Executor, plan: &Plan) -> Result<(), AutogenError> {
    let names = LiveNames { upgrade: &plan.upgrade };
    for op in &plan.upgrade {
        match op {
            Operation::AddColumn { table, column } if !column.nullable && column.default.is_none() && !column.auto => {
                refuse_required_column(db, &names, table, &column.name).await?
            }
            Operation::AlterColumn { table, from, to } if from.nullable && !to.nullable => {
                refuse_tightening(db, &names, table, &to.name).await?
            }
            _ => {}
        }
    }
    Ok(())
}

/// A NOT NULL column without a default may only be added to an empty table.
async fn refuse_required_column(db: &impl Executor, names: &LiveNames<'_>, table: &str, column: &str) -> Result<(), AutogenError> {
    if !any_row(db, &names.table(table), None).await? {
        return Ok(());
    }
    Err(AutogenError::Refused {
        table: table.into(),
        column: column.into(),
        message: format!(
            "cannot add column \"{table}\".\"{column}\": it is NOT NULL without a server default and table \"{table}\" \
             has rows (PostgreSQL and SQLite would fail at upgrade; MariaDB would silently fill '' or 0). \
             Give it a server default (#[model(server_default = ...)]), or add it nullable (Option<...>), \
             fill it, and make it NOT NULL in a later revision."
        ),
    })
}

/// A column may only be made NOT NULL when it holds no NULL.
async fn refuse_tightening(db: &impl Executor, names: &LiveNames<'_>, table: &str, column: &str) -> Result<(), AutogenError> {
    if !any_row(db, &names.table(table), Some(&names.column(table, column))).await? {
        return Ok(());
    }
    Err(AutogenError::Refused {
        table: table.into(),
        column: column.into(),
        message: format!(
            "cannot make column \"{table}\".\"{column}\" NOT NULL: it holds NULLs. Fill them first \
             (UPDATE \"{table}\" SET \"{column}\" = ... WHERE \"{column}\" IS NULL, or a revision with that `sql` step), \
             then generate this change again; or keep the column nullable."
        ),
    })
}
