//! Cohere v2 chat response -> OpenAI `chat.completion`.

use crate::openai::{ChatCompletion, Choice, FunctionCall, PromptTokensDetails, ResponseMessage, ToolCall, Usage};
use crate::{ResponseContext, TranslateError};
use serde_json::Value;

/// Translates a Cohere `/v2/chat` answer into a `chat.completion`.
pub fn response(body: &Value, context: &ResponseContext) -> Result<ChatCompletion, TranslateError> {
    let message = body
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| TranslateError::other("Cohere's answer has no message"))?;

    let tool_calls: Vec<ToolCall> = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(|calls| calls.iter().enumerate().map(|(i, call)| tool_call(i, call)).collect())
        .unwrap_or_default();
    let content = match answer_text(message) {
        None if !tool_calls.is_empty() => None,
        text => Some(text.unwrap_or_default()),
    };

    let id = body.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()).unwrap_or(&context.id);
    Ok(ChatCompletion {
        id: id.to_string(),
        object: "chat.completion".into(),
        created: context.created,
        model: context.model.clone(),
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: "assistant".into(),
                content,
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                refusal: None,
            },
            finish_reason: Some(finish_reason(body.get("finish_reason").and_then(Value::as_str)).into()),
            logprobs: None,
        }],
        usage: body.get("usage").filter(|u| u.is_object()).map(usage),
    })
}

/// The `text` parts of `message.content` joined (`thinking` parts are reasoning, not answer);
/// `None` when there is no text part.
fn answer_text(message: &Value) -> Option<String> {
    match message.get("content") {
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Array(parts)) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter(|part| part.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect();
            (!texts.is_empty()).then(|| texts.concat())
        }
        _ => None,
    }
}

fn tool_call(i: usize, call: &Value) -> ToolCall {
    let function = call.get("function");
    let name = function.and_then(|f| f.get("name")).and_then(Value::as_str).unwrap_or_default();
    ToolCall {
        id: call.get("id").and_then(Value::as_str).map_or_else(|| format!("call_{i}"), str::to_string),
        kind: "function".into(),
        function: FunctionCall {
            name: name.to_string(),
            arguments: arguments(function.and_then(|f| f.get("arguments"))),
        },
    }
}

/// Tool arguments as a JSON string, whatever Cohere sent (a string, an object, or nothing).
pub(super) fn arguments(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        None | Some(Value::Null) => "{}".into(),
        Some(other) => other.to_string(),
    }
}

/// Cohere's finish reason as OpenAI's. `ERROR`/`TIMEOUT` (cut short by Cohere) become `stop`.
pub(super) fn finish_reason(reason: Option<&str>) -> &'static str {
    match reason {
        Some("MAX_TOKENS") => "length",
        Some("TOOL_CALL") => "tool_calls",
        _ => "stop",
    }
}

/// Cohere's `usage`: counts from `tokens` (what the model processed), else `billed_units`.
pub(super) fn usage(usage: &Value) -> Usage {
    let count = |key: &str| {
        ["tokens", "billed_units"]
            .iter()
            .find_map(|group| usage.get(group).and_then(|g| g.get(key)).and_then(as_count))
            .unwrap_or(0)
    };
    let prompt_tokens = count("input_tokens");
    let completion_tokens = count("output_tokens");
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens.saturating_add(completion_tokens),
        prompt_tokens_details: usage
            .get("cached_tokens")
            .and_then(as_count)
            .map(|cached_tokens| PromptTokensDetails { cached_tokens, ..Default::default() }),
    }
}

/// A token count: an integer, or a float with a whole value.
fn as_count(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| value.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
}
