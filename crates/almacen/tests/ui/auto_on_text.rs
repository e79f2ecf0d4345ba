use almacen::prelude::*;

#[derive(Model, Debug)]
#[model(table = "codes")]
struct Code {
    #[model(primary_key, auto, max_len = 10)]
    code: String,
}

fn main() {}
