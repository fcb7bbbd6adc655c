//! The one path every X-Ray document, OTLP span, OTLP log record and OTLP metric data point
//! takes into its sink, with its accounting.
//!
//! Receivers (UDP, `PutTraceSegments`, OTLP, forwarding) only decode their transport; parsing,
//! validation, counting and writing happen here, so every source follows the same rules.

use std::sync::Arc;

use bytes::Bytes;
use fluoro_proto::{
    parse_document_with, ByteString, DocumentError, LogBatch, LogRow, LogSink, MetricBatch, MetricPoint, MetricSink,
    Rules, SpanRow, TraceId,
};

use crate::counters::{Counters, DropReason, RejectReason, Source};
use crate::log_throttle::LogThrottle;
use crate::trace_sizes::{TraceSizes, DEFAULT_SPANS_PER_TRACE};
use fluoro_proto::SinkError;
use fluoro_proto::{Durability, SpanBatch, SpanSink};

/// Shared by all receivers; cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    sink: Arc<dyn SpanSink>,
    /// `None` when nothing keeps logs (the sidecar, span-only tests): log exports are refused.
    logs: Option<Arc<dyn LogSink>>,
    /// `None` when nothing keeps metrics: metric exports are refused.
    metrics: Option<Arc<dyn MetricSink>>,
    counters: Arc<Counters>,
    rules: Arc<Rules>,
    /// More Prometheus text for `/metrics`, from outside the collector (group metrics).
    prometheus: Vec<PrometheusSource>,
    /// Refused writes repeat on every batch while the store is over its budget: one line a second.
    refusals: Arc<LogThrottle>,
    /// Recent spans per trace, against `limits.spans_per_trace`.
    trace_sizes: Arc<TraceSizes>,
}

/// Renders Prometheus text for `/metrics` on each scrape; the server adds its own sections
/// (group metrics, notifications) without the collector depending on them.
pub type PrometheusSource = Arc<dyn Fn() -> String + Send + Sync>;

/// A document that was refused, with what `UnprocessedTraceSegments` reports about it.
#[derive(Debug, Clone, PartialEq)]
pub struct RefusedDocument {
    /// Position in the request.
    pub index: usize,
    /// The document's `id`, when one could be found even in broken JSON.
    pub id: Option<String>,
    pub error: DocumentError,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest").field("counters", &self.counters).finish_non_exhaustive()
    }
}

impl Ingest {
    pub fn new(sink: Arc<dyn SpanSink>, counters: Arc<Counters>) -> Self {
        Ingest {
            sink,
            logs: None,
            metrics: None,
            counters,
            rules: Arc::new(Rules::default()),
            prometheus: Vec::new(),
            refusals: Arc::default(),
            trace_sizes: Arc::new(TraceSizes::new(DEFAULT_SPANS_PER_TRACE)),
        }
    }

    /// Refuses the spans that would take a trace past `limit` (`limits.spans_per_trace`;
    /// `trace_sizes.rs` says over what time they are counted).
    pub fn with_spans_per_trace(mut self, limit: usize) -> Self {
        self.trace_sizes = Arc::new(TraceSizes::new(limit));
        self
    }

    /// Keeps OTLP log records in `logs` (the store, in `fluoro serve`).
    pub fn with_log_sink(mut self, logs: Arc<dyn LogSink>) -> Self {
        self.logs = Some(logs);
        self
    }

    /// Keeps OTLP metric data points in `metrics` (the store, in `fluoro serve`).
    pub fn with_metric_sink(mut self, metrics: Arc<dyn MetricSink>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Applies optional document rules (such as the trace-age window).
    pub fn with_rules(mut self, rules: Rules) -> Self {
        self.rules = Arc::new(rules);
        self
    }

    /// Appends `source`'s text to every `/metrics` answer.
    pub fn with_prometheus_source(mut self, source: PrometheusSource) -> Self {
        self.prometheus.push(source);
        self
    }

    /// The Prometheus text of the added sources, in the order added.
    pub fn extra_prometheus(&self) -> String {
        self.prometheus.iter().map(|source| source()).collect()
    }

    /// `limits.spans_per_trace`.
    pub fn spans_per_trace(&self) -> usize {
        self.trace_sizes.limit()
    }

    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Parses, validates and keeps X-Ray documents. Valid documents are written in one batch;
    /// the refused ones are returned. A sink failure loses the whole batch and is returned as
    /// an error (and counted as dropped).
    ///
    /// Each document is kept as the bytes given (shared, not copied), so hand over slices of a
    /// larger buffer only where that buffer holds little else. If any document is refused,
    /// the accepted ones are copied out instead: a refused document's bytes would otherwise
    /// live on, uncounted, in the buffer it shares with them.
    pub fn put_documents(
        &self,
        source: Source,
        documents: impl IntoIterator<Item = Bytes>,
        durability: Durability,
    ) -> Result<Vec<RefusedDocument>, SinkError> {
        let documents = documents.into_iter();
        // Sized for the common document, a segment with a few subsegments, so that growing the
        // batch does not move its large elements several times over.
        let expected = documents.size_hint().0;
        let mut batch =
            SpanBatch { documents: Vec::with_capacity(expected), rows: Vec::with_capacity(4 * expected), durability };
        let mut refused = Vec::new();
        let mut parsed = Vec::with_capacity(expected);
        let mut received = 0u64;
        for (index, bytes) in documents.enumerate() {
            received += 1;
            match parse_document_with(&bytes, &self.rules) {
                Ok(document) => parsed.push((index, bytes, document)),
                Err(error) => refused.push(RefusedDocument { index, id: refused_document_id(&error, &bytes), error }),
            }
        }
        // One look at the trace counts for the whole batch, after parsing: parsing under the
        // lock would serialize the UDP workers.
        let admitted = self.trace_sizes.admit(parsed.iter().map(|(_, _, document)| {
            // Validation refuses entities without a trace id; were one to pass, it counts nothing.
            match document.trace_and_span_count() {
                (Some(trace), spans) => (trace, spans),
                (None, _) => (TraceId::default(), 0),
            }
        }));
        let share = refused.is_empty() && admitted.iter().all(|admitted| *admitted);
        for ((index, bytes, document), admitted) in parsed.into_iter().zip(admitted) {
            if admitted {
                let bytes = if share { bytes } else { Bytes::copy_from_slice(&bytes) };
                // A parsed document is UTF-8: serde_json reads nothing else.
                batch.push_document(document, ByteString::try_from(bytes).ok().as_ref());
            } else {
                let error = DocumentError::TraceTooLarge { limit: self.trace_sizes.limit() };
                let id = document.entities().first().map(|entity| entity.id.to_string());
                refused.push(RefusedDocument { index, id, error });
            }
        }
        refused.sort_by_key(|refused| refused.index);
        for document in &refused {
            self.counters.add_rejected(source, RejectReason::of(&document.error), 1);
        }
        self.counters.add_received(source, received);
        let accepted = received - refused.len() as u64;
        self.write(source, batch, accepted)?;
        Ok(refused)
    }

    /// Counts an OTLP conversion's outcome: every item received, the refused ones rejected
    /// (`unsupported` of them as such, the rest as invalid). Returns the accepted count.
    fn count_converted(&self, source: Source, accepted: usize, rejected: usize, unsupported: usize) -> u64 {
        let accepted = accepted as u64;
        self.counters.add_received(source, accepted + rejected as u64);
        self.counters.add_rejected(source, RejectReason::Invalid, rejected.saturating_sub(unsupported) as u64);
        self.counters.add_rejected(source, RejectReason::Unsupported, unsupported as u64);
        accepted
    }

    /// Keeps rows converted from OTLP spans; `rejected` spans were refused by the conversion.
    /// Returns how many more were refused because their trace reached `limits.spans_per_trace`.
    pub fn put_rows(
        &self,
        source: Source,
        rows: Vec<SpanRow>,
        rejected: usize,
        durability: Durability,
    ) -> Result<usize, SinkError> {
        let admitted = self.trace_sizes.admit(rows.iter().map(|row| (row.trace_id, 1)));
        let received = rows.len();
        let rows: Vec<SpanRow> =
            rows.into_iter().zip(admitted).filter_map(|(row, admitted)| admitted.then_some(row)).collect();
        let too_large = received - rows.len();
        self.counters.add_rejected(source, RejectReason::TraceTooLarge, too_large as u64);
        self.counters.add_received(source, too_large as u64);
        let accepted = self.count_converted(source, rows.len(), rejected, 0);
        self.write(source, SpanBatch { documents: Vec::new(), rows, durability }, accepted)?;
        Ok(too_large)
    }

    /// Keeps log records converted from OTLP; `rejected` records were refused by the
    /// conversion. Without a log sink the records are dropped as `sink_error` and the error
    /// returned, so the exporter hears that they were not kept.
    pub fn put_logs(
        &self,
        source: Source,
        rows: Vec<LogRow>,
        rejected: usize,
        durability: Durability,
    ) -> Result<(), SinkError> {
        let accepted = self.count_converted(source, rows.len(), rejected, 0);
        self.write_other(source, accepted, "log records", || match &self.logs {
            Some(logs) => logs.write_logs(LogBatch { rows, durability }),
            None => Err(SinkError::new("this server keeps no log records")),
        })
    }

    /// Keeps metric data points converted from OTLP; `rejected` points were refused by the
    /// conversion, `unsupported` of them for their type. Without a metric sink, as `put_logs`.
    pub fn put_metrics(
        &self,
        source: Source,
        points: Vec<MetricPoint>,
        rejected: usize,
        unsupported: usize,
        durability: Durability,
    ) -> Result<(), SinkError> {
        let accepted = self.count_converted(source, points.len(), rejected, unsupported);
        self.write_other(source, accepted, "metric data points", || match &self.metrics {
            Some(metrics) => metrics.write_metrics(MetricBatch { points, durability }),
            None => Err(SinkError::new("this server keeps no metrics")),
        })
    }

    /// Writes `accepted` items of a signal other than spans, counting the outcome.
    fn write_other(
        &self,
        source: Source,
        accepted: u64,
        what: &str,
        write: impl FnOnce() -> Result<(), SinkError>,
    ) -> Result<(), SinkError> {
        if accepted == 0 {
            return Ok(());
        }
        match write() {
            Ok(()) => {
                self.counters.add_accepted(source, accepted);
                Ok(())
            }
            Err(error) => {
                self.counters.add_dropped(source, DropReason::of(&error), accepted);
                if let Some(held_back) = self.refusals.allow() {
                    tracing::warn!(source = ?source, count = accepted, error = %error, held_back, "failed to store {what}");
                }
                Err(error)
            }
        }
    }

    fn write(&self, source: Source, batch: SpanBatch, count: u64) -> Result<(), SinkError> {
        if count == 0 {
            return Ok(());
        }
        match self.sink.write(batch) {
            Ok(()) => {
                self.counters.add_accepted(source, count);
                Ok(())
            }
            Err(error) => {
                self.counters.add_dropped(source, DropReason::of(&error), count);
                if let Some(held_back) = self.refusals.allow() {
                    tracing::warn!(source = ?source, count, error = %error, held_back, "failed to store spans");
                }
                Err(error)
            }
        }
    }
}

/// The refused document's id: from the validation error when it got that far, otherwise
/// found in the raw bytes the way the X-Ray daemon does, so senders can match rejects.
fn refused_document_id(error: &DocumentError, bytes: &[u8]) -> Option<String> {
    if let Some(invalid) = error.invalid() {
        return invalid.entity_id.clone();
    }
    find_raw_id(bytes)
}

/// Finds `"id":"<16 hex>"` (spaces allowed around the colon) in possibly broken JSON.
fn find_raw_id(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes.get(..bytes.len().min(4096))?);
    let mut rest = text.as_ref();
    while let Some(at) = rest.find("\"id\"") {
        rest = &rest[at + 4..];
        let after_colon = rest.trim_start().strip_prefix(':')?.trim_start();
        if let Some(value) = after_colon.strip_prefix('"') {
            let id: String = value.chars().take_while(char::is_ascii_hexdigit).collect();
            if id.len() == 16 {
                return Some(id);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_in_truncated_json() {
        assert_eq!(
            find_raw_id(br#"{"name":"a","id" : "70de5b6f19ff9a0a","start_ti"#).as_deref(),
            Some("70de5b6f19ff9a0a")
        );
        assert_eq!(find_raw_id(br#"{"name":"a","id":"short"#), None);
        assert_eq!(find_raw_id(b"\xff\xfe garbage"), None);
    }

    /// Keeps each batch written, to look at its documents.
    #[derive(Default)]
    struct BatchesSink(parking_lot::Mutex<Vec<SpanBatch>>);

    impl SpanSink for BatchesSink {
        fn write(&self, batch: SpanBatch) -> Result<(), SinkError> {
            self.0.lock().push(batch);
            Ok(())
        }
    }

    #[test]
    fn documents_share_the_given_bytes_unless_one_is_refused() {
        let segment = |id: &str| {
            format!(
                r#"{{"trace_id":"1-5f84c7a3-0123456789abcdef01234567","id":"{id}","name":"web","start_time":1,"end_time":2}}"#
            )
        };
        let shared_by = |texts: &[String]| {
            let buffer = Bytes::from(texts.concat());
            let mut at = 0;
            let documents: Vec<Bytes> = texts
                .iter()
                .map(|text| {
                    at += text.len();
                    buffer.slice(at - text.len()..at)
                })
                .collect();
            let sink = Arc::new(BatchesSink::default());
            let ingest = Ingest::new(sink.clone(), Arc::new(Counters::new()));
            ingest.put_documents(Source::Udp, documents, Durability::BestEffort).unwrap();
            let within = buffer.as_ptr_range();
            let batches = sink.0.lock();
            batches[0].documents.iter().map(|document| within.contains(&document.json.as_ptr())).collect::<Vec<_>>()
        };
        let valid = [segment("1111111111111111"), segment("2222222222222222")];
        assert_eq!(shared_by(&valid), [true, true]);
        let with_refused = [segment("1111111111111111"), "{\"broken\": ".repeat(100), segment("2222222222222222")];
        assert_eq!(shared_by(&with_refused), [false, false], "the refused bytes would stay held, uncounted");
    }
}
