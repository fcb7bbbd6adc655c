//! Recent data: the spans accepted since the last flush, in memory and queryable the moment a
//! write returns. It holds exactly what the write-ahead log segments since the last checkpoint
//! hold, one version per `(trace_id, id)`, indexed by trace.
//!
//! Versions are chosen by the store's one replace rule, [`preferred_version`] (shared with
//! compaction and trace reads): of all versions of one span, the latest completed one wins;
//! only when none is completed does the latest in-progress one. That is a maximum over
//! `(completed, sequence)`, so the outcome does not depend on the order versions are merged
//! in — replay, flushes and reads agree.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::time::Instant;

use fluoro_proto::{AnnotationScalar, AwsSummary, CompactString, SegmentId, SpanRow, TraceId};
use polars::prelude::PlHashMap;

use crate::record::StoredSpan;
use crate::replace_rule::preferred_version;

/// One generation of recent data.
#[derive(Debug, Default)]
pub(crate) struct RecentSpans {
    /// By trace id with polars' seeded hasher (foldhash): std's SipHash cost ~1.3k instructions
    /// per ingested document (`ingest_parse --stages store`), about a quarter of the inserts.
    traces: PlHashMap<TraceId, TraceSpans>,
    rows: usize,
    /// What the spans take in memory: the trace table's entries, each trace's span storage
    /// (by capacity) and the spans' own allocations ([`outside_bytes`]), for the store's budget.
    bytes: usize,
    /// When the first span of this generation arrived, for the age-based flush.
    oldest: Option<Instant>,
    /// The least and greatest `start_us` of every version inserted (replaced ones too, so
    /// possibly wider than the spans held): a range outside them holds none of this
    /// generation's spans, and scans of it skip the generation instead of walking every span.
    /// The server's background passes read closed minutes every tick, mostly older than
    /// recent data, and each such walk cost as much as the spans held.
    starts: Option<(i64, i64)>,
}

impl Drop for RecentSpans {
    /// Frees the traces in the order their first spans arrived, which is about the order their
    /// strings were allocated in, rather than in hash order: each `free` then touches memory
    /// near the last one. Measured on glibc, whose `free` merges each chunk with its neighbours
    /// (span by span in arrival order: parse workers −14 %, flush thread −13 %, `BENCHMARKS.md`).
    /// Trace by trace it needs no span moved out to be freed alone (two copies of each row,
    /// ~1.3 % of the server's CPU under UDP load): on jemalloc the whole store path costs less
    /// than span by span in 7 of 8 interleaved pairs.
    fn drop(&mut self) {
        let mut traces: Vec<TraceSpans> = self.traces.drain().map(|(_, trace)| trace).collect();
        traces.sort_unstable_by_key(|trace| trace.spans.first().map(|span| span.sequence));
    }
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
        let start = span.row.start_us;
        self.starts = Some(self.starts.map_or((start, start), |(first, last)| (first.min(start), last.max(start))));
        let trace = self.traces.entry(span.row.trace_id).or_insert_with(|| {
            self.bytes += TRACE_ENTRY_BYTES;
            TraceSpans::default()
        });
        let storage_before = trace.storage_bytes();
        match trace.position(span.row.id) {
            Some(at) if preferred_version(&span, &trace.spans[at]) => {
                self.bytes = self.bytes - outside_bytes(&trace.spans[at]) + outside_bytes(&span);
                trace.spans[at] = span;
            }
            Some(_) => {}
            None => {
                self.bytes += outside_bytes(&span);
                trace.push(span);
                self.rows += 1;
            }
        }
        self.bytes = self.bytes + trace.storage_bytes() - storage_before;
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
        self.traces.get(id).into_iter().flat_map(|trace| trace.spans.iter())
    }

    pub(crate) fn spans(&self) -> impl Iterator<Item = &StoredSpan> {
        self.traces.values().flat_map(|trace| trace.spans.iter())
    }

    /// Spans starting in `[from_us, to_us)`, the range a block scan filters on.
    pub(crate) fn spans_in(&self, from_us: i64, to_us: i64) -> Vec<StoredSpan> {
        if !self.may_start_in(from_us, to_us) {
            return Vec::new();
        }
        self.spans().filter(|span| span.row.start_us >= from_us && span.row.start_us < to_us).cloned().collect()
    }

    /// The traces with a span starting in `[from_us, to_us)`, each with the first and last
    /// start of its spans in that range.
    pub(crate) fn traces_in(&self, from_us: i64, to_us: i64) -> impl Iterator<Item = (&TraceId, i64, i64)> {
        let traces = self.may_start_in(from_us, to_us).then(|| self.traces.iter());
        traces.into_iter().flatten().filter_map(move |(id, trace)| {
            let mut starts =
                trace.spans.iter().map(|span| span.row.start_us).filter(|start| (from_us..to_us).contains(start));
            let first = starts.next()?;
            let (first, last) = starts.fold((first, first), |(first, last), start| (first.min(start), last.max(start)));
            Some((id, first, last))
        })
    }

    /// Whether a span of this generation may start in `[from_us, to_us)`; `false` is certain.
    fn may_start_in(&self, from_us: i64, to_us: i64) -> bool {
        self.starts.is_some_and(|(first, last)| first < to_us && last >= from_us)
    }

    /// Every span, with the services of independent subsegments filled in from their trace,
    /// as a block is written. Borrowed: only the rows that get a service are copied (a flush
    /// used to copy every row and document, a tenth of the server's CPU under load).
    pub(crate) fn to_block_spans(&self) -> Vec<BlockSpan<'_>> {
        let mut out = Vec::with_capacity(self.rows);
        for spans in self.traces.values() {
            let trace: Vec<&StoredSpan> = spans.spans.iter().collect();
            let mut services = owning_services(&trace).into_iter().peekable();
            for (at, span) in trace.iter().enumerate() {
                match services.next_if(|(service_at, _)| *service_at == at) {
                    Some((_, service)) => {
                        let mut filled = Box::new((*span).clone());
                        filled.row.service = Some(service);
                        out.push(BlockSpan::Filled(filled));
                    }
                    None => out.push(BlockSpan::Recent(span)),
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

/// A span as a block gets it: borrowed from recent data, or a copy with its service filled
/// in. Two words, where a `Cow<StoredSpan>` is as large as a span (hundreds of bytes): a flush
/// holds one per row, and filling that many bytes was a large part of its page faults.
#[derive(Debug)]
pub(crate) enum BlockSpan<'a> {
    Recent(&'a StoredSpan),
    Filled(Box<StoredSpan>),
}

impl Borrow<StoredSpan> for BlockSpan<'_> {
    fn borrow(&self) -> &StoredSpan {
        match self {
            BlockSpan::Recent(span) => span,
            BlockSpan::Filled(span) => span,
        }
    }
}

/// A trace's entry in the trace table: key, value and control byte, at the table's 7/8 load.
const TRACE_ENTRY_BYTES: usize =
    (std::mem::size_of::<(TraceId, TraceSpans)>() + 1) * 8 / 7 + std::mem::size_of::<usize>();
/// A trace's spans are found by a linear search up to this many, by an index beyond: most
/// traces are small, and an index per trace cost more than its spans (a one-span trace's map
/// took four slots of a whole span each).
const INDEXED_FROM: usize = 32;

/// One trace's spans in arrival order, one version each, with an index by id once large.
#[derive(Debug, Default)]
struct TraceSpans {
    spans: Vec<StoredSpan>,
    index: Option<HashMap<SegmentId, usize>>,
}

impl TraceSpans {
    fn position(&self, id: SegmentId) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(&id).copied(),
            None => self.spans.iter().position(|span| span.row.id == id),
        }
    }

    fn push(&mut self, span: StoredSpan) {
        if let Some(index) = &mut self.index {
            index.insert(span.row.id, self.spans.len());
        }
        // Exact growth for the first span: most traces in recent data stay at one or two.
        if self.spans.capacity() == 0 {
            self.spans.reserve_exact(1);
        }
        self.spans.push(span);
        if self.index.is_none() && self.spans.len() > INDEXED_FROM {
            self.index = Some(self.spans.iter().enumerate().map(|(at, span)| (span.row.id, at)).collect());
        }
    }

    /// The span storage and index, by capacity.
    fn storage_bytes(&self) -> usize {
        let index = self
            .index
            .as_ref()
            .map_or(0, |index| index.capacity() * (std::mem::size_of::<(SegmentId, usize)>() + 1) * 8 / 7);
        self.spans.capacity() * std::mem::size_of::<StoredSpan>() + index
    }
}

/// What the allocator adds to each allocation: glibc's chunk header and rounding to 16 bytes.
const ALLOCATION_OVERHEAD: usize = 16;

/// A UDP document is a slice of its batch's receive buffer, which also holds the datagram's
/// header line (31 bytes from the SDKs): counted with the document, so that the documents of a
/// batch add up to its buffer.
const DOCUMENT_SHARE_OVERHEAD: usize = 32;

/// What a stored span holds outside its inline size: its document, strings, exceptions and
/// annotations, each allocation with the allocator's overhead. Counted rather than measured, so
/// it is cheap enough for every insert; within a few percent of the heap it takes (a span with
/// every field set was counted at 57 % of its heap before the overhead was).
fn outside_bytes(span: &StoredSpan) -> usize {
    let row = &span.row;
    let document = span.document.as_ref().map_or(0, |document| document.len() + DOCUMENT_SHARE_OVERHEAD);
    let strings = document + option_strings_bytes(row) + short_text_bytes(row);
    let exceptions: usize = row
        .exceptions
        .iter()
        .map(|exception| {
            std::mem::size_of_val(exception)
                + exception.name.as_ref().map_or(0, |text| allocation(text.capacity()))
                + exception.message.as_ref().map_or(0, |text| allocation(text.capacity()))
        })
        .sum();
    let annotations: usize = row
        .annotations
        .iter()
        .map(|(key, value)| {
            let text = if let AnnotationScalar::String(text) = value { allocation(text.capacity()) } else { 0 };
            std::mem::size_of::<(String, AnnotationScalar)>() + allocation(key.capacity()) + text
        })
        .sum();
    let lists = [row.exceptions.capacity(), row.annotations.capacity()].into_iter().filter(|n| *n > 0).count();
    let aws = if row.aws.is_allocated() { allocation(std::mem::size_of::<AwsSummary>()) } else { 0 };
    strings + exceptions + annotations + aws + lists * ALLOCATION_OVERHEAD
}

/// What an allocation of `bytes` takes; nothing for an empty string.
fn allocation(bytes: usize) -> usize {
    if bytes == 0 {
        0
    } else {
        bytes.next_multiple_of(ALLOCATION_OVERHEAD) + ALLOCATION_OVERHEAD
    }
}

/// The texts a row holds inline unless longer than 24 bytes.
fn short_text_bytes(row: &SpanRow) -> usize {
    let (http, aws) = (&row.http, &row.aws);
    let texts = [&row.service, &row.origin, &row.namespace, &http.method, &http.client_ip, &aws.operation, &aws.region];
    texts
        .into_iter()
        .flatten()
        .chain([&row.name])
        .filter(|text| text.is_heap_allocated())
        .map(|text| allocation(text.capacity()))
        .sum()
}

fn option_strings_bytes(row: &SpanRow) -> usize {
    let (http, aws) = (&row.http, &row.aws);
    [
        &row.user,
        &row.sql_url,
        &http.url,
        &http.user_agent,
        &aws.account_id,
        &aws.table,
        &aws.queue,
        &aws.resource,
        &aws.resource_arn,
        &aws.instance_id,
        &aws.availability_zone,
    ]
    .into_iter()
    .map(|text| text.as_ref().map_or(0, |text| allocation(text.capacity())))
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
fn owning_services(trace: &[&StoredSpan]) -> Vec<(usize, CompactString)> {
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

fn owning_service(
    trace: &[&StoredSpan],
    index: &HashMap<SegmentId, usize>,
    span: &StoredSpan,
) -> Option<CompactString> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::tests::span;

    fn version(trace: u64, id: u64, sequence: u64, in_progress: bool) -> StoredSpan {
        let mut span = span(trace, id, 1_000);
        span.sequence = sequence;
        span.row.in_progress = in_progress;
        span
    }

    #[test]
    fn a_large_trace_keeps_one_version_per_span_past_the_index_threshold() {
        let mut recent = RecentSpans::default();
        let ids = 1..=(INDEXED_FROM as u64 * 4);
        recent.insert(ids.clone().map(|id| version(7, id, id, true)));
        recent.insert(ids.clone().map(|id| version(7, id, 1_000 + id, false)));
        recent.insert(ids.clone().map(|id| version(7, id, 2_000 + id, true)));
        assert_eq!(recent.rows(), ids.clone().count());
        let trace = crate::block::tests::trace(7);
        assert!(recent.trace(&trace).all(|span| !span.row.in_progress && (1_000..2_000).contains(&span.sequence)));
        let found: Vec<u64> = recent.trace(&trace).map(|span| span.row.id.as_u64()).collect();
        assert_eq!(found, ids.collect::<Vec<_>>(), "arrival order, each id once");
    }

    #[test]
    fn the_count_covers_each_span_slot_and_trace_entry() {
        let mut recent = RecentSpans::default();
        recent.insert((0..1_000).map(|n| version(n, 1, n, false)));
        let floor = 1_000 * (std::mem::size_of::<StoredSpan>() + std::mem::size_of::<TraceId>());
        assert!(
            recent.bytes() >= floor,
            "{} bytes counted for 1,000 one-span traces (at least {floor})",
            recent.bytes()
        );
        // A replaced version changes the count by its strings only.
        let before = recent.bytes();
        let mut longer = version(0, 1, 5_000, false);
        longer.document = Some("x".repeat(100).into());
        recent.insert([longer]);
        assert_eq!(recent.bytes(), before + 100 + DOCUMENT_SHARE_OVERHEAD);
    }
}
