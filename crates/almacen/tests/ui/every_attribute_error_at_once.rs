use almacen::prelude::*;

#[derive(Model, Debug)]
#[model(table = "users")]
struct User {
    #[model(primary_key, auto)]
    id: i64,
    #[model(indx)]
    name: String,
    #[model(decimal(30, 2))]
    balance: Decimal,
}

fn main() {}
