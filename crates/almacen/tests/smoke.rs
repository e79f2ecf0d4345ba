mod common;

use almacen::prelude::*;
use common::Backend;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "items")]
struct Item {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 50, unique)]
    name: String,
    #[model(default = 1)]
    stock: i32,
    #[model(decimal(10, 2))]
    price: Decimal,
    note: Option<String>,
    #[model(server_default = now)]
    created_at: DateTime<Utc>,
}

async fn insert_get_and_query(db: Database, _b: Backend) {
    db.create_tables(&[Item::TABLE]).await.unwrap();
    let lamp = Item::insert(&db, NewItem { name: "Lamp".into(), price: "19.99".parse().unwrap(), ..Default::default() }).await.unwrap();
    assert!(lamp.id > 0);
    assert_eq!(lamp.stock, 1);
    assert_eq!(lamp.price.to_string(), "19.99");
    let got = Item::get(&db, lamp.id).await.unwrap().unwrap();
    assert_eq!(got, lamp);
    let cheap = Item::select().filter(Item::PRICE.lt(Decimal::from(20))).order_by(Item::NAME.asc()).fetch_all(&db).await.unwrap();
    assert_eq!(cheap.len(), 1);
    let n = Item::select().filter(Item::NAME.like("L%")).count(&db).await.unwrap();
    assert_eq!(n, 1);
    let rows = db.fetch_all_raw("SELECT name FROM items WHERE id IN (:ids)", params! {"ids" => vec![lamp.id]}).await.unwrap();
    assert_eq!(rows[0].get::<String>("name").unwrap(), "Lamp");
}

per_backend!(insert_get_and_query);
