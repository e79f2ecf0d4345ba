use almacen::prelude::*;

#[derive(Model, Debug)]
#[model(table = "page_views", keyless)]
struct PageView {
    #[model(max_len = 200)]
    path: String,
}

async fn count_and_delete(db: &Database) -> almacen::Result<()> {
    // Inserting, selecting and conditional deletes are there...
    PageView::insert(db, NewPageView { path: "/".into() }).await?;
    PageView::delete_where(PageView::PATH.eq("/")).execute(db).await?;
    // ...finding a row by a key it does not have is not.
    let _ = PageView::get(db, ()).await?;
    let _ = Repository::<PageView, _>::new(db).get(()).await?;
    Ok(())
}

fn main() {
    let _ = count_and_delete;
}
