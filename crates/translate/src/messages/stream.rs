//! OpenAI `chat.completion.chunk`s -> Anthropic's stream events: `message_start` and `ping` on the
//! first chunk; a content block per text run or tool call (`content_block_start`, deltas,
//! `content_block_stop`); at the end `message_delta` with the stop reason and usage, and
//! `message_stop`. Blocks follow each other: a tool call or text after another block closes it.

use super::wire::{BlockDelta, ContentBlock, ErrorDetail, Message, MessageDelta, MessageUsage, StreamEvent};
use super::{stop_reason, usage};
use crate::openai::{continued_call, BegunCall, ChatChunk, ToolCallDelta, Usage};
use crate::{ResponseContext, TranslateError};
use serde_json::json;

/// The content block being streamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    Text(u32),
    /// A tool call, by its OpenAI `index`, at an Anthropic block index.
    Tool {
        call: u32,
        block: u32,
    },
}

/// Translates one chat stream into a Messages stream.
pub struct Stream {
    context: ResponseContext,
    started: bool,
    open: Option<Open>,
    next_block: u32,
    /// Each call begun, with its Anthropic block index.
    calls: Vec<BegunCall<u32>>,
    finish_reason: Option<String>,
    /// The model refused (OpenAI's `refusal` pieces, sent as text): the stop reason is `refusal`.
    refused: bool,
    usage: Usage,
    ended: bool,
}

impl Stream {
    /// A translator answering with the context's id (`msg_...`) and model.
    pub fn new(context: ResponseContext) -> Stream {
        Stream {
            context,
            started: false,
            open: None,
            next_block: 0,
            calls: Vec::new(),
            finish_reason: None,
            refused: false,
            usage: Usage::default(),
            ended: false,
        }
    }

    /// One SSE `data:` payload of an OpenAI-compatible stream (`[DONE]` gives nothing). An error
    /// object in the stream is the provider's failure.
    pub fn event(&mut self, data: &str) -> Result<Vec<StreamEvent>, TranslateError> {
        let data = data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(Vec::new());
        }
        // Read leniently, as the Responses API reads them: OpenAI-compatible providers leave out
        // fields OpenAI always sends (a usage chunk without `choices`, a tool call without `id`).
        match crate::responses::chat_chunk(data) {
            Ok(chunk) => Ok(self.chunk(&chunk)),
            Err(error) => Err(TranslateError::other(format!("the provider's stream failed: {}", error.message))),
        }
    }

    /// One chat chunk (its first choice; usage from any chunk that carries it).
    pub fn chunk(&mut self, chunk: &ChatChunk) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        self.start(&mut out);
        if let Some(usage) = &chunk.usage {
            self.usage = usage.clone();
        }
        let Some(choice) = chunk.choices.iter().find(|c| c.index == 0) else { return out };
        let refusal = choice.delta.refusal.as_deref().filter(|t| !t.is_empty());
        self.refused |= refusal.is_some();
        for text in [choice.delta.content.as_deref().filter(|t| !t.is_empty()), refusal].into_iter().flatten() {
            let block = match self.open {
                Some(Open::Text(block)) => block,
                _ => {
                    let block = self.open_block(ContentBlock::Text { text: String::new() }, &mut out);
                    self.open = Some(Open::Text(block));
                    block
                }
            };
            let delta = BlockDelta::TextDelta { text: text.to_string() };
            out.push(StreamEvent::ContentBlockDelta { index: block, delta });
        }
        for call in choice.delta.tool_calls.iter().flatten() {
            self.tool_call(call, &mut out);
        }
        if let Some(reason) = &choice.finish_reason {
            self.finish_reason = Some(reason.clone());
            self.close(&mut out);
        }
        out
    }

    /// The end of the chat stream: the last block closed, `message_delta` and `message_stop`.
    pub fn finish(&mut self) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        self.start(&mut out);
        self.close(&mut out);
        self.ended = true;
        let reason = match self.refused {
            true => "refusal",
            false => stop_reason(self.finish_reason.as_deref().unwrap_or("stop")),
        };
        let delta = MessageDelta { stop_reason: Some(reason.to_string()), stop_sequence: None };
        out.push(StreamEvent::MessageDelta { delta, usage: usage(&self.usage) });
        out.push(StreamEvent::MessageStop);
        out
    }

    /// The event that ends a stream that failed; nothing follows it.
    pub fn error(&mut self, message: String) -> StreamEvent {
        self.ended = true;
        StreamEvent::Error { error: ErrorDetail { kind: "api_error".into(), message } }
    }

    /// Usage seen so far.
    pub fn usage(&self) -> Usage {
        self.usage.clone()
    }

    fn start(&mut self, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let message = Message {
            id: self.context.id.clone(),
            kind: "message".into(),
            role: "assistant".into(),
            model: self.context.model.clone(),
            content: Vec::new(),
            stop_reason: None,
            stop_sequence: None,
            usage: MessageUsage::default(),
        };
        out.push(StreamEvent::MessageStart { message });
        out.push(StreamEvent::Ping);
    }

    fn open_block(&mut self, content_block: ContentBlock, out: &mut Vec<StreamEvent>) -> u32 {
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        out.push(StreamEvent::ContentBlockStart { index, content_block });
        index
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(open) = self.open.take() {
            let index = match open {
                Open::Text(index) | Open::Tool { block: index, .. } => index,
            };
            out.push(StreamEvent::ContentBlockStop { index });
        }
    }

    fn tool_call(&mut self, call: &ToolCallDelta, out: &mut Vec<StreamEvent>) {
        let function = call.function.as_ref();
        let arguments = function.and_then(|f| f.arguments.as_deref()).unwrap_or_default();
        let block = match continued_call(&self.calls, call) {
            // Arguments of a call whose block was closed by another are sent at its own index.
            Some(block) => block,
            None => {
                let name = function.and_then(|f| f.name.clone()).unwrap_or_default();
                let id = call.id.clone().unwrap_or_else(|| format!("toolu_{}_{}", self.context.id, self.calls.len()));
                let block = self.open_block(ContentBlock::ToolUse { id, name, input: json!({}) }, out);
                self.open = Some(Open::Tool { call: call.index, block });
                self.calls.push((call.index, call.id.clone(), block));
                block
            }
        };
        if !arguments.is_empty() {
            let delta = BlockDelta::InputJsonDelta { partial_json: arguments.to_string() };
            out.push(StreamEvent::ContentBlockDelta { index: block, delta });
        }
    }
}
