//! What a resource says about the service and where it runs, read once per `ResourceSpans`.

use compact_str::CompactString;
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::attributes::{owned, Attributes};
use super::naming::fix_segment_name;

/// The service name OpenTelemetry SDKs fall back to, used when a resource has none.
const UNKNOWN_SERVICE: &str = "unknown_service";

/// What a resource says about the service and where it runs, computed once per `ResourceSpans`.
#[derive(Debug)]
pub(super) struct ResourceFacts {
    pub(super) service: CompactString,
    pub(super) origin: Option<&'static str>,
    pub(super) account_id: Option<String>,
    pub(super) availability_zone: Option<String>,
    pub(super) instance_id: Option<String>,
    pub(super) resource_arn: Option<String>,
}

impl ResourceFacts {
    pub(super) fn from_resource(resource: Option<&Resource>) -> Self {
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

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::KeyValue;
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind as OtlpSpanKind;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

    use crate::otlp::fixtures::*;
    use crate::otlp::rows_from_resource_spans;
    use crate::span::AwsSummary;

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
        assert_eq!(*gcp.aws, AwsSummary::default());
    }

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
}
