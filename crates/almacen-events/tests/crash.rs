//! Relays killed with SIGKILL at random points while events flow, on SQLite, PostgreSQL and
//! MariaDB with a real NATS JetStream: the relay is the `almacen-events relay` command in a
//! child process, killed and started again until every event is published. A history
//! checker then reads what was committed and what reached the stream: nothing lost, nothing
//! that was not committed, and each key's events in order.

#![cfg(all(feature = "nats", feature = "cli"))]

#[path = "../../almacen/tests/common/mod.rs"]
mod common;

use almacen::prelude::*;
use almacen_events::{Event, Message, OutboxRecord, Publish, TABLES};
use async_nats::jetstream;
use common::{Backend, Scratch};
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const KEYS: i64 = 10;
const PER_KEY: i64 = 300;

fn nats_url() -> String {
    std::env::var("ALMACEN_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn start_relay(db_url: &str, stream: &str, prefix: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_almacen-events"))
        .args(["--database-url", db_url, "--nats-url", &nats_url(), "--stream", stream, "--prefix", prefix])
        .args(["relay", "--relays", "2", "--batch-size", "40", "--poll-ms", "10", "--lease-secs", "1"])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the relay command")
}

async fn pending(db: &Database) -> u64 {
    OutboxRecord::select().filter(OutboxRecord::PUBLISHED_AT.is_null()).count(db).await.unwrap()
}

async fn killed_relays_lose_nothing(backend: Backend) {
    let js = match async_nats::connect(nats_url()).await {
        Ok(client) => jetstream::new(client),
        Err(e) if std::env::var("ALMACEN_REQUIRE_ALL_BACKENDS").is_ok_and(|v| v == "1") => panic!("NATS is required: {e}"),
        Err(e) => return eprintln!("SKIPPED: NATS not reachable at {} ({e})", nats_url()),
    };
    let Some(scratch) = Scratch::create(backend, "").await else { return };
    let db = Database::connect(&scratch.url).await.unwrap();
    db.create_tables(TABLES).await.unwrap();
    let stream = format!("C{}", Uuid::new_v4().simple());
    let prefix = format!("c{}", Uuid::new_v4().simple());

    // The producer: a transaction per round, one event per key, while relays come and go.
    let producer = {
        let db = db.clone();
        tokio::spawn(async move {
            for seq in 0..PER_KEY {
                let tx = db.begin().await.unwrap();
                for key in 0..KEYS {
                    tx.publish(Event::new("tick", serde_json::json!({"seq": seq})).aggregate("k", key)).await.unwrap();
                }
                tx.commit().await.unwrap();
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let mut kills = 0;
    loop {
        let mut child = start_relay(&scratch.url, &stream, &prefix);
        let done = producer.is_finished() && kills >= 5;
        if done {
            while pending(&db).await > 0 {
                assert!(tokio::time::Instant::now() < deadline, "{} events still pending", pending(&db).await);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        } else {
            tokio::time::sleep(Duration::from_millis(rand::random_range(100..500))).await;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        if done {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the run did not finish");
    }
    producer.await.unwrap();

    // The history: what was committed, and what the stream holds, in its order.
    let committed: HashSet<Uuid> = OutboxRecord::select().fetch_all(&db).await.unwrap().into_iter().map(|r| r.event_id).collect();
    assert_eq!(committed.len() as i64, KEYS * PER_KEY);
    let consumer = js
        .get_stream(&stream)
        .await
        .unwrap()
        .create_consumer(jetstream::consumer::pull::Config { durable_name: Some("check".into()), ..Default::default() })
        .await
        .unwrap();
    let mut received: Vec<Message> = Vec::new();
    loop {
        let mut batch = consumer.fetch().max_messages(500).expires(Duration::from_secs(1)).messages().await.unwrap();
        let before = received.len();
        while let Some(m) = batch.next().await {
            let m = m.unwrap();
            received.push(serde_json::from_slice(&m.payload).unwrap());
            m.ack().await.unwrap();
        }
        if received.len() == before {
            break;
        }
    }
    js.delete_stream(&stream).await.unwrap();
    db.close().await;
    scratch.drop_database().await;

    let mut seen: HashSet<Uuid> = HashSet::new();
    let mut duplicates = 0;
    let mut per_key: HashMap<String, Vec<i64>> = HashMap::new();
    for m in &received {
        assert!(committed.contains(&m.id), "{} reached the stream but was never committed", m.id);
        if !seen.insert(m.id) {
            duplicates += 1;
            continue;
        }
        per_key.entry(m.aggregate_id.clone()).or_default().push(m.payload["seq"].as_i64().unwrap());
    }
    assert_eq!(seen.len(), committed.len(), "every committed event reached the stream");
    for (key, seqs) in &per_key {
        assert_eq!(*seqs, (0..PER_KEY).collect::<Vec<_>>(), "key {key}: in order");
    }
    eprintln!("{backend:?}: {kills} relays killed, {} events, {duplicates} duplicates in the stream", seen.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    killed_relays_lose_nothing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    killed_relays_lose_nothing(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb() {
    killed_relays_lose_nothing(Backend::MariaDb).await;
}
