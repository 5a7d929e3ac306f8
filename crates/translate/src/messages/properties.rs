//! Property tests of the Messages readers: a client's request bodies, and the chat answers,
//! stream events and errors of OpenAI-compatible providers. Whatever they are fed, they answer
//! without a panic, and a stream always ends with `message_stop` or an error event.

use super::wire::StreamEvent;
use super::{from_openai_bytes, request, response_from_json, Stream};
use crate::properties::{config, json_value, one_of_near};
use crate::ResponseContext;
use proptest::prelude::*;
use serde_json::{json, Value};

fn requests() -> Vec<Value> {
    vec![json!({"model": "m", "max_tokens": 10, "system": [{"type": "text", "text": "s"}], "stop_sequences": ["x"],
    "tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": {"type": "tool", "name": "f"},
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}]},
        {"role": "assistant", "content": [{"type": "text", "text": "t"}, {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "r"}], "is_error": true}]}
    ]})]
}

fn answers() -> Vec<Value> {
    vec![
        json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": [{"index": 0, "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": "Hi", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "prompt_tokens_details": {"cached_tokens": 1}}}),
        json!({"error": {"message": "bad", "type": "invalid_request_error"}}),
    ]
}

fn chunks() -> Vec<Value> {
    vec![
        json!({"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": null}]}),
        json!({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "t", "function": {"name": "f", "arguments": "{\"a\""}}]}}]}),
        json!({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1, "function": {"arguments": ":1}"}}]}, "finish_reason": "tool_calls"}]}),
        json!({"id": "c", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}),
        json!({"error": {"message": "boom"}}),
    ]
}

fn context() -> ResponseContext {
    ResponseContext { id: "msg_1".into(), created: 0, model: "m".into(), include_usage: true }
}

proptest! {
    #![proptest_config(config(1000))]

    /// Any body near a valid request, or any JSON, is translated or refused.
    #[test]
    fn any_request_is_translated_or_refused(body in prop_oneof![one_of_near(requests()), json_value()]) {
        let _ = request(body.to_string().as_bytes());
    }

    /// Any answer near a valid one becomes a message or a refusal; any error body Anthropic's error.
    #[test]
    fn any_answer_is_translated_or_refused(answer in prop_oneof![one_of_near(answers()), json_value()], status in any::<u16>()) {
        let bytes = answer.to_string().into_bytes();
        let _ = response_from_json(&bytes, &context());
        let error = from_openai_bytes(status, &bytes);
        prop_assert_eq!(error.kind, "error");
    }

    /// Any stream near a valid one ends with `message_stop`, or with an error event after which
    /// nothing is sent.
    #[test]
    fn any_stream_ends_once(events in proptest::collection::vec(prop_oneof![one_of_near(chunks()).prop_map(|v| v.to_string()), any::<String>()], 0..8)) {
        let mut stream = Stream::new(context());
        let mut out = Vec::new();
        for data in &events {
            match stream.event(data) {
                Ok(more) => out.extend(more),
                Err(e) => {
                    out.push(stream.error(e.message));
                    break;
                }
            }
        }
        out.extend(stream.finish());
        let starts = matches!(out.first(), Some(StreamEvent::MessageStart { .. } | StreamEvent::Error { .. }));
        let ends = matches!(out.last(), Some(StreamEvent::MessageStop | StreamEvent::Error { .. }));
        prop_assert!(starts && ends, "{:?}", out);
        prop_assert!(stream.finish().is_empty());
    }
}
