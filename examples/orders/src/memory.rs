//! An in-memory order repository: the double the service's unit tests run on.

use crate::model::{NewOrderItem, NewProduct, Order, OrderItem, Product};
use crate::service::{OrderData, OrderRepository};
use almacen::rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Every table, by key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tables {
    /// Products by id.
    pub products: HashMap<i64, Product>,
    /// Orders by id.
    pub orders: HashMap<i64, Order>,
    /// Order lines by id.
    pub items: HashMap<i64, OrderItem>,
    last_id: i64,
}

impl Tables {
    fn next_id(&mut self) -> i64 {
        self.last_id += 1;
        self.last_id
    }
}

/// The order repository in `HashMap`s behind a `Mutex`. A unit of work runs on a copy of
/// the tables that replaces them when it succeeds: a failed one leaves nothing behind.
/// (Concurrent units of work are not isolated from each other; the last to finish wins.
/// Enough for unit tests.)
#[derive(Debug, Default)]
pub struct InMemoryOrders {
    tables: Mutex<Tables>,
}

impl InMemoryOrders {
    /// Empty tables.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Add a product (test setup).
    pub fn add_product(&self, new: NewProduct) -> Product {
        let mut t = self.lock();
        let product = Product { id: t.next_id(), sku: new.sku, name: new.name, price: new.price, stock: new.stock };
        t.products.insert(product.id, product.clone());
        product
    }

    /// Every product, by id.
    pub fn products(&self) -> Vec<Product> {
        let mut all: Vec<Product> = self.lock().products.values().cloned().collect();
        all.sort_by_key(|p| p.id);
        all
    }

    /// A copy of every table, to compare before and after.
    pub fn snapshot(&self) -> Tables {
        self.lock().clone()
    }
}

impl OrderData for InMemoryOrders {
    async fn product_by_sku(&self, sku: &str) -> almacen::Result<Option<Product>> {
        Ok(self.lock().products.values().find(|p| p.sku == sku).cloned())
    }

    async fn take_stock(&self, product_id: i64, quantity: i32) -> almacen::Result<bool> {
        match self.lock().products.get_mut(&product_id) {
            Some(p) if p.stock >= quantity => {
                p.stock -= quantity;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn create_order(&self, customer: &str, total: Decimal) -> almacen::Result<Order> {
        let mut t = self.lock();
        let order = Order { id: t.next_id(), customer: customer.into(), total };
        t.orders.insert(order.id, order.clone());
        Ok(order)
    }

    async fn add_item(&self, new: NewOrderItem) -> almacen::Result<OrderItem> {
        let mut t = self.lock();
        // The constraints the real tables enforce.
        if !t.orders.contains_key(&new.order_id) || !t.products.contains_key(&new.product_id) {
            return Err(almacen::Error::NotFound);
        }
        if t.items.values().any(|i| i.order_id == new.order_id && i.product_id == new.product_id) {
            return Err(almacen::Error::other(format!("order {} already has product {}", new.order_id, new.product_id)));
        }
        let item = OrderItem {
            id: t.next_id(),
            order_id: new.order_id,
            product_id: new.product_id,
            quantity: new.quantity,
            unit_price: new.unit_price,
        };
        t.items.insert(item.id, item.clone());
        Ok(item)
    }

    async fn orders_of(&self, customer: &str) -> almacen::Result<Vec<Order>> {
        let mut orders: Vec<Order> = self.lock().orders.values().filter(|o| o.customer == customer).cloned().collect();
        orders.sort_by_key(|o| o.id);
        Ok(orders)
    }
}

impl OrderRepository for InMemoryOrders {
    type Tx<'t> = InMemoryOrders;

    async fn unit_of_work<T, F>(&self, work: F) -> almacen::Result<T>
    where
        F: AsyncFnOnce(&Self::Tx<'_>) -> almacen::Result<T>,
    {
        let tx = InMemoryOrders { tables: Mutex::new(self.snapshot()) };
        let out = work(&tx).await?;
        *self.lock() = tx.tables.into_inner().unwrap_or_else(|p| p.into_inner());
        Ok(out)
    }
}
