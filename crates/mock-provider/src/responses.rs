//! OpenAI's Responses API, `POST /v1/responses`: a text answer as a `response` object, or its
//! event stream (`response.created`, the output item's and content part's events with their
//! `item_id`, text deltas, `response.completed` with the usage), OpenAI's errors.

use serde_json::{json, Value};

use crate::call::{flag, required_str, unix_now, Call};
use crate::completion::words;
use crate::openai::error;
use crate::reply::Reply;
use crate::sse;

/// `POST /v1/responses`.
pub(crate) fn create(call: &Call) -> Reply {
    let result = call.injected().and_then(|()| call.bearer_auth()).and_then(|()| call.json()).and_then(|body| {
        let model = required_str(&body, "model")?;
        let input = body.get("input").ok_or(crate::problem::Problem::MissingField("input"))?;
        let prompt = 1 + words(input) + body.get("instructions").map(words).unwrap_or(0);
        let completion = call.completion("openai", &body);
        let id = format!("resp_mock_{}", call.seq);
        let response = |status: &str, text: &str, usage: Value| {
            let message = json!({"id": format!("msg_mock_{}", call.seq), "type": "message", "status": status, "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}]});
            let output = if text.is_empty() { json!([]) } else { json!([message]) };
            // As OpenAI sends it: keys after the usage.
            json!({"id": id, "object": "response", "created_at": unix_now(), "status": status, "model": model,
                "output": output, "usage": usage, "user": null, "metadata": {}})
        };
        let (input_tokens, output_tokens) = (prompt, completion.tokens());
        let usage = json!({"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens});
        if !flag(&body, "/stream") {
            return Ok(Reply::ok(response("completed", &completion.text(), usage)));
        }
        // The whole sequence OpenAI sends for one text message, `item_id` on every item event.
        let item_id = format!("msg_mock_{}", call.seq);
        let item = |status: &str, text: Option<&str>| {
            let content = match text {
                Some(text) => json!([{"type": "output_text", "text": text, "annotations": []}]),
                None => json!([]),
            };
            json!({"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content})
        };
        let part = |text: &str| json!({"type": "output_text", "text": text, "annotations": []});
        let text = completion.text();
        let mut events = vec![
            ("response.created", json!({"response": response("in_progress", "", Value::Null)})),
            ("response.in_progress", json!({"response": response("in_progress", "", Value::Null)})),
            ("response.output_item.added", json!({"output_index": 0, "item": item("in_progress", None)})),
            (
                "response.content_part.added",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": part("")}),
            ),
        ];
        for delta in &completion.deltas {
            events.push((
                "response.output_text.delta",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0, "delta": delta, "logprobs": []}),
            ));
        }
        events.extend([
            (
                "response.output_text.done",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0, "text": text, "logprobs": []}),
            ),
            (
                "response.content_part.done",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": part(&text)}),
            ),
            ("response.output_item.done", json!({"output_index": 0, "item": item("completed", Some(&text))})),
            ("response.completed", json!({"response": response("completed", &text, usage)})),
        ]);
        let frames = events
            .into_iter()
            .enumerate()
            .map(|(n, (name, mut data))| {
                data["type"] = json!(name);
                data["sequence_number"] = json!(n);
                sse::event(name, &data)
            })
            .collect();
        Ok(Reply::sse(frames))
    });
    result.unwrap_or_else(|p| error(&p))
}
