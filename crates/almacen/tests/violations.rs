//! A unique or foreign-key violation of a model's write names the model's field, the same
//! on every dialect, so a handler can answer `409 {"field": "email"}` without matching each
//! database's messages.

mod common;

use almacen::prelude::*;
use common::Backend;

#[derive(Model, Debug, Clone)]
#[model(table = "teams")]
struct Team {
    #[model(primary_key, auto)]
    id: i64,
    #[model(unique, max_len = 40)]
    name: String,
}

#[derive(Model, Debug, Clone)]
#[model(table = "members", unique("nick", "team_id"))]
struct Member {
    #[model(primary_key, auto)]
    id: i64,
    #[model(unique, max_len = 80, column = "email_address")]
    email: String,
    #[model(max_len = 40)]
    nick: String,
    #[model(references = "teams.id")]
    team_id: i64,
}

fn field_of(e: &Error) -> (Option<&str>, Option<&str>) {
    let info = e.db_info().unwrap_or_else(|| panic!("not a database error: {e:?}"));
    (info.field.as_deref(), info.column.as_deref())
}

async fn violations_name_the_field(db: Database, backend: Backend) {
    db.create_tables(&[Team::TABLE, Member::TABLE]).await.unwrap();
    let team = Team::insert(&db, NewTeam { name: "red".into() }).await.unwrap();
    let new = |email: &str, nick: &str, team_id| NewMember { email: email.into(), nick: nick.into(), team_id };
    let ada = Member::insert(&db, new("ada@x", "ada", team.id)).await.unwrap();

    let e = Member::insert(&db, new("ada@x", "other", team.id)).await.unwrap_err();
    assert!(matches!(e, Error::UniqueViolation(_)), "{e:?}");
    assert_eq!(field_of(&e), (Some("email"), Some("email_address")), "{backend:?}: {e}");
    // The value stays out of the message (it reaches logs and clients), the key stays in.
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(!shown.contains("ada@x"), "{backend:?}: {shown}");
    }

    let e = Member::insert_many(&db, vec![new("b@x", "bo", team.id), new("c@x", "bo", team.id)]).await.unwrap_err();
    assert!(matches!(e, Error::UniqueViolation(_)), "{e:?}");
    assert_eq!(field_of(&e).0, Some("nick"), "{backend:?}: a composite unique names its first field: {e}");

    let e = Member::insert(&db, new("d@x", "dee", team.id + 100)).await.unwrap_err();
    assert!(matches!(e, Error::ForeignKeyViolation(_)), "{e:?}");
    assert_eq!(field_of(&e), (Some("team_id"), Some("team_id")), "{backend:?}: {e}");

    let other = Member::insert(&db, new("e@x", "eve", team.id)).await.unwrap();
    let e = Member::patch(other.id).set(Member::EMAIL, "ada@x").execute(&db).await.unwrap_err();
    assert_eq!(field_of(&e).0, Some("email"), "{backend:?}: {e}");
    let e = Member::update_where(Member::ID.eq(other.id)).set(Member::EMAIL, "ada@x").execute(&db).await.unwrap_err();
    assert_eq!(field_of(&e).0, Some("email"), "{backend:?}: {e}");
    let mut changed = other.clone();
    changed.email = ada.email.clone();
    let e = changed.update(&db).await.unwrap_err();
    assert_eq!(field_of(&e).0, Some("email"), "{backend:?}: {e}");
    let e = Team::insert(&db, NewTeam { name: "red".into() }).await.unwrap_err();
    assert_eq!(field_of(&e).0, Some("name"), "{backend:?}: {e}");
}

per_backend!(violations_name_the_field);
