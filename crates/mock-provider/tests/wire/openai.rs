//! OpenAI and Azure OpenAI.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::common::{client, mock, parse_sse, KEY};

fn chat_body() -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}]})
}

#[tokio::test]
async fn chat_completion_plain() {
    let mock = mock().await;
    for path in ["/v1/chat/completions", "/chat/completions"] {
        let response = client()
            .post(format!("{}{path}", mock.base_url()))
            .bearer_auth(KEY)
            .json(&chat_body())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key("x-request-id"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["model"], "gpt-4o-mini");
        let content = body["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(content.starts_with("Hello from the mock openai provider."), "{content}");
        assert_eq!(body["choices"][0]["message"]["role"], "assistant");
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
        // "be brief" (2 + 1) + "hi there" (2 + 1)
        assert_eq!(body["usage"]["prompt_tokens"], 6);
        assert_eq!(body["usage"]["completion_tokens"], 5);
        assert_eq!(body["usage"]["total_tokens"], 11);
    }
}

#[tokio::test]
async fn chat_completion_stream_with_usage() {
    let mock = mock().await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let response = client()
        .post(format!("{}/v1/chat/completions", mock.base_url()))
        .bearer_auth(KEY)
        .header("x-mock-chunks", "8")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let events = parse_sse(&response.text().await.unwrap());
    assert!(events.iter().all(|e| e.name.is_none()));
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| e.json()).collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk" && c["model"] == "gpt-4o-mini"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert!(text.starts_with("Hello from the mock openai provider."));
    let deltas = chunks.iter().filter(|c| c["choices"][0]["delta"]["content"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(deltas.count(), 8);
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 8);
    assert_eq!(usage["usage"]["prompt_tokens"], 6);
    assert_eq!(mock.open_streams(), 0);
}

#[tokio::test]
async fn chat_completion_stream_without_usage() {
    let mock = mock().await;
    let mut body = chat_body();
    body["stream"] = json!(true);
    let response = client()
        .post(format!("{}/v1/chat/completions", mock.base_url()))
        .bearer_auth(KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let events = parse_sse(&response.text().await.unwrap());
    // role, 5 deltas, finish, [DONE]
    assert_eq!(events.len(), 8);
    assert!(events[..7]
        .iter()
        .all(|e| e.json().get("usage").is_none() && e.json()["choices"].as_array().unwrap().len() == 1));
}

#[tokio::test]
async fn chat_completion_tool_calls() {
    let mock = mock().await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let body =
        json!({"model": "m", "tools": tools, "messages": [{"role": "user", "content": "Use get_weather for Paris"}]});
    let url = format!("{}/v1/chat/completions", mock.base_url());
    let plain: Value = client().post(&url).bearer_auth(KEY).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(plain["choices"][0]["finish_reason"], "tool_calls");
    let call = &plain["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let arguments: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"city": "mock"}));

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let text = client().post(&url).bearer_auth(KEY).json(&streamed).send().await.unwrap().text().await.unwrap();
    let chunks: Vec<Value> = parse_sse(&text).iter().filter(|e| e.data != "[DONE]").map(|e| e.json()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"], "get_weather");
    let joined: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&joined).unwrap(), json!({"city": "mock"}));
    assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn openai_errors() {
    let mock = mock().await;
    let url = format!("{}/v1/chat/completions", mock.base_url());

    let wrong = client().post(&url).bearer_auth("sk-wrong-key-0000").json(&chat_body()).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(!body.to_string().contains("sk-wrong-key-0000"), "the key is masked");

    let missing = client().post(&url).json(&chat_body()).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.json::<Value>().await.unwrap()["error"]["code"], Value::Null);

    let malformed = client().post(&url).bearer_auth(KEY).body("{not json").send().await.unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(malformed.json::<Value>().await.unwrap()["error"]["type"], "invalid_request_error");

    let no_messages = client().post(&url).bearer_auth(KEY).json(&json!({"model": "m"})).send().await.unwrap();
    assert_eq!(no_messages.status(), 400);
    assert_eq!(no_messages.json::<Value>().await.unwrap()["error"]["param"], "messages");

    let limited = client()
        .post(&url)
        .bearer_auth(KEY)
        .header("x-mock-status", "429")
        .header("x-mock-retry-after", "2")
        .json(&chat_body())
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "2");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");

    let unavailable =
        client().post(&url).bearer_auth(KEY).header("x-mock-status", "503").json(&chat_body()).send().await.unwrap();
    assert_eq!(unavailable.status(), 503);
    assert!(!unavailable.headers().contains_key("retry-after"));
    assert_eq!(unavailable.json::<Value>().await.unwrap()["error"]["type"], "server_error");

    let unknown = client().post(format!("{}/v1/nope", mock.base_url())).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn embeddings_and_models() {
    let mock = mock().await;
    let url = format!("{}/v1/embeddings", mock.base_url());
    let body = json!({"model": "text-embedding-3-small", "input": ["hello world", "bye"], "dimensions": 4});
    let floats: Value = client().post(&url).bearer_auth(KEY).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(floats["object"], "list");
    assert_eq!(floats["data"].as_array().unwrap().len(), 2);
    assert_eq!(floats["data"][1]["index"], 1);
    assert_eq!(floats["data"][0]["embedding"].as_array().unwrap().len(), 4);
    assert_eq!(floats["usage"]["prompt_tokens"], 3);

    let mut encoded = body.clone();
    encoded["encoding_format"] = json!("base64");
    let base64: Value = client().post(&url).bearer_auth(KEY).json(&encoded).send().await.unwrap().json().await.unwrap();
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(base64["data"][0]["embedding"].as_str().unwrap()).unwrap();
    let first = f32::from_le_bytes(bytes[..4].try_into().unwrap());
    assert_eq!(bytes.len(), 16);
    assert_eq!(json!(first), floats["data"][0]["embedding"][0]);

    let models = client().get(format!("{}/v1/models", mock.base_url())).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(models.status(), 200);
    let models: Value = models.json().await.unwrap();
    assert!(models["data"].as_array().unwrap().iter().any(|m| m["id"] == "gpt-4o-mini"));
}

#[tokio::test]
async fn azure_openai() {
    let mock = mock().await;
    let url = format!("{}/openai/deployments/my-gpt/chat/completions", mock.base_url());
    let body = json!({"messages": [{"role": "user", "content": "hi"}]});

    let ok =
        client().post(format!("{url}?api-version=2024-10-21")).header("api-key", KEY).json(&body).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let ok: Value = ok.json().await.unwrap();
    assert_eq!(ok["model"], "my-gpt");
    assert_eq!(ok["object"], "chat.completion");

    let no_version = client().post(&url).header("api-key", KEY).json(&body).send().await.unwrap();
    assert_eq!(no_version.status(), 404);
    assert_eq!(
        no_version.json::<Value>().await.unwrap(),
        json!({"error": {"code": "404", "message": "Resource not found"}})
    );

    let bad_version =
        client().post(format!("{url}?api-version=latest")).header("api-key", KEY).json(&body).send().await.unwrap();
    assert_eq!(bad_version.status(), 400);

    let bearer =
        client().post(format!("{url}?api-version=2024-10-21")).bearer_auth(KEY).json(&body).send().await.unwrap();
    assert_eq!(bearer.status(), 401);
    let error: Value = bearer.json().await.unwrap();
    assert_eq!(error["error"]["code"], "401");
    assert!(error["error"]["message"].as_str().unwrap().starts_with("Access denied"));

    let embeddings = client()
        .post(format!("{}/openai/deployments/emb/embeddings?api-version=2024-10-21", mock.base_url()))
        .header("api-key", KEY)
        .json(&json!({"input": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(embeddings.json::<Value>().await.unwrap()["model"], "emb");
}
