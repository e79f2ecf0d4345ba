//! `Valid<T>` over real HTTP: each rule kind, nested paths, several errors at once, unknown
//! fields, custom rules, and inputs that must never become a 500.

mod support;

use almacen_web::validate::{Valid, Validate};
use almacen_web::{FieldError, Json};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post as route_post;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::{envelope, read, serve};
use utoipa::ToSchema;

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Register {
    #[schema(min_length = 3, max_length = 50, pattern = "^[A-Za-z0-9_.-]+$")]
    username: String,
    #[schema(format = Email)]
    email: String,
    #[schema(min_length = 8, max_length = 128)]
    password: String,
}

impl Validate for Register {
    fn validate(&self) -> Result<(), Vec<FieldError>> {
        let ok = self.password.chars().any(|c| c.is_ascii_uppercase()) && self.password.chars().any(|c| c.is_ascii_digit());
        if ok {
            Ok(())
        } else {
            Err(vec![FieldError::new(Some("password"), "must contain at least one uppercase letter and one digit", "password_strength")])
        }
    }
}

#[derive(Deserialize, Serialize, ToSchema)]
struct Line {
    #[schema(minimum = 1)]
    product_id: i64,
    #[schema(minimum = 1, maximum = 1000)]
    quantity: u32,
}

#[derive(Deserialize, Serialize, ToSchema)]
struct Order {
    #[schema(min_items = 1, max_items = 3)]
    items: Vec<Line>,
    #[schema(exclusive_minimum = 0.0)]
    #[serde(default)]
    tip: Option<f64>,
    #[serde(default)]
    gift: Option<Line>,
}
impl Validate for Order {}

/// No `deny_unknown_fields`: unknown fields are ignored.
#[derive(Deserialize, Serialize, ToSchema)]
struct Lenient {
    #[schema(max_length = 5)]
    name: String,
}
impl Validate for Lenient {}

async fn app() -> String {
    let app = Router::new()
        .route("/register", route_post(|Valid(v): Valid<Register>| async move { Json(v) }))
        .route("/orders", route_post(|Valid(v): Valid<Order>| async move { Json(v) }))
        .route("/lenient", route_post(|Valid(v): Valid<Lenient>| async move { Json(v) }))
        .route("/small", route_post(|Valid(v): Valid<Lenient>| async move { Json(v) }).layer(DefaultBodyLimit::max(64)));
    serve(app).await
}

async fn post(url: &str, body: &str) -> (u16, Value) {
    let resp = reqwest::Client::new().post(url).header("content-type", "application/json").body(body.to_string()).send().await.unwrap();
    let (status, _, body) = read(resp).await;
    (status, body)
}

/// The (field, type) pairs of a 422, sorted.
fn errors(status: u16, body: &Value) -> Vec<(String, String)> {
    assert_eq!(status, 422, "{body}");
    let mut out: Vec<(String, String)> = envelope(status, body)
        .iter()
        .map(|e| (e["field"].as_str().unwrap_or("").to_string(), e["type"].as_str().unwrap().to_string()))
        .collect();
    out.sort();
    out
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    v.sort();
    v
}

fn good_user() -> Value {
    json!({"username": "ana.b", "email": "ana@example.com", "password": "Secret123"})
}

fn with(mut v: Value, key: &str, value: Value) -> String {
    v[key] = value;
    v.to_string()
}

#[tokio::test]
async fn valid_input_passes() {
    let base = app().await;
    let (status, body) = post(&format!("{base}/register"), &good_user().to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, good_user());
}

#[tokio::test]
async fn each_string_rule() {
    let base = app().await;
    let url = format!("{base}/register");
    let cases = [
        ("username", json!("ab"), "too_short"),
        ("username", json!("a".repeat(51)), "too_long"),
        ("username", json!("ana b!"), "pattern"),
        ("email", json!("not-an-email"), "email"),
        ("password", json!("Short1"), "too_short"),
        ("password", json!(format!("A1{}", "x".repeat(127))), "too_long"),
    ];
    for (field, value, kind) in cases {
        let (status, body) = post(&url, &with(good_user(), field, value.clone())).await;
        assert_eq!(errors(status, &body), pairs(&[(field, kind)]), "{field} = {value}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(!message.is_empty());
    }
}

#[tokio::test]
async fn custom_validator_runs_after_the_schema() {
    let base = app().await;
    let url = format!("{base}/register");
    let (status, body) = post(&url, &with(good_user(), "password", json!("alllowercase1"))).await;
    assert_eq!(errors(status, &body), pairs(&[("password", "password_strength")]));
    // Schema errors come first: the custom rule does not run on input the schema rejects.
    let (status, body) = post(&url, &with(good_user(), "password", json!("short"))).await;
    assert_eq!(errors(status, &body), pairs(&[("password", "too_short")]));
}

#[tokio::test]
async fn a_password_is_never_echoed() {
    let base = app().await;
    let url = format!("{base}/register");
    for password in ["Sup3r", "supersecretvalue", "x"] {
        let (status, body) = post(&url, &with(good_user(), "password", json!(password))).await;
        assert_eq!(status, 422);
        assert!(!body.to_string().contains(password), "{body}");
    }
    let (status, body) = post(&url, &with(good_user(), "password", json!(12345678))).await;
    assert_eq!(errors(status, &body), pairs(&[("password", "type_error")]));
    assert!(!body.to_string().contains("12345678"), "{body}");
}

#[tokio::test]
async fn several_errors_at_once() {
    let base = app().await;
    let body = json!({"username": "a", "email": "nope", "password": "short", "extra": 1}).to_string();
    let (status, body) = post(&format!("{base}/register"), &body).await;
    assert_eq!(
        errors(status, &body),
        pairs(&[("username", "too_short"), ("email", "email"), ("password", "too_short"), ("extra", "unknown_field"),])
    );
    assert_eq!(body["detail"], "invalid input");
}

#[tokio::test]
async fn missing_and_wrong_types() {
    let base = app().await;
    let (status, body) = post(&format!("{base}/register"), r#"{"username": 5, "email": "a@b.co"}"#).await;
    assert_eq!(errors(status, &body), pairs(&[("username", "type_error"), ("password", "missing")]));
    let (status, body) = post(&format!("{base}/register"), "[1, 2]").await;
    assert_eq!(errors(status, &body), pairs(&[("", "type_error")]));
    assert!(body["errors"][0]["field"].is_null(), "{body}");
}

#[tokio::test]
async fn numbers_and_nested_paths() {
    let base = app().await;
    let url = format!("{base}/orders");
    let ok = json!({"items": [{"product_id": 1, "quantity": 2}], "tip": 1.5});
    let (status, body) = post(&url, &ok.to_string()).await;
    assert_eq!(status, 200, "{body}");

    let bad = json!({
        "items": [
            {"product_id": 1, "quantity": 0},
            {"product_id": 0, "quantity": 1001},
            {"quantity": "two"}
        ],
        "tip": 0
    });
    let (status, body) = post(&url, &bad.to_string()).await;
    assert_eq!(
        errors(status, &body),
        pairs(&[
            ("items[0].quantity", "minimum"),
            ("items[1].product_id", "minimum"),
            ("items[1].quantity", "maximum"),
            ("items[2].product_id", "missing"),
            ("items[2].quantity", "type_error"),
            ("tip", "minimum"),
        ])
    );

    let (status, body) = post(&url, r#"{"items": []}"#).await;
    assert_eq!(errors(status, &body), pairs(&[("items", "too_short")]));
    let line = json!({"product_id": 1, "quantity": 1});
    let (status, body) = post(&url, &json!({"items": [line, line, line, line]}).to_string()).await;
    assert_eq!(errors(status, &body), pairs(&[("items", "too_long")]));

    // A nullable nested object: null passes, a bad object names the nested field.
    let (status, body) = post(&url, &json!({"items": [line], "gift": null}).to_string()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(&url, &json!({"items": [line], "gift": {"product_id": 1, "quantity": 0}}).to_string()).await;
    assert_eq!(errors(status, &body), pairs(&[("gift.quantity", "minimum")]));
}

#[tokio::test]
async fn huge_numbers_and_deep_nesting_are_422s() {
    let base = app().await;
    let url = format!("{base}/orders");
    for body in [
        r#"{"items": [{"product_id": 1e400, "quantity": 1}]}"#,
        r#"{"items": [{"product_id": 1, "quantity": 1e400}]}"#,
        r#"{"items": [{"product_id": 99999999999999999999999, "quantity": 1}]}"#,
        r#"{"items": [{"product_id": 1, "quantity": 1}], "tip": 1e400}"#,
        r#"{"items": [{"product_id": 1, "quantity": 1}], "tip": -1e400}"#,
    ] {
        let (status, resp) = post(&url, body).await;
        assert_eq!(status, 422, "{body} → {resp}");
        envelope(status, &resp);
    }
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let (status, resp) = post(&url, &format!(r#"{{"items": {deep}}}"#)).await;
    assert_eq!(status, 422, "{resp}");
    envelope(status, &resp);
    let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let (status, resp) = post(&url, &format!(r#"{{"items": {deep}}}"#)).await;
    assert_eq!(status, 422, "{resp}");
}

#[tokio::test]
async fn unknown_fields_per_type() {
    let base = app().await;
    // Denied by `#[serde(deny_unknown_fields)]`, named with their path.
    let (status, body) = post(&format!("{base}/register"), &with(good_user(), "nmae", json!("x"))).await;
    assert_eq!(errors(status, &body), pairs(&[("nmae", "unknown_field")]));
    // Ignored otherwise.
    let (status, body) = post(&format!("{base}/lenient"), r#"{"name": "x", "extra": [1, 2]}"#).await;
    assert_eq!((status, body), (200, json!({"name": "x"})));
    let (status, body) = post(&format!("{base}/lenient"), r#"{"name": "toolong"}"#).await;
    assert_eq!(errors(status, &body), pairs(&[("name", "too_long")]));
}

#[tokio::test]
async fn body_rejections_are_those_of_json() {
    let base = app().await;
    let (status, body) = post(&format!("{base}/register"), "{not json").await;
    assert_eq!(errors(status, &body), pairs(&[("", "json_invalid")]));
    let resp = reqwest::Client::new().post(format!("{base}/register")).body("{}").send().await.unwrap();
    let (status, _, body) = read(resp).await;
    assert_eq!(status, 415, "{body}");
    let (status, body) = post(&format!("{base}/small"), &format!(r#"{{"name": "{}"}}"#, "x".repeat(100))).await;
    assert_eq!(status, 413, "{body}");
}

#[test]
fn the_schema_is_the_openapi_schema() {
    let doc = almacen_web::validate::json_schema::<Order>();
    assert_eq!(doc["properties"]["items"]["minItems"], 1);
    assert_eq!(doc["components"]["schemas"]["Line"]["properties"]["quantity"]["maximum"], 1000);
    let doc = almacen_web::validate::json_schema::<Register>();
    assert_eq!(doc["additionalProperties"], false);
    assert_eq!(doc["properties"]["email"]["format"], "email");
}

// ---- Fixes from review: recursion, bad schemas, name clashes, tagged enums, error caps,
// numbers out of range, values never echoed.

#[derive(Deserialize, Serialize, ToSchema)]
struct Node {
    #[schema(min_length = 1)]
    name: String,
    #[schema(no_recursion)]
    children: Vec<Node>,
}
impl Validate for Node {}

#[derive(Deserialize, Serialize, ToSchema)]
struct BadPattern {
    #[schema(pattern = "([a-z]")]
    code: String,
}
impl Validate for BadPattern {}

mod a {
    #[derive(serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
    pub struct Line {
        #[schema(minimum = 1)]
        pub quantity: i64,
    }
}
mod b {
    #[derive(serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
    pub struct Line {
        #[schema(max_length = 3)]
        pub label: String,
    }
}
#[derive(Deserialize, Serialize, ToSchema)]
struct Mixed {
    x: a::Line,
    y: b::Line,
}
impl Validate for Mixed {}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Shape {
    Circle {
        #[schema(minimum = 1)]
        radius: i64,
    },
    Rect {
        #[schema(minimum = 1)]
        width: i64,
        #[schema(minimum = 1)]
        height: i64,
        #[schema(min_length = 1)]
        label: String,
    },
}
impl Validate for Shape {}

#[derive(Deserialize, Serialize, ToSchema)]
struct Many {
    #[schema(inline)]
    values: Vec<Small>,
}
#[derive(Deserialize, Serialize, ToSchema)]
struct Small {
    #[schema(maximum = 1)]
    v: i64,
}
impl Validate for Many {}

#[derive(Deserialize, Serialize, ToSchema)]
struct Priced {
    price: f64,
    i: i32,
}
impl Validate for Priced {}

async fn fixes_app() -> String {
    let app = Router::new()
        .route("/nodes", route_post(|Valid(v): Valid<Node>| async move { Json(v) }))
        .route("/shapes", route_post(|Valid(v): Valid<Shape>| async move { Json(v) }))
        .route("/many", route_post(|Valid(v): Valid<Many>| async move { Json(v) }))
        .route("/priced", route_post(|Valid(v): Valid<Priced>| async move { Json(v) }));
    serve(app).await
}

#[tokio::test]
async fn a_recursive_type_with_no_recursion_is_checked_through_its_self_reference() {
    almacen_web::validate::prepare::<Node>().unwrap();
    let base = fixes_app().await;
    let (status, body) =
        post(&format!("{base}/nodes"), r#"{"name": "a", "children": [{"name": "b", "children": [{"name": "", "children": []}]}]}"#).await;
    assert_eq!(errors(status, &body), pairs(&[("children[0].children[0].name", "too_short")]));
    let (status, _) = post(&format!("{base}/nodes"), r#"{"name": "a", "children": [{"name": "b", "children": []}]}"#).await;
    assert_eq!(status, 200);
}

#[test]
fn prepare_reports_a_schema_that_does_not_compile() {
    let e = almacen_web::validate::prepare::<BadPattern>().unwrap_err().to_string();
    assert!(e.contains("BadPattern") && e.contains("does not compile"), "{e}");
}

#[test]
fn prepare_reports_two_types_with_one_name() {
    let e = almacen_web::validate::prepare::<Mixed>().unwrap_err().to_string();
    assert!(e.contains("`Line`") && e.contains("#[schema(as"), "{e}");
}

#[tokio::test]
async fn a_tagged_enum_reports_the_variant_of_its_tag() {
    let base = fixes_app().await;
    let url = format!("{base}/shapes");
    // A circle with a bad radius: the circle's error, not the rectangle's three.
    let (status, body) = post(&url, r#"{"kind": "circle", "radius": 0}"#).await;
    assert_eq!(errors(status, &body), pairs(&[("radius", "minimum")]));
    // A rectangle with one bad field: the rectangle's error only.
    let (status, body) = post(&url, r#"{"kind": "rect", "width": 0, "height": 2, "label": "x"}"#).await;
    assert_eq!(errors(status, &body), pairs(&[("width", "minimum")]));
}

#[tokio::test]
async fn at_most_a_hundred_errors_and_a_count_of_the_rest() {
    let base = fixes_app().await;
    let values: Vec<Value> = (0..130).map(|_| json!({"v": 5})).collect();
    let (status, body) = post(&format!("{base}/many"), &json!({ "values": values }).to_string()).await;
    assert_eq!(status, 422);
    let list = envelope(status, &body);
    assert_eq!(list.len(), 101, "{body}");
    assert_eq!(list[100]["type"], "more_errors");
    assert!(list[100]["message"].as_str().unwrap().contains("30 more"), "{body}");
}

#[tokio::test]
async fn a_number_out_of_range_names_its_field_and_no_value_is_echoed() {
    let base = fixes_app().await;
    let url = format!("{base}/priced");
    let (status, body) = post(&url, r#"{"price": 1e400, "i": 1}"#).await;
    assert_eq!(errors(status, &body), pairs(&[("price", "out_of_range")]), "{body}");
    let (status, body) = post(&url, r#"{"price": 1, "i": 99999999999}"#).await;
    assert_eq!(errors(status, &body)[0].0, "i");
    assert!(!body.to_string().contains("99999999999"), "{body}");
    assert!(body.to_string().contains("i32"), "{body}");
}

/// A key sent twice is ambiguous (the schema check would see one value, a reader of the
/// text another): refused, naming the field, never resolved to either value.
#[tokio::test]
async fn a_key_sent_twice_is_refused() {
    let base = app().await;
    let twice = r#"{"username": "ana.b", "username": "ana.c", "email": "ana@example.com", "password": "Secret123"}"#;
    let (status, body) = post(&format!("{base}/register"), twice).await;
    assert_eq!(errors(status, &body), pairs(&[("username", "duplicate_field")]), "{body}");
    // Both values pass the schema; neither is taken.
    let (status, body) = post(&format!("{base}/lenient"), r#"{"name": "ab", "name": "cd"}"#).await;
    assert_eq!(status, 422, "{body}");
}
