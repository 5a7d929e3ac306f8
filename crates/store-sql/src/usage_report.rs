//! The usage API's sums, computed by the database: one statement groups the range's records by
//! (bucket, latency bin) for the series, the totals and their latency percentiles; one by ttfb
//! bin (the two in one consistent read); one by the dimensions of a breakdown. Rows are folded
//! as they arrive, so a report holds its answer and one bucket's bins, never the records. The range is found through the `(workspace, at)` index; the model and key
//! filters are checked on its rows (an index per filter would cost every metered request an
//! insert).

use crate::engine::Row;
use crate::latency_bins::{bin_sql, Bin, Histogram};
use crate::statement::Statement;
use crate::SqlStore;
use async_trait::async_trait;
use modelgate_store::{
    Micros, StoreError, UsageBucketSums, UsageDimension, UsageFilter, UsageGroup, UsageGroups, UsageReportStore,
    UsageSeries, UsageSums,
};
use std::sync::LazyLock;

/// The sums of [`UsageSums`] after `COUNT(*) AS requests`. `SUM` of a `BIGINT` is a `NUMERIC`
/// on PostgreSQL: cast back.
const SUMS: &str = "SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors, \
     CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, CAST(SUM(output_tokens) AS BIGINT) AS output_tokens, \
     CAST(SUM(total_tokens) AS BIGINT) AS total_tokens, \
     CAST(SUM(cache_read_tokens) AS BIGINT) AS cache_read_tokens, \
     CAST(SUM(cache_write_tokens) AS BIGINT) AS cache_write_tokens, \
     CAST(COALESCE(SUM(cost_nano_usd), 0) AS BIGINT) AS cost_nano_usd, COUNT(cost_nano_usd) AS priced_requests";

/// The credential of a record: its API key, else the subject (an access token's).
const CREDENTIAL: &str = "COALESCE(key_id, subject)";

/// Requests by (bucket, latency bin): `$1` the first bucket's start, `$2` the interval.
static SERIES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT bucket, bin, COUNT(*) AS requests, {SUMS}, MIN(latency_ms) AS low, MAX(latency_ms) AS high \
         FROM (SELECT (at - $1) / $2 AS bucket, {} AS bin, status, input_tokens, output_tokens, total_tokens, \
         cache_read_tokens, cache_write_tokens, cost_nano_usd, latency_ms FROM usage_records WHERE ",
        bin_sql("latency_ms")
    )
});
const SERIES_END: &str = ") AS r GROUP BY bucket, bin ORDER BY bucket, bin";

/// Requests that got a first byte, by ttfb bin.
static TTFB: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} AS bin, COUNT(*) AS requests, MIN(ttfb_ms) AS low, MAX(ttfb_ms) AS high \
         FROM usage_records WHERE ttfb_ms IS NOT NULL AND ",
        bin_sql("ttfb_ms")
    )
});

/// Appends the filter's conditions (after `WHERE`).
fn push_filter<'a>(statement: &mut Statement<'a>, filter: &'a UsageFilter) {
    match filter.workspaces.as_slice() {
        [one] => {
            statement.push("workspace = ").push_bind(one);
        }
        // None: `IN ()` is not SQL, and covers nothing.
        [] => {
            statement.push("1 = 0");
        }
        several => {
            statement.push("workspace IN (");
            for (index, workspace) in several.iter().enumerate() {
                if index > 0 {
                    statement.push(", ");
                }
                statement.push_bind(workspace);
            }
            statement.push(")");
        }
    }
    statement.push(" AND at >= ").push_bind(filter.from).push(" AND at < ").push_bind(filter.to);
    if let Some(model) = &filter.model {
        statement.push(" AND model = ").push_bind(model);
    }
    if let Some(key) = &filter.key {
        statement.push(&format!(" AND {CREDENTIAL} = ")).push_bind(key);
    }
}

fn sums(row: &dyn Row) -> Result<UsageSums, StoreError> {
    Ok(UsageSums {
        requests: row.integer("requests")?,
        errors: row.integer("errors")?,
        input_tokens: row.integer("input_tokens")?,
        output_tokens: row.integer("output_tokens")?,
        total_tokens: row.integer("total_tokens")?,
        cache_read_tokens: row.integer("cache_read_tokens")?,
        cache_write_tokens: row.integer("cache_write_tokens")?,
        cost_nano_usd: row.integer("cost_nano_usd")?,
        priced_requests: row.integer("priced_requests")?,
    })
}

fn bin(row: &dyn Row) -> Result<(i64, Bin), StoreError> {
    Ok((
        row.integer("bin")?,
        Bin { count: row.integer("requests")?, min: row.integer("low")?, max: row.integer("high")? },
    ))
}

/// Folds the (bucket, bin) rows, in that order, into the series and the totals.
struct SeriesFold {
    start: Micros,
    interval: Micros,
    series: UsageSeries,
    /// Every bin of the range.
    latencies: Histogram,
    /// The bins of the bucket being read.
    bucket: Histogram,
}

impl SeriesFold {
    fn add(&mut self, row: &dyn Row) -> Result<(), StoreError> {
        let index = row.integer("bucket")?;
        let start = self.start.saturating_add(index.saturating_mul(self.interval));
        if self.series.buckets.last().is_none_or(|last| last.start != start) {
            self.end_bucket();
            self.series.buckets.push(UsageBucketSums { start, sums: UsageSums::default(), latency_ms_p50: None });
        }
        let (bin_index, bin) = bin(row)?;
        let sums = sums(row)?;
        self.series.totals.add(&sums);
        if let Some(bucket) = self.series.buckets.last_mut() {
            bucket.sums.add(&sums);
        }
        self.latencies.add(bin_index, bin);
        self.bucket.add(bin_index, bin);
        Ok(())
    }

    /// The last bucket's median, from its bins.
    fn end_bucket(&mut self) {
        if let Some(bucket) = self.series.buckets.last_mut() {
            bucket.latency_ms_p50 = self.bucket.percentile(50);
        }
        self.bucket.clear();
    }
}

/// The select list and `GROUP BY` of a breakdown by `by` (each dimension once).
fn group_columns(by: &[UsageDimension]) -> (Vec<&'static str>, Vec<&'static str>) {
    let (mut select, mut group) = (Vec::new(), Vec::new());
    for dimension in [UsageDimension::Workspace, UsageDimension::Model, UsageDimension::Key] {
        if !by.contains(&dimension) {
            continue;
        }
        match dimension {
            UsageDimension::Workspace => {
                select.push("workspace");
                group.push("workspace");
            }
            UsageDimension::Model => {
                select.push("model");
                group.push("model");
            }
            UsageDimension::Key => {
                select.extend(["COALESCE(key_id, subject) AS credential", "subject"]);
                group.extend([CREDENTIAL, "subject"]);
            }
        }
    }
    (select, group)
}

#[async_trait]
impl UsageReportStore for SqlStore {
    async fn usage_series(&self, filter: &UsageFilter, interval: Micros) -> Result<UsageSeries, StoreError> {
        let interval = interval.max(1);
        let start = filter.from.div_euclid(interval) * interval;
        let mut read = self.engine.begin_usage_read().await?;

        let mut series = Statement::new(SERIES.as_str()).bind(start).bind(interval);
        push_filter(&mut series, filter);
        series.push(SERIES_END);
        let mut fold = SeriesFold {
            start,
            interval,
            series: UsageSeries::default(),
            latencies: Histogram::default(),
            bucket: Histogram::default(),
        };
        read.fetch_each(series, |row| fold.add(row)).await?;
        fold.end_bucket();

        let mut ttfb = Statement::new(TTFB.as_str());
        push_filter(&mut ttfb, filter);
        ttfb.push(" GROUP BY bin");
        let mut ttfbs = Histogram::default();
        read.fetch_each(ttfb, |row| {
            let (index, bin) = bin(row)?;
            ttfbs.add(index, bin);
            Ok(())
        })
        .await?;
        read.commit().await?;

        let mut series = fold.series;
        series.latency_ms = fold.latencies.percentiles();
        series.ttfb_ms = ttfbs.percentiles();
        Ok(series)
    }

    async fn usage_groups(
        &self,
        filter: &UsageFilter,
        by: &[UsageDimension],
        limit: usize,
    ) -> Result<UsageGroups, StoreError> {
        let (select, group) = group_columns(by);
        if select.is_empty() {
            return Ok(UsageGroups::default());
        }
        let sql = format!("SELECT {}, COUNT(*) AS requests, {SUMS} FROM usage_records WHERE ", select.join(", "));
        let mut statement = Statement::new(sql);
        push_filter(&mut statement, filter);
        // The busiest first; ties in the group's order, so the cut is the same every time.
        let group = group.join(", ");
        statement.push(&format!(" GROUP BY {group} ORDER BY requests DESC, {group} LIMIT "));
        statement.push_bind(i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX));
        let workspace = by.contains(&UsageDimension::Workspace);
        let (model, key) = (by.contains(&UsageDimension::Model), by.contains(&UsageDimension::Key));
        let mut groups = self
            .engine
            .fetch_all(statement, |row| {
                Ok(UsageGroup {
                    workspace: if workspace { Some(row.text("workspace")?) } else { None },
                    model: if model { Some(row.text("model")?) } else { None },
                    key: if key { Some(row.text("credential")?) } else { None },
                    subject: if key { Some(row.text("subject")?) } else { None },
                    sums: sums(row)?,
                })
            })
            .await?;
        let truncated = groups.len() > limit;
        groups.truncate(limit);
        // The engines order text differently (PostgreSQL by its collation): bytes, here.
        groups.sort_by(|a, b| {
            b.sums.requests.cmp(&a.sums.requests).then_with(|| {
                (&a.workspace, &a.model, &a.key, &a.subject).cmp(&(&b.workspace, &b.model, &b.key, &b.subject))
            })
        });
        Ok(UsageGroups { groups, truncated })
    }
}
