//! Usage is billing data: a node on PostgreSQL whose database link is cut (through a relay) for
//! longer than its usage queue lasts spools the records to its data directory and, once the
//! database is back, stores every one of them exactly once, whether it stayed up or was
//! restarted meanwhile. Needs PostgreSQL (found, or skipped with a printed line, as
//! `modelgate_mock_provider::test_services` says; failing under `CI=true`).

use crate::common::*;
use crate::postgres_support::TestSchema;
use modelgate_mock_provider::relay::Relay;
use modelgate_mock_provider::{MockConfig, MockProvider};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::{Connection, PgConnection};
use std::time::{Duration, Instant};

/// Requests sent at once, and by each sender.
const SENDERS: usize = 20;
const PER_SENDER: usize = 15;
/// A queue that holds a fraction of what arrives during the cut.
const QUEUE: usize = 50;

/// A node on a fresh schema reached through a relay, serving the model `gpt` from a mock.
struct Setup {
    schema: TestSchema,
    link: Relay,
    mock: MockProvider,
    server: TestServer,
    args: modelgate_server::ServeArgs,
}

impl Setup {
    async fn start(test: &str) -> Option<Setup> {
        let schema = TestSchema::create(test).await?;
        let (authority, _) = schema.url.split_once("://").unwrap().1.split_once('/').unwrap();
        let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        let target = tokio::net::lookup_host(host).await.unwrap().next().unwrap();
        let link = Relay::start(target).await.unwrap();
        let mock = MockProvider::start(MockConfig::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut args = args_for(dir.path());
        args.database_url = Some(schema.url.replacen(host, &link.addr().to_string(), 1));
        args.master_key = Some("55".repeat(32));
        args.usage_queue_size = QUEUE;
        let server = TestServer::start_with(dir, args.clone()).await;
        let connection = json!({"metadata": {"name": "mock"}, "spec": {"integration": "openai",
            "config": {"url": mock.base_url()}, "secret": {"apiKey": "sk-mock-upstream-key"}}});
        assert_eq!(server.post("/integrations/connections", connection).await.0, StatusCode::OK);
        let model = json!({"metadata": {"name": "gpt"}, "spec": {"integrationConnections": ["mock"],
            "runtime": {"type": "openai", "model": "gpt-4o-mini"}}});
        assert_eq!(server.post("/models", model).await.0, StatusCode::OK);
        Some(Setup { schema, link, mock, server, args })
    }

    /// `SENDERS` clients sending `PER_SENDER` chat requests each, all answered 200.
    async fn load(&self) -> usize {
        let url = format!("http://{}/default/models/gpt/v1/chat/completions", self.run_addr());
        let mut senders = tokio::task::JoinSet::new();
        for _ in 0..SENDERS {
            let (client, url) = (self.server.client.clone(), url.clone());
            senders.spawn(async move {
                for _ in 0..PER_SENDER {
                    let answer = client
                        .post(&url)
                        .bearer_auth(ADMIN_KEY)
                        .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(answer.status(), StatusCode::OK);
                }
            });
        }
        while let Some(sent) = senders.join_next().await {
            sent.unwrap();
        }
        SENDERS * PER_SENDER
    }

    fn run_addr(&self) -> std::net::SocketAddr {
        self.server.server.as_ref().unwrap().run_addr.unwrap()
    }

    /// A metric without labels, as the node's `/metrics` shows it now.
    async fn metric(&self, name: &str) -> u64 {
        let url = format!("http://{}/metrics", self.server.server.as_ref().unwrap().api_addr);
        let text = self.server.client.get(url).send().await.unwrap().text().await.unwrap();
        let line = text.lines().find(|line| line.split(' ').next() == Some(name));
        line.unwrap_or_else(|| panic!("no {name} in {text}")).split(' ').nth(1).unwrap().parse().unwrap()
    }

    /// Usage rows in the database and distinct record ids among them, read directly.
    async fn stored(&self) -> (i64, i64) {
        let mut db = PgConnection::connect(&self.schema.url).await.unwrap();
        let counts = sqlx::query_as("SELECT count(*), count(DISTINCT record_id) FROM usage_records")
            .fetch_one(&mut db)
            .await
            .unwrap();
        db.close().await.unwrap();
        counts
    }

    /// Waits (up to `limit`) until the database holds `expected` usage rows.
    async fn stored_eventually(&self, expected: usize, limit: Duration) -> (i64, i64) {
        let deadline = Instant::now() + limit;
        loop {
            let stored = self.stored().await;
            if stored.0 >= expected as i64 || Instant::now() > deadline {
                return stored;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn metric_eventually(&self, name: &str, done: impl Fn(u64) -> bool) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let value = self.metric(name).await;
            if done(value) || Instant::now() > deadline {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn spool_file(&self) -> std::path::PathBuf {
        self.server.dir.path().join(modelgate_store::SPOOL_FILE)
    }
}

#[tokio::test]
async fn no_usage_is_lost_while_postgres_is_cut() {
    let Some(setup) = Setup::start("usage_spool::no_usage_is_lost_while_postgres_is_cut").await else { return };
    let before = setup.load().await;
    assert_eq!(setup.stored_eventually(before, Duration::from_secs(20)).await, (before as i64, before as i64));

    setup.link.cut();
    let during = setup.load().await;
    assert!(during > QUEUE * 5, "the cut outlasts the queue many times over");
    let spooled = setup.metric_eventually("modelgate_usage_records_spooled_total", |n| n >= during as u64).await;
    assert!(spooled >= during as u64, "every record of the cut is spooled: {spooled} of {during}");
    assert_eq!(setup.metric("modelgate_usage_records_dropped").await, 0);
    assert_eq!(setup.metric("modelgate_usage_records_queued").await, 0);
    let spool_bytes = setup.metric("modelgate_usage_spool_bytes").await;
    assert!(spool_bytes > 0);
    assert_eq!(std::fs::metadata(setup.spool_file()).unwrap().len(), spool_bytes, "the spool is in the data dir");

    setup.link.restore();
    let total = before + during;
    let stored = setup.stored_eventually(total, Duration::from_secs(30)).await;
    assert_eq!(stored, (total as i64, total as i64), "every request has exactly one usage record");
    let replayed = setup.metric_eventually("modelgate_usage_records_replayed_total", |n| n >= spooled).await;
    assert_eq!(replayed, spooled);
    assert_eq!(setup.metric_eventually("modelgate_usage_spool_bytes", |n| n == 0).await, 0);
    assert_eq!(std::fs::metadata(setup.spool_file()).unwrap().len(), 0, "emptied once replayed");
    assert_eq!(setup.metric("modelgate_usage_records_dropped").await, 0);
    // Nothing was stored twice meanwhile.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(setup.stored().await, (total as i64, total as i64));
    drop(setup.mock);
}

#[tokio::test]
async fn usage_spooled_at_shutdown_is_stored_by_the_next_start() {
    let test = "usage_spool::usage_spooled_at_shutdown_is_stored_by_the_next_start";
    let Some(mut setup) = Setup::start(test).await else { return };
    setup.link.cut();
    let sent = setup.load().await;
    let stopping = Instant::now();
    setup.server.stop().await;
    let stopped_in = stopping.elapsed();
    assert!(stopped_in < modelgate_store::SHUTDOWN_BUDGET + Duration::from_secs(10), "{stopped_in:?}");
    assert!(std::fs::metadata(setup.spool_file()).unwrap().len() > 0, "the remainder is spooled");
    assert_eq!(setup.stored().await, (0, 0));

    setup.link.restore();
    let dir = std::mem::replace(&mut setup.server.dir, tempfile::tempdir().unwrap());
    setup.server = TestServer::start_with(dir, setup.args.clone()).await;
    let stored = setup.stored_eventually(sent, Duration::from_secs(30)).await;
    assert_eq!(stored, (sent as i64, sent as i64), "every request has exactly one usage record");
    let replayed = setup.metric_eventually("modelgate_usage_records_replayed_total", |n| n >= sent as u64).await;
    assert_eq!(replayed, sent as u64, "replayed at start");
    assert_eq!(setup.metric("modelgate_usage_records_dropped").await, 0);
    setup.server.stop().await;
}
