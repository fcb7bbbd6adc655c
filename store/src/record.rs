//! What the store keeps per span: the flat row, the X-Ray document it came from (on the row of
//! a top-level entity), and the order it arrived in ([`StoredSpan`]); and a write's spans on
//! their way from the batch into the log and recent data ([`StoredBatch`]).

use std::sync::atomic::{AtomicU64, Ordering};

use fluoro_proto::{ByteString, SpanBatch, SpanRow};

use crate::error::Result;
use crate::wal::{self, WalSpanRef};

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

/// A write's spans between the batch and recent data: its rows, each with its document and
/// sequence. They become [`StoredSpan`]s only as recent data takes them, so that each row is
/// moved once more rather than twice (a gathered batch was ~6 % of the UDP parse workers'
/// samples: a copy of every row into a fresh allocation).
pub(crate) struct StoredBatch {
    rows: Vec<SpanRow>,
    documents: Vec<Option<ByteString>>,
    first_sequence: u64,
    /// The rows are exactly the documents' rows, each document's `spans` of them from its own
    /// on: the log then keeps the documents alone (`wal/documents.rs`).
    pub(crate) from_documents: bool,
}

impl StoredBatch {
    /// Consecutive sequence numbers, and each top-level entity's JSON on its own row. Documents
    /// come in the order of their entities' rows, and an entity's row comes before its
    /// subsegments' (`SpanBatch::push_document`), so each document goes to the next row with
    /// its trace id and id. Matching by key alone would give both versions of a span sent twice
    /// in one batch (in progress, then completed) the same document and leave the other without.
    pub(crate) fn new(batch: SpanBatch, next_sequence: &AtomicU64) -> StoredBatch {
        let first_sequence = next_sequence.fetch_add(batch.rows.len() as u64, Ordering::SeqCst);
        let mut from_documents = !batch.documents.is_empty();
        let mut next_document_row = 0;
        let mut documents = batch.documents.into_iter().peekable();
        let row_documents = batch
            .rows
            .iter()
            .enumerate()
            .map(|(at, row)| {
                let document =
                    documents.next_if(|document| (document.trace_id, document.id) == (row.trace_id, row.id))?;
                from_documents &= at == next_document_row;
                next_document_row = at + document.spans;
                Some(document.json)
            })
            .collect();
        from_documents &= documents.peek().is_none() && next_document_row == batch.rows.len();
        StoredBatch { rows: batch.rows, documents: row_documents, first_sequence, from_documents }
    }

    /// The write-ahead log record of these spans.
    pub(crate) fn log_record(&self) -> Result<Vec<u8>> {
        let sequences = self.first_sequence..;
        let spans: Vec<WalSpanRef<'_>> = (self.rows.iter().zip(&self.documents).zip(sequences))
            .map(|((row, document), sequence)| WalSpanRef { row, document: document.as_deref(), sequence })
            .collect();
        if self.from_documents {
            wal::encode_documents_record(&spans)
        } else {
            wal::encode_span_refs(&spans)
        }
    }

    pub(crate) fn into_spans(self) -> impl Iterator<Item = StoredSpan> {
        let sequences = self.first_sequence..;
        (self.rows.into_iter().zip(self.documents).zip(sequences)).map(|((row, document), sequence)| StoredSpan {
            row,
            document,
            sequence,
        })
    }
}
