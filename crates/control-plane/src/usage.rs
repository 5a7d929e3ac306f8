//! `/usage` and `/models/{modelName}/usage`: what the inference plane metered, summed over a
//! time range `[from, to)` and cut into a series of buckets (modelgate's own API; Blaxel has
//! none).
//!
//! Buckets are aligned to the interval counted from the Unix epoch in UTC (a `1d` bucket starts
//! at midnight UTC); the first one starts at `from` aligned down, and every bucket, empty ones
//! included, is in the series. Only records in `[from, to)` count, in the totals and the buckets
//! alike. Percentiles are nearest-rank over the records' own values. Usage is history: a
//! deleted model's usage still answers.

use crate::auth::Caller;
use crate::error::{not_found, ApiError, Error};
use crate::extract::{Path, Query};
use crate::ControlPlane;
use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use modelgate_domain::timestamp::{now_micros, to_rfc3339, Micros};
use modelgate_domain::usage::UsageRecord;
use modelgate_domain::Scope;
use modelgate_store::{ResourceKey, ResourceKind, UsageQuery};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<Arc<ControlPlane>> {
    OpenApiRouter::new().routes(routes!(workspace_usage)).routes(routes!(model_usage))
}

const SECOND: Micros = 1_000_000;
const MINUTE: Micros = 60 * SECOND;
const HOUR: Micros = 60 * MINUTE;
const DAY: Micros = 24 * HOUR;
/// Range when `from` is not given: the day before `to`.
const DEFAULT_RANGE: Micros = DAY;
/// The default interval keeps the series at most this long.
const DEFAULT_MAX_BUCKETS: i64 = 100;
/// An interval giving more buckets than this is refused.
const MAX_BUCKETS: i64 = 1_000;
/// Longest interval accepted (keeps the bucket arithmetic far from overflow).
const MAX_INTERVAL: Micros = 3_650 * DAY;
/// Intervals the default is chosen from, shortest first; beyond, whole days.
const DEFAULT_INTERVALS: [Micros; 10] =
    [MINUTE, 5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 7 * DAY];

/// Query of the usage routes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// Start of the range, included, RFC 3339 (default: 24 hours before `to`)
    pub from: Option<String>,
    /// End of the range, excluded, RFC 3339 (default: now)
    pub to: Option<String>,
    /// Width of the series' buckets: a number and a unit `s`, `m`, `h`, `d` or `w` (`30s`, `5m`,
    /// `1h`, `1d`); at most 1000 buckets. Default: the shortest of 1m, 5m, 15m, 30m, 1h, 3h, 6h,
    /// 12h, 1d, 7d giving at most 100 buckets
    pub interval: Option<String>,
}

/// The `model` filter of `GET /usage`.
#[derive(Debug, Default, Deserialize)]
struct ModelFilter {
    model: Option<String>,
}

/// Usage metered by the inference plane over a time range.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    /// Workspace the usage belongs to
    #[schema(example = "default")]
    pub workspace: String,
    /// The model the report covers; null for every model of the workspace
    pub model: Option<String>,
    /// Start of the range, included (RFC 3339)
    pub from: String,
    /// End of the range, excluded (RFC 3339)
    pub to: String,
    /// Width of the series' buckets
    #[schema(example = "1h")]
    pub interval: String,
    pub totals: UsageTotals,
    /// One bucket per interval from `from` (aligned down to the interval, UTC) to `to`, empty
    /// buckets included
    pub series: Vec<UsageBucket>,
    /// Totals per model, by model name (`GET /usage` only)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_model: Option<Vec<ModelUsage>>,
}

/// Sums over every request in the range.
#[derive(Debug, Default, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UsageTotals {
    /// Requests metered
    pub requests: i64,
    /// Requests answered with an HTTP status of 400 or more
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
    /// From arrival to the last byte sent to the client
    pub latency_ms: Percentiles,
    /// From arrival to the provider's first byte, over the requests that got one
    pub ttfb_ms: Percentiles,
}

/// Nearest-rank percentiles in milliseconds; null when no request is counted.
#[derive(Debug, Default, Serialize, ToSchema, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: Option<i64>,
    pub p90: Option<i64>,
    pub p99: Option<i64>,
    pub max: Option<i64>,
}

/// Sums over the requests of one bucket of the series.
#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UsageBucket {
    /// Start of the bucket (RFC 3339); it ends where the next one starts
    pub start: String,
    pub requests: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
    /// Median latency in the bucket; null when it is empty
    pub latency_ms_p50: Option<i64>,
}

/// Sums over one model's requests in the range.
#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ModelUsage {
    pub model: String,
    pub requests: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
}

/// Usage of the workspace
///
/// Requests, errors, tokens and latency percentiles that the inference plane metered in the
/// caller's workspace over `[from, to)`, as totals, a series of buckets and a breakdown by model.
#[utoipa::path(get, path = "/usage", tag = "usage", operation_id = "GetWorkspaceUsage",
    params(UsageParams, ("model" = Option<String>, Query, description = "Only this model's usage")),
    responses(
        (status = 200, description = "The usage", body = UsageReport),
        (status = 400, description = "Invalid from, to or interval", body = Error),
        (status = 401, body = Error), (status = 403, body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["models:list"])))]
async fn workspace_usage(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<UsageReport>, ApiError> {
    caller.require(Scope::ModelsList)?;
    let window = Window::from_params(&query_params(&uri)?, now_micros())?;
    let model = query_params::<ModelFilter>(&uri)?.model.filter(|m| !m.is_empty());
    let query = window.query(&caller.workspace, model.clone());
    let records = state.store.query_usage(&query).await?;
    Ok(Json(report(&caller.workspace, model, &window, &records, true)))
}

/// Usage of a model endpoint
///
/// Requests, errors, tokens and latency percentiles that the inference plane metered for one
/// model over `[from, to)`. A deleted model's usage still answers.
#[utoipa::path(get, path = "/models/{modelName}/usage", tag = "usage", operation_id = "GetModelUsage",
    params(("modelName" = String, Path, description = "Name of the model endpoint"), UsageParams),
    responses(
        (status = 200, description = "The model's usage", body = UsageReport),
        (status = 400, description = "Invalid from, to or interval", body = Error),
        (status = 401, body = Error), (status = 403, body = Error),
        (status = 404, description = "No such model in the workspace, and no usage of that name in the range", body = Error),
        (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["models:get"])))]
async fn model_usage(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Json<UsageReport>, ApiError> {
    caller.require(Scope::ModelsGet)?;
    let window = Window::from_params(&query_params(&uri)?, now_micros())?;
    let records = state.store.query_usage(&window.query(&caller.workspace, Some(name.clone()))).await?;
    if records.is_empty() {
        let key = ResourceKey::new(&caller.workspace, ResourceKind::Model, &name);
        if state.store.get_resource(&key).await?.is_none() {
            return Err(not_found(ResourceKind::Model, &name, &caller.workspace));
        }
    }
    Ok(Json(report(&caller.workspace, Some(name), &window, &records, false)))
}

/// Parses the query string; done in the handler, after the scope check.
fn query_params<T: DeserializeOwned>(uri: &Uri) -> Result<T, ApiError> {
    Query::try_from_uri(uri).map(|Query(params)| params)
}

fn report(
    workspace: &str,
    model: Option<String>,
    window: &Window,
    records: &[UsageRecord],
    by_model: bool,
) -> UsageReport {
    let aggregate = aggregate(records, window);
    UsageReport {
        workspace: workspace.to_string(),
        model,
        from: to_rfc3339(window.from),
        to: to_rfc3339(window.to),
        interval: format_interval(window.interval),
        totals: aggregate.totals,
        series: aggregate.series,
        by_model: by_model.then_some(aggregate.by_model),
    }
}

/// A validated range `[from, to)` and the width of its buckets, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: Micros,
    pub to: Micros,
    pub interval: Micros,
}

impl Window {
    /// Validates the query parameters; `now` is the default `to`.
    pub fn from_params(params: &UsageParams, now: Micros) -> Result<Window, ApiError> {
        let to = match non_empty(&params.to) {
            Some(text) => parse_timestamp("to", text)?,
            None => now,
        };
        let from = match non_empty(&params.from) {
            Some(text) => parse_timestamp("from", text)?,
            None => to.saturating_sub(DEFAULT_RANGE),
        };
        if from >= to {
            return Err(ApiError::BadRequest(format!(
                "to: must be later than from ({} is not after {})",
                to_rfc3339(to),
                to_rfc3339(from)
            )));
        }
        let Some(text) = non_empty(&params.interval) else {
            return Ok(Window { from, to, interval: default_interval(from, to) });
        };
        let window = Window { from, to, interval: parse_interval(text)? };
        let buckets = window.buckets();
        if buckets > MAX_BUCKETS {
            return Err(ApiError::BadRequest(format!(
                "interval: {text} over this range gives {buckets} buckets, more than {MAX_BUCKETS}; \
                 choose a longer interval or a shorter range"
            )));
        }
        Ok(window)
    }

    /// Start of the first bucket: `from` aligned down to the interval.
    fn start(&self) -> Micros {
        self.from.div_euclid(self.interval) * self.interval
    }

    /// Number of buckets from the aligned start to `to` (at least one).
    fn buckets(&self) -> i64 {
        (self.to - self.start() - 1) / self.interval + 1
    }

    fn query(&self, workspace: &str, model: Option<String>) -> UsageQuery {
        UsageQuery { workspace: workspace.to_string(), model, from: self.from, to: self.to }
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn parse_timestamp(param: &str, text: &str) -> Result<Micros, ApiError> {
    // A '+' of an offset left unencoded in a query string arrives as a space.
    let parsed = OffsetDateTime::parse(text, &Rfc3339).or_else(|e| match text.contains(' ') {
        true => OffsetDateTime::parse(&text.replace(' ', "+"), &Rfc3339),
        false => Err(e),
    });
    let invalid = || {
        ApiError::BadRequest(format!("{param}: '{text}' is not an RFC 3339 timestamp; use e.g. 2026-01-15T10:00:00Z"))
    };
    let nanos = parsed.map_err(|_| invalid())?.unix_timestamp_nanos();
    Micros::try_from(nanos / 1_000).map_err(|_| invalid())
}

/// Parses `30s`, `5m`, `1h`, `1d`, `1w` into microseconds.
fn parse_interval(text: &str) -> Result<Micros, ApiError> {
    let invalid = |why: &str| ApiError::BadRequest(format!("interval: '{text}' {why}"));
    let split = text.len() - text.chars().last().map_or(0, char::len_utf8);
    let (digits, unit) = text.split_at(split);
    let unit = match unit {
        "s" => SECOND,
        "m" => MINUTE,
        "h" => HOUR,
        "d" => DAY,
        "w" => 7 * DAY,
        _ => return Err(invalid("is not an interval; use a number and a unit s, m, h, d or w: 30s, 5m, 1h, 1d")),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("is not an interval; use a number and a unit s, m, h, d or w: 30s, 5m, 1h, 1d"));
    }
    let count: i64 = digits.parse().map_err(|_| invalid("is too long"))?;
    match count.checked_mul(unit) {
        Some(0) => Err(invalid("is empty; the interval must be at least 1s")),
        Some(interval) if interval <= MAX_INTERVAL => Ok(interval),
        _ => Err(invalid("is too long; the longest interval is 3650d")),
    }
}

/// The interval in its largest whole unit (`60m` -> `1h`).
fn format_interval(interval: Micros) -> String {
    for (unit, suffix) in [(DAY, "d"), (HOUR, "h"), (MINUTE, "m")] {
        if interval % unit == 0 {
            return format!("{}{suffix}", interval / unit);
        }
    }
    format!("{}s", interval / SECOND)
}

/// The shortest usual interval giving at most [`DEFAULT_MAX_BUCKETS`]; whole days beyond.
fn default_interval(from: Micros, to: Micros) -> Micros {
    let fits = |interval: Micros| Window { from, to, interval }.buckets() <= DEFAULT_MAX_BUCKETS;
    if let Some(interval) = DEFAULT_INTERVALS.into_iter().find(|i| fits(*i)) {
        return interval;
    }
    let mut days = ((to - from) / (DEFAULT_MAX_BUCKETS * DAY)).max(1);
    while days * DAY < MAX_INTERVAL && !fits(days * DAY) {
        days += 1;
    }
    (days * DAY).min(MAX_INTERVAL)
}

/// What [`aggregate`] computes from the records of a window.
#[derive(Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Aggregate {
    totals: UsageTotals,
    series: Vec<UsageBucket>,
    by_model: Vec<ModelUsage>,
}

/// Running sums of a set of requests.
#[derive(Default)]
struct Sums {
    requests: i64,
    errors: i64,
    input_tokens: i64,
    output_tokens: i64,
    total_tokens: i64,
}

impl Sums {
    fn add(&mut self, record: &UsageRecord) {
        self.requests += 1;
        self.errors += i64::from(record.status >= 400);
        self.input_tokens = self.input_tokens.saturating_add(record.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(record.output_tokens);
        self.total_tokens = self.total_tokens.saturating_add(record.total_tokens);
    }
}

/// Sums the records that fall in `[window.from, window.to)` into totals, the series and the
/// per-model breakdown. Pure: the handlers' only logic worth a table of tests.
fn aggregate(records: &[UsageRecord], window: &Window) -> Aggregate {
    let start = window.start();
    let bucket_count = usize::try_from(window.buckets()).unwrap_or(0);
    let mut buckets: Vec<(Sums, Vec<i64>)> = (0..bucket_count).map(|_| (Sums::default(), Vec::new())).collect();
    let mut totals = Sums::default();
    let mut latencies = Vec::new();
    let mut ttfbs = Vec::new();
    let mut models: BTreeMap<&str, Sums> = BTreeMap::new();
    for record in records.iter().filter(|r| r.at >= window.from && r.at < window.to) {
        totals.add(record);
        latencies.push(record.latency_ms);
        ttfbs.extend(record.ttfb_ms);
        models.entry(&record.model).or_default().add(record);
        let index = usize::try_from((record.at - start) / window.interval).unwrap_or(usize::MAX);
        if let Some((sums, bucket_latencies)) = buckets.get_mut(index) {
            sums.add(record);
            bucket_latencies.push(record.latency_ms);
        }
    }
    let series = buckets
        .into_iter()
        .enumerate()
        .map(|(index, (sums, mut bucket_latencies))| {
            bucket_latencies.sort_unstable();
            UsageBucket {
                start: to_rfc3339(start + window.interval * index as i64),
                requests: sums.requests,
                errors: sums.errors,
                input_tokens: sums.input_tokens,
                output_tokens: sums.output_tokens,
                total_tokens: sums.total_tokens,
                latency_ms_p50: nearest_rank(&bucket_latencies, 50),
            }
        })
        .collect();
    Aggregate {
        totals: UsageTotals {
            requests: totals.requests,
            errors: totals.errors,
            input_tokens: totals.input_tokens,
            output_tokens: totals.output_tokens,
            total_tokens: totals.total_tokens,
            latency_ms: percentiles(latencies),
            ttfb_ms: percentiles(ttfbs),
        },
        series,
        by_model: models
            .into_iter()
            .map(|(model, sums)| ModelUsage {
                model: model.to_string(),
                requests: sums.requests,
                errors: sums.errors,
                input_tokens: sums.input_tokens,
                output_tokens: sums.output_tokens,
                total_tokens: sums.total_tokens,
            })
            .collect(),
    }
}

fn percentiles(mut values: Vec<i64>) -> Percentiles {
    values.sort_unstable();
    Percentiles {
        p50: nearest_rank(&values, 50),
        p90: nearest_rank(&values, 90),
        p99: nearest_rank(&values, 99),
        max: values.last().copied(),
    }
}

/// The nearest-rank `percent`-th percentile of sorted values: the smallest value with at least
/// `percent`% of the values at or below it.
fn nearest_rank(sorted: &[i64], percent: usize) -> Option<i64> {
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// 2026-01-15T00:00:00Z.
    const T0: Micros = 1_768_435_200 * SECOND;

    fn at(text: &str) -> Micros {
        parse_timestamp("at", text).unwrap()
    }

    /// A record: seconds after T0, model, status, input and output tokens, latency, ttfb.
    fn record(
        seconds: i64,
        model: &str,
        status: u16,
        tokens: (i64, i64),
        latency: i64,
        ttfb: Option<i64>,
    ) -> UsageRecord {
        UsageRecord {
            id: None,
            at: T0 + seconds * SECOND,
            workspace: "ws".into(),
            model: model.into(),
            subject: "sa".into(),
            key_id: None,
            provider: "openai".into(),
            status,
            input_tokens: tokens.0,
            output_tokens: tokens.1,
            total_tokens: tokens.0 + tokens.1,
            latency_ms: latency,
            ttfb_ms: ttfb,
        }
    }

    fn window(from_seconds: i64, to_seconds: i64, interval: Micros) -> Window {
        Window { from: T0 + from_seconds * SECOND, to: T0 + to_seconds * SECOND, interval }
    }

    /// Aggregates `records` over `window` and compares the JSON of every part in `expected`.
    fn check(records: &[UsageRecord], window: Window, expected: Value) {
        let actual = serde_json::to_value(aggregate(records, &window)).unwrap();
        for (part, value) in expected.as_object().unwrap() {
            assert_eq!(&actual[part], value, "{part} differs; whole aggregate: {actual:#}");
        }
    }

    fn bucket(start: &str, counts: [i64; 5], p50: Option<i64>) -> Value {
        json!({"start": start, "requests": counts[0], "errors": counts[1], "inputTokens": counts[2],
               "outputTokens": counts[3], "totalTokens": counts[4], "latencyMsP50": p50})
    }

    #[test]
    fn no_records_give_zeros_nulls_and_empty_buckets() {
        check(
            &[],
            window(0, 180, MINUTE),
            json!({
                "totals": {"requests": 0, "errors": 0, "inputTokens": 0, "outputTokens": 0, "totalTokens": 0,
                           "latencyMs": {"p50": null, "p90": null, "p99": null, "max": null},
                           "ttfbMs": {"p50": null, "p90": null, "p99": null, "max": null}},
                "series": [
                    bucket("2026-01-15T00:00:00Z", [0; 5], None),
                    bucket("2026-01-15T00:01:00Z", [0; 5], None),
                    bucket("2026-01-15T00:02:00Z", [0; 5], None),
                ],
                "byModel": [],
            }),
        );
    }

    #[test]
    fn totals_series_and_models() {
        let records = [
            record(5, "b", 200, (10, 5), 100, Some(20)),
            record(50, "a", 429, (0, 0), 10, None),
            record(70, "a", 200, (3, 4), 300, Some(40)),
            record(179, "b", 500, (1, 0), 50, Some(30)),
            record(180, "b", 200, (100, 100), 1, Some(1)), // at `to`: excluded
            record(-1, "b", 200, (100, 100), 1, Some(1)),  // before `from`: excluded
        ];
        check(
            &records,
            window(0, 180, MINUTE),
            json!({
                "totals": {"requests": 4, "errors": 2, "inputTokens": 14, "outputTokens": 9, "totalTokens": 23,
                           "latencyMs": {"p50": 50, "p90": 300, "p99": 300, "max": 300},
                           "ttfbMs": {"p50": 30, "p90": 40, "p99": 40, "max": 40}},
                "series": [
                    bucket("2026-01-15T00:00:00Z", [2, 1, 10, 5, 15], Some(10)),
                    bucket("2026-01-15T00:01:00Z", [1, 0, 3, 4, 7], Some(300)),
                    bucket("2026-01-15T00:02:00Z", [1, 1, 1, 0, 1], Some(50)),
                ],
                "byModel": [
                    {"model": "a", "requests": 2, "errors": 1, "inputTokens": 3, "outputTokens": 4, "totalTokens": 7},
                    {"model": "b", "requests": 2, "errors": 1, "inputTokens": 11, "outputTokens": 5, "totalTokens": 16},
                ],
            }),
        );
    }

    #[test]
    fn errors_are_statuses_of_400_and_more() {
        let records: Vec<UsageRecord> =
            [200, 204, 399, 400, 404, 429, 500, 503].iter().map(|s| record(1, "m", *s, (0, 0), 1, None)).collect();
        check(
            &records,
            window(0, 60, MINUTE),
            json!({"totals": {"requests": 8, "errors": 5, "inputTokens": 0,
            "outputTokens": 0, "totalTokens": 0, "latencyMs": {"p50": 1, "p90": 1, "p99": 1, "max": 1},
            "ttfbMs": {"p50": null, "p90": null, "p99": null, "max": null}}}),
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        // Latencies 1..=100 in reverse order: the p-th percentile is p itself.
        let records: Vec<UsageRecord> =
            (1..=100).rev().map(|ms| record(1, "m", 200, (0, 0), ms, Some(ms * 2))).collect();
        check(
            &records,
            window(0, 60, MINUTE),
            json!({"totals": {"requests": 100, "errors": 0, "inputTokens": 0, "outputTokens": 0, "totalTokens": 0,
                              "latencyMs": {"p50": 50, "p90": 90, "p99": 99, "max": 100},
                              "ttfbMs": {"p50": 100, "p90": 180, "p99": 198, "max": 200}}}),
        );
        for (values, percent, expected) in [
            (&[7][..], 50, Some(7)),
            (&[7][..], 99, Some(7)),
            (&[1, 2][..], 50, Some(1)),
            (&[1, 2][..], 51, Some(2)),
            (&[1, 2, 3, 4][..], 90, Some(4)),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10][..], 90, Some(9)),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10][..], 99, Some(10)),
            (&[][..], 50, None),
        ] {
            assert_eq!(nearest_rank(values, percent), expected, "p{percent} of {values:?}");
        }
    }

    #[test]
    fn buckets_start_at_from_aligned_down_and_end_at_to() {
        // from 00:01:30, to 00:04:10, 1m: buckets 00:01, 00:02, 00:03, 00:04; records at 00:01:40
        // and 00:04:05 count, one at 00:01:10 (before from) does not.
        let records = [
            record(70, "m", 200, (1, 1), 5, None),
            record(100, "m", 200, (1, 1), 6, None),
            record(245, "m", 200, (2, 2), 7, None),
        ];
        check(
            &records,
            window(90, 250, MINUTE),
            json!({"series": [
                bucket("2026-01-15T00:01:00Z", [1, 0, 1, 1, 2], Some(6)),
                bucket("2026-01-15T00:02:00Z", [0; 5], None),
                bucket("2026-01-15T00:03:00Z", [0; 5], None),
                bucket("2026-01-15T00:04:00Z", [1, 0, 2, 2, 4], Some(7)),
            ]}),
        );
        // Days align to midnight UTC.
        let day = Window { from: at("2026-01-15T18:00:00Z"), to: at("2026-01-17T06:00:00Z"), interval: DAY };
        let starts: Vec<String> = aggregate(&[], &day).series.into_iter().map(|b| b.start).collect();
        assert_eq!(starts, ["2026-01-15T00:00:00Z", "2026-01-16T00:00:00Z", "2026-01-17T00:00:00Z"]);
    }

    #[test]
    fn intervals() {
        for (text, expected) in [
            ("1s", SECOND),
            ("30s", 30 * SECOND),
            ("1m", MINUTE),
            ("5m", 5 * MINUTE),
            ("1h", HOUR),
            ("1d", DAY),
            ("2w", 14 * DAY),
            ("3650d", MAX_INTERVAL),
        ] {
            assert_eq!(parse_interval(text).unwrap(), expected, "{text}");
        }
        for bad in ["", "m", "1", "0m", "-1m", "1.5h", "1x", "h1", "1 h", "1é", "99999999999999999999d", "3651d"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
        for (interval, text) in [
            (SECOND, "1s"),
            (90 * SECOND, "90s"),
            (60 * MINUTE, "1h"),
            (90 * MINUTE, "90m"),
            (48 * HOUR, "2d"),
            (7 * DAY, "7d"),
        ] {
            assert_eq!(format_interval(interval), text);
        }
    }

    fn params(from: Option<&str>, to: Option<&str>, interval: Option<&str>) -> UsageParams {
        UsageParams { from: from.map(Into::into), to: to.map(Into::into), interval: interval.map(Into::into) }
    }

    fn message(error: ApiError) -> String {
        match error {
            ApiError::BadRequest(message) => message,
            other => panic!("not a 400: {other:?}"),
        }
    }

    #[test]
    fn windows_from_params() {
        let now = at("2026-01-15T12:34:56.789Z");
        // Defaults: the last 24 hours, in 15-minute buckets (97 with the unaligned start).
        let w = Window::from_params(&params(None, None, None), now).unwrap();
        assert_eq!((w.from, w.to, w.interval), (now - DAY, now, 15 * MINUTE));
        assert_eq!(w.buckets(), 97);
        // `to` alone: the day before it; `from` alone: until now.
        let w = Window::from_params(&params(None, Some("2026-01-10T00:00:00Z"), Some("1h")), now).unwrap();
        assert_eq!((w.from, w.to, w.interval), (at("2026-01-09T00:00:00Z"), at("2026-01-10T00:00:00Z"), HOUR));
        let w = Window::from_params(&params(Some("2026-01-15T12:00:00Z"), None, None), now).unwrap();
        assert_eq!((w.from, w.to, w.interval), (at("2026-01-15T12:00:00Z"), now, MINUTE));
        // Offsets, and a '+' that arrived as a space.
        let offsets = params(Some("2026-01-15T02:00:00+02:00"), Some("2026-01-15T03:00:00 01:00"), None);
        let w = Window::from_params(&offsets, now).unwrap();
        assert_eq!((w.from, w.to), (at("2026-01-15T00:00:00Z"), at("2026-01-15T02:00:00Z")));
        // Default intervals for longer ranges.
        for (from, to, expected) in [
            ("2026-01-15T00:00:00Z", "2026-01-15T01:00:00Z", MINUTE),
            ("2026-01-08T00:00:00Z", "2026-01-15T00:00:00Z", 3 * HOUR),
            ("2025-12-15T00:00:00Z", "2026-01-15T00:00:00Z", 12 * HOUR),
            ("2025-10-15T00:00:00Z", "2026-01-15T00:00:00Z", DAY),
            ("2025-01-15T00:00:00Z", "2026-01-15T00:00:00Z", 7 * DAY),
            ("2016-01-15T00:00:00Z", "2026-01-15T00:00:00Z", 37 * DAY),
        ] {
            let w = Window::from_params(&params(Some(from), Some(to), None), now).unwrap();
            assert_eq!(w.interval, expected, "{from}..{to}: {}", format_interval(w.interval));
            assert!(w.buckets() <= DEFAULT_MAX_BUCKETS);
        }
        // Errors name the parameter.
        for (p, starts) in [
            (params(Some("yesterday"), None, None), "from: "),
            (params(None, Some("2026-01-15"), None), "to: "),
            (params(Some("2026-01-15T00:00:00Z"), Some("2026-01-15T00:00:00Z"), None), "to: "),
            (params(Some("2026-01-16T00:00:00Z"), Some("2026-01-15T00:00:00Z"), None), "to: "),
            (params(None, None, Some("fortnight")), "interval: "),
            (params(None, None, Some("1m")), "interval: "),
        ] {
            let text = message(Window::from_params(&p, now).unwrap_err());
            assert!(text.starts_with(starts), "{p:?}: {text}");
        }
        // 1000 buckets are fine, 1001 are not.
        let day = params(Some("2026-01-15T00:00:00Z"), Some("2026-01-15T16:40:00Z"), Some("1m"));
        assert_eq!(Window::from_params(&day, now).unwrap().buckets(), 1_000);
        let over = params(Some("2026-01-15T00:00:00Z"), Some("2026-01-15T16:40:01Z"), Some("1m"));
        assert!(message(Window::from_params(&over, now).unwrap_err()).contains("1001 buckets"));
    }
}
