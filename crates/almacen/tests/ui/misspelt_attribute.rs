use almacen::prelude::*;

#[derive(Model, Debug)]
#[model(table = "users")]
struct User {
    #[model(primary_key, auto)]
    id: i64,
    #[model(uniqe, max_len = 80)]
    email: String,
}

fn main() {}
