//! Cohere v2.

use serde_json::{json, Value};

use crate::common::{client, mock, parse_sse, KEY};

fn body() -> Value {
    json!({"model": "command-r-plus", "messages": [{"role": "user", "content": "hi there"}]})
}

#[tokio::test]
async fn chat_plain() {
    let mock = mock().await;
    let reply =
        client().post(format!("{}/v2/chat", mock.base_url())).bearer_auth(KEY).json(&body()).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    let reply: Value = reply.json().await.unwrap();
    assert_eq!(reply["finish_reason"], "COMPLETE");
    assert_eq!(reply["message"]["role"], "assistant");
    assert_eq!(reply["message"]["content"][0]["type"], "text");
    assert!(reply["message"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("Hello from the mock cohere provider."));
    let counts = json!({"input_tokens": 3, "output_tokens": 5});
    assert_eq!(reply["usage"], json!({"billed_units": counts, "tokens": counts}));
}

#[tokio::test]
async fn chat_stream_events() {
    let mock = mock().await;
    let mut body = body();
    body["stream"] = json!(true);
    let text = client()
        .post(format!("{}/v2/chat", mock.base_url()))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = parse_sse(&text);
    let names: Vec<&str> = events.iter().map(|e| e.name.as_deref().unwrap()).collect();
    let mut expected = vec!["message-start", "content-start"];
    expected.extend(["content-delta"; 5]);
    expected.extend(["content-end", "message-end"]);
    assert_eq!(names, expected);
    for event in &events {
        assert_eq!(event.json()["type"], event.name.as_deref().unwrap());
    }
    let text: String = events
        .iter()
        .filter_map(|e| e.json()["delta"]["message"]["content"]["text"].as_str().map(str::to_owned))
        .collect();
    assert!(text.starts_with("Hello from the mock cohere provider."));
    let end = events.last().unwrap().json();
    assert_eq!(end["delta"]["finish_reason"], "COMPLETE");
    assert_eq!(end["delta"]["usage"]["billed_units"]["output_tokens"], 5);
}

#[tokio::test]
async fn tool_calls() {
    let mock = mock().await;
    let mut body = body();
    body["tools"] = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    body["tool_choice"] = json!("REQUIRED");
    let url = format!("{}/v2/chat", mock.base_url());
    let reply: Value = client().post(&url).bearer_auth(KEY).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(reply["finish_reason"], "TOOL_CALL");
    let arguments = reply["message"]["tool_calls"][0]["function"]["arguments"].as_str().unwrap();
    assert_eq!(serde_json::from_str::<Value>(arguments).unwrap(), json!({"city": "mock"}));

    body["stream"] = json!(true);
    let events =
        parse_sse(&client().post(&url).bearer_auth(KEY).json(&body).send().await.unwrap().text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|e| e.name.as_deref().unwrap()).collect();
    assert_eq!(names[..4], ["message-start", "tool-plan-delta", "tool-call-start", "tool-call-delta"]);
    assert_eq!(names[names.len() - 2..], ["tool-call-end", "message-end"]);
}

#[tokio::test]
async fn embed() {
    let mock = mock().await;
    let body = json!({"model": "embed-v4.0", "texts": ["a", "b c"], "input_type": "search_document", "embedding_types": ["float"]});
    let reply: Value = client()
        .post(format!("{}/v2/embed", mock.base_url()))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["embeddings"]["float"].as_array().unwrap().len(), 2);
    assert_eq!(reply["meta"]["billed_units"]["input_tokens"], 3);
}

#[tokio::test]
async fn cohere_errors() {
    let mock = mock().await;
    let url = format!("{}/v2/chat", mock.base_url());
    let wrong = client().post(&url).bearer_auth("bad").json(&body()).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.json::<Value>().await.unwrap()["message"], "invalid api token");

    let no_model = client().post(&url).bearer_auth(KEY).json(&json!({"messages": []})).send().await.unwrap();
    assert_eq!(no_model.status(), 400);
    assert!(no_model.json::<Value>().await.unwrap()["message"].is_string());

    let limited =
        client().post(&url).bearer_auth(KEY).header("x-mock-status", "429").json(&body()).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");
    assert!(limited.json::<Value>().await.unwrap()["message"].is_string());
}
