//! Relationships and eager loading — belongs-to, has-many, has-one, many-to-many with and
//! without a link model, nested and filtered loads, cascades — with the exact number of
//! statements each load takes, on SQLite, PostgreSQL and MariaDB.

mod common;

use almacen::prelude::*;
use almacen::{BelongsTo, HasMany, HasOne, ManyToMany};
use common::Backend;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "rel_users")]
struct User {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40)]
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "rel_profiles")]
struct Profile {
    #[model(primary_key, auto)]
    id: i64,
    #[model(unique, references = "rel_users.id", on_delete = "cascade")]
    user_id: i64,
    #[model(max_len = 100)]
    bio: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "rel_posts")]
struct Post {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = "rel_users.id", on_delete = "cascade", index)]
    user_id: i64,
    #[model(references = "rel_users.id", on_delete = "set_null")]
    editor_id: Option<i64>,
    #[model(max_len = 80)]
    title: String,
    published: bool,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "rel_comments")]
struct Comment {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = "rel_posts.id", index)]
    post_id: i64,
    #[model(max_len = 80)]
    body: String,
    #[model(soft_delete)]
    deleted_at: Option<DateTime<Utc>>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "rel_tags")]
struct Tag {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 20, unique)]
    name: String,
}

/// The posts ↔ tags association, with a model of its own.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "rel_post_tags", composite)]
struct PostTag {
    #[model(primary_key, references = "rel_posts.id", on_delete = "cascade")]
    post_id: i64,
    #[model(primary_key, references = "rel_tags.id", on_delete = "cascade")]
    tag_id: i64,
}

impl User {
    const POSTS: HasMany<User, Post> = HasMany::new(Post::USER_ID);
    const PROFILE: HasOne<User, Profile> = HasOne::new(Profile::USER_ID);
    /// Posts this user liked: an association table without a model of its own.
    const LIKED: ManyToMany<User, Post> = ManyToMany::new("rel_likes", "user_id", "post_id");
}

impl Post {
    const AUTHOR: BelongsTo<Post, User> = BelongsTo::new(Post::USER_ID);
    const EDITOR: BelongsTo<Post, User> = BelongsTo::new(Post::EDITOR_ID);
    const COMMENTS: HasMany<Post, Comment> = HasMany::new(Comment::POST_ID);
    const TAGS: ManyToMany<Post, Tag> = ManyToMany::new("rel_post_tags", "post_id", "tag_id");
    const LIKED_BY: ManyToMany<Post, User> = ManyToMany::new("rel_likes", "post_id", "user_id");
}

impl Tag {
    const POSTS: ManyToMany<Tag, Post> = ManyToMany::new("rel_post_tags", "tag_id", "post_id");
}

async fn tables(db: &Database) {
    db.create_tables(&[User::TABLE, Profile::TABLE, Post::TABLE, Comment::TABLE, Tag::TABLE, PostTag::TABLE]).await.unwrap();
    // Portable DDL for the association table that has no model.
    db.execute_raw(
        "CREATE TABLE rel_likes (user_id BIGINT NOT NULL REFERENCES rel_users (id) ON DELETE CASCADE, \
         post_id BIGINT NOT NULL REFERENCES rel_posts (id) ON DELETE CASCADE, PRIMARY KEY (user_id, post_id))",
        params! {},
    )
    .await
    .unwrap();
}

async fn users(db: &Database, n: usize) -> Vec<User> {
    User::insert_many(db, (0..n).map(|i| NewUser { name: format!("user {i}") }).collect()).await.unwrap()
}

fn new_post(user: &User, i: usize) -> NewPost {
    NewPost { user_id: user.id, editor_id: None, title: format!("{} post {i}", user.name), published: i.is_multiple_of(2) }
}

/// 1,000 users × 10 posts: the users and all their posts in exactly two statements.
async fn has_many_in_two_statements(db: Database, _b: Backend) {
    tables(&db).await;
    let all = users(&db, 1000).await;
    // Posts inserted round-robin, so each user's posts are not adjacent in the table.
    let posts: Vec<NewPost> = (0..10).flat_map(|i| all.iter().map(move |u| new_post(u, i))).collect();
    Post::insert_many(&db, posts).await.unwrap();

    let counter = db.statement_counter();
    let users = User::select().order_by(User::ID.asc()).fetch_all(&db).await.unwrap();
    let posts = User::POSTS.load(&db, &users).await.unwrap();
    assert_eq!(counter.count(), 2, "statements: {:#?}", counter.statements());

    assert_eq!(posts.len(), 1000);
    for (user, theirs) in users.iter().zip(&posts) {
        assert_eq!(theirs.len(), 10, "user {}", user.id);
        assert!(theirs.iter().all(|p| p.user_id == user.id));
        assert!(theirs.windows(2).all(|w| w[0].id < w[1].id), "in key order");
        assert_eq!(theirs[3].title, format!("{} post 3", user.name));
    }

    // A parent without children gets an empty list; an empty parent list sends nothing.
    let lonely = User::insert(&db, NewUser { name: "lonely".into() }).await.unwrap();
    counter.reset();
    assert_eq!(User::POSTS.load(&db, &[&lonely]).await.unwrap(), vec![Vec::<Post>::new()]);
    assert!(User::POSTS.load(&db, &Vec::<User>::new()).await.unwrap().is_empty());
    assert_eq!(counter.count(), 1, "{:#?}", counter.statements());
}

async fn belongs_to_and_has_one(db: Database, _b: Backend) {
    tables(&db).await;
    let us = users(&db, 3).await;
    let mut posts = Vec::new();
    for (i, u) in us.iter().enumerate() {
        let mut p = new_post(u, i);
        p.editor_id = (i != 1).then_some(us[0].id);
        posts.push(Post::insert(&db, p).await.unwrap());
    }
    Profile::insert(&db, NewProfile { user_id: us[2].id, bio: "third".into() }).await.unwrap();

    let counter = db.statement_counter();
    let authors = Post::AUTHOR.load(&db, &posts).await.unwrap();
    assert_eq!(authors.iter().map(|a| a.as_ref().unwrap().id).collect::<Vec<_>>(), us.iter().map(|u| u.id).collect::<Vec<_>>());
    let editors = Post::EDITOR.load(&db, &posts).await.unwrap();
    assert_eq!(editors.iter().map(|e| e.as_ref().map(|u| u.id)).collect::<Vec<_>>(), [Some(us[0].id), None, Some(us[0].id)]);
    let profiles = User::PROFILE.load(&db, &us).await.unwrap();
    assert_eq!(profiles.iter().map(|p| p.as_ref().map(|p| p.bio.as_str())).collect::<Vec<_>>(), [None, None, Some("third")]);
    assert_eq!(counter.count(), 3, "one statement per relation: {:#?}", counter.statements());

    // A to-one relation as a join: one statement, NULL keys kept as None.
    counter.reset();
    let joined = Post::EDITOR.fetch_joined(&db, Post::select().order_by(Post::ID.asc())).await.unwrap();
    assert_eq!(counter.count(), 1);
    assert_eq!(joined.len(), 3);
    assert_eq!(joined[1].1, None);
    assert_eq!(joined[0].1.as_ref().map(|u| u.name.as_str()), Some("user 0"));

    // ON DELETE SET NULL in the database: the editor's posts lose their editor.
    assert!(User::hard_delete(&db, us[0].id).await.unwrap());
    let left = Post::select().order_by(Post::ID.asc()).fetch_all(&db).await.unwrap();
    assert_eq!(
        left.iter().map(|p| p.editor_id).collect::<Vec<_>>(),
        [None, None],
        "the author's post cascaded away, the editor reference became NULL"
    );
}

/// users → posts → comments in three statements, with a filtered and ordered relation load.
async fn nested_and_filtered(db: Database, _b: Backend) {
    tables(&db).await;
    let us = users(&db, 4).await;
    let posts = Post::insert_many(&db, us.iter().flat_map(|u| (0..3).map(move |i| new_post(u, i))).collect()).await.unwrap();
    let comments: Vec<NewComment> =
        posts.iter().flat_map(|p| (0..2).map(move |i| NewComment { post_id: p.id, body: format!("c{i} on {}", p.id) })).collect();
    let comments = Comment::insert_many(&db, comments).await.unwrap();
    // A soft-deleted comment never loads.
    assert!(comments[0].delete(&db).await.unwrap());

    let counter = db.statement_counter();
    let users = User::select().order_by(User::ID.asc()).fetch_all(&db).await.unwrap();
    let posts = User::POSTS.load(&db, &users).await.unwrap();
    let flat: Vec<&Post> = posts.iter().flatten().collect();
    let comments = Post::COMMENTS.load(&db, &flat).await.unwrap();
    assert_eq!(counter.count(), 3, "{:#?}", counter.statements());
    assert_eq!(flat.len(), 12);
    assert_eq!(comments[0].len(), 1, "the soft-deleted comment is left out");
    assert!(comments[1..].iter().all(|c| c.len() == 2));
    for (post, theirs) in flat.iter().zip(&comments) {
        assert!(theirs.iter().all(|c| c.post_id == post.id));
    }

    // Filtered and ordered: only published posts, newest first.
    counter.reset();
    let published =
        User::POSTS.load_with(&db, &users, Post::select().filter(Post::PUBLISHED.eq(true)).order_by(Post::ID.desc())).await.unwrap();
    assert_eq!(counter.count(), 1);
    for (user, theirs) in users.iter().zip(&published) {
        assert_eq!(theirs.len(), 2);
        assert!(theirs.iter().all(|p| p.published && p.user_id == user.id));
        assert!(theirs[0].id > theirs[1].id, "the query's order comes first");
    }
    let err = User::POSTS.load_with(&db, &users, Post::select().limit(1)).await.unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
}

async fn many_to_many(db: Database, _b: Backend) {
    tables(&db).await;
    let us = users(&db, 2).await;
    let posts = Post::insert_many(&db, (0..3).map(|i| new_post(&us[0], i)).collect()).await.unwrap();
    let tags = Tag::insert_many(&db, ["rust", "sql", "web"].iter().map(|n| NewTag { name: n.to_string() }).collect()).await.unwrap();

    // With a link model: link from one side, read from both.
    Post::TAGS.link(&db, &posts[0], &tags[0]).await.unwrap();
    Post::TAGS.link(&db, &posts[0], &tags[1]).await.unwrap();
    Post::TAGS.link(&db, &posts[2], &tags[0]).await.unwrap();
    let err = Post::TAGS.link(&db, &posts[0], &tags[0]).await.unwrap_err();
    assert!(matches!(err, Error::UniqueViolation(_)), "linking a linked pair again: {err:?}");
    assert_eq!(PostTag::select().count(&db).await.unwrap(), 3);

    let counter = db.statement_counter();
    let by_post = Post::TAGS.load(&db, &posts).await.unwrap();
    let by_tag = Tag::POSTS.load(&db, &tags).await.unwrap();
    assert_eq!(counter.count(), 2);
    let names = |ts: &Vec<Tag>| ts.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    assert_eq!(by_post.iter().map(names).collect::<Vec<_>>(), [vec!["rust", "sql"], vec![], vec!["rust"]]);
    let ids = |ps: &Vec<Post>| ps.iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(by_tag.iter().map(ids).collect::<Vec<_>>(), [vec![posts[0].id, posts[2].id], vec![posts[0].id], vec![]]);

    assert!(Post::TAGS.unlink(&db, &posts[0], &tags[1]).await.unwrap());
    assert!(!Post::TAGS.unlink(&db, &posts[0], &tags[1]).await.unwrap(), "unlinking twice unlinks nothing");
    assert_eq!(Post::TAGS.load(&db, &posts[..1]).await.unwrap()[0].len(), 1);

    // Without a link model, from both sides.
    User::LIKED.link(&db, &us[1], &posts[1]).await.unwrap();
    Post::LIKED_BY.link(&db, &posts[2], &us[1]).await.unwrap();
    let liked = User::LIKED.load(&db, &us).await.unwrap();
    assert_eq!(liked.iter().map(ids).collect::<Vec<_>>(), [vec![], vec![posts[1].id, posts[2].id]]);
    let likers = Post::LIKED_BY.load(&db, &posts).await.unwrap();
    assert_eq!(likers.iter().map(|u| u.len()).collect::<Vec<_>>(), [0, 1, 1]);

    // Deleting a post removes its links (ON DELETE CASCADE on the association tables).
    assert!(Post::hard_delete(&db, posts[2].id).await.unwrap());
    assert_eq!(Tag::POSTS.load(&db, &tags[..1]).await.unwrap()[0].len(), 1);
    assert_eq!(User::LIKED.load(&db, &us[1..]).await.unwrap()[0].len(), 1);
}

/// The ORM's own cascade: deleting through a relation marks soft-deletable children too
/// (no ON DELETE sees a soft delete), and parent and children go in one transaction.
async fn orm_cascade(db: Database, _b: Backend) {
    tables(&db).await;
    let us = users(&db, 2).await;
    let posts = Post::insert_many(&db, (0..2).map(|i| new_post(&us[0], i)).collect()).await.unwrap();
    Comment::insert_many(
        &db,
        posts.iter().flat_map(|p| (0..3).map(move |i| NewComment { post_id: p.id, body: format!("c{i}") })).collect(),
    )
    .await
    .unwrap();
    assert_eq!(Post::COMMENTS.delete_children(&db, &posts[..1]).await.unwrap(), 3);
    assert_eq!(Comment::select().count(&db).await.unwrap(), 3);
    assert_eq!(Comment::select().only_deleted().count(&db).await.unwrap(), 3);

    // Parent and children in one transaction: the comments are marked first, then the post
    // cannot go (the marked comments still reference it and the key has no ON DELETE), so
    // the marks are rolled back with it.
    let err = Post::COMMENTS.delete_with_children(&db, &posts[1]).await.unwrap_err();
    assert!(matches!(err, Error::ForeignKeyViolation(_)), "{err:?}");
    assert_eq!(Comment::select().filter(Comment::POST_ID.eq(posts[1].id)).count(&db).await.unwrap(), 3, "the comments are live again");
    assert!(Post::get(&db, posts[1].id).await.unwrap().is_some());

    // Delete-orphan: a comment taken out of its post is deleted; one of another post is not
    // touched.
    let of_first = Post::COMMENTS.load(&db, &posts[1..]).await.unwrap().remove(0);
    assert!(Post::COMMENTS.remove(&db, &posts[1], &of_first[0]).await.unwrap());
    assert!(!Post::COMMENTS.remove(&db, &posts[0], &of_first[1]).await.unwrap(), "not a comment of that post");
    assert_eq!(Post::COMMENTS.load(&db, &posts[1..]).await.unwrap()[0].len(), 2);

    // And when nothing blocks it, both go: the second user's posts, then the user.
    let theirs = Post::insert_many(&db, (0..2).map(|i| new_post(&us[1], i)).collect()).await.unwrap();
    assert!(User::POSTS.delete_with_children(&db, &us[1]).await.unwrap());
    assert_eq!(User::get(&db, us[1].id).await.unwrap(), None);
    assert_eq!(Post::select().filter(Post::ID.is_in(theirs.iter().map(|p| p.id))).count(&db).await.unwrap(), 0);
}

/// More parents than one `IN (…)` may carry: the load is split, and still right.
async fn chunked_load(db: Database, b: Backend) {
    db.create_tables(&[User::TABLE, Post::TABLE]).await.unwrap();
    let n = match b {
        Backend::Sqlite => 33_000,
        _ => 66_000,
    };
    let all = users(&db, n).await;
    let first = &all[0];
    let last = &all[n - 1];
    Post::insert_many(&db, vec![new_post(first, 0), new_post(last, 0), new_post(last, 1)]).await.unwrap();
    let counter = db.statement_counter();
    let posts = User::POSTS.load(&db, &all).await.unwrap();
    assert_eq!(counter.count(), 2, "two chunks of keys: {}", counter.count());
    assert_eq!(posts.len(), n);
    assert_eq!(posts[0].len(), 1);
    assert_eq!(posts[n - 1].len(), 2);
    assert_eq!(posts.iter().map(Vec::len).sum::<usize>(), 3);
    let authors = Post::AUTHOR.load(&db, &posts[n - 1]).await.unwrap();
    assert!(authors.iter().all(|a| a.as_ref() == Some(last)));
}

/// A parent that appears several times (posts → their authors → the authors' posts) gets
/// its children each time; keys of any type (here dates, stored as text on SQLite) match
/// through an association table.
async fn repeated_parents_and_date_keys(db: Database, _b: Backend) {
    tables(&db).await;
    let us = users(&db, 1).await;
    let posts = Post::insert_many(&db, (0..2).map(|i| new_post(&us[0], i)).collect()).await.unwrap();
    let authors: Vec<User> = Post::AUTHOR.load(&db, &posts).await.unwrap().into_iter().flatten().collect();
    assert_eq!(authors.len(), 2);
    let theirs = User::POSTS.load(&db, &authors).await.unwrap();
    assert_eq!(theirs.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2]);
    let profiles = User::PROFILE.load(&db, &authors).await.unwrap();
    assert_eq!(profiles, [None, None]);
    let tag = Tag::insert(&db, NewTag { name: "t".into() }).await.unwrap();
    Post::TAGS.link(&db, &posts[0], &tag).await.unwrap();
    let tags = Post::TAGS.load(&db, &[&posts[0], &posts[0], &posts[1]]).await.unwrap();
    assert_eq!(tags.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1, 0]);

    db.create_tables(&[Day::TABLE]).await.unwrap();
    db.execute_raw("CREATE TABLE rel_day_tags (day DATE NOT NULL, tag_id BIGINT NOT NULL, PRIMARY KEY (day, tag_id))", params! {})
        .await
        .unwrap();
    let day = Day::insert(&db, NewDay { day: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), note: "today".into() }).await.unwrap();
    Day::TAGS.link(&db, &day, &tag).await.unwrap();
    let loaded = Day::TAGS.load(&db, &[day]).await.unwrap();
    assert_eq!(loaded[0].iter().map(|t| t.id).collect::<Vec<_>>(), [tag.id]);
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "rel_days")]
struct Day {
    #[model(primary_key)]
    day: NaiveDate,
    #[model(max_len = 20)]
    note: String,
}

impl Day {
    const TAGS: ManyToMany<Day, Tag> = ManyToMany::new("rel_day_tags", "day", "tag_id");
}

per_backend!(
    has_many_in_two_statements,
    belongs_to_and_has_one,
    nested_and_filtered,
    many_to_many,
    orm_cascade,
    chunked_load,
    repeated_parents_and_date_keys
);
