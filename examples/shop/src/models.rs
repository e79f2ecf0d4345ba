//! The shop's tables: products, orders and their items (users and roles come from
//! `almacen_web::accounts`).

use almacen::prelude::*;
use almacen_web::accounts;
use serde::Serialize;

/// Something the shop sells. Soft-deleted products are hidden from every query (and cannot
/// be ordered) until restored.
#[derive(Model, Debug, Clone, PartialEq, Serialize)]
#[model(table = "products")]
pub struct Product {
    /// Generated key.
    #[model(primary_key, auto)]
    pub id: i64,
    /// Display name, 1–200 characters.
    #[model(max_len = 200)]
    pub name: String,
    /// Unique stock-keeping unit, 1–64 characters.
    #[model(unique, max_len = 64)]
    pub sku: String,
    /// Optional description, at most 2000 characters.
    #[model(max_len = 2000)]
    pub description: Option<String>,
    /// Unit price (finite, ≥ 0).
    pub price: f64,
    /// Units on hand (≥ 0).
    pub stock: i64,
    /// When created (UTC).
    #[model(created_at)]
    pub created_at: DateTime<Utc>,
    /// When last changed (UTC).
    #[model(updated_at)]
    pub updated_at: DateTime<Utc>,
    /// When soft-deleted, if it is.
    #[model(soft_delete)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// An order placed by a user.
#[derive(Model, Debug, Clone, PartialEq, Serialize)]
#[model(table = "orders")]
pub struct Order {
    /// Generated key.
    #[model(primary_key, auto)]
    pub id: i64,
    /// Who placed it; null once that user deleted the account (the order stays, for the
    /// shop's books).
    #[model(references = "users.id", on_delete = "set_null", index)]
    pub user_id: Option<i64>,
    /// When it was placed (UTC).
    #[model(created_at)]
    pub created_at: DateTime<Utc>,
    /// The sum of its items' quantity × unit price (the exact `f64` sum, not rounded).
    pub total: f64,
}

/// One product line of an order.
#[derive(Model, Debug, Clone, PartialEq, Serialize)]
#[model(table = "order_items", unique("order_id", "product_id"))]
pub struct OrderItem {
    /// Generated key.
    #[model(primary_key, auto)]
    pub id: i64,
    /// The order.
    #[model(references = "orders.id", on_delete = "cascade")]
    pub order_id: i64,
    /// The product.
    #[model(references = "products.id")]
    pub product_id: i64,
    /// How many (≥ 1).
    pub quantity: i64,
    /// The product's price when the order was placed.
    pub unit_price: f64,
}

/// Every table of the shop, the accounts' included, in foreign-key order: for migrations
/// and `create_tables`.
pub const TABLES: &[&almacen::TableMeta] =
    &[accounts::User::TABLE, accounts::Role::TABLE, accounts::UserRole::TABLE, Product::TABLE, Order::TABLE, OrderItem::TABLE];
