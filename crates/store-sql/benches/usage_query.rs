//! Time and peak memory of one usage report over 1,000,000 records, on SQLite and PostgreSQL:
//! what `GET /v0/usage?groupBy=key` asks of the store (the series of a day in 15-minute buckets
//! with its percentiles, the sums per model, the sums per key). The records (one day, ten models,
//! a hundred keys, latencies spread over four orders of magnitude) are inserted through the store
//! API in batches of 1,000 into a fresh SQLite file and a fresh PostgreSQL schema
//! (`MODELGATE_TEST_POSTGRES_URL`, else the default loopback database, vacuumed and analysed as
//! autovacuum would; skipped where PostgreSQL does not answer).
//!
//! For comparison it also runs the way reports were made before the database summed them: every
//! record of the range loaded (`query_usage`) and summed and sorted in Rust. Peak memory is the
//! process's high-water mark (`VmHWM`, reset through `/proc/self/clear_refs` before each run)
//! above its resident size when the run starts. Eight reports at once are timed too.
//!
//! Run: `cargo bench -p modelgate-store-sql --bench usage_query` (`USAGE_BENCH_RECORDS` sets
//! another count).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../store/tests/support/postgres.rs"]
mod postgres_support;

use modelgate_store::{Store, UsageDimension, UsageFilter, UsageQuery, UsageRecord};
use sqlx::Connection;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

const DAY_MICROS: i64 = 86_400_000_000;
const INTERVAL: i64 = 15 * 60_000_000;
/// 2026-01-15T00:00:00Z.
const START: i64 = 1_768_435_200_000_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let records: i64 = std::env::var("USAGE_BENCH_RECORDS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    println!("one usage report over {records} records (a day, 15-minute buckets, by model and by key):");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = modelgate_store_sql::open(&url).await.unwrap();
    insert(&*store, records).await;
    run("SQLite", store, records).await;
    match postgres_support::TestSchema::create("usage query benchmark").await {
        Some(schema) => {
            let store = modelgate_store_sql::open(&schema.url).await.unwrap();
            insert(&*store, records).await;
            // What autovacuum does after a million inserts, before the clock starts.
            let mut connection = sqlx::PgConnection::connect(&schema.url).await.unwrap();
            sqlx::raw_sql("VACUUM ANALYZE usage_records").execute(&mut connection).await.unwrap();
            run("PostgreSQL", store, records).await
        }
        None => println!("  PostgreSQL: skipped"),
    }
}

/// Inserts the day's `records` in batches of 1,000.
async fn insert(store: &dyn Store, records: i64) {
    let started = Instant::now();
    let batch: Vec<i64> = (0..1_000).collect();
    for first in (0..records).step_by(1_000) {
        let chunk: Vec<UsageRecord> =
            batch.iter().map(|i| first + i).filter(|i| *i < records).map(|i| record(i, records)).collect();
        store.insert_usage(&chunk).await.unwrap();
    }
    println!("  inserted in {:.1} s", started.elapsed().as_secs_f64());
}

async fn run(engine: &str, store: Arc<dyn Store>, records: i64) {
    let filter = UsageFilter {
        workspaces: vec!["default".into()],
        from: START,
        to: START + DAY_MICROS,
        ..UsageFilter::default()
    };
    let report = || async {
        let series = store.usage_series(&filter, INTERVAL).await.unwrap();
        let models = store.usage_groups(&filter, &[UsageDimension::Model], 1_000).await.unwrap();
        let keys = store.usage_groups(&filter, &[UsageDimension::Key], 1_000).await.unwrap();
        assert_eq!(series.totals.requests, records);
        assert_eq!((models.groups.len(), keys.groups.len()), (10, 100));
    };
    for round in 1..=2 {
        let (seconds, peak) = measure(report).await;
        println!("  {engine:<10} summed by the database (run {round}): {seconds:.2} s, peak +{peak:.1} MiB");
    }
    let (seconds, peak) = measure(|| futures_util::future::join_all((0..8).map(|_| report()))).await;
    println!("  {engine:<10} summed by the database, 8 at once: {seconds:.2} s, peak +{peak:.1} MiB");
    let (seconds, peak) = measure(|| async {
        let query = UsageQuery { workspace: "default".into(), model: None, from: START, to: START + DAY_MICROS };
        let loaded = store.query_usage(&query).await.unwrap();
        assert_eq!(sum_in_rust(&loaded), records);
    })
    .await;
    println!("  {engine:<10} loaded and summed in Rust (before):  {seconds:.2} s, peak +{peak:.1} MiB");
    store.close().await;
}

/// A record of the day: `i` of `n`, evenly spread; ten models, a hundred keys (one in five
/// requests made with an access token), one in fifty an error.
fn record(i: i64, n: i64) -> UsageRecord {
    // A fixed pseudo-random latency from 10 ms to 100 s, log-spread.
    let spread = (i.wrapping_mul(2_654_435_761) % 4_000) as f64 / 1_000.0;
    let latency = (10.0 * 10_f64.powf(spread)) as i64;
    UsageRecord {
        id: Some(modelgate_domain::usage::UsageRecordId::next()),
        at: START + i * (DAY_MICROS / n),
        workspace: "default".into(),
        model: format!("model-{}", i % 10),
        subject: format!("sa_{:016x}", i % 100 / 5),
        key_id: (i % 5 != 0).then(|| format!("ak_{:016x}", i % 100)),
        provider: "openai".into(),
        status: if i % 50 == 0 { 429 } else { 200 },
        input_tokens: 120 + i % 7,
        output_tokens: 40 + i % 13,
        total_tokens: 160 + i % 7 + i % 13,
        cost_nano_usd: Some(42_000 + i % 1000),
        latency_ms: latency,
        ttfb_ms: Some(latency / 4),
        ..UsageRecord::default()
    }
}

/// What the handler did with the records before: totals, 15-minute buckets with their latencies
/// sorted for the median, the whole range's latencies and ttfbs sorted, sums per model and key.
fn sum_in_rust(records: &[UsageRecord]) -> i64 {
    let mut buckets: BTreeMap<i64, (i64, Vec<i64>)> = BTreeMap::new();
    let (mut latencies, mut ttfbs) = (Vec::new(), Vec::new());
    let mut groups: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for record in records {
        let bucket = buckets.entry((record.at - START) / INTERVAL).or_default();
        bucket.0 += record.total_tokens;
        bucket.1.push(record.latency_ms);
        latencies.push(record.latency_ms);
        ttfbs.extend(record.ttfb_ms);
        *groups.entry((&record.model, record.key_id.as_deref().unwrap_or(&record.subject))).or_default() += 1;
    }
    for (_, latencies) in buckets.values_mut() {
        latencies.sort_unstable();
    }
    latencies.sort_unstable();
    ttfbs.sort_unstable();
    std::hint::black_box((&buckets, &ttfbs));
    groups.values().sum::<i64>().min(latencies.len() as i64)
}

/// Runs `work` once: its seconds, and the peak resident memory it added in MiB.
async fn measure<F, Fut>(work: F) -> (f64, f64)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future,
{
    // "5" resets the high-water mark to the current resident size (Linux 4.0+).
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = status_kib("VmRSS:");
    let started = Instant::now();
    work().await;
    let seconds = started.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:");
    (seconds, (peak.saturating_sub(before)) as f64 / 1024.0)
}

/// A `/proc/self/status` line's value in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line[field.len()..].trim().trim_end_matches(" kB").trim().parse().unwrap()
}
