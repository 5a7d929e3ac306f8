//! OpenAI's Responses API for providers without it: the request went as a chat request, and the
//! chat answer comes back as a Responses answer. Two legs, chained event by event: the
//! provider's answer to chat (its translator, or nothing for a provider that speaks chat
//! completions), then chat to Responses (`modelgate_translate::responses`). Streams are never
//! held back beyond the event being read.

use crate::chat_translation::{usage_of, HeldAnswer};
use crate::relay::BodyProcessor;
use crate::sse::{parse_event, EventBuffer};
use crate::usage_tap::Usage;
use bytes::{Bytes, BytesMut};
use modelgate_translate::openai::ErrorBody;
use modelgate_translate::responses::{self, Event};
use modelgate_translate::{Provider, ResponseContext, StreamTranslator};
use std::collections::VecDeque;

/// `event: NAME` + `data: JSON`, as the Responses API streams.
fn push_events(events: Vec<Event>, out: &mut VecDeque<Bytes>) {
    for event in events {
        let mut framed = BytesMut::with_capacity(event.name.len() + event.data.len() + 16);
        framed.extend_from_slice(b"event: ");
        framed.extend_from_slice(event.name.as_bytes());
        framed.extend_from_slice(b"\ndata: ");
        framed.extend_from_slice(event.data.as_bytes());
        framed.extend_from_slice(b"\n\n");
        out.push_back(framed.freeze());
    }
}

/// A chat stream (the provider's, translated by `translator`, or its own chat chunks) as the
/// Responses event sequence.
pub struct ResponsesStreamTranslation {
    /// `None`: the provider streams chat chunks itself.
    translator: Option<Box<dyn StreamTranslator>>,
    responses: responses::Stream,
    events: EventBuffer,
    failed: bool,
}

impl ResponsesStreamTranslation {
    pub fn new(provider: Option<Provider>, chat: ResponseContext, context: responses::Context) -> Self {
        ResponsesStreamTranslation {
            translator: provider.map(|provider| modelgate_translate::stream(provider, chat)),
            responses: responses::Stream::new(context),
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
        let chunks = match &mut self.translator {
            Some(translator) => translator.event(name.as_deref(), &data),
            None => responses::chat_chunk(&data).map(|chunk| vec![chunk]),
        };
        match chunks {
            Ok(chunks) => {
                for chunk in &chunks {
                    push_events(self.responses.chunk(chunk), out);
                }
            }
            Err(error) => self.fail(&error.message, out),
        }
    }

    /// Ends the stream with `response.failed`, saying `message`.
    fn fail(&mut self, message: &str, out: &mut VecDeque<Bytes>) {
        push_events(self.responses.fail(message), out);
        self.failed = true;
    }
}

impl BodyProcessor for ResponsesStreamTranslation {
    fn failed(&self) -> bool {
        self.failed
    }

    fn abort(&mut self, message: &str, out: &mut VecDeque<Bytes>) {
        if !self.failed {
            self.fail(message, out);
        }
    }

    fn feed(&mut self, chunk: Bytes, out: &mut VecDeque<Bytes>) {
        if self.failed {
            return;
        }
        if let Err(message) = self.events.push(&chunk) {
            return self.fail(&message, out);
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
            if let Some(translator) = &mut self.translator {
                for chunk in translator.finish() {
                    push_events(self.responses.chunk(&chunk), out);
                }
            }
            push_events(self.responses.finish(), out);
        }
        match &self.translator {
            Some(translator) => usage_of(&translator.usage()),
            None => usage_of(&self.responses.usage()),
        }
    }
}

/// A whole chat answer (or an error) as a Responses answer, once it has arrived.
pub struct ResponsesWholeTranslation {
    /// `None`: the provider answered in chat completions itself.
    provider: Option<Provider>,
    chat: ResponseContext,
    context: responses::Context,
    status: u16,
    held: HeldAnswer,
    /// The answer could not be translated: the client got a 502 error body.
    failed: bool,
}

impl ResponsesWholeTranslation {
    pub fn new(provider: Option<Provider>, chat: ResponseContext, context: responses::Context, status: u16) -> Self {
        ResponsesWholeTranslation { provider, chat, context, status, held: HeldAnswer::default(), failed: false }
    }

    fn translate(&self) -> Result<(Vec<u8>, Usage), String> {
        let value: serde_json::Value =
            serde_json::from_slice(&self.held.bytes).map_err(|e| format!("the provider's answer is not JSON: {e}"))?;
        let completion = match self.provider {
            Some(provider) => modelgate_translate::response(provider, &value, &self.chat),
            None => responses::chat_completion(&value),
        }
        .map_err(|e| e.message)?;
        let usage = completion.usage.as_ref().map(usage_of).unwrap_or_default();
        let object = responses::response(&completion, &self.context);
        Ok((serde_json::to_vec(&object).unwrap_or_default(), usage))
    }
}

impl BodyProcessor for ResponsesWholeTranslation {
    fn failed(&self) -> bool {
        self.failed
    }

    fn feed(&mut self, chunk: Bytes, _out: &mut VecDeque<Bytes>) {
        self.held.push(&chunk);
    }

    fn finish(&mut self, out: &mut VecDeque<Bytes>) -> Usage {
        let (body, usage) = if self.status >= 400 {
            let body = match self.provider {
                Some(provider) => modelgate_translate::error(provider, self.status, &self.held.bytes),
                None => responses::error(self.status, &self.held.bytes),
            };
            (body, Usage::default())
        } else if self.held.overflowed {
            self.failed = true;
            (ErrorBody::for_status(502, "the provider's answer is too large to translate", None), Usage::default())
        } else {
            match self.translate() {
                Ok((body, usage)) => {
                    out.push_back(Bytes::from(body));
                    return usage;
                }
                Err(message) => {
                    self.failed = true;
                    (ErrorBody::for_status(502, message, None), Usage::default())
                }
            }
        };
        out.push_back(Bytes::from(serde_json::to_vec(&body).unwrap_or_default()));
        usage
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::properties::{chunked, config, cuts, every_cut, near, run};
    use proptest::prelude::*;

    /// A provider that speaks chat completions (usage in the last chunk, as Mistral sends it).
    const CHAT_STREAM: &str = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi \u{e9}\u{1F600}\"}}]}\n\n\
        data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"t\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n\n\
        data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}\n\n\
        data: [DONE]\n\n";

    const ANTHROPIC_STREAM: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n\
        event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
        event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello \u{65e5}\"}}\n\n\
        event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":9}}\n\n\
        event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    const SOURCES: [(Option<Provider>, &str); 2] = [(None, CHAT_STREAM), (Some(Provider::Anthropic), ANTHROPIC_STREAM)];

    fn translation(provider: Option<Provider>) -> ResponsesStreamTranslation {
        let chat = ResponseContext { id: "chatcmpl-1".into(), created: 1, model: "m".into(), include_usage: true };
        let context =
            responses::Context { id: "resp_1".into(), created_at: 1, model: "m".into(), echo: Default::default() };
        ResponsesStreamTranslation::new(provider, chat, context)
    }

    fn stream() -> impl Strategy<Value = (Option<Provider>, Vec<u8>)> {
        (0..SOURCES.len()).prop_flat_map(|i| {
            let (provider, sample) = SOURCES[i];
            (Just(provider), near(&[sample]))
        })
    }

    /// What the client gets is the Responses event stream: `event:` and `data:` JSON per event,
    /// ending with one terminal event.
    fn is_responses_sse(seen: &[u8]) -> bool {
        let text = String::from_utf8_lossy(seen);
        let events: Vec<&str> = text.split_terminator("\n\n").collect();
        text.ends_with("\n\n")
            && events.iter().all(|event| {
                event
                    .strip_prefix("event: ")
                    .and_then(|e| e.split_once("\ndata: "))
                    .is_some_and(|(_, data)| serde_json::from_str::<serde_json::Value>(data).is_ok())
            })
            && events.last().is_some_and(|last| {
                ["event: response.completed\n", "event: response.incomplete\n", "event: response.failed\n"]
                    .iter()
                    .any(|name| last.starts_with(name))
            })
    }

    #[test]
    fn a_valid_stream_reports_its_usage() {
        for (provider, sample, input, output) in
            [(None, CHAT_STREAM, 7, 3), (Some(Provider::Anthropic), ANTHROPIC_STREAM, 12, 9)]
        {
            let (seen, usage) = run(translation(provider), vec![Bytes::from_static(sample.as_bytes())]);
            assert!(is_responses_sse(&seen), "{}", String::from_utf8_lossy(&seen));
            assert_eq!((usage.input, usage.output), (input, output), "{provider:?}");
        }
    }

    proptest! {
        #![proptest_config(config(500))]

        /// However a chat stream near a valid one is cut, the client gets the same Responses
        /// events and the same usage as for the stream whole.
        #[test]
        fn a_stream_translates_the_same_however_cut((provider, body) in stream(), cuts in cuts()) {
            let whole = run(translation(provider), vec![body.clone().into()]);
            prop_assert!(is_responses_sse(&whole.0), "{}", String::from_utf8_lossy(&whole.0));
            prop_assert_eq!(run(translation(provider), chunked(&body, &cuts)), whole);
        }

        /// Whatever a provider answers whole, with whatever status, the client gets one JSON body.
        #[test]
        fn any_whole_answer_becomes_one_json_body(
            body in prop_oneof![near(&[r#"{"choices":[{"message":{"content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1}}"#,
                r#"{"object":"error","message":{"detail":[]}}"#]), proptest::collection::vec(any::<u8>(), 0..32)],
            provider in proptest::sample::select(&[None, Some(Provider::Anthropic), Some(Provider::Gemini), Some(Provider::Cohere)][..]),
            status in proptest::sample::select(&[200u16, 400, 401, 422, 429, 500][..]),
        ) {
            let chat = ResponseContext::default();
            let whole = ResponsesWholeTranslation::new(provider, chat, responses::Context::default(), status);
            let (seen, usage) = run(whole, chunked(&body, &[body.len() / 2]));
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&seen).is_ok(), "{}", String::from_utf8_lossy(&seen));
            prop_assert!(usage.input >= 0 && usage.output >= 0 && usage.total >= 0);
        }
    }

    proptest! {
        #![proptest_config(config(10))]

        #[test]
        fn a_stream_translates_the_same_cut_at_every_byte((provider, body) in stream()) {
            let whole = run(translation(provider), vec![body.clone().into()]);
            for chunks in every_cut(&body) {
                prop_assert_eq!(&run(translation(provider), chunks), &whole);
            }
        }
    }
}
