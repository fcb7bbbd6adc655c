//! The service graph (xray.md 5): nodes for services, their clients and the downstreams they
//! call, edges with request statistics and histograms, for a time range, a set of traces or
//! both. The trace graph is the same computation over the spans of given traces.
//!
//! Read path: `spans::load_spans` of [`GRAPH_COLUMNS`] → `observations::observe` (joins and
//! filters into one row per request a node handled and per call on an edge, keyed by integer
//! node and trace ids) → group-bys by node id and edge here (`statistics::aggregations`) →
//! [`ServiceGraph`] with reference ids. Besides the passes that assign those ids, only the
//! aggregated rows (one per node and edge) are walked in Rust.

mod inferred;
mod observations;
mod statistics;

use std::collections::{BTreeMap, HashMap};

use fluoro_proto::TraceId;
use fluoro_store::Store;
use polars::prelude::*;
use serde::Serialize;

use crate::error::Result;
use crate::histogram::{HistogramEntry, LatencyHistogram};
use crate::spans::{load_spans, load_spans_matching};
use crate::trace_set::TraceIdSet;
use fluoro_store::columns::TRACE_HI;
use observations::{observe, Observations, CLIENT_TYPE, INFERRED, ROOT, TRACE};
use statistics::{aggregations, read_aggregates, Aggregate};

pub(crate) use inferred::{inferred_node, DownstreamCall};
pub use observations::GRAPH_COLUMNS;
pub(crate) use observations::{observe as observations_of, NodeKey, DST, NODE, SRC};
pub(crate) use statistics::{aggregations as statistics_aggregations, read_aggregates as read_statistics};
pub use statistics::{ErrorStatistics, FaultStatistics, Statistics};

const STATE_ACTIVE: &str = "active";
const STATE_UNKNOWN: &str = "unknown";

/// The nodes of a graph, each with its outgoing edges: X-Ray's `Services` list.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceGraph {
    pub services: Vec<ServiceNode>,
}

/// X-Ray's `Service`. Times are epoch seconds.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceNode {
    /// Unique within one graph; edges point at it.
    pub reference_id: u32,
    pub name: String,
    pub names: Vec<String>,
    /// The node handled the first request of some trace.
    pub root: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The origin (`AWS::EC2::Instance`…), `client`, `remote`, `AWS::DynamoDB::Table`…
    #[serde(rename = "Type")]
    pub node_type: String,
    /// `active` for reporting services, `unknown` for clients and inferred downstreams.
    pub state: String,
    pub start_time: f64,
    pub end_time: f64,
    pub edges: Vec<Edge>,
    /// `None` for client nodes, which handle no requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary_statistics: Option<Statistics>,
    pub duration_histogram: Vec<HistogramEntry>,
    pub response_time_histogram: Vec<HistogramEntry>,
    /// Response times of the node's requests, for percentiles.
    #[serde(skip)]
    pub response_time: LatencyHistogram,
    /// Durations of the traces through the node.
    #[serde(skip)]
    pub duration: LatencyHistogram,
}

/// X-Ray's `Edge`: calls from the node holding it to the node `reference_id` names.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Edge {
    pub reference_id: u32,
    pub start_time: f64,
    pub end_time: f64,
    pub summary_statistics: Statistics,
    pub response_time_histogram: Vec<HistogramEntry>,
    pub aliases: Vec<Alias>,
    #[serde(skip)]
    pub response_time: LatencyHistogram,
}

/// Another name an edge's target is known by (not produced yet).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Alias {
    pub name: String,
    pub names: Vec<String>,
    #[serde(rename = "Type")]
    pub alias_type: String,
}

impl ServiceGraph {
    /// The node with this name and type.
    pub fn node(&self, name: &str, node_type: &str) -> Option<&ServiceNode> {
        self.services.iter().find(|node| node.name == name && node.node_type == node_type)
    }

    pub fn node_by_reference(&self, reference_id: u32) -> Option<&ServiceNode> {
        self.services.iter().find(|node| node.reference_id == reference_id)
    }

    /// The edge from one node to another, both given by (name, type).
    pub fn edge(&self, source: (&str, &str), destination: (&str, &str)) -> Option<&Edge> {
        let target = self.node(destination.0, destination.1)?.reference_id;
        self.node(source.0, source.1)?.edges.iter().find(|edge| edge.reference_id == target)
    }
}

/// The graph of the spans starting in `[from_us, to_us)`, optionally of only some traces.
pub fn service_graph(store: &Store, from_us: i64, to_us: i64, traces: Option<&TraceIdSet>) -> Result<ServiceGraph> {
    let spans = load_spans(store, from_us, to_us, &GRAPH_COLUMNS)?;
    let spans = match traces {
        Some(traces) => traces.restrict(spans),
        None => spans,
    };
    service_graph_of_spans(spans)
}

/// The graph of these traces, whenever their spans started. Unknown ids are ignored.
pub fn trace_graph(store: &Store, ids: &[TraceId]) -> Result<ServiceGraph> {
    let (Some((from_us, to_us)), false) = (store.time_bounds(), ids.is_empty()) else {
        return Ok(ServiceGraph::default());
    };
    // The `trace_hi` predicate lets blocks skip row groups; the join makes the set exact.
    let his: Vec<u64> = ids.iter().map(|id| id.halves().0).collect();
    let predicate = col(TRACE_HI).is_in(lit(Series::new("his".into(), his)).implode(false), false);
    let spans = load_spans_matching(store, from_us, to_us.saturating_add(1), &GRAPH_COLUMNS, Some(predicate))?;
    let traces = TraceIdSet::from_ids(ids)?;
    service_graph_of_spans(traces.restrict(spans))
}

/// The graph of deduplicated spans (the [`crate::load_spans`] schema).
pub fn service_graph_of_spans(spans: LazyFrame) -> Result<ServiceGraph> {
    let observations = observe(spans)?;
    graph_of(&observations)
}

#[derive(Debug, Default)]
struct NodeParts {
    aggregate: Option<Aggregate>,
    root: bool,
    inferred: bool,
    durations: Option<LatencyHistogram>,
    edges: Vec<(NodeKey, Aggregate)>,
}

fn graph_of(observations: &Observations) -> Result<ServiceGraph> {
    let mut nodes: BTreeMap<NodeKey, NodeParts> = BTreeMap::new();
    let key = |id: u32| observations.keys[id as usize].clone();
    let mut node_aggregations = aggregations();
    node_aggregations.extend([col(ROOT).any(true), col(INFERRED).all(true)]);
    let node_frame = observations.nodes.clone().lazy().group_by([col(NODE)]).agg(node_aggregations).collect()?;
    let node_ids = read_ids(&node_frame, NODE)?;
    let roots = read_flags(&node_frame, ROOT)?;
    let inferred = read_flags(&node_frame, INFERRED)?;
    for (row, aggregate) in read_aggregates(&node_frame)?.into_iter().enumerate() {
        let parts = nodes.entry(key(node_ids[row])).or_default();
        parts.aggregate = Some(aggregate);
        parts.root = roots[row];
        parts.inferred = inferred[row];
    }
    for (id, histogram) in trace_duration_histograms(observations)? {
        nodes.entry(key(id)).or_default().durations = Some(histogram);
    }
    let edge_frame = observations.edges.clone().lazy().group_by([col(SRC), col(DST)]).agg(aggregations()).collect()?;
    let (sources, destinations) = (read_ids(&edge_frame, SRC)?, read_ids(&edge_frame, DST)?);
    for (row, aggregate) in read_aggregates(&edge_frame)?.into_iter().enumerate() {
        nodes.entry(key(destinations[row])).or_default();
        nodes.entry(key(sources[row])).or_default().edges.push((key(destinations[row]), aggregate));
    }
    Ok(assemble(nodes))
}

/// Reference ids in key order; edges resolved to them.
fn assemble(nodes: BTreeMap<NodeKey, NodeParts>) -> ServiceGraph {
    let references: HashMap<NodeKey, u32> = nodes.keys().cloned().zip(0..).collect();
    let services = nodes
        .into_iter()
        .zip(0..)
        .map(|((key, parts), reference_id)| service_node(reference_id, key, parts, &references))
        .collect();
    ServiceGraph { services }
}

fn service_node(reference_id: u32, key: NodeKey, parts: NodeParts, references: &HashMap<NodeKey, u32>) -> ServiceNode {
    let mut edges: Vec<Edge> =
        parts.edges.into_iter().map(|(target, aggregate)| edge(references[&target], aggregate)).collect();
    edges.sort_by_key(|edge| edge.reference_id);
    let (start_us, end_us) = node_bounds(parts.aggregate.as_ref(), &edges);
    let active = parts.aggregate.is_some() && !parts.inferred && key.node_type != CLIENT_TYPE;
    let response_time = parts.aggregate.as_ref().map(|a| a.response_time.clone()).unwrap_or_default();
    let duration = parts.durations.unwrap_or_default();
    ServiceNode {
        reference_id,
        names: vec![key.name.clone()],
        name: key.name,
        root: parts.root,
        account_id: Some(key.account).filter(|account| !account.is_empty()),
        node_type: key.node_type,
        state: if active { STATE_ACTIVE } else { STATE_UNKNOWN }.to_owned(),
        start_time: seconds(start_us),
        end_time: seconds(end_us),
        edges,
        summary_statistics: parts.aggregate.map(|aggregate| aggregate.statistics),
        duration_histogram: duration.distribution(),
        response_time_histogram: response_time.distribution(),
        response_time,
        duration,
    }
}

fn edge(reference_id: u32, aggregate: Aggregate) -> Edge {
    Edge {
        reference_id,
        start_time: seconds(aggregate.start_us),
        end_time: seconds(aggregate.end_us),
        summary_statistics: aggregate.statistics,
        response_time_histogram: aggregate.response_time.distribution(),
        aliases: Vec::new(),
        response_time: aggregate.response_time,
    }
}

/// A node's own requests bound its time; a client node, which has none, takes its edges'.
fn node_bounds(aggregate: Option<&Aggregate>, edges: &[Edge]) -> (i64, i64) {
    if let Some(aggregate) = aggregate {
        return (aggregate.start_us, aggregate.end_us);
    }
    let start = edges.iter().map(|edge| edge.start_time).reduce(f64::min).unwrap_or_default();
    let end = edges.iter().map(|edge| edge.end_time).reduce(f64::max).unwrap_or_default();
    ((start * 1e6).round() as i64, (end * 1e6).round() as i64)
}

/// Per node id, the durations (earliest start to latest end of its spans in range) of the
/// traces that pass through it.
fn trace_duration_histograms(observations: &Observations) -> Result<Vec<(u32, LatencyHistogram)>> {
    let nodes = observations.nodes.column(NODE)?.u32()?;
    let traces = observations.nodes.column(TRACE)?.u32()?;
    let mut seen: PlHashSet<(u32, u32)> = PlHashSet::new();
    let mut durations: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    for (node, trace) in nodes.iter().zip(traces.iter()) {
        let (Some(node), Some(trace)) = (node, trace) else { continue };
        let Some(duration) = observations.trace_durations.get(trace as usize) else { continue };
        if seen.insert((node, trace)) {
            durations.entry(node).or_default().push(*duration);
        }
    }
    Ok(durations.into_iter().map(|(node, values)| (node, LatencyHistogram::from_micros(values))).collect())
}

fn read_ids(frame: &DataFrame, name: &str) -> Result<Vec<u32>> {
    Ok(frame.column(name)?.u32()?.iter().map(Option::unwrap_or_default).collect())
}

fn read_flags(frame: &DataFrame, name: &str) -> Result<Vec<bool>> {
    Ok(frame.column(name)?.bool()?.iter().map(Option::unwrap_or_default).collect())
}

fn seconds(micros: i64) -> f64 {
    micros as f64 / 1e6
}
