//! Naming of inferred downstream nodes (xray.md 5.1): what a call to an uninstrumented
//! downstream is shown as.
//!
//! - `aws`: the service's X-Ray name (SDKs disagree on case: Python says `DynamoDB`, OTel-derived
//!   spans say `dynamodb`; the console shows `DynamoDB`), typed `AWS::<Service>`, or
//!   `AWS::<Service>::<Resource>` when the call named a resource (table, queue, bucket, topic…).
//! - `remote`: the subsegment's name, typed `Database::SQL` when it carries a SQL URL, otherwise
//!   `remote` (a downstream of indeterminate type).

/// What decides the inferred node of one call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DownstreamCall<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub has_table: bool,
    pub has_queue: bool,
    pub has_resource: bool,
    pub has_sql: bool,
}

/// AWS services by lowercase SDK name: the name X-Ray shows, and the resource type a call with
/// a resource targets.
const AWS_SERVICES: &[(&str, &str, Option<&str>)] = &[
    ("dynamodb", "DynamoDB", Some("Table")),
    ("sqs", "SQS", Some("Queue")),
    ("s3", "S3", Some("Bucket")),
    ("sns", "SNS", Some("Topic")),
    ("lambda", "Lambda", None),
    ("kinesis", "Kinesis", Some("Stream")),
    ("firehose", "Firehose", Some("DeliveryStream")),
    ("secretsmanager", "SecretsManager", None),
    ("ssm", "SSM", None),
    ("sts", "STS", None),
    ("ses", "SES", None),
    ("eventbridge", "EventBridge", None),
    ("events", "EventBridge", None),
    ("stepfunctions", "StepFunctions", None),
    ("sfn", "StepFunctions", None),
    ("kms", "KMS", None),
    ("ec2", "EC2", None),
    ("cloudwatch", "CloudWatch", None),
    ("logs", "CloudWatchLogs", None),
    ("athena", "Athena", None),
];

/// The inferred node's (Name, Type).
pub(crate) fn inferred_node(call: &DownstreamCall<'_>) -> (String, String) {
    if call.namespace == "remote" {
        let node_type = if call.has_sql { "Database::SQL" } else { "remote" };
        return (call.name.to_owned(), node_type.to_owned());
    }
    let known = AWS_SERVICES.iter().find(|(sdk, _, _)| sdk.eq_ignore_ascii_case(call.name));
    let (name, resource) = match known {
        Some((_, name, resource)) => ((*name).to_owned(), *resource),
        None => (call.name.to_owned(), None),
    };
    let targets_resource = call.has_table || call.has_queue || call.has_resource;
    let node_type = match resource {
        Some(resource) if targets_resource => format!("AWS::{name}::{resource}"),
        _ => format!("AWS::{name}"),
    };
    (name, node_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(name: &str, has_table: bool) -> DownstreamCall<'_> {
        DownstreamCall { name, namespace: "aws", has_table, has_queue: false, has_resource: false, has_sql: false }
    }

    #[test]
    fn aws_names_are_canonical_whatever_the_sdk_case() {
        assert_eq!(inferred_node(&aws("dynamodb", true)), ("DynamoDB".into(), "AWS::DynamoDB::Table".into()));
        assert_eq!(inferred_node(&aws("DynamoDB", false)), ("DynamoDB".into(), "AWS::DynamoDB".into()));
        assert_eq!(inferred_node(&aws("Rekognition", false)), ("Rekognition".into(), "AWS::Rekognition".into()));
    }
}
