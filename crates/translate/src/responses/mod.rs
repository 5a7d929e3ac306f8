//! OpenAI's Responses API (`POST /v1/responses`) as a client API, through OpenAI chat
//! completions as the pivot: a Responses request becomes a [`ChatRequest`](crate::openai::ChatRequest)
//! (sent as it is to a provider that speaks chat completions, or on through a provider's
//! translator), and the chat answer (JSON, `chat.completion.chunk` stream or error) becomes a
//! Responses answer.
//!
//! Translated: `input` as a string or items (messages with `input_text` / `input_image` /
//! `output_text` / `refusal` parts, `function_call` and `function_call_output` items),
//! `instructions` (a system message first), function `tools`, `tool_choice`,
//! `parallel_tool_calls`, `text.format` (`text`, `json_object`, `json_schema` ->
//! `response_format`), `max_output_tokens` -> `max_tokens`, `temperature`, `top_p`, `stream`.
//! Answers: a `response` object with `message` (`output_text`, `refusal`) and `function_call`
//! output items, `usage` with `input_tokens_details.cached_tokens`, `status` `incomplete` with
//! `incomplete_details.reason` when the output was cut (`max_output_tokens`, `content_filter`);
//! streams as Responses' event sequence with `sequence_number`s.
//!
//! Stateless: `previous_response_id`, `conversation`, `background: true`, `store: true` and
//! `item_reference` items are refused with a 400 naming the parameter (modelgate keeps no
//! responses); `store: false` or absent is fine.
//!
//! Refused with a 400 naming the parameter: tools other than functions (OpenAI's built-in tools
//! run on OpenAI's side), a `tool_choice` naming a built-in tool or `allowed_tools`, `prompt`
//! templates, input files and audio, `top_logprobs` above 0, and any unmodelled field not
//! listed below.
//!
//! Documented drops: `reasoning`, `include`, `truncation`, `user`, `service_tier`,
//! `prompt_cache_key`, `safety_identifier`, `stream_options`, `max_tool_calls`, `metadata`
//! (repeated in the answer, not sent), `text.verbosity`, `reasoning` input items (a previous
//! answer's reasoning, which chat completions cannot take back), an item's `id` and `status`.

mod error;
mod request;
mod response;
mod stream;

#[cfg(test)]
mod tests;

pub use error::error;
pub use request::{request, ResponsesRequest, Translated};
pub use response::{chat_completion, response};
pub use stream::{chat_chunk, Event, Stream};

use serde_json::{Map, Value};

/// What a Responses answer repeats and is named by.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// `resp_...`; output item ids are made from it.
    pub id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The model name the client sent.
    pub model: String,
    /// Request fields a `response` object repeats (`instructions`, `tools`, `text`, ...), from
    /// [`Translated::echo`].
    pub echo: Map<String, Value>,
}

impl Context {
    /// The id part after `resp_`, shared by the output items' ids.
    fn suffix(&self) -> &str {
        self.id.strip_prefix("resp_").unwrap_or(&self.id)
    }

    fn message_id(&self) -> String {
        format!("msg_{}", self.suffix())
    }

    fn function_call_id(&self, index: usize) -> String {
        format!("fc_{}_{index}", self.suffix())
    }
}
