//! Span attributes that no mapping consumes, indexed as annotations (the module doc's
//! "Annotations" section says which and why).

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue};

use super::attributes::{string_of, Attributes};
use super::aws::{is_aws_arn_key, is_sqs_url_span, QUEUE_URL_KEYS, RESOURCE_NAME_KEYS};
use crate::span::AnnotationScalar;

const XRAY_ANNOTATIONS_KEY: &str = "aws.xray.annotations";

/// Attributes a mapping reads (or drops on purpose); they never become annotations unless listed
/// in `aws.xray.annotations`. See also [`is_consumed_key`].
pub(super) const CONSUMED_KEYS: &[&str] = &[
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

pub(super) fn annotations(attributes: Attributes<'_>, aws_call: bool) -> Vec<(String, AnnotationScalar)> {
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

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind as OtlpSpanKind;

    use crate::otlp::fixtures::*;
    use crate::span::AnnotationScalar;

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
}
