//! One minute of traces as the insight detector sees it ([`MinuteObservation`]): per node of
//! the service graph, requests and faults, the fault root causes of its faulted traces and the
//! client requests of the traces through it.
//!
//! - A trace belongs to the minute its root segment starts in (`span_record::root_index`).
//!   Its spans are read up to [`TRACE_TAIL_US`] after the minute ends: a trace still running
//!   then is judged on what arrived, so the evaluation grace must cover that tail.
//! - Nodes are the service graph's: a segment counts for its service (name, origin), a
//!   downstream call whose callee sent no segment for its inferred node. Root causes name
//!   nodes the same way ([`crate::RootCause`]), so a root cause can be a table or a queue.
//! - The client of a trace is its root segment's service; its request is a fault when the
//!   root segment faulted.
//! - A node's response times are its counted spans' durations (in-progress ones left out); its
//!   callees are the nodes whose counted spans have one of its segments as nearest segment
//!   ancestor (the graph's edges).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use fluoro_store::Store;

use crate::error::Result;
use crate::insight_detector::{MinuteObservation, RequestImpact, ServiceKey, ServiceMinute};
use crate::root_cause::root_causes;
use crate::span_record::{inferred_identity, records_by_trace, root_index, SpanRecord};
use crate::spans::{collect_spans, load_spans, SPAN_COLUMNS};
use crate::trace_set::TraceIdSet;

/// How long after its minute a trace's spans are still read.
pub const TRACE_TAIL_US: i64 = 30 * 1_000_000;
const MINUTE_US: i64 = 60 * 1_000_000;

/// The observation of the minute starting at `minute` (Unix seconds), of every trace or of
/// those in `traces` (a group's).
pub fn observe_minute(store: &Store, minute: i64, traces: Option<&TraceIdSet>) -> Result<MinuteObservation> {
    let from_us = minute.saturating_mul(1_000_000);
    let mut spans = load_spans(store, from_us, from_us + MINUTE_US + TRACE_TAIL_US, SPAN_COLUMNS)?;
    if let Some(traces) = traces {
        spans = traces.restrict(spans);
    }
    let frame = collect_spans(spans)?;
    let by_trace = records_by_trace(&frame)?;
    Ok(observe_traces(minute, by_trace.values().map(Vec::as_slice)))
}

/// The observation of the traces whose root segment starts in the minute; others are skipped.
pub(crate) fn observe_traces<'a>(minute: i64, traces: impl Iterator<Item = &'a [SpanRecord]>) -> MinuteObservation {
    let from_us = minute.saturating_mul(1_000_000);
    let mut observation = MinuteObservation { minute, services: BTreeMap::new() };
    for records in traces {
        let Some(root) = root_index(records) else { continue };
        if !(from_us..from_us + MINUTE_US).contains(&records[root].start_us) {
            continue;
        }
        observe_trace(&mut observation.services, records, root);
    }
    observation
}

fn observe_trace(services: &mut BTreeMap<ServiceKey, ServiceMinute>, records: &[SpanRecord], root: usize) {
    let client = node_of(&records[root]);
    let client_request = RequestImpact::one(records[root].fault);
    let causes: BTreeSet<ServiceKey> = root_causes(records, root)
        .fault
        .iter()
        .filter_map(|cause| cause.services.last())
        .map(|service| ServiceKey { name: service.name.clone(), r#type: service.r#type.clone() })
        .collect();
    // Callees that sent their own segment: the call is not an inferred node then.
    let called: BTreeSet<u64> = records.iter().filter(|r| r.segment).filter_map(|r| r.parent_id).collect();
    let by_id: HashMap<u64, usize> = records.iter().enumerate().map(|(index, r)| (r.id, index)).collect();
    let mut faulted_nodes = BTreeSet::new();
    let mut touched = BTreeSet::new();
    for record in records {
        let counted = record.segment || (record.is_downstream_call() && !called.contains(&record.id));
        if !counted {
            continue;
        }
        let node = node_of(record);
        let minute = services.entry(node.clone()).or_default();
        minute.requests += 1;
        if record.fault {
            minute.faults += 1;
            faulted_nodes.insert(node.clone());
        }
        if let Some(seconds) = record.seconds().filter(|_| !record.in_progress) {
            minute.latency.record(seconds);
        }
        if let Some(caller) = caller_segment(records, &by_id, record).map(node_of).filter(|caller| caller != &node) {
            services.entry(caller).or_default().callees.insert(node.clone());
        }
        touched.insert(node);
    }
    for node in touched {
        let Some(minute) = services.get_mut(&node) else { continue };
        minute.clients.entry(client.clone()).or_default().add(client_request);
        if faulted_nodes.contains(&node) {
            for cause in &causes {
                *minute.faults_by_root_cause.entry(cause.clone()).or_default() += 1;
            }
        }
    }
}

/// The nearest segment above `record`: the service that made the call. Cycles in bad data end
/// the walk.
fn caller_segment<'a>(
    records: &'a [SpanRecord],
    by_id: &HashMap<u64, usize>,
    record: &SpanRecord,
) -> Option<&'a SpanRecord> {
    let mut parent = record.parent_id;
    for _ in 0..records.len() {
        let ancestor = &records[*by_id.get(&parent?)?];
        if ancestor.segment {
            return Some(ancestor);
        }
        parent = ancestor.parent_id;
    }
    None
}

/// The graph node a counted span stands for: its service, or the inferred callee.
fn node_of(record: &SpanRecord) -> ServiceKey {
    if !record.segment && record.is_downstream_call() {
        let (name, node_type) = inferred_identity(record);
        return ServiceKey { name, r#type: Some(node_type) };
    }
    let name = if record.segment { record.name.clone() } else { record.service.clone().unwrap_or_default() };
    ServiceKey { name, r#type: record.origin.clone() }
}
