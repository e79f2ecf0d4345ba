//! The example shop service: accounts (from `almacen_web::accounts`), products, and orders
//! placed in one unit of work that checks and takes stock.
//!
//! - [`models`]: `Product` (soft delete), `Order`, `OrderItem`, and [`models::TABLES`] with the
//!   accounts' tables.
//! - [`products`]: the products resource (public reads, admin writes, soft delete and restore).
//! - [`orders`]: [`orders::place_order`] and the `/orders` routes.
//! - [`app`]: the whole router, the OpenAPI document, and the migrations applied at start-up.

pub mod app;
pub mod models;
pub mod orders;
pub mod products;
