//! The `plan` step: how a request reaches its provider and how the answer comes back, decided in
//! one place for each (client API, provider family) pair. A new client API (another SDK's
//! endpoint) is a new [`ClientApi`] and new rows in [`plan`]; nothing else on the path changes.

use super::messages::{self, MessagesPlan};
use crate::chat_translation::provider_of;
use crate::gateway_error::{ErrorShape, ErrorSource, GatewayError};
use crate::snapshot::{Route, Upstream};
use crate::upstream_request::{prepare_body, PreparedBody};
use axum::http::Method;
use bytes::Bytes;
use modelgate_domain::timestamp::now_micros;
use modelgate_domain::RuntimeType;
use modelgate_providers::Family;
use modelgate_translate::embeddings::EmbeddingRequest;
use modelgate_translate::openai::ChatRequest;
use modelgate_translate::responses;
use modelgate_translate::{Provider, RequestContext as TranslateContext, ResponseContext};
use std::borrow::Cow;
use std::sync::{Arc, Mutex};

/// `max_tokens` sent to providers that require one when the client gives none (a connection's
/// `config.maxTokens` overrides it).
const DEFAULT_MAX_TOKENS: u64 = 4096;

/// The API a client speaks, read from its method and the provider path it asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientApi {
    /// `POST /v1/chat/completions`: OpenAI's chat completions.
    ChatCompletions,
    /// `POST /v1/embeddings`: OpenAI's embeddings.
    Embeddings,
    /// `POST /v1/responses`: OpenAI's Responses API.
    Responses,
    /// `POST /v1/messages`: Anthropic's Messages.
    Messages,
    /// `POST /v1/messages/count_tokens`: Anthropic's token count.
    CountTokens,
    /// Anything else: the provider's own API, passed through.
    Native,
}

fn client_api(method: &Method, path: &str) -> ClientApi {
    if method != Method::POST {
        return ClientApi::Native;
    }
    match path {
        "/v1/chat/completions" | "/chat/completions" => ClientApi::ChatCompletions,
        "/v1/embeddings" | "/embeddings" => ClientApi::Embeddings,
        "/v1/responses" | "/responses" => ClientApi::Responses,
        "/v1/messages" => ClientApi::Messages,
        "/v1/messages/count_tokens" => ClientApi::CountTokens,
        _ => ClientApi::Native,
    }
}

/// The error body a client calling `path` reads: Anthropic's on its Messages API (whatever the
/// model's provider), the gateway's elsewhere.
pub(super) fn error_shape(path: &str) -> ErrorShape {
    if path == "/v1/messages" || path.starts_with("/v1/messages/") {
        ErrorShape::Anthropic
    } else {
        ErrorShape::Gateway
    }
}

/// How a request is sent and its answer shaped.
pub(super) enum Plan {
    /// In the provider's own API: `runtime.model` applied, usage asked for on OpenAI-style
    /// streams; the answer relayed as sent, tapped for usage.
    Native(PreparedBody),
    /// An OpenAI chat request translated for the provider. The body depends on the connection
    /// tried (its `config.maxTokens`), so it is built per connection and kept for the next.
    TranslatedChat(Box<TranslatedChat>),
    /// An OpenAI embeddings request translated for the provider.
    TranslatedEmbeddings { provider: Provider, request: Translated, model: String },
    /// A Responses request sent as a chat request (`inner`: native to a provider that speaks
    /// chat completions, or translated), its answer turned back into a Responses answer.
    Responses(Box<ResponsesPlan>),
    /// An Anthropic Messages request sent as OpenAI chat (`messages.rs`).
    Messages(Box<MessagesPlan>),
    /// An Anthropic token count translated for the provider (Gemini's `countTokens`).
    CountTokens(Translated),
}

pub(super) struct ResponsesPlan {
    inner: Plan,
    answer: ResponsesAnswer,
}

/// A request translated into a provider's API: its path, query and body.
pub(super) struct Translated {
    pub path: String,
    pub query: Option<String>,
    pub body: Bytes,
}

pub(super) struct TranslatedChat {
    provider: Provider,
    request: ChatRequest,
    model: Option<String>,
    answer: ResponseContext,
    /// The last translation, by the `max_tokens` default it was made with.
    last: Mutex<Option<(u64, Arc<Translated>)>>,
}

/// How the answer is shaped on its way back to the client.
pub(super) enum AnswerShape {
    /// As the provider sent it (tapped for usage).
    Native { strip_usage_chunk: bool },
    /// Translated into OpenAI's chat format.
    Translated { provider: Provider, stream: bool, context: ResponseContext },
    /// Translated into OpenAI's embeddings format.
    TranslatedEmbeddings { provider: Provider, model: String },
    /// A chat answer (from `provider`'s translator, or native chat completions when `None`)
    /// turned into a Responses answer.
    Responses(Box<ResponsesAnswer>),
    /// OpenAI chat (the provider's own, or translated from `provider`'s API) as Anthropic's message.
    Messages { provider: Option<Provider>, stream: bool, context: ResponseContext },
    /// The provider's token count as Anthropic's.
    CountTokens { provider: Provider },
}

pub(super) struct ResponsesAnswer {
    pub provider: Option<Provider>,
    pub stream: bool,
    /// The chat answer a translator makes (asked for its usage chunk).
    pub chat: ResponseContext,
    pub context: responses::Context,
}

/// What one attempt sends: where (in the provider's API) and which body.
pub(super) struct Outgoing<'a> {
    pub method: Method,
    pub path: Cow<'a, str>,
    pub query: Option<Cow<'a, str>>,
    pub body: Bytes,
}

/// Decides how `route` serves a request of `method` to `path` with `body`: the one table of
/// (client API, provider family).
pub(super) fn plan(route: &Route, method: &Method, path: &str, body: Bytes) -> Result<Plan, GatewayError> {
    if (path.is_empty() || path == "/") && !serves_its_bare_url(route) {
        return Err(no_provider_path(route));
    }
    match (client_api(method, path), provider_of(route.family)) {
        (ClientApi::ChatCompletions, Some(provider)) => translate_chat(route, provider, &body),
        (ClientApi::Embeddings, Some(provider)) => translate_embeddings(route, provider, &body),
        // OpenAI itself has the Responses API: passed through.
        (ClientApi::Responses, provider) if route.runtime_type != RuntimeType::Openai => {
            translate_responses(route, provider, &body)
        }
        (ClientApi::Messages, provider) if speaks_other_than_messages(route) => {
            messages::translate(route, provider, &body)
        }
        (ClientApi::CountTokens, provider) if speaks_other_than_messages(route) => {
            messages::count_tokens(route, provider, &body)
        }
        (ClientApi::ChatCompletions | ClientApi::Embeddings | ClientApi::Responses | ClientApi::Native, _)
        | (ClientApi::Messages | ClientApi::CountTokens, _) => Ok(Plan::Native(prepare_body(route, path, body))),
    }
}

/// Whether a Messages request to `route` is translated: Anthropic's models take it as it is, and
/// MCP servers have no Messages API.
fn speaks_other_than_messages(route: &Route) -> bool {
    !matches!(route.family, Family::Anthropic | Family::Mcp)
}

/// Whether the connection's URL itself is an endpoint of this route's API: an MCP server, or a
/// dedicated endpoint with no global base URL (Hugging Face endpoints). A provider's API root
/// (`https://api.openai.com`) never is, so a call without a provider path is the caller's mistake.
fn serves_its_bare_url(route: &Route) -> bool {
    route.family == Family::Mcp
        || (route.family != Family::AzureOpenAi
            && modelgate_providers::descriptor(route.runtime_type).default_base_url.is_none())
}

/// 404 for a model called without a provider path, naming the paths it serves.
fn no_provider_path(route: &Route) -> GatewayError {
    let paths = match route.family {
        Family::OpenAiCompatible => "/v1/chat/completions, /v1/embeddings or another path of the provider's API",
        Family::AzureOpenAi => "/v1/chat/completions or /openai/deployments/{deployment}/...",
        Family::Anthropic => "/v1/messages, or /v1/chat/completions (OpenAI's format, translated)",
        Family::Gemini => {
            "/v1beta/models/{model}:generateContent (or :streamGenerateContent), or /v1/chat/completions (translated)"
        }
        Family::VertexAi => {
            "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent, or /v1/chat/completions (translated)"
        }
        Family::Cohere => "/v2/chat, or /v1/chat/completions (OpenAI's format, translated)",
        Family::Mcp => "/mcp",
    };
    GatewayError::route_not_found(format!(
        "model '{}' is called at a provider path after its URL (/{}/models/{}/...): {paths}",
        route.name, route.workspace, route.name
    ))
}

impl Plan {
    /// What to send to `upstream` for a client request of `method` to `path` with `query`.
    pub fn outgoing<'a>(
        &'a self,
        upstream: &Upstream,
        method: &Method,
        path: &'a str,
        query: Option<&'a str>,
    ) -> Result<Outgoing<'a>, GatewayError> {
        match self {
            // `Bytes` clones share the buffer: each attempt sends the same body without a copy.
            Plan::Native(prepared) => Ok(Outgoing {
                method: method.clone(),
                path: Cow::Borrowed(path),
                query: query.map(Cow::Borrowed),
                body: prepared.bytes.clone(),
            }),
            Plan::TranslatedChat(chat) => chat.outgoing(upstream),
            Plan::Messages(plan) => plan.outgoing(upstream),
            Plan::TranslatedEmbeddings { request, .. } | Plan::CountTokens(request) => Ok(Outgoing {
                method: Method::POST,
                path: Cow::Borrowed(&request.path),
                query: request.query.as_deref().map(Cow::Borrowed),
                body: request.body.clone(),
            }),
            Plan::Responses(responses) => responses.inner.outgoing(upstream, &Method::POST, CHAT_PATH, query),
        }
    }

    /// How the answer to this plan is shaped.
    pub fn answer_shape(self) -> AnswerShape {
        match self {
            Plan::Native(prepared) => AnswerShape::Native { strip_usage_chunk: prepared.strip_usage_chunk },
            Plan::TranslatedChat(chat) => AnswerShape::Translated {
                provider: chat.provider,
                stream: chat.request.is_stream(),
                context: chat.answer,
            },
            Plan::TranslatedEmbeddings { provider, model, .. } => AnswerShape::TranslatedEmbeddings { provider, model },
            Plan::Responses(responses) => AnswerShape::Responses(Box::new(responses.answer)),
            Plan::Messages(plan) => plan.answer_shape(),
            // Only Gemini-style providers count tokens (`messages::count_tokens`).
            Plan::CountTokens(_) => AnswerShape::CountTokens { provider: Provider::Gemini },
        }
    }
}

pub(super) fn translation_error(error: modelgate_translate::TranslateError) -> GatewayError {
    match error.param {
        Some(param) => GatewayError::bad_request(format!("{param}: {}", error.message)),
        None => GatewayError::bad_request(error.message),
    }
}

/// Parses an OpenAI chat request for a provider with another API and translates it once with
/// the default `max_tokens`, so a request the provider's API cannot express is refused before
/// any connection is tried.
fn translate_chat(route: &Route, provider: Provider, bytes: &Bytes) -> Result<Plan, GatewayError> {
    let request: ChatRequest = serde_json::from_slice(bytes)
        .map_err(|e| GatewayError::bad_request(format!("the body is not an OpenAI chat request: {e}")))?;
    let answer = ResponseContext {
        id: format!("chatcmpl-{}", random_id()),
        created: now_micros() / 1_000_000,
        model: route.model.clone().or(request.model.clone()).unwrap_or_default(),
        include_usage: request.wants_stream_usage(),
    };
    Ok(Plan::TranslatedChat(Box::new(TranslatedChat::new(route, provider, request, answer)?)))
}

/// A random id for an answer the gateway makes (`chatcmpl-{id}`, `msg_{id}`).
pub(super) fn random_id() -> String {
    modelgate_domain::api_key::generate_id().trim_start_matches("ak_").to_string()
}

/// Where a Responses request goes as a chat request, on providers that speak chat completions.
const CHAT_PATH: &str = "/v1/chat/completions";

/// A Responses request as a chat request: sent as it is where the provider speaks chat
/// completions (`runtime.model` and stream usage as for any chat request), else through the
/// provider's translator. Azure OpenAI goes through chat completions too: its Responses API
/// lives outside the deployment paths modelgate serves.
fn translate_responses(route: &Route, provider: Option<Provider>, bytes: &Bytes) -> Result<Plan, GatewayError> {
    if route.family == Family::Mcp {
        return Err(GatewayError::bad_request("the Responses API is not served for MCP servers"));
    }
    let request: responses::ResponsesRequest = serde_json::from_slice(bytes)
        .map_err(|e| GatewayError::bad_request(format!("the body is not an OpenAI Responses request: {e}")))?;
    let translated = responses::request(&request).map_err(translation_error)?;
    let id = random_id();
    let context = responses::Context {
        id: format!("resp_{id}"),
        created_at: now_micros() / 1_000_000,
        model: request.model.clone().unwrap_or_else(|| route.name.clone()),
        echo: translated.echo,
    };
    let chat = ResponseContext {
        id: format!("chatcmpl-{id}"),
        created: context.created_at,
        model: context.model.clone(),
        include_usage: true,
    };
    let stream = translated.chat.is_stream();
    let inner = match provider {
        Some(provider) => {
            Plan::TranslatedChat(Box::new(TranslatedChat::new(route, provider, translated.chat, chat.clone())?))
        }
        None => {
            let mut chat = translated.chat;
            // Azure's reasoning deployments refuse `max_tokens` (as OpenAI's models do); other
            // OpenAI-compatible APIs know only `max_tokens` (Mistral refuses unknown fields).
            if route.family == Family::AzureOpenAi {
                chat.max_completion_tokens = chat.max_tokens.take();
            }
            let body = serde_json::to_vec(&chat)
                .map_err(|e| GatewayError::bad_request(e.to_string()).from_source(ErrorSource::Gateway))?;
            Plan::Native(prepare_body(route, CHAT_PATH, Bytes::from(body)))
        }
    };
    let answer = ResponsesAnswer { provider, stream, chat, context };
    Ok(Plan::Responses(Box::new(ResponsesPlan { inner, answer })))
}

/// The `max_tokens` a connection sends when the client gives none.
pub(super) fn default_max_tokens(upstream: &Upstream) -> u64 {
    upstream.config.get("maxTokens").and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_MAX_TOKENS)
}

impl TranslatedChat {
    /// `request` for `provider`, answered with `answer`: translated once now with the first
    /// connection's `max_tokens` default, so a request the provider's API cannot express is
    /// refused before any connection is tried.
    pub(super) fn new(
        route: &Route,
        provider: Provider,
        request: ChatRequest,
        answer: ResponseContext,
    ) -> Result<TranslatedChat, GatewayError> {
        let chat = TranslatedChat { provider, request, model: route.model.clone(), answer, last: Mutex::new(None) };
        let default_max_tokens = route.upstreams.first().map_or(DEFAULT_MAX_TOKENS, |u| default_max_tokens(u));
        chat.translate(default_max_tokens)?;
        Ok(chat)
    }

    /// What to send to `upstream`.
    pub(super) fn outgoing(&self, upstream: &Upstream) -> Result<Outgoing<'static>, GatewayError> {
        let translated = self.for_upstream(upstream)?;
        Ok(Outgoing {
            method: Method::POST,
            path: Cow::Owned(translated.path.clone()),
            query: translated.query.clone().map(Cow::Owned),
            body: translated.body.clone(),
        })
    }

    pub(super) fn provider(&self) -> Provider {
        self.provider
    }

    /// The translation for `upstream`: the last one when its `max_tokens` default is the same.
    fn for_upstream(&self, upstream: &Upstream) -> Result<Arc<Translated>, GatewayError> {
        let max_tokens = default_max_tokens(upstream);
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match last {
            Some((made_with, translated)) if made_with == max_tokens => Ok(translated),
            _ => self.translate(max_tokens),
        }
    }

    fn translate(&self, default_max_tokens: u64) -> Result<Arc<Translated>, GatewayError> {
        let context = TranslateContext { model: self.model.clone(), default_max_tokens };
        let translated =
            modelgate_translate::request(self.provider, &self.request, &context).map_err(translation_error)?;
        let body = serde_json::to_vec(&translated.body)
            .map_err(|e| GatewayError::bad_request(e.to_string()).from_source(ErrorSource::Gateway))?;
        let translated =
            Arc::new(Translated { path: translated.path, query: translated.query, body: Bytes::from(body) });
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((default_max_tokens, translated.clone()));
        Ok(translated)
    }
}

/// Translates an OpenAI embeddings request for a provider with another embeddings API.
fn translate_embeddings(route: &Route, provider: Provider, bytes: &Bytes) -> Result<Plan, GatewayError> {
    if route.family == Family::VertexAi {
        return Err(GatewayError::bad_request(
            "embeddings are not translated for Vertex AI (its embedding models use :predict); call the native path",
        ));
    }
    let request: EmbeddingRequest = serde_json::from_slice(bytes)
        .map_err(|e| GatewayError::bad_request(format!("the body is not an OpenAI embeddings request: {e}")))?;
    let translated = modelgate_translate::embeddings::request(provider, &request, route.model.as_deref())
        .map_err(translation_error)?;
    let body = serde_json::to_vec(&translated.body).map_err(|e| GatewayError::bad_request(e.to_string()))?;
    let model = route.model.clone().or(request.model).unwrap_or_default();
    let request = Translated { path: translated.path, query: translated.query, body: Bytes::from(body) };
    Ok(Plan::TranslatedEmbeddings { provider, request, model })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_api_is_read_from_method_and_path() {
        let cases = [
            (Method::POST, "/v1/chat/completions", ClientApi::ChatCompletions),
            (Method::POST, "/chat/completions", ClientApi::ChatCompletions),
            (Method::POST, "/v1/embeddings", ClientApi::Embeddings),
            (Method::POST, "/embeddings", ClientApi::Embeddings),
            (Method::POST, "/v1/responses", ClientApi::Responses),
            (Method::POST, "/responses", ClientApi::Responses),
            (Method::GET, "/v1/responses/resp_1", ClientApi::Native),
            (Method::GET, "/v1/chat/completions", ClientApi::Native),
            (Method::POST, "/v1/messages", ClientApi::Messages),
            (Method::POST, "/v1/messages/count_tokens", ClientApi::CountTokens),
            (Method::GET, "/v1/messages", ClientApi::Native),
            (Method::POST, "/v1/messages/batches", ClientApi::Native),
            (Method::POST, "/v1beta/models/gemini:generateContent", ClientApi::Native),
        ];
        for (method, path, expected) in cases {
            assert_eq!(client_api(&method, path), expected, "{method} {path}");
        }
    }

    #[test]
    fn errors_take_anthropic_s_shape_on_its_messages_api() {
        for (path, shape) in [
            ("/v1/messages", ErrorShape::Anthropic),
            ("/v1/messages/count_tokens", ErrorShape::Anthropic),
            ("/v1/messages/batches", ErrorShape::Anthropic),
            ("/v1/chat/completions", ErrorShape::Gateway),
            ("/v1/messagesx", ErrorShape::Gateway),
        ] {
            assert_eq!(error_shape(path), shape, "{path}");
        }
    }
}
