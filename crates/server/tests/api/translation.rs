//! The unified OpenAI-compatible chat endpoint for providers whose API is not OpenAI's:
//! requests, responses, streams, tool calls and errors translated, against mock providers.

use crate::common::*;
use modelgate_mock_provider::{Fault, MockConfig, MockProvider};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const PROVIDER_KEY: &str = "sk-mock-upstream-key";

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
    for (name, integration, model, extra) in [
        ("claude", "anthropic", "claude-sonnet-4-20250514", json!({})),
        ("gemini", "gemini", "gemini-2.0-flash", json!({})),
        ("vertex", "vertexai", "gemini-2.0-flash", json!({"projectId": "p1", "location": "us-central1"})),
        ("command", "cohere", "command-r-plus", json!({})),
    ] {
        let mut config = extra;
        config["url"] = json!(s.mock.base_url());
        let connection = json!({"metadata": {"name": name}, "spec": {"integration": integration, "config": config, "secret": {"apiKey": PROVIDER_KEY}}});
        assert_eq!(s.server.post("/integrations/connections", connection).await.0, StatusCode::OK);
        let body = json!({"metadata": {"name": name}, "spec": {"integrationConnections": [name], "runtime": {"type": integration, "model": model}}});
        let (status, created) = s.server.post("/models", body).await;
        assert_eq!(status, StatusCode::OK, "{created}");
    }
    s
}

impl Setup {
    async fn chat(&self, model: &str, body: Value) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let url = format!("{}/default/models/{model}/v1/chat/completions", self.run);
        let response =
            self.server.client.request(Method::POST, url).bearer_auth(ADMIN_KEY).json(&body).send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap())
    }
}

fn conversation() -> Value {
    json!({
        "model": "ignored-by-the-route",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [{"type": "text", "text": "What is in this picture?"},
                                          {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}
        ],
        "temperature": 0.5,
        "max_tokens": 100,
        "stop": ["END"]
    })
}

#[tokio::test]
async fn plain_answers_come_back_as_chat_completions_for_every_translated_provider() {
    let s = setup().await;
    for (model, native_path) in [
        ("claude", "/v1/messages"),
        ("gemini", "/v1beta/models/gemini-2.0-flash:generateContent"),
        ("vertex", "/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent"),
        ("command", "/v2/chat"),
    ] {
        let (status, _, body) = s.chat(model, conversation()).await;
        assert_eq!(status, StatusCode::OK, "{model}: {body}");
        let completion: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(completion["object"], "chat.completion", "{model}");
        let content = completion["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(content.starts_with("Hello from the mock"), "{model}: {content}");
        assert_eq!(completion["choices"][0]["finish_reason"], "stop", "{model}");
        assert!(completion["usage"]["prompt_tokens"].as_u64().unwrap() > 0, "{model}: {completion}");
        assert!(completion["usage"]["total_tokens"].as_u64().unwrap() > 0, "{model}");
        let received = s.mock.requests().last().cloned().unwrap();
        assert_eq!(received.path, native_path, "{model}");
        let sent = received.json().unwrap();
        match model {
            "claude" => {
                assert_eq!(received.header("x-api-key"), Some(PROVIDER_KEY));
                assert_eq!(sent["model"], "claude-sonnet-4-20250514");
                assert_eq!(sent["max_tokens"], 100);
                assert!(sent["system"].to_string().contains("You are terse."), "{sent}");
                assert_eq!(sent["stop_sequences"], json!(["END"]));
                assert_eq!(sent["messages"][0]["content"][1]["type"], "image");
            }
            "gemini" | "vertex" => {
                assert!(sent["systemInstruction"].to_string().contains("You are terse."), "{sent}");
                assert_eq!(sent["generationConfig"]["maxOutputTokens"], 100);
                assert_eq!(sent["contents"][0]["role"], "user");
                assert!(sent["contents"][0]["parts"][1]["inlineData"].is_object(), "{sent}");
            }
            _ => {
                assert_eq!(sent["model"], "command-r-plus");
                assert_eq!(sent["messages"][0]["role"], "system");
                assert_eq!(sent["max_tokens"], 100);
                assert_eq!(sent["messages"][1]["content"][1]["type"], "image_url", "{sent}");
            }
        }
    }
}

#[tokio::test]
async fn streams_are_translated_into_chunks_with_usage_when_asked() {
    let s = setup().await;
    for model in ["claude", "gemini", "vertex", "command"] {
        let mut body = conversation();
        body["stream"] = json!(true);
        let (status, headers, text) = s.chat(model, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{model}: {text}");
        assert!(headers["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        assert!(text.trim_end().ends_with("data: [DONE]"), "{model}: {text}");
        let events = sse_data(&text);
        assert!(events.iter().all(|c| c["object"] == "chat.completion.chunk"), "{model}: {text}");
        assert_eq!(events[0]["choices"][0]["delta"]["role"], "assistant", "{model}");
        let content: String = events.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
        assert!(content.starts_with("Hello from the mock"), "{model}: {content}");
        assert!(events.iter().any(|c| c["choices"][0]["finish_reason"] == "stop"), "{model}");
        assert!(
            events.iter().all(|c| c.get("usage").is_none_or(Value::is_null)),
            "no usage chunk unless asked: {model}"
        );

        body["stream_options"] = json!({"include_usage": true});
        let (_, _, text) = s.chat(model, body).await;
        let last = sse_data(&text).pop().unwrap();
        assert!(last["choices"].as_array().unwrap().is_empty(), "{model}: {last}");
        assert!(last["usage"]["total_tokens"].as_u64().unwrap() > 0, "{model}: {last}");
    }
    // Usage is metered from the translated stream.
    for _ in 0..50 {
        let (_, usage) = s.server.get("/models/claude/usage").await;
        if usage["totals"]["requests"] == 2 {
            assert!(usage["totals"]["outputTokens"].as_i64().unwrap() > 0, "{usage}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("usage of the translated streams was not recorded");
}

#[tokio::test]
async fn tool_calls_round_trip() {
    let s = setup().await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    for model in ["claude", "gemini", "vertex", "command"] {
        let body = json!({"messages": [{"role": "user", "content": "Weather in Paris? Use get_weather."}], "tools": tools, "tool_choice": "required"});
        let (status, _, text) = s.chat(model, body).await;
        assert_eq!(status, StatusCode::OK, "{model}: {text}");
        let completion: Value = serde_json::from_str(&text).unwrap();
        let call = &completion["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["type"], "function", "{model}: {completion}");
        assert_eq!(call["function"]["name"], "get_weather", "{model}");
        let arguments: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert!(arguments.is_object(), "{model}: arguments are a JSON string of an object");
        assert_eq!(completion["choices"][0]["finish_reason"], "tool_calls", "{model}");

        // The result goes back, matched to the call.
        let follow_up = json!({"messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [call.clone()]},
            {"role": "tool", "tool_call_id": call["id"], "content": "{\"temperature\": 21}"}
        ], "tools": tools});
        let (status, _, text) = s.chat(model, follow_up).await;
        assert_eq!(status, StatusCode::OK, "{model}: {text}");
        let sent = s.mock.requests().last().unwrap().json().unwrap().to_string();
        assert!(
            sent.contains("temperature") && sent.contains("21"),
            "{model}: the tool result reached the provider: {sent}"
        );

        // Streamed tool calls carry index 0 and an id on their first delta.
        let body = json!({"messages": [{"role": "user", "content": "Use get_weather for Paris"}], "tools": tools, "tool_choice": "required", "stream": true});
        let (_, _, text) = s.chat(model, body).await;
        let deltas: Vec<Value> = sse_data(&text)
            .into_iter()
            .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array().cloned())
            .flatten()
            .collect();
        assert!(!deltas.is_empty(), "{model}: {text}");
        assert_eq!(deltas[0]["index"], 0, "{model}");
        assert!(deltas[0]["id"].is_string() && deltas[0]["function"]["name"] == "get_weather", "{model}: {deltas:?}");
        let arguments: String = deltas.iter().filter_map(|d| d["function"]["arguments"].as_str()).collect();
        assert!(serde_json::from_str::<Value>(&arguments).unwrap().is_object(), "{model}: {arguments}");
    }
}

#[tokio::test]
async fn provider_errors_come_back_in_openai_shape_with_the_provider_status() {
    let s = setup().await;
    for model in ["claude", "gemini", "command"] {
        let url = format!("{}/default/models/{model}/v1/chat/completions", s.run);
        let response = s
            .server
            .client
            .post(url)
            .bearer_auth(ADMIN_KEY)
            .header("x-mock-status", "429")
            .header("x-mock-retry-after", "7")
            .json(&conversation())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{model}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "rate_limit_error", "{model}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{model}");
    }
    // A parameter the provider cannot honour is a 400 naming it; nothing is forwarded.
    let before = s.mock.request_count();
    let mut body = conversation();
    body["n"] = json!(3);
    let (status, headers, text) = s.chat("claude", body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert_eq!(headers["x-blaxel-source"], "platform");
    assert!(text.contains('n'), "{text}");
    assert_eq!(s.mock.request_count(), before);
}

#[tokio::test]
async fn one_openai_base_url_serves_every_model_of_a_workspace() {
    let s = setup().await;
    let body = json!({"model": "claude", "messages": [{"role": "user", "content": "hi"}]});
    let response = s
        .server
        .client
        .post(format!("{}/default/v1/chat/completions", s.run))
        .bearer_auth(ADMIN_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let completion: Value = response.json().await.unwrap();
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(s.mock.requests().last().unwrap().path, "/v1/messages");

    let response =
        s.server.client.get(format!("{}/default/v1/models", s.run)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let list: Value = response.json().await.unwrap();
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["claude", "command", "gemini", "vertex"]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    for model in list["data"].as_array().unwrap() {
        let created = model["created"].as_i64().unwrap();
        assert!((now - 600..=now + 1).contains(&created), "created is the endpoint's creation time: {model}");
    }
    // One model, as OpenAI's `models.retrieve` asks for it.
    let response =
        s.server.client.get(format!("{}/default/v1/models/claude", s.run)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let one: Value = response.json().await.unwrap();
    assert_eq!(
        (one["id"].as_str(), one["object"].as_str(), one["owned_by"].as_str()),
        (Some("claude"), Some("model"), Some("anthropic"))
    );
    let response =
        s.server.client.get(format!("{}/default/v1/models/nope", s.run)).bearer_auth(ADMIN_KEY).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let unknown = json!({"model": "nope", "messages": []});
    let response = s
        .server
        .client
        .post(format!("{}/default/v1/chat/completions", s.run))
        .bearer_auth(ADMIN_KEY)
        .json(&unknown)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = s.server.client.get(format!("{}/default/v1/models", s.run)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_workspace_level_embeddings_endpoint_takes_the_model_from_the_body() {
    let s = setup().await;
    let response = s
        .server
        .client
        .post(format!("{}/default/v1/embeddings", s.run))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"model": "command", "input": ["hello", "world"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["object"], "list", "{answer}");
    assert_eq!(answer["data"].as_array().map(Vec::len), Some(2), "{answer}");
    assert_eq!(s.mock.requests().last().unwrap().path, "/v2/embed");
    let response = s
        .server
        .client
        .post(format!("{}/default/v1/embeddings", s.run))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"input": "no model"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn embeddings_are_translated_for_gemini_and_cohere() {
    let s = setup().await;
    for (model, native_path, inputs) in [
        ("gemini", "/v1beta/models/gemini-2.0-flash:embedContent", json!("hello")),
        ("gemini", "/v1beta/models/gemini-2.0-flash:batchEmbedContents", json!(["hello", "world"])),
        ("command", "/v2/embed", json!(["hello", "world"])),
    ] {
        let url = format!("{}/default/models/{model}/v1/embeddings", s.run);
        let response = s
            .server
            .client
            .post(url)
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"model": "x", "input": inputs}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{model}");
        let list: Value = response.json().await.unwrap();
        assert_eq!(list["object"], "list", "{list}");
        let expected = if inputs.is_array() { 2 } else { 1 };
        assert_eq!(list["data"].as_array().unwrap().len(), expected, "{model}: {list}");
        assert!(list["data"][0]["embedding"].as_array().unwrap().len() > 1);
        assert_eq!(s.mock.requests().last().unwrap().path, native_path);
    }
    let url = format!("{}/default/models/claude/v1/embeddings", s.run);
    let response = s.server.client.post(url).bearer_auth(ADMIN_KEY).json(&json!({"input": "x"})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "Anthropic has no embeddings");
}

#[tokio::test]
async fn json_mode_reaches_each_provider_in_its_own_form() {
    let s = setup().await;
    let body = json!({"messages": [{"role": "user", "content": "Give me a JSON object"}], "response_format": {"type": "json_object"}});
    let (status, _, text) = s.chat("claude", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let completion: Value = serde_json::from_str(&text).unwrap();
    let content = completion["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(serde_json::from_str::<Value>(content).unwrap().is_object(), "Anthropic answers JSON content: {content}");
    assert!(completion["choices"][0]["message"]["tool_calls"].is_null(), "not a tool call for the client");
    let sent = s.mock.requests().last().unwrap().json().unwrap();
    assert_eq!(sent["tool_choice"]["name"], "json_output", "{sent}");

    let (status, _, _) = s.chat("gemini", body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let sent = s.mock.requests().last().unwrap().json().unwrap();
    assert_eq!(sent["generationConfig"]["responseMimeType"], "application/json", "{sent}");

    let (status, _, _) = s.chat("command", body).await;
    assert_eq!(status, StatusCode::OK);
    let sent = s.mock.requests().last().unwrap().json().unwrap();
    assert_eq!(sent["response_format"]["type"], "json_object", "{sent}");
}

#[tokio::test]
async fn bodies_that_cannot_be_routed_or_translated_get_a_gateway_400() {
    let s = setup().await;
    let before = s.mock.request_count();
    let post = |url: String, body: &'static str| {
        let request =
            s.server.client.post(url).bearer_auth(ADMIN_KEY).header("content-type", "application/json").body(body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let source = response.headers().get("x-blaxel-source").cloned();
            (status, source, response.json::<Value>().await.unwrap())
        }
    };
    let workspace_chat = format!("{}/default/v1/chat/completions", s.run);
    for body in [r#"{"messages": []}"#, "not json"] {
        let (status, source, error) = post(workspace_chat.clone(), body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert_eq!(source.unwrap(), "platform");
        assert_eq!(error["error"]["code"], "BAD_REQUEST");
    }
    let (status, _, error) =
        post(format!("{}/default/models/claude/v1/chat/completions", s.run), r#"{"messages": 3}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("not an OpenAI chat request"), "{error}");
    assert_eq!(s.mock.request_count(), before, "nothing was forwarded");
}

/// With fallback, a translated request takes the `max_tokens` default of the connection it is
/// sent to, not of the first one.
#[tokio::test]
async fn a_translated_request_takes_max_tokens_from_the_connection_it_is_sent_to() {
    let s = setup().await;
    let failing = MockProvider::start(MockConfig {
        fault: Some(Fault::Status { status: 503, retry_after: None }),
        ..Default::default()
    })
    .await
    .unwrap();
    for (name, url, max_tokens) in [("claude-down", failing.base_url(), "11"), ("claude-up", s.mock.base_url(), "22")] {
        let connection = json!({"metadata": {"name": name}, "spec": {"integration": "anthropic", "config": {"url": url, "maxTokens": max_tokens}, "secret": {"apiKey": PROVIDER_KEY}}});
        assert_eq!(s.server.post("/integrations/connections", connection).await.0, StatusCode::OK);
    }
    let model = json!({"metadata": {"name": "claude-fallback"}, "spec": {"integrationConnections": ["claude-down", "claude-up"], "runtime": {"type": "anthropic", "model": "claude-sonnet-4-20250514"}}});
    assert_eq!(s.server.post("/models", model).await.0, StatusCode::OK);

    let mut body = conversation();
    body.as_object_mut().unwrap().remove("max_tokens");
    let (status, _, text) = s.chat("claude-fallback", body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let first = failing.requests().last().cloned().unwrap().json().unwrap();
    assert_eq!(first["max_tokens"], 11, "{first}");
    let second = s.mock.requests().last().cloned().unwrap().json().unwrap();
    assert_eq!(second["max_tokens"], 22, "{second}");
}
