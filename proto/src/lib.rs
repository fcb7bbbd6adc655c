//! The data model and wire formats every other Fluoro crate builds on, and the contracts
//! between them that would otherwise point a dependency the wrong way (sink, ARNs, small
//! durable files).
//!
//! | module | holds |
//! |---|---|
//! | `id` | [`TraceId`] and [`SegmentId`]: `Copy` ids, X-Ray and W3C forms |
//! | `trace_header` | [`TraceHeader`]: the `X-Amzn-Trace-Id` header |
//! | `segment` | [`Entity`] and its parts: the X-Ray segment document, typed |
//! | `sent_entity` | [`SentEntity`]: a stored entity as sent (nulls, key order, number forms), for reading back |
//! | `document` | [`parse_document`]: bytes → validated [`Document`], errors naming the field |
//! | `validation` | the service's rules for documents, as typed [`DocumentError`]s |
//! | `span` | [`SpanRow`]: the flat row per segment or subsegment the store keeps |
//! | `log` | [`LogRow`]: the flat row per OTLP log record, beside the spans |
//! | `metric` | [`MetricPoint`]: the flat row per OTLP metric data point, with its [`MetricKind`] |
//! | `otlp` | OTLP `ResourceSpans` → [`SpanRow`]s, as the OpenTelemetry X-Ray exporter maps them; `ResourceLogs` → [`LogRow`]s; `ResourceMetrics` → [`MetricPoint`]s |
//! | `sink` | the ingest → storage contract: [`SpanBatch`] into a [`SpanSink`], [`LogBatch`] into a [`LogSink`], [`MetricBatch`] into a [`MetricSink`], [`StoredTrace`]s out of a [`TraceSource`] |
//! | `arn` | [`xray_arn`]: the ARNs of sampling rules and groups |
//! | `throttling` | [`is_throttling_error`]: which AWS error types are throttles |
//! | `xray_error` | [`xray_error_body`]: the X-Ray API's error shape, for every HTTP route |
//! | `durable_file` | [`replace_durably`]: atomic, synced replacement of a small file (rules, groups); [`create_private_dir`]: 0700 state directories |
//!
//! ```
//! let doc = r#"{"name":"web","id":"70de5b6f19ff9a0a","trace_id":"1-581cf771-a006649127e371903a2de979",
//!               "start_time":1478293361.271,"end_time":1478293361.449}"#;
//! let segment = fluoro_proto::parse_document(doc.as_bytes()).unwrap();
//! let rows = fluoro_proto::rows_from_document(&segment);
//! assert_eq!(rows[0].service.as_deref(), Some("web"));
//! ```

mod arn;
mod document;
mod durable_file;
mod error;
mod id;
mod log;
mod metric;
mod otlp;
mod segment;
mod sent_entity;
mod sink;
mod span;
mod sparse;
mod throttling;
mod trace_header;
mod validation;
mod xray_error;

pub use arn::{xray_arn, ARN_ACCOUNT, ARN_REGION};
pub use bytestring::ByteString;
/// The text type of a row's service and origin: inline up to 24 bytes, so the rows of one
/// segment share its names without an allocation each.
pub use compact_str::CompactString;
pub use document::{parse_document, parse_document_with, Document, MAX_DOCUMENT_BYTES, MAX_JSON_DEPTH};
pub use durable_file::{create_private_dir, replace_durably};
pub use error::{DocumentError, HeaderError, IdError, InvalidDocument, OtlpError, Problem, Result};
pub use id::{SegmentId, TraceId};
pub use log::LogRow;
pub use metric::{HistogramValue, MetricKind, MetricPoint};
pub use otlp::{
    canonical_attributes, log_rows_from_otlp, metric_points_from_otlp, rows_from_otlp, rows_from_resource_spans,
    Conversion, LogConversion, MetricConversion, OtlpConversion, RejectedLog, RejectedMetricPoint, RejectedSpan,
    Rejection, MAX_ATTRIBUTE_BYTES, MAX_LOG_ATTRIBUTES, MAX_LOG_BODY_BYTES, MAX_METRIC_NAME_CHARS,
};
pub use segment::{
    AnnotationValue, Aws, Cause, CauseDetails, CloudwatchLogs, Ec2, Ecs, Eks, ElasticBeanstalk, Entity, Exception,
    Http, HttpRequest, HttpResponse, Link, Sql, StackFrame, XraySdk,
};
pub use sent_entity::SentEntity;
pub use sink::{
    Durability, EntityDocument, LogBatch, LogSink, MetricBatch, MetricSink, SinkError, SpanBatch, SpanSink,
    StoredTrace, TraceSource,
};
pub use span::{
    push_rows_from_document, rows_from_document, seconds_to_micros, AnnotationScalar, AwsSummary, ExceptionSummary,
    HttpSummary, SpanKind, SpanRow,
};
pub use sparse::{Empty, Sparse};
pub use throttling::is_throttling_error;
pub use trace_header::{Sampled, TraceHeader};
pub use validation::{Rules, TraceAge, MAX_NAME_CHARS};
pub use xray_error::{xray_error_body, XRAY_ERROR_TYPE_HEADER};
