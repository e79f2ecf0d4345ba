//! Raw SQL with `:name` parameters (like SQLAlchemy's `text()`), rewritten to a
//! dialect's positional placeholders, with list expansion for `IN (:ids)`.
//!
//! [`NamedSql::parse`] scans the text once, with the lexical rules of one
//! [`Dialect`], and splits it into literal text and parameter occurrences.
//! [`NamedSql::render`] then produces the SQL and the values to bind, in
//! placeholder order. Every byte that is not a `:name` parameter or the
//! backslash of a `\:` escape is kept exactly as written, comments and strings
//! included.
//!
//! The rules — what is a parameter, and each dialect's comments, strings and quoted
//! identifiers — are on [`NamedSql`], whose documentation is published.

use std::fmt::{self, Write as _};
use std::ops::Range;

use crate::data::dialect::Dialect;

/// Placeholder style of a SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceholderStyle {
    /// PostgreSQL: `$1`, `$2`, ... one number per value; every occurrence of a
    /// name reuses its numbers.
    Dollar,
    /// SQLite and MySQL/MariaDB: `?` for every occurrence of every value.
    Question,
}

/// One piece of the parsed SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Literal text, as a byte range into [`NamedSql::sql`].
    Text(Range<usize>),
    /// A parameter occurrence, as an index into [`NamedSql::names`].
    Param(usize),
}

/// A `:name` SQL text parsed once; can be rendered many times.
///
/// ```text
/// let sql = NamedSql::parse("SELECT * FROM t WHERE age >= :min AND id IN (:ids) OR boss IN (:ids)", Dialect::Postgres)?;
/// assert_eq!(sql.names(), ["min", "ids"]);
/// let (text, binds) = sql.render(PlaceholderStyle::Dollar, &["min", "ids"], |name| match name {
///     "min" => Some(None),       // a scalar value
///     "ids" => Some(Some(3)),    // a list of three values
///     _ => None,                 // no value
/// })?;
/// assert_eq!(text, "SELECT * FROM t WHERE age >= $1 AND id IN ($2, $3, $4) OR boss IN ($2, $3, $4)");
/// assert_eq!(binds[0], ("min".to_owned(), None));
/// assert_eq!(binds[3], ("ids".to_owned(), Some(2)));
/// assert_eq!(binds.len(), 4);
/// ```
///
/// # What is a parameter
///
/// A parameter is `:` followed by a name, where the `:` is not preceded by an
/// identifier character (ASCII letter, digit, `_` or any non-ASCII character)
/// nor by another `:`. A name starts with a letter or `_` and continues with
/// letters, digits and `_`; letters and digits are Unicode ones, as SQLAlchemy's
/// `\w` (`:número`, `:名前`). So `::` (PostgreSQL cast), `:=` (MySQL
/// assignment), `a:b`, `arr[1:2]` and `:1` contain no parameter, while
/// `:id::text` is the parameter `id` followed by the cast `::text`.
///
/// `\:` writes a literal colon, as in SQLAlchemy: the backslash is dropped, so
/// `\:=` renders `:=`, `\:\:int` renders `::int` and `\:name` renders `:name`
/// with no parameter. Only outside strings, quoted identifiers and comments;
/// inside them nothing changes.
///
/// # Lexical rules per dialect
///
/// Nothing inside a comment, string literal or quoted identifier is a
/// parameter. What opens and closes one depends on the dialect, and where a
/// dialect has no such construct the same bytes are ordinary SQL: `# :x` hides
/// `:x` on MySQL, while on PostgreSQL `#` is the bitwise-xor operator and `:x` a
/// parameter.
///
/// **SQLite**
/// - `'...'` strings; `''` escapes a quote, a backslash is an ordinary character.
/// - `"..."` and `` `...` `` identifiers (a doubled quote escapes it) and
///   `[...]` identifiers (no escape).
/// - `--` comments to the end of the line; `/* */` comments do not nest, and an
///   unterminated `/*` is a comment to the end of the text, as SQLite reads it.
/// - `$` and `#` are ordinary characters.
///
/// **PostgreSQL**
/// - `'...'` strings with `''` escapes and backslash as an ordinary character
///   (`standard_conforming_strings`, the default); `E'...'` strings also honour
///   backslash escapes (`E'\''`).
/// - `$$...$$` and `$tag$...$tag$` dollar-quoted strings. `$` after an identifier
///   character (`a$b$`) or before a digit (`$1`) opens none.
/// - `"..."` identifiers (`""` escape).
/// - `--` comments to the end of the line (a newline or carriage return);
///   `/* */` comments nest.
/// - Backticks, `[` (`arr[:i]` is a subscript) and `#` (bitwise xor) are
///   ordinary characters.
///
/// **MySQL / MariaDB** (default `sql_mode`: no `ANSI_QUOTES`, no
/// `NO_BACKSLASH_ESCAPES`)
/// - `'...'` and `"..."` strings; a doubled quote and backslash escapes
///   (`'it\'s'`) both work.
/// - `` `...` `` identifiers (a doubled backtick escapes it).
/// - `#` comments to the end of the line; `--` starts a comment only when
///   followed by whitespace, a control character or the end of the text
///   (`5 --:n` is 5 minus minus `:n`).
/// - `/* */` comments do not nest. Executable comments `/*! ... */` (and
///   MariaDB's `/*M! ... */`) are SQL to the server, so their content is scanned
///   as SQL.
/// - `$` and `[` are ordinary characters.
///
/// An unterminated string, quoted identifier, dollar-quoted string or (except on
/// SQLite) block comment is a [`NamedSqlError::Syntax`] error.
#[derive(Debug, Clone)]
pub struct NamedSql {
    /// The original text.
    sql: String,
    /// Literal text and parameter occurrences, in order.
    segments: Vec<Segment>,
    /// Distinct parameter names in order of first appearance.
    names: Vec<String>,
}

/// Why a `:name` SQL text could not be parsed or rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedSqlError {
    /// A parameter is used in the SQL but no value was given.
    Missing(String),
    /// A value was given for a name the SQL never uses.
    Unused(String),
    /// A list parameter was empty (`IN ()` is invalid SQL).
    EmptyList(String),
    /// The SQL text cannot be parsed (e.g. unterminated string literal or block
    /// comment); the message says where.
    Syntax(String),
}

impl fmt::Display for NamedSqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(name) => {
                write!(f, "parameter :{name} is used in the SQL but was not given")
            }
            Self::Unused(name) => {
                write!(f, "parameter :{name} was given but the SQL does not use it")
            }
            Self::EmptyList(name) => write!(f, "parameter :{name} is an empty list, which would render invalid SQL such as `IN ()`"),
            Self::Syntax(message) => write!(f, "cannot parse SQL text: {message}"),
        }
    }
}

impl std::error::Error for NamedSqlError {}

impl NamedSql {
    /// Parses `sql`, finding its `:name` parameters with the lexical rules of
    /// `dialect`: nothing inside that dialect's comments, strings or quoted
    /// identifiers is a parameter, and `\:` writes a literal colon.
    ///
    /// # Errors
    ///
    /// [`NamedSqlError::Syntax`] when a string literal, quoted identifier,
    /// dollar-quoted string or (except on SQLite) block comment is not
    /// terminated.
    pub fn parse(sql: &str, dialect: Dialect) -> Result<NamedSql, NamedSqlError> {
        let (segments, names, questions) = scan(sql, dialect)?;
        // A `?` would be a positional placeholder with no value behind it (on MariaDB the
        // driver then fails without sending, and the connection hangs for good).
        if let (Dialect::MySql, Some(at)) = (dialect, questions.first()) {
            return Err(NamedSqlError::Syntax(format!(
                "a `?` placeholder at byte {at}: raw SQL takes :name parameters (a literal `?` goes inside a string)"
            )));
        }
        Ok(NamedSql { sql: sql.to_owned(), segments, names })
    }

    /// Names in order of first appearance, deduplicated.
    pub fn names(&self) -> Vec<&str> {
        self.names.iter().map(String::as_str).collect()
    }

    /// Renders the SQL for a dialect.
    ///
    /// `arity(name)` returns `None` when the caller has no value for that name,
    /// `Some(None)` for a scalar value and `Some(Some(n))` for a list of `n`
    /// values, which is expanded to `n` comma-separated placeholders. `given`
    /// lists all names the caller has values for, to detect unused ones.
    ///
    /// Returns the SQL text and the `(name, index within the list or None)` of
    /// each value to bind, in placeholder order: with
    /// [`PlaceholderStyle::Question`] one per `?`, so a name used twice binds
    /// twice; with [`PlaceholderStyle::Dollar`] one per number, and a name used
    /// again reuses its numbers (`:a + :a` renders `$1 + $1` and binds once).
    ///
    /// # Errors
    ///
    /// Checked in this order: [`NamedSqlError::Missing`] (first
    /// missing name in order of appearance), [`NamedSqlError::Unused`] (first
    /// unused name in `given`), then [`NamedSqlError::EmptyList`].
    #[allow(clippy::type_complexity, reason = "the return type is spelled out so callers see the binding shape")]
    pub fn render(
        &self,
        style: PlaceholderStyle,
        given: &[&str],
        arity: impl Fn(&str) -> Option<Option<usize>>,
    ) -> Result<(String, Vec<(String, Option<usize>)>), NamedSqlError> {
        let arities =
            self.names.iter().map(|name| arity(name).ok_or_else(|| NamedSqlError::Missing(name.clone()))).collect::<Result<Vec<_>, _>>()?;
        if let Some(unused) = given.iter().find(|given| !self.names.iter().any(|name| name == *given)) {
            return Err(NamedSqlError::Unused((*unused).to_owned()));
        }
        if let Some((name, _)) = self.names.iter().zip(&arities).find(|(_, arity)| **arity == Some(0)) {
            return Err(NamedSqlError::EmptyList(name.clone()));
        }

        let mut text = String::with_capacity(self.sql.len() + 8 * self.segments.len());
        let mut binds = Vec::new();
        // With `$n`, the number of each name's first placeholder, to reuse.
        let mut first_number: Vec<Option<usize>> = vec![None; self.names.len()];
        for segment in &self.segments {
            match segment {
                Segment::Text(range) => text.push_str(&self.sql[range.clone()]),
                Segment::Param(index) => {
                    let (name, list_len) = (&self.names[*index], arities[*index]);
                    let count = list_len.unwrap_or(1);
                    let first = match (style, first_number[*index]) {
                        (PlaceholderStyle::Dollar, Some(first)) => first,
                        _ => {
                            let first = binds.len() + 1;
                            binds.extend((0..count).map(|item| (name.clone(), list_len.map(|_| item))));
                            first_number[*index] = Some(first);
                            first
                        }
                    };
                    for item in 0..count {
                        if item > 0 {
                            text.push_str(", ");
                        }
                        push_placeholder(&mut text, style, first + item);
                    }
                }
            }
        }
        Ok((text, binds))
    }
}

/// Appends the placeholder of the `number`-th (1-based) bound value.
/// How many `?` placeholders MariaDB/MySQL would see in `sql` (outside its strings,
/// quoted identifiers and comments).
#[cfg(feature = "mysql")]
pub(crate) fn question_placeholders(sql: &str) -> Result<usize, NamedSqlError> {
    Ok(scan(sql, Dialect::MySql)?.2.len())
}

fn push_placeholder(text: &mut String, style: PlaceholderStyle, number: usize) {
    match style {
        PlaceholderStyle::Question => text.push('?'),
        // Writing to a `String` cannot fail.
        PlaceholderStyle::Dollar => {
            let _ = write!(text, "${number}");
        }
    }
}

/// Whether `byte` may continue an identifier (non-ASCII bytes count, as
/// PostgreSQL and MySQL accept non-ASCII letters in identifiers).
fn is_ident_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80
}

/// The end of the parameter name starting at `start`, if one starts there: a
/// Unicode letter or `_`, then letters, digits and `_` (SQLAlchemy's `\w`).
fn name_end(sql: &str, start: usize) -> Option<usize> {
    let rest = &sql[start..];
    let first = rest.chars().next()?;
    if !(first.is_alphabetic() || first == '_') {
        return None;
    }
    let len = rest.char_indices().find(|&(_, c)| !(c.is_alphanumeric() || c == '_')).map_or(rest.len(), |(len, _)| len);
    Some(start + len)
}

/// The segments, the names, and the `?` placeholders in the text (not on PostgreSQL, where
/// `?` is an operator), each `?`'s byte offset.
type Scanned = (Vec<Segment>, Vec<String>, Vec<usize>);

/// Splits `sql` into segments, skipping what `dialect` reads as strings, quoted
/// identifiers and comments.
fn scan(sql: &str, dialect: Dialect) -> Result<Scanned, NamedSqlError> {
    let (sqlite, pg, mysql) = (dialect == Dialect::Sqlite, dialect == Dialect::Postgres, dialect == Dialect::MySql);
    let bytes = sql.as_bytes();
    let mut segments = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut questions = Vec::new();
    let mut text_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let next = bytes.get(i + 1).copied();
        i = match bytes[i] {
            b'\'' => {
                let backslash = mysql || (pg && is_escape_string_prefix(bytes, i));
                skip_quoted(bytes, i, b'\'', backslash, "string literal")?
            }
            b'"' if mysql => skip_quoted(bytes, i, b'"', true, "double-quoted string")?,
            b'"' => skip_quoted(bytes, i, b'"', false, "double-quoted identifier")?,
            b'`' if !pg => skip_quoted(bytes, i, b'`', false, "backtick-quoted identifier")?,
            b'[' if sqlite => match bytes[i..].iter().position(|&b| b == b']') {
                Some(len) => i + len + 1,
                None => return Err(unterminated("bracket-quoted identifier", i)),
            },
            b'#' if mysql => skip_line_comment(bytes, i + 1, false),
            // MySQL needs whitespace or a control character after `--`: `5 --1` is 5 - -1.
            b'-' if next == Some(b'-') && (!mysql || bytes.get(i + 2).is_none_or(|&b| b <= b' ' || b == 0x7f)) => {
                skip_line_comment(bytes, i + 2, pg)
            }
            // MySQL runs the content of `/*! */` and MariaDB of `/*M! */`: it is SQL, not a comment.
            b'/' if next == Some(b'*') && !(mysql && (bytes[i + 2..].starts_with(b"!") || bytes[i + 2..].starts_with(b"M!"))) => {
                skip_block_comment(bytes, i, dialect)?
            }
            b'$' if pg => skip_dollar_quoted(sql, i)?,
            // `\:` is a literal colon: end the text before the backslash, resume at the colon.
            b'\\' if next == Some(b':') => {
                if text_start < i {
                    segments.push(Segment::Text(text_start..i));
                }
                text_start = i + 1;
                i + 2
            }
            b':' if next == Some(b':') => i + 2,
            b':' if i > 0 && (is_ident_byte(bytes[i - 1]) || bytes[i - 1] == b':') => i + 1,
            b':' => match name_end(sql, i + 1) {
                Some(end) => {
                    if text_start < i {
                        segments.push(Segment::Text(text_start..i));
                    }
                    let name = &sql[i + 1..end];
                    let index = names.iter().position(|known| known == name).unwrap_or_else(|| {
                        names.push(name.to_owned());
                        names.len() - 1
                    });
                    segments.push(Segment::Param(index));
                    text_start = end;
                    end
                }
                None => i + 1,
            },
            b'?' if !pg => {
                questions.push(i);
                i + 1
            }
            _ => i + 1,
        };
    }
    if text_start < bytes.len() {
        segments.push(Segment::Text(text_start..bytes.len()));
    }
    Ok((segments, names, questions))
}

fn unterminated(what: &str, start: usize) -> NamedSqlError {
    NamedSqlError::Syntax(format!("unterminated {what} starting at byte {start}"))
}

/// Whether the quote at `quote` opens a PostgreSQL escape string `E'...'`.
fn is_escape_string_prefix(bytes: &[u8], quote: usize) -> bool {
    quote >= 1 && matches!(bytes[quote - 1], b'E' | b'e') && (quote == 1 || !is_ident_byte(bytes[quote - 2]))
}

/// Skips a quoted run opened at `start` and closed by `quote` (doubled to
/// escape, and with `backslash_escapes` also `\`); returns the offset just past
/// the closing quote.
fn skip_quoted(bytes: &[u8], start: usize, quote: u8, backslash_escapes: bool, what: &str) -> Result<usize, NamedSqlError> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslash_escapes => i += 2,
            b if b == quote => {
                if bytes.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return Ok(i + 1);
                }
            }
            _ => i += 1,
        }
    }
    Err(unterminated(what, start))
}

/// Skips a line comment whose body starts at `body`, up to and including the
/// newline (PostgreSQL also ends one at a carriage return).
fn skip_line_comment(bytes: &[u8], body: usize, cr_ends: bool) -> usize {
    bytes[body..].iter().position(|&b| b == b'\n' || (cr_ends && b == b'\r')).map_or(bytes.len(), |offset| body + offset + 1)
}

/// Skips a `/* */` comment opened at `start`; only PostgreSQL nests them.
fn skip_block_comment(bytes: &[u8], start: usize, dialect: Dialect) -> Result<usize, NamedSqlError> {
    let nests = dialect == Dialect::Postgres;
    let mut depth = 1usize;
    let mut i = start + 2;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') if nests => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => i += 1,
        }
    }
    // SQLite's tokenizer ends an unterminated comment at the end of the text;
    // PostgreSQL and MySQL reject it.
    match dialect {
        Dialect::Sqlite => Ok(bytes.len()),
        _ => Err(unterminated("block comment", start)),
    }
}

/// Skips a PostgreSQL dollar-quoted string if one opens at `start` (a `$`);
/// otherwise returns `start + 1`. `$1` and `a$b$` are not dollar quotes.
fn skip_dollar_quoted(sql: &str, start: usize) -> Result<usize, NamedSqlError> {
    let bytes = sql.as_bytes();
    if start > 0 && (is_ident_byte(bytes[start - 1]) || bytes[start - 1] == b'$') {
        return Ok(start + 1);
    }
    // The tag follows identifier rules (non-ASCII bytes included) and holds no `$`.
    let mut tag_end = start + 1;
    if bytes.get(tag_end).is_some_and(|&b| is_ident_byte(b) && !b.is_ascii_digit()) {
        tag_end += 1;
        while bytes.get(tag_end).copied().is_some_and(is_ident_byte) {
            tag_end += 1;
        }
    }
    if bytes.get(tag_end) != Some(&b'$') {
        return Ok(start + 1);
    }
    let delimiter = &sql[start..=tag_end];
    match sql[tag_end + 1..].find(delimiter) {
        Some(offset) => Ok(tag_end + 1 + offset + delimiter.len()),
        None => Err(unterminated(&format!("dollar-quoted string {delimiter}"), start)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Dialect::{MySql, Postgres, Sqlite};

    type Rendered = (String, Vec<(String, Option<usize>)>);

    const ALL: [Dialect; 3] = [Sqlite, Postgres, MySql];

    fn style(dialect: Dialect) -> PlaceholderStyle {
        if dialect == Postgres { PlaceholderStyle::Dollar } else { PlaceholderStyle::Question }
    }

    /// Renders with the dialect's placeholders and every used name given as a
    /// scalar, except those in `lists`.
    fn render_with(dialect: Dialect, sql: &str, lists: &[(&str, usize)]) -> Result<Rendered, NamedSqlError> {
        let parsed = NamedSql::parse(sql, dialect)?;
        let names = parsed.names();
        parsed.render(style(dialect), &names, |name| Some(lists.iter().find(|(list, _)| *list == name).map(|(_, len)| *len)))
    }

    /// The rendered text on `dialect`.
    fn text(dialect: Dialect, sql: &str) -> String {
        render_with(dialect, sql, &[]).unwrap_or_else(|e| panic!("{dialect:?}: {sql:?}: {e}")).0
    }

    fn names_in(dialect: Dialect, sql: &str) -> Vec<String> {
        NamedSql::parse(sql, dialect)
            .unwrap_or_else(|e| panic!("{dialect:?}: {sql:?}: {e}"))
            .names()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// The names, which must be the same on every dialect.
    fn names(sql: &str) -> Vec<String> {
        let sqlite = names_in(Sqlite, sql);
        assert_eq!(names_in(Postgres, sql), sqlite, "PostgreSQL and SQLite differ on {sql:?}");
        assert_eq!(names_in(MySql, sql), sqlite, "MySQL and SQLite differ on {sql:?}");
        sqlite
    }

    fn scalar(name: &str) -> (String, Option<usize>) {
        (name.to_owned(), None)
    }

    fn item(name: &str, index: usize) -> (String, Option<usize>) {
        (name.to_owned(), Some(index))
    }

    fn syntax_error(dialect: Dialect, sql: &str) -> String {
        match NamedSql::parse(sql, dialect) {
            Err(NamedSqlError::Syntax(message)) => message,
            other => panic!("expected a syntax error for {sql:?} on {dialect:?}, got {other:?}"),
        }
    }

    // --- Placeholders and binding ------------------------------------------------------------

    #[test]
    fn scalar_question_style() {
        for dialect in [Sqlite, MySql] {
            let (sql, binds) = render_with(dialect, "SELECT * FROM t WHERE a = :a AND b > :b", &[]).unwrap();
            assert_eq!(sql, "SELECT * FROM t WHERE a = ? AND b > ?");
            assert_eq!(binds, [scalar("a"), scalar("b")]);
        }
    }

    #[test]
    fn scalar_dollar_style() {
        let (sql, binds) = render_with(Postgres, "SELECT * FROM t WHERE a = :a AND b > :b", &[]).unwrap();
        assert_eq!(sql, "SELECT * FROM t WHERE a = $1 AND b > $2");
        assert_eq!(binds, [scalar("a"), scalar("b")]);
    }

    #[test]
    fn names_are_deduplicated_in_order_of_first_appearance() {
        assert_eq!(names("SELECT :b, :a, :b, :c, :a"), ["b", "a", "c"]);
        assert!(names("SELECT 1").is_empty());
    }

    #[test]
    fn repeated_name_binds_once_with_dollar_and_every_time_with_question() {
        let sql = "SELECT :x, :y, :x";
        let (text, binds) = render_with(Postgres, sql, &[]).unwrap();
        assert_eq!(text, "SELECT $1, $2, $1");
        assert_eq!(binds, [scalar("x"), scalar("y")]);
        for dialect in [Sqlite, MySql] {
            let (text, binds) = render_with(dialect, sql, &[]).unwrap();
            assert_eq!(text, "SELECT ?, ?, ?");
            assert_eq!(binds, [scalar("x"), scalar("y"), scalar("x")]);
        }
        let (text, binds) = render_with(Postgres, "SELECT :a + :a", &[]).unwrap();
        assert_eq!(text, "SELECT $1 + $1");
        assert_eq!(binds, [scalar("a")]);
    }

    #[test]
    fn list_expansion_question_style() {
        let (sql, binds) = render_with(Sqlite, "SELECT * FROM t WHERE id IN (:ids)", &[("ids", 3)]).unwrap();
        assert_eq!(sql, "SELECT * FROM t WHERE id IN (?, ?, ?)");
        assert_eq!(binds, [item("ids", 0), item("ids", 1), item("ids", 2)]);
    }

    #[test]
    fn list_used_twice_reuses_its_numbers_with_dollar() {
        let sql = "SELECT * FROM t WHERE a = :a AND id IN (:ids) AND b = :b AND c IN (:ids) AND d = :a";
        let (text, binds) = render_with(Postgres, sql, &[("ids", 2)]).unwrap();
        assert_eq!(text, "SELECT * FROM t WHERE a = $1 AND id IN ($2, $3) AND b = $4 AND c IN ($2, $3) AND d = $1");
        assert_eq!(binds, [scalar("a"), item("ids", 0), item("ids", 1), scalar("b")]);
        let (text, binds) = render_with(MySql, sql, &[("ids", 2)]).unwrap();
        assert_eq!(text, "SELECT * FROM t WHERE a = ? AND id IN (?, ?) AND b = ? AND c IN (?, ?) AND d = ?");
        assert_eq!(binds, [scalar("a"), item("ids", 0), item("ids", 1), scalar("b"), item("ids", 0), item("ids", 1), scalar("a")]);
    }

    #[test]
    fn single_item_list_renders_one_placeholder() {
        let (sql, binds) = render_with(Postgres, "x IN (:ids)", &[("ids", 1)]).unwrap();
        assert_eq!(sql, "x IN ($1)");
        assert_eq!(binds, [item("ids", 0)]);
    }

    #[test]
    fn dollar_numbers_go_past_nine() {
        let (sql, binds) = render_with(Postgres, "x IN (:ids) OR y IN (:ids)", &[("ids", 11)]).unwrap();
        assert!(sql.ends_with("$9, $10, $11) OR y IN ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"), "{sql}");
        assert_eq!(binds.len(), 11);
        assert_eq!(binds[10], item("ids", 10));
    }

    // --- What is a parameter -----------------------------------------------------------------

    #[test]
    fn postgres_cast_after_parameter() {
        assert_eq!(names("SELECT :id::text"), ["id"]);
        assert_eq!(text(Postgres, "SELECT :id::text"), "SELECT $1::text");
        assert_eq!(text(Sqlite, "WHERE a = :a::int + 1"), "WHERE a = ?::int + 1");
    }

    #[test]
    fn postgres_cast_without_parameter() {
        assert!(names("SELECT x::int, '1'::int, (y)::text").is_empty());
        assert!(names("SELECT x :: int").is_empty());
        assert!(names("SELECT x:::y").is_empty());
        assert_eq!(text(Postgres, "SELECT x::int"), "SELECT x::int");
    }

    #[test]
    fn mysql_assignment_and_lone_colons_are_left_alone() {
        let sql = "SET @x := :v; SELECT @y:=1, ':', a : b, :1, : x";
        assert_eq!(names(sql), ["v"]);
        assert_eq!(text(MySql, sql), "SET @x := ?; SELECT @y:=1, ':', a : b, :1, : x");
        assert_eq!(text(MySql, "SELECT :"), "SELECT :");
    }

    #[test]
    fn colon_after_identifier_char_is_not_a_parameter() {
        assert!(names("SELECT arr[1:2], arr[lo:hi], a:b, x1:y").is_empty());
        assert_eq!(names_in(Postgres, "SELECT arr[:lo:hi]"), ["lo"]);
        assert_eq!(names("(:a),:b,=:c :e"), ["a", "b", "c", "e"]);
        assert_eq!(names(":start"), ["start"]);
        assert_eq!(text(MySql, "arr[1:2] a:b (:c)"), "arr[1:2] a:b (?)");
        // Non-ASCII identifier characters count as identifier characters.
        assert!(names("SELECT niño:x, 名:y").is_empty());
    }

    #[test]
    fn parameter_names_follow_identifier_rules() {
        assert_eq!(names("SELECT :_a1, :B_2c, :x-1, :y.z"), ["_a1", "B_2c", "x", "y"]);
        assert_eq!(text(Sqlite, "SELECT :x-1, :y.z"), "SELECT ?-1, ?.z");
    }

    #[test]
    fn unicode_parameter_names() {
        let sql = "SELECT :número, :名前, :é, :_ñ2, :Ωmega9 FROM t WHERE x = :número";
        assert_eq!(names(sql), ["número", "名前", "é", "_ñ2", "Ωmega9"]);
        assert_eq!(text(Postgres, sql), "SELECT $1, $2, $3, $4, $5 FROM t WHERE x = $1");
        assert_eq!(text(MySql, sql), "SELECT ?, ?, ?, ?, ? FROM t WHERE x = ?");
        // A name ends at the first character that is not a letter, digit or `_`.
        assert_eq!(text(Sqlite, "(:名前), :número.x, :a→b, :a·b"), "(?), ?.x, ?→b, ?·b");
        // It starts with a letter or `_`: not a digit, not even a non-ASCII one.
        assert!(names("SELECT :1, :٣x, :·x").is_empty());
        // Combining marks (here U+0301) are neither letters nor digits.
        assert_eq!(names("SELECT :cafe\u{301}"), ["cafe"]);
    }

    // --- The `\:` escape -----------------------------------------------------------------------

    #[test]
    fn backslash_colon_is_a_literal_colon() {
        for dialect in ALL {
            assert_eq!(text(dialect, r"SET @v \:= :n"), "SET @v := ".to_owned() + if dialect == Postgres { "$1" } else { "?" });
            assert_eq!(text(dialect, r"SELECT '5'\:\:int"), "SELECT '5'::int");
            assert_eq!(text(dialect, r"SELECT 'x' \:name"), "SELECT 'x' :name");
            assert!(names_in(dialect, r"SELECT 'x' \:name, a\:b, \::c").is_empty());
            assert_eq!(text(dialect, r"\:a\:b"), ":a:b");
            // A backslash before anything else stays.
            assert_eq!(text(dialect, r"SELECT \\:x, \n"), r"SELECT \:x, \n");
        }
        assert_eq!(text(Postgres, r"SELECT :id\:\:text"), "SELECT $1::text");
    }

    #[test]
    fn backslash_colon_inside_strings_and_comments_is_kept() {
        for dialect in ALL {
            assert_eq!(
                text(dialect, r"SELECT '\:x', :y -- \:z"),
                format!(r"SELECT '\:x', {} -- \:z", if dialect == Postgres { "$1" } else { "?" })
            );
            assert_eq!(text(dialect, r"/* \:a */ SELECT 1"), r"/* \:a */ SELECT 1");
        }
        assert_eq!(text(MySql, r#"SELECT "\:x" # \:z"#), r#"SELECT "\:x" # \:z"#);
        assert_eq!(text(Postgres, r"SELECT E'\:x', $$\:y$$"), r"SELECT E'\:x', $$\:y$$");
    }

    // --- Strings and quoted identifiers ------------------------------------------------------

    #[test]
    fn no_parameters_in_single_quoted_strings() {
        assert_eq!(names("SELECT ':a', :b"), ["b"]);
        assert_eq!(names("SELECT 'it''s :a', :b, ''"), ["b"]);
        assert_eq!(text(Sqlite, "SELECT 'it''s :a', :b"), "SELECT 'it''s :a', ?");
    }

    #[test]
    fn backslash_escapes_in_single_quotes_only_on_mysql() {
        // MySQL: one string `a' :x 'b`. Elsewhere: `'a\'`, then ` :x \`, then `'b'`.
        let sql = r"SELECT 'a\' :x \'b', :y";
        assert_eq!(names_in(MySql, sql), ["y"]);
        assert_eq!(text(MySql, sql), r"SELECT 'a\' :x \'b', ?");
        assert_eq!(names_in(Sqlite, sql), ["x", "y"]);
        assert_eq!(text(Postgres, sql), r"SELECT 'a\' $1 \'b', $2");
        // `'it\'s :x'` is a string on MySQL; elsewhere the `'` after `s :x` is unterminated.
        let sql = r"SELECT 'it\'s :x', :y";
        assert_eq!(names_in(MySql, sql), ["y"]);
        for dialect in [Sqlite, Postgres] {
            assert_eq!(syntax_error(dialect, sql), "unterminated string literal starting at byte 16");
        }
        // `'C:\dir\'` ends at its last quote on SQLite/PostgreSQL; on MySQL `\'` escapes it.
        let sql = r"SELECT * FROM f WHERE path = 'C:\dir\' AND id = :id";
        assert_eq!(text(Sqlite, sql), r"SELECT * FROM f WHERE path = 'C:\dir\' AND id = ?");
        assert_eq!(names_in(Postgres, sql), ["id"]);
        assert_eq!(syntax_error(MySql, sql), "unterminated string literal starting at byte 29");
        // An escaped backslash right before the closing quote.
        assert_eq!(names_in(MySql, r"SELECT 'a\\', '\'', :z"), ["z"]);
    }

    #[test]
    fn postgres_escape_strings_honour_backslashes() {
        let sql = r"SELECT E'it\'s :x', e'\\', :y, '\', :z";
        assert_eq!(names_in(Postgres, sql), ["y", "z"]);
        assert_eq!(text(Postgres, sql), r"SELECT E'it\'s :x', e'\\', $1, '\', $2");
        // An identifier ending in `e` is not an escape-string prefix.
        assert_eq!(names_in(Postgres, r"SELECT some'\', :a"), ["a"]);
        // SQLite has no `E'...'`: `E'\'` is a string and `:x` a parameter. On MySQL
        // `E` is a name and `'\' :x \''` a string.
        let sql = r"SELECT E'\' :x \''";
        assert!(names_in(Postgres, sql).is_empty());
        assert!(names_in(MySql, sql).is_empty());
        assert_eq!(text(Sqlite, sql), r"SELECT E'\' ? \''");
    }

    #[test]
    fn double_quotes_are_identifiers_except_on_mysql() {
        assert_eq!(names(r#"SELECT "col:a", "x"":b", :c FROM "t""#), ["c"]);
        assert_eq!(text(Postgres, r#"SELECT "a"":x" FROM t WHERE y = :y"#), r#"SELECT "a"":x" FROM t WHERE y = $1"#);
        // MySQL: one string `a" :x "b`. Elsewhere: `"a\"`, ` :x \`, `"b"`.
        let sql = r#"SELECT "a\" :x \"b", :y"#;
        assert_eq!(names_in(MySql, sql), ["y"]);
        assert_eq!(names_in(Postgres, sql), ["x", "y"]);
        assert_eq!(names_in(Sqlite, sql), ["x", "y"]);
        assert_eq!(syntax_error(MySql, r#"SELECT "a\""#), "unterminated double-quoted string starting at byte 7");
        assert_eq!(syntax_error(Postgres, r#"SELECT "a"#), "unterminated double-quoted identifier starting at byte 7");
    }

    #[test]
    fn backticks_quote_on_mysql_and_sqlite_only() {
        let sql = "SELECT `col :a`, `x`` :b`, :c FROM `t`";
        assert_eq!(names_in(MySql, sql), ["c"]);
        assert_eq!(text(Sqlite, "SELECT ` :a` WHERE c = :c"), "SELECT ` :a` WHERE c = ?");
        // PostgreSQL has no backtick quoting: a backtick is an (operator) character.
        assert_eq!(names_in(Postgres, sql), ["a", "b", "c"]);
        assert_eq!(text(Postgres, "SELECT `:a`"), "SELECT `$1`");
        assert_eq!(syntax_error(Sqlite, "SELECT `abc"), "unterminated backtick-quoted identifier starting at byte 7");
        assert_eq!(text(Postgres, "SELECT `abc"), "SELECT `abc");
    }

    #[test]
    fn square_brackets_quote_only_on_sqlite() {
        let sql = "SELECT [a:b], [ :x ], [:y], :z FROM (SELECT 1 AS [a:b])";
        assert_eq!(names_in(Sqlite, sql), ["z"]);
        assert_eq!(text(Sqlite, sql), "SELECT [a:b], [ :x ], [:y], ? FROM (SELECT 1 AS [a:b])");
        // PostgreSQL and MySQL: `[` is a subscript or ordinary; `a:b` still is no parameter.
        assert_eq!(names_in(Postgres, sql), ["x", "y", "z"]);
        assert_eq!(text(Postgres, "SELECT arr[:i]"), "SELECT arr[$1]");
        assert_eq!(names_in(MySql, sql), ["x", "y", "z"]);
        // `]]` is no escape in SQLite: the identifier ends at the first `]`.
        assert_eq!(names_in(Sqlite, "SELECT [a]] :x"), ["x"]);
        assert_eq!(syntax_error(Sqlite, "SELECT [abc :x"), "unterminated bracket-quoted identifier starting at byte 7");
        assert_eq!(names_in(Postgres, "SELECT [abc :x"), ["x"]);
    }

    #[test]
    fn dollar_quotes_only_on_postgres() {
        let sql = "SELECT $$ :a 'x $$, :b";
        assert_eq!(names_in(Postgres, sql), ["b"]);
        // Elsewhere `$` is ordinary, so `'x $$, :b` is an unterminated string...
        assert_eq!(syntax_error(Sqlite, sql), "unterminated string literal starting at byte 13");
        assert_eq!(syntax_error(MySql, sql), "unterminated string literal starting at byte 13");
        // ...and `:x` between `$$` is a parameter.
        let sql = "SELECT $$ :x $$, $t$ :y $t$, :z";
        assert_eq!(names_in(Postgres, sql), ["z"]);
        assert_eq!(names_in(MySql, sql), ["x", "y", "z"]);
        assert_eq!(names_in(Sqlite, sql), ["x", "y", "z"]);
        assert_eq!(names_in(MySql, "SELECT $$:x$$"), ["x"]);
        let sql = "DO $body$ BEGIN PERFORM :a; SELECT $$ :b $$; END $body$; SELECT :c";
        assert_eq!(names_in(Postgres, sql), ["c"]);
        assert_eq!(text(Postgres, sql), "DO $body$ BEGIN PERFORM :a; SELECT $$ :b $$; END $body$; SELECT $1");
        // Tags may hold non-ASCII letters.
        assert!(names_in(Postgres, "SELECT $ñ$ :x $ñ$").is_empty());
        assert_eq!(syntax_error(Postgres, "SELECT $tag$ abc $$"), "unterminated dollar-quoted string $tag$ starting at byte 7");
        assert_eq!(names_in(MySql, "SELECT $tag$ :x $$"), ["x"]);
    }

    #[test]
    fn dollar_signs_that_are_not_dollar_quotes() {
        // Positional parameters and `$` inside identifiers do not open quotes.
        assert_eq!(names_in(Postgres, "SELECT $1, :a, $2"), ["a"]);
        assert_eq!(names_in(Postgres, "SELECT a$b$, :c, d$e$"), ["c"]);
        assert_eq!(names_in(Postgres, "SELECT '$' || :a"), ["a"]);
        assert_eq!(names_in(Postgres, "SELECT 5$ :a"), ["a"]);
        assert_eq!(names_in(Postgres, "SELECT $1$ :a"), ["a"]);
    }

    // --- Comments ----------------------------------------------------------------------------

    #[test]
    fn double_dash_comments() {
        let sql = "SELECT :a -- ignore :b\nFROM t WHERE c = :c -- :d";
        assert_eq!(names(sql), ["a", "c"]);
        assert_eq!(text(Postgres, sql), "SELECT $1 -- ignore :b\nFROM t WHERE c = $2 -- :d");
        // A single dash is subtraction, not a comment.
        assert_eq!(names("SELECT 1 - :a"), ["a"]);
        assert!(names("SELECT 1 --").is_empty());
        assert!(names("SELECT 1 --\t:x").is_empty());
        assert!(names("SELECT 1 --\n").is_empty());
    }

    #[test]
    fn mysql_double_dash_needs_whitespace_or_control_after_it() {
        // `5 --:n` is 5 minus minus :n on MySQL, a comment elsewhere.
        let sql = "SELECT 5 --:n\n, :m";
        assert_eq!(names_in(MySql, sql), ["n", "m"]);
        assert_eq!(text(MySql, sql), "SELECT 5 --?\n, ?");
        assert_eq!(names_in(Sqlite, sql), ["m"]);
        assert_eq!(names_in(Postgres, sql), ["m"]);
        // Any control character counts, as does the end of the text.
        assert!(names_in(MySql, "SELECT 1 --\x01:x").is_empty());
        assert!(names_in(MySql, "SELECT 1 --\x7f:x").is_empty());
        assert_eq!(text(MySql, "SELECT :a --"), "SELECT ? --");
        assert_eq!(names_in(MySql, "SELECT 1 --é :x"), ["x"]);
    }

    #[test]
    fn hash_comments_only_on_mysql() {
        let sql = "SELECT :a # :x\n, :b";
        assert_eq!(names_in(MySql, sql), ["a", "b"]);
        assert_eq!(text(MySql, sql), "SELECT ? # :x\n, ?");
        // PostgreSQL: `#` is bitwise xor. SQLite: an ordinary character.
        assert_eq!(text(Postgres, sql), "SELECT $1 # $2\n, $3");
        assert_eq!(names_in(Sqlite, sql), ["a", "x", "b"]);
    }

    #[test]
    fn line_comments_end_at_a_carriage_return_only_on_postgres() {
        let sql = "SELECT 1 -- c\r:x";
        assert_eq!(names_in(Postgres, sql), ["x"]);
        assert!(names_in(Sqlite, sql).is_empty());
        assert!(names_in(MySql, sql).is_empty());
        assert_eq!(names("SELECT 1 -- c\r\n:x"), ["x"]);
    }

    #[test]
    fn no_parameters_in_block_comments() {
        let sql = "SELECT /* :a */ :b /* x\n:c */";
        assert_eq!(names(sql), ["b"]);
        assert_eq!(text(MySql, sql), "SELECT /* :a */ ? /* x\n:c */");
        assert_eq!(names("SELECT 4 / :a * 2, 1 /*/ :b */"), ["a"]);
    }

    #[test]
    fn block_comments_nest_only_on_postgres() {
        let sql = "SELECT /* outer /* inner :a */ still comment :b */ :c";
        assert_eq!(names_in(Postgres, sql), ["c"]);
        assert_eq!(text(Postgres, sql), "SELECT /* outer /* inner :a */ still comment :b */ $1");
        // SQLite and MySQL end the comment at the first `*/`.
        assert_eq!(names_in(Sqlite, sql), ["b", "c"]);
        assert_eq!(text(MySql, sql), "SELECT /* outer /* inner :a */ still comment ? */ ?");
        assert_eq!(names_in(MySql, "SELECT /* /* */ :x */"), ["x"]);
        assert!(names_in(Postgres, "SELECT /* /* */ :x */").is_empty());
    }

    #[test]
    fn unterminated_block_comment_runs_to_the_end_only_on_sqlite() {
        let sql = "SELECT :a /* :b";
        assert_eq!(names_in(Sqlite, sql), ["a"]);
        assert_eq!(text(Sqlite, sql), "SELECT ? /* :b");
        assert_eq!(syntax_error(Postgres, sql), "unterminated block comment starting at byte 10");
        assert_eq!(syntax_error(MySql, sql), "unterminated block comment starting at byte 10");
        assert_eq!(syntax_error(Postgres, "SELECT 1 /*/"), "unterminated block comment starting at byte 9");
        // Nested on PostgreSQL only: one `*/` is not enough there.
        let sql = "SELECT /* a /* b */ :c";
        assert_eq!(syntax_error(Postgres, sql), "unterminated block comment starting at byte 7");
        assert_eq!(names_in(MySql, sql), ["c"]);
        assert_eq!(names_in(Sqlite, sql), ["c"]);
    }

    #[test]
    fn mysql_executable_comments_are_sql() {
        let sql = "SELECT /*! :x */ /*M! :y */ /*!50700 :z */ /*+ :hint */ /* :w */";
        assert_eq!(names_in(MySql, sql), ["x", "y", "z"]);
        assert_eq!(text(MySql, sql), "SELECT /*! ? */ /*M! ? */ /*!50700 ? */ /*+ :hint */ /* :w */");
        assert!(names_in(Postgres, sql).is_empty());
        assert!(names_in(Sqlite, sql).is_empty());
    }

    // --- Text is kept, errors ----------------------------------------------------------------

    #[test]
    fn every_other_byte_is_kept() {
        let common = "SELECT  'á :x ''y''' AS \"é\"\t-- :c ñ\n/* :d ☃ */ FROM t;\r\n";
        for (dialect, hidden) in [(Sqlite, "[:e ☃] `:f`"), (Postgres, "$t$ :e $t$ /* /* :f */ */"), (MySql, "`:e` \":f\\\"\" # :g\n")] {
            let sql = format!("{common}{hidden}");
            assert!(names_in(dialect, &sql).is_empty(), "{dialect:?}");
            assert_eq!(text(dialect, &sql), sql);
            let with_param = format!("{sql}(:p){sql}");
            let placeholder = if dialect == Postgres { "$1" } else { "?" };
            assert_eq!(text(dialect, &with_param), format!("{sql}({placeholder}){sql}"));
        }
    }

    #[test]
    fn unterminated_quotes_are_syntax_errors_with_offsets() {
        for dialect in ALL {
            assert_eq!(syntax_error(dialect, "SELECT 'abc"), "unterminated string literal starting at byte 7");
            assert_eq!(syntax_error(dialect, "SELECT 'a''"), "unterminated string literal starting at byte 7");
        }
        assert_eq!(syntax_error(Sqlite, "SELECT \"abc"), "unterminated double-quoted identifier starting at byte 7");
        assert_eq!(syntax_error(MySql, "SELECT `abc"), "unterminated backtick-quoted identifier starting at byte 7");
        assert_eq!(syntax_error(MySql, r"SELECT 'a\'"), "unterminated string literal starting at byte 7");
    }

    #[test]
    fn missing_parameter() {
        let parsed = NamedSql::parse("SELECT :a, :min", Sqlite).unwrap();
        let err = parsed.render(PlaceholderStyle::Question, &["a"], |name| (name == "a").then_some(None)).unwrap_err();
        assert_eq!(err, NamedSqlError::Missing("min".into()));
        assert_eq!(err.to_string(), "parameter :min is used in the SQL but was not given");
    }

    #[test]
    fn missing_is_reported_before_unused_and_empty() {
        let parsed = NamedSql::parse("SELECT :a WHERE x IN (:ids)", Postgres).unwrap();
        let err = parsed.render(PlaceholderStyle::Dollar, &["ids", "extra"], |name| (name == "ids").then_some(Some(0))).unwrap_err();
        assert_eq!(err, NamedSqlError::Missing("a".into()));
    }

    #[test]
    fn unused_parameter() {
        let parsed = NamedSql::parse("SELECT :a", MySql).unwrap();
        let err = parsed.render(PlaceholderStyle::Question, &["a", "b"], |_| Some(None)).unwrap_err();
        assert_eq!(err, NamedSqlError::Unused("b".into()));
        assert_eq!(err.to_string(), "parameter :b was given but the SQL does not use it");
        // Names inside comments and strings are not uses.
        for (dialect, sql) in [(Sqlite, "SELECT ':b' -- :b"), (Postgres, "SELECT $$:b$$"), (MySql, "SELECT 1 # :b")] {
            let parsed = NamedSql::parse(sql, dialect).unwrap();
            let err = parsed.render(style(dialect), &["b"], |_| Some(None)).unwrap_err();
            assert_eq!(err, NamedSqlError::Unused("b".into()));
        }
    }

    #[test]
    fn unused_is_reported_before_empty_list() {
        let parsed = NamedSql::parse("x IN (:ids)", Sqlite).unwrap();
        let err = parsed.render(PlaceholderStyle::Question, &["ids", "zzz"], |_| Some(Some(0))).unwrap_err();
        assert_eq!(err, NamedSqlError::Unused("zzz".into()));
    }

    #[test]
    fn empty_list() {
        let err = render_with(MySql, "x IN (:ids)", &[("ids", 0)]).unwrap_err();
        assert_eq!(err, NamedSqlError::EmptyList("ids".into()));
        assert!(err.to_string().contains(":ids"));
        assert!(err.to_string().contains("empty list"));
    }

    #[test]
    fn no_parameters_and_no_values() {
        let parsed = NamedSql::parse("SELECT 1", Postgres).unwrap();
        let (sql, binds) = parsed.render(PlaceholderStyle::Dollar, &[], |_| None).unwrap();
        assert_eq!(sql, "SELECT 1");
        assert!(binds.is_empty());
        let (sql, binds) = NamedSql::parse("", Sqlite).unwrap().render(PlaceholderStyle::Question, &[], |_| None).unwrap();
        assert!(sql.is_empty() && binds.is_empty());
    }

    #[test]
    fn parse_once_render_many_times() {
        let parsed = NamedSql::parse("SELECT * FROM t WHERE id IN (:ids) AND k = :k", Postgres).unwrap();
        for len in 1..=4 {
            let (sql, binds) = parsed
                .render(PlaceholderStyle::Dollar, &["k", "ids"], |name| match name {
                    "ids" => Some(Some(len)),
                    "k" => Some(None),
                    _ => None,
                })
                .unwrap();
            let list = (1..=len).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ");
            assert_eq!(sql, format!("SELECT * FROM t WHERE id IN ({list}) AND k = ${}", len + 1));
            assert_eq!(binds.len(), len + 1);
            assert_eq!(binds[len], scalar("k"));
        }
        let (sql, _) = parsed.render(PlaceholderStyle::Question, &["ids", "k"], |name| Some((name == "ids").then_some(2))).unwrap();
        assert_eq!(sql, "SELECT * FROM t WHERE id IN (?, ?) AND k = ?");
    }

    #[test]
    fn errors_display_and_implement_error() {
        let err: Box<dyn std::error::Error> = Box::new(NamedSqlError::Syntax("unterminated string literal starting at byte 3".into()));
        assert_eq!(err.to_string(), "cannot parse SQL text: unterminated string literal starting at byte 3");
        assert_eq!(
            NamedSqlError::EmptyList("ids".into()).to_string(),
            "parameter :ids is an empty list, which would render invalid SQL such as `IN ()`"
        );
    }
}
