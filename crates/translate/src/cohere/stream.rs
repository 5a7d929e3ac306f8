//! Cohere v2 chat stream (`event: NAME` + `data: {"type": NAME, ...}`) -> OpenAI chunks.

use super::response::{arguments, finish_reason, usage};
use crate::openai::{ChatChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta, Usage};
use crate::{ResponseContext, StreamTranslator, TranslateError};
use serde_json::Value;

/// Translates one Cohere chat stream, event by event.
pub struct Stream {
    context: ResponseContext,
    /// Cohere's response id, once `message-start` gave it.
    id: Option<String>,
    /// Whether the first chunk (the one with `role`) went out.
    started: bool,
    /// `(Cohere event index, OpenAI tool call index)` of each tool call begun so far.
    tool_calls: Vec<(Option<u64>, u32)>,
    usage: Usage,
}

impl Stream {
    /// A translator for one stream answering the request described by `context`.
    pub fn new(context: ResponseContext) -> Stream {
        Stream { context, id: None, started: false, tool_calls: Vec::new(), usage: Usage::default() }
    }

    fn chunk(&mut self, mut delta: Delta, finish_reason: Option<&str>) -> ChatChunk {
        if !self.started {
            self.started = true;
            delta.role = Some("assistant".into());
        }
        ChatChunk {
            id: self.id.clone().unwrap_or_else(|| self.context.id.clone()),
            object: "chat.completion.chunk".into(),
            created: self.context.created,
            model: self.context.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish_reason.map(str::to_string),
                logprobs: None,
            }],
            usage: None,
        }
    }

    fn tool_delta(&mut self, call: ToolCallDelta) -> ChatChunk {
        self.chunk(Delta { tool_calls: Some(vec![call]), ..Delta::default() }, None)
    }

    fn tool_call_start(&mut self, data: &Value) -> ChatChunk {
        let index = u32::try_from(self.tool_calls.len()).unwrap_or(u32::MAX);
        self.tool_calls.push((data.get("index").and_then(Value::as_u64), index));
        let call = tool_call_of(data);
        let function = call.and_then(|c| c.get("function"));
        let name = function.and_then(|f| f.get("name")).and_then(Value::as_str).unwrap_or_default();
        let initial = match function.and_then(|f| f.get("arguments")) {
            None | Some(Value::Null) => String::new(),
            some => arguments(some),
        };
        self.tool_delta(ToolCallDelta {
            index,
            id: Some(
                call.and_then(|c| c.get("id"))
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("call_{index}"), str::to_string),
            ),
            kind: Some("function".into()),
            function: Some(FunctionCallDelta { name: Some(name.to_string()), arguments: Some(initial) }),
        })
    }

    fn tool_call_delta(&mut self, data: &Value) -> Result<Vec<ChatChunk>, TranslateError> {
        let piece = tool_call_of(data)
            .and_then(|c| c.get("function"))
            .and_then(|f| f.get("arguments"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if piece.is_empty() {
            return Ok(Vec::new());
        }
        // The call this piece belongs to: by Cohere's index, else the latest one begun.
        let cohere_index = data.get("index").and_then(Value::as_u64);
        let index = self
            .tool_calls
            .iter()
            .rev()
            .find(|(ci, _)| cohere_index.is_none() || *ci == cohere_index)
            .or(self.tool_calls.last())
            .map(|(_, index)| *index)
            .ok_or_else(|| TranslateError::other("Cohere sent tool call arguments before any tool-call-start"))?;
        let function = FunctionCallDelta { name: None, arguments: Some(piece.to_string()) };
        Ok(vec![self.tool_delta(ToolCallDelta { index, id: None, kind: None, function: Some(function) })])
    }

    fn message_end(&mut self, data: &Value) -> ChatChunk {
        let delta = data.get("delta");
        if let Some(usage) = delta.and_then(|d| d.get("usage")).filter(|u| u.is_object()) {
            self.usage = self::usage(usage);
        }
        let reason = finish_reason(delta.and_then(|d| d.get("finish_reason")).and_then(Value::as_str));
        self.chunk(Delta::default(), Some(reason))
    }
}

/// `delta.message.tool_calls` of a tool-call event: one call (Cohere sends an object; take the
/// first if it is a list).
fn tool_call_of(data: &Value) -> Option<&Value> {
    let calls = data.get("delta")?.get("message")?.get("tool_calls")?;
    match calls {
        Value::Array(calls) => calls.first(),
        call => Some(call),
    }
}

/// The error message of an `error` event, or of an event that is an error body.
fn error_message(data: &Value) -> String {
    data.get("message")
        .or_else(|| data.get("error").and_then(|e| e.get("message").or(Some(e))))
        .and_then(Value::as_str)
        .map_or_else(|| format!("Cohere stream error: {data}"), str::to_string)
}

impl StreamTranslator for Stream {
    fn event(&mut self, name: Option<&str>, data: &str) -> Result<Vec<ChatChunk>, TranslateError> {
        if data.trim().is_empty() {
            return Ok(Vec::new());
        }
        let data: Value = serde_json::from_str(data)
            .map_err(|e| TranslateError::other(format!("Cohere sent a stream event that is not JSON: {e}")))?;
        let kind = data.get("type").and_then(Value::as_str).or(name).unwrap_or_default();
        match kind {
            "message-start" => {
                if let Some(id) = data.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()) {
                    self.id = Some(id.to_string());
                }
                if self.started {
                    return Ok(Vec::new());
                }
                Ok(vec![self.chunk(Delta::default(), None)])
            }
            "content-delta" => {
                // `thinking` deltas carry reasoning; only `text` is the answer.
                let text =
                    data.pointer("/delta/message/content/text").and_then(Value::as_str).filter(|t| !t.is_empty());
                Ok(match text {
                    Some(text) => vec![self.chunk(Delta { content: Some(text.to_string()), ..Delta::default() }, None)],
                    None => Vec::new(),
                })
            }
            "tool-call-start" => Ok(vec![self.tool_call_start(&data)]),
            "tool-call-delta" => self.tool_call_delta(&data),
            "message-end" => Ok(vec![self.message_end(&data)]),
            "error" => Err(TranslateError::other(error_message(&data))),
            // content-start/-end, tool-plan-delta, tool-call-end, citation-start/-end, debug
            _ => Ok(Vec::new()),
        }
    }

    fn finish(&mut self) -> Vec<ChatChunk> {
        if !self.context.include_usage {
            return Vec::new();
        }
        vec![ChatChunk {
            id: self.id.clone().unwrap_or_else(|| self.context.id.clone()),
            object: "chat.completion.chunk".into(),
            created: self.context.created,
            model: self.context.model.clone(),
            choices: Vec::new(),
            usage: Some(self.usage.clone()),
        }]
    }

    fn usage(&self) -> Usage {
        self.usage.clone()
    }
}
