//! A chat completion -> a Responses `response` object; and the reading of a chat completion sent
//! by a provider that speaks chat completions (fields it leaves out take their defaults).

use super::Context;
use crate::openai::{ChatCompletion, Choice, FunctionCall, PromptTokensDetails, ResponseMessage, ToolCall, Usage};
use crate::TranslateError;
use serde::Deserialize;
use serde_json::{json, Value};

/// The `response` object for a chat completion (its first choice).
pub fn response(completion: &ChatCompletion, context: &Context) -> Value {
    let choice = completion.choices.first();
    let message = choice.map(|c| &c.message);
    let mut output = Vec::new();
    let text = message.and_then(|m| m.content.as_deref()).filter(|t| !t.is_empty());
    let refusal = message.and_then(|m| m.refusal.as_deref()).filter(|r| !r.is_empty());
    if text.is_some() || refusal.is_some() {
        output.push(message_item(&context.message_id(), "completed", text.unwrap_or_default(), refusal));
    }
    for (index, call) in message.and_then(|m| m.tool_calls.as_deref()).unwrap_or_default().iter().enumerate() {
        let id = context.function_call_id(index);
        output.push(function_call_item(&id, &call.id, &call.function.name, &call.function.arguments, "completed"));
    }
    let finish_reason = choice.and_then(|c| c.finish_reason.as_deref());
    response_object(context, Ending::of(finish_reason).status(), output, completion.usage.as_ref())
}

/// How a response ended, from the chat finish reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ending {
    Completed,
    /// `incomplete_details.reason`: `max_output_tokens` or `content_filter`.
    Incomplete(&'static str),
}

impl Ending {
    pub(super) fn of(finish_reason: Option<&str>) -> Ending {
        match finish_reason {
            Some("length") => Ending::Incomplete("max_output_tokens"),
            Some("content_filter") => Ending::Incomplete("content_filter"),
            _ => Ending::Completed,
        }
    }

    pub(super) fn status(self) -> Status {
        match self {
            Ending::Completed => Status::Completed,
            Ending::Incomplete(reason) => Status::Incomplete(reason),
        }
    }
}

/// A `response` object's status (and what goes with it).
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Status {
    InProgress,
    Completed,
    Incomplete(&'static str),
    /// `error.message`
    Failed(String),
}

/// The `response` object: its own fields, then the request's that it repeats.
pub(super) fn response_object(context: &Context, status: Status, output: Vec<Value>, usage: Option<&Usage>) -> Value {
    let (status, incomplete, error) = match status {
        Status::InProgress => ("in_progress", Value::Null, Value::Null),
        Status::Completed => ("completed", Value::Null, Value::Null),
        Status::Incomplete(reason) => ("incomplete", json!({"reason": reason}), Value::Null),
        Status::Failed(message) => ("failed", Value::Null, json!({"code": "server_error", "message": message})),
    };
    let mut object = json!({
        "id": context.id,
        "object": "response",
        "created_at": context.created_at,
        "status": status,
        "error": error,
        "incomplete_details": incomplete,
        "model": context.model,
        "output": output,
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        "store": false,
        "truncation": "disabled",
        "usage": usage.map(usage_object),
        "user": null,
    });
    if let Some(object) = object.as_object_mut() {
        for (key, value) in &context.echo {
            object.insert(key.clone(), value.clone());
        }
    }
    object
}

/// Responses' usage object.
pub(super) fn usage_object(usage: &Usage) -> Value {
    let cached = usage.prompt_tokens_details.as_ref().map_or(0, |d| d.cached_tokens);
    json!({
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    })
}

/// An assistant `message` output item.
pub(super) fn message_item(id: &str, status: &str, text: &str, refusal: Option<&str>) -> Value {
    let mut content = Vec::new();
    if !text.is_empty() || refusal.is_none() {
        content.push(output_text(text));
    }
    if let Some(refusal) = refusal {
        content.push(json!({"type": "refusal", "refusal": refusal}));
    }
    json!({"id": id, "type": "message", "status": status, "role": "assistant", "content": content})
}

pub(super) fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": []})
}

/// A `function_call` output item.
pub(super) fn function_call_item(id: &str, call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
    json!({"id": id, "type": "function_call", "status": status, "call_id": call_id, "name": name, "arguments": arguments})
}

/// A chat completion as a provider that speaks chat completions sent it.
pub fn chat_completion(body: &Value) -> Result<ChatCompletion, TranslateError> {
    let loose = LooseCompletion::deserialize(body)
        .map_err(|e| TranslateError::other(format!("the provider's answer is not a chat completion: {e}")))?;
    let choices = loose
        .choices
        .into_iter()
        .map(|choice| Choice {
            index: choice.index,
            message: ResponseMessage {
                role: "assistant".into(),
                content: choice.message.content,
                tool_calls: choice
                    .message
                    .tool_calls
                    .map(|calls| calls.into_iter().map(LooseToolCall::into_call).collect()),
                refusal: choice.message.refusal,
            },
            finish_reason: choice.finish_reason,
            logprobs: None,
        })
        .collect();
    Ok(ChatCompletion {
        id: loose.id,
        object: "chat.completion".into(),
        created: 0,
        model: String::new(),
        choices,
        usage: loose.usage.map(LooseUsage::into_usage),
    })
}

#[derive(Deserialize)]
struct LooseCompletion {
    #[serde(default)]
    id: String,
    #[serde(default)]
    choices: Vec<LooseChoice>,
    #[serde(default)]
    usage: Option<LooseUsage>,
}

#[derive(Deserialize)]
struct LooseChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    message: LooseMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Default, Deserialize)]
struct LooseMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<LooseToolCall>>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct LooseToolCall {
    #[serde(default)]
    id: String,
    #[serde(default)]
    function: LooseFunction,
}

#[derive(Default, Deserialize)]
struct LooseFunction {
    #[serde(default)]
    name: String,
    #[serde(default)]
    arguments: String,
}

impl LooseToolCall {
    fn into_call(self) -> ToolCall {
        ToolCall {
            id: self.id,
            kind: "function".into(),
            function: FunctionCall { name: self.function.name, arguments: self.function.arguments },
        }
    }
}

/// Usage as chat completions report it; counts left out are 0.
#[derive(Deserialize)]
pub(super) struct LooseUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    total_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<LooseDetails>,
}

#[derive(Deserialize)]
struct LooseDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

impl LooseUsage {
    pub(super) fn into_usage(self) -> Usage {
        let (prompt, completion) = (self.prompt_tokens.unwrap_or(0), self.completion_tokens.unwrap_or(0));
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: self.total_tokens.unwrap_or(prompt.saturating_add(completion)),
            prompt_tokens_details: self
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .map(|cached_tokens| PromptTokensDetails { cached_tokens, ..Default::default() }),
        }
    }
}
