//! Products over HTTP: the CRUD resource of [`Product`] (public reads; writes, delete and
//! restore for the `admin` role), with the contract's rules as the inputs' schemas.

use crate::models::{NewProduct, Product};
use almacen::chrono::{DateTime, Utc};
use almacen::{Field, Patch};
use almacen_web::Validate;
use almacen_web::resource::{CreateInput, Op, PatchInput, ReplaceInput, Resource};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most rows a list page may hold (`page_size` above it is a 422).
pub const MAX_PAGE_SIZE: u64 = 100;

/// A product as a client reads it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ProductOut {
    /// Generated key.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Unique stock-keeping unit.
    pub sku: String,
    /// Optional description.
    pub description: Option<String>,
    /// Unit price.
    pub price: f64,
    /// Units on hand.
    pub stock: i64,
    /// When created (UTC).
    pub created_at: DateTime<Utc>,
    /// When last changed (UTC).
    pub updated_at: DateTime<Utc>,
}

impl From<Product> for ProductOut {
    fn from(p: Product) -> Self {
        ProductOut {
            id: p.id,
            name: p.name,
            sku: p.sku,
            description: p.description,
            price: p.price,
            stock: p.stock,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A new product (`POST /products`), or all of a product's fields (`PUT /products/{id}`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductIn {
    /// 1–200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// 1–64 of letters, digits, `.`, `_`, `-`; unique.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$")]
    pub sku: String,
    /// At most 2000 characters, or null.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// Finite, ≥ 0.
    #[schema(minimum = 0)]
    pub price: f64,
    /// Units on hand, ≥ 0.
    #[schema(minimum = 0)]
    pub stock: i64,
}

impl Validate for ProductIn {}

impl CreateInput<Product> for ProductIn {
    fn into_new(self) -> NewProduct {
        NewProduct { name: self.name, sku: self.sku, description: self.description, price: self.price, stock: self.stock }
    }
}

impl ReplaceInput<Product> for ProductIn {
    fn apply(self, row: &mut Product) -> almacen::Result<()> {
        row.name = self.name;
        row.sku = self.sku;
        row.description = self.description;
        row.price = self.price;
        row.stock = self.stock;
        Ok(())
    }
}

/// Some of a product's fields (`PATCH /products/{id}`): an absent field is kept; null sets
/// `description` to null (null for another field is a 422: the schema does not allow it).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    /// 1–200 characters.
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub name: Field<String>,
    /// 1–64 of letters, digits, `.`, `_`, `-`; unique.
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$")]
    pub sku: Field<String>,
    /// At most 2000 characters, or null.
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub description: Field<String>,
    /// Finite, ≥ 0.
    #[serde(default)]
    #[schema(value_type = f64, minimum = 0)]
    pub price: Field<f64>,
    /// Units on hand, ≥ 0.
    #[serde(default)]
    #[schema(value_type = i64, minimum = 0)]
    pub stock: Field<i64>,
}

impl Validate for ProductPatch {}

fn not_null(column: &str) -> almacen::Error {
    almacen::Error::InvalidValue { column: column.into(), message: "cannot be null".into() }
}

impl PatchInput<Product> for ProductPatch {
    fn into_patch(self, key: i64) -> almacen::Result<Patch<Product>> {
        let mut patch = Product::patch(key);
        match self.name {
            Field::Absent => {}
            Field::Null => return Err(not_null("name")),
            Field::Value(v) => patch = patch.set(Product::NAME, v),
        }
        match self.sku {
            Field::Absent => {}
            Field::Null => return Err(not_null("sku")),
            Field::Value(v) => patch = patch.set(Product::SKU, v),
        }
        match self.description {
            Field::Absent => {}
            Field::Null => patch = patch.set(Product::DESCRIPTION, None),
            Field::Value(v) => patch = patch.set(Product::DESCRIPTION, Some(v)),
        }
        match self.price {
            Field::Absent => {}
            Field::Null => return Err(not_null("price")),
            Field::Value(v) => patch = patch.set(Product::PRICE, v),
        }
        match self.stock {
            Field::Absent => {}
            Field::Null => return Err(not_null("stock")),
            Field::Value(v) => patch = patch.set(Product::STOCK, v),
        }
        Ok(patch)
    }
}

/// The products resource: `GET /products` (filters `min_price`, `max_price`,
/// `name_contains`; `sort` by name, price, stock, created_at or id; pages of at most
/// [`MAX_PAGE_SIZE`]), `GET /products/{id}`, and for admins `POST`, `PUT`, `PATCH`,
/// `DELETE` (soft) and `POST /products/{id}/restore`.
pub fn resource() -> Resource<Product, ProductOut> {
    Resource::new("/products")
        .create::<ProductIn>()
        .replace::<ProductIn>()
        .patch::<ProductPatch>()
        .delete()
        .sortable(&["name", "price", "stock", "created_at", "id"])
        .filter("min_price", "price", Op::Ge)
        .filter("max_price", "price", Op::Le)
        .filter("name_contains", "name", Op::Contains)
        .page_size(20, MAX_PAGE_SIZE)
        .write_role("admin")
}
