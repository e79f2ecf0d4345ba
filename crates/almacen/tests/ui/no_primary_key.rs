use almacen::prelude::*;

#[derive(Model, Debug)]
#[model(table = "events")]
struct Event {
    #[model(max_len = 80)]
    name: String,
}

fn main() {}
