//! Two nodes on one PostgreSQL schema and one Redis: a `maxToken` window (requests or tokens)
//! holds for the two together, and a Redis outage leaves requests flowing with per-node counts.
//! Needs PostgreSQL and Redis (found, or skipped with a printed line, as
//! `modelgate_mock_provider::test_services` says; failing under `CI=true`).

use crate::common::*;
use crate::concurrent_limits;
use crate::postgres_support;
use modelgate_mock_provider::relay::Relay;
use modelgate_mock_provider::test_services::{redis_url, unique_prefix};
use modelgate_mock_provider::{MockConfig, MockProvider};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Ten seconds into a minute, so every window of the test is the same one.
struct FixedClock;

const NOW: i64 = 1_764_115_210;

impl modelgate_inference::Clock for FixedClock {
    fn now_secs(&self) -> i64 {
        NOW
    }
}

struct Node {
    server: TestServer,
    run: String,
    admin: String,
}

impl Node {
    async fn chat(&self, model: &str) -> reqwest::Response {
        self.server
            .client
            .post(format!("{}/default/models/{model}/v1/chat/completions", self.run))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap()
    }

    async fn serves(&self, model: &str) -> bool {
        let listed: Value = self
            .server
            .client
            .get(format!("{}/default/v1/models", self.run))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        listed["data"].as_array().unwrap().iter().any(|m| m["id"] == model)
    }

    /// The value of a metric without labels.
    async fn readiness(&self) -> Value {
        self.server.client.get(format!("{}/v0/ready", self.admin)).send().await.unwrap().json().await.unwrap()
    }

    async fn metric(&self, name: &str) -> String {
        let text = self.server.client.get(format!("{}/metrics", self.admin)).send().await.unwrap().text().await;
        let text = text.unwrap();
        let line = text.lines().find(|line| line.split(' ').next() == Some(name));
        line.unwrap_or_else(|| panic!("no {name} in {text}")).split(' ').nth(1).unwrap().to_string()
    }
}

async fn within_a_second(check: impl AsyncFnMut() -> bool) -> bool {
    within(Duration::from_secs(1), check).await
}

async fn within(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two nodes on one PostgreSQL schema and one Redis reached through `link` (which a test cuts):
/// `a` with both planes, `b` inference only (its readiness tells where it counts).
struct TwoNodes {
    a: Node,
    b: Node,
    link: Relay,
    _schema: postgres_support::TestSchema,
}

/// Two nodes for `test`, or `None` when PostgreSQL or Redis is absent (and the test skipped).
async fn two_nodes(test: &str) -> Option<TwoNodes> {
    let schema = postgres_support::TestSchema::create(test).await?;
    let redis = redis_url(test)?;
    let redis_addr = redis.trim_start_matches("redis://").trim_end_matches('/');
    let redis_addr = tokio::net::lookup_host(redis_addr).await.unwrap().next().unwrap();
    let link = Relay::start(redis_addr).await.unwrap();
    let prefix = unique_prefix(test);
    let start = async |role| {
        let dir = tempfile::tempdir().unwrap();
        let mut args = args_for(dir.path());
        args.role = role;
        args.database_url = Some(schema.url.clone());
        args.master_key = Some("44".repeat(32));
        args.redis_url = Some(format!("redis://{}", link.addr()));
        args.redis_prefix = prefix.clone();
        args.clock = Some(Arc::new(FixedClock));
        let server = TestServer::start_with(dir, args).await;
        let running = server.server.as_ref().unwrap();
        let (run, admin) = (format!("http://{}", running.run_addr.unwrap()), format!("http://{}", running.api_addr));
        Node { server, run, admin }
    };
    let (a, b) = (start(modelgate_server::Role::All).await, start(modelgate_server::Role::Inference).await);
    Some(TwoNodes { a, b, link, _schema: schema })
}

impl TwoNodes {
    /// The connection `mock` to `provider`, made through `a`.
    async fn connect(&self, provider: &MockProvider) {
        let connection = json!({"metadata": {"name": "mock"}, "spec": {"integration": "openai",
            "config": {"url": provider.base_url()}, "secret": {"apiKey": "sk-mock-upstream-key"}}});
        assert_eq!(self.a.server.post("/integrations/connections", connection).await.0, StatusCode::OK);
    }

    /// A model `model` on the connection `mock` under a maxToken policy of `limits`, once both
    /// nodes serve it.
    async fn limited(&self, model: &str, limits: Value) {
        let policy = json!({"metadata": {"name": format!("{model}-limit")},
            "spec": {"type": "maxToken", "maxTokens": limits}});
        assert_eq!(self.a.server.post("/policies", policy).await.0, StatusCode::OK);
        let body = json!({"metadata": {"name": model}, "spec": {"integrationConnections": ["mock"],
            "policies": [format!("{model}-limit")], "runtime": {"type": "openai", "model": "gpt-4o-mini"}}});
        assert_eq!(self.a.server.post("/models", body).await.0, StatusCode::OK);
        assert!(within_a_second(async || self.b.serves(model).await).await, "{model} reaches the other node");
    }
}

#[tokio::test]
async fn a_budget_in_dollars_holds_across_two_nodes() {
    let test = "a_budget_in_dollars_holds_across_two_nodes";
    let Some(nodes) = two_nodes(test).await else { return };
    let mock = MockProvider::start(MockConfig::default()).await.unwrap();
    nodes.connect(&mock).await;
    // $2.50 a day at a dollar a request (the model's own price): two requests, whichever node.
    let policy = json!({"metadata": {"name": "budget"}, "spec": {"type": "maxToken",
        "maxTokens": {"granularity": "day", "step": 1, "costUsd": 2.5}}});
    assert_eq!(nodes.a.server.post("/policies", policy).await.0, StatusCode::OK);
    let body = json!({"metadata": {"name": "metered"}, "spec": {"integrationConnections": ["mock"],
        "policies": ["budget"], "price": {"perRequest": 1.0}, "runtime": {"type": "openai", "model": "gpt-4o-mini"}}});
    assert_eq!(nodes.a.server.post("/models", body).await.0, StatusCode::OK);
    assert!(within_a_second(async || nodes.b.serves("metered").await).await);
    assert_eq!(nodes.a.chat("metered").await.status(), StatusCode::OK);
    assert_eq!(nodes.b.chat("metered").await.status(), StatusCode::OK);
    for node in [&nodes.a, &nodes.b] {
        let refused = node.chat("metered").await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let body: Value = refused.json().await.unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains("budget US$2.50"), "{body}");
    }
}

#[tokio::test]
async fn limits_hold_across_two_nodes_and_survive_a_redis_outage() {
    let test = "limits_hold_across_two_nodes_and_survive_a_redis_outage";
    let Some(nodes) = two_nodes(test).await else { return };
    let (a, b, link) = (&nodes.a, &nodes.b, &nodes.link);
    let mock = MockProvider::start(MockConfig::default()).await.unwrap();
    assert_eq!(a.metric("modelgate_limits_redis_up").await, "1");
    assert_eq!(b.readiness().await["limits"], "shared through Redis");

    nodes.connect(&mock).await;
    // Four requests a minute for the model as a whole, two through each node.
    nodes.limited("rpm", json!({"granularity": "minute", "step": 1, "requests": 4})).await;
    for node in [&a, &b, &a, &b] {
        assert_eq!(node.chat("rpm").await.status(), StatusCode::OK);
    }
    for node in [&a, &b] {
        let refused = node.chat("rpm").await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()["retry-after"], "50", "until the minute ends");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["code"], "USAGE_LIMIT_EXCEEDED", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("rpm-limit"), "{body}");
    }

    // One token an hour: the first answer through one node uses it up for the other.
    nodes.limited("tph", json!({"granularity": "hour", "step": 1, "total": 1})).await;
    assert_eq!(a.chat("tph").await.status(), StatusCode::OK, "the crossing request passes");
    assert!(
        within_a_second(async || b.chat("tph").await.status() == StatusCode::TOO_MANY_REQUESTS).await,
        "the tokens used through one node count on the other"
    );

    // Redis goes away: requests keep flowing, counted per node, and the nodes say so.
    nodes.limited("roomy", json!({"granularity": "minute", "step": 1, "requests": 1000})).await;
    link.cut();
    for node in [&a, &b, &a, &b] {
        assert_eq!(node.chat("roomy").await.status(), StatusCode::OK, "requests flow without Redis");
    }
    for node in [&a, &b] {
        assert_eq!(node.metric("modelgate_limits_redis_up").await, "0");
        assert_ne!(node.metric("modelgate_limit_local_fallbacks_total").await, "0");
    }
    let readiness = b.readiness().await;
    assert_eq!(readiness["limits"], "per node: Redis unreachable", "{readiness}");
    assert_eq!(readiness["status"], "ready", "a Redis outage does not take a node out of the load balancer");
    // Alone, a node holds the whole limit against its own count: two requests went through it.
    assert_eq!(a.chat("rpm").await.status(), StatusCode::OK);
    assert_eq!(a.chat("rpm").await.status(), StatusCode::OK);
    assert_eq!(a.chat("rpm").await.status(), StatusCode::TOO_MANY_REQUESTS, "four through this node");

    link.restore();
    // A node asks Redis again a second after its last failure.
    assert!(
        within(Duration::from_secs(3), async || {
            a.chat("roomy").await.status() == StatusCode::OK && a.metric("modelgate_limits_redis_up").await == "1"
        })
        .await,
        "the node shares its windows again once Redis answers"
    );
}

#[tokio::test]
async fn fifty_concurrent_clients_spend_within_the_bound_on_two_nodes_sharing_redis() {
    let test = "fifty_concurrent_clients_spend_within_the_bound_on_two_nodes_sharing_redis";
    let Some(nodes) = two_nodes(test).await else { return };
    let (a, b) = (&nodes.a, &nodes.b);
    let mock = concurrent_limits::mock().await;
    let nodes = [a.run.clone(), b.run.clone()];
    for (model, max_tokens) in [("unnamed", None), ("underestimated", Some(100))] {
        concurrent_limits::limited_model(&a.server, &mock, model).await;
        assert!(within_a_second(async || b.serves(model).await).await, "{model} reaches the other node");
        let body = concurrent_limits::body(max_tokens);
        let outcome = concurrent_limits::spend(&a.server.client, &nodes, model, &body).await;
        concurrent_limits::check(&format!("two nodes sharing Redis, max_tokens {max_tokens:?}"), &body, &outcome);
    }
    assert_eq!(a.metric("modelgate_limit_local_fallbacks_total").await, "0", "every check went through Redis");
    assert_eq!(b.metric("modelgate_limit_local_fallbacks_total").await, "0");
}

/// What a node admits alone while Redis is away reaches Redis when it answers again: the window
/// is not admitted a second time through the other node (before: 140 requests against 60).
#[tokio::test]
async fn a_window_spent_during_a_redis_outage_is_not_spent_again_after_it() {
    let test = "a_window_spent_during_a_redis_outage_is_not_spent_again_after_it";
    let Some(nodes) = two_nodes(test).await else { return };
    let (a, b, link) = (&nodes.a, &nodes.b, &nodes.link);
    let mock = MockProvider::start(MockConfig::default()).await.unwrap();
    nodes.connect(&mock).await;
    nodes.limited("m", json!({"granularity": "minute", "step": 1, "requests": 20})).await;
    assert_eq!(a.chat("m").await.status(), StatusCode::OK, "one request counted in Redis");

    link.cut();
    let mut admitted = 1;
    while a.chat("m").await.status() == StatusCode::OK {
        admitted += 1;
    }
    assert_eq!(admitted, 20, "alone, the node holds the whole limit against its own count");
    assert_eq!(a.metric("modelgate_limits_redis_up").await, "0");

    link.restore();
    let both_up = async || {
        a.metric("modelgate_limits_redis_up").await == "1" && b.metric("modelgate_limits_redis_up").await == "1"
    };
    assert!(within(Duration::from_secs(15), both_up).await, "both nodes find Redis again");
    for node in [b, a, b] {
        let refused = node.chat("m").await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "20 of 20 in Redis: nothing more this window");
        assert_eq!(refused.headers()["retry-after"], "50");
    }
}
