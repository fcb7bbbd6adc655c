//! Time-series statistics of one node or edge (GetTimeSeriesServiceStatistics, xray.md 5.3):
//! the service graph's counters and response-time histogram, bucketed by period.
//!
//! - The entity is an `EntitySelectorExpression` in the filter language, restricted to
//!   `service("x")`, `id(name: "x", type: "T")` (a node) and `edge("a", "b")` (an edge); no
//!   expression means every edge together.
//! - Buckets start at multiples of the period since the epoch, so 1-minute and 5-minute series
//!   of the same data line up; every bucket in range is returned, empty ones with zero counts, so
//!   a chart has no gaps.
//! - A node's name alone (`service("petsite")`) matches every type of that name except the
//!   synthetic `client` nodes, which are callers of that node rather than the node.

use std::collections::BTreeMap;

use fluoro_store::Store;
use polars::prelude::LazyFrame;
use serde::Serialize;

use crate::error::{AnalyzerError, Result};
use crate::filter::{parse_filter, EdgeFilter, FilterExpr, NodeId, NodeSelector, ServiceFilter};
use crate::histogram::{HistogramEntry, LatencyHistogram};
use crate::service_graph::{
    observations_of, window_observations, NodeKey, Observations, Outcome, Statistics, StatisticsAccumulator,
};
use crate::trace_set::TraceIdSet;

/// The periods, in seconds, a series can be bucketed by.
pub const PERIODS_SECONDS: [u32; 2] = [60, 300];
const CLIENT_TYPE: &str = "client";

/// Which node or edge a series describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntitySelector {
    /// Nodes with this name and/or type.
    Node { name: Option<String>, node_type: Option<String> },
    /// Calls from nodes matching the source to nodes matching the destination.
    Edge { source: (Option<String>, Option<String>), destination: (Option<String>, Option<String>) },
    /// Every edge of the graph.
    AllEdges,
}

/// One bucket: X-Ray's `TimeSeriesServiceStatistics`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeSeriesPoint {
    /// The bucket's start, epoch seconds.
    pub timestamp: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_summary_statistics: Option<Statistics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_summary_statistics: Option<Statistics>,
    pub response_time_histogram: Vec<HistogramEntry>,
    #[serde(skip)]
    pub response_time: LatencyHistogram,
}

/// Parses an `EntitySelectorExpression`; `None` selects every edge.
pub fn parse_entity_selector(expression: Option<&str>) -> Result<EntitySelector> {
    let Some(expression) = expression else { return Ok(EntitySelector::AllEdges) };
    match parse_filter(expression)? {
        FilterExpr::Service(ServiceFilter { node: Some(node), filter: None }) => {
            let (name, node_type) = node_parts(node);
            Ok(EntitySelector::Node { name, node_type })
        }
        FilterExpr::Node(NodeId { name, node_type }) => Ok(EntitySelector::Node { name, node_type }),
        FilterExpr::Edge(EdgeFilter { source, destination, filter: None }) => {
            Ok(EntitySelector::Edge { source: node_parts(source), destination: node_parts(destination) })
        }
        _ => Err(AnalyzerError::InvalidRequest(format!(
            "EntitySelectorExpression {expression:?} is not an entity selector; expected service(\"name\"), \
             id(name: \"name\", type: \"type\") or edge(\"source\", \"destination\") without a {{filter}}"
        ))),
    }
}

fn node_parts(node: NodeSelector) -> (Option<String>, Option<String>) {
    match node {
        NodeSelector::Name(name) => (Some(name), None),
        NodeSelector::Id(NodeId { name, node_type }) => (name, node_type),
    }
}

/// Checks a period against [`PERIODS_SECONDS`].
pub fn validate_period(period_seconds: u32) -> Result<u32> {
    if PERIODS_SECONDS.contains(&period_seconds) {
        return Ok(period_seconds);
    }
    Err(AnalyzerError::InvalidRequest(format!(
        "Period {period_seconds} is not supported; expected 60 (1 minute) or 300 (5 minutes)"
    )))
}

/// The series of spans starting in `[from_us, to_us)`, optionally of only some traces.
pub fn time_series_statistics(
    store: &Store,
    from_us: i64,
    to_us: i64,
    selector: &EntitySelector,
    period_seconds: u32,
    traces: Option<&TraceIdSet>,
) -> Result<Vec<TimeSeriesPoint>> {
    let period_us = i64::from(validate_period(period_seconds)?) * 1_000_000;
    let observations = window_observations(store, from_us, to_us, traces)?;
    time_series_of_observations(&observations, from_us, to_us, selector, period_us)
}

/// The series of deduplicated spans, in buckets of `period_us` covering `[from_us, to_us)`.
pub fn time_series_of_spans(
    spans: LazyFrame,
    from_us: i64,
    to_us: i64,
    selector: &EntitySelector,
    period_us: i64,
) -> Result<Vec<TimeSeriesPoint>> {
    time_series_of_observations(&observations_of(spans)?, from_us, to_us, selector, period_us)
}

/// The series of these observations, in buckets of `period_us` covering `[from_us, to_us)`.
pub(crate) fn time_series_of_observations(
    observations: &Observations,
    from_us: i64,
    to_us: i64,
    selector: &EntitySelector,
    period_us: i64,
) -> Result<Vec<TimeSeriesPoint>> {
    if period_us <= 0 {
        return Err(AnalyzerError::InvalidRequest(format!("period must be positive, got {period_us} µs")));
    }
    let selected = |name: &Option<String>, node_type: &Option<String>| {
        let mut selected = vec![false; observations.keys.len()];
        for id in observations.node_ids(|key| node_matches(key, name, node_type)) {
            selected[id as usize] = true;
        }
        selected
    };
    let mut by_bucket: BTreeMap<i64, StatisticsAccumulator> = BTreeMap::new();
    let mut add = |outcome: &Outcome| {
        // A request without a start falls in bucket 0, outside any range asked for.
        let bucket = outcome.start_us().map_or(0, |start| start - start.rem_euclid(period_us));
        by_bucket.entry(bucket).or_default().add(outcome);
    };
    let is_node = match selector {
        EntitySelector::Node { name, node_type } => {
            let nodes = selected(name, node_type);
            let matching = observations.nodes.iter().filter(|observation| nodes[observation.node as usize]);
            matching.for_each(|observation| add(observations.outcome(observation.row)));
            true
        }
        EntitySelector::Edge { source, destination } => {
            let (sources, destinations) = (selected(&source.0, &source.1), selected(&destination.0, &destination.1));
            let matching = observations
                .edges
                .iter()
                .filter(|edge| sources[edge.source as usize] && destinations[edge.destination as usize]);
            matching.for_each(|edge| add(observations.outcome(edge.row)));
            false
        }
        EntitySelector::AllEdges => {
            observations.edges.iter().for_each(|edge| add(observations.outcome(edge.row)));
            false
        }
    };
    let mut by_bucket: BTreeMap<i64, _> =
        by_bucket.into_iter().map(|(bucket, requests)| (bucket, requests.finish())).collect();
    let first = from_us - from_us.rem_euclid(period_us);
    let mut points = Vec::new();
    let mut bucket = first;
    while bucket < to_us {
        let (statistics, response_time) = match by_bucket.remove(&bucket) {
            Some(aggregate) => (aggregate.statistics, aggregate.response_time),
            None => (Statistics::default(), LatencyHistogram::new()),
        };
        points.push(TimeSeriesPoint {
            timestamp: bucket as f64 / 1e6,
            edge_summary_statistics: (!is_node).then_some(statistics),
            service_summary_statistics: is_node.then_some(statistics),
            response_time_histogram: response_time.distribution(),
            response_time,
        });
        bucket += period_us;
    }
    Ok(points)
}

/// Name and type, when given, must match; a name alone never matches a `client` node.
fn node_matches(key: &NodeKey, name: &Option<String>, node_type: &Option<String>) -> bool {
    let name_matches = name.as_ref().is_none_or(|name| *name == key.name);
    let type_matches = match node_type {
        Some(node_type) => *node_type == key.node_type,
        None => key.node_type != CLIENT_TYPE,
    };
    name_matches && type_matches
}
