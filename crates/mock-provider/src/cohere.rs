//! Cohere v2: `/v2/chat` (JSON and typed SSE events) and `/v2/embed`, with Bearer keys and
//! Cohere's `{"message": ...}` errors.

use serde_json::{json, Value};

use crate::call::{flag, required_array, required_str, Call};
use crate::completion::{prompt_tokens, split_pieces};
use crate::embedding;
use crate::problem::Problem;
use crate::reply::Reply;
use crate::sse;
use crate::tools::{self, Choice, Declared, ToolCall};

/// `POST /v2/chat`.
pub(crate) fn chat(call: &Call) -> Reply {
    let result = call.injected().and_then(|()| call.bearer_auth()).and_then(|()| call.json()).and_then(|body| {
        required_str(&body, "model")?;
        let messages = required_array(&body, "messages")?;
        let input_tokens = prompt_tokens(messages, None);
        let id = format!("mock-{}", call.seq);
        let tool = decide_tool(&body, messages);
        if flag(&body, "/stream") {
            return Ok(stream(call, &body, &id, tool.as_ref(), input_tokens));
        }
        let (message, finish, output_tokens) = match &tool {
            Some(tool) => {
                let arguments = tool.arguments.to_string();
                let tokens = split_pieces(&arguments, call.chunks).len() as u64;
                let message = json!({
                    "role": "assistant",
                    "tool_plan": tool_plan(tool),
                    "tool_calls": [{"id": tool_call_id(call), "type": "function",
                                    "function": {"name": tool.name, "arguments": arguments}}],
                });
                (message, "TOOL_CALL", tokens)
            }
            None => {
                let completion = call.completion("cohere", &body);
                let message = json!({"role": "assistant", "content": [{"type": "text", "text": completion.text()}]});
                (message, "COMPLETE", completion.tokens())
            }
        };
        Ok(Reply::ok(json!({
            "id": id,
            "finish_reason": finish,
            "message": message,
            "usage": usage(input_tokens, output_tokens),
        })))
    });
    result.unwrap_or_else(|p| error(&p))
}

/// `POST /v2/embed`.
pub(crate) fn embed(call: &Call) -> Reply {
    let result = call.injected().and_then(|()| call.bearer_auth()).and_then(|()| call.json()).and_then(|body| {
        required_str(&body, "model")?;
        let texts: Vec<String> = match body.get("texts").or_else(|| body.get("inputs")) {
            Some(Value::Array(items)) if !items.is_empty() => items.iter().map(tools::text_of).collect(),
            Some(_) => return Err(Problem::Invalid("invalid request: texts must be a non-empty array".into())),
            None => return Err(Problem::MissingField("texts")),
        };
        let dimensions = embedding::dimensions(body.get("output_dimension"));
        let vectors: Vec<Vec<f32>> = texts.iter().map(|text| embedding::vector(text, dimensions)).collect();
        let tokens: u64 = texts.iter().map(|text| text.split_whitespace().count().max(1) as u64).sum();
        Ok(Reply::ok(json!({
            "id": format!("mock-{}", call.seq),
            "embeddings": {"float": vectors},
            "texts": texts,
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
            "response_type": "embeddings_by_type",
        })))
    });
    result.unwrap_or_else(|p| error(&p))
}

fn tool_call_id(call: &Call) -> String {
    format!("mock_call_{}", call.seq)
}

fn tool_plan(tool: &ToolCall) -> String {
    format!("I will call {} to answer.", tool.name)
}

fn usage(input_tokens: u64, output_tokens: u64) -> Value {
    let counts = json!({"input_tokens": input_tokens, "output_tokens": output_tokens});
    json!({"billed_units": counts, "tokens": counts})
}

fn stream(call: &Call, body: &Value, id: &str, tool: Option<&ToolCall>, input_tokens: u64) -> Reply {
    let event = |name: &str, mut data: Value| {
        data["type"] = json!(name);
        sse::event(name, &data)
    };
    let start = json!({"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []});
    let mut frames = vec![event("message-start", json!({"id": id, "delta": {"message": start}}))];
    let (finish, output_tokens) = match tool {
        Some(tool) => {
            frames.push(event("tool-plan-delta", json!({"delta": {"message": {"tool_plan": tool_plan(tool)}}})));
            let function = json!({"name": tool.name, "arguments": ""});
            let started = json!({"id": tool_call_id(call), "type": "function", "function": function});
            frames.push(event("tool-call-start", json!({"index": 0, "delta": {"message": {"tool_calls": started}}})));
            let pieces = split_pieces(&tool.arguments.to_string(), call.chunks);
            for piece in &pieces {
                let delta = json!({"message": {"tool_calls": {"function": {"arguments": piece}}}});
                frames.push(event("tool-call-delta", json!({"index": 0, "delta": delta})));
            }
            frames.push(event("tool-call-end", json!({"index": 0})));
            ("TOOL_CALL", pieces.len() as u64)
        }
        None => {
            let completion = call.completion("cohere", body);
            let opened = json!({"message": {"content": {"type": "text", "text": ""}}});
            frames.push(event("content-start", json!({"index": 0, "delta": opened})));
            for text in &completion.deltas {
                let delta = json!({"message": {"content": {"text": text}}});
                frames.push(event("content-delta", json!({"index": 0, "delta": delta})));
            }
            frames.push(event("content-end", json!({"index": 0})));
            ("COMPLETE", completion.tokens())
        }
    };
    let end = json!({"finish_reason": finish, "usage": usage(input_tokens, output_tokens)});
    frames.push(event("message-end", json!({"delta": end})));
    Reply::sse(frames)
}

fn decide_tool(body: &Value, messages: &[Value]) -> Option<ToolCall> {
    let tools = body.get("tools").and_then(Value::as_array)?;
    let declared: Vec<Declared> = tools
        .iter()
        .filter_map(|tool| {
            let function = tool.get("function")?;
            Some(Declared { name: function.get("name")?.as_str()?, schema: function.get("parameters") })
        })
        .collect();
    let choice = match body.get("tool_choice").and_then(Value::as_str) {
        Some("NONE") => Choice::None,
        Some("REQUIRED") => Choice::Any,
        _ => Choice::Auto,
    };
    let last = messages.last()?;
    let answered = last.get("role").and_then(Value::as_str) == Some("tool");
    tools::decide(&declared, &choice, &tools::text_of(last), answered)
}

/// Cohere's error body `{"id", "message"}` for `problem`.
pub(crate) fn error(problem: &Problem) -> Reply {
    let message = match problem {
        Problem::MissingCredential => "no api key supplied".to_owned(),
        Problem::InvalidCredential { .. } => "invalid api token".to_owned(),
        Problem::MalformedJson(detail) => format!("invalid request: body is not valid JSON: {detail}"),
        Problem::MissingField(field) => format!("invalid request: {field} must be specified"),
        Problem::Invalid(message) | Problem::NotFound(message) => message.clone(),
        Problem::Injected { status, .. } if status.as_u16() == 429 => {
            "You are past the rate limit for this API key (injected by the mock provider).".to_owned()
        }
        Problem::Injected { status, .. } => Problem::injected_message(*status),
    };
    Reply::error(problem, json!({"id": "mock-error", "message": message}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_choice_table() {
        let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]);
        let user = json!([{"role": "user", "content": "hi"}]);
        let asks = json!([{"role": "user", "content": "get_weather for Paris"}]);
        let answered = json!([{"role": "tool", "tool_call_id": "x", "content": "get_weather: sunny"}]);
        let cases = [
            (json!({"tools": tools}), &user, false),
            (json!({"tools": tools}), &asks, true),
            (json!({"tools": tools}), &answered, false),
            (json!({"tools": tools, "tool_choice": "REQUIRED"}), &user, true),
            (json!({"tools": tools, "tool_choice": "NONE"}), &asks, false),
        ];
        for (body, messages, expected) in cases {
            assert_eq!(decide_tool(&body, messages.as_array().unwrap()).is_some(), expected, "{body} {messages}");
        }
    }
}
