//! A tiny API documented with `ApiDoc`: `/docs`, `/redoc` and `/openapi.json`, offline.
//!
//! ```text
//! cargo run -p almacen-web --example docs_demo -- 8077
//! scripts/check-docs-ui.sh http://127.0.0.1:8077 /tmp/docs-shots
//! ```

use axum::Router;
use axum::routing::get;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

/// A widget in stock.
#[derive(Serialize, ToSchema)]
struct Widget {
    id: i64,
    /// What it is called.
    name: String,
}

/// Reads one widget.
#[utoipa::path(
    get,
    path = "/widgets/{id}",
    tag = "widgets",
    params(("id" = i64, Path, description = "The widget's id")),
    responses(
        (status = 200, description = "The widget", body = Widget),
        (status = 404, description = "No such widget"),
    )
)]
async fn get_widget(
    almacen_web::Path(almacen_web::Id(id)): almacen_web::Path<almacen_web::Id>,
) -> Result<axum::Json<Widget>, almacen_web::ApiError> {
    if id == 1 { Ok(axum::Json(Widget { id, name: "sprocket".into() })) } else { Err(almacen_web::ApiError::not_found()) }
}

#[derive(OpenApi)]
#[openapi(paths(get_widget), components(schemas(Widget)))]
struct WidgetDocs;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse().map_err(|e| format!("the port {p:?} is not a port number: {e}"))?,
        None => 8077,
    };
    let mut widgets = WidgetDocs::openapi();
    // The 404 carries the error envelope, a shared component.
    if let Some(op) = widgets.paths.paths.get_mut("/widgets/{id}").and_then(|item| item.get.as_mut()) {
        op.responses.responses.insert("404".into(), almacen_web::openapi::error_response("No such widget").into());
    }
    let doc = almacen_web::ApiDoc::new("Widget demo", "0.1.0")
        .description("A tiny API to check that `/docs` and `/redoc` render offline.")
        .merge(widgets);
    let app: Router =
        Router::new().route("/widgets/{id}", get(get_widget)).route("/health", get(almacen_web::health::health)).merge(doc.routes());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("docs at http://{}/docs and /redoc", listener.local_addr()?);
    axum::serve(listener, almacen_web::with_service_layers(app)).await?;
    Ok(())
}
