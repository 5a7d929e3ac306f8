//! OpenAI chat completions <-> Cohere v2 chat (`POST /v2/chat`), in both directions.
//!
//! Translated: system/developer/user/assistant/tool messages (user images as Cohere's
//! `image_url` parts, data: and https URLs as they are), tools and `tool_choice`
//! (`required` -> `REQUIRED`, `none` -> `NONE`, `auto` omitted, a named function that is the
//! only tool offered -> `REQUIRED`), `strict_tools`, JSON mode and
//! JSON schema (`response_format`), sampling (`temperature`, `top_p` -> `p`, penalties, `seed`),
//! `stop` -> `stop_sequences`, `max_completion_tokens`/`max_tokens` -> `max_tokens`; responses,
//! typed SSE streams and `{"message"}` error bodies back to OpenAI's shapes.
//!
//! Refused with a 400 naming the parameter: `n` other than 1, `logprobs`/`top_logprobs`,
//! content parts that are neither text nor image (and images outside user messages), a named
//! function in `tool_choice` among several tools (Cohere can only force *some* tool), tools that
//! are not functions, and any unmodelled request field not listed below.
//!
//! Documented drops and lossy mappings:
//! - `parallel_tool_calls: false` is accepted, though Cohere cannot cap the number of calls: the
//!   model may still call several tools in one turn.
//! - request: `user`, `metadata`, `store`, `service_tier`, `prompt_cache_key`,
//!   `safety_identifier`, `modalities: ["text"]`, message `name`s; `json_schema.name` and
//!   `strict` (Cohere always follows a given schema); `RequestContext::default_max_tokens`
//!   (Cohere has its own default and does not require a cap). `strict: true` on any tool turns
//!   on Cohere's `strict_tools`, which covers all tools: stricter, never looser.
//! - assistant history: text beside `tool_calls` goes as Cohere's `tool_plan` (Cohere rejects
//!   text `content` next to tool calls); a `refusal` without content goes as the content.
//! - response: `tool_plan` (tool-plan-delta in streams) and `thinking` content are Cohere's
//!   reasoning, not answer text; `citations`; `billed_units` when `tokens` is present.
//! - finish reasons `ERROR` and `TIMEOUT` become `stop` with whatever was generated: OpenAI has
//!   no finish reason for a generation the provider cut short on its side.
//! - stream events with no OpenAI counterpart (`content-start`/`-end`, `tool-call-end`,
//!   `citation-start`/`-end`, `debug`, unknown types) produce no chunk.

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
