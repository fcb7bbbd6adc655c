//! The latency of a filter (analyzer issue, "Latency histograms … per node, edge and filter"):
//! the response-time and duration distributions of the traces a filter expression matches,
//! optionally within a group. Nodes and edges get theirs from the service graph.
//!
//! Read path: [`load_spans`](crate::spans::load_spans) over the window widened by [`TRACE_SLACK_US`](crate::TRACE_SLACK_US) → [`trace_frame`](crate::trace_frame::trace_frame)
//! (traces that started in the window, as GetTraceSummaries and `/api/compare` select them) →
//! the compiled filter, `group.name`/`group.arn` inlined → the `responsetime_us` and
//! `duration_us` columns → [`SortedDurations`]. Without a filter or group, the same durations
//! come straight from the per-trace fold under the frame, which is then not built.
//!
//! - Response time is the root segment's; duration spans the whole trace. A trace whose root
//!   has not ended (in progress) has no response time: it counts in `Traces` and in the
//!   durations (the time its spans cover so far) only, so `ResponseTime.Count` may be smaller
//!   than `Traces`.
//! - Min, max, mean and p50/p90/p95/p99 are exact (nearest rank over the sorted values), not read
//!   from an hdrhistogram, whose quantiles are only within 0.1 % (3 significant digits): the
//!   values are in memory already, one per trace of a window of at most a day, so sorting them
//!   costs less than the scan that produced them.
//! - The distribution is X-Ray's `[{Value, Count}]` with the buckets of
//!   [`LatencyHistogram::distribution`](crate::LatencyHistogram::distribution) (2 significant
//!   digits, `Value` the lower bound in seconds, only non-empty buckets): the shape the service
//!   graph's `ResponseTimeHistogram` and `/api/compare`'s `Distribution` already have, so one
//!   plotting client reads all three; at most 90 buckets per decade, so bounded whatever the
//!   trace count; and a bucket's upper bound is implied (`0.0012` covers [1.2 ms, 1.3 ms)).
//!   Fixed coarser buckets are a presentation choice left to the client (`trace histogram`
//!   draws 1-2-5 buckets per decade).

use fluoro_store::Store;
use polars::prelude::*;
use serde::Serialize;

use crate::error::Result;
use crate::filter::{compile_filter, FilterExpr, GroupRef, GroupResolver, MatchFrames};
use crate::histogram::{HistogramEntry, Percentiles, SortedDurations};
use crate::threads::joined;
use crate::trace_aggregates::{trace_durations, TraceDurations};
use crate::trace_frame::{window_spans, window_traces, TimeRangeType, TRACE_FRAME_COLUMNS};

const MICROS_PER_SECOND: f64 = 1e6;

/// Which traces [`filter_latency`] describes.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyQuery {
    /// Traces that started in `[from_us, to_us)`.
    pub from_us: i64,
    pub to_us: i64,
    /// `None`: every trace of the window.
    pub filter: Option<FilterExpr>,
    /// Only the traces of this group (its current filter expression).
    pub group: Option<GroupRef>,
}

/// The answer of [`filter_latency`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LatencyReport {
    /// Traces that matched.
    pub traces: u64,
    pub response_time: LatencyDistribution,
    pub duration: LatencyDistribution,
}

/// One measure's exact statistics and plottable distribution.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LatencyDistribution {
    /// Traces with a value for this measure.
    pub count: u64,
    /// `None` when `count` is 0.
    pub summary: Option<LatencySummary>,
    /// Non-empty 2-significant-digit buckets, ascending; counts sum to `count`.
    pub distribution: Vec<HistogramEntry>,
}

/// Exact statistics, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LatencySummary {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    #[serde(flatten)]
    pub percentiles: Percentiles,
}

/// The response-time and duration distributions of the traces that started in the query's
/// window and match its filter and group; `group.*` references are resolved through `groups`.
pub fn filter_latency(store: &Store, query: &LatencyQuery, groups: &dyn GroupResolver) -> Result<LatencyReport> {
    let filter = scoped_filter(query).map(|filter| compile_filter(&filter, groups)).transpose()?;
    let (from_us, to_us) = (query.from_us, query.to_us);
    let durations = match filter {
        Some(filter) => {
            let (spans, traces) = window_traces(store, from_us, to_us, &filter.span_columns(), TimeRangeType::TraceId)?;
            let matched = filter.apply(&MatchFrames::new(spans), traces)?;
            TraceDurations {
                traces: matched.height(),
                durations_us: values_of(&matched, "duration_us")?,
                response_times_us: values_of(&matched, "responsetime_us")?,
            }
        }
        // Every trace of the window: its durations come straight from the fold, with no frame.
        None => trace_durations(&window_spans(store, from_us, to_us, TRACE_FRAME_COLUMNS)?, from_us, to_us)?,
    };
    // Each measure sorts its values: the two sorts run side by side.
    let distribution = |values: Vec<i64>| LatencyDistribution::of(&SortedDurations::from_micros(values));
    let (response_time, duration) = std::thread::scope(|scope| {
        let duration = scope.spawn(|| distribution(durations.durations_us));
        (distribution(durations.response_times_us), joined(duration))
    });
    Ok(LatencyReport { traces: durations.traces as u64, response_time, duration })
}

/// The query's filter and group as one expression: `FILTER AND group.name = "G"`. Built as a
/// tree, not as text, so parse errors keep the columns of the filter the user wrote.
fn scoped_filter(query: &LatencyQuery) -> Option<FilterExpr> {
    let group = query.group.clone().map(FilterExpr::Group);
    match (query.filter.clone(), group) {
        (Some(filter), Some(group)) => Some(both(filter, group)),
        (filter, group) => filter.or(group),
    }
}

/// `left AND right`, flattened: an `And` holds no `And` (see `FilterExpr::And`).
fn both(left: FilterExpr, right: FilterExpr) -> FilterExpr {
    let conditions = |expr| match expr {
        FilterExpr::And(children) => children,
        other => vec![other],
    };
    FilterExpr::And([conditions(left), conditions(right)].concat())
}

/// The non-null values of an integer microseconds column of a trace frame.
pub(crate) fn durations_of(traces: &DataFrame, column: &str) -> Result<SortedDurations> {
    Ok(SortedDurations::from_micros(values_of(traces, column)?))
}

/// The non-null values of an integer microseconds column of a trace frame, unsorted.
fn values_of(traces: &DataFrame, column: &str) -> Result<Vec<i64>> {
    let values = traces.column(column)?.cast(&DataType::Int64)?;
    Ok(values.i64()?.iter().flatten().collect())
}

impl LatencyDistribution {
    fn of(durations: &SortedDurations) -> Self {
        LatencyDistribution {
            count: durations.count(),
            summary: LatencySummary::of(durations),
            distribution: durations.distribution(),
        }
    }
}

impl LatencySummary {
    fn of(durations: &SortedDurations) -> Option<Self> {
        let seconds = |us: u64| us as f64 / MICROS_PER_SECOND;
        Some(LatencySummary {
            min: seconds(durations.min_micros()?),
            max: seconds(durations.max_micros()?),
            mean: durations.mean_micros()? / MICROS_PER_SECOND,
            percentiles: durations.percentiles()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_joins_the_filter_as_one_more_condition() {
        let group = GroupRef::Name("slow".to_owned());
        let query = |filter: Option<&str>, group: Option<GroupRef>| LatencyQuery {
            from_us: 0,
            to_us: 1,
            filter: filter.map(|text| crate::filter::parse_filter(text).unwrap()),
            group,
        };
        let scoped = scoped_filter(&query(Some("fault AND http.status = 500"), Some(group.clone()))).unwrap();
        assert_eq!(scoped.to_string(), r#"fault AND http.status = 500 AND group.name = "slow""#);
        assert_eq!(scoped_filter(&query(None, Some(group.clone()))), Some(FilterExpr::Group(group)));
        assert_eq!(scoped_filter(&query(Some("ok"), None)).map(|expr| expr.to_string()).as_deref(), Some("ok"));
        assert_eq!(scoped_filter(&query(None, None)), None);
    }
}
