//! The flat log record: one row per OTLP log record, the shape the store keeps beside the spans
//! and the analyzer searches. A record written while a request ran carries that request's
//! trace and span ids, which is how a trace finds its log lines; records written outside any
//! span have neither and are found by service, severity, text and time.
//!
//! Times are integer microseconds since the epoch, like span times, so the two join and sort
//! as integers. Every text field is bounded (see the `otlp` module's log mapping), so a row's
//! size is bounded whatever a client sends.

use serde::{Deserialize, Serialize};

use crate::id::{SegmentId, TraceId};

/// One log record, flattened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRow {
    /// When the event happened (`time_unix_nano`, else `observed_time_unix_nano`).
    pub time_us: i64,
    /// When the SDK or collector saw it (`observed_time_unix_nano`, else the event time).
    pub observed_us: i64,
    pub trace_id: Option<TraceId>,
    /// The span that was active when the record was written: an X-Ray segment or subsegment id.
    pub span_id: Option<SegmentId>,
    /// Resource `service.name`, cut like a span's service name.
    pub service: String,
    /// OTLP severity number: 1–4 TRACE, 5–8 DEBUG, 9–12 INFO, 13–16 WARN, 17–20 ERROR,
    /// 21–24 FATAL; 0 when unspecified.
    pub severity_number: i32,
    /// The severity as the source wrote it (`WARNING`, `warn`…); may be empty.
    pub severity_text: String,
    /// The body as text: strings as they are, other values as JSON.
    pub body: String,
    /// Record attributes as text pairs, in the order sent.
    pub attributes: Vec<(String, String)>,
}
