//! Data-driven tests: every case goes through [`check`], which runs one converter and compares
//! its output, as JSON, with the expected JSON.

use super::{error_body, from_openai_bytes, gemini_count_tokens, request, response_from_json, Stream};
use crate::{RequestContext, ResponseContext};
use serde_json::{json, Value};

enum Input {
    /// A Messages body; expects the OpenAI chat request, or `{"refused": param}` (`null` when the
    /// body does not parse).
    Request(Value),
    /// An OpenAI chat completion; expects the Anthropic message.
    Response(Value),
    /// OpenAI SSE `data:` payloads; expects `{events, usage}`, each event `[name, data]`.
    Stream(Vec<Value>),
    /// A status and an OpenAI-compatible provider's error body; expects Anthropic's error body.
    Error(u16, &'static str),
}

fn context() -> ResponseContext {
    ResponseContext { id: "msg_gw".into(), created: 0, model: "my-model".into(), include_usage: true }
}

fn check(input: Input, expected: Value) {
    let actual = run(input);
    assert_eq!(actual, expected, "\nactual:   {actual}\nexpected: {expected}");
}

fn run(input: Input) -> Value {
    match input {
        Input::Request(body) => match request(body.to_string().as_bytes()) {
            Ok(chat) => serde_json::to_value(chat).unwrap(),
            Err(e) => {
                assert!(!e.message.is_empty());
                json!({"refused": e.param})
            }
        },
        Input::Response(body) => match response_from_json(body.to_string().as_bytes(), &context()) {
            Ok(message) => serde_json::to_value(message).unwrap(),
            Err(e) => json!({"error": e.message}),
        },
        Input::Stream(chunks) => {
            let mut stream = Stream::new(context());
            let mut events = Vec::new();
            for chunk in chunks {
                let data = if chunk.is_string() { chunk.as_str().unwrap().to_string() } else { chunk.to_string() };
                match stream.event(&data) {
                    Ok(more) => events.extend(more),
                    Err(e) => {
                        events.push(stream.error(e.message));
                        break;
                    }
                }
            }
            events.extend(stream.finish());
            let events: Vec<Value> = events
                .iter()
                .map(|event| {
                    let data = serde_json::to_value(event).unwrap();
                    assert_eq!(data["type"], event.name());
                    json!([event.name(), data])
                })
                .collect();
            json!({"events": events, "usage": stream.usage()})
        }
        Input::Error(status, body) => serde_json::to_value(from_openai_bytes(status, body.as_bytes())).unwrap(),
    }
}

/// `{"model": "my-model", "max_tokens": 100, "messages": [...]}` plus `extra`.
fn messages(messages: Value, extra: Value) -> Value {
    let mut body = json!({"model": "my-model", "max_tokens": 100, "messages": messages});
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

/// The chat request for [`messages`], plus `extra`.
fn chat(messages: Value, extra: Value) -> Value {
    let mut body = json!({"model": "my-model", "max_tokens": 100, "messages": messages});
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

fn hi() -> Value {
    json!([{"role": "user", "content": "Hi"}])
}

const SCHEMA: &str = r#"{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}"#;

fn schema() -> Value {
    serde_json::from_str(SCHEMA).unwrap()
}

fn weather_tool() -> Value {
    json!({"name": "get_weather", "description": "Current weather", "input_schema": schema(), "cache_control": {"type": "ephemeral"}})
}

fn weather_function() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Current weather", "parameters": schema()}})
}

#[test]
fn requests_plain() {
    let cases = [
        (Input::Request(messages(hi(), json!({}))), chat(hi(), json!({}))),
        // System: a string, or text blocks joined.
        (
            Input::Request(messages(hi(), json!({"system": "Be terse."}))),
            chat(json!([{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]), json!({})),
        ),
        (
            Input::Request(messages(
                hi(),
                json!({"system": [{"type": "text", "text": "A"}, {"type": "text", "text": "B", "cache_control": {"type": "ephemeral"}}]}),
            )),
            chat(json!([{"role": "system", "content": "A\nB"}, {"role": "user", "content": "Hi"}]), json!({})),
        ),
        (Input::Request(messages(hi(), json!({"system": []}))), chat(hi(), json!({}))),
        // Sampling and stop sequences; stream kept; metadata, thinking and top_k dropped.
        (
            Input::Request(messages(
                hi(),
                json!({"temperature": 0.2, "top_p": 0.9, "top_k": 5, "stop_sequences": ["END", "\n\nHuman:"], "stream": true,
                       "metadata": {"user_id": "u1"}, "thinking": {"type": "enabled", "budget_tokens": 1024}}),
            )),
            chat(hi(), json!({"temperature": 0.2, "top_p": 0.9, "stop": ["END", "\n\nHuman:"], "stream": true})),
        ),
        (Input::Request(messages(hi(), json!({"stop_sequences": [], "stream": false}))), chat(hi(), json!({}))),
        // max_tokens may be left out (count_tokens bodies have none); 0 is refused.
        (Input::Request(json!({"model": "m", "messages": hi()})), json!({"model": "m", "messages": hi()})),
        (Input::Request(messages(hi(), json!({"max_tokens": 0}))), json!({"refused": "max_tokens"})),
        // Anthropic-hosted features.
        (
            Input::Request(messages(hi(), json!({"mcp_servers": [{"type": "url", "url": "https://x", "name": "x"}]}))),
            json!({"refused": "mcp_servers"}),
        ),
        (Input::Request(messages(hi(), json!({"container": "c1"}))), json!({"refused": "container"})),
        // Bodies that are not Messages requests.
        (Input::Request(json!({"model": "m"})), json!({"refused": null})),
        (Input::Request(json!({"messages": [{"role": "system", "content": "x"}]})), json!({"refused": null})),
        (Input::Request(json!({"messages": [{"role": "user", "content": 3}]})), json!({"refused": null})),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn requests_content_blocks_and_images() {
    let png = json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}});
    let url = json!({"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}});
    let cases = [
        // Text-only blocks are one string; empty text blocks vanish.
        (
            Input::Request(messages(
                json!([{"role": "user", "content": [{"type": "text", "text": "<reminder>"}, {"type": "text", "text": ""}, {"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}]}]),
                json!({}),
            )),
            chat(json!([{"role": "user", "content": "<reminder>\nHi"}]), json!({})),
        ),
        // Images: base64 as a data URL, url as it is.
        (
            Input::Request(messages(
                json!([{"role": "user", "content": [{"type": "text", "text": "Compare"}, png, url]}]),
                json!({}),
            )),
            chat(
                json!([{"role": "user", "content": [
                    {"type": "text", "text": "Compare"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
                ]}]),
                json!({}),
            ),
        ),
        // Assistant text blocks joined, thinking dropped; a reasoning-only turn vanishes.
        (
            Input::Request(messages(
                json!([
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"}, {"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}]},
                    {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "x"}]},
                    {"role": "user", "content": "Bye"}
                ]),
                json!({}),
            )),
            chat(
                json!([
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello\nthere"},
                    {"role": "user", "content": "Bye"}
                ]),
                json!({}),
            ),
        ),
        (
            Input::Request(messages(
                json!([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]),
                json!({}),
            )),
            chat(json!([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]), json!({})),
        ),
        // Blocks that have no place where they stand, or that no translation carries.
        (
            Input::Request(messages(
                json!([{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}]),
                json!({}),
            )),
            json!({"refused": "messages[0].content[0]"}),
        ),
        (
            Input::Request(messages(json!([{"role": "assistant", "content": [png]}]), json!({}))),
            json!({"refused": "messages[0].content[0]"}),
        ),
        (
            Input::Request(messages(
                json!([{"role": "user", "content": [{"type": "document", "source": {"type": "text", "data": "x"}}]}]),
                json!({}),
            )),
            json!({"refused": null}),
        ),
        (
            Input::Request(messages(
                json!([{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]),
                json!({}),
            )),
            json!({"refused": null}),
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn requests_multi_turn_tool_use() {
    let call = json!({"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}});
    let cases = [
        (
            Input::Request(messages(
                json!([
                    {"role": "user", "content": "Weather in Paris and Rome?"},
                    {"role": "assistant", "content": [{"type": "text", "text": "Checking."}, call,
                        {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}}]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "21 C"},
                        {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "unknown city"}], "is_error": true},
                        {"type": "text", "text": "And tomorrow?"}
                    ]}
                ]),
                json!({"tools": [weather_tool()]}),
            )),
            chat(
                json!([
                    {"role": "user", "content": "Weather in Paris and Rome?"},
                    {"role": "assistant", "content": "Checking.", "tool_calls": [
                        {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                        {"id": "toolu_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "toolu_1", "content": "21 C"},
                    {"role": "tool", "tool_call_id": "toolu_2", "content": "Tool error: unknown city"},
                    {"role": "user", "content": "And tomorrow?"}
                ]),
                json!({"tools": [weather_function()]}),
            ),
        ),
        // A tool's image follows the tool messages in a user message; a result without content
        // is empty text; a call without input sends `{}`.
        (
            Input::Request(messages(
                json!([
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "screenshot"}, {"type": "tool_use", "id": "t2", "name": "noop", "input": {}}]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "shot:"},
                            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}}]},
                        {"type": "tool_result", "tool_use_id": "t2"}
                    ]}
                ]),
                json!({}),
            )),
            chat(
                json!([
                    {"role": "assistant", "tool_calls": [
                        {"id": "t1", "type": "function", "function": {"name": "screenshot", "arguments": "{}"}},
                        {"id": "t2", "type": "function", "function": {"name": "noop", "arguments": "{}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "t1", "content": "shot:"},
                    {"role": "tool", "tool_call_id": "t2", "content": ""},
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}}]}
                ]),
                json!({}),
            ),
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn requests_tools_and_tool_choice() {
    let tools = json!({"tools": [weather_tool()]});
    let with = |choice: Value| {
        let mut extra = tools.clone();
        extra["tool_choice"] = choice;
        messages(hi(), extra)
    };
    let expect = |extra: Value| {
        let mut body = chat(hi(), json!({"tools": [weather_function()]}));
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    let cases = [
        (Input::Request(messages(hi(), tools.clone())), expect(json!({}))),
        (Input::Request(with(json!({"type": "auto"}))), expect(json!({"tool_choice": "auto"}))),
        (Input::Request(with(json!({"type": "any"}))), expect(json!({"tool_choice": "required"}))),
        (Input::Request(with(json!({"type": "none"}))), expect(json!({"tool_choice": "none"}))),
        (
            Input::Request(with(json!({"type": "tool", "name": "get_weather"}))),
            expect(json!({"tool_choice": {"type": "function", "function": {"name": "get_weather"}}})),
        ),
        (
            Input::Request(with(json!({"type": "any", "disable_parallel_tool_use": true}))),
            expect(json!({"tool_choice": "required", "parallel_tool_calls": false})),
        ),
        (
            Input::Request(with(json!({"type": "auto", "disable_parallel_tool_use": false}))),
            expect(json!({"tool_choice": "auto"})),
        ),
        // A tool without a schema takes any object; `custom` is a client tool too.
        (
            Input::Request(messages(hi(), json!({"tools": [{"type": "custom", "name": "now"}]}))),
            chat(
                hi(),
                json!({"tools": [{"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}]}),
            ),
        ),
        // Without tools: auto and none mean nothing, forcing a tool is refused.
        (Input::Request(messages(hi(), json!({"tool_choice": {"type": "auto"}}))), chat(hi(), json!({}))),
        (Input::Request(messages(hi(), json!({"tools": [], "tool_choice": {"type": "none"}}))), chat(hi(), json!({}))),
        (Input::Request(messages(hi(), json!({"tool_choice": {"type": "any"}}))), json!({"refused": "tool_choice"})),
        (Input::Request(with(json!({"type": "sometimes"}))), json!({"refused": null})),
        // Anthropic's own tools run only on Claude.
        (
            Input::Request(messages(
                hi(),
                json!({"tools": [weather_tool(), {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]}),
            )),
            json!({"refused": "tools[1].type"}),
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

fn completion(message: Value, finish_reason: &str, usage: Value) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
           "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": null}], "usage": usage})
}

fn message(content: Value, stop_reason: &str, usage: Value) -> Value {
    json!({"id": "msg_gw", "type": "message", "role": "assistant", "model": "my-model", "content": content,
           "stop_reason": stop_reason, "stop_sequence": null, "usage": usage})
}

#[test]
fn responses() {
    let usage = json!({"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17});
    let counted = json!({"input_tokens": 12, "output_tokens": 5});
    let cases = [
        (
            Input::Response(completion(json!({"role": "assistant", "content": "Hello"}), "stop", usage.clone())),
            message(json!([{"type": "text", "text": "Hello"}]), "end_turn", counted.clone()),
        ),
        (
            Input::Response(completion(json!({"role": "assistant", "content": "Hel"}), "length", usage.clone())),
            message(json!([{"type": "text", "text": "Hel"}]), "max_tokens", counted.clone()),
        ),
        // Tool calls: arguments parsed; text before them kept.
        (
            Input::Response(completion(
                json!({"role": "assistant", "content": "Let me check.", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "now", "arguments": ""}},
                    {"id": "call_3", "type": "function", "function": {"name": "broken", "arguments": "{\"a\":"}}
                ]}),
                "tool_calls",
                usage.clone(),
            )),
            message(
                json!([
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_2", "name": "now", "input": {}},
                    {"type": "tool_use", "id": "call_3", "name": "broken", "input": {"arguments": "{\"a\":"}}
                ]),
                "tool_use",
                counted.clone(),
            ),
        ),
        // Cached prompt tokens are Anthropic's cache reads, apart from the other input.
        (
            Input::Response(completion(
                json!({"role": "assistant", "content": ""}),
                "content_filter",
                json!({"prompt_tokens": 100, "completion_tokens": 1, "total_tokens": 101, "prompt_tokens_details": {"cached_tokens": 60}}),
            )),
            message(
                json!([]),
                "refusal",
                json!({"input_tokens": 40, "output_tokens": 1, "cache_read_input_tokens": 60}),
            ),
        ),
        (
            Input::Response(completion(
                json!({"role": "assistant", "content": null, "refusal": "I can't."}),
                "stop",
                usage.clone(),
            )),
            message(json!([{"type": "text", "text": "I can't."}]), "refusal", counted.clone()),
        ),
        // Some providers send an empty content beside the refusal.
        (
            Input::Response(completion(
                json!({"role": "assistant", "content": "", "refusal": "I can't."}),
                "stop",
                usage.clone(),
            )),
            message(json!([{"type": "text", "text": "I can't."}]), "refusal", counted.clone()),
        ),
        // A lean OpenAI-compatible answer: no object, created, usage or finish reason.
        (
            Input::Response(json!({"choices": [{"message": {"content": "Hi"}}]})),
            message(
                json!([{"type": "text", "text": "Hi"}]),
                "end_turn",
                json!({"input_tokens": 0, "output_tokens": 0}),
            ),
        ),
        (
            Input::Response(json!({"choices": []})),
            message(json!([]), "end_turn", json!({"input_tokens": 0, "output_tokens": 0})),
        ),
        // A leaner answer: no id, model or created; a tool call without `id` or `type`.
        (
            Input::Response(
                json!({"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant",
                "content": null, "tool_calls": [{"function": {"name": "now", "arguments": "{}"}}]}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
            ),
            message(
                json!([{"type": "tool_use", "id": "msg_gw_tool_0", "name": "now", "input": {}}]),
                "tool_use",
                json!({"input_tokens": 3, "output_tokens": 2}),
            ),
        ),
        (Input::Response(json!({"error": "x"})), json!({"error": "the provider's answer has no choices"})),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

fn chunk(delta: Value, finish_reason: Option<&str>) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]})
}

fn usage_chunk(prompt: u64, completion: u64) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini", "choices": [],
           "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}})
}

fn start() -> [Value; 2] {
    [
        json!(["message_start", {"type": "message_start", "message": {"id": "msg_gw", "type": "message", "role": "assistant",
            "model": "my-model", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 0, "output_tokens": 0}}}]),
        json!(["ping", {"type": "ping"}]),
    ]
}

fn block_start(index: u32, block: Value) -> Value {
    json!(["content_block_start", {"type": "content_block_start", "index": index, "content_block": block}])
}

fn text_delta(index: u32, text: &str) -> Value {
    json!(["content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}])
}

fn json_delta(index: u32, partial: &str) -> Value {
    json!(["content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": partial}}])
}

fn block_stop(index: u32) -> Value {
    json!(["content_block_stop", {"type": "content_block_stop", "index": index}])
}

fn end(stop_reason: &str, usage: Value) -> [Value; 2] {
    [
        json!(["message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": usage}]),
        json!(["message_stop", {"type": "message_stop"}]),
    ]
}

fn events(parts: Vec<Vec<Value>>) -> Value {
    Value::Array(parts.into_iter().flatten().collect())
}

fn openai_usage(prompt: u64, completion: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

#[test]
fn streams() {
    let text = || {
        vec![
            chunk(json!({"role": "assistant", "content": ""}), None),
            chunk(json!({"content": "Hel"}), None),
            chunk(json!({"content": "lo"}), None),
            chunk(json!({}), Some("stop")),
        ]
    };
    let text_events = || {
        vec![
            start().to_vec(),
            vec![
                block_start(0, json!({"type": "text", "text": ""})),
                text_delta(0, "Hel"),
                text_delta(0, "lo"),
                block_stop(0),
            ],
        ]
    };
    let with_usage = {
        let mut chunks = text();
        chunks.push(usage_chunk(9, 2));
        chunks.push(json!("[DONE]"));
        chunks
    };
    let cases = [
        // Text, then the usage chunk OpenAI sends last.
        (
            Input::Stream(with_usage),
            json!({"events": events([text_events(), vec![end("end_turn", json!({"input_tokens": 9, "output_tokens": 2})).to_vec()]].concat()),
                   "usage": openai_usage(9, 2)}),
        ),
        // Mistral: usage beside the finish reason; no usage at all gives zeros.
        (
            Input::Stream({
                let mut chunks = text();
                chunks[3]["usage"] = openai_usage(4, 2);
                chunks
            }),
            json!({"events": events([text_events(), vec![end("end_turn", json!({"input_tokens": 4, "output_tokens": 2})).to_vec()]].concat()),
                   "usage": openai_usage(4, 2)}),
        ),
        // Text, then two tool calls whose arguments stream in pieces.
        (
            Input::Stream(vec![
                chunk(json!({"role": "assistant", "content": "Checking."}), None),
                chunk(
                    json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
                    None,
                ),
                chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}), None),
                chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}), None),
                chunk(
                    json!({"tool_calls": [{"index": 1, "id": "call_2", "type": "function", "function": {"name": "now", "arguments": "{}"}}]}),
                    None,
                ),
                chunk(json!({}), Some("tool_calls")),
                usage_chunk(20, 7),
            ]),
            json!({"events": events(vec![
                start().to_vec(),
                vec![block_start(0, json!({"type": "text", "text": ""})), text_delta(0, "Checking."), block_stop(0)],
                vec![block_start(1, json!({"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}})),
                     json_delta(1, "{\"city\":"), json_delta(1, "\"Paris\"}"), block_stop(1)],
                vec![block_start(2, json!({"type": "tool_use", "id": "call_2", "name": "now", "input": {}})), json_delta(2, "{}"), block_stop(2)],
                end("tool_use", json!({"input_tokens": 20, "output_tokens": 7})).to_vec(),
            ]), "usage": openai_usage(20, 7)}),
        ),
        // A refusal (OpenAI's structured outputs) streams as text and stops as a refusal.
        (
            Input::Stream(vec![
                chunk(json!({"refusal": "I can't"}), None),
                chunk(json!({"refusal": " help."}), None),
                chunk(json!({}), Some("stop")),
                usage_chunk(4, 3),
            ]),
            json!({"events": events(vec![
                start().to_vec(),
                vec![block_start(0, json!({"type": "text", "text": ""})), text_delta(0, "I can't"), text_delta(0, " help."), block_stop(0)],
                end("refusal", json!({"input_tokens": 4, "output_tokens": 3})).to_vec(),
            ]), "usage": openai_usage(4, 3)}),
        ),
        // Parallel calls from a provider that leaves `index` out: each call's first piece has its
        // own id, the pieces after it continue the latest call.
        (
            Input::Stream(vec![
                chunk(json!({"tool_calls": [{"id": "call_a", "function": {"name": "fa", "arguments": ""}}]}), None),
                chunk(json!({"tool_calls": [{"function": {"arguments": "{\"x\":1}"}}]}), None),
                chunk(json!({"tool_calls": [{"id": "call_b", "function": {"name": "fb", "arguments": ""}}]}), None),
                chunk(json!({"tool_calls": [{"function": {"arguments": "{\"y\":2}"}}]}), None),
                chunk(json!({}), Some("tool_calls")),
                usage_chunk(5, 3),
            ]),
            json!({"events": events(vec![
                start().to_vec(),
                vec![block_start(0, json!({"type": "tool_use", "id": "call_a", "name": "fa", "input": {}})), json_delta(0, "{\"x\":1}"), block_stop(0)],
                vec![block_start(1, json!({"type": "tool_use", "id": "call_b", "name": "fb", "input": {}})), json_delta(1, "{\"y\":2}"), block_stop(1)],
                end("tool_use", json!({"input_tokens": 5, "output_tokens": 3})).to_vec(),
            ]), "usage": openai_usage(5, 3)}),
        ),
        // OpenAI-compatible providers' leaner chunks: no id, model or created, the usage chunk
        // without `choices` and its details without `cached_tokens`.
        (
            Input::Stream(vec![
                json!({"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]}),
                json!({"usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5, "prompt_tokens_details": {}}}),
            ]),
            json!({"events": events(vec![
                start().to_vec(),
                vec![block_start(0, json!({"type": "text", "text": ""})), text_delta(0, "Hi"), block_stop(0)],
                end("end_turn", json!({"input_tokens": 4, "output_tokens": 1})).to_vec(),
            ]), "usage": openai_usage(4, 1)}),
        ),
        // Length, and cached tokens.
        (
            Input::Stream(vec![
                chunk(json!({"content": "Hel"}), Some("length")),
                json!({"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 1, "total_tokens": 51, "prompt_tokens_details": {"cached_tokens": 30}}}),
            ]),
            json!({"events": events(vec![
                start().to_vec(),
                vec![block_start(0, json!({"type": "text", "text": ""})), text_delta(0, "Hel"), block_stop(0)],
                end("max_tokens", json!({"input_tokens": 20, "output_tokens": 1, "cache_read_input_tokens": 30})).to_vec(),
            ]), "usage": {"prompt_tokens": 50, "completion_tokens": 1, "total_tokens": 51, "prompt_tokens_details": {"cached_tokens": 30}}}),
        ),
        // An empty stream still opens and closes a message.
        (
            Input::Stream(vec![]),
            json!({"events": events(vec![start().to_vec(), end("end_turn", json!({"input_tokens": 0, "output_tokens": 0})).to_vec()]),
                   "usage": openai_usage(0, 0)}),
        ),
        // A provider's error inside the stream ends it with an error event.
        (
            Input::Stream(vec![
                chunk(json!({"content": "Hi"}), None),
                json!({"error": {"message": "overloaded", "type": "server_error"}}),
            ]),
            json!({"events": events(vec![
                start().to_vec(),
                vec![block_start(0, json!({"type": "text", "text": ""})), text_delta(0, "Hi"),
                     json!(["error", {"type": "error", "error": {"type": "api_error", "message": "the provider's stream failed: overloaded"}}])],
            ]), "usage": openai_usage(0, 0)}),
        ),
        (
            Input::Stream(vec![json!("not json")]),
            json!({"events": [["error", {"type": "error", "error": {"type": "api_error",
                "message": "the provider's stream failed: the provider sent a stream event that is not a chat chunk: expected ident at line 1 column 2"}}]], "usage": openai_usage(0, 0)}),
        ),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
}

#[test]
fn errors() {
    let cases = [
        (
            Input::Error(
                400,
                r#"{"error": {"message": "bad model", "type": "invalid_request_error", "param": null, "code": null}}"#,
            ),
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "bad model"}}),
        ),
        (
            Input::Error(401, r#"{"error": {"message": "Incorrect API key"}}"#),
            json!({"type": "error", "error": {"type": "authentication_error", "message": "Incorrect API key"}}),
        ),
        (
            Input::Error(
                422,
                r#"{"object": "error", "message": "Extra inputs are not permitted", "type": "invalid_request_error"}"#,
            ),
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "Extra inputs are not permitted"}}),
        ),
        (
            Input::Error(429, r#"{"detail": "slow down"}"#),
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}),
        ),
        (
            Input::Error(404, r#"{"error": "no such model"}"#),
            json!({"type": "error", "error": {"type": "not_found_error", "message": "no such model"}}),
        ),
        (
            Input::Error(503, "upstream connect error"),
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "upstream connect error"}}),
        ),
        (
            Input::Error(500, ""),
            json!({"type": "error", "error": {"type": "api_error", "message": "the provider answered HTTP 500 without a body"}}),
        ),
        (Input::Error(504, "{}"), json!({"type": "error", "error": {"type": "timeout_error", "message": "{}"}})),
    ];
    for (input, expected) in cases {
        check(input, expected);
    }
    assert_eq!(
        serde_json::to_value(error_body(413, "too big")).unwrap(),
        json!({"type": "error", "error": {"type": "request_too_large", "message": "too big"}})
    );
}

#[test]
fn gemini_and_vertex_count_tokens() {
    let chat = super::request(messages(hi(), json!({"system": "Be terse."})).to_string().as_bytes()).unwrap();
    let context = RequestContext { model: Some("gemini-2.0-flash".into()), default_max_tokens: 0 };
    let gemini = gemini_count_tokens(&chat, &context, false).unwrap();
    assert_eq!(gemini.path, "/v1beta/models/gemini-2.0-flash:countTokens");
    let inner = &gemini.body["generateContentRequest"];
    assert_eq!(inner["model"], "models/gemini-2.0-flash");
    assert_eq!(inner["contents"], json!([{"role": "user", "parts": [{"text": "Hi"}]}]));
    assert_eq!(inner["systemInstruction"]["parts"][0]["text"], "Be terse.");
    let vertex = gemini_count_tokens(&chat, &context, true).unwrap();
    assert_eq!(vertex.path, gemini.path);
    assert_eq!(vertex.body["contents"], inner["contents"]);
    assert_eq!(super::count_tokens_answer(&json!({"totalTokens": 7})).unwrap(), json!({"input_tokens": 7}));
    assert!(super::count_tokens_answer(&json!({"error": {}})).is_err());
}
