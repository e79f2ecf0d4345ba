//! `ApiDoc` over real HTTP: the merged OpenAPI 3.1 document at `/openapi.json`, and Swagger UI
//! and ReDoc pages that refer to nothing but the service itself.
//! (That they render in a browser with no network is checked by `scripts/check-docs-ui.sh`.)

mod support;

use almacen_web::ApiDoc;
use serde_json::Value;
use std::collections::BTreeSet;
use support::serve;
use utoipa::openapi::path::OperationBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ComponentsBuilder, HttpMethod, OpenApi};
use utoipa::{OpenApi as _, ToSchema};

#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
struct Greeting {
    text: String,
}

/// Greets.
#[utoipa::path(get, path = "/hello", responses((status = 200, body = Greeting)))]
#[allow(dead_code)]
async fn hello() {}

#[derive(utoipa::OpenApi)]
#[openapi(paths(hello), components(schemas(Greeting)))]
struct AppDocs;

/// A fragment as a resource router gives one: paths and a component schema.
fn things_fragment() -> OpenApi {
    let mut api = OpenApi::default();
    let op = OperationBuilder::new()
        .operation_id(Some("get_thing"))
        .response("404", almacen_web::openapi::error_response("No such thing"))
        .build();
    api.paths.add_path_operation("/things/{id}", vec![HttpMethod::Get], op);
    api.components = Some(
        ComponentsBuilder::new()
            .schema("Thing", ObjectBuilder::new().property("id", ObjectBuilder::new().schema_type(Type::Integer)))
            .build(),
    );
    api
}

fn shop() -> ApiDoc {
    ApiDoc::new("Shop", "1.2.3").description("Sells things").merge(things_fragment()).merge(AppDocs::openapi())
}

async fn get(url: String) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = reqwest::get(&url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or_else(|| panic!("no {name} header"))
}

/// The document: OpenAPI 3.1, the info, every merged fragment's paths and schemas, the
/// service routes and the common components.
#[tokio::test]
async fn openapi_json_is_the_merged_document() {
    let base = serve(shop().routes()).await;
    let (status, headers, text) = get(format!("{base}/openapi.json")).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(header(&headers, "content-type"), "application/json");
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Shop");
    assert_eq!(doc["info"]["version"], "1.2.3");
    assert_eq!(doc["info"]["description"], "Sells things");
    let paths: BTreeSet<&str> = doc["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(paths, BTreeSet::from(["/hello", "/things/{id}", "/health", "/ready"]), "{text}");
    assert_eq!(
        doc["paths"]["/things/{id}"]["get"]["responses"]["404"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ApiError"
    );
    assert_eq!(
        doc["paths"]["/ready"]["get"]["responses"]["503"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ApiError"
    );
    assert_eq!(
        doc["paths"]["/hello"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Greeting"
    );
    let schemas: BTreeSet<&str> = doc["components"]["schemas"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(schemas, BTreeSet::from(["ApiError", "FieldError", "Greeting", "Thing"]), "{text}");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["bearerFormat"], "JWT");
    // The same bytes every time (serialised once).
    assert_eq!(get(format!("{base}/openapi.json")).await.2, text);
}

/// `/metrics` is documented only when asked; an application's own description of a service
/// route is kept.
#[tokio::test]
async fn metrics_on_request_and_the_application_wins() {
    let mut own = OpenApi::default();
    let op = OperationBuilder::new().operation_id(Some("my_health")).build();
    own.paths.add_path_operation("/health", vec![HttpMethod::Get], op);
    let api = ApiDoc::new("Shop", "1").merge(own).with_metrics().into_openapi();
    let doc = serde_json::to_value(&api).unwrap();
    assert_eq!(doc["paths"]["/health"]["get"]["operationId"], "my_health");
    assert_eq!(doc["paths"]["/ready"]["get"]["operationId"], "ready");
    assert!(doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"][almacen_web::metrics::CONTENT_TYPE].is_object(), "{doc}");
    let doc = serde_json::to_value(ApiDoc::new("Shop", "1").into_openapi()).unwrap();
    assert!(doc["paths"].get("/metrics").is_none(), "{doc}");
}

/// The `src` and `href` values of `html`.
fn references(html: &str) -> Vec<String> {
    let mut refs = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for (i, _) in html.match_indices(attr) {
            let rest = &html[i + attr.len()..];
            refs.push(rest[..rest.find('"').unwrap()].to_owned());
        }
    }
    refs
}

/// The hosts named in `http://` or `https://` URLs of `text`.
fn remote_hosts(text: &str) -> BTreeSet<String> {
    let mut hosts = BTreeSet::new();
    for scheme in ["http://", "https://"] {
        for (i, _) in text.match_indices(scheme) {
            let rest = &text[i + scheme.len()..];
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-')).unwrap_or(rest.len());
            hosts.insert(rest[..end].to_owned());
        }
    }
    hosts
}

/// Hosts that the vendored bundles name, and why none of them is fetched. Anything else that
/// an upgrade brings in fails `vendored_bundles_name_only_known_hosts` until it is reviewed.
const HARMLESS_HOSTS: &[(&str, &str)] = &[
    ("www.w3.org", "XML namespaces (SVG, XHTML, XLink, MathML)"),
    ("json-schema.org", "JSON Schema dialect and vocabulary identifiers"),
    ("spec.openapis.org", "OpenAPI dialect identifiers"),
    ("raw.githubusercontent.com", "the $id of ajv's data.json meta-schema, an identifier"),
    ("datatracker.ietf.org", "RFC links in comments and messages"),
    ("www.rfc-editor.org", "RFC links in comments and messages"),
    ("spdx.org", "licence identifiers"),
    ("tailwindcss.com", "a comment in the CSS"),
    ("example.com", "examples in code"),
    ("base", "`new URL(x, \"http://base\")`, a parsing placeholder"),
    ("api.", "a placeholder host in ReDoc"),
    ("", "a scheme being tested for, e.g. startsWith(\"https://\")"),
    ("fb.me", "React's error messages"),
    ("reactjs.org", "React's error messages"),
    ("redux.js.org", "Redux's error messages"),
    ("github.com", "links in error messages"),
    ("git.io", "links in error messages"),
    ("stackoverflow.com", "a link in a comment"),
    ("marked.js.org", "a link in marked's messages"),
    ("vladimirgorej.com", "the author link in a licence header"),
    ("www.facebook.com", "social-profile link patterns of a linkifier, never fetched"),
    ("instagram.com", "social-profile link patterns of a linkifier, never fetched"),
    ("soundcloud.com", "social-profile link patterns of a linkifier, never fetched"),
    ("twitter.com", "social-profile link patterns of a linkifier, never fetched"),
    ("www.tiktok.com", "social-profile link patterns of a linkifier, never fetched"),
    ("swagger.io", "a link (<a href>), followed only if clicked"),
    ("redocly.com", "the 'API docs by Redocly' link, followed only if clicked"),
    ("validator.swagger.io", "the validator badge: off (`validatorUrl: null`), and img-src is 'self'"),
    ("cdn.redoc.ly", "ReDoc's sidebar logo <img>: blocked by the page's CSP (img-src 'self' data:)"),
];

/// Fetches a page and every asset it refers to; checks the types, the caching, and that the
/// page and its initialiser name no remote URL. Returns the assets' bodies by path.
async fn check_page(base: &str, page: &str, expect_assets: usize) -> Vec<(String, String)> {
    let (status, headers, html) = get(format!("{base}{page}")).await;
    assert_eq!(status, 200, "{page}: {html}");
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&headers, "content-security-policy"), almacen_web::docs::DOCS_CSP);
    assert!(header(&headers, "content-security-policy").starts_with("default-src 'self';"));
    assert_eq!(header(&headers, "cache-control"), "no-cache");
    assert!(!html.contains("http://") && !html.contains("https://"), "{page} names a remote URL: {html}");
    assert!(!html.contains("fonts.googleapis") && !html.contains("cdn"), "{page}: {html}");
    let refs = references(&html);
    let mut assets = Vec::new();
    for r in &refs {
        if r == "data:," {
            continue; // the empty favicon, so that the browser does not ask for /favicon.ico
        }
        assert!(r.starts_with('/') && !r.starts_with("//"), "{page}: {r:?} is not a same-origin path");
        let (status, headers, body) = get(format!("{base}{r}")).await;
        assert_eq!(status, 200, "{page}: {r}");
        assert_eq!(header(&headers, "x-content-type-options"), "nosniff", "{r}");
        let ct = header(&headers, "content-type");
        if r.ends_with(".js") {
            assert_eq!(ct, "text/javascript; charset=utf-8", "{r}");
        } else if r.ends_with(".css") {
            assert_eq!(ct, "text/css; charset=utf-8", "{r}");
        } else {
            panic!("{page}: unexpected reference {r}");
        }
        let cache = header(&headers, "cache-control");
        if r.ends_with("/init.js") {
            assert_eq!(cache, "no-cache", "{r}");
            assert!(remote_hosts(&body).is_empty(), "{r} names a remote URL: {body}");
        } else {
            assert_eq!(cache, "public, max-age=31536000, immutable", "{r}");
            assert!(body.len() > 100_000, "{r}: {} bytes, not the bundle", body.len());
        }
        assets.push((r.clone(), body));
    }
    assert_eq!(assets.len(), expect_assets, "{page}: {refs:?}");
    assets
}

/// `/docs` and `/redoc` load only same-origin files, each served with its type.
#[tokio::test]
async fn pages_refer_to_the_service_only() {
    let base = serve(shop().routes()).await;

    let assets = check_page(&base, "/docs", 3).await;
    let init = &assets.iter().find(|(r, _)| r.ends_with("/init.js")).expect("an initialiser").1;
    assert!(init.contains("url: \"/openapi.json\""), "{init}");
    assert!(init.contains("validatorUrl: null"), "{init}");
    assert!(assets.iter().any(|(r, b)| r.ends_with("swagger-ui-bundle.js") && b.contains("SwaggerUIBundle")));

    let (_, _, html) = get(format!("{base}/redoc")).await;
    assert!(html.contains("<redoc spec-url=\"/openapi.json\">"), "{html}");
    let assets = check_page(&base, "/redoc", 1).await;
    assert!(assets[0].0.ends_with("redoc.standalone.js"));
}

/// Every remote host the vendored bundles name is in `HARMLESS_HOSTS`, with its reason.
#[tokio::test]
async fn vendored_bundles_name_only_known_hosts() {
    let base = serve(shop().routes()).await;
    let known: BTreeSet<&str> = HARMLESS_HOSTS.iter().map(|(h, _)| *h).collect();
    let mut seen = BTreeSet::new();
    for page in ["/docs", "/redoc"] {
        let (_, _, html) = get(format!("{base}{page}")).await;
        for r in references(&html).into_iter().filter(|r| r.starts_with('/')) {
            let body = get(format!("{base}{r}")).await.2;
            for host in remote_hosts(&body) {
                assert!(known.contains(host.as_str()), "{r} names the host {host:?}: review it and list it, or block it");
                seen.insert(host);
            }
        }
    }
    // The risky ones are there and handled (this test is not vacuous).
    assert!(seen.contains("cdn.redoc.ly") && seen.contains("validator.swagger.io"), "{seen:?}");
}

/// Paths are configurable; a UI can be left out; the pages follow the document's path.
#[tokio::test]
async fn configurable_paths() {
    let doc = shop().openapi_path("/api/openapi.json").docs_path("/api/docs").without_redoc().assets_path("/api/static/");
    let base = serve(doc.routes()).await;
    for gone in ["/openapi.json", "/docs", "/redoc", "/docs-assets/redoc-2.5.4/redoc.standalone.js"] {
        assert_eq!(get(format!("{base}{gone}")).await.0, 404, "{gone}");
    }
    let (status, _, text) = get(format!("{base}/api/openapi.json")).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["openapi"], "3.1.0");
    let assets = check_page(&base, "/api/docs", 3).await;
    assert!(assets.iter().all(|(r, _)| r.starts_with("/api/static/swagger-ui-")), "{:?}", assets.iter().map(|a| &a.0).collect::<Vec<_>>());
    let init = &assets.iter().find(|(r, _)| r.ends_with("/init.js")).unwrap().1;
    assert!(init.contains("url: \"/api/openapi.json\""), "{init}");
}

/// The title is escaped in the pages.
#[tokio::test]
async fn title_is_escaped() {
    let base = serve(ApiDoc::new("<Shop & \"Co\">", "1").routes()).await;
    for page in ["/docs", "/redoc"] {
        let html = get(format!("{base}{page}")).await.2;
        assert!(html.contains("<title>&lt;Shop &amp; &quot;Co&quot;&gt; - "), "{html}");
        assert!(!html.contains("<Shop"), "{html}");
    }
}

/// A path without its leading slash is a programming error, found when the router is built.
#[test]
#[should_panic(expected = "must start with '/'")]
fn path_without_slash_panics() {
    let _: axum::Router = ApiDoc::new("Shop", "1").docs_path("docs").routes();
}

/// Two fragments that give one schema name two definitions: merging them is refused, since
/// one type would silently document (and a validator check) the other's requests.
#[test]
#[should_panic(expected = "two different schemas are both named `Line`")]
fn merging_two_schemas_of_one_name_panics() {
    mod a {
        #[derive(utoipa::ToSchema)]
        #[allow(dead_code)]
        pub struct Line {
            pub quantity: i64,
        }
    }
    mod b {
        #[derive(utoipa::ToSchema)]
        #[allow(dead_code)]
        pub struct Line {
            pub label: String,
        }
    }
    let fragment = |schema: (String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)| {
        let mut doc = utoipa::openapi::OpenApi::default();
        doc.components = Some(utoipa::openapi::ComponentsBuilder::new().schema(schema.0, schema.1).build());
        doc
    };
    use utoipa::{PartialSchema, ToSchema};
    let first = fragment((a::Line::name().into_owned(), a::Line::schema()));
    let second = fragment((b::Line::name().into_owned(), b::Line::schema()));
    // The same fragment twice is fine.
    let doc = almacen_web::ApiDoc::new("t", "1").merge(first.clone()).merge(first);
    let _ = doc.merge(second);
}
