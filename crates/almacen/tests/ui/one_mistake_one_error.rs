use almacen::prelude::*;

// The misspelt attribute is the only error: the model's items (NewUser, User::get, the
// column constants) are still generated, so code using them reports nothing more.
#[derive(Model, Debug)]
#[model(table = "users")]
struct User {
    #[model(primary_key, auto)]
    id: i64,
    #[model(uniqe, max_len = 80)]
    email: String,
}

async fn use_it(db: &Database) -> almacen::Result<()> {
    let u = User::insert(db, NewUser { email: "a@b.c".into() }).await?;
    let _ = User::get(db, u.id).await?;
    let _ = User::select().filter(User::EMAIL.eq("a@b.c")).fetch_all(db).await?;
    Ok(())
}

fn main() {
    let _ = use_it;
}
