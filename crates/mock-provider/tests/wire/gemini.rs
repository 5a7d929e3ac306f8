//! Gemini and Vertex AI.

use serde_json::{json, Value};

use crate::common::{client, mock, parse_sse, KEY};

fn body() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "hi there"}]}]})
}

#[tokio::test]
async fn generate_content_with_header_or_query_key() {
    let mock = mock().await;
    let url = format!("{}/v1beta/models/gemini-2.0-flash:generateContent", mock.base_url());
    let by_header = client().post(&url).header("x-goog-api-key", KEY).json(&body()).send().await.unwrap();
    let by_query = client().post(format!("{url}?key={KEY}")).json(&body()).send().await.unwrap();
    for response in [by_header, by_query] {
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        let candidate = &body["candidates"][0];
        assert_eq!(candidate["content"]["role"], "model");
        assert!(candidate["content"]["parts"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Hello from the mock gemini provider."));
        assert_eq!(candidate["finishReason"], "STOP");
        assert_eq!(candidate["index"], 0);
        assert_eq!(
            body["usageMetadata"],
            json!({"promptTokenCount": 3, "candidatesTokenCount": 5, "totalTokenCount": 8})
        );
        assert_eq!(body["modelVersion"], "gemini-2.0-flash");
    }
}

#[tokio::test]
async fn stream_generate_content_sse_and_json_array() {
    let mock = mock().await;
    let url = format!("{}/v1beta/models/gemini-2.0-flash:streamGenerateContent", mock.base_url());
    let sse = client().post(format!("{url}?alt=sse")).header("x-goog-api-key", KEY).json(&body()).send().await.unwrap();
    assert!(sse.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let text = sse.text().await.unwrap();
    assert!(text.contains("\r\n\r\n"));
    let chunks: Vec<Value> = parse_sse(&text).iter().map(|e| e.json()).collect();
    assert_eq!(chunks.len(), 5);
    let joined: String =
        chunks.iter().map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str().unwrap()).collect();
    assert!(joined.starts_with("Hello from the mock gemini provider."));
    assert!(chunks[..4].iter().all(|c| c["candidates"][0].get("finishReason").is_none()));
    assert_eq!(chunks[4]["candidates"][0]["finishReason"], "STOP");
    assert_eq!(chunks[4]["usageMetadata"]["candidatesTokenCount"], 5);

    let array = client().post(&url).header("x-goog-api-key", KEY).json(&body()).send().await.unwrap();
    assert!(array.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let array: Value = array.json().await.unwrap();
    assert_eq!(array.as_array().unwrap().len(), 5);
    assert_eq!(array[4]["candidates"][0]["finishReason"], "STOP");
}

#[tokio::test]
async fn vertex_uses_bearer() {
    let mock = mock().await;
    let url = format!(
        "{}/v1/projects/p1/locations/us-central1/publishers/google/models/gemini-1.5-pro:generateContent",
        mock.base_url()
    );
    let ok = client().post(&url).bearer_auth(KEY).json(&body()).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await.unwrap()["modelVersion"], "gemini-1.5-pro");
    let api_key = client().post(&url).header("x-goog-api-key", KEY).json(&body()).send().await.unwrap();
    assert_eq!(api_key.status(), 401);
    assert_eq!(api_key.json::<Value>().await.unwrap()["error"]["status"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn function_calls() {
    let mock = mock().await;
    let mut body = body();
    body["tools"] = json!([{"functionDeclarations": [{"name": "get_weather",
        "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}}}]}]);
    body["toolConfig"] = json!({"functionCallingConfig": {"mode": "ANY"}});
    let url = format!("{}/v1beta/models/g:generateContent", mock.base_url());
    let reply: Value =
        client().post(&url).header("x-goog-api-key", KEY).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        reply["candidates"][0]["content"]["parts"][0]["functionCall"],
        json!({"name": "get_weather", "args": {"city": "mock"}})
    );
}

#[tokio::test]
async fn embed_content() {
    let mock = mock().await;
    let url = format!("{}/v1beta/models/text-embedding-004:embedContent", mock.base_url());
    let body = json!({"content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 8});
    let reply: Value =
        client().post(&url).header("x-goog-api-key", KEY).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(reply["embedding"]["values"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn gemini_errors() {
    let mock = mock().await;
    let url = format!("{}/v1beta/models/g:generateContent", mock.base_url());

    let wrong = client().post(&url).header("x-goog-api-key", "bad").json(&body()).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let error: Value = wrong.json().await.unwrap();
    assert_eq!(error["error"]["code"], 401);
    assert_eq!(error["error"]["status"], "UNAUTHENTICATED");

    let missing = client().post(&url).json(&body()).send().await.unwrap();
    assert_eq!(missing.status(), 401);

    let no_contents = client().post(&url).header("x-goog-api-key", KEY).json(&json!({})).send().await.unwrap();
    assert_eq!(no_contents.status(), 400);
    assert_eq!(no_contents.json::<Value>().await.unwrap()["error"]["status"], "INVALID_ARGUMENT");

    let limited = client()
        .post(&url)
        .header("x-goog-api-key", KEY)
        .header("x-mock-status", "429")
        .header("x-mock-retry-after", "3")
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "3");
    assert_eq!(limited.json::<Value>().await.unwrap()["error"]["status"], "RESOURCE_EXHAUSTED");

    let unavailable = client()
        .post(&url)
        .header("x-goog-api-key", KEY)
        .header("x-mock-status", "503")
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(unavailable.json::<Value>().await.unwrap()["error"]["status"], "UNAVAILABLE");
}
