//! The inference plane over real sockets, against mock providers that speak each provider's
//! wire format: routing, credentials, streaming, usage, policies, fallback and faults.

use crate::common::*;
use modelgate_mock_provider::{Fault, MockConfig, MockProvider};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PROVIDER_KEY: &str = "sk-mock-upstream-key";

struct Setup {
    server: TestServer,
    mock: MockProvider,
    run: String,
}

async fn setup() -> Setup {
    setup_with(|_| {}).await
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

impl Setup {
    async fn connection(&self, name: &str, integration: &str, config: Value) {
        let mut config = config;
        config["url"] = json!(self.mock.base_url());
        let body = json!({"metadata": {"name": name}, "spec": {"integration": integration, "config": config, "secret": {"apiKey": PROVIDER_KEY}}});
        let (status, response) = self.server.post("/integrations/connections", body).await;
        assert_eq!(status, StatusCode::OK, "{response}");
    }

    async fn model(&self, name: &str, runtime_type: &str, connections: &[&str], model: &str) -> Value {
        let body = json!({"metadata": {"name": name}, "spec": {"integrationConnections": connections, "runtime": {"type": runtime_type, "model": model}}});
        let (status, response) = self.server.post("/models", body).await;
        assert_eq!(status, StatusCode::OK, "{response}");
        response
    }

    fn call(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.server.client.request(method, format!("{}{path}", self.run))
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let response = self.call(Method::POST, path).bearer_auth(ADMIN_KEY).json(&body).send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap())
    }

    async fn usage(&self, model: &str, requests: u64) -> Value {
        for _ in 0..50 {
            let (status, usage) = self.server.get(&format!("/models/{model}/usage")).await;
            assert_eq!(status, StatusCode::OK, "{usage}");
            if usage["totals"]["requests"].as_u64() >= Some(requests) {
                return usage;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("usage of {model} never reached {requests} requests");
    }
}

fn chat(stream: bool) -> Value {
    json!({"model": "anything", "stream": stream, "messages": [{"role": "user", "content": "hello from the test"}]})
}

#[tokio::test]
async fn openai_plain_and_streamed_with_credentials_swapped_and_usage_recorded() {
    let s = setup().await;
    s.connection("openai", "openai", json!({})).await;
    s.model("gpt", "openai", &["openai"], "gpt-4o-mini").await;

    let (status, headers, body) = s.post("/default/models/gpt/v1/chat/completions", chat(false)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(headers.get("x-blaxel-source").is_none(), "the provider answered");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert!(answer["choices"][0]["message"]["content"].as_str().unwrap().starts_with("Hello from the mock"));
    assert_eq!(answer["model"], "gpt-4o-mini", "runtime.model was applied");

    let received = s.mock.requests().last().cloned().unwrap();
    assert_eq!(received.path, "/v1/chat/completions");
    assert_eq!(received.header("authorization"), Some(format!("Bearer {PROVIDER_KEY}").as_str()));
    assert_eq!(received.json().unwrap()["model"], "gpt-4o-mini");
    for (name, value) in &received.headers {
        assert!(!value.contains(ADMIN_KEY), "the modelgate key reached the provider in {name}");
    }

    // Streamed without asking for usage: modelgate asks, counts, and hides the extra chunk.
    let (status, headers, body) = s.post("/default/models/gpt/chat/completions", chat(true)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let events = sse_data(&body);
    assert!(events.len() >= 5);
    assert!(events.iter().all(|e| !e["choices"].as_array().unwrap().is_empty()), "no usage-only chunk: {body}");
    assert!(body.trim_end().ends_with("data: [DONE]"));
    let sent = s.mock.requests().last().unwrap().json().unwrap();
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(s.mock.requests().last().unwrap().path, "/v1/chat/completions", "/chat/completions gains /v1");

    // Streamed with usage asked: the caller sees the usage chunk.
    let mut asked = chat(true);
    asked["stream_options"] = json!({"include_usage": true});
    let (_, _, body) = s.post("/default/models/gpt/v1/chat/completions", asked).await;
    let events = sse_data(&body);
    let last = events.last().unwrap();
    assert!(
        last["choices"].as_array().unwrap().is_empty() && last["usage"]["total_tokens"].as_i64().unwrap() > 0,
        "{body}"
    );

    let usage = s.usage("gpt", 3).await;
    let totals = &usage["totals"];
    assert_eq!(totals["requests"], 3);
    assert_eq!(totals["errors"], 0);
    let plain = answer["usage"]["total_tokens"].as_i64().unwrap();
    let streamed = last["usage"]["total_tokens"].as_i64().unwrap();
    assert_eq!(totals["totalTokens"].as_i64().unwrap(), plain + 2 * streamed, "{usage}");
}

#[tokio::test]
async fn every_openai_compatible_runtime_type_reaches_its_provider() {
    let s = setup().await;
    for (index, runtime_type) in [
        "openai",
        "mistral",
        "deepseek",
        "cerebras",
        "xai",
        "groq",
        "huggingface",
        "hf_public_endpoint",
        "hf_private_endpoint",
        "public_model",
        "azure-marketplace",
    ]
    .iter()
    .enumerate()
    {
        let connection = format!("c{index}");
        let integration = if runtime_type.starts_with("hf_") || *runtime_type == "public_model" {
            "huggingface"
        } else {
            runtime_type
        };
        s.connection(&connection, integration, json!({})).await;
        s.model(&format!("m{index}"), runtime_type, &[&connection], "some-model").await;
        let (status, _, body) = s.post(&format!("/default/models/m{index}/v1/chat/completions"), chat(false)).await;
        assert_eq!(status, StatusCode::OK, "{runtime_type}: {body}");
        let received = s.mock.requests().last().cloned().unwrap();
        assert_eq!(received.header("authorization"), Some(format!("Bearer {PROVIDER_KEY}").as_str()), "{runtime_type}");
        assert_eq!(received.json().unwrap()["model"], "some-model", "{runtime_type}");
    }
}

#[tokio::test]
async fn anthropic_gemini_cohere_azure_vertex_and_mcp_natively() {
    let s = setup().await;
    s.connection("ant", "anthropic", json!({})).await;
    s.model("claude", "anthropic", &["ant"], "claude-sonnet-4-20250514").await;
    let message = json!({"model": "x", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]});
    // The Anthropic SDK sends its API key as x-api-key: the modelgate key works there.
    let response = s
        .call(Method::POST, "/default/models/claude/v1/messages")
        .header("x-api-key", ADMIN_KEY)
        .json(&message)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["type"], "message");
    let received = s.mock.requests().last().cloned().unwrap();
    assert_eq!(received.header("x-api-key"), Some(PROVIDER_KEY));
    assert_eq!(received.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(received.json().unwrap()["model"], "claude-sonnet-4-20250514");
    let mut streamed = message.clone();
    streamed["stream"] = json!(true);
    let (status, _, body) = s.post("/default/models/claude/v1/messages", streamed).await;
    assert_eq!(status, StatusCode::OK);
    for event in ["message_start", "content_block_delta", "message_delta", "message_stop"] {
        assert!(body.contains(&format!("event: {event}")), "{event} in {body}");
    }

    s.connection("gem", "gemini", json!({})).await;
    s.model("gemini", "gemini", &["gem"], "gemini-2.0-flash").await;
    let content = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
    let response = s
        .call(Method::POST, "/default/models/gemini/v1beta/models/whatever:generateContent")
        .header("x-goog-api-key", ADMIN_KEY)
        .json(&content)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let received = s.mock.requests().last().cloned().unwrap();
    assert_eq!(received.path, "/v1beta/models/gemini-2.0-flash:generateContent");
    assert_eq!(received.header("x-goog-api-key"), Some(PROVIDER_KEY));
    let (status, _, body) =
        s.post("/default/models/gemini/v1beta/models/x:streamGenerateContent?alt=sse", content.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("usageMetadata"));
    assert_eq!(s.mock.requests().last().unwrap().query.as_deref(), Some("alt=sse"));

    s.connection("co", "cohere", json!({})).await;
    s.model("command", "cohere", &["co"], "command-r-plus").await;
    let chat_body = json!({"model": "x", "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, body) = s.post("/default/models/command/v2/chat", chat_body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(s.mock.requests().last().unwrap().json().unwrap()["model"], "command-r-plus");
    let mut stream_body = chat_body;
    stream_body["stream"] = json!(true);
    let (_, _, body) = s.post("/default/models/command/v2/chat", stream_body).await;
    assert!(body.contains("message-end"), "{body}");

    s.connection("az", "azure-openai-service", json!({})).await;
    s.model("azure", "azure-openai-service", &["az"], "gpt4o-deployment").await;
    let response = s
        .call(Method::POST, "/default/models/azure/chat/completions")
        .header("api-key", ADMIN_KEY)
        .json(&chat(false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let received = s.mock.requests().last().cloned().unwrap();
    assert_eq!(received.path, "/openai/deployments/gpt4o-deployment/chat/completions");
    assert_eq!(received.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(received.header("api-key"), Some(PROVIDER_KEY));

    s.connection("vx", "vertexai", json!({"projectId": "my-project", "location": "europe-west4"})).await;
    s.model("vertex", "vertexai", &["vx"], "gemini-2.0-flash").await;
    let (status, _, body) = s.post("/default/models/vertex/v1beta/models/x:generateContent", content).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let received = s.mock.requests().last().cloned().unwrap();
    assert_eq!(
        received.path,
        "/v1/projects/my-project/locations/europe-west4/publishers/google/models/gemini-2.0-flash:generateContent"
    );
    assert_eq!(received.header("authorization"), Some(format!("Bearer {PROVIDER_KEY}").as_str()));

    s.connection("tools", "mcp", json!({})).await;
    s.model("mcp", "mcp", &["tools"], "mcp-server").await;
    let (status, _, body) =
        s.post("/default/models/mcp/mcp", json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("echo"));

    let usage = s.usage("claude", 2).await;
    assert!(
        usage["totals"]["inputTokens"].as_i64().unwrap() > 0 && usage["totals"]["outputTokens"].as_i64().unwrap() > 0,
        "{usage}"
    );
    let usage = s.usage("gemini", 2).await;
    assert!(usage["totals"]["totalTokens"].as_i64().unwrap() > 0, "{usage}");
    let usage = s.usage("command", 2).await;
    assert!(usage["totals"]["totalTokens"].as_i64().unwrap() > 0, "{usage}");
}

#[tokio::test]
async fn provider_errors_pass_through_and_gateway_errors_say_so() {
    let s = setup().await;
    s.connection("openai", "openai", json!({})).await;
    s.model("gpt", "openai", &["openai"], "gpt-4o-mini").await;
    let response = s
        .call(Method::POST, "/default/models/gpt/v1/chat/completions")
        .bearer_auth(ADMIN_KEY)
        .header("x-mock-status", "400")
        .json(&chat(false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("x-blaxel-source").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error", "the provider's own error body: {body}");

    let cases: Vec<(Option<&str>, &str, StatusCode, &str)> = vec![
        (None, "/default/models/gpt/v1/chat/completions", StatusCode::UNAUTHORIZED, "AUTHENTICATION_REQUIRED"),
        (
            Some("mgk_wrong"),
            "/default/models/gpt/v1/chat/completions",
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION_FAILED",
        ),
        (Some(ADMIN_KEY), "/default/models/nope/v1/chat/completions", StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND"),
        (Some(ADMIN_KEY), "/nowhere/models/gpt/v1/chat/completions", StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND"),
        (Some(ADMIN_KEY), "/default/other", StatusCode::NOT_FOUND, "ROUTE_NOT_FOUND"),
    ];
    let before = s.mock.request_count();
    for (key, path, expected, code) in cases {
        let mut request = s.call(Method::POST, path).json(&chat(false));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), expected, "{path}");
        assert_eq!(response.headers()["x-blaxel-source"], "platform");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(s.mock.request_count(), before, "nothing was forwarded");
}

#[tokio::test]
async fn disabled_models_other_workspaces_revoked_keys_and_scopes_are_refused() {
    let s = setup().await;
    s.connection("openai", "openai", json!({})).await;
    let created = s.model("gpt", "openai", &["openai"], "gpt-4o-mini").await;

    // A service account of another workspace.
    let (status, _) = s.server.post("/workspaces", json!({"name": "other"})).await;
    assert_eq!(status, StatusCode::OK);
    let ws = [("X-Blaxel-Workspace", "other")];
    let (_, account) =
        s.server.call_as(ADMIN_KEY, Method::POST, "/service_accounts", Some(json!({"name": "a"})), &ws).await;
    let keys = format!("/service_accounts/{}/api_keys", account["client_id"].as_str().unwrap());
    let (_, other_key) = s.server.call_as(ADMIN_KEY, Method::POST, &keys, Some(json!({})), &ws).await;
    let other_key = other_key["apiKey"].as_str().unwrap().to_string();
    // And keys of this workspace: one that may invoke, one that may not.
    let (_, mine) = s.server.post("/service_accounts", json!({"name": "app"})).await;
    let my_keys = format!("/service_accounts/{}/api_keys", mine["client_id"].as_str().unwrap());
    let (_, invoker) = s.server.post(&my_keys, json!({"scopes": ["models:invoke"]})).await;
    let (_, reader) = s.server.post(&my_keys, json!({"scopes": ["models:get"]})).await;
    let invoker_key = invoker["apiKey"].as_str().unwrap().to_string();

    let path = "/default/models/gpt/v1/chat/completions";
    let send = |key: String| {
        let request = s.call(Method::POST, path).bearer_auth(key).json(&chat(false));
        async move { request.send().await.unwrap() }
    };
    let before = s.mock.request_count();
    assert_eq!(send(other_key.clone()).await.status(), StatusCode::NOT_FOUND);
    let refused = send(reader["apiKey"].as_str().unwrap().to_string()).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("models:invoke"));
    assert_eq!(send(invoker_key.clone()).await.status(), StatusCode::OK);

    // Revocation is visible to the very next request.
    let (status, _) = s.server.delete(&format!("{my_keys}/{}", invoker["id"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(send(invoker_key).await.status(), StatusCode::UNAUTHORIZED);

    // So is disabling the model.
    let mut disabled = created.clone();
    disabled["spec"]["enabled"] = json!(false);
    assert_eq!(s.server.put("/models/gpt", disabled).await.0, StatusCode::OK);
    let response = send(ADMIN_KEY.to_string()).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "MODEL_DISABLED");
    assert_eq!(s.mock.request_count(), before + 1, "only the allowed request was forwarded");

    // Re-enabled, and pointed at another model: the next request sees both changes.
    let mut changed = created;
    changed["spec"]["runtime"]["model"] = json!("gpt-4.1");
    assert_eq!(s.server.put("/models/gpt", changed).await.0, StatusCode::OK);
    assert_eq!(send(ADMIN_KEY.to_string()).await.status(), StatusCode::OK);
    assert_eq!(s.mock.requests().last().unwrap().json().unwrap()["model"], "gpt-4.1");
}

struct ManualClock(AtomicI64);

impl modelgate_inference::Clock for ManualClock {
    fn now_secs(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn max_token_windows_refuse_what_does_not_fit_until_the_next_window() {
    let clock = Arc::new(ManualClock(AtomicI64::new(1_700_000_100)));
    let shared = clock.clone();
    let s = setup_with(move |args| args.clock = Some(shared)).await;
    s.connection("openai", "openai", json!({})).await;
    let policy = json!({"metadata": {"name": "tpm"}, "spec": {"type": "maxToken", "maxTokens": {"granularity": "minute", "step": 1, "total": 40}}});
    assert_eq!(s.server.post("/policies", policy).await.0, StatusCode::OK);
    let body = json!({"metadata": {"name": "gpt"}, "spec": {"integrationConnections": ["openai"], "policies": ["tpm"], "runtime": {"type": "openai", "model": "m"}}});
    assert_eq!(s.server.post("/models", body).await.0, StatusCode::OK);

    let path = "/default/models/gpt/v1/chat/completions";
    // Each mock answer uses 10 tokens. A request reserves a quarter of its body's bytes (about
    // 28 here) plus its max_tokens (1): two such reservations do not fit in 40 at once, but
    // once the first is settled to 10 tokens the second fits.
    let mut small = chat(false);
    small["max_tokens"] = json!(1);
    assert_eq!(s.post(path, small.clone()).await.0, StatusCode::OK);
    assert_eq!(s.post(path, small.clone()).await.0, StatusCode::OK, "10 used + 29 reserved <= 40");
    let (status, headers, body) = s.post(path, small.clone()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "20 used + 29 wanted > 40: {body}");
    assert_eq!(headers["x-blaxel-source"], "platform");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(body.contains("USAGE_LIMIT_EXCEEDED"));
    // Without max_tokens, the default estimate (256) is more than the whole limit: such a
    // request is admitted into an empty window only.
    clock.0.store(1_700_000_160, Ordering::SeqCst);
    assert_eq!(s.post(path, chat(false)).await.0, StatusCode::OK, "the next window works again");
    assert_eq!(s.post(path, small).await.0, StatusCode::OK, "10 used + 29 reserved <= 40");
    assert_eq!(s.post(path, chat(false)).await.0, StatusCode::TOO_MANY_REQUESTS, "the window is not empty");
}

#[tokio::test]
async fn location_policies_follow_the_node_location() {
    let s = setup_with(|args| args.location_continent = Some("eu".into())).await;
    s.connection("openai", "openai", json!({})).await;
    for (name, continent) in [("eu-only", "EU"), ("na-only", "na")] {
        let policy = json!({"metadata": {"name": name}, "spec": {"type": "location", "locations": [{"name": continent, "type": "continent"}]}});
        assert_eq!(s.server.post("/policies", policy).await.0, StatusCode::OK);
        let model = json!({"metadata": {"name": format!("m-{name}")}, "spec": {"integrationConnections": ["openai"], "policies": [name], "runtime": {"type": "openai"}}});
        assert_eq!(s.server.post("/models", model).await.0, StatusCode::OK);
    }
    assert_eq!(s.post("/default/models/m-eu-only/v1/chat/completions", chat(false)).await.0, StatusCode::OK);
    let (status, _, body) = s.post("/default/models/m-na-only/v1/chat/completions", chat(false)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("POLICY_VIOLATION"));
}

#[tokio::test]
async fn fallback_to_the_next_connection_on_errors_and_rate_limits() {
    let s = setup().await;
    let failing = MockProvider::start(MockConfig {
        fault: Some(Fault::Status { status: 503, retry_after: None }),
        ..Default::default()
    })
    .await
    .unwrap();
    let limited = MockProvider::start(MockConfig {
        fault: Some(Fault::Status { status: 429, retry_after: Some(30) }),
        ..Default::default()
    })
    .await
    .unwrap();
    for (name, url) in [
        ("down", failing.base_url()),
        ("limited", limited.base_url()),
        ("unreachable", "http://127.0.0.1:9".to_string()),
    ] {
        let body = json!({"metadata": {"name": name}, "spec": {"integration": "openai", "config": {"url": url}, "secret": {"apiKey": PROVIDER_KEY}}});
        assert_eq!(s.server.post("/integrations/connections", body).await.0, StatusCode::OK);
    }
    s.connection("good", "openai", json!({})).await;
    s.model("gpt", "openai", &["unreachable", "down", "limited", "good"], "m").await;
    let (status, _, body) = s.post("/default/models/gpt/v1/chat/completions", chat(false)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((failing.request_count(), limited.request_count(), s.mock.request_count()), (1, 1, 1));
    // The rate-limited connection rests for its Retry-After: the next request does not try it first.
    let (status, _, _) = s.post("/default/models/gpt/v1/chat/completions", chat(false)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(limited.request_count(), 1, "resting until Retry-After");
    // A configuration change rebuilds the routes; the connection keeps resting.
    let policy = json!({"metadata": {"name": "anywhere"}, "spec": {"type": "location", "locations": [{"type": "country", "name": "FR"}]}});
    assert_eq!(s.server.post("/policies", policy).await.0, StatusCode::OK);
    assert_eq!(s.post("/default/models/gpt/v1/chat/completions", chat(false)).await.0, StatusCode::OK);
    assert_eq!(limited.request_count(), 1, "still resting after a rebuild");

    // When every connection fails, the last provider answer passes through.
    s.model("only-bad", "openai", &["down"], "m").await;
    let (status, headers, _) = s.post("/default/models/only-bad/v1/chat/completions", chat(false)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.get("x-blaxel-source").is_none());
    // And when none answers at all, the gateway says so.
    s.model("dead", "openai", &["unreachable"], "m").await;
    let (status, headers, body) = s.post("/default/models/dead/v1/chat/completions", chat(false)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(headers["x-blaxel-error-code"], "UPSTREAM_UNAVAILABLE");

    // Every failed attempt is counted, by where it failed.
    let metrics_url = s.server.api.replace("/v0", "/metrics");
    let metrics = s.server.client.get(metrics_url).bearer_auth(ADMIN_KEY).send().await.unwrap().text().await.unwrap();
    let failures =
        r#"modelgate_upstream_attempt_failures_total{provider="openai",source="provider",code="UPSTREAM_UNAVAILABLE"}"#;
    assert!(metrics.contains(failures), "{metrics}");
}

/// A policy whose stored spec cannot be read never means "no limit": the models that use it
/// refuse requests, and saving such a model again fails its deployment with the reason.
#[tokio::test]
async fn a_model_whose_policy_cannot_be_read_refuses_requests_and_fails_to_deploy() {
    let s = setup().await;
    s.connection("openai", "openai", json!({})).await;
    let policy = json!({"metadata": {"name": "tpm"}, "spec": {"type": "maxToken", "maxTokens": {"granularity": "minute", "step": 1, "total": 1000000}}});
    assert_eq!(s.server.post("/policies", policy).await.0, StatusCode::OK);
    let model = json!({"metadata": {"name": "gpt"}, "spec": {"integrationConnections": ["openai"], "policies": ["tpm"], "runtime": {"type": "openai", "model": "m"}}});
    assert_eq!(s.server.post("/models", model.clone()).await.0, StatusCode::OK);
    let path = "/default/models/gpt/v1/chat/completions";
    assert_eq!(s.post(path, chat(false)).await.0, StatusCode::OK);

    // The stored policy becomes unreadable (written by hand, or by a newer version).
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", s.server.db_path().display())).await.unwrap();
    let changed = sqlx::query(
        "UPDATE resources SET document = json_set(document, '$.spec.maxTokens', 'unlimited') WHERE kind = 'policy' AND name = 'tpm'",
    )
    .execute(&db)
    .await
    .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    db.close().await;
    // Any connection or policy write rebuilds every route from the store.
    let other = json!({"metadata": {"name": "other"}, "spec": {"type": "location", "locations": [{"type": "country", "name": "FR"}]}});
    assert_eq!(s.server.post("/policies", other).await.0, StatusCode::OK);

    let (status, headers, body) = s.post(path, chat(false)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(headers["x-blaxel-error-code"], "MODEL_MISCONFIGURED");
    assert!(body.contains("policy 'tpm' cannot be read"), "{body}");
    assert_eq!(s.mock.request_count(), 1, "nothing more went upstream");

    let (status, saved) = s.server.put("/models/gpt", model).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["status"], "FAILED", "{saved}");
    let last_event = saved["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last_event["status"], "FAILED", "{saved}");
    assert!(last_event["message"].as_str().unwrap().contains("policy 'tpm' cannot be read"), "{last_event}");
}

#[tokio::test]
async fn streams_flow_as_they_come_and_break_loudly() {
    let s = setup().await;
    s.connection("openai", "openai", json!({})).await;
    s.model("gpt", "openai", &["openai"], "m").await;
    let path = "/default/models/gpt/v1/chat/completions";

    // The first chunk arrives while the provider is still streaming (200 ms between events).
    let started = Instant::now();
    let mut response = s
        .call(Method::POST, path)
        .bearer_auth(ADMIN_KEY)
        .header("x-mock-chunk-delay-ms", "200")
        .header("x-mock-chunks", "6")
        .json(&chat(true))
        .send()
        .await
        .unwrap();
    let first = response.chunk().await.unwrap().unwrap();
    let first_at = started.elapsed();
    assert!(!first.is_empty());
    assert_eq!(s.mock.open_streams(), 1, "the provider is still sending when the client has its first chunk");
    let mut rest = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    assert!(started.elapsed() > first_at + Duration::from_millis(800), "the rest came later, as the provider sent it");
    assert!(String::from_utf8_lossy(&rest).contains("[DONE]"));

    // A reset mid-stream ends the client's stream with an error, never a clean end.
    let mut response = s
        .call(Method::POST, path)
        .bearer_auth(ADMIN_KEY)
        .header("x-mock-fault", "reset-mid-stream")
        .json(&chat(true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut outcome = Ok(());
    loop {
        match response.chunk().await {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(error) => {
                outcome = Err(error);
                break;
            }
        }
    }
    assert!(outcome.is_err(), "the client must see the break");

    // A client that goes away cancels the upstream stream.
    let mut response = s
        .call(Method::POST, path)
        .bearer_auth(ADMIN_KEY)
        .header("x-mock-chunk-delay-ms", "100")
        .header("x-mock-chunks", "50")
        .json(&chat(true))
        .send()
        .await
        .unwrap();
    response.chunk().await.unwrap();
    assert_eq!(s.mock.open_streams(), 1);
    drop(response);
    for _ in 0..50 {
        if s.mock.open_streams() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.mock.open_streams(), 0, "the upstream stream was cancelled");

    // Every outcome is recorded: 200, the broken stream (502) and the client that left (499).
    let usage = s.usage("gpt", 3).await;
    assert_eq!(usage["totals"]["errors"], 2, "{usage}");
}

#[tokio::test]
async fn a_model_whose_provider_url_cannot_be_built_gets_a_502_and_nothing_goes_upstream() {
    let s = setup().await;
    s.connection("az", "azure-openai-service", json!({})).await;
    // An Azure deployment name is a path segment of the provider's URL: a space cannot be sent.
    s.model("azure", "azure-openai-service", &["az"], "my deployment").await;
    let (status, headers, body) = s.post("/default/models/azure/chat/completions", chat(false)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(headers["x-blaxel-error-code"], "UPSTREAM_UNAVAILABLE");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["code"], "UPSTREAM_UNAVAILABLE");
    assert!(error["error"]["message"].as_str().unwrap().contains("valid provider URL"), "{body}");
    assert_eq!(s.mock.request_count(), 0, "nothing was sent");
    // Metered as the error it is.
    let usage = s.usage("azure", 1).await;
    assert_eq!(usage["totals"]["errors"], 1, "{usage}");
}

#[tokio::test]
async fn a_client_that_does_not_finish_its_headers_in_time_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = setup_with(|args| args.header_timeout = 1).await;
    let api = s.server.api.trim_start_matches("http://").trim_end_matches("/v0").to_string();
    for address in [s.run.trim_start_matches("http://").to_string(), api] {
        let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
        slow.write_all(b"POST /default/v1/chat/completions HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let started = Instant::now();
        let mut answer = Vec::new();
        // The server closes the connection (with or without a 408 first); it never waits forever.
        let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "{address}: still open after 10 s");
        assert!(started.elapsed() >= Duration::from_millis(900), "{address}: closed before the deadline");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{address}: {answer}");
    }
    // Clients that send their requests in one go are unaffected.
    s.connection("openai", "openai", json!({})).await;
    s.model("gpt", "openai", &["openai"], "m").await;
    assert_eq!(s.post("/default/models/gpt/v1/chat/completions", chat(false)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_provider_silent_past_the_idle_timeout_ends_the_stream_with_an_error_metered_504() {
    let s = setup_with(|args| args.idle_timeout = 1).await;
    s.connection("openai", "openai", json!({})).await;
    s.model("gpt", "openai", &["openai"], "m").await;
    let path = "/default/models/gpt/v1/chat/completions";

    // Events 400 ms apart: the stream lasts longer than the idle timeout but is never idle.
    let started = Instant::now();
    let response = s
        .call(Method::POST, path)
        .bearer_auth(ADMIN_KEY)
        .header("x-mock-chunk-delay-ms", "400")
        .header("x-mock-chunks", "2")
        .json(&chat(true))
        .send()
        .await
        .unwrap();
    let body = response.text().await.expect("a stream whose events come within the idle timeout is never cut");
    assert!(body.contains("[DONE]"), "{body}");
    assert!(started.elapsed() > Duration::from_millis(1200), "the stream outlived the idle timeout");

    // Events 2.5 s apart: the stream is cut after 1 s of silence, loudly.
    let started = Instant::now();
    let mut response = s
        .call(Method::POST, path)
        .bearer_auth(ADMIN_KEY)
        .header("x-mock-chunk-delay-ms", "2500")
        .header("x-mock-chunks", "3")
        .json(&chat(true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let outcome = loop {
        match response.chunk().await {
            Ok(Some(_)) => continue,
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    assert!(outcome.is_err(), "the client must see the cut, never a clean end");
    assert!(started.elapsed() < Duration::from_millis(2400), "cut by the idle timeout, before the next event");

    let api_root = s.server.api.trim_end_matches("/v0").to_string();
    let metrics = s.server.client.get(format!("{api_root}/metrics")).send().await.unwrap().text().await.unwrap();
    let labels = r#"workspace="default",model="gpt",provider="openai""#;
    assert!(metrics.contains(&format!("modelgate_requests_total{{{labels},status=\"504\"}} 1")), "{metrics}");
    assert!(metrics.contains(&format!("modelgate_requests_total{{{labels},status=\"200\"}} 1")), "{metrics}");
}

#[tokio::test]
async fn metrics_count_requests_tokens_and_refusals() {
    let s = setup().await;
    s.connection("openai", "openai", json!({})).await;
    let created = s.model("gpt", "openai", &["openai"], "m").await;
    assert_eq!(s.post("/default/models/gpt/v1/chat/completions", chat(false)).await.0, StatusCode::OK);
    let mut disabled = created;
    disabled["spec"]["enabled"] = json!(false);
    assert_eq!(s.server.put("/models/gpt", disabled).await.0, StatusCode::OK);
    assert_eq!(s.post("/default/models/gpt/v1/chat/completions", chat(false)).await.0, StatusCode::FORBIDDEN);

    let api_root = s.server.api.trim_end_matches("/v0").to_string();
    let response = s.server.client.get(format!("{api_root}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let labels = r#"workspace="default",model="gpt",provider="openai""#;
    assert!(text.contains(&format!("modelgate_requests_total{{{labels},status=\"200\"}} 1")), "{text}");
    assert!(text.contains(&format!("modelgate_requests_total{{{labels},status=\"403\"}} 1")), "{text}");
    assert!(text.contains(&format!("modelgate_tokens_total{{{labels},direction=\"output\"}}")), "{text}");
    assert!(text.contains("modelgate_routes 1"));
    assert!(text.contains("modelgate_gateway_overhead_seconds_count 1"));
    // The refused request is metered as an error.
    let usage = s.usage("gpt", 2).await;
    assert_eq!(usage["totals"]["errors"], 1);
}

#[tokio::test]
async fn request_rate_limits_per_key() {
    let s = setup().await;
    s.connection("openai", "openai", json!({})).await;
    let policy = json!({"metadata": {"name": "rpm"}, "spec": {"type": "maxToken",
        "maxTokens": {"granularity": "minute", "step": 1, "requests": 2, "perKey": true}}});
    let (status, created) = s.server.post("/policies", policy).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["spec"]["maxTokens"]["perKey"], true);
    let body = json!({"metadata": {"name": "gpt"}, "spec": {"integrationConnections": ["openai"], "policies": ["rpm"], "runtime": {"type": "openai", "model": "m"}}});
    assert_eq!(s.server.post("/models", body).await.0, StatusCode::OK);
    let (_, account) = s.server.post("/service_accounts", json!({"name": "app"})).await;
    let keys = format!("/service_accounts/{}/api_keys", account["client_id"].as_str().unwrap());
    let (_, other) = s.server.post(&keys, json!({})).await;
    let other = other["apiKey"].as_str().unwrap().to_string();

    let path = "/default/models/gpt/v1/chat/completions";
    let send = |key: String| {
        let request = s.call(Method::POST, path).bearer_auth(key).json(&chat(false));
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(send(ADMIN_KEY.into()).await, StatusCode::OK);
    assert_eq!(send(ADMIN_KEY.into()).await, StatusCode::OK);
    assert_eq!(send(ADMIN_KEY.into()).await, StatusCode::TOO_MANY_REQUESTS, "two requests per minute per key");
    assert_eq!(send(other.clone()).await, StatusCode::OK, "another key has its own count");
}

/// With `--role all` on the embedded store every change is applied as it is made: the periodic
/// resync confirms the snapshot instead of rebuilding it. Its age still restarts at each resync
/// (monitoring keeps working) and what was configured is still served.
#[tokio::test]
async fn the_snapshot_age_restarts_at_each_resync_of_an_embedded_sole_writer() {
    let s = setup_with(|args| args.resync_interval = 1).await;
    s.connection("openai", "openai", json!({})).await;
    s.model("gpt", "openai", &["openai"], "m").await;
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let api_root = s.server.api.trim_end_matches("/v0").to_string();
    let text = s.server.client.get(format!("{api_root}/metrics")).send().await.unwrap().text().await.unwrap();
    let age: f64 = text
        .lines()
        .find_map(|line| line.strip_prefix("modelgate_snapshot_age_seconds "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no snapshot age in {text}"));
    assert!(age < 1.5, "the snapshot was last confirmed {age} s ago with a 1 s resync");
    // Changes made meanwhile are served, and still are after the resyncs.
    assert_eq!(s.post("/default/models/gpt/v1/chat/completions", chat(false)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_provider_path_goes_upstream_as_written_and_wrong_methods_get_the_error_schema() {
    let s = setup().await;
    s.connection("openai", "openai", json!({})).await;
    s.model("gpt", "openai", &["openai"], "gpt-4o-mini").await;

    // The workspace and model segments are decoded; the provider path is not.
    let (status, _, body) = s.post("/default/models/g%70t/v1/chat/completions", chat(false)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.call(Method::GET, "/default/models/gpt/v1/models/ft%3Agpt-4o%2Fx").bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(s.mock.requests().last().unwrap().path, "/v1/models/ft%3Agpt-4o%2Fx");

    for (method, path, allowed) in [
        (Method::GET, "/default/v1/chat/completions", "POST"),
        (Method::GET, "/default/v1/embeddings", "POST"),
        (Method::POST, "/default/v1/models", "GET, HEAD"),
        (Method::DELETE, "/default/v1/models/gpt", "GET, HEAD"),
    ] {
        let response = s.call(method.clone(), path).bearer_auth(ADMIN_KEY).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(response.headers()["allow"], allowed);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "METHOD_NOT_ALLOWED");
    }
    for path in ["/default/models/gpt/", "/default/models/", "/default/v1/audio/speech", "/default/v1/models/a/b"] {
        let response = s.call(Method::POST, path).bearer_auth(ADMIN_KEY).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "ROUTE_NOT_FOUND", "{path}");
    }
    let response = s.call(Method::POST, "/default/models/%FF/v1/chat/completions").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

/// A body declared larger than the limit is refused at once with 413, before any of it is read
/// (the client here never sends it).
#[tokio::test]
async fn a_body_declared_over_the_limit_is_refused_before_it_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = setup().await;
    s.connection("openai", "openai", json!({})).await;
    s.model("gpt", "openai", &["openai"], "m").await;
    let address = s.run.trim_start_matches("http://").to_string();
    let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
    let declared = modelgate_inference::DEFAULT_MAX_BODY_BYTES + 1;
    let head = format!(
        "POST /default/models/gpt/v1/chat/completions HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {ADMIN_KEY}\r\n\
         content-type: application/json\r\ncontent-length: {declared}\r\n\r\n"
    );
    connection.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), connection.read(&mut answer)).await;
    let read = read.expect("answered without waiting for the body").unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("exceeds"), "{answer}");
    assert_eq!(s.mock.request_count(), 0);
}

#[tokio::test]
async fn mistral_streams_are_never_sent_stream_options_and_their_usage_is_read_from_the_last_chunk() {
    let s = setup().await;
    // The mock's Mistral refuses fields its API does not know, as the real one does (422).
    let connection = json!({"metadata": {"name": "mistral"}, "spec": {"integration": "mistral",
        "config": {"url": format!("{}/mistral", s.mock.base_url())}, "secret": {"apiKey": PROVIDER_KEY}}});
    assert_eq!(s.server.post("/integrations/connections", connection).await.0, StatusCode::OK);
    s.model("mistral", "mistral", &["mistral"], "mistral-small-latest").await;
    let path = "/default/models/mistral/v1/chat/completions";

    // Streamed, usage not asked: nothing added, the usage still counted from the last chunk.
    let (status, _, body) = s.post(path, chat(true)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    let sent = s.mock.requests().last().unwrap().json().unwrap();
    assert!(sent.get("stream_options").is_none(), "{sent}");
    // Asked by the client: the field the provider refuses is removed, the answer still carries usage.
    let mut asked = chat(true);
    asked["stream_options"] = json!({"include_usage": true});
    let (status, _, body) = s.post(path, asked).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(sse_data(&body).last().unwrap()["usage"]["total_tokens"].as_u64().unwrap() > 0, "{body}");
    assert!(s.mock.requests().last().unwrap().json().unwrap().get("stream_options").is_none());
    // Not streamed.
    assert_eq!(s.post(path, chat(false)).await.0, StatusCode::OK);

    let usage = s.usage("mistral", 3).await;
    assert_eq!(usage["totals"]["errors"], 0, "{usage}");
    let (input, output) = (usage["totals"]["inputTokens"].as_u64(), usage["totals"]["outputTokens"].as_u64());
    assert!(input.unwrap() > 0 && output.unwrap() > 0, "every answer's usage was read: {usage}");
}

/// A provider that answers every request with an HTML page and a cookie: what a hostile or
/// misconfigured upstream could send a browser through the inference plane.
async fn page_serving_provider() -> String {
    let app = axum::Router::new().fallback(|| async {
        (
            [
                (axum::http::header::CONTENT_TYPE, "text/html"),
                (axum::http::header::SET_COOKIE, "modelgate_console=mgc_planted; Path=/"),
            ],
            "<script>document.cookie = 'modelgate_console=mgc_planted; path=/v0'</script>",
        )
    });
    serve(app).await
}

#[tokio::test]
async fn provider_cookies_are_dropped_and_pages_sandboxed() {
    let s = setup().await;
    let body = json!({"metadata": {"name": "pages"}, "spec": {"integration": "openai",
        "config": {"url": page_serving_provider().await}, "secret": {"apiKey": PROVIDER_KEY}}});
    assert_eq!(s.server.post("/integrations/connections", body).await.0, StatusCode::OK);
    s.model("pages", "openai", &["pages"], "gpt-4o-mini").await;
    let response = s.call(Method::GET, "/default/models/pages/v1/models").bearer_auth(ADMIN_KEY).send().await.unwrap();
    let headers = response.headers();
    assert!(headers.get("set-cookie").is_none(), "a provider's cookie never reaches the client: {headers:?}");
    assert_eq!(headers["content-security-policy"], "sandbox", "{headers:?}");
    assert_eq!(headers["x-content-type-options"], "nosniff");

    // JSON and event streams are relayed as they are.
    s.connection("mock", "openai", json!({})).await;
    s.model("gpt", "openai", &["mock"], "gpt-4o-mini").await;
    for stream in [false, true] {
        let (status, headers, _) = s.post("/default/models/gpt/v1/chat/completions", chat(stream)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(headers.get("content-security-policy").is_none(), "{headers:?}");
    }
}

/// An Anthropic-typed provider that answers 200 with what cannot be translated: a body that is
/// not JSON, or a stream that fails with an `error` event after its start.
async fn failing_anthropic_provider() -> String {
    let app = axum::Router::new().fallback(|body: String| async move {
        if body.contains("\"stream\":true") {
            let events = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n\
                event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
            ([(axum::http::header::CONTENT_TYPE, "text/event-stream")], events)
        } else {
            ([(axum::http::header::CONTENT_TYPE, "application/json")], "this is not json")
        }
    });
    serve(app).await
}

#[tokio::test]
async fn answers_that_cannot_be_translated_are_recorded_as_errors() {
    let s = setup().await;
    let body = json!({"metadata": {"name": "failing"}, "spec": {"integration": "anthropic",
        "config": {"url": failing_anthropic_provider().await}, "secret": {"apiKey": PROVIDER_KEY}}});
    assert_eq!(s.server.post("/integrations/connections", body).await.0, StatusCode::OK);
    s.model("claude", "anthropic", &["failing"], "claude-sonnet-4-5").await;
    let (_, _, whole) = s.post("/default/models/claude/v1/chat/completions", chat(false)).await;
    assert!(whole.contains("not JSON"), "the client is told: {whole}");
    let (_, _, streamed) = s.post("/default/models/claude/v1/chat/completions", chat(true)).await;
    assert!(streamed.contains("Overloaded"), "the stream ends with the provider's failure: {streamed}");
    let totals = &s.usage("claude", 2).await["totals"];
    assert_eq!(totals["errors"], 2, "both are failures in the usage records: {totals}");
}

#[tokio::test]
async fn a_translated_stream_that_breaks_ends_with_an_error_event() {
    let s = setup().await;
    s.connection("ant", "anthropic", json!({})).await;
    s.model("claude", "anthropic", &["ant"], "claude-sonnet-4-5").await;
    let mut response = s
        .call(Method::POST, "/default/models/claude/v1/chat/completions")
        .bearer_auth(ADMIN_KEY)
        .header("x-mock-fault", "reset-mid-stream")
        .header("x-mock-after-chunks", "3")
        .json(&chat(true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut seen = Vec::new();
    let outcome = loop {
        match response.chunk().await {
            Ok(Some(chunk)) => seen.extend_from_slice(&chunk),
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    let seen = String::from_utf8_lossy(&seen);
    assert!(outcome.is_ok(), "the error event ends the stream, as OpenAI's do: {seen}");
    assert!(!seen.contains("[DONE]"), "never the end of a whole answer: {seen}");
    let last = seen.trim_end().rsplit("\n\n").next().unwrap_or_default();
    assert!(last.contains("\"error\"") && last.contains("broke"), "the client's API says why, last: {last}");
}
