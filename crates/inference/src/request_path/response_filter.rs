//! The `response_filter` step: the provider's answer becomes the client's. Its status passes
//! through; its headers lose those that describe the upstream connection or a body that is
//! rewritten, and the provider's cookies (meant for the gateway's client, and able to reach the
//! console's cookies, which browsers do not keep apart by port); an answer that is neither JSON
//! nor an event stream is sandboxed, so a browser never runs a provider's page as this host.
//! Its body goes through the processor the plan's [`AnswerShape`] calls for (the usage tap, or a
//! translator) inside the [`Relay`], which streams it and records the request when it ends
//! (`logging`).

use super::context::RequestContext;
use super::logging::Logging;
use super::plan::AnswerShape;
use crate::chat_translation::{Answer, StreamTranslation, WholeTranslation};
use crate::messages_ingress::{MessagesAnswer, MessagesStream, MessagesWhole};
use crate::relay::{BodyProcessor, Relay};
use crate::responses_translation::{ResponsesStreamTranslation, ResponsesWholeTranslation};
use crate::upstream_client::UpstreamResponse;
use crate::usage_tap::UsageTap;
use axum::body::Body;
use axum::http::header::{
    CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE, SET_COOKIE, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use http_body_util::BodyExt;

/// Response headers not relayed: those that describe the upstream connection, not the message,
/// and the provider's cookies.
static NOT_RELAYED_RESPONSE: [HeaderName; 8] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    TRANSFER_ENCODING,
    UPGRADE,
    TRAILER,
    TE,
    SET_COOKIE,
];

/// The `content-length` a response announces, if any.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// The client's response to `response`, relayed as it arrives; the request is recorded when
/// its body ends.
pub(super) fn relay(context: RequestContext, response: UpstreamResponse, shape: AnswerShape) -> Response {
    let ttfb = context.started.elapsed();
    let (parts, upstream_body) = response.into_parts();
    let status = parts.status;
    // The provider's headers are relayed in their own map.
    let mut headers = parts.headers;
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let sse = content_type.starts_with("text/event-stream");
    let json = content_type.starts_with("application/json");
    let rewrites_body = !matches!(shape, AnswerShape::Native { strip_usage_chunk: false });
    let expected_length = if rewrites_body { None } else { content_length(&headers) };
    for name in &NOT_RELAYED_RESPONSE {
        headers.remove(name);
    }
    if rewrites_body {
        headers.remove(CONTENT_LENGTH);
    }
    match shape {
        AnswerShape::Native { .. } if !json && !sse => {
            headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
            headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        }
        AnswerShape::Native { .. } => {}
        _ => {
            headers.remove(CONTENT_TYPE);
        }
    }
    let processor: Box<dyn BodyProcessor> = match shape {
        AnswerShape::Native { strip_usage_chunk } => {
            Box::new(UsageTap::new(context.route.family, sse, strip_usage_chunk))
        }
        AnswerShape::Translated { provider, stream, context: answer } => {
            if stream && status.is_success() {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                Box::new(StreamTranslation::new(provider, answer))
            } else {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Box::new(WholeTranslation::new(provider, Answer::Chat(answer), status.as_u16()))
            }
        }
        AnswerShape::TranslatedEmbeddings { provider, model } => {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Box::new(WholeTranslation::new(provider, Answer::Embeddings(model), status.as_u16()))
        }
        AnswerShape::Responses(answer) => {
            let answer = *answer;
            if answer.stream && status.is_success() {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                Box::new(ResponsesStreamTranslation::new(answer.provider, answer.chat, answer.context))
            } else {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Box::new(ResponsesWholeTranslation::new(answer.provider, answer.chat, answer.context, status.as_u16()))
            }
        }
        AnswerShape::Messages { provider, stream, context: answer } => {
            if stream && status.is_success() {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                Box::new(MessagesStream::new(provider, answer))
            } else {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Box::new(MessagesWhole::new(MessagesAnswer::Message { provider, context: answer }, status.as_u16()))
            }
        }
        AnswerShape::CountTokens { provider } => {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Box::new(MessagesWhole::new(MessagesAnswer::TokenCount { provider }, status.as_u16()))
        }
    };
    let idle_timeout = context.state.timeouts.idle;
    let logging = Box::new(Logging { context, ttfb });
    let body = Relay::new(
        upstream_body.map_err(Into::into).boxed_unsync(),
        processor,
        idle_timeout,
        status.as_u16(),
        expected_length,
        logging,
    );
    let mut relayed = Response::new(Body::from_stream(body));
    *relayed.status_mut() = status;
    *relayed.headers_mut() = headers;
    relayed
}
