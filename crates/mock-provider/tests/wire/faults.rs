//! Fault injection, recording and stream accounting.

use std::time::{Duration, Instant};

use modelgate_mock_provider::{Fault, MockConfig, MockProvider};
use serde_json::{json, Value};

use crate::common::{client, mock, parse_sse, read_until_error, KEY};

fn stream_body() -> Value {
    json!({"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "hi"}]})
}

fn chat(mock: &MockProvider) -> reqwest::RequestBuilder {
    client().post(format!("{}/v1/chat/completions", mock.base_url())).bearer_auth(KEY)
}

async fn wait_for_no_streams(mock: &MockProvider) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while mock.open_streams() != 0 {
        assert!(Instant::now() < deadline, "open_streams stayed at {}", mock.open_streams());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn reset_mid_stream_fails_the_body_after_some_events() {
    let mock = mock().await;
    let mut response = chat(&mock)
        .header("x-mock-fault", "reset-mid-stream")
        .header("x-mock-after-chunks", "2")
        .json(&stream_body())
        .send()
        .await
        .expect("headers arrive");
    assert_eq!(response.status(), 200);
    let (received, failed) = read_until_error(&mut response).await;
    assert!(failed, "the body must end in an error, got {received:?}");
    assert_eq!(parse_sse(&received).len(), 2);
    assert!(!received.contains("[DONE]"));
    wait_for_no_streams(&mock).await;
}

#[tokio::test]
async fn reset_mid_stream_also_cuts_json_bodies() {
    let mock = MockProvider::start(MockConfig {
        fault: Some(Fault::ResetMidStream { after_chunks: 1 }),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let body = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    let response = client()
        .post(format!("{}/v1/messages", mock.base_url()))
        .header("x-api-key", KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(response.text().await.is_err());
}

#[tokio::test]
async fn reset_before_headers_fails_the_send_and_is_recorded() {
    let mock = mock().await;
    let result = chat(&mock).header("x-mock-fault", "reset-before-headers").json(&stream_body()).send().await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(mock.request_count(), 1);

    mock.set_fault(Some(Fault::ResetBeforeHeaders));
    assert!(chat(&mock).json(&stream_body()).send().await.is_err());
    mock.set_fault(None);
    assert_eq!(chat(&mock).json(&stream_body()).send().await.unwrap().status(), 200);
    assert_eq!(mock.request_count(), 3);
}

#[tokio::test]
async fn slow_drip_spaces_events() {
    let mock = mock().await;
    let started = Instant::now();
    let mut response = chat(&mock)
        .header("x-mock-chunk-delay-ms", "30")
        .header("x-mock-chunks", "3")
        .json(&stream_body())
        .send()
        .await
        .unwrap();
    let mut arrivals = Vec::new();
    let mut body = String::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        arrivals.push(Instant::now());
        body.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    // role, 3 deltas, finish, [DONE]: five pauses of 30 ms at least.
    let events = parse_sse(&body);
    assert_eq!(events.len(), 6);
    assert_eq!(events.last().unwrap().data, "[DONE]");
    assert!(arrivals.len() >= 3, "events arrive separately, got {} reads", arrivals.len());
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(*arrivals.last().unwrap() - arrivals[0] >= Duration::from_millis(60));
}

#[tokio::test]
async fn delay_holds_the_headers() {
    let mock = mock().await;
    let started = Instant::now();
    let response = chat(&mock).header("x-mock-delay-ms", "120").json(&stream_body()).send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(120));
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn configured_status_and_header_override() {
    let mock = MockProvider::start(MockConfig {
        fault: Some(Fault::Status { status: 503, retry_after: Some(7) }),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let failed = chat(&mock).json(&stream_body()).send().await.unwrap();
    assert_eq!(failed.status(), 503);
    assert_eq!(failed.headers()["retry-after"], "7");
    let overridden = chat(&mock).header("x-mock-fault", "none").json(&stream_body()).send().await.unwrap();
    assert_eq!(overridden.status(), 200);
}

#[tokio::test]
async fn open_streams_drop_when_the_client_leaves() {
    let mock = mock().await;
    let client = client();
    let mut response = client
        .post(format!("{}/v1/chat/completions", mock.base_url()))
        .bearer_auth(KEY)
        .header("x-mock-chunk-delay-ms", "20")
        .header("x-mock-chunks", "200")
        .json(&stream_body())
        .send()
        .await
        .unwrap();
    assert!(response.chunk().await.unwrap().is_some());
    assert_eq!(mock.open_streams(), 1);
    drop(response);
    drop(client);
    wait_for_no_streams(&mock).await;
}

#[tokio::test]
async fn requests_are_recorded() {
    let mock = mock().await;
    client()
        .post(format!("{}/v1beta/models/g:streamGenerateContent?alt=sse&key={KEY}", mock.base_url()))
        .header("X-Custom-Header", "Value")
        .json(&json!({"contents": [{"parts": [{"text": "hi"}]}]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1beta/models/g:streamGenerateContent");
    assert_eq!(request.query.as_deref(), Some(&*format!("alt=sse&key={KEY}")));
    assert_eq!(request.header("x-custom-header"), Some("Value"));
    assert!(request.headers.iter().any(|(name, _)| name == "x-custom-header"));
    assert_eq!(request.json().unwrap()["contents"][0]["parts"][0]["text"], "hi");
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let mock = mock().await;
    let url = format!("{}/v1/models", mock.base_url());
    assert_eq!(client().get(&url).bearer_auth(KEY).send().await.unwrap().status(), 200);
    mock.shutdown().await;
    assert!(client().get(&url).bearer_auth(KEY).send().await.is_err());
}

#[tokio::test]
async fn run_serves_until_shutdown() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(modelgate_mock_provider::run(addr, MockConfig::default(), async {
        let _ = stopped.await;
    }));
    let url = format!("http://{addr}/v1/models");
    let mut answered = false;
    for _ in 0..50 {
        if let Ok(response) = client().get(&url).bearer_auth(KEY).send().await {
            answered = response.status() == 200;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(answered);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
