//! Errors of the data model: malformed ids, headers and documents. Every message names what
//! was wrong and what was expected, because it ends up in front of whoever sent the data.

use thiserror::Error;

pub type Result<T, E = DocumentError> = std::result::Result<T, E>;

/// A trace id or segment id that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum IdError {
    #[error("\"1-\" expected at the start")]
    TraceIdVersion,
    #[error("8 hex digits expected after \"1-\"")]
    TraceIdTime,
    #[error("24 hex digits expected after the time")]
    TraceIdRandom,
    #[error("32 hex digits, not all zero, expected")]
    W3cTraceId,
    #[error("16 hex digits expected")]
    SegmentId,
}

/// Why a segment document was refused. The collector reports these per document
/// (`UnprocessedTraceSegments`) and counts them per [`DocumentError::reason`].
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DocumentError {
    #[error("document is {size} bytes; at most {limit} bytes are accepted")]
    TooLarge { size: usize, limit: usize },
    #[error("document is not valid JSON: {0}")]
    Json(String),
    #[error("{0}")]
    Invalid(Box<InvalidDocument>),
    /// Its trace already holds as many spans as it may (the collector counts them; not a
    /// property of the document itself).
    #[error(
        "its trace has reached the limit of {limit} spans (limits.spans_per_trace); the rest of the trace is refused"
    )]
    TraceTooLarge { limit: usize },
    /// The JSON nests deeper than the configured depth.
    #[error("document nests JSON more than {limit} levels deep (limits.json_depth)")]
    TooDeep { limit: usize },
}

/// A document that is JSON but breaks a rule, with the entity and the field at fault.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidDocument {
    /// `segment` or `subsegment`.
    pub entity: &'static str,
    /// The document's `id` as sent, when it has one.
    pub entity_id: Option<String>,
    /// Where in the document, e.g. `subsegments[2].http.response.status`.
    pub field: String,
    pub problem: Problem,
}

/// The rule a document broke.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Problem {
    #[error("is required")]
    Missing,
    #[error("must be {expected}, found {found}")]
    WrongType { expected: &'static str, found: &'static str },
    #[error("{value:?} is not a valid trace id ({reason})")]
    TraceId { value: String, reason: IdError },
    #[error("{value:?} is not a valid id ({reason})")]
    Id { value: String, reason: IdError },
    #[error("{value} is not a time in epoch seconds (a number between 0 and 1e10 expected{hint})")]
    Time { value: f64, hint: &'static str },
    #[error("is required unless in_progress is true")]
    NoEndTime,
    #[error("must be absent while in_progress is true")]
    EndTimeWhileInProgress,
    #[error("{end} is before start_time {start}")]
    EndBeforeStart { start: f64, end: f64 },
    #[error("must not be empty")]
    Empty,
    #[error("is {length} characters long; at most {limit} are allowed")]
    TooLong { length: usize, limit: usize },
    #[error("contains {character:?} at character {position}; only letters, digits, whitespace and _ . : / % & # = + \\ - @ are allowed")]
    NameCharacter { character: char, position: usize },
    #[error("{value:?} is not a document type (\"subsegment\" expected)")]
    UnknownType { value: String },
    #[error("is required on an independent subsegment")]
    ParentRequired,
    #[error("key {key:?} may only contain ASCII letters, digits and _")]
    AnnotationKey { key: String },
    #[error("{value:?} is also the id of another entity in this document")]
    DuplicateId { value: String },
    #[error("dates the trace {days} days back; traces older than {limit_days} days are not accepted")]
    TraceTooOld { days: u64, limit_days: u64 },
    #[error("dates the trace {seconds} s in the future; at most {limit_seconds} s of clock skew is accepted")]
    TraceInFuture { seconds: u64, limit_seconds: u64 },
    #[error(
        "and metadata take {size} bytes of JSON in this document; at most {limit} are accepted \
         (limits.annotations_metadata_bytes)"
    )]
    AnnotationsMetadataTooLarge { size: usize, limit: usize },
}

impl std::fmt::Display for InvalidDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.entity_id {
            Some(id) => write!(f, "{} {id}: ", self.entity)?,
            None => write!(f, "{}: ", self.entity)?,
        }
        write!(f, "{} {}", self.field, self.problem)
    }
}

impl DocumentError {
    /// A short stable name for counting rejects, e.g. `too_large`, `json`, `invalid`.
    pub fn reason(&self) -> &'static str {
        match self {
            DocumentError::TooLarge { .. } => "too_large",
            DocumentError::Json(_) => "json",
            DocumentError::Invalid(_) => "invalid",
            DocumentError::TraceTooLarge { .. } => "trace_too_large",
            DocumentError::TooDeep { .. } => "json",
        }
    }

    /// The field at fault, for documents that broke a rule.
    pub fn invalid(&self) -> Option<&InvalidDocument> {
        match self {
            DocumentError::Invalid(invalid) => Some(invalid),
            _ => None,
        }
    }
}

/// An `X-Amzn-Trace-Id` header that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeaderError {
    #[error("empty header: key=value fields separated by \";\" expected")]
    Empty,
    #[error("field {field:?} has no \"=\": key=value expected")]
    MissingEquals { field: String },
    #[error("field {field:?} has an empty key: key=value expected")]
    EmptyKey { field: String },
    #[error("Root {value:?} is not a valid trace id ({reason})")]
    Root { value: String, reason: IdError },
    #[error("Parent {value:?} is not a valid segment id ({reason})")]
    Parent { value: String, reason: IdError },
    #[error("Sampled {value:?}: 0, 1 or ? expected")]
    Sampled { value: String },
    #[error("{key} is empty: a value expected, or no {key} field at all")]
    EmptyValue { key: &'static str },
    #[error("{key} appears twice: one {key} field expected")]
    Duplicate { key: &'static str },
}

/// Why an OTLP span or log record was rejected. The collector reports these in the OTLP partial-success
/// response (`rejected_spans` and `error_message`), so each message names the field and what
/// was expected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OtlpError {
    #[error("trace_id is {length} bytes; 16 bytes expected")]
    TraceIdLength { length: usize },
    #[error("trace_id is all zero; a non-zero 16-byte id expected")]
    TraceIdZero,
    #[error("span_id is {length} bytes; 8 bytes expected")]
    SpanIdLength { length: usize },
    #[error("span_id is all zero; a non-zero 8-byte id expected")]
    SpanIdZero,
    #[error("parent_span_id is {length} bytes; empty or 8 bytes expected")]
    ParentSpanIdLength { length: usize },
    #[error("start_time_unix_nano is 0; the span's start time is required")]
    StartTimeMissing,
    #[error("end_time_unix_nano {end} is before start_time_unix_nano {start}")]
    EndBeforeStart { start: u64, end: u64 },
    /// Log records only: an id that is present must have the right length (empty or all zero
    /// means "written outside any span").
    #[error("span_id is {length} bytes; empty or 8 bytes expected")]
    LogSpanIdLength { length: usize },
    #[error("time_unix_nano and observed_time_unix_nano are both 0; a time is required")]
    LogTimeMissing,
    #[error("body is {bytes} bytes as text; at most {limit} bytes expected")]
    BodyTooLarge { bytes: usize, limit: usize },
    /// Metrics only: a data type Fluoro does not keep.
    #[error("{kind} metrics are not supported; gauges, sums and explicit-bucket histograms expected")]
    UnsupportedMetric { kind: &'static str },
    #[error("the metric has no data; a gauge, sum or histogram expected")]
    MetricWithoutData,
    #[error("the metric name is {chars} characters; 1 to {limit} expected")]
    MetricName { chars: usize, limit: usize },
    #[error("the data point has no value; as_double or as_int expected")]
    MetricValueMissing,
    #[error("the data point's value is not a finite number")]
    MetricValueNotFinite,
    #[error("time_unix_nano is 0; the data point's time is required")]
    MetricTimeMissing,
    #[error("aggregation_temporality is unspecified; cumulative or delta expected")]
    TemporalityUnspecified,
    #[error("explicit_bounds ({bounds} of them) are not ascending finite numbers, at most 256")]
    HistogramBounds { bounds: usize },
    #[error("bucket_counts has {counts} entries for {bounds} explicit_bounds; one more than the bounds expected")]
    HistogramBuckets { bounds: usize, counts: usize },
}

impl OtlpError {
    /// A short stable name for counting rejected spans, e.g. `trace_id`, `span_id`, `times`.
    pub fn reason(&self) -> &'static str {
        match self {
            OtlpError::TraceIdLength { .. } | OtlpError::TraceIdZero => "trace_id",
            OtlpError::SpanIdLength { .. } | OtlpError::SpanIdZero => "span_id",
            OtlpError::ParentSpanIdLength { .. } => "parent_span_id",
            OtlpError::StartTimeMissing | OtlpError::EndBeforeStart { .. } | OtlpError::LogTimeMissing => "times",
            OtlpError::LogSpanIdLength { .. } => "span_id",
            OtlpError::BodyTooLarge { .. } => "body",
            OtlpError::UnsupportedMetric { .. } => "unsupported",
            OtlpError::MetricWithoutData | OtlpError::MetricName { .. } => "metric",
            OtlpError::MetricValueMissing | OtlpError::MetricValueNotFinite => "value",
            OtlpError::MetricTimeMissing => "times",
            OtlpError::TemporalityUnspecified => "temporality",
            OtlpError::HistogramBounds { .. } | OtlpError::HistogramBuckets { .. } => "histogram",
        }
    }
}
