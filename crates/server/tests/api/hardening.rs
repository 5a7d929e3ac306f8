//! Bounded time and memory per request, and what a bug costs: a body that never arrives, more
//! body bytes than the node's budget, a handler that panics, a stream open at shutdown.

use crate::common::*;
use modelgate_mock_provider::{MockConfig, MockProvider};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Node {
    server: TestServer,
    mock: MockProvider,
    /// host:port of the inference plane.
    run: String,
    /// host:port of the control plane.
    api: String,
}

async fn node(configure: impl FnOnce(&mut modelgate_server::ServeArgs)) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let mut args = args_for(dir.path());
    configure(&mut args);
    let server = TestServer::start_with(dir, args).await;
    let mock = MockProvider::start(MockConfig::default()).await.unwrap();
    let running = server.server.as_ref().unwrap();
    let (run, api) = (running.run_addr.unwrap().to_string(), running.api_addr.to_string());
    let connection = json!({"metadata": {"name": "openai"}, "spec": {"integration": "openai",
        "config": {"url": mock.base_url()}, "secret": {"apiKey": "sk-mock-upstream-key"}}});
    assert_eq!(server.post("/integrations/connections", connection).await.0, StatusCode::OK);
    server.create_model_with_policies("gpt", &[]).await;
    Node { server, mock, run, api }
}

impl TestServer {
    async fn create_model_with_policies(&self, name: &str, policies: &[&str]) {
        let body = json!({"metadata": {"name": name}, "spec": {"integrationConnections": ["openai"],
            "policies": policies, "runtime": {"type": "openai", "model": "m"}}});
        let (status, answer) = self.post("/models", body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
}

const CHAT: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;

/// Sends `head` (request line and headers, without the blank line) declaring `length` body
/// bytes, then `sent` of the body; returns the open stream.
async fn send_head(address: &str, head: &str, length: usize, sent: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("{head}\r\nHost: x\r\nAuthorization: Bearer {ADMIN_KEY}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(sent).await.unwrap();
    stream
}

/// Reads an HTTP/1.1 answer until the server closes the connection or `within` passes.
async fn read_answer(stream: &mut TcpStream, within: Duration) -> String {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + within;
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline.into(), stream.read(&mut buffer)).await {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse().unwrap())
            });
            if length.is_some_and(|length: usize| body.len() >= length) {
                break;
            }
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

fn body_of(answer: &str) -> Value {
    serde_json::from_str(answer.split_once("\r\n\r\n").map_or("", |(_, body)| body)).unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_body_that_does_not_arrive_gets_408_on_both_planes() {
    let n = node(|args| args.body_timeout = 1).await;
    let cases = [
        (n.run.clone(), "POST /default/models/gpt/v1/chat/completions HTTP/1.1"),
        (n.api.clone(), "POST /v0/policies HTTP/1.1"),
    ];
    for (address, head) in cases {
        // Headers, then nothing of the 1,000 bytes announced.
        let started = Instant::now();
        let mut silent = send_head(&address, head, 1000, b"").await;
        let answer = read_answer(&mut silent, Duration::from_secs(10)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{head}: {answer}");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(5), "{head}: {waited:?}");
        let body = body_of(&answer);
        if address == n.run {
            assert_eq!(body["error"]["code"], "REQUEST_TIMEOUT", "{answer}");
        } else {
            assert_eq!((body["code"].as_u64(), body["error"].as_str()), (Some(408), Some("request_timeout")));
        }

        // A body trickled a byte every 300 ms is cut at the deadline as well.
        let mut trickle = send_head(&address, head, 1000, b"{").await;
        let dripping = tokio::spawn(async move {
            for _ in 0..20 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if trickle.write_all(b" ").await.is_err() {
                    break;
                }
                let mut probe = [0u8; 1];
                if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(1), trickle.peek(&mut probe)).await {
                    if n > 0 {
                        return read_answer(&mut trickle, Duration::from_secs(1)).await;
                    }
                }
            }
            String::new()
        });
        let answer = tokio::time::timeout(Duration::from_secs(10), dripping).await.unwrap().unwrap();
        assert!(answer.starts_with("HTTP/1.1 408"), "{head}: trickled body: {answer}");
    }
    // The token endpoint answers in OAuth2's shape.
    let mut silent = TcpStream::connect(&n.api).await.unwrap();
    let head =
        "POST /v0/oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
    silent.write_all(head.as_bytes()).await.unwrap();
    let answer = read_answer(&mut silent, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "oauth: {answer}");
    assert_eq!(body_of(&answer)["error"], "invalid_request", "{answer}");
    // Requests sent whole are unaffected.
    let mut whole =
        send_head(&n.run, "POST /default/models/gpt/v1/chat/completions HTTP/1.1", CHAT.len(), CHAT.as_bytes()).await;
    let answer = read_answer(&mut whole, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "a whole request: {answer}");
}

#[tokio::test]
async fn body_bytes_beyond_the_node_budget_get_503_with_retry_after_until_they_fit() {
    const BUDGET: usize = 64 * 1024;
    let n = node(|args| args.max_inflight_body_bytes = BUDGET).await;
    let path = "POST /default/models/gpt/v1/chat/completions HTTP/1.1";
    // A client holds 48 KiB of the budget: it announced them and is still sending.
    let mut holder = send_head(&n.run, path, 48 * 1024, b"{\"model\":\"m\",").await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A second 32 KiB body does not fit: refused at once, on either plane.
    let big = format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{}"}}]}}"#, "x".repeat(32 * 1024));
    let mut refused = send_head(&n.run, path, big.len(), big.as_bytes()).await;
    let answer = read_answer(&mut refused, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("\r\nretry-after: 1\r\n"), "{answer}");
    assert_eq!(body_of(&answer)["error"]["code"], "GATEWAY_BUSY", "{answer}");
    let policy = format!(
        r#"{{"metadata":{{"name":"p"}},"spec":{{"type":"location","locations":[{{"type":"country","name":"{}"}}]}}}}"#,
        "x".repeat(32 * 1024)
    );
    let mut refused = send_head(&n.api, "POST /v0/policies HTTP/1.1", policy.len(), policy.as_bytes()).await;
    let answer = read_answer(&mut refused, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert_eq!(body_of(&answer)["error"], "service_unavailable", "{answer}");
    // Small bodies still fit beside the held ones.
    let mut small = send_head(&n.run, path, CHAT.len(), CHAT.as_bytes()).await;
    assert!(read_answer(&mut small, Duration::from_secs(10)).await.starts_with("HTTP/1.1 200"));

    // Once the holder has gone, the big body fits.
    holder.shutdown().await.unwrap();
    drop(holder);
    let mut accepted = None;
    for _ in 0..50 {
        let mut retry = send_head(&n.run, path, big.len(), big.as_bytes()).await;
        let answer = read_answer(&mut retry, Duration::from_secs(10)).await;
        if answer.starts_with("HTTP/1.1 200") {
            accepted = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(accepted.is_some(), "the budget came back when the held body went away");
}

/// A clock that panics once when told to: its next use inside a request is a bug in a handler.
struct PanickingClock(AtomicBool);

impl modelgate_inference::Clock for PanickingClock {
    fn now_secs(&self) -> i64 {
        assert!(!self.0.swap(false, Ordering::Relaxed), "the test's clock panics, as a bug would");
        modelgate_domain::timestamp::now_micros() / 1_000_000
    }
}

#[tokio::test]
async fn a_panic_in_a_handler_is_a_500_in_the_plane_shape_and_counted() {
    let clock = Arc::new(PanickingClock(AtomicBool::new(false)));
    let shared = clock.clone();
    let n = node(move |args| args.clock = Some(shared)).await;
    let policy = json!({"metadata": {"name": "tpm"}, "spec": {"type": "maxToken", "maxTokens": {"granularity": "minute", "step": 1, "total": 1000}}});
    assert_eq!(n.server.post("/policies", policy).await.0, StatusCode::OK);
    n.server.create_model_with_policies("limited", &["tpm"]).await;
    clock.0.store(true, Ordering::Relaxed);

    let client = reqwest::Client::new();
    let send = |model: &str| {
        client
            .post(format!("http://{}/default/models/{model}/v1/chat/completions", n.run))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", "application/json")
            .body(CHAT)
            .send()
    };
    let response = send("limited").await.expect("an answer, not a dropped connection");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.headers()["x-blaxel-source"], "platform");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INTERNAL_ERROR", "{body}");
    // The node goes on serving.
    assert_eq!(send("gpt").await.unwrap().status(), StatusCode::OK);
    let metrics = client.get(format!("http://{}/metrics", n.api)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"modelgate_handler_panics_total{plane="inference"} 1"#), "{metrics}");
    let _ = &n.mock;
}

#[tokio::test]
async fn shutdown_ends_streams_open_past_the_drain_timeout_and_records_their_usage() {
    let mut n = node(|args| args.drain_timeout = 1).await;
    let client = reqwest::Client::new();
    // A stream that would last 60 s: an event every 2 s, 30 events.
    let mut response = client
        .post(format!("http://{}/default/models/gpt/v1/chat/completions", n.run))
        .bearer_auth(ADMIN_KEY)
        .header("x-mock-chunk-delay-ms", "2000")
        .header("x-mock-chunks", "30")
        .json(&json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.chunk().await.unwrap();

    let started = Instant::now();
    n.server.stop().await;
    let stopped_in = started.elapsed();
    assert!(stopped_in < Duration::from_secs(5), "stopped {stopped_in:?} after the signal, drain timeout 1 s");
    assert!(stopped_in >= Duration::from_millis(900), "the stream was given the drain timeout: {stopped_in:?}");
    // The client sees its stream end.
    let rest =
        tokio::time::timeout(Duration::from_secs(5), async { while let Ok(Some(_)) = response.chunk().await {} }).await;
    assert!(rest.is_ok(), "the stream was ended");

    // Its usage was written before exit: a node started on the same data finds it.
    let dir = std::mem::replace(&mut n.server.dir, tempfile::tempdir().unwrap());
    let args = args_for(dir.path());
    let restarted = TestServer::start_with(dir, args).await;
    let (status, usage) = restarted.get("/models/gpt/usage").await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    assert_eq!(usage["totals"]["requests"], 1, "{usage}");
}

#[tokio::test]
async fn a_body_that_is_not_the_documented_object_is_refused_naming_what_is_wrong() {
    let server = TestServer::start().await;
    // An array is not the object the schema documents: no key is made from it.
    for body in [json!([null, null]), json!(["x", 3]), json!("name"), json!(7)] {
        let (status, answer) = server.post("/users/me/api_keys", body.clone()).await;
        assert!(assert_error(status, &answer, StatusCode::BAD_REQUEST).contains("JSON object"), "{body}: {answer}");
    }
    let (_, keys) = server.get("/users/me/api_keys").await;
    assert_eq!(keys.as_array().map(Vec::len), Some(1), "only the bootstrap key: {keys}");

    // A typo is refused by name instead of silently dropping the policy its author believes in.
    let policy = json!({"metadata": {"name": "tiny"}, "spec": {"type": "maxToken", "maxTokens": {"granularity": "minute", "step": 1, "total": 10}}});
    assert_eq!(server.post("/policies", policy).await.0, StatusCode::OK);
    let connection =
        json!({"metadata": {"name": "c"}, "spec": {"integration": "openai", "secret": {"apiKey": "sk-x"}}});
    assert_eq!(server.post("/integrations/connections", connection).await.0, StatusCode::OK);
    let typo = json!({"metadata": {"name": "m"}, "spec": {"integrationConnections": ["c"], "polices": ["tiny"],
        "runtime": {"type": "openai", "model": "gpt-4o-mini", "tmeout": 3}}});
    let (status, answer) = server.post("/models", typo).await;
    let message = assert_error(status, &answer, StatusCode::BAD_REQUEST);
    assert!(message.contains("'spec.polices'") && message.contains("'spec.runtime.tmeout'"), "{message}");
    assert_eq!(server.get("/models/m").await.0, StatusCode::NOT_FOUND, "nothing was saved");

    // What the reference documents is accepted, read-only fields and a manifest's envelope included.
    let model = json!({"apiVersion": "blaxel.ai/v1alpha1", "kind": "Model",
        "metadata": {"name": "m", "workspace": "default", "createdAt": "2026-01-01T00:00:00Z", "labels": {"team": "a"}},
        "spec": {"integrationConnections": ["c"], "policies": ["tiny"], "runtime": {"type": "openai", "model": "gpt-4o-mini"}},
        "status": "DEPLOYED", "events": [{"type": "x"}]});
    let (status, answer) = server.post("/models", model).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["spec"]["policies"], json!(["tiny"]));
}

#[tokio::test]
async fn a_model_called_without_a_provider_path_is_a_404_naming_its_paths() {
    let n = node(|_| {}).await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("http://{}/default/models/gpt", n.run))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/json")
        .body(CHAT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ROUTE_NOT_FOUND", "{body}");
    assert_eq!(body["error"]["retryable"], false, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("/v1/chat/completions"), "{body}");
    assert_eq!(n.mock.request_count(), 0, "nothing went upstream");
}
