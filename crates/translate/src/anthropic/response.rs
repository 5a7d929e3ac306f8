//! Anthropic message -> OpenAI `chat.completion`.

use super::{finish_reason, Tokens, JSON_OUTPUT_TOOL};
use crate::openai::{ChatCompletion, Choice, FunctionCall, ResponseMessage, ToolCall};
use crate::{ResponseContext, TranslateError};
use serde_json::{json, Value};

/// Translates an Anthropic `message` into a `chat.completion`.
pub fn response(body: &Value, context: &ResponseContext) -> Result<ChatCompletion, TranslateError> {
    let blocks = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::other("the Anthropic response has no `content` array"))?;
    let mut text: Option<String> = None;
    let mut tool_calls = Vec::new();
    let mut json_answer = None;
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                let piece = block.get("text").and_then(Value::as_str).unwrap_or_default();
                text.get_or_insert_with(String::new).push_str(piece);
            }
            Some("tool_use") => {
                let name = str_field(block, "name");
                let arguments = block.get("input").cloned().unwrap_or_else(|| json!({})).to_string();
                if name == JSON_OUTPUT_TOOL {
                    json_answer = Some(arguments);
                } else {
                    let function = FunctionCall { name: name.to_string(), arguments };
                    tool_calls.push(ToolCall {
                        id: str_field(block, "id").to_string(),
                        kind: "function".into(),
                        function,
                    });
                }
            }
            // thinking, redacted_thinking, server tool blocks: nothing OpenAI's message can carry.
            _ => {}
        }
    }
    let json_only = json_answer.is_some() && tool_calls.is_empty();
    // A JSON-mode answer is the content, alone, so that it parses.
    let content = json_answer.or(text);
    let finish = body.get("stop_reason").and_then(Value::as_str).map(|reason| finish_reason(reason, json_only));
    let usage = body.get("usage").map(|usage| {
        let mut tokens = Tokens::default();
        tokens.update(usage);
        tokens.usage()
    });
    let id = Some(str_field(body, "id")).filter(|id| !id.is_empty()).unwrap_or(&context.id);
    let model = if context.model.is_empty() { str_field(body, "model") } else { &context.model };
    Ok(ChatCompletion {
        id: id.to_string(),
        object: "chat.completion".to_string(),
        created: context.created,
        model: model.to_string(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".to_string(),
                content,
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                refusal: None,
            },
            finish_reason: finish,
            logprobs: None,
        }],
        usage,
    })
}

fn str_field<'a>(value: &'a Value, field: &str) -> &'a str {
    value.get(field).and_then(Value::as_str).unwrap_or_default()
}
