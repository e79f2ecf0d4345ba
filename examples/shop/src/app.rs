//! The shop's whole HTTP application: accounts, products, orders, health, and the OpenAPI
//! document with Swagger UI (`/docs`) and ReDoc (`/redoc`), in one router; and its schema
//! migrations, applied at start-up.

use crate::{orders, products};
use almacen::Database;
use almacen_migrate::graph::Migrations;
use almacen_web::ApiDoc;
use almacen_web::accounts::{self, AccountsOptions};
use almacen_web::auth::TokenConfig;
use axum::{Extension, Router};

/// The shop's revisions (folder `examples/shop/migrations`), built into the binary.
pub const MIGRATIONS: &[(&str, &str)] = almacen_migrate::embed_migrations!("../migrations", ["1eee94a3579a_init.toml"]);

/// The document of every route the shop serves.
///
/// ```
/// let doc = shop::app::openapi_document();
/// assert!(doc.paths.paths.contains_key("/products/{id}"));
/// ```
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    api_doc().into_openapi()
}

fn api_doc() -> ApiDoc {
    ApiDoc::new("almacen shop", env!("CARGO_PKG_VERSION"))
        .description(
            "The example service of almacen-web: accounts with roles, products (soft delete, filters, pages) \
             and orders placed in one unit of work that checks and takes stock.",
        )
        .merge(accounts::openapi())
        .merge(products::resource().openapi())
        .merge(orders::openapi())
        .with_metrics()
}

/// The application (without the service layers: request ids, timeouts, limits, CORS, which
/// `main` adds from its settings).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
/// let db = almacen::Database::connect("sqlite::memory:").await?;
/// let app: axum::Router = shop::app::router(db, almacen_web::auth::TokenConfig::hs256(b"a secret of the shop"));
/// # Ok(()) }
/// ```
pub fn router(db: Database, tokens: TokenConfig) -> Router {
    Router::new()
        .merge(accounts::routes(db.clone(), tokens.clone(), AccountsOptions::default()))
        .merge(products::resource().router(db.clone()))
        .merge(orders::routes(db.clone(), tokens.clone()))
        .merge(almacen_web::service_routes(db.clone()))
        .merge(api_doc().routes())
        // Role guards ask the database, not the token: a deleted or demoted admin loses
        // write access at once, not when the token expires.
        // One `layer` call for both (each call boxes every route again).
        .layer((Extension(accounts::DatabaseRoles::shared(db)), Extension(tokens)))
}

/// Brings the database's schema to the shop's head revision (every instance may call it at
/// once: the runner takes a lock per revision).
pub async fn migrate(db: &Database) -> Result<(), almacen_migrate::runner::MigrateError> {
    let migrations = Migrations::from_embedded(MIGRATIONS)?;
    almacen_migrate::upgrade_to_head(db, &migrations).await?;
    Ok(())
}
