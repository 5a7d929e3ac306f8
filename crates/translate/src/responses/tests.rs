//! Data-driven tests: Responses JSON in, chat JSON out (and back), one `check` per direction.

use super::{chat_chunk, chat_completion, error, request, response, Context, ResponsesRequest, Stream};
use serde_json::{json, Value};

fn context() -> Context {
    Context { id: "resp_gw1".into(), created_at: 1_700_000_000, model: "my-model".into(), echo: Default::default() }
}

/// Translates a Responses request: the chat body, or `{"refused": param}`.
fn translate_request(body: Value) -> Value {
    let parsed: ResponsesRequest = serde_json::from_value(body).unwrap();
    match request(&parsed) {
        Ok(translated) => serde_json::to_value(&translated.chat).unwrap(),
        Err(e) => {
            assert!(!e.message.is_empty());
            json!({"refused": e.param})
        }
    }
}

fn check_requests(cases: Vec<(&str, Value, Value)>) {
    for (name, input, expected) in cases {
        let actual = translate_request(input);
        assert_eq!(actual, expected, "{name}\nactual:   {actual}\nexpected: {expected}");
    }
}

fn with(base: Value, extra: Value) -> Value {
    let mut body = base;
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

/// `{"model": "m", "input": "Hi"}` plus `extra`.
fn responses(extra: Value) -> Value {
    with(json!({"model": "m", "input": "Hi"}), extra)
}

/// The chat request for [`responses`], plus `extra`.
fn chat(extra: Value) -> Value {
    with(json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}]}), extra)
}

fn refused(param: &str) -> Value {
    json!({"refused": param})
}

fn weather_schema() -> Value {
    json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
}

#[test]
fn requests_plain() {
    check_requests(vec![
        ("a string input is one user message", responses(json!({})), chat(json!({}))),
        (
            "instructions go first as a system message; sampling and the cap carried over",
            responses(
                json!({"instructions": "Be brief.", "temperature": 0.2, "top_p": 0.9, "max_output_tokens": 64, "stream": true}),
            ),
            json!({"model": "m", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                "stream": true, "max_tokens": 64, "temperature": 0.2, "top_p": 0.9}),
        ),
        ("stream false is not sent", responses(json!({"stream": false})), chat(json!({}))),
        (
            "items: easy messages, developer as system, parts, images",
            responses(json!({"input": [
                {"role": "developer", "content": "Answer in French."},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": "https://example.com/cat.jpg", "detail": "low"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"}]},
                {"role": "assistant", "content": [{"type": "output_text", "text": "Un chat.", "annotations": []}]},
                {"role": "user", "content": "Merci"}]})),
            json!({"model": "m", "messages": [
                {"role": "system", "content": "Answer in French."},
                {"role": "user", "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
                {"role": "assistant", "content": "Un chat."},
                {"role": "user", "content": "Merci"}]}),
        ),
        (
            "a previous refusal stays a refusal",
            responses(
                json!({"input": [{"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]}, {"role": "user", "content": "Please"}]}),
            ),
            json!({"model": "m", "messages": [{"role": "assistant", "refusal": "No."}, {"role": "user", "content": "Please"}]}),
        ),
        (
            "reasoning items and dropped fields are left out",
            responses(
                json!({"input": [{"type": "reasoning", "id": "rs_1", "summary": []}, {"role": "user", "content": "Hi"}],
                "reasoning": {"effort": "low"}, "include": ["reasoning.encrypted_content"], "truncation": "disabled",
                "user": "u1", "metadata": {"a": "b"}, "store": false, "background": false, "top_logprobs": 0,
                "text": {"format": {"type": "text"}, "verbosity": "low"}, "service_tier": "auto"}),
            ),
            chat(json!({})),
        ),
    ]);
}

#[test]
fn requests_tool_round_trip() {
    let tool = json!({"type": "function", "name": "get_weather", "description": "Current weather", "parameters": weather_schema(), "strict": true});
    let chat_tool = json!({"type": "function", "function": {"name": "get_weather", "description": "Current weather", "parameters": weather_schema(), "strict": true}});
    check_requests(vec![
        (
            "function tools, tool_choice required, parallel_tool_calls",
            responses(json!({"tools": [tool], "tool_choice": "required", "parallel_tool_calls": false})),
            chat(json!({"tools": [chat_tool], "tool_choice": "required", "parallel_tool_calls": false})),
        ),
        (
            "tool_choice naming a function",
            responses(json!({"tools": [tool], "tool_choice": {"type": "function", "name": "get_weather"}})),
            chat(
                json!({"tools": [chat_tool], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
            ),
        ),
        (
            "a tool round trip: the calls join the assistant's turn, each output is a tool message",
            responses(json!({"tools": [tool], "input": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}", "status": "completed"},
                {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": "{\"city\":\"Rome\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "{\"temperature\":21}"},
                {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "25"}]}]})),
            json!({"model": "m", "tools": [chat_tool], "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": "Checking.", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "{\"temperature\":21}"},
                {"role": "tool", "tool_call_id": "call_2", "content": "25"}]}),
        ),
        (
            "a call without a preceding assistant message opens one",
            responses(json!({"input": [
                {"role": "user", "content": "Hi"},
                {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}]})),
            json!({"model": "m", "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]}),
        ),
        (
            "built-in tools are refused",
            responses(json!({"tools": [tool, {"type": "web_search_preview"}]})),
            refused("tools[1].type"),
        ),
        (
            "a built-in tool_choice is refused",
            responses(json!({"tool_choice": {"type": "file_search"}})),
            refused("tool_choice"),
        ),
        (
            "a call without arguments is refused",
            responses(json!({"input": [{"type": "function_call", "call_id": "c", "name": "f"}]})),
            refused("input[0].arguments"),
        ),
        (
            "an output without call_id is refused",
            responses(json!({"input": [{"type": "function_call_output", "output": "x"}]})),
            refused("input[0].call_id"),
        ),
    ]);
}

#[test]
fn requests_structured_output() {
    check_requests(vec![
        (
            "text.format json_schema becomes response_format",
            responses(
                json!({"text": {"format": {"type": "json_schema", "name": "weather", "description": "A forecast", "schema": weather_schema(), "strict": true}}}),
            ),
            chat(
                json!({"response_format": {"type": "json_schema", "json_schema": {"name": "weather", "description": "A forecast", "schema": weather_schema(), "strict": true}}}),
            ),
        ),
        (
            "json_object",
            responses(json!({"text": {"format": {"type": "json_object"}}})),
            chat(json!({"response_format": {"type": "json_object"}})),
        ),
        (
            "a json_schema without a name is refused",
            responses(json!({"text": {"format": {"type": "json_schema", "schema": {}}}})),
            refused("text.format.name"),
        ),
        (
            "an unknown format is refused",
            responses(json!({"text": {"format": {"type": "grammar"}}})),
            refused("text.format.type"),
        ),
    ]);
}

#[test]
fn requests_refused() {
    check_requests(vec![
        (
            "stateless: previous_response_id",
            responses(json!({"previous_response_id": "resp_1"})),
            refused("previous_response_id"),
        ),
        ("stateless: store true", responses(json!({"store": true})), refused("store")),
        ("stateless: conversation", responses(json!({"conversation": "conv_1"})), refused("conversation")),
        ("stateless: background", responses(json!({"background": true})), refused("background")),
        (
            "stateless: item references",
            responses(json!({"input": [{"type": "item_reference", "id": "msg_1"}]})),
            refused("input[0]"),
        ),
        ("no input", json!({"model": "m"}), refused("input")),
        ("input of another type", responses(json!({"input": 3})), refused("input")),
        ("an unknown field", responses(json!({"prompt": {"id": "pmpt_1"}})), refused("prompt")),
        ("top_logprobs", responses(json!({"top_logprobs": 2})), refused("top_logprobs")),
        (
            "input files",
            responses(json!({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file_1"}]}]})),
            refused("input[0].content[0]"),
        ),
        (
            "images by file id",
            responses(json!({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]})),
            refused("input[0].content[0]"),
        ),
        (
            "items of other types",
            responses(json!({"input": [{"type": "web_search_call", "id": "ws"}]})),
            refused("input[0].type"),
        ),
        ("an item without type or role", responses(json!({"input": [{"content": "x"}]})), refused("input[0].type")),
        ("an unknown role", responses(json!({"input": [{"role": "tool", "content": "x"}]})), refused("input[0].role")),
    ]);
}

#[test]
fn the_answer_repeats_the_request() {
    let parsed: ResponsesRequest = serde_json::from_value(responses(
        json!({"instructions": "Be brief.", "tools": [{"type": "function", "name": "f"}], "metadata": {"k": "v"}}),
    ))
    .unwrap();
    let echo = request(&parsed).unwrap().echo;
    assert_eq!(
        Value::Object(echo),
        json!({"instructions": "Be brief.", "max_output_tokens": null, "metadata": {"k": "v"}, "parallel_tool_calls": true,
            "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto",
            "tools": [{"type": "function", "name": "f"}], "top_p": 1.0})
    );
}

/// A chat completion answering with `message` and `finish_reason`, with usage.
fn completion(message: Value, finish_reason: &str) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "x",
        "choices": [{"index": 0, "message": with(json!({"role": "assistant"}), message), "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25, "prompt_tokens_details": {"cached_tokens": 8}}})
}

fn usage(input: u64, output: u64, cached: u64) -> Value {
    json!({"input_tokens": input, "input_tokens_details": {"cached_tokens": cached}, "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": input + output})
}

fn text_item(text: &str, status: &str) -> Value {
    json!({"id": "msg_gw1", "type": "message", "status": status, "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

fn call_item(n: usize, call_id: &str, arguments: &str, status: &str) -> Value {
    json!({"id": format!("fc_gw1_{n}"), "type": "function_call", "status": status, "call_id": call_id, "name": "get_weather", "arguments": arguments})
}

#[test]
fn responses_from_completions() {
    let call = |id: &str, arguments: &str| json!({"id": id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}});
    let cases = vec![
        (
            "text",
            completion(json!({"content": "Hello."}), "stop"),
            json!({"status": "completed", "incomplete_details": null, "output": [text_item("Hello.", "completed")], "usage": usage(20, 5, 8)}),
        ),
        (
            "text and tool calls",
            completion(
                json!({"content": "Checking.", "tool_calls": [call("call_1", "{\"city\":\"Paris\"}"), call("call_2", "{}")]}),
                "tool_calls",
            ),
            json!({"status": "completed", "incomplete_details": null, "output": [text_item("Checking.", "completed"),
                call_item(0, "call_1", "{\"city\":\"Paris\"}", "completed"), call_item(1, "call_2", "{}", "completed")], "usage": usage(20, 5, 8)}),
        ),
        (
            "structured output is the message's text",
            completion(json!({"content": "{\"city\":\"Paris\"}"}), "stop"),
            json!({"status": "completed", "incomplete_details": null, "output": [text_item("{\"city\":\"Paris\"}", "completed")], "usage": usage(20, 5, 8)}),
        ),
        (
            "cut at the cap: incomplete",
            completion(json!({"content": "Hel"}), "length"),
            json!({"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}, "output": [text_item("Hel", "completed")], "usage": usage(20, 5, 8)}),
        ),
        (
            "filtered: incomplete",
            completion(json!({"content": null}), "content_filter"),
            json!({"status": "incomplete", "incomplete_details": {"reason": "content_filter"}, "output": [], "usage": usage(20, 5, 8)}),
        ),
        (
            "a refusal",
            completion(json!({"content": null, "refusal": "I can't."}), "stop"),
            json!({"status": "completed", "incomplete_details": null, "output": [{"id": "msg_gw1", "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "refusal", "refusal": "I can't."}]}], "usage": usage(20, 5, 8)}),
        ),
        (
            "a provider's sparse answer: no usage, no finish reason",
            json!({"choices": [{"message": {"content": "Hi"}}]}),
            json!({"status": "completed", "incomplete_details": null, "output": [text_item("Hi", "completed")], "usage": null}),
        ),
        ("not a completion", json!({"choices": "nope"}), json!({"error": true})),
    ];
    for (name, input, expected) in cases {
        let actual = match chat_completion(&input) {
            Ok(completion) => {
                let object = response(&completion, &context());
                for (key, value) in [
                    ("id", json!("resp_gw1")),
                    ("object", json!("response")),
                    ("model", json!("my-model")),
                    ("created_at", json!(1_700_000_000)),
                ] {
                    assert_eq!(object[key], value, "{name}: {key}");
                }
                json!({"status": object["status"], "incomplete_details": object["incomplete_details"], "output": object["output"], "usage": object["usage"]})
            }
            Err(_) => json!({"error": true}),
        };
        assert_eq!(actual, expected, "{name}\nactual:   {actual}\nexpected: {expected}");
    }
}

/// Feeds chat chunks (their `data:` JSON), then the end (or a failure); returns the events with
/// each `response` object cut to `{status, output, usage, incomplete_details, error}`, after
/// checking the sequence numbers count from 0 and each event's `type` is its name.
fn run_stream(chunks: &[Value], failure: Option<&str>) -> Vec<Value> {
    let mut stream = Stream::new(context());
    let mut events = Vec::new();
    for chunk in chunks {
        events.extend(stream.chunk(&chat_chunk(&chunk.to_string()).unwrap()));
    }
    events.extend(match failure {
        Some(message) => stream.fail(message),
        None => stream.finish(),
    });
    assert!(stream.finish().is_empty() && stream.fail("again").is_empty(), "nothing after the end");
    events
        .into_iter()
        .enumerate()
        .map(|(n, event)| {
            let mut data: Value = serde_json::from_str(&event.data).unwrap();
            assert_eq!(data["sequence_number"], json!(n), "{}", event.data);
            assert_eq!(data["type"], json!(event.name), "{}", event.data);
            let object = data.as_object_mut().unwrap();
            object.remove("sequence_number");
            if let Some(response) = object.get_mut("response") {
                assert_eq!(response["id"], json!("resp_gw1"));
                *response = json!({"status": response["status"], "output": response["output"], "usage": response["usage"],
                    "incomplete_details": response["incomplete_details"], "error": response["error"]});
            }
            data
        })
        .collect()
}

fn chunk(delta: Value, finish_reason: Option<&str>) -> Value {
    json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "x",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]})
}

fn usage_chunk() -> Value {
    json!({"id": "c", "choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}})
}

fn in_progress() -> Vec<Value> {
    let response =
        json!({"status": "in_progress", "output": [], "usage": null, "incomplete_details": null, "error": null});
    vec![
        json!({"type": "response.created", "response": response}),
        json!({"type": "response.in_progress", "response": response}),
    ]
}

fn message_added() -> Vec<Value> {
    vec![
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"id": "msg_gw1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
        json!({"type": "response.content_part.added", "item_id": "msg_gw1", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
    ]
}

fn text_delta(text: &str) -> Value {
    json!({"type": "response.output_text.delta", "item_id": "msg_gw1", "output_index": 0, "content_index": 0, "delta": text, "logprobs": []})
}

fn message_done(text: &str) -> Vec<Value> {
    vec![
        json!({"type": "response.output_text.done", "item_id": "msg_gw1", "output_index": 0, "content_index": 0, "text": text, "logprobs": []}),
        json!({"type": "response.content_part.done", "item_id": "msg_gw1", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": text, "annotations": []}}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": text_item(text, "completed")}),
    ]
}

fn ended(kind: &str, status: &str, output: Value, incomplete: Value) -> Value {
    json!({"type": kind, "response": {"status": status, "output": output, "usage": usage(20, 5, 0), "incomplete_details": incomplete, "error": null}})
}

fn concat(parts: Vec<Vec<Value>>) -> Vec<Value> {
    parts.into_iter().flatten().collect()
}

#[test]
fn streams_text() {
    let chunks = [
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(json!({"content": "Hello"}), None),
        chunk(json!({"content": " there."}), None),
        chunk(json!({}), Some("stop")),
        usage_chunk(),
    ];
    let expected = concat(vec![
        in_progress(),
        message_added(),
        vec![text_delta("Hello"), text_delta(" there.")],
        message_done("Hello there."),
        vec![ended("response.completed", "completed", json!([text_item("Hello there.", "completed")]), Value::Null)],
    ]);
    assert_eq!(run_stream(&chunks, None), expected);
}

#[test]
fn streams_a_refusal() {
    let chunks = [
        chunk(json!({"role": "assistant", "refusal": ""}), None),
        chunk(json!({"refusal": "I can't"}), None),
        chunk(json!({"refusal": " help with that."}), None),
        chunk(json!({}), Some("stop")),
        usage_chunk(),
    ];
    let refused = "I can't help with that.";
    let part = |refusal: &str| json!({"type": "refusal", "refusal": refusal});
    let item = |status: &str| json!({"id": "msg_gw1", "type": "message", "status": status, "role": "assistant", "content": [part(refused)]});
    let delta = |piece: &str| json!({"type": "response.refusal.delta", "item_id": "msg_gw1", "output_index": 0, "content_index": 0, "delta": piece});
    let expected = concat(vec![
        in_progress(),
        vec![
            json!({"type": "response.output_item.added", "output_index": 0, "item": {"id": "msg_gw1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
            json!({"type": "response.content_part.added", "item_id": "msg_gw1", "output_index": 0, "content_index": 0, "part": part("")}),
            delta("I can't"),
            delta(" help with that."),
            json!({"type": "response.refusal.done", "item_id": "msg_gw1", "output_index": 0, "content_index": 0, "refusal": refused}),
            json!({"type": "response.content_part.done", "item_id": "msg_gw1", "output_index": 0, "content_index": 0, "part": part(refused)}),
            json!({"type": "response.output_item.done", "output_index": 0, "item": item("completed")}),
            ended("response.completed", "completed", json!([item("completed")]), Value::Null),
        ],
    ]);
    assert_eq!(run_stream(&chunks, None), expected);
}

#[test]
fn streams_tool_calls() {
    let call = |index: u32, id: &str| {
        chunk(
            json!({"tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
            None,
        )
    };
    let arguments = |index: u32, piece: &str| {
        chunk(json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}), None)
    };
    let chunks = [
        chunk(json!({"role": "assistant", "content": "Checking."}), None),
        call(0, "call_1"),
        arguments(0, "{\"city\":"),
        call(1, "call_2"),
        arguments(0, "\"Paris\"}"),
        arguments(1, "{}"),
        chunk(json!({}), Some("tool_calls")),
        usage_chunk(),
    ];
    let added = |output_index: usize, n: usize, call_id: &str| json!({"type": "response.output_item.added", "output_index": output_index, "item": call_item(n, call_id, "", "in_progress")});
    let delta = |output_index: usize, n: usize, piece: &str| json!({"type": "response.function_call_arguments.delta", "item_id": format!("fc_gw1_{n}"), "output_index": output_index, "delta": piece});
    let done = |output_index: usize, n: usize, call_id: &str, arguments: &str| {
        vec![
            json!({"type": "response.function_call_arguments.done", "item_id": format!("fc_gw1_{n}"), "output_index": output_index, "name": "get_weather", "arguments": arguments}),
            json!({"type": "response.output_item.done", "output_index": output_index, "item": call_item(n, call_id, arguments, "completed")}),
        ]
    };
    let paris = "{\"city\":\"Paris\"}";
    let expected = concat(vec![
        in_progress(),
        message_added(),
        vec![
            text_delta("Checking."),
            added(1, 0, "call_1"),
            delta(1, 0, "{\"city\":"),
            added(2, 1, "call_2"),
            delta(1, 0, "\"Paris\"}"),
            delta(2, 1, "{}"),
        ],
        message_done("Checking."),
        done(1, 0, "call_1", paris),
        done(2, 1, "call_2", "{}"),
        vec![ended(
            "response.completed",
            "completed",
            json!([
                text_item("Checking.", "completed"),
                call_item(0, "call_1", paris, "completed"),
                call_item(1, "call_2", "{}", "completed")
            ]),
            Value::Null,
        )],
    ]);
    assert_eq!(run_stream(&chunks, None), expected);
}

#[test]
fn streams_that_end_early_or_fail() {
    // Cut at the cap, the usage in the last chunk with the finish reason (as Mistral sends it).
    let mut last = chunk(json!({}), Some("length"));
    last["usage"] = usage_chunk()["usage"].clone();
    let expected = concat(vec![
        in_progress(),
        message_added(),
        vec![text_delta("Hel")],
        message_done("Hel"),
        vec![ended(
            "response.incomplete",
            "incomplete",
            json!([text_item("Hel", "completed")]),
            json!({"reason": "max_output_tokens"}),
        )],
    ]);
    assert_eq!(run_stream(&[chunk(json!({"content": "Hel"}), None), last], None), expected);

    // A failure: the output so far, incomplete, and the error.
    let failed = json!({"type": "response.failed", "response": {"status": "failed", "output": [text_item("Hel", "incomplete")], "usage": null,
        "incomplete_details": null, "error": {"code": "server_error", "message": "overloaded"}}});
    let expected = concat(vec![in_progress(), message_added(), vec![text_delta("Hel"), failed]]);
    assert_eq!(run_stream(&[chunk(json!({"content": "Hel"}), None)], Some("overloaded")), expected);

    // An empty stream still completes.
    let empty = json!({"type": "response.completed", "response": {"status": "completed", "output": [], "usage": null, "incomplete_details": null, "error": null}});
    assert_eq!(run_stream(&[], None), concat(vec![in_progress(), vec![empty]]));
}

#[test]
fn chat_chunks_are_read_leniently() {
    let sparse =
        chat_chunk(r#"{"choices":[{"delta":{"content":"x","tool_calls":null},"finish_reason":null}],"usage":null}"#)
            .unwrap();
    assert_eq!(sparse.choices[0].delta.content.as_deref(), Some("x"));
    let error = chat_chunk(r#"{"error":{"message":"overloaded","type":"server_error"}}"#).unwrap_err();
    assert_eq!(error.message, "overloaded");
    assert!(chat_chunk("not json").is_err());
    assert!(chat_chunk(r#"{"choices":[{"delta":{"content":3}}]}"#).is_err());
}

#[test]
fn errors() {
    let cases: Vec<(&str, u16, &str, Value)> = vec![
        (
            "OpenAI's shape is kept",
            429,
            r#"{"error":{"message":"Slow down","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}"#,
            json!({"error": {"message": "Slow down", "type": "rate_limit_error", "param": null, "code": "rate_limit_exceeded"}}),
        ),
        (
            "Mistral's object message",
            422,
            r#"{"object":"error","message":{"detail":[{"msg":"Extra inputs are not permitted"}]},"type":"invalid_request_message_error","param":null,"code":null}"#,
            json!({"error": {"message": "{\"detail\":[{\"msg\":\"Extra inputs are not permitted\"}]}", "type": "invalid_request_error", "param": null, "code": null}}),
        ),
        (
            "a detail string",
            401,
            r#"{"detail":"Unauthorized"}"#,
            json!({"error": {"message": "Unauthorized", "type": "authentication_error", "param": null, "code": null}}),
        ),
        (
            "not JSON",
            502,
            "Bad gateway",
            json!({"error": {"message": "Bad gateway", "type": "api_error", "param": null, "code": null}}),
        ),
        (
            "empty",
            503,
            "",
            json!({"error": {"message": "the provider answered HTTP 503 with no body", "type": "api_error", "param": null, "code": null}}),
        ),
    ];
    for (name, status, body, expected) in cases {
        assert_eq!(serde_json::to_value(error(status, body.as_bytes())).unwrap(), expected, "{name}");
    }
}
