//! Several `modelgate` processes on one PostgreSQL schema, laid out as a scale-out deployment runs
//! them: a `--role control` node for the REST API and `--role inference` nodes, with the mock
//! provider upstream. The resync interval is an hour, so only the change feed (LISTEN/NOTIFY)
//! explains how a change made through the control node reaches the inference nodes.
//!
//! Needs PostgreSQL (`MODELGATE_TEST_POSTGRES_URL`, else the default loopback address; skipped
//! with a printed line where it does not answer, failing under `CI=true`); each test gets a fresh
//! schema.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../crates/store/tests/support/postgres.rs"]
mod postgres_support;
mod support;

use modelgate_mock_provider::{MockConfig, MockProvider};
use postgres_support::TestSchema;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::{assert_gateway_error, call, chat, poll_until, postgres_through_relay, Node};

const ADMIN_KEY: &str = "mgk_multi_node_admin_key_0123456789abcdef";
const MASTER_KEY: &str = "6d6f64656c676174652d6d756c74692d6e6f64652d746573742d6b65792d3031";
/// How soon every inference node serves a change made through the control node.
const PROPAGATION: Duration = Duration::from_secs(1);
/// Patience for what has no promised delay: usage written in batches, recovery from an outage.
const EVENTUALLY: Duration = Duration::from_secs(30);

/// What every node of a deployment shares.
struct Deployment {
    database_url: String,
}

impl Deployment {
    async fn start(&self, role: &str) -> Node {
        Node::start_fresh(&[
            ("MODELGATE_ROLE", role),
            ("MODELGATE_DATABASE_URL", &self.database_url),
            ("MODELGATE_MASTER_KEY", MASTER_KEY),
            ("MODELGATE_BOOTSTRAP_API_KEY", ADMIN_KEY),
            ("MODELGATE_RESYNC_INTERVAL", "3600"),
        ])
        .await
    }
}

/// A control-plane call as the admin; asserts a 200 and returns the answer.
async fn admin(node: &Node, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = call(ADMIN_KEY, method.clone(), &format!("{}{path}", node.api), body).await;
    assert_eq!(status, 200, "{method} {path}: {answer}");
    answer
}

fn model(name: &str, enabled: bool) -> Value {
    json!({"metadata": {"name": name}, "spec": {"enabled": enabled, "integrationConnections": ["mock"],
        "runtime": {"type": "openai", "model": "gpt-4o-mini"}}})
}

/// A connection to the mock provider and the model `m` using it; a service account's key with
/// `models:invoke` and the path of its keys.
async fn configure(control: &Node, mock: &MockProvider) -> (String, String, String) {
    let connection = json!({"metadata": {"name": "mock"}, "spec": {"integration": "openai",
        "config": {"url": mock.base_url()}, "secret": {"apiKey": modelgate_mock_provider::DEFAULT_API_KEY}}});
    admin(control, Method::POST, "/integrations/connections", Some(connection)).await;
    admin(control, Method::POST, "/models", Some(model("m", true))).await;
    let account = admin(control, Method::POST, "/service_accounts", Some(json!({"name": "app"}))).await;
    let keys = format!("/service_accounts/{}/api_keys", account["client_id"].as_str().unwrap());
    let key = admin(control, Method::POST, &keys, Some(json!({"scopes": ["models:invoke"]}))).await;
    (key["apiKey"].as_str().unwrap().to_string(), key["id"].as_str().unwrap().to_string(), keys)
}

/// Calls `model` with `key` on every node, concurrently, until each answers `expected` or a
/// second has passed since the call; the last answer of each node.
async fn on_every_node(nodes: &[&Node], key: &str, model: &str, expected: u16) -> Vec<(u16, Value)> {
    let deadline = Instant::now() + PROPAGATION;
    let polls: Vec<_> = nodes
        .iter()
        .map(|node| {
            let (run, key, model) = (node.run().to_string(), key.to_string(), model.to_string());
            tokio::spawn(async move { poll_until(deadline, expected, || chat(&run, &key, &model)).await })
        })
        .collect();
    let mut answers = Vec::new();
    for poll in polls {
        answers.push(poll.await.unwrap());
    }
    answers
}

/// Requests and tokens of the successful calls the test made, to compare with `/v0/usage`.
#[derive(Debug, Default)]
struct Tally {
    requests: i64,
    input: i64,
    output: i64,
    total: i64,
}

impl Tally {
    /// Counts a successful chat completion's answer.
    fn add(&mut self, (status, body): &(u16, Value)) {
        assert_eq!(*status, 200, "{body}");
        let usage = &body["usage"];
        self.requests += 1;
        self.input += usage["prompt_tokens"].as_i64().unwrap();
        self.output += usage["completion_tokens"].as_i64().unwrap();
        self.total += usage["total_tokens"].as_i64().unwrap();
    }

    fn matches(&self, totals: &Value) -> bool {
        totals["requests"] == self.requests
            && totals["errors"] == 0
            && totals["inputTokens"] == self.input
            && totals["outputTokens"] == self.output
            && totals["totalTokens"] == self.total
    }
}

/// Polls the control node's `GET /v0/usage?model=` until its totals are `tally` (usage is
/// written in batches, about every second, by each inference node).
async fn assert_usage(control: &Node, model: &str, tally: &Tally) {
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        let report = admin(control, Method::GET, &format!("/usage?model={model}"), None).await;
        if tally.matches(&report["totals"]) {
            return;
        }
        assert!(Instant::now() < deadline, "the usage totals never became {tally:?}: {report}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn ready(node: &Node) -> (u16, Value) {
    call(ADMIN_KEY, Method::GET, &format!("{}/v0/ready", node.admin()), None).await
}

/// Polls an inference node's readiness until its answer satisfies `check` (or, after a while,
/// returns the last answer).
async fn ready_when(node: &Node, check: impl Fn(&Value) -> bool) -> (u16, Value) {
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        let (status, body) = ready(node).await;
        if check(&body) || Instant::now() >= deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_control_and_two_inference_processes_share_the_configuration_and_usage() {
    let Some(schema) =
        TestSchema::create("one_control_and_two_inference_processes_share_the_configuration_and_usage").await
    else {
        return;
    };
    let mock = MockProvider::start(MockConfig::default()).await.unwrap();
    let deployment = Deployment { database_url: schema.url.clone() };
    // Started together, as an orchestrator does: they migrate one at a time and each ensures the
    // same bootstrap key.
    let (control, first, second) =
        tokio::join!(deployment.start("control"), deployment.start("inference"), deployment.start("inference"));
    assert!(control.run.is_none(), "a control node serves no inference");
    let (app_key, app_key_id, keys) = configure(&control, &mock).await;
    // Created through the control node: served by both inference nodes within a second.
    for key in [ADMIN_KEY, &app_key] {
        for (status, body) in on_every_node(&[&first, &second], key, "m", 200).await {
            assert_eq!(status, 200, "{body}");
        }
    }

    // Calls on both nodes are summed in one place. (A model of its own: while the configuration
    // was being made, a node may have served a snapshot read half before and half after the
    // writes, a model without its connection, and metered a 502 for it.)
    admin(&control, Method::POST, "/models", Some(model("metered", true))).await;
    let mut usage = Tally::default();
    for answer in on_every_node(&[&first, &second], &app_key, "metered", 200).await {
        usage.add(&answer);
    }
    for node in [&first, &first, &first, &second, &second] {
        usage.add(&chat(node.run(), &app_key, "metered").await);
    }
    assert_usage(&control, "metered", &usage).await;

    // A revoked key is refused by both within a second.
    admin(&control, Method::DELETE, &format!("{keys}/{app_key_id}"), None).await;
    for answer in on_every_node(&[&first, &second], &app_key, "m", 401).await {
        assert_gateway_error(&answer, 401, "AUTHENTICATION_FAILED");
    }

    // A disabled model too.
    admin(&control, Method::PUT, "/models/m", Some(model("m", false))).await;
    for answer in on_every_node(&[&first, &second], ADMIN_KEY, "m", 403).await {
        assert_gateway_error(&answer, 403, "MODEL_DISABLED");
    }

    // An inference node killed outright, changes made while it is down, then a restart on the
    // same schema: it serves the current state from its first request.
    second.kill().await;
    admin(&control, Method::PUT, "/models/m", Some(model("m", true))).await;
    admin(&control, Method::POST, "/models", Some(model("m2", true))).await;
    assert_eq!(on_every_node(&[&first], ADMIN_KEY, "m2", 200).await[0].0, 200);
    let second = deployment.start("inference").await;
    assert_eq!(ready(&second).await.0, 200);
    let answer = chat(second.run(), ADMIN_KEY, "m").await;
    assert_eq!(answer.0, 200, "enabled again while the node was down: {}", answer.1);
    let answer = chat(second.run(), ADMIN_KEY, "m2").await;
    assert_eq!(answer.0, 200, "created while the node was down: {}", answer.1);
    assert_gateway_error(&chat(second.run(), &app_key, "m").await, 401, "AUTHENTICATION_FAILED");
    // And it listens again: a deletion reaches both nodes within a second.
    admin(&control, Method::DELETE, "/models/m2", None).await;
    for answer in on_every_node(&[&first, &second], ADMIN_KEY, "m2", 404).await {
        assert_gateway_error(&answer, 404, "ROUTE_NOT_FOUND");
    }

    tokio::join!(control.stop(), first.stop(), second.stop());
}

/// An inference node loses PostgreSQL while the control node keeps it, then gets it back.
/// Meanwhile the node keeps serving what it knows, says in its readiness that the store is
/// unreachable and its change feed down, and keeps the usage it meters; afterwards it writes that
/// usage, reopens its change feed by itself (the resync interval is an hour) and catches up with
/// the change made during the outage, whose announcement it could not hear.
async fn an_inference_node_rides_out_a_postgres_outage(test: &str, take_away: fn(&support::Relay)) {
    let Some(schema) = TestSchema::create(test).await else {
        return;
    };
    let (relay, relayed_url) = postgres_through_relay(&schema.url).await;
    let mock = MockProvider::start(MockConfig::default()).await.unwrap();
    let (direct, relayed) = (Deployment { database_url: schema.url.clone() }, Deployment { database_url: relayed_url });
    let (control, node) = tokio::join!(direct.start("control"), relayed.start("inference"));
    let (app_key, _, _) = configure(&control, &mock).await;
    let (status, body) = on_every_node(&[&node], &app_key, "m", 200).await.remove(0);
    assert_eq!(status, 200, "{body}");
    // Usage is counted on a model of its own (see the test above).
    admin(&control, Method::POST, "/models", Some(model("metered", true))).await;
    let mut usage = Tally::default();
    usage.add(&on_every_node(&[&node], &app_key, "metered", 200).await[0]);
    let (status, before) = ready_when(&node, |body| body["changeFeed"] == "listening").await;
    assert_eq!(
        (status, &before["status"], &before["store"], &before["changeFeed"]),
        (200, &json!("ready"), &json!("ok"), &json!("listening")),
        "{before}"
    );

    take_away(&relay);
    // Readiness reports the store and the change feed truthfully, and stays 200: the snapshot is
    // fresh and serving.
    let (status, during) =
        ready_when(&node, |body| body["store"] == "unreachable" && body["changeFeed"] == "reopening").await;
    assert_eq!(
        (status, &during["status"], &during["store"], &during["changeFeed"]),
        (200, &json!("ready"), &json!("unreachable"), &json!("reopening")),
        "{during}"
    );
    // Known models and keys are served, and metered.
    for key in [app_key.as_str(), ADMIN_KEY, app_key.as_str(), ADMIN_KEY] {
        usage.add(&chat(node.run(), key, "metered").await);
    }
    // A change the node cannot hear of.
    admin(&control, Method::POST, "/models", Some(model("during-outage", true))).await;
    assert_gateway_error(&chat(node.run(), ADMIN_KEY, "during-outage").await, 404, "ROUTE_NOT_FOUND");

    relay.restore();
    // The node reopens its change feed, has then caught up, and hears of new changes again (its
    // store probe, every 500 ms, may see the store back a moment before or after).
    let (status, after) = ready_when(&node, |body| body["changeFeed"] == "listening" && body["store"] == "ok").await;
    assert_eq!((status, &after["store"], &after["changeFeed"]), (200, &json!("ok"), &json!("listening")), "{after}");
    let answer = chat(node.run(), ADMIN_KEY, "during-outage").await;
    assert_eq!(answer.0, 200, "the change made during the outage is served: {}", answer.1);
    admin(&control, Method::POST, "/models", Some(model("after-outage", true))).await;
    assert_eq!(on_every_node(&[&node], ADMIN_KEY, "after-outage", 200).await[0].0, 200);
    // The usage metered during the outage was kept and written.
    assert_usage(&control, "metered", &usage).await;
    let metrics = call(ADMIN_KEY, Method::GET, &format!("{}/metrics", node.admin()), None).await.1;
    let metrics = metrics.as_str().unwrap();
    assert!(metrics.lines().any(|line| line.ends_with("usage_records_dropped 0")), "{metrics}");

    tokio::join!(control.stop(), node.stop());
}

/// PostgreSQL stops: connections are closed, new ones refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inference_node_rides_out_a_postgres_stop() {
    an_inference_node_rides_out_a_postgres_outage("an_inference_node_rides_out_a_postgres_stop", support::Relay::cut)
        .await;
}

/// The network between the node and PostgreSQL fails: connections are closed, new ones hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inference_node_rides_out_a_network_partition() {
    an_inference_node_rides_out_a_postgres_outage(
        "an_inference_node_rides_out_a_network_partition",
        support::Relay::partition,
    )
    .await;
}
