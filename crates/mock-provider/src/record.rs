//! What the mock received: one [`ReceivedRequest`] per request, kept in arrival order.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use axum::http::request::Parts;

/// One request as the mock received it, before any fault was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Headers in received order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The raw request body.
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    pub(crate) fn from_parts(parts: &Parts, body: Vec<u8>) -> Self {
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        Self {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers,
            body,
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The first value of query parameter `name`, percent-decoded.
    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        query
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find_map(|(k, v)| (percent_decode(k) == name).then(|| percent_decode(v)))
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The log of received requests, shared by all connections; it keeps the most recent `limit`
/// requests so a long-running mock (benchmarks, the CLI) does not grow without bound.
pub(crate) struct Recorder {
    log: Mutex<Log>,
}

struct Log {
    requests: VecDeque<ReceivedRequest>,
    total: u64,
    limit: usize,
}

impl Recorder {
    pub(crate) fn new(limit: usize) -> Self {
        Self { log: Mutex::new(Log { requests: VecDeque::new(), total: 0, limit }) }
    }

    /// Appends `request` and answers its 1-based sequence number (used in response ids).
    pub(crate) fn push(&self, request: ReceivedRequest) -> u64 {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.total += 1;
        if log.limit > 0 {
            if log.requests.len() == log.limit {
                log.requests.pop_front();
            }
            log.requests.push_back(request);
        }
        log.total
    }

    /// The kept requests, oldest first.
    pub(crate) fn all(&self) -> Vec<ReceivedRequest> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner).requests.iter().cloned().collect()
    }

    /// All requests ever received, including those no longer kept.
    pub(crate) fn count(&self) -> usize {
        let total = self.log.lock().unwrap_or_else(PoisonError::into_inner).total;
        usize::try_from(total).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_query(query: &str) -> ReceivedRequest {
        ReceivedRequest {
            method: "POST".into(),
            path: "/".into(),
            query: Some(query.into()),
            headers: vec![("x-api-key".into(), "k".into())],
            body: br#"{"a":1}"#.to_vec(),
        }
    }

    #[test]
    fn query_params_are_decoded() {
        let request = with_query("alt=sse&key=ab%2Fc+d&flag");
        assert_eq!(request.query_param("alt").as_deref(), Some("sse"));
        assert_eq!(request.query_param("key").as_deref(), Some("ab/c d"));
        assert_eq!(request.query_param("flag").as_deref(), Some(""));
        assert_eq!(request.query_param("missing"), None);
        assert_eq!(with_query("k=%zz%4").query_param("k").as_deref(), Some("%zz%4"));
    }

    #[test]
    fn recorder_keeps_the_most_recent_requests() {
        let recorder = Recorder::new(2);
        for path in ["/a", "/b", "/c"] {
            recorder.push(ReceivedRequest { path: path.into(), ..with_query("") });
        }
        assert_eq!(recorder.count(), 3);
        let paths: Vec<String> = recorder.all().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/b", "/c"]);
        let none = Recorder::new(0);
        assert_eq!(none.push(with_query("")), 1);
        assert!(none.all().is_empty());
    }

    #[test]
    fn header_and_json_accessors() {
        let request = with_query("");
        assert_eq!(request.header("X-Api-Key"), Some("k"));
        assert_eq!(request.json(), Some(serde_json::json!({"a": 1})));
    }
}
