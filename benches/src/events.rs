//! `--events`: the outbox on PostgreSQL relayed to NATS JetStream.
//!
//! Throughput: `--events-count` rows are written to the outbox first (one multi-row insert
//! per 1,000, spread over 100 partition keys), then 1, 2 or 4 relays (tokio tasks, each
//! `Relay::run`) publish them to a fresh stream; events/s is the count over the time until
//! none is pending. Delay: with 2 relays running, four producers commit one event per
//! transaction, 1,000 a second together, for 5 s; each row's delay is `published_at − created_at`
//! (the write in its transaction to the relay's mark after the stream's ack).

use crate::Args;
use almacen::prelude::*;
use almacen_events::{Event, NatsJetStream, NewOutboxRecord, OutboxRecord, Publish, Relay, RelayConfig, TABLES};
use std::time::{Duration, Instant};

const KEYS: usize = 100;

async fn pending(db: &Database) -> u64 {
    OutboxRecord::select().filter(OutboxRecord::PUBLISHED_AT.is_null()).count(db).await.expect("count pending")
}

fn rows(n: usize) -> Vec<NewOutboxRecord> {
    (0..n)
        .map(|i| {
            Event::new("order.placed", serde_json::json!({"order": i, "total": 12.5, "items": [1, 2, 3]}))
                .aggregate("order", i % KEYS)
                .header("correlation_id", format!("c-{i}"))
                .into_outbox_row()
        })
        .collect()
}

/// `n` relays running until the returned sender says stop (send `true`), and their tasks.
fn spawn_relays(
    db: &Database,
    transport: &NatsJetStream,
    n: usize,
    poll: Duration,
) -> (tokio::sync::watch::Sender<bool>, Vec<tokio::task::JoinHandle<almacen::Result<()>>>) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let tasks = (0..n)
        .map(|_| {
            let relay = Relay::new(db.clone(), transport.clone(), RelayConfig { poll_interval: poll, ..Default::default() });
            let mut stopped = stopped.clone();
            tokio::spawn(async move { relay.run(async move { while stopped.changed().await.is_ok() && !*stopped.borrow() {} }).await })
        })
        .collect();
    (stop, tasks)
}

/// Run relays until `db`'s outbox is drained; returns the time it took.
async fn drain(db: &Database, transport: &NatsJetStream, relays: usize) -> Duration {
    let started = Instant::now();
    let (stop, tasks) = spawn_relays(db, transport, relays, Duration::from_millis(5));
    while pending(db).await > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();
    let _ = stop.send(true);
    for t in tasks {
        t.await.expect("relay task").expect("relay");
    }
    elapsed
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub async fn run(args: &Args) {
    let n = args.events_count;
    println!("events: PostgreSQL outbox → NATS JetStream ({}), {n} events over {KEYS} keys, rounds: {}", args.nats_url, args.rounds);
    println!("{:<8} {:>12} {:>10}", "relays", "events/s", "seconds");
    for relays in [1usize, 2, 4] {
        let mut rates = Vec::new();
        for _ in 0..args.rounds {
            let Some((url, admin, drop)) = crate::scratch_server_db(&args.postgres_url, true).await else { return };
            let db = Database::connect(&url).await.expect("connect");
            db.create_tables(TABLES).await.expect("tables");
            for chunk in rows(n).chunks(1000) {
                OutboxRecord::insert_many_without_returning(&db, chunk.to_vec()).await.expect("fill the outbox");
            }
            let stream = format!("BENCH{}", Uuid::new_v4().simple());
            let transport = NatsJetStream::connect(&args.nats_url, &stream, &format!("b{}", Uuid::new_v4().simple())).await.expect("NATS");
            let took = drain(&db, &transport, relays).await;
            rates.push(n as f64 / took.as_secs_f64());
            let client = async_nats_context(&args.nats_url).await;
            let _ = client.delete_stream(&stream).await;
            db.close().await;
            admin.execute_raw(&drop, params! {}).await.expect("drop");
            admin.close().await;
        }
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        println!("{relays:<8} {median:>12.0} {:>10.2}", n as f64 / median);
    }

    // The delay at a steady 1,000 events/s.
    let Some((url, admin, drop)) = crate::scratch_server_db(&args.postgres_url, true).await else { return };
    let db = Database::connect(&url).await.expect("connect");
    db.create_tables(TABLES).await.expect("tables");
    let stream = format!("BENCH{}", Uuid::new_v4().simple());
    let transport = NatsJetStream::connect(&args.nats_url, &stream, &format!("b{}", Uuid::new_v4().simple())).await.expect("NATS");
    let (stop, relays) = spawn_relays(&db, &transport, 2, Duration::from_millis(50));
    // Four producers, each committing one event per transaction every 4 ms: 1,000/s.
    let until = Instant::now() + Duration::from_secs(5);
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(4));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let mut sent = 0usize;
                while Instant::now() < until {
                    tick.tick().await;
                    let tx = db.begin().await.expect("begin");
                    let event = Event::new("order.placed", serde_json::json!({"n": sent})).aggregate("order", (p * 1000 + sent) % KEYS);
                    tx.publish(event).await.expect("publish");
                    tx.commit().await.expect("commit");
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    let mut sent = 0;
    for p in producers {
        sent += p.await.expect("producer");
    }
    while pending(&db).await > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop.send(true);
    for r in relays {
        r.await.expect("relay task").expect("relay");
    }
    let mut delays: Vec<f64> = OutboxRecord::select()
        .fetch_all(&db)
        .await
        .expect("rows")
        .into_iter()
        .filter_map(|r| r.published_at.map(|p| (p - r.created_at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0))
        .collect();
    delays.sort_by(f64::total_cmp);
    println!(
        "steady: {sent} events in 5 s ({:.0}/s) with 2 relays (LISTEN/NOTIFY): write → publish p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        sent as f64 / 5.0,
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays.last().copied().unwrap_or(f64::NAN)
    );
    let _ = async_nats_context(&args.nats_url).await.delete_stream(&stream).await;
    db.close().await;
    admin.execute_raw(&drop, params! {}).await.expect("drop");
    admin.close().await;
}

async fn async_nats_context(url: &str) -> async_nats::jetstream::Context {
    async_nats::jetstream::new(async_nats::connect(url).await.expect("NATS"))
}
