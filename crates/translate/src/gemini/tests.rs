//! Data-driven tests: every case goes through [`check`], which runs the translation and compares
//! its outcome, as JSON, with the expected JSON. Objects in `expected` are matched as subsets
//! (keys not named are not checked; `null` means absent or null), arrays element by element.

use super::*;
use crate::openai::{ChatChunk, ChatRequest};
use crate::{RequestContext, ResponseContext, StreamTranslator};
use serde_json::{json, Value};

enum Input {
    /// An OpenAI request body (`model` defaults to `gemini-2.0-flash`) and `context.model`.
    Request(Value, Option<&'static str>),
    /// Gemini's JSON answer; the context has model `gemini-2.0-flash` unless the flag says none.
    Response(Value, bool),
    /// Gemini's stream events (`data:` payloads) and `include_usage`.
    Stream(Vec<Value>, bool),
    /// Gemini's error answer: status and raw body.
    Error(u16, &'static str),
}

fn context(model: &str, include_usage: bool) -> ResponseContext {
    ResponseContext { id: "chatcmpl-ctx".into(), created: 1_700_000_000, model: model.into(), include_usage }
}

/// The outcome of `input` as JSON: `{path, query, body}` or `{refused: param}` for requests,
/// the completion or `{failed: message}` for responses, `{chunks, usage, assembled}` (plus
/// `failed`) for streams, the error body for errors.
fn outcome(input: Input) -> Value {
    match input {
        Input::Request(mut body, model) => {
            if body.get("model").is_none() {
                body["model"] = json!("gemini-2.0-flash");
            }
            let request: ChatRequest = serde_json::from_value(body).unwrap();
            let context = RequestContext { model: model.map(str::to_string), default_max_tokens: 4096 };
            match request::request(&request, &context) {
                Ok(translated) => json!({"path": translated.path, "query": translated.query, "body": translated.body}),
                Err(e) => json!({"refused": e.param, "message": e.message}),
            }
        }
        Input::Response(body, with_model) => {
            let context = context(if with_model { "gemini-2.0-flash" } else { "" }, false);
            match response::response(&body, &context) {
                Ok(completion) => serde_json::to_value(completion).unwrap(),
                Err(e) => json!({"failed": e.message}),
            }
        }
        Input::Stream(events, include_usage) => {
            let mut stream = Stream::new(context("gemini-2.0-flash", include_usage));
            let mut chunks: Vec<ChatChunk> = Vec::new();
            let mut failed = Value::Null;
            for event in events {
                let data = match event {
                    Value::String(raw) => raw,
                    other => other.to_string(),
                };
                match stream.event(None, &data) {
                    Ok(more) => chunks.extend(more),
                    Err(e) => {
                        failed = json!(e.message);
                        break;
                    }
                }
            }
            if failed.is_null() {
                chunks.extend(stream.finish());
            }
            let assembled = assemble(&chunks);
            json!({
                "chunks": serde_json::to_value(&chunks).unwrap(),
                "usage": serde_json::to_value(stream.usage()).unwrap(),
                "assembled": assembled,
                "failed": failed,
            })
        }
        Input::Error(status, body) => serde_json::to_value(error::error(status, body.as_bytes())).unwrap(),
    }
}

/// Accumulates chunks the way OpenAI's SDKs do: per choice, content concatenated, tool calls
/// by `index` with `arguments` pieces concatenated.
fn assemble(chunks: &[ChatChunk]) -> Value {
    let mut choices = serde_json::Map::new();
    for chunk in chunks {
        for choice in &chunk.choices {
            let entry = choices
                .entry(choice.index.to_string())
                .or_insert_with(|| json!({"role": null, "content": null, "tool_calls": [], "finish_reason": null}));
            if let Some(role) = &choice.delta.role {
                assert!(entry["role"].is_null(), "role sent twice for choice {}", choice.index);
                entry["role"] = json!(role);
            }
            if let Some(content) = &choice.delta.content {
                let text = entry["content"].as_str().unwrap_or_default().to_string() + content;
                entry["content"] = json!(text);
            }
            for call in choice.delta.tool_calls.iter().flatten() {
                let calls = entry["tool_calls"].as_array_mut().unwrap();
                let at = call.index as usize;
                if at == calls.len() {
                    assert!(call.id.is_some() && call.kind.is_some(), "first delta of a call lacks id/type");
                    calls.push(json!({"id": call.id, "name": null, "arguments": ""}));
                }
                assert!(at < calls.len(), "tool call index {at} skips one");
                let function = call.function.clone().unwrap_or_default();
                if let Some(name) = function.name {
                    calls[at]["name"] = json!(name);
                }
                let arguments = calls[at]["arguments"].as_str().unwrap_or_default().to_string()
                    + function.arguments.as_deref().unwrap_or_default();
                calls[at]["arguments"] = json!(arguments);
            }
            if let Some(reason) = &choice.finish_reason {
                entry["finish_reason"] = json!(reason);
            }
        }
    }
    Value::Object(choices)
}

/// Whether `actual` matches `expected` (see the module doc); the error names the first mismatch.
fn matches(expected: &Value, actual: &Value, at: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Null, Value::Null) => Ok(()),
        (Value::Object(expected), Value::Object(actual)) => {
            for (key, value) in expected {
                let here = format!("{at}/{key}");
                match actual.get(key) {
                    Some(found) => matches(value, found, &here)?,
                    None if value.is_null() => {}
                    None => return Err(format!("{here}: missing, expected {value}")),
                }
            }
            Ok(())
        }
        (Value::Array(expected), Value::Array(actual)) => {
            if expected.len() != actual.len() {
                return Err(format!("{at}: {} elements, expected {}: {}", actual.len(), expected.len(), json!(actual)));
            }
            expected.iter().zip(actual).enumerate().try_for_each(|(i, (e, a))| matches(e, a, &format!("{at}/{i}")))
        }
        (expected, actual) if expected == actual => Ok(()),
        (expected, actual) => Err(format!("{at}: {actual}, expected {expected}")),
    }
}

fn check(name: &str, input: Input, expected: Value) {
    let actual = outcome(input);
    if let Err(mismatch) = matches(&expected, &actual, "") {
        panic!("case {name:?}: {mismatch}\nwhole outcome: {}", serde_json::to_string_pretty(&actual).unwrap());
    }
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

/// The weather tool in OpenAI's shape, with the schema noise Gemini refuses.
fn weather_tool() -> Value {
    json!({"type": "function", "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "strict": true,
        "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name"},
                "unit": {"type": ["string", "null"], "enum": ["celsius", "fahrenheit"]}
            },
            "required": ["city", "unit"],
            "additionalProperties": false
        }
    }})
}

fn weather_declaration() -> Value {
    json!({
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "OBJECT",
            "properties": {
                "city": {"type": "STRING", "description": "City name"},
                "unit": {"type": "STRING", "enum": ["celsius", "fahrenheit"], "nullable": true}
            },
            "required": ["city", "unit"]
        }
    })
}

#[test]
fn requests() {
    let cases: Vec<(&str, Input, Value)> = vec![
        (
            "system and developer messages join the system instruction",
            Input::Request(
                json!({"messages": [
                    {"role": "system", "content": "You are terse."},
                    {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                    user("Hello")
                ]}),
                None,
            ),
            json!({
                "path": "/v1beta/models/gemini-2.0-flash:generateContent",
                "query": null,
                "body": {
                    "systemInstruction": {"parts": [{"text": "You are terse."}, {"text": "Answer in French."}]},
                    "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
                    "generationConfig": null,
                    "tools": null,
                    "toolConfig": null
                }
            }),
        ),
        (
            "no system message, no system instruction",
            Input::Request(json!({"messages": [user("Hi")]}), None),
            json!({"body": {"systemInstruction": null, "contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}}),
        ),
        (
            "a stream goes to streamGenerateContent as SSE",
            Input::Request(
                json!({"messages": [user("Hi")], "stream": true, "stream_options": {"include_usage": true}}),
                None,
            ),
            json!({"path": "/v1beta/models/gemini-2.0-flash:streamGenerateContent", "query": "alt=sse"}),
        ),
        (
            "the context's model wins, models/ prefix kept once",
            Input::Request(json!({"model": "my-alias", "messages": [user("Hi")]}), Some("models/gemini-2.5-pro")),
            json!({"path": "/v1beta/models/gemini-2.5-pro:generateContent"}),
        ),
        (
            "no model anywhere",
            Input::Request(json!({"model": null, "messages": [user("Hi")]}), None),
            json!({"refused": "model"}),
        ),
        (
            "a model name that would break the path",
            Input::Request(json!({"model": "gemini:evil?x=1", "messages": [user("Hi")]}), None),
            json!({"refused": "model"}),
        ),
        (
            "text and images: data URL inline, https URL as file data with a guessed type",
            Input::Request(
                json!({"messages": [{"role": "user", "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.WEBP?size=large", "detail": "high"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/photos/42"}}
                ]}]}),
                None,
            ),
            json!({"body": {"contents": [{"role": "user", "parts": [
                {"text": "What is in these?"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.WEBP?size=large"}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/photos/42"}}
            ]}]}}),
        ),
        (
            "an image URL that is neither data nor http(s)/gs",
            Input::Request(
                json!({"messages": [{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}
                ]}]}),
                None,
            ),
            json!({"refused": "messages[0].content[0]"}),
        ),
        (
            "an audio part is refused, naming it",
            Input::Request(
                json!({"messages": [{"role": "user", "content": [
                    {"type": "text", "text": "Transcribe"},
                    {"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}}
                ]}]}),
                None,
            ),
            json!({"refused": "messages[0].content[1]"}),
        ),
        (
            "an image in a system message is refused",
            Input::Request(
                json!({"messages": [
                    {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]},
                    user("Hi")
                ]}),
                None,
            ),
            json!({"refused": "messages[0].content[0]"}),
        ),
        (
            "consecutive same-role messages merge; assistant is model; empty turns left out",
            Input::Request(
                json!({"messages": [
                    user("One"),
                    user("Two"),
                    {"role": "assistant", "content": ""},
                    {"role": "assistant", "content": "Three"},
                    {"role": "assistant", "content": null},
                    user("Four")
                ]}),
                None,
            ),
            json!({"body": {"contents": [
                {"role": "user", "parts": [{"text": "One"}, {"text": "Two"}]},
                {"role": "model", "parts": [{"text": "Three"}]},
                {"role": "user", "parts": [{"text": "Four"}]}
            ]}}),
        ),
        (
            "only system messages leave Gemini nothing to answer",
            Input::Request(json!({"messages": [{"role": "system", "content": "Be nice"}]}), None),
            json!({"refused": "messages"}),
        ),
        (
            "tools with schema cleanup, tool_choice auto",
            Input::Request(
                json!({"messages": [user("Weather?")], "tools": [weather_tool()], "tool_choice": "auto"}),
                None,
            ),
            json!({"body": {
                "tools": [{"functionDeclarations": [weather_declaration()]}],
                "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}
            }}),
        ),
        (
            "tool_choice none",
            Input::Request(json!({"messages": [user("Hi")], "tools": [weather_tool()], "tool_choice": "none"}), None),
            json!({"body": {"toolConfig": {"functionCallingConfig": {"mode": "NONE", "allowedFunctionNames": null}}}}),
        ),
        (
            "tool_choice required is ANY",
            Input::Request(
                json!({"messages": [user("Hi")], "tools": [weather_tool()], "tool_choice": "required"}),
                None,
            ),
            json!({"body": {"toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": null}}}}),
        ),
        (
            "a named tool_choice is ANY with that name allowed",
            Input::Request(
                json!({"messages": [user("Hi")], "tools": [weather_tool()],
                       "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
                None,
            ),
            json!({"body": {"toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}}}),
        ),
        (
            "no tool_choice, no toolConfig",
            Input::Request(json!({"messages": [user("Hi")], "tools": [weather_tool()]}), None),
            json!({"body": {"toolConfig": null, "tools": [{"functionDeclarations": [{"name": "get_weather"}]}]}}),
        ),
        (
            "a named tool_choice not among the tools",
            Input::Request(
                json!({"messages": [user("Hi")], "tools": [weather_tool()],
                       "tool_choice": {"type": "function", "function": {"name": "get_time"}}}),
                None,
            ),
            json!({"refused": "tool_choice"}),
        ),
        (
            "tool_choice required without tools",
            Input::Request(json!({"messages": [user("Hi")], "tool_choice": "required"}), None),
            json!({"refused": "tool_choice"}),
        ),
        (
            "tool_choice auto without tools is nothing to send",
            Input::Request(json!({"messages": [user("Hi")], "tool_choice": "auto"}), None),
            json!({"body": {"toolConfig": null, "tools": null}}),
        ),
        (
            "a function without parameters declares none",
            Input::Request(
                json!({"messages": [user("Hi")], "tools": [
                    {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}},
                    {"type": "function", "function": {"name": "ping"}}
                ]}),
                None,
            ),
            json!({"body": {"tools": [{"functionDeclarations": [
                {"name": "now", "parameters": null, "description": null},
                {"name": "ping", "parameters": null}
            ]}]}}),
        ),
        (
            "a tool that is not a function",
            Input::Request(
                json!({"messages": [user("Hi")], "tools": [{"type": "custom", "function": {"name": "x"}}]}),
                None,
            ),
            json!({"refused": "tools[0].type"}),
        ),
        (
            "a tool schema Gemini cannot express",
            Input::Request(
                json!({"messages": [user("Hi")], "tools": [{"type": "function", "function": {"name": "x", "parameters": {
                    "type": "object", "properties": {"a": {"not": {"type": "string"}}}
                }}}]}),
                None,
            ),
            json!({"refused": "tools[0].function.parameters"}),
        ),
        (
            "assistant tool calls and tool results round-trip, results matched by name",
            Input::Request(
                json!({"messages": [
                    user("Weather in Paris and Rome?"),
                    {"role": "assistant", "content": "Let me check.", "tool_calls": [
                        {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                        {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ""}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_a", "content": "{\"temp\": 21, \"unit\": \"celsius\"}"},
                    {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "12:00"}]},
                    {"role": "assistant", "content": "21°C at noon."},
                    user("Thanks")
                ]}),
                None,
            ),
            json!({"body": {"contents": [
                {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
                {"role": "model", "parts": [
                    {"text": "Let me check."},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                     "thoughtSignature": "skip_thought_signature_validator"},
                    {"functionCall": {"name": "get_time", "args": {}},
                     "thoughtSignature": "skip_thought_signature_validator"}
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"temp": 21, "unit": "celsius"}}},
                    {"functionResponse": {"name": "get_time", "response": {"content": "12:00"}}}
                ]},
                {"role": "model", "parts": [{"text": "21°C at noon."}]},
                {"role": "user", "parts": [{"text": "Thanks"}]}
            ]}}),
        ),
        (
            "a JSON result that is not an object is wrapped as content",
            Input::Request(
                json!({"messages": [
                    user("List"),
                    {"role": "assistant", "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "list", "arguments": "{}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "c1", "content": "[1, 2]"}
                ]}),
                None,
            ),
            json!({"body": {"contents": [
                {"role": "user"},
                {"role": "model", "parts": [{"functionCall": {"name": "list", "args": {}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "list", "response": {"content": "[1, 2]"}}}]}
            ]}}),
        ),
        (
            "a tool result for an unknown call id",
            Input::Request(
                json!({"messages": [
                    user("Hi"),
                    {"role": "assistant", "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "list", "arguments": "{}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "c2", "content": "done"}
                ]}),
                None,
            ),
            json!({"refused": "messages[2].tool_call_id"}),
        ),
        (
            "tool call arguments that are not a JSON object",
            Input::Request(
                json!({"messages": [
                    user("Hi"),
                    {"role": "assistant", "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "list", "arguments": "{not json"}}
                    ]}
                ]}),
                None,
            ),
            json!({"refused": "messages[1].tool_calls[0].function.arguments"}),
        ),
        (
            "JSON mode",
            Input::Request(json!({"messages": [user("Hi")], "response_format": {"type": "json_object"}}), None),
            json!({"body": {"generationConfig": {"responseMimeType": "application/json", "responseSchema": null}}}),
        ),
        (
            "response_format text sends nothing",
            Input::Request(json!({"messages": [user("Hi")], "response_format": {"type": "text"}}), None),
            json!({"body": {"generationConfig": null}}),
        ),
        (
            "JSON schema: refs inlined, Optional collapsed, oneOf and const rewritten",
            Input::Request(
                json!({"messages": [user("Hi")], "response_format": {"type": "json_schema", "json_schema": {
                    "name": "person", "strict": true, "schema": {
                        "$schema": "https://json-schema.org/draft/2020-12/schema",
                        "type": "object",
                        "$defs": {"Address": {"type": "object", "properties": {"city": {"type": "string"}},
                                              "required": ["city"], "additionalProperties": false}},
                        "properties": {
                            "name": {"type": "string", "minLength": 1, "format": "uri"},
                            "age": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": null},
                            "address": {"$ref": "#/$defs/Address", "description": "Home"},
                            "kind": {"const": "person"},
                            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true, "maxItems": 3},
                            "id": {"oneOf": [{"type": "string"}, {"type": "integer", "format": "int64"}]}
                        },
                        "required": ["name", "age", "address", "kind", "tags", "id"],
                        "additionalProperties": false
                    }
                }}}),
                None,
            ),
            json!({"body": {"generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": {
                    "type": "OBJECT",
                    "$defs": null,
                    "$schema": null,
                    "additionalProperties": null,
                    "properties": {
                        "name": {"type": "STRING", "minLength": 1, "format": null},
                        "age": {"type": "INTEGER", "nullable": true, "default": null, "anyOf": null},
                        "address": {"type": "OBJECT", "description": "Home", "properties": {"city": {"type": "STRING"}},
                                    "required": ["city"], "additionalProperties": null},
                        "kind": {"type": "STRING", "enum": ["person"]},
                        "tags": {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": 3, "uniqueItems": null},
                        "id": {"anyOf": [{"type": "STRING"}, {"type": "INTEGER", "format": "int64"}], "oneOf": null}
                    },
                    "required": ["name", "age", "address", "kind", "tags", "id"]
                }
            }}}),
        ),
        (
            "JSON schema with a recursive $ref",
            Input::Request(
                json!({"messages": [user("Hi")], "response_format": {"type": "json_schema", "json_schema": {
                    "name": "tree", "schema": {
                        "$ref": "#/$defs/Node",
                        "$defs": {"Node": {"type": "object", "properties": {
                            "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
                        }}}
                    }
                }}}),
                None,
            ),
            json!({"refused": "response_format"}),
        ),
        (
            "JSON schema with an unresolvable $ref",
            Input::Request(
                json!({"messages": [user("Hi")], "response_format": {"type": "json_schema", "json_schema": {
                    "name": "x", "schema": {"type": "object", "properties": {"a": {"$ref": "https://x.test/a.json"}}}
                }}}),
                None,
            ),
            json!({"refused": "response_format"}),
        ),
        (
            "sampling parameters, stop as one string, n",
            Input::Request(
                json!({"messages": [user("Hi")], "temperature": 0.2, "top_p": 0.9, "presence_penalty": 0.5,
                       "frequency_penalty": -0.5, "seed": 42, "stop": "END", "n": 2, "max_tokens": 100}),
                None,
            ),
            json!({"body": {"generationConfig": {
                "temperature": 0.2, "topP": 0.9, "presencePenalty": 0.5, "frequencyPenalty": -0.5,
                "seed": 42, "stopSequences": ["END"], "candidateCount": 2, "maxOutputTokens": 100
            }}}),
        ),
        (
            "stop as a list; max_completion_tokens wins over max_tokens",
            Input::Request(
                json!({"messages": [user("Hi")], "stop": ["a", "b"], "max_tokens": 100, "max_completion_tokens": 250}),
                None,
            ),
            json!({"body": {"generationConfig": {"stopSequences": ["a", "b"], "maxOutputTokens": 250, "temperature": null}}}),
        ),
        (
            "no max tokens: none sent, Gemini needs no default",
            Input::Request(json!({"messages": [user("Hi")], "temperature": 1.0}), None),
            json!({"body": {"generationConfig": {"temperature": 1.0, "maxOutputTokens": null}}}),
        ),
        (
            "a seed beyond 32 bits",
            Input::Request(json!({"messages": [user("Hi")], "seed": 5_000_000_000_i64}), None),
            json!({"refused": "seed"}),
        ),
        ("n of 0", Input::Request(json!({"messages": [user("Hi")], "n": 0}), None), json!({"refused": "n"})),
        (
            "logprobs",
            Input::Request(json!({"messages": [user("Hi")], "logprobs": true}), None),
            json!({"refused": "logprobs"}),
        ),
        (
            "top_logprobs",
            Input::Request(json!({"messages": [user("Hi")], "top_logprobs": 3}), None),
            json!({"refused": "top_logprobs"}),
        ),
        (
            "an unmodelled field that changes the answer",
            Input::Request(json!({"messages": [user("Hi")], "logit_bias": {"50256": -100}}), None),
            json!({"refused": "logit_bias"}),
        ),
        (
            "reasoning_effort is not guessed into a thinking budget",
            Input::Request(json!({"messages": [user("Hi")], "reasoning_effort": "high"}), None),
            json!({"refused": "reasoning_effort"}),
        ),
        (
            "documented drops: user, parallel_tool_calls, metadata, store, null fields, text modality",
            Input::Request(
                json!({"messages": [{"role": "user", "content": "Hi", "name": "ann"}], "user": "u-1",
                       "parallel_tool_calls": false, "metadata": {"k": "v"}, "store": false, "logit_bias": null,
                       "modalities": ["text"], "logprobs": false}),
                None,
            ),
            json!({
                "path": "/v1beta/models/gemini-2.0-flash:generateContent",
                "body": {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}], "generationConfig": null,
                         "user": null, "metadata": null}
            }),
        ),
    ];
    for (name, input, expected) in cases {
        check(name, input, expected);
    }
}

/// A Gemini answer with one candidate.
fn answer(parts: Value, finish: &str) -> Value {
    json!({
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0,
                        "safetyRatings": []}],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 5, "totalTokenCount": 17},
        "modelVersion": "gemini-2.0-flash-001",
        "responseId": "resp-abc"
    })
}

#[test]
fn responses() {
    let cases: Vec<(&str, Input, Value)> = vec![
        (
            "text answer",
            Input::Response(answer(json!([{"text": "Hello "}, {"text": "there."}]), "STOP"), true),
            json!({
                "id": "resp-abc",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": "gemini-2.0-flash",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there.", "tool_calls": null},
                             "finish_reason": "stop", "logprobs": null}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17, "prompt_tokens_details": null}
            }),
        ),
        (
            "no context model: Gemini's model version; no response id: the context's",
            Input::Response(
                json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "finishReason": "STOP"}],
                       "modelVersion": "gemini-2.0-flash-001"}),
                false,
            ),
            json!({"id": "chatcmpl-ctx", "model": "gemini-2.0-flash-001", "usage": null,
                   "choices": [{"index": 0, "message": {"content": "Hi"}, "finish_reason": "stop"}]}),
        ),
        (
            "thoughts skipped and counted as completion tokens; cached tokens reported",
            Input::Response(
                json!({
                    "candidates": [{"content": {"role": "model", "parts": [
                        {"text": "Let me think about primes...", "thought": true},
                        {"text": "7 is prime.", "thoughtSignature": "c2ln"}
                    ]}, "finishReason": "STOP", "index": 0}],
                    "usageMetadata": {"promptTokenCount": 2000, "candidatesTokenCount": 6, "thoughtsTokenCount": 40,
                                      "cachedContentTokenCount": 1500, "totalTokenCount": 2046},
                    "responseId": "r1"
                }),
                true,
            ),
            json!({
                "choices": [{"message": {"content": "7 is prime."}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 2000, "completion_tokens": 46, "total_tokens": 2046,
                          "prompt_tokens_details": {"cached_tokens": 1500}}
            }),
        ),
        (
            "function calls become tool calls with generated ids",
            Input::Response(
                answer(
                    json!([
                        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                        {"functionCall": {"name": "get_time", "args": {}}}
                    ]),
                    "STOP",
                ),
                true,
            ),
            json!({"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant",
                "content": null,
                "tool_calls": [
                    {"id": "call_0_0", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_0_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
                ]
            }}]}),
        ),
        (
            "text beside a function call; Gemini's own call id kept",
            Input::Response(
                answer(
                    json!([{"text": "Checking."}, {"functionCall": {"id": "fc-9", "name": "lookup", "args": {"q": "x"}}}]),
                    "STOP",
                ),
                true,
            ),
            json!({"choices": [{"finish_reason": "tool_calls", "message": {
                "content": "Checking.",
                "tool_calls": [{"id": "fc-9", "function": {"name": "lookup", "arguments": "{\"q\":\"x\"}"}}]
            }}]}),
        ),
        (
            "MAX_TOKENS is length",
            Input::Response(answer(json!([{"text": "Once upon a"}]), "MAX_TOKENS"), true),
            json!({"choices": [{"finish_reason": "length", "message": {"content": "Once upon a"}}]}),
        ),
        (
            "SAFETY is content_filter",
            Input::Response(
                json!({"candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": [
                    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true}
                ]}], "responseId": "r2"}),
                true,
            ),
            json!({"choices": [{"finish_reason": "content_filter", "message": {"content": null}}]}),
        ),
        (
            "RECITATION is content_filter",
            Input::Response(answer(json!([{"text": "It was the best"}]), "RECITATION"), true),
            json!({"choices": [{"finish_reason": "content_filter"}]}),
        ),
        (
            "PROHIBITED_CONTENT is content_filter",
            Input::Response(answer(json!([]), "PROHIBITED_CONTENT"), true),
            json!({"choices": [{"finish_reason": "content_filter", "message": {"content": null}}]}),
        ),
        (
            "OTHER is stop",
            Input::Response(answer(json!([{"text": "Hm"}]), "OTHER"), true),
            json!({"choices": [{"finish_reason": "stop"}]}),
        ),
        (
            "MALFORMED_FUNCTION_CALL is stop",
            Input::Response(answer(json!([]), "MALFORMED_FUNCTION_CALL"), true),
            json!({"choices": [{"finish_reason": "stop"}]}),
        ),
        (
            "several candidates, one choice each",
            Input::Response(
                json!({"candidates": [
                    {"content": {"role": "model", "parts": [{"text": "Red"}]}, "finishReason": "STOP", "index": 0},
                    {"content": {"role": "model", "parts": [{"functionCall": {"name": "pick", "args": {"c": "blue"}}}]},
                     "finishReason": "STOP", "index": 1}
                ], "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 6, "totalTokenCount": 10}}),
                true,
            ),
            json!({"choices": [
                {"index": 0, "message": {"content": "Red"}, "finish_reason": "stop"},
                {"index": 1, "message": {"content": null, "tool_calls": [{"id": "call_1_0"}]}, "finish_reason": "tool_calls"}
            ]}),
        ),
        (
            "a blocked prompt: no candidates, one filtered choice",
            Input::Response(
                json!({"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
                       "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}, "responseId": "r3"}),
                true,
            ),
            json!({
                "choices": [{"index": 0, "message": {"role": "assistant", "content": null}, "finish_reason": "content_filter"}],
                "usage": {"prompt_tokens": 9, "completion_tokens": 0, "total_tokens": 9}
            }),
        ),
        (
            "no candidates and no block reason",
            Input::Response(json!({"usageMetadata": {"promptTokenCount": 9}}), true),
            json!({"failed": "Gemini's answer has no candidates"}),
        ),
        (
            "an error body where an answer was expected",
            Input::Response(json!({"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}}), true),
            json!({"failed": "Gemini answered with an error: INTERNAL: Internal error"}),
        ),
    ];
    for (name, input, expected) in cases {
        check(name, input, expected);
    }
}

/// A stream event with one candidate.
fn event(parts: Value, finish: Option<&str>, candidates_tokens: u64) -> Value {
    let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
    if let Some(finish) = finish {
        candidate["finishReason"] = json!(finish);
    }
    json!({
        "candidates": [candidate],
        "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": candidates_tokens,
                          "totalTokenCount": 8 + candidates_tokens},
        "modelVersion": "gemini-2.0-flash-001",
        "responseId": "stream-1"
    })
}

fn chunk(delta: Value, finish_reason: Value) -> Value {
    json!({"id": "stream-1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "gemini-2.0-flash",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": null}], "usage": null})
}

#[test]
fn streams() {
    let text_events = || {
        vec![
            event(json!([{"text": "Hel"}]), None, 1),
            event(json!([{"text": "Thinking...", "thought": true}, {"text": "lo"}]), None, 2),
            event(json!([{"text": "!"}]), Some("STOP"), 3),
        ]
    };
    let usage = json!({"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 11});
    let cases: Vec<(&str, Input, Value)> = vec![
        (
            "text stream with the usage chunk",
            Input::Stream(text_events(), true),
            json!({
                "chunks": [
                    chunk(json!({"role": "assistant", "content": "Hel"}), Value::Null),
                    chunk(json!({"role": null, "content": "lo"}), Value::Null),
                    chunk(json!({"role": null, "content": "!"}), Value::Null),
                    chunk(json!({"role": null, "content": null, "tool_calls": null}), json!("stop")),
                    {"id": "stream-1", "object": "chat.completion.chunk", "choices": [], "usage": usage}
                ],
                "usage": usage,
                "assembled": {"0": {"role": "assistant", "content": "Hello!", "tool_calls": [], "finish_reason": "stop"}},
                "failed": null
            }),
        ),
        (
            "include_usage off: no usage chunk, usage still known",
            Input::Stream(text_events(), false),
            json!({
                "chunks": [{"choices": [{}]}, {"choices": [{}]}, {"choices": [{}]}, {"choices": [{"finish_reason": "stop"}]}],
                "usage": usage
            }),
        ),
        (
            "two tool calls: indexes 0 and 1, whole arguments",
            Input::Stream(
                vec![
                    event(json!([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]), None, 4),
                    event(
                        json!([{"functionCall": {"name": "get_weather", "args": {"city": "Rome", "unit": "celsius"}}}]),
                        Some("STOP"),
                        9,
                    ),
                ],
                true,
            ),
            json!({
                "chunks": [
                    chunk(json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0, "id": "call_0_0", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}), Value::Null),
                    chunk(json!({"role": null, "tool_calls": [{"index": 1, "id": "call_0_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\",\"unit\":\"celsius\"}"}}]}), Value::Null),
                    chunk(json!({}), json!("tool_calls")),
                    {"choices": [], "usage": {"prompt_tokens": 8, "completion_tokens": 9, "total_tokens": 17}}
                ],
                "assembled": {"0": {"role": "assistant", "content": null, "finish_reason": "tool_calls", "tool_calls": [
                    {"id": "call_0_0", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                    {"id": "call_0_1", "name": "get_weather", "arguments": "{\"city\":\"Rome\",\"unit\":\"celsius\"}"}
                ]}}
            }),
        ),
        (
            "text then two calls in one event, as Gemini 2.5 sends them",
            Input::Stream(
                vec![event(
                    json!([{"text": "Checking both."},
                           {"functionCall": {"name": "a", "args": {"x": 1}}},
                           {"functionCall": {"name": "b", "args": {"y": [2]}}}]),
                    Some("STOP"),
                    12,
                )],
                false,
            ),
            json!({
                "chunks": [{}, {}, {}, {}],
                "assembled": {"0": {"role": "assistant", "content": "Checking both.", "finish_reason": "tool_calls", "tool_calls": [
                    {"id": "call_0_0", "name": "a", "arguments": "{\"x\":1}"},
                    {"id": "call_0_1", "name": "b", "arguments": "{\"y\":[2]}"}
                ]}}
            }),
        ),
        (
            "two candidates stream as two choices",
            Input::Stream(
                vec![
                    json!({"candidates": [
                        {"content": {"role": "model", "parts": [{"text": "A"}]}, "index": 0},
                        {"content": {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}, "index": 1}
                    ]}),
                    json!({"candidates": [
                        {"content": {"role": "model", "parts": [{"text": "B"}]}, "finishReason": "MAX_TOKENS", "index": 0},
                        {"finishReason": "STOP", "index": 1}
                    ], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 7, "totalTokenCount": 10}}),
                ],
                false,
            ),
            json!({
                "usage": {"prompt_tokens": 3, "completion_tokens": 7, "total_tokens": 10},
                "assembled": {
                    "0": {"role": "assistant", "content": "AB", "finish_reason": "length", "tool_calls": []},
                    "1": {"role": "assistant", "content": null, "finish_reason": "tool_calls",
                          "tool_calls": [{"id": "call_1_0", "name": "f", "arguments": "{}"}]}
                }
            }),
        ),
        (
            "a blocked prompt in a stream",
            Input::Stream(
                vec![json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                            "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}})],
                true,
            ),
            json!({
                "chunks": [
                    {"id": "chatcmpl-ctx", "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": "content_filter"}]},
                    {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5}}
                ]
            }),
        ),
        (
            "the non-SSE array form and blank events",
            Input::Stream(
                vec![json!(""), json!([event(json!([{"text": "Hi"}]), None, 1), event(json!([]), Some("STOP"), 1)])],
                false,
            ),
            json!({"assembled": {"0": {"role": "assistant", "content": "Hi", "finish_reason": "stop"}}, "failed": null}),
        ),
        (
            "an error event mid-stream",
            Input::Stream(
                vec![
                    event(json!([{"text": "Hel"}]), None, 1),
                    json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}),
                ],
                true,
            ),
            json!({"chunks": [{}], "failed": "Gemini's stream failed: UNAVAILABLE: The model is overloaded."}),
        ),
        (
            "an array-wrapped error event",
            Input::Stream(
                vec![json!([{"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}])],
                true,
            ),
            json!({"chunks": [], "failed": "Gemini's stream failed: RESOURCE_EXHAUSTED: Quota exceeded"}),
        ),
        (
            "an event that is not JSON",
            Input::Stream(vec![json!("{\"candidates\": [")], true),
            json!({"chunks": [], "failed": "Gemini sent a stream event that is not JSON: EOF while parsing a list at line 1 column 16"}),
        ),
    ];
    for (name, input, expected) in cases {
        check(name, input, expected);
    }
}

#[test]
fn finish_is_said_once() {
    let mut stream = Stream::new(context("m", true));
    stream.event(None, &event(json!([{"text": "x"}]), Some("STOP"), 1).to_string()).unwrap();
    assert_eq!(stream.finish().len(), 1);
    assert!(stream.finish().is_empty());
}

#[test]
fn errors() {
    let cases: Vec<(&str, Input, Value)> = vec![
        (
            "INVALID_ARGUMENT",
            Input::Error(
                400,
                r#"{"error": {"code": 400, "message": "* GenerateContentRequest.contents: contents is not specified", "status": "INVALID_ARGUMENT"}}"#,
            ),
            json!({"error": {"message": "* GenerateContentRequest.contents: contents is not specified",
                             "type": "invalid_request_error", "param": null, "code": "INVALID_ARGUMENT"}}),
        ),
        (
            "an invalid API key is a 400 INVALID_ARGUMENT with details",
            Input::Error(
                400,
                r#"{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
                   "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}"#,
            ),
            json!({"error": {"message": "API key not valid. Please pass a valid API key.", "type": "invalid_request_error",
                             "code": "INVALID_ARGUMENT"}}),
        ),
        (
            "UNAUTHENTICATED",
            Input::Error(
                401,
                r#"{"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}"#,
            ),
            json!({"error": {"type": "authentication_error", "code": "UNAUTHENTICATED"}}),
        ),
        (
            "PERMISSION_DENIED wrapped in an array",
            Input::Error(
                403,
                r#"[{"error": {"code": 403, "message": "Permission denied on resource project p.", "status": "PERMISSION_DENIED"}}]"#,
            ),
            json!({"error": {"message": "Permission denied on resource project p.", "type": "permission_error",
                             "code": "PERMISSION_DENIED"}}),
        ),
        (
            "NOT_FOUND",
            Input::Error(
                404,
                r#"{"error": {"code": 404, "message": "models/gemini-9 is not found for API version v1beta", "status": "NOT_FOUND"}}"#,
            ),
            json!({"error": {"type": "invalid_request_error", "code": "NOT_FOUND"}}),
        ),
        (
            "FAILED_PRECONDITION",
            Input::Error(
                400,
                r#"{"error": {"code": 400, "message": "User location is not supported for the API use.", "status": "FAILED_PRECONDITION"}}"#,
            ),
            json!({"error": {"type": "invalid_request_error", "code": "FAILED_PRECONDITION"}}),
        ),
        (
            "RESOURCE_EXHAUSTED",
            Input::Error(
                429,
                r#"{"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}"#,
            ),
            json!({"error": {"message": "Resource has been exhausted (e.g. check quota).", "type": "rate_limit_error",
                             "code": "RESOURCE_EXHAUSTED"}}),
        ),
        (
            "UNAVAILABLE",
            Input::Error(
                503,
                r#"{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}"#,
            ),
            json!({"error": {"type": "api_error", "code": "UNAVAILABLE"}}),
        ),
        (
            "no status: typed by the HTTP status",
            Input::Error(429, r#"{"error": {"code": 429, "message": "slow down"}}"#),
            json!({"error": {"message": "slow down", "type": "rate_limit_error", "code": null}}),
        ),
        (
            "not JSON: the raw text",
            Input::Error(502, "<html><body>Bad Gateway</body></html>"),
            json!({"error": {"message": "<html><body>Bad Gateway</body></html>", "type": "api_error", "code": null}}),
        ),
        (
            "an empty body",
            Input::Error(500, ""),
            json!({"error": {"message": "Gemini answered with HTTP status 500", "type": "api_error"}}),
        ),
    ];
    for (name, input, expected) in cases {
        check(name, input, expected);
    }
}

#[test]
fn matcher_rejects_mismatches() {
    let actual = json!({"a": [1, {"b": null, "c": "x"}], "d": 2});
    assert!(matches(&json!({"a": [1, {"c": "x", "e": null}]}), &actual, "").is_ok());
    assert!(matches(&json!({"a": [1]}), &actual, "").is_err());
    assert!(matches(&json!({"d": null}), &actual, "").is_err());
    assert!(matches(&json!({"a": [1, {"c": "y"}]}), &actual, "").is_err());
    assert!(matches(&json!({"f": 1}), &actual, "").is_err());
}
