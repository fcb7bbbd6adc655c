//! OTLP metrics → [`MetricPoint`]s: one row per data point of the gauges, sums and explicit
//! bucket histograms an export carries.
//!
//! | `MetricPoint` field | from |
//! |---|---|
//! | `time_us`, `start_us` | `time_unix_nano` / 1000 (required), `start_time_unix_nano` / 1000 (0 when absent) |
//! | `service` | resource `service.name`, else `unknown_service`, cut like a span's service |
//! | `name`, `unit` | the metric's `name` (required, at most [`MAX_METRIC_NAME_CHARS`]) and `unit` (cut to 63 characters) |
//! | `kind` | gauge; sum by temporality and monotonicity; histogram by temporality (see [`MetricKind`]) |
//! | `attributes` | the point's attributes as a JSON object, keys sorted, values as text, the first [`MAX_LOG_ATTRIBUTES`] keys, keys and values cut to [`MAX_ATTRIBUTE_BYTES`] |
//! | `value` | `as_double`, or `as_int` as a float |
//! | `histogram` | `count`, `sum`, `min`, `max`, `explicit_bounds`, `bucket_counts` |
//!
//! Rejected, per data point, with the rest of the request kept: summaries and exponential
//! histograms (not supported: counted as `unsupported`), a metric with no data, a point
//! without a value or time, a value that is not finite, a sum or histogram whose temporality
//! is unspecified, and a histogram whose bounds are not ascending and finite or whose bucket
//! counts do not match its bounds.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
};

use super::logs::{cut_to_bytes, text_of_value, MAX_ATTRIBUTE_BYTES, MAX_LOG_ATTRIBUTES};
use super::resource::ResourceFacts;
use super::{Conversion, Rejection};
use crate::error::OtlpError;
use crate::metric::{HistogramValue, MetricKind, MetricPoint};

/// The longest metric name kept: the OpenTelemetry API's instrument name limit.
pub const MAX_METRIC_NAME_CHARS: usize = 255;
const MAX_UNIT_CHARS: usize = 63;
/// More buckets than any SDK's default (15 or 16) by far; bounds a row.
const MAX_HISTOGRAM_BOUNDS: usize = 256;

/// The outcome of converting OTLP metrics: the points to store and the points refused.
pub type MetricConversion = Conversion<MetricPoint, RejectedMetricPoint>;

/// A data point (or a metric without any) that was not converted, where it was, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedMetricPoint {
    pub resource_index: usize,
    pub scope_index: usize,
    pub metric_index: usize,
    /// The metric's name, cut to 100 characters.
    pub metric: String,
    pub error: OtlpError,
}

/// Converts all `resource_metrics` of an export request.
pub fn metric_points_from_otlp(resource_metrics: &[ResourceMetrics]) -> MetricConversion {
    let mut conversion = MetricConversion::default();
    for (resource_index, one) in resource_metrics.iter().enumerate() {
        let service = ResourceFacts::from_resource(one.resource.as_ref()).service;
        for (scope_index, scope) in one.scope_metrics.iter().enumerate() {
            for (metric_index, metric) in scope.metrics.iter().enumerate() {
                let reject = |error| RejectedMetricPoint {
                    resource_index,
                    scope_index,
                    metric_index,
                    metric: metric.name.chars().take(100).collect(),
                    error,
                };
                for outcome in points_of_metric(metric, &service) {
                    match outcome {
                        Ok(point) => conversion.rows.push(point),
                        Err(error) => conversion.rejected.push(reject(error)),
                    }
                }
            }
        }
    }
    conversion
}

impl Rejection for RejectedMetricPoint {
    const ITEMS: &'static str = "data points";
}

impl MetricConversion {
    /// Rejected points of a kind Fluoro does not keep (summaries, exponential histograms), as
    /// opposed to malformed ones.
    pub fn unsupported_count(&self) -> usize {
        self.rejected.iter().filter(|rejected| matches!(rejected.error, OtlpError::UnsupportedMetric { .. })).count()
    }
}

impl std::fmt::Display for RejectedMetricPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "resource_metrics[{}].scope_metrics[{}].metrics[{}] ({:?}): {}",
            self.resource_index, self.scope_index, self.metric_index, self.metric, self.error
        )
    }
}

/// What every point of one metric shares.
struct MetricFacts<'a> {
    service: &'a str,
    name: String,
    unit: String,
}

fn points_of_metric(metric: &Metric, service: &str) -> Vec<Result<MetricPoint, OtlpError>> {
    let Some(data) = &metric.data else { return vec![Err(OtlpError::MetricWithoutData)] };
    let name_chars = metric.name.chars().count();
    if metric.name.is_empty() || name_chars > MAX_METRIC_NAME_CHARS {
        let error = OtlpError::MetricName { chars: name_chars, limit: MAX_METRIC_NAME_CHARS };
        return vec![Err(error); data_point_count(data).max(1)];
    }
    let facts =
        MetricFacts { service, name: metric.name.clone(), unit: metric.unit.chars().take(MAX_UNIT_CHARS).collect() };
    match data {
        Data::Gauge(gauge) => number_points(&facts, &gauge.data_points, Ok(MetricKind::Gauge)),
        Data::Sum(sum) => {
            let kind = match (temporality(sum.aggregation_temporality), sum.is_monotonic) {
                (Some(AggregationTemporality::Delta), _) => Ok(MetricKind::DeltaSum),
                (Some(_), true) => Ok(MetricKind::CumulativeSum),
                (Some(_), false) => Ok(MetricKind::NonMonotonicSum),
                (None, _) => Err(OtlpError::TemporalityUnspecified),
            };
            number_points(&facts, &sum.data_points, kind)
        }
        Data::Histogram(histogram) => {
            let kind = match temporality(histogram.aggregation_temporality) {
                Some(AggregationTemporality::Delta) => Ok(MetricKind::DeltaHistogram),
                Some(_) => Ok(MetricKind::CumulativeHistogram),
                None => Err(OtlpError::TemporalityUnspecified),
            };
            histogram.data_points.iter().map(|point| histogram_point(&facts, point, kind.clone())).collect()
        }
        Data::ExponentialHistogram(histogram) => {
            vec![Err(OtlpError::UnsupportedMetric { kind: "exponential histogram" }); histogram.data_points.len()]
        }
        Data::Summary(summary) => {
            vec![Err(OtlpError::UnsupportedMetric { kind: "summary" }); summary.data_points.len()]
        }
    }
}

fn data_point_count(data: &Data) -> usize {
    match data {
        Data::Gauge(gauge) => gauge.data_points.len(),
        Data::Sum(sum) => sum.data_points.len(),
        Data::Histogram(histogram) => histogram.data_points.len(),
        Data::ExponentialHistogram(histogram) => histogram.data_points.len(),
        Data::Summary(summary) => summary.data_points.len(),
    }
}

/// Cumulative or delta; `None` for unspecified (and unknown values).
fn temporality(value: i32) -> Option<AggregationTemporality> {
    match AggregationTemporality::try_from(value) {
        Ok(AggregationTemporality::Unspecified) | Err(_) => None,
        Ok(known) => Some(known),
    }
}

fn number_points(
    facts: &MetricFacts<'_>,
    points: &[NumberDataPoint],
    kind: Result<MetricKind, OtlpError>,
) -> Vec<Result<MetricPoint, OtlpError>> {
    points.iter().map(|point| number_point(facts, point, kind.clone())).collect()
}

fn number_point(
    facts: &MetricFacts<'_>,
    point: &NumberDataPoint,
    kind: Result<MetricKind, OtlpError>,
) -> Result<MetricPoint, OtlpError> {
    let kind = kind?;
    let value = match point.value {
        Some(Value::AsDouble(value)) => value,
        Some(Value::AsInt(value)) => value as f64,
        None => return Err(OtlpError::MetricValueMissing),
    };
    if !value.is_finite() {
        return Err(OtlpError::MetricValueNotFinite);
    }
    let mut row = row(facts, kind, point.time_unix_nano, point.start_time_unix_nano, &point.attributes)?;
    row.value = Some(value);
    Ok(row)
}

fn histogram_point(
    facts: &MetricFacts<'_>,
    point: &HistogramDataPoint,
    kind: Result<MetricKind, OtlpError>,
) -> Result<MetricPoint, OtlpError> {
    let kind = kind?;
    let bounds = &point.explicit_bounds;
    let ascending = bounds.windows(2).all(|pair| pair[0] < pair[1]);
    if bounds.len() > MAX_HISTOGRAM_BOUNDS || !ascending || !bounds.iter().all(|bound| bound.is_finite()) {
        return Err(OtlpError::HistogramBounds { bounds: bounds.len() });
    }
    let buckets_match =
        (bounds.is_empty() && point.bucket_counts.len() <= 1) || point.bucket_counts.len() == bounds.len() + 1;
    if !buckets_match {
        return Err(OtlpError::HistogramBuckets { bounds: bounds.len(), counts: point.bucket_counts.len() });
    }
    let finite = |value: Option<f64>| value.filter(|value| value.is_finite());
    let mut row = row(facts, kind, point.time_unix_nano, point.start_time_unix_nano, &point.attributes)?;
    // A histogram without bounds has one bucket, which says no more than the count.
    let with_buckets = !bounds.is_empty();
    row.histogram = Some(HistogramValue {
        count: point.count,
        sum: finite(point.sum),
        min: finite(point.min),
        max: finite(point.max),
        bounds: if with_buckets { bounds.clone() } else { Vec::new() },
        counts: if with_buckets { point.bucket_counts.clone() } else { Vec::new() },
    });
    Ok(row)
}

fn row(
    facts: &MetricFacts<'_>,
    kind: MetricKind,
    time_unix_nano: u64,
    start_time_unix_nano: u64,
    attributes: &[KeyValue],
) -> Result<MetricPoint, OtlpError> {
    if time_unix_nano == 0 {
        return Err(OtlpError::MetricTimeMissing);
    }
    Ok(MetricPoint {
        time_us: super::nanos_to_micros(time_unix_nano),
        start_us: super::nanos_to_micros(start_time_unix_nano),
        service: facts.service.to_owned(),
        name: facts.name.clone(),
        unit: facts.unit.clone(),
        kind,
        attributes: canonical_attributes(attributes),
        value: None,
        histogram: None,
    })
}

/// A JSON object of the attributes, keys sorted (the first of duplicate keys wins), so one
/// series always has one key.
pub fn canonical_attributes(attributes: &[KeyValue]) -> String {
    let mut sorted = BTreeMap::new();
    for pair in attributes.iter().take(MAX_LOG_ATTRIBUTES) {
        let value = pair.value.as_ref().map(text_of_value).unwrap_or_default();
        sorted
            .entry(cut_to_bytes(&pair.key, MAX_ATTRIBUTE_BYTES))
            .or_insert_with(|| cut_to_bytes(&value, MAX_ATTRIBUTE_BYTES));
    }
    serde_json::to_string(&sorted).unwrap_or_else(|_| "{}".to_owned())
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValueKind;
    use opentelemetry_proto::tonic::metrics::v1::{
        ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, ScopeMetrics, Sum, Summary,
        SummaryDataPoint,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use proptest::prelude::*;

    use super::super::fixtures::attribute;
    use super::*;

    const T0: u64 = 1_700_000_000_000_000_000;

    fn number(value: Value, attributes: Vec<KeyValue>) -> NumberDataPoint {
        NumberDataPoint {
            time_unix_nano: T0 + 10_000_000_000,
            start_time_unix_nano: T0,
            value: Some(value),
            attributes,
            ..Default::default()
        }
    }

    fn metric(name: &str, data: Data) -> Metric {
        Metric { name: name.to_owned(), unit: "By".to_owned(), data: Some(data), ..Default::default() }
    }

    fn request(metrics: Vec<Metric>) -> Vec<ResourceMetrics> {
        let service = attribute("service.name", AnyValueKind::StringValue("pet-search".to_owned()));
        vec![ResourceMetrics {
            resource: Some(Resource { attributes: vec![service], ..Default::default() }),
            scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
            ..Default::default()
        }]
    }

    fn text(key: &str, value: &str) -> KeyValue {
        attribute(key, AnyValueKind::StringValue(value.to_owned()))
    }

    #[test]
    fn gauges_sums_and_histograms_become_points() {
        let gauge = metric(
            "process.memory.usage",
            Data::Gauge(Gauge { data_points: vec![number(Value::AsInt(1 << 20), vec![])] }),
        );
        let counter = metric(
            "requests",
            Data::Sum(Sum {
                data_points: vec![number(Value::AsDouble(5.0), vec![text("route", "/pets"), text("method", "GET")])],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            }),
        );
        let histogram = metric(
            "latency",
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    time_unix_nano: T0 + 1,
                    count: 3,
                    sum: Some(0.6),
                    explicit_bounds: vec![0.1, 0.5],
                    bucket_counts: vec![1, 1, 1],
                    min: Some(0.05),
                    max: Some(0.4),
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Delta as i32,
            }),
        );
        let conversion = metric_points_from_otlp(&request(vec![gauge, counter, histogram]));
        assert!(conversion.rejected.is_empty());
        let [memory, requests, latency] = conversion.rows.as_slice() else { panic!("{conversion:?}") };
        assert_eq!(
            (memory.kind, memory.value, memory.service.as_str()),
            (MetricKind::Gauge, Some(1048576.0), "pet-search")
        );
        assert_eq!((memory.time_us, memory.start_us), (1_700_000_010_000_000, 1_700_000_000_000_000));
        assert_eq!(requests.kind, MetricKind::CumulativeSum);
        assert_eq!(requests.attributes, r#"{"method":"GET","route":"/pets"}"#, "keys sorted");
        assert_eq!(latency.kind, MetricKind::DeltaHistogram);
        let buckets = latency.histogram.as_ref().unwrap();
        assert_eq!((buckets.count, buckets.bounds.len(), buckets.counts.len()), (3, 2, 3));
        assert_eq!(latency.start_us, 0);
    }

    #[test]
    fn unsupported_and_malformed_points_are_rejected_and_the_rest_kept() {
        let summary = metric(
            "rpc.duration",
            Data::Summary(Summary { data_points: vec![SummaryDataPoint::default(), SummaryDataPoint::default()] }),
        );
        let exponential = metric(
            "exp",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint::default()],
                aggregation_temporality: 1,
            }),
        );
        let no_value = NumberDataPoint { value: None, ..number(Value::AsInt(1), vec![]) };
        let gauge = metric(
            "g",
            Data::Gauge(Gauge {
                data_points: vec![no_value, number(Value::AsDouble(f64::NAN), vec![]), number(Value::AsInt(7), vec![])],
            }),
        );
        let empty = Metric { name: "nothing".to_owned(), ..Default::default() };
        let conversion = metric_points_from_otlp(&request(vec![summary, exponential, gauge, empty]));
        assert_eq!(conversion.rows.len(), 1);
        assert_eq!(conversion.rows[0].value, Some(7.0));
        assert_eq!((conversion.rejected_count(), conversion.unsupported_count()), (6, 3));
        let message = conversion.rejection_message().unwrap_or_default();
        assert!(
            message.starts_with(
                "6 of 7 data points rejected: resource_metrics[0].scope_metrics[0].metrics[0] (\"rpc.duration\"): \
                 summary metrics are not supported"
            ),
            "{message}"
        );
    }

    #[test]
    fn histograms_with_inconsistent_buckets_are_rejected() {
        let point = |bounds: Vec<f64>, counts: Vec<u64>| HistogramDataPoint {
            time_unix_nano: T0,
            explicit_bounds: bounds,
            bucket_counts: counts,
            ..Default::default()
        };
        let histogram = metric(
            "h",
            Data::Histogram(Histogram {
                data_points: vec![
                    point(vec![1.0, 2.0], vec![1, 1]),
                    point(vec![2.0, 1.0], vec![0, 0, 0]),
                    point(vec![], vec![4]),
                ],
                aggregation_temporality: 2,
            }),
        );
        let conversion = metric_points_from_otlp(&request(vec![histogram]));
        assert_eq!(conversion.rows.len(), 1);
        let reasons: Vec<&str> = conversion.rejected.iter().map(|r| r.error.reason()).collect();
        assert_eq!(reasons, ["histogram", "histogram"]);
    }

    proptest! {
        #[test]
        fn arbitrary_points_never_panic(
            time in any::<u64>(),
            start in any::<u64>(),
            value in any::<f64>(),
            temporality in -1i32..4,
            monotonic in any::<bool>(),
            name in ".{0,300}",
        ) {
            let point = NumberDataPoint { time_unix_nano: time, start_time_unix_nano: start, value: Some(Value::AsDouble(value)), ..Default::default() };
            let sum = Metric { name, data: Some(Data::Sum(Sum { data_points: vec![point], aggregation_temporality: temporality, is_monotonic: monotonic })), ..Default::default() };
            let conversion = metric_points_from_otlp(&request(vec![sum]));
            prop_assert_eq!(conversion.rows.len() + conversion.rejected.len(), 1);
            for point in &conversion.rows {
                prop_assert!(point.value.is_some_and(f64::is_finite));
                prop_assert!(point.name.chars().count() <= MAX_METRIC_NAME_CHARS);
            }
        }
    }
}
