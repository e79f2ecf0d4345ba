use almacen::prelude::*;

#[derive(Model, Debug)]
#[model(table = "prices")]
struct Price {
    #[model(primary_key, auto)]
    id: i64,
    #[model(decimal(12, 2))]
    amount: f64,
}

fn main() {}
