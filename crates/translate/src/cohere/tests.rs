//! Data-driven tests: OpenAI JSON in, Cohere JSON out (and back), one `check` per direction.

use super::{error, request, response, Stream};
use crate::openai::{ChatRequest, Usage};
use crate::{RequestContext, ResponseContext, StreamTranslator};
use serde_json::{json, Value};

const MODEL: &str = "command-a-03-2025";

fn request_context() -> RequestContext {
    // A default cap is configured, but Cohere does not need one: it must never be sent.
    RequestContext { model: None, default_max_tokens: 4096 }
}

fn response_context(include_usage: bool) -> ResponseContext {
    ResponseContext { id: "chatcmpl-gw1".into(), created: 1_700_000_000, model: MODEL.into(), include_usage }
}

/// Translates `input` (an OpenAI request) and compares with `expected`: the Cohere body, or
/// `Err(param)` for a refused request.
fn check(name: &str, context: &RequestContext, input: Value, expected: Result<Value, &str>) {
    let parsed: ChatRequest = serde_json::from_value(input).unwrap_or_else(|e| panic!("{name}: bad input: {e}"));
    match (request(&parsed, context), expected) {
        (Ok(translated), Ok(body)) => {
            assert_eq!(translated.path, "/v2/chat", "{name}");
            assert_eq!(translated.query, None, "{name}");
            assert_eq!(translated.body, body, "{name}");
        }
        (Err(error), Err(param)) => {
            assert_eq!(error.param.as_deref(), Some(param), "{name}: {}", error.message);
            assert!(!error.message.is_empty(), "{name}");
        }
        (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
    }
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

const WEATHER: &str = "get_weather";

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": WEATHER, "description": "Current weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
}

#[test]
fn requests() {
    let hi = json!([user("hi")]);
    let plain = |extra: Value| {
        let mut body = json!({"model": MODEL, "messages": hi});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            body[k] = v;
        }
        body
    };
    let cases: Vec<(&str, Value, Result<Value, &str>)> = vec![
        ("minimal, no default max_tokens", plain(json!({})), Ok(json!({"model": MODEL, "messages": [user("hi")]}))),
        (
            "system and developer become system messages",
            json!({"model": MODEL, "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer "}, {"type": "text", "text": "in French."}]},
                user("hi")]}),
            Ok(json!({"model": MODEL, "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "system", "content": "Answer in French."},
                user("hi")]})),
        ),
        (
            "user parts with data and https images",
            json!({"model": MODEL, "messages": [{"role": "user", "name": "ann", "content": [
                {"type": "text", "text": "Compare"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}}]}]}),
            Ok(json!({"model": MODEL, "messages": [{"role": "user", "content": [
                {"type": "text", "text": "Compare"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}}]}]})),
        ),
        (
            "tools with tool_choice auto (omitted)",
            plain(json!({"tools": [weather_tool()], "tool_choice": "auto"})),
            Ok(plain(json!({"tools": [weather_tool()]}))),
        ),
        (
            "tool_choice required",
            plain(json!({"tools": [weather_tool()], "tool_choice": "required"})),
            Ok(plain(json!({"tools": [weather_tool()], "tool_choice": "REQUIRED"}))),
        ),
        (
            "tool_choice none",
            plain(json!({"tools": [weather_tool()], "tool_choice": "none"})),
            Ok(plain(json!({"tools": [weather_tool()], "tool_choice": "NONE"}))),
        ),
        (
            "tool_choice naming the only tool offered is exactly REQUIRED",
            plain(
                json!({"tools": [weather_tool()], "tool_choice": {"type": "function", "function": {"name": WEATHER}}}),
            ),
            Ok(plain(json!({"tools": [weather_tool()], "tool_choice": "REQUIRED"}))),
        ),
        (
            "tool_choice naming one of several tools is refused",
            plain(json!({"tools": [weather_tool(), {"type": "function", "function": {"name": "now"}}],
                "tool_choice": {"type": "function", "function": {"name": WEATHER}}})),
            Err("tool_choice"),
        ),
        (
            "tool_choice naming a tool not offered is refused",
            plain(
                json!({"tools": [weather_tool()], "tool_choice": {"type": "function", "function": {"name": "other"}}}),
            ),
            Err("tool_choice"),
        ),
        ("tool_choice required without tools", plain(json!({"tool_choice": "required"})), Err("tool_choice")),
        (
            "strict tool, tool without parameters",
            plain(json!({"tools": [
                {"type": "function", "function": {"name": "now", "strict": true}},
                weather_tool()]})),
            Ok(plain(json!({"strict_tools": true, "tools": [
                {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}},
                weather_tool()]}))),
        ),
        (
            "assistant tool calls and tool results round-trip",
            json!({"model": MODEL, "messages": [
                user("Weather in Paris and Rome?"),
                {"role": "assistant", "content": "I will look both up.", "tool_calls": [
                    {"id": "get_weather_1", "type": "function", "function": {"name": WEATHER, "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "get_weather_2", "type": "function", "function": {"name": WEATHER, "arguments": "{\"city\":\"Rome\"}"}}]},
                {"role": "tool", "tool_call_id": "get_weather_1", "content": "18C, cloudy"},
                {"role": "tool", "tool_call_id": "get_weather_2", "content": [{"type": "text", "text": "25C, sunny"}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "get_weather_3", "type": "function", "function": {"name": WEATHER, "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "get_weather_3", "content": "?"},
                {"role": "assistant", "content": [{"type": "text", "text": "Paris 18C, Rome 25C."}]},
                user("Thanks")],
                "tools": [weather_tool()]}),
            Ok(json!({"model": MODEL, "messages": [
                user("Weather in Paris and Rome?"),
                {"role": "assistant", "tool_plan": "I will look both up.", "tool_calls": [
                    {"id": "get_weather_1", "type": "function", "function": {"name": WEATHER, "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "get_weather_2", "type": "function", "function": {"name": WEATHER, "arguments": "{\"city\":\"Rome\"}"}}]},
                {"role": "tool", "tool_call_id": "get_weather_1", "content": "18C, cloudy"},
                {"role": "tool", "tool_call_id": "get_weather_2", "content": "25C, sunny"},
                {"role": "assistant", "tool_calls": [
                    {"id": "get_weather_3", "type": "function", "function": {"name": WEATHER, "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "get_weather_3", "content": "?"},
                {"role": "assistant", "content": "Paris 18C, Rome 25C."},
                user("Thanks")],
                "tools": [weather_tool()]})),
        ),
        (
            "JSON mode",
            plain(json!({"response_format": {"type": "json_object"}})),
            Ok(plain(json!({"response_format": {"type": "json_object"}}))),
        ),
        (
            "JSON schema",
            plain(json!({"response_format": {"type": "json_schema", "json_schema": {"name": "city", "strict": true,
                "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}}})),
            Ok(plain(json!({"response_format": {"type": "json_object",
                "json_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}}))),
        ),
        ("text format is the default", plain(json!({"response_format": {"type": "text"}})), Ok(plain(json!({})))),
        (
            "sampling, stop list, max_completion_tokens wins, stream",
            plain(json!({"temperature": 0.3, "top_p": 0.9, "seed": 42, "frequency_penalty": 0.5,
                         "presence_penalty": 0.25, "stop": ["\n\n", "END"], "max_tokens": 50,
                         "max_completion_tokens": 100, "stream": true, "stream_options": {"include_usage": true}})),
            Ok(plain(json!({"stream": true, "temperature": 0.3, "p": 0.9, "max_tokens": 100,
                            "stop_sequences": ["\n\n", "END"], "seed": 42, "frequency_penalty": 0.5,
                            "presence_penalty": 0.25}))),
        ),
        (
            "one stop string, legacy max_tokens, stream false",
            plain(json!({"stop": "END", "max_tokens": 50, "stream": false})),
            Ok(plain(json!({"stop_sequences": ["END"], "max_tokens": 50}))),
        ),
        ("n=1 is fine", plain(json!({"n": 1})), Ok(plain(json!({})))),
        ("n=2 is refused", plain(json!({"n": 2})), Err("n")),
        ("logprobs refused", plain(json!({"logprobs": true})), Err("logprobs")),
        ("logprobs false is fine", plain(json!({"logprobs": false})), Ok(plain(json!({})))),
        ("top_logprobs refused", plain(json!({"top_logprobs": 3})), Err("top_logprobs")),
        // Approximated: Cohere has no such switch (documented in the README).
        ("parallel_tool_calls false is accepted", plain(json!({"parallel_tool_calls": false})), Ok(plain(json!({})))),
        ("parallel_tool_calls true is the default", plain(json!({"parallel_tool_calls": true})), Ok(plain(json!({})))),
        ("unknown field that changes the answer", plain(json!({"logit_bias": {"50256": -100}})), Err("logit_bias")),
        ("reasoning_effort refused", plain(json!({"reasoning_effort": "high"})), Err("reasoning_effort")),
        (
            "harmless fields dropped",
            plain(json!({"user": "u-1", "metadata": {"k": "v"}, "store": false, "service_tier": "auto",
                         "modalities": ["text"]})),
            Ok(plain(json!({}))),
        ),
        ("audio output refused", plain(json!({"modalities": ["text", "audio"]})), Err("modalities")),
        (
            "audio input part refused",
            json!({"model": MODEL, "messages": [{"role": "user", "content": [
                {"type": "text", "text": "listen"},
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]}),
            Err("messages[0].content[1]"),
        ),
        (
            "image in a system message refused",
            json!({"model": MODEL, "messages": [{"role": "system", "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}, user("hi")]}),
            Err("messages[0].content[0]"),
        ),
        (
            "non-function tool refused",
            plain(json!({"tools": [{"type": "custom", "function": {"name": "x"}}]})),
            Err("tools[0].type"),
        ),
        ("no model anywhere", json!({"messages": hi}), Err("model")),
    ];
    for (name, input, expected) in cases {
        check(name, &request_context(), input, expected);
    }
}

#[test]
fn the_runtime_model_wins() {
    let context = RequestContext { model: Some("command-r-plus-08-2024".into()), default_max_tokens: 0 };
    check(
        "runtime model",
        &context,
        json!({"model": "gpt-4o", "messages": [user("hi")]}),
        Ok(json!({"model": "command-r-plus-08-2024", "messages": [user("hi")]})),
    );
    check(
        "runtime model, none in the request",
        &context,
        json!({"messages": [user("hi")]}),
        Ok(json!({"model": "command-r-plus-08-2024", "messages": [user("hi")]})),
    );
}

/// A completion with one choice as the gateway reports it.
fn completion(id: &str, message: Value, finish_reason: &str, usage: Value) -> Value {
    let mut out = json!({"id": id, "object": "chat.completion", "created": 1_700_000_000, "model": MODEL,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": null}]});
    if !usage.is_null() {
        out["usage"] = usage;
    }
    out
}

fn cohere_usage(input: u64, output: u64) -> Value {
    json!({"billed_units": {"input_tokens": input, "output_tokens": output},
           "tokens": {"input_tokens": input + 500, "output_tokens": output + 2}})
}

fn cohere_text(id: &str, text: &str, finish: &str) -> Value {
    json!({"id": id, "finish_reason": finish,
           "message": {"role": "assistant", "content": [{"type": "text", "text": text}]},
           "usage": cohere_usage(10, 5)})
}

#[test]
fn responses() {
    let text_usage = json!({"prompt_tokens": 510, "completion_tokens": 7, "total_tokens": 517});
    let text = |content: &str| json!({"role": "assistant", "content": content});
    let cases: Vec<(&str, Value, Result<Value, ()>)> = vec![
        (
            "text",
            cohere_text("c0a1", "Bonjour !", "COMPLETE"),
            Ok(completion("c0a1", text("Bonjour !"), "stop", text_usage.clone())),
        ),
        (
            "stop sequence",
            cohere_text("c0a2", "Un", "STOP_SEQUENCE"),
            Ok(completion("c0a2", text("Un"), "stop", text_usage.clone())),
        ),
        (
            "max tokens",
            cohere_text("c0a3", "Il était une", "MAX_TOKENS"),
            Ok(completion("c0a3", text("Il était une"), "length", text_usage.clone())),
        ),
        ("error", cohere_text("c0a4", "", "ERROR"), Ok(completion("c0a4", text(""), "stop", text_usage.clone()))),
        ("timeout", cohere_text("c0a5", "Par", "TIMEOUT"), Ok(completion("c0a5", text("Par"), "stop", text_usage))),
        (
            "tool calls, tool_plan dropped, arguments kept as a string or made one",
            json!({"id": "c0b1", "finish_reason": "TOOL_CALL",
                "message": {"role": "assistant", "tool_plan": "I will check the weather in Paris and Rome.",
                    "tool_calls": [
                        {"id": "get_weather_pp2", "type": "function", "function": {"name": WEATHER, "arguments": "{\"city\":\"Paris\"}"}},
                        {"id": "get_weather_qq3", "type": "function", "function": {"name": WEATHER, "arguments": {"city": "Rome"}}},
                        {"id": "now_rr4", "type": "function", "function": {"name": "now", "arguments": null}}]},
                "usage": {"billed_units": {"input_tokens": 40, "output_tokens": 30},
                          "tokens": {"input_tokens": 1200, "output_tokens": 61}}}),
            Ok(completion(
                "c0b1",
                json!({"role": "assistant", "content": null, "tool_calls": [
                    {"id": "get_weather_pp2", "type": "function", "function": {"name": WEATHER, "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "get_weather_qq3", "type": "function", "function": {"name": WEATHER, "arguments": "{\"city\":\"Rome\"}"}},
                    {"id": "now_rr4", "type": "function", "function": {"name": "now", "arguments": "{}"}}]}),
                "tool_calls",
                json!({"prompt_tokens": 1200, "completion_tokens": 61, "total_tokens": 1261}),
            )),
        ),
        (
            "thinking dropped, text parts joined, cached tokens, citations dropped",
            json!({"id": "53bcb235", "finish_reason": "COMPLETE",
                "message": {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "The user wants 2 + 2."},
                    {"type": "text", "text": "2 + 2 "},
                    {"type": "text", "text": "= 4"}],
                    "citations": [{"start": 0, "end": 5, "text": "2 + 2", "sources": []}]},
                "usage": {"billed_units": {"input_tokens": 8, "output_tokens": 578},
                          "tokens": {"input_tokens": 1394, "output_tokens": 582}, "cached_tokens": 1344}}),
            Ok(completion(
                "53bcb235",
                text("2 + 2 = 4"),
                "stop",
                json!({"prompt_tokens": 1394, "completion_tokens": 582, "total_tokens": 1976,
                       "prompt_tokens_details": {"cached_tokens": 1344}}),
            )),
        ),
        (
            "billed units when tokens are missing, gateway id when Cohere has none",
            json!({"finish_reason": "COMPLETE", "message": {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
                   "usage": {"billed_units": {"input_tokens": 3, "output_tokens": 1}}}),
            Ok(completion(
                "chatcmpl-gw1",
                text("ok"),
                "stop",
                json!({"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}),
            )),
        ),
        (
            "no usage",
            json!({"id": "c0c1", "finish_reason": "COMPLETE", "message": {"role": "assistant", "content": []}}),
            Ok(completion("c0c1", text(""), "stop", Value::Null)),
        ),
        ("not a chat answer", json!({"id": "x", "texts": ["a"]}), Err(())),
    ];
    for (name, input, expected) in cases {
        let got = response(&input, &response_context(false));
        match (got, expected) {
            (Ok(completion), Ok(want)) => assert_eq!(serde_json::to_value(&completion).unwrap(), want, "{name}"),
            (Err(error), Err(())) => assert!(error.param.is_none() && !error.message.is_empty(), "{name}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

/// Feeds `events` (as Cohere sends them: `event:` name and `data:` JSON) through a stream
/// translator; compares every chunk produced (the `finish()` ones last) and the usage.
fn check_stream(name: &str, include_usage: bool, events: &[Value], expected: Value, usage: Usage) {
    let mut stream = Stream::new(response_context(include_usage));
    let mut chunks = Vec::new();
    for data in events {
        let event = data["type"].as_str();
        chunks.extend(stream.event(event, &data.to_string()).unwrap_or_else(|e| panic!("{name}: {e}")));
    }
    chunks.extend(stream.finish());
    assert_eq!(serde_json::to_value(&chunks).unwrap(), expected, "{name}");
    assert_eq!(stream.usage(), usage, "{name}");
}

/// An OpenAI chunk of choice 0.
fn chunk(id: &str, delta: Value, finish_reason: Value) -> Value {
    json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": MODEL,
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": null}]})
}

fn usage_chunk(id: &str, usage: Value) -> Value {
    json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": MODEL,
           "choices": [], "usage": usage})
}

fn text_events() -> Vec<Value> {
    let start = json!({"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []});
    let content =
        |text: &str| json!({"type": "content-delta", "index": 1, "delta": {"message": {"content": {"text": text}}}});
    vec![
        json!({"type": "message-start", "id": "29f14a5a", "delta": {"message": start}}),
        json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "thinking", "thinking": ""}}}}),
        json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"thinking": "Greet back."}}}}),
        json!({"type": "content-end", "index": 0}),
        json!({"type": "content-start", "index": 1, "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
        content("Hello"),
        content(""),
        content(" there!"),
        json!({"type": "content-end", "index": 1}),
        json!({"type": "message-end", "delta": {"finish_reason": "COMPLETE",
            "usage": {"billed_units": {"input_tokens": 3, "output_tokens": 3},
                      "tokens": {"input_tokens": 1394, "output_tokens": 9}, "cached_tokens": 1360}}}),
    ]
}

fn text_chunks() -> Vec<Value> {
    vec![
        chunk("29f14a5a", json!({"role": "assistant"}), Value::Null),
        chunk("29f14a5a", json!({"content": "Hello"}), Value::Null),
        chunk("29f14a5a", json!({"content": " there!"}), Value::Null),
        chunk("29f14a5a", json!({}), json!("stop")),
    ]
}

fn text_usage() -> Value {
    json!({"prompt_tokens": 1394, "completion_tokens": 9, "total_tokens": 1403,
           "prompt_tokens_details": {"cached_tokens": 1360}})
}

fn tool_events() -> Vec<Value> {
    let start = |index: u64, id: &str, name: &str| {
        json!({"type": "tool-call-start", "index": index, "delta": {"message": {"tool_calls":
            {"id": id, "type": "function", "function": {"name": name, "arguments": ""}}}}})
    };
    let delta = |index: u64, piece: &str| {
        json!({"type": "tool-call-delta", "index": index,
               "delta": {"message": {"tool_calls": {"function": {"arguments": piece}}}}})
    };
    vec![
        json!({"type": "message-start", "id": "2941521a", "delta": {"message": {"role": "assistant"}}}),
        json!({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will use the weather tool."}}}),
        start(0, "weather_e8p4", WEATHER),
        delta(0, "{\"city\":"),
        delta(0, " \"San Francisco\"}"),
        json!({"type": "tool-call-end", "index": 0}),
        start(1, "attractions_pyx", "city_attractions"),
        delta(1, "{\"city\""),
        delta(1, ": \"SF\"}"),
        json!({"type": "tool-call-end", "index": 1}),
        json!({"type": "message-end", "delta": {"finish_reason": "TOOL_CALL",
            "usage": {"billed_units": {"input_tokens": 119, "output_tokens": 44},
                      "tokens": {"input_tokens": 1549, "output_tokens": 95}}}}),
    ]
}

#[test]
fn streams() {
    let id = "29f14a5a";
    let mut with_usage = text_chunks();
    with_usage.push(usage_chunk(id, text_usage()));
    let text_usage: Usage = serde_json::from_value(text_usage()).unwrap();
    check_stream("text, no usage chunk", false, &text_events(), json!(text_chunks()), text_usage.clone());
    check_stream("text, usage chunk", true, &text_events(), json!(with_usage), text_usage);

    let tool_call = |index: u32, id: &str, name: &str| json!({"tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]});
    let arguments =
        |index: u32, piece: &str| json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]});
    let id = "2941521a";
    let tool_usage = json!({"prompt_tokens": 1549, "completion_tokens": 95, "total_tokens": 1644});
    check_stream(
        "two tool calls",
        true,
        &tool_events(),
        json!([
            chunk(id, json!({"role": "assistant"}), Value::Null),
            chunk(id, tool_call(0, "weather_e8p4", WEATHER), Value::Null),
            chunk(id, arguments(0, "{\"city\":"), Value::Null),
            chunk(id, arguments(0, " \"San Francisco\"}"), Value::Null),
            chunk(id, tool_call(1, "attractions_pyx", "city_attractions"), Value::Null),
            chunk(id, arguments(1, "{\"city\""), Value::Null),
            chunk(id, arguments(1, ": \"SF\"}"), Value::Null),
            chunk(id, json!({}), json!("tool_calls")),
            usage_chunk(id, tool_usage.clone()),
        ]),
        serde_json::from_value(tool_usage).unwrap(),
    );

    check_stream(
        "cut short: the gateway id, role on the first chunk, length",
        true,
        &[
            json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Once"}}}}),
            json!({"type": "message-end", "delta": {"finish_reason": "MAX_TOKENS"}}),
        ],
        json!([
            chunk("chatcmpl-gw1", json!({"role": "assistant", "content": "Once"}), Value::Null),
            chunk("chatcmpl-gw1", json!({}), json!("length")),
            usage_chunk("chatcmpl-gw1", json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0})),
        ]),
        Usage::default(),
    );
}

#[test]
fn the_tool_arguments_of_a_stream_concatenate_to_json() {
    let mut stream = Stream::new(response_context(false));
    let mut arguments = [String::new(), String::new()];
    for data in tool_events() {
        for chunk in stream.event(data["type"].as_str(), &data.to_string()).unwrap() {
            for call in chunk.choices.iter().flat_map(|c| c.delta.tool_calls.iter().flatten()) {
                let piece = call.function.as_ref().and_then(|f| f.arguments.as_deref()).unwrap_or_default();
                arguments[call.index as usize].push_str(piece);
            }
        }
    }
    let parsed: Vec<Value> = arguments.iter().map(|a| serde_json::from_str(a).unwrap()).collect();
    assert_eq!(parsed, vec![json!({"city": "San Francisco"}), json!({"city": "SF"})]);
}

#[test]
fn stream_failures() {
    let cases: Vec<(&str, Option<&str>, &str, &str)> = vec![
        (
            "error event",
            Some("error"),
            r#"{"type":"error","message":"internal server error"}"#,
            "internal server error",
        ),
        ("not JSON", Some("content-delta"), "{oops", "not JSON"),
        (
            "arguments before a tool call",
            Some("tool-call-delta"),
            r#"{"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"{"}}}}}"#,
            "tool-call-start",
        ),
    ];
    for (name, event, data, message) in cases {
        let mut stream = Stream::new(response_context(true));
        let error = stream.event(event, data).expect_err(name);
        assert!(error.message.contains(message), "{name}: {}", error.message);
    }
    // Events without an OpenAI counterpart, and empty data, produce nothing.
    let mut stream = Stream::new(response_context(false));
    for (event, data) in [
        (
            "citation-start",
            r#"{"type":"citation-start","index":0,"delta":{"message":{"citations":{"start":0,"end":2}}}}"#,
        ),
        ("citation-end", r#"{"type":"citation-end","index":0}"#),
        ("debug", r#"{"type":"debug","prompt":"..."}"#),
        ("content-delta", ""),
    ] {
        assert_eq!(stream.event(Some(event), data).unwrap(), vec![], "{event}");
    }
}

#[test]
fn errors() {
    let cases: Vec<(u16, &[u8], Value)> = vec![
        (
            400,
            br#"{"id":"6f0b1a2c","message":"invalid request: message must be at least 1 token long"}"#,
            json!({"message": "invalid request: message must be at least 1 token long",
                   "type": "invalid_request_error", "param": null, "code": "invalid_request"}),
        ),
        (
            401,
            br#"{"message":"invalid api token"}"#,
            json!({"message": "invalid api token", "type": "authentication_error", "param": null,
                   "code": "invalid_api_key"}),
        ),
        (
            403,
            br#"{"id":"x","message":"You do not have access to this model"}"#,
            json!({"message": "You do not have access to this model", "type": "permission_error", "param": null,
                   "code": "permission_denied"}),
        ),
        (
            404,
            br#"{"id":"x","message":"model 'command-z' not found, make sure the correct model ID was used"}"#,
            json!({"message": "model 'command-z' not found, make sure the correct model ID was used",
                   "type": "invalid_request_error", "param": null, "code": "not_found"}),
        ),
        (
            422,
            br#"{"message":"invalid json_schema"}"#,
            json!({"message": "invalid json_schema", "type": "invalid_request_error", "param": null,
                   "code": "unprocessable_entity"}),
        ),
        (
            429,
            br#"{"id":"x","message":"You are using a Trial key, which is limited to 10 API calls / minute."}"#,
            json!({"message": "You are using a Trial key, which is limited to 10 API calls / minute.",
                   "type": "rate_limit_error", "param": null, "code": "rate_limit_exceeded"}),
        ),
        (
            500,
            br#"{"message":"internal server error, this has been reported to our developers"}"#,
            json!({"message": "internal server error, this has been reported to our developers",
                   "type": "api_error", "param": null, "code": "internal_server_error"}),
        ),
        (
            502,
            b"<html>Bad Gateway</html>",
            json!({"message": "<html>Bad Gateway</html>", "type": "api_error", "param": null, "code": null}),
        ),
        (
            503,
            b"",
            json!({"message": "Cohere answered HTTP 503 with no body", "type": "api_error", "param": null,
                   "code": "service_unavailable"}),
        ),
    ];
    for (status, body, expected) in cases {
        let got = serde_json::to_value(error(status, body)).unwrap();
        assert_eq!(got, json!({"error": expected}), "{status}");
    }
}
