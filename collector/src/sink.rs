//! [`MemorySink`]: the sink contract (`fluoro_proto::SpanSink`, `TraceSource`) kept in memory,
//! bounded, for the sidecar's tests and the benchmarks. It assembles traces the way the store
//! will: the latest document for an entity id replaces the earlier one (a completed segment
//! replaces its in-progress version; a resent duplicate changes nothing).
//!
//! Entities are kept as their JSON text and parsed again when read: an `Entity` is ~0.5 KB
//! inline before its boxed `http`, `aws` and `sql` objects, strings and maps, against ~1.2 KB
//! of JSON for a segment with three subsegments, and reads (`BatchGetTraces`) are rare next to
//! writes. They are read back as `SentEntity`s, so a document comes back as it was sent.

use std::collections::{BTreeMap, HashMap, VecDeque};

use fluoro_proto::{
    ByteString, SegmentId, SentEntity, SinkError, SpanBatch, SpanRow, SpanSink, StoredTrace, TraceId, TraceSource,
};
use parking_lot::Mutex;

/// An in-memory sink and trace source, bounded by a number of rows: when full, whole traces
/// are evicted oldest first.
#[derive(Debug)]
pub struct MemorySink {
    max_rows: usize,
    inner: Mutex<MemoryTraces>,
}

#[derive(Debug, Default)]
struct MemoryTraces {
    traces: HashMap<TraceId, TraceEntry>,
    arrival: VecDeque<TraceId>,
    rows: usize,
    evicted_traces: u64,
}

/// Rows are boxed: a B-tree node has room for 11 values, so unboxed ~0.6 KB rows cost ~6.5 KB
/// per node even for a trace of one segment.
#[derive(Debug, Default)]
struct TraceEntry {
    /// Top-level entities as JSON text, as the batch handed it over (shared, not copied).
    entities: BTreeMap<SegmentId, ByteString>,
    rows: BTreeMap<SegmentId, Box<SpanRow>>,
}

impl MemorySink {
    pub fn new(max_rows: usize) -> Self {
        MemorySink { max_rows, inner: Mutex::new(MemoryTraces::default()) }
    }

    /// Traces evicted to stay within the bound.
    pub fn evicted_traces(&self) -> u64 {
        self.inner.lock().evicted_traces
    }

    pub fn row_count(&self) -> usize {
        self.inner.lock().rows
    }
}

impl SpanSink for MemorySink {
    fn write(&self, batch: SpanBatch) -> Result<(), SinkError> {
        let mut inner = self.inner.lock();
        for document in batch.documents {
            inner.entry(document.trace_id).entities.insert(document.id, document.json);
        }
        for row in batch.rows {
            let entry = inner.entry(row.trace_id);
            let added = entry.rows.insert(row.id, Box::new(row)).is_none();
            inner.rows += usize::from(added);
        }
        inner.evict_to(self.max_rows);
        Ok(())
    }
}

impl TraceSource for MemorySink {
    fn traces(&self, ids: &[TraceId]) -> Vec<StoredTrace> {
        let inner = self.inner.lock();
        ids.iter()
            .filter_map(|id| {
                let entry = inner.traces.get(id)?;
                Some(StoredTrace {
                    id: *id,
                    entities: entry.entities.values().filter_map(|json| entity_from_json(json)).collect(),
                    rows: entry.rows.values().map(|row| SpanRow::clone(row)).collect(),
                })
            })
            .collect()
    }
}

/// Reads back an entity this sink wrote; it was valid when written, so failing is a bug.
fn entity_from_json(json: &str) -> Option<SentEntity> {
    match SentEntity::parse_document(json) {
        Ok(mut entities) if entities.len() == 1 => entities.pop(),
        Ok(_) => None,
        Err(error) => {
            tracing::error!(error = %error, "a stored entity no longer parses");
            None
        }
    }
}

impl MemoryTraces {
    fn entry(&mut self, trace_id: TraceId) -> &mut TraceEntry {
        let arrival = &mut self.arrival;
        self.traces.entry(trace_id).or_insert_with(|| {
            arrival.push_back(trace_id);
            TraceEntry::default()
        })
    }

    fn evict_to(&mut self, max_rows: usize) {
        while self.rows > max_rows {
            let Some(oldest) = self.arrival.pop_front() else { break };
            if let Some(entry) = self.traces.remove(&oldest) {
                self.rows -= entry.rows.len();
                self.evicted_traces += 1;
            }
        }
    }
}
