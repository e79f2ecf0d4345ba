//! A ready-made accounts capability: users, roles and their many-to-many link as almacen
//! models, and the routes to register, log in (JSON and the OAuth2 password form), read and
//! delete one's own account, and list users (admins only), with their OpenAPI fragment.
//!
//! A service mounts it in a few lines; its migrations create the tables from [`TABLES`]
//! (or `db.create_tables(accounts::TABLES)` in tests), and it seeds an admin at start-up with
//! [`ensure_admin`]:
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use almacen_web::accounts::{self, AccountsOptions};
//! use almacen_web::auth::TokenConfig;
//!
//! let db = almacen::Database::connect("sqlite://shop.db").await?;
//! db.create_tables(accounts::TABLES).await?;
//! accounts::ensure_admin(&db, "admin", "Admin-Passw0rd").await.map_err(|e| e.detail().to_string())?;
//! let tokens = TokenConfig::hs256(b"a long random secret from the environment");
//! let app: axum::Router = accounts::routes(db.clone(), tokens, AccountsOptions::default())
//!     .merge(almacen_web::service_routes(db));
//! let mut doc = accounts::openapi(); // merge into the service's document
//! # Ok(()) }
//! ```
//!
//! | route | answer |
//! |---|---|
//! | `POST /auth/register` `{username, email, password}` | 201 + the user; 422 naming each bad field; 409 naming `username` or `email` when taken |
//! | `POST /auth/login` `{username, password}` | the token response; 401 [`bad_credentials`] for a wrong password and an unknown user alike; the username's case does not matter |
//! | `POST /auth/token` (OAuth2 password form) | as `/auth/login`, for Swagger UI's "Authorize" |
//! | `GET /users/me` | the user of the token |
//! | `DELETE /users/me` | 204; the token then gets 401 on every route here; 409 for the last user with the admin role |
//! | `GET /users?page=&page_size=` | admins only (401 without a token, 403 without the role); a page envelope; `page_size` over the cap → 422 |
//!
//! A user reads as `{id, username, email, roles, created_at}` (UTC); the password hash is
//! never returned. Tokens carry the user's id as subject and the roles read from the
//! database at login; every route here checks the token's user against the database (a
//! deleted user's token is a 401) and the admin list checks the role in the database too.

mod docs;
mod rules;

pub use docs::{OAUTH2_PASSWORD_SCHEME, openapi};
pub use rules::{AccountRules, EMAIL_MAX_LEN};

use crate::auth::{CurrentUser, PasswordForm, TokenConfig, TokenResponse, bad_credentials, verify_user_password};
use crate::validate::{Valid, Validate};
use crate::{ApiError, Json, Query};
use almacen::prelude::*;
use almacen::{Database, ManyToMany};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------

/// An account (table `users`). `password_hash` is an argon2id PHC string; it is never
/// returned (see [`UserOut`]) and `Debug` does not show it.
///
/// ```
/// # use almacen_web::accounts::User;
/// let u = User { id: 1, username: "ana".into(), email: "ana@example.com".into(),
///                password_hash: "$argon2id$secret".into(), created_at: Default::default() };
/// assert!(!format!("{u:?}").contains("secret"));
/// ```
#[derive(Model, Clone, PartialEq)]
#[model(table = "users")]
pub struct User {
    /// Generated key; the subject of the user's tokens.
    #[model(primary_key, auto)]
    pub id: i64,
    /// Unique login name.
    #[model(unique, max_len = 50)]
    pub username: String,
    /// Unique e-mail address.
    #[model(unique, max_len = 254)]
    pub email: String,
    /// The argon2id hash of the password.
    #[model(max_len = 255, hidden)]
    pub password_hash: String,
    /// When the account was created (UTC, set by almacen).
    #[model(created_at)]
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A role (table `roles`): `admin`, `user`, ….
///
/// ```
/// let r = almacen_web::accounts::Role { id: 1, name: "admin".into() };
/// assert_eq!(r.name, "admin");
/// ```
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "roles")]
pub struct Role {
    /// Generated key.
    #[model(primary_key, auto)]
    pub id: i64,
    /// Unique name.
    #[model(unique, max_len = 50)]
    pub name: String,
}

/// The link of a user and a role (table `user_roles`, key `(user_id, role_id)`; both
/// cascade on delete).
///
/// ```
/// let l = almacen_web::accounts::UserRole { user_id: 1, role_id: 2 };
/// assert_eq!(l.role_id, 2);
/// ```
#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "user_roles", composite)]
pub struct UserRole {
    /// The user.
    #[model(primary_key, references = "users.id", on_delete = "cascade")]
    pub user_id: i64,
    /// The role.
    #[model(primary_key, references = "roles.id", on_delete = "cascade")]
    pub role_id: i64,
}

impl User {
    /// The user's roles, through `user_roles`.
    ///
    /// ```no_run
    /// # async fn f(db: &almacen::Database, user: &almacen_web::accounts::User) -> almacen::Result<()> {
    /// let roles = almacen_web::accounts::User::ROLES.load_one(db, user).await?;
    /// # Ok(()) }
    /// ```
    pub const ROLES: ManyToMany<User, Role> = ManyToMany::through(UserRole::USER_ID, UserRole::ROLE_ID);
}

impl Role {
    /// The role's users, through `user_roles`.
    ///
    /// ```no_run
    /// # async fn f(db: &almacen::Database, role: &almacen_web::accounts::Role) -> almacen::Result<()> {
    /// let users = almacen_web::accounts::Role::USERS.load_one(db, role).await?;
    /// # Ok(()) }
    /// ```
    pub const USERS: ManyToMany<Role, User> = ManyToMany::through(UserRole::ROLE_ID, UserRole::USER_ID);
}

/// The accounts' tables in foreign-key order, for `almacen_migrate::cli::run` (with the
/// service's own) and `create_tables`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
/// let db = almacen::Database::connect("sqlite::memory:").await?;
/// db.create_tables(almacen_web::accounts::TABLES).await?;
/// # Ok(()) }
/// ```
pub const TABLES: &[&almacen::TableMeta] = &[User::TABLE, Role::TABLE, UserRole::TABLE];

/// The role of administrators, seeded by [`ensure_admin`] and required by `GET /users`.
///
/// ```
/// assert_eq!(almacen_web::accounts::ADMIN_ROLE, "admin");
/// ```
pub const ADMIN_ROLE: &str = "admin";

// ---------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------

/// The body of `POST /auth/register`, read as [`Valid`]: its schema's rules (the default
/// [`AccountRules`]: lengths, the username's pattern, the e-mail format) are checked before
/// the handler runs and shown in the OpenAPI document; then [`AccountsOptions::rules`] are
/// applied (the password's uppercase letter and digit, a stricter e-mail check). Configured
/// rules can therefore tighten the schema's limits, not loosen them. `Debug` hides the
/// password.
///
/// ```
/// let r: almacen_web::accounts::RegisterRequest = serde_json::from_value(serde_json::json!(
///     {"username": "ana", "email": "ana@example.com", "password": "Secret123"})).unwrap();
/// assert!(!format!("{r:?}").contains("Secret123"));
/// ```
#[derive(Clone, Deserialize, utoipa::ToSchema)]
pub struct RegisterRequest {
    /// 3–50 letters, digits, `_`, `.` or `-` (by default).
    #[schema(min_length = 3, max_length = 50, pattern = "^[A-Za-z0-9_.-]+$", example = "ana")]
    pub username: String,
    /// A valid e-mail address.
    #[schema(format = Email, max_length = 254, example = "ana@example.com")]
    pub email: String,
    /// 8–128 characters with at least one uppercase letter and one digit (by default).
    #[schema(min_length = 8, max_length = 128, format = "password", example = "Secret123")]
    pub password: String,
}

/// No rules beyond the schema's here: [`register_user`] applies the configured
/// [`AccountRules`].
impl Validate for RegisterRequest {}

impl fmt::Debug for RegisterRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterRequest")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The body of `POST /auth/login`. `Debug` hides the password.
///
/// ```
/// let r: almacen_web::accounts::LoginRequest =
///     serde_json::from_value(serde_json::json!({"username": "ana", "password": "Secret123"})).unwrap();
/// assert!(!format!("{r:?}").contains("Secret123"));
/// ```
#[derive(Clone, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// The username.
    #[schema(example = "ana")]
    pub username: String,
    /// The password.
    #[schema(format = "password", example = "Secret123")]
    pub password: String,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

/// A user as the API returns it: `{id, username, email, roles, created_at}`.
///
/// ```
/// let u = almacen_web::accounts::UserOut { id: 1, username: "ana".into(), email: "ana@example.com".into(),
///                                          roles: vec!["user".into()], created_at: Default::default() };
/// let v = serde_json::to_value(&u).unwrap();
/// assert_eq!(v["created_at"], "1970-01-01T00:00:00Z");
/// assert!(v.get("password_hash").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct UserOut {
    /// The user's id.
    pub id: i64,
    /// The username.
    pub username: String,
    /// The e-mail address.
    pub email: String,
    /// The names of the user's roles, sorted.
    pub roles: Vec<String>,
    /// When the account was created, UTC.
    pub created_at: DateTime<Utc>,
}

impl UserOut {
    /// The view of `user` with `roles`.
    ///
    /// ```
    /// # use almacen_web::accounts::{User, UserOut, Role};
    /// let u = User { id: 1, username: "ana".into(), email: "a@b.co".into(), password_hash: String::new(),
    ///                created_at: Default::default() };
    /// let out = UserOut::new(u, vec![Role { id: 1, name: "user".into() }]);
    /// assert_eq!(out.roles, ["user"]);
    /// ```
    pub fn new(user: User, roles: Vec<Role>) -> Self {
        let mut roles: Vec<String> = roles.into_iter().map(|r| r.name).collect();
        roles.sort();
        UserOut { id: user.id, username: user.username, email: user.email, roles, created_at: user.created_at }
    }
}

/// The query of `GET /users`: the shared [`PageQuery`] (`page_size`
/// 1 to [`AccountsOptions::max_page_size`], default [`AccountsOptions::default_page_size`]).
pub use crate::params::PageQuery;

// ---------------------------------------------------------------------------------------
// Options and routes
// ---------------------------------------------------------------------------------------

/// How the accounts routes behave. The default is the shop's contract.
///
/// ```
/// let o = almacen_web::accounts::AccountsOptions::default();
/// assert_eq!((o.default_role.as_str(), o.default_page_size, o.max_page_size), ("user", 20, 100));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountsOptions {
    /// The role every registered user gets (`user`).
    pub default_role: String,
    /// `page_size` when the query has none (20).
    pub default_page_size: u64,
    /// The largest `page_size` accepted; more is a 422 (100).
    pub max_page_size: u64,
    /// The rules of usernames, e-mails and passwords.
    pub rules: AccountRules,
}

impl Default for AccountsOptions {
    fn default() -> Self {
        AccountsOptions { default_role: "user".into(), default_page_size: 20, max_page_size: 100, rules: AccountRules::default() }
    }
}

#[derive(Clone)]
struct AccountsState {
    db: Database,
    tokens: TokenConfig,
    options: Arc<AccountsOptions>,
}

/// The accounts routes (see the [module](self)), with the [`TokenConfig`] installed for
/// their [`CurrentUser`] extractors. Merge into the application's router.
///
/// ```
/// use almacen_web::accounts::{self, AccountsOptions};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
/// let db = almacen::Database::connect("sqlite::memory:").await?;
/// let tokens = almacen_web::auth::TokenConfig::hs256(b"secret");
/// let app: axum::Router = accounts::routes(db, tokens, AccountsOptions::default());
/// # Ok(()) }
/// ```
pub fn routes<S: Clone + Send + Sync + 'static>(db: Database, tokens: TokenConfig, options: AccountsOptions) -> Router<S> {
    let state = AccountsState { db, tokens: tokens.clone(), options: Arc::new(options) };
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/token", post(token))
        .route("/users/me", get(me).delete(delete_me))
        .route("/users", get(list_users))
        .layer(Extension(tokens))
        .with_state(state)
}

// ---------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------

#[utoipa::path(post, path = "/auth/register", tag = "accounts",
    request_body = RegisterRequest,
    responses((status = 201, description = "The new user", body = UserOut)))]
async fn register(State(st): State<AccountsState>, Valid(input): Valid<RegisterRequest>) -> Result<Response, ApiError> {
    let user = register_user(&st.db, &st.options, input).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

#[utoipa::path(post, path = "/auth/login", tag = "accounts",
    request_body = LoginRequest,
    responses((status = 200, description = "An access token", body = docs::TokenResponseDoc)))]
async fn login(State(st): State<AccountsState>, Json(input): Json<LoginRequest>) -> Result<Json<TokenResponse>, ApiError> {
    log_in(&st, input.username, input.password).await.map(Json)
}

#[utoipa::path(post, path = "/auth/token", tag = "accounts",
    request_body(content = docs::PasswordFormDoc, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "An access token (OAuth2 password flow)", body = docs::TokenResponseDoc)))]
async fn token(State(st): State<AccountsState>, PasswordForm(form): PasswordForm) -> Result<Json<TokenResponse>, ApiError> {
    log_in(&st, form.username, form.password).await.map(Json)
}

#[utoipa::path(get, path = "/users/me", tag = "accounts",
    responses((status = 200, description = "The user of the token", body = UserOut)),
    security(("bearer" = []), ("oauth2_password" = [])))]
async fn me(State(st): State<AccountsState>, caller: CurrentUser) -> Result<Json<UserOut>, ApiError> {
    let user = account_of(&st.db, &caller).await?;
    let roles = User::ROLES.load_one(&st.db, &user).await?;
    Ok(Json(UserOut::new(user, roles)))
}

#[utoipa::path(delete, path = "/users/me", tag = "accounts",
    responses((status = 204, description = "The account is deleted; its tokens are refused from now on")),
    security(("bearer" = []), ("oauth2_password" = [])))]
async fn delete_me(State(st): State<AccountsState>, caller: CurrentUser) -> Result<StatusCode, ApiError> {
    let user = account_of(&st.db, &caller).await?;
    let tx = st.db.begin().await?;
    refuse_last_admin(&tx, &user).await?;
    UserRole::delete_where(UserRole::USER_ID.eq(user.id)).execute(&tx).await?;
    let gone = User::delete_by_key(&tx, user.id).await?;
    tx.commit().await?;
    // Deleted by a concurrent request meanwhile: the token no longer has a user.
    if gone { Ok(StatusCode::NO_CONTENT) } else { Err(stale_token()) }
}

/// A page of users, `{items, total, page, page_size, total_pages, has_next, has_prev}`.
#[derive(Serialize)]
struct UserPage(almacen::query::Page<UserOut>);

#[utoipa::path(get, path = "/users", tag = "accounts",
    params(PageQuery),
    responses((status = 200, description = "A page of users, by id", body = docs::UserPageDoc)),
    security(("bearer" = []), ("oauth2_password" = [])))]
async fn list_users(State(st): State<AccountsState>, caller: CurrentUser, Query(q): Query<PageQuery>) -> Result<Json<UserPage>, ApiError> {
    let admin = account_of(&st.db, &caller).await?;
    // The role as the database has it now, not as the token had it at login.
    if !User::ROLES.load_one(&st.db, &admin).await?.iter().any(|r| r.name == ADMIN_ROLE) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, crate::auth::FORBIDDEN_DETAIL));
    }
    let (page, page_size) = page_params(q, &st.options)?;
    let page = User::select().order_by(User::ID.asc()).paginate(&st.db, page, page_size).await?;
    let roles = User::ROLES.load(&st.db, &page.items).await?;
    let mut roles = roles.into_iter();
    Ok(Json(UserPage(page.map(|u| UserOut::new(u, roles.next().unwrap_or_default())))))
}

fn page_params(q: PageQuery, options: &AccountsOptions) -> Result<(u64, u64), ApiError> {
    let page = q.page.unwrap_or(1);
    let size = q.page_size.unwrap_or(options.default_page_size);
    let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid query parameter");
    if page == 0 {
        err = err.with_error(Some("page"), "must be at least 1", "too_small");
    }
    if size == 0 {
        err = err.with_error(Some("page_size"), "must be at least 1", "too_small");
    } else if size > options.max_page_size {
        err = err.with_error(Some("page_size"), format!("must be at most {}", options.max_page_size), "too_large");
    }
    if err.errors().is_empty() { Ok((page, size)) } else { Err(err) }
}

// ---------------------------------------------------------------------------------------
// The work
// ---------------------------------------------------------------------------------------

/// The detail of the 409 refusing to delete the last administrator.
const LAST_ADMIN_DETAIL: &str = "this is the last account with the admin role; give the role to another account before deleting this one";

/// Inside the delete's transaction: a 409 when `user` holds the admin role and no other
/// user does. The admin role's links are locked (`FOR UPDATE`) before they are counted, so
/// of two admins deleting themselves at once the second waits for the first and then sees
/// it gone (on SQLite the write transaction is serialized anyway).
async fn refuse_last_admin(tx: &almacen::Transaction, user: &User) -> Result<(), ApiError> {
    let Some(admin) = Role::select().filter(Role::NAME.eq(ADMIN_ROLE)).fetch_optional(tx).await? else { return Ok(()) };
    let links = UserRole::select().filter(UserRole::ROLE_ID.eq(admin.id)).for_update().fetch_all(tx).await?;
    let is_admin = links.iter().any(|l| l.user_id == user.id);
    if is_admin && links.iter().all(|l| l.user_id == user.id) {
        return Err(ApiError::new(StatusCode::CONFLICT, LAST_ADMIN_DETAIL).with_error(None::<String>, "the last admin", "last_admin"));
    }
    Ok(())
}

fn stale_token() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, crate::auth::INVALID_TOKEN_DETAIL).with_www_authenticate("Bearer error=\"invalid_token\"")
}

/// The user of a verified token, read from the database: a 401 when the subject is not a
/// user id or the user is gone.
async fn account_of(db: &Database, caller: &CurrentUser) -> Result<User, ApiError> {
    let id: i64 = caller.subject().parse().map_err(|_| stale_token())?;
    User::get(db, id).await?.ok_or_else(stale_token)
}

/// The role named `name`, created when missing. Safe when run concurrently: a lost race
/// for the insert reads the winner's row.
async fn ensure_role(db: &Database, name: &str) -> Result<Role, ApiError> {
    let query = Role::select().filter(Role::NAME.eq(name));
    let find = || query.fetch_optional(db);
    if let Some(role) = find().await? {
        return Ok(role);
    }
    match Role::insert(db, NewRole { name: name.to_string() }).await {
        Ok(role) => Ok(role),
        Err(almacen::Error::UniqueViolation(_)) => find().await?.ok_or_else(|| ApiError::internal(format!("role {name} vanished"))),
        Err(e) => Err(e.into()),
    }
}

async fn hash_off_thread(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || crate::auth::hash_password(&password))
        .await
        .map_err(|e| ApiError::internal(format!("password hashing task failed: {e}")))?
}

/// 409 naming the field of a duplicate username or e-mail.
async fn duplicate(db: &Database, field: Option<&str>, username: &str) -> Result<ApiError, ApiError> {
    let field = match field {
        Some(f @ ("username" | "email")) => f,
        _ => {
            // The backend did not say which: look.
            if User::select().filter(User::USERNAME.eq(username)).fetch_optional(db).await?.is_some() { "username" } else { "email" }
        }
    };
    let what = if field == "username" { "username" } else { "e-mail address" };
    Ok(ApiError::new(StatusCode::CONFLICT, format!("this {what} is already registered")).with_error(
        Some(field),
        "already registered",
        "unique_violation",
    ))
}

/// Register an account: check `input` against `options.rules` (422 naming each field),
/// hash the password, and write the user and its link to `options.default_role` in one
/// transaction (409 naming `username` or `email` when taken; nothing written on any
/// failure). A username equal to an existing one ignoring case is taken (`Admin` next to
/// `admin`), checked inside the transaction with registrations serialized on the default
/// role's row; the username is stored as given. The e-mail address is stored lowercased,
/// so addresses differing only in case are one address. The service's own code can call it too (e.g. for sign-up forms).
///
/// ```
/// use almacen_web::accounts::{self, AccountsOptions, RegisterRequest};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), almacen_web::ApiError> {
/// let db = almacen::Database::connect("sqlite::memory:").await?;
/// db.create_tables(accounts::TABLES).await?;
/// let input = RegisterRequest { username: "ana".into(), email: "ana@example.com".into(), password: "Secret123".into() };
/// let ana = accounts::register_user(&db, &AccountsOptions::default(), input).await?;
/// assert_eq!(ana.roles, ["user"]);
/// # Ok(()) }
/// ```
pub async fn register_user(db: &Database, options: &AccountsOptions, input: RegisterRequest) -> Result<UserOut, ApiError> {
    options.rules.check(&input.username, &input.email, &input.password)?;
    let RegisterRequest { username, email, password } = input;
    // E-mail addresses are compared without case (as mail systems do in practice): stored
    // lowercased, so the unique index refuses `Ana@Example.com` next to `ana@example.com`.
    let email = email.to_lowercase();
    let password_hash = hash_off_thread(password).await?;
    let role = ensure_role(db, &options.default_role).await?;
    let new = NewUser { username: username.clone(), email: email.clone(), password_hash };
    let written: almacen::Result<Option<User>> = async {
        let tx = db.begin().await?;
        // Registrations are serialized on the default role's row (every one links it), so
        // the case-insensitive check below cannot race another registration of a case
        // variant under READ COMMITTED (SQLite serializes writers anyway).
        Role::select().filter(Role::ID.eq(role.id)).for_update().fetch_optional(&tx).await?;
        if User::select().filter(User::USERNAME.ilike(like_exact(&username))).exists(&tx).await? {
            return Ok(None);
        }
        let user = User::insert(&tx, new).await?;
        User::ROLES.link(&tx, &user, &role).await?;
        tx.commit().await?;
        Ok(Some(user))
    }
    .await;
    match written {
        Ok(Some(user)) => Ok(UserOut::new(user, vec![role])),
        Ok(None) => Err(duplicate(db, Some("username"), &username).await?),
        Err(almacen::Error::UniqueViolation(info)) => Err(duplicate(db, info.field.as_deref(), &username).await?),
        Err(e) => Err(e.into()),
    }
}

/// A `LIKE` pattern matching exactly `text` (its wildcards escaped).
fn like_exact(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// The user of a login name: the exact name, or else the one user whose name equals it
/// ignoring case (none when several older accounts differ only in case).
async fn find_login(db: &Database, username: &str) -> Result<Option<User>, ApiError> {
    if let Some(user) = User::select().filter(User::USERNAME.eq(username)).fetch_optional(db).await? {
        return Ok(Some(user));
    }
    let mut found = User::select().filter(User::USERNAME.ilike(like_exact(username))).limit(2).fetch_all(db).await?;
    Ok(if found.len() == 1 { found.pop() } else { None })
}

async fn log_in(st: &AccountsState, username: String, password: String) -> Result<TokenResponse, ApiError> {
    let user = find_login(&st.db, &username).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    if !verify_user_password(password, hash).await? {
        return Err(bad_credentials());
    }
    let user = user.ok_or_else(bad_credentials)?;
    let roles = User::ROLES.load_one(&st.db, &user).await?;
    let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    st.tokens.response(&user.id.to_string(), &names)
}

/// The [`RoleCheck`](crate::auth::RoleCheck) of these accounts: a token's subject is a
/// user id, and it holds a role when the user exists **now** and is linked to the role in
/// `user_roles` (not when the token said so at login). Install it so the resource guards
/// and [`RequireRole`](crate::auth::RequireRole) agree with the accounts routes: a deleted
/// user's token is a 401 everywhere, a demoted user's a 403.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
/// use almacen_web::accounts::DatabaseRoles;
/// let db = almacen::Database::connect("sqlite::memory:").await?;
/// let app: axum::Router = axum::Router::new().layer(axum::Extension(DatabaseRoles::shared(db)));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DatabaseRoles {
    db: Database,
}

impl fmt::Debug for DatabaseRoles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseRoles").finish_non_exhaustive()
    }
}

impl DatabaseRoles {
    /// The check over `db`'s accounts tables.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
    /// let db = almacen::Database::connect("sqlite::memory:").await?;
    /// let roles = almacen_web::accounts::DatabaseRoles::new(db);
    /// # Ok(()) }
    /// ```
    pub fn new(db: Database) -> Self {
        DatabaseRoles { db }
    }

    /// The check as the [`SharedRoleCheck`](crate::auth::SharedRoleCheck) to install with
    /// `.layer(Extension(…))`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> almacen::Result<()> {
    /// let db = almacen::Database::connect("sqlite::memory:").await?;
    /// let shared: almacen_web::auth::SharedRoleCheck = almacen_web::accounts::DatabaseRoles::shared(db);
    /// # Ok(()) }
    /// ```
    pub fn shared(db: Database) -> crate::auth::SharedRoleCheck {
        Arc::new(Self::new(db))
    }
}

impl crate::auth::RoleCheck for DatabaseRoles {
    fn check<'a>(&'a self, subject: &'a str, role: &'a str) -> crate::auth::AccessFuture<'a> {
        use crate::auth::Access;
        Box::pin(async move {
            let Ok(id) = subject.parse::<i64>() else { return Ok(Access::UnknownSubject) };
            // One statement per check (it runs on every guarded request): a row per role of
            // the user, one row with a null role for a user without roles, none for no user.
            let rows = self.db.fetch_all_raw(ROLE_NAMES_SQL, almacen::params! { "id" => id }).await?;
            if rows.is_empty() {
                return Ok(Access::UnknownSubject);
            }
            for row in &rows {
                if row.get::<Option<String>>("role")?.as_deref() == Some(role) {
                    return Ok(Access::Granted);
                }
            }
            Ok(Access::MissingRole)
        })
    }
}

/// The role names of one user (`:id`), as [`DatabaseRoles`] reads them.
const ROLE_NAMES_SQL: &str = "SELECT r.name AS role FROM users u \
     LEFT JOIN user_roles ur ON ur.user_id = u.id LEFT JOIN roles r ON r.id = ur.role_id WHERE u.id = :id";

/// Make sure an administrator account exists at start-up: the user `username` with the
/// role [`ADMIN_ROLE`] (and the role itself). Idempotent, and safe when several instances
/// start at once (a lost race reads the winner's rows). Returns the admin.
///
/// When the user already exists with the admin role, its password is **left as it is**,
/// whatever `password` says (a warning, without the password, is logged when it does not
/// match): an administrator who changed the password keeps it across restarts, and
/// rotating it is an explicit act, not a side effect of the environment. When a user of
/// that name exists *without* the role (someone registered the name first), it gets the
/// role only if `password` is its password; otherwise this is a 409 naming `username`,
/// never a promotion of someone else's account. The admin's e-mail is
/// `<username>@admin.invalid` when created here. `password` must meet the default
/// [`AccountRules`] (422 otherwise, naming `password`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), almacen_web::ApiError> {
/// let db = almacen::Database::connect("sqlite::memory:").await?;
/// db.create_tables(almacen_web::accounts::TABLES).await?;
/// let a = almacen_web::accounts::ensure_admin(&db, "admin", "Admin-Passw0rd").await?;
/// let b = almacen_web::accounts::ensure_admin(&db, "admin", "Admin-Passw0rd").await?;
/// assert_eq!(a.id, b.id);
/// assert_eq!(b.roles, ["admin"]);
/// # Ok(()) }
/// ```
pub async fn ensure_admin(db: &Database, username: &str, password: &str) -> Result<UserOut, ApiError> {
    let email = format!("{username}@admin.invalid");
    AccountRules::default().check(username, &email, password)?;
    let role = ensure_role(db, ADMIN_ROLE).await?;
    let query = User::select().filter(User::USERNAME.eq(username));
    let find = || query.fetch_optional(db);
    let user = match find().await? {
        Some(user) => {
            let same_password = crate::auth::verify_password(password.to_string(), user.password_hash.clone()).await?;
            let is_admin = User::ROLES.load_one(db, &user).await?.iter().any(|r| r.id == role.id);
            if !is_admin && !same_password {
                // Someone else's account under the admin's name: never promote it.
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "a user with the admin's username exists without the admin role and with another password; not promoting it",
                )
                .with_error(Some("username"), "taken by a user who is not the admin", "unique_violation"));
            }
            if !same_password {
                tracing::warn!(username, "the admin account exists with another password; its password is left unchanged");
            }
            user
        }
        None => {
            let password_hash = hash_off_thread(password.to_string()).await?;
            let new = NewUser { username: username.to_string(), email, password_hash };
            let written: almacen::Result<User> = async {
                let tx = db.begin().await?;
                let user = User::insert(&tx, new).await?;
                User::ROLES.link(&tx, &user, &role).await?;
                tx.commit().await?;
                Ok(user)
            }
            .await;
            match written {
                Ok(user) => user,
                // Another instance created it first.
                Err(almacen::Error::UniqueViolation(_)) => {
                    find().await?.ok_or_else(|| ApiError::internal("the admin account vanished while being created"))?
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let mut roles = User::ROLES.load_one(db, &user).await?;
    if !roles.iter().any(|r| r.id == role.id) {
        match User::ROLES.link(db, &user, &role).await {
            Ok(()) | Err(almacen::Error::UniqueViolation(_)) => {}
            Err(e) => return Err(e.into()),
        }
        roles = User::ROLES.load_one(db, &user).await?;
    }
    Ok(UserOut::new(user, roles))
}
