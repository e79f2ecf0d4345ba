use almacen::prelude::*;

#[derive(Model, Debug)]
#[model(table = "users")]
struct User {
    #[model(primary_key, auto)]
    id: i64,
}

#[derive(Model, Debug)]
#[model(table = "posts")]
struct Post {
    #[model(primary_key, auto)]
    id: i64,
    #[model(references = User::ID)]
    author_id: i32,
}

fn main() {}
