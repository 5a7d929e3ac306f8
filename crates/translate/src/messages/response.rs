//! OpenAI `chat.completion` -> Anthropic message.

use super::wire::{ContentBlock, Message};
use super::{stop_reason, usage};
use crate::openai::ChatCompletion;
use crate::{ResponseContext, TranslateError};
use serde_json::{json, Value};

/// Reads an OpenAI-compatible provider's answer and translates it.
pub fn response_from_json(body: &[u8], context: &ResponseContext) -> Result<Message, TranslateError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| TranslateError::other(format!("the provider's answer is not JSON: {e}")))?;
    Ok(response(&lenient_completion(&value)?, context))
}

/// An OpenAI-compatible provider's answer, read leniently as the Responses API reads it
/// (providers leave out fields OpenAI always sends), but with its `choices`: an answer without
/// them (an error body under a 200, say) is not turned into an empty message.
pub fn lenient_completion(value: &Value) -> Result<ChatCompletion, TranslateError> {
    if value.get("choices").is_none() {
        return Err(TranslateError::other("the provider's answer has no choices"));
    }
    crate::responses::chat_completion(value)
}

/// Translates a chat completion (its first choice) into an Anthropic message with the context's
/// id and model.
pub fn response(completion: &ChatCompletion, context: &ResponseContext) -> Message {
    let mut content = Vec::new();
    let mut reason = None;
    if let Some(choice) = completion.choices.first() {
        let message = &choice.message;
        if let Some(text) = message.content.as_deref().filter(|t| !t.is_empty()) {
            content.push(ContentBlock::Text { text: text.to_string() });
        }
        if let (None, Some(refusal)) = (message.content.as_deref().filter(|t| !t.is_empty()), &message.refusal) {
            content.push(ContentBlock::Text { text: refusal.clone() });
            reason = Some("refusal");
        }
        for (n, call) in message.tool_calls.iter().flatten().enumerate() {
            // A client answers a tool call by its id: one the provider left out is made up.
            let id = if call.id.is_empty() { format!("{}_tool_{n}", context.id) } else { call.id.clone() };
            content.push(ContentBlock::ToolUse {
                id,
                name: call.function.name.clone(),
                input: tool_input(&call.function.arguments),
            });
        }
        reason = reason.or(choice.finish_reason.as_deref().map(stop_reason));
    }
    Message {
        id: context.id.clone(),
        kind: "message".into(),
        role: "assistant".into(),
        model: context.model.clone(),
        content,
        stop_reason: Some(reason.unwrap_or("end_turn").to_string()),
        stop_sequence: None,
        usage: completion.usage.as_ref().map(usage).unwrap_or_default(),
    }
}

/// A tool call's arguments as the object Anthropic's `input` is.
pub(super) fn tool_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(input @ Value::Object(_)) => input,
        _ => json!({ "arguments": arguments }),
    }
}
