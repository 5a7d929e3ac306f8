//! Anthropic Messages (`POST /v1/messages`) as a client API for models that do not speak it,
//! through OpenAI chat: a Messages request becomes a [`ChatRequest`] (sent as it is to
//! OpenAI-compatible providers, or through another provider's translator), and the chat answer
//! (completion, chunks, error) comes back as Anthropic's message, events and error body.
//!
//! Requests: `system` (a string or text blocks, joined by newlines) -> a system message; user and
//! assistant turns with text, images (`base64` -> a `data:` URL, `url` as is), `tool_use` ->
//! `tool_calls` (input as the JSON arguments string), `tool_result` -> tool messages (text; an
//! `is_error` result is prefixed `Tool error: `; images a tool returned follow in a user message,
//! as OpenAI's tool messages hold text only); text-only user content is sent as one string (blocks
//! joined by newlines), which every OpenAI-compatible API reads; `tools` (`input_schema` ->
//! `parameters`); `tool_choice` `auto` / `any` / `tool` / `none` -> `auto` / `required` / the named
//! function / `none`, `disable_parallel_tool_use` -> `parallel_tool_calls: false`;
//! `stop_sequences` -> `stop`; `max_tokens`, `temperature`, `top_p`, `stream`.
//!
//! Dropped, documented: `metadata`, `thinking` (the provider's own reasoning settings apply),
//! `top_k` (OpenAI's API has no such parameter), `cache_control` and `citations` on blocks,
//! `thinking` / `redacted_thinking` blocks of earlier turns, and top-level fields this module does
//! not know (newer Anthropic options). Refused with a 400 naming the field: Anthropic's own tools
//! (`tools[i].type` such as `web_search_20250305`), `mcp_servers`, `container`, document and other
//! block types, a `tool_choice` that forces a tool without tools, `max_tokens: 0`.
//!
//! Answers: text -> a `text` block, tool calls -> `tool_use` blocks (arguments parsed; arguments
//! that are not a JSON object are kept as `{"arguments": "<text>"}`), a refusal -> a `text` block
//! with stop reason `refusal`; finish reasons `stop` -> `end_turn`, `length` -> `max_tokens`,
//! `tool_calls` -> `tool_use`, `content_filter` -> `refusal`. OpenAI's answers do not say whether a
//! stop sequence ended the text, so `stop_sequence` is not reported (`end_turn`). Usage:
//! `input_tokens` = prompt tokens less cached ones, `cache_read_input_tokens` = OpenAI's
//! `cached_tokens` when reported, `output_tokens` = completion tokens. In streams, usage comes at
//! the end, so `message_start` carries zero tokens and `message_delta` the counts (input included).

mod count_tokens;
mod error;
mod request;
mod response;
mod stream;
pub mod wire;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

pub use count_tokens::{count_tokens_answer, gemini_count_tokens};
pub use error::{error_body, error_type, from_openai, from_openai_bytes};
pub use request::request;
pub use response::{lenient_completion, response, response_from_json};
pub use stream::Stream;

use crate::openai::Usage;
use wire::MessageUsage;

/// Anthropic's stop reason for OpenAI's finish reason.
fn stop_reason(finish_reason: &str) -> &'static str {
    match finish_reason {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        // stop, and finish reasons newer than this translator.
        _ => "end_turn",
    }
}

/// OpenAI's usage as Anthropic counts it: cache reads apart from the other input tokens.
fn usage(usage: &Usage) -> MessageUsage {
    let cached = usage.prompt_tokens_details.as_ref().map(|d| d.cached_tokens);
    MessageUsage {
        input_tokens: usage.prompt_tokens.saturating_sub(cached.unwrap_or(0)),
        output_tokens: usage.completion_tokens,
        cache_read_input_tokens: cached,
    }
}
