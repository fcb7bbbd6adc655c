//! The flat metric point: one row per OTLP data point, the shape the store keeps beside the
//! spans and log records and the analyzer turns into series. A series is one
//! (service, metric name, attributes) triple; [`MetricPoint::attributes`] is written in one
//! canonical form so the same series always has the same key, whatever order an SDK sends its
//! attributes in.
//!
//! Times are integer microseconds since the epoch, like span and log times.

use serde::{Deserialize, Serialize};

/// What a point measures, and how its values add up over time (OTLP's data type, temporality
/// and monotonicity in one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MetricKind {
    /// A value at an instant (an OTLP gauge).
    Gauge,
    /// A monotonic sum since `start_us` (a counter's usual export): its increase is what counts.
    CumulativeSum,
    /// A sum over `[start_us, time_us)` only.
    DeltaSum,
    /// A cumulative sum that may go down (an up-down counter): read like a gauge.
    NonMonotonicSum,
    /// Bucket counts since `start_us`.
    CumulativeHistogram,
    /// Bucket counts over `[start_us, time_us)` only.
    DeltaHistogram,
}

impl MetricKind {
    pub const ALL: [MetricKind; 6] = [
        MetricKind::Gauge,
        MetricKind::CumulativeSum,
        MetricKind::DeltaSum,
        MetricKind::NonMonotonicSum,
        MetricKind::CumulativeHistogram,
        MetricKind::DeltaHistogram,
    ];

    /// The stable name blocks and the API use (`gauge`, `sum_cumulative`…).
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::CumulativeSum => "sum_cumulative",
            MetricKind::DeltaSum => "sum_delta",
            MetricKind::NonMonotonicSum => "sum_nonmonotonic",
            MetricKind::CumulativeHistogram => "histogram_cumulative",
            MetricKind::DeltaHistogram => "histogram_delta",
        }
    }

    pub fn from_name(name: &str) -> Option<MetricKind> {
        MetricKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    pub fn is_histogram(self) -> bool {
        matches!(self, MetricKind::CumulativeHistogram | MetricKind::DeltaHistogram)
    }

    /// Whether each point holds a total since `start_us`, so series need a delta conversion.
    pub fn is_cumulative(self) -> bool {
        matches!(self, MetricKind::CumulativeSum | MetricKind::CumulativeHistogram)
    }
}

/// A histogram point's buckets and summary. `counts` has one more entry than `bounds` (the
/// last bucket is above the last bound), or both are empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistogramValue {
    pub count: u64,
    pub sum: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Upper bounds of the buckets (inclusive), ascending.
    pub bounds: Vec<f64>,
    pub counts: Vec<u64>,
}

/// One data point, flattened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// The end of the point's interval (`time_unix_nano`).
    pub time_us: i64,
    /// The start of a sum's or histogram's interval (`start_time_unix_nano`); 0 when not sent.
    /// A new start time on a cumulative series means it was reset.
    pub start_us: i64,
    /// Resource `service.name`, cut like a span's service name.
    pub service: String,
    pub name: String,
    pub unit: String,
    pub kind: MetricKind,
    /// The point's attributes as a JSON object with sorted keys and string values.
    pub attributes: String,
    /// The value of a gauge or sum; `None` for histograms.
    pub value: Option<f64>,
    /// The buckets of a histogram; `None` for gauges and sums.
    pub histogram: Option<HistogramValue>,
}
