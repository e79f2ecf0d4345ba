//! The DTOs `#[model(dto)]` generates — create input, patch input, output view — used
//! against SQLite, PostgreSQL and MariaDB.

mod common;

use almacen::Field;
use almacen::prelude::*;
use common::Backend;
use serde_json::json;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "accounts", dto)]
struct Account {
    #[model(primary_key, auto)]
    id: i64,
    #[model(max_len = 100, unique, rename = "emailAddress")]
    email: String,
    #[model(max_len = 200, hidden)]
    password_hash: String,
    #[model(max_len = 200)]
    bio: Option<String>,
    #[model(default = 0)]
    karma: i32,
    #[model(server_default = "true")]
    active: bool,
    #[model(version)]
    version: i64,
}

async fn create_patch_and_output(db: Database, _b: Backend) {
    db.create_tables(&[Account::TABLE]).await.unwrap();

    // The create input comes from a request body (renamed field; the server-default column
    // may be left out; generated and managed columns are not part of it).
    let new: NewAccount =
        serde_json::from_value(json!({"emailAddress": "ada@example.com", "password_hash": "h1", "bio": "hello", "karma": 3})).unwrap();
    assert_eq!(new.active, None);
    let ada = Account::insert(&db, new).await.unwrap();
    assert_eq!((ada.active, ada.version, ada.bio.as_deref()), (true, 1, Some("hello")));
    let missing = serde_json::from_value::<NewAccount>(json!({"password_hash": "h"})).unwrap_err();
    assert!(missing.to_string().contains("emailAddress"), "a missing required field is named: {missing}");

    // A patch: bio set to null, karma to a value, email absent.
    let patch: AccountPatch = serde_json::from_value(json!({"bio": null, "karma": 10})).unwrap();
    assert_eq!((patch.email.clone(), patch.bio.clone(), patch.karma.clone()), (Field::Absent, Field::Null, Field::Value(10)));
    let mut in_memory = ada.clone();
    patch.clone().apply(&mut in_memory).unwrap();
    let stored = patch.into_patch(ada.id).unwrap().execute(&db).await.unwrap().unwrap();
    assert_eq!((stored.email.as_str(), stored.bio.as_deref(), stored.karma), ("ada@example.com", None, 10));
    assert_eq!(stored.version, 2, "a patch is an update: the version moves");
    in_memory.version = stored.version;
    assert_eq!(in_memory, stored, "apply in memory gives what the database stored");

    // An empty patch changes nothing; a null for a non-nullable column is refused by name
    // before anything is sent.
    let empty: AccountPatch = serde_json::from_value(json!({})).unwrap();
    assert_eq!(empty, AccountPatch::default());
    assert_eq!(empty.into_patch(ada.id).unwrap().execute(&db).await.unwrap().unwrap(), stored);
    let bad: AccountPatch = serde_json::from_value(json!({"emailAddress": null})).unwrap();
    let err = bad.clone().into_patch(ada.id).unwrap_err();
    assert!(matches!(&err, Error::InvalidValue { column, .. } if column == "email"), "{err:?}");
    assert!(bad.apply(&mut stored.clone()).is_err());
    assert_eq!(Account::get(&db, ada.id).await.unwrap().unwrap(), stored);

    // A value the database refuses (unique email) leaves the row as it was.
    Account::insert(&db, NewAccount { email: "bob@example.com".into(), password_hash: "h2".into(), bio: None, karma: 0, active: None })
        .await
        .unwrap();
    let clash: AccountPatch = serde_json::from_value(json!({"emailAddress": "bob@example.com", "karma": 99})).unwrap();
    let err = clash.into_patch(ada.id).unwrap().execute(&db).await.unwrap_err();
    assert!(matches!(err, Error::UniqueViolation(_)), "{err:?}");
    assert_eq!(Account::get(&db, ada.id).await.unwrap().unwrap(), stored);

    // The output view: no password hash, the email renamed.
    let out = serde_json::to_value(AccountOut::from(stored.clone())).unwrap();
    assert_eq!(out, json!({"id": stored.id, "emailAddress": "ada@example.com", "bio": null, "karma": 10, "active": true, "version": 2}));
    let page = Account::select().order_by(Account::ID.asc()).paginate(&db, 1, 10).await.unwrap().map(AccountOut::from);
    let page = serde_json::to_value(page).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(page["items"][0].get("password_hash").is_none());
}

/// Hidden fields are not taken from input; client defaults fill missing keys; a failed
/// `apply` changes nothing.
async fn dto_input_rules(db: Database, _b: Backend) {
    db.create_tables(&[Account::TABLE]).await.unwrap();
    let mut new: NewAccount = serde_json::from_value(json!({"emailAddress": "c@example.com", "password_hash": "from the client"})).unwrap();
    assert_eq!(new.password_hash, "", "a hidden field is the service's to set");
    assert_eq!(new.karma, 0, "the client default fills a missing key");
    new.password_hash = "set by the service".into();
    let stored = Account::insert(&db, new).await.unwrap();
    assert_eq!(stored.password_hash, "set by the service");

    let patch: AccountPatch = serde_json::from_value(json!({"password_hash": "x", "bio": "b", "karma": null})).unwrap();
    let mut copy = stored.clone();
    assert!(patch.apply(&mut copy).is_err(), "karma cannot be null");
    assert_eq!(copy, stored, "nothing was applied");
    let patch: AccountPatch = serde_json::from_value(json!({"password_hash": "x", "bio": "b"})).unwrap();
    let after = patch.into_patch(stored.id).unwrap().execute(&db).await.unwrap().unwrap();
    assert_eq!((after.password_hash.as_str(), after.bio.as_deref()), ("set by the service", Some("b")));
}

per_backend!(create_patch_and_output, dto_input_rules);
