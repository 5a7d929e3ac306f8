//! Property tests of the parsers of providers' answers: responses, stream events, errors and
//! embeddings, fed valid samples with parts replaced by any JSON (what a broken or hostile
//! provider sends), and any bytes. Whatever they are fed, they answer without a panic; valid
//! counts come back as the provider gave them, sums saturating.

use crate::openai::Usage;
use crate::{embeddings, error, response, stream, Provider, ResponseContext};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{json, Value};

/// `cases` cases (`PROPTEST_CASES` overrides), and no failure files: a failure found becomes a
/// regression test beside the property.
pub(crate) fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(cases);
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// Keys and strings of the providers' answers, so that replaced parts still look like answers.
const WORDS: &[&str] = &[
    "type",
    "text",
    "content",
    "message",
    "delta",
    "index",
    "usage",
    "tool_use",
    "json_output",
    "input",
    "input_json_delta",
    "partial_json",
    "text_delta",
    "message_start",
    "content_block_start",
    "content_block_delta",
    "message_delta",
    "error",
    "stop_reason",
    "input_tokens",
    "output_tokens",
    "candidates",
    "parts",
    "functionCall",
    "args",
    "thought",
    "finishReason",
    "STOP",
    "usageMetadata",
    "promptTokenCount",
    "tool_calls",
    "function",
    "arguments",
    "tool-call-start",
    "tool-call-delta",
    "message-end",
    "content-delta",
    "tokens",
    "values",
    "embeddings",
    "float",
    "input_text",
    "input_image",
    "function_call",
    "function_call_output",
    "call_id",
    "output",
    "role",
    "choices",
    "finish_reason",
    "prompt_tokens",
];

/// Any JSON value a few levels deep, with the providers' words and extreme numbers.
pub(crate) fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop_oneof![Just(u64::MAX), Just(u64::MAX / 2 + 1), any::<u64>()].prop_map(Value::from),
        prop_oneof![Just(-1.5), Just(1e300), Just(0.5), any::<f64>()].prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        proptest::sample::select(WORDS).prop_map(Value::from),
    ];
    let key = prop_oneof![4 => proptest::sample::select(WORDS).prop_map(String::from), 1 => any::<String>()];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((key.clone(), inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// The JSON pointers of every part of `value`.
fn pointers(value: &Value, at: String, all: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                pointers(child, format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")), all);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{index}"), all);
            }
        }
        _ => {}
    }
    all.push(at);
}

/// `sample` with up to three of its parts (or itself) replaced by any JSON value.
fn near(sample: Value) -> impl Strategy<Value = Value> {
    proptest::collection::vec((any::<usize>(), json_value()), 0..4).prop_map(move |replacements| {
        let mut value = sample.clone();
        for (which, replacement) in replacements {
            let mut all = Vec::new();
            pointers(&value, String::new(), &mut all);
            if let Some(part) = value.pointer_mut(&all[which % all.len()]) {
                *part = replacement;
            }
        }
        value
    })
}

pub(crate) fn one_of_near(samples: Vec<Value>) -> impl Strategy<Value = Value> {
    proptest::sample::select(samples).prop_flat_map(near)
}

const PROVIDERS: [Provider; 3] = [Provider::Anthropic, Provider::Gemini, Provider::Cohere];

fn context(include_usage: bool) -> ResponseContext {
    ResponseContext { id: "chatcmpl-gw".into(), created: 1, model: String::new(), include_usage }
}

/// Answers of each provider, valid.
fn answers() -> Vec<Value> {
    vec![
        json!({"id": "msg_1", "type": "message", "model": "claude", "content": [{"type": "text", "text": "Hi"},
            {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}, {"type": "tool_use", "id": "j", "name": "json_output", "input": {}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 3, "cache_read_input_tokens": 1, "output_tokens": 4}}),
        json!({"candidates": [{"content": {"parts": [{"text": "Hi"}, {"text": "t", "thought": true}, {"functionCall": {"id": "x", "name": "f", "args": {}}}],
            "role": "model"}, "finishReason": "STOP", "index": 0}], "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 2, "totalTokenCount": 3, "cachedContentTokenCount": 1},
            "responseId": "r", "modelVersion": "g"}),
        json!({"id": "c", "finish_reason": "TOOL_CALL", "message": {"role": "assistant", "content": [{"type": "text", "text": "Hi"}],
            "tool_calls": [{"id": "t", "function": {"name": "f", "arguments": "{}"}}]},
            "usage": {"tokens": {"input_tokens": 1.0, "output_tokens": 2}, "billed_units": {"input_tokens": 1}, "cached_tokens": 1}}),
        json!({"embedding": {"values": [0.5, -0.5]}}),
        json!({"embeddings": [{"values": [1.0]}, {"values": [2]}]}),
        json!({"embeddings": {"float": [[0.1], [0.2]]}, "meta": {"billed_units": {"input_tokens": 7}}}),
        json!([{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}]),
    ]
}

/// Stream events of each provider, valid (their data).
fn events(provider: Provider) -> Vec<Value> {
    match provider {
        Provider::Anthropic => vec![
            json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude", "usage": {"input_tokens": 12, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}}}),
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "j", "name": "json_output"}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}),
        ],
        Provider::Gemini => vec![
            json!({"candidates": [{"content": {"parts": [{"text": "Hi"}], "role": "model"}, "index": 0}],
                "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 1}, "modelVersion": "g", "responseId": "r"}),
            json!({"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {"a": [1]}}}]}, "finishReason": "STOP", "index": 1}]}),
            json!([{"candidates": [{"content": {"parts": [{"text": "a"}]}}]}, {"promptFeedback": {"blockReason": "SAFETY"}}]),
            json!({"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}),
        ],
        Provider::Cohere => vec![
            json!({"id": "c1", "type": "message-start", "delta": {"message": {"role": "assistant"}}}),
            json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hi"}}}}),
            json!({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {"id": "t1", "function": {"name": "f", "arguments": ""}}}}}),
            json!({"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": "{\"a\""}}}}}),
            json!({"type": "message-end", "delta": {"finish_reason": "MAX_TOKENS", "usage": {"tokens": {"input_tokens": 5, "output_tokens": 6}}}}),
            json!({"type": "error", "message": "bad"}),
        ],
    }
}

/// SSE event names: none, the ones the translators know, and others.
const NAMES: [Option<&str>; 6] =
    [None, Some("message_start"), Some("content_block_delta"), Some("message-end"), Some("error"), Some("ping")];

/// A stream of `provider`: its events in any order and number, each near a valid one, its
/// data sometimes not JSON at all.
fn stream_of(provider: Provider) -> impl Strategy<Value = Vec<(Option<&'static str>, String)>> {
    let event = (
        proptest::sample::select(events(provider)),
        proptest::sample::select(&NAMES[..]),
        any::<bool>(),
        any::<String>(),
    )
        .prop_flat_map(|(data, name, json, text)| {
            near(data).prop_map(move |data| (name, if json { data.to_string() } else { text.clone() }))
        });
    proptest::collection::vec(event, 0..8)
}

fn any_stream() -> impl Strategy<Value = (Provider, Vec<(Option<&'static str>, String)>)> {
    proptest::sample::select(&PROVIDERS[..]).prop_flat_map(|provider| (Just(provider), stream_of(provider)))
}

/// A provider's usage with counts anywhere in `u64`, and the usage OpenAI's answer should carry.
fn usage_of(provider: Provider, [a, b, c, d]: [u64; 4]) -> (Value, Usage) {
    let usage = |prompt_tokens: u64, completion_tokens: u64| Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens.saturating_add(completion_tokens),
        prompt_tokens_details: None,
    };
    match provider {
        Provider::Anthropic => (
            json!({"id": "m", "content": [], "usage": {"input_tokens": a, "cache_creation_input_tokens": b, "cache_read_input_tokens": c, "output_tokens": d}}),
            Usage {
                prompt_tokens_details: Some(crate::openai::PromptTokensDetails {
                    cached_tokens: c,
                    cache_write_tokens: b,
                }),
                ..usage(a.saturating_add(b).saturating_add(c), d)
            },
        ),
        Provider::Gemini => (
            json!({"candidates": [{"content": {"parts": []}}], "usageMetadata": {"promptTokenCount": a,
                "toolUsePromptTokenCount": b, "candidatesTokenCount": c, "thoughtsTokenCount": d}}),
            usage(a.saturating_add(b), c.saturating_add(d)),
        ),
        Provider::Cohere => (
            json!({"message": {"content": "x"}, "usage": {"tokens": {"input_tokens": a, "output_tokens": c}}}),
            usage(a, c),
        ),
    }
}

/// Found by `usage_is_counted_as_given`: counts whose sum passes `u64::MAX` panicked (debug
/// builds) or wrapped to a small total (release), in the responses and streams of all three.
#[test]
fn counts_past_u64_saturate() {
    for provider in PROVIDERS {
        let (answer, expected) = usage_of(provider, [u64::MAX, 1, u64::MAX, 1]);
        assert_eq!(expected.total_tokens, u64::MAX);
        assert_eq!(response(provider, &answer, &context(false)).unwrap().usage, Some(expected), "{provider:?}");
    }
}

proptest! {
    #![proptest_config(config(1000))]

    /// Any answer near a valid one, for any provider, is translated or refused.
    #[test]
    fn any_answer_is_translated_or_refused(answer in prop_oneof![one_of_near(answers()), json_value()]) {
        for provider in PROVIDERS {
            let _ = response(provider, &answer, &context(false));
            let _ = embeddings::response(provider, &answer, "e");
        }
    }

    /// Any error body, JSON or not, becomes OpenAI's error body with the provider's status.
    #[test]
    fn any_error_body_is_translated(
        body in prop_oneof![one_of_near(answers()).prop_map(|v| v.to_string().into_bytes()), proptest::collection::vec(any::<u8>(), 0..48)],
        status in any::<u16>(),
    ) {
        for provider in PROVIDERS {
            let _ = error(provider, status, &body);
        }
    }

    /// Valid counts come back as given; sums past `u64` saturate.
    #[test]
    fn usage_is_counted_as_given(provider in proptest::sample::select(&PROVIDERS[..]), counts in proptest::array::uniform4(prop_oneof![0..1_000_000u64, (u64::MAX - 1000)..=u64::MAX])) {
        let (answer, expected) = usage_of(provider, counts);
        prop_assert_eq!(response(provider, &answer, &context(false)).map(|c| c.usage), Ok(Some(expected)));
    }
}

proptest! {
    #![proptest_config(config(300))]

    /// Any sequence of events near valid ones is translated event by event or refused, and the
    /// stream still finishes.
    #[test]
    fn any_stream_is_translated_or_refused((provider, events) in any_stream(), include_usage in any::<bool>()) {
        let mut translator = stream(provider, context(include_usage));
        for (name, data) in &events {
            let _ = translator.event(*name, data);
        }
        translator.finish();
        translator.usage();
    }
}

/// Responses requests, valid.
fn responses_requests() -> Vec<Value> {
    let tool = json!({"type": "function", "name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}});
    vec![
        json!({"model": "m", "input": "Hi", "instructions": "Be brief.", "max_output_tokens": 9, "stream": true, "store": false}),
        json!({"model": "m", "tools": [tool], "tool_choice": {"type": "function", "name": "f"}, "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_image", "image_url": "data:image/png;base64,AA=="}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "b"}]},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "x"},
            {"type": "reasoning", "summary": []}]}),
        json!({"input": "Hi", "text": {"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}}}, "reasoning": {"effort": "low"}}),
    ]
}

/// Chat completions and chunks, valid, as providers that speak chat completions send them.
fn chat_answers() -> Vec<Value> {
    vec![
        json!({"id": "c", "choices": [{"index": 0, "message": {"content": "Hi", "tool_calls": [{"id": "t", "function": {"name": "f", "arguments": "{}"}}]},
            "finish_reason": "length"}], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3, "prompt_tokens_details": {"cached_tokens": 1}}}),
        json!({"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null}]}),
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "t", "function": {"name": "f", "arguments": "{\"a\""}}]}}]}),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 4, "completion_tokens": 5}}),
        json!({"error": {"message": "busy", "type": "server_error"}}),
    ]
}

fn responses_context() -> crate::responses::Context {
    crate::responses::Context { id: "resp_1".into(), created_at: 1, model: "m".into(), echo: Default::default() }
}

proptest! {
    #![proptest_config(config(500))]

    /// Any Responses request near a valid one (once it parses as one) is translated or refused.
    #[test]
    fn any_responses_request_is_translated_or_refused(body in prop_oneof![one_of_near(responses_requests()), json_value()]) {
        if let Ok(parsed) = serde_json::from_value::<crate::responses::ResponsesRequest>(body) {
            let _ = crate::responses::request(&parsed);
        }
    }

    /// Any chat answer near a valid one becomes a `response` object or is refused; any error
    /// body becomes OpenAI's error body.
    #[test]
    fn any_chat_answer_becomes_a_response_or_is_refused(answer in prop_oneof![one_of_near(chat_answers()), json_value()], status in any::<u16>()) {
        if let Ok(completion) = crate::responses::chat_completion(&answer) {
            let object = crate::responses::response(&completion, &responses_context());
            prop_assert_eq!(&object["object"], &json!("response"));
        }
        let _ = crate::responses::error(status, answer.to_string().as_bytes());
    }

    /// Any sequence of chat chunks near valid ones (or not JSON) becomes Responses events that
    /// count their sequence from 0 and end with exactly one terminal event.
    #[test]
    fn any_chat_stream_becomes_a_responses_stream(
        chunks in proptest::collection::vec(prop_oneof![one_of_near(chat_answers()).prop_map(|v| v.to_string()), any::<String>()], 0..8),
    ) {
        let mut stream = crate::responses::Stream::new(responses_context());
        let mut events = Vec::new();
        for data in &chunks {
            match crate::responses::chat_chunk(data) {
                Ok(chunk) => events.extend(stream.chunk(&chunk)),
                Err(error) => events.extend(stream.fail(&error.message)),
            }
        }
        events.extend(stream.finish());
        for (n, event) in events.iter().enumerate() {
            let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
            prop_assert_eq!(&data["sequence_number"], &json!(n));
        }
        let terminal = ["response.completed", "response.incomplete", "response.failed"];
        prop_assert_eq!(events.iter().filter(|e| terminal.contains(&e.name)).count(), 1);
        prop_assert!(events.last().is_some_and(|e| terminal.contains(&e.name)));
    }
}
