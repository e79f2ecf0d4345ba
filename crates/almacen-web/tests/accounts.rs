//! The accounts routes over real HTTP on all three backends: registration (and its 422s and
//! 409s), login by JSON and by the OAuth2 form, tokens that must be refused (tampered,
//! `alg: none`, expired, of a deleted user), `me`, the admin's user list, and the admin seeded
//! at start-up, concurrently.

#[path = "../../almacen/tests/common/mod.rs"]
mod common;
mod support;

use almacen::Database;
use almacen_web::accounts::{self, AccountsOptions, Role, User, UserRole};
use almacen_web::auth::TokenConfig;
use base64::Engine;
use common::Backend;
use serde_json::{Value, json};
use support::{envelope, read, serve};

const SECRET: &[u8] = b"accounts test secret, thirty-two bytes or more";

async fn start(db: &Database) -> (String, TokenConfig) {
    db.create_tables(accounts::TABLES).await.unwrap();
    let tokens = TokenConfig::hs256(SECRET);
    let app = almacen_web::with_service_layers(accounts::routes(db.clone(), tokens.clone(), AccountsOptions::default()));
    (serve(app).await, tokens)
}

async fn post_json(url: String, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
    let (status, _, body) = read(resp).await;
    (status, body)
}

async fn send(req: reqwest::RequestBuilder, token: Option<&str>) -> (u16, Option<String>, Value) {
    let req = match token {
        Some(t) => req.bearer_auth(t),
        None => req,
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let challenge = resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
    if status == 204 {
        assert!(resp.text().await.unwrap().is_empty());
        return (status, challenge, Value::Null);
    }
    let (status, _, body) = read(resp).await;
    (status, challenge, body)
}

async fn get(url: String, token: Option<&str>) -> (u16, Option<String>, Value) {
    send(reqwest::Client::new().get(url), token).await
}

async fn register(base: &str, username: &str, email: &str, password: &str) -> (u16, Value) {
    post_json(format!("{base}/auth/register"), json!({"username": username, "email": email, "password": password})).await
}

async fn login(base: &str, username: &str, password: &str) -> (u16, Value) {
    post_json(format!("{base}/auth/login"), json!({"username": username, "password": password})).await
}

async fn token_of(base: &str, username: &str, password: &str) -> String {
    let (status, body) = login(base, username, password).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn counts(db: &Database) -> (u64, u64) {
    (User::select().count(db).await.unwrap(), UserRole::select().count(db).await.unwrap())
}

/// The single field error of a 422/409, as (field, type).
fn only_error(status: u16, body: &Value) -> (String, String) {
    let errors = envelope(status, body);
    assert_eq!(errors.len(), 1, "{body}");
    (errors[0]["field"].as_str().unwrap().to_string(), errors[0]["type"].as_str().unwrap().to_string())
}

async fn register_validates_and_refuses_duplicates(db: Database, _backend: Backend) {
    let (base, _) = start(&db).await;
    let (status, body) = register(&base, "ana.maria_1", "ana@example.com", "Secret123").await;
    assert_eq!(status, 201, "{body}");
    let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["created_at", "email", "id", "roles", "username"], "{body}");
    assert_eq!((body["username"].as_str(), body["email"].as_str()), (Some("ana.maria_1"), Some("ana@example.com")));
    assert_eq!(body["roles"], json!(["user"]));
    assert!(body["id"].as_i64().unwrap() > 0);
    let created = body["created_at"].as_str().unwrap();
    assert!(created.ends_with('Z') && almacen::chrono::DateTime::parse_from_rfc3339(created).is_ok(), "{created}");
    assert!(!body.to_string().contains("Secret123") && !body.to_string().contains("argon2"), "{body}");
    // The hash is stored, the password is not.
    let stored = User::select().fetch_one(&db).await.unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$") && !stored.password_hash.contains("Secret123"));
    assert_eq!(counts(&db).await, (1, 1));

    // Duplicates: 409 naming the field, and nothing written.
    let (status, body) = register(&base, "ana.maria_1", "other@example.com", "Secret123").await;
    assert_eq!((status, only_error(status, &body)), (409, ("username".into(), "unique_violation".into())), "{body}");
    let (status, body) = register(&base, "someone_else", "ana@example.com", "Secret123").await;
    assert_eq!((status, only_error(status, &body)), (409, ("email".into(), "unique_violation".into())), "{body}");
    assert_eq!(counts(&db).await, (1, 1));

    // Each invalid field: 422 naming it; the password never echoed.
    let cases = [
        ("ab", "bob@example.com", "Secret123", "username", "too_short"),
        (&"b".repeat(51) as &str, "bob@example.com", "Secret123", "username", "too_long"),
        ("bob smith", "bob@example.com", "Secret123", "username", "pattern"),
        ("bob", "bob@example", "Secret123", "email", "email"),
        ("bob", "not-an-email", "Secret123", "email", "email"),
        ("bob", "bob@example.com", "Sh0rt", "password", "too_short"),
        ("bob", "bob@example.com", &format!("A1{}", "x".repeat(127)), "password", "too_long"),
        ("bob", "bob@example.com", "nouppercase1", "password", "password_strength"),
        ("bob", "bob@example.com", "NoDigitsHere", "password", "password_strength"),
    ];
    for (username, email, password, field, kind) in cases {
        let (status, body) = register(&base, username, email, password).await;
        assert_eq!((status, only_error(status, &body)), (422, (field.into(), kind.into())), "{username} {email}: {body}");
        assert!(!body.to_string().contains(password), "password echoed: {body}");
    }
    let (status, body) = post_json(format!("{base}/auth/register"), json!({"username": "bob", "email": "bob@example.com"})).await;
    assert_eq!((status, only_error(status, &body)), (422, ("password".into(), "missing".into())), "{body}");
    assert_eq!(counts(&db).await, (1, 1));
}

async fn login_json_and_form(db: Database, _backend: Backend) {
    let (base, tokens) = start(&db).await;
    let (status, user) = register(&base, "ana", "ana@example.com", "Secret123").await;
    assert_eq!(status, 201);

    let (status, body) = login(&base, "ana", "Secret123").await;
    assert_eq!((status, body["token_type"].as_str(), body["expires_in"].as_u64()), (200, Some("bearer"), Some(1800)), "{body}");
    let claims = tokens.verify(body["access_token"].as_str().unwrap()).unwrap();
    assert_eq!((claims.sub, claims.roles), (user["id"].as_i64().unwrap().to_string(), vec!["user".to_string()]));

    let form = reqwest::Client::new()
        .post(format!("{base}/auth/token"))
        .form(&[("grant_type", "password"), ("username", "ana"), ("password", "Secret123")])
        .send()
        .await
        .unwrap();
    let (status, _, body) = read(form).await;
    assert_eq!(status, 200, "{body}");
    assert!(tokens.verify(body["access_token"].as_str().unwrap()).is_ok());

    // A wrong password and an unknown user: the same 401, body and challenge.
    let wrong = reqwest::Client::new().post(format!("{base}/auth/login")).json(&json!({"username": "ana", "password": "Wrong1234"}));
    let unknown = reqwest::Client::new().post(format!("{base}/auth/login")).json(&json!({"username": "nobody", "password": "Secret123"}));
    let (s1, c1, b1) = send(wrong, None).await;
    let (s2, c2, b2) = send(unknown, None).await;
    assert_eq!((s1, c1.as_deref()), (401, Some("Bearer")), "{b1}");
    assert_eq!((s1, c1, &b1), (s2, c2, &b2));
    assert_eq!(b1["detail"], almacen_web::auth::BAD_CREDENTIALS_DETAIL);
    assert!(!b1.to_string().contains("Wrong1234"));
    let form = reqwest::Client::new().post(format!("{base}/auth/token")).form(&[
        ("grant_type", "password"),
        ("username", "ana"),
        ("password", "Wrong1234"),
    ]);
    assert_eq!(send(form, None).await.0, 401);
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

async fn bad_tokens_me_and_delete_me(db: Database, _backend: Backend) {
    let (base, tokens) = start(&db).await;
    let (_, ana) = register(&base, "ana", "ana@example.com", "Secret123").await;
    let (_, bob) = register(&base, "bob", "bob@example.com", "Secret123").await;
    let token = token_of(&base, "ana", "Secret123").await;
    let me = format!("{base}/users/me");

    let (status, _, body) = get(me.clone(), Some(&token)).await;
    assert_eq!((status, &body), (200, &ana));
    let (status, challenge, _) = get(me.clone(), None).await;
    assert_eq!((status, challenge.as_deref()), (401, Some("Bearer")));

    // Tampered: the payload says bob, the signature is ana's.
    let parts: Vec<&str> = token.split('.').collect();
    let claims = json!({"sub": bob["id"].as_i64().unwrap().to_string(), "roles": ["admin"], "exp": 4_000_000_000u64, "iat": 0});
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    // alg: none, no signature.
    let none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims));
    // Expired an hour ago, well past the leeway.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let expired = tokens.issue_at(&ana["id"].as_i64().unwrap().to_string(), &["user"], now - 7200, now - 3600).unwrap();
    // Signed with another secret.
    let foreign = TokenConfig::hs256(b"someone else's secret, also long").issue(&ana["id"].to_string(), &["user"]).unwrap();
    // Properly signed, but not a user id / not an existing user.
    let not_an_id = tokens.issue("ana", &["user"]).unwrap();
    let no_such_user = tokens.issue("999999", &["admin"]).unwrap();
    for (what, bad) in [
        ("tampered", &tampered),
        ("alg none", &none),
        ("expired", &expired),
        ("foreign", &foreign),
        ("not an id", &not_an_id),
        ("no such user", &no_such_user),
    ] {
        let (status, challenge, body) = get(me.clone(), Some(bad)).await;
        assert_eq!((status, challenge.as_deref()), (401, Some("Bearer error=\"invalid_token\"")), "{what}: {body}");
        assert_eq!(body["detail"], almacen_web::auth::INVALID_TOKEN_DETAIL, "{what}");
        envelope(status, &body);
    }

    // Delete me: 204, then the token is a 401 everywhere it is checked.
    assert_eq!(counts(&db).await, (2, 2));
    let (status, _, _) = send(reqwest::Client::new().delete(me.clone()), Some(&token)).await;
    assert_eq!(status, 204);
    assert_eq!(counts(&db).await, (1, 1));
    assert!(User::get(&db, ana["id"].as_i64().unwrap()).await.unwrap().is_none());
    assert_eq!(get(me.clone(), Some(&token)).await.0, 401);
    assert_eq!(send(reqwest::Client::new().delete(me.clone()), Some(&token)).await.0, 401);
    assert_eq!(get(format!("{base}/users"), Some(&token)).await.0, 401);
    assert_eq!(login(&base, "ana", "Secret123").await.0, 401);
    // Bob is untouched, and the name is free again.
    assert_eq!(get(me.clone(), Some(&token_of(&base, "bob", "Secret123").await)).await.0, 200);
    assert_eq!(register(&base, "ana", "ana@example.com", "Secret123").await.0, 201);
}

async fn admin_lists_users(db: Database, _backend: Backend) {
    let (base, _) = start(&db).await;
    let admin = accounts::ensure_admin(&db, "root", "Admin-Passw0rd").await.unwrap();
    assert_eq!(admin.roles, ["admin"]);
    for i in 0..24 {
        assert_eq!(register(&base, &format!("user{i:02}"), &format!("user{i}@example.com"), "Secret123").await.0, 201);
    }
    let users = format!("{base}/users");
    let (status, challenge, body) = get(users.clone(), None).await;
    assert_eq!((status, challenge.as_deref()), (401, Some("Bearer")), "{body}");
    let plain = token_of(&base, "user00", "Secret123").await;
    let (status, _, body) = get(users.clone(), Some(&plain)).await;
    assert_eq!((status, body["detail"].as_str()), (403, Some(almacen_web::auth::FORBIDDEN_DETAIL)), "{body}");

    let root = token_of(&base, "root", "Admin-Passw0rd").await;
    let (status, _, body) = get(users.clone(), Some(&root)).await;
    assert_eq!(status, 200, "{body}");
    let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["has_next", "has_prev", "items", "page", "page_size", "total", "total_pages"]);
    assert_eq!(
        (&body["total"], &body["page"], &body["page_size"], &body["total_pages"], &body["has_next"], &body["has_prev"]),
        (&json!(25), &json!(1), &json!(20), &json!(2), &json!(true), &json!(false))
    );
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 20);
    assert_eq!((items[0]["username"].as_str(), &items[0]["roles"]), (Some("root"), &json!(["admin"])));
    assert_eq!((items[1]["username"].as_str(), &items[1]["roles"]), (Some("user00"), &json!(["user"])));
    assert!(!body.to_string().contains("argon2") && !body.to_string().contains("password"));

    let (status, _, body) = get(format!("{users}?page=2"), Some(&root)).await;
    assert_eq!(
        (status, body["items"].as_array().unwrap().len(), &body["has_next"], &body["has_prev"]),
        (200, 5, &json!(false), &json!(true))
    );
    let (status, _, body) = get(format!("{users}?page=9&page_size=100"), Some(&root)).await;
    assert_eq!((status, body["items"].as_array().unwrap().len(), &body["total_pages"]), (200, 0, &json!(1)));
    for (query, field) in [("page_size=101", "page_size"), ("page_size=0", "page_size"), ("page=0", "page"), ("page=x", "page")] {
        let (status, _, body) = get(format!("{users}?{query}"), Some(&root)).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(envelope(status, &body)[0]["field"], field, "{query}: {body}");
    }

    // The role is checked in the database: taken away, the admin's token is a 403.
    let admin_role = Role::select().filter(Role::NAME.eq("admin")).fetch_one(&db).await.unwrap();
    UserRole::delete_where(UserRole::ROLE_ID.eq(admin_role.id)).execute(&db).await.unwrap();
    assert_eq!(get(users.clone(), Some(&root)).await.0, 403);
}

async fn ensure_admin_is_idempotent_and_safe_concurrently(db: Database, _backend: Backend) {
    let (base, _) = start(&db).await;
    let runs = (0..4).map(|_| {
        let db = db.clone();
        tokio::spawn(async move { accounts::ensure_admin(&db, "root", "Admin-Passw0rd").await })
    });
    let admins: Vec<_> = futures::future::join_all(runs).await.into_iter().map(|r| r.unwrap().unwrap()).collect();
    assert!(admins.iter().all(|a| a.id == admins[0].id && a.roles == ["admin"]), "{admins:?}");
    assert_eq!(counts(&db).await, (1, 1));
    assert_eq!(Role::select().count(&db).await.unwrap(), 1);

    // Again, with another password: the stored password stays.
    let again = accounts::ensure_admin(&db, "root", "Other-Passw0rd").await.unwrap();
    assert_eq!(again.id, admins[0].id);
    assert_eq!(login(&base, "root", "Other-Passw0rd").await.0, 401);
    token_of(&base, "root", "Admin-Passw0rd").await;
    assert_eq!(counts(&db).await, (1, 1));

    // Someone registered the admin's name first: not promoted without its password.
    assert_eq!(register(&base, "boss", "boss@example.com", "Secret123").await.0, 201);
    let e = accounts::ensure_admin(&db, "boss", "Admin-Passw0rd").await.unwrap_err();
    assert_eq!((e.status().as_u16(), e.errors()[0].field.as_deref()), (409, Some("username")));
    let claims_roles = login(&base, "boss", "Secret123").await.1["access_token"].as_str().map(str::to_string).unwrap();
    let (_, _, me) = get(format!("{base}/users/me"), Some(&claims_roles)).await;
    assert_eq!(me["roles"], json!(["user"]));
    // A weak admin password is refused up front.
    let e = accounts::ensure_admin(&db, "root2", "weak").await.unwrap_err();
    assert_eq!((e.status().as_u16(), e.errors()[0].field.as_deref()), (422, Some("password")));
}

per_backend!(
    register_validates_and_refuses_duplicates,
    login_json_and_form,
    bad_tokens_me_and_delete_me,
    admin_lists_users,
    ensure_admin_is_idempotent_and_safe_concurrently
);

/// The OpenAPI fragment documents every route, its errors and the security.
#[test]
fn openapi_fragment() {
    let doc = serde_json::to_value(accounts::openapi()).unwrap();
    for (path, method, codes) in [
        ("/auth/register", "post", &["201", "409", "422"][..]),
        ("/auth/login", "post", &["200", "401", "422"]),
        ("/auth/token", "post", &["200", "401", "422"]),
        ("/users/me", "get", &["200", "401"]),
        ("/users/me", "delete", &["204", "401"]),
        ("/users", "get", &["200", "401", "403", "422"]),
    ] {
        let op = &doc["paths"][path][method];
        for code in codes {
            assert!(op["responses"][code].is_object(), "{method} {path} {code}: {op}");
        }
    }
    assert_eq!(doc["paths"]["/users"]["get"]["security"], json!([{"bearer": []}, {"oauth2_password": []}]));
    assert!(doc["paths"]["/auth/token"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object());
    assert_eq!(doc["components"]["securitySchemes"]["oauth2_password"]["flows"]["password"]["tokenUrl"], "/auth/token");
    assert!(doc["components"]["schemas"]["ApiError"].is_object());
    let user = &doc["components"]["schemas"]["UserOut"];
    assert!(user["properties"]["roles"].is_object() && user["properties"].get("password_hash").is_none(), "{user}");
    assert!(doc["components"]["schemas"]["RegisterRequest"]["properties"]["password"]["minLength"] == 8);

    // Merged into the service's document, nothing is lost.
    let merged = serde_json::to_value(almacen_web::ApiDoc::new("shop", "1").merge(accounts::openapi()).into_openapi()).unwrap();
    assert!(merged["paths"]["/users/me"]["delete"]["responses"]["401"].is_object(), "{merged}");
    assert!(
        merged["components"]["securitySchemes"]["oauth2_password"].is_object()
            && merged["components"]["securitySchemes"]["bearer"].is_object()
    );
    assert!(merged["components"]["schemas"]["UserPage"].is_object());
}

/// Usernames are unique ignoring case (stored as given, logged in with any case); e-mail
/// addresses are stored lowercased, so case variants are one address. Concurrent
/// registrations of case variants: exactly one wins.
async fn case_variants_are_one_account(db: Database, _backend: Backend) {
    let (base, _) = start(&db).await;
    let (status, body) = register(&base, "Ana_1", "Ana@Example.COM", "Secret123").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!((body["username"].as_str(), body["email"].as_str()), (Some("Ana_1"), Some("ana@example.com")));
    let (status, body) = register(&base, "ana_1", "other@example.com", "Secret123").await;
    assert_eq!((status, only_error(status, &body)), (409, ("username".into(), "unique_violation".into())), "{body}");
    // `_` is no wildcard: a name differing there is another name.
    assert_eq!(register(&base, "anaX1", "x@example.com", "Secret123").await.0, 201);
    let (status, body) = register(&base, "bea", "ANA@example.com", "Secret123").await;
    assert_eq!((status, only_error(status, &body)), (409, ("email".into(), "unique_violation".into())), "{body}");
    token_of(&base, "ANA_1", "Secret123").await;
    token_of(&base, "Ana_1", "Secret123").await;
    assert_eq!(counts(&db).await.0, 2);

    let racers = ["Racer", "rAcEr", "RACER", "racer", "RaCeR", "raCER"].into_iter().enumerate().map(|(i, name)| {
        let base = base.clone();
        tokio::spawn(async move { register(&base, name, &format!("racer{i}@example.com"), "Secret123").await.0 })
    });
    let statuses: Vec<u16> = futures::future::join_all(racers).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
}

per_backend!(case_variants_are_one_account);

/// The 409 of the last admin's `DELETE /users/me` is documented.
#[test]
fn last_admin_409_is_documented() {
    let doc = serde_json::to_value(accounts::openapi()).unwrap();
    assert!(doc["paths"]["/users/me"]["delete"]["responses"]["409"].is_object(), "{}", doc["paths"]["/users/me"]);
}
