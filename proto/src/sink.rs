//! The contract between ingest and storage: what the collector hands over ([`SpanBatch`] to a
//! [`SpanSink`], [`LogBatch`] to a [`LogSink`]) and what it reads back ([`TraceSource`]). It lives here, below both, so the
//! collector never depends on the store and the store never depends on the collector: each
//! depends only on this crate (`fluoro_store::Store` implements both traits, the collector's
//! `MemorySink` too).

use thiserror::Error;

use crate::{Entity, LogRow, MetricPoint, SpanRow, TraceId};

/// A sink could not keep a batch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("cannot store spans: {0}")]
pub struct SinkError(pub String);

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
    /// traces back in X-Ray form.
    pub entities: Vec<Entity>,
    /// One row per segment and subsegment, from X-Ray documents and OTLP spans alike.
    pub rows: Vec<SpanRow>,
    pub durability: Durability,
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
    /// Top-level X-Ray entities by id.
    pub entities: Vec<Entity>,
    /// All rows, X-Ray and OTLP, by id.
    pub rows: Vec<SpanRow>,
}
