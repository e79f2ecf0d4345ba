//! The outbox on SQLite, PostgreSQL and MariaDB: events commit with their transaction,
//! relays running at once publish every event once and each key's in order, failures back
//! off and end as dead letters that can be retried or discarded, and old published rows
//! are cleaned up.

#[path = "../../almacen/tests/common/mod.rs"]
mod common;

use almacen::prelude::*;
use almacen_events::{
    DeadLetters, Event, InProcessBus, Message, OutboxRecord, Publish, Relay, RelayConfig, TABLES, Transport, TransportError, bucket_of,
};
use common::Backend;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn outbox_rows(db: &Database) -> Vec<OutboxRecord> {
    OutboxRecord::select().order_by(OutboxRecord::ID.asc()).fetch_all(db).await.unwrap()
}

async fn publish_commits_with_the_transaction(db: Database, _b: Backend) {
    db.create_tables(TABLES).await.unwrap();
    let tx = db.begin().await.unwrap();
    tx.publish(Event::new("order.placed", serde_json::json!({"order": 1})).aggregate("order", 1)).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(outbox_rows(&db).await.is_empty(), "a rolled back transaction published nothing");

    let tx = db.begin().await.unwrap();
    let id = tx
        .publish(
            Event::new("order.placed", serde_json::json!({"order": 2, "total": 9.5})).aggregate("order", 2).header("correlation_id", "c-1"),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let rows = outbox_rows(&db).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.event_id, id);
    assert_eq!((row.aggregate_type.as_str(), row.aggregate_id.as_str(), row.event_type.as_str()), ("order", "2", "order.placed"));
    assert_eq!(row.partition_key, "order:2");
    assert_eq!(row.bucket, bucket_of("order:2"));
    assert_eq!(row.payload, serde_json::json!({"order": 2, "total": 9.5}));
    assert_eq!(row.headers, serde_json::json!({"correlation_id": "c-1"}));
    assert_eq!((row.attempts, row.published_at, row.dead_at), (0, None, None));
}

/// Three producers (each owning three keys, events numbered per key) and three relays at
/// once: every event arrives exactly once, each key's in order.
async fn relays_publish_every_event_once_in_key_order(db: Database, _b: Backend) {
    db.create_tables(TABLES).await.unwrap();
    const PER_KEY: i64 = 30;
    let bus = InProcessBus::new();
    let seen: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
    let sink = seen.clone();
    bus.subscribe(move |m: Message| {
        let sink = sink.clone();
        async move {
            sink.lock().unwrap().push((m.partition_key.clone(), m.payload["seq"].as_i64().unwrap()));
            Ok(())
        }
    });
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut relays = Vec::new();
    for _ in 0..3 {
        let relay = Relay::new(
            db.clone(),
            bus.clone(),
            RelayConfig { batch_size: 7, poll_interval: Duration::from_millis(5), ..Default::default() },
        );
        let stop = stop.clone();
        relays.push(tokio::spawn(async move { relay.run(async move { stop.notified().await }).await }));
    }
    let mut producers = Vec::new();
    for p in 0..3 {
        let db = db.clone();
        producers.push(tokio::spawn(async move {
            for seq in 0..PER_KEY {
                for k in 0..3 {
                    let tx = db.begin().await.unwrap();
                    let event = Event::new("tick", serde_json::json!({"seq": seq})).aggregate("counter", format!("{p}-{k}"));
                    tx.publish(event).await.unwrap();
                    tx.commit().await.unwrap();
                }
            }
        }));
    }
    for p in producers {
        p.await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.lock().unwrap().len() < (9 * PER_KEY) as usize {
        assert!(tokio::time::Instant::now() < deadline, "only {} of {} events arrived", seen.lock().unwrap().len(), 9 * PER_KEY);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.notify_waiters();
    for r in relays {
        r.await.unwrap().unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    let mut per_key: HashMap<String, Vec<i64>> = HashMap::new();
    for (key, seq) in seen {
        per_key.entry(key).or_default().push(seq);
    }
    assert_eq!(per_key.len(), 9);
    for (key, seqs) in per_key {
        assert_eq!(seqs, (0..PER_KEY).collect::<Vec<_>>(), "key {key}: every event once, in order");
    }
    assert!(outbox_rows(&db).await.iter().all(|r| r.published_at.is_some()));
}

/// Fails every message whose key is `bad` while `failing` is set; records each attempt.
#[derive(Clone, Default)]
struct Flaky {
    failing: Arc<AtomicBool>,
    attempts: Arc<Mutex<Vec<(String, i64)>>>,
}

impl Transport for Flaky {
    fn send<'a>(&'a self, m: &'a Message) -> BoxFuture<'a, Result<(), TransportError>> {
        Box::pin(async move {
            self.attempts.lock().unwrap().push((m.aggregate_id.clone(), m.payload["n"].as_i64().unwrap()));
            if m.aggregate_id == "bad" && self.failing.load(Ordering::SeqCst) { Err(TransportError::new("broker said no")) } else { Ok(()) }
        })
    }
}

async fn failures_back_off_then_end_as_dead_letters(db: Database, _b: Backend) {
    db.create_tables(TABLES).await.unwrap();
    let flaky = Flaky::default();
    flaky.failing.store(true, Ordering::SeqCst);
    let config = RelayConfig {
        max_attempts: 3,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        ..Default::default()
    };
    let relay = Relay::new(db.clone(), flaky.clone(), config);
    for (aggregate, n) in [("bad", 1), ("good", 1), ("bad", 2), ("good", 2)] {
        let tx = db.begin().await.unwrap();
        tx.publish(Event::new("e", serde_json::json!({"n": n})).aggregate("thing", aggregate)).await.unwrap();
        tx.commit().await.unwrap();
    }
    let first = relay.run_once().await.unwrap();
    assert_eq!((first.published, first.failed, first.dead), (2, 1, 0), "good 1 and 2 sent; bad 1 failed; bad 2 held back");
    let rows = outbox_rows(&db).await;
    let bad1 = rows.iter().find(|r| r.aggregate_id == "bad" && r.payload["n"] == 1).unwrap();
    assert_eq!((bad1.attempts, bad1.last_error.as_deref()), (1, Some("broker said no")));
    assert!(bad1.available_at > bad1.created_at, "the retry waits");
    // Rounds until both bad rows are dead (bad 1 after 3 attempts, then bad 2 after 3).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while DeadLetters::new(db.clone()).list(10).await.unwrap().len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the bad rows never ended dead");
        relay.run_once().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let attempts: Vec<i64> = flaky.attempts.lock().unwrap().iter().filter(|(a, _)| a == "bad").map(|(_, n)| *n).collect();
    assert_eq!(attempts, vec![1, 1, 1, 2, 2, 2], "bad 2 was not tried before bad 1 was dead");
    let dead = DeadLetters::new(db.clone());
    let listed = dead.list(10).await.unwrap();
    assert!(listed.iter().all(|r| r.attempts == 3 && r.dead_at.is_some() && r.published_at.is_none()));
    // Retry one (the broker is fine now), discard the other.
    flaky.failing.store(false, Ordering::SeqCst);
    assert!(dead.retry(listed[0].id).await.unwrap());
    assert!(dead.discard(listed[1].id).await.unwrap());
    assert!(!dead.discard(listed[1].id).await.unwrap(), "already gone");
    let good = outbox_rows(&db).await.into_iter().find(|r| r.aggregate_id == "good").unwrap();
    assert!(!dead.discard(good.id).await.unwrap(), "only dead rows are discarded");
    assert!(!dead.retry(good.id).await.unwrap(), "only dead rows are retried");
    let round = relay.run_once().await.unwrap();
    assert_eq!(round.published, 1);
    let rows = outbox_rows(&db).await;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.published_at.is_some()));
}

async fn old_published_rows_are_cleaned_in_batches(db: Database, _b: Backend) {
    db.create_tables(TABLES).await.unwrap();
    let relay = Relay::new(db.clone(), InProcessBus::new(), RelayConfig::default());
    for n in 0..5 {
        let tx = db.begin().await.unwrap();
        tx.publish(Event::new("e", serde_json::json!({"n": n})).aggregate("thing", n)).await.unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(relay.run_once().await.unwrap().published, 5);
    let tx = db.begin().await.unwrap();
    tx.publish(Event::new("e", serde_json::json!({"n": 9})).aggregate("thing", 9)).await.unwrap();
    tx.commit().await.unwrap();
    let dead = DeadLetters::new(db.clone());
    assert_eq!(dead.clean_published(Duration::from_secs(3600), 2).await.unwrap(), 0, "nothing is old enough");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(dead.clean_published(Duration::from_millis(1), 2).await.unwrap(), 5);
    let left = outbox_rows(&db).await;
    assert_eq!(left.len(), 1, "the pending row stays");
    assert!(left[0].published_at.is_none());
    assert!(dead.clean_published(Duration::ZERO, 0).await.is_err());
}

per_backend!(
    publish_commits_with_the_transaction,
    relays_publish_every_event_once_in_key_order,
    failures_back_off_then_end_as_dead_letters,
    old_published_rows_are_cleaned_in_batches
);

/// The metrics count what relays did, and the backlog says what waits.
async fn metrics_count_sends_and_the_backlog(db: Database, _b: Backend) {
    db.create_tables(TABLES).await.unwrap();
    let metrics = almacen_events::RelayMetrics::new();
    let empty = metrics.refresh(&db).await.unwrap();
    assert_eq!((empty.pending, empty.dead, empty.oldest_pending_age), (0, 0, None));
    let flaky = Flaky::default();
    flaky.failing.store(true, Ordering::SeqCst);
    for (aggregate, n) in [("good", 1), ("good", 2), ("bad", 3)] {
        let tx = db.begin().await.unwrap();
        tx.publish(Event::new("e", serde_json::json!({"n": n})).aggregate("thing", aggregate)).await.unwrap();
        tx.commit().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let before = metrics.refresh(&db).await.unwrap();
    assert_eq!((before.pending, before.dead), (3, 0));
    assert!(before.oldest_pending_age.unwrap() >= Duration::from_millis(20));
    let config = RelayConfig {
        max_attempts: 2,
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(2),
        ..Default::default()
    };
    let relay = Relay::new(db.clone(), flaky, config).with_metrics(metrics.clone());
    relay.run_once().await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    relay.run_once().await.unwrap();
    let after = metrics.refresh(&db).await.unwrap();
    assert_eq!((after.pending, after.dead, after.oldest_pending_age), (0, 1, None));
    let text = metrics.render();
    for line in [
        "almacen_outbox_published_total 2",
        "almacen_outbox_failed_total 1",
        "almacen_outbox_dead_total 1",
        "almacen_outbox_publish_delay_seconds_count 2",
        "almacen_outbox_pending 0",
        "almacen_outbox_dead_rows 1",
        "almacen_outbox_oldest_pending_age_seconds 0.0",
    ] {
        assert!(text.lines().any(|l| l == line), "no line {line:?} in\n{text}");
    }
}

per_backend!(metrics_count_sends_and_the_backlog);

/// On PostgreSQL a relay waiting with a long poll interval wakes when a publishing
/// transaction commits; elsewhere `run` polls (the other tests cover it).
async fn postgres_relays_wake_on_commit(db: Database, backend: Backend) {
    if backend != Backend::Postgres {
        return;
    }
    db.create_tables(TABLES).await.unwrap();
    let bus = InProcessBus::new();
    let (sent, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    bus.subscribe(move |m: Message| {
        let sent = sent.clone();
        async move {
            let _ = sent.send(m.event_type);
            Ok(())
        }
    });
    let relay = Relay::new(db.clone(), bus, RelayConfig { poll_interval: Duration::from_secs(60), ..Default::default() });
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopped = stop.clone();
    let running = tokio::spawn(async move { relay.run(async move { stopped.notified().await }).await });
    // Let it find nothing and start waiting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let tx = db.begin().await.unwrap();
    tx.publish(Event::new("woke", serde_json::json!({})).aggregate("thing", 1)).await.unwrap();
    tx.commit().await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(10), arrived.recv()).await;
    assert_eq!(heard.expect("the relay woke on the commit, not after its 60 s poll"), Some("woke".to_string()));
    stop.notify_one();
    running.await.unwrap().unwrap();
}

per_backend!(postgres_relays_wake_on_commit);
