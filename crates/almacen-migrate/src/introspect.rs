//! A live database's tables, read back as dialect-neutral [`Table`]s: columns with their
//! portable types, nullability, generated keys and server defaults, the primary key,
//! indexes and unique constraints, and foreign keys.
//!
//! Where each dialect keeps them:
//!
//! - **SQLite**: `pragma_table_info`, `pragma_index_list` / `pragma_index_info`,
//!   `pragma_foreign_key_list`, and the `CREATE TABLE` text in `sqlite_master`, parsed for
//!   what the pragmas do not say: the CHECK constraints that tell almacen's types apart
//!   (integer widths, `bool`, text length, JSON, UUID, enum values), `AUTOINCREMENT`, and
//!   the names of unique constraints and foreign keys.
//! - **PostgreSQL**: `pg_catalog` of the current schema (`format_type` for types,
//!   `pg_get_expr` for defaults, identity and serial columns, `pg_index`, `pg_constraint`
//!   for foreign keys and the enum CHECKs).
//! - **MariaDB**: `information_schema` of the current database (`COLUMNS`, `STATISTICS`,
//!   `CHECK_CONSTRAINTS`, `KEY_COLUMN_USAGE`, `REFERENTIAL_CONSTRAINTS`).
//!
//! A declared type is read as the portable [`Type`] almacen creates it for (PostgreSQL's
//! `character varying(40)` is `Text { max_len: Some(40) }`); a type almacen does not create
//! is [`Type::Native`]. Defaults are tidied (PostgreSQL's `::type` casts of literals and
//! the outer parentheses removed, string literals quoted the standard way) and almacen's
//! current-time defaults read as [`Default::Now`]. Table names are always bound as
//! parameters.
//!
//! An index that an [`Index`] (columns, in order, unique or not) cannot say exactly is left
//! out of [`Table::indexes`] and reported as a [`SkippedIndex`] by [`read_live_schema`]:
//! an index on an expression, a partial index (`WHERE`), and on PostgreSQL one with
//! `INCLUDE` columns, another access method than B-tree, descending order, a non-default
//! operator class or collation, or a deferrable one; on SQLite a descending one; on
//! MariaDB a prefix, full-text or spatial one. Read as a plain index it would be compared
//! with the models as one: autogenerate would drop a hand-made index, and its downgrade
//! would re-create it as another index (without its `WHERE`), or fail to (an expression
//! read as a column name). Like Alembic, autogenerate leaves such an index alone.

use crate::equivalence::{
    Spanned, Tok, canonical_expr, canonical_type, cast_free, is_now, lex, same_name, strip_literal_casts, strip_outer_parens,
};
use crate::schema::{Column, Default, ForeignKey, Index, OnDeleteAction, Table, Type};
use almacen::{Dialect, Error, Executor, Result, Row, Value, params};

/// An index left out of its table's [`Table::indexes`] because an [`Index`] cannot say it
/// exactly (see the module's documentation): autogenerate neither compares, drops nor
/// re-creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedIndex {
    /// The table it is on.
    pub table: String,
    /// Its name.
    pub name: String,
    /// What it has that an [`Index`] cannot say, in words: "on an expression", "partial
    /// (WHERE …)", "with INCLUDE columns", ….
    pub reason: String,
    /// Its definition as the database gives it (the `CREATE INDEX` text on PostgreSQL and
    /// SQLite, a summary on MariaDB), for the reader.
    pub definition: String,
}

/// A live database's tables, and the indexes left out of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveSchema {
    /// Every table, sorted by name (as [`read_schema`] returns them).
    pub tables: Vec<Table>,
    /// The indexes an [`Index`] cannot say, sorted by table and name.
    pub skipped: Vec<SkippedIndex>,
}

/// Every table of the current PostgreSQL schema, MariaDB database or SQLite main database
/// (SQLite's own `sqlite_%` tables left out), sorted by name, and the indexes left out of
/// them ([`SkippedIndex`]).
///
/// ```no_run
/// # async fn f(db: &almacen::Database) -> almacen::Result<()> {
/// let live = almacen_migrate::introspect::read_live_schema(db).await?;
/// for ix in &live.skipped {
///     println!("index {} on {} is {}: left alone", ix.name, ix.table, ix.reason);
/// }
/// # Ok(()) }
/// ```
pub async fn read_live_schema(db: &impl Executor) -> Result<LiveSchema> {
    let mut names = table_names(db).await?;
    names.sort();
    let mut out = LiveSchema { tables: Vec::with_capacity(names.len()), skipped: Vec::new() };
    for name in names {
        // A table dropped between the two reads is simply not there.
        if let Some((table, skipped)) = read_one(db, &name).await? {
            out.tables.push(table);
            out.skipped.extend(skipped);
        }
    }
    Ok(out)
}

/// Every table of the current PostgreSQL schema, MariaDB database or SQLite main database
/// (SQLite's own `sqlite_%` tables left out), sorted by name; [`read_live_schema`] without
/// the indexes left out.
///
/// ```no_run
/// # async fn f(db: &almacen::Database) -> almacen::Result<()> {
/// for table in almacen_migrate::introspect::read_schema(db).await? {
///     println!("{}: {} columns", table.name, table.columns.len());
/// }
/// # Ok(()) }
/// ```
pub async fn read_schema(db: &impl Executor) -> Result<Vec<Table>> {
    Ok(read_live_schema(db).await?.tables)
}

/// Table `name` of the current schema / database, or `None` when there is no such table
/// (the indexes an [`Index`] cannot say left out: see [`read_live_schema`]).
///
/// ```no_run
/// # async fn f(db: &almacen::Database) -> almacen::Result<()> {
/// if let Some(t) = almacen_migrate::introspect::read_table(db, "products").await? {
///     println!("key {:?}, {} indexes", t.primary_key, t.indexes.len());
/// }
/// # Ok(()) }
/// ```
pub async fn read_table(db: &impl Executor, name: &str) -> Result<Option<Table>> {
    Ok(read_one(db, name).await?.map(|(table, _)| table))
}

/// Table `name` and the indexes left out of it.
async fn read_one(db: &impl Executor, name: &str) -> Result<Option<(Table, Vec<SkippedIndex>)>> {
    let read = match db.dialect() {
        Dialect::Sqlite => sqlite::read(db, name).await,
        Dialect::Postgres => postgres::read(db, name).await,
        Dialect::MySql => mysql::read(db, name).await,
    };
    let mut read = read.map_err(|e| in_table(e, name))?;
    if let Some((_, skipped)) = &mut read {
        skipped.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(read)
}

/// A catalog cell that could not be read, named with the table it describes.
fn in_table(e: Error, table: &str) -> Error {
    match e {
        Error::Decode { column, message } => Error::Decode { column, message: format!("{message} (reading table \"{table}\")") },
        other => other,
    }
}

async fn table_names(db: &impl Executor) -> Result<Vec<String>> {
    let sql = match db.dialect() {
        Dialect::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, 7) <> 'sqlite_'",
        Dialect::Postgres => {
            "SELECT CAST(c.relname AS TEXT) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
        }
        Dialect::MySql => {
            "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"
        }
    };
    db.fetch_all_raw(sql, params! {}).await?.iter().map(|r| text(r, "name")).collect()
}

// ---------------------------------------------------------------------------------------
// Catalog cells.
// ---------------------------------------------------------------------------------------

/// Text of a catalog cell (MariaDB reports some as binary strings); `None` for NULL.
fn opt_text(row: &Row, column: &str) -> Result<Option<String>> {
    match row.value(column) {
        Some(Value::Text(t)) => Ok(Some(t.clone())),
        Some(Value::Bytes(b)) => String::from_utf8(b.clone()).map(Some).map_err(|e| decode(column, e)),
        Some(Value::Null(_)) => Ok(None),
        Some(Value::Int(i)) => Ok(Some(i.to_string())),
        Some(other) => Err(decode(column, format!("expected text from the catalog, found {other:?}"))),
        None => Err(decode(column, "no such column in the catalog row")),
    }
}

/// Text of a catalog cell, empty for NULL.
fn text(row: &Row, column: &str) -> Result<String> {
    Ok(opt_text(row, column)?.unwrap_or_default())
}

/// An integer catalog cell (some arrive as decimals or text on MariaDB).
fn int(row: &Row, column: &str) -> Result<i64> {
    match row.value(column) {
        Some(Value::Int(i)) => Ok(*i),
        Some(Value::Bool(b)) => Ok(i64::from(*b)),
        Some(Value::Decimal(d)) => d.to_string().parse().map_err(|e| decode(column, e)),
        Some(Value::Null(_)) => Ok(0),
        _ => text(row, column)?.trim().parse().map_err(|e| decode(column, e)),
    }
}

fn flag(row: &Row, column: &str) -> Result<bool> {
    match row.value(column) {
        Some(Value::Bool(b)) => Ok(*b),
        _ => Ok(int(row, column)? != 0),
    }
}

fn decode(column: &str, message: impl std::fmt::Display) -> Error {
    Error::Decode { column: column.to_string(), message: format!("reading the catalog: {message}") }
}

// ---------------------------------------------------------------------------------------
// Shared helpers: checks, defaults, types.
// ---------------------------------------------------------------------------------------

/// The values of an enum CHECK on `column`, in any of the forms the dialects store it:
/// `col IN ('a', 'b')` (SQLite, MariaDB), `(col = ANY (ARRAY['a'::text, 'b'::text]))` and,
/// for one value, `(col = 'a'::text)` (PostgreSQL), with or without a leading `CHECK`.
pub(crate) fn enum_variants(d: Dialect, column: &str, clause: &str) -> Option<Vec<String>> {
    let toks = strip_literal_casts(lex(d, clause).into_iter().map(|s| s.tok).collect());
    let toks = match toks.first() {
        Some(Tok::Word(w)) if w.eq_ignore_ascii_case("check") => &toks[1..],
        _ => &toks[..],
    };
    let toks = strip_outer_parens(toks);
    let (first, rest) = toks.split_first()?;
    let named = match first {
        Tok::Ident(n) | Tok::Word(n) => same_name(d, n, column),
        _ => false,
    };
    if !named {
        return None;
    }
    let list = |items: &[Tok]| -> Option<Vec<String>> {
        let mut out = Vec::new();
        for (i, t) in items.iter().enumerate() {
            match (i % 2, t) {
                (0, Tok::Str(s)) => out.push(s.clone()),
                (1, Tok::Punct(p)) if p == "," => {}
                _ => return None,
            }
        }
        (!out.is_empty() && items.len() % 2 == 1).then_some(out)
    };
    let word = |t: &Tok, w: &str| matches!(t, Tok::Word(x) if x.eq_ignore_ascii_case(w));
    let punct = |t: &Tok, p: &str| matches!(t, Tok::Punct(x) if x == p);
    match rest {
        [kw, open, items @ .., close] if word(kw, "in") && punct(open, "(") && punct(close, ")") => list(items),
        [eq, any, open, array, bra, items @ .., ket, close]
            if punct(eq, "=")
                && word(any, "any")
                && punct(open, "(")
                && word(array, "array")
                && punct(bra, "[")
                && punct(ket, "]")
                && punct(close, ")") =>
        {
            list(items)
        }
        [eq, Tok::Str(v)] if punct(eq, "=") => Some(vec![v.clone()]),
        _ => None,
    }
}

/// Whether one of `checks` is `expected` (both compared in canonical form).
fn has_check(d: Dialect, checks: &[String], expected: &str) -> bool {
    let expected = canonical_expr(d, expected);
    checks.iter().any(|c| canonical_expr(d, c) == expected)
}

/// The length of a `length(col) <= n` CHECK on `column`, as almacen writes for text with a
/// `max_len` on SQLite.
fn length_check(d: Dialect, checks: &[String], column: &str) -> Option<u32> {
    let prefix = canonical_expr(d, &format!("length({}) <=", d.quote(column)));
    checks.iter().find_map(|c| canonical_expr(d, c).strip_prefix(&prefix)?.parse().ok())
}

fn uuid_check(d: Dialect, checks: &[String], column: &str) -> bool {
    let q = d.quote(column);
    has_check(d, checks, &format!("length({q}) = 16")) || has_check(d, checks, &format!("octet_length({q}) = 16"))
}

fn enum_check(d: Dialect, checks: &[String], column: &str) -> Option<Vec<String>> {
    checks.iter().find_map(|c| enum_variants(d, column, c))
}

/// A default as the database reports it, tidied: outer parentheses and PostgreSQL's casts
/// of literals removed, string literals quoted with doubled quotes (MariaDB writes `\'`),
/// the rest as written; `Now` for almacen's current-time forms for `ty`; `None` for `NULL`.
pub(crate) fn tidy_default(d: Dialect, ty: &Type, raw: &str) -> Option<Default> {
    if raw.trim().is_empty() {
        return None;
    }
    if is_now(d, ty, raw) {
        return Some(Default::Now);
    }
    let spanned = lex(d, raw);
    let kept = kept_tokens(&spanned);
    if let [only] = &kept[..]
        && matches!(&only.tok, Tok::Word(w) if w.eq_ignore_ascii_case("null"))
    {
        return None;
    }
    let mut out = String::new();
    for (i, s) in kept.iter().enumerate() {
        // A space where the text had one just before this token (not inside a dropped cast).
        if i > 0 && raw[kept[i - 1].end..s.start].ends_with(char::is_whitespace) {
            out.push(' ');
        }
        match &s.tok {
            Tok::Str(content) => out.push_str(&format!("'{}'", content.replace('\'', "''"))),
            _ => out.push_str(&raw[s.start..s.end]),
        }
    }
    Some(Default::Sql(out))
}

/// The tokens of a default left after removing casts of literals and outer parentheses,
/// with their places in the text.
fn kept_tokens(spanned: &[Spanned]) -> Vec<Spanned> {
    let toks: Vec<Tok> = spanned.iter().map(|s| s.tok.clone()).collect();
    let kept: Vec<Spanned> = cast_free(&toks).into_iter().map(|i| spanned[i].clone()).collect();
    let kept_toks: Vec<Tok> = kept.iter().map(|s| s.tok.clone()).collect();
    // Outer parentheses come in pairs, one at each end.
    let skip = (kept_toks.len() - strip_outer_parens(&kept_toks).len()) / 2;
    kept[skip..kept.len() - skip].to_vec()
}

fn on_delete(rule: &str) -> OnDeleteAction {
    match rule.to_ascii_uppercase().as_str() {
        "CASCADE" | "C" => OnDeleteAction::Cascade,
        "SET NULL" | "N" => OnDeleteAction::SetNull,
        "RESTRICT" | "R" => OnDeleteAction::Restrict,
        // SET DEFAULT has no portable form: read as the default action.
        _ => OnDeleteAction::NoAction,
    }
}

/// Index rows (name, unique, column) in index order, grouped into indexes.
fn group_indexes(rows: Vec<(String, bool, String)>) -> Vec<Index> {
    let mut out: Vec<Index> = Vec::new();
    for (name, unique, column) in rows {
        match out.last_mut() {
            Some(last) if last.name == name => last.columns.push(column),
            _ => out.push(Index { name, columns: vec![column], unique }),
        }
    }
    out
}

/// Foreign key rows (name, column, referenced table, referenced column, rule) in key order,
/// one key per name; keys over several columns have no portable form and are left out
/// (with a warning naming them).
fn group_foreign_keys(table: &str, rows: Vec<(String, String, String, String, String)>) -> Vec<ForeignKey> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let n = rows[i..].iter().take_while(|r| r.0 == rows[i].0).count();
        let (name, column, ref_table, ref_column, rule) = rows[i].clone();
        if n == 1 {
            out.push(ForeignKey { name, column, ref_table, ref_column, on_delete: on_delete(&rule) });
        } else {
            tracing::warn!(table, foreign_key = %name, columns = n, "foreign key over several columns left out: migrations handle one-column keys");
        }
        i += n;
    }
    out
}

// ---------------------------------------------------------------------------------------
// SQLite.
// ---------------------------------------------------------------------------------------

mod sqlite {
    use super::*;

    /// What the `CREATE TABLE` text says that the pragmas do not.
    #[derive(Debug, Default)]
    pub(super) struct Ddl {
        /// Every CHECK clause, of a column or of the table.
        pub(super) checks: Vec<String>,
        /// Columns declared `AUTOINCREMENT`.
        pub(super) autoincrement: Vec<String>,
        /// Named UNIQUE constraints: name, columns.
        pub(super) uniques: Vec<(String, Vec<String>)>,
        /// Named foreign keys: name, column.
        pub(super) foreign_keys: Vec<(String, String)>,
    }

    fn name_of(t: &Tok) -> Option<String> {
        match t {
            Tok::Ident(n) | Tok::Word(n) | Tok::Str(n) => Some(n.clone()),
            _ => None,
        }
    }

    /// The index of the `)` matching the `(` at `open`.
    fn matching(toks: &[Spanned], open: usize) -> usize {
        let mut depth = 0usize;
        for (i, s) in toks.iter().enumerate().skip(open) {
            if s.tok.is_punct("(") {
                depth += 1;
            } else if s.tok.is_punct(")") {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
        }
        toks.len()
    }

    /// The names in a parenthesised column list starting at `open` (`("a", b COLLATE x)`:
    /// the first name of each item).
    fn name_list(toks: &[Spanned], open: usize) -> Vec<String> {
        let close = matching(toks, open);
        let mut out = Vec::new();
        let mut expect = true;
        for s in &toks[open + 1..close.min(toks.len())] {
            if s.tok.is_punct(",") {
                expect = true;
            } else if expect {
                out.extend(name_of(&s.tok));
                expect = false;
            }
        }
        out
    }

    /// Parse the parts of a `CREATE TABLE` statement this module needs.
    pub(super) fn parse_ddl(sql: &str) -> Ddl {
        let toks = lex(Dialect::Sqlite, sql);
        let mut ddl = Ddl::default();
        let Some(open) = toks.iter().position(|s| s.tok.is_punct("(")) else { return ddl };
        let close = matching(&toks, open);
        let mut part_start = open + 1;
        let mut depth = 0usize;
        for i in open + 1..=close.min(toks.len()) {
            let end_of_part = i == close || (depth == 0 && toks[i].tok.is_punct(","));
            if end_of_part {
                parse_part(sql, &toks[part_start..i], &mut ddl);
                part_start = i + 1;
                continue;
            }
            if toks[i].tok.is_punct("(") {
                depth += 1;
            } else if toks[i].tok.is_punct(")") {
                depth -= 1;
            }
        }
        ddl
    }

    /// One column definition or table constraint.
    fn parse_part(sql: &str, part: &[Spanned], ddl: &mut Ddl) {
        let Some(first) = part.first() else { return };
        let is_constraint = ["constraint", "primary", "unique", "check", "foreign"].iter().any(|k| first.tok.is_word(k));
        let column = if is_constraint { None } else { name_of(&first.tok) };
        let mut name: Option<String> = None;
        let mut i = usize::from(column.is_some());
        while i < part.len() {
            let t = &part[i].tok;
            if t.is_word("constraint") {
                name = part.get(i + 1).and_then(|s| name_of(&s.tok));
                i += 2;
                continue;
            }
            if t.is_word("autoincrement")
                && let Some(c) = &column
            {
                ddl.autoincrement.push(c.clone());
            }
            if t.is_word("check") && part.get(i + 1).is_some_and(|s| s.tok.is_punct("(")) {
                let close = matching(part, i + 1);
                if close < part.len() && close > i + 2 {
                    ddl.checks.push(sql[part[i + 2].start..part[close].start].trim().to_string());
                }
                i = close + 1;
                name = None;
                continue;
            }
            if t.is_word("unique") && column.is_none() && part.get(i + 1).is_some_and(|s| s.tok.is_punct("(")) {
                if let Some(n) = name.take() {
                    ddl.uniques.push((n, name_list(part, i + 1)));
                }
                i = matching(part, i + 1) + 1;
                continue;
            }
            if t.is_word("foreign") && part.get(i + 2).is_some_and(|s| s.tok.is_punct("(")) {
                let columns = name_list(part, i + 2);
                if let (Some(n), [c]) = (name.take(), &columns[..]) {
                    ddl.foreign_keys.push((n, c.clone()));
                }
                i = matching(part, i + 2) + 1;
                continue;
            }
            if t.is_word("references")
                && let (Some(c), Some(n)) = (&column, name.take())
            {
                ddl.foreign_keys.push((n, c.clone()));
            }
            i += 1;
        }
    }

    /// The portable type of a column declared `declared` whose table has `checks`.
    /// Declared types almacen does not write are read by SQLite's affinity rules where the
    /// affinity says which type it is (`VARCHAR(40)` holds text, `DOUBLE PRECISION` a
    /// double).
    pub(super) fn column_type(column: &str, declared: &str, checks: &[String]) -> Type {
        let d = Dialect::Sqlite;
        let upper = canonical_type(declared);
        let q = d.quote(column);
        if let Some((kind, rest)) = upper.split_once('(')
            && (kind == "DECIMAL_REAL" || kind == "DECIMAL_TEXT")
            && let Some((p, s)) = rest.trim_end_matches(')').split_once(',')
            && let (Ok(precision), Ok(scale)) = (p.trim().parse(), s.trim().parse())
        {
            return Type::Decimal { precision, scale };
        }
        if upper.contains("INT") {
            if has_check(d, checks, &format!("{q} IN (0, 1)")) {
                return Type::Bool;
            }
            if has_check(d, checks, &format!("typeof({q}) IN ('integer', 'null') AND {q} BETWEEN -32768 AND 32767")) {
                return Type::SmallInt;
            }
            if has_check(d, checks, &format!("typeof({q}) IN ('integer', 'null') AND {q} BETWEEN -2147483648 AND 2147483647")) {
                return Type::Integer;
            }
            // SQLite's integers are 64-bit, with or without almacen's typeof CHECK.
            return Type::BigInt;
        }
        if upper.contains("CHAR") || upper.contains("CLOB") || upper.contains("TEXT") {
            if let Some(variants) = enum_check(d, checks, column) {
                return Type::Enum { variants };
            }
            if has_check(d, checks, &format!("json_valid({q})")) {
                return Type::Json;
            }
            return Type::Text { max_len: length_check(d, checks, column) };
        }
        if upper == "BLOB" {
            return if uuid_check(d, checks, column) { Type::Uuid } else { Type::Bytes };
        }
        if upper.contains("REAL") || upper.contains("FLOA") || upper.contains("DOUB") {
            return Type::Double;
        }
        Type::Native { dialect: d.name().into(), sql: upper }
    }

    pub(super) async fn read(db: &impl Executor, name: &str) -> Result<Option<(Table, Vec<SkippedIndex>)>> {
        let sql = "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name = :name COLLATE NOCASE";
        let Some(row) = db.fetch_optional_raw(sql, params! { "name" => name }).await? else { return Ok(None) };
        let name = text(&row, "name")?;
        let ddl = parse_ddl(&text(&row, "sql")?);

        let sql = r#"SELECT name, type, "notnull" AS not_null, dflt_value, pk FROM pragma_table_info(:table, 'main') ORDER BY cid"#;
        let rows = db.fetch_all_raw(sql, params! { "table" => name.as_str() }).await?;
        let mut columns = Vec::with_capacity(rows.len());
        let mut key: Vec<(i64, String)> = Vec::new();
        let mut integer_declared = Vec::with_capacity(rows.len());
        for row in &rows {
            let column = text(row, "name")?;
            let declared = text(row, "type")?;
            integer_declared.push(declared.eq_ignore_ascii_case("integer"));
            let ty = column_type(&column, &declared, &ddl.checks);
            let default = opt_text(row, "dflt_value")?.and_then(|raw| tidy_default(Dialect::Sqlite, &ty, &raw));
            let pk = int(row, "pk")?;
            if pk > 0 {
                key.push((pk, column.clone()));
            }
            columns.push(Column {
                auto: ddl.autoincrement.iter().any(|c| same_name(Dialect::Sqlite, c, &column)),
                nullable: int(row, "not_null")? == 0,
                name: column,
                ty,
                default,
            });
        }
        key.sort();
        let primary_key: Vec<String> = key.into_iter().map(|(_, c)| c).collect();
        // The one INTEGER PRIMARY KEY column is the rowid: never NULL, NOT NULL written or not.
        if let [k] = &primary_key[..]
            && let Some(i) = columns.iter().position(|c| c.name == *k)
            && integer_declared[i]
        {
            columns[i].nullable = false;
        }
        let (indexes, skipped) = indexes(db, &name, &ddl).await?;
        let foreign_keys = foreign_keys(db, &name, &ddl).await?;
        Ok(Some((Table { name, columns, primary_key, indexes, foreign_keys }, skipped)))
    }

    /// What an index has that an [`Index`] cannot say, from its `pragma_index_list` row
    /// and its key columns' `pragma_index_xinfo` rows.
    fn skip_reason(partial: bool, key_columns: &[Row]) -> Result<Option<&'static str>> {
        if partial {
            return Ok(Some("partial (it has a WHERE clause)"));
        }
        for c in key_columns {
            // SQLite numbers an expression's place -2 (and the rowid -1).
            if int(c, "cid")? < 0 {
                return Ok(Some("on an expression"));
            }
            if flag(c, "descending")? {
                return Ok(Some("in descending order"));
            }
        }
        Ok(None)
    }

    async fn indexes(db: &impl Executor, table: &str, ddl: &Ddl) -> Result<(Vec<Index>, Vec<SkippedIndex>)> {
        let sql = r#"SELECT name, "unique" AS is_unique, origin, partial FROM pragma_index_list(:table) ORDER BY name"#;
        let mut out = Vec::new();
        let mut skipped = Vec::new();
        let mut used = vec![false; ddl.uniques.len()];
        for row in db.fetch_all_raw(sql, params! { "table" => table }).await? {
            if text(&row, "origin")? == "pk" {
                continue;
            }
            let mut name = text(&row, "name")?;
            let sql = r#"SELECT name, cid, "desc" AS descending FROM pragma_index_xinfo(:index) WHERE key = 1 ORDER BY seqno"#;
            let key_columns = db.fetch_all_raw(sql, params! { "index" => name.as_str() }).await?;
            if let Some(reason) = skip_reason(flag(&row, "partial")?, &key_columns)? {
                let sql = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :index";
                let definition = match db.fetch_optional_raw(sql, params! { "index" => name.as_str() }).await? {
                    Some(r) => text(&r, "sql")?,
                    None => String::new(),
                };
                skipped.push(SkippedIndex { table: table.to_string(), name, reason: reason.into(), definition });
                continue;
            }
            let columns: Vec<String> = key_columns.iter().map(|r| text(r, "name")).collect::<Result<_>>()?;
            // A UNIQUE constraint's index is SQLite's `sqlite_autoindex_…`: its name is the
            // constraint's, from the CREATE TABLE text.
            if text(&row, "origin")? == "u"
                && let Some(i) = (0..ddl.uniques.len()).find(|i| {
                    !used[*i]
                        && ddl.uniques[*i].1.len() == columns.len()
                        && ddl.uniques[*i].1.iter().zip(&columns).all(|(a, b)| same_name(Dialect::Sqlite, a, b))
                })
            {
                used[i] = true;
                name = ddl.uniques[i].0.clone();
            }
            out.push(Index { name, columns, unique: flag(&row, "is_unique")? });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((out, skipped))
    }

    async fn foreign_keys(db: &impl Executor, table: &str, ddl: &Ddl) -> Result<Vec<ForeignKey>> {
        let sql = r#"SELECT id, "table" AS ref_table, "from" AS col, "to" AS ref_col, on_delete FROM pragma_foreign_key_list(:table) ORDER BY id, seq"#;
        let mut rows = Vec::new();
        for row in db.fetch_all_raw(sql, params! { "table" => table }).await? {
            let column = text(&row, "col")?;
            let ref_table = text(&row, "ref_table")?;
            let ref_column = match opt_text(&row, "ref_col")? {
                Some(c) => c,
                // `REFERENCES t` without a column: the referenced table's key.
                None => referenced_key(db, &ref_table).await?,
            };
            let name = ddl.foreign_keys.iter().find(|(_, c)| same_name(Dialect::Sqlite, c, &column)).map(|(n, _)| n.clone());
            // Unnamed keys are grouped by SQLite's id, so they stay apart.
            let name = name.unwrap_or_else(|| format!("\u{0}{}", int(&row, "id").unwrap_or(0)));
            rows.push((name, column, ref_table, ref_column, text(&row, "on_delete")?));
        }
        let mut keys = group_foreign_keys(table, rows);
        for k in &mut keys {
            if k.name.starts_with('\u{0}') {
                k.name.clear();
            }
        }
        Ok(keys)
    }

    async fn referenced_key(db: &impl Executor, table: &str) -> Result<String> {
        let sql = "SELECT name FROM pragma_table_info(:table) WHERE pk = 1";
        let row = db.fetch_optional_raw(sql, params! { "table" => table }).await?;
        Ok(match row {
            Some(r) => text(&r, "name")?,
            None => String::new(),
        })
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL.
// ---------------------------------------------------------------------------------------

mod postgres {
    use super::*;

    /// The table's oid, from its name in the current schema.
    const TABLE: &str = "WITH t AS (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                         WHERE n.nspname = current_schema() AND c.relname = :table AND c.relkind IN ('r', 'p'))";

    /// The portable type of `format_type`'s answer (`character varying(40)`,
    /// `timestamp with time zone`, `numeric(12,2)`).
    pub(super) fn column_type(formatted: &str) -> Type {
        let f = formatted.trim().to_ascii_lowercase();
        let portable = match f.as_str() {
            "text" => Some(Type::Text { max_len: None }),
            "smallint" => Some(Type::SmallInt),
            "integer" => Some(Type::Integer),
            "bigint" => Some(Type::BigInt),
            "real" => Some(Type::Float),
            "double precision" => Some(Type::Double),
            "boolean" => Some(Type::Bool),
            "uuid" => Some(Type::Uuid),
            // Microseconds is the default precision: said or not, the same type.
            "timestamp with time zone" | "timestamp(6) with time zone" => Some(Type::Timestamp),
            "time without time zone" | "time(6) without time zone" => Some(Type::Time),
            "date" => Some(Type::Date),
            "jsonb" => Some(Type::Json),
            "bytea" => Some(Type::Bytes),
            _ => None,
        };
        if let Some(t) = portable {
            return t;
        }
        let args = |prefix: &str| f.strip_prefix(prefix).and_then(|r| r.strip_suffix(')')).map(str::to_string);
        if let Some(n) = args("character varying(").and_then(|n| n.parse().ok()) {
            return Type::Text { max_len: Some(n) };
        }
        if let Some(ps) = args("numeric(")
            && let Some((p, s)) = ps.split_once(',')
            && let (Ok(precision), Ok(scale)) = (p.trim().parse(), s.trim().parse())
        {
            return Type::Decimal { precision, scale };
        }
        Type::Native { dialect: Dialect::Postgres.name().into(), sql: canonical_type(formatted) }
    }

    pub(super) async fn read(db: &impl Executor, name: &str) -> Result<Option<(Table, Vec<SkippedIndex>)>> {
        let exists = format!("{TABLE} SELECT 1 AS one FROM t");
        if db.fetch_optional_raw(&exists, params! { "table" => name }).await?.is_none() {
            return Ok(None);
        }
        let checks = checks(db, name).await?;
        let sql = format!(
            "{TABLE} SELECT CAST(a.attname AS TEXT) AS name, format_type(a.atttypid, a.atttypmod) AS type, \
             a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS dflt, CAST(a.attidentity AS TEXT) AS identity, \
             CAST(a.attgenerated AS TEXT) AS generated \
             FROM t JOIN pg_attribute a ON a.attrelid = t.oid \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
        );
        let mut columns = Vec::new();
        for row in db.fetch_all_raw(&sql, params! { "table" => name }).await? {
            let column = text(&row, "name")?;
            let mut ty = column_type(&text(&row, "type")?);
            if ty == (Type::Text { max_len: None })
                && let Some(variants) = enum_check(Dialect::Postgres, &checks, &column)
            {
                ty = Type::Enum { variants };
            }
            let raw_default = opt_text(&row, "dflt")?.unwrap_or_default();
            // A serial column's default is its sequence: it is generated, not defaulted.
            let serial = raw_default.starts_with("nextval(");
            let auto = !text(&row, "identity")?.is_empty() || serial;
            let default =
                if serial || !text(&row, "generated")?.is_empty() { None } else { tidy_default(Dialect::Postgres, &ty, &raw_default) };
            columns.push(Column { name: column, ty, nullable: !flag(&row, "not_null")?, auto, default });
        }
        let sql = format!(
            "{TABLE} SELECT CAST(a.attname AS TEXT) AS name FROM t JOIN pg_index i ON i.indrelid = t.oid AND i.indisprimary \
             CROSS JOIN LATERAL generate_series(1, i.indnkeyatts) AS k(ord) \
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[k.ord - 1] ORDER BY k.ord"
        );
        let primary_key =
            db.fetch_all_raw(&sql, params! { "table" => name }).await?.iter().map(|r| text(r, "name")).collect::<Result<_>>()?;
        let (indexes, skipped) = indexes(db, name).await?;
        let foreign_keys = foreign_keys(db, name).await?;
        Ok(Some((Table { name: name.to_string(), columns, primary_key, indexes, foreign_keys }, skipped)))
    }

    /// Every CHECK of the table, as `pg_get_constraintdef` writes it.
    async fn checks(db: &impl Executor, table: &str) -> Result<Vec<String>> {
        let sql = format!(
            "{TABLE} SELECT pg_get_constraintdef(con.oid) AS def FROM t JOIN pg_constraint con ON con.conrelid = t.oid AND con.contype = 'c'"
        );
        db.fetch_all_raw(&sql, params! { "table" => table }).await?.iter().map(|r| text(r, "def")).collect()
    }

    /// Indexes other than the primary key's, a unique constraint's included (its index has
    /// its name), each once; and those an [`Index`] cannot say, left out.
    async fn indexes(db: &impl Executor, table: &str) -> Result<(Vec<Index>, Vec<SkippedIndex>)> {
        // `skip` says what the index has that an Index cannot say (empty: nothing). Its
        // key columns are `indkey` (0 for an expression's place), its options (DESC, NULLS
        // FIRST) `indoption`, its operator classes `indclass`, its collations
        // `indcollation`, one each per key column.
        let sql = format!(
            "{TABLE} SELECT CAST(ic.relname AS TEXT) AS name, i.indisunique AS is_unique, CAST(a.attname AS TEXT) AS col, \
             CASE WHEN i.indpred IS NOT NULL THEN 'partial (WHERE ' || pg_get_expr(i.indpred, i.indrelid, true) || ')' \
                  WHEN i.indexprs IS NOT NULL THEN 'on an expression' \
                  WHEN i.indnatts <> i.indnkeyatts THEN 'with INCLUDE columns' \
                  WHEN i.indisexclusion THEN 'an exclusion constraint' \
                  WHEN am.amname <> 'btree' THEN 'a ' || CAST(am.amname AS TEXT) || ' index' \
                  WHEN NOT i.indimmediate THEN 'deferrable' \
                  WHEN EXISTS (SELECT 1 FROM unnest(CAST(i.indoption AS int2[])) AS o(v) WHERE o.v <> 0) \
                    THEN 'in descending or NULLS FIRST order' \
                  WHEN EXISTS (SELECT 1 FROM unnest(CAST(i.indclass AS oid[])) AS c(v) JOIN pg_opclass oc ON oc.oid = c.v \
                               WHERE NOT oc.opcdefault) THEN 'with an operator class of its own' \
                  WHEN EXISTS (SELECT 1 FROM generate_series(0, i.indnkeyatts - 1) AS j(n) \
                               JOIN pg_attribute ca ON ca.attrelid = i.indrelid AND ca.attnum = i.indkey[j.n] \
                               WHERE i.indcollation[j.n] <> ca.attcollation) THEN 'with a collation of its own' \
                  ELSE '' END AS skip, \
             pg_get_indexdef(i.indexrelid) AS def \
             FROM t JOIN pg_index i ON i.indrelid = t.oid AND NOT i.indisprimary \
             JOIN pg_class ic ON ic.oid = i.indexrelid \
             JOIN pg_am am ON am.oid = ic.relam \
             CROSS JOIN LATERAL generate_series(1, i.indnkeyatts) AS k(ord) \
             LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[k.ord - 1] AND a.attnum > 0 \
             ORDER BY ic.relname, k.ord"
        );
        let mut rows = Vec::new();
        let mut skipped: Vec<SkippedIndex> = Vec::new();
        for row in db.fetch_all_raw(&sql, params! { "table" => table }).await? {
            let name = text(&row, "name")?;
            let reason = text(&row, "skip")?;
            if reason.is_empty() {
                rows.push((name, flag(&row, "is_unique")?, text(&row, "col")?));
            } else if skipped.last().is_none_or(|s| s.name != name) {
                skipped.push(SkippedIndex { table: table.to_string(), name, reason, definition: text(&row, "def")? });
            }
        }
        Ok((group_indexes(rows), skipped))
    }

    async fn foreign_keys(db: &impl Executor, table: &str) -> Result<Vec<ForeignKey>> {
        let sql = format!(
            "{TABLE} SELECT CAST(con.conname AS TEXT) AS name, CAST(a.attname AS TEXT) AS col, CAST(rc.relname AS TEXT) AS ref_table, \
             CAST(ra.attname AS TEXT) AS ref_col, CAST(con.confdeltype AS TEXT) AS rule \
             FROM t JOIN pg_constraint con ON con.conrelid = t.oid AND con.contype = 'f' \
             JOIN pg_class rc ON rc.oid = con.confrelid \
             CROSS JOIN LATERAL generate_series(1, array_length(con.conkey, 1)) AS k(ord) \
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = con.conkey[k.ord] \
             JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = con.confkey[k.ord] \
             ORDER BY con.conname, k.ord"
        );
        let mut rows = Vec::new();
        for row in db.fetch_all_raw(&sql, params! { "table" => table }).await? {
            rows.push((text(&row, "name")?, text(&row, "col")?, text(&row, "ref_table")?, text(&row, "ref_col")?, text(&row, "rule")?));
        }
        Ok(group_foreign_keys(table, rows))
    }
}

// ---------------------------------------------------------------------------------------
// MariaDB.
// ---------------------------------------------------------------------------------------

mod mysql {
    use super::*;

    /// The portable type of `COLUMN_TYPE` (`int(11)`, `varchar(40)`, `tinyint(1)`), told
    /// apart further by the column's CHECKs (JSON, UUID, enum values).
    pub(super) fn column_type(column: &str, column_type: &str, checks: &[String]) -> Type {
        let d = Dialect::MySql;
        let f = column_type.trim().to_ascii_lowercase();
        // Integer display widths mean nothing to the stored value.
        let int = |name: &str| {
            f == name
                || f.strip_prefix(name)
                    .and_then(|r| r.strip_prefix('('))
                    .and_then(|r| r.strip_suffix(')'))
                    .is_some_and(|w| w.chars().all(|c| c.is_ascii_digit()))
        };
        let args = |prefix: &str| f.strip_prefix(prefix).and_then(|r| r.strip_suffix(')')).map(str::to_string);
        if f == "tinyint(1)" || f == "boolean" {
            return Type::Bool;
        }
        if int("smallint") {
            return Type::SmallInt;
        }
        if int("int") {
            return Type::Integer;
        }
        if int("bigint") {
            return Type::BigInt;
        }
        match f.as_str() {
            "float" => return Type::Float,
            "double" => return Type::Double,
            "longblob" => return Type::Bytes,
            "datetime(6)" => return Type::Timestamp,
            "date" => return Type::Date,
            "time(6)" => return Type::Time,
            "json" => return Type::Json,
            "longtext" if has_check(d, checks, &format!("json_valid({})", d.quote(column))) => return Type::Json,
            "longtext" => return Type::Text { max_len: None },
            "varbinary(16)" if uuid_check(d, checks, column) => return Type::Uuid,
            _ => {}
        }
        if let Some(ps) = args("decimal(")
            && let Some((p, s)) = ps.split_once(',')
            && let (Ok(precision), Ok(scale)) = (p.trim().parse(), s.trim().parse())
        {
            return Type::Decimal { precision, scale };
        }
        if let Some(n) = args("varchar(").and_then(|n| n.parse().ok()) {
            if let Some(variants) = enum_check(d, checks, column) {
                return Type::Enum { variants };
            }
            return Type::Text { max_len: Some(n) };
        }
        Type::Native { dialect: d.name().into(), sql: canonical_type(column_type) }
    }

    pub(super) async fn read(db: &impl Executor, name: &str) -> Result<Option<(Table, Vec<SkippedIndex>)>> {
        let sql = "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table";
        let Some(row) = db.fetch_optional_raw(sql, params! { "table" => name }).await? else { return Ok(None) };
        let name = text(&row, "name")?;
        let sql = "SELECT CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = :table";
        let checks: Vec<String> =
            db.fetch_all_raw(sql, params! { "table" => name.as_str() }).await?.iter().map(|r| text(r, "clause")).collect::<Result<_>>()?;
        let sql = "SELECT COLUMN_NAME AS name, COLUMN_TYPE AS column_type, IS_NULLABLE AS is_nullable, COLUMN_DEFAULT AS dflt, EXTRA AS extra \
                   FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table ORDER BY ORDINAL_POSITION";
        let mut columns = Vec::new();
        for row in db.fetch_all_raw(sql, params! { "table" => name.as_str() }).await? {
            let column = text(&row, "name")?;
            let ty = column_type(&column, &text(&row, "column_type")?, &checks);
            // COLUMN_DEFAULT is SQL NULL for no default and the word NULL for DEFAULT NULL.
            let default = opt_text(&row, "dflt")?.and_then(|raw| tidy_default(Dialect::MySql, &ty, &raw));
            columns.push(Column {
                name: column,
                ty,
                nullable: text(&row, "is_nullable")? == "YES",
                auto: text(&row, "extra")?.to_ascii_lowercase().contains("auto_increment"),
                default,
            });
        }
        let foreign_keys = foreign_keys(db, &name).await?;
        let sql = "SELECT INDEX_NAME AS name, NON_UNIQUE AS non_unique, COLUMN_NAME AS col, SUB_PART AS sub_part, \
                   INDEX_TYPE AS index_type, COLLATION AS ordering FROM information_schema.STATISTICS \
                   WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :table ORDER BY INDEX_NAME, SEQ_IN_INDEX";
        let mut rows = Vec::new();
        // Per index: what an Index cannot say (if anything), and its parts as written.
        let mut odd: Vec<(String, Option<&'static str>, String, Vec<String>)> = Vec::new();
        for row in db.fetch_all_raw(sql, params! { "table" => name.as_str() }).await? {
            let ix = text(&row, "name")?;
            let column = opt_text(&row, "col")?;
            let sub_part = opt_text(&row, "sub_part")?;
            let index_type = text(&row, "index_type")?.to_ascii_uppercase();
            let descending = opt_text(&row, "ordering")?.is_some_and(|o| o.eq_ignore_ascii_case("D"));
            let reason = match () {
                _ if column.is_none() => Some("on an expression"),
                _ if sub_part.is_some() => Some("on a column prefix"),
                _ if index_type == "FULLTEXT" => Some("a full-text index"),
                _ if index_type == "SPATIAL" => Some("a spatial index"),
                _ if descending => Some("in descending order"),
                _ => None,
            };
            let part = format!(
                "{}{}{}",
                column.as_deref().map_or_else(|| "(expression)".to_string(), |c| Dialect::MySql.quote(c)),
                sub_part.map(|n| format!("({n})")).unwrap_or_default(),
                if descending { " DESC" } else { "" }
            );
            let unique = !flag(&row, "non_unique")?;
            match odd.last_mut() {
                Some(last) if last.0 == ix => {
                    last.1 = last.1.or(reason);
                    last.3.push(part);
                }
                _ => {
                    let kind = match index_type.as_str() {
                        "FULLTEXT" | "SPATIAL" => format!("{index_type} INDEX"),
                        _ if unique => "UNIQUE INDEX".into(),
                        _ => "INDEX".into(),
                    };
                    odd.push((ix.clone(), reason, kind, vec![part]));
                }
            }
            rows.push((ix, unique, column.unwrap_or_default()));
        }
        let mut skipped = Vec::new();
        for (ix, reason, kind, parts) in odd {
            // The primary key is read whatever it is: the comparison of keys says the rest.
            if let Some(reason) = reason.filter(|_| ix != "PRIMARY") {
                let definition = format!("{kind} {} ON {} ({})", Dialect::MySql.quote(&ix), Dialect::MySql.quote(&name), parts.join(", "));
                skipped.push(SkippedIndex { table: name.clone(), name: ix, reason: reason.into(), definition });
            }
        }
        let mut primary_key = Vec::new();
        let mut indexes = Vec::new();
        for ix in group_indexes(rows) {
            if ix.name == "PRIMARY" {
                primary_key = ix.columns;
            } else if !is_foreign_key_index(&ix, &foreign_keys) && !skipped.iter().any(|s: &SkippedIndex| s.name == ix.name) {
                indexes.push(ix);
            }
        }
        Ok(Some((Table { name, columns, primary_key, indexes, foreign_keys }, skipped)))
    }

    /// InnoDB gives a foreign key without a usable index one of its own, under the key's
    /// name: part of the key, not an index of the model's.
    fn is_foreign_key_index(ix: &Index, keys: &[ForeignKey]) -> bool {
        !ix.unique
            && keys.iter().any(|k| k.name == ix.name && ix.columns.len() == 1 && same_name(Dialect::MySql, &ix.columns[0], &k.column))
    }

    async fn foreign_keys(db: &impl Executor, table: &str) -> Result<Vec<ForeignKey>> {
        let sql = "SELECT k.CONSTRAINT_NAME AS name, k.COLUMN_NAME AS col, k.REFERENCED_TABLE_NAME AS ref_table, \
                   k.REFERENCED_COLUMN_NAME AS ref_col, r.DELETE_RULE AS rule \
                   FROM information_schema.KEY_COLUMN_USAGE k JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
                     ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME \
                   WHERE k.TABLE_SCHEMA = DATABASE() AND k.TABLE_NAME = :table AND k.REFERENCED_TABLE_NAME IS NOT NULL \
                   ORDER BY k.CONSTRAINT_NAME, k.ORDINAL_POSITION";
        let mut rows = Vec::new();
        for row in db.fetch_all_raw(sql, params! { "table" => table }).await? {
            rows.push((text(&row, "name")?, text(&row, "col")?, text(&row, "ref_table")?, text(&row, "ref_col")?, text(&row, "rule")?));
        }
        Ok(group_foreign_keys(table, rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_checks_in_every_dialect_form() {
        let v = |s: &[&str]| Some(s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(enum_variants(Dialect::Sqlite, "st", r#""st" IN ('draft', 'on-hold')"#), v(&["draft", "on-hold"]));
        assert_eq!(enum_variants(Dialect::MySql, "st", r"`st` in ('draft','it\'s')"), v(&["draft", "it's"]));
        assert_eq!(
            enum_variants(Dialect::Postgres, "st", "CHECK ((st = ANY (ARRAY['draft'::text, 'on-hold'::text])))"),
            v(&["draft", "on-hold"])
        );
        assert_eq!(enum_variants(Dialect::Postgres, "one", "CHECK ((one = 'x'::text))"), v(&["x"]));
        assert_eq!(enum_variants(Dialect::Postgres, "My Col", r#"CHECK (("My Col" = ANY (ARRAY['a'::text])))"#), v(&["a"]));
        // Another column's, or not an enum's.
        assert_eq!(enum_variants(Dialect::Sqlite, "other", r#""st" IN ('a')"#), None);
        assert_eq!(enum_variants(Dialect::Sqlite, "flag", r#""flag" IN (0, 1)"#), None);
        assert_eq!(enum_variants(Dialect::Postgres, "st", "CHECK ((st = ANY (ARRAY['a'::text])) AND (st <> ''))"), None);
    }

    #[test]
    fn defaults_are_tidied() {
        let sql = |s: &str| Some(Default::Sql(s.into()));
        let text = Type::Text { max_len: None };
        assert_eq!(tidy_default(Dialect::Postgres, &text, "'it''s'::character varying"), sql("'it''s'"));
        assert_eq!(tidy_default(Dialect::Postgres, &Type::Integer, "'-1'::integer"), sql("'-1'"));
        assert_eq!(tidy_default(Dialect::Postgres, &Type::Timestamp, "CURRENT_TIMESTAMP"), Some(Default::Now));
        assert_eq!(tidy_default(Dialect::Postgres, &text, "lower('X'::text)"), sql("lower('X')"));
        assert_eq!(tidy_default(Dialect::Sqlite, &text, "('draft')"), sql("'draft'"));
        assert_eq!(tidy_default(Dialect::Sqlite, &text, "strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'"), Some(Default::Now));
        assert_eq!(tidy_default(Dialect::Sqlite, &text, "(a) || (b)"), sql("(a) || (b)"));
        assert_eq!(tidy_default(Dialect::MySql, &text, r"'it\'s'"), sql("'it''s'"));
        assert_eq!(tidy_default(Dialect::MySql, &text, "NULL"), None);
        assert_eq!(tidy_default(Dialect::MySql, &Type::Date, "curdate()"), Some(Default::Now));
    }

    #[test]
    fn sqlite_create_table_is_parsed() {
        let ddl = sqlite::parse_ddl(
            "CREATE TABLE \"t\" (\n  \"id\" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL CHECK (typeof(\"id\") IN ('integer', 'null')),\n  \
             \"a, b\" TEXT DEFAULT ('x,y') CHECK (length(\"a, b\") <= 5),\n  \"r\" INTEGER CONSTRAINT \"fk_col\" REFERENCES u (id),\n  \
             CONSTRAINT \"uq_t_a\" UNIQUE (\"a, b\", id),\n  CONSTRAINT \"fk_t_x\" FOREIGN KEY (\"x\") REFERENCES \"u\" (\"id\") ON DELETE CASCADE,\n  \
             CHECK (r > 0)\n)",
        );
        assert_eq!(ddl.autoincrement, ["id"]);
        assert_eq!(ddl.checks, [r#"typeof("id") IN ('integer', 'null')"#, r#"length("a, b") <= 5"#, "r > 0"]);
        assert_eq!(ddl.uniques, [("uq_t_a".to_string(), vec!["a, b".to_string(), "id".to_string()])]);
        assert_eq!(ddl.foreign_keys, [("fk_col".to_string(), "r".to_string()), ("fk_t_x".to_string(), "x".to_string())]);
    }

    #[test]
    fn declared_types_per_dialect() {
        let checks = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            sqlite::column_type("n", "INTEGER", &checks(&[r#"typeof("n") IN ('integer', 'null') AND "n" BETWEEN -32768 AND 32767"#])),
            Type::SmallInt
        );
        assert_eq!(sqlite::column_type("n", "INTEGER", &[]), Type::BigInt);
        assert_eq!(sqlite::column_type("f", "INTEGER", &checks(&[r#""f" IN (0, 1)"#])), Type::Bool);
        assert_eq!(sqlite::column_type("s", "TEXT", &checks(&[r#"length("s") <= 40"#])), Type::Text { max_len: Some(40) });
        assert_eq!(sqlite::column_type("s", "character varying(40)", &[]), Type::Text { max_len: None });
        assert_eq!(sqlite::column_type("x", "DOUBLE PRECISION", &[]), Type::Double);
        assert_eq!(sqlite::column_type("x", "DECIMAL_TEXT(24, 6)", &[]), Type::Decimal { precision: 24, scale: 6 });
        assert_eq!(sqlite::column_type("u", "BLOB", &checks(&[r#"length("u") = 16"#])), Type::Uuid);
        assert_eq!(sqlite::column_type("x", "NUMERIC", &[]), Type::Native { dialect: "sqlite".into(), sql: "NUMERIC".into() });
        assert_eq!(postgres::column_type("character varying(40)"), Type::Text { max_len: Some(40) });
        assert_eq!(postgres::column_type("numeric(12,2)"), Type::Decimal { precision: 12, scale: 2 });
        assert_eq!(postgres::column_type("timestamp with time zone"), Type::Timestamp);
        assert_eq!(
            postgres::column_type("timestamp without time zone"),
            Type::Native { dialect: "postgres".into(), sql: "TIMESTAMP WITHOUT TIME ZONE".into() }
        );
        assert_eq!(mysql::column_type("n", "int(11)", &[]), Type::Integer);
        assert_eq!(
            mysql::column_type("n", "int(10) unsigned", &[]),
            Type::Native { dialect: "mysql".into(), sql: "INT(10) UNSIGNED".into() }
        );
        assert_eq!(mysql::column_type("f", "tinyint(1)", &[]), Type::Bool);
        assert_eq!(mysql::column_type("j", "longtext", &checks(&["json_valid(`j`)"])), Type::Json);
        assert_eq!(mysql::column_type("u", "varbinary(16)", &checks(&["octet_length(`u`) = 16"])), Type::Uuid);
        assert_eq!(mysql::column_type("u", "varbinary(16)", &[]), Type::Native { dialect: "mysql".into(), sql: "VARBINARY(16)".into() });
        assert_eq!(
            mysql::column_type("s", "varchar(7)", &checks(&["`s` in ('a','b')"])),
            Type::Enum { variants: vec!["a".into(), "b".into()] }
        );
    }
}
