//! Revision files: one reviewable TOML file per revision in a `migrations/` folder, named
//! `<id>_<slug>.toml`, read back with errors that name the file and what is wrong, and
//! written for `migrate revision -m`.
//!
//! A file looks like this (the operations are [`Operation`]s, tagged by `op`). It is
//! written with one `[[upgrade]]` / `[[downgrade]]` table per operation, nested fields as
//! dotted keys and lists of tables one per line; any TOML of the same data reads the same,
//! such as inline tables, `upgrade = [{ op = "sql", all = "…" }]`:
//!
//! ```toml
//! id = "3f9a0c12d4e5"
//! parents = ["0b1c2d3e4f50"]
//! message = "add orders"
//! created = "2026-12-06T14:00:00Z"
//!
//! [[upgrade]]
//! op = "create_table"
//! table.name = "orders"
//! table.columns = [
//!     { name = "id", type = "big_int", nullable = false, auto = true },
//!     { name = "note", type = "text", max_len = 200, nullable = true },
//! ]
//! table.primary_key = ["id"]
//!
//! # Comments are the reader's: a revision's notes (autogenerate's warnings) go here.
//! [[upgrade]]
//! op = "sql"
//! postgres = "COMMENT ON TABLE orders IS 'orders'"
//! sqlite = "SELECT 1"
//! mysql = "ALTER TABLE orders COMMENT = 'orders'"
//!
//! [[downgrade]]
//! op = "drop_table"
//! table = "orders"
//! ```

use crate::ops::Operation;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How many hex digits a revision id has.
pub const ID_LEN: usize = 12;

/// One revision: its place in the history and the operations that apply and undo it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// 12 lowercase hex digits, random, unique in the folder.
    pub id: String,
    /// The revisions it follows: none for a first revision, two or more for a merge.
    pub parents: Vec<String>,
    /// What it does, in a few words.
    pub message: String,
    /// When it was written (UTC).
    pub created: DateTime<Utc>,
    /// The operations that apply it, in order.
    pub upgrade: Vec<Operation>,
    /// The operations that undo it, in order.
    pub downgrade: Vec<Operation>,
    /// Comment lines written before an operation (autogenerate's warnings). They are for
    /// the reader of the file: they are not read back.
    pub notes: Vec<Note>,
}

/// Which list of operations a [`Note`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    /// `upgrade`.
    Upgrade,
    /// `downgrade`.
    Downgrade,
}

impl Section {
    /// The key in the file.
    pub fn key(self) -> &'static str {
        match self {
            Section::Upgrade => "upgrade",
            Section::Downgrade => "downgrade",
        }
    }
}

/// Comment lines written into the file just before one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The list the operation is in.
    pub section: Section,
    /// The operation's index in that list.
    pub index: usize,
    /// The lines, without the leading `#`.
    pub lines: Vec<String>,
}

/// A revision file that cannot be read: the file, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct RevisionError {
    /// The file's name (or path).
    pub file: String,
    /// What is wrong, with the line and column where the TOML reader knows them.
    pub problem: String,
}

impl RevisionError {
    fn new(file: &str, problem: impl Into<String>) -> Self {
        RevisionError { file: file.to_string(), problem: problem.into() }
    }
}

/// Whether `s` is a revision id: 12 lowercase hex digits.
pub fn is_valid_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A new random revision id.
pub fn new_id() -> String {
    format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// The file name's part after the id: the message in lowercase ASCII letters and digits
/// joined by `_`, at most 40 characters (`revision` when nothing is left).
pub fn slug(message: &str) -> String {
    let mut out = String::new();
    for c in message.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
        if out.len() >= 40 {
            break;
        }
    }
    let out = out.trim_end_matches('_');
    if out.is_empty() { "revision".to_string() } else { out.to_string() }
}

/// The id a file name carries: `<id>_<slug>.toml` or `<id>.toml`; `None` for a name of
/// another shape.
pub fn id_from_file_name(name: &str) -> Option<&str> {
    let stem = name.strip_suffix(".toml")?;
    let id = stem.split_once('_').map_or(stem, |(id, _)| id);
    is_valid_id(id).then_some(id)
}

/// The file's fields as serde reads and writes them.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRevision {
    id: String,
    parents: Vec<String>,
    message: String,
    created: toml::Value,
    upgrade: Vec<Operation>,
    downgrade: Vec<Operation>,
}

/// The header keys, written first (TOML wants keys before the `[[upgrade]]` tables).
#[derive(Serialize)]
struct Header<'a> {
    id: &'a str,
    parents: &'a [String],
    message: &'a str,
    created: String,
}

impl Revision {
    /// A new revision with a random id, created now, with no operations yet.
    ///
    /// ```
    /// use almacen_migrate::revision::Revision;
    /// let r = Revision::new("add orders", vec![]);
    /// assert_eq!(r.file_name(), format!("{}_add_orders.toml", r.id));
    /// ```
    pub fn new(message: impl Into<String>, parents: Vec<String>) -> Revision {
        Revision {
            id: new_id(),
            parents,
            message: message.into(),
            // Whole seconds: the file says when, not how precisely.
            created: DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default(),
            upgrade: Vec::new(),
            downgrade: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The first line of the message, for listings.
    pub fn summary(&self) -> &str {
        self.message.lines().next().unwrap_or("")
    }

    /// Whether it merges two or more branches.
    pub fn is_merge(&self) -> bool {
        self.parents.len() > 1
    }

    /// The name of its file: `<id>_<slug>.toml`.
    pub fn file_name(&self) -> String {
        format!("{}_{}.toml", self.id, slug(&self.message))
    }

    /// Add a comment line to write before operation `index` of `section`.
    pub fn note(&mut self, section: Section, index: usize, line: impl Into<String>) {
        let line = line.into();
        match self.notes.iter_mut().find(|n| n.section == section && n.index == index) {
            Some(n) => n.lines.push(line),
            None => self.notes.push(Note { section, index, lines: vec![line] }),
        }
    }

    /// Read a revision from the text of the file named `file_name` (a name or a path; the
    /// id in the name must be the id in the file).
    ///
    /// ```
    /// use almacen_migrate::revision::Revision;
    /// let text = r#"
    /// id = "0123456789ab"
    /// parents = []
    /// message = "first"
    /// created = "2026-12-06T14:00:00Z"
    /// upgrade = [{ op = "sql", all = "CREATE TABLE t (id INTEGER PRIMARY KEY)" }]
    /// downgrade = [{ op = "drop_table", table = "t" }]
    /// "#;
    /// let r = Revision::parse("0123456789ab_first.toml", text).unwrap();
    /// assert_eq!(r.upgrade.len(), 1);
    /// let e = Revision::parse("0123456789ac_first.toml", text).unwrap_err();
    /// assert!(e.to_string().contains("does not match"));
    /// ```
    pub fn parse(file_name: &str, text: &str) -> Result<Revision, RevisionError> {
        let base = Path::new(file_name).file_name().and_then(|n| n.to_str()).unwrap_or(file_name);
        let raw: RawRevision = toml::from_str(text).map_err(|e| RevisionError::new(file_name, toml_problem(text, &e)))?;
        let err = |p: String| RevisionError::new(file_name, p);
        if !is_valid_id(&raw.id) {
            return Err(err(format!("id \"{}\" is not a revision id ({ID_LEN} lowercase hex digits)", raw.id)));
        }
        match id_from_file_name(base) {
            Some(id) if id == raw.id => {}
            Some(id) => return Err(err(format!("the id in the file, \"{}\", does not match the id in its name, \"{id}\"", raw.id))),
            None => return Err(err(format!("the file name must be \"{}_<slug>.toml\" (the id, then anything)", raw.id))),
        }
        for (i, p) in raw.parents.iter().enumerate() {
            if !is_valid_id(p) {
                return Err(err(format!("parent \"{p}\" is not a revision id ({ID_LEN} lowercase hex digits)")));
            }
            if *p == raw.id {
                return Err(err("the revision names itself as its parent".into()));
            }
            if raw.parents[..i].contains(p) {
                return Err(err(format!("parent \"{p}\" is listed twice")));
            }
        }
        let created = parse_created(&raw.created).map_err(err)?;
        let raw_table: toml::Table = toml::from_str(text).map_err(|e| RevisionError::new(file_name, toml_problem(text, &e)))?;
        for (section, ops) in [(Section::Upgrade, &raw.upgrade), (Section::Downgrade, &raw.downgrade)] {
            let Some(toml::Value::Array(items)) = raw_table.get(section.key()) else { continue };
            for (i, (item, op)) in items.iter().zip(ops).enumerate() {
                if let Some(key) = unknown_keys(item, op).into_iter().next() {
                    return Err(err(format!("{} step {} ({}): unknown key `{key}`", section.key(), i + 1, op_name(op))));
                }
            }
        }
        Ok(Revision {
            id: raw.id,
            parents: raw.parents,
            message: raw.message,
            created,
            upgrade: raw.upgrade,
            downgrade: raw.downgrade,
            notes: Vec::new(),
        })
    }

    /// Read a revision file.
    pub fn read(path: &Path) -> Result<Revision, RevisionError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| RevisionError::new(&shown, format!("cannot read: {e}")))?;
        Revision::parse(&shown, &text)
    }

    /// The file's text: a comment saying what the file is, the header, then each operation
    /// as a `[[upgrade]]` / `[[downgrade]]` table with its notes as comments before it.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        out.push_str("# almacen migration revision: applied by `migrate upgrade`, undone by `migrate downgrade`.\n");
        out.push_str("# `upgrade` runs in order to apply it, `downgrade` to undo it; `parents` are the revisions it follows.\n");
        out.push_str("# Each step is an operation tagged by `op`; `op = \"sql\"` runs raw SQL (`all`, or `sqlite`/`postgres`/`mysql`).\n");
        out.push_str("# Edit the steps freely; keep `id` (it is in the file name) and `parents`.\n\n");
        let header = Header {
            id: &self.id,
            parents: &self.parents,
            message: &self.message,
            created: self.created.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        };
        out.push_str(&toml::to_string(&header).expect("a header of strings serializes"));
        for (section, ops) in [(Section::Upgrade, &self.upgrade), (Section::Downgrade, &self.downgrade)] {
            if ops.is_empty() {
                let _ = writeln!(out, "{} = []", section.key());
            }
        }
        for (section, ops) in [(Section::Upgrade, &self.upgrade), (Section::Downgrade, &self.downgrade)] {
            for (i, op) in ops.iter().enumerate() {
                out.push('\n');
                for note in self.notes.iter().filter(|n| n.section == section && n.index == i) {
                    for line in note.lines.iter().flat_map(|l| l.lines()) {
                        let _ = writeln!(out, "# {line}");
                    }
                }
                out.push_str(&op_table(section, op));
            }
        }
        out
    }

    /// Write a new file for this revision in `dir` (created if missing), never replacing
    /// one; returns its path.
    pub fn write_new(&self, dir: &Path) -> Result<PathBuf, RevisionError> {
        use std::io::Write;
        let path = dir.join(self.file_name());
        let shown = path.display().to_string();
        std::fs::create_dir_all(dir)
            .map_err(|e| RevisionError::new(&dir.display().to_string(), format!("cannot create the folder: {e}")))?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| RevisionError::new(&shown, format!("cannot create: {e}")))?;
        f.write_all(self.to_toml().as_bytes()).map_err(|e| RevisionError::new(&shown, format!("cannot write: {e}")))?;
        Ok(path)
    }
}

/// One operation as a `[[section]]` table, written for review: its fields one per line
/// (nested ones as dotted keys, `table.name = "orders"`), lists of tables one inline table
/// per line (a table's columns), `op` and `name` first.
fn op_table(section: Section, op: &Operation) -> String {
    let mut out = format!("[[{}]]\n", section.key());
    match toml::Value::try_from(op) {
        Ok(toml::Value::Table(t)) => write_fields(&mut out, "", &t),
        _ => unreachable!("an operation serializes to a TOML table"),
    }
    out
}

/// The order fields are written in: as the types declare them (`toml::Table` may be sorted).
const FIELD_ORDER: &[&str] = &[
    "op",
    "table",
    "name",
    "type",
    "max_len",
    "precision",
    "scale",
    "variants",
    "dialect",
    "sql",
    "nullable",
    "auto",
    "default",
    "from",
    "to",
    "column",
    "columns",
    "unique",
    "ref_table",
    "ref_column",
    "on_delete",
    "primary_key",
    "indexes",
    "foreign_keys",
    "index",
    "foreign_key",
    "all",
    "sqlite",
    "postgres",
    "mysql",
];

fn ordered(table: &toml::Table) -> Vec<(&String, &toml::Value)> {
    let mut fields: Vec<_> = table.iter().collect();
    fields.sort_by_key(|(k, _)| (FIELD_ORDER.iter().position(|f| f == k).unwrap_or(FIELD_ORDER.len()), k.as_str().to_owned()));
    fields
}

fn write_fields(out: &mut String, prefix: &str, table: &toml::Table) {
    for (k, v) in ordered(table) {
        let key = format!("{prefix}{}", toml_key(k));
        match v {
            toml::Value::Table(t) if !t.is_empty() => write_fields(out, &format!("{key}."), t),
            toml::Value::Array(items) if items.iter().any(|i| i.is_table()) => {
                let _ = writeln!(out, "{key} = [");
                for item in items {
                    let _ = writeln!(out, "    {},", inline(item));
                }
                out.push_str("]\n");
            }
            _ => {
                let _ = writeln!(out, "{key} = {}", inline(v));
            }
        }
    }
}

/// A value on one line, its tables' fields in [`FIELD_ORDER`].
fn inline(v: &toml::Value) -> String {
    match v {
        toml::Value::Table(t) => {
            let fields: Vec<String> = ordered(t).into_iter().map(|(k, v)| format!("{} = {}", toml_key(k), inline(v))).collect();
            if fields.is_empty() { "{}".to_string() } else { format!("{{ {} }}", fields.join(", ")) }
        }
        toml::Value::Array(items) => format!("[{}]", items.iter().map(inline).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// A key bare when TOML allows it, quoted otherwise.
fn toml_key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_string()
    } else {
        toml::Value::String(k.to_string()).to_string()
    }
}

/// The `op` tag of an operation.
pub fn op_name(op: &Operation) -> &'static str {
    match op {
        Operation::CreateTable { .. } => "create_table",
        Operation::DropTable { .. } => "drop_table",
        Operation::RenameTable { .. } => "rename_table",
        Operation::AddColumn { .. } => "add_column",
        Operation::DropColumn { .. } => "drop_column",
        Operation::RenameColumn { .. } => "rename_column",
        Operation::AlterColumn { .. } => "alter_column",
        Operation::CreateIndex { .. } => "create_index",
        Operation::DropIndex { .. } => "drop_index",
        Operation::AddForeignKey { .. } => "add_foreign_key",
        Operation::DropForeignKey { .. } => "drop_foreign_key",
        Operation::Sql { .. } => "sql",
    }
}

/// A one-line description of an operation, for progress and error messages:
/// `add_column "orders"."note"`, `sql`.
pub fn describe(op: &Operation) -> String {
    let name = op_name(op);
    match op {
        Operation::CreateTable { table } => format!("{name} \"{}\"", table.name),
        Operation::DropTable { table } => format!("{name} \"{table}\""),
        Operation::RenameTable { from, to } => format!("{name} \"{from}\" to \"{to}\""),
        Operation::AddColumn { table, column } => format!("{name} \"{table}\".\"{}\"", column.name),
        Operation::DropColumn { table, column } => format!("{name} \"{table}\".\"{column}\""),
        Operation::RenameColumn { table, from, to } => format!("{name} \"{table}\".\"{from}\" to \"{to}\""),
        Operation::AlterColumn { table, to, .. } => format!("{name} \"{table}\".\"{}\"", to.name),
        Operation::CreateIndex { table, index } => format!("{name} \"{}\" on \"{table}\"", index.name),
        Operation::DropIndex { table, name: ix } | Operation::DropForeignKey { table, name: ix } => {
            format!("{name} \"{ix}\" on \"{table}\"")
        }
        Operation::AddForeignKey { table, foreign_key } => format!("{name} \"{}\" on \"{table}\"", foreign_key.name),
        Operation::Sql { .. } => name.to_string(),
    }
}

/// `created`: an RFC 3339 date and time with an offset, as a string or a TOML date-time.
fn parse_created(v: &toml::Value) -> Result<DateTime<Utc>, String> {
    let text = match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        other => return Err(format!("created must be an RFC 3339 date and time (\"2026-12-06T14:00:00Z\"), not a {}", other.type_str())),
    };
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("created \"{text}\" is not an RFC 3339 date and time with an offset, such as \"2026-12-06T14:00:00Z\" ({e})"))
}

/// The TOML reader's error with its line and column.
fn toml_problem(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_string(),
    }
}

/// Keys of `raw` (an operation's table as written) that the operation's reading ignored:
/// misspelt or unknown fields, which serde would otherwise drop silently (a misspelt
/// `postgress = "…"` would leave PostgreSQL running the `all` text). A key the operation
/// writes back is known; any other is ignored when giving it a value of the wrong type still
/// reads back the same operation (a known key left at its default would not read).
fn unknown_keys(raw: &toml::Value, op: &Operation) -> Vec<String> {
    let mut found = Vec::new();
    let mut path = Vec::new();
    let written = toml::Value::try_from(op).ok();
    walk(raw, raw, written.as_ref(), op, &mut path, &mut found);
    found
}

/// One step of the path to a value inside an operation's table.
#[derive(Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

/// Walk `here` (at `path` in `root`) beside `written`, the same place in the operation as
/// it serializes, probing only the keys it does not write.
fn walk(
    root: &toml::Value,
    here: &toml::Value,
    written: Option<&toml::Value>,
    op: &Operation,
    path: &mut Vec<PathStep>,
    found: &mut Vec<String>,
) {
    match here {
        toml::Value::Table(t) => {
            for (k, v) in t {
                path.push(PathStep::Key(k.clone()));
                let beside = written.and_then(|w| w.get(k.as_str()));
                if beside.is_none() && is_ignored(root, path, op) {
                    found.push(show_path(path));
                } else {
                    walk(root, v, beside, op, path, found);
                }
                path.pop();
            }
        }
        toml::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(PathStep::Index(i));
                walk(root, v, written.and_then(|w| w.get(i)), op, path, found);
                path.pop();
            }
        }
        _ => {}
    }
}

fn is_ignored(root: &toml::Value, path: &[PathStep], op: &Operation) -> bool {
    let mut probe = root.clone();
    let mut slot = &mut probe;
    for step in path {
        slot = match (step, slot) {
            (PathStep::Key(k), toml::Value::Table(t)) => match t.get_mut(k) {
                Some(v) => v,
                None => return false,
            },
            (PathStep::Index(i), toml::Value::Array(a)) => match a.get_mut(*i) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    // No field of an operation takes a table with this key.
    let mut marker = toml::Table::new();
    marker.insert("__almacen_probe__".into(), toml::Value::Integer(1));
    *slot = toml::Value::Table(marker);
    matches!(probe.try_into::<Operation>(), Ok(ref read) if read == op)
}

fn show_path(path: &[PathStep]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            PathStep::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathStep::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Column, Default, Index, Table, Type};

    fn sample() -> Revision {
        let mut r = Revision::new("Add orders & items!", vec!["0123456789ab".into()]);
        r.upgrade = vec![
            Operation::CreateTable {
                table: Table {
                    name: "orders".into(),
                    columns: vec![
                        Column { name: "id".into(), ty: Type::BigInt, nullable: false, auto: true, default: None },
                        Column {
                            name: "status".into(),
                            ty: Type::Enum { variants: vec!["new".into(), "paid".into()] },
                            nullable: false,
                            auto: false,
                            default: Some(Default::Sql("'new'".into())),
                        },
                        Column { name: "at".into(), ty: Type::Timestamp, nullable: true, auto: false, default: Some(Default::Now) },
                        Column {
                            name: "note".into(),
                            ty: Type::Text { max_len: Some(200) },
                            nullable: true,
                            auto: false,
                            // Quotes, a backslash and a line break inside an inline table.
                            default: Some(Default::Sql("'it''s \"quoted\" \\ and\nsplit'".into())),
                        },
                    ],
                    primary_key: vec!["id".into()],
                    indexes: vec![Index { name: "ix_orders_at".into(), columns: vec!["at".into()], unique: false }],
                    foreign_keys: vec![],
                },
            },
            Operation::Sql {
                all: Some("INSERT INTO orders (status) VALUES ('new')".into()),
                sqlite: None,
                postgres: Some("INSERT INTO orders (status)\nVALUES ('paid')".into()),
                mysql: None,
            },
        ];
        r.downgrade = vec![Operation::DropTable { table: "orders".into() }];
        r.note(Section::Upgrade, 1, "a warning\nover two lines");
        r
    }

    #[test]
    fn written_file_reads_back_the_same() {
        let r = sample();
        let text = r.to_toml();
        assert!(text.starts_with("# almacen migration revision"), "{text}");
        assert!(text.contains("# a warning\n# over two lines\n[[upgrade]]\nop = \"sql\""), "{text}");
        assert!(text.contains("[[upgrade]]\nop = \"create_table\"\ntable.name = \"orders\"\ntable.columns = [\n    { name = \"id\", type = \"big_int\", nullable = false, auto = true },\n"), "{text}");
        let mut back = Revision::parse(&r.file_name(), &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert!(back.notes.is_empty());
        back.notes = r.notes.clone();
        assert_eq!(back, r);
    }

    #[test]
    fn empty_lists_and_a_merge_read_back() {
        let mut r = Revision::new("merge", vec!["0123456789ab".into(), "ba9876543210".into()]);
        r.created = "2026-12-06T14:00:00Z".parse().unwrap();
        let text = r.to_toml();
        assert!(text.contains("upgrade = []") && text.contains("downgrade = []"), "{text}");
        assert!(text.contains("created = \"2026-12-06T14:00:00Z\""), "{text}");
        let back = Revision::parse(&r.file_name(), &text).unwrap();
        assert_eq!(back, r);
        assert!(back.is_merge());
    }

    /// The shapes a person writes by hand: inline tables (spread over lines, as TOML 1.1
    /// allows), `[[upgrade]]` tables with nested tables, and a TOML date-time.
    #[test]
    fn hand_written_file_reads() {
        let text = r#"
# Hand-written.
id = "00000000000a"
parents = []
message = "users"
created = 2026-12-06T15:30:00+01:00
downgrade = [
    { op = "drop_index", table = "users", name = "uq_users_email" },
    { op = "drop_table", table = "users" },
]

[[upgrade]]
op = "create_table"
[upgrade.table]
name = "users"
primary_key = ["id"]
[[upgrade.table.columns]]
name = "id"
type = "big_int"
auto = true
[[upgrade.table.columns]]
name = "email"
type = "text"
max_len = 320
[[upgrade.table.columns]]
name = "active"
type = "bool"
default = { sql = "1" }

[[upgrade]]
op = "create_index"
table = "users"
index = { name = "uq_users_email", columns = ["email"], unique = true }

[[upgrade]]
op = "sql"
postgres = "COMMENT ON TABLE users IS 'people'"
sqlite = "SELECT 1"
mysql = "ALTER TABLE users COMMENT = 'people'"
"#;
        let r = Revision::parse("migrations/00000000000a_users.toml", text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.created, "2026-12-06T14:30:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(r.upgrade.len(), 3);
        let Operation::CreateTable { table } = &r.upgrade[0] else { panic!("{:?}", r.upgrade[0]) };
        assert_eq!(table.columns[1].ty, Type::Text { max_len: Some(320) });
        assert!(!table.columns[1].nullable);
        assert_eq!(table.columns[2].default, Some(Default::Sql("1".into())));
        assert!(table.columns[0].auto);
        assert_eq!(
            r.downgrade,
            vec![
                Operation::DropIndex { table: "users".into(), name: "uq_users_email".into() },
                Operation::DropTable { table: "users".into() },
            ]
        );
        // And what it writes reads back the same.
        let back = Revision::parse(&r.file_name(), &r.to_toml()).unwrap();
        assert_eq!(back, r);
    }

    fn with_body(body: &str) -> String {
        format!("id = \"00000000000a\"\nparents = []\nmessage = \"m\"\ncreated = \"2026-12-06T14:00:00Z\"\n{body}")
    }

    fn problem(name: &str, text: &str) -> String {
        let e = Revision::parse(name, text).expect_err("must not parse");
        assert_eq!(e.file, name);
        let shown = e.to_string();
        assert!(shown.starts_with(&format!("{name}: ")), "{shown}");
        shown
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let name = "00000000000a_m.toml";
        let ok = with_body("upgrade = []\ndowngrade = []\n");
        Revision::parse(name, &ok).unwrap();

        let e = problem(name, &with_body("upgrade = [{ op = \"create_tabel\", table = \"t\" }]\ndowngrade = []\n"));
        assert!(e.contains("unknown variant `create_tabel`") && e.contains("line 5"), "{e}");

        let e = problem(name, &with_body("upgrade = [{ op = \"drop_table\" }]\ndowngrade = []\n"));
        assert!(e.contains("missing field `table`"), "{e}");

        let e = problem(name, &with_body("upgrade = []\n"));
        assert!(e.contains("missing field `downgrade`"), "{e}");

        let e = problem(name, &with_body("upgrade = []\ndowngrade = []\nparent = [\"00000000000b\"]\n"));
        assert!(e.contains("unknown field `parent`"), "{e}");

        let e = problem("00000000000b_m.toml", &ok);
        assert!(e.contains("\"00000000000a\"") && e.contains("does not match") && e.contains("\"00000000000b\""), "{e}");

        let e = problem("m.toml", &ok);
        assert!(e.contains("file name must be \"00000000000a_<slug>.toml\""), "{e}");

        let e = problem(name, &ok.replace("00000000000a", "00000000000A"));
        assert!(e.contains("not a revision id"), "{e}");

        let e = problem(name, &ok.replace("parents = []", "parents = [\"00000000000a\"]"));
        assert!(e.contains("itself"), "{e}");

        let e = problem(name, &ok.replace("parents = []", "parents = [\"xyz\"]"));
        assert!(e.contains("parent \"xyz\" is not a revision id"), "{e}");

        let e = problem(name, &ok.replace("2026-12-06T14:00:00Z", "yesterday"));
        assert!(e.contains("created \"yesterday\""), "{e}");

        let e = problem(name, &ok.replace("2026-12-06T14:00:00Z\"", "2026-12-06T14:00:00Z"));
        assert!(e.contains("line 4"), "{e}");
    }

    #[test]
    fn misspelt_keys_are_refused_not_ignored() {
        let name = "00000000000a_m.toml";
        let e = problem(name, &with_body("upgrade = [{ op = \"sql\", all = \"SELECT 1\", postgress = \"SELECT 2\" }]\ndowngrade = []\n"));
        assert!(e.contains("upgrade step 1 (sql): unknown key `postgress`"), "{e}");

        let e = problem(
            name,
            &with_body(
                "upgrade = []\ndowngrade = [{ op = \"drop_table\", table = \"t\" }, { op = \"add_column\", table = \"t\", column = { name = \"c\", type = \"integer\", nulable = true } }]\n",
            ),
        );
        assert!(e.contains("downgrade step 2 (add_column): unknown key `column.nulable`"), "{e}");

        let e = problem(
            name,
            &with_body(
                "downgrade = []\n[[upgrade]]\nop = \"create_table\"\n[upgrade.table]\nname = \"t\"\n[[upgrade.table.columns]]\nname = \"a\"\ntype = \"integer\"\n[[upgrade.table.columns]]\nname = \"b\"\ntype = \"integer\"\ndefualt = { sql = \"0\" }\n",
            ),
        );
        assert!(e.contains("upgrade step 1 (create_table): unknown key `table.columns[1].defualt`"), "{e}");

        // Known keys holding their default values are not mistaken for unknown ones.
        let text = with_body(
            "upgrade = [{ op = \"add_column\", table = \"t\", column = { name = \"c\", type = \"text\", nullable = false, auto = false } }]\ndowngrade = []\n",
        );
        Revision::parse(name, &text).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Reading checks every key, so it must stay cheap on a large revision (an
    /// autogenerated first revision of 100 tables).
    #[test]
    fn large_revision_reads_quickly() {
        let mut r = sample();
        let Operation::CreateTable { table } = r.upgrade[0].clone() else { unreachable!() };
        r.upgrade = (0..100)
            .map(|i| {
                let mut t = table.clone();
                t.name = format!("t{i}");
                t.columns = (0..20).map(|c| Column { name: format!("c{c}"), ..table.columns[c % 4].clone() }).collect();
                Operation::CreateTable { table: t }
            })
            .collect();
        let text = r.to_toml();
        let started = std::time::Instant::now();
        let back = Revision::parse(&r.file_name(), &text).unwrap();
        let took = started.elapsed();
        assert_eq!(back.upgrade, r.upgrade);
        assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    }

    /// The example in the module's documentation is a file that reads.
    #[test]
    fn documented_example_reads() {
        let doc: String = include_str!("revision.rs")
            .lines()
            .skip_while(|l| *l != "//! ```toml")
            .skip(1)
            .take_while(|l| *l != "//! ```")
            .map(|l| format!("{}\n", l.strip_prefix("//! ").unwrap_or(l.trim_start_matches("//!"))))
            .collect();
        let r = Revision::parse("3f9a0c12d4e5_add_orders.toml", &doc).unwrap_or_else(|e| panic!("{e}\n{doc}"));
        assert_eq!((r.upgrade.len(), r.downgrade.len()), (2, 1));
    }

    #[test]
    fn ids_slugs_and_names() {
        for _ in 0..100 {
            let id = new_id();
            assert!(is_valid_id(&id), "{id}");
        }
        assert_ne!(new_id(), new_id());
        assert_eq!(slug("Add orders & items!"), "add_orders_items");
        assert_eq!(slug("¿qué?"), "qu");
        assert_eq!(slug("!!!"), "revision");
        assert!(slug(&"x".repeat(100)).len() <= 40);
        assert_eq!(id_from_file_name("0123456789ab_add.toml"), Some("0123456789ab"));
        assert_eq!(id_from_file_name("0123456789ab.toml"), Some("0123456789ab"));
        assert_eq!(id_from_file_name("README.md"), None);
        assert_eq!(id_from_file_name("0123456789ab_add.txt"), None);
    }

    #[test]
    fn write_new_never_replaces_a_file() {
        let dir = std::env::temp_dir().join(format!("almacen_rev_{}", new_id()));
        let r = sample();
        let path = r.write_new(&dir).unwrap();
        assert_eq!(path.file_name().unwrap().to_str().unwrap(), r.file_name());
        let mut back = Revision::read(&path).unwrap();
        back.notes = r.notes.clone();
        assert_eq!(back, r);
        let e = r.write_new(&dir).unwrap_err();
        assert!(e.problem.contains("cannot create"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
