//! Data-driven tests: every case goes through [`check`], which runs one converter and compares
//! its output, as JSON, with the expected JSON.

use super::{error, request, response, Stream};
use crate::{RequestContext, ResponseContext, StreamTranslator};
use serde_json::{json, Value};

const CREATED: i64 = 1_700_000_000;

enum Input {
    /// An OpenAI request, translated with [`request_context`]; expects the Anthropic body or
    /// `{"refused": param}`.
    Request(Value),
    /// The same with a given context.
    RequestWith(Value, RequestContext),
    /// An Anthropic message; expects `{id, model, message, finish_reason, usage}`.
    Response(Value),
    /// The same, reported under the provider's model (the context has none).
    ResponseProviderModel(Value),
    /// Anthropic SSE events `(event name, data)`; expects `{id, model, chunks, usage}` where each
    /// chunk is `{delta, finish_reason?}` or `{usage}`, and `error` when an event fails.
    Stream { events: Vec<(&'static str, Value)>, include_usage: bool },
    /// An Anthropic error answer; expects OpenAI's error body.
    Error(u16, &'static str),
}

fn request_context() -> RequestContext {
    RequestContext { model: None, default_max_tokens: 1024 }
}

fn response_context(model: &str, include_usage: bool) -> ResponseContext {
    ResponseContext { id: "chatcmpl-gw".into(), created: CREATED, model: model.into(), include_usage }
}

fn check(input: Input, expected: Value) {
    let actual = run(&input);
    assert_eq!(actual, expected, "\nactual:   {actual}\nexpected: {expected}");
}

fn run(input: &Input) -> Value {
    match input {
        Input::Request(body) => translate_request(body, &request_context()),
        Input::RequestWith(body, context) => translate_request(body, context),
        Input::Response(body) => translate_response(body, "claude-gw"),
        Input::ResponseProviderModel(body) => translate_response(body, ""),
        Input::Stream { events, include_usage } => translate_stream(events, *include_usage),
        Input::Error(status, body) => serde_json::to_value(error(*status, body.as_bytes())).unwrap(),
    }
}

fn translate_request(body: &Value, context: &RequestContext) -> Value {
    let chat = serde_json::from_value(body.clone()).unwrap();
    match request(&chat, context) {
        Ok(translated) => {
            assert_eq!(translated.path, "/v1/messages");
            assert_eq!(translated.query, None);
            translated.body
        }
        Err(e) => {
            assert!(!e.message.is_empty());
            json!({"refused": e.param})
        }
    }
}

fn translate_response(body: &Value, model: &str) -> Value {
    let completion = match response(body, &response_context(model, false)) {
        Ok(completion) => completion,
        Err(e) => return json!({"error": e.message}),
    };
    assert_eq!(completion.object, "chat.completion");
    assert_eq!(completion.created, CREATED);
    assert_eq!(completion.choices.len(), 1);
    let choice = &completion.choices[0];
    assert_eq!((choice.index, &choice.logprobs), (0, &None));
    json!({
        "id": completion.id,
        "model": completion.model,
        "message": choice.message,
        "finish_reason": choice.finish_reason,
        "usage": completion.usage,
    })
}

fn translate_stream(events: &[(&'static str, Value)], include_usage: bool) -> Value {
    let mut stream = Stream::new(response_context("claude-gw", include_usage));
    let mut chunks = Vec::new();
    let mut failure = None;
    for (name, data) in events {
        match stream.event(Some(name), &data.to_string()) {
            Ok(more) => chunks.extend(more),
            Err(e) => {
                failure = Some(e.message);
                break;
            }
        }
    }
    if failure.is_none() {
        chunks.extend(stream.finish());
    }
    let first = chunks.first().cloned();
    let compact: Vec<Value> = chunks
        .iter()
        .map(|chunk| {
            assert_eq!(chunk.object, "chat.completion.chunk");
            assert_eq!(chunk.created, CREATED);
            assert_eq!(Some(&chunk.id), first.as_ref().map(|c| &c.id));
            assert_eq!(chunk.model, "claude-gw");
            match (&chunk.usage, chunk.choices.as_slice()) {
                (Some(usage), []) => json!({"usage": usage}),
                (None, [choice]) => {
                    assert_eq!((choice.index, &choice.logprobs), (0, &None));
                    let mut compact = json!({"delta": choice.delta});
                    if let Some(reason) = &choice.finish_reason {
                        compact["finish_reason"] = json!(reason);
                    }
                    compact
                }
                _ => panic!("unexpected chunk shape: {chunk:?}"),
            }
        })
        .collect();
    let mut out = json!({"id": first.map(|c| c.id), "chunks": compact, "usage": stream.usage()});
    if let Some(message) = failure {
        out["error"] = json!(message);
    }
    out
}

/// `{"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hi"}]}` plus `extra`.
fn chat(extra: Value) -> Value {
    let mut body = json!({"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hi"}]});
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

/// The Anthropic body for [`chat`], plus `extra`.
fn messages(extra: Value) -> Value {
    let mut body = json!({
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "max_tokens": 1024,
    });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

fn refused(param: &str) -> Value {
    json!({"refused": param})
}

const WEATHER_SCHEMA: &str = r#"{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}"#;

fn weather_tool() -> Value {
    json!({"type": "function", "function": {
        "name": "get_weather", "description": "Current weather", "parameters": serde_json::from_str::<Value>(WEATHER_SCHEMA).unwrap(),
    }})
}

fn weather_tool_anthropic() -> Value {
    json!({"name": "get_weather", "description": "Current weather", "input_schema": serde_json::from_str::<Value>(WEATHER_SCHEMA).unwrap()})
}

#[test]
fn requests_plain() {
    let cases = [
        // The minimal request: max_tokens from the context default.
        (Input::Request(chat(json!({}))), messages(json!({}))),
        // The context's model wins over the request's.
        (
            Input::RequestWith(
                chat(json!({})),
                RequestContext { model: Some("claude-opus-4-1".into()), default_max_tokens: 1024 },
            ),
            messages(json!({"model": "claude-opus-4-1"})),
        ),
        (
            Input::RequestWith(
                json!({"messages": [{"role": "user", "content": "Hi"}]}),
                RequestContext { model: Some("claude-opus-4-1".into()), default_max_tokens: 1024 },
            ),
            messages(json!({"model": "claude-opus-4-1"})),
        ),
        (Input::Request(json!({"messages": [{"role": "user", "content": "Hi"}]})), refused("model")),
        // Max tokens: max_completion_tokens wins over max_tokens, both over the default.
        (Input::Request(chat(json!({"max_tokens": 300}))), messages(json!({"max_tokens": 300}))),
        (
            Input::Request(chat(json!({"max_tokens": 300, "max_completion_tokens": 200}))),
            messages(json!({"max_tokens": 200})),
        ),
        (Input::Request(chat(json!({"max_completion_tokens": 0}))), refused("max_completion_tokens")),
        (
            Input::RequestWith(chat(json!({})), RequestContext { model: None, default_max_tokens: 0 }),
            refused("max_tokens"),
        ),
        // Streaming: `stream` is sent, `stream_options` is the gateway's.
        (
            Input::Request(chat(json!({"stream": true, "stream_options": {"include_usage": true}}))),
            messages(json!({"stream": true})),
        ),
        (Input::Request(chat(json!({"stream": false}))), messages(json!({}))),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn requests_sampling_and_refusals() {
    let cases = [
        (
            Input::Request(chat(json!({"temperature": 0.2, "top_p": 0.9, "top_k": 40, "seed": 7, "user": "user-42"}))),
            messages(json!({"temperature": 0.2, "top_p": 0.9, "top_k": 40, "metadata": {"user_id": "user-42"}})),
        ),
        (Input::Request(chat(json!({"temperature": 1.0}))), messages(json!({"temperature": 1.0}))),
        (Input::Request(chat(json!({"temperature": 1.5}))), refused("temperature")),
        (Input::Request(chat(json!({"top_p": -0.1}))), refused("top_p")),
        (Input::Request(chat(json!({"top_k": "many"}))), refused("top_k")),
        // Stop: one string or several; whitespace-only sequences are refused, not dropped.
        (Input::Request(chat(json!({"stop": "END"}))), messages(json!({"stop_sequences": ["END"]}))),
        (
            Input::Request(chat(json!({"stop": ["END", "\n\nHuman:"]}))),
            messages(json!({"stop_sequences": ["END", "\n\nHuman:"]})),
        ),
        (Input::Request(chat(json!({"stop": []}))), messages(json!({}))),
        (Input::Request(chat(json!({"stop": ["END", "\n"]}))), refused("stop")),
        // n, logprobs, penalties.
        (Input::Request(chat(json!({"n": 1}))), messages(json!({}))),
        (Input::Request(chat(json!({"n": 2}))), refused("n")),
        (Input::Request(chat(json!({"logprobs": false, "presence_penalty": 0.0}))), messages(json!({}))),
        (Input::Request(chat(json!({"logprobs": true}))), refused("logprobs")),
        (Input::Request(chat(json!({"top_logprobs": 3}))), refused("top_logprobs")),
        (Input::Request(chat(json!({"presence_penalty": 0.5}))), refused("presence_penalty")),
        (Input::Request(chat(json!({"frequency_penalty": -1.0}))), refused("frequency_penalty")),
        // Unmodelled fields: harmless ones accepted, the others refused by name.
        (
            Input::Request(chat(
                json!({"store": false, "metadata": {"run": "1"}, "service_tier": "auto", "logit_bias": null}),
            )),
            messages(json!({})),
        ),
        (
            Input::Request(chat(json!({"safety_identifier": "hash-1"}))),
            messages(json!({"metadata": {"user_id": "hash-1"}})),
        ),
        (Input::Request(chat(json!({"logit_bias": {"50256": -100}}))), refused("logit_bias")),
        (Input::Request(chat(json!({"reasoning_effort": "high"}))), refused("reasoning_effort")),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn requests_messages() {
    let png = "data:image/png;base64,iVBORw0KGgo=";
    let cases = [
        // System and developer messages, wherever they are, become the system blocks in order.
        (
            Input::Request(json!({"model": "claude-sonnet-4-5", "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Hi"},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}, {"type": "text", "text": ""}]},
            ]})),
            messages(
                json!({"system": [{"type": "text", "text": "You are terse."}, {"type": "text", "text": "Answer in French."}]}),
            ),
        ),
        (
            Input::Request(json!({"model": "m", "messages": [
                {"role": "system", "content": [{"type": "image_url", "image_url": {"url": png}}]},
                {"role": "user", "content": "Hi"},
            ]})),
            refused("messages[0].content[0]"),
        ),
        // Multi-part user content: text, a data-URL image, an https image; `detail` dropped.
        (
            Input::Request(json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image_url", "image_url": {"url": png, "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ]}]})),
            json!({"model": "m", "max_tokens": 1024, "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            ]}]}),
        ),
        (
            Input::Request(json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "Look"}, {"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}},
            ]}]})),
            refused("messages[0].content[1]"),
        ),
        (
            Input::Request(json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "ftp://example.com/cat.jpg"}},
            ]}]})),
            refused("messages[0].content[0]"),
        ),
        (
            Input::Request(json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "Transcribe"}, {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
            ]}]})),
            refused("messages[0].content[1]"),
        ),
        // Consecutive same-role messages merge so that turns alternate; names are dropped.
        (
            Input::Request(json!({"model": "m", "messages": [
                {"role": "user", "content": "First", "name": "ann"},
                {"role": "user", "content": "Second"},
                {"role": "assistant", "content": "Ok."},
                {"role": "assistant", "content": [{"type": "text", "text": "Really."}]},
                {"role": "user", "content": "Third"},
            ]})),
            json!({"model": "m", "max_tokens": 1024, "messages": [
                {"role": "user", "content": [{"type": "text", "text": "First"}, {"type": "text", "text": "Second"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "Ok."}, {"type": "text", "text": "Really."}]},
                {"role": "user", "content": [{"type": "text", "text": "Third"}]},
            ]}),
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn requests_tool_round_trip() {
    let cases = [
        // Assistant tool calls become tool_use blocks; consecutive tool results share one user turn,
        // followed by the next user text.
        (
            Input::Request(json!({"model": "m", "tools": [weather_tool()], "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "toolu_01", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "toolu_02", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}},
                ]},
                {"role": "tool", "tool_call_id": "toolu_01", "content": "18C, cloudy"},
                {"role": "tool", "tool_call_id": "toolu_02", "content": [{"type": "text", "text": "24C, sunny"}]},
                {"role": "user", "content": "Which is warmer?"},
            ]})),
            json!({"model": "m", "max_tokens": 1024, "tools": [weather_tool_anthropic()], "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"city": "Rome"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C, cloudy"},
                    {"type": "tool_result", "tool_use_id": "toolu_02", "content": [{"type": "text", "text": "24C, sunny"}]},
                    {"type": "text", "text": "Which is warmer?"},
                ]},
            ]}),
        ),
        // Text beside tool calls, and a call without arguments.
        (
            Input::Request(json!({"model": "m", "messages": [
                {"role": "user", "content": "Time?"},
                {"role": "assistant", "content": "Checking.", "tool_calls": [
                    {"id": "toolu_03", "type": "function", "function": {"name": "now", "arguments": ""}},
                ]},
            ]})),
            json!({"model": "m", "max_tokens": 1024, "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Time?"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_03", "name": "now", "input": {}},
                ]},
            ]}),
        ),
        (
            Input::Request(json!({"model": "m", "messages": [
                {"role": "user", "content": "Time?"},
                {"role": "assistant", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "now", "arguments": "{not json"}}]},
            ]})),
            refused("messages[1].tool_calls[0].function.arguments"),
        ),
        (
            Input::Request(json!({"model": "m", "messages": [
                {"role": "user", "content": "Time?"},
                {"role": "assistant", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "now", "arguments": "[1]"}}]},
            ]})),
            refused("messages[1].tool_calls[0].function.arguments"),
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn requests_tools_and_tool_choice() {
    let tools = json!({"tools": [weather_tool()]});
    let with_tools = |extra: Value| {
        let mut body = chat(tools.clone());
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    let anthropic_tools = |extra: Value| {
        let mut body = messages(json!({"tools": [weather_tool_anthropic()]}));
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    let cases = [
        (Input::Request(with_tools(json!({}))), anthropic_tools(json!({}))),
        // Missing parameters: an empty object schema. `strict` is dropped.
        (
            Input::Request(chat(json!({"tools": [{"type": "function", "function": {"name": "now", "strict": true}}]}))),
            messages(json!({"tools": [{"name": "now", "input_schema": {"type": "object", "properties": {}}}]})),
        ),
        (
            Input::Request(with_tools(json!({"tool_choice": "auto"}))),
            anthropic_tools(json!({"tool_choice": {"type": "auto"}})),
        ),
        (
            Input::Request(with_tools(json!({"tool_choice": "required"}))),
            anthropic_tools(json!({"tool_choice": {"type": "any"}})),
        ),
        (
            Input::Request(with_tools(json!({"tool_choice": "none"}))),
            anthropic_tools(json!({"tool_choice": {"type": "none"}})),
        ),
        (
            Input::Request(with_tools(
                json!({"tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
            )),
            anthropic_tools(json!({"tool_choice": {"type": "tool", "name": "get_weather"}})),
        ),
        (Input::Request(with_tools(json!({"tool_choice": "sometimes"}))), refused("tool_choice")),
        // parallel_tool_calls: false disables parallel use inside tool_choice.
        (
            Input::Request(with_tools(json!({"parallel_tool_calls": false}))),
            anthropic_tools(json!({"tool_choice": {"type": "auto", "disable_parallel_tool_use": true}})),
        ),
        (
            Input::Request(with_tools(json!({"parallel_tool_calls": false, "tool_choice": "required"}))),
            anthropic_tools(json!({"tool_choice": {"type": "any", "disable_parallel_tool_use": true}})),
        ),
        (
            Input::Request(with_tools(json!({"parallel_tool_calls": false, "tool_choice": "none"}))),
            anthropic_tools(json!({"tool_choice": {"type": "none"}})),
        ),
        (Input::Request(with_tools(json!({"parallel_tool_calls": true}))), anthropic_tools(json!({}))),
        // Without tools: none/auto are moot, forcing a call is refused.
        (Input::Request(chat(json!({"tool_choice": "none", "parallel_tool_calls": false}))), messages(json!({}))),
        (Input::Request(chat(json!({"tool_choice": "required"}))), refused("tool_choice")),
        (
            Input::Request(chat(json!({"tools": [{"type": "custom", "function": {"name": "x"}}]}))),
            refused("tools[0].type"),
        ),
        (
            Input::Request(chat(
                json!({"tools": [weather_tool(), {"type": "function", "function": {"name": "json_output"}}]}),
            )),
            refused("tools[1].function.name"),
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn requests_json_mode() {
    let schema = json!({"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]});
    let forced = json!({"type": "tool", "name": "json_output"});
    let cases = [
        (Input::Request(chat(json!({"response_format": {"type": "text"}}))), messages(json!({}))),
        (
            Input::Request(chat(json!({"response_format": {"type": "json_object"}}))),
            messages(json!({"tools": [{
                "name": "json_output", "description": "Give your final answer as JSON with this tool.", "input_schema": {"type": "object"},
            }], "tool_choice": forced})),
        ),
        (
            Input::Request(chat(json!({"response_format": {"type": "json_schema", "json_schema": {
                "name": "math", "description": "The sum", "schema": schema, "strict": true,
            }}}))),
            messages(
                json!({"tools": [{"name": "json_output", "description": "The sum", "input_schema": schema}], "tool_choice": forced}),
            ),
        ),
        (
            Input::Request(chat(json!({"tools": [weather_tool()], "response_format": {"type": "json_object"}}))),
            refused("response_format"),
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

fn message(content: Value, stop_reason: &str, usage: Value) -> Value {
    json!({
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": content, "stop_reason": stop_reason, "stop_sequence": null, "usage": usage,
    })
}

fn anthropic_usage(input: u64, output: u64) -> Value {
    json!({"input_tokens": input, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": output})
}

fn openai_usage(prompt: u64, completion: u64, cached: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached}})
}

fn completion(message: Value, finish_reason: &str, usage: Value) -> Value {
    json!({"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "model": "claude-gw", "message": message, "finish_reason": finish_reason, "usage": usage})
}

#[test]
fn responses() {
    let hello = json!([{"type": "text", "text": "Hello"}, {"type": "text", "text": ", world."}]);
    let assistant = |content: Value| json!({"role": "assistant", "content": content});
    let cases = [
        // Text blocks joined; thinking ignored.
        (
            Input::Response(message(
                json!([{"type": "thinking", "thinking": "Greet.", "signature": "sig"}, hello[0], hello[1]]),
                "end_turn",
                anthropic_usage(12, 6),
            )),
            completion(assistant(json!("Hello, world.")), "stop", openai_usage(12, 6, 0)),
        ),
        // Each stop reason.
        (
            Input::Response(message(hello.clone(), "stop_sequence", anthropic_usage(12, 6))),
            completion(assistant(json!("Hello, world.")), "stop", openai_usage(12, 6, 0)),
        ),
        (
            Input::Response(message(hello.clone(), "max_tokens", anthropic_usage(12, 6))),
            completion(assistant(json!("Hello, world.")), "length", openai_usage(12, 6, 0)),
        ),
        (
            Input::Response(message(hello.clone(), "pause_turn", anthropic_usage(12, 6))),
            completion(assistant(json!("Hello, world.")), "stop", openai_usage(12, 6, 0)),
        ),
        (
            Input::Response(message(json!([]), "refusal", anthropic_usage(12, 0))),
            completion(assistant(Value::Null), "content_filter", openai_usage(12, 0, 0)),
        ),
        // Tool calls: arguments as JSON strings; text beside them kept.
        (
            Input::Response(message(
                json!([
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"city": "Rome"}},
                ]),
                "tool_use",
                anthropic_usage(80, 40),
            )),
            completion(
                json!({"role": "assistant", "content": "Let me check.", "tool_calls": [
                    {"id": "toolu_01", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "toolu_02", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}},
                ]}),
                "tool_calls",
                openai_usage(80, 40, 0),
            ),
        ),
        // JSON mode: the json_output call is the content, finish reason stop.
        (
            Input::Response(message(
                json!([{"type": "tool_use", "id": "toolu_09", "name": "json_output", "input": {"answer": 4}}]),
                "tool_use",
                anthropic_usage(30, 9),
            )),
            completion(assistant(json!("{\"answer\":4}")), "stop", openai_usage(30, 9, 0)),
        ),
        // Cache writes and reads count as prompt tokens; reads are the cached tokens.
        (
            Input::Response(message(
                hello.clone(),
                "end_turn",
                json!({"input_tokens": 20, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 2000, "output_tokens": 6}),
            )),
            completion(assistant(json!("Hello, world.")), "stop", openai_usage(2120, 6, 2000)),
        ),
        // No cache fields reported: no cached_tokens invented.
        (
            Input::Response(message(hello.clone(), "end_turn", json!({"input_tokens": 12, "output_tokens": 6}))),
            completion(
                assistant(json!("Hello, world.")),
                "stop",
                json!({"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}),
            ),
        ),
        // The provider's model when the context has none; the context's id when the provider has none.
        (
            Input::ResponseProviderModel(
                json!({"type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                "content": hello, "stop_reason": "end_turn", "usage": anthropic_usage(1, 2)}),
            ),
            json!({"id": "chatcmpl-gw", "model": "claude-sonnet-4-5-20250929", "message": assistant(json!("Hello, world.")),
                "finish_reason": "stop", "usage": openai_usage(1, 2, 0)}),
        ),
        (
            Input::Response(json!({"type": "message", "role": "assistant"})),
            json!({"error": "the Anthropic response has no `content` array"}),
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

fn message_start(input_tokens: u64, cache_read: u64) -> (&'static str, Value) {
    (
        "message_start",
        json!({"type": "message_start", "message": {
            "id": "msg_01Stream", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": cache_read, "output_tokens": 1},
        }}),
    )
}

fn block_start(index: u64, block: Value) -> (&'static str, Value) {
    ("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": block}))
}

fn block_delta(index: u64, delta: Value) -> (&'static str, Value) {
    ("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": delta}))
}

fn text_delta(index: u64, text: &str) -> (&'static str, Value) {
    block_delta(index, json!({"type": "text_delta", "text": text}))
}

fn json_delta(index: u64, partial: &str) -> (&'static str, Value) {
    block_delta(index, json!({"type": "input_json_delta", "partial_json": partial}))
}

fn block_stop(index: u64) -> (&'static str, Value) {
    ("content_block_stop", json!({"type": "content_block_stop", "index": index}))
}

fn message_delta(stop_reason: &str, output_tokens: u64) -> (&'static str, Value) {
    (
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
        "usage": {"output_tokens": output_tokens}}),
    )
}

fn message_stop() -> (&'static str, Value) {
    ("message_stop", json!({"type": "message_stop"}))
}

fn ping() -> (&'static str, Value) {
    ("ping", json!({"type": "ping"}))
}

fn text_stream() -> Vec<(&'static str, Value)> {
    vec![
        message_start(25, 0),
        block_start(0, json!({"type": "text", "text": ""})),
        ping(),
        text_delta(0, "Hello"),
        text_delta(0, " there."),
        block_stop(0),
        message_delta("end_turn", 5),
        message_stop(),
    ]
}

fn text_chunks() -> Vec<Value> {
    vec![
        json!({"delta": {"role": "assistant", "content": ""}}),
        json!({"delta": {"content": "Hello"}}),
        json!({"delta": {"content": " there."}}),
        json!({"delta": {}, "finish_reason": "stop"}),
    ]
}

#[test]
fn streams() {
    let usage = openai_usage(25, 5, 0);
    let call = |index: u32, id: &str| json!({"delta": {"tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}});
    let arguments = |index: u32, piece: &str| json!({"delta": {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}});
    let with_usage = {
        let mut chunks = text_chunks();
        chunks.push(json!({"usage": usage}));
        chunks
    };
    let cases = [
        // A text stream, without and with the final usage chunk.
        (
            Input::Stream { events: text_stream(), include_usage: false },
            json!({"id": "msg_01Stream", "chunks": text_chunks(), "usage": usage}),
        ),
        (
            Input::Stream { events: text_stream(), include_usage: true },
            json!({"id": "msg_01Stream", "chunks": with_usage, "usage": usage}),
        ),
        // Two tool calls after a text block and a thinking block: tool indexes 0 and 1,
        // arguments in pieces.
        (
            Input::Stream {
                events: vec![
                    message_start(300, 200),
                    block_start(0, json!({"type": "thinking", "thinking": ""})),
                    block_delta(0, json!({"type": "thinking_delta", "thinking": "Two cities."})),
                    block_delta(0, json!({"type": "signature_delta", "signature": "sig"})),
                    block_stop(0),
                    block_start(1, json!({"type": "text", "text": ""})),
                    text_delta(1, "Checking both."),
                    block_stop(1),
                    block_start(2, json!({"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}})),
                    json_delta(2, ""),
                    json_delta(2, "{\"city\": "),
                    json_delta(2, "\"Paris\"}"),
                    block_stop(2),
                    block_start(3, json!({"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {}})),
                    json_delta(3, "{\"city\": \"Ro"),
                    json_delta(3, "me\"}"),
                    block_stop(3),
                    message_delta("tool_use", 60),
                    message_stop(),
                ],
                include_usage: true,
            },
            json!({"id": "msg_01Stream", "chunks": [
                {"delta": {"role": "assistant", "content": ""}},
                {"delta": {"content": "Checking both."}},
                call(0, "toolu_01"),
                arguments(0, "{\"city\": "),
                arguments(0, "\"Paris\"}"),
                call(1, "toolu_02"),
                arguments(1, "{\"city\": \"Ro"),
                arguments(1, "me\"}"),
                {"delta": {}, "finish_reason": "tool_calls"},
                {"usage": openai_usage(500, 60, 200)},
            ], "usage": openai_usage(500, 60, 200)}),
        ),
        // JSON mode: the json_output input streams as content and ends with stop.
        (
            Input::Stream {
                events: vec![
                    message_start(30, 0),
                    block_start(0, json!({"type": "tool_use", "id": "toolu_09", "name": "json_output", "input": {}})),
                    json_delta(0, "{\"answer\""),
                    json_delta(0, ": 4}"),
                    block_stop(0),
                    message_delta("tool_use", 9),
                    message_stop(),
                ],
                include_usage: false,
            },
            json!({"id": "msg_01Stream", "chunks": [
                {"delta": {"role": "assistant", "content": ""}},
                {"delta": {"content": "{\"answer\""}},
                {"delta": {"content": ": 4}"}},
                {"delta": {}, "finish_reason": "stop"},
            ], "usage": openai_usage(30, 9, 0)}),
        ),
        // Finish reasons in streams.
        (
            Input::Stream {
                events: vec![message_start(25, 0), text_delta(0, "Hel"), message_delta("max_tokens", 1)],
                include_usage: false,
            },
            json!({"id": "msg_01Stream", "chunks": [
                {"delta": {"role": "assistant", "content": ""}},
                {"delta": {"content": "Hel"}},
                {"delta": {}, "finish_reason": "length"},
            ], "usage": openai_usage(25, 1, 0)}),
        ),
        // An error event mid-stream fails the stream.
        (
            Input::Stream {
                events: vec![
                    message_start(25, 0),
                    text_delta(0, "Hel"),
                    ("error", json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})),
                    text_delta(0, "lo"),
                ],
                include_usage: true,
            },
            json!({"id": "msg_01Stream", "chunks": [
                {"delta": {"role": "assistant", "content": ""}},
                {"delta": {"content": "Hel"}},
            ], "usage": openai_usage(25, 1, 0), "error": "Anthropic stream error (overloaded_error): Overloaded"}),
        ),
        // Tool input for a block that is not a tool call is a broken stream.
        (
            Input::Stream { events: vec![message_start(25, 0), json_delta(0, "{")], include_usage: false },
            json!({"id": "msg_01Stream", "chunks": [{"delta": {"role": "assistant", "content": ""}}],
                "usage": openai_usage(25, 1, 0), "error": "Anthropic stream sent tool input for content block 0, which is not a tool call"}),
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn stream_without_message_start_uses_context_id_and_sends_role_first() {
    let mut stream = Stream::new(response_context("claude-gw", false));
    let chunks = stream.event(Some("content_block_delta"), &text_delta(0, "Hi").1.to_string()).unwrap();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].id, "chatcmpl-gw");
    assert_eq!(chunks[0].choices[0].delta.role.as_deref(), Some("assistant"));
    assert!(stream.event(Some("ping"), "").unwrap().is_empty());
    assert!(stream.event(None, "{not json").is_err());
}

#[test]
fn errors() {
    let anthropic = |kind: &str, message: &str| {
        let body = json!({"type": "error", "error": {"type": kind, "message": message}}).to_string();
        &*Box::leak(body.into_boxed_str())
    };
    let openai = |message: &str, kind: &str, code: Value| json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    let cases = [
        (
            Input::Error(400, anthropic("invalid_request_error", "max_tokens: Field required")),
            openai("max_tokens: Field required", "invalid_request_error", json!("invalid_request_error")),
        ),
        (
            Input::Error(401, anthropic("authentication_error", "invalid x-api-key")),
            openai("invalid x-api-key", "authentication_error", json!("authentication_error")),
        ),
        (
            Input::Error(403, anthropic("permission_error", "Your API key does not have permission")),
            openai("Your API key does not have permission", "permission_error", json!("permission_error")),
        ),
        (
            Input::Error(404, anthropic("not_found_error", "model: claude-9")),
            openai("model: claude-9", "invalid_request_error", json!("not_found_error")),
        ),
        (
            Input::Error(429, anthropic("rate_limit_error", "Number of request tokens has exceeded your rate limit")),
            openai(
                "Number of request tokens has exceeded your rate limit",
                "rate_limit_error",
                json!("rate_limit_error"),
            ),
        ),
        (
            Input::Error(500, anthropic("api_error", "Internal server error")),
            openai("Internal server error", "api_error", json!("api_error")),
        ),
        (
            Input::Error(529, anthropic("overloaded_error", "Overloaded")),
            openai("Overloaded", "api_error", json!("overloaded_error")),
        ),
        (
            Input::Error(413, anthropic("request_too_large", "Request exceeds the maximum allowed number of bytes")),
            openai(
                "Request exceeds the maximum allowed number of bytes",
                "invalid_request_error",
                json!("request_too_large"),
            ),
        ),
        // Not Anthropic's shape: the raw text.
        (Input::Error(502, "<html>Bad Gateway</html>\n"), openai("<html>Bad Gateway</html>", "api_error", Value::Null)),
        (Input::Error(503, ""), openai("Anthropic answered HTTP 503 without a body", "api_error", Value::Null)),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}
