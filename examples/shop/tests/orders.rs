//! Orders over real HTTP on all three backends: placing one, reading one's own, the 422s,
//! a failed stock check that changes nothing, and 20 concurrent buyers of 3 units.

#[path = "../../../crates/almacen/tests/common/mod.rs"]
mod common;

use almacen::Database;
use almacen_web::accounts::{self, AccountsOptions, NewUser, User};
use almacen_web::auth::TokenConfig;
use common::Backend;
use serde_json::{Value, json};
use shop::models::{NewProduct, Order, OrderItem, Product, TABLES};

const SECRET: &[u8] = b"shop orders test secret, long enough";

struct Shop {
    base: String,
    tokens: TokenConfig,
    db: Database,
}

async fn start(db: &Database) -> Shop {
    db.create_tables(TABLES).await.unwrap();
    let tokens = TokenConfig::hs256(SECRET);
    let app =
        accounts::routes(db.clone(), tokens.clone(), AccountsOptions::default()).merge(shop::orders::routes(db.clone(), tokens.clone()));
    let app = almacen_web::with_service_layers(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Shop { base: format!("http://{addr}"), tokens, db: db.clone() }
}

impl Shop {
    /// A user written directly (no argon2 cost), and a token for it.
    async fn user(&self, name: &str) -> (i64, String) {
        let u = User::insert(&self.db, NewUser { username: name.into(), email: format!("{name}@example.com"), password_hash: "-".into() })
            .await
            .unwrap();
        (u.id, self.tokens.issue(&u.id.to_string(), &["user"]).unwrap())
    }

    async fn product(&self, sku: &str, price: f64, stock: i64) -> Product {
        Product::insert(&self.db, NewProduct { name: format!("Product {sku}"), sku: sku.into(), description: None, price, stock })
            .await
            .unwrap()
    }

    async fn stock(&self, id: i64) -> i64 {
        Product::select().with_deleted().filter(Product::ID.eq(id)).fetch_one(&self.db).await.unwrap().stock
    }

    async fn counts(&self) -> (u64, u64) {
        (Order::select().count(&self.db).await.unwrap(), OrderItem::select().count(&self.db).await.unwrap())
    }

    async fn send(&self, req: reqwest::RequestBuilder, token: Option<&str>) -> (u16, Option<String>, Value) {
        let req = if let Some(t) = token { req.bearer_auth(t) } else { req };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let location = resp.headers().get("location").map(|v| v.to_str().unwrap().to_string());
        let text = resp.text().await.unwrap();
        if status == 204 {
            assert_eq!(text, "", "a 204 has no body");
            return (status, location, Value::Null);
        }
        (status, location, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} not JSON ({e}): {text}")))
    }

    async fn order(&self, token: &str, body: Value) -> (u16, Option<String>, Value) {
        self.send(reqwest::Client::new().post(format!("{}/orders", self.base)).json(&body), Some(token)).await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let (s, _, b) = self.send(reqwest::Client::new().get(format!("{}{path}", self.base)), token).await;
        (s, b)
    }
}

fn only_error(body: &Value) -> (String, String) {
    let errors = body["errors"].as_array().unwrap_or_else(|| panic!("no envelope: {body}"));
    assert_eq!(errors.len(), 1, "{body}");
    (errors[0]["field"].as_str().unwrap_or("").to_string(), errors[0]["type"].as_str().unwrap().to_string())
}

async fn place_and_read_orders(db: Database, _backend: Backend) {
    let shop = start(&db).await;
    let (ana, ana_token) = shop.user("ana").await;
    let (_, bob_token) = shop.user("bob").await;
    let lamp = shop.product("LAMP", 19.9, 5).await;
    let desk = shop.product("DESK", 149.0, 2).await;

    let body = json!({"items": [{"product_id": desk.id, "quantity": 1}, {"product_id": lamp.id, "quantity": 2}, {"product_id": lamp.id, "quantity": 1}]});
    let (status, location, order) = shop.order(&ana_token, body).await;
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_i64().unwrap();
    assert_eq!(location, Some(format!("/orders/{id}")));
    assert_eq!((order["user_id"].as_i64(), order["total"].as_f64()), (Some(ana), Some(208.7)), "{order}");
    assert_eq!(
        order["items"],
        json!([{"product_id": lamp.id, "quantity": 3, "unit_price": 19.9}, {"product_id": desk.id, "quantity": 1, "unit_price": 149.0}])
    );
    assert_eq!((shop.stock(lamp.id).await, shop.stock(desk.id).await), (2, 1));

    assert_eq!(shop.get(&format!("/orders/{id}"), Some(&ana_token)).await, (200, order.clone()));
    // Not bob's: 404; no token: 401; an id out of range: 422.
    assert_eq!(shop.get(&format!("/orders/{id}"), Some(&bob_token)).await.0, 404);
    assert_eq!(shop.get(&format!("/orders/{id}"), None).await.0, 401);
    assert_eq!(shop.get("/orders/99999999999999999999", Some(&ana_token)).await.0, 422);
    assert_eq!(shop.order(&bob_token, json!({"items": [{"product_id": lamp.id, "quantity": 1}]})).await.0, 201);

    let (status, page) = shop.get("/orders", Some(&ana_token)).await;
    assert_eq!((status, &page["total"], &page["items"][0]), (200, &json!(1), &order), "{page}");
    let (status, page) = shop.get("/orders?page_size=1", Some(&bob_token)).await;
    assert_eq!((status, &page["total"], page["items"][0]["user_id"] != json!(ana)), (200, &json!(1), true), "{page}");
    assert_eq!(shop.get("/orders?page_size=101", Some(&bob_token)).await.0, 422);

    // A user with orders may delete the account: the orders stay, no longer anyone's.
    let (status, _, body) = shop.send(reqwest::Client::new().delete(format!("{}/users/me", shop.base)), Some(&ana_token)).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(shop.get("/users/me", Some(&ana_token)).await.0, 401);
    let kept = Order::get(&db, id).await.unwrap().expect("the order stays");
    assert_eq!(kept.user_id, None);
}

async fn refused_orders_change_nothing(db: Database, _backend: Backend) {
    let shop = start(&db).await;
    let (_, token) = shop.user("ana").await;
    let lamp = shop.product("LAMP", 19.9, 5).await;
    let desk = shop.product("DESK", 149.0, 2).await;
    let gone = shop.product("GONE", 1.0, 9).await;
    gone.delete(&db).await.unwrap();

    // Lamp's stock is taken first; the desk then fails: 409 naming it, and nothing stays.
    let (status, _, body) =
        shop.order(&token, json!({"items": [{"product_id": lamp.id, "quantity": 5}, {"product_id": desk.id, "quantity": 3}]})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(only_error(&body), ("items[1].quantity".into(), "insufficient_stock".into()));
    assert!(body["detail"].as_str().unwrap().contains("DESK"), "{body}");
    assert_eq!((shop.stock(lamp.id).await, shop.stock(desk.id).await), (5, 2));
    assert_eq!(shop.counts().await, (0, 0));

    // Unknown and soft-deleted products: 422 naming the line's product_id.
    for missing in [gone.id, 987_654] {
        let (status, _, body) =
            shop.order(&token, json!({"items": [{"product_id": lamp.id, "quantity": 1}, {"product_id": missing, "quantity": 1}]})).await;
        assert_eq!((status, only_error(&body)), (422, ("items[1].product_id".into(), "not_found".into())), "{body}");
    }
    assert_eq!((shop.stock(lamp.id).await, shop.stock(gone.id).await), (5, 9));

    // Malformed orders: 422 naming the field.
    for (body, field) in [
        (json!({"items": []}), "items"),
        (json!({"items": [{"product_id": lamp.id, "quantity": 0}]}), "items[0].quantity"),
        (json!({"items": [{"product_id": lamp.id, "quantity": -2}]}), "items[0].quantity"),
        (json!({"items": [{"product_id": lamp.id}]}), "items[0].quantity"),
        (json!({}), "items"),
    ] {
        let (status, _, resp) = shop.order(&token, body.clone()).await;
        assert_eq!((status, only_error(&resp).0.as_str()), (422, field), "{body}: {resp}");
    }
    assert_eq!(shop.counts().await, (0, 0));
    assert_eq!(shop.stock(lamp.id).await, 5);
    // Exactly the stock on hand is fine.
    assert_eq!(shop.order(&token, json!({"items": [{"product_id": desk.id, "quantity": 2}]})).await.0, 201);
    assert_eq!(shop.stock(desk.id).await, 0);
}

async fn twenty_buyers_three_units(db: Database, _backend: Backend) {
    let shop = start(&db).await;
    let lamp = shop.product("LAMP", 10.0, 3).await;
    let mut tokens = Vec::new();
    for i in 0..20 {
        tokens.push(shop.user(&format!("buyer{i:02}")).await.1);
    }
    let base = shop.base.clone();
    let buys = tokens.into_iter().map(|token| {
        let url = format!("{base}/orders");
        tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&json!({"items": [{"product_id": lamp.id, "quantity": 1}]}))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        })
    });
    let outcomes: Vec<(u16, Value)> = futures::future::join_all(buys).await.into_iter().map(Result::unwrap).collect();
    let won = outcomes.iter().filter(|(s, _)| *s == 201).count();
    let lost: Vec<&(u16, Value)> = outcomes.iter().filter(|(s, _)| *s != 201).collect();
    assert_eq!(won, 3, "{outcomes:?}");
    for (status, body) in &lost {
        assert_eq!((*status, only_error(body).1.as_str()), (409, "insufficient_stock"), "{body}");
    }
    assert_eq!(shop.stock(lamp.id).await, 0);
    assert_eq!(shop.counts().await, (3, 3));
}

per_backend!(place_and_read_orders, refused_orders_change_nothing, twenty_buyers_three_units);

/// The orders fragment documents every route with its errors and security.
#[test]
fn openapi_fragment() {
    let doc = serde_json::to_value(shop::orders::openapi()).unwrap();
    for (path, method, codes) in [
        ("/orders", "post", &["201", "401", "409", "422"][..]),
        ("/orders/{id}", "get", &["200", "401", "404", "422"]),
        ("/orders", "get", &["200", "401", "422"]),
    ] {
        let op = &doc["paths"][path][method];
        for code in codes {
            assert!(op["responses"][code].is_object(), "{method} {path} {code}: {op}");
        }
        assert_eq!(op["security"], json!([{"bearer": []}, {"oauth2_password": []}]), "{method} {path}");
    }
    let request = &doc["components"]["schemas"]["PlaceOrderRequest"];
    assert_eq!(request["properties"]["items"]["minItems"], 1, "{request}");
    assert_eq!(doc["components"]["schemas"]["OrderLine"]["properties"]["quantity"]["minimum"], 1);
}

/// The total is the exact sum of the lines (no rounding that could disagree with them or
/// overflow); a total that is not finite is a 422 naming `items`; at most 100 lines.
async fn totals_are_the_sum_of_the_lines(db: Database, _backend: Backend) {
    let shop = start(&db).await;
    let (_, token) = shop.user("ana").await;
    let odd = shop.product("ODD", 19.999, 10).await;
    let (status, _, order) = shop.order(&token, json!({"items": [{"product_id": odd.id, "quantity": 3}]})).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["total"].as_f64(), Some(19.999 * 3.0), "{order}");
    assert_eq!(order["items"][0]["unit_price"].as_f64(), Some(19.999));

    let huge = shop.product("HUGE", 1.7e308, 10).await;
    let (status, _, order) = shop.order(&token, json!({"items": [{"product_id": huge.id, "quantity": 1}]})).await;
    assert_eq!((status, order["total"].as_f64()), (201, Some(1.7e308)), "{order}");
    let (status, _, body) = shop.order(&token, json!({"items": [{"product_id": huge.id, "quantity": 2}]})).await;
    assert_eq!((status, only_error(&body)), (422, ("items".into(), "too_large".into())), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("total is too large"), "{body}");
    assert_eq!(shop.stock(huge.id).await, 9, "the refused order took nothing");

    let lines: Vec<Value> = (0..101).map(|i| json!({"product_id": i + 1, "quantity": 1})).collect();
    let (status, _, body) = shop.order(&token, json!({ "items": lines })).await;
    assert_eq!((status, only_error(&body).0.as_str()), (422, "items"), "{body}");
    assert_eq!(shop.counts().await, (2, 2));
}

/// Users deleting their accounts while they order: every order is placed (201) or sees the
/// user gone (401), never a 409 naming `user_id` (a foreign-key violation).
async fn orders_racing_account_deletions(db: Database, _backend: Backend) {
    let shop = start(&db).await;
    let lamp = shop.product("LAMP", 10.0, 1_000_000).await;
    for round in 0..4 {
        let mut users = Vec::new();
        for i in 0..10 {
            users.push(shop.user(&format!("r{round}u{i}")).await.1);
        }
        let base = shop.base.clone();
        let races = users.into_iter().map(|token| {
            let base = base.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let order = async {
                    let mut answers = Vec::new();
                    for _ in 0..3 {
                        let resp = client
                            .post(format!("{base}/orders"))
                            .bearer_auth(&token)
                            .json(&json!({"items": [{"product_id": lamp.id, "quantity": 1}]}))
                            .send()
                            .await
                            .unwrap();
                        answers.push((resp.status().as_u16(), resp.json::<Value>().await.unwrap()));
                    }
                    answers
                };
                let delete = client.delete(format!("{base}/users/me")).bearer_auth(&token).send();
                let (answers, deleted) = tokio::join!(order, delete);
                (answers, deleted.unwrap().status().as_u16())
            })
        });
        for outcome in futures::future::join_all(races).await {
            let (answers, deleted) = outcome.unwrap();
            assert_eq!(deleted, 204);
            for (status, body) in answers {
                assert!(status == 201 || status == 401, "{status} {body}");
            }
        }
    }
}

per_backend!(totals_are_the_sum_of_the_lines, orders_racing_account_deletions);
