use almacen::prelude::*;

#[derive(Model, Debug)]
#[model(table = "ledger")]
struct Entry {
    #[model(primary_key, auto)]
    id: i64,
    #[model(decimal(38, 8))]
    amount: Decimal,
}

fn main() {}
