//! Idempotent consumers on SQLite, PostgreSQL and MariaDB: a message's effects and its
//! inbox record commit together, so a redelivered message (one at a time or several at
//! once) has no second effect, and a failed handler leaves nothing behind.

#[path = "../../almacen/tests/common/mod.rs"]
mod common;

use almacen::prelude::*;
use almacen_events::{DeadLetters, Event, Handled, InProcessBus, Inbox, Message, Publish, Relay, RelayConfig, TABLES};
use common::Backend;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "ledger")]
struct Ledger {
    #[model(primary_key, auto)]
    id: i64,
    amount: i64,
}

fn message(n: i64) -> Message {
    Message {
        id: Uuid::new_v4(),
        event_type: "payment.received".into(),
        aggregate_type: "payment".into(),
        aggregate_id: n.to_string(),
        partition_key: format!("payment:{n}"),
        payload: serde_json::json!({"amount": n}),
        headers: serde_json::json!({}),
        created_at: Utc::now(),
    }
}

async fn apply(inbox: &Inbox, m: &Message) -> almacen::Result<Handled<i64>> {
    let amount = m.payload["amount"].as_i64().unwrap();
    inbox.handle(m, async |tx| Ok::<_, almacen::Error>(Ledger::insert(tx, NewLedger { amount }).await?.id)).await
}

async fn ledger(db: &Database) -> Vec<i64> {
    Ledger::select().order_by(Ledger::ID.asc()).fetch_all(db).await.unwrap().into_iter().map(|l| l.amount).collect()
}

async fn setup(db: &Database) {
    db.create_tables(TABLES).await.unwrap();
    db.create_tables(&[Ledger::TABLE]).await.unwrap();
}

async fn a_redelivered_message_has_no_second_effect(db: Database, _b: Backend) {
    setup(&db).await;
    let inbox = Inbox::new(db.clone(), "billing");
    let m = message(5);
    assert!(matches!(apply(&inbox, &m).await.unwrap(), Handled::Applied(_)));
    assert_eq!(apply(&inbox, &m).await.unwrap(), Handled::Duplicate);
    assert_eq!(ledger(&db).await, vec![5]);
    // Another consumer handles the same message once too.
    let other = Inbox::new(db.clone(), "audit");
    assert!(matches!(apply(&other, &m).await.unwrap(), Handled::Applied(_)));
    assert_eq!(apply(&other, &m).await.unwrap(), Handled::Duplicate);
    assert_eq!(ledger(&db).await, vec![5, 5]);
}

async fn a_failed_handler_leaves_nothing(db: Database, _b: Backend) {
    setup(&db).await;
    let inbox = Inbox::new(db.clone(), "billing");
    let m = message(7);
    let failed = inbox
        .handle(&m, async |tx| {
            Ledger::insert(tx, NewLedger { amount: 7 }).await?;
            Err::<(), _>(almacen::Error::Conflict("the handler refused it".into()))
        })
        .await;
    assert!(matches!(failed, Err(almacen::Error::Conflict(_))), "{failed:?}");
    assert!(ledger(&db).await.is_empty(), "the effect rolled back");
    assert!(matches!(apply(&inbox, &m).await.unwrap(), Handled::Applied(_)), "a redelivery runs it");
    assert_eq!(ledger(&db).await, vec![7]);
}

/// Five deliveries of one message at once: one applies it, the others find it handled.
async fn concurrent_deliveries_apply_once(db: Database, _b: Backend) {
    setup(&db).await;
    let inbox = Inbox::new(db.clone(), "billing");
    let m = message(3);
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let (inbox, m) = (inbox.clone(), m.clone());
            tokio::spawn(async move { apply(&inbox, &m).await })
        })
        .collect();
    let mut applied = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            Handled::Applied(_) => applied += 1,
            Handled::Duplicate => {}
        }
    }
    assert_eq!(applied, 1);
    assert_eq!(ledger(&db).await, vec![3]);
}

/// Outbox to inbox through the in-process bus, where the first acknowledgement of each
/// message is lost after its effect committed: the relay sends it again, and the inbox
/// keeps the effect single.
async fn outbox_to_inbox_with_lost_acks(db: Database, _b: Backend) {
    setup(&db).await;
    let bus = InProcessBus::new();
    let inbox = Inbox::new(db.clone(), "billing");
    let deliveries = Arc::new(AtomicU32::new(0));
    let counter = deliveries.clone();
    bus.subscribe(move |m: Message| {
        let (inbox, counter) = (inbox.clone(), counter.clone());
        async move {
            let outcome = apply(&inbox, &m).await.map_err(|e| e.to_string())?;
            counter.fetch_add(1, Ordering::SeqCst);
            match outcome {
                Handled::Applied(_) => Err("the acknowledgement was lost".to_string()),
                Handled::Duplicate => Ok(()),
            }
        }
    });
    for n in 1..=4 {
        let tx = db.begin().await.unwrap();
        tx.publish(Event::new("payment.received", serde_json::json!({"amount": n})).aggregate("payment", n)).await.unwrap();
        tx.commit().await.unwrap();
    }
    let config = RelayConfig { backoff_base: Duration::from_millis(2), backoff_max: Duration::from_millis(5), ..Default::default() };
    let relay = Relay::new(db.clone(), bus, config);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        relay.run_once().await.unwrap();
        let pending =
            almacen_events::OutboxRecord::select().filter(almacen_events::OutboxRecord::PUBLISHED_AT.is_null()).count(&db).await.unwrap();
        if pending == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{pending} events never published");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut amounts = ledger(&db).await;
    amounts.sort();
    assert_eq!(amounts, vec![1, 2, 3, 4], "each payment applied once");
    assert_eq!(deliveries.load(Ordering::SeqCst), 8, "each delivered twice");
    assert!(DeadLetters::new(db.clone()).list(10).await.unwrap().is_empty());
}

async fn old_inbox_records_are_cleaned(db: Database, _b: Backend) {
    setup(&db).await;
    let inbox = Inbox::new(db.clone(), "billing");
    let other = Inbox::new(db.clone(), "audit");
    for n in 0..3 {
        apply(&inbox, &message(n)).await.unwrap();
    }
    apply(&other, &message(9)).await.unwrap();
    assert_eq!(inbox.clean(Duration::from_secs(3600), 2).await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(inbox.clean(Duration::from_millis(1), 2).await.unwrap(), 3);
    let left = almacen_events::InboxRecord::select().fetch_all(&db).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].consumer, "audit", "another consumer's records stay");
}

per_backend!(
    a_redelivered_message_has_no_second_effect,
    a_failed_handler_leaves_nothing,
    concurrent_deliveries_apply_once,
    outbox_to_inbox_with_lost_acks,
    old_inbox_records_are_cleaned
);
