//! OpenAI's Responses API (`/v1/responses`) on models whose provider does not have it: the
//! request goes as a chat request (natively to a provider that speaks chat completions,
//! translated for the others) and the answer, the stream and errors come back in the Responses
//! API's shape, against mock providers in their wire formats.

use crate::common::*;
use modelgate_mock_provider::{MockConfig, MockProvider};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const PROVIDER_KEY: &str = "sk-mock-upstream-key";

/// Every kind of provider path a Responses request takes: translated (Anthropic, Gemini, Vertex
/// AI, Cohere) and sent as chat completions (Mistral, whose mock refuses unknown fields).
const MODELS: [&str; 5] = ["claude", "gemini", "vertex", "command", "mistral"];

struct Setup {
    server: TestServer,
    mock: MockProvider,
    run: String,
}

async fn setup() -> Setup {
    let server = TestServer::start().await;
    let mock = MockProvider::start(MockConfig::default()).await.unwrap();
    let run = format!("http://{}", server.server.as_ref().unwrap().run_addr.unwrap());
    let s = Setup { server, mock, run };
    for (name, integration, model, mut config) in [
        ("claude", "anthropic", "claude-sonnet-4-20250514", json!({})),
        ("gemini", "gemini", "gemini-2.0-flash", json!({})),
        ("vertex", "vertexai", "gemini-2.0-flash", json!({"projectId": "p1", "location": "us-central1"})),
        ("command", "cohere", "command-r-plus", json!({})),
        ("mistral", "mistral", "mistral-small-latest", json!({})),
    ] {
        let suffix = if integration == "mistral" { "/mistral" } else { "" };
        config["url"] = json!(format!("{}{suffix}", s.mock.base_url()));
        let connection = json!({"metadata": {"name": name}, "spec": {"integration": integration, "config": config, "secret": {"apiKey": PROVIDER_KEY}}});
        assert_eq!(s.server.post("/integrations/connections", connection).await.0, StatusCode::OK);
        let body = json!({"metadata": {"name": name}, "spec": {"integrationConnections": [name], "runtime": {"type": integration, "model": model}}});
        let (status, created) = s.server.post("/models", body).await;
        assert_eq!(status, StatusCode::OK, "{created}");
    }
    s
}

impl Setup {
    /// POSTs `body` to `{RUN_URL}/default{path}`: status, content type and body.
    async fn post(&self, path: &str, body: &Value) -> (StatusCode, String, String) {
        let url = format!("{}/default{path}", self.run);
        let response = self.server.client.post(url).bearer_auth(ADMIN_KEY).json(body).send().await.unwrap();
        let status = response.status();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        (status, content_type, response.text().await.unwrap())
    }

    async fn create(&self, model: &str, body: &Value) -> Value {
        let (status, content_type, text) = self.post(&format!("/models/{model}/v1/responses"), body).await;
        assert_eq!(status, StatusCode::OK, "{model}: {text}");
        assert!(content_type.starts_with("application/json"), "{model}: {content_type}");
        serde_json::from_str(&text).unwrap()
    }

    /// The usage totals of `model` once `requests` are recorded.
    async fn usage(&self, model: &str, requests: u64) -> Value {
        for _ in 0..50 {
            let (_, usage) = self.server.get(&format!("/models/{model}/usage")).await;
            if usage["totals"]["requests"].as_u64() >= Some(requests) {
                return usage["totals"].clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("usage of {model} never reached {requests} requests");
    }
}

/// The text of a `response` object's message items.
fn output_text(response: &Value) -> String {
    let items = response["output"].as_array().cloned().unwrap_or_default();
    let message = items.iter().filter(|item| item["type"] == "message");
    let parts = message.flat_map(|item| item["content"].as_array().cloned().unwrap_or_default());
    parts
        .filter(|part| part["type"] == "output_text")
        .filter_map(|part| part["text"].as_str().map(String::from))
        .collect()
}

/// `(event name, data)` of each event of a Responses stream, checking that each event's `type`
/// is its name and that sequence numbers count from 0.
fn responses_events(body: &str) -> Vec<(String, Value)> {
    let events: Vec<(String, Value)> = body
        .split("\n\n")
        .filter(|event| !event.trim().is_empty())
        .map(|event| {
            let name = event.lines().find_map(|l| l.strip_prefix("event: ")).unwrap().to_string();
            let data: Value =
                serde_json::from_str(event.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
            assert_eq!(data["type"], json!(name), "{event}");
            (name, data)
        })
        .collect();
    for (n, (_, data)) in events.iter().enumerate() {
        assert_eq!(data["sequence_number"], json!(n), "{body}");
    }
    events
}

fn weather_tool() -> Value {
    json!({"type": "function", "name": "get_weather", "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}})
}

#[tokio::test]
async fn plain_answers_are_response_objects_for_every_provider_family() {
    let s = setup().await;
    let body = json!({"model": "my-assistant", "instructions": "You are terse.", "max_output_tokens": 100,
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "What is in this picture?"},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}]}]});
    for model in MODELS {
        let response = s.create(model, &body).await;
        assert_eq!(response["object"], "response", "{model}: {response}");
        assert!(response["id"].as_str().unwrap().starts_with("resp_"), "{model}");
        assert_eq!(response["status"], "completed", "{model}");
        assert_eq!(response["model"], "my-assistant", "{model}: the name the client sent");
        assert_eq!(response["instructions"], "You are terse.", "{model}");
        assert!(output_text(&response).starts_with("Hello from the mock"), "{model}: {response}");
        let usage = &response["usage"];
        let (input, output) = (usage["input_tokens"].as_u64().unwrap(), usage["output_tokens"].as_u64().unwrap());
        assert!(input > 0 && output > 0, "{model}: {usage}");
        assert_eq!(usage["total_tokens"].as_u64(), Some(input + output), "{model}");
        assert!(usage["input_tokens_details"]["cached_tokens"].is_u64(), "{model}: {usage}");

        let sent = s.mock.requests().last().unwrap().clone();
        let sent_body = sent.json().unwrap();
        match model {
            "claude" => {
                assert_eq!(sent.path, "/v1/messages");
                assert_eq!(sent_body["max_tokens"], 100);
                assert!(sent_body["system"].to_string().contains("You are terse."), "{sent_body}");
            }
            "gemini" | "vertex" => assert_eq!(sent_body["generationConfig"]["maxOutputTokens"], 100, "{sent_body}"),
            "command" => assert_eq!(sent.path, "/v2/chat"),
            _ => {
                // Chat completions as the provider takes them: runtime.model, its fields only.
                assert_eq!(sent.path, "/mistral/v1/chat/completions");
                assert_eq!(sent_body["model"], "mistral-small-latest");
                assert_eq!(sent_body["messages"][0], json!({"role": "system", "content": "You are terse."}));
                assert_eq!(sent_body["max_tokens"], 100);
            }
        }
        let totals = s.usage(model, 1).await;
        assert_eq!(
            (totals["inputTokens"].as_u64(), totals["outputTokens"].as_u64()),
            (Some(input), Some(output)),
            "{model}"
        );
    }
}

#[tokio::test]
async fn streams_follow_the_responses_event_sequence_with_usage() {
    let s = setup().await;
    let body = json!({"model": "my-assistant", "input": "Say hello", "stream": true});
    for model in MODELS {
        let (status, content_type, text) = s.post(&format!("/models/{model}/v1/responses"), &body).await;
        assert_eq!(status, StatusCode::OK, "{model}: {text}");
        assert!(content_type.starts_with("text/event-stream"), "{model}: {content_type}");
        let events = responses_events(&text);
        let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
        let deltas = names.iter().filter(|n| **n == "response.output_text.delta").count();
        assert!(deltas >= 1, "{model}: {names:?}");
        let mut expected = vec![
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
        ];
        expected.extend(std::iter::repeat_n("response.output_text.delta", deltas));
        expected.extend([
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]);
        assert_eq!(names, expected, "{model}");

        let streamed: String = events
            .iter()
            .filter(|(n, _)| n == "response.output_text.delta")
            .map(|(_, d)| d["delta"].as_str().unwrap())
            .collect();
        assert!(streamed.starts_with("Hello from the mock"), "{model}: {streamed}");
        let done = &events.iter().find(|(n, _)| n == "response.output_text.done").unwrap().1;
        assert_eq!(done["text"], json!(streamed), "{model}");
        let completed = &events.last().unwrap().1["response"];
        assert_eq!(completed["status"], "completed", "{model}");
        assert_eq!(output_text(completed), streamed, "{model}");
        let usage = &completed["usage"];
        let (input, output) = (usage["input_tokens"].as_u64().unwrap(), usage["output_tokens"].as_u64().unwrap());
        assert!(input > 0 && output > 0, "{model}: {usage}");
        // The usage the client saw is the usage recorded.
        let totals = s.usage(model, 1).await;
        assert_eq!(
            (totals["inputTokens"].as_u64(), totals["outputTokens"].as_u64()),
            (Some(input), Some(output)),
            "{model}"
        );
        assert_eq!(totals["errors"], 0, "{model}");
    }
    // Mistral was never sent a field it refuses (`stream_options`): its usage comes unasked.
    let sent = s.mock.requests().last().unwrap().json().unwrap();
    assert!(sent.get("stream_options").is_none(), "{sent}");
}

#[tokio::test]
async fn a_function_tool_round_trip() {
    let s = setup().await;
    for model in MODELS {
        let ask = json!({"model": "m", "input": "Weather in Paris? Use get_weather.", "tools": [weather_tool()], "tool_choice": "required"});
        let response = s.create(model, &ask).await;
        let calls: Vec<&Value> =
            response["output"].as_array().unwrap().iter().filter(|item| item["type"] == "function_call").collect();
        assert_eq!(calls.len(), 1, "{model}: {response}");
        let call = calls[0];
        assert_eq!(call["name"], "get_weather", "{model}");
        assert!(call["call_id"].as_str().is_some_and(|id| !id.is_empty()), "{model}: {call}");
        let arguments: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
        assert!(arguments["city"].is_string(), "{model}: {arguments}");

        // The call and its output go back as items; the provider gets the result, matched.
        let follow_up = json!({"model": "m", "tools": [weather_tool()], "input": [
            {"role": "user", "content": "Weather in Paris?"},
            call,
            {"type": "function_call_output", "call_id": call["call_id"], "output": "{\"temperature\": 21}"}]});
        let answer = s.create(model, &follow_up).await;
        assert!(output_text(&answer).starts_with("Hello from the mock"), "{model}: {answer}");
        let sent = s.mock.requests().last().unwrap().json().unwrap().to_string();
        assert!(sent.contains("temperature"), "{model}: {sent}");
        // Gemini matches results to calls by name; the others by the call's id.
        if !model.ends_with("gemini") && model != "vertex" {
            assert!(sent.contains(call["call_id"].as_str().unwrap()), "{model}: {sent}");
        }

        // Streamed: the call's arguments arrive as deltas of one function_call item.
        let mut streamed = ask.clone();
        streamed["stream"] = json!(true);
        let (_, _, text) = s.post(&format!("/models/{model}/v1/responses"), &streamed).await;
        let events = responses_events(&text);
        let added =
            events.iter().find(|(n, d)| n == "response.output_item.added" && d["item"]["type"] == "function_call");
        let item_id = added.unwrap_or_else(|| panic!("{model}: {text}")).1["item"]["id"].clone();
        let pieces: String = events
            .iter()
            .filter(|(n, d)| n == "response.function_call_arguments.delta" && d["item_id"] == item_id)
            .map(|(_, d)| d["delta"].as_str().unwrap())
            .collect();
        let done = &events.iter().find(|(n, _)| n == "response.function_call_arguments.done").unwrap().1;
        assert_eq!(done["arguments"], json!(pieces), "{model}");
        assert!(serde_json::from_str::<Value>(&pieces).unwrap()["city"].is_string(), "{model}: {pieces}");
        assert_eq!(events.last().unwrap().0, "response.completed", "{model}");
    }
}

#[tokio::test]
async fn structured_output_follows_the_json_schema() {
    let s = setup().await;
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}, "celsius": {"type": "integer"}},
        "required": ["city", "celsius"], "additionalProperties": false});
    let body = json!({"model": "m", "input": "Weather in Paris as JSON",
        "text": {"format": {"type": "json_schema", "name": "weather", "schema": schema, "strict": true}}});
    for model in MODELS {
        let response = s.create(model, &body).await;
        let answer: Value =
            serde_json::from_str(&output_text(&response)).unwrap_or_else(|e| panic!("{model}: {e}: {response}"));
        assert!(answer["city"].is_string() && answer["celsius"].is_i64(), "{model}: {answer}");
        assert_eq!(response["text"]["format"]["name"], "weather", "{model}: the request's format is repeated");
    }
}

#[tokio::test]
async fn the_workspace_level_endpoint_takes_the_model_from_the_body() {
    let s = setup().await;
    let (status, _, text) = s.post("/v1/responses", &json!({"model": "command", "input": "hi"})).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let response: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(response["model"], "command");
    assert!(output_text(&response).starts_with("Hello from the mock cohere"), "{response}");
    assert_eq!(s.mock.requests().last().unwrap().path, "/v2/chat");

    let (status, _, text) = s.post("/v1/responses", &json!({"model": "nope", "input": "hi"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    let (status, _, text) = s.post("/v1/responses", &json!({"input": "hi"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
}

#[tokio::test]
async fn stateless_and_untranslatable_requests_are_refused_before_any_provider_is_called() {
    let s = setup().await;
    let before = s.mock.request_count();
    for (body, param) in [
        (json!({"model": "m", "input": "hi", "store": true}), "store"),
        (json!({"model": "m", "input": "hi", "previous_response_id": "resp_123"}), "previous_response_id"),
        (json!({"model": "m", "input": "hi", "tools": [{"type": "web_search_preview"}]}), "tools[0].type"),
        (json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}), "input[0]"),
        (json!({"model": "m"}), "input"),
    ] {
        for model in ["claude", "mistral"] {
            let (status, _, text) = s.post(&format!("/models/{model}/v1/responses"), &body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{model}: {text}");
            let error: Value = serde_json::from_str(&text).unwrap();
            let message = error["error"]["message"].as_str().unwrap();
            assert!(message.starts_with(param), "{model}: {message}");
            assert_eq!(error["error"]["type"], "invalid_request_error", "{model}");
        }
    }
    let (_, _, text) =
        s.post("/models/claude/v1/responses", &json!({"model": "m", "input": "hi", "store": true})).await;
    assert!(text.contains("modelgate keeps no responses"), "{text}");
    // `store: false` is what a stateless gateway does anyway.
    let (status, _, _) =
        s.post("/models/claude/v1/responses", &json!({"model": "m", "input": "hi", "store": false})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.mock.request_count(), before + 1);
}

#[tokio::test]
async fn provider_errors_come_back_in_openai_shape_with_the_provider_status() {
    let s = setup().await;
    for model in MODELS {
        for stream in [false, true] {
            let url = format!("{}/default/models/{model}/v1/responses", s.run);
            let response = s
                .server
                .client
                .post(url)
                .bearer_auth(ADMIN_KEY)
                .header("x-mock-status", "429")
                .json(&json!({"model": "m", "input": "hi", "stream": stream}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{model}");
            let body: Value = response.json().await.unwrap();
            // Translated from the provider's shape; a chat-completions provider's is OpenAI's already.
            if model != "mistral" {
                assert_eq!(body["error"]["type"], "rate_limit_error", "{model}: {body}");
            }
            assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{model}: {body}");
        }
    }
}

#[tokio::test]
async fn openai_models_pass_the_responses_api_through_with_usage_recorded() {
    let s = setup().await;
    let connection = json!({"metadata": {"name": "openai"}, "spec": {"integration": "openai",
        "config": {"url": s.mock.base_url()}, "secret": {"apiKey": PROVIDER_KEY}}});
    assert_eq!(s.server.post("/integrations/connections", connection).await.0, StatusCode::OK);
    let model = json!({"metadata": {"name": "gpt"}, "spec": {"integrationConnections": ["openai"], "runtime": {"type": "openai", "model": "gpt-4o-mini"}}});
    assert_eq!(s.server.post("/models", model).await.0, StatusCode::OK);

    // As sent, `store` and all: OpenAI keeps responses itself.
    let body = json!({"model": "anything", "input": "Say hello", "store": true});
    let response = s.create("gpt", &body).await;
    assert!(response["id"].as_str().unwrap().starts_with("resp_mock_"), "the provider's own answer: {response}");
    let received = s.mock.requests().last().unwrap().clone();
    assert_eq!(received.path, "/v1/responses");
    assert_eq!(received.json().unwrap()["model"], "gpt-4o-mini", "runtime.model applied");
    assert_eq!(received.json().unwrap()["store"], true);
    let usage = &response["usage"];

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let (status, _, text) = s.post("/models/gpt/v1/responses", &streamed).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let (name, completed) = responses_events(&text).pop().unwrap();
    assert_eq!(name, "response.completed");
    assert_eq!(completed["response"]["usage"], *usage, "{text}");

    let totals = s.usage("gpt", 2).await;
    let input = usage["input_tokens"].as_u64().unwrap();
    let output = usage["output_tokens"].as_u64().unwrap();
    assert!(input > 0 && output > 0, "{usage}");
    assert_eq!(
        (totals["inputTokens"].as_u64(), totals["outputTokens"].as_u64()),
        (Some(2 * input), Some(2 * output)),
        "{totals}"
    );
}
