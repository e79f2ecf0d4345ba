//! Whether a model's column, index or foreign key and the live one are the same *as this
//! dialect stores them*, so that a schema created from the models and read back
//! ([`introspect`](crate::introspect)) compares equal, with zero differences, on every
//! dialect, while every real change is still seen.
//!
//! What counts as the same:
//!
//! - **Types** are compared by how the dialect stores them: on SQLite text, timestamps,
//!   dates and times are all `TEXT` without a CHECK, and `f32` and `f64` both `REAL`, so
//!   they are indistinguishable there and compare equal; the integer widths, `bool`, text
//!   with a length, JSON, UUIDs and enums carry CHECKs that tell them apart. Enum variants
//!   are compared as sets (their order changes no stored value).
//! - **Defaults** are compared as SQL after normalising both sides: outer parentheses,
//!   PostgreSQL's `::type` casts of literals, the case and spacing of keywords, the quoting
//!   of string literals (`'it''s'`, MariaDB's `'it\'s'`), booleans (`TRUE`, `true`, `1`),
//!   numbers (`0`, `0.00`, `'-1'`), `NULL` (no default), and each dialect's spellings of
//!   the current time (`CURRENT_TIMESTAMP(6)`, `current_timestamp(6)`, `now()`…).
//! - **Names** are compared the way the dialect does: case-sensitively on PostgreSQL,
//!   ignoring ASCII case on SQLite and MariaDB. Index and constraint names are compared
//!   after PostgreSQL's 63-byte cut, which almacen applies on every dialect.

use crate::schema::{Column, Default, ForeignKey, Index, OnDeleteAction, Table, Type};
use almacen::Dialect;
use almacen::rust_decimal::Decimal;
use std::fmt;
use std::str::FromStr;

// ---------------------------------------------------------------------------------------
// A small SQL lexer: enough to normalise defaults and read CHECK constraints back.
// ---------------------------------------------------------------------------------------

/// One token of a SQL fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A bare word: keyword, function or unquoted identifier.
    Word(String),
    /// A quoted identifier, unquoted (`"a b"`, `` `a b` ``, `[a b]` → `a b`).
    Ident(String),
    /// A string literal's content (`'it''s'` → `it's`).
    Str(String),
    /// A number as written.
    Num(String),
    /// Punctuation or an operator (`(`, `,`, `::`, `<=`, `||`).
    Punct(String),
}

impl Tok {
    pub(crate) fn is_punct(&self, p: &str) -> bool {
        matches!(self, Tok::Punct(x) if x == p)
    }

    pub(crate) fn is_word(&self, w: &str) -> bool {
        matches!(self, Tok::Word(x) if x.eq_ignore_ascii_case(w))
    }

    /// Words, identifiers and numbers need a space between them; punctuation does not.
    fn is_wordlike(&self) -> bool {
        !matches!(self, Tok::Punct(_) | Tok::Str(_))
    }
}

/// A token with the byte range it came from.
#[derive(Debug, Clone)]
pub(crate) struct Spanned {
    pub(crate) tok: Tok,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Split `sql` into tokens, by `dialect`'s lexical rules (MariaDB's backslash escapes in
/// string literals, its backquoted identifiers; SQLite's `[…]` identifiers). Comments are
/// dropped. An unterminated literal or identifier runs to the end.
pub(crate) fn lex(d: Dialect, sql: &str) -> Vec<Spanned> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = match c {
            _ if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
                continue;
            }
            b'\'' => {
                let (content, next) = quoted(sql, i, b'\'', d == Dialect::MySql);
                i = next;
                Tok::Str(content)
            }
            b'"' | b'`' => {
                let (content, next) = quoted(sql, i, c, false);
                i = next;
                Tok::Ident(content)
            }
            b'[' if d == Dialect::Sqlite => {
                let end = sql[i + 1..].find(']').map_or(b.len(), |e| i + 1 + e);
                let content = sql[i + 1..end].to_string();
                i = (end + 1).min(b.len());
                Tok::Ident(content)
            }
            _ if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(|n| n.is_ascii_digit())) => {
                i += 1;
                while i < b.len() {
                    let n = b[i];
                    let exponent_sign = (n == b'+' || n == b'-') && matches!(b[i - 1], b'e' | b'E');
                    if n.is_ascii_alphanumeric() || n == b'.' || exponent_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                Tok::Num(sql[start..i].to_string())
            }
            _ if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80) {
                    i += 1;
                }
                Tok::Word(sql[start..i].to_string())
            }
            _ => {
                let two = sql.get(i..i + 2).unwrap_or("");
                let len = if ["::", "<=", ">=", "<>", "!=", "||", "=="].contains(&two) { 2 } else { 1 };
                // Advance by a whole character: punctuation may be any code point.
                let len = sql[i..].chars().next().map_or(1, |ch| if len == 2 { 2 } else { ch.len_utf8() });
                i += len;
                Tok::Punct(sql[start..i].to_string())
            }
        };
        out.push(Spanned { tok, start, end: i });
    }
    out
}

/// The content of a literal or identifier quoted with `q` that starts at `start`, and the
/// index after it. A doubled quote is one quote; with `backslash`, `\x` is `x` (and `\n`,
/// `\t`, `\0` their characters), as MariaDB writes them.
fn quoted(sql: &str, start: usize, q: u8, backslash: bool) -> (String, usize) {
    let mut out = String::new();
    let mut chars = sql[start + 1..].char_indices().peekable();
    while let Some((off, ch)) = chars.next() {
        let at = start + 1 + off;
        if backslash && ch == '\\' {
            if let Some((_, esc)) = chars.next() {
                out.push(match esc {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '0' => '\0',
                    other => other,
                });
            }
            continue;
        }
        if ch as u32 == u32::from(q) {
            if chars.peek().is_some_and(|(_, n)| *n as u32 == u32::from(q)) {
                chars.next();
                out.push(ch);
                continue;
            }
            return (out, at + 1);
        }
        out.push(ch);
    }
    (out, sql.len())
}

/// Words that continue a multi-word type name after `::` (`character varying`,
/// `timestamp with time zone`, `double precision`).
const TYPE_CONTINUATIONS: &[&str] = &["varying", "precision", "with", "without", "time", "zone"];

/// Remove PostgreSQL's `::type` casts that follow a literal or a number (`'a'::text`,
/// `'-1'::integer`, `'x'::character varying(20)`, `'{}'::jsonb`): the server adds them to
/// every literal default and CHECK it stores.
pub(crate) fn strip_literal_casts(toks: Vec<Tok>) -> Vec<Tok> {
    cast_free(&toks).into_iter().map(|i| toks[i].clone()).collect()
}

/// The indexes of the tokens that are not part of a cast of a literal.
pub(crate) fn cast_free(toks: &[Tok]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let after_literal = out.last().is_some_and(|&j| matches!(toks[j], Tok::Str(_) | Tok::Num(_)));
        if after_literal && toks[i].is_punct("::") && matches!(toks.get(i + 1), Some(Tok::Word(_) | Tok::Ident(_))) {
            i += 2;
            while let Some(Tok::Word(w)) = toks.get(i) {
                if !TYPE_CONTINUATIONS.iter().any(|c| w.eq_ignore_ascii_case(c)) {
                    break;
                }
                i += 1;
            }
            if toks.get(i).is_some_and(|t| t.is_punct("(")) {
                while i < toks.len() && !toks[i].is_punct(")") {
                    i += 1;
                }
                i += 1;
            }
            while toks.get(i).is_some_and(|t| t.is_punct("[")) && toks.get(i + 1).is_some_and(|t| t.is_punct("]")) {
                i += 2;
            }
            continue;
        }
        out.push(i);
        i += 1;
    }
    out
}

/// Whether `toks[0]` is a `(` whose matching `)` is the last token.
fn wrapped_in_parens(toks: &[Tok]) -> bool {
    if toks.len() < 2 || !toks[0].is_punct("(") || !toks[toks.len() - 1].is_punct(")") {
        return false;
    }
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate() {
        if t.is_punct("(") {
            depth += 1;
        } else if t.is_punct(")") {
            depth -= 1;
            if depth == 0 {
                return i == toks.len() - 1;
            }
        }
    }
    false
}

/// Remove every pair of parentheses around the whole fragment: `((0))` → `0`, while
/// `(a) || (b)` stays as it is.
pub(crate) fn strip_outer_parens(mut toks: &[Tok]) -> &[Tok] {
    while wrapped_in_parens(toks) {
        toks = &toks[1..toks.len() - 1];
    }
    toks
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Tokens written back in one canonical form: words in lower case, identifiers bare,
/// literals quoted with doubled quotes, spaces only between two words.
fn render(toks: &[Tok]) -> String {
    let mut out = String::new();
    let mut prev_wordlike = false;
    for t in toks {
        if prev_wordlike && t.is_wordlike() {
            out.push(' ');
        }
        match t {
            Tok::Word(w) => out.push_str(&w.to_lowercase()),
            Tok::Ident(w) => out.push_str(&w.to_lowercase()),
            Tok::Str(s) => out.push_str(&quote_literal(s)),
            Tok::Num(n) | Tok::Punct(n) => out.push_str(n),
        }
        prev_wordlike = t.is_wordlike();
    }
    out
}

/// The tokens of a SQL expression with PostgreSQL's literal casts and the outer parentheses
/// removed.
fn expression_tokens(d: Dialect, sql: &str) -> Vec<Tok> {
    let toks = strip_literal_casts(lex(d, sql).into_iter().map(|s| s.tok).collect());
    strip_outer_parens(&toks).to_vec()
}

/// A SQL expression in one canonical form, so that spellings a dialect stores differently
/// from what was written compare equal: outer parentheses and PostgreSQL's casts of
/// literals removed, keywords and identifiers in lower case, string literals re-quoted,
/// whitespace only where it separates two words.
///
/// ```
/// use almacen::Dialect;
/// use almacen_migrate::equivalence::canonical_expr;
/// assert_eq!(canonical_expr(Dialect::Postgres, "'it''s'::character varying"), "'it''s'");
/// assert_eq!(canonical_expr(Dialect::MySql, "'it\\'s'"), "'it''s'");
/// assert_eq!(canonical_expr(Dialect::Sqlite, "(CURRENT_DATE)"), "current_date");
/// assert_eq!(canonical_expr(Dialect::MySql, "`st` in ('a','b')"), canonical_expr(Dialect::MySql, "(`st` IN ('a', 'b'))"));
/// ```
pub fn canonical_expr(d: Dialect, sql: &str) -> String {
    render(&expression_tokens(d, sql))
}

// ---------------------------------------------------------------------------------------
// Names.
// ---------------------------------------------------------------------------------------

/// Whether two identifiers name the same thing on `d`: quoted identifiers are
/// case-sensitive on PostgreSQL only.
pub fn same_name(d: Dialect, a: &str, b: &str) -> bool {
    match d {
        Dialect::Postgres => a == b,
        Dialect::Sqlite | Dialect::MySql => a.eq_ignore_ascii_case(b),
    }
}

/// An index or constraint name as almacen's DDL writes it: cut at 63 bytes (PostgreSQL's
/// limit), on every dialect.
pub fn stored_name(name: &str) -> &str {
    if name.len() <= 63 {
        return name;
    }
    let mut cut = 63;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    &name[..cut]
}

fn same_names(d: Dialect, a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_name(d, x, y))
}

// ---------------------------------------------------------------------------------------
// Types.
// ---------------------------------------------------------------------------------------

/// Upper case, single spaces, none around parentheses and commas (the core's spelling for
/// comparing declared types): `numeric(12, 2)` → `NUMERIC(12,2)`.
pub use almacen::introspect::canonical_type;

fn enum_key(prefix: &str, variants: &[String]) -> String {
    let mut v: Vec<&str> = variants.iter().map(String::as_str).collect();
    v.sort_unstable();
    v.dedup();
    format!("{prefix} IN {v:?}")
}

/// How `d` stores a column of type `ty`: its declared type plus what its CHECK constraint
/// tells apart. Two types with the same storage are indistinguishable on `d`.
fn storage(d: Dialect, ty: &Type) -> String {
    if let Type::Native { dialect, sql } = ty {
        return if dialect == d.name() { canonical_type(sql) } else { format!("{dialect}: {sql}") };
    }
    match d {
        Dialect::Sqlite => match ty {
            Type::Text { max_len: None } | Type::Timestamp | Type::Date | Type::Time => "TEXT".into(),
            Type::Text { max_len: Some(n) } => format!("TEXT length <= {n}"),
            Type::Json => "TEXT json_valid".into(),
            Type::Enum { variants } => enum_key("TEXT", variants),
            Type::SmallInt => "INTEGER 16 bits".into(),
            Type::Integer => "INTEGER 32 bits".into(),
            Type::BigInt => "INTEGER 64 bits".into(),
            Type::Bool => "INTEGER IN (0, 1)".into(),
            Type::Float | Type::Double => "REAL".into(),
            Type::Decimal { precision, scale } => format!("DECIMAL({precision},{scale})"),
            Type::Uuid => "BLOB length = 16".into(),
            Type::Bytes => "BLOB".into(),
            Type::Native { .. } => unreachable!("handled above"),
        },
        Dialect::Postgres => match ty {
            Type::Text { max_len: Some(n) } => format!("VARCHAR({n})"),
            Type::Text { max_len: None } => "TEXT".into(),
            Type::Enum { variants } => enum_key("TEXT", variants),
            Type::SmallInt => "SMALLINT".into(),
            Type::Integer => "INTEGER".into(),
            Type::BigInt => "BIGINT".into(),
            Type::Float => "REAL".into(),
            Type::Double => "DOUBLE PRECISION".into(),
            Type::Decimal { precision, scale } => format!("NUMERIC({precision},{scale})"),
            Type::Bool => "BOOLEAN".into(),
            Type::Uuid => "UUID".into(),
            Type::Timestamp => "TIMESTAMPTZ".into(),
            Type::Date => "DATE".into(),
            Type::Time => "TIME".into(),
            Type::Json => "JSONB".into(),
            Type::Bytes => "BYTEA".into(),
            Type::Native { .. } => unreachable!("handled above"),
        },
        Dialect::MySql => match ty {
            Type::Text { max_len: Some(n) } => format!("VARCHAR({n})"),
            Type::Text { max_len: None } => "LONGTEXT".into(),
            // The VARCHAR's length follows from the variants (the longest one).
            Type::Enum { variants } => enum_key("VARCHAR", variants),
            Type::SmallInt => "SMALLINT".into(),
            Type::Integer => "INT".into(),
            Type::BigInt => "BIGINT".into(),
            Type::Float => "FLOAT".into(),
            Type::Double => "DOUBLE".into(),
            Type::Decimal { precision, scale } => format!("DECIMAL({precision},{scale})"),
            Type::Bool => "BOOLEAN".into(),
            Type::Uuid => "VARBINARY(16) length = 16".into(),
            Type::Timestamp => "DATETIME(6)".into(),
            Type::Date => "DATE".into(),
            Type::Time => "TIME(6)".into(),
            Type::Json => "JSON".into(),
            Type::Bytes => "LONGBLOB".into(),
            Type::Native { .. } => unreachable!("handled above"),
        },
    }
}

/// Whether a column of type `model` and one of type `live` are stored alike on `d`, so
/// that no migration can tell them apart (SQLite's `TEXT` holds text, timestamps, dates
/// and times alike).
///
/// ```
/// use almacen::Dialect;
/// use almacen_migrate::equivalence::same_type;
/// use almacen_migrate::schema::Type;
/// assert!(same_type(Dialect::Sqlite, &Type::Timestamp, &Type::Text { max_len: None }));
/// assert!(!same_type(Dialect::Postgres, &Type::Timestamp, &Type::Text { max_len: None }));
/// assert!(same_type(Dialect::Postgres, &Type::Double, &Type::Native { dialect: "postgres".into(), sql: "double precision".into() }));
/// ```
pub fn same_type(d: Dialect, model: &Type, live: &Type) -> bool {
    storage(d, model) == storage(d, live)
}

// ---------------------------------------------------------------------------------------
// Defaults.
// ---------------------------------------------------------------------------------------

/// The current-time defaults almacen writes for a column of type `ty` on `d` (with the
/// spellings the server stores them under): any of them reads back as [`Default::Now`].
/// On SQLite, where timestamps, dates and times are all `TEXT`, each of the three forms is
/// one for a text column.
fn now_forms(d: Dialect, ty: &Type) -> &'static [&'static str] {
    const SQLITE_TIMESTAMP: &str = "strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'";
    const SQLITE_DATE: &str = "date('now')";
    const SQLITE_TIME: &str = "strftime('%H:%M:%f', 'now') || '000'";
    match (d, ty) {
        (Dialect::Sqlite, Type::Date) => &[SQLITE_DATE],
        (Dialect::Sqlite, Type::Time) => &[SQLITE_TIME],
        (Dialect::Sqlite, Type::Timestamp) => &[SQLITE_TIMESTAMP],
        (Dialect::Sqlite, _) => &[SQLITE_TIMESTAMP, SQLITE_DATE, SQLITE_TIME],
        (Dialect::Postgres, Type::Date) => &["CURRENT_DATE"],
        (Dialect::Postgres, Type::Time) => &["LOCALTIME"],
        (Dialect::Postgres, _) => &["CURRENT_TIMESTAMP", "now()", "transaction_timestamp()"],
        (Dialect::MySql, Type::Date) => &["CURRENT_DATE", "curdate()"],
        (Dialect::MySql, Type::Time) => &["CURRENT_TIME(6)", "curtime(6)"],
        (Dialect::MySql, _) => &["CURRENT_TIMESTAMP(6)", "now(6)"],
    }
}

/// Whether `expr` is one of the current-time defaults almacen writes for `ty` on `d`.
pub fn is_now(d: Dialect, ty: &Type, expr: &str) -> bool {
    let expr = canonical_expr(d, expr);
    now_forms(d, ty).iter().any(|f| canonical_expr(d, f) == expr)
}

fn is_numeric(ty: &Type) -> bool {
    matches!(ty, Type::SmallInt | Type::Integer | Type::BigInt | Type::Float | Type::Double | Type::Decimal { .. })
}

/// A number in its shortest form (`0.00` → `0`, `1.50` → `1.5`, `-1` stays).
fn canonical_number(toks: &[Tok]) -> Option<String> {
    let (negative, digits) = match toks {
        [Tok::Num(n)] => (false, n.clone()),
        [Tok::Punct(sign), Tok::Num(n)] if sign == "-" || sign == "+" => (sign == "-", n.clone()),
        // PostgreSQL quotes negative numbers ('-1'::integer).
        [Tok::Str(s)] => (false, s.trim().to_string()),
        _ => return None,
    };
    let value = Decimal::from_str(&digits).or_else(|_| Decimal::from_scientific(&digits)).ok()?;
    let value = if negative { -value } else { value };
    Some(value.normalize().to_string())
}

/// A boolean literal as `1` or `0`: MariaDB stores `TRUE` as `1`, PostgreSQL as `true`.
fn canonical_bool(toks: &[Tok]) -> Option<&'static str> {
    let word = match toks {
        [Tok::Word(w)] | [Tok::Num(w)] | [Tok::Str(w)] => w.to_ascii_lowercase(),
        _ => return None,
    };
    match word.as_str() {
        "true" | "1" | "t" => Some("1"),
        "false" | "0" | "f" => Some("0"),
        _ => None,
    }
}

/// A server default in the one form [`same_default`] compares: `None` for no default or
/// `NULL`, [`Default::Now`] for `d`'s current-time forms, otherwise the canonical SQL
/// ([`canonical_expr`]) with booleans as `1`/`0` and numbers in their shortest form when
/// the column is of such a type.
///
/// ```
/// use almacen::Dialect;
/// use almacen_migrate::equivalence::normalise_default;
/// use almacen_migrate::schema::{Default, Type};
/// let sql = |s: &str| Some(Default::Sql(s.into()));
/// assert_eq!(normalise_default(Dialect::MySql, &Type::Bool, sql("TRUE").as_ref()), sql("1"));
/// assert_eq!(normalise_default(Dialect::Postgres, &Type::Integer, sql("'-1'::integer").as_ref()), sql("-1"));
/// assert_eq!(normalise_default(Dialect::MySql, &Type::Timestamp, sql("current_timestamp(6)").as_ref()), Some(Default::Now));
/// assert_eq!(normalise_default(Dialect::MySql, &Type::Text { max_len: None }, sql("NULL").as_ref()), None);
/// ```
pub fn normalise_default(d: Dialect, ty: &Type, default: Option<&Default>) -> Option<Default> {
    let sql = match default? {
        Default::Now => return Some(Default::Now),
        Default::Sql(sql) => sql,
    };
    let toks = expression_tokens(d, sql);
    if let [t] = &toks[..]
        && t.is_word("null")
    {
        return None;
    }
    if is_now(d, ty, sql) {
        return Some(Default::Now);
    }
    if matches!(ty, Type::Bool)
        && let Some(b) = canonical_bool(&toks)
    {
        return Some(Default::Sql(b.into()));
    }
    if is_numeric(ty)
        && let Some(n) = canonical_number(&toks)
    {
        return Some(Default::Sql(n));
    }
    Some(Default::Sql(render(&toks)))
}

/// Whether a column of type `ty` with the model's server default and one with the live
/// default fill in the same value on `d` (see [`normalise_default`]).
///
/// ```
/// use almacen::Dialect;
/// use almacen_migrate::equivalence::same_default;
/// use almacen_migrate::schema::{Default, Type};
/// let sql = |s: &str| Default::Sql(s.into());
/// // MariaDB stores a boolean default as 1 or 0.
/// assert!(same_default(Dialect::MySql, &Type::Bool, Some(&sql("TRUE")), Some(&sql("1"))));
/// // PostgreSQL casts a text literal, quote included.
/// let text = Type::Text { max_len: Some(20) };
/// assert!(same_default(Dialect::Postgres, &text, Some(&sql("'it''s'")), Some(&sql("'it''s'::character varying"))));
/// assert!(!same_default(Dialect::Postgres, &text, Some(&sql("'a'")), Some(&sql("'b'::text"))));
/// ```
pub fn same_default(d: Dialect, ty: &Type, model: Option<&Default>, live: Option<&Default>) -> bool {
    normalise_default(d, ty, model) == normalise_default(d, ty, live)
}

// ---------------------------------------------------------------------------------------
// Indexes and foreign keys.
// ---------------------------------------------------------------------------------------

/// Whether two indexes are the same on `d`: name (as stored: cut at 63 bytes), columns in
/// order, and uniqueness.
pub fn same_index(d: Dialect, model: &Index, live: &Index) -> bool {
    same_name(d, stored_name(&model.name), stored_name(&live.name))
        && same_names(d, &model.columns, &live.columns)
        && model.unique == live.unique
}

/// ON DELETE actions that behave alike on `d`: MariaDB's InnoDB checks `NO ACTION`
/// immediately, as `RESTRICT`.
fn same_action(d: Dialect, a: OnDeleteAction, b: OnDeleteAction) -> bool {
    use OnDeleteAction::{NoAction, Restrict};
    a == b || (d == Dialect::MySql && matches!((a, b), (NoAction, Restrict) | (Restrict, NoAction)))
}

/// Whether two foreign keys are the same on `d`: name, column, referenced table and
/// column, ON DELETE. SQLite keeps no name for a key declared without `CONSTRAINT name`
/// (read back with an empty name), so such a live key matches on the rest alone.
pub fn same_foreign_key(d: Dialect, model: &ForeignKey, live: &ForeignKey) -> bool {
    let name = (d == Dialect::Sqlite && live.name.is_empty()) || same_name(d, stored_name(&model.name), stored_name(&live.name));
    name && same_name(d, &model.column, &live.column)
        && same_name(d, &model.ref_table, &live.ref_table)
        && same_name(d, &model.ref_column, &live.ref_column)
        && same_action(d, model.on_delete, live.on_delete)
}

// ---------------------------------------------------------------------------------------
// Tables.
// ---------------------------------------------------------------------------------------

/// One way a live table differs from its model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// The model has a column the table lacks.
    MissingColumn {
        /// The model's column.
        column: Column,
    },
    /// The table has a column the model lacks.
    ExtraColumn {
        /// The table's column.
        column: Column,
    },
    /// A column's type differs.
    Type {
        /// The column.
        column: String,
        /// The model's type.
        model: Type,
        /// The table's type.
        live: Type,
    },
    /// A column accepts NULL in one and not the other.
    Nullability {
        /// The column.
        column: String,
        /// Whether the model's accepts NULL.
        model: bool,
        /// Whether the table's accepts NULL.
        live: bool,
    },
    /// A column's server default differs.
    Default {
        /// The column.
        column: String,
        /// The model's default.
        model: Option<Default>,
        /// The table's default.
        live: Option<Default>,
    },
    /// A column is generated by the database (auto-increment, identity) in one only.
    Auto {
        /// The column.
        column: String,
        /// Whether the model's is generated.
        model: bool,
        /// Whether the table's is generated.
        live: bool,
    },
    /// The primary key's columns (in key order) differ.
    PrimaryKey {
        /// The model's key.
        model: Vec<String>,
        /// The table's key.
        live: Vec<String>,
    },
    /// The model has an index or unique constraint the table lacks (or has it otherwise).
    MissingIndex {
        /// The model's index.
        index: Index,
    },
    /// The table has an index or unique constraint the model lacks (or has it otherwise).
    ExtraIndex {
        /// The table's index.
        index: Index,
    },
    /// The model has a foreign key the table lacks (or has it otherwise).
    MissingForeignKey {
        /// The model's key.
        foreign_key: ForeignKey,
    },
    /// The table has a foreign key the model lacks (or has it otherwise).
    ExtraForeignKey {
        /// The table's key.
        foreign_key: ForeignKey,
    },
}

fn show_default(d: &Option<Default>) -> String {
    match d {
        None => "no default".into(),
        Some(Default::Now) => "the current time".into(),
        Some(Default::Sql(s)) => s.clone(),
    }
}

fn null_word(nullable: bool) -> &'static str {
    if nullable { "NULL" } else { "NOT NULL" }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::MissingColumn { column } => {
                write!(f, "column \"{}\" is missing ({:?} {})", column.name, column.ty, null_word(column.nullable))
            }
            Difference::ExtraColumn { column } => {
                write!(f, "extra column \"{}\" ({:?} {})", column.name, column.ty, null_word(column.nullable))
            }
            Difference::Type { column, model, live } => write!(f, "column \"{column}\": model has {model:?}, table has {live:?}"),
            Difference::Nullability { column, model, live } => {
                write!(f, "column \"{column}\": model has {}, table has {}", null_word(*model), null_word(*live))
            }
            Difference::Default { column, model, live } => {
                write!(f, "column \"{column}\": model's default is {}, table's is {}", show_default(model), show_default(live))
            }
            Difference::Auto { column, model, live } => {
                let word = |a: bool| if a { "generated" } else { "not generated" };
                write!(f, "column \"{column}\": model's is {}, table's is {}", word(*model), word(*live))
            }
            Difference::PrimaryKey { model, live } => write!(f, "primary key: model has {model:?}, table has {live:?}"),
            Difference::MissingIndex { index } => {
                write!(f, "index \"{}\" on {:?} (unique: {}) is missing", index.name, index.columns, index.unique)
            }
            Difference::ExtraIndex { index } => {
                write!(f, "extra index \"{}\" on {:?} (unique: {})", index.name, index.columns, index.unique)
            }
            Difference::MissingForeignKey { foreign_key: k } => {
                write!(f, "foreign key \"{}\" ({} → {}.{}) is missing", k.name, k.column, k.ref_table, k.ref_column)
            }
            Difference::ExtraForeignKey { foreign_key: k } => {
                write!(f, "extra foreign key \"{}\" ({} → {}.{})", k.name, k.column, k.ref_table, k.ref_column)
            }
        }
    }
}

/// Whether the model's column accepts NULL as `d` stores it: the servers make every primary
/// key column NOT NULL.
fn stored_nullable(d: Dialect, table: &Table, column: &Column) -> bool {
    column.nullable && (d == Dialect::Sqlite || !table.primary_key.iter().any(|k| same_name(d, k, &column.name)))
}

fn column_differences(d: Dialect, model_table: &Table, model: &Column, live: &Column, out: &mut Vec<Difference>) {
    let name = || model.name.clone();
    if !same_type(d, &model.ty, &live.ty) {
        out.push(Difference::Type { column: name(), model: model.ty.clone(), live: live.ty.clone() });
    }
    let nullable = stored_nullable(d, model_table, model);
    if nullable != live.nullable {
        out.push(Difference::Nullability { column: name(), model: nullable, live: live.nullable });
    }
    if model.auto != live.auto {
        out.push(Difference::Auto { column: name(), model: model.auto, live: live.auto });
    }
    if !same_default(d, &model.ty, model.default.as_ref(), live.default.as_ref()) {
        out.push(Difference::Default { column: name(), model: model.default.clone(), live: live.default.clone() });
    }
}

/// Every way the live table differs from the model's on `d`, in this order: columns (in
/// model order, then the table's extra ones), the primary key, indexes, foreign keys.
/// Empty when a table created from the model is read back.
///
/// A changed index or foreign key is reported as the model's missing and the table's extra
/// (what a migration does: drop it and create it anew).
///
/// ```
/// use almacen::Dialect;
/// use almacen_migrate::equivalence::{Difference, table_differences};
/// use almacen_migrate::schema::{Column, Table, Type};
/// let column = |name: &str, ty: Type| Column { name: name.into(), ty, nullable: false, auto: false, default: None };
/// let model = Table {
///     name: "t".into(),
///     columns: vec![column("id", Type::BigInt), column("at", Type::Timestamp)],
///     primary_key: vec!["id".into()],
///     indexes: vec![],
///     foreign_keys: vec![],
/// };
/// let mut live = model.clone();
/// live.columns[1].ty = Type::Text { max_len: None };
/// // SQLite stores both as TEXT; PostgreSQL does not.
/// assert!(table_differences(Dialect::Sqlite, &model, &live).is_empty());
/// assert!(matches!(&table_differences(Dialect::Postgres, &model, &live)[..], [Difference::Type { .. }]));
/// ```
pub fn table_differences(d: Dialect, model: &Table, live: &Table) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut matched = vec![false; live.columns.len()];
    for m in &model.columns {
        let found = live.columns.iter().enumerate().position(|(i, l)| !matched[i] && same_name(d, &m.name, &l.name));
        match found {
            Some(i) => {
                matched[i] = true;
                column_differences(d, model, m, &live.columns[i], &mut out);
            }
            None => out.push(Difference::MissingColumn { column: m.clone() }),
        }
    }
    for (l, _) in live.columns.iter().zip(&matched).filter(|(_, m)| !**m) {
        out.push(Difference::ExtraColumn { column: l.clone() });
    }
    if !same_names(d, &model.primary_key, &live.primary_key) {
        out.push(Difference::PrimaryKey { model: model.primary_key.clone(), live: live.primary_key.clone() });
    }
    let (missing, extra) = unmatched(&model.indexes, &live.indexes, |a, b| same_index(d, a, b));
    out.extend(missing.into_iter().map(|index| Difference::MissingIndex { index }));
    out.extend(extra.into_iter().map(|index| Difference::ExtraIndex { index }));
    let (missing, extra) = unmatched(&model.foreign_keys, &live.foreign_keys, |a, b| same_foreign_key(d, a, b));
    out.extend(missing.into_iter().map(|foreign_key| Difference::MissingForeignKey { foreign_key }));
    out.extend(extra.into_iter().map(|foreign_key| Difference::ExtraForeignKey { foreign_key }));
    out
}

/// The model's items with no equal live one, and the live ones with no equal model one
/// (each live item matches at most one model item).
fn unmatched<T: Clone>(model: &[T], live: &[T], same: impl Fn(&T, &T) -> bool) -> (Vec<T>, Vec<T>) {
    let mut used = vec![false; live.len()];
    let mut missing = Vec::new();
    for m in model {
        match live.iter().enumerate().position(|(i, l)| !used[i] && same(m, l)) {
            Some(i) => used[i] = true,
            None => missing.push(m.clone()),
        }
    }
    let extra = live.iter().zip(&used).filter(|(_, u)| !**u).map(|(l, _)| l.clone()).collect();
    (missing, extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(s: &str) -> Option<Default> {
        Some(Default::Sql(s.into()))
    }

    #[test]
    fn lexer_reads_literals_per_dialect() {
        let toks: Vec<Tok> = lex(Dialect::MySql, r"`st` in ('a','it\'s')").into_iter().map(|s| s.tok).collect();
        assert_eq!(
            toks,
            vec![
                Tok::Ident("st".into()),
                Tok::Word("in".into()),
                Tok::Punct("(".into()),
                Tok::Str("a".into()),
                Tok::Punct(",".into()),
                Tok::Str("it's".into()),
                Tok::Punct(")".into())
            ]
        );
        // A backslash is an ordinary character in standard SQL strings.
        let toks: Vec<Tok> = lex(Dialect::Postgres, r"'a\' || [x]").into_iter().map(|s| s.tok).collect();
        assert_eq!(toks[0], Tok::Str(r"a\".into()));
        assert_eq!(
            lex(Dialect::Sqlite, "[my col] -- note").into_iter().map(|s| s.tok).collect::<Vec<_>>(),
            vec![Tok::Ident("my col".into())]
        );
        let toks: Vec<Tok> = lex(Dialect::Sqlite, "1.5e-3 BETWEEN -2").into_iter().map(|s| s.tok).collect();
        assert_eq!(toks[0], Tok::Num("1.5e-3".into()));
        assert_eq!(toks[2], Tok::Punct("-".into()));
    }

    #[test]
    fn postgres_casts_of_literals_are_stripped() {
        assert_eq!(canonical_expr(Dialect::Postgres, "'a'::text"), "'a'");
        assert_eq!(canonical_expr(Dialect::Postgres, "'x'::character varying(20)"), "'x'");
        assert_eq!(canonical_expr(Dialect::Postgres, "'2020-01-01'::timestamp with time zone"), "'2020-01-01'");
        assert_eq!(canonical_expr(Dialect::Postgres, "'{1}'::integer[]"), "'{1}'");
        assert_eq!(canonical_expr(Dialect::Postgres, "lower('X'::text)"), "lower('X')");
        // A cast of a column is not a literal's: kept.
        assert_eq!(canonical_expr(Dialect::Postgres, "(a)::text"), "(a)::text");
    }

    #[test]
    fn outer_parentheses_only_when_they_wrap_everything() {
        assert_eq!(canonical_expr(Dialect::Sqlite, "((0))"), "0");
        assert_eq!(canonical_expr(Dialect::Sqlite, "(a) || (b)"), "(a)||(b)");
        assert_eq!(canonical_expr(Dialect::Sqlite, "(strftime('%Y', 'now') || '000Z')"), "strftime('%Y','now')||'000Z'");
    }

    #[test]
    fn now_forms_per_dialect() {
        assert!(is_now(Dialect::Sqlite, &Type::Timestamp, "strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z'"));
        assert!(is_now(Dialect::Sqlite, &Type::Text { max_len: None }, "(date('now'))"));
        assert!(!is_now(Dialect::Sqlite, &Type::Timestamp, "CURRENT_TIMESTAMP"), "SQLite's own form is another text format");
        assert!(is_now(Dialect::Postgres, &Type::Timestamp, "now()"));
        assert!(is_now(Dialect::Postgres, &Type::Date, "CURRENT_DATE"));
        assert!(is_now(Dialect::MySql, &Type::Timestamp, "current_timestamp(6)"));
        assert!(is_now(Dialect::MySql, &Type::Date, "curdate()"));
        assert!(is_now(Dialect::MySql, &Type::Time, "(CURRENT_TIME(6))"));
        assert!(!is_now(Dialect::MySql, &Type::Timestamp, "current_timestamp()"), "second precision is another default");
    }

    #[test]
    fn defaults_compare_as_stored() {
        let b = Type::Bool;
        assert!(same_default(Dialect::MySql, &b, sql("FALSE").as_ref(), sql("0").as_ref()));
        assert!(same_default(Dialect::Postgres, &b, sql("TRUE").as_ref(), sql("true").as_ref()));
        assert!(!same_default(Dialect::Postgres, &b, sql("TRUE").as_ref(), sql("false").as_ref()));
        let dec = Type::Decimal { precision: 12, scale: 2 };
        assert!(same_default(Dialect::MySql, &dec, sql("0").as_ref(), sql("0.00").as_ref()));
        assert!(same_default(Dialect::Postgres, &Type::Integer, sql("-1").as_ref(), sql("'-1'::integer").as_ref()));
        assert!(!same_default(Dialect::Postgres, &Type::Integer, sql("1").as_ref(), sql("2").as_ref()));
        let text = Type::Text { max_len: None };
        assert!(same_default(Dialect::MySql, &text, sql("'it''s'").as_ref(), sql(r"'it\'s'").as_ref()));
        assert!(same_default(Dialect::Sqlite, &text, sql("'draft'").as_ref(), sql("('draft')").as_ref()));
        // Text that looks like a number is still text.
        assert!(!same_default(Dialect::Sqlite, &text, sql("'1.0'").as_ref(), sql("'1'").as_ref()));
        assert!(same_default(Dialect::MySql, &text, None, sql("NULL").as_ref()));
        assert!(!same_default(Dialect::MySql, &text, None, sql("''").as_ref()));
        assert!(same_default(Dialect::MySql, &Type::Timestamp, Some(&Default::Now), sql("current_timestamp(6)").as_ref()));
        assert!(!same_default(Dialect::MySql, &Type::Timestamp, Some(&Default::Now), None));
    }

    #[test]
    fn types_compare_by_storage() {
        let text = Type::Text { max_len: None };
        for t in [Type::Timestamp, Type::Date, Type::Time] {
            assert!(same_type(Dialect::Sqlite, &t, &text));
            assert!(!same_type(Dialect::Postgres, &t, &text));
            assert!(!same_type(Dialect::MySql, &t, &text));
        }
        assert!(same_type(Dialect::Sqlite, &Type::Float, &Type::Double));
        assert!(!same_type(Dialect::Sqlite, &Type::Integer, &Type::BigInt));
        let e = |v: &[&str]| Type::Enum { variants: v.iter().map(|s| s.to_string()).collect() };
        assert!(same_type(Dialect::Postgres, &e(&["a", "b"]), &e(&["b", "a"])));
        assert!(!same_type(Dialect::Postgres, &e(&["a", "b"]), &e(&["a", "b", "c"])));
        assert!(!same_type(Dialect::MySql, &e(&["a"]), &Type::Text { max_len: Some(1) }));
        let native = |d: &str, s: &str| Type::Native { dialect: d.into(), sql: s.into() };
        assert!(same_type(Dialect::Postgres, &native("postgres", "inet"), &native("postgres", "INET")));
        assert!(!same_type(Dialect::Postgres, &native("mysql", "TEXT"), &text));
        assert!(same_type(Dialect::MySql, &native("mysql", "longtext"), &text));
    }

    #[test]
    fn names_compare_as_the_dialect_does() {
        assert!(same_name(Dialect::MySql, "Users", "users"));
        assert!(same_name(Dialect::Sqlite, "Users", "users"));
        assert!(!same_name(Dialect::Postgres, "Users", "users"));
        let long = "x".repeat(70);
        assert_eq!(stored_name(&long).len(), 63);
        assert_eq!(stored_name("ébc"), "ébc");
    }

    #[test]
    fn foreign_keys_and_indexes() {
        let fk = ForeignKey {
            name: "fk_a_b".into(),
            column: "b".into(),
            ref_table: "t".into(),
            ref_column: "id".into(),
            on_delete: OnDeleteAction::NoAction,
        };
        let restrict = ForeignKey { on_delete: OnDeleteAction::Restrict, ..fk.clone() };
        assert!(same_foreign_key(Dialect::MySql, &fk, &restrict));
        assert!(!same_foreign_key(Dialect::Postgres, &fk, &restrict));
        let unnamed = ForeignKey { name: String::new(), ..fk.clone() };
        assert!(same_foreign_key(Dialect::Sqlite, &fk, &unnamed));
        assert!(!same_foreign_key(Dialect::Postgres, &fk, &unnamed));
        let ix = Index { name: "ix".into(), columns: vec!["a".into(), "b".into()], unique: false };
        assert!(same_index(Dialect::Postgres, &ix, &ix.clone()));
        assert!(!same_index(Dialect::Postgres, &ix, &Index { columns: vec!["b".into(), "a".into()], ..ix.clone() }));
        assert!(!same_index(Dialect::Postgres, &ix, &Index { unique: true, ..ix.clone() }));
    }
}
