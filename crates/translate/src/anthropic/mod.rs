//! OpenAI chat completions <-> Anthropic Messages (`POST /v1/messages`).
//!
//! Requests: system and developer messages become the top-level `system` (as text blocks, in
//! order, wherever they appear in the conversation); consecutive messages of one role are merged
//! so that user and assistant turns alternate; tool results become `tool_result` blocks of a user
//! turn; images become `image` blocks (`base64` from a `data:` URL, `url` from an http(s) URL);
//! `max_tokens` is always sent (the client's cap, else [`crate::RequestContext::default_max_tokens`]).
//!
//! JSON mode: Anthropic has no `response_format`. As LiteLLM does, `json_object` and
//! `json_schema` become a tool named [`JSON_OUTPUT_TOOL`] whose `input_schema` is the requested
//! schema (`{"type": "object"}` for `json_object`), forced with `tool_choice`. The answer's
//! `json_output` call is returned as the message `content` (a JSON string) with finish reason
//! `stop`, in responses and streams alike. Forced tool use makes Claude start with the tool call,
//! so no text precedes it; should a response still carry text beside it, the text is dropped to
//! keep `content` valid JSON. Because the name is reserved, a client tool named `json_output` is
//! refused, and JSON mode together with client tools is refused (`response_format`).
//!
//! Refused with a 400 naming the parameter: `n` other than 1, `logprobs: true`, `top_logprobs`,
//! non-zero `presence_penalty` / `frequency_penalty`, `temperature` or `top_p` outside 0..=1
//! (Anthropic's range; never clamped), whitespace-only `stop` sequences (Anthropic rejects them),
//! a `max_tokens` of 0, content parts other than text and images (audio, files, refusal parts),
//! images outside user and tool messages, image media types Anthropic does not read, tool call
//! arguments that are not a JSON object, `tool_choice` `required` or a named function without
//! tools, tools of a type other than `function`, and any unmodelled request field not listed
//! below (`logit_bias`, `functions`, `modalities`, `reasoning_effort`, ...).
//!
//! Translated from unmodelled fields: `top_k` (Anthropic's own sampling parameter, sent as is);
//! `safety_identifier` as `metadata.user_id` when `user` is absent.
//!
//! Dropped (documented, they do not change the answer's meaning): `seed` (Anthropic has no
//! seeding), `strict` on tools and `json_schema` (the schema is sent, but adherence is the
//! model's, not guaranteed by constrained decoding), message `name`s, an assistant message's
//! `refusal`, the image `detail` hint, `stream_options` (the gateway handles `include_usage`),
//! `parallel_tool_calls` when no tool can be called, and the harmless unmodelled fields
//! `metadata`, `store`, `service_tier`, `prompt_cache_key`, `prompt_cache_retention`.
//!
//! Responses: text blocks are joined into `content` (`null` when there are none); `tool_use`
//! blocks become `tool_calls`; `thinking`, `redacted_thinking` and server-tool blocks are ignored.
//! `prompt_tokens` counts all input (`input_tokens` + cache writes + cache reads) and
//! `cached_tokens` the cache reads.

mod error;
mod request;
mod response;
mod stream;
#[cfg(test)]
mod tests;

pub use error::error;
pub use request::request;
pub use response::response;
pub use stream::Stream;

use crate::openai::{PromptTokensDetails, Usage};
use serde_json::Value;

/// The tool that carries JSON-mode answers; its calls are returned as content, not tool calls.
pub const JSON_OUTPUT_TOOL: &str = "json_output";

/// OpenAI's finish reason for Anthropic's `stop_reason`. `json_answer`: the tool call that ended
/// the turn is a JSON-mode answer, which OpenAI reports as a plain `stop`.
fn finish_reason(stop_reason: &str, json_answer: bool) -> String {
    let reason = match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" if !json_answer => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn, and stop reasons newer than this translator.
        _ => "stop",
    };
    reason.to_string()
}

/// Anthropic's token counts, updated field by field as a message and its stream report them.
#[derive(Clone, Copy, Debug, Default)]
struct Tokens {
    input: u64,
    cache_creation: u64,
    /// `None` until Anthropic reports cache reads, so no `cached_tokens` is invented.
    cache_read: Option<u64>,
    output: u64,
}

impl Tokens {
    /// Overwrites the counts present in an Anthropic `usage` object (stream counts are cumulative).
    fn update(&mut self, usage: &Value) {
        let count = |field: &str| usage.get(field).and_then(Value::as_u64);
        if let Some(n) = count("input_tokens") {
            self.input = n;
        }
        if let Some(n) = count("cache_creation_input_tokens") {
            self.cache_creation = n;
        }
        if let Some(n) = count("cache_read_input_tokens") {
            self.cache_read = Some(n);
        }
        if let Some(n) = count("output_tokens") {
            self.output = n;
        }
    }

    fn usage(&self) -> Usage {
        // A provider's counts are untrusted: sums saturate rather than overflow.
        let prompt_tokens = self.input.saturating_add(self.cache_creation).saturating_add(self.cache_read.unwrap_or(0));
        Usage {
            prompt_tokens,
            completion_tokens: self.output,
            total_tokens: prompt_tokens.saturating_add(self.output),
            // Details when Anthropic reported cache use: reads for the client, writes for metering.
            prompt_tokens_details: (self.cache_read.is_some() || self.cache_creation > 0).then(|| {
                PromptTokensDetails {
                    cached_tokens: self.cache_read.unwrap_or(0),
                    cache_write_tokens: self.cache_creation,
                }
            }),
        }
    }
}
