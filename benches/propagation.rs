//! How long a configuration change made through a control node takes to be served by an
//! inference node: both the real binary (the bench profile, optimised as the dist one), on a
//! fresh schema of the PostgreSQL database in `MODELGATE_TEST_POSTGRES_URL` (else the default
//! loopback one), the resync interval an hour (only the change feed carries changes).
//! `bench/scale-out.sh` runs it; alone: `cargo bench -p modelgate --bench propagation`.
//!
//! Created: `N` times, a model is created through the control node, then the inference node is
//! asked for it every millisecond until it stops answering 404. Updated: `N` times, one model is
//! disabled or enabled again, until the inference node's answer changes (403 while disabled).
//! The delay runs from the control node's answer (the write is committed and announced) to the
//! first answer showing the change, so it includes up to a millisecond of polling granularity.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../crates/store/tests/support/postgres.rs"]
mod postgres_support;
#[path = "../tests/support/mod.rs"]
mod support;

use modelgate_mock_provider::{MockConfig, MockProvider};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::Node;

const N: usize = 200;
const ADMIN_KEY: &str = "mgk_propagation_bench_admin_key_0123456789";
const MASTER_KEY: &str = "70726f7061676174696f6e2d62656e63682d6d61737465722d6b65792d303031";
/// A change not served after this long is a failure, not a figure.
const GIVE_UP: Duration = Duration::from_secs(10);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(schema) = postgres_support::TestSchema::create("propagation benchmark").await else {
        std::process::exit(1);
    };
    let mock = MockProvider::start(MockConfig::default()).await.unwrap();
    let start = |role: &'static str| {
        let url = schema.url.clone();
        async move {
            Node::start_fresh(&[
                ("MODELGATE_ROLE", role),
                ("MODELGATE_DATABASE_URL", &url),
                ("MODELGATE_MASTER_KEY", MASTER_KEY),
                ("MODELGATE_BOOTSTRAP_API_KEY", ADMIN_KEY),
                ("MODELGATE_RESYNC_INTERVAL", "3600"),
                ("MODELGATE_LOG", "warn"),
            ])
            .await
        }
    };
    let control = start("control").await;
    let inference = start("inference").await;
    let http = reqwest::Client::new();
    let admin = |method: reqwest::Method, path: String, body: Value| {
        let request = http.request(method, format!("{}{path}", control.api)).bearer_auth(ADMIN_KEY).json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            assert!(status.is_success(), "{path}: {status} {}", response.text().await.unwrap());
        }
    };
    let status_of = |model: String| {
        let request = http
            .post(format!("{}/default/models/{model}/v1/chat/completions", inference.run()))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"messages": [{"role": "user", "content": "hi"}]}));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let model = |name: &str, enabled: bool| {
        json!({"metadata": {"name": name}, "spec": {"enabled": enabled, "integrationConnections": ["mock"],
            "runtime": {"type": "openai", "model": "gpt-4o-mini"}}})
    };
    // Polls until `done(status)`; the delay since `since`.
    let served_after = |name: String, since: Instant, done: fn(u16) -> bool| {
        let status_of = &status_of;
        async move {
            loop {
                let status = status_of(name.clone()).await;
                if done(status) {
                    return since.elapsed();
                }
                assert!(since.elapsed() < GIVE_UP, "{name} not served after {GIVE_UP:?} (status {status})");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    };

    let connection = json!({"metadata": {"name": "mock"}, "spec": {"integration": "openai",
        "config": {"url": mock.base_url()}, "secret": {"apiKey": modelgate_mock_provider::DEFAULT_API_KEY}}});
    admin(reqwest::Method::POST, "/integrations/connections".into(), connection).await;

    let mut created = Vec::with_capacity(N);
    for i in 0..N {
        let name = format!("model-{i}");
        admin(reqwest::Method::POST, "/models".into(), model(&name, true)).await;
        created.push(served_after(name, Instant::now(), |status| status != 404).await);
    }
    let mut updated = Vec::with_capacity(N);
    for i in 0..N {
        let enabled = i % 2 == 1;
        admin(reqwest::Method::PUT, "/models/model-0".into(), model("model-0", enabled)).await;
        let since = Instant::now();
        let done: fn(u16) -> bool = if enabled { |status| status == 200 } else { |status| status == 403 };
        updated.push(served_after("model-0".into(), since, done).await);
    }

    println!("propagation from a control node to an inference node (PostgreSQL NOTIFY), {N} changes each:");
    report("model created", &mut created);
    report(&format!("model updated ({N} models)"), &mut updated);
    inference.stop().await;
    control.stop().await;
}

/// Prints nearest-rank p50, p99 and the maximum in milliseconds.
fn report(what: &str, delays: &mut [Duration]) {
    delays.sort();
    let rank = |p: f64| delays[((p * delays.len() as f64).ceil() as usize).clamp(1, delays.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  {what:<28} p50 {:6.1} ms   p99 {:6.1} ms   max {:6.1} ms",
        ms(rank(0.50)),
        ms(rank(0.99)),
        ms(delays[delays.len() - 1])
    );
}
