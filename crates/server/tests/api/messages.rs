//! Anthropic's Messages API for models of other providers, at the model's URL and at the
//! workspace's (`{RUN_URL}/{ws}/v1/messages`, the model named in the body), against mock
//! providers in their own wire formats: answers, Anthropic's event sequence, tool use, token
//! counts, errors in Anthropic's shape and the usage recorded.

use crate::common::*;
use modelgate_mock_provider::{MockConfig, MockProvider};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const PROVIDER_KEY: &str = "sk-mock-upstream-key";

struct Setup {
    server: TestServer,
    mock: MockProvider,
    run: String,
}

/// Models of every kind the Messages API reaches: (endpoint, runtime type, provider model, URL suffix).
const MODELS: [(&str, &str, &str, &str); 6] = [
    ("gpt", "openai", "gpt-4o-mini", ""),
    ("mistral", "mistral", "mistral-small-latest", "/mistral"),
    ("gemini", "gemini", "gemini-2.0-flash", ""),
    ("vertex", "vertexai", "gemini-2.0-flash", ""),
    ("command", "cohere", "command-r-plus", ""),
    ("claude", "anthropic", "claude-sonnet-4-20250514", ""),
];

/// The models whose answers are translated (all but Claude's).
const TRANSLATED: [&str; 5] = ["gpt", "mistral", "gemini", "vertex", "command"];

async fn setup() -> Setup {
    let server = TestServer::start().await;
    let mock = MockProvider::start(MockConfig::default()).await.unwrap();
    let run = format!("http://{}", server.server.as_ref().unwrap().run_addr.unwrap());
    for (name, integration, model, suffix) in MODELS {
        let mut config = json!({"url": format!("{}{suffix}", mock.base_url())});
        if integration == "vertexai" {
            config["projectId"] = json!("p1");
        }
        let connection = json!({"metadata": {"name": name}, "spec": {"integration": integration, "config": config, "secret": {"apiKey": PROVIDER_KEY}}});
        let (status, body) = server.post("/integrations/connections", connection).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let body = json!({"metadata": {"name": name}, "spec": {"integrationConnections": [name], "runtime": {"type": integration, "model": model}}});
        let (status, created) = server.post("/models", body).await;
        assert_eq!(status, StatusCode::OK, "{created}");
    }
    Setup { server, mock, run }
}

/// Where a Messages client of `model` points: the model's URL, or the workspace's.
#[derive(Clone, Copy, Debug)]
enum At {
    Model,
    Workspace,
}

impl Setup {
    /// Posts `body` the way Anthropic's SDK does (`x-api-key`, `anthropic-version`, `?beta=true`
    /// as Claude Code adds), with `model` in the body.
    async fn messages(
        &self,
        at: At,
        model: &str,
        path: &str,
        mut body: Value,
        headers: &[(&str, &str)],
    ) -> (StatusCode, String) {
        body["model"] = json!(model);
        let url = match at {
            At::Model => format!("{}/default/models/{model}{path}?beta=true", self.run),
            At::Workspace => format!("{}/default{path}?beta=true", self.run),
        };
        let mut request = self
            .server
            .client
            .post(url)
            .header("x-api-key", ADMIN_KEY)
            .header("anthropic-version", "2023-06-01")
            .json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn create(&self, at: At, model: &str, body: Value) -> (StatusCode, Value) {
        let (status, text) = self.messages(at, model, "/v1/messages", body, &[]).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

fn conversation() -> Value {
    json!({
        "max_tokens": 100,
        "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "What is in this picture?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}],
        "stop_sequences": ["END"],
        "temperature": 0.5,
        "metadata": {"user_id": "u1"}
    })
}

/// `(event name, data)` of an Anthropic SSE body.
fn anthropic_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|event| !event.trim().is_empty())
        .map(|event| {
            let name = event.lines().find_map(|l| l.strip_prefix("event: ")).unwrap().to_string();
            let data: Value =
                serde_json::from_str(event.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
            assert_eq!(data["type"], name.as_str(), "{event}");
            (name, data)
        })
        .collect()
}

/// The stream's event names with runs of deltas folded into one.
fn sequence(events: &[(String, Value)]) -> Vec<&str> {
    let mut names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    names.dedup_by(|a, b| *a == "content_block_delta" && *b == "content_block_delta");
    names
}

#[tokio::test]
async fn messages_are_answered_by_openai_compatible_gemini_and_cohere_models_at_both_urls() {
    let s = setup().await;
    for (model, native_path) in [
        ("gpt", "/v1/chat/completions"),
        ("mistral", "/mistral/v1/chat/completions"),
        ("gemini", "/v1beta/models/gemini-2.0-flash:generateContent"),
        ("vertex", "/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent"),
        ("command", "/v2/chat"),
    ] {
        for at in [At::Model, At::Workspace] {
            let (status, message) = s.create(at, model, conversation()).await;
            assert_eq!(status, StatusCode::OK, "{model} {at:?}: {message}");
            assert_eq!((message["type"].as_str(), message["role"].as_str()), (Some("message"), Some("assistant")));
            assert!(message["id"].as_str().unwrap().starts_with("msg_"), "{message}");
            assert_eq!(message["model"], model, "the answer names the model the client asked for");
            assert_eq!(message["content"][0]["type"], "text", "{model}: {message}");
            assert!(message["content"][0]["text"].as_str().unwrap().starts_with("Hello from the mock"), "{message}");
            assert_eq!(message["stop_reason"], "end_turn", "{model}");
            assert!(message["usage"]["input_tokens"].as_u64().unwrap() > 0, "{model}: {message}");
            assert!(message["usage"]["output_tokens"].as_u64().unwrap() > 0, "{model}: {message}");

            let received = s.mock.requests().last().cloned().unwrap();
            assert_eq!(received.path, native_path, "{model}");
            assert_eq!(received.query, None, "Anthropic's ?beta=true is not the provider's: {model}");
            let sent = received.json().unwrap();
            assert!(sent.to_string().contains("You are terse."), "{model}: {sent}");
            match model {
                "gpt" => {
                    assert_eq!(sent["model"], "gpt-4o-mini");
                    assert_eq!(sent["max_completion_tokens"], 100, "{sent}");
                    assert_eq!(sent["stop"], json!(["END"]));
                    assert_eq!(
                        sent["messages"][1]["content"][1]["image_url"]["url"],
                        "data:image/png;base64,iVBORw0KGgo="
                    );
                }
                "mistral" => {
                    assert_eq!(sent["model"], "mistral-small-latest");
                    assert_eq!(sent["max_tokens"], 100, "Mistral knows only max_tokens: {sent}");
                }
                "gemini" | "vertex" => {
                    assert_eq!(sent["generationConfig"]["maxOutputTokens"], 100);
                    assert_eq!(sent["generationConfig"]["stopSequences"], json!(["END"]));
                    assert!(sent["contents"][0]["parts"][1]["inlineData"].is_object(), "{sent}");
                }
                _ => {
                    assert_eq!(sent["model"], "command-r-plus");
                    assert_eq!(sent["stop_sequences"], json!(["END"]));
                }
            }
        }
    }
}

#[tokio::test]
async fn streams_follow_anthropic_s_event_sequence_and_usage_is_recorded() {
    let s = setup().await;
    for model in TRANSLATED {
        for at in [At::Model, At::Workspace] {
            let mut body = conversation();
            body["stream"] = json!(true);
            let (status, text) = s.messages(at, model, "/v1/messages", body, &[]).await;
            assert_eq!(status, StatusCode::OK, "{model}: {text}");
            let events = anthropic_events(&text);
            assert_eq!(
                sequence(&events),
                [
                    "message_start",
                    "ping",
                    "content_block_start",
                    "content_block_delta",
                    "content_block_stop",
                    "message_delta",
                    "message_stop"
                ],
                "{model} {at:?}: {text}"
            );
            let start = &events[0].1["message"];
            assert!(start["id"].as_str().unwrap().starts_with("msg_"), "{start}");
            assert_eq!(start["model"], model);
            let text_out: String = events.iter().filter_map(|(_, data)| data["delta"]["text"].as_str()).collect();
            assert!(text_out.starts_with("Hello from the mock"), "{model}: {text_out}");
            let delta = &events[events.len() - 2].1;
            assert_eq!(delta["delta"]["stop_reason"], "end_turn", "{model}");
            assert!(delta["usage"]["output_tokens"].as_u64().unwrap() > 0, "{model}: {delta}");
            assert!(delta["usage"]["input_tokens"].as_u64().unwrap() > 0, "{model}: {delta}");
        }
        // Usage asked of OpenAI-compatible providers that need asking; never of Mistral, which refuses it.
        let sent = s.mock.requests().last().unwrap().json().unwrap();
        match model {
            "gpt" => assert_eq!(sent["stream_options"]["include_usage"], true, "{sent}"),
            "mistral" => assert!(sent.get("stream_options").is_none(), "{sent}"),
            _ => {}
        }
    }
    // Each stream's usage is recorded from the translated answer.
    for model in TRANSLATED {
        let mut recorded = Value::Null;
        for _ in 0..50 {
            recorded = s.server.get(&format!("/models/{model}/usage")).await.1;
            if recorded["totals"]["requests"] == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(recorded["totals"]["requests"], 2, "{model}: {recorded}");
        assert!(recorded["totals"]["inputTokens"].as_i64().unwrap() > 0, "{model}: {recorded}");
        assert!(recorded["totals"]["outputTokens"].as_i64().unwrap() > 0, "{model}: {recorded}");
    }
}

fn weather_tools() -> Value {
    json!([{"name": "get_weather", "description": "Weather of a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
}

#[tokio::test]
async fn tool_use_round_trips_plain_and_streamed() {
    let s = setup().await;
    for model in TRANSLATED {
        let ask = json!({"max_tokens": 100, "tools": weather_tools(), "tool_choice": {"type": "any"},
            "messages": [{"role": "user", "content": "Weather in Paris? Use get_weather."}]});
        let (status, message) = s.create(At::Workspace, model, ask.clone()).await;
        assert_eq!(status, StatusCode::OK, "{model}: {message}");
        assert_eq!(message["stop_reason"], "tool_use", "{model}: {message}");
        let call = message["content"].as_array().unwrap().iter().find(|b| b["type"] == "tool_use").unwrap().clone();
        assert_eq!(call["name"], "get_weather", "{model}");
        assert!(call["input"].is_object() && call["id"].is_string(), "{model}: {call}");

        // The result goes back, matched to the call.
        let follow_up = json!({"max_tokens": 100, "tools": weather_tools(), "messages": [
            {"role": "user", "content": "Weather in Paris? Use get_weather."},
            {"role": "assistant", "content": [call.clone()]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "{\"temperature\": 21}"}]}
        ]});
        let (status, message) = s.create(At::Workspace, model, follow_up).await;
        assert_eq!(status, StatusCode::OK, "{model}: {message}");
        assert_eq!(message["stop_reason"], "end_turn", "{model}: {message}");
        let sent = s.mock.requests().last().unwrap().json().unwrap().to_string();
        assert!(
            sent.contains("temperature") && sent.contains("21"),
            "{model}: the result reached the provider: {sent}"
        );

        // Streamed: a tool_use block whose input arrives as JSON pieces (the mock's Mistral
        // streams text only).
        if model == "mistral" {
            continue;
        }
        let mut streamed = ask;
        streamed["stream"] = json!(true);
        let (status, text) = s.messages(At::Model, model, "/v1/messages", streamed, &[]).await;
        assert_eq!(status, StatusCode::OK, "{model}: {text}");
        let events = anthropic_events(&text);
        let start = events.iter().find(|(name, _)| name == "content_block_start").unwrap();
        assert_eq!(start.1["content_block"]["type"], "tool_use", "{model}: {text}");
        assert_eq!(start.1["content_block"]["name"], "get_weather");
        let index = &start.1["index"];
        let input: String = events
            .iter()
            .filter(|(_, data)| data["index"] == *index && data["delta"]["type"] == "input_json_delta")
            .map(|(_, data)| data["delta"]["partial_json"].as_str().unwrap())
            .collect();
        assert!(serde_json::from_str::<Value>(&input).unwrap().is_object(), "{model}: {input}");
        let delta = events.iter().find(|(name, _)| name == "message_delta").unwrap();
        assert_eq!(delta.1["delta"]["stop_reason"], "tool_use", "{model}");
    }
}

/// Asserts Anthropic's error body with `status` and `kind`; returns the message.
fn assert_anthropic_error(status: StatusCode, body: &str, expected: StatusCode, kind: &str) -> String {
    assert_eq!(status, expected, "{body}");
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    body["error"]["message"].as_str().filter(|m| !m.is_empty()).unwrap().to_string()
}

#[tokio::test]
async fn errors_come_in_anthropic_s_shape() {
    let s = setup().await;
    // The provider's errors, with the provider's status.
    for model in TRANSLATED {
        let limited = [("x-mock-status", "429"), ("x-mock-retry-after", "7")];
        let (status, text) = s.messages(At::Workspace, model, "/v1/messages", conversation(), &limited).await;
        assert_anthropic_error(status, &text, StatusCode::TOO_MANY_REQUESTS, "rate_limit_error");
    }
    // The gateway's: an unknown model, a body that is not a Messages request, a tool only
    // Claude runs, a wrong key; nothing reaches the provider.
    let before = s.mock.request_count();
    let (status, text) = s.messages(At::Workspace, "nope", "/v1/messages", conversation(), &[]).await;
    assert_anthropic_error(status, &text, StatusCode::NOT_FOUND, "not_found_error");
    let (status, text) = s.messages(At::Workspace, "gpt", "/v1/messages", json!({"messages": "hi"}), &[]).await;
    let message = assert_anthropic_error(status, &text, StatusCode::BAD_REQUEST, "invalid_request_error");
    assert!(message.contains("not an Anthropic Messages request"), "{message}");
    let mut body = conversation();
    body["tools"] = json!([{"type": "web_search_20250305", "name": "web_search"}]);
    let (status, text) = s.messages(At::Model, "gemini", "/v1/messages", body, &[]).await;
    let message = assert_anthropic_error(status, &text, StatusCode::BAD_REQUEST, "invalid_request_error");
    assert!(message.contains("tools[0].type"), "{message}");
    let response = s
        .server
        .client
        .post(format!("{}/default/v1/messages", s.run))
        .header("x-api-key", "mgk_wrong")
        .json(&json!({"model": "gpt", "max_tokens": 5, "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-blaxel-source"], "platform");
    let status = response.status();
    assert_anthropic_error(status, &response.text().await.unwrap(), StatusCode::UNAUTHORIZED, "authentication_error");
    assert_eq!(s.mock.request_count(), before);
}

#[tokio::test]
async fn tokens_are_counted_where_the_provider_can() {
    let s = setup().await;
    let body = json!({"system": "You are terse.", "messages": [{"role": "user", "content": "one two three"}]});
    for (model, native_path) in [
        ("gemini", "/v1beta/models/gemini-2.0-flash:countTokens"),
        ("vertex", "/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.0-flash:countTokens"),
        ("claude", "/v1/messages/count_tokens"),
    ] {
        for at in [At::Model, At::Workspace] {
            let (status, text) = s.messages(at, model, "/v1/messages/count_tokens", body.clone(), &[]).await;
            assert_eq!(status, StatusCode::OK, "{model}: {text}");
            let counted: Value = serde_json::from_str(&text).unwrap();
            // One per message and per word, the system prompt's words too.
            assert_eq!(counted, json!({"input_tokens": 7}), "{model}");
            let received = s.mock.requests().last().cloned().unwrap();
            assert_eq!(received.path, native_path, "{model}");
        }
    }
    // Claude's token count is passed through with runtime.model applied.
    assert_eq!(s.mock.requests().last().unwrap().json().unwrap()["model"], "claude-sonnet-4-20250514");
    let before = s.mock.request_count();
    for model in ["gpt", "mistral", "command"] {
        let (status, text) = s.messages(At::Workspace, model, "/v1/messages/count_tokens", body.clone(), &[]).await;
        let message = assert_anthropic_error(status, &text, StatusCode::BAD_REQUEST, "invalid_request_error");
        assert!(message.contains("cannot count tokens"), "{message}");
    }
    assert_eq!(s.mock.request_count(), before);
}

#[tokio::test]
async fn a_claude_model_at_the_workspace_url_is_passed_through_with_its_runtime_model() {
    let s = setup().await;
    let (status, message) = s.create(At::Workspace, "claude", conversation()).await;
    assert_eq!(status, StatusCode::OK, "{message}");
    assert!(message["content"][0]["text"].as_str().unwrap().starts_with("Hello from the mock anthropic"), "{message}");
    let received = s.mock.requests().last().cloned().unwrap();
    assert_eq!(received.path, "/v1/messages");
    assert_eq!(received.query.as_deref(), Some("beta=true"), "the native path keeps the client's query");
    let sent = received.json().unwrap();
    assert_eq!(sent["model"], "claude-sonnet-4-20250514");
    assert_eq!(sent["system"][0]["cache_control"]["type"], "ephemeral", "passed as sent: {sent}");
    assert_eq!(received.header("x-api-key"), Some(PROVIDER_KEY), "the caller's key never reaches the provider");
}
