//! Columns almacen maintains itself — created/updated timestamps, optimistic-locking
//! versions, soft delete — the same on SQLite, PostgreSQL and MariaDB.

mod common;

use almacen::prelude::*;
use common::Backend;

/// A document with every managed column.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "documents")]
struct Document {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 60, unique)]
    title: String,
    words: i32,
    #[model(created_at)]
    created_at: DateTime<Utc>,
    #[model(updated_at)]
    updated_at: DateTime<Utc>,
    #[model(version)]
    version: i32,
    #[model(soft_delete)]
    deleted_at: Option<DateTime<Utc>>,
}

/// Comments on documents, soft-deletable too (for joins).
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "doc_comments")]
struct Comment {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = "documents.id", on_delete = "cascade")]
    document_id: i64,
    #[model(max_len = 100)]
    body: String,
    #[model(soft_delete)]
    deleted_at: Option<DateTime<Utc>>,
}

fn new_doc(title: &str, words: i32) -> NewDocument {
    // The insert input has no managed fields: almacen fills them in.
    NewDocument { title: title.into(), words }
}

async fn tables(db: &Database) {
    db.create_tables(&[Document::TABLE, Comment::TABLE]).await.unwrap();
}

async fn timestamps_and_versions(db: Database, _b: Backend) {
    tables(&db).await;
    let before = Utc::now() - chrono::Duration::seconds(1);
    let mut doc = Document::insert(&db, new_doc("Plan", 10)).await.unwrap();
    let after = Utc::now() + chrono::Duration::seconds(1);
    assert!(doc.created_at > before && doc.created_at < after, "created_at is now: {doc:?}");
    assert_eq!(doc.created_at, doc.updated_at);
    assert_eq!((doc.version, doc.deleted_at), (1, None));
    assert_eq!(Document::get(&db, doc.id).await.unwrap().unwrap(), doc, "returned as stored");

    // An update writes updated_at and the next version, in the database and in the struct.
    let created = doc.created_at;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    doc.words = 20;
    doc.update(&db).await.unwrap();
    assert_eq!(doc.version, 2);
    assert!(doc.updated_at > created);
    assert_eq!(doc.created_at, created, "created_at is left alone");
    assert_eq!(Document::get(&db, doc.id).await.unwrap().unwrap(), doc, "the struct matches the row");

    // Someone else read version 2 and writes first; our stale copy then conflicts.
    let mut theirs = Document::get(&db, doc.id).await.unwrap().unwrap();
    theirs.words = 30;
    theirs.update(&db).await.unwrap();
    assert_eq!(theirs.version, 3);
    doc.words = 99;
    let err = doc.update(&db).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "a stale update is a conflict: {err:?}");
    let stored = Document::get(&db, doc.id).await.unwrap().unwrap();
    assert_eq!((stored.words, stored.version), (30, 3), "the stale update changed nothing");

    // Patch and update_where also bump the version and updated_at.
    let patched = Document::patch(doc.id).add(Document::WORDS, 1).execute(&db).await.unwrap().unwrap();
    assert_eq!((patched.words, patched.version), (31, 4));
    assert!(patched.updated_at >= stored.updated_at);
    let n = Document::update_where(Document::ID.eq(doc.id)).set(Document::WORDS, 40).execute(&db).await.unwrap();
    assert_eq!(n, 1);
    let stored = Document::get(&db, doc.id).await.unwrap().unwrap();
    assert_eq!((stored.words, stored.version), (40, 5));

    // Insert many: every row starts at version 1 with both timestamps set.
    let many = Document::insert_many(&db, (0..5).map(|i| new_doc(&format!("doc {i}"), i)).collect()).await.unwrap();
    assert!(many.iter().all(|d| d.version == 1 && d.created_at == d.updated_at && d.deleted_at.is_none()), "{many:?}");

    // Updating a row that is gone is NotFound, not a conflict.
    let mut gone = many[0].clone();
    assert!(Document::hard_delete(&db, gone.id).await.unwrap());
    assert!(matches!(gone.update(&db).await.unwrap_err(), Error::NotFound));
}

async fn soft_delete(db: Database, _b: Backend) {
    tables(&db).await;
    let docs = Document::insert_many(&db, (0..4).map(|i| new_doc(&format!("d{i}"), i)).collect()).await.unwrap();
    let (a, b) = (&docs[0], &docs[1]);
    for d in &docs {
        Comment::insert(&db, NewComment { document_id: d.id, body: format!("on {}", d.title) }).await.unwrap();
    }

    // Deleting marks the row; every query skips it by default.
    assert!(a.delete(&db).await.unwrap());
    assert!(!a.delete(&db).await.unwrap(), "deleting a deleted row again deletes nothing");
    assert_eq!(Document::get(&db, a.id).await.unwrap(), None);
    assert_eq!(Document::select().count(&db).await.unwrap(), 3);
    assert!(!Document::select().filter(Document::ID.eq(a.id)).exists(&db).await.unwrap());
    let titles: Vec<String> =
        Document::select().order_by(Document::ID.asc()).fetch_all(&db).await.unwrap().into_iter().map(|d| d.title).collect();
    assert_eq!(titles, ["d1", "d2", "d3"]);
    let page = Document::select().paginate(&db, 1, 10).await.unwrap();
    assert_eq!((page.total, page.items.len()), (3, 3));
    let per_words: Vec<(i32,)> = Document::select().columns([Document::WORDS.into()]).fetch_all(&db).await.unwrap();
    assert_eq!(per_words.len(), 3, "column selects skip deleted rows too");

    // ... but the row is still there, marked.
    let marked = Document::select().only_deleted().fetch_all(&db).await.unwrap();
    assert_eq!(marked.len(), 1);
    assert_eq!(marked[0].id, a.id);
    assert!(marked[0].deleted_at.is_some());
    assert_eq!(Document::select().with_deleted().count(&db).await.unwrap(), 4);

    // A deleted row cannot be updated or patched.
    let mut stale = a.clone();
    stale.words = 100;
    assert!(matches!(stale.update(&db).await.unwrap_err(), Error::NotFound));
    assert_eq!(Document::patch(a.id).set(Document::WORDS, 5).execute(&db).await.unwrap(), None);
    assert_eq!(Document::update_where(Document::ID.eq(a.id)).set(Document::WORDS, 5).execute(&db).await.unwrap(), 0);

    // Joins leave deleted rows of the joined model out.
    assert!(Comment::select().filter(Comment::DOCUMENT_ID.eq(b.id)).fetch_one(&db).await.unwrap().delete(&db).await.unwrap());
    let joined = Document::select()
        .with_deleted()
        .inner_join::<Comment>(Comment::DOCUMENT_ID.eq_col(Document::ID))
        .order_by(Document::ID.asc())
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(joined.iter().map(|d| d.id).collect::<Vec<_>>(), [a.id, docs[2].id, docs[3].id]);

    // delete_where marks the live matching rows; hard() removes rows for good.
    let n = Document::delete_where(Document::WORDS.ge(2)).execute(&db).await.unwrap();
    assert_eq!(n, 2);
    assert_eq!(Document::select().count(&db).await.unwrap(), 1);

    // Restore brings a row back, once.
    assert!(Document::restore(&db, a.id).await.unwrap());
    assert!(!Document::restore(&db, a.id).await.unwrap(), "restoring a live row restores nothing");
    let back = Document::get(&db, a.id).await.unwrap().unwrap();
    assert_eq!((back.deleted_at, back.words), (None, 0));
    assert_eq!(Document::select().count(&db).await.unwrap(), 2);

    // The unique title of a soft-deleted row is still taken (the row exists).
    let err = Document::insert(&db, new_doc("d2", 1)).await.unwrap_err();
    assert!(matches!(err, Error::UniqueViolation(_)), "{err:?}");

    // Hard delete removes deleted and live rows alike; the comments cascade in the database.
    assert!(Document::hard_delete(&db, docs[2].id).await.unwrap());
    assert_eq!(Document::delete_where(Document::ID.gt(0)).hard().execute(&db).await.unwrap(), 3);
    assert_eq!(Document::select().with_deleted().count(&db).await.unwrap(), 0);
    assert_eq!(Comment::select().with_deleted().count(&db).await.unwrap(), 0);

    // Models without soft delete cannot be restored, and say so.
    #[derive(Model, Debug, Clone)]
    #[model(table = "plain_rows")]
    struct Plain {
        #[model(primary_key, auto)]
        id: i64,
    }
    let err = Plain::restore(&db, 1).await.unwrap_err();
    assert!(matches!(&err, Error::Unsupported(m) if m.contains("plain_rows")), "{err:?}");
}

async fn soft_delete_inside_transaction(db: Database, _b: Backend) {
    tables(&db).await;
    let doc = Document::insert(&db, new_doc("tx", 1)).await.unwrap();
    let result: almacen::Result<()> = db
        .transaction(async |tx| {
            assert!(Document::delete_by_key(tx, doc.id).await?);
            assert_eq!(Document::get(tx, doc.id).await?, None);
            Err(Error::other(std::io::Error::other("roll back")))
        })
        .await;
    assert!(result.is_err());
    assert_eq!(Document::get(&db, doc.id).await.unwrap().map(|d| d.id), Some(doc.id), "the rollback undid the soft delete");
}

/// Upsert, patches of managed columns, and models without soft delete.
async fn managed_edges(db: Database, _b: Backend) {
    tables(&db).await;
    let doc = Document::insert(&db, new_doc("u", 1)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    // An upsert of an existing row: created_at kept, updated_at now, the next version, so a
    // copy read before it is stale.
    let stale = doc.clone();
    let mut changed = doc.clone();
    changed.words = 7;
    changed.created_at = Utc::now() + chrono::Duration::days(365);
    changed.version = 42;
    let stored = changed.upsert(&db).await.unwrap();
    assert_eq!((stored.words, stored.version, stored.created_at), (7, 2, doc.created_at));
    assert!(stored.updated_at > doc.updated_at);
    let mut stale = stale;
    assert!(matches!(stale.update(&db).await.unwrap_err(), Error::Conflict(_)));

    // An upsert of a soft-deleted row makes it live again, as given.
    assert!(stored.delete(&db).await.unwrap());
    let back = stored.upsert(&db).await.unwrap();
    assert_eq!((back.deleted_at, back.version), (None, 3));
    assert_eq!(Document::get(&db, doc.id).await.unwrap(), Some(back.clone()));

    // A new row through upsert starts like an insert.
    let mut fresh = back.clone();
    fresh.id = back.id + 1000;
    fresh.title = "fresh".into();
    fresh.version = 9;
    fresh.deleted_at = Some(Utc::now());
    let fresh = fresh.upsert(&db).await.unwrap();
    assert_eq!((fresh.version, fresh.deleted_at.is_none()), (1, true));

    // Managed columns cannot be set by hand.
    let err = Document::patch(doc.id).set(Document::VERSION, 5).execute(&db).await.unwrap_err();
    assert!(matches!(&err, Error::Unsupported(m) if m.contains("version")), "{err:?}");
    let err = Document::update_where(Document::ID.gt(0)).set(Document::UPDATED_AT, Utc::now()).execute(&db).await.unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    assert_eq!(Document::get(&db, doc.id).await.unwrap().unwrap().version, 3, "nothing was sent");

    // A model without soft delete has no deleted rows.
    Comment::insert(&db, NewComment { document_id: doc.id, body: "c".into() }).await.unwrap();
    #[derive(Model, Debug, Clone)]
    #[model(table = "plain_notes")]
    struct Note {
        #[model(primary_key, auto)]
        id: i64,
        n: i32,
    }
    db.create_tables(&[Note::TABLE]).await.unwrap();
    Note::insert_many(&db, (0..3).map(|n| NewNote { n }).collect()).await.unwrap();
    assert_eq!(Note::select().only_deleted().count(&db).await.unwrap(), 0);
    assert_eq!(Note::select().with_deleted().count(&db).await.unwrap(), 3);

    // An aggregate is wider than its column: SUM of an INT compared with a BIGINT value.
    let big: Vec<(i32, i64)> = Note::select()
        .columns([Note::N.into(), count_all().into()])
        .group_by(Note::N)
        .having(almacen::query::sum(Note::N).lt(3_000_000_000i64))
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(big.len(), 3);
}

per_backend!(timestamps_and_versions, soft_delete, soft_delete_inside_transaction, managed_edges);
