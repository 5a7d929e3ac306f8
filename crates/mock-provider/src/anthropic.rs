//! Anthropic Messages: `/v1/messages` (and `/v1/messages/count_tokens`) with `x-api-key` and `anthropic-version`, the JSON message,
//! the SSE event sequence, and Anthropic's error shape.

use serde_json::{json, Value};

use crate::call::{flag, required_array, required_str, Call};
use crate::completion::{prompt_tokens, split_pieces};
use crate::problem::Problem;
use crate::reply::Reply;
use crate::sse;
use crate::tools::{self, Choice, Declared, ToolCall};

/// `POST /v1/messages`.
pub(crate) fn messages(call: &Call) -> Reply {
    let result = call
        .injected()
        .and_then(|()| call.header_auth("x-api-key"))
        .and_then(|()| match call.request.header("anthropic-version") {
            Some(version) if !version.trim().is_empty() => Ok(()),
            _ => Err(Problem::Invalid("anthropic-version: header is required".into())),
        })
        .and_then(|()| call.json())
        .and_then(|body| reply(call, &body));
    result.unwrap_or_else(|p| error(&p)).with_header("request-id", format!("req_mock_{}", call.seq))
}

/// `POST /v1/messages/count_tokens`: the prompt's tokens, counted as a reply would count them.
pub(crate) fn count_tokens(call: &Call) -> Reply {
    let result =
        call.injected().and_then(|()| call.header_auth("x-api-key")).and_then(|()| call.json()).and_then(|body| {
            required_str(&body, "model")?;
            let messages = required_array(&body, "messages")?;
            Ok(Reply::ok(json!({"input_tokens": prompt_tokens(messages, body.get("system"))})))
        });
    result.unwrap_or_else(|p| error(&p))
}

fn reply(call: &Call, body: &Value) -> Result<Reply, Problem> {
    let model = required_str(body, "model")?;
    match body.get("max_tokens") {
        None | Some(Value::Null) => return Err(Problem::MissingField("max_tokens")),
        Some(value) if value.as_u64().is_none_or(|n| n == 0) => {
            return Err(Problem::Invalid("max_tokens: Input should be a valid positive integer".into()))
        }
        Some(_) => {}
    }
    let messages = required_array(body, "messages")?;
    let input_tokens = prompt_tokens(messages, body.get("system"));
    let id = format!("msg_mock_{}", call.seq);
    let tool = decide_tool(body, messages);
    if flag(body, "/stream") {
        return Ok(stream(call, body, &id, model, tool.as_ref(), input_tokens));
    }
    let (content, stop_reason, output_tokens) = match &tool {
        Some(tool) => {
            let tokens = split_pieces(&tool.arguments.to_string(), call.chunks).len() as u64;
            let block =
                json!({"type": "tool_use", "id": tool_use_id(call), "name": tool.name, "input": tool.arguments});
            (vec![block], "tool_use", tokens)
        }
        None => {
            let completion = call.completion("anthropic", body);
            (vec![json!({"type": "text", "text": completion.text()})], "end_turn", completion.tokens())
        }
    };
    Ok(Reply::ok(json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": usage(call, input_tokens, output_tokens),
    })))
}

fn tool_use_id(call: &Call) -> String {
    format!("toolu_mock_{}", call.seq)
}

/// Anthropic's usage: `input_tokens` excludes the cache's reads and writes.
fn usage(call: &Call, input_tokens: u64, output_tokens: u64) -> Value {
    json!({
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": call.cache.write,
        "cache_read_input_tokens": call.cache.read,
        "output_tokens": output_tokens,
    })
}

fn stream(call: &Call, body: &Value, id: &str, model: &str, tool: Option<&ToolCall>, input_tokens: u64) -> Reply {
    let mut frames = vec![sse::event(
        "message_start",
        &json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": usage(call, input_tokens, 1),
        }}),
    )];
    let (block, deltas, stop_reason) = match tool {
        Some(tool) => {
            let block = json!({"type": "tool_use", "id": tool_use_id(call), "name": tool.name, "input": {}});
            let deltas: Vec<Value> = split_pieces(&tool.arguments.to_string(), call.chunks)
                .into_iter()
                .map(|piece| json!({"type": "input_json_delta", "partial_json": piece}))
                .collect();
            (block, deltas, "tool_use")
        }
        None => {
            let deltas =
                call.completion("anthropic", body).deltas.into_iter().map(|t| json!({"type": "text_delta", "text": t}));
            (json!({"type": "text", "text": ""}), deltas.collect(), "end_turn")
        }
    };
    let output_tokens = deltas.len() as u64;
    frames.push(sse::event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0, "content_block": block}),
    ));
    frames.push(sse::event("ping", &json!({"type": "ping"})));
    for delta in deltas {
        frames.push(sse::event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        ));
    }
    frames.push(sse::event("content_block_stop", &json!({"type": "content_block_stop", "index": 0})));
    frames.push(sse::event(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": output_tokens},
        }),
    ));
    frames.push(sse::event("message_stop", &json!({"type": "message_stop"})));
    Reply::sse(frames)
}

fn decide_tool(body: &Value, messages: &[Value]) -> Option<ToolCall> {
    let tools = body.get("tools").and_then(Value::as_array)?;
    let declared: Vec<Declared> = tools
        .iter()
        .filter_map(|tool| Some(Declared { name: tool.get("name")?.as_str()?, schema: tool.get("input_schema") }))
        .collect();
    let choice = match body.pointer("/tool_choice/type").and_then(Value::as_str) {
        Some("none") => Choice::None,
        Some("any") => Choice::Any,
        Some("tool") => match body.pointer("/tool_choice/name").and_then(Value::as_str) {
            Some(name) => Choice::Named(name.to_owned()),
            None => Choice::Any,
        },
        _ => Choice::Auto,
    };
    let last = messages.last()?;
    let answered = last
        .get("content")
        .and_then(Value::as_array)
        .is_some_and(|blocks| blocks.iter().any(|b| b.get("type").and_then(Value::as_str) == Some("tool_result")));
    tools::decide(&declared, &choice, &tools::text_of(last), answered)
}

/// Anthropic's error body `{"type": "error", "error": {type, message}}` for `problem`.
pub(crate) fn error(problem: &Problem) -> Reply {
    let (kind, message) = match problem {
        Problem::MissingCredential => ("authentication_error", "x-api-key header is required".to_owned()),
        Problem::InvalidCredential { .. } => ("authentication_error", "invalid x-api-key".to_owned()),
        Problem::MalformedJson(detail) => {
            ("invalid_request_error", format!("The request body is not valid JSON: {detail}"))
        }
        Problem::MissingField(field) => ("invalid_request_error", format!("{field}: Field required")),
        Problem::Invalid(message) => ("invalid_request_error", message.clone()),
        Problem::NotFound(message) => ("not_found_error", message.clone()),
        Problem::Injected { status, .. } => {
            let kind = match status.as_u16() {
                400 => "invalid_request_error",
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                _ if status.is_server_error() => "api_error",
                _ => "invalid_request_error",
            };
            let message = match kind {
                "overloaded_error" => "Overloaded".to_owned(),
                _ => Problem::injected_message(*status),
            };
            (kind, message)
        }
    };
    Reply::error(problem, json!({"type": "error", "error": {"type": kind, "message": message}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_choice_table() {
        let tools = json!([{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}]);
        let user = json!([{"role": "user", "content": "hi"}]);
        let asks = json!([{"role": "user", "content": [{"type": "text", "text": "use get_weather"}]}]);
        let answered = json!([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "get_weather: sunny"}]}]);
        let cases = [
            (json!({"tools": tools}), &user, false),
            (json!({"tools": tools}), &asks, true),
            (json!({"tools": tools}), &answered, false),
            (json!({"tools": tools, "tool_choice": {"type": "any"}}), &user, true),
            (json!({"tools": tools, "tool_choice": {"type": "tool", "name": "get_weather"}}), &user, true),
            (json!({"tools": tools, "tool_choice": {"type": "none"}}), &asks, false),
        ];
        for (body, messages, expected) in cases {
            assert_eq!(decide_tool(&body, messages.as_array().unwrap()).is_some(), expected, "{body} {messages}");
        }
    }
}
