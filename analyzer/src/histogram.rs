//! Latency histograms: percentiles and plottable distributions of durations. A node's or an
//! edge's durations go into a [`LatencyHistogram`] (bounded memory, mergeable across groups);
//! the traces a filter selected are in memory already and get exact answers from
//! [`SortedDurations`], in the same shapes and buckets.
//!
//! - Values are recorded in microseconds (the store's resolution) with 3 significant digits:
//!   a reported value is within 0.1 % of the recorded one, whatever the range (1 µs to hours).
//! - Percentiles are nearest-rank (`sorted[ceil(q·n) − 1]`), as hdrhistogram reports them, and
//!   clamped to the exact minimum and maximum seen, so a single value or all-equal values come
//!   back exactly.
//! - The plottable distribution is X-Ray's `HistogramEntry` list (`{Value: seconds, Count}`),
//!   bucketed log-linearly at 2 significant digits: at most 90 buckets per decade, so a
//!   response-time chart from 1 ms to 10 s has at most 360 points however many requests it holds.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Significant decimal digits kept by every histogram.
const SIGNIFICANT_DIGITS: u8 = 3;
/// Digits kept by a [`HistogramEntry`] bucket: 10..99 × 10^k microseconds.
const BUCKET_DIGITS: u32 = 2;
const MICROS_PER_SECOND: f64 = 1e6;

/// Durations, in microseconds, with 3 significant digits.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    counts: Histogram<u64>,
    min_us: u64,
    max_us: u64,
}

/// The quantiles an on-call engineer asks for, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
}

/// One point of a plottable distribution: X-Ray's `HistogramEntry`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistogramEntry {
    /// The bucket's lower bound, in seconds.
    pub value: f64,
    pub count: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    pub fn new() -> Self {
        // Auto-resizing from 1 µs; 3 digits is within hdrhistogram's 0..=5 range.
        let counts = Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits is a valid precision");
        LatencyHistogram { counts, min_us: u64::MAX, max_us: 0 }
    }

    /// The histogram of these durations; negative durations (clock skew) count as 0.
    pub fn from_micros(durations_us: impl IntoIterator<Item = i64>) -> Self {
        let mut histogram = Self::new();
        for duration_us in durations_us {
            histogram.record_micros(duration_us);
        }
        histogram
    }

    pub fn record_micros(&mut self, duration_us: i64) {
        let value = duration_us.max(0) as u64;
        // `record` grows the auto-resizing histogram; `saturating_record` would clamp instead.
        if self.counts.record(value).is_err() {
            self.counts.saturating_record(value);
        }
        self.min_us = self.min_us.min(value);
        self.max_us = self.max_us.max(value);
    }

    pub fn merge(&mut self, other: &LatencyHistogram) {
        if other.is_empty() {
            return;
        }
        // Both auto-resize, so addition cannot run out of range.
        let _ = self.counts.add(&other.counts);
        self.min_us = self.min_us.min(other.min_us);
        self.max_us = self.max_us.max(other.max_us);
    }

    pub fn count(&self) -> u64 {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The nearest-rank value at `quantile` (0..=1) in microseconds, `None` when empty.
    pub fn quantile_micros(&self, quantile: f64) -> Option<u64> {
        if self.is_empty() {
            return None;
        }
        let value = self.counts.value_at_quantile(quantile.clamp(0.0, 1.0));
        Some(value.clamp(self.min_us, self.max_us))
    }

    /// p50/p90/p95/p99 in seconds, `None` when empty.
    pub fn percentiles(&self) -> Option<Percentiles> {
        let seconds = |quantile| self.quantile_micros(quantile).map(|us| us as f64 / MICROS_PER_SECOND);
        Some(Percentiles { p50: seconds(0.50)?, p90: seconds(0.90)?, p95: seconds(0.95)?, p99: seconds(0.99)? })
    }

    /// The distribution as X-Ray's histogram entries, ascending by value.
    pub fn distribution(&self) -> Vec<HistogramEntry> {
        let mut entries: Vec<HistogramEntry> = Vec::new();
        for recorded in self.counts.iter_recorded() {
            let bucket_us = bucket_floor(self.counts.lowest_equivalent(recorded.value_iterated_to()));
            let value = bucket_us as f64 / MICROS_PER_SECOND;
            let count = recorded.count_at_value();
            match entries.last_mut() {
                Some(last) if last.value == value => last.count += count,
                _ => entries.push(HistogramEntry { value, count }),
            }
        }
        entries
    }
}

/// Durations held in memory and sorted, for exact answers where the values are at hand (the
/// traces a filter matched): nearest-rank percentiles, mean and bucket counts with no
/// approximation, in the same shapes a [`LatencyHistogram`] answers with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SortedDurations {
    ascending_us: Vec<u64>,
}

impl SortedDurations {
    /// These durations, sorted; negative durations (clock skew) count as 0, as in
    /// [`LatencyHistogram::record_micros`].
    pub fn from_micros(durations_us: impl IntoIterator<Item = i64>) -> Self {
        let mut ascending_us: Vec<u64> = durations_us.into_iter().map(|us| us.max(0) as u64).collect();
        ascending_us.sort_unstable();
        SortedDurations { ascending_us }
    }

    pub fn count(&self) -> u64 {
        self.ascending_us.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.ascending_us.is_empty()
    }

    pub fn min_micros(&self) -> Option<u64> {
        self.ascending_us.first().copied()
    }

    pub fn max_micros(&self) -> Option<u64> {
        self.ascending_us.last().copied()
    }

    /// The arithmetic mean in microseconds; summed in `u128`, which no count of `u64` can overflow.
    pub fn mean_micros(&self) -> Option<f64> {
        let total: u128 = self.ascending_us.iter().map(|&us| u128::from(us)).sum();
        (!self.is_empty()).then(|| total as f64 / self.ascending_us.len() as f64)
    }

    /// The nearest-rank value at `percent` (0..=100): `sorted[ceil(percent·n / 100) − 1]`, in
    /// integers so that 95 % of 20 is rank 19 exactly, with no float rounding.
    pub fn percentile_micros(&self, percent: u8) -> Option<u64> {
        let count = self.ascending_us.len();
        let rank = (usize::from(percent.min(100)) * count).div_ceil(100).max(1);
        self.ascending_us.get(rank - 1).copied()
    }

    /// p50/p90/p95/p99 in seconds, `None` when empty.
    pub fn percentiles(&self) -> Option<Percentiles> {
        let seconds = |percent| self.percentile_micros(percent).map(|us| us as f64 / MICROS_PER_SECOND);
        Some(Percentiles { p50: seconds(50)?, p90: seconds(90)?, p95: seconds(95)?, p99: seconds(99)? })
    }

    /// The buckets of [`LatencyHistogram::distribution`], counted from the values themselves:
    /// a value on a bucket's lower bound (100 ms) is always in that bucket, where the
    /// histogram's 3-digit cells may straddle the bound.
    ///
    /// The values are sorted, so a bucket's values are found by a binary search for its end:
    /// a few hundred searches instead of a division per value.
    pub fn distribution(&self) -> Vec<HistogramEntry> {
        let mut entries: Vec<HistogramEntry> = Vec::new();
        let mut rest = self.ascending_us.as_slice();
        while let Some(&first) = rest.first() {
            let floor = bucket_floor(first);
            let in_bucket = match bucket_end(floor) {
                Some(end) => rest.partition_point(|&value| value < end),
                None => rest.len(),
            };
            entries.push(HistogramEntry { value: floor as f64 / MICROS_PER_SECOND, count: in_bucket as u64 });
            rest = &rest[in_bucket..];
        }
        entries
    }
}

/// The first value past the bucket starting at `floor` (a [`bucket_floor`]), none past `u64`.
fn bucket_end(floor: u64) -> Option<u64> {
    let digits = floor.checked_ilog10().map_or(1, |log| log + 1);
    floor.checked_add(10u64.pow(digits.saturating_sub(BUCKET_DIGITS)))
}

/// Rounds down to [`BUCKET_DIGITS`] significant digits: 1234 µs → 1200 µs. Monotonic, so the
/// ascending iteration of the histogram yields ascending buckets.
fn bucket_floor(value_us: u64) -> u64 {
    let digits = value_us.checked_ilog10().map_or(1, |log| log + 1);
    if digits <= BUCKET_DIGITS {
        return value_us;
    }
    let unit = 10u64.pow(digits - BUCKET_DIGITS);
    value_us / unit * unit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_keep_two_significant_digits() {
        assert_eq!(bucket_floor(0), 0);
        assert_eq!(bucket_floor(7), 7);
        assert_eq!(bucket_floor(99), 99);
        assert_eq!(bucket_floor(1234), 1200);
        assert_eq!(bucket_floor(1_999_999), 1_900_000);
    }

    #[test]
    fn distribution_merges_values_into_buckets() {
        let histogram = LatencyHistogram::from_micros([1000, 1001, 1090, 2000, 2000]);
        let entries = histogram.distribution();
        assert_eq!(entries, vec![HistogramEntry { value: 0.001, count: 3 }, HistogramEntry { value: 0.002, count: 2 }]);
    }

    #[test]
    fn sorted_durations_rank_in_integers() {
        let twenty = SortedDurations::from_micros((1..=20).rev());
        assert_eq!(twenty.percentile_micros(95), Some(19));
        assert_eq!(twenty.percentile_micros(50), Some(10));
        assert_eq!(twenty.percentile_micros(0), Some(1), "rank 0 is the minimum");
        assert_eq!(twenty.percentile_micros(100), Some(20));
        assert_eq!(SortedDurations::from_micros([-5, 3]).min_micros(), Some(0));
        assert_eq!(SortedDurations::default().percentile_micros(50), None);
        assert_eq!(SortedDurations::default().mean_micros(), None);
    }

    proptest::proptest! {
        #[test]
        fn sorted_buckets_count_what_each_value_rounds_to(
            values in proptest::collection::vec(proptest::prop_oneof![0..200u64, 0..5_000_000u64, proptest::num::u64::ANY], 0..300)
        ) {
            let durations = SortedDurations { ascending_us: { let mut sorted = values.clone(); sorted.sort_unstable(); sorted } };
            let mut expected: Vec<HistogramEntry> = Vec::new();
            for &value_us in &durations.ascending_us {
                let value = bucket_floor(value_us) as f64 / MICROS_PER_SECOND;
                match expected.last_mut() {
                    Some(last) if last.value == value => last.count += 1,
                    _ => expected.push(HistogramEntry { value, count: 1 }),
                }
            }
            proptest::prop_assert_eq!(durations.distribution(), expected);
        }
    }

    #[test]
    fn exact_buckets_keep_values_on_their_lower_bound() {
        // hdrhistogram's cell holding 100 000 µs starts at 99 968 µs, so the histogram puts it in 99 ms.
        let durations = SortedDurations::from_micros([99_999, 100_000]);
        let expected = vec![HistogramEntry { value: 0.099, count: 1 }, HistogramEntry { value: 0.1, count: 1 }];
        assert_eq!(durations.distribution(), expected);
    }
}
