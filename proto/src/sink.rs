//! The contract between ingest and storage: what the collector hands over ([`SpanBatch`] to a
//! [`SpanSink`], [`LogBatch`] to a [`LogSink`]) and what it reads back ([`TraceSource`]). It lives here, below both, so the
//! collector never depends on the store and the store never depends on the collector: each
//! depends only on this crate (`fluoro_store::Store` implements both traits, the collector's
//! `MemorySink` too).

use bytestring::ByteString;
use thiserror::Error;

use crate::document::entity_count;
use crate::{push_rows_from_document, Document, Entity, LogRow, MetricPoint, SegmentId, SentEntity, SpanRow, TraceId};

/// A sink could not keep a batch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("cannot store spans: {message}")]
pub struct SinkError {
    pub message: String,
    /// The disk is full: ingest counts the batch as `dropped{reason="disk_full"}`.
    pub disk_full: bool,
}

impl SinkError {
    pub fn new(message: impl Into<String>) -> SinkError {
        SinkError { message: message.into(), disk_full: false }
    }

    /// Refused because the sink's disk is full; it takes writes again once space is freed.
    pub fn disk_full(message: impl Into<String>) -> SinkError {
        SinkError { message: message.into(), disk_full: true }
    }
}

/// How durable a batch must be when `write` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The sender got (or will get) an acknowledgement: durable before `write` returns.
    Acknowledged,
    /// Fire-and-forget UDP: durable within the store's flush interval.
    BestEffort,
}

/// Accepted data from one request, datagram batch or export.
#[derive(Debug, Clone)]
pub struct SpanBatch {
    /// Top-level X-Ray entities as sent (segments and independent subsegments), for reading
    /// traces back in X-Ray form; in the order of their rows in `rows`, which the store relies
    /// on to give each row its own document.
    pub documents: Vec<EntityDocument>,
    /// One row per segment and subsegment, from X-Ray documents and OTLP spans alike.
    pub rows: Vec<SpanRow>,
    pub durability: Durability,
}

/// A top-level X-Ray entity's JSON, under the trace and id of its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityDocument {
    pub trace_id: TraceId,
    pub id: SegmentId,
    /// Shared with the bytes it arrived in where it was sent as is: a UDP document is a slice
    /// of its batch's receive buffer, so keeping it neither copies nor allocates, and a batch's
    /// documents are freed with that one buffer.
    pub json: ByteString,
    /// How many rows the entity makes, its own and its embedded subsegments': they follow one
    /// another in `rows`, the entity's first. The store logs a batch whose rows all come from
    /// its documents as the documents alone, and makes the rows again on replay.
    pub spans: usize,
}

impl SpanBatch {
    pub fn new(durability: Durability) -> SpanBatch {
        SpanBatch { documents: Vec::new(), rows: Vec::new(), durability }
    }

    /// Adds a parsed document's rows and its top-level entities. `sent` is the text it was
    /// parsed from: a document of one entity keeps it as its JSON, so ingest does not write
    /// again what the sender wrote (a tenth of the per-document cost), and it reads back as
    /// sent (`SentEntity`); the entities of an array keep each its own element's text, a
    /// slice of the same bytes. An entity without a trace id (refused at validation) has no
    /// trace to be read back in and is left out.
    pub fn push_document(&mut self, document: Document, sent: Option<&ByteString>) {
        match (&document, sent) {
            (Document::Segment(entity) | Document::Subsegment(entity), Some(sent)) => {
                self.push_text(entity, sent.clone());
            }
            (Document::Subsegments(entities), Some(sent)) => self.push_elements(entities, sent),
            (document, None) => document.entities().iter().for_each(|entity| self.push_written(entity)),
        }
        // Last: the rows take the entities' strings over.
        push_rows_from_document(document, &mut self.rows);
    }

    /// The entities of an array document, each under its own element's text.
    fn push_elements(&mut self, entities: &[Entity], sent: &ByteString) {
        match serde_json::from_str::<Vec<&serde_json::value::RawValue>>(sent) {
            Ok(elements) if elements.len() == entities.len() => {
                for (entity, element) in entities.iter().zip(elements) {
                    self.push_text(entity, sent.slice_ref(element.get()));
                }
            }
            // The text parsed into these entities, so this is not reached; writing each
            // entity keeps it correct if it were.
            _ => entities.iter().for_each(|entity| self.push_written(entity)),
        }
    }

    fn push_text(&mut self, entity: &Entity, json: ByteString) {
        if let Some(trace_id) = entity.trace_id {
            self.documents.push(EntityDocument { trace_id, id: entity.id, json, spans: entity_count(entity) });
        }
    }

    /// An entity without the text it was sent as, written again.
    fn push_written(&mut self, entity: &Entity) {
        if entity.trace_id.is_some() {
            self.push_text(entity, Document::Segment(entity.clone()).to_json().into());
        }
    }
}

/// Keeps accepted spans.
pub trait SpanSink: Send + Sync + 'static {
    fn write(&self, batch: SpanBatch) -> Result<(), SinkError>;
}

/// Accepted log records from one export.
#[derive(Debug, Clone)]
pub struct LogBatch {
    pub rows: Vec<LogRow>,
    pub durability: Durability,
}

/// Keeps accepted log records. A separate trait from [`SpanSink`], so sinks that keep no logs
/// (the sidecar's relay, the in-memory test sink) need not pretend to.
pub trait LogSink: Send + Sync + 'static {
    fn write_logs(&self, batch: LogBatch) -> Result<(), SinkError>;
}

/// Accepted metric data points from one export.
#[derive(Debug, Clone)]
pub struct MetricBatch {
    pub points: Vec<MetricPoint>,
    pub durability: Durability,
}

/// Keeps accepted metric data points; separate from [`SpanSink`] for the reason [`LogSink`] is.
pub trait MetricSink: Send + Sync + 'static {
    fn write_metrics(&self, batch: MetricBatch) -> Result<(), SinkError>;
}

/// Reads whole traces back, for `BatchGetTraces`.
pub trait TraceSource: Send + Sync + 'static {
    /// The traces found, in the order asked; ids not found are left out.
    fn traces(&self, ids: &[TraceId]) -> Vec<StoredTrace>;
}

/// Everything known about one trace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredTrace {
    pub id: TraceId,
    /// Top-level X-Ray entities by id, each as its producer sent it.
    pub entities: Vec<SentEntity>,
    /// All rows, X-Ray and OTLP, by id.
    pub rows: Vec<SpanRow>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_document;

    const SEGMENT: &str = r#"{ "trace_id": "1-5f84c7a3-0123456789abcdef01234567", "id": "70de5b6f19ff9a0a",
        "name": "web", "start_time": 1.0, "end_time": 2.0, "unknown_field": [1, null] }"#;

    #[test]
    fn a_one_entity_document_keeps_the_text_it_was_sent_as() {
        let mut batch = SpanBatch::new(Durability::BestEffort);
        batch.push_document(parse_document(SEGMENT.as_bytes()).unwrap(), Some(&ByteString::from_static(SEGMENT)));
        assert_eq!(batch.documents.len(), 1);
        assert_eq!(batch.documents[0].json, SEGMENT, "the sent text, spaces and all");
        assert_eq!(batch.documents[0].id, SegmentId::parse("70de5b6f19ff9a0a").unwrap());
        assert_eq!(batch.rows.len(), 1);
    }

    #[test]
    fn array_entities_keep_each_its_element_text() {
        let array = r#"[{"trace_id":"1-5f84c7a3-0123456789abcdef01234567","id":"1111111111111111","parent_id":"70de5b6f19ff9a0a","type":"subsegment","name":"a","start_time":1.0,"end_time":1.5},
                        {"trace_id":"1-5f84c7a3-0123456789abcdef01234567","id":"2222222222222222","parent_id":"70de5b6f19ff9a0a","type":"subsegment","name":"b","start_time":1.5,"end_time":2.0}]"#;
        let sent = ByteString::from(array.to_owned());
        let mut batch = SpanBatch::new(Durability::BestEffort);
        batch.push_document(parse_document(array.as_bytes()).unwrap(), Some(&sent));
        assert_eq!(batch.documents.len(), 2);
        assert_eq!(
            batch.documents[0].json,
            r#"{"trace_id":"1-5f84c7a3-0123456789abcdef01234567","id":"1111111111111111","parent_id":"70de5b6f19ff9a0a","type":"subsegment","name":"a","start_time":1.0,"end_time":1.5}"#
        );
        for document in &batch.documents {
            let entities = parse_document(document.json.as_bytes()).unwrap().entities().to_vec();
            assert_eq!(entities.len(), 1, "{}", document.json);
            assert_eq!(entities[0].id, document.id);
            let within_sent = sent.as_bytes().as_ptr_range().contains(&document.json.as_ptr());
            assert!(within_sent, "each element shares the sent bytes instead of copying them");
        }
    }
}
