//! One request as the provider handlers see it: the recorded request plus the mock's settings.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::completion::{chunks_from, requested_schema, Completion};
use crate::faults::FaultPlan;
use crate::problem::{bearer, check_key, json_object, Problem};
use crate::record::ReceivedRequest;

/// A request being answered.
pub(crate) struct Call<'a> {
    pub request: &'a ReceivedRequest,
    pub plan: &'a FaultPlan,
    pub api_key: &'a str,
    /// Content deltas in a reply (`x-mock-chunks`, else the configured default).
    pub chunks: usize,
    /// 1-based request number, used in response ids.
    pub seq: u64,
    /// The prompt cache use the reply's usage reports.
    pub cache: PromptCache,
}

/// Prompt tokens a reply reports as read from and written to the provider's cache
/// (`x-mock-cache-read-tokens`, `x-mock-cache-write-tokens`; 0 without them), each provider in its
/// own convention: counted in OpenAI's `prompt_tokens` and Gemini's `promptTokenCount`, beside
/// Anthropic's `input_tokens`. Cohere reports none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PromptCache {
    pub read: u64,
    pub write: u64,
}

/// Largest cache count a header can ask for.
const MAX_CACHE_TOKENS: u64 = 1 << 32;

impl PromptCache {
    fn from_request(request: &ReceivedRequest) -> PromptCache {
        let count =
            |name| request.header(name).and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0).min(MAX_CACHE_TOKENS);
        PromptCache { read: count("x-mock-cache-read-tokens"), write: count("x-mock-cache-write-tokens") }
    }
}

impl<'a> Call<'a> {
    pub(crate) fn new(
        request: &'a ReceivedRequest,
        plan: &'a FaultPlan,
        api_key: &'a str,
        chunks: usize,
        seq: u64,
    ) -> Self {
        let chunks = chunks_from(request.header("x-mock-chunks"), chunks);
        Self { request, plan, api_key, chunks, seq, cache: PromptCache::from_request(request) }
    }

    /// Fails with the injected status, if the fault plan has one.
    pub(crate) fn injected(&self) -> Result<(), Problem> {
        Problem::injected(self.plan.status).map_or(Ok(()), Err)
    }

    /// Checks `Authorization: Bearer <key>`.
    pub(crate) fn bearer_auth(&self) -> Result<(), Problem> {
        check_key(bearer(self.request.header("authorization")), self.api_key)
    }

    /// Checks a key sent in header `name`.
    pub(crate) fn header_auth(&self, name: &str) -> Result<(), Problem> {
        check_key(self.request.header(name), self.api_key)
    }

    /// The body as a JSON object.
    pub(crate) fn json(&self) -> Result<Value, Problem> {
        json_object(&self.request.body)
    }

    /// The deterministic reply for `provider` to a request with `body`: JSON that fits the
    /// schema the request asks for, else text.
    pub(crate) fn completion(&self, provider: &str, body: &Value) -> Completion {
        match requested_schema(body) {
            Some(schema) => Completion::structured(&schema, self.chunks),
            None => Completion::new(provider, self.chunks),
        }
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A required string field of a JSON body.
pub(crate) fn required_str<'v>(body: &'v Value, field: &'static str) -> Result<&'v str, Problem> {
    match body.get(field) {
        None | Some(Value::Null) => Err(Problem::MissingField(field)),
        Some(Value::String(text)) if !text.is_empty() => Ok(text),
        Some(_) => Err(Problem::Invalid(format!("'{field}' must be a non-empty string"))),
    }
}

/// A required, non-empty array field of a JSON body.
pub(crate) fn required_array<'v>(body: &'v Value, field: &'static str) -> Result<&'v Vec<Value>, Problem> {
    match body.get(field) {
        None | Some(Value::Null) => Err(Problem::MissingField(field)),
        Some(Value::Array(items)) if !items.is_empty() => Ok(items),
        Some(Value::Array(_)) => Err(Problem::Invalid(format!("'{field}' must not be empty"))),
        Some(_) => Err(Problem::Invalid(format!("'{field}' must be an array"))),
    }
}

/// `body[field] == true`.
pub(crate) fn flag(body: &Value, pointer: &str) -> bool {
    body.pointer(pointer).and_then(Value::as_bool).unwrap_or(false)
}
