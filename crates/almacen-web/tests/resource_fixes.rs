//! Defects found in review of `Resource`, each reproduced over HTTP: PUT undoing a concurrent
//! PATCH, filter errors naming the column and echoing the value, page sizes above the core's
//! cap, schemas checked only on the first request, and an OpenAPI fragment that did not match
//! the server.

#[path = "../../almacen/tests/common/mod.rs"]
mod common;
mod support;

use almacen::prelude::*;
use almacen::{Database, Field, Patch};
use almacen_web::Validate;
use almacen_web::resource::{CreateInput, PatchInput, ReplaceInput, Resource};
use common::Backend;
use serde_json::{Value, json};
use support::serve;

#[derive(Model, Debug, Clone)]
#[model(table = "fix_items")]
struct Item {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 50)]
    name: String,
    qty: i32,
    price: f64,
    flag: bool,
    #[model(max_len = 50)]
    note: Option<String>,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ItemIn {
    #[schema(min_length = 1, max_length = 50)]
    name: String,
    qty: i32,
}
impl Validate for ItemIn {}
impl CreateInput<Item> for ItemIn {
    fn into_new(self) -> NewItem {
        NewItem { name: self.name, qty: self.qty, price: 1.0, flag: false, note: None }
    }
}

/// PUT covers the name only.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ItemPut {
    #[schema(min_length = 1, max_length = 50)]
    name: String,
}
impl Validate for ItemPut {}
impl ReplaceInput<Item> for ItemPut {
    fn apply(self, row: &mut Item) -> almacen::Result<()> {
        row.name = self.name;
        Ok(())
    }
}

/// PATCH: `qty` is optional and not nullable; `note` is nullable.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ItemPatch {
    #[serde(default)]
    #[schema(value_type = i32)]
    qty: Field<i32>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 50)]
    note: Field<String>,
}
impl Validate for ItemPatch {}
impl PatchInput<Item> for ItemPatch {
    fn into_patch(self, key: i64) -> almacen::Result<Patch<Item>> {
        let mut p = Item::patch(key);
        match self.qty {
            Field::Absent => {}
            Field::Null => return Err(almacen::Error::InvalidValue { column: "qty".into(), message: "cannot be null".into() }),
            Field::Value(v) => p = p.set(Item::QTY, v),
        }
        match self.note {
            Field::Absent => {}
            Field::Null => p = p.set(Item::NOTE, None),
            Field::Value(v) => p = p.set(Item::NOTE, Some(v)),
        }
        Ok(p)
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct ItemOut {
    id: i64,
    name: String,
    qty: i32,
}
impl From<Item> for ItemOut {
    fn from(i: Item) -> Self {
        ItemOut { id: i.id, name: i.name, qty: i.qty }
    }
}

fn items() -> Resource<Item, ItemOut> {
    Resource::<Item, ItemOut>::new("/items")
        .create::<ItemIn>()
        .replace::<ItemPut>()
        .patch::<ItemPatch>()
        .filterable(&["name", "qty", "price", "flag", "note"])
        .page_size(20, 1000)
}

async fn app(db: Database) -> String {
    db.create_tables(&[Item::TABLE]).await.unwrap();
    serve(items().router(db)).await
}

async fn send(client: &reqwest::Client, method: &str, url: &str, body: Value) -> (u16, Value) {
    let resp = client.request(method.parse().unwrap(), url).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// PUT (name only) and PATCH (qty) on one row at once: no acknowledged PATCH is undone by a
/// PUT that read the row before it (the PUT reads and writes in one locked transaction).
async fn put_does_not_undo_a_concurrent_patch(db: Database, _backend: Backend) {
    let base = app(db).await;
    let client = reqwest::Client::new();
    let (status, row) = send(&client, "POST", &format!("{base}/items"), json!({"name": "n", "qty": 0})).await;
    assert_eq!(status, 201, "{row}");
    let url = format!("{base}/items/{}", row["id"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut putters = Vec::new();
    for t in 0..3 {
        let (client, url, stop) = (client.clone(), url.clone(), stop.clone());
        putters.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let (status, body) = send(&client, "PUT", &url, json!({"name": format!("p{t}-{i}")})).await;
                assert!(status == 200 || status == 409, "PUT: {status} {body}");
            }
        }));
    }
    let mut reverted = Vec::new();
    for q in 1..=150 {
        let (status, body) = send(&client, "PATCH", &url, json!({"qty": q})).await;
        assert_eq!(status, 200, "PATCH: {body}");
        // Only this loop writes qty: once acknowledged, it may never go back.
        let resp = client.get(&url).send().await.unwrap();
        let now: Value = resp.json().await.unwrap();
        if now["qty"].as_i64().unwrap() < q {
            reverted.push(q);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for p in putters {
        p.await.unwrap();
    }
    let resp = client.get(&url).send().await.unwrap();
    let last: Value = resp.json().await.unwrap();
    assert_eq!(last["qty"], 150, "{last}");
    assert!(reverted.is_empty(), "acknowledged PATCHes undone by a PUT: {reverted:?}");
}

/// A filter value the column cannot hold names the query parameter, and no message quotes
/// the value sent.
async fn filter_errors_name_the_parameter(db: Database, _backend: Backend) {
    let base = app(db).await;
    let client = reqwest::Client::new();
    for (query, param) in
        [("qty__lt=3000000000", "qty__lt"), ("qty=abc", "qty"), ("flag=maybe", "flag"), ("note__isnull=perhaps", "note__isnull")]
    {
        let resp = client.get(format!("{base}/items?{query}")).send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["errors"][0]["field"], param, "{query}: {body}");
        let value = query.split('=').nth(1).unwrap();
        assert!(!body.to_string().contains(value), "{query}: the value is echoed: {body}");
    }
    // Operators the column's type does not offer are unknown parameters, as are the aliases.
    for query in ["flag__lt=true", "qty__contains=1", "qty__isnull=true", "name__like=a", "qty__eq=1", "qty__lte=1", "name__ilike=a"] {
        let resp = client.get(format!("{base}/items?{query}")).send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert_eq!((status, body["errors"][0]["type"].as_str()), (422, Some("unknown_parameter")), "{query}: {body}");
    }
    // What the type offers still works.
    for query in ["qty__lt=3", "flag=true", "note__isnull=true", "name__contains=a", "price__ge=1.5"] {
        let resp = client.get(format!("{base}/items?{query}")).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{query}");
    }
}

per_backend!(put_does_not_undo_a_concurrent_patch, filter_errors_name_the_parameter);

#[test]
#[should_panic(expected = "MAX_PAGE_SIZE")]
fn a_page_size_above_the_core_cap_is_refused() {
    let _ = Resource::<Item, ItemOut>::new("/items").page_size(20, 5000);
}

#[test]
fn the_core_cap_itself_is_allowed() {
    let _ = Resource::<Item, ItemOut>::new("/items").page_size(20, almacen::query::MAX_PAGE_SIZE);
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
struct BadPattern {
    #[schema(pattern = "([a-z]")]
    code: String,
}
impl Validate for BadPattern {}
impl ReplaceInput<Item> for BadPattern {
    fn apply(self, row: &mut Item) -> almacen::Result<()> {
        row.name = self.code;
        Ok(())
    }
}

async fn memory() -> Database {
    Database::connect("sqlite::memory:").await.unwrap()
}

#[tokio::test]
async fn a_schema_that_does_not_compile_stops_the_router_build() {
    let db = memory().await;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _: axum::Router = Resource::<Item, ItemOut>::new("/items").replace::<BadPattern>().router(db);
    }));
    let message = *outcome.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("BadPattern") && message.contains("does not compile"), "{message}");
}

mod a {
    #[derive(serde::Deserialize, utoipa::ToSchema)]
    pub struct Line {
        #[schema(minimum = 1)]
        pub quantity: i64,
    }
}
mod b {
    #[derive(serde::Deserialize, utoipa::ToSchema)]
    pub struct Line {
        #[schema(max_length = 3)]
        pub label: String,
    }
}
#[derive(serde::Deserialize, utoipa::ToSchema)]
struct Mixed {
    x: a::Line,
    y: b::Line,
}
impl Validate for Mixed {}
impl ReplaceInput<Item> for Mixed {
    fn apply(self, row: &mut Item) -> almacen::Result<()> {
        row.name = self.y.label;
        row.qty = self.x.quantity as i32;
        Ok(())
    }
}

#[tokio::test]
async fn two_types_with_one_name_stop_the_router_build() {
    let db = memory().await;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _: axum::Router = Resource::<Item, ItemOut>::new("/items").replace::<Mixed>().router(db);
    }));
    let message = *outcome.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("`Line`") && message.contains("#[schema(as"), "{message}");
}

#[test]
#[should_panic(expected = "#[schema(as")]
fn two_types_with_one_name_stop_the_openapi_fragment() {
    let _ = Resource::<Item, ItemOut>::new("/items").replace::<Mixed>().openapi();
}

#[test]
fn the_openapi_fragment_matches_the_server() {
    let doc = serde_json::to_value(items().openapi()).unwrap();
    let paths = &doc["paths"];
    for (path, method) in [("/items", "get"), ("/items", "post"), ("/items/{id}", "get"), ("/items/{id}", "put"), ("/items/{id}", "patch")]
    {
        let responses = &paths[path][method]["responses"];
        for code in ["422", "500", "503", "504"] {
            assert!(responses[code].is_object(), "{path} {method} {code}");
        }
        assert!(responses["503"]["headers"]["Retry-After"].is_object(), "{path} {method}");
        if method != "get" {
            assert!(responses["413"].is_object() && responses["415"].is_object(), "{path} {method}");
        }
    }
    let params = paths["/items"]["get"]["parameters"].as_array().unwrap();
    let param = |name: &str| params.iter().find(|p| p["name"] == name).cloned();
    let schema = |name: &str| param(name).unwrap_or_else(|| panic!("{name}"))["schema"].clone();
    assert_eq!(schema("page")["minimum"], 1);
    assert_eq!((schema("page_size")["minimum"].clone(), schema("page_size")["maximum"].clone()), (json!(1), json!(1000)));
    assert_eq!((schema("limit")["minimum"].clone(), schema("limit")["maximum"].clone()), (json!(1), json!(1000)));
    assert_eq!(schema("skip")["minimum"], 0);
    // Operators by column type.
    for present in
        ["name", "name__contains", "name__lt", "qty", "qty__lt", "qty__in", "flag", "flag__ne", "note__isnull", "note__icontains"]
    {
        assert!(param(present).is_some(), "{present} missing");
    }
    for absent in ["flag__lt", "flag__contains", "qty__contains", "qty__isnull", "name__isnull", "name__like", "qty__eq"] {
        assert!(param(absent).is_none(), "{absent} advertised");
    }
    // The PATCH body: qty optional and not nullable, note nullable.
    let patch = &doc["components"]["schemas"]["ItemPatch"];
    assert_eq!(patch["properties"]["qty"]["type"], "integer", "{patch}");
    assert!(patch["required"].as_array().is_none_or(|r| r.is_empty()), "{patch}");
}

/// The PATCH pattern over HTTP: a null for a non-nullable field is a 422 from the schema,
/// naming the field; a null for a nullable one clears it.
#[tokio::test]
async fn patch_null_on_a_non_nullable_field_is_a_422() {
    let db = memory().await;
    let base = app(db).await;
    let client = reqwest::Client::new();
    let (_, row) = send(&client, "POST", &format!("{base}/items"), json!({"name": "n", "qty": 1})).await;
    let url = format!("{base}/items/{}", row["id"]);
    let (status, body) = send(&client, "PATCH", &url, json!({"qty": null})).await;
    assert_eq!((status, body["errors"][0]["field"].as_str(), body["errors"][0]["type"].as_str()), (422, Some("qty"), Some("type_error")));
    let (status, _) = send(&client, "PATCH", &url, json!({"note": null})).await;
    assert_eq!(status, 200);
}
