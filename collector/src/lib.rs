//! Ingest for Fluoro: everything X-Ray and OpenTelemetry clients send, unchanged.
//!
//! | module | holds |
//! |---|---|
//! | `ingest` | [`Ingest`]: parse, validate, count and write, shared by every receiver |
//! | `trace_sizes` | recent spans per trace against `limits.spans_per_trace` |
//! | `sink` | [`MemorySink`]: `fluoro_proto::SpanSink` and `TraceSource` in memory, bounded |
//! | `counters` | [`Counters`]: received, accepted, rejected and dropped, per source and reason |
//! | `udp` | the X-Ray daemon UDP protocol; `udp/drops.rs` reads the kernel's socket drop count |
//! | `sampling` | centralized sampling rules and the SDK endpoints |
//! | `otlp` | OTLP traces, logs and metrics over gRPC and HTTP (`otlp/logs.rs`, `otlp/metrics.rs`: the other signals) |
//! | `body_limit` | request bodies over a limit answered 413 after draining, not with a reset |
//! | `xray_api` | `PutTraceSegments`, `BatchGetTraces`, `PutTelemetryRecords`, `/metrics` |
//! | `api_token` | [`ApiToken`]: the HTTP API port's optional bearer token, the login page for browsers |
//! | `grpc_listener` | the OTLP gRPC port's accept loop: connections bounded and silent ones closed, as `[http]` says |
//! | `sigv4` | [`SigV4Keys`]: optional AWS Signature V4 verification on the API port; [`AwsCredentials`]: the sidecar's signing |
//! | `http_listener` | [`HttpLimits`]: every HTTP listener's accept loop, bounded against slow and stalled clients |
//! | `forward` | sidecar mode: relay raw documents to a central Fluoro in batches; sampling proxy |
//!
//! Write path: `udp.rs` (datagram → header check) → bounded queue → `ingest.rs`
//! (`parse_document`, rows) → `SpanSink::write`.
//!
//! Sidecar path (`fluoro daemon`): `udp.rs` (header check) → bounded queue →
//! `forward.rs` (UTF-8 check, raw bytes into the bounded buffer) → `forward/send.rs`
//! (`PutTraceSegments` to the central Fluoro, its `UnprocessedTraceSegments` counted).
//! When you change the UDP receive side, both paths change: `UdpHandoff` in `udp.rs`.

mod api_token;
mod body_limit;
mod counters;
mod error;
mod forward;
mod grpc_listener;
mod http_listener;
mod ingest;
mod log_throttle;
mod otlp;
mod sampling;
mod server;
mod sigv4;
mod sink;
mod trace_sizes;
mod udp;
mod xray_api;

pub use api_token::{ApiToken, OPEN_PATHS};
pub use body_limit::DRAIN_LIMIT_BYTES;
pub use counters::{Counters, CountersSnapshot, DropReason, RejectReason, Source, SourceCounts};
pub use error::{CollectorError, Result};
pub use forward::{sampling_proxy_router, ForwardConfig, ForwardSink, Forwarder, MAX_FORWARD_BODY_BYTES};
pub use http_listener::{HttpLimits, FALLBACK_CONTENT_SECURITY_POLICY};
pub use ingest::{Ingest, PrometheusSource, RefusedDocument};
pub use otlp::{otlp_grpc_service, otlp_http_router, serve_otlp_grpc, OtlpTraceService, MAX_OTLP_REQUEST_BYTES};
pub use sampling::{
    sampling_router, SamplingError, SamplingRateBoost, SamplingRequest, SamplingRule, SamplingRuleRecord,
    SamplingRuleUpdate, SamplingRules, SamplingStatisticSummary, SamplingStatisticsDocument, SamplingTargetDocument,
    SamplingTargets, UnprocessedStatistics,
};
pub use server::{
    start, start_daemon, DaemonConfig, IngestAddresses, RunningDaemon, RunningServer, ServerAddresses, ServerConfig,
};
pub use sigv4::{AwsCredentials, SigV4Keys};
pub use sink::MemorySink;
pub use trace_sizes::DEFAULT_SPANS_PER_TRACE;
pub use udp::{UdpConfig, UdpHandoff, UdpReceiver};
pub use xray_api::{
    metrics_router, xray_api_router, xray_api_router_with_limits, XrayApiLimits, MAX_DOCUMENTS_PER_REQUEST,
    MAX_REQUEST_BODY_BYTES, MAX_TRACE_IDS_PER_REQUEST,
};
