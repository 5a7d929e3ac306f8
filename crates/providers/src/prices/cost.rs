//! A request's cost from its token counts and its model's price.

use super::ModelPrice;

/// What one request used, in modelgate's convention: `input` counts **every** input token,
/// cached or not, and `cache_read` / `cache_write` say how many of them the provider's prompt
/// cache served or stored. This is the usage records' convention (the usage tap adds
/// Anthropic's cache counts to its input), and each provider family maps to it:
///
/// - OpenAI and the OpenAI-compatible providers (Azure, Mistral, DeepSeek, Groq, xAI, Cerebras):
///   `prompt_tokens` already includes `prompt_tokens_details.cached_tokens`; no cache writes are
///   reported: [`TokenCounts::openai`].
/// - Anthropic (also Claude on Vertex): `input_tokens` excludes `cache_read_input_tokens` and
///   `cache_creation_input_tokens`: [`TokenCounts::anthropic`] adds them.
/// - Gemini and Vertex Gemini: `promptTokenCount` includes `cachedContentTokenCount`; output is
///   billed as `candidatesTokenCount` plus `thoughtsTokenCount`: [`TokenCounts::gemini`].
/// - Cohere: no prompt cache; `input` and `output` from `usage.tokens` (or `billed_units`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenCounts {
    /// Every input token, including those read from or written to the cache.
    pub input: u64,
    /// Output tokens, reasoning included.
    pub output: u64,
    /// Input tokens read from the prompt cache (part of `input`).
    pub cache_read: u64,
    /// Input tokens written to the prompt cache (part of `input`).
    pub cache_write: u64,
    /// Images generated.
    pub images: u64,
}

impl TokenCounts {
    /// From an OpenAI-style `usage`: `prompt_tokens`, `completion_tokens`,
    /// `prompt_tokens_details.cached_tokens`.
    pub fn openai(prompt_tokens: u64, completion_tokens: u64, cached_tokens: u64) -> TokenCounts {
        TokenCounts {
            input: prompt_tokens,
            output: completion_tokens,
            cache_read: cached_tokens,
            ..TokenCounts::default()
        }
    }

    /// From an Anthropic `usage`: `input_tokens`, `output_tokens`, `cache_read_input_tokens`,
    /// `cache_creation_input_tokens` (the cache counts are not part of `input_tokens`).
    pub fn anthropic(input_tokens: u64, output_tokens: u64, cache_read: u64, cache_creation: u64) -> TokenCounts {
        TokenCounts {
            input: input_tokens.saturating_add(cache_read).saturating_add(cache_creation),
            output: output_tokens,
            cache_read,
            cache_write: cache_creation,
            images: 0,
        }
    }

    /// From a Gemini `usageMetadata`: `promptTokenCount`, `candidatesTokenCount` plus
    /// `thoughtsTokenCount`, `cachedContentTokenCount`.
    pub fn gemini(prompt_tokens: u64, output_tokens: u64, cached_content_tokens: u64) -> TokenCounts {
        TokenCounts::openai(prompt_tokens, output_tokens, cached_content_tokens)
    }
}

/// The cost in USD: uncached input at the input price, cache reads and writes at their prices
/// (the input price where the catalogue has none), output, the per-request price once and the
/// per-image price per image. Cache counts above `input` (a provider's inconsistency) are
/// priced as given and leave no negative uncached input.
pub fn cost(price: &ModelPrice, tokens: &TokenCounts) -> f64 {
    let uncached = tokens.input.saturating_sub(tokens.cache_read).saturating_sub(tokens.cache_write);
    uncached as f64 * price.input
        + tokens.cache_read as f64 * price.cache_read.unwrap_or(price.input)
        + tokens.cache_write as f64 * price.cache_write.unwrap_or(price.input)
        + tokens.output as f64 * price.output
        + price.per_request
        + tokens.images as f64 * price.per_image
}
