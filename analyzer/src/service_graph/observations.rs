//! Spans → observations: one row per request a node handled and one row per call on an edge,
//! each keyed by node identity (name, type, account) and carrying the status flags and timing
//! the statistics are computed from. The service graph and the time series both aggregate these.
//!
//! Every step is a columnar join or filter (xray.md 5.1–5.2):
//! - service nodes: one observation per segment;
//! - caller → callee edges: callee segment ⋈ caller span on `parent_id = id` within the trace;
//!   a subsegment caller gives the call's timing and status (the caller's view), a segment
//!   caller (e.g. `AWS::Lambda` → `AWS::Lambda::Function`) leaves the callee segment's;
//! - inferred nodes and their edges: `aws`/`remote` subsegments not `http.request.traced` and
//!   not matched by a callee segment (a left join with a marker, since anti joins need another
//!   polars feature);
//! - client edges: one per root segment, `client` → root node.
//!
//! Node identities (name, type, account) are strings but few: each becomes a `u32` node id,
//! assigned in one pass over the spans in Rust ([`NodeIds`]), so every join, `unique` and
//! group-by below runs on integer keys; names come back only for the aggregated rows.

use std::collections::HashMap;

use fluoro_store::columns::{self, TRACE_HI, TRACE_LO};
use polars::prelude::*;

use super::inferred::{inferred_node, DownstreamCall};
use crate::error::Result;
use crate::spans::collect_spans;

/// Node observations: the node's id in [`Observations::keys`]; edges have [`SRC`] and [`DST`].
pub(crate) const NODE: &str = "node";
pub(crate) const SRC: &str = "src_node";
pub(crate) const DST: &str = "dst_node";
/// Every observation: a dense id of its trace within this computation.
pub(crate) const TRACE: &str = "trace";
/// Node observations: the node was the entry point of the trace.
pub(crate) const ROOT: &str = "root";
/// Node observations: the node was inferred from calls, not reported by itself.
pub(crate) const INFERRED: &str = "inferred";
/// Observation timing and status, shared by nodes and edges, under the span columns' names.
pub(crate) use fluoro_store::columns::{END_US, ERROR, FAULT, IN_PROGRESS, START_US, THROTTLE};
/// The `Type` of the synthetic caller of a root node.
pub(crate) const CLIENT_TYPE: &str = "client";

const STATUS: [&str; 6] = [START_US, END_US, IN_PROGRESS, ERROR, FAULT, THROTTLE];
const SEGMENT: &str = "segment";
const SUBSEGMENT: &str = "subsegment";

/// The span columns observations are made from (for [`crate::load_spans`]).
pub const GRAPH_COLUMNS: [&str; 21] = [
    TRACE_HI,
    TRACE_LO,
    columns::ID,
    columns::PARENT_ID,
    columns::KIND,
    columns::SERVICE,
    columns::NAME,
    columns::ORIGIN,
    columns::NAMESPACE,
    START_US,
    END_US,
    IN_PROGRESS,
    ERROR,
    FAULT,
    THROTTLE,
    columns::TRACED,
    columns::AWS_ACCOUNT_ID,
    columns::AWS_TABLE,
    columns::AWS_QUEUE,
    columns::AWS_RESOURCE,
    columns::SQL_URL,
];

/// Node identity (xray.md 5.1); the order of reference ids.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct NodeKey {
    pub name: String,
    pub node_type: String,
    pub account: String,
}

/// What the graph is aggregated from.
#[derive(Debug, Clone)]
pub(crate) struct Observations {
    /// [`TRACE`], [`NODE`], [`ROOT`], [`INFERRED`], status columns.
    pub nodes: DataFrame,
    /// [`TRACE`], [`SRC`], [`DST`], status columns.
    pub edges: DataFrame,
    /// By [`TRACE`]: earliest start to latest end of the trace's spans with a service.
    pub trace_durations: Vec<i64>,
    /// Node id → identity.
    pub keys: Vec<NodeKey>,
}

impl Observations {
    /// The ids of the nodes whose identity passes `test`.
    pub(crate) fn node_ids(&self, test: impl Fn(&NodeKey) -> bool) -> Vec<u32> {
        (0..).zip(&self.keys).filter(|(_, key)| test(key)).map(|(id, _)| id).collect()
    }
}

/// Node ids by identity, assigned in order of first sight.
#[derive(Debug, Default)]
struct NodeIds {
    keys: Vec<NodeKey>,
    ids: HashMap<NodeKey, u32>,
}

impl NodeIds {
    fn id(&mut self, name: &str, node_type: &str, account: &str) -> u32 {
        let key = NodeKey { name: name.to_owned(), node_type: node_type.to_owned(), account: account.to_owned() };
        if let Some(id) = self.ids.get(&key) {
            return *id;
        }
        let id = self.keys.len() as u32;
        self.keys.push(key.clone());
        self.ids.insert(key, id);
        id
    }
}

/// Observations of deduplicated spans (see `spans::load_spans`).
pub(crate) fn observe(spans: LazyFrame) -> Result<Observations> {
    let mut ids = NodeIds::default();
    // Collected once: every step below reads it again, and a lazy clone would rescan the store.
    let spans = with_services(collect_spans(spans.select(GRAPH_COLUMNS.map(col)))?)?;
    let (spans, trace_count) = with_trace_and_node_ids(spans, &mut ids)?;
    let segments = spans.clone().lazy().filter(col(columns::KIND).eq(lit(SEGMENT)));
    let links = callee_links(&spans).collect()?;
    let inferred = inferred_calls(&spans, &links, &mut ids)?.lazy();
    let service_nodes =
        segments.clone().select(observation_columns(col(NODE), col(columns::PARENT_ID).is_null(), false));
    let inferred_nodes = inferred.clone().select(observation_columns(col(DST), lit(false), true));
    let nodes = concat([service_nodes, inferred_nodes], UnionArgs::default())?.collect()?;
    let clients = client_edges(segments, &mut ids)?.lazy();
    let edges =
        concat([clients, callee_edges(links)?.lazy(), inferred_edges(inferred)], UnionArgs::default())?.collect()?;
    let trace_durations = trace_durations(&spans, trace_count)?;
    Ok(Observations { nodes, edges, trace_durations, keys: ids.keys })
}

/// The spans with a service: subsegments not yet attached to one have no node. Usually all
/// have one, and copying every column through a filter is then wasted.
fn with_services(spans: DataFrame) -> Result<DataFrame> {
    if spans.column(columns::SERVICE)?.null_count() == 0 {
        return Ok(spans);
    }
    Ok(spans.lazy().filter(col(columns::SERVICE).is_not_null()).collect()?)
}

/// Adds each span's [`TRACE`] and [`NODE`] (its service, origin and the account of its
/// service's segment); returns the number of traces.
fn with_trace_and_node_ids(mut spans: DataFrame, ids: &mut NodeIds) -> Result<(DataFrame, usize)> {
    let (traces, trace_count) = trace_ids(&spans)?;
    let nodes = span_node_ids(&spans, &traces, trace_count, ids)?;
    spans.with_column(Column::new(TRACE.into(), traces))?;
    spans.with_column(Column::new(NODE.into(), nodes))?;
    Ok((spans, trace_count))
}

/// A dense id per distinct `(trace_hi, trace_lo)`, so later steps key on one small integer.
fn trace_ids(spans: &DataFrame) -> Result<(Vec<u32>, usize)> {
    let (his, los) = (spans.column(TRACE_HI)?.u64()?, spans.column(TRACE_LO)?.u64()?);
    let mut dense: PlHashMap<(Option<u64>, Option<u64>), u32> = PlHashMap::new();
    let ids = his
        .iter()
        .zip(los.iter())
        .map(|trace| {
            let next = dense.len() as u32;
            *dense.entry(trace).or_insert(next)
        })
        .collect();
    Ok((ids, dense.len()))
}

/// Earliest start to latest end (the start, for spans in progress) per trace id.
fn trace_durations(spans: &DataFrame, trace_count: usize) -> Result<Vec<i64>> {
    let mut bounds = vec![(i64::MAX, i64::MIN); trace_count];
    let traces = spans.column(TRACE)?.u32()?;
    let (starts, ends) = (spans.column(START_US)?.i64()?, spans.column(END_US)?.i64()?);
    for ((trace, start), end) in traces.iter().zip(starts.iter()).zip(ends.iter()) {
        let (Some(trace), Some(start)) = (trace, start) else { continue };
        let bound = &mut bounds[trace as usize];
        bound.0 = bound.0.min(start);
        bound.1 = bound.1.max(end.unwrap_or(start));
    }
    Ok(bounds.into_iter().map(|(start, end)| end.saturating_sub(start)).collect())
}

fn span_node_ids(spans: &DataFrame, traces: &[u32], trace_count: usize, ids: &mut NodeIds) -> Result<Vec<u32>> {
    let kinds = spans.column(columns::KIND)?.str()?;
    let services = spans.column(columns::SERVICE)?.str()?;
    let origins = spans.column(columns::ORIGIN)?.str()?;
    let accounts = spans.column(columns::AWS_ACCOUNT_ID)?.str()?;
    // Subsegments do not carry the account; the first segment of their service in the same
    // trace that has one does. A trace has few services: a short list per trace beats hashing
    // the service name for every span.
    let mut trace_accounts: Vec<Vec<(&str, &str)>> = vec![Vec::new(); trace_count];
    for (((trace, kind), service), account) in traces.iter().zip(kinds.iter()).zip(services.iter()).zip(accounts.iter())
    {
        if let (Some(SEGMENT), Some(service), Some(account)) = (kind, service, account) {
            let known = &mut trace_accounts[*trace as usize];
            if !known.iter().any(|(known_service, _)| *known_service == service) {
                known.push((service, account));
            }
        }
    }
    let mut cache: PlHashMap<(&str, &str, &str), u32> = PlHashMap::new();
    let mut nodes = Vec::with_capacity(spans.height());
    for ((trace, service), origin) in traces.iter().zip(services.iter()).zip(origins.iter()) {
        let service = service.unwrap_or_default();
        let known = &trace_accounts[*trace as usize];
        let account = known.iter().find(|(known_service, _)| *known_service == service).map_or("", |(_, a)| *a);
        let key = (service, origin.unwrap_or_default(), account);
        nodes.push(*cache.entry(key).or_insert_with(|| ids.id(key.0, key.1, key.2)));
    }
    Ok(nodes)
}

/// Callee segments joined with the span they name as parent: columns `c_*` (callee, with its
/// node as [`DST`]) and `p_*` (caller, node as [`SRC`]).
fn callee_links(spans: &DataFrame) -> LazyFrame {
    let callees = spans
        .clone()
        .lazy()
        .filter(col(columns::KIND).eq(lit(SEGMENT)).and(col(columns::PARENT_ID).is_not_null()))
        .select(
            [
                col(TRACE_HI),
                col(TRACE_LO),
                col(TRACE),
                col(columns::PARENT_ID),
                col(columns::ID).alias("c_id"),
                col(NODE).alias(DST),
            ]
            .into_iter()
            .chain(STATUS.iter().map(|name| col(*name).alias(format!("c_{name}"))))
            .collect::<Vec<_>>(),
        );
    let callers = spans.clone().lazy().select(
        [col(TRACE_HI), col(TRACE_LO), col(columns::ID), col(columns::KIND).alias("p_kind"), col(NODE).alias(SRC)]
            .into_iter()
            .chain(STATUS.iter().map(|name| col(*name).alias(format!("p_{name}"))))
            .collect::<Vec<_>>(),
    );
    let left = [col(TRACE_HI), col(TRACE_LO), col(columns::PARENT_ID)];
    let right = [col(TRACE_HI), col(TRACE_LO), col(columns::ID)];
    callees.join(callers, left, right, JoinArgs::new(JoinType::Inner))
}

/// One edge observation per call: per caller subsegment (however many segments answered it,
/// the first in join order), or per callee segment when the caller is a segment.
fn callee_edges(links: DataFrame) -> Result<DataFrame> {
    let from_subsegment = col("p_kind").eq(lit(SUBSEGMENT));
    let call_id = when(from_subsegment.clone()).then(col(columns::PARENT_ID)).otherwise(col("c_id")).alias("call_id");
    let status = STATUS.iter().map(|name| {
        when(from_subsegment.clone()).then(col(format!("p_{name}"))).otherwise(col(format!("c_{name}"))).alias(*name)
    });
    let mut columns = edge_columns(col(SRC), col(DST), status.collect());
    columns.push(call_id);
    let calls = links.lazy().select(columns).collect()?;
    let first = first_of_each(calls.column(TRACE)?.u32()?, calls.column("call_id")?.u64()?);
    Ok(calls.filter(&first)?.drop("call_id")?)
}

/// `true` on the first row of each `(trace, id)`.
fn first_of_each(traces: &UInt32Chunked, ids: &UInt64Chunked) -> BooleanChunked {
    let mut seen: PlHashSet<(Option<u32>, Option<u64>)> = PlHashSet::new();
    traces.iter().zip(ids.iter()).map(|key| Some(seen.insert(key))).collect()
}

/// `aws`/`remote` subsegments, not traced and not answered by a segment, with their inferred
/// node as [`DST`].
fn inferred_calls(spans: &DataFrame, links: &DataFrame, ids: &mut NodeIds) -> Result<DataFrame> {
    let downstream = col(columns::NAMESPACE).eq(lit("aws")).or(col(columns::NAMESPACE).eq(lit("remote")));
    let is_call = col(columns::KIND).eq(lit(SUBSEGMENT)).and(downstream).and(col(columns::TRACED).not());
    let needed = [
        TRACE,
        NODE,
        columns::ID,
        columns::NAME,
        columns::NAMESPACE,
        columns::AWS_TABLE,
        columns::AWS_QUEUE,
        columns::AWS_RESOURCE,
        columns::SQL_URL,
    ];
    let columns: Vec<Expr> = needed.iter().chain(&STATUS).map(|name| col(*name)).collect();
    let calls = spans.clone().lazy().filter(is_call).select(columns).collect()?;
    let answered = answered_calls(links)?;
    let unanswered: BooleanChunked = calls
        .column(TRACE)?
        .u32()?
        .iter()
        .zip(calls.column(columns::ID)?.u64()?.iter())
        .map(|call| Some(!answered.contains(&call)))
        .collect();
    let mut calls = calls.filter(&unanswered)?;
    let targets = inferred_targets(&calls, ids)?;
    calls.with_column(Column::new(DST.into(), targets))?;
    Ok(calls)
}

/// The `(trace, span id)` of every span a segment names as its parent.
fn answered_calls(links: &DataFrame) -> Result<PlHashSet<(Option<u32>, Option<u64>)>> {
    let (traces, parents) = (links.column(TRACE)?.u32()?, links.column(columns::PARENT_ID)?.u64()?);
    Ok(traces.iter().zip(parents.iter()).collect())
}

/// The inferred node of each call; the naming rule runs once per distinct kind of call.
fn inferred_targets(calls: &DataFrame, ids: &mut NodeIds) -> Result<Vec<u32>> {
    let text = |name: &str| -> Result<&StringChunked> { Ok(calls.column(name)?.str()?) };
    let (names, namespaces) = (text(columns::NAME)?, text(columns::NAMESPACE)?);
    let (tables, queues, resources, sqls) =
        (text(columns::AWS_TABLE)?, text(columns::AWS_QUEUE)?, text(columns::AWS_RESOURCE)?, text(columns::SQL_URL)?);
    let resources = tables.iter().zip(queues.iter()).zip(resources.iter()).zip(sqls.iter());
    let mut cache: PlHashMap<DownstreamKey, u32> = PlHashMap::new();
    let mut targets = Vec::with_capacity(calls.height());
    for ((name, namespace), (((table, queue), resource), sql)) in names.iter().zip(namespaces.iter()).zip(resources) {
        let call = DownstreamCall {
            name: name.unwrap_or_default(),
            namespace: namespace.unwrap_or_default(),
            has_table: table.is_some(),
            has_queue: queue.is_some(),
            has_resource: resource.is_some(),
            has_sql: sql.is_some(),
        };
        let key = (call.name, call.namespace, [call.has_table, call.has_queue, call.has_resource, call.has_sql]);
        let id = *cache.entry(key).or_insert_with(|| {
            let (name, node_type) = inferred_node(&call);
            ids.id(&name, &node_type, "")
        });
        targets.push(id);
    }
    Ok(targets)
}

/// What decides a call's inferred node: name, namespace and which resources it names.
type DownstreamKey<'a> = (&'a str, &'a str, [bool; 4]);

fn inferred_edges(inferred: LazyFrame) -> LazyFrame {
    inferred.select(edge_columns(col(NODE), col(DST), STATUS.iter().map(|name| col(*name)).collect()))
}

/// One edge per root segment, from the `client` node of its service.
fn client_edges(segments: LazyFrame, ids: &mut NodeIds) -> Result<DataFrame> {
    let columns: Vec<Expr> = [TRACE, NODE, columns::SERVICE].iter().chain(&STATUS).map(|name| col(*name)).collect();
    let mut roots = segments.filter(col(columns::PARENT_ID).is_null()).select(columns).collect()?;
    let clients = client_node_ids(roots.column(columns::SERVICE)?.str()?, ids);
    roots.with_column(Column::new(SRC.into(), clients))?;
    let status = STATUS.iter().map(|name| col(*name)).collect();
    Ok(roots.lazy().select(edge_columns(col(SRC), col(NODE), status)).collect()?)
}

fn client_node_ids(services: &StringChunked, ids: &mut NodeIds) -> Vec<u32> {
    let mut cache: PlHashMap<&str, u32> = PlHashMap::new();
    services
        .iter()
        .map(|service| {
            let service = service.unwrap_or_default();
            *cache.entry(service).or_insert_with(|| ids.id(service, CLIENT_TYPE, ""))
        })
        .collect()
}

fn observation_columns(node: Expr, root: Expr, inferred: bool) -> Vec<Expr> {
    let mut columns = vec![col(TRACE), node.alias(NODE)];
    columns.extend([root.alias(ROOT), lit(inferred).alias(INFERRED)]);
    columns.extend(STATUS.iter().map(|name| col(*name)));
    columns
}

/// Edge columns: trace, source and destination nodes, `status` already chosen.
fn edge_columns(source: Expr, destination: Expr, status: Vec<Expr>) -> Vec<Expr> {
    let mut columns = vec![col(TRACE), source.alias(SRC), destination.alias(DST)];
    columns.extend(status);
    columns
}
