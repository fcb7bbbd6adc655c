//! Helpers: batches made from X-Ray documents the way the collector makes them, and a store
//! configured so that only the test decides when to flush.

use std::path::Path;
use std::time::Duration;

use fluoro_proto::{parse_document, SpanRow, TraceId};
use fluoro_proto::{Durability, SpanBatch, StoredTrace};
use fluoro_store::{Store, StoreConfig};
use serde_json::{json, Value};

pub(crate) const TRACE: &str = "1-5759e988-bd862e3fe1be46a994272793";

pub(crate) fn trace_id() -> TraceId {
    TRACE.parse().unwrap()
}

pub(crate) fn config(dir: &Path) -> StoreConfig {
    StoreConfig {
        flush_rows: 1_000_000,
        flush_age: Duration::from_secs(3600),
        sync_interval: Duration::from_millis(20),
        // The fixture traces date from 1970: no retention unless a test asks for it.
        retention_max_age: Duration::from_secs(u64::MAX / 4),
        ..StoreConfig::new(dir)
    }
}

pub(crate) fn open(dir: &Path) -> Store {
    Store::open(config(dir)).unwrap()
}

/// One batch of documents, as `Ingest::put_documents` builds it.
pub(crate) fn batch(documents: &[Value], durability: Durability) -> SpanBatch {
    let mut batch = SpanBatch::new(durability);
    for document in documents {
        batch.push_document(parse_document(document.to_string().as_bytes()).unwrap(), None);
    }
    batch
}

pub(crate) fn put(store: &Store, documents: &[Value]) {
    store.write(batch(documents, Durability::Acknowledged)).unwrap();
}

/// A completed one-span segment `id` of trace `1-5759e988-<trace>` starting `second` (plus a
/// quarter) into 1970.
pub(crate) fn put_numbered(store: &Store, trace: u8, id: u8, second: u16) {
    let start = f64::from(second) + 0.25;
    put(
        store,
        &[json!({"name": "svc", "id": format!("{id:016x}"), "trace_id": format!("1-5759e988-{trace:024x}"),
                 "start_time": start, "end_time": start + 0.5})],
    );
}

pub(crate) fn segment(trace: &str, id: &str, name: &str, end: Option<f64>, subsegments: Value) -> Value {
    let mut document = json!({"name": name, "id": id, "trace_id": trace, "start_time": 10.0,
                              "subsegments": subsegments});
    match end {
        Some(end) => document["end_time"] = json!(end),
        None => document["in_progress"] = json!(true),
    }
    document
}

pub(crate) fn independent(id: &str, parent: &str, end: Option<f64>) -> Value {
    let mut document = json!({"name": "call", "id": id, "trace_id": TRACE, "parent_id": parent,
                              "type": "subsegment", "start_time": 10.2});
    match end {
        Some(end) => document["end_time"] = json!(end),
        None => document["in_progress"] = json!(true),
    }
    document
}

pub(crate) fn read(store: &Store, id: TraceId) -> StoredTrace {
    let mut traces = store.traces(&[id]).unwrap();
    assert_eq!(traces.len(), 1, "trace {id} is found");
    traces.remove(0)
}

pub(crate) fn row<'a>(trace: &'a StoredTrace, id: &str) -> &'a SpanRow {
    let id = id.parse().unwrap();
    trace.rows.iter().find(|row| row.id == id).unwrap_or_else(|| panic!("row {id} in {:?}", trace.rows))
}
