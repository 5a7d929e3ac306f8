//! What the usage API asks of the store: sums over a range of usage records, computed where the
//! records are (the database), so that a report costs memory by the size of its answer (its
//! buckets, latency bins and groups), never by the number of records it covers.

use crate::{Micros, StoreError};
use async_trait::async_trait;

/// Which usage records a report covers: those of some workspaces (usually one) in `[from, to)`,
/// optionally only one model's and one key's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageFilter {
    /// At least one workspace (none covers nothing).
    pub workspaces: Vec<String>,
    pub model: Option<String>,
    /// Only this credential: an API key id, or a service account's client id for the requests
    /// it made with access tokens (the record's `key_id`, else its `subject`).
    pub key: Option<String>,
    /// First instant included.
    pub from: Micros,
    /// First instant excluded.
    pub to: Micros,
}

/// A dimension usage is grouped by. A new one is a new variant and a new field of [`UsageGroup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UsageDimension {
    /// The workspace (useful over several: [`UsageFilter::workspaces`]).
    Workspace,
    Model,
    /// The credential: the API key id, or the subject when the record has none (access tokens).
    Key,
}

/// Sums over a set of requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageSums {
    pub requests: i64,
    /// Requests answered with a status of 400 or more.
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
    /// Input tokens read from providers' prompt caches (part of `input_tokens`).
    pub cache_read_tokens: i64,
    /// Input tokens written to providers' prompt caches (part of `input_tokens`).
    pub cache_write_tokens: i64,
    /// The cost of the priced requests, in billionths of a US dollar.
    pub cost_nano_usd: i64,
    /// Requests whose cost is known (the others' model had no price).
    pub priced_requests: i64,
}

impl UsageSums {
    /// Adds another set's sums to these (saturating).
    pub fn add(&mut self, other: &UsageSums) {
        self.requests = self.requests.saturating_add(other.requests);
        self.errors = self.errors.saturating_add(other.errors);
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.total_tokens = self.total_tokens.saturating_add(other.total_tokens);
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(other.cache_read_tokens);
        self.cache_write_tokens = self.cache_write_tokens.saturating_add(other.cache_write_tokens);
        self.cost_nano_usd = self.cost_nano_usd.saturating_add(other.cost_nano_usd);
        self.priced_requests = self.priced_requests.saturating_add(other.priced_requests);
    }
}

/// Latency percentiles in milliseconds (estimated from bins, see the store's documentation);
/// `None` when no request is counted. `max` is exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencyPercentiles {
    pub p50: Option<i64>,
    pub p90: Option<i64>,
    pub p99: Option<i64>,
    pub max: Option<i64>,
}

/// One bucket of a [`UsageSeries`] that holds at least one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageBucketSums {
    /// Start of the bucket: a multiple of the interval, counted from the Unix epoch.
    pub start: Micros,
    pub sums: UsageSums,
    pub latency_ms_p50: Option<i64>,
}

/// The totals of a filter's records and their series in buckets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageSeries {
    pub totals: UsageSums,
    pub latency_ms: LatencyPercentiles,
    /// Over the requests that got a first byte from their provider.
    pub ttfb_ms: LatencyPercentiles,
    /// The buckets holding requests, oldest first (empty buckets are left out).
    pub buckets: Vec<UsageBucketSums>,
}

/// The sums of one group; the fields of the dimensions not grouped by are `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageGroup {
    pub workspace: Option<String>,
    pub model: Option<String>,
    /// The credential (see [`UsageDimension::Key`]).
    pub key: Option<String>,
    /// The principal the credential belongs to (with [`UsageDimension::Key`]).
    pub subject: Option<String>,
    pub sums: UsageSums,
}

/// The groups with the most requests first, at most the limit asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageGroups {
    pub groups: Vec<UsageGroup>,
    /// More groups exist than were returned.
    pub truncated: bool,
}

/// Usage summed by the store, for the usage API.
#[async_trait]
pub trait UsageReportStore: Send + Sync + 'static {
    /// Totals and a series of `interval`-wide buckets aligned from the Unix epoch. The caller
    /// bounds the number of buckets (`(to - from) / interval`).
    async fn usage_series(&self, filter: &UsageFilter, interval: Micros) -> Result<UsageSeries, StoreError>;

    /// Sums per distinct value of `by` (at least one dimension), the `limit` groups with the most
    /// requests.
    async fn usage_groups(
        &self,
        filter: &UsageFilter,
        by: &[UsageDimension],
        limit: usize,
    ) -> Result<UsageGroups, StoreError>;
}
