//! The collected graph columns as plain per-row vectors the observation pass walks: a dense
//! trace id, the node id, kind, span and parent ids, the inferred downstream a call would go to
//! and the request's [`Outcome`], plus the rows of each trace together.
//!
//! - The text columns come as keys into each column's distinct values ([`GraphScan`]): read
//!   from the blocks' dictionary pages by the store's keyed scan, or keyed here from strings
//!   polars has read. A test on a string (kind, namespace) runs once per distinct value.
//! - Every other column is read once, in order, straight from the scan's chunks (no rechunk;
//!   the columns' chunks are aligned instead, which they mostly are already), on two threads.
//!   The tests on flags (status class, which resources a call names) run in those loops.
//!   Every later step works on integers.
//! - Rows without a service (independent subsegments not yet attached to a segment) are left
//!   out of every trace, so no observation, link or trace duration sees them.
//! - Node identities (name, type, account) are few: a node id is assigned per distinct
//!   (service, origin, account) of keys ([`NodeIds`]).

use std::collections::HashMap;

use fluoro_store::columns::{self, TRACE_HI, TRACE_LO};
use fluoro_store::text_keys::{KeyedText, TextValues, NO_KEY};
use fluoro_store::KeyedScan;
use polars::prelude::*;

use super::inferred::{inferred_node, DownstreamCall};
use super::statistics::{Class, Outcome};
use crate::error::{AnalyzerError, Result};
use crate::spans::{column_chunks, value_at};
use crate::threads::joined;
use crate::trace_runs::TraceRuns;
use crate::trace_set::TraceIdSet;

const SEGMENT: &str = "segment";
/// The bits of an `aws`/`remote` subsegment not `http.request.traced` (a call to a downstream
/// that may be inferred): `remote`, and which resources it names.
const CALL_REMOTE: i32 = 1;
const CALL_HAS_TABLE: i32 = 2;
const CALL_HAS_QUEUE: i32 = 4;
const CALL_HAS_RESOURCE: i32 = 8;
const CALL_HAS_SQL: i32 = 16;
const SUBSEGMENT: &str = "subsegment";
/// [`SpanTable::downstream`] of a row that is not a call to an inferred downstream.
const NOT_A_CALL: u32 = u32::MAX;

/// What a span is, from the `kind` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Segment,
    Subsegment,
    Other,
}

/// Node identity (xray.md 5.1); the order of reference ids.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct NodeKey {
    pub name: String,
    pub node_type: String,
    pub account: String,
}

/// Node ids by identity, assigned in order of first sight.
#[derive(Debug, Default)]
pub(super) struct NodeIds {
    pub keys: Vec<NodeKey>,
    ids: HashMap<NodeKey, u32>,
}

impl NodeIds {
    pub(super) fn id(&mut self, name: &str, node_type: &str, account: &str) -> u32 {
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

/// The text columns of [`super::GRAPH_COLUMNS`], read as keys, in [`GraphTexts`]' order.
pub(crate) const GRAPH_TEXTS: [&str; 10] = [
    columns::KIND,
    columns::SERVICE,
    columns::NAME,
    columns::ORIGIN,
    columns::NAMESPACE,
    columns::AWS_ACCOUNT_ID,
    columns::AWS_TABLE,
    columns::AWS_QUEUE,
    columns::AWS_RESOURCE,
    columns::SQL_URL,
];

/// The other columns of [`super::GRAPH_COLUMNS`], as polars reads them.
pub(crate) const GRAPH_NUMBERS: [&str; 11] = [
    TRACE_HI,
    TRACE_LO,
    columns::ID,
    columns::PARENT_ID,
    columns::START_US,
    columns::END_US,
    columns::IN_PROGRESS,
    columns::ERROR,
    columns::FAULT,
    columns::THROTTLE,
    columns::TRACED,
];

/// How many of a column's last distinct values are compared before hashing (`downstream_calls`).
const RECENT_VALUES: usize = 8;

/// The graph columns of a scan: [`GRAPH_NUMBERS`] and, row for row, [`GRAPH_TEXTS`] as keys.
#[derive(Debug, Clone)]
pub(crate) struct GraphScan {
    numbers: DataFrame,
    texts: GraphTexts,
}

/// [`GRAPH_TEXTS`] by name.
#[derive(Debug, Clone)]
struct GraphTexts {
    kind: KeyedText,
    service: KeyedText,
    name: KeyedText,
    origin: KeyedText,
    namespace: KeyedText,
    account: KeyedText,
    /// `aws.table_name`, `aws.queue_url`, `aws.resource`, `sql.url`: which a call names.
    resources: [KeyedText; 4],
}

impl GraphScan {
    /// A keyed scan of [`GRAPH_NUMBERS`] and [`GRAPH_TEXTS`] (`Store::scan_keyed`).
    pub(crate) fn keyed(scan: KeyedScan) -> Result<Self> {
        let rows = scan.spans.height();
        if let Some(text) = scan.texts.iter().find(|text| text.keys.len() != rows) {
            return Err(AnalyzerError::Internal(format!("{} keys for {rows} rows", text.keys.len())));
        }
        let texts: [KeyedText; GRAPH_TEXTS.len()] = scan.texts.try_into().map_err(|texts: Vec<KeyedText>| {
            AnalyzerError::Internal(format!("a graph scan of {} text columns", texts.len()))
        })?;
        let [kind, service, name, origin, namespace, account, table, queue, resource, sql_url] = texts;
        let resources = [table, queue, resource, sql_url];
        let texts = GraphTexts { kind, service, name, origin, namespace, account, resources };
        Ok(GraphScan { numbers: scan.spans, texts })
    }

    /// Only the rows of the traces in `traces`.
    pub(crate) fn restricted(&self, traces: &TraceIdSet) -> Result<Self> {
        let keep = traces.rows_in(&self.numbers)?;
        let numbers = self.numbers.filter(&BooleanChunked::from_slice("keep".into(), &keep))?;
        let mut texts = self.texts.clone();
        let GraphTexts { kind, service, name, origin, namespace, account, resources } = &mut texts;
        let all = [kind, service, name, origin, namespace, account].into_iter().chain(resources.iter_mut());
        all.for_each(|text| text.retain_rows(&keep));
        Ok(GraphScan { numbers, texts })
    }

    /// The graph columns of a frame polars has read, its text columns keyed on two threads.
    pub(crate) fn of_frame(frame: DataFrame) -> Result<Self> {
        let keyed = |names: &[&str]| -> Result<Vec<KeyedText>> {
            names.iter().map(|name| Ok(KeyedText::from_strings(frame.column(name)?.str()?))).collect()
        };
        let (first, second) = GRAPH_TEXTS.split_at(GRAPH_TEXTS.len() / 2);
        let (first, second) = std::thread::scope(|scope| {
            let second = scope.spawn(|| keyed(second));
            (keyed(first), joined(second))
        });
        let mut texts = first?;
        texts.extend(second?);
        GraphScan::keyed(KeyedScan { spans: frame.select(GRAPH_NUMBERS)?, texts })
    }
}

/// The graph columns of a scan, row by row.
#[derive(Debug)]
pub(super) struct SpanTable {
    pub kind: Vec<Kind>,
    pub id: SpanIds,
    pub parent: SpanIds,
    /// Node id of the span's service, origin and account.
    pub node: Vec<u32>,
    /// For an `aws`/`remote` subsegment not `http.request.traced`: the index in
    /// `downstream_nodes` of the inferred node it calls; [`NOT_A_CALL`] otherwise.
    downstream: Vec<u32>,
    downstream_nodes: Vec<u32>,
    pub outcome: Vec<Outcome>,
    pub traces: TraceRows,
    service: KeyedText,
}

impl SpanTable {
    /// Reads a graph scan; node ids go into `ids`. The columns are read on two threads, each a
    /// few tens of milliseconds per million spans: the trace rows, then the node ids here; the
    /// span ids, outcomes and calls on the second.
    pub(super) fn read(scan: GraphScan, ids: &mut NodeIds) -> Result<Self> {
        let GraphScan { numbers: mut spans, texts } = scan;
        // Columns whose chunks line up are read chunk by chunk, side by side.
        spans.align_chunks_par();
        let (spans, texts_ref) = (&spans, &texts);
        let (traces, node, requests) = std::thread::scope(|scope| -> Result<_> {
            let requests = scope.spawn(|| RequestColumns::read(spans, texts_ref));
            let traces = TraceColumns::read(spans, texts_ref)?;
            let columns = NodeParts {
                kind: &traces.kind,
                service: &texts_ref.service.keys,
                origin: &texts_ref.origin.keys,
                account: &texts_ref.account.keys,
            };
            let names = NodeNames {
                services: &texts_ref.service.values,
                origins: &texts_ref.origin.values,
                accounts: &texts_ref.account.values,
            };
            let node = node_ids(&columns, &names, &traces.traces, ids);
            Ok((traces, node, joined(requests)?))
        })?;
        let downstream_nodes =
            requests.downstream_calls.iter().map(|(name, node_type)| ids.id(name, node_type, "")).collect();
        Ok(SpanTable {
            kind: traces.kind,
            id: requests.id,
            parent: requests.parent,
            node,
            downstream: requests.downstream,
            downstream_nodes,
            outcome: requests.outcome,
            traces: traces.traces,
            service: texts.service,
        })
    }

    /// The inferred node a row calls, when it is such a call.
    pub(super) fn downstream_node(&self, row: usize) -> Option<u32> {
        self.downstream_nodes.get(self.downstream[row] as usize).copied()
    }

    /// The name of a service by its id ([`Self::service_id`]).
    pub(super) fn service_name(&self, service: u32) -> &str {
        self.service.values.text(service).unwrap_or_default()
    }

    /// The service's id among the distinct services of the table.
    pub(super) fn service_id(&self, row: usize) -> Option<u32> {
        Some(self.service.keys[row]).filter(|service| *service != NO_KEY)
    }

    pub(super) fn service_count(&self) -> usize {
        self.service.values.len()
    }
}

/// The rows with a service, grouped by trace, in row order within each.
#[derive(Debug)]
pub(super) struct TraceRows {
    rows: Vec<u32>,
    /// Trace `t` holds `rows[starts[t]..starts[t + 1]]`.
    starts: Vec<u32>,
}

impl TraceRows {
    /// A counting sort of the rows by their run's dense trace id. Loops run by run (a flat
    /// iterator over all runs' rows is stepped row by row).
    fn of(runs: &TraceRuns, service: &[u32]) -> Self {
        let trace_count = runs.traces();
        let with_service = |run: std::ops::Range<usize>| run.filter(|row| service[*row] != NO_KEY);
        let mut starts = vec![0u32; trace_count + 1];
        for (run, trace) in runs.iter() {
            starts[trace as usize + 1] += with_service(run).count() as u32;
        }
        for index in 1..starts.len() {
            starts[index] += starts[index - 1];
        }
        let mut next = starts.clone();
        // Every slot is written below; not `vec![0; n]` (see `TraceRuns::of`).
        let mut rows = vec![u32::MAX; starts[trace_count] as usize];
        for (run, trace) in runs.iter() {
            let slot = &mut next[trace as usize];
            for row in with_service(run) {
                rows[*slot as usize] = row as u32;
                *slot += 1;
            }
        }
        TraceRows { rows, starts }
    }

    /// Dense trace ids run from 0 to `count() - 1`.
    pub(super) fn count(&self) -> usize {
        self.starts.len() - 1
    }

    pub(super) fn rows(&self, trace: usize) -> &[u32] {
        &self.rows[self.starts[trace] as usize..self.starts[trace + 1] as usize]
    }
}

/// Each row's kind, decided once per distinct value.
fn kinds(kinds: &KeyedText) -> Vec<Kind> {
    let of_value: Vec<Kind> = kinds.values.values().iter().map(|value| kind(Some(value))).collect();
    kinds.keys.iter().map(|key| of_value.get(*key as usize).copied().unwrap_or(Kind::Other)).collect()
}

fn kind(kind: Option<&str>) -> Kind {
    match kind {
        Some(SEGMENT) => Kind::Segment,
        Some(SUBSEGMENT) => Kind::Subsegment,
        _ => Kind::Other,
    }
}

/// Whether a namespace makes a span a call that may be inferred: `Some(remote)` for `remote`
/// and `aws`, by key.
fn call_namespaces(namespaces: &TextValues) -> Vec<Option<bool>> {
    let namespace = |value: &String| match value.as_str() {
        "aws" => Some(false),
        "remote" => Some(true),
        _ => None,
    };
    namespaces.values().iter().map(namespace).collect()
}

/// A span id column (id or parent id), row by row: the values and, apart, whether each is
/// there (9 bytes a row of fresh memory per query rather than 16 as options). Most chunks have
/// no nulls, and their values are copied as they lie.
#[derive(Debug)]
pub(super) struct SpanIds {
    values: Vec<u64>,
    present: Vec<bool>,
}

impl SpanIds {
    fn read(column: &UInt64Chunked) -> Self {
        let mut ids = SpanIds { values: Vec::with_capacity(column.len()), present: Vec::with_capacity(column.len()) };
        for array in column.downcast_iter() {
            ids.values.extend_from_slice(array.values());
            match array.validity() {
                Some(validity) => ids.present.extend(validity.iter()),
                None => ids.present.resize(ids.values.len(), true),
            }
        }
        ids
    }

    pub(super) fn get(&self, row: usize) -> Option<u64> {
        self.present[row].then(|| self.values[row])
    }
}

/// The columns that group rows into traces, read.
struct TraceColumns {
    kind: Vec<Kind>,
    traces: TraceRows,
}

impl TraceColumns {
    fn read(spans: &DataFrame, texts: &GraphTexts) -> Result<Self> {
        let kind = kinds(&texts.kind);
        let runs = TraceRuns::of(spans.column(TRACE_HI)?.u64()?, spans.column(TRACE_LO)?.u64()?);
        let traces = TraceRows::of(&runs, &texts.service.keys);
        Ok(TraceColumns { kind, traces })
    }
}

/// A node's (service, origin, account) keys.
type NodeKeys = (u32, u32, u32);

/// The keyed columns a node id is made of.
struct NodeParts<'a> {
    kind: &'a [Kind],
    service: &'a [u32],
    origin: &'a [u32],
    account: &'a [u32],
}

/// The strings behind [`NodeParts`]' keys.
struct NodeNames<'a> {
    services: &'a TextValues,
    origins: &'a TextValues,
    accounts: &'a TextValues,
}

/// Each row's node id. Subsegments do not carry the account; the first segment of their
/// service in the same trace that has one does (a trace has few services: a short list per
/// trace beats a map). Rows without a service (in no trace) are never read.
fn node_ids(columns: &NodeParts<'_>, names: &NodeNames<'_>, traces: &TraceRows, ids: &mut NodeIds) -> Vec<u32> {
    // Not `vec![0; n]` (see `TraceRuns::of`): rows in no trace keep this id and are never read.
    let mut node = vec![u32::MAX; columns.kind.len()];
    let mut nodes: PlHashMap<NodeKeys, u32> = PlHashMap::new();
    let mut accounts: Vec<(u32, u32)> = Vec::new();
    // The previous row's key and node: a trace's spans mostly follow each other by service.
    let mut last: Option<(NodeKeys, u32)> = None;
    for trace in 0..traces.count() {
        let rows = traces.rows(trace);
        accounts.clear();
        for &row in rows {
            let (service, account) = (columns.service[row as usize], columns.account[row as usize]);
            let segment = columns.kind[row as usize] == Kind::Segment;
            if segment && account != NO_KEY && !accounts.iter().any(|(known, _)| *known == service) {
                accounts.push((service, account));
            }
        }
        for &row in rows {
            let service = columns.service[row as usize];
            let account = accounts.iter().find(|(known, _)| *known == service).map_or(NO_KEY, |(_, account)| *account);
            let key = (service, columns.origin[row as usize], account);
            node[row as usize] = match last {
                Some((known, id)) if known == key => id,
                _ => {
                    let id = *nodes.entry(key).or_insert_with(|| {
                        let text = |values: &TextValues, key: u32| values.text(key).unwrap_or_default().to_owned();
                        let (service, origin) = (text(names.services, key.0), text(names.origins, key.1));
                        ids.id(&service, &origin, &text(names.accounts, key.2))
                    });
                    last = Some((key, id));
                    id
                }
            };
        }
    }
    node
}

/// The columns that say what a span asked and how it went, read.
struct RequestColumns {
    id: SpanIds,
    parent: SpanIds,
    downstream: Vec<u32>,
    /// Distinct inferred downstreams (name, type), indexed by `downstream`.
    downstream_calls: Vec<NodeName>,
    outcome: Vec<Outcome>,
}

impl RequestColumns {
    fn read(spans: &DataFrame, texts: &GraphTexts) -> Result<Self> {
        let (downstream, downstream_calls) = downstream_calls(spans, texts)?;
        Ok(RequestColumns {
            id: SpanIds::read(spans.column(columns::ID)?.u64()?),
            parent: SpanIds::read(spans.column(columns::PARENT_ID)?.u64()?),
            downstream,
            downstream_calls,
            outcome: outcomes(spans)?,
        })
    }
}

/// For each `aws`/`remote` subsegment not `http.request.traced`, which inferred downstream it
/// calls (an index into the returned names); the naming rule runs once per distinct call, and
/// the last few distinct calls are compared before hashing.
fn downstream_calls(spans: &DataFrame, texts: &GraphTexts) -> Result<(Vec<u32>, Vec<NodeName>)> {
    let namespaces = call_namespaces(&texts.namespace.values);
    let subsegment = texts.kind.values.values().iter().map(|value| kind(Some(value)) == Kind::Subsegment);
    let subsegment: Vec<bool> = subsegment.collect();
    let is = |table: &[bool], key: u32| table.get(key as usize).copied().unwrap_or(false);
    let mut known: PlHashMap<(u32, i32), u32> = PlHashMap::new();
    let mut recent: Vec<((u32, i32), u32)> = Vec::with_capacity(RECENT_VALUES);
    let mut nodes = Vec::new();
    let mut targets = Vec::with_capacity(spans.height());
    let mut row = 0;
    for traced in column_chunks::<BooleanType>(spans, columns::TRACED)? {
        for chunk_row in 0..traced.len() {
            let namespace = namespaces.get(texts.namespace.keys[row] as usize).copied().flatten();
            let call = match namespace {
                Some(remote) if traced.get(chunk_row) == Some(false) && is(&subsegment, texts.kind.keys[row]) => {
                    Some(call_key(texts, row, remote))
                }
                _ => None,
            };
            row += 1;
            let Some(key) = call else {
                targets.push(NOT_A_CALL);
                continue;
            };
            if let Some((_, index)) = recent.iter().find(|(known, _)| *known == key) {
                targets.push(*index);
                continue;
            }
            let index = *known.entry(key).or_insert_with(|| {
                let name = texts.name.values.text(key.0).unwrap_or_default();
                nodes.push(inferred_node(&downstream_call(name, key.1)));
                nodes.len() as u32 - 1
            });
            if recent.len() == RECENT_VALUES {
                recent.pop();
            }
            recent.insert(0, (key, index));
            targets.push(index);
        }
    }
    Ok((targets, nodes))
}

/// A call's name key and `CALL_*` bits.
fn call_key(texts: &GraphTexts, row: usize, remote: bool) -> (u32, i32) {
    let bits = [CALL_HAS_TABLE, CALL_HAS_QUEUE, CALL_HAS_RESOURCE, CALL_HAS_SQL];
    let named = bits.into_iter().zip(&texts.resources).filter(|(_, column)| column.keys[row] != NO_KEY);
    let flags = named.fold(if remote { CALL_REMOTE } else { 0 }, |flags, (bit, _)| flags | bit);
    (texts.name.keys[row], flags)
}

fn downstream_call(name: &str, flags: i32) -> DownstreamCall<'_> {
    DownstreamCall {
        name,
        namespace: if flags & CALL_REMOTE != 0 { "remote" } else { "aws" },
        has_table: flags & CALL_HAS_TABLE != 0,
        has_queue: flags & CALL_HAS_QUEUE != 0,
        has_resource: flags & CALL_HAS_RESOURCE != 0,
        has_sql: flags & CALL_HAS_SQL != 0,
    }
}

/// A node's (name, type).
type NodeName = (String, String);

/// A request's [`Class`] from its status flags: a flag decides only when it is known, as do
/// the flags of the classes before it.
fn class(fault: Option<bool>, throttle: Option<bool>, error: Option<bool>) -> Class {
    match (fault, throttle, error) {
        (Some(true), _, _) => Class::Fault,
        (Some(false), Some(true), _) => Class::Throttle,
        (Some(false), Some(false), Some(true)) => Class::Error,
        _ => Class::Ok,
    }
}

/// Every row's [`Outcome`], read from the columns as they lie (per-row copies of four
/// columns would be 48 bytes a row of fresh memory for each query), chunk by chunk.
fn outcomes(spans: &DataFrame) -> Result<Vec<Outcome>> {
    let times = |name: &str| column_chunks::<Int64Type>(spans, name);
    let flags = |name: &str| column_chunks::<BooleanType>(spans, name);
    let (starts, ends, in_progress) =
        (times(columns::START_US)?, times(columns::END_US)?, flags(columns::IN_PROGRESS)?);
    let (faults, throttles, errors) = (flags(columns::FAULT)?, flags(columns::THROTTLE)?, flags(columns::ERROR)?);
    let mut outcomes = Vec::with_capacity(spans.height());
    for chunk in 0..starts.len() {
        outcomes.extend((0..starts[chunk].len()).map(|row| {
            let class = class(faults[chunk].get(row), throttles[chunk].get(row), errors[chunk].get(row));
            let (start, end) = (value_at(starts[chunk], row), value_at(ends[chunk], row));
            Outcome::new(start, end, in_progress[chunk].get(row), Some(class as u8))
        }));
    }
    Ok(outcomes)
}
