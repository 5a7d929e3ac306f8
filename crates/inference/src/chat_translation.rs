//! The unified OpenAI-compatible chat endpoint for providers whose API is not OpenAI's
//! (Anthropic, Gemini, Vertex AI, Cohere): the request is translated before it goes upstream,
//! and the answer (JSON, SSE stream or error) is translated on its way back, streams event by
//! event without waiting for the end.

use crate::relay::BodyProcessor;
use crate::sse::{find_event_end, parse_event};
use crate::usage_tap::Usage;
use bytes::{Bytes, BytesMut};
use modelgate_providers::Family;
use modelgate_translate::openai::{ChatChunk, ErrorBody};
use modelgate_translate::{Provider, ResponseContext, StreamTranslator};
use std::collections::VecDeque;

/// Largest provider answer held to translate it whole (JSON answers and errors).
const MAX_BUFFERED: usize = 16 * 1024 * 1024;

/// The translator of a provider family, if it needs one.
pub fn provider_of(family: Family) -> Option<Provider> {
    match family {
        Family::Anthropic => Some(Provider::Anthropic),
        Family::Gemini | Family::VertexAi => Some(Provider::Gemini),
        Family::Cohere => Some(Provider::Cohere),
        Family::OpenAiCompatible | Family::AzureOpenAi | Family::Mcp => None,
    }
}

fn usage_of(usage: &modelgate_translate::openai::Usage) -> Usage {
    let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    Usage {
        input: as_i64(usage.prompt_tokens),
        output: as_i64(usage.completion_tokens),
        total: as_i64(usage.total_tokens),
    }
}

fn sse_event(json: &[u8]) -> Bytes {
    let mut event = BytesMut::with_capacity(json.len() + 8);
    event.extend_from_slice(b"data: ");
    event.extend_from_slice(json);
    event.extend_from_slice(b"\n\n");
    event.freeze()
}

fn push_chunks(chunks: Vec<ChatChunk>, out: &mut VecDeque<Bytes>) {
    for chunk in chunks {
        if let Ok(json) = serde_json::to_vec(&chunk) {
            out.push_back(sse_event(&json));
        }
    }
}

/// Translates a provider's SSE stream into OpenAI chunks as each event completes.
pub struct StreamTranslation {
    translator: Box<dyn StreamTranslator>,
    pending: BytesMut,
    failed: bool,
}

impl StreamTranslation {
    pub fn new(provider: Provider, context: ResponseContext) -> StreamTranslation {
        StreamTranslation {
            translator: modelgate_translate::stream(provider, context),
            pending: BytesMut::new(),
            failed: false,
        }
    }

    fn event(&mut self, event: &[u8], out: &mut VecDeque<Bytes>) {
        let (name, data) = parse_event(event);
        let data = String::from_utf8_lossy(&data);
        if data.is_empty() || data == "[DONE]" {
            return;
        }
        match self.translator.event(name.as_deref(), &data) {
            Ok(chunks) => push_chunks(chunks, out),
            Err(error) => {
                // OpenAI reports a failure inside a stream as an error event.
                let body = ErrorBody::for_status(500, error.message, None);
                if let Ok(json) = serde_json::to_vec(&body) {
                    out.push_back(sse_event(&json));
                }
                self.failed = true;
            }
        }
    }
}

impl BodyProcessor for StreamTranslation {
    fn feed(&mut self, chunk: Bytes, out: &mut VecDeque<Bytes>) {
        if self.failed {
            return;
        }
        self.pending.extend_from_slice(&chunk);
        while let Some((end, separator)) = find_event_end(&self.pending) {
            let event = self.pending.split_to(end + separator);
            self.event(&event[..end], out);
            if self.failed {
                return;
            }
        }
    }

    fn finish(&mut self, out: &mut VecDeque<Bytes>) -> Usage {
        if !self.failed {
            if !self.pending.is_empty() {
                let rest = self.pending.split();
                self.event(&rest, out);
            }
            push_chunks(self.translator.finish(), out);
            out.push_back(Bytes::from_static(b"data: [DONE]\n\n"));
        }
        usage_of(&self.translator.usage())
    }
}

/// What a whole answer is.
pub enum Answer {
    Chat(ResponseContext),
    /// Embeddings of the named model.
    Embeddings(String),
}

/// Translates a whole answer (a chat completion, embeddings, or an error) once it has arrived.
pub struct WholeTranslation {
    provider: Provider,
    answer: Answer,
    status: u16,
    body: BytesMut,
    overflowed: bool,
}

impl WholeTranslation {
    pub fn new(provider: Provider, answer: Answer, status: u16) -> WholeTranslation {
        WholeTranslation { provider, answer, status, body: BytesMut::new(), overflowed: false }
    }

    fn translate(&self) -> Result<(Vec<u8>, Usage), String> {
        let value: serde_json::Value =
            serde_json::from_slice(&self.body).map_err(|e| format!("the provider's answer is not JSON: {e}"))?;
        match &self.answer {
            Answer::Chat(context) => {
                let completion =
                    modelgate_translate::response(self.provider, &value, context).map_err(|e| e.message)?;
                let usage = completion.usage.as_ref().map(usage_of).unwrap_or_default();
                Ok((serde_json::to_vec(&completion).unwrap_or_default(), usage))
            }
            Answer::Embeddings(model) => {
                let list =
                    modelgate_translate::embeddings::response(self.provider, &value, model).map_err(|e| e.message)?;
                let tokens = i64::try_from(list.usage.prompt_tokens).unwrap_or(i64::MAX);
                Ok((serde_json::to_vec(&list).unwrap_or_default(), Usage { input: tokens, output: 0, total: tokens }))
            }
        }
    }
}

impl BodyProcessor for WholeTranslation {
    fn feed(&mut self, chunk: Bytes, _out: &mut VecDeque<Bytes>) {
        if self.body.len() + chunk.len() > MAX_BUFFERED {
            self.overflowed = true;
        } else {
            self.body.extend_from_slice(&chunk);
        }
    }

    fn finish(&mut self, out: &mut VecDeque<Bytes>) -> Usage {
        let error = |status: u16, message: String| {
            serde_json::to_vec(&ErrorBody::for_status(status, message, None)).unwrap_or_default()
        };
        if self.status >= 400 {
            let body = modelgate_translate::error(self.provider, self.status, &self.body);
            out.push_back(Bytes::from(serde_json::to_vec(&body).unwrap_or_default()));
            return Usage::default();
        }
        if self.overflowed {
            out.push_back(Bytes::from(error(502, "the provider's answer is too large to translate".into())));
            return Usage::default();
        }
        match self.translate() {
            Ok((body, usage)) => {
                out.push_back(Bytes::from(body));
                usage
            }
            Err(message) => {
                out.push_back(Bytes::from(error(502, message)));
                Usage::default()
            }
        }
    }
}
