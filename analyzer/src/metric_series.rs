//! Metric series: one metric of one service (optionally only the series whose attributes
//! match), over a time range, as one statistic per period — or per raw point.
//!
//! - Buckets start at multiples of the period since the epoch, as the trace time series do, and
//!   every bucket in range is returned (empty ones with no value), so charts have no gaps and
//!   line up with `time_series.rs`'s buckets.
//! - Rollups are computed from the raw points at query time (`docs/storage.md` says why).
//! - Points of every matching series are pooled per bucket, after each cumulative series was
//!   turned into increases on its own (`metric_samples.rs`).
//!
//! | kind | `avg` | `min` / `max` | `sum` | `count` | `p50` `p90` `p99` |
//! |---|---|---|---|---|---|
//! | gauge, non-monotonic sum | mean of the values | of the values | of the values | points | — (400) |
//! | sum (cumulative or delta) | increase per second over the bucket | of the points' per-second rates | increase | points | — (400) |
//! | histogram | sum / count of the recorded values | recorded min / max | of the recorded values | recorded values | from the merged buckets |

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use fluoro_proto::{MetricKind, MetricPoint};
use fluoro_store::{MetricQuery, Store};
use serde::Serialize;

use crate::error::{AnalyzerError, Result};
use crate::group_metrics::GROUP_METRICS_NAMESPACE;
use crate::metric_samples::{max_of, min_of, samples_of_series, MergedBuckets, Sample};

/// How far before the range points are read, so the first increase of a cumulative series has
/// a baseline: longer than any SDK's default export interval (60 s).
pub const CUMULATIVE_LOOKBACK_US: i64 = 10 * 60 * 1_000_000;
/// The shortest period (the per-minute rollup); periods are whole minutes.
pub const MIN_PERIOD_SECONDS: u32 = 60;
/// At most this many buckets per series: a day by the minute.
pub const MAX_BUCKETS: i64 = 1440;

/// What one bucket of a series says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Statistic {
    Avg,
    Min,
    Max,
    Sum,
    Count,
    P50,
    P90,
    P99,
}

impl FromStr for Statistic {
    type Err = AnalyzerError;

    fn from_str(text: &str) -> Result<Statistic> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "avg" | "average" => Statistic::Avg,
            "min" | "minimum" => Statistic::Min,
            "max" | "maximum" => Statistic::Max,
            "sum" => Statistic::Sum,
            "count" | "samplecount" => Statistic::Count,
            "p50" => Statistic::P50,
            "p90" => Statistic::P90,
            "p99" => Statistic::P99,
            _ => {
                return Err(AnalyzerError::InvalidRequest(format!(
                    "Statistic {text:?} is not known; expected avg, min, max, sum, count, p50, p90 or p99"
                )))
            }
        })
    }
}

impl Statistic {
    fn quantile(self) -> Option<f64> {
        match self {
            Statistic::P50 => Some(0.5),
            Statistic::P90 => Some(0.9),
            Statistic::P99 => Some(0.99),
            _ => None,
        }
    }
}

/// A series request.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSeriesQuery {
    pub service: String,
    pub name: String,
    /// Only series with every one of these attribute values (empty: all series).
    pub attributes: Vec<(String, String)>,
    pub from_us: i64,
    pub to_us: i64,
    /// A whole number of minutes, or `None` for one value per raw point.
    pub period_seconds: Option<u32>,
    pub statistic: Statistic,
}

/// One value of a series: a bucket (its start) or a raw point (its time).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricValue {
    /// Epoch seconds.
    pub timestamp: f64,
    /// `None` for a bucket without points.
    pub value: Option<f64>,
    /// Raw points only: the point's series.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<serde_json::Value>,
}

/// A metric's series over a range, one statistic per bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricSeries {
    pub service: String,
    pub name: String,
    /// `None` when no point was found.
    pub unit: Option<String>,
    pub kind: Option<&'static str>,
    pub statistic: Statistic,
    /// `None`: raw points.
    pub period: Option<u32>,
    /// How many series (attribute sets) matched.
    pub series_count: usize,
    pub values: Vec<MetricValue>,
}

/// Checks a period: a whole number of minutes, at most [`MAX_BUCKETS`] buckets over the range.
pub fn validate_metric_period(period_seconds: u32, from_us: i64, to_us: i64) -> Result<u32> {
    if period_seconds < MIN_PERIOD_SECONDS || period_seconds % MIN_PERIOD_SECONDS != 0 {
        return Err(AnalyzerError::InvalidRequest(format!(
            "Period {period_seconds} is not supported; expected a multiple of 60 seconds, or none for raw points"
        )));
    }
    let buckets = (to_us - from_us) / (i64::from(period_seconds) * 1_000_000);
    if buckets > MAX_BUCKETS {
        return Err(AnalyzerError::InvalidRequest(format!(
            "Period {period_seconds} gives {buckets} buckets over the range; at most {MAX_BUCKETS}"
        )));
    }
    Ok(period_seconds)
}

/// The series `query` asks for.
pub fn metric_series(store: &Store, query: &MetricSeriesQuery) -> Result<MetricSeries> {
    if query.to_us <= query.from_us {
        return Err(AnalyzerError::InvalidRequest("the range's end must be after its start".to_owned()));
    }
    if let Some(period) = query.period_seconds {
        validate_metric_period(period, query.from_us, query.to_us)?;
    }
    let read_from = query.from_us.saturating_sub(CUMULATIVE_LOOKBACK_US);
    let points = store.metric_points(&MetricQuery {
        service: query.service.clone(),
        name: query.name.clone(),
        from_us: read_from,
        to_us: query.to_us,
    })?;
    let exact = query.service == GROUP_METRICS_NAMESPACE;
    let series = series_matching(&points, &query.attributes, exact);
    let kind = series.first().and_then(|(_, points)| points.first()).map(|point| point.kind);
    if let Some(kind) = kind {
        check_statistic(kind, query.statistic, &query.name)?;
    }
    let samples = series.iter().flat_map(|(attributes, points)| {
        let samples = samples_of_series(points, read_from);
        samples.into_iter().filter(|s| s.time_us >= query.from_us).map(move |sample| (*attributes, sample))
    });
    let values = match (kind, query.period_seconds) {
        (None, None) => Vec::new(),
        (Some(kind), None) => raw_values(kind, query.statistic, samples),
        (kind, Some(period)) => bucket_values(
            kind,
            query.statistic,
            samples.map(|(_, sample)| sample),
            query,
            i64::from(period) * 1_000_000,
        ),
    };
    let first = series.first().and_then(|(_, points)| points.first());
    Ok(MetricSeries {
        service: query.service.clone(),
        name: query.name.clone(),
        unit: first.map(|point| point.unit.clone()),
        kind: kind.map(MetricKind::name),
        statistic: query.statistic,
        period: query.period_seconds,
        series_count: series.len(),
        values,
    })
}

/// Percentiles need buckets: they are refused for gauges and sums with a message saying so.
fn check_statistic(kind: MetricKind, statistic: Statistic, name: &str) -> Result<()> {
    if statistic.quantile().is_some() && !kind.is_histogram() {
        return Err(AnalyzerError::InvalidRequest(format!(
            "Statistic {statistic:?} needs a histogram; {name:?} is a {}: use avg, min, max, sum or count",
            kind.name()
        )));
    }
    Ok(())
}

/// The points by series (their attribute text), of the series whose attributes match: that
/// have each wanted value, and with `exact` no other attribute.
fn series_matching<'a>(
    points: &'a [MetricPoint],
    wanted: &[(String, String)],
    exact: bool,
) -> Vec<(&'a str, Vec<&'a MetricPoint>)> {
    let mut by_series: BTreeMap<&str, Vec<&MetricPoint>> = BTreeMap::new();
    for point in points {
        by_series.entry(point.attributes.as_str()).or_default().push(point);
    }
    by_series.retain(|attributes, _| attributes_match(attributes, wanted, exact));
    by_series.into_iter().collect()
}

/// Group metrics are CloudWatch metrics: their dimensions name one series exactly (a node's
/// `FaultCount` is not pooled with its edges', which have two more), so for them given
/// attributes must be all of a series' attributes. OTLP attributes are open-ended: any
/// series with the given values matches. No attributes at all select every series.
fn attributes_match(attributes: &str, wanted: &[(String, String)], exact: bool) -> bool {
    if wanted.is_empty() {
        return true;
    }
    let parsed: HashMap<String, String> = serde_json::from_str(attributes).unwrap_or_default();
    (!exact || parsed.len() == wanted.len()) && wanted.iter().all(|(key, value)| parsed.get(key) == Some(value))
}

fn raw_values<'a>(
    kind: MetricKind,
    statistic: Statistic,
    samples: impl Iterator<Item = (&'a str, Sample)>,
) -> Vec<MetricValue> {
    let mut values: Vec<MetricValue> = samples
        .map(|(attributes, sample)| {
            let interval_us = sample.interval_us.unwrap_or(0);
            MetricValue {
                timestamp: sample.time_us as f64 / 1e6,
                value: statistic_of(kind, statistic, &[sample], interval_us),
                attributes: serde_json::from_str(attributes).ok(),
            }
        })
        .collect();
    values.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
    values
}

fn bucket_values(
    kind: Option<MetricKind>,
    statistic: Statistic,
    samples: impl Iterator<Item = Sample>,
    query: &MetricSeriesQuery,
    period_us: i64,
) -> Vec<MetricValue> {
    let mut by_bucket: BTreeMap<i64, Vec<Sample>> = BTreeMap::new();
    for sample in samples {
        by_bucket.entry(sample.time_us - sample.time_us.rem_euclid(period_us)).or_default().push(sample);
    }
    let mut values = Vec::new();
    let mut bucket = query.from_us - query.from_us.rem_euclid(period_us);
    while bucket < query.to_us {
        let samples = by_bucket.remove(&bucket).unwrap_or_default();
        let value = kind.and_then(|kind| statistic_of(kind, statistic, &samples, period_us));
        values.push(MetricValue { timestamp: bucket as f64 / 1e6, value, attributes: None });
        bucket += period_us;
    }
    values
}

/// One statistic of some samples covering `span_us` (a bucket, or a raw point's interval).
fn statistic_of(kind: MetricKind, statistic: Statistic, samples: &[Sample], span_us: i64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    if kind.is_histogram() {
        return histogram_statistic(statistic, samples);
    }
    let values: Vec<f64> = match kind {
        MetricKind::CumulativeSum | MetricKind::DeltaSum if matches!(statistic, Statistic::Min | Statistic::Max) => {
            samples.iter().filter_map(rate_of).collect()
        }
        _ => samples.iter().map(|sample| sample.value).collect(),
    };
    let total: f64 = samples.iter().map(|sample| sample.value).sum();
    match statistic {
        Statistic::Count => Some(samples.len() as f64),
        Statistic::Sum => Some(total),
        Statistic::Min => values.iter().copied().reduce(f64::min),
        Statistic::Max => values.iter().copied().reduce(f64::max),
        Statistic::Avg => match kind {
            MetricKind::CumulativeSum | MetricKind::DeltaSum => (span_us > 0).then(|| total / (span_us as f64 / 1e6)),
            _ => Some(total / samples.len() as f64),
        },
        Statistic::P50 | Statistic::P90 | Statistic::P99 => None,
    }
}

fn rate_of(sample: &Sample) -> Option<f64> {
    sample.interval_us.filter(|us| *us > 0).map(|us| sample.value / (us as f64 / 1e6))
}

fn histogram_statistic(statistic: Statistic, samples: &[Sample]) -> Option<f64> {
    let histograms = samples.iter().filter_map(|sample| sample.histogram.as_ref());
    let (mut count, mut sum, mut min, mut max) = (0u64, 0.0, None, None);
    let mut merged = MergedBuckets::default();
    for histogram in histograms {
        count += histogram.count;
        sum += histogram.sum.unwrap_or_default();
        min = min_of(min, histogram.min);
        max = max_of(max, histogram.max);
        merged.add(histogram);
    }
    match statistic {
        Statistic::Count => Some(count as f64),
        Statistic::Sum => Some(sum),
        Statistic::Avg => (count > 0).then(|| sum / count as f64),
        Statistic::Min => min,
        Statistic::Max => max,
        quantile => quantile.quantile().and_then(|q| merged.quantile(q)),
    }
}
