//! Latency percentiles without reading the records: the database puts every latency in a bin
//! (one `CASE` expression, the same text on both engines: SQLite has no percentile function),
//! counts each bin's requests and keeps its smallest and largest value; a percentile is then
//! read from the bin holding its rank.
//!
//! The bins are fixed and log-spaced: one per millisecond below 64 ms, then every power of two
//! `[2^j, 2^(j+1))` cut into 32 bins `2^j / 32` wide (up to 2^62 ms, the rest in one bin). The
//! estimate lies within its bin's smallest and largest value, as the true value does, so it is
//! off by less than the bin's width: by less than 1/32 (3.125%) of the true value. It is exact
//! below 64 ms, when the bin holds one distinct value, and when the rank is the first or the last
//! of its bin (the `max` is always exact). Within a bin it interpolates between the smallest and
//! largest value by rank. A histogram has at most 1,825 bins (0 to 1,824; negative values, which
//! metering never writes, would each have their own), whatever the number of requests.

use modelgate_store::LatencyPercentiles;
use std::collections::BTreeMap;

/// Bins per power of two.
const SUB_BINS: i64 = 32;
/// Below this, one bin per millisecond: the first power of two cut into [`SUB_BINS`] bins.
const EXACT_BELOW: i64 = 2 * SUB_BINS;
/// The last power of two cut into bins (`[2^61, 2^62)`).
const LAST_POWER: u32 = 61;

/// The SQL expression of `column`'s bin index (an integer, ascending with the value).
pub(crate) fn bin_sql(column: &str) -> String {
    let mut sql = format!("CASE WHEN {column} < {EXACT_BELOW} THEN {column}");
    for power in EXACT_BELOW.trailing_zeros()..=LAST_POWER {
        let (offset, width) = octave(power);
        sql.push_str(&format!(" WHEN {column} < {} THEN {offset} + {column} / {width}", 1_i64 << (power + 1)));
    }
    let (offset, _) = octave(LAST_POWER + 1);
    sql.push_str(&format!(" ELSE {offset} END"));
    sql
}

/// The bin index [`bin_sql`] computes, for tests.
#[cfg(test)]
fn bin_of(value: i64) -> i64 {
    if value < EXACT_BELOW {
        return value;
    }
    let power = 63 - value.leading_zeros();
    if power > LAST_POWER {
        return octave(LAST_POWER + 1).0;
    }
    let (offset, width) = octave(power);
    offset + value / width
}

/// For the power of two `2^power`: what is added to `value / width` to get the bin index, and the
/// bins' width. The bins of `[2^j, 2^(j+1))` follow those of the power below: `value / width`
/// runs from 32 to 63 there, and the first such bin is `32 * (j - 5)`.
fn octave(power: u32) -> (i64, i64) {
    let first_power = EXACT_BELOW.trailing_zeros();
    let offset = SUB_BINS * i64::from(power - first_power + 1);
    (offset, (1_i64 << power) / SUB_BINS)
}

/// One bin of a histogram: how many requests, their smallest and largest value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bin {
    pub(crate) count: i64,
    pub(crate) min: i64,
    pub(crate) max: i64,
}

/// The bins of one set of requests, by index.
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    bins: BTreeMap<i64, Bin>,
    count: i64,
}

impl Histogram {
    /// Adds the requests of bin `index` (merged with what the bin already holds).
    pub(crate) fn add(&mut self, index: i64, bin: Bin) {
        self.count = self.count.saturating_add(bin.count);
        self.bins
            .entry(index)
            .and_modify(|held| {
                held.count = held.count.saturating_add(bin.count);
                held.min = held.min.min(bin.min);
                held.max = held.max.max(bin.max);
            })
            .or_insert(bin);
    }

    /// Forgets every bin.
    pub(crate) fn clear(&mut self) {
        self.bins.clear();
        self.count = 0;
    }

    pub(crate) fn percentiles(&self) -> LatencyPercentiles {
        LatencyPercentiles {
            p50: self.percentile(50),
            p90: self.percentile(90),
            p99: self.percentile(99),
            max: self.bins.values().next_back().map(|bin| bin.max),
        }
    }

    /// The nearest-rank `percent`-th percentile (the value of rank `ceil(percent * n / 100)`),
    /// estimated within its bin; `None` without requests.
    pub(crate) fn percentile(&self, percent: i64) -> Option<i64> {
        let rank = ((i128::from(percent) * i128::from(self.count) + 99) / 100).max(1);
        let mut before = 0_i128;
        for bin in self.bins.values() {
            let count = i128::from(bin.count);
            if before + count >= rank {
                return Some(within(bin, rank - before));
            }
            before += count;
        }
        None
    }
}

/// The value of rank `rank` (from 1) among a bin's requests: its smallest or largest value at
/// either end, else interpolated between them.
fn within(bin: &Bin, rank: i128) -> i64 {
    let count = i128::from(bin.count);
    if rank <= 1 {
        return bin.min;
    }
    if rank >= count {
        return bin.max;
    }
    let (min, max) = (i128::from(bin.min), i128::from(bin.max));
    let value = min + (max - min) * (rank - 1) / (count - 1);
    i64::try_from(value).unwrap_or(bin.max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact nearest-rank percentile of sorted values.
    fn exact(sorted: &[i64], percent: i64) -> i64 {
        let rank = (percent as usize * sorted.len()).div_ceil(100).max(1);
        sorted[rank - 1]
    }

    fn histogram(values: &[i64]) -> Histogram {
        let mut histogram = Histogram::default();
        for value in values {
            histogram.add(bin_of(*value), Bin { count: 1, min: *value, max: *value });
        }
        histogram
    }

    #[test]
    fn bins_are_exact_below_64_then_32_per_power_of_two() {
        for (value, bin) in [
            (0, 0),
            (63, 63),
            (64, 64),
            (65, 64),
            (66, 65),
            (127, 95),
            (128, 96),
            (1_000, 32 * 4 + 1_000 / 16),
            (i64::MAX, 32 * 57),
        ] {
            assert_eq!(bin_of(value), bin, "{value}");
        }
        // Indices grow with the value, and a bin never holds values further apart than 1/32 of
        // the smallest: the next value beyond that is in a later bin.
        let mut previous = -1;
        for value in (0..200_000).chain((18..62).map(|p| 1_i64 << p)) {
            let bin = bin_of(value);
            assert!(bin >= previous, "{value}");
            previous = bin;
            assert!(bin_of(value + value / 32 + 1) > bin, "{value}");
        }
    }

    #[test]
    fn the_sql_names_every_power_once() {
        let sql = bin_sql("latency_ms");
        assert!(
            sql.starts_with("CASE WHEN latency_ms < 64 THEN latency_ms WHEN latency_ms < 128 THEN 32 + latency_ms / 2")
        );
        assert!(sql.contains(" WHEN latency_ms < 2048 THEN 160 + latency_ms / 32 "), "{sql}");
        assert!(sql.ends_with(&format!(" ELSE {} END", 32 * 57)));
        assert_eq!(sql.matches(" WHEN ").count(), 1 + (LAST_POWER - 6 + 1) as usize);
    }

    #[test]
    fn percentiles_are_within_a_32nd_of_the_true_value() {
        // Log-spread values (a fixed pseudo-random sequence) and a few heavy ties.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut values: Vec<i64> = (0..20_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let exponent = (state % 2_000) as f64 / 100.0; // 1 ms .. 2^20 ms
                2_f64.powf(exponent) as i64
            })
            .chain([700; 500])
            .collect();
        let histogram = histogram(&values);
        values.sort_unstable();
        for percent in [1, 10, 25, 50, 75, 90, 95, 99, 100] {
            let (estimate, truth) = (histogram.percentile(percent).unwrap(), exact(&values, percent));
            assert!((estimate - truth).abs() * 32 < truth.max(1), "p{percent}: {estimate} for {truth}");
            if truth < 64 {
                assert_eq!(estimate, truth, "p{percent}");
            }
        }
        assert_eq!(histogram.percentiles().max, values.last().copied());
    }

    #[test]
    fn few_values_are_exact() {
        let LatencyPercentiles { p50, p90, p99, max } = histogram(&[300, 100, 200, 5, 50]).percentiles();
        assert_eq!((p50, p90, p99, max), (Some(100), Some(300), Some(300), Some(300)));
        assert_eq!(Histogram::default().percentiles(), LatencyPercentiles::default());
        // Two values in one bin: the lower half gets the smaller, the upper the larger.
        let two = histogram(&[1_000, 1_007]);
        assert_eq!(bin_of(1_000), bin_of(1_007));
        assert_eq!((two.percentile(50), two.percentile(51)), (Some(1_000), Some(1_007)));
    }
}
