//! The SeaORM side of the comparisons (SQLite peers, PostgreSQL, MariaDB): its entities
//! written by hand for the bench's tables (same schema as almacen's models, which create the
//! tables), and each workload as a SeaORM user writes it.
//!
//! SeaORM 2 drives the same sqlx 0.9 as the raw side, so its SQLite driver links the same
//! libsqlite3-sys as everyone else.

use sea_orm::entity::prelude::*;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, QueryOrder as _, QuerySelect as _, Set};

pub mod item {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_items")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
        pub stock: i32,
        pub price: f64,
        pub active: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::post::Entity")]
        Post,
    }

    impl Related<super::post::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Post.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod post {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_posts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub user_id: i64,
        pub title: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(belongs_to = "super::user::Entity", from = "Column::UserId", to = "super::user::Column::Id")]
        User,
    }

    impl Related<super::user::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::User.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

/// A SeaORM connection with the pool the other sides have: `max_connections`, no ping
/// before handing a connection out (SeaORM's default pings on every acquire).
pub async fn connect(url: &str, max_connections: u32) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url);
    options.max_connections(max_connections).test_before_acquire(false);
    Database::connect(options).await.unwrap_or_else(|e| panic!("SeaORM connect {url}: {e}"))
}

/// SeaORM on a SQLite file (`Some`, with the journal mode and synchronous level every side
/// runs on) or in memory (`None`, one connection kept for the whole run), with the PRAGMAs
/// the other sides set and a pool of the same size.
pub async fn connect_sqlite(
    file: Option<(&std::path::Path, crate::sqlite_settings::SqliteFile)>,
    max_connections: u32,
) -> DatabaseConnection {
    let url = match file {
        Some((path, _)) => format!("sqlite://{}", path.display()),
        None => "sqlite::memory:".to_owned(),
    };
    let mut options = ConnectOptions::new(url);
    options.max_connections(max_connections).test_before_acquire(false);
    if let Some((_, settings)) = file {
        options.map_sqlx_sqlite_opts(move |o| settings.sqlx(o).foreign_keys(true).busy_timeout(std::time::Duration::from_secs(5)));
    } else {
        options
            .min_connections(1)
            .max_lifetime(None::<std::time::Duration>)
            .idle_timeout(None::<std::time::Duration>)
            .map_sqlx_sqlite_opts(|o| o.foreign_keys(true));
    }
    Database::connect(options).await.unwrap_or_else(|e| panic!("SeaORM connect {file:?}: {e}"))
}

/// The journal mode and synchronous level a SeaORM SQLite connection runs on.
pub async fn pragmas(db: &DatabaseConnection) -> (String, i64) {
    let stmt = sea_orm::Statement::from_string(sea_orm::DbBackend::Sqlite, crate::sqlite_settings::PRAGMAS_SQL);
    let row = sea_orm::ConnectionTrait::query_one_raw(db, stmt).await.unwrap().expect("a row");
    (row.try_get::<String>("", "journal_mode").unwrap(), row.try_get::<i64>("", "synchronous").unwrap())
}

pub async fn get(db: &DatabaseConnection, id: i64) -> Option<item::Model> {
    item::Entity::find_by_id(id).one(db).await.unwrap()
}

fn filtered(min_stock: i32) -> Select<item::Entity> {
    item::Entity::find().filter(item::Column::Stock.gt(min_stock)).order_by_asc(item::Column::Id)
}

pub async fn page(db: &DatabaseConnection, min_stock: i32, offset: u64) -> Vec<item::Model> {
    filtered(min_stock).limit(20).offset(offset).all(db).await.unwrap()
}

/// `page` numbered from 1, as almacen's; SeaORM's `fetch_page` counts from 0.
pub async fn paginate(db: &DatabaseConnection, min_stock: i32, page: u64) -> (Vec<item::Model>, u64) {
    let paginator = filtered(min_stock).paginate(db, 20);
    let total = paginator.num_items().await.unwrap();
    let items = paginator.fetch_page(page - 1).await.unwrap();
    (items, total)
}

/// The first 1,000 users and their posts through SeaORM's loader (one query for the users,
/// one for all their posts).
pub async fn eager(db: &DatabaseConnection) -> Vec<(user::Model, Vec<post::Model>)> {
    let users = user::Entity::find().order_by_asc(user::Column::Id).limit(1000).all(db).await.unwrap();
    let posts = users.load_many(post::Entity, db).await.unwrap();
    users.into_iter().zip(posts).collect()
}

pub async fn insert(db: &DatabaseConnection, name: &str, stock: i32) -> item::Model {
    item::ActiveModel { name: Set(name.to_owned()), stock: Set(stock), price: Set(1.5), active: Set(true), ..Default::default() }
        .insert(db)
        .await
        .unwrap()
}
