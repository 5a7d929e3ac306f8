//! OpenAI chat completions <-> Google Gemini `generateContent` / `streamGenerateContent`
//! (`?alt=sse`). Vertex AI takes the same bodies; the inference plane maps the path.
//!
//! Translated: system/developer messages -> `systemInstruction`; user/assistant messages ->
//! `user`/`model` contents (consecutive same-role messages merged into one content); text parts,
//! images (`data:` URLs -> `inlineData`, http(s)/gs URLs -> `fileData` with a MIME type guessed
//! from the extension, `image/jpeg` by default); assistant `tool_calls` -> `functionCall` parts;
//! tool results -> `functionResponse` parts named after the assistant call with that
//! `tool_call_id` (Gemini matches results by name), the result parsed as a JSON object when it is
//! one, else `{"content": text}`; tools -> `functionDeclarations`; `tool_choice` ->
//! `toolConfig.functionCallingConfig` (`auto` -> AUTO, `none` -> NONE, `required` -> ANY, a named
//! function -> ANY + `allowedFunctionNames`); `temperature`, `top_p`, `max_completion_tokens` /
//! `max_tokens`, `stop`, `n`, penalties, `seed` and `response_format` (JSON mode, JSON schema) ->
//! `generationConfig`. JSON schemas (tool parameters, `json_schema`) are rewritten to Gemini's
//! OpenAPI subset, see `schema.rs`. Responses, SSE chunks and `{"error": {code, message, status}}`
//! bodies (bare or wrapped in an array) come back in OpenAI's shapes.
//!
//! Refused with a 400 naming the parameter: `logprobs`/`top_logprobs`, `n: 0`, content parts that
//! are neither text nor image (images in system messages too), image URLs that are neither
//! `data:` nor http(s)/gs, tool results whose `tool_call_id` no earlier assistant call has, tool
//! call arguments that are not a JSON object, tools that are not functions, a `tool_choice` that
//! forces a tool without tools or names an undeclared one, a `seed` outside 32 bits, schemas
//! Gemini cannot express (see `schema.rs`), and any unmodelled request field not listed below.
//!
//! Documented drops, none of which changes the answer:
//! - request: `user`, `parallel_tool_calls`, `metadata`, `store`, `service_tier`,
//!   `prompt_cache_key`, `safety_identifier`, `modalities: ["text"]`, unmodelled fields sent as
//!   `null`; message `name`s; image `detail`; tool `strict` and `json_schema.name`/`strict`;
//!   `RequestContext::default_max_tokens` (Gemini does not require an output cap). System
//!   messages anywhere in the conversation all join the one `systemInstruction`; an assistant
//!   `refusal` goes back as text. Replayed function calls carry Google's documented
//!   `skip_thought_signature_validator` in place of the `thoughtSignature` OpenAI's tool calls
//!   cannot keep (Gemini 3 refuses replayed calls without one).
//! - response: `thought` parts (Gemini's reasoning, not answer text), `thoughtSignature`s,
//!   `safetyRatings`, `citationMetadata`, `groundingMetadata`. Tool call ids are Gemini's
//!   `functionCall.id` when it sends one, else `call_{candidate}_{n}`.
//!   `completion_tokens` counts `candidatesTokenCount` + `thoughtsTokenCount` (both are billed
//!   as output) and `prompt_tokens` counts `promptTokenCount` + `toolUsePromptTokenCount`.
//! - finish reasons other than STOP, MAX_TOKENS and the safety ones (`OTHER`, `LANGUAGE`,
//!   `MALFORMED_FUNCTION_CALL`, ...) become `stop`: OpenAI has no counterpart.

mod error;
mod request;
mod response;
mod schema;
mod stream;

#[cfg(test)]
mod tests;

pub use error::error;
pub use request::request;
pub use response::response;
pub use stream::Stream;
