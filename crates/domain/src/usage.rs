//! One metered inference request, as the inference plane records it and the usage API sums it.

use crate::timestamp::Micros;

/// What one request through the inference plane used and how it went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageRecord {
    /// When the request arrived.
    pub at: Micros,
    pub workspace: String,
    pub model: String,
    /// The caller: a service account's client id or a user's subject.
    pub subject: String,
    /// The API key's id (`ak_...`), or `None` for an access token.
    pub key_id: Option<String>,
    /// Runtime type of the model (`openai`, `anthropic`, ...).
    pub provider: String,
    /// HTTP status the client received.
    pub status: u16,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
    /// From arrival to the last byte sent to the client.
    pub latency_ms: i64,
    /// From arrival to the first response byte from the provider; `None` if none came.
    pub ttfb_ms: Option<i64>,
}
