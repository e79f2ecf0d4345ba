//! The shop's role checks ask the database, not the token, on all three backends: a
//! deleted admin's token gets 401 on product writes, a demoted admin's 403; the last admin
//! cannot delete itself (409), even when two admins delete themselves at once.

#[path = "../../../crates/almacen/tests/common/mod.rs"]
mod common;

use almacen::Database;
use almacen_web::accounts::{self, ADMIN_ROLE, NewUser, Role, User, UserRole};
use almacen_web::auth::TokenConfig;
use common::Backend;
use serde_json::{Value, json};
use shop::models::TABLES;

const SECRET: &[u8] = b"shop roles test secret, long enough!";

struct Shop {
    base: String,
    tokens: TokenConfig,
    db: Database,
}

async fn start(db: &Database) -> Shop {
    db.create_tables(TABLES).await.unwrap();
    let tokens = TokenConfig::hs256(SECRET);
    let app = almacen_web::with_service_layers(shop::app::router(db.clone(), tokens.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Shop { base: format!("http://{addr}"), tokens, db: db.clone() }
}

impl Shop {
    /// A user written directly (no argon2 cost) with `roles`, and a token claiming them.
    async fn user(&self, name: &str, roles: &[&str]) -> (i64, String) {
        let u = User::insert(&self.db, NewUser { username: name.into(), email: format!("{name}@example.com"), password_hash: "-".into() })
            .await
            .unwrap();
        for role in roles {
            let r = match Role::select().filter(Role::NAME.eq(*role)).fetch_optional(&self.db).await.unwrap() {
                Some(r) => r,
                None => Role::insert(&self.db, accounts::NewRole { name: (*role).into() }).await.unwrap(),
            };
            User::ROLES.link(&self.db, &u, &r).await.unwrap();
        }
        (u.id, self.tokens.issue(&u.id.to_string(), roles).unwrap())
    }

    async fn send(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = reqwest::Client::new().request(method, format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
    }

    async fn create_product(&self, token: &str, sku: &str) -> (u16, Value) {
        let body = json!({"name": format!("Product {sku}"), "sku": sku, "price": 9.5, "stock": 3});
        self.send(reqwest::Method::POST, "/products", token, Some(body)).await
    }
}

async fn deleted_or_demoted_admins_lose_write_access(db: Database, _backend: Backend) {
    let shop = start(&db).await;
    let (_, first) = shop.user("first", &[ADMIN_ROLE]).await;
    let (second_id, second) = shop.user("second", &[ADMIN_ROLE]).await;
    let (_, third) = shop.user("third", &[ADMIN_ROLE]).await;
    let (status, product) = shop.create_product(&first, "P-1").await;
    assert_eq!(status, 201, "{product}");
    let id = product["id"].as_i64().unwrap();

    // Deleted: the token still carries "admin", the database says there is no such user.
    assert_eq!(shop.send(reqwest::Method::DELETE, "/users/me", &first, None).await.0, 204);
    assert_eq!(shop.send(reqwest::Method::GET, "/users/me", &first, None).await.0, 401);
    let (status, body) = shop.create_product(&first, "P-2").await;
    assert_eq!((status, body["detail"].as_str()), (401, Some("invalid or expired token")), "{body}");
    assert_eq!(shop.send(reqwest::Method::DELETE, &format!("/products/{id}"), &first, None).await.0, 401);

    // Demoted: the role link is gone from the database, the token still claims it.
    let admin = Role::select().filter(Role::NAME.eq(ADMIN_ROLE)).fetch_one(&db).await.unwrap();
    UserRole::delete_where(UserRole::USER_ID.eq(second_id).and(UserRole::ROLE_ID.eq(admin.id))).execute(&db).await.unwrap();
    assert_eq!(shop.create_product(&second, "P-3").await.0, 403);
    assert_eq!(shop.send(reqwest::Method::DELETE, &format!("/products/{id}"), &second, None).await.0, 403);

    // A plain user whose token claims "admin" (issued by a buggy or older login) is refused too.
    let (plain_id, _) = shop.user("plain", &[]).await;
    let claims_admin = shop.tokens.issue(&plain_id.to_string(), &[ADMIN_ROLE]).unwrap();
    assert_eq!(shop.create_product(&claims_admin, "P-4").await.0, 403);

    // The remaining admin still writes.
    assert_eq!(shop.send(reqwest::Method::DELETE, &format!("/products/{id}"), &third, None).await.0, 204);
}

async fn the_last_admin_cannot_delete_itself(db: Database, _backend: Backend) {
    let shop = start(&db).await;
    let (admin_id, admin) = shop.user("admin", &[ADMIN_ROLE]).await;
    let (_, user) = shop.user("someone", &["user"]).await;
    let (status, body) = shop.send(reqwest::Method::DELETE, "/users/me", &admin, None).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("last account with the admin role"), "{body}");
    assert!(User::get(&db, admin_id).await.unwrap().is_some());
    assert_eq!(shop.send(reqwest::Method::GET, "/users/me", &admin, None).await.0, 200);
    // Users without the role delete themselves freely.
    assert_eq!(shop.send(reqwest::Method::DELETE, "/users/me", &user, None).await.0, 204);
}

async fn two_admins_deleting_themselves_at_once(db: Database, _backend: Backend) {
    let shop = start(&db).await;
    for round in 0..5 {
        let (a_id, a) = shop.user(&format!("a{round}"), &[ADMIN_ROLE]).await;
        let (b_id, b) = shop.user(&format!("b{round}"), &[ADMIN_ROLE]).await;
        let (ra, rb) = tokio::join!(
            shop.send(reqwest::Method::DELETE, "/users/me", &a, None),
            shop.send(reqwest::Method::DELETE, "/users/me", &b, None)
        );
        let mut statuses = [ra.0, rb.0];
        statuses.sort();
        assert_eq!(statuses, [204, 409], "round {round}: {ra:?} {rb:?}");
        let left = User::select().filter(User::ID.is_in([a_id, b_id])).count(&db).await.unwrap();
        assert_eq!(left, 1, "round {round}");
        // Make room for the next round: a new pair, and the survivor leaves its role.
        let survivor = if ra.0 == 409 { a_id } else { b_id };
        let admin = Role::select().filter(Role::NAME.eq(ADMIN_ROLE)).fetch_one(&db).await.unwrap();
        UserRole::delete_where(UserRole::USER_ID.eq(survivor).and(UserRole::ROLE_ID.eq(admin.id))).execute(&db).await.unwrap();
    }
}

per_backend!(deleted_or_demoted_admins_lose_write_access, the_last_admin_cannot_delete_itself, two_admins_deleting_themselves_at_once);
