use almacen::prelude::*;

#[derive(Model, Debug)]
#[model(table = "items")]
struct Item {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 10)]
    stock: i32,
}

fn main() {}
