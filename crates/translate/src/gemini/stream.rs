//! Gemini's SSE stream (`streamGenerateContent?alt=sse`) -> `chat.completion.chunk`s. Each event
//! is a whole `GenerateContentResponse`: text parts become content deltas, function calls come
//! whole (one tool-call delta each, arguments complete), `usageMetadata` is cumulative.

use super::{error, response};
use crate::openai::{ChatChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta, Usage};
use crate::{ResponseContext, StreamTranslator, TranslateError};
use serde_json::Value;
use std::collections::BTreeMap;

/// Translates one Gemini stream.
pub struct Stream {
    context: ResponseContext,
    /// Gemini's `responseId`, once seen.
    id: Option<String>,
    /// Gemini's `modelVersion`, once seen.
    model_version: Option<String>,
    candidates: BTreeMap<u32, Candidate>,
    usage: Option<Usage>,
    finished: bool,
}

/// What the stream has said so far for one candidate (one OpenAI choice).
#[derive(Default)]
struct Candidate {
    /// A chunk (with `role`) went out.
    started: bool,
    tool_calls: usize,
}

impl Stream {
    pub fn new(context: ResponseContext) -> Stream {
        Stream { context, id: None, model_version: None, candidates: BTreeMap::new(), usage: None, finished: false }
    }

    fn translate(&mut self, event: &Value, out: &mut Vec<ChatChunk>) -> Result<(), TranslateError> {
        if let Some(message) = error::message_of(event) {
            return Err(TranslateError::other(format!("Gemini's stream failed: {message}")));
        }
        if self.id.is_none() {
            self.id = response::response_id(event);
        }
        if self.model_version.is_none() {
            self.model_version = event.get("modelVersion").and_then(Value::as_str).map(str::to_string);
        }
        if let Some(metadata) = event.get("usageMetadata") {
            self.usage = Some(response::usage(metadata));
        }
        let candidates = event.get("candidates").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for (position, candidate) in candidates.iter().enumerate() {
            let index = response::candidate_index(position, candidate);
            for part in response::parts(candidate) {
                if let Some(text) = response::answer_text(part).filter(|t| !t.is_empty()) {
                    let delta = Delta { content: Some(text.to_string()), ..Delta::default() };
                    out.push(self.chunk(index, delta, None));
                }
                if let Some(call) = part.get("functionCall") {
                    let n = self.candidates.entry(index).or_default().tool_calls;
                    let (id, name, arguments) = response::function_call(index, n, call);
                    self.candidates.entry(index).or_default().tool_calls += 1;
                    let tool_call = ToolCallDelta {
                        index: u32::try_from(n).unwrap_or(u32::MAX),
                        id: Some(id),
                        kind: Some("function".into()),
                        function: Some(FunctionCallDelta { name: Some(name), arguments: Some(arguments) }),
                    };
                    let delta = Delta { tool_calls: Some(vec![tool_call]), ..Delta::default() };
                    out.push(self.chunk(index, delta, None));
                }
            }
            let has_tool_calls = self.candidates.get(&index).is_some_and(|c| c.tool_calls > 0);
            let reason = candidate.get("finishReason").and_then(Value::as_str);
            if let Some(finish_reason) = response::finish_reason(reason, has_tool_calls) {
                out.push(self.chunk(index, Delta::default(), Some(finish_reason)));
            }
        }
        if candidates.is_empty() && response::block_reason(event).is_some() {
            out.push(self.chunk(0, Delta::default(), Some("content_filter")));
        }
        Ok(())
    }

    /// A chunk for choice `index`; the choice's first one carries the role.
    fn chunk(&mut self, index: u32, mut delta: Delta, finish_reason: Option<&str>) -> ChatChunk {
        let candidate = self.candidates.entry(index).or_default();
        if !candidate.started {
            candidate.started = true;
            delta.role = Some("assistant".into());
        }
        let choice = ChunkChoice { index, delta, finish_reason: finish_reason.map(str::to_string), logprobs: None };
        self.envelope(vec![choice], None)
    }

    fn envelope(&self, choices: Vec<ChunkChoice>, usage: Option<Usage>) -> ChatChunk {
        let model = match &self.model_version {
            Some(version) if self.context.model.is_empty() => version.clone(),
            _ => self.context.model.clone(),
        };
        ChatChunk {
            id: self.id.clone().unwrap_or_else(|| self.context.id.clone()),
            object: "chat.completion.chunk".into(),
            created: self.context.created,
            model,
            choices,
            usage,
        }
    }
}

impl StreamTranslator for Stream {
    fn event(&mut self, _name: Option<&str>, data: &str) -> Result<Vec<ChatChunk>, TranslateError> {
        let data = data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(Vec::new());
        }
        let event: Value = serde_json::from_str(data)
            .map_err(|e| TranslateError::other(format!("Gemini sent a stream event that is not JSON: {e}")))?;
        let mut out = Vec::new();
        match &event {
            // The non-SSE stream form: a JSON array of responses.
            Value::Array(events) if error::message_of(&event).is_none() => {
                for event in events {
                    self.translate(event, &mut out)?;
                }
            }
            _ => self.translate(&event, &mut out)?,
        }
        Ok(out)
    }

    fn finish(&mut self) -> Vec<ChatChunk> {
        if self.finished || !self.context.include_usage {
            self.finished = true;
            return Vec::new();
        }
        self.finished = true;
        vec![self.envelope(Vec::new(), Some(self.usage()))]
    }

    fn usage(&self) -> Usage {
        self.usage.clone().unwrap_or_default()
    }
}
