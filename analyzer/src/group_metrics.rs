//! Group metrics: what X-Ray emits to CloudWatch for each group, per minute, as metric points in
//! the store's metric signal, so they are listed, charted and alarmed on like OTLP metrics.
//!
//! - Namespace (the point's `service`) [`GROUP_METRICS_NAMESPACE`] (`AWS/X-Ray`); every point is
//!   a gauge holding one minute's value, timed at the minute's start (CloudWatch's datapoint
//!   timestamp), with the dimensions as its attributes.
//! - `ApproximateTraceCount` {`GroupName`}: the group's traces that *started* in the minute
//!   (each trace counts in exactly one minute), judged on whole traces as `Groups::traces`
//!   does. Written every computed minute, 0 included, so a quiet minute reads as 0 and not as
//!   missing data; the `Default` group's point also marks the minute as computed
//!   (`group_metrics_clock.rs`).
//! - Per node of the group's service graph over the minute (the requests that started in it,
//!   of the group's traces — the graph `GetServiceGraph` answers for that minute):
//!   `OkCount`, `ErrorCount` (4xx, not throttles), `ThrottleCount`, `FaultCount`, `TotalCount`
//!   (their sum: the classes are exclusive) and `ResponseTimeP50/P90/P99` (seconds, from the
//!   node's completed requests) with {`GroupName`, `ServiceName`, `ServiceType`}; per edge the
//!   same with `DestinationName` and `DestinationType` besides. Client nodes handle no requests:
//!   only their edges have points.
//! - The graph is computed by `service_graph.rs` over spans read once per minute for all
//!   groups; each group's filter runs on one shared trace frame.

use std::collections::BTreeMap;

use fluoro_proto::{MetricKind, MetricPoint};
use fluoro_store::Store;
use polars::prelude::*;

use crate::error::Result;
use crate::filter::{compile_filter, parse_filter, CompiledFilter, MatchFrames};
use crate::groups::{Group, Groups};
use crate::service_graph::{graph_of_scan, window_scan, ServiceGraph, Statistics};
use crate::trace_frame::{window_traces, TimeRangeType, TRACE_FRAME_COLUMNS};
use crate::trace_set::TraceIdSet;
use crate::LatencyHistogram;

/// The CloudWatch namespace of group metrics: the `service` of their points.
pub const GROUP_METRICS_NAMESPACE: &str = "AWS/X-Ray";
pub const APPROXIMATE_TRACE_COUNT: &str = "ApproximateTraceCount";
/// The per-node and per-edge count metrics, in the order they are written.
pub const GROUP_COUNT_METRICS: [&str; 5] = ["OkCount", "ErrorCount", "ThrottleCount", "FaultCount", "TotalCount"];
/// The per-node and per-edge response-time metrics (seconds) and their quantiles.
pub const GROUP_RESPONSE_TIME_METRICS: [(&str, f64); 3] =
    [("ResponseTimeP50", 0.5), ("ResponseTimeP90", 0.9), ("ResponseTimeP99", 0.99)];
const MINUTE_US: i64 = 60 * 1_000_000;
const COUNT_UNIT: &str = "Count";
const SECONDS_UNIT: &str = "Seconds";

/// Every metric name group metrics are written under.
pub fn group_metric_names() -> impl Iterator<Item = &'static str> {
    std::iter::once(APPROXIMATE_TRACE_COUNT)
        .chain(GROUP_COUNT_METRICS)
        .chain(GROUP_RESPONSE_TIME_METRICS.iter().map(|(name, _)| *name))
}

/// The group metrics of the minute starting at `minute_start` (Unix seconds, a multiple of 60),
/// for every group; a group whose filter no longer compiles is skipped with a warning.
pub fn group_metrics_of_minute(store: &Store, groups: &Groups, minute_start: i64) -> Result<Vec<MetricPoint>> {
    let from_us = minute_start * 1_000_000;
    let to_us = from_us + MINUTE_US;
    let compiled: Vec<(Group, Option<CompiledFilter>)> =
        groups.list().into_iter().filter_map(|group| compiled_filter(group, groups)).collect();
    let mut columns: Vec<&str> = TRACE_FRAME_COLUMNS.to_vec();
    for filter in compiled.iter().filter_map(|(_, filter)| filter.as_ref()) {
        columns.extend(filter.span_columns());
    }
    columns.sort_unstable();
    columns.dedup();
    let (spans, candidates) = window_traces(store, from_us, to_us, &columns, TimeRangeType::Event)?;
    let graph_spans = window_scan(store, from_us, to_us)?;
    let frames = MatchFrames::new(spans);
    let mut points = Vec::new();
    for (group, filter) in compiled {
        let (traces, graph) = match filter {
            None => (candidates.clone(), graph_of_scan(graph_spans.clone())?),
            Some(filter) => {
                let matched = filter.apply(&frames, candidates.clone())?;
                let restricted = graph_spans.restricted(&TraceIdSet::from_frame(matched.clone().lazy())?)?;
                (matched, graph_of_scan(restricted)?)
            }
        };
        let started = traces_started_in(&traces, from_us, to_us)?;
        let minute = MinutePoints { time_us: from_us, group: &group.group_name };
        points.push(minute.point(APPROXIMATE_TRACE_COUNT, COUNT_UNIT, started as f64, &minute.dimensions()));
        minute.graph_points(&graph, &mut points);
    }
    Ok(points)
}

fn compiled_filter(group: Group, groups: &Groups) -> Option<(Group, Option<CompiledFilter>)> {
    let Some(text) = group.filter_expression.as_deref() else { return Some((group, None)) };
    match parse_filter(text).map_err(Into::into).and_then(|expr| compile_filter(&expr, groups)) {
        Ok(filter) => Some((group, Some(filter))),
        Err(error) => {
            tracing::warn!(group = %group.group_name, error = %error, "group filter does not compile; no metrics for it");
            None
        }
    }
}

/// The traces of a trace frame whose first span started in `[from_us, to_us)`.
fn traces_started_in(traces: &DataFrame, from_us: i64, to_us: i64) -> Result<usize> {
    let start = col(fluoro_store::columns::START_US);
    let started = traces.clone().lazy().filter(start.clone().gt_eq(lit(from_us)).and(start.lt(lit(to_us))));
    Ok(started.collect()?.height())
}

/// The points of one group in one minute.
struct MinutePoints<'a> {
    time_us: i64,
    group: &'a str,
}

impl MinutePoints<'_> {
    fn dimensions(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([("GroupName", self.group.to_owned())])
    }

    fn graph_points(&self, graph: &ServiceGraph, points: &mut Vec<MetricPoint>) {
        for node in &graph.services {
            let mut dimensions = self.dimensions();
            dimensions.insert("ServiceName", node.name.clone());
            dimensions.insert("ServiceType", node.node_type.clone());
            if let Some(statistics) = &node.summary_statistics {
                self.request_points(statistics, &node.response_time, &dimensions, points);
            }
            for edge in &node.edges {
                let Some(destination) = graph.node_by_reference(edge.reference_id) else { continue };
                let mut dimensions = dimensions.clone();
                dimensions.insert("DestinationName", destination.name.clone());
                dimensions.insert("DestinationType", destination.node_type.clone());
                self.request_points(&edge.summary_statistics, &edge.response_time, &dimensions, points);
            }
        }
    }

    fn request_points(
        &self,
        statistics: &Statistics,
        response_time: &LatencyHistogram,
        dimensions: &BTreeMap<&'static str, String>,
        points: &mut Vec<MetricPoint>,
    ) {
        let counts = [
            statistics.ok_count,
            statistics.error_statistics.other_count,
            statistics.error_statistics.throttle_count,
            statistics.fault_statistics.total_count,
            statistics.total_count,
        ];
        for (name, count) in GROUP_COUNT_METRICS.into_iter().zip(counts) {
            points.push(self.point(name, COUNT_UNIT, count as f64, dimensions));
        }
        for (name, quantile) in GROUP_RESPONSE_TIME_METRICS {
            if let Some(micros) = response_time.quantile_micros(quantile) {
                points.push(self.point(name, SECONDS_UNIT, micros as f64 / 1e6, dimensions));
            }
        }
    }

    fn point(&self, name: &str, unit: &str, value: f64, dimensions: &BTreeMap<&'static str, String>) -> MetricPoint {
        MetricPoint {
            time_us: self.time_us,
            start_us: self.time_us,
            service: GROUP_METRICS_NAMESPACE.to_owned(),
            name: name.to_owned(),
            unit: unit.to_owned(),
            kind: MetricKind::Gauge,
            // A BTreeMap serializes with sorted keys: the canonical attribute text.
            attributes: serde_json::to_string(dimensions).unwrap_or_default(),
            value: Some(value),
            histogram: None,
        }
    }
}

#[cfg(test)]
#[path = "group_metrics_tests.rs"]
pub(crate) mod tests;
