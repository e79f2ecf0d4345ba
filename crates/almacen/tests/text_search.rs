//! `contains`, `icontains`, `starts_with`, `ends_with`: user input matched literally on
//! every dialect (`%`, `_`, `\` and GLOB's `*?[` match themselves).

mod common;

use almacen::prelude::*;
use common::Backend;

#[derive(Model, Debug, Clone)]
#[model(table = "labels")]
struct Label {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40)]
    text: String,
}

const TEXTS: [&str; 9] = ["50% off", "500 off", "a_b", "axb", r"back\slash", r"backslash", "Case", "[x]*?", "case"];

async fn texts_match_literally(db: Database, _b: Backend) {
    db.create_tables(&[Label::TABLE]).await.unwrap();
    Label::insert_many(&db, TEXTS.iter().map(|t| NewLabel { text: t.to_string() }).collect()).await.unwrap();
    let find = async |c: Condition| -> Vec<String> {
        let rows = Label::select().filter(c).order_by(Label::ID.asc()).fetch_all(&db).await.unwrap();
        rows.into_iter().map(|r| r.text).collect()
    };
    assert_eq!(find(Label::TEXT.contains("0%")).await, ["50% off"]);
    assert_eq!(find(Label::TEXT.contains("_")).await, ["a_b"]);
    assert_eq!(find(Label::TEXT.contains(r"\")).await, [r"back\slash"]);
    assert_eq!(find(Label::TEXT.contains("*?")).await, ["[x]*?"]);
    assert_eq!(find(Label::TEXT.starts_with("[x]")).await, ["[x]*?"]);
    assert_eq!(find(Label::TEXT.starts_with("50")).await, ["50% off", "500 off"]);
    assert_eq!(find(Label::TEXT.ends_with("_b")).await, ["a_b"]);
    assert_eq!(find(Label::TEXT.contains("ase")).await, ["Case", "case"]);
    assert_eq!(find(Label::TEXT.contains("Ca")).await, ["Case"], "case-sensitive");
    assert_eq!(find(Label::TEXT.icontains("CASE")).await, ["Case", "case"]);
    assert_eq!(find(Label::TEXT.icontains("% OFF")).await, ["50% off"]);
    assert_eq!(find(Label::TEXT.contains("")).await.len(), TEXTS.len());
}

per_backend!(texts_match_literally);
