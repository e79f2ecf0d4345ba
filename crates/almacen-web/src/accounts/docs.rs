//! The OpenAPI fragment of the accounts routes.

use super::{LoginRequest, RegisterRequest, UserOut};
use crate::openapi::{add_common_components, error_response};
use utoipa::OpenApi as _;
use utoipa::openapi::security::{Flow, OAuth2, Password, Scopes, SecurityScheme};
use utoipa::openapi::{HttpMethod, OpenApi};

/// The name of the OAuth2 password-flow security scheme (token URL `/auth/token`), which
/// lets Swagger UI's "Authorize" log in with a username and password.
///
/// ```
/// assert_eq!(almacen_web::accounts::OAUTH2_PASSWORD_SCHEME, "oauth2_password");
/// ```
pub const OAUTH2_PASSWORD_SCHEME: &str = "oauth2_password";

/// The token response (`TokenResponse`), for the document.
#[derive(utoipa::ToSchema)]
#[schema(as = TokenResponse)]
#[allow(dead_code)]
pub(super) struct TokenResponseDoc {
    /// The JWT access token.
    access_token: String,
    /// Always `bearer`.
    #[schema(example = "bearer")]
    token_type: String,
    /// Seconds until the token expires.
    expires_in: u64,
}

/// The OAuth2 password form.
#[derive(utoipa::ToSchema)]
#[schema(as = PasswordForm)]
#[allow(dead_code)]
pub(super) struct PasswordFormDoc {
    /// Must be `password`.
    #[schema(example = "password")]
    grant_type: String,
    /// The username.
    username: String,
    /// The password.
    #[schema(format = "password")]
    password: String,
    /// Space-separated scopes (ignored).
    scope: Option<String>,
}

/// A page of users.
#[derive(utoipa::ToSchema)]
#[schema(as = UserPage)]
#[allow(dead_code)]
pub(super) struct UserPageDoc {
    /// The users of this page, by id.
    items: Vec<UserOut>,
    /// Users in all.
    total: u64,
    /// This page, from 1.
    page: u64,
    /// Rows per page.
    page_size: u64,
    /// Pages in all.
    total_pages: u64,
    /// Whether a next page exists.
    has_next: bool,
    /// Whether a previous page exists.
    has_prev: bool,
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(super::register, super::login, super::token, super::me, super::delete_me, super::list_users),
    components(schemas(RegisterRequest, LoginRequest, UserOut, TokenResponseDoc, PasswordFormDoc, UserPageDoc)),
    tags((name = "accounts", description = "Registration, login, and users"))
)]
struct AccountsDoc;

/// The error responses of each route: (path, method, [(status, description)]).
/// (status, description) of one error response.
type ErrorDoc = (&'static str, &'static str);

const ERRORS: &[(&str, HttpMethod, &[ErrorDoc])] = &[
    (
        "/auth/register",
        HttpMethod::Post,
        &[
            ("409", "The username or e-mail is already registered (the field is named)"),
            ("413", "The body is too large"),
            ("415", "The body is not JSON"),
            ("422", "Invalid input (each field at fault is named; the password is never echoed)"),
        ],
    ),
    (
        "/auth/login",
        HttpMethod::Post,
        &[
            ("401", "Incorrect username or password (the same for an unknown user)"),
            ("413", "The body is too large"),
            ("415", "The body is not JSON"),
            ("422", "Invalid input"),
        ],
    ),
    (
        "/auth/token",
        HttpMethod::Post,
        &[
            ("401", "Incorrect username or password (the same for an unknown user)"),
            ("413", "The body is too large"),
            ("415", "The body is not a form"),
            ("422", "A field is missing, or grant_type is not `password`"),
        ],
    ),
    ("/users/me", HttpMethod::Get, &[("401", "No token, or an invalid or expired one, or its user is gone")]),
    (
        "/users/me",
        HttpMethod::Delete,
        &[("401", "No token, or an invalid or expired one, or its user is gone"), ("409", "The user is the last one with the admin role")],
    ),
    (
        "/users",
        HttpMethod::Get,
        &[
            ("401", "No token, or an invalid or expired one, or its user is gone"),
            ("403", "The user is not an admin"),
            ("422", "page < 1, or page_size < 1 or over the cap"),
        ],
    ),
];

/// The OpenAPI 3.1 fragment of the accounts routes: every route with its bodies, its
/// responses including the errors (in the shared envelope), the schemas, and the security
/// schemes — bearer, and the OAuth2 password flow at `/auth/token`
/// ([`OAUTH2_PASSWORD_SCHEME`]) for Swagger UI. Merge it into the service's document
/// (`doc.merge(accounts::openapi())`).
///
/// ```
/// let doc = serde_json::to_value(almacen_web::accounts::openapi()).unwrap();
/// assert!(doc["paths"]["/auth/register"]["post"]["responses"]["409"].is_object());
/// assert!(doc["components"]["securitySchemes"]["oauth2_password"].is_object());
/// assert!(doc["components"]["schemas"]["UserOut"].is_object());
/// ```
pub fn openapi() -> OpenApi {
    let mut doc = AccountsDoc::openapi();
    add_common_components(&mut doc);
    if let Some(components) = doc.components.as_mut() {
        let flow = Flow::Password(Password::new("/auth/token", Scopes::new()));
        components.security_schemes.insert(OAUTH2_PASSWORD_SCHEME.to_owned(), SecurityScheme::OAuth2(OAuth2::new([flow])));
    }
    for (path, method, errors) in ERRORS {
        let Some(item) = doc.paths.paths.get_mut(*path) else { continue };
        let op = match method {
            HttpMethod::Get => item.get.as_mut(),
            HttpMethod::Post => item.post.as_mut(),
            HttpMethod::Delete => item.delete.as_mut(),
            _ => None,
        };
        if let Some(op) = op {
            for (status, description) in *errors {
                op.responses.responses.insert((*status).to_owned(), error_response(description).into());
            }
        }
    }
    doc
}
