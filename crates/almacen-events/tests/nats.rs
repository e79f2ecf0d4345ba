//! The NATS JetStream transport against a real server (`ALMACEN_TEST_NATS_URL`, default
//! `nats://127.0.0.1:4222`, started by `scripts/services.sh`), with the outbox on SQLite,
//! PostgreSQL and MariaDB: two relays publish every event, each key's in order, and a
//! message sent again is dropped by the stream (`Nats-Msg-Id`). Each test uses a stream of
//! its own and deletes it.

#![cfg(feature = "nats")]

#[path = "../../almacen/tests/common/mod.rs"]
mod common;

use almacen::prelude::*;
use almacen_events::{Event, Inbox, Message, NatsJetStream, NatsSubscriber, OutboxRecord, Publish, Relay, RelayConfig, TABLES};
use async_nats::jetstream;
use common::Backend;
use futures::StreamExt;
use std::collections::HashMap;
use std::time::Duration;

fn nats_url() -> String {
    std::env::var("ALMACEN_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// The JetStream context, or `None` (after saying why) when the server is not reachable and
/// not required.
async fn jetstream_or_skip() -> Option<jetstream::Context> {
    match async_nats::connect(nats_url()).await {
        Ok(client) => Some(jetstream::new(client)),
        Err(e) => {
            if std::env::var("ALMACEN_REQUIRE_ALL_BACKENDS").is_ok_and(|v| v == "1") {
                panic!("NATS is required (ALMACEN_REQUIRE_ALL_BACKENDS=1) but not reachable at {}: {e}", nats_url());
            }
            eprintln!("SKIPPED: NATS not reachable at {} ({e}); run scripts/services.sh up", nats_url());
            None
        }
    }
}

async fn pending(db: &Database) -> u64 {
    OutboxRecord::select().filter(OutboxRecord::PUBLISHED_AT.is_null()).count(db).await.unwrap()
}

async fn relays_publish_to_jetstream_in_key_order(db: Database, _b: Backend) {
    let Some(js) = jetstream_or_skip().await else { return };
    db.create_tables(TABLES).await.unwrap();
    let name = format!("T{}", Uuid::new_v4().simple());
    let prefix = format!("t{}", Uuid::new_v4().simple());
    let transport = NatsJetStream::connect(&nats_url(), &name, &prefix).await.unwrap();
    for seq in 0..20 {
        for key in ["a", "b", "c"] {
            let tx = db.begin().await.unwrap();
            tx.publish(Event::new("tick", serde_json::json!({"seq": seq})).aggregate("counter", key)).await.unwrap();
            tx.commit().await.unwrap();
        }
    }
    let relays: Vec<_> =
        (0..2).map(|_| Relay::new(db.clone(), transport.clone(), RelayConfig { batch_size: 8, ..Default::default() })).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while pending(&db).await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "events still pending");
        let (r0, r1) = tokio::join!(relays[0].run_once(), relays[1].run_once());
        r0.unwrap();
        r1.unwrap();
    }
    // Send three published rows again: the stream keeps one copy of each.
    db.execute_raw("UPDATE almacen_outbox SET published_at = NULL WHERE id IN (1, 2, 3)", params! {}).await.unwrap();
    while pending(&db).await > 0 {
        relays[0].run_once().await.unwrap();
    }

    let mut stream = js.get_stream(&name).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 60, "every event once in the stream");
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config { durable_name: Some("check".into()), ..Default::default() })
        .await
        .unwrap();
    let mut per_key: HashMap<String, Vec<i64>> = HashMap::new();
    let mut messages = consumer.fetch().max_messages(100).expires(Duration::from_secs(2)).messages().await.unwrap();
    while let Some(m) = messages.next().await {
        let m = m.unwrap();
        assert_eq!(m.subject.as_str(), format!("{prefix}.tick"));
        let message: Message = serde_json::from_slice(&m.payload).unwrap();
        let id = m.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")).map(|v| v.as_str().to_string());
        assert_eq!(id, Some(message.id.to_string()));
        per_key.entry(message.aggregate_id.clone()).or_default().push(message.payload["seq"].as_i64().unwrap());
        m.ack().await.unwrap();
    }
    js.delete_stream(&name).await.unwrap();
    assert_eq!(per_key.len(), 3);
    for (key, seqs) in per_key {
        assert_eq!(seqs, (0..20).collect::<Vec<_>>(), "key {key} in order, once");
    }
}

/// A server that is not there: the send fails, the row waits for its retry.
async fn an_unreachable_server_is_an_error(db: Database, _b: Backend) {
    db.create_tables(TABLES).await.unwrap();
    let err = NatsJetStream::connect("nats://127.0.0.1:1", "S", "s").await.unwrap_err();
    assert!(err.to_string().contains("nats://127.0.0.1:1"), "{err}");
    // A password in the URL never reaches the error.
    let err = NatsJetStream::connect("nats://relay:hunter2@127.0.0.1:1", "S", "s").await.unwrap_err();
    assert!(!err.to_string().contains("hunter2") && !format!("{err:?}").contains("hunter2"), "{err}");
}

#[derive(Model, Debug, Clone, PartialEq)]
#[model(table = "ledger")]
struct Ledger {
    #[model(primary_key, auto)]
    id: i64,
    amount: i64,
}

/// Outbox → relay → JetStream → subscriber → inbox: each event applied once (a copy sent
/// past the stream's deduplication included), a handler that keeps failing parks its
/// message after the allowed deliveries, and a body that is not a message is parked at once.
async fn a_subscriber_applies_each_event_once_and_parks_poison(db: Database, _b: Backend) {
    let Some(js) = jetstream_or_skip().await else { return };
    db.create_tables(TABLES).await.unwrap();
    db.create_tables(&[Ledger::TABLE]).await.unwrap();
    let name = format!("T{}", Uuid::new_v4().simple());
    let prefix = format!("t{}", Uuid::new_v4().simple());
    let transport = NatsJetStream::connect(&nats_url(), &name, &prefix).await.unwrap();
    for n in 1..=5 {
        let tx = db.begin().await.unwrap();
        tx.publish(Event::new("payment", serde_json::json!({"n": n})).aggregate("payment", n)).await.unwrap();
        tx.commit().await.unwrap();
    }
    let relay = Relay::new(db.clone(), transport, RelayConfig::default());
    while pending(&db).await > 0 {
        relay.run_once().await.unwrap();
    }
    // Not a message at all, and a copy of the first event under another Nats-Msg-Id (the
    // stream keeps it: only the inbox can tell).
    js.publish(format!("{prefix}.garbage"), "not json".into()).await.unwrap().await.unwrap();
    let first = OutboxRecord::select().order_by(OutboxRecord::ID.asc()).fetch_one(&db).await.unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "a-copy");
    let copy = serde_json::to_vec(&Message::from(&first)).unwrap();
    js.publish_with_headers(format!("{prefix}.payment"), headers, copy.into()).await.unwrap().await.unwrap();

    let inbox = Inbox::new(db.clone(), "billing");
    let mut subscriber = NatsSubscriber::connect(&nats_url(), &name, "billing", &format!("{prefix}.>"), inbox.clone()).await.unwrap();
    subscriber.max_deliver = 2;
    subscriber.retry_delay = Duration::from_millis(50);
    let stop = tokio::sync::Notify::new();
    let handler = async |tx: &Transaction, m: &Message| {
        let n = m.payload["n"].as_i64().unwrap();
        if n == 3 {
            return Err(almacen::Error::Conflict("payment 3 is refused".into()));
        }
        Ledger::insert(tx, NewLedger { amount: n }).await?;
        Ok(())
    };
    let watch = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let done = Ledger::select().count(&db).await.unwrap() >= 4 && inbox.parked(10).await.unwrap().len() >= 2;
            if done {
                // A moment more, in case anything would arrive twice.
                tokio::time::sleep(Duration::from_millis(200)).await;
                stop.notify_one();
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "the subscriber did not finish");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (ran, ()) = tokio::join!(subscriber.run(handler, stop.notified()), watch);
    ran.unwrap();
    js.delete_stream(&name).await.unwrap();
    let mut amounts: Vec<i64> = Ledger::select().fetch_all(&db).await.unwrap().into_iter().map(|l| l.amount).collect();
    amounts.sort();
    assert_eq!(amounts, vec![1, 2, 4, 5], "each applied once; 3 never");
    let parked = inbox.parked(10).await.unwrap();
    assert_eq!(parked.len(), 2);
    let garbage = parked.iter().find(|p| p.message_id.is_none()).expect("the garbage parked");
    assert_eq!((garbage.body.as_slice(), garbage.source.as_str()), (b"not json".as_slice(), format!("{prefix}.garbage").as_str()));
    assert!(garbage.error.starts_with("not a message"), "{}", garbage.error);
    let refused = parked.iter().find(|p| p.message_id.is_some()).expect("payment 3 parked");
    assert!(refused.error.contains("payment 3 is refused"), "{}", refused.error);
}

per_backend!(
    relays_publish_to_jetstream_in_key_order,
    an_unreachable_server_is_an_error,
    a_subscriber_applies_each_event_once_and_parks_poison
);
