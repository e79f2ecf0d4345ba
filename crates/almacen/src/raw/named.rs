//! Raw SQL with `:name` parameters (like SQLAlchemy's `text()`), rewritten to a
//! dialect's positional placeholders, with list expansion for `IN (:ids)`.
//!
//! The text is scanned once by [`NamedSql::parse`], which splits it into literal
//! text and parameter occurrences. [`NamedSql::render`] then produces the SQL for
//! one dialect and the order in which values must be bound. Every byte that is
//! not a `:name` parameter is kept exactly as written, comments and strings
//! included.
//!
//! # What is a parameter
//!
//! A parameter is `:` followed by an identifier `[A-Za-z_][A-Za-z0-9_]*`, where
//! the `:` is not preceded by an identifier character (`[A-Za-z0-9_]` or any
//! non-ASCII byte) nor by another `:`. So `::` (PostgreSQL cast), `:=` (MySQL
//! assignment), `a:b` and `arr[1:2]` contain no parameter, while `:id::text` is
//! the parameter `id` followed by the cast `::text`.
//!
//! Nothing inside these is a parameter: single-quoted strings (`''` escape),
//! double-quoted identifiers (`""` escape), backtick identifiers (`` ` `` escape
//! by doubling), `-- line comments`, `/* block comments */` (nested, as in
//! PostgreSQL) and PostgreSQL dollar-quoted strings (`$$...$$`, `$tag$...$tag$`).
//!
//! # Backslashes in single-quoted strings
//!
//! Standard SQL (and PostgreSQL, SQLite) treat a backslash in `'...'` as an
//! ordinary character, while MySQL/MariaDB by default treat `\'` as an escaped
//! quote. The text is therefore first scanned with standard rules, except that
//! PostgreSQL `E'...'` strings always honour backslash escapes. Only if that scan
//! fails (an unterminated string, identifier or comment) and the text contains a
//! backslash, it is scanned again with backslash escapes enabled in every
//! single-quoted string; if the second scan succeeds it is used, otherwise the
//! error of the first scan is reported. Thus `'C:\dir\'` keeps working on
//! PostgreSQL/SQLite and `'it\'s'` works on MySQL. The only ambiguous case is an
//! even number of `\'` in one MySQL string that hides a `:name` (e.g.
//! `'a\' :x \'b'`), which the standard reading sees as a parameter; write such
//! quotes as `''` instead.

use std::fmt::{self, Write as _};
use std::ops::Range;

/// Placeholder style of a SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceholderStyle {
    /// PostgreSQL: `$1`, `$2`, ... numbered across all occurrences and list items.
    Dollar,
    /// SQLite and MySQL/MariaDB: `?` for every bound value.
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
/// let sql = NamedSql::parse("SELECT * FROM t WHERE age >= :min AND id IN (:ids)")?;
/// assert_eq!(sql.names(), ["min", "ids"]);
/// let (text, binds) = sql.render(PlaceholderStyle::Dollar, &["min", "ids"], |name| match name {
///     "min" => Some(None),       // a scalar value
///     "ids" => Some(Some(3)),    // a list of three values
///     _ => None,                 // no value
/// })?;
/// assert_eq!(text, "SELECT * FROM t WHERE age >= $1 AND id IN ($2, $3, $4)");
/// assert_eq!(binds[0], ("min".to_owned(), None));
/// assert_eq!(binds[3], ("ids".to_owned(), Some(2)));
/// ```
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
    /// Parses `sql`, finding its `:name` parameters.
    ///
    /// # Errors
    ///
    /// [`NamedSqlError::Syntax`] when a string literal, quoted
    /// identifier, block comment or dollar-quoted string is not terminated.
    pub fn parse(sql: &str) -> Result<NamedSql, NamedSqlError> {
        let (segments, names) = match scan(sql, false) {
            Ok(parsed) => parsed,
            // MySQL-style `\'` may have closed a string early: retry with
            // backslash escapes, keeping the standard error if that fails too.
            Err(error) if sql.contains('\\') => scan(sql, true).map_err(|_| error)?,
            Err(error) => return Err(error),
        };
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
    /// Returns the SQL text and, in placeholder order, the `(name, index within
    /// the list or None)` of each value to bind. A name used twice binds twice;
    /// with [`PlaceholderStyle::Dollar`] every occurrence gets its own number.
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
        for segment in &self.segments {
            match segment {
                Segment::Text(range) => text.push_str(&self.sql[range.clone()]),
                Segment::Param(index) => {
                    let name = &self.names[*index];
                    match arities[*index] {
                        None => {
                            binds.push((name.clone(), None));
                            push_placeholder(&mut text, style, binds.len());
                        }
                        Some(len) => {
                            for item in 0..len {
                                if item > 0 {
                                    text.push_str(", ");
                                }
                                binds.push((name.clone(), Some(item)));
                                push_placeholder(&mut text, style, binds.len());
                            }
                        }
                    }
                }
            }
        }
        Ok((text, binds))
    }
}

/// Appends the placeholder of the `number`-th (1-based) bound value.
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

/// Whether `byte` may start a parameter name.
fn is_name_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_'
}

/// Whether `byte` may continue a parameter name.
fn is_name_continue(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

type Scanned = (Vec<Segment>, Vec<String>);

/// Splits `sql` into segments. With `backslash_escapes`, `\` escapes the next
/// byte in every single- and double-quoted run (MySQL, where `"..."` is a string);
/// otherwise only in `E'...'`.
fn scan(sql: &str, backslash_escapes: bool) -> Result<Scanned, NamedSqlError> {
    let bytes = sql.as_bytes();
    let mut segments = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut text_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let next = bytes.get(i + 1).copied();
        i = match bytes[i] {
            b'\'' => {
                let backslash = backslash_escapes || is_escape_string_prefix(bytes, i);
                skip_quoted(bytes, i, b'\'', backslash, "string literal")?
            }
            b'"' => skip_quoted(bytes, i, b'"', backslash_escapes, "double-quoted identifier")?,
            b'`' => skip_quoted(bytes, i, b'`', false, "backtick-quoted identifier")?,
            b'-' if next == Some(b'-') => skip_line_comment(bytes, i),
            b'/' if next == Some(b'*') => skip_block_comment(bytes, i)?,
            b'$' => skip_dollar_quoted(sql, i)?,
            b':' if next == Some(b':') => i + 2,
            b':' if (i == 0 || !(is_ident_byte(bytes[i - 1]) || bytes[i - 1] == b':')) && next.is_some_and(is_name_start) => {
                let end = bytes[i + 1..].iter().position(|&b| !is_name_continue(b)).map_or(bytes.len(), |len| i + 1 + len);
                if text_start < i {
                    segments.push(Segment::Text(text_start..i));
                }
                let name = &sql[i + 1..end];
                let index = match names.iter().position(|known| known == name) {
                    Some(index) => index,
                    None => {
                        names.push(name.to_owned());
                        names.len() - 1
                    }
                };
                segments.push(Segment::Param(index));
                text_start = end;
                end
            }
            _ => i + 1,
        };
    }
    if text_start < bytes.len() {
        segments.push(Segment::Text(text_start..bytes.len()));
    }
    Ok((segments, names))
}

/// Whether the quote at `quote` opens a PostgreSQL escape string `E'...'`.
fn is_escape_string_prefix(bytes: &[u8], quote: usize) -> bool {
    quote >= 1 && matches!(bytes[quote - 1], b'E' | b'e') && (quote == 1 || !is_ident_byte(bytes[quote - 2]))
}

/// Skips a quoted run opened at `start` and closed by `quote` (doubled to
/// escape); returns the offset just past the closing quote.
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
    Err(NamedSqlError::Syntax(format!("unterminated {what} starting at byte {start}")))
}

/// Skips a `--` comment opened at `start`, up to and including the newline.
fn skip_line_comment(bytes: &[u8], start: usize) -> usize {
    bytes[start + 2..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |offset| start + 2 + offset + 1)
}

/// Skips a (possibly nested) `/* */` comment opened at `start`.
fn skip_block_comment(bytes: &[u8], start: usize) -> Result<usize, NamedSqlError> {
    let mut depth = 1usize;
    let mut i = start + 2;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
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
    Err(NamedSqlError::Syntax(format!("unterminated block comment starting at byte {start}")))
}

/// Skips a PostgreSQL dollar-quoted string if one opens at `start` (a `$`);
/// otherwise returns `start + 1`. `$1` and `a$b` are not dollar quotes.
fn skip_dollar_quoted(sql: &str, start: usize) -> Result<usize, NamedSqlError> {
    let bytes = sql.as_bytes();
    if start > 0 && (is_ident_byte(bytes[start - 1]) || bytes[start - 1] == b'$') {
        return Ok(start + 1);
    }
    let mut tag_end = start + 1;
    if bytes.get(tag_end).copied().is_some_and(is_name_start) {
        tag_end += 1;
        while bytes.get(tag_end).copied().is_some_and(is_name_continue) {
            tag_end += 1;
        }
    }
    if bytes.get(tag_end) != Some(&b'$') {
        return Ok(start + 1);
    }
    let delimiter = &sql[start..=tag_end];
    match sql[tag_end + 1..].find(delimiter) {
        Some(offset) => Ok(tag_end + 1 + offset + delimiter.len()),
        None => Err(NamedSqlError::Syntax(format!("unterminated dollar-quoted string {delimiter} starting at byte {start}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Rendered = (String, Vec<(String, Option<usize>)>);

    /// Renders with every used name given as a scalar, except those in `lists`.
    fn render_with(sql: &str, style: PlaceholderStyle, lists: &[(&str, usize)]) -> Result<Rendered, NamedSqlError> {
        let parsed = NamedSql::parse(sql)?;
        let names = parsed.names();
        parsed.render(style, &names, |name| Some(lists.iter().find(|(list, _)| *list == name).map(|(_, len)| *len)))
    }

    fn q(sql: &str) -> String {
        render_with(sql, PlaceholderStyle::Question, &[]).unwrap().0
    }

    fn d(sql: &str) -> String {
        render_with(sql, PlaceholderStyle::Dollar, &[]).unwrap().0
    }

    fn names(sql: &str) -> Vec<String> {
        NamedSql::parse(sql).unwrap().names().into_iter().map(str::to_owned).collect()
    }

    fn scalar(name: &str) -> (String, Option<usize>) {
        (name.to_owned(), None)
    }

    fn item(name: &str, index: usize) -> (String, Option<usize>) {
        (name.to_owned(), Some(index))
    }

    fn syntax_error(sql: &str) -> String {
        match NamedSql::parse(sql) {
            Err(NamedSqlError::Syntax(message)) => message,
            other => panic!("expected a syntax error for {sql:?}, got {other:?}"),
        }
    }

    #[test]
    fn scalar_question_style() {
        let (sql, binds) = render_with("SELECT * FROM t WHERE a = :a AND b > :b", PlaceholderStyle::Question, &[]).unwrap();
        assert_eq!(sql, "SELECT * FROM t WHERE a = ? AND b > ?");
        assert_eq!(binds, [scalar("a"), scalar("b")]);
    }

    #[test]
    fn scalar_dollar_style() {
        let (sql, binds) = render_with("SELECT * FROM t WHERE a = :a AND b > :b", PlaceholderStyle::Dollar, &[]).unwrap();
        assert_eq!(sql, "SELECT * FROM t WHERE a = $1 AND b > $2");
        assert_eq!(binds, [scalar("a"), scalar("b")]);
    }

    #[test]
    fn names_are_deduplicated_in_order_of_first_appearance() {
        assert_eq!(names("SELECT :b, :a, :b, :c, :a"), ["b", "a", "c"].map(String::from));
        assert!(names("SELECT 1").is_empty());
    }

    #[test]
    fn repeated_name_binds_every_occurrence() {
        let sql = "SELECT :x, :y, :x";
        let (text, binds) = render_with(sql, PlaceholderStyle::Question, &[]).unwrap();
        assert_eq!(text, "SELECT ?, ?, ?");
        assert_eq!(binds, [scalar("x"), scalar("y"), scalar("x")]);
        let (text, binds) = render_with(sql, PlaceholderStyle::Dollar, &[]).unwrap();
        assert_eq!(text, "SELECT $1, $2, $3");
        assert_eq!(binds, [scalar("x"), scalar("y"), scalar("x")]);
    }

    #[test]
    fn list_expansion_question_style() {
        let (sql, binds) = render_with("SELECT * FROM t WHERE id IN (:ids)", PlaceholderStyle::Question, &[("ids", 3)]).unwrap();
        assert_eq!(sql, "SELECT * FROM t WHERE id IN (?, ?, ?)");
        assert_eq!(binds, [item("ids", 0), item("ids", 1), item("ids", 2)]);
    }

    #[test]
    fn list_expansion_dollar_numbers_across_scalars_and_items() {
        let (sql, binds) = render_with(
            "SELECT * FROM t WHERE a = :a AND id IN (:ids) AND b = :b AND c IN (:ids)",
            PlaceholderStyle::Dollar,
            &[("ids", 2)],
        )
        .unwrap();
        assert_eq!(sql, "SELECT * FROM t WHERE a = $1 AND id IN ($2, $3) AND b = $4 AND c IN ($5, $6)");
        assert_eq!(binds, [scalar("a"), item("ids", 0), item("ids", 1), scalar("b"), item("ids", 0), item("ids", 1),]);
    }

    #[test]
    fn single_item_list_renders_one_placeholder() {
        let (sql, binds) = render_with("x IN (:ids)", PlaceholderStyle::Dollar, &[("ids", 1)]).unwrap();
        assert_eq!(sql, "x IN ($1)");
        assert_eq!(binds, [item("ids", 0)]);
    }

    #[test]
    fn postgres_cast_after_parameter() {
        assert_eq!(names("SELECT :id::text"), ["id"]);
        assert_eq!(d("SELECT :id::text"), "SELECT $1::text");
        assert_eq!(q("WHERE a = :a::int + 1"), "WHERE a = ?::int + 1");
    }

    #[test]
    fn postgres_cast_without_parameter() {
        assert!(names("SELECT x::int, '1'::int, (y)::text").is_empty());
        assert!(names("SELECT x :: int").is_empty());
        assert!(names("SELECT x:::y").is_empty());
        assert_eq!(d("SELECT x::int"), "SELECT x::int");
    }

    #[test]
    fn no_parameters_in_single_quoted_strings() {
        assert_eq!(names("SELECT ':a', :b"), ["b"]);
        assert_eq!(names("SELECT 'it''s :a', :b, ''"), ["b"]);
        assert_eq!(q("SELECT 'it''s :a', :b"), "SELECT 'it''s :a', ?");
    }

    #[test]
    fn no_parameters_in_double_quoted_identifiers() {
        assert_eq!(names(r#"SELECT "col:a", "x"":b", :c FROM "t""#), ["c"]);
        assert_eq!(d(r#"SELECT "a"":x" FROM t WHERE y = :y"#), r#"SELECT "a"":x" FROM t WHERE y = $1"#);
    }

    #[test]
    fn no_parameters_in_backtick_identifiers() {
        assert_eq!(names("SELECT `col:a`, `x``:b`, :c FROM `t`"), ["c"]);
        assert_eq!(q("SELECT `a:b` WHERE c = :c"), "SELECT `a:b` WHERE c = ?");
    }

    #[test]
    fn no_parameters_in_line_comments() {
        let sql = "SELECT :a -- ignore :b\nFROM t WHERE c = :c -- :d";
        assert_eq!(names(sql), ["a", "c"]);
        assert_eq!(d(sql), "SELECT $1 -- ignore :b\nFROM t WHERE c = $2 -- :d");
        // A single dash is subtraction, not a comment.
        assert_eq!(names("SELECT 1 - :a"), ["a"]);
        assert_eq!(names("SELECT 1 --"), Vec::<String>::new());
    }

    #[test]
    fn no_parameters_in_block_comments() {
        let sql = "SELECT /* :a */ :b /* x\n:c */";
        assert_eq!(names(sql), ["b"]);
        assert_eq!(q(sql), "SELECT /* :a */ ? /* x\n:c */");
        assert_eq!(names("SELECT 4 / :a * 2"), ["a"]);
    }

    #[test]
    fn nested_block_comments() {
        let sql = "SELECT /* outer /* inner :a */ still comment :b */ :c";
        assert_eq!(names(sql), ["c"]);
        assert_eq!(d(sql), "SELECT /* outer /* inner :a */ still comment :b */ $1");
    }

    #[test]
    fn no_parameters_in_dollar_quoted_strings() {
        assert_eq!(names("SELECT $$ :a 'x $$, :b"), ["b"]);
        let sql = "DO $body$ BEGIN PERFORM :a; SELECT $$ :b $$; END $body$; SELECT :c";
        assert_eq!(names(sql), ["c"]);
        assert_eq!(d(sql), "DO $body$ BEGIN PERFORM :a; SELECT $$ :b $$; END $body$; SELECT $1");
    }

    #[test]
    fn dollar_signs_that_are_not_dollar_quotes() {
        // Positional parameters and `$` inside identifiers do not open quotes.
        assert_eq!(names("SELECT $1, :a, $2"), ["a"]);
        assert_eq!(names("SELECT a$b$, :c, d$e$"), ["c"]);
        assert_eq!(names("SELECT '$' || :a"), ["a"]);
        assert_eq!(names("SELECT 5$ :a"), ["a"]);
    }

    #[test]
    fn mysql_assignment_and_lone_colons_are_left_alone() {
        let sql = "SET @x := :v; SELECT @y:=1, ':', a : b, :1, : x";
        assert_eq!(names(sql), ["v"]);
        assert_eq!(q(sql), "SET @x := ?; SELECT @y:=1, ':', a : b, :1, : x");
        assert_eq!(q("SELECT :"), "SELECT :");
    }

    #[test]
    fn colon_after_identifier_char_is_not_a_parameter() {
        assert!(names("SELECT arr[1:2], arr[lo:hi], a:b, x1:y").is_empty());
        assert_eq!(names("SELECT arr[:lo:hi]"), ["lo"]);
        assert_eq!(names("(:a),:b,=:c [:d] :e"), ["a", "b", "c", "d", "e"]);
        assert_eq!(names(":start"), ["start"]);
        assert_eq!(q("arr[1:2] a:b (:c)"), "arr[1:2] a:b (?)");
        // Non-ASCII identifier characters count as identifier characters.
        assert!(names("SELECT niño:x").is_empty());
    }

    #[test]
    fn parameter_names_follow_identifier_rules() {
        assert_eq!(names("SELECT :_a1, :B_2c, :x-1, :y.z"), ["_a1", "B_2c", "x", "y"]);
        assert_eq!(q("SELECT :x-1, :y.z"), "SELECT ?-1, ?.z");
        assert_eq!(names("SELECT :é"), Vec::<String>::new());
    }

    #[test]
    fn every_other_byte_is_kept() {
        let sql = "SELECT  'á :x ''y''' AS \"é\"\t-- :c ñ\n/* :d /* ☃ */ */ `b`, $t$ :e $t$ FROM t;\r\n";
        assert_eq!(names(sql), Vec::<String>::new());
        assert_eq!(q(sql), sql);
        assert_eq!(d(sql), sql);
        let with_param = format!("{sql}(:p){sql}");
        assert_eq!(q(&with_param), format!("{sql}(?){sql}"));
    }

    #[test]
    fn unterminated_quotes_are_syntax_errors_with_offsets() {
        assert_eq!(syntax_error("SELECT 'abc"), "unterminated string literal starting at byte 7");
        assert_eq!(syntax_error("SELECT 'a''"), "unterminated string literal starting at byte 7");
        assert_eq!(syntax_error("SELECT \"abc"), "unterminated double-quoted identifier starting at byte 7");
        assert_eq!(syntax_error("SELECT `abc"), "unterminated backtick-quoted identifier starting at byte 7");
    }

    #[test]
    fn unterminated_comments_and_dollar_quotes_are_syntax_errors() {
        assert_eq!(syntax_error("SELECT 1 /* :a"), "unterminated block comment starting at byte 9");
        assert_eq!(syntax_error("SELECT /* a /* b */ c"), "unterminated block comment starting at byte 7");
        assert_eq!(syntax_error("SELECT 1 /*/"), "unterminated block comment starting at byte 9");
        assert_eq!(syntax_error("SELECT $tag$ abc $$"), "unterminated dollar-quoted string $tag$ starting at byte 7");
    }

    #[test]
    fn backslash_is_ordinary_by_default() {
        // PostgreSQL / SQLite: the string ends at the second quote.
        let sql = r"SELECT * FROM f WHERE path = 'C:\dir\' AND id = :id";
        assert_eq!(names(sql), ["id"]);
        assert_eq!(q(sql), r"SELECT * FROM f WHERE path = 'C:\dir\' AND id = ?");
    }

    #[test]
    fn mysql_backslash_quote_falls_back_when_standard_scan_fails() {
        let sql = r"SELECT 'it\'s :x' AS s, :y";
        assert_eq!(names(sql), ["y"]);
        assert_eq!(q(sql), r"SELECT 'it\'s :x' AS s, ?");
        let sql = r"SELECT 'a\'b' = :x OR c = 'd'";
        assert_eq!(names(sql), ["x"]);
        assert_eq!(q(sql), r"SELECT 'a\'b' = ? OR c = 'd'");
        // Escaped backslash right before the closing quote.
        assert_eq!(names(r"SELECT 'a\\', '\'' , :z"), ["z"]);
    }

    #[test]
    fn fallback_keeps_the_standard_error_when_both_scans_fail() {
        assert_eq!(syntax_error(r"SELECT 'a\' /* "), "unterminated block comment starting at byte 12");
    }

    #[test]
    fn postgres_escape_strings_honour_backslashes() {
        let sql = r"SELECT E'it\'s :x', e'\\', :y, '\', :z";
        assert_eq!(names(sql), ["y", "z"]);
        assert_eq!(d(sql), r"SELECT E'it\'s :x', e'\\', $1, '\', $2");
        // An identifier ending in `e` is not an escape-string prefix.
        assert_eq!(names(r"SELECT some'\', :a"), ["a"]);
    }

    #[test]
    fn missing_parameter() {
        let parsed = NamedSql::parse("SELECT :a, :min").unwrap();
        let err = parsed.render(PlaceholderStyle::Question, &["a"], |name| (name == "a").then_some(None)).unwrap_err();
        assert_eq!(err, NamedSqlError::Missing("min".into()));
        assert_eq!(err.to_string(), "parameter :min is used in the SQL but was not given");
    }

    #[test]
    fn missing_is_reported_before_unused_and_empty() {
        let parsed = NamedSql::parse("SELECT :a WHERE x IN (:ids)").unwrap();
        let err = parsed.render(PlaceholderStyle::Dollar, &["ids", "extra"], |name| (name == "ids").then_some(Some(0))).unwrap_err();
        assert_eq!(err, NamedSqlError::Missing("a".into()));
    }

    #[test]
    fn unused_parameter() {
        let parsed = NamedSql::parse("SELECT :a").unwrap();
        let err = parsed.render(PlaceholderStyle::Question, &["a", "b"], |_| Some(None)).unwrap_err();
        assert_eq!(err, NamedSqlError::Unused("b".into()));
        assert_eq!(err.to_string(), "parameter :b was given but the SQL does not use it");
        // Names inside comments and strings are not uses.
        let parsed = NamedSql::parse("SELECT ':b' -- :b").unwrap();
        let err = parsed.render(PlaceholderStyle::Question, &["b"], |_| Some(None)).unwrap_err();
        assert_eq!(err, NamedSqlError::Unused("b".into()));
    }

    #[test]
    fn unused_is_reported_before_empty_list() {
        let parsed = NamedSql::parse("x IN (:ids)").unwrap();
        let err = parsed.render(PlaceholderStyle::Question, &["ids", "zzz"], |_| Some(Some(0))).unwrap_err();
        assert_eq!(err, NamedSqlError::Unused("zzz".into()));
    }

    #[test]
    fn empty_list() {
        let err = render_with("x IN (:ids)", PlaceholderStyle::Question, &[("ids", 0)]).unwrap_err();
        assert_eq!(err, NamedSqlError::EmptyList("ids".into()));
        assert!(err.to_string().contains(":ids"));
        assert!(err.to_string().contains("empty list"));
    }

    #[test]
    fn no_parameters_and_no_values() {
        let parsed = NamedSql::parse("SELECT 1").unwrap();
        let (sql, binds) = parsed.render(PlaceholderStyle::Dollar, &[], |_| None).unwrap();
        assert_eq!(sql, "SELECT 1");
        assert!(binds.is_empty());
        let (sql, binds) = NamedSql::parse("").unwrap().render(PlaceholderStyle::Question, &[], |_| None).unwrap();
        assert!(sql.is_empty() && binds.is_empty());
    }

    #[test]
    fn parse_once_render_many_times() {
        let parsed = NamedSql::parse("SELECT * FROM t WHERE id IN (:ids) AND k = :k").unwrap();
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
    fn dollar_numbers_go_past_nine() {
        let (sql, binds) = render_with("x IN (:ids)", PlaceholderStyle::Dollar, &[("ids", 11)]).unwrap();
        assert!(sql.ends_with("$9, $10, $11)"));
        assert_eq!(binds[10], item("ids", 10));
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
