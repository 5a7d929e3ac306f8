//! Helpers shared by the wire tests.

use modelgate_mock_provider::{MockConfig, MockProvider, DEFAULT_API_KEY};
use serde_json::Value;

pub const KEY: &str = DEFAULT_API_KEY;

/// A mock with the default configuration.
pub async fn mock() -> MockProvider {
    MockProvider::start(MockConfig::default()).await.expect("mock starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// One server-sent event: its `event:` name (if any) and its `data:`.
#[derive(Debug)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("event data is JSON ({e}): {}", self.data))
    }
}

/// Parses an SSE body (LF or CRLF line ends).
pub fn parse_sse(body: &str) -> Vec<Event> {
    let normalized = body.replace("\r\n", "\n");
    normalized
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = Some(value.to_owned());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data.push(value);
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            Event { name, data: data.join("\n") }
        })
        .collect()
}

/// Reads the body chunk by chunk until it ends or fails; answers the bytes read and whether it failed.
pub async fn read_until_error(response: &mut reqwest::Response) -> (String, bool) {
    let mut received = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => received.extend_from_slice(&chunk),
            Ok(None) => return (String::from_utf8_lossy(&received).into_owned(), false),
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), true),
        }
    }
}
