//! The shop as `main` builds it (migrations, the admin seeded, the router in the service
//! layers with metrics), on a real listener, and a small HTTP client for it.

use almacen::Database;
use almacen_web::auth::TokenConfig;
use almacen_web::{Metrics, ServiceArgs};
use base64::Engine;
use clap::Parser;
use serde_json::{Value, json};

pub const SECRET: &[u8] = b"shop contract test secret, long enough";
pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "Admin-Passw0rd";

/// `main`'s service settings, at their defaults.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    service: ServiceArgs,
}

pub struct Shop {
    pub base: String,
    pub tokens: TokenConfig,
    client: reqwest::Client,
    /// The service's own OpenAPI document: every answer's status must be one it documents.
    doc: Value,
}

/// A response: status, headers, body (JSON, or the text as a string when not JSON).
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.text)
    }
}

pub async fn start(db: &Database) -> Shop {
    shop::app::migrate(db).await.unwrap();
    almacen_web::accounts::ensure_admin(db, ADMIN, ADMIN_PASSWORD).await.unwrap();
    let tokens = TokenConfig::hs256(SECRET);
    let cli = Cli::try_parse_from(["shop"]).unwrap();
    let app = shop::app::router(db.clone(), tokens.clone());
    let app = cli.service.service_config().metrics(Metrics::new().database(db)).apply(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::new();
    let doc = client.get(format!("http://{addr}/openapi.json")).send().await.unwrap().json().await.unwrap();
    Shop { base: format!("http://{addr}"), tokens, client, doc }
}

impl Shop {
    pub async fn send(&self, method_name: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let method = reqwest::Method::from_bytes(method_name.as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = Self::read(req).await;
        self.check_documented(method_name, path, &resp);
        resp
    }

    /// The status of an answer to a documented operation is one of its documented responses.
    fn check_documented(&self, method: &str, path: &str, resp: &Resp) {
        let path = path.split('?').next().unwrap();
        let segments: Vec<&str> = path.split('/').collect();
        let Some(paths) = self.doc["paths"].as_object() else { panic!("no paths in the document") };
        for (template, ops) in paths {
            let parts: Vec<&str> = template.split('/').collect();
            let matches = parts.len() == segments.len() && parts.iter().zip(&segments).all(|(t, s)| t.starts_with('{') || t == s);
            if !matches {
                continue;
            }
            if let Some(op) = ops.get(method.to_lowercase()) {
                let status = resp.status.to_string();
                assert!(
                    op["responses"].get(&status).is_some() || op["responses"].get("default").is_some(),
                    "{method} {path} answered {status}, which the document does not list for {template}: {resp:?}"
                );
            }
        }
    }

    pub async fn raw(&self, method_name: &str, path: &str, token: Option<&str>, content_type: &str, body: &str) -> Resp {
        let method = reqwest::Method::from_bytes(method_name.as_bytes()).unwrap();
        let mut req =
            self.client.request(method, format!("{}{path}", self.base)).header("content-type", content_type).body(body.to_string());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = Self::read(req).await;
        self.check_documented(method_name, path, &resp);
        resp
    }

    async fn read(req: reqwest::RequestBuilder) -> Resp {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()));
        let resp = Resp { status, headers, text, body };
        if resp.status == 204 {
            assert_eq!(resp.text, "", "a 204 has no body");
        }
        if resp.status >= 400 {
            assert_envelope(&resp);
        }
        assert!(resp.status < 500, "a 5xx: {resp:?}");
        resp
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.send("GET", path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.send("POST", path, token, Some(body)).await
    }

    /// Logs in with the JSON form; the token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let r = self.post("/auth/login", None, json!({"username": username, "password": password})).await;
        assert_eq!(r.status, 200, "{r:?}");
        r.body["access_token"].as_str().unwrap().to_string()
    }

    pub async fn admin(&self) -> String {
        self.login(ADMIN, ADMIN_PASSWORD).await
    }

    /// Registers over HTTP and logs in; (the user as read, token).
    pub async fn user(&self, name: &str) -> (Value, String) {
        let password = "Secret123";
        let r = self
            .post("/auth/register", None, json!({"username": name, "email": format!("{name}@example.com"), "password": password}))
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        let token = self.login(name, password).await;
        (r.body, token)
    }

    /// Creates a product as `admin` (token); its JSON.
    pub async fn product(&self, admin: &str, name: &str, sku: &str, price: f64, stock: i64) -> Value {
        let r = self.post("/products", Some(admin), json!({"name": name, "sku": sku, "price": price, "stock": stock})).await;
        assert_eq!(r.status, 201, "{r:?}");
        r.body
    }
}

/// Every error body is `{"detail": "...", "errors": [{"field", "message", "type"}...]}`.
pub fn assert_envelope(r: &Resp) {
    let body = &r.body;
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "no detail: {r:?}");
    let errors = body["errors"].as_array().unwrap_or_else(|| panic!("no errors array: {r:?}"));
    for e in errors {
        assert!(e["message"].is_string() && e["type"].is_string(), "{r:?}");
        assert!(e["field"].is_string() || e["field"].is_null(), "{r:?}");
    }
}

/// The fields the errors of a response name (each once, in order).
pub fn fields(r: &Resp) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in r.body["errors"].as_array().unwrap() {
        let field = e["field"].as_str().unwrap_or("").to_string();
        if !out.contains(&field) {
            out.push(field);
        }
    }
    out
}

pub fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}
