//! Usage records per second the store sustains, written the way nodes write them: through a
//! [`UsageWriter`] with the server's settings (channel of 10,000, batches of 500, one transaction
//! per batch), into a fresh PostgreSQL schema (`MODELGATE_TEST_POSTGRES_URL`, else the default loopback
//! database; skipped where PostgreSQL does not answer)
//! and a fresh SQLite file. `bench/scale-out.sh` runs it; alone: `cargo bench -p modelgate-store-sql`.
//!
//! The producer never lets more than 8,000 records wait (it pauses until the writer catches up),
//! so nothing is dropped and the figure is what the writer and the database sustain, not how fast
//! records can be queued. The clock stops when the writer's shutdown has flushed the last batch.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../store/tests/support/postgres.rs"]
mod postgres_support;

use modelgate_store::{Store, UsageRecord, UsageRecordId, UsageWriter, UsageWriterSettings};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RECORDS: u64 = 200_000;
/// Most records waiting at once: below both the channel and the writer's pending limit.
const MAX_WAITING: u64 = 8_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("usage records written through UsageWriter (batches of {}):", UsageWriter::DEFAULT_MAX_BATCH);
    match postgres_support::TestSchema::create("usage write benchmark").await {
        Some(schema) => {
            let store = modelgate_store_sql::open(&schema.url).await.unwrap();
            run("PostgreSQL", store).await;
        }
        None => println!("  PostgreSQL: skipped"),
    }
    let dir = tempfile::tempdir().unwrap();
    let store =
        modelgate_store_sql::open(&format!("sqlite://{}", dir.path().join("bench.db").display())).await.unwrap();
    run("SQLite", store).await;
}

async fn run(engine: &str, store: Arc<dyn Store>) {
    let (writer, task) = UsageWriter::spawn(store.clone(), UsageWriterSettings::default());
    let started = Instant::now();
    let at = modelgate_domain::timestamp::now_micros();
    for i in 0..RECORDS {
        while i - writer.written() >= MAX_WAITING {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        writer.record(record(at, i));
    }
    task.shutdown().await;
    let elapsed = started.elapsed();
    assert_eq!((writer.written(), writer.dropped()), (RECORDS, 0), "every record is written");
    println!(
        "  {engine:<10} {RECORDS} records in {:5.2} s: {:>7.0} records/s",
        elapsed.as_secs_f64(),
        RECORDS as f64 / elapsed.as_secs_f64()
    );
    store.close().await;
}

/// A record as the inference plane makes one: ten models, a hundred keys.
fn record(at: i64, i: u64) -> UsageRecord {
    UsageRecord {
        id: Some(UsageRecordId::next()),
        at: at + i as i64,
        workspace: "default".into(),
        model: format!("model-{}", i % 10),
        subject: format!("sa_{:016x}", i % 100),
        key_id: Some(format!("ak_{:016x}", i % 100)),
        provider: "openai".into(),
        status: match i % 50 {
            0 => 429,
            _ => 200,
        },
        input_tokens: 120 + (i % 7) as i64,
        output_tokens: 40 + (i % 13) as i64,
        total_tokens: 160 + (i % 7) as i64 + (i % 13) as i64,
        cache_read_tokens: if i.is_multiple_of(3) { 64 } else { 0 },
        cache_write_tokens: 0,
        cost_nano_usd: Some(42_000 + (i % 1000) as i64),
        latency_ms: 300 + (i % 250) as i64,
        ttfb_ms: Some(80 + (i % 40) as i64),
    }
}
