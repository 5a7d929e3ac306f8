//! Spend: every usage record priced from the catalogue (or an operator's price file, or the
//! model's own `spec.price`) with its cached tokens, through the mock providers in their wire
//! formats; the usage API's `costUsd`, cached tokens and `unpricedRequests`; `/metrics`.

use crate::common::*;
use modelgate_domain::usage::UsageRecord;
use modelgate_mock_provider::{MockConfig, MockProvider};
use modelgate_store::{Store, UsageQuery, UsageStore};
use modelgate_store_sql::SqlStore;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const PROVIDER_KEY: &str = "sk-mock-upstream-key";
/// The embedded catalogue, read here as a file so that the expected costs do not come from the
/// code under test.
const CATALOGUE: &str = include_str!("../../../providers/data/prices.json");

struct Setup {
    server: TestServer,
    mock: MockProvider,
    run: String,
}

async fn setup_with(configure: impl FnOnce(&mut modelgate_server::ServeArgs)) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut args = args_for(dir.path());
    configure(&mut args);
    let server = TestServer::start_with(dir, args).await;
    let mock = MockProvider::start(MockConfig::default()).await.unwrap();
    let run = format!("http://{}", server.server.as_ref().unwrap().run_addr.unwrap());
    Setup { server, mock, run }
}

/// Calls with the prompt cache the mock reports (`x-mock-cache-*`).
struct Cache {
    read: u64,
    write: u64,
}

impl Setup {
    /// A connection of `integration` to the mock and a model `name` on it with `spec` merged in.
    async fn model(&self, name: &str, integration: &str, runtime_model: &str, spec: Value) {
        let mut config = json!({"url": self.mock.base_url()});
        if integration == "vertexai" {
            config["projectId"] = json!("p1");
            config["location"] = json!("us-central1");
        }
        let connection = json!({"metadata": {"name": name}, "spec": {"integration": integration, "config": config, "secret": {"apiKey": PROVIDER_KEY}}});
        let (status, body) = self.server.post("/integrations/connections", connection).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut model = json!({"metadata": {"name": name}, "spec": {"integrationConnections": [name], "runtime": {"type": integration, "model": runtime_model}}});
        merge(&mut model["spec"], spec);
        let (status, body) = self.server.post("/models", model).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn call(&self, model: &str, path: &str, body: Value, cache: &Cache) -> String {
        let url = format!("{}/default/models/{model}{path}", self.run);
        let response = self
            .server
            .client
            .request(Method::POST, url)
            .bearer_auth(ADMIN_KEY)
            .header("x-mock-cache-read-tokens", cache.read.to_string())
            .header("x-mock-cache-write-tokens", cache.write.to_string())
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{model}{path}: {text}");
        text
    }

    /// The model's usage records once `count` are stored, oldest first.
    async fn records(&self, model: &str, count: usize) -> Vec<UsageRecord> {
        let store = SqlStore::open(&format!("sqlite://{}", self.server.db_path().display())).await.unwrap();
        let query = UsageQuery { workspace: "default".into(), model: Some(model.into()), from: 0, to: i64::MAX };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let records = store.query_usage(&query).await.unwrap();
            if records.len() >= count || Instant::now() > deadline {
                store.close().await;
                assert_eq!(records.len(), count, "{model}: {records:?}");
                return records;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.server.server.as_ref().unwrap().api_addr);
        let response = self.server.client.get(url).send().await.unwrap();
        response.text().await.unwrap()
    }
}

fn merge(target: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
        target.extend(extra);
    }
}

fn chat(stream: bool) -> Value {
    json!({"model": "ignored", "stream": stream, "messages": [{"role": "user", "content": "price this"}]})
}

fn messages(stream: bool) -> Value {
    json!({"model": "ignored", "max_tokens": 64, "stream": stream, "messages": [{"role": "user", "content": "price this"}]})
}

/// A price as the catalogue's JSON gives it.
struct Price {
    input: f64,
    output: f64,
    cache_read: Option<f64>,
    cache_write: Option<f64>,
}

fn price_of(catalogue: &str, runtime_type: &str, model: &str) -> Price {
    let catalogue: Value = serde_json::from_str(catalogue).unwrap();
    let entry = &catalogue["prices"][runtime_type][model];
    assert!(entry.is_object(), "{runtime_type}/{model} is in the catalogue");
    Price {
        input: entry["input"].as_f64().unwrap_or(0.0),
        output: entry["output"].as_f64().unwrap_or(0.0),
        cache_read: entry["cacheRead"].as_f64(),
        cache_write: entry["cacheWrite"].as_f64(),
    }
}

/// The cost of a record's tokens at `price`, in billionths of a dollar: uncached input, cache
/// reads and writes (at the input price where none is given) and output.
fn expected_nano_usd(record: &UsageRecord, price: &Price) -> i64 {
    let uncached = (record.input_tokens - record.cache_read_tokens - record.cache_write_tokens) as f64;
    let usd = uncached * price.input
        + record.cache_read_tokens as f64 * price.cache_read.unwrap_or(price.input)
        + record.cache_write_tokens as f64 * price.cache_write.unwrap_or(price.input)
        + record.output_tokens as f64 * price.output;
    (usd * 1e9).round() as i64
}

fn assert_priced(records: &[UsageRecord], price: &Price) {
    for record in records {
        assert!(record.output_tokens > 0 && record.input_tokens > 0, "{record:?}");
        let cost = record.cost_nano_usd.expect("a priced model's record has a cost");
        // To the billionth of a dollar: a cent's ten-millionth.
        assert!(
            (cost - expected_nano_usd(record, price)).abs() <= 1,
            "{record:?}: expected {}",
            expected_nano_usd(record, price)
        );
    }
}

#[tokio::test]
async fn every_call_is_priced_from_the_catalogue_with_its_cached_tokens() {
    let s = setup_with(|_| {}).await;
    // A dated snapshot resolves to its base name's price (gpt-4o-mini-2024-07-18 -> gpt-4o-mini).
    s.model("gpt", "openai", "gpt-4o-mini-2024-07-18", json!({})).await;
    s.model("claude", "anthropic", "claude-sonnet-4-5-20250929", json!({})).await;
    s.model("gemini", "gemini", "gemini-2.5-flash", json!({})).await;
    s.model("command", "cohere", "command-a-03-2025", json!({})).await;

    let cached = Cache { read: 40, write: 0 };
    s.call("gpt", "/v1/chat/completions", chat(false), &cached).await;
    s.call("gpt", "/v1/chat/completions", chat(true), &cached).await;
    let records = s.records("gpt", 2).await;
    assert!(records.iter().all(|r| r.cache_read_tokens == 40 && r.cache_write_tokens == 0), "{records:?}");
    assert_priced(&records, &price_of(CATALOGUE, "openai", "gpt-4o-mini"));

    // Anthropic, natively and through the OpenAI format, with cache reads and writes.
    let cached = Cache { read: 30, write: 200 };
    s.call("claude", "/v1/messages", messages(false), &cached).await;
    s.call("claude", "/v1/messages", messages(true), &cached).await;
    s.call("claude", "/v1/chat/completions", chat(false), &cached).await;
    s.call("claude", "/v1/chat/completions", chat(true), &cached).await;
    let records = s.records("claude", 4).await;
    assert!(records.iter().all(|r| r.cache_read_tokens == 30 && r.cache_write_tokens == 200), "{records:?}");
    assert!(records.iter().all(|r| r.input_tokens > 230), "cache tokens are part of the input: {records:?}");
    assert_priced(&records, &price_of(CATALOGUE, "anthropic", "claude-sonnet-4-5"));

    let cached = Cache { read: 16, write: 0 };
    s.call("gemini", "/v1/chat/completions", chat(false), &cached).await;
    s.call("gemini", "/v1/chat/completions", chat(true), &cached).await;
    let records = s.records("gemini", 2).await;
    assert!(records.iter().all(|r| r.cache_read_tokens == 16), "{records:?}");
    assert_priced(&records, &price_of(CATALOGUE, "gemini", "gemini-2.5-flash"));

    let none = Cache { read: 0, write: 0 };
    s.call("command", "/v1/chat/completions", chat(false), &none).await;
    s.call("command", "/v1/chat/completions", chat(true), &none).await;
    let records = s.records("command", 2).await;
    assert_priced(&records, &price_of(CATALOGUE, "cohere", "command-a-03-2025"));

    // The usage API sums the records' costs and cached tokens.
    let (status, usage) = s.server.get("/models/claude/usage").await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    let claude = s.records("claude", 4).await;
    let total: i64 = claude.iter().map(|r| r.cost_nano_usd.unwrap()).sum();
    let reported = usage["totals"]["costUsd"].as_f64().unwrap();
    assert!((reported - total as f64 / 1e9).abs() < 1e-12, "{usage}");
    assert_eq!(usage["totals"]["cacheReadTokens"], 120);
    assert_eq!(usage["totals"]["cacheWriteTokens"], 800);
    assert_eq!(usage["totals"]["unpricedRequests"], 0);
    assert_eq!(usage["series"].as_array().unwrap().iter().filter_map(|b| b["costUsd"].as_f64()).sum::<f64>(), reported);

    // Prometheus: spend per workspace and model.
    let metrics = s.metrics().await;
    let line =
        metrics.lines().find(|l| l.starts_with(r#"modelgate_cost_usd_total{workspace="default",model="claude"}"#));
    let value: f64 = line.unwrap().rsplit(' ').next().unwrap().parse().unwrap();
    assert!((value - reported).abs() < 1e-9, "{line:?} vs {reported}");
}

#[tokio::test]
async fn a_model_without_a_price_costs_null_is_served_and_counted() {
    let s = setup_with(|_| {}).await;
    s.model("mystery", "openai", "a-model-nobody-prices", json!({})).await;
    s.call("mystery", "/v1/chat/completions", chat(false), &Cache { read: 0, write: 0 }).await;
    let records = s.records("mystery", 1).await;
    assert_eq!(records[0].cost_nano_usd, None, "unknown is null, never 0");

    let (_, usage) = s.server.get("/models/mystery/usage").await;
    assert_eq!(usage["totals"]["costUsd"], Value::Null, "{usage}");
    assert_eq!(usage["totals"]["unpricedRequests"], 1);
    let metrics = s.metrics().await;
    assert!(
        metrics.contains(r#"modelgate_unpriced_requests_total{workspace="default",model="mystery"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains(r#"modelgate_cost_usd_total{workspace="default",model="mystery"}"#));
}

#[tokio::test]
async fn a_model_spec_price_replaces_the_catalogue() {
    let s = setup_with(|_| {}).await;
    let price = json!({"price": {"input": 0.001, "output": 0.002, "perRequest": 0.5}});
    s.model("negotiated", "openai", "gpt-4o-mini", price).await;
    let (status, model) = s.server.get("/models/negotiated").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(model["spec"]["price"]["perRequest"], 0.5, "the extension round trips: {model}");

    s.call("negotiated", "/v1/chat/completions", chat(false), &Cache { read: 0, write: 0 }).await;
    let record = &s.records("negotiated", 1).await[0];
    let usd = record.input_tokens as f64 * 0.001 + record.output_tokens as f64 * 0.002 + 0.5;
    assert_eq!(record.cost_nano_usd, Some((usd * 1e9).round() as i64), "{record:?}");

    // A price that is not a number of dollars is refused, naming the field.
    let bad = json!({"metadata": {"name": "bad"}, "spec": {"integrationConnections": ["negotiated"],
        "runtime": {"type": "openai", "model": "gpt-4o-mini"}, "price": {"input": -1}}});
    let (status, body) = s.server.post("/models", bad).await;
    assert!(assert_error(status, &body, StatusCode::BAD_REQUEST).contains("spec.price.input"), "{body}");
    let bad = json!({"metadata": {"name": "bad"}, "spec": {"integrationConnections": ["negotiated"],
        "runtime": {"type": "openai", "model": "gpt-4o-mini"}, "price": {"inputPerToken": 1}}});
    let (status, body) = s.server.post("/models", bad).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST);
    // Nor one no model has: a typo cannot make a request cost more than usage sums can hold.
    for (price, field) in
        [(json!({"output": 2.0}), "spec.price.output"), (json!({"perRequest": 1e300}), "spec.price.perRequest")]
    {
        let bad = json!({"metadata": {"name": "bad"}, "spec": {"integrationConnections": ["negotiated"],
            "runtime": {"type": "openai", "model": "gpt-4o-mini"}, "price": price}});
        let (status, body) = s.server.post("/models", bad).await;
        assert!(assert_error(status, &body, StatusCode::BAD_REQUEST).contains(field), "{body}");
    }
}

fn write_prices(path: &Path, input: f64) {
    let file = json!({"prices": {"openai": {"house-model": {"input": input, "output": 0.0}}}});
    std::fs::write(path, file.to_string()).unwrap();
}

#[tokio::test]
async fn an_operator_price_file_is_merged_over_the_catalogue_and_reloaded_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prices.json");
    write_prices(&file, 0.01);
    let s = setup_with(|args| args.prices_file = Some(file.clone())).await;
    s.model("house", "openai", "house-model", json!({})).await;
    s.model("gpt", "openai", "gpt-4o-mini", json!({})).await;
    let none = Cache { read: 0, write: 0 };
    s.call("house", "/v1/chat/completions", chat(false), &none).await;
    let first = &s.records("house", 1).await[0];
    assert_eq!(first.cost_nano_usd, Some((first.input_tokens as f64 * 0.01 * 1e9).round() as i64));

    // The file changes: the next calls are priced from it (checked every 2 s); the catalogue's
    // other entries stay.
    write_prices(&file, 0.02);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut calls = 1;
    let repriced = loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.call("house", "/v1/chat/completions", chat(false), &none).await;
        calls += 1;
        let last = s.records("house", calls).await.pop().unwrap();
        if last.cost_nano_usd == Some((last.input_tokens as f64 * 0.02 * 1e9).round() as i64) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
    };
    assert!(repriced, "the changed price file was not taken");
    s.call("gpt", "/v1/chat/completions", chat(false), &none).await;
    assert_priced(&s.records("gpt", 1).await, &price_of(CATALOGUE, "openai", "gpt-4o-mini"));

    // A broken file keeps the prices in use.
    std::fs::write(&file, "{not json").unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    s.call("house", "/v1/chat/completions", chat(false), &none).await;
    let last = s.records("house", calls + 1).await.pop().unwrap();
    assert_eq!(last.cost_nano_usd, Some((last.input_tokens as f64 * 0.02 * 1e9).round() as i64));
}

#[tokio::test]
async fn a_price_file_that_cannot_be_used_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prices.json");
    std::fs::write(&file, r#"{"prices": {"openai": {"m": {"input": "cheap"}}}}"#).unwrap();
    let mut args = args_for(dir.path());
    args.prices_file = Some(file.clone());
    let error = match modelgate_server::start(args).await {
        Ok(_) => panic!("a broken price file must stop the start"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("prices.json") && error.contains("input"), "{error}");
}

#[tokio::test]
async fn usage_is_grouped_by_key_and_by_workspace_with_its_cost() {
    let s = setup_with(|_| {}).await;
    s.model("gpt", "openai", "gpt-4o-mini", json!({})).await;
    let (status, body) = s.server.post("/workspaces", json!({"name": "team-b"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let none = Cache { read: 0, write: 0 };
    s.call("gpt", "/v1/chat/completions", chat(false), &none).await;
    let (_, other_key) = service_account_key(&s.server, "default", None).await;
    let url = format!("{}/default/models/gpt/v1/chat/completions", s.run);
    let response = s.server.client.post(url).bearer_auth(&other_key).json(&chat(false)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let records = s.records("gpt", 2).await;

    let (status, usage) = s.server.get("/usage?groupBy=key").await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    let groups = usage["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{usage}");
    for group in groups {
        let key = group["key"].as_str().unwrap();
        let record = records.iter().find(|r| r.key_id.as_deref() == Some(key)).unwrap();
        assert_eq!(group["costUsd"].as_f64().unwrap(), record.cost_nano_usd.unwrap() as f64 / 1e9, "{group}");
    }

    // Every workspace the caller can act in, each with its spend (team-b has none).
    let (status, usage) = s.server.get("/usage?groupBy=workspace").await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    assert_eq!(usage["workspaces"], json!(["default", "team-b"]), "{usage}");
    let groups = usage["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{usage}");
    assert_eq!(groups[0]["workspace"], "default");
    assert_eq!(groups[0]["requests"], 2);
    let (status, body) = s.server.get("/models/gpt/usage?groupBy=workspace").await;
    assert!(assert_error(status, &body, StatusCode::BAD_REQUEST).contains("groupBy"));
}

/// A policy `name` of `max_tokens` (plus a day's window).
async fn budget_policy(server: &TestServer, name: &str, max_tokens: Value) {
    let mut limits = json!({"granularity": "day", "step": 1});
    merge(&mut limits, max_tokens);
    let policy = json!({"metadata": {"name": name}, "spec": {"type": "maxToken", "maxTokens": limits}});
    let (status, body) = server.post("/policies", policy).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// One dollar a request, whatever its tokens.
fn dollar_a_request(policies: &[&str]) -> Value {
    json!({"price": {"perRequest": 1.0}, "policies": policies})
}

impl Setup {
    async fn status_as(&self, key: &str, model: &str) -> (StatusCode, Option<String>, Value) {
        let url = format!("{}/default/models/{model}/v1/chat/completions", self.run);
        let response = self.server.client.post(url).bearer_auth(key).json(&chat(false)).send().await.unwrap();
        let status = response.status();
        let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        (status, retry_after, response.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn a_budget_in_dollars_refuses_once_spent_per_model_and_per_key() {
    let s = setup_with(|_| {}).await;
    budget_policy(&s.server, "two-fifty-a-day", json!({"costUsd": 2.5})).await;
    s.model("metered", "openai", "gpt-4o-mini", dollar_a_request(&["two-fifty-a-day"])).await;
    assert_eq!(s.status_as(ADMIN_KEY, "metered").await.0, StatusCode::OK);
    assert_eq!(s.status_as(ADMIN_KEY, "metered").await.0, StatusCode::OK);
    let (status, retry_after, body) = s.status_as(ADMIN_KEY, "metered").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(retry_after.unwrap().parse::<u64>().unwrap() > 0, "until the day ends");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("two-fifty-a-day") && message.contains("budget US$2.50 per 1 day"), "{message}");
    // The refusal is recorded and costs nothing.
    let records = s.records("metered", 3).await;
    assert_eq!(
        records.iter().map(|r| r.cost_nano_usd).collect::<Vec<_>>(),
        [Some(1_000_000_000), Some(1_000_000_000), Some(0)]
    );

    // Per key: each key has its own $1.50.
    budget_policy(&s.server, "per-key", json!({"costUsd": 1.5, "perKey": true})).await;
    s.model("per-key", "openai", "gpt-4o-mini", dollar_a_request(&["per-key"])).await;
    let (_, other) = service_account_key(&s.server, "default", None).await;
    assert_eq!(s.status_as(ADMIN_KEY, "per-key").await.0, StatusCode::OK);
    assert_eq!(s.status_as(ADMIN_KEY, "per-key").await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(s.status_as(&other, "per-key").await.0, StatusCode::OK, "another key's budget is untouched");

    // A model without a price is never refused for a budget.
    s.model("free", "openai", "a-model-nobody-prices", json!({"policies": ["two-fifty-a-day"]})).await;
    for _ in 0..4 {
        assert_eq!(s.status_as(ADMIN_KEY, "free").await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_workspace_wide_budget_covers_every_model_attached_or_not() {
    let s = setup_with(|_| {}).await;
    budget_policy(&s.server, "workspace-budget", json!({"costUsd": 2.5, "workspaceWide": true})).await;
    s.model("one", "openai", "gpt-4o-mini", dollar_a_request(&[])).await;
    assert_eq!(s.status_as(ADMIN_KEY, "one").await.0, StatusCode::OK);
    // A model created after the policy is covered too, and counts in the same budget.
    s.model("two", "openai", "gpt-4o-mini", dollar_a_request(&["workspace-budget"])).await;
    assert_eq!(s.status_as(ADMIN_KEY, "two").await.0, StatusCode::OK);
    let (status, _, body) = s.status_as(ADMIN_KEY, "one").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("across the workspace's models"), "{body}");
    assert_eq!(s.status_as(ADMIN_KEY, "two").await.0, StatusCode::TOO_MANY_REQUESTS);

    // Raising the budget lets requests through again.
    let raised = json!({"metadata": {"name": "workspace-budget"}, "spec": {"type": "maxToken",
        "maxTokens": {"granularity": "day", "step": 1, "costUsd": 10, "workspaceWide": true}}});
    let (status, body) = s.server.put("/policies/workspace-budget", raised).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(s.status_as(ADMIN_KEY, "one").await.0, StatusCode::OK);

    let (status, body) = s
        .server
        .post(
            "/policies",
            json!({"metadata": {"name": "bad"}, "spec": {"type": "maxToken",
        "maxTokens": {"granularity": "day", "costUsd": -1}}}),
        )
        .await;
    assert!(assert_error(status, &body, StatusCode::BAD_REQUEST).contains("costUsd"), "{body}");
}

#[tokio::test]
async fn a_large_output_bound_does_not_lock_a_budget_after_one_call() {
    let s = setup_with(|_| {}).await;
    // A cent a day; each call may write 100,000 tokens ($0.06 at gpt-4o-mini's output price),
    // but spends a few millionths of a dollar.
    budget_policy(&s.server, "a-cent-a-day", json!({"costUsd": 0.01})).await;
    s.model("bounded", "openai", "gpt-4o-mini", json!({"policies": ["a-cent-a-day"]})).await;
    let url = format!("{}/default/models/bounded/v1/chat/completions", s.run);
    let mut body = chat(false);
    body["max_tokens"] = json!(100_000);
    for call in 0..5 {
        let response = s.server.client.post(&url).bearer_auth(ADMIN_KEY).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "call {call}: {}", response.text().await.unwrap());
    }
}

#[tokio::test]
async fn a_client_that_hangs_up_before_the_usage_keeps_its_reservation_counted() {
    let s = setup_with(|_| {}).await;
    // 1,000 tokens a day; each call may write 600: one call's reservation, not two, fits.
    let policy = json!({"metadata": {"name": "thousand"}, "spec": {"type": "maxToken",
        "maxTokens": {"granularity": "day", "step": 1, "total": 1000}}});
    assert_eq!(s.server.post("/policies", policy).await.0, StatusCode::OK);
    s.model("limited", "openai", "gpt-4o-mini", json!({"policies": ["thousand"]})).await;
    let url = format!("{}/default/models/limited/v1/chat/completions", s.run);
    let mut body = chat(true);
    body["max_tokens"] = json!(600);

    // A stream the client leaves after its first bytes, before the usage chunk.
    let mut response = s
        .server
        .client
        .post(&url)
        .bearer_auth(ADMIN_KEY)
        .header("x-mock-chunks", "20")
        .header("x-mock-chunk-delay-ms", "200")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.chunk().await.unwrap().is_some());
    drop(response);
    let records = s.records("limited", 1).await;
    assert_eq!((records[0].status, records[0].output_tokens), (499, 0), "{records:?}");

    // Its 600-odd tokens stay counted: the next call's reservation does not fit.
    let response = s.server.client.post(&url).bearer_auth(ADMIN_KEY).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{}", response.text().await.unwrap());
}
