//! The order repository over almacen: specific repositories built on
//! [`almacen::Repository`], bound to a `Database` or to the `Transaction` of a unit of work.

use crate::model::{NewOrder, NewOrderItem, Order, OrderItem, Product};
use crate::service::{OrderData, OrderRepository};
use almacen::prelude::*;
use std::ops::Deref;

/// Products: the generic operations (through `Deref`) plus queries of their own.
pub struct ProductRepo<'e, E>(Repository<'e, Product, E>);

impl<'e, E: Executor> ProductRepo<'e, E> {
    /// Products on `db`.
    pub fn new(db: &'e E) -> Self {
        ProductRepo(Repository::new(db))
    }

    /// The product with this SKU, if any.
    pub async fn find_by_sku(&self, sku: &str) -> almacen::Result<Option<Product>> {
        Product::select().filter(Product::SKU.eq(sku)).fetch_optional(self.executor()).await
    }

    /// `stock = stock - quantity` where at least `quantity` is left: one statement, so two
    /// orders cannot both take the last unit. True when the stock was taken.
    pub async fn take_stock(&self, id: i64, quantity: i32) -> almacen::Result<bool> {
        let enough = Product::ID.eq(id).and(Product::STOCK.ge(quantity));
        Ok(Product::update_where(enough).add(Product::STOCK, -quantity).execute(self.executor()).await? == 1)
    }
}

impl<'e, E> Deref for ProductRepo<'e, E> {
    type Target = Repository<'e, Product, E>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// The shop's repositories on one executor. Made from a `&Database` it runs on pooled
/// connections; [`unit_of_work`](OrderRepository::unit_of_work) makes one from the
/// `&Transaction` it opens.
pub struct SqlOrders<'e, E> {
    /// Products.
    pub products: ProductRepo<'e, E>,
    /// Orders.
    pub orders: Repository<'e, Order, E>,
    /// Order lines.
    pub items: Repository<'e, OrderItem, E>,
}

impl<'e, E: Executor> SqlOrders<'e, E> {
    /// Every repository on `db`.
    pub fn new(db: &'e E) -> Self {
        SqlOrders { products: ProductRepo::new(db), orders: Repository::new(db), items: Repository::new(db) }
    }
}

impl<E: Executor> OrderData for SqlOrders<'_, E> {
    async fn product_by_sku(&self, sku: &str) -> almacen::Result<Option<Product>> {
        self.products.find_by_sku(sku).await
    }

    async fn take_stock(&self, product_id: i64, quantity: i32) -> almacen::Result<bool> {
        self.products.take_stock(product_id, quantity).await
    }

    async fn create_order(&self, customer: &str, total: Decimal) -> almacen::Result<Order> {
        self.orders.create(NewOrder { customer: customer.into(), total }).await
    }

    async fn add_item(&self, item: NewOrderItem) -> almacen::Result<OrderItem> {
        self.items.create(item).await
    }

    async fn orders_of(&self, customer: &str) -> almacen::Result<Vec<Order>> {
        self.orders.list(Order::select().filter(Order::CUSTOMER.eq(customer)).order_by(Order::ID.asc())).await
    }
}

/// Units of work are transactions: the repositories inside are bound to it, and the
/// closure's error rolls everything back.
impl OrderRepository for SqlOrders<'_, Database> {
    type Tx<'t> = SqlOrders<'t, Transaction>;

    async fn unit_of_work<T, F>(&self, work: F) -> almacen::Result<T>
    where
        F: AsyncFnOnce(&Self::Tx<'_>) -> almacen::Result<T>,
    {
        self.orders.executor().transaction(async |tx| work(&SqlOrders::new(tx)).await).await
    }
}
