//! Orders: [`place_order`] checks and takes stock for every item and writes the order in
//! one transaction, and the `/orders` routes serve it to the signed-in user.
//!
//! | route | answer |
//! |---|---|
//! | `POST /orders` `{"items": [{"product_id", "quantity"}]}` | 201 + the order (and `Location`) |
//! | `GET /orders/{id}` | the caller's order; 404 for an order that is not theirs |
//! | `GET /orders?page=&page_size=` | the caller's orders, newest first, in the page envelope |
//!
//! Placing an order: items empty or a quantity below 1 → 422 naming the field; an unknown
//! or soft-deleted product → **422** naming `items[i].product_id` (the body refers to
//! something that does not exist; a 404 would read as "no such route or order"); not
//! enough stock → 409 naming the product, and nothing changes. Stock is taken with a
//! guarded update (`stock = stock - q WHERE id = ? AND stock >= q`), so of concurrent
//! orders for the last unit exactly one succeeds. Lines for the same product are merged.

use crate::models::{NewOrder, NewOrderItem, Order, OrderItem, Product};
use almacen::Database;
use almacen::prelude::*;
use almacen_web::accounts::User;
use almacen_web::auth::{CurrentUser, TokenConfig};
use almacen_web::validate::{Valid, Validate};
use almacen_web::{ApiError, Id, Json, Path, Query};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};
use utoipa::openapi::HttpMethod;

/// One line of an order request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub struct OrderLine {
    /// The product's id.
    #[schema(minimum = 1)]
    pub product_id: i64,
    /// How many, at least 1.
    #[schema(minimum = 1)]
    pub quantity: i64,
}

/// The most lines one order may have ([`PlaceOrderRequest::items`]); more is a 422 naming
/// `items`.
///
/// ```
/// assert_eq!(shop::orders::MAX_ORDER_LINES, 100);
/// ```
pub const MAX_ORDER_LINES: usize = 100;

/// The body of `POST /orders`: one to [`MAX_ORDER_LINES`] lines.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub struct PlaceOrderRequest {
    /// The lines, 1 to 100.
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<OrderLine>,
}

impl Validate for PlaceOrderRequest {}

/// An order as the API returns it, with its items.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OrderOut {
    /// The order's id.
    pub id: i64,
    /// Who placed it (null once that user deleted the account).
    pub user_id: Option<i64>,
    /// When it was placed, UTC.
    pub created_at: DateTime<Utc>,
    /// The sum of the items' quantity × unit price, exactly as `f64` arithmetic gives it
    /// (not rounded: it always agrees with the lines).
    pub total: f64,
    /// The lines, by product id.
    pub items: Vec<OrderItemOut>,
}

/// One line of an [`OrderOut`].
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OrderItemOut {
    /// The product.
    pub product_id: i64,
    /// How many.
    pub quantity: i64,
    /// The price per unit when ordered.
    pub unit_price: f64,
}

impl OrderOut {
    fn new(order: Order, mut items: Vec<OrderItem>) -> Self {
        items.sort_by_key(|i| i.product_id);
        OrderOut {
            id: order.id,
            user_id: order.user_id,
            created_at: order.created_at,
            total: order.total,
            items: items
                .into_iter()
                .map(|i| OrderItemOut { product_id: i.product_id, quantity: i.quantity, unit_price: i.unit_price })
                .collect(),
        }
    }
}

fn invalid() -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid input")
}

/// Check the lines (422s naming `items` or `items[i].quantity` / `items[i].product_id`) and
/// merge the lines of the same product, in product-id order (the order stock is taken in,
/// so concurrent orders lock rows in one order).
fn merged_lines(items: &[OrderLine]) -> Result<Vec<(i64, i64, usize)>, ApiError> {
    if items.is_empty() {
        return Err(invalid().with_error(Some("items"), "must have at least 1 item", "too_short"));
    }
    if items.len() > MAX_ORDER_LINES {
        return Err(invalid().with_error(Some("items"), format!("must have at most {MAX_ORDER_LINES} items"), "too_long"));
    }
    let mut err = invalid();
    for (i, line) in items.iter().enumerate() {
        if line.product_id < 1 {
            err = err.with_error(Some(format!("items[{i}].product_id")), "must be at least 1", "minimum");
        }
        if line.quantity < 1 {
            err = err.with_error(Some(format!("items[{i}].quantity")), "must be at least 1", "minimum");
        }
    }
    if !err.errors().is_empty() {
        return Err(err);
    }
    // (product id, quantity, index of its first line)
    let mut merged: Vec<(i64, i64, usize)> = Vec::new();
    for (i, line) in items.iter().enumerate() {
        match merged.iter_mut().find(|m| m.0 == line.product_id) {
            Some(m) => {
                m.1 = m.1.checked_add(line.quantity).ok_or_else(|| {
                    invalid().with_error(
                        Some(format!("items[{i}].quantity")),
                        "the quantities of one product add up to too many",
                        "maximum",
                    )
                })?
            }
            None => merged.push((line.product_id, line.quantity, i)),
        }
    }
    merged.sort_by_key(|m| m.0);
    Ok(merged)
}

/// Place an order for `user_id`: in one transaction, take each product's stock with a
/// guarded update (so concurrent orders cannot oversell), then write the order and its
/// items at the products' current prices. On any failure nothing is written:
///
/// - no items, or a quantity below 1 → 422 naming the field;
/// - an unknown or soft-deleted product → 422 naming `items[i].product_id`;
/// - not enough stock → 409 naming the product (`items[i].quantity`, type
///   `insufficient_stock`);
/// - a total that is not a finite `f64` (huge prices × quantities) → 422 naming `items`;
/// - the user `user_id` gone (deleted meanwhile) → 401 `invalid or expired token`: the
///   user's row is read with a shared lock (`FOR SHARE`) inside the transaction, so a
///   concurrent account deletion either waits for the order or is seen by it.
///
/// The total is the exact `f64` sum of the lines' `quantity × unit_price`, in product-id
/// order, with no rounding.
///
/// ```
/// use shop::models::{NewProduct, Product, TABLES};
/// use shop::orders::{OrderLine, place_order};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = almacen::Database::connect("sqlite::memory:").await?;
/// db.create_tables(TABLES).await?;
/// let ana = almacen_web::accounts::ensure_admin(&db, "ana", "Secret123").await.map_err(|e| e.detail().to_string())?;
/// let lamp = Product::insert(&db, NewProduct { name: "Lamp".into(), sku: "LAMP".into(), description: None,
///                                              price: 19.9, stock: 1 }).await?;
/// let line = OrderLine { product_id: lamp.id, quantity: 1 };
/// let order = place_order(&db, ana.id, &[line]).await.map_err(|e| e.detail().to_string())?;
/// assert_eq!(order.total, 19.9);
/// let e = place_order(&db, ana.id, &[line]).await.unwrap_err();
/// assert_eq!(e.status().as_u16(), 409);
/// # Ok(()) }
/// ```
pub async fn place_order(db: &Database, user_id: i64, items: &[OrderLine]) -> Result<OrderOut, ApiError> {
    let lines = merged_lines(items)?;
    let tx = db.begin().await?;
    // The user first, locked for share: a concurrent DELETE /users/me waits for this order
    // (and then sets its user_id to null), or went first and the order sees no user.
    User::select().filter(User::ID.eq(user_id)).for_share().fetch_optional(&tx).await?.ok_or_else(stale_token)?;
    let mut products = Vec::with_capacity(lines.len());
    for &(product_id, quantity, at) in &lines {
        let taken = Product::update_where(Product::ID.eq(product_id).and(Product::STOCK.ge(quantity)))
            .add(Product::STOCK, -quantity)
            .execute(&tx)
            .await?;
        let product = Product::get(&tx, product_id).await?;
        match (taken, product) {
            (1, Some(p)) => products.push((p, quantity)),
            (_, None) => {
                return Err(invalid().with_error(Some(format!("items[{at}].product_id")), format!("no product {product_id}"), "not_found"));
            }
            (_, Some(p)) => {
                // `tx` is dropped unfinished: everything taken so far is rolled back.
                return Err(ApiError::new(StatusCode::CONFLICT, format!("insufficient stock for product {} ({})", p.id, p.sku))
                    .with_error(
                        Some(format!("items[{at}].quantity")),
                        format!("only {} in stock of product {}", p.stock, p.id),
                        "insufficient_stock",
                    ));
            }
        }
    }
    let total: f64 = products.iter().map(|(p, q)| p.price * *q as f64).sum();
    if !total.is_finite() {
        return Err(invalid().with_error(Some("items"), "the order's total is too large", "too_large"));
    }
    let order = Order::insert(&tx, NewOrder { user_id: Some(user_id), total }).await?;
    let rows =
        products.iter().map(|(p, q)| NewOrderItem { order_id: order.id, product_id: p.id, quantity: *q, unit_price: p.price }).collect();
    let items = OrderItem::insert_many(&tx, rows).await?;
    tx.commit().await?;
    Ok(OrderOut::new(order, items))
}

/// The caller's user id, checked against the database (a deleted user's token is a 401).
async fn caller_id(db: &Database, caller: &CurrentUser) -> Result<i64, ApiError> {
    let id: i64 = caller.subject().parse().map_err(|_| stale_token())?;
    User::get(db, id).await?.ok_or_else(stale_token)?;
    Ok(id)
}

/// The 401 of a token whose user is gone.
fn stale_token() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, almacen_web::auth::INVALID_TOKEN_DETAIL).with_www_authenticate("Bearer error=\"invalid_token\"")
}

#[utoipa::path(post, path = "/orders", tag = "orders",
    request_body = PlaceOrderRequest,
    responses((status = 201, description = "The order placed", body = OrderOut,
               headers(("location" = String, description = "The order's URL")))),
    security(("bearer" = []), ("oauth2_password" = [])))]
async fn post_order(State(db): State<Database>, caller: CurrentUser, Valid(body): Valid<PlaceOrderRequest>) -> Result<Response, ApiError> {
    // Checked again inside the order's transaction (with a lock): this one only answers
    // early for a token whose user is long gone.
    let user_id = caller_id(&db, &caller).await?;
    let order = place_order(&db, user_id, &body.items).await?;
    let location = format!("/orders/{}", order.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(order)).into_response())
}

#[utoipa::path(get, path = "/orders/{id}", tag = "orders",
    params(("id" = i64, Path, minimum = 1, description = "The order's id")),
    responses((status = 200, description = "The caller's order", body = OrderOut)),
    security(("bearer" = []), ("oauth2_password" = [])))]
async fn get_order(State(db): State<Database>, caller: CurrentUser, Path(Id(id)): Path<Id>) -> Result<Json<OrderOut>, ApiError> {
    let user_id = caller_id(&db, &caller).await?;
    // Someone else's order is a 404: its existence is not the caller's business.
    let order = Order::select()
        .filter(Order::ID.eq(id).and(Order::USER_ID.eq(user_id)))
        .fetch_optional(&db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let items = OrderItem::select().filter(OrderItem::ORDER_ID.eq(order.id)).fetch_all(&db).await?;
    Ok(Json(OrderOut::new(order, items)))
}

/// The query of `GET /orders`: the shared page query (`page_size` 1–100, default 20).
pub use almacen_web::params::PageQuery;

/// A page of orders, for the document.
#[derive(utoipa::ToSchema)]
#[schema(as = OrderPage)]
#[allow(dead_code)]
struct OrderPageDoc {
    items: Vec<OrderOut>,
    total: u64,
    page: u64,
    page_size: u64,
    total_pages: u64,
    has_next: bool,
    has_prev: bool,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(post_order, get_order, list_orders),
    components(schemas(PlaceOrderRequest, OrderLine, OrderOut, OrderItemOut, OrderPageDoc)),
    tags((name = "orders", description = "The caller's orders"))
)]
struct OrdersDoc;

/// The error responses of each route: (path, method, [(status, description)]).
type ErrorDoc = (&'static str, &'static str);
const ERRORS: &[(&str, HttpMethod, &[ErrorDoc])] = &[
    (
        "/orders",
        HttpMethod::Post,
        &[
            ("401", "No token, or an invalid or expired one, or its user is gone"),
            ("409", "Not enough stock for a product (named); nothing changed"),
            ("413", "The body is too large"),
            ("415", "The body is not JSON"),
            (
                "422",
                "No items or more than 100, a quantity below 1, an unknown or deleted product (the line is named), or a total too large",
            ),
        ],
    ),
    (
        "/orders/{id}",
        HttpMethod::Get,
        &[
            ("401", "No token, or an invalid or expired one, or its user is gone"),
            ("404", "No such order of the caller's"),
            ("422", "The id is not a number from 1 to 2^63-1"),
        ],
    ),
    (
        "/orders",
        HttpMethod::Get,
        &[("401", "No token, or an invalid or expired one, or its user is gone"), ("422", "page < 1, or page_size outside 1–100")],
    ),
];

/// The OpenAPI fragment of the `/orders` routes, with their error responses in the shared
/// envelope; merge it (with `almacen_web::accounts::openapi()`, which brings the security
/// schemes) into the service's document.
///
/// ```
/// let doc = serde_json::to_value(shop::orders::openapi()).unwrap();
/// assert!(doc["paths"]["/orders"]["post"]["responses"]["409"].is_object());
/// ```
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi as _;
    let mut doc = OrdersDoc::openapi();
    almacen_web::openapi::add_common_components(&mut doc);
    for (path, method, errors) in ERRORS {
        let Some(item) = doc.paths.paths.get_mut(*path) else { continue };
        let op = match method {
            HttpMethod::Get => item.get.as_mut(),
            HttpMethod::Post => item.post.as_mut(),
            _ => None,
        };
        if let Some(op) = op {
            for (status, description) in *errors {
                op.responses.responses.insert((*status).to_owned(), almacen_web::openapi::error_response(description).into());
            }
        }
    }
    doc
}

/// The largest `page_size` of `GET /orders`.
pub const MAX_PAGE_SIZE: u64 = 100;

#[utoipa::path(get, path = "/orders", tag = "orders",
    params(PageQuery),
    responses((status = 200, description = "The caller's orders, newest first", body = OrderPageDoc)),
    security(("bearer" = []), ("oauth2_password" = [])))]
async fn list_orders(
    State(db): State<Database>,
    caller: CurrentUser,
    Query(q): Query<PageQuery>,
) -> Result<Json<almacen::query::Page<OrderOut>>, ApiError> {
    let user_id = caller_id(&db, &caller).await?;
    let (page, size) = (q.page.unwrap_or(1), q.page_size.unwrap_or(20));
    let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid query parameter");
    if page == 0 {
        err = err.with_error(Some("page"), "must be at least 1", "minimum");
    }
    if size == 0 || size > MAX_PAGE_SIZE {
        err = err.with_error(Some("page_size"), format!("must be 1 to {MAX_PAGE_SIZE}"), if size == 0 { "minimum" } else { "maximum" });
    }
    if !err.errors().is_empty() {
        return Err(err);
    }
    let orders = Order::select().filter(Order::USER_ID.eq(user_id)).order_by(Order::ID.desc()).paginate(&db, page, size).await?;
    let ids: Vec<i64> = orders.items.iter().map(|o| o.id).collect();
    let mut items =
        if ids.is_empty() { Vec::new() } else { OrderItem::select().filter(OrderItem::ORDER_ID.is_in(ids)).fetch_all(&db).await? };
    Ok(Json(orders.map(|o| {
        let (mine, rest): (Vec<OrderItem>, Vec<OrderItem>) = std::mem::take(&mut items).into_iter().partition(|i| i.order_id == o.id);
        items = rest;
        OrderOut::new(o, mine)
    })))
}

/// The `/orders` routes (see the [module](self)), with `tokens` installed for the
/// current-user extractor.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
/// let db = almacen::Database::connect("sqlite::memory:").await?;
/// let tokens = almacen_web::auth::TokenConfig::hs256(b"secret");
/// let app: axum::Router = shop::orders::routes(db, tokens);
/// # Ok(()) }
/// ```
pub fn routes<S: Clone + Send + Sync + 'static>(db: Database, tokens: TokenConfig) -> Router<S> {
    Router::new()
        .route("/orders", get(list_orders).post(post_order))
        .route("/orders/{id}", get(get_order))
        .layer(Extension(tokens))
        .with_state(db)
}
