//! The example shop service: accounts (from `almacen_web::accounts`), products, and orders
//! placed in one unit of work that checks and takes stock.
//!
//! - [`models`]: `Product` (soft delete), `Order`, `OrderItem`, and [`models::TABLES`] with the
//!   accounts' tables.
//! - [`orders`]: [`orders::place_order`] and the `/orders` routes.

pub mod models;
pub mod orders;
