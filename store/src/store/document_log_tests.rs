//! A write whose rows all came from X-Ray documents is logged as the documents alone, and
//! replay makes exactly the same spans again from them: rows, documents and sequences.

use std::sync::atomic::AtomicU64;

use fluoro_proto::{parse_document, ByteString, Durability, SpanBatch};

use crate::block::tests::span;
use crate::record::{StoredBatch, StoredSpan};
use crate::wal;

/// The Python SDK's documents as captured (`proto/tests/fixtures/xray-python-sdk/`), and an
/// array of two independent subsegments: each document as sent, as `Ingest` passes it on.
fn documents() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto/tests/fixtures/xray-python-sdk/documents.jsonl");
    let mut documents: Vec<String> = std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect();
    documents.push(
        r#"[{"type":"subsegment","id":"1111111111111111","trace_id":"1-6750a0a0-0123456789abcdef01234567","parent_id":"2222222222222222","name":"db","start_time":1733300000.1,"end_time":1733300000.2,"subsegments":[{"id":"3333333333333333","name":"q","start_time":1733300000.11,"end_time":1733300000.12}]},
            {"type":"subsegment","id":"4444444444444444","trace_id":"1-6750a0a0-0123456789abcdef01234567","parent_id":"2222222222222222","name":"s3","start_time":1733300000.3,"in_progress":true}]"#
            .to_owned(),
    );
    documents
}

fn batch_of(documents: &[String]) -> SpanBatch {
    let mut batch = SpanBatch::new(Durability::BestEffort);
    for text in documents {
        let Ok(document) = parse_document(text.as_bytes()) else { continue };
        batch.push_document(document, Some(&ByteString::from(text.as_str())));
    }
    batch
}

#[test]
fn documents_are_logged_alone_and_replay_to_the_same_spans() {
    let documents = documents();
    let batch = batch_of(&documents);
    assert!(batch.documents.len() >= 30, "only {} documents parsed", batch.documents.len());
    let stored = StoredBatch::new(batch, &AtomicU64::new(1_000));
    assert!(stored.from_documents);
    let record = stored.log_record().unwrap();
    let spans: Vec<StoredSpan> = stored.into_spans().collect();
    assert!(spans.len() > documents.len(), "the documents hold subsegments");
    let rows_record = wal::encode_record(&spans).unwrap();
    assert!(
        record.len() * 10 < rows_record.len() * 8,
        "documents alone take {} bytes, with their rows {}",
        record.len(),
        rows_record.len()
    );
    let replayed: Vec<StoredSpan> = wal::decode_records(&record).unwrap();
    assert_eq!(replayed, spans);
    assert_eq!(wal::decode_records::<StoredSpan>(&rows_record).unwrap(), spans);
}

#[test]
fn a_write_with_rows_of_no_document_logs_its_rows() {
    let mut batch = batch_of(&documents()[..3]);
    batch.rows.push(span(7, 7, 1_000).row);
    let stored = StoredBatch::new(batch, &AtomicU64::new(0));
    assert!(!stored.from_documents, "a row of no document would be lost on replay");
    let record = stored.log_record().unwrap();
    let spans: Vec<StoredSpan> = stored.into_spans().collect();
    assert_eq!(wal::decode_records::<StoredSpan>(&record).unwrap(), spans);
    // Rows of OTLP spans, with no document at all.
    let rows = vec![span(1, 1, 1_000).row, span(1, 2, 1_000).row];
    let otlp = SpanBatch { documents: Vec::new(), rows, durability: Durability::BestEffort };
    assert!(!StoredBatch::new(otlp, &AtomicU64::new(0)).from_documents);
}

#[test]
fn a_document_that_no_longer_makes_its_spans_is_damage() {
    let array = documents().pop().unwrap();
    let mut batch = batch_of(&[array]);
    assert_eq!(batch.rows.len(), 3);
    // The first subsegment's own subsegment: its document makes one span more than it has.
    batch.rows.remove(1);
    batch.documents[0].spans = 1;
    let stored = StoredBatch::new(batch, &AtomicU64::new(0));
    assert!(stored.from_documents);
    let record = stored.log_record().unwrap();
    assert!(wal::decode_records::<StoredSpan>(&record).is_err());
}
