//! What a statement's text says about it before it runs: whether it can only read.

/// Whether `sql` can only read, judged from its words: it starts (after spaces, comments
/// and opening parentheses) with `SELECT`, `SHOW`, `VALUES`, `TABLE`, `DESCRIBE`/`DESC` or
/// `EXPLAIN` without `ANALYZE`, or it is a `WITH` query without `INSERT`, `UPDATE`,
/// `DELETE` or `MERGE`; a `SELECT … INTO` writes. Anything else may write. A function
/// called by a `SELECT` is taken to read.
///
/// Used when a connection is lost mid-statement: a read can be retried, a write's outcome
/// is unknown.
pub(crate) fn reads_only(sql: &str) -> bool {
    let mut words = words(sql);
    let Some(first) = words.next() else { return false };
    let is = |w: &str, k: &str| w.eq_ignore_ascii_case(k);
    match first {
        w if is(w, "SELECT") => !words.any(|w| is(w, "INTO")),
        w if is(w, "SHOW") || is(w, "VALUES") || is(w, "TABLE") || is(w, "DESCRIBE") || is(w, "DESC") => true,
        w if is(w, "EXPLAIN") => !words.any(|w| is(w, "ANALYZE") || is(w, "ANALYSE")),
        w if is(w, "WITH") => !words.any(|w| is(w, "INSERT") || is(w, "UPDATE") || is(w, "DELETE") || is(w, "MERGE") || is(w, "INTO")),
        _ => false,
    }
}

/// The words of `sql` (runs of letters, digits and `_`), skipping `--` and `/* */` comments.
fn words(sql: &str) -> impl Iterator<Item = &str> {
    let bytes = sql.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        loop {
            match bytes.get(i..) {
                Some([b'-', b'-', ..]) => i += sql[i..].find('\n').unwrap_or(sql.len() - i),
                Some([b'/', b'*', ..]) => i += sql[i..].find("*/").map_or(sql.len() - i, |end| end + 2),
                Some([b, ..]) if b.is_ascii_alphanumeric() || *b == b'_' => {
                    let start = i;
                    while bytes.get(i).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_') {
                        i += 1;
                    }
                    return Some(&sql[start..i]);
                }
                Some([_, ..]) => i += 1,
                _ => return None,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::reads_only;

    #[test]
    fn reads_and_writes_are_told_apart() {
        for sql in [
            "SELECT 1",
            "  select * from t where x = $1",
            "-- note\n/* c */ (SELECT 1) UNION (SELECT 2)",
            "SHOW server_version",
            "VALUES (1), (2)",
            "EXPLAIN SELECT 1",
            "WITH a AS (SELECT 1) SELECT * FROM a",
            "SELECT * FROM t FOR UPDATE",
        ] {
            assert!(reads_only(sql), "{sql}");
        }
        for sql in [
            "INSERT INTO t VALUES (1)",
            "update t set x = 1",
            "DELETE FROM t",
            "SELECT * INTO copy FROM t",
            "EXPLAIN ANALYZE DELETE FROM t",
            "WITH gone AS (DELETE FROM t RETURNING *) SELECT count(*) FROM gone",
            "CREATE TABLE t (x INT)",
            "CALL p()",
            "",
            "-- only a comment",
            "/* unterminated",
        ] {
            assert!(!reads_only(sql), "{sql}");
        }
    }
}
