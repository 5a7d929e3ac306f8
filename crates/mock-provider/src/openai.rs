//! OpenAI: chat completions (JSON and SSE), embeddings, the model list, and OpenAI's error shape.
//! Azure OpenAI reuses the bodies built here.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::call::{flag, required_array, required_str, unix_now, Call};
use crate::completion::{prompt_tokens, split_pieces, words};
use crate::embedding;
use crate::problem::Problem;
use crate::reply::Reply;
use crate::sse;
use crate::tools::{self, Choice, Declared, ToolCall};

/// Models listed by `GET /v1/models`.
const MODELS: [&str; 4] = ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "mock-model"];

/// `POST /v1/chat/completions` and `/chat/completions`.
pub(crate) fn chat(call: &Call) -> Reply {
    let result = call.injected().and_then(|()| call.bearer_auth()).and_then(|()| call.json()).and_then(|body| {
        let model = required_str(&body, "model")?;
        chat_reply(call, &body, model)
    });
    result
        .map(|reply| reply.with_header("x-request-id", format!("req_mock_{}", call.seq)))
        .unwrap_or_else(|p| error(&p))
}

/// The body fields Mistral's chat completions take; any other is refused with 422, as Mistral's
/// API does (`extra_forbidden`).
const MISTRAL_CHAT_FIELDS: [&str; 19] = [
    "model",
    "messages",
    "temperature",
    "top_p",
    "max_tokens",
    "stream",
    "stop",
    "random_seed",
    "response_format",
    "tools",
    "tool_choice",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "prediction",
    "parallel_tool_calls",
    "prompt_mode",
    "safe_prompt",
    "metadata",
];

/// Mistral's `POST /v1/chat/completions`: OpenAI's format, unknown fields refused, usage in the
/// last chunk of every stream.
pub(crate) fn mistral_chat(call: &Call) -> Reply {
    let result = call.injected().and_then(|()| call.bearer_auth()).and_then(|()| call.json()).and_then(|body| {
        if let Some(extra) = body.as_object().and_then(|o| o.keys().find(|k| !MISTRAL_CHAT_FIELDS.contains(&k.as_str()))) {
            return Ok(Reply::Json {
                status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                headers: Vec::new(),
                body: json!({"object": "error", "message": {"detail": [{"type": "extra_forbidden", "loc": ["body", extra],
                    "msg": "Extra inputs are not permitted", "input": body[extra]}]},
                    "type": "invalid_request_message_error", "param": null, "code": null}),
            });
        }
        let model = required_str(&body, "model")?;
        let messages = required_array(&body, "messages")?;
        if !flag(&body, "/stream") {
            return chat_reply(call, &body, model);
        }
        let prompt = prompt_tokens(messages, None);
        let id = format!("mistral-mock-{}", call.seq);
        let head = Head { id: &id, created: unix_now(), model };
        let tool = decide_tool(&body, messages);
        Ok(stream(call, &body, &head, tool.as_ref(), prompt, StreamUsage::InLastChunk))
    });
    result.unwrap_or_else(|p| error(&p))
}

/// `POST /v1/embeddings`.
pub(crate) fn embeddings(call: &Call) -> Reply {
    let result = call.injected().and_then(|()| call.bearer_auth()).and_then(|()| call.json()).and_then(|body| {
        let model = required_str(&body, "model")?;
        embeddings_reply(&body, model)
    });
    result.unwrap_or_else(|p| error(&p))
}

/// `GET /v1/models`.
pub(crate) fn models(call: &Call) -> Reply {
    let result = call.injected().and_then(|()| call.bearer_auth()).map(|()| {
        let data: Vec<Value> = MODELS
            .iter()
            .map(|id| json!({"id": id, "object": "model", "created": 1_700_000_000, "owned_by": "modelgate-mock"}))
            .collect();
        Reply::ok(json!({"object": "list", "data": data}))
    });
    result.unwrap_or_else(|p| error(&p))
}

/// The chat completion for a validated, authenticated request; `model` is echoed.
pub(crate) fn chat_reply(call: &Call, body: &Value, model: &str) -> Result<Reply, Problem> {
    let messages = required_array(body, "messages")?;
    let prompt = prompt_tokens(messages, None);
    let id = format!("chatcmpl-mock-{}", call.seq);
    let head = Head { id: &id, created: unix_now(), model };
    let tool = decide_tool(body, messages);
    if flag(body, "/stream") {
        let usage = if flag(body, "/stream_options/include_usage") { StreamUsage::OwnChunk } else { StreamUsage::None };
        return Ok(stream(call, body, &head, tool.as_ref(), prompt, usage));
    }
    let (message, finish, completion) = match &tool {
        Some(tool) => {
            let arguments = tool.arguments.to_string();
            let tokens = split_pieces(&arguments, call.chunks).len() as u64;
            let call_id = format!("call_mock_{}", call.seq);
            let message = json!({
                "role": "assistant", "content": null, "refusal": null,
                "tool_calls": [{"id": call_id, "type": "function", "function": {"name": tool.name, "arguments": arguments}}],
            });
            (message, "tool_calls", tokens)
        }
        None => {
            let completion = call.completion("openai", body);
            let message =
                json!({"role": "assistant", "content": completion.text(), "refusal": null, "annotations": []});
            (message, "stop", completion.tokens())
        }
    };
    Ok(Reply::ok(json!({
        "id": head.id,
        "object": "chat.completion",
        "created": head.created,
        "model": head.model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": usage(call, prompt, completion),
        "service_tier": "default",
        "system_fingerprint": "fp_mock",
    })))
}

struct Head<'a> {
    id: &'a str,
    created: u64,
    model: &'a str,
}

/// Where a stream reports its usage.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StreamUsage {
    /// Not asked for: nowhere.
    None,
    /// OpenAI's, when asked: a chunk of its own with empty `choices`, after the last.
    OwnChunk,
    /// Mistral's, always: in the last chunk, beside its `finish_reason`.
    InLastChunk,
}

fn stream(
    call: &Call,
    body: &Value,
    head: &Head,
    tool: Option<&ToolCall>,
    prompt: u64,
    usage_in: StreamUsage,
) -> Reply {
    let chunk = |delta: Value, finish: Value| {
        let mut chunk = json!({
            "id": head.id, "object": "chat.completion.chunk", "created": head.created, "model": head.model,
            "service_tier": "default", "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if usage_in == StreamUsage::OwnChunk {
            chunk["usage"] = Value::Null;
        }
        chunk
    };
    let mut frames = Vec::new();
    let (completion, finish) = match tool {
        Some(tool) => {
            let call_id = format!("call_mock_{}", call.seq);
            let function = json!({"name": tool.name, "arguments": ""});
            let first = json!({"index": 0, "id": call_id, "type": "function", "function": function});
            frames.push(chunk(
                json!({"role": "assistant", "content": null, "tool_calls": [first], "refusal": null}),
                Value::Null,
            ));
            let pieces = split_pieces(&tool.arguments.to_string(), call.chunks);
            for piece in &pieces {
                let delta = json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]});
                frames.push(chunk(delta, Value::Null));
            }
            (pieces.len() as u64, "tool_calls")
        }
        None => {
            let completion = call.completion("openai", body);
            frames.push(chunk(json!({"role": "assistant", "content": "", "refusal": null}), Value::Null));
            for delta in &completion.deltas {
                frames.push(chunk(json!({"content": delta}), Value::Null));
            }
            (completion.tokens(), "stop")
        }
    };
    let mut last = chunk(json!({}), json!(finish));
    if usage_in == StreamUsage::InLastChunk {
        last["usage"] = usage(call, prompt, completion);
    }
    frames.push(last);
    if usage_in == StreamUsage::OwnChunk {
        frames.push(json!({
            "id": head.id, "object": "chat.completion.chunk", "created": head.created, "model": head.model,
            "service_tier": "default", "system_fingerprint": "fp_mock",
            "choices": [], "usage": usage(call, prompt, completion),
        }));
    }
    let mut frames: Vec<_> = frames.iter().map(sse::data).collect();
    frames.push(sse::done());
    Reply::sse(frames)
}

/// OpenAI's usage: `prompt_tokens` includes the cached tokens.
fn usage(call: &Call, prompt: u64, completion: u64) -> Value {
    let prompt = prompt + call.cache.read;
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": call.cache.read, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    })
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
    let choice = match body.get("tool_choice") {
        Some(Value::String(mode)) if mode == "none" => Choice::None,
        Some(Value::String(mode)) if mode == "required" => Choice::Any,
        Some(Value::Object(_)) => match body.pointer("/tool_choice/function/name").and_then(Value::as_str) {
            Some(name) => Choice::Named(name.to_owned()),
            None => Choice::Any,
        },
        _ => Choice::Auto,
    };
    let last = messages.last()?;
    let answered = matches!(last.get("role").and_then(Value::as_str), Some("tool" | "function"));
    tools::decide(&declared, &choice, &tools::text_of(last), answered)
}

/// The embeddings list for a validated, authenticated request.
pub(crate) fn embeddings_reply(body: &Value, model: &str) -> Result<Reply, Problem> {
    let texts = embedding_inputs(body.get("input"))?;
    let dimensions = embedding::dimensions(body.get("dimensions"));
    let base64 = body.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let vector = embedding::vector(text, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|v| v.to_le_bytes()).collect();
                Value::from(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens: u64 = texts.iter().map(|text| words(&Value::from(text.as_str())).max(1)).sum();
    Ok(Reply::ok(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    })))
}

/// `input`: a string, strings, a token array or token arrays (tokens are embedded as text).
fn embedding_inputs(input: Option<&Value>) -> Result<Vec<String>, Problem> {
    let invalid = || Problem::Invalid("'$.input' is invalid. Please check the API reference.".into());
    let tokens = |items: &[Value]| items.iter().map(|t| t.as_u64().map(|n| n.to_string())).collect::<Option<Vec<_>>>();
    match input {
        None | Some(Value::Null) => Err(Problem::MissingField("input")),
        Some(Value::String(text)) => Ok(vec![text.clone()]),
        Some(Value::Array(items)) if items.is_empty() => Err(invalid()),
        Some(Value::Array(items)) if items.iter().all(Value::is_number) => {
            tokens(items).map(|t| vec![t.join(" ")]).ok_or_else(invalid)
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Some(text.clone()),
                Value::Array(inner) => tokens(inner).map(|t| t.join(" ")),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(invalid),
        Some(_) => Err(invalid()),
    }
}

/// OpenAI's error body `{"error": {message, type, param, code}}` for `problem`.
pub(crate) fn error(problem: &Problem) -> Reply {
    let (message, kind, param, code) = match problem {
        Problem::MissingCredential => (
            "You didn't provide an API key. You need to provide your API key in an Authorization header using \
             Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from \
             https://platform.openai.com/account/api-keys."
                .to_owned(),
            "invalid_request_error",
            Value::Null,
            Value::Null,
        ),
        Problem::InvalidCredential { shown } => (
            format!(
                "Incorrect API key provided: {shown}. You can find your API key at \
                 https://platform.openai.com/account/api-keys."
            ),
            "invalid_request_error",
            Value::Null,
            json!("invalid_api_key"),
        ),
        Problem::MalformedJson(_) => (
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your \
             HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
                .to_owned(),
            "invalid_request_error",
            Value::Null,
            Value::Null,
        ),
        Problem::MissingField("model") => {
            ("you must provide a model parameter".to_owned(), "invalid_request_error", Value::Null, Value::Null)
        }
        Problem::MissingField(field) => (
            format!("Missing required parameter: '{field}'."),
            "invalid_request_error",
            json!(field),
            json!("missing_required_parameter"),
        ),
        Problem::Invalid(message) => (message.clone(), "invalid_request_error", Value::Null, Value::Null),
        Problem::NotFound(message) => (message.clone(), "invalid_request_error", Value::Null, json!("unknown_url")),
        Problem::Injected { status, .. } if status.as_u16() == 429 => (
            "Rate limit reached for requests (injected by the mock provider). Please try again later.".to_owned(),
            "requests",
            Value::Null,
            json!("rate_limit_exceeded"),
        ),
        Problem::Injected { status, .. } if status.is_server_error() => (
            "The server had an error while processing your request. Sorry about that! (injected by the mock \
             provider)"
                .to_owned(),
            "server_error",
            Value::Null,
            Value::Null,
        ),
        Problem::Injected { status, .. } => {
            (Problem::injected_message(*status), "invalid_request_error", Value::Null, Value::Null)
        }
    };
    Reply::error(problem, json!({"error": {"message": message, "type": kind, "param": param, "code": code}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_input_table() {
        let ok = [
            (json!("a b"), vec!["a b"]),
            (json!(["a", "b"]), vec!["a", "b"]),
            (json!([1, 2]), vec!["1 2"]),
            (json!([[1], [2, 3]]), vec!["1", "2 3"]),
        ];
        for (input, expected) in ok {
            assert_eq!(embedding_inputs(Some(&input)).unwrap(), expected, "{input}");
        }
        for input in [json!([]), json!(3), json!([{}]), json!([[1, "x"]])] {
            assert!(embedding_inputs(Some(&input)).is_err(), "{input}");
        }
        assert_eq!(embedding_inputs(None), Err(Problem::MissingField("input")));
    }

    #[test]
    fn tool_choice_table() {
        let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]);
        let user = json!([{"role": "user", "content": "hi"}]);
        let asks = json!([{"role": "user", "content": "call get_weather"}]);
        let answered = json!([{"role": "user", "content": "get_weather"}, {"role": "tool", "content": "sunny"}]);
        let cases = [
            (json!({"tools": tools}), &user, false),
            (json!({"tools": tools}), &asks, true),
            (json!({"tools": tools}), &answered, false),
            (json!({"tools": tools, "tool_choice": "required"}), &user, true),
            (json!({"tools": tools, "tool_choice": "none"}), &asks, false),
            (
                json!({"tools": tools, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
                &user,
                true,
            ),
            (json!({}), &asks, false),
        ];
        for (body, messages, expected) in cases {
            let messages = messages.as_array().unwrap();
            assert_eq!(decide_tool(&body, messages).is_some(), expected, "{body} {messages:?}");
        }
    }
}
