//! From stored metric points to samples a statistic can add up: cumulative series become
//! increases, per series, with resets found by their start time; histogram buckets are merged
//! and read as percentiles.
//!
//! A cumulative point's increase is its value minus the previous point's of the same series,
//! when both have the same start time and the value did not go down. A new start time is a
//! reset: the point's whole value is its increase, counted from its start time. A value lower
//! than before under the same start time is a reset the sender did not mark (as Prometheus'
//! `rate` reads any decrease): the whole value counts, over the gap since the previous point. The first point of a series has no previous one: its whole value counts when its
//! start time is inside the window read (the series began there); otherwise it is only the
//! baseline of the next. Callers read a little before the range for that baseline.

use fluoro_proto::{HistogramValue, MetricKind, MetricPoint};

/// One point made additive.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) time_us: i64,
    /// The microseconds the sample covers (`time - start` or the gap since the previous point),
    /// when known; what a per-second rate divides by.
    pub(crate) interval_us: Option<i64>,
    /// A gauge's value, or a sum's increase over the interval.
    pub(crate) value: f64,
    /// A histogram's buckets over the interval.
    pub(crate) histogram: Option<HistogramValue>,
}

/// The samples of one series' points (sorted by time), read from `window_start_us` on.
pub(crate) fn samples_of_series(points: &[&MetricPoint], window_start_us: i64) -> Vec<Sample> {
    let mut samples = Vec::with_capacity(points.len());
    let mut previous: Option<&MetricPoint> = None;
    for point in points {
        let sample = match point.kind {
            MetricKind::CumulativeSum | MetricKind::CumulativeHistogram => increase(previous, point, window_start_us),
            MetricKind::Gauge | MetricKind::NonMonotonicSum => Some(as_is(point, None)),
            MetricKind::DeltaSum | MetricKind::DeltaHistogram => {
                Some(as_is(point, (point.start_us > 0).then(|| point.time_us - point.start_us)))
            }
        };
        samples.extend(sample);
        previous = Some(point);
    }
    samples
}

fn as_is(point: &MetricPoint, interval_us: Option<i64>) -> Sample {
    Sample {
        time_us: point.time_us,
        interval_us,
        value: point.value.unwrap_or_default(),
        histogram: point.histogram.clone(),
    }
}

fn increase(previous: Option<&MetricPoint>, point: &MetricPoint, window_start_us: i64) -> Option<Sample> {
    let since_previous = previous
        .filter(|previous| previous.start_us == point.start_us && previous.time_us < point.time_us)
        .and_then(|previous| difference(previous, point).map(|sample| (previous, sample)));
    if let Some((previous, mut sample)) = since_previous {
        sample.interval_us = Some(point.time_us - previous.time_us);
        return Some(sample);
    }
    match previous {
        // Went down under the same start time: an unmarked reset.
        Some(previous) if previous.start_us == point.start_us => {
            Some(as_is(point, Some(point.time_us - previous.time_us)))
        }
        // A new start time, or the first point: all of it counts if it started where we can see.
        _ => {
            let started_in_view = point.start_us > 0 && (previous.is_some() || point.start_us >= window_start_us);
            started_in_view.then(|| as_is(point, Some(point.time_us - point.start_us)))
        }
    }
}

/// `point - previous`, or `None` when something went down (a reset the start time missed) or
/// the buckets changed (read as a reset too).
fn difference(previous: &MetricPoint, point: &MetricPoint) -> Option<Sample> {
    let value = point.value.unwrap_or_default() - previous.value.unwrap_or_default();
    if value < 0.0 {
        return None;
    }
    let histogram = match (&previous.histogram, &point.histogram) {
        (Some(before), Some(now)) => Some(histogram_difference(before, now)?),
        _ => None,
    };
    Some(Sample { time_us: point.time_us, interval_us: None, value, histogram })
}

fn histogram_difference(before: &HistogramValue, now: &HistogramValue) -> Option<HistogramValue> {
    if before.bounds != now.bounds || now.count < before.count {
        return None;
    }
    let counts = now
        .counts
        .iter()
        .zip(before.counts.iter().chain(std::iter::repeat(&0)))
        .map(|(now, before)| now.checked_sub(*before))
        .collect::<Option<Vec<u64>>>()?;
    Some(HistogramValue {
        count: now.count - before.count,
        sum: now.sum.zip(before.sum).map(|(now, before)| now - before),
        // Cumulative min and max cover the whole series since its start; the best there is.
        min: now.min,
        max: now.max,
        bounds: now.bounds.clone(),
        counts,
    })
}

/// Histogram buckets merged across samples: (upper bound, count), ascending, the last bound
/// infinite.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct MergedBuckets {
    buckets: Vec<(f64, u64)>,
    min: Option<f64>,
    max: Option<f64>,
}

impl MergedBuckets {
    pub(crate) fn add(&mut self, histogram: &HistogramValue) {
        let uppers = histogram.bounds.iter().copied().chain(std::iter::once(f64::INFINITY));
        for (upper, count) in uppers.zip(histogram.counts.iter().copied()) {
            match self.buckets.binary_search_by(|(known, _)| known.total_cmp(&upper)) {
                Ok(at) => self.buckets[at].1 += count,
                Err(at) => self.buckets.insert(at, (upper, count)),
            }
        }
        self.min = min_of(self.min, histogram.min);
        self.max = max_of(self.max, histogram.max);
    }

    /// The `quantile` (0–1) by linear interpolation inside its bucket, clamped to the recorded
    /// min and max; `None` without any counted bucket.
    pub(crate) fn quantile(&self, quantile: f64) -> Option<f64> {
        let total: u64 = self.buckets.iter().map(|(_, count)| count).sum();
        if total == 0 {
            return None;
        }
        let rank = quantile.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        let mut lower = self.min.unwrap_or(0.0).min(self.buckets[0].0);
        for &(upper, count) in &self.buckets {
            if count > 0 && (below + count) as f64 >= rank {
                let upper = if upper.is_finite() { upper } else { self.max.unwrap_or(lower) };
                let within = (rank - below as f64) / count as f64;
                let value = lower + (upper - lower) * within;
                return Some(value.clamp(self.min.unwrap_or(f64::MIN), self.max.unwrap_or(f64::MAX)));
            }
            below += count;
            if upper.is_finite() {
                lower = upper;
            }
        }
        self.max
    }
}

pub(crate) fn min_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub(crate) fn max_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(time_us: i64, start_us: i64, value: f64) -> MetricPoint {
        MetricPoint {
            time_us,
            start_us,
            service: "s".into(),
            name: "n".into(),
            unit: String::new(),
            kind: MetricKind::CumulativeSum,
            attributes: "{}".into(),
            value: Some(value),
            histogram: None,
        }
    }

    #[test]
    fn cumulative_sums_become_increases_and_resets_are_found_by_start_time() {
        let points = [
            counter(60, 10, 5.0), // started before the window: baseline only
            counter(120, 10, 8.0),
            counter(180, 150, 2.0), // restarted at 150
            counter(240, 150, 6.0),
            counter(300, 150, 1.0), // went down without a new start: an unmarked reset
        ];
        let refs: Vec<&MetricPoint> = points.iter().collect();
        let samples = samples_of_series(&refs, 50);
        let increases: Vec<(i64, f64, Option<i64>)> =
            samples.iter().map(|s| (s.time_us, s.value, s.interval_us)).collect();
        assert_eq!(increases, [(120, 3.0, Some(60)), (180, 2.0, Some(30)), (240, 4.0, Some(60)), (300, 1.0, Some(60))]);
        let started_inside = samples_of_series(&refs[..1], 0);
        assert_eq!(started_inside[0].value, 5.0, "a series that began in the window counts from 0");
    }

    #[test]
    fn percentiles_interpolate_inside_merged_buckets() {
        let mut merged = MergedBuckets::default();
        let histogram = |counts: Vec<u64>| HistogramValue {
            count: counts.iter().sum(),
            sum: None,
            min: Some(0.0),
            max: Some(4.0),
            bounds: vec![1.0, 2.0],
            counts,
        };
        merged.add(&histogram(vec![5, 3, 0]));
        merged.add(&histogram(vec![5, 5, 2]));
        // 20 values: 10 in (0,1], 8 in (1,2], 2 above 2 (up to max 4).
        assert_eq!(merged.quantile(0.5), Some(1.0));
        assert_eq!(merged.quantile(0.9), Some(2.0));
        assert_eq!(merged.quantile(0.95), Some(3.0));
        assert_eq!(MergedBuckets::default().quantile(0.5), None);
    }
}
