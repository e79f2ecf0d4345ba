//! `ilike` / `icontains` ignore case the same way on every dialect: Unicode letters lowered
//! (SQLite's own LIKE folds ASCII only), accents kept, `%`, `_`, `\` literal in `icontains`,
//! NULL matching nothing; and `_` is one character, not one byte, in `like` too.

mod common;

use almacen::prelude::*;
use common::Backend;

#[derive(Model, Debug, Clone)]
#[model(table = "words")]
struct Word {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40)]
    text: String,
    #[model(max_len = 40)]
    note: Option<String>,
}

const TEXTS: [&str; 10] = ["Élan straße", "elan", "ΣΟΦΙΑ", "Дом", "ẞIG", "100% pure", "a_b", r"c\d", "x*Y?[z]", "1000 pure"];

async fn folds_unicode_case_not_accents(db: Database, backend: Backend) {
    db.create_tables(&[Word::TABLE]).await.unwrap();
    let rows = TEXTS.iter().enumerate().map(|(i, t)| NewWord { text: t.to_string(), note: (i % 2 == 0).then(|| t.to_uppercase()) });
    Word::insert_many(&db, rows.collect()).await.unwrap();
    check(&db, backend).await;
    if backend == Backend::MariaDb {
        // A table almacen did not make, in an accent- and case-insensitive collation: the
        // answers stay the same (the comparison is made in the binary collation).
        db.execute_raw("ALTER TABLE words CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci", params! {}).await.unwrap();
        check(&db, backend).await;
    }
}

async fn check(db: &Database, backend: Backend) {
    let find = async |c: Condition| -> Vec<String> {
        let rows = Word::select().filter(c).order_by(Word::ID.asc()).fetch_all(db).await.unwrap();
        rows.into_iter().map(|r| r.text).collect()
    };
    let on = format!("on {backend:?}");
    // Non-ASCII letters fold; accents do not (é ≠ e, É ≠ E).
    assert_eq!(find(Word::TEXT.icontains("élan")).await, ["Élan straße"], "{on}");
    assert_eq!(find(Word::TEXT.icontains("ÉLAN")).await, ["Élan straße"], "{on}");
    assert_eq!(find(Word::TEXT.icontains("ELAN")).await, ["elan"], "accents are not folded {on}");
    assert!(find(Word::TEXT.contains("élan")).await.is_empty(), "contains keeps case {on}");
    assert_eq!(find(Word::TEXT.contains("Élan")).await, ["Élan straße"], "{on}");
    // ß is lowercase already; ẞ lowers to it; ß is not "ss" (lowercasing, not case folding).
    assert_eq!(find(Word::TEXT.icontains("STRAẞE")).await, ["Élan straße"], "{on}");
    assert_eq!(find(Word::TEXT.icontains("ßig")).await, ["ẞIG"], "{on}");
    assert!(find(Word::TEXT.icontains("strasse")).await.is_empty(), "{on}");
    // Greek and Cyrillic.
    assert_eq!(find(Word::TEXT.icontains("σοφ")).await, ["ΣΟΦΙΑ"], "{on}");
    assert_eq!(find(Word::TEXT.icontains("ιασ")).await, [] as [&str; 0], "{on}");
    assert_eq!(find(Word::TEXT.icontains("φια")).await, ["ΣΟΦΙΑ"], "{on}");
    assert_eq!(find(Word::TEXT.icontains("дОМ")).await, ["Дом"], "{on}");
    // Wildcards and the escape character are literal; GLOB's specials too.
    assert_eq!(find(Word::TEXT.icontains("0% PURE")).await, ["100% pure"], "{on}");
    assert_eq!(find(Word::TEXT.icontains("A_B")).await, ["a_b"], "{on}");
    assert_eq!(find(Word::TEXT.icontains(r"C\D")).await, [r"c\d"], "{on}");
    assert_eq!(find(Word::TEXT.icontains("*y?[Z")).await, ["x*Y?[z]"], "{on}");
    assert_eq!(find(Word::TEXT.contains("*y?[")).await, [] as [&str; 0], "{on}");
    // Patterns: `_` is one character (É is two bytes), prefix and suffix forms.
    assert_eq!(find(Word::TEXT.like("_lan%")).await, ["Élan straße", "elan"], "{on}");
    assert_eq!(find(Word::TEXT.ilike("_LAN STRASSE")).await, [] as [&str; 0], "{on}");
    assert_eq!(find(Word::TEXT.ilike("_LAN STRAßE")).await, ["Élan straße"], "{on}");
    assert_eq!(find(Word::TEXT.ilike("élan%")).await, ["Élan straße"], "{on}");
    assert_eq!(find(Word::TEXT.ilike("%ΦΙΑ")).await, ["ΣΟΦΙΑ"], "{on}");
    assert_eq!(find(Word::TEXT.ilike("%φι_")).await, ["ΣΟΦΙΑ"], "{on}");
    assert_eq!(find(Word::TEXT.ilike("10_0%")).await, ["1000 pure"], "{on}");
    assert_eq!(find(Word::TEXT.starts_with("Éla")).await, ["Élan straße"], "{on}");
    assert_eq!(find(Word::TEXT.ends_with("ße")).await, ["Élan straße"], "{on}");
    // NULL matches neither the condition nor its negation.
    assert_eq!(find(Word::NOTE.icontains("élan")).await, ["Élan straße"], "the note is ÉLAN STRASSE {on}");
    assert_eq!(find(Word::NOTE.icontains("")).await.len(), 5, "the five non-NULL notes {on}");
    assert_eq!(find(Word::NOTE.icontains("").not()).await.len(), 0, "NULL is not NOT LIKE either {on}");
    assert_eq!(find(Word::NOTE.icontains("élan").not()).await.len(), 4, "{on}");
    assert_eq!(find(Word::TEXT.icontains("").not()).await.len(), 0, "{on}");
}

per_backend!(folds_unicode_case_not_accents);
