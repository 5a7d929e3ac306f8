//! `maxToken` windows under concurrency: 50 clients at once against a policy of 1,000 total
//! tokens a minute, with mock answers of a known size (202 tokens). Admission reserves an
//! estimate of each request's tokens, so what is spent stays within the bound the README
//! documents: the limit plus the sum of (actual - reserved) over the requests in flight. One
//! node here; two nodes sharing Redis in `shared_limits`.

use crate::common::*;
use modelgate_mock_provider::{MockConfig, MockProvider};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

/// The policy: total tokens a minute.
pub const LIMIT: i64 = 1000;
/// Clients sending at once, each [`REQUESTS_PER_CLIENT`] requests one after the other.
pub const CLIENTS: usize = 50;
const REQUESTS_PER_CLIENT: usize = 4;
/// Every mock answer: 200 completion tokens, and 2 prompt tokens for "hi".
pub const ANSWER_TOKENS: i64 = 202;
/// The estimate's output when a request names no maximum (`reservation::DEFAULT_OUTPUT_TOKENS`).
const DEFAULT_OUTPUT_TOKENS: i64 = 256;

/// Twenty seconds into a minute, so every request of a test falls in one window.
pub struct FixedClock;

impl modelgate_inference::Clock for FixedClock {
    fn now_secs(&self) -> i64 {
        1_764_115_220
    }
}

/// A mock provider whose answers use [`ANSWER_TOKENS`] tokens.
pub async fn mock() -> MockProvider {
    MockProvider::start(MockConfig { chunks: 200, ..Default::default() }).await.unwrap()
}

/// A chat request, naming its maximum output or not.
pub fn body(max_tokens: Option<i64>) -> Value {
    let mut body = json!({"messages": [{"role": "user", "content": "hi"}]});
    if let Some(max) = max_tokens {
        body["max_tokens"] = json!(max);
    }
    body
}

/// The bound on tokens spent in one window for requests like `body`: each reserves a quarter
/// of its bytes plus its maximum (or the default); at most `LIMIT / reserved` are in flight at
/// once, and each may use `ANSWER_TOKENS - reserved` more than it reserved.
pub fn bound(body: &Value) -> i64 {
    let input = i64::try_from(serde_json::to_vec(body).unwrap().len().div_ceil(4)).unwrap();
    let reserved = input + body["max_tokens"].as_i64().unwrap_or(DEFAULT_OUTPUT_TOKENS);
    LIMIT + (LIMIT / reserved) * (ANSWER_TOKENS - reserved).max(0)
}

/// What the clients got.
#[derive(Debug, Default)]
pub struct Outcome {
    pub admitted: usize,
    pub refused: usize,
    /// Total tokens of the answers' usage.
    pub spent: i64,
}

/// [`CLIENTS`] clients at once, each sending [`REQUESTS_PER_CLIENT`] requests with `body` to
/// `model`, client `i` through node `i % nodes.len()` (its inference URL). The mock holds each
/// answer 100 ms, so requests overlap.
pub async fn spend(client: &reqwest::Client, nodes: &[String], model: &str, body: &Value) -> Outcome {
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let url = format!("{}/default/models/{model}/v1/chat/completions", nodes[i % nodes.len()]);
            let (client, body) = (client.clone(), body.clone());
            tokio::spawn(async move {
                let mut outcome = Outcome::default();
                for _ in 0..REQUESTS_PER_CLIENT {
                    let request = client.post(&url).bearer_auth(ADMIN_KEY).header("x-mock-delay-ms", "100").json(&body);
                    let response = request.send().await.unwrap();
                    match response.status() {
                        StatusCode::OK => {
                            let answer: Value = response.json().await.unwrap();
                            outcome.admitted += 1;
                            outcome.spent += answer["usage"]["total_tokens"].as_i64().unwrap();
                        }
                        StatusCode::TOO_MANY_REQUESTS => {
                            assert!(response.headers().contains_key("retry-after"));
                            let refusal: Value = response.json().await.unwrap();
                            assert_eq!(refusal["error"]["code"], "USAGE_LIMIT_EXCEEDED", "{refusal}");
                            outcome.refused += 1;
                        }
                        status => panic!("unexpected {status}: {}", response.text().await.unwrap()),
                    }
                }
                outcome
            })
        })
        .collect();
    let mut total = Outcome::default();
    for client in clients {
        let outcome = client.await.unwrap();
        total.admitted += outcome.admitted;
        total.refused += outcome.refused;
        total.spent += outcome.spent;
    }
    total
}

/// A policy of [`LIMIT`] total tokens a minute and a model `name` under it, on `mock`.
pub async fn limited_model(server: &TestServer, mock: &MockProvider, name: &str) {
    let connection = json!({"metadata": {"name": format!("{name}-mock")}, "spec": {"integration": "openai",
        "config": {"url": mock.base_url()}, "secret": {"apiKey": "sk-mock-upstream-key"}}});
    assert_eq!(server.post("/integrations/connections", connection).await.0, StatusCode::OK);
    let policy = json!({"metadata": {"name": format!("{name}-tpm")}, "spec": {"type": "maxToken",
        "maxTokens": {"granularity": "minute", "step": 1, "total": LIMIT}}});
    assert_eq!(server.post("/policies", policy).await.0, StatusCode::OK);
    let model = json!({"metadata": {"name": name}, "spec": {"integrationConnections": [format!("{name}-mock")],
        "policies": [format!("{name}-tpm")], "runtime": {"type": "openai", "model": "gpt-4o-mini"}}});
    assert_eq!(server.post("/models", model).await.0, StatusCode::OK);
}

/// Checks one load's outcome against the bound, and says what it measured.
pub fn check(setting: &str, body: &Value, outcome: &Outcome) {
    let bound = bound(body);
    println!(
        "{setting}: {CLIENTS} clients, {} admitted, {} refused: {} tokens spent of {LIMIT} ({:+.1}%), bound {bound}",
        outcome.admitted,
        outcome.refused,
        outcome.spent,
        (outcome.spent - LIMIT) as f64 * 100.0 / LIMIT as f64
    );
    assert!(outcome.admitted > 0 && outcome.refused > 0, "{outcome:?}");
    assert!(outcome.spent <= bound, "{setting}: {} tokens spent, over the bound {bound}", outcome.spent);
}

/// A node whose clock stands still (one window for the whole test), and its inference URL.
async fn node() -> (TestServer, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = args_for(dir.path());
    args.clock = Some(Arc::new(FixedClock));
    let server = TestServer::start_with(dir, args).await;
    let run = format!("http://{}", server.server.as_ref().unwrap().run_addr.unwrap());
    (server, run)
}

#[tokio::test]
async fn fifty_concurrent_clients_spend_within_the_bound_on_one_node() {
    let (server, run) = node().await;
    let mock = mock().await;

    // No maximum named: each reserves the default (more than it uses), so the limit holds.
    limited_model(&server, &mock, "unnamed").await;
    let unnamed = body(None);
    assert_eq!(bound(&unnamed), LIMIT);
    let outcome = spend(&server.client, std::slice::from_ref(&run), "unnamed", &unnamed).await;
    check("one node, no max_tokens", &unnamed, &outcome);

    // A maximum below what the answers use: the overshoot is bounded by the excess in flight.
    limited_model(&server, &mock, "underestimated").await;
    let underestimated = body(Some(100));
    let outcome = spend(&server.client, std::slice::from_ref(&run), "underestimated", &underestimated).await;
    check("one node, max_tokens 100", &underestimated, &outcome);
}

/// A client that gives up before the provider answers (its request is dropped, never recorded)
/// gives its reservation back: the window is not held until it ends.
#[tokio::test]
async fn a_request_the_client_abandons_gives_its_reservation_back() {
    let (server, run) = node().await;
    let mock = mock().await;
    limited_model(&server, &mock, "abandoned").await;
    let url = format!("{run}/default/models/abandoned/v1/chat/completions");
    // Each request reserves 256 + 12 tokens: three do not fit in 1,000 at once.
    let send = |delay_ms: &'static str| {
        server.client.post(&url).bearer_auth(ADMIN_KEY).header("x-mock-delay-ms", delay_ms).json(&body(None))
    };
    for _ in 0..3 {
        let gave_up = send("60000").timeout(std::time::Duration::from_millis(300)).send().await;
        assert!(gave_up.unwrap_err().is_timeout());
    }
    let admitted = async || send("0").send().await.unwrap().status() == StatusCode::OK;
    let mut waited = std::time::Duration::ZERO;
    while !admitted().await {
        assert!(waited < std::time::Duration::from_secs(5), "the abandoned requests still hold the window");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        waited += std::time::Duration::from_millis(50);
    }
}
