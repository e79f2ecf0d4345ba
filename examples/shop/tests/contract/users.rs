//! Users: register rules, the read shape, login (JSON and OAuth2 form), me, the admin list,
//! and the refused tokens.

use crate::common::Backend;
use crate::support::*;
use almacen::Database;
use serde_json::{Value, json};

fn register_body(username: &str, email: &str, password: &str) -> Value {
    json!({"username": username, "email": email, "password": password})
}

pub async fn register_rules_and_read_shape(db: Database, _backend: Backend) {
    let shop = start(&db).await;
    let long = "a".repeat(51);
    let long_password = format!("Aa1{}", "x".repeat(126));
    for (body, field) in [
        (register_body("ab", "ab@example.com", "Secret123"), "username"),
        (register_body(&long, "long@example.com", "Secret123"), "username"),
        (register_body("ana maria", "am@example.com", "Secret123"), "username"),
        (register_body("ana!", "am@example.com", "Secret123"), "username"),
        (register_body("ana", "not-an-email", "Secret123"), "email"),
        (register_body("ana", "ana@", "Secret123"), "email"),
        (register_body("ana", "ana@example.com", "Sh0rtPw"), "password"),
        (register_body("ana", "ana@example.com", &long_password), "password"),
        (register_body("ana", "ana@example.com", "nouppercase1"), "password"),
        (register_body("ana", "ana@example.com", "NoDigitsHere"), "password"),
    ] {
        let r = shop.post("/auth/register", None, body.clone()).await;
        assert_eq!((r.status, fields(&r)), (422, vec![field.to_string()]), "{body}: {r:?}");
        // The password is never echoed, even in an error.
        assert!(!r.text.contains(body["password"].as_str().unwrap()), "{r:?}");
    }
    // Missing fields and wrong types: 422 envelopes too.
    assert_eq!(shop.post("/auth/register", None, json!({"username": "ana"})).await.status, 422);
    assert_eq!(
        shop.post("/auth/register", None, json!({"username": 5, "email": "a@b.example", "password": "Secret123"})).await.status,
        422
    );
    assert_eq!(shop.raw("POST", "/auth/register", None, "application/json", "{not json").await.status, 422);

    // The edges of the rules are fine: 3 and 50 characters of letters, digits, `_.-`; 8 and 128.
    let r = shop.post("/auth/register", None, register_body("a.b", "a.b@example.com", "Abcdefg1")).await;
    assert_eq!(r.status, 201, "{r:?}");
    let name50 = format!("u_-.{}", "9".repeat(46));
    let r = shop.post("/auth/register", None, register_body(&name50, "fifty@example.com", &format!("Ab1{}", "x".repeat(125)))).await;
    assert_eq!(r.status, 201, "{r:?}");

    let r = shop.post("/auth/register", None, register_body("ana", "ana@example.com", "Secret123")).await;
    assert_eq!(r.status, 201, "{r:?}");
    let ana = r.body.clone();
    let keys: Vec<&String> = ana.as_object().unwrap().keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, ["created_at", "email", "id", "roles", "username"], "{ana}");
    assert!(ana["id"].as_i64().is_some_and(|id| id > 0), "{ana}");
    assert_eq!((&ana["username"], &ana["email"], &ana["roles"]), (&json!("ana"), &json!("ana@example.com"), &json!(["user"])));
    let created = ana["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z') || created.ends_with("+00:00"), "not UTC: {created}");
    let created = almacen::chrono::DateTime::parse_from_rfc3339(created).unwrap();
    assert!((almacen::chrono::Utc::now().timestamp() - created.timestamp()).abs() < 3600, "{created}");
    assert!(!r.text.contains("Secret123") && !r.text.contains("password"), "{r:?}");

    // Taken username or e-mail: 409 naming it.
    let r = shop.post("/auth/register", None, register_body("ana", "other@example.com", "Secret123")).await;
    assert_eq!((r.status, fields(&r)), (409, vec!["username".to_string()]), "{r:?}");
    let r = shop.post("/auth/register", None, register_body("ana2", "ana@example.com", "Secret123")).await;
    assert_eq!((r.status, fields(&r)), (409, vec!["email".to_string()]), "{r:?}");

    // Login, JSON and OAuth2 form; `me` reads the same shape.
    let r = shop.post("/auth/login", None, json!({"username": "ana", "password": "Secret123"})).await;
    assert_eq!((r.status, &r.body["token_type"]), (200, &json!("bearer")), "{r:?}");
    assert!(r.body["expires_in"].as_u64().is_some_and(|s| s > 0), "{r:?}");
    let token = r.body["access_token"].as_str().unwrap().to_string();
    let me = shop.get("/users/me", Some(&token)).await;
    assert_eq!((me.status, &me.body), (200, &ana));

    let form = shop
        .raw("POST", "/auth/token", None, "application/x-www-form-urlencoded", "username=ana&password=Secret123&grant_type=password")
        .await;
    assert_eq!(form.status, 200, "{form:?}");
    let form_token = form.body["access_token"].as_str().unwrap();
    assert_eq!(shop.get("/users/me", Some(form_token)).await.body, ana);
    let bad_form = shop
        .raw("POST", "/auth/token", None, "application/x-www-form-urlencoded", "username=ana&password=Wrong1234&grant_type=password")
        .await;
    assert_eq!(bad_form.status, 401, "{bad_form:?}");

    // Malformed logins: 422 (or 415 for the form route given JSON), never a 5xx.
    assert_eq!(shop.post("/auth/login", None, json!({"username": "ana"})).await.status, 422);
    assert_eq!(shop.post("/auth/login", None, json!({"username": 1, "password": "Secret123"})).await.status, 422);
    assert_eq!(shop.raw("POST", "/auth/login", None, "application/json", "").await.status, 422);
    let r = shop.post("/auth/token", None, json!({"username": "ana", "password": "Secret123"})).await;
    assert!(matches!(r.status, 415 | 422), "{r:?}");
    let r = shop.raw("POST", "/auth/token", None, "application/x-www-form-urlencoded", "username=ana&grant_type=password").await;
    assert_eq!((r.status, fields(&r)), (422, vec!["password".to_string()]), "{r:?}");
    // Bad password and unknown user: the same 401, the password not echoed.
    for (user, password) in [("ana", "Wrong1234"), ("nobody", "Secret123")] {
        let r = shop.post("/auth/login", None, json!({"username": user, "password": password})).await;
        assert_eq!(r.status, 401, "{r:?}");
        assert!(!r.text.contains(password), "{r:?}");
    }

    // Delete me: 204, then the token is refused and the name is free again.
    let r = shop.send("DELETE", "/users/me", Some(&token), None).await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(shop.get("/users/me", Some(&token)).await.status, 401);
    assert_eq!(shop.post("/auth/login", None, json!({"username": "ana", "password": "Secret123"})).await.status, 401);
    assert_eq!(shop.post("/auth/register", None, register_body("ana", "ana@example.com", "Secret123")).await.status, 201);
}

pub async fn admin_list_and_refused_tokens(db: Database, _backend: Backend) {
    let shop = start(&db).await;
    let (ana, ana_token) = shop.user("ana").await;
    let admin = shop.admin().await;

    // The admin-only list: 401 without a token, 403 for a user, 200 for the admin.
    let r = shop.get("/users", None).await;
    assert_eq!((r.status, r.header("www-authenticate")), (401, Some("Bearer")), "{r:?}");
    assert_eq!(shop.get("/users", Some(&ana_token)).await.status, 403);
    let r = shop.get("/users", Some(&admin)).await;
    assert_eq!((r.status, &r.body["total"]), (200, &json!(2)), "{r:?}");
    assert_eq!(r.body["items"][1], ana, "{r:?}");
    assert_eq!(r.body["items"][0]["roles"], json!(["admin"]), "{r:?}");
    assert!(!r.text.contains("password"), "{r:?}");
    assert_eq!(shop.get("/users?page_size=101", Some(&admin)).await.status, 422);
    let r = shop.get("/users?page=5", Some(&admin)).await;
    assert_eq!((r.status, &r.body["items"], &r.body["has_next"]), (200, &json!([]), &json!(false)), "{r:?}");

    // Wrong role: a user cannot write products.
    let product = json!({"name": "Lamp", "sku": "LAMP", "price": 1.0, "stock": 1});
    assert_eq!(shop.post("/products", Some(&ana_token), product.clone()).await.status, 403);

    // Refused tokens: tampered (payload claims the admin role), alg none, expired, foreign.
    let parts: Vec<&str> = ana_token.split('.').collect();
    let claims = json!({"sub": ana["id"].as_i64().unwrap().to_string(), "roles": ["admin"], "exp": now() + 600, "iat": now()});
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    let none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims));
    let expired = shop.tokens.issue_at(&ana["id"].as_i64().unwrap().to_string(), &["admin"], now() - 7200, now() - 3600).unwrap();
    let foreign = almacen_web::auth::TokenConfig::hs256(b"someone else's secret, also long").issue("1", &["admin"]).unwrap();
    for (what, bad) in
        [("tampered", &tampered), ("alg none", &none), ("expired", &expired), ("foreign", &foreign), ("garbage", &"x.y.z".to_string())]
    {
        for (method, path, body) in
            [("GET", "/users/me", None), ("GET", "/users", None), ("POST", "/products", Some(product.clone())), ("GET", "/orders", None)]
        {
            let r = shop.send(method, path, Some(bad), body).await;
            assert_eq!(r.status, 401, "{what}: {method} {path}: {r:?}");
            assert!(r.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")), "{what}: {r:?}");
        }
    }
    // None of them wrote anything.
    assert_eq!(shop.get("/products", None).await.body["total"], json!(0));
}
