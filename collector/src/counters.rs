//! The collector's own accounting: what was received, accepted, rejected (and why) and dropped
//! (and why), per ingest source. Exported as Prometheus text on `GET /metrics` and as JSON.
//!
//! Units: documents for X-Ray sources (a UDP datagram carries one), spans for OTLP traces, log
//! records for OTLP logs and data points for OTLP metrics (their own sources, `otlp_grpc_logs`,
//! `otlp_http_logs`, `otlp_grpc_metrics`, `otlp_http_metrics`, so a span count and a log or
//! point count never add up in one sample).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Where data came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Udp,
    PutTraceSegments,
    OtlpGrpc,
    OtlpHttp,
    /// OTLP log records over gRPC (`LogsService/Export`).
    OtlpGrpcLogs,
    /// OTLP log records over HTTP (`POST /v1/logs`).
    OtlpHttpLogs,
    /// OTLP metric data points over gRPC (`MetricsService/Export`).
    OtlpGrpcMetrics,
    /// OTLP metric data points over HTTP (`POST /v1/metrics`).
    OtlpHttpMetrics,
    /// Documents a sidecar daemon sends on to the central Fluoro.
    Forward,
}

/// Why input was refused: it was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The UDP header line is missing or not `{"format":"json","version":1}`.
    BadHeader,
    BadJson,
    /// JSON that breaks a document rule, or an OTLP span or log record with malformed ids or
    /// times, or a log body over the limit.
    Invalid,
    TooLarge,
    /// An OTLP metric data point of a type Fluoro does not keep (summary, exponential histogram).
    Unsupported,
    /// A span (or a document's spans) that would take its trace past `limits.spans_per_trace`.
    TraceTooLarge,
}

/// Why valid input was lost: Fluoro could not keep up or could not keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// A bounded queue was full.
    Overload,
    /// The sink refused the batch.
    SinkError,
    /// A sidecar's forward buffer overflowed while the central collector was unreachable.
    BufferFull,
    /// The central collector refused a sidecar's whole request with a 4xx that retrying cannot
    /// change (400, 404, 413…), so the batch was given up.
    Refused,
    /// The store's disk is full: the batch was refused before anything of it was kept.
    DiskFull,
}

const SOURCES: [Source; 9] = [
    Source::Udp,
    Source::PutTraceSegments,
    Source::OtlpGrpc,
    Source::OtlpHttp,
    Source::OtlpGrpcLogs,
    Source::OtlpHttpLogs,
    Source::OtlpGrpcMetrics,
    Source::OtlpHttpMetrics,
    Source::Forward,
];
const REJECT_REASONS: [RejectReason; 6] = [
    RejectReason::BadHeader,
    RejectReason::BadJson,
    RejectReason::Invalid,
    RejectReason::TooLarge,
    RejectReason::Unsupported,
    RejectReason::TraceTooLarge,
];
const DROP_REASONS: [DropReason; 5] =
    [DropReason::Overload, DropReason::SinkError, DropReason::BufferFull, DropReason::Refused, DropReason::DiskFull];

/// Lock-free counters, shared by every receiver.
#[derive(Debug, Default)]
pub struct Counters {
    received: [AtomicU64; SOURCES.len()],
    accepted: [AtomicU64; SOURCES.len()],
    rejected: [[AtomicU64; REJECT_REASONS.len()]; SOURCES.len()],
    dropped: [[AtomicU64; DROP_REASONS.len()]; SOURCES.len()],
}

/// A copy of the counters at one moment, for the JSON API and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CountersSnapshot {
    pub sources: Vec<SourceCounts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceCounts {
    pub source: Source,
    pub received: u64,
    pub accepted: u64,
    pub rejected: Vec<(RejectReason, u64)>,
    pub dropped: Vec<(DropReason, u64)>,
}

impl Counters {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_received(&self, source: Source, count: u64) {
        self.received[source as usize].fetch_add(count, Ordering::Relaxed);
    }

    pub fn add_accepted(&self, source: Source, count: u64) {
        self.accepted[source as usize].fetch_add(count, Ordering::Relaxed);
    }

    pub fn add_rejected(&self, source: Source, reason: RejectReason, count: u64) {
        self.rejected[source as usize][reason as usize].fetch_add(count, Ordering::Relaxed);
    }

    pub fn add_dropped(&self, source: Source, reason: DropReason, count: u64) {
        self.dropped[source as usize][reason as usize].fetch_add(count, Ordering::Relaxed);
    }

    pub fn received(&self, source: Source) -> u64 {
        self.received[source as usize].load(Ordering::Relaxed)
    }

    pub fn accepted(&self, source: Source) -> u64 {
        self.accepted[source as usize].load(Ordering::Relaxed)
    }

    pub fn rejected(&self, source: Source, reason: RejectReason) -> u64 {
        self.rejected[source as usize][reason as usize].load(Ordering::Relaxed)
    }

    pub fn dropped(&self, source: Source, reason: DropReason) -> u64 {
        self.dropped[source as usize][reason as usize].load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> CountersSnapshot {
        let sources = SOURCES
            .iter()
            .map(|&source| SourceCounts {
                source,
                received: self.received(source),
                accepted: self.accepted(source),
                rejected: REJECT_REASONS.iter().map(|&r| (r, self.rejected(source, r))).collect(),
                dropped: DROP_REASONS.iter().map(|&r| (r, self.dropped(source, r))).collect(),
            })
            .collect();
        CountersSnapshot { sources }
    }

    /// The Prometheus text exposition format, version 0.0.4.
    pub fn prometheus(&self) -> String {
        let mut text = String::new();
        let mut family = |name: &str, help: &str, samples: Vec<(String, u64)>| {
            let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, value) in samples {
                let _ = writeln!(text, "{name}{{{labels}}} {value}");
            }
        };
        let per_source = |read: &dyn Fn(Source) -> u64| {
            SOURCES.iter().map(|&s| (format!("source=\"{}\"", source_name(s)), read(s))).collect()
        };
        family(
            "fluoro_received_total",
            "Documents, spans, log records or metric data points received.",
            per_source(&|s| self.received(s)),
        );
        family(
            "fluoro_accepted_total",
            "Documents, spans, log records or metric data points accepted and stored.",
            per_source(&|s| self.accepted(s)),
        );
        let rejected = SOURCES
            .iter()
            .flat_map(|&s| REJECT_REASONS.iter().map(move |&r| (s, r)))
            .map(|(s, r)| (format!("source=\"{}\",reason=\"{}\"", source_name(s), reject_name(r)), self.rejected(s, r)))
            .collect();
        family(
            "fluoro_rejected_total",
            "Documents, spans, log records or metric data points refused, by reason.",
            rejected,
        );
        let dropped = SOURCES
            .iter()
            .flat_map(|&s| DROP_REASONS.iter().map(move |&r| (s, r)))
            .map(|(s, r)| (format!("source=\"{}\",reason=\"{}\"", source_name(s), drop_name(r)), self.dropped(s, r)))
            .collect();
        family(
            "fluoro_dropped_total",
            "Valid documents, spans, log records or metric data points lost, by reason.",
            dropped,
        );
        text
    }
}

pub(crate) fn source_name(source: Source) -> &'static str {
    match source {
        Source::Udp => "udp",
        Source::PutTraceSegments => "put_trace_segments",
        Source::OtlpGrpc => "otlp_grpc",
        Source::OtlpHttp => "otlp_http",
        Source::OtlpGrpcLogs => "otlp_grpc_logs",
        Source::OtlpHttpLogs => "otlp_http_logs",
        Source::OtlpGrpcMetrics => "otlp_grpc_metrics",
        Source::OtlpHttpMetrics => "otlp_http_metrics",
        Source::Forward => "forward",
    }
}

pub(crate) fn reject_name(reason: RejectReason) -> &'static str {
    match reason {
        RejectReason::BadHeader => "bad_header",
        RejectReason::BadJson => "bad_json",
        RejectReason::Invalid => "invalid",
        RejectReason::TooLarge => "too_large",
        RejectReason::Unsupported => "unsupported",
        RejectReason::TraceTooLarge => "trace_too_large",
    }
}

fn drop_name(reason: DropReason) -> &'static str {
    match reason {
        DropReason::Overload => "overload",
        DropReason::SinkError => "sink_error",
        DropReason::BufferFull => "buffer_full",
        DropReason::Refused => "refused",
        DropReason::DiskFull => "disk_full",
    }
}

impl DropReason {
    /// The counter a batch the sink refused goes to.
    pub fn of(error: &fluoro_proto::SinkError) -> Self {
        if error.disk_full {
            DropReason::DiskFull
        } else {
            DropReason::SinkError
        }
    }
}

impl RejectReason {
    /// The counter a refused document goes to.
    pub fn of(error: &fluoro_proto::DocumentError) -> Self {
        match error {
            fluoro_proto::DocumentError::TooLarge { .. } => RejectReason::TooLarge,
            fluoro_proto::DocumentError::Json(_) => RejectReason::BadJson,
            fluoro_proto::DocumentError::Invalid(_) => RejectReason::Invalid,
            fluoro_proto::DocumentError::TraceTooLarge { .. } => RejectReason::TraceTooLarge,
            fluoro_proto::DocumentError::TooDeep { .. } => RejectReason::BadJson,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_one_sample_per_source_and_reason() {
        let counters = Counters::new();
        counters.add_received(Source::Udp, 3);
        counters.add_rejected(Source::Udp, RejectReason::BadHeader, 2);
        counters.add_dropped(Source::OtlpHttp, DropReason::Overload, 7);
        let text = counters.prometheus();
        assert!(text.contains("fluoro_received_total{source=\"udp\"} 3\n"));
        assert!(text.contains("fluoro_rejected_total{source=\"udp\",reason=\"bad_header\"} 2\n"));
        assert!(text.contains("fluoro_dropped_total{source=\"otlp_http\",reason=\"overload\"} 7\n"));
        assert!(text.contains("# TYPE fluoro_accepted_total counter\n"));
        counters.add_rejected(Source::OtlpHttpLogs, RejectReason::Invalid, 4);
        let text = counters.prometheus();
        assert!(text.contains("fluoro_rejected_total{source=\"otlp_http_logs\",reason=\"invalid\"} 4\n"));
    }
}
