//! Ingest for Fluoro: everything X-Ray and OpenTelemetry clients send, unchanged.
//!
//! | module | holds |
//! |---|---|
//! | `ingest` | [`Ingest`]: parse, validate, count and write, shared by every receiver |
//! | `sink` | [`SpanSink`] / [`TraceSource`], the narrow interface to the store; [`MemorySink`] |
//! | `counters` | [`Counters`]: received, accepted, rejected and dropped, per source and reason |
//! | `udp` | the X-Ray daemon UDP protocol |
//! | `sampling` | centralized sampling rules and the SDK endpoints |
//! | `otlp` | OTLP over gRPC and HTTP |
//! | `xray_api` | `PutTraceSegments`, `BatchGetTraces`, `PutTelemetryRecords`, `/metrics` |
//! | `forward` | sidecar mode: batch and forward to a central Fluoro |
//!
//! Write path: `udp.rs` (datagram → header check) → bounded queue → `ingest.rs`
//! (`parse_document`, rows) → `SpanSink::write`.

mod counters;
mod error;
mod ingest;
mod otlp;
mod sampling;
mod sink;
mod udp;
mod xray_api;

pub use counters::{Counters, CountersSnapshot, DropReason, RejectReason, Source, SourceCounts};
pub use error::{CollectorError, Result, SinkError};
pub use ingest::{Ingest, RefusedDocument};
pub use sink::{Durability, MemorySink, SpanBatch, SpanSink, StoredTrace, TraceSource};
