//! `Resource` over real HTTP on all three backends: every status, Location, pagination edges,
//! sort, every filter operator, PATCH absent vs null, soft delete and restore, conflicts,
//! guards, and the OpenAPI fragment.

#[path = "../../almacen/tests/common/mod.rs"]
mod common;
mod support;

use almacen::chrono::{DateTime, Utc};
use almacen::prelude::*;
use almacen::{Database, Field, Patch};
use almacen_web::Validate;
use almacen_web::auth::TokenConfig;
use almacen_web::resource::{CreateInput, Op, PatchInput, ReplaceInput, Resource};
use axum::Extension;
use common::Backend;
use serde_json::{Value, json};
use support::{envelope, read, serve};

#[derive(Model, Debug, Clone)]
#[model(table = "res_products")]
struct Product {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 200)]
    name: String,
    #[model(unique, max_len = 64)]
    sku: String,
    #[model(max_len = 2000)]
    description: Option<String>,
    price: f64,
    #[model(version)]
    version: i64,
    #[model(soft_delete)]
    deleted_at: Option<DateTime<Utc>>,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ProductIn {
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$")]
    sku: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    description: Option<String>,
    #[schema(minimum = 0)]
    price: f64,
}
impl Validate for ProductIn {}
impl CreateInput<Product> for ProductIn {
    fn into_new(self) -> NewProduct {
        NewProduct { name: self.name, sku: self.sku, description: self.description, price: self.price }
    }
}

/// PUT: every writable field, and optionally the version read (a stale one is a 409).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ProductPut {
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    #[schema(min_length = 1, max_length = 64)]
    sku: String,
    #[schema(max_length = 2000)]
    description: Option<String>,
    #[schema(minimum = 0)]
    price: f64,
    #[serde(default)]
    version: Option<i64>,
}
impl Validate for ProductPut {}
impl ReplaceInput<Product> for ProductPut {
    fn apply(self, row: &mut Product) -> almacen::Result<()> {
        (row.name, row.sku, row.description, row.price) = (self.name, self.sku, self.description, self.price);
        if let Some(v) = self.version {
            row.version = v;
        }
        Ok(())
    }
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ProductPatch {
    #[serde(default)]
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    name: Field<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, max_length = 2000)]
    description: Field<String>,
    #[serde(default)]
    #[schema(value_type = f64, minimum = 0)]
    price: Field<f64>,
}
impl Validate for ProductPatch {}
fn null(column: &str) -> almacen::Error {
    almacen::Error::InvalidValue { column: column.into(), message: "cannot be null".into() }
}
impl PatchInput<Product> for ProductPatch {
    fn into_patch(self, key: i64) -> almacen::Result<Patch<Product>> {
        let mut p = Product::patch(key);
        match self.name {
            Field::Absent => {}
            Field::Null => return Err(null("name")),
            Field::Value(v) => p = p.set(Product::NAME, v),
        }
        match self.description {
            Field::Absent => {}
            Field::Null => p = p.set(Product::DESCRIPTION, None),
            Field::Value(v) => p = p.set(Product::DESCRIPTION, Some(v)),
        }
        match self.price {
            Field::Absent => {}
            Field::Null => return Err(null("price")),
            Field::Value(v) => p = p.set(Product::PRICE, v),
        }
        Ok(p)
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct ProductOut {
    id: i64,
    name: String,
    sku: String,
    description: Option<String>,
    price: f64,
    version: i64,
}
impl From<Product> for ProductOut {
    fn from(p: Product) -> Self {
        ProductOut { id: p.id, name: p.name, sku: p.sku, description: p.description, price: p.price, version: p.version }
    }
}

/// A model without soft delete: DELETE removes the row.
#[derive(Model, Debug, Clone)]
#[model(table = "res_tags")]
struct Tag {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 30)]
    name: String,
}
#[derive(serde::Deserialize, utoipa::ToSchema)]
struct TagIn {
    #[schema(min_length = 1, max_length = 30)]
    name: String,
}
impl Validate for TagIn {}
impl CreateInput<Tag> for TagIn {
    fn into_new(self) -> NewTag {
        NewTag { name: self.name }
    }
}
#[derive(serde::Serialize, utoipa::ToSchema)]
struct TagOut {
    id: i64,
    name: String,
}
impl From<Tag> for TagOut {
    fn from(t: Tag) -> Self {
        TagOut { id: t.id, name: t.name }
    }
}

const SECRET: &[u8] = b"resource-test-secret-of-32-bytes!!";

fn products() -> Resource<Product, ProductOut> {
    Resource::<Product, ProductOut>::new("/products")
        .create::<ProductIn>()
        .replace::<ProductPut>()
        .patch::<ProductPatch>()
        .delete()
        .sortable(&["name", "price"])
        .filter("min_price", "price", Op::Ge)
        .filter("max_price", "price", Op::Le)
        .filter("name_contains", "name", Op::Contains)
        .filterable(&["price", "description", "name"])
        .page_size(2, 3)
}

async fn app(db: Database) -> String {
    db.create_tables(&[Product::TABLE, Tag::TABLE]).await.unwrap();
    let tags = Resource::<Tag, TagOut>::new("/tags").create::<TagIn>().delete().write_role("admin");
    let router = axum::Router::new()
        .merge(products().router(db.clone()))
        .merge(tags.router(db.clone()))
        .merge(Resource::<Tag, TagOut>::new("/private-tags").read_role("admin").router(db.clone()))
        .layer(Extension(TokenConfig::hs256(SECRET)));
    serve(router).await
}

async fn call(method: &str, url: &str, body: Option<Value>, token: Option<&str>) -> (u16, Option<String>, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let location = resp.headers().get("location").map(|v| v.to_str().unwrap().to_string());
    if resp.status().as_u16() == 204 {
        return (204, location, Value::Null);
    }
    let (status, _, body) = read(resp).await;
    (status, location, body)
}

async fn get(url: &str) -> (u16, Value) {
    let (s, _, b) = call("GET", url, None, None).await;
    (s, b)
}

/// The first error's (field, type) of an error answer, after checking the envelope.
fn first_error(status: u16, body: &Value) -> (String, String) {
    let errors = envelope(status, body);
    let e = errors.first().unwrap_or_else(|| panic!("no errors: {body}"));
    (e["field"].as_str().unwrap_or("").to_string(), e["type"].as_str().unwrap().to_string())
}

async fn create(base: &str, name: &str, sku: &str, price: f64, description: Option<&str>) -> Value {
    let (status, _, body) = call(
        "POST",
        &format!("{base}/products"),
        Some(json!({"name": name, "sku": sku, "price": price, "description": description})),
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

fn ids(body: &Value) -> Vec<i64> {
    body["items"].as_array().unwrap_or_else(|| panic!("{body}")).iter().map(|i| i["id"].as_i64().unwrap()).collect()
}

async fn crud_statuses(db: Database, _backend: Backend) {
    let base = app(db).await;
    // POST: 201, Location, the output body.
    let (status, location, body) =
        call("POST", &format!("{base}/products"), Some(json!({"name": "Lamp", "sku": "L-1", "price": 10.5})), None).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    assert_eq!(location.as_deref(), Some(format!("/products/{id}").as_str()));
    assert_eq!(body, json!({"id": id, "name": "Lamp", "sku": "L-1", "description": null, "price": 10.5, "version": 1}));
    // Validation on create.
    let (status, _, body) = call("POST", &format!("{base}/products"), Some(json!({"name": "", "sku": "a b", "price": -1})), None).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(envelope(status, &body).len(), 3, "{body}");
    // Unique violation: 409 naming the field.
    let (status, _, body) = call("POST", &format!("{base}/products"), Some(json!({"name": "Other", "sku": "L-1", "price": 1})), None).await;
    assert_eq!(first_error(status, &body), ("sku".to_string(), "unique_violation".to_string()));
    assert_eq!(status, 409);

    // GET by id: 200, 404, 422 for ids out of range.
    let (status, body) = get(&format!("{base}/products/{id}")).await;
    assert_eq!((status, body["name"].clone()), (200, json!("Lamp")));
    let (status, body) = get(&format!("{base}/products/999999")).await;
    assert_eq!(status, 404, "{body}");
    envelope(status, &body);
    for bad in ["0", "-1", "abc", "99999999999999999999"] {
        let (status, body) = get(&format!("{base}/products/{bad}")).await;
        assert_eq!(first_error(status, &body).1, "type_error", "{bad}: {body}");
        assert_eq!(status, 422);
    }

    // PUT: full replacement; a missing field is a 422; absent row 404; stale version 409.
    let put = json!({"name": "Desk lamp", "sku": "L-1", "description": "bright", "price": 12.0});
    let (status, _, body) = call("PUT", &format!("{base}/products/{id}"), Some(put.clone()), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["name"].clone(), body["description"].clone(), body["version"].clone()),
        (json!("Desk lamp"), json!("bright"), json!(2))
    );
    let (status, _, body) =
        call("PUT", &format!("{base}/products/{id}"), Some(json!({"sku": "L-1", "description": null, "price": 1})), None).await;
    assert_eq!(first_error(status, &body), ("name".to_string(), "missing".to_string()));
    let (status, _, body) = call("PUT", &format!("{base}/products/999999"), Some(put.clone()), None).await;
    assert_eq!(status, 404, "{body}");
    let mut stale = put.clone();
    stale["version"] = json!(1);
    let (status, _, body) = call("PUT", &format!("{base}/products/{id}"), Some(stale), None).await;
    assert_eq!(first_error(status, &body).1, "stale_version");
    assert_eq!(status, 409);

    // PATCH: absent keeps, null clears a nullable field, null on a non-nullable one is a 422 (the schema says not nullable).
    let (status, _, body) = call("PATCH", &format!("{base}/products/{id}"), Some(json!({"price": 15})), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["name"].clone(), body["description"].clone(), body["price"].clone()),
        (json!("Desk lamp"), json!("bright"), json!(15.0))
    );
    let (status, _, body) = call("PATCH", &format!("{base}/products/{id}"), Some(json!({"description": null})), None).await;
    assert_eq!((status, body["description"].clone(), body["name"].clone()), (200, Value::Null, json!("Desk lamp")));
    let (status, _, body) = call("PATCH", &format!("{base}/products/{id}"), Some(json!({"name": null})), None).await;
    assert_eq!(first_error(status, &body), ("name".to_string(), "type_error".to_string()));
    assert_eq!(status, 422);
    let (status, _, body) = call("PATCH", &format!("{base}/products/{id}"), Some(json!({"price": -3})), None).await;
    assert_eq!(first_error(status, &body), ("price".to_string(), "minimum".to_string()));
    let (status, _, body) = call("PATCH", &format!("{base}/products/999999"), Some(json!({"price": 1})), None).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = get(&format!("{base}/products/{id}")).await;
    assert_eq!((status, body["name"].clone(), body["price"].clone()), (200, json!("Desk lamp"), json!(15.0)));

    // DELETE (soft): 204, then gone from GET and the list, 404 when deleted again.
    let other = create(&base, "Chair", "C-1", 30.0, None).await["id"].as_i64().unwrap();
    let (status, _, _) = call("DELETE", &format!("{base}/products/{id}"), None, None).await;
    assert_eq!(status, 204);
    assert_eq!(get(&format!("{base}/products/{id}")).await.0, 404);
    let (status, list) = get(&format!("{base}/products")).await;
    assert_eq!((status, ids(&list), list["total"].clone()), (200, vec![other], json!(1)));
    let (status, _, body) = call("DELETE", &format!("{base}/products/{id}"), None, None).await;
    assert_eq!(status, 404, "{body}");
    let (status, _, body) = call("PATCH", &format!("{base}/products/{id}"), Some(json!({"price": 1})), None).await;
    assert_eq!(status, 404, "a deleted row is not patched: {body}");
    // Restore: 200 with the row, then 404 (not deleted); 404 for an absent row.
    let (status, _, body) = call("POST", &format!("{base}/products/{id}/restore"), None, None).await;
    assert_eq!((status, body["id"].clone()), (200, json!(id)), "{body}");
    assert_eq!(get(&format!("{base}/products/{id}")).await.0, 200);
    let (status, _, body) = call("POST", &format!("{base}/products/{id}/restore"), None, None).await;
    assert_eq!(status, 404, "{body}");
    let (status, _, body) = call("POST", &format!("{base}/products/999999/restore"), None, None).await;
    assert_eq!(status, 404, "{body}");
    let (_, list) = get(&format!("{base}/products")).await;
    assert_eq!(list["total"], 2);
}

async fn hard_delete_and_guards(db: Database, _backend: Backend) {
    let base = app(db.clone()).await;
    let tokens = TokenConfig::hs256(SECRET);
    let admin = tokens.issue("root", &["admin"]).unwrap();
    let user = tokens.issue("ana", &["user"]).unwrap();
    let url = format!("{base}/tags");
    // 401 without a token (before the body is looked at), 403 without the role.
    let (status, _, body) = call("POST", &url, Some(json!({"name": ""})), None).await;
    assert_eq!(status, 401, "{body}");
    envelope(status, &body);
    let (status, _, body) = call("POST", &url, Some(json!({"name": "x"})), Some("not.a.token")).await;
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = call("POST", &url, Some(json!({"name": "x"})), Some(&user)).await;
    assert_eq!(status, 403, "{body}");
    let (status, location, body) = call("POST", &url, Some(json!({"name": "x"})), Some(&admin)).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_i64().unwrap();
    assert_eq!(location, Some(format!("/tags/{id}")));
    // Reads are open.
    assert_eq!(get(&format!("{url}/{id}")).await.0, 200);
    // DELETE is guarded too, and removes the row for good.
    let (status, _, _) = call("DELETE", &format!("{url}/{id}"), None, Some(&user)).await;
    assert_eq!(status, 403);
    let (status, _, _) = call("DELETE", &format!("{url}/{id}"), None, Some(&admin)).await;
    assert_eq!(status, 204);
    assert_eq!(Tag::select().count(&db).await.unwrap(), 0);
    let (status, _, _) = call("DELETE", &format!("{url}/{id}"), None, Some(&admin)).await;
    assert_eq!(status, 404);
    // Reads guarded by read_role: the list and the item.
    for path in ["/private-tags", "/private-tags/1"] {
        let (status, _, body) = call("GET", &format!("{base}{path}"), None, None).await;
        assert_eq!(status, 401, "{path}: {body}");
        let (status, _, body) = call("GET", &format!("{base}{path}"), None, Some(&user)).await;
        assert_eq!(status, 403, "{path}: {body}");
    }
    let (status, _, body) = call("GET", &format!("{base}/private-tags"), None, Some(&admin)).await;
    assert_eq!((status, body["total"].clone()), (200, json!(0)), "{body}");
    // No restore route for a model without soft delete.
    let resp = reqwest::Client::new().post(format!("{url}/{id}/restore")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}

async fn pagination(db: Database, _backend: Backend) {
    let base = app(db).await;
    let url = format!("{base}/products");
    // Empty table.
    let (status, body) = get(&url).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"items": [], "total": 0, "page": 1, "page_size": 2, "total_pages": 0, "has_next": false, "has_prev": false}));
    let mut all = Vec::new();
    for i in 0..5 {
        all.push(create(&base, &format!("p{i}"), &format!("S{i}"), 1.0, None).await["id"].as_i64().unwrap());
    }
    let (_, body) = get(&format!("{url}?page=1")).await;
    assert_eq!((ids(&body), body["total_pages"].clone(), body["has_next"].clone()), (all[0..2].to_vec(), json!(3), json!(true)));
    let (_, body) = get(&format!("{url}?page=3&page_size=2")).await;
    assert_eq!(ids(&body), all[4..5].to_vec());
    assert_eq!((body["has_next"].clone(), body["has_prev"].clone(), body["total"].clone()), (json!(false), json!(true), json!(5)));
    let (status, body) = get(&format!("{url}?page=4")).await;
    assert_eq!((status, ids(&body), body["total"].clone(), body["page"].clone()), (200, vec![], json!(5), json!(4)));
    let (_, body) = get(&format!("{url}?page_size=3")).await;
    assert_eq!((ids(&body).len(), body["total_pages"].clone()), (3, json!(2)));
    // Out of range: 422 naming the parameter, never clamped.
    for (q, param) in [
        ("page=0", "page"),
        ("page_size=4", "page_size"),
        ("page_size=0", "page_size"),
        ("page=x", "page"),
        ("limit=4", "limit"),
        ("skip=-1", "skip"),
    ] {
        let (status, body) = get(&format!("{url}?{q}")).await;
        assert_eq!(status, 422, "{q}: {body}");
        assert_eq!(first_error(status, &body).0, param, "{q}: {body}");
    }
    // skip/limit.
    let (status, body) = get(&format!("{url}?skip=1&limit=3")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"items": body["items"].clone(), "total": 5, "skip": 1, "limit": 3, "has_next": true}));
    assert_eq!(ids(&body), all[1..4].to_vec());
    let (_, body) = get(&format!("{url}?skip=4")).await;
    assert_eq!((ids(&body), body["limit"].clone(), body["has_next"].clone()), (all[4..5].to_vec(), json!(2), json!(false)));
    let (_, body) = get(&format!("{url}?skip=10")).await;
    assert_eq!((ids(&body), body["total"].clone()), (vec![], json!(5)));
    let (status, body) = get(&format!("{url}?page=1&limit=2")).await;
    assert_eq!((status, first_error(status, &body).0), (422, "page".to_string()));
    // A parameter given twice.
    let (status, body) = get(&format!("{url}?page=1&page=2")).await;
    assert_eq!((status, first_error(status, &body).0), (422, "page".to_string()));
}

async fn sort_and_filters(db: Database, _backend: Backend) {
    let base = app(db).await;
    let url = format!("{base}/products");
    let a = create(&base, "100% wool", "A", 30.0, Some("warm")).await["id"].as_i64().unwrap();
    let b = create(&base, "100 wool", "B", 10.0, None).await["id"].as_i64().unwrap();
    let c = create(&base, "snake_case", "C", 20.0, Some("x")).await["id"].as_i64().unwrap();
    let d = create(&base, "snakeXcase", "D", 20.0, None).await["id"].as_i64().unwrap();
    let q = |query: &'static str| {
        let u = format!("{url}?page_size=3&{query}");
        async move {
            let (status, body) = get(&u).await;
            assert_eq!(status, 200, "{query}: {body}");
            let mut v = ids(&body);
            if !query.contains("sort") {
                v.sort();
            }
            v
        }
    };
    // Sort: ascending, descending, ties broken by the key.
    assert_eq!(q("sort=price").await, vec![b, c, d]);
    assert_eq!(q("sort=-price").await, vec![a, c, d]);
    assert_eq!(q("sort=-price&page=2").await, vec![b]);
    // Several fields (the order of names is left to the collation, so only the first is checked).
    assert_eq!(q("sort=price,-name").await[0], b);
    let (status, body) = get(&format!("{url}?sort=pirce")).await;
    assert_eq!(first_error(status, &body).0, "sort");
    assert!(body.to_string().contains("price"), "{body}");
    let (status, body) = get(&format!("{url}?sort=sku")).await;
    assert_eq!((status, first_error(status, &body).0), (422, "sort".to_string()));

    // Declared filters.
    assert_eq!(q("min_price=20").await, vec![a, c, d]);
    assert_eq!(q("max_price=20").await, vec![b, c, d]);
    assert_eq!(q("min_price=15&max_price=25").await, vec![c, d]);
    // `%` and `_` match themselves.
    assert_eq!(q("name_contains=%25").await, vec![a]);
    assert_eq!(q("name_contains=_").await, vec![c]);
    assert_eq!(q("name_contains=wool").await, vec![a, b]);
    // Generic filters, every operator.
    assert_eq!(q("price=20").await, vec![c, d]);
    assert_eq!(q("price=10").await, vec![b]);
    assert_eq!(q("price__ne=20").await, vec![a, b]);
    assert_eq!(q("price__lt=20").await, vec![b]);
    assert_eq!(q("price__le=20").await, vec![b, c, d]);
    assert_eq!(q("price__gt=20").await, vec![a]);
    assert_eq!(q("price__ge=20").await, vec![a, c, d]);
    assert_eq!(q("price__in=10,30").await, vec![a, b]);
    assert_eq!(q("name__contains=100%25").await, vec![a]);
    assert_eq!(q("name__contains=e_c").await, vec![c]);
    assert_eq!(q("name__startswith=snake").await, vec![c, d]);
    assert_eq!(q("name__endswith=wool").await, vec![a, b]);
    assert_eq!(q("name__icontains=SNAKEX").await, vec![d]);
    assert_eq!(q("description__isnull=true").await, vec![b, d]);
    assert_eq!(q("description__isnull=false").await, vec![a, c]);
    // Unknown parameters and bad values: 422 naming the parameter.
    for (query, param) in [
        ("min_prise=3", "min_prise"),
        ("sku=A", "sku"),
        ("price__between=1", "price__between"),
        ("min_price=abc", "min_price"),
        ("price__in=1,x", "price__in"),
        ("description__isnull=maybe", "description__isnull"),
        ("price__contains=1", "price__contains"),
    ] {
        let (status, body) = get(&format!("{url}?{query}")).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(first_error(status, &body).0, param, "{query}: {body}");
    }
}

per_backend!(crud_statuses, hard_delete_and_guards, pagination, sort_and_filters);

#[test]
fn the_openapi_fragment_has_every_route() {
    let doc = serde_json::to_value(products().write_role("admin").openapi()).unwrap();
    let paths = &doc["paths"];
    let ops = [
        ("/products", "get"),
        ("/products", "post"),
        ("/products/{id}", "get"),
        ("/products/{id}", "put"),
        ("/products/{id}", "patch"),
        ("/products/{id}", "delete"),
        ("/products/{id}/restore", "post"),
    ];
    for (path, method) in ops {
        let op = &paths[path][method];
        assert!(op.is_object(), "{path} {method}: {doc}");
        assert!(op["responses"]["422"].is_object(), "{path} {method}");
        let guarded = method != "get";
        assert_eq!(op["security"].is_array(), guarded, "{path} {method}");
        assert_eq!(op["responses"]["401"].is_object(), guarded, "{path} {method}");
        if path.contains("{id}") {
            assert!(op["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "id" && p["in"] == "path"), "{path} {method}");
            assert!(op["responses"]["404"].is_object(), "{path} {method}");
        }
    }
    let post = &paths["/products"]["post"];
    assert!(post["responses"]["201"]["headers"]["Location"].is_object());
    assert_eq!(post["requestBody"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ProductIn");
    assert_eq!(
        paths["/products/{id}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ProductPatch"
    );
    let params: Vec<&str> =
        paths["/products"]["get"]["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    for p in [
        "page",
        "page_size",
        "skip",
        "limit",
        "sort",
        "min_price",
        "max_price",
        "name_contains",
        "price",
        "price__lt",
        "price__in",
        "description__isnull",
    ] {
        assert!(params.contains(&p), "{p} in {params:?}");
    }
    let schemas = &doc["components"]["schemas"];
    for s in ["ProductIn", "ProductPut", "ProductPatch", "ProductOut", "ApiError", "FieldError"] {
        assert!(schemas[s].is_object(), "{s}");
    }
    assert_eq!(schemas["ProductIn"]["properties"]["price"]["minimum"], 0);
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());

    // The fragment merges into the service's document.
    let merged = almacen_web::ApiDoc::new("Shop", "1.0.0").merge(products().openapi()).into_openapi();
    let merged = serde_json::to_value(merged).unwrap();
    assert!(merged["paths"]["/products/{id}/restore"]["post"].is_object());
    assert!(merged["components"]["schemas"]["ProductOut"].is_object());
}
