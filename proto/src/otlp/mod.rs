//! OTLP spans → [`SpanRow`]s, mapped the way the OpenTelemetry Collector's AWS X-Ray exporter
//! (`opentelemetry-collector-contrib`, `exporter/awsxrayexporter/internal/translator`: `segment.go`,
//! `http.go`, `aws.go`, `sql.go`, `cause.go`) turns a span into a segment document, then flattened
//! the way `rows_from_document` flattens documents. Spans sent over OTLP and documents sent by X-Ray
//! SDKs therefore land on the same service-map nodes (spec `xray.md` §1 and §5).
//!
//! Entry points: [`rows_from_resource_spans`] for one `ResourceSpans`, [`rows_from_otlp`] for the
//! `resource_spans` of a whole export request. Both return an [`OtlpConversion`]: the rows, and
//! the [`RejectedSpan`]s with their [`OtlpError`], which the collector reports as an OTLP partial
//! success (`rejected_spans` = [`OtlpConversion::rejected_count`], `error_message` =
//! [`OtlpConversion::rejection_message`]).
//!
//! | module | holds |
//! |---|---|
//! | (this file) | the entry points, the assembly of a row, the id and time checks that reject a span |
//! | `naming` | span kind → row kind and namespace; the called service's name; `fixSegmentName` |
//! | `resource` | the service name and where it runs: origin, account, instance, zone, resource ARN |
//! | `http` | `http.*`, `url.*` and address attributes → `http`, the URL rebuilt from its parts |
//! | `aws` | what makes a span an AWS SDK call; `aws.*` attributes → `aws` |
//! | `sql` | `sql_url`, and the URL parsing that drops credentials and parameters |
//! | `cause` | `error`, `fault`, `throttle` and `exceptions` |
//! | `logs` | OTLP log records → [`crate::LogRow`]s: ids, times, severity, body as text, bounds |
//! | `metrics` | OTLP data points → [`crate::MetricPoint`]s: gauges, sums, histograms; unsupported types rejected |
//! | `annotations` | attributes no mapping consumes → `annotations`, keys sanitised |
//! | `attributes` | `Attributes`: lookup by key, numbers and ports however SDKs send them |
//! | `fixtures` | tests only: spans and resources as SDKs send them |
//!
//! # Span kind → row kind
//!
//! | OTLP span | `kind` | `namespace` | `remote` | `name` |
//! |---|---|---|---|---|
//! | `SERVER`, `CONSUMER`, or any kind without a parent (empty or all-zero `parent_span_id`) | `Segment` | `None` | false | the service name |
//! | `INTERNAL`, `UNSPECIFIED` (and unknown kinds) with a parent | `Subsegment` | `None` | false | the span name |
//! | `CLIENT`, `PRODUCER` with a parent | `Subsegment` | `aws` for AWS SDK calls, else `remote` | true | the called service, see below |
//!
//! An AWS SDK call is a span with `rpc.system = "aws-api"` or an `aws.service` attribute.
//! The called service's name is the first of: `aws.remote.service` (with the `AWS.SDK.`/`AWS::`
//! prefix cut for AWS SDK calls), `peer.service`, `aws.service`, `rpc.service` (AWS SDK calls,
//! e.g. `DynamoDB`), `db.namespace`/`db.name` + `@host` (host from `db.connection_string`, else
//! `server.address`/`net.peer.name`), `rpc.service`, the host of `url.full`/`http.url`,
//! `http.host`, `server.address`, `net.peer.name`, and finally the span name. Every name is cut to
//! the characters X-Ray allows in a name and to 200 characters (`span` when nothing is left), as
//! the exporter's `fixSegmentName` does.
//!
//! Unlike the exporter, `CONSUMER` spans with a parent are segments (the consuming service's
//! own work, reached through the producer), and local subsegments keep their span name rather
//! than going through the called-service chain, which is for calls that leave the process.
//!
//! # Fields
//!
//! | `SpanRow` field | from |
//! |---|---|
//! | `trace_id`, `id`, `parent_id` | `trace_id` (16 bytes), `span_id` (8 bytes), `parent_span_id` (empty or all zero → `None`) |
//! | `service` | resource `service.name`, else `unknown_service`; cut like a name |
//! | `origin` | resource `cloud.platform`, as the exporter's `determineAwsOrigin`: `aws_ec2` → `AWS::EC2::Instance`, `aws_ecs` → `AWS::ECS::Container` (`AWS::ECS::EC2` / `AWS::ECS::Fargate` with `aws.ecs.launchtype` `ec2` / `fargate`), `aws_eks` → `AWS::EKS::Container`, `aws_elastic_beanstalk` → `AWS::ElasticBeanstalk::Environment`, `aws_app_runner` → `AWS::AppRunner::Service`, and (our addition) `aws_lambda` → `AWS::Lambda::Function`; none when `cloud.provider` names another cloud. Set on every row of the resource, as documents' subsegments inherit their segment's origin |
//! | `start_us`, `end_us`, `in_progress` | `start_time_unix_nano` / 1000, `end_time_unix_nano` / 1000; an end of 0 means in progress (`end_us: None`) |
//! | `http.method` | `http.request.method`, `http.method` |
//! | `http.url` | `url.full`, `http.url`; else rebuilt as `scheme://host[:port]target`: scheme from `url.scheme`/`http.scheme` (default `http`), host from `http.host` (port included), else for server spans `http.server_name`/`net.host.name`/`host.name`/`server.address` with port `net.host.port`/`server.port`, for other spans `net.peer.name`/`net.peer.ip`/`server.address` with port `net.peer.port`/`server.port`/`network.peer.port` (80 for http and 443 for https left out), target from `http.target`, else `url.path` (default `/`) + `?url.query` |
//! | `http.status` | `http.response.status_code`, `http.status_code` |
//! | `http.client_ip` | `http.client_ip`, `client.address` (when an IP); for server spans also `net.peer.ip`, `network.peer.address` (when an IP) |
//! | `http.user_agent` | `user_agent.original`, `http.user_agent` |
//! | `error`, `fault`, `throttle` | the exporter's `makeCause`: HTTP status 429 → error + throttle, other 4xx → error, 5xx → fault; without a 4xx/5xx status, `STATUS_CODE_ERROR` → fault |
//! | `exceptions` | span events named `exception`: name = `exception.type`, message = `exception.message`, remote = client or producer span. Without such events, an `ERROR` status with a message (or `http.status_text`) gives one exception with that message and no name |
//! | `annotations` | see below |
//! | `user` | `enduser.id`, `user.id` |
//! | `aws.operation` | `aws.operation`; `rpc.method` for AWS SDK calls |
//! | `aws.region` | `aws.region` |
//! | `aws.account_id` | `aws.account_id`; on segments, else resource `cloud.account.id` |
//! | `aws.table` | `aws.dynamodb.table_names` (array joined with `,`), `aws.table_name`, `aws.table.name` |
//! | `aws.queue` | `aws.sqs.queue_url`, `messaging.url` (SQS or AWS SDK spans only), `aws.queue_url`, `aws.queue.url` |
//! | `aws.resource` | `aws.s3.bucket`, `aws.bucket.name`, `aws.lambda.function_name`, `aws.lambda.function.name`, `aws.kinesis.stream_name`, `aws.stream.name`, `aws.sns.topic.arn`, `aws.sns.topic_arn` |
//! | `aws.resource_arn` | span `cloud.resource_id`, else the first span attribute `aws.*.arn`/`aws.*_arn`; on segments, else resource `cloud.resource_id` |
//! | `aws.instance_id`, `aws.availability_zone` | segments only: resource `host.id` (when running on AWS), `cloud.availability_zone` |
//! | `sql_url` | SQL databases only (`db.system.name`/`db.system` in the exporter's list, plus a few): `db.connection_string` without a `jdbc:` prefix, credentials, parameters or query, with `/` + `db.namespace`/`db.name` added when it has no path; without a URL-style connection string, `system://host[:port]/database` from `server.address`/`net.peer.name` (default `localhost`) and `server.port`/`net.peer.port` |
//! | `remote` | client or producer span with a parent |
//! | `traced` | always false: the callee's own segment links to the call through its parent id |
//!
//! Resource facts about where the service runs (account, instance, zone, resource ARN) go on
//! segment rows only; subsegment rows take them from their segment, as embedded subsegments in
//! documents do. They are dropped when `cloud.provider` is set to another cloud, as the exporter does.
//!
//! # Annotations
//!
//! The exporter indexes only attributes named in its `indexed_attributes` setting (or all of them
//! with `index_all_attributes`) and keeps the rest as metadata. Fluoro keeps no metadata, so it
//! indexes every span attribute that no mapping above consumes and whose value is a string, an
//! integer, a finite double or a bool. Keys are sanitised as the exporter's `fixAnnotationKey`
//! does: every character outside `[A-Za-z0-9_]` becomes `_` (`http.route` → `http_route`); when two
//! keys sanitise to the same one, the first attribute wins. `rpc.method` and `messaging.url` are
//! only consumed on spans where they were used (AWS SDK calls, SQS). Attributes listed in
//! `aws.xray.annotations` (an array of keys) are indexed even when consumed. Resource attributes
//! are not indexed. `aws.request_id`, `db.statement`/`db.query.text` and `db.user` are consumed
//! without a field: one value per call makes a useless index.
//!
//! # Rejected spans
//!
//! A span is rejected, and nothing of it stored, when its `trace_id` is not 16 bytes or is all
//! zero, its `span_id` is not 8 bytes or is all zero, its `parent_span_id` is neither empty nor 8
//! bytes, its `start_time_unix_nano` is 0, or it ends before it starts. The other spans of the
//! request are still converted. Unlike the exporter, trace ids are not checked against X-Ray's
//! 30-day window: W3C trace ids carry no timestamp.

mod annotations;
mod attributes;
mod aws;
mod cause;
#[cfg(test)]
mod fixtures;
mod http;
mod logs;
mod metrics;
mod naming;
mod resource;
mod sql;

use compact_str::CompactString;
use std::fmt;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind as OtlpSpanKind;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};

use annotations::annotations;
use attributes::{owned, Attributes};
use aws::{aws_summary, is_aws_sdk_call};
use cause::{exception_summaries, has_error_status, Outcome};
use http::http_summary;
use naming::{row_name, SpanRole};
use resource::ResourceFacts;
use sql::sql_url;

use crate::error::OtlpError;
use crate::id::{SegmentId, TraceId};
use crate::span::SpanRow;

pub use logs::{
    log_rows_from_otlp, LogConversion, RejectedLog, MAX_ATTRIBUTE_BYTES, MAX_LOG_ATTRIBUTES, MAX_LOG_BODY_BYTES,
};
pub use metrics::{
    canonical_attributes, metric_points_from_otlp, MetricConversion, RejectedMetricPoint, MAX_METRIC_NAME_CHARS,
};

/// How many rejected spans the partial-success message describes before summarising the rest.
const REJECTIONS_IN_MESSAGE: usize = 3;
/// Ids and names of a rejected span are cut to this many bytes / characters in reports, so a
/// megabyte of garbage in an id field does not end up in a log line.
const MAX_REPORTED_ID_BYTES: usize = 32;
const MAX_REPORTED_NAME_CHARS: usize = 100;

/// The outcome of converting one signal's OTLP items: the rows to store and the items refused,
/// each saying where it was in the request and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion<Row, Rejected> {
    pub rows: Vec<Row>,
    pub rejected: Vec<Rejected>,
}

/// A refused item, as the partial-success message describes it.
pub trait Rejection: fmt::Display {
    /// What the items are called in the message: `spans`, `log records`, `data points`.
    const ITEMS: &'static str;
}

/// The outcome of converting OTLP spans.
pub type OtlpConversion = Conversion<SpanRow, RejectedSpan>;

impl<Row, Rejected> Default for Conversion<Row, Rejected> {
    fn default() -> Self {
        Conversion { rows: Vec::new(), rejected: Vec::new() }
    }
}

impl<Row, Rejected: Rejection> Conversion<Row, Rejected> {
    /// The `rejected_spans` (`rejected_log_records`, `rejected_data_points`) of an OTLP
    /// partial-success response.
    pub fn rejected_count(&self) -> usize {
        self.rejected.len()
    }

    /// The `error_message` of an OTLP partial-success response: the count and the first few
    /// rejections. `None` when every item was converted.
    pub fn rejection_message(&self) -> Option<String> {
        let total = self.rows.len() + self.rejected.len();
        let described: Vec<String> =
            self.rejected.iter().take(REJECTIONS_IN_MESSAGE).map(ToString::to_string).collect();
        summarise_rejections(&described, self.rejected.len(), total, Rejected::ITEMS)
    }
}

impl Rejection for RejectedSpan {
    const ITEMS: &'static str = "spans";
}

/// A span that was not converted, where it was in the request, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedSpan {
    /// Index in the request's `resource_spans` (0 for [`rows_from_resource_spans`]).
    pub resource_index: usize,
    pub scope_index: usize,
    pub span_index: usize,
    /// The span name, cut to 100 characters.
    pub span_name: String,
    /// The ids as sent, in hex, whatever their length (cut after 32 bytes).
    pub trace_id_hex: String,
    pub span_id_hex: String,
    pub error: OtlpError,
}

/// Converts the spans of one `ResourceSpans`.
pub fn rows_from_resource_spans(resource_spans: &ResourceSpans) -> OtlpConversion {
    let mut conversion = OtlpConversion::default();
    convert_resource_spans(0, resource_spans, &mut conversion);
    conversion
}

/// Converts all `resource_spans` of an export request; rejections name their resource index.
pub fn rows_from_otlp(resource_spans: &[ResourceSpans]) -> OtlpConversion {
    let mut conversion = OtlpConversion::default();
    for (resource_index, one) in resource_spans.iter().enumerate() {
        convert_resource_spans(resource_index, one, &mut conversion);
    }
    conversion
}

/// `"<n> of <total> <things> rejected: <first few>; and <m> more"`, or `None` for no rejections.
/// `described` holds at most the first [`REJECTIONS_IN_MESSAGE`] rejections, already described.
fn summarise_rejections(described: &[String], rejected: usize, total: usize, things: &str) -> Option<String> {
    if rejected == 0 {
        return None;
    }
    let listed = &described[..described.len().min(REJECTIONS_IN_MESSAGE)];
    let mut message = format!("{rejected} of {total} {things} rejected: {}", listed.join("; "));
    let unlisted = rejected.saturating_sub(listed.len());
    if unlisted > 0 {
        message.push_str(&format!("; and {unlisted} more"));
    }
    Some(message)
}

impl RejectedSpan {
    fn new(location: SpanLocation, span: &Span, error: OtlpError) -> Self {
        RejectedSpan {
            resource_index: location.resource_index,
            scope_index: location.scope_index,
            span_index: location.span_index,
            span_name: span.name.chars().take(MAX_REPORTED_NAME_CHARS).collect(),
            trace_id_hex: reported_hex(&span.trace_id),
            span_id_hex: reported_hex(&span.span_id),
            error,
        }
    }
}

impl fmt::Display for RejectedSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "resource_spans[{}].scope_spans[{}].spans[{}] (name {:?}, span_id {:?}): {}",
            self.resource_index, self.scope_index, self.span_index, self.span_name, self.span_id_hex, self.error
        )
    }
}

fn reported_hex(bytes: &[u8]) -> String {
    let mut hex: String = bytes.iter().take(MAX_REPORTED_ID_BYTES).map(|byte| format!("{byte:02x}")).collect();
    if bytes.len() > MAX_REPORTED_ID_BYTES {
        hex.push('…');
    }
    hex
}

#[derive(Debug, Clone, Copy)]
struct SpanLocation {
    resource_index: usize,
    scope_index: usize,
    span_index: usize,
}

fn convert_resource_spans(resource_index: usize, resource_spans: &ResourceSpans, conversion: &mut OtlpConversion) {
    let resource = ResourceFacts::from_resource(resource_spans.resource.as_ref());
    for (scope_index, scope_spans) in resource_spans.scope_spans.iter().enumerate() {
        for (span_index, span) in scope_spans.spans.iter().enumerate() {
            match row_from_span(span, &resource) {
                Ok(row) => conversion.rows.push(row),
                Err(error) => {
                    let location = SpanLocation { resource_index, scope_index, span_index };
                    conversion.rejected.push(RejectedSpan::new(location, span, error));
                }
            }
        }
    }
}

fn row_from_span(span: &Span, resource: &ResourceFacts) -> Result<SpanRow, OtlpError> {
    let ids = SpanIds::from_span(span)?;
    let times = SpanTimes::from_span(span)?;
    let attributes = Attributes(&span.attributes);
    let kind = span.kind();
    let role = SpanRole::of(kind, ids.parent_id.is_some());
    let aws_call = is_aws_sdk_call(attributes);
    let http = http_summary(attributes, kind);
    let calls_out = matches!(kind, OtlpSpanKind::Client | OtlpSpanKind::Producer);
    let exceptions = exception_summaries(span, attributes, calls_out);
    let outcome = Outcome::of(http.status, has_error_status(span)).with_throttling_exceptions(&exceptions);
    Ok(SpanRow {
        trace_id: ids.trace_id,
        id: ids.id,
        parent_id: ids.parent_id,
        kind: role.row_kind(),
        service: Some(resource.service.clone()),
        name: row_name(role, span, attributes, aws_call, resource),
        origin: resource.origin.map(CompactString::const_new),
        namespace: role.namespace(aws_call),
        start_us: times.start_us,
        end_us: times.end_us,
        in_progress: times.end_us.is_none(),
        http,
        error: outcome.error,
        fault: outcome.fault,
        throttle: outcome.throttle,
        exceptions,
        annotations: annotations(attributes, aws_call),
        user: owned(attributes.first_str(&["enduser.id", "user.id"])),
        aws: aws_summary(attributes, role, aws_call, resource).into(),
        sql_url: sql_url(attributes),
        remote: role == SpanRole::RemoteSubsegment,
        traced: false,
    })
}

// ---------------------------------------------------------------------------------------------
// Ids and times

struct SpanIds {
    trace_id: TraceId,
    id: SegmentId,
    parent_id: Option<SegmentId>,
}

impl SpanIds {
    fn from_span(span: &Span) -> Result<Self, OtlpError> {
        let length = span.trace_id.len();
        let trace_bytes =
            <[u8; 16]>::try_from(span.trace_id.as_slice()).map_err(|_| OtlpError::TraceIdLength { length })?;
        if trace_bytes == [0; 16] {
            return Err(OtlpError::TraceIdZero);
        }
        let length = span.span_id.len();
        let span_bytes =
            <[u8; 8]>::try_from(span.span_id.as_slice()).map_err(|_| OtlpError::SpanIdLength { length })?;
        if span_bytes == [0; 8] {
            return Err(OtlpError::SpanIdZero);
        }
        Ok(SpanIds {
            trace_id: TraceId::from_bytes(trace_bytes),
            id: SegmentId::from_bytes(span_bytes),
            parent_id: parent_id(&span.parent_span_id)?,
        })
    }
}

/// Empty and all-zero (W3C's invalid span id) both mean "no parent": the span is a root.
fn parent_id(bytes: &[u8]) -> Result<Option<SegmentId>, OtlpError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let parent = <[u8; 8]>::try_from(bytes).map_err(|_| OtlpError::ParentSpanIdLength { length: bytes.len() })?;
    Ok((parent != [0; 8]).then(|| SegmentId::from_bytes(parent)))
}

struct SpanTimes {
    start_us: i64,
    end_us: Option<i64>,
}

impl SpanTimes {
    fn from_span(span: &Span) -> Result<Self, OtlpError> {
        let (start, end) = (span.start_time_unix_nano, span.end_time_unix_nano);
        if start == 0 {
            return Err(OtlpError::StartTimeMissing);
        }
        if end != 0 && end < start {
            return Err(OtlpError::EndBeforeStart { start, end });
        }
        Ok(SpanTimes { start_us: nanos_to_micros(start), end_us: (end != 0).then(|| nanos_to_micros(end)) })
    }
}

fn nanos_to_micros(nanos: u64) -> i64 {
    // u64::MAX / 1000 fits in an i64; the fallback is never taken.
    i64::try_from(nanos / 1_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, ArrayValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind as OtlpSpanKind;
    use proptest::prelude::*;

    use super::annotations::CONSUMED_KEYS;
    use super::aws::RESOURCE_NAME_KEYS;
    use super::fixtures::*;
    use super::http::HTTP_MARKER_KEYS;
    use super::*;

    // --- times ---------------------------------------------------------------------------------

    #[test]
    fn times_are_microseconds() {
        let row = convert(span(OtlpSpanKind::Server, vec![]));
        assert_eq!(row.start_us, 1_700_000_000_123_456);
        assert_eq!(row.end_us, Some(1_700_000_000_223_456));
        assert!(!row.in_progress);
    }

    #[test]
    fn span_without_end_time_is_in_progress() {
        let row = convert(Span { end_time_unix_nano: 0, ..span(OtlpSpanKind::Server, vec![]) });
        assert!(row.in_progress);
        assert_eq!(row.end_us, None);
    }

    // --- user ----------------------------------------------------------------------------------

    #[test]
    fn user_comes_from_enduser_id_or_user_id() {
        assert_eq!(convert(span(OtlpSpanKind::Server, vec![text("enduser.id", "alice")])).user, some("alice"));
        assert_eq!(convert(span(OtlpSpanKind::Server, vec![text("user.id", "bob")])).user, some("bob"));
        assert_eq!(convert(span(OtlpSpanKind::Server, vec![])).user, None);
    }

    // --- rejections ----------------------------------------------------------------------------

    #[test]
    fn malformed_ids_are_rejected_with_their_reason() {
        let good = || span(OtlpSpanKind::Server, vec![]);
        let cases = [
            (Span { trace_id: vec![1; 15], ..good() }, "trace_id is 15 bytes; 16 bytes expected"),
            (Span { trace_id: vec![0; 16], ..good() }, "trace_id is all zero; a non-zero 16-byte id expected"),
            (Span { span_id: vec![1; 9], ..good() }, "span_id is 9 bytes; 8 bytes expected"),
            (Span { span_id: Vec::new(), ..good() }, "span_id is 0 bytes; 8 bytes expected"),
            (Span { span_id: vec![0; 8], ..good() }, "span_id is all zero; a non-zero 8-byte id expected"),
            (Span { parent_span_id: vec![1; 4], ..good() }, "parent_span_id is 4 bytes; empty or 8 bytes expected"),
            (
                Span { start_time_unix_nano: 0, ..good() },
                "start_time_unix_nano is 0; the span's start time is required",
            ),
            (
                Span { start_time_unix_nano: 2_000, end_time_unix_nano: 1_000, ..good() },
                "end_time_unix_nano 1000 is before start_time_unix_nano 2000",
            ),
        ];
        for (span, message) in cases {
            assert_eq!(rejection(span).error.to_string(), message);
        }
    }

    #[test]
    fn rejection_names_the_span_and_the_others_are_still_converted() {
        let bad = Span { name: "charge".to_owned(), trace_id: vec![0xab; 3], ..span(OtlpSpanKind::Client, vec![]) };
        let requests = [
            resource_spans(service("web"), vec![span(OtlpSpanKind::Server, vec![])]),
            resource_spans(service("checkout"), vec![span(OtlpSpanKind::Server, vec![]), bad]),
        ];
        let conversion = rows_from_otlp(&requests);
        assert_eq!(conversion.rows.len(), 2);
        assert_eq!(conversion.rejected_count(), 1);
        let rejected = &conversion.rejected[0];
        assert_eq!((rejected.resource_index, rejected.scope_index, rejected.span_index), (1, 0, 1));
        assert_eq!((rejected.span_name.as_str(), rejected.trace_id_hex.as_str()), ("charge", "ababab"));
        assert_eq!(
            conversion.rejection_message().as_deref(),
            Some(
                "1 of 3 spans rejected: resource_spans[1].scope_spans[0].spans[1] \
                 (name \"charge\", span_id \"70de5b6f19ff9a0a\"): trace_id is 3 bytes; 16 bytes expected"
            )
        );
    }

    #[test]
    fn rejection_message_lists_the_first_three() {
        let bad = || Span { span_id: vec![0; 8], ..span(OtlpSpanKind::Server, vec![]) };
        let conversion =
            rows_from_resource_spans(&resource_spans(service("web"), vec![bad(), bad(), bad(), bad(), bad()]));
        let message = conversion.rejection_message().unwrap_or_default();
        assert!(message.starts_with("5 of 5 spans rejected: "), "{message}");
        assert!(message.ends_with("; and 2 more"), "{message}");
        assert_eq!(rows_from_otlp(&[]).rejection_message(), None);
    }

    #[test]
    fn huge_ids_are_cut_in_reports() {
        let rejected = rejection(Span { span_id: vec![0xff; 10_000], ..span(OtlpSpanKind::Server, vec![]) });
        assert_eq!(rejected.span_id_hex.chars().count(), 2 * MAX_REPORTED_ID_BYTES + 1);
    }

    fn any_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            ".{0,40}".prop_map(Value::StringValue),
            "[a-z]{1,8}://[^ ]{0,30}".prop_map(Value::StringValue),
            any::<i64>().prop_map(Value::IntValue),
            any::<f64>().prop_map(Value::DoubleValue),
            any::<bool>().prop_map(Value::BoolValue),
            proptest::collection::vec(".{0,10}", 0..3).prop_map(|values| Value::ArrayValue(ArrayValue {
                values: values.into_iter().map(|v| AnyValue { value: Some(Value::StringValue(v)) }).collect(),
            })),
        ]
    }

    fn any_key() -> impl Strategy<Value = String> {
        let known: Vec<&'static str> =
            CONSUMED_KEYS.iter().chain(HTTP_MARKER_KEYS).chain(RESOURCE_NAME_KEYS).copied().collect();
        prop_oneof![proptest::sample::select(known).prop_map(str::to_owned), ".{0,12}"]
    }

    proptest! {
        #[test]
        fn arbitrary_spans_never_panic(
            trace_id in proptest::collection::vec(any::<u8>(), 0..20),
            span_id in proptest::collection::vec(any::<u8>(), 0..10),
            parent_span_id in proptest::collection::vec(any::<u8>(), 0..10),
            kind in any::<i32>(),
            start in any::<u64>(),
            end in any::<u64>(),
            name in ".{0,40}",
            attributes in proptest::collection::vec((any_key(), any_value()), 0..12),
        ) {
            let attributes: Vec<KeyValue> = attributes.into_iter().map(|(key, value)| attribute(&key, value)).collect();
            let span = Span {
                trace_id, span_id, parent_span_id, kind, name,
                start_time_unix_nano: start, end_time_unix_nano: end,
                attributes: attributes.clone(),
                ..Default::default()
            };
            let conversion = rows_from_resource_spans(&resource_spans(attributes, vec![span]));
            prop_assert_eq!(conversion.rows.len() + conversion.rejected.len(), 1);
        }
    }
}
