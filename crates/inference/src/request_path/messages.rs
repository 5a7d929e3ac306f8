//! The plan rows of Anthropic's Messages API for models of other providers (a Claude model takes
//! it as it is). The request is read into an OpenAI chat request, then sent as it is to
//! OpenAI-compatible providers (Azure OpenAI included: `runtime.model` applied, stream usage asked
//! for as the catalogue says) or through the provider's translator (Gemini, Vertex AI, Cohere);
//! the chat answer comes back as Anthropic's (`crate::messages_ingress`). Token counts are
//! answered where the provider counts: Gemini and Vertex AI.

use super::plan::{random_id, translation_error, AnswerShape, Outgoing, Plan, Translated, TranslatedChat};
use crate::gateway_error::GatewayError;
use crate::snapshot::{Route, Upstream};
use crate::upstream_request::prepare_body;
use axum::http::Method;
use bytes::Bytes;
use modelgate_domain::RuntimeType;
use modelgate_providers::Family;
use modelgate_translate::messages;
use modelgate_translate::openai::ChatRequest;
use modelgate_translate::{Provider, RequestContext as TranslateContext, ResponseContext};
use std::borrow::Cow;

/// The OpenAI chat path a Messages request is sent to on OpenAI-compatible providers.
const CHAT_PATH: &str = "/v1/chat/completions";

/// A Messages request on its way as OpenAI chat.
pub(super) struct MessagesPlan {
    via: Via,
    stream: bool,
    answer: ResponseContext,
}

enum Via {
    /// The chat body, for an OpenAI-compatible provider.
    OpenAiChat(Bytes),
    /// Through the provider's translator.
    Translated(Box<TranslatedChat>),
}

/// Plans a Messages request to `route`; `provider` is the translator its family needs, if any.
pub(super) fn translate(route: &Route, provider: Option<Provider>, bytes: &[u8]) -> Result<Plan, GatewayError> {
    let request = messages::request(bytes).map_err(translation_error)?;
    let stream = request.is_stream();
    let answer = ResponseContext {
        id: format!("msg_{}", random_id()),
        created: 0,
        // The answer names the model the client asked for.
        model: request.model.clone().unwrap_or_else(|| route.name.clone()),
        include_usage: true,
    };
    let via = match provider {
        None => Via::OpenAiChat(chat_body(route, request)?),
        Some(provider) => Via::Translated(Box::new(TranslatedChat::new(route, provider, request, answer.clone())?)),
    };
    Ok(Plan::Messages(Box::new(MessagesPlan { via, stream, answer })))
}

/// The chat body for an OpenAI-compatible provider: `runtime.model` applied and stream usage
/// asked for (`prepare_body`, as for the provider's own chat API).
fn chat_body(route: &Route, mut request: ChatRequest) -> Result<Bytes, GatewayError> {
    // OpenAI's reasoning models refuse `max_tokens`; other OpenAI-compatible APIs (Mistral
    // refuses unknown fields) know only `max_tokens`.
    if route.runtime_type == RuntimeType::Openai || route.family == Family::AzureOpenAi {
        request.max_completion_tokens = request.max_tokens.take();
    }
    let body = serde_json::to_vec(&request).map_err(|e| GatewayError::internal(e.to_string()))?;
    Ok(prepare_body(route, CHAT_PATH, Bytes::from(body)).bytes)
}

/// Plans a token count: Gemini and Vertex AI count with `countTokens`; other providers' APIs
/// cannot, which is the caller's 400 (as any parameter a provider cannot honour).
pub(super) fn count_tokens(route: &Route, provider: Option<Provider>, bytes: &[u8]) -> Result<Plan, GatewayError> {
    if provider != Some(Provider::Gemini) {
        return Err(GatewayError::bad_request(format!(
            "model '{}' cannot count tokens: its provider ({}) has no token-counting API; count_tokens is answered for Anthropic, Gemini and Vertex AI models",
            route.name,
            route.runtime_type.as_str()
        )));
    }
    let request = messages::request(bytes).map_err(translation_error)?;
    let context = TranslateContext { model: route.model.clone(), default_max_tokens: 0 };
    let translated = messages::gemini_count_tokens(&request, &context, route.family == Family::VertexAi)
        .map_err(translation_error)?;
    let body = serde_json::to_vec(&translated.body).map_err(|e| GatewayError::internal(e.to_string()))?;
    Ok(Plan::CountTokens(Translated { path: translated.path, query: translated.query, body: Bytes::from(body) }))
}

impl MessagesPlan {
    /// What to send to `upstream`.
    pub(super) fn outgoing(&self, upstream: &Upstream) -> Result<Outgoing<'static>, GatewayError> {
        match &self.via {
            // The client's query is Anthropic's (`?beta=true`), not the provider's.
            Via::OpenAiChat(body) => {
                Ok(Outgoing { method: Method::POST, path: Cow::Borrowed(CHAT_PATH), query: None, body: body.clone() })
            }
            Via::Translated(chat) => chat.outgoing(upstream),
        }
    }

    pub(super) fn answer_shape(self) -> AnswerShape {
        let provider = match &self.via {
            Via::OpenAiChat(_) => None,
            Via::Translated(chat) => Some(chat.provider()),
        };
        AnswerShape::Messages { provider, stream: self.stream, context: self.answer }
    }
}
