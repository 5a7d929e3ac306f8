//! OpenAI `chat.completion` -> Anthropic message.

use super::wire::{ContentBlock, Message};
use super::{stop_reason, usage};
use crate::openai::ChatCompletion;
use crate::{ResponseContext, TranslateError};
use serde_json::{json, Value};

/// Reads an OpenAI-compatible provider's answer and translates it.
pub fn response_from_json(body: &[u8], context: &ResponseContext) -> Result<Message, TranslateError> {
    let completion: ChatCompletion = serde_json::from_slice(body)
        .map_err(|e| TranslateError::other(format!("the provider's answer is not a chat completion: {e}")))?;
    Ok(response(&completion, context))
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
        if let (None, Some(refusal)) = (&message.content, &message.refusal) {
            content.push(ContentBlock::Text { text: refusal.clone() });
            reason = Some("refusal");
        }
        for call in message.tool_calls.iter().flatten() {
            content.push(ContentBlock::ToolUse {
                id: call.id.clone(),
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
