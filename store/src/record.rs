//! What the store keeps per span: the flat row, the X-Ray document it came from (on the row of
//! a top-level entity), and the order it arrived in.

use fluoro_proto::{ByteString, SpanRow};

/// One span as stored in the log, in recent data and in blocks: the ingest row plus what only
/// storage needs (the raw document, the arrival order the replace rule compares).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSpan {
    pub row: SpanRow,
    /// The JSON of the top-level X-Ray entity (segment or independent subsegment, with its
    /// embedded subsegments) on that entity's own row; `None` on embedded subsegments and on
    /// OTLP spans. Shared with the buffer it arrived in (`EntityDocument::json`).
    pub document: Option<ByteString>,
    /// Arrival order across the whole store: for the same `(trace_id, id)` the later arrival
    /// wins, except that an in-progress version never replaces a completed one.
    pub sequence: u64,
}
