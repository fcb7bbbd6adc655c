//! Recent data: the spans accepted since the last flush, in memory and queryable the moment a
//! write returns. It holds exactly what the write-ahead log segments since the last checkpoint
//! hold, one version per `(trace_id, id)`, indexed by trace.
//!
//! Versions are chosen by the store's one replace rule, [`preferred_version`] (shared with
//! compaction and trace reads): of all versions of one span, the latest completed one wins;
//! only when none is completed does the latest in-progress one. That is a maximum over
//! `(completed, sequence)`, so the outcome does not depend on the order versions are merged
//! in — replay, flushes and reads agree.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Instant;

use fluoro_proto::{AnnotationScalar, SegmentId, SpanRow, TraceId};

use crate::record::StoredSpan;
use crate::replace_rule::preferred_version;

/// One generation of recent data.
#[derive(Debug, Default)]
pub(crate) struct RecentSpans {
    traces: HashMap<TraceId, HashMap<SegmentId, StoredSpan>>,
    rows: usize,
    /// What the spans take in memory, roughly ([`approximate_bytes`]), for the store's budget.
    bytes: usize,
    /// When the first span of this generation arrived, for the age-based flush.
    oldest: Option<Instant>,
}

impl RecentSpans {
    /// Adds spans under the replace rule; a duplicate changes nothing.
    pub(crate) fn insert(&mut self, spans: impl IntoIterator<Item = StoredSpan>) {
        for span in spans {
            self.insert_one(span);
        }
    }

    fn insert_one(&mut self, span: StoredSpan) {
        self.oldest.get_or_insert_with(Instant::now);
        let trace = self.traces.entry(span.row.trace_id).or_default();
        match trace.get_mut(&span.row.id) {
            Some(current) if preferred_version(&span, current) => {
                self.bytes = self.bytes - approximate_bytes(current) + approximate_bytes(&span);
                *current = span;
            }
            Some(_) => {}
            None => {
                self.bytes += approximate_bytes(&span);
                trace.insert(span.row.id, span);
                self.rows += 1;
            }
        }
    }

    /// Roughly what this generation takes in memory.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub(crate) fn oldest(&self) -> Option<Instant> {
        self.oldest
    }

    /// The spans of one trace, if any.
    pub(crate) fn trace(&self, id: &TraceId) -> impl Iterator<Item = &StoredSpan> {
        self.traces.get(id).into_iter().flat_map(|spans| spans.values())
    }

    pub(crate) fn spans(&self) -> impl Iterator<Item = &StoredSpan> {
        self.traces.values().flat_map(|spans| spans.values())
    }

    /// Spans starting in `[from_us, to_us)`, the range a block scan filters on.
    pub(crate) fn spans_in(&self, from_us: i64, to_us: i64) -> Vec<StoredSpan> {
        self.spans().filter(|span| span.row.start_us >= from_us && span.row.start_us < to_us).cloned().collect()
    }

    /// The traces with a span starting in `[from_us, to_us)`.
    pub(crate) fn traces_in(&self, from_us: i64, to_us: i64) -> impl Iterator<Item = &TraceId> {
        self.traces.iter().filter_map(move |(trace, spans)| {
            spans.values().any(|span| span.row.start_us >= from_us && span.row.start_us < to_us).then_some(trace)
        })
    }

    /// Every span, with the services of independent subsegments filled in from their trace,
    /// as a block is written. Borrowed: only the rows that get a service are copied (a flush
    /// used to copy every row and document, a tenth of the server's CPU under load).
    pub(crate) fn to_block_spans(&self) -> Vec<Cow<'_, StoredSpan>> {
        let mut out = Vec::with_capacity(self.rows);
        for spans in self.traces.values() {
            let trace: Vec<&StoredSpan> = spans.values().collect();
            let mut services = owning_services(&trace).into_iter().peekable();
            for (at, span) in trace.iter().enumerate() {
                match services.next_if(|(service_at, _)| *service_at == at) {
                    Some((_, service)) => {
                        let mut filled = (*span).clone();
                        filled.row.service = Some(service);
                        out.push(Cow::Owned(filled));
                    }
                    None => out.push(Cow::Borrowed(*span)),
                }
            }
        }
        out
    }

    pub(crate) fn services(&self) -> impl Iterator<Item = &str> {
        self.spans().filter_map(|span| span.row.service.as_deref())
    }

    pub(crate) fn time_bounds(&self) -> Option<(i64, i64)> {
        let start = self.spans().map(|span| span.row.start_us).min()?;
        let end = self.spans().map(|span| span.row.end_us.unwrap_or(span.row.start_us)).max()?;
        Some((start, end))
    }
}

/// Indexing a span by trace and id: two hash map entries and the trace's map's spare room.
const INDEX_BYTES_PER_SPAN: usize = 64;

/// What a stored span takes in memory: its inline size, its index entries and its strings.
/// Counted rather than measured (the allocator's own overhead is left out), so it is cheap
/// enough for every insert; it runs a little under the real heap use.
pub(crate) fn approximate_bytes(span: &StoredSpan) -> usize {
    let row = &span.row;
    let strings = span.document.as_ref().map_or(0, String::len) + row.name.len() + option_strings_len(row);
    let exceptions: usize = row
        .exceptions
        .iter()
        .map(|exception| {
            std::mem::size_of_val(exception)
                + exception.name.as_ref().map_or(0, String::len)
                + exception.message.as_ref().map_or(0, String::len)
        })
        .sum();
    let annotations: usize = row
        .annotations
        .iter()
        .map(|(key, value)| {
            let text = if let AnnotationScalar::String(text) = value { text.len() } else { 0 };
            std::mem::size_of::<(String, AnnotationScalar)>() + key.len() + text
        })
        .sum();
    std::mem::size_of::<StoredSpan>() + INDEX_BYTES_PER_SPAN + strings + exceptions + annotations
}

fn option_strings_len(row: &SpanRow) -> usize {
    let (http, aws) = (&row.http, &row.aws);
    [
        &row.service,
        &row.origin,
        &row.namespace,
        &row.user,
        &row.sql_url,
        &http.method,
        &http.url,
        &http.client_ip,
        &http.user_agent,
        &aws.account_id,
        &aws.operation,
        &aws.region,
        &aws.table,
        &aws.queue,
        &aws.resource,
        &aws.resource_arn,
        &aws.instance_id,
        &aws.availability_zone,
    ]
    .into_iter()
    .map(|text| text.as_ref().map_or(0, String::len))
    .sum()
}

/// Rows of independent subsegments (and their embedded subsegments) carry no service until
/// they meet the segment they belong to: walk `parent_id` up to a row that has one. The walk
/// is bounded by the trace's size, so a cycle of parent ids (a broken sender) stops.
pub(crate) fn fill_services(trace: &mut [StoredSpan]) {
    let found = owning_services(&trace.iter().collect::<Vec<_>>());
    for (at, service) in found {
        trace[at].row.service = Some(service);
    }
}

/// The positions of the rows without a service that have an owning one, in order, with it.
fn owning_services(trace: &[&StoredSpan]) -> Vec<(usize, String)> {
    if trace.iter().all(|span| span.row.service.is_some()) {
        return Vec::new();
    }
    let index: HashMap<SegmentId, usize> = trace.iter().enumerate().map(|(at, span)| (span.row.id, at)).collect();
    trace
        .iter()
        .enumerate()
        .filter(|(_, span)| span.row.service.is_none())
        .filter_map(|(at, span)| Some((at, owning_service(trace, &index, span)?)))
        .collect()
}

fn owning_service(trace: &[&StoredSpan], index: &HashMap<SegmentId, usize>, span: &StoredSpan) -> Option<String> {
    let mut parent = span.row.parent_id;
    for _ in 0..trace.len() {
        let row = &trace[*index.get(&parent?)?].row;
        if let Some(service) = &row.service {
            return Some(service.clone());
        }
        parent = row.parent_id;
    }
    None
}
