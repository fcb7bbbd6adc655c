//! Documents records: a write whose rows all came from X-Ray documents (every UDP and
//! `PutTraceSegments` write) is logged as the documents alone, each with the sequence of its
//! own row and how many rows it makes, and replay makes the rows again from them (format in
//! `wal.rs`). The rows took two fifths of a UDP document's log bytes, and encoding them ~7 %
//! of the store path's CPU (`BENCHMARKS.md`).

use fluoro_proto::{parse_document_with, push_rows_from_document, ByteString, Rules};
use serde::{Deserialize, Serialize};

use super::WalSpanRef;
use crate::error::Result;
use crate::record::StoredSpan;

/// The first payload byte of a documents record.
pub(super) const DOCUMENTS_RECORD: u8 = 0;

/// One top-level X-Ray entity as a documents record encodes it (borrowed for writing).
#[derive(Serialize)]
struct WalDocumentRef<'a> {
    json: &'a str,
    sequence: u64,
    spans: u32,
}

/// One top-level X-Ray entity as a documents record decodes it.
#[derive(Deserialize)]
struct WalDocument<'a> {
    json: &'a str,
    sequence: u64,
    spans: u32,
}

/// Encodes a write whose spans all came from X-Ray documents, each document's spans following
/// its own (`record.rs` `StoredBatch` says when), as those documents alone.
pub(crate) fn encode_documents_record(spans: &[WalSpanRef<'_>]) -> Result<Vec<u8>> {
    let mut wire: Vec<WalDocumentRef<'_>> = Vec::new();
    let mut bytes = 0;
    for span in spans {
        match (span.document, wire.last_mut()) {
            (Some(json), _) => {
                bytes += json.len();
                wire.push(WalDocumentRef { json, sequence: span.sequence, spans: 1 });
            }
            (None, Some(document)) => document.spans += 1,
            (None, None) => return super::encode_span_refs(spans),
        }
    }
    // A length, a sequence and a count per document.
    super::frame_sized_record(&[DOCUMENTS_RECORD], &wire, bytes + wire.len() * 16)
}

/// The spans of a documents record, made again from each document as ingest made them.
/// `None` when a document no longer parses or makes another number of spans than it did:
/// the record is then damage, kept in quarantine like any other.
pub(super) fn decode_documents(payload: &[u8]) -> Option<Vec<StoredSpan>> {
    let wire: Vec<WalDocument<'_>> = postcard::from_bytes(payload).ok()?;
    let mut spans = Vec::new();
    let mut rows = Vec::new();
    for document in wire {
        // The document was accepted under the collector's limits, whatever they were.
        let parsed = parse_document_with(document.json.as_bytes(), &ACCEPTED_DOCUMENT_RULES).ok()?;
        rows.clear();
        push_rows_from_document(parsed, &mut rows);
        if rows.len() != document.spans as usize {
            return None;
        }
        let json = ByteString::from(document.json);
        let sequences = document.sequence..;
        spans.extend(rows.drain(..).zip(sequences).enumerate().map(|(at, (row, sequence))| StoredSpan {
            row,
            document: (at == 0).then(|| json.clone()),
            sequence,
        }));
    }
    Some(spans)
}

/// The rules a logged document is read again under: none beyond JSON's, since it was accepted.
const ACCEPTED_DOCUMENT_RULES: Rules = Rules {
    trace_age: None,
    max_document_bytes: Some(usize::MAX),
    max_annotations_metadata_bytes: None,
    max_json_depth: None,
};
