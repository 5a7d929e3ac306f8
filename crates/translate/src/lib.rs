//! Translation between OpenAI's chat completions and the chat APIs of providers that are not
//! OpenAI-compatible, in both directions: requests, responses, streams and errors. One module
//! per provider, each a set of small converters over the typed [`openai`] model:
//!
//! - `request(&ChatRequest, &RequestContext) -> Result<ProviderRequest, TranslateError>`
//! - `response(&Value, &ResponseContext) -> Result<ChatCompletion, TranslateError>`
//! - a [`StreamTranslator`] turning the provider's SSE events into `chat.completion.chunk`s
//! - `error(status, body) -> ErrorBody`
//!
//! [`responses`] adds OpenAI's Responses API as a client API, through chat completions.
//! [`messages`] goes the other way: Anthropic Messages as the client's API, pivoting through
//! OpenAI chat (request -> `ChatRequest`, chat answers -> Anthropic's message, events, errors).
//!
//! The inference plane does the I/O; this crate is pure and data-driven-tested.

pub mod embeddings;
pub mod messages;
pub mod openai;
pub mod responses;

use openai::{ChatChunk, ChatCompletion, ChatRequest, ErrorBody, Usage};
use serde_json::Value;

/// Why a request cannot be translated: answered as a 400 naming the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TranslateError {
    /// The OpenAI parameter at fault (`"n"`, `"messages[2].content[1]"`), if one is.
    pub param: Option<String>,
    pub message: String,
}

impl TranslateError {
    pub fn param(param: impl Into<String>, message: impl Into<String>) -> TranslateError {
        TranslateError { param: Some(param.into()), message: message.into() }
    }

    pub fn other(message: impl Into<String>) -> TranslateError {
        TranslateError { param: None, message: message.into() }
    }
}

/// What a translator knows about the request beyond its body.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    /// `spec.runtime.model`: the provider's model, which wins over the request's `model`.
    pub model: Option<String>,
    /// Output-token cap to send when the client gives none and the provider requires one
    /// (Anthropic's `max_tokens`).
    pub default_max_tokens: u64,
}

/// Where the translated request goes, relative to the provider's base URL.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderRequest {
    /// The provider path, e.g. `/v1/messages`, `/v2/chat`,
    /// `/v1beta/models/{model}:streamGenerateContent` (with `?alt=sse` in `query`).
    pub path: String,
    pub query: Option<String>,
    pub body: Value,
}

/// What a translator needs to shape the OpenAI answer.
#[derive(Clone, Debug, Default)]
pub struct ResponseContext {
    /// The id to give the completion (`chatcmpl-...`), when the provider's is not usable.
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    /// The model name to report.
    pub model: String,
    /// Streaming only: the client asked for the final usage chunk.
    pub include_usage: bool,
}

/// Turns one provider's stream into OpenAI chunks, event by event.
pub trait StreamTranslator: Send {
    /// One SSE event of the provider (`event:` name if any, `data:` payload).
    fn event(&mut self, name: Option<&str>, data: &str) -> Result<Vec<ChatChunk>, TranslateError>;
    /// The end of the provider's stream: any last chunks (the usage chunk when asked for).
    fn finish(&mut self) -> Vec<ChatChunk>;
    /// Usage seen so far.
    fn usage(&self) -> Usage;
}

/// The providers with a translator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Anthropic,
    /// Gemini `generateContent` (Vertex AI uses the same body on its own paths).
    Gemini,
    Cohere,
}

/// Translates an OpenAI chat request for `provider`.
pub fn request(
    provider: Provider,
    request: &ChatRequest,
    context: &RequestContext,
) -> Result<ProviderRequest, TranslateError> {
    match provider {
        Provider::Anthropic => anthropic::request(request, context),
        Provider::Gemini => gemini::request(request, context),
        Provider::Cohere => cohere::request(request, context),
    }
}

/// Translates a provider's successful answer into a `chat.completion`.
pub fn response(provider: Provider, body: &Value, context: &ResponseContext) -> Result<ChatCompletion, TranslateError> {
    match provider {
        Provider::Anthropic => anthropic::response(body, context),
        Provider::Gemini => gemini::response(body, context),
        Provider::Cohere => cohere::response(body, context),
    }
}

/// A stream translator for `provider`.
pub fn stream(provider: Provider, context: ResponseContext) -> Box<dyn StreamTranslator> {
    match provider {
        Provider::Anthropic => Box::new(anthropic::Stream::new(context)),
        Provider::Gemini => Box::new(gemini::Stream::new(context)),
        Provider::Cohere => Box::new(cohere::Stream::new(context)),
    }
}

/// Translates a provider's error answer into OpenAI's error body (the status stays the provider's).
pub fn error(provider: Provider, status: u16, body: &[u8]) -> ErrorBody {
    match provider {
        Provider::Anthropic => anthropic::error(status, body),
        Provider::Gemini => gemini::error(status, body),
        Provider::Cohere => cohere::error(status, body),
    }
}

mod anthropic;
mod cohere;
mod gemini;
#[cfg(test)]
mod properties;
