//! The shop's tables.

use almacen::prelude::*;

/// Something the shop sells.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "shop_products")]
pub struct Product {
    /// Generated key.
    #[model(primary_key, auto)]
    pub id: i64,
    /// The code customers order by.
    #[model(max_len = 64, unique)]
    pub sku: String,
    /// Display name.
    #[model(max_len = 200)]
    pub name: String,
    /// Unit price.
    #[model(decimal(12, 2))]
    pub price: Decimal,
    /// Units on hand.
    pub stock: i32,
}

/// A placed order.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "shop_orders")]
pub struct Order {
    /// Generated key.
    #[model(primary_key, auto)]
    pub id: i64,
    /// Who ordered.
    #[model(max_len = 120, index)]
    pub customer: String,
    /// Sum of the items' prices.
    #[model(decimal(12, 2))]
    pub total: Decimal,
}

/// One product line of an order.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "shop_order_items", unique("order_id", "product_id"))]
pub struct OrderItem {
    /// Generated key.
    #[model(primary_key, auto)]
    pub id: i64,
    /// The order it belongs to.
    #[model(references = "shop_orders.id", on_delete = "cascade")]
    pub order_id: i64,
    /// What was ordered.
    #[model(references = "shop_products.id")]
    pub product_id: i64,
    /// How many.
    pub quantity: i32,
    /// The price per unit when ordered.
    #[model(decimal(12, 2))]
    pub unit_price: Decimal,
}

/// Every table of the shop, in foreign-key order.
pub const TABLES: [&almacen::TableMeta; 3] = [Product::TABLE, Order::TABLE, OrderItem::TABLE];
