//! AWS SDK calls and the `aws` fields of a row (the exporter's aws.go).

use opentelemetry_proto::tonic::common::v1::any_value::Value;

use super::attributes::{owned, string_of, Attributes};
use super::naming::SpanRole;
use super::resource::ResourceFacts;
use crate::span::AwsSummary;

pub(super) const RESOURCE_NAME_KEYS: &[&str] = &[
    "aws.s3.bucket",
    "aws.bucket.name",
    "aws.lambda.function_name",
    "aws.lambda.function.name",
    "aws.kinesis.stream_name",
    "aws.stream.name",
    "aws.sns.topic.arn",
    "aws.sns.topic_arn",
];

pub(super) const QUEUE_URL_KEYS: &[&str] = &["aws.sqs.queue_url", "aws.queue_url", "aws.queue.url"];

pub(super) fn is_aws_sdk_call(attributes: Attributes<'_>) -> bool {
    attributes.str("rpc.system") == Some("aws-api") || attributes.str("aws.service").is_some()
}

pub(super) fn aws_summary(
    attributes: Attributes<'_>,
    role: SpanRole,
    aws_call: bool,
    resource: &ResourceFacts,
) -> AwsSummary {
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

pub(super) fn is_sqs_url_span(attributes: Attributes<'_>, aws_call: bool) -> bool {
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

pub(super) fn is_aws_arn_key(key: &str) -> bool {
    key.starts_with("aws.") && (key.ends_with(".arn") || key.ends_with("_arn"))
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind as OtlpSpanKind;

    use crate::otlp::fixtures::*;
    use crate::span::{AnnotationScalar, AwsSummary};

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
        assert_eq!((single.aws.operation.clone(), single.aws.table.clone()), (some("PutItem"), some("games")));
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
        assert_eq!(*subsegment.aws, AwsSummary::default());
        assert_eq!(subsegment.origin, some("AWS::EC2::Instance"));
    }
}
