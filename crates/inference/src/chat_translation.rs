//! The unified OpenAI-compatible chat endpoint for providers whose API is not OpenAI's
//! (Anthropic, Gemini, Vertex AI, Cohere): the request is translated before it goes upstream,
//! and the answer (JSON, SSE stream or error) is translated on its way back, streams event by
//! event without waiting for the end.

use crate::relay::BodyProcessor;
use crate::sse::{parse_event, EventBuffer};
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

/// OpenAI's usage as the usage record counts it.
pub(crate) fn usage_of(usage: &modelgate_translate::openai::Usage) -> Usage {
    let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let details = usage.prompt_tokens_details.as_ref();
    Usage {
        input: as_i64(usage.prompt_tokens),
        output: as_i64(usage.completion_tokens),
        total: as_i64(usage.total_tokens),
        cache_read: details.map_or(0, |d| as_i64(d.cached_tokens)),
        cache_write: details.map_or(0, |d| as_i64(d.cache_write_tokens)),
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
    events: EventBuffer,
    failed: bool,
}

impl StreamTranslation {
    pub fn new(provider: Provider, context: ResponseContext) -> StreamTranslation {
        StreamTranslation {
            translator: modelgate_translate::stream(provider, context),
            events: EventBuffer::default(),
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
            Err(error) => self.fail(error.message, out),
        }
    }

    /// Ends the stream with `message`: OpenAI reports a failure inside a stream as an error event.
    fn fail(&mut self, message: String, out: &mut VecDeque<Bytes>) {
        let body = ErrorBody::for_status(500, message, None);
        if let Ok(json) = serde_json::to_vec(&body) {
            out.push_back(sse_event(&json));
        }
        self.failed = true;
    }
}

impl BodyProcessor for StreamTranslation {
    fn failed(&self) -> bool {
        self.failed
    }

    fn abort(&mut self, message: &str, out: &mut VecDeque<Bytes>) {
        if !self.failed {
            self.fail(message.to_string(), out);
        }
    }

    fn feed(&mut self, chunk: Bytes, out: &mut VecDeque<Bytes>) {
        if self.failed {
            return;
        }
        if let Err(message) = self.events.push(&chunk) {
            return self.fail(message, out);
        }
        while let Some(event) = self.events.next_event() {
            self.event(&event, out);
            if self.failed {
                return;
            }
        }
    }

    fn finish(&mut self, out: &mut VecDeque<Bytes>) -> Usage {
        if !self.failed {
            if let Some(rest) = self.events.rest() {
                self.event(&rest, out);
            }
            push_chunks(self.translator.finish(), out);
            out.push_back(Bytes::from_static(b"data: [DONE]\n\n"));
        }
        usage_of(&self.translator.usage())
    }
}

/// A whole answer, held to translate it once it has arrived.
#[derive(Default)]
pub(crate) struct HeldAnswer {
    pub bytes: BytesMut,
    /// More than [`MAX_BUFFERED`] arrived: too large to translate.
    pub overflowed: bool,
}

impl HeldAnswer {
    pub fn push(&mut self, chunk: &[u8]) {
        if self.bytes.len() + chunk.len() > MAX_BUFFERED {
            self.overflowed = true;
        } else {
            self.bytes.extend_from_slice(chunk);
        }
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
    body: HeldAnswer,
    /// The answer could not be translated: the client got a 502 error body.
    failed: bool,
}

impl WholeTranslation {
    pub fn new(provider: Provider, answer: Answer, status: u16) -> WholeTranslation {
        WholeTranslation { provider, answer, status, body: HeldAnswer::default(), failed: false }
    }

    fn translate(&self) -> Result<(Vec<u8>, Usage), String> {
        let value: serde_json::Value =
            serde_json::from_slice(&self.body.bytes).map_err(|e| format!("the provider's answer is not JSON: {e}"))?;
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
                Ok((
                    serde_json::to_vec(&list).unwrap_or_default(),
                    Usage { input: tokens, output: 0, total: tokens, ..Usage::default() },
                ))
            }
        }
    }
}

impl BodyProcessor for WholeTranslation {
    fn failed(&self) -> bool {
        self.failed
    }

    fn feed(&mut self, chunk: Bytes, _out: &mut VecDeque<Bytes>) {
        self.body.push(&chunk);
    }

    fn finish(&mut self, out: &mut VecDeque<Bytes>) -> Usage {
        let error = |status: u16, message: String| {
            serde_json::to_vec(&ErrorBody::for_status(status, message, None)).unwrap_or_default()
        };
        if self.status >= 400 {
            let body = modelgate_translate::error(self.provider, self.status, &self.body.bytes);
            out.push_back(Bytes::from(serde_json::to_vec(&body).unwrap_or_default()));
            return Usage::default();
        }
        if self.body.overflowed {
            self.failed = true;
            out.push_back(Bytes::from(error(502, "the provider's answer is too large to translate".into())));
            return Usage::default();
        }
        match self.translate() {
            Ok((body, usage)) => {
                out.push_back(Bytes::from(body));
                usage
            }
            Err(message) => {
                self.failed = true;
                out.push_back(Bytes::from(error(502, message)));
                Usage::default()
            }
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::properties::{chunked, config, cuts, every_cut, near, run};
    use proptest::prelude::*;

    const ANTHROPIC_STREAM: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":3,\"output_tokens\":1}}}\n\n\
        event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
        event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello \u{e9}\u{1F600}\"}}\n\n\
        event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{}}}\n\n\
        event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\":\"}}\n\n\
        event: ping\ndata: {\"type\": \"ping\"}\n\n\
        event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":9}}\n\n\
        event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    const GEMINI_STREAM: &str = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi \u{65e5}\"}],\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":1,\"totalTokenCount\":5},\"modelVersion\":\"gemini-2.0-flash\",\"responseId\":\"r1\"}\r\n\r\n\
        data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{\"a\":[1]}}},{\"text\":\"t\",\"thought\":true}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":6,\"thoughtsTokenCount\":2,\"totalTokenCount\":12}}\r\n\r\n";

    const COHERE_STREAM: &str = "event: message-start\ndata: {\"id\":\"c1\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\"}}}\n\n\
        event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Hi\"}}}}\n\n\
        event: tool-call-start\ndata: {\"type\":\"tool-call-start\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"id\":\"t1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}}}}\n\n\
        event: tool-call-delta\ndata: {\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"{\\\"a\\\"\"}}}}}\n\n\
        event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"TOOL_CALL\",\"usage\":{\"billed_units\":{\"input_tokens\":3,\"output_tokens\":4},\"tokens\":{\"input_tokens\":5,\"output_tokens\":6}}}}\n\n";

    const ANSWERS: [&str; 7] = [
        r#"{"id":"msg_1","type":"message","model":"claude","content":[{"type":"text","text":"Hi"},{"type":"tool_use","id":"t","name":"f","input":{"a":1}}],"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":4}}"#,
        r#"{"candidates":[{"content":{"parts":[{"text":"Hi"},{"functionCall":{"name":"f","args":{}}}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2,"totalTokenCount":3},"responseId":"r"}"#,
        r#"{"id":"c","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"Hi"}],"tool_calls":[{"id":"t","function":{"name":"f","arguments":"{}"}}]},"usage":{"tokens":{"input_tokens":1.0,"output_tokens":2}}}"#,
        r#"{"embedding":{"values":[0.5,-0.5]}}"#,
        r#"{"embeddings":{"float":[[0.1],[0.2]]},"meta":{"billed_units":{"input_tokens":7}}}"#,
        r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
        r#"[{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}]"#,
    ];

    const PROVIDERS: [(Provider, &str); 3] =
        [(Provider::Anthropic, ANTHROPIC_STREAM), (Provider::Gemini, GEMINI_STREAM), (Provider::Cohere, COHERE_STREAM)];

    fn context(include_usage: bool) -> ResponseContext {
        ResponseContext { id: "chatcmpl-gw".into(), created: 1, model: String::new(), include_usage }
    }

    /// A provider's stream near a valid one, and the provider.
    fn stream() -> impl Strategy<Value = (Provider, Vec<u8>)> {
        (0..PROVIDERS.len()).prop_flat_map(|i| {
            let (provider, sample) = PROVIDERS[i];
            (Just(provider), near(&[sample]))
        })
    }

    /// What the client gets is OpenAI's SSE: `data: ` and a JSON chunk (or `[DONE]`) per event.
    fn is_openai_sse(seen: &[u8]) -> bool {
        let text = String::from_utf8_lossy(seen);
        text.ends_with("\n\n")
            && text.split_terminator("\n\n").all(|event| {
                event
                    .strip_prefix("data: ")
                    .is_some_and(|data| data == "[DONE]" || serde_json::from_str::<serde_json::Value>(data).is_ok())
            })
    }

    proptest! {
        #![proptest_config(config(500))]

        /// However a stream near a valid one is cut, the client gets the same OpenAI chunks and
        /// the same usage as for the stream whole.
        #[test]
        fn a_stream_translates_the_same_however_cut((provider, body) in stream(), include_usage in any::<bool>(), cuts in cuts()) {
            let whole = run(StreamTranslation::new(provider, context(include_usage)), vec![body.clone().into()]);
            prop_assert!(is_openai_sse(&whole.0), "{}", String::from_utf8_lossy(&whole.0));
            prop_assert_eq!(run(StreamTranslation::new(provider, context(include_usage)), chunked(&body, &cuts)), whole);
        }

        /// Whatever a provider answers whole, with whatever status, the client gets one JSON body.
        #[test]
        fn any_whole_answer_becomes_one_json_body(
            body in prop_oneof![near(&ANSWERS), proptest::collection::vec(any::<u8>(), 0..32)],
            provider in proptest::sample::select(&[Provider::Anthropic, Provider::Gemini, Provider::Cohere][..]),
            embeddings in any::<bool>(),
            status in proptest::sample::select(&[200u16, 201, 400, 401, 404, 429, 500, 503][..]),
        ) {
            let answer = if embeddings { Answer::Embeddings("e".into()) } else { Answer::Chat(context(false)) };
            let (seen, usage) = run(WholeTranslation::new(provider, answer, status), chunked(&body, &[body.len() / 2]));
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&seen).is_ok(), "{}", String::from_utf8_lossy(&seen));
            prop_assert!(usage.input >= 0 && usage.output >= 0 && usage.total >= 0);
        }
    }

    proptest! {
        #![proptest_config(config(10))]

        #[test]
        fn a_stream_translates_the_same_cut_at_every_byte((provider, body) in stream()) {
            let whole = run(StreamTranslation::new(provider, context(true)), vec![body.clone().into()]);
            for chunks in every_cut(&body) {
                prop_assert_eq!(&run(StreamTranslation::new(provider, context(true)), chunks), &whole);
            }
        }
    }
}
