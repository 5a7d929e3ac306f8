//! OpenAI chat chunks -> Responses' stream events, chunk by chunk:
//!
//! `response.created`, `response.in_progress`, then per output item `response.output_item.added`
//! (a `message`: `response.content_part.added` and `response.output_text.delta`s; a
//! `function_call`: `response.function_call_arguments.delta`s), and at the end of the chat
//! stream, item by item, `response.output_text.done` + `response.content_part.done` or
//! `response.function_call_arguments.done`, then `response.output_item.done`; last
//! `response.completed` (or `response.incomplete`) with the whole output and the usage. Every
//! event carries its `type` and a `sequence_number` counting from 0.
//!
//! Items stay open until the chat stream ends, so that pieces of a tool call arriving after
//! another call began still land in their own item.

use super::response::{function_call_item, message_item, output_text, response_object, Ending, LooseUsage, Status};
use super::Context;
use crate::openai::{
    continued_call, BegunCall, ChatChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta, Usage,
};
use crate::TranslateError;
use serde::Deserialize;
use serde_json::{json, Value};

/// One Responses stream event: its name (also its `type`) and its JSON data.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub name: &'static str,
    pub data: String,
}

/// An output item being streamed.
enum Item {
    Message {
        text: String,
    },
    /// The message item of a refusal: its one content part is the refusal.
    Refusal {
        text: String,
    },
    Call {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
}

/// Turns one chat stream into Responses events.
pub struct Stream {
    context: Context,
    sequence: u64,
    started: bool,
    ended: bool,
    output: Vec<Item>,
    /// The output index of the message item, once text began.
    message: Option<usize>,
    /// The output index of the refusal's message item, once a refusal began.
    refusal: Option<usize>,
    /// Each call begun, with its output index.
    calls: Vec<BegunCall<usize>>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
}

impl Stream {
    pub fn new(context: Context) -> Stream {
        Stream {
            context,
            sequence: 0,
            started: false,
            ended: false,
            output: Vec::new(),
            message: None,
            refusal: None,
            calls: Vec::new(),
            finish_reason: None,
            usage: None,
        }
    }

    /// Usage seen so far (the chat stream's usage chunk).
    pub fn usage(&self) -> Usage {
        self.usage.clone().unwrap_or_default()
    }

    /// The events for one chat chunk.
    pub fn chunk(&mut self, chunk: &ChatChunk) -> Vec<Event> {
        let mut events = Vec::new();
        if self.ended {
            return events;
        }
        self.start(&mut events);
        if let Some(usage) = &chunk.usage {
            self.usage = Some(usage.clone());
        }
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            if let Some(text) = choice.delta.content.as_deref().filter(|t| !t.is_empty()) {
                self.text(text, &mut events);
            }
            if let Some(refusal) = choice.delta.refusal.as_deref().filter(|t| !t.is_empty()) {
                self.refusal(refusal, &mut events);
            }
            for call in choice.delta.tool_calls.iter().flatten() {
                self.tool_call(call, &mut events);
            }
            if let Some(reason) = &choice.finish_reason {
                self.finish_reason = Some(reason.clone());
            }
        }
        events
    }

    /// The end of the chat stream: every item done, then `response.completed` (or
    /// `response.incomplete`) with the output and usage.
    pub fn finish(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        if self.ended {
            return events;
        }
        self.start(&mut events);
        for index in 0..self.output.len() {
            self.item_done(index, &mut events);
        }
        let ending = Ending::of(self.finish_reason.as_deref());
        let name = match ending {
            Ending::Completed => "response.completed",
            Ending::Incomplete(_) => "response.incomplete",
        };
        self.end(name, ending.status(), "completed", &mut events);
        events
    }

    /// The chat stream failed: `response.failed` with the output so far.
    pub fn fail(&mut self, message: &str) -> Vec<Event> {
        let mut events = Vec::new();
        if self.ended {
            return events;
        }
        self.start(&mut events);
        self.end("response.failed", Status::Failed(message.to_string()), "incomplete", &mut events);
        events
    }

    fn emit(&mut self, name: &'static str, mut data: Value, events: &mut Vec<Event>) {
        if let Some(object) = data.as_object_mut() {
            object.insert("type".into(), Value::from(name));
            object.insert("sequence_number".into(), Value::from(self.sequence));
        }
        self.sequence += 1;
        events.push(Event { name, data: data.to_string() });
    }

    fn start(&mut self, events: &mut Vec<Event>) {
        if self.started {
            return;
        }
        self.started = true;
        let response = response_object(&self.context, Status::InProgress, Vec::new(), None);
        self.emit("response.created", json!({"response": response}), events);
        let response = response_object(&self.context, Status::InProgress, Vec::new(), None);
        self.emit("response.in_progress", json!({"response": response}), events);
    }

    fn end(&mut self, name: &'static str, status: Status, items: &str, events: &mut Vec<Event>) {
        self.ended = true;
        let output = (0..self.output.len()).map(|index| self.item(index, items)).collect();
        let response = response_object(&self.context, status, output, self.usage.as_ref());
        self.emit(name, json!({"response": response}), events);
    }

    fn text(&mut self, text: &str, events: &mut Vec<Event>) {
        let index = match self.message {
            Some(index) => index,
            None => {
                let index = self.output.len();
                self.output.push(Item::Message { text: String::new() });
                self.message = Some(index);
                let item = json!({"id": self.context.message_id(), "type": "message", "status": "in_progress", "role": "assistant", "content": []});
                self.emit("response.output_item.added", json!({"output_index": index, "item": item}), events);
                let added = json!({"item_id": self.context.message_id(), "output_index": index, "content_index": 0, "part": output_text("")});
                self.emit("response.content_part.added", added, events);
                index
            }
        };
        if let Some(Item::Message { text: so_far }) = self.output.get_mut(index) {
            so_far.push_str(text);
        }
        let delta = json!({"item_id": self.context.message_id(), "output_index": index, "content_index": 0, "delta": text, "logprobs": []});
        self.emit("response.output_text.delta", delta, events);
    }

    fn refusal(&mut self, piece: &str, events: &mut Vec<Event>) {
        let id = self.context.message_id();
        let index = match self.refusal {
            Some(index) => index,
            None => {
                let index = self.output.len();
                self.output.push(Item::Refusal { text: String::new() });
                self.refusal = Some(index);
                let item =
                    json!({"id": id, "type": "message", "status": "in_progress", "role": "assistant", "content": []});
                self.emit("response.output_item.added", json!({"output_index": index, "item": item}), events);
                let part = json!({"type": "refusal", "refusal": ""});
                let added = json!({"item_id": id, "output_index": index, "content_index": 0, "part": part});
                self.emit("response.content_part.added", added, events);
                index
            }
        };
        if let Some(Item::Refusal { text }) = self.output.get_mut(index) {
            text.push_str(piece);
        }
        let delta = json!({"item_id": id, "output_index": index, "content_index": 0, "delta": piece});
        self.emit("response.refusal.delta", delta, events);
    }

    fn tool_call(&mut self, call: &ToolCallDelta, events: &mut Vec<Event>) {
        let piece = call.function.as_ref().and_then(|f| f.arguments.as_deref()).unwrap_or_default();
        let index = match continued_call(&self.calls, call) {
            Some(index) => index,
            None => {
                let index = self.output.len();
                let id = self.context.function_call_id(self.calls.len());
                let call_id = call.id.clone().unwrap_or_else(|| format!("call_{}", self.calls.len()));
                let name = call.function.as_ref().and_then(|f| f.name.clone()).unwrap_or_default();
                let item = function_call_item(&id, &call_id, &name, "", "in_progress");
                self.output.push(Item::Call { id, call_id, name, arguments: String::new() });
                self.calls.push((call.index, call.id.clone(), index));
                self.emit("response.output_item.added", json!({"output_index": index, "item": item}), events);
                index
            }
        };
        if piece.is_empty() {
            return;
        }
        let Some(Item::Call { id, arguments, .. }) = self.output.get_mut(index) else { return };
        arguments.push_str(piece);
        let delta = json!({"item_id": id, "output_index": index, "delta": piece});
        self.emit("response.function_call_arguments.delta", delta, events);
    }

    /// The output item at `index` as a whole, with `status`.
    fn item(&self, index: usize, status: &str) -> Value {
        match self.output.get(index) {
            Some(Item::Message { text }) => message_item(&self.context.message_id(), status, text, None),
            Some(Item::Refusal { text }) => message_item(&self.context.message_id(), status, "", Some(text)),
            Some(Item::Call { id, call_id, name, arguments }) => {
                function_call_item(id, call_id, name, arguments, status)
            }
            None => Value::Null,
        }
    }

    fn item_done(&mut self, index: usize, events: &mut Vec<Event>) {
        match self.output.get(index) {
            Some(Item::Message { text }) => {
                let (id, text) = (self.context.message_id(), text.clone());
                let done =
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": []});
                self.emit("response.output_text.done", done, events);
                let part =
                    json!({"item_id": id, "output_index": index, "content_index": 0, "part": output_text(&text)});
                self.emit("response.content_part.done", part, events);
            }
            Some(Item::Refusal { text }) => {
                let (id, text) = (self.context.message_id(), text.clone());
                let done = json!({"item_id": id, "output_index": index, "content_index": 0, "refusal": text});
                self.emit("response.refusal.done", done, events);
                let part = json!({"type": "refusal", "refusal": text});
                let part = json!({"item_id": id, "output_index": index, "content_index": 0, "part": part});
                self.emit("response.content_part.done", part, events);
            }
            Some(Item::Call { id, name, arguments, .. }) => {
                let done = json!({"item_id": id, "output_index": index, "name": name, "arguments": arguments});
                self.emit("response.function_call_arguments.done", done, events);
            }
            None => return,
        }
        let item = self.item(index, "completed");
        self.emit("response.output_item.done", json!({"output_index": index, "item": item}), events);
    }
}

/// One chat stream event's data as a chunk; an error event's message as the error. Fields a
/// provider leaves out take their defaults.
pub fn chat_chunk(data: &str) -> Result<ChatChunk, TranslateError> {
    let loose: LooseChunk = serde_json::from_str(data).map_err(|e| {
        TranslateError::other(format!("the provider sent a stream event that is not a chat chunk: {e}"))
    })?;
    if let Some(error) = loose.error.filter(|e| !e.is_null()) {
        let message = error.get("message").and_then(Value::as_str).map_or_else(|| error.to_string(), str::to_string);
        return Err(TranslateError::other(message));
    }
    let choices = loose
        .choices
        .into_iter()
        .map(|choice| ChunkChoice {
            index: choice.index,
            delta: Delta {
                role: None,
                content: choice.delta.content,
                refusal: choice.delta.refusal,
                tool_calls: choice.delta.tool_calls.map(|calls| {
                    calls
                        .into_iter()
                        .map(|call| ToolCallDelta {
                            index: call.index,
                            id: call.id,
                            kind: None,
                            function: call.function.map(|f| FunctionCallDelta { name: f.name, arguments: f.arguments }),
                        })
                        .collect()
                }),
            },
            finish_reason: choice.finish_reason,
            logprobs: None,
        })
        .collect();
    Ok(ChatChunk {
        id: String::new(),
        object: "chat.completion.chunk".into(),
        created: 0,
        model: String::new(),
        choices,
        usage: loose.usage.map(LooseUsage::into_usage),
    })
}

#[derive(Deserialize)]
struct LooseChunk {
    #[serde(default)]
    choices: Vec<LooseChunkChoice>,
    #[serde(default)]
    usage: Option<LooseUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct LooseChunkChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: LooseDelta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Default, Deserialize)]
struct LooseDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<LooseToolCallDelta>>,
}

#[derive(Deserialize)]
struct LooseToolCallDelta {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<LooseFunctionDelta>,
}

#[derive(Deserialize)]
struct LooseFunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}
