//! Anthropic Messages.

use serde_json::{json, Value};

use crate::common::{client, mock, parse_sse, KEY};

fn request(base: &str) -> reqwest::RequestBuilder {
    client().post(format!("{base}/v1/messages")).header("x-api-key", KEY).header("anthropic-version", "2023-06-01")
}

fn body() -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 64, "system": "be brief",
           "messages": [{"role": "user", "content": [{"type": "text", "text": "hi there"}]}]})
}

#[tokio::test]
async fn message_plain() {
    let mock = mock().await;
    let response = request(&mock.base_url()).json(&body()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("request-id"));
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["model"], "claude-sonnet-4-5");
    assert_eq!(message["content"][0]["type"], "text");
    assert!(message["content"][0]["text"].as_str().unwrap().starts_with("Hello from the mock anthropic provider."));
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(message["stop_sequence"], Value::Null);
    assert_eq!(message["usage"]["input_tokens"], 5);
    assert_eq!(message["usage"]["output_tokens"], 5);
}

#[tokio::test]
async fn message_stream_event_sequence() {
    let mock = mock().await;
    let mut streamed = body();
    streamed["stream"] = json!(true);
    let response = request(&mock.base_url()).json(&streamed).send().await.unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let events = parse_sse(&response.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|e| e.name.as_deref().unwrap()).collect();
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(["content_block_delta"; 5]);
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);
    for event in &events {
        assert_eq!(event.json()["type"], event.name.as_deref().unwrap());
    }
    assert_eq!(events[0].json()["message"]["usage"]["input_tokens"], 5);
    assert_eq!(events[3].json()["delta"]["type"], "text_delta");
    let delta = events.iter().find(|e| e.name.as_deref() == Some("message_delta")).unwrap().json();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 5);
}

#[tokio::test]
async fn tool_use() {
    let mock = mock().await;
    let mut body = body();
    body["tools"] = json!([{"name": "get_weather", "description": "w",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    body["tool_choice"] = json!({"type": "any"});
    let message: Value = request(&mock.base_url()).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(message["content"][0]["type"], "tool_use");
    assert_eq!(message["content"][0]["name"], "get_weather");
    assert_eq!(message["content"][0]["input"], json!({"city": "mock"}));

    body["stream"] = json!(true);
    let events = parse_sse(&request(&mock.base_url()).json(&body).send().await.unwrap().text().await.unwrap());
    assert_eq!(events[1].json()["content_block"]["type"], "tool_use");
    let partial: String = events
        .iter()
        .filter(|e| e.name.as_deref() == Some("content_block_delta"))
        .map(|e| {
            let delta = e.json()["delta"].clone();
            assert_eq!(delta["type"], "input_json_delta");
            delta["partial_json"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&partial).unwrap(), json!({"city": "mock"}));
    let delta = events.iter().find(|e| e.name.as_deref() == Some("message_delta")).unwrap().json();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn anthropic_errors() {
    let mock = mock().await;
    let url = format!("{}/v1/messages", mock.base_url());
    let error_of =
        |body: Value| (body["type"].clone(), body["error"]["type"].clone(), body["error"]["message"].clone());

    let wrong = client()
        .post(&url)
        .header("x-api-key", "nope")
        .header("anthropic-version", "2023-06-01")
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let (kind, error, _) = error_of(wrong.json().await.unwrap());
    assert_eq!((kind, error), (json!("error"), json!("authentication_error")));

    let no_version = client().post(&url).header("x-api-key", KEY).json(&body()).send().await.unwrap();
    assert_eq!(no_version.status(), 400);
    assert_eq!(error_of(no_version.json().await.unwrap()).1, "invalid_request_error");

    let mut no_max = body();
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let missing = request(&mock.base_url()).json(&no_max).send().await.unwrap();
    assert_eq!(missing.status(), 400);
    assert_eq!(error_of(missing.json().await.unwrap()).2, "max_tokens: Field required");

    let limited = request(&mock.base_url()).header("x-mock-status", "429").json(&body()).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_eq!(error_of(limited.json().await.unwrap()).1, "rate_limit_error");

    let overloaded = request(&mock.base_url()).header("x-mock-status", "529").json(&body()).send().await.unwrap();
    assert_eq!(overloaded.status(), 529);
    assert_eq!(error_of(overloaded.json().await.unwrap()).1, "overloaded_error");
}
