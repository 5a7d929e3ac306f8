//! `/usage` and `/models/{modelName}/usage`: what the inference plane metered, summed over a
//! time range `[from, to)` and cut into a series of buckets (modelgate's own API; Blaxel has
//! none).
//!
//! Buckets are aligned to the interval counted from the Unix epoch in UTC (a `1d` bucket starts
//! at midnight UTC); the first one starts at `from` aligned down, and every bucket, empty ones
//! included, is in the series. Only records in `[from, to)` count, in the totals and the buckets
//! alike. Usage is history: a deleted model's usage still answers.
//!
//! The store sums the records where they are ([`modelgate_store::UsageReportStore`]), so a call
//! costs memory by the size of its answer: at most [`MAX_RANGE`] long, [`MAX_BUCKETS`] buckets,
//! [`MAX_GROUPS`] groups. Latency percentiles are nearest-rank, estimated from log-spaced bins
//! in the database: less than 1/32 (3.125%) off the true value, exact below 64 ms and for `max`.

use crate::auth::Caller;
use crate::error::{not_found, ApiError, Error};
use crate::extract::{Path, Query};
use crate::{workspaces, ControlPlane};
use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use modelgate_domain::timestamp::{now_micros, to_rfc3339, Micros};
use modelgate_domain::usage::usd;
use modelgate_domain::Scope;
use modelgate_store::{
    ResourceKey, ResourceKind, UsageBucketSums, UsageDimension, UsageFilter, UsageGroup, UsageGroups, UsageSeries,
    UsageSums,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
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
pub const MAX_BUCKETS: i64 = 1_000;
/// The longest range: a report reads every record in it.
pub const MAX_RANGE: Micros = 366 * DAY;
/// Most groups of a breakdown (`groupBy`, `byModel`): the busiest.
pub const MAX_GROUPS: usize = 1_000;
/// Longest interval accepted (keeps the bucket arithmetic far from overflow).
const MAX_INTERVAL: Micros = 3_650 * DAY;
/// Intervals the default is chosen from, shortest first (the last gives at most 53 buckets over
/// [`MAX_RANGE`]).
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
    /// Only this credential's usage: an API key id (`ak_...`), or a service account's client id
    /// for the requests made with its access tokens
    pub key: Option<String>,
    /// Break the usage down by `model`, `key` (the credential), `workspace` (`GET /usage` only:
    /// over every workspace the caller can act in), or several (`model,key`): `groups` in the
    /// answer, the most requests first, at most 1000
    #[serde(rename = "groupBy")]
    #[param(example = "key")]
    pub group_by: Option<String>,
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
    /// Workspace the usage belongs to (the caller's)
    #[schema(example = "default")]
    pub workspace: String,
    /// With `groupBy=workspace`: the workspaces covered, every one the caller can act in (the
    /// totals and series sum them all)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspaces: Option<Vec<String>>,
    /// The model the report covers; null for every model of the workspace
    pub model: Option<String>,
    /// The credential the report covers (`key`); null for every credential
    pub key: Option<String>,
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
    /// Totals per model, by model name (`GET /usage` only; the 1000 busiest models)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_model: Option<Vec<ModelUsage>>,
    /// Totals per group of `groupBy`, the most requests first (only with `groupBy`)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<GroupUsage>>,
    /// Whether more groups exist than the 1000 listed (only with `groupBy`)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups_truncated: Option<bool>,
}

/// Sums over a set of requests: counts, tokens and spend.
#[derive(Debug, Default, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Sums {
    /// Requests metered
    pub requests: i64,
    /// Requests answered with an HTTP status of 400 or more
    pub errors: i64,
    /// Input tokens, cached ones included
    pub input_tokens: i64,
    /// Output tokens, reasoning included
    pub output_tokens: i64,
    pub total_tokens: i64,
    /// Input tokens the providers read from their prompt caches (part of inputTokens)
    pub cache_read_tokens: i64,
    /// Input tokens the providers wrote to their prompt caches (part of inputTokens; Anthropic)
    pub cache_write_tokens: i64,
    /// What the requests cost, in US dollars (exact to a billionth), summed over those whose model
    /// had a known price; null when there were requests and none had one
    #[schema(example = 0.0125)]
    pub cost_usd: Option<f64>,
    /// Requests whose model had no known price, so not in costUsd
    pub unpriced_requests: i64,
}

impl From<UsageSums> for Sums {
    fn from(sums: UsageSums) -> Sums {
        let priced = sums.priced_requests > 0 || sums.requests == 0;
        Sums {
            requests: sums.requests,
            errors: sums.errors,
            input_tokens: sums.input_tokens,
            output_tokens: sums.output_tokens,
            total_tokens: sums.total_tokens,
            cache_read_tokens: sums.cache_read_tokens,
            cache_write_tokens: sums.cache_write_tokens,
            cost_usd: priced.then(|| usd(sums.cost_nano_usd)),
            unpriced_requests: sums.requests.saturating_sub(sums.priced_requests),
        }
    }
}

/// Sums over every request in the range.
#[derive(Debug, Default, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UsageTotals {
    #[serde(flatten)]
    pub sums: Sums,
    /// From arrival to the last byte sent to the client
    pub latency_ms: Percentiles,
    /// From arrival to the provider's first byte, over the requests that got one
    pub ttfb_ms: Percentiles,
}

/// Nearest-rank percentiles in milliseconds, less than 1/32 (3.125%) off the true value (exact
/// below 64 ms; `max` always exact); null when no request is counted.
#[derive(Debug, Default, Serialize, ToSchema, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: Option<i64>,
    pub p90: Option<i64>,
    pub p99: Option<i64>,
    pub max: Option<i64>,
}

/// Sums over the requests of one bucket of the series.
#[derive(Debug, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UsageBucket {
    /// Start of the bucket (RFC 3339); it ends where the next one starts
    pub start: String,
    #[serde(flatten)]
    pub sums: Sums,
    /// Median latency in the bucket; null when it is empty
    pub latency_ms_p50: Option<i64>,
}

/// Sums over one model's requests in the range.
#[derive(Debug, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ModelUsage {
    pub model: String,
    #[serde(flatten)]
    pub sums: Sums,
}

/// Sums over one group's requests in the range: the fields of the dimensions grouped by, then the
/// sums.
#[derive(Debug, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GroupUsage {
    /// The workspace (`groupBy=workspace`)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// The model (`groupBy=model`)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The credential (`groupBy=key`): an API key id, or a service account's client id for the
    /// requests made with its access tokens
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Who the credential belongs to: a service account's client id or a user (`groupBy=key`)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(flatten)]
    pub sums: Sums,
}

/// Usage of the workspace
///
/// Requests, errors, tokens and latency percentiles that the inference plane metered in the
/// caller's workspace over `[from, to)`, as totals, a series of buckets, a breakdown by model and,
/// with `groupBy`, by model and/or key.
#[utoipa::path(get, path = "/usage", tag = "usage", operation_id = "GetWorkspaceUsage",
    params(UsageParams, ("model" = Option<String>, Query, description = "Only this model's usage")),
    responses(
        (status = 200, description = "The usage", body = UsageReport),
        (status = 400, description = "Invalid from, to, interval, key or groupBy; a range over 366 days or over 1000 buckets", body = Error),
        (status = 401, body = Error), (status = 403, body = Error), (status = 500, body = Error)),
    security(("ApiKeyAuth" = ["models:list"])))]
async fn workspace_usage(
    State(state): State<Arc<ControlPlane>>,
    caller: Caller,
    uri: Uri,
) -> Result<Json<UsageReport>, ApiError> {
    caller.require(Scope::ModelsList)?;
    let request = UsageRequest::from_params(&query_params(&uri)?, now_micros())?;
    let model = query_params::<ModelFilter>(&uri)?.model.filter(|m| !m.is_empty());
    let across_workspaces = request.groups_by(UsageDimension::Workspace);
    let workspaces = match across_workspaces {
        true => workspaces::visible_to(&state, &caller).await?.into_iter().map(|w| w.name).collect(),
        false => vec![caller.workspace.clone()],
    };
    let filter = request.filter(workspaces, model);
    let series = state.store.usage_series(&filter, request.window.interval).await?;
    let models = state.store.usage_groups(&filter, &[UsageDimension::Model], MAX_GROUPS).await?;
    let groups = match request.group_by.as_deref() {
        Some([UsageDimension::Model]) => Some(models.clone()),
        Some(by) => Some(state.store.usage_groups(&filter, by, MAX_GROUPS).await?),
        None => None,
    };
    let mut by_model: Vec<ModelUsage> = models.groups.into_iter().map(ModelUsage::from).collect();
    by_model.sort_by(|a, b| a.model.cmp(&b.model));
    let mut report = report(&caller.workspace, filter, &request.window, series, Some(by_model), groups);
    if !across_workspaces {
        report.workspaces = None;
    }
    Ok(Json(report))
}

/// Usage of a model endpoint
///
/// Requests, errors, tokens and latency percentiles that the inference plane metered for one
/// model over `[from, to)`, and with `groupBy=key` by credential. A deleted model's usage still
/// answers.
#[utoipa::path(get, path = "/models/{modelName}/usage", tag = "usage", operation_id = "GetModelUsage",
    params(("modelName" = String, Path, description = "Name of the model endpoint"), UsageParams),
    responses(
        (status = 200, description = "The model's usage", body = UsageReport),
        (status = 400, description = "Invalid from, to, interval, key or groupBy; a range over 366 days or over 1000 buckets", body = Error),
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
    let request = UsageRequest::from_params(&query_params(&uri)?, now_micros())?;
    if request.groups_by(UsageDimension::Workspace) {
        return Err(ApiError::BadRequest(
            "groupBy: a model belongs to one workspace; group by workspace with GET /usage".into(),
        ));
    }
    let filter = request.filter(vec![caller.workspace.clone()], Some(name.clone()));
    let series = state.store.usage_series(&filter, request.window.interval).await?;
    if series.totals.requests == 0 {
        let key = ResourceKey::new(&caller.workspace, ResourceKind::Model, &name);
        if state.store.get_resource(&key).await?.is_none() {
            return Err(not_found(ResourceKind::Model, &name, &caller.workspace));
        }
    }
    let groups = match request.group_by.as_deref() {
        Some(by) => Some(state.store.usage_groups(&filter, by, MAX_GROUPS).await?),
        None => None,
    };
    Ok(Json(report(&caller.workspace, filter, &request.window, series, None, groups)))
}

/// Parses the query string; done in the handler, after the scope check.
fn query_params<T: DeserializeOwned>(uri: &Uri) -> Result<T, ApiError> {
    Query::try_from_uri(uri).map(|Query(params)| params)
}

fn report(
    workspace: &str,
    filter: UsageFilter,
    window: &Window,
    series: UsageSeries,
    by_model: Option<Vec<ModelUsage>>,
    groups: Option<UsageGroups>,
) -> UsageReport {
    let totals = series.totals;
    UsageReport {
        workspace: workspace.to_string(),
        workspaces: Some(filter.workspaces),
        model: filter.model,
        key: filter.key,
        from: to_rfc3339(window.from),
        to: to_rfc3339(window.to),
        interval: format_interval(window.interval),
        totals: UsageTotals {
            sums: totals.into(),
            latency_ms: series.latency_ms.into(),
            ttfb_ms: series.ttfb_ms.into(),
        },
        series: every_bucket(window, series.buckets),
        by_model,
        groups_truncated: groups.as_ref().map(|groups| groups.truncated),
        groups: groups.map(|groups| groups.groups.into_iter().map(GroupUsage::from).collect()),
    }
}

/// Every bucket of the window, the store's (those holding requests) and empty ones between.
fn every_bucket(window: &Window, held: Vec<UsageBucketSums>) -> Vec<UsageBucket> {
    let mut held = held.into_iter().peekable();
    (0..window.buckets())
        .map(|index| {
            let start = window.start() + index * window.interval;
            // Starts the store returns are multiples of the interval from the same origin.
            while held.next_if(|bucket| bucket.start < start).is_some() {}
            let bucket = held.next_if(|bucket| bucket.start == start);
            let sums = bucket.as_ref().map(|b| b.sums).unwrap_or_default();
            UsageBucket {
                start: to_rfc3339(start),
                sums: sums.into(),
                latency_ms_p50: bucket.and_then(|b| b.latency_ms_p50),
            }
        })
        .collect()
}

impl From<modelgate_store::LatencyPercentiles> for Percentiles {
    fn from(p: modelgate_store::LatencyPercentiles) -> Percentiles {
        Percentiles { p50: p.p50, p90: p.p90, p99: p.p99, max: p.max }
    }
}

impl From<UsageGroup> for ModelUsage {
    fn from(group: UsageGroup) -> ModelUsage {
        ModelUsage { model: group.model.unwrap_or_default(), sums: group.sums.into() }
    }
}

impl From<UsageGroup> for GroupUsage {
    fn from(group: UsageGroup) -> GroupUsage {
        GroupUsage {
            workspace: group.workspace,
            model: group.model,
            key: group.key,
            subject: group.subject,
            sums: group.sums.into(),
        }
    }
}

/// The validated parameters of a usage call.
#[derive(Debug)]
struct UsageRequest {
    window: Window,
    key: Option<String>,
    /// The breakdown asked for, each dimension once.
    group_by: Option<Vec<UsageDimension>>,
}

impl UsageRequest {
    fn groups_by(&self, dimension: UsageDimension) -> bool {
        self.group_by.as_ref().is_some_and(|by| by.contains(&dimension))
    }

    fn from_params(params: &UsageParams, now: Micros) -> Result<UsageRequest, ApiError> {
        Ok(UsageRequest {
            window: Window::from_params(params, now)?,
            key: non_empty(&params.key).map(str::to_string),
            group_by: non_empty(&params.group_by).map(parse_group_by).transpose()?,
        })
    }

    fn filter(&self, workspaces: Vec<String>, model: Option<String>) -> UsageFilter {
        UsageFilter { workspaces, model, key: self.key.clone(), from: self.window.from, to: self.window.to }
    }
}

/// Parses `model`, `key` or `model,key`.
fn parse_group_by(text: &str) -> Result<Vec<UsageDimension>, ApiError> {
    let mut dimensions = Vec::new();
    for name in text.split(',').map(str::trim) {
        let dimension = match name {
            "workspace" => UsageDimension::Workspace,
            "model" => UsageDimension::Model,
            "key" => UsageDimension::Key,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "groupBy: '{name}' is not a dimension; use model, key, workspace or several (model,key)"
                )))
            }
        };
        if dimensions.contains(&dimension) {
            return Err(ApiError::BadRequest(format!("groupBy: '{name}' is named twice")));
        }
        dimensions.push(dimension);
    }
    Ok(dimensions)
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
        if to - from > MAX_RANGE {
            return Err(ApiError::BadRequest(format!(
                "from: the range from {} to {} is longer than 366 days, the longest a report covers",
                to_rfc3339(from),
                to_rfc3339(to)
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

/// The shortest usual interval giving at most [`DEFAULT_MAX_BUCKETS`].
fn default_interval(from: Micros, to: Micros) -> Micros {
    let fits = |interval: Micros| Window { from, to, interval }.buckets() <= DEFAULT_MAX_BUCKETS;
    DEFAULT_INTERVALS.into_iter().find(|i| fits(*i)).unwrap_or(7 * DAY)
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

    fn window(from_seconds: i64, to_seconds: i64, interval: Micros) -> Window {
        Window { from: T0 + from_seconds * SECOND, to: T0 + to_seconds * SECOND, interval }
    }

    fn held(start_seconds: i64, requests: i64, p50: i64) -> UsageBucketSums {
        let sums = UsageSums {
            requests,
            errors: 0,
            input_tokens: requests,
            output_tokens: 0,
            total_tokens: requests,
            ..UsageSums::default()
        };
        UsageBucketSums { start: T0 + start_seconds * SECOND, sums, latency_ms_p50: Some(p50) }
    }

    fn bucket(start: &str, counts: [i64; 5], p50: Option<i64>) -> Value {
        json!({"start": start, "requests": counts[0], "errors": counts[1], "inputTokens": counts[2],
               "outputTokens": counts[3], "totalTokens": counts[4], "cacheReadTokens": 0, "cacheWriteTokens": 0,
               "costUsd": if counts[0] == 0 { Some(0.0) } else { None }, "unpricedRequests": counts[0],
               "latencyMsP50": p50})
    }

    #[test]
    fn every_bucket_is_in_the_series_from_from_aligned_down_to_to() {
        // from 00:01:30, to 00:04:10, 1m: buckets 00:01, 00:02, 00:03, 00:04, the store's two
        // among them.
        let series = every_bucket(&window(90, 250, MINUTE), vec![held(60, 1, 6), held(240, 2, 7)]);
        assert_eq!(
            serde_json::to_value(series).unwrap(),
            json!([
                bucket("2026-01-15T00:01:00Z", [1, 0, 1, 0, 1], Some(6)),
                bucket("2026-01-15T00:02:00Z", [0; 5], None),
                bucket("2026-01-15T00:03:00Z", [0; 5], None),
                bucket("2026-01-15T00:04:00Z", [2, 0, 2, 0, 2], Some(7)),
            ])
        );
        let empty = every_bucket(&window(0, 180, MINUTE), Vec::new());
        assert_eq!(empty.len(), 3);
        assert!(empty.iter().all(|b| b.sums.requests == 0 && b.latency_ms_p50.is_none()));
        // Days align to midnight UTC.
        let day = Window { from: at("2026-01-15T18:00:00Z"), to: at("2026-01-17T06:00:00Z"), interval: DAY };
        let starts: Vec<String> = every_bucket(&day, Vec::new()).into_iter().map(|b| b.start).collect();
        assert_eq!(starts, ["2026-01-15T00:00:00Z", "2026-01-16T00:00:00Z", "2026-01-17T00:00:00Z"]);
    }

    #[test]
    fn group_by_names_model_key_or_both_once() {
        use UsageDimension::{Key, Model};
        for (text, expected) in [
            ("model", vec![Model]),
            ("key", vec![Key]),
            ("model,key", vec![Model, Key]),
            ("key, model", vec![Key, Model]),
        ] {
            assert_eq!(parse_group_by(text).unwrap(), expected, "{text}");
        }
        for bad in ["models", "model,", "key,key", "workspaces", "Model"] {
            assert!(message(parse_group_by(bad).unwrap_err()).starts_with("groupBy: "), "{bad}");
        }
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
        UsageParams {
            from: from.map(Into::into),
            to: to.map(Into::into),
            interval: interval.map(Into::into),
            ..UsageParams::default()
        }
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
            ("2023-01-15T00:00:00Z", "2024-01-16T00:00:00Z", 7 * DAY),
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
            // 366 days and a microsecond.
            (params(Some("2023-01-15T00:00:00Z"), Some("2024-01-16T00:00:00.000001Z"), None), "from: "),
            (params(Some("2016-01-15T00:00:00Z"), None, None), "from: "),
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
