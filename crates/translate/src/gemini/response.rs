//! Gemini `GenerateContentResponse` -> OpenAI `chat.completion`, and the pieces streams share.

use super::error;
use crate::openai::{ChatCompletion, Choice, FunctionCall, PromptTokensDetails, ResponseMessage, ToolCall, Usage};
use crate::{ResponseContext, TranslateError};
use serde_json::Value;

/// Translates Gemini's answer into a `chat.completion`.
pub fn response(body: &Value, context: &ResponseContext) -> Result<ChatCompletion, TranslateError> {
    if let Some(message) = error::message_of(body) {
        return Err(TranslateError::other(format!("Gemini answered with an error: {message}")));
    }
    if !body.is_object() {
        return Err(TranslateError::other("Gemini's answer is not a GenerateContentResponse object"));
    }
    let candidates = body.get("candidates").and_then(Value::as_array).filter(|c| !c.is_empty());
    let choices = match candidates {
        Some(candidates) => candidates.iter().enumerate().map(|(position, c)| choice(position, c)).collect(),
        None if block_reason(body).is_some() => vec![Choice {
            index: 0,
            message: ResponseMessage { role: "assistant".into(), ..ResponseMessage::default() },
            finish_reason: Some("content_filter".into()),
            logprobs: None,
        }],
        None => return Err(TranslateError::other("Gemini's answer has no candidates")),
    };
    Ok(ChatCompletion {
        id: response_id(body).unwrap_or_else(|| context.id.clone()),
        object: "chat.completion".into(),
        created: context.created,
        model: model_name(context, body),
        choices,
        usage: body.get("usageMetadata").map(usage),
    })
}

fn choice(position: usize, candidate: &Value) -> Choice {
    let index = candidate_index(position, candidate);
    let mut text: Option<String> = None;
    let mut tool_calls = Vec::new();
    for part in parts(candidate) {
        if let Some(piece) = answer_text(part) {
            text.get_or_insert_with(String::new).push_str(piece);
        }
        if let Some(call) = part.get("functionCall") {
            let (id, name, arguments) = function_call(index, tool_calls.len(), call);
            tool_calls.push(ToolCall { id, kind: "function".into(), function: FunctionCall { name, arguments } });
        }
    }
    let reason = candidate.get("finishReason").and_then(Value::as_str);
    let finish_reason = finish_reason(reason, !tool_calls.is_empty()).unwrap_or(if tool_calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    });
    Choice {
        index,
        message: ResponseMessage {
            role: "assistant".into(),
            content: text,
            tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
            refusal: None,
        },
        finish_reason: Some(finish_reason.into()),
        logprobs: None,
    }
}

/// The candidate's `index`, else its position.
pub(super) fn candidate_index(position: usize, candidate: &Value) -> u32 {
    candidate
        .get("index")
        .and_then(Value::as_u64)
        .and_then(|i| u32::try_from(i).ok())
        .unwrap_or_else(|| u32::try_from(position).unwrap_or(u32::MAX))
}

pub(super) fn parts(candidate: &Value) -> impl Iterator<Item = &Value> {
    candidate.pointer("/content/parts").and_then(Value::as_array).into_iter().flatten()
}

/// A part's answer text; `thought` parts are the model's reasoning, not its answer.
pub(super) fn answer_text(part: &Value) -> Option<&str> {
    if part.get("thought").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    part.get("text").and_then(Value::as_str)
}

/// `(id, name, arguments as a JSON string)` of a `functionCall`; the `n`th call of its candidate
/// gets `call_{candidate}_{n}` unless Gemini gave it an id.
pub(super) fn function_call(candidate: u32, n: usize, call: &Value) -> (String, String, String) {
    let id = call
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map_or_else(|| format!("call_{candidate}_{n}"), str::to_string);
    let name = call.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
    let arguments = match call.get("args") {
        None | Some(Value::Null) => "{}".to_string(),
        Some(args) => args.to_string(),
    };
    (id, name, arguments)
}

/// OpenAI's finish reason for Gemini's (`None` while the candidate goes on).
pub(super) fn finish_reason(reason: Option<&str>, has_tool_calls: bool) -> Option<&'static str> {
    Some(match reason? {
        "STOP" if has_tool_calls => "tool_calls",
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => "content_filter",
        _ => "stop",
    })
}

/// Why Gemini blocked the prompt, when it did (then there are no candidates).
pub(super) fn block_reason(body: &Value) -> Option<&str> {
    body.pointer("/promptFeedback/blockReason").and_then(Value::as_str)
}

pub(super) fn response_id(body: &Value) -> Option<String> {
    body.get("responseId").and_then(Value::as_str).filter(|id| !id.is_empty()).map(str::to_string)
}

/// The context's model, else the model version Gemini reports.
pub(super) fn model_name(context: &ResponseContext, body: &Value) -> String {
    if !context.model.is_empty() {
        return context.model.clone();
    }
    body.get("modelVersion").and_then(Value::as_str).unwrap_or_default().to_string()
}

/// `usageMetadata` as OpenAI's usage: thinking tokens count as completion tokens (they are
/// billed as output), tool-use prompt tokens as prompt tokens.
pub(super) fn usage(metadata: &Value) -> Usage {
    let count = |key: &str| metadata.get(key).and_then(Value::as_u64);
    // A provider's counts are untrusted: sums saturate rather than overflow.
    let sum = |a: &str, b: &str| count(a).unwrap_or(0).saturating_add(count(b).unwrap_or(0));
    let prompt_tokens = sum("promptTokenCount", "toolUsePromptTokenCount");
    let completion_tokens = sum("candidatesTokenCount", "thoughtsTokenCount");
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: count("totalTokenCount").unwrap_or(prompt_tokens.saturating_add(completion_tokens)),
        prompt_tokens_details: count("cachedContentTokenCount")
            .map(|cached_tokens| PromptTokensDetails { cached_tokens, ..Default::default() }),
    }
}
