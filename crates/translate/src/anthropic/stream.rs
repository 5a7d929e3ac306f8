//! Anthropic SSE events -> OpenAI `chat.completion.chunk`s.

use super::{finish_reason, Tokens, JSON_OUTPUT_TOOL};
use crate::openai::{ChatChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta, Usage};
use crate::{ResponseContext, StreamTranslator, TranslateError};
use serde_json::Value;
use std::collections::HashMap;

/// What a content block of the stream is, by its Anthropic index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    Text,
    /// A client tool call, with its OpenAI `tool_calls` index.
    Tool(u32),
    /// The JSON-mode answer: its input streams as content.
    JsonOutput,
    /// Thinking and server-tool blocks: not forwarded.
    Other,
}

/// Translates one Anthropic Messages stream.
pub struct Stream {
    context: ResponseContext,
    /// Anthropic's message id from `message_start`, else the context's.
    id: String,
    /// Anthropic's model from `message_start`, reported when the context has none.
    provider_model: String,
    role_sent: bool,
    blocks: HashMap<u64, Block>,
    next_tool: u32,
    json_output: bool,
    tokens: Tokens,
}

impl Stream {
    pub fn new(context: ResponseContext) -> Stream {
        Stream {
            id: context.id.clone(),
            context,
            provider_model: String::new(),
            role_sent: false,
            blocks: HashMap::new(),
            next_tool: 0,
            json_output: false,
            tokens: Tokens::default(),
        }
    }

    fn model(&self) -> &str {
        if self.context.model.is_empty() {
            &self.provider_model
        } else {
            &self.context.model
        }
    }

    fn chunk(&self, choices: Vec<ChunkChoice>, usage: Option<Usage>) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".to_string(),
            created: self.context.created,
            model: self.model().to_string(),
            choices,
            usage,
        }
    }

    /// A chunk of the single choice; the first one also carries the role.
    fn delta(&mut self, mut delta: Delta, finish_reason: Option<String>) -> ChatChunk {
        if !self.role_sent {
            delta.role = Some("assistant".to_string());
            self.role_sent = true;
        }
        self.chunk(vec![ChunkChoice { index: 0, delta, finish_reason, logprobs: None }], None)
    }

    fn content(&mut self, text: &str) -> Vec<ChatChunk> {
        if text.is_empty() {
            return Vec::new();
        }
        vec![self.delta(Delta { content: Some(text.to_string()), ..Delta::default() }, None)]
    }

    fn tool_delta(&mut self, call: ToolCallDelta) -> Vec<ChatChunk> {
        vec![self.delta(Delta { tool_calls: Some(vec![call]), ..Delta::default() }, None)]
    }

    fn message_start(&mut self, data: &Value) -> Vec<ChatChunk> {
        let message = data.get("message").unwrap_or(&Value::Null);
        if let Some(id) = message.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()) {
            self.id = id.to_string();
        }
        if let Some(model) = message.get("model").and_then(Value::as_str) {
            self.provider_model = model.to_string();
        }
        if let Some(usage) = message.get("usage") {
            self.tokens.update(usage);
        }
        // OpenAI opens its streams with the role and an empty content.
        vec![self.delta(Delta { content: Some(String::new()), ..Delta::default() }, None)]
    }

    fn block_start(&mut self, data: &Value) -> Vec<ChatChunk> {
        let index = data.get("index").and_then(Value::as_u64).unwrap_or_default();
        let block = data.get("content_block").unwrap_or(&Value::Null);
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                self.blocks.insert(index, Block::Text);
                let text = block.get("text").and_then(Value::as_str).unwrap_or_default().to_string();
                self.content(&text)
            }
            Some("tool_use") => {
                let name = block.get("name").and_then(Value::as_str).unwrap_or_default();
                if name == JSON_OUTPUT_TOOL {
                    self.json_output = true;
                    self.blocks.insert(index, Block::JsonOutput);
                    return Vec::new();
                }
                let tool = self.next_tool;
                self.next_tool += 1;
                self.blocks.insert(index, Block::Tool(tool));
                let call = ToolCallDelta {
                    index: tool,
                    id: Some(block.get("id").and_then(Value::as_str).unwrap_or_default().to_string()),
                    kind: Some("function".to_string()),
                    function: Some(FunctionCallDelta { name: Some(name.to_string()), arguments: Some(String::new()) }),
                };
                self.tool_delta(call)
            }
            _ => {
                self.blocks.insert(index, Block::Other);
                Vec::new()
            }
        }
    }

    fn block_delta(&mut self, data: &Value) -> Result<Vec<ChatChunk>, TranslateError> {
        let index = data.get("index").and_then(Value::as_u64).unwrap_or_default();
        let delta = data.get("delta").unwrap_or(&Value::Null);
        let text = |field: &str| delta.get(field).and_then(Value::as_str).unwrap_or_default().to_string();
        match delta.get("type").and_then(Value::as_str) {
            Some("text_delta") => Ok(self.content(&text("text"))),
            Some("input_json_delta") => {
                let piece = text("partial_json");
                match self.blocks.get(&index) {
                    Some(Block::JsonOutput) => Ok(self.content(&piece)),
                    Some(Block::Tool(tool)) => {
                        if piece.is_empty() {
                            return Ok(Vec::new());
                        }
                        let call = ToolCallDelta {
                            index: *tool,
                            id: None,
                            kind: None,
                            function: Some(FunctionCallDelta { name: None, arguments: Some(piece) }),
                        };
                        Ok(self.tool_delta(call))
                    }
                    _ => Err(TranslateError::other(format!(
                        "Anthropic stream sent tool input for content block {index}, which is not a tool call"
                    ))),
                }
            }
            // thinking_delta, signature_delta, citations_delta: nothing OpenAI's chunks carry.
            _ => Ok(Vec::new()),
        }
    }

    fn message_delta(&mut self, data: &Value) -> Vec<ChatChunk> {
        if let Some(usage) = data.get("usage") {
            self.tokens.update(usage);
        }
        let Some(reason) = data.pointer("/delta/stop_reason").and_then(Value::as_str) else {
            return Vec::new();
        };
        let json_only = self.json_output && self.next_tool == 0;
        vec![self.delta(Delta::default(), Some(finish_reason(reason, json_only)))]
    }
}

impl StreamTranslator for Stream {
    fn event(&mut self, name: Option<&str>, data: &str) -> Result<Vec<ChatChunk>, TranslateError> {
        if data.trim().is_empty() {
            return Ok(Vec::new());
        }
        let data: Value = serde_json::from_str(data)
            .map_err(|e| TranslateError::other(format!("Anthropic stream sent an event that is not JSON: {e}")))?;
        let kind = data.get("type").and_then(Value::as_str).or(name).unwrap_or_default();
        match kind {
            "message_start" => Ok(self.message_start(&data)),
            "content_block_start" => Ok(self.block_start(&data)),
            "content_block_delta" => self.block_delta(&data),
            "message_delta" => Ok(self.message_delta(&data)),
            "error" => {
                let detail = data.get("error").unwrap_or(&Value::Null);
                let field = |f: &str| detail.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
                let (error_type, message) = (field("type"), field("message"));
                Err(TranslateError::other(format!("Anthropic stream error ({error_type}): {message}")))
            }
            // content_block_stop, message_stop, ping, and event types newer than this translator.
            _ => Ok(Vec::new()),
        }
    }

    fn finish(&mut self) -> Vec<ChatChunk> {
        if !self.context.include_usage {
            return Vec::new();
        }
        vec![self.chunk(Vec::new(), Some(self.tokens.usage()))]
    }

    fn usage(&self) -> Usage {
        self.tokens.usage()
    }
}
