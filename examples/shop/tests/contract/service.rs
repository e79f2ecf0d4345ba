//! Orders' stock checks over the whole application, and the service's own routes: health,
//! readiness, metrics, the OpenAPI document and its two UIs.

use crate::common::Backend;
use crate::support::*;
use almacen::Database;
use serde_json::{Value, json};

async fn stock(shop: &Shop, id: i64) -> i64 {
    let r = shop.get(&format!("/products/{id}"), None).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body["stock"].as_i64().unwrap()
}

pub async fn orders_take_stock_or_change_nothing(db: Database, _backend: Backend) {
    let shop = start(&db).await;
    let admin = shop.admin().await;
    let (_, ana) = shop.user("ana").await;
    let lamp = shop.product(&admin, "Lamp", "LAMP", 10.0, 5).await["id"].as_i64().unwrap();
    let desk = shop.product(&admin, "Desk", "DESK", 100.0, 1).await["id"].as_i64().unwrap();

    // No token: 401.
    assert_eq!(shop.post("/orders", None, json!({"items": [{"product_id": lamp, "quantity": 1}]})).await.status, 401);
    // Insufficient stock on the second line: 409, and the first line's stock is untouched.
    let r = shop
        .post("/orders", Some(&ana), json!({"items": [{"product_id": lamp, "quantity": 2}, {"product_id": desk, "quantity": 2}]}))
        .await;
    assert_eq!((r.status, fields(&r)), (409, vec!["items[1].quantity".to_string()]), "{r:?}");
    assert_eq!((stock(&shop, lamp).await, stock(&shop, desk).await), (5, 1));
    assert_eq!(shop.get("/orders", Some(&ana)).await.body["total"], json!(0));
    let r = shop.post("/orders", Some(&ana), json!({"items": [{"product_id": lamp, "quantity": 0}]})).await;
    assert_eq!((r.status, fields(&r)), (422, vec!["items[0].quantity".to_string()]), "{r:?}");

    // Quantities that overflow when added up: a 409 or 422, never a 500, nothing taken.
    for items in [
        json!([{"product_id": lamp, "quantity": i64::MAX}]),
        json!([{"product_id": lamp, "quantity": i64::MAX}, {"product_id": lamp, "quantity": i64::MAX}]),
        json!([{"product_id": lamp, "quantity": 1}, {"product_id": lamp, "quantity": i64::MAX}]),
    ] {
        let r = shop.post("/orders", Some(&ana), json!({ "items": items })).await;
        assert!(matches!(r.status, 409 | 422), "{items}: {r:?}");
    }
    assert_eq!(stock(&shop, lamp).await, 5);
    let r = shop.post("/orders", Some(&ana), json!({"items": [{"product_id": lamp, "quantity": 2}]})).await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.header("location"), Some(format!("/orders/{id}").as_str()));
    assert_eq!(r.body["total"], json!(20.0));
    assert_eq!(stock(&shop, lamp).await, 3);
    assert_eq!(shop.get(&format!("/orders/{id}"), Some(&ana)).await.body, r.body);
    assert_eq!(shop.get(&format!("/orders/{id}"), Some(&admin)).await.status, 404);

    // Concurrent orders for the last unit: exactly one 201, the others 409.
    let mut buyers = Vec::new();
    for i in 0..8 {
        buyers.push(shop.user(&format!("buyer{i}")).await.1);
    }
    let base = shop.base.clone();
    let tasks = buyers.into_iter().map(|token| {
        let url = format!("{base}/orders");
        tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&json!({"items": [{"product_id": desk, "quantity": 1}]}))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        })
    });
    let outcomes: Vec<(u16, Value)> = futures::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(outcomes.iter().filter(|(s, _)| *s == 201).count(), 1, "{outcomes:?}");
    for (status, body) in outcomes.iter().filter(|(s, _)| *s != 201) {
        assert_eq!((*status, &body["errors"][0]["type"]), (409, &json!("insufficient_stock")), "{body}");
    }
    assert_eq!(stock(&shop, desk).await, 0);
}

pub async fn health_metrics_and_docs(db: Database, _backend: Backend) {
    let shop = start(&db).await;
    let r = shop.get("/health", None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = shop.get("/ready", None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("x-request-id").is_some(), "no request id: {:?}", r.headers);
    shop.get("/products", None).await;

    let r = shop.get("/metrics", None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.header("content-type").is_some_and(|c| c.starts_with("text/plain") || c.starts_with("application/openmetrics-text")),
        "{:?}",
        r.headers
    );
    assert!(r.text.contains("http_requests_total"), "{}", r.text);
    assert!(r.text.lines().any(|l| l.starts_with("http_requests_total") && l.contains("/products")), "{}", r.text);

    let r = shop.get("/openapi.json", None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let doc = &r.body;
    assert_eq!(doc["openapi"], json!("3.1.0"), "{}", r.text);
    for (path, method) in [
        ("/auth/register", "post"),
        ("/auth/login", "post"),
        ("/auth/token", "post"),
        ("/users/me", "get"),
        ("/users/me", "delete"),
        ("/users", "get"),
        ("/products", "get"),
        ("/products", "post"),
        ("/products/{id}", "get"),
        ("/products/{id}", "put"),
        ("/products/{id}", "patch"),
        ("/products/{id}", "delete"),
        ("/products/{id}/restore", "post"),
        ("/orders", "post"),
        ("/orders", "get"),
        ("/orders/{id}", "get"),
        ("/health", "get"),
        ("/ready", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} missing from the document");
    }
    assert!(doc["components"]["securitySchemes"].is_object(), "{}", r.text);

    for page in ["/docs", "/redoc"] {
        let r = shop.get(page, None).await;
        assert_eq!(r.status, 200, "{page}: {r:?}");
        assert!(r.header("content-type").is_some_and(|c| c.starts_with("text/html")), "{page}: {:?}", r.headers);
        assert!(r.text.to_lowercase().contains("<html"), "{page}: {}", r.text);
    }
}
