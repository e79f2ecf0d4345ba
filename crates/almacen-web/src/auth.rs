//! Authentication building blocks: argon2id password hashes, JWT access tokens, the
//! [`CurrentUser`] extractor with role guards, and the OAuth2 password form.
//!
//! The [`TokenConfig`] reaches the extractors as an axum [`Extension`](axum::Extension):
//! add `.layer(Extension(tokens))` to the router (the config is cheap to clone). Without it,
//! [`CurrentUser`] answers a 500 (a mistake of the service, logged), never a 200.
//!
//! ```no_run
//! use almacen_web::auth::{CurrentUser, PasswordForm, TokenConfig, TokenResponse};
//! use almacen_web::{ApiError, Json};
//! use axum::{Extension, Router, routing::{get, post}};
//!
//! async fn login(Extension(tokens): Extension<TokenConfig>, PasswordForm(form): PasswordForm)
//!     -> Result<Json<TokenResponse>, ApiError> {
//!     // Look the user up; pass `None` for an unknown user so both paths take the same time.
//!     let stored_hash: Option<String> = None;
//!     if !almacen_web::auth::verify_user_password(form.password, stored_hash).await? {
//!         return Err(almacen_web::auth::bad_credentials());
//!     }
//!     Ok(Json(tokens.response(&form.username, &["user"])?))
//! }
//!
//! async fn admin_only(user: CurrentUser) -> Result<String, ApiError> {
//!     user.require("admin")?;
//!     Ok(format!("hello, {}", user.subject()))
//! }
//!
//! let tokens = TokenConfig::hs256(b"a long random secret from the environment");
//! let app: Router = Router::new()
//!     .route("/token", post(login))
//!     .route("/admin", get(admin_only))
//!     .layer(Extension(tokens));
//! ```

use crate::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------
// Passwords
// ---------------------------------------------------------------------------------------

/// Hash `password` with argon2id and the `argon2` crate's recommended default parameters
/// (19 MiB, 2 passes, 1 lane) and a random salt; the result is a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$…`) to store as it is.
///
/// ```
/// let hash = almacen_web::auth::hash_password("Secret123").unwrap();
/// assert!(hash.starts_with("$argon2id$"));
/// assert!(almacen_web::auth::verify_password_blocking("Secret123", &hash));
/// ```
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("hashing a password failed: {e}")))
}

/// Whether `password` matches the PHC string `hash`, comparing in constant time (argon2's
/// own check). Blocks for tens of milliseconds: on an async thread use
/// [`verify_password`] or [`verify_user_password`]. A malformed hash is `false`.
///
/// ```
/// let hash = almacen_web::auth::hash_password("Secret123").unwrap();
/// assert!(!almacen_web::auth::verify_password_blocking("secret123", &hash));
/// assert!(!almacen_web::auth::verify_password_blocking("Secret123", "not a hash"));
/// ```
pub fn verify_password_blocking(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// [`verify_password_blocking`] on tokio's blocking pool, off the async thread.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let hash = almacen_web::auth::hash_password("Secret123").unwrap();
/// assert!(almacen_web::auth::verify_password("Secret123".into(), hash).await.unwrap());
/// # }
/// ```
pub async fn verify_password(password: String, hash: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || verify_password_blocking(&password, &hash))
        .await
        .map_err(|e| ApiError::internal(format!("password verification task failed: {e}")))
}

/// A fixed argon2id hash (of a password nobody knows), with the default parameters, to
/// verify against when the user does not exist.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("almacen dummy password, never valid").expect("hashing the dummy password"));

/// Verify a login: `stored_hash` is the user's hash, or `None` when there is no such user.
/// An unknown user is verified against a fixed dummy hash and answered `false`, so it takes
/// the same time as a wrong password and the two cannot be told apart by timing. Runs off
/// the async thread.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use almacen_web::auth::{hash_password, verify_user_password};
/// let hash = hash_password("Secret123").unwrap();
/// assert!(verify_user_password("Secret123".into(), Some(hash.clone())).await.unwrap());
/// assert!(!verify_user_password("Wrong123".into(), Some(hash)).await.unwrap());
/// assert!(!verify_user_password("Secret123".into(), None).await.unwrap());
/// # }
/// ```
pub async fn verify_user_password(password: String, stored_hash: Option<String>) -> Result<bool, ApiError> {
    match stored_hash {
        Some(hash) => verify_password(password, hash).await,
        None => {
            let dummy = DUMMY_HASH.clone();
            verify_password(password, dummy).await.map(|_| false)
        }
    }
}

/// The detail of a failed login (wrong password or unknown user alike).
///
/// ```
/// assert_eq!(almacen_web::auth::BAD_CREDENTIALS_DETAIL, "incorrect username or password");
/// ```
pub const BAD_CREDENTIALS_DETAIL: &str = "incorrect username or password";

/// The 401 of a failed login: [`BAD_CREDENTIALS_DETAIL`] and `WWW-Authenticate: Bearer`,
/// the same for a wrong password and an unknown user.
///
/// ```
/// let e = almacen_web::auth::bad_credentials();
/// assert_eq!((e.status().as_u16(), e.www_authenticate()), (401, Some("Bearer")));
/// ```
pub fn bad_credentials() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, BAD_CREDENTIALS_DETAIL).with_www_authenticate("Bearer")
}

// ---------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------

/// The claims of an access token.
///
/// ```
/// let c = almacen_web::auth::Claims { sub: "ana".into(), roles: vec!["admin".into()], exp: 0, iat: 0,
///                                     iss: None, aud: None };
/// assert!(c.has_role("admin"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The subject: whom the token is for (a user name or id).
    pub sub: String,
    /// The subject's roles when the token was issued.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issued at, seconds since the Unix epoch.
    #[serde(default)]
    pub iat: u64,
    /// Issuer, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

impl Claims {
    /// Whether the claims carry `role`.
    ///
    /// ```
    /// let c = almacen_web::auth::Claims { sub: "ana".into(), roles: vec![], exp: 0, iat: 0, iss: None, aud: None };
    /// assert!(!c.has_role("admin"));
    /// ```
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// The leeway on `exp`, in seconds, allowed for clocks that disagree a little.
///
/// ```
/// assert_eq!(almacen_web::auth::EXPIRY_LEEWAY_SECS, 30);
/// ```
pub const EXPIRY_LEEWAY_SECS: u64 = 30;

/// How access tokens are signed and checked: HS256 with a secret by default, RS256 with PEM
/// keys as an option; optional issuer and audience; a lifetime (30 minutes by default).
///
/// Verification pins the algorithm to the configured one (a token with `alg: none` or any
/// other algorithm is refused), requires `exp` (checked with [`EXPIRY_LEEWAY_SECS`] of
/// leeway) and a non-empty `sub`. Keys never appear in `Debug` or in errors.
///
/// ```
/// use almacen_web::auth::TokenConfig;
/// use std::time::Duration;
/// let tokens = TokenConfig::hs256(b"secret").with_issuer("shop").with_lifetime(Duration::from_secs(600));
/// let token = tokens.issue("ana", &["admin"]).unwrap();
/// let claims = tokens.verify(&token).unwrap();
/// assert_eq!((claims.sub.as_str(), claims.iss.as_deref()), ("ana", Some("shop")));
/// assert!(!format!("{tokens:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct TokenConfig {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: Option<String>,
    audience: Option<String>,
    lifetime: Duration,
}

/// The default lifetime of an access token: 30 minutes.
///
/// ```
/// assert_eq!(almacen_web::auth::DEFAULT_TOKEN_LIFETIME.as_secs(), 1800);
/// ```
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 60);

impl TokenConfig {
    /// HS256 with `secret` (use at least 32 random bytes).
    ///
    /// ```
    /// let t = almacen_web::auth::TokenConfig::hs256(b"secret");
    /// assert_eq!(t.algorithm(), jsonwebtoken::Algorithm::HS256);
    /// ```
    pub fn hs256(secret: &[u8]) -> Self {
        Self::new(Algorithm::HS256, EncodingKey::from_secret(secret), DecodingKey::from_secret(secret))
    }

    /// RS256 with a PEM private key (PKCS#1 or PKCS#8) and the matching PEM public key. A
    /// key that does not parse is an error that does not quote the key.
    ///
    /// ```
    /// let e = almacen_web::auth::TokenConfig::rs256_pem(b"nope", b"nope").unwrap_err();
    /// assert!(!e.to_string().contains("nope"));
    /// ```
    pub fn rs256_pem(private_pem: &[u8], public_pem: &[u8]) -> Result<Self, KeyError> {
        let encoding = EncodingKey::from_rsa_pem(private_pem).map_err(|_| KeyError("the RS256 private key is not a valid PEM RSA key"))?;
        let decoding = DecodingKey::from_rsa_pem(public_pem).map_err(|_| KeyError("the RS256 public key is not a valid PEM RSA key"))?;
        Ok(Self::new(Algorithm::RS256, encoding, decoding))
    }

    fn new(algorithm: Algorithm, encoding: EncodingKey, decoding: DecodingKey) -> Self {
        TokenConfig {
            inner: Arc::new(Inner { algorithm, encoding, decoding, issuer: None, audience: None, lifetime: DEFAULT_TOKEN_LIFETIME }),
        }
    }

    fn inner_mut(&mut self) -> &mut Inner {
        Arc::make_mut(&mut self.inner)
    }

    /// Set `iss` on issued tokens and require it on verified ones.
    ///
    /// ```
    /// let t = almacen_web::auth::TokenConfig::hs256(b"s").with_issuer("shop");
    /// let other = almacen_web::auth::TokenConfig::hs256(b"s").with_issuer("elsewhere");
    /// assert!(t.verify(&other.issue("ana", &[]).unwrap()).is_err());
    /// ```
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.inner_mut().issuer = Some(issuer.into());
        self
    }

    /// Set `aud` on issued tokens and require it on verified ones.
    ///
    /// ```
    /// let t = almacen_web::auth::TokenConfig::hs256(b"s").with_audience("api");
    /// assert_eq!(t.verify(&t.issue("ana", &[]).unwrap()).unwrap().aud.as_deref(), Some("api"));
    /// ```
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.inner_mut().audience = Some(audience.into());
        self
    }

    /// How long an issued token is valid ([`DEFAULT_TOKEN_LIFETIME`] unless set).
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = almacen_web::auth::TokenConfig::hs256(b"s").with_lifetime(Duration::from_secs(60));
    /// assert_eq!(t.lifetime(), Duration::from_secs(60));
    /// ```
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.inner_mut().lifetime = lifetime;
        self
    }

    /// The signing algorithm.
    ///
    /// ```
    /// # let t = almacen_web::auth::TokenConfig::hs256(b"s");
    /// assert_eq!(t.algorithm(), jsonwebtoken::Algorithm::HS256);
    /// ```
    pub fn algorithm(&self) -> Algorithm {
        self.inner.algorithm
    }

    /// The lifetime of issued tokens.
    ///
    /// ```
    /// # let t = almacen_web::auth::TokenConfig::hs256(b"s");
    /// assert_eq!(t.lifetime(), almacen_web::auth::DEFAULT_TOKEN_LIFETIME);
    /// ```
    pub fn lifetime(&self) -> Duration {
        self.inner.lifetime
    }

    /// Issue an access token for `subject` with `roles`, valid for [`lifetime`](Self::lifetime).
    ///
    /// ```
    /// let t = almacen_web::auth::TokenConfig::hs256(b"s");
    /// let token = t.issue("ana", &["admin"]).unwrap();
    /// assert_eq!(token.split('.').count(), 3);
    /// ```
    pub fn issue(&self, subject: &str, roles: &[&str]) -> Result<String, ApiError> {
        let now = now_secs();
        self.issue_at(subject, roles, now, now + self.inner.lifetime.as_secs())
    }

    /// Issue a token with explicit `iat` and `exp` (seconds since the epoch): for tests of
    /// expiry, and for callers that need other lifetimes.
    ///
    /// ```
    /// let t = almacen_web::auth::TokenConfig::hs256(b"s");
    /// let expired = t.issue_at("ana", &[], 1_000, 2_000).unwrap();
    /// assert!(t.verify(&expired).is_err());
    /// ```
    pub fn issue_at(&self, subject: &str, roles: &[&str], iat: u64, exp: u64) -> Result<String, ApiError> {
        let claims = Claims {
            sub: subject.to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            exp,
            iat,
            iss: self.inner.issuer.clone(),
            aud: self.inner.audience.clone(),
        };
        jsonwebtoken::encode(&Header::new(self.inner.algorithm), &claims, &self.inner.encoding)
            .map_err(|e| ApiError::internal(format!("signing a token failed: {:?}", e.kind())))
    }

    /// The token response of a login for `subject`: `{"access_token", "token_type":
    /// "bearer", "expires_in"}`.
    ///
    /// ```
    /// let t = almacen_web::auth::TokenConfig::hs256(b"s");
    /// let r = t.response("ana", &[]).unwrap();
    /// assert_eq!((r.token_type, r.expires_in), ("bearer", 1800));
    /// ```
    pub fn response(&self, subject: &str, roles: &[&str]) -> Result<TokenResponse, ApiError> {
        Ok(TokenResponse { access_token: self.issue(subject, roles)?, token_type: "bearer", expires_in: self.inner.lifetime.as_secs() })
    }

    /// Check `token`'s signature with the configured algorithm only, its expiry, subject,
    /// and issuer and audience where configured; its claims.
    ///
    /// ```
    /// let t = almacen_web::auth::TokenConfig::hs256(b"s");
    /// assert!(t.verify("garbage").is_err());
    /// ```
    pub fn verify(&self, token: &str) -> Result<Claims, InvalidToken> {
        let mut validation = Validation::new(self.inner.algorithm);
        validation.algorithms = vec![self.inner.algorithm];
        validation.leeway = EXPIRY_LEEWAY_SECS;
        validation.validate_exp = true;
        let mut required = vec!["exp", "sub"];
        match &self.inner.issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &self.inner.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        let data = jsonwebtoken::decode::<Claims>(token, &self.inner.decoding, &validation).map_err(|_| InvalidToken)?;
        if data.claims.sub.is_empty() {
            return Err(InvalidToken);
        }
        Ok(data.claims)
    }
}

impl fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenConfig")
            .field("algorithm", &self.inner.algorithm)
            .field("keys", &"<redacted>")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("lifetime", &self.inner.lifetime)
            .finish()
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A key that could not be loaded; the message never quotes the key.
///
/// ```
/// assert!(almacen_web::auth::TokenConfig::rs256_pem(b"x", b"y").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(&'static str);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for KeyError {}

/// A token that failed verification, for whatever reason (the reason is not told: the
/// client gets the same generic 401 for all).
///
/// ```
/// let e = almacen_web::auth::InvalidToken;
/// assert_eq!(e.to_string(), "invalid or expired token");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidToken;

impl fmt::Display for InvalidToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(INVALID_TOKEN_DETAIL)
    }
}

impl std::error::Error for InvalidToken {}

/// The detail of a 401 for a token that is malformed, tampered with, expired, or signed
/// with another key or algorithm.
///
/// ```
/// assert_eq!(almacen_web::auth::INVALID_TOKEN_DETAIL, "invalid or expired token");
/// ```
pub const INVALID_TOKEN_DETAIL: &str = "invalid or expired token";

/// The detail of a 401 for a request with no bearer token.
///
/// ```
/// assert_eq!(almacen_web::auth::NOT_AUTHENTICATED_DETAIL, "not authenticated");
/// ```
pub const NOT_AUTHENTICATED_DETAIL: &str = "not authenticated";

/// The token response of a login (as OAuth2's): `{"access_token": "…", "token_type":
/// "bearer", "expires_in": 1800}`.
///
/// ```
/// let r = almacen_web::auth::TokenResponse { access_token: "t".into(), token_type: "bearer", expires_in: 60 };
/// assert_eq!(serde_json::to_value(&r).unwrap(),
///            serde_json::json!({"access_token": "t", "token_type": "bearer", "expires_in": 60}));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    /// The JWT.
    pub access_token: String,
    /// Always `"bearer"`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

// ---------------------------------------------------------------------------------------
// Errors of authentication
// ---------------------------------------------------------------------------------------

/// The detail of a 403 for a missing role.
///
/// ```
/// assert_eq!(almacen_web::auth::FORBIDDEN_DETAIL, "not enough permissions");
/// ```
pub const FORBIDDEN_DETAIL: &str = "not enough permissions";

/// The `WWW-Authenticate` challenge of a 401 for a bad token (RFC 6750, section 3.1).
const INVALID_TOKEN_CHALLENGE: &str = "Bearer error=\"invalid_token\"";

fn not_authenticated() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, NOT_AUTHENTICATED_DETAIL).with_www_authenticate("Bearer")
}

fn invalid_token() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, INVALID_TOKEN_DETAIL).with_www_authenticate(INVALID_TOKEN_CHALLENGE)
}

// ---------------------------------------------------------------------------------------
// Extractors
// ---------------------------------------------------------------------------------------

/// The authenticated caller: the verified claims of the `Authorization: Bearer <token>`
/// header, checked with the [`TokenConfig`] installed as an `Extension`.
///
/// Rejections: no header or another scheme → 401 `not authenticated` with
/// `WWW-Authenticate: Bearer`; a malformed, tampered, expired or wrong-algorithm token,
/// or one without a subject → 401 `invalid or expired token` with
/// `WWW-Authenticate: Bearer error="invalid_token"`; no `TokenConfig` installed → 500.
///
/// ```
/// use almacen_web::{ApiError, auth::CurrentUser};
/// async fn me(user: CurrentUser) -> Result<String, ApiError> {
///     user.require("user")?;
///     Ok(user.subject().to_string())
/// }
/// # let _ = axum::Router::<()>::new().route("/me", axum::routing::get(me));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentUser(pub Claims);

impl CurrentUser {
    /// The token's subject.
    ///
    /// ```
    /// # use almacen_web::auth::{Claims, CurrentUser};
    /// let u = CurrentUser(Claims { sub: "ana".into(), roles: vec![], exp: 0, iat: 0, iss: None, aud: None });
    /// assert_eq!(u.subject(), "ana");
    /// ```
    pub fn subject(&self) -> &str {
        &self.0.sub
    }

    /// The token's roles.
    ///
    /// ```
    /// # use almacen_web::auth::{Claims, CurrentUser};
    /// let u = CurrentUser(Claims { sub: "ana".into(), roles: vec!["admin".into()], exp: 0, iat: 0, iss: None, aud: None });
    /// assert_eq!(u.roles(), ["admin"]);
    /// ```
    pub fn roles(&self) -> &[String] {
        &self.0.roles
    }

    /// `Ok` when the user has `role`, a 403 in the envelope otherwise.
    ///
    /// ```
    /// # use almacen_web::auth::{Claims, CurrentUser};
    /// let u = CurrentUser(Claims { sub: "ana".into(), roles: vec!["user".into()], exp: 0, iat: 0, iss: None, aud: None });
    /// assert!(u.require("user").is_ok());
    /// assert_eq!(u.require("admin").unwrap_err().status().as_u16(), 403);
    /// ```
    pub fn require(&self, role: &str) -> Result<(), ApiError> {
        if self.0.has_role(role) { Ok(()) } else { Err(ApiError::new(StatusCode::FORBIDDEN, FORBIDDEN_DETAIL)) }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(tokens) = parts.extensions.get::<TokenConfig>() else {
            return Err(ApiError::internal("CurrentUser needs a TokenConfig installed with .layer(Extension(config))"));
        };
        let token = bearer_token(parts)?;
        tokens.verify(token).map(CurrentUser).map_err(|_| invalid_token())
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(not_authenticated)?;
    let value = value.to_str().map_err(|_| invalid_token())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(not_authenticated)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(not_authenticated());
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(invalid_token());
    }
    Ok(token)
}

/// A role guard as an extractor: the [`CurrentUser`] when it has the role `R::ROLE`, a 403
/// otherwise (and the 401s of `CurrentUser`). The role is checked with [`authorize`]: by
/// the installed [`RoleCheck`] when there is one (a deleted user → 401), by the token's
/// claims otherwise.
///
/// ```
/// use almacen_web::auth::{Role, RequireRole};
/// struct Admin;
/// impl Role for Admin { const ROLE: &'static str = "admin"; }
/// async fn users(RequireRole(user, _): RequireRole<Admin>) -> String { user.subject().to_string() }
/// # let _ = axum::Router::<()>::new().route("/users", axum::routing::get(users));
/// ```
pub struct RequireRole<R: Role>(pub CurrentUser, pub std::marker::PhantomData<R>);

/// A role name for [`RequireRole`].
///
/// ```
/// struct Admin;
/// impl almacen_web::auth::Role for Admin { const ROLE: &'static str = "admin"; }
/// ```
pub trait Role {
    /// The role required.
    const ROLE: &'static str;
}

impl<R: Role, S: Send + Sync> FromRequestParts<S> for RequireRole<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        authorize(&parts.extensions, &user, R::ROLE).await?;
        Ok(RequireRole(user, std::marker::PhantomData))
    }
}

/// What a [`RoleCheck`] found about a subject and a role.
///
/// ```
/// assert_ne!(almacen_web::auth::Access::Granted, almacen_web::auth::Access::MissingRole);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The subject exists and holds the role.
    Granted,
    /// The subject exists without the role (a 403).
    MissingRole,
    /// No such subject any more (deleted, or never was): its token is stale (a 401).
    UnknownSubject,
}

/// The boxed future of [`RoleCheck::check`].
pub type AccessFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Access, ApiError>> + Send + 'a>>;

/// Where roles are checked, instead of the token's claims: a token carries the roles of its
/// login, so without a check against the source of truth a deleted or demoted user keeps
/// them until the token expires. Object-safe; install one as
/// `.layer(Extension(Arc<dyn RoleCheck>))` (see [`SharedRoleCheck`]) and [`authorize`],
/// [`RequireRole`] and the resource guards use it. Without one installed they fall back to
/// the claims. `accounts::DatabaseRoles` is the database's implementation.
///
/// ```
/// use almacen_web::auth::{Access, AccessFuture, RoleCheck, SharedRoleCheck};
/// use std::sync::Arc;
/// struct OnlyAna;
/// impl RoleCheck for OnlyAna {
///     fn check<'a>(&'a self, subject: &'a str, role: &'a str) -> AccessFuture<'a> {
///         Box::pin(async move {
///             Ok(match (subject, role) {
///                 ("ana", "admin") => Access::Granted,
///                 ("ana", _) => Access::MissingRole,
///                 _ => Access::UnknownSubject,
///             })
///         })
///     }
/// }
/// let check: SharedRoleCheck = Arc::new(OnlyAna);
/// let app: axum::Router = axum::Router::new().layer(axum::Extension(check));
/// ```
pub trait RoleCheck: Send + Sync + 'static {
    /// Whether `subject` (a token's `sub`) exists now and holds `role`.
    fn check<'a>(&'a self, subject: &'a str, role: &'a str) -> AccessFuture<'a>;
}

/// The form a [`RoleCheck`] is installed in: `.layer(Extension(shared))`.
pub type SharedRoleCheck = Arc<dyn RoleCheck>;

/// `Ok` when `user` holds `role`: asked of the [`RoleCheck`] in `extensions` when one is
/// installed (an unknown subject → 401 `invalid or expired token`, a missing role → 403),
/// and of the token's claims otherwise ([`CurrentUser::require`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use almacen_web::auth::{Claims, CurrentUser, authorize};
/// let u = CurrentUser(Claims { sub: "ana".into(), roles: vec!["user".into()], exp: 0, iat: 0, iss: None, aud: None });
/// let none = axum::http::Extensions::new();
/// assert!(authorize(&none, &u, "user").await.is_ok());
/// assert_eq!(authorize(&none, &u, "admin").await.unwrap_err().status().as_u16(), 403);
/// # }
/// ```
pub async fn authorize(extensions: &axum::http::Extensions, user: &CurrentUser, role: &str) -> Result<(), ApiError> {
    match extensions.get::<SharedRoleCheck>() {
        None => user.require(role),
        Some(check) => match check.check(user.subject(), role).await? {
            Access::Granted => Ok(()),
            Access::MissingRole => Err(ApiError::new(StatusCode::FORBIDDEN, FORBIDDEN_DETAIL)),
            Access::UnknownSubject => Err(invalid_token()),
        },
    }
}

/// The fields of the OAuth2 password form.
///
/// ```
/// let f = almacen_web::auth::PasswordRequest { username: "ana".into(), password: "pw".into(), scope: String::new() };
/// assert_eq!(f.username, "ana");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordRequest {
    /// `username`.
    pub username: String,
    /// `password` (never printed by `Debug`).
    pub password: String,
    /// `scope` (space-separated; empty when absent).
    pub scope: String,
}

impl fmt::Debug for PasswordRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordRequest")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("scope", &self.scope)
            .finish()
    }
}

/// The OAuth2 password form (as FastAPI's `OAuth2PasswordRequestForm`): an
/// `application/x-www-form-urlencoded` body with `grant_type=password`, `username` and
/// `password` (and an optional `scope`). Rejections are 422s in the envelope naming the
/// field (`missing`, or `value_error` for a `grant_type` other than `password`), 415 for
/// another content type, 413 for an oversized body.
///
/// ```
/// use almacen_web::auth::PasswordForm;
/// async fn token(PasswordForm(form): PasswordForm) -> String { form.username }
/// # let _ = axum::Router::<()>::new().route("/token", axum::routing::post(token));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordForm(pub PasswordRequest);

impl<S: Send + Sync> FromRequest<S> for PasswordForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "expected an application/x-www-form-urlencoded body"));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large")
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "the request body could not be read")
            }
        })?;
        parse_password_form(&bytes).map(PasswordForm)
    }
}

/// Parse an OAuth2 password form body; the rejections of [`PasswordForm`].
///
/// ```
/// let f = almacen_web::auth::parse_password_form(b"grant_type=password&username=ana&password=p%26w").unwrap();
/// assert_eq!(f.password, "p&w");
/// let e = almacen_web::auth::parse_password_form(b"username=ana").unwrap_err();
/// assert_eq!(e.errors().len(), 2); // grant_type and password missing
/// ```
pub fn parse_password_form(body: &[u8]) -> Result<PasswordRequest, ApiError> {
    let (mut grant, mut username, mut password, mut scope) = (None, None, None, None);
    for (k, v) in form_urlencoded::parse(body) {
        let slot = match k.as_ref() {
            "grant_type" => &mut grant,
            "username" => &mut username,
            "password" => &mut password,
            "scope" => &mut scope,
            _ => continue,
        };
        slot.get_or_insert(v.into_owned());
    }
    let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid input");
    match grant.as_deref() {
        None => err = err.with_error(Some("grant_type"), "field required", "missing"),
        Some("password") => {}
        Some(_) => err = err.with_error(Some("grant_type"), "must be \"password\"", "value_error"),
    }
    for (name, value) in [("username", &username), ("password", &password)] {
        if value.as_deref().is_none_or(str::is_empty) {
            err = err.with_error(Some(name), "field required", "missing");
        }
    }
    if !err.errors().is_empty() {
        return Err(err);
    }
    Ok(PasswordRequest { username: username.unwrap_or_default(), password: password.unwrap_or_default(), scope: scope.unwrap_or_default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_argon2id_with_defaults_and_salted() {
        let a = hash_password("Secret123").unwrap();
        let b = hash_password("Secret123").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
        assert!(verify_password_blocking("Secret123", &a) && verify_password_blocking("Secret123", &b));
        assert!(!verify_password_blocking("Secret124", &a));
    }

    #[tokio::test]
    async fn unknown_user_uses_the_dummy_hash() {
        // The dummy hash must itself be a valid argon2id hash with the same parameters,
        // or the unknown-user path would be faster (a parse error returns at once).
        assert!(DUMMY_HASH.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!verify_user_password("almacen dummy password, never valid".into(), None).await.unwrap());
        // And the unknown-user path does the work of a real verification: the dummy parses
        // as a hash (so argon2 runs in full rather than failing at the parse). Checked by
        // structure, not by timing (tests never assert timings).
        assert!(argon2::PasswordHash::new(DUMMY_HASH.as_str()).is_ok());
        let hash = hash_password("Secret123").unwrap();
        assert!(!verify_user_password("Wrong123".into(), Some(hash)).await.unwrap());
        assert!(!verify_user_password("Wrong123".into(), None).await.unwrap());
    }

    #[test]
    fn debug_and_errors_hide_the_secret() {
        let t = TokenConfig::hs256(b"hunter2-secret").with_audience("api");
        let shown = format!("{t:?} {}", t.verify("x.y.z").unwrap_err());
        assert!(!shown.contains("hunter2"), "{shown}");
        let f = PasswordRequest { username: "ana".into(), password: "hunter2".into(), scope: String::new() };
        assert!(!format!("{f:?}").contains("hunter2"));
    }

    #[test]
    fn empty_subject_is_refused() {
        let t = TokenConfig::hs256(b"s");
        assert!(t.verify(&t.issue("", &[]).unwrap()).is_err());
        assert!(t.verify(&t.issue("a", &[]).unwrap()).is_ok());
    }

    #[test]
    fn audience_is_required_when_configured() {
        let t = TokenConfig::hs256(b"s").with_audience("api");
        let plain = TokenConfig::hs256(b"s");
        assert!(t.verify(&plain.issue("a", &[]).unwrap()).is_err());
        assert!(t.verify(&t.issue("a", &[]).unwrap()).is_ok());
    }

    #[test]
    fn expiry_within_the_leeway_passes_beyond_it_fails() {
        let t = TokenConfig::hs256(b"s");
        let now = now_secs();
        assert!(t.verify(&t.issue_at("a", &[], now - 100, now - 5).unwrap()).is_ok());
        assert!(t.verify(&t.issue_at("a", &[], now - 100, now - EXPIRY_LEEWAY_SECS - 5).unwrap()).is_err());
    }

    #[test]
    fn form_grant_type_must_be_password() {
        let e = parse_password_form(b"grant_type=client_credentials&username=a&password=b").unwrap_err();
        assert_eq!((e.errors()[0].field.as_deref(), e.errors()[0].kind.as_str()), (Some("grant_type"), "value_error"));
        let f = parse_password_form(b"grant_type=password&username=a&password=b&scope=x+y").unwrap();
        assert_eq!((f.username.as_str(), f.password.as_str(), f.scope.as_str()), ("a", "b", "x y"));
    }
}
