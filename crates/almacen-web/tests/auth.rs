//! Authentication over real HTTP: login with the OAuth2 password form, a protected route and
//! an admin route; every bad token a 401 with `WWW-Authenticate: Bearer`, a missing role a
//! 403, all in the envelope.

mod support;

use almacen_web::auth::{
    BAD_CREDENTIALS_DETAIL, CurrentUser, PasswordForm, RequireRole, Role, TokenConfig, TokenResponse, hash_password, verify_user_password,
};
use almacen_web::{ApiError, Json, with_service_layers};
use axum::{
    Extension, Router,
    routing::{get, post},
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use support::{envelope, read, serve};

const SECRET: &[u8] = b"test secret, at least thirty-two bytes long";
const RSA_PRIVATE: &[u8] = include_bytes!("keys/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("keys/rsa_public.pem");

struct Admin;
impl Role for Admin {
    const ROLE: &'static str = "admin";
}

/// (password hash, roles) by user name.
type Users = Arc<HashMap<String, (String, Vec<&'static str>)>>;

async fn login(
    Extension(tokens): Extension<TokenConfig>,
    Extension(users): Extension<Users>,
    PasswordForm(form): PasswordForm,
) -> Result<Json<TokenResponse>, ApiError> {
    let user = users.get(&form.username);
    if !verify_user_password(form.password, user.map(|u| u.0.clone())).await? {
        return Err(almacen_web::auth::bad_credentials());
    }
    let roles = &user.expect("verified").1;
    Ok(Json(tokens.response(&form.username, roles)?))
}

fn users() -> Users {
    let mut m = HashMap::new();
    m.insert("ana".to_string(), (hash_password("Secret123").unwrap(), vec!["user", "admin"]));
    m.insert("bob".to_string(), (hash_password("Hunter22").unwrap(), vec!["user"]));
    Arc::new(m)
}

async fn app(tokens: TokenConfig) -> String {
    let app = Router::new()
        .route("/token", post(login))
        .route("/me", get(|user: CurrentUser| async move { Json(json!({"sub": user.subject(), "roles": user.roles()})) }))
        .route("/admin", get(|RequireRole(user, _): RequireRole<Admin>| async move { Json(json!({"admin": user.subject()})) }))
        .route(
            "/admin2",
            get(|user: CurrentUser| async move {
                user.require("admin")?;
                Ok::<_, ApiError>(Json(json!({"admin": user.subject()})))
            }),
        )
        .layer(Extension(tokens))
        .layer(Extension(users()));
    serve(with_service_layers(app)).await
}

async fn get_with(url: &str, auth: Option<&str>) -> (u16, Option<String>, Value) {
    let mut req = reqwest::Client::new().get(url);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.unwrap();
    let www = resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
    let (status, _, body) = read(resp).await;
    (status, www, body)
}

async fn login_form(base: &str, body: &str) -> (u16, Option<String>, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let www = resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
    let (status, _, body) = read(resp).await;
    (status, www, body)
}

fn b64(v: &Value) -> String {
    B64.encode(serde_json::to_vec(v).unwrap())
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A 401 in the envelope with a `Bearer` challenge.
fn unauthorized(what: &str, (status, www, body): (u16, Option<String>, Value)) {
    assert_eq!(status, 401, "{what}: {body}");
    envelope(status, &body);
    let www = www.unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"));
    assert!(www.starts_with("Bearer"), "{what}: {www}");
}

#[tokio::test]
async fn login_and_use_the_token() {
    let base = app(TokenConfig::hs256(SECRET)).await;
    let (status, _, body) = login_form(&base, "grant_type=password&username=ana&password=Secret123").await;
    assert_eq!(status, 200, "{body}");
    let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["access_token", "expires_in", "token_type"]);
    assert_eq!((body["token_type"].as_str(), body["expires_in"].as_u64()), (Some("bearer"), Some(1800)));
    let token = body["access_token"].as_str().unwrap();

    let bearer = format!("Bearer {token}");
    let (status, _, body) = get_with(&format!("{base}/me"), Some(&bearer)).await;
    assert_eq!((status, body), (200, json!({"sub": "ana", "roles": ["user", "admin"]})));
    for path in ["admin", "admin2"] {
        let (status, _, body) = get_with(&format!("{base}/{path}"), Some(&bearer)).await;
        assert_eq!((status, body), (200, json!({"admin": "ana"})));
    }
}

#[tokio::test]
async fn bad_logins_are_the_same_401() {
    let base = app(TokenConfig::hs256(SECRET)).await;
    let wrong = login_form(&base, "grant_type=password&username=ana&password=Secret124").await;
    let unknown = login_form(&base, "grant_type=password&username=zoe&password=Secret123").await;
    unauthorized("wrong password", wrong.clone());
    unauthorized("unknown user", unknown.clone());
    assert_eq!(wrong.2["detail"], BAD_CREDENTIALS_DETAIL);
    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn bad_forms_are_422s_naming_the_field() {
    let base = app(TokenConfig::hs256(SECRET)).await;
    for (body, fields) in [
        ("username=ana&password=Secret123", vec![("grant_type", "missing")]),
        ("grant_type=password&password=Secret123", vec![("username", "missing")]),
        ("grant_type=password&username=ana", vec![("password", "missing")]),
        ("grant_type=implicit&username=ana&password=x", vec![("grant_type", "value_error")]),
        ("", vec![("grant_type", "missing"), ("username", "missing"), ("password", "missing")]),
    ] {
        let (status, _, resp) = login_form(&base, body).await;
        assert_eq!(status, 422, "{body}: {resp}");
        let errors = envelope(status, &resp);
        let got: Vec<(&str, &str)> = errors.iter().map(|e| (e["field"].as_str().unwrap(), e["type"].as_str().unwrap())).collect();
        assert_eq!(got, fields, "{body}");
    }
    let huge = format!("grant_type=password&username=ana&password={}", "x".repeat(3 << 20));
    let (status, _, body) = login_form(&base, &huge).await;
    assert_eq!(status, 413, "{body}");
    envelope(status, &body);
    let resp = reqwest::Client::new().post(format!("{base}/token")).json(&json!({"username": "ana"})).send().await.unwrap();
    let (status, _, body) = read(resp).await;
    assert_eq!(status, 415, "{body}");
    envelope(status, &body);
}

#[tokio::test]
async fn bad_tokens_are_401_with_a_bearer_challenge() {
    let tokens = TokenConfig::hs256(SECRET);
    let base = app(tokens.clone()).await;
    let me = format!("{base}/me");
    let good = tokens.issue("ana", &["admin"]).unwrap();
    let parts: Vec<&str> = good.split('.').collect();

    // No token at all: a plain `Bearer` challenge (RFC 6750 3.1: no error code).
    for (what, auth) in [
        ("no header", None),
        ("basic scheme", Some("Basic YW5hOlNlY3JldDEyMw==")),
        ("no scheme", Some(good.as_str())),
        ("scheme only", Some("Bearer")),
    ] {
        let r = get_with(&me, auth).await;
        assert_eq!(r.1.as_deref(), Some("Bearer"), "{what}");
        unauthorized(what, r);
    }

    let mut sig = parts[2].to_string();
    let flip = if sig.starts_with('A') { "B" } else { "A" };
    sig.replace_range(0..1, flip);
    let tampered_sig = format!("{}.{}.{sig}", parts[0], parts[1]);
    let tampered_payload = format!("{}.{}.{}", parts[0], b64(&json!({"sub": "ana", "roles": ["admin"], "exp": now() + 999_999})), parts[2]);
    let alg_none =
        format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&json!({"sub": "ana", "roles": ["admin"], "exp": now() + 600})));
    let other_secret = TokenConfig::hs256(b"another secret entirely, also long").issue("ana", &["admin"]).unwrap();
    let rs256 = TokenConfig::rs256_pem(RSA_PRIVATE, RSA_PUBLIC).unwrap().issue("ana", &["admin"]).unwrap();
    // RS256 header, HS256 signature with the secret: the algorithm is pinned, so the header
    // alone must refuse it.
    let hs_with_rs_header = {
        let header = b64(&json!({"alg": "RS256", "typ": "JWT"}));
        let payload = parts[1];
        let signed = jsonwebtoken::crypto::sign(
            format!("{header}.{payload}").as_bytes(),
            &jsonwebtoken::EncodingKey::from_secret(SECRET),
            jsonwebtoken::Algorithm::HS256,
        )
        .unwrap();
        format!("{header}.{payload}.{signed}")
    };
    let expired = tokens.issue_at("ana", &["admin"], now() - 7200, now() - 3600).unwrap();
    let no_sub = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"roles": ["admin"], "exp": now() + 600}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    let no_exp = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "ana", "roles": ["admin"]}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap();

    for (what, token) in [
        ("garbage", "garbage".to_string()),
        ("empty", String::new()),
        ("tampered signature", tampered_sig),
        ("tampered payload", tampered_payload),
        ("alg none", alg_none),
        ("other secret", other_secret),
        ("RS256 token", rs256),
        ("RS256 header with HS256 signature", hs_with_rs_header),
        ("expired", expired),
        ("missing sub", no_sub),
        ("missing exp", no_exp),
    ] {
        let r = get_with(&me, Some(&format!("Bearer {token}"))).await;
        let body = r.2.clone();
        unauthorized(what, r.clone());
        if !token.is_empty() {
            assert_eq!(r.1.as_deref(), Some("Bearer error=\"invalid_token\""), "{what}");
            assert_eq!(body["detail"], almacen_web::auth::INVALID_TOKEN_DETAIL, "{what}");
        }
        // The admin guard gives the same 401 before looking at roles.
        unauthorized(what, get_with(&format!("{base}/admin"), Some(&format!("Bearer {token}"))).await);
    }

    // The good token still passes (so the failures above are the tokens', not the app's).
    assert_eq!(get_with(&me, Some(&format!("bearer {good}"))).await.0, 200);
}

#[tokio::test]
async fn a_missing_role_is_403() {
    let tokens = TokenConfig::hs256(SECRET);
    let base = app(tokens.clone()).await;
    let bob = format!("Bearer {}", tokens.issue("bob", &["user"]).unwrap());
    assert_eq!(get_with(&format!("{base}/me"), Some(&bob)).await.0, 200);
    for path in ["admin", "admin2"] {
        let (status, www, body) = get_with(&format!("{base}/{path}"), Some(&bob)).await;
        assert_eq!((status, www), (403, None), "{body}");
        envelope(status, &body);
        assert_eq!(body["detail"], almacen_web::auth::FORBIDDEN_DETAIL);
    }
}

#[tokio::test]
async fn rs256_round_trip_and_hs256_refused() {
    let tokens = TokenConfig::rs256_pem(RSA_PRIVATE, RSA_PUBLIC).unwrap();
    let base = app(tokens.clone()).await;
    let (status, _, body) = login_form(&base, "grant_type=password&username=ana&password=Secret123").await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let header: Value = serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(get_with(&format!("{base}/admin"), Some(&format!("Bearer {token}"))).await.0, 200);

    // An HS256 token signed with the public key's bytes (the classic key-confusion attack).
    let confused = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "ana", "roles": ["admin"], "exp": now() + 600}),
        &jsonwebtoken::EncodingKey::from_secret(RSA_PUBLIC),
    )
    .unwrap();
    unauthorized("HS256 with the public key", get_with(&format!("{base}/me"), Some(&format!("Bearer {confused}"))).await);
}

#[tokio::test]
async fn no_token_config_is_a_500_not_a_pass() {
    let app = Router::new().route("/me", get(|user: CurrentUser| async move { user.subject().to_string() }));
    let base = serve(with_service_layers(app)).await;
    let good = TokenConfig::hs256(SECRET).issue("ana", &[]).unwrap();
    let (status, _, body) = get_with(&format!("{base}/me"), Some(&format!("Bearer {good}"))).await;
    assert_eq!(status, 500, "{body}");
    envelope(status, &body);
}

/// A `RoleCheck` that knows only "ana" as an admin and "bob" as a plain user: whatever the
/// token claims.
struct Directory;
impl almacen_web::auth::RoleCheck for Directory {
    fn check<'a>(&'a self, subject: &'a str, role: &'a str) -> almacen_web::auth::AccessFuture<'a> {
        use almacen_web::auth::Access;
        Box::pin(async move {
            Ok(match (subject, role) {
                ("ana", "admin") => Access::Granted,
                ("ana" | "bob", _) => Access::MissingRole,
                _ => Access::UnknownSubject,
            })
        })
    }
}

/// With a `RoleCheck` installed, `RequireRole` asks it instead of the token's claims: a
/// subject it does not know is a 401 (stale token), one without the role a 403, even when
/// the token claims the role.
#[tokio::test]
async fn require_role_asks_the_installed_role_check() {
    let tokens = TokenConfig::hs256(SECRET);
    let check: almacen_web::auth::SharedRoleCheck = Arc::new(Directory);
    let app = Router::new()
        .route("/admin", get(|RequireRole(user, _): RequireRole<Admin>| async move { Json(json!({"admin": user.subject()})) }))
        .layer(Extension(check))
        .layer(Extension(tokens.clone()));
    let base = serve(with_service_layers(app)).await;
    let bearer = |sub: &str| format!("Bearer {}", tokens.issue(sub, &["admin"]).unwrap());
    let (status, _, body) = get_with(&format!("{base}/admin"), Some(&bearer("ana"))).await;
    assert_eq!((status, body), (200, json!({"admin": "ana"})));
    let (status, _, body) = get_with(&format!("{base}/admin"), Some(&bearer("bob"))).await;
    assert_eq!((status, body["detail"].as_str()), (403, Some("not enough permissions")), "{body}");
    let gone = get_with(&format!("{base}/admin"), Some(&bearer("carol"))).await;
    assert_eq!(gone.2["detail"], "invalid or expired token");
    unauthorized("a subject the check does not know", gone);
}
