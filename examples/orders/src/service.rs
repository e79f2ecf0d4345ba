//! The order service and the repository traits it depends on.

use crate::model::{NewOrderItem, Order, OrderItem, Product};
use almacen::rust_decimal::Decimal;
use std::fmt;
use std::future::Future;

/// The reads and writes placing an order needs, on pooled connections or inside a unit of
/// work. Implemented over almacen ([`SqlOrders`](crate::SqlOrders)) and in memory
/// ([`InMemoryOrders`](crate::InMemoryOrders)).
pub trait OrderData: Sync {
    /// The product with this SKU, if any.
    fn product_by_sku(&self, sku: &str) -> impl Future<Output = almacen::Result<Option<Product>>> + Send;

    /// Take `quantity` units of a product's stock if it has that many; false (and nothing
    /// taken) otherwise. Checked and taken in one step, so concurrent orders cannot oversell.
    fn take_stock(&self, product_id: i64, quantity: i32) -> impl Future<Output = almacen::Result<bool>> + Send;

    /// Write a new order.
    fn create_order(&self, customer: &str, total: Decimal) -> impl Future<Output = almacen::Result<Order>> + Send;

    /// Write one line of an order.
    fn add_item(&self, item: NewOrderItem) -> impl Future<Output = almacen::Result<OrderItem>> + Send;

    /// A customer's orders, oldest first.
    fn orders_of(&self, customer: &str) -> impl Future<Output = almacen::Result<Vec<Order>>> + Send;
}

/// What [`OrderService`] depends on: the data operations, and units of work over them.
pub trait OrderRepository: OrderData {
    /// The data operations inside one unit of work.
    type Tx<'t>: OrderData;

    /// Run `work` as one unit of work: everything it wrote is kept when it returns `Ok`,
    /// nothing when it returns `Err`.
    fn unit_of_work<T, F>(&self, work: F) -> impl Future<Output = almacen::Result<T>>
    where
        F: AsyncFnOnce(&Self::Tx<'_>) -> almacen::Result<T>;
}

/// One line of an order request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    /// What to order.
    pub sku: String,
    /// How many (at least 1).
    pub quantity: i32,
}

impl OrderLine {
    /// `quantity` units of `sku`.
    pub fn new(sku: impl Into<String>, quantity: i32) -> Self {
        OrderLine { sku: sku.into(), quantity }
    }
}

/// An order as placed, with its lines.
#[derive(Debug, Clone, PartialEq)]
pub struct PlacedOrder {
    /// The order row.
    pub order: Order,
    /// Its lines, in request order.
    pub items: Vec<OrderItem>,
}

/// Why an order was not placed. Nothing of it was written in any case.
#[derive(Debug)]
pub enum OrderError {
    /// No lines, or a quantity below 1.
    InvalidRequest(String),
    /// No product has this SKU.
    UnknownProduct(String),
    /// Not enough stock for a line.
    OutOfStock {
        /// The product.
        sku: String,
        /// Units asked for.
        requested: i32,
        /// Units on hand when checked.
        available: i32,
    },
    /// The storage failed (boxed: almacen's error is large, and refusals are the common case).
    Storage(Box<almacen::Error>),
}

impl fmt::Display for OrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderError::InvalidRequest(why) => write!(f, "invalid order: {why}"),
            OrderError::UnknownProduct(sku) => write!(f, "no product {sku}"),
            OrderError::OutOfStock { sku, requested, available } => {
                write!(f, "not enough {sku}: {requested} requested, {available} available")
            }
            OrderError::Storage(e) => write!(f, "storage error: {e}"),
        }
    }
}

impl std::error::Error for OrderError {}

/// A refusal raised inside a unit of work travels out as `almacen::Error::Other` (so the
/// unit rolls back) and is unwrapped again here.
impl From<almacen::Error> for OrderError {
    fn from(e: almacen::Error) -> Self {
        match e {
            almacen::Error::Other(inner) => match inner.downcast::<OrderError>() {
                Ok(refusal) => *refusal,
                Err(other) => OrderError::Storage(Box::new(almacen::Error::Other(other))),
            },
            e => OrderError::Storage(Box::new(e)),
        }
    }
}

/// Refuse inside a unit of work: the error rolls it back.
fn refuse(e: OrderError) -> almacen::Error {
    almacen::Error::other(e)
}

/// Places orders: takes stock, writes the order and its lines, all or nothing.
#[derive(Debug)]
pub struct OrderService<R> {
    repo: R,
}

impl<R: OrderRepository> OrderService<R> {
    /// A service over `repo`.
    pub fn new(repo: R) -> Self {
        OrderService { repo }
    }

    /// The repository, for reads the service does not wrap.
    pub fn repository(&self) -> &R {
        &self.repo
    }

    /// Place an order for `customer`: for each line take the stock, then write the order
    /// and its lines, in one unit of work. Lines of the same SKU are merged. On any error
    /// nothing is written.
    pub async fn place_order(&self, customer: &str, lines: &[OrderLine]) -> Result<PlacedOrder, OrderError> {
        let lines = merged(lines)?;
        let placed = self
            .repo
            .unit_of_work(async |repo| {
                let mut taken = Vec::with_capacity(lines.len());
                for line in &lines {
                    taken.push((take(repo, line).await?, line.quantity));
                }
                let total = taken.iter().map(|(p, q)| p.price * Decimal::from(*q)).sum();
                let order = repo.create_order(customer, total).await?;
                let mut items = Vec::with_capacity(taken.len());
                for (product, quantity) in taken {
                    let item = NewOrderItem { order_id: order.id, product_id: product.id, quantity, unit_price: product.price };
                    items.push(repo.add_item(item).await?);
                }
                Ok(PlacedOrder { order, items })
            })
            .await?;
        Ok(placed)
    }

    /// A customer's orders, oldest first.
    pub async fn orders_of(&self, customer: &str) -> Result<Vec<Order>, OrderError> {
        Ok(self.repo.orders_of(customer).await?)
    }
}

/// Take one line's stock; the product it was taken from.
async fn take(repo: &impl OrderData, line: &OrderLine) -> almacen::Result<Product> {
    let product = repo.product_by_sku(&line.sku).await?.ok_or_else(|| refuse(OrderError::UnknownProduct(line.sku.clone())))?;
    if !repo.take_stock(product.id, line.quantity).await? {
        return Err(refuse(OrderError::OutOfStock { sku: line.sku.clone(), requested: line.quantity, available: product.stock }));
    }
    Ok(product)
}

/// The request's lines with one line per SKU (first appearance order), checked.
fn merged(lines: &[OrderLine]) -> Result<Vec<OrderLine>, OrderError> {
    if lines.is_empty() {
        return Err(OrderError::InvalidRequest("no lines".into()));
    }
    let mut out: Vec<OrderLine> = Vec::with_capacity(lines.len());
    for line in lines {
        if line.quantity < 1 {
            return Err(OrderError::InvalidRequest(format!("quantity {} of {}", line.quantity, line.sku)));
        }
        match out.iter_mut().find(|l| l.sku == line.sku) {
            Some(same) => same.quantity += line.quantity,
            None => out.push(line.clone()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryOrders;
    use crate::model::NewProduct;

    fn shop() -> OrderService<InMemoryOrders> {
        let repo = InMemoryOrders::new();
        repo.add_product(NewProduct { sku: "LAMP".into(), name: "Lamp".into(), price: Decimal::new(1990, 2), stock: 5 });
        repo.add_product(NewProduct { sku: "DESK".into(), name: "Desk".into(), price: Decimal::new(14900, 2), stock: 1 });
        OrderService::new(repo)
    }

    fn stock(service: &OrderService<InMemoryOrders>) -> Vec<(String, i32)> {
        service.repository().products().into_iter().map(|p| (p.sku, p.stock)).collect()
    }

    #[tokio::test]
    async fn places_an_order_and_takes_the_stock() {
        let service = shop();
        let placed = service.place_order("ada", &[OrderLine::new("LAMP", 2), OrderLine::new("DESK", 1)]).await.unwrap();
        assert_eq!(placed.order.total, Decimal::new(18880, 2));
        let lines: Vec<(i64, i32)> = placed.items.iter().map(|i| (i.order_id, i.quantity)).collect();
        assert_eq!(lines, [(placed.order.id, 2), (placed.order.id, 1)]);
        assert_eq!(stock(&service), [("LAMP".to_string(), 3), ("DESK".to_string(), 0)]);
        assert_eq!(service.orders_of("ada").await.unwrap(), [placed.order]);
    }

    #[tokio::test]
    async fn a_refused_order_leaves_nothing_behind() {
        let service = shop();
        let before = service.repository().snapshot();
        // LAMP's stock is taken before DESK is found short: the unit of work undoes it.
        let err = service.place_order("bob", &[OrderLine::new("LAMP", 1), OrderLine::new("DESK", 2)]).await.unwrap_err();
        assert!(matches!(&err, OrderError::OutOfStock { sku, requested: 2, available: 1 } if sku == "DESK"), "{err}");
        assert_eq!(service.repository().snapshot(), before);
        let err = service.place_order("bob", &[OrderLine::new("LAMP", 1), OrderLine::new("SOFA", 1)]).await.unwrap_err();
        assert!(matches!(&err, OrderError::UnknownProduct(sku) if sku == "SOFA"), "{err}");
        assert_eq!(service.repository().snapshot(), before);
        assert!(service.orders_of("bob").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn lines_of_one_sku_are_merged_and_bad_requests_refused() {
        let service = shop();
        let placed = service.place_order("cy", &[OrderLine::new("LAMP", 2), OrderLine::new("LAMP", 3)]).await.unwrap();
        assert_eq!(placed.items.len(), 1);
        assert_eq!(placed.items[0].quantity, 5);
        assert_eq!(stock(&service)[0], ("LAMP".to_string(), 0));
        assert!(matches!(service.place_order("cy", &[]).await, Err(OrderError::InvalidRequest(_))));
        assert!(matches!(service.place_order("cy", &[OrderLine::new("DESK", 0)]).await, Err(OrderError::InvalidRequest(_))));
    }
}
