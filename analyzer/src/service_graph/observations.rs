//! Spans → observations: one per request a node handled and one per call on an edge, keyed by
//! integer node ids and carrying the request's [`Outcome`]. The service graph and the time
//! series both aggregate these.
//!
//! The rules (xray.md 5.1–5.2), applied trace by trace to a [`SpanTable`]:
//! - service nodes: one observation per segment;
//! - caller → callee edges: a callee segment and the span of its trace it names as parent; a
//!   subsegment caller gives the call's timing and status (the caller's view) and is one call
//!   however many segments answered it (the first, in row order, names the callee); a segment
//!   caller (e.g. `AWS::Lambda` → `AWS::Lambda::Function`) leaves the callee segment's;
//! - inferred nodes and their edges: `aws`/`remote` subsegments not `http.request.traced` that
//!   no segment names as parent;
//! - client edges: one per root segment, `client` → root node.
//!
//! Everything runs on the table's integer columns in plain loops: a trace is a dozen spans, so
//! its parents are found by a linear search (a binary search over its spans sorted by id when
//! the trace is large), where a columnar join would hash every span of the window.

use polars::prelude::*;

use super::span_table::{GraphScan, Kind, NodeIds, SpanTable, GRAPH_NUMBERS, GRAPH_TEXTS};
use super::statistics::Outcome;
use crate::error::Result;
use crate::threads::joined;

pub(crate) use super::span_table::NodeKey;

/// The `Type` of the synthetic caller of a root node.
pub(crate) const CLIENT_TYPE: &str = "client";
/// Up to this many spans, a trace's parents are found by a linear search.
const LINEAR_SEARCH_SPANS: usize = 32;

/// The span columns observations are made from (for [`crate::load_spans`]): the graph's
/// numbers, then its text columns.
pub const GRAPH_COLUMNS: [&str; GRAPH_NUMBERS.len() + GRAPH_TEXTS.len()] = both(GRAPH_NUMBERS, GRAPH_TEXTS);

/// `first` then `second`, as one array.
const fn both<const N: usize, const T: usize, const ALL: usize>(
    first: [&'static str; N],
    second: [&'static str; T],
) -> [&'static str; ALL] {
    let mut all = [""; ALL];
    let mut index = 0;
    while index < ALL {
        all[index] = if index < N { first[index] } else { second[index - N] };
        index += 1;
    }
    all
}

/// A request a node handled.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NodeObservation {
    /// Dense id of the trace within this computation.
    pub trace: u32,
    pub node: u32,
    /// The node was the entry point of the trace.
    pub root: bool,
    /// The node was inferred from calls, not reported by itself.
    pub inferred: bool,
    /// The row whose [`Outcome`] the request had ([`Observations::outcome`]).
    pub row: u32,
}

/// A call on an edge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EdgeObservation {
    pub source: u32,
    pub destination: u32,
    /// The row whose [`Outcome`] the call had ([`Observations::outcome`]).
    pub row: u32,
}

/// What the graph is aggregated from.
#[derive(Debug, Clone)]
pub(crate) struct Observations {
    /// Grouped by trace: the observations of one trace are adjacent.
    pub nodes: Vec<NodeObservation>,
    pub edges: Vec<EdgeObservation>,
    /// By trace id: earliest start to latest end of the trace's spans with a service.
    pub trace_durations: Vec<i64>,
    /// Node id → identity.
    pub keys: Vec<NodeKey>,
    /// By row of the scan: observations name a row rather than copy its outcome, so a query's
    /// observations take 16 and 12 bytes each instead of 48 and 40, fresh memory every query.
    outcomes: Vec<Outcome>,
}

impl Observations {
    /// The outcome of an observation's row.
    pub(crate) fn outcome(&self, row: u32) -> &Outcome {
        &self.outcomes[row as usize]
    }

    /// The ids of the nodes whose identity passes `test`.
    pub(crate) fn node_ids(&self, test: impl Fn(&NodeKey) -> bool) -> Vec<u32> {
        (0..).zip(&self.keys).filter(|(_, key)| test(key)).map(|(id, _)| id).collect()
    }
}

/// Observations of deduplicated spans (see `spans::load_spans`).
pub(crate) fn observe(spans: LazyFrame) -> Result<Observations> {
    let columns: Vec<Expr> = GRAPH_COLUMNS.into_iter().map(col).collect();
    observe_scan(GraphScan::of_frame(spans.select(columns).collect()?)?)
}

/// Observations of a graph scan. Traces are independent, so the two halves of them are walked
/// on two threads (the machine has two cores).
pub(crate) fn observe_scan(scan: GraphScan) -> Result<Observations> {
    let mut ids = NodeIds::default();
    let mut table = SpanTable::read(scan, &mut ids)?;
    let clients = client_ids(&table, &mut ids);
    let (traces, table_ref) = (table.traces.count(), &table);
    let (mut first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| Observer::new(table_ref, &clients).walk(traces / 2..traces));
        let first = Observer::new(table_ref, &clients).walk(0..traces / 2);
        (first, joined(second))
    });
    first.append(second);
    Ok(Observations {
        nodes: first.nodes,
        edges: first.edges,
        trace_durations: first.trace_durations,
        keys: ids.keys,
        outcomes: std::mem::take(&mut table.outcome),
    })
}

/// By service id: the node id of the service's `client`, the caller of its root segments; last,
/// the client of a root without a service. Assigned before the walk, so that both threads
/// share them; a client that calls no root gets an id no observation names, which no
/// aggregate shows.
fn client_ids(table: &SpanTable, ids: &mut NodeIds) -> Vec<u32> {
    let services = 0..table.service_count() as u32;
    let mut clients: Vec<u32> = services.map(|service| ids.id(table.service_name(service), CLIENT_TYPE, "")).collect();
    clients.push(ids.id("", CLIENT_TYPE, ""));
    clients
}

/// What a walk over some traces found, in trace order.
struct Found {
    nodes: Vec<NodeObservation>,
    edges: Vec<EdgeObservation>,
    /// By trace, from the first trace walked.
    trace_durations: Vec<i64>,
}

impl Found {
    /// Adds what a walk over the traces right after these found.
    fn append(&mut self, next: Found) {
        self.nodes.extend(next.nodes);
        self.edges.extend(next.edges);
        self.trace_durations.extend(next.trace_durations);
    }
}

/// The walk over some of a table's traces, and what it has found so far.
struct Observer<'a> {
    table: &'a SpanTable,
    /// By service id: the node id of its `client`.
    clients: &'a [u32],
    /// By position in the current trace's rows: some segment names the span as its parent.
    /// (Flags by row of the window would be megabytes of fresh memory a query, faulted in.)
    answered: Vec<bool>,
    /// By position in the current trace's rows: the subsegment's call is on an edge already.
    counted: Vec<bool>,
    /// The current trace's span ids and positions, sorted, when it is too large for a linear
    /// search.
    by_id: Vec<(u64, u32)>,
    /// Positions in the current trace's rows.
    callers: Vec<u32>,
    found: Found,
}

impl<'a> Observer<'a> {
    fn new(table: &'a SpanTable, clients: &'a [u32]) -> Self {
        Observer {
            table,
            clients,
            answered: Vec::new(),
            counted: Vec::new(),
            by_id: Vec::new(),
            callers: Vec::new(),
            found: Found { nodes: Vec::new(), edges: Vec::new(), trace_durations: Vec::new() },
        }
    }

    /// Walks these traces; the outcomes the rows name stay with the table until [`observe`]
    /// moves them over.
    fn walk(mut self, traces: std::ops::Range<usize>) -> Found {
        let rows = traces.clone().map(|trace| self.table.traces.rows(trace).len()).sum::<usize>();
        self.found.nodes.reserve(rows / 2);
        self.found.edges.reserve(rows / 2);
        self.found.trace_durations.reserve(traces.len());
        for trace in traces {
            self.trace(trace);
        }
        self.found
    }

    fn trace(&mut self, trace: usize) {
        let table = self.table;
        let rows = table.traces.rows(trace);
        self.found.trace_durations.push(trace_duration(table, rows));
        self.index_by_id(rows);
        for flags in [&mut self.answered, &mut self.counted] {
            flags.clear();
            flags.resize(rows.len(), false);
        }
        for &row in rows {
            if table.kind[row as usize] == Kind::Segment {
                self.segment(trace as u32, row as usize, rows);
            }
        }
        for (position, &row) in rows.iter().enumerate() {
            let row = row as usize;
            let Some(target) = table.downstream_node(row) else { continue };
            if !self.answered[position] {
                let (source, row) = (table.node[row], row as u32);
                self.found.nodes.push(NodeObservation {
                    trace: trace as u32,
                    node: target,
                    root: false,
                    inferred: true,
                    row,
                });
                self.found.edges.push(EdgeObservation { source, destination: target, row });
            }
        }
    }

    fn segment(&mut self, trace: u32, row: usize, rows: &[u32]) {
        let table = self.table;
        let (node, parent) = (table.node[row], table.parent.get(row));
        let root = parent.is_none();
        self.found.nodes.push(NodeObservation { trace, node, root, inferred: false, row: row as u32 });
        match parent {
            None => {
                let client = self.client(row);
                self.found.edges.push(EdgeObservation { source: client, destination: node, row: row as u32 });
            }
            Some(parent) => self.callee(row, parent, rows),
        }
    }

    /// The edges into a callee segment from the spans it names as parent.
    fn callee(&mut self, callee: usize, parent: u64, rows: &[u32]) {
        let table = self.table;
        let mut callers = std::mem::take(&mut self.callers);
        self.find_callers(parent, rows, &mut callers);
        let mut segment_caller_seen = false;
        for &position in &callers {
            let (position, caller) = (position as usize, rows[position as usize] as usize);
            self.answered[position] = true;
            let source = table.node[caller];
            let destination = table.node[callee];
            if table.kind[caller] == Kind::Subsegment {
                if !std::mem::replace(&mut self.counted[position], true) {
                    self.found.edges.push(EdgeObservation { source, destination, row: caller as u32 });
                }
            } else if !std::mem::replace(&mut segment_caller_seen, true) {
                self.found.edges.push(EdgeObservation { source, destination, row: callee as u32 });
            }
        }
        self.callers = callers;
    }

    /// Sorts a large trace's spans by id for [`Self::find_callers`]; a small trace needs none.
    fn index_by_id(&mut self, rows: &[u32]) {
        self.by_id.clear();
        if rows.len() <= LINEAR_SEARCH_SPANS {
            return;
        }
        let ids = &self.table.id;
        let positions = (0u32..).zip(rows);
        self.by_id.extend(positions.filter_map(|(position, row)| ids.get(*row as usize).map(|id| (id, position))));
        self.by_id.sort_unstable();
    }

    /// The positions in this trace's rows of the spans with id `parent`, in row order.
    fn find_callers(&self, parent: u64, rows: &[u32], callers: &mut Vec<u32>) {
        callers.clear();
        if rows.len() <= LINEAR_SEARCH_SPANS {
            let positions = (0u32..).zip(rows);
            let matching = positions.filter(|(_, row)| self.table.id.get(**row as usize) == Some(parent));
            callers.extend(matching.map(|(position, _)| position));
            return;
        }
        let first = self.by_id.partition_point(|(id, _)| *id < parent);
        let matching = self.by_id[first..].iter().take_while(|(id, _)| *id == parent);
        callers.extend(matching.map(|(_, position)| *position));
    }

    fn client(&self, row: usize) -> u32 {
        let service = self.table.service_id(row).map_or(self.clients.len() - 1, |service| service as usize);
        self.clients[service]
    }
}

/// Earliest start to latest end (the start, for spans in progress) of these spans.
fn trace_duration(table: &SpanTable, rows: &[u32]) -> i64 {
    let (mut start, mut end) = (i64::MAX, i64::MIN);
    for row in rows {
        let outcome = &table.outcome[*row as usize];
        let (Some(span_start), Some(span_end)) = (outcome.start_us(), outcome.end_us()) else { continue };
        start = start.min(span_start);
        end = end.max(span_end);
    }
    end.saturating_sub(start)
}
