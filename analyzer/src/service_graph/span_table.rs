//! The collected graph columns as plain per-row vectors the observation pass walks: a dense
//! trace id, the node id, kind, span and parent ids, the inferred downstream a call would go to
//! and the request's [`Outcome`], plus the rows of each trace together.
//!
//! - Every column is read once, in order, straight from the scan's chunks (no rechunk:
//!   concatenating string views costs as much as reading them; the columns' chunks are aligned
//!   instead, which they mostly are already), on three threads. The tests on strings and flags
//!   (kind, namespace, status class, which resources a call names) run in those loops.
//!   Every later step works on integers.
//! - Rows without a service (independent subsegments not yet attached to a segment) are left
//!   out of every trace, so no observation, link or trace duration sees them.
//! - Node identities (name, type, account) are few: strings are interned per column, and a
//!   node id is assigned per distinct (service, origin, account) of interned ids ([`NodeIds`]).

use std::collections::HashMap;

use fluoro_store::columns::{self, TRACE_HI, TRACE_LO};
use fluoro_store::view_keys::ViewKeys;
use polars::prelude::*;
use polars_arrow::array::{Array, BooleanArray, Utf8ViewArray};

use super::inferred::{inferred_node, DownstreamCall};
use super::statistics::{Class, Outcome};
use crate::error::Result;
use crate::spans::{column_chunks, value_at};
use crate::threads::joined;
use crate::trace_runs::TraceRuns;

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

/// The interned id of a null string: ids are dense from 0, and this one is never assigned
/// (a scan has fewer rows than `u32::MAX`).
const NO_STRING: u32 = u32::MAX;

/// How many of a column's last distinct values are compared before hashing (`downstream_calls`).
const RECENT_VALUES: usize = 8;

/// Distinct strings of one column, each with a dense id.
#[derive(Debug, Default)]
struct Interned {
    strings: Vec<String>,
    ids: PlHashMap<String, u32>,
}

impl Interned {
    /// Ids of every row ([`NO_STRING`] for nulls: half the memory of options), each row's from
    /// a cache of the array's views (`fluoro_store::view_keys`), so that only a view not met
    /// lately hashes its string.
    fn column(&mut self, values: &StringChunked) -> Vec<u32> {
        let mut ids = Vec::with_capacity(values.len());
        for array in values.downcast_iter() {
            let mut cache = ViewKeys::default();
            for (index, view) in array.views().iter().enumerate() {
                let id = match array.is_valid(index) {
                    true => cache.key(view, || self.id(array.value(index))),
                    false => NO_STRING,
                };
                ids.push(id);
            }
        }
        ids
    }

    fn id(&mut self, value: &str) -> u32 {
        if let Some(id) = self.ids.get(value) {
            return *id;
        }
        let id = self.strings.len() as u32;
        self.strings.push(value.to_owned());
        self.ids.insert(value.to_owned(), id);
        id
    }

    /// The string of an id; empty for [`NO_STRING`].
    fn text(&self, id: u32) -> &str {
        self.strings.get(id as usize).map_or("", String::as_str)
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
    service: Vec<u32>,
    services: Interned,
}

impl SpanTable {
    /// What [`Self::read`] reads: [`super::GRAPH_COLUMNS`] as they lie. The tests of a span's
    /// kind, status flags and resources run in the loops that read the rows: as polars
    /// expressions over a collected frame they cost a third as much again as the whole read.
    pub(super) fn columns() -> Vec<Expr> {
        super::GRAPH_COLUMNS.into_iter().map(col).collect()
    }

    /// Reads a frame of [`Self::columns`]; node ids go into `ids`. The columns are read on
    /// three threads, each a few tens of milliseconds per million spans, that the machine's two
    /// cores share: the trace rows and services here, then the node ids, once the other node
    /// names are read on the second thread; the span ids and outcomes on the third.
    pub(super) fn read(mut spans: DataFrame, ids: &mut NodeIds) -> Result<Self> {
        // Columns whose chunks line up are read chunk by chunk, side by side.
        spans.align_chunks_par();
        let spans = &spans;
        let (traces, node, requests) = std::thread::scope(|scope| -> Result<_> {
            let requests = scope.spawn(|| RequestColumns::read(spans));
            let names = scope.spawn(|| NameColumns::read(spans));
            let traces = TraceColumns::read(spans)?;
            let names: NameColumns = joined(names)?;
            let columns = NodeParts {
                kind: &traces.kind,
                service: &traces.service,
                origin: &names.origin,
                account: &names.account,
            };
            let names = NodeNames { services: &traces.services, origins: &names.origins, accounts: &names.accounts };
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
            service: traces.service,
            services: traces.services,
        })
    }

    /// The inferred node a row calls, when it is such a call.
    pub(super) fn downstream_node(&self, row: usize) -> Option<u32> {
        self.downstream_nodes.get(self.downstream[row] as usize).copied()
    }

    /// The name of a service by its id ([`Self::service_id`]).
    pub(super) fn service_name(&self, service: u32) -> &str {
        self.services.text(service)
    }

    /// The service's id among the distinct services of the table.
    pub(super) fn service_id(&self, row: usize) -> Option<u32> {
        Some(self.service[row]).filter(|service| *service != NO_STRING)
    }

    pub(super) fn service_count(&self) -> usize {
        self.services.strings.len()
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
        let with_service = |run: std::ops::Range<usize>| run.filter(|row| service[*row] != NO_STRING);
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

/// Each row's kind, read chunk by chunk (an iterator over all chunks is stepped row by row).
fn kinds(kinds: &StringChunked) -> Vec<Kind> {
    let mut all = Vec::with_capacity(kinds.len());
    for array in kinds.downcast_iter() {
        all.extend(array.iter().map(kind));
    }
    all
}

fn kind(kind: Option<&str>) -> Kind {
    match kind {
        Some(SEGMENT) => Kind::Segment,
        Some(SUBSEGMENT) => Kind::Subsegment,
        _ => Kind::Other,
    }
}

/// One chunk of the columns that say whether a span calls a downstream that may be inferred.
struct CallColumns<'a> {
    kind: &'a Utf8ViewArray,
    namespace: &'a Utf8ViewArray,
    traced: &'a BooleanArray,
    name: &'a Utf8ViewArray,
    /// `aws.table_name`, `aws.queue_url`, `aws.resource`, `sql.url`: which the call names.
    resources: [&'a Utf8ViewArray; 4],
}

impl<'a> CallColumns<'a> {
    /// An `aws`/`remote` subsegment not `http.request.traced` (each known): its name and
    /// `CALL_*` bits.
    fn call(&self, row: usize) -> Option<(&'a str, i32)> {
        let remote = match self.namespace.get(row)? {
            "aws" => false,
            "remote" => true,
            _ => return None,
        };
        let untraced = self.traced.get(row) == Some(false);
        if !untraced || kind(self.kind.get(row)) != Kind::Subsegment {
            return None;
        }
        let bits = [CALL_HAS_TABLE, CALL_HAS_QUEUE, CALL_HAS_RESOURCE, CALL_HAS_SQL];
        let named = bits.into_iter().zip(self.resources).filter(|(_, column)| column.is_valid(row));
        let flags = named.fold(if remote { CALL_REMOTE } else { 0 }, |flags, (bit, _)| flags | bit);
        Some((self.name.get(row).unwrap_or_default(), flags))
    }
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

/// The columns that group rows into traces, and the services, read.
struct TraceColumns {
    kind: Vec<Kind>,
    service: Vec<u32>,
    services: Interned,
    traces: TraceRows,
}

impl TraceColumns {
    fn read(spans: &DataFrame) -> Result<Self> {
        let kind = kinds(spans.column(columns::KIND)?.str()?);
        let mut services = Interned::default();
        let service = services.column(spans.column(columns::SERVICE)?.str()?);
        let runs = TraceRuns::of(spans.column(TRACE_HI)?.u64()?, spans.column(TRACE_LO)?.u64()?);
        let traces = TraceRows::of(&runs, &service);
        Ok(TraceColumns { kind, service, services, traces })
    }
}

/// The other columns a node id is made of, interned.
struct NameColumns {
    origin: Vec<u32>,
    origins: Interned,
    account: Vec<u32>,
    accounts: Interned,
}

impl NameColumns {
    fn read(spans: &DataFrame) -> Result<Self> {
        let (mut origins, mut accounts) = (Interned::default(), Interned::default());
        let origin = origins.column(spans.column(columns::ORIGIN)?.str()?);
        let account = accounts.column(spans.column(columns::AWS_ACCOUNT_ID)?.str()?);
        Ok(NameColumns { origin, origins, account, accounts })
    }
}

/// A node's interned (service, origin, account).
type InternedNode = (u32, u32, u32);

/// The interned columns a node id is made of.
struct NodeParts<'a> {
    kind: &'a [Kind],
    service: &'a [u32],
    origin: &'a [u32],
    account: &'a [u32],
}

/// The strings behind [`NodeParts`]' ids.
struct NodeNames<'a> {
    services: &'a Interned,
    origins: &'a Interned,
    accounts: &'a Interned,
}

/// Each row's node id. Subsegments do not carry the account; the first segment of their
/// service in the same trace that has one does (a trace has few services: a short list per
/// trace beats a map). Rows without a service (in no trace) are never read.
fn node_ids(columns: &NodeParts<'_>, names: &NodeNames<'_>, traces: &TraceRows, ids: &mut NodeIds) -> Vec<u32> {
    // Not `vec![0; n]` (see `TraceRuns::of`): rows in no trace keep this id and are never read.
    let mut node = vec![u32::MAX; columns.kind.len()];
    let mut nodes: PlHashMap<InternedNode, u32> = PlHashMap::new();
    let mut accounts: Vec<(u32, u32)> = Vec::new();
    // The previous row's key and node: a trace's spans mostly follow each other by service.
    let mut last: Option<(InternedNode, u32)> = None;
    for trace in 0..traces.count() {
        let rows = traces.rows(trace);
        accounts.clear();
        for &row in rows {
            let (service, account) = (columns.service[row as usize], columns.account[row as usize]);
            let segment = columns.kind[row as usize] == Kind::Segment;
            if segment && account != NO_STRING && !accounts.iter().any(|(known, _)| *known == service) {
                accounts.push((service, account));
            }
        }
        for &row in rows {
            let service = columns.service[row as usize];
            let account =
                accounts.iter().find(|(known, _)| *known == service).map_or(NO_STRING, |(_, account)| *account);
            let key = (service, columns.origin[row as usize], account);
            node[row as usize] = match last {
                Some((known, id)) if known == key => id,
                _ => {
                    let id = *nodes.entry(key).or_insert_with(|| {
                        ids.id(names.services.text(key.0), names.origins.text(key.1), names.accounts.text(key.2))
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
    fn read(spans: &DataFrame) -> Result<Self> {
        let (downstream, downstream_calls) = downstream_calls(spans)?;
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
fn downstream_calls(spans: &DataFrame) -> Result<(Vec<u32>, Vec<NodeName>)> {
    let text = |name: &str| column_chunks::<StringType>(spans, name);
    let (kinds, namespaces, names) = (text(columns::KIND)?, text(columns::NAMESPACE)?, text(columns::NAME)?);
    let traced = column_chunks::<BooleanType>(spans, columns::TRACED)?;
    let resources = [columns::AWS_TABLE, columns::AWS_QUEUE, columns::AWS_RESOURCE, columns::SQL_URL].map(text);
    let [tables, queues, resources, sql_urls] = resources;
    let (tables, queues, resources, sql_urls) = (tables?, queues?, resources?, sql_urls?);
    let mut known: PlHashMap<(&str, i32), u32> = PlHashMap::new();
    let mut recent: Vec<((&str, i32), u32)> = Vec::with_capacity(RECENT_VALUES);
    let mut nodes = Vec::new();
    let mut targets = Vec::with_capacity(spans.height());
    for chunk in 0..kinds.len() {
        let columns = CallColumns {
            kind: kinds[chunk],
            namespace: namespaces[chunk],
            traced: traced[chunk],
            name: names[chunk],
            resources: [tables[chunk], queues[chunk], resources[chunk], sql_urls[chunk]],
        };
        for row in 0..columns.kind.len() {
            let Some(key) = columns.call(row) else {
                targets.push(NOT_A_CALL);
                continue;
            };
            if let Some((_, index)) = recent.iter().find(|(known, _)| *known == key) {
                targets.push(*index);
                continue;
            }
            let index = *known.entry(key).or_insert_with(|| {
                nodes.push(inferred_node(&downstream_call(key.0, key.1)));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_gives_equal_strings_one_id_across_chunks_and_lengths() {
        let long = "AWS::ElasticBeanstalk::Environment";
        let mut values = StringChunked::new("s".into(), &[Some("petsite"), None, Some(long), Some("petsite")]);
        values.append(&StringChunked::new("s".into(), &[Some(long), Some("payforadoption"), Some(long)])).unwrap();
        assert_eq!(values.chunks().len(), 2, "the test needs views from two arrays");
        let mut interned = Interned::default();
        let ids = interned.column(&values);
        assert_eq!(ids, vec![0, NO_STRING, 1, 0, 1, 2, 1]);
        assert_eq!((interned.text(1), interned.text(NO_STRING)), (long, ""));
        assert_eq!(interned.strings.len(), 3);
    }
}
