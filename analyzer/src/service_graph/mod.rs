//! The service graph (xray.md 5): nodes for services, their clients and the downstreams they
//! call, edges with request statistics and histograms, for a time range, a set of traces or
//! both. The trace graph is the same computation over the spans of given traces.
//!
//! Read path: `spans::load_spans` of [`GRAPH_COLUMNS`] → `span_table::SpanTable::read` (the
//! columns as per-row integer vectors: trace, node, kind, ids, status) →
//! `observations::observe` (one observation per request a node handled and per call on an
//! edge, trace by trace) → one [`Accumulator`] per node id and per edge here →
//! [`ServiceGraph`] with reference ids. Polars only scans; the rest is plain loops over
//! vectors (a dozen group-bys and joins over 1M spans cost four times as much).

mod inferred;
mod observations;
mod span_table;
mod statistics;

use std::collections::{BTreeMap, HashMap};

use fluoro_proto::TraceId;
use fluoro_store::Store;
use polars::prelude::*;
use serde::Serialize;

use crate::error::Result;
use crate::histogram::{HistogramEntry, LatencyHistogram};
use crate::spans::load_spans_matching;
use crate::threads::joined;
use crate::trace_set::TraceIdSet;
use fluoro_store::columns::TRACE_HI;
use observations::{observe, observe_scan, EdgeObservation, NodeObservation, CLIENT_TYPE};
pub(crate) use span_table::GraphScan;
use span_table::{GRAPH_NUMBERS, GRAPH_TEXTS};
use statistics::{Accumulator, Aggregate};

pub(crate) use inferred::{inferred_node, DownstreamCall};
pub use observations::GRAPH_COLUMNS;
pub(crate) use observations::{observe as observations_of, NodeKey, Observations};
pub(crate) use statistics::{Accumulator as StatisticsAccumulator, Outcome};
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
    Ok(graph_of(window_observations(store, from_us, to_us, traces)?))
}

/// Observations of the spans starting in `[from_us, to_us)`, optionally of only some traces.
pub(crate) fn window_observations(
    store: &Store,
    from_us: i64,
    to_us: i64,
    traces: Option<&TraceIdSet>,
) -> Result<Observations> {
    let scan = window_scan(store, from_us, to_us)?;
    observe_scan(match traces {
        Some(traces) => scan.restricted(traces)?,
        None => scan,
    })
}

/// The graph columns of the spans starting in `[from_us, to_us)`: a keyed scan
/// (`Store::scan_keyed`), the text columns read as keys from the blocks' dictionary pages.
pub(crate) fn window_scan(store: &Store, from_us: i64, to_us: i64) -> Result<GraphScan> {
    GraphScan::keyed(store.scan_keyed(from_us, to_us, &GRAPH_NUMBERS, &GRAPH_TEXTS)?)
}

/// The graph of a scan's spans.
pub(crate) fn graph_of_scan(scan: GraphScan) -> Result<ServiceGraph> {
    Ok(graph_of(observe_scan(scan)?))
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
    Ok(graph_of(observe(spans)?))
}

#[derive(Debug, Default)]
struct NodeParts {
    aggregate: Option<Aggregate>,
    root: bool,
    inferred: bool,
    durations: Option<LatencyHistogram>,
    edges: Vec<(NodeKey, Aggregate)>,
}

/// What a node's observations add up to.
#[derive(Debug, Default)]
struct NodeTally {
    requests: Option<Accumulator>,
    /// Some observation was the trace's entry point.
    root: bool,
    /// Every observation was of an inferred node.
    inferred: bool,
    /// Durations of the traces through the node, one per trace.
    durations: Option<LatencyHistogram>,
    /// The last trace whose duration went into `durations`.
    last_trace: Option<u32>,
}

/// Node and edge tallies of some observations.
#[derive(Debug, Default)]
struct Tallies {
    /// By node id.
    nodes: Vec<NodeTally>,
    edges: PlHashMap<(u32, u32), Accumulator>,
}

impl NodeTally {
    fn add(&mut self, observation: &NodeObservation, observations: &Observations) {
        let requests = self.requests.get_or_insert_with(|| {
            self.inferred = true;
            Accumulator::default()
        });
        requests.add(observations.outcome(observation.row));
        self.root |= observation.root;
        self.inferred &= observation.inferred;
        // Observations come grouped by trace, so a trace differs from the last one seen
        // exactly when it is new to the node.
        if self.last_trace != Some(observation.trace) {
            self.last_trace = Some(observation.trace);
            let duration = observations.trace_durations.get(observation.trace as usize).copied().unwrap_or_default();
            self.durations.get_or_insert_with(LatencyHistogram::new).record_micros(duration);
        }
    }

    /// Adds the tally of other traces than this one's.
    fn merge(&mut self, other: NodeTally) {
        let Some(other_requests) = other.requests else { return };
        match &mut self.requests {
            Some(requests) => {
                requests.merge(&other_requests);
                self.inferred &= other.inferred;
            }
            None => (self.requests, self.inferred) = (Some(other_requests), other.inferred),
        }
        self.root |= other.root;
        match (&mut self.durations, other.durations) {
            (Some(durations), Some(other)) => durations.merge(&other),
            (durations, other) => *durations = durations.take().or(other),
        }
    }
}

impl Tallies {
    /// Tallies these node observations (whole traces) and edge observations.
    fn of(nodes: &[NodeObservation], edges: &[EdgeObservation], observations: &Observations) -> Self {
        let mut tallies = Tallies::default();
        tallies.nodes.resize_with(observations.keys.len(), NodeTally::default);
        for observation in nodes {
            let Some(tally) = tallies.nodes.get_mut(observation.node as usize) else { continue };
            tally.add(observation, observations);
        }
        for edge in edges {
            tallies.edges.entry((edge.source, edge.destination)).or_default().add(observations.outcome(edge.row));
        }
        tallies
    }

    /// Tallies of other observations than these.
    fn merge(&mut self, other: Tallies) {
        for (tally, other) in self.nodes.iter_mut().zip(other.nodes) {
            tally.merge(other);
        }
        for (edge, requests) in other.edges {
            self.edges.entry(edge).or_default().merge(&requests);
        }
    }
}

/// The observations tallied on two threads, each over half of them: the node observations are
/// split between traces, since a node counts each trace's duration once.
fn tallies(observations: &Observations) -> Tallies {
    let (nodes, edges) = (&observations.nodes, &observations.edges);
    let middle_trace = nodes.get(nodes.len() / 2).map(|observation| observation.trace);
    let split = nodes.partition_point(|observation| Some(observation.trace) < middle_trace);
    let ((first_nodes, second_nodes), (first_edges, second_edges)) =
        (nodes.split_at(split), edges.split_at(edges.len() / 2));
    let (mut first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| Tallies::of(second_nodes, second_edges, observations));
        let first = Tallies::of(first_nodes, first_edges, observations);
        (first, joined(second))
    });
    first.merge(second);
    first
}

fn graph_of(observations: Observations) -> ServiceGraph {
    let Tallies { nodes: tallies, edges } = tallies(&observations);
    let key = |id: u32| observations.keys[id as usize].clone();
    let mut nodes: BTreeMap<NodeKey, NodeParts> = BTreeMap::new();
    for (id, tally) in (0..).zip(tallies) {
        let Some(requests) = tally.requests else { continue };
        let parts = nodes.entry(key(id)).or_default();
        parts.aggregate = Some(requests.finish());
        (parts.root, parts.inferred, parts.durations) = (tally.root, tally.inferred, tally.durations);
    }
    for ((source, destination), requests) in edges {
        nodes.entry(key(destination)).or_default();
        nodes.entry(key(source)).or_default().edges.push((key(destination), requests.finish()));
    }
    assemble(nodes)
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

fn seconds(micros: i64) -> f64 {
    micros as f64 / 1e6
}
