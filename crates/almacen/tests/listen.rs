//! `Database::listen`: PostgreSQL's notifications arrive when the sending transaction
//! commits and not before; SQLite and MariaDB refuse with an error that says why.

mod common;

use almacen::prelude::*;
use almacen::{Heard, Notification};
use common::Backend;
use std::time::Duration;

async fn notifications_arrive_on_commit(db: Database, backend: Backend) {
    if backend != Backend::Postgres {
        let err = db.listen(&["jobs"]).await.unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
        assert!(err.to_string().contains("PostgreSQL"), "{err}");
        return;
    }
    let mut listener = db.listen(&["jobs", "other"]).await.unwrap();
    assert_eq!(listener.wait(Duration::from_millis(100)).await.unwrap(), Heard::Nothing);
    let tx = db.begin().await.unwrap();
    tx.execute_raw("SELECT pg_notify('jobs', 'one')", params! {}).await.unwrap();
    assert_eq!(listener.wait(Duration::from_millis(200)).await.unwrap(), Heard::Nothing, "not before the commit");
    tx.commit().await.unwrap();
    let heard = listener.wait(Duration::from_secs(5)).await.unwrap();
    assert_eq!(heard, Heard::Notification(Notification { channel: "jobs".into(), payload: "one".into() }));
    let tx = db.begin().await.unwrap();
    tx.execute_raw("SELECT pg_notify('jobs', 'never')", params! {}).await.unwrap();
    tx.rollback().await.unwrap();
    db.execute_raw("NOTIFY other", params! {}).await.unwrap();
    let heard = listener.wait(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        heard,
        Heard::Notification(Notification { channel: "other".into(), payload: String::new() }),
        "the rolled back one never came"
    );
}

per_backend!(notifications_arrive_on_commit);
