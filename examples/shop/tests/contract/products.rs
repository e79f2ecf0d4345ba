//! Products: writes for admins only, the field rules, list filters, sorting and pages,
//! PATCH absent vs null, PUT, soft delete and restore; and the ids out of range.

use crate::common::Backend;
use crate::support::*;
use almacen::Database;
use serde_json::{Value, json};

fn names(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap_or_else(|| panic!("no items: {page}")).iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
}

pub async fn writes_and_field_rules(db: Database, _backend: Backend) {
    let shop = start(&db).await;
    let admin = shop.admin().await;
    let (_, user) = shop.user("ana").await;
    let lamp = json!({"name": "Desk lamp", "sku": "LAMP-1.a_b", "description": "Warm light", "price": 24.9, "stock": 40});

    // 401 without a token, 403 for a user, 201 + Location for an admin.
    let r = shop.post("/products", None, lamp.clone()).await;
    assert_eq!((r.status, r.header("www-authenticate")), (401, Some("Bearer")), "{r:?}");
    assert_eq!(shop.post("/products", Some(&user), lamp.clone()).await.status, 403);
    let r = shop.post("/products", Some(&admin), lamp.clone()).await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.header("location"), Some(format!("/products/{id}").as_str()));
    for key in ["name", "sku", "description", "price", "stock"] {
        assert_eq!(r.body[key], lamp[key], "{key}: {r:?}");
    }
    for key in ["created_at", "updated_at"] {
        let t = r.body[key].as_str().unwrap();
        assert!(t.ends_with('Z') || t.ends_with("+00:00"), "{key} not UTC: {t}");
    }
    assert!(r.body.get("deleted_at").is_none(), "{r:?}");
    let read = shop.get(&format!("/products/{id}"), None).await;
    assert_eq!((read.status, &read.body), (200, &r.body));

    // The field rules: 422 naming the field, nothing written.
    let with = |key: &str, value: Value| {
        let mut body = json!({"name": "Thing", "sku": "THING", "price": 1.0, "stock": 1});
        body[key] = value;
        body
    };
    for (body, field) in [
        (with("name", json!("")), "name"),
        (with("name", json!("n".repeat(201))), "name"),
        (with("name", Value::Null), "name"),
        (with("sku", json!("")), "sku"),
        (with("sku", json!("S".repeat(65))), "sku"),
        (with("sku", json!("HAS SPACE")), "sku"),
        (with("sku", json!("semi;colon")), "sku"),
        (with("description", json!("d".repeat(2001))), "description"),
        (with("price", json!(-0.01)), "price"),
        (with("price", json!("12")), "price"),
        (with("stock", json!(-1)), "stock"),
        (with("stock", json!(1.5)), "stock"),
        (with("unknown", json!(1)), "unknown"),
    ] {
        let r = shop.post("/products", Some(&admin), body.clone()).await;
        assert_eq!((r.status, fields(&r)), (422, vec![field.to_string()]), "{body}: {r:?}");
    }
    // 1e400 does not fit a double: 422 (never infinity stored, never a 500).
    let r = shop.raw("POST", "/products", Some(&admin), "application/json", r#"{"name":"Big","sku":"BIG","price":1e400,"stock":1}"#).await;
    assert_eq!(r.status, 422, "{r:?}");
    let r = shop
        .raw("POST", "/products", Some(&admin), "application/json", r#"{"name":"Big","sku":"BIG","price":1,"stock":99999999999999999999}"#)
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    // The edges are fine: 200 and 64 characters, 2000, price 0, stock 0, null description.
    let r = shop
        .post(
            "/products",
            Some(&admin),
            json!({"name": "n".repeat(200), "sku": "S".repeat(64), "description": "d".repeat(2000), "price": 0, "stock": 0}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    // Lengths are in characters, not bytes, and any Unicode text is stored (4-byte included).
    let r = shop
        .post("/products", Some(&admin), json!({"name": "é".repeat(199) + "🦀", "sku": "UNI", "description": "€".repeat(1999) + "🦀", "price": 1e308, "stock": i64::MAX}))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let uni = shop.get(&format!("/products/{}", r.body["id"]), None).await;
    assert_eq!(uni.body, r.body);
    assert_eq!(uni.body["name"].as_str().unwrap().chars().count(), 200);
    assert_eq!(shop.send("DELETE", &format!("/products/{}", r.body["id"]), Some(&admin), None).await.status, 204);
    let r = shop.post("/products", Some(&admin), with("name", json!("é".repeat(201)))).await;
    assert_eq!((r.status, fields(&r)), (422, vec!["name".to_string()]), "{r:?}");
    let r = shop.post("/products", Some(&admin), with("description", Value::Null)).await;
    assert_eq!((r.status, &r.body["description"]), (201, &Value::Null), "{r:?}");
    let thing = r.body["id"].as_i64().unwrap();
    assert_eq!(shop.get("/products", None).await.body["total"], json!(3));

    // A duplicate sku: 409 naming sku.
    let r = shop.post("/products", Some(&admin), with("sku", json!("LAMP-1.a_b"))).await;
    assert_eq!((r.status, fields(&r)), (409, vec!["sku".to_string()]), "{r:?}");

    // PATCH: absent fields kept; description null is fine; name null is a 422.
    let path = format!("/products/{id}");
    assert_eq!(shop.send("PATCH", &path, Some(&user), Some(json!({"price": 1}))).await.status, 403);
    assert_eq!(shop.send("PATCH", &path, None, Some(json!({"price": 1}))).await.status, 401);
    let r = shop.send("PATCH", &path, Some(&admin), Some(json!({"price": 19.5}))).await;
    assert_eq!(
        (r.status, &r.body["price"], &r.body["name"], &r.body["description"]),
        (200, &json!(19.5), &lamp["name"], &lamp["description"]),
        "{r:?}"
    );
    let r = shop.send("PATCH", &path, Some(&admin), Some(json!({"description": null}))).await;
    assert_eq!((r.status, &r.body["description"], &r.body["price"]), (200, &Value::Null, &json!(19.5)), "{r:?}");
    for body in [json!({"name": null}), json!({"name": ""}), json!({"price": -1}), json!({"stock": null}), json!({"sku": "bad sku"})] {
        let r = shop.send("PATCH", &path, Some(&admin), Some(body.clone())).await;
        assert_eq!(r.status, 422, "{body}: {r:?}");
        assert_eq!(fields(&r), vec![body.as_object().unwrap().keys().next().unwrap().clone()], "{body}: {r:?}");
    }
    let r = shop.send("PATCH", &format!("/products/{thing}"), Some(&admin), Some(json!({"sku": "LAMP-1.a_b"}))).await;
    assert_eq!((r.status, fields(&r)), (409, vec!["sku".to_string()]), "{r:?}");
    assert_eq!(shop.get(&path, None).await.body["name"], lamp["name"]);

    // PUT: every field replaced; a missing field is a 422; an absent row is a 404.
    let replacement = json!({"name": "Floor lamp", "sku": "FLOOR", "price": 99.0, "stock": 3});
    let r = shop.send("PUT", &path, Some(&admin), Some(replacement.clone())).await;
    assert_eq!(r.status, 200, "{r:?}");
    for key in ["name", "sku", "price", "stock"] {
        assert_eq!(r.body[key], replacement[key], "{key}: {r:?}");
    }
    assert_eq!(r.body["description"], Value::Null, "{r:?}");
    assert_eq!(shop.send("PUT", &path, Some(&admin), Some(json!({"name": "X"}))).await.status, 422);
    assert_eq!(shop.send("PUT", "/products/987654", Some(&admin), Some(replacement.clone())).await.status, 404);
    assert_eq!(shop.send("PUT", &path, Some(&user), Some(replacement)).await.status, 403);

    // Soft delete: 204, then hidden from GET, the list and orders; restore brings it back.
    assert_eq!(shop.send("DELETE", &path, Some(&user), None).await.status, 403);
    assert_eq!(shop.send("DELETE", &path, Some(&admin), None).await.status, 204);
    assert_eq!(shop.get(&path, None).await.status, 404);
    assert_eq!(shop.send("DELETE", &path, Some(&admin), None).await.status, 404);
    assert_eq!(shop.send("PATCH", &path, Some(&admin), Some(json!({"price": 1}))).await.status, 404);
    let list = shop.get("/products?page_size=100", None).await;
    assert_eq!(list.body["total"], json!(2), "{list:?}");
    assert!(list.body["items"].as_array().unwrap().iter().all(|p| p["id"] != json!(id)), "{list:?}");
    let r = shop.post("/orders", Some(&user), json!({"items": [{"product_id": id, "quantity": 1}]})).await;
    assert_eq!((r.status, fields(&r)), (422, vec!["items[0].product_id".to_string()]), "{r:?}");
    // Its sku stays taken while it is deleted.
    assert_eq!(shop.post("/products", Some(&admin), with("sku", json!("FLOOR"))).await.status, 409);
    assert_eq!(shop.post(&format!("{path}/restore"), Some(&user), json!({})).await.status, 403);
    let r = shop.post(&format!("{path}/restore"), Some(&admin), json!({})).await;
    assert_eq!((r.status, &r.body["name"]), (200, &json!("Floor lamp")), "{r:?}");
    assert_eq!(shop.get(&path, None).await.status, 200);
    assert_eq!(shop.get("/products", None).await.body["total"], json!(3));
    // Restoring a product that is not deleted (or absent): 404.
    assert_eq!(shop.post(&format!("{path}/restore"), Some(&admin), json!({})).await.status, 404);
    assert_eq!(shop.post("/products/987654/restore", Some(&admin), json!({})).await.status, 404);
    let r = shop.post("/orders", Some(&user), json!({"items": [{"product_id": id, "quantity": 1}]})).await;
    assert_eq!(r.status, 201, "{r:?}");
}

pub async fn list_filters_sorting_pages(db: Database, _backend: Backend) {
    let shop = start(&db).await;
    let admin = shop.admin().await;
    // Empty catalogue: an empty first page.
    let r = shop.get("/products", None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        (&r.body["items"], &r.body["total"], &r.body["page"], &r.body["has_next"], &r.body["has_prev"]),
        (&json!([]), &json!(0), &json!(1), &json!(false), &json!(false)),
        "{r:?}"
    );

    for (name, sku, price, stock) in [
        ("Notebook 100% recycled", "NOTE", 4.5, 300),
        ("Notebook 100 pages", "NOTE-100", 3.0, 20),
        ("snake_case mug", "MUG", 9.0, 5),
        ("snakeXcase poster", "POSTER", 15.0, 7),
        ("Desk", "DESK", 399.0, 2),
    ] {
        shop.product(&admin, name, sku, price, stock).await;
    }

    // Filters: price bounds (inclusive), name_contains with `%` and `_` matching themselves.
    let r = shop.get("/products?min_price=4.5&max_price=15&sort=price", None).await;
    assert_eq!(names(&r.body), ["Notebook 100% recycled", "snake_case mug", "snakeXcase poster"], "{r:?}");
    assert_eq!(r.body["total"], json!(3));
    let r = shop.get("/products?name_contains=100%25", None).await;
    assert_eq!(names(&r.body), ["Notebook 100% recycled"], "{r:?}");
    let r = shop.get("/products?name_contains=e_c", None).await;
    assert_eq!(names(&r.body), ["snake_case mug"], "{r:?}");
    let r = shop.get("/products?name_contains=%25", None).await;
    assert_eq!(names(&r.body), ["Notebook 100% recycled"], "{r:?}");
    let r = shop.get("/products?name_contains=_", None).await;
    assert_eq!(names(&r.body), ["snake_case mug"], "{r:?}");
    // A backslash is no escape character either (MariaDB's LIKE default).
    let back = shop.product(&admin, r"C:\path\50%_off", "BACK", 1000.0, 1).await["id"].clone();
    for needle in ["%5C", "%5Cpath", "%5C50%25_off"] {
        let r = shop.get(&format!("/products?name_contains={needle}"), None).await;
        assert_eq!(
            r.body["items"].as_array().map(|a| a.iter().map(|p| p["id"].clone()).collect::<Vec<_>>()),
            Some(vec![back.clone()]),
            "{needle}: {r:?}"
        );
    }
    let r = shop.send("DELETE", &format!("/products/{back}"), Some(&admin), None).await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = shop.get("/products?name_contains=nothing", None).await;
    assert_eq!((&r.body["items"], &r.body["total"]), (&json!([]), &json!(0)), "{r:?}");
    for bad in [
        "min_price=abc",
        "max_price=",
        "page=0",
        "page=abc",
        "page_size=0",
        "page_size=101",
        "sort=sku",
        "sort=-password",
        "page=1&skip=2",
        "min_price=NaN",
        "max_price=inf",
        "min_price=-infinity",
        "min_price=1e400",
        "page_size=-1",
        "sort=price,-nothing",
    ] {
        let r = shop.get(&format!("/products?{bad}"), None).await;
        assert_eq!(r.status, 422, "{bad}: {r:?}");
    }
    let r = shop.get("/products?page_size=101", None).await;
    assert_eq!(fields(&r), vec!["page_size".to_string()], "{r:?}");
    assert_eq!(shop.get("/products?page_size=100", None).await.status, 200);

    // Sorting, ascending and descending.
    let r = shop.get("/products?sort=price", None).await;
    assert_eq!(names(&r.body), ["Notebook 100 pages", "Notebook 100% recycled", "snake_case mug", "snakeXcase poster", "Desk"]);
    let r = shop.get("/products?sort=-stock", None).await;
    assert_eq!(names(&r.body), ["Notebook 100% recycled", "Notebook 100 pages", "snakeXcase poster", "snake_case mug", "Desk"]);
    let r = shop.get("/products?sort=-price&max_price=10", None).await;
    assert_eq!(names(&r.body), ["snake_case mug", "Notebook 100% recycled", "Notebook 100 pages"]);

    // Pages: 5 rows in pages of 2; the last page is short; past it, empty with the totals.
    let r = shop.get("/products?sort=price&page_size=2&page=1", None).await;
    assert_eq!(
        (names(&r.body), &r.body["total"], &r.body["total_pages"], &r.body["has_next"], &r.body["has_prev"]),
        (vec!["Notebook 100 pages".to_string(), "Notebook 100% recycled".to_string()], &json!(5), &json!(3), &json!(true), &json!(false)),
        "{r:?}"
    );
    let r = shop.get("/products?sort=price&page_size=2&page=3", None).await;
    assert_eq!(
        (names(&r.body), &r.body["has_next"], &r.body["has_prev"]),
        (vec!["Desk".to_string()], &json!(false), &json!(true)),
        "{r:?}"
    );
    let r = shop.get("/products?sort=price&page_size=2&page=4", None).await;
    assert_eq!((r.status, &r.body["items"], &r.body["total"], &r.body["has_next"]), (200, &json!([]), &json!(5), &json!(false)), "{r:?}");
    let r = shop.get("/products?page=99999999999", None).await;
    assert_eq!((r.status, &r.body["items"]), (200, &json!([])), "{r:?}");
}

pub async fn ids_out_of_range(db: Database, _backend: Backend) {
    let shop = start(&db).await;
    let admin = shop.admin().await;
    let (_, user) = shop.user("ana").await;
    for id in ["99999999999999999999", "0", "-1", "abc", "1.5", "9223372036854775808"] {
        let path = format!("/products/{id}");
        for (method, token, body) in [
            ("GET", None, None),
            ("PATCH", Some(admin.as_str()), Some(json!({"price": 1}))),
            ("PUT", Some(admin.as_str()), Some(json!({"name": "X", "sku": "X", "price": 1, "stock": 1}))),
            ("DELETE", Some(admin.as_str()), None),
        ] {
            let r = shop.send(method, &path, token, body).await;
            assert_eq!(r.status, 422, "{method} {path}: {r:?}");
        }
        let r = shop.post(&format!("{path}/restore"), Some(&admin), json!({})).await;
        assert_eq!(r.status, 422, "restore {path}: {r:?}");
        let r = shop.get(&format!("/orders/{id}"), Some(&user)).await;
        assert_eq!(r.status, 422, "/orders/{id}: {r:?}");
    }
    // The largest id is in range: a 404.
    assert_eq!(shop.get("/products/9223372036854775807", None).await.status, 404);
    assert_eq!(shop.get("/orders/9223372036854775807", Some(&user)).await.status, 404);
    // An order line naming an id out of range: 422, never a 500.
    let r = shop
        .raw("POST", "/orders", Some(&user), "application/json", r#"{"items":[{"product_id":99999999999999999999,"quantity":1}]}"#)
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    let r = shop.post("/orders", Some(&user), json!({"items": [{"product_id": -1, "quantity": 1}]})).await;
    assert_eq!(r.status, 422, "{r:?}");
    // A body over the limit (2 MiB by default): 413; not JSON: 415 or 422; never a 5xx.
    // (The server answers before reading the whole body and closes the connection, so the
    // client, still sending, may see it reset before it reads the answer: a few attempts.)
    let big = format!(r#"{{"name":"Big","sku":"BIG","price":1,"stock":1,"description":"{}"}}"#, "d".repeat(3 << 20));
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let sent = reqwest::Client::new()
            .post(format!("{}/products", shop.base))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await;
        match sent {
            Ok(resp) => {
                statuses.push(resp.status().as_u16());
                break;
            }
            Err(e) => assert!(e.is_request(), "{e}"),
        }
    }
    assert_eq!(statuses, [413], "an oversized body");
    let r = shop.raw("POST", "/products", Some(&admin), "text/plain", r#"{"name":"X","sku":"X","price":1,"stock":1}"#).await;
    assert!(matches!(r.status, 415 | 422), "{r:?}");
    // Unknown routes and methods: the envelope too.
    let r = shop.get("/nowhere", None).await;
    assert_eq!(r.status, 404, "{r:?}");
    let r = shop.send("DELETE", "/products", Some(&admin), None).await;
    assert_eq!(r.status, 405, "{r:?}");
}
