//! The one OpenAPI 3.1 document of a service, served at `/openapi.json`, with Swagger UI at
//! `/docs` and ReDoc at `/redoc` that work with no internet access.
//!
//! [`ApiDoc`] gathers the fragments (the resources', the accounts', the application's own
//! `#[derive(utoipa::OpenApi)]` documents) into one document, adds the shared components of
//! [`crate::openapi`] and documents the service's own routes (`/health`, `/ready`, and
//! `/metrics` when asked). [`ApiDoc::routes`] serves it:
//!
//! - `GET /openapi.json`: the document, serialised once when the router is built;
//! - `GET /docs`: Swagger UI; `GET /redoc`: ReDoc;
//! - `GET /docs-assets/...`: their JavaScript and CSS, built into the binary (vendored from
//!   the npm packages `swagger-ui-dist` and `redoc`, see `assets/README.md`), cached as
//!   immutable since their URLs carry the version.
//!
//! The pages refer to same-origin URLs only and are served with a `Content-Security-Policy`
//! that lets the browser fetch nothing from elsewhere (no CDN, no web fonts).
//!
//! ```
//! use utoipa::openapi::{OpenApi, PathItem, HttpMethod, path::OperationBuilder};
//!
//! // A fragment, as a resource router or `#[derive(utoipa::OpenApi)]` would give one.
//! let mut fragment = OpenApi::default();
//! fragment.paths.add_path_operation("/hello", vec![HttpMethod::Get], OperationBuilder::new().build());
//!
//! let doc = almacen_web::ApiDoc::new("Shop", "1.0.0")
//!     .description("The example shop")
//!     .merge(fragment);
//! let app: axum::Router = doc.clone().routes();
//!
//! let json = serde_json::to_value(doc.into_openapi()).unwrap();
//! assert_eq!(json["openapi"], "3.1.0");
//! assert!(json["paths"]["/hello"]["get"].is_object());
//! assert!(json["paths"]["/health"]["get"].is_object());
//! assert!(json["components"]["schemas"]["ApiError"].is_object());
//! ```

use crate::openapi::{add_common_components, error_response};
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::OperationBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{HttpMethod, InfoBuilder, OpenApi, OpenApiBuilder};

/// The version of Swagger UI (npm `swagger-ui-dist`) built into the crate.
///
/// ```
/// assert!(almacen_web::docs::SWAGGER_UI_VERSION.starts_with('5'));
/// ```
pub const SWAGGER_UI_VERSION: &str = "5.36.0";
/// The version of ReDoc (npm `redoc`) built into the crate.
///
/// ```
/// assert!(almacen_web::docs::REDOC_VERSION.starts_with('2'));
/// ```
pub const REDOC_VERSION: &str = "2.5.4";

/// The `Content-Security-Policy` of the `/docs` and `/redoc` pages: everything from the same
/// origin only (images also as `data:`, ReDoc's search worker as `blob:`), so that the browser
/// fetches nothing from the internet even where a bundle names a remote URL.
///
/// ```
/// assert!(almacen_web::docs::DOCS_CSP.starts_with("default-src 'self'"));
/// ```
pub const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
object-src 'none'; base-uri 'none'; frame-ancestors 'self'; form-action 'self'";

const SWAGGER_UI_JS: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js");
const SWAGGER_UI_CSS: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui.css");
const REDOC_JS: &[u8] = include_bytes!("../assets/redoc/redoc.standalone.js");

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const NO_CACHE: &str = "no-cache";

/// The builder of a service's OpenAPI document and of the routes that serve it.
///
/// Paths default to `/openapi.json`, `/docs`, `/redoc` and `/docs-assets` (the prefix of the
/// UIs' files); each can be changed, and either UI can be left out. The pages refer to the
/// document and the assets by these absolute paths: behind a proxy that adds a prefix, include
/// the prefix in them.
///
/// ```
/// let doc = almacen_web::ApiDoc::new("Shop", "1.0.0")
///     .openapi_path("/api/openapi.json")
///     .docs_path("/api/docs")
///     .without_redoc()
///     .with_metrics();
/// let api = doc.clone().into_openapi();
/// assert!(api.paths.paths.contains_key("/metrics"));
/// let app: axum::Router = doc.routes();
/// ```
#[derive(Clone)]
pub struct ApiDoc {
    api: OpenApi,
    metrics: bool,
    openapi_path: String,
    docs_path: Option<String>,
    redoc_path: Option<String>,
    assets_path: String,
}

impl std::fmt::Debug for ApiDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiDoc")
            .field("title", &self.api.info.title)
            .field("version", &self.api.info.version)
            .field("paths", &self.api.paths.paths.keys().collect::<Vec<_>>())
            .field("metrics", &self.metrics)
            .field("openapi_path", &self.openapi_path)
            .field("docs_path", &self.docs_path)
            .field("redoc_path", &self.redoc_path)
            .field("assets_path", &self.assets_path)
            .finish()
    }
}

impl ApiDoc {
    /// A document titled `title`, of the API's `version`.
    ///
    /// ```
    /// let api = almacen_web::ApiDoc::new("Shop", "1.2.3").into_openapi();
    /// assert_eq!(api.info.title, "Shop");
    /// assert_eq!(api.info.version, "1.2.3");
    /// ```
    pub fn new(title: impl Into<String>, version: impl Into<String>) -> Self {
        let info = InfoBuilder::new().title(title).version(version).build();
        ApiDoc {
            api: OpenApiBuilder::new().info(info).build(),
            metrics: false,
            openapi_path: "/openapi.json".into(),
            docs_path: Some("/docs".into()),
            redoc_path: Some("/redoc".into()),
            assets_path: "/docs-assets".into(),
        }
    }

    /// The API's description (CommonMark), shown at the top of both UIs.
    ///
    /// ```
    /// let api = almacen_web::ApiDoc::new("Shop", "1").description("Sells *things*").into_openapi();
    /// assert_eq!(api.info.description.as_deref(), Some("Sells *things*"));
    /// ```
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.api.info.description = Some(description.into());
        self
    }

    /// Merges `fragment`'s paths (operations of a path already present are merged into it),
    /// components, tags and security requirements into the document. Its `info` is ignored.
    ///
    /// Works with any `utoipa::openapi::OpenApi`: a resource router's or the accounts' fragment,
    /// `<MyDoc as utoipa::OpenApi>::openapi()` for hand-written routes, or the one a
    /// `utoipa_axum::router::OpenApiRouter` collected.
    ///
    /// ```
    /// use utoipa::OpenApi;
    ///
    /// /// Says hello.
    /// #[utoipa::path(get, path = "/hello", responses((status = 200, body = String)))]
    /// async fn hello() -> &'static str { "hi" }
    ///
    /// #[derive(OpenApi)]
    /// #[openapi(paths(hello))]
    /// struct MyRoutes;
    ///
    /// let api = almacen_web::ApiDoc::new("Shop", "1").merge(MyRoutes::openapi()).into_openapi();
    /// assert!(api.paths.paths.contains_key("/hello"));
    /// assert_eq!(api.info.title, "Shop");
    /// ```
    ///
    /// # Panics
    ///
    /// When the fragment names a component schema the document already holds with a different
    /// definition (two Rust types with one short name, e.g. `a::Line` and `b::Line`): one of
    /// them would silently describe the other's requests. Rename one with
    /// `#[schema(as = a::Line)]`.
    pub fn merge(mut self, fragment: OpenApi) -> Self {
        if let (Some(ours), Some(theirs)) = (&self.api.components, &fragment.components) {
            for (name, schema) in &theirs.schemas {
                if let Some(existing) = ours.schemas.get(name) {
                    let same = serde_json::to_value(existing).ok() == serde_json::to_value(schema).ok();
                    assert!(same, "ApiDoc::merge: two different schemas are both named `{name}`; rename one with #[schema(as = ...)]");
                }
            }
        }
        self.api.merge(fragment);
        self
    }

    /// Also documents `GET /metrics` (Prometheus text format).
    ///
    /// ```
    /// let api = almacen_web::ApiDoc::new("Shop", "1").with_metrics().into_openapi();
    /// assert!(api.paths.paths.contains_key("/metrics"));
    /// ```
    pub fn with_metrics(mut self) -> Self {
        self.metrics = true;
        self
    }

    /// Where [`routes`](Self::routes) serves the document (default `/openapi.json`).
    ///
    /// ```
    /// let app: axum::Router = almacen_web::ApiDoc::new("Shop", "1").openapi_path("/api/openapi.json").routes();
    /// ```
    pub fn openapi_path(mut self, path: impl Into<String>) -> Self {
        self.openapi_path = path.into();
        self
    }

    /// Where Swagger UI is served (default `/docs`).
    ///
    /// ```
    /// let app: axum::Router = almacen_web::ApiDoc::new("Shop", "1").docs_path("/swagger").routes();
    /// ```
    pub fn docs_path(mut self, path: impl Into<String>) -> Self {
        self.docs_path = Some(path.into());
        self
    }

    /// Leaves Swagger UI out of [`routes`](Self::routes).
    ///
    /// ```
    /// let app: axum::Router = almacen_web::ApiDoc::new("Shop", "1").without_docs().routes();
    /// ```
    pub fn without_docs(mut self) -> Self {
        self.docs_path = None;
        self
    }

    /// Where ReDoc is served (default `/redoc`).
    ///
    /// ```
    /// let app: axum::Router = almacen_web::ApiDoc::new("Shop", "1").redoc_path("/reference").routes();
    /// ```
    pub fn redoc_path(mut self, path: impl Into<String>) -> Self {
        self.redoc_path = Some(path.into());
        self
    }

    /// Leaves ReDoc out of [`routes`](Self::routes).
    ///
    /// ```
    /// let app: axum::Router = almacen_web::ApiDoc::new("Shop", "1").without_redoc().routes();
    /// ```
    pub fn without_redoc(mut self) -> Self {
        self.redoc_path = None;
        self
    }

    /// The prefix under which the UIs' JavaScript and CSS are served (default `/docs-assets`).
    ///
    /// ```
    /// let app: axum::Router = almacen_web::ApiDoc::new("Shop", "1").assets_path("/static/docs").routes();
    /// ```
    pub fn assets_path(mut self, path: impl Into<String>) -> Self {
        self.assets_path = path.into().trim_end_matches('/').to_owned();
        self
    }

    /// The finished document: the merged fragments, the service routes and the common
    /// components ([`crate::openapi::add_common_components`]).
    ///
    /// ```
    /// let api = almacen_web::ApiDoc::new("Shop", "1").into_openapi();
    /// let json = serde_json::to_value(&api).unwrap();
    /// assert_eq!(json["openapi"], "3.1.0");
    /// assert!(json["paths"]["/ready"]["get"]["responses"]["503"].is_object());
    /// assert!(json["components"]["securitySchemes"]["bearer"].is_object());
    /// ```
    pub fn into_openapi(self) -> OpenApi {
        let mut api = self.api;
        add_service_paths(&mut api, self.metrics);
        add_common_components(&mut api);
        api
    }

    /// A router serving the document and the UIs (see the [module docs](self)); merge it into
    /// the application's. The JSON is serialised here, once.
    ///
    /// # Panics
    ///
    /// If a configured path does not start with `/` (a programming error, found at start-up).
    ///
    /// ```
    /// let app: axum::Router = axum::Router::new().merge(almacen_web::ApiDoc::new("Shop", "1").routes());
    /// ```
    pub fn routes<S: Clone + Send + Sync + 'static>(self) -> Router<S> {
        let openapi_path = self.openapi_path.clone();
        let docs_path = self.docs_path.clone();
        let redoc_path = self.redoc_path.clone();
        let assets = self.assets_path.clone();
        for p in [Some(&openapi_path), docs_path.as_ref(), redoc_path.as_ref(), Some(&assets)].into_iter().flatten() {
            assert!(p.starts_with('/'), "ApiDoc: the path {p:?} must start with '/'");
        }
        let title = self.api.info.title.clone();
        let json = Bytes::from(serde_json::to_vec(&self.into_openapi()).expect("an OpenAPI document serialises"));

        let mut router = Router::new().route(&openapi_path, get(move || async move { asset("application/json", NO_CACHE, json.clone()) }));
        if let Some(docs) = &docs_path {
            let js = format!("{assets}/swagger-ui-{SWAGGER_UI_VERSION}/swagger-ui-bundle.js");
            let css = format!("{assets}/swagger-ui-{SWAGGER_UI_VERSION}/swagger-ui.css");
            let init = format!("{assets}/swagger-ui-{SWAGGER_UI_VERSION}/init.js");
            let page = Bytes::from(swagger_page(&title, &js, &css, &init));
            let init_js = Bytes::from(swagger_init(&openapi_path));
            router = router
                .route(docs, get(move || async move { page_response(page.clone()) }))
                .route(&js, get(|| async { asset(JS, IMMUTABLE, Bytes::from_static(SWAGGER_UI_JS)) }))
                .route(&css, get(|| async { asset(CSS, IMMUTABLE, Bytes::from_static(SWAGGER_UI_CSS)) }))
                // The initialiser depends on the configuration, not only on the version.
                .route(&init, get(move || async move { asset(JS, NO_CACHE, init_js.clone()) }));
        }
        if let Some(redoc) = &redoc_path {
            let js = format!("{assets}/redoc-{REDOC_VERSION}/redoc.standalone.js");
            let page = Bytes::from(redoc_page(&title, &js, &openapi_path));
            router = router
                .route(redoc, get(move || async move { page_response(page.clone()) }))
                .route(&js, get(|| async { asset(JS, IMMUTABLE, Bytes::from_static(REDOC_JS)) }));
        }
        router
    }
}

fn asset(content_type: &'static str, cache: &'static str, body: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        body,
    )
        .into_response()
}

fn page_response(body: Bytes) -> Response {
    let mut resp = asset(HTML, NO_CACHE, body);
    resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_CSP));
    resp.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

/// Escapes text for HTML content and double-quoted attributes.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn swagger_page(title: &str, js: &str, css: &str, init: &str) -> String {
    let (title, js, css, init) = (html_escape(title), html_escape(js), html_escape(css), html_escape(init));
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Swagger UI</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{css}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{js}"></script>
<script src="{init}"></script>
</body>
</html>
"#
    )
}

fn swagger_init(openapi_path: &str) -> String {
    // A JSON string is a JavaScript string literal; this is a file of its own, not inline
    // HTML, so nothing in it can end a `<script>` element.
    let url = serde_json::to_string(openapi_path).expect("a string serialises");
    format!(
        r##"window.addEventListener("load", function () {{
  window.ui = SwaggerUIBundle({{
    url: {url},
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  }});
}});
"##
    )
}

fn redoc_page(title: &str, js: &str, openapi_path: &str) -> String {
    let (title, js, spec) = (html_escape(title), html_escape(js), html_escape(openapi_path));
    // ReDoc's own page loads Montserrat and Roboto from Google Fonts; this one uses the
    // system's fonts (ReDoc's theme falls back to sans-serif).
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - ReDoc</title>
<link rel="icon" href="data:,">
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<redoc spec-url="{spec}"></redoc>
<script src="{js}"></script>
</body>
</html>
"#
    )
}

fn status_ok_schema() -> ObjectBuilder {
    ObjectBuilder::new().property("status", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["ok"]))).required("status")
}

fn add_service_paths(api: &mut OpenApi, metrics: bool) {
    let ok = || {
        ResponseBuilder::new()
            .description("The service is up")
            .content("application/json", ContentBuilder::new().schema(Some(status_ok_schema())).build())
            .build()
    };
    let health = OperationBuilder::new()
        .tag("service")
        .operation_id(Some("health"))
        .summary(Some("Liveness"))
        .description(Some("200 as long as the process serves requests."))
        .response("200", ok())
        .build();
    let ready = OperationBuilder::new()
        .tag("service")
        .operation_id(Some("ready"))
        .summary(Some("Readiness"))
        .description(Some("200 when the database answers `SELECT 1` within two seconds, 503 when not."))
        .response("200", ok())
        .response("503", error_response("The database is not available"))
        .build();
    add_unless_documented(api, "/health", health);
    add_unless_documented(api, "/ready", ready);
    if metrics {
        let text = ResponseBuilder::new()
            .description("The metrics, in the OpenMetrics text format (Prometheus reads it)")
            .content(
                crate::metrics::CONTENT_TYPE,
                ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String))).build(),
            )
            .build();
        let op = OperationBuilder::new()
            .tag("service")
            .operation_id(Some("metrics"))
            .summary(Some("Prometheus metrics"))
            .response("200", text)
            .build();
        add_unless_documented(api, "/metrics", op);
    }
}

/// Adds `GET path` unless a merged fragment already describes it (the application's word wins).
fn add_unless_documented(api: &mut OpenApi, path: &str, op: utoipa::openapi::path::Operation) {
    if api.paths.paths.get(path).is_none_or(|item| item.get.is_none()) {
        api.paths.add_path_operation(path, vec![HttpMethod::Get], op);
    }
}
