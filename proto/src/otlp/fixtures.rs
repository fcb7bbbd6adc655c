//! Spans and resources as SDKs send them, shared by the tests of every mapping.

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind as OtlpSpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

use super::{rows_from_resource_spans, RejectedSpan};
use crate::span::SpanRow;

pub(super) const TRACE: [u8; 16] =
    [0x58, 0x40, 0x65, 0x20, 0xa0, 0x06, 0x64, 0x91, 0x27, 0xe3, 0x71, 0x90, 0x3a, 0x2d, 0xe9, 0x79];
pub(super) const SPAN: [u8; 8] = [0x70, 0xde, 0x5b, 0x6f, 0x19, 0xff, 0x9a, 0x0a];
pub(super) const PARENT: [u8; 8] = [0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8];
pub(super) const START_NANOS: u64 = 1_700_000_000_123_456_789;
pub(super) const END_NANOS: u64 = 1_700_000_000_223_456_999;

pub(super) fn text(key: &str, value: &str) -> KeyValue {
    attribute(key, Value::StringValue(value.to_owned()))
}

pub(super) fn int(key: &str, value: i64) -> KeyValue {
    attribute(key, Value::IntValue(value))
}

pub(super) fn texts(key: &str, values: &[&str]) -> KeyValue {
    let values = values.iter().map(|v| AnyValue { value: Some(Value::StringValue((*v).to_owned())) }).collect();
    attribute(key, Value::ArrayValue(ArrayValue { values }))
}

pub(super) fn attribute(key: &str, value: Value) -> KeyValue {
    KeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

pub(super) fn span(kind: OtlpSpanKind, attributes: Vec<KeyValue>) -> Span {
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

pub(super) fn root(kind: OtlpSpanKind, attributes: Vec<KeyValue>) -> Span {
    Span { parent_span_id: Vec::new(), ..span(kind, attributes) }
}

pub(super) fn with_status(span: Span, code: StatusCode, message: &str) -> Span {
    Span { status: Some(Status { code: code as i32, message: message.to_owned() }), ..span }
}

pub(super) fn exception_event(kind: &str, message: &str) -> Event {
    Event {
        name: "exception".to_owned(),
        attributes: vec![text("exception.type", kind), text("exception.message", message)],
        ..Default::default()
    }
}

pub(super) fn resource_spans(resource: Vec<KeyValue>, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource { attributes: resource, ..Default::default() }),
        scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
        ..Default::default()
    }
}

pub(super) fn service(name: &str) -> Vec<KeyValue> {
    vec![text("service.name", name)]
}

pub(super) fn convert_in(resource: Vec<KeyValue>, span: Span) -> SpanRow {
    let conversion = rows_from_resource_spans(&resource_spans(resource, vec![span]));
    assert_eq!(conversion.rejected, Vec::new());
    let [row] = <[SpanRow; 1]>::try_from(conversion.rows).expect("exactly one row");
    row
}

pub(super) fn convert(span: Span) -> SpanRow {
    convert_in(service("checkout"), span)
}

pub(super) fn rejection(span: Span) -> RejectedSpan {
    let conversion = rows_from_resource_spans(&resource_spans(service("checkout"), vec![span]));
    assert_eq!(conversion.rows, Vec::new());
    let [rejected] = <[RejectedSpan; 1]>::try_from(conversion.rejected).expect("exactly one rejection");
    rejected
}

pub(super) fn some<T: for<'a> From<&'a str>>(text: &str) -> Option<T> {
    Some(text.into())
}
