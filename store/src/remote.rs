//! Data held by other processes. A query node (`StoreRole::Query`) reads the spans its
//! collectors have not flushed to the bucket yet, and their log records and metric points
//! (which stay on the collectors), through a [`RecentSource`]; a collector hands spans over in
//! the write-ahead log's own record format ([`encode_spans`], [`decode_spans`]): length,
//! checksum, postcard bytes, so a cut or damaged answer is an error, never wrong spans.

use fluoro_proto::{LogRow, MetricPoint, SegmentId, TraceId};

use crate::logs::{LogPage, LogQuery};
use crate::metrics::{MetricName, MetricQuery};

use crate::error::{Result, StoreError};
use crate::record::StoredSpan;
use crate::wal;

/// Spans per record of an answer: records stay far below the log's record limit.
const SPANS_PER_RECORD: usize = 4096;

/// The collectors' recent data, as a query node sees it. Calls block; a collector that does
/// not answer in time is left out of the answer (the implementation reports it), so a query
/// answers from the bucket and the others.
pub trait RecentSource: Send + Sync + std::fmt::Debug {
    /// The recent spans starting in `[from_us, to_us)`, one list per collector that answered;
    /// without their documents unless `documents`.
    fn spans_in(&self, from_us: i64, to_us: i64, documents: bool) -> Vec<Vec<StoredSpan>>;
    /// Every recent span of these traces, with documents, one list per collector that answered.
    fn traces(&self, ids: &[TraceId]) -> Vec<Vec<StoredSpan>>;
    /// Each collector's log records of a trace (of one span).
    fn trace_logs(&self, trace_id: TraceId, span_id: Option<SegmentId>) -> Vec<Vec<LogRow>>;
    /// Each collector's page of a log search.
    fn search_logs(&self, query: &LogQuery) -> Vec<LogPage>;
    /// Each collector's points of a metric.
    fn metric_points(&self, query: &MetricQuery) -> Vec<Vec<MetricPoint>>;
    /// Each collector's metric names over a range, of one service when given.
    fn metric_names(&self, service: Option<&str>, from_us: i64, to_us: i64) -> Vec<Vec<MetricName>>;
}

/// Spans as a sequence of log records.
pub fn encode_spans(spans: &[StoredSpan]) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    for chunk in spans.chunks(SPANS_PER_RECORD) {
        bytes.extend(wal::encode_record(chunk)?);
    }
    Ok(bytes)
}

/// The spans of [`encode_spans`]'s bytes; an error if any record is cut or damaged.
pub fn decode_spans(bytes: &[u8]) -> Result<Vec<StoredSpan>> {
    wal::decode_records(bytes).map_err(|problem| StoreError::Block(format!("recent spans from a collector: {problem}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(sequence: u64) -> StoredSpan {
        let mut span = crate::block::tests::span(sequence, sequence + 1, 1_000 * sequence as i64);
        span.document = (sequence % 2 == 0).then(|| "{\"a\":1}".into());
        span.sequence = sequence;
        span
    }

    #[test]
    fn spans_cross_over_whole_in_several_records() {
        let spans: Vec<StoredSpan> = (0..(SPANS_PER_RECORD as u64 * 2 + 3)).map(span).collect();
        let bytes = encode_spans(&spans).unwrap();
        assert_eq!(decode_spans(&bytes).unwrap(), spans);
        assert_eq!(decode_spans(&[]).unwrap(), Vec::new());
    }

    #[test]
    fn a_cut_or_damaged_answer_is_an_error() {
        let bytes = encode_spans(&(0..10).map(span).collect::<Vec<_>>()).unwrap();
        assert!(decode_spans(&bytes[..bytes.len() - 1]).is_err());
        let mut damaged = bytes.clone();
        damaged[20] ^= 0xff;
        assert!(decode_spans(&damaged).is_err());
    }
}
