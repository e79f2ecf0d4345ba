//! Chained eager loads returning the nested shape, loads for one row, soft-deleted targets
//! on request, and many-to-many relations declared from the link model's columns — with
//! the exact number of statements each load takes, on SQLite, PostgreSQL and MariaDB.

mod common;

use almacen::prelude::*;
use almacen::{BelongsTo, HasMany, HasOne, ManyToMany};
use common::Backend;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "nest_users")]
struct User {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40)]
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "nest_authors")]
struct Author {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40)]
    name: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "nest_profiles")]
struct Profile {
    #[model(primary_key, auto)]
    id: i64,
    #[model(unique, references = "nest_authors.id")]
    author_id: i64,
    #[model(max_len = 40)]
    bio: String,
    #[model(soft_delete)]
    deleted_at: Option<DateTime<Utc>>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "nest_books")]
struct Book {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = "nest_authors.id", index)]
    author_id: i64,
    #[model(max_len = 40)]
    title: String,
    #[model(soft_delete)]
    deleted_at: Option<DateTime<Utc>>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "nest_reviews")]
struct Review {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = "nest_books.id", index)]
    book_id: i64,
    #[model(references = "nest_users.id")]
    user_id: Option<i64>,
    stars: i32,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "nest_genres")]
struct Genre {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40)]
    name: String,
    #[model(soft_delete)]
    deleted_at: Option<DateTime<Utc>>,
}

/// The books ↔ genres link model; a link marked deleted means "unlinked".
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "nest_book_genres", composite)]
struct BookGenre {
    #[model(primary_key, references = "nest_books.id")]
    book_id: i64,
    #[model(primary_key, references = "nest_genres.id")]
    genre_id: i64,
    #[model(soft_delete)]
    deleted_at: Option<DateTime<Utc>>,
}

/// Users following users: both columns reference the same key.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "nest_follows", composite)]
struct Follow {
    #[model(primary_key, references = "nest_users.id")]
    follower_id: i64,
    #[model(primary_key, references = "nest_users.id")]
    followee_id: i64,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "nest_products")]
struct Product {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 40)]
    name: String,
    #[model(soft_delete)]
    deleted_at: Option<DateTime<Utc>>,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "nest_orders")]
struct Order {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 20)]
    number: String,
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "nest_items")]
struct Item {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = "nest_orders.id", index)]
    order_id: i64,
    #[model(references = "nest_products.id")]
    product_id: i64,
    qty: i32,
}

impl Author {
    const BOOKS: HasMany<Author, Book> = HasMany::new(Book::AUTHOR_ID);
    const PROFILE: HasOne<Author, Profile> = HasOne::new(Profile::AUTHOR_ID);
}

impl Book {
    const AUTHOR: BelongsTo<Book, Author> = BelongsTo::new(Book::AUTHOR_ID);
    const REVIEWS: HasMany<Book, Review> = HasMany::new(Review::BOOK_ID);
    const GENRES: ManyToMany<Book, Genre> = ManyToMany::through(BookGenre::BOOK_ID, BookGenre::GENRE_ID);
    /// The same association named by strings: it knows no link model.
    const GENRES_BY_NAME: ManyToMany<Book, Genre> = ManyToMany::new("nest_book_genres", "book_id", "genre_id");
}

impl Genre {
    const BOOKS: ManyToMany<Genre, Book> = ManyToMany::through(BookGenre::GENRE_ID, BookGenre::BOOK_ID);
}

impl Review {
    const BOOK: BelongsTo<Review, Book> = BelongsTo::new(Review::BOOK_ID);
    const USER: BelongsTo<Review, User> = BelongsTo::new(Review::USER_ID);
}

impl User {
    const FOLLOWS: ManyToMany<User, User> = ManyToMany::through(Follow::FOLLOWER_ID, Follow::FOLLOWEE_ID);
    const FOLLOWERS: ManyToMany<User, User> = ManyToMany::through(Follow::FOLLOWEE_ID, Follow::FOLLOWER_ID);
}

impl Order {
    const ITEMS: HasMany<Order, Item> = HasMany::new(Item::ORDER_ID);
}

impl Item {
    const PRODUCT: BelongsTo<Item, Product> = BelongsTo::new(Item::PRODUCT_ID);
}

async fn tables(db: &Database) {
    db.create_tables(&[
        User::TABLE,
        Author::TABLE,
        Profile::TABLE,
        Book::TABLE,
        Review::TABLE,
        Genre::TABLE,
        BookGenre::TABLE,
        Follow::TABLE,
        Product::TABLE,
        Order::TABLE,
        Item::TABLE,
    ])
    .await
    .unwrap();
}

/// Users ann and bob; authors ursula (books lathe, tehanu), lonely (none) and terry (mort);
/// reviews: lathe 5 by ann and 3 by nobody, mort 4 by bob.
struct Library {
    users: Vec<User>,
    authors: Vec<Author>,
    books: Vec<Book>,
    reviews: Vec<Review>,
}

async fn library(db: &Database) -> Library {
    tables(db).await;
    seed(db).await
}

async fn seed(db: &Database) -> Library {
    let users = User::insert_many(db, ["ann", "bob"].map(|n| NewUser { name: n.into() }).into()).await.unwrap();
    let authors = Author::insert_many(db, ["ursula", "lonely", "terry"].map(|n| NewAuthor { name: n.into() }).into()).await.unwrap();
    let book = |a: &Author, t: &str| NewBook { author_id: a.id, title: t.into() };
    let books =
        Book::insert_many(db, vec![book(&authors[0], "lathe"), book(&authors[0], "tehanu"), book(&authors[2], "mort")]).await.unwrap();
    let review = |b: &Book, u: Option<&User>, stars| NewReview { book_id: b.id, user_id: u.map(|u| u.id), stars };
    let reviews = Review::insert_many(
        db,
        vec![review(&books[0], Some(&users[0]), 5), review(&books[0], None, 3), review(&books[2], Some(&users[1]), 4)],
    )
    .await
    .unwrap();
    Library { users, authors, books, reviews }
}

/// What an author gets from `Author::BOOKS.then(Book::REVIEWS).then(Review::USER)`.
type Shelf = Vec<(Book, Vec<(Review, Option<User>)>)>;

fn titles(books: &[(Book, Vec<Review>)]) -> Vec<(&str, Vec<i32>)> {
    books.iter().map(|(b, rs)| (b.title.as_str(), rs.iter().map(|r| r.stars).collect())).collect()
}

/// Two and three levels, to-many and to-one links, the same chain written both ways,
/// repeated and childless parents, and an empty parent list.
async fn chains_return_the_nested_shape(db: Database, _b: Backend) {
    let lib = library(&db).await;
    let authors = &lib.authors;
    let counter = db.statement_counter();

    let shelves = Author::BOOKS.then(Book::REVIEWS).load(&db, authors).await.unwrap();
    assert_eq!(counter.count(), 2, "one statement per level: {:#?}", counter.statements());
    assert_eq!(
        shelves.iter().map(|s| titles(s)).collect::<Vec<_>>(),
        [vec![("lathe", vec![5, 3]), ("tehanu", vec![])], vec![], vec![("mort", vec![4])]]
    );
    assert_eq!(shelves[0][0].0, lib.books[0], "whole rows");

    // Three levels, the last one to-one (and NULL for the anonymous review).
    counter.reset();
    let deep = Author::BOOKS.then(Book::REVIEWS).then(Review::USER).load(&db, authors).await.unwrap();
    assert_eq!(counter.count(), 3, "{:#?}", counter.statements());
    let names = |deep: &Vec<Shelf>| {
        deep.iter()
            .map(|books| {
                books
                    .iter()
                    .map(|(b, rs)| {
                        (b.title.clone(), rs.iter().map(|(r, u)| (r.stars, u.as_ref().map(|u| u.name.clone()))).collect::<Vec<_>>())
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    let s = |t: &str| t.to_string();
    assert_eq!(
        names(&deep),
        [
            vec![(s("lathe"), vec![(5, Some(s("ann"))), (3, None)]), (s("tehanu"), vec![])],
            vec![],
            vec![(s("mort"), vec![(4, Some(s("bob")))])]
        ]
    );
    // The same chain nested the other way round.
    counter.reset();
    let same = Author::BOOKS.then(Book::REVIEWS.then(Review::USER)).load(&db, authors).await.unwrap();
    assert_eq!(counter.count(), 3);
    assert_eq!(same, deep);

    // Four levels starting to-one: each review's book, its author, the author's books and
    // their reviews.
    counter.reset();
    let back = Review::BOOK.then(Book::AUTHOR).then(Author::BOOKS).then(Book::REVIEWS).load(&db, &lib.reviews).await.unwrap();
    assert_eq!(counter.count(), 4);
    let (book, author) = back[2].as_ref().unwrap();
    let (author, theirs) = author.as_ref().unwrap();
    assert_eq!((book.title.as_str(), author.name.as_str()), ("mort", "terry"));
    assert_eq!(titles(theirs), [("mort", vec![4])]);
    let (_, ursula) = back[0].as_ref().unwrap();
    assert_eq!(titles(&ursula.as_ref().unwrap().1), [("lathe", vec![5, 3]), ("tehanu", vec![])]);
    assert_eq!(back[0], back[1], "two reviews of one book get the same copy");

    // A to-one link in the middle, a has-one at the end.
    Profile::insert(&db, NewProfile { author_id: authors[2].id, bio: "discworld".into() }).await.unwrap();
    let profiles = Book::AUTHOR.then(Author::PROFILE).load(&db, &lib.books).await.unwrap();
    let bios: Vec<_> = profiles.iter().map(|p| p.as_ref().map(|(a, p)| (a.name.as_str(), p.as_ref().map(|p| p.bio.as_str())))).collect();
    assert_eq!(bios, [Some(("ursula", None)), Some(("ursula", None)), Some(("terry", Some("discworld")))]);

    // A parent given twice gets its tree twice.
    let twice = Author::BOOKS.then(Book::REVIEWS).load(&db, &[&authors[0], &authors[0]]).await.unwrap();
    assert_eq!(twice[0], twice[1]);
    assert_eq!(twice[0], shelves[0]);

    // No parents: nothing is sent. Parents without children: the next level is not sent.
    counter.reset();
    assert!(Author::BOOKS.then(Book::REVIEWS).then(Review::USER).load(&db, &Vec::<Author>::new()).await.unwrap().is_empty());
    assert_eq!(counter.count(), 0, "{:#?}", counter.statements());
    let none = Author::BOOKS.then(Book::REVIEWS).then(Review::USER).load(&db, &authors[1..2]).await.unwrap();
    assert_eq!(none, [vec![]]);
    assert_eq!(counter.count(), 1, "{:#?}", counter.statements());

    // For one parent.
    counter.reset();
    let one = Author::BOOKS.then(Book::REVIEWS).load_one(&db, &authors[0]).await.unwrap();
    assert_eq!(one, shelves[0]);
    assert!(Author::BOOKS.then(Book::REVIEWS).load_one(&db, &authors[1]).await.unwrap().is_empty());
    let up = Review::BOOK.then(Book::AUTHOR).load_one(&db, &lib.reviews[2]).await.unwrap().unwrap();
    assert_eq!((up.0.title.as_str(), up.1.unwrap().name.as_str()), ("mort", "terry"));
    assert_eq!(counter.count(), 2 + 1 + 2);

    // The future is `Send`: it runs in a spawned task.
    let d = db.clone();
    let all = authors.clone();
    let spawned =
        tokio::spawn(async move { Author::BOOKS.then(Book::REVIEWS).then(Review::USER).load(&d, &all).await }).await.unwrap().unwrap();
    assert_eq!(spawned, deep);
}

/// Many-to-many links in a chain: a genre shared by several books reaches each.
async fn chains_through_many_to_many(db: Database, _b: Backend) {
    let lib = library(&db).await;
    let genres = Genre::insert_many(&db, ["sf", "fantasy", "empty"].map(|n| NewGenre { name: n.into() }).into()).await.unwrap();
    for (b, g) in [(0, 0), (0, 1), (1, 1), (2, 1)] {
        Book::GENRES.link(&db, &lib.books[b], &genres[g]).await.unwrap();
    }
    let counter = db.statement_counter();
    let by_genre = Genre::BOOKS.then(Book::AUTHOR).then(Author::BOOKS).load(&db, &genres).await.unwrap();
    assert_eq!(counter.count(), 3, "{:#?}", counter.statements());
    let shape: Vec<Vec<(&str, &str, usize)>> = by_genre
        .iter()
        .map(|books| {
            books
                .iter()
                .map(|(b, a)| {
                    let (a, theirs) = a.as_ref().unwrap();
                    (b.title.as_str(), a.name.as_str(), theirs.len())
                })
                .collect()
        })
        .collect();
    assert_eq!(shape, [vec![("lathe", "ursula", 2)], vec![("lathe", "ursula", 2), ("tehanu", "ursula", 2), ("mort", "terry", 1)], vec![]]);

    // Books → genres → books: lathe's genres each with all their books.
    let around = Book::GENRES.then(Genre::BOOKS).load_one(&db, &lib.books[0]).await.unwrap();
    let around: Vec<(&str, Vec<&str>)> =
        around.iter().map(|(g, bs)| (g.name.as_str(), bs.iter().map(|b| b.title.as_str()).collect())).collect();
    assert_eq!(around, [("sf", vec!["lathe"]), ("fantasy", vec!["lathe", "tehanu", "mort"])]);
}

/// `load_one` of every relation kind: with rows, without, and a NULL key (no statement).
async fn load_one_for_each_relation(db: Database, _b: Backend) {
    let lib = library(&db).await;
    let counter = db.statement_counter();

    let books = Author::BOOKS.load_one(&db, &lib.authors[0]).await.unwrap();
    assert_eq!(books, lib.books[..2]);
    assert_eq!(Author::BOOKS.load_one(&db, &lib.authors[1]).await.unwrap(), []);
    assert_eq!(counter.count(), 2);

    counter.reset();
    assert_eq!(Review::USER.load_one(&db, &lib.reviews[0]).await.unwrap(), Some(lib.users[0].clone()));
    assert_eq!(Review::USER.load_one(&db, &lib.reviews[1]).await.unwrap(), None, "a NULL key");
    assert_eq!(counter.count(), 1, "a NULL key sends nothing: {:#?}", counter.statements());
    assert_eq!(Book::AUTHOR.load_one(&db, &lib.books[2]).await.unwrap(), Some(lib.authors[2].clone()));

    let profile = Profile::insert(&db, NewProfile { author_id: lib.authors[0].id, bio: "earthsea".into() }).await.unwrap();
    assert_eq!(Author::PROFILE.load_one(&db, &lib.authors[0]).await.unwrap(), Some(profile));
    assert_eq!(Author::PROFILE.load_one(&db, &lib.authors[1]).await.unwrap(), None);

    let genres = Genre::insert_many(&db, ["b", "a"].map(|n| NewGenre { name: n.into() }).into()).await.unwrap();
    // Linked in reverse key order: loaded in key order.
    Book::GENRES.link(&db, &lib.books[0], &genres[1]).await.unwrap();
    Book::GENRES.link(&db, &lib.books[0], &genres[0]).await.unwrap();
    assert_eq!(Book::GENRES.load_one(&db, &lib.books[0]).await.unwrap(), genres);
    assert_eq!(Book::GENRES.load_one(&db, &lib.books[1]).await.unwrap(), []);
    assert_eq!(Genre::BOOKS.load_one(&db, &genres[1]).await.unwrap(), lib.books[..1]);

    // The same as a load of a one-row list.
    for book in &lib.books {
        assert_eq!(Book::REVIEWS.load_one(&db, book).await.unwrap(), Book::REVIEWS.load(&db, &[book]).await.unwrap().remove(0));
    }
}

/// Soft-deleted targets are left out by default and loaded on request, in every relation
/// kind, in chains and in the joined form.
async fn soft_deleted_targets_on_request(db: Database, _b: Backend) {
    tables(&db).await;
    let products = Product::insert_many(&db, ["lamp", "desk"].map(|n| NewProduct { name: n.into() }).into()).await.unwrap();
    let orders = Order::insert_many(&db, ["A-1", "A-2"].map(|n| NewOrder { number: n.into() }).into()).await.unwrap();
    let item = |o: &Order, p: &Product, qty| NewItem { order_id: o.id, product_id: p.id, qty };
    let items = Item::insert_many(
        &db,
        vec![item(&orders[0], &products[0], 1), item(&orders[0], &products[1], 2), item(&orders[1], &products[0], 3)],
    )
    .await
    .unwrap();
    assert!(products[0].delete(&db).await.unwrap(), "the lamp is no longer sold");

    let names = |ps: &[Option<Product>]| ps.iter().map(|p| p.as_ref().map(|p| p.name.clone())).collect::<Vec<_>>();
    let s = |t: &str| Some(t.to_string());
    assert_eq!(names(&Item::PRODUCT.load(&db, &items).await.unwrap()), [None, s("desk"), None]);
    let counter = db.statement_counter();
    let sold = Item::PRODUCT.with_deleted().load(&db, &items).await.unwrap();
    assert_eq!(counter.count(), 1);
    assert_eq!(names(&sold), [s("lamp"), s("desk"), s("lamp")]);
    assert!(sold[0].as_ref().unwrap().deleted_at.is_some(), "and it says it is deleted");
    assert_eq!(Item::PRODUCT.load_one(&db, &items[0]).await.unwrap(), None, "the constant itself still leaves it out");
    assert_eq!(Item::PRODUCT.with_deleted().load_one(&db, &items[0]).await.unwrap().map(|p| p.name), s("lamp"));

    // In a chain: an order's items each with its product, deleted or not.
    let lines = |orders: Vec<Vec<(Item, Option<Product>)>>| {
        orders.into_iter().map(|items| items.into_iter().map(|(i, p)| (i.qty, p.map(|p| p.name))).collect::<Vec<_>>()).collect::<Vec<_>>()
    };
    counter.reset();
    let full = Order::ITEMS.then(Item::PRODUCT.with_deleted()).load(&db, &orders).await.unwrap();
    assert_eq!(counter.count(), 2);
    assert_eq!(lines(full), [vec![(1, s("lamp")), (2, s("desk"))], vec![(3, s("lamp"))]]);
    let live = Order::ITEMS.then(Item::PRODUCT).load(&db, &orders).await.unwrap();
    assert_eq!(lines(live), [vec![(1, None), (2, s("desk"))], vec![(3, None)]]);

    // The joined form too.
    let q = || Item::select().order_by(Item::ID.asc());
    let joined = Item::PRODUCT.fetch_joined(&db, q()).await.unwrap();
    assert_eq!(joined.iter().map(|(_, p)| p.as_ref().map(|p| p.name.clone())).collect::<Vec<_>>(), [None, s("desk"), None]);
    let joined = Item::PRODUCT.with_deleted().fetch_joined(&db, q()).await.unwrap();
    assert_eq!(joined.iter().map(|(_, p)| p.as_ref().map(|p| p.name.clone())).collect::<Vec<_>>(), [s("lamp"), s("desk"), s("lamp")]);

    // Has-many: a deleted book, with and without, also through load_with and in chains.
    let lib = seed(&db).await;
    let ursula = &lib.authors[0];
    assert!(lib.books[1].delete(&db).await.unwrap());
    let ids = |bs: Vec<Book>| bs.into_iter().map(|b| b.id).collect::<Vec<_>>();
    assert_eq!(ids(Author::BOOKS.load_one(&db, ursula).await.unwrap()), [lib.books[0].id]);
    assert_eq!(ids(Author::BOOKS.with_deleted().load_one(&db, ursula).await.unwrap()), [lib.books[0].id, lib.books[1].id]);
    let newest_first = Book::select().order_by(Book::ID.desc());
    let loaded = Author::BOOKS.with_deleted().load_with(&db, &[ursula], newest_first.clone()).await.unwrap().remove(0);
    assert_eq!(ids(loaded), [lib.books[1].id, lib.books[0].id]);
    let only = Author::BOOKS.with_deleted().load_with(&db, &[ursula], newest_first.only_deleted()).await.unwrap().remove(0);
    assert_eq!(ids(only), [lib.books[1].id], "the query's only_deleted() is kept");
    let shelves = Author::BOOKS.then(Book::REVIEWS).load_one(&db, ursula).await.unwrap();
    assert_eq!(titles(&shelves), [("lathe", vec![5, 3])]);
    let shelves = Author::BOOKS.with_deleted().then(Book::REVIEWS).load_one(&db, ursula).await.unwrap();
    assert_eq!(titles(&shelves), [("lathe", vec![5, 3]), ("tehanu", vec![])]);
    let by_review = Review::BOOK.load(&db, &lib.reviews).await.unwrap();
    assert!(by_review.iter().all(Option::is_some), "no review is of the deleted book");

    // Has-one.
    let profile = Profile::insert(&db, NewProfile { author_id: ursula.id, bio: "earthsea".into() }).await.unwrap();
    assert!(profile.delete(&db).await.unwrap());
    assert_eq!(Author::PROFILE.load_one(&db, ursula).await.unwrap(), None);
    let kept = Author::PROFILE.with_deleted().load(&db, &lib.authors).await.unwrap();
    assert_eq!(kept.iter().map(|p| p.as_ref().map(|p| p.id)).collect::<Vec<_>>(), [Some(profile.id), None, None]);

    // Many-to-many: a deleted genre; a deleted link is never followed.
    let genres = Genre::insert_many(&db, ["sf", "gone", "unlinked"].map(|n| NewGenre { name: n.into() }).into()).await.unwrap();
    for g in &genres {
        Book::GENRES.link(&db, &lib.books[0], g).await.unwrap();
    }
    assert!(genres[1].delete(&db).await.unwrap());
    let link = BookGenre::get(&db, (lib.books[0].id, genres[2].id)).await.unwrap().unwrap();
    assert!(link.delete(&db).await.unwrap(), "the link marked deleted");
    let gnames = |gs: Vec<Genre>| gs.into_iter().map(|g| g.name).collect::<Vec<_>>();
    assert_eq!(gnames(Book::GENRES.load_one(&db, &lib.books[0]).await.unwrap()), ["sf"]);
    assert_eq!(gnames(Book::GENRES.with_deleted().load_one(&db, &lib.books[0]).await.unwrap()), ["sf", "gone"]);
    assert!(Genre::BOOKS.load_one(&db, &genres[2]).await.unwrap().is_empty(), "from the other side too");
    // Declared by names, the association knows no link model: it follows the marked link
    // (which is why `through` is preferred when there is a model).
    assert_eq!(gnames(Book::GENRES_BY_NAME.load_one(&db, &lib.books[0]).await.unwrap()), ["sf", "unlinked"]);
}

/// `ManyToMany::through` loads, links and unlinks like the string form, from both sides,
/// and a model may be linked to itself.
async fn many_to_many_through_columns(db: Database, _b: Backend) {
    let lib = library(&db).await;
    let genres = Genre::insert_many(&db, ["sf", "fantasy"].map(|n| NewGenre { name: n.into() }).into()).await.unwrap();
    Book::GENRES.link(&db, &lib.books[0], &genres[0]).await.unwrap();
    Book::GENRES.link(&db, &lib.books[0], &genres[1]).await.unwrap();
    Book::GENRES.link(&db, &lib.books[2], &genres[1]).await.unwrap();
    let err = Book::GENRES.link(&db, &lib.books[2], &genres[1]).await.unwrap_err();
    assert!(matches!(err, Error::UniqueViolation(_)), "linking a linked pair again: {err:?}");
    assert_eq!(BookGenre::select().count(&db).await.unwrap(), 3);

    let counter = db.statement_counter();
    let typed = Book::GENRES.load(&db, &lib.books).await.unwrap();
    assert_eq!(counter.count(), 1);
    assert_eq!(typed, Book::GENRES_BY_NAME.load(&db, &lib.books).await.unwrap());
    assert_eq!(typed.iter().map(Vec::len).collect::<Vec<_>>(), [2, 0, 1]);
    let books = Genre::BOOKS.load(&db, &genres).await.unwrap();
    assert_eq!(
        books.iter().map(|bs| bs.iter().map(|b| b.id).collect::<Vec<_>>()).collect::<Vec<_>>(),
        [vec![lib.books[0].id], vec![lib.books[0].id, lib.books[2].id]]
    );
    assert!(Genre::BOOKS.unlink(&db, &genres[1], &lib.books[0]).await.unwrap());
    assert!(!Book::GENRES.unlink(&db, &lib.books[0], &genres[1]).await.unwrap(), "already unlinked from the other side");
    assert_eq!(Book::GENRES.load_one(&db, &lib.books[0]).await.unwrap(), genres[..1]);

    // Users following users.
    let cy = User::insert(&db, NewUser { name: "cy".into() }).await.unwrap();
    let (ann, bob) = (&lib.users[0], &lib.users[1]);
    User::FOLLOWS.link(&db, ann, bob).await.unwrap();
    User::FOLLOWS.link(&db, ann, &cy).await.unwrap();
    User::FOLLOWERS.link(&db, ann, bob).await.unwrap(); // bob follows ann
    let all = [ann.clone(), bob.clone(), cy.clone()];
    let named = |us: Vec<Vec<User>>| us.into_iter().map(|us| us.into_iter().map(|u| u.name).collect::<Vec<_>>()).collect::<Vec<_>>();
    assert_eq!(named(User::FOLLOWS.load(&db, &all).await.unwrap()), [vec!["bob", "cy"], vec!["ann"], vec![]]);
    assert_eq!(named(User::FOLLOWERS.load(&db, &all).await.unwrap()), [vec!["bob"], vec!["ann"], vec!["ann"]]);
    // Who the people ann follows follow.
    let second = User::FOLLOWS.then(User::FOLLOWS).load_one(&db, ann).await.unwrap();
    assert_eq!(second.into_iter().map(|(u, theirs)| (u.name, theirs.len())).collect::<Vec<_>>(), [("bob".into(), 1), ("cy".into(), 0)]);
}

/// More rows at one level than one `IN (…)` may carry: that level is split at the exact
/// boundary, and the nested shape is still right.
async fn chains_across_chunk_boundaries(db: Database, _b: Backend) {
    tables(&db).await;
    let chunk = db.dialect().max_bind_params() - 1_000;
    let n = chunk + 1; // one key alone in the second chunk
    let author = Author::insert(&db, NewAuthor { name: "prolific".into() }).await.unwrap();
    let books = Book::insert_many(&db, (0..n).map(|i| NewBook { author_id: author.id, title: format!("b{i}") }).collect()).await.unwrap();
    // Reviews on the first book, the last of the first chunk and the one of the second.
    let marks = [0, chunk - 1, chunk];
    Review::insert_many(&db, marks.iter().map(|&i| NewReview { book_id: books[i].id, user_id: None, stars: i as i32 % 5 }).collect())
        .await
        .unwrap();
    let genres = Genre::insert_many(&db, ["first", "last"].map(|n| NewGenre { name: n.into() }).into()).await.unwrap();
    Book::GENRES.link(&db, &books[0], &genres[0]).await.unwrap();
    Book::GENRES.link(&db, &books[chunk], &genres[1]).await.unwrap();
    Book::GENRES.link(&db, &books[chunk - 1], &genres[1]).await.unwrap();
    assert!(genres[1].delete(&db).await.unwrap());

    let counter = db.statement_counter();
    let shelf = Author::BOOKS.then(Book::REVIEWS).load_one(&db, &author).await.unwrap();
    assert_eq!(counter.count(), 1 + 2, "books, then reviews in two chunks: {}", counter.count());
    assert_eq!(shelf.len(), n);
    for (i, (book, reviews)) in shelf.iter().enumerate() {
        assert_eq!(book.id, books[i].id, "in key order");
        let expected: Vec<i32> = if marks.contains(&i) { vec![i as i32 % 5] } else { vec![] };
        assert_eq!(reviews.iter().map(|r| r.stars).collect::<Vec<_>>(), expected, "book {i}");
        assert!(reviews.iter().all(|r| r.book_id == book.id));
    }

    counter.reset();
    let by_book = Book::GENRES.with_deleted().load(&db, &books).await.unwrap();
    assert_eq!(counter.count(), 2, "two chunks");
    assert_eq!(by_book[0], genres[..1]);
    assert_eq!(by_book[chunk - 1][0].name, "last");
    assert_eq!(by_book[chunk][0].name, "last", "the deleted genre, requested, past the boundary");
    assert_eq!(by_book.iter().map(Vec::len).sum::<usize>(), 3);
    let live = Book::GENRES.load(&db, &books).await.unwrap();
    assert_eq!(live.iter().map(Vec::len).sum::<usize>(), 1, "by default the deleted genre is left out in both chunks");

    // Back up: every book's author, one distinct key, one statement.
    counter.reset();
    let up = Book::AUTHOR.then(Author::PROFILE).load(&db, &books).await.unwrap();
    assert_eq!(counter.count(), 2);
    assert!(up.iter().all(|a| matches!(a, Some((a, None)) if a.id == author.id)));
}

per_backend!(
    chains_return_the_nested_shape,
    chains_through_many_to_many,
    load_one_for_each_relation,
    soft_deleted_targets_on_request,
    many_to_many_through_columns,
    chains_across_chunk_boundaries
);

/// `through` called at run time (not as a constant, where a mistake is a compile error)
/// refuses swapped or repeated columns at once, naming the problem.
#[test]
fn through_refuses_wrong_columns_at_run_time() {
    let message = |f: fn()| {
        let panic = std::panic::catch_unwind(f).unwrap_err();
        panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap()
    };
    let swapped = message(|| {
        let _ = std::hint::black_box(ManyToMany::<Book, Genre>::through)(BookGenre::GENRE_ID, BookGenre::BOOK_ID);
    });
    assert!(swapped.contains("first column") && swapped.contains("columns swapped?"), "{swapped}");
    let swapped_to = message(|| {
        let _ = std::hint::black_box(ManyToMany::<Genre, Book>::through)(BookGenre::GENRE_ID, BookGenre::GENRE_ID);
    });
    assert!(swapped_to.contains("same column"), "{swapped_to}");
    // Right, and reversed for the other side: accepted.
    let _ = std::hint::black_box(ManyToMany::<Genre, Book>::through)(BookGenre::GENRE_ID, BookGenre::BOOK_ID);
    let _ = std::hint::black_box(ManyToMany::<User, User>::through)(Follow::FOLLOWEE_ID, Follow::FOLLOWER_ID);
}
