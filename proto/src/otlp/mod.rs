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

use std::fmt;
use std::net::IpAddr;

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind as OtlpSpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};

use crate::error::OtlpError;
use crate::id::{SegmentId, TraceId};
use crate::span::{AnnotationScalar, AwsSummary, ExceptionSummary, HttpSummary, SpanKind, SpanRow};
use crate::validation::{is_name_character, MAX_NAME_CHARS};

/// The service name OpenTelemetry SDKs fall back to, used when a resource has none.
const UNKNOWN_SERVICE: &str = "unknown_service";
/// What a name becomes when none of its characters is allowed (the exporter's choice).
const DEFAULT_SEGMENT_NAME: &str = "span";
const EXCEPTION_EVENT: &str = "exception";
const XRAY_ANNOTATIONS_KEY: &str = "aws.xray.annotations";
/// How many rejected spans the partial-success message describes before summarising the rest.
const REJECTIONS_IN_MESSAGE: usize = 3;
/// Ids and names of a rejected span are cut to this many bytes / characters in reports, so a
/// megabyte of garbage in an id field does not end up in a log line.
const MAX_REPORTED_ID_BYTES: usize = 32;
const MAX_REPORTED_NAME_CHARS: usize = 100;

/// The exporter's `isSQL` list, plus SQL databases it misses and the newer `db.system.name` values.
const SQL_SYSTEMS: &[&str] = &[
    "db2",
    "derby",
    "hive",
    "mariadb",
    "mssql",
    "mysql",
    "oracle",
    "postgresql",
    "sqlite",
    "teradata",
    "other_sql",
    "cockroachdb",
    "h2",
    "h2database",
    "hsqldb",
    "redshift",
    "trino",
    "clickhouse",
    "microsoft.sql_server",
    "oracle.db",
    "ibm.db2",
    "sap.hana",
];

const RESOURCE_NAME_KEYS: &[&str] = &[
    "aws.s3.bucket",
    "aws.bucket.name",
    "aws.lambda.function_name",
    "aws.lambda.function.name",
    "aws.kinesis.stream_name",
    "aws.stream.name",
    "aws.sns.topic.arn",
    "aws.sns.topic_arn",
];

const QUEUE_URL_KEYS: &[&str] = &["aws.sqs.queue_url", "aws.queue_url", "aws.queue.url"];

/// Attributes a mapping reads (or drops on purpose); they never become annotations unless listed
/// in `aws.xray.annotations`. See also [`is_consumed_key`].
const CONSUMED_KEYS: &[&str] = &[
    // http
    "http.method",
    "http.request.method",
    "http.client_ip",
    "client.address",
    "http.user_agent",
    "user_agent.original",
    "http.status_code",
    "http.response.status_code",
    "http.status_text",
    "http.url",
    "url.full",
    "http.scheme",
    "url.scheme",
    "http.host",
    "http.target",
    "http.server_name",
    "net.host.name",
    "net.host.port",
    "host.name",
    "net.peer.name",
    "net.peer.ip",
    "net.peer.port",
    "network.peer.address",
    "network.peer.port",
    "server.address",
    "server.port",
    "url.path",
    "url.query",
    // db
    "db.system",
    "db.system.name",
    "db.name",
    "db.namespace",
    "db.connection_string",
    "db.statement",
    "db.query.text",
    "db.user",
    // rpc
    "rpc.system",
    "rpc.service",
    // aws
    "aws.operation",
    "aws.account_id",
    "aws.region",
    "aws.request_id",
    "aws.requestId",
    "aws.service",
    "aws.remote.service",
    "aws.table_name",
    "aws.table.name",
    "aws.dynamodb.table_names",
    "cloud.resource_id",
    // naming and user
    "peer.service",
    "enduser.id",
    "user.id",
];

/// The outcome of converting OTLP spans: the rows to store and the spans that were refused.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OtlpConversion {
    pub rows: Vec<SpanRow>,
    pub rejected: Vec<RejectedSpan>,
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

impl OtlpConversion {
    /// The `rejected_spans` of an OTLP partial-success response.
    pub fn rejected_count(&self) -> usize {
        self.rejected.len()
    }

    /// The `error_message` of an OTLP partial-success response: the count and the first few
    /// rejections. `None` when every span was converted.
    pub fn rejection_message(&self) -> Option<String> {
        if self.rejected.is_empty() {
            return None;
        }
        let total = self.rows.len() + self.rejected.len();
        let examples: Vec<String> =
            self.rejected.iter().take(REJECTIONS_IN_MESSAGE).map(RejectedSpan::to_string).collect();
        let mut message = format!("{} of {total} spans rejected: {}", self.rejected.len(), examples.join("; "));
        let unlisted = self.rejected.len().saturating_sub(REJECTIONS_IN_MESSAGE);
        if unlisted > 0 {
            message.push_str(&format!("; and {unlisted} more"));
        }
        Some(message)
    }
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
    let outcome = Outcome::of(http.status, has_error_status(span));
    let calls_out = matches!(kind, OtlpSpanKind::Client | OtlpSpanKind::Producer);
    Ok(SpanRow {
        trace_id: ids.trace_id,
        id: ids.id,
        parent_id: ids.parent_id,
        kind: role.row_kind(),
        service: Some(resource.service.clone()),
        name: row_name(role, span, attributes, aws_call, resource),
        origin: resource.origin.map(str::to_owned),
        namespace: role.namespace(aws_call),
        start_us: times.start_us,
        end_us: times.end_us,
        in_progress: times.end_us.is_none(),
        http,
        error: outcome.error,
        fault: outcome.fault,
        throttle: outcome.throttle,
        exceptions: exception_summaries(span, attributes, calls_out),
        annotations: annotations(attributes, aws_call),
        user: owned(attributes.first_str(&["enduser.id", "user.id"])),
        aws: aws_summary(attributes, role, aws_call, resource),
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

// ---------------------------------------------------------------------------------------------
// Roles and names

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpanRole {
    Segment,
    LocalSubsegment,
    RemoteSubsegment,
}

impl SpanRole {
    fn of(kind: OtlpSpanKind, has_parent: bool) -> Self {
        match kind {
            _ if !has_parent => SpanRole::Segment,
            OtlpSpanKind::Server | OtlpSpanKind::Consumer => SpanRole::Segment,
            OtlpSpanKind::Client | OtlpSpanKind::Producer => SpanRole::RemoteSubsegment,
            OtlpSpanKind::Internal | OtlpSpanKind::Unspecified => SpanRole::LocalSubsegment,
        }
    }

    fn row_kind(self) -> SpanKind {
        match self {
            SpanRole::Segment => SpanKind::Segment,
            SpanRole::LocalSubsegment | SpanRole::RemoteSubsegment => SpanKind::Subsegment,
        }
    }

    fn namespace(self, aws_call: bool) -> Option<String> {
        match self {
            SpanRole::RemoteSubsegment if aws_call => Some("aws".to_owned()),
            SpanRole::RemoteSubsegment => Some("remote".to_owned()),
            SpanRole::Segment | SpanRole::LocalSubsegment => None,
        }
    }
}

fn is_aws_sdk_call(attributes: Attributes<'_>) -> bool {
    attributes.str("rpc.system") == Some("aws-api") || attributes.str("aws.service").is_some()
}

fn row_name(
    role: SpanRole,
    span: &Span,
    attributes: Attributes<'_>,
    aws_call: bool,
    resource: &ResourceFacts,
) -> String {
    match role {
        SpanRole::Segment => resource.service.clone(),
        SpanRole::LocalSubsegment => fix_segment_name(&span.name),
        SpanRole::RemoteSubsegment => match called_service_name(attributes, aws_call) {
            Some(name) => fix_segment_name(&name),
            None => fix_segment_name(&span.name),
        },
    }
}

/// X-Ray names a call after the service it reaches, not after the operation (segment.go).
fn called_service_name(attributes: Attributes<'_>, aws_call: bool) -> Option<String> {
    attributes
        .str("aws.remote.service")
        .map(|name| if aws_call { trim_aws_sdk_prefix(name) } else { name })
        .or_else(|| attributes.str("peer.service"))
        .or_else(|| attributes.str("aws.service"))
        .or_else(|| attributes.str("rpc.service").filter(|_| aws_call))
        .map(str::to_owned)
        .or_else(|| database_node_name(attributes))
        .or_else(|| owned(attributes.str("rpc.service")))
        .or_else(|| owned(http_host_name(attributes)))
}

fn trim_aws_sdk_prefix(name: &str) -> &str {
    name.strip_prefix("AWS.SDK.").or_else(|| name.strip_prefix("AWS::")).unwrap_or(name)
}

/// `database@host`, the X-Ray SDKs' convention for SQL calls.
fn database_node_name(attributes: Attributes<'_>) -> Option<String> {
    let database = attributes.first_str(&["db.namespace", "db.name"])?;
    let host = attributes
        .str("db.connection_string")
        .and_then(|text| UrlParts::parse(strip_jdbc(text)))
        .map(|url| url.host())
        .or_else(|| attributes.first_str(&["server.address", "net.peer.name"]));
    Some(match host {
        Some(host) => format!("{database}@{host}"),
        None => database.to_owned(),
    })
}

fn http_host_name(attributes: Attributes<'_>) -> Option<&str> {
    attributes
        .first_str(&["url.full", "http.url"])
        .and_then(UrlParts::parse)
        .map(|url| url.host())
        .or_else(|| attributes.str("http.host").map(authority_host))
        .or_else(|| attributes.first_str(&["server.address", "net.peer.name"]))
}

/// Keeps the characters X-Ray allows in a name (the same rule `validation` enforces on
/// documents) and at most [`MAX_NAME_CHARS`] of them, as the exporter's `fixSegmentName`.
fn fix_segment_name(name: &str) -> String {
    let fixed: String = name.chars().filter(|&c| is_name_character(c)).take(MAX_NAME_CHARS).collect();
    if fixed.is_empty() {
        DEFAULT_SEGMENT_NAME.to_owned()
    } else {
        fixed
    }
}

// ---------------------------------------------------------------------------------------------
// Resource

/// What a resource says about the service and where it runs, computed once per `ResourceSpans`.
#[derive(Debug)]
struct ResourceFacts {
    service: String,
    origin: Option<&'static str>,
    account_id: Option<String>,
    availability_zone: Option<String>,
    instance_id: Option<String>,
    resource_arn: Option<String>,
}

impl ResourceFacts {
    fn from_resource(resource: Option<&Resource>) -> Self {
        let attributes = Attributes(resource.map_or(&[], |resource| resource.attributes.as_slice()));
        let service = fix_segment_name(attributes.str("service.name").unwrap_or(UNKNOWN_SERVICE));
        let provider = attributes.str("cloud.provider");
        // The exporter records no AWS facts for a resource that says it runs on another cloud.
        if provider.is_some_and(|provider| provider != "aws") {
            return ResourceFacts {
                service,
                origin: None,
                account_id: None,
                availability_zone: None,
                instance_id: None,
                resource_arn: None,
            };
        }
        let platform = attributes.str("cloud.platform");
        let on_aws = provider.is_some() || platform.is_some_and(|platform| platform.starts_with("aws_"));
        ResourceFacts {
            service,
            origin: platform.and_then(|platform| origin_of_platform(platform, attributes.str("aws.ecs.launchtype"))),
            account_id: owned(attributes.str("cloud.account.id")),
            availability_zone: owned(attributes.str("cloud.availability_zone")),
            // `host.id` is a machine id off AWS; only on AWS is it the EC2 instance id.
            instance_id: owned(attributes.str("host.id").filter(|_| on_aws)),
            resource_arn: owned(attributes.str("cloud.resource_id")),
        }
    }
}

/// The exporter's `determineAwsOrigin`, plus Lambda (which the exporter leaves to the Lambda
/// runtime's own segment).
fn origin_of_platform(platform: &str, ecs_launch_type: Option<&str>) -> Option<&'static str> {
    match platform {
        "aws_ec2" => Some("AWS::EC2::Instance"),
        "aws_ecs" => Some(match ecs_launch_type {
            Some("ec2") => "AWS::ECS::EC2",
            Some("fargate") => "AWS::ECS::Fargate",
            _ => "AWS::ECS::Container",
        }),
        "aws_eks" => Some("AWS::EKS::Container"),
        "aws_elastic_beanstalk" => Some("AWS::ElasticBeanstalk::Environment"),
        "aws_app_runner" => Some("AWS::AppRunner::Service"),
        "aws_lambda" => Some("AWS::Lambda::Function"),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP (http.go)

/// Any of these makes a span an HTTP span; without one, its `http` stays empty even when it has
/// addresses (a database call has `server.address` too).
const HTTP_MARKER_KEYS: &[&str] = &[
    "http.method",
    "http.request.method",
    "http.client_ip",
    "http.user_agent",
    "user_agent.original",
    "http.status_code",
    "http.response.status_code",
    "http.url",
    "url.full",
    "http.scheme",
    "url.scheme",
    "http.host",
    "http.target",
    "http.server_name",
    "net.host.port",
    "url.path",
    "url.query",
];

fn http_summary(attributes: Attributes<'_>, kind: OtlpSpanKind) -> HttpSummary {
    if !attributes.has_any(HTTP_MARKER_KEYS) {
        return HttpSummary::default();
    }
    HttpSummary {
        method: owned(attributes.first_str(&["http.request.method", "http.method"])),
        url: request_url(attributes, kind),
        status: attributes
            .first_int(&["http.response.status_code", "http.status_code"])
            .and_then(|status| u16::try_from(status).ok()),
        client_ip: client_ip(attributes, kind),
        user_agent: owned(attributes.first_str(&["user_agent.original", "http.user_agent"])),
    }
}

fn request_url(attributes: Attributes<'_>, kind: OtlpSpanKind) -> Option<String> {
    if let Some(full) = attributes.first_str(&["url.full", "http.url"]) {
        return Some(full.to_owned());
    }
    let (host, port) = match kind {
        OtlpSpanKind::Server => server_host_and_port(attributes)?,
        _ => client_host_and_port(attributes)?,
    };
    let scheme = attributes.first_str(&["url.scheme", "http.scheme"]).unwrap_or("http");
    let mut url = format!("{scheme}://{host}");
    if let Some(port) = port.filter(|port| !is_default_port(scheme, port)) {
        url.push(':');
        url.push_str(&port);
    }
    url.push_str(&request_target(attributes));
    Some(url)
}

/// `http.host` is the `Host` header, port included, so it comes without a separate port.
fn server_host_and_port(attributes: Attributes<'_>) -> Option<(&str, Option<String>)> {
    if let Some(host) = attributes.str("http.host") {
        return Some((host, None));
    }
    let host = attributes.first_str(&["http.server_name", "net.host.name", "host.name", "server.address"])?;
    Some((host, attributes.first_port(&["net.host.port", "server.port"])))
}

fn client_host_and_port(attributes: Attributes<'_>) -> Option<(&str, Option<String>)> {
    if let Some(host) = attributes.str("http.host") {
        return Some((host, None));
    }
    let host = attributes.first_str(&["net.peer.name", "net.peer.ip", "server.address"])?;
    Some((host, attributes.first_port(&["net.peer.port", "server.port", "network.peer.port"])))
}

fn is_default_port(scheme: &str, port: &str) -> bool {
    matches!((scheme, port), ("http", "80") | ("https", "443"))
}

fn request_target(attributes: Attributes<'_>) -> String {
    if let Some(target) = attributes.str("http.target") {
        return target.to_owned();
    }
    let mut target = attributes.str("url.path").unwrap_or("/").to_owned();
    if let Some(query) = attributes.str("url.query") {
        if !query.starts_with('?') {
            target.push('?');
        }
        target.push_str(query);
    }
    target
}

/// The peer address of a server span is the client (or its proxy); of a client span it is the
/// server, so only server spans use it.
fn client_ip(attributes: Attributes<'_>, kind: OtlpSpanKind) -> Option<String> {
    let forwarded =
        attributes.str("http.client_ip").or_else(|| attributes.str("client.address").filter(|ip| is_ip(ip)));
    let peer =
        || attributes.str("net.peer.ip").or_else(|| attributes.str("network.peer.address").filter(|ip| is_ip(ip)));
    owned(forwarded.or_else(|| if kind == OtlpSpanKind::Server { peer() } else { None }))
}

fn is_ip(text: &str) -> bool {
    text.parse::<IpAddr>().is_ok()
}

// ---------------------------------------------------------------------------------------------
// Errors and exceptions (cause.go)

#[derive(Debug, Default, PartialEq, Eq)]
struct Outcome {
    error: bool,
    fault: bool,
    throttle: bool,
}

impl Outcome {
    /// The exporter trusts a 4xx/5xx HTTP status over the span status: some instrumentations set
    /// only the status code. Without one, an `ERROR` status is a fault.
    fn of(http_status: Option<u16>, error_status: bool) -> Self {
        match http_status {
            Some(429) => Outcome { error: true, throttle: true, fault: false },
            Some(400..=499) => Outcome { error: true, ..Outcome::default() },
            Some(500..=599) => Outcome { fault: true, ..Outcome::default() },
            _ => Outcome { fault: error_status, ..Outcome::default() },
        }
    }
}

fn has_error_status(span: &Span) -> bool {
    span.status.as_ref().is_some_and(|status| status.code() == StatusCode::Error)
}

/// Exception events are kept whatever the status; they do not set the flags (as in cause.go).
fn exception_summaries(span: &Span, attributes: Attributes<'_>, remote: bool) -> Vec<ExceptionSummary> {
    let recorded: Vec<ExceptionSummary> = span
        .events
        .iter()
        .filter(|event| event.name == EXCEPTION_EVENT)
        .map(|event| exception_from_event(event, remote))
        .collect();
    if !recorded.is_empty() {
        return recorded;
    }
    status_exception(span, attributes, remote).into_iter().collect()
}

fn exception_from_event(event: &Event, remote: bool) -> ExceptionSummary {
    let attributes = Attributes(&event.attributes);
    ExceptionSummary {
        name: owned(attributes.str("exception.type")),
        message: owned(attributes.str("exception.message")),
        remote,
    }
}

/// The exporter's fallback for spans that failed without recording an exception: the status
/// message, else `http.status_text`, as an exception without a type.
fn status_exception(span: &Span, attributes: Attributes<'_>, remote: bool) -> Option<ExceptionSummary> {
    let status = span.status.as_ref().filter(|status| status.code() == StatusCode::Error)?;
    let message = Some(status.message.as_str()).filter(|message| !message.is_empty());
    let message = message.or_else(|| attributes.str("http.status_text"))?;
    Some(ExceptionSummary { name: None, message: Some(message.to_owned()), remote })
}

// ---------------------------------------------------------------------------------------------
// AWS (aws.go)

fn aws_summary(attributes: Attributes<'_>, role: SpanRole, aws_call: bool, resource: &ResourceFacts) -> AwsSummary {
    let mut aws = AwsSummary {
        account_id: owned(attributes.str("aws.account_id")),
        operation: owned(attributes.str("aws.operation").or_else(|| attributes.str("rpc.method").filter(|_| aws_call))),
        region: owned(attributes.str("aws.region")),
        table: dynamodb_tables(attributes),
        queue: sqs_queue_url(attributes, aws_call),
        resource: owned(attributes.first_str(RESOURCE_NAME_KEYS)),
        resource_arn: span_resource_arn(attributes),
        instance_id: None,
        availability_zone: None,
    };
    if role == SpanRole::Segment {
        aws.account_id = aws.account_id.or_else(|| resource.account_id.clone());
        aws.resource_arn = aws.resource_arn.or_else(|| resource.resource_arn.clone());
        aws.instance_id = resource.instance_id.clone();
        aws.availability_zone = resource.availability_zone.clone();
    }
    aws
}

fn dynamodb_tables(attributes: Attributes<'_>) -> Option<String> {
    let from_semantic_conventions = match attributes.value("aws.dynamodb.table_names") {
        Some(Value::ArrayValue(array)) => {
            let names: Vec<&str> = array.values.iter().filter_map(string_of).collect();
            (!names.is_empty()).then(|| names.join(","))
        }
        Some(Value::StringValue(name)) if !name.is_empty() => Some(name.clone()),
        _ => None,
    };
    from_semantic_conventions.or_else(|| owned(attributes.first_str(&["aws.table_name", "aws.table.name"])))
}

/// `messaging.url` is a broker address for Kafka and friends, so it only counts for SQS.
fn sqs_queue_url(attributes: Attributes<'_>, aws_call: bool) -> Option<String> {
    let messaging_url = || attributes.str("messaging.url").filter(|_| is_sqs_url_span(attributes, aws_call));
    owned(attributes.str("aws.sqs.queue_url").or_else(messaging_url).or_else(|| attributes.first_str(QUEUE_URL_KEYS)))
}

fn is_sqs_url_span(attributes: Attributes<'_>, aws_call: bool) -> bool {
    aws_call || attributes.str("messaging.system") == Some("aws_sqs")
}

fn span_resource_arn(attributes: Attributes<'_>) -> Option<String> {
    let generic = || {
        attributes
            .0
            .iter()
            .filter(|pair| is_aws_arn_key(&pair.key))
            .find_map(|pair| pair.value.as_ref().and_then(string_of))
    };
    owned(attributes.str("cloud.resource_id").or_else(generic))
}

fn is_aws_arn_key(key: &str) -> bool {
    key.starts_with("aws.") && (key.ends_with(".arn") || key.ends_with("_arn"))
}

// ---------------------------------------------------------------------------------------------
// SQL (sql.go)

fn sql_url(attributes: Attributes<'_>) -> Option<String> {
    let system = attributes.first_str(&["db.system.name", "db.system"])?;
    if !SQL_SYSTEMS.contains(&system) {
        return None;
    }
    let database = attributes.first_str(&["db.namespace", "db.name"]);
    let from_connection_string =
        attributes.str("db.connection_string").and_then(|text| UrlParts::parse(strip_jdbc(text)));
    Some(match from_connection_string {
        Some(url) => url.to_sanitized_url(database),
        None => sql_url_from_server_address(system, attributes, database),
    })
}

fn strip_jdbc(connection_string: &str) -> &str {
    connection_string.strip_prefix("jdbc:").unwrap_or(connection_string)
}

fn sql_url_from_server_address(system: &str, attributes: Attributes<'_>, database: Option<&str>) -> String {
    let host = attributes.first_str(&["server.address", "net.peer.name"]).unwrap_or("localhost");
    let mut url = format!("{system}://{host}");
    if let Some(port) = attributes.first_port(&["server.port", "net.peer.port"]) {
        url.push(':');
        url.push_str(&port);
    }
    if let Some(database) = database {
        url.push('/');
        url.push_str(database);
    }
    url
}

/// The parts of `scheme://[user[:password]@]host[:port][/path][?query|;parameters]` we keep:
/// never the credentials, the query or JDBC `;parameters` (which may hold a password).
#[derive(Debug, PartialEq, Eq)]
struct UrlParts<'a> {
    scheme: &'a str,
    authority: &'a str,
    path: &'a str,
}

impl<'a> UrlParts<'a> {
    fn parse(text: &'a str) -> Option<Self> {
        let (scheme, rest) = text.split_once("://")?;
        if scheme.is_empty() {
            return None;
        }
        let authority_end = rest.find(['/', '?', '#', ';']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        if authority.is_empty() {
            return None;
        }
        let path = if tail.starts_with('/') { &tail[..tail.find(['?', '#', ';']).unwrap_or(tail.len())] } else { "" };
        Some(UrlParts { scheme, authority, path })
    }

    fn host(&self) -> &'a str {
        authority_host(self.authority)
    }

    fn to_sanitized_url(&self, database: Option<&str>) -> String {
        let path = match database {
            Some(database) if self.path.is_empty() || self.path == "/" => format!("/{database}"),
            _ => self.path.to_owned(),
        };
        format!("{}://{}{path}", self.scheme, self.authority)
    }
}

/// The host of `host[:port]` or `[ipv6][:port]`.
fn authority_host(authority: &str) -> &str {
    if let Some(bracketed) = authority.strip_prefix('[') {
        return bracketed.split_once(']').map_or(bracketed, |(host, _)| host);
    }
    authority.split_once(':').map_or(authority, |(host, _)| host)
}

// ---------------------------------------------------------------------------------------------
// Annotations

fn annotations(attributes: Attributes<'_>, aws_call: bool) -> Vec<(String, AnnotationScalar)> {
    let forced = forced_annotation_keys(attributes);
    let mut annotations: Vec<(String, AnnotationScalar)> = attributes
        .0
        .iter()
        .filter(|pair| forced.contains(&pair.key.as_str()) || !is_consumed_key(&pair.key, attributes, aws_call))
        .filter_map(|pair| Some((fix_annotation_key(&pair.key), annotation_scalar(pair.value.as_ref()?)?)))
        .filter(|(key, _)| !key.is_empty())
        .collect();
    // A stable sort keeps attribute order among equal keys, so dedup keeps the first attribute.
    annotations.sort_by(|a, b| a.0.cmp(&b.0));
    annotations.dedup_by(|later, earlier| later.0 == earlier.0);
    annotations
}

/// The keys listed in `aws.xray.annotations`, which the exporter indexes whatever they are.
fn forced_annotation_keys(attributes: Attributes<'_>) -> Vec<&str> {
    match attributes.value(XRAY_ANNOTATIONS_KEY) {
        Some(Value::ArrayValue(array)) => array.values.iter().filter_map(string_of).collect(),
        Some(Value::StringValue(key)) => vec![key.as_str()],
        _ => Vec::new(),
    }
}

fn is_consumed_key(key: &str, attributes: Attributes<'_>, aws_call: bool) -> bool {
    match key {
        "rpc.method" => aws_call,
        "messaging.url" => is_sqs_url_span(attributes, aws_call),
        _ => {
            CONSUMED_KEYS.contains(&key)
                || RESOURCE_NAME_KEYS.contains(&key)
                || QUEUE_URL_KEYS.contains(&key)
                || is_aws_arn_key(key)
                || key.starts_with("aws.xray.")
        }
    }
}

fn annotation_scalar(value: &AnyValue) -> Option<AnnotationScalar> {
    match value.value.as_ref()? {
        Value::StringValue(text) => Some(AnnotationScalar::String(text.clone())),
        Value::BoolValue(flag) => Some(AnnotationScalar::Bool(*flag)),
        Value::IntValue(number) => Some(AnnotationScalar::Number(*number as f64)),
        Value::DoubleValue(number) if number.is_finite() => Some(AnnotationScalar::Number(*number)),
        _ => None,
    }
}

/// The exporter's `fixAnnotationKey`: X-Ray annotation keys are `[A-Za-z0-9_]+`.
fn fix_annotation_key(key: &str) -> String {
    key.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

// ---------------------------------------------------------------------------------------------
// Attribute access

/// A span's, event's or resource's attributes, looked up by key. Lists are short (tens of
/// entries), so a linear scan beats building a map per span. The first of duplicate keys wins.
#[derive(Debug, Clone, Copy)]
struct Attributes<'a>(&'a [KeyValue]);

impl<'a> Attributes<'a> {
    fn value(self, key: &str) -> Option<&'a Value> {
        self.0.iter().find(|pair| pair.key == key)?.value.as_ref()?.value.as_ref()
    }

    fn has_any(self, keys: &[&str]) -> bool {
        keys.iter().any(|key| self.value(key).is_some())
    }

    /// A non-empty string value; an empty string says nothing worth keeping.
    fn str(self, key: &str) -> Option<&'a str> {
        match self.value(key)? {
            Value::StringValue(text) if !text.is_empty() => Some(text),
            _ => None,
        }
    }

    fn first_str(self, keys: &[&str]) -> Option<&'a str> {
        keys.iter().find_map(|key| self.str(key))
    }

    /// An integer, also when sent as a decimal string or a whole double (SDKs differ).
    fn int(self, key: &str) -> Option<i64> {
        match self.value(key)? {
            Value::IntValue(number) => Some(*number),
            Value::StringValue(text) => text.trim().parse().ok(),
            Value::DoubleValue(number) if number.fract() == 0.0 && number.abs() < 1e15 => Some(*number as i64),
            _ => None,
        }
    }

    fn first_int(self, keys: &[&str]) -> Option<i64> {
        keys.iter().find_map(|key| self.int(key))
    }

    /// A port as text, from an integer or a string attribute.
    fn first_port(self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|key| match self.value(key)? {
            Value::IntValue(port) => Some(port.to_string()),
            Value::StringValue(port) if !port.is_empty() => Some(port.clone()),
            _ => None,
        })
    }
}

fn string_of(value: &AnyValue) -> Option<&str> {
    match value.value.as_ref()? {
        Value::StringValue(text) if !text.is_empty() => Some(text),
        _ => None,
    }
}

fn owned(text: Option<&str>) -> Option<String> {
    text.map(str::to_owned)
}

fn reported_hex(bytes: &[u8]) -> String {
    let mut hex: String = bytes.iter().take(MAX_REPORTED_ID_BYTES).map(|byte| format!("{byte:02x}")).collect();
    if bytes.len() > MAX_REPORTED_ID_BYTES {
        hex.push('…');
    }
    hex
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::ArrayValue;
    use opentelemetry_proto::tonic::trace::v1::{ScopeSpans, Status};
    use proptest::prelude::*;

    use super::*;

    const TRACE: [u8; 16] =
        [0x58, 0x40, 0x65, 0x20, 0xa0, 0x06, 0x64, 0x91, 0x27, 0xe3, 0x71, 0x90, 0x3a, 0x2d, 0xe9, 0x79];
    const SPAN: [u8; 8] = [0x70, 0xde, 0x5b, 0x6f, 0x19, 0xff, 0x9a, 0x0a];
    const PARENT: [u8; 8] = [0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8];
    const START_NANOS: u64 = 1_700_000_000_123_456_789;
    const END_NANOS: u64 = 1_700_000_000_223_456_999;

    fn text(key: &str, value: &str) -> KeyValue {
        attribute(key, Value::StringValue(value.to_owned()))
    }

    fn int(key: &str, value: i64) -> KeyValue {
        attribute(key, Value::IntValue(value))
    }

    fn texts(key: &str, values: &[&str]) -> KeyValue {
        let values = values.iter().map(|v| AnyValue { value: Some(Value::StringValue((*v).to_owned())) }).collect();
        attribute(key, Value::ArrayValue(ArrayValue { values }))
    }

    fn attribute(key: &str, value: Value) -> KeyValue {
        KeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
    }

    fn span(kind: OtlpSpanKind, attributes: Vec<KeyValue>) -> Span {
        Span {
            trace_id: TRACE.to_vec(),
            span_id: SPAN.to_vec(),
            parent_span_id: PARENT.to_vec(),
            name: "GET /orders/{id}".to_owned(),
            kind: kind as i32,
            start_time_unix_nano: START_NANOS,
            end_time_unix_nano: END_NANOS,
            attributes,
            ..Default::default()
        }
    }

    fn root(kind: OtlpSpanKind, attributes: Vec<KeyValue>) -> Span {
        Span { parent_span_id: Vec::new(), ..span(kind, attributes) }
    }

    fn with_status(span: Span, code: StatusCode, message: &str) -> Span {
        Span { status: Some(Status { code: code as i32, message: message.to_owned() }), ..span }
    }

    fn exception_event(kind: &str, message: &str) -> Event {
        Event {
            name: "exception".to_owned(),
            attributes: vec![text("exception.type", kind), text("exception.message", message)],
            ..Default::default()
        }
    }

    fn resource_spans(resource: Vec<KeyValue>, spans: Vec<Span>) -> ResourceSpans {
        ResourceSpans {
            resource: Some(Resource { attributes: resource, ..Default::default() }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }
    }

    fn service(name: &str) -> Vec<KeyValue> {
        vec![text("service.name", name)]
    }

    fn convert_in(resource: Vec<KeyValue>, span: Span) -> SpanRow {
        let conversion = rows_from_resource_spans(&resource_spans(resource, vec![span]));
        assert_eq!(conversion.rejected, Vec::new());
        let [row] = <[SpanRow; 1]>::try_from(conversion.rows).expect("exactly one row");
        row
    }

    fn convert(span: Span) -> SpanRow {
        convert_in(service("checkout"), span)
    }

    fn rejection(span: Span) -> RejectedSpan {
        let conversion = rows_from_resource_spans(&resource_spans(service("checkout"), vec![span]));
        assert_eq!(conversion.rows, Vec::new());
        let [rejected] = <[RejectedSpan; 1]>::try_from(conversion.rejected).expect("exactly one rejection");
        rejected
    }

    fn some(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    // --- span kinds ---------------------------------------------------------------------------

    #[test]
    fn server_span_is_a_segment_named_after_its_service() {
        let row = convert(span(OtlpSpanKind::Server, vec![]));
        assert_eq!(row.kind, SpanKind::Segment);
        assert_eq!(row.name, "checkout");
        assert_eq!(row.service, some("checkout"));
        assert_eq!(row.trace_id, TraceId::from_bytes(TRACE));
        assert_eq!(row.id, SegmentId::from_bytes(SPAN));
        assert_eq!(row.parent_id, Some(SegmentId::from_bytes(PARENT)));
        assert_eq!((row.namespace, row.remote, row.traced), (None, false, false));
    }

    #[test]
    fn consumer_span_with_a_parent_is_a_segment() {
        let row = convert(span(OtlpSpanKind::Consumer, vec![text("messaging.system", "aws_sqs")]));
        assert_eq!(row.kind, SpanKind::Segment);
        assert_eq!(row.name, "checkout");
        assert_eq!(row.parent_id, Some(SegmentId::from_bytes(PARENT)));
        assert!(!row.remote);
    }

    #[test]
    fn internal_span_is_a_local_subsegment_named_after_the_span() {
        let row = convert(span(OtlpSpanKind::Internal, vec![text("peer.service", "ignored-for-local-work")]));
        assert_eq!(row.kind, SpanKind::Subsegment);
        assert_eq!(row.name, "GET /orders/id");
        assert_eq!(row.service, some("checkout"));
        assert_eq!((row.namespace, row.remote), (None, false));
    }

    #[test]
    fn client_span_is_a_remote_subsegment() {
        let row = convert(span(OtlpSpanKind::Client, vec![text("url.full", "https://api.example.com/v1/pay")]));
        assert_eq!(row.kind, SpanKind::Subsegment);
        assert_eq!(row.name, "api.example.com");
        assert_eq!(row.service, some("checkout"));
        assert_eq!(row.namespace, some("remote"));
        assert!(row.remote);
        assert!(!row.traced);
    }

    #[test]
    fn producer_span_is_a_remote_subsegment() {
        let row = convert(span(OtlpSpanKind::Producer, vec![text("peer.service", "billing")]));
        assert_eq!(row.kind, SpanKind::Subsegment);
        assert_eq!(row.name, "billing");
        assert_eq!(row.namespace, some("remote"));
        assert!(row.remote);
    }

    #[test]
    fn unspecified_span_is_a_segment_at_the_root_and_local_work_below() {
        let at_root = convert(root(OtlpSpanKind::Unspecified, vec![]));
        assert_eq!((at_root.kind, at_root.parent_id, at_root.name.as_str()), (SpanKind::Segment, None, "checkout"));
        let below = convert(span(OtlpSpanKind::Unspecified, vec![]));
        assert_eq!((below.kind, below.remote), (SpanKind::Subsegment, false));
        let unknown_kind = convert(Span { kind: 42, ..span(OtlpSpanKind::Internal, vec![]) });
        assert_eq!((unknown_kind.kind, unknown_kind.remote), (SpanKind::Subsegment, false));
    }

    #[test]
    fn client_span_without_a_parent_is_a_segment() {
        let row = convert(root(OtlpSpanKind::Client, vec![text("peer.service", "billing")]));
        assert_eq!(row.kind, SpanKind::Segment);
        assert_eq!(row.name, "checkout");
        assert_eq!((row.namespace, row.remote), (None, false));
    }

    #[test]
    fn all_zero_parent_span_id_means_no_parent() {
        let row = convert(Span { parent_span_id: vec![0; 8], ..span(OtlpSpanKind::Internal, vec![]) });
        assert_eq!((row.kind, row.parent_id), (SpanKind::Segment, None));
    }

    #[test]
    fn resource_without_service_name_is_unknown_service() {
        let row = convert_in(vec![], span(OtlpSpanKind::Server, vec![]));
        assert_eq!((row.name.as_str(), row.service.as_deref()), ("unknown_service", Some("unknown_service")));
        let conversion = rows_from_resource_spans(&ResourceSpans {
            scope_spans: vec![ScopeSpans { spans: vec![span(OtlpSpanKind::Client, vec![])], ..Default::default() }],
            ..Default::default()
        });
        assert_eq!(conversion.rows[0].service, some("unknown_service"));
    }

    #[test]
    fn names_keep_only_allowed_characters_and_200_of_them() {
        let row = convert(span(OtlpSpanKind::Internal, vec![]));
        assert_eq!(row.name, "GET /orders/id");
        let long = convert(Span { name: "é".repeat(300), ..span(OtlpSpanKind::Internal, vec![]) });
        assert_eq!(long.name.chars().count(), 200);
        let nothing_left = convert(Span { name: "{}()!".to_owned(), ..span(OtlpSpanKind::Internal, vec![]) });
        assert_eq!(nothing_left.name, "span");
        let segment = convert_in(service("web<frontend>"), span(OtlpSpanKind::Server, vec![]));
        assert_eq!((segment.name.as_str(), segment.service.as_deref()), ("webfrontend", Some("webfrontend")));
    }

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

    // --- http ----------------------------------------------------------------------------------

    #[test]
    fn http_old_conventions() {
        let row = convert(span(
            OtlpSpanKind::Server,
            vec![
                text("http.method", "POST"),
                text("http.url", "https://shop.example.com/orders?id=7"),
                int("http.status_code", 201),
                text("http.client_ip", "203.0.113.9"),
                text("http.user_agent", "curl/8.5"),
            ],
        ));
        assert_eq!(
            row.http,
            HttpSummary {
                method: some("POST"),
                url: some("https://shop.example.com/orders?id=7"),
                status: Some(201),
                client_ip: some("203.0.113.9"),
                user_agent: some("curl/8.5"),
            }
        );
    }

    #[test]
    fn http_new_conventions() {
        let row = convert(span(
            OtlpSpanKind::Client,
            vec![
                text("http.request.method", "GET"),
                text("url.full", "http://inventory:8080/items/3"),
                int("http.response.status_code", 200),
                text("client.address", "10.0.0.4"),
                text("user_agent.original", "okhttp/4.12"),
            ],
        ));
        assert_eq!(
            row.http,
            HttpSummary {
                method: some("GET"),
                url: some("http://inventory:8080/items/3"),
                status: Some(200),
                client_ip: some("10.0.0.4"),
                user_agent: some("okhttp/4.12"),
            }
        );
        assert_eq!(row.name, "inventory");
    }

    #[test]
    fn server_url_is_rebuilt_from_its_parts() {
        let new = convert(span(
            OtlpSpanKind::Server,
            vec![
                text("http.request.method", "GET"),
                text("url.scheme", "https"),
                text("server.address", "shop.example.com"),
                int("server.port", 8443),
                text("url.path", "/search"),
                text("url.query", "q=socks"),
            ],
        ));
        assert_eq!(new.http.url, some("https://shop.example.com:8443/search?q=socks"));

        let default_port = convert(span(
            OtlpSpanKind::Server,
            vec![text("url.scheme", "https"), text("server.address", "shop.example.com"), int("server.port", 443)],
        ));
        assert_eq!(default_port.http.url, some("https://shop.example.com/"));

        let old = convert(span(
            OtlpSpanKind::Server,
            vec![
                text("http.scheme", "http"),
                text("http.host", "shop.example.com:8080"),
                text("http.target", "/a?b=c"),
            ],
        ));
        assert_eq!(old.http.url, some("http://shop.example.com:8080/a?b=c"));

        let server_name = convert(span(
            OtlpSpanKind::Server,
            vec![text("http.method", "GET"), text("http.server_name", "shop"), text("net.host.port", "9000")],
        ));
        assert_eq!(server_name.http.url, some("http://shop:9000/"));
    }

    #[test]
    fn client_url_is_rebuilt_from_the_peer() {
        let row = convert(span(
            OtlpSpanKind::Client,
            vec![text("http.method", "GET"), text("net.peer.name", "payments"), int("net.peer.port", 8081)],
        ));
        assert_eq!(row.http.url, some("http://payments:8081/"));
        assert_eq!(row.name, "payments");
    }

    #[test]
    fn url_is_absent_without_a_host() {
        let row = convert(span(OtlpSpanKind::Server, vec![text("http.request.method", "GET"), text("url.path", "/x")]));
        assert_eq!((row.http.method.as_deref(), row.http.url), (Some("GET"), None));
    }

    #[test]
    fn addresses_alone_do_not_make_an_http_span() {
        let row =
            convert(span(OtlpSpanKind::Client, vec![text("server.address", "db.internal"), int("server.port", 5432)]));
        assert_eq!(row.http, HttpSummary::default());
        assert_eq!(row.name, "db.internal");
    }

    #[test]
    fn peer_address_is_the_client_ip_only_on_server_spans() {
        let attributes = || vec![text("http.request.method", "GET"), text("network.peer.address", "192.0.2.1")];
        assert_eq!(convert(span(OtlpSpanKind::Server, attributes())).http.client_ip, some("192.0.2.1"));
        assert_eq!(convert(span(OtlpSpanKind::Client, attributes())).http.client_ip, None);
        let not_an_ip = vec![text("http.request.method", "GET"), text("client.address", "proxy.local")];
        assert_eq!(convert(span(OtlpSpanKind::Server, not_an_ip)).http.client_ip, None);
    }

    #[test]
    fn status_code_sent_as_text_is_read() {
        let row = convert(span(OtlpSpanKind::Server, vec![text("http.response.status_code", "503")]));
        assert_eq!(row.http.status, Some(503));
        assert!(row.fault);
    }

    // --- db / sql ------------------------------------------------------------------------------

    #[test]
    fn sql_call_with_a_connection_string_is_sanitised() {
        let row = convert(span(
            OtlpSpanKind::Client,
            vec![
                text("db.system", "postgresql"),
                text("db.name", "orders"),
                text("db.connection_string", "jdbc:postgresql://app:s3cret@db.internal:5432?sslmode=require"),
                text("db.statement", "SELECT * FROM orders WHERE id = ?"),
            ],
        ));
        assert_eq!(row.sql_url, some("postgresql://db.internal:5432/orders"));
        assert_eq!(row.name, "orders@db.internal");
        assert_eq!(row.namespace, some("remote"));
        assert!(row.annotations.is_empty(), "db attributes are consumed: {:?}", row.annotations);
    }

    #[test]
    fn connection_string_with_a_database_path_keeps_it() {
        let row = convert(span(
            OtlpSpanKind::Client,
            vec![
                text("db.system", "mysql"),
                text("db.name", "shop"),
                text("db.connection_string", "mysql://root:pw@mysql:3306/shop;password=pw"),
            ],
        ));
        assert_eq!(row.sql_url, some("mysql://mysql:3306/shop"));
    }

    #[test]
    fn sql_call_without_a_connection_string_uses_the_server_address() {
        let row = convert(span(
            OtlpSpanKind::Client,
            vec![
                text("db.system.name", "postgresql"),
                text("db.namespace", "inventory"),
                text("server.address", "pg.internal"),
                int("server.port", 5432),
                text("db.query.text", "SELECT 1"),
            ],
        ));
        assert_eq!(row.sql_url, some("postgresql://pg.internal:5432/inventory"));
        assert_eq!(row.name, "inventory@pg.internal");

        let nothing_known = convert(span(OtlpSpanKind::Client, vec![text("db.system", "sqlite")]));
        assert_eq!(nothing_known.sql_url, some("sqlite://localhost"));
    }

    #[test]
    fn non_sql_database_has_no_sql_url() {
        let row = convert(span(
            OtlpSpanKind::Client,
            vec![text("db.system", "redis"), text("net.peer.name", "cache"), text("db.statement", "GET k")],
        ));
        assert_eq!(row.sql_url, None);
        assert_eq!(row.name, "cache");
        assert_eq!(row.namespace, some("remote"));
    }

    // --- rpc -----------------------------------------------------------------------------------

    #[test]
    fn grpc_call_is_named_after_its_service_and_keeps_its_method_as_an_annotation() {
        let row = convert(span(
            OtlpSpanKind::Client,
            vec![text("rpc.system", "grpc"), text("rpc.service", "shop.Cart"), text("rpc.method", "AddItem")],
        ));
        assert_eq!(row.name, "shop.Cart");
        assert_eq!(row.namespace, some("remote"));
        assert_eq!(row.aws.operation, None);
        assert_eq!(row.annotations, vec![("rpc_method".to_owned(), AnnotationScalar::String("AddItem".to_owned()))]);
    }

    // --- aws -----------------------------------------------------------------------------------

    #[test]
    fn dynamodb_call() {
        let row = convert(span(
            OtlpSpanKind::Client,
            vec![
                text("rpc.system", "aws-api"),
                text("rpc.service", "DynamoDB"),
                text("rpc.method", "BatchGetItem"),
                text("aws.region", "eu-west-1"),
                texts("aws.dynamodb.table_names", &["orders", "customers"]),
                text("aws.request_id", "Q6R3..."),
                text("db.system", "dynamodb"),
            ],
        ));
        assert_eq!(row.name, "DynamoDB");
        assert_eq!(row.namespace, some("aws"));
        assert!(row.remote);
        assert_eq!(row.aws.operation, some("BatchGetItem"));
        assert_eq!(row.aws.region, some("eu-west-1"));
        assert_eq!(row.aws.table, some("orders,customers"));
        assert_eq!(row.sql_url, None);
        assert!(row.annotations.is_empty(), "aws attributes are consumed: {:?}", row.annotations);

        let single = convert(span(
            OtlpSpanKind::Client,
            vec![text("aws.service", "DynamoDB"), text("aws.operation", "PutItem"), text("aws.table_name", "games")],
        ));
        assert_eq!((single.name.as_str(), single.namespace.as_deref()), ("DynamoDB", Some("aws")));
        assert_eq!((single.aws.operation, single.aws.table), (some("PutItem"), some("games")));
    }

    #[test]
    fn sqs_call() {
        let queue = "https://sqs.us-east-1.amazonaws.com/123456789012/orders";
        let row = convert(span(
            OtlpSpanKind::Producer,
            vec![
                text("rpc.system", "aws-api"),
                text("rpc.service", "SQS"),
                text("rpc.method", "SendMessage"),
                text("aws.sqs.queue_url", queue),
                text("aws.account_id", "123456789012"),
            ],
        ));
        assert_eq!((row.name.as_str(), row.namespace.as_deref()), ("SQS", Some("aws")));
        assert_eq!(row.aws.queue, some(queue));
        assert_eq!(row.aws.account_id, some("123456789012"));
        assert_eq!(row.aws.operation, some("SendMessage"));

        let messaging = convert(span(
            OtlpSpanKind::Producer,
            vec![text("messaging.system", "aws_sqs"), text("messaging.url", queue)],
        ));
        assert_eq!(messaging.aws.queue, some(queue));
    }

    #[test]
    fn kafka_messaging_url_is_not_a_queue() {
        let row = convert(span(
            OtlpSpanKind::Producer,
            vec![text("messaging.system", "kafka"), text("messaging.url", "tcp://kafka:9092")],
        ));
        assert_eq!(row.aws.queue, None);
        assert_eq!(
            row.annotations,
            vec![
                ("messaging_system".to_owned(), AnnotationScalar::String("kafka".to_owned())),
                ("messaging_url".to_owned(), AnnotationScalar::String("tcp://kafka:9092".to_owned())),
            ]
        );
    }

    #[test]
    fn s3_call_with_remote_service_attribute() {
        let row = convert(span(
            OtlpSpanKind::Client,
            vec![
                text("rpc.system", "aws-api"),
                text("aws.remote.service", "AWS::S3"),
                text("rpc.service", "S3"),
                text("rpc.method", "PutObject"),
                text("aws.s3.bucket", "invoices"),
            ],
        ));
        assert_eq!(row.name, "S3");
        assert_eq!(row.aws.resource, some("invoices"));
        assert_eq!(row.aws.operation, some("PutObject"));
    }

    #[test]
    fn aws_arn_attributes_are_the_resource_arn() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:resize";
        let call = convert(span(
            OtlpSpanKind::Client,
            vec![text("rpc.system", "aws-api"), text("rpc.service", "Lambda"), text("aws.lambda.invoked_arn", arn)],
        ));
        assert_eq!(call.aws.resource_arn, some(arn));

        let function = convert_in(
            vec![text("service.name", "resize"), text("cloud.platform", "aws_lambda"), text("cloud.resource_id", arn)],
            span(OtlpSpanKind::Server, vec![]),
        );
        assert_eq!(function.aws.resource_arn, some(arn));
        assert_eq!(function.origin, some("AWS::Lambda::Function"));
    }

    #[test]
    fn resource_facts_go_on_segments_only() {
        let resource = || {
            vec![
                text("service.name", "checkout"),
                text("cloud.provider", "aws"),
                text("cloud.platform", "aws_ec2"),
                text("cloud.account.id", "123456789012"),
                text("cloud.availability_zone", "us-east-1c"),
                text("host.id", "i-0123456789abcdef0"),
            ]
        };
        let segment = convert_in(resource(), span(OtlpSpanKind::Server, vec![]));
        assert_eq!(segment.aws.account_id, some("123456789012"));
        assert_eq!(segment.aws.availability_zone, some("us-east-1c"));
        assert_eq!(segment.aws.instance_id, some("i-0123456789abcdef0"));
        let subsegment = convert_in(resource(), span(OtlpSpanKind::Client, vec![]));
        assert_eq!(subsegment.aws, AwsSummary::default());
        assert_eq!(subsegment.origin, some("AWS::EC2::Instance"));
    }

    #[test]
    fn host_id_off_aws_is_not_an_instance_id() {
        let laptop = convert_in(
            vec![text("service.name", "checkout"), text("host.id", "4c4c4544-0042")],
            span(OtlpSpanKind::Server, vec![]),
        );
        assert_eq!(laptop.aws.instance_id, None);
        let gcp = convert_in(
            vec![text("service.name", "checkout"), text("cloud.provider", "gcp"), text("cloud.account.id", "proj")],
            span(OtlpSpanKind::Server, vec![]),
        );
        assert_eq!(gcp.aws, AwsSummary::default());
    }

    // --- origin --------------------------------------------------------------------------------

    #[test]
    fn origin_follows_cloud_platform() {
        let origin = |attributes: Vec<KeyValue>| {
            let mut resource = service("checkout");
            resource.extend(attributes);
            convert_in(resource, span(OtlpSpanKind::Server, vec![])).origin
        };
        let platform = |name: &str| origin(vec![text("cloud.platform", name)]);
        assert_eq!(platform("aws_ec2"), some("AWS::EC2::Instance"));
        assert_eq!(platform("aws_ecs"), some("AWS::ECS::Container"));
        assert_eq!(platform("aws_eks"), some("AWS::EKS::Container"));
        assert_eq!(platform("aws_elastic_beanstalk"), some("AWS::ElasticBeanstalk::Environment"));
        assert_eq!(platform("aws_lambda"), some("AWS::Lambda::Function"));
        assert_eq!(platform("aws_app_runner"), some("AWS::AppRunner::Service"));
        assert_eq!(platform("gcp_compute_engine"), None);
        assert_eq!(origin(vec![]), None);
        let fargate = origin(vec![text("cloud.platform", "aws_ecs"), text("aws.ecs.launchtype", "fargate")]);
        assert_eq!(fargate, some("AWS::ECS::Fargate"));
        let other_cloud = origin(vec![text("cloud.provider", "azure"), text("cloud.platform", "aws_ec2")]);
        assert_eq!(other_cloud, None);
    }

    // --- status, errors, exceptions ------------------------------------------------------------

    fn flags(row: &SpanRow) -> (bool, bool, bool) {
        (row.error, row.fault, row.throttle)
    }

    #[test]
    fn error_status_without_http_status_is_a_fault() {
        let row = convert(with_status(span(OtlpSpanKind::Internal, vec![]), StatusCode::Error, ""));
        assert_eq!(flags(&row), (false, true, false));
    }

    #[test]
    fn http_status_decides_over_the_span_status() {
        let status = |code: i64, span_status: StatusCode| {
            let span = span(OtlpSpanKind::Server, vec![int("http.response.status_code", code)]);
            flags(&convert(with_status(span, span_status, "")))
        };
        assert_eq!(status(404, StatusCode::Error), (true, false, false));
        assert_eq!(status(429, StatusCode::Error), (true, false, true));
        assert_eq!(status(502, StatusCode::Error), (false, true, false));
        assert_eq!(status(200, StatusCode::Error), (false, true, false));
        assert_eq!(status(404, StatusCode::Unset), (true, false, false));
        assert_eq!(status(429, StatusCode::Unset), (true, false, true));
        assert_eq!(status(503, StatusCode::Unset), (false, true, false));
        assert_eq!(status(503, StatusCode::Ok), (false, true, false));
        assert_eq!(status(200, StatusCode::Ok), (false, false, false));
        assert_eq!(status(302, StatusCode::Unset), (false, false, false));
    }

    #[test]
    fn exception_events_become_exceptions_remote_on_calls() {
        let mut client = span(OtlpSpanKind::Client, vec![text("peer.service", "payments")]);
        client.events = vec![
            exception_event("TimeoutError", "read timed out"),
            Event { name: "retry".to_owned(), ..Default::default() },
            exception_event("ConnectionError", "reset"),
        ];
        let row = convert(with_status(client, StatusCode::Error, "ignored: events win"));
        assert_eq!(
            row.exceptions,
            vec![
                ExceptionSummary { name: some("TimeoutError"), message: some("read timed out"), remote: true },
                ExceptionSummary { name: some("ConnectionError"), message: some("reset"), remote: true },
            ]
        );
        assert!(row.fault);
    }

    #[test]
    fn exceptions_are_kept_when_the_status_is_unset() {
        let mut server = span(OtlpSpanKind::Server, vec![]);
        server.events = vec![exception_event("ValueError", "bad id")];
        let row = convert(server);
        assert_eq!(
            row.exceptions,
            vec![ExceptionSummary { name: some("ValueError"), message: some("bad id"), remote: false }]
        );
        assert_eq!(flags(&row), (false, false, false));
    }

    #[test]
    fn error_status_message_is_an_exception_when_none_was_recorded() {
        let row = convert(with_status(span(OtlpSpanKind::Server, vec![]), StatusCode::Error, "db unavailable"));
        assert_eq!(
            row.exceptions,
            vec![ExceptionSummary { name: None, message: some("db unavailable"), remote: false }]
        );
        let status_text = convert(with_status(
            span(OtlpSpanKind::Server, vec![text("http.status_text", "Bad Gateway")]),
            StatusCode::Error,
            "",
        ));
        assert_eq!(status_text.exceptions[0].message, some("Bad Gateway"));
        let quiet = convert(with_status(span(OtlpSpanKind::Server, vec![]), StatusCode::Error, ""));
        assert_eq!(quiet.exceptions, Vec::new());
    }

    // --- user and annotations ------------------------------------------------------------------

    #[test]
    fn user_comes_from_enduser_id_or_user_id() {
        assert_eq!(convert(span(OtlpSpanKind::Server, vec![text("enduser.id", "alice")])).user, some("alice"));
        assert_eq!(convert(span(OtlpSpanKind::Server, vec![text("user.id", "bob")])).user, some("bob"));
        assert_eq!(convert(span(OtlpSpanKind::Server, vec![])).user, None);
    }

    #[test]
    fn unconsumed_scalar_attributes_are_annotations_with_sanitised_keys() {
        let row = convert(span(
            OtlpSpanKind::Server,
            vec![
                text("http.route", "/orders/{id}"),
                int("order.items", 3),
                attribute("cart.total", Value::DoubleValue(12.5)),
                attribute("cart.promo", Value::BoolValue(true)),
                attribute("bad.number", Value::DoubleValue(f64::NAN)),
                texts("tags", &["a", "b"]),
                text("tenant-id/é", "acme"),
                text("http.method", "GET"),
                text("enduser.id", "alice"),
            ],
        ));
        assert_eq!(
            row.annotations,
            vec![
                ("cart_promo".to_owned(), AnnotationScalar::Bool(true)),
                ("cart_total".to_owned(), AnnotationScalar::Number(12.5)),
                ("http_route".to_owned(), AnnotationScalar::String("/orders/{id}".to_owned())),
                ("order_items".to_owned(), AnnotationScalar::Number(3.0)),
                ("tenant_id__".to_owned(), AnnotationScalar::String("acme".to_owned())),
            ]
        );
    }

    #[test]
    fn keys_that_sanitise_alike_keep_the_first_attribute() {
        let row = convert(span(OtlpSpanKind::Server, vec![text("a.b", "first"), text("a_b", "second")]));
        assert_eq!(row.annotations, vec![("a_b".to_owned(), AnnotationScalar::String("first".to_owned()))]);
    }

    #[test]
    fn xray_annotations_attribute_indexes_consumed_keys_too() {
        let row = convert(span(
            OtlpSpanKind::Server,
            vec![texts("aws.xray.annotations", &["http.method", "missing"]), text("http.method", "GET")],
        ));
        assert_eq!(row.annotations, vec![("http_method".to_owned(), AnnotationScalar::String("GET".to_owned()))]);
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

    // --- url parsing ---------------------------------------------------------------------------

    #[test]
    fn url_parts_drop_credentials_and_parameters() {
        let parts = UrlParts::parse("postgresql://user:p@ss@[::1]:5432/db?x=1");
        assert_eq!(parts, Some(UrlParts { scheme: "postgresql", authority: "[::1]:5432", path: "/db" }));
        assert_eq!(parts.map(|p| p.host()), Some("::1"));
        assert_eq!(UrlParts::parse("Server=db;Password=x"), None);
        assert_eq!(UrlParts::parse("://host"), None);
        assert_eq!(UrlParts::parse("mysql://user@/db"), None);
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
