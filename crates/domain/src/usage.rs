//! One metered inference request, as the inference plane records it and the usage API sums it.

use crate::timestamp::Micros;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

/// Costs are counted in billionths of a US dollar: integers, so sums are exact and the same in
/// any order (a request's cost is rounded to the nearest billionth once, when it is recorded).
pub const NANO_USD_PER_USD: f64 = 1e9;

/// `usd` in billionths of a dollar, rounded; saturating at the bounds of `i64`.
pub fn nano_usd(usd: f64) -> i64 {
    // `as` saturates (and maps NaN to 0), which is what an untrusted count should do here.
    (usd * NANO_USD_PER_USD).round() as i64
}

/// Billionths of a dollar in dollars.
pub fn usd(nano_usd: i64) -> f64 {
    nano_usd as f64 / NANO_USD_PER_USD
}

/// What one request through the inference plane used and how it went. Serialized (JSON, these
/// field names) only in the usage writer's local spool.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// Made with the record ([`UsageRecordId::next`]); the store writes a record once per id, so
    /// a batch written again after an ambiguous failure adds nothing. `None` for rows stored
    /// before records had ids.
    #[serde(default)]
    pub id: Option<UsageRecordId>,
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
    /// Input tokens the provider read from its prompt cache (part of `input_tokens`).
    #[serde(default)]
    pub cache_read_tokens: i64,
    /// Input tokens the provider wrote to its prompt cache (part of `input_tokens`; Anthropic).
    #[serde(default)]
    pub cache_write_tokens: i64,
    /// What the request cost, in billionths of a US dollar (integers sum exactly); `None` when
    /// the model has no known price (never 0 for "unknown").
    #[serde(default)]
    pub cost_nano_usd: Option<i64>,
    /// From arrival to the last byte sent to the client.
    pub latency_ms: i64,
    /// From arrival to the first response byte from the provider; `None` if none came.
    pub ttfb_ms: Option<i64>,
}

/// A usage record's unique id: 16 bytes, a random prefix drawn once per process followed by a
/// counter (both big-endian, so one process's ids are ascending and its index inserts append).
/// Making one costs an atomic increment: no system call, no allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsageRecordId([u8; 16]);

/// This process's id prefix: 64 random bits, so two processes share one with a chance of 2^-64.
static ID_PREFIX: LazyLock<[u8; 8]> = LazyLock::new(|| rand::random::<u64>().to_be_bytes());
static ID_COUNTER: AtomicU64 = AtomicU64::new(0);

impl UsageRecordId {
    /// A new id, never made before by this process nor (but for a 2^-64 chance) by another.
    pub fn next() -> UsageRecordId {
        let count = ID_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&*ID_PREFIX);
        bytes[8..].copy_from_slice(&count.to_be_bytes());
        UsageRecordId(bytes)
    }

    /// The id's 16 bytes, as stored.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The id of 16 stored bytes; `None` for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Option<UsageRecordId> {
        bytes.try_into().ok().map(UsageRecordId)
    }
}

impl fmt::Display for UsageRecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for UsageRecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UsageRecordId({self})")
    }
}

impl Serialize for UsageRecordId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UsageRecordId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<UsageRecordId, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let bytes = hex::decode(text.as_bytes()).map_err(serde::de::Error::custom)?;
        UsageRecordId::from_bytes(&bytes).ok_or_else(|| serde::de::Error::custom("a usage record id is 16 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_ascending_and_share_the_process_prefix() {
        let ids: Vec<UsageRecordId> = (0..1_000).map(|_| UsageRecordId::next()).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(ids.iter().all(|id| id.as_bytes()[..8] == ids[0].as_bytes()[..8]));
    }

    #[test]
    fn ids_round_trip_through_bytes_and_json() {
        let id = UsageRecordId::next();
        assert_eq!(UsageRecordId::from_bytes(id.as_bytes()), Some(id));
        assert_eq!(UsageRecordId::from_bytes(&[1, 2, 3]), None);
        let record = UsageRecord { id: Some(id), model: "m".into(), ttfb_ms: Some(3), ..Default::default() };
        let json = serde_json::to_string(&record).unwrap();
        assert!(json.contains(&format!("\"id\":\"{id}\"")), "{json}");
        assert_eq!(serde_json::from_str::<UsageRecord>(&json).unwrap(), record);
        assert!(serde_json::from_str::<UsageRecordId>("\"00ff\"").is_err());
        assert!(serde_json::from_str::<UsageRecordId>("\"not hex\"").is_err());
    }
}
