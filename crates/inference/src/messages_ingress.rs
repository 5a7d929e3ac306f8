//! Answers to Anthropic Messages requests served by other providers: the OpenAI chat answer (the
//! provider's own, or its translator's) becomes Anthropic's message, stream events or error, as
//! the answer arrives: each provider event goes through the chain at once, nothing is held back.

use crate::chat_translation::{usage_of, HeldAnswer};
use crate::relay::BodyProcessor;
use crate::sse::{parse_event, EventBuffer};
use crate::usage_tap::Usage;
use bytes::{Bytes, BytesMut};
use modelgate_translate::messages::{self, wire::StreamEvent};
use modelgate_translate::openai::ChatChunk;
use modelgate_translate::{Provider, ResponseContext, StreamTranslator, TranslateError};
use serde::Serialize;
use std::collections::VecDeque;

/// `event: {name}` and `data: {json}`, as Anthropic's streams frame every event.
fn sse_event(event: &StreamEvent) -> Option<Bytes> {
    let json = serde_json::to_vec(event).ok()?;
    let name = event.name();
    let mut framed = BytesMut::with_capacity(json.len() + name.len() + 16);
    framed.extend_from_slice(b"event: ");
    framed.extend_from_slice(name.as_bytes());
    framed.extend_from_slice(b"\ndata: ");
    framed.extend_from_slice(&json);
    framed.extend_from_slice(b"\n\n");
    Some(framed.freeze())
}

fn push_events(events: Vec<StreamEvent>, out: &mut VecDeque<Bytes>) {
    out.extend(events.iter().filter_map(sse_event));
}

/// Translates a chat stream into a Messages stream as each provider event completes.
pub struct MessagesStream {
    /// The provider's translator into chat chunks; `None` when the provider streams chat itself.
    translator: Option<Box<dyn StreamTranslator>>,
    messages: messages::Stream,
    events: EventBuffer,
    failed: bool,
}

impl MessagesStream {
    pub fn new(provider: Option<Provider>, context: ResponseContext) -> MessagesStream {
        // The provider's translator reports its usage as the final chunk, which the Messages
        // stream reads.
        let inner = ResponseContext { include_usage: true, ..context.clone() };
        MessagesStream {
            translator: provider.map(|provider| modelgate_translate::stream(provider, inner)),
            messages: messages::Stream::new(context),
            events: EventBuffer::default(),
            failed: false,
        }
    }

    fn chunks(&mut self, chunks: Vec<ChatChunk>, out: &mut VecDeque<Bytes>) {
        for chunk in &chunks {
            push_events(self.messages.chunk(chunk), out);
        }
    }

    fn event(&mut self, event: &[u8], out: &mut VecDeque<Bytes>) {
        let (name, data) = parse_event(event);
        let data = String::from_utf8_lossy(&data);
        let translated: Result<(), TranslateError> = match &mut self.translator {
            None => self.messages.event(&data).map(|events| push_events(events, out)),
            Some(_) if data.is_empty() || data == "[DONE]" => Ok(()),
            Some(translator) => translator.event(name.as_deref(), &data).map(|chunks| self.chunks(chunks, out)),
        };
        if let Err(error) = translated {
            self.fail(error.message, out);
        }
    }

    /// Ends the stream: Anthropic reports a failure inside a stream as an `error` event, the
    /// stream's last.
    fn fail(&mut self, message: String, out: &mut VecDeque<Bytes>) {
        push_events(vec![self.messages.error(message)], out);
        self.failed = true;
    }
}

impl BodyProcessor for MessagesStream {
    fn failed(&self) -> bool {
        self.failed
    }

    fn abort(&mut self, message: &str, out: &mut VecDeque<Bytes>) {
        if !self.failed {
            self.fail(message.to_string(), out);
        }
    }

    fn feed(&mut self, chunk: Bytes, out: &mut VecDeque<Bytes>) {
        // After a failure the stream is over: what follows is dropped.
        if !self.failed {
            if let Err(message) = self.events.push(&chunk) {
                self.fail(message, out);
            }
        }
        while !self.failed {
            let Some(event) = self.events.next_event() else { break };
            self.event(&event, out);
        }
    }

    fn finish(&mut self, out: &mut VecDeque<Bytes>) -> Usage {
        if let (false, Some(rest)) = (self.failed, self.events.rest()) {
            self.event(&rest, out);
        }
        if !self.failed {
            if let Some(translator) = &mut self.translator {
                let last = translator.finish();
                self.chunks(last, out);
            }
            push_events(self.messages.finish(), out);
        }
        usage_of(&self.messages.usage())
    }
}

/// What a whole answer to a Messages request is.
pub enum MessagesAnswer {
    /// A message, from OpenAI chat or (with a provider) the provider's API.
    Message { provider: Option<Provider>, context: ResponseContext },
    /// A token count from the provider's API.
    TokenCount { provider: Provider },
}

/// Translates a whole answer (a message, a token count, or an error) once it has arrived.
pub struct MessagesWhole {
    answer: MessagesAnswer,
    status: u16,
    body: HeldAnswer,
    /// The answer could not be translated: the client got a 502 error body.
    failed: bool,
}

impl MessagesWhole {
    pub fn new(answer: MessagesAnswer, status: u16) -> MessagesWhole {
        MessagesWhole { answer, status, body: HeldAnswer::default(), failed: false }
    }

    fn provider(&self) -> Option<Provider> {
        match self.answer {
            MessagesAnswer::Message { provider, .. } => provider,
            MessagesAnswer::TokenCount { provider } => Some(provider),
        }
    }

    fn translate(&self) -> Result<(Vec<u8>, Usage), TranslateError> {
        match &self.answer {
            MessagesAnswer::Message { provider: None, context } => {
                // Read leniently: OpenAI-compatible providers leave out fields OpenAI sends.
                let completion = messages::lenient_completion(&parse(&self.body.bytes)?)?;
                Ok(message(&completion, context))
            }
            MessagesAnswer::Message { provider: Some(provider), context } => {
                let completion = modelgate_translate::response(*provider, &parse(&self.body.bytes)?, context)?;
                Ok(message(&completion, context))
            }
            MessagesAnswer::TokenCount { .. } => {
                let count = messages::count_tokens_answer(&parse(&self.body.bytes)?)?;
                Ok((to_json(&count), Usage::default()))
            }
        }
    }
}

fn parse(body: &[u8]) -> Result<serde_json::Value, TranslateError> {
    serde_json::from_slice(body).map_err(|e| TranslateError::other(format!("the provider's answer is not JSON: {e}")))
}

fn message(completion: &modelgate_translate::openai::ChatCompletion, context: &ResponseContext) -> (Vec<u8>, Usage) {
    let usage = completion.usage.as_ref().map(usage_of).unwrap_or_default();
    (to_json(&messages::response(completion, context)), usage)
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

impl BodyProcessor for MessagesWhole {
    fn failed(&self) -> bool {
        self.failed
    }

    fn feed(&mut self, chunk: Bytes, _out: &mut VecDeque<Bytes>) {
        self.body.push(&chunk);
    }

    fn finish(&mut self, out: &mut VecDeque<Bytes>) -> Usage {
        let (body, usage) = if self.status >= 400 {
            let error = match self.provider() {
                None => messages::from_openai_bytes(self.status, &self.body.bytes),
                Some(provider) => messages::from_openai(
                    self.status,
                    &modelgate_translate::error(provider, self.status, &self.body.bytes),
                ),
            };
            (to_json(&error), Usage::default())
        } else if self.body.overflowed {
            self.failed = true;
            (to_json(&messages::error_body(502, "the provider's answer is too large to translate")), Usage::default())
        } else {
            self.translate().unwrap_or_else(|e| {
                self.failed = true;
                (to_json(&messages::error_body(502, e.message)), Usage::default())
            })
        };
        out.push_back(Bytes::from(body));
        usage
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::properties::{chunked, config, cuts, near, run};
    use proptest::prelude::*;

    const OPENAI_STREAM: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi \u{e9}\u{1F600}\"},\"finish_reason\":null}]}\n\n\
        data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\"\"}}]},\"finish_reason\":null}]}\n\n\
        data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n\
        data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,\"total_tokens\":8,\"prompt_tokens_details\":{\"cached_tokens\":2}}}\n\n\
        data: [DONE]\n\n";

    const COHERE_STREAM: &str = "event: message-start\ndata: {\"id\":\"c1\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\"}}}\n\n\
        event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Hi\"}}}}\n\n\
        event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\",\"usage\":{\"tokens\":{\"input_tokens\":5,\"output_tokens\":6}}}}\n\n";

    const ANSWERS: [&str; 3] = [
        r#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#,
        r#"{"id":"c","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"Hi"}]},"usage":{"tokens":{"input_tokens":1,"output_tokens":2}}}"#,
        r#"{"totalTokens": 12}"#,
    ];

    const SOURCES: [(Option<Provider>, &str); 2] = [(None, OPENAI_STREAM), (Some(Provider::Cohere), COHERE_STREAM)];

    fn context() -> ResponseContext {
        ResponseContext { id: "msg_1".into(), created: 0, model: "m".into(), include_usage: true }
    }

    fn stream() -> impl Strategy<Value = (Option<Provider>, Vec<u8>)> {
        proptest::sample::select(&SOURCES[..]).prop_flat_map(|(provider, sample)| (Just(provider), near(&[sample])))
    }

    /// What the client gets is Anthropic's SSE: an `event:` and a JSON `data:` per event.
    fn is_anthropic_sse(seen: &[u8]) -> bool {
        let text = String::from_utf8_lossy(seen);
        text.ends_with("\n\n")
            && text.split_terminator("\n\n").all(|event| {
                let mut lines = event.lines();
                let name = lines.next().and_then(|l| l.strip_prefix("event: "));
                let data = lines.next().and_then(|l| l.strip_prefix("data: "));
                let data: Option<serde_json::Value> = data.and_then(|d| serde_json::from_str(d).ok());
                matches!((name, data), (Some(name), Some(data)) if data["type"] == name)
            })
    }

    proptest! {
        #![proptest_config(config(500))]

        /// However a stream near a valid one is cut, the client gets the same Anthropic events
        /// and the same usage as for the stream whole.
        #[test]
        fn a_stream_translates_the_same_however_cut((provider, body) in stream(), cuts in cuts()) {
            let whole = run(MessagesStream::new(provider, context()), vec![body.clone().into()]);
            prop_assert!(is_anthropic_sse(&whole.0), "{}", String::from_utf8_lossy(&whole.0));
            prop_assert_eq!(run(MessagesStream::new(provider, context()), chunked(&body, &cuts)), whole);
        }

        /// Whatever a provider answers whole, with whatever status, the client gets one JSON body.
        #[test]
        fn any_whole_answer_becomes_one_json_body(
            body in prop_oneof![near(&ANSWERS), proptest::collection::vec(any::<u8>(), 0..32)],
            which in 0..3usize,
            status in proptest::sample::select(&[200u16, 400, 401, 404, 429, 500, 503][..]),
        ) {
            let answer = match which {
                0 => MessagesAnswer::Message { provider: None, context: context() },
                1 => MessagesAnswer::Message { provider: Some(Provider::Cohere), context: context() },
                _ => MessagesAnswer::TokenCount { provider: Provider::Gemini },
            };
            let (seen, usage) = run(MessagesWhole::new(answer, status), chunked(&body, &[body.len() / 2]));
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&seen).is_ok(), "{}", String::from_utf8_lossy(&seen));
            prop_assert!(usage.input >= 0 && usage.output >= 0 && usage.total >= 0);
        }
    }
}
