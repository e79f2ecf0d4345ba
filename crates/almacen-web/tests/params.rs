//! `Path`, `Query` and `Id` over real HTTP: every rejection a 422 in the envelope naming the
//! parameter; ids out of range or not numbers never a 500 or a plain-text 400.

mod support;

use almacen_web::{Id, Json, Path, Query, with_service_layers};
use axum::{Router, routing::get};
use serde::Deserialize;
use serde_json::{Value, json};
use support::{envelope, read, serve};

#[derive(Deserialize)]
struct ListQuery {
    page: u32,
    min_price: Option<f64>,
    owner: Option<Id>,
}

#[derive(Deserialize)]
struct Pair {
    shop: Id,
    item: i64,
}

async fn app() -> String {
    let app = Router::new()
        .route("/plain/{id}", get(|Path(id): Path<i64>| async move { Json(json!({"id": id})) }))
        .route("/things/{id}", get(|Path(Id(id)): Path<Id>| async move { Json(json!({"id": id})) }))
        .route("/tuple/{shop}/{item}", get(|Path((shop, item)): Path<(Id, u8)>| async move { Json(json!([shop, item])) }))
        .route("/named/{shop}/{item}", get(|Path(p): Path<Pair>| async move { Json(json!([p.shop, p.item])) }))
        .route(
            "/list",
            get(|Query(q): Query<ListQuery>| async move { Json(json!({"page": q.page, "min_price": q.min_price, "owner": q.owner})) }),
        );
    serve(with_service_layers(app)).await
}

async fn get_json(url: String) -> (u16, Value) {
    let (status, _, body) = read(reqwest::get(url).await.unwrap()).await;
    (status, body)
}

/// One 422 error naming `field` with `kind`.
fn one_error(status: u16, body: &Value, field: &str, kind: &str) {
    assert_eq!(status, 422, "{body}");
    let errors = envelope(status, body);
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!((errors[0]["field"].as_str(), errors[0]["type"].as_str()), (Some(field), Some(kind)), "{body}");
}

#[tokio::test]
async fn path_parameters_are_422_naming_the_parameter() {
    let base = app().await;
    assert_eq!(get_json(format!("{base}/plain/-7")).await, (200, json!({"id": -7})));
    for bad in ["abc", "99999999999999999999", "1.5"] {
        let (status, body) = get_json(format!("{base}/plain/{bad}")).await;
        one_error(status, &body, "id", "type_error");
    }
    let (status, body) = get_json(format!("{base}/plain/99999999999999999999")).await;
    assert_eq!(body["errors"][0]["message"], "must be a whole number from -9223372036854775808 to 9223372036854775807", "{status} {body}");

    let (status, body) = get_json(format!("{base}/tuple/3/abc")).await;
    one_error(status, &body, "item", "type_error");
    let (status, body) = get_json(format!("{base}/tuple/3/300")).await;
    one_error(status, &body, "item", "type_error");
    assert_eq!(get_json(format!("{base}/tuple/3/4")).await, (200, json!([3, 4])));
    let (status, body) = get_json(format!("{base}/named/1/x")).await;
    one_error(status, &body, "item", "type_error");
    assert_eq!(get_json(format!("{base}/named/1/-2")).await, (200, json!([1, -2])));
    let (status, body) = get_json(format!("{base}/plain/%FF")).await;
    one_error(status, &body, "id", "type_error");
}

#[tokio::test]
async fn ids_out_of_range_or_not_numbers_are_422() {
    let base = app().await;
    assert_eq!(get_json(format!("{base}/things/9223372036854775807")).await, (200, json!({"id": i64::MAX})));
    for bad in ["99999999999999999999", "9223372036854775808", "0", "-1", "abc", "1e3", "%20"] {
        let (status, body) = get_json(format!("{base}/things/{bad}")).await;
        one_error(status, &body, "id", "type_error");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("must be an id"), "{bad}: {body}");
    }
    let (status, body) = get_json(format!("{base}/tuple/0/1")).await;
    one_error(status, &body, "shop", "type_error");
    let (status, body) = get_json(format!("{base}/named/99999999999999999999/1")).await;
    one_error(status, &body, "shop", "type_error");
}

#[tokio::test]
async fn query_parameters_are_422_naming_the_parameter() {
    let base = app().await;
    assert_eq!(
        get_json(format!("{base}/list?page=2&min_price=1.5&owner=7")).await,
        (200, json!({"page": 2, "min_price": 1.5, "owner": 7}))
    );
    let (status, body) = get_json(format!("{base}/list")).await;
    one_error(status, &body, "page", "missing");
    let (status, body) = get_json(format!("{base}/list?page=two")).await;
    one_error(status, &body, "page", "type_error");
    let (status, body) = get_json(format!("{base}/list?page=1&min_price=cheap")).await;
    one_error(status, &body, "min_price", "type_error");
    let (status, body) = get_json(format!("{base}/list?page=1&owner=99999999999999999999")).await;
    one_error(status, &body, "owner", "type_error");
}

#[test]
fn query_messages_never_quote_the_value() {
    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "lowercase")]
    enum Order {
        Asc,
    }
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Q {
        order: Order,
    }
    let e = almacen_web::params::parse_query::<Q>("order=hunter2").unwrap_err();
    let text = serde_json::to_string(&e.errors()).unwrap();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("expected"), "{text}");
    assert_eq!(e.errors()[0].field.as_deref(), Some("order"));
}
