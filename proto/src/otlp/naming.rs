//! What kind of row a span becomes and what the row is called (the exporter's segment.go).

use compact_str::CompactString;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind as OtlpSpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::attributes::{owned, Attributes};
use super::resource::ResourceFacts;
use super::sql::{authority_host, strip_jdbc, UrlParts};
use crate::span::SpanKind;
use crate::validation::{is_name_character, MAX_NAME_CHARS};

/// What a name becomes when none of its characters is allowed (the exporter's choice).
const DEFAULT_SEGMENT_NAME: &str = "span";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SpanRole {
    Segment,
    LocalSubsegment,
    RemoteSubsegment,
}

impl SpanRole {
    pub(super) fn of(kind: OtlpSpanKind, has_parent: bool) -> Self {
        match kind {
            _ if !has_parent => SpanRole::Segment,
            OtlpSpanKind::Server | OtlpSpanKind::Consumer => SpanRole::Segment,
            OtlpSpanKind::Client | OtlpSpanKind::Producer => SpanRole::RemoteSubsegment,
            OtlpSpanKind::Internal | OtlpSpanKind::Unspecified => SpanRole::LocalSubsegment,
        }
    }

    pub(super) fn row_kind(self) -> SpanKind {
        match self {
            SpanRole::Segment => SpanKind::Segment,
            SpanRole::LocalSubsegment | SpanRole::RemoteSubsegment => SpanKind::Subsegment,
        }
    }

    pub(super) fn namespace(self, aws_call: bool) -> Option<CompactString> {
        match self {
            SpanRole::RemoteSubsegment if aws_call => Some(CompactString::const_new("aws")),
            SpanRole::RemoteSubsegment => Some(CompactString::const_new("remote")),
            SpanRole::Segment | SpanRole::LocalSubsegment => None,
        }
    }
}

pub(super) fn row_name(
    role: SpanRole,
    span: &Span,
    attributes: Attributes<'_>,
    aws_call: bool,
    resource: &ResourceFacts,
) -> CompactString {
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
pub(super) fn fix_segment_name(name: &str) -> CompactString {
    let fixed: CompactString = name.chars().filter(|&c| is_name_character(c)).take(MAX_NAME_CHARS).collect();
    if fixed.is_empty() {
        CompactString::const_new(DEFAULT_SEGMENT_NAME)
    } else {
        fixed
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind as OtlpSpanKind;
    use opentelemetry_proto::tonic::trace::v1::Span;

    use crate::id::SegmentId;
    use crate::otlp::fixtures::*;
    use crate::span::{AnnotationScalar, SpanKind};
    use crate::TraceId;

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
}
